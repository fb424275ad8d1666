//! Tokenizing a property through the API on the embedded chain: the request checked field by
//! field, one launch through the outbox, the deed and contracts on chain, the offering in the
//! index, and a second tokenization refused.

use alloy::primitives::{Address, U256, keccak256};
use axum::http::StatusCode;
use chrono::Utc;
use propledger_api::db::Engine;
use propledger_contracts::launch::launch_property;
use propledger_contracts::{PropertyDeed, PropertyDirectory, PropertyShares};
use serde_json::{Value, json};

use crate::chainapp::{ChainApp, params};
use crate::support::{TestApp, both_engines, property_body};

both_engines!(tokenize_a_property, a_launch_the_contracts_refuse);

pub(crate) const DEED: &[u8] = b"%PDF-1.7 grant deed, 12 Elm St, APN 123-456-789";

/// A property with its deed uploaded: (property id, document id).
pub(crate) async fn property_with_deed(app: &TestApp, token: &str) -> (String, String) {
    let property = app
        .post("/v1/properties")
        .token(token)
        .json(&property_body("Springfield", 39.8, -89.6, "250000.00", 1400))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let document = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(token)
        .multipart(
            &[("kind", "deed")],
            Some(("deed.pdf", "application/pdf", DEED)),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (property, document)
}

/// A tokenization request: 1,000 shares at 100 USD, open from a minute ago for 30 days.
pub(crate) fn tokenization_body(document: &str) -> Value {
    let now = Utc::now();
    json!({
        "name": "Oak Ave Shares",
        "symbol": "OAK",
        "parcel_id": "123-456-789",
        "document_id": document,
        "offering": {
            "price_per_share": "100",
            "min_purchase": "1",
            "max_per_investor": "400",
            "shares_for_sale": "1000",
            "soft_cap": "1000",
            "opens_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
            "closes_at": (now + chrono::Duration::days(30)).to_rfc3339(),
        }
    })
}

/// The deed token id of an API property.
pub(crate) fn token_id(property: &str) -> U256 {
    U256::from(uuid::Uuid::parse_str(property).unwrap().as_u128())
}

async fn tokenize_a_property(engine: Engine) {
    let w = ChainApp::indexed(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let (property, document) = property_with_deed(app, &op).await;
    let (other, other_doc) = property_with_deed(app, &op).await;
    let path = format!("/v1/properties/{property}/tokenization");

    app.get(&path)
        .token(&op)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);

    // Every bad field is named at once.
    let mut bad = tokenization_body(&document);
    bad["name"] = json!("");
    bad["symbol"] = json!("A-SYMBOL-FAR-TOO-LONG");
    bad["parcel_id"] = json!("x".repeat(33));
    bad["custodian"] = json!("0x1234");
    bad["offering"]["price_per_share"] = json!("1.0000001");
    bad["offering"]["closes_at"] = json!("next tuesday");
    let r = app.post(&path).token(&op).json(&bad).send().await;
    let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation", Some("/name"));
    for field in [
        "/symbol",
        "/parcel_id",
        "/custodian",
        "/offering/price_per_share",
        "/offering/closes_at",
    ] {
        assert!(
            p["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["pointer"] == field),
            "{field}: {p}"
        );
    }
    // The offering contract's own rules.
    let mut bad = tokenization_body(&document);
    bad["offering"]["closes_at"] = bad["offering"]["opens_at"].clone();
    bad["offering"]["max_per_investor"] = json!("0.5");
    let r = app.post(&path).token(&op).json(&bad).send().await;
    r.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/offering/closes_at"),
    );
    r.problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        Some("/offering/max_per_investor"),
    );
    let mut bad = tokenization_body(&document);
    bad["offering"]["soft_cap"] = json!("100001");
    app.post(&path)
        .token(&op)
        .json(&bad)
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/offering/soft_cap"),
        );
    // Another property's document.
    app.post(&path)
        .token(&op)
        .json(&tokenization_body(&other_doc))
        .send()
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            Some("/document_id"),
        );
    app.post("/v1/properties/0190a000-0000-7000-8000-000000000000/tokenization")
        .token(&op)
        .json(&tokenization_body(&document))
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_outbox").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_tokenizations")
            .await,
        0
    );

    // Tokenized: queued, then confirmed with its contracts.
    let body = tokenization_body(&document);
    let r = app
        .post(&path)
        .token(&op)
        .header("idempotency-key", "tokenize-oak")
        .json(&body)
        .send()
        .await;
    let queued = r.expect(StatusCode::ACCEPTED).json();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["action"]["kind"], "property.launch");
    assert_eq!(
        queued["launch"]["token_id"],
        token_id(&property).to_string()
    );
    assert_eq!(
        queued["launch"]["metadata_hash"],
        keccak256(DEED).to_string()
    );
    assert_eq!(
        queued["launch"]["metadata_uri"],
        format!("https://app.propledger.test/v1/documents/{document}/content")
    );
    let replay = app
        .post(&path)
        .token(&op)
        .header("idempotency-key", "tokenize-oak")
        .json(&body)
        .send()
        .await;
    assert_eq!(replay.expect(StatusCode::ACCEPTED).json(), queued);
    assert_eq!(replay.headers["idempotent-replayed"], "true");

    let settled = w.settled(&[queued["action"].clone()]).await;
    assert_eq!(settled[0]["status"], "confirmed", "{}", settled[0]);
    let t = app
        .get(&path)
        .token(&app.key("auditor").await)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(t["status"], "confirmed");
    let contracts = &t["contracts"];
    let addr = |k: &str| contracts[k].as_str().unwrap().parse::<Address>().unwrap();

    // On chain: the deed with the document's hash, the share token, the directory's entry.
    let id = token_id(&property);
    let deed = PropertyDeed::new(w.platform.deed.address, &w.reader);
    assert_eq!(deed.ownerOf(id).call().await.unwrap(), w.platform.admin());
    assert_eq!(deed.metadataHash(id).call().await.unwrap(), keccak256(DEED));
    assert_eq!(
        deed.tokenURI(id).call().await.unwrap(),
        t["launch"]["metadata_uri"].as_str().unwrap()
    );
    assert_eq!(deed.totalMinted().call().await.unwrap(), U256::from(2));
    let shares = PropertyShares::new(addr("shares"), &w.reader);
    assert_eq!(shares.symbol().call().await.unwrap(), "OAK");
    let directory = PropertyDirectory::new(w.platform.directory.address, &w.reader);
    assert!(
        directory
            .propertyIds()
            .call()
            .await
            .unwrap()
            .contains(&id)
    );

    // The index follows it: the offering is for sale on its terms.
    w.caught_up().await;
    let offering = app
        .get(&format!("/v1/offerings/{}", addr("offering")))
        .token(&op)
        .send()
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(offering["terms"]["price_per_share"]["amount"], "100", "{offering}");
    assert_eq!(offering["shares"], contracts["shares"], "{offering}");
    assert_eq!(offering["property_id"], id.to_string(), "{offering}");

    // Once is all: another request (another key) is refused and changes nothing.
    let r = app
        .post(&path)
        .token(&op)
        .json(&tokenization_body(&document))
        .send()
        .await;
    let p = r.problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "already_tokenized", "{p}");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_outbox WHERE kind = 'property.launch'")
            .await,
        1
    );
    // The other property is untouched.
    app.get(&format!("/v1/properties/{other}/tokenization"))
        .token(&op)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    w.finish().await;
}

/// A launch the contracts refuse (the deed's id is taken) is answered at once and recorded
/// nowhere.
async fn a_launch_the_contracts_refuse(engine: Engine) {
    let w = ChainApp::new(engine).await;
    let app = &w.app;
    let op = app.key("operator").await;
    let (property, document) = property_with_deed(app, &op).await;
    let now = Utc::now().timestamp() as u64;
    let mut taken = params(1, now, now + 86_400);
    taken.property_id = token_id(&property);
    w.outbox_idle().await;
    launch_property(&w.admin, &w.platform, &taken)
        .await
        .unwrap();
    let r = app
        .post(&format!("/v1/properties/{property}/tokenization"))
        .token(&op)
        .json(&tokenization_body(&document))
        .send()
        .await;
    let p = r.problem(StatusCode::CONFLICT, "conflict", None);
    assert_eq!(p["code"], "would_revert", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("DeedExists"), "{p}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_outbox").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_tokenizations")
            .await,
        0
    );
    w.finish().await;
}
