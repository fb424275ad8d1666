// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Test} from "forge-std/Test.sol";
import {LedgerAnchor} from "../../src/LedgerAnchor.sol";

/// Anchors record the books' head after a count of entries, only forward, only by the anchorer.
contract LedgerAnchorTest is Test {
    address internal admin = makeAddr("admin");
    address internal node = makeAddr("node");
    LedgerAnchor internal anchor;

    event Anchored(uint256 indexed index, uint64 indexed entries, bytes32 headHash, bytes32 documentsRoot);

    function setUp() public {
        anchor = new LedgerAnchor(admin, node);
    }

    function test_anchorsMoveForwardAndAreCounted() public {
        vm.expectEmit(address(anchor));
        emit Anchored(0, 5, keccak256("head 5"), bytes32(0));
        vm.prank(node);
        anchor.anchor(5, keccak256("head 5"), bytes32(0));
        vm.expectEmit(address(anchor));
        emit Anchored(1, 9, keccak256("head 9"), keccak256("documents"));
        vm.prank(node);
        anchor.anchor(9, keccak256("head 9"), keccak256("documents"));
        assertEq(anchor.count(), 2);
        assertEq(anchor.lastEntries(), 9);
    }

    function test_refusesGoingBackOrStandingStill() public {
        vm.prank(node);
        anchor.anchor(5, keccak256("head 5"), bytes32(0));
        for (uint64 n = 4; n <= 5; n++) {
            vm.prank(node);
            vm.expectRevert(abi.encodeWithSelector(LedgerAnchor.NotForward.selector, n, uint64(5)));
            anchor.anchor(n, keccak256("other"), bytes32(0));
        }
    }

    function test_refusesAZeroHash() public {
        vm.prank(node);
        vm.expectRevert(LedgerAnchor.ZeroHash.selector);
        anchor.anchor(1, bytes32(0), bytes32(0));
    }

    function test_onlyTheAnchorerAnchors() public {
        address stranger = makeAddr("stranger");
        bytes32 role = anchor.ANCHOR_ROLE();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        anchor.anchor(1, keccak256("head"), bytes32(0));
        assertEq(anchor.defaultAdmin(), admin);
        assertEq(anchor.defaultAdminDelay(), 2 days);
    }
}
