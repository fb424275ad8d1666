//! A small binary codec for the chain's on-disk records: fixed-width big-endian integers,
//! fixed-size hashes and length-prefixed byte strings. Pure: it knows nothing about files.

use alloy::primitives::{Address, B256, U256};

/// Decoding failures. Every one of them means the bytes are not a record this codec wrote.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Error {
    /// The input ended in the middle of a value.
    #[error("record truncated while reading {0}")]
    Truncated(&'static str),
    /// A value was read but is not allowed where it appears.
    #[error("invalid {0} in record")]
    Invalid(&'static str),
    /// Bytes were left over after the last field.
    #[error("{0} unexpected trailing bytes in record")]
    Trailing(usize),
}

/// Result alias for decoding.
pub(crate) type Result<T> = std::result::Result<T, Error>;

/// Appends values to a byte buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn address(&mut self, v: &Address) {
        self.buf.extend_from_slice(v.as_slice());
    }

    pub(crate) fn b256(&mut self, v: &B256) {
        self.buf.extend_from_slice(v.as_slice());
    }

    pub(crate) fn u256(&mut self, v: &U256) {
        self.buf.extend_from_slice(&v.to_be_bytes::<32>());
    }

    /// A length-prefixed byte string.
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        // Records are bounded far below 4 GiB (see `store::MAX_RECORD_BYTES`).
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.buf.extend_from_slice(v);
    }

    /// A collection length.
    pub(crate) fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// Direct access for encoders that write into a `Vec<u8>` (RLP, EIP-2718).
    pub(crate) fn with_buf(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        self.u32(0);
        f(&mut self.buf);
        let len = u32::try_from(self.buf.len() - start - 4).unwrap_or(u32::MAX);
        self.buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Reads values back from a byte slice.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>("u8")?[0])
    }

    pub(crate) fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::Invalid("bool")),
        }
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array("u32")?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array("u64")?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array("i64")?))
    }

    pub(crate) fn address(&mut self) -> Result<Address> {
        Ok(Address::from(self.array::<20>("address")?))
    }

    pub(crate) fn b256(&mut self) -> Result<B256> {
        Ok(B256::from(self.array::<32>("hash")?))
    }

    pub(crate) fn u256(&mut self) -> Result<U256> {
        Ok(U256::from_be_bytes(self.array::<32>("u256")?))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len, "byte string")
    }

    /// A collection length, checked against the bytes left so a corrupt length cannot make
    /// the caller reserve an absurd amount of memory.
    pub(crate) fn len(&mut self, min_item_bytes: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item_bytes.max(1)) > self.buf.len() {
            return Err(Error::Invalid("collection length"));
        }
        Ok(n)
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Trailing(self.buf.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        let mut w = Writer::new();
        w.u8(7);
        w.bool(true);
        w.u32(0xdead_beef);
        w.u64(u64::MAX);
        w.i64(-5);
        w.address(&Address::repeat_byte(0x11));
        w.b256(&B256::repeat_byte(0x22));
        w.u256(&U256::from(123_456u64));
        w.bytes(b"hello");
        w.with_buf(|b| b.extend_from_slice(b"rlp"));
        w.len(3);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.bool(), Ok(true));
        assert_eq!(r.u32(), Ok(0xdead_beef));
        assert_eq!(r.u64(), Ok(u64::MAX));
        assert_eq!(r.i64(), Ok(-5));
        assert_eq!(r.address(), Ok(Address::repeat_byte(0x11)));
        assert_eq!(r.b256(), Ok(B256::repeat_byte(0x22)));
        assert_eq!(r.u256(), Ok(U256::from(123_456u64)));
        assert_eq!(r.bytes(), Ok(&b"hello"[..]));
        assert_eq!(r.bytes(), Ok(&b"rlp"[..]));
        assert_eq!(r.u32(), Ok(3));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn rejects_truncation_bad_bools_and_huge_lengths() {
        assert_eq!(Reader::new(&[0, 0]).u32(), Err(Error::Truncated("u32")));
        assert_eq!(Reader::new(&[2]).bool(), Err(Error::Invalid("bool")));
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff]).len(1),
            Err(Error::Invalid("collection length"))
        );
        assert_eq!(
            Reader::new(&[0, 0, 0, 9, 1]).bytes(),
            Err(Error::Truncated("byte string"))
        );
        assert_eq!(Reader::new(&[1]).finish(), Err(Error::Trailing(1)));
    }
}
