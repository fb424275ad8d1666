//! A SQLite database file in a temporary directory.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A path for a SQLite database in a directory of its own, deleted on drop (with the
/// database's `-wal` and `-shm` files).
#[derive(Debug)]
pub struct SqliteFile {
    dir: TempDir,
    path: PathBuf,
}

impl SqliteFile {
    /// A new path, `<tempdir>/books.db`; the file itself is created by whoever opens it.
    pub fn new() -> SqliteFile {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("books.db");
        SqliteFile { dir, path }
    }

    /// A copy of `fixture` (a database file), to be opened and changed by a test.
    pub fn copy_of(fixture: impl AsRef<Path>) -> SqliteFile {
        let file = SqliteFile::new();
        std::fs::copy(fixture.as_ref(), &file.path)
            .unwrap_or_else(|e| panic!("copy {}: {e}", fixture.as_ref().display()));
        file
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the file is in (for other files a test keeps beside it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `sqlite:<path>`.
    pub fn url(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}

impl Default for SqliteFile {
    fn default() -> Self {
        Self::new()
    }
}
