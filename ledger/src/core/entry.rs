//! Entries and postings: building, validation, reversal and finality.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::NaiveDate;

use super::account::Account;
use super::hash::{ContentRef, EntryHash};
use super::ids::{AccountId, EntryId, IdempotencyKey, Source};
use super::money::{Amount, CurrencyCode, Direction};
use crate::error::{Error, Result};

/// Most postings one entry may have.
pub const MAX_POSTINGS_PER_ENTRY: usize = 256;

/// Longest entry description, in characters.
pub const DESCRIPTION_MAX_LEN: usize = 1000;

/// Where an entry stands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EntryStatus {
    /// Seen but not final (a chain event below the confirmation depth): counted in pending
    /// balances only.
    Pending,
    /// Final: counted in posted balances and linked into the hash chain.
    Posted,
    /// Withdrawn before it was posted (its chain event was reorged away): counts nowhere.
    Voided,
}

impl EntryStatus {
    /// As stored: `pending`, `posted`, `voided`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Pending => "pending",
            EntryStatus::Posted => "posted",
            EntryStatus::Voided => "voided",
        }
    }

    pub(crate) fn parse_stored(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(EntryStatus::Pending),
            "posted" => Ok(EntryStatus::Posted),
            "voided" => Ok(EntryStatus::Voided),
            other => Err(Error::Corrupt(format!("entry status {other:?}"))),
        }
    }
}

impl fmt::Display for EntryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status an entry is recorded with.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Finality {
    /// Record as pending; post or void it later.
    Pending,
    /// Record as posted at once.
    #[default]
    Posted,
}

/// One line of an entry: an amount to one side of one account.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Posting {
    /// The account.
    pub account: AccountId,
    /// Debit or credit.
    pub direction: Direction,
    /// Always positive; the direction carries the sign.
    pub amount: Amount,
}

/// A validated entry ready to record: two or more positive postings that balance per currency.
///
/// Built with [`EntryDraft::builder`]; a draft that exists has passed every check that needs no
/// database. The store adds the checks against accounts and balances.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EntryDraft {
    key: IdempotencyKey,
    effective_date: NaiveDate,
    description: String,
    source: Source,
    finality: Finality,
    reverses: Option<EntryId>,
    postings: Vec<Posting>,
}

/// Builds an [`EntryDraft`].
#[derive(Clone, Debug)]
pub struct EntryBuilder {
    draft: EntryDraft,
}

impl EntryBuilder {
    /// Sets the description.
    pub fn description(mut self, description: &str) -> Self {
        self.draft.description = description.to_owned();
        self
    }

    /// Records the entry as pending instead of posted.
    pub fn pending(mut self) -> Self {
        self.draft.finality = Finality::Pending;
        self
    }

    /// Sets the finality.
    pub fn finality(mut self, finality: Finality) -> Self {
        self.draft.finality = finality;
        self
    }

    /// Adds a debit.
    pub fn debit(self, account: AccountId, amount: Amount) -> Self {
        self.posting(account, Direction::Debit, amount)
    }

    /// Adds a credit.
    pub fn credit(self, account: AccountId, amount: Amount) -> Self {
        self.posting(account, Direction::Credit, amount)
    }

    /// Adds a posting.
    pub fn posting(mut self, account: AccountId, direction: Direction, amount: Amount) -> Self {
        self.draft.postings.push(Posting {
            account,
            direction,
            amount,
        });
        self
    }

    /// Checks everything that needs no database and returns the draft.
    pub fn build(self) -> Result<EntryDraft> {
        self.draft.validate()?;
        Ok(self.draft)
    }
}

impl EntryDraft {
    /// Starts an entry with its idempotency key, effective date and source.
    pub fn builder(key: IdempotencyKey, effective_date: NaiveDate, source: Source) -> EntryBuilder {
        EntryBuilder {
            draft: EntryDraft {
                key,
                effective_date,
                description: String::new(),
                source,
                finality: Finality::Posted,
                reverses: None,
                postings: Vec::new(),
            },
        }
    }

    /// The entry that reverses `original`: the same postings on the opposite sides, recorded as
    /// posted, referring to `original`.
    pub fn reversal_of(
        original: &Entry,
        key: IdempotencyKey,
        effective_date: NaiveDate,
        description: &str,
        source: Source,
    ) -> Result<EntryDraft> {
        let draft = EntryDraft {
            key,
            effective_date,
            description: description.to_owned(),
            source,
            finality: Finality::Posted,
            reverses: Some(original.id),
            postings: original
                .postings
                .iter()
                .map(|p| Posting {
                    direction: p.direction.opposite(),
                    ..*p
                })
                .collect(),
        };
        draft.validate()?;
        draft.check_reversal_of(original)?;
        Ok(draft)
    }

    fn validate(&self) -> Result<()> {
        let key = &self.key;
        let n = self.postings.len();
        if n < 2 {
            return Err(Error::TooFewPostings {
                key: key.clone(),
                count: n,
            });
        }
        if n > MAX_POSTINGS_PER_ENTRY {
            return Err(Error::TooManyPostings {
                key: key.clone(),
                count: n,
                max: MAX_POSTINGS_PER_ENTRY,
            });
        }
        let chars = self.description.chars().count();
        if chars > DESCRIPTION_MAX_LEN {
            return Err(Error::invalid("description", "longer than 1000 characters"));
        }
        if self.description.chars().any(char::is_control) {
            return Err(Error::invalid(
                "description",
                "may not hold control characters",
            ));
        }
        if self.postings.iter().any(|p| !p.amount.is_positive()) {
            return Err(Error::NonPositiveAmount { key: key.clone() });
        }
        // Sums per currency code; amounts of one code but different scales are compared
        // exactly by value.
        let mut sums: BTreeMap<CurrencyCode, (Amount, Amount)> = BTreeMap::new();
        for p in &self.postings {
            let code = p.amount.currency().code();
            let zero = Amount::zero(p.amount.currency());
            let (debits, credits) = sums.entry(code).or_insert((zero, zero));
            let at = |sum: Amount| -> Result<Amount> {
                // Carry every sum at the larger of the two scales.
                if sum.currency().scale() >= p.amount.currency().scale() {
                    sum.checked_add(p.amount.rescaled(sum.currency())?)
                } else {
                    sum.rescaled(p.amount.currency())?.checked_add(p.amount)
                }
            };
            match p.direction {
                Direction::Debit => *debits = at(*debits)?,
                Direction::Credit => *credits = at(*credits)?,
            }
        }
        for (code, (debits, credits)) in sums {
            if debits.value() != credits.value() {
                return Err(Error::Unbalanced {
                    key: key.clone(),
                    currency: code,
                    debits: debits.value().to_string(),
                    credits: credits.value().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Checks the postings against their accounts: each account exists and has the posting's
    /// currency. Amounts given at another scale of the same currency are re-expressed at the
    /// account's scale when that is exact.
    pub(crate) fn bind_accounts(&mut self, accounts: &HashMap<AccountId, Account>) -> Result<()> {
        for p in &mut self.postings {
            let Some(account) = accounts.get(&p.account) else {
                return Err(Error::UnknownAccount {
                    key: Some(self.key.clone()),
                    account: p.account,
                });
            };
            let have = p.amount.currency();
            if have.code() != account.currency.code() {
                return Err(Error::CurrencyMismatch {
                    key: Some(self.key.clone()),
                    account: Some(account.id),
                    expected: account.currency.code(),
                    found: have.code(),
                });
            }
            if have.scale() != account.currency.scale() {
                p.amount = p.amount.rescaled(account.currency)?;
            }
        }
        Ok(())
    }

    /// Checks that this draft mirrors `original` exactly and may reverse it.
    pub(crate) fn check_reversal_of(&self, original: &Entry) -> Result<()> {
        let fail = |reason| {
            Err(Error::InvalidReversal {
                key: self.key.clone(),
                original: original.id,
                reason,
            })
        };
        if self.reverses != Some(original.id) {
            return fail("it does not refer to the original");
        }
        if original.status != EntryStatus::Posted {
            return Err(Error::NotPosted {
                entry: original.id,
                status: original.status,
            });
        }
        if self.finality != Finality::Posted {
            return fail("a reversal is recorded as posted");
        }
        let mirrored = self.postings.len() == original.postings.len()
            && self.postings.iter().zip(&original.postings).all(|(r, o)| {
                r.account == o.account
                    && r.direction == o.direction.opposite()
                    && r.amount.currency().code() == o.amount.currency().code()
                    && r.amount.value() == o.amount.value()
            });
        if !mirrored {
            return fail("its postings do not mirror the original's");
        }
        Ok(())
    }

    /// The idempotency key.
    pub fn key(&self) -> &IdempotencyKey {
        &self.key
    }

    /// The effective (accounting) date.
    pub fn effective_date(&self) -> NaiveDate {
        self.effective_date
    }

    /// The description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The status it is to be recorded with.
    pub fn finality(&self) -> Finality {
        self.finality
    }

    /// The entry it reverses, if it is a reversal.
    pub fn reverses(&self) -> Option<EntryId> {
        self.reverses
    }

    /// The postings, in order.
    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    /// The content hash that decides idempotent replays (finality excluded: replaying a pending
    /// entry after it was posted is still a replay).
    pub fn content_hash(&self) -> EntryHash {
        ContentRef {
            key: &self.key,
            effective_date: self.effective_date,
            description: &self.description,
            source: &self.source,
            reverses: self.reverses,
            postings: self
                .postings
                .iter()
                .map(|p| (p.account, p.direction, &p.amount))
                .collect(),
        }
        .hash()
    }
}

/// A posted entry's place in the hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChainLink {
    /// Position in posting order, from 1.
    pub seq: u64,
    /// Hash of the previous posted entry ([`EntryHash::GENESIS`] for the first).
    pub prev_hash: EntryHash,
    /// This entry's chain hash.
    pub hash: EntryHash,
}

/// An entry as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// Its id.
    pub id: EntryId,
    /// The caller's idempotency key.
    pub key: IdempotencyKey,
    /// Effective (accounting) date.
    pub effective_date: NaiveDate,
    /// Description.
    pub description: String,
    /// Source.
    pub source: Source,
    /// Current status.
    pub status: EntryStatus,
    /// The entry this one reverses.
    pub reverses: Option<EntryId>,
    /// Postings, in order.
    pub postings: Vec<Posting>,
    /// Content hash.
    pub content_hash: EntryHash,
    /// Chain position, once posted.
    pub chain: Option<ChainLink>,
}

impl Entry {
    /// Recomputes the content hash from the stored fields.
    pub fn recompute_content_hash(&self) -> EntryHash {
        ContentRef {
            key: &self.key,
            effective_date: self.effective_date,
            description: &self.description,
            source: &self.source,
            reverses: self.reverses,
            postings: self
                .postings
                .iter()
                .map(|p| (p.account, p.direction, &p.amount))
                .collect(),
        }
        .hash()
    }
}

/// What recording, posting or voiding an entry returns.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Receipt {
    /// The entry's id.
    pub id: EntryId,
    /// Its idempotency key.
    pub key: IdempotencyKey,
    /// Its status now.
    pub status: EntryStatus,
    /// True when nothing was written because the request repeated an earlier one.
    pub replayed: bool,
    /// Chain position, when posted.
    pub chain: Option<ChainLink>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::money::Currency;

    fn usd() -> Currency {
        Currency::parse("USD", 2).unwrap()
    }

    fn amt(s: &str) -> Amount {
        Amount::parse(s, usd()).unwrap()
    }

    fn builder(key: &str) -> EntryBuilder {
        EntryDraft::builder(
            IdempotencyKey::parse(key).unwrap(),
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
            Source::operator("test").unwrap(),
        )
    }

    fn a(id: i64) -> AccountId {
        AccountId::new(id)
    }

    #[test]
    fn balanced_entries_build() {
        let draft = builder("k")
            .description("rent")
            .debit(a(1), amt("100.00"))
            .credit(a(2), amt("60.00"))
            .credit(a(3), amt("40.00"))
            .build()
            .unwrap();
        assert_eq!(draft.postings().len(), 3);
        assert_eq!(draft.finality(), Finality::Posted);
    }

    #[test]
    fn refuses_bad_shapes() {
        assert!(matches!(
            builder("k").debit(a(1), amt("1.00")).build(),
            Err(Error::TooFewPostings { count: 1, .. })
        ));
        assert!(matches!(
            builder("k")
                .debit(a(1), amt("1.00"))
                .credit(a(2), amt("0.99"))
                .build(),
            Err(Error::Unbalanced { .. })
        ));
        assert!(matches!(
            builder("k")
                .debit(a(1), amt("0.00"))
                .credit(a(2), amt("0.00"))
                .build(),
            Err(Error::NonPositiveAmount { .. })
        ));
        assert!(matches!(
            builder("k")
                .debit(a(1), amt("-1.00"))
                .credit(a(2), amt("-1.00"))
                .build(),
            Err(Error::NonPositiveAmount { .. })
        ));
        let mut many = builder("k");
        for _ in 0..=MAX_POSTINGS_PER_ENTRY / 2 {
            many = many.debit(a(1), amt("1.00")).credit(a(2), amt("1.00"));
        }
        assert!(matches!(many.build(), Err(Error::TooManyPostings { .. })));
        assert!(matches!(
            builder("k")
                .description("a\nb")
                .debit(a(1), amt("1.00"))
                .credit(a(2), amt("1.00"))
                .build(),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn balance_is_per_currency() {
        let eur = Currency::parse("EUR", 2).unwrap();
        let e = |s| Amount::parse(s, eur).unwrap();
        // 5 USD against 5 EUR balances neither currency.
        let err = builder("k")
            .debit(a(1), amt("5.00"))
            .credit(a(2), e("5.00"))
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Unbalanced { .. }));
        builder("k")
            .debit(a(1), amt("5.00"))
            .credit(a(2), amt("5.00"))
            .debit(a(3), e("7.00"))
            .credit(a(4), e("7.00"))
            .build()
            .unwrap();
    }

    #[test]
    fn content_hash_ignores_finality_only() {
        let b = builder("k")
            .debit(a(1), amt("1.00"))
            .credit(a(2), amt("1.00"));
        let posted = b.clone().build().unwrap();
        let pending = b.clone().pending().build().unwrap();
        assert_eq!(posted.content_hash(), pending.content_hash());
        let other = builder("k")
            .debit(a(1), amt("1.00"))
            .credit(a(3), amt("1.00"))
            .build()
            .unwrap();
        assert_ne!(posted.content_hash(), other.content_hash());
    }

    fn stored(draft: &EntryDraft, status: EntryStatus) -> Entry {
        Entry {
            id: EntryId::new(9),
            key: draft.key().clone(),
            effective_date: draft.effective_date(),
            description: draft.description().to_owned(),
            source: draft.source().clone(),
            status,
            reverses: None,
            postings: draft.postings().to_vec(),
            content_hash: draft.content_hash(),
            chain: None,
        }
    }

    #[test]
    fn reversals_mirror_posted_entries() {
        let draft = builder("k")
            .debit(a(1), amt("3.00"))
            .credit(a(2), amt("3.00"))
            .build()
            .unwrap();
        let original = stored(&draft, EntryStatus::Posted);
        assert_eq!(original.recompute_content_hash(), draft.content_hash());
        let date = NaiveDate::from_ymd_opt(2024, 3, 2).unwrap();
        let rev = EntryDraft::reversal_of(
            &original,
            IdempotencyKey::parse("k-rev").unwrap(),
            date,
            "reverse",
            Source::operator("fix-1").unwrap(),
        )
        .unwrap();
        assert_eq!(rev.reverses(), Some(original.id));
        assert_eq!(rev.postings()[0].direction, Direction::Credit);
        assert_eq!(rev.postings()[1].direction, Direction::Debit);

        let pending = stored(&draft, EntryStatus::Pending);
        assert!(matches!(
            EntryDraft::reversal_of(
                &pending,
                IdempotencyKey::parse("k-rev").unwrap(),
                date,
                "",
                Source::operator("fix-1").unwrap()
            ),
            Err(Error::NotPosted { .. })
        ));

        // A hand-built "reversal" that does not mirror is refused.
        let mut fake = builder("k-fake")
            .debit(a(2), amt("2.00"))
            .credit(a(1), amt("2.00"))
            .build()
            .unwrap();
        fake.reverses = Some(original.id);
        assert!(matches!(
            fake.check_reversal_of(&original),
            Err(Error::InvalidReversal { .. })
        ));
    }

    #[test]
    fn accounts_are_bound_with_currency_checks() {
        use crate::core::account::{AccountType, NewAccount};
        use crate::core::ids::AccountCode;
        let account = |id: i64, currency: Currency| {
            let n = NewAccount::new(
                AccountCode::parse("1000").unwrap(),
                "Cash",
                AccountType::Asset,
                currency,
            );
            Account {
                id: a(id),
                code: n.code,
                name: n.name,
                account_type: n.account_type,
                currency: n.currency,
                dimensions: n.dimensions,
                limit: n.limit,
            }
        };
        let mut accounts = HashMap::new();
        accounts.insert(a(1), account(1, usd()));
        accounts.insert(a(2), account(2, Currency::parse("EUR", 2).unwrap()));
        accounts.insert(a(3), account(3, usd()));

        let mut d = builder("k")
            .debit(a(1), amt("1.00"))
            .credit(a(9), amt("1.00"))
            .build()
            .unwrap();
        assert!(matches!(
            d.bind_accounts(&accounts),
            Err(Error::UnknownAccount { .. })
        ));
        let mut d = builder("k")
            .debit(a(1), amt("1.00"))
            .credit(a(2), amt("1.00"))
            .build()
            .unwrap();
        assert!(matches!(
            d.bind_accounts(&accounts),
            Err(Error::CurrencyMismatch { .. })
        ));
        // USD at scale 3 into a USD/2 account: exact values are re-expressed, others refused.
        let usd3 = Currency::parse("USD", 3).unwrap();
        let mut d = builder("k")
            .debit(a(1), Amount::parse("1.500", usd3).unwrap())
            .credit(a(3), Amount::parse("1.500", usd3).unwrap())
            .build()
            .unwrap();
        d.bind_accounts(&accounts).unwrap();
        assert_eq!(d.postings()[0].amount, amt("1.50"));
        let mut d = builder("k")
            .debit(a(1), Amount::parse("1.505", usd3).unwrap())
            .credit(a(3), Amount::parse("1.505", usd3).unwrap())
            .build()
            .unwrap();
        assert!(matches!(
            d.bind_accounts(&accounts),
            Err(Error::ScaleOverflow { .. })
        ));
    }
}
