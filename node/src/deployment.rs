//! The deployment record: which platform contracts live at which addresses on which chain, kept in
//! `<data-dir>/deployment.json` so contracts are deployed once per chain and reused afterwards.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use propledger_contracts::deploy::Platform;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// File name of the record inside the data directory.
pub const RECORD_FILE: &str = "deployment.json";

/// What the node deployed, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Format version of this file.
    pub version: u32,
    /// The shared platform contracts.
    pub platform: Platform,
}

impl DeploymentRecord {
    /// The current format version (2: the platform records the holder of each role).
    pub const VERSION: u32 = 2;

    /// A record for a fresh deployment.
    pub fn new(platform: Platform) -> Self {
        Self {
            version: Self::VERSION,
            platform,
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
            return Err(Error::BadRecord {
                path,
                reason: format!("unsupported version {}", record.version),
            });
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
