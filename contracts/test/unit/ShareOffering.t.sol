// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Vm} from "forge-std/Vm.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {UnitBase} from "./UnitBase.sol";
import {ShareOffering} from "../../src/ShareOffering.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {ReasonCodes} from "../../src/ReasonCodes.sol";
import {FeeToken, HookToken, Reenterer} from "../utils/Adversaries.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

contract ShareOfferingTest is UnitBase {
    uint64 internal start;
    uint64 internal end;

    function setUp() public override {
        super.setUp();
        ShareOffering.Terms memory t = offering.terms();
        start = t.start;
        end = t.end;
        _fund(alice2, 1_000_000e6);
    }

    // ------------------------------------------------------------ helpers

    function _terms() internal view returns (ShareOffering.Terms memory) {
        return ShareOffering.Terms({
            pricePerShare: PRICE,
            minPurchase: 1e18,
            maxPerInvestor: 5_000e18,
            sharesForSale: FOR_SALE,
            softCap: SOFT_CAP,
            start: uint64(block.timestamp),
            end: uint64(block.timestamp + 30 days)
        });
    }

    /// Deploys another offering on the fixture's token and treasury, wired and approved by the buyers.
    function _deploy(ShareOffering.Terms memory t) internal returns (ShareOffering o) {
        vm.startPrank(admin);
        o = new ShareOffering(shares, usd, treasury, t, admin, treasurer);
        shares.grantRole(shares.MINTER_ROLE(), address(o));
        treasury.grantRole(treasury.OFFERING_ROLE(), address(o));
        vm.stopPrank();
        address[4] memory buyers = [alice, alice2, bob, carol];
        for (uint256 i = 0; i < buyers.length; i++) {
            vm.prank(buyers[i]);
            usd.approve(address(o), type(uint256).max);
        }
    }

    function _expectInvalidTerms(ShareOffering.Terms memory t) internal {
        vm.expectRevert(ShareOffering.InvalidTerms.selector);
        new ShareOffering(shares, usd, treasury, t, admin, treasurer);
    }

    function _offeringRef(address o) internal pure returns (bytes32) {
        return bytes32(uint256(uint160(o)));
    }

    /// Alice buys just under the soft cap: 1 999 shares for 99 950 tUSD.
    function _buyJustBelowSoftCap() internal {
        _buy(alice, 1_999e18);
    }

    // ------------------------------------------------------------ constructor

    function test_constructor_storesTermsAndRoles() public view {
        ShareOffering.Terms memory t = offering.terms();
        assertEq(t.pricePerShare, PRICE);
        assertEq(t.minPurchase, 1e18);
        assertEq(t.maxPerInvestor, 5_000e18);
        assertEq(t.sharesForSale, FOR_SALE);
        assertEq(t.softCap, SOFT_CAP);
        assertEq(t.end - t.start, 30 days);
        assertEq(address(offering.shares()), address(shares));
        assertEq(address(offering.settlementToken()), address(usd));
        assertEq(address(offering.treasury()), address(treasury));
        assertTrue(offering.hasRole(offering.OPERATOR_ROLE(), treasurer));
        assertFalse(offering.hasRole(offering.OPERATOR_ROLE(), admin));
        assertTrue(offering.hasRole(offering.DEFAULT_ADMIN_ROLE(), admin));
        assertEq(uint8(offering.status()), uint8(ShareOffering.Status.Open));
    }

    function test_constructor_revertsForZeroPrice() public {
        ShareOffering.Terms memory t = _terms();
        t.pricePerShare = 0;
        t.softCap = 0;
        _expectInvalidTerms(t);
    }

    function test_constructor_revertsForNothingForSale() public {
        ShareOffering.Terms memory t = _terms();
        t.sharesForSale = 0;
        t.softCap = 0;
        _expectInvalidTerms(t);
    }

    function test_constructor_revertsForEmptyWindow() public {
        ShareOffering.Terms memory t = _terms();
        t.end = t.start;
        _expectInvalidTerms(t);
    }

    function test_constructor_revertsForReversedWindow() public {
        ShareOffering.Terms memory t = _terms();
        t.end = t.start - 1;
        _expectInvalidTerms(t);
    }

    function test_constructor_revertsWhenSharesForSaleExceedUint128() public {
        ShareOffering.Terms memory t = _terms();
        t.sharesForSale = uint256(type(uint128).max) + 1;
        t.pricePerShare = 1;
        t.softCap = 0;
        _expectInvalidTerms(t);
    }

    function test_constructor_revertsWhenMaxPerInvestorBelowMinPurchase() public {
        ShareOffering.Terms memory t = _terms();
        t.maxPerInvestor = t.minPurchase - 1;
        _expectInvalidTerms(t);
    }

    function test_constructor_revertsWhenTotalCostExceedsUint128() public {
        ShareOffering.Terms memory t = _terms();
        t.sharesForSale = type(uint128).max;
        t.pricePerShare = 2e18;
        t.maxPerInvestor = 0;
        t.softCap = 0;
        _expectInvalidTerms(t);
    }

    function test_constructor_revertsWhenSoftCapUnreachable() public {
        ShareOffering.Terms memory t = _terms();
        t.softCap = FOR_SALE * PRICE / 1e18 + 1;
        _expectInvalidTerms(t);
    }

    function test_constructor_acceptsEdgeTerms() public {
        ShareOffering.Terms memory t = _terms();
        t.softCap = FOR_SALE * PRICE / 1e18; // everything must sell
        t.maxPerInvestor = t.minPurchase;
        ShareOffering o = new ShareOffering(shares, usd, treasury, t, admin, treasurer);
        assertEq(o.terms().softCap, t.softCap);
        t.maxPerInvestor = 0; // unlimited, whatever the minimum
        t.minPurchase = type(uint256).max;
        new ShareOffering(shares, usd, treasury, t, admin, treasurer);
    }

    // ------------------------------------------------------------ quote

    function test_quote_roundsUp() public view {
        assertEq(offering.quote(0), 0);
        assertEq(offering.quote(1), 1);
        assertEq(offering.quote(1e18), PRICE);
        assertEq(offering.quote(1.5e18), 75e6);
        assertEq(offering.quote(1e18 + 1), PRICE + 1);
    }

    // ------------------------------------------------------------ buy

    function test_buy_emitsEventsAndIssuesShares() public {
        uint256 cost = 500e6;
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(alice, address(treasury), cost);
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.Deposited(alice, cost, 1, _offeringRef(address(offering)));
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(address(0), alice, 10e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.Issued(alice, aliceNo, 10e18);
        vm.expectEmit(address(offering));
        emit ShareOffering.SharesPurchased(alice, aliceNo, 10e18, cost, PRICE);
        assertEq(_buy(alice, 10e18), cost);

        assertEq(shares.balanceOf(alice), 10e18);
        assertEq(usd.balanceOf(address(treasury)), cost);
        assertEq(usd.balanceOf(alice), 1_000_000e6 - cost);
        assertEq(offering.sharesSold(), 10e18);
        assertEq(offering.raised(), cost);
        assertEq(offering.boughtByInvestor(aliceNo), 10e18);
        ShareOffering.Purchase memory p = offering.purchaseOf(aliceNo);
        assertEq(p.shares, 10e18);
        assertEq(p.paid, cost);
    }

    function test_buy_belowSoftCapIsEscrowed() public {
        _buy(alice, 10e18);
        assertFalse(offering.softCapReached());
        assertEq(treasury.totals().escrowed, 500e6);
        assertEq(treasury.available(), 0);
        assertEq(treasury.trackedBalance(), 500e6);
    }

    function test_buy_revertsBeforeStart() public {
        ShareOffering.Terms memory t = _terms();
        t.start = uint64(block.timestamp + 1 days);
        t.end = uint64(block.timestamp + 2 days);
        ShareOffering o = _deploy(t);
        vm.expectRevert(ShareOffering.OfferingClosed.selector);
        vm.prank(alice);
        o.buy(1e18);
        vm.warp(t.start);
        vm.prank(alice);
        o.buy(1e18);
    }

    function test_buy_revertsAtEnd() public {
        vm.warp(end - 1);
        _buy(alice, 1e18);
        vm.warp(end);
        vm.expectRevert(ShareOffering.OfferingClosed.selector);
        vm.prank(alice);
        offering.buy(1e18);
    }

    function test_buy_revertsAfterCancel() public {
        vm.prank(treasurer);
        offering.cancel();
        vm.expectRevert(ShareOffering.OfferingClosed.selector);
        vm.prank(alice);
        offering.buy(1e18);
    }

    function test_buy_revertsAfterSoldOutFinalize() public {
        _buy(alice, 5_000e18);
        _buy(bob, 5_000e18);
        offering.finalize();
        vm.expectRevert(ShareOffering.OfferingClosed.selector);
        vm.prank(carol);
        offering.buy(1e18);
    }

    function test_buy_revertsBelowMinimumPurchase() public {
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.BelowMinimumPurchase.selector, 1e18, 1e18 - 1));
        vm.prank(alice);
        offering.buy(1e18 - 1);
    }

    function test_buy_revertsForZeroEvenWithoutMinimum() public {
        ShareOffering.Terms memory t = _terms();
        t.minPurchase = 0;
        ShareOffering o = _deploy(t);
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.BelowMinimumPurchase.selector, 0, 0));
        vm.prank(alice);
        o.buy(0);
    }

    function test_buy_revertsWhenSoldOut() public {
        _buy(alice, 5_000e18);
        _buy(bob, 4_000e18);
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.SoldOut.selector, 1_000e18, 1_001e18));
        vm.prank(carol);
        offering.buy(1_001e18);
        _buy(carol, 1_000e18);
        assertEq(offering.sharesSold(), FOR_SALE);
    }

    function test_buy_revertsAboveInvestorLimit() public {
        _buy(alice, 5_000e18);
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.AboveInvestorLimit.selector, 0, 1e18));
        vm.prank(alice);
        offering.buy(1e18);
    }

    function test_buy_investorLimitSpansWalletsOfOneInvestor() public {
        _buy(alice, 3_000e18);
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.AboveInvestorLimit.selector, 2_000e18, 2_001e18));
        vm.prank(alice2);
        offering.buy(2_001e18);
        _buy(alice2, 2_000e18);
        assertEq(offering.boughtByInvestor(aliceNo), 5_000e18);
        assertEq(offering.purchaseOf(aliceNo).shares, 5_000e18, "recorded per investor");
    }

    function test_buy_noInvestorLimitWhenZero() public {
        ShareOffering.Terms memory t = _terms();
        t.maxPerInvestor = 0;
        ShareOffering o = _deploy(t);
        vm.prank(alice);
        o.buy(FOR_SALE);
        assertEq(o.boughtByInvestor(aliceNo), FOR_SALE);
    }

    function test_buy_revertsForUnregisteredBuyer() public {
        _fund(mallory, 1_000e6);
        vm.expectRevert(_restricted(ReasonCodes.RECIPIENT_NOT_VERIFIED));
        vm.prank(mallory);
        offering.buy(1e18);
    }

    function test_buy_revertsWhenSharesPaused() public {
        _pause(true);
        vm.expectRevert(_restricted(ReasonCodes.PAUSED));
        vm.prank(alice);
        offering.buy(1e18);
    }

    function test_buy_revertsForNonAccreditedBuyerWhenAccreditedOnly() public {
        _setRules(true, false, 0, 0, 0, 0);
        vm.expectRevert(_restricted(ReasonCodes.NOT_ACCREDITED));
        vm.prank(bob);
        offering.buy(1e18);
    }

    function test_buy_revertsWithoutAllowance() public {
        vm.prank(carol);
        usd.approve(address(offering), 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(offering), 0, 50e6
            )
        );
        vm.prank(carol);
        offering.buy(1e18);
    }

    function test_buy_revertsWithoutFunds() public {
        vm.prank(mallory);
        usd.approve(address(offering), type(uint256).max);
        vm.prank(registrar);
        registry.addWallet(mallory, CAROL);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, mallory, 0, 50e6)
        );
        vm.prank(mallory);
        offering.buy(1e18);
    }

    function test_buy_revertsWhenOfferingLacksTreasuryRole() public {
        vm.startPrank(admin);
        ShareOffering o = new ShareOffering(shares, usd, treasury, _terms(), admin, treasurer);
        shares.grantRole(shares.MINTER_ROLE(), address(o));
        vm.stopPrank();
        vm.prank(alice);
        usd.approve(address(o), type(uint256).max);
        vm.expectRevert(_unauthorized(address(o), treasury.OFFERING_ROLE()));
        vm.prank(alice);
        o.buy(1e18);
    }

    function test_buy_revertsWhenOfferingLacksMinterRole() public {
        vm.startPrank(admin);
        ShareOffering o = new ShareOffering(shares, usd, treasury, _terms(), admin, treasurer);
        treasury.grantRole(treasury.OFFERING_ROLE(), address(o));
        vm.stopPrank();
        vm.prank(alice);
        usd.approve(address(o), type(uint256).max);
        vm.expectRevert(_unauthorized(address(o), shares.MINTER_ROLE()));
        vm.prank(alice);
        o.buy(1e18);
    }

    // ------------------------------------------------------------ soft cap and escrow

    function test_buy_reachingSoftCapReleasesEscrow() public {
        _buyJustBelowSoftCap();
        assertEq(treasury.totals().escrowed, 99_950e6);
        assertEq(treasury.available(), 0);

        vm.expectEmit(address(treasury));
        emit PropertyTreasury.EscrowReleased(address(offering), SOFT_CAP);
        vm.expectEmit(address(offering));
        emit ShareOffering.SoftCapReached(SOFT_CAP);
        _buy(bob, 1e18);

        assertTrue(offering.softCapReached());
        assertEq(treasury.totals().escrowed, 0);
        assertEq(treasury.available(), SOFT_CAP);
    }

    function test_buy_crossingSoftCapMidPurchaseReleasesEverythingRaised() public {
        _buyJustBelowSoftCap();
        vm.expectEmit(address(offering));
        emit ShareOffering.SoftCapReached(100_400e6);
        _buy(bob, 9e18);
        assertEq(treasury.available(), 100_400e6);
        assertEq(treasury.totals().escrowed, 0);
    }

    function test_buy_afterSoftCapIsAvailableAtOnce() public {
        _buyJustBelowSoftCap();
        _buy(bob, 1e18);
        vm.recordLogs();
        _buy(carol, 10e18);
        assertEq(treasury.available(), SOFT_CAP + 500e6);
        assertEq(treasury.totals().escrowed, 0);
        assertFalse(_logged(ShareOffering.SoftCapReached.selector)); // released only once
        assertEq(treasury.totals().deposits, SOFT_CAP + 500e6);
    }

    function test_buy_zeroSoftCapReleasedByFirstPurchase() public {
        ShareOffering.Terms memory t = _terms();
        t.softCap = 0;
        ShareOffering o = _deploy(t);
        vm.expectEmit(address(o));
        emit ShareOffering.SoftCapReached(50e6);
        vm.prank(alice);
        o.buy(1e18);
        assertEq(treasury.available(), 50e6);
    }

    function _logged(bytes32 topic) internal returns (bool) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].topics.length != 0 && logs[i].topics[0] == topic) return true;
        }
        return false;
    }

    // ------------------------------------------------------------ finalize

    function test_finalize_revertsWhileOpen() public {
        _buyJustBelowSoftCap();
        vm.warp(end - 1);
        vm.expectRevert(ShareOffering.StillOpen.selector);
        offering.finalize();
    }

    function test_finalize_succeedsAfterEndWithSoftCap() public {
        _buyJustBelowSoftCap();
        _buy(bob, 1e18);
        vm.warp(end);
        vm.expectEmit(address(offering));
        emit ShareOffering.OfferingFinalized(ShareOffering.Status.Succeeded, 2_000e18, SOFT_CAP);
        vm.prank(mallory); // anyone
        assertEq(uint8(offering.finalize()), uint8(ShareOffering.Status.Succeeded));
        assertEq(uint8(offering.status()), uint8(ShareOffering.Status.Succeeded));
    }

    function test_finalize_failsAfterEndBelowSoftCap() public {
        _buyJustBelowSoftCap();
        vm.warp(end);
        vm.expectEmit(address(offering));
        emit ShareOffering.OfferingFinalized(ShareOffering.Status.Failed, 1_999e18, 99_950e6);
        assertEq(uint8(offering.finalize()), uint8(ShareOffering.Status.Failed));
        assertEq(uint8(offering.status()), uint8(ShareOffering.Status.Failed));
    }

    function test_finalize_failsWithNoPurchases() public {
        vm.warp(end);
        vm.expectEmit(address(offering));
        emit ShareOffering.OfferingFinalized(ShareOffering.Status.Failed, 0, 0);
        offering.finalize();
    }

    function test_finalize_allowedBeforeEndWhenSoldOut() public {
        _buy(alice, 5_000e18);
        _buy(bob, 5_000e18);
        assertEq(uint8(offering.finalize()), uint8(ShareOffering.Status.Succeeded));
    }

    function test_finalize_revertsWhenAlreadyFinalized() public {
        vm.warp(end);
        offering.finalize();
        vm.expectRevert(
            abi.encodeWithSelector(ShareOffering.WrongStatus.selector, ShareOffering.Status.Failed)
        );
        offering.finalize();
    }

    function test_finalize_revertsAfterSuccess() public {
        _buy(alice, 5_000e18);
        _buy(bob, 5_000e18);
        offering.finalize();
        vm.expectRevert(
            abi.encodeWithSelector(ShareOffering.WrongStatus.selector, ShareOffering.Status.Succeeded)
        );
        offering.finalize();
    }

    // ------------------------------------------------------------ cancel

    function test_cancel_emitsFailedFinalization() public {
        _buy(alice, 10e18);
        vm.expectEmit(address(offering));
        emit ShareOffering.OfferingFinalized(ShareOffering.Status.Failed, 10e18, 500e6);
        vm.prank(treasurer);
        offering.cancel();
        assertEq(uint8(offering.status()), uint8(ShareOffering.Status.Failed));
    }

    function test_cancel_revertsForNonOperator() public {
        vm.expectRevert(_unauthorized(mallory, offering.OPERATOR_ROLE()));
        vm.prank(mallory);
        offering.cancel();
    }

    function test_cancel_revertsAfterSoftCap() public {
        _buyJustBelowSoftCap();
        _buy(bob, 1e18);
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.WrongStatus.selector, ShareOffering.Status.Open));
        vm.prank(treasurer);
        offering.cancel();
    }

    function test_cancel_revertsWhenAlreadyClosed() public {
        vm.prank(treasurer);
        offering.cancel();
        vm.expectRevert(
            abi.encodeWithSelector(ShareOffering.WrongStatus.selector, ShareOffering.Status.Failed)
        );
        vm.prank(treasurer);
        offering.cancel();
    }

    // ------------------------------------------------------------ refund

    function test_refund_burnsSharesAndReturnsFunds() public {
        _buy(alice, 10e18);
        _buy(alice, 5e18);
        vm.prank(treasurer);
        offering.cancel();
        uint256 usdBefore = usd.balanceOf(alice);

        vm.expectEmit(address(shares));
        emit IERC20.Transfer(alice, address(0), 15e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.Redeemed(alice, aliceNo, 15e18, address(offering));
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(address(treasury), alice, 750e6);
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.Refunded(address(offering), alice, 750e6);
        vm.expectEmit(address(offering));
        emit ShareOffering.PurchaseRefunded(alice, 15e18, 750e6);
        vm.prank(mallory); // anyone may trigger it; the money goes to the buyer
        assertEq(offering.refund(alice), 750e6);

        assertEq(shares.balanceOf(alice), 0);
        assertEq(shares.totalSupply(), 0);
        assertEq(shares.investorCount(), 0);
        assertEq(usd.balanceOf(alice), usdBefore + 750e6);
        assertEq(usd.balanceOf(address(treasury)), 0);
        assertEq(treasury.totals().refunds, 750e6);
        assertEq(treasury.totals().escrowed, 0);
        assertEq(offering.purchaseOf(aliceNo).paid, 0);
        assertEq(offering.purchaseOf(aliceNo).shares, 0);
    }

    function test_refund_afterFailedFinalize() public {
        _buy(alice, 10e18);
        _buy(bob, 20e18);
        vm.warp(end);
        offering.finalize();
        offering.refund(alice);
        offering.refund(bob);
        assertEq(treasury.totals().escrowed, 0);
        assertEq(treasury.trackedBalance(), 0);
        assertEq(usd.balanceOf(bob), 1_000_000e6);
    }

    function test_refund_eachWalletOfAnInvestorSeparately() public {
        _buy(alice, 10e18);
        _buy(alice2, 20e18);
        vm.prank(treasurer);
        offering.cancel();
        assertEq(offering.refund(alice2), 1_000e6);
        assertEq(shares.balanceOf(alice), 10e18);
        assertEq(shares.investorBalance(aliceNo), 10e18);
    }

    function test_refund_worksWhileSharesPausedAndPartlyFrozen() public {
        _buy(alice, 10e18);
        _freezePartial(alice, 10e18);
        _pause(true);
        vm.prank(treasurer);
        offering.cancel();
        offering.refund(alice);
        assertEq(shares.balanceOf(alice), 0);
        assertEq(shares.getFrozenTokens(alice), 0);
    }

    /// A frozen wallet is not paid (it may be a stolen key): its refund waits for the unfreeze, or
    /// reaches the investor's new wallet after a recovery.
    function test_refund_waitsWhileTheWalletIsFrozen() public {
        uint256 cost = _buy(alice, 10e18);
        _freezeAddress(alice, true);
        vm.prank(treasurer);
        offering.cancel();
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.RefundFrozen.selector, alice));
        offering.refund(alice);
        _freezeInvestor(ALICE, true);
        _freezeAddress(alice, false);
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.RefundFrozen.selector, alice));
        offering.refund(alice);
        _freezeInvestor(ALICE, false);
        uint256 before = usd.balanceOf(alice);
        assertEq(offering.refund(alice), cost);
        assertEq(usd.balanceOf(alice), before + cost);
    }

    function test_refund_reachesTheRecoveredWallet() public {
        uint256 cost = _buy(alice, 10e18);
        _freezeAddress(alice, true); // the agent freezes the lost wallet first, then recovers it
        vm.startPrank(agent);
        shares.recoverWallet(alice, alice2);
        shares.setAddressFrozen(alice2, false);
        vm.stopPrank();
        vm.prank(treasurer);
        offering.cancel();
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.NothingToRefund.selector, alice));
        offering.refund(alice);
        uint256 before = usd.balanceOf(alice2);
        vm.expectEmit(address(offering));
        emit ShareOffering.PurchaseRefunded(alice2, 10e18, cost);
        assertEq(offering.refund(alice2), cost);
        assertEq(usd.balanceOf(alice2), before + cost);
        assertEq(shares.escrowOffering(), address(0), "the last refund closes the escrow");
    }

    /// An investor who bought from two wallets is refunded per wallet, in proportion, and in full.
    function test_refund_splitsAnInvestorsPurchaseAcrossWallets() public {
        uint256 a = _buy(alice, 1e18 + 1); // 50.000001 tUSD, rounded up
        uint256 b = _buy(alice2, 2e18);
        vm.prank(treasurer);
        offering.cancel();
        uint256 first = offering.refund(alice2);
        assertEq(first, (a + b) * 2e18 / (3e18 + 1));
        assertEq(offering.refund(alice), a + b - first);
        assertEq(offering.purchaseOf(aliceNo).paid, 0);
        assertEq(treasury.trackedBalance(), 0);
    }

    // ------------------------------------------------------------ unsettled shares

    function test_buy_belowSoftCapIssuesUnsettledShares() public {
        vm.expectEmit(address(shares));
        emit PropertyShares.OfferingEscrowOpened(address(offering));
        _buy(alice, 10e18);
        assertEq(shares.escrowOffering(), address(offering));
        assertEq(shares.unsettledOf(aliceNo), 10e18);
        _buy(alice2, 5e18);
        assertEq(shares.unsettledOf(aliceNo), 15e18);
        // Within the investor they move freely; out of it, not at all.
        vm.prank(alice);
        shares.transfer(alice2, 10e18);
        _expectTransferCode(alice2, carol, 1e18, ReasonCodes.OFFERING_UNSETTLED);
    }

    function test_buy_reachingSoftCapSettlesEveryShare() public {
        _buy(alice, 10e18);
        _buy(alice, 1_989e18); // 99 950 tUSD raised: just below the soft cap
        assertEq(shares.escrowOffering(), address(offering));
        vm.recordLogs();
        _buy(bob, 1e18);
        assertTrue(_logged(PropertyShares.OfferingEscrowClosed.selector));
        assertEq(shares.escrowOffering(), address(0));
        assertEq(shares.unsettledOf(aliceNo), 0);
        assertEq(shares.unsettledOf(bobNo), 0);
        _expectTransferCode(alice, carol, 100e18, 0);
    }

    function test_buy_anotherOfferingWaitsForTheEscrow() public {
        _buy(alice, 10e18);
        ShareOffering other = _deploy(_terms());
        vm.expectRevert(
            abi.encodeWithSelector(PropertyShares.EscrowHeldByAnotherOffering.selector, address(offering))
        );
        vm.prank(bob);
        other.buy(1e18);
        // A purchase that reaches the other offering's soft cap at once needs no escrow.
        vm.prank(bob);
        other.buy(2_000e18);
        assertTrue(other.softCapReached());
    }

    function test_buy_refusesATokenThatDeliversLess() public {
        FeeToken fee = new FeeToken();
        Property memory p = _deployProperty(fee);
        ShareOffering o = _deployOffering(p.shares, fee, p.treasury, _terms());
        fee.mint(bob, 1_000e6);
        vm.prank(bob);
        fee.approve(address(o), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.InexactTransfer.selector, 50e6, 49.5e6));
        vm.prank(bob);
        o.buy(1e18);
    }

    /// A buyer called back by the settlement token's hook cannot buy again inside its purchase.
    function test_buy_refusesReentry() public {
        HookToken hook = new HookToken();
        Property memory p = _deployProperty(hook);
        ShareOffering o = _deployOffering(p.shares, hook, p.treasury, _terms());
        Reenterer wallet = new Reenterer();
        vm.prank(registrar);
        registry.addWallet(address(wallet), CAROL);
        hook.mint(address(wallet), 1_000e6);
        wallet.approve(hook, address(o));
        (bool ok,) = wallet.attack(
            address(o),
            abi.encodeCall(ShareOffering.buy, (2e18)),
            address(o),
            abi.encodeCall(ShareOffering.buy, (1e18))
        );
        assertTrue(ok);
        assertFalse(wallet.reentered());
        assertEq(
            wallet.reentryResult(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(o.sharesSold(), 2e18);
        assertEq(p.treasury.escrowOf(address(o)), 100e6);
        assertEq(hook.balanceOf(address(p.treasury)), 100e6);
    }

    function test_refund_revertsWhileOpen() public {
        _buy(alice, 10e18);
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.WrongStatus.selector, ShareOffering.Status.Open));
        offering.refund(alice);
    }

    function test_refund_revertsAfterSuccess() public {
        _buy(alice, 5_000e18);
        _buy(bob, 5_000e18);
        offering.finalize();
        vm.expectRevert(
            abi.encodeWithSelector(ShareOffering.WrongStatus.selector, ShareOffering.Status.Succeeded)
        );
        offering.refund(alice);
    }

    function test_refund_revertsForNonBuyer() public {
        _buy(alice, 10e18);
        vm.prank(treasurer);
        offering.cancel();
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.NothingToRefund.selector, carol));
        offering.refund(carol);
    }

    function test_refund_revertsWhenAlreadyRefunded() public {
        _buy(alice, 10e18);
        vm.prank(treasurer);
        offering.cancel();
        offering.refund(alice);
        vm.expectRevert(abi.encodeWithSelector(ShareOffering.NothingToRefund.selector, alice));
        offering.refund(alice);
    }

    // ------------------------------------------------------------ fuzz

    /// quote rounds up to the settlement unit: cost * 1e18 >= shares * price > (cost - 1) * 1e18.
    function testFuzz_quote_roundsUpToSettlementUnit(uint256 shareAmount, uint256 price) public {
        shareAmount = bound(shareAmount, 0, type(uint128).max);
        price = bound(price, 1, type(uint96).max);
        ShareOffering.Terms memory t = _terms();
        t.pricePerShare = price;
        t.sharesForSale = 1; // quote does not depend on it; keeps the total cost within the terms check
        t.softCap = 0;
        ShareOffering o = new ShareOffering(shares, usd, treasury, t, admin, treasurer);

        uint256 cost = o.quote(shareAmount);
        uint256 exact = shareAmount * price;
        assertGe(cost * 1e18, exact);
        if (cost != 0) assertLt((cost - 1) * 1e18, exact);
        else assertEq(exact, 0);
    }

    function testFuzz_quote_fixturePrice(uint256 shareAmount) public view {
        shareAmount = bound(shareAmount, 0, FOR_SALE);
        uint256 cost = offering.quote(shareAmount);
        assertGe(cost * 1e18, shareAmount * PRICE);
        if (shareAmount != 0) assertLt((cost - 1) * 1e18, shareAmount * PRICE);
    }

    /// Random purchases keep the offering's and the treasury's books in step.
    function testFuzz_buy_booksStayConsistent(uint256 seed) public {
        address[4] memory buyers = [alice, alice2, bob, carol];
        uint256 paid;
        for (uint256 i = 0; i < 8; i++) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            address buyer = buyers[r % 4];
            uint256 amount = bound(r >> 8, 1e18, 1_500e18);
            uint256 quoted = offering.quote(amount);
            vm.prank(buyer);
            try offering.buy(amount) returns (uint256 cost) {
                assertEq(cost, quoted);
                paid += cost;
            } catch {}
        }
        assertEq(offering.raised(), paid);
        assertEq(usd.balanceOf(address(treasury)), paid);
        assertEq(treasury.totals().deposits, paid);
        assertEq(treasury.totals().escrowed, offering.softCapReached() ? 0 : paid);
        assertEq(offering.softCapReached(), paid >= SOFT_CAP);
        assertEq(shares.totalSupply(), offering.sharesSold());
        assertLe(offering.boughtByInvestor(aliceNo), 5_000e18);
        assertEq(offering.boughtByInvestor(aliceNo), offering.purchaseOf(aliceNo).shares);
        assertEq(shares.balanceOf(alice) + shares.balanceOf(alice2), offering.purchaseOf(aliceNo).shares);
    }

    /// After a failed offering every buyer gets back exactly what they paid and the shares are gone.
    function testFuzz_refund_returnsExactlyWhatWasPaid(uint96 a, uint96 b) public {
        uint256 amountA = bound(a, 1e18, 1_000e18);
        uint256 amountB = bound(b, 1e18, 900e18);
        uint256 costA = _buy(alice, amountA);
        uint256 costB = _buy(bob, amountB);
        vm.prank(treasurer);
        offering.cancel();
        assertEq(offering.refund(alice), costA);
        assertEq(offering.refund(bob), costB);
        assertEq(usd.balanceOf(alice), 1_000_000e6);
        assertEq(usd.balanceOf(bob), 1_000_000e6);
        assertEq(shares.totalSupply(), 0);
        assertEq(treasury.trackedBalance(), 0);
    }
}
