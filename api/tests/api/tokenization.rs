//! Tokenizing a property through the API on the embedded chain: the request checked field by
//! field, one launch through the outbox, the deed and contracts on chain, the offering in the
//! index, and a second tokenization refused.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use propledger_api::app::ChainContext;
use propledger_api::db::{Db, Engine, Query};
use propledger_api::http::limits::RateLimits;
use propledger_api::outbox::failpoint;
use propledger_api::outbox::sender::SenderConfig;
use propledger_api::{Api, ApiConfig};
use propledger_contracts::deploy::Platform;
use propledger_contracts::launch::launch_property;
use propledger_contracts::{PropertyDeed, PropertyDirectory, PropertyLauncher, PropertyShares};
use propledger_ledger::Ledger;
use serde_json::{Value, json};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::chainapp::{ChainApp, params};
use crate::outbox::DEV_KEY;
use crate::support::{TestApp, both_engines, property_body};

both_engines!(tokenize_a_property, a_launch_the_contracts_refuse);

pub(crate) const DEED: &[u8] = b"%PDF-1.7 grant deed, 12 Elm St, APN 123-456-789";

/// A property with its deed uploaded: (property id, document id).
pub(crate) async fn property_with_deed(app: &TestApp, token: &str) -> (String, String) {
    let property = app
        .post("/v1/properties")
        .token(token)
        .json(&property_body(
            "Springfield",
            39.8,
            -89.6,
            "250000.00",
            1400,
        ))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let document = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(token)
        .multipart(
            &[("kind", "deed")],
            Some(("deed.pdf", "application/pdf", DEED)),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (property, document)
}

/// A tokenization request: 1,000 shares at 100 USD, open from a minute ago for 30 days.
pub(crate) fn tokenization_body(document: &str) -> Value {
    let now = Utc::now();
    json!({
        "name": "Oak Ave Shares",
        "symbol": "OAK",
        "parcel_id": "123-456-789",
        "document_id": document,
        "offering": {
            "price_per_share": "100",
            "min_purchase": "1",
            "max_per_investor": "400",
            "shares_for_sale": "1000",
            "soft_cap": "1000",
            "opens_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
            "closes_at": (now + chrono::Duration::days(30)).to_rfc3339(),
        }
    })
}

/// The deed token id of an API property.
pub(crate) fn token_id(property: &str) -> U256 {
    U256::from(uuid::Uuid::parse_str(property).unwrap().as_u128())
}

async fn tokenize_a_property(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let (property, document) = property_with_deed(app, &op).await;
    let (other, other_doc) = property_with_deed(app, &op).await;
    let path = format!("/v1/properties/{property}/tokenization");

    app.get(&path)
        .token(&op)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);

    // Every bad field is named at once.
    let mut bad = tokenization_body(&document);
    bad["name"] = json!("");
    bad["symbol"] = json!("A-SYMBOL-FAR-TOO-LONG");
    bad["parcel_id"] = json!("x".repeat(33));
    bad["custodian"] = json!("0x1234");
    bad["offering"]["price_per_share"] = json!("1.0000001");
    bad["offering"]["closes_at"] = json!("next tuesday");
    let r = app.post(&path).token(&op).json(&bad).send().await;
    let p = r.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/name"),
    );
    for field in [
        "/symbol",
        "/parcel_id",
        "/custodian",
        "/offering/price_per_share",
        "/offering/closes_at",
    ] {
        assert!(
            p["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["pointer"] == field),
            "{field}: {p}"
        );
    }
    // The offering contract's own rules.
    let mut bad = tokenization_body(&document);
    bad["offering"]["closes_at"] = bad["offering"]["opens_at"].clone();
    bad["offering"]["max_per_investor"] = json!("0.5");
    let r = app.post(&path).token(&op).json(&bad).send().await;
    r.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/offering/closes_at"),
    );
    r.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/offering/max_per_investor"),
    );
    let mut bad = tokenization_body(&document);
    bad["offering"]["opens_at"] = json!("2020-01-01T00:00:00Z");
    bad["offering"]["closes_at"] = json!("2020-02-01T00:00:00Z");
    app.post(&path).token(&op).json(&bad).send().await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/offering/closes_at"),
    );
    let mut bad = tokenization_body(&document);
    bad["offering"]["soft_cap"] = json!("100001");
    app.post(&path).token(&op).json(&bad).send().await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/offering/soft_cap"),
    );
    // Another property's document.
    app.post(&path)
        .token(&op)
        .json(&tokenization_body(&other_doc))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/document_id"),
        );
    app.post("/v1/properties/0190a000-0000-7000-8000-000000000000/tokenization")
        .token(&op)
        .json(&tokenization_body(&document))
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_outbox").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_tokenizations")
            .await,
        0
    );

    // Tokenized: queued, then confirmed with its contracts.
    let body = tokenization_body(&document);
    let r = app
        .post(&path)
        .token(&op)
        .header("idempotency-key", "tokenize-oak")
        .json(&body)
        .send()
        .await;
    let queued = r.expect(StatusCode::ACCEPTED).json();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["action"]["kind"], "property.launch");
    assert_eq!(
        queued["launch"]["token_id"],
        token_id(&property).to_string()
    );
    assert_eq!(
        queued["launch"]["metadata_hash"],
        keccak256(DEED).to_string()
    );
    assert_eq!(
        queued["launch"]["metadata_uri"],
        format!("https://app.propledger.test/v1/documents/{document}/content")
    );
    let replay = app
        .post(&path)
        .token(&op)
        .header("idempotency-key", "tokenize-oak")
        .json(&body)
        .send()
        .await;
    assert_eq!(replay.expect(StatusCode::ACCEPTED).json(), queued);
    assert_eq!(replay.headers["idempotent-replayed"], "true");

    let settled = w.settled(&[queued["action"].clone()]).await;
    assert_eq!(settled[0]["status"], "confirmed", "{}", settled[0]);
    let t = app
        .get(&path)
        .token(&app.key("auditor").await)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(t["status"], "confirmed");
    let contracts = &t["contracts"];
    let addr = |k: &str| contracts[k].as_str().unwrap().parse::<Address>().unwrap();

    // On chain: the deed with the document's hash, the share token, the directory's entry.
    let id = token_id(&property);
    let deed = PropertyDeed::new(w.platform.deed.address, &w.reader);
    assert_eq!(deed.ownerOf(id).call().await.unwrap(), w.platform.admin());
    assert_eq!(deed.metadataHash(id).call().await.unwrap(), keccak256(DEED));
    assert_eq!(
        deed.tokenURI(id).call().await.unwrap(),
        t["launch"]["metadata_uri"].as_str().unwrap()
    );
    assert_eq!(deed.totalMinted().call().await.unwrap(), U256::from(2));
    let shares = PropertyShares::new(addr("shares"), &w.reader);
    assert_eq!(shares.symbol().call().await.unwrap(), "OAK");
    let directory = PropertyDirectory::new(w.platform.directory.address, &w.reader);
    assert!(directory.propertyIds().call().await.unwrap().contains(&id));

    // The upkeep lists the share token on the platform's share market, once.
    let market = propledger_contracts::ShareSettlement::new(
        w.platform.settlement.expect("a market").address,
        &w.reader,
    );
    assert!(!market.listed(addr("shares")).call().await.unwrap());
    assert_eq!(app.api.list_on_market().await.unwrap(), 1);
    assert_eq!(app.api.list_on_market().await.unwrap(), 0);
    w.outbox_idle().await;
    assert!(market.listed(addr("shares")).call().await.unwrap());

    // The index follows it: the offering is for sale on its terms.
    w.caught_up().await;
    let offering = app
        .get(&format!("/v1/offerings/{}", addr("offering")))
        .token(&op)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        offering["terms"]["price_per_share"]["amount"], "100",
        "{offering}"
    );
    assert_eq!(offering["shares"], contracts["shares"], "{offering}");
    assert_eq!(offering["property_id"], id.to_string(), "{offering}");

    // Once is all: another request (another key) is refused and changes nothing.
    let r = app
        .post(&path)
        .token(&op)
        .json(&tokenization_body(&document))
        .send()
        .await;
    let p = r.problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "already_tokenized", "{p}");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_outbox WHERE kind = 'property.launch'")
            .await,
        1
    );
    // The other property is untouched.
    app.get(&format!("/v1/properties/{other}/tokenization"))
        .token(&op)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    w.finish().await;
}

/// A launch the contracts refuse (the deed's id is taken) is answered at once and recorded
/// nowhere.
async fn a_launch_the_contracts_refuse(engine: Engine) {
    let w = ChainApp::new(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let (property, document) = property_with_deed(app, &op).await;
    let now = Utc::now().timestamp() as u64;
    let mut taken = params(1, now, now + 86_400);
    taken.property_id = token_id(&property);
    w.outbox_idle().await;
    launch_property(&w.admin, &w.platform, &taken)
        .await
        .unwrap();
    let r = app
        .post(&format!("/v1/properties/{property}/tokenization"))
        .token(&op)
        .json(&tokenization_body(&document))
        .send()
        .await;
    let p = r.problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "would_revert", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("DeedExists"), "{p}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_outbox").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_tokenizations")
            .await,
        0
    );
    w.finish().await;
}

mod crash {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_at_every_step_sqlite() {
        killed_at_every_step(Engine::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_at_every_step_postgres() {
        killed_at_every_step(Engine::Postgres).await;
    }
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

/// Tokenization killed (SIGKILL) at each of the outbox's failpoints, from the request's commit
/// to the receipt, then resumed by a new process that retries the request with the same
/// Idempotency-Key, as a client would: every property ends with exactly one deed and one set
/// of contracts.
async fn killed_at_every_step(engine: Engine) {
    let w = ChainApp::without_senders(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let platform = serde_json::to_string(&w.platform).unwrap();
    let deed = PropertyDeed::new(w.platform.deed.address, &w.reader);
    for fp in failpoint::ALL {
        let (property, document) = property_with_deed(app, &op).await;
        let body = tokenization_body(&document).to_string();
        let minted = deed.totalMinted().call().await.unwrap();
        let marks = tempfile::tempdir().unwrap();
        let log = |n: usize| marks.path().join(format!("child-{n}.log"));
        let spawn = |failpoint: Option<&str>, n: usize| {
            let mut cmd = Command::new(std::env::current_exe().unwrap());
            cmd.args([
                "tokenization::launch_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PL_CHILD_DB", &app.url)
            .env("PL_CHILD_DATA", app.dir.path())
            .env("PL_CHILD_RPC", &w.url)
            .env("PL_CHILD_PLATFORM", &platform)
            .env("PL_CHILD_PROPERTY", &property)
            .env("PL_CHILD_BODY", &body)
            .env("PL_CHILD_TOKEN", &op)
            .env("PROPLEDGER_FAILPOINT_DIR", marks.path())
            .env_remove("PROPLEDGER_FAILPOINTS")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log(n)).unwrap());
            if let Some(f) = failpoint {
                cmd.env("PROPLEDGER_FAILPOINTS", f);
            }
            cmd.spawn().expect("spawn the child")
        };
        let said = |n: usize| std::fs::read_to_string(log(n)).unwrap_or_default();
        let mut first = spawn(Some(fp), 1);
        let status = wait(&mut first, Duration::from_secs(120));
        assert_eq!(
            status.signal(),
            Some(9),
            "{fp}: not killed ({status:?}): {}",
            said(1)
        );
        assert!(marks.path().join(fp).exists(), "{fp} was not reached");
        let mut second = spawn(None, 2);
        let status = wait(&mut second, Duration::from_secs(120));
        assert!(
            status.success(),
            "{fp}: the resumed launch failed ({status:?}): {}",
            said(2)
        );

        let t = app
            .get(&format!("/v1/properties/{property}/tokenization"))
            .token(&op)
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        assert_eq!(t["status"], "confirmed", "{fp}: {t}");
        assert_eq!(t["action"]["sends"].as_u64().map(|n| n >= 1), Some(true));
        let id = token_id(&property);
        assert_eq!(
            deed.totalMinted().call().await.unwrap(),
            minted + U256::from(1),
            "{fp}: one deed"
        );
        assert_eq!(
            deed.ownerOf(id).call().await.unwrap(),
            w.platform.admin(),
            "{fp}"
        );
        let filter = Filter::new()
            .address(w.platform.launcher.address)
            .event_signature(PropertyLauncher::PropertyLaunched::SIGNATURE_HASH)
            .from_block(0);
        let launches = w
            .reader
            .get_logs(&filter)
            .await
            .unwrap()
            .iter()
            .filter_map(|l| PropertyLauncher::PropertyLaunched::decode_log(&l.inner).ok())
            .filter(|e| e.propertyId == id)
            .map(|e| e.shares)
            .collect::<Vec<_>>();
        assert_eq!(
            launches,
            vec![
                t["contracts"]["shares"]
                    .as_str()
                    .unwrap()
                    .parse::<Address>()
                    .unwrap()
            ],
            "{fp}: one set of contracts"
        );
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM api_outbox WHERE kind = 'property.launch'")
                .await,
            app.count("SELECT COUNT(*) AS n FROM api_tokenizations")
                .await,
            "{fp}: one action per tokenization"
        );
    }
    w.finish().await;
}

/// The crash test's child: asks for the tokenization (with the parent's Idempotency-Key) while
/// the outbox's sender runs, and exits once the launch is settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the tokenization crash test in a child process"]
async fn launch_child() {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let url = env("PL_CHILD_DB");
    let db = Db::connect(&url).await.unwrap();
    let ledger = Ledger::connect(&url).await.unwrap();
    let platform: Platform = serde_json::from_str(&env("PL_CHILD_PLATFORM")).unwrap();
    let tls = propledger_net::tls::client_config(&[]).unwrap();
    let provider = ChainContext::connect_provider(&env("PL_CHILD_RPC"), &tls)
        .await
        .unwrap();
    let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let context = ChainContext {
        chain_id: 31337,
        platform,
        signers: ["admin", "registrar", "agent", "treasurer", "rules"]
            .iter()
            .map(|r| ((*r).to_owned(), signer.address()))
            .collect(),
        provider,
        source: None,
        external_anchor: None,
    };
    let mut config = ApiConfig::new(PathBuf::from(env("PL_CHILD_DATA")));
    config.rate_limits = RateLimits::off();
    config.public_url = "https://app.propledger.test".to_owned();
    let api = Api::with_chain(db.clone(), config, None, Some(context)).unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let mut cfg = SenderConfig::new(31337, 0);
    cfg.poll = Duration::from_millis(20);
    let senders = api
        .spawn_senders(ledger, vec![("admin".to_owned(), signer)], cfg, stop)
        .unwrap();
    let property = env("PL_CHILD_PROPERTY");
    let req = Request::post(format!("/v1/properties/{property}/tokenization"))
        .header("authorization", format!("Bearer {}", env("PL_CHILD_TOKEN")))
        .header("idempotency-key", format!("launch-{property}"))
        .header("content-type", "application/json")
        .body(Body::from(env("PL_CHILD_BODY")))
        .unwrap();
    let resp = api.router().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let status = Query::new(
            "SELECT o.status FROM api_tokenizations t JOIN api_outbox o ON o.id = t.action_id \
             WHERE t.property_id = $1",
        )
        .bind(property.clone())
        .fetch_one(db.reader())
        .await
        .unwrap()
        .get::<String>("status")
        .unwrap();
        match status.as_str() {
            "confirmed" => break,
            "failed" => panic!("the launch failed"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "the launch never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    for h in senders {
        let _ = h.await;
    }
}
