//! Backups of a node's data, taken while it runs, and their restore.
//!
//! [`backup`] copies, in this order, into a new directory:
//! 1. the books and the index when they live in SQLite (`ledger.db`, SQLite's consistent
//!    online copy, [`propledger_ledger::backup::copy_sqlite`]);
//! 2. the embedded chain's log up to a durable point (`chain/chain.log`,
//!    [`crate::chain::backup_log`]): synced at the source, then copied frame by frame up to the
//!    last whole one;
//! 3. the deployment record (`deployment.json`);
//! 4. the API's blob files (`blobs/`: uploaded documents kept on disk, named by their SHA-256);
//!
//! and writes `backup.json`, the manifest: each file's size and SHA-256, the chain's head, and
//! where the books are. Taking the books first makes the copied chain at least as long as the
//! index: a restored node never finds its index ahead of its chain, and indexes what the chain
//! gained after the books were copied when it starts. Blobs are written (and synced) before the
//! rows that name them commit and are never changed, so copying them after the books takes every
//! blob the copied books name. A PostgreSQL database is not copied
//! (the manifest says so): `pg_dump` it, or use PostgreSQL's continuous archiving, before
//! running the backup (see the README).
//!
//! [`restore`] checks a backup (manifest version, every checksum, the chain's log replayed to
//! the recorded head, SQLite's integrity check), assembles it beside the target and moves it
//! into place, with a marker (`restored.json`) that makes the next start re-verify the books
//! against the chain before it indexes on ([`crate::Node::start`]).

use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use propledger_net::redact_url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    Error, Result,
    chain::{self, LogSummary},
    deployment::RECORD_FILE,
};

/// The manifest's file name in a backup.
pub const MANIFEST_FILE: &str = "backup.json";
/// The marker a restore leaves in the data directory until the next start has verified it.
pub const RESTORED_MARKER: &str = "restored.json";
/// The books' file name, in a backup and in a data directory.
pub const BOOKS_FILE: &str = "ledger.db";
/// The embedded chain's directory, in a backup and in a data directory.
pub const CHAIN_DIR: &str = "chain";
const CHAIN_LOG: &str = "chain/chain.log";
/// The API's blobs on disk, in a backup and in a data directory.
pub const BLOBS_DIR: &str = "blobs";

/// One file of a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path inside the backup (and the data directory).
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// Where the books of a backup are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Books {
    /// A SQLite copy in the backup.
    Sqlite {
        /// The copy.
        file: FileEntry,
    },
    /// In PostgreSQL, backed up with PostgreSQL's tools; only named here.
    Postgres {
        /// The database URL, without its password.
        database: String,
    },
    /// The node had no books yet.
    None,
}

/// The embedded chain in a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    /// The log.
    pub file: FileEntry,
    /// What it holds.
    pub summary: LogSummary,
}

/// A backup's manifest (`backup.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// When the backup was taken, in Unix seconds.
    pub created_unix_secs: u64,
    /// The books.
    pub books: Books,
    /// The embedded chain, when the node runs one.
    pub chain: Option<ChainEntry>,
    /// The deployment record, when there is one.
    pub deployment: Option<FileEntry>,
    /// The API's blob files.
    #[serde(default)]
    pub blobs: Vec<FileEntry>,
}

impl Manifest {
    /// The current format version.
    pub const VERSION: u32 = 1;

    fn files(&self) -> impl Iterator<Item = &FileEntry> {
        let books = match &self.books {
            Books::Sqlite { file } => Some(file),
            _ => None,
        };
        books
            .into_iter()
            .chain(self.chain.as_ref().map(|c| &c.file))
            .chain(self.deployment.as_ref())
            .chain(&self.blobs)
    }
}

/// The marker of a restored data directory (`restored.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreMarker {
    /// The backup it came from.
    pub from: PathBuf,
    /// When it was restored, in Unix seconds.
    pub restored_unix_secs: u64,
    /// The backup's manifest.
    pub manifest: Manifest,
}

impl RestoreMarker {
    /// The marker of `data_dir`, if it was restored and has not been verified since.
    pub fn load(data_dir: &Path) -> Result<Option<Self>> {
        let path = data_dir.join(RESTORED_MARKER);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Backup(format!("{} is unreadable: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Removes the marker once the restored data is verified.
    pub fn clear(data_dir: &Path) -> Result<()> {
        let path = data_dir.join(RESTORED_MARKER);
        fs::remove_file(&path).map_err(|source| Error::Io { path, source })?;
        sync_dir(data_dir)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fails unless `dir` is missing or an empty directory.
fn ensure_vacant(dir: &Path, what: &str) -> Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Backup(format!(
                    "{what} {} is not empty",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Size and SHA-256 of a file of `root`.
fn file_entry(root: &Path, relative: &str) -> Result<FileEntry> {
    let path = root.join(relative);
    let mut file = fs::File::open(&path).map_err(io_err(&path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_err(&path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileEntry {
        path: relative.to_owned(),
        bytes,
        sha256: alloy::hex::encode(hasher.finalize()),
    })
}

/// Copies one small file and syncs the copy.
fn copy_synced(src: &Path, dst: &Path) -> Result<()> {
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    fs::copy(src, dst).map_err(io_err(src))?;
    fs::File::open(dst)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dst))
}

/// The SQLite file a database URL names, or `None` for PostgreSQL.
fn sqlite_path(url: &str) -> Result<Option<PathBuf>> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Ok(Some(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(None);
    }
    Err(Error::Config(
        "the database url is neither sqlite:<path> nor postgres://...".to_owned(),
    ))
}

/// Backs up the node whose data directory is `data_dir` and whose books are at
/// `database_url` (default `sqlite:<data-dir>/ledger.db`) into `out`, which must be missing or
/// empty. The node may be running.
pub async fn backup(data_dir: &Path, database_url: Option<&str>, out: &Path) -> Result<Manifest> {
    ensure_vacant(out, "the backup directory")?;
    fs::create_dir_all(out).map_err(io_err(out))?;
    let default_books = format!("sqlite:{}", data_dir.join(BOOKS_FILE).display());
    let url = database_url.unwrap_or(&default_books);

    let books = match sqlite_path(url)? {
        Some(path) if path.exists() => {
            propledger_ledger::backup::copy_sqlite(&path, &out.join(BOOKS_FILE)).await?;
            propledger_ledger::backup::check_sqlite(&out.join(BOOKS_FILE)).await?;
            let copy = out.join(BOOKS_FILE);
            fs::File::open(&copy)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&copy))?;
            Books::Sqlite {
                file: file_entry(out, BOOKS_FILE)?,
            }
        }
        Some(_) => Books::None,
        None => Books::Postgres {
            database: redact_url(url),
        },
    };

    let chain = if data_dir.join(CHAIN_LOG).exists() {
        let (src, dst) = (data_dir.join(CHAIN_DIR), out.join(CHAIN_DIR));
        let summary = tokio::task::spawn_blocking(move || chain::backup_log(&src, &dst))
            .await
            .map_err(|e| Error::Backup(format!("copying the chain failed: {e}")))??;
        Some(ChainEntry {
            file: file_entry(out, CHAIN_LOG)?,
            summary,
        })
    } else {
        None
    };

    let record = data_dir.join(RECORD_FILE);
    let deployment = if record.exists() {
        copy_synced(&record, &out.join(RECORD_FILE))?;
        Some(file_entry(out, RECORD_FILE)?)
    } else {
        None
    };

    let blobs = {
        let (data_dir, out) = (data_dir.to_path_buf(), out.to_path_buf());
        tokio::task::spawn_blocking(move || copy_blobs(&data_dir, &out))
            .await
            .map_err(|e| Error::Backup(format!("copying the blobs failed: {e}")))??
    };

    let manifest = Manifest {
        version: Manifest::VERSION,
        created_unix_secs: unix_now(),
        books,
        chain,
        deployment,
        blobs,
    };
    write_json_synced(out, MANIFEST_FILE, &manifest)?;
    Ok(manifest)
}

/// Copies every file under `data_dir/blobs` (one folder level, as the blob store lays them out)
/// into `out/blobs`; returns their entries.
fn copy_blobs(data_dir: &Path, out: &Path) -> Result<Vec<FileEntry>> {
    let root = data_dir.join(BLOBS_DIR);
    let mut entries = Vec::new();
    let folders = match fs::read_dir(&root) {
        Ok(folders) => folders,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
        Err(source) => return Err(Error::Io { path: root, source }),
    };
    for folder in folders {
        let folder = folder.map_err(io_err(&root))?;
        if !folder.file_type().map_err(io_err(&folder.path()))?.is_dir() {
            continue;
        }
        let folder_path = folder.path();
        for file in fs::read_dir(&folder_path).map_err(io_err(&folder_path))? {
            let file = file.map_err(io_err(&folder_path))?;
            if !file.file_type().map_err(io_err(&file.path()))?.is_file() {
                continue;
            }
            let relative = format!(
                "{BLOBS_DIR}/{}/{}",
                folder.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            copy_synced(&file.path(), &out.join(&relative))?;
            entries.push(file_entry(out, &relative)?);
        }
        sync_dir(&out.join(BLOBS_DIR).join(folder.file_name()))?;
    }
    if !entries.is_empty() {
        sync_dir(&out.join(BLOBS_DIR))?;
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Writes `value` as `dir/name` atomically (temporary file, sync, rename, sync directory).
fn write_json_synced(dir: &Path, name: &str, value: &impl Serialize) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut json = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Backup(format!("encoding {name}: {e}")))?;
    json.push(b'\n');
    let mut file = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(&json).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)
}

/// Reads a backup's manifest.
pub fn read_manifest(backup_dir: &Path) -> Result<Manifest> {
    let path = backup_dir.join(MANIFEST_FILE);
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Backup(format!("{} is unreadable: {e}", path.display())))?;
    if manifest.version != Manifest::VERSION {
        return Err(Error::Backup(format!(
            "{} has format version {}; this build reads version {}",
            path.display(),
            manifest.version,
            Manifest::VERSION
        )));
    }
    Ok(manifest)
}

/// Checks the backup in `from` and restores it into `data_dir`, which must be missing or
/// empty. Nothing is left in `data_dir` unless every check passes.
pub async fn restore(from: &Path, data_dir: &Path) -> Result<Manifest> {
    ensure_vacant(data_dir, "the data directory")?;
    let manifest = read_manifest(from)?;
    let name = data_dir
        .file_name()
        .ok_or_else(|| Error::Backup(format!("{} names no directory", data_dir.display())))?;
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let staging = parent.join(format!(".{}.restoring", name.to_string_lossy()));
    if staging.exists() {
        return Err(Error::Backup(format!(
            "{} is left from an earlier restore; remove it first",
            staging.display()
        )));
    }
    fs::create_dir(&staging).map_err(io_err(&staging))?;
    match assemble(from, &staging, &manifest).await {
        Ok(()) => {}
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    }
    if data_dir.exists() {
        fs::remove_dir(data_dir).map_err(io_err(data_dir))?;
    }
    fs::rename(&staging, data_dir).map_err(io_err(data_dir))?;
    sync_dir(&parent)?;
    Ok(manifest)
}

/// Copies the backup's files into `staging` and checks the copies.
async fn assemble(from: &Path, staging: &Path, manifest: &Manifest) -> Result<()> {
    for entry in manifest.files() {
        if Path::new(&entry.path)
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(Error::Backup(format!(
                "the manifest names a file outside the backup: {}",
                entry.path
            )));
        }
        copy_synced(&from.join(&entry.path), &staging.join(&entry.path))?;
        let copied = file_entry(staging, &entry.path)?;
        if &copied != entry {
            return Err(Error::Backup(format!(
                "{} does not match the manifest (size or checksum): the backup is damaged",
                from.join(&entry.path).display()
            )));
        }
    }
    if let Some(recorded) = &manifest.chain {
        let dir = staging.join(CHAIN_DIR);
        let summary = tokio::task::spawn_blocking(move || chain::inspect(&dir))
            .await
            .map_err(|e| Error::Backup(format!("reading the chain failed: {e}")))??;
        if summary != recorded.summary {
            return Err(Error::Backup(format!(
                "the chain in the backup reads back as head {} ({}), but the manifest records head {} ({})",
                summary.head_number,
                summary.head_hash,
                recorded.summary.head_number,
                recorded.summary.head_hash
            )));
        }
        sync_dir(&staging.join(CHAIN_DIR))?;
    }
    if let Books::Sqlite { .. } = manifest.books {
        propledger_ledger::backup::check_sqlite(&staging.join(BOOKS_FILE)).await?;
    }
    let blob_dirs: std::collections::BTreeSet<PathBuf> = manifest
        .blobs
        .iter()
        .filter_map(|b| staging.join(&b.path).parent().map(Path::to_path_buf))
        .collect();
    for dir in &blob_dirs {
        sync_dir(dir)?;
    }
    if !blob_dirs.is_empty() {
        sync_dir(&staging.join(BLOBS_DIR))?;
    }
    let marker = RestoreMarker {
        from: from.to_path_buf(),
        restored_unix_secs: unix_now(),
        manifest: manifest.clone(),
    };
    write_json_synced(staging, RESTORED_MARKER, &marker)
}
