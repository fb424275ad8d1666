// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";
import {Fixture} from "../utils/Fixture.sol";
import {ShareSettlement} from "../../src/ShareSettlement.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {TestStablecoin} from "../../src/TestStablecoin.sol";

/// Places, takes (settling at once or through the agent's approval), rejects, cancels and lets
/// time pass on one market, for three investors; keeps what each trade should have moved.
contract SettlementHandler is Test {
    ShareSettlement internal market;
    PropertyShares internal shares;
    TestStablecoin internal usd;
    address internal agent;
    address[3] internal actors;

    /// Fees the settled trades owed the platform.
    uint256 public ghostFees;
    /// Shares settled per order.
    mapping(uint256 => uint256) public ghostSettled;
    /// Shares awaiting approval per order.
    mapping(uint256 => uint256) public ghostPending;
    /// Shares left on an order when it was cancelled.
    mapping(uint256 => uint256) public ghostCancelled;
    uint256[] internal openTrades;
    uint256 public settledTrades;

    constructor(
        ShareSettlement market_,
        PropertyShares shares_,
        TestStablecoin usd_,
        address agent_,
        address[3] memory actors_
    ) {
        market = market_;
        shares = shares_;
        usd = usd_;
        agent = agent_;
        actors = actors_;
    }

    function place(uint256 who, bool sell, uint256 centiShares, uint256 cents, uint256 life) external {
        address maker = actors[who % 3];
        uint256 amount = bound(centiShares, 1, 2_000) * 1e16;
        uint256 price = bound(cents, 1, 100_000) * 1e4;
        uint64 expiresAt = uint64(block.timestamp + bound(life, 1, 10 days));
        vm.prank(maker);
        try market.place(
            address(shares),
            sell ? ShareSettlement.Side.Sell : ShareSettlement.Side.Buy,
            amount,
            price,
            expiresAt
        ) {}
            catch {}
    }

    function take(uint256 who, uint256 orderSeed, uint256 fraction) external {
        uint256 count = market.orderCount();
        if (count == 0) return;
        uint256 id = orderSeed % count + 1;
        ShareSettlement.Order memory o = market.order(id);
        if (o.remaining == 0) return;
        uint256 amount = (o.remaining * bound(fraction, 1, 100) / 100) / 1e16 * 1e16;
        if (amount == 0) amount = o.remaining;
        address taker = actors[who % 3];
        (uint256 payment, uint256 fee) = market.quote(amount, o.price);
        payment; // the legs are checked through the balances
        bool needsApproval = market.approvalRequired(address(shares));
        vm.prank(taker);
        try market.take(id, amount) returns (uint256 trade) {
            if (needsApproval) {
                ghostPending[id] += amount;
                openTrades.push(trade);
            } else {
                ghostSettled[id] += amount;
                ghostFees += fee;
                settledTrades++;
            }
        } catch {}
    }

    function decide(uint256 seed, bool approve) external {
        if (openTrades.length == 0) return;
        uint256 i = seed % openTrades.length;
        uint256 trade = openTrades[i];
        openTrades[i] = openTrades[openTrades.length - 1];
        openTrades.pop();
        ShareSettlement.Pending memory t = market.pending(trade);
        ShareSettlement.Order memory o = market.order(t.orderId);
        (, uint256 fee) = market.quote(t.amount, o.price);
        vm.prank(agent);
        if (approve) {
            try market.approve(trade) {
                ghostPending[t.orderId] -= t.amount;
                ghostSettled[t.orderId] += t.amount;
                ghostFees += fee;
                settledTrades++;
            } catch {
                // Refused on the second check: the agent rejects it instead.
                vm.prank(agent);
                market.reject(trade);
                _rejected(t, o);
            }
        } else {
            market.reject(trade);
            _rejected(t, o);
        }
    }

    function _rejected(ShareSettlement.Pending memory t, ShareSettlement.Order memory o) internal {
        ghostPending[t.orderId] -= t.amount;
        // Back on the order unless it is over; then it is gone like a cancelled remainder.
        if (o.cancelled || block.timestamp >= o.expiresAt) ghostCancelled[t.orderId] += t.amount;
    }

    function cancel(uint256 orderSeed) external {
        uint256 count = market.orderCount();
        if (count == 0) return;
        uint256 id = orderSeed % count + 1;
        ShareSettlement.Order memory o = market.order(id);
        vm.prank(o.maker);
        try market.cancel(id) {
            ghostCancelled[id] += o.remaining;
        } catch {}
    }

    function toggleApproval(bool required) external {
        vm.prank(agent);
        market.setApprovalRequired(address(shares), required);
    }

    function wait(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 2 days));
    }
}

/// The market never holds a token, money and shares are conserved, the platform holds exactly
/// the fees owed, and every order's shares are accounted for: settled, awaiting approval,
/// cancelled or still on offer.
contract SettlementInvariants is Fixture {
    ShareSettlement internal market;
    SettlementHandler internal handler;
    address internal platform = makeAddr("platform");
    uint256 internal usdTotal;
    uint256 internal sharesTotal;

    function setUp() public override {
        super.setUp();
        market = new ShareSettlement(admin, agent, usd, platform, 75);
        vm.prank(agent);
        market.setListed(address(shares), true);
        address[3] memory actors = [alice, bob, carol];
        for (uint256 i = 0; i < 3; i++) {
            _mint(actors[i], 1_000e18);
            vm.startPrank(actors[i]);
            shares.approve(address(market), type(uint256).max);
            usd.approve(address(market), type(uint256).max);
            vm.stopPrank();
            usdTotal += usd.balanceOf(actors[i]);
            sharesTotal += shares.balanceOf(actors[i]);
        }
        handler = new SettlementHandler(market, shares, usd, agent, actors);
        targetContract(address(handler));
    }

    /// The handler's paths do what the campaigns rely on: trades settle at once and after
    /// approval, a rejected trade goes back on its order, and a cancel takes the rest away.
    function test_theHandlerSettlesRejectsAndCancels() public {
        handler.place(0, true, 500, 5_500, 1 days); // Alice offers 5 shares at 55
        handler.take(1, 0, 40); // Bob takes 2
        handler.toggleApproval(true);
        handler.take(2, 0, 50); // Carol asks for 1.5, awaiting approval
        handler.decide(0, false); // rejected: back on the order
        handler.take(2, 0, 100); // Carol asks for the 3 left
        handler.decide(0, true); // approved
        assertEq(handler.settledTrades(), 2);
        assertEq(shares.balanceOf(alice), 995e18);
        assertEq(shares.balanceOf(bob), 1_002e18);
        assertEq(shares.balanceOf(carol), 1_003e18);
        // 110 + 165 tUSD at 0.75%.
        assertEq(usd.balanceOf(platform), 0.825e6 + 1.2375e6);
        handler.place(1, false, 100, 100, 1 days); // Bob bids for 1 share at 1
        handler.cancel(1);
        assertEq(handler.ghostCancelled(2), 1e18);
        invariant_everyOrdersSharesAreAccountedFor();
        invariant_thePlatformHoldsExactlyTheFees();
        invariant_moneyAndSharesAreConserved();
    }

    function invariant_theMarketHoldsNothing() public view {
        assertEq(usd.balanceOf(address(market)), 0);
        assertEq(shares.balanceOf(address(market)), 0);
    }

    function invariant_moneyAndSharesAreConserved() public view {
        uint256 usdNow =
            usd.balanceOf(platform) + usd.balanceOf(alice) + usd.balanceOf(bob) + usd.balanceOf(carol);
        assertEq(usdNow, usdTotal);
        assertEq(shares.balanceOf(alice) + shares.balanceOf(bob) + shares.balanceOf(carol), sharesTotal);
    }

    function invariant_thePlatformHoldsExactlyTheFees() public view {
        assertEq(usd.balanceOf(platform), handler.ghostFees());
    }

    function invariant_everyOrdersSharesAreAccountedFor() public view {
        for (uint256 id = 1; id <= market.orderCount(); id++) {
            ShareSettlement.Order memory o = market.order(id);
            assertEq(
                o.remaining + handler.ghostSettled(id) + handler.ghostPending(id)
                    + handler.ghostCancelled(id),
                o.amount
            );
            if (o.cancelled) assertEq(o.remaining, 0);
        }
    }
}
