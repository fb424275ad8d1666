// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";
import {ReasonCodes} from "./ReasonCodes.sol";

/// @title ShareCompliance
/// @notice The offering rules of one property's share token: allowed countries, accredited-only,
/// maximum number of investors, maximum balance per investor, a lock-up date and a minimum holding.
/// It holds no balances: the token computes the facts of a transfer and asks `check` for a verdict,
/// so the rules stay a pure function that the HTTP API reproduces exactly.
///
/// A transfer an investor makes (not a mint, forced transfer or recovery) that would make its
/// recipient a new investor must deliver at least the minimum holding, or one whole share when no
/// minimum holding is set, so the investor cap cannot be filled with dust.
contract ShareCompliance is AccessControlDefaultAdminRules {
    /// @notice Role that may change the rules.
    bytes32 public constant RULES_ADMIN_ROLE = keccak256("RULES_ADMIN_ROLE");

    /// @notice The scalar rules, packed into two storage slots. Zero means "no limit".
    struct Rules {
        bool accreditedOnly;
        bool countriesRestricted; // when false every country is allowed
        uint32 maxInvestors;
        uint64 lockupUntil; // transfers (not mints) are blocked while block.timestamp < lockupUntil
        uint128 maxBalancePerInvestor; // in share base units
        uint128 minHolding; // in share base units; a holding must be zero or at least this
    }

    /// @notice A new investor's first holding received by a transfer when no minimum holding is set.
    uint256 public constant DEFAULT_MIN_FIRST_HOLDING = 1e18;

    /// @notice The facts of one prospective transfer or mint, computed by the token.
    struct TransferFacts {
        bool lockupExempt; // mints, forced transfers and recoveries are not held by the lock-up
        bool holderTransfer; // a transfer the holder (or its approved spender) makes
        bool sameInvestor; // both wallets belong to one investor: caps and holdings are unchanged
        uint16 recipientCountry;
        bool recipientAccredited;
        bool recipientIsNewInvestor; // recipient investor holds nothing yet
        bool senderExits; // sender investor holds nothing afterwards (never for a mint)
        uint32 investorCount; // investors holding shares now
        uint256 recipientBalanceAfter; // recipient investor's holding afterwards
        uint256 senderBalanceAfter; // sender investor's holding afterwards (0 for a mint)
    }

    Rules private _rules;
    // ISO-3166-1 numeric codes (1..999) as a bitmap over four words.
    uint256[4] private _allowedCountries;

    /// @notice The scalar rules changed.
    event RulesUpdated(
        bool accreditedOnly,
        bool countriesRestricted,
        uint32 maxInvestors,
        uint64 lockupUntil,
        uint128 maxBalancePerInvestor,
        uint128 minHolding
    );
    /// @notice A country was allowed or disallowed.
    event CountryAllowed(uint16 indexed country, bool allowed);

    /// @notice The country code is not a valid ISO-3166-1 numeric code.
    error InvalidCountry(uint16 country);
    /// @notice The minimum holding is larger than the maximum balance.
    error InconsistentRules(uint128 minHolding, uint128 maxBalancePerInvestor);

    /// @param admin The platform admin (grants and revokes roles; moves in two delayed steps).
    /// @param rulesAdmin Who may change the rules.
    constructor(address admin, address rulesAdmin)
        AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin)
    {
        _grantRole(RULES_ADMIN_ROLE, rulesAdmin);
        emit RulesUpdated(false, false, 0, 0, 0, 0);
    }

    /// @notice Replaces the scalar rules.
    function setRules(Rules calldata rules_) external onlyRole(RULES_ADMIN_ROLE) {
        if (rules_.maxBalancePerInvestor != 0 && rules_.minHolding > rules_.maxBalancePerInvestor) {
            revert InconsistentRules(rules_.minHolding, rules_.maxBalancePerInvestor);
        }
        _rules = rules_;
        emit RulesUpdated(
            rules_.accreditedOnly,
            rules_.countriesRestricted,
            rules_.maxInvestors,
            rules_.lockupUntil,
            rules_.maxBalancePerInvestor,
            rules_.minHolding
        );
    }

    /// @notice Allows or disallows countries (only consulted while `countriesRestricted`).
    function setCountries(uint16[] calldata countries, bool allowed) external onlyRole(RULES_ADMIN_ROLE) {
        for (uint256 i = 0; i < countries.length; i++) {
            uint16 c = countries[i];
            if (c == 0 || c > 999) revert InvalidCountry(c);
            uint256 bit = uint256(1) << (c & 0xff);
            if (allowed) _allowedCountries[c >> 8] |= bit;
            else _allowedCountries[c >> 8] &= ~bit;
            emit CountryAllowed(c, allowed);
        }
    }

    /// @notice The current scalar rules.
    function rules() external view returns (Rules memory) {
        return _rules;
    }

    /// @notice Whether a country may hold shares under the current rules.
    function isCountryAllowed(uint16 country) public view returns (bool) {
        if (!_rules.countriesRestricted) return true;
        if (country == 0 || country > 999) return false;
        return _allowedCountries[country >> 8] & (uint256(1) << (country & 0xff)) != 0;
    }

    /// @notice The verdict of the rules on a transfer or mint: a code from `ReasonCodes`.
    /// The order of the checks is part of the contract with the API.
    function check(TransferFacts calldata f) external view returns (uint8) {
        Rules memory r = _rules;
        if (r.countriesRestricted) {
            uint16 c = f.recipientCountry;
            if (c == 0 || c > 999 || _allowedCountries[c >> 8] & (uint256(1) << (c & 0xff)) == 0) {
                return ReasonCodes.COUNTRY_NOT_ALLOWED;
            }
        }
        if (r.accreditedOnly && !f.recipientAccredited) return ReasonCodes.NOT_ACCREDITED;
        if (!f.lockupExempt && block.timestamp < r.lockupUntil) return ReasonCodes.LOCKUP_ACTIVE;
        if (f.sameInvestor) return ReasonCodes.SUCCESS;
        if (
            r.maxInvestors != 0 && f.recipientIsNewInvestor && !f.senderExits
                && f.investorCount >= r.maxInvestors
        ) {
            return ReasonCodes.MAX_INVESTORS_REACHED;
        }
        if (r.maxBalancePerInvestor != 0 && f.recipientBalanceAfter > r.maxBalancePerInvestor) {
            return ReasonCodes.MAX_BALANCE_EXCEEDED;
        }
        if (r.minHolding != 0) {
            if (f.recipientBalanceAfter < r.minHolding) return ReasonCodes.BELOW_MIN_HOLDING;
            if (f.senderBalanceAfter != 0 && f.senderBalanceAfter < r.minHolding) {
                return ReasonCodes.BELOW_MIN_HOLDING;
            }
        } else if (
            f.holderTransfer && f.recipientIsNewInvestor
                && f.recipientBalanceAfter < DEFAULT_MIN_FIRST_HOLDING
        ) {
            return ReasonCodes.BELOW_MIN_HOLDING;
        }
        return ReasonCodes.SUCCESS;
    }
}
