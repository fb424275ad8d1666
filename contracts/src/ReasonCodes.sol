// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ReasonCodes
/// @notice The stable reason codes returned by `PropertyShares.canTransfer` and `canMint`
/// (ERC-1404 style). The same numbers are used by the HTTP API, so a code's meaning never
/// changes once published; new codes are only ever appended. See contracts/REASON_CODES.md.
library ReasonCodes {
    uint8 internal constant SUCCESS = 0;
    uint8 internal constant PAUSED = 1;
    uint8 internal constant SENDER_FROZEN = 2;
    uint8 internal constant RECIPIENT_FROZEN = 3;
    uint8 internal constant RECIPIENT_NOT_VERIFIED = 4;
    uint8 internal constant INSUFFICIENT_BALANCE = 5;
    uint8 internal constant INSUFFICIENT_UNFROZEN_BALANCE = 6;
    uint8 internal constant COUNTRY_NOT_ALLOWED = 7;
    uint8 internal constant NOT_ACCREDITED = 8;
    uint8 internal constant LOCKUP_ACTIVE = 9;
    uint8 internal constant MAX_INVESTORS_REACHED = 10;
    uint8 internal constant MAX_BALANCE_EXCEEDED = 11;
    uint8 internal constant BELOW_MIN_HOLDING = 12;
    uint8 internal constant OFFERING_UNSETTLED = 13;
    uint8 internal constant JURISDICTION_MISMATCH = 14;
    uint8 internal constant DAILY_LIMIT_EXCEEDED = 15;
    uint8 internal constant MONTHLY_LIMIT_EXCEEDED = 16;
    uint8 internal constant COUNTRY_CAP_REACHED = 17;
    uint8 internal constant SUPPLY_CAP_EXCEEDED = 18;

    /// @notice Short English text for a code, for `messageForTransferRestriction`.
    function message(uint8 code) internal pure returns (string memory) {
        if (code == SUCCESS) return "allowed";
        if (code == PAUSED) return "token is paused";
        if (code == SENDER_FROZEN) return "sender is frozen";
        if (code == RECIPIENT_FROZEN) return "recipient is frozen";
        if (code == RECIPIENT_NOT_VERIFIED) return "recipient is not a verified investor or KYC expired";
        if (code == INSUFFICIENT_BALANCE) return "insufficient balance";
        if (code == INSUFFICIENT_UNFROZEN_BALANCE) return "insufficient unfrozen balance";
        if (code == COUNTRY_NOT_ALLOWED) return "recipient country is not allowed";
        if (code == NOT_ACCREDITED) return "recipient is not accredited";
        if (code == LOCKUP_ACTIVE) return "lock-up period is active";
        if (code == MAX_INVESTORS_REACHED) return "maximum number of investors reached";
        if (code == MAX_BALANCE_EXCEEDED) return "maximum balance per investor exceeded";
        if (code == BELOW_MIN_HOLDING) return "holding would fall below the minimum";
        if (code == OFFERING_UNSETTLED) return "unsettled offering shares cannot leave the investor";
        if (code == JURISDICTION_MISMATCH) return "jurisdiction groups of sender and recipient differ";
        if (code == DAILY_LIMIT_EXCEEDED) return "daily transfer limit exceeded";
        if (code == MONTHLY_LIMIT_EXCEEDED) return "monthly transfer limit exceeded";
        if (code == COUNTRY_CAP_REACHED) return "maximum number of investors in the country reached";
        if (code == SUPPLY_CAP_EXCEEDED) return "supply cap exceeded";
        return "unknown restriction";
    }
}
