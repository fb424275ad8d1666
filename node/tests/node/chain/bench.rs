//! The embedded chain against anvil, side by side in one run (`scripts/bench chain`; ignored in
//! normal test runs): 10,000 ERC-20 transfers from 8 senders by `eth_sendRawTransaction` under
//! automine (transactions per second to receipt, p99 latency), `eth_getLogs` over 100,000
//! logs, and each process's peak resident memory (VmHWM).

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

const SENDERS: usize = 8;
const TRANSFERS: usize = 10_000;
const LOG_TXS: usize = 1_000;
const LOGS_PER_TX: u64 = 100;
/// Blocks per eth_getLogs query: 100 blocks of 100 logs stay within a 10,000-result limit.
const LOG_QUERY_BLOCKS: u64 = 100;

#[derive(Debug, Default, Clone)]
struct Figures {
    tx_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    logs_all_ms: f64,
    logs_filtered_ms: f64,
    logs_fetched: usize,
    peak_rss_mib: f64,
}

/// Polls for a receipt, backing off from 250 µs to 2 ms so a node that answers before it mines
/// is not flooded (ours answers once the block is durable, so the first poll finds it).
async fn wait_receipt(rpc: &Rpc, hash: &serde_json::Value) -> serde_json::Value {
    let mut pause = Duration::from_micros(250);
    loop {
        let r = rpc.ok("eth_getTransactionReceipt", json!([hash])).await;
        if !r.is_null() {
            return r;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(2));
    }
}

async fn send_and_wait(rpc: &Rpc, raw: &Bytes) -> serde_json::Value {
    let hash = rpc.ok("eth_sendRawTransaction", json!([raw])).await;
    wait_receipt(rpc, &hash).await
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
    for i in 1..=SENDERS {
        let data = TestStablecoin::mintCall {
            to: address(i),
            amount: U256::from(1_000_000_000u64),
        }
        .abi_encode();
        let mut spec = TxSpec::call(token, data, i as u64);
        spec.max_fee = 100 * GWEI;
        send_and_wait(rpc, &spec.sign_1559(&admin)).await;
    }
    let per_sender: Vec<Vec<Bytes>> = (1..=SENDERS)
        .map(|i| {
            let s = signer(i);
            (0..TRANSFERS / SENDERS)
                .map(|n| {
                    let to = Address::left_padding_from(&((i * 100_000 + n) as u64).to_be_bytes());
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
    eprintln!("[{name}] {TRANSFERS} transfers from {SENDERS} senders...");
    let (mut latencies, elapsed) = drive(rpc, per_sender).await;
    latencies.sort_unstable();
    f.tx_per_sec = TRANSFERS as f64 / elapsed.as_secs_f64();
    f.p50_ms = percentile(&latencies, 0.50);
    f.p99_ms = percentile(&latencies, 0.99);

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
                    let mut spec = TxSpec::call(probe, data, (TRANSFERS / SENDERS + n) as u64);
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

fn print_table(ours: &Figures, anvil: &Figures) {
    let row = |name: &str, a: f64, b: f64, higher_is_better: bool, unit: &str| {
        let ratio = if higher_is_better { a / b } else { b / a };
        println!("| {name:<34} | {a:>12.1} {unit:<5} | {b:>12.1} {unit:<5} | {ratio:>6.2}x |");
    };
    println!();
    println!(
        "| metric                             | propledger         | anvil              | advantage |"
    );
    println!(
        "|------------------------------------|--------------------|--------------------|--------|"
    );
    row(
        "ERC-20 transfers to receipt",
        ours.tx_per_sec,
        anvil.tx_per_sec,
        true,
        "tx/s",
    );
    row("latency p50", ours.p50_ms, anvil.p50_ms, false, "ms");
    row("latency p99", ours.p99_ms, anvil.p99_ms, false, "ms");
    row(
        "eth_getLogs, 100,000 logs",
        ours.logs_all_ms,
        anvil.logs_all_ms,
        false,
        "ms",
    );
    row(
        "eth_getLogs, 100 of 100,000 (topic)",
        ours.logs_filtered_ms,
        anvil.logs_filtered_ms,
        false,
        "ms",
    );
    row(
        "peak RSS (VmHWM)",
        ours.peak_rss_mib,
        anvil.peak_rss_mib,
        false,
        "MiB",
    );
    println!();
    println!(
        "logs fetched: propledger {}, anvil {}",
        ours.logs_fetched, anvil.logs_fetched
    );
    println!(
        "advantage = how many times better propledger is (targets: throughput >= 2x, getLogs >= 2x, memory >= 1x)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with scripts/bench chain"]
async fn chain_vs_anvil() {
    // PROPLEDGER_BENCH_ONLY=propledger (or anvil) runs one side, for quick iterations.
    let only = std::env::var("PROPLEDGER_BENCH_ONLY").unwrap_or_default();
    let mut ours = Figures::default();
    let mut theirs = Figures::default();
    if only != "anvil" {
        let dir = tempfile::tempdir().expect("tempdir");
        let child = ChildChain::spawn(dir.path(), "bench");
        let rpc = Rpc::new(&child.url);
        let pid = child.pid();
        ours = run("propledger", &rpc, pid).await;
        child.stop();
    }
    if only != "propledger" {
        let anvil = support::anvil().await;
        let rpc = Rpc::new(&anvil.url);
        theirs = run("anvil", &rpc, anvil.pid).await;
        drop(anvil);
    }
    print_table(&ours, &theirs);
}
