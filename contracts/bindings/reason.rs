//! The transfer-restriction reason codes of `contracts/src/ReasonCodes.sol`.

use crate::{Error, property_shares::PropertyShares};
use std::{fmt, str::FromStr};

/// A reason code returned by `PropertyShares.canTransfer` / `canMint` and carried by the
/// `TransferRestricted(code)` revert. Mirrors `contracts/src/ReasonCodes.sol` and the table in
/// `contracts/REASON_CODES.md`; codes never change meaning and new ones are only appended.
///
/// Serialized (serde) as its slug, e.g. `"recipient_not_verified"`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ReasonCode {
    /// 0: the transfer or mint is allowed (`SUCCESS`).
    Allowed = 0,
    /// 1: the token is paused by an agent.
    Paused = 1,
    /// 2: the sending wallet or its investor is frozen.
    SenderFrozen = 2,
    /// 3: the receiving wallet or its investor is frozen.
    RecipientFrozen = 3,
    /// 4: the recipient is not registered, its KYC expired, or the wallet holds shares of another
    /// investor.
    RecipientNotVerified = 4,
    /// 5: the sender holds less than the amount.
    InsufficientBalance = 5,
    /// 6: the amount exceeds the sender's balance less its frozen part.
    InsufficientUnfrozenBalance = 6,
    /// 7: the recipient's country is not allowed.
    CountryNotAllowed = 7,
    /// 8: the offering is accredited-only and the recipient is not accredited.
    NotAccredited = 8,
    /// 9: transfers between investors are locked until the lock-up date.
    LockupActive = 9,
    /// 10: the recipient would be a new investor and the investor cap is reached.
    MaxInvestorsReached = 10,
    /// 11: the recipient investor's holding would exceed the cap.
    MaxBalanceExceeded = 11,
    /// 12: a holding would be non-zero but below the minimum (for a new investor reached by a
    /// transfer: below the minimum holding, or one whole share when none is set).
    BelowMinHolding = 12,
    /// 13: the amount includes shares bought in an offering that has not reached its soft cap,
    /// which cannot leave their investor until it settles.
    OfferingUnsettled = 13,
    /// 14: jurisdiction groups are enforced and the sender's and recipient's countries are in
    /// different groups.
    JurisdictionMismatch = 14,
    /// 15: the sender investor's transfers today would exceed the daily volume limit.
    DailyLimitExceeded = 15,
    /// 16: the sender investor's transfers this calendar month would exceed the monthly limit.
    MonthlyLimitExceeded = 16,
    /// 17: the recipient would be a new investor and its country's investor cap is reached.
    CountryCapReached = 17,
    /// 18: the mint would take the total supply above the supply cap.
    SupplyCapExceeded = 18,
}

impl ReasonCode {
    /// Every code, in numeric order.
    pub const ALL: [Self; 19] = [
        Self::Allowed,
        Self::Paused,
        Self::SenderFrozen,
        Self::RecipientFrozen,
        Self::RecipientNotVerified,
        Self::InsufficientBalance,
        Self::InsufficientUnfrozenBalance,
        Self::CountryNotAllowed,
        Self::NotAccredited,
        Self::LockupActive,
        Self::MaxInvestorsReached,
        Self::MaxBalanceExceeded,
        Self::BelowMinHolding,
        Self::OfferingUnsettled,
        Self::JurisdictionMismatch,
        Self::DailyLimitExceeded,
        Self::MonthlyLimitExceeded,
        Self::CountryCapReached,
        Self::SupplyCapExceeded,
    ];

    /// The numeric code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Whether the code allows the transfer (code 0).
    pub const fn is_allowed(self) -> bool {
        matches!(self, Self::Allowed)
    }

    /// The stable slug used by the HTTP API, e.g. `recipient_not_verified`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Paused => "paused",
            Self::SenderFrozen => "sender_frozen",
            Self::RecipientFrozen => "recipient_frozen",
            Self::RecipientNotVerified => "recipient_not_verified",
            Self::InsufficientBalance => "insufficient_balance",
            Self::InsufficientUnfrozenBalance => "insufficient_unfrozen_balance",
            Self::CountryNotAllowed => "country_not_allowed",
            Self::NotAccredited => "not_accredited",
            Self::LockupActive => "lockup_active",
            Self::MaxInvestorsReached => "max_investors_reached",
            Self::MaxBalanceExceeded => "max_balance_exceeded",
            Self::BelowMinHolding => "below_min_holding",
            Self::OfferingUnsettled => "offering_unsettled",
            Self::JurisdictionMismatch => "jurisdiction_mismatch",
            Self::DailyLimitExceeded => "daily_limit_exceeded",
            Self::MonthlyLimitExceeded => "monthly_limit_exceeded",
            Self::CountryCapReached => "country_cap_reached",
            Self::SupplyCapExceeded => "supply_cap_exceeded",
        }
    }

    /// The short English text the contract answers from `messageForTransferRestriction`.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Paused => "token is paused",
            Self::SenderFrozen => "sender is frozen",
            Self::RecipientFrozen => "recipient is frozen",
            Self::RecipientNotVerified => "recipient is not a verified investor or KYC expired",
            Self::InsufficientBalance => "insufficient balance",
            Self::InsufficientUnfrozenBalance => "insufficient unfrozen balance",
            Self::CountryNotAllowed => "recipient country is not allowed",
            Self::NotAccredited => "recipient is not accredited",
            Self::LockupActive => "lock-up period is active",
            Self::MaxInvestorsReached => "maximum number of investors reached",
            Self::MaxBalanceExceeded => "maximum balance per investor exceeded",
            Self::BelowMinHolding => "holding would fall below the minimum",
            Self::OfferingUnsettled => "unsettled offering shares cannot leave the investor",
            Self::JurisdictionMismatch => "jurisdiction groups of sender and recipient differ",
            Self::DailyLimitExceeded => "daily transfer limit exceeded",
            Self::MonthlyLimitExceeded => "monthly transfer limit exceeded",
            Self::CountryCapReached => "maximum number of investors in the country reached",
            Self::SupplyCapExceeded => "supply cap exceeded",
        }
    }

    /// The name of the constant in `ReasonCodes.sol`, e.g. `RECIPIENT_NOT_VERIFIED`.
    pub const fn solidity_name(self) -> &'static str {
        match self {
            Self::Allowed => "SUCCESS",
            Self::Paused => "PAUSED",
            Self::SenderFrozen => "SENDER_FROZEN",
            Self::RecipientFrozen => "RECIPIENT_FROZEN",
            Self::RecipientNotVerified => "RECIPIENT_NOT_VERIFIED",
            Self::InsufficientBalance => "INSUFFICIENT_BALANCE",
            Self::InsufficientUnfrozenBalance => "INSUFFICIENT_UNFROZEN_BALANCE",
            Self::CountryNotAllowed => "COUNTRY_NOT_ALLOWED",
            Self::NotAccredited => "NOT_ACCREDITED",
            Self::LockupActive => "LOCKUP_ACTIVE",
            Self::MaxInvestorsReached => "MAX_INVESTORS_REACHED",
            Self::MaxBalanceExceeded => "MAX_BALANCE_EXCEEDED",
            Self::BelowMinHolding => "BELOW_MIN_HOLDING",
            Self::OfferingUnsettled => "OFFERING_UNSETTLED",
            Self::JurisdictionMismatch => "JURISDICTION_MISMATCH",
            Self::DailyLimitExceeded => "DAILY_LIMIT_EXCEEDED",
            Self::MonthlyLimitExceeded => "MONTHLY_LIMIT_EXCEEDED",
            Self::CountryCapReached => "COUNTRY_CAP_REACHED",
            Self::SupplyCapExceeded => "SUPPLY_CAP_EXCEEDED",
        }
    }

    /// The code carried by a `PropertyShares.TransferRestricted(code)` revert, when `err` is one
    /// (as returned by a call or by gas estimation of a transfer, mint, forced transfer or
    /// recovery); `None` for any other error.
    pub fn from_revert(err: &alloy::contract::Error) -> Option<Result<Self, Error>> {
        err.as_decoded_error::<PropertyShares::TransferRestricted>()
            .map(|e| Self::try_from(e.code))
    }
}

impl TryFrom<u8> for ReasonCode {
    type Error = Error;

    fn try_from(code: u8) -> Result<Self, Error> {
        Self::ALL
            .get(usize::from(code))
            .copied()
            .ok_or(Error::UnknownReasonCode(code))
    }
}

impl From<ReasonCode> for u8 {
    fn from(code: ReasonCode) -> Self {
        code.code()
    }
}

impl FromStr for ReasonCode {
    type Err = Error;

    fn from_str(slug: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == slug)
            .ok_or_else(|| Error::UnknownReasonSlug(slug.to_owned()))
    }
}

impl fmt::Display for ReasonCode {
    /// The slug; `{:#}` gives the message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.write_str(self.message())
        } else {
            f.write_str(self.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const SOURCE: &str = include_str!("../src/ReasonCodes.sol");
    const TABLE: &str = include_str!("../REASON_CODES.md");

    /// `uint8 internal constant NAME = N;` lines of ReasonCodes.sol.
    fn solidity_constants() -> BTreeMap<String, u8> {
        let mut found = BTreeMap::new();
        for line in SOURCE.lines() {
            let Some(rest) = line.trim().strip_prefix("uint8 internal constant ") else {
                continue;
            };
            let (name, value) = rest.split_once('=').expect("constant has a value");
            let value = value.trim().trim_end_matches(';').trim();
            let value: u8 = value.parse().expect("constant is a small integer");
            assert!(
                found.insert(name.trim().to_owned(), value).is_none(),
                "{name} twice"
            );
        }
        found
    }

    /// `if (code == NAME) return "text";` lines of `ReasonCodes.message`.
    fn solidity_messages() -> BTreeMap<String, String> {
        let mut found = BTreeMap::new();
        for line in SOURCE.lines() {
            let Some(rest) = line.trim().strip_prefix("if (code == ") else {
                continue;
            };
            let (name, rest) = rest.split_once(')').expect("condition closes");
            let text = rest
                .trim()
                .strip_prefix("return \"")
                .expect("returns a string");
            let text = text
                .strip_suffix("\";")
                .expect("string literal ends the line");
            found.insert(name.trim().to_owned(), text.to_owned());
        }
        found
    }

    /// `| N | `slug` | meaning |` rows of REASON_CODES.md.
    fn documented_slugs() -> BTreeMap<u8, String> {
        let mut found = BTreeMap::new();
        for line in TABLE.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 4 {
                continue;
            }
            let (Ok(code), Some(slug)) = (
                cells[1].parse::<u8>(),
                cells[2].strip_prefix('`').and_then(|s| s.strip_suffix('`')),
            ) else {
                continue;
            };
            found.insert(code, slug.to_owned());
        }
        found
    }

    #[test]
    fn codes_match_reason_codes_sol() {
        let constants = solidity_constants();
        assert_eq!(
            constants.len(),
            ReasonCode::ALL.len(),
            "ReasonCodes.sol has {constants:?}"
        );
        for code in ReasonCode::ALL {
            assert_eq!(
                constants.get(code.solidity_name()).copied(),
                Some(code.code()),
                "{code:?} is {} in Rust but {:?} in ReasonCodes.sol",
                code.code(),
                constants.get(code.solidity_name())
            );
        }
    }

    #[test]
    fn messages_match_reason_codes_sol() {
        let messages = solidity_messages();
        assert_eq!(messages.len(), ReasonCode::ALL.len());
        for code in ReasonCode::ALL {
            assert_eq!(
                messages.get(code.solidity_name()).map(String::as_str),
                Some(code.message())
            );
        }
    }

    #[test]
    fn slugs_match_reason_codes_md() {
        let slugs = documented_slugs();
        assert_eq!(
            slugs.len(),
            ReasonCode::ALL.len(),
            "REASON_CODES.md documents {slugs:?}"
        );
        for code in ReasonCode::ALL {
            assert_eq!(
                slugs.get(&code.code()).map(String::as_str),
                Some(code.as_str())
            );
        }
    }

    #[test]
    fn conversions_round_trip() {
        for (i, code) in ReasonCode::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(code.code()), i);
            assert_eq!(ReasonCode::try_from(code.code()).ok(), Some(code));
            assert_eq!(code.as_str().parse::<ReasonCode>().ok(), Some(code));
            assert_eq!(u8::from(code), code.code());
            let json = serde_json::to_string(&code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ReasonCode>(&json).ok(), Some(code));
            assert_eq!(code.to_string(), code.as_str());
            assert_eq!(format!("{code:#}"), code.message());
        }
        assert!(matches!(
            ReasonCode::try_from(19),
            Err(Error::UnknownReasonCode(19))
        ));
        assert!(matches!(
            "nope".parse::<ReasonCode>(),
            Err(Error::UnknownReasonSlug(_))
        ));
        assert!(ReasonCode::Allowed.is_allowed());
        assert!(!ReasonCode::Paused.is_allowed());
    }
}
