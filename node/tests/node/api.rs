//! The node serves the HTTP API on its database: the first start makes one admin key (printed
//! and written to `admin.key`), readiness reports the chain and the indexer, and the command
//! line makes users and keys that the API accepts.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use propledger_node::Node;

use crate::run::config;

pub(crate) async fn get(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let mut req = hyper::Request::get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = client
        .request(req.body(http_body_util::Empty::new()).unwrap())
        .await
        .expect("the API answers");
    let status = resp.status().as_u16();
    use http_body_util::BodyExt;
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_serves_its_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(config(dir.path())).await.expect("start");
    let url = node.api_url().expect("api").to_owned();
    let key = node.first_admin_key().expect("a first key").to_owned();
    let file = dir.path().join("admin.key");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), key);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let (status, me) = get(&format!("{url}/v1/auth/session"), Some(&key)).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")));
    // Ready (the indexer within 64 blocks of the head), and then caught up with the chain.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, ready) = get(&format!("{url}/readyz"), None).await;
        if status == 200 {
            let lag = ready["indexer_lag_blocks"].as_u64().expect("a lag");
            assert!(lag <= 64, "ready while {lag} blocks behind: {ready}");
            if lag == 0 {
                assert!(ready["head_block"].as_u64().unwrap() >= 4, "{ready}");
                break;
            }
        }
        assert!(Instant::now() < deadline, "never ready: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, metrics) = get(&format!("{url}/metrics"), None).await;
    assert!(metrics.is_null(), "metrics are text");
    node.shutdown().await.expect("shutdown");

    // A restart makes no second key.
    let node = Node::start(config(dir.path())).await.expect("restart");
    assert!(node.first_admin_key().is_none());
    let url = node.api_url().unwrap().to_owned();
    let (status, _) = get(&format!("{url}/v1/auth/session"), Some(&key)).await;
    assert_eq!(status, 200);
    node.shutdown().await.expect("shutdown");
}

#[test]
fn a_config_file_sets_what_flags_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = env!("CARGO_BIN_EXE_propledger");
    let data = dir.path().join("from-the-file");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "a long enough password\n").unwrap();
    let file = dir.path().join("propledger.toml");
    std::fs::write(
        &file,
        format!(
            "data-dir = {:?}\nconfirmations = 2\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    // The user is made in the file's data directory...
    let out = Command::new(bin)
        .arg("--config")
        .arg(&file)
        .args(["users", "create", "--username", "bob", "--role", "auditor"])
        .arg("--password-file")
        .arg(&pw)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...where a key for it is then made, named by the flag.
    let out = Command::new(bin)
        .arg("--data-dir")
        .arg(&data)
        .args([
            "keys", "create", "--role", "auditor", "--name", "bob", "--user", "bob",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A key the binary does not know stops it, named.
    std::fs::write(&file, "data-dri = \"x\"\n").unwrap();
    let out = Command::new(bin)
        .arg("--config")
        .arg(&file)
        .args(["users", "create", "--username", "cyd", "--role", "auditor"])
        .arg("--password-file")
        .arg(&pw)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no setting `data-dri`"), "{stderr}");
}

#[test]
fn the_command_line_makes_users_and_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = env!("CARGO_BIN_EXE_propledger");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "a long enough password\n").unwrap();
    let out = Command::new(bin)
        .args(["--data-dir"])
        .arg(dir.path())
        .args([
            "users",
            "create",
            "--username",
            "ada",
            "--role",
            "operator",
            "--password-file",
        ])
        .arg(&pw)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("otpauth://totp/PropLedger:ada?secret="),
        "{stdout}"
    );
    assert!(!stdout.contains("a long enough password"));

    let out = Command::new(bin)
        .args(["--data-dir"])
        .arg(dir.path())
        .args([
            "keys",
            "create",
            "--role",
            "operator",
            "--name",
            "ada's laptop",
            "--user",
            "ada",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(key.starts_with("plk_"), "{key}");
    // A user's key takes the user's role.
    let out = Command::new(bin)
        .args(["--data-dir"])
        .arg(dir.path())
        .args([
            "keys", "create", "--role", "admin", "--name", "x", "--user", "ada",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("role"));
    let out = Command::new(bin)
        .args(["--data-dir"])
        .arg(dir.path())
        .args([
            "users",
            "create",
            "--username",
            "bob",
            "--role",
            "auditor",
            "--password-file",
        ])
        .arg(dir.path().join("missing"))
        .output()
        .expect("run");
    assert!(!out.status.success());
}

pub(crate) async fn post(
    url: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut req = hyper::Request::post(url).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = client
        .request(
            req.body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .unwrap(),
        )
        .await
        .expect("the API answers");
    let status = resp.status().as_u16();
    use http_body_util::BodyExt;
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// A new wallet signs in with a message naming the node's address and chain and applies as an
/// investor: the application's id.
pub(crate) async fn applicant(url: &str) -> String {
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;
    use serde_json::json;

    let (status, grant) = post(&format!("{url}/v1/auth/siwe/nonce"), None, &json!({})).await;
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["chain_id"], 31337);
    assert_eq!(format!("http://{}", grant["domain"].as_str().unwrap()), url);
    let wallet = PrivateKeySigner::random();
    let now: chrono::DateTime<chrono::FixedOffset> = chrono::Utc::now().into();
    let message = propledger_api::siwe::Message {
        scheme: None,
        domain: grant["domain"].as_str().unwrap().to_owned(),
        address: wallet.address(),
        statement: None,
        uri: grant["uri"].as_str().unwrap().to_owned(),
        version: "1".to_owned(),
        chain_id: 31337,
        nonce: grant["nonce"].as_str().unwrap().to_owned(),
        issued_at: now,
        expiration_time: None,
        not_before: None,
        request_id: None,
        resources: Vec::new(),
    }
    .to_text();
    let signature = wallet.sign_message_sync(message.as_bytes()).unwrap();
    let (status, session) = post(
        &format!("{url}/v1/auth/siwe/verify"),
        None,
        &json!({"message": message, "signature": format!("0x{}", alloy::hex::encode(signature.as_bytes()))}),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().unwrap();
    let (status, investor) = post(
        &format!("{url}/v1/me/application"),
        Some(token),
        &json!({"legal_name": "Ada Lovelace", "email": "ada@example.com", "country": "GB"}),
    )
    .await;
    assert_eq!(status, 201, "{investor}");
    investor["id"].as_str().unwrap().to_owned()
}

/// Compliance approves an applicant: the response's status and body.
pub(crate) async fn approve(url: &str, key: &str, id: &str) -> (u16, serde_json::Value) {
    post(
        &format!("{url}/v1/investors/{id}/approve"),
        Some(key),
        &serde_json::json!({"accredited": false, "kyc_expires_on": "2099-12-31"}),
    )
    .await
}

/// Waits until every action of an investor's detail is confirmed on chain.
pub(crate) async fn confirmed(url: &str, key: &str, detail: &serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let actions = detail["actions"].as_array().expect("actions");
    assert!(!actions.is_empty(), "{detail}");
    for action in actions {
        let id = action["id"].as_str().unwrap();
        loop {
            let (_, a) = get(&format!("{url}/v1/actions/{id}"), Some(key)).await;
            if a["status"] == "confirmed" {
                break;
            }
            assert_ne!(a["status"], "failed", "{a}");
            assert!(Instant::now() < deadline, "never confirmed: {a}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The node's API writes to its chain: a wallet signs in with a message naming the node's
/// address and chain, applies, and compliance's approval reaches the identity registry through
/// the node's outbox sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_outbox_registers_an_approved_investor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(config(dir.path())).await.expect("start");
    let url = node.api_url().expect("api").to_owned();
    let key = node.first_admin_key().expect("a first key").to_owned();
    let (status, offerings) = get(&format!("{url}/v1/offerings"), Some(&key)).await;
    assert_eq!(status, 200, "{offerings}");

    let id = applicant(&url).await;
    let (status, detail) = approve(&url, &key, &id).await;
    assert_eq!(status, 200, "{detail}");
    confirmed(&url, &key, &detail).await;
    let provider =
        alloy::providers::ProviderBuilder::new().connect_http(node.rpc_url().parse().unwrap());
    let registry = propledger_contracts::IdentityRegistry::new(
        node.platform().identity_registry.address,
        &provider,
    );
    let wallet = detail["wallets"][0]
        .as_str()
        .expect("a wallet")
        .parse()
        .expect("an address");
    let status = registry.walletStatus(wallet).call().await.unwrap();
    assert!(status.verified);
    assert_eq!(status.country, 826);
    node.shutdown().await.expect("shutdown");
}
