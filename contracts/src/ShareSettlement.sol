// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";
import {PropertyShares} from "./PropertyShares.sol";

/// @title ShareSettlement
/// @notice Delivery versus payment for property shares against the settlement token. A seller
/// offers shares at a price per whole share, or a buyer bids for them; a counterparty takes all
/// or part of an order, and the shares and the payment move in one transaction or not at all.
/// Nothing is held in escrow: at settlement the contract moves the seller's shares and the
/// buyer's payment with the allowances each gave it, so the share token's own compliance
/// decides the delivery (its reason codes, checked first so a refusal names them), and a
/// trading fee in basis points of the payment goes from the seller's proceeds to the platform.
/// A share token may require an agent's approval of each trade (delivery versus approval): a
/// take then only records the trade, which settles when the agent approves it.
contract ShareSettlement is AccessControlDefaultAdminRules, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role that lists share tokens, sets approval requirements and approves trades.
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");
    /// @notice Role that sets the trading fee.
    bytes32 public constant FEE_ADMIN_ROLE = keccak256("FEE_ADMIN_ROLE");
    /// @notice The highest fee: 5%.
    uint16 public constant MAX_FEE_BPS = 500;
    /// @notice One whole share in base units; prices are per whole share.
    uint256 public constant ONE_SHARE = 1e18;

    /// @notice Which side the maker is on.
    enum Side {
        Sell,
        Buy
    }

    /// @notice An order as it stands. `remaining` counts shares neither settled nor awaiting
    /// approval.
    struct Order {
        address maker;
        uint64 expiresAt;
        Side side;
        bool cancelled;
        address token;
        uint256 amount;
        uint256 remaining;
        uint256 price;
    }

    /// @notice A trade awaiting the agent's approval.
    struct Pending {
        uint256 orderId;
        address taker;
        uint256 amount;
        bool open;
    }

    /// @notice The token payments are made in.
    IERC20 public immutable settlementToken;
    /// @notice Where fees go.
    address public feeRecipient;
    /// @notice The fee, in basis points of each payment.
    uint16 public feeBps;
    /// @notice Orders made.
    uint256 public orderCount;
    /// @notice Trades made (settled or awaiting approval).
    uint256 public tradeCount;

    mapping(uint256 orderId => Order) private _orders;
    mapping(uint256 tradeId => Pending) private _pending;
    /// @notice Share tokens that may be traded here.
    mapping(address token => bool) public listed;
    /// @notice Share tokens whose trades need the agent's approval.
    mapping(address token => bool) public approvalRequired;

    /// @notice An order was placed.
    event OrderPlaced(
        uint256 indexed orderId,
        address indexed maker,
        address indexed token,
        Side side,
        uint256 amount,
        uint256 price,
        uint64 expiresAt
    );
    /// @notice An order was cancelled; `remaining` shares are no longer on offer.
    event OrderCancelled(uint256 indexed orderId, address indexed by, uint256 remaining);
    /// @notice A take of a token that needs approval was recorded.
    event TradeRequested(
        uint256 indexed tradeId, uint256 indexed orderId, address indexed taker, uint256 amount
    );
    /// @notice Shares and payment moved: `payment` from the buyer, `payment - fee` to the seller.
    event TradeSettled(
        uint256 indexed tradeId,
        uint256 indexed orderId,
        address indexed token,
        address seller,
        address buyer,
        uint256 amount,
        uint256 payment,
        uint256 fee
    );
    /// @notice The agent refused a trade awaiting approval; its shares are back on the order.
    event TradeRejected(uint256 indexed tradeId, uint256 indexed orderId, address indexed agent);
    /// @notice The fee changed.
    event FeeChanged(uint16 feeBps, address feeRecipient);
    /// @notice A share token was listed or delisted.
    event TokenListed(address indexed token, bool listed);
    /// @notice A share token's trades need (or no longer need) the agent's approval.
    event ApprovalRequirementSet(address indexed token, bool required);

    /// @notice The share token is not listed here.
    error NotListed(address token);
    /// @notice An amount of zero, or an order or take for more than is left.
    error InvalidAmount(uint256 amount, uint256 available);
    /// @notice The payment for an amount is not a whole number of settlement units.
    error InexactPayment(uint256 amount, uint256 price);
    /// @notice A price of zero.
    error InvalidPrice();
    /// @notice An expiry that is not in the future.
    error InvalidExpiry(uint64 expiresAt);
    /// @notice No such order.
    error UnknownOrder(uint256 orderId);
    /// @notice The order has expired.
    error OrderExpired(uint256 orderId, uint64 expiresAt);
    /// @notice The order was cancelled.
    error OrderCancelledAlready(uint256 orderId);
    /// @notice Only the maker (or an agent) may cancel.
    error NotMaker(address caller);
    /// @notice A maker may not take its own order.
    error SelfTrade(address maker);
    /// @notice The delivery is refused by the share token's compliance, with its reason code.
    error TransferRestricted(uint8 code);
    /// @notice No such trade awaiting approval.
    error UnknownTrade(uint256 tradeId);
    /// @notice A fee above the maximum, or to no one.
    error InvalidFee(uint16 feeBps, address feeRecipient);

    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps).
    /// @param agent Lists tokens and approves trades.
    /// @param token_ The settlement token.
    /// @param feeRecipient_ Where fees go.
    /// @param feeBps_ The fee in basis points.
    constructor(address admin, address agent, IERC20 token_, address feeRecipient_, uint16 feeBps_)
        AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin)
    {
        settlementToken = token_;
        _grantRole(AGENT_ROLE, agent);
        _grantRole(FEE_ADMIN_ROLE, admin);
        _setFee(feeBps_, feeRecipient_);
    }

    // ------------------------------------------------------------------ settings

    /// @notice Sets the fee and where it goes.
    function setFee(uint16 feeBps_, address feeRecipient_) external onlyRole(FEE_ADMIN_ROLE) {
        _setFee(feeBps_, feeRecipient_);
    }

    function _setFee(uint16 feeBps_, address feeRecipient_) private {
        if (feeBps_ > MAX_FEE_BPS || feeRecipient_ == address(0)) revert InvalidFee(feeBps_, feeRecipient_);
        feeBps = feeBps_;
        feeRecipient = feeRecipient_;
        emit FeeChanged(feeBps_, feeRecipient_);
    }

    /// @notice Lists or delists a share token. Open orders of a delisted token cannot be taken.
    function setListed(address token, bool listed_) external onlyRole(AGENT_ROLE) {
        listed[token] = listed_;
        emit TokenListed(token, listed_);
    }

    /// @notice Whether a token's trades need the agent's approval. Trades already awaiting it
    /// still need it.
    function setApprovalRequired(address token, bool required) external onlyRole(AGENT_ROLE) {
        approvalRequired[token] = required;
        emit ApprovalRequirementSet(token, required);
    }

    // ------------------------------------------------------------------ orders

    /// @notice The payment for `amount` shares at `price` per whole share (refused when not a
    /// whole number of settlement units), and the fee taken from it.
    function quote(uint256 amount, uint256 price) public view returns (uint256 payment, uint256 fee) {
        uint256 gross = amount * price;
        if (gross % ONE_SHARE != 0) revert InexactPayment(amount, price);
        payment = gross / ONE_SHARE;
        fee = payment * feeBps / 10_000;
    }

    /// @notice An order as it stands.
    function order(uint256 orderId) external view returns (Order memory) {
        return _orders[orderId];
    }

    /// @notice A trade awaiting approval.
    function pending(uint256 tradeId) external view returns (Pending memory) {
        return _pending[tradeId];
    }

    /// @notice Offers (`Sell`) or bids for (`Buy`) `amount` shares of `token` at `price` settlement
    /// units per whole share until `expiresAt`. A seller approves this contract for the shares
    /// and a buyer for the payment; nothing moves until a counterparty takes the order.
    function place(address token, Side side, uint256 amount, uint256 price, uint64 expiresAt)
        external
        nonReentrant
        returns (uint256 orderId)
    {
        if (!listed[token]) revert NotListed(token);
        if (amount == 0) revert InvalidAmount(0, 0);
        if (price == 0) revert InvalidPrice();
        if (expiresAt <= block.timestamp) revert InvalidExpiry(expiresAt);
        quote(amount, price);
        orderId = ++orderCount;
        _orders[orderId] = Order({
            maker: msg.sender,
            expiresAt: expiresAt,
            side: side,
            cancelled: false,
            token: token,
            amount: amount,
            remaining: amount,
            price: price
        });
        emit OrderPlaced(orderId, msg.sender, token, side, amount, price, expiresAt);
    }

    /// @notice Cancels what is left of an order (the maker, or an agent).
    function cancel(uint256 orderId) external nonReentrant {
        Order storage o = _live(orderId, false);
        if (msg.sender != o.maker && !hasRole(AGENT_ROLE, msg.sender)) revert NotMaker(msg.sender);
        uint256 left = o.remaining;
        o.cancelled = true;
        o.remaining = 0;
        emit OrderCancelled(orderId, msg.sender, left);
    }

    /// @notice Takes `amount` shares of an order: buys from an offer or sells into a bid. The
    /// trade settles at once, or waits for the agent's approval when the token requires it.
    function take(uint256 orderId, uint256 amount) external nonReentrant returns (uint256 tradeId) {
        Order storage o = _live(orderId, true);
        if (msg.sender == o.maker) revert SelfTrade(msg.sender);
        if (amount == 0 || amount > o.remaining) revert InvalidAmount(amount, o.remaining);
        quote(amount, o.price);
        (address seller, address buyer) = o.side == Side.Sell ? (o.maker, msg.sender) : (msg.sender, o.maker);
        _checkDelivery(o.token, seller, buyer, amount);
        o.remaining -= amount;
        tradeId = ++tradeCount;
        if (approvalRequired[o.token]) {
            _pending[tradeId] = Pending({orderId: orderId, taker: msg.sender, amount: amount, open: true});
            emit TradeRequested(tradeId, orderId, msg.sender, amount);
        } else {
            _settle(tradeId, orderId, seller, buyer, amount);
        }
    }

    /// @notice The agent approves a trade awaiting approval: it settles now, on the terms of its
    /// order, with both parties checked again.
    function approve(uint256 tradeId) external nonReentrant onlyRole(AGENT_ROLE) {
        Pending memory t = _pending[tradeId];
        if (!t.open) revert UnknownTrade(tradeId);
        delete _pending[tradeId];
        Order storage o = _orders[t.orderId];
        (address seller, address buyer) = o.side == Side.Sell ? (o.maker, t.taker) : (t.taker, o.maker);
        _checkDelivery(o.token, seller, buyer, t.amount);
        _settle(tradeId, t.orderId, seller, buyer, t.amount);
    }

    /// @notice The agent refuses a trade awaiting approval: its shares go back on the order
    /// unless the order was cancelled or has expired.
    function reject(uint256 tradeId) external nonReentrant onlyRole(AGENT_ROLE) {
        Pending memory t = _pending[tradeId];
        if (!t.open) revert UnknownTrade(tradeId);
        delete _pending[tradeId];
        Order storage o = _orders[t.orderId];
        if (!o.cancelled && block.timestamp < o.expiresAt) o.remaining += t.amount;
        emit TradeRejected(tradeId, t.orderId, msg.sender);
    }

    function _live(uint256 orderId, bool forTaking) private view returns (Order storage o) {
        o = _orders[orderId];
        if (o.maker == address(0)) revert UnknownOrder(orderId);
        if (o.cancelled) revert OrderCancelledAlready(orderId);
        if (forTaking) {
            if (block.timestamp >= o.expiresAt) revert OrderExpired(orderId, o.expiresAt);
            if (!listed[o.token]) revert NotListed(o.token);
        }
    }

    /// The share token's verdict on the delivery, named by its reason code.
    function _checkDelivery(address token, address seller, address buyer, uint256 amount) private view {
        uint8 code = PropertyShares(token).canTransfer(seller, buyer, amount);
        if (code != 0) revert TransferRestricted(code);
    }

    /// Moves both legs: the state is final before any token is called.
    function _settle(uint256 tradeId, uint256 orderId, address seller, address buyer, uint256 amount)
        private
    {
        Order storage o = _orders[orderId];
        address token = o.token;
        (uint256 payment, uint256 fee) = quote(amount, o.price);
        emit TradeSettled(tradeId, orderId, token, seller, buyer, amount, payment, fee);
        IERC20(token).safeTransferFrom(seller, buyer, amount);
        settlementToken.safeTransferFrom(buyer, seller, payment - fee);
        if (fee != 0) settlementToken.safeTransferFrom(buyer, feeRecipient, fee);
    }
}
