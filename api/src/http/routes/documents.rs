//! Documents attached to properties: upload (multipart), list, read, download.

use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::page_type;
use super::users::Paging;
use crate::auth::Allowed;
use crate::documents::{self, Document, DocumentId, DocumentKind, NewDocument};
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::upload;
use crate::http::write::{Begun, Write};
use crate::properties::{self, PropertyId};

page_type!(
    /// A page of documents.
    DocumentPage,
    Document
);

/// An upload: `multipart/form-data` with these parts.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct DocumentUpload {
    /// What it is: deed, title, inspection, appraisal, photo, invoice, contract, insurance,
    /// lease or other.
    kind: DocumentKind,
    /// A title (default: the file's name).
    title: Option<String>,
    /// The file; its part's Content-Type is the type it is served with.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads a document for a property. The bytes are stored once per SHA-256 (an identical
/// file uploaded again is not stored twice); the document lists its hash.
#[utoipa::path(post, path = "/v1/properties/{id}/documents", tag = "documents",
    request_body(content = DocumentUpload, content_type = "multipart/form-data"),
    params(("id" = String, Path, description = "The property's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Document)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator"]))))]
pub async fn upload(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::OPERATE)?;
    let property_id = PropertyId::parse(&id)?;
    properties::get(app.db().reader(), property_id).await?;
    let up = upload::read(&app, multipart, &["kind", "title"]).await?;
    let kind = DocumentKind::parse(
        "kind",
        up.fields
            .get("kind")
            .ok_or_else(|| Error::invalid("kind", "required"))?,
    )?;
    let (spooled, filename, content_type, title) = (
        up.file,
        up.filename,
        up.content_type,
        up.fields.get("title").cloned(),
    );
    let new = NewDocument {
        kind,
        title,
        filename,
        content_type,
    };
    new.check()?;
    let (sha, size) = (spooled.sha256, spooled.size);
    let pid = property_id.to_string();
    let fingerprint: [&[u8]; 6] = [
        pid.as_bytes(),
        kind.as_str().as_bytes(),
        new.title.as_deref().unwrap_or("").as_bytes(),
        new.filename.as_deref().unwrap_or("").as_bytes(),
        new.content_type.as_bytes(),
        &sha,
    ];
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/properties/{id}/documents",
        idem.0,
        &fingerprint,
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    app.blobs().put(w.tx(), spooled).await?;
    let actor = w.actor().clone();
    let doc = documents::create(w.tx(), &actor, property_id, &new, sha, size).await?;
    let id = doc.id.to_string();
    Ok(w.finish(StatusCode::CREATED, &doc, Some(id)).await?)
}

/// A property's documents, in upload order.
#[utoipa::path(get, path = "/v1/properties/{id}/documents", tag = "documents",
    params(("id" = String, Path, description = "The property's id"), Paging),
    responses((status = 200, body = DocumentPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<Paging>,
) -> ApiResult<axum::Json<DocumentPage>> {
    auth.require(Allowed::READ)?;
    let page = q.page()?;
    let id = PropertyId::parse(&id)?;
    Ok(axum::Json(
        documents::list(app.db(), id, &page).await?.into(),
    ))
}

/// One document's record.
#[utoipa::path(get, path = "/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "The document's id")),
    responses((status = 200, body = Document)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Document>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(
        documents::get(app.db().reader(), DocumentId::parse(&id)?).await?,
    ))
}

/// A document's bytes, streamed with the type it was uploaded with, as an attachment.
#[utoipa::path(get, path = "/v1/documents/{id}/content", tag = "documents",
    params(("id" = String, Path, description = "The document's id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream")),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn content(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    auth.require(Allowed::READ)?;
    let doc = documents::get(app.db().reader(), DocumentId::parse(&id)?).await?;
    stream(&app, &doc).await
}

/// A document's bytes as an attachment.
pub(crate) async fn stream(app: &App, doc: &documents::Document) -> ApiResult<Response> {
    stream_file(
        app,
        documents::sha256_of(doc)?,
        &doc.content_type,
        doc.size,
        doc.filename.as_deref(),
    )
    .await
}

/// Stored bytes as an attachment, with their type, size and file name.
pub(crate) async fn stream_file(
    app: &App,
    sha256: crate::blobs::Sha256Hash,
    content_type: &str,
    size: i64,
    filename: Option<&str>,
) -> ApiResult<Response> {
    let stream = app.blobs().open(app.db(), sha256).await?;
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set(h, header::CONTENT_TYPE, content_type.to_owned());
    set(h, header::CONTENT_LENGTH, size.to_string());
    set(h, header::ETAG, format!("\"{}\"", hex::encode(sha256)));
    let name: String = filename
        .unwrap_or("document")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    set(
        h,
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{name}\""),
    );
    // Uploaded files are served as data, never run as pages on the API's origin.
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(resp)
}
