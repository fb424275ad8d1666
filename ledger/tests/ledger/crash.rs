//! Crash safety: a writer process is killed (SIGKILL) in the middle of posting batches, and a
//! batch future is dropped at a random point; after a restart every batch is either entirely
//! there or not there at all, and every invariant holds.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use propledger_ledger::Ledger;
use propledger_ledger::core::{AccountCode, AccountId, AccountType, BalanceLimit, NewAccount};

use crate::support::{TestDb, amt, assert_invariants, both_engines, transfer, usd};

both_engines!(
    killed_writer_leaves_whole_batches,
    dropped_batches_leave_nothing
);

/// Entries per batch written by the child.
const BATCH: usize = 300;
const ROUNDS: usize = 3;
const CHILD_ENV: &str = "PROPLEDGER_LEDGER_CRASH_CHILD_URL";

fn random_below(n: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    // One round of splitmix64 over the clock.
    let mut z = nanos.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % n
}

async fn accounts(ledger: &Ledger) -> (AccountId, AccountId) {
    let open = |code: &str, t, limit| {
        NewAccount::new(AccountCode::parse(code).unwrap(), code, t, usd()).with_limit(limit)
    };
    let cash = ledger
        .accounts()
        .open(open("1000", AccountType::Asset, BalanceLimit::NonNegative))
        .await
        .unwrap();
    let capital = ledger
        .accounts()
        .open(open("3000", AccountType::Equity, BalanceLimit::Unlimited))
        .await
        .unwrap();
    (cash.id, capital.id)
}

/// The child side: when started by [`killed_writer_leaves_whole_batches`] it posts batches
/// until it is killed; run normally it does nothing.
#[test]
fn crash_child() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: usize = std::env::var("PROPLEDGER_LEDGER_CRASH_ROUND")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let ledger = Ledger::connect(&url).await.unwrap();
            let (cash, capital) = accounts(&ledger).await;
            println!("ready");
            for b in 0.. {
                println!("begin {b}");
                let batch = (0..BATCH)
                    .map(|i| transfer(&format!("r{round}-b{b}-{i}"), cash, capital, "1.00"))
                    .collect();
                ledger.entries().record_batch(batch).await.unwrap();
            }
        });
}

/// Counts entries per batch prefix (`r<round>-b<batch>`).
async fn batches(ledger: &Ledger) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut after = None;
    loop {
        let page = ledger.entries().page(after, 1_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for e in &page {
            if let Some((prefix, _)) = e.key.as_str().rsplit_once('-') {
                *out.entry(prefix.to_owned()).or_default() += 1;
            }
        }
    }
    out
}

async fn killed_writer_leaves_whole_batches(db: TestDb) {
    let exe = std::env::current_exe().unwrap();
    let mut in_flight_absent = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db.url)
            .env("PROPLEDGER_LEDGER_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // libtest prints the test name first, possibly on the same line.
        for line in lines.by_ref() {
            if line.unwrap().ends_with("ready") {
                break;
            }
        }
        // Let it write for a while (a few batches), then kill it wherever it is.
        tokio::time::sleep(Duration::from_millis(300 + random_below(900))).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let last_begun = lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("begin ").map(str::to_owned))
            .last()
            .expect("the child began at least one batch");

        // Restart: a new handle on the same database.
        let ledger = db.reopen().await;
        let counts = batches(&ledger).await;
        for (prefix, n) in &counts {
            assert_eq!(*n, BATCH, "batch {prefix} is partly stored");
        }
        if !counts.contains_key(&format!("r{round}-b{last_begun}")) {
            in_flight_absent += 1;
        }
        let complete = counts
            .keys()
            .filter(|p| p.starts_with(&format!("r{round}-")))
            .count();
        let (cash, _) = accounts(&ledger).await;
        let expected_cash: usize = counts.values().sum();
        let b = ledger.accounts().balance(cash, None).await.unwrap();
        assert_eq!(b.posted().unwrap(), amt(&format!("{expected_cash}.00")));
        assert_invariants(&ledger).await;
        eprintln!(
            "round {round}: killed during batch {last_begun}, {complete} whole batches stored, \
             in-flight batch {}",
            if counts.contains_key(&format!("r{round}-b{last_begun}")) {
                "committed"
            } else {
                "absent"
            }
        );
        ledger.close().await;
    }
    eprintln!("{in_flight_absent} of {ROUNDS} kills landed inside a batch transaction");
    // The ledger keeps working after the crashes.
    let ledger = db.reopen().await;
    let (cash, capital) = accounts(&ledger).await;
    ledger
        .entries()
        .record(transfer("after-crash", cash, capital, "1.00"))
        .await
        .unwrap();
    assert_invariants(&ledger).await;
}

async fn dropped_batches_leave_nothing(db: TestDb) {
    let (cash, capital) = accounts(&db.ledger).await;
    let mut stored = 0usize;
    for b in 0..12 {
        let batch = (0..BATCH)
            .map(|i| transfer(&format!("d{b}-{i}"), cash, capital, "1.00"))
            .collect();
        // Abandon the batch after a random moment: anywhere from before the transaction begins
        // to after it commits.
        let limit = Duration::from_micros(random_below(60_000));
        if let Ok(result) =
            tokio::time::timeout(limit, db.ledger.entries().record_batch(batch)).await
        {
            result.unwrap();
            stored += 1;
        }
    }
    let ledger = db.reopen().await;
    let counts = batches(&ledger).await;
    for (prefix, n) in &counts {
        assert_eq!(*n, BATCH, "batch {prefix} is partly stored");
    }
    assert!(counts.len() >= stored, "every completed batch is stored");
    assert_invariants(&ledger).await;
    // The pool recovers its connections and keeps working.
    db.ledger
        .entries()
        .record(transfer("after", cash, capital, "1.00"))
        .await
        .unwrap();
    assert_invariants(&db.ledger).await;
}
