//! World state: accounts, storage and code held in memory, the per-block state diffs that move
//! it forwards and backwards, read-only views of it at older blocks, and the overlay a block is
//! built in before it is published. Pure: persistence lives in `store`.

use std::{convert::Infallible, sync::Arc};

use alloy::primitives::{
    Address, B256, Bytes, U256, keccak256,
    map::{AddressMap, B256Map, HashMap},
};
use revm::{
    Database, DatabaseRef,
    bytecode::Bytecode,
    primitives::KECCAK_EMPTY,
    state::{AccountInfo, EvmState},
};

use super::codec::{self, Reader, Writer};

/// What the state keeps per account besides storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) balance: U256,
    pub(crate) nonce: u64,
    pub(crate) code_hash: B256,
}

impl Account {
    /// An account that holds only a balance.
    pub(crate) fn with_balance(balance: U256) -> Self {
        Self {
            balance,
            nonce: 0,
            code_hash: KECCAK_EMPTY,
        }
    }

    /// EIP-161 emptiness: no nonce, no balance, no code.
    pub(crate) fn is_empty(&self) -> bool {
        self.nonce == 0 && self.balance.is_zero() && self.code_hash == KECCAK_EMPTY
    }

    pub(crate) fn has_code(&self) -> bool {
        self.code_hash != KECCAK_EMPTY && self.code_hash != B256::ZERO
    }
}

/// One account's change in a block: its value before the block and after it (`None` = absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountChange {
    pub(crate) address: Address,
    pub(crate) prior: Option<Account>,
    pub(crate) post: Option<Account>,
}

/// One storage slot's change in a block (zero = absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotChange {
    pub(crate) address: Address,
    pub(crate) slot: U256,
    pub(crate) prior: U256,
    pub(crate) post: U256,
}

/// Everything a block changed in the state, with the prior values so it can be undone and
/// so older states can be read. Entries are sorted by key for lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StateDiff {
    pub(crate) accounts: Vec<AccountChange>,
    pub(crate) slots: Vec<SlotChange>,
    /// Code first deployed in this block. Code is content-addressed and never removed.
    pub(crate) codes: Vec<Bytes>,
}

impl StateDiff {
    /// The prior value of an account if this diff touched it.
    pub(crate) fn prior_account(&self, address: &Address) -> Option<Option<Account>> {
        self.accounts
            .binary_search_by(|c| c.address.cmp(address))
            .ok()
            .map(|i| self.accounts[i].prior)
    }

    /// The prior value of a slot if this diff touched it.
    pub(crate) fn prior_slot(&self, address: &Address, slot: &U256) -> Option<U256> {
        self.slots
            .binary_search_by(|c| (&c.address, &c.slot).cmp(&(address, slot)))
            .ok()
            .map(|i| self.slots[i].prior)
    }

    /// A commitment to the diff, chained from the parent's state root (see `commit_root`).
    pub(crate) fn digest(&self) -> B256 {
        let mut w = Writer::new();
        self.encode(&mut w);
        keccak256(w.into_bytes())
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.len(self.accounts.len());
        for c in &self.accounts {
            w.address(&c.address);
            encode_account(w, c.prior.as_ref());
            encode_account(w, c.post.as_ref());
        }
        w.len(self.slots.len());
        for c in &self.slots {
            w.address(&c.address);
            w.u256(&c.slot);
            w.u256(&c.prior);
            w.u256(&c.post);
        }
        w.len(self.codes.len());
        for code in &self.codes {
            w.bytes(code);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> codec::Result<Self> {
        let n = r.len(22)?;
        let mut accounts = Vec::with_capacity(n);
        for _ in 0..n {
            accounts.push(AccountChange {
                address: r.address()?,
                prior: decode_account(r)?,
                post: decode_account(r)?,
            });
        }
        let n = r.len(116)?;
        let mut slots = Vec::with_capacity(n);
        for _ in 0..n {
            slots.push(SlotChange {
                address: r.address()?,
                slot: r.u256()?,
                prior: r.u256()?,
                post: r.u256()?,
            });
        }
        let n = r.len(4)?;
        let mut codes = Vec::with_capacity(n);
        for _ in 0..n {
            codes.push(Bytes::copy_from_slice(r.bytes()?));
        }
        let diff = Self {
            accounts,
            slots,
            codes,
        };
        if !diff.is_sorted() {
            return Err(codec::Error::Invalid("state diff order"));
        }
        Ok(diff)
    }

    fn is_sorted(&self) -> bool {
        self.accounts
            .windows(2)
            .all(|w| w[0].address < w[1].address)
            && self
                .slots
                .windows(2)
                .all(|w| (&w[0].address, &w[0].slot) < (&w[1].address, &w[1].slot))
    }
}

fn encode_account(w: &mut Writer, account: Option<&Account>) {
    match account {
        None => w.u8(0),
        Some(a) => {
            w.u8(1);
            w.u256(&a.balance);
            w.u64(a.nonce);
            w.b256(&a.code_hash);
        }
    }
}

fn decode_account(r: &mut Reader<'_>) -> codec::Result<Option<Account>> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(Account {
            balance: r.u256()?,
            nonce: r.u64()?,
            code_hash: r.b256()?,
        })),
        _ => Err(codec::Error::Invalid("account tag")),
    }
}

/// The state root this chain reports: a commitment chained over every block's diff. It is
/// deterministic and changes whenever the state does, but it is not a Merkle-Patricia root, so
/// no proofs can be built against it.
pub(crate) fn commit_root(parent_root: B256, diff: &StateDiff) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(parent_root.as_slice());
    buf[32..].copy_from_slice(diff.digest().as_slice());
    keccak256(buf)
}

/// Read access to a state, current or historical.
pub(crate) trait StateRead {
    fn account(&self, address: &Address) -> Option<Account>;
    fn storage(&self, address: &Address, slot: &U256) -> U256;
    fn code(&self, hash: &B256) -> Option<Bytecode>;
    /// Every non-zero slot the account holds (needed when an account is destroyed).
    fn storage_slots(&self, address: &Address) -> Vec<U256>;
}

/// The latest state.
#[derive(Debug, Default)]
pub(crate) struct State {
    accounts: AddressMap<Account>,
    storage: AddressMap<HashMap<U256, U256>>,
    codes: B256Map<Bytecode>,
}

impl State {
    /// Moves the state forwards over a block's diff.
    pub(crate) fn apply(&mut self, diff: &StateDiff) {
        for code in &diff.codes {
            self.insert_code(code);
        }
        for c in &diff.accounts {
            set_account(&mut self.accounts, c.address, c.post);
        }
        for c in &diff.slots {
            set_slot(&mut self.storage, c.address, c.slot, c.post);
        }
    }

    /// Moves the state back over a block's diff (the block must be the last one applied).
    pub(crate) fn revert(&mut self, diff: &StateDiff) {
        for c in &diff.accounts {
            set_account(&mut self.accounts, c.address, c.prior);
        }
        for c in &diff.slots {
            set_slot(&mut self.storage, c.address, c.slot, c.prior);
        }
    }

    fn insert_code(&mut self, code: &Bytes) {
        let hash = keccak256(code);
        self.codes
            .entry(hash)
            .or_insert_with(|| Bytecode::new_raw(code.clone()));
    }
}

fn set_account(map: &mut AddressMap<Account>, address: Address, value: Option<Account>) {
    match value {
        Some(a) => {
            map.insert(address, a);
        }
        None => {
            map.remove(&address);
        }
    }
}

fn set_slot(map: &mut AddressMap<HashMap<U256, U256>>, address: Address, slot: U256, value: U256) {
    if value.is_zero() {
        if let Some(slots) = map.get_mut(&address) {
            slots.remove(&slot);
            if slots.is_empty() {
                map.remove(&address);
            }
        }
    } else {
        map.entry(address).or_default().insert(slot, value);
    }
}

impl StateRead for State {
    fn account(&self, address: &Address) -> Option<Account> {
        self.accounts.get(address).copied()
    }

    fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.storage
            .get(address)
            .and_then(|s| s.get(slot))
            .copied()
            .unwrap_or_default()
    }

    fn code(&self, hash: &B256) -> Option<Bytecode> {
        if *hash == KECCAK_EMPTY {
            return Some(Bytecode::new());
        }
        self.codes.get(hash).cloned()
    }

    fn storage_slots(&self, address: &Address) -> Vec<U256> {
        self.storage
            .get(address)
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default()
    }
}

/// The state as it was before a run of blocks: the latest state read through the prior values
/// of the diffs of every newer block (oldest first, so the first diff that touched a key holds
/// its value at the target block).
pub(crate) struct HistoricalState<'a> {
    pub(crate) latest: &'a State,
    pub(crate) newer: Vec<&'a StateDiff>,
}

impl StateRead for HistoricalState<'_> {
    fn account(&self, address: &Address) -> Option<Account> {
        for diff in &self.newer {
            if let Some(prior) = diff.prior_account(address) {
                return prior;
            }
        }
        self.latest.account(address)
    }

    fn storage(&self, address: &Address, slot: &U256) -> U256 {
        for diff in &self.newer {
            if let Some(prior) = diff.prior_slot(address, slot) {
                return prior;
            }
        }
        self.latest.storage(address, slot)
    }

    fn code(&self, hash: &B256) -> Option<Bytecode> {
        self.latest.code(hash)
    }

    fn storage_slots(&self, address: &Address) -> Vec<U256> {
        let mut slots: Vec<U256> = self
            .latest
            .storage_slots(address)
            .into_iter()
            .chain(
                self.newer
                    .iter()
                    .flat_map(|d| d.slots.iter())
                    .filter(|c| c.address == *address)
                    .map(|c| c.slot),
            )
            .collect();
        slots.sort_unstable();
        slots.dedup();
        slots.retain(|s| !self.storage(address, s).is_zero());
        slots
    }
}

/// Uncommitted changes layered over a base state: the blocks of one group commit are built in
/// here before they are written to disk and published.
pub(crate) struct Overlay<'a> {
    base: &'a dyn StateRead,
    accounts: AddressMap<Option<Account>>,
    storage: AddressMap<HashMap<U256, U256>>,
    codes: B256Map<Bytecode>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a dyn StateRead) -> Self {
        Self {
            base,
            accounts: AddressMap::default(),
            storage: AddressMap::default(),
            codes: B256Map::default(),
        }
    }

    /// Moves the overlay forwards over a diff built on top of it.
    pub(crate) fn apply(&mut self, diff: &StateDiff) {
        for code in &diff.codes {
            self.codes
                .entry(keccak256(code))
                .or_insert_with(|| Bytecode::new_raw(code.clone()));
        }
        for c in &diff.accounts {
            self.accounts.insert(c.address, c.post);
        }
        for c in &diff.slots {
            self.storage
                .entry(c.address)
                .or_default()
                .insert(c.slot, c.post);
        }
    }

    /// Turns the state changes revm reports for one transaction into a diff against this
    /// overlay, following revm's own commit rules (touched accounts only; self-destructed or
    /// EIP-161-empty touched accounts are removed with their storage).
    pub(crate) fn diff_of(&self, changes: &EvmState) -> StateDiff {
        let mut builder = DiffBuilder::default();
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            let prior = self.account(address);
            let info = &account.info;
            let post = Account {
                balance: info.balance,
                nonce: info.nonce,
                code_hash: info.code_hash,
            };
            // Self-destructed accounts and touched empty ones (EIP-161) leave the state,
            // storage included.
            if account.is_selfdestructed() || post.is_empty() {
                builder.account(*address, prior, None);
                for slot in self.storage_slots(address) {
                    let value = self.storage(address, &slot);
                    builder.slot(*address, slot, value, U256::ZERO);
                }
                continue;
            }
            builder.account(*address, prior, Some(post));
            if post.has_code()
                && self.code(&post.code_hash).is_none()
                && let Some(code) = &info.code
            {
                builder.code(code.original_bytes());
            }
            if account.is_created() {
                for slot in self.storage_slots(address) {
                    if !account.storage.contains_key(&slot) {
                        let value = self.storage(address, &slot);
                        builder.slot(*address, slot, value, U256::ZERO);
                    }
                }
            }
            for (slot, value) in account.changed_storage_slots() {
                builder.slot(*address, *slot, value.original_value, value.present_value);
            }
        }
        builder.finish()
    }
}

impl StateRead for Overlay<'_> {
    fn account(&self, address: &Address) -> Option<Account> {
        match self.accounts.get(address) {
            Some(a) => *a,
            None => self.base.account(address),
        }
    }

    fn storage(&self, address: &Address, slot: &U256) -> U256 {
        match self.storage.get(address).and_then(|s| s.get(slot)) {
            Some(v) => *v,
            None => self.base.storage(address, slot),
        }
    }

    fn code(&self, hash: &B256) -> Option<Bytecode> {
        self.codes
            .get(hash)
            .cloned()
            .or_else(|| self.base.code(hash))
    }

    fn storage_slots(&self, address: &Address) -> Vec<U256> {
        let mut slots = self.base.storage_slots(address);
        if let Some(local) = self.storage.get(address) {
            slots.extend(local.keys().copied());
        }
        slots.sort_unstable();
        slots.dedup();
        slots.retain(|s| !self.storage(address, s).is_zero());
        slots
    }
}

/// Merges changes into one diff, keeping the first prior and the last post value per key.
#[derive(Debug, Default)]
pub(crate) struct DiffBuilder {
    accounts: AddressMap<(Option<Account>, Option<Account>)>,
    slots: HashMap<(Address, U256), (U256, U256)>,
    codes: Vec<Bytes>,
}

impl DiffBuilder {
    pub(crate) fn account(
        &mut self,
        address: Address,
        prior: Option<Account>,
        post: Option<Account>,
    ) {
        self.accounts
            .entry(address)
            .and_modify(|e| e.1 = post)
            .or_insert((prior, post));
    }

    pub(crate) fn slot(&mut self, address: Address, slot: U256, prior: U256, post: U256) {
        self.slots
            .entry((address, slot))
            .and_modify(|e| e.1 = post)
            .or_insert((prior, post));
    }

    pub(crate) fn code(&mut self, code: Bytes) {
        if !self.codes.contains(&code) {
            self.codes.push(code);
        }
    }

    /// Merges a later diff into this one.
    pub(crate) fn merge(&mut self, diff: &StateDiff) {
        for c in &diff.accounts {
            self.account(c.address, c.prior, c.post);
        }
        for c in &diff.slots {
            self.slot(c.address, c.slot, c.prior, c.post);
        }
        for code in &diff.codes {
            self.code(code.clone());
        }
    }

    /// The sorted diff without no-op entries.
    pub(crate) fn finish(self) -> StateDiff {
        let mut accounts: Vec<AccountChange> = self
            .accounts
            .into_iter()
            .filter(|(_, (prior, post))| prior != post)
            .map(|(address, (prior, post))| AccountChange {
                address,
                prior,
                post,
            })
            .collect();
        accounts.sort_unstable_by_key(|a| a.address);
        let mut slots: Vec<SlotChange> = self
            .slots
            .into_iter()
            .filter(|(_, (prior, post))| prior != post)
            .map(|((address, slot), (prior, post))| SlotChange {
                address,
                slot,
                prior,
                post,
            })
            .collect();
        slots.sort_unstable_by(|a, b| (&a.address, &a.slot).cmp(&(&b.address, &b.slot)));
        StateDiff {
            accounts,
            slots,
            codes: self.codes,
        }
    }
}

/// Extra state layered over a read view for one `eth_call` (`stateOverride`).
#[derive(Default)]
pub(crate) struct Overrides {
    pub(crate) accounts: AddressMap<Account>,
    /// Accounts whose whole storage is replaced.
    pub(crate) replaced_storage: AddressMap<HashMap<U256, U256>>,
    /// Individual slots overridden.
    pub(crate) slots: HashMap<(Address, U256), U256>,
    pub(crate) codes: B256Map<Bytecode>,
}

/// A revm database over any state view plus block hashes, with optional call overrides.
pub(crate) struct EvmDb<'a> {
    pub(crate) state: &'a dyn StateRead,
    pub(crate) block_hashes: &'a dyn Fn(u64) -> B256,
    pub(crate) overrides: Option<Arc<Overrides>>,
}

impl EvmDb<'_> {
    fn account_info(&self, address: &Address) -> Option<AccountInfo> {
        let account = self
            .overrides
            .as_ref()
            .and_then(|o| o.accounts.get(address).copied())
            .or_else(|| self.state.account(address))?;
        let code = self.code_of(&account.code_hash).unwrap_or_default();
        Some(AccountInfo::new(
            account.balance,
            account.nonce,
            account.code_hash,
            code,
        ))
    }

    fn code_of(&self, hash: &B256) -> Option<Bytecode> {
        self.overrides
            .as_ref()
            .and_then(|o| o.codes.get(hash).cloned())
            .or_else(|| self.state.code(hash))
    }

    fn slot(&self, address: &Address, slot: &U256) -> U256 {
        if let Some(o) = &self.overrides {
            if let Some(v) = o.slots.get(&(*address, *slot)) {
                return *v;
            }
            if let Some(s) = o.replaced_storage.get(address) {
                return s.get(slot).copied().unwrap_or_default();
            }
        }
        self.state.storage(address, slot)
    }
}

impl DatabaseRef for EvmDb<'_> {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.account_info(&address))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.code_of(&code_hash).unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        Ok(self.slot(&address, &index))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok((self.block_hashes)(number))
    }
}

impl Database for EvmDb<'_> {
    type Error = Infallible;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        self.basic_ref(address)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        self.code_by_hash_ref(code_hash)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.storage_ref(address, index)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        self.block_hash_ref(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(balance: u64, nonce: u64) -> Account {
        Account {
            balance: U256::from(balance),
            nonce,
            code_hash: KECCAK_EMPTY,
        }
    }

    fn diff(builder: impl FnOnce(&mut DiffBuilder)) -> StateDiff {
        let mut b = DiffBuilder::default();
        builder(&mut b);
        b.finish()
    }

    #[test]
    fn apply_then_revert_restores_the_prior_state() {
        let a = Address::repeat_byte(1);
        let b = Address::repeat_byte(2);
        let mut state = State::default();
        state.apply(&diff(|d| {
            d.account(a, None, Some(acct(100, 0)));
            d.slot(a, U256::from(1), U256::ZERO, U256::from(5));
        }));
        let d2 = diff(|d| {
            d.account(a, Some(acct(100, 0)), Some(acct(40, 1)));
            d.account(b, None, Some(acct(60, 0)));
            d.slot(a, U256::from(1), U256::from(5), U256::ZERO);
            d.slot(a, U256::from(2), U256::ZERO, U256::from(9));
        });
        state.apply(&d2);
        assert_eq!(state.account(&a), Some(acct(40, 1)));
        assert_eq!(state.storage(&a, &U256::from(1)), U256::ZERO);
        assert_eq!(state.storage(&a, &U256::from(2)), U256::from(9));

        let old = HistoricalState {
            latest: &state,
            newer: vec![&d2],
        };
        assert_eq!(old.account(&a), Some(acct(100, 0)));
        assert_eq!(old.account(&b), None);
        assert_eq!(old.storage(&a, &U256::from(1)), U256::from(5));
        assert_eq!(old.storage_slots(&a), vec![U256::from(1)]);

        state.revert(&d2);
        assert_eq!(state.account(&a), Some(acct(100, 0)));
        assert_eq!(state.account(&b), None);
        assert_eq!(state.storage(&a, &U256::from(1)), U256::from(5));
        assert_eq!(state.storage(&a, &U256::from(2)), U256::ZERO);
    }

    #[test]
    fn builder_keeps_first_prior_and_last_post_and_drops_no_ops() {
        let a = Address::repeat_byte(1);
        let d = diff(|d| {
            d.account(a, Some(acct(1, 0)), Some(acct(2, 0)));
            d.account(a, Some(acct(2, 0)), Some(acct(1, 0)));
            d.slot(a, U256::from(3), U256::ZERO, U256::from(1));
            d.slot(a, U256::from(3), U256::from(1), U256::from(2));
        });
        assert!(d.accounts.is_empty());
        assert_eq!(
            d.slots,
            vec![SlotChange {
                address: a,
                slot: U256::from(3),
                prior: U256::ZERO,
                post: U256::from(2)
            }]
        );
    }

    #[test]
    fn diffs_round_trip_through_the_codec() {
        let d = diff(|d| {
            d.account(Address::repeat_byte(2), None, Some(acct(7, 1)));
            d.account(Address::repeat_byte(1), Some(acct(7, 1)), None);
            d.slot(
                Address::repeat_byte(1),
                U256::from(9),
                U256::from(1),
                U256::ZERO,
            );
            d.code(Bytes::from_static(&[0x60, 0x00]));
        });
        let mut w = Writer::new();
        d.encode(&mut w);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(StateDiff::decode(&mut r), Ok(d));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn overlay_reads_through_without_touching_the_base() {
        let a = Address::repeat_byte(1);
        let mut state = State::default();
        state.apply(&diff(|d| {
            d.account(a, None, Some(acct(1, 1)));
            d.slot(a, U256::from(1), U256::ZERO, U256::from(5));
        }));
        let mut overlay = Overlay::new(&state);
        assert_eq!(overlay.storage(&a, &U256::from(1)), U256::from(5));
        overlay.apply(&diff(|d| {
            d.slot(a, U256::from(1), U256::from(5), U256::from(6));
        }));
        assert_eq!(overlay.storage(&a, &U256::from(1)), U256::from(6));
        assert_eq!(state.storage(&a, &U256::from(1)), U256::from(5));
        overlay.apply(&diff(|d| {
            d.slot(a, U256::from(1), U256::from(6), U256::ZERO);
        }));
        assert!(overlay.storage_slots(&a).is_empty());
        assert_eq!(state.storage_slots(&a), vec![U256::from(1)]);
    }

    /// Snapshot of everything a state view answers for a small key space.
    fn snapshot(view: &dyn StateRead) -> Vec<(Option<Account>, Vec<U256>)> {
        (0u8..4)
            .map(|a| {
                let address = Address::repeat_byte(a);
                let slots = (0u64..4)
                    .map(|k| view.storage(&address, &U256::from(k)))
                    .collect();
                (view.account(&address), slots)
            })
            .collect()
    }

    proptest::proptest! {
        /// Applying blocks of random writes, every older state can be read through the
        /// diffs, and reverting them all in reverse restores each earlier state exactly.
        #[test]
        fn history_and_rollback_restore_every_earlier_state(
            blocks in proptest::collection::vec(
                proptest::collection::vec((0u8..4, 0u64..4, 0u64..3, proptest::bool::ANY), 0..6),
                1..8,
            )
        ) {
            let mut state = State::default();
            let mut snapshots = vec![snapshot(&state)];
            let mut diffs = Vec::new();
            for writes in &blocks {
                let mut b = DiffBuilder::default();
                for (a, key, value, touch_account) in writes {
                    let address = Address::repeat_byte(*a);
                    // Priors are the values before the block; the builder keeps the first.
                    let current = state.account(&address);
                    if *touch_account {
                        let post = (*value > 0).then(|| acct(*value, *key));
                        b.account(address, current, post);
                    }
                    let prior = state.storage(&address, &U256::from(*key));
                    b.slot(address, U256::from(*key), prior, U256::from(*value));
                }
                let diff = b.finish();
                state.apply(&diff);
                diffs.push(diff);
                snapshots.push(snapshot(&state));
            }
            for n in 0..diffs.len() {
                let past = HistoricalState { latest: &state, newer: diffs[n..].iter().collect() };
                proptest::prop_assert_eq!(snapshot(&past), snapshots[n].clone());
            }
            for (n, diff) in diffs.iter().enumerate().rev() {
                state.revert(diff);
                proptest::prop_assert_eq!(snapshot(&state), snapshots[n].clone());
            }
        }
    }
}
