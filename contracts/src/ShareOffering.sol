// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PropertyShares} from "./PropertyShares.sol";
import {PropertyTreasury} from "./PropertyTreasury.sol";

/// @title ShareOffering
/// @notice The primary sale of a property's shares for the settlement token. Investors approve the
/// offering and `buy`; the price goes straight into the property treasury and the shares are issued
/// at once. Until the soft cap is reached the treasury holds the proceeds in escrow; if the window
/// closes (or the operator cancels) below the soft cap, each buyer gets `refund`ed and their shares
/// are burned.
contract ShareOffering is AccessControl {
    using SafeERC20 for IERC20;

    /// @notice Role that may cancel the offering (the operator).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// @notice Lifecycle of the offering.
    enum Status {
        Open,
        Succeeded,
        Failed
    }

    /// @notice Terms fixed at deployment.
    struct Terms {
        uint256 pricePerShare; // settlement base units per whole share (1e18 share units)
        uint256 minPurchase; // share units per purchase
        uint256 maxPerInvestor; // share units per investor over the whole offering (0 = no limit)
        uint256 sharesForSale; // share units (hard cap)
        uint256 softCap; // settlement base units
        uint64 start;
        uint64 end;
    }

    /// @notice What one wallet bought (for refunds).
    struct Purchase {
        uint128 shares;
        uint128 paid;
    }

    /// @notice The shares on sale.
    PropertyShares public immutable shares;
    /// @notice The settlement token.
    IERC20 public immutable settlementToken;
    /// @notice Where the proceeds go.
    PropertyTreasury public immutable treasury;

    uint256 private immutable _price;
    uint256 private immutable _minPurchase;
    uint256 private immutable _maxPerInvestor;
    uint256 private immutable _sharesForSale;
    uint256 private immutable _softCap;
    uint64 private immutable _start;
    uint64 private immutable _end;

    uint128 private _sharesSold;
    uint128 private _raised;
    Status private _status;
    bool private _escrowReleased;
    mapping(uint64 investorNo => uint256) private _boughtByInvestor;
    mapping(address wallet => Purchase) private _purchases;

    /// @notice Shares were bought. `cost` is in settlement base units.
    event SharesPurchased(
        address indexed buyer, uint64 indexed investorNo, uint256 shares, uint256 cost, uint256 pricePerShare
    );
    /// @notice The soft cap was reached and escrowed proceeds were released in the treasury.
    event SoftCapReached(uint256 raised);
    /// @notice The offering closed.
    event OfferingFinalized(Status status, uint256 sharesSold, uint256 raised);
    /// @notice A buyer of a failed offering was refunded and their shares burned.
    event PurchaseRefunded(address indexed buyer, uint256 shares, uint256 amount);

    /// @notice Bad terms at deployment.
    error InvalidTerms();
    /// @notice The offering is not open for purchases now.
    error OfferingClosed();
    /// @notice The purchase is below the minimum.
    error BelowMinimumPurchase(uint256 minimum, uint256 requested);
    /// @notice The purchase exceeds what the investor may still buy.
    error AboveInvestorLimit(uint256 remaining, uint256 requested);
    /// @notice Not enough shares left for sale.
    error SoldOut(uint256 remaining, uint256 requested);
    /// @notice The offering cannot be finalized yet.
    error StillOpen();
    /// @notice The offering did not fail, or the wallet has nothing to refund.
    error NothingToRefund(address buyer);
    /// @notice The operation is not possible in the offering's current status.
    error WrongStatus(Status status);

    constructor(
        PropertyShares shares_,
        IERC20 settlementToken_,
        PropertyTreasury treasury_,
        Terms memory terms_,
        address admin
    ) {
        if (
            terms_.pricePerShare == 0 || terms_.sharesForSale == 0 || terms_.end <= terms_.start
                || terms_.sharesForSale > type(uint128).max
                || (terms_.maxPerInvestor != 0 && terms_.maxPerInvestor < terms_.minPurchase)
                || Math.mulDiv(terms_.sharesForSale, terms_.pricePerShare, 1e18, Math.Rounding.Ceil) > type(uint128).max
                || terms_.softCap > Math.mulDiv(terms_.sharesForSale, terms_.pricePerShare, 1e18)
        ) revert InvalidTerms();
        shares = shares_;
        settlementToken = settlementToken_;
        treasury = treasury_;
        _price = terms_.pricePerShare;
        _minPurchase = terms_.minPurchase;
        _maxPerInvestor = terms_.maxPerInvestor;
        _sharesForSale = terms_.sharesForSale;
        _softCap = terms_.softCap;
        _start = terms_.start;
        _end = terms_.end;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(OPERATOR_ROLE, admin);
    }

    /// @notice The price of `shareAmount` share units, rounded up to the settlement token's unit.
    function quote(uint256 shareAmount) public view returns (uint256) {
        return Math.mulDiv(shareAmount, _price, 1e18, Math.Rounding.Ceil);
    }

    /// @notice Buys `shareAmount` share units for the caller; returns what was paid.
    function buy(uint256 shareAmount) external returns (uint256 cost) {
        if (_status != Status.Open || block.timestamp < _start || block.timestamp >= _end) revert OfferingClosed();
        if (shareAmount < _minPurchase || shareAmount == 0) revert BelowMinimumPurchase(_minPurchase, shareAmount);
        uint256 sold = _sharesSold;
        if (shareAmount > _sharesForSale - sold) revert SoldOut(_sharesForSale - sold, shareAmount);
        cost = quote(shareAmount);

        uint256 raisedNow = uint256(_raised) + cost;
        _sharesSold = uint128(sold + shareAmount);
        _raised = uint128(raisedNow);
        Purchase storage p = _purchases[msg.sender];
        p.shares += uint128(shareAmount);
        p.paid += uint128(cost);

        bool released = _escrowReleased;
        settlementToken.safeTransferFrom(msg.sender, address(treasury), cost);
        treasury.recordOfferingProceeds(msg.sender, cost, !released);
        // The share token verifies the buyer against the registry and the compliance rules, and
        // names the investor the shares are attributed to.
        uint64 investorNo = shares.mint(msg.sender, shareAmount);
        uint256 bought = _boughtByInvestor[investorNo];
        if (_maxPerInvestor != 0 && shareAmount > _maxPerInvestor - bought) {
            revert AboveInvestorLimit(_maxPerInvestor - bought, shareAmount);
        }
        _boughtByInvestor[investorNo] = bought + shareAmount;
        emit SharesPurchased(msg.sender, investorNo, shareAmount, cost, _price);

        if (!released && raisedNow >= _softCap) {
            _escrowReleased = true;
            treasury.releaseEscrow(raisedNow);
            emit SoftCapReached(raisedNow);
        }
    }

    /// @notice Closes the offering once the window has ended or everything is sold.
    function finalize() external returns (Status) {
        if (_status != Status.Open) revert WrongStatus(_status);
        if (block.timestamp < _end && _sharesSold < _sharesForSale) revert StillOpen();
        _status = _escrowReleased ? Status.Succeeded : Status.Failed;
        emit OfferingFinalized(_status, _sharesSold, _raised);
        return _status;
    }

    /// @notice Cancels an offering that has not reached its soft cap; buyers can then be refunded.
    function cancel() external onlyRole(OPERATOR_ROLE) {
        if (_status != Status.Open || _escrowReleased) revert WrongStatus(_status);
        _status = Status.Failed;
        emit OfferingFinalized(Status.Failed, _sharesSold, _raised);
    }

    /// @notice Refunds `buyer` after a failed offering: burns their purchased shares and returns
    /// what they paid. Anyone may trigger it; the money goes to the buyer.
    function refund(address buyer) external returns (uint256 amount) {
        if (_status != Status.Failed) revert WrongStatus(_status);
        Purchase memory p = _purchases[buyer];
        if (p.paid == 0) revert NothingToRefund(buyer);
        delete _purchases[buyer];
        amount = p.paid;
        shares.burn(buyer, p.shares);
        treasury.refund(buyer, amount);
        emit PurchaseRefunded(buyer, p.shares, amount);
    }

    /// @notice The offering's terms.
    function terms() external view returns (Terms memory) {
        return Terms(_price, _minPurchase, _maxPerInvestor, _sharesForSale, _softCap, _start, _end);
    }

    /// @notice Current status.
    function status() external view returns (Status) {
        return _status;
    }

    /// @notice Shares sold so far.
    function sharesSold() external view returns (uint256) {
        return _sharesSold;
    }

    /// @notice Settlement tokens raised so far.
    function raised() external view returns (uint256) {
        return _raised;
    }

    /// @notice Whether the soft cap has been reached.
    function softCapReached() external view returns (bool) {
        return _escrowReleased;
    }

    /// @notice Shares bought by an investor (all wallets).
    function boughtByInvestor(uint64 investorNo) external view returns (uint256) {
        return _boughtByInvestor[investorNo];
    }

    /// @notice What a wallet bought and paid (cleared by a refund).
    function purchaseOf(address wallet) external view returns (Purchase memory) {
        return _purchases[wallet];
    }
}
