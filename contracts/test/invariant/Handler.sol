// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IdentityRegistry} from "../../src/IdentityRegistry.sol";
import {ShareCompliance} from "../../src/ShareCompliance.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {ShareOffering} from "../../src/ShareOffering.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {Distributor} from "../../src/Distributor.sol";
import {HookToken, Reenterer} from "../utils/Adversaries.sol";

/// The invariant-test handler: every public non-view function is one fuzzable action on the suite.
///
/// Each action picks its actors from a fixed set of wallets (alice and alice2 belong to one investor,
/// bob, carol and dave to one each, mallory to nobody until a registry action links it, and a contract
/// wallet of eve's that re-enters from the settlement token's hooks), bounds its inputs, and runs the
/// call under `try`, so the handler itself never reverts. Two offerings of the same shares share the
/// treasury; the settlement token calls hooks (ERC-777 style) on the contract wallet, which uses them
/// to re-enter the contract that moved its tokens; every such re-entry must be refused. Before the call it asks
/// a reference model, written here from REASON_CODES.md and the contracts' documented behaviour over
/// *ghost* copies of the registry, rules, token, offering, treasury and distributor state, for
///   - the exact outcome: success, or the exact revert data (error selector and arguments);
///   - for every path that delivers shares, whether the recipient is eligible at all (a separate,
///     property-style predicate, not the reason-code cascade).
/// A success towards an ineligible recipient sets `ineligibleDelivery`; any disagreement between the
/// model and the chain increments `modelMismatches`. Ghost state is only updated from the model, so
/// the invariants can compare it with what the contracts report.
contract PropLedgerHandler is Test {
    // ------------------------------------------------------------------ system under test

    IdentityRegistry public immutable registry;
    ShareCompliance public immutable compliance;
    PropertyShares public immutable shares;
    PropertyTreasury public immutable treasury;
    Distributor public immutable distributor;
    HookToken public immutable usd;
    Reenterer public immutable reenterer;
    address public immutable admin;
    address public immutable agent;
    address public immutable treasurer;
    address public immutable registrar;
    address public immutable rulesAdmin;
    address public immutable contractor;
    ShareOffering[2] internal _offerings;

    // ------------------------------------------------------------------ actors

    address[] internal _actors; // wallets that may hold shares
    bytes32[] internal _investorIds; // registry investors the handler manages
    uint64[] internal _investorNos;
    uint16[4] internal COUNTRIES = [uint16(840), 826, 408, 276]; // US, GB, KP, DE
    bytes32[3] internal LINES = [bytes32("roof"), bytes32("hvac"), bytes32("paint")];
    bytes32 internal constant NOBODY = keccak256("investor:nobody"); // never created

    // ------------------------------------------------------------------ call accounting

    enum Path {
        Transfer,
        TransferFrom,
        Mint,
        Buy,
        ForcedTransfer,
        Recovery,
        Burn,
        Refund,
        Finalize,
        Cancel,
        Claim,
        ClaimFor,
        Sweep,
        Deposit,
        BudgetLine,
        Draw,
        FundDistribution,
        FreezePartial,
        UnfreezePartial,
        SetInvestor,
        SetInvestorFrozen,
        AddWallet,
        RemoveWallet,
        SetCountry,
        SetRule,
        Approve,
        SetPaused,
        SetAddressFrozen,
        Warp
    }

    uint256 public constant PATH_COUNT = 29;
    uint256[PATH_COUNT] public succeeded;
    uint256[PATH_COUNT] public rejected;
    /// How often each reason code was the verdict of a rejected share movement (index = code).
    uint256[14] public restrictedCodes;

    /// Re-entries from the token hooks: refused (as they must be) and accepted (never).
    uint256 public reentriesRefused;
    bool public reentryAccepted;
    string public reentryAcceptedInfo;
    /// Set when a payout reached a wallet that was recovered away, or a frozen payee.
    bool public misdirectedPayout;
    string public misdirectedPayoutInfo;
    /// Set when a distribution was funded while an offering's shares were unsettled.
    bool public distributionWhileUnsettled;

    /// Set when shares reached a recipient the eligibility predicate rejects (by any path).
    bool public ineligibleDelivery;
    string public ineligibleDeliveryInfo;
    /// Number of calls whose outcome (success or exact revert data) differed from the model.
    uint256 public modelMismatches;
    string public firstMismatch;

    // ------------------------------------------------------------------ ghost state

    uint256 public gNow;

    struct GInvestor {
        uint16 country;
        bool accredited;
        bool frozen;
        uint64 kycExpiry;
    }

    // registry
    mapping(uint64 no => GInvestor) internal gInv;
    mapping(address wallet => uint64) public gWalletNo;
    // compliance
    ShareCompliance.Rules internal gRules;
    mapping(uint16 country => bool) internal gAllowed;
    // share token
    mapping(address => uint256) public gBal;
    mapping(address => uint64) public gAttr;
    mapping(address => bool) public gWalletFrozen;
    mapping(address => uint256) public gFrozenAmt;
    mapping(uint64 => uint256) public gInvBal;
    mapping(address => mapping(address => uint256)) internal gAllow;
    uint256 public gSupply;
    bool public gPaused;
    address[] internal _everHeld;
    mapping(address => bool) internal _held;
    mapping(address lost => address) internal gRecoveredTo;
    // unsettled offering shares (per investor, while an offering holds the escrow)
    bool public gEscrowOpen;
    uint256 public gEscrowHolder; // offering index
    mapping(uint64 => uint256) public gUnsettled;

    // offerings
    struct GOffering {
        ShareOffering.Terms terms;
        ShareOffering.Status status;
        uint256 sold;
        uint256 raised;
        bool released;
        uint256 refunded; // shares refunded
        uint256 refundedPaid; // money refunded
        uint256 escrow; // held for it in the treasury
    }

    GOffering[2] internal gOff;
    mapping(uint256 o => mapping(uint64 => uint256)) public gPurShares;
    mapping(uint256 o => mapping(uint64 => uint256)) public gPurPaid;
    // treasury
    uint256 public gDeposits;
    uint256 public gDraws;
    uint256 public gDistributions;
    uint256 public gRefunds;
    uint256 public gEscrowed;
    uint256 public gSweptBack;
    mapping(bytes32 => uint256) internal gBudget;
    mapping(bytes32 => uint256) internal gDrawn;

    // distributor
    struct GDist {
        uint256 amount;
        uint256 supply;
        uint64 deadline;
        bool swept;
        uint256 claimed;
    }

    GDist[] internal gDists;
    mapping(uint256 id => mapping(address => uint256)) public gRecordBal;
    mapping(uint256 id => mapping(address => uint256)) public gReceived;
    mapping(uint256 id => mapping(address => Distributor.ClaimState)) public gClaimState;
    /// Payouts claimed while their payee was frozen and not paid yet.
    uint256 public gWithheld;

    /// Fuzzed actions performed so far in this run.
    uint256 public calls;

    modifier timed() {
        vm.warp(gNow);
        calls++;
        _;
    }

    struct Suite {
        IdentityRegistry registry;
        ShareCompliance compliance;
        PropertyShares shares;
        ShareOffering[2] offerings;
        PropertyTreasury treasury;
        Distributor distributor;
        HookToken usd;
        Reenterer reenterer;
        address admin;
        address agent;
        address treasurer;
        address registrar;
        address rulesAdmin;
        address contractor;
    }

    constructor(Suite memory s, address[] memory actors_, bytes32[] memory investorIds_) {
        registry = s.registry;
        compliance = s.compliance;
        shares = s.shares;
        _offerings = s.offerings;
        treasury = s.treasury;
        distributor = s.distributor;
        usd = s.usd;
        reenterer = s.reenterer;
        admin = s.admin;
        agent = s.agent;
        treasurer = s.treasurer;
        registrar = s.registrar;
        rulesAdmin = s.rulesAdmin;
        contractor = s.contractor;
        gNow = block.timestamp;
        for (uint256 o = 0; o < 2; o++) {
            gOff[o].terms = s.offerings[o].terms();
            require(s.offerings[o].sharesSold() == 0, "fresh offering expected");
        }
        _actors = actors_;
        _investorIds = investorIds_;
        // Start the ghosts from the deployed state: registry records as set up, default rules,
        // no shares, an open offering and an empty treasury.
        for (uint256 i = 0; i < investorIds_.length; i++) {
            IdentityRegistry.Investor memory inv = registry.investor(investorIds_[i]);
            require(inv.no != 0, "investor not created");
            _investorNos.push(inv.no);
            gInv[inv.no] = GInvestor(inv.country, inv.accredited, inv.frozen, inv.kycExpiry);
        }
        for (uint256 i = 0; i < actors_.length; i++) {
            bytes32 id = registry.investorOf(actors_[i]);
            if (id != bytes32(0)) gWalletNo[actors_[i]] = registry.investor(id).no;
        }
        require(shares.totalSupply() == 0, "fresh suite expected");
    }

    // ------------------------------------------------------------------ set-up helpers (not fuzzed)

    /// Funds every actor with stablecoins and approves the offerings and the treasury.
    function fundActors(uint256 amount) external {
        for (uint256 i = 0; i < _actors.length; i++) {
            address a = _actors[i];
            usd.mint(a, amount);
            if (a == address(reenterer)) {
                reenterer.approve(usd, address(_offerings[0]));
                reenterer.approve(usd, address(_offerings[1]));
                reenterer.approve(usd, address(treasury));
                continue;
            }
            vm.startPrank(a);
            usd.approve(address(_offerings[0]), type(uint256).max);
            usd.approve(address(_offerings[1]), type(uint256).max);
            usd.approve(address(treasury), type(uint256).max);
            vm.stopPrank();
        }
    }

    /// A purchase through the modelled path (used to start from a state with holders).
    function seedBuy(uint256 o, uint256 actorIndex, uint256 shareAmount) external timed {
        _buy(o, _actors[actorIndex], shareAmount);
    }

    /// The fuzzed actions.
    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](30);
        s[0] = this.transfer.selector;
        s[1] = this.approve.selector;
        s[2] = this.transferFrom.selector;
        s[3] = this.mint.selector;
        s[4] = this.buy.selector;
        s[5] = this.finalize.selector;
        s[6] = this.cancel.selector;
        s[7] = this.refund.selector;
        s[8] = this.setPaused.selector;
        s[9] = this.setAddressFrozen.selector;
        s[10] = this.freezePartial.selector;
        s[11] = this.unfreezePartial.selector;
        s[12] = this.forcedTransfer.selector;
        s[13] = this.recoverWallet.selector;
        s[14] = this.burn.selector;
        s[15] = this.setInvestor.selector;
        s[16] = this.setInvestorFrozen.selector;
        s[17] = this.addWallet.selector;
        s[18] = this.removeWallet.selector;
        s[19] = this.setCountry.selector;
        s[20] = this.setRule.selector;
        s[21] = this.warp.selector;
        s[22] = this.deposit.selector;
        s[23] = this.setBudgetLine.selector;
        s[24] = this.releaseDraw.selector;
        s[25] = this.fundDistribution.selector;
        s[26] = this.claim.selector;
        s[27] = this.claimFor.selector;
        s[28] = this.sweep.selector;
        s[29] = this.issueMany.selector;
    }

    // ------------------------------------------------------------------ views for the invariants

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function everHeld() external view returns (address[] memory) {
        return _everHeld;
    }

    function investorNos() external view returns (uint64[] memory) {
        return _investorNos;
    }

    function distributionCount() external view returns (uint256) {
        return gDists.length;
    }

    function ghostDistribution(uint256 id) external view returns (GDist memory) {
        return gDists[id];
    }

    function offerings() external view returns (ShareOffering[2] memory) {
        return _offerings;
    }

    function ghostOffering(uint256 o) external view returns (GOffering memory) {
        return gOff[o];
    }

    /// Where `wallet`'s payouts go: itself, or the wallet it was recovered to (in turn).
    function successor(address wallet) public view returns (address) {
        while (gRecoveredTo[wallet] != address(0)) wallet = gRecoveredTo[wallet];
        return wallet;
    }

    function ghostEntitlement(uint256 id, address holder) public view returns (uint256) {
        GDist memory d = gDists[id];
        return gRecordBal[id][holder] * d.amount / d.supply;
    }

    function pathName(uint256 p) public pure returns (string memory) {
        string[29] memory n = [
            "transfer",
            "transferFrom",
            "mint",
            "buy",
            "forcedTransfer",
            "recoverWallet",
            "burn",
            "refund",
            "finalize",
            "cancel",
            "claim",
            "claimFor",
            "sweep",
            "deposit",
            "setBudgetLine",
            "releaseDraw",
            "fundDistribution",
            "freezePartial",
            "unfreezePartial",
            "setInvestor",
            "setInvestorFrozen",
            "addWallet",
            "removeWallet",
            "setCountry",
            "setRule",
            "approve",
            "setPaused",
            "setAddressFrozen",
            "warp"
        ];
        return n[p];
    }

    function investorCountModel() public view returns (uint256 c) {
        for (uint256 i = 0; i < _investorNos.length; i++) {
            if (gInvBal[_investorNos[i]] != 0) c++;
        }
    }

    // ================================================================== share actions

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amountSeed) external timed {
        address from = _sender(fromSeed);
        address to = _actor(toSeed);
        uint256 amount = _amount(amountSeed, gBal[from]);
        bytes memory expected = _restricted(_transferCode(from, to, amount));
        (bool eligible, string memory why) = _eligible(to, gAttr[from], amount, true);
        vm.prank(from);
        try shares.transfer(to, amount) {
            if (amount == 0) {
                _ok(Path.Transfer, expected); // nothing moves, nobody is delivered anything
            } else {
                _delivered(Path.Transfer, expected, eligible, why, to);
                _gMove(from, to, amount, gWalletNo[to]);
            }
        } catch (bytes memory err) {
            _failed(Path.Transfer, expected, err);
        }
    }

    function approve(uint256 ownerSeed, uint256 spenderSeed, uint256 amountSeed) external timed {
        address owner = _sender(ownerSeed);
        address spender = spenderSeed % 10 == 0 ? address(0) : _actor(spenderSeed / 10);
        uint256 amount = amountSeed % 3 == 0 ? type(uint256).max : _amount(amountSeed / 3, gBal[owner]);
        bytes memory expected = spender == address(0)
            ? abi.encodeWithSelector(IERC20Errors.ERC20InvalidSpender.selector, address(0))
            : bytes("");
        vm.prank(owner);
        try shares.approve(spender, amount) {
            _ok(Path.Approve, expected);
            gAllow[owner][spender] = amount;
        } catch (bytes memory err) {
            _failed(Path.Approve, expected, err);
        }
    }

    function transferFrom(uint256 spenderSeed, uint256 fromSeed, uint256 toSeed, uint256 amountSeed)
        external
        timed
    {
        address from = _sender(fromSeed);
        address spender = _actor(spenderSeed);
        if (spenderSeed % 3 != 0) {
            // Usually a spender the holder has approved.
            for (uint256 i = 0; i < _actors.length; i++) {
                address c = _actors[(spenderSeed / 3 + i) % _actors.length];
                if (gAllow[from][c] != 0) {
                    spender = c;
                    break;
                }
            }
        }
        address to = _actor(toSeed);
        uint256 allowed = gAllow[from][spender];
        uint256 amount = _amount(amountSeed, gBal[from]);
        if (amountSeed % 7 > 1 && amount > allowed) amount = allowed; // mostly within the allowance
        bytes memory expected;
        if (allowed != type(uint256).max && (allowed < amount || allowed == 0)) {
            // Even a zero amount needs an allowance.
            expected = abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, spender, allowed, amount
            );
        } else {
            expected = _restricted(_transferCode(from, to, amount));
        }
        (bool eligible, string memory why) = _eligible(to, gAttr[from], amount, true);
        vm.prank(spender);
        try shares.transferFrom(from, to, amount) {
            if (amount == 0) {
                _ok(Path.TransferFrom, expected);
            } else {
                _delivered(Path.TransferFrom, expected, eligible, why, to);
                if (allowed != type(uint256).max) gAllow[from][spender] = allowed - amount;
                _gMove(from, to, amount, gWalletNo[to]);
            }
        } catch (bytes memory err) {
            _failed(Path.TransferFrom, expected, err);
        }
    }

    /// Admin issuance outside the offerings.
    function mint(uint256 toSeed, uint256 amountSeed) external timed {
        address to = _actor(toSeed);
        uint256 amount = amountSeed % 5 == 0 ? 0 : _bound(amountSeed / 5, 1, 2_000e18);
        bytes memory expected = _restricted(_mintCode(to, amount));
        (bool eligible, string memory why) = _eligible(to, 0, amount, false);
        vm.prank(admin);
        try shares.mint(to, amount) returns (uint64 no) {
            _delivered(Path.Mint, expected, eligible, why, to);
            if (no != gWalletNo[to]) _mismatch(Path.Mint, "mint attributed to an unexpected investor");
            _gMove(address(0), to, amount, gWalletNo[to]);
        } catch (bytes memory err) {
            _failed(Path.Mint, expected, err);
        }
    }

    /// The transfer agent's batch issue to two wallets (sometimes the same one twice): each item's
    /// code is the model's for a mint after the items before it.
    function issueMany(uint256 aSeed, uint256 bSeed, uint256 amountSeed) external timed {
        address[] memory to = new address[](2);
        uint256[] memory amounts = new uint256[](2);
        to[0] = _actor(aSeed);
        to[1] = aSeed % 4 == 0 ? to[0] : _actor(bSeed);
        amounts[0] = _bound(amountSeed, 1, 2_000e18);
        amounts[1] = _bound(amountSeed >> 128, 1, 2_000e18);
        vm.prank(agent);
        try shares.issueMany(to, amounts) returns (uint8[] memory codes) {
            if (codes.length != 2) _mismatch(Path.Mint, "issueMany answered the wrong number of codes");
            for (uint256 i = 0; i < 2; i++) {
                if (codes[i] != _mintCode(to[i], amounts[i])) {
                    _mismatch(Path.Mint, "an issueMany code differs from the model's");
                }
                if (codes[i] == 0) _gMove(address(0), to[i], amounts[i], gWalletNo[to[i]]);
                else if (codes[i] < 14) restrictedCodes[codes[i]]++;
            }
        } catch {
            _mismatch(Path.Mint, "issueMany reverted");
        }
    }

    /// Pauses (a quarter of the time) or unpauses; each refuses a token already in that state.
    function setPaused(uint256 seed) external timed {
        bool p = seed % 4 == 0;
        bytes memory expected;
        if (p && gPaused) expected = abi.encodeWithSelector(PropertyShares.EnforcedPause.selector);
        if (!p && !gPaused) expected = abi.encodeWithSelector(PropertyShares.ExpectedPause.selector);
        vm.prank(agent);
        (bool success, bytes memory ret) = address(shares)
            .call(p ? abi.encodeCall(PropertyShares.pause, ()) : abi.encodeCall(PropertyShares.unpause, ()));
        if (success) {
            _ok(Path.SetPaused, expected);
            gPaused = p;
        } else {
            _failed(Path.SetPaused, expected, ret);
        }
    }

    function setAddressFrozen(uint256 walletSeed, uint256 seed) external timed {
        address w = _actor(walletSeed);
        bool f = seed % 3 == 0;
        vm.prank(agent);
        try shares.setAddressFrozen(w, f) {
            _ok(Path.SetAddressFrozen, "");
            gWalletFrozen[w] = f;
        } catch (bytes memory err) {
            _failed(Path.SetAddressFrozen, "", err);
        }
    }

    function freezePartial(uint256 walletSeed, uint256 amountSeed) external timed {
        address w = _actor(walletSeed);
        uint256 amount = _amount(amountSeed, gBal[w] - gFrozenAmt[w]);
        bytes memory expected = amount == 0 || gFrozenAmt[w] + amount > gBal[w]
            ? abi.encodeWithSelector(PropertyShares.InvalidFreezeAmount.selector, w, amount)
            : bytes("");
        vm.prank(agent);
        try shares.freezePartialTokens(w, amount) {
            _ok(Path.FreezePartial, expected);
            gFrozenAmt[w] += amount;
        } catch (bytes memory err) {
            _failed(Path.FreezePartial, expected, err);
        }
    }

    function unfreezePartial(uint256 walletSeed, uint256 amountSeed) external timed {
        address w = _actor(walletSeed);
        uint256 amount = _amount(amountSeed, gFrozenAmt[w]);
        bytes memory expected = amount == 0 || amount > gFrozenAmt[w]
            ? abi.encodeWithSelector(PropertyShares.InvalidFreezeAmount.selector, w, amount)
            : bytes("");
        vm.prank(agent);
        try shares.unfreezePartialTokens(w, amount) {
            _ok(Path.UnfreezePartial, expected);
            gFrozenAmt[w] -= amount;
        } catch (bytes memory err) {
            _failed(Path.UnfreezePartial, expected, err);
        }
    }

    function forcedTransfer(uint256 fromSeed, uint256 toSeed, uint256 amountSeed) external timed {
        address from = _sender(fromSeed);
        address to = _actor(toSeed);
        uint256 amount = _amount(amountSeed, gBal[from]);
        bytes memory expected = _restricted(_forcedCode(from, to, amount));
        (bool eligible, string memory why) = _eligible(to, gAttr[from], amount, true);
        vm.prank(agent);
        try shares.forcedTransfer(from, to, amount) returns (bool ok) {
            _delivered(Path.ForcedTransfer, expected, eligible, why, to);
            if (!ok) _mismatch(Path.ForcedTransfer, "forcedTransfer returned false");
            _gRelease(from, amount);
            _gMove(from, to, amount, gWalletNo[to]);
        } catch (bytes memory err) {
            _failed(Path.ForcedTransfer, expected, err);
        }
    }

    /// A recovery, by either name; usually aimed at another wallet of the same investor, which may
    /// hold that investor's shares already.
    function recoverWallet(uint256 lostSeed, uint256 newSeed) external timed {
        address lost = _sender(lostSeed);
        address fresh = _actor(newSeed);
        if (newSeed % 3 != 0) {
            for (uint256 i = 0; i < _actors.length; i++) {
                address w = _actors[(newSeed / 3 + i) % _actors.length];
                if (
                    w != lost && gWalletNo[w] != 0 && gWalletNo[w] == gAttr[lost]
                        && (gBal[w] == 0 || gAttr[w] == gAttr[lost])
                ) {
                    fresh = w;
                    break;
                }
            }
        }
        uint256 bal = gBal[lost];
        bytes memory expected;
        if (
            bal == 0 || fresh == lost || gWalletNo[fresh] != gAttr[lost]
                || (gBal[fresh] != 0 && gAttr[fresh] != gAttr[lost]) || gRecoveredTo[fresh] != address(0)
        ) {
            expected = abi.encodeWithSelector(PropertyShares.InvalidRecovery.selector, lost, fresh);
        } else {
            expected = _restricted(_forcedCode(lost, fresh, bal));
        }
        (bool eligible, string memory why) = _eligible(fresh, gAttr[lost], bal, true);
        vm.prank(agent);
        (bool success, bytes memory ret) = address(shares)
            .call(
                newSeed % 2 == 0
                    ? abi.encodeCall(PropertyShares.recoverWallet, (lost, fresh))
                    : abi.encodeCall(PropertyShares.recoveryAddress, (lost, fresh, address(0)))
            );
        if (success) {
            _delivered(Path.Recovery, expected, eligible, why, fresh);
            uint256 frozenAmount = gFrozenAmt[lost];
            _gMove(lost, fresh, bal, gWalletNo[fresh]);
            gWalletFrozen[fresh] = gWalletFrozen[fresh] || gWalletFrozen[lost];
            gFrozenAmt[fresh] += frozenAmount;
            gFrozenAmt[lost] = 0;
            gWalletFrozen[lost] = true;
            if (gRecoveredTo[lost] == address(0)) gRecoveredTo[lost] = fresh;
        } else {
            _failed(Path.Recovery, expected, ret);
        }
    }

    function burn(uint256 fromSeed, uint256 amountSeed) external timed {
        address from = _actor(fromSeed);
        uint256 amount = _amount(amountSeed, gBal[from]);
        bytes memory expected;
        if (amount <= gBal[from] && _lockedOut(gAttr[from], amount)) {
            expected = _restricted(13);
        } else if (amount > gBal[from]) {
            expected = abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, from, gBal[from], amount
            );
        }
        vm.prank(agent);
        try shares.burn(from, amount) {
            _ok(Path.Burn, expected);
            _gRelease(from, amount);
            _gMove(from, address(0), amount, 0);
        } catch (bytes memory err) {
            _failed(Path.Burn, expected, err);
        }
    }

    // ================================================================== offerings

    function buy(uint256 buyerSeed, uint256 amountSeed, uint256 offeringSeed) external timed {
        address buyer = _actor(buyerSeed);
        uint256 amount;
        uint256 mode = amountSeed % 4;
        if (mode == 0) amount = _bound(amountSeed / 4, 0, 2e18); // around the minimum purchase
        else if (mode == 1) amount = _bound(amountSeed / 4, 1, 1_500) * 1e18;
        else amount = _bound(amountSeed / 4, 0, 3_000e18);
        _buy(offeringSeed % 2, buyer, amount);
    }

    function _buy(uint256 o, address buyer, uint256 amount) internal {
        (bytes memory expected, uint256 cost, bool settles) = _buyExpected(o, buyer, amount);
        (bool eligible, string memory why) = _eligible(buyer, 0, amount, false);
        uint256 usdBefore = usd.balanceOf(buyer);
        (bool success, bytes memory ret) = _as(
            buyer,
            address(_offerings[o]),
            abi.encodeCall(ShareOffering.buy, (amount)),
            abi.encodeCall(ShareOffering.buy, (1e18))
        );
        if (!success) {
            _failed(Path.Buy, expected, ret);
            return;
        }
        _delivered(Path.Buy, expected, eligible, why, buyer);
        if (abi.decode(ret, (uint256)) != cost || usdBefore - usd.balanceOf(buyer) != cost) {
            _mismatch(Path.Buy, "price differs from the quote");
        }
        _reentryOutcome(buyer, cost != 0);
        _buyApply(o, buyer, amount, cost, settles);
    }

    /// What a purchase must do: the exact revert, the price, and whether it reaches the soft cap.
    function _buyExpected(uint256 o, address buyer, uint256 amount)
        internal
        view
        returns (bytes memory expected, uint256 cost, bool settles)
    {
        GOffering storage g = gOff[o];
        uint64 no = gWalletNo[buyer];
        cost = _ceilDiv(amount * g.terms.pricePerShare, 1e18);
        settles = !g.released && g.raised + cost >= g.terms.softCap;
        bool unsettled = !g.released && !settles;
        if (
            g.status != ShareOffering.Status.Open || block.timestamp < g.terms.start
                || block.timestamp >= g.terms.end
        ) {
            expected = abi.encodeWithSelector(ShareOffering.OfferingClosed.selector);
        } else if (amount < g.terms.minPurchase || amount == 0) {
            expected = abi.encodeWithSelector(
                ShareOffering.BelowMinimumPurchase.selector, g.terms.minPurchase, amount
            );
        } else if (amount > g.terms.sharesForSale - g.sold) {
            expected = abi.encodeWithSelector(
                ShareOffering.SoldOut.selector, g.terms.sharesForSale - g.sold, amount
            );
        } else if (unsettled && gEscrowOpen && gEscrowHolder != o) {
            expected = abi.encodeWithSelector(
                PropertyShares.EscrowHeldByAnotherOffering.selector, address(_offerings[gEscrowHolder])
            );
        } else {
            uint8 code = _mintCode(buyer, amount);
            uint256 bought = gPurShares[o][no];
            if (code != 0) {
                expected = _restricted(code);
            } else if (g.terms.maxPerInvestor != 0 && amount > g.terms.maxPerInvestor - bought) {
                expected = abi.encodeWithSelector(
                    ShareOffering.AboveInvestorLimit.selector, g.terms.maxPerInvestor - bought, amount
                );
            }
        }
    }

    function _buyApply(uint256 o, address buyer, uint256 amount, uint256 cost, bool settles) internal {
        GOffering storage g = gOff[o];
        uint64 no = gWalletNo[buyer];
        uint256 raisedBefore = g.raised;
        bool unsettled = !g.released && !settles;
        g.sold += amount;
        g.raised = raisedBefore + cost;
        gPurShares[o][no] += amount;
        gPurPaid[o][no] += cost;
        gDeposits += cost;
        if (!g.released) {
            g.escrow += cost;
            gEscrowed += cost;
        }
        _gMove(address(0), buyer, amount, no);
        if (unsettled) {
            if (!gEscrowOpen) {
                gEscrowOpen = true;
                gEscrowHolder = o;
            }
            gUnsettled[no] += amount;
        }
        if (settles) {
            g.released = true;
            gEscrowed -= g.escrow;
            g.escrow = 0;
            if (raisedBefore != 0) _closeEscrow();
        }
    }

    /// Finalizes; an eighth of the time only after waiting for the sale window to close.
    function finalize(uint256 callerSeed, uint256 offeringSeed) external timed {
        uint256 o = offeringSeed % 2;
        GOffering storage g = gOff[o];
        if (callerSeed % 8 == 0 && gNow < g.terms.end) {
            gNow = g.terms.end;
            vm.warp(gNow);
        }
        bytes memory expected;
        if (g.status != ShareOffering.Status.Open) {
            expected = abi.encodeWithSelector(ShareOffering.WrongStatus.selector, g.status);
        } else if (block.timestamp < g.terms.end && g.sold < g.terms.sharesForSale) {
            expected = abi.encodeWithSelector(ShareOffering.StillOpen.selector);
        }
        vm.prank(_actor(callerSeed));
        try _offerings[o].finalize() returns (ShareOffering.Status s) {
            _ok(Path.Finalize, expected);
            g.status = g.released ? ShareOffering.Status.Succeeded : ShareOffering.Status.Failed;
            if (s != g.status) _mismatch(Path.Finalize, "unexpected final status");
        } catch (bytes memory err) {
            _failed(Path.Finalize, expected, err);
        }
    }

    /// The operator (the treasurer) cancels an eighth of the time (so that most runs also see an
    /// offering settle); otherwise another account tries.
    function cancel(uint256 callerSeed, uint256 offeringSeed) external timed {
        uint256 o = offeringSeed % 2;
        GOffering storage g = gOff[o];
        address caller =
            callerSeed % 8 == 0 ? treasurer : (callerSeed % 2 == 0 ? admin : _actor(callerSeed / 8));
        bytes memory expected;
        if (caller != treasurer) {
            expected = abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                caller,
                _offerings[o].OPERATOR_ROLE()
            );
        } else if (g.status != ShareOffering.Status.Open || g.released) {
            expected = abi.encodeWithSelector(ShareOffering.WrongStatus.selector, g.status);
        }
        vm.prank(caller);
        try _offerings[o].cancel() {
            _ok(Path.Cancel, expected);
            g.status = ShareOffering.Status.Failed;
        } catch (bytes memory err) {
            _failed(Path.Cancel, expected, err);
        }
    }

    /// Refunds a wallet for the purchase shares it holds (usually a wallet holding some).
    function refund(uint256 callerSeed, uint256 walletSeed, uint256 offeringSeed) external timed {
        uint256 o = offeringSeed % 2;
        GOffering storage g = gOff[o];
        address wallet = _sender(walletSeed);
        uint64 no = gAttr[wallet];
        uint256 bought = gPurShares[o][no];
        uint256 n = bought < gBal[wallet] ? bought : gBal[wallet];
        uint256 amount;
        bytes memory expected;
        if (g.status != ShareOffering.Status.Failed) {
            expected = abi.encodeWithSelector(ShareOffering.WrongStatus.selector, g.status);
        } else if (n == 0 || no == 0) {
            expected = abi.encodeWithSelector(ShareOffering.NothingToRefund.selector, wallet);
        } else if (_payeeFrozen(wallet)) {
            expected = abi.encodeWithSelector(ShareOffering.RefundFrozen.selector, wallet);
        } else {
            amount = n == bought ? gPurPaid[o][no] : gPurPaid[o][no] * n / bought;
        }
        uint256 usdBefore = usd.balanceOf(wallet);
        (bool success, bytes memory ret) = _as(
            wallet == address(reenterer) ? wallet : _actor(callerSeed),
            address(_offerings[o]),
            abi.encodeCall(ShareOffering.refund, (wallet)),
            abi.encodeCall(ShareOffering.buy, (1e18))
        );
        if (success) {
            _ok(Path.Refund, expected);
            if (abi.decode(ret, (uint256)) != amount || usd.balanceOf(wallet) - usdBefore != amount) {
                _mismatch(Path.Refund, "refund amount differs from the buyer's share of what was paid");
            }
            _reentryOutcome(wallet, true);
            gPurShares[o][no] = bought - n;
            gPurPaid[o][no] -= amount;
            g.refunded += n;
            g.refundedPaid += amount;
            g.escrow -= amount;
            gRefunds += amount;
            gEscrowed -= amount;
            gUnsettled[no] -= n;
            _gRelease(wallet, n);
            _gMove(wallet, address(0), n, 0);
            if (g.refunded == g.sold) _closeEscrow();
        } else {
            _failed(Path.Refund, expected, ret);
        }
    }

    // ================================================================== registry and rules

    function setInvestor(uint256 invSeed, uint256 countrySeed, uint256 accreditedSeed, uint256 expirySeed)
        external
        timed
    {
        uint64 no = _investorNos[invSeed % _investorNos.length];
        bytes32 id = _investorIds[invSeed % _investorIds.length];
        uint16 country = countrySeed % 12 == 0 ? 0 : COUNTRIES[countrySeed % 4];
        bool accredited = accreditedSeed % 3 != 0;
        uint64 expiry;
        uint256 mode = expirySeed % 8;
        if (mode == 0) expiry = uint64(block.timestamp - _bound(expirySeed / 8, 1, 30 days)); // expired
        else if (mode == 1) expiry = uint64(block.timestamp); // expires now: not verified
        else expiry = uint64(block.timestamp + _bound(expirySeed / 8, 1, 90 days));
        bytes memory expected =
            country == 0 ? abi.encodeWithSelector(IdentityRegistry.InvalidInvestor.selector, id) : bytes("");
        vm.prank(registrar);
        try registry.setInvestor(id, country, accredited, expiry) returns (uint64 got) {
            _ok(Path.SetInvestor, expected);
            if (got != no) _mismatch(Path.SetInvestor, "investor number changed");
            GInvestor storage g = gInv[no];
            g.country = country;
            g.accredited = accredited;
            g.kycExpiry = expiry;
        } catch (bytes memory err) {
            _failed(Path.SetInvestor, expected, err);
        }
    }

    function setInvestorFrozen(uint256 invSeed, uint256 seed) external timed {
        uint256 i = invSeed % (_investorIds.length + 1);
        bytes32 id = i == _investorIds.length ? NOBODY : _investorIds[i];
        bool f = seed % 3 == 0;
        bytes memory expected =
            id == NOBODY ? abi.encodeWithSelector(IdentityRegistry.UnknownInvestor.selector, id) : bytes("");
        vm.prank(registrar);
        try registry.setInvestorFrozen(id, f) {
            _ok(Path.SetInvestorFrozen, expected);
            gInv[_investorNos[i]].frozen = f;
        } catch (bytes memory err) {
            _failed(Path.SetInvestorFrozen, expected, err);
        }
    }

    function addWallet(uint256 walletSeed, uint256 invSeed) external timed {
        address w = _actor(walletSeed);
        if (walletSeed % 4 != 0) {
            // Usually pick an unregistered wallet, so removals are undone about as often as they happen.
            for (uint256 k = 0; k < _actors.length; k++) {
                address c = _actors[(walletSeed / 4 + k) % _actors.length];
                if (gWalletNo[c] == 0) {
                    w = c;
                    break;
                }
            }
        }
        uint256 i = invSeed % (_investorIds.length + 1);
        bytes32 id = i == _investorIds.length ? NOBODY : _investorIds[i];
        bytes memory expected;
        if (id == NOBODY) {
            expected = abi.encodeWithSelector(IdentityRegistry.UnknownInvestor.selector, id);
        } else if (gWalletNo[w] != 0) {
            expected = abi.encodeWithSelector(
                IdentityRegistry.WalletAlreadyRegistered.selector, w, _idOf(gWalletNo[w])
            );
        }
        vm.prank(registrar);
        try registry.addWallet(w, id) {
            _ok(Path.AddWallet, expected);
            gWalletNo[w] = _investorNos[i];
        } catch (bytes memory err) {
            _failed(Path.AddWallet, expected, err);
        }
    }

    function removeWallet(uint256 walletSeed) external timed {
        address w = _actor(walletSeed);
        bytes memory expected = gWalletNo[w] == 0
            ? abi.encodeWithSelector(IdentityRegistry.WalletNotRegistered.selector, w)
            : bytes("");
        vm.prank(registrar);
        try registry.removeWallet(w) {
            _ok(Path.RemoveWallet, expected);
            gWalletNo[w] = 0;
        } catch (bytes memory err) {
            _failed(Path.RemoveWallet, expected, err);
        }
    }

    function setCountry(uint256 countrySeed, uint256 seed) external timed {
        uint16 c = countrySeed % 10 == 0 ? 1000 : COUNTRIES[countrySeed % 4];
        bool allowed = seed % 3 != 0;
        uint16[] memory list = new uint16[](1);
        list[0] = c;
        bytes memory expected =
            c == 1000 ? abi.encodeWithSelector(ShareCompliance.InvalidCountry.selector, c) : bytes("");
        vm.prank(rulesAdmin);
        try compliance.setCountries(list, allowed) {
            _ok(Path.SetCountry, expected);
            gAllowed[c] = allowed;
        } catch (bytes memory err) {
            _failed(Path.SetCountry, expected, err);
        }
    }

    /// Changes one rule at a time, keeping the others.
    function setRule(uint256 whichSeed, uint256 valueSeed) external timed {
        ShareCompliance.Rules memory r = gRules;
        uint256 which = whichSeed % 6;
        uint256 v = valueSeed / 3;
        if (which == 0) {
            r.accreditedOnly = valueSeed % 3 == 0;
        } else if (which == 1) {
            r.countriesRestricted = valueSeed % 2 == 0;
        } else if (which == 2) {
            r.maxInvestors = uint32(valueSeed % 7);
        } else if (which == 3) {
            uint256 m = valueSeed % 4;
            if (m == 0) {
                r.maxBalancePerInvestor = 0;
            } else if (m == 1 && r.minHolding > 1) {
                r.maxBalancePerInvestor = r.minHolding - 1; // inconsistent
            } else {
                r.maxBalancePerInvestor =
                    uint128(m == 2 ? _bound(v, 10e18, 150e18) : _bound(v, 150e18, 10_000e18));
            }
        } else if (which == 4) {
            r.lockupUntil = valueSeed % 3 == 0 ? 0 : uint64(block.timestamp - 10 days + _bound(v, 0, 30 days));
        } else {
            if (valueSeed % 4 == 1 && r.maxBalancePerInvestor != 0) {
                r.minHolding = r.maxBalancePerInvestor + 1;
            } else {
                r.minHolding = valueSeed % 2 == 0 ? 0 : uint128(_bound(v, 1, 150e18));
            }
        }
        bytes memory expected = r.maxBalancePerInvestor != 0 && r.minHolding > r.maxBalancePerInvestor
            ? abi.encodeWithSelector(
                ShareCompliance.InconsistentRules.selector, r.minHolding, r.maxBalancePerInvestor
            )
            : bytes("");
        vm.prank(rulesAdmin);
        try compliance.setRules(r) {
            _ok(Path.SetRule, expected);
            gRules = r;
        } catch (bytes memory err) {
            _failed(Path.SetRule, expected, err);
        }
    }

    function warp(uint256 seed) external {
        uint256 d = seed % 4 == 0 ? _bound(seed / 4, 1 days, 30 days) : _bound(seed / 4, 0, 2 days);
        gNow += d;
        vm.warp(gNow);
        calls++;
        succeeded[uint256(Path.Warp)]++;
    }

    // ================================================================== treasury

    function deposit(uint256 actorSeed, uint256 amountSeed) external timed {
        address from = _actor(actorSeed);
        uint256 amount = amountSeed % 8 == 0 ? 0 : _bound(amountSeed / 8, 1, 50_000e6);
        bytes memory expected =
            amount == 0 ? abi.encodeWithSelector(PropertyTreasury.ZeroAmount.selector) : bytes("");
        (bool success, bytes memory ret) = _as(
            from,
            address(treasury),
            abi.encodeCall(PropertyTreasury.deposit, (amount, bytes32("rent"))),
            abi.encodeCall(PropertyTreasury.deposit, (1, bytes32("again")))
        );
        if (success) {
            _ok(Path.Deposit, expected);
            _reentryOutcome(from, true);
            gDeposits += amount;
        } else {
            _failed(Path.Deposit, expected, ret);
        }
    }

    function setBudgetLine(uint256 lineSeed, uint256 budgetSeed) external timed {
        bytes32 line = LINES[lineSeed % 3];
        uint256 budget = _bound(budgetSeed, 0, 100_000e6);
        bytes memory expected = budget < gDrawn[line]
            ? abi.encodeWithSelector(PropertyTreasury.BudgetBelowDrawn.selector, line, gDrawn[line])
            : bytes("");
        vm.prank(treasurer);
        try treasury.setBudgetLine(line, budget) {
            _ok(Path.BudgetLine, expected);
            gBudget[line] = budget;
        } catch (bytes memory err) {
            _failed(Path.BudgetLine, expected, err);
        }
    }

    function releaseDraw(uint256 lineSeed, uint256 amountSeed) external timed {
        bytes32 line = LINES[lineSeed % 3];
        uint256 remaining = gBudget[line] - gDrawn[line];
        uint256 amount = _amount(amountSeed, remaining < _available() ? remaining : _available());
        uint256 free = _available();
        bytes memory expected;
        if (amount == 0) {
            expected = abi.encodeWithSelector(PropertyTreasury.ZeroAmount.selector);
        } else if (amount > remaining) {
            expected = abi.encodeWithSelector(PropertyTreasury.OverBudget.selector, line, remaining, amount);
        } else if (amount > free) {
            expected = abi.encodeWithSelector(PropertyTreasury.InsufficientFunds.selector, free, amount);
        }
        uint256 before = usd.balanceOf(contractor);
        vm.prank(treasurer);
        try treasury.releaseDraw(contractor, amount, line, keccak256(abi.encode(amountSeed))) {
            _ok(Path.Draw, expected);
            if (usd.balanceOf(contractor) - before != amount) {
                _mismatch(Path.Draw, "contractor not paid the draw");
            }
            gDrawn[line] += amount;
            gDraws += amount;
        } catch (bytes memory err) {
            _failed(Path.Draw, expected, err);
        }
    }

    function fundDistribution(uint256 amountSeed, uint256 deadlineSeed) external timed {
        uint256 free = _available();
        uint256 amount = _amount(amountSeed, free);
        uint64 deadline = uint64(block.timestamp + _bound(deadlineSeed, 0, 20 days));
        bytes memory expected;
        if (amount == 0) {
            expected = abi.encodeWithSelector(PropertyTreasury.ZeroAmount.selector);
        } else if (amount > free) {
            expected = abi.encodeWithSelector(PropertyTreasury.InsufficientFunds.selector, free, amount);
        } else if (gSupply == 0 || deadline <= block.timestamp) {
            expected = abi.encodeWithSelector(Distributor.InvalidDistribution.selector);
        } else if (gEscrowOpen) {
            expected = abi.encodeWithSelector(
                Distributor.OfferingUnsettled.selector, address(_offerings[gEscrowHolder])
            );
        }
        vm.prank(treasurer);
        try treasury.fundDistribution(amount, deadline, bytes32("payout")) returns (uint256 id) {
            _ok(Path.FundDistribution, expected);
            if (gEscrowOpen) distributionWhileUnsettled = true;
            if (id != gDists.length) _mismatch(Path.FundDistribution, "unexpected distribution id");
            gDistributions += amount;
            gDists.push(
                GDist({amount: amount, supply: gSupply, deadline: deadline, swept: false, claimed: 0})
            );
            for (uint256 i = 0; i < _everHeld.length; i++) {
                gRecordBal[id][_everHeld[i]] = gBal[_everHeld[i]];
            }
        } catch (bytes memory err) {
            _failed(Path.FundDistribution, expected, err);
        }
    }

    // ================================================================== distributor

    function claim(uint256 idSeed, uint256 holderSeed) external timed {
        _claim(Path.Claim, idSeed, _actor(holderSeed), _actor(holderSeed));
    }

    function claimFor(uint256 idSeed, uint256 callerSeed, uint256 holderSeed) external timed {
        _claim(Path.ClaimFor, idSeed, _actor(callerSeed), _actor(holderSeed));
    }

    struct ClaimCall {
        Path path;
        uint256 id;
        address caller;
        address holder;
        address payee;
        uint256 ent;
        bool frozen;
    }

    function _claim(Path path, uint256 idSeed, address caller, address holder) internal {
        ClaimCall memory c;
        c.path = path;
        c.id = idSeed % (gDists.length + 1);
        c.caller = caller;
        c.holder = holder;
        c.payee = successor(holder);
        c.frozen = _payeeFrozen(c.payee);
        bytes memory expected;
        (expected, c.ent) = _claimExpected(c);
        uint256 before = usd.balanceOf(c.payee);
        (bool success, bytes memory ret) = _as(
            caller,
            address(distributor),
            path == Path.Claim
                ? abi.encodeCall(Distributor.claim, (c.id))
                : abi.encodeCall(Distributor.claimFor, (c.id, holder)),
            abi.encodeCall(Distributor.claimFor, (c.id, holder))
        );
        if (!success) {
            _failed(path, expected, ret);
            return;
        }
        _ok(path, expected);
        _claimApply(c, abi.decode(ret, (uint256)), usd.balanceOf(c.payee) - before);
    }

    function _claimExpected(ClaimCall memory c) internal view returns (bytes memory expected, uint256 ent) {
        if (c.id >= gDists.length) {
            return (abi.encodeWithSelector(Distributor.UnknownDistribution.selector, c.id), 0);
        }
        GDist storage d = gDists[c.id];
        Distributor.ClaimState state = gClaimState[c.id][c.holder];
        ent = ghostEntitlement(c.id, c.holder);
        if (state == Distributor.ClaimState.Paid) {
            expected = abi.encodeWithSelector(Distributor.AlreadyClaimed.selector, c.id, c.holder);
        } else if (state == Distributor.ClaimState.Unclaimed && (d.swept || block.timestamp > d.deadline)) {
            expected = abi.encodeWithSelector(Distributor.ClaimClosed.selector, c.id);
        } else if (ent == 0) {
            expected = abi.encodeWithSelector(Distributor.NothingToClaim.selector, c.id, c.holder);
        } else if (c.frozen && state == Distributor.ClaimState.Withheld) {
            expected = abi.encodeWithSelector(Distributor.PayeeFrozen.selector, c.id, c.payee);
        }
    }

    function _claimApply(ClaimCall memory c, uint256 paid, uint256 received) internal {
        if (c.frozen) {
            if (paid != 0 || received != 0) _mismatch(c.path, "a frozen payee was paid");
            if (received != 0 && !misdirectedPayout) {
                misdirectedPayout = true;
                misdirectedPayoutInfo = string.concat("paid frozen payee ", vm.toString(c.payee));
            }
            gClaimState[c.id][c.holder] = Distributor.ClaimState.Withheld;
            gDists[c.id].claimed += c.ent;
            gWithheld += c.ent;
            return;
        }
        if (paid != c.ent || received != c.ent) _mismatch(c.path, "claim paid a different amount");
        if (gRecoveredTo[c.payee] != address(0) && !misdirectedPayout) {
            misdirectedPayout = true;
            misdirectedPayoutInfo = string.concat("paid recovered-away wallet ", vm.toString(c.payee));
        }
        if (gClaimState[c.id][c.holder] == Distributor.ClaimState.Unclaimed) gDists[c.id].claimed += c.ent;
        else gWithheld -= c.ent;
        gClaimState[c.id][c.holder] = Distributor.ClaimState.Paid;
        gReceived[c.id][c.holder] += received;
        if (c.caller == c.payee) _reentryOutcome(c.caller, true);
    }

    function sweep(uint256 idSeed, uint256 callerSeed) external timed {
        uint256 id = idSeed % (gDists.length + 1);
        bytes memory expected;
        uint256 left;
        if (id >= gDists.length) {
            expected = abi.encodeWithSelector(Distributor.UnknownDistribution.selector, id);
        } else {
            GDist storage d = gDists[id];
            left = d.amount - d.claimed;
            if (d.swept) {
                expected = abi.encodeWithSelector(Distributor.ClaimClosed.selector, id);
            } else if (block.timestamp <= d.deadline) {
                expected = abi.encodeWithSelector(Distributor.ClaimStillOpen.selector, id, d.deadline);
            }
        }
        vm.prank(_actor(callerSeed));
        try distributor.sweep(id) returns (uint256 amount) {
            _ok(Path.Sweep, expected);
            if (amount != left) _mismatch(Path.Sweep, "swept a different amount");
            gDists[id].swept = true;
            gDeposits += left;
            gSweptBack += left;
        } catch (bytes memory err) {
            _failed(Path.Sweep, expected, err);
        }
    }

    // ================================================================== calls by a wallet

    /// `who` calls `target` with `data`. The contract wallet does it through its `attack`, re-entering
    /// `target` with `reentry` from the first token hook it gets inside the call.
    function _as(address who, address target, bytes memory data, bytes memory reentry)
        internal
        returns (bool success, bytes memory ret)
    {
        if (who == address(reenterer)) return reenterer.attack(target, data, target, reentry);
        vm.prank(who);
        (success, ret) = target.call(data);
    }

    /// After a successful call by `who` in which tokens moved to or from it: when `who` is the contract
    /// wallet, its hook re-entered the contract, which must have refused.
    function _reentryOutcome(address who, bool moved) internal {
        if (who != address(reenterer) || !moved) return;
        if (reenterer.reentered()) {
            if (!reentryAccepted) {
                reentryAccepted = true;
                reentryAcceptedInfo = vm.toString(reenterer.reentryResult());
            }
        } else if (
            keccak256(reenterer.reentryResult())
                == keccak256(
                    abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
                )
        ) {
            reentriesRefused++;
        }
    }

    // ================================================================== reference model

    /// Whether an investor would keep less than its unsettled offering shares after giving `amount`.
    function _lockedOut(uint64 no, uint256 amount) internal view returns (bool) {
        return gEscrowOpen && gInvBal[no] - amount < gUnsettled[no];
    }

    /// Whether money owed to `w` waits: frozen on the token, or its investor (by attribution or by
    /// current registration) frozen in the registry.
    function _payeeFrozen(address w) internal view returns (bool) {
        return gWalletFrozen[w] || gInv[gAttr[w]].frozen || gInv[gWalletNo[w]].frozen;
    }

    function _closeEscrow() internal {
        gEscrowOpen = false;
        for (uint256 i = 0; i < _investorNos.length; i++) {
            gUnsettled[_investorNos[i]] = 0;
        }
    }

    /// Reason code of `transfer`/`transferFrom`, in the order of REASON_CODES.md.
    function _transferCode(address from, address to, uint256 amount) internal view returns (uint8) {
        if (amount == 0) return 0;
        if (gPaused) return 1;
        uint64 senderNo = gAttr[from];
        if (gWalletFrozen[from] || gInv[senderNo].frozen || gInv[gWalletNo[from]].frozen) return 2;
        uint8 c = _recipientCode(to);
        if (c != 0) return c;
        if (gBal[from] < amount) return 5;
        if (gBal[from] - gFrozenAmt[from] < amount) return 6;
        if (gWalletNo[to] != senderNo && _lockedOut(senderNo, amount)) return 13;
        return _rulesCode(senderNo, to, amount, false, true, false);
    }

    /// Reason code of a mint (admin issuance or offering purchase): recipient side only, no lock-up.
    function _mintCode(address to, uint256 amount) internal view returns (uint8) {
        if (gPaused) return 1;
        uint8 c = _recipientCode(to);
        if (c != 0) return c;
        return _rulesCode(0, to, amount, true, false, false);
    }

    /// Reason code of a forced transfer or recovery: pause, sender freezes, lock-up and the sender's
    /// minimum holding are overridden; the recipient is checked in full, and unsettled offering shares
    /// stay with their investor.
    function _forcedCode(address from, address to, uint256 amount) internal view returns (uint8) {
        uint8 c = _recipientCode(to);
        if (c != 0) return c;
        if (gBal[from] < amount) return 5;
        if (gWalletNo[to] != gAttr[from] && _lockedOut(gAttr[from], amount)) return 13;
        return _rulesCode(gAttr[from], to, amount, true, true, true);
    }

    function _recipientCode(address to) internal view returns (uint8) {
        uint64 rNo = gWalletNo[to];
        if (gWalletFrozen[to] || (rNo != 0 && gInv[rNo].frozen)) return 3;
        if (rNo == 0 || block.timestamp >= gInv[rNo].kycExpiry) return 4;
        if (gBal[to] != 0 && gAttr[to] != rNo) return 4;
        return 0;
    }

    function _rulesCode(
        uint64 senderNo,
        address to,
        uint256 amount,
        bool lockupExempt,
        bool isTransfer,
        bool forced
    ) internal view returns (uint8) {
        uint64 rNo = gWalletNo[to];
        GInvestor memory ri = gInv[rNo];
        if (gRules.countriesRestricted && !gAllowed[ri.country]) return 7;
        if (gRules.accreditedOnly && !ri.accredited) return 8;
        if (!lockupExempt && block.timestamp < gRules.lockupUntil) return 9;
        if (isTransfer && senderNo == rNo) return 0;
        uint256 rBefore = gInvBal[rNo];
        uint256 senderAfter = isTransfer ? gInvBal[senderNo] - amount : 0;
        bool exits = isTransfer && senderAfter == 0;
        if (gRules.maxInvestors != 0 && rBefore == 0 && !exits && investorCountModel() >= gRules.maxInvestors)
        {
            return 10;
        }
        if (gRules.maxBalancePerInvestor != 0 && rBefore + amount > gRules.maxBalancePerInvestor) return 11;
        if (gRules.minHolding != 0) {
            if (rBefore + amount < gRules.minHolding) return 12;
            if (!forced && senderAfter != 0 && senderAfter < gRules.minHolding) return 12;
        } else if (isTransfer && !lockupExempt && rBefore == 0 && amount < 1e18) {
            return 12; // a new investor's first holding by transfer: at least one share
        }
        return 0;
    }

    /// Whether `to` may end up holding `amount` more shares at all, stated as properties rather than
    /// as the reason-code cascade: a registered wallet of a KYC-valid, unfrozen investor, not frozen on
    /// the token and not holding another investor's shares, in an allowed country, accredited when
    /// required, and (unless the shares stay with one investor) within the caps afterwards.
    function _eligible(address to, uint64 senderNo, uint256 amount, bool isTransfer)
        internal
        view
        returns (bool, string memory)
    {
        uint64 no = gWalletNo[to];
        if (no == 0) return (false, "recipient wallet not registered");
        GInvestor memory inv = gInv[no];
        if (!(block.timestamp < inv.kycExpiry)) return (false, "recipient KYC expired");
        if (inv.frozen) return (false, "recipient investor frozen");
        if (gWalletFrozen[to]) return (false, "recipient wallet frozen");
        if (gBal[to] != 0 && gAttr[to] != no) {
            return (false, "recipient wallet holds another investor's shares");
        }
        if (gRules.countriesRestricted && !gAllowed[inv.country]) {
            return (false, "recipient country not allowed");
        }
        if (gRules.accreditedOnly && !inv.accredited) return (false, "recipient not accredited");
        if (isTransfer && senderNo == no) return (true, ""); // holdings and count unchanged
        uint256 holdingAfter = gInvBal[no] + amount;
        if (gRules.maxBalancePerInvestor != 0 && holdingAfter > gRules.maxBalancePerInvestor) {
            return (false, "recipient holding above the cap");
        }
        if (gRules.minHolding != 0 && holdingAfter != 0 && holdingAfter < gRules.minHolding) {
            return (false, "recipient holding below the minimum");
        }
        if (gRules.maxInvestors != 0 && amount != 0 && gInvBal[no] == 0) {
            uint256 before = investorCountModel();
            bool senderExits = isTransfer && senderNo != 0 && gInvBal[senderNo] == amount;
            uint256 afterCount = senderExits ? before : before + 1;
            if (afterCount > gRules.maxInvestors && afterCount > before) {
                return (false, "investor cap exceeded");
            }
        }
        return (true, "");
    }

    // ================================================================== ghost updates

    function _gMove(address from, address to, uint256 amount, uint64 toNo) internal {
        if (from == address(0)) {
            gSupply += amount;
        } else {
            gBal[from] -= amount;
            gInvBal[gAttr[from]] -= amount;
        }
        if (to == address(0)) {
            gSupply -= amount;
        } else {
            if (gBal[to] == 0) gAttr[to] = toNo;
            gBal[to] += amount;
            gInvBal[toNo] += amount;
            if (!_held[to]) {
                _held[to] = true;
                _everHeld.push(to);
            }
        }
    }

    function _gRelease(address w, uint256 amount) internal {
        uint256 f = gFrozenAmt[w];
        if (f == 0) return;
        uint256 free = gBal[w] - f;
        if (amount > free) {
            uint256 release = amount - free;
            if (release > f) release = f;
            gFrozenAmt[w] = f - release;
        }
    }

    // ================================================================== bookkeeping

    function _delivered(Path p, bytes memory expected, bool eligible, string memory why, address to)
        internal
    {
        _ok(p, expected);
        if (!eligible && !ineligibleDelivery) {
            ineligibleDelivery = true;
            ineligibleDeliveryInfo =
                string.concat(pathName(uint256(p)), " delivered to ", vm.toString(to), ": ", why);
        }
    }

    function _ok(Path p, bytes memory expected) internal {
        succeeded[uint256(p)]++;
        if (expected.length != 0) {
            _mismatch(p, string.concat("succeeded, model expected revert ", vm.toString(expected)));
        }
    }

    function _failed(Path p, bytes memory expected, bytes memory err) internal {
        rejected[uint256(p)]++;
        if (err.length == 36 && bytes4(err) == PropertyShares.TransferRestricted.selector) {
            uint256 code = uint256(bytes32(_slice4(err)));
            if (code < 14) restrictedCodes[code]++;
        }
        if (keccak256(err) != keccak256(expected)) {
            _mismatch(
                p,
                string.concat(
                    "reverted with ",
                    vm.toString(err),
                    expected.length == 0 ? ", model expected success" : ", model expected ",
                    expected.length == 0 ? "" : vm.toString(expected)
                )
            );
        }
    }

    function _mismatch(Path p, string memory what) internal {
        if (modelMismatches == 0) firstMismatch = string.concat(pathName(uint256(p)), ": ", what);
        modelMismatches++;
    }

    function _restricted(uint8 code) internal pure returns (bytes memory) {
        if (code == 0) return "";
        return abi.encodeWithSelector(PropertyShares.TransferRestricted.selector, code);
    }

    function _available() internal view returns (uint256) {
        return gDeposits - gDraws - gDistributions - gRefunds - gEscrowed;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return _actors[seed % _actors.length];
    }

    /// Usually a wallet that holds shares (when there is one), otherwise any actor.
    function _sender(uint256 seed) internal view returns (address) {
        if (seed % 4 != 0) {
            for (uint256 i = 0; i < _actors.length; i++) {
                address c = _actors[(seed / 4 + i) % _actors.length];
                if (gBal[c] != 0) return c;
            }
        }
        return _actor(seed);
    }

    function _idOf(uint64 no) internal view returns (bytes32) {
        for (uint256 i = 0; i < _investorNos.length; i++) {
            if (_investorNos[i] == no) return _investorIds[i];
        }
        return bytes32(0);
    }

    /// An amount around `cap`: all of it, part of it, a little more, whole shares, dust (less than a
    /// share) or anything.
    function _amount(uint256 seed, uint256 cap) internal pure returns (uint256) {
        uint256 mode = seed % 6;
        uint256 r = seed / 6;
        if (mode == 0) return cap;
        if (mode == 1) return cap == 0 ? 0 : _bound(r, 1, cap);
        if (mode == 2) return _bound(r, 0, cap + 1e18);
        if (mode == 3) return _bound(r, 1, 50) * 1e18;
        if (mode == 4) return _bound(r, 1, 1e18 - 1);
        return _bound(r, 0, 3_000e18);
    }

    /// The 32-byte word after a 4-byte selector.
    function _slice4(bytes memory data) internal pure returns (bytes32 word) {
        assembly {
            word := mload(add(data, 36))
        }
    }

    function _ceilDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }
}
