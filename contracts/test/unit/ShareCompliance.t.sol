// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {UnitBase} from "./UnitBase.sol";
import {ShareCompliance} from "../../src/ShareCompliance.sol";
import {ReasonCodes} from "../../src/ReasonCodes.sol";

contract ShareComplianceTest is UnitBase {
    /// Facts of an ordinary transfer between two investors that every rule lets through.
    function _facts() internal pure returns (ShareCompliance.TransferFacts memory f) {
        f.recipientCountry = US;
        f.recipientAccredited = true;
        f.investorCount = 2;
        f.recipientBalanceAfter = 50e18;
        f.senderBalanceAfter = 50e18;
    }

    function _countries(uint16 a, uint16 b) internal pure returns (uint16[] memory list) {
        list = new uint16[](2);
        list[0] = a;
        list[1] = b;
    }

    // ---- constructor and roles

    function test_constructor_emitsEmptyRules() public {
        vm.expectEmit(vm.computeCreateAddress(address(this), vm.getNonce(address(this))));
        emit ShareCompliance.RulesUpdated(false, false, 0, 0, 0, 0);
        ShareCompliance c = new ShareCompliance(admin, rulesAdmin);
        assertTrue(c.hasRole(c.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(c.hasRole(c.RULES_ADMIN_ROLE(), rulesAdmin));
        assertFalse(c.hasRole(c.RULES_ADMIN_ROLE(), admin));
        ShareCompliance.Rules memory r = c.rules();
        assertEq(r.maxInvestors, 0);
        assertEq(r.maxBalancePerInvestor, 0);
    }

    function test_grantRole_revertsForNonAdmin() public {
        bytes32 role = compliance.RULES_ADMIN_ROLE();
        vm.expectRevert(_unauthorized(mallory, compliance.DEFAULT_ADMIN_ROLE()));
        vm.prank(mallory);
        compliance.grantRole(role, mallory);
    }

    // ---- setRules

    function test_setRules_emitsRulesUpdatedAndStores() public {
        vm.expectEmit(address(compliance));
        emit ShareCompliance.RulesUpdated(true, true, 7, 1234, 500e18, 10e18);
        _setRules(true, true, 7, 1234, 500e18, 10e18);
        ShareCompliance.Rules memory r = compliance.rules();
        assertTrue(r.accreditedOnly);
        assertTrue(r.countriesRestricted);
        assertEq(r.maxInvestors, 7);
        assertEq(r.lockupUntil, 1234);
        assertEq(r.maxBalancePerInvestor, 500e18);
        assertEq(r.minHolding, 10e18);
    }

    function test_setRules_revertsForNonRulesAdmin() public {
        ShareCompliance.Rules memory r;
        vm.expectRevert(_unauthorized(mallory, compliance.RULES_ADMIN_ROLE()));
        vm.prank(mallory);
        compliance.setRules(r);
    }

    function test_setRules_revertsWhenMinHoldingAboveMaxBalance() public {
        ShareCompliance.Rules memory r;
        r.maxBalancePerInvestor = 10e18;
        r.minHolding = 10e18 + 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                ShareCompliance.InconsistentRules.selector, r.minHolding, r.maxBalancePerInvestor
            )
        );
        vm.prank(rulesAdmin);
        compliance.setRules(r);
    }

    function test_setRules_minHoldingEqualToMaxBalanceAllowed() public {
        _setRules(false, false, 0, 0, 10e18, 10e18);
        assertEq(compliance.rules().minHolding, 10e18);
    }

    function test_setRules_minHoldingWithoutBalanceCapAllowed() public {
        _setRules(false, false, 0, 0, 0, 10e18);
        assertEq(compliance.rules().minHolding, 10e18);
    }

    // ---- setCountries

    function test_setCountries_emitsCountryAllowedForEach() public {
        vm.expectEmit(address(compliance));
        emit ShareCompliance.CountryAllowed(US, true);
        vm.expectEmit(address(compliance));
        emit ShareCompliance.CountryAllowed(GB, true);
        vm.prank(rulesAdmin);
        compliance.setCountries(_countries(US, GB), true);
        _setRules(false, true, 0, 0, 0, 0);
        assertTrue(compliance.isCountryAllowed(US));
        assertTrue(compliance.isCountryAllowed(GB));
        assertFalse(compliance.isCountryAllowed(KP));
    }

    function test_setCountries_disallowRemovesOnlyThatCountry() public {
        vm.prank(rulesAdmin);
        compliance.setCountries(_countries(US, GB), true);
        vm.expectEmit(address(compliance));
        emit ShareCompliance.CountryAllowed(GB, false);
        _setCountry(GB, false);
        _setRules(false, true, 0, 0, 0, 0);
        assertTrue(compliance.isCountryAllowed(US));
        assertFalse(compliance.isCountryAllowed(GB));
    }

    function test_setCountries_revertsForCountryZero() public {
        vm.expectRevert(abi.encodeWithSelector(ShareCompliance.InvalidCountry.selector, uint16(0)));
        vm.prank(rulesAdmin);
        compliance.setCountries(_countries(US, 0), true);
    }

    function test_setCountries_revertsForCountryAbove999() public {
        vm.expectRevert(abi.encodeWithSelector(ShareCompliance.InvalidCountry.selector, uint16(1000)));
        vm.prank(rulesAdmin);
        compliance.setCountries(_countries(1000, US), true);
    }

    function test_setCountries_invalidEntryRevertsWholeBatch() public {
        vm.prank(rulesAdmin);
        try compliance.setCountries(_countries(US, 0), true) {
            fail();
        } catch {}
        _setRules(false, true, 0, 0, 0, 0);
        assertFalse(compliance.isCountryAllowed(US));
    }

    function test_setCountries_revertsForNonRulesAdmin() public {
        vm.expectRevert(_unauthorized(mallory, compliance.RULES_ADMIN_ROLE()));
        vm.prank(mallory);
        compliance.setCountries(_countries(US, GB), true);
    }

    function test_isCountryAllowed_everythingWhenUnrestricted() public view {
        assertTrue(compliance.isCountryAllowed(KP));
        assertTrue(compliance.isCountryAllowed(0));
    }

    function test_isCountryAllowed_outOfRangeFalseWhenRestricted() public {
        _setRules(false, true, 0, 0, 0, 0);
        assertFalse(compliance.isCountryAllowed(0));
        assertFalse(compliance.isCountryAllowed(1000));
        assertFalse(compliance.isCountryAllowed(type(uint16).max));
    }

    // ---- check: each rule

    function test_check_allowsWithoutRules() public view {
        assertEq(compliance.check(_facts()), ReasonCodes.SUCCESS);
    }

    function test_check_countryNotAllowed() public {
        _setCountry(GB, true);
        _setRules(false, true, 0, 0, 0, 0);
        assertEq(compliance.check(_facts()), ReasonCodes.COUNTRY_NOT_ALLOWED);
        ShareCompliance.TransferFacts memory f = _facts();
        f.recipientCountry = GB;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
    }

    function test_check_countryOutOfRangeNotAllowed() public {
        _setRules(false, true, 0, 0, 0, 0);
        ShareCompliance.TransferFacts memory f = _facts();
        f.recipientCountry = 0;
        assertEq(compliance.check(f), ReasonCodes.COUNTRY_NOT_ALLOWED);
        f.recipientCountry = 1000;
        assertEq(compliance.check(f), ReasonCodes.COUNTRY_NOT_ALLOWED);
    }

    function test_check_notAccredited() public {
        _setRules(true, false, 0, 0, 0, 0);
        ShareCompliance.TransferFacts memory f = _facts();
        f.recipientAccredited = false;
        assertEq(compliance.check(f), ReasonCodes.NOT_ACCREDITED);
    }

    function test_check_lockupActiveUntilDate() public {
        _setRules(false, false, 0, uint64(block.timestamp + 1), 0, 0);
        assertEq(compliance.check(_facts()), ReasonCodes.LOCKUP_ACTIVE);
        vm.warp(block.timestamp + 1);
        assertEq(compliance.check(_facts()), ReasonCodes.SUCCESS);
    }

    function test_check_lockupExemptFacts() public {
        _setRules(false, false, 0, uint64(block.timestamp + 1 days), 0, 0);
        ShareCompliance.TransferFacts memory f = _facts();
        f.lockupExempt = true;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
    }

    function test_check_maxInvestorsReached() public {
        _setRules(false, false, 2, 0, 0, 0);
        ShareCompliance.TransferFacts memory f = _facts();
        f.recipientIsNewInvestor = true;
        assertEq(compliance.check(f), ReasonCodes.MAX_INVESTORS_REACHED);
        f.investorCount = 1;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
    }

    function test_check_maxInvestorsIgnoresExistingRecipient() public {
        _setRules(false, false, 2, 0, 0, 0);
        ShareCompliance.TransferFacts memory f = _facts();
        f.investorCount = 5;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
    }

    function test_check_maxInvestorsAllowsWhenSenderExits() public {
        _setRules(false, false, 2, 0, 0, 0);
        ShareCompliance.TransferFacts memory f = _facts();
        f.recipientIsNewInvestor = true;
        f.senderExits = true;
        f.senderBalanceAfter = 0;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
    }

    function test_check_maxBalanceExceeded() public {
        _setRules(false, false, 0, 0, 50e18, 0);
        ShareCompliance.TransferFacts memory f = _facts();
        assertEq(compliance.check(f), ReasonCodes.SUCCESS); // equal to the cap
        f.recipientBalanceAfter = 50e18 + 1;
        assertEq(compliance.check(f), ReasonCodes.MAX_BALANCE_EXCEEDED);
    }

    function test_check_recipientBelowMinHolding() public {
        _setRules(false, false, 0, 0, 0, 50e18);
        ShareCompliance.TransferFacts memory f = _facts();
        f.recipientBalanceAfter = 50e18 - 1;
        assertEq(compliance.check(f), ReasonCodes.BELOW_MIN_HOLDING);
    }

    function test_check_senderBelowMinHolding() public {
        _setRules(false, false, 0, 0, 0, 50e18);
        ShareCompliance.TransferFacts memory f = _facts();
        f.senderBalanceAfter = 50e18 - 1;
        assertEq(compliance.check(f), ReasonCodes.BELOW_MIN_HOLDING);
        f.senderBalanceAfter = 0; // exiting is always allowed
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
    }

    function test_check_sameInvestorSkipsCapsAndMinHolding() public {
        _setRules(false, false, 1, 0, 1e18, 1e18);
        ShareCompliance.TransferFacts memory f = _facts();
        f.sameInvestor = true;
        f.recipientIsNewInvestor = true;
        f.investorCount = 9;
        f.recipientBalanceAfter = 100e18;
        f.senderBalanceAfter = 1;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
    }

    function test_check_sameInvestorStillChecksCountryAccreditationLockup() public {
        _setRules(true, true, 0, uint64(block.timestamp + 1 days), 0, 0);
        ShareCompliance.TransferFacts memory f = _facts();
        f.sameInvestor = true;
        assertEq(compliance.check(f), ReasonCodes.COUNTRY_NOT_ALLOWED);
        _setCountry(US, true);
        f.recipientAccredited = false;
        assertEq(compliance.check(f), ReasonCodes.NOT_ACCREDITED);
        f.recipientAccredited = true;
        assertEq(compliance.check(f), ReasonCodes.LOCKUP_ACTIVE);
    }

    function test_check_newInvestorByTransferNeedsOneShareWithoutMinHolding() public view {
        ShareCompliance.TransferFacts memory f = _facts();
        f.holderTransfer = true;
        f.recipientIsNewInvestor = true;
        f.recipientBalanceAfter = 1e18 - 1;
        assertEq(compliance.check(f), ReasonCodes.BELOW_MIN_HOLDING);
        f.recipientBalanceAfter = 1e18;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
        // An existing investor may receive any amount; mints and agent transfers are not held.
        f.recipientBalanceAfter = 1;
        f.recipientIsNewInvestor = false;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
        f.recipientIsNewInvestor = true;
        f.holderTransfer = false;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
    }

    function test_check_newInvestorByTransferNeedsTheMinHoldingWhenSet() public {
        _setRules(false, false, 0, 0, 0, 5e17);
        ShareCompliance.TransferFacts memory f = _facts();
        f.holderTransfer = true;
        f.recipientIsNewInvestor = true;
        f.recipientBalanceAfter = 5e17;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS, "the minimum holding replaces the default");
        f.recipientBalanceAfter = 5e17 - 1;
        assertEq(compliance.check(f), ReasonCodes.BELOW_MIN_HOLDING);
    }

    // ---- check: order

    function test_check_orderCountryAccreditedLockupInvestorsBalanceMinHolding() public {
        _setRules(true, true, 1, uint64(block.timestamp + 1 days), 10e18, 10e18);
        ShareCompliance.TransferFacts memory f;
        f.recipientCountry = GB;
        f.recipientAccredited = false;
        f.recipientIsNewInvestor = true;
        f.investorCount = 1;
        f.recipientBalanceAfter = 11e18;
        f.senderBalanceAfter = 1;

        assertEq(compliance.check(f), ReasonCodes.COUNTRY_NOT_ALLOWED);
        _setCountry(GB, true);
        assertEq(compliance.check(f), ReasonCodes.NOT_ACCREDITED);
        f.recipientAccredited = true;
        assertEq(compliance.check(f), ReasonCodes.LOCKUP_ACTIVE);
        f.lockupExempt = true;
        assertEq(compliance.check(f), ReasonCodes.MAX_INVESTORS_REACHED);
        f.investorCount = 0;
        assertEq(compliance.check(f), ReasonCodes.MAX_BALANCE_EXCEEDED);
        f.recipientBalanceAfter = 10e18;
        assertEq(compliance.check(f), ReasonCodes.BELOW_MIN_HOLDING); // sender keeps 1
        f.senderBalanceAfter = 0;
        assertEq(compliance.check(f), ReasonCodes.SUCCESS);
    }

    // ---- fuzz

    /// `check` equals a straightforward re-statement of the documented rules.
    function testFuzz_check_matchesReferenceModel(
        bool accreditedOnly,
        bool countriesRestricted,
        uint32 maxInvestors,
        uint64 lockupUntil,
        uint128 maxBalance,
        uint128 minHolding,
        ShareCompliance.TransferFacts memory f
    ) public {
        maxInvestors = uint32(bound(maxInvestors, 0, 5));
        if (maxBalance != 0) minHolding = uint128(bound(minHolding, 0, maxBalance));
        f.investorCount = uint32(bound(f.investorCount, 0, 6));
        f.recipientCountry = uint16(bound(f.recipientCountry, 0, 1001));
        _setCountry(US, true);
        _setCountry(999, true);
        _setRules(accreditedOnly, countriesRestricted, maxInvestors, lockupUntil, maxBalance, minHolding);

        uint8 expected;
        bool countryOk = f.recipientCountry == US || f.recipientCountry == 999;
        if (countriesRestricted && !countryOk) {
            expected = 7;
        } else if (accreditedOnly && !f.recipientAccredited) {
            expected = 8;
        } else if (!f.lockupExempt && block.timestamp < lockupUntil) {
            expected = 9;
        } else if (f.sameInvestor) {
            expected = 0;
        } else if (
            maxInvestors != 0 && f.recipientIsNewInvestor && !f.senderExits && f.investorCount >= maxInvestors
        ) {
            expected = 10;
        } else if (maxBalance != 0 && f.recipientBalanceAfter > maxBalance) {
            expected = 11;
        } else if (
            minHolding != 0
                && (f.recipientBalanceAfter < minHolding
                    || (f.senderBalanceAfter != 0 && f.senderBalanceAfter < minHolding))
        ) {
            expected = 12;
        } else if (
            minHolding == 0 && f.holderTransfer && f.recipientIsNewInvestor && f.recipientBalanceAfter < 1e18
        ) {
            expected = 12;
        }
        assertEq(compliance.check(f), expected);
    }

    /// Allowing one country sets exactly that bit of the bitmap.
    function testFuzz_setCountries_togglesOnlyThatCountry(uint16 country, uint16 other) public {
        country = uint16(bound(country, 1, 999));
        other = uint16(bound(other, 1, 999));
        vm.assume(other != country);
        _setRules(false, true, 0, 0, 0, 0);
        _setCountry(country, true);
        assertTrue(compliance.isCountryAllowed(country));
        assertFalse(compliance.isCountryAllowed(other));
        _setCountry(country, false);
        assertFalse(compliance.isCountryAllowed(country));
    }

    function testFuzz_setCountries_revertsOutsideRange(uint16 country) public {
        vm.assume(country == 0 || country > 999);
        uint16[] memory list = new uint16[](1);
        list[0] = country;
        vm.expectRevert(abi.encodeWithSelector(ShareCompliance.InvalidCountry.selector, country));
        vm.prank(rulesAdmin);
        compliance.setCountries(list, true);
    }

    function testFuzz_setRules_rejectsExactlyInconsistentRules(uint128 maxBalance, uint128 minHolding)
        public
    {
        ShareCompliance.Rules memory r;
        r.maxBalancePerInvestor = maxBalance;
        r.minHolding = minHolding;
        if (maxBalance != 0 && minHolding > maxBalance) {
            vm.expectRevert(
                abi.encodeWithSelector(ShareCompliance.InconsistentRules.selector, minHolding, maxBalance)
            );
        }
        vm.prank(rulesAdmin);
        compliance.setRules(r);
    }
}
