// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {console} from "forge-std/console.sol";
import {Fixture} from "../utils/Fixture.sol";
import {HookToken, Reenterer} from "../utils/Adversaries.sol";
import {PropertyTreasury} from "../../src/PropertyTreasury.sol";
import {Distributor} from "../../src/Distributor.sol";
import {ShareOffering} from "../../src/ShareOffering.sol";
import {PropLedgerHandler} from "./Handler.sol";

/// Deploys a property with the shared fixture's registry and deed, settling in a token with
/// ERC-777-style hooks, with two offerings sharing its treasury; adds a fourth investor and a fifth
/// whose wallet is a contract that re-enters from the hooks; and hands every action to
/// `PropLedgerHandler`. Each `invariant_*` function is its own fuzz campaign; `_check*` holds the
/// assertions so the long deterministic walk in `test_walkExercisesEveryPath` can reuse them.
///
/// The handler never reverts (every call runs under `try`), so campaigns fail on any revert: a revert
/// would mean the reference model or a ghost update is itself broken.
contract PropLedgerInvariants is Fixture {
    address internal dave = makeAddr("dave");
    bytes32 internal constant DAVE = keccak256("investor:dave");
    bytes32 internal constant EVE = keccak256("investor:eve");
    uint16 internal constant DE = 276;
    uint256 internal constant USD_PER_ACTOR = 10_000_000e6;

    PropLedgerHandler internal handler;
    HookToken internal hook;
    Reenterer internal eve;
    ShareOffering internal second;

    function setUp() public override {
        super.setUp();
        vm.startPrank(registrar);
        registry.setInvestor(DAVE, DE, false, uint64(block.timestamp + 365 days));
        registry.addWallet(dave, DAVE);
        registry.setInvestor(EVE, US, true, uint64(block.timestamp + 365 days));
        vm.stopPrank();
        eve = new Reenterer();
        vm.prank(registrar);
        registry.addWallet(address(eve), EVE);

        // The property under test replaces the fixture's in the variables the checks read.
        hook = new HookToken();
        Property memory p = _deployProperty(hook);
        shares = p.shares;
        compliance = p.compliance;
        treasury = p.treasury;
        distributor = p.distributor;
        // Open for a year, so that time alone rarely ends them; `finalize` sometimes waits for the end.
        ShareOffering.Terms memory t = _offeringTerms(60_000e6);
        t.end = uint64(block.timestamp + 365 days);
        offering = _deployOffering(shares, hook, treasury, t);
        t.softCap = 30_000e6;
        second = _deployOffering(shares, hook, treasury, t);
        bytes32 minter = shares.MINTER_ROLE();
        vm.prank(admin);
        shares.grantRole(minter, admin);

        address[] memory actors = new address[](7);
        actors[0] = alice;
        actors[1] = alice2;
        actors[2] = bob;
        actors[3] = carol;
        actors[4] = dave;
        actors[5] = mallory;
        actors[6] = address(eve);
        bytes32[] memory ids = new bytes32[](5);
        ids[0] = ALICE;
        ids[1] = BOB;
        ids[2] = CAROL;
        ids[3] = DAVE;
        ids[4] = EVE;
        handler = new PropLedgerHandler(
            PropLedgerHandler.Suite({
                registry: registry,
                compliance: compliance,
                shares: shares,
                offerings: [offering, second],
                treasury: treasury,
                distributor: distributor,
                usd: hook,
                reenterer: eve,
                admin: admin,
                agent: agent,
                treasurer: treasurer,
                registrar: registrar,
                rulesAdmin: rulesAdmin,
                contractor: contractor
            }),
            actors,
            ids
        );
        handler.fundActors(USD_PER_ACTOR);
        // Start with four holders: alice, bob and carol bought 1,200 shares in the first offering,
        // reaching its soft cap; the re-entering wallet bought 50 in the second, whose proceeds stay
        // in escrow and whose shares stay unsettled until it raises 30,000. Dave's investor holds
        // nothing, so the investor cap has someone to refuse.
        handler.seedBuy(0, 0, 400e18);
        handler.seedBuy(0, 2, 300e18);
        handler.seedBuy(0, 3, 500e18);
        handler.seedBuy(1, 6, 50e18);
        require(shares.totalSupply() == 1_250e18 && handler.modelMismatches() == 0, "seed buys failed");
        require(handler.reentriesRefused() == 1, "the re-entering seed buy was not refused");

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

    /// 7. Offerings: each one's escrow in the treasury is what its buyers paid less refunds until its
    /// soft cap (then nothing); a failed offering can refund every remaining buyer in full; unsettled
    /// shares are exactly the escrowed offering's unrefunded sales, each within its investor's holding.
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.fuzz.seed = "0x50524f58"
    function invariant_offeringEscrowAndRefunds() public view {
        _checkOfferings();
    }

    /// 8. Money reaches the right wallet: no payout to a wallet recovered away or to a frozen payee, no
    /// distribution funded while an offering's shares were unsettled, and every re-entry from a token
    /// hook refused.
    /// forge-config: default.invariant.fail-on-revert = true
    /// forge-config: default.fuzz.seed = "0x50524f59"
    function invariant_moneyReachesTheRightWallet() public view {
        _checkPayees();
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
        // The compliance's investors per country (for the country caps) add up to the same count.
        uint16[4] memory countries = [uint16(840), 826, 408, 276];
        uint256 counted;
        for (uint256 i = 0; i < countries.length; i++) {
            (, uint32 n,) = compliance.countryRules(countries[i]);
            counted += n;
        }
        assertEq(counted, shares.investorCount(), "investors per country do not add up to investorCount");
    }

    function _checkFrozen() internal view {
        address[] memory actors = handler.actors();
        for (uint256 i = 0; i < actors.length; i++) {
            address w = actors[i];
            uint256 f = shares.getFrozenTokens(w);
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
        uint256 bal = hook.balanceOf(address(treasury));
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
        ShareOffering[2] memory os = handler.offerings();
        assertEq(
            treasury.escrowOf(address(os[0])) + treasury.escrowOf(address(os[1])),
            t.escrowed,
            "escrow per offering does not add up"
        );
        // No stablecoin is created or lost inside the system.
        address[] memory actors = handler.actors();
        uint256 total = hook.balanceOf(address(treasury)) + hook.balanceOf(address(distributor))
            + hook.balanceOf(contractor) + hook.balanceOf(address(os[0])) + hook.balanceOf(address(os[1]));
        for (uint256 i = 0; i < actors.length; i++) {
            total += hook.balanceOf(actors[i]);
        }
        assertEq(total, hook.totalSupply(), "stablecoin leaked out of the tracked addresses");
    }

    function _checkOfferings() internal view {
        ShareOffering[2] memory os = handler.offerings();
        uint64[] memory nos = handler.investorNos();
        uint256 unsettledSum;
        for (uint256 i = 0; i < nos.length; i++) {
            uint256 u = shares.unsettledOf(nos[i]);
            assertEq(u, handler.gUnsettled(nos[i]), "unsettled shares != ghost");
            assertLe(u, shares.investorBalance(nos[i]), "unsettled shares exceed the investor's holding");
            unsettledSum += u;
        }
        address open = shares.escrowOffering();
        assertEq(open != address(0), handler.gEscrowOpen(), "escrow open != ghost");
        if (open == address(0)) assertEq(unsettledSum, 0, "unsettled shares with no escrow open");
        for (uint256 o = 0; o < 2; o++) {
            ShareOffering off = os[o];
            PropLedgerHandler.GOffering memory g = handler.ghostOffering(o);
            uint256 escrow = treasury.escrowOf(address(off));
            assertEq(escrow, g.escrow, "offering escrow != ghost");
            if (off.softCapReached()) {
                assertEq(escrow, 0, "escrow left after the soft cap");
            } else {
                assertEq(
                    escrow + g.refundedPaid, off.raised(), "escrow + refunds != raised before the soft cap"
                );
            }
            uint256 owedShares;
            uint256 owedMoney;
            for (uint256 i = 0; i < nos.length; i++) {
                ShareOffering.Purchase memory p = off.purchaseOf(nos[i]);
                assertEq(p.shares, handler.gPurShares(o, nos[i]), "purchase shares != ghost");
                assertEq(p.paid, handler.gPurPaid(o, nos[i]), "purchase paid != ghost");
                if (open == address(off)) {
                    assertEq(p.shares, shares.unsettledOf(nos[i]), "unsettled != purchase");
                }
                owedShares += p.shares;
                owedMoney += p.paid;
            }
            if (open == address(off)) {
                assertEq(
                    unsettledSum, off.sharesSold() - off.sharesRefunded(), "unsettled != unrefunded sales"
                );
            }
            if (off.status() == ShareOffering.Status.Failed) {
                // Every remaining buyer can be refunded in full from this offering's escrow, and the
                // shares to burn are still with the investors.
                assertEq(escrow, owedMoney, "a failed offering's escrow != what its buyers are owed");
                assertEq(
                    owedShares, off.sharesSold() - off.sharesRefunded(), "refundable shares != unrefunded"
                );
                for (uint256 i = 0; i < nos.length; i++) {
                    assertLe(
                        off.purchaseOf(nos[i]).shares,
                        shares.investorBalance(nos[i]),
                        "a buyer no longer holds the shares to refund"
                    );
                }
            }
        }
    }

    function _checkPayees() internal view {
        assertFalse(handler.misdirectedPayout(), handler.misdirectedPayoutInfo());
        assertFalse(handler.distributionWhileUnsettled(), "a distribution was funded over unsettled shares");
        assertFalse(handler.reentryAccepted(), handler.reentryAcceptedInfo());
    }

    function _checkDistributor() internal view {
        uint256 n = distributor.distributionCount();
        assertEq(n, handler.distributionCount(), "distribution count != ghost");
        address[] memory held = handler.everHeld();
        uint256 unclaimedSum;
        uint256 outstanding;
        for (uint256 id = 0; id < n; id++) {
            (uint256 u, uint256 w) = _checkDistribution(id, held);
            unclaimedSum += u;
            outstanding += w;
        }
        assertEq(outstanding, handler.gWithheld(), "withheld payouts != ghost");
        assertEq(
            hook.balanceOf(address(distributor)),
            unclaimedSum + outstanding,
            "distributor balance != unclaimed + withheld"
        );
    }

    /// Sums over the holders of one distribution.
    struct Sums {
        uint256 ent;
        uint256 record;
        uint256 holders;
        uint256 received;
        uint256 withheld;
    }

    /// Claims within entitlements, entitlements within funding, bounded dust; returns what is held for
    /// the distribution unclaimed, and what is withheld for frozen payees.
    function _checkDistribution(uint256 id, address[] memory held)
        internal
        view
        returns (uint256 unclaimedAmount, uint256 withheld)
    {
        Distributor.Distribution memory d = distributor.distribution(id);
        PropLedgerHandler.GDist memory g = handler.ghostDistribution(id);
        assertEq(d.amount, g.amount, "funded amount != ghost");
        assertEq(d.supplyAtRecord, g.supply, "record supply != ghost");
        Sums memory sum;
        for (uint256 i = 0; i < held.length; i++) {
            _checkHolder(id, d.checkpointId, held[i], sum);
        }
        assertEq(sum.record, d.supplyAtRecord, "record balances do not add up to the record supply");
        assertEq(shares.totalSupplyAt(d.checkpointId), d.supplyAtRecord, "totalSupplyAt != record supply");
        assertLe(sum.ent, d.amount, "entitlements exceed the funded amount");
        assertLt(d.amount - sum.ent, sum.holders, "rounding dust >= number of holders");
        assertEq(d.claimed, sum.received + sum.withheld, "claimed != paid + withheld");
        unclaimedAmount = distributor.unclaimed(id);
        assertEq(unclaimedAmount, d.swept ? 0 : d.amount - d.claimed, "unclaimed != amount - claimed");
        assertEq(d.swept, g.swept, "swept flag != ghost");
        withheld = sum.withheld;
    }

    function _checkHolder(uint256 id, uint32 checkpointId, address h, Sums memory sum) internal view {
        uint256 recorded = shares.balanceOfAt(h, checkpointId);
        assertEq(recorded, handler.gRecordBal(id, h), "balanceOfAt(record) != balance at funding");
        sum.record += recorded;
        if (recorded != 0) sum.holders++;
        uint256 ent = distributor.entitlement(id, h);
        assertEq(ent, handler.ghostEntitlement(id, h), "entitlement != pro-rata share");
        sum.ent += ent;
        uint256 got = handler.gReceived(id, h);
        assertLe(got, ent, "holder received more than its entitlement");
        Distributor.ClaimState st = distributor.claimState(id, h);
        assertEq(uint8(st), uint8(handler.gClaimState(id, h)), "claim state != ghost");
        assertEq(got, st == Distributor.ClaimState.Paid ? ent : 0, "claim state and payment disagree");
        sum.received += got;
        if (st == Distributor.ClaimState.Withheld) sum.withheld += ent;
    }

    function _checkGhostMirror() internal view {
        address[] memory actors = handler.actors();
        for (uint256 i = 0; i < actors.length; i++) {
            address w = actors[i];
            assertEq(shares.balanceOf(w), handler.gBal(w), "balance != ghost");
            assertEq(shares.holder(w).investorNo, handler.gAttr(w), "attribution != ghost");
            assertEq(shares.isFrozen(w), handler.gWalletFrozen(w), "address freeze != ghost");
            assertEq(shares.getFrozenTokens(w), handler.gFrozenAmt(w), "frozen amount != ghost");
            assertEq(shares.successorOf(w), handler.successor(w), "payout wallet != ghost");
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
        ShareOffering[2] memory os = handler.offerings();
        for (uint256 o = 0; o < 2; o++) {
            PropLedgerHandler.GOffering memory g = handler.ghostOffering(o);
            assertEq(os[o].sharesSold(), g.sold, "sold != ghost");
            assertEq(os[o].sharesRefunded(), g.refunded, "refunded != ghost");
            assertEq(os[o].raised(), g.raised, "raised != ghost");
            assertEq(uint8(os[o].status()), uint8(g.status), "offering status != ghost");
            assertEq(os[o].softCapReached(), g.released, "soft cap flag != ghost");
        }
    }

    function _checkAll() internal view {
        _checkOfferings();
        _checkPayees();
        _checkSupply();
        _checkFrozen();
        _checkEligibility();
        _checkModel();
        _checkTreasury();
        _checkDistributor();
        _checkGhostMirror();
    }

    // ------------------------------------------------------------------ non-vacuity

    uint256 internal constant WALK_EPISODES = 30;
    uint256 internal constant WALK_STEPS = 200;

    /// A fixed pseudo-random walk over the same actions (30 fresh episodes of 200 steps, all
    /// invariants checked after every step), then proof that every path that can succeed or be
    /// rejected was seen doing both. Counters survive the per-episode state reverts in memory.
    function test_walkExercisesEveryPath() public {
        vm.pauseGasMetering(); // a long walk: ~6,000 actions, each followed by every check
        uint256 pathCount = handler.PATH_COUNT();
        uint256[] memory ok = new uint256[](pathCount);
        uint256[] memory rej = new uint256[](pathCount);
        uint256[] memory codes = new uint256[](14);
        uint256 reentriesRefused;
        for (uint256 e = 0; e < WALK_EPISODES; e++) {
            uint256 snap = vm.snapshotState();
            for (uint256 s = 0; s < WALK_STEPS; s++) {
                this.walkStep(e, s); // an external call so each step's memory is released
            }
            for (uint256 p = 0; p < pathCount; p++) {
                ok[p] += handler.succeeded(p);
                rej[p] += handler.rejected(p);
            }
            for (uint256 c = 0; c < 14; c++) {
                codes[c] += handler.restrictedCodes(c);
            }
            reentriesRefused += handler.reentriesRefused();
            vm.revertToState(snap);
        }
        for (uint256 p = 0; p < pathCount; p++) {
            console.log(string.concat(handler.pathName(p), " ok/rejected:"), ok[p], rej[p]);
        }
        for (uint256 c = 1; c < 14; c++) {
            console.log("TransferRestricted code / count:", c, codes[c]);
        }
        for (uint256 c = 1; c < 14; c++) {
            assertGt(codes[c], 0, "a reason code was never the verdict");
        }
        console.log("re-entries refused:", reentriesRefused);
        assertGt(reentriesRefused, WALK_EPISODES, "re-entries were attempted beyond the seed purchases");
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
