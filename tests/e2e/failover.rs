//! Failover during the lifecycle: two nodes, each with its own data directory, on one
//! PostgreSQL database and one external chain (anvil), behind one front (as a load balancer
//! puts replicas behind one address). The second finds the platform in the database and
//! deploys nothing. At a point of the lifecycle the first (the indexing one) is killed with
//! SIGKILL and the front sends clients to the second, which takes the indexer role and the
//! outbox over; the lifecycle finishes with the uninterrupted run's figures, nothing booked or
//! sent twice.

use std::time::{Duration, Instant};

use propledger_e2e::{Front, NodeProcess, free_port};
use propledger_node::demo::PAUSE_POINTS;
use propledger_testkit::anvil::Anvil;

use crate::lifecycle::{check_export, check_figures};
use crate::setup::{full, seed};

/// The points the first node dies at: every one with `--full`, else one chosen by the seed.
fn failover_points() -> Vec<&'static str> {
    if full() {
        PAUSE_POINTS.to_vec()
    } else {
        vec![PAUSE_POINTS[(seed() % PAUSE_POINTS.len() as u64) as usize]]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_finishes_the_lifecycle() {
    for point in failover_points() {
        failover_at(point).await;
    }
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

async fn failover_at(point: &'static str) {
    eprintln!("the first node dies at {point:?}");
    let anvil = Anvil::spawn();
    let database = propledger_testkit::postgres::Postgres::shared()
        .fresh_database()
        .await;
    let front_port = free_port();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |dir: &std::path::Path| -> Vec<String> {
        [
            "--data-dir",
            &dir.display().to_string(),
            "--api-listen",
            &format!("127.0.0.1:{}", free_port()),
            "--public-url",
            &format!("http://127.0.0.1:{front_port}"),
            "--rpc-url",
            anvil.url(),
            "--public-rpc-url",
            anvil.url(),
            "--audit-rpc-allow",
            anvil.url(),
            "--confirmations",
            "0",
            "--anchor-interval-mins",
            "0",
            "--database-url",
            &database,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let a = NodeProcess::start(args(a_dir.path()));
    let b = NodeProcess::start(args(b_dir.path()));
    let b_log = b.log();
    assert!(
        b_log.contains("found the platform's deployment in the database"),
        "{b_log}"
    );
    assert!(!b_log.contains("platform contracts deployed"), "{b_log}");
    assert!(b_log.contains("the indexer stands by"), "{b_log}");

    // The front listens where both nodes' sign-in messages say the API is.
    let front = Front::start(front_port, &host_port(&a.api_url)).await;
    let mut config = crate::setup::demo_config(&front.url(), a_dir.path());
    config.rpc_url = Some(anvil.url().to_owned());

    let b_url = b.api_url.clone();
    let b = std::sync::Arc::new(std::sync::Mutex::new(b));
    let front = std::sync::Arc::new(front);
    let a_slot = std::sync::Arc::new(std::sync::Mutex::new(Some(a)));
    let mut pause = {
        let (a_slot, b, front, b_url) = (a_slot.clone(), b.clone(), front.clone(), b_url.clone());
        move |at: &'static str| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
            let (a_slot, b, front, b_url) =
                (a_slot.clone(), b.clone(), front.clone(), b_url.clone());
            Box::pin(async move {
                if at != point {
                    return;
                }
                tokio::task::spawn_blocking(move || {
                    let mut a = a_slot.lock().unwrap().take().expect("the first node");
                    a.kill();
                    let killed = Instant::now();
                    front.switch(&host_port(&b_url));
                    let deadline = killed + Duration::from_secs(60);
                    while !b.lock().unwrap().log().contains("indexer role taken") {
                        assert!(Instant::now() < deadline, "the standby never took over");
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    eprintln!(
                        "the standby took the indexer role {:?} after the kill (at {at:?})",
                        killed.elapsed()
                    );
                })
                .await
                .expect("failover");
            })
        }
    };
    let outcome =
        propledger_node::demo::run(config, &mut |line| eprintln!("{line}"), &mut pause).await;
    drop(pause);
    let b = std::sync::Arc::into_inner(b).unwrap().into_inner().unwrap();
    let outcome = outcome.unwrap_or_else(|e| panic!("the lifecycle failed: {e:#}\n{}", b.log()));
    assert!(
        a_slot.lock().unwrap().is_none(),
        "the first node was killed"
    );
    check_figures(&b_url, &outcome).await;
    check_export(
        vec![
            "--data-dir".to_owned(),
            b_dir.path().display().to_string(),
            "--database-url".to_owned(),
            database.clone(),
        ],
        b_dir.path(),
        anvil.url(),
        &outcome,
    );
    b.stop();
}
