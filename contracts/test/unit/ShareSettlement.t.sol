// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {UnitBase} from "./UnitBase.sol";
import {HookToken, Reenterer} from "../utils/Adversaries.sol";
import {ShareSettlement} from "../../src/ShareSettlement.sol";
import {ReasonCodes} from "../../src/ReasonCodes.sol";

/// Delivery versus payment: offers and bids, partial fills, both legs or neither, compliance
/// refusals with the share token's reason codes, expiry, cancellation, the agent's approval,
/// exact fees, and a re-entrant settlement token.
contract ShareSettlementTest is UnitBase {
    ShareSettlement internal market;
    address internal platform = makeAddr("platform");
    uint256 internal constant PRICE_55 = 55e6; // 55 tUSD per share
    uint64 internal expiry;

    function setUp() public override {
        super.setUp();
        market = new ShareSettlement(admin, agent, usd, platform, 100); // a 1% fee
        vm.prank(agent);
        market.setListed(address(shares), true);
        _mint(alice, 100e18);
        _mint(carol, 10e18);
        for (uint256 i = 0; i < 3; i++) {
            address who = [alice, bob, carol][i];
            vm.startPrank(who);
            shares.approve(address(market), type(uint256).max);
            usd.approve(address(market), type(uint256).max);
            vm.stopPrank();
        }
        expiry = uint64(block.timestamp + 7 days);
    }

    function _offer(address maker, uint256 amount, uint256 price) internal returns (uint256 id) {
        vm.prank(maker);
        id = market.place(address(shares), ShareSettlement.Side.Sell, amount, price, expiry);
    }

    function _bid(address maker, uint256 amount, uint256 price) internal returns (uint256 id) {
        vm.prank(maker);
        id = market.place(address(shares), ShareSettlement.Side.Buy, amount, price, expiry);
    }

    function test_anOfferTakenInPartMovesBothLegsExactly() public {
        uint256 id = _offer(alice, 10e18, PRICE_55);
        uint256 aliceUsd = usd.balanceOf(alice);
        uint256 bobUsd = usd.balanceOf(bob);
        vm.expectEmit(address(market));
        emit ShareSettlement.TradeSettled(1, id, address(shares), alice, bob, 4e18, 220e6, 2.2e6);
        vm.prank(bob);
        uint256 trade = market.take(id, 4e18);
        assertEq(trade, 1);
        assertEq(shares.balanceOf(alice), 96e18);
        assertEq(shares.balanceOf(bob), 4e18);
        assertEq(usd.balanceOf(bob), bobUsd - 220e6);
        assertEq(usd.balanceOf(alice), aliceUsd + 217.8e6);
        assertEq(usd.balanceOf(platform), 2.2e6);
        assertEq(market.order(id).remaining, 6e18);
        // The rest, then nothing left.
        vm.prank(bob);
        market.take(id, 6e18);
        assertEq(market.order(id).remaining, 0);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.InvalidAmount.selector, 1, 0));
        market.take(id, 1);
        // The market never holds anything.
        assertEq(shares.balanceOf(address(market)), 0);
        assertEq(usd.balanceOf(address(market)), 0);
    }

    function test_aBidIsFilledBySellingIntoIt() public {
        uint256 id = _bid(carol, 5e18, 60e6);
        uint256 carolUsd = usd.balanceOf(carol);
        vm.prank(alice);
        market.take(id, 5e18);
        assertEq(shares.balanceOf(carol), 15e18);
        assertEq(usd.balanceOf(carol), carolUsd - 300e6);
        assertEq(usd.balanceOf(platform), 3e6);
    }

    function test_anIneligibleBuyerOrSellerIsRefusedWithTheCode() public {
        uint256 id = _offer(alice, 10e18, PRICE_55);
        // Never registered.
        vm.prank(mallory);
        vm.expectRevert(
            abi.encodeWithSelector(
                ShareSettlement.TransferRestricted.selector, ReasonCodes.RECIPIENT_NOT_VERIFIED
            )
        );
        market.take(id, 1e18);
        // Accredited investors only: Bob is not.
        _setRules(true, false, 0, 0, 0, 0);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(ShareSettlement.TransferRestricted.selector, ReasonCodes.NOT_ACCREDITED)
        );
        market.take(id, 1e18);
        _clearRules();
        // A frozen seller.
        vm.prank(agent);
        shares.setAddressFrozen(alice, true);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(ShareSettlement.TransferRestricted.selector, ReasonCodes.SENDER_FROZEN)
        );
        market.take(id, 1e18);
        // A seller selling into a bid with shares it does not have.
        vm.prank(agent);
        shares.setAddressFrozen(alice, false);
        uint256 bid = _bid(carol, 5e18, PRICE_55);
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(
                ShareSettlement.TransferRestricted.selector, ReasonCodes.INSUFFICIENT_BALANCE
            )
        );
        market.take(bid, 5e18);
        // Nothing moved, and the orders are whole.
        assertEq(shares.balanceOf(alice), 100e18);
        assertEq(usd.balanceOf(platform), 0);
        assertEq(market.order(id).remaining, 10e18);
        assertEq(market.order(bid).remaining, 5e18);
    }

    function test_noLegSettlesWithoutTheOther() public {
        uint256 id = _offer(alice, 10e18, PRICE_55);
        // Bob's payment cannot be pulled: the shares stay with Alice.
        vm.prank(bob);
        usd.approve(address(market), 0);
        vm.prank(bob);
        vm.expectRevert();
        market.take(id, 1e18);
        assertEq(shares.balanceOf(alice), 100e18);
        assertEq(shares.balanceOf(bob), 0);
        // Alice's shares cannot be pulled: Bob keeps his money.
        vm.prank(bob);
        usd.approve(address(market), type(uint256).max);
        vm.prank(alice);
        shares.approve(address(market), 0);
        uint256 bobUsd = usd.balanceOf(bob);
        vm.prank(bob);
        vm.expectRevert();
        market.take(id, 1e18);
        assertEq(usd.balanceOf(bob), bobUsd);
        assertEq(market.order(id).remaining, 10e18);
    }

    function test_expiredAndCancelledOrdersCannotSettle() public {
        uint256 id = _offer(alice, 10e18, PRICE_55);
        vm.warp(expiry);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.OrderExpired.selector, id, expiry));
        market.take(id, 1e18);

        expiry = uint64(block.timestamp + 1 days);
        uint256 other = _offer(alice, 10e18, PRICE_55);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.NotMaker.selector, bob));
        market.cancel(other);
        vm.expectEmit(address(market));
        emit ShareSettlement.OrderCancelled(other, alice, 10e18);
        vm.prank(alice);
        market.cancel(other);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.OrderCancelledAlready.selector, other));
        market.take(other, 1e18);
        // An agent may cancel any order.
        uint256 third = _offer(alice, 1e18, PRICE_55);
        vm.prank(agent);
        market.cancel(third);
        assertTrue(market.order(third).cancelled);
        assertEq(shares.balanceOf(alice), 100e18);
    }

    function test_ordersAreChecked() public {
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.NotListed.selector, address(usd)));
        market.place(address(usd), ShareSettlement.Side.Sell, 1e18, PRICE_55, expiry);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.InvalidAmount.selector, 0, 0));
        market.place(address(shares), ShareSettlement.Side.Sell, 0, PRICE_55, expiry);
        vm.expectRevert(ShareSettlement.InvalidPrice.selector);
        market.place(address(shares), ShareSettlement.Side.Sell, 1e18, 0, expiry);
        vm.expectRevert(
            abi.encodeWithSelector(ShareSettlement.InvalidExpiry.selector, uint64(block.timestamp))
        );
        market.place(address(shares), ShareSettlement.Side.Sell, 1e18, PRICE_55, uint64(block.timestamp));
        // A payment that is not a whole number of cents' units.
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.InexactPayment.selector, 1, PRICE_55));
        market.place(address(shares), ShareSettlement.Side.Sell, 1, PRICE_55, expiry);
        uint256 id = market.place(address(shares), ShareSettlement.Side.Sell, 1e18, PRICE_55, expiry);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.SelfTrade.selector, alice));
        market.take(id, 1e18);
        vm.stopPrank();
        // A delisted token's orders cannot be taken.
        vm.prank(agent);
        market.setListed(address(shares), false);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.NotListed.selector, address(shares)));
        market.take(id, 1e18);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.UnknownOrder.selector, 99));
        market.take(99, 1e18);
    }

    function test_theFeeIsCappedAndSetByItsAdmin() public {
        bytes32 role = market.FEE_ADMIN_ROLE();
        vm.prank(bob);
        vm.expectRevert(_unauthorized(bob, role));
        market.setFee(10, platform);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.InvalidFee.selector, 501, platform));
        market.setFee(501, platform);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.InvalidFee.selector, 10, address(0)));
        market.setFee(10, address(0));
        market.setFee(0, platform);
        vm.stopPrank();
        uint256 id = _offer(alice, 1e18, PRICE_55);
        vm.prank(bob);
        market.take(id, 1e18);
        assertEq(usd.balanceOf(platform), 0);
    }

    /// Whatever the amount, price and fee, the buyer pays exactly the payment, the seller gets it
    /// less the fee, the platform the fee (rounded down), and the shares move exactly.
    function testFuzz_feesAndLegsAreExact(uint256 cents, uint256 centiShares, uint16 bps) public {
        cents = bound(cents, 1, 1_000_000); // a price of 0.01 to 10,000 tUSD per share
        centiShares = bound(centiShares, 1, 10_000); // 0.01 to 100 shares
        bps = uint16(bound(bps, 0, 500));
        vm.prank(admin);
        market.setFee(bps, platform);
        uint256 price = cents * 1e4;
        uint256 amount = centiShares * 1e16;
        uint256 payment = cents * centiShares * 100; // price * amount / 1e18, in tUSD units
        uint256 fee = payment * bps / 10_000;
        uint256 id = _offer(alice, amount, price);
        (uint256 quoted, uint256 quotedFee) = market.quote(amount, price);
        assertEq(quoted, payment);
        assertEq(quotedFee, fee);
        uint256 aliceUsd = usd.balanceOf(alice);
        uint256 carolUsd = usd.balanceOf(carol);
        vm.prank(carol);
        market.take(id, amount);
        assertEq(usd.balanceOf(carol), carolUsd - payment);
        assertEq(usd.balanceOf(alice), aliceUsd + payment - fee);
        assertEq(usd.balanceOf(platform), fee);
        assertEq(shares.balanceOf(carol), 10e18 + amount);
        assertEq(shares.balanceOf(alice), 100e18 - amount);
    }

    function test_aTokenNeedingApprovalSettlesOnlyWhenTheAgentApproves() public {
        bytes32 agentRole = market.AGENT_ROLE();
        vm.prank(bob);
        vm.expectRevert(_unauthorized(bob, agentRole));
        market.setApprovalRequired(address(shares), true);
        vm.prank(agent);
        market.setApprovalRequired(address(shares), true);
        uint256 id = _offer(alice, 10e18, PRICE_55);
        vm.expectEmit(address(market));
        emit ShareSettlement.TradeRequested(1, id, bob, 4e18);
        vm.prank(bob);
        uint256 trade = market.take(id, 4e18);
        // Recorded, reserved, not moved.
        assertEq(shares.balanceOf(bob), 0);
        assertEq(market.order(id).remaining, 6e18);
        assertTrue(market.pending(trade).open);
        vm.prank(bob);
        vm.expectRevert(_unauthorized(bob, agentRole));
        market.approve(trade);
        vm.prank(agent);
        market.approve(trade);
        assertEq(shares.balanceOf(bob), 4e18);
        assertEq(usd.balanceOf(platform), 2.2e6);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(ShareSettlement.UnknownTrade.selector, trade));
        market.approve(trade);
        // A rejected trade's shares go back on the order.
        vm.prank(carol);
        uint256 second = market.take(id, 2e18);
        assertEq(market.order(id).remaining, 4e18);
        vm.expectEmit(address(market));
        emit ShareSettlement.TradeRejected(second, id, agent);
        vm.prank(agent);
        market.reject(second);
        assertEq(market.order(id).remaining, 6e18);
        assertEq(shares.balanceOf(carol), 10e18);
        // Approval checks the parties again: a buyer frozen meanwhile is refused.
        vm.prank(bob);
        uint256 third = market.take(id, 1e18);
        vm.prank(agent);
        shares.setAddressFrozen(bob, true);
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(ShareSettlement.TransferRestricted.selector, ReasonCodes.RECIPIENT_FROZEN)
        );
        market.approve(third);
    }

    /// A buyer whose settlement token calls it back while it pays re-enters `take`: the re-entry
    /// is refused and the trade settles once.
    function test_aReentrantSettlementTokenCannotDoubleSettle() public {
        HookToken hook = new HookToken();
        ShareSettlement hooked = new ShareSettlement(admin, agent, hook, platform, 100);
        vm.prank(agent);
        hooked.setListed(address(shares), true);
        Reenterer buyer = new Reenterer();
        vm.prank(registrar);
        registry.addWallet(address(buyer), CAROL);
        hook.mint(address(buyer), 1_000e6);
        buyer.approve(hook, address(hooked));
        vm.prank(alice);
        shares.approve(address(hooked), type(uint256).max);
        vm.prank(alice);
        uint256 id = hooked.place(address(shares), ShareSettlement.Side.Sell, 10e18, PRICE_55, expiry);
        (bool ok,) = buyer.attack(
            address(hooked),
            abi.encodeCall(ShareSettlement.take, (id, 2e18)),
            address(hooked),
            abi.encodeCall(ShareSettlement.take, (id, 2e18))
        );
        assertTrue(ok, "the outer take settles");
        assertFalse(buyer.reentered(), "the re-entry is refused");
        assertEq(bytes4(buyer.reentryResult()), ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
        assertEq(shares.balanceOf(address(buyer)), 2e18);
        assertEq(shares.balanceOf(alice), 98e18);
        assertEq(hook.balanceOf(address(buyer)), 1_000e6 - 110e6);
        assertEq(hooked.order(id).remaining, 8e18);
        assertEq(hooked.tradeCount(), 1);
    }
}
