//! Start-up and shutdown of a node: bring up the chain (embedded, or external over JSON-RPC), make sure the platform contracts are
//! deployed there exactly once, and keep the record of where they are.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use alloy::transports::http::reqwest::Url as ReqwestUrl;
use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use propledger_api::{Api, ApiConfig, ChainStatus};
use propledger_contracts::deploy::{self, Platform, Roles, SettlementToken};
use propledger_indexer::source::SourceConfig;
use propledger_indexer::{IndexerConfig, Leader, run_exclusive};
use propledger_ledger::Ledger;
use tokio::{sync::watch, task::JoinHandle};
use tracing::{error, info, warn};

use crate::{
    Error, Result,
    chain::{ChainConfig, EmbeddedChain},
    deployment::DeploymentRecord,
};

/// The first account of the standard test mnemonic ("test test ... junk"), funded on every
/// development chain. Never accepted on a chain that is not a known development chain.
pub const DEV_PRIVATE_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// Chain ids of local development chains (anvil/Hardhat and geth --dev).
const DEV_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// What a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the chain state and the deployment record live.
    pub data_dir: PathBuf,
    /// An external JSON-RPC endpoint; `None` runs the local chain.
    pub rpc_url: Option<String>,
    /// The deployer/admin key (hex); `None` uses [`DEV_PRIVATE_KEY`] on development chains.
    pub private_key: Option<String>,
    /// Keys of the operational roles; each one not given is the admin key.
    pub role_keys: RoleKeys,
    /// An existing settlement token; `None` deploys a test stablecoin.
    pub settlement_token: Option<Address>,
    /// Options of the embedded chain (ignored with `rpc_url`).
    pub chain: ChainConfig,
    /// Where the books and the index live: `sqlite:<path>` or `postgres://...`; `None` uses
    /// `sqlite:<data-dir>/ledger.db`.
    pub database_url: Option<String>,
    /// Confirmations before a chain event's entry is posted; `None` means 0 on the embedded
    /// chain (it has no reorgs of its own) and 12 on an external chain.
    pub confirmations: Option<u64>,
    /// The HTTP API; `None` runs the node without it.
    pub api: Option<ApiSettings>,
}

/// Where and how the node serves its HTTP API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The listening address.
    pub listen: SocketAddr,
    /// The API's settings (its data directory is the node's).
    pub config: ApiConfig,
}

impl NodeConfig {
    /// Defaults for a data directory: the embedded chain in `<data-dir>/chain`, the dev key, a
    /// test stablecoin.
    pub fn new(data_dir: PathBuf) -> Self {
        let chain = ChainConfig::new(data_dir.join("chain"));
        Self {
            data_dir,
            rpc_url: None,
            private_key: None,
            role_keys: RoleKeys::default(),
            settlement_token: None,
            chain,
            database_url: None,
            confirmations: None,
            api: Some(ApiSettings {
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
                config: ApiConfig::new(PathBuf::new()),
            }),
        }
    }
}

/// The file the admin key made at first start is written to, in the data directory.
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// Keys (hex) of the accounts that hold the platform's operational roles (see
/// [`propledger_contracts::deploy::Roles`]). Each one not given is the admin key, which on a
/// development chain defaults to the dev key. `Debug` shows which are set, never the keys.
#[derive(Clone, Default)]
pub struct RoleKeys {
    /// The transfer agent of the share tokens.
    pub agent: Option<String>,
    /// The operator of the treasuries and offerings.
    pub treasurer: Option<String>,
    /// The identity registry's registrar.
    pub registrar: Option<String>,
    /// The compliance rules admin.
    pub rules: Option<String>,
}

impl std::fmt::Debug for RoleKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |k: &Option<String>| if k.is_some() { "set" } else { "admin key" };
        f.debug_struct("RoleKeys")
            .field("agent", &set(&self.agent))
            .field("treasurer", &set(&self.treasurer))
            .field("registrar", &set(&self.registrar))
            .field("rules", &set(&self.rules))
            .finish()
    }
}

/// Reads the key of a role. Every key the node takes goes through here.
pub fn parse_key(role: &str, key: &str) -> Result<PrivateKeySigner> {
    key.parse()
        .map_err(|_| Error::Config(format!("the {role} key is not 32 bytes of hex")))
}

/// A wallet that signs for every role (the admin by default, and each operational role that has a
/// key of its own), and the roles' addresses.
fn role_wallet(admin: PrivateKeySigner, keys: &RoleKeys) -> Result<(EthereumWallet, Roles)> {
    let mut roles = Roles::single(admin.address());
    let mut wallet = EthereumWallet::new(admin);
    for (role, key, slot) in [
        ("agent", &keys.agent, &mut roles.agent),
        ("treasurer", &keys.treasurer, &mut roles.treasurer),
        ("registrar", &keys.registrar, &mut roles.registrar),
        ("rules", &keys.rules, &mut roles.rules),
    ] {
        if let Some(key) = key {
            let signer = parse_key(role, key)?;
            *slot = signer.address();
            wallet.register_signer(signer);
        }
    }
    Ok((wallet, roles))
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    chain: Option<EmbeddedChain>,
    rpc_url: String,
    record: DeploymentRecord,
    ledger: Ledger,
    indexer: Option<(
        watch::Sender<bool>,
        JoinHandle<propledger_indexer::Result<()>>,
    )>,
    api: Option<RunningApi>,
}

/// The API's server and upkeep tasks.
#[derive(Debug)]
struct RunningApi {
    url: String,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    upkeep: JoinHandle<()>,
    first_key: Option<String>,
}

impl Node {
    /// Starts the chain (or connects to the external one) and deploys the platform contracts if
    /// the data directory has no valid record of them yet.
    pub async fn start(config: NodeConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| Error::Io {
            path: config.data_dir.clone(),
            source: e,
        })?;
        let chain = match &config.rpc_url {
            Some(_) => None,
            None => Some(EmbeddedChain::start(config.chain.clone()).await?),
        };
        let rpc_url = match (&config.rpc_url, &chain) {
            (Some(url), _) => url.clone(),
            (None, Some(chain)) => chain.url(),
            (None, None) => unreachable!("a local chain is started whenever no rpc url is given"),
        };
        let url: ReqwestUrl = rpc_url
            .parse()
            .map_err(|e| Error::Config(format!("bad rpc url {rpc_url:?}: {e}")))?;
        let read_only = ProviderBuilder::new().connect_http(url.clone());
        let chain_id = read_only.get_chain_id().await?;

        let key = match (&config.private_key, DEV_CHAIN_IDS.contains(&chain_id)) {
            (Some(key), _) => key.clone(),
            (None, true) => DEV_PRIVATE_KEY.to_owned(),
            (None, false) => {
                return Err(Error::Config(format!(
                    "chain {chain_id} is not a development chain: pass --private-key"
                )));
            }
        };
        let (wallet, roles) = role_wallet(parse_key("admin", &key)?, &config.role_keys)?;
        let provider = ProviderBuilder::new().wallet(wallet).connect_http(url);

        let record = match DeploymentRecord::load(&config.data_dir)? {
            Some(record) => {
                let platform = &record.platform;
                if platform.chain_id != chain_id {
                    return Err(Error::ChainMismatch {
                        recorded: platform.chain_id,
                        actual: chain_id,
                    });
                }
                match missing_contract(&provider, platform).await? {
                    None => {
                        info!(directory = %platform.directory.address, "platform contracts found");
                        if platform.roles != roles {
                            warn!(
                                recorded = ?platform.roles,
                                configured = ?roles,
                                "the configured role keys differ from the roles recorded at deployment"
                            );
                        }
                        Some(record)
                    }
                    Some(address) if chain.is_some() => {
                        warn!(%address, "the embedded chain lost the recorded contracts; deploying again");
                        None
                    }
                    Some(address) => {
                        return Err(Error::MissingContracts {
                            address,
                            chain_id,
                            record: DeploymentRecord::path(&config.data_dir),
                        });
                    }
                }
            }
            None => None,
        };
        let record = match record {
            Some(record) => record,
            None => {
                let settlement = config.settlement_token.map_or(
                    SettlementToken::DeployTestStablecoin,
                    SettlementToken::Existing,
                );
                let platform = deploy::deploy_platform(&provider, roles, settlement).await?;
                info!(
                    chain_id,
                    admin = %roles.admin,
                    agent = %roles.agent,
                    treasurer = %roles.treasurer,
                    registrar = %roles.registrar,
                    rules = %roles.rules,
                    directory = %platform.directory.address,
                    registry = %platform.identity_registry.address,
                    deed = %platform.deed.address,
                    settlement = %platform.settlement_token,
                    "platform contracts deployed"
                );
                let record = DeploymentRecord::new(platform);
                record.save(&config.data_dir)?;
                record
            }
        };
        let database_url = config
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", config.data_dir.join("ledger.db").display()));
        let ledger = Ledger::connect(&database_url).await?;
        let mut source = SourceConfig::new(rpc_url.clone());
        source.retry.max_attempts = None;
        let mut indexer_config = IndexerConfig::new(source, record.platform.clone());
        indexer_config.confirmations =
            config
                .confirmations
                .unwrap_or(if chain.is_some() { 0 } else { 12 });
        indexer_config.reorg_window = indexer_config
            .reorg_window
            .max(indexer_config.confirmations);
        // One indexer per chain and database: when another process holds the role, this node
        // stands by and takes over if that process dies. A first attempt here reports
        // configuration errors (another chain, an unreachable database) at start.
        let leader = Leader::try_acquire(&ledger, &indexer_config).await?;
        if leader.is_some() {
            info!(database = %redact(&database_url), "indexer running");
        } else {
            info!(
                database = %redact(&database_url),
                "another process indexes this chain into this database; the indexer stands by"
            );
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn({
            let ledger = ledger.clone();
            async move {
                let result = run_exclusive(ledger, indexer_config, leader, stopped).await;
                if let Err(e) = &result {
                    error!(error = %e, "the indexer stopped");
                }
                result
            }
        });
        let api = match &config.api {
            Some(settings) => Some(
                start_api(
                    settings,
                    &config.data_dir,
                    &database_url,
                    Arc::new(NodeChain {
                        provider: read_only.erased(),
                        ledger: ledger.clone(),
                    }),
                    ledger.clone(),
                )
                .await?,
            ),
            None => None,
        };
        Ok(Self {
            chain,
            rpc_url,
            record,
            ledger,
            indexer: Some((stop, task)),
            api,
        })
    }

    /// The HTTP API's base URL, when it runs.
    pub fn api_url(&self) -> Option<&str> {
        self.api.as_ref().map(|a| a.url.as_str())
    }

    /// The admin key made at this start, when the database had no users and no keys (also
    /// written to `<data-dir>/admin.key`).
    pub fn first_admin_key(&self) -> Option<&str> {
        self.api.as_ref().and_then(|a| a.first_key.as_deref())
    }

    /// The books and the index.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The JSON-RPC endpoint the node uses.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The platform contracts.
    pub fn platform(&self) -> &Platform {
        &self.record.platform
    }

    /// Stops the node and the embedded chain (everything it acknowledged is already on disk).
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(api) = self.api.take() {
            let _ = api.stop.send(true);
            api.upkeep.abort();
            match api.server.await {
                Ok(Err(e)) => warn!(error = %e, "the API server stopped with an error"),
                Err(e) => warn!(error = %e, "the API task failed"),
                Ok(Ok(())) => {}
            }
        }
        if let Some((stop, task)) = self.indexer.take() {
            let _ = stop.send(true);
            match task.await {
                Ok(result) => result?,
                Err(e) => warn!(error = %e, "the indexer task failed"),
            }
        }
        self.ledger.close().await;
        match self.chain {
            Some(chain) => Ok(chain.shutdown().await?),
            None => Ok(()),
        }
    }
}

/// The first recorded contract without code on chain, if any.
async fn missing_contract<P: Provider>(
    provider: &P,
    platform: &Platform,
) -> Result<Option<Address>> {
    let mut addresses = vec![
        platform.identity_registry.address,
        platform.deed.address,
        platform.directory.address,
        platform.settlement_token,
    ];
    addresses.extend(platform.test_stablecoin.map(|d| d.address));
    for address in addresses {
        if provider.get_code_at(address).await?.is_empty() {
            return Ok(Some(address));
        }
    }
    Ok(None)
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Opens the API on the node's database, makes the first admin key on an empty database, and
/// serves it.
async fn start_api(
    settings: &ApiSettings,
    data_dir: &std::path::Path,
    database_url: &str,
    chain: Arc<dyn ChainStatus>,
    ledger: Ledger,
) -> Result<RunningApi> {
    let db = propledger_api::db::Db::connect(database_url).await?;
    let first_key = match propledger_api::keys::bootstrap(&db).await? {
        Some((_, secret)) => {
            let path = data_dir.join(ADMIN_KEY_FILE);
            write_secret_file(&path, secret.expose())?;
            info!(path = %path.display(), "the database had no users or keys: made an admin key");
            Some(secret.expose().to_owned())
        }
        None => None,
    };
    let mut config = settings.config.clone();
    config.data_dir = data_dir.to_owned();
    let api = Api::new(db, config, Some(chain))?;
    api.attach_ledger(ledger)?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| Error::Config(format!("the API cannot listen on {}: {e}", settings.listen)))?;
    let addr = listener.local_addr().map_err(|e| Error::Io {
        path: data_dir.to_owned(),
        source: e,
    })?;
    let url = format!("http://{addr}");
    let (stop, mut stopped) = watch::channel(false);
    let upkeep = api.spawn_upkeep();
    let server = tokio::spawn({
        let api = api.clone();
        async move {
            api.serve(listener, async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
        }
    });
    info!(url = %url, docs = %format!("{url}/v1/docs"), "API listening");
    Ok(RunningApi {
        url,
        stop,
        server,
        upkeep,
        first_key,
    })
}

/// Writes a secret to a new file only its owner can read.
fn write_secret_file(path: &std::path::Path, secret: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(format!("{secret}\n").as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)
}

/// The chain and the indexer as the API's readiness and metrics see them.
struct NodeChain {
    provider: alloy::providers::DynProvider,
    ledger: Ledger,
}

impl ChainStatus for NodeChain {
    fn head(&self) -> futures_util::future::BoxFuture<'_, std::result::Result<u64, String>> {
        Box::pin(async move {
            self.provider.get_block_number().await.map_err(|e| {
                // The provider's URL may carry a key: the detail goes to the log only.
                tracing::debug!(error = %e, "reading the chain's head failed");
                "the chain does not answer".to_owned()
            })
        })
    }

    fn indexed(
        &self,
    ) -> futures_util::future::BoxFuture<'_, std::result::Result<Option<u64>, String>> {
        Box::pin(async move {
            let checkpoint = propledger_indexer::store::checkpoint(&self.ledger)
                .await
                .map_err(|e| {
                    tracing::debug!(error = %e.report(), "reading the indexer's checkpoint failed");
                    "the indexer's checkpoint cannot be read".to_owned()
                })?;
            Ok(checkpoint.map(|c| c.next_block))
        })
    }
}
