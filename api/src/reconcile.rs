//! The books reconciled against the chain, with the API's records as the operator's side.
//!
//! The indexer's reconciliation ([`propledger_indexer::audit`]) pairs every chain event that
//! carries a reference with an operator entry in the books carrying the same one. Some of the
//! operator's records live in the API rather than in the books:
//!
//! - a rehab draw released through the treasury is the operator's record of its invoice (the
//!   invoice's hash is the `DrawReleased` event's reference);
//! - a distribution declared through the API is the record of the `DistributionFunded` event
//!   that names its reference;
//! - a sponsor's fee or promote paid by a distribution run through the waterfall is the run's
//!   record of the `DrawReleased` event naming its reference;
//! - a draw paid through the bank is booked under its invoice's hash with no chain event to
//!   meet: it is settled off chain, not missing from the chain.
//!
//! [`complete`] pairs those: a chain item left unmatched in the books that a released draw or a
//! declaration explains moves to `matched` (or to `amount_differences` when the amounts
//! differ), and an operator item left unmatched on chain that is a draw's bank payment moves to
//! `paid_off_chain`.

use std::collections::HashMap;

use propledger_indexer::audit::{Item, Matched, Reconciliation};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{Db, Query};
use crate::error::{Error, Result};
use crate::rehab::{Draw, DrawStatus};

/// Most API records read for one reconciliation.
pub const RECORDS_MAX: i64 = 100_000;

/// A draw paid through the bank: its entry, under the invoice's hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaidOffChain {
    /// The invoice's hash.
    pub reference: String,
    /// The payment's entry key.
    pub entry_key: String,
    /// The amount.
    #[schema(value_type = String)]
    pub amount: Decimal,
    /// The draw.
    pub draw_id: String,
}

/// The reconciliation with the API's records paired in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Completed {
    /// Books against chain.
    #[serde(flatten)]
    pub chain: Reconciliation,
    /// Draws paid through the bank.
    pub paid_off_chain: Vec<PaidOffChain>,
}

impl Completed {
    /// Whether books and chain agree everywhere.
    pub fn is_clean(&self) -> bool {
        self.chain.is_clean()
    }
}

/// One API record: its key, amount and whether it is paid off chain.
struct Record {
    key: String,
    amount: Decimal,
    off_chain: bool,
}

fn cents(v: i64) -> Decimal {
    Decimal::new(v, 2)
}

async fn records(db: &Db) -> Result<HashMap<String, Record>> {
    let mut out = HashMap::new();
    let draws = Query::new(
        "SELECT doc FROM api_rehab_draws WHERE status IN ('released', 'paid_off_chain') \
         ORDER BY id LIMIT $1",
    )
    .bind(RECORDS_MAX + 1)
    .fetch_all(db.reader())
    .await?;
    let declared = Query::new(
        "SELECT id, reference, amount_minor FROM api_distributions ORDER BY id LIMIT $1",
    )
    .bind(RECORDS_MAX + 1)
    .fetch_all(db.reader())
    .await?;
    if draws.len() + declared.len() > usize::try_from(RECORDS_MAX).unwrap_or(usize::MAX) {
        return Err(Error::conflict(
            "too_many_records",
            format!("more than {RECORDS_MAX} draws and distributions to pair"),
        ));
    }
    for r in draws {
        let d: Draw = serde_json::from_str(&r.get::<String>("doc")?)
            .map_err(|_| Error::Corrupt("a stored draw".into()))?;
        let amount = d
            .amount
            .amount
            .parse::<Decimal>()
            .map_err(|_| Error::Corrupt("a draw's amount".into()))?;
        out.insert(
            d.invoice_hash.to_ascii_lowercase(),
            Record {
                key: format!("draw:{}", d.id),
                amount,
                off_chain: d.status == DrawStatus::PaidOffChain,
            },
        );
    }
    let runs = Query::new(
        "SELECT doc, status FROM api_waterfall_runs WHERE status <> 'failed' ORDER BY created_at LIMIT $1",
    )
    .bind(RECORDS_MAX + 1)
    .fetch_all(db.reader())
    .await?;
    for r in runs {
        let run: crate::waterfall::runs::Run = serde_json::from_str(&r.get::<String>("doc")?)
            .map_err(|_| Error::Corrupt("a stored waterfall run".into()))?;
        for (kind, reference, m) in [
            ("fee", &run.fee_reference, &run.management_fee),
            ("promote", &run.promote_reference, &run.promote),
        ] {
            let Some(reference) = reference else { continue };
            out.insert(
                reference.to_ascii_lowercase(),
                Record {
                    key: format!("waterfall:{}:{kind}", run.id),
                    amount: m
                        .amount
                        .parse::<Decimal>()
                        .map_err(|_| Error::Corrupt("a run's amount".into()))?,
                    off_chain: false,
                },
            );
        }
    }
    for r in declared {
        out.insert(
            r.get::<String>("reference")?.to_ascii_lowercase(),
            Record {
                key: format!("distribution:{}", r.get::<String>("id")?),
                amount: cents(r.get::<i64>("amount_minor")?),
                off_chain: false,
            },
        );
    }
    Ok(out)
}

/// Pairs the API's records into the indexer's reconciliation (see the module).
pub async fn complete(db: &Db, mut r: Reconciliation) -> Result<Completed> {
    let records = records(db).await?;
    let mut still = Vec::new();
    for chain in std::mem::take(&mut r.unmatched_in_books) {
        match records.get(&chain.reference) {
            Some(rec) if !rec.off_chain => {
                let books = Item {
                    reference: chain.reference.clone(),
                    entry_key: rec.key.clone(),
                    amount: rec.amount,
                };
                if rec.amount == chain.amount {
                    r.matched.push(Matched { chain, books });
                } else {
                    r.amount_differences.push(Matched { chain, books });
                }
            }
            _ => still.push(chain),
        }
    }
    r.unmatched_in_books = still;
    let mut paid_off_chain = Vec::new();
    let mut still = Vec::new();
    for item in std::mem::take(&mut r.unmatched_on_chain) {
        match records.get(&item.reference) {
            Some(rec) if rec.off_chain && rec.amount == item.amount => {
                paid_off_chain.push(PaidOffChain {
                    reference: item.reference,
                    entry_key: item.entry_key,
                    amount: item.amount,
                    draw_id: rec.key.trim_start_matches("draw:").to_owned(),
                });
            }
            _ => still.push(item),
        }
    }
    r.unmatched_on_chain = still;
    Ok(Completed {
        chain: r,
        paid_off_chain,
    })
}
