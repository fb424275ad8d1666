// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Test} from "forge-std/Test.sol";
import {Fixture} from "../utils/Fixture.sol";
import {PropertyDeed} from "../../src/PropertyDeed.sol";
import {PropertyDirectory} from "../../src/PropertyDirectory.sol";
import {PropertyLauncher} from "../../src/PropertyLauncher.sol";
import {ContractFactory} from "../../src/PropertyFactories.sol";
import {ShareOffering} from "../../src/ShareOffering.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {ShareCompliance} from "../../src/ShareCompliance.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {Distributor} from "../../src/Distributor.sol";

/// Launches properties over a small id space (so ids are often reused), sometimes with bad
/// arguments or from the wrong account, among direct deed mints and directory registrations by
/// the admin and strangers' use of the factories. A reference model predicts each outcome; every
/// disagreement is counted. Each action runs under `try`, so the handler never reverts.
contract LaunchHandler is Test {
    uint256 public constant IDS = 12;

    PropertyLauncher public immutable launcher;
    PropertyDeed public immutable deed;
    PropertyDirectory public immutable directory;
    address public immutable admin;
    address public immutable agent;
    address public immutable treasurer;
    address public immutable rulesAdmin;
    address public immutable custodian;
    address internal immutable mallory = makeAddr("mallory");

    // Ghost state: what the model says happened to each id.
    mapping(uint256 id => bool) public gMinted;
    mapping(uint256 id => bool) public gRegistered;
    mapping(uint256 id => PropertyLauncher.Launched) internal _gLaunched;
    mapping(uint256 id => bool) public gIsLaunched;
    uint256 public launches;
    uint256 public refusedLaunches;
    uint256 public directMints;
    uint256 public directRegistrations;
    uint256 public modelMismatches;
    string public firstMismatch;

    constructor(
        PropertyLauncher launcher_,
        address admin_,
        address agent_,
        address treasurer_,
        address rules_
    ) {
        launcher = launcher_;
        deed = launcher_.deed();
        directory = launcher_.directory();
        admin = admin_;
        agent = agent_;
        treasurer = treasurer_;
        rulesAdmin = rules_;
        custodian = admin_;
    }

    /// Records the fixture's own launch of `id`.
    function seed(uint256 id) external {
        PropertyDirectory.Property memory p = directory.property(id);
        _gLaunched[id] = PropertyLauncher.Launched(
            ShareCompliance(p.compliance),
            PropertyShares(p.shares),
            Distributor(p.distributor),
            PropertyTreasury(p.treasury),
            ShareOffering(p.offerings[0])
        );
        gMinted[id] = true;
        gRegistered[id] = true;
        gIsLaunched[id] = true;
    }

    function launched(uint256 id) external view returns (PropertyLauncher.Launched memory) {
        return _gLaunched[id];
    }

    function _mismatch(string memory what) internal {
        modelMismatches++;
        if (bytes(firstMismatch).length == 0) firstMismatch = what;
    }

    // ------------------------------------------------------------------ actions

    /// A launch of id `idSeed % IDS` (0 included), valid or with one thing wrong.
    function launch(uint256 idSeed, uint256 variant, uint256 callerSeed) external {
        uint256 id = idSeed % IDS;
        address caller = callerSeed % 5 == 0 ? mallory : admin;
        PropertyLauncher.PropertyArgs memory a = PropertyLauncher.PropertyArgs({
            propertyId: id,
            custodian: custodian,
            parcelId: bytes32(id),
            metadataHash: keccak256(abi.encode("metadata", id)),
            metadataUri: "ipfs://deed",
            name: "Shares",
            symbol: "SHR"
        });
        PropertyLauncher.RoleHolders memory r =
            PropertyLauncher.RoleHolders({agent: agent, treasurer: treasurer, rulesAdmin: rulesAdmin});
        ShareOffering.Terms memory t = ShareOffering.Terms({
            pricePerShare: 50e6,
            minPurchase: 1e18,
            maxPerInvestor: 0,
            sharesForSale: 1_000e18,
            softCap: 10_000e6,
            start: uint64(block.timestamp),
            end: uint64(block.timestamp + 30 days)
        });
        uint256 v = variant % 10;
        if (v == 1) a.metadataHash = bytes32(0);
        else if (v == 2) a.metadataUri = "";
        else if (v == 3) t.end = t.start;
        else if (v == 4) r.agent = address(0);
        // else: valid arguments

        bool ok = caller == admin && (v == 0 || v > 4) && id != 0 && !gMinted[id] && !gRegistered[id];
        vm.prank(caller);
        try launcher.launch(a, r, t) returns (PropertyLauncher.Launched memory made) {
            if (!ok) return _mismatch("a launch the model refuses succeeded");
            gMinted[id] = true;
            gRegistered[id] = true;
            gIsLaunched[id] = true;
            _gLaunched[id] = made;
            launches++;
        } catch {
            if (ok) return _mismatch("a launch the model allows failed");
            refusedLaunches++;
        }
    }

    /// The admin mints a deed outside the launcher (it keeps the deed's registrar role).
    function mintDirectly(uint256 idSeed) external {
        if ((idSeed >> 128) % 4 != 0) return; // rarer than launches, which need free ids
        uint256 id = idSeed % IDS;
        bool ok = id != 0 && !gMinted[id];
        vm.prank(admin);
        try deed.mintDeed(id, admin, bytes32(0), keccak256("direct"), "ipfs://direct") {
            if (!ok) return _mismatch("a direct mint the model refuses succeeded");
            gMinted[id] = true;
            directMints++;
        } catch {
            if (ok) return _mismatch("a direct mint the model allows failed");
        }
    }

    /// The admin registers an id in the directory outside the launcher.
    function registerDirectly(uint256 idSeed) external {
        if ((idSeed >> 128) % 4 != 0) return; // rarer than launches, which need free ids
        uint256 id = idSeed % IDS;
        bool ok = !gRegistered[id];
        address x = makeAddr("elsewhere");
        vm.prank(admin);
        try directory.registerProperty(id, x, x, x, x) {
            if (!ok) return _mismatch("a direct registration the model refuses succeeded");
            gRegistered[id] = true;
            directRegistrations++;
        } catch {
            if (ok) return _mismatch("a direct registration the model allows failed");
        }
    }

    /// A stranger creates contracts through the factories, moving their nonces.
    function useFactories(uint256 which) external {
        vm.startPrank(mallory);
        if (which % 2 == 0) {
            launcher.offeringFactory().createCompliance(mallory, mallory);
        } else {
            launcher.treasuryFactory()
                .createDistributor(
                    PropertyShares(address(1)), launcher.settlementToken(), mallory, address(0)
                );
        }
        vm.stopPrank();
    }

    function selectors() external pure returns (bytes4[] memory s) {
        s = new bytes4[](4);
        s[0] = this.launch.selector;
        s[1] = this.mintDirectly.selector;
        s[2] = this.registerDirectly.selector;
        s[3] = this.useFactories.selector;
    }
}

/// Whatever mix of launches, retries, refusals and direct admin actions: a deed the launcher made
/// always has its registered, wired property (no orphan deed), an id has at most one deed and one
/// directory entry, and every refused launch changed nothing.
contract LaunchInvariants is Fixture {
    LaunchHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new LaunchHandler(launcher, admin, agent, treasurer, rulesAdmin);
        handler.seed(propertyId);
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: handler.selectors()}));
    }

    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_launchesMatchTheModel() public view {
        assertEq(handler.modelMismatches(), 0, handler.firstMismatch());
    }

    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_noOrphanDeedAndOneDeedPerId() public view {
        _checkLaunches();
    }

    function _checkLaunches() internal view {
        uint256 launchedIds;
        for (uint256 id = 0; id < handler.IDS(); id++) {
            bool minted = _exists(id);
            assertEq(minted, handler.gMinted(id), "a deed exists iff the model minted it");
            bool registered = _registered(id);
            assertEq(registered, handler.gRegistered(id), "an entry exists iff the model registered it");
            if (!handler.gIsLaunched(id)) continue;
            launchedIds++;
            // A launched id: its deed and its entry, naming the launch's contracts.
            assertTrue(minted && registered, "an orphan deed");
            PropertyLauncher.Launched memory l = handler.launched(id);
            PropertyDirectory.Property memory p = directory.property(id);
            assertEq(p.shares, address(l.shares));
            assertEq(p.offerings.length, 1, "one offering per launch");
            assertEq(p.offerings[0], address(l.offering));
            PropertyShares s = PropertyShares(p.shares);
            assertEq(s.propertyId(), id);
            assertTrue(s.hasRole(s.MINTER_ROLE(), p.offerings[0]), "offering mints");
            assertTrue(s.hasRole(s.CHECKPOINT_ROLE(), p.distributor), "distributor checkpoints");
            assertFalse(s.hasRole(bytes32(0), address(launcher)), "the launcher holds an admin role");
            assertEq(address(ShareOffering(p.offerings[0]).treasury()), p.treasury);
        }
        assertEq(launchedIds, handler.launches() + 1, "launches counted");
        assertEq(deed.totalMinted(), 1 + handler.launches() + handler.directMints(), "one deed per mint");
        assertEq(
            directory.propertyIds().length,
            1 + handler.launches() + handler.directRegistrations(),
            "one entry per registration"
        );
        ContractFactory[3] memory f = [
            ContractFactory(address(launcher.sharesFactory())),
            ContractFactory(address(launcher.offeringFactory())),
            ContractFactory(address(launcher.treasuryFactory()))
        ];
        for (uint256 i = 0; i < 3; i++) {
            assertEq(f[i].nonce(), vm.getNonce(address(f[i])), "a factory miscounts its nonce");
        }
    }

    function _exists(uint256 id) internal view returns (bool) {
        try deed.ownerOf(id) returns (address) {
            return true;
        } catch {
            return false;
        }
    }

    function _registered(uint256 id) internal view returns (bool) {
        try directory.property(id) returns (PropertyDirectory.Property memory) {
            return true;
        } catch {
            return false;
        }
    }

    /// A fixed walk over the same actions, checking after every step, then proof that launches
    /// succeeded, were refused, and met ids taken by every other route.
    function test_walkLaunches() public {
        bytes4[] memory sels = handler.selectors();
        for (uint256 step = 0; step < 300; step++) {
            uint256 r = uint256(keccak256(abi.encode("launch walk", step)));
            (bool success,) = address(handler)
                .call(
                    abi.encodeWithSelector(
                        sels[r % sels.length],
                        uint256(keccak256(abi.encode(r, 1))),
                        uint256(keccak256(abi.encode(r, 2))),
                        uint256(keccak256(abi.encode(r, 3)))
                    )
                );
            assertTrue(success, "handler reverted");
            assertEq(handler.modelMismatches(), 0, handler.firstMismatch());
            _checkLaunches();
        }
        assertGt(handler.launches(), 1, "launches succeeded");
        assertGt(handler.refusedLaunches(), 10, "launches were refused");
        assertGt(handler.directMints(), 0, "direct mints happened");
        assertGt(handler.directRegistrations(), 0, "direct registrations happened");
    }
}
