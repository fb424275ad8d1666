//! Start-up and shutdown of a node: bring up the chain (embedded, or external over JSON-RPC), make sure the platform contracts are
//! deployed there exactly once, and keep the record of where they are and of their code. A start
//! that finds other code than the record's (on chain, or in this build) holds chain actions back
//! until an operator accepts it ([`NodeConfig::accept_deployed_code`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use propledger_api::app::ChainContext;
use propledger_api::outbox::sender::SenderConfig;
use propledger_api::{Api, ApiConfig, ChainStatus};
use propledger_contracts::deploy::{self, Platform, Roles, SettlementToken};
use propledger_indexer::source::SourceConfig;
use propledger_indexer::{IndexerConfig, Leader, run_exclusive};
use propledger_ledger::Ledger;
use propledger_net::{Secret, redact_url};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{error, info, warn};

use crate::{
    Error, Result,
    backup::RestoreMarker,
    chain::{ChainConfig, ChainMode, DEV_CHAIN_IDS, EmbeddedChain},
    code::{self, Mismatch},
    deployment::DeploymentRecord,
};

/// The first account of the standard test mnemonic ("test test ... junk"), funded on every
/// development chain. Never accepted on a chain that is not a known development chain.
pub const DEV_PRIVATE_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// What the operator's account holds at the genesis of a production embedded chain, in wei
/// (one million ether: the chain's gas money, which the operator hands on to other signers).
pub const PRODUCTION_OPERATOR_BALANCE_WEI: u128 = 1_000_000 * 10u128.pow(18);

/// What a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the chain state and the deployment record live.
    pub data_dir: PathBuf,
    /// An external JSON-RPC endpoint; `None` runs the local chain. May carry credentials.
    pub rpc_url: Option<Secret<String>>,
    /// A second, external chain the books' head is anchored on too (with the admin key), beside
    /// the platform's own chain. May carry credentials.
    pub anchor_rpc_url: Option<Secret<String>>,
    /// The deployer/admin key (loaded with [`crate::keys`]); `None` uses [`DEV_PRIVATE_KEY`] on
    /// development chains.
    pub signer: Option<PrivateKeySigner>,
    /// Keys of the operational roles; each one not given is the admin key.
    pub role_keys: RoleKeys,
    /// Create the embedded chain in production mode (see [`ChainMode::Production`]): needs
    /// `signer`, whose account is funded at genesis, and a chain id of its own.
    pub production: bool,
    /// An existing settlement token; `None` deploys a test stablecoin.
    pub settlement_token: Option<Address>,
    /// Options of the embedded chain (ignored with `rpc_url`).
    pub chain: ChainConfig,
    /// Where the books and the index live: `sqlite:<path>` or `postgres://...`; `None` uses
    /// `sqlite:<data-dir>/ledger.db`. May carry a password.
    pub database_url: Option<Secret<String>>,
    /// Confirmations before a chain event's entry is posted; `None` means 0 on the embedded
    /// chain (it has no reorgs of its own) and 12 on an external chain.
    pub confirmations: Option<u64>,
    /// PEM files of CA certificates to trust for `https`/`wss` endpoints besides Mozilla's
    /// roots (a permissioned network's private CA).
    pub ca_files: Vec<PathBuf>,
    /// The HTTP API; `None` runs the node without it.
    pub api: Option<ApiSettings>,
    /// Accept the platform contracts' code as it is now where it differs from the deployment
    /// record (re-recording it) instead of refusing chain actions.
    pub accept_deployed_code: bool,
}

/// Where and how the node serves its HTTP API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The listening address.
    pub listen: SocketAddr,
    /// The origin clients reach the API at (`https://api.example.com`), which wallet sign-in
    /// messages must name; `None`: `http://` and the listening address.
    pub public_url: Option<String>,
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
            anchor_rpc_url: None,
            signer: None,
            role_keys: RoleKeys::default(),
            production: false,
            settlement_token: None,
            chain,
            database_url: None,
            confirmations: None,
            ca_files: Vec::new(),
            api: Some(ApiSettings {
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
                public_url: None,
                config: ApiConfig::new(PathBuf::new()),
            }),
            accept_deployed_code: false,
        }
    }
}

/// The file the admin key made at first start is written to, in the data directory.
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// Signers of the accounts that hold the platform's operational roles (see
/// [`propledger_contracts::deploy::Roles`]), loaded like the admin key ([`crate::keys`]). Each
/// one not given is the admin key, which on a development chain defaults to the dev key. `Debug`
/// shows which are set, never the keys.
#[derive(Clone, Default)]
pub struct RoleKeys {
    /// The transfer agent of the share tokens.
    pub agent: Option<PrivateKeySigner>,
    /// The operator of the treasuries and offerings.
    pub treasurer: Option<PrivateKeySigner>,
    /// The identity registry's registrar.
    pub registrar: Option<PrivateKeySigner>,
    /// The compliance rules admin.
    pub rules: Option<PrivateKeySigner>,
}

impl std::fmt::Debug for RoleKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |k: &Option<PrivateKeySigner>| if k.is_some() { "set" } else { "admin key" };
        f.debug_struct("RoleKeys")
            .field("agent", &set(&self.agent))
            .field("treasurer", &set(&self.treasurer))
            .field("registrar", &set(&self.registrar))
            .field("rules", &set(&self.rules))
            .finish()
    }
}

/// A wallet that signs for every role (the admin by default, and each operational role that has a
/// key of its own), and the roles' addresses.
fn role_wallet(admin: PrivateKeySigner, keys: &RoleKeys) -> (EthereumWallet, Roles) {
    let mut roles = Roles::single(admin.address());
    let mut wallet = EthereumWallet::new(admin);
    for (key, slot) in [
        (&keys.agent, &mut roles.agent),
        (&keys.treasurer, &mut roles.treasurer),
        (&keys.registrar, &mut roles.registrar),
        (&keys.rules, &mut roles.rules),
    ] {
        if let Some(signer) = key {
            *slot = signer.address();
            wallet.register_signer(signer.clone());
        }
    }
    (wallet, roles)
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    chain: Option<EmbeddedChain>,
    rpc_url: String,
    record: DeploymentRecord,
    code_mismatches: Vec<Mismatch>,
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
    senders: Vec<JoinHandle<()>>,
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
        let mut chain_config = config.chain.clone();
        if config.production {
            if config.rpc_url.is_some() {
                return Err(Error::Config(
                    "--production creates an embedded chain; it does not apply with --rpc-url"
                        .to_owned(),
                ));
            }
            let Some(operator) = &config.signer else {
                return Err(Error::Config(
                    "--production needs the operator's key: pass --private-key".to_owned(),
                ));
            };
            chain_config.mode = ChainMode::Production {
                funded: vec![(
                    operator.address(),
                    U256::from(PRODUCTION_OPERATOR_BALANCE_WEI),
                )],
            };
        }
        let chain = match &config.rpc_url {
            Some(_) => None,
            None => Some(EmbeddedChain::start(chain_config).await?),
        };
        if let Some(chain) = &chain
            && !chain.is_production()
            && !chain.local_addr().ip().is_loopback()
        {
            warn!(
                listen = %chain.local_addr(),
                "a development chain is reachable from other machines: anyone there can use its unlocked accounts and dev methods"
            );
        }
        let rpc_url = match (&config.rpc_url, &chain) {
            (Some(url), _) => url.expose().clone(),
            (None, Some(chain)) => chain.url(),
            (None, None) => unreachable!("a local chain is started whenever no rpc url is given"),
        };
        let tls = propledger_net::tls::client_config(&config.ca_files)
            .map_err(|e| Error::Config(e.to_string()))?;
        let client = propledger_net::rpc::client(&rpc_url, &tls)
            .await
            .map_err(endpoint_error)?;
        let read_only = ProviderBuilder::new().connect_client(client.clone());
        let chain_id = read_only.get_chain_id().await.map_err(endpoint_error)?;

        let signer = match (&config.signer, DEV_CHAIN_IDS.contains(&chain_id)) {
            (Some(signer), _) => signer.clone(),
            (None, true) => DEV_PRIVATE_KEY
                .parse()
                .map_err(|_| Error::Config("the dev key does not parse".to_owned()))?,
            (None, false) => {
                return Err(Error::Config(format!(
                    "chain {chain_id} is not a development chain: pass --private-key"
                )));
            }
        };
        // The API's outbox signs with the same keys, one sender per distinct key.
        let mut signing_keys = vec![("admin".to_owned(), signer.clone())];
        for (role, key) in [
            ("agent", &config.role_keys.agent),
            ("treasurer", &config.role_keys.treasurer),
            ("registrar", &config.role_keys.registrar),
            ("rules", &config.role_keys.rules),
        ] {
            signing_keys.push((
                role.to_owned(),
                key.clone().unwrap_or_else(|| signer.clone()),
            ));
        }
        let (wallet, roles) = role_wallet(signer, &config.role_keys);
        let provider = ProviderBuilder::new().wallet(wallet).connect_client(client);

        let database_url = config
            .database_url
            .as_ref()
            .map(|u| u.expose().clone())
            .unwrap_or_else(|| format!("sqlite:{}", config.data_dir.join("ledger.db").display()));
        // The platform the database records, shared by every node on it: a fresh data directory
        // takes it instead of deploying another; a record naming another platform is refused.
        let shared_db = propledger_api::db::Db::connect(&database_url).await?;
        let shared = propledger_api::platform::stored(&shared_db).await?;
        let file = match (DeploymentRecord::load(&config.data_dir)?, &shared) {
            (Some(f), _) if f.platform.chain_id != chain_id => {
                return Err(Error::ChainMismatch {
                    recorded: f.platform.chain_id,
                    actual: chain_id,
                });
            }
            (Some(f), Some(p)) if f.platform != *p => {
                return Err(Error::PlatformDiffers {
                    data_dir: f.platform.directory.address,
                    database: p.directory.address,
                });
            }
            (None, Some(p)) if p.chain_id == chain_id => {
                info!(directory = %p.directory.address, "found the platform's deployment in the database");
                let mut record = DeploymentRecord::new(p.clone());
                record.code = code::observe(&provider, &record.platform).await?;
                record.save(&config.data_dir)?;
                Some(record)
            }
            (f, _) => f,
        };
        let record = match file {
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
        let (record, code_mismatches) = match record {
            Some(record) => {
                let (mut record, mismatches) = check_code(
                    &provider,
                    record,
                    config.accept_deployed_code,
                    &config.data_dir,
                )
                .await?;
                // A platform recorded before it had an anchor contract gets one, when this
                // node holds its admin key and its code is as recorded.
                if record.platform.anchor.is_none()
                    && mismatches.is_empty()
                    && record.platform.roles.admin == roles.admin
                {
                    let anchor = deploy::deploy_anchor(&provider, roles.admin).await?;
                    record.platform.anchor = Some(anchor);
                    record.code = code::observe(&provider, &record.platform).await?;
                    record.save(&config.data_dir)?;
                    info!(anchor = %anchor.address, "deployed the books' anchor contract the platform lacked");
                }
                // Likewise the share market, with this node's role holders (the recorded
                // admin's key is this node's, checked above).
                if record.platform.settlement.is_none()
                    && mismatches.is_empty()
                    && record.platform.roles.admin == roles.admin
                {
                    let market = deploy::deploy_settlement(
                        &provider,
                        &record.platform.roles,
                        record.platform.settlement_token,
                    )
                    .await?;
                    record.platform.settlement = Some(market);
                    record.code = code::observe(&provider, &record.platform).await?;
                    record.save(&config.data_dir)?;
                    info!(settlement = %market.address, "deployed the share market the platform lacked");
                }
                (record, mismatches)
            }
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
                    launcher = %platform.launcher.address,
                    settlement = %platform.settlement_token,
                    "platform contracts deployed"
                );
                let mut record = DeploymentRecord::new(platform);
                record.code = code::observe(&provider, &record.platform).await?;
                record.save(&config.data_dir)?;
                (record, Vec::new())
            }
        };
        let mut record = record;
        let external_anchor = match &config.anchor_rpc_url {
            Some(url) => Some(
                external_anchor(
                    url.expose(),
                    &tls,
                    &signing_keys[0].1,
                    chain_id,
                    &mut record,
                    &config.data_dir,
                    &shared_db,
                )
                .await?,
            ),
            None => None,
        };
        if shared.as_ref() != Some(&record.platform) {
            propledger_api::platform::store(&shared_db, &record.platform).await?;
        }
        drop(shared_db);
        let ledger = Ledger::connect(&database_url).await?;
        let mut source = SourceConfig::new(rpc_url.clone());
        source.tls = Some(tls.clone());
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
        let mut leader = Leader::try_acquire(&ledger, &indexer_config).await?;
        if let Some(marker) = RestoreMarker::load(&config.data_dir)? {
            match leader.as_mut() {
                Some(leader) => {
                    verify_restored(&ledger, leader.indexer()).await?;
                    RestoreMarker::clear(&config.data_dir)?;
                    info!(from = %marker.from.display(), "restored data verified against the chain");
                }
                None => warn!(
                    "this data directory was restored, but another process holds the indexer role: the books are verified when this node takes it over"
                ),
            }
        }
        if leader.is_some() {
            info!(database = %redact_url(&database_url), "indexer running");
        } else {
            info!(
                database = %redact_url(&database_url),
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
                    ChainWriting {
                        rpc_url: &rpc_url,
                        tls: &tls,
                        chain_id,
                        platform: record.platform.clone(),
                        keys: signing_keys,
                        confirmations: config.confirmations.unwrap_or(if chain.is_some() {
                            0
                        } else {
                            12
                        }),
                        ledger: ledger.clone(),
                        held: (!code_mismatches.is_empty())
                            .then(|| code::refusal(&code_mismatches)),
                        embedded: chain.is_some(),
                        external_anchor,
                    },
                )
                .await?,
            ),
            None => None,
        };
        Ok(Self {
            chain,
            rpc_url,
            record,
            code_mismatches,
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

    /// The JSON-RPC endpoint the node uses (with any credentials it carries: show it with
    /// [`propledger_net::redact_url`]).
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The platform contracts.
    pub fn platform(&self) -> &Platform {
        &self.record.platform
    }

    /// The deployment record as this start left it.
    pub fn record(&self) -> &DeploymentRecord {
        &self.record
    }

    /// Where the platform contracts' code differs from the record; while any does, the API
    /// refuses chain actions and no outbox sender runs.
    pub fn code_mismatches(&self) -> &[Mismatch] {
        &self.code_mismatches
    }

    /// Stops the node and the embedded chain (everything it acknowledged is already on disk).
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(api) = self.api.take() {
            let _ = api.stop.send(true);
            api.upkeep.abort();
            for sender in api.senders {
                if let Err(e) = sender.await {
                    warn!(error = %e, "an outbox sender failed");
                }
            }
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

/// A failure reaching the endpoint, with a hint when its TLS certificate is not trusted.
fn endpoint_error(e: alloy::transports::TransportError) -> Error {
    let text = propledger_net::describe(&e);
    if text.contains("invalid peer certificate") {
        return Error::Config(format!(
            "the rpc endpoint's TLS certificate is not trusted ({text}); a private CA is named with --ca-file"
        ));
    }
    Error::Rpc(e)
}

/// Checks a restored node's books before it indexes on: the entries' hash chain, and the
/// books against the chain's balances and cap tables at the last indexed block.
async fn verify_restored(ledger: &Ledger, indexer: &propledger_indexer::Indexer) -> Result<()> {
    let chain = ledger.verifier().chain().await?;
    if let Some(broken) = chain.first_break {
        return Err(Error::RestoredBooksDiffer(format!(
            "the entries' hash chain breaks at sequence {} ({:?})",
            broken.seq, broken.reason
        )));
    }
    let Some(last) = indexer.next_block().checked_sub(1) else {
        return Ok(());
    };
    // Balances and cap tables are the books against the chain; items waiting for an operator's
    // matching entry are ordinary business, not damage.
    match indexer.reconcile(last).await {
        Ok(report) => {
            let balances = report
                .balances
                .iter()
                .filter(|b| !b.difference().is_zero())
                .count();
            if balances > 0 || !report.cap_tables.is_empty() {
                return Err(Error::RestoredBooksDiffer(format!(
                    "at block {last}, {balances} balance(s) and {} cap table(s) differ",
                    report.cap_tables.len()
                )));
            }
            info!(
                block = last,
                entries = chain.entries_checked,
                balances = report.balances.len(),
                "restored books reconcile with the chain"
            );
            Ok(())
        }
        // The endpoint may not serve state that old (a pruned node): the hash chain is
        // verified, and indexing goes on.
        Err(e) => {
            warn!(block = last, error = %e, "the restored books could not be reconciled with the chain");
            Ok(())
        }
    }
}

/// Compares the recorded code hashes with the chain's and this build's. A record without
/// hashes gets the ones found (trusting them, as at deployment); with `accept`, differences are
/// logged and the hashes found recorded. Otherwise each difference is logged as an error and
/// returned: the caller holds chain actions back.
async fn check_code<P: Provider>(
    provider: &P,
    mut record: DeploymentRecord,
    accept: bool,
    data_dir: &std::path::Path,
) -> Result<(DeploymentRecord, Vec<Mismatch>)> {
    let found = code::observe(provider, &record.platform).await?;
    if record.code.is_empty() {
        record.code = found;
        record.save(data_dir)?;
        info!(
            contracts = record.code.len(),
            "the deployment record had no code hashes: recorded the deployed code as found"
        );
        return Ok((record, Vec::new()));
    }
    let mismatches = code::compare(&record.code, &found);
    if mismatches.is_empty() {
        return Ok((record, mismatches));
    }
    if accept {
        for m in &mismatches {
            warn!("accepted: {m}");
        }
        record.code = found;
        record.save(data_dir)?;
        info!("recorded the platform contracts' code as it is now (--accept-deployed-code)");
        return Ok((record, Vec::new()));
    }
    for m in &mismatches {
        error!("{m}");
    }
    error!("{}", code::refusal(&mismatches));
    Ok((record, mismatches))
}

/// The first recorded contract without code on chain, if any.
async fn missing_contract<P: Provider>(
    provider: &P,
    platform: &Platform,
) -> Result<Option<Address>> {
    let mut addresses: Vec<Address> = platform.deployed().iter().map(|d| d.address).collect();
    addresses.push(platform.settlement_token);
    for address in addresses {
        if provider.get_code_at(address).await?.is_empty() {
            return Ok(Some(address));
        }
    }
    Ok(None)
}
/// What the API needs to write to the chain through its outbox.
struct ChainWriting<'a> {
    rpc_url: &'a str,
    tls: &'a Arc<rustls::ClientConfig>,
    chain_id: u64,
    platform: Platform,
    keys: Vec<(String, PrivateKeySigner)>,
    confirmations: u64,
    ledger: Ledger,
    /// Why chain actions are held, when they are.
    held: Option<String>,
    /// The chain is the node's own embedded chain.
    embedded: bool,
    /// The external anchor chain: its id, its anchor contract and its endpoint.
    external_anchor: Option<(u64, deploy::Deployed, String)>,
}

/// The books' anchor contract on the external anchor chain at `url`: the one the database (or
/// else the data directory's record) holds for that chain when its code is there, else a new
/// one deployed with `key`; recorded in both.
/// The platform's own chain is refused: anchors there would add nothing.
async fn external_anchor(
    url: &str,
    tls: &Arc<rustls::ClientConfig>,
    key: &PrivateKeySigner,
    platform_chain: u64,
    record: &mut DeploymentRecord,
    data_dir: &std::path::Path,
    db: &propledger_api::db::Db,
) -> Result<(u64, deploy::Deployed, String)> {
    let client = propledger_net::rpc::client(url, tls)
        .await
        .map_err(endpoint_error)?;
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_client(client);
    let chain_id = provider.get_chain_id().await.map_err(endpoint_error)?;
    if chain_id == platform_chain {
        return Err(Error::Config(format!(
            "--anchor-rpc-url names chain {chain_id}, the platform's own chain: anchors there add nothing; name another chain"
        )));
    }
    // The database's contract first (shared by every node on it), then this data directory's.
    let shared = propledger_api::platform::stored_external_anchor(db, chain_id).await?;
    let own = record
        .external_anchor
        .filter(|a| a.chain_id == chain_id)
        .map(|a| a.contract);
    for contract in [shared, own].into_iter().flatten() {
        let code = provider
            .get_code_at(contract.address)
            .await
            .map_err(endpoint_error)?;
        if code.is_empty() {
            warn!(chain_id, anchor = %contract.address, "the external anchor chain has no code at a recorded anchor contract");
            continue;
        }
        if own != Some(contract) {
            record.external_anchor =
                Some(crate::deployment::ExternalAnchorRecord { chain_id, contract });
            record.save(data_dir)?;
        }
        if shared != Some(contract) {
            propledger_api::platform::store_external_anchor(db, chain_id, &contract).await?;
        }
        info!(chain_id, anchor = %contract.address, "anchoring the books on the external chain too");
        return Ok((chain_id, contract, url.to_owned()));
    }
    let contract = deploy::deploy_anchor(&provider, key.address()).await?;
    record.external_anchor = Some(crate::deployment::ExternalAnchorRecord { chain_id, contract });
    record.save(data_dir)?;
    propledger_api::platform::store_external_anchor(db, chain_id, &contract).await?;
    info!(chain_id, anchor = %contract.address, "deployed the books' anchor contract on the external anchor chain");
    Ok((chain_id, contract, url.to_owned()))
}

/// Opens the API on the node's database, makes the first admin key on an empty database, and
/// serves it.
async fn start_api(
    settings: &ApiSettings,
    data_dir: &std::path::Path,
    database_url: &str,
    chain: Arc<dyn ChainStatus>,
    writing: ChainWriting<'_>,
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
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| Error::Config(format!("the API cannot listen on {}: {e}", settings.listen)))?;
    let addr = listener.local_addr().map_err(|e| Error::Io {
        path: data_dir.to_owned(),
        source: e,
    })?;
    let url = format!("http://{addr}");
    let mut config = settings.config.clone();
    config.data_dir = data_dir.to_owned();
    if settings.public_url.is_none() {
        // Sign-in messages name the address clients reach; behind a proxy, --public-url says it.
        config.public_url = url.clone();
    }
    if writing.embedded {
        // Wallets reach the node's own chain where the node serves it, and an auditor may
        // always have the node re-read it.
        config
            .public_rpc_url
            .get_or_insert_with(|| writing.rpc_url.to_owned());
        config.audit_rpc_allowlist.push(writing.rpc_url.to_owned());
    }
    let mut keys = writing.keys;
    let external_anchor = match &writing.external_anchor {
        Some((chain_id, contract, url)) => {
            let key = keys
                .first()
                .map(|(_, k)| k.clone())
                .ok_or_else(|| Error::Config("no admin key to anchor with".to_owned()))?;
            let mut source = propledger_indexer::source::SourceConfig::new(url.clone());
            source.tls = Some(writing.tls.clone());
            let anchor = propledger_api::anchors::ExternalAnchor {
                chain_id: *chain_id,
                contract: *contract,
                signer: key.address(),
                provider: ChainContext::connect_provider(url, writing.tls).await?,
                source,
            };
            keys.push((propledger_api::anchors::EXTERNAL_KEY_ROLE.to_owned(), key));
            Some(anchor)
        }
        None => None,
    };
    let context = ChainContext {
        chain_id: writing.chain_id,
        platform: writing.platform,
        signers: keys
            .iter()
            .filter(|(role, _)| role != propledger_api::anchors::EXTERNAL_KEY_ROLE)
            .map(|(role, key)| (role.clone(), key.address()))
            .collect(),
        provider: ChainContext::connect_provider(writing.rpc_url, writing.tls).await?,
        source: Some({
            let mut source = propledger_indexer::source::SourceConfig::new(writing.rpc_url);
            source.tls = Some(writing.tls.clone());
            source
        }),
        external_anchor,
    };
    let api = Api::with_chain(db, config, Some(chain), Some(context))?;
    api.attach_ledger(writing.ledger.clone())?;
    if let Some(reason) = writing.held {
        api.hold_chain_writes(reason);
    }
    let (stop, mut stopped) = watch::channel(false);
    let senders = api.spawn_senders(
        writing.ledger,
        keys,
        SenderConfig::new(writing.chain_id, writing.confirmations),
        stopped.clone(),
    )?;
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
        senders,
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
