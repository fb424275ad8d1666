//! The embedded chain: a persistent single-node EVM chain on revm with standard Ethereum
//! JSON-RPC over HTTP and WebSocket. Wallets, alloy, ethers.js and cast use it unchanged.
//!
//! Map:
//! - `genesis`: dev accounts from the standard test mnemonic, block 0
//! - `state`: accounts, storage and code; per-block diffs; historical views; the build overlay
//! - `exec`: revm environments, transaction execution, `eth_call`, gas estimation
//! - `block`: mined blocks, receipts and logs, their encoding and JSON-RPC shapes
//! - `chaindata`: the canonical chain in memory, with the retention window of state diffs
//! - `pool`: admission checks (geth/anvil wording) and the bounded pending pool
//! - `filters`: log matching and the polling-filter registry
//! - `codec`, `store`: the append-only, checksummed, fsynced log in the data directory
//! - `service`: shared state and the miner thread (group commit, then publish)
//! - `rpc`: JSON-RPC dispatch, HTTP and WebSocket
//!
//! Start it with [`EmbeddedChain::start`] and stop it with [`EmbeddedChain::shutdown`]; copy a
//! running chain's data with [`backup_log`] and check a copy with [`inspect`].

mod block;
mod chaindata;
mod codec;
mod exec;
mod filters;
mod genesis;
mod pool;
mod rpc;
mod service;
mod state;
mod store;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use alloy::primitives::{Address, U256};
use tokio::{sync::watch, task::JoinHandle};

pub use genesis::{DEV_MNEMONIC, Error as AccountsError};
pub use propledger_net::ServerLimits;
pub use service::{LogSummary, OpenError};
pub use store::Error as StoreError;

/// Limits on what clients may ask of the node.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest HTTP body or WebSocket message, in bytes.
    pub max_body_bytes: usize,
    /// Most calls in one batch.
    pub max_batch_len: usize,
    /// Most blocks one `eth_getLogs` may span.
    pub max_logs_block_range: u64,
    /// Most logs one `eth_getLogs` may return; more is an error naming a range that fits.
    pub max_logs_results: usize,
    /// Most transactions waiting in the pending pool.
    pub max_pool_txs: usize,
    /// Most polling filters installed at once.
    pub max_filters: usize,
    /// Most WebSocket connections at once.
    pub max_ws_connections: usize,
    /// Most subscriptions per WebSocket connection.
    pub max_subscriptions_per_connection: usize,
    /// A batch whose answers grow past this many bytes gets "response too large" for the rest.
    pub max_batch_response_bytes: usize,
    /// Most requests (HTTP bodies or WebSocket messages) handled at once; more wait.
    pub max_concurrent_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            max_batch_len: 1_000,
            max_logs_block_range: 100_000,
            max_logs_results: 10_000,
            max_pool_txs: 10_000,
            max_filters: 1_024,
            max_ws_connections: 256,
            max_subscriptions_per_connection: 256,
            max_batch_response_bytes: 25 * 1024 * 1024,
            max_concurrent_requests: 512,
        }
    }
}

/// Chain ids of local development chains (anvil and Hardhat, geth --dev), which a
/// production chain may not use.
pub const DEV_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// What a new data directory is created as. The choice is recorded in the chain's log and
/// holds for the life of the chain; a log without it is a development chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ChainMode {
    /// The mnemonic's accounts prefunded and unlocked (`eth_sendTransaction`, `eth_sign`),
    /// and the dev methods (`evm_*`, `anvil_*`, `hardhat_*`, `propledger_reorg`) answered.
    #[default]
    Dev,
    /// No unlocked accounts and no dev methods; only the listed accounts are funded at
    /// genesis (the operator's, at least). Needs a chain id of its own (not one of
    /// [`DEV_CHAIN_IDS`]).
    Production {
        /// Balances at genesis, in wei.
        funded: Vec<(Address, U256)>,
    },
}

/// How the embedded chain runs.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Directory holding the chain's log (created if missing).
    pub data_dir: PathBuf,
    /// Where JSON-RPC listens (HTTP and WebSocket on the same port); port 0 picks one. Any
    /// address other than loopback lets other machines in; put TLS in front of it.
    pub listen: SocketAddr,
    /// What a new data directory becomes (an existing one keeps the mode it was created in;
    /// asking for production on a development chain is refused).
    pub mode: ChainMode,
    /// Connection limits and timeouts of the JSON-RPC server.
    pub server: ServerLimits,
    /// Chain id (default 31337).
    pub chain_id: u64,
    /// Seconds between blocks; `None` mines a block per transaction (automine).
    pub block_time: Option<Duration>,
    /// Mnemonic of the unlocked, prefunded dev accounts.
    pub mnemonic: String,
    /// How many dev accounts to derive (m/44'/60'/0'/0/i).
    pub dev_accounts: u32,
    /// Balance of each dev account at genesis, in wei.
    pub dev_balance_wei: U256,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Base fee of block 0, in wei.
    pub initial_base_fee_wei: u64,
    /// How many recent blocks keep their state for historical queries and rollbacks.
    pub history_blocks: u64,
    /// Request limits.
    pub limits: Limits,
}

impl ChainConfig {
    /// Defaults as in anvil: chain 31337, 10 dev accounts with 10,000 ETH, 30M gas, 1 gwei
    /// initial base fee, automine, loopback port 8545.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8545)),
            mode: ChainMode::Dev,
            server: ServerLimits::default(),
            chain_id: 31337,
            block_time: None,
            mnemonic: DEV_MNEMONIC.to_owned(),
            dev_accounts: 10,
            dev_balance_wei: U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64)),
            gas_limit: 30_000_000,
            initial_base_fee_wei: 1_000_000_000,
            history_blocks: 10_000,
            limits: Limits::default(),
        }
    }
}

/// Failures starting or stopping the chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Dev accounts could not be derived.
    #[error(transparent)]
    Accounts(#[from] genesis::Error),
    /// The data directory could not be opened or replayed.
    #[error(transparent)]
    Open(#[from] service::OpenError),
    /// The RPC port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("invalid chain configuration: {0}")]
    Config(String),
    /// A background task failed.
    #[error("chain task failed: {0}")]
    Task(String),
}

/// Copies the durable part of the chain in `data_dir` into `out_dir` (created; it must not
/// hold a log already), while the chain runs or not, and reads the copy back. Blocking.
pub fn backup_log(
    data_dir: &std::path::Path,
    out_dir: &std::path::Path,
) -> Result<LogSummary, Error> {
    store::copy_durable_prefix(data_dir, out_dir).map_err(OpenError::from)?;
    inspect(out_dir)
}

/// Replays the chain in `data_dir` without opening it for writing: its head, its mode, and
/// proof that every record reads back. Blocking.
pub fn inspect(data_dir: &std::path::Path) -> Result<LogSummary, Error> {
    Ok(service::inspect(data_dir)?)
}

/// A running embedded chain.
pub struct EmbeddedChain {
    addr: SocketAddr,
    shared: Arc<service::Shared>,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    miner: Option<std::thread::JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmbeddedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedChain")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl EmbeddedChain {
    /// Opens (or creates) the chain in `config.data_dir`, replays it, and starts serving
    /// JSON-RPC. Must run inside a Tokio runtime.
    pub async fn start(config: ChainConfig) -> Result<Self, Error> {
        if config.gas_limit < exec::MIN_TX_GAS {
            return Err(Error::Config(format!(
                "gas limit {} is below 21000",
                config.gas_limit
            )));
        }
        if config.block_time.is_some_and(|t| t.is_zero()) {
            return Err(Error::Config("block time must be positive".to_owned()));
        }
        let (accounts, alloc) = match &config.mode {
            ChainMode::Dev => {
                let accounts = genesis::dev_accounts(&config.mnemonic, config.dev_accounts)?;
                let alloc = accounts
                    .iter()
                    .map(|a| (a.address, config.dev_balance_wei))
                    .collect();
                (accounts, alloc)
            }
            ChainMode::Production { funded } => {
                if DEV_CHAIN_IDS.contains(&config.chain_id) {
                    return Err(Error::Config(format!(
                        "a production chain needs a chain id of its own, not the development id {}",
                        config.chain_id
                    )));
                }
                if funded.is_empty() {
                    return Err(Error::Config(
                        "a production chain needs an operator account to fund".to_owned(),
                    ));
                }
                (Vec::new(), funded.clone())
            }
        };
        let spec = genesis::GenesisSpec {
            chain_id: config.chain_id,
            timestamp: service::unix_now(),
            gas_limit: config.gas_limit,
            base_fee: config.initial_base_fee_wei,
            alloc,
        };
        let dir = config.data_dir.clone();
        let history = config.history_blocks;
        let production_if_new = matches!(config.mode, ChainMode::Production { .. });
        let service::Opened {
            data,
            pending,
            store,
            report,
            production,
        } = tokio::task::spawn_blocking(move || {
            service::open_chain(&dir, spec, history, production_if_new)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        // A production chain has no unlocked accounts, whatever the configuration says.
        let accounts = if production { Vec::new() } else { accounts };
        if report.discarded_bytes > 0 {
            tracing::warn!(
                bytes = report.discarded_bytes,
                "cut off a torn tail of the chain log (an unacknowledged write interrupted by a crash)"
            );
        }
        tracing::info!(
            head = data.head_number(),
            records = report.records,
            mode = if production {
                "production"
            } else {
                "development"
            },
            "embedded chain opened"
        );
        let mut pool = pool::Pool::new(config.limits.max_pool_txs);
        for tx in pending {
            let _ = pool.insert(tx);
        }
        let params = service::Params {
            chain_id: data.genesis.chain_id,
            gas_limit: data.genesis.gas_limit,
            automine: config.block_time.is_none(),
            production,
        };
        let (shared, commands) =
            service::Shared::new(params, data, pool, config.limits.max_filters, accounts);
        let miner = service::Miner::new(shared.clone(), store);
        let miner = std::thread::Builder::new()
            .name("chain-miner".to_owned())
            .spawn(move || miner.run(commands))
            .map_err(|e| Error::Task(e.to_string()))?;

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let (stop, stopping) = watch::channel(false);
        let rpc = Arc::new(rpc::Rpc::new(
            shared.clone(),
            config.limits.clone(),
            stopping.clone(),
        ));
        let mut stop_rx = stopping.clone();
        let server = tokio::spawn(rpc::serve(
            listener,
            rpc,
            config.server.clone(),
            async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            },
        ));
        let ticker = config.block_time.map(|period| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(period);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                interval.tick().await;
                loop {
                    interval.tick().await;
                    shared.tick();
                }
            })
        });
        Ok(Self {
            addr,
            shared,
            stop,
            server: Some(server),
            miner: Some(miner),
            ticker,
        })
    }

    /// The address JSON-RPC listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The HTTP JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The WebSocket JSON-RPC URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.shared.params.chain_id
    }

    /// Whether this is a production chain (recorded in its data directory).
    pub fn is_production(&self) -> bool {
        self.shared.params.production
    }

    /// Addresses of the unlocked dev accounts (none on a production chain).
    pub fn dev_accounts(&self) -> Vec<Address> {
        self.shared.dev_accounts.iter().map(|a| a.address).collect()
    }

    /// The current head block number.
    pub fn head_number(&self) -> u64 {
        self.shared.data.read().head_number()
    }

    /// Stops serving, lets the miner finish what was queued, and syncs the log.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.stop_all().await
    }

    async fn stop_all(&mut self) -> Result<(), Error> {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(10), server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(Error::Task(e.to_string())),
                Ok(Err(e)) => return Err(Error::Task(e.to_string())),
                Err(_) => tracing::warn!("rpc server did not stop within 10s"),
            }
        }
        self.shared.shutdown().await;
        if let Some(miner) = self.miner.take() {
            tokio::task::spawn_blocking(move || miner.join())
                .await
                .map_err(|e| Error::Task(e.to_string()))?
                .map_err(|_| Error::Task("miner thread panicked".to_owned()))?;
        }
        Ok(())
    }
}

impl Drop for EmbeddedChain {
    fn drop(&mut self) {
        // Without `shutdown`: stop accepting requests; the miner stops once its queue is
        // drained and every handle is gone. Everything acknowledged is already on disk.
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if self.miner.is_some() {
            let shared = self.shared.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move { shared.shutdown().await });
            }
        }
    }
}
