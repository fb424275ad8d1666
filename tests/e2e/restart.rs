//! The node killed with SIGKILL at points during the lifecycle and started again each time,
//! the lifecycle carrying on where it was: the final figures are an uninterrupted run's, and
//! every event happened once (no chain action was sent twice).

use std::sync::{Arc, Mutex};

use propledger_node::demo::PAUSE_POINTS;

use crate::lifecycle::{check_figures, check_standalone_audit};
use crate::setup::{Chain, Db, Setup, full, seed};

/// The kill points of this run: every one with `--full`, else three chosen by the seed.
fn kill_points() -> Vec<&'static str> {
    if full() {
        return PAUSE_POINTS.to_vec();
    }
    let n = PAUSE_POINTS.len() as u64;
    let s = seed();
    let mut chosen: Vec<usize> = (0..3)
        .map(|i| ((s + i * (s / n + 2)) % n) as usize)
        .collect();
    chosen.sort_unstable();
    chosen.dedup();
    chosen.into_iter().map(|i| PAUSE_POINTS[i]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_lifecycle_embedded_sqlite() {
    killed_during_the_lifecycle(Chain::Embedded, Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_lifecycle_anvil_postgres() {
    killed_during_the_lifecycle(Chain::Anvil, Db::Postgres).await;
}

async fn killed_during_the_lifecycle(chain: Chain, db: Db) {
    let points = kill_points();
    eprintln!("killing the node at: {points:?}");
    let setup = Setup::start(chain, db).await;
    let config = setup.demo();
    let setup = Arc::new(Mutex::new(setup));
    let killed = Arc::new(Mutex::new(Vec::new()));
    let mut pause = {
        let setup = setup.clone();
        let killed = killed.clone();
        move |point: &'static str| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
            let setup = setup.clone();
            let killed = killed.clone();
            let kill = points.contains(&point);
            Box::pin(async move {
                if kill {
                    tokio::task::spawn_blocking(move || {
                        setup.lock().expect("setup").node.restart_after_kill();
                        killed.lock().expect("killed").push(point);
                    })
                    .await
                    .expect("restart");
                }
            })
        }
    };
    let outcome =
        propledger_node::demo::run(config, &mut |line| eprintln!("{line}"), &mut pause).await;
    drop(pause);
    let setup = Arc::into_inner(setup)
        .expect("the only owner")
        .into_inner()
        .expect("setup");
    let outcome =
        outcome.unwrap_or_else(|e| panic!("the lifecycle failed: {e:#}\n{}", setup.node.log()));
    assert_eq!(
        *killed.lock().unwrap(),
        kill_points(),
        "every chosen point was reached"
    );
    check_figures(&setup.node.api_url, &outcome).await;
    check_standalone_audit(&setup, &outcome);
    let log = setup.node.stop();
    assert_eq!(
        log.matches("PropLedger API: ").count(),
        kill_points().len() + 1,
        "one start, and one after each kill"
    );
}
