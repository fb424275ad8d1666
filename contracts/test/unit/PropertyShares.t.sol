// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {UnitBase} from "./UnitBase.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {ReasonCodes} from "../../src/ReasonCodes.sol";

// =====================================================================================================
// ERC-20 surface, metadata and roles
// =====================================================================================================

contract PropertySharesErc20Test is UnitBase {
    function setUp() public override {
        super.setUp();
        _mint(alice, 100e18);
    }

    function test_metadata() public view {
        assertEq(shares.name(), "Elm St Shares");
        assertEq(shares.symbol(), "ELM");
        assertEq(shares.decimals(), 18);
        assertEq(shares.propertyId(), propertyId);
        assertEq(address(shares.registry()), address(registry));
        assertEq(address(shares.compliance()), address(compliance));
    }

    function test_constructor_grantsAdminAndAgentRoles() public view {
        assertTrue(shares.hasRole(shares.DEFAULT_ADMIN_ROLE(), admin));
        assertEq(shares.defaultAdmin(), admin);
        assertTrue(shares.hasRole(shares.AGENT_ROLE(), agent));
        assertFalse(shares.hasRole(shares.AGENT_ROLE(), admin));
        assertFalse(shares.hasRole(shares.DEFAULT_ADMIN_ROLE(), agent));
        assertFalse(shares.hasRole(shares.MINTER_ROLE(), mallory));
    }

    function test_supportsInterface() public view {
        assertTrue(shares.supportsInterface(type(IERC20).interfaceId));
        assertTrue(shares.supportsInterface(type(IAccessControl).interfaceId));
        assertTrue(shares.supportsInterface(type(IERC165).interfaceId));
        assertFalse(shares.supportsInterface(0xffffffff));
    }

    function test_grantRole_revertsForNonAdmin() public {
        bytes32 role = shares.AGENT_ROLE();
        vm.expectRevert(_unauthorized(mallory, shares.DEFAULT_ADMIN_ROLE()));
        vm.prank(mallory);
        shares.grantRole(role, mallory);
    }

    function test_transfer_emitsTransfer() public {
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(alice, bob, 10e18);
        vm.prank(alice);
        assertTrue(shares.transfer(bob, 10e18));
        assertEq(shares.balanceOf(alice), 90e18);
        assertEq(shares.balanceOf(bob), 10e18);
        assertEq(shares.totalSupply(), 100e18);
    }

    function test_transfer_revertsToZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        vm.prank(alice);
        shares.transfer(address(0), 1);
    }

    function test_transfer_toSelfKeepsBalanceAndCount() public {
        vm.prank(alice);
        shares.transfer(alice, 100e18);
        assertEq(shares.balanceOf(alice), 100e18);
        assertEq(shares.investorCount(), 1);
        assertEq(shares.investorBalance(aliceNo), 100e18);
    }

    function test_approve_emitsApproval() public {
        vm.expectEmit(address(shares));
        emit IERC20.Approval(alice, bob, 5e18);
        vm.prank(alice);
        assertTrue(shares.approve(bob, 5e18));
        assertEq(shares.allowance(alice, bob), 5e18);
    }

    function test_approve_revertsForZeroSpender() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidSpender.selector, address(0)));
        vm.prank(alice);
        shares.approve(address(0), 1);
    }

    function test_transferFrom_spendsAllowance() public {
        vm.prank(alice);
        shares.approve(mallory, 10e18);
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(alice, bob, 4e18);
        vm.prank(mallory);
        assertTrue(shares.transferFrom(alice, bob, 4e18));
        assertEq(shares.allowance(alice, mallory), 6e18);
        assertEq(shares.balanceOf(bob), 4e18);
    }

    function test_transferFrom_infiniteAllowanceIsNotSpent() public {
        vm.prank(alice);
        shares.approve(mallory, type(uint256).max);
        vm.prank(mallory);
        shares.transferFrom(alice, bob, 4e18);
        assertEq(shares.allowance(alice, mallory), type(uint256).max);
    }

    function test_transferFrom_revertsOnInsufficientAllowance() public {
        vm.prank(alice);
        shares.approve(mallory, 3e18);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, mallory, 3e18, 4e18)
        );
        vm.prank(mallory);
        shares.transferFrom(alice, bob, 4e18);
    }

    function test_transferFrom_revertsToZeroAddress() public {
        vm.prank(alice);
        shares.approve(mallory, 10e18);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        vm.prank(mallory);
        shares.transferFrom(alice, address(0), 1);
    }

    function test_transferFrom_revertsFromZeroAddress() public {
        vm.prank(address(0));
        shares.approve(mallory, 1);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidSender.selector, address(0)));
        vm.prank(mallory);
        shares.transferFrom(address(0), bob, 0);
    }

    // ---- zero-value transfers (ERC-20: a transfer of 0 is a normal transfer)

    function test_transfer_zeroIsAllowedWhateverTheRules() public {
        _setRules(false, false, 1, 0, 0, 10e18);
        _pause(true);
        assertEq(shares.canTransfer(alice, mallory, 0), 0);
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(alice, mallory, 0);
        vm.prank(alice);
        assertTrue(shares.transfer(mallory, 0));
        // Nothing moved and nobody was attributed.
        assertEq(shares.balanceOf(mallory), 0);
        assertEq(shares.holder(mallory).investorNo, 0);
        assertEq(shares.investorCount(), 1);
        vm.prank(mallory); // a wallet without shares may send nothing too
        assertTrue(shares.transfer(bob, 0));
    }

    function test_transferFrom_zeroNeedsAnAllowance() public {
        vm.recordLogs();
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, mallory, 0, 0)
        );
        vm.prank(mallory);
        shares.transferFrom(alice, mallory, 0);
        assertEq(vm.getRecordedLogs().length, 0, "no transfer is logged for a wallet that approved nothing");
        vm.prank(alice);
        shares.approve(mallory, 1);
        vm.prank(mallory);
        assertTrue(shares.transferFrom(alice, bob, 0));
        assertEq(shares.allowance(alice, mallory), 1, "a zero transfer spends nothing");
    }

    function test_transferFrom_appliesTransferRestrictionsToOwner() public {
        vm.prank(alice);
        shares.approve(mallory, 10e18);
        _freezeAddress(alice, true);
        vm.expectRevert(_restricted(ReasonCodes.SENDER_FROZEN));
        vm.prank(mallory);
        shares.transferFrom(alice, bob, 1e18);
    }

    function test_transferFrom_spenderFreezeIsIrrelevant() public {
        vm.prank(alice);
        shares.approve(carol, 10e18);
        _freezeAddress(carol, true);
        vm.prank(carol);
        shares.transferFrom(alice, bob, 1e18);
        assertEq(shares.balanceOf(bob), 1e18);
    }

    function test_messageForTransferRestriction_everyCode() public view {
        assertEq(shares.messageForTransferRestriction(0), "allowed");
        assertEq(shares.messageForTransferRestriction(1), "token is paused");
        assertEq(shares.messageForTransferRestriction(2), "sender is frozen");
        assertEq(shares.messageForTransferRestriction(3), "recipient is frozen");
        assertEq(
            shares.messageForTransferRestriction(4), "recipient is not a verified investor or KYC expired"
        );
        assertEq(shares.messageForTransferRestriction(5), "insufficient balance");
        assertEq(shares.messageForTransferRestriction(6), "insufficient unfrozen balance");
        assertEq(shares.messageForTransferRestriction(7), "recipient country is not allowed");
        assertEq(shares.messageForTransferRestriction(8), "recipient is not accredited");
        assertEq(shares.messageForTransferRestriction(9), "lock-up period is active");
        assertEq(shares.messageForTransferRestriction(10), "maximum number of investors reached");
        assertEq(shares.messageForTransferRestriction(11), "maximum balance per investor exceeded");
        assertEq(shares.messageForTransferRestriction(12), "holding would fall below the minimum");
        assertEq(
            shares.messageForTransferRestriction(13), "unsettled offering shares cannot leave the investor"
        );
        assertEq(
            shares.messageForTransferRestriction(14), "jurisdiction groups of sender and recipient differ"
        );
        assertEq(shares.messageForTransferRestriction(15), "daily transfer limit exceeded");
        assertEq(shares.messageForTransferRestriction(16), "monthly transfer limit exceeded");
        assertEq(
            shares.messageForTransferRestriction(17), "maximum number of investors in the country reached"
        );
        assertEq(shares.messageForTransferRestriction(18), "supply cap exceeded");
        assertEq(shares.messageForTransferRestriction(19), "unknown restriction");
        assertEq(shares.messageForTransferRestriction(255), "unknown restriction");
    }

    function test_holder_reportsPackedState() public {
        _freezePartial(alice, 10e18);
        PropertyShares.Holder memory h = shares.holder(alice);
        assertEq(h.balance, 100e18);
        assertEq(h.investorNo, aliceNo);
        assertFalse(h.frozen);
        assertTrue(h.hasFrozenTokens);
    }
}

// =====================================================================================================
// canTransfer / transfer: every reason code
// =====================================================================================================

contract PropertySharesTransferRestrictionsTest is UnitBase {
    function setUp() public override {
        super.setUp();
        _mint(alice, 100e18);
        _mint(bob, 100e18);
    }

    function test_transfer_allowedWithoutRestrictions() public {
        _expectTransferCode(alice, bob, 10e18, ReasonCodes.SUCCESS);
    }

    // ---- 1 paused

    function test_transfer_revertsWhenPaused() public {
        _pause(true);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.PAUSED);
    }

    function test_transfer_allowedAgainAfterUnpause() public {
        _pause(true);
        _pause(false);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SUCCESS);
    }

    // ---- 2 sender frozen

    function test_transfer_revertsWhenSenderAddressFrozen() public {
        _freezeAddress(alice, true);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SENDER_FROZEN);
    }

    function test_transfer_revertsWhenSenderInvestorFrozenInRegistry() public {
        _freezeInvestor(ALICE, true);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SENDER_FROZEN);
    }

    function test_transfer_senderInvestorFreezeFollowsAttributionAfterWalletRemoved() public {
        vm.prank(registrar);
        registry.removeWallet(alice);
        _freezeInvestor(ALICE, true);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SENDER_FROZEN);
    }

    function test_transfer_unregisteredSenderMayStillSendItsShares() public {
        vm.prank(registrar);
        registry.removeWallet(alice);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SUCCESS);
    }

    function test_transfer_allowedAfterSenderUnfrozen() public {
        _freezeAddress(alice, true);
        _freezeAddress(alice, false);
        _freezeInvestor(ALICE, true);
        _freezeInvestor(ALICE, false);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SUCCESS);
    }

    // ---- 3 recipient frozen

    function test_transfer_revertsWhenRecipientAddressFrozen() public {
        _freezeAddress(bob, true);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.RECIPIENT_FROZEN);
    }

    function test_transfer_revertsWhenRecipientInvestorFrozenInRegistry() public {
        _freezeInvestor(BOB, true);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.RECIPIENT_FROZEN);
    }

    function test_transfer_recipientInvestorFreezeCoversEveryWallet() public {
        _freezeInvestor(ALICE, true);
        _expectTransferCode(bob, alice2, 1e18, ReasonCodes.RECIPIENT_FROZEN);
    }

    // ---- 4 recipient not verified

    function test_transfer_revertsWhenRecipientUnregistered() public {
        _expectTransferCode(alice, mallory, 1e18, ReasonCodes.RECIPIENT_NOT_VERIFIED);
    }

    function test_transfer_revertsWhenRecipientKycExpired() public {
        _setKycExpiry(BOB, uint64(block.timestamp + 1));
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SUCCESS);
        vm.warp(block.timestamp + 1); // verified only while block.timestamp < kycExpiry
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.RECIPIENT_NOT_VERIFIED);
    }

    function test_transfer_revertsWhenRecipientWalletRemoved() public {
        vm.prank(registrar);
        registry.removeWallet(bob);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.RECIPIENT_NOT_VERIFIED);
    }

    function test_transfer_revertsWhenRecipientWalletHoldsSharesOfAnotherInvestor() public {
        _mint(alice2, 10e18); // attributed to alice
        _reassignWallet(alice2, CAROL);
        _expectTransferCode(bob, alice2, 1e18, ReasonCodes.RECIPIENT_NOT_VERIFIED);
    }

    function test_transfer_reassignedWalletReceivesForNewInvestorOnceEmptied() public {
        _mint(alice2, 10e18);
        _reassignWallet(alice2, CAROL);
        // The wallet's shares stay alice's: sending them back to alice is a same-investor move.
        _expectTransferCode(alice2, alice, 10e18, ReasonCodes.SUCCESS);
        _expectTransferCode(bob, alice2, 1e18, ReasonCodes.SUCCESS);
        assertEq(shares.holder(alice2).investorNo, carolNo);
        assertEq(shares.investorBalance(carolNo), 1e18);
        assertEq(shares.investorBalance(aliceNo), 110e18);
    }

    // ---- 5 insufficient balance

    function test_transfer_revertsOnInsufficientBalance() public {
        _expectTransferCode(alice, bob, 100e18 + 1, ReasonCodes.INSUFFICIENT_BALANCE);
    }

    function test_transfer_revertsOnInsufficientBalanceFromEmptyWallet() public {
        _expectTransferCode(carol, bob, 1, ReasonCodes.INSUFFICIENT_BALANCE);
    }

    function test_transfer_wholeBalanceAllowed() public {
        _expectTransferCode(alice, bob, 100e18, ReasonCodes.SUCCESS);
        assertEq(shares.investorCount(), 1);
    }

    // ---- 6 insufficient unfrozen balance

    function test_transfer_revertsOnInsufficientUnfrozenBalance() public {
        _freezePartial(alice, 50e18);
        _expectTransferCode(alice, bob, 50e18 + 1, ReasonCodes.INSUFFICIENT_UNFROZEN_BALANCE);
    }

    function test_transfer_unfrozenPartAllowed() public {
        _freezePartial(alice, 50e18);
        _expectTransferCode(alice, bob, 50e18, ReasonCodes.SUCCESS);
        assertEq(shares.getFrozenTokens(alice), 50e18);
        _expectTransferCode(alice, bob, 1, ReasonCodes.INSUFFICIENT_UNFROZEN_BALANCE);
    }

    // ---- 7 country

    function test_transfer_revertsWhenCountryNotAllowed() public {
        _setCountry(US, true);
        _setRules(false, true, 0, 0, 0, 0);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.COUNTRY_NOT_ALLOWED); // bob is GB
        _expectTransferCode(bob, alice, 1e18, ReasonCodes.SUCCESS);
    }

    function test_transfer_countryListIgnoredWhenNotRestricted() public {
        _setCountry(US, true);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SUCCESS);
    }

    function test_transfer_countryAppliesBetweenWalletsOfOneInvestor() public {
        _setRules(false, true, 0, 0, 0, 0); // nothing allowed
        _expectTransferCode(alice, alice2, 1e18, ReasonCodes.COUNTRY_NOT_ALLOWED);
    }

    // ---- 8 accreditation

    function test_transfer_revertsWhenRecipientNotAccredited() public {
        _setRules(true, false, 0, 0, 0, 0);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.NOT_ACCREDITED);
        _expectTransferCode(alice, carol, 1e18, ReasonCodes.SUCCESS);
    }

    function test_transfer_nonAccreditedSenderMaySellToAccredited() public {
        _setRules(true, false, 0, 0, 0, 0);
        _expectTransferCode(bob, alice, 1e18, ReasonCodes.SUCCESS);
    }

    // ---- 9 lock-up

    function test_transfer_revertsDuringLockup() public {
        _setRules(false, false, 0, uint64(block.timestamp + 1 days), 0, 0);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.LOCKUP_ACTIVE);
    }

    function test_transfer_allowedOnceLockupEnds() public {
        uint64 until = uint64(block.timestamp + 1 days);
        _setRules(false, false, 0, until, 0, 0);
        vm.warp(until - 1);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.LOCKUP_ACTIVE);
        vm.warp(until);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SUCCESS);
    }

    /// The lock-up check runs before the same-investor shortcut (REASON_CODES.md evaluation order), so
    /// it also holds moves between two wallets of one investor.
    function test_transfer_lockupAlsoAppliesBetweenWalletsOfOneInvestor() public {
        _setRules(false, false, 0, uint64(block.timestamp + 1 days), 0, 0);
        _expectTransferCode(alice, alice2, 1e18, ReasonCodes.LOCKUP_ACTIVE);
    }

    // ---- 10 max investors

    function test_transfer_revertsWhenMaxInvestorsReached() public {
        _setRules(false, false, 2, 0, 0, 0); // alice and bob hold
        _expectTransferCode(alice, carol, 1e18, ReasonCodes.MAX_INVESTORS_REACHED);
    }

    function test_transfer_maxInvestorsCountsInvestorsNotWallets() public {
        _setRules(false, false, 2, 0, 0, 0);
        _expectTransferCode(alice, alice2, 10e18, ReasonCodes.SUCCESS);
        assertEq(shares.investorCount(), 2);
        _expectTransferCode(bob, alice2, 10e18, ReasonCodes.SUCCESS); // alice already holds
        assertEq(shares.investorCount(), 2);
        assertEq(shares.investorBalance(aliceNo), 110e18);
    }

    function test_transfer_investorExitingToNewInvestorKeepsCountAtCap() public {
        _setRules(false, false, 2, 0, 0, 0);
        _expectTransferCode(bob, carol, 100e18, ReasonCodes.SUCCESS);
        assertEq(shares.investorCount(), 2);
        assertEq(shares.investorBalance(bobNo), 0);
    }

    function test_transfer_investorWhoExitedFreesSlot() public {
        _setRules(false, false, 2, 0, 0, 0);
        _expectTransferCode(alice, carol, 1e18, ReasonCodes.MAX_INVESTORS_REACHED);
        _expectTransferCode(bob, alice, 100e18, ReasonCodes.SUCCESS);
        assertEq(shares.investorCount(), 1);
        _expectTransferCode(alice, carol, 1e18, ReasonCodes.SUCCESS);
        assertEq(shares.investorCount(), 2);
    }

    function test_transfer_investorExitsOnlyWhenAllWalletsEmpty() public {
        _expectTransferCode(alice, alice2, 40e18, ReasonCodes.SUCCESS);
        _setRules(false, false, 2, 0, 0, 0);
        // alice's first wallet empties but alice2 still holds: alice has not exited.
        _expectTransferCode(alice, carol, 60e18, ReasonCodes.MAX_INVESTORS_REACHED);
    }

    // ---- 11 max balance

    function test_transfer_revertsWhenMaxBalanceExceeded() public {
        _setRules(false, false, 0, 0, 150e18, 0);
        _expectTransferCode(bob, alice, 50e18 + 1, ReasonCodes.MAX_BALANCE_EXCEEDED);
        _expectTransferCode(bob, alice, 50e18, ReasonCodes.SUCCESS);
    }

    function test_transfer_maxBalanceSummedOverWallets() public {
        _mint(alice2, 50e18);
        _setRules(false, false, 0, 0, 150e18, 0);
        _expectTransferCode(bob, alice2, 1, ReasonCodes.MAX_BALANCE_EXCEEDED);
        _expectTransferCode(bob, alice, 1, ReasonCodes.MAX_BALANCE_EXCEEDED);
    }

    function test_transfer_sameInvestorIgnoresBalanceCap() public {
        _setRules(false, false, 0, 0, 50e18, 0); // alice is already above the cap
        _expectTransferCode(alice, alice2, 100e18, ReasonCodes.SUCCESS);
    }

    // ---- 12 min holding

    function test_transfer_revertsWhenRecipientBelowMinHolding() public {
        _setRules(false, false, 0, 0, 0, 10e18);
        _expectTransferCode(alice, carol, 10e18 - 1, ReasonCodes.BELOW_MIN_HOLDING);
        _expectTransferCode(alice, carol, 10e18, ReasonCodes.SUCCESS);
    }

    function test_transfer_revertsWhenSenderLeftBelowMinHolding() public {
        _setRules(false, false, 0, 0, 0, 10e18);
        _expectTransferCode(alice, bob, 90e18 + 1, ReasonCodes.BELOW_MIN_HOLDING);
        _expectTransferCode(alice, bob, 90e18, ReasonCodes.SUCCESS);
    }

    function test_transfer_senderMayExitCompletelyBelowMinHolding() public {
        _setRules(false, false, 0, 0, 0, 10e18);
        _expectTransferCode(alice, bob, 100e18, ReasonCodes.SUCCESS);
    }

    function test_transfer_minHoldingSummedOverSenderWallets() public {
        _mint(alice2, 10e18);
        _setRules(false, false, 0, 0, 0, 20e18);
        // alice's first wallet would keep 5: with alice2's 10 the investor keeps 15 < 20
        _expectTransferCode(alice, bob, 95e18, ReasonCodes.BELOW_MIN_HOLDING);
        // keeping 10 in the first wallet: the investor keeps 10 + 10 = 20, although each wallet is below
        _expectTransferCode(alice, bob, 90e18, ReasonCodes.SUCCESS);
    }

    function test_transfer_sameInvestorIgnoresMinHolding() public {
        _setRules(false, false, 1, 0, 0, 60e18);
        _expectTransferCode(alice, alice2, 30e18, ReasonCodes.SUCCESS); // 70 / 30 across wallets
    }

    // ---- precedence

    /// Builds a transfer that breaks every rule at once, then lifts the restrictions one by one in
    /// the documented order, checking that the next code surfaces each time.
    function test_canTransfer_precedenceFollowsDocumentedOrder() public {
        uint64 lockupUntil = uint64(block.timestamp + 1 days);
        _freezePartial(alice, 50e18);
        _setCountry(KP, true); // neither US nor GB allowed
        // max investors 1 (alice and bob already hold), max balance 150 (bob holds 100), min holding 50
        _setRules(true, true, 1, lockupUntil, 150e18, 50e18);
        _pause(true);
        _freezeAddress(alice, true);
        _freezeInvestor(ALICE, true);
        _freezeAddress(carol, true);
        _freezeInvestor(CAROL, true);
        _setKycExpiry(CAROL, uint64(block.timestamp));
        _setAccredited(CAROL, false);

        // carol: new investor, US. amount 200 > balance 100.
        assertEq(shares.canTransfer(alice, carol, 200e18), ReasonCodes.PAUSED);
        _pause(false);
        assertEq(shares.canTransfer(alice, carol, 200e18), ReasonCodes.SENDER_FROZEN);
        _freezeAddress(alice, false);
        assertEq(shares.canTransfer(alice, carol, 200e18), ReasonCodes.SENDER_FROZEN); // registry level
        _freezeInvestor(ALICE, false);
        assertEq(shares.canTransfer(alice, carol, 200e18), ReasonCodes.RECIPIENT_FROZEN);
        _freezeAddress(carol, false);
        assertEq(shares.canTransfer(alice, carol, 200e18), ReasonCodes.RECIPIENT_FROZEN); // registry level
        _freezeInvestor(CAROL, false);
        assertEq(shares.canTransfer(alice, carol, 200e18), ReasonCodes.RECIPIENT_NOT_VERIFIED);
        _setKycExpiry(CAROL, uint64(block.timestamp + 365 days));
        assertEq(shares.canTransfer(alice, carol, 200e18), ReasonCodes.INSUFFICIENT_BALANCE);
        // 60 > 50 unfrozen
        assertEq(shares.canTransfer(alice, carol, 60e18), ReasonCodes.INSUFFICIENT_UNFROZEN_BALANCE);
        vm.prank(agent);
        shares.unfreezePartialTokens(alice, 50e18);
        assertEq(shares.canTransfer(alice, carol, 60e18), ReasonCodes.COUNTRY_NOT_ALLOWED);
        _setCountry(US, true);
        assertEq(shares.canTransfer(alice, carol, 60e18), ReasonCodes.NOT_ACCREDITED);
        _setAccredited(CAROL, true);
        assertEq(shares.canTransfer(alice, carol, 60e18), ReasonCodes.LOCKUP_ACTIVE);
        vm.warp(lockupUntil);
        assertEq(shares.canTransfer(alice, carol, 60e18), ReasonCodes.MAX_INVESTORS_REACHED);
        _setRules(true, true, 0, lockupUntil, 150e18, 50e18);
        // bob -> carol is not needed: use a recipient already holding to hit the balance cap first
        assertEq(shares.canTransfer(alice, bob, 60e18), ReasonCodes.COUNTRY_NOT_ALLOWED); // bob is GB
        _setCountry(GB, true);
        _setAccredited(BOB, true);
        // bob would hold 160 > 150 and alice would keep 40 < 50: the balance cap comes first
        assertEq(shares.canTransfer(alice, bob, 60e18), ReasonCodes.MAX_BALANCE_EXCEEDED);
        _setRules(true, true, 0, lockupUntil, 0, 50e18);
        assertEq(shares.canTransfer(alice, bob, 60e18), ReasonCodes.BELOW_MIN_HOLDING);
        _setRules(true, true, 0, lockupUntil, 0, 0);
        _expectTransferCode(alice, bob, 60e18, ReasonCodes.SUCCESS);
    }

    function test_canTransfer_pausedBeatsEverything() public {
        _pause(true);
        _freezeAddress(alice, true);
        _freezeAddress(mallory, true);
        _expectTransferCode(alice, mallory, 1_000e18, ReasonCodes.PAUSED);
    }

    function test_canTransfer_senderFrozenBeatsRecipientFrozen() public {
        _freezeAddress(alice, true);
        _freezeAddress(bob, true);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.SENDER_FROZEN);
    }

    function test_canTransfer_recipientFrozenBeatsNotVerified() public {
        _freezeAddress(mallory, true);
        _expectTransferCode(alice, mallory, 1e18, ReasonCodes.RECIPIENT_FROZEN);
    }

    function test_canTransfer_notVerifiedBeatsInsufficientBalance() public {
        _expectTransferCode(alice, mallory, 1_000e18, ReasonCodes.RECIPIENT_NOT_VERIFIED);
    }

    function test_canTransfer_insufficientBalanceBeatsInsufficientUnfrozen() public {
        _freezePartial(alice, 100e18);
        _expectTransferCode(alice, bob, 101e18, ReasonCodes.INSUFFICIENT_BALANCE);
    }

    function test_canTransfer_balanceChecksBeatComplianceRules() public {
        _setRules(false, true, 0, uint64(block.timestamp + 1 days), 0, 0);
        _expectTransferCode(alice, bob, 101e18, ReasonCodes.INSUFFICIENT_BALANCE);
    }

    function test_canTransfer_countryBeatsAccreditation() public {
        _setRules(true, true, 0, 0, 0, 0);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.COUNTRY_NOT_ALLOWED);
    }

    function test_canTransfer_accreditationBeatsLockup() public {
        _setRules(true, false, 0, uint64(block.timestamp + 1 days), 0, 0);
        _expectTransferCode(alice, bob, 1e18, ReasonCodes.NOT_ACCREDITED);
    }

    function test_canTransfer_lockupBeatsCaps() public {
        _setRules(false, false, 1, uint64(block.timestamp + 1 days), 1e18, 1e18);
        _expectTransferCode(alice, carol, 5e18, ReasonCodes.LOCKUP_ACTIVE);
    }

    function test_canTransfer_maxInvestorsBeatsMaxBalance() public {
        _setRules(false, false, 2, 0, 1e18, 0);
        _expectTransferCode(alice, carol, 5e18, ReasonCodes.MAX_INVESTORS_REACHED);
    }

    function test_canTransfer_maxBalanceBeatsMinHolding() public {
        _setRules(false, false, 0, 0, 10e18, 10e18);
        // carol would hold 95 > 10 and alice would keep 5 < 10
        _expectTransferCode(alice, carol, 95e18, ReasonCodes.MAX_BALANCE_EXCEEDED);
    }
}

// =====================================================================================================
// canMint / mint
// =====================================================================================================

contract PropertySharesMintTest is UnitBase {
    function test_mint_emitsTransferAndIssued() public {
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(address(0), alice, 10e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.Issued(alice, aliceNo, 10e18);
        vm.prank(admin);
        uint64 no = shares.mint(alice, 10e18);
        assertEq(no, aliceNo);
        assertEq(shares.balanceOf(alice), 10e18);
        assertEq(shares.totalSupply(), 10e18);
        assertEq(shares.investorCount(), 1);
        assertEq(shares.investorBalance(aliceNo), 10e18);
    }

    function test_mint_secondWalletOfInvestorDoesNotAddInvestor() public {
        _mint(alice, 10e18);
        _mint(alice2, 5e18);
        assertEq(shares.investorCount(), 1);
        assertEq(shares.investorBalance(aliceNo), 15e18);
        assertEq(shares.holder(alice2).investorNo, aliceNo);
    }

    function test_mint_revertsForNonMinter() public {
        vm.expectRevert(_unauthorized(mallory, shares.MINTER_ROLE()));
        vm.prank(mallory);
        shares.mint(alice, 1);
    }

    function test_mint_revertsForAgentWithoutMinterRole() public {
        vm.expectRevert(_unauthorized(agent, shares.MINTER_ROLE()));
        vm.prank(agent);
        shares.mint(alice, 1);
    }

    function test_mint_revertsToZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        vm.prank(admin);
        shares.mint(address(0), 1);
    }

    function test_mint_revertsOnSupplyOverflow() public {
        _mint(alice, type(uint128).max);
        vm.expectRevert(PropertyShares.SupplyOverflow.selector);
        vm.prank(admin);
        shares.mint(bob, 1);
    }

    function test_mint_revertsOnSupplyOverflowInOneCall() public {
        vm.expectRevert(PropertyShares.SupplyOverflow.selector);
        vm.prank(admin);
        shares.mint(alice, uint256(type(uint128).max) + 1);
    }

    function test_mint_revertsWhenPaused() public {
        _pause(true);
        _expectMintCode(alice, 1e18, ReasonCodes.PAUSED);
    }

    function test_mint_revertsWhenRecipientAddressFrozen() public {
        _freezeAddress(alice, true);
        _expectMintCode(alice, 1e18, ReasonCodes.RECIPIENT_FROZEN);
    }

    function test_mint_revertsWhenRecipientInvestorFrozenInRegistry() public {
        _freezeInvestor(ALICE, true);
        _expectMintCode(alice2, 1e18, ReasonCodes.RECIPIENT_FROZEN);
    }

    function test_mint_revertsWhenRecipientUnregistered() public {
        _expectMintCode(mallory, 1e18, ReasonCodes.RECIPIENT_NOT_VERIFIED);
    }

    function test_mint_revertsWhenRecipientKycExpired() public {
        _setKycExpiry(ALICE, uint64(block.timestamp));
        _expectMintCode(alice, 1e18, ReasonCodes.RECIPIENT_NOT_VERIFIED);
    }

    function test_mint_revertsWhenWalletHoldsSharesOfAnotherInvestor() public {
        _mint(alice2, 1e18);
        _reassignWallet(alice2, BOB);
        _expectMintCode(alice2, 1e18, ReasonCodes.RECIPIENT_NOT_VERIFIED);
    }

    function test_mint_revertsWhenCountryNotAllowed() public {
        _setCountry(US, true);
        _setRules(false, true, 0, 0, 0, 0);
        _expectMintCode(bob, 1e18, ReasonCodes.COUNTRY_NOT_ALLOWED);
        _expectMintCode(alice, 1e18, ReasonCodes.SUCCESS);
    }

    function test_mint_revertsWhenNotAccredited() public {
        _setRules(true, false, 0, 0, 0, 0);
        _expectMintCode(bob, 1e18, ReasonCodes.NOT_ACCREDITED);
        _expectMintCode(alice, 1e18, ReasonCodes.SUCCESS);
    }

    function test_mint_allowedDuringLockup() public {
        _setRules(false, false, 0, uint64(block.timestamp + 1 days), 0, 0);
        _expectMintCode(alice, 1e18, ReasonCodes.SUCCESS);
    }

    function test_mint_revertsWhenMaxInvestorsReached() public {
        _mint(alice, 1e18);
        _mint(bob, 1e18);
        _setRules(false, false, 2, 0, 0, 0);
        _expectMintCode(carol, 1e18, ReasonCodes.MAX_INVESTORS_REACHED);
    }

    function test_mint_maxInvestorsCountsInvestorsNotWallets() public {
        _mint(alice, 1e18);
        _mint(bob, 1e18);
        _setRules(false, false, 2, 0, 0, 0);
        _expectMintCode(alice2, 1e18, ReasonCodes.SUCCESS);
        _expectMintCode(bob, 1e18, ReasonCodes.SUCCESS);
        assertEq(shares.investorCount(), 2);
    }

    function test_mint_revertsWhenMaxBalanceExceededOverWallets() public {
        _mint(alice, 60e18);
        _mint(alice2, 40e18);
        _setRules(false, false, 0, 0, 100e18, 0);
        _expectMintCode(alice, 1, ReasonCodes.MAX_BALANCE_EXCEEDED);
        _expectMintCode(alice2, 1, ReasonCodes.MAX_BALANCE_EXCEEDED);
        _expectMintCode(bob, 100e18, ReasonCodes.SUCCESS);
    }

    function test_mint_revertsWhenBelowMinHolding() public {
        _setRules(false, false, 0, 0, 0, 10e18);
        _expectMintCode(alice, 10e18 - 1, ReasonCodes.BELOW_MIN_HOLDING);
        _expectMintCode(alice, 10e18, ReasonCodes.SUCCESS);
        _expectMintCode(alice2, 1, ReasonCodes.SUCCESS); // alice already holds 10
    }

    function test_canMint_precedenceFollowsDocumentedOrder() public {
        _mint(alice, 1e18);
        _setCountry(KP, true);
        _setRules(true, true, 1, uint64(block.timestamp + 1 days), 5e18, 5e18);
        _pause(true);
        _freezeAddress(bob, true);
        _freezeInvestor(BOB, true);
        _setKycExpiry(BOB, uint64(block.timestamp));

        assertEq(shares.canMint(bob, 6e18), ReasonCodes.PAUSED);
        _pause(false);
        assertEq(shares.canMint(bob, 6e18), ReasonCodes.RECIPIENT_FROZEN);
        _freezeAddress(bob, false);
        assertEq(shares.canMint(bob, 6e18), ReasonCodes.RECIPIENT_FROZEN);
        _freezeInvestor(BOB, false);
        assertEq(shares.canMint(bob, 6e18), ReasonCodes.RECIPIENT_NOT_VERIFIED);
        _setKycExpiry(BOB, uint64(block.timestamp + 1 days));
        assertEq(shares.canMint(bob, 6e18), ReasonCodes.COUNTRY_NOT_ALLOWED);
        _setCountry(GB, true);
        assertEq(shares.canMint(bob, 6e18), ReasonCodes.NOT_ACCREDITED);
        _setAccredited(BOB, true);
        // the lock-up never applies to mints
        assertEq(shares.canMint(bob, 6e18), ReasonCodes.MAX_INVESTORS_REACHED);
        _setRules(true, true, 0, uint64(block.timestamp + 1 days), 5e18, 5e18);
        assertEq(shares.canMint(bob, 6e18), ReasonCodes.MAX_BALANCE_EXCEEDED);
        assertEq(shares.canMint(bob, 4e18), ReasonCodes.BELOW_MIN_HOLDING);
        _expectMintCode(bob, 5e18, ReasonCodes.SUCCESS);
    }
}

// =====================================================================================================
// Agent actions: pause, freezes, forced transfer, recovery, burn
// =====================================================================================================

contract PropertySharesAgentTest is UnitBase {
    function setUp() public override {
        super.setUp();
        _mint(alice, 100e18);
        _mint(bob, 100e18);
    }

    // ---- pause

    function test_pause_emitsPausedAndUnpaused() public {
        vm.expectEmit(address(shares));
        emit PropertyShares.Paused(agent);
        vm.prank(agent);
        shares.pause();
        assertTrue(shares.paused());

        vm.expectEmit(address(shares));
        emit PropertyShares.Unpaused(agent);
        vm.prank(agent);
        shares.unpause();
        assertFalse(shares.paused());
    }

    function test_pause_revertsWhenAlreadyInThatState() public {
        vm.expectRevert(PropertyShares.ExpectedPause.selector);
        vm.prank(agent);
        shares.unpause();
        _pause(true);
        vm.expectRevert(PropertyShares.EnforcedPause.selector);
        vm.prank(agent);
        shares.pause();
    }

    function test_pause_revertsForNonAgent() public {
        vm.expectRevert(_unauthorized(mallory, shares.AGENT_ROLE()));
        vm.prank(mallory);
        shares.pause();
        vm.expectRevert(_unauthorized(mallory, shares.AGENT_ROLE()));
        vm.prank(mallory);
        shares.unpause();
    }

    // ---- address freeze

    function test_setAddressFrozen_emitsAddressFrozen() public {
        vm.expectEmit(address(shares));
        emit PropertyShares.AddressFrozen(alice, true, agent);
        vm.prank(agent);
        shares.setAddressFrozen(alice, true);
        assertTrue(shares.isFrozen(alice));
        assertTrue(shares.holder(alice).frozen);

        vm.expectEmit(address(shares));
        emit PropertyShares.AddressFrozen(alice, false, agent);
        vm.prank(agent);
        shares.setAddressFrozen(alice, false);
        assertFalse(shares.isFrozen(alice));
    }

    function test_setAddressFrozen_revertsForNonAgent() public {
        vm.expectRevert(_unauthorized(mallory, shares.AGENT_ROLE()));
        vm.prank(mallory);
        shares.setAddressFrozen(alice, true);
    }

    // ---- partial freeze

    function test_freezePartialTokens_emitsTokensFrozen() public {
        vm.expectEmit(address(shares));
        emit PropertyShares.TokensFrozen(alice, 30e18);
        vm.prank(agent);
        shares.freezePartialTokens(alice, 30e18);
        assertEq(shares.getFrozenTokens(alice), 30e18);
        assertTrue(shares.holder(alice).hasFrozenTokens);
    }

    function test_freezePartialTokens_accumulates() public {
        _freezePartial(alice, 30e18);
        _freezePartial(alice, 70e18);
        assertEq(shares.getFrozenTokens(alice), 100e18);
    }

    function test_freezePartialTokens_revertsForZeroAmount() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidFreezeAmount.selector, alice, 0));
        vm.prank(agent);
        shares.freezePartialTokens(alice, 0);
    }

    function test_freezePartialTokens_revertsAboveBalance() public {
        vm.expectRevert(
            abi.encodeWithSelector(PropertyShares.InvalidFreezeAmount.selector, alice, 100e18 + 1)
        );
        vm.prank(agent);
        shares.freezePartialTokens(alice, 100e18 + 1);
    }

    function test_freezePartialTokens_revertsWhenTotalExceedsBalance() public {
        _freezePartial(alice, 60e18);
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidFreezeAmount.selector, alice, 41e18));
        vm.prank(agent);
        shares.freezePartialTokens(alice, 41e18);
    }

    function test_freezePartialTokens_revertsForNonAgent() public {
        vm.expectRevert(_unauthorized(mallory, shares.AGENT_ROLE()));
        vm.prank(mallory);
        shares.freezePartialTokens(alice, 1);
    }

    function test_unfreezePartialTokens_emitsTokensUnfrozen() public {
        _freezePartial(alice, 30e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.TokensUnfrozen(alice, 10e18);
        vm.prank(agent);
        shares.unfreezePartialTokens(alice, 10e18);
        assertEq(shares.getFrozenTokens(alice), 20e18);
        assertTrue(shares.holder(alice).hasFrozenTokens);
    }

    function test_unfreezePartialTokens_fullReleaseClearsFlag() public {
        _freezePartial(alice, 30e18);
        vm.prank(agent);
        shares.unfreezePartialTokens(alice, 30e18);
        assertEq(shares.getFrozenTokens(alice), 0);
        assertFalse(shares.holder(alice).hasFrozenTokens);
    }

    function test_unfreezePartialTokens_revertsForZeroAmount() public {
        _freezePartial(alice, 30e18);
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidFreezeAmount.selector, alice, 0));
        vm.prank(agent);
        shares.unfreezePartialTokens(alice, 0);
    }

    function test_unfreezePartialTokens_revertsAboveFrozenAmount() public {
        _freezePartial(alice, 30e18);
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidFreezeAmount.selector, alice, 30e18 + 1));
        vm.prank(agent);
        shares.unfreezePartialTokens(alice, 30e18 + 1);
    }

    function test_unfreezePartialTokens_revertsForNonAgent() public {
        _freezePartial(alice, 30e18);
        vm.expectRevert(_unauthorized(mallory, shares.AGENT_ROLE()));
        vm.prank(mallory);
        shares.unfreezePartialTokens(alice, 1);
    }

    // ---- forced transfer

    function test_forcedTransfer_emitsTransferAndForcedTransfer() public {
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(alice, carol, 10e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.ForcedTransfer(alice, carol, 10e18, agent);
        vm.prank(agent);
        shares.forcedTransfer(alice, carol, 10e18);
        assertEq(shares.balanceOf(carol), 10e18);
        assertEq(shares.investorCount(), 3);
    }

    function test_forcedTransfer_revertsForNonAgent() public {
        vm.expectRevert(_unauthorized(mallory, shares.AGENT_ROLE()));
        vm.prank(mallory);
        shares.forcedTransfer(alice, bob, 1);
    }

    function test_forcedTransfer_revertsToZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        vm.prank(agent);
        shares.forcedTransfer(alice, address(0), 1);
    }

    function test_forcedTransfer_revertsFromZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidSender.selector, address(0)));
        vm.prank(agent);
        shares.forcedTransfer(address(0), bob, 0);
    }

    function test_forcedTransfer_releasesPartialFreezeAsNeeded() public {
        _freezePartial(alice, 80e18); // 20 free
        vm.expectEmit(address(shares));
        emit PropertyShares.TokensUnfrozen(alice, 30e18);
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(alice, bob, 50e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.ForcedTransfer(alice, bob, 50e18, agent);
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 50e18);
        assertEq(shares.getFrozenTokens(alice), 50e18);
        assertEq(shares.balanceOf(alice), 50e18);
    }

    function test_forcedTransfer_keepsFreezeWhenFreePartSuffices() public {
        _freezePartial(alice, 80e18);
        vm.recordLogs();
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 20e18);
        assertEq(vm.getRecordedLogs().length, 2); // Transfer + ForcedTransfer, no TokensUnfrozen
        assertEq(shares.getFrozenTokens(alice), 80e18);
    }

    function test_forcedTransfer_releasesWholeFreezeAndClearsFlag() public {
        _freezePartial(alice, 100e18);
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 100e18);
        assertEq(shares.getFrozenTokens(alice), 0);
        assertFalse(shares.holder(alice).hasFrozenTokens);
    }

    function test_forcedTransfer_overridesPause() public {
        _pause(true);
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 1e18);
        assertEq(shares.balanceOf(bob), 101e18);
    }

    function test_forcedTransfer_overridesSenderFreezes() public {
        _freezeAddress(alice, true);
        _freezeInvestor(ALICE, true);
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 1e18);
        assertEq(shares.balanceOf(bob), 101e18);
    }

    function test_forcedTransfer_overridesLockup() public {
        _setRules(false, false, 0, uint64(block.timestamp + 1 days), 0, 0);
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 1e18);
        assertEq(shares.balanceOf(bob), 101e18);
    }

    function test_forcedTransfer_overridesSenderMinHolding() public {
        _setRules(false, false, 0, 0, 0, 50e18);
        assertEq(shares.canTransfer(alice, bob, 60e18), ReasonCodes.BELOW_MIN_HOLDING);
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 60e18);
        assertEq(shares.balanceOf(alice), 40e18);
    }

    function test_forcedTransfer_revertsWhenRecipientAddressFrozen() public {
        _freezeAddress(carol, true);
        vm.expectRevert(_restricted(ReasonCodes.RECIPIENT_FROZEN));
        vm.prank(agent);
        shares.forcedTransfer(alice, carol, 1e18);
    }

    function test_forcedTransfer_revertsWhenRecipientInvestorFrozen() public {
        _freezeInvestor(CAROL, true);
        vm.expectRevert(_restricted(ReasonCodes.RECIPIENT_FROZEN));
        vm.prank(agent);
        shares.forcedTransfer(alice, carol, 1e18);
    }

    function test_forcedTransfer_revertsWhenRecipientUnregistered() public {
        vm.expectRevert(_restricted(ReasonCodes.RECIPIENT_NOT_VERIFIED));
        vm.prank(agent);
        shares.forcedTransfer(alice, mallory, 1e18);
    }

    function test_forcedTransfer_revertsWhenRecipientKycExpired() public {
        _setKycExpiry(CAROL, uint64(block.timestamp));
        vm.expectRevert(_restricted(ReasonCodes.RECIPIENT_NOT_VERIFIED));
        vm.prank(agent);
        shares.forcedTransfer(alice, carol, 1e18);
    }

    function test_forcedTransfer_revertsOnInsufficientBalance() public {
        vm.expectRevert(_restricted(ReasonCodes.INSUFFICIENT_BALANCE));
        vm.prank(agent);
        shares.forcedTransfer(alice, carol, 100e18 + 1);
    }

    function test_forcedTransfer_revertsWhenRecipientCountryNotAllowed() public {
        _setCountry(US, true);
        _setRules(false, true, 0, 0, 0, 0);
        vm.expectRevert(_restricted(ReasonCodes.COUNTRY_NOT_ALLOWED));
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 1e18);
    }

    function test_forcedTransfer_revertsWhenRecipientNotAccredited() public {
        _setRules(true, false, 0, 0, 0, 0);
        vm.expectRevert(_restricted(ReasonCodes.NOT_ACCREDITED));
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 1e18);
    }

    function test_forcedTransfer_revertsWhenMaxInvestorsReached() public {
        _setRules(false, false, 2, 0, 0, 0);
        vm.expectRevert(_restricted(ReasonCodes.MAX_INVESTORS_REACHED));
        vm.prank(agent);
        shares.forcedTransfer(alice, carol, 1e18);
    }

    function test_forcedTransfer_revertsWhenMaxBalanceExceeded() public {
        _setRules(false, false, 0, 0, 150e18, 0);
        vm.expectRevert(_restricted(ReasonCodes.MAX_BALANCE_EXCEEDED));
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 51e18);
    }

    function test_forcedTransfer_revertsWhenRecipientBelowMinHolding() public {
        _setRules(false, false, 0, 0, 0, 10e18);
        vm.expectRevert(_restricted(ReasonCodes.BELOW_MIN_HOLDING));
        vm.prank(agent);
        shares.forcedTransfer(alice, carol, 5e18);
    }

    // ---- recovery

    function test_recoverWallet_movesBalanceAndFreezes() public {
        _freezePartial(alice, 30e18);
        _freezeAddress(alice, true);
        uint32 countBefore = shares.investorCount();

        vm.prank(agent);
        shares.recoverWallet(alice, alice2);

        assertEq(shares.balanceOf(alice), 0);
        assertEq(shares.balanceOf(alice2), 100e18);
        assertEq(shares.getFrozenTokens(alice2), 30e18);
        assertTrue(shares.holder(alice2).hasFrozenTokens);
        assertTrue(shares.isFrozen(alice2));
        assertEq(shares.getFrozenTokens(alice), 0);
        assertFalse(shares.holder(alice).hasFrozenTokens);
        assertTrue(shares.isFrozen(alice));
        assertEq(shares.investorCount(), countBefore);
        assertEq(shares.investorBalance(aliceNo), 100e18);
        assertEq(shares.holder(alice2).investorNo, aliceNo);
    }

    function test_recoverWallet_emitsEvents() public {
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(alice, alice2, 100e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.AddressFrozen(alice, true, agent);
        vm.expectEmit(address(shares));
        emit PropertyShares.RecoverySuccess(alice, alice2, aliceNo);
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
    }

    function test_recoverWallet_emitsFreezeEventsForTheNewWallet() public {
        _freezePartial(alice, 30e18);
        _freezeAddress(alice, true);
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(alice, alice2, 100e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.AddressFrozen(alice2, true, agent);
        vm.expectEmit(address(shares));
        emit PropertyShares.TokensUnfrozen(alice, 30e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.TokensFrozen(alice2, 30e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.AddressFrozen(alice, true, agent);
        vm.expectEmit(address(shares));
        emit PropertyShares.RecoverySuccess(alice, alice2, aliceNo);
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
    }

    function test_recoverWallet_unfrozenLostWalletLeavesNewWalletUnfrozen() public {
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
        assertFalse(shares.isFrozen(alice2));
        assertTrue(shares.isFrozen(alice));
        assertEq(shares.canTransfer(alice2, bob, 1e18), ReasonCodes.SUCCESS);
        assertEq(shares.canTransfer(alice, bob, 1), ReasonCodes.SENDER_FROZEN);
    }

    function test_recoverWallet_lostWalletRemovedFromRegistry() public {
        vm.prank(registrar);
        registry.removeWallet(alice);
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
        assertEq(shares.balanceOf(alice2), 100e18);
    }

    function test_recoverWallet_overridesPauseAndLockup() public {
        _pause(true);
        _setRules(false, false, 0, uint64(block.timestamp + 1 days), 0, 0);
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
        assertEq(shares.balanceOf(alice2), 100e18);
    }

    function test_recoverWallet_revertsForNonAgent() public {
        vm.expectRevert(_unauthorized(mallory, shares.AGENT_ROLE()));
        vm.prank(mallory);
        shares.recoverWallet(alice, alice2);
    }

    function test_recoverWallet_revertsForEmptyLostWallet() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidRecovery.selector, carol, alice2));
        vm.prank(agent);
        shares.recoverWallet(carol, alice2);
    }

    function test_recoverWallet_revertsToSameWallet() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidRecovery.selector, alice, alice));
        vm.prank(agent);
        shares.recoverWallet(alice, alice);
    }

    function test_recoverWallet_revertsToWalletOfAnotherInvestor() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidRecovery.selector, alice, carol));
        vm.prank(agent);
        shares.recoverWallet(alice, carol);
    }

    function test_recoverWallet_revertsToUnregisteredWallet() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidRecovery.selector, alice, mallory));
        vm.prank(agent);
        shares.recoverWallet(alice, mallory);
    }

    /// A new wallet that already holds shares of the same investor (dust sent to front-run the
    /// recovery, say) takes the lost wallet's shares and freezes on top of its own.
    function test_recoverWallet_intoWalletHoldingTheInvestorsShares() public {
        _mint(alice2, 1e18);
        _freezePartial(alice2, 1e18);
        _freezePartial(alice, 30e18);
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
        assertEq(shares.balanceOf(alice2), 101e18);
        assertEq(shares.getFrozenTokens(alice2), 31e18);
        assertEq(shares.investorBalance(aliceNo), 101e18);
        assertEq(shares.investorCount(), 2);
    }

    function test_recoverWallet_revertsToWalletHoldingAnotherInvestorsShares() public {
        // carol2 received shares as a wallet of carol's, then became a wallet of alice's.
        address carol2 = makeAddr("carol2");
        vm.prank(registrar);
        registry.addWallet(carol2, CAROL);
        _mint(carol2, 2e18);
        _reassignWallet(carol2, ALICE);
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidRecovery.selector, alice, carol2));
        vm.prank(agent);
        shares.recoverWallet(alice, carol2);
    }

    function test_recoverWallet_revertsIntoALostWallet() public {
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
        // alice2 is lost in turn: it cannot go back to the wallet it was recovered from.
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.InvalidRecovery.selector, alice2, alice));
        vm.prank(agent);
        shares.recoverWallet(alice2, alice);
    }

    function test_recoveryAddress_isTheErc3643NameOfRecoverWallet() public {
        vm.expectEmit(address(shares));
        emit PropertyShares.RecoverySuccess(alice, alice2, aliceNo);
        vm.prank(agent);
        assertTrue(shares.recoveryAddress(alice, alice2, address(0xCAFE)));
        assertEq(shares.balanceOf(alice2), 100e18);
        assertEq(shares.successorOf(alice), alice2);
        assertEq(shares.successorOf(alice2), alice2);
        vm.expectRevert(_unauthorized(mallory, shares.AGENT_ROLE()));
        vm.prank(mallory);
        shares.recoveryAddress(alice2, alice, address(0));
    }

    function test_recoverWallet_revertsWhenNewWalletFrozen() public {
        _freezeAddress(alice2, true);
        vm.expectRevert(_restricted(ReasonCodes.RECIPIENT_FROZEN));
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
    }

    /// The new wallet's registry status is checked like any recipient's, so a registry-level freeze of
    /// the investor blocks its own recovery until it is lifted.
    function test_recoverWallet_revertsWhenInvestorFrozenInRegistry() public {
        _freezeInvestor(ALICE, true);
        vm.expectRevert(_restricted(ReasonCodes.RECIPIENT_FROZEN));
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
    }

    function test_recoverWallet_revertsWhenInvestorNoLongerEligible() public {
        _setRules(false, true, 0, 0, 0, 0); // alice's country is no longer allowed
        vm.expectRevert(_restricted(ReasonCodes.COUNTRY_NOT_ALLOWED));
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
    }

    function test_recoverWallet_revertsWhenInvestorKycExpired() public {
        _setKycExpiry(ALICE, uint64(block.timestamp));
        vm.expectRevert(_restricted(ReasonCodes.RECIPIENT_NOT_VERIFIED));
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
    }

    // ---- burn

    function test_burn_byAgentEmitsTransferAndRedeemed() public {
        vm.expectEmit(address(shares));
        emit IERC20.Transfer(alice, address(0), 40e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.Redeemed(alice, aliceNo, 40e18, agent);
        vm.prank(agent);
        shares.burn(alice, 40e18);
        assertEq(shares.balanceOf(alice), 60e18);
        assertEq(shares.totalSupply(), 160e18);
        assertEq(shares.investorBalance(aliceNo), 60e18);
    }

    function test_burn_revertsForMinter() public {
        vm.expectRevert(_unauthorized(address(offering), shares.AGENT_ROLE()));
        vm.prank(address(offering));
        shares.burn(alice, 40e18);
    }

    function test_burn_revertsForOthers() public {
        vm.expectRevert(_unauthorized(mallory, shares.AGENT_ROLE()));
        vm.prank(mallory);
        shares.burn(alice, 1);
    }

    function test_burn_revertsAboveBalance() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 100e18, 100e18 + 1)
        );
        vm.prank(agent);
        shares.burn(alice, 100e18 + 1);
    }

    function test_burn_revertsAboveTotalSupply() public {
        uint256 huge = uint256(type(uint128).max) + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 100e18, huge)
        );
        vm.prank(agent);
        shares.burn(alice, huge);
    }

    function test_burn_revertsFromZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidSender.selector, address(0)));
        vm.prank(agent);
        shares.burn(address(0), 1e18);
    }

    function test_burn_wholeBalanceRemovesInvestor() public {
        vm.prank(agent);
        shares.burn(alice, 100e18);
        assertEq(shares.investorCount(), 1);
        assertEq(shares.investorBalance(aliceNo), 0);
    }

    function test_burn_releasesPartialFreezeAsNeeded() public {
        _freezePartial(alice, 80e18);
        vm.expectEmit(address(shares));
        emit PropertyShares.TokensUnfrozen(alice, 30e18);
        vm.prank(agent);
        shares.burn(alice, 50e18);
        assertEq(shares.getFrozenTokens(alice), 50e18);
    }

    function test_burn_ignoresPauseAndFreezes() public {
        _pause(true);
        _freezeAddress(alice, true);
        _freezeInvestor(ALICE, true);
        vm.prank(agent);
        shares.burn(alice, 1e18);
        assertEq(shares.balanceOf(alice), 99e18);
    }

    // ---- unsettled offering shares

    /// Shares bought below the soft cap stay with their investor whoever moves them, in the order of
    /// REASON_CODES.md (after the balance checks, before the compliance rules).
    function test_unsettledShares_stayWithTheirInvestor() public {
        _buy(bob, 10e18); // on top of bob's 100 settled shares
        _expectTransferCode(bob, carol, 101e18, ReasonCodes.OFFERING_UNSETTLED);
        _freezePartial(bob, 10e18);
        _expectTransferCode(bob, carol, 101e18, ReasonCodes.INSUFFICIENT_UNFROZEN_BALANCE);
        vm.prank(agent);
        shares.unfreezePartialTokens(bob, 10e18);
        _setRules(false, true, 0, 0, 0, 0);
        _expectTransferCode(bob, carol, 101e18, ReasonCodes.OFFERING_UNSETTLED); // before the country rule
        _clearRules();

        vm.expectRevert(_restricted(ReasonCodes.OFFERING_UNSETTLED));
        vm.prank(agent);
        shares.forcedTransfer(bob, carol, 101e18);
        vm.expectRevert(_restricted(ReasonCodes.OFFERING_UNSETTLED));
        vm.prank(agent);
        shares.burn(bob, 101e18);
        assertEq(shares.balanceOf(bob), 110e18);
        _expectTransferCode(bob, carol, 100e18, 0); // the settled part moves
    }

    /// Settled shares of the same investor still move; only the unsettled amount is held back.
    function test_unsettledShares_holdBackOnlyTheirAmount() public {
        _buy(alice, 10e18); // alice also holds 100 settled shares (minted in setUp)
        assertEq(shares.unsettledOf(aliceNo), 10e18);
        _expectTransferCode(alice, carol, 100e18, 0);
        _expectTransferCode(alice, carol, 1, ReasonCodes.OFFERING_UNSETTLED);
        _reachSoftCap();
        _expectTransferCode(alice, carol, 10e18, 0);
    }

    function test_mintUnsettled_onlyByAMinterAndOnlyTheEscrowOfferingBurns() public {
        vm.expectRevert(_unauthorized(mallory, shares.MINTER_ROLE()));
        vm.prank(mallory);
        shares.mintUnsettled(alice, 1e18);
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.NotEscrowOffering.selector, admin));
        vm.prank(admin);
        shares.burnUnsettled(alice, 1e18);
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.NotEscrowOffering.selector, admin));
        vm.prank(admin);
        shares.closeOfferingEscrow();
        _buy(alice, 10e18);
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.NotEscrowOffering.selector, admin));
        vm.prank(admin);
        shares.burnUnsettled(alice, 1e18);
        vm.expectRevert(
            abi.encodeWithSelector(PropertyShares.UnsettledExceeded.selector, aliceNo, 10e18, 11e18)
        );
        vm.prank(address(offering));
        shares.burnUnsettled(alice, 11e18);
    }

    // ---- who money is owed to

    function test_isHolderFrozen_coversTheTokenAndBothRegistryInvestors() public {
        assertFalse(shares.isHolderFrozen(alice));
        _freezeAddress(alice, true);
        assertTrue(shares.isHolderFrozen(alice));
        _freezeAddress(alice, false);
        _freezeInvestor(ALICE, true);
        assertTrue(shares.isHolderFrozen(alice), "attributed investor frozen");
        _freezeInvestor(ALICE, false);
        _reassignWallet(alice, BOB); // alice's shares stay attributed to ALICE
        _freezeInvestor(BOB, true);
        assertTrue(shares.isHolderFrozen(alice), "current owner frozen");
    }

    function test_transfer_refusedFromAWalletWhoseNewOwnerIsFrozen() public {
        _reassignWallet(alice, BOB);
        _freezeInvestor(BOB, true);
        _expectTransferCode(alice, carol, 1e18, ReasonCodes.SENDER_FROZEN);
    }
}

// =====================================================================================================
// Checkpoints
// =====================================================================================================

contract PropertySharesCheckpointTest is UnitBase {
    address internal recorder = makeAddr("recorder");

    function setUp() public override {
        super.setUp();
        bytes32 role = shares.CHECKPOINT_ROLE();
        vm.prank(admin);
        shares.grantRole(role, recorder);
    }

    function _checkpoint() internal returns (uint32) {
        vm.prank(recorder);
        return shares.createCheckpoint();
    }

    function test_createCheckpoint_emitsCheckpointCreated() public {
        vm.expectEmit(address(shares));
        emit PropertyShares.CheckpointCreated(1, uint64(block.timestamp));
        assertEq(_checkpoint(), 1);
        assertEq(shares.currentCheckpoint(), 1);
        assertEq(shares.checkpointTime(1), block.timestamp);

        vm.warp(block.timestamp + 1 days);
        vm.expectEmit(address(shares));
        emit PropertyShares.CheckpointCreated(2, uint64(block.timestamp));
        assertEq(_checkpoint(), 2);
        assertEq(shares.checkpointTime(2), block.timestamp);
    }

    function test_createCheckpoint_revertsWithoutRole() public {
        vm.expectRevert(_unauthorized(agent, shares.CHECKPOINT_ROLE()));
        vm.prank(agent);
        shares.createCheckpoint();
    }

    function test_balanceOfAt_revertsForCheckpointZero() public {
        _checkpoint();
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.UnknownCheckpoint.selector, uint32(0)));
        shares.balanceOfAt(alice, 0);
    }

    function test_balanceOfAt_revertsForFutureCheckpoint() public {
        _checkpoint();
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.UnknownCheckpoint.selector, uint32(2)));
        shares.balanceOfAt(alice, 2);
    }

    function test_totalSupplyAt_revertsForUnknownCheckpoint() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.UnknownCheckpoint.selector, uint32(1)));
        shares.totalSupplyAt(1);
        _checkpoint();
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.UnknownCheckpoint.selector, uint32(0)));
        shares.totalSupplyAt(0);
    }

    function test_balanceOfAt_unchangedSinceCheckpointReturnsCurrent() public {
        _mint(alice, 10e18);
        _checkpoint();
        assertEq(shares.balanceOfAt(alice, 1), 10e18);
        assertEq(shares.totalSupplyAt(1), 10e18);
    }

    function test_balanceOfAt_recordsValueBeforeLaterChanges() public {
        _mint(alice, 100e18);
        _mint(bob, 50e18);
        uint32 first = _checkpoint(); // alice 100, bob 50, supply 150
        vm.prank(alice);
        shares.transfer(bob, 30e18);
        vm.prank(alice);
        shares.transfer(carol, 10e18);
        uint32 second = _checkpoint(); // alice 60, bob 80, carol 10, supply 150
        _mint(carol, 5e18);
        vm.prank(agent);
        shares.burn(bob, 20e18);
        _checkpoint(); // alice 60, bob 60, carol 15, supply 135
        uint32 fourth = _checkpoint(); // nothing changed
        vm.prank(bob);
        shares.transfer(alice, 60e18); // alice 120, bob 0, carol 15

        assertEq(shares.balanceOfAt(alice, first), 100e18);
        assertEq(shares.balanceOfAt(bob, first), 50e18);
        assertEq(shares.balanceOfAt(carol, first), 0);
        assertEq(shares.totalSupplyAt(first), 150e18);

        assertEq(shares.balanceOfAt(alice, second), 60e18);
        assertEq(shares.balanceOfAt(bob, second), 80e18);
        assertEq(shares.balanceOfAt(carol, second), 10e18);
        assertEq(shares.totalSupplyAt(second), 150e18);

        assertEq(shares.balanceOfAt(alice, 3), 60e18);
        assertEq(shares.balanceOfAt(bob, 3), 60e18);
        assertEq(shares.balanceOfAt(carol, 3), 15e18);
        assertEq(shares.totalSupplyAt(3), 135e18);

        assertEq(shares.balanceOfAt(alice, fourth), 60e18);
        assertEq(shares.balanceOfAt(bob, fourth), 60e18);
        assertEq(shares.balanceOfAt(carol, fourth), 15e18);
        assertEq(shares.totalSupplyAt(fourth), 135e18);

        assertEq(shares.balanceOf(alice), 120e18);
        assertEq(shares.balanceOf(bob), 0);
    }

    function test_balanceOfAt_changesInCheckpointBlockCountAfterIt() public {
        _mint(alice, 10e18);
        _checkpoint();
        _mint(alice, 5e18); // same block, after the checkpoint
        assertEq(shares.balanceOfAt(alice, 1), 10e18);
        assertEq(shares.totalSupplyAt(1), 10e18);
    }

    function test_balanceOfAt_followsRecoveryAndForcedTransfer() public {
        _mint(alice, 100e18);
        _checkpoint();
        vm.prank(agent);
        shares.recoverWallet(alice, alice2);
        vm.prank(agent);
        shares.forcedTransfer(alice2, bob, 40e18);
        _checkpoint();
        assertEq(shares.balanceOfAt(alice, 1), 100e18);
        assertEq(shares.balanceOfAt(alice2, 1), 0);
        assertEq(shares.balanceOfAt(alice, 2), 0);
        assertEq(shares.balanceOfAt(alice2, 2), 60e18);
        assertEq(shares.balanceOfAt(bob, 2), 40e18);
    }
}

// =====================================================================================================
// Fuzz
// =====================================================================================================

contract PropertySharesFuzzTest is UnitBase {
    address internal recorder = makeAddr("recorder");
    address[5] internal wallets;

    mapping(uint32 id => mapping(uint256 wallet => uint256)) internal expectedBalanceAt;
    mapping(uint32 id => uint256) internal expectedSupplyAt;

    function setUp() public override {
        super.setUp();
        wallets = [alice, alice2, bob, carol, mallory];
        bytes32 role = shares.CHECKPOINT_ROLE();
        vm.prank(admin);
        shares.grantRole(role, recorder);
    }

    function _rand(uint256 seed, uint256 salt) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, salt)));
    }

    /// One chance in `n`.
    function _chance(uint256 seed, uint256 salt, uint256 n) internal pure returns (bool) {
        return _rand(seed, salt) % n == 0;
    }

    /// A random but reproducible world: balances over four investor wallets (two of them alice's),
    /// partial and whole freezes on both levels, expired KYC, a reassigned wallet, random rules and a
    /// possible pause. With `capsOnly` only the balances and the investor-cap, balance-cap and
    /// minimum-holding rules are drawn, so that codes 10 to 12 come up often.
    function _randomWorld(uint256 seed, bool capsOnly) internal {
        // Half of the worlds leave one investor (alice = wallets 0 and 1, bob, carol) without shares, so
        // that transfers to a new investor (investor cap) are common.
        uint256 emptyInvestor = _rand(seed, 99) % 6;
        for (uint256 i = 0; i < 4; i++) {
            uint256 investorIdx = i == 0 ? 0 : i - 1;
            if (investorIdx == emptyInvestor || _chance(seed, 100 + i, 4)) continue;
            _mint(wallets[i], _rand(seed, 110 + i) % 1_000e18 + 1);
        }
        uint128 maxBalance = _chance(seed, 200, 2) ? 0 : uint128(_rand(seed, 201) % 2_000e18 + 1);
        uint256 minBound = maxBalance == 0 ? 1_000e18 : maxBalance;
        uint128 minHolding = _chance(seed, 202, 2) ? 0 : uint128(_rand(seed, 203) % minBound + 1);
        uint32 maxInvestors = _chance(seed, 212, 2) ? 0 : uint32(_rand(seed, 213) % 3 + 1);
        if (capsOnly) {
            _setRules(false, false, maxInvestors, 0, maxBalance, minHolding);
            return;
        }

        for (uint256 i = 0; i < 4; i++) {
            uint256 bal = shares.balanceOf(wallets[i]);
            if (bal != 0 && _chance(seed, 120 + i, 3)) {
                _freezePartial(wallets[i], _rand(seed, 130 + i) % bal + 1);
            }
        }
        for (uint256 i = 0; i < 5; i++) {
            if (_chance(seed, 140 + i, 16)) _freezeAddress(wallets[i], true);
        }
        bytes32[3] memory ids = [ALICE, BOB, CAROL];
        for (uint256 i = 0; i < 3; i++) {
            if (_chance(seed, 150 + i, 12)) _freezeInvestor(ids[i], true);
            if (_chance(seed, 160 + i, 12)) _setKycExpiry(ids[i], uint64(block.timestamp));
            if (_chance(seed, 170 + i, 3)) _setAccredited(ids[i], !registry.investor(ids[i]).accredited);
        }
        if (_chance(seed, 180, 8)) _reassignWallet(alice2, CAROL);

        if (_chance(seed, 190, 3)) {
            if (_chance(seed, 191, 2)) _setCountry(US, true);
            if (_chance(seed, 192, 2)) _setCountry(GB, true);
        }
        _setRules(
            _chance(seed, 210, 4),
            _chance(seed, 211, 4),
            maxInvestors,
            _chance(seed, 214, 5) ? uint64(block.timestamp + 1 days) : 0,
            maxBalance,
            minHolding
        );
        if (_chance(seed, 220, 12)) _pause(true);
    }

    function _randomAmount(uint256 seed, uint256 balance) internal pure returns (uint256) {
        uint256 pick = _rand(seed, 300) % 5;
        if (pick == 0) return balance; // exit
        if (pick == 1) return _rand(seed, 301) % 2_000e18; // anything
        return balance == 0 ? 0 : _rand(seed, 302) % (balance + balance / 5 + 1);
    }

    /// canTransfer(...) == 0 iff the transfer succeeds, and a failing transfer reverts with exactly
    /// TransferRestricted(canTransfer(...)).
    function testFuzz_transfer_revertsExactlyWithCanTransferCode(uint256 seed, uint8 fromIdx, uint8 toIdx)
        public
    {
        _randomWorld(seed, false);
        _assertTransferMatchesCanTransfer(seed, wallets[fromIdx % 5], wallets[toIdx % 5]);
    }

    /// The same property in worlds where only the investor cap, balance cap and minimum holding apply.
    function testFuzz_transfer_capRules_revertsExactlyWithCanTransferCode(
        uint256 seed,
        uint8 fromIdx,
        uint8 toIdx
    ) public {
        _randomWorld(seed, true);
        _assertTransferMatchesCanTransfer(seed, wallets[fromIdx % 4], wallets[toIdx % 4]);
    }

    function _assertTransferMatchesCanTransfer(uint256 seed, address from, address to) internal {
        uint256 amount = _randomAmount(seed, shares.balanceOf(from));
        uint8 code = shares.canTransfer(from, to, amount);
        uint256 supply = shares.totalSupply();
        uint256 fromBefore = shares.balanceOf(from);
        uint256 toBefore = shares.balanceOf(to);

        vm.prank(from);
        try shares.transfer(to, amount) returns (bool ok) {
            assertTrue(ok);
            assertEq(code, 0, "transfer succeeded but canTransfer reported a restriction");
            if (from != to) {
                assertEq(shares.balanceOf(from), fromBefore - amount);
                assertEq(shares.balanceOf(to), toBefore + amount);
            }
        } catch (bytes memory reason) {
            assertTrue(code != 0, "canTransfer allowed a transfer that reverted");
            assertEq(reason, _restricted(code), "revert code differs from canTransfer");
        }
        assertEq(shares.totalSupply(), supply);
    }

    /// Same property through transferFrom with an allowance.
    function testFuzz_transferFrom_revertsExactlyWithCanTransferCode(uint256 seed, uint8 fromIdx, uint8 toIdx)
        public
    {
        _randomWorld(seed, false);
        address from = wallets[fromIdx % 5];
        address to = wallets[toIdx % 5];
        uint256 amount = _randomAmount(seed, shares.balanceOf(from));
        uint256 allowed = amount == 0 ? 1 : amount; // even a zero amount needs an allowance
        vm.prank(from);
        shares.approve(address(this), allowed);

        uint8 code = shares.canTransfer(from, to, amount);
        try shares.transferFrom(from, to, amount) returns (bool) {
            assertEq(code, 0);
            assertEq(shares.allowance(from, address(this)), allowed - amount);
        } catch (bytes memory reason) {
            assertTrue(code != 0);
            assertEq(reason, _restricted(code));
        }
    }

    /// canMint(...) == 0 iff the mint succeeds, and a failing mint reverts with TransferRestricted(code).
    function testFuzz_mint_revertsExactlyWithCanMintCode(uint256 seed, uint8 toIdx, bool capsOnly) public {
        _randomWorld(seed, capsOnly);
        address to = wallets[toIdx % 5];
        uint256 amount = _rand(seed, 400) % 2_000e18;

        uint8 code = shares.canMint(to, amount);
        vm.prank(admin);
        try shares.mint(to, amount) returns (uint64 no) {
            assertEq(code, 0);
            assertEq(no, shares.holder(to).investorNo);
        } catch (bytes memory reason) {
            assertTrue(code != 0);
            assertEq(reason, _restricted(code));
        }
    }

    /// Investor accounting stays consistent: each investor's balance is the sum of the wallets attributed
    /// to it and the investor count is the number of investors holding anything.
    function testFuzz_investorAccounting_consistentAfterRandomTransfers(uint256 seed) public {
        for (uint256 i = 0; i < 4; i++) {
            _mint(wallets[i], _rand(seed, i) % 100e18);
        }
        for (uint256 step = 0; step < 12; step++) {
            address from = wallets[_rand(seed, 1000 + step) % 4];
            address to = wallets[_rand(seed, 2000 + step) % 4];
            uint256 bal = shares.balanceOf(from);
            uint256 amount =
                _chance(seed, 3000 + step, 3) ? bal : (bal == 0 ? 0 : _rand(seed, 4000 + step) % bal);
            // A new investor's first holding by transfer must be a whole share; others go through.
            if (shares.canTransfer(from, to, amount) == ReasonCodes.BELOW_MIN_HOLDING) continue;
            vm.prank(from);
            shares.transfer(to, amount);
        }
        uint256 aliceSum = shares.balanceOf(alice) + shares.balanceOf(alice2);
        assertEq(shares.investorBalance(aliceNo), aliceSum);
        assertEq(shares.investorBalance(bobNo), shares.balanceOf(bob));
        assertEq(shares.investorBalance(carolNo), shares.balanceOf(carol));
        uint32 holding = (aliceSum != 0 ? 1 : 0) + (shares.balanceOf(bob) != 0 ? 1 : 0)
            + (shares.balanceOf(carol) != 0 ? 1 : 0);
        assertEq(shares.investorCount(), holding);
        assertEq(shares.totalSupply(), aliceSum + shares.balanceOf(bob) + shares.balanceOf(carol));
    }

    /// balanceOfAt / totalSupplyAt return, for every checkpoint, the values at the moment it was taken,
    /// after a random sequence of mints, transfers, burns and checkpoints.
    function testFuzz_checkpoints_matchBalancesWhenTaken(uint256 seed) public {
        uint32 checkpoints;
        for (uint256 step = 0; step < 40; step++) {
            uint256 r = _rand(seed, step);
            uint256 op = r % 8;
            address a = wallets[(r >> 8) % 4];
            address b = wallets[(r >> 16) % 4];
            uint256 bal = shares.balanceOf(a);
            if (op < 2) {
                vm.prank(recorder);
                checkpoints = shares.createCheckpoint();
                for (uint256 k = 0; k < 4; k++) {
                    expectedBalanceAt[checkpoints][k] = shares.balanceOf(wallets[k]);
                }
                expectedSupplyAt[checkpoints] = shares.totalSupply();
            } else if (op < 4) {
                _mint(a, (r >> 32) % 100e18 + 1);
            } else if (op < 7) {
                uint256 amount = bal == 0 ? 0 : (r >> 32) % (bal + 1);
                if (shares.canTransfer(a, b, amount) == ReasonCodes.BELOW_MIN_HOLDING) continue;
                vm.prank(a);
                shares.transfer(b, amount);
            } else {
                vm.prank(agent);
                shares.burn(a, bal == 0 ? 0 : (r >> 32) % (bal + 1));
            }
        }
        assertEq(shares.currentCheckpoint(), checkpoints);
        for (uint32 id = 1; id <= checkpoints; id++) {
            for (uint256 k = 0; k < 4; k++) {
                assertEq(shares.balanceOfAt(wallets[k], id), expectedBalanceAt[id][k], "balanceOfAt");
            }
            assertEq(shares.balanceOfAt(mallory, id), 0);
            assertEq(shares.totalSupplyAt(id), expectedSupplyAt[id], "totalSupplyAt");
        }
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.UnknownCheckpoint.selector, checkpoints + 1));
        shares.balanceOfAt(alice, checkpoints + 1);
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.UnknownCheckpoint.selector, checkpoints + 1));
        shares.totalSupplyAt(checkpoints + 1);
    }

    /// Partial freezes: a transfer never dips into the frozen part; a forced transfer releases exactly
    /// what it needs.
    function testFuzz_forcedTransfer_releasesOnlyWhatIsNeeded(uint96 balance, uint96 frozen, uint96 amount)
        public
    {
        balance = uint96(bound(balance, 1, type(uint96).max));
        frozen = uint96(bound(frozen, 1, balance));
        amount = uint96(bound(amount, 0, balance));
        _mint(alice, balance);
        _mint(bob, 1e18); // an existing holder: any amount may reach it
        _freezePartial(alice, frozen);
        uint256 free = uint256(balance) - frozen;

        assertEq(
            shares.canTransfer(alice, bob, amount),
            amount > free ? ReasonCodes.INSUFFICIENT_UNFROZEN_BALANCE : ReasonCodes.SUCCESS
        );
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, amount);
        uint256 expectedFrozen = amount > free ? uint256(frozen) - (amount - free) : frozen;
        assertEq(shares.getFrozenTokens(alice), expectedFrozen);
        assertLe(shares.getFrozenTokens(alice), shares.balanceOf(alice));
        assertEq(shares.holder(alice).hasFrozenTokens, expectedFrozen != 0);
    }
}
