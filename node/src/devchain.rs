//! The local development chain: a single-node EVM chain run as a child process (anvil from the
//! pinned npm toolchain), with its state kept in the node's data directory across restarts.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use nix::{sys::signal, unistd::Pid};
use tokio::process::{Child, Command};

use crate::{Error, Result};

/// How long a stopping chain gets to write its state before it is killed.
const STOP_TIMEOUT_MS: u64 = 15_000;
/// How long a starting chain gets to open its RPC port.
const START_TIMEOUT_MS: u64 = 30_000;

/// Options for the local chain.
#[derive(Debug, Clone)]
pub struct DevChainOptions {
    /// The anvil executable.
    pub program: PathBuf,
    /// Directory for the chain's state file.
    pub state_dir: PathBuf,
    /// Loopback port for JSON-RPC (0 picks a free one).
    pub port: u16,
    /// Chain id.
    pub chain_id: u64,
    /// Seconds between blocks; `None` mines a block per transaction.
    pub block_time_secs: Option<u64>,
}

impl DevChainOptions {
    /// Defaults for a data directory: the anvil shipped in `node_modules`, port 8545, chain 31337.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            program: default_anvil_path(),
            state_dir: data_dir.join("chain"),
            port: 8545,
            chain_id: 31337,
            block_time_secs: None,
        }
    }
}

/// The anvil binary installed by `scripts/install-toolchain`, or `anvil` from `PATH`.
pub fn default_anvil_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PROPLEDGER_ANVIL") {
        return PathBuf::from(p);
    }
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if bundled.exists() {
        bundled
    } else {
        PathBuf::from("anvil")
    }
}

/// A running local chain. Stop it with [`DevChain::stop`] so it writes its state; dropping it
/// also asks it to stop, without waiting.
#[derive(Debug)]
pub struct DevChain {
    child: Option<Child>,
    addr: SocketAddr,
    state_file: PathBuf,
}

impl DevChain {
    /// Starts the chain and waits until its RPC port accepts connections.
    pub async fn start(opts: &DevChainOptions) -> Result<Self> {
        std::fs::create_dir_all(&opts.state_dir).map_err(|e| Error::Io {
            path: opts.state_dir.clone(),
            source: e,
        })?;
        let port = if opts.port == 0 {
            free_port()?
        } else {
            opts.port
        };
        let state_file = opts.state_dir.join("state.json");
        let mut cmd = Command::new(&opts.program);
        cmd.arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(port.to_string())
            .arg("--chain-id")
            .arg(opts.chain_id.to_string())
            .arg("--state")
            .arg(&state_file)
            // A periodic dump bounds what an unclean stop can lose.
            .arg("--state-interval")
            .arg("1")
            .arg("--preserve-historical-states")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(false);
        if let Some(secs) = opts.block_time_secs {
            cmd.arg("--block-time").arg(secs.to_string());
        }
        let child = cmd.spawn().map_err(|e| Error::ChainStart {
            program: opts.program.clone(),
            reason: e.to_string(),
        })?;
        let mut chain = Self {
            child: Some(child),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            state_file,
        };
        chain.wait_ready(&opts.program).await?;
        Ok(chain)
    }

    async fn wait_ready(&mut self, program: &Path) -> Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(START_TIMEOUT_MS);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Error::ChainStart {
                    program: program.to_path_buf(),
                    reason: format!("exited during start-up with {status}"),
                });
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::ChainStart {
                    program: program.to_path_buf(),
                    reason: format!("rpc port {} did not open in time", self.addr.port()),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The file the chain keeps its state in.
    pub fn state_file(&self) -> &Path {
        &self.state_file
    }

    /// Asks the chain to stop (it writes its state on the way out) and waits for it.
    pub async fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            terminate(pid);
            let wait = tokio::time::timeout(Duration::from_millis(STOP_TIMEOUT_MS), child.wait());
            if wait.await.is_ok() {
                return Ok(());
            }
        }
        child.kill().await.map_err(|e| Error::Io {
            path: self.state_file.clone(),
            source: e,
        })
    }
}

impl Drop for DevChain {
    fn drop(&mut self) {
        if let Some(pid) = self.child.as_ref().and_then(Child::id) {
            terminate(pid);
        }
    }
}

fn terminate(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // Best effort: the process may already be gone.
        let _ = signal::kill(Pid::from_raw(pid), signal::Signal::SIGTERM);
    }
}

fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| Error::Io {
            path: PathBuf::from("127.0.0.1:0"),
            source: e,
        })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Io {
            path: PathBuf::from("127.0.0.1:0"),
            source: e,
        })
}
