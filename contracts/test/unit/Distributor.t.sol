// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {UnitBase} from "./UnitBase.sol";
import {Distributor} from "../../src/Distributor.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {FeeToken, HookToken, Reenterer, BatchSender} from "../utils/Adversaries.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

contract DistributorTest is UnitBase {
    address internal landlord = makeAddr("landlord"); // pays rent into the treasury
    address internal funder = makeAddr("funder"); // a plain funder, for createDistribution itself
    uint64 internal deadline;

    function setUp() public override {
        super.setUp();
        _mint(alice, 600e18);
        _mint(bob, 300e18);
        _mint(carol, 100e18);
        deadline = uint64(block.timestamp + 90 days);
        bytes32 role = distributor.FUNDER_ROLE();
        vm.prank(admin);
        distributor.grantRole(role, funder);
        vm.prank(admin);
        usd.mint(funder, 1_000_000e6);
        vm.prank(funder);
        usd.approve(address(distributor), type(uint256).max);
    }

    // ------------------------------------------------------------ helpers

    /// Rent comes into the treasury and the operator distributes `amount` now.
    function _distribute(uint256 amount) internal returns (uint256 id) {
        _depositToTreasury(landlord, amount);
        vm.prank(treasurer);
        id = treasury.fundDistribution(amount, deadline, bytes32("rent"));
    }

    function _claim(address holder, uint256 id) internal returns (uint256) {
        vm.prank(holder);
        return distributor.claim(id);
    }

    function _unknown(uint256 id) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(Distributor.UnknownDistribution.selector, id);
    }

    // ------------------------------------------------------------ constructor

    function test_constructor_storesConfigAndRoles() public view {
        assertEq(address(distributor.shares()), address(shares));
        assertEq(address(distributor.payoutToken()), address(usd));
        assertTrue(distributor.hasRole(distributor.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(distributor.hasRole(distributor.FUNDER_ROLE(), address(treasury)));
        assertFalse(distributor.hasRole(distributor.FUNDER_ROLE(), admin));
        assertEq(distributor.distributionCount(), 0);
    }

    // ------------------------------------------------------------ createDistribution

    function test_createDistribution_emitsAndRecords() public {
        vm.expectEmit(address(shares));
        emit PropertyShares.CheckpointCreated(1, uint64(block.timestamp));
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(funder, address(distributor), 1_000e6);
        vm.expectEmit(address(distributor));
        emit Distributor.DistributionCreated(
            0, 1, uint64(block.timestamp), 1_000e6, 1_000e18, deadline, bytes32("Q1")
        );
        vm.prank(funder);
        uint256 id = distributor.createDistribution(1_000e6, deadline, bytes32("Q1"));

        assertEq(id, 0);
        assertEq(distributor.distributionCount(), 1);
        Distributor.Distribution memory d = distributor.distribution(0);
        assertEq(d.amount, 1_000e6);
        assertEq(d.claimed, 0);
        assertEq(d.supplyAtRecord, 1_000e18);
        assertEq(d.funder, funder);
        assertEq(d.checkpointId, 1);
        assertEq(d.recordTime, block.timestamp);
        assertEq(d.claimDeadline, deadline);
        assertFalse(d.swept);
        assertEq(d.ref, bytes32("Q1"));
        assertEq(distributor.unclaimed(0), 1_000e6);
        assertEq(usd.balanceOf(address(distributor)), 1_000e6);
    }

    function test_createDistribution_idsIncrease() public {
        assertEq(_distribute(100e6), 0);
        assertEq(_distribute(100e6), 1);
        assertEq(distributor.distribution(1).checkpointId, 2);
    }

    function test_createDistribution_revertsForNonFunder() public {
        vm.expectRevert(_unauthorized(mallory, distributor.FUNDER_ROLE()));
        vm.prank(mallory);
        distributor.createDistribution(1, deadline, bytes32(0));
    }

    function test_createDistribution_revertsForZeroAmount() public {
        vm.expectRevert(Distributor.InvalidDistribution.selector);
        vm.prank(funder);
        distributor.createDistribution(0, deadline, bytes32(0));
    }

    function test_createDistribution_revertsWithoutShares() public {
        vm.startPrank(agent);
        shares.burn(alice, 600e18);
        shares.burn(bob, 300e18);
        shares.burn(carol, 100e18);
        vm.stopPrank();
        vm.expectRevert(Distributor.InvalidDistribution.selector);
        vm.prank(funder);
        distributor.createDistribution(1, deadline, bytes32(0));
    }

    function test_createDistribution_revertsForDeadlineNow() public {
        vm.expectRevert(Distributor.InvalidDistribution.selector);
        vm.prank(funder);
        distributor.createDistribution(1, uint64(block.timestamp), bytes32(0));
    }

    function test_createDistribution_revertsForPastDeadline() public {
        vm.expectRevert(Distributor.InvalidDistribution.selector);
        vm.prank(funder);
        distributor.createDistribution(1, uint64(block.timestamp - 1), bytes32(0));
    }

    function test_createDistribution_revertsWithoutAllowance() public {
        vm.prank(funder);
        usd.approve(address(distributor), 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(distributor), 0, 1
            )
        );
        vm.prank(funder);
        distributor.createDistribution(1, deadline, bytes32(0));
    }

    /// Shares of an offering below its soft cap may still be refunded: no record date meanwhile.
    function test_createDistribution_revertsWhileAnOfferingIsUnsettled() public {
        _buy(alice, 10e18);
        vm.expectRevert(abi.encodeWithSelector(Distributor.OfferingUnsettled.selector, address(offering)));
        vm.prank(funder);
        distributor.createDistribution(1_000e6, deadline, bytes32(0));
        _reachSoftCap();
        vm.prank(funder);
        distributor.createDistribution(1_000e6, deadline, bytes32(0));
    }

    function test_createDistribution_refusesATokenThatDeliversLess() public {
        FeeToken fee = new FeeToken();
        Property memory p = _deployProperty(fee);
        bytes32 role = p.distributor.FUNDER_ROLE();
        vm.startPrank(admin);
        p.distributor.grantRole(role, funder);
        p.shares.grantRole(p.shares.MINTER_ROLE(), admin);
        p.shares.mint(alice, 1e18);
        vm.stopPrank();
        fee.mint(funder, 1_000e6);
        vm.startPrank(funder);
        fee.approve(address(p.distributor), 1_000e6);
        vm.expectRevert(abi.encodeWithSelector(Distributor.InexactTransfer.selector, 1_000e6, 990e6));
        p.distributor.createDistribution(1_000e6, deadline, bytes32(0));
        vm.stopPrank();
    }

    function test_createDistribution_revertsWithoutCheckpointRole() public {
        Distributor other = new Distributor(shares, usd, admin);
        bytes32 role = other.FUNDER_ROLE();
        vm.prank(admin);
        other.grantRole(role, funder);
        vm.expectRevert(_unauthorized(address(other), shares.CHECKPOINT_ROLE()));
        vm.prank(funder);
        other.createDistribution(1, deadline, bytes32(0));
    }

    // ------------------------------------------------------------ entitlements

    function test_entitlement_proRataAtRecordDate() public {
        uint256 id = _distribute(1_000e6);
        assertEq(distributor.entitlement(id, alice), 600e6);
        assertEq(distributor.entitlement(id, bob), 300e6);
        assertEq(distributor.entitlement(id, carol), 100e6);
        assertEq(distributor.entitlement(id, mallory), 0);
    }

    function test_entitlement_unaffectedByLaterTransfersMintsAndBurns() public {
        uint256 id = _distribute(1_000e6);
        vm.prank(alice);
        shares.transfer(carol, 500e18);
        _mint(alice2, 1_000e18);
        vm.prank(agent);
        shares.burn(bob, 300e18);

        assertEq(distributor.entitlement(id, alice), 600e6);
        assertEq(distributor.entitlement(id, bob), 300e6);
        assertEq(distributor.entitlement(id, carol), 100e6);
        assertEq(distributor.entitlement(id, alice2), 0);
    }

    function test_entitlement_nextDistributionUsesNewBalances() public {
        _distribute(1_000e6);
        vm.prank(alice);
        shares.transfer(carol, 500e18);
        uint256 id = _distribute(1_000e6);
        assertEq(distributor.entitlement(id, alice), 100e6);
        assertEq(distributor.entitlement(id, carol), 600e6);
    }

    function test_entitlement_roundsDown() public {
        uint256 id = _distribute(1_000e6 + 2); // 600.0000012, 300.0000006, 100.0000002
        assertEq(distributor.entitlement(id, alice), 600e6 + 1);
        assertEq(distributor.entitlement(id, bob), 300e6);
        assertEq(distributor.entitlement(id, carol), 100e6);
    }

    // ------------------------------------------------------------ claim

    function test_claim_paysAndEmits() public {
        uint256 id = _distribute(1_000e6);
        uint256 before = usd.balanceOf(alice);
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(address(distributor), alice, 600e6);
        vm.expectEmit(address(distributor));
        emit Distributor.Claimed(id, alice, alice, 600e6);
        assertEq(_claim(alice, id), 600e6);

        assertEq(usd.balanceOf(alice), before + 600e6);
        assertTrue(distributor.hasClaimed(id, alice));
        assertFalse(distributor.hasClaimed(id, bob));
        assertEq(distributor.distribution(id).claimed, 600e6);
        assertEq(distributor.unclaimed(id), 400e6);
    }

    function test_claimFor_paysTheHolderNotTheCaller() public {
        uint256 id = _distribute(1_000e6);
        uint256 bobBefore = usd.balanceOf(bob);
        vm.expectEmit(address(distributor));
        emit Distributor.Claimed(id, bob, bob, 300e6);
        vm.prank(mallory);
        assertEq(distributor.claimFor(id, bob), 300e6);
        assertEq(usd.balanceOf(bob), bobBefore + 300e6);
        assertEq(usd.balanceOf(mallory), 0);
        assertTrue(distributor.hasClaimed(id, bob));
    }

    function test_claim_atDeadlineAllowed() public {
        uint256 id = _distribute(1_000e6);
        vm.warp(deadline);
        assertEq(_claim(alice, id), 600e6);
    }

    /// A frozen holder's claim is recorded and its amount reserved, and paid by a claim after the
    /// unfreeze, also after the deadline and the sweep.
    function test_claim_frozenHolderIsWithheldUntilUnfrozen() public {
        uint256 id = _distribute(1_000e6);
        _freezeAddress(alice, true);
        uint256 before = usd.balanceOf(alice);
        vm.expectEmit(address(distributor));
        emit Distributor.ClaimWithheld(id, alice, alice, 600e6);
        assertEq(_claim(alice, id), 0);
        assertEq(usd.balanceOf(alice), before);
        assertTrue(distributor.hasClaimed(id, alice));
        assertEq(uint8(distributor.claimState(id, alice)), uint8(Distributor.ClaimState.Withheld));
        assertEq(distributor.unclaimed(id), 400e6, "the withheld payout is reserved");
        vm.expectRevert(abi.encodeWithSelector(Distributor.PayeeFrozen.selector, id, alice));
        distributor.claimFor(id, alice);

        vm.warp(deadline + 1);
        assertEq(distributor.sweep(id), 400e6);
        assertEq(usd.balanceOf(address(distributor)), 600e6);
        _freezeAddress(alice, false);
        vm.expectEmit(address(distributor));
        emit Distributor.Claimed(id, alice, alice, 600e6);
        assertEq(distributor.claimFor(id, alice), 600e6);
        assertEq(usd.balanceOf(alice), before + 600e6);
        assertEq(usd.balanceOf(address(distributor)), 0);
        vm.expectRevert(abi.encodeWithSelector(Distributor.AlreadyClaimed.selector, id, alice));
        _claim(alice, id);
    }

    /// A registry freeze of the wallet's investor, or of the investor its shares are attributed to,
    /// withholds the payout too.
    function test_claim_registryFrozenInvestorIsWithheld() public {
        uint256 id = _distribute(1_000e6);
        _freezeInvestor(BOB, true);
        assertEq(_claim(bob, id), 0);
        _freezeInvestor(BOB, false);
        assertEq(_claim(bob, id), 300e6);

        // Carol's wallet now belongs to bob, whose freeze then holds her record-date payout.
        _reassignWallet(carol, BOB);
        _freezeInvestor(BOB, true);
        assertEq(_claim(carol, id), 0);
        _freezeInvestor(BOB, false);
        assertEq(_claim(carol, id), 100e6);
    }

    function test_claim_unclaimedAfterDeadlineEvenIfFrozen() public {
        uint256 id = _distribute(1_000e6);
        _freezeAddress(alice, true);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(Distributor.ClaimClosed.selector, id));
        _claim(alice, id);
    }

    /// After a recovery, the lost wallet's payout goes to the new wallet, whoever claims it.
    function test_claim_recoveredWalletIsPaidToTheNewWallet() public {
        uint256 id = _distribute(1_000e6);
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
        assertEq(shares.successorOf(alice), alice2);
        uint256 aliceBefore = usd.balanceOf(alice);
        uint256 alice2Before = usd.balanceOf(alice2);
        vm.expectEmit(address(distributor));
        emit Distributor.Claimed(id, alice, alice2, 600e6);
        assertEq(_claim(alice, id), 600e6);
        assertEq(usd.balanceOf(alice), aliceBefore);
        assertEq(usd.balanceOf(alice2), alice2Before + 600e6);
        vm.expectRevert(abi.encodeWithSelector(Distributor.AlreadyClaimed.selector, id, alice));
        distributor.claimFor(id, alice);
    }

    /// Recoveries chain: a wallet recovered into a wallet that is itself recovered later pays the last.
    function test_claim_followsRecoveriesInTurn() public {
        uint256 id = _distribute(1_000e6);
        address alice3 = makeAddr("alice3");
        vm.prank(registrar);
        registry.addWallet(alice3, ALICE);
        vm.startPrank(agent);
        shares.recoverWallet(alice, alice2);
        shares.setAddressFrozen(alice2, false);
        shares.recoverWallet(alice2, alice3);
        vm.stopPrank();
        assertEq(shares.successorOf(alice), alice3);
        vm.prank(agent);
        shares.setAddressFrozen(alice3, false);
        assertEq(distributor.claimFor(id, alice), 600e6);
        assertEq(usd.balanceOf(alice3), 600e6);
    }

    function test_claim_revertsWhenAlreadyClaimed() public {
        uint256 id = _distribute(1_000e6);
        _claim(alice, id);
        vm.expectRevert(abi.encodeWithSelector(Distributor.AlreadyClaimed.selector, id, alice));
        _claim(alice, id);
    }

    function test_claimFor_revertsWhenAlreadyClaimed() public {
        uint256 id = _distribute(1_000e6);
        _claim(alice, id);
        vm.expectRevert(abi.encodeWithSelector(Distributor.AlreadyClaimed.selector, id, alice));
        distributor.claimFor(id, alice);
    }

    function test_claim_revertsWithNothingToClaim() public {
        uint256 id = _distribute(1_000e6);
        vm.expectRevert(abi.encodeWithSelector(Distributor.NothingToClaim.selector, id, mallory));
        _claim(mallory, id);
    }

    function test_claim_revertsForHolderWhoBoughtAfterRecordDate() public {
        uint256 id = _distribute(1_000e6);
        vm.prank(alice);
        shares.transfer(alice2, 100e18);
        vm.expectRevert(abi.encodeWithSelector(Distributor.NothingToClaim.selector, id, alice2));
        _claim(alice2, id);
    }

    function test_claim_revertsWhenEntitlementRoundsToZero() public {
        uint256 id = _distribute(9); // carol: 100e18 * 9 / 1000e18 = 0.9
        vm.expectRevert(abi.encodeWithSelector(Distributor.NothingToClaim.selector, id, carol));
        _claim(carol, id);
    }

    function test_claim_revertsAfterDeadline() public {
        uint256 id = _distribute(1_000e6);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(Distributor.ClaimClosed.selector, id));
        _claim(alice, id);
    }

    function test_claimFor_revertsAfterDeadline() public {
        uint256 id = _distribute(1_000e6);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(Distributor.ClaimClosed.selector, id));
        distributor.claimFor(id, alice);
    }

    function test_claim_revertsAfterSweep() public {
        uint256 id = _distribute(1_000e6);
        vm.warp(deadline + 1);
        distributor.sweep(id);
        vm.expectRevert(abi.encodeWithSelector(Distributor.ClaimClosed.selector, id));
        _claim(alice, id);
    }

    function test_claim_revertsForUnknownDistribution() public {
        vm.expectRevert(_unknown(0));
        _claim(alice, 0);
        _distribute(1_000e6);
        vm.expectRevert(_unknown(1));
        _claim(alice, 1);
    }

    function test_claimFor_revertsForUnknownDistribution() public {
        vm.expectRevert(_unknown(3));
        distributor.claimFor(3, alice);
    }

    function test_views_revertForUnknownDistribution() public {
        vm.expectRevert(_unknown(0));
        distributor.entitlement(0, alice);
        vm.expectRevert(_unknown(0));
        distributor.unclaimed(0);
        vm.expectRevert(_unknown(0));
        distributor.distribution(0);
    }

    // ------------------------------------------------------------ sweep

    function test_sweep_revertsBeforeDeadline() public {
        uint256 id = _distribute(1_000e6);
        vm.expectRevert(abi.encodeWithSelector(Distributor.ClaimStillOpen.selector, id, deadline));
        distributor.sweep(id);
    }

    function test_sweep_revertsAtDeadline() public {
        uint256 id = _distribute(1_000e6);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(Distributor.ClaimStillOpen.selector, id, deadline));
        distributor.sweep(id);
    }

    function test_sweep_returnsUnclaimedAndDustToTreasuryViaDeposit() public {
        uint256 id = _distribute(1_000e6 + 2); // 1 unit of dust
        _claim(alice, id); // 600e6 + 1
        _claim(carol, id); // 100e6
        uint256 expected = 1_000e6 + 2 - (600e6 + 1) - 100e6; // bob's 300e6 + 1 dust
        uint256 depositsBefore = treasury.totals().deposits;
        uint256 availableBefore = treasury.available();
        vm.warp(deadline + 1);

        vm.expectEmit(address(usd));
        emit IERC20.Transfer(address(distributor), address(treasury), expected);
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.Deposited(address(distributor), expected, 2, bytes32(id));
        vm.expectEmit(address(distributor));
        emit Distributor.Swept(id, address(treasury), expected, true);
        vm.prank(mallory); // anyone
        assertEq(distributor.sweep(id), expected);

        assertTrue(distributor.distribution(id).swept);
        assertEq(distributor.unclaimed(id), 0);
        assertEq(usd.balanceOf(address(distributor)), 0);
        assertEq(treasury.totals().deposits, depositsBefore + expected);
        assertEq(treasury.available(), availableBefore + expected);
        assertEq(usd.balanceOf(address(treasury)), treasury.trackedBalance());
    }

    function test_sweep_nothingLeftEmitsZero() public {
        uint256 id = _distribute(1_000e6);
        _claim(alice, id);
        _claim(bob, id);
        _claim(carol, id);
        uint256 depositsBefore = treasury.totals().deposits;
        vm.warp(deadline + 1);
        vm.expectEmit(address(distributor));
        emit Distributor.Swept(id, address(treasury), 0, true);
        assertEq(distributor.sweep(id), 0);
        assertEq(treasury.totals().deposits, depositsBefore);
    }

    /// A funder that is an account (or a contract without `ITreasuryDeposit`) gets a plain transfer.
    function test_sweep_returnsToAPlainFunderByTransfer() public {
        vm.prank(funder);
        uint256 id = distributor.createDistribution(1_000e6, deadline, bytes32("direct"));
        _claim(alice, id);
        uint256 before = usd.balanceOf(funder);
        vm.warp(deadline + 1);
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(address(distributor), funder, 400e6);
        vm.expectEmit(address(distributor));
        emit Distributor.Swept(id, funder, 400e6, false);
        assertEq(distributor.sweep(id), 400e6);
        assertEq(usd.balanceOf(funder), before + 400e6);

        // A contract funder that is not a treasury.
        BatchSender notATreasury = new BatchSender();
        bytes32 role = distributor.FUNDER_ROLE();
        vm.prank(admin);
        distributor.grantRole(role, address(notATreasury));
        vm.prank(admin);
        usd.mint(address(notATreasury), 100e6);
        vm.prank(address(notATreasury));
        usd.approve(address(distributor), 100e6);
        vm.prank(address(notATreasury));
        id = distributor.createDistribution(100e6, uint64(block.timestamp + 1), bytes32(0));
        vm.warp(block.timestamp + 2);
        assertEq(distributor.sweep(id), 100e6);
        assertEq(usd.balanceOf(address(notATreasury)), 100e6);
    }

    /// A holder called back by the payout token's hook while being paid cannot claim again.
    function test_claim_refusesReentry() public {
        HookToken hook = new HookToken();
        Property memory p = _deployProperty(hook);
        Reenterer wallet = new Reenterer();
        bytes32 walletId = keccak256("investor:contract wallet");
        vm.startPrank(registrar);
        registry.setInvestor(walletId, US, true, uint64(block.timestamp + 365 days));
        registry.addWallet(address(wallet), walletId);
        vm.stopPrank();
        vm.startPrank(admin);
        p.shares.grantRole(p.shares.MINTER_ROLE(), admin);
        p.shares.mint(address(wallet), 1e18);
        p.shares.mint(alice, 1e18);
        p.distributor.grantRole(p.distributor.FUNDER_ROLE(), address(this));
        vm.stopPrank();
        hook.mint(address(this), 1_000e6);
        hook.approve(address(p.distributor), 1_000e6);
        uint256 id = p.distributor.createDistribution(1_000e6, deadline, bytes32(0));
        wallet.approve(hook, address(p.distributor));

        (bool ok,) = wallet.attack(
            address(p.distributor),
            abi.encodeCall(Distributor.claim, (id)),
            address(p.distributor),
            abi.encodeCall(Distributor.claimFor, (id, alice))
        );
        assertTrue(ok, "the wallet's own claim goes through");
        assertFalse(wallet.reentered(), "the claim made from inside the payout was refused");
        assertEq(
            wallet.reentryResult(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(hook.balanceOf(address(wallet)), 500e6);
        assertFalse(p.distributor.hasClaimed(id, alice));
    }

    function test_sweep_revertsWhenAlreadySwept() public {
        uint256 id = _distribute(1_000e6);
        vm.warp(deadline + 1);
        distributor.sweep(id);
        vm.expectRevert(abi.encodeWithSelector(Distributor.ClaimClosed.selector, id));
        distributor.sweep(id);
    }

    function test_sweep_revertsForUnknownDistribution() public {
        vm.expectRevert(_unknown(0));
        distributor.sweep(0);
    }

    function test_sweep_leavesOtherDistributionsFunded() public {
        uint256 first = _distribute(1_000e6);
        vm.warp(block.timestamp + 30 days);
        deadline = uint64(block.timestamp + 365 days);
        uint256 second = _distribute(500e6);
        vm.warp(distributor.distribution(first).claimDeadline + 1);
        distributor.sweep(first);
        assertEq(usd.balanceOf(address(distributor)), 500e6);
        assertEq(_claim(alice, second), 300e6);
    }

    // ------------------------------------------------------------ fuzz

    /// Rounding never over-pays and loses less than one unit per holder; claims plus the sweep return
    /// exactly the funded amount.
    function testFuzz_entitlements_sumAtMostAmountDustBelowHolderCount(
        uint96 a,
        uint96 a2,
        uint96 b,
        uint96 c,
        uint256 amount
    ) public {
        // start from a clean supply
        vm.startPrank(agent);
        shares.burn(alice, 600e18);
        shares.burn(bob, 300e18);
        shares.burn(carol, 100e18);
        vm.stopPrank();
        address[4] memory holders = [alice, alice2, bob, carol];
        uint96[4] memory balances = [a, a2, b, c];
        uint256 nonZero;
        for (uint256 i = 0; i < 4; i++) {
            if (balances[i] != 0) {
                _mint(holders[i], balances[i]);
                nonZero++;
            }
        }
        vm.assume(nonZero != 0);
        amount = bound(amount, 1, 1e30);
        uint256 id = _distribute(amount);

        uint256 sum;
        for (uint256 i = 0; i < 4; i++) {
            sum += distributor.entitlement(id, holders[i]);
        }
        assertLe(sum, amount);
        assertLt(amount - sum, nonZero);

        for (uint256 i = 0; i < 4; i++) {
            if (distributor.entitlement(id, holders[i]) != 0) _claim(holders[i], id);
        }
        assertEq(distributor.unclaimed(id), amount - sum);
        uint256 treasuryBefore = usd.balanceOf(address(treasury));
        vm.warp(deadline + 1);
        assertEq(distributor.sweep(id), amount - sum);
        assertEq(usd.balanceOf(address(treasury)), treasuryBefore + amount - sum);
        assertEq(usd.balanceOf(address(distributor)), 0);
    }

    /// Whatever moves after the record date, entitlements stay those of the record date.
    function testFuzz_entitlement_fixedAtRecordDate(uint96 moved, uint96 minted, uint256 amount) public {
        amount = bound(amount, 1, 1e30);
        uint256 id = _distribute(amount);
        uint256 aliceBefore = distributor.entitlement(id, alice);
        uint256 carolBefore = distributor.entitlement(id, carol);

        vm.prank(alice);
        shares.transfer(carol, bound(moved, 0, 600e18));
        _mint(carol, minted);

        assertEq(distributor.entitlement(id, alice), aliceBefore);
        assertEq(distributor.entitlement(id, carol), carolBefore);
        assertEq(aliceBefore, amount * 600 / 1_000);
    }
}
