//! `scripts/bench api`: the API's reads against a minimal axum handler that returns the same
//! bytes, under one load tool (oha, in its own process), on SQLite and PostgreSQL.
//!
//! For each engine and route (`GET /v1/properties/{id}`, a radius search answering 100
//! properties, and an investor's `GET /v1/me` over the embedded chain and the index), rounds alternate which server goes first; each run is `SECONDS` long with
//! `CONNECTIONS` connections and the medians of the rounds are compared. Then the route runs at
//! a fixed rate of half its own median throughput, and its p99 latency is reported. Both
//! servers share this process's runtime (2 worker threads) and the load tool shares the
//! machine, so every figure is relative to the same conditions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use axum::http::StatusCode;
use propledger_api::db::Engine;
use propledger_api::http::limits::RateLimits;
use serde_json::Value;

use crate::chainapp::{ChainApp, investor_key};
use crate::support::{TestApp, property_body};

const SECONDS: u64 = 5;
const CONNECTIONS: u32 = 32;
const ROUNDS: usize = 3;
const PROPERTIES: usize = 2_000;

/// Whether a route is measured: `PROPLEDGER_BENCH_ROUTES` (a comma-separated list of words, such
/// as `search,me`) picks the routes whose names contain one; all of them when it is unset.
fn wanted(route: &str) -> bool {
    std::env::var("PROPLEDGER_BENCH_ROUTES").map_or(true, |list| {
        list.split(',')
            .map(str::trim)
            .any(|w| !w.is_empty() && route.contains(w))
    })
}

fn oha() -> PathBuf {
    std::env::var_os("PROPLEDGER_OHA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-tools/bin/oha"),
        PathBuf::from,
    )
}

/// One load run: requests per second and latency percentiles (ms).
#[derive(Clone, Copy, Debug)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn load(url: &str, token: Option<&str>, rate: Option<u64>) -> Run {
    let mut cmd = Command::new(oha());
    cmd.args(["--no-tui", "--output-format", "json", "-z"])
        .arg(format!("{SECONDS}s"))
        .args(["-c", &CONNECTIONS.to_string()]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(q) = rate {
        cmd.args(["-q", &q.to_string()]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("run oha (scripts/bench api installs it)");
    assert!(
        out.status.success(),
        "oha: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("oha's JSON");
    let pct = |k: &str| v["latencyPercentiles"][k].as_f64().unwrap_or(f64::NAN) * 1000.0;
    let codes = v["statusCodeDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let errors: u64 = codes
        .iter()
        .filter(|(k, _)| k.as_str() != "200")
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum::<u64>()
        + v["errorDistribution"].as_object().map_or(0, |e| {
            // Requests still in flight when the run's time is up are cut off, not failures.
            e.iter()
                .filter(|(k, _)| k.as_str() != "aborted due to deadline")
                .map(|(_, n)| n.as_u64().unwrap_or(0))
                .sum()
        });
    Run {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: pct("p50"),
        p99_ms: pct("p99"),
        errors,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Serves `body` as JSON at every path, with nothing else in the way.
async fn minimal(body: Vec<u8>) -> SocketAddr {
    let body = bytes::Bytes::from(body);
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { ([("content-type", "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn engine_rounds(engine: Engine, label: &str) {
    let app = TestApp::with(engine, |c| c.rate_limits = RateLimits::off()).await;
    let key = app.key("auditor").await;
    let op = app.key("operator").await;
    // Properties within about 20 km of a point, so a 50 km radius holds them all.
    let mut first = None;
    for i in 0..PROPERTIES {
        let f = i as f64;
        let lat = 41.9 + ((f * 0.618).fract() - 0.5) * 0.3;
        let lon = -87.65 + ((f * 0.414).fract() - 0.5) * 0.3;
        let r = app
            .post("/v1/properties")
            .token(&op)
            .json(&property_body(
                "Chicago",
                lat,
                lon,
                "350000.00",
                1500 + i as i64,
            ))
            .send()
            .await;
        let id = r.expect(StatusCode::CREATED).json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        first.get_or_insert(id);
    }
    let id = first.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let api = app.api.clone();
    tokio::spawn(async move { api.serve(listener, std::future::pending()).await });

    let routes = [
        ("GET /v1/properties/{id}", format!("/v1/properties/{id}")),
        (
            "radius search, 100 properties",
            "/v1/properties?near=41.9,-87.65&radius_m=50000&limit=100".to_owned(),
        ),
    ];
    for (name, path) in routes {
        if !wanted(name) {
            continue;
        }
        let real = app.get(&path).token(&key).send().await;
        real.expect(StatusCode::OK);
        if path.contains("near=") {
            assert_eq!(real.json()["items"].as_array().unwrap().len(), 100);
        }
        compare(label, name, api_addr, &path, &key, real.bytes.clone()).await;
    }
    // The property's query alone behind a bare handler: the database's share of the route.
    let name = "the query alone (bare handler)";
    if wanted(name) {
        let db = app.api.db().clone();
        let bare = axum::Router::new().route(
            "/v1/properties/{id}",
            axum::routing::get(
                move |axum::extract::Path(id): axum::extract::Path<String>| {
                    let db = db.clone();
                    async move {
                        let id = propledger_api::properties::PropertyId::parse(&id).unwrap();
                        let (doc, _) = propledger_api::properties::get_raw(db.reader(), id)
                            .await
                            .unwrap();
                        ([("content-type", "application/json")], doc)
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bare_addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, bare).await });
        let path = format!("/v1/properties/{id}");
        let body = app.get(&path).token(&key).send().await.bytes.clone();
        compare(label, name, bare_addr, &path, &key, body).await;
    }
    drop(app);
}

/// Runs one route of the API against the minimal server answering `body`, and prints the
/// ratio and the p99 at half the API's throughput.
async fn compare(
    label: &str,
    name: &str,
    api_addr: SocketAddr,
    path: &str,
    key: &str,
    body: Vec<u8>,
) {
    let fixed = minimal(body.clone()).await;
    let (api_url, min_url) = (
        format!("http://{api_addr}{path}"),
        format!("http://{fixed}{path}"),
    );
    let (mut api_runs, mut min_runs) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (a, m) = if round % 2 == 0 {
            let a = tokio::task::block_in_place(|| load(&api_url, Some(key), None));
            let m = tokio::task::block_in_place(|| load(&min_url, None, None));
            (a, m)
        } else {
            let m = tokio::task::block_in_place(|| load(&min_url, None, None));
            let a = tokio::task::block_in_place(|| load(&api_url, Some(key), None));
            (a, m)
        };
        assert_eq!(a.errors, 0, "{name}: the API answered errors");
        api_runs.push(a);
        min_runs.push(m);
    }
    let api_rps = median(api_runs.iter().map(|r| r.rps).collect());
    let min_rps = median(min_runs.iter().map(|r| r.rps).collect());
    let half = (api_rps / 2.0).max(1.0) as u64;
    let paced = tokio::task::block_in_place(|| load(&api_url, Some(key), Some(half)));
    println!(
        "{label:<10} {name:<32} api {api_rps:>9.0} req/s (p50 {:>6.2} ms, p99 {:>6.2} ms)   minimal {min_rps:>9.0} req/s   ratio {:.2}   at {half} req/s: p50 {:.2} ms, p99 {:.2} ms, body {} bytes",
        median(api_runs.iter().map(|r| r.p50_ms).collect()),
        median(api_runs.iter().map(|r| r.p99_ms).collect()),
        api_rps / min_rps,
        paced.p50_ms,
        paced.p99_ms,
        body.len(),
    );
    for (i, (a, m)) in api_runs.iter().zip(&min_runs).enumerate() {
        println!(
            "           round {i}: api {:.0} req/s, minimal {:.0} req/s",
            a.rps, m.rps
        );
    }
}

/// An investor's `GET /v1/me` (identity, holdings, a purchase, one open offering's verdict),
/// which reads the database, the index and the embedded chain.
async fn me_rounds(engine: Engine, label: &str) {
    let w = ChainApp::indexed(engine).await;
    let key = investor_key(1);
    let (token, _) = w.investor(&key, "US", true, "2099-01-01").await;
    w.outbox_idle().await;
    w.fund(key.address(), 10_000_000_000).await;
    let prepared = w
        .app
        .post("/v1/me/purchases")
        .token(&token)
        .json(&serde_json::json!({"offering": w.property.offering.address, "amount": "12"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(w.sign_and_send(&key, &prepared).await.iter().all(|ok| *ok));
    w.caught_up().await;
    let me = w.app.get("/v1/me").token(&token).send().await;
    me.expect(StatusCode::OK);
    assert_eq!(me.json()["holdings"].as_array().unwrap().len(), 1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let api = w.app.api.clone();
    tokio::spawn(async move { api.serve(listener, std::future::pending()).await });
    compare(
        label,
        "GET /v1/me (investor)",
        api_addr,
        "/v1/me",
        &token,
        me.bytes.clone(),
    )
    .await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench api"]
async fn api_vs_minimal() {
    let which =
        std::env::var("PROPLEDGER_BENCH_ENGINES").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    println!(
        "{SECONDS} s runs, {CONNECTIONS} connections, median of {ROUNDS} alternating rounds; target ratio >= 0.30, p99 <= 10 ms at half load"
    );
    if which.contains("sqlite") {
        engine_rounds(Engine::Sqlite, "sqlite").await;
        if wanted("GET /v1/me") {
            me_rounds(Engine::Sqlite, "sqlite").await;
        }
    }
    if which.contains("postgres") {
        // A durable private cluster, as a deployment runs it.
        let cluster = propledger_testkit::Postgres::start_durable();
        crate::support::use_pg_cluster(cluster.url("postgres"));
        engine_rounds(Engine::Postgres, "postgres").await;
        if wanted("GET /v1/me") {
            me_rounds(Engine::Postgres, "postgres").await;
        }
        drop(cluster);
    }
}
