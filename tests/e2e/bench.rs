//! `scripts/bench failover`: how long the indexer role is without a holder after the indexing
//! node is killed, with a standby replica on the same database (it takes the role over), against
//! the baseline of no standby (a new process started on the dead node's data directory at once,
//! as a supervisor restarting it would). Both on PostgreSQL and anvil, runs alternated, medians
//! of five, and the ratio against the 5 s target. An ignored test, run by the script.

use std::time::{Duration, Instant};

use propledger_e2e::{NodeProcess, free_port};
use propledger_testkit::anvil::Anvil;

const RUNS: usize = 5;

fn node_args(dir: &std::path::Path, anvil: &Anvil, database: &str) -> Vec<String> {
    [
        "--data-dir",
        &dir.display().to_string(),
        "--api-listen",
        &format!("127.0.0.1:{}", free_port()),
        "--rpc-url",
        anvil.url(),
        "--confirmations",
        "0",
        "--database-url",
        database,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Waits until `node`'s log holds `text` after `from` bytes; the time it took since `since`.
fn until(node: &NodeProcess, from: usize, text: &str, since: Instant) -> Duration {
    let deadline = since + Duration::from_secs(120);
    loop {
        if node.log()[from..].contains(text) {
            return since.elapsed();
        }
        assert!(Instant::now() < deadline, "no {text:?}:\n{}", node.log());
        std::thread::sleep(Duration::from_millis(5));
    }
}

async fn standby_takeover(anvil: &Anvil) -> Duration {
    let database = propledger_testkit::postgres::Postgres::shared()
        .fresh_database()
        .await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = NodeProcess::start(node_args(a_dir.path(), anvil, &database));
    let b = NodeProcess::start(node_args(b_dir.path(), anvil, &database));
    until(&b, 0, "the indexer stands by", Instant::now());
    let from = b.log().len();
    a.kill();
    let took = until(&b, from, "indexer role taken", Instant::now());
    b.stop();
    took
}

async fn cold_restart(anvil: &Anvil) -> Duration {
    let database = propledger_testkit::postgres::Postgres::shared()
        .fresh_database()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = NodeProcess::start(node_args(dir.path(), anvil, &database));
    until(&a, 0, "indexer running", Instant::now());
    let killed = Instant::now();
    a.kill();
    let from = a.log().len();
    // The same process object starts the binary again with the same arguments.
    a.restart_after_kill();
    let took = until(&a, from, "indexer running", killed);
    a.stop();
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench failover"]
async fn failover_vs_cold_restart() {
    let anvil = Anvil::spawn();
    let (mut standby, mut cold) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        // Alternate which side goes first.
        if run % 2 == 0 {
            standby.push(standby_takeover(&anvil).await);
            cold.push(cold_restart(&anvil).await);
        } else {
            cold.push(cold_restart(&anvil).await);
            standby.push(standby_takeover(&anvil).await);
        }
        println!(
            "run {run}: standby takeover {:?}, cold restart {:?}",
            standby[run], cold[run]
        );
    }
    let (s, c) = (median(standby), median(cold));
    println!("median indexer gap after SIGKILL (PostgreSQL, anvil), {RUNS} runs:");
    println!(
        "  standby replica takes over: {s:?} ({:.2} of the 5 s target)",
        s.as_secs_f64() / 5.0
    );
    println!("  no standby, restarted at once: {c:?}");
    println!(
        "  standby / restart: {:.2}",
        s.as_secs_f64() / c.as_secs_f64()
    );
}
