// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Fixture} from "./utils/Fixture.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {PropertyLauncher} from "../src/PropertyLauncher.sol";
import {ShareSettlement} from "../src/ShareSettlement.sol";

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

    // ------------------------------------------------------------ delivery versus payment

    /// A market with a 1% fee, and Alice's offer of 10 settled shares at 50 tUSD each; the
    /// buyers approved the market for their payments.
    function _market() internal returns (ShareSettlement market, uint256 id) {
        _settle();
        market = new ShareSettlement(admin, agent, usd, makeAddr("platform"), 100);
        vm.prank(agent);
        market.setListed(address(shares), true);
        vm.startPrank(alice);
        shares.approve(address(market), type(uint256).max);
        id = market.place(
            address(shares), ShareSettlement.Side.Sell, 10e18, PRICE, uint64(block.timestamp + 1 days)
        );
        vm.stopPrank();
        vm.prank(bob);
        usd.approve(address(market), type(uint256).max);
        vm.prank(carol);
        usd.approve(address(market), type(uint256).max);
    }

    /// The baseline's payment leg: a plain transfer of the settlement token between holders.
    function test_plainPaymentToHolder() public {
        vm.prank(bob);
        usd.transfer(alice, 50e6);
        vm.snapshotGasLastCall("plain_payment_to_holder");
    }

    function test_settlementPlaceOffer() public {
        (ShareSettlement market,) = _market();
        vm.prank(alice);
        market.place(
            address(shares), ShareSettlement.Side.Sell, 5e18, PRICE, uint64(block.timestamp + 1 days)
        );
        vm.snapshotGasLastCall("settlement_place_offer");
    }

    function test_settlementTakeByHolder() public {
        (ShareSettlement market, uint256 id) = _market();
        vm.prank(bob);
        market.take(id, 1e18);
        vm.snapshotGasLastCall("settlement_take_by_holder");
    }

    function test_settlementTakeByNewHolder() public {
        (ShareSettlement market, uint256 id) = _market();
        vm.prank(carol);
        market.take(id, 1e18);
        vm.snapshotGasLastCall("settlement_take_by_new_holder");
    }

    // ------------------------------------------------------------ tokenizing a property

    /// A new property's deed and share token, under id 2.
    function _secondProperty() internal view returns (PropertyLauncher.PropertyArgs memory a) {
        a = _launchArgs(2);
        a.parcelId = bytes32("APN-002");
        a.metadataHash = keccak256("metadata-2");
        a.metadataUri = "ipfs://deed/2";
        a.name = "Oak Ave Shares";
        a.symbol = "OAK";
    }

    /// Tokenizing a property in one transaction.
    function test_propertyLaunch() public {
        vm.prank(admin);
        launcher.launch(_secondProperty(), _roleHolders(), _offeringTerms(SOFT_CAP));
        vm.snapshotGasLastCall("property_launch");
    }
}
