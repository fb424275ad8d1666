//! The platform's deployment as recorded in the database, shared by every node on it: the
//! record a node deployed or found is kept here, so that a node with a fresh data directory
//! uses the platform already deployed instead of deploying another, and a node whose own
//! record names another platform can refuse to start.

use propledger_contracts::deploy::Platform;

use crate::db::{Db, Query};
use crate::error::{Error, Result};
use crate::types::now_ms;

/// The platform recorded in the database, if any.
pub async fn stored(db: &Db) -> Result<Option<Platform>> {
    let row = Query::new("SELECT record FROM api_platform WHERE id = 1")
        .fetch_optional(db.reader())
        .await?;
    row.map(|r| {
        serde_json::from_str(&r.get::<String>("record")?)
            .map_err(|e| Error::Corrupt(format!("the stored platform record: {e}")))
    })
    .transpose()
}

/// Records `platform` as the database's platform (replacing the one recorded).
pub async fn store(db: &Db, platform: &Platform) -> Result<()> {
    let record = serde_json::to_string(platform)
        .map_err(|e| Error::Internal(format!("rendering the platform record: {e}")))?;
    let mut tx = db.begin().await?;
    Query::new(
        "INSERT INTO api_platform (id, chain_id, record, updated_at) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET chain_id = $1, record = $2, updated_at = $3",
    )
    .bind(i64::try_from(platform.chain_id).map_err(|_| Error::invalid("chain_id", "too large"))?)
    .bind(record)
    .bind(now_ms())
    .execute(tx.exec())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The books' anchor contract recorded for the external anchor chain `chain_id`, if any.
pub async fn stored_external_anchor(
    db: &Db,
    chain_id: u64,
) -> Result<Option<propledger_contracts::deploy::Deployed>> {
    let row = Query::new("SELECT record FROM api_external_anchors WHERE chain_id = $1")
        .bind(i64::try_from(chain_id).map_err(|_| Error::invalid("chain_id", "too large"))?)
        .fetch_optional(db.reader())
        .await?;
    row.map(|r| {
        serde_json::from_str(&r.get::<String>("record")?)
            .map_err(|e| Error::Corrupt(format!("the stored external anchor: {e}")))
    })
    .transpose()
}

/// Records `contract` as the books' anchor contract on the external anchor chain `chain_id`.
pub async fn store_external_anchor(
    db: &Db,
    chain_id: u64,
    contract: &propledger_contracts::deploy::Deployed,
) -> Result<()> {
    let record = serde_json::to_string(contract)
        .map_err(|e| Error::Internal(format!("rendering the external anchor: {e}")))?;
    let mut tx = db.begin().await?;
    Query::new(
        "INSERT INTO api_external_anchors (chain_id, record, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (chain_id) DO UPDATE SET record = $2, updated_at = $3",
    )
    .bind(i64::try_from(chain_id).map_err(|_| Error::invalid("chain_id", "too large"))?)
    .bind(record)
    .bind(now_ms())
    .execute(tx.exec())
    .await?;
    tx.commit().await?;
    Ok(())
}
