//! Prometheus metrics at `/metrics`: requests by route and status, latencies, requests in
//! flight, the chain's head, the indexer's progress and its lag, and each signing key's balance
//! for gas (with a flag when it is low).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A request's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// A route's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// A signing key's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignerLabels {
    role: String,
    address: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;
type Signers = Family<SignerLabels, Gauge<u64, AtomicU64>>;

/// The API's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
    in_flight: Gauge,
    chain_head: Gauge<u64, AtomicU64>,
    indexer_next: Gauge<u64, AtomicU64>,
    indexer_lag: Gauge<u64, AtomicU64>,
    signer_balance: Signers,
    signer_low: Signers,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("propledger");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Latency = Family::new_with_constructor(latency_histogram);
        let in_flight = Gauge::default();
        let chain_head = Gauge::<u64, AtomicU64>::default();
        let indexer_next = Gauge::<u64, AtomicU64>::default();
        let indexer_lag = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "api_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "api_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            latency.clone(),
        );
        registry.register(
            "api_requests_in_flight",
            "HTTP requests being answered",
            in_flight.clone(),
        );
        registry.register(
            "chain_head_block",
            "The chain's latest block number, as last read",
            chain_head.clone(),
        );
        registry.register(
            "indexer_next_block",
            "The next block the indexer will read",
            indexer_next.clone(),
        );
        registry.register(
            "indexer_lag_blocks",
            "Blocks between the chain's head and the indexer",
            indexer_lag.clone(),
        );
        let signer_balance = Signers::default();
        let signer_low = Signers::default();
        registry.register(
            "signer_balance_gwei",
            "Each signing key's ETH balance (for gas), in gwei, as last read",
            signer_balance.clone(),
        );
        registry.register(
            "signer_balance_low",
            "1 when a signing key's balance is below the warning threshold",
            signer_low.clone(),
        );
        Metrics {
            signer_balance,
            signer_low,
            registry,
            requests,
            latency,
            in_flight,
            chain_head,
            indexer_next,
            indexer_lag,
        }
    }

    /// Counts a request starting; the guard counts it finished.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Records an answered request.
    pub fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Records the chain's head and the indexer's next block.
    pub fn chain(&self, head: u64, indexed: Option<u64>) {
        self.chain_head.set(head);
        if let Some(next) = indexed {
            self.indexer_next.set(next);
            self.indexer_lag
                .set(head.saturating_add(1).saturating_sub(next));
        }
    }

    /// Records a signing key's balance (gwei) and whether it is low.
    pub fn signer(&self, role: &str, address: &str, gwei: u64, low: bool) {
        let labels = SignerLabels {
            role: role.to_owned(),
            address: address.to_owned(),
        };
        self.signer_balance.get_or_create(&labels).set(gwei);
        self.signer_low.get_or_create(&labels).set(u64::from(low));
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A request being answered.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
