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
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// Deploys and wires the whole suite the way `propledger-contracts`' deployer does, with a few
/// registered investors, for unit, fuzz, invariant and gas tests. Each role is held by its own
/// address: the admin (roles, deeds, directory; also a minter here, for direct issuance in tests),
/// the transfer agent, the treasurer (treasury, offering operator), the registrar (identity
/// registry) and the rules admin (compliance).
abstract contract Fixture is Test {
    uint16 internal constant US = 840;
    uint16 internal constant GB = 826;
    uint16 internal constant KP = 408;

    address internal admin = makeAddr("admin");
    address internal agent = makeAddr("agent");
    address internal treasurer = makeAddr("treasurer");
    address internal registrar = makeAddr("registrar");
    address internal rulesAdmin = makeAddr("rulesAdmin");
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

    /// Another property's contracts (for tests that need a second one, or another settlement token).
    struct Property {
        PropertyShares shares;
        ShareCompliance compliance;
        PropertyTreasury treasury;
        Distributor distributor;
    }

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        vm.startPrank(admin);
        usd = new TestStablecoin(admin);
        registry = new IdentityRegistry(admin, registrar);
        deed = new PropertyDeed(admin);
        directory = new PropertyDirectory(address(registry), address(deed), address(usd), admin);
        vm.stopPrank();
        Property memory p = _deployProperty(usd);
        propertyId = p.shares.propertyId();
        compliance = p.compliance;
        shares = p.shares;
        treasury = p.treasury;
        distributor = p.distributor;
        offering = _deployOffering(shares, usd, treasury, _offeringTerms(SOFT_CAP));
        vm.startPrank(admin);
        shares.grantRole(shares.MINTER_ROLE(), admin);
        directory.registerProperty(
            propertyId, address(shares), address(compliance), address(treasury), address(distributor)
        );
        directory.registerOffering(propertyId, address(offering));
        vm.stopPrank();

        vm.startPrank(registrar);
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

    /// The fixture offering's terms with another soft cap, opening now for 30 days.
    function _offeringTerms(uint256 softCap) internal view returns (ShareOffering.Terms memory) {
        return ShareOffering.Terms({
            pricePerShare: PRICE,
            minPurchase: 1e18,
            maxPerInvestor: 5_000e18,
            sharesForSale: FOR_SALE,
            softCap: softCap,
            start: uint64(block.timestamp),
            end: uint64(block.timestamp + 30 days)
        });
    }

    /// Mints a deed and deploys a property's compliance, shares, distributor and treasury settling in
    /// `token`, wired as the deployer wires them.
    function _deployProperty(IERC20 token) internal returns (Property memory p) {
        vm.startPrank(admin);
        bool first = deed.totalMinted() == 0;
        uint256 id = first
            ? deed.mintDeed(admin, bytes32("APN-001"), keccak256("metadata"), "ipfs://deed/1")
            : deed.mintDeed(
                admin, bytes32("APN-002"), keccak256(abi.encode("metadata", token)), "ipfs://deed/2"
            );
        p.compliance = new ShareCompliance(admin, rulesAdmin);
        p.shares = new PropertyShares(
            first ? "Elm St Shares" : "Oak Ave Shares",
            first ? "ELM" : "OAK",
            id,
            registry,
            p.compliance,
            admin,
            agent
        );
        p.distributor = new Distributor(p.shares, token, admin);
        p.treasury = new PropertyTreasury(token, id, p.distributor, admin, treasurer);
        p.shares.grantRole(p.shares.CHECKPOINT_ROLE(), address(p.distributor));
        p.distributor.grantRole(p.distributor.FUNDER_ROLE(), address(p.treasury));
        vm.stopPrank();
    }

    /// Deploys an offering of `s` settling in `token` into `t`, wired as the deployer wires it.
    function _deployOffering(
        PropertyShares s,
        IERC20 token,
        PropertyTreasury t,
        ShareOffering.Terms memory terms
    ) internal returns (ShareOffering o) {
        vm.startPrank(admin);
        o = new ShareOffering(s, token, t, terms, admin, treasurer);
        s.grantRole(s.MINTER_ROLE(), address(o));
        t.grantRole(t.OFFERING_ROLE(), address(o));
        vm.stopPrank();
    }

    /// The treasurer funds a distribution of the fixture property; `ok` is false when it is refused.
    function _fundDistribution(uint256 amount, uint64 deadline) internal returns (bool ok, uint256 id) {
        vm.prank(treasurer);
        try treasury.fundDistribution(amount, deadline, bytes32("payout")) returns (uint256 i) {
            return (true, i);
        } catch {
            return (false, 0);
        }
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
