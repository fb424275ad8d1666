//! Who may call what: a table written by hand, checked against the OpenAPI document (a route
//! the table lacks fails the test) and against the API itself, for every route and every kind
//! of caller. A refused call must change nothing; an allowed one must succeed.

use std::collections::BTreeSet;
use std::sync::Mutex;

use alloy::primitives::Address;
use alloy::providers::Provider;

use axum::http::{Method, StatusCode};
use propledger_api::db::{Engine, Query};
use serde_json::{Value, json};

use crate::chainapp::{ChainApp, investor_key};
use crate::support::{Call, Staff, TestApp, both_engines, property_body};
use crate::tokenization::{property_with_deed, tokenization_body};

both_engines!(every_route_for_every_caller);

const ALL: &[&str] = &["admin", "operator", "compliance", "auditor"];
const EVERYONE: &[&str] = &["admin", "operator", "compliance", "auditor", "investor"];
const INVESTOR: &[&str] = &["investor"];
const REVIEW: &[&str] = &["admin", "compliance", "auditor"];
const DECIDE: &[&str] = &["admin", "compliance"];
const ADMIN: &[&str] = &["admin"];
const OPERATE: &[&str] = &["admin", "operator"];
const AUDIT: &[&str] = &["admin", "auditor"];
const PUBLIC: &[&str] = &[];
const WRITE_DOCS: &[&str] = &["admin", "operator", "compliance"];

/// Route x role: the staff roles that may call each route (empty: no credential needed).
const TABLE: &[(&str, &str, &[&str])] = &[
    ("POST", "/v1/auth/sessions", PUBLIC),
    ("GET", "/v1/auth/session", EVERYONE),
    ("DELETE", "/v1/auth/session", EVERYONE),
    ("POST", "/v1/auth/siwe/nonce", PUBLIC),
    ("POST", "/v1/auth/siwe/verify", PUBLIC),
    ("GET", "/v1/me", INVESTOR),
    ("POST", "/v1/me/application", INVESTOR),
    ("POST", "/v1/me/application/documents", INVESTOR),
    ("GET", "/v1/investors", REVIEW),
    ("GET", "/v1/investors/{id}", REVIEW),
    ("POST", "/v1/investors/{id}/approve", DECIDE),
    ("POST", "/v1/investors/{id}/reject", DECIDE),
    ("GET", "/v1/actions/{id}", ALL),
    ("POST", "/v1/compliance/check", EVERYONE),
    ("POST", "/v1/me/purchases", INVESTOR),
    ("POST", "/v1/me/transfers", INVESTOR),
    ("POST", "/v1/me/refunds", INVESTOR),
    ("GET", "/v1/market/orders", EVERYONE),
    ("GET", "/v1/market/trades", EVERYONE),
    ("POST", "/v1/me/orders", INVESTOR),
    ("POST", "/v1/me/orders/{id}/take", INVESTOR),
    ("POST", "/v1/me/orders/{id}/cancel", INVESTOR),
    ("GET", "/v1/me/trades", INVESTOR),
    ("POST", "/v1/market/tokens/{token}/approval", DECIDE),
    ("GET", "/v1/market/approvals", ALL),
    ("POST", "/v1/market/approvals/{trade_id}", DECIDE),
    ("GET", "/v1/me/distributions", INVESTOR),
    ("GET", "/v1/contractors", ALL),
    ("POST", "/v1/contractors", OPERATE),
    ("GET", "/v1/contractors/{id}", ALL),
    ("POST", "/v1/rehab-projects", OPERATE),
    ("GET", "/v1/rehab-projects/{id}", ALL),
    ("POST", "/v1/rehab-projects/{id}/lines", OPERATE),
    ("POST", "/v1/rehab-lines/{id}/bids", OPERATE),
    ("POST", "/v1/rehab-bids/{id}/accept", OPERATE),
    ("POST", "/v1/rehab-lines/{id}/draws", OPERATE),
    ("POST", "/v1/rehab-draws/{id}/approve", OPERATE),
    ("POST", "/v1/rehab-draws/{id}/release", OPERATE),
    ("POST", "/v1/rehab-draws/{id}/bank-payment", OPERATE),
    ("POST", "/v1/rehab-lines/{id}/progress", OPERATE),
    ("POST", "/v1/rehab-projects/{id}/change-orders", OPERATE),
    ("GET", "/v1/me/statements", INVESTOR),
    ("POST", "/v1/me/distributions/{id}/claim", INVESTOR),
    ("GET", "/v1/distributions", ALL),
    ("POST", "/v1/distributions", OPERATE),
    ("GET", "/v1/distributions/{id}", ALL),
    ("GET", "/v1/distributions/{id}/register", ALL),
    ("POST", "/v1/distributions/{id}/push", OPERATE),
    ("GET", "/v1/offerings", EVERYONE),
    ("GET", "/v1/offerings/{address}", EVERYONE),
    ("POST", "/v1/offerings/{address}/finalize", OPERATE),
    ("POST", "/v1/offerings/{address}/cancel", OPERATE),
    ("GET", "/v1/tokens/{token}/rules", ALL),
    ("PUT", "/v1/tokens/{token}/rules", DECIDE),
    ("POST", "/v1/tokens/{token}/freezes", DECIDE),
    ("POST", "/v1/tokens/{token}/forced-transfers", DECIDE),
    ("POST", "/v1/tokens/{token}/recoveries", DECIDE),
    ("POST", "/v1/investors/{id}/wallets", DECIDE),
    ("DELETE", "/v1/investors/{id}/wallets/{wallet}", DECIDE),
    ("POST", "/v1/investors/{id}/freeze", DECIDE),
    ("POST", "/v1/investors/freezes", DECIDE),
    ("POST", "/v1/investors/registrations", DECIDE),
    ("POST", "/v1/tokens/{token}/issuances", DECIDE),
    ("GET", "/v1/users", ADMIN),
    ("POST", "/v1/users", ADMIN),
    ("GET", "/v1/users/{id}", ADMIN),
    ("PATCH", "/v1/users/{id}", ADMIN),
    ("DELETE", "/v1/users/{id}/sessions", ADMIN),
    ("GET", "/v1/api-keys", ADMIN),
    ("POST", "/v1/api-keys", ADMIN),
    ("GET", "/v1/api-keys/{id}", ADMIN),
    ("DELETE", "/v1/api-keys/{id}", ADMIN),
    ("GET", "/v1/audit-log", AUDIT),
    ("GET", "/v1/audit/properties/{id}/events", AUDIT),
    ("GET", "/v1/audit/properties/{id}/cap-table", AUDIT),
    ("GET", "/v1/audit/ledger", AUDIT),
    ("GET", "/v1/audit/reconciliation", AUDIT),
    ("POST", "/v1/audit/verifications", AUDIT),
    ("GET", "/v1/audit/anchors", AUDIT),
    ("POST", "/v1/audit/anchors", ADMIN),
    ("GET", "/v1/properties", ALL),
    ("POST", "/v1/properties", OPERATE),
    ("GET", "/v1/properties/{id}", ALL),
    ("PATCH", "/v1/properties/{id}", OPERATE),
    ("POST", "/v1/properties/{id}/tokenization", OPERATE),
    ("GET", "/v1/properties/{id}/tokenization", ALL),
    ("GET", "/v1/properties/{id}/documents", ALL),
    ("GET", "/v1/properties/{id}/valuations", ALL),
    ("GET", "/v1/properties/{id}/waterfall", ALL),
    ("PUT", "/v1/properties/{id}/waterfall", OPERATE),
    ("POST", "/v1/properties/{id}/waterfall/preview", ALL),
    ("GET", "/v1/properties/{id}/waterfall/distributions", ALL),
    ("GET", "/v1/rehab-projects", ALL),
    ("GET", "/v1/books/{property}/cash-chart", ALL),
    ("GET", "/v1/audit/anomalies", AUDIT),
    ("GET", "/v1/properties/{id}/analytics", ALL),
    ("GET", "/v1/analytics", ALL),
    ("GET", "/v1/analytics/statement", ALL),
    ("POST", "/v1/sales/imports", OPERATE),
    ("GET", "/v1/market/trends", ALL),
    ("GET", "/v1/market/trends/chart", ALL),
    ("GET", "/v1/properties/{id}/analytics/chart", ALL),
    ("GET", "/v1/properties/{id}/analytics/statement", ALL),
    ("POST", "/v1/valuations/comps", ALL),
    ("POST", "/v1/valuations/upgrades", ALL),
    ("POST", "/v1/valuations/models", OPERATE),
    ("GET", "/v1/valuations/models", ALL),
    ("POST", "/v1/me/test-funds", INVESTOR),
    ("GET", "/v1/rehab-projects/{id}/chart", ALL),
    ("POST", "/v1/rehab-projects/{id}/upgrade-scenarios", ALL),
    ("GET", "/v1/offerings/{address}/chart", EVERYONE),
    ("GET", "/v1/offerings/{address}/documents", EVERYONE),
    (
        "GET",
        "/v1/offerings/{address}/documents/{id}/content",
        EVERYONE,
    ),
    (
        "POST",
        "/v1/properties/{id}/waterfall/distributions",
        OPERATE,
    ),
    ("GET", "/v1/me/tax-statements/{year}", INVESTOR),
    ("GET", "/v1/investors/{id}/tax-statements/{year}", ALL),
    ("GET", "/v1/tax-statements/{year}", ALL),
    ("POST", "/v1/properties/{id}/valuations", OPERATE),
    ("GET", "/v1/properties/{id}/transactions", ALL),
    ("POST", "/v1/properties/{id}/transactions", OPERATE),
    ("GET", "/v1/properties/{id}/rent-schedules", ALL),
    ("POST", "/v1/properties/{id}/rent-schedules", OPERATE),
    ("POST", "/v1/properties/{id}/documents", OPERATE),
    ("GET", "/v1/deals", ALL),
    ("POST", "/v1/deals", OPERATE),
    ("GET", "/v1/deals/{id}", ALL),
    ("POST", "/v1/deals/{id}/transitions", OPERATE),
    ("POST", "/v1/deals/{id}/offers", OPERATE),
    ("POST", "/v1/deals/{id}/milestones", OPERATE),
    ("GET", "/v1/deals/{id}/costs", ALL),
    ("POST", "/v1/deals/{id}/costs", OPERATE),
    ("POST", "/v1/deals/{id}/sale", OPERATE),
    ("POST", "/v1/deals/{id}/redemption", OPERATE),
    ("POST", "/v1/books/{property}/close", OPERATE),
    ("GET", "/v1/deals/{id}/pro-forma", ALL),
    ("GET", "/v1/deals/{id}/returns", ALL),
    ("GET", "/v1/books/{property}/accounts", ALL),
    ("GET", "/v1/books/{property}/trial-balance", ALL),
    ("GET", "/v1/books/{property}/balance-sheet", ALL),
    ("GET", "/v1/books/{property}/income-statement", ALL),
    ("GET", "/v1/books/entries", ALL),
    ("GET", "/v1/books/{property}/capital-accounts", ALL),
    ("GET", "/v1/books/{property}/cash-flow", ALL),
    ("GET", "/v1/books/{property}/fees", ALL),
    ("POST", "/v1/books/{property}/fees", ADMIN),
    ("GET", "/v1/books/export", ALL),
    ("GET", "/v1/documents/{id}", ALL),
    ("GET", "/v1/documents/{id}/content", ALL),
    ("GET", "/v1/business-documents", ALL),
    ("POST", "/v1/business-documents", WRITE_DOCS),
    ("GET", "/v1/business-documents/search", ALL),
    ("GET", "/v1/business-document-templates", ALL),
    ("GET", "/v1/business-documents/{id}", ALL),
    ("PUT", "/v1/business-documents/{id}", WRITE_DOCS),
    ("POST", "/v1/business-documents/{id}/rollback", WRITE_DOCS),
    ("PUT", "/v1/business-documents/{id}/permissions", WRITE_DOCS),
    ("POST", "/v1/business-documents/{id}/submit", WRITE_DOCS),
    ("POST", "/v1/business-documents/{id}/approvals", WRITE_DOCS),
    ("POST", "/v1/business-documents/{id}/publish", WRITE_DOCS),
    ("POST", "/v1/business-documents/{id}/archive", WRITE_DOCS),
    ("GET", "/v1/business-documents/{id}/versions", ALL),
    ("GET", "/v1/business-documents/{id}/versions/{number}", ALL),
    ("GET", "/v1/business-documents/{id}/diff", ALL),
    ("GET", "/v1/business-documents/{id}/history", ALL),
    ("POST", "/v1/business-documents/{id}/render", ALL),
    (
        "GET",
        "/v1/business-documents/{id}/versions/{number}/proof",
        ALL,
    ),
    (
        "POST",
        "/v1/business-documents/{id}/versions/{number}/verify",
        ALL,
    ),
    (
        "POST",
        "/v1/business-documents/{id}/attachments",
        WRITE_DOCS,
    ),
    (
        "GET",
        "/v1/business-documents/{id}/attachments/{attachment}",
        ALL,
    ),
    ("GET", "/healthz", PUBLIC),
    ("GET", "/v1/network", PUBLIC),
    ("POST", "/v1/test-funds", ADMIN),
    ("GET", "/readyz", PUBLIC),
    ("GET", "/metrics", PUBLIC),
];

/// A deal on `property`.
fn deal_body(property: &str) -> Value {
    json!({
        "property_id": property,
        "strategy": "hold",
        "purchase_price": {"amount": "95000.00", "currency": "USD"},
    })
}

/// A draw of one cent against the fixture's line.
fn draw_body(fx: &Fixtures) -> Value {
    json!({"contractor_id": fx.contractor, "amount": {"amount": "0.01", "currency": "USD"},
           "invoice_document_id": fx.invoice})
}

/// An insured contractor.
fn contractor_body(n: usize) -> Value {
    json!({"company": format!("Builder {n}"), "trade": "general", "contact_name": "Sam",
           "email": "sam@example.com", "license_number": "L-1", "license_expires_on": "2099-01-01",
           "insurance_expires_on": "2099-01-01", "payout_wallet": Address::repeat_byte(0xc0)})
}

/// A business document's body.
fn business_doc_body(n: usize) -> Value {
    json!({"type": "sop", "title": format!("Procedure {n}"),
           "content": {"sections": [{"title": "Purpose", "body": "Why this exists."}]}})
}

/// A business document made by the admin key in `state` (draft, in_review, approved — in
/// review with an approval — or published); returns its id.
async fn business_doc(app: &crate::support::TestApp, n: usize, state: &str) -> String {
    let doc = app
        .post("/v1/business-documents")
        .token(&app.admin_key)
        .json(&business_doc_body(n))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    if state == "draft" {
        return doc;
    }
    let path = format!("/v1/business-documents/{doc}");
    app.post(&format!("{path}/submit"))
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK);
    if state == "in_review" {
        return doc;
    }
    let approver = app.key("compliance").await;
    app.post(&format!("{path}/approvals"))
        .token(&approver)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .expect(StatusCode::OK);
    if state == "approved" {
        return doc;
    }
    app.post(&format!("{path}/publish"))
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK);
    doc
}

/// A waterfall: an 8% preferred return, capital back, then a 20% promote.
fn waterfall_body() -> Value {
    json!({"tiers": [
        {"kind": "preferred_return", "rate_bps": 800, "accrual": "simple"},
        {"kind": "return_of_capital"},
        {"kind": "split", "promote_bps": 2000},
    ]})
}

/// A closing cost, not paid yet.
fn cost_body(amount: &str) -> Value {
    json!({"kind": "closing", "amount": {"amount": amount, "currency": "USD"},
           "paid_on": "2026-11-20", "paid_from": "payable"})
}

/// Who calls.
#[derive(Clone, Debug)]
enum Caller {
    Nobody,
    RevokedKey,
    ExpiredSession,
    Role(&'static str),
}

/// What the state looks like, apart from the audit log (which records refusals too).
async fn snapshot(app: &TestApp) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (name, sql) in [
        (
            "users",
            "SELECT CAST(COUNT(*) + COALESCE(SUM(version), 0) AS BIGINT) AS n FROM api_users",
        ),
        ("keys", "SELECT COUNT(*) AS n FROM api_keys"),
        (
            "revoked keys",
            "SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NOT NULL",
        ),
        ("sessions", "SELECT COUNT(*) AS n FROM api_sessions"),
        (
            "revoked sessions",
            "SELECT COUNT(*) AS n FROM api_sessions WHERE revoked_at IS NOT NULL",
        ),
        (
            "properties",
            "SELECT CAST(COUNT(*) + COALESCE(SUM(version), 0) AS BIGINT) AS n FROM api_properties",
        ),
        ("documents", "SELECT COUNT(*) AS n FROM api_documents"),
        (
            "deals",
            "SELECT CAST(COUNT(*) + COALESCE(SUM(version), 0) AS BIGINT) AS n FROM api_deals",
        ),
        (
            "deal moves",
            "SELECT COUNT(*) AS n FROM api_deal_transitions",
        ),
        (
            "deal costs",
            "SELECT COUNT(*) AS n FROM ledger_entries WHERE source LIKE 'operator:deal%'",
        ),
        (
            "investors",
            "SELECT CAST(COUNT(*) + COALESCE(SUM(version), 0) AS BIGINT) AS n FROM api_investors",
        ),
        (
            "investor documents",
            "SELECT COUNT(*) AS n FROM api_investor_documents",
        ),
        (
            "wallet sessions",
            "SELECT COUNT(*) AS n FROM api_wallet_sessions",
        ),
        (
            "ended wallet sessions",
            "SELECT COUNT(*) AS n FROM api_wallet_sessions WHERE revoked_at IS NOT NULL",
        ),
        ("chain actions", "SELECT COUNT(*) AS n FROM api_outbox"),
        (
            "tokenizations",
            "SELECT COUNT(*) AS n FROM api_tokenizations",
        ),
        ("blobs", "SELECT COUNT(*) AS n FROM api_blobs"),
        ("waterfalls", "SELECT COUNT(*) AS n FROM api_waterfalls"),
        (
            "waterfall runs",
            "SELECT COUNT(*) AS n FROM api_waterfall_runs",
        ),
        ("idempotency", "SELECT COUNT(*) AS n FROM api_idempotency"),
        (
            "business documents",
            "SELECT CAST(COUNT(*) + COALESCE(SUM(head_version), 0) AS BIGINT) AS n \
             FROM api_business_documents",
        ),
        (
            "business document trail",
            "SELECT COUNT(*) AS n FROM api_business_document_events",
        ),
    ] {
        out.push((name.to_owned(), app.count(sql).await));
    }
    out
}

/// What exists for the calls to act on.
struct Fixtures {
    property: String,
    deal: String,
    document: String,
    user: String,
    sessions: Vec<(&'static str, String)>,
    revoked_key: String,
    expired_session: String,
    /// A signed-in wallet that has not applied yet.
    investor_session: String,
    investor_wallet: String,
    /// An applicant and a chain action made for another.
    investor: String,
    action: String,
    /// An approved investor holding settled shares, owed a refund from a cancelled offering.
    buyer_session: String,
    refund_offering: String,
    /// An approved investor (wallets, freezes) and one to receive forced transfers.
    approved: String,
    recipient: Address,
    /// The investor whose shares move from wallet to wallet by recovery, and where they are.
    keeper: String,
    keeper_wallet: Mutex<(Address, Option<Address>)>,
    /// A funded distribution of the first property, the buyer owed a part of it.
    distribution: String,
    /// An insured contractor, the deal's rehab project, a line of it whose budget is set on
    /// chain (the tokenized property's treasury holds funds to pay draws), and an invoice.
    contractor: String,
    project: String,
    line: String,
    /// Another line of the project, which change orders move budget to.
    line2: String,
    invoice: String,
    /// A deal on the tokenized property, sold (its deed moved), whose shares no one holds.
    sold_deal: String,
}

async fn fixtures(w: &ChainApp) -> Fixtures {
    let app = &w.app;
    let op = app.key("operator").await;
    let property = app
        .post("/v1/properties")
        .token(&op)
        .json(&property_body("Chicago", 41.9, -87.6, "100000.00", 1000))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let document = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(&op)
        .multipart(
            &[("kind", "deed")],
            Some(("deed.pdf", "application/pdf", b"%PDF-1.7 deed")),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokenized = app
        .post(&format!("/v1/properties/{property}/tokenization"))
        .token(&op)
        .json(&tokenization_body(&document))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    w.settled(&[tokenized["action"].clone()]).await;
    let deal = app
        .post("/v1/deals")
        .token(&op)
        .json(&deal_body(&property))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut sessions = Vec::new();
    for role in ALL {
        let s = app.staff(&format!("{role}-user"), role).await;
        sessions.push((*role, app.sign_in(&s, 0).await));
    }
    let target = app.staff("target", "operator").await;
    let revoked_key = app.key("admin").await;
    let listed = app
        .get("/v1/api-keys?limit=200")
        .token(&app.admin_key)
        .send()
        .await
        .json();
    let revoked_id = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|k| revoked_key.starts_with(k["prefix"].as_str().unwrap()))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!("/v1/api-keys/{revoked_id}"))
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::OK);
    let old = app.staff("old-session", "admin").await;
    let expired_session = app.sign_in(&old, 0).await;
    // The session's time runs out (as if its 12 hours had passed).
    let mut tx = app.api.db().begin().await.unwrap();
    Query::new("UPDATE api_sessions SET expires_at = 1 WHERE user_id = $1")
        .bind(old.id.as_str())
        .execute(tx.exec())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let investor_session = w.sign_in(&investor_key(1)).await;
    let (_, investor) = w.applicant(&investor_key(2), "US").await;
    let (_, approved) = w.applicant(&investor_key(3), "US").await;
    let detail = app
        .post(&format!("/v1/investors/{approved}/approve"))
        .token(&app.admin_key)
        .json(&json!({"accredited": false, "kyc_expires_on": "2099-01-01"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    w.settled(detail["actions"].as_array().unwrap()).await;

    // A buyer past the soft cap, and another property whose offering it is refunded from.
    let buyer = investor_key(4);
    let (buyer_session, _) = w.investor(&buyer, "US", true, "2099-01-01").await;
    let keeper_key = investor_key(5);
    let (keeper_session, keeper) = w.investor(&keeper_key, "US", true, "2099-01-01").await;
    let recipient = investor_key(6);
    w.investor(&recipient, "US", true, "2099-01-01").await;
    w.outbox_idle().await;
    w.fund(buyer.address(), 100_000_000_000).await;
    w.fund(keeper_key.address(), 100_000_000_000).await;
    // Gas for the recipient's bids on the market.
    w.fund(recipient.address(), 0).await;
    let refundable = w.another_property(30 * 86_400).await;
    for (key, session, offering, amount) in [
        (&buyer, &buyer_session, w.property.offering.address, "20"),
        (
            &keeper_key,
            &keeper_session,
            w.property.offering.address,
            "15",
        ),
        (&buyer, &buyer_session, refundable.offering.address, "2"),
    ] {
        let prepared = app
            .post("/v1/me/purchases")
            .token(session)
            .json(&json!({"offering": offering, "amount": amount}))
            .send()
            .await
            .expect(StatusCode::OK)
            .json();
        assert!(w.sign_and_send(key, &prepared).await.iter().all(|ok| *ok));
    }
    // The share token is listed on the platform's market (the admin's key signs the outbox's
    // actions too: they finish first).
    w.outbox_idle().await;
    let market = propledger_contracts::ShareSettlement::new(
        w.platform.settlement.expect("a market").address,
        &w.admin,
    );
    market
        .setListed(w.property.shares.address, true)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let cancel = app
        .post(&format!(
            "/v1/offerings/{}/cancel",
            refundable.offering.address
        ))
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    w.settled(&[cancel]).await;
    w.caught_up().await;
    let declared = app
        .post("/v1/distributions")
        .token(&op)
        .json(&json!({"property": "1", "amount": {"amount": "10.00", "currency": "USD"}}))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    w.settled(&[json!({"id": declared["action_id"]})]).await;
    w.caught_up().await;

    // Rehab: a contractor, the deal's project, a line with its budget on chain, a funded
    // treasury, an invoice.
    let contractor = app
        .post("/v1/contractors")
        .token(&op)
        .json(&contractor_body(0))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let project = app
        .post("/v1/rehab-projects")
        .token(&op)
        .json(&json!({"deal_id": deal}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let line = app
        .post(&format!("/v1/rehab-projects/{project}/lines"))
        .token(&op)
        .json(&json!({"category": "roof", "budget": {"amount": "100000.00", "currency": "USD"}}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    w.settled(&[json!({"id": line["budget_actions"][0]})]).await;
    let line = line["id"].as_str().unwrap().to_owned();
    let line2 = app
        .post(&format!("/v1/rehab-projects/{project}/lines"))
        .token(&op)
        .json(&json!({"category": "paint", "budget": {"amount": "10.00", "currency": "USD"}}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = app
        .get(&format!("/v1/properties/{property}/tokenization"))
        .token(&op)
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
    let usdc = propledger_contracts::TestStablecoin::new(w.platform.settlement_token, &w.admin);
    let admin = crate::outbox::DEV_KEY
        .parse::<alloy::signers::local::PrivateKeySigner>()
        .unwrap()
        .address();
    let funds = alloy::primitives::U256::from(1_000_000_000u64);
    for call in [
        usdc.mint(admin, funds).into_transaction_request(),
        usdc.approve(treasury, funds).into_transaction_request(),
        propledger_contracts::PropertyTreasury::new(treasury, &w.admin)
            .deposit(funds, alloy::primitives::B256::repeat_byte(1))
            .into_transaction_request(),
    ] {
        w.admin
            .send_transaction(call)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let sold_deal = app
        .post("/v1/deals")
        .token(&op)
        .json(&deal_body(&property))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for to in [
        "analyzing",
        "offer_made",
        "under_contract",
        "acquired",
        "stabilized",
    ] {
        app.post(&format!("/v1/deals/{sold_deal}/transitions"))
            .token(&op)
            .json(&json!({"to": to}))
            .send()
            .await
            .expect(StatusCode::OK);
    }
    let sold = app
        .post(&format!("/v1/deals/{sold_deal}/sale"))
        .token(&op)
        .header("idempotency-key", "fixture-sale")
        .json(&json!({"price": {"amount": "1000.00", "currency": "USD"},
            "selling_costs": {"amount": "0", "currency": "USD"}, "buyer": "Buyer",
            "deed_to": Address::repeat_byte(0xd0),
            "sold_on": chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string()}))
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    w.settled(&[json!({"id": sold["sale"]["deed_action"]})])
        .await;
    let invoice = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(&op)
        .multipart(
            &[("kind", "invoice")],
            Some(("invoice.pdf", "application/pdf", b"%PDF invoice")),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The property's books, opened by a cost of the deal (the indexer has set their currency).
    app.post(&format!("/v1/deals/{deal}/costs"))
        .token(&op)
        .header("idempotency-key", "fixture-cost")
        .json(&cost_body("1000.00"))
        .send()
        .await
        .expect(StatusCode::CREATED);
    Fixtures {
        buyer_session,
        refund_offering: refundable.offering.address.to_checksum(None),
        approved,
        recipient: recipient.address(),
        keeper,
        keeper_wallet: Mutex::new((keeper_key.address(), None)),
        investor_session,
        investor_wallet: investor_key(1).address().to_checksum(None),
        investor,
        distribution: declared["id"].as_str().unwrap().to_owned(),
        contractor,
        project,
        line,
        line2,
        invoice,
        sold_deal,
        action: detail["actions"][0]["id"].as_str().unwrap().to_owned(),
        property,
        deal,
        document,
        user: target.id,
        sessions,
        revoked_key,
        expired_session,
    }
}

/// A well-formed request to a route, acting on fresh targets where the call consumes one.
async fn request<'a>(
    w: &'a ChainApp,
    fx: &Fixtures,
    method: &str,
    template: &str,
    n: usize,
    fresh: bool,
) -> Call<'a> {
    let app = &w.app;
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let path = template
        .replace("/v1/users/{id}", &format!("/v1/users/{}", fx.user))
        .replace(
            "/v1/properties/{id}",
            &format!("/v1/properties/{}", fx.property),
        )
        .replace(
            "/v1/documents/{id}",
            &format!("/v1/documents/{}", fx.document),
        )
        .replace(
            "/v1/investors/{id}",
            &format!("/v1/investors/{}", fx.investor),
        )
        .replace("/v1/actions/{id}", &format!("/v1/actions/{}", fx.action))
        .replace("/v1/deals/{id}", &format!("/v1/deals/{}", fx.deal))
        .replace(
            "/distributions/{id}",
            &format!("/distributions/{}", fx.distribution),
        )
        .replace(
            "/v1/contractors/{id}",
            &format!("/v1/contractors/{}", fx.contractor),
        )
        .replace(
            "/v1/rehab-projects/{id}",
            &format!("/v1/rehab-projects/{}", fx.project),
        )
        .replace(
            "/v1/rehab-lines/{id}",
            &format!("/v1/rehab-lines/{}", fx.line),
        )
        .replace(
            "/v1/books/{property}",
            &format!("/v1/books/{}", fx.property),
        )
        .replace(
            "/v1/audit/properties/{id}",
            &format!("/v1/audit/properties/{}", fx.property),
        )
        .replace("{year}", "2026");
    let call = |path: String| app.call(m.clone(), &path);
    match (method, template) {
        ("POST", "/v1/auth/sessions") => {
            let s: Staff = app.staff(&format!("signer-{n}"), "operator").await;
            call(path).json(&json!({"username": s.username, "password": s.password, "totp_code": s.code(0)}))
        }
        ("POST", "/v1/users") => call(path).json(&json!({"username": format!("new-{n}"), "role": "auditor", "password": "twelve chars at least"})),
        ("PATCH", "/v1/users/{id}") => call(path).json(&json!({"display_name": format!("Target {n}")})),
        ("POST", "/v1/api-keys") => call(path).json(&json!({"name": format!("k{n}"), "role": "auditor", "service": "svc"})),
        ("GET", "/v1/api-keys/{id}") | ("DELETE", "/v1/api-keys/{id}") => {
            let r = app.post("/v1/api-keys").token(&app.admin_key)
                .json(&json!({"name": format!("victim{n}"), "role": "auditor", "service": "svc"}))
                .send().await.expect(StatusCode::CREATED).json();
            call(format!("/v1/api-keys/{}", r["id"].as_str().unwrap()))
        }
        ("POST", "/v1/properties") => call(path).json(&property_body("Chicago", 41.9, -87.6, "1.00", 100)),
        ("PATCH", "/v1/properties/{id}") => call(path).json(&json!({"bedrooms": n})),
        ("POST", "/v1/properties/{id}/tokenization") => {
            // Each allowed call tokenizes a property of its own.
            if fresh {
                let (property, document) = property_with_deed(app, &app.admin_key).await;
                call(format!("/v1/properties/{property}/tokenization"))
                    .json(&tokenization_body(&document))
            } else {
                call(path).json(&tokenization_body(&fx.document))
            }
        }
        ("POST", "/v1/deals") => call(path).json(&deal_body(&fx.property)),
        ("POST", "/v1/business-documents") => call(path).json(&business_doc_body(n)),
        ("GET", "/v1/business-documents/search") => call(format!("{path}?q=procedure")),
        (_, t) if t.starts_with("/v1/business-documents/{id}") => {
            let state = match t.rsplit('/').next().unwrap_or("") {
                "approvals" => "in_review",
                "publish" => "approved",
                "proof" | "verify" => "published",
                _ => "draft",
            };
            let doc = business_doc(app, n, state).await;
            let path = template.replace("{id}", &doc).replace("{number}", "1");
            match (method, t.rsplit('/').next().unwrap_or("")) {
                ("PUT", "{id}") => call(path)
                    .header("if-match", "\"1\"")
                    .json(&json!({"content": business_doc_body(n)["content"]})),
                ("POST", "rollback") => {
                    // A second version to roll back from.
                    let mut b = business_doc_body(n);
                    b["content"]["sections"][0]["body"] = json!("Changed.");
                    app.call(Method::PUT, &format!("/v1/business-documents/{doc}"))
                        .token(&app.admin_key)
                        .header("if-match", "\"1\"")
                        .json(&json!({"content": b["content"]}))
                        .send()
                        .await
                        .expect(StatusCode::OK);
                    call(path).json(&json!({"version": 1}))
                }
                ("PUT", "permissions") => call(path).json(&json!({"approvals_required": 1})),
                ("POST", "approvals") => call(path).json(&json!({"decision": "approve"})),
                ("GET", "diff") => call(format!("{path}?from=1&to=1")),
                ("POST", "render") => call(path).json(&json!({"format": "html"})),
                ("POST", "verify") => {
                    let b = business_doc_body(n);
                    call(path).json(&json!({"title": b["title"], "content": {"sections": [
                        {"key": "purpose", "title": "Purpose", "body": "Why this exists."}], "variables": []}}))
                }
                ("POST", "attachments") => {
                    call(path).multipart(&[("title", "Checklist")], Some(("list.pdf", "application/pdf", b"%PDF-1.7 list")))
                }
                ("GET", "{attachment}") => {
                    let att = app
                        .post(&format!("/v1/business-documents/{doc}/attachments"))
                        .token(&app.admin_key)
                        .multipart(&[], Some(("list.pdf", "application/pdf", b"%PDF-1.7 list")))
                        .send()
                        .await
                        .expect(StatusCode::CREATED)
                        .json();
                    call(format!(
                        "/v1/business-documents/{doc}/attachments/{}",
                        att["id"].as_str().unwrap()
                    ))
                }
                _ => call(path),
            }
        }
        ("PUT", "/v1/properties/{id}/waterfall") => call(path).json(&waterfall_body()),
        ("GET", "/v1/properties/{id}/waterfall")
        | ("POST", "/v1/properties/{id}/waterfall/preview") => {
            // The property has a waterfall to read.
            app.call(axum::http::Method::PUT, path.trim_end_matches("/preview"))
                .token(&app.admin_key)
                .json(&waterfall_body())
                .send()
                .await
                .expect(StatusCode::CREATED);
            let call = call(path.clone());
            if method == "POST" {
                call.json(&json!({"amount": {"amount": "1000.00", "currency": "USD"}}))
            } else {
                call
            }
        }
        ("POST", "/v1/properties/{id}/waterfall/distributions") => {
            // Nobody holds the property's shares: the run pays nobody and is done at once.
            app.call(axum::http::Method::PUT, path.trim_end_matches("/distributions"))
                .token(&app.admin_key)
                .json(&json!({"tiers": [{"kind": "return_of_capital"}]}))
                .send()
                .await
                .expect(StatusCode::CREATED);
            call(path).json(&json!({"amount": {"amount": "10.00", "currency": "USD"}}))
        }
        ("POST", "/v1/test-funds") => call(path).json(&json!({"wallet": Address::repeat_byte(0xd0), "usd": "5"})),
        ("POST", "/v1/properties/{id}/valuations") => call(path).json(&json!({
            "value": {"amount": format!("{}.00", 100_000 + n), "currency": "USD"},
            "valued_on": "2026-11-25", "source": "operator"})),
        ("POST", "/v1/properties/{id}/transactions") => call(path)
            .header("idempotency-key", &format!("rent-{n}"))
            .json(&json!({"category": "rent", "amount": {"amount": format!("{n}.00"), "currency": "USD"},
                "occurred_on": "2026-11-20", "counterparty": "Tenant"})),
        ("POST", "/v1/properties/{id}/rent-schedules") => call(path).json(&json!({
            "amount": {"amount": "1000.00", "currency": "USD"}, "day_of_month": 1,
            "starts_on": "2027-01-01", "tenant": format!("Tenant {n}")})),
        ("POST", "/v1/distributions") => call(path).json(&json!({
            "property": "1", "amount": {"amount": format!("0.{:02}", n % 100 + 1), "currency": "USD"}})),
        ("POST", "/v1/contractors") => call(path).json(&contractor_body(n)),
        ("POST", "/v1/deals/{id}/redemption") => call(format!("/v1/deals/{}/redemption", fx.sold_deal)),
        ("POST", "/v1/books/{property}/close") => call("/v1/books/1/close".to_owned())
            .json(&json!({"as_of": "2099-12-31"})),
        ("POST", "/v1/deals/{id}/sale") => {
            let sale = json!({"price": {"amount": "1000.00", "currency": "USD"},
                "selling_costs": {"amount": "10.00", "currency": "USD"}, "buyer": "Buyer",
                "sold_on": chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string()});
            if !fresh {
                call(path).header("idempotency-key", &format!("sale-{n}")).json(&sale)
            } else {
                // Each allowed call sells a listed deal on a property of its own, not tokenized.
                let property = app.post("/v1/properties").token(&app.admin_key)
                    .json(&property_body("Chicago", 41.9, -87.6, "1.00", 100))
                    .send().await.expect(StatusCode::CREATED).json()["id"].clone();
                let deal = app.post("/v1/deals").token(&app.admin_key)
                    .json(&json!({"property_id": property, "strategy": "flip",
                        "purchase_price": {"amount": "900.00", "currency": "USD"}}))
                    .send().await.expect(StatusCode::CREATED).json()["id"].as_str().unwrap().to_owned();
                for to in ["analyzing", "offer_made", "under_contract", "acquired", "listed"] {
                    app.post(&format!("/v1/deals/{deal}/transitions")).token(&app.admin_key)
                        .json(&json!({"to": to})).send().await.expect(StatusCode::OK);
                }
                call(format!("/v1/deals/{deal}/sale")).header("idempotency-key", &format!("sale-{n}")).json(&sale)
            }
        }
        ("POST", "/v1/books/{property}/fees") => call(path).json(&json!({"proceeds_bps": 0, "distribution_bps": 0})),
        ("POST", "/v1/rehab-projects") => {
            // Each allowed call starts the project of a deal of its own.
            let deal = app.post("/v1/deals").token(&app.admin_key).json(&deal_body(&fx.property))
                .send().await.expect(StatusCode::CREATED).json()["id"].clone();
            call(path).json(&json!({"deal_id": deal}))
        }
        ("POST", "/v1/rehab-projects/{id}/upgrade-scenarios") => {
            // The property's area has a sale to compare with.
            app.post("/v1/sales/imports").token(&app.admin_key).raw("text/csv",
                "address,city,region,sale_date,sale_price,living_area_sqft\n3 Comp St,Chicago,IL,2020-01-01,100000.00,1000\n")
                .send().await.expect(StatusCode::CREATED);
            call(path).json(&json!({"lines": [{"line_id": fx.line, "kind": "bathroom_added"}]}))
        }
        ("POST", "/v1/rehab-projects/{id}/lines") => call(path).json(&json!({
            "category": format!("line {n}"), "budget": {"amount": "1.00", "currency": "USD"}})),
        ("POST", "/v1/rehab-lines/{id}/bids") => call(path).json(&json!({
            "contractor_id": fx.contractor, "amount": {"amount": "1.00", "currency": "USD"},
            "scope": "work", "valid_until": "2099-01-01"})),
        ("POST", "/v1/rehab-bids/{id}/accept") => {
            // Each allowed call accepts a bid on a line of its own.
            let line = app.post(&format!("/v1/rehab-projects/{}/lines", fx.project)).token(&app.admin_key)
                .json(&json!({"category": format!("bid line {n}"), "budget": {"amount": "5.00", "currency": "USD"}}))
                .send().await.expect(StatusCode::CREATED).json()["id"].as_str().unwrap().to_owned();
            let bid = app.post(&format!("/v1/rehab-lines/{line}/bids")).token(&app.admin_key)
                .json(&json!({"contractor_id": fx.contractor, "amount": {"amount": "4.00", "currency": "USD"},
                    "scope": "work", "valid_until": "2099-01-01"}))
                .send().await.expect(StatusCode::CREATED).json()["id"].as_str().unwrap().to_owned();
            call(format!("/v1/rehab-bids/{bid}/accept"))
        }
        ("POST", "/v1/rehab-lines/{id}/draws") => call(path).json(&draw_body(fx)),
        ("POST", "/v1/rehab-lines/{id}/progress") => call(path).json(&json!({"percent_complete": n % 101})),
        ("POST", "/v1/rehab-projects/{id}/change-orders") => call(path).json(&json!({
            "from_line": fx.line, "to_line": fx.line2,
            "amount": {"amount": "0.01", "currency": "USD"}, "reason": "authz"})),
        ("POST", "/v1/rehab-draws/{id}/approve") | ("POST", "/v1/rehab-draws/{id}/release") => {
            // Each allowed call acts on a draw of its own, requested by the admin's key (and,
            // to be released, approved by an operator's).
            let d = app.post(&format!("/v1/rehab-lines/{}/draws", fx.line)).token(&app.admin_key)
                .json(&draw_body(fx)).send().await.expect(StatusCode::CREATED).json()["id"]
                .as_str().unwrap().to_owned();
            if template.ends_with("release") {
                let op = app.key("operator").await;
                app.post(&format!("/v1/rehab-draws/{d}/approve")).token(&op)
                    .send().await.expect(StatusCode::OK);
            }
            call(template.replace("{id}", &d))
        }
        ("POST", "/v1/rehab-draws/{id}/bank-payment") => {
            // A draw of its own, approved, and a rent in the bank to pay it with.
            let property = app.get(&format!("/v1/rehab-projects/{}", fx.project)).token(&app.admin_key)
                .send().await.expect(StatusCode::OK).json()["property_id"].as_str().unwrap().to_owned();
            app.post(&format!("/v1/properties/{property}/transactions")).token(&app.admin_key)
                .header("idempotency-key", &format!("bank-rent-{n}"))
                .json(&json!({"category": "rent", "amount": {"amount": "1.00", "currency": "USD"},
                    "occurred_on": "2026-11-20", "counterparty": "Tenant"}))
                .send().await.expect(StatusCode::CREATED);
            let d = app.post(&format!("/v1/rehab-lines/{}/draws", fx.line)).token(&app.admin_key)
                .json(&draw_body(fx)).send().await.expect(StatusCode::CREATED).json()["id"]
                .as_str().unwrap().to_owned();
            let op = app.key("operator").await;
            app.post(&format!("/v1/rehab-draws/{d}/approve")).token(&op)
                .send().await.expect(StatusCode::OK);
            call(template.replace("{id}", &d))
                .header("idempotency-key", &format!("bank-pay-{n}"))
                .json(&json!({"paid_on": "2026-11-21"}))
        }
        ("GET", "/v1/books/export") => call(format!("{path}?format=csv&property={}", fx.property)),
        ("POST", "/v1/audit/verifications") => call(path)
            .json(&json!({"property": fx.property, "rpc_url": w.url})),
        ("POST", "/v1/deals/{id}/offers") => call(path).json(&json!({
            "direction": "made", "amount": {"amount": "90000.00", "currency": "USD"},
            "party": "The seller", "on": "2026-11-02"})),
        ("POST", "/v1/deals/{id}/milestones") => call(path)
            .json(&json!({"name": format!("Inspection {n}"), "due_on": "2026-11-15"})),
        ("POST", "/v1/deals/{id}/costs") => call(path)
            .header("idempotency-key", &format!("cost-{n}"))
            .json(&cost_body(&format!("{n}.00"))),
        ("GET", "/v1/deals/{id}/pro-forma") => call(format!(
            "{path}?monthly_rent=900&annual_expenses=2400&hold_years=5&exit_cap_rate_percent=7"
        )),
        ("POST", "/v1/deals/{id}/transitions") => {
            // Each call moves a lead of its own.
            let d = app.post("/v1/deals").token(&app.admin_key).json(&deal_body(&fx.property))
                .send().await.expect(StatusCode::CREATED).json();
            call(format!("/v1/deals/{}/transitions", d["id"].as_str().unwrap()))
                .json(&json!({"to": "analyzing"}))
        }
        ("POST", "/v1/properties/{id}/documents") => {
            let body = format!("photo {n}");
            call(path).multipart(&[("kind", "photo")], Some(("p.jpg", "image/jpeg", body.as_bytes())))
        }
        ("POST", "/v1/auth/siwe/verify") => {
            let body = w.signed_message(&investor_key(1000 + n as u64), |_| {}).await;
            call(path).json(&body)
        }
        ("POST", "/v1/me/application") => call(path).json(&json!({"legal_name": "Ada", "email": "ada@example.com", "country": "GB"})),
        ("POST", "/v1/me/application/documents") => {
            call(path).multipart(&[("kind", "passport")], Some(("p.pdf", "application/pdf", b"%PDF passport")))
        }
        ("POST", "/v1/investors/{id}/approve") | ("POST", "/v1/investors/{id}/reject") => {
            let (_, id) = w.applicant(&investor_key(2000 + n as u64), "US").await;
            let body = if template.ends_with("approve") {
                json!({"accredited": false, "kyc_expires_on": "2099-01-01"})
            } else {
                json!({"reason": "incomplete"})
            };
            call(template.replace("{id}", &id)).json(&body)
        }
        ("POST", "/v1/me/purchases") => call(path).json(&json!({"offering": w.property.offering.address, "amount": "1"})),
        ("POST", "/v1/me/transfers") => call(path).json(&json!({"token": w.property.shares.address, "to": fx.recipient, "amount": "1"})),
        ("POST", "/v1/me/refunds") => call(path).json(&json!({"offering": fx.refund_offering})),
        ("POST", "/v1/market/tokens/{token}/approval") => call(format!(
            "/v1/market/tokens/{}/approval",
            w.property.shares.address
        ))
        .json(&json!({"required": false})),
        ("POST", "/v1/market/approvals/{trade_id}") => {
            // A trade waiting for approval: the recipient bids for one share, the buyer sells
            // into the bid while the token requires approval. The admin's key also signs the
            // outbox's actions: let them finish first so the nonces do not collide.
            w.outbox_idle().await;
            let address = w.platform.settlement.expect("a market").address;
            let as_admin = propledger_contracts::ShareSettlement::new(address, &w.admin);
            let set = |required: bool| {
                let as_admin = as_admin.clone();
                async move {
                    as_admin
                        .setApprovalRequired(w.property.shares.address, required)
                        .send()
                        .await
                        .unwrap()
                        .get_receipt()
                        .await
                        .unwrap();
                }
            };
            let now = w
                .reader
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                .await
                .unwrap()
                .unwrap()
                .header
                .timestamp;
            let one = alloy::primitives::U256::from(10u64).pow(alloy::primitives::U256::from(18u64));
            let bidder = propledger_contracts::ShareSettlement::new(address, w.wallet(&investor_key(6)));
            assert!(bidder
                .place(w.property.shares.address, 1, one, alloy::primitives::U256::from(1_000_000u64), now + 86_400)
                .send().await.unwrap().get_receipt().await.unwrap().status());
            let order = bidder.orderCount().call().await.unwrap();
            set(true).await;
            let seller = w.wallet(&investor_key(4));
            assert!(propledger_contracts::PropertyShares::new(w.property.shares.address, &seller)
                .approve(address, one)
                .send().await.unwrap().get_receipt().await.unwrap().status());
            let taker = propledger_contracts::ShareSettlement::new(address, &seller);
            assert!(taker.take(order, one).send().await.unwrap().get_receipt().await.unwrap().status());
            set(false).await;
            let trade = taker.tradeCount().call().await.unwrap();
            call(format!("/v1/market/approvals/{trade}")).json(&json!({"decision": "reject"}))
        }
        ("GET", "/v1/market/approvals") => {
            call(format!("{path}?token={}", w.property.shares.address))
        }
        ("GET", "/v1/market/orders") | ("GET", "/v1/market/trades") => {
            call(format!("{path}?token={}", w.property.shares.address))
        }
        ("POST", "/v1/me/orders") => call(path).json(&json!({
            "token": w.property.shares.address, "side": "buy", "amount": "1", "price": "1"})),
        ("POST", "/v1/me/orders/{id}/take") | ("POST", "/v1/me/orders/{id}/cancel") => {
            // A bid for one share: by another investor to take (the buyer sells into it), or
            // by the buyer to cancel.
            let maker = if template.ends_with("/take") {
                investor_key(6)
            } else {
                investor_key(4)
            };
            let market = propledger_contracts::ShareSettlement::new(
                w.platform.settlement.expect("a market").address,
                w.wallet(&maker),
            );
            let now = w
                .reader
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                .await
                .unwrap()
                .unwrap()
                .header
                .timestamp;
            let expires = now + 30 * 86_400;
            let receipt = market
                .place(
                    w.property.shares.address,
                    1,
                    alloy::primitives::U256::from(10u64).pow(alloy::primitives::U256::from(18u64)),
                    alloy::primitives::U256::from(1_000_000u64),
                    expires,
                )
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(receipt.status());
            let id = market.orderCount().call().await.unwrap();
            let path = template.replace("{id}", &id.to_string());
            if template.ends_with("/take") {
                call(path).json(&json!({"amount": "1"}))
            } else {
                call(path)
            }
        }
        ("GET", "/v1/offerings/{address}") => call(format!("/v1/offerings/{}", w.property.offering.address)),
        ("GET", "/v1/offerings/{address}/chart") => call(format!("/v1/offerings/{}/chart", w.property.offering.address)),
        ("GET", "/v1/offerings/{address}/documents") | ("GET", "/v1/offerings/{address}/documents/{id}/content") => {
            // The fixtures' tokenized property's offering, and its deed.
            let t = app.get(&format!("/v1/properties/{}/tokenization", fx.property)).token(&app.admin_key)
                .send().await.expect(StatusCode::OK).json();
            let offering = t["contracts"]["offering"].as_str().unwrap().to_owned();
            call(template.replace("{address}", &offering).replace("{id}", &fx.document))
        }
        ("POST", "/v1/sales/imports") => call(path).raw("text/csv", format!(
            "address,city,region,sale_date,sale_price\n{n} Authz St,Springfield,IL,2026-01-01,100000.00\n"
        )),
        ("GET", "/v1/market/trends") | ("GET", "/v1/market/trends/chart") => call(format!("{path}?city=Springfield&region=IL")),
        ("POST", "/v1/valuations/comps") => {
            // The area has a sale to compare with.
            app.post("/v1/sales/imports").token(&app.admin_key).raw("text/csv",
                "address,city,region,sale_date,sale_price,living_area_sqft\n1 Comp St,Springfield,IL,2020-01-01,100000.00,1000\n")
                .send().await.expect(StatusCode::CREATED);
            call(path).json(&json!({"city": "Springfield", "region": "IL", "living_area_sqft": 1200}))
        }
        ("POST", "/v1/valuations/upgrades") => {
            app.post("/v1/sales/imports").token(&app.admin_key).raw("text/csv",
                "address,city,region,sale_date,sale_price,living_area_sqft\n2 Comp St,Springfield,IL,2020-01-01,100000.00,1000\n")
                .send().await.expect(StatusCode::CREATED);
            call(path).json(&json!({"subject": {"city": "Springfield", "region": "IL", "living_area_sqft": 1200},
                "upgrades": [{"kind": "bathroom_added", "cost": {"amount": "1000.00", "currency": "USD"}}]}))
        }
        ("POST", "/v1/valuations/models") => {
            // Enough sales to train on.
            let mut csv = String::from("address,city,region,sale_date,sale_price,living_area_sqft,bedrooms\n");
            for i in 0..60 {
                csv.push_str(&format!("{i} Model St,Modelton,IL,2020-01-{:02},{}.00,{},{}\n",
                    1 + i % 28, 100_000 + 1_000 * i, 1000 + 10 * i, 2 + i % 3));
            }
            app.post("/v1/sales/imports").token(&app.admin_key).raw("text/csv", csv)
                .send().await.expect(StatusCode::CREATED);
            call(path).json(&json!({"city": "Modelton", "region": "IL"}))
        }
        ("GET", "/v1/valuations/models") => call(format!("{path}?city=Modelton&region=IL")),
        ("GET", "/v1/rehab-projects") => call(format!("/v1/rehab-projects?property_id={}", fx.property)),
        ("POST", "/v1/offerings/{address}/finalize") | ("POST", "/v1/offerings/{address}/cancel") => {
            let offering = if !fresh {
                w.property.offering.address
            } else if template.ends_with("finalize") {
                // Its window ends, so it may be finalized.
                let p = w.another_property(5).await;
                w.admin.raw_request::<_, Value>("evm_increaseTime".into(), json!([60])).await.unwrap();
                w.admin.raw_request::<_, Value>("evm_mine".into(), json!([])).await.unwrap();
                p.offering.address
            } else {
                w.another_property(86_400).await.offering.address
            };
            call(template.replace("{address}", &offering.to_string()))
        }
        ("GET", "/v1/tokens/{token}/rules") => call(format!("/v1/tokens/{}/rules", w.property.shares.address)),
        ("PUT", "/v1/tokens/{token}/rules") => call(format!("/v1/tokens/{}/rules", w.property.shares.address)).json(&json!({
            "accredited_only": false, "countries_restricted": false, "allowed_countries": ["US"],
            "max_investors": 0, "lockup_until": null, "max_balance_per_investor": "0", "min_holding": "0"
        })),
        ("POST", "/v1/tokens/{token}/freezes") => call(format!("/v1/tokens/{}/freezes", w.property.shares.address))
            .json(&json!({"wallet": Address::repeat_byte(0x42), "frozen": true, "reason": "test"})),
        ("POST", "/v1/tokens/{token}/forced-transfers") => call(format!("/v1/tokens/{}/forced-transfers", w.property.shares.address))
            .json(&json!({"from": investor_key(4).address(), "to": fx.recipient, "amount": "1", "reason": "court order"})),
        ("POST", "/v1/tokens/{token}/recoveries") => {
            let lost = fx.keeper_wallet.lock().unwrap().0;
            let new = investor_key(7000 + n as u64).address();
            if fresh {
                let a = app.post(&format!("/v1/investors/{}/wallets", fx.keeper)).token(&app.admin_key)
                    .json(&json!({"wallet": new})).send().await.expect(StatusCode::ACCEPTED).json();
                w.settled(&[a]).await;
                fx.keeper_wallet.lock().unwrap().1 = Some(new);
            }
            call(format!("/v1/tokens/{}/recoveries", w.property.shares.address))
                .json(&json!({"lost_wallet": lost, "new_wallet": new, "reason": "lost key"}))
        }
        ("POST", "/v1/investors/{id}/wallets") => call(format!("/v1/investors/{}/wallets", fx.approved))
            .json(&json!({"wallet": investor_key(8000 + n as u64).address()})),
        ("DELETE", "/v1/investors/{id}/wallets/{wallet}") => {
            let wallet = investor_key(9000 + n as u64).address();
            if fresh {
                let a = app.post(&format!("/v1/investors/{}/wallets", fx.approved)).token(&app.admin_key)
                    .json(&json!({"wallet": wallet})).send().await.expect(StatusCode::ACCEPTED).json();
                w.settled(&[a]).await;
            }
            call(format!("/v1/investors/{}/wallets/{wallet}", fx.approved))
        }
        ("POST", "/v1/investors/{id}/freeze") => call(format!("/v1/investors/{}/freeze", fx.approved))
            .json(&json!({"frozen": false, "reason": "review done"})),
        ("POST", "/v1/investors/registrations") => call(path).json(&json!({"investors": [{
            "legal_name": "Imported Investor", "email": "imported@example.com", "country": "US",
            "accredited": true, "kyc_expires_on": "2099-01-01",
            "wallet": investor_key(8000 + n as u64).address(),
        }]})),
        ("POST", "/v1/tokens/{token}/issuances") => call(format!("/v1/tokens/{}/issuances", w.property.shares.address))
            .header("idempotency-key", &format!("authz-issue-{n}"))
            .json(&json!({"holders": [{"wallet": fx.investor_wallet, "shares": "1"}], "reason": "migration"})),
        ("POST", "/v1/investors/freezes") => call(path)
            .json(&json!({"investor_ids": [fx.approved], "frozen": false, "reason": "review done"})),
        ("POST", "/v1/compliance/check") => call(path).json(&json!({
            "token": w.property.shares.address,
            "from": fx.investor_wallet,
            "to": investor_key(3).address(),
            "amount": "1",
        })),
        _ => call(path),
    }
}

async fn every_route_for_every_caller(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    let app = &w.app;

    // The table and the OpenAPI document list the same routes, with the same roles.
    let doc = app
        .get("/v1/openapi.json")
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let roles: Vec<String> = op["x-roles"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} has no x-roles"))
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            documented.insert((method.to_uppercase(), path.clone(), roles));
        }
    }
    let table: BTreeSet<(String, String, Vec<String>)> = TABLE
        .iter()
        .map(|(m, p, r)| {
            (
                (*m).to_owned(),
                (*p).to_owned(),
                r.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect();
    let missing: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes in the OpenAPI document that the table lacks (or with other roles): {missing:?}"
    );
    let extra: Vec<_> = table.difference(&documented).collect();
    assert!(
        extra.is_empty(),
        "routes in the table the OpenAPI document lacks: {extra:?}"
    );

    let fx = fixtures(&w).await;
    let mut n = 0;
    for (method, template, allowed) in TABLE {
        let mut callers = vec![Caller::Nobody, Caller::RevokedKey, Caller::ExpiredSession];
        callers.extend(EVERYONE.iter().map(|r| Caller::Role(r)));
        for caller in callers {
            n += 1;
            let permitted =
                allowed.is_empty() || matches!(&caller, Caller::Role(r) if allowed.contains(r));
            let call = request(&w, &fx, method, template, n, permitted).await;
            let token = match &caller {
                Caller::Nobody => None,
                Caller::RevokedKey => Some(fx.revoked_key.clone()),
                Caller::ExpiredSession => Some(fx.expired_session.clone()),
                Caller::Role("investor") => {
                    if (*method, *template) == ("DELETE", "/v1/auth/session") {
                        Some(w.sign_in(&investor_key(3000 + n as u64)).await)
                    } else if template.starts_with("/v1/me/")
                        && !template.starts_with("/v1/me/application")
                    {
                        Some(fx.buyer_session.clone())
                    } else {
                        Some(fx.investor_session.clone())
                    }
                }
                Caller::Role(r) => {
                    if (*method, *template) == ("DELETE", "/v1/auth/session") {
                        // Signing out ends the caller's session: use one made for this call.
                        let s = app.staff(&format!("leaving-{n}"), r).await;
                        Some(app.sign_in(&s, 0).await)
                    } else {
                        fx.sessions
                            .iter()
                            .find(|(role, _)| role == r)
                            .map(|(_, t)| t.clone())
                    }
                }
            };
            let before = snapshot(app).await;
            let call = match &token {
                Some(t) => call.token(t),
                None => call,
            };
            let r = call.send().await;
            if *template == "/v1/tokens/{token}/recoveries" && r.status.is_success() {
                // The shares are now in the new wallet: the next recovery starts there.
                w.outbox_idle().await;
                let mut k = fx.keeper_wallet.lock().unwrap();
                if let Some(new) = k.1.take() {
                    k.0 = new;
                }
            }
            let what = format!("{method} {template} as {caller:?}");
            if permitted {
                assert!(
                    r.status.is_success(),
                    "{what}: expected success, got {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.bytes)
                );
            } else {
                let expected = match caller {
                    Caller::Role(_) => StatusCode::FORBIDDEN,
                    _ => StatusCode::UNAUTHORIZED,
                };
                assert_eq!(
                    r.status,
                    expected,
                    "{what}: {}",
                    String::from_utf8_lossy(&r.bytes)
                );
                let kind = if expected == StatusCode::FORBIDDEN {
                    "forbidden"
                } else {
                    "unauthenticated"
                };
                r.problem(expected, kind, None);
                let after = snapshot(app).await;
                // Preparing a call may make its target; the refused call itself changes nothing.
                assert_eq!(before, after, "{what} changed the state");
            }
        }
    }
    let refused: Value = app
        .get("/v1/audit-log?outcome=refused&limit=200")
        .token(&app.admin_key)
        .send()
        .await
        .json();
    assert!(!refused["items"].as_array().unwrap().is_empty());
}
