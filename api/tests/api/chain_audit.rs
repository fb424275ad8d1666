//! The auditor's checks through the API: the ledger check finds an intruder's edits with full
//! database access (an amount changed, an entry removed), and a verification against the chain
//! finds stored events changed, removed or forged and an entry booked from no event, naming
//! each. The other checks against the chain run in the hold scenario (`hold.rs`).

use axum::http::StatusCode;
use propledger_api::db::{Engine, Query};
use serde_json::{Value, json};

use crate::chainapp::ChainApp;
use crate::support::{TestApp, both_engines};
use crate::tokenization::{property_with_deed, tokenization_body};

both_engines!(
    a_tampered_ledger_is_named,
    a_verification_names_what_differs_from_the_chain,
    an_anchor_catches_a_consistent_rewrite,
    an_export_verifies_from_the_chain_alone
);

async fn run(app: &TestApp, sql: &str) {
    let mut tx = app.api.db().begin().await.unwrap();
    Query::assembled(sql.to_owned())
        .execute(tx.exec())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Lets the test edit the books as an intruder with full database access would.
async fn drop_guards(app: &TestApp, engine: Engine) {
    match engine {
        Engine::Sqlite => {
            for trigger in [
                "ledger_postings_append_only_update",
                "ledger_postings_append_only_delete",
                "ledger_entries_append_only_delete",
                "ledger_entries_finality_only",
            ] {
                run(app, &format!("DROP TRIGGER {trigger}")).await;
            }
        }
        Engine::Postgres => {
            run(app, "ALTER TABLE ledger_postings DISABLE TRIGGER USER").await;
            run(app, "ALTER TABLE ledger_entries DISABLE TRIGGER USER").await;
        }
    }
}

/// Removes the ledger's entries from chain position `seq` on and puts the head back on the one
/// before, as an intruder rewriting the books would (append-only guards dropped first).
async fn truncate_ledger(app: &TestApp, engine: Engine, seq: u64) {
    drop_guards(app, engine).await;
    run(
        app,
        &format!(
            "DELETE FROM ledger_postings WHERE entry_id IN \
             (SELECT id FROM ledger_entries WHERE chain_seq >= {seq})"
        ),
    )
    .await;
    run(
        app,
        &format!("DELETE FROM ledger_entries WHERE chain_seq >= {seq}"),
    )
    .await;
    run(
        app,
        &format!(
            "UPDATE ledger_head SET chain_seq = {prev}, chain_hash = \
             (SELECT hash FROM ledger_entries WHERE chain_seq = {prev}), version = version + 1 \
             WHERE id = 1",
            prev = seq - 1
        ),
    )
    .await;
}

async fn check(app: &TestApp, token: &str) -> Value {
    app.get("/v1/audit/ledger")
        .token(token)
        .send()
        .await
        .expect(StatusCode::OK)
        .json()
}

async fn a_tampered_ledger_is_named(engine: Engine) {
    let app = TestApp::new(engine).await;
    let ledger = propledger_ledger::Ledger::connect(&app.url).await.unwrap();
    app.api.attach_ledger(ledger.clone()).unwrap();
    ledger
        .accounts()
        .define_currency(propledger_ledger::core::Currency::parse("USD", 6).unwrap())
        .await
        .unwrap();
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let property = app
        .post("/v1/properties")
        .token(&op)
        .json(&crate::support::property_body(
            "Austin",
            30.2,
            -97.7,
            "300000.00",
            1500,
        ))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut entries = Vec::new();
    for (i, amount) in ["1000.00", "250.00", "75.00"].iter().enumerate() {
        let t = app
            .post(&format!("/v1/properties/{property}/transactions"))
            .token(&op)
            .header("idempotency-key", &format!("rent-{i}"))
            .json(
                &json!({"category": "rent", "amount": {"amount": amount, "currency": "USD"},
                          "occurred_on": "2026-11-02", "counterparty": "Tenant"}),
            )
            .send()
            .await
            .expect(StatusCode::CREATED)
            .json();
        entries.push(t["entry_id"].as_i64().unwrap());
    }
    let clean = check(&app, &auditor).await;
    assert_eq!(clean["clean"], true, "{clean}");
    assert_eq!(clean["chained_entries"], 3);
    assert_eq!(clean["head_hash"].as_str().unwrap().len(), 64, "{clean}");
    // Only admins and auditors run it.
    app.get("/v1/audit/ledger")
        .token(&op)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);

    // An intruder disables the append-only guards and edits the second rent's amount.
    drop_guards(&app, engine).await;
    run(
        &app,
        &format!(
            "UPDATE ledger_postings SET amount = '2500.000000' WHERE entry_id = {}",
            entries[1]
        ),
    )
    .await;
    let edited = check(&app, &auditor).await;
    assert_eq!(edited["clean"], false, "{edited}");
    assert_eq!(edited["first_break"]["entry_id"], entries[1], "{edited}");
    assert_eq!(
        edited["first_break"]["reason"],
        "content does not match its hash"
    );
    // Put back, then remove the third entry: the head points past the last entry left.
    run(
        &app,
        &format!(
            "UPDATE ledger_postings SET amount = '250.000000' WHERE entry_id = {}",
            entries[1]
        ),
    )
    .await;
    assert_eq!(check(&app, &auditor).await["clean"], true);
    run(
        &app,
        &format!(
            "DELETE FROM ledger_postings WHERE entry_id = {}",
            entries[2]
        ),
    )
    .await;
    run(
        &app,
        &format!("DELETE FROM ledger_entries WHERE id = {}", entries[2]),
    )
    .await;
    let removed = check(&app, &auditor).await;
    assert_eq!(removed["clean"], false, "{removed}");
    assert_eq!(
        removed["first_break"]["reason"], "head does not match the last entry",
        "{removed}"
    );
}

/// A property tokenized through the API, its treasury holding a direct deposit of 5,000 USD
/// (without a reference); returns its id.
pub(crate) async fn tokenized_with_a_deposit(w: &ChainApp, op: &str) -> String {
    use alloy::primitives::{Address, B256};
    let app = &w.app;
    let (property, document) = property_with_deed(app, op).await;
    let t = app
        .post(&format!("/v1/properties/{property}/tokenization"))
        .token(op)
        .json(&tokenization_body(&document))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(
        w.settled(&[t["action"].clone()]).await[0]["status"],
        "confirmed"
    );
    w.caught_up().await;
    let t = app
        .get(&format!("/v1/properties/{property}/tokenization"))
        .token(op)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let treasury: Address = t["contracts"]["treasury"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    w.outbox_idle().await;
    crate::rehab::deposit(w, treasury, 5_000_000_000, B256::ZERO).await;
    property
}

async fn verify(w: &ChainApp, token: &str, property: &str, url: &str) -> crate::support::Resp {
    w.app
        .post("/v1/audit/verifications")
        .token(token)
        .json(&json!({"property": property, "rpc_url": url}))
        .send()
        .await
}

async fn a_verification_names_what_differs_from_the_chain(engine: Engine) {
    use alloy::primitives::B256;
    use propledger_ledger::core::{
        AccountCode, Amount, DimValue, Dimensions, EntryDraft, IdempotencyKey, Source,
    };
    let w = ChainApp::indexed(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let property = tokenized_with_a_deposit(&w, &op).await;
    w.caught_up().await;

    // Clean: the stored history is the chain's, the deposit's entry its event's.
    let url = w.url.clone();
    let clean = verify(&w, &auditor, &property, &url)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(clean["clean"], true, "{clean}");
    assert_eq!(clean["events_on_chain"], clean["events_stored"]);
    assert!(clean["events_on_chain"].as_u64().unwrap() >= 3, "{clean}");
    assert_eq!(clean["entries_checked"], 1, "{clean}");
    // Only endpoints on the allowlist, only for admins and auditors.
    verify(&w, &auditor, &property, "http://10.0.0.1:8545")
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/rpc_url"),
        );
    verify(&w, &op, &property, &url)
        .await
        .expect(StatusCode::FORBIDDEN);

    // The stored events, to tamper with: the deposit, and the first other one.
    let events = app
        .get(&format!("/v1/audit/properties/{property}/events?limit=500"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json()["items"]
        .as_array()
        .unwrap()
        .clone();
    let deposited = events
        .iter()
        .find(|e| e["event"] == "Deposited")
        .unwrap()
        .clone();
    let other = events
        .iter()
        .find(|e| e["event"] != "Deposited" && e["contract"] != "deed")
        .unwrap()
        .clone();
    let at = |e: &Value| {
        (
            e["block_number"].as_u64().unwrap(),
            e["log_index"].as_u64().unwrap(),
        )
    };
    let (db, dl) = at(&deposited);
    let (ob, ol) = at(&other);
    // Changed: the deposit's amount rewritten. Missing: another event deleted. Extra: a copy of
    // the deposit at a position where the chain has none.
    run(
        app,
        &format!(
            "INSERT INTO idx_events (block_number, log_index, block_hash, tx_hash, tx_index, \
             address, topics, data, kind, event, decoded) SELECT block_number, 999, block_hash, \
             tx_hash, tx_index, address, topics, data, kind, event, decoded FROM idx_events \
             WHERE block_number = {db} AND log_index = {dl}"
        ),
    )
    .await;
    let zeros = match engine {
        Engine::Sqlite => format!("X'{}'", "00".repeat(96)),
        Engine::Postgres => format!("'\\x{}'::bytea", "00".repeat(96)),
    };
    run(
        app,
        &format!(
            "UPDATE idx_events SET data = {zeros} WHERE block_number = {db} AND log_index = {dl}"
        ),
    )
    .await;
    run(
        app,
        &format!("DELETE FROM idx_events WHERE block_number = {ob} AND log_index = {ol}"),
    )
    .await;
    // And an entry booked from an event that never happened.
    let ledger = propledger_ledger::Ledger::connect(&app.url).await.unwrap();
    let token = uuid::Uuid::parse_str(&property)
        .unwrap()
        .as_u128()
        .to_string();
    let dims = Dimensions::property(DimValue::parse(&format!("prop-{token}")).unwrap());
    let account = |code: &'static str| {
        let ledger = ledger.clone();
        let dims = dims.clone();
        async move {
            ledger
                .accounts()
                .find(&AccountCode::parse(code).unwrap(), &dims)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let (cash, income) = (account("1000").await, account("4100").await);
    let amount = Amount::parse("10", cash.currency).unwrap();
    let forged = ledger
        .entries()
        .record(
            EntryDraft::builder(
                IdempotencyKey::parse("forged-deposit").unwrap(),
                chrono::Utc::now().date_naive(),
                Source::Chain {
                    chain_id: 31337,
                    tx_hash: B256::repeat_byte(0xfe),
                    log_index: 0,
                },
            )
            .description("Direct deposit that never happened")
            .debit(cash.id, amount)
            .credit(income.id, amount)
            .build()
            .unwrap(),
        )
        .await
        .unwrap();
    // And one naming the real deposit's event with another amount.
    let misbooked = ledger
        .entries()
        .record(
            EntryDraft::builder(
                IdempotencyKey::parse("misbooked-deposit").unwrap(),
                chrono::Utc::now().date_naive(),
                Source::Chain {
                    chain_id: 31337,
                    tx_hash: deposited["tx_hash"].as_str().unwrap().parse().unwrap(),
                    log_index: dl,
                },
            )
            .description("The deposit, booked wrong")
            .debit(cash.id, amount)
            .credit(income.id, amount)
            .build()
            .unwrap(),
        )
        .await
        .unwrap();

    let found = verify(&w, &auditor, &property, &url)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(found["clean"], false, "{found}");
    let positions =
        |k: &str| -> Vec<(u64, u64)> { found[k].as_array().unwrap().iter().map(at).collect() };
    assert_eq!(positions("changed"), [(db, dl)], "{found}");
    assert_eq!(positions("missing"), [(ob, ol)], "{found}");
    assert_eq!(positions("extra"), [(db, 999)], "{found}");
    assert_eq!(found["missing"][0]["event"], other["event"]);
    let without = found["entries_without_event"].as_array().unwrap();
    assert_eq!(without.len(), 1, "{found}");
    assert_eq!(without[0]["entry_id"], forged.id.get());
    assert_eq!(without[0]["key"], "forged-deposit");
    let differing = found["entries_differing"].as_array().unwrap();
    assert_eq!(differing.len(), 1, "{found}");
    assert_eq!(differing[0]["entry_id"], misbooked.id.get());
    w.finish().await;
}

async fn rent(app: &TestApp, op: &str, property: &str, key: &str, amount: &str) -> i64 {
    app.post(&format!("/v1/properties/{property}/transactions"))
        .token(op)
        .header("idempotency-key", key)
        .json(
            &json!({"category": "rent", "amount": {"amount": amount, "currency": "USD"},
                      "occurred_on": "2026-11-02", "counterparty": "Tenant"}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["entry_id"]
        .as_i64()
        .unwrap()
}

/// Anchors record the books' head on chain; the check reads them from the chain. A ledger
/// rewritten from an anchored entry on, its hash chain recomputed so that the ledger's own check
/// passes, no longer matches the anchor.
async fn an_anchor_catches_a_consistent_rewrite(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    // The books' currency is set when the indexer opens the first property's books.
    w.caught_up().await;
    let app = &w.app;
    let op = app.key("operator").await;
    let auditor = app.key("auditor").await;
    let property = app
        .post("/v1/properties")
        .token(&op)
        .json(&crate::support::property_body(
            "Boise",
            43.6,
            -116.2,
            "250000.00",
            1300,
        ))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (i, amount) in ["900.00", "910.00", "920.00"].iter().enumerate() {
        rent(app, &op, &property, &format!("r{i}"), amount).await;
    }
    let head = check(app, &auditor).await;
    let anchored = head["chained_entries"].as_u64().unwrap();
    assert!(anchored >= 3, "{head}");

    let get_anchors = || async {
        app.get("/v1/audit/anchors")
            .token(&auditor)
            .send()
            .await
            .expect(StatusCode::OK)
            .json()
    };

    // The node's upkeep anchors the head on its own (never anchored before).
    let upkeep = app.api.spawn_upkeep();
    let mut anchors = get_anchors().await;
    for _ in 0..300 {
        if !anchors["anchors"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        anchors = get_anchors().await;
    }
    upkeep.abort();
    assert_eq!(anchors["clean"], true, "{anchors}");
    assert_eq!(anchors["anchors"][0]["entries"], anchored, "{anchors}");
    assert_eq!(
        anchors["anchors"][0]["head_hash"],
        format!("0x{}", head["head_hash"].as_str().unwrap())
    );
    assert_eq!(anchors["anchors"][0]["matches"], true);
    assert_eq!(anchors["unanchored_entries"], 0);
    // Asked again with nothing new, nothing is queued; the operator may not ask.
    let again = app
        .post("/v1/audit/anchors")
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(again["queued"], false);
    app.post("/v1/audit/anchors")
        .token(&op)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);

    // Two more entries: the unanchored tail, then anchored on demand.
    rent(app, &op, &property, "r3", "930.00").await;
    rent(app, &op, &property, "r4", "940.00").await;
    let anchors = get_anchors().await;
    assert_eq!(anchors["unanchored_entries"], 2, "{anchors}");
    assert_eq!(anchors["ledger_entries"], anchored + 2);
    let asked = app
        .post("/v1/audit/anchors")
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    assert_eq!(asked["anchor"]["entries"], anchored + 2, "{asked}");
    let action = json!({"id": asked["anchor"]["action_id"]});
    assert_eq!(w.settled(&[action]).await[0]["status"], "confirmed");
    let anchors = get_anchors().await;
    assert_eq!(anchors["clean"], true, "{anchors}");
    assert_eq!(anchors["anchors"].as_array().unwrap().len(), 2);
    assert_eq!(anchors["unanchored_entries"], 0);

    // The rewrite: the anchored entry and those after it removed, the head put back to the
    // entry before, and other entries booked in their place through the ledger. The hash chain
    // is whole again; only the anchor tells.
    truncate_ledger(app, engine, anchored).await;
    for (i, amount) in ["15.00", "16.00", "17.00"].iter().enumerate() {
        rent(app, &op, &property, &format!("forged-{i}"), amount).await;
    }
    let ledger = check(app, &auditor).await;
    assert!(ledger.get("first_break").is_none(), "{ledger}");
    assert_eq!(ledger["chained_entries"], anchored + 2);
    let anchors = app
        .get("/v1/audit/anchors")
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(anchors["clean"], false, "{anchors}");
    assert_eq!(anchors["anchors"][0]["matches"], false);
    assert_eq!(anchors["anchors"][1]["matches"], false);
    assert_ne!(
        anchors["anchors"][0]["books_hash"],
        anchors["anchors"][0]["head_hash"]
    );
    w.finish().await;
}

/// An audit export verifies against the chain alone; edits to it are named, and so is a
/// ledger rewritten consistently after an anchor.
async fn an_export_verifies_from_the_chain_alone(engine: Engine) {
    use propledger_api::audit_export::{self, AuditExport};
    use propledger_indexer::source::{RpcSource, SourceConfig};
    let w = ChainApp::indexed(engine).await;
    w.caught_up().await;
    let app = &w.app;
    let op = app.key("operator").await;
    let property = tokenized_with_a_deposit(&w, &op).await;
    rent(app, &op, &property, "r0", "700.00").await;
    w.caught_up().await;
    let asked = app
        .post("/v1/audit/anchors")
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    let action = json!({"id": asked["anchor"]["action_id"]});
    assert_eq!(w.settled(&[action]).await[0]["status"], "confirmed");
    rent(app, &op, &property, "r1", "710.00").await;
    w.caught_up().await;

    let ledger = propledger_ledger::Ledger::connect(&app.url).await.unwrap();
    let exported = audit_export::export(app.api.db(), &ledger, &w.platform, &property)
        .await
        .unwrap();
    // Through a file and back.
    let text = serde_json::to_string_pretty(&exported).unwrap();
    let export: AuditExport = serde_json::from_str(&text).unwrap();
    assert_eq!(export, exported);
    assert!(export.events.len() >= 3);
    let source = RpcSource::connect(SourceConfig::new(w.url.clone()))
        .await
        .unwrap();
    let mut steps = Vec::new();
    let verdict = audit_export::verify(&export, &source, &mut |s| steps.push(s.to_owned()))
        .await
        .unwrap();
    assert!(verdict.is_clean(), "{verdict:#?}");
    assert!(steps.len() >= 8, "{steps:?}");
    assert!(
        verdict
            .checks
            .iter()
            .any(|(what, found)| what == "unanchored tail" && found.starts_with("1 ")),
        "{verdict:#?}"
    );

    // An entry's amount edited in the file.
    let mut edited = export.clone();
    let last = edited.entries.len() - 1;
    edited.entries[last].postings[0].amount += rust_decimal::Decimal::ONE;
    edited.entries[last].postings[1].amount += rust_decimal::Decimal::ONE;
    let id = edited.entries[last].id;
    let v = audit_export::verify(&edited, &source, &mut |_| {})
        .await
        .unwrap();
    assert!(
        v.findings.iter().any(
            |f| f.starts_with(&format!("entry {id} ")) && f.contains("does not match its hash")
        ),
        "{v:#?}"
    );
    // An event removed from the file.
    let mut thinner = export.clone();
    let gone = thinner.events.remove(0);
    let v = audit_export::verify(&thinner, &source, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        v.findings,
        [format!(
            "event at block {} log {} (tx {:#x}) is on chain, not in the export",
            gone.block_number, gone.log_index, gone.tx_hash
        )]
    );

    // The ledger rewritten consistently from the anchored entry on, then exported: the hash
    // chain verifies, the anchor does not.
    let anchored = asked["anchor"]["entries"].as_u64().unwrap();
    truncate_ledger(app, engine, anchored).await;
    rent(app, &op, &property, "forged-0", "1.00").await;
    rent(app, &op, &property, "forged-1", "2.00").await;
    let rewritten = audit_export::export(app.api.db(), &ledger, &w.platform, &property)
        .await
        .unwrap();
    let v = audit_export::verify(&rewritten, &source, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(v.findings.len(), 1, "{v:#?}");
    assert!(
        v.findings[0].contains(&format!(
            "entry {anchored} no longer ends in the anchored hash"
        )),
        "{v:#?}"
    );
    w.finish().await;
}
