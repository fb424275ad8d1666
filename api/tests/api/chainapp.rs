//! An API acting on a real embedded chain: the platform and one property deployed, the outbox's
//! senders running, and investors with their own keys who sign in with them.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset, Utc};
use propledger_api::app::ChainContext;
use propledger_api::db::Engine;
use propledger_api::http::limits::RateLimits;
use propledger_api::outbox::sender::SenderConfig;
use propledger_api::siwe;
use propledger_chain::{ChainConfig, EmbeddedChain};
use propledger_contracts::TestStablecoin;
use propledger_contracts::deploy::{Platform, Roles, SettlementToken, deploy_platform};
use propledger_contracts::launch::{
    OfferingTerms, PropertyDeployment, PropertyParams, launch_property,
};
use propledger_indexer::source::SourceConfig;
use propledger_indexer::{IndexerConfig, Leader, run_exclusive};
use propledger_ledger::Ledger;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::outbox::DEV_KEY;
use crate::support::TestApp;

/// One whole share in base units.
pub(crate) fn shares(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

pub(crate) struct ChainApp {
    pub(crate) app: TestApp,
    pub(crate) chain: EmbeddedChain,
    _chain_dir: tempfile::TempDir,
    pub(crate) platform: Platform,
    pub(crate) property: PropertyDeployment,
    /// Signs as the platform's admin (every role).
    pub(crate) admin: DynProvider,
    /// Reads.
    pub(crate) reader: DynProvider,
    pub(crate) url: String,
    stop: watch::Sender<bool>,
    /// Stops only the outbox's senders.
    hold: watch::Sender<bool>,
    senders: Vec<tokio::task::JoinHandle<()>>,
    /// The indexer.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A property whose offering sells 1,000 shares at 100 USD (6 decimals), at most 400 to one
/// investor, from a minute before `now` until `end`, with a soft cap of 1,000 USD.
/// Property `id`, on sale from a minute before `now` until `end`.
pub(crate) fn params(id: u64, now: u64, end: u64) -> PropertyParams {
    PropertyParams {
        property_id: U256::from(id),
        name: "Elm St Shares".to_owned(),
        symbol: "ELM".to_owned(),
        parcel_id: B256::repeat_byte(7),
        metadata_hash: B256::repeat_byte(9),
        metadata_uri: "https://example.com/elm.json".to_owned(),
        custodian: None,
        terms: OfferingTerms {
            price_per_share: U256::from(100_000_000u64),
            min_purchase: shares(1),
            max_per_investor: shares(400),
            shares_for_sale: shares(1000),
            soft_cap: U256::from(1_000_000_000u64),
            start: now - 60,
            end,
        },
    }
}

/// An investor's own key, the same for the same `n`.
pub(crate) fn investor_key(n: u64) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(format!("investor {n}"))).expect("a key")
}

impl ChainApp {
    /// The chain and the API, without an indexer.
    pub(crate) async fn new(engine: Engine) -> ChainApp {
        Self::start(engine, false, true).await
    }

    /// Without an indexer, and without the outbox's senders (another process sends).
    pub(crate) async fn without_senders(engine: Engine) -> ChainApp {
        Self::start(engine, false, false).await
    }

    /// With the indexer following the chain into the API's database (as the node runs it).
    pub(crate) async fn indexed(engine: Engine) -> ChainApp {
        Self::start(engine, true, true).await
    }

    async fn start(engine: Engine, index: bool, send: bool) -> ChainApp {
        let chain_dir = tempfile::tempdir().unwrap();
        let mut cfg = ChainConfig::new(chain_dir.path());
        cfg.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let chain = EmbeddedChain::start(cfg).await.expect("chain");
        let url = chain.url();
        let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
        let http: alloy::transports::http::reqwest::Url = url.parse().unwrap();
        // The outbox's senders share the admin's key: read its nonce afresh for every send.
        let admin = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer.clone()))
            .connect_http(http)
            .erased();
        // The API's connection, as the node makes it: the shared JSON-RPC client.
        let tls = propledger_net::tls::client_config(&[]).expect("tls");
        let reader = ChainContext::connect_provider(&url, &tls)
            .await
            .expect("provider");
        let platform = deploy_platform(
            &admin,
            Roles::single(signer.address()),
            SettlementToken::DeployTestStablecoin,
        )
        .await
        .expect("platform");
        let now = Utc::now().timestamp() as u64;
        let property = launch_property(&admin, &platform, &params(1, now, now + 30 * 86_400))
            .await
            .expect("property");
        let context = ChainContext {
            chain_id: 31337,
            platform: platform.clone(),
            signers: ["admin", "registrar", "agent", "treasurer", "rules"]
                .iter()
                .map(|r| ((*r).to_owned(), signer.address()))
                .collect(),
            provider: reader.clone(),
            source: Some(SourceConfig::new(url.clone())),
            external_anchor: None,
        };
        let app = TestApp::build(
            engine,
            |c| {
                c.rate_limits = RateLimits::off();
                c.public_url = "https://app.propledger.test".to_owned();
                c.audit_rpc_allowlist = vec![format!("{url}/")];
            },
            Some(context),
        )
        .await;
        let ledger = Ledger::connect(&app.url).await.expect("ledger");
        app.api.attach_ledger(ledger.clone()).expect("ledger");
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        if index {
            let mut cfg = IndexerConfig::new(SourceConfig::new(url.clone()), platform.clone());
            cfg.confirmations = 0;
            cfg.poll_interval = Duration::from_millis(20);
            let leader = Leader::try_acquire(&ledger, &cfg).await.expect("indexer");
            let (ledger, stopped) = (ledger.clone(), stopped.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = run_exclusive(ledger, cfg, leader, stopped).await {
                    panic!("the indexer stopped: {e}");
                }
            }));
        }
        let mut sender_cfg = SenderConfig::new(31337, 0);
        sender_cfg.poll = Duration::from_millis(20);
        // The senders stop on their own signal too, so a test may hold the outbox.
        let (hold, held) = watch::channel(false);
        let senders = if send {
            let mut both = stopped.clone();
            let mut held = held.clone();
            let (to_senders, for_senders) = watch::channel(false);
            tokio::spawn(async move {
                tokio::select! {
                    _ = both.wait_for(|s| *s) => {}
                    _ = held.wait_for(|s| *s) => {}
                }
                let _ = to_senders.send(true);
            });
            app.api
                .spawn_senders(
                    ledger,
                    vec![("admin".to_owned(), signer)],
                    sender_cfg,
                    for_senders,
                )
                .expect("senders")
        } else {
            Vec::new()
        };
        ChainApp {
            app,
            chain,
            _chain_dir: chain_dir,
            platform,
            property,
            admin,
            reader,
            url,
            stop,
            hold,
            senders,
            tasks,
        }
    }

    /// Stops the senders and the chain.
    pub(crate) async fn finish(self) {
        let _ = self.stop.send(true);
        for h in self.senders.into_iter().chain(self.tasks) {
            let _ = h.await;
        }
        self.chain.shutdown().await.unwrap();
    }

    /// Stops the outbox's senders (the indexer goes on): actions recorded after stay queued.
    pub(crate) async fn hold_outbox(&mut self) {
        let _ = self.hold.send(true);
        for h in self.senders.drain(..) {
            let _ = h.await;
        }
    }

    /// Another property, its offering closing `open_for` seconds after the chain's time, indexed.
    pub(crate) async fn another_property(&self, open_for: u64) -> PropertyDeployment {
        self.outbox_idle().await;
        let head = self
            .reader
            .get_block_by_number(Default::default())
            .await
            .unwrap()
            .unwrap();
        let now = head.header.timestamp;
        // The next id, in the order properties were launched.
        let launched = propledger_contracts::PropertyDirectory::new(
            self.platform.directory.address,
            &self.reader,
        )
        .propertyIds()
        .call()
        .await
        .expect("property ids")
        .len() as u64;
        let p = launch_property(
            &self.admin,
            &self.platform,
            &params(launched + 1, now, now + open_for),
        )
        .await
        .expect("property");
        self.caught_up().await;
        p
    }

    /// Waits until the outbox has nothing in flight (the test then sends with the same key).
    pub(crate) async fn outbox_idle(&self) {
        for _ in 0..1000 {
            let busy = self
                .app
                .count(
                    "SELECT COUNT(*) AS n FROM api_outbox WHERE status IN ('queued', 'submitted')",
                )
                .await;
            if busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the outbox did not settle");
    }

    /// Signs and sends prepared transactions with `key`, in order: whether each succeeded.
    pub(crate) async fn sign_and_send(
        &self,
        key: &PrivateKeySigner,
        prepared: &Value,
    ) -> Vec<bool> {
        let wallet = self.wallet(key);
        let mut out = Vec::new();
        for tx in prepared["transactions"].as_array().unwrap() {
            assert_eq!(tx["from"], key.address().to_checksum(None));
            assert_eq!(tx["chain_id"], 31337);
            let data: alloy::primitives::Bytes = tx["data"].as_str().unwrap().parse().unwrap();
            let mut req = TransactionRequest::default()
                .with_to(tx["to"].as_str().unwrap().parse::<Address>().unwrap())
                .with_input(data);
            if let Some(g) = tx["gas"].as_u64() {
                req = req.with_gas_limit(g);
            }
            let r = wallet
                .send_transaction(req)
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            out.push(r.status());
        }
        out
    }

    /// Waits until the index has read the chain's head.
    pub(crate) async fn caught_up(&self) {
        let head = self.reader.get_block_number().await.unwrap();
        for _ in 0..1000 {
            if let Some(h) = propledger_api::market::index_head(self.app.api.db())
                .await
                .unwrap()
                && h.block >= head
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the index did not reach block {head}");
    }

    /// The books reconciled with the chain at the last indexed block (the indexer's
    /// reconciliation, as an auditor runs it beside the node's own indexer), with the API's
    /// records paired in.
    pub(crate) async fn reconcile(&self) -> propledger_api::reconcile::Completed {
        self.caught_up().await;
        let ledger = Ledger::connect(&self.app.url).await.expect("ledger");
        let mut cfg =
            IndexerConfig::new(SourceConfig::new(self.url.clone()), self.platform.clone());
        cfg.confirmations = 0;
        let indexer = propledger_indexer::Indexer::new(ledger, cfg)
            .await
            .expect("an auditor's indexer");
        let report = indexer
            .reconcile(indexer.next_block() - 1)
            .await
            .expect("reconciliation");
        propledger_api::reconcile::complete(self.app.api.db(), report)
            .await
            .expect("the API's records")
    }

    /// Gives a wallet gas money and settlement tokens (base units, 6 decimals).
    pub(crate) async fn fund(&self, wallet: Address, usd_units: u64) {
        let tx = TransactionRequest::default()
            .with_to(wallet)
            .with_value(U256::from(10u64).pow(U256::from(18)));
        self.admin
            .send_transaction(tx)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        if usd_units > 0 {
            TestStablecoin::new(self.platform.settlement_token, &self.admin)
                .mint(wallet, U256::from(usd_units))
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
        }
    }

    /// A provider that signs as `key`.
    pub(crate) fn wallet(&self, key: &PrivateKeySigner) -> DynProvider {
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(key.clone()))
            .connect_http(self.url.parse().unwrap())
            .erased()
    }

    /// A signed sign-in message, made from a fresh nonce and changed by `edit` before signing.
    pub(crate) async fn signed_message(
        &self,
        key: &PrivateKeySigner,
        edit: impl FnOnce(&mut siwe::Message),
    ) -> Value {
        let grant = self
            .app
            .post("/v1/auth/siwe/nonce")
            .send()
            .await
            .expect(StatusCode::CREATED)
            .json();
        let now: DateTime<FixedOffset> = Utc::now().into();
        let mut m = siwe::Message {
            scheme: None,
            domain: grant["domain"].as_str().unwrap().to_owned(),
            address: key.address(),
            statement: Some(grant["statement"].as_str().unwrap().to_owned()),
            uri: grant["uri"].as_str().unwrap().to_owned(),
            version: "1".to_owned(),
            chain_id: grant["chain_id"].as_u64().unwrap(),
            nonce: grant["nonce"].as_str().unwrap().to_owned(),
            issued_at: now,
            expiration_time: Some(now + chrono::Duration::minutes(10)),
            not_before: None,
            request_id: None,
            resources: Vec::new(),
        };
        edit(&mut m);
        let text = m.to_text();
        let sig = key.sign_message_sync(text.as_bytes()).unwrap();
        json!({"message": text, "signature": format!("0x{}", alloy::hex::encode(sig.as_bytes()))})
    }

    /// Signs `key`'s wallet in: its session token.
    pub(crate) async fn sign_in(&self, key: &PrivateKeySigner) -> String {
        let body = self.signed_message(key, |_| {}).await;
        let r = self
            .app
            .post("/v1/auth/siwe/verify")
            .json(&body)
            .send()
            .await;
        r.expect(StatusCode::CREATED).json()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs in and applies: (session token, investor id).
    pub(crate) async fn applicant(
        &self,
        key: &PrivateKeySigner,
        country: &str,
    ) -> (String, String) {
        let token = self.sign_in(key).await;
        let inv = self
            .app
            .post("/v1/me/application")
            .token(&token)
            .json(&json!({
                "legal_name": format!("Investor {}", key.address()),
                "email": "ada@example.com",
                "country": country,
                "accredited_claim": true,
            }))
            .send()
            .await
            .expect(StatusCode::CREATED)
            .json();
        (token, inv["id"].as_str().unwrap().to_owned())
    }

    /// Waits until every chain action of a resource is confirmed (or one failed).
    pub(crate) async fn settled(&self, actions: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for a in actions {
            let id = a["id"].as_str().unwrap();
            let mut last = Value::Null;
            for _ in 0..500 {
                last = self
                    .app
                    .get(&format!("/v1/actions/{id}"))
                    .token(&self.app.admin_key)
                    .send()
                    .await
                    .expect(StatusCode::OK)
                    .json();
                if matches!(last["status"].as_str(), Some("confirmed" | "failed")) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            out.push(last);
        }
        out
    }

    /// An approved investor registered on chain: (session token, investor id).
    pub(crate) async fn investor(
        &self,
        key: &PrivateKeySigner,
        country: &str,
        accredited: bool,
        kyc_expires_on: &str,
    ) -> (String, String) {
        let (token, id) = self.applicant(key, country).await;
        let detail = self
            .app
            .post(&format!("/v1/investors/{id}/approve"))
            .token(&self.app.admin_key)
            .json(&json!({"accredited": accredited, "kyc_expires_on": kyc_expires_on}))
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        for a in self.settled(detail["actions"].as_array().unwrap()).await {
            assert_eq!(a["status"], "confirmed", "{a}");
        }
        (token, id)
    }
}
