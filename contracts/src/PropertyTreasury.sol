// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Distributor, ITreasuryDeposit} from "./Distributor.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";

/// @title PropertyTreasury
/// @notice Holds one property's settlement-token funds. Offering proceeds arrive here (held in escrow
/// per offering until that offering's soft cap is met, refunded from its escrow if it is not); the
/// operator deposits rent and other income, releases rehab draws to contractors against a budget
/// line and an invoice, and funds distributions through the property's own distributor. Every
/// movement emits an event, and the tracked balance always equals
/// deposits - draws - distributions funded - refunds.
///
/// The settlement token must deliver exact amounts: a deposit that arrives short (a fee-on-transfer
/// token) is refused, so the books never count money that is not here.
contract PropertyTreasury is AccessControlDefaultAdminRules, ReentrancyGuardTransient, ITreasuryDeposit {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice Role that sets budgets, releases draws and funds distributions (the operator).
    bytes32 public constant TREASURER_ROLE = keccak256("TREASURER_ROLE");
    /// @notice Role of the property's share offering(s).
    bytes32 public constant OFFERING_ROLE = keccak256("OFFERING_ROLE");

    /// @notice Where a deposit came from.
    uint8 public constant DEPOSIT_DIRECT = 0;
    /// @notice A deposit that is the price of shares bought in an offering.
    uint8 public constant DEPOSIT_OFFERING = 1;
    /// @notice A deposit that is a distribution's unclaimed remainder, swept back by the distributor.
    uint8 public constant DEPOSIT_UNCLAIMED = 2;

    /// @notice The settlement token (a USD stablecoin).
    IERC20 public immutable settlementToken;
    /// @notice The property (deed token id) this treasury belongs to.
    uint256 public immutable propertyId;
    /// @notice The property's distributor: the only one distributions are paid through.
    Distributor public immutable distributor;

    /// @notice A rehab budget line: planned amount and what has been drawn against it.
    struct BudgetLine {
        uint128 budget;
        uint128 drawn;
    }

    /// @notice Running totals, in settlement-token base units.
    struct Totals {
        uint256 deposits;
        uint256 draws;
        uint256 distributions;
        uint256 refunds;
        uint256 escrowed; // offering proceeds not yet released (soft cap not met), all offerings
    }

    // Deposits and escrow change together on every purchase: one slot.
    uint128 private _deposits;
    uint128 private _escrowed;
    uint128 private _draws;
    uint128 private _distributions;
    uint128 private _refunds;
    mapping(address offering => uint256) private _escrowOf;
    mapping(bytes32 line => BudgetLine) private _budget;
    uint256 private _drawCount;

    /// @notice Funds came in. For offering proceeds `from` is the investor and `ref` the offering;
    /// for a swept distribution `from` is the distributor and `ref` the distribution id.
    event Deposited(address indexed from, uint256 amount, uint8 indexed kind, bytes32 ref);
    /// @notice Escrowed offering proceeds became available (the soft cap was met).
    event EscrowReleased(address indexed offering, uint256 amount);
    /// @notice An investor was refunded by a failed offering.
    event Refunded(address indexed offering, address indexed investor, uint256 amount);
    /// @notice A rehab budget line was planned or re-planned.
    event BudgetLineSet(bytes32 indexed line, uint256 budget);
    /// @notice Funds were released to a contractor against a budget line and an invoice.
    event DrawReleased(
        uint256 indexed drawId,
        address indexed contractor,
        bytes32 indexed line,
        bytes32 invoiceHash,
        uint256 amount
    );
    /// @notice A distribution was funded.
    event DistributionFunded(
        address indexed distributor, uint256 indexed distributionId, uint256 amount, bytes32 ref
    );

    /// @notice An amount is zero.
    error ZeroAmount();
    /// @notice Not enough free (non-escrowed) funds.
    error InsufficientFunds(uint256 available, uint256 requested);
    /// @notice The draw exceeds what is left on the budget line.
    error OverBudget(bytes32 line, uint256 remaining, uint256 requested);
    /// @notice A budget cannot be set below what was already drawn.
    error BudgetBelowDrawn(bytes32 line, uint256 drawn);
    /// @notice The calling offering's escrow does not hold that much.
    error EscrowExceeded(uint256 escrowed, uint256 requested);
    /// @notice An address argument is zero.
    error ZeroAddress();
    /// @notice The settlement token delivered a different amount than was sent (a fee-on-transfer
    /// token): such a token is not supported.
    error InexactTransfer(uint256 expected, uint256 received);

    /// @param distributor_ The property's distributor (its `FUNDER_ROLE` goes to this treasury).
    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps).
    /// @param treasurer Who plans budgets, releases draws and funds distributions.
    constructor(
        IERC20 settlementToken_,
        uint256 propertyId_,
        Distributor distributor_,
        address admin,
        address treasurer
    ) AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin) {
        if (address(distributor_) == address(0)) revert ZeroAddress();
        settlementToken = settlementToken_;
        propertyId = propertyId_;
        distributor = distributor_;
        _grantRole(TREASURER_ROLE, treasurer);
    }

    /// @notice Pays `amount` into the treasury from the caller (rent, capital calls); the property's
    /// distributor returns unclaimed payouts this way.
    function deposit(uint256 amount, bytes32 ref) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _deposits += amount.toUint128();
        uint256 before = settlementToken.balanceOf(address(this));
        settlementToken.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = settlementToken.balanceOf(address(this)) - before;
        if (received != amount) revert InexactTransfer(amount, received);
        uint8 kind = msg.sender == address(distributor) ? DEPOSIT_UNCLAIMED : DEPOSIT_DIRECT;
        emit Deposited(msg.sender, amount, kind, ref);
    }

    /// @notice Records offering proceeds that the offering already moved here from `investor`
    /// (checking what arrived). `escrow` holds them for the calling offering until `releaseEscrow`
    /// (soft cap met) or `refund` (offering failed).
    function recordOfferingProceeds(address investor, uint256 amount, bool escrow)
        external
        onlyRole(OFFERING_ROLE)
    {
        if (amount == 0) revert ZeroAmount();
        uint128 a = amount.toUint128();
        _deposits += a;
        if (escrow) {
            _escrowed += a;
            _escrowOf[msg.sender] += amount;
        }
        emit Deposited(investor, amount, DEPOSIT_OFFERING, bytes32(uint256(uint160(msg.sender))));
    }

    /// @notice Makes the calling offering's escrowed proceeds available.
    function releaseEscrow(uint256 amount) external onlyRole(OFFERING_ROLE) {
        uint256 held = _escrowOf[msg.sender];
        if (amount > held) revert EscrowExceeded(held, amount);
        _escrowOf[msg.sender] = held - amount;
        _escrowed -= uint128(amount);
        emit EscrowReleased(msg.sender, amount);
    }

    /// @notice Returns escrowed proceeds of the calling (failed) offering to an investor.
    function refund(address investor, uint256 amount) external onlyRole(OFFERING_ROLE) nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 held = _escrowOf[msg.sender];
        if (amount > held) revert EscrowExceeded(held, amount);
        _escrowOf[msg.sender] = held - amount;
        _escrowed -= uint128(amount);
        _refunds += uint128(amount);
        settlementToken.safeTransfer(investor, amount);
        emit Refunded(msg.sender, investor, amount);
    }

    /// @notice Plans (or re-plans) a rehab budget line.
    function setBudgetLine(bytes32 line, uint256 budget) external onlyRole(TREASURER_ROLE) {
        BudgetLine storage b = _budget[line];
        if (budget < b.drawn) revert BudgetBelowDrawn(line, b.drawn);
        b.budget = budget.toUint128(); // a silent truncation would disagree with the event
        emit BudgetLineSet(line, budget);
    }

    /// @notice Pays a contractor against a budget line and an invoice; returns the draw id.
    function releaseDraw(address contractor, uint256 amount, bytes32 line, bytes32 invoiceHash)
        external
        onlyRole(TREASURER_ROLE)
        nonReentrant
        returns (uint256 drawId)
    {
        if (contractor == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        BudgetLine storage b = _budget[line];
        uint256 remaining = b.budget - b.drawn;
        if (amount > remaining) revert OverBudget(line, remaining, amount);
        _spend(amount);
        b.drawn += uint128(amount);
        _draws += uint128(amount);
        drawId = ++_drawCount;
        settlementToken.safeTransfer(contractor, amount);
        emit DrawReleased(drawId, contractor, line, invoiceHash, amount);
    }

    /// @notice Funds a distribution of `amount` to shareholders at a record date taken now, through
    /// the property's distributor.
    function fundDistribution(uint256 amount, uint64 claimDeadline, bytes32 ref)
        external
        onlyRole(TREASURER_ROLE)
        nonReentrant
        returns (uint256 distributionId)
    {
        if (amount == 0) revert ZeroAmount();
        _spend(amount);
        _distributions += uint128(amount);
        settlementToken.forceApprove(address(distributor), amount);
        distributionId = distributor.createDistribution(amount, claimDeadline, ref);
        emit DistributionFunded(address(distributor), distributionId, amount, ref);
    }

    function _spend(uint256 amount) private view {
        uint256 free = available();
        if (amount > free) revert InsufficientFunds(free, amount);
    }

    /// @notice Funds that may be spent: the tracked balance less escrowed offering proceeds.
    function available() public view returns (uint256) {
        return trackedBalance() - _escrowed;
    }

    /// @notice The balance the treasury accounts for: deposits - draws - distributions - refunds.
    function trackedBalance() public view returns (uint256) {
        return uint256(_deposits) - _draws - _distributions - _refunds;
    }

    /// @notice The running totals.
    function totals() external view returns (Totals memory) {
        return Totals(_deposits, _draws, _distributions, _refunds, _escrowed);
    }

    /// @notice What one offering holds in escrow here.
    function escrowOf(address offering) external view returns (uint256) {
        return _escrowOf[offering];
    }

    /// @notice A budget line.
    function budgetLine(bytes32 line) external view returns (BudgetLine memory) {
        return _budget[line];
    }

    /// @notice Number of draws released.
    function drawCount() external view returns (uint256) {
        return _drawCount;
    }

    /// @notice Also answers for `ITreasuryDeposit`, so a distributor returns unclaimed funds by `deposit`.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(ITreasuryDeposit).interfaceId || super.supportsInterface(interfaceId);
    }
}
