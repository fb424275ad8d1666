// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {Vm} from "forge-std/Vm.sol";
import {UnitBase} from "./UnitBase.sol";
import {PropertyDeed} from "../../src/PropertyDeed.sol";
import {PropertyDirectory} from "../../src/PropertyDirectory.sol";
import {PropertyLauncher} from "../../src/PropertyLauncher.sol";
import {
    ContractFactory,
    SharesFactory,
    ComplianceFactory,
    OfferingFactory,
    TreasuryFactory
} from "../../src/PropertyFactories.sol";
import {ShareCompliance} from "../../src/ShareCompliance.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {ShareOffering} from "../../src/ShareOffering.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {Distributor} from "../../src/Distributor.sol";

/// A custody contract that re-enters the launcher when it receives a deed.
contract ReenteringCustodian is IERC721Receiver {
    PropertyLauncher internal immutable launcher;
    bytes internal call;

    constructor(PropertyLauncher launcher_) {
        launcher = launcher_;
    }

    function arm(bytes calldata c) external {
        call = c;
    }

    function onERC721Received(address, address, uint256, bytes calldata) external returns (bytes4) {
        (bool ok, bytes memory err) = address(launcher).call(call);
        if (!ok) {
            assembly {
                revert(add(err, 32), mload(err))
            }
        }
        return IERC721Receiver.onERC721Received.selector;
    }
}

/// An offering factory that places the offering one address away from where it said it would:
/// the launcher must refuse to leave roles granted to an address nothing was created at.
contract SkewedOfferingFactory {
    OfferingFactory internal immutable real = new OfferingFactory();

    function nextAddress(uint256 ahead) external view returns (address) {
        return real.nextAddress(ahead + 1);
    }

    function createCompliance(address admin, address rulesAdmin) external returns (ShareCompliance) {
        return real.createCompliance(admin, rulesAdmin);
    }

    function createOffering(
        PropertyShares shares,
        IERC20 settlementToken,
        PropertyTreasury treasury,
        ShareOffering.Terms calldata terms,
        address admin,
        address operator
    ) external returns (ShareOffering) {
        return real.createOffering(shares, settlementToken, treasury, terms, admin, operator);
    }
}

/// `PropertyLauncher.launch`: one transaction that mints the deed, creates and wires every contract
/// of a property exactly as the contract-by-contract deployment does, registers it, and changes
/// nothing at all when any part of it is refused.
contract PropertyLauncherTest is UnitBase {
    uint256 internal constant NEW_ID = 42;
    address internal custodian2 = makeAddr("custodian2");
    address internal successor = makeAddr("next admin");

    SharesFactory internal sharesFactory;
    OfferingFactory internal offeringFactory;
    TreasuryFactory internal treasuryFactory;

    function setUp() public override {
        super.setUp();
        sharesFactory = launcher.sharesFactory();
        offeringFactory = launcher.offeringFactory();
        treasuryFactory = launcher.treasuryFactory();
    }

    // ------------------------------------------------------------ helpers

    function _args(uint256 id) internal view returns (PropertyLauncher.PropertyArgs memory a) {
        a = _launchArgs(id);
        a.custodian = custodian2;
        a.parcelId = bytes32("APN-042");
        a.metadataHash = keccak256("metadata-42");
        a.metadataUri = "ipfs://deed/42";
        a.name = "Ash Ct Shares";
        a.symbol = "ASH";
    }

    function _launch(PropertyLauncher.PropertyArgs memory a, ShareOffering.Terms memory t)
        internal
        returns (PropertyLauncher.Launched memory)
    {
        vm.prank(admin);
        return launcher.launch(a, _roleHolders(), t);
    }

    /// Everything a launch may change, as one hash: the deed count and the deed of `id`, the
    /// directory's ids and its entry for `id`, and the factories' nonces.
    function _world(uint256 id) internal view returns (bytes32) {
        bytes memory owner;
        try deed.ownerOf(id) returns (address o) {
            owner = abi.encode(o, deed.deed(id));
        } catch (bytes memory err) {
            owner = err;
        }
        bytes memory entry;
        try directory.property(id) returns (PropertyDirectory.Property memory p) {
            entry = abi.encode(p);
        } catch (bytes memory err) {
            entry = err;
        }
        return keccak256(
            abi.encode(
                deed.totalMinted(),
                directory.propertyIds(),
                sharesFactory.nonce(),
                offeringFactory.nonce(),
                treasuryFactory.nonce(),
                owner,
                entry
            )
        );
    }

    /// Asserts that `launch(a, roles, t)` from `caller` reverts with exactly `err` and changes nothing.
    function _expectRefused(
        address caller,
        PropertyLauncher.PropertyArgs memory a,
        PropertyLauncher.RoleHolders memory roles,
        ShareOffering.Terms memory t,
        bytes memory err
    ) internal {
        bytes32 before = _world(a.propertyId);
        bytes32 fixture = _world(propertyId);
        vm.expectRevert(err);
        vm.prank(caller);
        launcher.launch(a, roles, t);
        assertEq(_world(a.propertyId), before, "a refused launch changed state");
        assertEq(_world(propertyId), fixture, "a refused launch changed the fixture property");
    }

    function _expectRefused(
        PropertyLauncher.PropertyArgs memory a,
        ShareOffering.Terms memory t,
        bytes memory err
    ) internal {
        _expectRefused(admin, a, _roleHolders(), t, err);
    }

    /// Every role id any platform contract uses, the admin role first.
    function _roleIds() internal pure returns (bytes32[11] memory) {
        return [
            bytes32(0),
            keccak256("REGISTRAR_ROLE"),
            keccak256("CUSTODIAN_ROLE"),
            keccak256("RULES_ADMIN_ROLE"),
            keccak256("AGENT_ROLE"),
            keccak256("MINTER_ROLE"),
            keccak256("CHECKPOINT_ROLE"),
            keccak256("TREASURER_ROLE"),
            keccak256("OFFERING_ROLE"),
            keccak256("FUNDER_ROLE"),
            keccak256("OPERATOR_ROLE")
        ];
    }

    function _five(PropertyLauncher.Launched memory m) internal pure returns (address[5] memory) {
        return [
            address(m.compliance),
            address(m.shares),
            address(m.distributor),
            address(m.treasury),
            address(m.offering)
        ];
    }

    // ------------------------------------------------------------ wiring

    /// A launched property holds exactly the roles of one assembled contract by contract (the
    /// sequence of transactions the deployer used to send: mint, five deployments, four grants,
    /// two registrations), and the same constructor state.
    function test_launch_wiresLikeTheContractByContractDeployment() public {
        PropertyLauncher.Launched memory l = _launch(_args(NEW_ID), _offeringTerms(SOFT_CAP));

        Property memory p = _deployProperty(usd);
        ShareOffering o = _deployOffering(p.shares, usd, p.treasury, _offeringTerms(SOFT_CAP));
        PropertyLauncher.Launched memory r =
            PropertyLauncher.Launched(p.compliance, p.shares, p.distributor, p.treasury, o);

        address[5] memory launched = _five(l);
        address[5] memory reference_ = _five(r);
        // Who could hold a role: the people, the platform's own contracts, and the property's
        // contracts themselves (compared by position, since their addresses differ).
        address[9] memory people = [
            admin,
            agent,
            treasurer,
            registrar,
            rulesAdmin,
            address(launcher),
            address(sharesFactory),
            address(offeringFactory),
            address(treasuryFactory)
        ];
        bytes32[11] memory roles = _roleIds();
        uint256 held;
        for (uint256 c = 0; c < 5; c++) {
            IAccessControl lc = IAccessControl(launched[c]);
            IAccessControl rc = IAccessControl(reference_[c]);
            for (uint256 k = 0; k < roles.length; k++) {
                for (uint256 i = 0; i < people.length; i++) {
                    bool has = lc.hasRole(roles[k], people[i]);
                    assertEq(has, rc.hasRole(roles[k], people[i]), "a person's role differs");
                    if (has) held++;
                }
                for (uint256 j = 0; j < 5; j++) {
                    bool has = lc.hasRole(roles[k], launched[j]);
                    assertEq(has, rc.hasRole(roles[k], reference_[j]), "a contract's role differs");
                    if (has) held++;
                }
            }
            IAccessControlDefaultAdminRules la = IAccessControlDefaultAdminRules(launched[c]);
            assertEq(la.defaultAdmin(), admin);
            assertEq(la.defaultAdminDelay(), 2 days);
        }
        // 5 admins, rules admin, agent, minter, checkpointer, treasurer, offering, funder, operator.
        assertEq(held, 13, "the comparison saw the roles");

        // The wiring the roles stand for, spelled out.
        assertTrue(l.shares.hasRole(l.shares.MINTER_ROLE(), address(l.offering)));
        assertTrue(l.shares.hasRole(l.shares.CHECKPOINT_ROLE(), address(l.distributor)));
        assertTrue(l.treasury.hasRole(l.treasury.OFFERING_ROLE(), address(l.offering)));
        assertTrue(l.distributor.hasRole(l.distributor.FUNDER_ROLE(), address(l.treasury)));
        assertTrue(l.shares.hasRole(l.shares.AGENT_ROLE(), agent));
        assertTrue(l.compliance.hasRole(l.compliance.RULES_ADMIN_ROLE(), rulesAdmin));
        assertTrue(l.treasury.hasRole(l.treasury.TREASURER_ROLE(), treasurer));
        assertTrue(l.offering.hasRole(l.offering.OPERATOR_ROLE(), treasurer));

        // Constructor state.
        assertEq(l.shares.name(), "Ash Ct Shares");
        assertEq(l.shares.symbol(), "ASH");
        assertEq(l.shares.decimals(), r.shares.decimals());
        assertEq(l.shares.propertyId(), NEW_ID);
        assertEq(address(l.shares.registry()), address(registry));
        assertEq(address(l.shares.compliance()), address(l.compliance));
        assertEq(address(l.distributor.shares()), address(l.shares));
        assertEq(address(l.distributor.payoutToken()), address(usd));
        assertEq(address(l.treasury.settlementToken()), address(usd));
        assertEq(l.treasury.propertyId(), NEW_ID);
        assertEq(address(l.treasury.distributor()), address(l.distributor));
        assertEq(address(l.offering.shares()), address(l.shares));
        assertEq(address(l.offering.settlementToken()), address(usd));
        assertEq(address(l.offering.treasury()), address(l.treasury));
        assertEq(abi.encode(l.offering.terms()), abi.encode(_offeringTerms(SOFT_CAP)));
        assertEq(abi.encode(l.compliance.rules()), abi.encode(r.compliance.rules()));

        // The deed and the directory.
        assertEq(deed.ownerOf(NEW_ID), custodian2);
        assertEq(deed.tokenURI(NEW_ID), "ipfs://deed/42");
        assertEq(deed.metadataHash(NEW_ID), keccak256("metadata-42"));
        assertEq(deed.deed(NEW_ID).parcelId, bytes32("APN-042"));
        PropertyDirectory.Property memory entry = directory.property(NEW_ID);
        assertEq(entry.shares, address(l.shares));
        assertEq(entry.compliance, address(l.compliance));
        assertEq(entry.treasury, address(l.treasury));
        assertEq(entry.distributor, address(l.distributor));
        assertEq(entry.offerings.length, 1);
        assertEq(entry.offerings[0], address(l.offering));
        uint256[] memory ids = directory.propertyIds();
        assertEq(ids.length, 2);
        assertEq(ids[1], NEW_ID);
    }

    /// The launcher and the factories keep no role on what they created, and the platform's
    /// operational keys hold no admin role there.
    function test_launch_leavesNoRoleWithTheLauncherOrTheFactories() public {
        PropertyLauncher.Launched memory l = _launch(_args(NEW_ID), _offeringTerms(SOFT_CAP));
        address[5] memory made = _five(l);
        address[4] memory machinery =
            [address(launcher), address(sharesFactory), address(offeringFactory), address(treasuryFactory)];
        bytes32[11] memory roles = _roleIds();
        for (uint256 c = 0; c < 5; c++) {
            for (uint256 k = 0; k < roles.length; k++) {
                for (uint256 i = 0; i < machinery.length; i++) {
                    assertFalse(
                        IAccessControl(made[c]).hasRole(roles[k], machinery[i]), "machinery holds a role"
                    );
                }
            }
            (address pending,) = IAccessControlDefaultAdminRules(made[c]).pendingDefaultAdmin();
            assertEq(pending, address(0), "an admin handover is pending");
        }
    }

    /// The events an indexer and the API read: the deed's, the directory's and `PropertyLaunched`,
    /// in this order, naming the contracts at the addresses the factories predicted.
    function test_launch_emitsTheDeedDirectoryAndLaunchEvents() public {
        ComplianceFactory rulesFactory = offeringFactory.complianceFactory();
        address compliance_ = rulesFactory.nextAddress(0);
        address offering_ = offeringFactory.nextAddress(0);
        address shares_ = sharesFactory.nextAddress(0);
        address distributor_ = treasuryFactory.nextAddress(0);
        address treasury_ = treasuryFactory.nextAddress(1);
        // The factories' prediction agrees with the EVM's own rule.
        assertEq(compliance_, vm.computeCreateAddress(address(rulesFactory), rulesFactory.nonce()));
        assertEq(shares_, vm.computeCreateAddress(address(sharesFactory), sharesFactory.nonce()));

        vm.expectEmit(address(deed));
        emit PropertyDeed.DeedMinted(
            NEW_ID, custodian2, bytes32("APN-042"), keccak256("metadata-42"), "ipfs://deed/42"
        );
        vm.expectEmit(address(directory));
        emit PropertyDirectory.PropertyRegistered(NEW_ID, shares_, compliance_, treasury_, distributor_);
        vm.expectEmit(address(directory));
        emit PropertyDirectory.OfferingRegistered(NEW_ID, offering_);
        vm.expectEmit(address(launcher));
        emit PropertyLauncher.PropertyLaunched(
            NEW_ID, custodian2, shares_, compliance_, treasury_, distributor_, offering_
        );
        vm.recordLogs();
        PropertyLauncher.Launched memory l = _launch(_args(NEW_ID), _offeringTerms(SOFT_CAP));
        assertEq(address(l.compliance), compliance_);
        assertEq(address(l.shares), shares_);
        assertEq(address(l.distributor), distributor_);
        assertEq(address(l.treasury), treasury_);
        assertEq(address(l.offering), offering_);

        // Exactly one of each, and the launch event last.
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 minted;
        uint256 registered;
        uint256 offerings;
        for (uint256 i = 0; i < logs.length; i++) {
            bytes32 t0 = logs[i].topics[0];
            if (t0 == PropertyDeed.DeedMinted.selector) minted++;
            if (t0 == PropertyDirectory.PropertyRegistered.selector) registered++;
            if (t0 == PropertyDirectory.OfferingRegistered.selector) offerings++;
        }
        assertEq(minted + registered + offerings, 3);
        assertEq(logs[logs.length - 1].emitter, address(launcher));
        assertEq(logs[logs.length - 1].topics[0], PropertyLauncher.PropertyLaunched.selector);
    }

    /// A launched property works end to end: an investor buys past the soft cap, the treasurer
    /// funds a distribution through the distributor, the investor claims.
    function test_launch_makesAWorkingProperty() public {
        PropertyLauncher.Launched memory l = _launch(_args(NEW_ID), _offeringTerms(1_000e6));
        vm.prank(alice);
        usd.approve(address(l.offering), type(uint256).max);
        vm.prank(alice);
        l.offering.buy(20e18);
        assertEq(l.shares.balanceOf(alice), 20e18);
        assertTrue(l.offering.softCapReached());
        assertEq(usd.balanceOf(address(l.treasury)), 1_000e6);
        vm.warp(block.timestamp + 1);
        vm.prank(treasurer);
        uint256 d = l.treasury.fundDistribution(100e6, uint64(block.timestamp + 30 days), bytes32("payout"));
        vm.prank(alice);
        l.distributor.claim(d);
        assertEq(l.shares.balanceOf(alice), 20e18);
        assertEq(usd.balanceOf(address(l.treasury)), 900e6);
    }

    /// A launch fits in one transaction under EIP-7825's cap (2^24 gas), with room to spare for
    /// the transaction's intrinsic cost and long names.
    function test_launch_fitsUnderTheTransactionGasCap() public {
        PropertyLauncher.PropertyArgs memory a = _args(NEW_ID);
        a.name = "A property with a long name for its share token, as long as the API allows";
        a.metadataUri = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/metadata.json";
        vm.prank(admin);
        uint256 before = gasleft();
        launcher.launch(a, _roleHolders(), _offeringTerms(SOFT_CAP));
        uint256 used = before - gasleft();
        assertLt(used + 1_000_000, 1 << 24, "a launch nears the per-transaction gas cap");
    }

    /// Anyone may call the factories; contracts made there in other transactions move the
    /// factories' nonces, and the launcher's predictions follow.
    function test_launch_afterOthersUsedTheFactories() public {
        vm.startPrank(mallory);
        offeringFactory.createCompliance(mallory, mallory);
        treasuryFactory.createDistributor(shares, usd, mallory, address(0));
        treasuryFactory.createDistributor(shares, usd, mallory, address(0));
        vm.stopPrank();
        PropertyLauncher.Launched memory l = _launch(_args(NEW_ID), _offeringTerms(SOFT_CAP));
        assertTrue(l.shares.hasRole(l.shares.MINTER_ROLE(), address(l.offering)));
        assertTrue(l.shares.hasRole(l.shares.CHECKPOINT_ROLE(), address(l.distributor)));
        assertTrue(l.treasury.hasRole(l.treasury.OFFERING_ROLE(), address(l.offering)));
        assertTrue(l.distributor.hasRole(l.distributor.FUNDER_ROLE(), address(l.treasury)));
        // The offering factory's own nonce counts its offerings (and its compliance factory).
        assertEq(offeringFactory.nonce(), 4);
        assertEq(offeringFactory.complianceFactory().nonce(), 4);
        assertEq(treasuryFactory.nonce(), 7);
    }

    /// Property ids are the caller's: any unused non-zero id, in any order, up to UUID-sized ones.
    function test_launch_takesAnyUnusedId() public {
        uint256 big = uint256(type(uint128).max);
        _launch(_args(big), _offeringTerms(SOFT_CAP));
        _launch(_args(7), _offeringTerms(SOFT_CAP));
        assertEq(deed.totalMinted(), 3);
        uint256[] memory ids = directory.propertyIds();
        assertEq(ids[1], big);
        assertEq(ids[2], 7);
    }

    // ------------------------------------------------------------ refusals, each changing nothing

    function test_launch_refusesAnyoneButTheAdmin() public {
        address[6] memory others = [agent, treasurer, registrar, rulesAdmin, mallory, custodian2];
        for (uint256 i = 0; i < others.length; i++) {
            _expectRefused(
                others[i],
                _args(NEW_ID),
                _roleHolders(),
                _offeringTerms(SOFT_CAP),
                _unauthorized(others[i], bytes32(0))
            );
        }
    }

    /// The same launch sent twice: the second fails on the deed and leaves the first untouched.
    function test_launch_refusesAnIdLaunchedBefore() public {
        PropertyLauncher.Launched memory first = _launch(_args(NEW_ID), _offeringTerms(SOFT_CAP));
        _expectRefused(
            _args(NEW_ID),
            _offeringTerms(SOFT_CAP),
            abi.encodeWithSelector(PropertyDeed.DeedExists.selector, NEW_ID)
        );
        assertEq(directory.property(NEW_ID).shares, address(first.shares));
        // The fixture's own property, launched in setUp, too.
        _expectRefused(
            _launchArgs(propertyId),
            _offeringTerms(SOFT_CAP),
            abi.encodeWithSelector(PropertyDeed.DeedExists.selector, propertyId)
        );
    }

    /// An id with a deed minted outside the launcher (the admin still holds the deed's registrar role).
    function test_launch_refusesAnIdMintedDirectly() public {
        vm.prank(admin);
        deed.mintDeed(NEW_ID, admin, bytes32("APN-X"), keccak256("x"), "ipfs://x");
        _expectRefused(
            _args(NEW_ID),
            _offeringTerms(SOFT_CAP),
            abi.encodeWithSelector(PropertyDeed.DeedExists.selector, NEW_ID)
        );
    }

    /// An id the directory already lists (registered outside the launcher): the registration, the
    /// launch's last step, fails, and the deed minted at its first step is undone with the rest.
    function test_launch_refusesAnIdRegisteredDirectly() public {
        vm.prank(admin);
        directory.registerProperty(
            NEW_ID, address(shares), address(compliance), address(treasury), address(distributor)
        );
        _expectRefused(
            _args(NEW_ID),
            _offeringTerms(SOFT_CAP),
            abi.encodeWithSelector(PropertyDirectory.PropertyExists.selector, NEW_ID)
        );
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, NEW_ID));
        deed.ownerOf(NEW_ID);
    }

    function test_launch_refusesIdZero() public {
        _expectRefused(
            _args(0), _offeringTerms(SOFT_CAP), abi.encodeWithSelector(PropertyDeed.ZeroTokenId.selector)
        );
    }

    function test_launch_refusesAZeroMetadataHash() public {
        PropertyLauncher.PropertyArgs memory a = _args(NEW_ID);
        a.metadataHash = bytes32(0);
        _expectRefused(
            a, _offeringTerms(SOFT_CAP), abi.encodeWithSelector(PropertyDeed.InvalidMetadata.selector)
        );
    }

    function test_launch_refusesAnEmptyMetadataUri() public {
        PropertyLauncher.PropertyArgs memory a = _args(NEW_ID);
        a.metadataUri = "";
        _expectRefused(
            a, _offeringTerms(SOFT_CAP), abi.encodeWithSelector(PropertyDeed.InvalidMetadata.selector)
        );
    }

    function test_launch_refusesZeroAddresses() public {
        bytes memory err = abi.encodeWithSelector(PropertyLauncher.ZeroAddress.selector);
        PropertyLauncher.PropertyArgs memory a = _args(NEW_ID);
        a.custodian = address(0);
        _expectRefused(admin, a, _roleHolders(), _offeringTerms(SOFT_CAP), err);
        PropertyLauncher.RoleHolders memory r = _roleHolders();
        r.agent = address(0);
        _expectRefused(admin, _args(NEW_ID), r, _offeringTerms(SOFT_CAP), err);
        r = _roleHolders();
        r.treasurer = address(0);
        _expectRefused(admin, _args(NEW_ID), r, _offeringTerms(SOFT_CAP), err);
        r = _roleHolders();
        r.rulesAdmin = address(0);
        _expectRefused(admin, _args(NEW_ID), r, _offeringTerms(SOFT_CAP), err);
    }

    function test_launch_refusesBadTerms() public {
        bytes memory err = abi.encodeWithSelector(ShareOffering.InvalidTerms.selector);
        ShareOffering.Terms memory t = _offeringTerms(SOFT_CAP);
        t.pricePerShare = 0;
        _expectRefused(_args(NEW_ID), t, err);
        t = _offeringTerms(SOFT_CAP);
        t.sharesForSale = 0;
        _expectRefused(_args(NEW_ID), t, err);
        t = _offeringTerms(SOFT_CAP);
        t.end = t.start;
        _expectRefused(_args(NEW_ID), t, err);
        t = _offeringTerms(SOFT_CAP);
        t.maxPerInvestor = t.minPurchase - 1;
        _expectRefused(_args(NEW_ID), t, err);
        t = _offeringTerms(SOFT_CAP);
        t.softCap = FOR_SALE * PRICE / 1e18 + 1; // more than selling out raises
        _expectRefused(_args(NEW_ID), t, err);
        t = _offeringTerms(SOFT_CAP);
        t.sharesForSale = uint256(type(uint128).max) + 1;
        _expectRefused(_args(NEW_ID), t, err);
    }

    /// A custodian that cannot hold deeds (a contract without `onERC721Received`).
    function test_launch_refusesACustodianThatRejectsDeeds() public {
        PropertyLauncher.PropertyArgs memory a = _args(NEW_ID);
        a.custodian = address(usd);
        _expectRefused(
            a,
            _offeringTerms(SOFT_CAP),
            abi.encodeWithSelector(IERC721Errors.ERC721InvalidReceiver.selector, address(usd))
        );
    }

    /// A custodian contract that launches again from its deed callback is refused, even when it
    /// holds the launcher's admin role.
    function test_launch_refusesReentry() public {
        ReenteringCustodian c = new ReenteringCustodian(launcher);
        PropertyLauncher.PropertyArgs memory a = _args(NEW_ID);
        a.custodian = address(c);
        PropertyLauncher.PropertyArgs memory inner = _args(NEW_ID + 1);
        c.arm(abi.encodeCall(PropertyLauncher.launch, (inner, _roleHolders(), _offeringTerms(SOFT_CAP))));
        // Make the custodian a launcher admin too, through the two-step handover.
        vm.prank(admin);
        launcher.beginDefaultAdminTransfer(address(c));
        vm.warp(block.timestamp + 2 days + 1);
        vm.prank(address(c));
        launcher.acceptDefaultAdminTransfer();
        _expectRefused(
            address(c),
            a,
            _roleHolders(),
            _offeringTerms(SOFT_CAP),
            abi.encodeWithSelector(ReentrancyGuardTransientLike.ReentrancyGuardReentrantCall.selector)
        );
    }

    /// A factory whose prediction is wrong: roles would point at an empty address, so the launch
    /// is refused.
    function test_launch_refusesAContractCreatedAwayFromItsPrediction() public {
        SkewedOfferingFactory skewed = new SkewedOfferingFactory();
        vm.startPrank(admin);
        PropertyLauncher l2 = new PropertyLauncher(
            directory, sharesFactory, OfferingFactory(address(skewed)), treasuryFactory, admin
        );
        deed.grantRole(deed.REGISTRAR_ROLE(), address(l2));
        directory.grantRole(directory.REGISTRAR_ROLE(), address(l2));
        vm.stopPrank();
        bytes32 before = _world(NEW_ID);
        vm.expectPartialRevert(PropertyLauncher.UnexpectedAddress.selector);
        vm.prank(admin);
        l2.launch(_args(NEW_ID), _roleHolders(), _offeringTerms(SOFT_CAP));
        assertEq(_world(NEW_ID), before);
    }

    // ------------------------------------------------------------ admin

    /// The launcher's admin role moves like every other contract's, and the new admin launches
    /// properties that it administers.
    function test_launch_byANewAdminAfterTheTwoStepHandover() public {
        vm.prank(admin);
        launcher.beginDefaultAdminTransfer(successor);
        vm.prank(successor);
        vm.expectRevert();
        launcher.acceptDefaultAdminTransfer();
        vm.warp(block.timestamp + 2 days + 1);
        vm.prank(successor);
        launcher.acceptDefaultAdminTransfer();
        _expectRefused(
            admin, _args(NEW_ID), _roleHolders(), _offeringTerms(SOFT_CAP), _unauthorized(admin, bytes32(0))
        );
        vm.prank(successor);
        PropertyLauncher.Launched memory l =
            launcher.launch(_args(NEW_ID), _roleHolders(), _offeringTerms(SOFT_CAP));
        assertEq(l.shares.defaultAdmin(), successor);
        assertEq(l.treasury.defaultAdmin(), successor);
        assertFalse(l.shares.hasRole(bytes32(0), admin));
    }

    /// Without the deed's registrar role the launcher can do nothing.
    function test_launch_failsWholeWithoutTheDeedRole() public {
        bytes32 role = deed.REGISTRAR_ROLE();
        vm.prank(admin);
        deed.revokeRole(role, address(launcher));
        _expectRefused(
            admin,
            _args(NEW_ID),
            _roleHolders(),
            _offeringTerms(SOFT_CAP),
            _unauthorized(address(launcher), role)
        );
    }

    /// Without the directory's registrar role the launch fails at its end, undoing the deed.
    function test_launch_failsWholeWithoutTheDirectoryRole() public {
        bytes32 role = directory.REGISTRAR_ROLE();
        vm.prank(admin);
        directory.revokeRole(role, address(launcher));
        _expectRefused(
            admin,
            _args(NEW_ID),
            _roleHolders(),
            _offeringTerms(SOFT_CAP),
            _unauthorized(address(launcher), role)
        );
    }

    // ------------------------------------------------------------ constructor and factories

    function test_constructor_readsTheSharedContractsFromTheDirectory() public view {
        assertEq(address(launcher.directory()), address(directory));
        assertEq(address(launcher.deed()), address(deed));
        assertEq(address(launcher.identityRegistry()), address(registry));
        assertEq(address(launcher.settlementToken()), address(usd));
        assertEq(launcher.defaultAdmin(), admin);
        assertEq(launcher.defaultAdminDelay(), 2 days);
    }

    function test_constructor_refusesZeroAddresses() public {
        vm.expectRevert(PropertyLauncher.ZeroAddress.selector);
        new PropertyLauncher(
            PropertyDirectory(address(0)), sharesFactory, offeringFactory, treasuryFactory, admin
        );
        vm.expectRevert(PropertyLauncher.ZeroAddress.selector);
        new PropertyLauncher(directory, SharesFactory(address(0)), offeringFactory, treasuryFactory, admin);
        vm.expectRevert(PropertyLauncher.ZeroAddress.selector);
        new PropertyLauncher(directory, sharesFactory, OfferingFactory(address(0)), treasuryFactory, admin);
        vm.expectRevert(PropertyLauncher.ZeroAddress.selector);
        new PropertyLauncher(directory, sharesFactory, offeringFactory, TreasuryFactory(address(0)), admin);
    }

    /// The factories' address rule is the EVM's, for every nonce an account can reach.
    function testFuzz_createAddress_matchesTheEvm(address deployer, uint64 n) public view {
        assertEq(sharesFactory.createAddress(deployer, n), vm.computeCreateAddress(deployer, n));
    }

    function test_createAddress_atTheRlpBoundaries() public view {
        uint64[10] memory ns =
            [uint64(0), 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, type(uint64).max - 1, type(uint64).max];
        for (uint256 i = 0; i < ns.length; i++) {
            assertEq(
                offeringFactory.createAddress(address(this), ns[i]),
                vm.computeCreateAddress(address(this), ns[i])
            );
        }
    }

    function test_createAddress_refusesNoncesNoAccountReaches() public {
        vm.expectRevert(
            abi.encodeWithSelector(ContractFactory.NonceOverflow.selector, uint256(type(uint64).max) + 1)
        );
        treasuryFactory.createAddress(address(this), uint256(type(uint64).max) + 1);
    }

    /// Each factory's counted nonce is its real account nonce.
    function test_factories_countTheirRealNonce() public {
        assertEq(vm.getNonce(address(sharesFactory)), sharesFactory.nonce());
        assertEq(vm.getNonce(address(offeringFactory)), offeringFactory.nonce());
        assertEq(vm.getNonce(address(treasuryFactory)), treasuryFactory.nonce());
        _launch(_args(NEW_ID), _offeringTerms(SOFT_CAP));
        assertEq(vm.getNonce(address(sharesFactory)), sharesFactory.nonce());
        assertEq(vm.getNonce(address(offeringFactory)), offeringFactory.nonce());
        assertEq(
            vm.getNonce(address(offeringFactory.complianceFactory())),
            offeringFactory.complianceFactory().nonce()
        );
        assertEq(vm.getNonce(address(treasuryFactory)), treasuryFactory.nonce());
        assertEq(sharesFactory.nonce(), 3);
        assertEq(offeringFactory.nonce(), 4);
        assertEq(offeringFactory.complianceFactory().nonce(), 3);
        assertEq(treasuryFactory.nonce(), 5);
    }
}

/// The selector of OpenZeppelin's `ReentrancyGuardReentrantCall()`.
interface ReentrancyGuardTransientLike {
    error ReentrancyGuardReentrantCall();
}
