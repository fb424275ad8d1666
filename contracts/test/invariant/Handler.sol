// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IdentityRegistry} from "../../src/IdentityRegistry.sol";
import {ShareCompliance} from "../../src/ShareCompliance.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {ShareOffering} from "../../src/ShareOffering.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {Distributor} from "../../src/Distributor.sol";
import {TestStablecoin} from "../../src/TestStablecoin.sol";

/// The invariant-test handler: every public non-view function is one fuzzable action on the suite.
///
/// Each action picks its actors from a fixed set of wallets (alice and alice2 belong to one investor,
/// bob, carol and dave to one each, mallory to nobody until a registry action links it), bounds its
/// inputs, and runs the call under `try`, so the handler itself never reverts. Before the call it asks
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
    ShareOffering public immutable offering;
    PropertyTreasury public immutable treasury;
    Distributor public immutable distributor;
    TestStablecoin public immutable usd;
    address public immutable admin;
    address public immutable agent;
    address public immutable contractor;

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
    uint256[13] public restrictedCodes;

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
    // offering
    ShareOffering.Terms internal terms;
    ShareOffering.Status public gStatus;
    uint256 public gSold;
    uint256 public gRaised;
    bool public gReleased;
    mapping(uint64 => uint256) internal gBought;
    mapping(address => uint256) internal gPurShares;
    mapping(address => uint256) internal gPurPaid;
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
    mapping(uint256 id => mapping(address => bool)) internal gClaimed;

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
        ShareOffering offering;
        PropertyTreasury treasury;
        Distributor distributor;
        TestStablecoin usd;
        address admin;
        address agent;
        address contractor;
    }

    constructor(Suite memory s, address[] memory actors_, bytes32[] memory investorIds_) {
        registry = s.registry;
        compliance = s.compliance;
        shares = s.shares;
        offering = s.offering;
        treasury = s.treasury;
        distributor = s.distributor;
        usd = s.usd;
        admin = s.admin;
        agent = s.agent;
        contractor = s.contractor;
        gNow = block.timestamp;
        terms = offering.terms();
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
        require(shares.totalSupply() == 0 && offering.sharesSold() == 0, "fresh suite expected");
    }

    // ------------------------------------------------------------------ set-up helpers (not fuzzed)

    /// Funds every actor with stablecoins and approves the offering and the treasury.
    function fundActors(uint256 amount) external {
        for (uint256 i = 0; i < _actors.length; i++) {
            vm.prank(admin);
            usd.mint(_actors[i], amount);
            vm.startPrank(_actors[i]);
            usd.approve(address(offering), type(uint256).max);
            usd.approve(address(treasury), type(uint256).max);
            vm.stopPrank();
        }
    }

    /// A purchase through the modelled path (used to start from a state with holders).
    function seedBuy(uint256 actorIndex, uint256 shareAmount) external timed {
        _buy(_actors[actorIndex], shareAmount);
    }

    /// The fuzzed actions.
    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](29);
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
            _delivered(Path.Transfer, expected, eligible, why, to);
            _gMove(from, to, amount, gWalletNo[to]);
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
        if (allowed != type(uint256).max && allowed < amount) {
            expected = abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, spender, allowed, amount
            );
        } else {
            expected = _restricted(_transferCode(from, to, amount));
        }
        (bool eligible, string memory why) = _eligible(to, gAttr[from], amount, true);
        vm.prank(spender);
        try shares.transferFrom(from, to, amount) {
            _delivered(Path.TransferFrom, expected, eligible, why, to);
            if (allowed != type(uint256).max) gAllow[from][spender] = allowed - amount;
            _gMove(from, to, amount, gWalletNo[to]);
        } catch (bytes memory err) {
            _failed(Path.TransferFrom, expected, err);
        }
    }

    /// Admin issuance outside the offering.
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

    function setPaused(uint256 seed) external timed {
        bool p = seed % 4 == 0;
        vm.prank(agent);
        try shares.setPaused(p) {
            _ok(Path.SetPaused, "");
            gPaused = p;
        } catch (bytes memory err) {
            _failed(Path.SetPaused, "", err);
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
        try shares.forcedTransfer(from, to, amount) {
            _delivered(Path.ForcedTransfer, expected, eligible, why, to);
            _gRelease(from, amount);
            _gMove(from, to, amount, gWalletNo[to]);
        } catch (bytes memory err) {
            _failed(Path.ForcedTransfer, expected, err);
        }
    }

    function recoverWallet(uint256 lostSeed, uint256 newSeed) external timed {
        address lost = _sender(lostSeed);
        address fresh = _actor(newSeed);
        if (newSeed % 3 != 0) {
            // Usually aim at a plausible target: another empty wallet registered to the same investor.
            for (uint256 i = 0; i < _actors.length; i++) {
                address w = _actors[(newSeed / 3 + i) % _actors.length];
                if (w != lost && gBal[w] == 0 && gWalletNo[w] != 0 && gWalletNo[w] == gAttr[lost]) {
                    fresh = w;
                    break;
                }
            }
        }
        uint256 bal = gBal[lost];
        bytes memory expected;
        if (bal == 0 || fresh == lost || gWalletNo[fresh] != gAttr[lost] || gBal[fresh] != 0) {
            expected = abi.encodeWithSelector(PropertyShares.InvalidRecovery.selector, lost, fresh);
        } else {
            expected = _restricted(_forcedCode(lost, fresh, bal));
        }
        (bool eligible, string memory why) = _eligible(fresh, gAttr[lost], bal, true);
        vm.prank(agent);
        try shares.recoverWallet(lost, fresh) {
            _delivered(Path.Recovery, expected, eligible, why, fresh);
            uint256 frozenAmount = gFrozenAmt[lost];
            _gMove(lost, fresh, bal, gWalletNo[fresh]);
            gWalletFrozen[fresh] = gWalletFrozen[fresh] || gWalletFrozen[lost];
            if (frozenAmount != 0) {
                gFrozenAmt[fresh] = frozenAmount;
                gFrozenAmt[lost] = 0;
            }
            gWalletFrozen[lost] = true;
        } catch (bytes memory err) {
            _failed(Path.Recovery, expected, err);
        }
    }

    function burn(uint256 fromSeed, uint256 amountSeed) external timed {
        address from = _actor(fromSeed);
        uint256 amount = _amount(amountSeed, gBal[from]);
        bytes memory expected = amount > gBal[from]
            ? abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, from, gBal[from], amount)
            : bytes("");
        vm.prank(agent);
        try shares.burn(from, amount) {
            _ok(Path.Burn, expected);
            _gRelease(from, amount);
            _gMove(from, address(0), amount, 0);
        } catch (bytes memory err) {
            _failed(Path.Burn, expected, err);
        }
    }

    // ================================================================== offering

    function buy(uint256 buyerSeed, uint256 amountSeed) external timed {
        address buyer = _actor(buyerSeed);
        uint256 amount;
        uint256 mode = amountSeed % 4;
        if (mode == 0) amount = _bound(amountSeed / 4, 0, 2e18); // around the minimum purchase
        else if (mode == 1) amount = _bound(amountSeed / 4, 1, 1_500) * 1e18;
        else amount = _bound(amountSeed / 4, 0, 3_000e18);
        _buy(buyer, amount);
    }

    function _buy(address buyer, uint256 amount) internal {
        bytes memory expected;
        uint64 no = gWalletNo[buyer];
        if (
            gStatus != ShareOffering.Status.Open || block.timestamp < terms.start
                || block.timestamp >= terms.end
        ) {
            expected = abi.encodeWithSelector(ShareOffering.OfferingClosed.selector);
        } else if (amount < terms.minPurchase || amount == 0) {
            expected = abi.encodeWithSelector(
                ShareOffering.BelowMinimumPurchase.selector, terms.minPurchase, amount
            );
        } else if (amount > terms.sharesForSale - gSold) {
            expected =
                abi.encodeWithSelector(ShareOffering.SoldOut.selector, terms.sharesForSale - gSold, amount);
        } else {
            uint8 code = _mintCode(buyer, amount);
            if (code != 0) {
                expected = _restricted(code);
            } else if (terms.maxPerInvestor != 0 && amount > terms.maxPerInvestor - gBought[no]) {
                expected = abi.encodeWithSelector(
                    ShareOffering.AboveInvestorLimit.selector, terms.maxPerInvestor - gBought[no], amount
                );
            }
        }
        (bool eligible, string memory why) = _eligible(buyer, 0, amount, false);
        uint256 cost = _ceilDiv(amount * terms.pricePerShare, 1e18);
        uint256 usdBefore = usd.balanceOf(buyer);
        vm.prank(buyer);
        try offering.buy(amount) returns (uint256 paid) {
            _delivered(Path.Buy, expected, eligible, why, buyer);
            if (paid != cost || usdBefore - usd.balanceOf(buyer) != cost) {
                _mismatch(Path.Buy, "price differs from the quote");
            }
            gSold += amount;
            uint256 raisedNow = gRaised + cost;
            gRaised = raisedNow;
            gPurShares[buyer] += amount;
            gPurPaid[buyer] += cost;
            gBought[no] += amount;
            gDeposits += cost;
            if (!gReleased) {
                gEscrowed += cost;
                if (raisedNow >= terms.softCap) {
                    gReleased = true;
                    gEscrowed -= raisedNow;
                }
            }
            _gMove(address(0), buyer, amount, no);
        } catch (bytes memory err) {
            _failed(Path.Buy, expected, err);
        }
    }

    /// Finalizes; a quarter of the time only after waiting for the sale window to close.
    function finalize(uint256 callerSeed) external timed {
        if (callerSeed % 4 == 0 && gNow < terms.end) {
            gNow = terms.end;
            vm.warp(gNow);
        }
        bytes memory expected;
        if (gStatus != ShareOffering.Status.Open) {
            expected = abi.encodeWithSelector(ShareOffering.WrongStatus.selector, gStatus);
        } else if (block.timestamp < terms.end && gSold < terms.sharesForSale) {
            expected = abi.encodeWithSelector(ShareOffering.StillOpen.selector);
        }
        vm.prank(_actor(callerSeed));
        try offering.finalize() returns (ShareOffering.Status s) {
            _ok(Path.Finalize, expected);
            gStatus = gReleased ? ShareOffering.Status.Succeeded : ShareOffering.Status.Failed;
            if (s != gStatus) _mismatch(Path.Finalize, "unexpected final status");
        } catch (bytes memory err) {
            _failed(Path.Finalize, expected, err);
        }
    }

    /// The operator cancels; half the time an actor without the role tries instead.
    function cancel(uint256 callerSeed) external timed {
        address caller = callerSeed % 2 == 0 ? admin : _actor(callerSeed / 2);
        bytes memory expected;
        if (caller != admin) {
            expected = abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, caller, offering.OPERATOR_ROLE()
            );
        } else if (gStatus != ShareOffering.Status.Open || gReleased) {
            expected = abi.encodeWithSelector(ShareOffering.WrongStatus.selector, gStatus);
        }
        vm.prank(caller);
        try offering.cancel() {
            _ok(Path.Cancel, expected);
            gStatus = ShareOffering.Status.Failed;
        } catch (bytes memory err) {
            _failed(Path.Cancel, expected, err);
        }
    }

    function refund(uint256 callerSeed, uint256 buyerSeed) external timed {
        address buyer = _actor(buyerSeed);
        uint256 paid = gPurPaid[buyer];
        uint256 bought = gPurShares[buyer];
        bytes memory expected;
        if (gStatus != ShareOffering.Status.Failed) {
            expected = abi.encodeWithSelector(ShareOffering.WrongStatus.selector, gStatus);
        } else if (paid == 0) {
            expected = abi.encodeWithSelector(ShareOffering.NothingToRefund.selector, buyer);
        } else if (gBal[buyer] < bought) {
            expected = abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, buyer, gBal[buyer], bought
            );
        } else if (paid > gEscrowed) {
            expected = abi.encodeWithSelector(PropertyTreasury.EscrowExceeded.selector, gEscrowed, paid);
        }
        uint256 usdBefore = usd.balanceOf(buyer);
        vm.prank(_actor(callerSeed));
        try offering.refund(buyer) returns (uint256 amount) {
            _ok(Path.Refund, expected);
            if (amount != paid || usd.balanceOf(buyer) - usdBefore != paid) {
                _mismatch(Path.Refund, "refund amount differs from what was paid");
            }
            gPurPaid[buyer] = 0;
            gPurShares[buyer] = 0;
            gRefunds += paid;
            gEscrowed -= paid;
            _gRelease(buyer, bought);
            _gMove(buyer, address(0), bought, 0);
        } catch (bytes memory err) {
            _failed(Path.Refund, expected, err);
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
        vm.prank(admin);
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
        vm.prank(admin);
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
        vm.prank(admin);
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
        vm.prank(admin);
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
        vm.prank(admin);
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
            r.maxInvestors = uint32(valueSeed % 6);
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
        vm.prank(admin);
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
        vm.prank(from);
        try treasury.deposit(amount, bytes32("rent")) {
            _ok(Path.Deposit, expected);
            gDeposits += amount;
        } catch (bytes memory err) {
            _failed(Path.Deposit, expected, err);
        }
    }

    function setBudgetLine(uint256 lineSeed, uint256 budgetSeed) external timed {
        bytes32 line = LINES[lineSeed % 3];
        uint256 budget = _bound(budgetSeed, 0, 100_000e6);
        bytes memory expected = budget < gDrawn[line]
            ? abi.encodeWithSelector(PropertyTreasury.BudgetBelowDrawn.selector, line, gDrawn[line])
            : bytes("");
        vm.prank(admin);
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
        vm.prank(admin);
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
        }
        vm.prank(admin);
        try treasury.fundDistribution(distributor, amount, deadline, bytes32("payout")) returns (uint256 id) {
            _ok(Path.FundDistribution, expected);
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

    function _claim(Path path, uint256 idSeed, address caller, address holder) internal {
        uint256 id = idSeed % (gDists.length + 1);
        bytes memory expected;
        uint256 ent;
        if (id >= gDists.length) {
            expected = abi.encodeWithSelector(Distributor.UnknownDistribution.selector, id);
        } else {
            GDist storage d = gDists[id];
            ent = ghostEntitlement(id, holder);
            if (d.swept || block.timestamp > d.deadline) {
                expected = abi.encodeWithSelector(Distributor.ClaimClosed.selector, id);
            } else if (gClaimed[id][holder]) {
                expected = abi.encodeWithSelector(Distributor.AlreadyClaimed.selector, id, holder);
            } else if (ent == 0) {
                expected = abi.encodeWithSelector(Distributor.NothingToClaim.selector, id, holder);
            }
        }
        uint256 before = usd.balanceOf(holder);
        bytes memory data = path == Path.Claim
            ? abi.encodeCall(Distributor.claim, (id))
            : abi.encodeCall(Distributor.claimFor, (id, holder));
        vm.prank(caller);
        (bool success, bytes memory ret) = address(distributor).call(data);
        if (success) {
            _ok(path, expected);
            uint256 amount = abi.decode(ret, (uint256));
            uint256 received = usd.balanceOf(holder) - before;
            if (amount != ent || received != ent) _mismatch(path, "claim paid a different amount");
            gReceived[id][holder] += received;
            gClaimed[id][holder] = true;
            gDists[id].claimed += received;
        } else {
            _failed(path, expected, ret);
        }
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

    // ================================================================== reference model

    /// Reason code of `transfer`/`transferFrom`, in the order of REASON_CODES.md.
    function _transferCode(address from, address to, uint256 amount) internal view returns (uint8) {
        if (gPaused) return 1;
        uint64 senderNo = gAttr[from];
        if (gWalletFrozen[from] || gInv[senderNo].frozen) return 2;
        uint8 c = _recipientCode(to);
        if (c != 0) return c;
        if (gBal[from] < amount) return 5;
        if (gBal[from] - gFrozenAmt[from] < amount) return 6;
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
    /// minimum holding are overridden; the recipient is checked in full.
    function _forcedCode(address from, address to, uint256 amount) internal view returns (uint8) {
        uint8 c = _recipientCode(to);
        if (c != 0) return c;
        if (gBal[from] < amount) return 5;
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
            if (code < 13) restrictedCodes[code]++;
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

    /// An amount around `cap`: all of it, part of it, a little more, whole shares or anything.
    function _amount(uint256 seed, uint256 cap) internal pure returns (uint256) {
        uint256 mode = seed % 5;
        uint256 r = seed / 5;
        if (mode == 0) return cap;
        if (mode == 1) return cap == 0 ? 0 : _bound(r, 1, cap);
        if (mode == 2) return _bound(r, 0, cap + 1e18);
        if (mode == 3) return _bound(r, 1, 50) * 1e18;
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
