//! The outbox killed at each of its failpoints: a child process (this test binary, running the
//! ignored `child` test) records mint actions while its sender works, and is killed with
//! SIGKILL at a failpoint; then a new sender finishes the work. Every recorded action must be
//! minted exactly once, with no nonce gap. With two replicas on PostgreSQL, the leader is killed
//! and the standby takes over.
//!
//! Each failpoint is armed after a number of passes (0, 1 or 2): CI runs one of them, chosen by
//! `PROPLEDGER_TEST_SEED` (default: the day), and `scripts/test --full` runs all.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use propledger_api::auth::Actor;
use propledger_api::db::{Db, Engine, Query};
use propledger_api::outbox::sender::{Sender, SenderConfig};
use propledger_api::outbox::{self, Call, NewAction, failpoint};
use propledger_contracts::TestStablecoin;
use propledger_ledger::Ledger;

use super::outbox::{DEV_KEY, World, world};

/// Actions each child records.
const ACTIONS: u64 = 6;

fn passes_to_run() -> Vec<u64> {
    if std::env::var("PROPLEDGER_TEST_FULL").is_ok_and(|v| v == "1") {
        return vec![0, 1, 2];
    }
    let seed = std::env::var("PROPLEDGER_TEST_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp() as u64 / 86_400);
    vec![seed % 3]
}

/// The recipient and amount of a child's `i`-th action.
fn mint_of(child: u64, i: u64) -> (Address, u64) {
    let mut a = [0u8; 20];
    a[0] = 0xAB;
    a[1] = child as u8;
    a[19] = i as u8;
    (Address::from(a), 1_000 * (child + 1) + i)
}

fn spawn_child(w: &World, child: u64, failpoint: Option<String>, marks: &std::path::Path) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "outbox_crash::child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("PL_CHILD_DB", &w.app.url)
    .env("PL_CHILD_RPC", w.chain.url())
    .env("PL_CHILD_TOKEN", w.token.to_string())
    .env("PL_CHILD_ID", child.to_string())
    .env("PL_CHILD_MARKS", marks)
    .env("PROPLEDGER_FAILPOINT_DIR", marks)
    .env_remove("PROPLEDGER_FAILPOINTS")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(f) = failpoint {
        cmd.env("PROPLEDGER_FAILPOINTS", f);
    }
    cmd.spawn().expect("spawn the child")
}

fn wait(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not finish in {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Drains the outbox with a new sender and checks every action happened exactly once.
async fn finish_and_check(w: &World, children: &[u64], start_nonce: u64) {
    let mut sender = w.sender();
    w.drain(&mut sender).await;
    let rows = Query::new("SELECT id, nonce, status, kind FROM api_outbox ORDER BY nonce")
        .fetch_all(w.app.api.db().reader())
        .await
        .unwrap();
    let recorded = rows.len() as u64;
    assert!(recorded >= 1, "the child recorded something before it died");
    let mut nonces = Vec::new();
    for r in &rows {
        assert_eq!(r.get::<String>("status").unwrap(), "confirmed");
        nonces.push(r.get::<i64>("nonce").unwrap() as u64);
    }
    let expected: Vec<u64> = (start_nonce..start_nonce + recorded).collect();
    assert_eq!(nonces, expected, "one nonce per action, no gap");
    assert_eq!(
        w.provider
            .get_transaction_count(w.signer.address())
            .await
            .unwrap(),
        start_nonce + recorded,
        "nothing sent twice"
    );
    // Every recorded mint landed once; unrecorded ones not at all.
    let kinds: Vec<String> = rows.iter().map(|r| r.get("kind").unwrap()).collect();
    for &c in children {
        for i in 0..ACTIONS {
            let (to, amount) = mint_of(c, i);
            let was_recorded = kinds.contains(&format!("mint-{c}-{i}"));
            let want = if was_recorded {
                U256::from(amount)
            } else {
                U256::ZERO
            };
            assert_eq!(w.balance(to).await, want, "child {c} action {i}");
        }
    }
}

async fn kill_at_every_failpoint(engine: Engine) {
    for fp in failpoint::ALL {
        for k in passes_to_run() {
            let w = world(engine).await;
            let start = w
                .provider
                .get_transaction_count(w.signer.address())
                .await
                .unwrap();
            let marks = tempfile::tempdir().unwrap();
            let mut child = spawn_child(&w, 0, Some(format!("{fp}@{k}")), marks.path());
            let status = wait(&mut child, Duration::from_secs(120));
            assert_eq!(
                status.signal(),
                Some(9),
                "{fp}@{k}: the child was not killed ({status:?})"
            );
            assert!(marks.path().join(fp).exists(), "{fp}@{k} was not reached");
            finish_and_check(&w, &[0], start).await;
            w.chain.shutdown().await.unwrap();
        }
    }
}

async fn standby_replica_takes_over(engine: Engine) {
    for fp in ["outbox.signed", "outbox.sent", "outbox.mined"] {
        let k = passes_to_run()[0];
        let w = world(engine).await;
        let start = w
            .provider
            .get_transaction_count(w.signer.address())
            .await
            .unwrap();
        let marks = tempfile::tempdir().unwrap();
        let mut leader = spawn_child(&w, 0, Some(format!("{fp}@{k}")), marks.path());
        // The second replica starts once the first holds the key's lock.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !marks.path().join("leading-0").exists() {
            assert!(Instant::now() < deadline, "the first replica never led");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut standby = spawn_child(&w, 1, None, marks.path());
        let status = wait(&mut leader, Duration::from_secs(120));
        assert_eq!(status.signal(), Some(9), "{fp}: the leader was not killed");
        let status = wait(&mut standby, Duration::from_secs(120));
        assert!(status.success(), "{fp}: the standby failed: {status:?}");
        assert!(
            marks.path().join("leading-1").exists(),
            "{fp}: the standby never took over"
        );
        finish_and_check(&w, &[0, 1], start).await;
        w.chain.shutdown().await.unwrap();
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_at_every_failpoint() {
        super::kill_at_every_failpoint(propledger_api::db::Engine::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_at_every_failpoint() {
        super::kill_at_every_failpoint(propledger_api::db::Engine::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn standby_replica_takes_over() {
        super::standby_replica_takes_over(propledger_api::db::Engine::Postgres).await;
    }
}

/// The child: records its actions one by one while running the key's sender (or standing by),
/// and exits once every action in the database is settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the crash tests in a child process"]
async fn child() {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let me: u64 = env("PL_CHILD_ID").parse().unwrap();
    let marks = std::path::PathBuf::from(env("PL_CHILD_MARKS"));
    let db = Db::connect(&env("PL_CHILD_DB")).await.unwrap();
    let ledger = Ledger::connect(&env("PL_CHILD_DB")).await.unwrap();
    let token: Address = env("PL_CHILD_TOKEN").parse().unwrap();
    let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let tls = propledger_net::tls::client_config(&[]).unwrap();
    let provider = propledger_api::ChainContext::connect_provider(&env("PL_CHILD_RPC"), &tls)
        .await
        .unwrap();
    let mut cfg = SenderConfig::new(31337, 0);
    cfg.poll = Duration::from_millis(20);
    let mut sender = Sender::new(db.clone(), provider, signer.clone(), "admin", cfg);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let lead_mark = marks.join(format!("leading-{me}"));
    let running = tokio::spawn({
        let wake = wake.clone();
        let ledger = ledger.clone();
        async move {
            // Mark leadership as soon as the lock is taken: run_exclusive takes it first thing.
            let name = sender.lock_name();
            loop {
                if let Ok(Some(mut lock)) = ledger.try_lock(&name).await {
                    std::fs::File::create(&lead_mark)
                        .unwrap()
                        .sync_all()
                        .unwrap();
                    sender.run(&mut lock, stop.clone(), &wake).await;
                    return;
                }
                if *stop.borrow() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    for i in 0..ACTIONS {
        let (to, amount) = mint_of(me, i);
        let mut tx = db.begin().await.unwrap();
        outbox::enqueue(
            &mut tx,
            NewAction {
                chain_id: 31337,
                key_role: "admin",
                signer: signer.address(),
                kind: &format!("mint-{me}-{i}"),
                call: Call::new(
                    token,
                    TestStablecoin::mintCall {
                        to,
                        amount: U256::from(amount),
                    }
                    .abi_encode(),
                ),
                after: None,
                actor: &Actor::system("crash test"),
                resource: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        failpoint::hit("outbox.recorded");
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Wait until every action (both replicas') is settled.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let open = Query::new(
            "SELECT COUNT(*) AS n FROM api_outbox WHERE status IN ('queued', 'submitted')",
        )
        .fetch_one(db.reader())
        .await
        .unwrap()
        .get::<i64>("n")
        .unwrap();
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the outbox never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    let _ = running.await;
}
