//! On-disk persistence: one append-only, checksummed log of records (genesis, blocks with
//! their state diffs, rewinds, clock changes, accepted pending transactions) in the data
//! directory. Every record is written and `fdatasync`ed before what it records is acknowledged
//! or made visible; opening the log replays it and cuts off a torn tail, so a crash at any
//! point (kill -9 included) loses nothing that was acknowledged.
//!
//! Frame: `magic u32 | len u32 | seq u64 | checksum [8] | payload[len]`, where the checksum is
//! the first 8 bytes of keccak256(seq || payload) and `seq` counts records from 0. A frame that
//! is short, has a wrong magic, length, sequence number or checksum ends the log. The file is
//! preallocated in chunks so that appending does not change its size, which keeps `fdatasync`
//! from having to commit metadata on every write.

use std::{
    fs::{File, OpenOptions},
    io::{BufReader, Read},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use alloy::{
    eips::eip2718::{Decodable2718, Encodable2718},
    primitives::keccak256,
};
use nix::fcntl::{Flock, FlockArg};

use super::{
    block::{StoredBlock, StoredTx},
    codec::{self, Reader, Writer},
    genesis::GenesisSpec,
    state::StateDiff,
};

/// Name of the log inside the data directory.
pub(crate) const LOG_FILE: &str = "chain.log";
const MAGIC: u32 = 0x504c_4331; // "PLC1"
const FRAME_HEADER_BYTES: usize = 24;
/// No record may be larger than this (a block's transactions are bounded far below it by the
/// request body limit and the block gas limit).
pub(crate) const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;
/// The log grows in steps of this many bytes.
const PREALLOC_BYTES: u64 = 16 * 1024 * 1024;

/// Failures of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another process")]
    Locked(PathBuf),
    /// A record passed its checksum but could not be decoded: written by another version or
    /// damaged in a way a checksum cannot catch.
    #[error("record {seq} in {path} is unreadable: {reason}")]
    Corrupt {
        /// The record's sequence number.
        seq: u64,
        /// The log.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A record is larger than the store allows.
    #[error("record of {0} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")]
    TooLarge(usize),
}

/// Result alias for the store.
pub(crate) type Result<T> = std::result::Result<T, Error>;

/// A record as read back from the log.
#[derive(Debug)]
pub(crate) enum Record {
    /// The first record: what block 0 and the initial state are made of.
    Genesis(GenesisSpec),
    /// A block appended to the chain, with its state diff.
    Block(Box<StoredBlock>, StateDiff),
    /// Every block above this number was dropped (evm_revert, reorg).
    Rewind(u64),
    /// The dev clock offset changed (evm_increaseTime, evm_setNextBlockTimestamp).
    TimeOffset(i64),
    /// A transaction was accepted into the pending pool.
    PendingTx(Box<StoredTx>),
    /// The chain was created in production mode (written once, right after genesis; a log
    /// without it is a development chain).
    Production,
}

const KIND_GENESIS: u8 = 1;
const KIND_BLOCK: u8 = 2;
const KIND_REWIND: u8 = 3;
const KIND_TIME: u8 = 4;
const KIND_PENDING: u8 = 5;
const KIND_PRODUCTION: u8 = 6;

/// Encodes the genesis record.
pub(crate) fn encode_genesis(spec: &GenesisSpec) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(KIND_GENESIS);
    spec.encode(&mut w);
    w.into_bytes()
}

/// Encodes a block record.
pub(crate) fn encode_block(block: &StoredBlock, diff: &StateDiff) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(KIND_BLOCK);
    block.encode(&mut w);
    diff.encode(&mut w);
    w.into_bytes()
}

/// Encodes a rewind record.
pub(crate) fn encode_rewind(to: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(KIND_REWIND);
    w.u64(to);
    w.into_bytes()
}

/// Encodes a clock-offset record.
pub(crate) fn encode_time_offset(offset_secs: i64) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(KIND_TIME);
    w.i64(offset_secs);
    w.into_bytes()
}

/// Encodes the production-mode record.
pub(crate) fn encode_production() -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(KIND_PRODUCTION);
    w.into_bytes()
}

/// Encodes a pending-transaction record.
pub(crate) fn encode_pending(tx: &StoredTx) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(KIND_PENDING);
    w.with_buf(|b| tx.envelope.encode_2718(b));
    w.address(&tx.sender);
    w.into_bytes()
}

/// Decodes one record payload.
pub(crate) fn decode(payload: &[u8]) -> codec::Result<Record> {
    let mut r = Reader::new(payload);
    let record = match r.u8()? {
        KIND_GENESIS => Record::Genesis(GenesisSpec::decode(&mut r)?),
        KIND_BLOCK => {
            let block = StoredBlock::decode(&mut r)?;
            let diff = StateDiff::decode(&mut r)?;
            Record::Block(Box::new(block), diff)
        }
        KIND_REWIND => Record::Rewind(r.u64()?),
        KIND_TIME => Record::TimeOffset(r.i64()?),
        KIND_PENDING => {
            let envelope = alloy::consensus::TxEnvelope::decode_2718(&mut r.bytes()?)
                .map_err(|_| codec::Error::Invalid("pending transaction"))?;
            Record::PendingTx(Box::new(StoredTx::new(envelope, r.address()?)))
        }
        KIND_PRODUCTION => Record::Production,
        _ => return Err(codec::Error::Invalid("record kind")),
    };
    r.finish()?;
    Ok(record)
}

fn checksum(seq: u64, payload: &[u8]) -> [u8; 8] {
    let mut buf = Vec::with_capacity(8 + payload.len());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(payload);
    let mut out = [0u8; 8];
    out.copy_from_slice(&keccak256(&buf)[..8]);
    out
}

/// Frames one payload.
fn frame(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&checksum(seq, payload));
    out.extend_from_slice(payload);
}

/// The open log. Only the miner thread holds it.
#[derive(Debug)]
pub(crate) struct Store {
    file: Flock<File>,
    path: PathBuf,
    /// Where the next frame goes (end of the valid log).
    end: u64,
    /// Bytes allocated on disk.
    allocated: u64,
    next_seq: u64,
}

/// What opening found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenReport {
    /// Records replayed.
    pub(crate) records: u64,
    /// Bytes of a torn or corrupt tail that were cut off.
    pub(crate) discarded_bytes: u64,
}

impl Store {
    /// Opens (creating if needed) the log in `dir`, feeding every valid record to `replay` in
    /// order, and cuts off anything after the last valid record.
    pub(crate) fn open<E>(
        dir: &Path,
        mut replay: impl FnMut(Record) -> std::result::Result<(), E>,
    ) -> std::result::Result<(Self, OpenReport), E>
    where
        E: From<Error>,
    {
        let io = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { op, path, source }
        };
        std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        let path = dir.join(LOG_FILE);
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open", &path))?;
        let file = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|_| Error::Locked(dir.to_path_buf()))?;
        if created {
            // Make the new file's directory entry durable too.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io("sync directory", dir))?;
        }
        let file_len = file.metadata().map_err(io("stat", &path))?.len();

        let mut frames = Frames::new(BufReader::with_capacity(1 << 20, &*file));
        while let Some((seq, payload)) = frames.next().map_err(io("read", &path))? {
            let record = decode(payload).map_err(|e| Error::Corrupt {
                seq,
                path: path.clone(),
                reason: e.to_string(),
            })?;
            replay(record)?;
        }
        let (offset, seq) = (frames.offset, frames.seq);
        drop(frames);

        let report = OpenReport {
            records: seq,
            discarded_bytes: nonzero_tail(&file, offset, file_len).map_err(io("read", &path))?,
        };
        // Drop the tail (torn frame or garbage) and hand back fresh, zeroed space after the
        // valid log, so nothing stale can ever follow a new frame.
        let allocated = (offset / PREALLOC_BYTES + 1) * PREALLOC_BYTES;
        if report.discarded_bytes > 0 || file_len != allocated {
            file.set_len(offset).map_err(io("truncate", &path))?;
            preallocate(&file, allocated).map_err(io("preallocate", &path))?;
            file.sync_all().map_err(io("sync", &path))?;
        }
        Ok((
            Self {
                file,
                path,
                end: offset,
                allocated,
                next_seq: seq,
            },
            report,
        ))
    }

    /// Appends payloads as consecutive frames in one write. Not durable until [`Store::sync`].
    pub(crate) fn append(&mut self, payloads: &[Vec<u8>]) -> Result<()> {
        if payloads.is_empty() {
            return Ok(());
        }
        let total: usize = payloads.iter().map(|p| FRAME_HEADER_BYTES + p.len()).sum();
        let mut buf = Vec::with_capacity(total);
        let mut seq = self.next_seq;
        for p in payloads {
            if p.len() > MAX_RECORD_BYTES {
                return Err(Error::TooLarge(p.len()));
            }
            frame(seq, p, &mut buf);
            seq += 1;
        }
        let needed = self.end + buf.len() as u64;
        if needed > self.allocated {
            let allocated = (needed / PREALLOC_BYTES + 1) * PREALLOC_BYTES;
            preallocate(&self.file, allocated).map_err(|source| Error::Io {
                op: "preallocate",
                path: self.path.clone(),
                source,
            })?;
            self.allocated = allocated;
        }
        self.file
            .write_all_at(&buf, self.end)
            .map_err(|source| Error::Io {
                op: "write",
                path: self.path.clone(),
                source,
            })?;
        self.end = needed;
        self.next_seq = seq;
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(|source| Error::Io {
            op: "sync",
            path: self.path.clone(),
            source,
        })
    }
}

fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    let len = i64::try_from(len).map_err(|_| std::io::Error::other("file too large"))?;
    match nix::fcntl::posix_fallocate(file, 0, len) {
        Ok(()) => Ok(()),
        // Filesystems without fallocate: fall back to extending the file (sparse).
        Err(nix::errno::Errno::EOPNOTSUPP) => {
            let current = file.metadata()?.len();
            if (len as u64) > current {
                file.set_len(len as u64)?;
            }
            Ok(())
        }
        Err(e) => Err(std::io::Error::from(e)),
    }
}

/// The valid frames at the start of a log, in order: reading stops at the first frame that is
/// short or fails a check (magic, length, sequence number, checksum).
struct Frames<R> {
    reader: R,
    /// Sequence number of the next frame.
    seq: u64,
    /// Offset just past the last valid frame.
    offset: u64,
    header: [u8; FRAME_HEADER_BYTES],
    payload: Vec<u8>,
}

impl<R: Read> Frames<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            seq: 0,
            offset: 0,
            header: [0; FRAME_HEADER_BYTES],
            payload: Vec::new(),
        }
    }

    /// The next frame's sequence number and payload, or `None` where the valid log ends.
    fn next(&mut self) -> std::io::Result<Option<(u64, &[u8])>> {
        let header = &mut self.header;
        if read_full(&mut self.reader, header)? < FRAME_HEADER_BYTES {
            return Ok(None);
        }
        let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let frame_seq = u64::from_be_bytes(header[8..16].try_into().unwrap_or_default());
        if magic != MAGIC || len > MAX_RECORD_BYTES || frame_seq != self.seq {
            return Ok(None);
        }
        self.payload.resize(len, 0);
        if read_full(&mut self.reader, &mut self.payload)? < len {
            return Ok(None);
        }
        if checksum(self.seq, &self.payload)[..] != self.header[16..24] {
            return Ok(None);
        }
        self.offset += (FRAME_HEADER_BYTES + len) as u64;
        self.seq += 1;
        Ok(Some((self.seq - 1, &self.payload)))
    }
}

/// Feeds every valid record of the log in `dir` to `replay`, reading only: the log may be in
/// use by a running chain, whose appends past what has been read are simply not seen.
/// Returns the records read and the bytes they take.
pub(crate) fn read_records<E>(
    dir: &Path,
    mut replay: impl FnMut(Record) -> std::result::Result<(), E>,
) -> std::result::Result<(u64, u64), E>
where
    E: From<Error>,
{
    let path = dir.join(LOG_FILE);
    let io = |op: &'static str| {
        let path = path.clone();
        move |source| Error::Io { op, path, source }
    };
    let file = File::open(&path).map_err(io("open"))?;
    let mut frames = Frames::new(BufReader::with_capacity(1 << 20, file));
    while let Some((seq, payload)) = frames.next().map_err(io("read"))? {
        let record = decode(payload).map_err(|e| Error::Corrupt {
            seq,
            path: path.clone(),
            reason: e.to_string(),
        })?;
        replay(record)?;
    }
    Ok((frames.seq, frames.offset))
}

/// Copies the durable, valid part of the log in `src_dir` (which a running chain may be
/// appending to) into a new log in `dst_dir`, synced. The source is synced first, so what is
/// copied is on disk at the source too; a frame being written meanwhile fails its checksum
/// and ends the copy. Returns the bytes copied.
pub(crate) fn copy_durable_prefix(src_dir: &Path, dst_dir: &Path) -> Result<u64> {
    let src = src_dir.join(LOG_FILE);
    let dst = dst_dir.join(LOG_FILE);
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { op, path, source }
    };
    let file = File::open(&src).map_err(io("open", &src))?;
    file.sync_data().map_err(io("sync", &src))?;
    let mut frames = Frames::new(BufReader::with_capacity(1 << 20, &file));
    while frames.next().map_err(io("read", &src))?.is_some() {}
    let end = frames.offset;
    drop(frames);
    std::io::Seek::seek(&mut &file, std::io::SeekFrom::Start(0)).map_err(io("seek", &src))?;
    std::fs::create_dir_all(dst_dir).map_err(io("create directory", dst_dir))?;
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&dst)
        .map_err(io("create", &dst))?;
    let mut reader = std::io::Read::take(&file, end);
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, &out);
    let copied = std::io::copy(&mut reader, &mut writer).map_err(io("copy", &dst))?;
    std::io::Write::flush(&mut writer).map_err(io("write", &dst))?;
    drop(writer);
    out.sync_all().map_err(io("sync", &dst))?;
    if copied != end {
        return Err(Error::Io {
            op: "copy",
            path: src,
            source: std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the log shrank while it was copied",
            ),
        });
    }
    File::open(dst_dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory", dst_dir))?;
    Ok(end)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// How many bytes after `from` are not zero-fill (a torn frame or garbage), counted up to the
/// last non-zero byte.
fn nonzero_tail(file: &File, from: u64, len: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = from;
    let mut last_nonzero = None;
    while pos < len {
        let n = file.read_at(&mut buf, pos)?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().rposition(|b| *b != 0) {
            last_nonzero = Some(pos + i as u64);
        }
        pos += n as u64;
    }
    Ok(last_nonzero.map_or(0, |p| p + 1 - from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, U256};

    fn genesis() -> GenesisSpec {
        GenesisSpec {
            chain_id: 1,
            timestamp: 2,
            gas_limit: 3,
            base_fee: 4,
            alloc: vec![(Address::repeat_byte(1), U256::from(5))],
        }
    }

    fn replay_all(dir: &Path) -> (Store, OpenReport, Vec<Record>) {
        let mut records = Vec::new();
        let (store, report) = Store::open(dir, |r| {
            records.push(r);
            Ok::<_, Error>(())
        })
        .expect("open");
        (store, report, records)
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut store, report, records) = replay_all(dir.path());
            assert_eq!(report, OpenReport::default());
            assert!(records.is_empty());
            store
                .append(&[encode_genesis(&genesis()), encode_time_offset(-7)])
                .expect("append");
            store.append(&[encode_rewind(9)]).expect("append");
            store.sync().expect("sync");
        }
        let valid_len = {
            let (store, report, records) = replay_all(dir.path());
            assert_eq!(report.records, 3);
            assert!(matches!(&records[0], Record::Genesis(g) if *g == genesis()));
            assert!(matches!(records[1], Record::TimeOffset(-7)));
            assert!(matches!(records[2], Record::Rewind(9)));
            store.end
        };
        // A torn frame: a header that promises more payload than was written.
        let file = OpenOptions::new()
            .write(true)
            .open(dir.path().join(LOG_FILE))
            .expect("open");
        let mut torn = Vec::new();
        frame(3, &encode_rewind(1), &mut torn);
        file.write_all_at(&torn[..torn.len() - 3], valid_len)
            .expect("write");
        drop(file);
        {
            let (mut store, report, records) = replay_all(dir.path());
            assert_eq!(records.len(), 3);
            assert!(report.discarded_bytes > 0);
            store.append(&[encode_rewind(5)]).expect("append");
            store.sync().expect("sync");
        }
        let (_store, report, records) = replay_all(dir.path());
        assert_eq!(report.discarded_bytes, 0);
        assert_eq!(records.len(), 4);
        assert!(matches!(records[3], Record::Rewind(5)));
    }

    #[test]
    fn a_second_opener_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_store, _, _) = replay_all(dir.path());
        let err = Store::open(dir.path(), |_| Ok::<_, Error>(())).expect_err("locked");
        assert!(matches!(err, Error::Locked(_)));
    }

    #[test]
    fn a_flipped_bit_ends_the_log_at_the_damaged_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (mut store, _, _) = replay_all(dir.path());
            store
                .append(&[
                    encode_genesis(&genesis()),
                    encode_rewind(1),
                    encode_rewind(2),
                ])
                .expect("append");
            store.sync().expect("sync");
        }
        let path = dir.path().join(LOG_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let genesis_len = (FRAME_HEADER_BYTES + encode_genesis(&genesis()).len()) as u64;
        let at = genesis_len + FRAME_HEADER_BYTES as u64;
        let mut byte = [0u8; 1];
        file.read_at(&mut byte, at).expect("read");
        byte[0] ^= 0x40;
        file.write_all_at(&byte, at).expect("write");
        drop(file);
        let (_store, report, records) = replay_all(dir.path());
        assert_eq!(records.len(), 1);
        assert!(report.discarded_bytes > 0);
    }
}
