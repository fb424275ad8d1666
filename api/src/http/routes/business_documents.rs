//! Business documents: SOPs, business plans, policies, deal memos and statement templates, with
//! versions, diffs, merges, approvals, publication proofs, rendering and search.

use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::page_type;
use super::users::Paging;
use crate::auth::Allowed;
use crate::business_docs::content::{self, Content, DocType, LIVE};
use crate::business_docs::proof::{self, PublicationProof, Verification};
use crate::business_docs::render::{self, Heading};
use crate::business_docs::{
    self as docs, Access, AttachmentId, BusinessDocument, BusinessDocumentId, Decision, Edit,
    NewAttachment, NewBusinessDocument, Permissions, RenderRequest, Status, Summary, TrailEntry,
    Version,
};
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, IfMatch, Json, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::upload;
use crate::http::write::{Begun, Write};
use crate::properties::PropertyId;
use crate::types::PageRequest;

page_type!(
    /// A page of business documents.
    BusinessDocumentPage,
    Summary
);

page_type!(
    /// A page of versions, newest first.
    VersionPage,
    Version
);

page_type!(
    /// A page of a document's audit trail, oldest first.
    TrailPage,
    TrailEntry
);

fn with_etag(mut resp: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn doc_id(id: &str) -> Result<BusinessDocumentId, Error> {
    BusinessDocumentId::parse(id)
}

/// A list's filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this type: sop, business_plan, policy, deal_memo or investor_statement.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub doc_type: Option<String>,
    /// Only this status: draft, in_review, published or archived.
    pub status: Option<String>,
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The business documents the caller may see, oldest first.
#[utoipa::path(get, path = "/v1/business-documents", tag = "business-documents",
    params(ListParams),
    responses((status = 200, body = BusinessDocumentPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<ListParams>,
) -> ApiResult<axum::Json<BusinessDocumentPage>> {
    let p = auth.require(Allowed::READ)?;
    let filter = docs::Filter {
        doc_type: q
            .doc_type
            .as_deref()
            .map(|t| DocType::parse("type", t))
            .transpose()?,
        status: q
            .status
            .as_deref()
            .map(|s| Status::parse("status", s))
            .transpose()?,
    };
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(
        docs::list(app.db(), &Access::of(p), &filter, &page)
            .await?
            .into(),
    ))
}

/// Creates a business document with its first version, from content or a built-in template.
#[utoipa::path(post, path = "/v1/business-documents", tag = "business-documents",
    request_body = NewBusinessDocument,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = BusinessDocument, headers(("ETag" = String, description = "The version")))),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance"]))))]
pub async fn create(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<NewBusinessDocument>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::DOCUMENTS)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/business-documents",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let doc = docs::create(w.tx(), app.db().engine(), &Access::of(p), body.value).await?;
    let (id, version) = (doc.id.to_string(), doc.version);
    let mut resp = w
        .finish(StatusCode::CREATED, &doc, Some(id.clone()))
        .await?;
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/business-documents/{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(with_etag(resp, version))
}

/// One business document with its current version; its `ETag` is that version.
#[utoipa::path(get, path = "/v1/business-documents/{id}", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id")),
    responses((status = 200, body = BusinessDocument, headers(("ETag" = String, description = "The version")))),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::READ)?;
    let doc = docs::view(app.db().reader(), doc_id(&id)?, &Access::of(p)).await?;
    let version = doc.version;
    Ok(with_etag(axum::Json(doc).into_response(), version))
}

/// Saves a new version: the whole title and content, based on the version `If-Match` names
/// (required). Based on the current version it simply follows it; based on an older one it is
/// merged with the changes made since when they touch other sections, and refused with 409
/// `merge_conflict` naming the sections both changed otherwise.
#[utoipa::path(put, path = "/v1/business-documents/{id}", tag = "business-documents",
    request_body = Edit,
    params(("id" = String, Path, description = "The document's id"),
           ("If-Match" = String, Header, description = "The version the edit is based on")),
    responses((status = 200, body = BusinessDocument, headers(("ETag" = String, description = "The new version")))),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance"]))))]
pub async fn edit(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: Json<Edit>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::DOCUMENTS)?;
    let id = doc_id(&id)?;
    let mut w = begin(&app, &ctx, p, "PUT", "/v1/business-documents/{id}").await?;
    let (doc, _) = docs::edit(
        w.tx(),
        app.db().engine(),
        &Access::of(p),
        id,
        if_match.0,
        body.value,
    )
    .await?;
    let version = doc.version;
    Ok(with_etag(
        w.finish(StatusCode::OK, &doc, Some(id.to_string())).await?,
        version,
    ))
}

async fn begin<'a>(
    app: &'a App,
    ctx: &'a Ctx,
    p: &crate::auth::Principal,
    method: &'static str,
    route: &'static str,
) -> ApiResult<Box<Write<'a>>> {
    match Write::begin(app, &ctx.0, p.actor(), method, route, None, &[]).await? {
        Begun::Fresh(w) => Ok(w),
        Begun::Replay(_) => Err(Error::Internal("a replay without a key".to_owned()).into()),
    }
}

/// A rollback.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The version to copy.
    pub version: i64,
    /// Why.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Makes a new version equal to an older one. With `If-Match`, only when the current version
/// is that one.
#[utoipa::path(post, path = "/v1/business-documents/{id}/rollback", tag = "business-documents",
    request_body = Rollback,
    params(("id" = String, Path, description = "The document's id"),
           ("If-Match" = Option<String>, Header, description = "The current version")),
    responses((status = 200, body = BusinessDocument)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance"]))))]
pub async fn rollback(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: Json<Rollback>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::DOCUMENTS)?;
    let id = doc_id(&id)?;
    let mut w = begin(
        &app,
        &ctx,
        p,
        "POST",
        "/v1/business-documents/{id}/rollback",
    )
    .await?;
    let b = body.value;
    let doc = docs::rollback(
        w.tx(),
        app.db().engine(),
        &Access::of(p),
        id,
        if_match.0,
        b.version,
        b.comment,
    )
    .await?;
    let version = doc.version;
    Ok(with_etag(
        w.finish(StatusCode::OK, &doc, Some(id.to_string())).await?,
        version,
    ))
}

/// Changes who may read, edit and approve the document, whether it is restricted, and how
/// many approvals publishing needs (absent fields stay; a list given replaces that list).
#[utoipa::path(put, path = "/v1/business-documents/{id}/permissions", tag = "business-documents",
    request_body = Permissions,
    params(("id" = String, Path, description = "The document's id")),
    responses((status = 200, body = BusinessDocument)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance"]))))]
pub async fn permissions(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    body: Json<Permissions>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::DOCUMENTS)?;
    let id = doc_id(&id)?;
    let mut w = begin(
        &app,
        &ctx,
        p,
        "PUT",
        "/v1/business-documents/{id}/permissions",
    )
    .await?;
    let doc = docs::set_permissions(w.tx(), &Access::of(p), id, body.value).await?;
    Ok(w.finish(StatusCode::OK, &doc, Some(id.to_string())).await?)
}

/// Submits the current version for approval (with `If-Match`, only if it is that version).
#[utoipa::path(post, path = "/v1/business-documents/{id}/submit", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id"),
           ("If-Match" = Option<String>, Header, description = "The version to submit")),
    responses((status = 200, body = BusinessDocument)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance"]))))]
pub async fn submit(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::DOCUMENTS)?;
    let id = doc_id(&id)?;
    let mut w = begin(&app, &ctx, p, "POST", "/v1/business-documents/{id}/submit").await?;
    let doc = docs::submit(w.tx(), &Access::of(p), id, if_match.0).await?;
    Ok(w.finish(StatusCode::OK, &doc, Some(id.to_string())).await?)
}

/// Approves or rejects the version in review. Its author may not; a rejection (with a
/// comment) sends the document back to draft.
#[utoipa::path(post, path = "/v1/business-documents/{id}/approvals", tag = "business-documents",
    request_body = Decision,
    params(("id" = String, Path, description = "The document's id")),
    responses((status = 200, body = BusinessDocument)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance"]))))]
pub async fn decide(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    body: Json<Decision>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::DOCUMENTS)?;
    let id = doc_id(&id)?;
    let mut w = begin(
        &app,
        &ctx,
        p,
        "POST",
        "/v1/business-documents/{id}/approvals",
    )
    .await?;
    let doc = docs::decide(w.tx(), &Access::of(p), id, body.value).await?;
    Ok(w.finish(StatusCode::OK, &doc, Some(id.to_string())).await?)
}

/// Publishes the version in review once it has the approvals it needs: it becomes the version
/// in force and read-only, and its hash joins the root the next anchor of the books records.
#[utoipa::path(post, path = "/v1/business-documents/{id}/publish", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id")),
    responses((status = 200, body = BusinessDocument)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance"]))))]
pub async fn publish(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::DOCUMENTS)?;
    let id = doc_id(&id)?;
    let mut w = begin(&app, &ctx, p, "POST", "/v1/business-documents/{id}/publish").await?;
    let doc = docs::publish(w.tx(), &Access::of(p), id).await?;
    Ok(w.finish(StatusCode::OK, &doc, Some(id.to_string())).await?)
}

/// Archives the document: read-only from then on (its published versions stay provable).
#[utoipa::path(post, path = "/v1/business-documents/{id}/archive", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id")),
    responses((status = 200, body = BusinessDocument)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance"]))))]
pub async fn archive(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::DOCUMENTS)?;
    let id = doc_id(&id)?;
    let mut w = begin(&app, &ctx, p, "POST", "/v1/business-documents/{id}/archive").await?;
    let doc = docs::archive(w.tx(), &Access::of(p), id).await?;
    Ok(w.finish(StatusCode::OK, &doc, Some(id.to_string())).await?)
}

/// A document's versions, newest first.
#[utoipa::path(get, path = "/v1/business-documents/{id}/versions", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id"), Paging),
    responses((status = 200, body = VersionPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn versions(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<VersionPage>> {
    let p = auth.require(Allowed::READ)?;
    Ok(axum::Json(
        docs::versions(app.db(), &Access::of(p), doc_id(&id)?, &paging.page()?)
            .await?
            .into(),
    ))
}

/// One version with its content.
#[utoipa::path(get, path = "/v1/business-documents/{id}/versions/{number}", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id"),
           ("number" = i64, Path, description = "The version")),
    responses((status = 200, body = Version)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn version(
    State(app): State<App>,
    auth: Auth,
    Path((id, number)): Path<(String, String)>,
) -> ApiResult<axum::Json<Version>> {
    let p = auth.require(Allowed::READ)?;
    let n = number.parse().map_err(|_| Error::NotFound("version"))?;
    Ok(axum::Json(
        docs::version(app.db(), &Access::of(p), doc_id(&id)?, n).await?,
    ))
}

/// Two versions to compare.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The older version.
    pub from: i64,
    /// The newer version.
    pub to: i64,
}

/// The difference between two versions: per section (added, removed, changed, moved), with a
/// line diff of each changed body.
#[utoipa::path(get, path = "/v1/business-documents/{id}/diff", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id"), DiffParams),
    responses((status = 200, body = crate::business_docs::merge::Diff)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn diff(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<DiffParams>,
) -> ApiResult<axum::Json<crate::business_docs::merge::Diff>> {
    let p = auth.require(Allowed::READ)?;
    Ok(axum::Json(
        docs::diff(app.db(), &Access::of(p), doc_id(&id)?, q.from, q.to).await?,
    ))
}

/// The document's audit trail: every save, permission change, submission, decision,
/// publication, archive and attachment, oldest first.
#[utoipa::path(get, path = "/v1/business-documents/{id}/history", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id"), Paging),
    responses((status = 200, body = TrailPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn history(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<axum::Json<TrailPage>> {
    let p = auth.require(Allowed::READ)?;
    Ok(axum::Json(
        docs::history(app.db(), &Access::of(p), doc_id(&id)?, &paging.page()?)
            .await?
            .into(),
    ))
}

/// A search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find in titles and section text (all of them; stemmed, so "approve" finds
    /// "approvals").
    pub q: String,
    /// Most results (1 to 50, default 20).
    pub limit: Option<u32>,
}

/// Search results, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    /// The documents found, with the matching text.
    pub items: Vec<Summary>,
}

/// Searches the current versions' titles and section text of the documents the caller may
/// see (SQLite FTS5 or PostgreSQL full-text search), best match first.
#[utoipa::path(get, path = "/v1/business-documents/search", tag = "business-documents",
    params(SearchParams),
    responses((status = 200, body = SearchResults)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn search(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<SearchParams>,
) -> ApiResult<axum::Json<SearchResults>> {
    let p = auth.require(Allowed::READ)?;
    Ok(axum::Json(SearchResults {
        items: docs::search(app.db(), &Access::of(p), &q.q, q.limit.unwrap_or(20)).await?,
    }))
}

/// A built-in template.
#[derive(Debug, Serialize, ToSchema)]
pub struct Template {
    /// Its name, for `template` when creating a document.
    pub name: String,
    /// The type of document it makes.
    #[serde(rename = "type")]
    pub doc_type: DocType,
    /// Its title.
    pub title: String,
    /// Its content.
    pub content: Content,
}

/// The built-in templates and the live figures any template may name.
#[derive(Debug, Serialize, ToSchema)]
pub struct Templates {
    /// The templates.
    pub items: Vec<Template>,
    /// Live figures (`{{property.noi}}` ...) and what each is.
    pub live_figures: Vec<LiveFigure>,
}

/// A live figure.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveFigure {
    /// Its placeholder name.
    pub name: String,
    /// What it is.
    pub description: String,
}

/// The built-in templates (an investor statement and a deal memo) and the live figures a
/// template may name.
#[utoipa::path(get, path = "/v1/business-document-templates", tag = "business-documents",
    responses((status = 200, body = Templates)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn templates(auth: Auth) -> ApiResult<axum::Json<Templates>> {
    auth.require(Allowed::READ)?;
    Ok(axum::Json(Templates {
        items: render::templates()
            .into_iter()
            .map(|(name, doc_type, title, content)| Template {
                name: name.to_owned(),
                doc_type,
                title: title.to_owned(),
                content,
            })
            .collect(),
        live_figures: LIVE
            .iter()
            .map(|(n, d)| LiveFigure {
                name: (*n).to_owned(),
                description: (*d).to_owned(),
            })
            .collect(),
    }))
}

/// Renders a version (by default the one in force, else the current one) with its variables
/// filled from the request and its live figures from the books, as HTML or PDF.
#[utoipa::path(post, path = "/v1/business-documents/{id}/render", tag = "business-documents",
    request_body = RenderRequest,
    params(("id" = String, Path, description = "The document's id")),
    responses((status = 200, description = "The rendered document: a PDF, or an HTML page with `format: html`", content_type = "application/pdf", body = Vec<u8>)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn render(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
    body: Json<RenderRequest>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::READ)?;
    let r = body.value;
    let pdf = match r.format.as_deref().unwrap_or("pdf") {
        "pdf" => true,
        "html" => false,
        _ => return Err(Error::invalid("/format", "expected html or pdf").into()),
    };
    let as_of = match r.as_of.as_deref() {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| Error::invalid("/as_of", "a day as YYYY-MM-DD"))?,
        None => chrono::Utc::now().date_naive(),
    };
    let property = r
        .property_id
        .as_deref()
        .map(|s| {
            PropertyId::parse(s).map_err(|_| Error::invalid("/property_id", "no such property"))
        })
        .transpose()?;
    let investor = r.investor.as_deref();
    if investor.is_some_and(|i| i.is_empty() || i.len() > 100) {
        return Err(Error::invalid("/investor", "1 to 100 characters").into());
    }
    let (doc, number, title, content, sha) =
        docs::rendered_version(app.db(), &Access::of(p), doc_id(&id)?, r.version).await?;
    let (needs_property, needs_investor) = render::needs(&content);
    if needs_property && property.is_none() {
        return Err(Error::invalid(
            "/property_id",
            "required: the document names the property's figures",
        )
        .into());
    }
    if needs_investor && investor.is_none() {
        return Err(Error::invalid(
            "/investor",
            "required: the document names the investor's figures",
        )
        .into());
    }
    let live = render::live(app.db(), app.ledger().ok(), property, investor, as_of).await?;
    let values = render::values(&content.variables, &r.variables, &live)?;
    let sha = hex::encode(sha);
    let heading = Heading {
        title: &title,
        doc_type: doc.doc_type,
        version: number,
        sha256: &sha,
    };
    let (bytes, media) = if pdf {
        let b = tokio::task::spawn_blocking({
            let content = content.clone();
            let values = values.clone();
            let title = title.clone();
            let sha = sha.clone();
            let doc_type = doc.doc_type;
            move || {
                render::pdf(
                    &Heading {
                        title: &title,
                        doc_type,
                        version: number,
                        sha256: &sha,
                    },
                    &content,
                    &values,
                )
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("rendering a PDF: {e}")))??;
        (b, "application/pdf")
    } else {
        (
            render::html(&heading, &content, &values).into_bytes(),
            "text/html; charset=utf-8",
        )
    };
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if !pdf {
        // The page is shown, never run: no scripts, no requests.
        resp.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        );
    }
    Ok(resp)
}

/// A published version's proof of publication: its leaf, the path to the Merkle root of the
/// first anchor of the books that covers it, and that anchor as the chain recorded it (its
/// block's time: the text was in force by then). Without such an anchor yet, the proof is
/// empty and `anchor` absent.
#[utoipa::path(get, path = "/v1/business-documents/{id}/versions/{number}/proof", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id"),
           ("number" = i64, Path, description = "A published version")),
    responses((status = 200, body = PublicationProof)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn proof(
    State(app): State<App>,
    auth: Auth,
    Path((id, number)): Path<(String, String)>,
) -> ApiResult<axum::Json<PublicationProof>> {
    let p = auth.require(Allowed::READ)?;
    let id = doc_id(&id)?;
    let n: i64 = number.parse().map_err(|_| Error::NotFound("version"))?;
    docs::load(app.db().reader(), id, &Access::of(p)).await?;
    let chain = app.chain()?;
    let source = crate::chain_audit::source(chain.source.as_ref()).await?;
    Ok(axum::Json(
        proof::prove(app.db(), chain, &source, id, n).await?,
    ))
}

/// A text to check against a published version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyText {
    /// The title as published.
    pub title: String,
    /// The content as published.
    pub content: Content,
}

/// Checks a text against a published version's anchored proof: its hash, with the proof,
/// must lead to the root the chain recorded. An edited text does not.
#[utoipa::path(post, path = "/v1/business-documents/{id}/versions/{number}/verify", tag = "business-documents",
    request_body = VerifyText,
    params(("id" = String, Path, description = "The document's id"),
           ("number" = i64, Path, description = "A published version")),
    responses((status = 200, body = Verification)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn verify(
    State(app): State<App>,
    auth: Auth,
    Path((id, number)): Path<(String, String)>,
    body: Json<VerifyText>,
) -> ApiResult<axum::Json<Verification>> {
    let p = auth.require(Allowed::READ)?;
    let id = doc_id(&id)?;
    let n: i64 = number.parse().map_err(|_| Error::NotFound("version"))?;
    let (doc, _) = docs::load(app.db().reader(), id, &Access::of(p)).await?;
    let chain = app.chain()?;
    let source = crate::chain_audit::source(chain.source.as_ref()).await?;
    let proof = proof::prove(app.db(), chain, &source, id, n).await?;
    let text = body.value;
    let sha = content::sha256(doc.doc_type, &text.title, &text.content);
    Ok(axum::Json(proof::verify(id, n, &sha, proof)?))
}

/// An attachment: `multipart/form-data` with these parts.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AttachmentUpload {
    /// A title (default: the file's name).
    title: Option<String>,
    /// The file; its part's Content-Type is the type it is served with.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Attaches a file to a business document (stored once per SHA-256 in the blob store).
#[utoipa::path(post, path = "/v1/business-documents/{id}/attachments", tag = "business-documents",
    request_body(content = AttachmentUpload, content_type = "multipart/form-data"),
    params(("id" = String, Path, description = "The document's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = crate::business_docs::Attachment)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance"]))))]
pub async fn attach(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    Path(id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::DOCUMENTS)?;
    let id = doc_id(&id)?;
    docs::load(app.db().reader(), id, &Access::of(p)).await?;
    let up = upload::read(&app, multipart, &["title"]).await?;
    let new = crate::documents::NewDocument {
        kind: crate::documents::DocumentKind::Other,
        title: up.fields.get("title").cloned(),
        filename: up.filename.clone(),
        content_type: up.content_type.clone(),
    };
    new.check()?;
    let spooled = up.file;
    let (sha, size) = (spooled.sha256, spooled.size);
    let did = id.to_string();
    let fingerprint: [&[u8]; 5] = [
        did.as_bytes(),
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
        "/v1/business-documents/{id}/attachments",
        idem.0,
        &fingerprint,
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    app.blobs().put(w.tx(), spooled).await?;
    let att = docs::attach(
        w.tx(),
        &Access::of(p),
        id,
        NewAttachment {
            title: new.title,
            filename: new.filename,
            content_type: new.content_type,
            sha256: sha,
            size,
        },
    )
    .await?;
    Ok(w.finish(StatusCode::CREATED, &att, Some(did)).await?)
}

/// An attachment's bytes.
#[utoipa::path(get, path = "/v1/business-documents/{id}/attachments/{attachment}", tag = "business-documents",
    params(("id" = String, Path, description = "The document's id"),
           ("attachment" = String, Path, description = "The attachment's id")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream")),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn attachment(
    State(app): State<App>,
    auth: Auth,
    Path((id, aid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::READ)?;
    let att = docs::attachment(
        app.db(),
        &Access::of(p),
        doc_id(&id)?,
        AttachmentId::parse(&aid)?,
    )
    .await?;
    let sha: [u8; 32] = hex::decode(&att.sha256)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Corrupt("an attachment's hash".to_owned()))?;
    super::documents::stream_file(
        &app,
        sha,
        &att.content_type,
        att.size,
        att.filename.as_deref(),
    )
    .await
}
