// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {UnitBase} from "./UnitBase.sol";
import {TestStablecoin} from "../../src/TestStablecoin.sol";

contract TestStablecoinTest is UnitBase {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    address internal owner;
    uint256 internal ownerKey;

    function setUp() public override {
        super.setUp();
        (owner, ownerKey) = makeAddrAndKey("permit-owner");
    }

    function _permitDigest(address holder, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, holder, spender, value, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", usd.DOMAIN_SEPARATOR(), structHash));
    }

    // ---- metadata and roles

    function test_metadata() public view {
        assertEq(usd.name(), "Test USD");
        assertEq(usd.symbol(), "tUSD");
        assertEq(usd.decimals(), 6);
    }

    function test_constructor_grantsRoles() public view {
        assertTrue(usd.hasRole(usd.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(usd.hasRole(usd.MINTER_ROLE(), admin));
        assertFalse(usd.hasRole(usd.MINTER_ROLE(), mallory));
    }

    function test_grantRole_revertsForNonAdmin() public {
        bytes32 role = usd.MINTER_ROLE();
        vm.expectRevert(_unauthorized(mallory, usd.DEFAULT_ADMIN_ROLE()));
        vm.prank(mallory);
        usd.grantRole(role, mallory);
    }

    // ---- mint

    function test_mint_emitsTransfer() public {
        uint256 supply = usd.totalSupply();
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(address(0), mallory, 123e6);
        vm.prank(admin);
        usd.mint(mallory, 123e6);
        assertEq(usd.balanceOf(mallory), 123e6);
        assertEq(usd.totalSupply(), supply + 123e6);
    }

    function test_mint_revertsForNonMinter() public {
        vm.expectRevert(_unauthorized(mallory, usd.MINTER_ROLE()));
        vm.prank(mallory);
        usd.mint(mallory, 1);
    }

    function test_mint_revertsToZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        vm.prank(admin);
        usd.mint(address(0), 1);
    }

    // ---- plain ERC-20

    function test_transfer_emitsTransfer() public {
        vm.expectEmit(address(usd));
        emit IERC20.Transfer(alice, bob, 5e6);
        vm.prank(alice);
        assertTrue(usd.transfer(bob, 5e6));
    }

    function test_transfer_revertsOnInsufficientBalance() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, mallory, 0, 1));
        vm.prank(mallory);
        usd.transfer(alice, 1);
    }

    function test_transferFrom_revertsOnInsufficientAllowance() public {
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, mallory, 0, 1)
        );
        vm.prank(mallory);
        usd.transferFrom(alice, mallory, 1);
    }

    // ---- permit (EIP-2612)

    function test_permit_setsAllowanceAndEmitsApproval() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, _permitDigest(owner, bob, 77e6, 0, deadline));
        vm.expectEmit(address(usd));
        emit IERC20.Approval(owner, bob, 77e6);
        vm.prank(mallory); // anyone may submit the signature
        usd.permit(owner, bob, 77e6, deadline, v, r, s);
        assertEq(usd.allowance(owner, bob), 77e6);
        assertEq(usd.nonces(owner), 1);
    }

    function test_permit_revertsWhenExpired() public {
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, _permitDigest(owner, bob, 1, 0, deadline));
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        usd.permit(owner, bob, 1, deadline, v, r, s);
    }

    function test_permit_revertsForWrongSigner() public {
        (address other, uint256 otherKey) = makeAddrAndKey("other");
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(otherKey, _permitDigest(owner, bob, 1, 0, deadline));
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, other, owner));
        usd.permit(owner, bob, 1, deadline, v, r, s);
    }

    function test_permit_revertsOnReplay() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, _permitDigest(owner, bob, 1, 0, deadline));
        usd.permit(owner, bob, 1, deadline, v, r, s);
        // the nonce moved on: the same signature now recovers some unrelated address
        address recovered = ecrecover(_permitDigest(owner, bob, 1, 1, deadline), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, owner));
        usd.permit(owner, bob, 1, deadline, v, r, s);
    }

    // ---- fuzz

    function testFuzz_mintAndTransfer_conserveSupply(address to, uint128 minted, uint128 sent) public {
        vm.assume(to != address(0) && to != mallory);
        sent = uint128(bound(sent, 0, minted));
        uint256 supply = usd.totalSupply();
        vm.prank(admin);
        usd.mint(mallory, minted);
        uint256 toBefore = usd.balanceOf(to);
        vm.prank(mallory);
        usd.transfer(to, sent);
        assertEq(usd.totalSupply(), supply + minted);
        assertEq(usd.balanceOf(mallory), minted - sent);
        assertEq(usd.balanceOf(to), toBefore + sent);
    }
}
