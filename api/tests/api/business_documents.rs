//! Business documents through the router: a history of edits by several users, diffs, a
//! rollback, a clean merge and a conflicting one, the approval flow (a self-approval refused),
//! permissions per role and per document, the audit trail, search, templates rendered with the
//! books' figures to HTML and PDF, and a publication proven against the chain.

use alloy::primitives::{B256, keccak256};
use axum::http::StatusCode;
use propledger_api::db::Engine;
use serde_json::{Value, json};

use crate::chainapp::ChainApp;
use crate::support::{Staff, TestApp, both_engines, property_body};

both_engines!(
    a_document_through_its_life,
    templates_render_the_books,
    a_publication_is_proven_on_chain,
);

const DOCS: &str = "/v1/business-documents";

fn sop() -> Value {
    json!({
        "type": "sop",
        "title": "Tenant move-in",
        "comment": "first draft",
        "content": {"sections": [
            {"title": "Scope", "body": "Applies to every unit we lease.\n"},
            {"title": "Steps", "body": "1. Inspect the unit.\n2. Hand over the keys.\n3. File the checklist.\n"},
            {"title": "Records", "body": "Keep the signed checklist for seven years.\n"}
        ]},
    })
}

/// The content of `doc` with the body of section `key` replaced.
fn with_body(doc: &Value, key: &str, body: &str) -> Value {
    let mut content = doc["content"].clone();
    for s in content["sections"].as_array_mut().unwrap() {
        if s["key"] == key {
            s["body"] = json!(body);
        }
    }
    content
}

fn etag(r: &crate::support::Resp) -> String {
    r.headers["etag"].to_str().unwrap().to_owned()
}

async fn a_document_through_its_life(engine: Engine) {
    let app = TestApp::new(engine).await;
    let mut people: Vec<(Staff, String)> = Vec::new();
    for (name, role) in [
        ("ada", "operator"),
        ("bob", "compliance"),
        ("cyd", "compliance"),
        ("dan", "admin"),
        ("eve", "operator"),
        ("aud", "auditor"),
    ] {
        let s = app.staff(name, role).await;
        let t = app.sign_in(&s, 0).await;
        people.push((s, t));
    }
    let [ada, bob, cy, dan, eve, aud] = [0, 1, 2, 3, 4, 5].map(|i| people[i].1.clone());
    let id_of = |i: usize| people[i].0.id.clone();
    let subject = |i: usize| format!("user:{}", people[i].0.id);

    // Ada writes the first version; Bob, Cy and Dan approve, two of them needed.
    let mut body = sop();
    body["permissions"] =
        json!({"approvers": [id_of(1), id_of(2), id_of(3)], "approvals_required": 2});
    let r = app.post(DOCS).token(&ada).json(&body).send().await;
    let v1 = r.expect(StatusCode::CREATED).json();
    assert_eq!(etag(&r), "\"1\"");
    let id = v1["id"].as_str().unwrap().to_owned();
    let doc = format!("{DOCS}/{id}");
    let keys: Vec<_> = v1["content"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["scope", "steps", "records"]);
    assert_eq!(
        (
            v1["status"].as_str(),
            v1["version"].as_i64(),
            v1["owner"].as_str()
        ),
        (Some("draft"), Some(1), Some(subject(0).as_str()))
    );
    assert_eq!(v1["approvers"].as_array().unwrap().len(), 3);
    assert_eq!(v1["sha256"].as_str().unwrap().len(), 64);

    // The auditor reads but never writes; an unknown approver is named.
    app.post(DOCS)
        .token(&aud)
        .json(&sop())
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    let mut bad = sop();
    bad["permissions"] = json!({"approvers": ["nobody"]});
    app.post(DOCS).token(&ada).json(&bad).send().await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/permissions/approvers/0"),
    );
    let mut bad = sop();
    bad["content"]["sections"][0]["body"] = json!("Due {{due_date}}");
    app.post(DOCS).token(&ada).json(&bad).send().await.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/content/sections/0/body"),
    );

    // Bob edits the steps on version 1: version 2.
    let r = app
        .put(&doc)
        .token(&bob)
        .header("if-match", "\"1\"")
        .json(&json!({"content": with_body(&v1, "steps",
            "1. Inspect the unit with the tenant.\n2. Hand over the keys.\n3. File the checklist.\n"),
            "comment": "inspect together"}))
        .send()
        .await;
    let v2 = r.expect(StatusCode::OK).json();
    assert_eq!(etag(&r), "\"2\"");
    // Ada, still on version 1, edits the records: merged with Bob's change as version 3.
    let v3 = app
        .put(&doc)
        .token(&ada)
        .header("if-match", "\"1\"")
        .json(&json!({"content": with_body(&v1, "records",
            "Keep the signed checklist for seven years, scanned.\n"), "comment": "scan"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(v3["version"], 3);
    let bodies: Vec<_> = v3["content"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            "Applies to every unit we lease.\n",
            "1. Inspect the unit with the tenant.\n2. Hand over the keys.\n3. File the checklist.\n",
            "Keep the signed checklist for seven years, scanned.\n"
        ]
    );
    // Eve, on version 1 too, rewrites the steps Bob changed: a conflict naming them, and
    // nothing saved.
    let conflict = app
        .put(&doc)
        .token(&eve)
        .header("if-match", "\"1\"")
        .json(&json!({"content": with_body(&v1, "steps", "1. Hand over the keys.\n")}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(conflict["code"], "merge_conflict");
    assert_eq!(conflict["conflicts"], json!(["steps"]));
    assert_eq!(conflict["current_version"], 3);
    // No If-Match: refused; a version that does not exist yet: 412.
    app.put(&doc)
        .token(&eve)
        .json(&json!({"content": v1["content"]}))
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("If-Match"));
    app.put(&doc)
        .token(&eve)
        .header("if-match", "\"9\"")
        .json(&json!({"content": v1["content"]}))
        .send()
        .await
        .problem(StatusCode::PRECONDITION_FAILED, "precondition-failed", None);
    let r = app.get(&doc).token(&aud).send().await;
    assert_eq!(etag(&r), "\"3\"");

    // The diff from 1 to 3: the steps and the records changed, line by line.
    let d = app
        .get(&format!("{doc}/diff?from=1&to=3"))
        .token(&aud)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let changed: Vec<_> = d["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].as_str().unwrap(), s["change"].as_str().unwrap()))
        .collect();
    assert_eq!(changed, [("steps", "changed"), ("records", "changed")]);
    let lines: Vec<String> = d["sections"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}{}",
                l["op"].as_str().unwrap(),
                l["text"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "-1. Inspect the unit.",
            "+1. Inspect the unit with the tenant.",
            " 2. Hand over the keys.",
            " 3. File the checklist."
        ]
    );
    app.get(&format!("{doc}/diff?from=1&to=99"))
        .token(&aud)
        .send()
        .await
        .expect(StatusCode::NOT_FOUND);

    // Rollback to version 2: version 4, with version 2's text and hash.
    let v4 = app
        .post(&format!("{doc}/rollback"))
        .token(&ada)
        .header("if-match", "\"3\"")
        .json(&json!({"version": 2, "comment": "not scanned yet"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(v4["version"], 4);
    assert_eq!(v4["sha256"], v2["sha256"]);
    assert_eq!(v4["content"], v2["content"]);

    // Bob writes version 5, which Ada submits.
    let v5 = app
        .put(&doc)
        .token(&bob)
        .header("if-match", "\"4\"")
        .json(&json!({"content": with_body(&v4, "scope", "Applies to every unit we lease or manage.\n")}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let submitted = app
        .post(&format!("{doc}/submit"))
        .token(&ada)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        (
            submitted["status"].as_str(),
            submitted["review_version"].as_i64()
        ),
        (Some("in_review"), Some(5))
    );
    let approve = |token: &str| {
        app.post(&format!("{doc}/approvals"))
            .token(token)
            .json(&json!({"decision": "approve"}))
    };
    // Bob wrote version 5: he may not approve it. Eve is not an approver.
    let own = approve(&bob)
        .send()
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden", None);
    assert!(own["detail"].as_str().unwrap().contains("author"), "{own}");
    approve(&eve)
        .send()
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden", None);
    approve(&cy).send().await.expect(StatusCode::OK);
    approve(&cy)
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    // One approval of two: not yet.
    let missing = app
        .post(&format!("{doc}/publish"))
        .token(&ada)
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(missing["code"], "approvals_missing");
    approve(&dan).send().await.expect(StatusCode::OK);
    let published = app
        .post(&format!("{doc}/publish"))
        .token(&ada)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        (
            published["status"].as_str(),
            published["published_version"].as_i64()
        ),
        (Some("published"), Some(5))
    );
    assert_eq!(published["approvals"], json!([]));

    // An edit after publishing is a new draft; version 5 stays in force, unchanged.
    let v6 = app
        .put(&doc)
        .token(&ada)
        .header("if-match", "\"5\"")
        .json(&json!({"title": "Tenant move-in procedure", "content": v5["content"]}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        (v6["status"].as_str(), v6["published_version"].as_i64()),
        (Some("draft"), Some(5))
    );
    let five = app
        .get(&format!("{doc}/versions/5"))
        .token(&aud)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(five["sha256"], v5["sha256"]);
    assert_eq!(five["published"], true);
    assert_eq!(five["title"], "Tenant move-in");
    // A rejection needs a reason and sends the draft back.
    app.post(&format!("{doc}/submit"))
        .token(&ada)
        .header("if-match", "\"6\"")
        .send()
        .await
        .expect(StatusCode::OK);
    app.post(&format!("{doc}/approvals"))
        .token(&cy)
        .json(&json!({"decision": "reject"}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/comment"),
        );
    let rejected = app
        .post(&format!("{doc}/approvals"))
        .token(&cy)
        .json(&json!({"decision": "reject", "comment": "keep the old title"}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(rejected["status"], "draft");

    // Versions, newest first, with their kinds and authors.
    let versions = app
        .get(&format!("{doc}/versions"))
        .token(&aud)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let listed: Vec<(i64, String, String, Option<i64>)> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["number"].as_i64().unwrap(),
                v["kind"].as_str().unwrap().to_owned(),
                v["author"].as_str().unwrap().to_owned(),
                v["base"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (6, "edited".into(), subject(0), None),
            (5, "edited".into(), subject(1), None),
            (4, "rolled_back".into(), subject(0), Some(2)),
            (3, "merged".into(), subject(0), Some(1)),
            (2, "edited".into(), subject(1), None),
            (1, "created".into(), subject(0), None),
        ]
    );

    // Restricted to its members: Eve (not one) no longer sees it, the auditor and the
    // approvers still do; only editors change permissions.
    app.put(&format!("{doc}/permissions"))
        .token(&aud)
        .json(&json!({"restricted": true}))
        .send()
        .await
        .expect(StatusCode::FORBIDDEN);
    let restricted = app
        .put(&format!("{doc}/permissions"))
        .token(&ada)
        .json(&json!({"restricted": true, "editors": [id_of(0)]}))
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(restricted["restricted"], true);
    app.get(&doc)
        .token(&eve)
        .send()
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden", None);
    for who in [&aud, &bob, &dan] {
        app.get(&doc).token(who).send().await.expect(StatusCode::OK);
    }
    // Bob approves but no longer edits (editors are listed now).
    app.put(&doc)
        .token(&bob)
        .header("if-match", "\"6\"")
        .json(&json!({"content": v5["content"]}))
        .send()
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden", None);
    let listed_by = |token: String| {
        let app = &app;
        async move {
            app.get(DOCS)
                .token(&token)
                .send()
                .await
                .expect(StatusCode::OK)
                .json()["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(listed_by(eve.clone()).await, 0);
    assert_eq!(listed_by(aud.clone()).await, 1);

    // A second, open document; search finds words in titles and bodies (stemmed), only where
    // the caller may look.
    let other = app
        .post(DOCS)
        .token(&eve)
        .json(&json!({"type": "policy", "title": "Key handover policy",
            "content": {"sections": [{"title": "Keys", "body": "Keys are handed over in person."}]}}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let search = |token: String, q: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("{DOCS}/search?q={q}"))
                .token(&token)
                .send()
                .await
                .expect(StatusCode::OK)
                .json()["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let found = search(aud.clone(), "inspecting").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["id"], id.as_str());
    let snippet = found[0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("[Inspect]"), "{snippet}");
    let found = search(aud.clone(), "keys").await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0]["id"], other["id"], "the title's match ranks first");
    let found = search(eve.clone(), "keys").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(search(aud.clone(), "%22unbalanced").await.is_empty());
    app.get(&format!("{DOCS}/search?q="))
        .token(&aud)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("q"));
    let policies = app
        .get(&format!("{DOCS}?type=policy"))
        .token(&aud)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(policies["items"].as_array().unwrap().len(), 1);

    // A file attached goes to the blob store and comes back byte for byte.
    let att = app
        .post(&format!("{doc}/attachments"))
        .token(&ada)
        .multipart(
            &[("title", "Move-in checklist")],
            Some(("checklist.pdf", "application/pdf", b"%PDF-1.7 checklist")),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let listed = app.get(&doc).token(&aud).send().await.json();
    assert_eq!(listed["attachments"][0]["id"], att["id"]);
    assert_eq!(listed["attachments"][0]["title"], "Move-in checklist");
    let bytes = app
        .get(att["content_url"].as_str().unwrap())
        .token(&aud)
        .send()
        .await;
    assert_eq!(bytes.status, StatusCode::OK);
    assert_eq!(bytes.bytes, b"%PDF-1.7 checklist");
    app.get(att["content_url"].as_str().unwrap())
        .token(&eve)
        .send()
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden", None);

    // Archived: read-only.
    app.post(&format!("{doc}/archive"))
        .token(&ada)
        .send()
        .await
        .expect(StatusCode::OK);
    let archived = app
        .put(&doc)
        .token(&ada)
        .header("if-match", "\"6\"")
        .json(&json!({"content": v5["content"]}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(archived["code"], "archived");

    // The audit trail holds every action that happened, and none that was refused.
    let trail = app
        .get(&format!("{doc}/history"))
        .token(&aud)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let actions: Vec<(String, String, Option<i64>)> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["version"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("created".into(), subject(0), Some(1)),
            ("edited".into(), subject(1), Some(2)),
            ("merged".into(), subject(0), Some(3)),
            ("rolled_back".into(), subject(0), Some(4)),
            ("edited".into(), subject(1), Some(5)),
            ("submitted".into(), subject(0), Some(5)),
            ("approved".into(), subject(2), Some(5)),
            ("approved".into(), subject(3), Some(5)),
            ("published".into(), subject(0), Some(5)),
            ("edited".into(), subject(0), Some(6)),
            ("submitted".into(), subject(0), Some(6)),
            ("rejected".into(), subject(2), Some(6)),
            ("permissions_changed".into(), subject(0), None),
            ("attached".into(), subject(0), None),
            ("archived".into(), subject(0), Some(6)),
        ]
    );
    assert_eq!(
        trail["items"][11]["detail"]["comment"],
        "keep the old title"
    );
    // The trail cannot be rewritten, even from the database.
    let mut tx = app.api.db().begin().await.unwrap();
    let rewrite = propledger_api::db::Query::new(
        "UPDATE api_business_document_events SET actor = 'someone else'",
    )
    .execute(tx.exec())
    .await;
    assert!(rewrite.is_err(), "the trail was rewritten");
}

/// Rent, expenses and a valuation through the API, and two investors' capital in the books.
async fn books(app: &TestApp, ledger: &propledger_ledger::Ledger, op: &str) -> String {
    let property = app
        .post("/v1/properties")
        .token(op)
        .json(&property_body("Chicago", 41.9, -87.6, "250000.00", 1200))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (i, (category, amount, on)) in [
        ("rent", "2000.00", "2026-01-05"),
        ("rent", "2000.00", "2026-02-05"),
        ("rent", "2000.00", "2026-03-05"),
        ("taxes", "1200.00", "2026-02-10"),
        ("repairs", "300.00", "2026-03-10"),
    ]
    .into_iter()
    .enumerate()
    {
        app.post(&format!("/v1/properties/{property}/transactions"))
            .token(op)
            .header("idempotency-key", &format!("t{i}"))
            .json(
                &json!({"category": category, "amount": {"amount": amount, "currency": "USD"},
                          "occurred_on": on, "counterparty": "Acme Property Co"}),
            )
            .send()
            .await
            .expect(StatusCode::CREATED);
    }
    app.post(&format!("/v1/properties/{property}/valuations"))
        .token(op)
        .json(&json!({"value": {"amount": "300000.00", "currency": "USD"}, "valued_on": "2026-04-01", "source": "operator"}))
        .send()
        .await
        .expect(StatusCode::CREATED);
    crate::books::capital(ledger, &property).await;
    property
}

/// Writes a PDF's pages as PNG images to `docs/business-documents/<name>-<n>.png`.
fn page_images(pdf: &[u8], name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/business-documents");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "80"])
        .arg(&file)
        .arg(dir.join(name))
        .output()
        .expect("pdftoppm (Debian's poppler-utils; scripts/install-test-tools installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn templates_render_the_books(engine: Engine) {
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
    let property = books(&app, &ledger, &op).await;

    let templates = app
        .get("/v1/business-document-templates")
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let names: Vec<_> = templates["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["investor_statement", "deal_memo"]);

    // A deal memo from the built-in template, rendered with its variables and the books.
    let memo = app
        .post(DOCS)
        .token(&op)
        .json(&json!({"template": "deal_memo"}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(memo["type"], "deal_memo");
    let render = format!("{DOCS}/{}/render", memo["id"].as_str().unwrap());
    let variables = json!({
        "purchase_price": {"amount": "240000", "currency": "USD"},
        "closing_date": "2026-12-15",
        "thesis": "Rent below the market, with room to raise it",
        "risks": ["A roof near the end of its life", "Vacancy between tenants"],
    });
    let pdf = app
        .post(&render)
        .token(&auditor)
        .json(&json!({"variables": variables, "property_id": property, "as_of": "2026-11-30"}))
        .send()
        .await;
    assert_eq!(
        pdf.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&pdf.bytes)
    );
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    let text = words(&crate::support::pdf_text(&pdf.bytes));
    for expected in [
        "Deal memo: 1420 W Wrightwood Ave, Chicago, IL 60614",
        "listed at 250000.00 USD",
        "Purchase price 240000.00 USD, closing by 2026-12-15",
        "Thesis: Rent below the market, with room to raise it",
        "2025-12-01 to 2026-11-30",
        "income 6000.00 USD",
        "expenses 1500.00 USD",
        "NOI 4500.00 USD",
        "Latest value 300000.00 USD",
        "cap rate 1.50%",
        "Budget 0.00 USD",
        "No rehab budget lines.",
        "A roof near the end of its life, Vacancy between tenants",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    // Missing and mistyped variables are named; so is a missing property.
    let bad = app
        .post(&render)
        .token(&auditor)
        .json(
            &json!({"variables": {"closing_date": "soon", "purchase_price": 5},
                      "property_id": property}),
        )
        .send()
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", None);
    let pointers: Vec<_> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/variables/purchase_price",
            "/variables/closing_date",
            "/variables/thesis"
        ]
    );
    app.post(&render)
        .token(&auditor)
        .json(&json!({"variables": variables}))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/property_id"),
        );

    // The investor statement: the capital account exactly as the books hold it.
    let statement = app
        .post(DOCS)
        .token(&op)
        .json(&json!({"template": "investor_statement"}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let render = format!("{DOCS}/{}/render", statement["id"].as_str().unwrap());
    let body = json!({"property_id": property, "investor": "inv-a", "as_of": "2026-11-30",
                      "variables": {"note": "Thank you for investing with us."}});
    let pdf = app.post(&render).token(&auditor).json(&body).send().await;
    assert_eq!(
        pdf.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&pdf.bytes)
    );
    let accounts = app
        .get(&format!(
            "/v1/books/{property}/capital-accounts?as_of=2026-11-30"
        ))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let a = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["investor"] == "inv-a")
        .unwrap()
        .clone();
    let text = words(&crate::support::pdf_text(&pdf.bytes));
    for expected in [
        "Investor statement: inv-a".to_owned(),
        "as of 2026-11-30".to_owned(),
        "Thank you for investing with us.".to_owned(),
        "100000.000000 USD".to_owned(),
        "2000.000000 USD".to_owned(),
        "98000.000000 USD".to_owned(),
        "71.0145%".to_owned(),
        format!("{} USD", a["current_value"]["amount"].as_str().unwrap()),
        "Net operating income for 2025-12-01 to 2026-11-30: 4500.00 USD".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} in {text}");
    }
    assert_eq!(a["contributed"]["amount"], "100000.000000");
    // The same as HTML: values escaped, nothing runs.
    let html = app
        .post(&render)
        .token(&auditor)
        .json(
            &json!({"format": "html", "property_id": property, "investor": "inv-a",
                      "as_of": "2026-11-30", "variables": {"note": "<script>alert(1)</script>"}}),
        )
        .send()
        .await;
    assert_eq!(html.status, StatusCode::OK);
    assert_eq!(html.headers["content-type"], "text/html; charset=utf-8");
    let page = String::from_utf8(html.bytes.clone()).unwrap();
    assert!(page.contains("<td>100000.000000 USD</td>"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    app.post(&render)
        .token(&auditor)
        .json(&json!({"property_id": property, "investor": "inv-z"}))
        .send()
        .await
        .problem(StatusCode::CONFLICT, "conflict", None);

    if engine == Engine::Sqlite {
        page_images(
            &app.post(&format!("{DOCS}/{}/render", memo["id"].as_str().unwrap()))
                .token(&auditor)
                .json(&json!({"variables": variables, "property_id": property, "as_of": "2026-11-30"}))
                .send()
                .await
                .bytes,
            "deal-memo",
        );
        page_images(&pdf.bytes, "investor-statement");
    }
}

/// A property with a posted entry in its books (anchors need one).
async fn some_books(w: &ChainApp, op: &str) {
    let app = &w.app;
    let property = app
        .post("/v1/properties")
        .token(op)
        .json(&property_body("Boise", 43.6, -116.2, "250000.00", 1300))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("/v1/properties/{property}/transactions"))
        .token(op)
        .header("idempotency-key", "rent-1")
        .json(
            &json!({"category": "rent", "amount": {"amount": "900.00", "currency": "USD"},
                      "occurred_on": "2026-11-02", "counterparty": "Tenant"}),
        )
        .send()
        .await
        .expect(StatusCode::CREATED);
}

/// A tokenized property whose deal has a rehab project: a roof line of 10,000 USD with an
/// accepted bid of 9,000 and a draw of 3,000 released on chain, and a paint line of 2,000.
async fn rehab(w: &ChainApp, op: &str) -> String {
    let app = &w.app;
    let approver = app.key("operator").await;
    let property = crate::chain_audit::tokenized_with_a_deposit(w, op).await;
    let usd = |a: &str| json!({"amount": a, "currency": "USD"});
    let post = |token: &str, path: String, body: Value| {
        let call = app.post(&path).token(token).json(&body);
        async move { call.send().await }
    };
    let deal = post(
        op,
        "/v1/deals".into(),
        json!({"property_id": property, "strategy": "flip", "purchase_price": usd("150000")}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json()["id"]
        .clone();
    let project = post(op, "/v1/rehab-projects".into(), json!({"deal_id": deal}))
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut lines = Vec::new();
    let mut actions = Vec::new();
    for (category, budget) in [("roof", "10000"), ("paint", "2000")] {
        let l = post(
            op,
            format!("/v1/rehab-projects/{project}/lines"),
            json!({"category": category, "budget": usd(budget)}),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
        actions.push(json!({"id": l["budget_actions"][0]}));
        lines.push(l["id"].as_str().unwrap().to_owned());
    }
    for a in w.settled(&actions).await {
        assert_eq!(a["status"], "confirmed", "{a}");
    }
    let acme = post(
        op,
        "/v1/contractors".into(),
        json!({"company": "Acme Roofing", "trade": "roofing", "contact_name": "Sam",
               "email": "sam@example.com", "license_number": "L-1",
               "license_expires_on": "2099-01-01", "insurance_expires_on": "2099-01-01",
               "rating": 4, "payout_wallet": alloy::primitives::Address::repeat_byte(0xa1)}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json()["id"]
        .clone();
    let bid = post(
        op,
        format!("/v1/rehab-lines/{}/bids", lines[0]),
        json!({"contractor_id": acme, "amount": usd("9000"), "scope": "reshingle",
               "valid_until": "2099-01-01"}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();
    post(
        op,
        format!("/v1/rehab-bids/{}/accept", bid["id"].as_str().unwrap()),
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let invoice = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(op)
        .multipart(
            &[("kind", "invoice")],
            Some(("invoice.pdf", "application/pdf", b"%PDF roof invoice")),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .clone();
    let draw = post(
        op,
        format!("/v1/rehab-lines/{}/draws", lines[0]),
        json!({"contractor_id": acme, "amount": usd("3000"), "invoice_document_id": invoice}),
    )
    .await
    .expect(StatusCode::CREATED)
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &approver,
        format!("/v1/rehab-draws/{draw}/approve"),
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    let released = post(op, format!("/v1/rehab-draws/{draw}/release"), json!({}))
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    let settled = w.settled(&[json!({"id": released["action_id"]})]).await;
    assert_eq!(settled[0]["status"], "confirmed", "{settled:?}");
    w.caught_up().await;
    property
}

/// The root a leaf and its proof lead to, hashing pairs in sorted order.
fn fold(leaf: B256, proof: &[Value]) -> B256 {
    proof.iter().fold(leaf, |acc, s| {
        let s: B256 = s.as_str().unwrap().parse().unwrap();
        let (lo, hi) = if acc <= s { (acc, s) } else { (s, acc) };
        keccak256([lo.as_slice(), hi.as_slice()].concat())
    })
}

async fn a_publication_is_proven_on_chain(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    w.caught_up().await;
    let app = &w.app;
    let op = app.key("operator").await;
    let compliance = app.key("compliance").await;
    let auditor = app.key("auditor").await;
    some_books(&w, &op).await;

    // Three policies published (so the tree has more than one level), the second one proven.
    let mut published = Vec::new();
    for n in 0..3 {
        let d = app
            .post(DOCS)
            .token(&op)
            .json(&json!({"type": "policy", "title": format!("Policy {n}"),
                "content": {"sections": [{"title": "Rule", "body": format!("Rule number {n}.")}]}}))
            .send()
            .await
            .expect(StatusCode::CREATED)
            .json();
        let doc = format!("{DOCS}/{}", d["id"].as_str().unwrap());
        app.post(&format!("{doc}/submit"))
            .token(&op)
            .send()
            .await
            .expect(StatusCode::OK);
        app.post(&format!("{doc}/approvals"))
            .token(&compliance)
            .json(&json!({"decision": "approve"}))
            .send()
            .await
            .expect(StatusCode::OK);
        app.post(&format!("{doc}/publish"))
            .token(&op)
            .send()
            .await
            .expect(StatusCode::OK);
        published.push((doc, d));
    }
    let (doc, d) = &published[1];
    // Not anchored yet: no proof.
    let before = app
        .get(&format!("{doc}/versions/1/proof"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert!(before.get("anchor").is_none(), "{before}");
    assert_eq!(before["publication"], 2);

    let asked = app
        .post("/v1/audit/anchors")
        .token(&app.admin_key)
        .send()
        .await
        .expect(StatusCode::ACCEPTED)
        .json();
    let action = json!({"id": asked["anchor"]["action_id"]});
    assert_eq!(w.settled(&[action]).await[0]["status"], "confirmed");
    let proof = app
        .get(&format!("{doc}/versions/1/proof"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(proof["anchor"]["publications"], 3, "{proof}");
    assert_eq!(
        proof["anchor"]["documents_root"],
        asked["anchor"]["documents_root"]
    );

    // Checked without the API: the version's hash from its text, the leaf, the path, and the
    // root the chain's Anchored event holds.
    let version = app
        .get(&format!("{doc}/versions/1"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    let canonical = r#"{"type":"policy","title":"Policy 1","content":{"sections":[{"key":"rule","title":"Rule","body":"Rule number 1."}],"variables":[]}}"#;
    let sha = sha2_hex(canonical.as_bytes());
    assert_eq!(proof["sha256"], sha);
    let mut pre = d["id"].as_str().unwrap().as_bytes().to_vec();
    pre.extend_from_slice(&1u64.to_be_bytes());
    pre.extend_from_slice(&hex::decode(&sha).unwrap());
    let leaf = keccak256(keccak256(&pre));
    assert_eq!(proof["leaf"], format!("{leaf:#x}"));
    let anchor = propledger_contracts::LedgerAnchor::new(
        w.platform.anchor.as_ref().unwrap().address,
        &w.reader,
    );
    let events = anchor
        .Anchored_filter()
        .from_block(0)
        .query()
        .await
        .unwrap();
    let (event, _) = events.last().unwrap();
    assert_ne!(event.documentsRoot, B256::ZERO);
    assert_eq!(
        fold(leaf, proof["proof"].as_array().unwrap()),
        event.documentsRoot
    );

    // The API's check agrees; an edited text fails it.
    let verify = |title: &Value, content: &Value| {
        app.post(&format!("{doc}/versions/1/verify"))
            .token(&auditor)
            .json(&json!({"title": title, "content": content}))
    };
    let ok = verify(&version["title"], &version["content"])
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(ok["verified"], true, "{ok}");
    let mut edited = version["content"].clone();
    edited["sections"][0]["body"] = json!("Rule number 1, amended.");
    let bad = verify(&version["title"], &edited)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(bad["verified"], false, "{bad}");
    assert_ne!(bad["sha256"], bad["published_sha256"]);
    // A version never published has nothing to prove.
    app.get(&format!("{doc}/versions/2/proof"))
        .token(&auditor)
        .send()
        .await
        .expect(StatusCode::NOT_FOUND);

    // A deal memo of a property under rehab: the budget against what was committed and drawn,
    // as the rehab records and the chain's released draw have it.
    let property = rehab(&w, &op).await;
    let memo = app
        .post(DOCS)
        .token(&op)
        .json(&json!({"template": "deal_memo"}))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let pdf = app
        .post(&format!("{DOCS}/{}/render", memo["id"].as_str().unwrap()))
        .token(&auditor)
        .json(&json!({"property_id": property, "variables": {
            "purchase_price": {"amount": "150000", "currency": "USD"},
            "closing_date": "2027-01-15", "thesis": "A roof and paint, then sell"}}))
        .send()
        .await;
    assert_eq!(
        pdf.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&pdf.bytes)
    );
    let text = words(&crate::support::pdf_text(&pdf.bytes));
    for expected in [
        "Budget 12000.00 USD, committed 9000.00 USD, drawn 3000.00 USD (variance -9000.00 USD)"
            .to_owned(),
        "Line Budget Committed Drawn Variance".to_owned(),
        "Roof 10000.00 USD 9000.00 USD 3000.00 USD -7000.00 USD".to_owned(),
        "Paint 2000.00 USD 0.00 USD 0.00 USD -2000.00 USD".to_owned(),
        "Purchase price 150000.00 USD, closing by 2027-01-15".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} in {text}");
    }
    if engine == Engine::Sqlite {
        page_images(&pdf.bytes, "deal-memo-rehab");
    }
    w.finish().await;
}

/// A text with every run of whitespace made one space, so phrases match across wrapped lines.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sha2_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
