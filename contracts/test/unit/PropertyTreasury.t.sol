// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {UnitBase} from "./UnitBase.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {Distributor, ITreasuryDeposit} from "../../src/Distributor.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {FeeToken, HookToken, Reenterer} from "../utils/Adversaries.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

contract PropertyTreasuryTest is UnitBase {
    bytes32 internal constant ROOF = bytes32("roof");
    bytes32 internal constant INVOICE = keccak256("invoice-17");
    /// Stands in for an offering contract.
    address internal seller = makeAddr("seller");

    function setUp() public override {
        super.setUp();
        bytes32 role = treasury.OFFERING_ROLE();
        vm.prank(admin);
        treasury.grantRole(role, seller);
    }

    // ------------------------------------------------------------ helpers

    function _sellerRef() internal view returns (bytes32) {
        return bytes32(uint256(uint160(seller)));
    }

    /// What an offering does: move the price into the treasury, then record it.
    function _proceeds(address investor, uint256 amount, bool escrow) internal {
        vm.prank(admin);
        usd.mint(address(treasury), amount);
        vm.prank(seller);
        treasury.recordOfferingProceeds(investor, amount, escrow);
    }

    function _budget(bytes32 line, uint256 amount) internal {
        vm.prank(treasurer);
        treasury.setBudgetLine(line, amount);
    }

    function _draw(uint256 amount) internal returns (uint256) {
        vm.prank(treasurer);
        return treasury.releaseDraw(contractor, amount, ROOF, INVOICE);
    }

    function _assertTotalsIdentity() internal view {
        PropertyTreasury.Totals memory t = treasury.totals();
        uint256 tracked = t.deposits - t.draws - t.distributions - t.refunds;
        assertEq(treasury.trackedBalance(), tracked, "tracked balance");
        assertEq(usd.balanceOf(address(treasury)), tracked, "token balance");
        assertEq(treasury.available(), tracked - t.escrowed, "available");
    }

    // ------------------------------------------------------------ constructor

    function test_constructor_storesConfigAndRoles() public view {
        assertEq(address(treasury.settlementToken()), address(usd));
        assertEq(treasury.propertyId(), propertyId);
        assertEq(treasury.DEPOSIT_DIRECT(), 0);
        assertEq(treasury.DEPOSIT_OFFERING(), 1);
        assertEq(treasury.DEPOSIT_UNCLAIMED(), 2);
        assertEq(address(treasury.distributor()), address(distributor));
        assertTrue(treasury.hasRole(treasury.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(treasury.hasRole(treasury.TREASURER_ROLE(), treasurer));
        assertFalse(treasury.hasRole(treasury.TREASURER_ROLE(), admin));
        assertTrue(treasury.hasRole(treasury.OFFERING_ROLE(), address(offering)));
        assertEq(treasury.available(), 0);
        assertEq(treasury.drawCount(), 0);
    }

    function test_grantRole_revertsForNonAdmin() public {
        bytes32 role = treasury.TREASURER_ROLE();
        vm.expectRevert(_unauthorized(mallory, treasury.DEFAULT_ADMIN_ROLE()));
        vm.prank(mallory);
        treasury.grantRole(role, mallory);
    }

    // ------------------------------------------------------------ deposit

    function test_deposit_emitsDepositedAndPullsFunds() public {
        vm.prank(bob);
        usd.approve(address(treasury), 1_000e6);
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(bob, address(treasury), 1_000e6);
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.Deposited(bob, 1_000e6, 0, bytes32("rent-2024-01"));
        vm.prank(bob);
        treasury.deposit(1_000e6, bytes32("rent-2024-01"));

        assertEq(treasury.totals().deposits, 1_000e6);
        assertEq(treasury.available(), 1_000e6);
        _assertTotalsIdentity();
    }

    function test_deposit_revertsForZeroAmount() public {
        vm.expectRevert(PropertyTreasury.ZeroAmount.selector);
        vm.prank(bob);
        treasury.deposit(0, bytes32(0));
    }

    function test_deposit_revertsWithoutAllowance() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(treasury), 0, 1e6
            )
        );
        vm.prank(bob);
        treasury.deposit(1e6, bytes32(0));
    }

    // ------------------------------------------------------------ offering proceeds and escrow

    function test_recordOfferingProceeds_escrowedEmitsDeposited() public {
        vm.prank(admin);
        usd.mint(address(treasury), 500e6);
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.Deposited(alice, 500e6, 1, _sellerRef());
        vm.prank(seller);
        treasury.recordOfferingProceeds(alice, 500e6, true);

        assertEq(treasury.totals().deposits, 500e6);
        assertEq(treasury.totals().escrowed, 500e6);
        assertEq(treasury.available(), 0);
        _assertTotalsIdentity();
    }

    function test_recordOfferingProceeds_withoutEscrowIsAvailable() public {
        _proceeds(alice, 500e6, false);
        assertEq(treasury.totals().escrowed, 0);
        assertEq(treasury.available(), 500e6);
    }

    function test_recordOfferingProceeds_revertsForZeroAmount() public {
        vm.expectRevert(PropertyTreasury.ZeroAmount.selector);
        vm.prank(seller);
        treasury.recordOfferingProceeds(alice, 0, true);
    }

    function test_recordOfferingProceeds_revertsForNonOffering() public {
        vm.expectRevert(_unauthorized(admin, treasury.OFFERING_ROLE()));
        vm.prank(admin);
        treasury.recordOfferingProceeds(alice, 1, true);
    }

    function test_releaseEscrow_emitsEscrowReleased() public {
        _proceeds(alice, 500e6, true);
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.EscrowReleased(seller, 300e6);
        vm.prank(seller);
        treasury.releaseEscrow(300e6);
        assertEq(treasury.totals().escrowed, 200e6);
        assertEq(treasury.available(), 300e6);
        _assertTotalsIdentity();
    }

    function test_releaseEscrow_revertsAboveEscrowed() public {
        _proceeds(alice, 500e6, true);
        vm.expectRevert(abi.encodeWithSelector(PropertyTreasury.EscrowExceeded.selector, 500e6, 500e6 + 1));
        vm.prank(seller);
        treasury.releaseEscrow(500e6 + 1);
    }

    function test_releaseEscrow_revertsForNonOffering() public {
        vm.expectRevert(_unauthorized(mallory, treasury.OFFERING_ROLE()));
        vm.prank(mallory);
        treasury.releaseEscrow(0);
    }

    function test_refund_emitsRefundedAndPaysInvestor() public {
        _proceeds(alice, 500e6, true);
        uint256 before = usd.balanceOf(alice);
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(address(treasury), alice, 500e6);
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.Refunded(seller, alice, 500e6);
        vm.prank(seller);
        treasury.refund(alice, 500e6);

        assertEq(usd.balanceOf(alice), before + 500e6);
        assertEq(treasury.totals().refunds, 500e6);
        assertEq(treasury.totals().escrowed, 0);
        _assertTotalsIdentity();
    }

    function test_refund_revertsForZeroAmount() public {
        vm.expectRevert(PropertyTreasury.ZeroAmount.selector);
        vm.prank(seller);
        treasury.refund(alice, 0);
    }

    function test_refund_revertsAboveEscrowed() public {
        _proceeds(alice, 500e6, false); // not escrowed: cannot be refunded
        vm.expectRevert(abi.encodeWithSelector(PropertyTreasury.EscrowExceeded.selector, 0, 1));
        vm.prank(seller);
        treasury.refund(alice, 1);
    }

    function test_refund_revertsForNonOffering() public {
        vm.expectRevert(_unauthorized(admin, treasury.OFFERING_ROLE()));
        vm.prank(admin);
        treasury.refund(alice, 1);
    }

    // ------------------------------------------------------------ budget lines

    function test_setBudgetLine_emitsBudgetLineSet() public {
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.BudgetLineSet(ROOF, 10_000e6);
        _budget(ROOF, 10_000e6);
        PropertyTreasury.BudgetLine memory b = treasury.budgetLine(ROOF);
        assertEq(b.budget, 10_000e6);
        assertEq(b.drawn, 0);
    }

    function test_setBudgetLine_revertsForNonTreasurer() public {
        vm.expectRevert(_unauthorized(mallory, treasury.TREASURER_ROLE()));
        vm.prank(mallory);
        treasury.setBudgetLine(ROOF, 1);
    }

    function test_setBudgetLine_revertsBelowDrawn() public {
        _depositToTreasury(bob, 10_000e6);
        _budget(ROOF, 5_000e6);
        _draw(3_000e6);
        vm.expectRevert(abi.encodeWithSelector(PropertyTreasury.BudgetBelowDrawn.selector, ROOF, 3_000e6));
        vm.prank(treasurer);
        treasury.setBudgetLine(ROOF, 3_000e6 - 1);
    }

    function test_setBudgetLine_replanDownToDrawn() public {
        _depositToTreasury(bob, 10_000e6);
        _budget(ROOF, 5_000e6);
        _draw(3_000e6);
        _budget(ROOF, 3_000e6);
        assertEq(treasury.budgetLine(ROOF).budget, 3_000e6);
        assertEq(treasury.budgetLine(ROOF).drawn, 3_000e6);
    }

    function test_setBudgetLine_revertsAboveUint128() public {
        uint256 tooBig = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 128, tooBig));
        vm.prank(treasurer);
        treasury.setBudgetLine(ROOF, tooBig);
    }

    // ------------------------------------------------------------ draws

    function test_releaseDraw_emitsDrawReleasedAndPays() public {
        _depositToTreasury(bob, 10_000e6);
        _budget(ROOF, 5_000e6);
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(address(treasury), contractor, 2_000e6);
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.DrawReleased(1, contractor, ROOF, INVOICE, 2_000e6);
        assertEq(_draw(2_000e6), 1);

        assertEq(usd.balanceOf(contractor), 2_000e6);
        assertEq(treasury.drawCount(), 1);
        assertEq(treasury.budgetLine(ROOF).drawn, 2_000e6);
        assertEq(treasury.totals().draws, 2_000e6);
        _assertTotalsIdentity();
    }

    function test_releaseDraw_idsIncrease() public {
        _depositToTreasury(bob, 10_000e6);
        _budget(ROOF, 5_000e6);
        assertEq(_draw(1_000e6), 1);
        assertEq(_draw(1_000e6), 2);
        assertEq(treasury.drawCount(), 2);
    }

    function test_releaseDraw_wholeBudgetAllowed() public {
        _depositToTreasury(bob, 10_000e6);
        _budget(ROOF, 5_000e6);
        _draw(5_000e6);
        assertEq(treasury.budgetLine(ROOF).drawn, 5_000e6);
    }

    function test_releaseDraw_revertsOverBudget() public {
        _depositToTreasury(bob, 10_000e6);
        _budget(ROOF, 5_000e6);
        _draw(4_000e6);
        vm.expectRevert(
            abi.encodeWithSelector(PropertyTreasury.OverBudget.selector, ROOF, 1_000e6, 1_000e6 + 1)
        );
        _draw(1_000e6 + 1);
    }

    function test_releaseDraw_revertsOnUnplannedLine() public {
        _depositToTreasury(bob, 10_000e6);
        vm.expectRevert(abi.encodeWithSelector(PropertyTreasury.OverBudget.selector, ROOF, 0, 1));
        _draw(1);
    }

    function test_releaseDraw_revertsOnInsufficientFunds() public {
        _depositToTreasury(bob, 1_000e6);
        _budget(ROOF, 5_000e6);
        vm.expectRevert(
            abi.encodeWithSelector(PropertyTreasury.InsufficientFunds.selector, 1_000e6, 1_000e6 + 1)
        );
        _draw(1_000e6 + 1);
    }

    function test_releaseDraw_revertsWhenFundsAreEscrowed() public {
        _buy(alice, 100e18); // 5 000 tUSD held in escrow: the soft cap is not met
        _depositToTreasury(bob, 1_000e6);
        _budget(ROOF, 10_000e6);
        assertEq(usd.balanceOf(address(treasury)), 6_000e6);
        vm.expectRevert(abi.encodeWithSelector(PropertyTreasury.InsufficientFunds.selector, 1_000e6, 2_000e6));
        _draw(2_000e6);
    }

    function test_releaseDraw_revertsForZeroContractor() public {
        _budget(ROOF, 5_000e6);
        vm.expectRevert(PropertyTreasury.ZeroAddress.selector);
        vm.prank(treasurer);
        treasury.releaseDraw(address(0), 1, ROOF, INVOICE);
    }

    function test_releaseDraw_revertsForZeroAmount() public {
        _budget(ROOF, 5_000e6);
        vm.expectRevert(PropertyTreasury.ZeroAmount.selector);
        vm.prank(treasurer);
        treasury.releaseDraw(contractor, 0, ROOF, INVOICE);
    }

    function test_releaseDraw_revertsForNonTreasurer() public {
        vm.expectRevert(_unauthorized(mallory, treasury.TREASURER_ROLE()));
        vm.prank(mallory);
        treasury.releaseDraw(contractor, 1, ROOF, INVOICE);
    }

    // ------------------------------------------------------------ distributions

    function test_fundDistribution_emitsAndMovesFunds() public {
        _mint(alice, 100e18);
        _depositToTreasury(bob, 10_000e6);
        uint64 deadline = uint64(block.timestamp + 90 days);

        vm.expectEmit(address(usd));
        emit IERC20.Approval(address(treasury), address(distributor), 4_000e6);
        vm.expectEmit(address(distributor));
        emit Distributor.DistributionCreated(
            0, 1, uint64(block.timestamp), 4_000e6, 100e18, deadline, bytes32("Q1")
        );
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.DistributionFunded(address(distributor), 0, 4_000e6, bytes32("Q1"));
        vm.prank(treasurer);
        uint256 id = treasury.fundDistribution(4_000e6, deadline, bytes32("Q1"));

        assertEq(id, 0);
        assertEq(usd.balanceOf(address(distributor)), 4_000e6);
        assertEq(usd.allowance(address(treasury), address(distributor)), 0);
        assertEq(treasury.totals().distributions, 4_000e6);
        assertEq(treasury.available(), 6_000e6);
        _assertTotalsIdentity();
    }

    function test_fundDistribution_revertsForZeroAmount() public {
        vm.expectRevert(PropertyTreasury.ZeroAmount.selector);
        vm.prank(treasurer);
        treasury.fundDistribution(0, uint64(block.timestamp + 1 days), bytes32(0));
    }

    function test_fundDistribution_revertsOnInsufficientFunds() public {
        _mint(alice, 100e18);
        _depositToTreasury(bob, 1_000e6);
        vm.expectRevert(
            abi.encodeWithSelector(PropertyTreasury.InsufficientFunds.selector, 1_000e6, 1_000e6 + 1)
        );
        vm.prank(treasurer);
        treasury.fundDistribution(1_000e6 + 1, uint64(block.timestamp + 1 days), bytes32(0));
    }

    function test_fundDistribution_revertsWhenFundsAreEscrowed() public {
        _buy(alice, 100e18);
        vm.expectRevert(abi.encodeWithSelector(PropertyTreasury.InsufficientFunds.selector, 0, 1));
        vm.prank(treasurer);
        treasury.fundDistribution(1, uint64(block.timestamp + 1 days), bytes32(0));
    }

    function test_fundDistribution_bubblesDistributorRejection() public {
        _depositToTreasury(bob, 1_000e6); // no shares outstanding
        vm.expectRevert(Distributor.InvalidDistribution.selector);
        vm.prank(treasurer);
        treasury.fundDistribution(1_000e6, uint64(block.timestamp + 1 days), bytes32(0));
    }

    function test_fundDistribution_revertsForNonTreasurer() public {
        vm.expectRevert(_unauthorized(mallory, treasury.TREASURER_ROLE()));
        vm.prank(mallory);
        treasury.fundDistribution(1, uint64(block.timestamp + 1 days), bytes32(0));
    }

    function test_constructor_revertsWithoutDistributor() public {
        vm.expectRevert(PropertyTreasury.ZeroAddress.selector);
        new PropertyTreasury(usd, propertyId, Distributor(address(0)), admin, treasurer);
    }

    // ------------------------------------------------------------ per-offering escrow

    /// Each offering releases and refunds only what it escrowed itself.
    function test_escrow_isKeptPerOffering() public {
        address other = makeAddr("other offering");
        bytes32 role = treasury.OFFERING_ROLE();
        vm.prank(admin);
        treasury.grantRole(role, other);
        _proceeds(alice, 500e6, true);
        vm.prank(admin);
        usd.mint(address(treasury), 300e6);
        vm.prank(other);
        treasury.recordOfferingProceeds(bob, 300e6, true);
        assertEq(treasury.escrowOf(seller), 500e6);
        assertEq(treasury.escrowOf(other), 300e6);
        assertEq(treasury.totals().escrowed, 800e6);

        vm.expectRevert(abi.encodeWithSelector(PropertyTreasury.EscrowExceeded.selector, 300e6, 500e6));
        vm.prank(other);
        treasury.releaseEscrow(500e6);
        vm.expectRevert(abi.encodeWithSelector(PropertyTreasury.EscrowExceeded.selector, 300e6, 301e6));
        vm.prank(other);
        treasury.refund(bob, 301e6);

        vm.prank(other);
        treasury.releaseEscrow(300e6);
        assertEq(treasury.escrowOf(other), 0);
        assertEq(treasury.escrowOf(seller), 500e6, "the other offering's escrow is untouched");
        vm.prank(seller);
        treasury.refund(alice, 500e6);
        assertEq(treasury.totals().escrowed, 0);
        _assertTotalsIdentity();
    }

    // ------------------------------------------------------------ deposits from the distributor

    function test_deposit_fromTheDistributorIsUnclaimedKind() public {
        vm.prank(admin);
        usd.mint(address(distributor), 70e6);
        vm.prank(address(distributor));
        usd.approve(address(treasury), 70e6);
        vm.expectEmit(address(treasury));
        emit PropertyTreasury.Deposited(address(distributor), 70e6, 2, bytes32(uint256(3)));
        vm.prank(address(distributor));
        treasury.deposit(70e6, bytes32(uint256(3)));
        _assertTotalsIdentity();
    }

    function test_supportsInterface_answersForTreasuryDeposits() public view {
        assertTrue(treasury.supportsInterface(type(ITreasuryDeposit).interfaceId));
        assertTrue(treasury.supportsInterface(type(IERC165).interfaceId));
        assertFalse(treasury.supportsInterface(0xffffffff));
    }

    // ------------------------------------------------------------ tokens that deliver less

    function test_deposit_refusesATokenThatDeliversLess() public {
        FeeToken fee = new FeeToken();
        Property memory p = _deployProperty(fee);
        fee.mint(bob, 1_000e6);
        vm.startPrank(bob);
        fee.approve(address(p.treasury), 1_000e6);
        vm.expectRevert(abi.encodeWithSelector(PropertyTreasury.InexactTransfer.selector, 1_000e6, 990e6));
        p.treasury.deposit(1_000e6, bytes32("rent"));
        vm.stopPrank();
        assertEq(p.treasury.totals().deposits, 0);
    }

    // ------------------------------------------------------------ re-entry

    /// A depositor called back by the settlement token's hook cannot deposit again in the middle.
    function test_deposit_refusesReentry() public {
        HookToken hook = new HookToken();
        Property memory p = _deployProperty(hook);
        Reenterer wallet = new Reenterer();
        hook.mint(address(wallet), 2_000e6);
        wallet.approve(hook, address(p.treasury));
        (bool ok,) = wallet.attack(
            address(p.treasury),
            abi.encodeCall(PropertyTreasury.deposit, (1_000e6, bytes32("outer"))),
            address(p.treasury),
            abi.encodeCall(PropertyTreasury.deposit, (500e6, bytes32("inner")))
        );
        assertTrue(ok, "the outer deposit goes through");
        assertFalse(wallet.reentered(), "the inner deposit was refused");
        assertEq(
            wallet.reentryResult(),
            abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)
        );
        assertEq(p.treasury.totals().deposits, 1_000e6);
        assertEq(hook.balanceOf(address(p.treasury)), p.treasury.trackedBalance());
    }

    // ------------------------------------------------------------ fuzz

    /// Any sequence of deposits, proceeds, escrow releases, refunds, draws and distributions keeps
    /// trackedBalance == deposits - draws - distributions - refunds == the token balance, and
    /// available == trackedBalance - escrowed.
    function testFuzz_totals_identityHoldsAfterRandomOperations(uint256 seed) public {
        _mint(alice, 100e18);
        _budget(ROOF, type(uint128).max);
        for (uint256 i = 0; i < 24; i++) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 amount = (r >> 8) % 10_000e6 + 1;
            uint256 op = r % 6;
            PropertyTreasury.Totals memory t = treasury.totals();
            if (op == 0) {
                _depositToTreasury(bob, amount);
            } else if (op == 1) {
                _proceeds(carol, amount, (r >> 200) % 2 == 0);
            } else if (op == 2) {
                if (t.escrowed == 0) continue;
                vm.prank(seller);
                treasury.releaseEscrow(amount % t.escrowed + 1);
            } else if (op == 3) {
                if (t.escrowed == 0) continue;
                vm.prank(seller);
                treasury.refund(carol, amount % t.escrowed + 1);
            } else if (op == 4) {
                uint256 free = treasury.available();
                if (free == 0) continue;
                _draw(amount % free + 1);
            } else {
                uint256 free = treasury.available();
                if (free == 0) continue;
                vm.prank(treasurer);
                treasury.fundDistribution(amount % free + 1, uint64(block.timestamp + 1), bytes32(i));
            }
            _assertTotalsIdentity();
        }
    }

    /// A draw succeeds iff it fits both the budget line and the free funds.
    function testFuzz_releaseDraw_boundedByBudgetAndFunds(uint96 funds, uint96 budget, uint96 amount) public {
        funds = uint96(bound(funds, 1, type(uint96).max));
        amount = uint96(bound(amount, 1, type(uint96).max));
        _depositToTreasury(bob, funds);
        _budget(ROOF, budget);
        if (amount > budget) {
            vm.expectRevert(
                abi.encodeWithSelector(PropertyTreasury.OverBudget.selector, ROOF, budget, amount)
            );
        } else if (amount > funds) {
            vm.expectRevert(
                abi.encodeWithSelector(PropertyTreasury.InsufficientFunds.selector, funds, amount)
            );
        }
        _draw(amount);
        _assertTotalsIdentity();
    }
}
