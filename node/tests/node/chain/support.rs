//! Helpers for the embedded-chain tests: a chain in a temp directory on port 0, anvil from npm
//! as a child process, a raw JSON-RPC client, a WebSocket client, transaction signing, and a
//! chain in a child process (this test binary re-executed) for kill -9 and the benchmark.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope, TxLegacy},
    eips::eip2718::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, Bytes, TxKind, U256},
    signers::local::PrivateKeySigner,
    transports::http::reqwest,
};
use futures_util::{SinkExt, StreamExt};
use propledger_node::chain::{ChainConfig, EmbeddedChain};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Private keys of the standard dev accounts (anvil and Hardhat print the same).
pub(crate) const KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

pub(crate) const CHAIN_ID: u64 = 31337;
pub(crate) const GWEI: u128 = 1_000_000_000;

pub(crate) fn signer(i: usize) -> PrivateKeySigner {
    KEYS[i].parse().expect("dev key")
}

pub(crate) fn address(i: usize) -> Address {
    signer(i).address()
}

/// An embedded chain in its own temp directory, on a free loopback port.
pub(crate) struct Chain {
    pub(crate) node: Option<EmbeddedChain>,
    pub(crate) dir: tempfile::TempDir,
    config: ChainConfig,
}

impl Chain {
    pub(crate) fn url(&self) -> String {
        self.node.as_ref().expect("running").url()
    }

    pub(crate) fn ws_url(&self) -> String {
        self.node.as_ref().expect("running").ws_url()
    }

    pub(crate) fn rpc(&self) -> Rpc {
        Rpc::new(&self.url())
    }

    /// Clean stop: shutdown, then start again on the same directory.
    pub(crate) async fn restart(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await.expect("shutdown");
        }
        self.node = Some(
            EmbeddedChain::start(self.config.clone())
                .await
                .expect("restart"),
        );
    }
}

pub(crate) fn test_config(dir: &Path) -> ChainConfig {
    let mut config = ChainConfig::new(dir);
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config
}

pub(crate) async fn chain() -> Chain {
    chain_with(|_| {}).await
}

pub(crate) async fn chain_with(f: impl FnOnce(&mut ChainConfig)) -> Chain {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    f(&mut config);
    let node = EmbeddedChain::start(config.clone())
        .await
        .expect("start chain");
    Chain {
        node: Some(node),
        dir,
        config,
    }
}

pub(crate) fn anvil_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}

/// anvil from npm as a child process, killed on drop.
pub(crate) struct Anvil {
    _child: tokio::process::Child,
    pub(crate) url: String,
    pub(crate) pid: u32,
}

impl Anvil {
    pub(crate) fn ws_url(&self) -> String {
        self.url.replace("http://", "ws://")
    }
}

/// anvil quiet (no line per request), with `extra` arguments, on a free loopback port; ready
/// once it answers `eth_chainId`.
pub(crate) async fn anvil_quiet(extra: &[&str]) -> Anvil {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let port_text = port.to_string();
    let mut args = vec![
        "--port",
        port_text.as_str(),
        "--hardfork",
        "osaka",
        "--chain-id",
        "31337",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let child = tokio::process::Command::new(anvil_path())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn anvil (run scripts/install-toolchain)");
    let pid = child.id().expect("anvil pid");
    let url = format!("http://127.0.0.1:{port}");
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(ready.is_ok(), "anvil did not start in time");
    Rpc::new(&url)
        .ok("eth_chainId", serde_json::json!([]))
        .await;
    Anvil {
        _child: child,
        url,
        pid,
    }
}

pub(crate) async fn anvil() -> Anvil {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(anvil_path())
        .args(["--port", "0", "--hardfork", "osaka", "--chain-id", "31337"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn anvil (run scripts/install-toolchain)");
    let pid = child.id().expect("anvil pid");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read anvil output") {
            if let Some(addr) = line.strip_prefix("Listening on ") {
                return format!("http://{}", addr.trim());
            }
        }
        panic!("anvil exited before listening");
    })
    .await
    .expect("anvil did not start in time");
    // Keep draining anvil's output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Anvil {
        _child: child,
        url,
        pid,
    }
}

/// A JSON-RPC error as received.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) data: Option<Value>,
}

/// A raw JSON-RPC client over HTTP.
#[derive(Clone)]
pub(crate) struct Rpc {
    client: reqwest::Client,
    pub(crate) url: String,
}

impl Rpc {
    pub(crate) fn new(url: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: url.to_owned(),
        }
    }

    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp: Value = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .expect("http")
            .json()
            .await
            .expect("json response");
        if let Some(e) = resp.get("error") {
            return Err(RpcError {
                code: e["code"].as_i64().expect("code"),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
                data: e.get("data").cloned(),
            });
        }
        Ok(resp["result"].clone())
    }

    pub(crate) async fn ok(&self, method: &str, params: Value) -> Value {
        match self.call(method, params.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{method} {params} on {} failed: {e:?}", self.url),
        }
    }

    pub(crate) async fn err(&self, method: &str, params: Value) -> RpcError {
        match self.call(method, params.clone()).await {
            Ok(v) => panic!("{method} {params} on {} succeeded with {v}", self.url),
            Err(e) => e,
        }
    }

    /// Posts a raw body; returns status and body text.
    pub(crate) async fn post(&self, body: impl Into<String>) -> (u16, String) {
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .expect("http");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    pub(crate) async fn block_number(&self) -> u64 {
        quantity(&self.ok("eth_blockNumber", json!([])).await)
    }

    pub(crate) async fn nonce(&self, who: Address) -> u64 {
        quantity(
            &self
                .ok("eth_getTransactionCount", json!([who, "latest"]))
                .await,
        )
    }

    /// Sends a raw transaction and returns its receipt (automine).
    pub(crate) async fn send_raw(&self, raw: &Bytes) -> Value {
        let hash = self.ok("eth_sendRawTransaction", json!([raw])).await;
        let receipt = self.ok("eth_getTransactionReceipt", json!([hash])).await;
        assert!(
            !receipt.is_null(),
            "automine: receipt of {hash} must exist once the hash is returned"
        );
        receipt
    }
}

pub(crate) fn quantity(v: &Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("quantity expected, got {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex quantity")
}

pub(crate) fn u256(v: &Value) -> U256 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("quantity expected, got {v}"));
    U256::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex quantity")
}

/// What a signed transaction is made of.
#[derive(Debug, Clone)]
pub(crate) struct TxSpec {
    pub(crate) kind: TxKind,
    pub(crate) value: U256,
    pub(crate) input: Bytes,
    pub(crate) nonce: u64,
    pub(crate) gas: u64,
    pub(crate) max_fee: u128,
    pub(crate) tip: u128,
    pub(crate) chain_id: u64,
}

impl TxSpec {
    pub(crate) fn call(to: Address, input: impl Into<Bytes>, nonce: u64) -> Self {
        Self {
            kind: TxKind::Call(to),
            value: U256::ZERO,
            input: input.into(),
            nonce,
            gas: 1_000_000,
            max_fee: 10 * GWEI,
            tip: GWEI,
            chain_id: CHAIN_ID,
        }
    }

    pub(crate) fn create(code: impl Into<Bytes>, nonce: u64) -> Self {
        Self {
            kind: TxKind::Create,
            gas: 5_000_000,
            ..Self::call(Address::ZERO, code, nonce)
        }
    }

    pub(crate) fn transfer(to: Address, value: U256, nonce: u64) -> Self {
        Self {
            value,
            gas: 21_000,
            ..Self::call(to, Bytes::new(), nonce)
        }
    }

    pub(crate) fn sign_1559(&self, s: &PrivateKeySigner) -> Bytes {
        let mut tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit: self.gas,
            max_fee_per_gas: self.max_fee,
            max_priority_fee_per_gas: self.tip,
            to: self.kind,
            value: self.value,
            access_list: Default::default(),
            input: self.input.clone(),
        };
        let sig = s.sign_transaction_sync(&mut tx).expect("sign");
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
    }

    pub(crate) fn sign_legacy(&self, s: &PrivateKeySigner) -> Bytes {
        let mut tx = TxLegacy {
            chain_id: Some(self.chain_id),
            nonce: self.nonce,
            gas_price: self.max_fee,
            gas_limit: self.gas,
            to: self.kind,
            value: self.value,
            input: self.input.clone(),
        };
        let sig = s.sign_transaction_sync(&mut tx).expect("sign");
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
    }

    pub(crate) fn sign_2930(
        &self,
        s: &PrivateKeySigner,
        access_list: alloy::eips::eip2930::AccessList,
    ) -> Bytes {
        let mut tx = TxEip2930 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_price: self.max_fee,
            gas_limit: self.gas,
            to: self.kind,
            value: self.value,
            access_list,
            input: self.input.clone(),
        };
        let sig = s.sign_transaction_sync(&mut tx).expect("sign");
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
    }
}

/// A WebSocket JSON-RPC client.
pub(crate) struct Ws {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    /// Notifications that arrived while waiting for a response.
    backlog: std::collections::VecDeque<Value>,
}

impl Ws {
    pub(crate) async fn connect(url: &str) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Self {
            stream,
            next_id: 1,
            backlog: Default::default(),
        }
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::text(text.to_owned()))
            .await
            .expect("ws send");
    }

    pub(crate) async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(20), self.stream.next())
                .await
                .expect("ws message in time")
                .expect("ws open")
                .expect("ws frame");
            if let Message::Text(t) = msg {
                return serde_json::from_str(&t).expect("json");
            }
        }
    }

    pub(crate) async fn call(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_text(&body.to_string()).await;
        loop {
            let v = self.recv().await;
            if v.get("method").is_some() {
                self.backlog.push_back(v);
                continue;
            }
            if v["id"] != json!(id) {
                continue;
            }
            if let Some(e) = v.get("error") {
                return Err(RpcError {
                    code: e["code"].as_i64().expect("code"),
                    message: e["message"].as_str().unwrap_or_default().to_owned(),
                    data: e.get("data").cloned(),
                });
            }
            return Ok(v["result"].clone());
        }
    }

    /// The next subscription notification's `params.result`, with its subscription id.
    pub(crate) async fn notification(&mut self) -> (Value, Value) {
        let v = match self.backlog.pop_front() {
            Some(v) => v,
            None => loop {
                let v = self.recv().await;
                if v.get("method").is_some() {
                    break v;
                }
            },
        };
        assert_eq!(v["method"], "eth_subscription");
        (
            v["params"]["subscription"].clone(),
            v["params"]["result"].clone(),
        )
    }
}

/// Environment variable that makes [`chain_child`] run a chain (test-binary re-exec).
const CHILD_DIR_ENV: &str = "PROPLEDGER_TEST_CHAIN_CHILD_DIR";
const CHILD_URL_MARKER: &str = "PROPLEDGER_CHAIN_URL=";

/// The chain in a child process: this test binary running [`chain_child`].
pub(crate) struct ChildChain {
    pub(crate) child: std::process::Child,
    pub(crate) url: String,
}

impl ChildChain {
    pub(crate) fn spawn(dir: &Path, release_label: &str) -> Self {
        let exe = std::env::current_exe().expect("test binary");
        let mut child = std::process::Command::new(exe)
            .args([
                "chain::support::chain_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, dir)
            .env("PROPLEDGER_CHILD_LABEL", release_label)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child chain");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest prints the test name on the same line before the marker.
                if !sent && let Some(at) = line.find(CHILD_URL_MARKER) {
                    let url = line[at + CHILD_URL_MARKER.len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default();
                    let _ = tx.send(url.to_owned());
                    sent = true;
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child chain started");
        Self { child, url }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush.
    pub(crate) fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM-free clean stop: closing stdin asks the child to shut down.
    pub(crate) fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Not a test: the body of [`ChildChain`]. Runs a chain on the directory named by the
/// environment until stdin closes, then shuts down cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process for kill -9 tests and the benchmark"]
async fn chain_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let config = test_config(Path::new(&dir));
    let node = EmbeddedChain::start(config)
        .await
        .expect("start child chain");
    println!("{CHILD_URL_MARKER}{}", node.url());
    let _ = tokio::task::spawn_blocking(|| {
        let mut buf = String::new();
        while std::io::stdin()
            .read_line(&mut buf)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            buf.clear();
        }
    })
    .await;
    node.shutdown().await.expect("shutdown");
}

/// Peak resident memory of a process in KiB (VmHWM).
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
