// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {console} from "forge-std/console.sol";
import {UnitBase} from "./UnitBase.sol";
import {IdentityRegistry} from "../../src/IdentityRegistry.sol";
import {Distributor} from "../../src/Distributor.sol";
import {PropertyShares} from "../../src/PropertyShares.sol";
import {ReasonCodes} from "../../src/ReasonCodes.sol";

/// Operations on many investors at once: the registry's batch registration and freeze, and the
/// distributor's pushed payouts, up to 1,000 investors (the gas per item is printed with -vv).
contract BatchesTest is UnitBase {
    address internal landlord = makeAddr("landlord");

    function _wallet(uint256 i) internal pure returns (address) {
        return address(uint160(0x100000 + i));
    }

    function _id(uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("batch investor", i));
    }

    function _items(uint256 from, uint256 n)
        internal
        view
        returns (IdentityRegistry.Registration[] memory items)
    {
        items = new IdentityRegistry.Registration[](n);
        for (uint256 i = 0; i < n; i++) {
            items[i] = IdentityRegistry.Registration(
                _id(from + i), US, true, uint64(block.timestamp + 365 days), _wallet(from + i)
            );
        }
    }

    function _register(uint256 n) internal returns (uint256 gasPerItem) {
        uint256 batch = registry.MAX_BATCH();
        for (uint256 from = 0; from < n; from += batch) {
            IdentityRegistry.Registration[] memory items = _items(from, n - from < batch ? n - from : batch);
            vm.prank(registrar);
            uint256 before = gasleft();
            uint8[] memory outcomes = registry.registerInvestors(items);
            gasPerItem = (before - gasleft()) / items.length;
            for (uint256 i = 0; i < outcomes.length; i++) {
                assertEq(outcomes[i], registry.DONE());
            }
        }
    }

    // ---- registry

    function test_registerInvestors_oneOutcomePerItem() public {
        IdentityRegistry.Registration[] memory items = _items(0, 5);
        items[1].investorId = bytes32(0);
        items[2].country = 1000;
        items[3].wallet = alice; // alice's wallet belongs to ALICE
        items[4].wallet = address(0); // a record without a wallet
        vm.expectEmit(address(registry));
        emit IdentityRegistry.InvestorUpdated(
            _id(0), registry.investorCount() + 1, US, true, items[0].kycExpiry
        );
        vm.expectEmit(address(registry));
        emit IdentityRegistry.WalletAdded(_wallet(0), _id(0));
        vm.prank(registrar);
        uint8[] memory outcomes = registry.registerInvestors(items);
        assertEq(outcomes.length, 5);
        assertEq(outcomes[0], registry.DONE());
        assertEq(outcomes[1], registry.INVALID_INVESTOR());
        assertEq(outcomes[2], registry.INVALID_INVESTOR());
        assertEq(outcomes[3], registry.WALLET_TAKEN());
        assertEq(outcomes[4], registry.DONE());
        assertEq(registry.investorOf(_wallet(0)), _id(0));
        assertTrue(registry.isVerified(_wallet(0)));
        assertEq(registry.investorOf(_wallet(3)), bytes32(0));
        assertEq(registry.investor(_id(3)).no, 0, "a refused item changes nothing");
        assertEq(registry.investor(_id(4)).country, US);
        assertEq(registry.investorOf(alice), ALICE);

        // The same batch again: the done items stay done, nothing is added twice.
        uint64 count = registry.investorCount();
        items[0].accredited = false;
        vm.prank(registrar);
        outcomes = registry.registerInvestors(items);
        assertEq(outcomes[0], registry.DONE());
        assertEq(registry.investorCount(), count);
        assertFalse(registry.investor(_id(0)).accredited, "an update applies");
    }

    function test_registerInvestors_boundsAndRole() public {
        vm.startPrank(registrar);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.BadBatch.selector, 0));
        registry.registerInvestors(new IdentityRegistry.Registration[](0));
        IdentityRegistry.Registration[] memory big = _items(0, 201);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.BadBatch.selector, 201));
        registry.registerInvestors(big);
        vm.stopPrank();
        bytes memory err = _unauthorized(mallory, registry.REGISTRAR_ROLE());
        vm.expectRevert(err);
        vm.prank(mallory);
        registry.registerInvestors(_items(0, 1));
        vm.expectRevert(err);
        vm.prank(mallory);
        registry.setInvestorsFrozen(new bytes32[](1), true);
    }

    function test_setInvestorsFrozen_oneOutcomePerItem() public {
        bytes32[] memory ids = new bytes32[](3);
        ids[0] = ALICE;
        ids[1] = keccak256("nobody");
        ids[2] = BOB;
        vm.prank(registrar);
        uint8[] memory outcomes = registry.setInvestorsFrozen(ids, true);
        assertEq(outcomes[0], registry.DONE());
        assertEq(outcomes[1], registry.UNKNOWN());
        assertEq(outcomes[2], registry.DONE());
        assertTrue(registry.investor(ALICE).frozen);
        assertTrue(registry.investor(BOB).frozen);
        assertFalse(registry.investor(CAROL).frozen);
    }

    // ---- pushed distribution to 1,000 holders

    function test_pushPayouts_payEveryHolderOnceIn1000() public {
        uint256 n = 1000;
        uint256 perRegistration = _register(n);
        uint256 perIssue = _issue(0, n);
        // One holder is frozen: its payout is withheld, then paid once it is unfrozen.
        vm.prank(agent);
        shares.setAddressFrozen(_wallet(7), true);
        uint256 amount = 1_000_000e6 + 3; // leaves rounding dust
        _depositToTreasury(landlord, amount);
        vm.prank(treasurer);
        uint256 id = treasury.fundDistribution(amount, uint64(block.timestamp + 30 days), bytes32("rent"));

        address[] memory all = new address[](n);
        for (uint256 i = 0; i < n; i++) {
            all[i] = _wallet(i);
        }
        uint256 chunk = 200;
        uint256 paid;
        uint256 gasUsed;
        for (uint256 from = 0; from < n; from += chunk) {
            address[] memory part = new address[](chunk);
            for (uint256 i = 0; i < chunk; i++) {
                part[i] = all[from + i];
            }
            uint256 before = gasleft();
            paid += distributor.pushPayouts(id, part);
            gasUsed += before - gasleft();
            // Pushing the same chunk again (a retry after a crash) pays nobody twice.
            assertEq(distributor.pushPayouts(id, part), 0);
        }
        console.log("registration gas per investor (batches of 200):", perRegistration);
        console.log("issue gas per new holder (batches of 100):", perIssue);
        console.log("pushed payout gas per holder (chunks of 200):", gasUsed / n);

        uint256 expected;
        for (uint256 i = 0; i < n; i++) {
            uint256 due = distributor.entitlement(id, _wallet(i));
            assertGt(due, 0);
            if (i == 7) {
                assertEq(
                    uint8(distributor.claimState(id, _wallet(i))), uint8(Distributor.ClaimState.Withheld)
                );
                assertEq(usd.balanceOf(_wallet(i)), 0);
                continue;
            }
            expected += due;
            assertEq(usd.balanceOf(_wallet(i)), due, "each holder paid exactly its entitlement");
            assertEq(uint8(distributor.claimState(id, _wallet(i))), uint8(Distributor.ClaimState.Paid));
        }
        assertEq(paid, expected);
        // A claim after the push is refused; the withheld payout waits for the unfreeze.
        vm.expectRevert(abi.encodeWithSelector(Distributor.AlreadyClaimed.selector, id, _wallet(0)));
        vm.prank(_wallet(0));
        distributor.claim(id);
        address[] memory frozenOne = new address[](1);
        frozenOne[0] = _wallet(7);
        assertEq(distributor.pushPayouts(id, frozenOne), 0, "still frozen: skipped");
        vm.prank(agent);
        shares.setAddressFrozen(_wallet(7), false);
        uint256 late = distributor.pushPayouts(id, frozenOne);
        assertEq(late, distributor.entitlement(id, _wallet(7)));
        assertEq(usd.balanceOf(_wallet(7)), late);
        assertEq(distributor.pushPayouts(id, frozenOne), 0);
        // Only the rounding dust is left.
        assertLt(distributor.unclaimed(id), n);
    }

    /// Issues `(1 + i % 7)` shares to each of wallets `from..from+n`, 100 a batch; the gas per
    /// item of the last full batch.
    function _issue(uint256 from, uint256 n) internal returns (uint256 gasPerItem) {
        uint256 batch = shares.MAX_ISSUE();
        for (uint256 start = from; start < from + n; start += batch) {
            uint256 len = from + n - start < batch ? from + n - start : batch;
            address[] memory to = new address[](len);
            uint256[] memory amounts = new uint256[](len);
            for (uint256 i = 0; i < len; i++) {
                to[i] = _wallet(start + i);
                amounts[i] = (1 + (start + i) % 7) * 1e18;
            }
            vm.prank(agent);
            uint256 before = gasleft();
            uint8[] memory codes = shares.issueMany(to, amounts);
            if (len == batch) gasPerItem = (before - gasleft()) / len;
            for (uint256 i = 0; i < len; i++) {
                assertEq(codes[i], 0);
            }
        }
    }

    // ---- share token

    function test_issueMany_oneCodePerItem() public {
        _register(3);
        _setRules(false, false, 0, 0, 5e18, 0); // each holder at most 5 shares
        address[] memory to = new address[](4);
        uint256[] memory amounts = new uint256[](4);
        (to[0], amounts[0]) = (_wallet(0), 2e18);
        (to[1], amounts[1]) = (makeAddr("stranger"), 1e18);
        (to[2], amounts[2]) = (_wallet(1), 6e18);
        (to[3], amounts[3]) = (_wallet(0), 3e18); // the same wallet again: up to the limit
        uint256 supply = shares.totalSupply();
        vm.expectEmit(address(shares));
        emit PropertyShares.Issued(_wallet(0), registry.investor(_id(0)).no, 2e18);
        vm.prank(agent);
        uint8[] memory codes = shares.issueMany(to, amounts);
        assertEq(codes.length, 4);
        assertEq(codes[0], ReasonCodes.SUCCESS);
        assertEq(codes[1], ReasonCodes.RECIPIENT_NOT_VERIFIED);
        assertEq(codes[2], ReasonCodes.MAX_BALANCE_EXCEEDED);
        assertEq(codes[3], ReasonCodes.SUCCESS);
        assertEq(shares.balanceOf(_wallet(0)), 5e18);
        assertEq(shares.balanceOf(_wallet(1)), 0, "a refused item issues nothing");
        assertEq(shares.totalSupply(), supply + 5e18);
        // Over the limit now: the whole batch is refused item by item, nothing issued.
        address[] memory again = new address[](1);
        again[0] = _wallet(0);
        uint256[] memory one = new uint256[](1);
        one[0] = 1;
        vm.prank(agent);
        assertEq(shares.issueMany(again, one)[0], ReasonCodes.MAX_BALANCE_EXCEEDED);
        assertEq(shares.totalSupply(), supply + 5e18);
    }

    function test_issueMany_boundsAndRole() public {
        _register(1);
        address[] memory to = new address[](1);
        to[0] = _wallet(0);
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = 1e18;
        vm.expectRevert(_unauthorized(address(this), shares.AGENT_ROLE()));
        shares.issueMany(to, amounts);
        vm.startPrank(agent);
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.BadBatch.selector, 0));
        shares.issueMany(new address[](0), new uint256[](0));
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.BadBatch.selector, 1));
        shares.issueMany(to, new uint256[](2));
        vm.expectRevert(abi.encodeWithSelector(PropertyShares.BadBatch.selector, 101));
        shares.issueMany(new address[](101), new uint256[](101));
        shares.pause();
        assertEq(shares.issueMany(to, amounts)[0], ReasonCodes.PAUSED);
        vm.stopPrank();
        assertEq(shares.totalSupply(), 0);
    }

    function test_pushPayouts_boundsAndDeadline() public {
        _mint(alice, 10e18);
        _depositToTreasury(landlord, 100e6);
        vm.prank(treasurer);
        uint256 id = treasury.fundDistribution(100e6, uint64(block.timestamp + 1 days), bytes32("rent"));
        vm.expectRevert(abi.encodeWithSelector(Distributor.BadPush.selector, 0));
        distributor.pushPayouts(id, new address[](0));
        vm.expectRevert(abi.encodeWithSelector(Distributor.BadPush.selector, 201));
        distributor.pushPayouts(id, new address[](201));
        address[] memory one = new address[](2);
        one[0] = alice;
        one[1] = mallory; // holds nothing: skipped
        vm.warp(block.timestamp + 2 days);
        vm.expectRevert(abi.encodeWithSelector(Distributor.ClaimClosed.selector, id));
        distributor.pushPayouts(id, one);
        vm.warp(block.timestamp - 2 days);
        uint256 before = usd.balanceOf(alice);
        assertEq(distributor.pushPayouts(id, one), 100e6);
        assertEq(usd.balanceOf(alice), before + 100e6);
    }
}
