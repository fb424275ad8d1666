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

/// The books anchored on a second, external chain too (`--anchor-rpc-url`): an anchor contract
/// there, the key that anchors on it, and connections to it.
#[derive(Clone, Debug)]
pub struct ExternalAnchor {
    /// The external chain's id (never the platform's chain).
    pub chain_id: u64,
    /// Its anchor contract.
    pub contract: propledger_contracts::deploy::Deployed,
    /// The address of the key that anchors there (the outbox's `anchor` sender).
    pub signer: Address,
    /// Reads and sends.
    pub provider: alloy::providers::DynProvider,
    /// The chain as the checks read its logs.
    pub source: propledger_indexer::source::SourceConfig,
}

/// The outbox key role of the external chain's anchors.
pub const EXTERNAL_KEY_ROLE: &str = "anchor";

/// An anchor queued (or found queued) for the books' head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Queued {
    /// Posted entries it covers.
    pub entries: u64,
    /// The head hash it records.
    pub head_hash: String,
    /// The published business documents' Merkle root it records (zero when none).
    pub documents_root: String,
    /// The outbox action recording it on the platform's chain (absent when that chain's last
    /// anchor already covers the head).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<ActionId>,
    /// The outbox action recording it on the external anchor chain, when one is configured
    /// and its last anchor does not cover the head yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_action_id: Option<ActionId>,
}

/// Where an anchor goes.
struct Target<'a> {
    chain_id: u64,
    contract: Address,
    provider: &'a alloy::providers::DynProvider,
    key_role: &'a str,
    signer: Address,
    resource_type: &'static str,
}

/// Queues an anchor of the books' current head through the outbox, in `tx`, on the platform's
/// chain and on the external anchor chain when there is one; `None` when there is nothing new
/// to anchor on either (no posted entry, or each chain's last anchor covers the head). An anchor
/// of the same head already queued and not failed is returned instead of a second one.
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
    let head = B256::from(hash.0);
    let documents_root = crate::business_docs::proof::current_root(tx)
        .await?
        .map_or(B256::ZERO, |(root, _)| root);
    let action_id = queue_on(
        tx,
        Target {
            chain_id: chain.chain_id,
            contract: anchor.address,
            provider: &chain.provider,
            key_role: "admin",
            signer: chain.signer("admin")?,
            resource_type: "ledger_anchor",
        },
        entries,
        (head, documents_root),
        actor,
    )
    .await?;
    let external_action_id = match &chain.external_anchor {
        Some(ext) => {
            queue_on(
                tx,
                Target {
                    chain_id: ext.chain_id,
                    contract: ext.contract.address,
                    provider: &ext.provider,
                    key_role: EXTERNAL_KEY_ROLE,
                    signer: ext.signer,
                    resource_type: "ledger_anchor_external",
                },
                entries,
                (head, documents_root),
                actor,
            )
            .await?
        }
        None => None,
    };
    if action_id.is_none() && external_action_id.is_none() {
        return Ok(None);
    }
    Ok(Some(Queued {
        entries,
        head_hash: format!("{head:#x}"),
        documents_root: format!("{documents_root:#x}"),
        action_id,
        external_action_id,
    }))
}

/// Queues (or finds queued) an anchor of `entries` ending in `head` on one chain; `None` when
/// that chain's last anchor covers it.
async fn queue_on(
    tx: &mut Tx,
    target: Target<'_>,
    entries: u64,
    (head, documents_root): (B256, B256),
    actor: &Actor,
) -> Result<Option<ActionId>> {
    let last = LedgerAnchor::new(target.contract, target.provider)
        .lastEntries()
        .call()
        .await
        .map_err(|e| {
            Error::Unavailable(format!(
                "the anchor contract on chain {}: {e}",
                target.chain_id
            ))
        })?;
    if entries <= last {
        return Ok(None);
    }
    let found = Query::new(
        "SELECT id FROM api_outbox WHERE kind = $1 AND resource_type = $2 \
         AND resource_id = $3 AND status <> 'failed' ORDER BY created_at LIMIT 1",
    )
    .bind(KIND)
    .bind(target.resource_type)
    .bind(entries.to_string())
    .fetch_optional(tx.exec())
    .await?;
    if let Some(row) = found {
        return Ok(Some(ActionId::stored(&row.get::<String>("id")?)?));
    }
    let call = Call::new(
        target.contract,
        LedgerAnchor::anchorCall {
            entries,
            headHash: head,
            documentsRoot: documents_root,
        }
        .abi_encode(),
    );
    Ok(Some(
        outbox::enqueue(
            tx,
            NewAction {
                chain_id: target.chain_id,
                key_role: target.key_role,
                signer: target.signer,
                kind: KIND,
                call,
                after: None,
                actor,
                resource: Some((target.resource_type, entries.to_string())),
            },
        )
        .await?,
    ))
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

/// The anchors of the external anchor chain, checked against the books.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExternalAnchors {
    /// Whether every anchor there matches the books.
    pub clean: bool,
    /// The external chain's id.
    pub chain_id: u64,
    /// Its anchor contract.
    pub contract: String,
    /// Posted entries after its last anchor.
    pub unanchored_entries: u64,
    /// Its anchors, oldest first.
    pub anchors: Vec<AnchorView>,
}

/// Every anchor, checked against the books.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AnchorCheck {
    /// Whether every anchor matches the books (on both chains, with an external one).
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
    /// The external anchor chain's, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalAnchors>,
}

/// Reads every anchor from the platform's chain (`source`) and from the external anchor chain
/// (when configured) up to their heads, and checks each against the books.
pub async fn check(
    chain: &ChainContext,
    source: &RpcSource,
    ledger: &Ledger,
) -> Result<AnchorCheck> {
    let anchor = contract(chain)?;
    let (entries_now, hash_now) = ledger.verifier().head().await.map_err(ledger_error)?;
    let anchors = read_anchors(anchor, source, ledger).await?;
    let last = anchors.iter().map(|a| a.entries).max().unwrap_or(0);
    let external = match &chain.external_anchor {
        Some(ext) => {
            let source = RpcSource::connect(ext.source.clone())
                .await
                .map_err(|e| Error::Unavailable(format!("the external anchor chain: {e}")))?;
            let anchors = read_anchors(ext.contract, &source, ledger).await?;
            let last = anchors.iter().map(|a| a.entries).max().unwrap_or(0);
            Some(ExternalAnchors {
                clean: anchors.iter().all(|a| a.matches),
                chain_id: ext.chain_id,
                contract: ext.contract.address.to_checksum(None),
                unanchored_entries: entries_now.saturating_sub(last),
                anchors,
            })
        }
        None => None,
    };
    Ok(AnchorCheck {
        clean: anchors.iter().all(|a| a.matches) && external.as_ref().is_none_or(|e| e.clean),
        contract: Address::to_checksum(&anchor.address, None),
        ledger_entries: entries_now,
        ledger_head_hash: format!("0x{}", hex::encode(hash_now.0)),
        unanchored_entries: entries_now.saturating_sub(last),
        anchors,
        external,
    })
}

/// One `Anchored` event as the chain recorded it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Its number on the contract.
    pub index: u64,
    /// Posted entries it covers.
    pub entries: u64,
    /// The books' head hash.
    pub head_hash: B256,
    /// The published documents' Merkle root.
    pub documents_root: B256,
    /// Its block.
    pub block_number: u64,
    /// Its transaction.
    pub tx_hash: B256,
}

/// Every `Anchored` event of one anchor contract up to the chain's head, oldest first.
pub async fn recorded(
    anchor: propledger_contracts::deploy::Deployed,
    source: &RpcSource,
) -> Result<Vec<Recorded>> {
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
    let mut anchors = Vec::new();
    for log in logs {
        if log.topics.first() != Some(&LedgerAnchor::Anchored::SIGNATURE_HASH) {
            continue;
        }
        let data = alloy::primitives::LogData::new_unchecked(log.topics.clone(), log.data.clone());
        let e = LedgerAnchor::Anchored::decode_log_data(&data).map_err(|e| {
            Error::Unavailable(format!("an Anchored event that does not decode: {e}"))
        })?;
        anchors.push(Recorded {
            index: u64::try_from(e.index).unwrap_or(u64::MAX),
            entries: e.entries,
            head_hash: e.headHash,
            documents_root: e.documentsRoot,
            block_number: log.block_number,
            tx_hash: log.tx_hash,
        });
    }
    Ok(anchors)
}

/// Every `Anchored` event of one anchor contract, each next to the books' hash at its entry.
async fn read_anchors(
    anchor: propledger_contracts::deploy::Deployed,
    source: &RpcSource,
    ledger: &Ledger,
) -> Result<Vec<AnchorView>> {
    let mut anchors = Vec::new();
    for e in recorded(anchor, source).await? {
        let books = ledger
            .verifier()
            .hash_at(e.entries)
            .await
            .map_err(ledger_error)?;
        let matches = books.is_some_and(|h| B256::from(h.0) == e.head_hash);
        anchors.push(AnchorView {
            index: e.index,
            entries: e.entries,
            head_hash: format!("{:#x}", e.head_hash),
            documents_root: format!("{:#x}", e.documents_root),
            block_number: e.block_number,
            tx_hash: format!("{:#x}", e.tx_hash),
            books_hash: books.map(|h| format!("0x{}", hex::encode(h.0))),
            matches,
        });
    }
    Ok(anchors)
}
