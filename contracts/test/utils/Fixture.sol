// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";
import {IdentityRegistry} from "../../src/IdentityRegistry.sol";
import {ShareCompliance} from "../../src/ShareCompliance.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {ShareOffering} from "../../src/ShareOffering.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {Distributor} from "../../src/Distributor.sol";
import {PropertyDeed} from "../../src/PropertyDeed.sol";
import {PropertyDirectory} from "../../src/PropertyDirectory.sol";
import {TestStablecoin} from "../../src/TestStablecoin.sol";

/// Deploys and wires the whole suite the way `propledger-contracts`' deployer does, with a few
/// registered investors, for unit, fuzz, invariant and gas tests.
abstract contract Fixture is Test {
    uint16 internal constant US = 840;
    uint16 internal constant GB = 826;
    uint16 internal constant KP = 408;

    address internal admin = makeAddr("admin");
    address internal agent = makeAddr("agent");
    address internal alice = makeAddr("alice");
    address internal alice2 = makeAddr("alice2"); // second wallet of alice
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");
    address internal mallory = makeAddr("mallory"); // never registered
    address internal contractor = makeAddr("contractor");

    bytes32 internal constant ALICE = keccak256("investor:alice");
    bytes32 internal constant BOB = keccak256("investor:bob");
    bytes32 internal constant CAROL = keccak256("investor:carol");

    IdentityRegistry internal registry;
    ShareCompliance internal compliance;
    PropertyShares internal shares;
    ShareOffering internal offering;
    PropertyTreasury internal treasury;
    Distributor internal distributor;
    PropertyDeed internal deed;
    PropertyDirectory internal directory;
    TestStablecoin internal usd;
    uint256 internal propertyId;

    uint256 internal constant PRICE = 50e6; // 50 tUSD per share
    uint256 internal constant FOR_SALE = 10_000e18;
    uint256 internal constant SOFT_CAP = 100_000e6;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        vm.startPrank(admin);
        usd = new TestStablecoin(admin);
        registry = new IdentityRegistry(admin);
        deed = new PropertyDeed(admin);
        directory = new PropertyDirectory(address(registry), address(deed), address(usd), admin);
        propertyId = deed.mintDeed(admin, bytes32("APN-001"), keccak256("metadata"), "ipfs://deed/1");
        compliance = new ShareCompliance(admin);
        shares = new PropertyShares("Elm St Shares", "ELM", propertyId, registry, compliance, admin);
        treasury = new PropertyTreasury(usd, propertyId, admin);
        distributor = new Distributor(shares, usd, admin);
        offering = new ShareOffering(
            shares,
            usd,
            treasury,
            ShareOffering.Terms({
                pricePerShare: PRICE,
                minPurchase: 1e18,
                maxPerInvestor: 5_000e18,
                sharesForSale: FOR_SALE,
                softCap: SOFT_CAP,
                start: uint64(block.timestamp),
                end: uint64(block.timestamp + 30 days)
            }),
            admin
        );
        shares.grantRole(shares.MINTER_ROLE(), address(offering));
        shares.grantRole(shares.MINTER_ROLE(), admin);
        shares.grantRole(shares.CHECKPOINT_ROLE(), address(distributor));
        shares.grantRole(shares.AGENT_ROLE(), agent);
        treasury.grantRole(treasury.OFFERING_ROLE(), address(offering));
        distributor.grantRole(distributor.FUNDER_ROLE(), address(treasury));
        directory.registerProperty(
            propertyId, address(shares), address(compliance), address(treasury), address(distributor)
        );
        directory.registerOffering(propertyId, address(offering));

        registry.setInvestor(ALICE, US, true, uint64(block.timestamp + 365 days));
        registry.setInvestor(BOB, GB, false, uint64(block.timestamp + 365 days));
        registry.setInvestor(CAROL, US, true, uint64(block.timestamp + 365 days));
        registry.addWallet(alice, ALICE);
        registry.addWallet(alice2, ALICE);
        registry.addWallet(bob, BOB);
        registry.addWallet(carol, CAROL);
        vm.stopPrank();

        _fund(alice, 1_000_000e6);
        _fund(bob, 1_000_000e6);
        _fund(carol, 1_000_000e6);
    }

    function _fund(address who, uint256 amount) internal {
        vm.prank(admin);
        usd.mint(who, amount);
        vm.prank(who);
        usd.approve(address(offering), type(uint256).max);
    }

    function _buy(address who, uint256 shareAmount) internal returns (uint256 cost) {
        vm.prank(who);
        cost = offering.buy(shareAmount);
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(admin);
        shares.mint(to, amount);
    }
}
