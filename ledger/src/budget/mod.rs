//! Rehab budgets per property and budget line, kept as append-only revisions: setting a line's
//! budget again adds a revision, and the latest revision is the budget.

use crate::account::currency_from;
use crate::core::{Amount, Currency, DimValue};
use crate::error::{Error, Result};
use crate::store::{Ledger, Sql, Tx};

/// Budgets of a [`Ledger`].
#[derive(Clone, Copy, Debug)]
pub struct Budgets<'a> {
    ledger: &'a Ledger,
}

impl<'a> Budgets<'a> {
    pub(crate) fn new(ledger: &'a Ledger) -> Self {
        Budgets { ledger }
    }

    /// Sets the budget of a line; returns the new revision number (from 1). The currency must
    /// be defined (it is, once any account uses it).
    pub async fn set(&self, property: &DimValue, line: &DimValue, amount: Amount) -> Result<u64> {
        let (mut tx, _head) = self.ledger.write().await?;
        let scale = tx
            .fetch_optional(
                Sql::new("SELECT scale FROM ledger_currencies WHERE code = $1")
                    .bind(amount.currency().code().as_str()),
            )
            .await?
            .ok_or_else(|| Error::invalid("budget currency", "is not defined in this ledger"))?
            .int(0)?;
        let currency = Currency::new(
            amount.currency().code(),
            u32::try_from(scale).map_err(|_| Error::Corrupt(format!("scale {scale}")))?,
        )?;
        let amount = amount.rescaled(currency)?;
        let row = tx
            .fetch_one(
                Sql::new(
                    "SELECT COALESCE(MAX(revision), 0) FROM ledger_budget_lines \
                     WHERE property = $1 AND budget_line = $2",
                )
                .bind(property.as_str())
                .bind(line.as_str()),
            )
            .await?;
        let revision = row.int(0)? + 1;
        tx.execute(
            Sql::new(
                "INSERT INTO ledger_budget_lines (property, budget_line, revision, currency, amount) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(property.as_str())
            .bind(line.as_str())
            .bind(revision)
            .bind(currency.code().as_str())
            .bind(amount.to_storage_text()),
        )
        .await?;
        tx.commit().await?;
        u64::try_from(revision).map_err(|_| Error::Corrupt("budget revision".into()))
    }

    /// The current budget of every line of a property, by line.
    pub async fn current(&self, property: &DimValue) -> Result<Vec<(DimValue, Amount)>> {
        let mut tx = self.ledger.read().await?;
        current_in(&mut tx, property).await
    }
}

pub(crate) async fn current_in(
    tx: &mut Tx,
    property: &DimValue,
) -> Result<Vec<(DimValue, Amount)>> {
    let rows = tx
        .fetch_all(
            Sql::new(
                "SELECT b.budget_line, b.amount, b.currency, c.scale FROM ledger_budget_lines b \
                 JOIN ledger_currencies c ON c.code = b.currency \
                 WHERE b.property = $1 AND b.revision = (SELECT MAX(r.revision) FROM ledger_budget_lines r \
                   WHERE r.property = b.property AND r.budget_line = b.budget_line) \
                 ORDER BY b.budget_line",
            )
            .bind(property.as_str()),
        )
        .await?;
    rows.iter()
        .map(|r| {
            let line = r.text(0)?;
            let currency = currency_from(&r.text(2)?, r.int(3)?)?;
            Ok((
                DimValue::parse(&line)
                    .map_err(|_| Error::Corrupt(format!("budget line {line:?}")))?,
                Amount::from_storage_text(&r.text(1)?, currency)?,
            ))
        })
        .collect()
}
