//! The embedded chain against anvil, side by side in one run (`scripts/bench chain`; ignored in
//! normal test runs): ERC-20 transfers to new accounts under automine, 10,000 from 8 senders and
//! 500 from 4, each sent with `eth_sendRawTransactionSync` on every node (transactions per
//! second to receipt, p50 and p99 latency), `eth_getLogs` over 100,000 logs (the counts checked
//! equal), and each process's peak resident memory (VmHWM). anvil runs quiet, with its defaults
//! and with `--prune-history`; each target runs in every round, the order alternated, and the
//! table shows medians (`PROPLEDGER_BENCH_ROUNDS`, default 3).

use std::time::{Duration, Instant};

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    sol_types::{SolCall, SolEvent},
};
use propledger_contracts::TestStablecoin;
use serde_json::json;

use super::{
    Probe,
    support::{self, ChildChain, GWEI, Rpc, TxSpec, address, quantity, signer},
};

/// The two transfer workloads: (transfers, senders).
const WORKLOADS: [(usize, usize); 2] = [(10_000, 8), (500, 4)];
/// Accounts the workloads send from (dev accounts 1..=8; the second workload uses the first
/// four again, after the first).
const FUNDED: usize = 8;
const LOG_TXS: usize = 1_000;
const LOGS_PER_TX: u64 = 100;
/// Blocks per eth_getLogs query: 100 blocks of 100 logs stay within a 10,000-result limit.
const LOG_QUERY_BLOCKS: u64 = 100;
/// Rounds of every target, order alternated; the figures are their medians.
const ROUNDS: usize = 3;

/// One workload's figures.
#[derive(Debug, Default, Clone, Copy)]
struct Transfers {
    tx_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[derive(Debug, Default, Clone)]
struct Figures {
    transfers: [Transfers; 2],
    logs_all_ms: f64,
    logs_filtered_ms: f64,
    logs_fetched: usize,
    peak_rss_mib: f64,
}

/// Sends a transaction and has its receipt in the answer (EIP-7966), the same call on every
/// node, so no side is measured by how a client polls.
async fn send_and_wait(rpc: &Rpc, raw: &Bytes) -> serde_json::Value {
    rpc.ok("eth_sendRawTransactionSync", json!([raw])).await
}

/// Sends each sender's transactions in order, all senders at once; returns per-transaction
/// latency to receipt and the wall time.
async fn drive(rpc: &Rpc, per_sender: Vec<Vec<Bytes>>) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for txs in per_sender {
        let rpc = rpc.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(txs.len());
            for raw in txs {
                let t0 = Instant::now();
                let receipt = send_and_wait(&rpc, &raw).await;
                assert_eq!(receipt["status"], "0x1", "benchmark transaction failed");
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("sender task"));
    }
    (all, start.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

async fn run(name: &str, rpc: &Rpc, pid: u32) -> Figures {
    let mut f = Figures::default();
    let admin = signer(0);
    // Setup: the token, and balances for the senders (accounts 1..=8).
    let deploy = send_and_wait(rpc, &{
        let mut spec = TxSpec::create(
            [
                TestStablecoin::BYTECODE.to_vec(),
                address(0).into_word().to_vec(),
            ]
            .concat(),
            0,
        );
        spec.max_fee = 100 * GWEI;
        spec.sign_1559(&admin)
    })
    .await;
    let token: Address = serde_json::from_value(deploy["contractAddress"].clone()).expect("token");
    for i in 1..=FUNDED {
        let data = TestStablecoin::mintCall {
            to: address(i),
            amount: U256::from(1_000_000_000u64),
        }
        .abi_encode();
        let mut spec = TxSpec::call(token, data, i as u64);
        spec.max_fee = 100 * GWEI;
        send_and_wait(rpc, &spec.sign_1559(&admin)).await;
    }
    // Each sender's next nonce.
    let mut nonces = [0u64; FUNDED + 1];
    for (w, (transfers, senders)) in WORKLOADS.into_iter().enumerate() {
        let per_sender: Vec<Vec<Bytes>> = (1..=senders)
            .map(|i| {
                let s = signer(i);
                let first = nonces[i];
                nonces[i] += (transfers / senders) as u64;
                (first..nonces[i])
                    .map(|n| {
                        let n = n as usize;
                        // Every transfer to a new account, as a platform's payouts are.
                        let to =
                            Address::left_padding_from(&((i * 100_000 + n) as u64).to_be_bytes());
                        let data = TestStablecoin::transferCall {
                            to,
                            value: U256::from(1),
                        }
                        .abi_encode();
                        let mut spec = TxSpec::call(token, data, n as u64);
                        spec.gas = 80_000;
                        spec.max_fee = 100 * GWEI;
                        spec.sign_1559(&s)
                    })
                    .collect()
            })
            .collect();
        eprintln!("[{name}] {transfers} transfers from {senders} senders...");
        let (mut latencies, elapsed) = drive(rpc, per_sender).await;
        latencies.sort_unstable();
        f.transfers[w] = Transfers {
            tx_per_sec: transfers as f64 / elapsed.as_secs_f64(),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
        };
    }
    const SENDERS: usize = FUNDED;

    // 100,000 logs: 1,000 transactions emitting 100 each, from the same 8 senders.
    let deploy = send_and_wait(rpc, &{
        let mut spec = TxSpec::create(Probe::BYTECODE.clone(), 9);
        spec.max_fee = 100 * GWEI;
        spec.sign_1559(&admin)
    })
    .await;
    let probe: Address = serde_json::from_value(deploy["contractAddress"].clone()).expect("probe");
    let first_block = quantity(&deploy["blockNumber"]) + 1;
    let per_sender: Vec<Vec<Bytes>> = (1..=SENDERS)
        .map(|i| {
            let s = signer(i);
            (0..LOG_TXS / SENDERS)
                .map(|n| {
                    let batch = (i * 1_000 + n) as u64;
                    let data = Probe::emitManyCall {
                        batch: U256::from(batch),
                        n: U256::from(LOGS_PER_TX),
                    }
                    .abi_encode();
                    let mut spec = TxSpec::call(probe, data, nonces[i] + n as u64);
                    spec.gas = 1_500_000;
                    spec.max_fee = 100 * GWEI;
                    spec.sign_1559(&s)
                })
                .collect()
        })
        .collect();
    eprintln!("[{name}] {LOG_TXS} transactions emitting {LOGS_PER_TX} logs each...");
    drive(rpc, per_sender).await;
    let last_block = rpc.block_number().await;

    eprintln!(
        "[{name}] eth_getLogs over {} logs...",
        LOG_TXS as u64 * LOGS_PER_TX
    );
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t0 = Instant::now();
        let mut fetched = 0;
        let mut from = first_block;
        while from <= last_block {
            let to = (from + LOG_QUERY_BLOCKS - 1).min(last_block);
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{
                "fromBlock": format!("{from:#x}"),
                "toBlock": format!("{to:#x}"),
                "address": probe,
            }]});
            // The node is measured, not the client's JSON parser: the whole body is read,
            // and logs are counted by their `logIndex` keys.
            let (status, text) = rpc.post(body.to_string()).await;
            assert_eq!(status, 200);
            assert!(
                !text.contains("\"error\""),
                "{}",
                &text[..text.len().min(300)]
            );
            fetched += text.matches("\"logIndex\"").count();
            from = to + 1;
        }
        best = best.min(t0.elapsed().as_secs_f64() * 1e3);
        f.logs_fetched = fetched;
    }
    f.logs_all_ms = best;
    // A selective query over the whole chain: one batch's 100 logs among 100,000.
    let topics = json!([
        Probe::Bulk::SIGNATURE_HASH,
        B256::from(U256::from(SENDERS as u64 * 1_000 + 7))
    ]);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t0 = Instant::now();
        let logs = rpc
            .ok(
                "eth_getLogs",
                json!([{"fromBlock": "0x0", "toBlock": "latest", "topics": topics}]),
            )
            .await;
        assert_eq!(logs.as_array().map(Vec::len), Some(LOGS_PER_TX as usize));
        best = best.min(t0.elapsed().as_secs_f64() * 1e3);
    }
    f.logs_filtered_ms = best;
    f.peak_rss_mib = support::peak_rss_kib(pid).unwrap_or_default() as f64 / 1024.0;
    f
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median of each figure over the rounds.
fn medians(runs: &[Figures]) -> Figures {
    let m = |g: &dyn Fn(&Figures) -> f64| median(runs.iter().map(g).collect());
    let t = |w: usize| Transfers {
        tx_per_sec: m(&|f| f.transfers[w].tx_per_sec),
        p50_ms: m(&|f| f.transfers[w].p50_ms),
        p99_ms: m(&|f| f.transfers[w].p99_ms),
    };
    Figures {
        transfers: [t(0), t(1)],
        logs_all_ms: m(&|f| f.logs_all_ms),
        logs_filtered_ms: m(&|f| f.logs_filtered_ms),
        logs_fetched: runs.first().map_or(0, |f| f.logs_fetched),
        peak_rss_mib: m(&|f| f.peak_rss_mib),
    }
}

fn print_table(ours: &Figures, anvil: &Figures, pruned: &Figures) {
    let row = |name: &str, a: f64, b: f64, c: f64, higher_is_better: bool, unit: &str| {
        let ratio = |other: f64| {
            if higher_is_better {
                a / other
            } else {
                other / a
            }
        };
        println!(
            "| {name:<38} | {a:>10.1} {unit:<4} | {b:>10.1} {unit:<4} | {c:>10.1} {unit:<4} | {:>5.2}x | {:>5.2}x |",
            ratio(b),
            ratio(c)
        );
    };
    println!();
    println!(
        "| metric (median of {ROUNDS} alternated rounds)     | propledger      | anvil           | anvil --prune-history | vs anvil | vs pruned |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (w, (transfers, senders)) in WORKLOADS.into_iter().enumerate() {
        let (o, a, p) = (ours.transfers[w], anvil.transfers[w], pruned.transfers[w]);
        let what = format!("{transfers} transfers / {senders} senders");
        row(
            &format!("{what}: tx/s to receipt"),
            o.tx_per_sec,
            a.tx_per_sec,
            p.tx_per_sec,
            true,
            "tx/s",
        );
        row(
            &format!("{what}: latency p50"),
            o.p50_ms,
            a.p50_ms,
            p.p50_ms,
            false,
            "ms",
        );
        row(
            &format!("{what}: latency p99"),
            o.p99_ms,
            a.p99_ms,
            p.p99_ms,
            false,
            "ms",
        );
    }
    row(
        "eth_getLogs, 100,000 logs",
        ours.logs_all_ms,
        anvil.logs_all_ms,
        pruned.logs_all_ms,
        false,
        "ms",
    );
    row(
        "eth_getLogs, 100 of 100,000 (topic)",
        ours.logs_filtered_ms,
        anvil.logs_filtered_ms,
        pruned.logs_filtered_ms,
        false,
        "ms",
    );
    row(
        "peak RSS (VmHWM)",
        ours.peak_rss_mib,
        anvil.peak_rss_mib,
        pruned.peak_rss_mib,
        false,
        "MiB",
    );
    println!();
    println!(
        "logs fetched: propledger {}, anvil {}, anvil pruned {}",
        ours.logs_fetched, anvil.logs_fetched, pruned.logs_fetched
    );
    assert_eq!(
        ours.logs_fetched, anvil.logs_fetched,
        "both nodes answer the same logs"
    );
    assert_eq!(
        ours.logs_fetched, pruned.logs_fetched,
        "both nodes answer the same logs"
    );
    println!(
        "every side: the same signed transactions, each sent with eth_sendRawTransactionSync (the receipt in the answer)"
    );
    println!(
        "durability: propledger answers once the block is fsynced in its data directory; anvil keeps its chain in memory (lost on exit)"
    );
    println!(
        "state root: anvil computes a Merkle-Patricia stateRoot per block and serves eth_getProof; propledger's stateRoot is not one yet"
    );
    println!(
        "advantage = how many times better propledger is (targets: tx/s >= 3x, getLogs >= 2x)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with scripts/bench chain"]
async fn chain_vs_anvil() {
    // PROPLEDGER_BENCH_ONLY=propledger (or anvil) runs one side, for quick iterations.
    let only = std::env::var("PROPLEDGER_BENCH_ONLY").unwrap_or_default();
    let rounds: usize = std::env::var("PROPLEDGER_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS);
    let (mut ours, mut anvil, mut pruned) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut sides = ["propledger", "anvil", "anvil --prune-history"];
        if round % 2 == 1 {
            sides.reverse();
        }
        for side in sides {
            match side {
                "propledger" if only != "anvil" => {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let child = ChildChain::spawn(dir.path(), "bench");
                    let rpc = Rpc::new(&child.url);
                    let pid = child.pid();
                    ours.push(run(side, &rpc, pid).await);
                    child.stop();
                }
                "anvil" | "anvil --prune-history" if only != "propledger" => {
                    let extra: &[&str] = if side == "anvil" {
                        &[]
                    } else {
                        &["--prune-history"]
                    };
                    let node = support::anvil_quiet(extra).await;
                    let rpc = Rpc::new(&node.url);
                    let figures = run(side, &rpc, node.pid).await;
                    if side == "anvil" {
                        anvil.push(figures);
                    } else {
                        pruned.push(figures);
                    }
                    drop(node);
                }
                _ => {}
            }
        }
    }
    let or_empty = |v: &[Figures]| {
        if v.is_empty() {
            Figures::default()
        } else {
            medians(v)
        }
    };
    print_table(&or_empty(&ours), &or_empty(&anvil), &or_empty(&pruned));
}
