//! Exports of the ledger, whole or one property's books: CSV (one row per posting) and
//! Beancount.
//!
//! Both read one snapshot page by page and stream to a writer; an [`ExportSink`] is told when
//! each page is written, so a server can hand the bytes on as they come. The Beancount file opens every
//! account, lists every exported entry and ends with a `balance` assertion per account taken
//! from the ledger's stored balances, so `bean-check` proves that the exported entries add up to
//! the balances the ledger reports (its trial balance).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Write;

use chrono::{Days, NaiveDate};

use crate::account::{list_all, load_with_totals};
use crate::core::{
    Account, AccountId, AccountType, Amount, DimValue, Direction, Entry, EntryId, EntryStatus,
};
use crate::entry::{EntryFilter, filtered_ids, load_entries};
use crate::error::{Error, Result};
use crate::store::{Ledger, PAGE_ROWS, Sql, Tx};

/// What to export.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Only this property's books: the entries posting to its accounts, its accounts (and any
    /// other account those entries post to) and, in Beancount, balance assertions for its
    /// accounts. The whole ledger when `None`.
    pub property: Option<DimValue>,
    /// Include pending entries (Beancount flags them `!`; its balance assertions then include
    /// pending amounts).
    pub include_pending: bool,
    /// Include voided entries (CSV only; they never count in a balance).
    pub include_voided: bool,
}

/// Where an export writes. The bytes go through [`Write`]; after each page of entries the
/// export awaits [`ExportSink::page_written`], where a streaming sink hands on what it holds
/// (and waits while its reader is behind). An error there stops the export.
pub trait ExportSink: Write + Send {
    /// A page of entries has been written.
    fn page_written(&mut self) -> impl Future<Output = Result<()>> + Send;
}

/// Any writer, as a sink that needs no telling.
struct Plain<'w, W>(&'w mut W);

impl<W: Write> Write for Plain<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write + Send> ExportSink for Plain<'_, W> {
    async fn page_written(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Exports of a [`Ledger`].
#[derive(Clone, Copy, Debug)]
pub struct Exports<'a> {
    ledger: &'a Ledger,
}

fn io(e: std::io::Error) -> Error {
    Error::Export(e)
}

/// Quotes a CSV field when needed (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn dim_text(v: &Option<crate::core::DimValue>) -> &str {
    v.as_ref().map_or("", |d| d.as_str())
}

/// The header row of [`Exports::csv`].
pub const CSV_HEADER: &str = "entry_id,chain_seq,status,effective_date,idempotency_key,source,\
description,reverses_entry_id,posting_index,account_id,account_code,account_name,account_type,\
property,deal,investor,budget_line,direction,amount,currency,entry_hash";

impl<'a> Exports<'a> {
    pub(crate) fn new(ledger: &'a Ledger) -> Self {
        Exports { ledger }
    }

    /// Writes one CSV row per posting (header first), entries in id order.
    pub async fn csv<W: Write + Send>(&self, out: &mut W, options: ExportOptions) -> Result<()> {
        self.csv_to(&mut Plain(out), options).await
    }

    /// [`Exports::csv`] into a sink told of every page.
    pub async fn csv_to<S: ExportSink>(&self, out: &mut S, options: ExportOptions) -> Result<()> {
        let mut tx = self.ledger.read().await?;
        let accounts: HashMap<AccountId, Account> = list_all(&mut tx)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        writeln!(out, "{CSV_HEADER}").map_err(io)?;
        let filter = entry_filter(&options);
        let mut after = EntryId::new(0);
        while let Some(page) = next_page(&mut tx, &filter, &mut after).await? {
            for e in page.iter().filter(|e| wanted(e, &options)) {
                for (i, p) in e.postings.iter().enumerate() {
                    let a = accounts.get(&p.account).ok_or(Error::UnknownAccount {
                        key: Some(e.key.clone()),
                        account: p.account,
                    })?;
                    let fields = [
                        e.id.to_string(),
                        e.chain.map(|c| c.seq.to_string()).unwrap_or_default(),
                        e.status.to_string(),
                        e.effective_date.to_string(),
                        e.key.to_string(),
                        e.source.to_string(),
                        e.description.clone(),
                        e.reverses.map(|r| r.to_string()).unwrap_or_default(),
                        i.to_string(),
                        a.id.to_string(),
                        a.code.to_string(),
                        a.name.clone(),
                        a.account_type.to_string(),
                        dim_text(&a.dimensions.property).to_owned(),
                        dim_text(&a.dimensions.deal).to_owned(),
                        dim_text(&a.dimensions.investor).to_owned(),
                        dim_text(&a.dimensions.budget_line).to_owned(),
                        p.direction.to_string(),
                        p.amount.value().to_string(),
                        p.amount.currency().code().to_string(),
                        e.chain.map(|c| c.hash.to_string()).unwrap_or_default(),
                    ];
                    let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                    writeln!(out, "{}", row.join(",")).map_err(io)?;
                }
            }
            out.page_written().await?;
        }
        Ok(())
    }

    /// Writes the ledger as a Beancount file that `bean-check` accepts, with a balance assertion
    /// per account equal to the ledger's own balance.
    pub async fn beancount<W: Write + Send>(
        &self,
        out: &mut W,
        options: ExportOptions,
    ) -> Result<()> {
        self.beancount_to(&mut Plain(out), options).await
    }

    /// [`Exports::beancount`] into a sink told of every page.
    pub async fn beancount_to<S: ExportSink>(
        &self,
        out: &mut S,
        options: ExportOptions,
    ) -> Result<()> {
        let mut tx = self.ledger.read().await?;
        let all = list_all(&mut tx).await?;
        // Names come from the whole chart, so one account has one name in every export.
        let names = beancount_names(&all);
        let (accounts, asserted): (Vec<Account>, Vec<Account>) = match &options.property {
            None => (all.clone(), all),
            Some(property) => {
                let touched = accounts_touched(&mut tx, property).await?;
                let open = all
                    .iter()
                    .filter(|a| {
                        a.dimensions.property.as_ref() == Some(property) || touched.contains(&a.id)
                    })
                    .cloned()
                    .collect();
                let own = all
                    .into_iter()
                    .filter(|a| a.dimensions.property.as_ref() == Some(property))
                    .collect();
                (open, own)
            }
        };
        let filter = entry_filter(&options);
        let range = match &options.property {
            None => {
                tx.fetch_one(Sql::new(
                    "SELECT MIN(effective_date), MAX(effective_date), COUNT(*) FROM ledger_entries",
                ))
                .await?
            }
            Some(property) => {
                tx.fetch_one(
                    Sql::new(
                        "SELECT MIN(e.effective_date), MAX(e.effective_date), COUNT(*) \
                         FROM ledger_entries e WHERE EXISTS (SELECT 1 FROM ledger_postings p \
                         JOIN ledger_accounts a ON a.id = p.account_id \
                         WHERE p.entry_id = e.id AND a.property = $1)",
                    )
                    .bind(property.as_str()),
                )
                .await?
            }
        };
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let (first, last) = if range.int(2)? > 0 {
            (range.date(0)?, range.date(1)?)
        } else {
            (epoch, epoch)
        };
        let open_on = first.min(epoch);

        writeln!(out, "; PropLedger ledger export").map_err(io)?;
        writeln!(out, "option \"title\" \"PropLedger books\"").map_err(io)?;
        writeln!(out).map_err(io)?;
        let mut commodities: Vec<_> = accounts.iter().map(|a| a.currency.code()).collect();
        commodities.sort();
        commodities.dedup();
        for c in commodities {
            writeln!(out, "{open_on} commodity {c}").map_err(io)?;
        }
        writeln!(out).map_err(io)?;
        for a in &accounts {
            writeln!(out, "{open_on} open {} {}", names[&a.id], a.currency.code()).map_err(io)?;
            writeln!(out, "  name: {}", bean_string(&a.name)).map_err(io)?;
            writeln!(out, "  ledger-account-id: \"{}\"", a.id).map_err(io)?;
        }
        writeln!(out).map_err(io)?;

        let options = ExportOptions {
            include_voided: false,
            ..options
        };
        let mut after = EntryId::new(0);
        while let Some(page) = next_page(&mut tx, &filter, &mut after).await? {
            for e in page.iter().filter(|e| wanted(e, &options)) {
                let flag = if e.status == EntryStatus::Posted {
                    '*'
                } else {
                    '!'
                };
                writeln!(
                    out,
                    "{} {flag} {}",
                    e.effective_date,
                    bean_string(&e.description)
                )
                .map_err(io)?;
                writeln!(out, "  ledger-entry-id: \"{}\"", e.id).map_err(io)?;
                writeln!(out, "  ledger-key: {}", bean_string(e.key.as_str())).map_err(io)?;
                writeln!(
                    out,
                    "  ledger-source: {}",
                    bean_string(&e.source.to_string())
                )
                .map_err(io)?;
                if let Some(r) = e.reverses {
                    writeln!(out, "  ledger-reverses: \"{r}\"").map_err(io)?;
                }
                if let Some(c) = e.chain {
                    writeln!(out, "  ledger-chain-seq: \"{}\"", c.seq).map_err(io)?;
                    writeln!(out, "  ledger-hash: \"{}\"", c.hash).map_err(io)?;
                }
                for p in &e.postings {
                    let name = names.get(&p.account).ok_or(Error::UnknownAccount {
                        key: Some(e.key.clone()),
                        account: p.account,
                    })?;
                    let signed = match p.direction {
                        Direction::Debit => p.amount,
                        Direction::Credit => p.amount.negated(),
                    };
                    writeln!(out, "  {name}  {}", signed).map_err(io)?;
                }
                writeln!(out).map_err(io)?;
            }
            out.page_written().await?;
        }

        // Balances at the start of the day after the last entry, i.e. including every entry.
        let check_on = last.checked_add_days(Days::new(1)).unwrap_or(last);
        let ids: Vec<AccountId> = asserted.iter().map(|a| a.id).collect();
        let stored = load_with_totals(&mut tx, &ids).await?;
        for a in &asserted {
            let (_, t) = &stored[&a.id];
            let mut balance: Amount = t.posted(Direction::Debit)?;
            if options.include_pending {
                balance = balance.checked_add(t.pending(Direction::Debit)?)?;
            }
            writeln!(out, "{check_on} balance {}  {balance}", names[&a.id]).map_err(io)?;
        }
        out.page_written().await?;
        Ok(())
    }
}

/// The entries an export covers.
fn entry_filter(options: &ExportOptions) -> EntryFilter {
    EntryFilter {
        property: options.property.clone(),
        ..EntryFilter::default()
    }
}

/// Every account that an entry posting to `property`'s accounts posts to (the property's own
/// and any other's).
async fn accounts_touched(tx: &mut Tx, property: &DimValue) -> Result<HashSet<AccountId>> {
    tx.fetch_all(
        Sql::new(
            "SELECT DISTINCT q.account_id FROM ledger_postings p \
             JOIN ledger_accounts a ON a.id = p.account_id \
             JOIN ledger_postings q ON q.entry_id = p.entry_id WHERE a.property = $1",
        )
        .bind(property.as_str()),
    )
    .await?
    .iter()
    .map(|r| r.int(0).map(AccountId::new))
    .collect()
}

fn wanted(e: &Entry, options: &ExportOptions) -> bool {
    match e.status {
        EntryStatus::Posted => true,
        EntryStatus::Pending => options.include_pending,
        EntryStatus::Voided => options.include_voided,
    }
}

async fn next_page(
    tx: &mut Tx,
    filter: &EntryFilter,
    after: &mut EntryId,
) -> Result<Option<Vec<Entry>>> {
    let ids = filtered_ids(tx, filter, *after, PAGE_ROWS as usize).await?;
    let Some(last) = ids.last() else {
        return Ok(None);
    };
    *after = *last;
    Ok(Some(load_entries(tx, &ids).await?))
}

/// A Beancount string literal.
fn bean_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One Beancount account-name component: starts with an uppercase letter or digit, then
/// letters, digits and dashes.
fn component(prefix: &str, text: &str) -> String {
    let body: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let joined = format!("{prefix}{body}");
    if joined.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        joined
    } else {
        format!("X{joined}")
    }
}

/// Beancount names for accounts: `Assets:P-oak[:D-deal][:I-investor][:B-line]:C1000`, made
/// unique with the account id when sanitizing makes two collide.
///
/// The code is always the last component and the only one starting with `C`, so no account is
/// an ancestor of another (Beancount's balance assertions include sub-accounts).
pub(crate) fn beancount_names(accounts: &[Account]) -> HashMap<AccountId, String> {
    let root = |t: AccountType| match t {
        AccountType::Asset => "Assets",
        AccountType::Liability => "Liabilities",
        AccountType::Equity => "Equity",
        AccountType::Income => "Income",
        AccountType::Expense => "Expenses",
    };
    let base = |a: &Account| {
        let d = &a.dimensions;
        let mut parts = vec![root(a.account_type).to_owned()];
        parts.push(match &d.property {
            Some(p) => component("P-", p.as_str()),
            None => "Platform".to_owned(),
        });
        for (prefix, v) in [("D-", &d.deal), ("I-", &d.investor), ("B-", &d.budget_line)] {
            if let Some(v) = v {
                parts.push(component(prefix, v.as_str()));
            }
        }
        parts.push(component("C", a.code.as_str()));
        parts.join(":")
    };
    let mut count: HashMap<String, usize> = HashMap::new();
    for a in accounts {
        *count.entry(base(a)).or_default() += 1;
    }
    let mut seen = HashSet::new();
    accounts
        .iter()
        .map(|a| {
            let mut name = base(a);
            if count[&name] > 1 || !seen.insert(name.clone()) {
                name = format!("{name}-N{}", a.id);
            }
            (a.id, name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{AccountCode, BalanceLimit, Currency, DimValue, Dimensions};

    fn account(id: i64, code: &str, t: AccountType, d: Dimensions) -> Account {
        Account {
            id: AccountId::new(id),
            code: AccountCode::parse(code).unwrap(),
            name: code.to_owned(),
            account_type: t,
            currency: Currency::parse("USD", 2).unwrap(),
            dimensions: d,
            limit: BalanceLimit::Unlimited,
        }
    }

    #[test]
    fn beancount_names_are_valid_and_unique() {
        let p = |s: &str| DimValue::parse(s).unwrap();
        let accounts = vec![
            account(
                1,
                "1000",
                AccountType::Asset,
                Dimensions::property(p("oak")),
            ),
            account(
                2,
                "3000",
                AccountType::Equity,
                Dimensions::property(p("oak")).with_investor(p("inv_1")),
            ),
            account(3, "cash.a", AccountType::Asset, Dimensions::default()),
            account(4, "cash_a", AccountType::Asset, Dimensions::default()),
        ];
        let names = beancount_names(&accounts);
        assert_eq!(names[&AccountId::new(1)], "Assets:P-oak:C1000");
        assert_eq!(names[&AccountId::new(2)], "Equity:P-oak:I-inv-1:C3000");
        assert_eq!(names[&AccountId::new(3)], "Assets:Platform:Ccash-a-N3");
        assert_eq!(names[&AccountId::new(4)], "Assets:Platform:Ccash-a-N4");
        // No name is an ancestor of another.
        for a in names.values() {
            for b in names.values() {
                assert!(!b.starts_with(&format!("{a}:")), "{a} is a parent of {b}");
            }
        }
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(bean_string("a \"b\" \\"), "\"a \\\"b\\\" \\\\\"");
    }
}
