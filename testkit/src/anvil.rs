//! anvil, the Foundry dev chain, from the pinned toolchain in the workspace's `node_modules`
//! (installed by `scripts/install-toolchain`) or from `PROPLEDGER_ANVIL`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long anvil may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running anvil on a free loopback port, killed (and reaped) on drop.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    url: String,
}

impl Anvil {
    /// Starts anvil with its default chain id (31337) and two dev accounts of the standard
    /// test mnemonic.
    pub fn spawn() -> Anvil {
        Self::spawn_with_accounts(2)
    }

    /// Starts anvil with `accounts` dev accounts.
    pub fn spawn_with_accounts(accounts: u32) -> Anvil {
        Self::spawn_with_args(&["--accounts", &accounts.to_string()])
    }

    /// Starts anvil with more arguments (`--block-time 1`, say); it binds 127.0.0.1 on a free
    /// port (`--port 0`, whose address it prints) whatever they say.
    pub fn spawn_with_args(args: &[&str]) -> Anvil {
        let bin = binary();
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install-toolchain",
            bin.display()
        );
        let mut child = Command::new(&bin)
            .args(args)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        // One guard from here on, so a failed start still kills the process.
        let mut anvil = Anvil {
            child,
            url: String::new(),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Report the address, then keep draining so anvil never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix("Listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => anvil.url = format!("http://{addr}"),
            Err(e) => panic!(
                "anvil did not report its address within {} s: {e}",
                START_TIMEOUT.as_secs()
            ),
        }
        anvil
    }

    /// Its JSON-RPC endpoint, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `PROPLEDGER_ANVIL`, or anvil in the workspace's `node_modules`.
fn binary() -> PathBuf {
    std::env::var_os("PROPLEDGER_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
        })
}
