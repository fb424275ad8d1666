//! The auditor's ledger check through the API: clean books pass, and an intruder's edits
//! with full database access (an amount changed, an entry removed) are found and named. The
//! checks against the chain run in the hold scenario (`hold.rs`) and the authorization table.

use axum::http::StatusCode;
use propledger_api::db::{Engine, Query};
use serde_json::{Value, json};

use crate::support::{TestApp, both_engines};

both_engines!(a_tampered_ledger_is_named);

async fn run(app: &TestApp, sql: &str) {
    let mut tx = app.api.db().begin().await.unwrap();
    Query::assembled(sql.to_owned())
        .execute(tx.exec())
        .await
        .unwrap();
    tx.commit().await.unwrap();
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
    match engine {
        Engine::Sqlite => {
            for trigger in [
                "ledger_postings_append_only_update",
                "ledger_postings_append_only_delete",
                "ledger_entries_append_only_delete",
                "ledger_entries_finality_only",
            ] {
                run(&app, &format!("DROP TRIGGER {trigger}")).await;
            }
        }
        Engine::Postgres => {
            run(&app, "ALTER TABLE ledger_postings DISABLE TRIGGER USER").await;
            run(&app, "ALTER TABLE ledger_entries DISABLE TRIGGER USER").await;
        }
    }
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
