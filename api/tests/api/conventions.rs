//! The conventions every route follows: idempotent creates, request ids, problem documents for
//! unknown routes and methods, rate limits, health and metrics, the OpenAPI document and its
//! docs page; and a few calls over a real socket, where slow and idle clients are closed.

use std::time::Duration;

use axum::http::StatusCode;
use propledger_api::db::Engine;
use propledger_api::http::limits::{Rate, RateLimits};
use serde_json::json;

use crate::support::{TestApp, both_engines, property_body};

both_engines!(
    idempotent_creates,
    concurrent_replays_make_one,
    limits_and_ids
);

async fn idempotent_creates(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    let body = property_body("Chicago", 41.9, -87.6, "100000.00", 1000);
    let first = app
        .post("/v1/properties")
        .token(&key)
        .header("idempotency-key", "create-1")
        .json(&body)
        .send()
        .await;
    first.expect(StatusCode::CREATED);
    let replay = app
        .post("/v1/properties")
        .token(&key)
        .header("idempotency-key", "create-1")
        .json(&body)
        .send()
        .await;
    replay.expect(StatusCode::CREATED);
    assert_eq!(replay.json(), first.json());
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_properties").await,
        1
    );
    // The same key with another body is a conflict; nothing is created.
    let mut other = body.clone();
    other["square_feet"] = json!(2000);
    let p = app
        .post("/v1/properties")
        .token(&key)
        .header("idempotency-key", "create-1")
        .json(&other)
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "idempotency_key_reused");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_properties").await,
        1
    );
    // Keys are per caller: another caller's same key is a new request.
    let key2 = app.key("admin").await;
    app.post("/v1/properties")
        .token(&key2)
        .header("idempotency-key", "create-1")
        .json(&body)
        .send()
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_properties").await,
        2
    );
    // A refused request stores nothing: the key stays free.
    app.post("/v1/properties")
        .token(&key)
        .header("idempotency-key", "create-2")
        .json(&json!({"bad": 1}))
        .send()
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.post("/v1/properties")
        .token(&key)
        .header("idempotency-key", "create-2")
        .json(&body)
        .send()
        .await
        .expect(StatusCode::CREATED);
    // A new key's secret is shown once; its replay has the record only.
    let kb = json!({"name": "etl", "role": "auditor", "service": "etl"});
    let made = app
        .post("/v1/api-keys")
        .token(&app.admin_key)
        .header("idempotency-key", "key-1")
        .json(&kb)
        .send()
        .await
        .json();
    let again = app
        .post("/v1/api-keys")
        .token(&app.admin_key)
        .header("idempotency-key", "key-1")
        .json(&kb)
        .send()
        .await
        .json();
    assert!(made["secret"].is_string());
    assert!(again.get("secret").is_none());
    assert_eq!(again["id"], made["id"]);
    // A uploaded document's replay.
    let pid = app.get("/v1/properties").token(&key).send().await.json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let up = |k: &'static str| {
        app.post(&format!("/v1/properties/{pid}/documents"))
            .token(&key)
            .header("idempotency-key", k)
            .multipart(
                &[("kind", "photo")],
                Some(("a.jpg", "image/jpeg", b"jpeg bytes")),
            )
    };
    let d1 = up("doc-1").send().await.json();
    let d2 = up("doc-1").send().await.json();
    assert_eq!(d1, d2);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_documents").await,
        1
    );
    // Malformed keys.
    app.post("/v1/properties")
        .token(&key)
        .header("idempotency-key", &"k".repeat(300))
        .json(&body)
        .send()
        .await
        .problem(
            StatusCode::BAD_REQUEST,
            "validation",
            Some("Idempotency-Key"),
        );
}

async fn concurrent_replays_make_one(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    let body = property_body("Chicago", 41.9, -87.6, "100000.00", 1000);
    let calls = (0..8).map(|_| {
        app.post("/v1/properties")
            .token(&key)
            .header("idempotency-key", "same-request")
            .json(&body)
            .send()
    });
    let answers = futures_util::future::join_all(calls).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|r| {
            r.expect(StatusCode::CREATED).json()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_properties").await,
        1
    );
}

async fn limits_and_ids(engine: Engine) {
    let app = TestApp::with(engine, |c| {
        c.rate_limits = RateLimits {
            per_client: None,
            per_credential: Some(Rate::per_minute(5, 5)),
            unauthenticated: Some(Rate::per_minute(2, 2)),
        };
    })
    .await;
    let key = app.key("auditor").await;
    // Five requests pass; the sixth within the minute is refused with a hint.
    for _ in 0..5 {
        app.get("/v1/properties")
            .token(&key)
            .send()
            .await
            .expect(StatusCode::OK);
    }
    let r = app.get("/v1/properties").token(&key).send().await;
    let p = r.problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited", None);
    assert!(p["retry_after_s"].as_u64().unwrap() >= 1);
    assert!(r.headers.contains_key("retry-after"));
    // Another credential has its own allowance.
    app.get("/v1/properties")
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK);
    // Sign-in attempts are limited hardest.
    let attempt = || {
        app.post("/v1/auth/sessions")
            .json(&json!({"username": "x", "password": "y", "totp_code": "000000"}))
            .send()
    };
    attempt().await.expect(StatusCode::UNAUTHORIZED);
    attempt().await.expect(StatusCode::UNAUTHORIZED);
    attempt()
        .await
        .problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited", None);

    // Every response has a request id; a client's own is kept.
    let r = app.get("/healthz").send().await;
    assert!(!r.headers["x-request-id"].is_empty());
    let r = app
        .get("/healthz")
        .header("x-request-id", "client-chosen-42")
        .send()
        .await;
    assert_eq!(r.headers["x-request-id"], "client-chosen-42");
    let p = app
        .get("/v1/nothing-here")
        .header("x-request-id", "rid-7")
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    assert_eq!(p["request_id"], "rid-7");
    app.call(axum::http::Method::PUT, "/v1/properties")
        .send()
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", None);

    // Health, readiness (no chain configured: the database decides) and metrics.
    assert_eq!(
        app.get("/healthz")
            .send()
            .await
            .expect(StatusCode::OK)
            .json()["status"],
        "ok"
    );
    let ready = app
        .get("/readyz")
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"]["ok"], true);
    let m = app.get("/metrics").send().await;
    m.expect(StatusCode::OK);
    let text = String::from_utf8(m.bytes.clone()).unwrap();
    assert!(
        text.contains(
            "propledger_api_requests_total{method=\"GET\",route=\"/v1/properties\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "propledger_api_requests_total{method=\"GET\",route=\"/v1/properties\",status=\"429\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("propledger_api_request_duration_seconds_bucket"),
        "{text}"
    );

    // The OpenAPI document, its docs page and the problem pages.
    let doc = app
        .get("/v1/openapi.json")
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["components"]["schemas"]["Property"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let page = app.get("/v1/docs").send().await;
    page.expect(StatusCode::OK);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && !csp.contains("script-src 'unsafe-inline'"));
    let html = String::from_utf8(page.bytes.clone()).unwrap();
    assert!(html.contains("/v1/docs/swagger-ui-bundle.js") && !html.contains("<script>"));
    assert!(
        app.get("/v1/docs/swagger-ui-bundle.js")
            .send()
            .await
            .expect(StatusCode::OK)
            .bytes
            .len()
            > 1_000_000
    );
    app.get("/v1/docs/init.js")
        .send()
        .await
        .expect(StatusCode::OK);
    let t = app
        .get("/problems/validation")
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(t["type"], "/problems/validation");
}

/// A few calls over a real socket, with the client's address in play.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_socket() {
    let app = TestApp::new(Engine::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let api = app.api.clone();
    let server = tokio::spawn(async move {
        api.serve(listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let get = |path: &str, token: Option<&str>| {
        let mut req = axum::http::Request::get(format!("http://{addr}{path}"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        client.request(req.body(http_body_util::Full::default()).unwrap())
    };
    let r = get("/healthz", None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get("/v1/auth/session", Some(&app.admin_key)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get("/v1/properties", None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let op = app.key("operator").await;
    let mut req = axum::http::Request::post(format!("http://{addr}/v1/properties"))
        .header("authorization", format!("Bearer {op}"))
        .header("content-type", "application/json");
    req = req.header("idempotency-key", "socket-1");
    let body = property_body("Chicago", 41.9, -87.6, "1.00", 100).to_string();
    let r = client
        .request(
            req.body(http_body_util::Full::new(bytes::Bytes::from(body)))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Over a socket, clients that never finish their headers or sit idle are closed after the
/// configured timeouts, while others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::with(Engine::Sqlite, |c| {
        c.rate_limits = propledger_api::http::limits::RateLimits::off();
        c.server.header_read_timeout = Duration::from_secs(1);
        c.server.keep_alive_timeout = Duration::from_secs(1);
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let api = app.api.clone();
    let server = tokio::spawn(async move {
        api.serve(listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let mut slow = Vec::new();
    for i in 0..200 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: api\r\nAccept: ")
                .await
                .unwrap();
        }
        slow.push(s);
    }
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    for _ in 0..10 {
        let req = axum::http::Request::get(format!("http://{addr}/healthz"))
            .body(http_body_util::Full::default())
            .unwrap();
        assert_eq!(client.request(req).await.unwrap().status(), StatusCode::OK);
    }
    // Only a server that never closes them would miss this deadline.
    for s in &mut slow {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut rest))
            .await
            .expect("the connection was never closed")
            .ok();
    }
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
