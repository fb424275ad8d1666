//! The books' head recorded on chain, and checked against it.
//!
//! An anchor is a call of the platform's `LedgerAnchor.anchor(entries, headHash, documentsRoot)`
//! through the outbox (the admin's key): after `entries` posted entries, the ledger's hash chain
//! ends in `headHash`. The node anchors on demand (`POST /v1/audit/anchors`) and, from its
//! upkeep, whenever the books moved on and the last anchor is older than the configured interval.
//! An anchor covering the same head is never queued twice, and the contract refuses an anchor
//! that does not move forward.
//!
//! The check reads every `Anchored` event from the chain (not from the database) and compares
//! each recorded hash with the hash the books hold for that entry now: an entry edited, removed
//! or reordered, or a ledger rewritten with every later hash recomputed, no longer matches.
//! Entries after the last anchor are the unanchored tail.

use alloy::primitives::{Address, B256};
use alloy::sol_types::{SolCall, SolEvent};
use propledger_contracts::LedgerAnchor;
use propledger_indexer::source::RpcSource;
use propledger_ledger::Ledger;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::ChainContext;
use crate::auth::Actor;
use crate::db::{Db, Query, Tx};
use crate::error::{Error, Result};
use crate::outbox::{self, ActionId, Call, NewAction};

/// The outbox kind of an anchor.
pub const KIND: &str = "ledger.anchor";
/// Most anchors a check reads.
pub const ANCHORS_MAX: usize = 100_000;

fn ledger_error(e: propledger_ledger::Error) -> Error {
    crate::deals::costs::ledger_error(e)
}

/// The platform's anchor contract.
pub fn contract(chain: &ChainContext) -> Result<propledger_contracts::deploy::Deployed> {
    chain.platform.anchor.ok_or_else(|| {
        Error::Unavailable(
            "this platform was deployed before it had an anchor contract (LedgerAnchor)".to_owned(),
        )
    })
}

/// An anchor queued (or found queued) for the books' head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Queued {
    /// Posted entries it covers.
    pub entries: u64,
    /// The head hash it records.
    pub head_hash: String,
    /// The outbox action recording it.
    pub action_id: ActionId,
}

/// Queues an anchor of the books' current head through the outbox, in `tx`; `None` when there
/// is nothing new to anchor (no posted entry, or the chain's last anchor covers the head). An
/// anchor of the same head already queued and not failed is returned instead of a second one.
pub async fn queue(
    tx: &mut Tx,
    chain: &ChainContext,
    ledger: &Ledger,
    actor: &Actor,
) -> Result<Option<Queued>> {
    let anchor = contract(chain)?;
    let (entries, hash) = ledger.verifier().head().await.map_err(ledger_error)?;
    if entries == 0 {
        return Ok(None);
    }
    let last = LedgerAnchor::new(anchor.address, &chain.provider)
        .lastEntries()
        .call()
        .await
        .map_err(|e| Error::Unavailable(format!("the anchor contract: {e}")))?;
    if entries <= last {
        return Ok(None);
    }
    let head_hash = format!("0x{}", hex::encode(hash.0));
    let found = Query::new(
        "SELECT id FROM api_outbox WHERE kind = $1 AND resource_type = 'ledger_anchor' \
         AND resource_id = $2 AND status <> 'failed' ORDER BY created_at LIMIT 1",
    )
    .bind(KIND)
    .bind(entries.to_string())
    .fetch_optional(tx.exec())
    .await?;
    if let Some(row) = found {
        return Ok(Some(Queued {
            entries,
            head_hash,
            action_id: ActionId::stored(&row.get::<String>("id")?)?,
        }));
    }
    let call = Call::new(
        anchor.address,
        LedgerAnchor::anchorCall {
            entries,
            headHash: B256::from(hash.0),
            documentsRoot: B256::ZERO,
        }
        .abi_encode(),
    );
    let action_id = outbox::enqueue(
        tx,
        NewAction {
            chain_id: chain.chain_id,
            key_role: "admin",
            signer: chain.signer("admin")?,
            kind: KIND,
            call,
            after: None,
            actor,
            resource: Some(("ledger_anchor", entries.to_string())),
        },
    )
    .await?;
    Ok(Some(Queued {
        entries,
        head_hash,
        action_id,
    }))
}

/// When the last anchor was queued (ms since the epoch), if ever.
pub async fn last_queued_ms(db: &Db) -> Result<Option<i64>> {
    let row = Query::new(
        "SELECT CAST(MAX(created_at) AS BIGINT) AS t FROM api_outbox WHERE kind = $1 \
         AND status <> 'failed'",
    )
    .bind(KIND)
    .fetch_one(db.reader())
    .await?;
    row.get::<Option<i64>>("t")
}

/// One anchor as the chain recorded it, next to the books.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AnchorView {
    /// Its number on the contract.
    pub index: u64,
    /// Posted entries it covers.
    pub entries: u64,
    /// The head hash the chain recorded.
    pub head_hash: String,
    /// The published documents' Merkle root it recorded (zero when none).
    pub documents_root: String,
    /// Where: block and transaction.
    pub block_number: u64,
    /// The transaction.
    pub tx_hash: String,
    /// The hash the books hold for that entry now (absent when no entry has that number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub books_hash: Option<String>,
    /// Whether the books still end in the recorded hash at that entry.
    pub matches: bool,
}

/// Every anchor, checked against the books.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AnchorCheck {
    /// Whether every anchor matches the books.
    pub clean: bool,
    /// The anchor contract.
    pub contract: String,
    /// Posted entries in the books now.
    pub ledger_entries: u64,
    /// The books' head hash now.
    pub ledger_head_hash: String,
    /// Posted entries after the last anchor: not yet provable against the chain.
    pub unanchored_entries: u64,
    /// The anchors, oldest first.
    pub anchors: Vec<AnchorView>,
}

/// Reads every anchor from the chain (`source`) up to its head and checks each against the
/// books.
pub async fn check(
    chain: &ChainContext,
    source: &RpcSource,
    ledger: &Ledger,
) -> Result<AnchorCheck> {
    let anchor = contract(chain)?;
    let head = source
        .head()
        .await
        .map_err(|e| Error::Unavailable(format!("the chain: {e}")))?;
    let logs = source
        .sparse_logs(anchor.block, head, &[anchor.address])
        .await
        .map_err(|e| Error::Unavailable(format!("the chain: {e}")))?;
    if logs.len() > ANCHORS_MAX {
        return Err(Error::conflict(
            "too_many_anchors",
            format!("more than {ANCHORS_MAX} anchors to check"),
        ));
    }
    let (entries_now, hash_now) = ledger.verifier().head().await.map_err(ledger_error)?;
    let mut anchors = Vec::new();
    for log in logs {
        if log.topics.first() != Some(&LedgerAnchor::Anchored::SIGNATURE_HASH) {
            continue;
        }
        let data = alloy::primitives::LogData::new_unchecked(log.topics.clone(), log.data.clone());
        let e = LedgerAnchor::Anchored::decode_log_data(&data).map_err(|e| {
            Error::Unavailable(format!("an Anchored event that does not decode: {e}"))
        })?;
        let books = ledger
            .verifier()
            .hash_at(e.entries)
            .await
            .map_err(ledger_error)?;
        let matches = books.is_some_and(|h| B256::from(h.0) == e.headHash);
        anchors.push(AnchorView {
            index: u64::try_from(e.index).unwrap_or(u64::MAX),
            entries: e.entries,
            head_hash: format!("{:#x}", e.headHash),
            documents_root: format!("{:#x}", e.documentsRoot),
            block_number: log.block_number,
            tx_hash: format!("{:#x}", log.tx_hash),
            books_hash: books.map(|h| format!("0x{}", hex::encode(h.0))),
            matches,
        });
    }
    let last = anchors.iter().map(|a| a.entries).max().unwrap_or(0);
    Ok(AnchorCheck {
        clean: anchors.iter().all(|a| a.matches),
        contract: Address::to_checksum(&anchor.address, None),
        ledger_entries: entries_now,
        ledger_head_hash: format!("0x{}", hex::encode(hash_now.0)),
        unanchored_entries: entries_now.saturating_sub(last),
        anchors,
    })
}
