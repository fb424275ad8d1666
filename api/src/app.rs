//! The API's state: its database, blob store, settings, metrics and rate limiters, and what it
//! knows of the chain. One [`Api`] serves every request of a process; clones share it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use propledger_net::ServerLimits;

use crate::auth::Principal;
use crate::blobs::{BlobLocation, BlobStore};
use crate::db::{Db, Engine};
use crate::error::Result;
use crate::http::limits::{RateLimiter, RateLimits};
use crate::http::metrics::Metrics;

/// What the API knows of the chain and the indexer, for readiness and metrics. The node
/// implements it over its chain connection and the indexer's checkpoint.
pub trait ChainStatus: Send + Sync + 'static {
    /// The chain's latest block number.
    fn head(&self) -> BoxFuture<'_, std::result::Result<u64, String>>;
    /// The next block the indexer will read (every block before it is indexed), or `None`
    /// before the indexer's first commit.
    fn indexed(&self) -> BoxFuture<'_, std::result::Result<Option<u64>, String>>;
}

/// The chain the API writes to: its id, the platform's contracts, the addresses of the keys
/// that sign each role's transactions (their senders run beside the API), and a connection for
/// reads.
#[derive(Clone, Debug)]
pub struct ChainContext {
    /// The chain's id.
    pub chain_id: u64,
    /// The platform's shared contracts.
    pub platform: propledger_contracts::deploy::Platform,
    /// Each signing role's address (`admin`, `registrar`, `agent`, `treasurer`, `rules`).
    pub signers: std::collections::BTreeMap<String, alloy_primitives::Address>,
    /// Reads of the chain.
    pub provider: alloy::providers::DynProvider,
    /// The chain as the indexer reads it, for the auditors' reconciliation (`None`: the audit
    /// routes that read the chain answer 503).
    pub source: Option<propledger_indexer::source::SourceConfig>,
    /// The books anchored on a second, external chain too (`None`: only on this one).
    pub external_anchor: Option<crate::anchors::ExternalAnchor>,
}

impl ChainContext {
    /// A connection to the chain at `url` (`http`, `https`, `ws` or `wss`, credentials in the
    /// URL allowed) for [`ChainContext::provider`] and the outbox senders: the node's own
    /// JSON-RPC client ([`propledger_net::rpc`]), with `tls` for the secure schemes, so the
    /// API's writes reach the same endpoints, through the same TLS, as the node's other
    /// clients. Errors show the URL masked.
    pub async fn connect_provider(
        url: &str,
        tls: &Arc<rustls::ClientConfig>,
    ) -> Result<alloy::providers::DynProvider> {
        use alloy::providers::{Provider, ProviderBuilder};
        let client = propledger_net::rpc::client(url, tls).await.map_err(|e| {
            crate::error::Error::Config(format!(
                "the chain at {}: {}",
                propledger_net::redact_url(url),
                propledger_net::describe(&e)
            ))
        })?;
        Ok(ProviderBuilder::new().connect_client(client).erased())
    }

    /// The address that signs a role's transactions.
    pub fn signer(&self, role: &str) -> Result<alloy_primitives::Address> {
        self.signers
            .get(role)
            .or_else(|| self.signers.get("admin"))
            .copied()
            .ok_or_else(|| {
                crate::error::Error::Config(format!("no signing key for the {role} role"))
            })
    }
}

/// Settings of the API.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The node's data directory: blobs on disk and spooled uploads go under it.
    pub data_dir: PathBuf,
    /// Where blobs are kept (default: on disk with SQLite, in the database with PostgreSQL, so
    /// every replica can serve them).
    pub blob_location: Option<BlobLocation>,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// Largest document upload, bytes.
    pub max_document_bytes: u64,
    /// How long a request may take before it is abandoned.
    pub request_timeout: Duration,
    /// Request rate limits.
    pub rate_limits: RateLimits,
    /// Indexer lag (blocks) above which `/readyz` reports not ready.
    pub max_ready_lag_blocks: u64,
    /// Open connections, and how long clients may take to send a request or sit idle
    /// ([`ServerLimits`]: 1,024 connections, 10 s for headers, 30 s for a body, 30 s idle).
    pub server: ServerLimits,
    /// The JSON-RPC endpoints an auditor may name for a verification (`POST
    /// /v1/audit/verifications`); the node reads no other (no requests into the operator's
    /// network on a caller's word). Empty: verifications are refused.
    pub audit_rpc_allowlist: Vec<String>,
    /// How often the upkeep anchors the books' head on chain when it moved on (`None`: only
    /// on demand). Default one hour.
    pub anchor_interval: Option<Duration>,
    /// The API's public origin (`https://api.example.com`), which EIP-4361 messages must name;
    /// default `http://` and the listening address.
    pub public_url: String,
    /// The JSON-RPC endpoint published to wallets in `GET /v1/network` (`None`: none published;
    /// wallets use their own).
    pub public_rpc_url: Option<String>,
    /// Below this balance (wei), a signing key is reported low on gas money (metrics and log).
    pub low_balance_wei: alloy_primitives::U256,
}

impl ApiConfig {
    /// Defaults for a data directory: 12-hour sessions, 25 MiB documents, 60 s requests, the
    /// default rate limits, ready while the indexer is at most 64 blocks behind.
    pub fn new(data_dir: PathBuf) -> Self {
        ApiConfig {
            data_dir,
            blob_location: None,
            session_ttl: Duration::from_secs(12 * 3600),
            max_document_bytes: 25 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            rate_limits: RateLimits::default(),
            max_ready_lag_blocks: 64,
            server: ServerLimits::default(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            audit_rpc_allowlist: Vec::new(),
            public_rpc_url: None,
            anchor_interval: Some(Duration::from_secs(3600)),
            low_balance_wei: alloy_primitives::U256::from(50_000_000_000_000_000u64),
        }
    }
}

/// Books exports one process runs at once.
pub const MAX_EXPORTS: usize = 2;
/// Whole-books audit checks (the hash chain, a reconciliation) one process runs at once.
pub const MAX_AUDITS: usize = 1;
/// Valuation models one process trains at once (each keeps a core busy for seconds).
pub const MAX_TRAININGS: usize = 1;

/// The API of one process.
#[derive(Clone)]
pub struct Api {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) blobs: BlobStore,
    pub(crate) config: ApiConfig,
    pub(crate) metrics: Metrics,
    pub(crate) limiter: RateLimiter,
    pub(crate) chain: Option<Arc<dyn ChainStatus>>,
    pub(crate) context: Option<ChainContext>,
    /// Woken when an action is recorded, so a sender in this process starts at once.
    pub(crate) outbox_wake: Arc<tokio::sync::Notify>,
    /// Credentials resolved in the last moments.
    pub(crate) credentials: crate::auth::CredentialCache,
    /// Offering terms, read once each.
    pub(crate) terms: crate::market::TermsCache,
    /// The books, in the same database, once attached ([`Api::attach_ledger`]).
    pub(crate) ledger: std::sync::OnceLock<propledger_ledger::Ledger>,
    /// Why chain actions are refused, once held ([`Api::hold_chain_writes`]).
    pub(crate) writes_held: std::sync::OnceLock<String>,
    /// Books exports running at once (each holds a read snapshot while it streams).
    pub(crate) exports: Arc<tokio::sync::Semaphore>,
    /// Whole-books audit checks running at once (each reads every entry or booking).
    pub(crate) audits: Arc<tokio::sync::Semaphore>,
    /// Valuation models training at once.
    pub(crate) trainings: Arc<tokio::sync::Semaphore>,
    /// Trained valuation models, loaded.
    pub(crate) models: crate::avm::ModelCache,
    /// Areas' sales, ready to value from.
    pub(crate) markets: crate::sales::MarketCache,
    /// Properties read lately (SQLite only).
    pub(crate) properties: crate::properties::PropertyCache,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("engine", &self.inner.db.engine())
            .field("blobs", &self.inner.blobs.location())
            .finish_non_exhaustive()
    }
}

impl Api {
    /// The API over a database (its migrations applied by [`Db::connect`]).
    pub fn new(db: Db, config: ApiConfig, chain: Option<Arc<dyn ChainStatus>>) -> Result<Api> {
        Self::with_chain(db, config, chain, None)
    }

    /// The API over a database, writing to a chain through the outbox.
    pub fn with_chain(
        db: Db,
        config: ApiConfig,
        chain: Option<Arc<dyn ChainStatus>>,
        context: Option<ChainContext>,
    ) -> Result<Api> {
        let watch = db.change_watch();
        let location = config.blob_location.unwrap_or(match db.engine() {
            Engine::Sqlite => BlobLocation::Disk,
            Engine::Postgres => BlobLocation::Database,
        });
        let blobs = BlobStore::new(location, &config.data_dir)?;
        let limiter = RateLimiter::new(&config.rate_limits);
        Ok(Api {
            inner: Arc::new(Inner {
                db,
                blobs,
                metrics: Metrics::new(),
                limiter,
                config,
                chain,
                context,
                outbox_wake: Arc::new(tokio::sync::Notify::new()),
                credentials: Default::default(),
                terms: Default::default(),
                ledger: std::sync::OnceLock::new(),
                writes_held: std::sync::OnceLock::new(),
                exports: Arc::new(tokio::sync::Semaphore::new(MAX_EXPORTS)),
                audits: Arc::new(tokio::sync::Semaphore::new(MAX_AUDITS)),
                trainings: Arc::new(tokio::sync::Semaphore::new(MAX_TRAININGS)),
                models: Default::default(),
                markets: Default::default(),
                properties: crate::properties::PropertyCache::new(watch),
            }),
        })
    }

    /// Gives the API the books kept in its database (deals' costs, the books' reports). Once:
    /// a second ledger is refused.
    pub fn attach_ledger(&self, ledger: propledger_ledger::Ledger) -> Result<()> {
        self.inner
            .ledger
            .set(ledger)
            .map_err(|_| crate::error::Error::Config("the API already has its ledger".to_owned()))
    }

    /// The books; unavailable when no ledger is attached.
    pub fn ledger(&self) -> Result<&propledger_ledger::Ledger> {
        self.inner.ledger.get().ok_or_else(|| {
            crate::error::Error::Unavailable("this API runs without the books".to_owned())
        })
    }

    /// The chain the API writes to; unavailable when the API runs without one.
    pub fn chain(&self) -> Result<&ChainContext> {
        self.inner.context.as_ref().ok_or_else(|| {
            crate::error::Error::Unavailable("this API runs without a chain".to_owned())
        })
    }

    /// Refuses every chain action for the life of this process, with `reason` (the sentence
    /// clients get in a `code-mismatch` problem): nothing more is recorded in the outbox and
    /// [`Api::spawn_senders`] starts no sender. Reads, and the unsigned transactions built for
    /// investors' own wallets, go on. The first reason stays.
    pub fn hold_chain_writes(&self, reason: String) {
        let _ = self.inner.writes_held.set(reason);
    }

    /// Why chain actions are refused, when they are.
    pub fn chain_writes_held(&self) -> Option<&str> {
        self.inner.writes_held.get().map(String::as_str)
    }

    /// The chain, for an action that writes to it: refused while chain actions are held.
    pub fn writable_chain(&self) -> Result<&ChainContext> {
        match self.chain_writes_held() {
            Some(reason) => Err(crate::error::Error::ChainWritesHeld(reason.to_owned())),
            None => self.chain(),
        }
    }

    /// Starts one outbox sender per signing key (each takes over only while it holds its key's
    /// lock among every process on the database); they stop when `stop` turns true. None
    /// starts while chain actions are held. The key of role `anchor` sends on the external
    /// anchor chain ([`ChainContext::external_anchor`]).
    pub fn spawn_senders(
        &self,
        ledger: propledger_ledger::Ledger,
        keys: Vec<(String, alloy::signers::local::PrivateKeySigner)>,
        config: crate::outbox::sender::SenderConfig,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>> {
        let context = self.chain()?.clone();
        if let Some(reason) = self.chain_writes_held() {
            tracing::warn!(%reason, "chain actions are held: no outbox sender runs");
            return Ok(Vec::new());
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut handles = Vec::new();
        for (role, key) in keys {
            // The external anchor chain's key sends there, on that chain's nonces.
            let (provider, config) = match (&context.external_anchor, role.as_str()) {
                (Some(ext), crate::anchors::EXTERNAL_KEY_ROLE) => {
                    let mut c = config.clone();
                    c.chain_id = ext.chain_id;
                    (ext.provider.clone(), c)
                }
                (None, crate::anchors::EXTERNAL_KEY_ROLE) => continue,
                // One sender per address, whatever roles share it.
                _ if !seen.insert(key.address()) => continue,
                _ => (context.provider.clone(), config.clone()),
            };
            let mut sender = crate::outbox::sender::Sender::new(
                self.inner.db.clone(),
                provider,
                key,
                &role,
                config,
            );
            let ledger = ledger.clone();
            let stop = stop.clone();
            let wake = self.inner.outbox_wake.clone();
            handles.push(tokio::spawn(async move {
                sender.run_exclusive(&ledger, stop, &wake).await;
            }));
        }
        Ok(handles)
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The settings.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// Offering terms, read once each.
    pub fn terms(&self) -> &crate::market::TermsCache {
        &self.inner.terms
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    /// Resolves a bearer token (reusing what was resolved in the last
    /// [`auth::CACHE_TTL`]).
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        self.inner
            .credentials
            .authenticate(&self.inner.db, token)
            .await
    }

    /// Forgets every cached credential, so a revocation or a role change takes effect at once
    /// in this process.
    pub fn forget_credentials(&self) {
        self.inner.credentials.clear();
    }

    /// The router serving every route, with the API's middleware.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.clone())
    }

    /// Starts the API's background upkeep, once a minute: forgetting old idempotency keys,
    /// trimming rate limiter state, listing launched share tokens on the share market, posting
    /// the scheduled rents that fell due, settling the
    /// distributions run through waterfalls that the chain carried out. It stops when
    /// the returned handle is aborted.
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let api = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                api.inner.limiter.trim();
                let expire = async {
                    let mut tx = api.inner.db.begin().await?;
                    let n = crate::idempotency::expire(tx.exec()).await?;
                    tx.commit().await?;
                    Ok::<_, crate::error::Error>(n)
                };
                match expire.await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(n, "forgot expired idempotency keys"),
                    Err(e) => tracing::warn!(error = %e, "expiring idempotency keys failed"),
                }
                match api.list_on_market().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, "queued share tokens' listings on the market"),
                    Err(e) => tracing::warn!(error = %e, "listing share tokens failed"),
                }
                match api.anchor_if_due().await {
                    Ok(Some(q)) => {
                        tracing::info!(entries = q.entries, "queued an anchor of the books")
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "anchoring the books failed"),
                }
                if let Some(ledger) = api.inner.ledger.get() {
                    let today = chrono::Utc::now().date_naive();
                    match crate::transactions::post_due(&api.inner.db, ledger, today).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(n, "posted scheduled rents"),
                        Err(e) => tracing::warn!(error = %e, "posting scheduled rents failed"),
                    }
                    match crate::waterfall::runs::settle_all(&api).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(n, "settled distributions run through waterfalls"),
                        Err(e) => tracing::warn!(error = %e, "settling waterfall runs failed"),
                    }
                }
            }
        })
    }

    /// Queues the listing of every launched property's share token on the platform's share
    /// market (once each); nothing without a writable chain. Returns how many it queued.
    pub async fn list_on_market(&self) -> crate::error::Result<usize> {
        let Ok(chain) = self.writable_chain() else {
            return Ok(0);
        };
        let n = crate::tokenization::list_on_market(&self.inner.db, chain).await?;
        if n > 0 {
            self.inner.outbox_wake.notify_waiters();
        }
        Ok(n)
    }

    /// Queues an anchor of the books' head when the last one was queued longer ago than
    /// [`ApiConfig::anchor_interval`] (or never) and the head moved on; nothing without a
    /// writable chain, the books, or an anchor contract.
    async fn anchor_if_due(&self) -> crate::error::Result<Option<crate::anchors::Queued>> {
        let Some(every) = self.inner.config.anchor_interval else {
            return Ok(None);
        };
        let (Ok(chain), Some(ledger)) = (self.writable_chain(), self.inner.ledger.get()) else {
            return Ok(None);
        };
        if chain.platform.anchor.is_none() {
            return Ok(None);
        }
        let now = crate::types::now_ms();
        if let Some(last) = crate::anchors::last_queued_ms(&self.inner.db).await?
            && now - last < i64::try_from(every.as_millis()).unwrap_or(i64::MAX)
        {
            return Ok(None);
        }
        let mut tx = self.inner.db.begin().await?;
        let actor = crate::auth::Actor::system("anchor");
        let queued = crate::anchors::queue(&mut tx, chain, ledger, &actor).await?;
        tx.commit().await?;
        if queued.is_some() {
            self.inner.outbox_wake.notify_waiters();
        }
        Ok(queued)
    }

    /// Serves the API on a listener until `shutdown` resolves, under the connection limits
    /// and timeouts of [`ApiConfig::server`].
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        propledger_net::serve(
            listener,
            self.router(),
            self.inner.config.server.clone(),
            shutdown,
        )
        .await
    }
}
