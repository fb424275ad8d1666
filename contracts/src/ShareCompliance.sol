// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ADMIN_TRANSFER_DELAY} from "./AdminDelay.sol";
import {IdentityRegistry} from "./IdentityRegistry.sol";
import {ReasonCodes} from "./ReasonCodes.sol";

/// @notice What the compliance reads from its token.
interface ICountryCounts {
    /// @notice Investors holding whose country was `country` when they started holding.
    function countryInvestors(uint16 country) external view returns (uint32);
}

/// @title ShareCompliance
/// @notice The offering rules of one property's share token: allowed countries, accredited-only,
/// maximum number of investors, maximum balance per investor, a lock-up date and a minimum holding;
/// and the limits: a supply cap, transfer volume limits per investor per day and per calendar
/// month, investor caps per country, and jurisdiction groups (transfers only between investors
/// whose countries are in one group).
///
/// It holds no balances: the token computes the facts of a transfer (its investors per country
/// among them) and asks `check` for a verdict. The one counter kept here is each investor's
/// volume in the current day and month, which the token reports through `transferred` after an
/// investor's transfer. The token binds itself in its constructor; the `PropertyLauncher`
/// creates the compliance and the token in one transaction, so nobody can bind another token in
/// between.
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

    /// @notice The limits, in one storage slot (the supply cap has its own). Zero means "no limit".
    struct Limits {
        uint96 dailyVolume; // share base units an investor may transfer out per UTC day
        uint96 monthlyVolume; // share base units an investor may transfer out per UTC calendar month
        bool groupsEnforced; // transfers only between investors of one jurisdiction group
        uint128 maxSupply; // total supply a mint may reach
    }

    /// @notice An investor's transfers out in the current day and month (share base units).
    struct Volume {
        uint32 day; // days since 1970-01-01 (UTC)
        uint96 dayAmount;
        uint32 month; // year * 12 + month - 1 (UTC)
        uint96 monthAmount;
    }

    /// @notice A new investor's first holding received by a transfer when no minimum holding is set.
    uint256 public constant DEFAULT_MIN_FIRST_HOLDING = 1e18;

    /// @notice The facts of one prospective transfer or mint, computed by the token.
    struct TransferFacts {
        uint64 senderNo; // the sender's investor (0 for a mint)
        uint16 senderCountedIn; // the country the sender investor is counted under
        uint32 recipientCountryInvestors; // investors counted under the recipient's country (when new)
        bool isMint;
        uint256 amount;
        uint256 supplyAfter; // the token's total supply afterwards
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

    // The limits as stored: what a transfer reads in one slot, the supply cap in another.
    struct TransferLimits {
        uint96 dailyVolume;
        uint96 monthlyVolume;
        bool groupsEnforced;
        uint16 cappedCountries; // countries with a non-zero investor cap
    }

    TransferLimits private _limits;
    uint128 private _maxSupply;
    mapping(uint16 country => uint32) private _countryCap;
    mapping(uint16 country => uint8) private _group;

    /// @notice The token these rules serve (bound by its constructor) and its identity registry.
    address public token;
    IdentityRegistry public registry;
    mapping(uint64 investorNo => Volume) private _volume;

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
    /// @notice The limits changed.
    event LimitsUpdated(uint96 dailyVolume, uint96 monthlyVolume, bool groupsEnforced, uint128 maxSupply);
    /// @notice A country's investor cap changed (0: no cap).
    event CountryCapSet(uint16 indexed country, uint32 cap);
    /// @notice A country was put in a jurisdiction group (every country starts in group 0).
    event JurisdictionGroupSet(uint16 indexed country, uint8 group);
    /// @notice The token was bound.
    event TokenBound(address indexed token, address registry);

    /// @notice The country code is not a valid ISO-3166-1 numeric code.
    error InvalidCountry(uint16 country);
    /// @notice The minimum holding is larger than the maximum balance.
    error InconsistentRules(uint128 minHolding, uint128 maxBalancePerInvestor);
    /// @notice The countries and values lists differ in length, or are longer than `MAX_BATCH`.
    error BadLength(uint256 countries, uint256 values);
    /// @notice A token is already bound, or the caller is not the bound token.
    error NotToken(address caller);

    /// @notice Most countries one call may set.
    uint256 public constant MAX_BATCH = 256;

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

    /// @notice Replaces the limits.
    function setLimits(Limits calldata limits_) external onlyRole(RULES_ADMIN_ROLE) {
        TransferLimits storage l = _limits;
        l.dailyVolume = limits_.dailyVolume;
        l.monthlyVolume = limits_.monthlyVolume;
        l.groupsEnforced = limits_.groupsEnforced;
        _maxSupply = limits_.maxSupply;
        emit LimitsUpdated(
            limits_.dailyVolume, limits_.monthlyVolume, limits_.groupsEnforced, limits_.maxSupply
        );
    }

    /// @notice Sets investor caps per country (0 removes a cap).
    function setCountryCaps(uint16[] calldata countries, uint32[] calldata caps)
        external
        onlyRole(RULES_ADMIN_ROLE)
    {
        if (countries.length != caps.length || countries.length > MAX_BATCH) {
            revert BadLength(countries.length, caps.length);
        }
        uint16 capped = _limits.cappedCountries;
        for (uint256 i = 0; i < countries.length; i++) {
            uint16 c = countries[i];
            if (c == 0 || c > 999) revert InvalidCountry(c);
            uint32 before = _countryCap[c];
            if (before == 0 && caps[i] != 0) capped++;
            else if (before != 0 && caps[i] == 0) capped--;
            _countryCap[c] = caps[i];
            emit CountryCapSet(c, caps[i]);
        }
        _limits.cappedCountries = capped;
    }

    /// @notice Puts countries in jurisdiction groups (group 0 is every country's default).
    function setJurisdictionGroups(uint16[] calldata countries, uint8[] calldata groups)
        external
        onlyRole(RULES_ADMIN_ROLE)
    {
        if (countries.length != groups.length || countries.length > MAX_BATCH) {
            revert BadLength(countries.length, groups.length);
        }
        for (uint256 i = 0; i < countries.length; i++) {
            uint16 c = countries[i];
            if (c == 0 || c > 999) revert InvalidCountry(c);
            _group[c] = groups[i];
            emit JurisdictionGroupSet(c, groups[i]);
        }
    }

    /// @notice Binds the calling token (once): the token's constructor calls this.
    function bindToken(IdentityRegistry registry_) external {
        if (token != address(0)) revert NotToken(msg.sender);
        token = msg.sender;
        registry = registry_;
        emit TokenBound(msg.sender, address(registry_));
    }

    /// @notice The current scalar rules.
    function rules() external view returns (Rules memory) {
        return _rules;
    }

    /// @notice The current limits.
    function limits() external view returns (Limits memory) {
        TransferLimits memory l = _limits;
        return Limits(l.dailyVolume, l.monthlyVolume, l.groupsEnforced, _maxSupply);
    }

    /// @notice A country's investor cap (0: none), its investors holding now, and its group.
    function countryRules(uint16 c) external view returns (uint32 cap, uint32 investors, uint8 group) {
        if (token != address(0)) investors = ICountryCounts(token).countryInvestors(c);
        return (_countryCap[c], investors, _group[c]);
    }

    /// @notice What an investor has transferred out today and this calendar month (UTC).
    function volumeOf(uint64 investorNo) external view returns (uint256 today, uint256 thisMonth) {
        Volume memory v = _volume[investorNo];
        (uint32 d, uint32 m) = _period(block.timestamp);
        if (v.day == d) today = v.dayAmount;
        if (v.month == m) thisMonth = v.monthAmount;
    }

    /// @notice Short English text for a reason code (the token's `messageForTransferRestriction`).
    function message(uint8 code) external pure returns (string memory) {
        return ReasonCodes.message(code);
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
        return _verdict(f);
    }

    /// @notice `check`, and whether the token must report the transfer (`transferred`) because a
    /// volume limit counts it.
    function judge(TransferFacts calldata f) external view returns (uint8 code, bool counted) {
        code = _verdict(f);
        counted = code == ReasonCodes.SUCCESS && f.holderTransfer && !f.sameInvestor
            && (_limits.dailyVolume != 0 || _limits.monthlyVolume != 0);
    }

    function _verdict(TransferFacts calldata f) private view returns (uint8) {
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
        return _limitsCode(f);
    }

    /// The limits, after the rules above: jurisdiction group and volumes (an investor's own
    /// transfers), the country's investor cap, the supply cap (mints).
    function _limitsCode(TransferFacts calldata f) private view returns (uint8) {
        // A transfer between investors reads one slot; a mint reads the supply cap, and a new
        // investor the first slot (whether any country has a cap).
        TransferLimits memory l;
        if (f.holderTransfer || f.recipientIsNewInvestor) l = _limits;
        if (f.holderTransfer) {
            uint96 daily = l.dailyVolume;
            uint96 monthly = l.monthlyVolume;
            if (l.groupsEnforced && _group[_countryOf(f.senderNo)] != _group[f.recipientCountry]) {
                return ReasonCodes.JURISDICTION_MISMATCH;
            }
            if (daily != 0 || monthly != 0) {
                Volume memory v = _volume[f.senderNo];
                (uint32 d, uint32 m) = _period(block.timestamp);
                uint256 today = v.day == d ? v.dayAmount : 0;
                uint256 month = v.month == m ? v.monthAmount : 0;
                if (daily != 0 && f.amount > daily - _min(today, daily)) {
                    return ReasonCodes.DAILY_LIMIT_EXCEEDED;
                }
                if (monthly != 0 && f.amount > monthly - _min(month, monthly)) {
                    return ReasonCodes.MONTHLY_LIMIT_EXCEEDED;
                }
            }
        }
        if (f.recipientIsNewInvestor && l.cappedCountries != 0) {
            uint32 cap = _countryCap[f.recipientCountry];
            if (
                cap != 0 && f.recipientCountryInvestors >= cap
                    && !(f.senderExits && f.senderCountedIn == f.recipientCountry)
            ) {
                return ReasonCodes.COUNTRY_CAP_REACHED;
            }
        }
        if (f.isMint) {
            uint128 maxSupply = _maxSupply;
            if (maxSupply != 0 && f.supplyAfter > maxSupply) return ReasonCodes.SUPPLY_CAP_EXCEEDED;
        }
        return ReasonCodes.SUCCESS;
    }

    /// @notice Called by the token after an investor's transfer that `judge` said a volume limit
    /// counts: adds it to the investor's volume of the day and of the month.
    function transferred(uint64 fromNo, uint256 amount) external {
        if (msg.sender != token) revert NotToken(msg.sender);
        if (_limits.dailyVolume == 0 && _limits.monthlyVolume == 0) return;
        Volume memory v = _volume[fromNo];
        (uint32 d, uint32 m) = _period(block.timestamp);
        // The check before the transfer kept the amount within a uint96 limit; the sums saturate.
        v.dayAmount = _add96(v.day == d ? v.dayAmount : 0, amount);
        v.monthAmount = _add96(v.month == m ? v.monthAmount : 0, amount);
        v.day = d;
        v.month = m;
        _volume[fromNo] = v;
    }

    function _countryOf(uint64 investorNo) private view returns (uint16) {
        IdentityRegistry reg = registry;
        return reg.investor(reg.investorIdOf(investorNo)).country;
    }

    function _add96(uint96 a, uint256 b) private pure returns (uint96) {
        uint256 s = uint256(a) + b;
        return s > type(uint96).max ? type(uint96).max : uint96(s);
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    /// The UTC day and calendar month of a time: days since 1970 and `year * 12 + month - 1`
    /// (the civil calendar from days, after Howard Hinnant's `civil_from_days`).
    function _period(uint256 t) private pure returns (uint32 day, uint32 month) {
        uint256 days_ = t / 86400;
        uint256 z = days_ + 719468;
        uint256 era = z / 146097;
        uint256 doe = z - era * 146097;
        uint256 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        uint256 mp = (5 * doy + 2) / 153;
        uint256 m = mp < 10 ? mp + 3 : mp - 9;
        uint256 y = yoe + era * 400 + (m <= 2 ? 1 : 0);
        day = uint32(days_);
        month = uint32(y * 12 + m - 1);
    }
}
