// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {UnitBase} from "./UnitBase.sol";
import {ShareCompliance} from "../../src/ShareCompliance.sol";
import {IdentityRegistry} from "../../src/IdentityRegistry.sol";
import {ReasonCodes} from "../../src/ReasonCodes.sol";

/// The limits of `ShareCompliance` through the share token, at their boundaries: the supply cap,
/// the daily and monthly volume limits, the investor caps per country and the jurisdiction groups.
contract ComplianceLimitsTest is UnitBase {
    address internal dave = makeAddr("dave");
    bytes32 internal constant DAVE = keccak256("investor:dave");
    uint16 internal constant DE = 276;

    function setUp() public override {
        super.setUp();
        vm.startPrank(registrar);
        registry.setInvestor(DAVE, US, true, uint64(block.timestamp + 3650 days));
        registry.addWallet(dave, DAVE);
        // Long KYC for the tests that move the clock by months.
        registry.setInvestor(ALICE, US, true, uint64(block.timestamp + 3650 days));
        registry.setInvestor(BOB, GB, false, uint64(block.timestamp + 3650 days));
        registry.setInvestor(CAROL, US, true, uint64(block.timestamp + 3650 days));
        vm.stopPrank();
    }

    function _limits(uint96 daily, uint96 monthly, bool groups, uint128 maxSupply) internal {
        vm.prank(rulesAdmin);
        compliance.setLimits(ShareCompliance.Limits(daily, monthly, groups, maxSupply));
    }

    function _cap(uint16 country, uint32 cap) internal {
        uint16[] memory cs = new uint16[](1);
        uint32[] memory caps = new uint32[](1);
        cs[0] = country;
        caps[0] = cap;
        vm.prank(rulesAdmin);
        compliance.setCountryCaps(cs, caps);
    }

    function _group(uint16 country, uint8 group) internal {
        uint16[] memory cs = new uint16[](1);
        uint8[] memory gs = new uint8[](1);
        cs[0] = country;
        gs[0] = group;
        vm.prank(rulesAdmin);
        compliance.setJurisdictionGroups(cs, gs);
    }

    function _investorsIn(uint16 country) internal view returns (uint32 n) {
        (, n,) = compliance.countryRules(country);
    }

    function _volume(uint64 no) internal view returns (uint256 today, uint256 month) {
        return compliance.volumeOf(no);
    }

    // ---- binding and roles

    function test_bindToken_onlyOnce() public {
        assertEq(compliance.token(), address(shares));
        assertEq(address(compliance.registry()), address(registry));
        vm.expectRevert(abi.encodeWithSelector(ShareCompliance.NotToken.selector, mallory));
        vm.prank(mallory);
        compliance.bindToken(IdentityRegistry(mallory));
    }

    function test_transferred_onlyTheTokenCounts() public {
        _limits(5e18, 0, false, 0);
        vm.expectRevert(abi.encodeWithSelector(ShareCompliance.NotToken.selector, mallory));
        vm.prank(mallory);
        compliance.transferred(aliceNo, 1e18);
        (uint256 today,) = _volume(aliceNo);
        assertEq(today, 0);
    }

    function test_setLimits_emitsAndStores() public {
        vm.expectEmit(address(compliance));
        emit ShareCompliance.LimitsUpdated(1, 2, true, 3);
        _limits(1, 2, true, 3);
        ShareCompliance.Limits memory l = compliance.limits();
        assertEq(l.dailyVolume, 1);
        assertEq(l.monthlyVolume, 2);
        assertTrue(l.groupsEnforced);
        assertEq(l.maxSupply, 3);
    }

    function test_setters_revertForNonRulesAdmin() public {
        bytes memory err = _unauthorized(mallory, compliance.RULES_ADMIN_ROLE());
        vm.startPrank(mallory);
        vm.expectRevert(err);
        compliance.setLimits(ShareCompliance.Limits(1, 0, false, 0));
        vm.expectRevert(err);
        compliance.setCountryCaps(new uint16[](0), new uint32[](0));
        vm.expectRevert(err);
        compliance.setJurisdictionGroups(new uint16[](0), new uint8[](0));
        vm.stopPrank();
    }

    function test_countrySetters_refuseBadInput() public {
        vm.startPrank(rulesAdmin);
        vm.expectRevert(abi.encodeWithSelector(ShareCompliance.BadLength.selector, 1, 0));
        compliance.setCountryCaps(new uint16[](1), new uint32[](0));
        vm.expectRevert(abi.encodeWithSelector(ShareCompliance.BadLength.selector, 257, 257));
        compliance.setJurisdictionGroups(new uint16[](257), new uint8[](257));
        vm.expectRevert(abi.encodeWithSelector(ShareCompliance.InvalidCountry.selector, 0));
        compliance.setCountryCaps(new uint16[](1), new uint32[](1));
        uint16[] memory big = new uint16[](1);
        big[0] = 1000;
        vm.expectRevert(abi.encodeWithSelector(ShareCompliance.InvalidCountry.selector, 1000));
        compliance.setJurisdictionGroups(big, new uint8[](1));
        vm.stopPrank();
    }

    // ---- supply cap (18)

    function test_supplyCap_mintsReachItExactly() public {
        _limits(0, 0, false, 100e18);
        _expectMintCode(alice, 60e18, 0);
        _expectMintCode(bob, 40e18 + 1, ReasonCodes.SUPPLY_CAP_EXCEEDED);
        _expectMintCode(bob, 40e18, 0);
        _expectMintCode(bob, 1, ReasonCodes.SUPPLY_CAP_EXCEEDED);
        // Transfers are not held by it.
        _expectTransferCode(alice, carol, 10e18, 0);
        // The offering's sale is a mint too.
        vm.expectRevert(_restricted(ReasonCodes.SUPPLY_CAP_EXCEEDED));
        _buy(carol, 1e18);
        // A burn makes room.
        vm.prank(agent);
        shares.burn(bob, 5e18);
        _expectMintCode(dave, 5e18, 0);
    }

    // ---- daily volume (15)

    function test_dailyLimit_atTheBoundaryAndAtMidnight() public {
        _mint(alice, 100e18);
        _mint(bob, 10e18);
        _limits(10e18, 0, false, 0);
        uint256 midnight = (block.timestamp / 1 days + 1) * 1 days;
        vm.warp(midnight - 10);
        _expectTransferCode(alice, bob, 4e18, 0);
        _expectTransferCode(alice, bob, 6e18 + 1, ReasonCodes.DAILY_LIMIT_EXCEEDED);
        _expectTransferCode(alice, bob, 6e18, 0);
        _expectTransferCode(alice, bob, 1, ReasonCodes.DAILY_LIMIT_EXCEEDED);
        (uint256 today, uint256 month) = _volume(aliceNo);
        assertEq(today, 10e18);
        assertEq(month, 10e18);
        // Another investor has a limit of its own.
        _expectTransferCode(bob, alice, 10e18, 0);
        vm.warp(midnight - 1);
        _expectTransferCode(alice, bob, 1, ReasonCodes.DAILY_LIMIT_EXCEEDED);
        vm.warp(midnight);
        (today,) = _volume(aliceNo);
        assertEq(today, 0);
        _expectTransferCode(alice, bob, 10e18, 0);
        _expectTransferCode(alice, bob, 1, ReasonCodes.DAILY_LIMIT_EXCEEDED);
    }

    function testFuzz_dailyLimit_twoTransfers(uint96 limit, uint96 a, uint96 b) public {
        limit = uint96(bound(limit, 1e18, 1_000e18));
        a = uint96(bound(a, 1e18, 1_000e18));
        b = uint96(bound(b, 1, 1_000e18));
        _mint(alice, 2_000e18);
        _mint(bob, 1e18);
        _limits(limit, 0, false, 0);
        _expectTransferCode(alice, bob, a, a <= limit ? 0 : ReasonCodes.DAILY_LIMIT_EXCEEDED);
        uint256 spent = a <= limit ? a : 0;
        _expectTransferCode(alice, bob, b, spent + b <= limit ? 0 : ReasonCodes.DAILY_LIMIT_EXCEEDED);
    }

    // ---- monthly volume (16)

    function test_monthlyLimit_followsCalendarMonths() public {
        vm.warp(1709164800 - 1 hours); // 2024-02-28 23:00 UTC (a leap year)
        _mint(alice, 100e18);
        _mint(bob, 10e18);
        _limits(0, 30e18, false, 0);
        _expectTransferCode(alice, bob, 20e18, 0);
        vm.warp(1709164800 + 10); // 2024-02-29
        _expectTransferCode(alice, bob, 10e18 + 1, ReasonCodes.MONTHLY_LIMIT_EXCEEDED);
        _expectTransferCode(alice, bob, 10e18, 0);
        (uint256 today, uint256 month) = _volume(aliceNo);
        assertEq(today, 10e18);
        assertEq(month, 30e18);
        vm.warp(1709251200 - 1); // 2024-02-29 23:59:59
        _expectTransferCode(alice, bob, 1, ReasonCodes.MONTHLY_LIMIT_EXCEEDED);
        vm.warp(1709251200); // 2024-03-01
        _expectTransferCode(alice, bob, 30e18, 0);
        _expectTransferCode(alice, bob, 1, ReasonCodes.MONTHLY_LIMIT_EXCEEDED);
        vm.warp(1704067200 + 366 days); // 2025-01-01: a new year is a new month
        _expectTransferCode(alice, bob, 30e18, 0);
    }

    function test_volumeLimits_dailyIsJudgedFirst() public {
        _mint(alice, 100e18);
        _mint(bob, 10e18);
        _limits(5e18, 8e18, false, 0);
        uint256 midnight = (block.timestamp / 1 days + 1) * 1 days;
        vm.warp(midnight - 100);
        _expectTransferCode(alice, bob, 5e18, 0);
        _expectTransferCode(alice, bob, 1, ReasonCodes.DAILY_LIMIT_EXCEEDED);
        vm.warp(midnight); // 2023-11-15, the same month
        _expectTransferCode(alice, bob, 3e18 + 1, ReasonCodes.MONTHLY_LIMIT_EXCEEDED);
        _expectTransferCode(alice, bob, 3e18, 0);
        _expectTransferCode(alice, bob, 1, ReasonCodes.MONTHLY_LIMIT_EXCEEDED);
        _expectTransferCode(alice, bob, 3e18, ReasonCodes.DAILY_LIMIT_EXCEEDED);
    }

    function test_volume_onlyTheHoldersOwnTransfersToOthersCount() public {
        _mint(alice, 100e18);
        _mint(bob, 10e18);
        _limits(5e18, 0, false, 0);
        // Between the investor's own wallets: neither held nor counted.
        _expectTransferCode(alice, alice2, 50e18, 0);
        // The agent's forced transfer: neither held nor counted.
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 20e18);
        (uint256 today,) = _volume(aliceNo);
        assertEq(today, 0);
        // A spender's transferFrom is the holder's transfer.
        vm.prank(alice);
        shares.approve(carol, type(uint256).max);
        vm.prank(carol);
        shares.transferFrom(alice, bob, 5e18);
        _expectTransferCode(alice, bob, 1, ReasonCodes.DAILY_LIMIT_EXCEEDED);
        vm.expectRevert(_restricted(ReasonCodes.DAILY_LIMIT_EXCEEDED));
        vm.prank(carol);
        shares.transferFrom(alice, bob, 1);
    }

    function test_volume_isCountedFromWhenALimitIsSet() public {
        _mint(alice, 100e18);
        _mint(bob, 10e18);
        _expectTransferCode(alice, bob, 50e18, 0);
        _limits(10e18, 0, false, 0);
        _expectTransferCode(alice, bob, 10e18, 0);
        _expectTransferCode(alice, bob, 1, ReasonCodes.DAILY_LIMIT_EXCEEDED);
    }

    // ---- investor caps per country (17)

    function test_countryCap_countsInvestorsNotWallets() public {
        _cap(US, 2);
        _expectMintCode(alice, 10e18, 0);
        _expectMintCode(alice2, 10e18, 0);
        _expectMintCode(carol, 10e18, 0);
        assertEq(_investorsIn(US), 2);
        (uint32 cap,,) = compliance.countryRules(US);
        assertEq(cap, 2);
        _expectMintCode(dave, 1e18, ReasonCodes.COUNTRY_CAP_REACHED);
        _expectTransferCode(alice, dave, 1e18, ReasonCodes.COUNTRY_CAP_REACHED);
        // Other countries are not held, and existing US holders may receive more.
        _expectMintCode(bob, 1e18, 0);
        _expectTransferCode(alice, carol, 1e18, 0);
        // The agent cannot exceed it either.
        vm.expectRevert(_restricted(ReasonCodes.COUNTRY_CAP_REACHED));
        vm.prank(agent);
        shares.forcedTransfer(carol, dave, 1e18);
        // An exiting US investor frees its seat for the US recipient of its last shares.
        _expectTransferCode(carol, dave, 11e18, 0);
        assertEq(_investorsIn(US), 2);
        // A burn of an investor's last shares frees a seat too.
        vm.startPrank(agent);
        shares.burn(alice, 9e18);
        shares.burn(alice2, 10e18);
        vm.stopPrank();
        assertEq(_investorsIn(US), 1);
        _expectMintCode(carol, 1e18, 0);
        _expectMintCode(alice, 1e18, ReasonCodes.COUNTRY_CAP_REACHED);
    }

    function test_countryCap_anExitFromAnotherCountryFreesNoSeat() public {
        _cap(US, 2);
        _mint(alice, 10e18);
        _mint(carol, 10e18);
        _mint(bob, 10e18);
        _expectTransferCode(bob, dave, 10e18, ReasonCodes.COUNTRY_CAP_REACHED);
        _cap(US, 0);
        _expectTransferCode(bob, dave, 10e18, 0);
        assertEq(_investorsIn(US), 3);
        assertEq(_investorsIn(GB), 0);
    }

    function test_countryCap_anInvestorLeavesTheCountItJoined() public {
        _mint(alice, 10e18);
        assertEq(_investorsIn(US), 1);
        vm.prank(registrar);
        registry.setInvestor(ALICE, GB, true, uint64(block.timestamp + 365 days));
        vm.prank(agent);
        shares.burn(alice, 10e18);
        assertEq(_investorsIn(US), 0);
        assertEq(_investorsIn(GB), 0);
        _mint(alice, 1e18);
        assertEq(_investorsIn(GB), 1);
    }

    // ---- jurisdiction groups (14)

    function test_groups_transfersOnlyWithinAGroup() public {
        _mint(alice, 100e18);
        _group(US, 1);
        _group(GB, 2);
        // Groups set but not enforced.
        _expectTransferCode(alice, bob, 5e18, 0);
        _limits(0, 0, true, 0);
        _expectTransferCode(alice, bob, 5e18, ReasonCodes.JURISDICTION_MISMATCH);
        _expectTransferCode(bob, alice, 1e18, ReasonCodes.JURISDICTION_MISMATCH);
        _expectTransferCode(alice, carol, 5e18, 0);
        _expectTransferCode(alice, alice2, 5e18, 0);
        // Mints and the agent's transfers are not held.
        _expectMintCode(bob, 1e18, 0);
        vm.prank(agent);
        shares.forcedTransfer(alice, bob, 1e18);
        // One group for both countries.
        _group(GB, 1);
        _expectTransferCode(alice, bob, 5e18, 0);
        // A country never assigned is in group 0.
        vm.prank(registrar);
        registry.setInvestor(DAVE, DE, true, uint64(block.timestamp + 365 days));
        _expectTransferCode(alice, dave, 5e18, ReasonCodes.JURISDICTION_MISMATCH);
        _group(US, 0);
        _group(GB, 0);
        _expectTransferCode(bob, dave, 1e18, 0);
    }

    // ---- order of evaluation

    function test_order_groupsThenVolumesThenCountryCapThenSupply() public {
        _mint(alice, 100e18);
        _mint(carol, 10e18);
        _mint(bob, 10e18);
        _cap(US, 2);
        _group(GB, 2);
        _limits(1e18, 0, true, 120e18);
        // Minimum holding (12) comes before every limit.
        _setRules(false, false, 0, 0, 0, 5e18);
        _expectTransferCode(alice, dave, 1, ReasonCodes.BELOW_MIN_HOLDING);
        _clearRules();
        _expectTransferCode(alice, bob, 5e18, ReasonCodes.JURISDICTION_MISMATCH);
        _expectTransferCode(alice, dave, 5e18, ReasonCodes.DAILY_LIMIT_EXCEEDED);
        _expectTransferCode(alice, dave, 1e18, ReasonCodes.COUNTRY_CAP_REACHED);
        _expectMintCode(dave, 50e18, ReasonCodes.COUNTRY_CAP_REACHED);
        _expectMintCode(carol, 1e18 + 1, ReasonCodes.SUPPLY_CAP_EXCEEDED);
    }
}
