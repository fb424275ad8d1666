//! Canonical hashing of entries and the hash chain.
//!
//! The content hash covers everything a caller supplied for an entry (key, effective date,
//! description, source, the entry it reverses and every posting), in a length-prefixed binary
//! encoding, so two encodings can never collide by shifting bytes between fields. It decides
//! idempotent replays and feeds the chain. The chain hash of a posted entry covers its chain
//! sequence number, the previous posted entry's hash, its id and its content hash; changing any
//! stored byte of a posted entry or its postings, or reordering, inserting or removing posted
//! entries, breaks the chain from that point on.

use std::fmt;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use super::ids::{AccountId, EntryId, IdempotencyKey, Source};
use super::money::{Amount, Direction};
use crate::error::{Error, Result};

const CONTENT_TAG: &[u8] = b"propledger-ledger/entry-content/v1";
const CHAIN_TAG: &[u8] = b"propledger-ledger/chain-link/v1";

/// A SHA-256 digest of an entry's content or of a chain link.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EntryHash(pub [u8; 32]);

impl EntryHash {
    /// The hash the first posted entry links to: 32 zero bytes.
    pub const GENESIS: EntryHash = EntryHash([0; 32]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn from_stored(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Corrupt(format!("hash of {} bytes", bytes.len())))?;
        Ok(EntryHash(arr))
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&alloy_primitives::hex::encode(self.0))
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({self})")
    }
}

/// One posting as hashed: account, direction, amount.
pub(crate) type HashedPosting<'a> = (AccountId, Direction, &'a Amount);

/// Everything hashed into an entry's content hash.
pub(crate) struct ContentRef<'a> {
    pub(crate) key: &'a IdempotencyKey,
    pub(crate) effective_date: NaiveDate,
    pub(crate) description: &'a str,
    pub(crate) source: &'a Source,
    pub(crate) reverses: Option<EntryId>,
    pub(crate) postings: Vec<HashedPosting<'a>>,
}

fn put_bytes(h: &mut Sha256, bytes: &[u8]) {
    // Field lengths are bounded far below u32::MAX by validation.
    h.update((bytes.len() as u32).to_be_bytes());
    h.update(bytes);
}

impl ContentRef<'_> {
    /// The content hash.
    pub(crate) fn hash(&self) -> EntryHash {
        let mut h = Sha256::new();
        put_bytes(&mut h, CONTENT_TAG);
        put_bytes(&mut h, self.key.as_str().as_bytes());
        put_bytes(
            &mut h,
            self.effective_date
                .format("%Y-%m-%d")
                .to_string()
                .as_bytes(),
        );
        put_bytes(&mut h, self.description.as_bytes());
        put_bytes(&mut h, self.source.to_string().as_bytes());
        match self.reverses {
            None => h.update([0u8]),
            Some(id) => {
                h.update([1u8]);
                h.update(id.get().to_be_bytes());
            }
        }
        h.update((self.postings.len() as u32).to_be_bytes());
        for (account, direction, amount) in &self.postings {
            h.update(account.get().to_be_bytes());
            h.update([match direction {
                Direction::Debit => b'D',
                Direction::Credit => b'C',
            }]);
            put_bytes(&mut h, amount.currency().code().as_str().as_bytes());
            h.update([amount.currency().scale() as u8]);
            h.update(amount.minor_units().to_be_bytes());
        }
        EntryHash(h.finalize().into())
    }
}

/// The chain hash of the posted entry with sequence number `seq`.
pub fn chain_hash(seq: u64, prev: &EntryHash, entry: EntryId, content: &EntryHash) -> EntryHash {
    let mut h = Sha256::new();
    put_bytes(&mut h, CHAIN_TAG);
    h.update(seq.to_be_bytes());
    h.update(prev.0);
    h.update(entry.get().to_be_bytes());
    h.update(content.0);
    EntryHash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::money::Currency;

    fn content<'a>(
        key: &'a IdempotencyKey,
        source: &'a Source,
        amount: &'a Amount,
    ) -> ContentRef<'a> {
        ContentRef {
            key,
            effective_date: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            description: "rent",
            source,
            reverses: None,
            postings: vec![
                (AccountId::new(1), Direction::Debit, amount),
                (AccountId::new(2), Direction::Credit, amount),
            ],
        }
    }

    #[test]
    fn content_hash_is_deterministic_and_sensitive() {
        let usd = Currency::parse("USD", 2).unwrap();
        let key = IdempotencyKey::parse("k1").unwrap();
        let source = Source::operator("op-1").unwrap();
        let a = Amount::parse("10.00", usd).unwrap();
        let base = content(&key, &source, &a).hash();
        assert_eq!(base, content(&key, &source, &a).hash());

        let b = Amount::parse("10.01", usd).unwrap();
        assert_ne!(base, content(&key, &source, &b).hash());
        let mut c = content(&key, &source, &a);
        c.description = "rent ";
        assert_ne!(base, c.hash());
        let mut c = content(&key, &source, &a);
        c.postings.swap(0, 1);
        assert_ne!(base, c.hash());
        let mut c = content(&key, &source, &a);
        c.reverses = Some(EntryId::new(1));
        assert_ne!(base, c.hash());
        // Same value, different scale of the same code: different content.
        let usd4 = Currency::parse("USD", 4).unwrap();
        let d = Amount::parse("10.00", usd4).unwrap();
        assert_ne!(base, content(&key, &source, &d).hash());
    }

    #[test]
    fn chain_hash_binds_every_input() {
        let c = EntryHash([7; 32]);
        let base = chain_hash(1, &EntryHash::GENESIS, EntryId::new(5), &c);
        assert_ne!(
            base,
            chain_hash(2, &EntryHash::GENESIS, EntryId::new(5), &c)
        );
        assert_ne!(
            base,
            chain_hash(1, &EntryHash([1; 32]), EntryId::new(5), &c)
        );
        assert_ne!(
            base,
            chain_hash(1, &EntryHash::GENESIS, EntryId::new(6), &c)
        );
        assert_ne!(
            base,
            chain_hash(1, &EntryHash::GENESIS, EntryId::new(5), &EntryHash([8; 32]))
        );
        assert_eq!(base.to_string().len(), 64);
    }
}
