// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// A plain OpenZeppelin ERC-20: the baseline the share token's costs are compared with.
contract PlainToken is ERC20 {
    constructor(address holder) ERC20("Plain", "PLN") {
        _mint(holder, 1_000_000e18);
    }
}

/// Side-by-side gas of the operations the targets name. Run with
/// `forge test --match-contract GasComparison --isolate --gas-report` so each call is measured as
/// its own transaction (intrinsic gas and cold storage included), which is what a wallet pays.
contract GasComparisonTest is Fixture {
    PlainToken internal plain;

    function setUp() public override {
        super.setUp();
        plain = new PlainToken(alice);
        // Bob and carol already hold both tokens, so "to holder" transfers touch warm-able slots
        // the same way on both sides.
        vm.prank(alice);
        plain.transfer(bob, 1e18);
        _buy(alice, 100e18);
        _buy(bob, 10e18);
        // Purchases are measured below the soft cap (escrowed proceeds, unsettled shares: the
        // dearest path); transfers of settled shares, after dave's purchase reaches the soft cap.
        vm.startPrank(registrar);
        registry.setInvestor(DAVE, GB, false, uint64(block.timestamp + 365 days));
        registry.addWallet(dave, DAVE);
        vm.stopPrank();
        _fund(dave, 1_000_000e6);
    }

    address internal dave = makeAddr("dave");
    bytes32 internal constant DAVE = keccak256("investor:dave");

    /// Dave buys what is left up to the soft cap, which settles every share sold.
    function _settle() internal {
        _buy(dave, 1_890e18);
        require(offering.softCapReached(), "soft cap not reached");
    }

    function test_plainTransferToHolder() public {
        vm.prank(alice);
        plain.transfer(bob, 1e18);
        vm.snapshotGasLastCall("plain_transfer_to_holder");
    }

    function test_sharesTransferToHolder() public {
        _settle();
        vm.prank(alice);
        shares.transfer(bob, 1e18);
        vm.snapshotGasLastCall("shares_transfer_to_holder");
    }

    function test_plainTransferToNewHolder() public {
        vm.prank(alice);
        plain.transfer(carol, 1e18);
        vm.snapshotGasLastCall("plain_transfer_to_new_holder");
    }

    function test_sharesTransferToNewHolder() public {
        _settle();
        vm.prank(alice);
        shares.transfer(carol, 1e18);
        vm.snapshotGasLastCall("shares_transfer_to_new_holder");
    }

    function test_offeringPurchaseRepeatBuyer() public {
        _buy(bob, 2e18);
        vm.snapshotGasLastCall("offering_purchase_repeat_buyer");
    }

    function test_offeringPurchaseNewBuyer() public {
        _buy(carol, 2e18);
        vm.snapshotGasLastCall("offering_purchase_new_buyer");
    }
}
