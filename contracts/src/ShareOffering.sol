// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PropertyShares} from "./PropertyShares.sol";
import {PropertyTreasury} from "./PropertyTreasury.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";

/// @title ShareOffering
/// @notice The primary sale of a property's shares for the settlement token. Investors approve the
/// offering and `buy`; the price goes straight into the property treasury and the shares are issued
/// at once. Until the soft cap is reached the treasury holds the proceeds in escrow for this
/// offering, and the shares sold are unsettled: they stay with their investor (see
/// `PropertyShares.mintUnsettled`). If the window closes (or the operator cancels) below the soft
/// cap, every wallet holding a buyer's shares is `refund`ed and the shares are burned.
///
/// Purchases are recorded per investor, so a refund reaches whichever of the investor's wallets
/// holds the shares (after a lost-wallet recovery, the new one).
contract ShareOffering is AccessControlDefaultAdminRules, ReentrancyGuardTransient {
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

    /// @notice What one investor bought and paid (what is left to refund after a failure).
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
    uint128 private _sharesRefunded;
    mapping(uint64 investorNo => Purchase) private _purchases;

    /// @notice Shares were bought. `cost` is in settlement base units.
    event SharesPurchased(
        address indexed buyer, uint64 indexed investorNo, uint256 shares, uint256 cost, uint256 pricePerShare
    );
    /// @notice The soft cap was reached and escrowed proceeds were released in the treasury.
    event SoftCapReached(uint256 raised);
    /// @notice The offering closed.
    event OfferingFinalized(Status status, uint256 sharesSold, uint256 raised);
    /// @notice A wallet holding a buyer's shares was refunded and the shares burned.
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
    /// @notice The wallet holds none of a refundable purchase.
    error NothingToRefund(address buyer);
    /// @notice The wallet (or its investor) is frozen: its refund waits until it is unfrozen or
    /// recovered to another wallet.
    error RefundFrozen(address wallet);
    /// @notice The operation is not possible in the offering's current status.
    error WrongStatus(Status status);
    /// @notice The settlement token delivered a different amount than was sent (a fee-on-transfer
    /// token): such a token is not supported.
    error InexactTransfer(uint256 expected, uint256 received);

    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps).
    /// @param operator Who may cancel the offering below its soft cap.
    constructor(
        PropertyShares shares_,
        IERC20 settlementToken_,
        PropertyTreasury treasury_,
        Terms memory terms_,
        address admin,
        address operator
    ) AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin) {
        if (
            terms_.pricePerShare == 0 || terms_.sharesForSale == 0 || terms_.end <= terms_.start
                || terms_.sharesForSale > type(uint128).max
                || (terms_.maxPerInvestor != 0 && terms_.maxPerInvestor < terms_.minPurchase)
                || Math.mulDiv(terms_.sharesForSale, terms_.pricePerShare, 1e18, Math.Rounding.Ceil)
                    > type(uint128).max
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
        _grantRole(OPERATOR_ROLE, operator);
    }

    /// @notice The price of `shareAmount` share units, rounded up to the settlement token's unit.
    function quote(uint256 shareAmount) public view returns (uint256) {
        return Math.mulDiv(shareAmount, _price, 1e18, Math.Rounding.Ceil);
    }

    /// @notice Buys `shareAmount` share units for the caller; returns what was paid.
    function buy(uint256 shareAmount) external nonReentrant returns (uint256 cost) {
        if (_status != Status.Open || block.timestamp < _start || block.timestamp >= _end) {
            revert OfferingClosed();
        }
        if (shareAmount < _minPurchase || shareAmount == 0) {
            revert BelowMinimumPurchase(_minPurchase, shareAmount);
        }
        uint256 sold = _sharesSold;
        if (shareAmount > _sharesForSale - sold) revert SoldOut(_sharesForSale - sold, shareAmount);
        cost = quote(shareAmount);

        uint256 raisedBefore = _raised;
        uint256 raisedNow = raisedBefore + cost;
        _sharesSold = uint128(sold + shareAmount);
        _raised = uint128(raisedNow);
        bool released = _escrowReleased;
        bool settles = !released && raisedNow >= _softCap;

        // The price goes straight to the treasury, which must receive exactly that much.
        uint256 before = settlementToken.balanceOf(address(treasury));
        settlementToken.safeTransferFrom(msg.sender, address(treasury), cost);
        uint256 received = settlementToken.balanceOf(address(treasury)) - before;
        if (received != cost) revert InexactTransfer(cost, received);
        treasury.recordOfferingProceeds(msg.sender, cost, !released);
        // The share token verifies the buyer against the registry and the compliance rules, and
        // names the investor the shares are attributed to. Shares sold below the soft cap (unless
        // this purchase reaches it) are unsettled until the offering settles.
        uint64 investorNo = released || settles
            ? shares.mint(msg.sender, shareAmount)
            : shares.mintUnsettled(msg.sender, shareAmount);
        Purchase storage p = _purchases[investorNo];
        uint256 bought = p.shares;
        if (_maxPerInvestor != 0 && shareAmount > _maxPerInvestor - bought) {
            revert AboveInvestorLimit(_maxPerInvestor - bought, shareAmount);
        }
        p.shares = uint128(bought + shareAmount);
        p.paid += uint128(cost);
        emit SharesPurchased(msg.sender, investorNo, shareAmount, cost, _price);

        if (settles) {
            _escrowReleased = true;
            treasury.releaseEscrow(raisedNow);
            // Every earlier purchase of this offering was unsettled.
            if (raisedBefore != 0) shares.closeOfferingEscrow();
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

    /// @notice After a failed offering, refunds `wallet` for the buyer's shares it holds: burns them
    /// and pays their share of what the buyer paid (all of it once the buyer's last shares are
    /// refunded). Anyone may trigger it; the money goes to the wallet holding the shares, and waits
    /// while that wallet or its investor is frozen.
    function refund(address wallet) external nonReentrant returns (uint256 amount) {
        if (_status != Status.Failed) revert WrongStatus(_status);
        PropertyShares.Holder memory h = shares.holder(wallet);
        Purchase memory p = _purchases[h.investorNo];
        uint256 n = p.shares < h.balance ? p.shares : h.balance;
        if (n == 0 || h.investorNo == 0) revert NothingToRefund(wallet);
        if (shares.isHolderFrozen(wallet)) revert RefundFrozen(wallet);
        amount = n == p.shares ? p.paid : Math.mulDiv(p.paid, n, p.shares);
        _purchases[h.investorNo] = Purchase(uint128(p.shares - n), uint128(p.paid - amount));
        uint256 refunded = _sharesRefunded + n;
        _sharesRefunded = uint128(refunded);
        shares.burnUnsettled(wallet, n);
        treasury.refund(wallet, amount);
        emit PurchaseRefunded(wallet, n, amount);
        if (refunded == _sharesSold) shares.closeOfferingEscrow();
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

    /// @notice Shares refunded (and burned) after a failure.
    function sharesRefunded() external view returns (uint256) {
        return _sharesRefunded;
    }

    /// @notice Settlement tokens raised so far.
    function raised() external view returns (uint256) {
        return _raised;
    }

    /// @notice Whether the soft cap has been reached.
    function softCapReached() external view returns (bool) {
        return _escrowReleased;
    }

    /// @notice Shares bought by an investor (all wallets), less any refunded.
    function boughtByInvestor(uint64 investorNo) external view returns (uint256) {
        return _purchases[investorNo].shares;
    }

    /// @notice What an investor bought and paid, less any refunded.
    function purchaseOf(uint64 investorNo) external view returns (Purchase memory) {
        return _purchases[investorNo];
    }
}
