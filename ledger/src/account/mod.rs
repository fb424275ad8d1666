//! Accounts and currencies: opening (idempotent), the per-property chart, lookups and balances.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::core::chart::{platform_chart, property_chart};
use crate::core::{
    Account, AccountBalance, AccountCode, AccountId, AccountType, Amount, BalanceLimit, Currency,
    DimValue, Dimensions, Direction, EntryStatus, NewAccount, Totals,
};
use crate::error::{Error, Result};
use crate::store::{Ledger, MAX_BINDS, PAGE_ROWS, Row, Sql, Tx, list, placeholders};

/// The columns [`account_from_row`] reads, in order, from `ledger_accounts a` joined with
/// `ledger_currencies c`.
pub(crate) const ACCOUNT_COLUMNS: &str = "a.id, a.code, a.name, a.account_type, a.currency, c.scale, \
     a.property, a.deal, a.investor, a.budget_line, a.balance_limit";

/// Number of columns in [`ACCOUNT_COLUMNS`].
pub(crate) const ACCOUNT_COLUMN_COUNT: usize = 11;

fn dim(text: String) -> Result<Option<DimValue>> {
    if text.is_empty() {
        Ok(None)
    } else {
        DimValue::parse(&text)
            .map(Some)
            .map_err(|_| Error::Corrupt(format!("dimension {text:?}")))
    }
}

fn dim_text(value: &Option<DimValue>) -> String {
    value
        .as_ref()
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

pub(crate) fn currency_from(code: &str, scale: i64) -> Result<Currency> {
    let scale = u32::try_from(scale).map_err(|_| Error::Corrupt(format!("scale {scale}")))?;
    Currency::parse(code, scale).map_err(|_| Error::Corrupt(format!("currency {code:?}/{scale}")))
}

/// Reads an account from `row` starting at column `at` (see [`ACCOUNT_COLUMNS`]).
pub(crate) fn account_from_row(row: &Row, at: usize) -> Result<Account> {
    let code = row.text(at + 1)?;
    Ok(Account {
        id: AccountId::new(row.int(at)?),
        code: AccountCode::parse(&code)
            .map_err(|_| Error::Corrupt(format!("account code {code:?}")))?,
        name: row.text(at + 2)?,
        account_type: AccountType::parse_stored(&row.text(at + 3)?)?,
        currency: currency_from(&row.text(at + 4)?, row.int(at + 5)?)?,
        dimensions: Dimensions {
            property: dim(row.text(at + 6)?)?,
            deal: dim(row.text(at + 7)?)?,
            investor: dim(row.text(at + 8)?)?,
            budget_line: dim(row.text(at + 9)?)?,
        },
        limit: BalanceLimit::parse_stored(&row.text(at + 10)?)?,
    })
}

/// Reads stored totals (posted debit, posted credit, pending debit, pending credit) from `row`
/// starting at column `at`.
pub(crate) fn totals_from_row(row: &Row, at: usize, currency: Currency) -> Result<Totals> {
    Ok(Totals {
        posted_debits: Amount::from_storage_text(&row.text(at)?, currency)?,
        posted_credits: Amount::from_storage_text(&row.text(at + 1)?, currency)?,
        pending_debits: Amount::from_storage_text(&row.text(at + 2)?, currency)?,
        pending_credits: Amount::from_storage_text(&row.text(at + 3)?, currency)?,
    })
}

/// Accounts with their stored totals, by id.
pub(crate) type Loaded = HashMap<AccountId, (Account, Totals)>;

/// The query for `n` accounts with their stored totals (`n` id binds).
pub(crate) fn accounts_with_totals_sql(n: usize) -> String {
    format!(
        "SELECT {ACCOUNT_COLUMNS}, b.posted_debit, b.posted_credit, b.pending_debit, b.pending_credit \
         FROM ledger_accounts a \
         JOIN ledger_currencies c ON c.code = a.currency \
         JOIN ledger_balances b ON b.account_id = a.id \
         WHERE a.id IN ({})",
        list(n)
    )
}

/// Reads a row of [`accounts_with_totals_sql`] starting at column `at`.
pub(crate) fn account_with_totals_from_row(row: &Row, at: usize) -> Result<(Account, Totals)> {
    let account = account_from_row(row, at)?;
    let totals = totals_from_row(row, at + ACCOUNT_COLUMN_COUNT, account.currency)?;
    Ok((account, totals))
}

/// Loads the accounts with these ids that exist.
pub(crate) async fn load_accounts(tx: &mut Tx, ids: &[AccountId]) -> Result<Vec<Account>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BINDS) {
        let mut sql = Sql::assembled(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts a \
             JOIN ledger_currencies c ON c.code = a.currency WHERE a.id IN ({})",
            list(chunk.len())
        ));
        for id in chunk {
            sql.push(id.get());
        }
        for row in tx.fetch_all(sql).await? {
            out.push(account_from_row(&row, 0)?);
        }
    }
    Ok(out)
}

/// Loads accounts with their stored totals, for the write path.
pub(crate) async fn load_with_totals(tx: &mut Tx, ids: &[AccountId]) -> Result<Loaded> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BINDS) {
        let mut sql = Sql::assembled(accounts_with_totals_sql(chunk.len()));
        for id in chunk {
            sql.push(id.get());
        }
        for row in tx.fetch_all(sql).await? {
            let (account, totals) = account_with_totals_from_row(&row, 0)?;
            out.insert(account.id, (account, totals));
        }
    }
    Ok(out)
}

/// Adds the statements that write back the totals of the given accounts.
pub(crate) fn store_totals(writes: &mut Vec<Sql>, totals: &[(AccountId, Totals)]) {
    const COLS: usize = 5;
    for chunk in totals.chunks(MAX_BINDS / COLS) {
        let mut sql = Sql::assembled(format!(
            "INSERT INTO ledger_balances (account_id, posted_debit, posted_credit, pending_debit, pending_credit) \
             VALUES {} \
             ON CONFLICT (account_id) DO UPDATE SET posted_debit = excluded.posted_debit, \
             posted_credit = excluded.posted_credit, pending_debit = excluded.pending_debit, \
             pending_credit = excluded.pending_credit",
            crate::store::placeholders(chunk.len(), COLS)
        ));
        for (id, t) in chunk {
            sql.push(id.get());
            sql.push(t.posted_debits.to_storage_text());
            sql.push(t.posted_credits.to_storage_text());
            sql.push(t.pending_debits.to_storage_text());
            sql.push(t.pending_credits.to_storage_text());
        }
        writes.push(sql);
    }
}

/// Which accounts to list.
#[derive(Clone, Debug, Default)]
pub struct AccountFilter {
    /// Only accounts of this property.
    pub property: Option<DimValue>,
    /// Only accounts of this deal.
    pub deal: Option<DimValue>,
    /// Only accounts of this investor.
    pub investor: Option<DimValue>,
}

impl AccountFilter {
    /// True when `account` passes the filter.
    pub fn admits(&self, account: &Account) -> bool {
        let ok = |want: &Option<DimValue>, have: &Option<DimValue>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        ok(&self.property, &account.dimensions.property)
            && ok(&self.deal, &account.dimensions.deal)
            && ok(&self.investor, &account.dimensions.investor)
    }
}

/// Accounts and currencies of a [`Ledger`].
#[derive(Clone, Copy, Debug)]
pub struct Accounts<'a> {
    ledger: &'a Ledger,
}

impl<'a> Accounts<'a> {
    pub(crate) fn new(ledger: &'a Ledger) -> Self {
        Accounts { ledger }
    }

    /// Defines a currency (idempotent); refused when the code exists with another scale.
    pub async fn define_currency(&self, currency: Currency) -> Result<()> {
        let (mut tx, _head) = self.ledger.write().await?;
        ensure_currency(&mut tx, currency).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The currencies defined so far.
    pub async fn currencies(&self) -> Result<Vec<Currency>> {
        let mut tx = self.ledger.read().await?;
        let rows = tx
            .fetch_all(Sql::new(
                "SELECT code, scale FROM ledger_currencies ORDER BY code",
            ))
            .await?;
        rows.iter()
            .map(|r| currency_from(&r.text(0)?, r.int(1)?))
            .collect()
    }

    /// Opens an account (defining its currency if new). Idempotent: opening the same code and
    /// dimensions again with the same attributes returns the existing account; with different
    /// attributes it is refused with [`Error::AccountConflict`].
    pub async fn open(&self, new: NewAccount) -> Result<Account> {
        new.validate()?;
        let (mut tx, _head) = self.ledger.write().await?;
        let account = open_all_in(&mut tx, std::slice::from_ref(&new))
            .await?
            .pop()
            .ok_or_else(|| Error::Corrupt("an account was not opened".into()))?;
        tx.commit().await?;
        Ok(account)
    }

    /// Opens several accounts in one transaction, as [`Accounts::open`] does each (idempotent
    /// per account); all of them or, on any refusal, none. At most
    /// [`crate::entry::MAX_BATCH_ENTRIES`] at once.
    pub async fn open_many(&self, accounts: &[NewAccount]) -> Result<Vec<Account>> {
        if accounts.len() > crate::entry::MAX_BATCH_ENTRIES {
            return Err(Error::BatchTooLarge {
                count: accounts.len(),
                max: crate::entry::MAX_BATCH_ENTRIES,
            });
        }
        for new in accounts {
            new.validate()?;
        }
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        self.open_all(accounts).await
    }

    /// Opens the template chart of accounts for a property, all in `currency` (idempotent).
    pub async fn open_property_chart(
        &self,
        property: &DimValue,
        currency: Currency,
    ) -> Result<Vec<Account>> {
        let chart = property_chart(property, currency)?;
        self.open_all(&chart).await
    }

    /// Opens (idempotently) the platform's own chart under the dimension `platform`; returns
    /// its accounts.
    pub async fn open_platform_chart(
        &self,
        platform: &DimValue,
        currency: Currency,
    ) -> Result<Vec<Account>> {
        let chart = platform_chart(platform, currency)?;
        self.open_all(&chart).await
    }

    /// Opens `news` in one transaction. On PostgreSQL it first tries without the writers'
    /// lock, so that it does not wait for the writes ahead of it: accounts are no part of the
    /// head's state, and their unique key keeps two openings of one account from both
    /// inserting it. The one that loses such a race (a unique-key violation) tries again under
    /// the lock, where it finds the other's account; any other error is returned.
    async fn open_all(&self, news: &[NewAccount]) -> Result<Vec<Account>> {
        if let Some(mut tx) = self.ledger.begin_unlocked().await? {
            match open_all_in(&mut tx, news).await {
                Ok(out) => match tx.commit().await {
                    Ok(()) => return Ok(out),
                    Err(e) => {
                        let e = Error::from(e);
                        if !e.is_unique_violation() {
                            return Err(e);
                        }
                    }
                },
                // Another opening of the same account got there first: under the lock, this
                // one finds it.
                Err(e) if e.is_unique_violation() => drop(tx),
                Err(e) => return Err(e),
            }
        }
        let (mut tx, _head) = self.ledger.write().await?;
        let out = open_all_in(&mut tx, news).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The account with this id.
    pub async fn get(&self, id: AccountId) -> Result<Account> {
        let mut tx = self.ledger.read().await?;
        let row = tx
            .fetch_optional(
                Sql::assembled(format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts a \
                     JOIN ledger_currencies c ON c.code = a.currency WHERE a.id = ?"
                ))
                .bind(id.get()),
            )
            .await?
            .ok_or(Error::UnknownAccount {
                key: None,
                account: id,
            })?;
        account_from_row(&row, 0)
    }

    /// The account with this code and these dimensions, if any.
    pub async fn find(
        &self,
        code: &AccountCode,
        dimensions: &Dimensions,
    ) -> Result<Option<Account>> {
        let mut tx = self.ledger.read().await?;
        find_in(&mut tx, code, dimensions).await
    }

    /// All accounts passing `filter`, by code then id.
    pub async fn list(&self, filter: &AccountFilter) -> Result<Vec<Account>> {
        let mut tx = self.ledger.read().await?;
        let all = list_all(&mut tx).await?;
        Ok(all.into_iter().filter(|a| filter.admits(a)).collect())
    }

    /// The balance of an account, posted and pending apart; as of the end of `as_of` when
    /// given (by effective date), else including everything recorded.
    pub async fn balance(&self, id: AccountId, as_of: Option<NaiveDate>) -> Result<AccountBalance> {
        let mut tx = self.ledger.read().await?;
        let Some(as_of) = as_of else {
            let loaded = load_with_totals(&mut tx, &[id]).await?;
            let (account, totals) = loaded.get(&id).ok_or(Error::UnknownAccount {
                key: None,
                account: id,
            })?;
            return Ok(AccountBalance {
                account: id,
                account_type: account.account_type,
                totals: *totals,
            });
        };
        let row = tx
            .fetch_optional(
                Sql::assembled(format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts a \
                     JOIN ledger_currencies c ON c.code = a.currency WHERE a.id = ?"
                ))
                .bind(id.get()),
            )
            .await?
            .ok_or(Error::UnknownAccount {
                key: None,
                account: id,
            })?;
        let account = account_from_row(&row, 0)?;
        let filter = PostingFilter {
            account: Some(id),
            to: Some(as_of),
            ..PostingFilter::default()
        };
        let totals = dated_totals(&mut tx, &filter, std::slice::from_ref(&account))
            .await?
            .remove(&id)
            .unwrap_or_else(|| Totals::zero(account.currency));
        Ok(AccountBalance {
            account: id,
            account_type: account.account_type,
            totals,
        })
    }
}

/// Which postings [`dated_totals`] sums.
#[derive(Clone, Debug, Default)]
pub(crate) struct PostingFilter {
    pub(crate) account: Option<AccountId>,
    pub(crate) property: Option<DimValue>,
    pub(crate) deal: Option<DimValue>,
    pub(crate) from: Option<NaiveDate>,
    pub(crate) to: Option<NaiveDate>,
}

/// Totals of `accounts` from their non-voided postings within the filter's effective dates,
/// read page by page. Postings to accounts not in `accounts` are refused as corrupt (the filter
/// must select a subset of them).
pub(crate) async fn dated_totals(
    tx: &mut Tx,
    filter: &PostingFilter,
    accounts: &[Account],
) -> Result<HashMap<AccountId, Totals>> {
    let currency_of: HashMap<AccountId, Currency> =
        accounts.iter().map(|a| (a.id, a.currency)).collect();
    let mut totals: HashMap<AccountId, Totals> = accounts
        .iter()
        .map(|a| (a.id, Totals::zero(a.currency)))
        .collect();
    let mut text = String::from(
        "SELECT p.entry_id, p.idx, p.account_id, p.direction, p.amount, e.status \
         FROM ledger_postings p \
         JOIN ledger_entries e ON e.id = p.entry_id \
         JOIN ledger_accounts a ON a.id = p.account_id \
         WHERE e.status <> 'voided' AND (p.entry_id, p.idx) > (?, ?)",
    );
    if filter.account.is_some() {
        text.push_str(" AND p.account_id = ?");
    }
    if filter.property.is_some() {
        text.push_str(" AND a.property = ?");
    }
    if filter.deal.is_some() {
        text.push_str(" AND a.deal = ?");
    }
    if filter.from.is_some() {
        text.push_str(" AND e.effective_date >= ?");
    }
    if filter.to.is_some() {
        text.push_str(" AND e.effective_date <= ?");
    }
    text.push_str(" ORDER BY p.entry_id, p.idx LIMIT ?");
    let mut after = (0i64, -1i64);
    loop {
        let mut sql = Sql::assembled(text.clone()).bind(after.0).bind(after.1);
        if let Some(a) = filter.account {
            sql.push(a.get());
        }
        if let Some(p) = &filter.property {
            sql.push(p.as_str());
        }
        if let Some(d) = &filter.deal {
            sql.push(d.as_str());
        }
        if let Some(f) = filter.from {
            sql.push(f);
        }
        if let Some(t) = filter.to {
            sql.push(t);
        }
        sql.push(PAGE_ROWS);
        let rows = tx.fetch_all(sql).await?;
        let Some(last) = rows.last() else { break };
        after = (last.int(0)?, last.int(1)?);
        for row in &rows {
            let id = AccountId::new(row.int(2)?);
            let currency = *currency_of.get(&id).ok_or_else(|| {
                Error::Corrupt(format!("posting to account {id} outside the filter"))
            })?;
            let amount = Amount::from_storage_text(&row.text(4)?, currency)?;
            if let Some(t) = totals.get_mut(&id) {
                t.add(
                    Direction::parse_stored(&row.text(3)?)?,
                    amount,
                    EntryStatus::parse_stored(&row.text(5)?)?,
                )?;
            }
        }
    }
    Ok(totals)
}

pub(crate) async fn list_all(tx: &mut Tx) -> Result<Vec<Account>> {
    let rows = tx
        .fetch_all(Sql::assembled(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts a \
             JOIN ledger_currencies c ON c.code = a.currency ORDER BY a.code, a.id"
        )))
        .await?;
    rows.iter().map(|r| account_from_row(r, 0)).collect()
}

async fn ensure_currency(tx: &mut Tx, currency: Currency) -> Result<()> {
    let code = currency.code().as_str().to_owned();
    let existing = tx
        .fetch_optional(
            Sql::new("SELECT scale FROM ledger_currencies WHERE code = $1").bind(code.clone()),
        )
        .await?;
    match existing {
        Some(row) => {
            let scale = row.int(0)?;
            if scale != i64::from(currency.scale()) {
                return Err(Error::CurrencyScaleConflict {
                    currency: currency.code(),
                    existing: u32::try_from(scale).unwrap_or(u32::MAX),
                    requested: currency.scale(),
                });
            }
        }
        None => {
            tx.execute(
                Sql::new("INSERT INTO ledger_currencies (code, scale) VALUES ($1, $2)")
                    .bind(code)
                    .bind(i64::from(currency.scale())),
            )
            .await?;
        }
    }
    Ok(())
}

async fn find_in(tx: &mut Tx, code: &AccountCode, d: &Dimensions) -> Result<Option<Account>> {
    let row = tx
        .fetch_optional(
            Sql::assembled(format!(
                "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts a \
                 JOIN ledger_currencies c ON c.code = a.currency \
                 WHERE a.property = ? AND a.deal = ? AND a.investor = ? AND a.budget_line = ? AND a.code = ?"
            ))
            .bind(dim_text(&d.property))
            .bind(dim_text(&d.deal))
            .bind(dim_text(&d.investor))
            .bind(dim_text(&d.budget_line))
            .bind(code.as_str()),
        )
        .await?;
    row.map(|r| account_from_row(&r, 0)).transpose()
}

/// What identifies an account: its dimensions (as stored, `''` for none) and its code.
type AccountKey = [String; 5];

fn account_key(code: &AccountCode, d: &Dimensions) -> AccountKey {
    [
        dim_text(&d.property),
        dim_text(&d.deal),
        dim_text(&d.investor),
        dim_text(&d.budget_line),
        code.as_str().to_owned(),
    ]
}

/// Opens `news` in `tx` (each idempotently, as [`Accounts::open`] describes), in a few statements
/// whatever their number: each currency checked once, the existing accounts read in one query,
/// the new accounts and their balances inserted in one statement each (per bind limit).
async fn open_all_in(tx: &mut Tx, news: &[NewAccount]) -> Result<Vec<Account>> {
    let mut currencies: Vec<Currency> = Vec::new();
    for new in news {
        if !currencies.contains(&new.currency) {
            ensure_currency(tx, new.currency).await?;
            currencies.push(new.currency);
        }
    }
    let keys: Vec<AccountKey> = news
        .iter()
        .map(|n| account_key(&n.code, &n.dimensions))
        .collect();
    let mut existing: HashMap<AccountKey, Account> = HashMap::new();
    for chunk in keys.chunks(MAX_BINDS / 5) {
        let mut sql = Sql::assembled(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts a \
             JOIN ledger_currencies c ON c.code = a.currency \
             WHERE (a.property, a.deal, a.investor, a.budget_line, a.code) IN (VALUES {})",
            placeholders(chunk.len(), 5)
        ));
        for key in chunk {
            for part in key {
                sql = sql.bind(part.clone());
            }
        }
        for row in tx.fetch_all(sql).await? {
            let account = account_from_row(&row, 0)?;
            existing.insert(account_key(&account.code, &account.dimensions), account);
        }
    }
    // The first of each key not open yet is inserted; a later one with the same key is
    // judged against it, as it would be against an account opened before.
    let mut first: HashMap<&AccountKey, usize> = HashMap::new();
    let mut out: Vec<Option<Account>> = vec![None; news.len()];
    for (i, (new, key)) in news.iter().zip(&keys).enumerate() {
        if let Some(account) = existing.get(key) {
            if !account.matches(new) {
                return Err(Error::AccountConflict {
                    code: new.code.to_string(),
                    existing: account.id,
                });
            }
            out[i] = Some(account.clone());
        } else {
            first.entry(key).or_insert(i);
        }
    }
    let mut inserting: Vec<usize> = first.values().copied().collect();
    inserting.sort_unstable();
    for chunk in inserting.chunks(MAX_BINDS / 9) {
        let mut sql = Sql::assembled(format!(
            "INSERT INTO ledger_accounts \
             (code, name, account_type, currency, property, deal, investor, budget_line, balance_limit) \
             VALUES {} RETURNING id, property, deal, investor, budget_line, code",
            placeholders(chunk.len(), 9)
        ));
        for &i in chunk {
            let (new, key) = (&news[i], &keys[i]);
            sql = sql
                .bind(new.code.as_str())
                .bind(new.name.clone())
                .bind(new.account_type.as_str())
                .bind(new.currency.code().as_str())
                .bind(key[0].clone())
                .bind(key[1].clone())
                .bind(key[2].clone())
                .bind(key[3].clone())
                .bind(new.limit.as_str());
        }
        let mut ids: HashMap<AccountKey, i64> = HashMap::new();
        for row in tx.fetch_all(sql).await? {
            let key = [
                row.text(1)?,
                row.text(2)?,
                row.text(3)?,
                row.text(4)?,
                row.text(5)?,
            ];
            ids.insert(key, row.int(0)?);
        }
        let mut balances = Sql::assembled(format!(
            "INSERT INTO ledger_balances \
             (account_id, posted_debit, posted_credit, pending_debit, pending_credit) VALUES {}",
            placeholders(chunk.len(), 5)
        ));
        for &i in chunk {
            let new = &news[i];
            let id = *ids.get(&keys[i]).ok_or_else(|| {
                Error::Corrupt("an inserted account did not come back from the insert".into())
            })?;
            let zero = Amount::zero(new.currency).to_storage_text();
            balances = balances
                .bind(id)
                .bind(zero.clone())
                .bind(zero.clone())
                .bind(zero.clone())
                .bind(zero);
            out[i] = Some(Account {
                id: AccountId::new(id),
                code: new.code.clone(),
                name: new.name.clone(),
                account_type: new.account_type,
                currency: new.currency,
                dimensions: new.dimensions.clone(),
                limit: new.limit,
            });
        }
        tx.execute(balances).await?;
    }
    news.iter()
        .zip(&keys)
        .zip(out.iter())
        .map(|((new, key), opened)| {
            let account = match opened {
                Some(account) => account,
                None => first
                    .get(key)
                    .and_then(|&f| out[f].as_ref())
                    .ok_or_else(|| Error::Corrupt("an account was not opened".into()))?,
            };
            if account.matches(new) {
                Ok(account.clone())
            } else {
                Err(Error::AccountConflict {
                    code: new.code.to_string(),
                    existing: account.id,
                })
            }
        })
        .collect()
}
