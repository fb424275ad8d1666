//! The blob store: uploaded bytes kept once per SHA-256, for every resource that holds files
//! (property documents now; invoices, photos and KYC documents later).
//!
//! An upload is first spooled to a temporary file under the data directory while its hash is
//! computed and its size checked, so a slow client never holds a database transaction open.
//! Then, in the transaction that records the resource, the blob is stored unless a blob with
//! that hash exists already: in the database as 256 KiB chunks (so any replica can serve it), or
//! as a file named by its hash under `<data-dir>/blobs` (fsynced before the transaction
//! commits). Reads stream chunk by chunk either way.

use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::auth::secret::random_bytes;
use crate::db::{Db, Query, Tx};
use crate::error::{Error, Result};
use crate::types::now_ms;

/// Bytes per stored chunk (and per read).
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Where blobs are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobLocation {
    /// In the database (`api_blob_chunks`); every replica on the database can serve them.
    Database,
    /// In files under `<data-dir>/blobs`; only this node can serve them.
    Disk,
}

impl BlobLocation {
    fn as_str(self) -> &'static str {
        match self {
            BlobLocation::Database => "database",
            BlobLocation::Disk => "disk",
        }
    }
}

/// The blob store of one node.
#[derive(Clone, Debug)]
pub struct BlobStore {
    location: BlobLocation,
    blobs_dir: PathBuf,
    spool_dir: PathBuf,
}

/// A SHA-256, as blobs are named.
pub type Sha256Hash = [u8; 32];

/// An upload received into a temporary file, hashed and measured. The file is removed when
/// this is dropped, unless it was moved into the store.
#[derive(Debug)]
pub struct Spooled {
    path: Option<PathBuf>,
    /// The bytes' SHA-256.
    pub sha256: Sha256Hash,
    /// How many bytes.
    pub size: u64,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A stream of a blob's bytes.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

impl BlobStore {
    /// A store keeping blobs at `location`, with files (spooled uploads, and blobs on disk)
    /// under `data_dir`.
    pub fn new(location: BlobLocation, data_dir: &Path) -> Result<BlobStore> {
        let store = BlobStore {
            location,
            blobs_dir: data_dir.join("blobs"),
            spool_dir: data_dir.join("tmp").join("uploads"),
        };
        std::fs::create_dir_all(&store.spool_dir)?;
        if location == BlobLocation::Disk {
            std::fs::create_dir_all(&store.blobs_dir)?;
        }
        Ok(store)
    }

    /// Where new blobs go.
    pub fn location(&self) -> BlobLocation {
        self.location
    }

    /// Receives an upload into a temporary file, refusing it past `limit_bytes`.
    pub async fn spool<S, E>(&self, mut body: S, limit_bytes: u64) -> Result<Spooled>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let name = hex::encode(random_bytes::<16>()?);
        let path = self.spool_dir.join(name);
        let mut spooled = Spooled {
            path: Some(path.clone()),
            sha256: [0; 32],
            size: 0,
        };
        let mut file = tokio::fs::File::create(&path).await?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Error::Malformed(format!("reading the upload: {e}")))?;
            spooled.size += chunk.len() as u64;
            if spooled.size > limit_bytes {
                return Err(Error::PayloadTooLarge { limit_bytes });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        if self.location == BlobLocation::Disk {
            file.sync_all().await?;
        }
        spooled.sha256 = hasher.finalize().into();
        Ok(spooled)
    }

    fn file_of(&self, sha: &Sha256Hash) -> PathBuf {
        let hex = hex::encode(sha);
        self.blobs_dir.join(&hex[..2]).join(hex)
    }

    /// Stores a spooled upload in the transaction, unless a blob with its hash exists.
    pub async fn put(&self, tx: &mut Tx, mut spooled: Spooled) -> Result<Sha256Hash> {
        let sha = spooled.sha256;
        // A blob with this hash (stored, or being stored by a transaction this one waits for)
        // makes this upload a duplicate: nothing more to store.
        let inserted = Query::new(
            "INSERT INTO api_blobs (sha256, size, stored_in, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha.to_vec())
        .bind(
            i64::try_from(spooled.size).map_err(|_| Error::PayloadTooLarge {
                limit_bytes: i64::MAX as u64,
            })?,
        )
        .bind(self.location.as_str())
        .bind(now_ms())
        .execute(tx.exec())
        .await?;
        if inserted == 0 {
            return Ok(sha);
        }
        let path = spooled
            .path
            .clone()
            .ok_or_else(|| Error::Internal("a spooled upload without its file".to_owned()))?;
        match self.location {
            BlobLocation::Database => {
                let mut file = tokio::fs::File::open(&path).await?;
                let mut n = 0i64;
                loop {
                    let mut buf = vec![0u8; CHUNK_BYTES];
                    let read = read_full(&mut file, &mut buf).await?;
                    if read == 0 && n > 0 {
                        break;
                    }
                    buf.truncate(read);
                    Query::new("INSERT INTO api_blob_chunks (sha256, n, data) VALUES ($1, $2, $3)")
                        .bind(sha.to_vec())
                        .bind(n)
                        .bind(buf)
                        .execute(tx.exec())
                        .await?;
                    n += 1;
                    if read < CHUNK_BYTES {
                        break;
                    }
                }
            }
            BlobLocation::Disk => {
                let target = self.file_of(&sha);
                let dir = target
                    .parent()
                    .ok_or_else(|| Error::Internal("a blob path without a folder".to_owned()))?
                    .to_owned();
                tokio::fs::create_dir_all(&dir).await?;
                tokio::fs::rename(&path, &target).await?;
                spooled.path = None;
                // The name must be on disk before the row that points at it commits.
                tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
                    .await
                    .map_err(|e| Error::Internal(format!("fsync task: {e}")))??;
            }
        }
        Ok(sha)
    }

    /// The bytes of a stored blob, as a stream.
    pub async fn open(&self, db: &Db, sha: Sha256Hash) -> Result<BlobStream> {
        let row = Query::new("SELECT stored_in FROM api_blobs WHERE sha256 = $1")
            .bind(sha.to_vec())
            .fetch_optional(db.reader())
            .await?
            .ok_or(Error::NotFound("blob"))?;
        match row.get::<String>("stored_in")?.as_str() {
            "database" => {
                let db = db.clone();
                let chunks = futures_util::stream::unfold(Some(0i64), move |state| {
                    let db = db.clone();
                    async move {
                        let n = state?;
                        let row = Query::new(
                            "SELECT data FROM api_blob_chunks WHERE sha256 = $1 AND n = $2",
                        )
                        .bind(sha.to_vec())
                        .bind(n)
                        .fetch_optional(db.reader())
                        .await;
                        match row {
                            Ok(Some(row)) => match row.get::<Vec<u8>>("data") {
                                Ok(data) => Some((Ok(Bytes::from(data)), Some(n + 1))),
                                Err(e) => Some((Err(e), None)),
                            },
                            Ok(None) => None,
                            Err(e) => Some((Err(e), None)),
                        }
                    }
                });
                Ok(Box::pin(chunks))
            }
            "disk" => {
                let file = tokio::fs::File::open(self.file_of(&sha)).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Error::Corrupt(format!(
                            "blob {} is recorded on disk but its file is missing (another node's disk?)",
                            hex::encode(sha)
                        ))
                    } else {
                        Error::Io(e)
                    }
                })?;
                let stream = tokio_util::io::ReaderStream::with_capacity(file, CHUNK_BYTES)
                    .map(|r| r.map_err(Error::Io));
                Ok(Box::pin(stream))
            }
            other => Err(Error::Corrupt(format!("blob stored in {other:?}"))),
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> Result<usize> {
    use tokio::io::AsyncReadExt;
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}
