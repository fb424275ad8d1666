//! Transaction admission (the checks geth and anvil make before accepting a transaction, with
//! their wording) and the bounded pool of accepted transactions waiting for a block.

use std::{
    collections::{BTreeMap, BinaryHeap, VecDeque},
    sync::Arc,
};

use alloy::{
    consensus::{Transaction as _, TxType},
    primitives::{Address, B256, U256, map::AddressMap, map::B256Map},
};

use super::{block::StoredTx, exec, state::Account};

/// Largest signed transaction accepted (geth's `txMaxSize`).
pub(crate) const MAX_TX_BYTES: usize = 128 * 1024;
/// EIP-3860 init code limit.
pub(crate) const MAX_INITCODE_BYTES: usize = 2 * 24_576;
/// A replacement must raise both fee fields by this many percent (geth's default price bump).
const PRICE_BUMP_PERCENT: u128 = 10;

/// Why a transaction was refused. Messages follow geth; codes follow anvil.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TxError {
    /// The bytes are not a signed transaction.
    #[error("failed to decode transaction: {0}")]
    Decode(String),
    /// The signature does not recover to an address.
    #[error("invalid sender: invalid signature")]
    InvalidSignature,
    /// Blob transactions are not accepted.
    #[error("transaction type not supported")]
    TypeNotSupported,
    /// Signed for another chain.
    #[error("invalid chain id for signer: have {have} want {want}")]
    WrongChainId {
        /// The transaction's chain id.
        have: u64,
        /// This chain's id.
        want: u64,
    },
    /// Larger than [`MAX_TX_BYTES`].
    #[error("oversized data: transaction size {size}, limit {limit}")]
    Oversized {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Contract creation code larger than EIP-3860 allows.
    #[error("max initcode size exceeded: code size {size} limit {limit}")]
    InitCodeTooLarge {
        /// Init code size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The nonce was already used.
    #[error("nonce too low: address {address}, tx: {tx} state: {state}")]
    NonceTooLow {
        /// Sender.
        address: Address,
        /// The transaction's nonce.
        tx: u64,
        /// The account's next nonce.
        state: u64,
    },
    /// The sender cannot pay gas * price + value.
    #[error(
        "insufficient funds for gas * price + value: address {address} have {have} want {want}"
    )]
    InsufficientFunds {
        /// Sender.
        address: Address,
        /// Balance.
        have: U256,
        /// Maximum cost.
        want: U256,
    },
    /// Gas limit below the intrinsic cost.
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGasTooLow {
        /// The transaction's gas limit.
        gas: u64,
        /// Intrinsic gas.
        needed: u64,
    },
    /// Gas limit below the EIP-7623 calldata floor.
    #[error("insufficient gas for floor data gas cost: gas {gas}, minimum needed {needed}")]
    FloorDataGas {
        /// The transaction's gas limit.
        gas: u64,
        /// The floor.
        needed: u64,
    },
    /// Gas limit above the block's.
    #[error("exceeds block gas limit")]
    GasLimitExceedsBlock,
    /// Gas limit above the EIP-7825 cap.
    #[error("transaction gas limit too high (cap: {cap}, tx: {gas})")]
    GasLimitTooHigh {
        /// The transaction's gas limit.
        gas: u64,
        /// The cap.
        cap: u64,
    },
    /// Max fee below the next block's base fee.
    #[error(
        "max fee per gas less than block base fee: address {address}, maxFeePerGas: {max_fee}, baseFee: {base_fee}"
    )]
    FeeCapTooLow {
        /// Sender.
        address: Address,
        /// The transaction's max fee.
        max_fee: u128,
        /// The base fee.
        base_fee: u64,
    },
    /// Tip above max fee.
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// The sender is a contract (EIP-3607).
    #[error("sender not an eoa: address {0}")]
    SenderNotEoa(Address),
    /// The nonce cannot be incremented.
    #[error("nonce has max value")]
    NonceMax,
    /// Already in the pool or the chain.
    #[error("already known")]
    AlreadyKnown,
    /// Same sender and nonce as a pooled transaction, without the required fee bump.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    /// The pool holds its maximum.
    #[error("txpool is full")]
    PoolFull,
    /// eth_sendTransaction from an account without a key here.
    #[error("no key for account {0}: only the dev accounts are unlocked")]
    UnknownAccount(Address),
    /// revm refused the transaction at execution.
    #[error("{0}")]
    Rejected(String),
}

impl TxError {
    /// The JSON-RPC error code anvil uses for this refusal.
    pub(crate) fn code(&self) -> i64 {
        match self {
            Self::Decode(_) => -32602,
            Self::NonceTooLow { .. }
            | Self::InsufficientFunds { .. }
            | Self::FeeCapTooLow { .. }
            | Self::AlreadyKnown
            | Self::ReplacementUnderpriced
            | Self::PoolFull
            | Self::Rejected(_) => -32003,
            _ => -32000,
        }
    }
}

/// The chain facts admission depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admission {
    pub(crate) chain_id: u64,
    /// Base fee of the next block.
    pub(crate) base_fee: u64,
    pub(crate) block_gas_limit: u64,
}

/// Whether an admitted transaction can go into the next block or must wait for a lower nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    Ready,
    Future,
}

/// Checks that do not depend on state: encoding, type, chain id, gas limits, fee fields.
pub(crate) fn check_static(
    tx: &StoredTx,
    encoded_len: usize,
    a: &Admission,
) -> Result<(), TxError> {
    let e = &tx.envelope;
    if encoded_len > MAX_TX_BYTES {
        return Err(TxError::Oversized {
            size: encoded_len,
            limit: MAX_TX_BYTES,
        });
    }
    if matches!(e.tx_type(), TxType::Eip4844) {
        return Err(TxError::TypeNotSupported);
    }
    if let Some(have) = e.chain_id()
        && have != a.chain_id
    {
        return Err(TxError::WrongChainId {
            have,
            want: a.chain_id,
        });
    }
    if e.kind().is_create() && e.input().len() > MAX_INITCODE_BYTES {
        return Err(TxError::InitCodeTooLarge {
            size: e.input().len(),
            limit: MAX_INITCODE_BYTES,
        });
    }
    if e.gas_limit() > a.block_gas_limit {
        return Err(TxError::GasLimitExceedsBlock);
    }
    if e.gas_limit() > exec::TX_GAS_LIMIT_CAP {
        return Err(TxError::GasLimitTooHigh {
            gas: e.gas_limit(),
            cap: exec::TX_GAS_LIMIT_CAP,
        });
    }
    let (intrinsic, floor) = exec::intrinsic_gas(&exec::tx_env(tx));
    if e.gas_limit() < intrinsic {
        return Err(TxError::IntrinsicGasTooLow {
            gas: e.gas_limit(),
            needed: intrinsic,
        });
    }
    if e.gas_limit() < floor {
        return Err(TxError::FloorDataGas {
            gas: e.gas_limit(),
            needed: floor,
        });
    }
    if let Some(tip) = e.max_priority_fee_per_gas()
        && tip > e.max_fee_per_gas()
    {
        return Err(TxError::TipAboveFeeCap);
    }
    if e.max_fee_per_gas() < u128::from(a.base_fee) {
        return Err(TxError::FeeCapTooLow {
            address: tx.sender,
            max_fee: e.max_fee_per_gas(),
            base_fee: a.base_fee,
        });
    }
    if e.nonce() == u64::MAX {
        return Err(TxError::NonceMax);
    }
    Ok(())
}

/// Checks against the sender's account: nonce, funds, EOA.
pub(crate) fn check_account(
    tx: &StoredTx,
    account: Option<&Account>,
    sender_is_delegated: bool,
) -> Result<Readiness, TxError> {
    let e = &tx.envelope;
    let state_nonce = account.map_or(0, |a| a.nonce);
    if e.nonce() < state_nonce {
        return Err(TxError::NonceTooLow {
            address: tx.sender,
            tx: e.nonce(),
            state: state_nonce,
        });
    }
    if account.is_some_and(|a| a.has_code()) && !sender_is_delegated {
        return Err(TxError::SenderNotEoa(tx.sender));
    }
    let have = account.map_or(U256::ZERO, |a| a.balance);
    let want = U256::from(e.gas_limit())
        .saturating_mul(U256::from(e.max_fee_per_gas()))
        .saturating_add(e.value());
    if have < want {
        return Err(TxError::InsufficientFunds {
            address: tx.sender,
            have,
            want,
        });
    }
    Ok(if e.nonce() == state_nonce {
        Readiness::Ready
    } else {
        Readiness::Future
    })
}

/// Accepted transactions not yet in a block, by sender and nonce.
#[derive(Debug)]
pub(crate) struct Pool {
    by_sender: AddressMap<BTreeMap<u64, Arc<StoredTx>>>,
    by_hash: B256Map<Arc<StoredTx>>,
    max_txs: usize,
}

impl Pool {
    pub(crate) fn new(max_txs: usize) -> Self {
        Self {
            by_sender: AddressMap::default(),
            by_hash: B256Map::default(),
            max_txs,
        }
    }

    pub(crate) fn get(&self, hash: &B256) -> Option<&Arc<StoredTx>> {
        self.by_hash.get(hash)
    }

    pub(crate) fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Adds a transaction, replacing one with the same sender and nonce if it pays at least
    /// [`PRICE_BUMP_PERCENT`] more. Returns the replaced transaction.
    pub(crate) fn insert(&mut self, tx: Arc<StoredTx>) -> Result<Option<Arc<StoredTx>>, TxError> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(TxError::AlreadyKnown);
        }
        let slot = self.by_sender.entry(tx.sender).or_default();
        let replaced = match slot.get(&tx.nonce()) {
            Some(old) => {
                if !outbids(&tx, old) {
                    return Err(TxError::ReplacementUnderpriced);
                }
                Some(old.clone())
            }
            None => {
                if self.by_hash.len() >= self.max_txs {
                    return Err(TxError::PoolFull);
                }
                None
            }
        };
        if let Some(old) = &replaced {
            self.by_hash.remove(&old.hash);
        }
        slot.insert(tx.nonce(), tx.clone());
        self.by_hash.insert(tx.hash, tx);
        Ok(replaced)
    }

    /// Removes one transaction.
    pub(crate) fn remove(&mut self, hash: &B256) -> Option<Arc<StoredTx>> {
        let tx = self.by_hash.remove(hash)?;
        if let Some(slot) = self.by_sender.get_mut(&tx.sender) {
            slot.remove(&tx.nonce());
            if slot.is_empty() {
                self.by_sender.remove(&tx.sender);
            }
        }
        Some(tx)
    }

    /// The pooled transaction with this sender and nonce.
    pub(crate) fn by_nonce(&self, sender: &Address, nonce: u64) -> Option<&Arc<StoredTx>> {
        self.by_sender.get(sender).and_then(|s| s.get(&nonce))
    }

    /// The next nonce a sender should use: past its state nonce and every consecutive pooled
    /// transaction.
    pub(crate) fn next_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(slot) = self.by_sender.get(sender) {
            for nonce in slot.range(state_nonce..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next += 1;
            }
        }
        next
    }

    /// Drops transactions whose nonce is already used.
    pub(crate) fn prune(&mut self, state_nonce: impl Fn(&Address) -> u64) -> Vec<Arc<StoredTx>> {
        let stale: Vec<B256> = self
            .by_sender
            .iter()
            .flat_map(|(sender, slot)| {
                let floor = state_nonce(sender);
                slot.range(..floor).map(|(_, tx)| tx.hash)
            })
            .collect();
        stale.iter().filter_map(|h| self.remove(h)).collect()
    }

    /// Transactions that can go into a block in order: per sender a run of consecutive nonces
    /// from its state nonce, senders interleaved by tip (highest first), as geth orders them.
    pub(crate) fn ready(
        &self,
        state_nonce: impl Fn(&Address) -> u64,
        base_fee: u64,
    ) -> Vec<Arc<StoredTx>> {
        let mut queues: Vec<VecDeque<Arc<StoredTx>>> = Vec::new();
        for (sender, slot) in &self.by_sender {
            let from = state_nonce(sender);
            let q: VecDeque<Arc<StoredTx>> = (from..)
                .zip(slot.range(from..))
                .take_while(|(expected, (nonce, _))| *nonce == expected)
                .map(|(_, (_, tx))| tx.clone())
                .collect();
            if !q.is_empty() {
                queues.push(q);
            }
        }
        let tip = |tx: &StoredTx| tx.envelope.effective_tip_per_gas(base_fee).unwrap_or(0);
        let mut heap: BinaryHeap<(u128, std::cmp::Reverse<usize>)> = queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|t| (tip(t), std::cmp::Reverse(i))))
            .collect();
        let mut out = Vec::new();
        while let Some((_, std::cmp::Reverse(i))) = heap.pop() {
            if let Some(tx) = queues[i].pop_front() {
                out.push(tx);
            }
            if let Some(next) = queues[i].front() {
                heap.push((tip(next), std::cmp::Reverse(i)));
            }
        }
        out
    }
}

fn outbids(new: &StoredTx, old: &StoredTx) -> bool {
    let bump = |v: u128| v.saturating_mul(100 + PRICE_BUMP_PERCENT) / 100;
    let new_tip = new
        .envelope
        .max_priority_fee_per_gas()
        .unwrap_or(new.envelope.max_fee_per_gas());
    let old_tip = old
        .envelope
        .max_priority_fee_per_gas()
        .unwrap_or(old.envelope.max_fee_per_gas());
    new.envelope.max_fee_per_gas() >= bump(old.envelope.max_fee_per_gas())
        && new_tip >= bump(old_tip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{
        consensus::{SignableTransaction, TxEip1559, TxEnvelope},
        network::TxSignerSync,
        primitives::{Bytes, TxKind},
        signers::local::PrivateKeySigner,
    };

    fn tx(signer: &PrivateKeySigner, nonce: u64, tip: u128, gas: u64, input: Bytes) -> StoredTx {
        let mut t = TxEip1559 {
            chain_id: 31337,
            nonce,
            gas_limit: gas,
            max_fee_per_gas: 10_000 + tip,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::repeat_byte(9)),
            value: U256::from(1),
            input,
            ..Default::default()
        };
        let sig = signer.sign_transaction_sync(&mut t).expect("sign");
        StoredTx::new(TxEnvelope::from(t.into_signed(sig)), signer.address())
    }

    fn admission() -> Admission {
        Admission {
            chain_id: 31337,
            base_fee: 7,
            block_gas_limit: 30_000_000,
        }
    }

    #[test]
    fn static_checks_name_the_problem_as_geth_does() {
        let s = PrivateKeySigner::random();
        let ok = tx(&s, 0, 1, 21_000, Bytes::new());
        assert_eq!(check_static(&ok, 100, &admission()), Ok(()));
        let low = tx(&s, 0, 1, 20_000, Bytes::new());
        let err = check_static(&low, 100, &admission()).expect_err("low gas");
        assert_eq!(
            err.to_string(),
            "intrinsic gas too low: gas 20000, minimum needed 21000"
        );
        let mut a = admission();
        a.chain_id = 1;
        assert!(matches!(
            check_static(&ok, 100, &a),
            Err(TxError::WrongChainId {
                have: 31337,
                want: 1
            })
        ));
        a = admission();
        a.base_fee = 1_000_000;
        assert!(
            check_static(&ok, 100, &a)
                .expect_err("fee cap")
                .to_string()
                .starts_with("max fee per gas less than block base fee")
        );
        assert!(matches!(
            check_static(&ok, MAX_TX_BYTES + 1, &admission()),
            Err(TxError::Oversized { .. })
        ));
        let big = tx(&s, 0, 1, 20_000_000, Bytes::new());
        assert!(matches!(
            check_static(&big, 100, &admission()),
            Err(TxError::GasLimitTooHigh { .. })
        ));
    }

    #[test]
    fn account_checks_cover_nonce_and_funds() {
        let s = PrivateKeySigner::random();
        let t = tx(&s, 3, 1, 21_000, Bytes::new());
        let rich = Account::with_balance(U256::from(u64::MAX));
        let mut acct = rich;
        acct.nonce = 4;
        let err = check_account(&t, Some(&acct), false).expect_err("nonce");
        assert!(err.to_string().starts_with("nonce too low"));
        assert_eq!(err.code(), -32003);
        acct.nonce = 3;
        assert_eq!(check_account(&t, Some(&acct), false), Ok(Readiness::Ready));
        acct.nonce = 1;
        assert_eq!(check_account(&t, Some(&acct), false), Ok(Readiness::Future));
        let err = check_account(&t, None, false).expect_err("funds");
        assert!(
            err.to_string()
                .starts_with("insufficient funds for gas * price + value")
        );
    }

    #[test]
    fn pool_orders_by_nonce_within_sender_and_tip_across_senders() {
        let a = PrivateKeySigner::random();
        let b = PrivateKeySigner::random();
        let mut pool = Pool::new(10);
        for t in [
            tx(&a, 1, 5, 21_000, Bytes::new()),
            tx(&a, 0, 1, 21_000, Bytes::new()),
            tx(&b, 0, 3, 21_000, Bytes::new()),
            tx(&a, 3, 9, 21_000, Bytes::new()),
        ] {
            pool.insert(Arc::new(t)).expect("insert");
        }
        assert_eq!(pool.next_nonce(&a.address(), 0), 2);
        let order: Vec<(Address, u64)> = pool
            .ready(|_| 0, 0)
            .iter()
            .map(|t| (t.sender, t.nonce()))
            .collect();
        assert_eq!(
            order,
            vec![(b.address(), 0), (a.address(), 0), (a.address(), 1)]
        );
        let pruned = pool.prune(|s| if *s == a.address() { 2 } else { 0 });
        assert_eq!(pruned.len(), 2);
        assert_eq!(pool.by_hash.len(), 2);
    }

    #[test]
    fn replacement_needs_a_bump_and_the_pool_is_bounded() {
        let a = PrivateKeySigner::random();
        let mut pool = Pool::new(1);
        let first = Arc::new(tx(&a, 0, 100, 21_000, Bytes::new()));
        pool.insert(first.clone()).expect("insert");
        assert_eq!(
            pool.insert(first.clone()).err(),
            Some(TxError::AlreadyKnown)
        );
        let cheap = tx(&a, 0, 105, 21_000, Bytes::from_static(b"x"));
        assert_eq!(
            pool.insert(Arc::new(cheap)).err(),
            Some(TxError::ReplacementUnderpriced)
        );
        let pricier = Arc::new(tx(&a, 0, 2_000, 22_000, Bytes::new()));
        let replaced = pool.insert(pricier).expect("replace");
        assert_eq!(replaced.map(|t| t.hash), Some(first.hash));
        let other = tx(&a, 1, 100, 21_000, Bytes::new());
        assert_eq!(pool.insert(Arc::new(other)).err(), Some(TxError::PoolFull));
    }
}
