//! The deployment record: which platform contracts live at which addresses on which chain, and
//! the hashes of their code ([`crate::code`]), kept in `<data-dir>/deployment.json` so contracts
//! are deployed once per chain and reused afterwards.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use propledger_contracts::deploy::Platform;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, code::CodeHashes};

/// File name of the record inside the data directory.
pub const RECORD_FILE: &str = "deployment.json";

/// What the node deployed, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Format version of this file.
    pub version: u32,
    /// The shared platform contracts.
    pub platform: Platform,
    /// Each platform contract's code hashes, by name; empty in a record written before they
    /// were kept, which the next start fills in.
    #[serde(default, skip_serializing_if = "CodeHashes::is_empty")]
    pub code: CodeHashes,
    /// The books' anchor contract on the external anchor chain (`--anchor-rpc-url`), once
    /// deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_anchor: Option<ExternalAnchorRecord>,
}

/// The books' anchor contract on an external chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalAnchorRecord {
    /// The external chain's id.
    pub chain_id: u64,
    /// The contract.
    pub contract: propledger_contracts::deploy::Deployed,
}

impl DeploymentRecord {
    /// The current format version (2: the platform records the holder of each role; 3: its
    /// property launcher and factories, and a deed whose token ids the launcher chooses).
    pub const VERSION: u32 = 3;

    /// A record for a fresh deployment, without code hashes yet.
    pub fn new(platform: Platform) -> Self {
        Self {
            version: Self::VERSION,
            platform,
            code: CodeHashes::new(),
            external_anchor: None,
        }
    }

    /// Path of the record in a data directory.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(RECORD_FILE)
    }

    /// Reads the record of a data directory; `None` when there is none yet.
    pub fn load(data_dir: &Path) -> Result<Option<Self>> {
        let path = Self::path(data_dir);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        let record: Self = serde_json::from_slice(&bytes).map_err(|e| Error::BadRecord {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if record.version != Self::VERSION {
            let reason = if record.version < Self::VERSION {
                format!(
                    "version {} records a platform without the property launcher, which this \
                     build tokenizes properties with (version {}); use a new data directory",
                    record.version,
                    Self::VERSION
                )
            } else {
                format!("unsupported version {}", record.version)
            };
            return Err(Error::BadRecord { path, reason });
        }
        Ok(Some(record))
    }

    /// Writes the record atomically (temporary file, fsync, rename).
    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let path = Self::path(data_dir);
        let tmp = data_dir.join(format!("{RECORD_FILE}.tmp"));
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(data_dir).map_err(io)?;
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| Error::BadRecord {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        json.push(b'\n');
        let mut file = fs::File::create(&tmp).map_err(io)?;
        file.write_all(&json).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        if let Ok(dir) = fs::File::open(data_dir) {
            // Makes the rename itself durable; not every filesystem supports it.
            let _ = dir.sync_all();
        }
        Ok(())
    }
}
