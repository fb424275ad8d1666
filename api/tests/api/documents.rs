//! Documents: upload, list, read back byte for byte, deduplication by hash, limits and bad
//! uploads, in both blob locations.

use axum::http::StatusCode;
use propledger_api::blobs::BlobLocation;
use propledger_api::db::Engine;
use propledger_api::http::limits::RateLimits;
use sha2::{Digest, Sha256};

use crate::support::{TestApp, both_engines, property_body};

both_engines!(
    upload_list_download,
    bad_uploads,
    blobs_in_the_other_location
);

async fn new_property(app: &TestApp, key: &str) -> String {
    app.post("/v1/properties")
        .token(key)
        .json(&property_body("Chicago", 41.9, -87.6, "100000.00", 1000))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Bytes that span several storage chunks, with every byte value.
fn pdf_bytes() -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..700_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    v
}

async fn upload_list_download(engine: Engine) {
    let app = TestApp::new(engine).await;
    let key = app.key("operator").await;
    let property = new_property(&app, &key).await;
    let bytes = pdf_bytes();
    let sha = hex::encode(Sha256::digest(&bytes));
    let r = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(&key)
        .multipart(
            &[("kind", "deed"), ("title", "Warranty deed")],
            Some(("deed.pdf", "application/pdf", &bytes)),
        )
        .send()
        .await;
    let doc = r.expect(StatusCode::CREATED).json();
    assert_eq!(doc["sha256"], sha);
    assert_eq!(doc["size"], bytes.len());
    assert_eq!(doc["kind"], "deed");
    assert_eq!(doc["title"], "Warranty deed");
    assert_eq!(doc["content_type"], "application/pdf");
    let id = doc["id"].as_str().unwrap();

    let got = app
        .get(&format!("/v1/documents/{id}"))
        .token(&key)
        .send()
        .await;
    assert_eq!(got.expect(StatusCode::OK).json(), doc);
    let content = app
        .get(&format!("/v1/documents/{id}/content"))
        .token(&key)
        .send()
        .await;
    content.expect(StatusCode::OK);
    assert_eq!(content.bytes, bytes);
    assert_eq!(content.headers["content-type"], "application/pdf");
    assert_eq!(content.headers["x-content-type-options"], "nosniff");
    assert!(
        content.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );

    // The same bytes again (another kind and title): a second document, one stored blob.
    let again = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(&key)
        .multipart(
            &[("kind", "title")],
            Some(("copy.pdf", "application/pdf", &bytes)),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(again["sha256"], sha);
    assert_eq!(again["title"], "copy.pdf");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_blobs").await, 1);
    // An empty file is a file too.
    let empty = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(&key)
        .multipart(&[("kind", "other")], Some(("empty.txt", "text/plain", b"")))
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let e = app
        .get(&format!(
            "/v1/documents/{}/content",
            empty["id"].as_str().unwrap()
        ))
        .token(&key)
        .send()
        .await;
    assert!(e.expect(StatusCode::OK).bytes.is_empty());

    let list = app
        .get(&format!("/v1/properties/{property}/documents"))
        .token(&key)
        .send()
        .await
        .json();
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            id,
            again["id"].as_str().unwrap(),
            empty["id"].as_str().unwrap()
        ]
    );
    let page = app
        .get(&format!("/v1/properties/{property}/documents?limit=2"))
        .token(&key)
        .send()
        .await
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());
}

async fn bad_uploads(engine: Engine) {
    let app = TestApp::with(engine, |c| {
        c.rate_limits = RateLimits::off();
        c.max_document_bytes = 100_000;
    })
    .await;
    let key = app.key("operator").await;
    let property = new_property(&app, &key).await;
    let path = format!("/v1/properties/{property}/documents");
    let small: &[u8] = b"hello";
    // Too large.
    let big = vec![7u8; 100_001];
    app.post(&path)
        .token(&key)
        .multipart(&[("kind", "photo")], Some(("big.jpg", "image/jpeg", &big)))
        .send()
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", None);
    // Missing or bad parts.
    app.post(&path)
        .token(&key)
        .multipart(&[("kind", "photo")], None)
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("file"));
    app.post(&path)
        .token(&key)
        .multipart(&[], Some(("a.txt", "text/plain", small)))
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("kind"));
    app.post(&path)
        .token(&key)
        .multipart(&[("kind", "selfie")], Some(("a.txt", "text/plain", small)))
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("kind"));
    app.post(&path)
        .token(&key)
        .multipart(
            &[("kind", "photo"), ("colour", "red")],
            Some(("a.txt", "text/plain", small)),
        )
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "validation", Some("colour"));
    // Not multipart, or broken multipart.
    app.post(&path)
        .token(&key)
        .raw("application/pdf", small.to_vec())
        .send()
        .await
        .problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            None,
        );
    app.post(&path)
        .token(&key)
        .raw(
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nContent-Disp".to_vec(),
        )
        .send()
        .await
        .problem(StatusCode::BAD_REQUEST, "malformed-request", None);
    // No such property.
    app.post("/v1/properties/0190a000-0000-7000-8000-000000000000/documents")
        .token(&key)
        .multipart(&[("kind", "photo")], Some(("a.txt", "text/plain", small)))
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    app.get("/v1/documents/0190a000-0000-7000-8000-000000000000/content")
        .token(&key)
        .send()
        .await
        .problem(StatusCode::NOT_FOUND, "not-found", None);
    // None of it stored anything, and no spooled file was left behind.
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM api_documents").await,
        0
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM api_blobs").await, 0);
    let spool = app.dir.path().join("tmp").join("uploads");
    assert_eq!(std::fs::read_dir(spool).unwrap().count(), 0);
}

async fn blobs_in_the_other_location(engine: Engine) {
    // Each engine's default is tested above; here the other location.
    let other = match engine {
        Engine::Sqlite => BlobLocation::Database,
        Engine::Postgres => BlobLocation::Disk,
    };
    let app = TestApp::with(engine, |c| {
        c.rate_limits = RateLimits::off();
        c.blob_location = Some(other);
    })
    .await;
    assert_eq!(app.api.blobs().location(), other);
    let key = app.key("operator").await;
    let property = new_property(&app, &key).await;
    let bytes = pdf_bytes();
    let doc = app
        .post(&format!("/v1/properties/{property}/documents"))
        .token(&key)
        .multipart(
            &[("kind", "inspection")],
            Some(("i.pdf", "application/pdf", &bytes)),
        )
        .send()
        .await
        .expect(StatusCode::CREATED)
        .json();
    let content = app
        .get(&format!(
            "/v1/documents/{}/content",
            doc["id"].as_str().unwrap()
        ))
        .token(&key)
        .send()
        .await;
    assert_eq!(content.expect(StatusCode::OK).bytes, bytes);
    let chunks = app.count("SELECT COUNT(*) AS n FROM api_blob_chunks").await;
    match other {
        BlobLocation::Database => assert_eq!(chunks, 3),
        BlobLocation::Disk => assert_eq!(chunks, 0),
    }
}
