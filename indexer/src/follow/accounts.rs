//! The ledger accounts the indexer books into: each property's chart, and the per-investor and
//! per-budget-line accounts opened as events need them. Cached in memory (accounts are
//! immutable once opened).

use std::collections::HashMap;

use alloy::primitives::{B256, U256};
use propledger_ledger::Ledger;
use propledger_ledger::core::chart::{codes, template_line};
use propledger_ledger::core::{AccountCode, AccountId, Currency, DimValue, Dimensions, NewAccount};

use crate::books::{Holder, Target};
use crate::error::{Error, Result};

/// The property key of the platform's own books (the share market's fees), beside the
/// properties' deed token ids; its ledger dimension is `prop-platform`.
pub const PLATFORM_BOOKS: &str = "platform";

/// The ledger dimension value of a property id.
pub fn property_dim(id: &str) -> Result<DimValue> {
    let text = if id.len() <= 58 {
        format!("prop-{id}")
    } else {
        let n: U256 = id
            .parse()
            .map_err(|_| Error::BadChainData(format!("property id {id}")))?;
        format!("{n:x}")
    };
    DimValue::parse(&text).map_err(Error::from)
}

/// One property's accounts.
#[derive(Clone, Debug)]
struct PropertyBooks {
    dim: DimValue,
    chart: HashMap<String, AccountId>,
    investors: HashMap<Holder, AccountId>,
    lines: HashMap<B256, AccountId>,
}

/// The accounts opened so far, by property.
#[derive(Clone, Debug, Default)]
pub(crate) struct Books {
    properties: HashMap<String, PropertyBooks>,
}

impl Books {
    /// Forgets the properties not in `ids` (after a rollback removed their contracts).
    pub(crate) fn retain(&mut self, ids: &[String]) {
        self.properties.retain(|id, _| ids.contains(id));
    }

    /// Opens (idempotently) a property's chart and caches its accounts.
    pub(crate) async fn open_property(
        &mut self,
        ledger: &Ledger,
        currency: Currency,
        id: &str,
    ) -> Result<()> {
        if self.properties.contains_key(id) {
            return Ok(());
        }
        let dim = property_dim(id)?;
        let chart = if id == PLATFORM_BOOKS {
            ledger
                .accounts()
                .open_platform_chart(&dim, currency)
                .await?
        } else {
            ledger
                .accounts()
                .open_property_chart(&dim, currency)
                .await?
        };
        let chart = chart
            .into_iter()
            .filter(|a| a.dimensions.investor.is_none() && a.dimensions.budget_line.is_none())
            .map(|a| (a.code.as_str().to_owned(), a.id))
            .collect();
        self.properties.insert(
            id.to_owned(),
            PropertyBooks {
                dim,
                chart,
                investors: HashMap::new(),
                lines: HashMap::new(),
            },
        );
        Ok(())
    }

    /// The account of a property's chart with this template code.
    pub(crate) fn chart_account(&self, property: &str, code: &str) -> Option<AccountId> {
        self.properties
            .get(property)
            .and_then(|p| p.chart.get(code))
            .copied()
    }

    /// The account a posting goes to, when it is open (see [`Books::open`]).
    pub(crate) fn account(&self, property: &str, target: &Target) -> Result<AccountId> {
        let books = self
            .properties
            .get(property)
            .ok_or_else(|| Error::Internal(format!("property {property} is not open")))?;
        let found = match target {
            Target::Chart(code) => books.chart.get(*code),
            Target::InvestorCapital(holder) => books.investors.get(holder),
            Target::Improvements(line) => books.lines.get(line),
        };
        found
            .copied()
            .ok_or_else(|| Error::Internal(format!("no open account for {target:?}")))
    }

    /// Opens the properties' charts and the per-investor and per-line accounts of `targets`
    /// that are not open yet: the new accounts in one transaction.
    pub(crate) async fn open(
        &mut self,
        ledger: &Ledger,
        currency: Currency,
        targets: Vec<(String, Target)>,
    ) -> Result<()> {
        let mut wanted: Vec<(String, Target, NewAccount)> = Vec::new();
        for (property, target) in targets {
            self.open_property(ledger, currency, &property).await?;
            let books = self
                .properties
                .get(&property)
                .ok_or_else(|| Error::Internal(format!("property {property} is not open")))?;
            let (code, dims) = match &target {
                Target::Chart(_) => continue,
                Target::InvestorCapital(holder) => {
                    if books.investors.contains_key(holder) {
                        continue;
                    }
                    (
                        codes::INVESTOR_CAPITAL,
                        Dimensions::property(books.dim.clone())
                            .with_investor(DimValue::parse(&holder.dimension())?),
                    )
                }
                Target::Improvements(line) => {
                    if books.lines.contains_key(line) {
                        continue;
                    }
                    (
                        codes::CAPITALIZED_IMPROVEMENTS,
                        Dimensions::property(books.dim.clone())
                            .with_budget_line(DimValue::parse(&alloy::hex::encode(line))?),
                    )
                }
            };
            if wanted
                .iter()
                .any(|(p, t, _)| *p == property && *t == target)
            {
                continue;
            }
            let line = template_line(code)
                .ok_or_else(|| Error::Internal(format!("no template line {code}")))?;
            let new = NewAccount::new(
                AccountCode::parse(code)?,
                line.name,
                line.account_type,
                currency,
            )
            .with_dimensions(dims)
            .with_limit(line.limit);
            wanted.push((property, target, new));
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let news: Vec<NewAccount> = wanted.iter().map(|(_, _, n)| n.clone()).collect();
        let opened = ledger.accounts().open_many(&news).await?;
        for ((property, target, _), account) in wanted.into_iter().zip(opened) {
            let books = self
                .properties
                .get_mut(&property)
                .ok_or_else(|| Error::Internal(format!("property {property} is not open")))?;
            match target {
                Target::InvestorCapital(h) => books.investors.insert(h, account.id),
                Target::Improvements(l) => books.lines.insert(l, account.id),
                Target::Chart(_) => None,
            };
        }
        Ok(())
    }
}
