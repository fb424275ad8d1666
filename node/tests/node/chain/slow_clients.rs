//! Slow and idle clients of the chain's JSON-RPC server: connections that send their headers or
//! body too slowly, or sit idle, are closed after the configured timeouts while normal requests
//! go on being served, and the connection cap holds further clients until a place frees.

use std::time::Duration;

use propledger_node::chain::ServerLimits;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use super::support::{self, Rpc};

/// A deadline that only a server that never closes would miss: it keeps a broken server from
/// hanging the test, and says nothing about speed.
const NEVER: Duration = Duration::from_secs(120);

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(NEVER, stream.read_to_end(&mut out))
        .await
        .expect("the server never closed the connection")
        .ok();
    out
}

/// One complete JSON-RPC request over HTTP/1.1 with keep-alive.
fn request(body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: chain\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const BLOCK_NUMBER: &str = r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_slow_and_idle_connections_are_closed_while_requests_are_served() {
    let limits = ServerLimits {
        max_connections: 1_024,
        header_read_timeout: Duration::from_secs(1),
        keep_alive_timeout: Duration::from_secs(2),
        body_read_timeout: Duration::from_secs(1),
    };
    let chain = support::chain_with(|c| c.server = limits.clone()).await;
    let addr = chain.node.as_ref().expect("running").local_addr();

    // 150 send part of their headers, 100 all headers and part of a body, 100 nothing at all,
    // and 100 make one request and then keep the connection without using it.
    let mut half_headers = Vec::new();
    let mut half_bodies = Vec::new();
    let mut silent = Vec::new();
    let mut kept_alive = Vec::new();
    let opened = Instant::now();
    for _ in 0..150 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"POST / HTTP/1.1\r\nHost: chain\r\nContent-Ty")
            .await
            .expect("write");
        half_headers.push(s);
    }
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"POST / HTTP/1.1\r\nHost: chain\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":")
            .await
            .expect("write");
        half_bodies.push(s);
    }
    for _ in 0..100 {
        silent.push(TcpStream::connect(addr).await.expect("connect"));
    }
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(request(BLOCK_NUMBER).as_bytes())
            .await
            .expect("write");
        let mut first = [0u8; 12];
        s.read_exact(&mut first).await.expect("answer");
        assert_eq!(&first, b"HTTP/1.1 200");
        kept_alive.push(s);
    }

    // Normal clients keep being served the whole time.
    let served = tokio::spawn({
        let rpc = Rpc::new(&chain.url());
        async move {
            let mut served = 0;
            for _ in 0..40 {
                rpc.block_number().await;
                served += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            served
        }
    });

    let mut slowest = Duration::ZERO;
    for s in &mut half_headers {
        read_to_close(s).await;
        slowest = slowest.max(opened.elapsed());
    }
    for s in &mut half_bodies {
        let answer = read_to_close(s).await;
        let answer = String::from_utf8_lossy(&answer);
        // The handler gave up on the body: an error answer, then the connection closes.
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "a body that never came: {answer}"
        );
    }
    for s in &mut silent {
        assert!(read_to_close(s).await.is_empty());
    }
    for s in &mut kept_alive {
        read_to_close(s).await;
    }
    println!(
        "450 slow or idle connections closed; the last {:.1} s after it was opened",
        slowest.as_secs_f64()
    );
    assert_eq!(served.await.expect("client"), 40);
    // And the server still takes new connections.
    assert_eq!(
        Rpc::new(&chain.url())
            .ok("eth_chainId", json!([]))
            .await
            .as_str(),
        Some("0x7a69")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_new_clients_until_a_place_frees() {
    let limits = ServerLimits {
        max_connections: 20,
        // Long enough that only the test's own closing frees a place.
        header_read_timeout: Duration::from_secs(300),
        keep_alive_timeout: Duration::from_secs(300),
        body_read_timeout: Duration::from_secs(300),
    };
    let chain = support::chain_with(|c| c.server = limits.clone()).await;
    let addr = chain.node.as_ref().expect("running").local_addr();
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(request(BLOCK_NUMBER).as_bytes())
            .await
            .expect("write");
        let mut first = [0u8; 12];
        s.read_exact(&mut first).await.expect("answer");
        held.push(s);
    }
    // The 21st client connects (the kernel queues it) but is not served while 20 are open.
    let mut extra = TcpStream::connect(addr).await.expect("connect");
    extra
        .write_all(request(BLOCK_NUMBER).as_bytes())
        .await
        .expect("write");
    let mut first = [0u8; 12];
    let early =
        tokio::time::timeout(Duration::from_millis(500), extra.read_exact(&mut first)).await;
    assert!(early.is_err(), "a 21st connection was served past the cap");
    // One client leaves; its place goes to the waiting one.
    drop(held.pop());
    tokio::time::timeout(NEVER, extra.read_exact(&mut first))
        .await
        .expect("the waiting client was never served")
        .expect("answer");
    assert_eq!(&first, b"HTTP/1.1 200");
}
