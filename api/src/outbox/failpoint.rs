//! Named failpoints for crash tests: places in the outbox's life where a test can have the
//! process killed (SIGKILL, as `kill -9` does) to prove that a restart neither loses nor
//! repeats an action.
//!
//! `PROPLEDGER_FAILPOINTS` lists the failpoints to arm (`outbox.signed,outbox.sent`), each
//! optionally with the number of passes to let through first (`outbox.signed@3` kills on the
//! fourth). Reaching an armed failpoint writes a file named after it into
//! `PROPLEDGER_FAILPOINT_DIR` (fsynced), so the test can tell it was reached, then kills the
//! process. Without the variable, a failpoint costs one check of a value read once.
//!
//! The failpoints, in the order an action meets them:
//! - `outbox.recorded`: the action is committed with the change it belongs to; nothing is signed.
//! - `outbox.signed`: the signed transaction and its nonce are committed; nothing is sent.
//! - `outbox.sent`: the transaction was sent; its receipt is not yet recorded.
//! - `outbox.mined`: its receipt was read; the outcome is not yet recorded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::OnceLock;

/// Every failpoint name, for tests to iterate over.
pub const ALL: &[&str] = &[
    "outbox.recorded",
    "outbox.signed",
    "outbox.sent",
    "outbox.mined",
];

fn armed() -> &'static Option<Mutex<HashMap<String, u64>>> {
    static ARMED: OnceLock<Option<Mutex<HashMap<String, u64>>>> = OnceLock::new();
    ARMED.get_or_init(|| {
        let spec = std::env::var("PROPLEDGER_FAILPOINTS").ok()?;
        let map = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once('@') {
                Some((name, n)) => (name.to_owned(), n.parse().unwrap_or(0)),
                None => (s.to_owned(), 0),
            })
            .collect();
        Some(Mutex::new(map))
    })
}

/// Passes a failpoint: kills the process if it is armed (and its passes are used up).
pub fn hit(name: &str) {
    let Some(armed) = armed() else { return };
    let fire = {
        let Ok(mut map) = armed.lock() else { return };
        match map.get_mut(name) {
            Some(0) => true,
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        }
    };
    if !fire {
        return;
    }
    if let Some(dir) = std::env::var_os("PROPLEDGER_FAILPOINT_DIR") {
        let path = std::path::Path::new(&dir).join(name);
        if let Ok(f) = std::fs::File::create(&path) {
            let _ = f.sync_all();
        }
    }
    tracing::warn!(failpoint = name, "failpoint reached: killing the process");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    // SIGKILL cannot be caught; should it somehow return, stop anyway.
    std::process::abort();
}
