//! Signing in, sessions and keys: what is refused, and that secrets never reach the log.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::json;

use crate::support::{Staff, TestApp, both_engines};

both_engines!(
    sign_in_and_out,
    refused_sign_ins,
    expired_and_revoked_sessions,
    revoked_and_orphaned_keys,
    first_start_makes_one_admin_key,
);

async fn sign_in(app: &TestApp, s: &Staff, password: &str, code: &str) -> crate::support::Resp {
    app.post("/v1/auth/sessions")
        .json(&json!({"username": s.username, "password": password, "totp_code": code}))
        .send()
        .await
}

async fn sign_in_and_out(engine: Engine) {
    let app = TestApp::new(engine).await;
    let ada = app.staff("ada", "operator").await;
    let token = app.sign_in(&ada, 0).await;
    assert!(token.starts_with("pls_"));
    let me = app.get("/v1/auth/session").token(&token).send().await;
    let me = me.expect(StatusCode::OK).json();
    assert_eq!(
        (
            me["kind"].as_str(),
            me["name"].as_str(),
            me["role"].as_str()
        ),
        (Some("user"), Some("ada"), Some("operator"))
    );
    // The token works for the role's routes, then not after signing out.
    app.get("/v1/properties")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::OK);
    app.delete("/v1/auth/session")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::NO_CONTENT);
    app.get("/v1/properties")
        .token(&token)
        .send()
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated", None);
    // Stored as a hash only.
    let stored = app.count("SELECT COUNT(*) AS n FROM api_sessions").await;
    assert_eq!(stored, 1);
}

async fn refused_sign_ins(engine: Engine) {
    let app = TestApp::new(engine).await;
    let ada = app.staff("ada", "operator").await;
    let bob = app.staff("bob", "auditor").await;
    // Codes of the steps around one moment, so a step boundary during the test changes nothing.
    let (earlier, now, next) = (ada.code(-1), ada.code(0), ada.code(1));
    let wrong_code = format!("{:06}", (now.parse::<u32>().unwrap() + 1) % 1_000_000);
    let refusals = [
        sign_in(&app, &ada, "not the password at all", &now).await,
        sign_in(&app, &ada, &ada.password, &wrong_code).await,
        sign_in(&app, &ada, &ada.password, "12345").await,
        sign_in(&app, &ada, &ada.password, &ada.code(5)).await,
        sign_in(&app, &ada, &ada.password, &bob.code(0)).await,
        app.post("/v1/auth/sessions")
            .json(&json!({"username": "nobody", "password": "whatever it is here", "totp_code": "123456"}))
            .send()
            .await,
    ];
    for r in &refusals {
        let p = r.problem(StatusCode::UNAUTHORIZED, "unauthenticated", None);
        // One answer for every failure: the caller cannot tell which part was wrong.
        assert_eq!(p["detail"], refusals[0].json()["detail"]);
    }
    // A code opens one session; replaying it (or an earlier one) is refused.
    sign_in(&app, &ada, &ada.password, &now)
        .await
        .expect(StatusCode::CREATED);
    sign_in(&app, &ada, &ada.password, &now).await.problem(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    sign_in(&app, &ada, &ada.password, &earlier).await.problem(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    // The next step's code is still good.
    sign_in(&app, &ada, &ada.password, &next)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_sessions").await, 2);
    // A disabled user cannot sign in, and their session ends.
    let token = app.sign_in(&bob, 0).await;
    app.patch(&format!("/v1/users/{}", bob.id))
        .token(&app.admin_key)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .expect(StatusCode::OK);
    sign_in(&app, &bob, &bob.password, &bob.code(1))
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated", None);
    app.get("/v1/audit-log").token(&token).send().await.problem(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    // Malformed credentials.
    for header in [
        "Bearer",
        "Basic abc",
        "Bearer plk_nope",
        "Bearer pls_nope",
        "Bearer something",
    ] {
        let r = app
            .get("/v1/properties")
            .header("authorization", header)
            .send()
            .await;
        r.problem(StatusCode::UNAUTHORIZED, "unauthenticated", None);
        assert!(r.headers.contains_key("www-authenticate"));
    }
}

async fn expired_and_revoked_sessions(engine: Engine) {
    let app = TestApp::with(engine, |c| {
        c.rate_limits = propledger_api::http::limits::RateLimits::off();
        c.session_ttl = Duration::from_millis(300);
    })
    .await;
    let ada = app.staff("ada", "operator").await;
    let token = app.sign_in(&ada, 0).await;
    app.get("/v1/properties")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let p = app
        .get("/v1/properties")
        .token(&token)
        .send()
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated", None);
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");

    // Revoked by an admin.
    let app = TestApp::new(engine).await;
    let ada = app.staff("ada", "operator").await;
    let token = app.sign_in(&ada, 0).await;
    app.delete(&format!("/v1/users/{}/sessions", ada.id))
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::NO_CONTENT);
    let p = app
        .get("/v1/properties")
        .token(&token)
        .send()
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated", None);
    assert!(p["detail"].as_str().unwrap().contains("revoked"), "{p}");
    // A new password also ends sessions.
    let token = app.sign_in(&ada, 1).await;
    app.patch(&format!("/v1/users/{}", ada.id))
        .token(&app.admin_key)
        .json(&json!({"password": "a brand new long password"}))
        .send()
        .await
        .expect(StatusCode::OK);
    app.get("/v1/properties")
        .token(&token)
        .send()
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated", None);
}

async fn revoked_and_orphaned_keys(engine: Engine) {
    let app = TestApp::new(engine).await;
    let r = app
        .post("/v1/api-keys")
        .token(&app.admin_key)
        .json(&json!({"name": "etl", "role": "auditor", "service": "etl"}))
        .send()
        .await;
    let created = r.expect(StatusCode::CREATED).json();
    let (id, secret) = (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    );
    assert!(secret.starts_with("plk_") && secret.starts_with(created["prefix"].as_str().unwrap()));
    app.get("/v1/audit-log")
        .token(&secret)
        .send()
        .await
        .expect(StatusCode::OK);
    // Listed without the secret, with its last use.
    let listed = app
        .get(&format!("/v1/api-keys/{id}"))
        .token(&app.admin_key)
        .send()
        .await
        .json();
    assert!(listed.get("secret").is_none());
    for _ in 0..50 {
        let k = app
            .get(&format!("/v1/api-keys/{id}"))
            .token(&app.admin_key)
            .send()
            .await
            .json();
        if k.get("last_used_at").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let k = app
        .get(&format!("/v1/api-keys/{id}"))
        .token(&app.admin_key)
        .send()
        .await
        .json();
    assert!(k["last_used_at"].is_string(), "{k}");
    // Revoked: refused at once.
    app.delete(&format!("/v1/api-keys/{id}"))
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK);
    let p = app
        .get("/v1/audit-log")
        .token(&secret)
        .send()
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated", None);
    assert!(p["detail"].as_str().unwrap().contains("revoked"), "{p}");
    // A user's key must carry the user's role, and stops when the user's role changes.
    let ada = app.staff("ada", "operator").await;
    app.post("/v1/api-keys")
        .token(&app.admin_key)
        .json(&json!({"name": "ada's", "role": "admin", "user_id": ada.id}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/role"),
        );
    let k = app
        .post("/v1/api-keys")
        .token(&app.admin_key)
        .json(&json!({"name": "ada's", "role": "operator", "user_id": ada.id}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let ada_key = k["secret"].as_str().unwrap().to_owned();
    app.get("/v1/properties")
        .token(&ada_key)
        .send()
        .await
        .expect(StatusCode::OK);
    app.patch(&format!("/v1/users/{}", ada.id))
        .token(&app.admin_key)
        .json(&json!({"role": "auditor"}))
        .send()
        .await
        .expect(StatusCode::OK);
    app.get("/v1/properties")
        .token(&ada_key)
        .send()
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated", None);
}

async fn first_start_makes_one_admin_key(engine: Engine) {
    let app = TestApp::new(engine).await;
    // The database is no longer empty: no second key, however many replicas start.
    let again = propledger_api::keys::bootstrap(app.api.db()).await.unwrap();
    assert!(again.is_none());
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_keys").await, 1);
    let me = app
        .get("/v1/auth/session")
        .token(&app.admin_key)
        .send()
        .await
        .json();
    assert_eq!(
        (me["kind"].as_str(), me["role"].as_str()),
        (Some("key"), Some("admin"))
    );
}

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Secrets never reach the log, even at the most verbose level and on failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_the_log() {
    let sink = Captured::default();
    let writer = sink.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let app = TestApp::new(Engine::Sqlite).await;
    let ada = app.staff("ada", "operator").await;
    let token = app.sign_in(&ada, 0).await;
    sign_in(&app, &ada, "a wrong password guess", &ada.code(1)).await;
    sign_in(&app, &ada, &ada.password, "000000").await;
    let key = app.key("auditor").await;
    app.get("/v1/audit-log")
        .token(&key)
        .send()
        .await
        .expect(StatusCode::OK);
    app.get("/v1/properties")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::OK);
    app.get("/v1/users")
        .token(&token)
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    app.get("/v1/properties")
        .token("pls_not-a-real-token-value")
        .send()
        .await;
    let _ = std::io::stdout().flush();
    let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("request"), "the log captured nothing: {log}");
    for secret in [
        ada.password.as_str(),
        "a wrong password guess",
        token.as_str(),
        &token[4..],
        key.as_str(),
        &key[4..],
        app.admin_key.as_str(),
        "pls_not-a-real-token-value",
        &data_encoding::BASE32_NOPAD.encode(&ada.totp_secret),
    ] {
        assert!(
            !log.contains(secret),
            "the log holds a secret ({}…)",
            &secret[..6]
        );
    }
}
