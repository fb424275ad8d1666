// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {UnitBase} from "./UnitBase.sol";
import {PropertyDirectory} from "../../src/PropertyDirectory.sol";
import {FeeToken} from "../utils/Adversaries.sol";

/// The admin role of every platform contract moves in two delayed steps, is never granted directly,
/// and the operational roles sit with their own holders.
contract AdminRolesTest is UnitBase {
    address internal successor = makeAddr("next admin");

    function _contracts() internal view returns (IAccessControlDefaultAdminRules[8] memory c) {
        c = [
            IAccessControlDefaultAdminRules(address(registry)),
            IAccessControlDefaultAdminRules(address(deed)),
            IAccessControlDefaultAdminRules(address(directory)),
            IAccessControlDefaultAdminRules(address(compliance)),
            IAccessControlDefaultAdminRules(address(shares)),
            IAccessControlDefaultAdminRules(address(treasury)),
            IAccessControlDefaultAdminRules(address(distributor)),
            IAccessControlDefaultAdminRules(address(offering))
        ];
    }

    function test_everyContract_hasOneAdminAndATwoDayHandover() public view {
        IAccessControlDefaultAdminRules[8] memory c = _contracts();
        for (uint256 i = 0; i < c.length; i++) {
            assertEq(c[i].defaultAdmin(), admin);
            assertEq(c[i].defaultAdminDelay(), 2 days);
        }
    }

    function test_everyContract_refusesGrantingTheAdminRole() public {
        IAccessControlDefaultAdminRules[8] memory c = _contracts();
        for (uint256 i = 0; i < c.length; i++) {
            vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
            vm.prank(admin);
            c[i].grantRole(bytes32(0), successor);
        }
    }

    /// The new admin accepts no earlier than the delay after the proposal; the old admin can cancel.
    function test_handover_takesTwoStepsAndTheDelay() public {
        IAccessControlDefaultAdminRules[8] memory c = _contracts();
        for (uint256 i = 0; i < c.length; i++) {
            vm.prank(admin);
            c[i].beginDefaultAdminTransfer(successor);
            (address pending, uint48 at) = c[i].pendingDefaultAdmin();
            assertEq(pending, successor);
            assertEq(at, block.timestamp + 2 days);
            vm.expectRevert(
                abi.encodeWithSelector(
                    IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, at
                )
            );
            vm.prank(successor);
            c[i].acceptDefaultAdminTransfer();
        }
        // One of them is cancelled in the meantime.
        vm.prank(admin);
        c[0].cancelDefaultAdminTransfer();
        vm.warp(block.timestamp + 2 days + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, successor
            )
        );
        vm.prank(successor);
        c[0].acceptDefaultAdminTransfer();
        for (uint256 i = 1; i < c.length; i++) {
            vm.prank(successor);
            c[i].acceptDefaultAdminTransfer();
            assertEq(c[i].defaultAdmin(), successor);
            assertFalse(c[i].hasRole(bytes32(0), admin));
        }
        assertEq(c[0].defaultAdmin(), admin);
    }

    function test_operationalRoles_areHeldByTheirOwnAccounts() public view {
        assertTrue(registry.hasRole(registry.REGISTRAR_ROLE(), registrar));
        assertTrue(compliance.hasRole(compliance.RULES_ADMIN_ROLE(), rulesAdmin));
        assertTrue(shares.hasRole(shares.AGENT_ROLE(), agent));
        assertTrue(treasury.hasRole(treasury.TREASURER_ROLE(), treasurer));
        assertTrue(offering.hasRole(offering.OPERATOR_ROLE(), treasurer));
        address[4] memory operational = [agent, treasurer, registrar, rulesAdmin];
        for (uint256 i = 0; i < operational.length; i++) {
            IAccessControlDefaultAdminRules[8] memory c = _contracts();
            for (uint256 j = 0; j < c.length; j++) {
                assertFalse(
                    c[j].hasRole(bytes32(0), operational[i]), "an operational key holds the admin role"
                );
            }
        }
    }

    // ------------------------------------------------------------ settlement token check

    function test_checkSettlementToken_acceptsAnExactToken() public {
        vm.startPrank(alice);
        usd.approve(address(directory), 1);
        uint256 before = usd.balanceOf(alice);
        directory.checkSettlementToken(1);
        vm.stopPrank();
        assertEq(usd.balanceOf(alice), before, "the unit came back");
        assertEq(usd.balanceOf(address(directory)), 0);
    }

    function test_checkSettlementToken_refusesAFeeOnTransferToken() public {
        FeeToken fee = new FeeToken();
        PropertyDirectory d = new PropertyDirectory(address(registry), address(deed), address(fee), admin);
        fee.mint(alice, 1_000e6);
        vm.startPrank(alice);
        fee.approve(address(d), 1_000e6);
        vm.expectRevert(abi.encodeWithSelector(PropertyDirectory.InexactTransfer.selector, 1_000e6, 990e6));
        d.checkSettlementToken(1_000e6);
        vm.stopPrank();
    }
}
