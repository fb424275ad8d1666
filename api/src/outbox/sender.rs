//! The sender of one signing key: the only writer of that key's transactions, whichever replica
//! runs it (it holds the database lock `outbox-<chain id>-<address>` while it works).
//!
//! Each pass, in this order:
//! 1. **Follow** every submitted action: a receipt of any of its signed versions settles it
//!    (confirmed, or failed with the revert read by replaying the call at the block before);
//!    receipts count once `confirmations` blocks sit on top. An action left unmined for
//!    `resend_after` is signed again for the same nonce with fees raised by `fee_bump_percent`
//!    and sent; one whose signed versions were never sent (the process died first) is sent.
//!    If the key's nonce moved past an action's nonce and none of its versions was mined (the
//!    key was used elsewhere), the action goes back to the queue for a new nonce.
//! 2. **Send** queued actions in the order they were recorded: an action waiting for another
//!    goes once that one is confirmed (and fails if that one failed); each is estimated at the
//!    pending block (a revert fails it with its reason, spending no nonce), given the key's
//!    next nonce, signed, recorded with its nonce in one commit, then sent.

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::BlockId;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportError};
use tokio::sync::watch;

use propledger_ledger::Ledger;
use propledger_ledger::lock::NamedLock;

use super::failpoint;
use super::revert;
use crate::db::{Db, Query, Row};
use crate::error::{Error, Result};
use crate::types::now_ms;

/// How often a standing-by sender tries to take the key's lock.
const STANDBY_RETRY: Duration = Duration::from_millis(500);

/// How often a running sender checks that it still holds the key's lock.
const LOCK_CHECK: Duration = Duration::from_secs(5);

/// How a sender works.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// The chain.
    pub chain_id: u64,
    /// Blocks on top of a receipt's block before the action counts as settled.
    pub confirmations: u64,
    /// Pause between passes when there is nothing to do.
    pub poll: Duration,
    /// How long a transaction may stay unmined before it is signed again with higher fees.
    pub resend_after: Duration,
    /// How much each re-send raises the fees, percent (at least 10, what nodes require to
    /// replace a pending transaction).
    pub fee_bump_percent: u64,
    /// How long a nonce may be seen used by another transaction, with no receipt of ours,
    /// before the action is given a new nonce.
    pub foreign_nonce_grace: Duration,
    /// Below this balance (wei), the sender warns that the key may soon fail to pay for gas.
    pub low_balance_wei: U256,
}

impl SenderConfig {
    /// Defaults for a chain: settled at `confirmations`, passes every 250 ms, re-sent after
    /// 60 s with 25% more, warning under 0.05 ETH.
    pub fn new(chain_id: u64, confirmations: u64) -> Self {
        SenderConfig {
            chain_id,
            confirmations,
            poll: Duration::from_millis(250),
            resend_after: Duration::from_secs(60),
            fee_bump_percent: 25,
            foreign_nonce_grace: Duration::from_secs(30),
            low_balance_wei: U256::from(50_000_000_000_000_000u64),
        }
    }
}

/// One key's sender.
pub struct Sender {
    db: Db,
    provider: DynProvider,
    signer: PrivateKeySigner,
    role: String,
    cfg: SenderConfig,
    /// When each action's nonce was first seen used with no receipt of ours.
    foreign_since: std::collections::HashMap<String, Instant>,
    low_balance_warned: bool,
    /// The key's last balance seen, in wei.
    pub balance_wei: Option<U256>,
}

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Actions sent for the first time.
    pub sent: usize,
    /// Transactions sent again (unsent versions, or higher fees).
    pub resent: usize,
    /// Actions settled (confirmed or failed).
    pub settled: usize,
    /// Actions still waiting (unmined, unconfirmed, or waiting for another).
    pub waiting: usize,
}

impl Pass {
    fn busy(&self) -> bool {
        self.sent + self.resent + self.settled > 0
    }
}

/// A submitted action being followed.
struct Submitted {
    id: String,
    nonce: u64,
    to: Address,
    data: Vec<u8>,
    value: U256,
}

/// Most gas one transaction may use (EIP-7825, Osaka).
const TX_GAS_CAP: u64 = 1 << 24;

/// The gas and fees of a signed version.
#[derive(Clone, Copy, Debug)]
struct Fees {
    gas_limit: u64,
    max_fee: u128,
    priority_fee: u128,
}

/// One signed version of an action.
struct Version {
    n: i64,
    hash: B256,
    raw: Vec<u8>,
    max_fee: u128,
    priority_fee: u128,
    gas_limit: u64,
    sent_at: Option<i64>,
}

fn rpc(e: TransportError) -> Error {
    // With its causes: a transport error's own text is often only its kind.
    Error::Unavailable(format!("chain: {}", propledger_net::describe(&e)))
}

/// The revert a failed call or estimate carries, if it is one (rather than a transport failure).
pub(crate) fn as_revert(e: &TransportError) -> Option<revert::Revert> {
    match e {
        RpcError::ErrorResp(payload) => {
            if let Some(data) = payload.as_revert_data() {
                return Some(revert::decode(&data));
            }
            let m = payload.message.to_lowercase();
            (m.contains("revert") || m.contains("execution reverted")).then(|| revert::Revert {
                text: payload.message.to_string(),
                reason_code: None,
            })
        }
        _ => None,
    }
}

fn u256(s: &str) -> Result<U256> {
    s.parse()
        .map_err(|_| Error::Corrupt(format!("wei amount {s:?}")))
}

fn int(row: &Row, col: &str) -> Result<u64> {
    u64::try_from(row.get::<i64>(col)?).map_err(|_| Error::Corrupt(format!("outbox {col}")))
}

fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Internal("a number past i64".to_owned()))
}

impl Sender {
    /// A sender for `signer` (the key of `role`).
    pub fn new(
        db: Db,
        provider: DynProvider,
        signer: PrivateKeySigner,
        role: &str,
        cfg: SenderConfig,
    ) -> Sender {
        Sender {
            db,
            provider,
            signer,
            role: role.to_owned(),
            cfg,
            foreign_since: Default::default(),
            low_balance_warned: false,
            balance_wei: None,
        }
    }

    /// The key's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The name of the database lock only one sender of this key may hold.
    pub fn lock_name(&self) -> String {
        format!("outbox-{}-{:x}", self.cfg.chain_id, self.address())
    }

    fn signer_text(&self) -> String {
        self.address().to_checksum(None)
    }

    /// Runs as this key's one sender among every process on the database, until `stop` turns
    /// true: takes the key's lock (standing by while another process holds it, and taking
    /// over when that process is gone), then passes while the lock is held.
    pub async fn run_exclusive(
        &mut self,
        ledger: &Ledger,
        mut stop: watch::Receiver<bool>,
        wake: &tokio::sync::Notify,
    ) {
        let name = self.lock_name();
        let mut announced = false;
        loop {
            if *stop.borrow() {
                return;
            }
            match ledger.try_lock(&name).await {
                Ok(Some(mut lock)) => {
                    tracing::info!(role = %self.role, signer = %self.signer_text(), "outbox sender running");
                    announced = false;
                    self.run(&mut lock, stop.clone(), wake).await;
                    lock.release().await;
                }
                Ok(None) => {
                    if !announced {
                        tracing::info!(role = %self.role, signer = %self.signer_text(),
                            "another process sends for this key; the outbox sender stands by");
                        announced = true;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "taking the outbox lock failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(STANDBY_RETRY) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Passes until `stop` turns true or the lock is lost. Chain and database failures are
    /// logged and retried after a pause; the sender never gives up.
    pub async fn run(
        &mut self,
        lock: &mut NamedLock,
        mut stop: watch::Receiver<bool>,
        wake: &tokio::sync::Notify,
    ) {
        let mut backoff = self.cfg.poll;
        let mut checked = Instant::now();
        loop {
            if *stop.borrow() {
                return;
            }
            if checked.elapsed() >= LOCK_CHECK {
                if !lock.held().await {
                    tracing::warn!(role = %self.role, "the outbox lock was lost; standing by");
                    return;
                }
                checked = Instant::now();
            }
            let pause = match self.pass().await {
                Ok(p) if p.busy() => {
                    backoff = self.cfg.poll;
                    Duration::ZERO
                }
                Ok(_) => {
                    backoff = self.cfg.poll;
                    self.cfg.poll
                }
                Err(e) => {
                    tracing::warn!(role = %self.role, signer = %self.signer_text(), error = %e, "outbox pass failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    backoff
                }
            };
            if pause > Duration::ZERO {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = wake.notified() => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// One pass: follow what was sent, then send what is queued.
    pub async fn pass(&mut self) -> Result<Pass> {
        let mut pass = Pass::default();
        self.check_balance().await;
        self.follow(&mut pass).await?;
        self.send_queued(&mut pass).await?;
        Ok(pass)
    }

    async fn check_balance(&mut self) {
        let Ok(balance) = self.provider.get_balance(self.address()).await else {
            return;
        };
        self.balance_wei = Some(balance);
        let low = balance < self.cfg.low_balance_wei;
        if low && !self.low_balance_warned {
            tracing::warn!(role = %self.role, signer = %self.signer_text(), balance_wei = %balance,
                "the signing key's balance is low: fund it, or its transactions will stop");
        }
        self.low_balance_warned = low;
    }

    async fn versions(&self, id: &str) -> Result<Vec<Version>> {
        let rows = Query::new(
            "SELECT n, tx_hash, raw, max_fee_wei, priority_fee_wei, gas_limit, sent_at \
             FROM api_outbox_sends WHERE action_id = $1 ORDER BY n",
        )
        .bind(id)
        .fetch_all(self.db.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let hash: Vec<u8> = r.get("tx_hash")?;
                Ok(Version {
                    n: r.get("n")?,
                    hash: B256::try_from(hash.as_slice())
                        .map_err(|_| Error::Corrupt("send hash".to_owned()))?,
                    raw: r.get("raw")?,
                    max_fee: u256(&r.get::<String>("max_fee_wei")?)?.to::<u128>(),
                    priority_fee: u256(&r.get::<String>("priority_fee_wei")?)?.to::<u128>(),
                    gas_limit: int(r, "gas_limit")?,
                    sent_at: r.get("sent_at")?,
                })
            })
            .collect()
    }

    async fn follow(&mut self, pass: &mut Pass) -> Result<()> {
        let rows = Query::new(
            "SELECT id, nonce, to_address, data, value_wei FROM api_outbox \
             WHERE chain_id = $1 AND signer = $2 AND status = 'submitted' ORDER BY nonce",
        )
        .bind(to_i64(self.cfg.chain_id)?)
        .bind(self.signer_text())
        .fetch_all(self.db.reader())
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let head = self.provider.get_block_number().await.map_err(rpc)?;
        let mined_nonce = self
            .provider
            .get_transaction_count(self.address())
            .await
            .map_err(rpc)?;
        for row in &rows {
            let action = Submitted {
                id: row.get("id")?,
                nonce: int(row, "nonce")?,
                to: row
                    .get::<String>("to_address")?
                    .parse()
                    .map_err(|_| Error::Corrupt("outbox address".to_owned()))?,
                data: row.get("data")?,
                value: u256(&row.get::<String>("value_wei")?)?,
            };
            let versions = self.versions(&action.id).await?;
            let mut receipt = None;
            for v in versions.iter().rev() {
                if let Some(r) = self
                    .provider
                    .get_transaction_receipt(v.hash)
                    .await
                    .map_err(rpc)?
                {
                    receipt = Some(r);
                    break;
                }
            }
            if let Some(r) = receipt {
                self.foreign_since.remove(&action.id);
                let block = r.block_number.unwrap_or(head);
                if block.saturating_add(self.cfg.confirmations) > head {
                    pass.waiting += 1;
                    continue;
                }
                failpoint::hit("outbox.mined");
                self.settle(&action, &r).await?;
                pass.settled += 1;
                continue;
            }
            if mined_nonce > action.nonce {
                // The nonce is used, but by none of our versions (so far).
                let since = *self
                    .foreign_since
                    .entry(action.id.clone())
                    .or_insert_with(Instant::now);
                if since.elapsed() >= self.cfg.foreign_nonce_grace {
                    tracing::warn!(action = %action.id, nonce = action.nonce, signer = %self.signer_text(),
                        "the action's nonce was used by another transaction; it gets a new one");
                    self.requeue(&action.id).await?;
                    self.foreign_since.remove(&action.id);
                    pass.settled += 1;
                } else {
                    pass.waiting += 1;
                }
                continue;
            }
            let Some(last) = versions.last() else {
                return Err(Error::Corrupt(format!(
                    "submitted action {} has no signed version",
                    action.id
                )));
            };
            match last.sent_at {
                None => {
                    if self.broadcast(&action.id, last).await? {
                        pass.resent += 1;
                    } else {
                        pass.waiting += 1;
                    }
                }
                Some(at) if now_ms() - at >= self.cfg.resend_after.as_millis() as i64 => {
                    if self.bump(&action, last).await? {
                        pass.resent += 1;
                    } else {
                        pass.waiting += 1;
                    }
                }
                Some(_) => pass.waiting += 1,
            }
        }
        Ok(())
    }

    async fn settle(
        &self,
        action: &Submitted,
        r: &alloy::rpc::types::TransactionReceipt,
    ) -> Result<()> {
        let block = r.block_number.unwrap_or_default();
        let (status, failure, code) = if r.status() {
            ("confirmed", None, None)
        } else {
            // Replay the call at the block before to read why it reverted.
            let req = TransactionRequest::default()
                .with_from(self.address())
                .with_to(action.to)
                .with_input(Bytes::from(action.data.clone()))
                .with_value(action.value)
                .with_gas_limit(r.gas_used);
            let why = match self
                .provider
                .call(req)
                .block(BlockId::number(block.saturating_sub(1)))
                .await
            {
                Err(e) => as_revert(&e).unwrap_or(revert::Revert {
                    text: "reverted on chain".to_owned(),
                    reason_code: None,
                }),
                Ok(_) => revert::Revert {
                    text: "reverted on chain (out of gas, or state changed by an earlier transaction in the block)".to_owned(),
                    reason_code: None,
                },
            };
            ("failed", Some(why.text), why.reason_code)
        };
        let mut tx = self.db.begin().await?;
        Query::new(
            "UPDATE api_outbox SET status = $1, tx_hash = $2, block_number = $3, block_hash = $4, \
             gas_used = $5, failure = $6, reason_code = $7, updated_at = $8 \
             WHERE id = $9 AND status = 'submitted'",
        )
        .bind(status)
        .bind(r.transaction_hash.to_vec())
        .bind(to_i64(block)?)
        .bind(r.block_hash.map(|h| h.to_vec()))
        .bind(to_i64(r.gas_used)?)
        .bind(failure.clone())
        .bind(code.map(i64::from))
        .bind(now_ms())
        .bind(action.id.as_str())
        .execute(tx.exec())
        .await?;
        tx.commit().await?;
        match failure {
            None => {
                tracing::info!(action = %action.id, tx = %r.transaction_hash, block, "outbox action confirmed")
            }
            Some(why) => {
                tracing::warn!(action = %action.id, tx = %r.transaction_hash, block, reason = %why, "outbox action reverted on chain")
            }
        }
        Ok(())
    }

    async fn requeue(&self, id: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        Query::new(
            "UPDATE api_outbox SET status = 'queued', nonce = NULL, updated_at = $1 \
             WHERE id = $2 AND status = 'submitted'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(tx.exec())
        .await?;
        tx.commit().await
    }

    /// Sends a recorded version; a node that already has it (or mined it) is fine. `false`
    /// when the node refused it (it is sent again on a later pass, after the poll interval).
    async fn broadcast(&self, id: &str, v: &Version) -> Result<bool> {
        match self.provider.send_raw_transaction(&v.raw).await {
            Ok(_) => {}
            Err(e) => {
                let text = e.to_string().to_lowercase();
                let benign = text.contains("already known")
                    || text.contains("known transaction")
                    || text.contains("nonce too low")
                    || text.contains("already imported");
                if !benign {
                    if as_revert(&e).is_none() && !matches!(e, RpcError::ErrorResp(_)) {
                        return Err(rpc(e));
                    }
                    // Refused by the node (fees, funds): the version stays recorded and is
                    // sent again on a later pass.
                    tracing::warn!(action = %id, tx = %v.hash, error = %e, "the node refused a transaction; it is retried");
                    return Ok(false);
                }
            }
        }
        let mut tx = self.db.begin().await?;
        Query::new("UPDATE api_outbox_sends SET sent_at = $1 WHERE action_id = $2 AND n = $3")
            .bind(now_ms())
            .bind(id)
            .bind(v.n)
            .execute(tx.exec())
            .await?;
        tx.commit().await?;
        failpoint::hit("outbox.sent");
        Ok(true)
    }

    fn sign(&self, nonce: u64, call: &Submitted, fees: Fees) -> Result<(B256, Vec<u8>)> {
        let tx = TxEip1559 {
            chain_id: self.cfg.chain_id,
            nonce,
            gas_limit: fees.gas_limit,
            max_fee_per_gas: fees.max_fee,
            max_priority_fee_per_gas: fees.priority_fee,
            to: TxKind::Call(call.to),
            value: call.value,
            access_list: Default::default(),
            input: Bytes::copy_from_slice(&call.data),
        };
        let sig = self
            .signer
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| Error::Internal(format!("signing: {e}")))?;
        let signed = tx.into_signed(sig);
        let hash = *signed.hash();
        let raw = TxEnvelope::Eip1559(signed).encoded_2718();
        Ok((hash, raw))
    }

    async fn bump(&self, action: &Submitted, last: &Version) -> Result<bool> {
        let fees = self.provider.estimate_eip1559_fees().await.map_err(rpc)?;
        let raise = |old: u128| old + old * u128::from(self.cfg.fee_bump_percent.max(10)) / 100 + 1;
        let priority = raise(last.priority_fee).max(fees.max_priority_fee_per_gas);
        let max_fee = raise(last.max_fee).max(fees.max_fee_per_gas).max(priority);
        let (hash, raw) = self.sign(
            action.nonce,
            action,
            Fees {
                gas_limit: last.gas_limit,
                max_fee,
                priority_fee: priority,
            },
        )?;
        let v = Version {
            n: last.n + 1,
            hash,
            raw,
            max_fee,
            priority_fee: priority,
            gas_limit: last.gas_limit,
            sent_at: None,
        };
        let mut tx = self.db.begin().await?;
        insert_version(&mut tx, &action.id, &v).await?;
        Query::new(
            "UPDATE api_outbox SET sends = sends + 1, tx_hash = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(hash.to_vec())
        .bind(now_ms())
        .bind(action.id.as_str())
        .execute(tx.exec())
        .await?;
        tx.commit().await?;
        tracing::info!(action = %action.id, nonce = action.nonce, tx = %hash, max_fee, "re-sent with higher fees");
        self.broadcast(&action.id, &v).await
    }

    async fn send_queued(&mut self, pass: &mut Pass) -> Result<()> {
        let rows = Query::new(
            "SELECT o.id, o.to_address, o.data, o.value_wei, o.after_id, p.status AS after_status \
             FROM api_outbox o LEFT JOIN api_outbox p ON p.id = o.after_id \
             WHERE o.chain_id = $1 AND o.signer = $2 AND o.status = 'queued' ORDER BY o.id LIMIT 64",
        )
        .bind(to_i64(self.cfg.chain_id)?)
        .bind(self.signer_text())
        .fetch_all(self.db.reader())
        .await?;
        for row in &rows {
            let id: String = row.get("id")?;
            match row.get::<Option<String>>("after_status")?.as_deref() {
                None | Some("confirmed") => {}
                Some("failed") => {
                    self.fail(&id, "an action it depends on failed", None)
                        .await?;
                    pass.settled += 1;
                    continue;
                }
                Some(_) => {
                    pass.waiting += 1;
                    continue;
                }
            }
            let to: Address = row
                .get::<String>("to_address")?
                .parse()
                .map_err(|_| Error::Corrupt("outbox address".to_owned()))?;
            let data: Vec<u8> = row.get("data")?;
            let value = u256(&row.get::<String>("value_wei")?)?;
            let req = TransactionRequest::default()
                .with_from(self.address())
                .with_to(to)
                .with_input(Bytes::from(data.clone()))
                .with_value(value);
            let estimate = match self
                .provider
                .estimate_gas(req)
                .block(BlockId::pending())
                .await
            {
                Ok(g) => g,
                Err(e) => match as_revert(&e) {
                    Some(why) => {
                        self.fail(&id, &why.text, why.reason_code).await?;
                        pass.settled += 1;
                        continue;
                    }
                    None => return Err(rpc(e)),
                },
            };
            // A fifth more than the estimate, but never above the most one transaction may
            // use (EIP-7825) when the estimate itself fits.
            let gas_limit = (estimate + estimate / 5 + 10_000).min(TX_GAS_CAP.max(estimate));
            let fees = self.provider.estimate_eip1559_fees().await.map_err(rpc)?;
            let chain_next = self
                .provider
                .get_transaction_count(self.address())
                .pending()
                .await
                .map_err(rpc)?;
            let mut tx = self.db.begin().await?;
            let stored_next = Query::new(
                "SELECT next_nonce FROM api_signer_nonces WHERE chain_id = $1 AND signer = $2",
            )
            .bind(to_i64(self.cfg.chain_id)?)
            .bind(self.signer_text())
            .fetch_optional(tx.exec())
            .await?
            .map(|r| int(&r, "next_nonce"))
            .transpose()?;
            let nonce = stored_next.unwrap_or(0).max(chain_next);
            let call = Submitted {
                id: id.clone(),
                nonce,
                to,
                data: data.clone(),
                value,
            };
            let (hash, raw) = self.sign(
                nonce,
                &call,
                Fees {
                    gas_limit,
                    max_fee: fees.max_fee_per_gas,
                    priority_fee: fees.max_priority_fee_per_gas,
                },
            )?;
            Query::new(
                "INSERT INTO api_signer_nonces (chain_id, signer, next_nonce) VALUES ($1, $2, $3) \
                 ON CONFLICT (chain_id, signer) DO UPDATE SET next_nonce = excluded.next_nonce",
            )
            .bind(to_i64(self.cfg.chain_id)?)
            .bind(self.signer_text())
            .bind(to_i64(nonce + 1)?)
            .execute(tx.exec())
            .await?;
            let v = Version {
                n: 0,
                hash,
                raw,
                max_fee: fees.max_fee_per_gas,
                priority_fee: fees.max_priority_fee_per_gas,
                gas_limit,
                sent_at: None,
            };
            insert_version(&mut tx, &id, &v).await?;
            let changed = Query::new(
                "UPDATE api_outbox SET status = 'submitted', nonce = $1, tx_hash = $2, sends = 1, \
                 updated_at = $3 WHERE id = $4 AND status = 'queued'",
            )
            .bind(to_i64(nonce)?)
            .bind(hash.to_vec())
            .bind(now_ms())
            .bind(id.as_str())
            .execute(tx.exec())
            .await?;
            if changed != 1 {
                return Err(Error::Internal(format!(
                    "outbox action {id} changed under its sender (is another sender running for the key?)"
                )));
            }
            tx.commit().await?;
            failpoint::hit("outbox.signed");
            tracing::info!(action = %id, nonce, tx = %hash, "outbox action signed");
            if self.broadcast(&id, &v).await? {
                pass.sent += 1;
            } else {
                pass.waiting += 1;
            }
        }
        Ok(())
    }

    async fn fail(&self, id: &str, why: &str, code: Option<u8>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        Query::new(
            "UPDATE api_outbox SET status = 'failed', failure = $1, reason_code = $2, \
             updated_at = $3 WHERE id = $4 AND status = 'queued'",
        )
        .bind(why)
        .bind(code.map(i64::from))
        .bind(now_ms())
        .bind(id)
        .execute(tx.exec())
        .await?;
        tx.commit().await?;
        tracing::warn!(action = %id, reason = %why, "outbox action failed before it was sent");
        Ok(())
    }
}

async fn insert_version(tx: &mut crate::db::Tx, id: &str, v: &Version) -> Result<()> {
    Query::new(
        "INSERT INTO api_outbox_sends (action_id, n, tx_hash, raw, max_fee_wei, priority_fee_wei, gas_limit) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(v.n)
    .bind(v.hash.to_vec())
    .bind(v.raw.clone())
    .bind(v.max_fee.to_string())
    .bind(v.priority_fee.to_string())
    .bind(to_i64(v.gas_limit)?)
    .execute(tx.exec())
    .await?;
    Ok(())
}
