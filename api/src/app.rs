//! The API's state: its database, blob store, settings, metrics and rate limiters, and what it
//! knows of the chain. One [`Api`] serves every request of a process; clones share it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use propledger_net::ServerLimits;

use crate::auth::{self, Principal};
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
        }
    }
}

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
            }),
        })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The settings.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    /// Resolves a bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        auth::authenticate(&self.inner.db, token).await
    }

    /// The router serving every route, with the API's middleware.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.clone())
    }

    /// Starts the API's background upkeep (forgetting old idempotency keys, trimming rate
    /// limiter state); it stops when the returned handle is dropped or aborted.
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
            }
        })
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
