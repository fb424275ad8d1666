// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {UnitBase} from "./UnitBase.sol";
import {IdentityRegistry} from "../../src/IdentityRegistry.sol";

contract IdentityRegistryTest is UnitBase {
    bytes32 internal constant DAVE = keccak256("investor:dave");
    address internal dave = makeAddr("dave");

    function _invalidInvestor(bytes32 id) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IdentityRegistry.InvalidInvestor.selector, id);
    }

    function _unknownInvestor(bytes32 id) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IdentityRegistry.UnknownInvestor.selector, id);
    }

    // ---- constructor and roles

    function test_constructor_grantsAdminAndRegistrarRoles() public view {
        assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin));
        assertEq(registry.defaultAdmin(), admin);
        assertTrue(registry.hasRole(registry.REGISTRAR_ROLE(), registrar));
        assertFalse(registry.hasRole(registry.REGISTRAR_ROLE(), admin));
        assertFalse(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), registrar));
        assertEq(registry.REGISTRAR_ROLE(), keccak256("REGISTRAR_ROLE"));
    }

    function test_grantRole_revertsForNonAdmin() public {
        bytes32 role = registry.REGISTRAR_ROLE();
        vm.expectRevert(_unauthorized(mallory, registry.DEFAULT_ADMIN_ROLE()));
        vm.prank(mallory);
        registry.grantRole(role, mallory);
    }

    // ---- setInvestor

    function test_setInvestor_createsInvestorWithNextNumber() public {
        uint64 expiry = uint64(block.timestamp + 30 days);
        vm.expectEmit(address(registry));
        emit IdentityRegistry.InvestorUpdated(DAVE, 4, GB, true, expiry);
        vm.prank(registrar);
        uint64 no = registry.setInvestor(DAVE, GB, true, expiry);

        assertEq(no, 4);
        assertEq(registry.investorCount(), 4);
        assertEq(registry.investorIdOf(4), DAVE);
        IdentityRegistry.Investor memory inv = registry.investor(DAVE);
        assertEq(inv.no, 4);
        assertEq(inv.country, GB);
        assertTrue(inv.accredited);
        assertFalse(inv.frozen);
        assertEq(inv.kycExpiry, expiry);
    }

    function test_setInvestor_fixtureNumbersAreSequential() public view {
        assertEq(aliceNo, 1);
        assertEq(bobNo, 2);
        assertEq(carolNo, 3);
        assertEq(registry.investorIdOf(1), ALICE);
        assertEq(registry.investorIdOf(0), bytes32(0));
        assertEq(registry.investorIdOf(99), bytes32(0));
    }

    function test_setInvestor_updateKeepsNumberAndFreeze() public {
        _freezeInvestor(BOB, true);
        vm.expectEmit(address(registry));
        emit IdentityRegistry.InvestorUpdated(BOB, bobNo, US, true, 123);
        vm.prank(registrar);
        uint64 no = registry.setInvestor(BOB, US, true, 123);

        assertEq(no, bobNo);
        assertEq(registry.investorCount(), 3);
        IdentityRegistry.Investor memory inv = registry.investor(BOB);
        assertEq(inv.country, US);
        assertTrue(inv.accredited);
        assertTrue(inv.frozen);
        assertEq(inv.kycExpiry, 123);
    }

    function test_setInvestor_revertsForNonRegistrar() public {
        vm.expectRevert(_unauthorized(mallory, registry.REGISTRAR_ROLE()));
        vm.prank(mallory);
        registry.setInvestor(DAVE, US, true, 1);
    }

    function test_setInvestor_revertsForZeroId() public {
        vm.expectRevert(_invalidInvestor(bytes32(0)));
        vm.prank(registrar);
        registry.setInvestor(bytes32(0), US, true, 1);
    }

    function test_setInvestor_revertsForCountryZero() public {
        vm.expectRevert(_invalidInvestor(DAVE));
        vm.prank(registrar);
        registry.setInvestor(DAVE, 0, true, 1);
    }

    function test_setInvestor_revertsForCountryAbove999() public {
        vm.expectRevert(_invalidInvestor(DAVE));
        vm.prank(registrar);
        registry.setInvestor(DAVE, 1000, true, 1);
    }

    function test_setInvestor_acceptsCountryBounds() public {
        vm.startPrank(registrar);
        registry.setInvestor(DAVE, 1, false, 1);
        registry.setInvestor(DAVE, 999, false, 1);
        vm.stopPrank();
        assertEq(registry.investor(DAVE).country, 999);
    }

    // ---- setInvestorFrozen

    function test_setInvestorFrozen_emitsInvestorFrozen() public {
        vm.expectEmit(address(registry));
        emit IdentityRegistry.InvestorFrozen(ALICE, true);
        vm.prank(registrar);
        registry.setInvestorFrozen(ALICE, true);
        assertTrue(registry.investor(ALICE).frozen);
        assertTrue(registry.isInvestorFrozen(aliceNo));
        assertTrue(registry.walletStatus(alice2).frozen);

        vm.expectEmit(address(registry));
        emit IdentityRegistry.InvestorFrozen(ALICE, false);
        vm.prank(registrar);
        registry.setInvestorFrozen(ALICE, false);
        assertFalse(registry.isInvestorFrozen(aliceNo));
    }

    function test_setInvestorFrozen_revertsForUnknownInvestor() public {
        vm.expectRevert(_unknownInvestor(DAVE));
        vm.prank(registrar);
        registry.setInvestorFrozen(DAVE, true);
    }

    function test_setInvestorFrozen_revertsForNonRegistrar() public {
        vm.expectRevert(_unauthorized(mallory, registry.REGISTRAR_ROLE()));
        vm.prank(mallory);
        registry.setInvestorFrozen(ALICE, true);
    }

    function test_isInvestorFrozen_falseForUnknownNumber() public view {
        assertFalse(registry.isInvestorFrozen(0));
        assertFalse(registry.isInvestorFrozen(42));
    }

    // ---- addWallet

    function test_addWallet_emitsWalletAdded() public {
        vm.expectEmit(address(registry));
        emit IdentityRegistry.WalletAdded(dave, BOB);
        vm.prank(registrar);
        registry.addWallet(dave, BOB);
        assertEq(registry.investorOf(dave), BOB);
        assertTrue(registry.isVerified(dave));
    }

    function test_addWallet_revertsForZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.InvalidWallet.selector, address(0)));
        vm.prank(registrar);
        registry.addWallet(address(0), ALICE);
    }

    function test_addWallet_revertsForUnknownInvestor() public {
        vm.expectRevert(_unknownInvestor(DAVE));
        vm.prank(registrar);
        registry.addWallet(dave, DAVE);
    }

    function test_addWallet_revertsWhenWalletAlreadyRegistered() public {
        vm.expectRevert(
            abi.encodeWithSelector(IdentityRegistry.WalletAlreadyRegistered.selector, alice2, ALICE)
        );
        vm.prank(registrar);
        registry.addWallet(alice2, BOB);
    }

    function test_addWallet_revertsForNonRegistrar() public {
        vm.expectRevert(_unauthorized(mallory, registry.REGISTRAR_ROLE()));
        vm.prank(mallory);
        registry.addWallet(mallory, ALICE);
    }

    // ---- removeWallet

    function test_removeWallet_emitsWalletRemoved() public {
        vm.expectEmit(address(registry));
        emit IdentityRegistry.WalletRemoved(alice2, ALICE);
        vm.prank(registrar);
        registry.removeWallet(alice2);
        assertEq(registry.investorOf(alice2), bytes32(0));
        assertFalse(registry.isVerified(alice2));
        assertEq(registry.walletStatus(alice2).investorNo, 0);
        assertTrue(registry.isVerified(alice)); // the investor's other wallet is untouched
    }

    function test_removeWallet_revertsForUnregisteredWallet() public {
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.WalletNotRegistered.selector, mallory));
        vm.prank(registrar);
        registry.removeWallet(mallory);
    }

    function test_removeWallet_revertsForNonRegistrar() public {
        vm.expectRevert(_unauthorized(mallory, registry.REGISTRAR_ROLE()));
        vm.prank(mallory);
        registry.removeWallet(alice);
    }

    function test_removeWallet_thenWalletCanJoinAnotherInvestor() public {
        vm.startPrank(registrar);
        registry.removeWallet(alice2);
        registry.addWallet(alice2, CAROL);
        vm.stopPrank();
        assertEq(registry.investorOf(alice2), CAROL);
        assertEq(registry.walletStatus(alice2).investorNo, carolNo);
    }

    // ---- views

    function test_walletStatus_registeredWallet() public view {
        IdentityRegistry.WalletStatus memory s = registry.walletStatus(bob);
        assertEq(s.investorNo, bobNo);
        assertEq(s.country, GB);
        assertFalse(s.accredited);
        assertFalse(s.frozen);
        assertTrue(s.verified);
    }

    function test_walletStatus_unregisteredWalletIsEmpty() public view {
        IdentityRegistry.WalletStatus memory s = registry.walletStatus(mallory);
        assertEq(s.investorNo, 0);
        assertEq(s.country, 0);
        assertFalse(s.accredited);
        assertFalse(s.frozen);
        assertFalse(s.verified);
    }

    function test_isVerified_falseFromKycExpiry() public {
        _setKycExpiry(ALICE, uint64(block.timestamp + 10));
        assertTrue(registry.isVerified(alice));
        vm.warp(block.timestamp + 9);
        assertTrue(registry.isVerified(alice));
        vm.warp(block.timestamp + 1);
        assertFalse(registry.isVerified(alice));
        assertFalse(registry.isVerified(alice2));
        assertEq(registry.walletStatus(alice).investorNo, aliceNo); // still registered
    }

    function test_transferStatus_senderZeroIsNeverFrozen() public view {
        (bool senderFrozen, IdentityRegistry.WalletStatus memory r) = registry.transferStatus(0, mallory, bob);
        assertFalse(senderFrozen);
        assertEq(r.investorNo, bobNo);
    }

    function test_transferStatus_reportsSenderInvestorFreeze() public {
        _freezeInvestor(ALICE, true);
        (bool senderFrozen, IdentityRegistry.WalletStatus memory r) =
            registry.transferStatus(aliceNo, alice, bob);
        assertTrue(senderFrozen);
        assertFalse(r.frozen);
        (senderFrozen, r) = registry.transferStatus(bobNo, bob, alice);
        assertFalse(senderFrozen);
        assertTrue(r.frozen);
    }

    /// A wallet holding shares attributed to alice was reassigned to bob: a freeze of either of them
    /// stops it sending.
    function test_transferStatus_reportsTheWalletsCurrentOwnerFreeze() public {
        _reassignWallet(alice2, BOB);
        (bool senderFrozen,) = registry.transferStatus(aliceNo, alice2, carol);
        assertFalse(senderFrozen);
        _freezeInvestor(BOB, true);
        (senderFrozen,) = registry.transferStatus(aliceNo, alice2, carol);
        assertTrue(senderFrozen, "the current owner is frozen");
        _freezeInvestor(BOB, false);
        _freezeInvestor(ALICE, true);
        (senderFrozen,) = registry.transferStatus(aliceNo, alice2, carol);
        assertTrue(senderFrozen, "the investor the shares are attributed to is frozen");
        (senderFrozen,) = registry.transferStatus(0, mallory, carol);
        assertFalse(senderFrozen, "an unknown sender wallet is not frozen");
    }

    // ---- fuzz

    function testFuzz_setInvestor_roundTrips(bytes32 id, uint16 country, bool accredited, uint64 expiry)
        public
    {
        vm.assume(id != bytes32(0) && id != ALICE && id != BOB && id != CAROL);
        country = uint16(bound(country, 1, 999));
        vm.prank(registrar);
        uint64 no = registry.setInvestor(id, country, accredited, expiry);
        assertEq(no, 4);
        IdentityRegistry.Investor memory inv = registry.investor(id);
        assertEq(inv.no, no);
        assertEq(inv.country, country);
        assertEq(inv.accredited, accredited);
        assertEq(inv.kycExpiry, expiry);
        assertEq(registry.investorIdOf(no), id);
    }

    function testFuzz_setInvestor_revertsOutsideCountryRange(uint16 country) public {
        vm.assume(country == 0 || country > 999);
        vm.expectRevert(_invalidInvestor(DAVE));
        vm.prank(registrar);
        registry.setInvestor(DAVE, country, false, 1);
    }

    function testFuzz_isVerified_iffBeforeExpiry(uint64 expiry, uint64 at) public {
        at = uint64(bound(at, 1, type(uint64).max));
        _setKycExpiry(BOB, expiry);
        vm.warp(at);
        assertEq(registry.isVerified(bob), at < expiry);
        assertEq(registry.walletStatus(bob).verified, at < expiry);
    }

    function testFuzz_addWallet_thenRemove(address wallet) public {
        vm.assume(wallet != address(0) && registry.investorOf(wallet) == bytes32(0));
        vm.startPrank(registrar);
        registry.addWallet(wallet, CAROL);
        assertEq(registry.walletStatus(wallet).investorNo, carolNo);
        registry.removeWallet(wallet);
        vm.stopPrank();
        assertEq(registry.investorOf(wallet), bytes32(0));
    }
}
