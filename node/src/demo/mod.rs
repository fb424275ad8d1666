//! `propledger demo`: the whole investment lifecycle against a running node, through its HTTP
//! API and investors' own wallet signatures only.
//!
//! With an admin API key it: registers a property with its deed and inspection report and its
//! acquisition deal; tokenizes it (1,000 shares at 100 USD, US investors only); onboards three
//! investors with their own keys, one of them from Canada; the two eligible ones sign in with
//! their wallets (EIP-4361) and buy 600 and 400 shares, which sells the offering out, while the
//! third is refused by the API and, trying anyway, by the chain, with the reason code; the
//! offering is finalized; a rehab project takes bids and pays two draws against invoices; rent
//! and expenses are booked; a distribution of 5,000 USD is funded and both holders claim it; one
//! holder gives the other 100 shares; the books are anchored on chain, and an auditor verifies
//! the property's history against the chain. Every step prints what happened, with links to the
//! API's resources.
//!
//! The same run is the end-to-end test's lifecycle; its `pause` hook lets the test stop the node
//! between steps.

pub mod client;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use anyhow::{Context, bail, ensure};
use chrono::{DateTime, FixedOffset, Utc};
use propledger_api::siwe;
use propledger_contracts::{ShareOffering, TestStablecoin};
use serde_json::{Value, json};

pub use self::client::{ApiClient, Refused};

/// How long a chain action or the index may take to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(180);

/// What the demo needs.
#[derive(Clone)]
pub struct DemoConfig {
    /// The API (`http://127.0.0.1:8080`).
    pub api_url: String,
    /// An admin API key.
    pub api_key: String,
    /// The JSON-RPC endpoint the investors' wallets use; default: the one `GET /v1/network`
    /// publishes.
    pub rpc_url: Option<String>,
    /// TLS for `https` endpoints.
    pub tls: Arc<rustls::ClientConfig>,
    /// The investors' keys (Ada, Bob, Chen); default: fresh random keys.
    pub investors: Option<[PrivateKeySigner; 3]>,
    /// Tells runs apart in names and idempotency keys; default: the first investor's address.
    pub tag: Option<String>,
}

impl std::fmt::Debug for DemoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoConfig")
            .field("api_url", &self.api_url)
            .field("rpc_url", &self.rpc_url)
            .finish_non_exhaustive()
    }
}

/// A point between steps where a caller may act (the restart test kills the node there).
pub type Pause<'a> =
    &'a mut (dyn FnMut(&'static str) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send);

/// The points [`run`] pauses at, in order.
pub const PAUSE_POINTS: &[&str] = &[
    "tokenization queued",
    "investors approved",
    "purchases sent",
    "offering finalized",
    "draws released",
    "distribution queued",
    "claims sent",
    "transfer sent",
    "anchor queued",
];

/// What a run made, for whoever checks it afterwards.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The property's API id.
    pub property: String,
    /// Its acquisition deal.
    pub deal: String,
    /// The rehab project.
    pub project: String,
    /// The share token.
    pub shares: Address,
    /// The offering.
    pub offering: Address,
    /// The treasury.
    pub treasury: Address,
    /// The distribution.
    pub distribution: String,
    /// The investors' wallets: Ada, Bob, Chen.
    pub wallets: [Address; 3],
    /// The investors' API ids.
    pub investors: [String; 3],
    /// Ada's and Bob's wallet sessions.
    pub sessions: [String; 2],
    /// An operator's API key the run made.
    pub operator_key: String,
    /// An auditor's API key the run made.
    pub auditor_key: String,
    /// The API's refusal of Chen's purchase (its problem detail).
    pub api_refusal: String,
    /// The chain's reason code for Chen's purchase.
    pub chain_reason_code: u8,
    /// The auditor's verification against the chain.
    pub verification: Value,
    /// The JSON-RPC endpoint the wallets used.
    pub rpc_url: String,
}

struct Run<'a> {
    api: ApiClient,
    admin: String,
    say: &'a mut (dyn FnMut(&str) + Send),
    pause: Pause<'a>,
    rpc_url: String,
    chain_id: u64,
    reader: DynProvider,
    tag: String,
}

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

fn id_of(v: &Value) -> anyhow::Result<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no id in {v}"))
}

fn address_of(v: &Value) -> anyhow::Result<Address> {
    v.as_str()
        .with_context(|| format!("not an address: {v}"))?
        .parse()
        .with_context(|| format!("not an address: {v}"))
}

/// The demo's documents: small PDFs whose text names the run (so each run stores its own).
fn pdf(what: &str, tag: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% PropLedger demo: {what} ({tag})\n%%EOF\n").into_bytes()
}

/// Runs the lifecycle. `say` hears each step; `pause` is awaited at each of [`PAUSE_POINTS`].
pub async fn run(
    cfg: DemoConfig,
    say: &mut (dyn FnMut(&str) + Send),
    pause: Pause<'_>,
) -> anyhow::Result<Outcome> {
    let api = ApiClient::new(&cfg.api_url, cfg.tls.clone());
    let network = api
        .get("/v1/network")
        .ok()
        .await
        .context("reading the node's network")?;
    let chain_id = network["chain_id"]
        .as_u64()
        .context("the network names no chain id")?;
    let rpc_url = match cfg
        .rpc_url
        .clone()
        .or_else(|| network["rpc_url"].as_str().map(str::to_owned))
    {
        Some(u) => u,
        None => bail!(
            "the node publishes no JSON-RPC endpoint for wallets (--public-rpc-url); name one with --rpc-url"
        ),
    };
    ensure!(
        network["test_funds"] == true,
        "this platform settles in a real token: the demo needs a development platform that can grant test funds"
    );
    let reader = ProviderBuilder::new()
        .connect_client(
            propledger_net::rpc::client(&rpc_url, &cfg.tls)
                .await
                .context("connecting to the chain")?,
        )
        .erased();
    let keys = cfg.investors.clone().unwrap_or_else(|| {
        [
            PrivateKeySigner::random(),
            PrivateKeySigner::random(),
            PrivateKeySigner::random(),
        ]
    });
    let tag = cfg.tag.clone().unwrap_or_else(|| {
        let a = keys[0].address().to_string();
        a[2..10].to_lowercase()
    });
    let mut run = Run {
        api,
        admin: cfg.api_key.clone(),
        say,
        pause,
        rpc_url,
        chain_id,
        reader,
        tag,
    };
    run.lifecycle(keys).await
}

impl Run<'_> {
    fn say(&mut self, line: impl AsRef<str>) {
        (self.say)(line.as_ref());
    }

    fn link(&self, path: &str) -> String {
        format!("{}{path}", self.api.base())
    }

    async fn pause(&mut self, point: &'static str) {
        (self.pause)(point).await;
    }

    /// Waits until each action is confirmed; a failed one is an error naming why.
    async fn settled(&self, actions: &[Value]) -> anyhow::Result<()> {
        for a in actions {
            let id = a
                .as_str()
                .or_else(|| a["id"].as_str())
                .with_context(|| format!("not an action: {a}"))?
                .to_owned();
            let deadline = Instant::now() + SETTLE_TIMEOUT;
            loop {
                // The node may be restarting: an unanswered poll is retried until the deadline.
                let got = self
                    .api
                    .get(format!("/v1/actions/{id}"))
                    .token(&self.admin)
                    .ok()
                    .await;
                if let Ok(a) = &got {
                    match a["status"].as_str() {
                        Some("confirmed") => break,
                        Some("failed") => bail!("chain action {id} failed: {a}"),
                        _ => {}
                    }
                }
                if Instant::now() > deadline {
                    bail!("chain action {id} did not settle in {SETTLE_TIMEOUT:?}: {got:?}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Waits until the node's index has read the chain's current head.
    async fn caught_up(&self) -> anyhow::Result<()> {
        let head = self.reader.get_block_number().await?;
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let ready = match self.api.get("/readyz").send().await {
                Ok((_, v)) => v,
                Err(e) => match e.downcast::<Refused>() {
                    Ok(r) => r.body,
                    Err(_) => Value::Null,
                },
            };
            if ready["indexer_next_block"]
                .as_u64()
                .is_some_and(|n| n > head)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the node's index did not reach block {head}: {ready}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn wallet(&self, key: &PrivateKeySigner) -> anyhow::Result<DynProvider> {
        Ok(ProviderBuilder::new()
            .wallet(EthereumWallet::from(key.clone()))
            .connect_http(self.rpc_url.parse().context("the JSON-RPC URL")?)
            .erased())
    }

    /// Signs and sends prepared transactions with the investor's own key, each to its receipt;
    /// a reverted one is an error.
    async fn sign_and_send(&self, key: &PrivateKeySigner, prepared: &Value) -> anyhow::Result<()> {
        let wallet = self.wallet(key)?;
        for tx in prepared["transactions"]
            .as_array()
            .with_context(|| format!("no transactions in {prepared}"))?
        {
            ensure!(
                tx["chain_id"].as_u64() == Some(self.chain_id),
                "a transaction for another chain: {tx}"
            );
            let data: Bytes = tx["data"].as_str().context("no data")?.parse()?;
            let mut req = TransactionRequest::default()
                .with_to(address_of(&tx["to"])?)
                .with_input(data);
            if let Some(g) = tx["gas"].as_u64() {
                req = req.with_gas_limit(g);
            }
            let receipt = wallet.send_transaction(req).await?.get_receipt().await?;
            ensure!(
                receipt.status(),
                "the wallet's transaction {} reverted",
                receipt.transaction_hash
            );
        }
        Ok(())
    }

    /// Signs in with the wallet (EIP-4361): the session token.
    async fn sign_in(&self, key: &PrivateKeySigner) -> anyhow::Result<String> {
        let grant = self.api.post("/v1/auth/siwe/nonce").ok().await?;
        let now: DateTime<FixedOffset> = Utc::now().into();
        let text = |k: &str| -> anyhow::Result<String> {
            Ok(grant[k]
                .as_str()
                .with_context(|| format!("no {k} in {grant}"))?
                .to_owned())
        };
        let message = siwe::Message {
            scheme: None,
            domain: text("domain")?,
            address: key.address(),
            statement: Some(text("statement")?),
            uri: text("uri")?,
            version: "1".to_owned(),
            chain_id: grant["chain_id"].as_u64().context("no chain id")?,
            nonce: text("nonce")?,
            issued_at: now,
            expiration_time: Some(now + chrono::Duration::minutes(10)),
            not_before: None,
            request_id: None,
            resources: Vec::new(),
        }
        .to_text();
        let signature = key.sign_message_sync(message.as_bytes())?;
        let session = self
            .api
            .post("/v1/auth/siwe/verify")
            .json(&json!({
                "message": message,
                "signature": format!("0x{}", alloy::hex::encode(signature.as_bytes())),
            }))
            .ok()
            .await?;
        Ok(session["token"]
            .as_str()
            .context("no session token")?
            .to_owned())
    }

    /// An API key of `role` for this run.
    async fn key(&self, role: &str, name: &str) -> anyhow::Result<String> {
        let k = self
            .api
            .post("/v1/api-keys")
            .token(&self.admin)
            .json(
                &json!({"name": format!("demo {name} {}", self.tag), "role": role,
                          "service": format!("demo-{name}-{}", self.tag)}),
            )
            .ok()
            .await?;
        Ok(k["secret"].as_str().context("no key secret")?.to_owned())
    }

    async fn upload(
        &self,
        op: &str,
        property: &str,
        kind: &str,
        name: &str,
    ) -> anyhow::Result<String> {
        id_of(
            &self
                .api
                .post(format!("/v1/properties/{property}/documents"))
                .token(op)
                .multipart(
                    &[("kind", kind)],
                    (name, "application/pdf", &pdf(name, &self.tag)),
                )
                .ok()
                .await?,
        )
    }

    async fn lifecycle(&mut self, keys: [PrivateKeySigner; 3]) -> anyhow::Result<Outcome> {
        let tag = self.tag.clone();
        self.say(format!(
            "PropLedger demo against {} (chain {}, wallets on {})",
            self.api.base(),
            self.chain_id,
            propledger_net::redact_url(&self.rpc_url)
        ));
        let op = self.key("operator", "operator").await?;
        let approver = self.key("operator", "approver").await?;
        let auditor = self.key("auditor", "auditor").await?;
        self.say("1. Staff: an operator, a second operator who approves draws, and an auditor (API keys)");

        // The property, its documents and its acquisition deal.
        let property = id_of(
            &self
                .api
                .post("/v1/properties")
                .token(&op)
                .idempotency(&format!("demo-property-{tag}"))
                .json(&json!({
                    "mls_number": format!("DEMO-{tag}"),
                    "address": {"line1": "1420 W Wrightwood Ave", "city": "Chicago", "region": "IL",
                                "postal_code": "60614", "country": "US"},
                    "property_type": "single_family",
                    "status": "prospect",
                    "list_price": usd("250000.00"),
                    "square_feet": 1400,
                    "bedrooms": 3,
                    "bathrooms": 2.5,
                    "year_built": 1978,
                    "lot_size_sqft": 3125,
                    "location": {"latitude": 41.929, "longitude": -87.666},
                }))
                .ok()
                .await?,
        )?;
        let deed = self.upload(&op, &property, "deed", "deed.pdf").await?;
        self.upload(&op, &property, "inspection", "inspection.pdf")
            .await?;
        let deal = id_of(
            &self
                .api
                .post("/v1/deals")
                .token(&op)
                .idempotency(&format!("demo-deal-{tag}"))
                .json(&json!({"property_id": property, "strategy": "hold",
                              "purchase_price": usd("95000")}))
                .ok()
                .await?,
        )?;
        let link = self.link(&format!("/v1/properties/{property}"));
        self.say(format!(
            "2. Property registered with its deed and inspection report: {link}"
        ));

        // Tokenization: 1,000 shares at 100 USD, at most 600 to one investor.
        let now = Utc::now();
        let t = self
            .api
            .post(format!("/v1/properties/{property}/tokenization"))
            .token(&op)
            .idempotency(&format!("demo-tokenize-{tag}"))
            .json(&json!({
                "name": "Wrightwood Shares",
                "symbol": "WRW",
                "parcel_id": format!("14-29-{tag}"),
                "document_id": deed,
                "offering": {
                    "price_per_share": "100",
                    "min_purchase": "1",
                    "max_per_investor": "600",
                    "shares_for_sale": "1000",
                    "soft_cap": "50000",
                    "opens_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
                    "closes_at": (now + chrono::Duration::days(30)).to_rfc3339(),
                }
            }))
            .ok()
            .await?;
        self.pause("tokenization queued").await;
        self.settled(&[t["action"].clone()]).await?;
        self.caught_up().await?;
        let t = self
            .api
            .get(format!("/v1/properties/{property}/tokenization"))
            .token(&op)
            .ok()
            .await?;
        let shares = address_of(&t["contracts"]["shares"])?;
        let offering = address_of(&t["contracts"]["offering"])?;
        let treasury = address_of(&t["contracts"]["treasury"])?;
        let link = self.link(&format!("/v1/properties/{property}/tokenization"));
        self.say(format!(
            "3. Tokenized: deed minted, shares {shares}, offering {offering}: {link}"
        ));
        let rules = self
            .api
            .put(format!("/v1/tokens/{shares}/rules"))
            .token(&self.admin)
            .json(&json!({
                "accredited_only": false, "countries_restricted": true, "allowed_countries": ["US"],
                "max_investors": 0, "lockup_until": null, "max_balance_per_investor": "0",
                "min_holding": "0"
            }))
            .ok()
            .await?;
        self.settled(rules["actions"].as_array().map_or(&[][..], Vec::as_slice))
            .await?;
        self.say("   Compliance rules: investors from the United States only");
        for (kind, amount, from) in [
            ("purchase", "95000", "loan"),
            ("closing", "2000", "payable"),
        ] {
            self.api
                .post(format!("/v1/deals/{deal}/costs"))
                .token(&op)
                .idempotency(&format!("demo-cost-{kind}-{tag}"))
                .json(&json!({"kind": kind, "amount": usd(amount),
                              "paid_on": Utc::now().date_naive().to_string(), "paid_from": from}))
                .ok()
                .await?;
        }
        let link = self.link(&format!("/v1/deals/{deal}"));
        self.say(format!(
            "   Acquisition deal: 95,000 purchase (loan), 2,000 closing (payable): {link}"
        ));

        // Three investors sign in with their wallets and apply; compliance approves them.
        let names = ["Ada", "Bob", "Chen"];
        let countries = ["US", "US", "CA"];
        let mut sessions = Vec::new();
        let mut investors = Vec::new();
        let mut approvals = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let session = self.sign_in(key).await?;
            let inv = id_of(
                &self
                    .api
                    .post("/v1/me/application")
                    .token(&session)
                    .json(&json!({"legal_name": format!("{} Demo {tag}", names[i]),
                                  "email": format!("{}@example.com", names[i].to_lowercase()),
                                  "country": countries[i], "accredited_claim": true}))
                    .ok()
                    .await?,
            )?;
            let detail = self
                .api
                .post(format!("/v1/investors/{inv}/approve"))
                .token(&self.admin)
                .json(&json!({"accredited": true, "kyc_expires_on": "2099-01-01"}))
                .ok()
                .await?;
            approvals.extend(detail["actions"].as_array().cloned().unwrap_or_default());
            sessions.push(session);
            investors.push(inv);
        }
        let usd_for = ["60000", "40000", "1000"];
        for (key, amount) in keys.iter().zip(usd_for) {
            let g = self
                .api
                .post("/v1/test-funds")
                .token(&self.admin)
                .json(&json!({"wallet": key.address(), "usd": amount}))
                .ok()
                .await?;
            approvals.extend(g["actions"].as_array().cloned().unwrap_or_default());
        }
        self.pause("investors approved").await;
        self.settled(&approvals).await?;
        for (i, key) in keys.iter().enumerate() {
            self.say(format!(
                "4. {} ({}) signed in with wallet {} and was approved; test funds: {} USD: {}",
                names[i],
                countries[i],
                key.address(),
                usd_for[i],
                self.link(&format!("/v1/investors/{}", investors[i]))
            ));
        }

        // Ada buys 600 shares; Chen is refused; Bob buys 400, which sells the offering out.
        self.buy(&keys[0], &sessions[0], names[0], offering, "600")
            .await?;

        // Chen is refused by the API, and by the chain when trying anyway.
        let api_refusal = match self
            .api
            .post("/v1/me/purchases")
            .token(&sessions[2])
            .json(&json!({"offering": offering, "amount": "10"}))
            .send()
            .await
        {
            Ok((_, v)) => bail!("the API let an investor from Canada buy: {v}"),
            Err(e) => match e.downcast::<Refused>() {
                Ok(r) if r.status == 409 => r.body["detail"].as_str().unwrap_or("").to_owned(),
                Ok(r) => bail!("the API refused Chen's purchase with the wrong problem: {r}"),
                Err(e) => return Err(e),
            },
        };
        self.say(format!(
            "6. Chen's purchase refused by the API: {api_refusal}"
        ));
        let chain_reason_code = self
            .try_on_chain(&keys[2], offering)
            .await
            .context("Chen's purchase on chain")?;
        self.say(format!(
            "   ... and by the chain: TransferRestricted({chain_reason_code})"
        ));

        self.buy(&keys[1], &sessions[1], names[1], offering, "400")
            .await?;

        self.pause("purchases sent").await;

        // Sold out: the offering is finalized at once.
        let fin = self
            .api
            .post(format!("/v1/offerings/{offering}/finalize"))
            .token(&op)
            .json(&json!({}))
            .ok()
            .await?;
        self.pause("offering finalized").await;
        self.settled(&[fin]).await?;
        self.caught_up().await?;
        let link = self.link(&format!("/v1/offerings/{offering}"));
        self.say(format!(
            "7. Offering sold out and finalized: 100,000 USD raised into the treasury: {link}"
        ));

        // A rehab project: two lines, bids, and two draws against invoices.
        let project = self.rehab(&op, &approver, &deal, &property).await?;

        // Rent and expenses.
        let today = Utc::now().date_naive().to_string();
        for (i, (category, amount, who)) in [
            ("rent", "2400", "J. Tenant"),
            ("insurance", "600", "Acme Insurance"),
            ("management", "240", "Loop Property Management"),
        ]
        .into_iter()
        .enumerate()
        {
            self.api
                .post(format!("/v1/properties/{property}/transactions"))
                .token(&op)
                .idempotency(&format!("demo-tx-{i}-{tag}"))
                .json(&json!({"category": category, "amount": usd(amount),
                              "occurred_on": today, "counterparty": who}))
                .ok()
                .await?;
        }
        let link = self.link(&format!("/v1/properties/{property}/transactions"));
        self.say(format!(
            "9. Rent of 2,400 and expenses of 600 (insurance) and 240 (management) booked: {link}"
        ));

        // A distribution of 5,000 from the treasury; both holders claim.
        let d = self
            .api
            .post("/v1/distributions")
            .token(&op)
            .idempotency(&format!("demo-distribution-{tag}"))
            .json(&json!({"property": property, "amount": usd("5000")}))
            .ok()
            .await?;
        let distribution = id_of(&d)?;
        self.pause("distribution queued").await;
        self.settled(&[d["action_id"].clone()]).await?;
        self.caught_up().await?;
        let link = self.link(&format!("/v1/distributions/{distribution}"));
        self.say(format!(
            "10. Distribution of 5,000 USD funded: Ada 3,000, Bob 2,000: {link}"
        ));
        for i in 0..2 {
            let prepared = self
                .api
                .post(format!("/v1/me/distributions/{distribution}/claim"))
                .token(&sessions[i])
                .ok()
                .await?;
            self.sign_and_send(&keys[i], &prepared).await?;
        }
        self.pause("claims sent").await;
        self.caught_up().await?;
        self.say("11. Ada and Bob claimed their payouts with their wallets");

        // Ada gives Bob 100 shares.
        let prepared = self
            .api
            .post("/v1/me/transfers")
            .token(&sessions[0])
            .json(&json!({"token": shares, "to": keys[1].address(), "amount": "100"}))
            .ok()
            .await?;
        self.sign_and_send(&keys[0], &prepared).await?;
        self.pause("transfer sent").await;
        self.caught_up().await?;
        self.say("12. Ada transferred 100 shares to Bob: each now holds 500");

        // The books anchored on chain; the auditor verifies against the chain.
        let anchored = self
            .api
            .post("/v1/audit/anchors")
            .token(&self.admin)
            .ok()
            .await?;
        self.pause("anchor queued").await;
        for which in ["action_id", "external_action_id"] {
            if let Some(a) = anchored["anchor"][which].as_str() {
                self.settled(&[json!(a)]).await?;
            }
        }
        let anchors = self
            .api
            .get("/v1/audit/anchors")
            .token(&auditor)
            .ok()
            .await?;
        self.say(format!(
            "13. Books anchored on chain: {} anchors, {}: {}",
            anchors["anchors"].as_array().map_or(0, Vec::len),
            if anchors["clean"] == true {
                "all matching"
            } else {
                "SOME NOT MATCHING"
            },
            self.link("/v1/audit/anchors")
        ));
        if let Some(ext) = anchors.get("external") {
            self.say(format!(
                "    and on the external chain {}: {} anchors",
                ext["chain_id"],
                ext["anchors"].as_array().map_or(0, Vec::len)
            ));
        }
        self.caught_up().await?;
        let verification = self
            .api
            .post("/v1/audit/verifications")
            .token(&auditor)
            .json(&json!({"property": property, "rpc_url": self.rpc_url}))
            .ok()
            .await?;
        self.say(format!(
            "14. The auditor re-read the property's history from {} and compared it with the books: {}",
            propledger_net::redact_url(&self.rpc_url),
            if verification["clean"] == true {
                "clean".to_owned()
            } else {
                format!("FINDINGS: {verification}")
            }
        ));
        self.summary(&auditor, &property, shares).await?;
        Ok(Outcome {
            property,
            deal,
            project,
            shares,
            offering,
            treasury,
            distribution,
            wallets: [keys[0].address(), keys[1].address(), keys[2].address()],
            investors: [
                investors[0].clone(),
                investors[1].clone(),
                investors[2].clone(),
            ],
            sessions: [sessions[0].clone(), sessions[1].clone()],
            operator_key: op,
            auditor_key: auditor,
            api_refusal,
            chain_reason_code,
            verification,
            rpc_url: self.rpc_url.clone(),
        })
    }

    /// An investor buys shares with their own wallet, as the API prepares the purchase.
    async fn buy(
        &mut self,
        key: &PrivateKeySigner,
        session: &str,
        name: &str,
        offering: Address,
        amount: &str,
    ) -> anyhow::Result<()> {
        let prepared = self
            .api
            .post("/v1/me/purchases")
            .token(session)
            .json(&json!({"offering": offering, "amount": amount}))
            .ok()
            .await?;
        self.sign_and_send(key, &prepared).await?;
        self.say(format!(
            "5. {name} bought {amount} shares, signing with their own wallet"
        ));
        Ok(())
    }

    /// Chen approves the price and calls `buy` from his own wallet: the chain's reason code.
    async fn try_on_chain(&self, key: &PrivateKeySigner, offering: Address) -> anyhow::Result<u8> {
        let wallet = self.wallet(key)?;
        let network = self.api.get("/v1/network").ok().await?;
        let token = address_of(&network["contracts"]["settlement_token"])?;
        let approve = TestStablecoin::approveCall {
            spender: offering,
            value: U256::from(1_000_000_000u64),
        };
        let r = wallet
            .send_transaction(
                TransactionRequest::default()
                    .with_to(token)
                    .with_input(approve.abi_encode()),
            )
            .await?
            .get_receipt()
            .await?;
        ensure!(r.status(), "the approval reverted");
        let buy = TransactionRequest::default()
            .with_from(key.address())
            .with_to(offering)
            .with_input(
                ShareOffering::buyCall {
                    shareAmount: U256::from(10u64) * U256::from(10u64).pow(U256::from(18u64)),
                }
                .abi_encode(),
            );
        match wallet.call(buy).await {
            Ok(_) => bail!("the chain let an investor from Canada buy"),
            Err(e) => {
                let data = e
                    .as_error_resp()
                    .and_then(|p| p.as_revert_data())
                    .with_context(|| format!("no revert data in {e}"))?;
                propledger_api::outbox::revert::decode(&data)
                    .reason_code
                    .with_context(|| format!("not a transfer restriction: {e}"))
            }
        }
    }

    async fn rehab(
        &mut self,
        op: &str,
        approver: &str,
        deal: &str,
        property: &str,
    ) -> anyhow::Result<String> {
        let tag = self.tag.clone();
        let project = id_of(
            &self
                .api
                .post("/v1/rehab-projects")
                .token(op)
                .json(&json!({"deal_id": deal}))
                .ok()
                .await?,
        )?;
        let mut lines = Vec::new();
        let mut actions = Vec::new();
        for (category, budget) in [("roof", "10000"), ("kitchen", "8000")] {
            let l = self
                .api
                .post(format!("/v1/rehab-projects/{project}/lines"))
                .token(op)
                .json(&json!({"category": category, "budget": usd(budget)}))
                .ok()
                .await?;
            actions.extend(l["budget_actions"].as_array().cloned().unwrap_or_default());
            lines.push(id_of(&l)?);
        }
        self.settled(&actions).await?;
        let contractor = |company: &str, wallet: u8| {
            json!({"company": company, "trade": "general", "contact_name": "Sam",
                   "email": "sam@example.com", "license_number": "L-1",
                   "license_expires_on": "2099-01-01", "insurance_expires_on": "2099-01-01",
                   "rating": 4, "payout_wallet": Address::repeat_byte(wallet)})
        };
        let acme = id_of(
            &self
                .api
                .post("/v1/contractors")
                .token(op)
                .json(&contractor(&format!("Acme Builders {tag}"), 0xa1))
                .ok()
                .await?,
        )?;
        let north = id_of(
            &self
                .api
                .post("/v1/contractors")
                .token(op)
                .json(&contractor(&format!("North Side Renovation {tag}"), 0xa2))
                .ok()
                .await?,
        )?;
        let bid = |c: &str, amount: &str| {
            json!({"contractor_id": c, "amount": usd(amount), "scope": "as specified",
                   "valid_until": "2099-01-01"})
        };
        let mut accepted = Vec::new();
        for (line, (winner, amount), (loser, dear)) in [
            (&lines[0], (&acme, "9000"), (&north, "9800")),
            (&lines[1], (&north, "7500"), (&acme, "7900")),
        ] {
            for (c, a) in [(loser, dear), (winner, amount)] {
                let b = self
                    .api
                    .post(format!("/v1/rehab-lines/{line}/bids"))
                    .token(op)
                    .json(&bid(c, a))
                    .ok()
                    .await?;
                if c == winner {
                    accepted.push(id_of(&b)?);
                }
            }
        }
        for b in &accepted {
            self.api
                .post(format!("/v1/rehab-bids/{b}/accept"))
                .token(op)
                .json(&json!({}))
                .ok()
                .await?;
        }
        let link = self.link(&format!("/v1/rehab-projects/{project}"));
        self.say(format!(
            "8. Rehab project: roof (budget 10,000; Acme's bid of 9,000 accepted over 9,800) and kitchen (8,000; North Side's 7,500 over 7,900): {link}"
        ));
        let mut released = Vec::new();
        for (i, (line, c, amount)) in [(&lines[0], &acme, "6000"), (&lines[1], &north, "7500")]
            .into_iter()
            .enumerate()
        {
            let invoice = self
                .upload(op, property, "invoice", &format!("invoice-{}.pdf", i + 1))
                .await?;
            let d = id_of(
                &self
                    .api
                    .post(format!("/v1/rehab-lines/{line}/draws"))
                    .token(op)
                    .json(&json!({"contractor_id": c, "amount": usd(amount),
                                  "invoice_document_id": invoice}))
                    .ok()
                    .await?,
            )?;
            self.api
                .post(format!("/v1/rehab-draws/{d}/approve"))
                .token(approver)
                .json(&json!({}))
                .ok()
                .await?;
            let r = self
                .api
                .post(format!("/v1/rehab-draws/{d}/release"))
                .token(op)
                .json(&json!({}))
                .ok()
                .await?;
            released.push(r["action_id"].clone());
        }
        self.pause("draws released").await;
        self.settled(&released).await?;
        self.caught_up().await?;
        self.say(
            "   Draws against invoices, approved by a second operator and paid from the treasury: roof 6,000 to Acme, kitchen 7,500 to North Side",
        );
        Ok(project)
    }

    /// Prints the figures a user checks: trial balance, capital accounts, cap table.
    async fn summary(
        &mut self,
        auditor: &str,
        property: &str,
        shares: Address,
    ) -> anyhow::Result<()> {
        let tb = self
            .api
            .get(format!("/v1/books/{property}/trial-balance"))
            .token(auditor)
            .ok()
            .await?;
        self.say(format!(
            "Trial balance ({}):",
            self.link(&format!("/v1/books/{property}/trial-balance"))
        ));
        for l in tb["lines"].as_array().cloned().unwrap_or_default() {
            self.say(format!(
                "   {:<6} {:<32} debit {:>14} credit {:>14}",
                l["code"].as_str().unwrap_or(""),
                l["name"].as_str().unwrap_or(""),
                l["debit"]["amount"].as_str().unwrap_or(""),
                l["credit"]["amount"].as_str().unwrap_or("")
            ));
        }
        let cap = self
            .api
            .get(format!("/v1/audit/properties/{property}/cap-table"))
            .token(auditor)
            .ok()
            .await?;
        self.say(format!("Cap table of {shares}, checked against the chain:"));
        for h in cap["holders"].as_array().cloned().unwrap_or_default() {
            self.say(format!(
                "   {} {}",
                h["wallet"].as_str().unwrap_or(""),
                h["shares"].as_str().unwrap_or("")
            ));
        }
        let link = self.link(&format!("/v1/books/{property}/capital-accounts"));
        self.say(format!("Capital accounts: {link}"));
        Ok(())
    }
}
