// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {console} from "forge-std/console.sol";
import {Fixture} from "../utils/Fixture.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {Distributor} from "../../src/Distributor.sol";
import {PropLedgerHandler} from "./Handler.sol";

/// Deploys the suite with the shared fixture, adds a fourth investor, and hands every action to
/// `PropLedgerHandler`. Each `invariant_*` function is its own fuzz campaign; `_check*` holds the
/// assertions so the long deterministic walk in `test_walkExercisesEveryPath` can reuse them.
///
/// The handler never reverts (every call runs under `try`), so campaigns fail on any revert: a revert
/// would mean the reference model or a ghost update is itself broken.
contract PropLedgerInvariants is Fixture {
    address internal dave = makeAddr("dave");
    bytes32 internal constant DAVE = keccak256("investor:dave");
    uint16 internal constant DE = 276;
    uint256 internal constant USD_PER_ACTOR = 10_000_000e6;

    PropLedgerHandler internal handler;

    function setUp() public override {
        super.setUp();
        vm.startPrank(admin);
        registry.setInvestor(DAVE, DE, false, uint64(block.timestamp + 365 days));
        registry.addWallet(dave, DAVE);
        vm.stopPrank();

        address[] memory actors = new address[](6);
        actors[0] = alice;
        actors[1] = alice2;
        actors[2] = bob;
        actors[3] = carol;
        actors[4] = dave;
        actors[5] = mallory;
        bytes32[] memory ids = new bytes32[](4);
        ids[0] = ALICE;
        ids[1] = BOB;
        ids[2] = CAROL;
        ids[3] = DAVE;
        // The fixture already gave alice, bob and carol 1,000,000 tUSD; the handler gives everyone
        // more and approves the offering and the treasury.
        handler = new PropLedgerHandler(
            PropLedgerHandler.Suite({
                registry: registry,
                compliance: compliance,
                shares: shares,
                offering: offering,
                treasury: treasury,
                distributor: distributor,
                usd: usd,
                admin: admin,
                agent: agent,
                contractor: contractor
            }),
            actors,
            ids
        );
        handler.fundActors(USD_PER_ACTOR);
        // Start with four holders (1,400 shares, 70,000 tUSD: below the soft cap, so in escrow).
        handler.seedBuy(0, 400e18);
        handler.seedBuy(2, 300e18);
        handler.seedBuy(3, 500e18);
        handler.seedBuy(4, 200e18);
        require(shares.totalSupply() == 1_400e18 && handler.modelMismatches() == 0, "seed buys failed");

        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: handler.selectors()}));
    }

    // ------------------------------------------------------------------ invariants

    /// 1. Balances add up to the supply, per wallet and per investor, and the investor count is exact.
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.fuzz.seed = "0x50524f51"
    function invariant_supplyConservation() public view {
        _checkSupply();
    }

    /// 2. A wallet's frozen part never exceeds its balance.
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.fuzz.seed = "0x50524f52"
    function invariant_frozenWithinBalance() public view {
        _checkFrozen();
    }

    /// 3. No share delivery by any path reached an ineligible recipient.
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.fuzz.seed = "0x50524f53"
    function invariant_noDeliveryToIneligibleRecipient() public view {
        _checkEligibility();
    }

    /// 3b. The chain agrees with the reference model on every call: success, or the exact revert.
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.fuzz.seed = "0x50524f54"
    function invariant_modelAgreesWithChain() public view {
        _checkModel();
    }

    /// 4. Treasury accounting: balance, totals and escrow agree with each other and with the ghosts.
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.fuzz.seed = "0x50524f55"
    function invariant_treasuryAccounting() public view {
        _checkTreasury();
    }

    /// 5. Distributions: claims within entitlements, entitlements within funding, bounded dust, and
    /// the distributor holds exactly what is unclaimed.
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.fuzz.seed = "0x50524f56"
    function invariant_distributorAccounting() public view {
        _checkDistributor();
    }

    /// 6. The token's state matches the ghost state built from the model (balances, attribution,
    /// freezes, pause, offering progress).
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.fuzz.seed = "0x50524f57"
    function invariant_ghostMirrorsToken() public view {
        _checkGhostMirror();
    }

    /// After each run of every campaign: all the checks once more (the eligibility and model flags are
    /// sticky, so every campaign's runs answer for property 3), and proof that a full-length run made
    /// successful and rejected calls, so the invariants were not checked over an idle system. (Short
    /// sequences are exempt: the shrinker replays them, and they must fail only for the real reason.)
    function afterInvariant() external view {
        _checkAll();
        if (handler.calls() < 32) return;
        uint256 ok;
        uint256 rej;
        for (uint256 p = 0; p < handler.PATH_COUNT(); p++) {
            if (p == uint256(PropLedgerHandler.Path.Warp)) continue;
            ok += handler.succeeded(p);
            rej += handler.rejected(p);
        }
        assertGt(ok, 0, "run made no successful call");
        assertGt(rej, 0, "run made no rejected call");
    }

    // ------------------------------------------------------------------ the checks

    function _checkSupply() internal view {
        address[] memory held = handler.everHeld();
        address[] memory actors = handler.actors();
        uint256 sum;
        for (uint256 i = 0; i < held.length; i++) {
            sum += shares.balanceOf(held[i]);
        }
        assertEq(sum, shares.totalSupply(), "sum of balances over holders != totalSupply");
        sum = 0;
        for (uint256 i = 0; i < actors.length; i++) {
            sum += shares.balanceOf(actors[i]);
        }
        assertEq(sum, shares.totalSupply(), "sum of balances over actors != totalSupply");
        uint64[] memory nos = handler.investorNos();
        uint256 invSum;
        uint256 nonZero;
        for (uint256 i = 0; i < nos.length; i++) {
            uint256 b = shares.investorBalance(nos[i]);
            invSum += b;
            if (b != 0) nonZero++;
        }
        assertEq(shares.investorBalance(0), 0, "shares attributed to investor 0");
        assertEq(invSum, shares.totalSupply(), "sum of investor balances != totalSupply");
        assertEq(shares.investorCount(), nonZero, "investorCount != investors with a holding");
    }

    function _checkFrozen() internal view {
        address[] memory actors = handler.actors();
        for (uint256 i = 0; i < actors.length; i++) {
            address w = actors[i];
            uint256 f = shares.frozenTokens(w);
            assertLe(f, shares.balanceOf(w), "frozenTokens > balanceOf");
            assertEq(shares.holder(w).hasFrozenTokens, f != 0, "hasFrozenTokens flag out of sync");
        }
    }

    function _checkEligibility() internal view {
        assertFalse(handler.ineligibleDelivery(), handler.ineligibleDeliveryInfo());
    }

    function _checkModel() internal view {
        assertEq(handler.modelMismatches(), 0, handler.firstMismatch());
    }

    function _checkTreasury() internal view {
        PropertyTreasury.Totals memory t = treasury.totals();
        uint256 bal = usd.balanceOf(address(treasury));
        assertEq(bal, t.deposits - t.draws - t.distributions - t.refunds, "treasury balance != totals");
        assertEq(bal, treasury.trackedBalance(), "treasury balance != trackedBalance");
        assertEq(
            treasury.available() + t.escrowed, treasury.trackedBalance(), "available + escrowed != tracked"
        );
        assertEq(t.deposits, handler.gDeposits(), "deposits != ghost deposits");
        assertEq(t.draws, handler.gDraws(), "draws != ghost draws");
        assertEq(t.distributions, handler.gDistributions(), "distributions != ghost fundings");
        assertEq(t.refunds, handler.gRefunds(), "refunds != ghost refunds");
        assertEq(t.escrowed, handler.gEscrowed(), "escrowed != ghost escrow");
        // Escrow is exactly the offering's raise until the soft cap, refunds aside.
        if (!offering.softCapReached()) {
            assertEq(t.escrowed + t.refunds, offering.raised(), "escrow + refunds != raised before soft cap");
        } else {
            assertEq(t.escrowed, 0, "escrow left after the soft cap");
        }
        // No stablecoin is created or lost inside the system.
        address[] memory actors = handler.actors();
        uint256 total = usd.balanceOf(address(treasury)) + usd.balanceOf(address(distributor))
            + usd.balanceOf(contractor) + usd.balanceOf(address(offering)) + usd.balanceOf(admin);
        for (uint256 i = 0; i < actors.length; i++) {
            total += usd.balanceOf(actors[i]);
        }
        assertEq(total, usd.totalSupply(), "stablecoin leaked out of the tracked addresses");
    }

    function _checkDistributor() internal view {
        uint256 n = distributor.distributionCount();
        assertEq(n, handler.distributionCount(), "distribution count != ghost");
        address[] memory held = handler.everHeld();
        uint256 unclaimedSum;
        for (uint256 id = 0; id < n; id++) {
            Distributor.Distribution memory d = distributor.distribution(id);
            PropLedgerHandler.GDist memory g = handler.ghostDistribution(id);
            assertEq(d.amount, g.amount, "funded amount != ghost");
            assertEq(d.supplyAtRecord, g.supply, "record supply != ghost");
            uint256 entSum;
            uint256 recordSum;
            uint256 holders;
            uint256 receivedSum;
            for (uint256 i = 0; i < held.length; i++) {
                address h = held[i];
                uint256 recorded = shares.balanceOfAt(h, d.checkpointId);
                assertEq(recorded, handler.gRecordBal(id, h), "balanceOfAt(record) != balance at funding");
                recordSum += recorded;
                if (recorded != 0) holders++;
                uint256 ent = distributor.entitlement(id, h);
                assertEq(ent, handler.ghostEntitlement(id, h), "entitlement != pro-rata share");
                entSum += ent;
                uint256 got = handler.gReceived(id, h);
                assertLe(got, ent, "holder received more than its entitlement");
                assertEq(got, distributor.hasClaimed(id, h) ? ent : 0, "claimed flag and payment disagree");
                receivedSum += got;
            }
            assertEq(recordSum, d.supplyAtRecord, "record balances do not add up to the record supply");
            assertEq(shares.totalSupplyAt(d.checkpointId), d.supplyAtRecord, "totalSupplyAt != record supply");
            assertLe(entSum, d.amount, "entitlements exceed the funded amount");
            assertLt(d.amount - entSum, holders, "rounding dust >= number of holders");
            assertEq(d.claimed, receivedSum, "claimed != sum paid to holders");
            uint256 u = distributor.unclaimed(id);
            assertEq(u, d.swept ? 0 : d.amount - d.claimed, "unclaimed != amount - claimed");
            assertEq(d.swept, g.swept, "swept flag != ghost");
            unclaimedSum += u;
        }
        assertEq(usd.balanceOf(address(distributor)), unclaimedSum, "distributor balance != sum of unclaimed");
    }

    function _checkGhostMirror() internal view {
        address[] memory actors = handler.actors();
        for (uint256 i = 0; i < actors.length; i++) {
            address w = actors[i];
            assertEq(shares.balanceOf(w), handler.gBal(w), "balance != ghost");
            assertEq(shares.holder(w).investorNo, handler.gAttr(w), "attribution != ghost");
            assertEq(shares.isFrozen(w), handler.gWalletFrozen(w), "address freeze != ghost");
            assertEq(shares.frozenTokens(w), handler.gFrozenAmt(w), "frozen amount != ghost");
            assertEq(
                registry.walletStatus(w).investorNo, handler.gWalletNo(w), "wallet registration != ghost"
            );
        }
        uint64[] memory nos = handler.investorNos();
        for (uint256 i = 0; i < nos.length; i++) {
            assertEq(shares.investorBalance(nos[i]), handler.gInvBal(nos[i]), "investor balance != ghost");
        }
        assertEq(shares.totalSupply(), handler.gSupply(), "supply != ghost");
        assertEq(shares.investorCount(), handler.investorCountModel(), "investor count != ghost");
        assertEq(shares.paused(), handler.gPaused(), "paused != ghost");
        assertEq(offering.sharesSold(), handler.gSold(), "sold != ghost");
        assertEq(offering.raised(), handler.gRaised(), "raised != ghost");
        assertEq(uint8(offering.status()), uint8(handler.gStatus()), "offering status != ghost");
    }

    function _checkAll() internal view {
        _checkSupply();
        _checkFrozen();
        _checkEligibility();
        _checkModel();
        _checkTreasury();
        _checkDistributor();
        _checkGhostMirror();
    }

    // ------------------------------------------------------------------ non-vacuity

    uint256 internal constant WALK_EPISODES = 20;
    uint256 internal constant WALK_STEPS = 200;

    /// A fixed pseudo-random walk over the same actions (20 fresh episodes of 200 steps, all
    /// invariants checked after every step), then proof that every path that can succeed or be
    /// rejected was seen doing both. Counters survive the per-episode state reverts in memory.
    function test_walkExercisesEveryPath() public {
        vm.pauseGasMetering(); // a long walk: ~4,000 actions, each followed by every check
        uint256 pathCount = handler.PATH_COUNT();
        uint256[] memory ok = new uint256[](pathCount);
        uint256[] memory rej = new uint256[](pathCount);
        uint256[] memory codes = new uint256[](13);
        for (uint256 e = 0; e < WALK_EPISODES; e++) {
            uint256 snap = vm.snapshotState();
            for (uint256 s = 0; s < WALK_STEPS; s++) {
                this.walkStep(e, s); // an external call so each step's memory is released
            }
            for (uint256 p = 0; p < pathCount; p++) {
                ok[p] += handler.succeeded(p);
                rej[p] += handler.rejected(p);
            }
            for (uint256 c = 0; c < 13; c++) {
                codes[c] += handler.restrictedCodes(c);
            }
            vm.revertToState(snap);
        }
        for (uint256 p = 0; p < pathCount; p++) {
            console.log(string.concat(handler.pathName(p), " ok/rejected:"), ok[p], rej[p]);
        }
        for (uint256 c = 1; c < 13; c++) {
            console.log("TransferRestricted code / count:", c, codes[c]);
            assertGt(codes[c], 0, "a reason code was never the verdict");
        }
        for (uint256 p = 0; p < pathCount; p++) {
            assertGt(ok[p], 0, string.concat(handler.pathName(p), " never succeeded"));
            if (
                p != uint256(PropLedgerHandler.Path.SetPaused)
                    && p != uint256(PropLedgerHandler.Path.SetAddressFrozen)
                    && p != uint256(PropLedgerHandler.Path.Warp)
            ) {
                assertGt(rej[p], 0, string.concat(handler.pathName(p), " never rejected"));
            }
        }
    }

    /// One step of the walk: a pseudo-random action with pseudo-random arguments, then every check.
    function walkStep(uint256 episode, uint256 step) external {
        require(msg.sender == address(this), "walk only");
        bytes4[] memory sels = handler.selectors();
        uint256 r = uint256(keccak256(abi.encode("walk", episode, step)));
        (bool success,) = address(handler)
            .call(
                abi.encodeWithSelector(
                    sels[r % sels.length],
                    uint256(keccak256(abi.encode(r, 1))),
                    uint256(keccak256(abi.encode(r, 2))),
                    uint256(keccak256(abi.encode(r, 3))),
                    uint256(keccak256(abi.encode(r, 4)))
                )
            );
        assertTrue(success, "handler reverted");
        _checkAll();
    }
}
