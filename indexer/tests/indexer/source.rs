//! The chain-reading layer against real chains: anvil (directly and through the fault proxy)
//! and the embedded chain.

use std::time::Duration;

use alloy::{
    primitives::{Address, Bytes, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolCall,
};
use futures_util::{StreamExt, TryStreamExt};
use propledger_chain::{ChainConfig, EmbeddedChain};
use propledger_contracts::TestStablecoin;
use propledger_indexer::source::{
    BlockHeader, LogChunk, RawLog, RetryPolicy, RpcSource, SourceConfig, SourceError,
};

use crate::support::{
    anvil::{Anvil, DevChain, TestResult, within},
    fault_proxy::{Fault, FaultPlan, FaultProxy, RangeStyle},
};

/// A source config for tests: small ranges, a short timeout, quick and bounded retries (so a
/// bug fails the test instead of hanging it).
fn config(url: &str) -> SourceConfig {
    let mut config = SourceConfig::new(url);
    config.initial_range = 16;
    config.max_range = 64;
    config.concurrency = 3;
    config.request_timeout = Duration::from_millis(750);
    config.retry = RetryPolicy {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_attempts: Some(100),
    };
    config
}

/// Anvil with the token and blocks of varied log counts, gaps of empty blocks between.
async fn populated_anvil() -> TestResult<(Anvil, DevChain)> {
    let anvil = Anvil::spawn();
    let mut chain = DevChain::attach(anvil.url()).await?;
    chain
        .mint_blocks(&[3, 0, 1, 4, 2, 0, 0, 5, 1, 1, 2, 3, 0, 1])
        .await?;
    chain.mine_empty(20).await?;
    chain.mint_blocks(&[2, 6, 1]).await?;
    chain.mine_empty(7).await?;
    chain.mint_blocks(&[1; 8]).await?;
    Ok((anvil, chain))
}

/// Every chunk of a backfill stream of `token`'s logs over `from..=to`, or its error.
async fn all_chunks(
    source: &RpcSource,
    from: u64,
    to: u64,
    token: Address,
) -> TestResult<Vec<LogChunk>> {
    let chunks: Vec<Result<LogChunk, SourceError>> =
        source.log_chunks(from, to, vec![token]).collect().await;
    Ok(chunks.into_iter().collect::<Result<_, _>>()?)
}

/// The logs straight from the node, through our source without limits.
async fn direct_logs(url: &str, to: u64, token: Address) -> TestResult<Vec<RawLog>> {
    let mut config = config(url);
    config.initial_range = 100_000;
    config.max_range = 100_000;
    let source = RpcSource::connect(config).await?;
    let logs = source.logs(0, to, &[token]).await?;
    assert_eq!(source.stats().range_splits, 0);
    Ok(logs)
}

/// Same logs, same order, no gap, no duplicate.
fn assert_same_logs(got: &[RawLog], expected: &[RawLog], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: number of logs");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(g, e, "{what}: log #{i}");
    }
    let mut keys: Vec<_> = got.iter().map(|l| (l.block_number, l.log_index)).collect();
    let sorted = keys.windows(2).all(|w| w[0] < w[1]);
    keys.dedup();
    assert!(sorted, "{what}: logs are strictly ordered");
    assert_eq!(keys.len(), got.len(), "{what}: no duplicates");
}

#[tokio::test]
async fn direct_logs_match_alloy_and_carry_positions() -> TestResult {
    within(async {
        let (anvil, chain) = populated_anvil().await?;
        let head = chain.head().await?;
        let logs = direct_logs(anvil.url(), head, chain.token).await?;
        // 2 RoleGranted at deployment + one Transfer per mint.
        let minted: usize = [3, 0, 1, 4, 2, 0, 0, 5, 1, 1, 2, 3, 0, 1, 2, 6, 1]
            .iter()
            .sum::<usize>()
            + 8;
        assert_eq!(logs.len(), 2 + minted);

        let filter = Filter::new()
            .address(chain.token)
            .from_block(0)
            .to_block(head);
        let reference = chain.provider.get_logs(&filter).await?;
        assert_eq!(logs.len(), reference.len());
        for (ours, theirs) in logs.iter().zip(&reference) {
            assert_eq!(Some(ours.block_number), theirs.block_number);
            assert_eq!(Some(ours.block_hash), theirs.block_hash);
            assert_eq!(Some(ours.tx_hash), theirs.transaction_hash);
            assert_eq!(Some(ours.tx_index), theirs.transaction_index);
            assert_eq!(Some(ours.log_index), theirs.log_index);
            assert_eq!(ours.address, theirs.address());
            assert_eq!(ours.topics, theirs.topics());
            assert_eq!(ours.data, theirs.data().data);
        }
        // Timestamps, where the node includes them, are the blocks'.
        let source = RpcSource::connect(config(anvil.url())).await?;
        for log in &logs {
            if let Some(ts) = log.block_timestamp {
                let header = source.header(log.block_number).await?.ok_or("no header")?;
                assert_eq!(ts, header.timestamp);
                assert_eq!(log.block_hash, header.hash);
            }
        }
        // An empty range and a range without logs.
        assert!(source.logs(5, 4, &[chain.token]).await?.is_empty());
        assert!(source.logs(0, 0, &[chain.token]).await?.is_empty());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn logs_through_range_limits_match_direct_fetch() -> TestResult {
    within(async {
        let (anvil, chain) = populated_anvil().await?;
        let head = chain.head().await?;
        let expected = direct_logs(anvil.url(), head, chain.token).await?;
        let proxy = FaultProxy::start(anvil.url()).await?;
        for style in RangeStyle::ALL {
            proxy.set_plan(FaultPlan {
                max_logs_span: Some(5),
                range_style: style,
                ..FaultPlan::default()
            });
            let before = proxy.counts().range_errors;
            let source = RpcSource::connect(config(&proxy.url)).await?;
            let logs = source.logs(0, head, &[chain.token]).await?;
            assert_same_logs(&logs, &expected, &format!("{style:?}"));
            let stats = source.stats();
            assert!(stats.range_splits > 0, "{style:?}: {stats:?}");
            assert_eq!(
                stats.range_splits,
                proxy.counts().range_errors - before,
                "{style:?}: every range error split the range once"
            );
            assert!(stats.current_range <= 10, "{style:?}: {stats:?}");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn logs_out_of_order_are_sorted_and_a_log_given_twice_is_refused() -> TestResult {
    within(async {
        let (anvil, chain) = populated_anvil().await?;
        let head = chain.head().await?;
        let proxy = FaultProxy::start(anvil.url()).await?;
        proxy.set_plan(FaultPlan {
            repeat_a_log: true,
            ..FaultPlan::default()
        });
        let source = RpcSource::connect(config(&proxy.url)).await?;
        match source.logs(0, head, &[chain.token]).await {
            Err(SourceError::Decode(message)) => {
                assert!(message.contains("twice"), "{message}")
            }
            other => panic!("a repeated log must be refused, got {other:?}"),
        }
        // Logs out of order are put in order; the same source reads the range once the
        // provider stops repeating.
        let expected = direct_logs(anvil.url(), head, chain.token).await?;
        proxy.set_plan(FaultPlan {
            reverse_logs: true,
            ..FaultPlan::default()
        });
        let reversed = source.logs(0, head, &[chain.token]).await?;
        assert_same_logs(&reversed, &expected, "reversed");
        proxy.set_plan(FaultPlan::default());
        let clean = source.logs(0, head, &[chain.token]).await?;
        assert_same_logs(&clean, &expected, "clean");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn logs_and_headers_survive_each_fault_kind() -> TestResult {
    within(async {
        let (anvil, chain) = populated_anvil().await?;
        let head = chain.head().await?;
        let expected = direct_logs(anvil.url(), head, chain.token).await?;
        let expected_headers = RpcSource::connect(config(anvil.url()))
            .await?
            .headers(0, head)
            .await?;
        let proxy = FaultProxy::start(anvil.url()).await?;
        for (i, fault) in Fault::ALL.into_iter().enumerate() {
            // Each delay costs a client timeout: fewer of them, and a shorter timeout.
            let (every, timeout) = match fault {
                Fault::Delay => (5, Duration::from_millis(400)),
                _ => (3, Duration::from_millis(750)),
            };
            proxy.set_plan(FaultPlan {
                max_logs_span: Some(9),
                range_style: RangeStyle::TooWide,
                fail_every: Some(every),
                faults: vec![fault],
                seed: 7 + i as u64,
                delay: Duration::from_millis(1_500),
                ..FaultPlan::default()
            });
            let before = proxy.counts().of(fault);
            let mut config = config(&proxy.url);
            config.request_timeout = timeout;
            let source = RpcSource::connect(config).await?;
            let logs = source.logs(0, head, &[chain.token]).await?;
            assert_same_logs(&logs, &expected, &format!("{fault:?}"));
            let headers = source.headers(0, head).await?;
            assert_eq!(headers, expected_headers, "{fault:?}: headers");
            let injected = proxy.counts().of(fault) - before;
            assert!(injected > 0, "{fault:?} was injected");
            let stats = source.stats();
            assert!(stats.retries > 0, "{fault:?}: {stats:?}");
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn log_chunks_cover_the_range_in_order_despite_faults() -> TestResult {
    within(async {
        let (anvil, chain) = populated_anvil().await?;
        let head = chain.head().await?;
        let expected = direct_logs(anvil.url(), head, chain.token).await?;
        let proxy = FaultProxy::start(anvil.url()).await?;
        proxy.set_plan(FaultPlan {
            max_logs_span: Some(6),
            range_style: RangeStyle::Alchemy,
            fail_every: Some(4),
            faults: Fault::ALL.to_vec(),
            seed: 42,
            delay: Duration::from_millis(1_500),
            ..FaultPlan::default()
        });
        for (from, to) in [(0, head), (3, head - 2), (7, 7)] {
            let source = RpcSource::connect(config(&proxy.url)).await?;
            let chunks = all_chunks(&source, from, to, chain.token).await?;
            assert_eq!(chunks.first().map(|c| c.from), Some(from));
            assert_eq!(chunks.last().map(|c| c.to), Some(to));
            for pair in chunks.windows(2) {
                assert_eq!(pair[1].from, pair[0].to + 1, "contiguous, in order");
            }
            for chunk in &chunks {
                assert!(chunk.from <= chunk.to);
                assert!(
                    chunk
                        .logs
                        .iter()
                        .all(|l| (chunk.from..=chunk.to).contains(&l.block_number))
                );
            }
            let all: Vec<RawLog> = chunks.into_iter().flat_map(|c| c.logs).collect();
            let expected: Vec<RawLog> = expected
                .iter()
                .filter(|l| (from..=to).contains(&l.block_number))
                .cloned()
                .collect();
            assert_same_logs(&all, &expected, &format!("chunks {from}..={to}"));
        }
        let counts = proxy.counts();
        assert!(
            counts.range_errors > 0
                && counts.http_503 + counts.closed + counts.delayed + counts.internal > 0
        );

        // An empty range yields nothing.
        let source = RpcSource::connect(config(anvil.url())).await?;
        assert_eq!(source.log_chunks(5, 4, vec![chain.token]).count().await, 0);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn adaptive_range_shrinks_on_hint_and_grows_back() -> TestResult {
    within(async {
        let (anvil, chain) = populated_anvil().await?;
        chain.mine_empty(600).await?;
        let head = chain.head().await?;
        let expected = direct_logs(anvil.url(), head, chain.token).await?;
        let proxy = FaultProxy::start(anvil.url()).await?;
        proxy.set_plan(FaultPlan {
            max_logs_span: Some(8),
            range_style: RangeStyle::TryRange,
            ..FaultPlan::default()
        });
        let mut config = config(&proxy.url);
        config.initial_range = 32;
        config.max_range = 256;
        let source = RpcSource::connect(config).await?;
        assert_eq!(source.stats().current_range, 32);

        let logs = source.logs(0, 100, &[chain.token]).await?;
        assert_same_logs(&logs, &expected, "limited");
        let shrunk = source.stats();
        assert!(shrunk.range_splits > 0);
        assert!(
            shrunk.current_range == 8 || shrunk.current_range == 16,
            "follows the hint of 8 blocks, then tries twice that: {shrunk:?}"
        );

        // The limit goes away: the range doubles back up to the maximum.
        proxy.set_plan(FaultPlan::default());
        let clone = source.clone();
        let logs = clone.logs(0, head, &[chain.token]).await?;
        assert_same_logs(&logs, &expected, "unlimited");
        let grown = source.stats();
        assert_eq!(grown.range_splits, shrunk.range_splits, "no more splits");
        assert_eq!(grown.current_range, 256, "shared by clones: {grown:?}");
        Ok(())
    })
    .await
}

/// An `eth_getLogs` answer longer than the configured limit is not read further and counts as
/// a range error: the range shrinks and is asked again, so every log still arrives. A block
/// whose logs alone are over the limit is an error that names it.
#[tokio::test]
async fn answers_over_the_body_limit_shrink_the_range() -> TestResult {
    within(async {
        let (anvil, chain) = populated_anvil().await?;
        let head = chain.head().await?;
        // `direct_logs` reads the whole range in one answer under the default limit.
        let expected = direct_logs(anvil.url(), head, chain.token).await?;
        let probe = RpcSource::connect(config(anvil.url())).await?;
        let whole = probe
            .request_raw(
                "eth_getLogs",
                serde_json::json!([{
                    "fromBlock": "0x0",
                    "toBlock": format!("{head:#x}"),
                    "address": chain.token,
                }]),
            )
            .await?
            .to_string()
            .len();
        let mut limited = config(anvil.url());
        limited.initial_range = 100_000;
        limited.max_range = 100_000;
        limited.target_logs = 100_000;
        // About a quarter of the whole answer; more than any one block's logs.
        limited.max_logs_body = whole / 4;
        let source = RpcSource::connect(limited.clone()).await?;
        let logs = source.logs(0, head, &[chain.token]).await?;
        assert_same_logs(&logs, &expected, "answers under the limit");
        assert!(
            source.stats().range_splits > 0,
            "the whole range ({whole} bytes) is over the limit of {}: {:?}",
            limited.max_logs_body,
            source.stats()
        );
        // Less than one log: even a block alone is over it.
        let busiest = expected
            .iter()
            .map(|l| l.block_number)
            .max_by_key(|b| expected.iter().filter(|l| l.block_number == *b).count())
            .ok_or("no logs")?;
        limited.max_logs_body = 64;
        let source = RpcSource::connect(limited).await?;
        match source.logs(busiest, busiest, &[chain.token]).await {
            Err(SourceError::Rpc { message, .. }) => {
                assert!(
                    message.contains(&format!("block {busiest} alone")),
                    "{message}"
                );
                assert!(message.contains("over the limit of 64"), "{message}");
            }
            other => panic!("a block over the limit must be refused, got {other:?}"),
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn log_chunks_start_small_and_fit_windows_to_density() -> TestResult {
    within(async {
        let (anvil, chain) = populated_anvil().await?;
        let head = chain.head().await?;
        let expected = direct_logs(anvil.url(), head, chain.token).await?;
        let mut config = config(anvil.url());
        config.initial_range = 32;
        config.max_range = 64;
        config.target_logs = 4;
        let source = RpcSource::connect(config).await?;
        let chunks = all_chunks(&source, 0, head, chain.token).await?;
        // The first window is an eighth of the span, read alone.
        assert_eq!((chunks[0].from, chunks[0].to), (0, 3), "{chunks:?}");
        // Then windows fit about four logs: the minted blocks hold up to five each, so no
        // window of several blocks holds many more than the target.
        let spans: Vec<(u64, usize)> = chunks
            .iter()
            .map(|c| (c.to - c.from + 1, c.logs.len()))
            .collect();
        assert!(
            spans.iter().any(|(blocks, _)| *blocks < 32 / 8),
            "the span shrank to the density: {spans:?}"
        );
        assert!(
            source.stats().current_range < 32,
            "{:?} after {spans:?}",
            source.stats()
        );
        let all: Vec<RawLog> = chunks.into_iter().flat_map(|c| c.logs).collect();
        assert_same_logs(&all, &expected, "density-sized windows");
        // Another address set: the learned span is forgotten.
        source.reset_range();
        assert_eq!(source.stats().current_range, 32);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn log_chunks_ramp_up_and_learn_the_span_again_at_breaks() -> TestResult {
    within(async {
        let (anvil, chain) = populated_anvil().await?;
        let head = chain.head().await?;
        assert!(head > 50, "head {head}");
        let expected = direct_logs(anvil.url(), head, chain.token).await?;
        let mut config = config(anvil.url());
        // A span that neither grows nor shrinks: every window's size comes from the ramp.
        config.initial_range = 32;
        config.max_range = 32;
        config.target_logs = 10_000;
        let source = RpcSource::connect(config).await?;
        let chunks: Vec<LogChunk> = source
            .log_chunks_with_breaks(0, head, vec![chain.token], vec![40, 0, head + 5])
            .try_collect()
            .await?;
        let spans: Vec<(u64, u64)> = chunks.iter().map(|c| (c.from, c.to)).collect();
        // A probe of an eighth of the span, read alone, then a quarter, a half, the whole
        // span; the break cuts the window before it and starts over with a probe.
        assert_eq!(
            spans[..6],
            [(0, 3), (4, 11), (12, 27), (28, 39), (40, 43), (44, 51)],
            "{spans:?}"
        );
        for pair in spans.windows(2) {
            assert_eq!(pair[1].0, pair[0].1 + 1, "contiguous: {spans:?}");
        }
        assert_eq!(spans.last().map(|s| s.1), Some(head));
        let all: Vec<RawLog> = chunks.into_iter().flat_map(|c| c.logs).collect();
        assert_same_logs(&all, &expected, "windows with breaks");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn headers_match_single_header_calls_and_chain_up() -> TestResult {
    within(async {
        let anvil = Anvil::spawn();
        let mut chain = DevChain::attach(anvil.url()).await?;
        chain.mine_empty(230).await?;
        chain.mint_blocks(&[2, 1]).await?;
        let head = chain.head().await?;
        assert!(head > 2 * 100, "spans more than two batches");

        let proxy = FaultProxy::start(anvil.url()).await?;
        proxy.set_plan(FaultPlan {
            fail_every: Some(3),
            faults: vec![Fault::Internal, Fault::Http503, Fault::Close],
            ..FaultPlan::default()
        });
        let source = RpcSource::connect(config(&proxy.url)).await?;
        let headers = source.headers(0, head).await?;
        assert_eq!(headers.len() as u64, head + 1);
        for (n, header) in headers.iter().enumerate() {
            assert_eq!(header.number, n as u64);
            if n > 0 {
                assert_eq!(
                    header.parent_hash,
                    headers[n - 1].hash,
                    "block {n} links up"
                );
                assert!(header.timestamp >= headers[n - 1].timestamp);
            }
        }
        let direct = RpcSource::connect(config(anvil.url())).await?;
        for n in (0..=head).step_by(7).chain([head]) {
            let single: Option<BlockHeader> = direct.header(n).await?;
            assert_eq!(single.as_ref(), Some(&headers[n as usize]), "block {n}");
            let block = chain
                .provider
                .get_block_by_number(n.into())
                .await?
                .ok_or("no block")?;
            assert_eq!(block.header.hash, headers[n as usize].hash);
        }
        assert_eq!(direct.headers(10, 12).await?, headers[10..=12].to_vec());
        assert!(direct.headers(12, 10).await?.is_empty());

        // Past the head: `header` says None, `headers` names the first missing block.
        assert_eq!(direct.header(head + 5).await?, None);
        match direct.headers(head - 1, head + 3).await {
            Err(SourceError::MissingBlock(n)) => assert_eq!(n, head + 1),
            other => panic!("expected MissingBlock, got {other:?}"),
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn call_at_an_old_block_sees_the_old_state() -> TestResult {
    within(async {
        let anvil = Anvil::spawn();
        let mut chain = DevChain::attach(anvil.url()).await?;
        // Mints 0..3 go to recipients 0..3 in the first block, mints 3..6 in the second.
        let first = chain.mint_blocks(&[3]).await?[0];
        let second = chain.mint_blocks(&[3]).await?[0];
        let source = RpcSource::connect(config(anvil.url())).await?;
        let balance = |block: u64, account: Address| {
            let source = source.clone();
            let token = chain.token;
            async move {
                let data = TestStablecoin::balanceOfCall::new((account,)).abi_encode();
                let out = source.call(block, token, Bytes::from(data)).await?;
                Ok::<U256, Box<dyn std::error::Error + Send + Sync>>(
                    TestStablecoin::balanceOfCall::abi_decode_returns(&out)?,
                )
            }
        };
        let alice = DevChain::recipient(0);
        let dave = DevChain::recipient(3);
        assert_eq!(balance(first - 1, alice).await?, U256::ZERO);
        assert_eq!(balance(first, alice).await?, U256::from(1_000));
        assert_eq!(balance(first, dave).await?, U256::ZERO);
        assert_eq!(balance(second, dave).await?, U256::from(1_003));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn embedded_chain_hints_are_followed_and_one_full_block_is_an_error() -> TestResult {
    within(async {
        let dir = tempfile::tempdir()?;
        let mut cfg = ChainConfig::new(dir.path());
        cfg.listen = "127.0.0.1:0".parse()?;
        cfg.limits.max_logs_results = 50;
        cfg.limits.max_logs_block_range = 40;
        cfg.limits.max_batch_len = 30;
        // Blocks only when asked (evm_mine), so many mints share a block.
        cfg.block_time = Some(Duration::from_secs(3_600));
        let node = EmbeddedChain::start(cfg).await?;
        let result = async {
            let mut chain = DevChain::attach(&node.url()).await?;
            chain.mint_blocks(&[20; 8]).await?;
            chain.mine_empty(60).await?;
            chain.mint_blocks(&[10, 0, 30]).await?;
            let head = chain.head().await?;

            // The reference: one block at a time, never near a limit.
            let mut reference = config(&node.url());
            reference.initial_range = 1;
            reference.max_range = 1;
            let reference = RpcSource::connect(reference).await?;
            let expected = reference.logs(0, head, &[chain.token]).await?;
            assert_eq!(expected.len(), 2 + 160 + 40);
            assert_eq!(reference.stats().range_splits, 0);
            assert!(
                expected.iter().all(|l| l.block_timestamp.is_some()),
                "the embedded chain includes blockTimestamp"
            );

            let mut wide = config(&node.url());
            wide.initial_range = 1_000;
            wide.max_range = 1_000;
            let source = RpcSource::connect(wide).await?;
            let logs = source.logs(0, head, &[chain.token]).await?;
            assert_same_logs(&logs, &expected, "embedded chain");
            assert!(source.stats().range_splits >= 2, "{:?}", source.stats());

            // Header batches shrink to what the node takes ("batch too large").
            let headers = source.headers(0, head).await?;
            assert_eq!(headers.len() as u64, head + 1);
            for n in [0, 1, 29, 30, 31, head / 2, head] {
                assert_eq!(
                    reference.header(n).await?.as_ref(),
                    Some(&headers[n as usize])
                );
            }

            // One block with more logs than the node returns at once: an error, not a loop.
            let full = chain.mint_blocks(&[60]).await?[0];
            let before = source.stats();
            match source.logs(full - 3, full, &[chain.token]).await {
                Err(SourceError::Rpc { code, message }) => {
                    assert_eq!(code, -32005, "{message}");
                    assert!(message.contains(&format!("block {full}")), "{message}");
                }
                other => panic!("expected an Rpc error, got {other:?}"),
            }
            assert_eq!(source.stats().retries, before.retries, "not retried");
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }
        .await;
        node.shutdown().await?;
        result
    })
    .await
}

#[tokio::test]
async fn non_transient_errors_come_back_at_once() -> TestResult {
    within(async {
        let anvil = Anvil::spawn();
        let mut chain = DevChain::attach(anvil.url()).await?;
        chain.mint_blocks(&[1]).await?;
        let head = chain.head().await?;
        let proxy = FaultProxy::start(anvil.url()).await?;
        let mut config = config(&proxy.url);
        config.retry.max_attempts = None;
        let source = RpcSource::connect(config).await?;

        // An unknown method.
        match source
            .request_raw("eth_noSuchMethod", serde_json::json!([]))
            .await
        {
            Err(SourceError::Rpc { code, message }) => {
                assert_eq!(code, -32601, "{message}");
            }
            other => panic!("expected an Rpc error, got {other:?}"),
        }
        // A reverting call (minting without the minter role).
        let data =
            TestStablecoin::mintCall::new((DevChain::recipient(1), U256::from(1))).abi_encode();
        match source.call(head, chain.token, Bytes::from(data)).await {
            Err(SourceError::Rpc { message, .. }) => {
                assert!(message.contains("revert"), "{message}");
            }
            other => panic!("expected a revert, got {other:?}"),
        }
        // Logs past the head cannot silently come back short.
        match source.logs(0, head + 10, &[chain.token]).await {
            Err(SourceError::BeyondHead { requested, head: h }) => {
                assert_eq!((requested, h), (head + 10, head));
            }
            other => panic!("expected BeyondHead, got {other:?}"),
        }
        assert_eq!(source.stats().retries, 0);
        assert_eq!(proxy.counts().requests, source.stats().requests);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn max_attempts_bounds_retries_against_a_dead_endpoint() -> TestResult {
    within(async {
        // A port nobody listens on.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?.port()
        };
        let mut dead = config(&format!("http://127.0.0.1:{port}"));
        dead.retry.max_attempts = Some(3);
        match RpcSource::connect(dead).await {
            Err(SourceError::Exhausted { attempts, last }) => {
                assert_eq!(attempts, 3, "{last}");
            }
            other => panic!("expected Exhausted, got {other:?}"),
        }

        // Over https and wss the dead port exhausts the attempts the same way.
        for scheme in ["https", "wss"] {
            let mut secure = config(&format!("{scheme}://127.0.0.1:{port}"));
            secure.retry.max_attempts = Some(3);
            match RpcSource::connect(secure).await {
                Err(SourceError::Exhausted { attempts: 3, .. }) => {}
                other => panic!("{scheme}: expected Exhausted, got {other:?}"),
            }
        }

        // A node that dies under a connected source.
        let anvil = Anvil::spawn();
        let mut config = config(anvil.url());
        config.retry.max_attempts = Some(4);
        let source = RpcSource::connect(config).await?;
        let head = source.head().await?;
        let before = source.stats();
        drop(anvil);
        match source.logs(0, head, &[]).await {
            Err(SourceError::Exhausted { attempts, .. }) => assert_eq!(attempts, 4),
            other => panic!("expected Exhausted, got {other:?}"),
        }
        let after = source.stats();
        assert_eq!(after.requests - before.requests, 4);
        assert_eq!(after.retries - before.retries, 3);

        // Only http(s) and ws(s).
        assert!(matches!(
            RpcSource::connect(SourceConfig::new("ftp://127.0.0.1:1")).await,
            Err(SourceError::Config(_))
        ));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn clones_share_state_and_chain_id_is_checked() -> TestResult {
    within(async {
        let anvil = Anvil::spawn();
        let source = RpcSource::connect(config(anvil.url())).await?;
        assert_eq!(source.chain_id(), 31337);
        source.ensure_chain_id(31337)?;
        assert!(matches!(
            source.ensure_chain_id(1),
            Err(SourceError::ChainIdMismatch {
                expected: 1,
                actual: 31337
            })
        ));
        fn shareable<T: Clone + Send + Sync + 'static>(_: &T) {}
        shareable(&source);
        let clone = source.clone();
        let before = source.stats().requests;
        clone.head().await?;
        assert_eq!(source.stats().requests, before + 1);
        Ok(())
    })
    .await
}
