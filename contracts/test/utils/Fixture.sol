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
import {PropertyLauncher} from "../../src/PropertyLauncher.sol";
import {SharesFactory, OfferingFactory, TreasuryFactory} from "../../src/PropertyFactories.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// Deploys the platform the way `propledger-contracts`' deployer does (shared contracts, factories
/// and the launcher holding the deed's and the directory's registrar roles) and launches the
/// fixture property through the launcher, with a few registered investors, for unit, fuzz,
/// invariant and gas tests. Each role is held by its own address: the admin (roles, deeds,
/// directory, launches; also a minter here, for direct issuance in tests), the transfer agent, the
/// treasurer (treasury, offering operator), the registrar (identity registry) and the rules admin
/// (compliance). Properties settling in another token are assembled contract by contract
/// (`_deployProperty`), wired as the launcher wires them.
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
    PropertyLauncher internal launcher;
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
        launcher = new PropertyLauncher(
            directory, new SharesFactory(), new OfferingFactory(), new TreasuryFactory(), admin
        );
        deed.grantRole(deed.REGISTRAR_ROLE(), address(launcher));
        directory.grantRole(directory.REGISTRAR_ROLE(), address(launcher));
        PropertyLauncher.Launched memory made =
            launcher.launch(_launchArgs(1), _roleHolders(), _offeringTerms(SOFT_CAP));
        shares = made.shares;
        shares.grantRole(shares.MINTER_ROLE(), admin);
        vm.stopPrank();
        propertyId = shares.propertyId();
        compliance = made.compliance;
        treasury = made.treasury;
        distributor = made.distributor;
        offering = made.offering;

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

    /// The fixture property's deed and share token, under property id `id`.
    function _launchArgs(uint256 id) internal view returns (PropertyLauncher.PropertyArgs memory) {
        return PropertyLauncher.PropertyArgs({
            propertyId: id,
            custodian: admin,
            parcelId: bytes32("APN-001"),
            metadataHash: keccak256("metadata"),
            metadataUri: "ipfs://deed/1",
            name: "Elm St Shares",
            symbol: "ELM"
        });
    }

    /// The fixture's operational role holders, as a launch takes them.
    function _roleHolders() internal view returns (PropertyLauncher.RoleHolders memory) {
        return PropertyLauncher.RoleHolders({agent: agent, treasurer: treasurer, rulesAdmin: rulesAdmin});
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

    /// Mints the next deed and deploys a property's compliance, shares, distributor and treasury
    /// settling in `token`, wired as a launch wires them (without an offering, and unregistered).
    function _deployProperty(IERC20 token) internal returns (Property memory p) {
        vm.startPrank(admin);
        uint256 id = deed.totalMinted() + 1;
        deed.mintDeed(
            id, admin, bytes32("APN-002"), keccak256(abi.encode("metadata", token)), "ipfs://deed/2"
        );
        p.compliance = new ShareCompliance(admin, rulesAdmin);
        p.shares = new PropertyShares(
            "Oak Ave Shares", "OAK", id, registry, p.compliance, admin, agent, address(0), address(0)
        );
        p.distributor = new Distributor(p.shares, token, admin, address(0));
        p.treasury = new PropertyTreasury(token, id, p.distributor, admin, treasurer, address(0));
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
