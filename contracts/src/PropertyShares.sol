// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IdentityRegistry} from "./IdentityRegistry.sol";
import {ShareCompliance} from "./ShareCompliance.sol";
import {ReasonCodes} from "./ReasonCodes.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";

/// @title PropertyShares
/// @notice The fractional-share token of one property (ERC-20, 18 decimals) with ERC-3643 controls
/// under their ERC-3643 names (`pause`/`unpause`, `setAddressFrozen`, `freezePartialTokens`,
/// `getFrozenTokens`, `forcedTransfer`, `recoveryAddress`). Every mint and every transfer is checked
/// against the identity registry and the property's compliance rules; the verdict is a stable
/// reason code (`canTransfer`, `canMint`). Checkpoints record balances at a record date for payouts.
///
/// Shares held by a wallet are attributed to the investor the wallet belonged to when it first
/// received them; caps and minimum holdings apply to investors, not wallets.
///
/// Shares sold by an offering below its soft cap are unsettled: the offering may still fail and
/// refund them. Until it settles (soft cap reached, or every buyer refunded) they cannot leave
/// their investor, by any path but the offering's refund; a recovery moves them between the
/// investor's own wallets. One offering at a time may hold unsettled shares.
///
/// The ERC-20 storage is written here rather than inherited so that a wallet's balance, investor
/// attribution, freeze flags and checkpoint marker share one storage slot: a compliant transfer then
/// touches one slot per wallet, as a plain ERC-20 does.
contract PropertyShares is IERC20Metadata, IERC20Errors, AccessControlDefaultAdminRules {
    using SafeCast for uint256;

    /// @notice Role that pauses, freezes, force-transfers, recovers and burns (the transfer agent).
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");
    /// @notice Role that issues new shares (the offering).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Role that creates balance checkpoints (the distributor).
    bytes32 public constant CHECKPOINT_ROLE = keccak256("CHECKPOINT_ROLE");

    /// @notice The shared investor registry.
    IdentityRegistry public immutable registry;
    /// @notice This token's compliance rules.
    ShareCompliance public immutable compliance;
    /// @notice The id of the property this token represents (the deed's token id).
    uint256 public immutable propertyId;

    /// @notice Per-wallet state, one storage slot.
    struct Holder {
        uint128 balance;
        uint64 investorNo; // investor the wallet's shares are attributed to
        uint32 lastCheckpoint; // latest checkpoint id whose balance has been recorded
        bool frozen; // whole address frozen
        bool hasFrozenTokens; // part of the balance is frozen (see `getFrozenTokens`)
    }

    /// @notice Token-wide state, one storage slot.
    struct State {
        uint128 totalSupply;
        bool paused;
        uint32 checkpointId; // latest checkpoint created (0 = none yet)
        uint32 supplyCheckpoint; // latest checkpoint id whose total supply has been recorded
        uint32 investorCount; // investors with a non-zero holding
        bool escrowOpen; // an offering holds unsettled shares (`escrowOffering`)
        uint16 escrowRound; // which escrow `Holding.unsettled` amounts belong to
    }

    /// @notice Per-investor state, one storage slot: the holding across the investor's wallets,
    /// the part of it that is unsettled (valid while `round` is the open escrow's round), and the
    /// country the investor was counted under when it started holding (see `countryInvestors`).
    struct Holding {
        uint128 balance;
        uint96 unsettled;
        uint16 round;
        uint16 country;
    }

    struct Recorded {
        uint32 id;
        uint224 value;
    }

    string private _name;
    string private _symbol;
    State private _state;
    mapping(address => Holder) private _holders;
    mapping(address => uint256) private _frozenAmount;
    mapping(address owner => mapping(address spender => uint256)) private _allowances;
    mapping(uint64 investorNo => Holding) private _investors;
    mapping(address => Recorded[]) private _balanceHistory;
    Recorded[] private _supplyHistory;
    mapping(uint32 id => uint64) private _checkpointTime;
    address private _escrowOffering;
    mapping(address lostWallet => address) private _recoveredTo;
    mapping(uint16 country => uint32) private _countryInvestors;

    /// @notice The token was paused (ERC-3643).
    event Paused(address account);
    /// @notice The token was unpaused (ERC-3643).
    event Unpaused(address account);
    /// @notice A whole address was frozen or unfrozen (ERC-3643).
    event AddressFrozen(address indexed wallet, bool indexed frozen, address indexed agent);
    /// @notice Part of a balance was frozen (`amount` added to the frozen amount).
    event TokensFrozen(address indexed wallet, uint256 amount);
    /// @notice Part of a frozen amount was released.
    event TokensUnfrozen(address indexed wallet, uint256 amount);
    /// @notice An agent moved shares without the holder's consent.
    event ForcedTransfer(address indexed from, address indexed to, uint256 amount, address indexed agent);
    /// @notice A lost wallet's shares and freezes were moved to a wallet of the same investor.
    event RecoverySuccess(address indexed lostWallet, address indexed newWallet, uint64 indexed investorNo);
    /// @notice New shares were issued.
    event Issued(address indexed to, uint64 indexed investorNo, uint256 amount);
    /// @notice Shares were burned (by an agent, or by the offering refunding them).
    event Redeemed(address indexed from, uint64 indexed investorNo, uint256 amount, address indexed agent);
    /// @notice A balance checkpoint (record date) was created.
    event CheckpointCreated(uint32 indexed checkpointId, uint64 timestamp);
    /// @notice An offering issued its first unsettled shares.
    event OfferingEscrowOpened(address indexed offering);
    /// @notice The offering's unsettled shares became ordinary shares (soft cap reached) or were all
    /// refunded.
    event OfferingEscrowClosed(address indexed offering);

    /// @notice The transfer or mint is not allowed; `code` is a `ReasonCodes` value.
    error TransferRestricted(uint8 code);
    /// @notice An amount to freeze or unfreeze is larger than allowed.
    error InvalidFreezeAmount(address wallet, uint256 amount);
    /// @notice The recovery target does not belong to the lost wallet's investor, holds another
    /// investor's shares, or was itself recovered.
    error InvalidRecovery(address lostWallet, address newWallet);
    /// @notice The checkpoint id does not exist yet.
    error UnknownCheckpoint(uint32 checkpointId);
    /// @notice Total supply is limited to 2**128 - 1 share units.
    error SupplyOverflow();
    /// @notice The token is already paused.
    error EnforcedPause();
    /// @notice The token is not paused.
    error ExpectedPause();
    /// @notice Another offering holds unsettled shares; this one must wait until it settles.
    error EscrowHeldByAnotherOffering(address offering);
    /// @notice Only the offering holding unsettled shares may do this.
    error NotEscrowOffering(address caller);
    /// @notice The investor holds fewer unsettled shares than the amount.
    error UnsettledExceeded(uint64 investorNo, uint256 unsettled, uint256 amount);
    /// @notice A batch was empty, too long, or its lists differ in length.
    error BadBatch(uint256 length);

    /// @notice Most wallets one `issueMany` may take: a full batch of new holders costs 7 to 12
    /// million gas (more with country restrictions and caps), under the 16,777,216 one
    /// transaction may use (EIP-7825).
    uint256 public constant MAX_ISSUE = 100;

    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps).
    /// @param agent The transfer agent (pause, freezes, forced transfers, recovery, burns).
    /// @param minter When not zero, receives `MINTER_ROLE` (the property's offering).
    /// @param checkpointer When not zero, receives `CHECKPOINT_ROLE` (the property's distributor).
    /// The `PropertyLauncher` passes the addresses its offering and distributor will be created at,
    /// since the admin role it would otherwise need to grant them stays with `admin`.
    constructor(
        string memory name_,
        string memory symbol_,
        uint256 propertyId_,
        IdentityRegistry registry_,
        ShareCompliance compliance_,
        address admin,
        address agent,
        address minter,
        address checkpointer
    ) AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin) {
        _name = name_;
        _symbol = symbol_;
        registry = registry_;
        compliance = compliance_;
        propertyId = propertyId_;
        compliance_.bindToken(registry_);
        _grantRole(AGENT_ROLE, agent);
        if (minter != address(0)) _grantRole(MINTER_ROLE, minter);
        if (checkpointer != address(0)) _grantRole(CHECKPOINT_ROLE, checkpointer);
    }

    // ---------------------------------------------------------------- compliance checks

    /// @notice The reason code for a transfer of `amount` from `from` to `to` (0 = allowed).
    function canTransfer(address from, address to, uint256 amount) external view returns (uint8 code) {
        (code,,,) = _checkTransfer(from, to, amount);
    }

    /// @notice The reason code for issuing `amount` new shares to `to` (0 = allowed).
    function canMint(address to, uint256 amount) external view returns (uint8 code) {
        (code,,) = _checkMint(to, amount);
    }

    /// @notice ERC-1404: same as `canTransfer`.
    function detectTransferRestriction(address from, address to, uint256 amount)
        external
        view
        returns (uint8 code)
    {
        (code,,,) = _checkTransfer(from, to, amount);
    }

    /// @notice ERC-1404: a short text for a reason code.
    function messageForTransferRestriction(uint8 code) external view returns (string memory) {
        return compliance.message(code);
    }

    // The order of the checks below is part of the contract with the API (REASON_CODES.md).

    /// The checks answer the code and, when it is 0, the recipient's investor and country, and
    /// whether a volume limit counts the transfer.
    function _checkTransfer(address from, address to, uint256 amount)
        private
        view
        returns (uint8, uint64, uint16, bool)
    {
        if (amount == 0) return (ReasonCodes.SUCCESS, 0, 0, false); // nothing moves
        State memory st = _state;
        if (st.paused) return (ReasonCodes.PAUSED, 0, 0, false);
        Holder memory sender = _holders[from];
        if (sender.frozen) return (ReasonCodes.SENDER_FROZEN, 0, 0, false);
        (bool senderInvestorFrozen, IdentityRegistry.WalletStatus memory r) =
            registry.transferStatus(sender.investorNo, from, to);
        if (senderInvestorFrozen) return (ReasonCodes.SENDER_FROZEN, 0, 0, false);
        uint8 code = _recipientCheck(to, r);
        if (code != 0) return (code, 0, 0, false);
        if (sender.balance < amount) return (ReasonCodes.INSUFFICIENT_BALANCE, 0, 0, false);
        if (sender.hasFrozenTokens && sender.balance - _frozenAmount[from] < amount) {
            return (ReasonCodes.INSUFFICIENT_UNFROZEN_BALANCE, 0, 0, false);
        }
        return _holdingCode(st, sender.investorNo, r, amount, false);
    }

    function _checkMint(address to, uint256 amount) private view returns (uint8, uint64, uint16) {
        State memory st = _state;
        if (st.paused) return (ReasonCodes.PAUSED, 0, 0);
        IdentityRegistry.WalletStatus memory r = registry.walletStatus(to);
        uint8 code = _recipientCheck(to, r);
        if (code != 0) return (code, 0, 0);
        Holding memory none;
        code = compliance.check(_facts(st, 0, none, r, amount, true, false));
        return (code, r.investorNo, r.country);
    }

    /// Recipient-side checks for forced transfers and recoveries: the agent may override the sender's
    /// restrictions (frozen, lock-up, minimum holding) but never deliver shares to an ineligible investor
    /// nor take unsettled offering shares away from their investor.
    function _checkForced(address from, address to, uint256 amount)
        private
        view
        returns (uint8, uint64, uint16, bool)
    {
        Holder memory sender = _holders[from];
        IdentityRegistry.WalletStatus memory r = registry.walletStatus(to);
        uint8 code = _recipientCheck(to, r);
        if (code != 0) return (code, 0, 0, false);
        if (sender.balance < amount) return (ReasonCodes.INSUFFICIENT_BALANCE, 0, 0, false);
        return _holdingCode(_state, sender.investorNo, r, amount, true);
    }

    function _recipientCheck(address to, IdentityRegistry.WalletStatus memory r)
        private
        view
        returns (uint8)
    {
        Holder memory recipient = _holders[to];
        if (recipient.frozen || r.frozen) return ReasonCodes.RECIPIENT_FROZEN;
        return _recipientCode(r, recipient);
    }

    /// The checks on the investors' holdings: unsettled offering shares stay with their investor,
    /// then the compliance rules. `forced` for an agent's transfer or a recovery.
    function _holdingCode(
        State memory st,
        uint64 senderNo,
        IdentityRegistry.WalletStatus memory r,
        uint256 amount,
        bool forced
    ) private view returns (uint8, uint64, uint16, bool) {
        Holding memory held = _investors[senderNo];
        if (r.investorNo != senderNo && _lockedOut(st, held, amount)) {
            return (ReasonCodes.OFFERING_UNSETTLED, 0, 0, false);
        }
        ShareCompliance.TransferFacts memory f = _facts(st, senderNo, held, r, amount, forced, true);
        if (forced) f.senderBalanceAfter = 0; // the sender-side minimum holding does not bind an agent
        (uint8 code, bool counted) = compliance.judge(f);
        return (code, r.investorNo, r.country, counted);
    }

    function _recipientCode(IdentityRegistry.WalletStatus memory r, Holder memory recipient)
        private
        pure
        returns (uint8)
    {
        if (!r.verified) return ReasonCodes.RECIPIENT_NOT_VERIFIED;
        // A wallet still holding shares attributed to another investor cannot receive more.
        if (recipient.balance != 0 && recipient.investorNo != r.investorNo) {
            return ReasonCodes.RECIPIENT_NOT_VERIFIED;
        }
        return ReasonCodes.SUCCESS;
    }

    /// Whether taking `amount` away from an investor would leave less than its unsettled shares.
    /// `held.balance` is at least `amount` wherever this is asked (a wallet's balance covers it).
    function _lockedOut(State memory st, Holding memory held, uint256 amount) private pure returns (bool) {
        return st.escrowOpen && held.round == st.escrowRound && held.balance - amount < held.unsettled;
    }

    function _facts(
        State memory st,
        uint64 senderNo,
        Holding memory held,
        IdentityRegistry.WalletStatus memory r,
        uint256 amount,
        bool lockupExempt,
        bool isTransfer
    ) private view returns (ShareCompliance.TransferFacts memory f) {
        bool same = isTransfer && senderNo == r.investorNo;
        uint256 senderHolding = held.balance;
        uint256 recipientBefore = same ? senderHolding : _investors[r.investorNo].balance;
        f.senderNo = senderNo;
        f.senderCountedIn = held.country;
        if (recipientBefore == 0) f.recipientCountryInvestors = _countryInvestors[r.country];
        f.isMint = !isTransfer;
        f.amount = amount;
        uint256 supply = st.totalSupply;
        f.supplyAfter =
            isTransfer ? supply : (amount > type(uint256).max - supply ? type(uint256).max : supply + amount);
        f.lockupExempt = lockupExempt;
        f.holderTransfer = isTransfer && !lockupExempt;
        f.sameInvestor = same;
        f.recipientCountry = r.country;
        f.recipientAccredited = r.accredited;
        f.recipientIsNewInvestor = recipientBefore == 0;
        f.investorCount = st.investorCount;
        if (same) {
            f.recipientBalanceAfter = recipientBefore;
            f.senderBalanceAfter = recipientBefore;
        } else {
            // Saturating: amounts beyond any real supply simply exceed every cap.
            f.recipientBalanceAfter =
                amount > type(uint256).max - recipientBefore ? type(uint256).max : recipientBefore + amount;
            if (isTransfer) {
                f.senderBalanceAfter = senderHolding - amount;
                f.senderExits = f.senderBalanceAfter == 0;
            }
        }
    }

    // ---------------------------------------------------------------- ERC-20

    /// @inheritdoc IERC20Metadata
    function name() external view returns (string memory) {
        return _name;
    }

    /// @inheritdoc IERC20Metadata
    function symbol() external view returns (string memory) {
        return _symbol;
    }

    /// @inheritdoc IERC20Metadata
    function decimals() external pure returns (uint8) {
        return 18;
    }

    /// @inheritdoc IERC20
    function totalSupply() public view returns (uint256) {
        return _state.totalSupply;
    }

    /// @inheritdoc IERC20
    function balanceOf(address account) public view returns (uint256) {
        return _holders[account].balance;
    }

    /// @inheritdoc IERC20
    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    /// @inheritdoc IERC20
    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ERC20InvalidSpender(address(0));
        _allowances[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @inheritdoc IERC20
    /// @dev A zero amount moves nothing and always succeeds, as ERC-20 requires.
    function transfer(address to, uint256 value) external returns (bool) {
        _transferChecked(msg.sender, to, value);
        return true;
    }

    /// @inheritdoc IERC20
    /// @dev The spender needs an allowance even for a zero amount, so nobody can log a transfer out
    /// of a wallet that never approved them.
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = _allowances[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value || allowed == 0) {
                revert ERC20InsufficientAllowance(msg.sender, allowed, value);
            }
            if (value != 0) _allowances[from][msg.sender] = allowed - value;
        }
        _transferChecked(from, to, value);
        return true;
    }

    function _transferChecked(address from, address to, uint256 value) private {
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        if (value == 0) {
            emit Transfer(from, to, 0);
            return;
        }
        (uint8 code, uint64 toNo, uint16 toCountry, bool counted) = _checkTransfer(from, to, value);
        if (code != 0) revert TransferRestricted(code);
        uint64 fromNo = _holders[from].investorNo;
        _move(from, to, value, toNo, toCountry);
        // The investor's own transfer to another investor, while a volume limit counts it.
        if (counted) compliance.transferred(fromNo, value);
    }

    // ---------------------------------------------------------------- issuance

    /// @notice Issues new (settled) shares to a verified, eligible investor wallet; returns the
    /// investor number the shares are attributed to.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) returns (uint64 investorNo) {
        investorNo = _mintChecked(to, amount);
    }

    /// @notice Issues shares sold by an offering below its soft cap: they stay with their investor
    /// until the offering calls `closeOfferingEscrow`, and only the offering's refund burns them.
    /// The first call opens the escrow for the calling offering; another offering must wait.
    function mintUnsettled(address to, uint256 amount)
        external
        onlyRole(MINTER_ROLE)
        returns (uint64 investorNo)
    {
        State memory st = _state;
        if (st.escrowOpen) {
            address holding = _escrowOffering;
            if (holding != msg.sender) revert EscrowHeldByAnotherOffering(holding);
        } else {
            st.escrowOpen = true;
            st.escrowRound += 1;
            _state = st;
            _escrowOffering = msg.sender;
            emit OfferingEscrowOpened(msg.sender);
        }
        investorNo = _mintChecked(to, amount);
        Holding storage held = _investors[investorNo];
        uint256 before = held.round == st.escrowRound ? held.unsettled : 0;
        held.unsettled = (before + amount).toUint96();
        held.round = st.escrowRound;
    }

    /// @notice Burns unsettled shares the offering refunds (frozen amounts are released as needed).
    function burnUnsettled(address from, uint256 amount) external {
        State memory st = _state;
        if (!st.escrowOpen || msg.sender != _escrowOffering) revert NotEscrowOffering(msg.sender);
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        uint64 no = _holders[from].investorNo;
        Holding storage held = _investors[no];
        uint256 unsettled = held.round == st.escrowRound ? held.unsettled : 0;
        if (amount > unsettled) revert UnsettledExceeded(no, unsettled, amount);
        held.unsettled = uint96(unsettled - amount);
        _releaseFrozenFor(from, amount);
        _move(from, address(0), amount, 0, 0);
        emit Redeemed(from, no, amount, msg.sender);
    }

    /// @notice Ends the calling offering's escrow: its remaining unsettled shares become ordinary
    /// shares (called when its soft cap is reached, or once every buyer is refunded).
    function closeOfferingEscrow() external {
        if (!_state.escrowOpen || msg.sender != _escrowOffering) revert NotEscrowOffering(msg.sender);
        _state.escrowOpen = false;
        delete _escrowOffering;
        emit OfferingEscrowClosed(msg.sender);
    }

    /// @notice Issues shares to many wallets at once (a migration from another register), each
    /// as `mint` would; an item compliance refuses is skipped, never the batch: `codes` has its
    /// reason code (0 = issued).
    function issueMany(address[] calldata to, uint256[] calldata amounts)
        external
        onlyRole(AGENT_ROLE)
        returns (uint8[] memory codes)
    {
        uint256 n = to.length;
        if (n == 0 || n > MAX_ISSUE || n != amounts.length) revert BadBatch(n);
        codes = new uint8[](n);
        for (uint256 i = 0; i < n; i++) {
            (uint8 code, uint64 no, uint16 country) = _checkMint(to[i], amounts[i]);
            codes[i] = code;
            if (code != 0) continue;
            _move(address(0), to[i], amounts[i], no, country);
            emit Issued(to[i], no, amounts[i]);
        }
    }

    function _mintChecked(address to, uint256 amount) private returns (uint64 investorNo) {
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        (uint8 code, uint64 no, uint16 country) = _checkMint(to, amount);
        if (code != 0) revert TransferRestricted(code);
        investorNo = no;
        _move(address(0), to, amount, investorNo, country);
        emit Issued(to, investorNo, amount);
    }

    // ---------------------------------------------------------------- agent actions

    /// @notice Burns shares (redemption at exit). Frozen amounts are released as needed; unsettled
    /// offering shares cannot be burned this way (the offering's refund does).
    function burn(address from, uint256 amount) external onlyRole(AGENT_ROLE) {
        // `_move` treats a zero `from` as a mint: burning "from" it would inflate the total supply.
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        Holder memory h = _holders[from];
        if (amount <= h.balance && _lockedOut(_state, _investors[h.investorNo], amount)) {
            revert TransferRestricted(ReasonCodes.OFFERING_UNSETTLED);
        }
        _releaseFrozenFor(from, amount);
        _move(from, address(0), amount, 0, 0);
        emit Redeemed(from, h.investorNo, amount, msg.sender);
    }

    /// @notice Moves shares on an agent's authority (court order, estate, error correction).
    /// The recipient must still be an eligible investor; lock-up and sender freezes are overridden.
    function forcedTransfer(address from, address to, uint256 amount)
        external
        onlyRole(AGENT_ROLE)
        returns (bool)
    {
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        (uint8 code, uint64 toNo, uint16 toCountry,) = _checkForced(from, to, amount);
        if (code != 0) revert TransferRestricted(code);
        _releaseFrozenFor(from, amount);
        _move(from, to, amount, toNo, toCountry);
        emit ForcedTransfer(from, to, amount, msg.sender);
        return true;
    }

    /// @notice Moves everything a lost wallet holds, with its freezes, to a wallet registered to the
    /// same investor, which may already hold shares of that investor. The lost wallet stays frozen,
    /// and payouts of its earlier record dates go to the new wallet (`successorOf`).
    function recoverWallet(address lostWallet, address newWallet) external onlyRole(AGENT_ROLE) {
        _recover(lostWallet, newWallet);
    }

    /// @notice ERC-3643 name of `recoverWallet`. The identity registry decides which investor a
    /// wallet belongs to, so the third argument (an ONCHAINID in T-REX) is not used.
    function recoveryAddress(address lostWallet, address newWallet, address)
        external
        onlyRole(AGENT_ROLE)
        returns (bool)
    {
        _recover(lostWallet, newWallet);
        return true;
    }

    function _recover(address lostWallet, address newWallet) private {
        Holder memory lost = _holders[lostWallet];
        Holder memory target = _holders[newWallet];
        IdentityRegistry.WalletStatus memory r = registry.walletStatus(newWallet);
        if (
            lost.balance == 0 || newWallet == lostWallet || r.investorNo != lost.investorNo
                || (target.balance != 0 && target.investorNo != lost.investorNo)
                || _recoveredTo[newWallet] != address(0)
        ) revert InvalidRecovery(lostWallet, newWallet);
        (uint8 code, uint64 toNo, uint16 toCountry,) = _checkForced(lostWallet, newWallet, lost.balance);
        if (code != 0) revert TransferRestricted(code);
        uint256 frozenAmount = _frozenAmount[lostWallet];
        _move(lostWallet, newWallet, lost.balance, toNo, toCountry);
        Holder storage moved = _holders[newWallet];
        if (lost.frozen && !moved.frozen) {
            moved.frozen = true;
            emit AddressFrozen(newWallet, true, msg.sender);
        }
        if (frozenAmount != 0) {
            // The freeze moves with the shares; both sides are announced so indexers can follow it.
            _frozenAmount[newWallet] += frozenAmount;
            moved.hasFrozenTokens = true;
            delete _frozenAmount[lostWallet];
            emit TokensUnfrozen(lostWallet, frozenAmount);
            emit TokensFrozen(newWallet, frozenAmount);
        }
        Holder storage old = _holders[lostWallet];
        old.hasFrozenTokens = false;
        old.frozen = true; // the lost key must never move shares again
        // The first recovery decides where the lost wallet's payouts go; recovery targets are never
        // lost wallets, so following these links always ends.
        if (_recoveredTo[lostWallet] == address(0)) _recoveredTo[lostWallet] = newWallet;
        emit AddressFrozen(lostWallet, true, msg.sender);
        emit RecoverySuccess(lostWallet, newWallet, toNo);
    }

    /// @notice Pauses all transfers and mints (ERC-3643).
    function pause() external onlyRole(AGENT_ROLE) {
        if (_state.paused) revert EnforcedPause();
        _state.paused = true;
        emit Paused(msg.sender);
    }

    /// @notice Lifts a pause (ERC-3643).
    function unpause() external onlyRole(AGENT_ROLE) {
        if (!_state.paused) revert ExpectedPause();
        _state.paused = false;
        emit Unpaused(msg.sender);
    }

    /// @notice Freezes or unfreezes a whole address.
    function setAddressFrozen(address wallet, bool frozen_) external onlyRole(AGENT_ROLE) {
        _holders[wallet].frozen = frozen_;
        emit AddressFrozen(wallet, frozen_, msg.sender);
    }

    /// @notice Freezes `amount` more of a wallet's balance.
    function freezePartialTokens(address wallet, uint256 amount) external onlyRole(AGENT_ROLE) {
        Holder storage h = _holders[wallet];
        uint256 newFrozen = _frozenAmount[wallet] + amount;
        if (amount == 0 || newFrozen > h.balance) revert InvalidFreezeAmount(wallet, amount);
        _frozenAmount[wallet] = newFrozen;
        h.hasFrozenTokens = true;
        emit TokensFrozen(wallet, amount);
    }

    /// @notice Releases `amount` of a wallet's frozen balance.
    function unfreezePartialTokens(address wallet, uint256 amount) external onlyRole(AGENT_ROLE) {
        uint256 frozenAmount = _frozenAmount[wallet];
        if (amount == 0 || amount > frozenAmount) revert InvalidFreezeAmount(wallet, amount);
        _setFrozenAmount(wallet, frozenAmount - amount);
        emit TokensUnfrozen(wallet, amount);
    }

    function _releaseFrozenFor(address wallet, uint256 amount) private {
        uint256 frozenAmount = _frozenAmount[wallet];
        if (frozenAmount == 0) return;
        uint256 balance = _holders[wallet].balance;
        uint256 free = balance - frozenAmount;
        if (amount > free) {
            uint256 release = amount - free;
            if (release > frozenAmount) release = frozenAmount;
            _setFrozenAmount(wallet, frozenAmount - release);
            emit TokensUnfrozen(wallet, release);
        }
    }

    function _setFrozenAmount(address wallet, uint256 amount) private {
        _frozenAmount[wallet] = amount;
        if (amount == 0) _holders[wallet].hasFrozenTokens = false;
    }

    // ---------------------------------------------------------------- checkpoints

    /// @notice Creates a balance checkpoint at the current block (a record date) and returns its id.
    function createCheckpoint() external onlyRole(CHECKPOINT_ROLE) returns (uint32 id) {
        id = ++_state.checkpointId;
        _checkpointTime[id] = uint64(block.timestamp);
        emit CheckpointCreated(id, uint64(block.timestamp));
    }

    /// @notice The latest checkpoint id (0 = none).
    function currentCheckpoint() external view returns (uint32) {
        return _state.checkpointId;
    }

    /// @notice When a checkpoint was taken.
    function checkpointTime(uint32 id) external view returns (uint64) {
        return _checkpointTime[id];
    }

    /// @notice A wallet's balance at a checkpoint.
    function balanceOfAt(address account, uint32 id) external view returns (uint256) {
        (bool found, uint256 value) = _valueAt(_balanceHistory[account], id);
        return found ? value : balanceOf(account);
    }

    /// @notice The total supply at a checkpoint.
    function totalSupplyAt(uint32 id) external view returns (uint256) {
        (bool found, uint256 value) = _valueAt(_supplyHistory, id);
        return found ? value : totalSupply();
    }

    // A value is recorded (with the then-latest checkpoint id) just before it first changes after a
    // checkpoint, so the value at checkpoint `id` is the first record with an id >= `id`, or the
    // current value when nothing changed since.
    function _valueAt(Recorded[] storage history, uint32 id) private view returns (bool, uint256) {
        if (id == 0 || id > _state.checkpointId) revert UnknownCheckpoint(id);
        uint256 lo = 0;
        uint256 hi = history.length;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (history[mid].id < id) lo = mid + 1;
            else hi = mid;
        }
        if (lo == history.length) return (false, 0);
        return (true, history[lo].value);
    }

    // ---------------------------------------------------------------- views

    /// @notice Shares held by all wallets of an investor (by registry investor number).
    function investorBalance(uint64 investorNo) external view returns (uint256) {
        return _investors[investorNo].balance;
    }

    /// @notice The part of an investor's holding bought from the offering in escrow (0 when none).
    function unsettledOf(uint64 investorNo) external view returns (uint256) {
        State memory st = _state;
        Holding memory held = _investors[investorNo];
        return st.escrowOpen && held.round == st.escrowRound ? held.unsettled : 0;
    }

    /// @notice The offering whose unsettled shares are outstanding, or zero.
    function escrowOffering() external view returns (address) {
        return _state.escrowOpen ? _escrowOffering : address(0);
    }

    /// @notice Investors holding shares now whose registry country was `country` when they started
    /// holding (the count the compliance's country caps judge).
    function countryInvestors(uint16 country) external view returns (uint32) {
        return _countryInvestors[country];
    }

    /// @notice Number of investors with a non-zero holding.
    function investorCount() external view returns (uint32) {
        return _state.investorCount;
    }

    /// @notice Whether transfers and mints are paused.
    function paused() external view returns (bool) {
        return _state.paused;
    }

    /// @notice A wallet's packed state: balance, investor attribution and freeze flags.
    function holder(address wallet) external view returns (Holder memory) {
        return _holders[wallet];
    }

    /// @notice Frozen part of a wallet's balance (ERC-3643).
    function getFrozenTokens(address wallet) external view returns (uint256) {
        return _frozenAmount[wallet];
    }

    /// @notice Whether a whole address is frozen on this token.
    function isFrozen(address wallet) external view returns (bool) {
        return _holders[wallet].frozen;
    }

    /// @notice Whether money owed to a wallet (payouts, refunds) must wait: the wallet is frozen on
    /// this token, or the investor its shares are attributed to, or the investor it belongs to now,
    /// is frozen in the registry.
    function isHolderFrozen(address wallet) external view returns (bool) {
        Holder memory h = _holders[wallet];
        if (h.frozen) return true;
        (bool frozen,) = registry.transferStatus(h.investorNo, wallet, wallet);
        return frozen;
    }

    /// @notice Where what `wallet` held now is: the wallet itself, or, after a recovery, the wallet it
    /// was recovered to (following later recoveries of that wallet in turn).
    function successorOf(address wallet) external view returns (address current) {
        current = wallet;
        address next = _recoveredTo[current];
        while (next != address(0)) {
            current = next;
            next = _recoveredTo[current];
        }
    }

    // ---------------------------------------------------------------- balance movement

    /// Every balance change goes through here: checkpoints, investor attribution and counts.
    /// `toNo` is the investor the recipient was verified as by one of the checks above, and
    /// `toCountry` its country then (the count it joins if it starts holding).
    function _move(address from, address to, uint256 value, uint64 toNo, uint16 toCountry) private {
        State memory s = _state;
        bool stateChanged;
        if (from == address(0) || to == address(0)) {
            if (s.supplyCheckpoint < s.checkpointId) {
                _supplyHistory.push(Recorded(s.checkpointId, s.totalSupply));
                s.supplyCheckpoint = s.checkpointId;
            }
            if (from == address(0)) {
                uint256 supply = uint256(s.totalSupply) + value;
                if (supply > type(uint128).max) revert SupplyOverflow();
                s.totalSupply = uint128(supply);
            } else {
                // More than the whole supply is more than the balance: fail as the balance check below
                // would, not with an arithmetic panic (or a uint128 truncation).
                if (value > s.totalSupply) {
                    revert ERC20InsufficientBalance(from, _holders[from].balance, value);
                }
                s.totalSupply -= uint128(value);
            }
            stateChanged = true;
        }
        if (from != address(0)) {
            Holder storage h = _holders[from];
            uint128 balance = h.balance;
            if (balance < value) revert ERC20InsufficientBalance(from, balance, value);
            if (h.lastCheckpoint < s.checkpointId) {
                _balanceHistory[from].push(Recorded(s.checkpointId, balance));
                h.lastCheckpoint = s.checkpointId;
            }
            h.balance = balance - uint128(value);
            Holding storage held = _investors[h.investorNo];
            uint128 before = held.balance;
            held.balance = before - uint128(value);
            if (value != 0 && before == value) {
                s.investorCount -= 1;
                stateChanged = true;
                _countryInvestors[held.country] -= 1;
            }
        }
        if (to != address(0)) {
            // Invariant: shares only reach a wallet whose investor passed a compliance check.
            assert(toNo != 0);
            Holder storage h = _holders[to];
            uint128 balance = h.balance;
            if (h.lastCheckpoint < s.checkpointId) {
                _balanceHistory[to].push(Recorded(s.checkpointId, balance));
                h.lastCheckpoint = s.checkpointId;
            }
            if (balance == 0) h.investorNo = toNo;
            h.balance = balance + uint128(value); // bounded by the total supply check above
            Holding storage held = _investors[toNo];
            uint128 before = held.balance;
            held.balance = before + uint128(value);
            if (value != 0 && before == 0) {
                s.investorCount += 1;
                stateChanged = true;
                held.country = toCountry;
                _countryInvestors[toCountry] += 1;
            }
        }
        if (stateChanged) _state = s;
        emit Transfer(from, to, value);
    }

    /// @inheritdoc AccessControlDefaultAdminRules
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC20).interfaceId || super.supportsInterface(interfaceId);
    }
}
