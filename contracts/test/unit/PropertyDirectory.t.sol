// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {UnitBase} from "./UnitBase.sol";
import {PropertyDirectory} from "../../src/PropertyDirectory.sol";

contract PropertyDirectoryTest is UnitBase {
    address internal s2 = makeAddr("shares2");
    address internal c2 = makeAddr("compliance2");
    address internal t2 = makeAddr("treasury2");
    address internal d2 = makeAddr("distributor2");
    address internal o2 = makeAddr("offering2");

    function _register(uint256 id) internal {
        vm.prank(admin);
        directory.registerProperty(id, s2, c2, t2, d2);
    }

    // ---- constructor

    function test_constructor_storesSharedContractsAndRoles() public view {
        assertEq(directory.identityRegistry(), address(registry));
        assertEq(directory.deed(), address(deed));
        assertEq(directory.settlementToken(), address(usd));
        assertTrue(directory.hasRole(directory.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(directory.hasRole(directory.REGISTRAR_ROLE(), admin));
    }

    function test_constructor_revertsForZeroRegistry() public {
        vm.expectRevert(PropertyDirectory.ZeroAddress.selector);
        new PropertyDirectory(address(0), address(deed), address(usd), admin);
    }

    function test_constructor_revertsForZeroDeed() public {
        vm.expectRevert(PropertyDirectory.ZeroAddress.selector);
        new PropertyDirectory(address(registry), address(0), address(usd), admin);
    }

    function test_constructor_revertsForZeroSettlementToken() public {
        vm.expectRevert(PropertyDirectory.ZeroAddress.selector);
        new PropertyDirectory(address(registry), address(deed), address(0), admin);
    }

    // ---- fixture registration

    function test_fixturePropertyIsRegistered() public view {
        PropertyDirectory.Property memory p = directory.property(propertyId);
        assertEq(p.shares, address(shares));
        assertEq(p.compliance, address(compliance));
        assertEq(p.treasury, address(treasury));
        assertEq(p.distributor, address(distributor));
        assertEq(p.offerings.length, 1);
        assertEq(p.offerings[0], address(offering));
        uint256[] memory ids = directory.propertyIds();
        assertEq(ids.length, 1);
        assertEq(ids[0], propertyId);
    }

    // ---- registerProperty

    function test_registerProperty_emitsPropertyRegistered() public {
        vm.expectEmit(address(directory));
        emit PropertyDirectory.PropertyRegistered(2, s2, c2, t2, d2);
        _register(2);
        PropertyDirectory.Property memory p = directory.property(2);
        assertEq(p.shares, s2);
        assertEq(p.compliance, c2);
        assertEq(p.treasury, t2);
        assertEq(p.distributor, d2);
        assertEq(p.offerings.length, 0);
    }

    function test_registerProperty_keepsRegistrationOrder() public {
        _register(7);
        _register(3);
        uint256[] memory ids = directory.propertyIds();
        assertEq(ids.length, 3);
        assertEq(ids[0], propertyId);
        assertEq(ids[1], 7);
        assertEq(ids[2], 3);
    }

    function test_registerProperty_revertsWhenExists() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyDirectory.PropertyExists.selector, propertyId));
        _register(propertyId);
    }

    function test_registerProperty_revertsForZeroShares() public {
        vm.expectRevert(PropertyDirectory.ZeroAddress.selector);
        vm.prank(admin);
        directory.registerProperty(2, address(0), c2, t2, d2);
    }

    function test_registerProperty_revertsForZeroCompliance() public {
        vm.expectRevert(PropertyDirectory.ZeroAddress.selector);
        vm.prank(admin);
        directory.registerProperty(2, s2, address(0), t2, d2);
    }

    function test_registerProperty_revertsForZeroTreasury() public {
        vm.expectRevert(PropertyDirectory.ZeroAddress.selector);
        vm.prank(admin);
        directory.registerProperty(2, s2, c2, address(0), d2);
    }

    function test_registerProperty_revertsForZeroDistributor() public {
        vm.expectRevert(PropertyDirectory.ZeroAddress.selector);
        vm.prank(admin);
        directory.registerProperty(2, s2, c2, t2, address(0));
    }

    function test_registerProperty_zeroAddressCheckedBeforeExistence() public {
        vm.expectRevert(PropertyDirectory.ZeroAddress.selector);
        vm.prank(admin);
        directory.registerProperty(propertyId, address(0), c2, t2, d2);
    }

    function test_registerProperty_revertsForNonRegistrar() public {
        vm.expectRevert(_unauthorized(mallory, directory.REGISTRAR_ROLE()));
        vm.prank(mallory);
        directory.registerProperty(2, s2, c2, t2, d2);
    }

    // ---- registerOffering

    function test_registerOffering_emitsOfferingRegistered() public {
        vm.expectEmit(address(directory));
        emit PropertyDirectory.OfferingRegistered(propertyId, o2);
        vm.prank(admin);
        directory.registerOffering(propertyId, o2);
        address[] memory offerings = directory.property(propertyId).offerings;
        assertEq(offerings.length, 2);
        assertEq(offerings[1], o2);
    }

    function test_registerOffering_revertsForZeroOffering() public {
        vm.expectRevert(PropertyDirectory.ZeroAddress.selector);
        vm.prank(admin);
        directory.registerOffering(propertyId, address(0));
    }

    function test_registerOffering_revertsForUnknownProperty() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyDirectory.UnknownProperty.selector, 2));
        vm.prank(admin);
        directory.registerOffering(2, o2);
    }

    function test_registerOffering_revertsForNonRegistrar() public {
        vm.expectRevert(_unauthorized(mallory, directory.REGISTRAR_ROLE()));
        vm.prank(mallory);
        directory.registerOffering(propertyId, o2);
    }

    // ---- property

    function test_property_revertsForUnknownProperty() public {
        vm.expectRevert(abi.encodeWithSelector(PropertyDirectory.UnknownProperty.selector, 0));
        directory.property(0);
    }

    function test_grantRole_revertsForNonAdmin() public {
        bytes32 role = directory.REGISTRAR_ROLE();
        vm.expectRevert(_unauthorized(mallory, directory.DEFAULT_ADMIN_ROLE()));
        vm.prank(mallory);
        directory.grantRole(role, mallory);
    }

    // ---- fuzz

    function testFuzz_registerProperty_thenOfferings(uint256 id, uint8 offerings) public {
        vm.assume(id != propertyId);
        offerings = uint8(bound(offerings, 0, 5));
        _register(id);
        for (uint160 i = 1; i <= offerings; i++) {
            vm.prank(admin);
            directory.registerOffering(id, address(i));
        }
        PropertyDirectory.Property memory p = directory.property(id);
        assertEq(p.shares, s2);
        assertEq(p.offerings.length, offerings);
        uint256[] memory ids = directory.propertyIds();
        assertEq(ids[ids.length - 1], id);
        vm.expectRevert(abi.encodeWithSelector(PropertyDirectory.PropertyExists.selector, id));
        _register(id);
    }
}
