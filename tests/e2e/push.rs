//! Operations on many investors through the binary: after the lifecycle, a register of 1,000
//! investors is imported and issued shares through the bulk routes, a distribution is funded
//! and pushed to every holder; the node is killed with SIGKILL while the push is under way and
//! started again. Every holder ends paid exactly once (one `Claimed` event each, the balance its
//! entitlement). The wall time and the gas per item of each bulk step are printed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256, keccak256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use propledger_contracts::{Distributor, TestStablecoin};
use propledger_node::demo::ApiClient;
use serde_json::{Value, json};

use crate::setup::{Chain, Db, Setup};

/// Investors imported, each then a holder.
const HOLDERS: usize = 1000;

fn wallet(i: usize) -> Address {
    PrivateKeySigner::from_bytes(&keccak256(format!("e2e holder {i}")))
        .expect("a key")
        .address()
}

/// Waits until every action is confirmed; the gas each used.
async fn confirmed(api: &ApiClient, key: &str, rpc: &str, actions: &[Value]) -> Vec<u64> {
    let reader = ProviderBuilder::new().connect_http(rpc.parse().expect("rpc url"));
    let mut gas = Vec::new();
    for a in actions {
        // An action, or its id.
        let id = a["id"].as_str().or(a.as_str()).expect("an action id");
        let deadline = Instant::now() + Duration::from_secs(300);
        let action = loop {
            let got = api.get(format!("/v1/actions/{id}")).token(key).send().await;
            if let Ok((_, v)) = got {
                match v["status"].as_str() {
                    Some("confirmed") => break v,
                    Some("failed") => panic!("action failed: {v}"),
                    _ => {}
                }
            }
            assert!(Instant::now() < deadline, "action {id} did not confirm");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let hash = action["tx_hash"]
            .as_str()
            .expect("a hash")
            .parse()
            .expect("a hash");
        let receipt = reader
            .get_transaction_receipt(hash)
            .await
            .expect("receipt")
            .expect("mined");
        gas.push(receipt.gas_used);
    }
    gas
}

/// Waits until the index has read the chain's head.
async fn caught_up(api: &ApiClient, rpc: &str) {
    let reader = ProviderBuilder::new().connect_http(rpc.parse().expect("rpc url"));
    let head = reader.get_block_number().await.expect("head");
    for _ in 0..3000 {
        if let Ok((_, v)) = api.get("/readyz").send().await
            && v["indexer_next_block"].as_u64().is_some_and(|n| n > head)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the index did not reach block {head}");
}

fn per_item(gas: &[u64], items: usize) -> u64 {
    gas.iter().sum::<u64>() / items as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_1000_holders_killed_midway_pays_each_once() {
    let mut setup = Setup::start(Chain::Embedded, Db::Sqlite).await;
    let demo = setup.demo();
    let outcome =
        propledger_node::demo::run(demo.clone(), &mut |_| {}, &mut |_| Box::pin(async {}))
            .await
            .unwrap_or_else(|e| panic!("the lifecycle failed: {e:#}\n{}", setup.node.log()));
    let api = ApiClient::new(
        &setup.node.api_url,
        propledger_net::tls::client_config(&[]).expect("tls"),
    );
    let admin = demo.api_key.clone();
    let rpc = outcome.rpc_url.clone();
    let wallets: Vec<Address> = (0..HOLDERS).map(wallet).collect();

    // The register imported: 1,000 new investors, 200 a transaction.
    let investors: Vec<Value> = wallets
        .iter()
        .enumerate()
        .map(|(i, w)| {
            json!({"legal_name": format!("Holder {i}"), "email": format!("holder{i}@example.com"),
                   "country": "US", "accredited": true, "kyc_expires_on": "2099-12-31", "wallet": w})
        })
        .collect();
    let started = Instant::now();
    let import = api
        .post("/v1/investors/registrations")
        .token(&admin)
        .idempotency("e2e-import")
        .json(&json!({ "investors": investors }))
        .ok()
        .await
        .expect("import");
    let items = import["items"].as_array().expect("items");
    assert!(items.iter().all(|i| i["outcome"] == "created"), "{import}");
    let gas = confirmed(
        &api,
        &admin,
        &rpc,
        import["actions"].as_array().expect("actions"),
    )
    .await;
    assert_eq!(gas.len(), 5);
    println!(
        "registration of {HOLDERS} investors: {:.2} s, {} gas per investor ({} transactions)",
        started.elapsed().as_secs_f64(),
        per_item(&gas, HOLDERS),
        gas.len()
    );

    // Shares issued to each: 1 to 7 shares, 100 wallets a transaction.
    let holders: Vec<Value> = wallets
        .iter()
        .enumerate()
        .map(|(i, w)| json!({"wallet": w, "shares": (1 + i % 7).to_string()}))
        .collect();
    let started = Instant::now();
    let issue = api
        .post(format!("/v1/tokens/{}/issuances", outcome.shares))
        .token(&admin)
        .idempotency("e2e-issue")
        .json(&json!({"holders": holders, "reason": "migration from the e2e register"}))
        .ok()
        .await
        .expect("issue");
    assert!(
        issue["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["outcome"] == "queued"),
        "{issue}"
    );
    let gas = confirmed(
        &api,
        &admin,
        &rpc,
        issue["actions"].as_array().expect("actions"),
    )
    .await;
    assert_eq!(gas.len(), 10);
    println!(
        "issue to {HOLDERS} wallets: {:.2} s, {} gas per wallet ({} transactions)",
        started.elapsed().as_secs_f64(),
        per_item(&gas, HOLDERS),
        gas.len()
    );
    caught_up(&api, &rpc).await;

    // A distribution of 10,000 USD, pushed to every holder.
    let d = api
        .post("/v1/distributions")
        .token(&outcome.operator_key)
        .idempotency("e2e-push-distribution")
        .json(&json!({"property": outcome.property,
                      "amount": {"amount": "10000", "currency": "USD"}}))
        .ok()
        .await
        .expect("distribution");
    let distribution = d["id"].as_str().expect("an id").to_owned();
    confirmed(&api, &admin, &rpc, &[d["action_id"].clone()]).await;
    caught_up(&api, &rpc).await;
    let register = |api: &ApiClient| {
        let path = format!("/v1/distributions/{distribution}/register");
        let admin = admin.clone();
        let api = api.clone();
        async move { api.get(path).token(&admin).ok().await.expect("register") }
    };
    let before = register(&api).await;
    let due: BTreeMap<Address, U256> = before["holders"]
        .as_array()
        .expect("holders")
        .iter()
        .map(|l| {
            (
                l["holder"]
                    .as_str()
                    .expect("holder")
                    .parse()
                    .expect("address"),
                l["entitlement"]["units"]
                    .as_str()
                    .expect("units")
                    .parse()
                    .expect("units"),
            )
        })
        .collect();
    assert_eq!(due.len(), HOLDERS + 2, "the imported holders, Ada and Bob");

    let started = Instant::now();
    let push = api
        .post(format!("/v1/distributions/{distribution}/push"))
        .token(&outcome.operator_key)
        .idempotency("e2e-push")
        .ok()
        .await
        .expect("push");
    assert_eq!(push["holders"], HOLDERS + 2, "{push}");
    let actions = push["actions"].as_array().expect("actions").clone();
    assert_eq!(actions.len(), 6);
    // Killed as soon as the first chunk is paid, while the others wait or are in flight.
    confirmed(&api, &admin, &rpc, &actions[..1]).await;
    let last = actions[5]["id"].as_str().expect("an id");
    let waiting = api
        .get(format!("/v1/actions/{last}"))
        .token(&admin)
        .ok()
        .await
        .expect("the last action");
    assert_ne!(
        waiting["status"], "confirmed",
        "the push was over before the kill"
    );
    setup.node.restart_after_kill();
    let api = ApiClient::new(
        &setup.node.api_url,
        propledger_net::tls::client_config(&[]).expect("tls"),
    );
    let gas = confirmed(&api, &admin, &rpc, &actions).await;
    println!(
        "push to {} holders, killed after the first chunk and restarted: {:.2} s, {} gas per holder ({} transactions)",
        HOLDERS + 2,
        started.elapsed().as_secs_f64(),
        per_item(&gas, HOLDERS + 2),
        gas.len()
    );

    // Each holder paid once, exactly its entitlement.
    let reader = ProviderBuilder::new().connect_http(rpc.parse().expect("rpc url"));
    let network = api.get("/v1/network").ok().await.expect("network");
    let usd: Address = network["contracts"]["settlement_token"]
        .as_str()
        .expect("token")
        .parse()
        .expect("address");
    let logs = reader
        .get_logs(
            &Filter::new()
                .from_block(0)
                .event_signature(Distributor::Claimed::SIGNATURE_HASH),
        )
        .await
        .expect("logs");
    let number = U256::from(
        before["distribution"]["funded"]["distribution_number"]
            .as_u64()
            .unwrap_or_else(|| panic!("no number in {}", before["distribution"])),
    );
    let mut paid: BTreeMap<Address, (u32, U256)> = BTreeMap::new();
    for log in &logs {
        let e = Distributor::Claimed::decode_log_data(log.data()).expect("a Claimed event");
        if e.distributionId == number {
            let entry = paid.entry(e.holder).or_default();
            entry.0 += 1;
            entry.1 += e.amount;
        }
    }
    assert_eq!(paid.len(), HOLDERS + 2, "every holder paid");
    let stable = TestStablecoin::new(usd, &reader);
    for (holder, entitled) in &due {
        assert_eq!(
            paid[holder],
            (1, *entitled),
            "holder {holder}: paid once, in full"
        );
    }
    for w in wallets.iter().step_by(97) {
        assert_eq!(
            stable.balanceOf(*w).call().await.expect("balance"),
            due[w],
            "{w}'s balance is its payout"
        );
    }
    let after = register(&api).await;
    assert!(
        after["holders"]
            .as_array()
            .expect("holders")
            .iter()
            .all(|l| l["claim"] == "paid"),
        "{after}"
    );
    // Pushed again: nobody is left to pay.
    let again = api
        .post(format!("/v1/distributions/{distribution}/push"))
        .token(&outcome.operator_key)
        .ok()
        .await
        .expect("push again");
    assert_eq!(
        (&again["holders"], again["actions"].as_array().map(Vec::len)),
        (&json!(0), Some(0))
    );
    let log = setup.node.log();
    assert_eq!(setup.node.starts, 2, "{log}");
    setup.node.stop();
}
