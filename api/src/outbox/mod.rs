//! The outbox: every chain write the platform makes leaves through it.
//!
//! A resource change that needs a transaction records an [`Action`] (queued) in the same
//! database transaction as the change, with its actor; nothing is sent from the request. One
//! [`sender`](crate::outbox::sender) per signing key (a database lock keeps every other replica's
//! sender for that key idle) then, action by action: estimates it (a revert here fails the
//! action with the revert's reason, and no nonce is spent), takes the key's next nonce from the
//! database, signs, records the signed transaction and the nonce in one commit, sends it, and
//! follows it to its receipt. A transaction that stays unmined is signed again for the same
//! nonce with higher fees; every signed version is recorded, so whichever is mined is
//! recognised. A crash at any point neither loses an action (it is in the database before the
//! request returns) nor performs it twice (an action has one nonce; its signed versions share
//! it, and at most one transaction per nonce is ever mined).
//!
//! Actions can form sequences: an action recorded `after` another is sent only once that one is
//! confirmed, and fails if it failed.

pub mod failpoint;
pub mod revert;
pub mod sender;

use alloy_primitives::{Address, U256};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Actor;
use crate::db::{Exec, Query, Row, Tx};
use crate::error::{Error, Result};
use crate::types::{now_ms, rfc3339, typed_id};

typed_id!(
    /// An outbox action's id.
    ActionId,
    "action"
);

/// Where an action stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recorded; not yet signed.
    Queued,
    /// Signed with a nonce and sent (perhaps re-sent with higher fees); not yet mined.
    Submitted,
    /// Mined and succeeded.
    Confirmed,
    /// Reverted (in estimation or on chain), or its predecessor failed.
    Failed,
}

impl Status {
    pub(crate) fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "queued" => Status::Queued,
            "submitted" => Status::Submitted,
            "confirmed" => Status::Confirmed,
            "failed" => Status::Failed,
            other => return Err(Error::Corrupt(format!("outbox status {other:?}"))),
        })
    }
}

/// A transaction to make: a call with calldata and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The contract called.
    pub to: Address,
    /// The calldata.
    pub data: Vec<u8>,
    /// Wei sent with it.
    pub value: U256,
}

impl Call {
    /// A call of `to` with ABI-encoded `data` and no value.
    pub fn new(to: Address, data: impl Into<Vec<u8>>) -> Call {
        Call {
            to,
            data: data.into(),
            value: U256::ZERO,
        }
    }
}

/// What recording an action needs.
#[derive(Clone, Debug)]
pub struct NewAction<'a> {
    /// The chain.
    pub chain_id: u64,
    /// Which configured key signs it (a contract role: `admin`, `agent`, ...).
    pub key_role: &'a str,
    /// The key's address.
    pub signer: Address,
    /// What it does, for people and metrics (`identity.register`).
    pub kind: &'a str,
    /// The transaction.
    pub call: Call,
    /// An action that must be confirmed first.
    pub after: Option<ActionId>,
    /// Who asked for it.
    pub actor: &'a Actor,
    /// The resource it belongs to.
    pub resource: Option<(&'a str, String)>,
}

/// An action as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Action {
    /// The action's id.
    pub id: ActionId,
    /// What it does.
    pub kind: String,
    /// Where it stands.
    pub status: Status,
    /// The signing key's role.
    pub key_role: String,
    /// The signing key's address.
    pub signer: String,
    /// The contract called.
    pub to: String,
    /// The nonce, once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
    /// The transaction's hash (the mined one once confirmed or failed on chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    /// The block it was mined in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_number: Option<u64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The transfer-restriction reason code of a failure, when the revert carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<u8>,
    /// How many times it was signed and sent.
    pub sends: u32,
    /// The action it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<ActionId>,
    /// Who asked for it.
    pub actor: String,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

pub(crate) const COLUMNS: &str = "id, kind, status, key_role, signer, to_address, nonce, tx_hash, \
     block_number, failure, reason_code, sends, after_id, actor, created_at, updated_at";

pub(crate) fn from_row(row: &Row) -> Result<Action> {
    let corrupt = |what: &str| Error::Corrupt(format!("outbox {what}"));
    Ok(Action {
        id: ActionId::stored(&row.get::<String>("id")?)?,
        kind: row.get("kind")?,
        status: Status::parse(&row.get::<String>("status")?)?,
        key_role: row.get("key_role")?,
        signer: row.get("signer")?,
        to: row.get("to_address")?,
        nonce: row
            .get::<Option<i64>>("nonce")?
            .map(|n| u64::try_from(n).map_err(|_| corrupt("nonce")))
            .transpose()?,
        tx_hash: row
            .get::<Option<Vec<u8>>>("tx_hash")?
            .map(|h| format!("0x{}", hex::encode(h))),
        block_number: row
            .get::<Option<i64>>("block_number")?
            .map(|n| u64::try_from(n).map_err(|_| corrupt("block")))
            .transpose()?,
        failure: row.get("failure")?,
        reason_code: row
            .get::<Option<i64>>("reason_code")?
            .map(|c| u8::try_from(c).map_err(|_| corrupt("reason code")))
            .transpose()?,
        sends: u32::try_from(row.get::<i64>("sends")?).map_err(|_| corrupt("sends"))?,
        after: row
            .get::<Option<String>>("after_id")?
            .map(|s| ActionId::stored(&s))
            .transpose()?,
        actor: row.get("actor")?,
        created_at: rfc3339(row.get("created_at")?),
        updated_at: rfc3339(row.get("updated_at")?),
    })
}

/// Records an action in the caller's transaction; it is sent once that commits.
pub async fn enqueue(tx: &mut Tx, new: NewAction<'_>) -> Result<ActionId> {
    let id = ActionId::new();
    let now = now_ms();
    let (rtype, rid) = match &new.resource {
        Some((t, id)) => (Some(*t), Some(id.clone())),
        None => (None, None),
    };
    Query::new(
        "INSERT INTO api_outbox (id, chain_id, signer, key_role, kind, to_address, data, value_wei, \
         after_id, actor, resource_type, resource_id, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'queued', $13, $13)",
    )
    .bind(id.to_string())
    .bind(i64::try_from(new.chain_id).map_err(|_| Error::invalid("chain_id", "too large"))?)
    .bind(new.signer.to_checksum(None))
    .bind(new.key_role)
    .bind(new.kind)
    .bind(new.call.to.to_checksum(None))
    .bind(new.call.data)
    .bind(new.call.value.to_string())
    .bind(new.after.map(|a| a.to_string()))
    .bind(new.actor.reference())
    .bind(rtype)
    .bind(rid)
    .bind(now)
    .execute(tx.exec())
    .await?;
    Ok(id)
}

/// One action.
pub async fn get(exec: Exec<'_>, id: ActionId) -> Result<Action> {
    let row = Query::assembled(format!("SELECT {COLUMNS} FROM api_outbox WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(exec)
        .await?
        .ok_or(Error::NotFound("action"))?;
    from_row(&row)
}

/// A resource's actions, in the order they were recorded.
pub async fn of_resource(
    exec: Exec<'_>,
    resource_type: &str,
    resource_id: &str,
) -> Result<Vec<Action>> {
    let rows = Query::assembled(format!(
        "SELECT {COLUMNS} FROM api_outbox WHERE resource_type = $1 AND resource_id = $2 ORDER BY id"
    ))
    .bind(resource_type)
    .bind(resource_id)
    .fetch_all(exec)
    .await?;
    rows.iter().map(from_row).collect()
}
