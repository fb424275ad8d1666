//! The audit log holds exactly the writes of a scripted session, with their actors, and
//! cannot be edited.

use axum::http::StatusCode;
use propledger_api::db::{Engine, Query};
use serde_json::{Value, json};

use crate::support::{TestApp, both_engines, property_body};

both_engines!(scripted_session, append_only);

async fn scripted_session(engine: Engine) {
    let app = TestApp::new(engine).await;
    // First start made the admin key (1 write); the admin key makes a user (1) and an operator
    // key (1).
    let ada = app.staff("ada", "operator").await;
    let op_key = app.key("operator").await;
    // Ada signs in (1 write), creates a property (1), uploads a document (1), changes the
    // property (1), tries a change she may not make (refused, 1), and signs out (1).
    let token = app.sign_in(&ada, 0).await;
    let p = app
        .post("/v1/properties")
        .token(&token)
        .json(&property_body("Chicago", 41.9, -87.6, "100000.00", 1000))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let pid = p["id"].as_str().unwrap().to_owned();
    let doc = app
        .post(&format!("/v1/properties/{pid}/documents"))
        .token(&token)
        .multipart(
            &[("kind", "deed")],
            Some(("d.pdf", "application/pdf", b"deed")),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    app.patch(&format!("/v1/properties/{pid}"))
        .token(&token)
        .json(&json!({"status": "owned"}))
        .send()
        .await
        .expect(StatusCode::OK);
    app.post("/v1/users")
        .token(&token)
        .json(&json!({"username": "eve", "role": "admin", "password": "twelve chars at least"}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    // The operator key's invalid create is refused too (1).
    app.post("/v1/properties")
        .token(&op_key)
        .json(&json!({"address": {}}))
        .send()
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.delete("/v1/auth/session")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::NO_CONTENT);
    // Reads are not writes: none of these is logged.
    app.get("/v1/properties")
        .token(&op_key)
        .send()
        .await
        .expect(StatusCode::OK);
    app.get(&format!("/v1/properties/{pid}"))
        .token(&op_key)
        .send()
        .await
        .expect(StatusCode::OK);

    let log = app
        .get("/v1/audit-log")
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let rows: Vec<(String, String, String, Option<String>, u64, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e: &Value| {
            (
                e["method"].as_str().unwrap().to_owned(),
                e["route"].as_str().unwrap().to_owned(),
                e["actor_name"].as_str().unwrap_or("").to_owned(),
                e["resource_id"].as_str().map(str::to_owned),
                e["status"].as_u64().unwrap(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let admin = "admin key made at first start".to_owned();
    let s = |x: &str| x.to_owned();
    let expected = vec![
        (
            s("START"),
            s("first start"),
            s("first start"),
            None,
            201,
            s("succeeded"),
        ),
        (
            s("POST"),
            s("/v1/users"),
            admin.clone(),
            Some(ada.id.clone()),
            201,
            s("succeeded"),
        ),
        (
            s("POST"),
            s("/v1/api-keys"),
            admin.clone(),
            None,
            201,
            s("succeeded"),
        ),
        (
            s("POST"),
            s("/v1/auth/sessions"),
            s("ada"),
            None,
            201,
            s("succeeded"),
        ),
        (
            s("POST"),
            s("/v1/properties"),
            s("ada"),
            Some(pid.clone()),
            201,
            s("succeeded"),
        ),
        (
            s("POST"),
            s("/v1/properties/{id}/documents"),
            s("ada"),
            Some(doc["id"].as_str().unwrap().to_owned()),
            201,
            s("succeeded"),
        ),
        (
            s("PATCH"),
            s("/v1/properties/{id}"),
            s("ada"),
            Some(pid.clone()),
            200,
            s("succeeded"),
        ),
        (s("POST"), s("/v1/users"), s("ada"), None, 403, s("refused")),
        (
            s("POST"),
            s("/v1/properties"),
            s("operator key"),
            None,
            422,
            s("refused"),
        ),
        (
            s("DELETE"),
            s("/v1/auth/session"),
            s("ada"),
            None,
            204,
            s("succeeded"),
        ),
    ];
    // Resource ids that the test does not know in advance (the key's, the session's) are
    // checked to be present; the rest exactly.
    assert_eq!(rows.len(), expected.len(), "{rows:#?}");
    for (got, want) in rows.iter().zip(&expected) {
        let mut got = got.clone();
        if want.3.is_none() && want.5 == "succeeded" {
            assert!(got.3.is_some(), "{got:?}");
            got.3 = None;
        }
        assert_eq!(&got, want);
    }
    // Every row names its request id; the ids are distinct.
    let ids: std::collections::BTreeSet<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), expected.len());
    // Filters.
    let ada_rows = app
        .get(&format!("/v1/audit-log?actor_id={}", ada.id))
        .token(&app.admin_key)
        .send()
        .await
        .json();
    assert_eq!(ada_rows["items"].as_array().unwrap().len(), 6);
    let refused = app
        .get("/v1/audit-log?outcome=refused")
        .token(&app.admin_key)
        .send()
        .await
        .json();
    assert_eq!(refused["items"].as_array().unwrap().len(), 2);
    let about = app
        .get(&format!("/v1/audit-log?resource_id={pid}"))
        .token(&app.admin_key)
        .send()
        .await
        .json();
    assert_eq!(about["items"].as_array().unwrap().len(), 2);
    let paged = app
        .get("/v1/audit-log?limit=4")
        .token(&app.admin_key)
        .send()
        .await
        .json();
    let next = paged["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/audit-log?limit=50&cursor={next}"))
        .token(&app.admin_key)
        .send()
        .await
        .json();
    assert_eq!(rest["items"].as_array().unwrap().len(), expected.len() - 4);
    app.get("/v1/audit-log?since=yesterday")
        .token(&app.admin_key)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("since"));
}

async fn append_only(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.key("operator").await;
    let mut tx = app.api.db().begin().await.unwrap();
    let edit = Query::new("UPDATE api_audit_log SET status = 200")
        .execute(tx.exec())
        .await;
    assert!(edit.is_err(), "the audit log took an update");
    drop(tx);
    let mut tx = app.api.db().begin().await.unwrap();
    let delete = Query::new("DELETE FROM api_audit_log")
        .execute(tx.exec())
        .await;
    assert!(delete.is_err(), "the audit log took a delete");
    drop(tx);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_audit_log").await,
        2
    );
}
