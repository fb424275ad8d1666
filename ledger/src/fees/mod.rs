//! Platform fees per property: basis points on offering proceeds and on distributions, kept as
//! append-only schedules that take effect from a block. The indexer books a fee with the event
//! it is due on, by the schedule in force at that event's block, so replaying the chain books the
//! same fees.

use crate::core::DimValue;
use crate::error::{Error, Result};
use crate::store::{Ledger, Sql};

/// Most basis points a fee may be (the whole amount).
pub const MAX_BPS: u32 = 10_000;

/// A property's fees from a block on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeSchedule {
    /// The property.
    pub property: DimValue,
    /// The first block the schedule applies to.
    pub since_block: u64,
    /// Basis points of offering proceeds.
    pub proceeds_bps: u32,
    /// Basis points of distributions.
    pub distribution_bps: u32,
}

impl FeeSchedule {
    /// The fee on `amount` at `bps`, rounded down (in whatever unit `amount` is).
    pub fn fee_of(amount: alloy_primitives::U256, bps: u32) -> alloy_primitives::U256 {
        amount.saturating_mul(alloy_primitives::U256::from(bps))
            / alloy_primitives::U256::from(MAX_BPS)
    }
}

/// Fee schedules of a [`Ledger`].
#[derive(Clone, Copy, Debug)]
pub struct Fees<'a> {
    ledger: &'a Ledger,
}

impl<'a> Fees<'a> {
    pub(crate) fn new(ledger: &'a Ledger) -> Self {
        Fees { ledger }
    }

    /// Adds a schedule. Refused when a rate is above [`MAX_BPS`] or the property already has
    /// one from that block or a later one (a schedule never changes what was booked).
    pub async fn set(&self, s: &FeeSchedule) -> Result<()> {
        if s.proceeds_bps > MAX_BPS || s.distribution_bps > MAX_BPS {
            return Err(Error::invalid("fee", "at most 10,000 basis points"));
        }
        let since =
            i64::try_from(s.since_block).map_err(|_| Error::invalid("since_block", "too large"))?;
        let (mut tx, _head) = self.ledger.write().await?;
        let last = tx
            .fetch_one(
                Sql::new(
                    "SELECT COALESCE(MAX(since_block), -1) FROM ledger_fee_schedules \
                     WHERE property = $1",
                )
                .bind(s.property.as_str()),
            )
            .await?
            .int(0)?;
        if last >= since {
            return Err(Error::invalid(
                "since_block",
                "the property has a schedule from that block or a later one",
            ));
        }
        tx.execute(
            Sql::new(
                "INSERT INTO ledger_fee_schedules (property, since_block, proceeds_bps, \
                 distribution_bps) VALUES ($1, $2, $3, $4)",
            )
            .bind(s.property.as_str())
            .bind(since)
            .bind(i64::from(s.proceeds_bps))
            .bind(i64::from(s.distribution_bps)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every schedule, by property and block.
    pub async fn all(&self) -> Result<Vec<FeeSchedule>> {
        let mut tx = self.ledger.read().await?;
        let rows = tx
            .fetch_all(Sql::new(
                "SELECT property, since_block, proceeds_bps, distribution_bps \
                 FROM ledger_fee_schedules ORDER BY property, since_block",
            ))
            .await?;
        rows.iter()
            .map(|r| {
                let property = r.text(0)?;
                Ok(FeeSchedule {
                    property: DimValue::parse(&property)
                        .map_err(|_| Error::Corrupt(format!("fee property {property:?}")))?,
                    since_block: u64::try_from(r.int(1)?)
                        .map_err(|_| Error::Corrupt("fee block".into()))?,
                    proceeds_bps: u32::try_from(r.int(2)?)
                        .map_err(|_| Error::Corrupt("fee rate".into()))?,
                    distribution_bps: u32::try_from(r.int(3)?)
                        .map_err(|_| Error::Corrupt("fee rate".into()))?,
                })
            })
            .collect()
    }
}
