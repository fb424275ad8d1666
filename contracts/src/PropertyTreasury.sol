// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Distributor} from "./Distributor.sol";

/// @title PropertyTreasury
/// @notice Holds one property's settlement-token funds. Offering proceeds arrive here (held in escrow
/// until the offering's soft cap is met, refunded from here if it is not); the operator deposits
/// rent and other income, releases rehab draws to contractors against a budget line and an invoice,
/// and funds distributions. Every movement emits an event, and the tracked balance always equals
/// deposits - draws - distributions funded - refunds.
contract PropertyTreasury is AccessControl {
    using SafeERC20 for IERC20;

    /// @notice Role that sets budgets, releases draws and funds distributions (the operator).
    bytes32 public constant TREASURER_ROLE = keccak256("TREASURER_ROLE");
    /// @notice Role of the property's share offering(s).
    bytes32 public constant OFFERING_ROLE = keccak256("OFFERING_ROLE");

    /// @notice Where a deposit came from.
    uint8 public constant DEPOSIT_DIRECT = 0;
    /// @notice A deposit that is the price of shares bought in an offering.
    uint8 public constant DEPOSIT_OFFERING = 1;

    /// @notice The settlement token (a USD stablecoin).
    IERC20 public immutable settlementToken;
    /// @notice The property (deed token id) this treasury belongs to.
    uint256 public immutable propertyId;

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
        uint256 escrowed; // offering proceeds not yet released (soft cap not met)
    }

    Totals private _totals;
    mapping(bytes32 line => BudgetLine) private _budget;
    uint256 private _drawCount;

    /// @notice Funds came in. For offering proceeds `from` is the investor and `ref` the offering.
    event Deposited(address indexed from, uint256 amount, uint8 indexed kind, bytes32 ref);
    /// @notice Escrowed offering proceeds became available (the soft cap was met).
    event EscrowReleased(address indexed offering, uint256 amount);
    /// @notice An investor was refunded by a failed offering.
    event Refunded(address indexed offering, address indexed investor, uint256 amount);
    /// @notice A rehab budget line was planned or re-planned.
    event BudgetLineSet(bytes32 indexed line, uint256 budget);
    /// @notice Funds were released to a contractor against a budget line and an invoice.
    event DrawReleased(
        uint256 indexed drawId, address indexed contractor, bytes32 indexed line, bytes32 invoiceHash, uint256 amount
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
    /// @notice The escrow does not hold that much.
    error EscrowExceeded(uint256 escrowed, uint256 requested);
    /// @notice An address argument is zero.
    error ZeroAddress();

    constructor(IERC20 settlementToken_, uint256 propertyId_, address admin) {
        settlementToken = settlementToken_;
        propertyId = propertyId_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(TREASURER_ROLE, admin);
    }

    /// @notice Pays `amount` into the treasury from the caller (rent, capital calls, returned payouts).
    function deposit(uint256 amount, bytes32 ref) external {
        if (amount == 0) revert ZeroAmount();
        _totals.deposits += amount;
        settlementToken.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount, DEPOSIT_DIRECT, ref);
    }

    /// @notice Records offering proceeds that the offering already moved here from `investor`.
    /// `escrow` holds them until `releaseEscrow` (soft cap met) or `refund` (offering failed).
    function recordOfferingProceeds(address investor, uint256 amount, bool escrow) external onlyRole(OFFERING_ROLE) {
        if (amount == 0) revert ZeroAmount();
        Totals storage t = _totals;
        t.deposits += amount;
        if (escrow) t.escrowed += amount;
        emit Deposited(investor, amount, DEPOSIT_OFFERING, bytes32(uint256(uint160(msg.sender))));
    }

    /// @notice Makes escrowed proceeds available.
    function releaseEscrow(uint256 amount) external onlyRole(OFFERING_ROLE) {
        Totals storage t = _totals;
        if (amount > t.escrowed) revert EscrowExceeded(t.escrowed, amount);
        t.escrowed -= amount;
        emit EscrowReleased(msg.sender, amount);
    }

    /// @notice Returns escrowed proceeds to an investor of a failed offering.
    function refund(address investor, uint256 amount) external onlyRole(OFFERING_ROLE) {
        if (amount == 0) revert ZeroAmount();
        Totals storage t = _totals;
        if (amount > t.escrowed) revert EscrowExceeded(t.escrowed, amount);
        t.escrowed -= amount;
        t.refunds += amount;
        settlementToken.safeTransfer(investor, amount);
        emit Refunded(msg.sender, investor, amount);
    }

    /// @notice Plans (or re-plans) a rehab budget line.
    function setBudgetLine(bytes32 line, uint256 budget) external onlyRole(TREASURER_ROLE) {
        BudgetLine storage b = _budget[line];
        if (budget < b.drawn) revert BudgetBelowDrawn(line, b.drawn);
        b.budget = SafeCast.toUint128(budget); // a silent truncation would disagree with the event
        emit BudgetLineSet(line, budget);
    }

    /// @notice Pays a contractor against a budget line and an invoice; returns the draw id.
    function releaseDraw(address contractor, uint256 amount, bytes32 line, bytes32 invoiceHash)
        external
        onlyRole(TREASURER_ROLE)
        returns (uint256 drawId)
    {
        if (contractor == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        BudgetLine storage b = _budget[line];
        uint256 remaining = b.budget - b.drawn;
        if (amount > remaining) revert OverBudget(line, remaining, amount);
        _spend(amount);
        b.drawn += uint128(amount);
        _totals.draws += amount;
        drawId = ++_drawCount;
        settlementToken.safeTransfer(contractor, amount);
        emit DrawReleased(drawId, contractor, line, invoiceHash, amount);
    }

    /// @notice Funds a distribution of `amount` to shareholders at a record date taken now.
    function fundDistribution(Distributor distributor, uint256 amount, uint64 claimDeadline, bytes32 ref)
        external
        onlyRole(TREASURER_ROLE)
        returns (uint256 distributionId)
    {
        if (amount == 0) revert ZeroAmount();
        _spend(amount);
        _totals.distributions += amount;
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
        Totals memory t = _totals;
        return t.deposits - t.draws - t.distributions - t.refunds - t.escrowed;
    }

    /// @notice The balance the treasury accounts for: deposits - draws - distributions - refunds.
    function trackedBalance() public view returns (uint256) {
        Totals memory t = _totals;
        return t.deposits - t.draws - t.distributions - t.refunds;
    }

    /// @notice The running totals.
    function totals() external view returns (Totals memory) {
        return _totals;
    }

    /// @notice A budget line.
    function budgetLine(bytes32 line) external view returns (BudgetLine memory) {
        return _budget[line];
    }

    /// @notice Number of draws released.
    function drawCount() external view returns (uint256) {
        return _drawCount;
    }
}
