//! Investors: signing in with a wallet (EIP-4361), applying, and compliance's review.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::page_type;
use crate::auth::{Allowed, Principal};
use crate::error::Error;
use crate::http::extract::{Auth, Ctx, Idem, Json, Query};
use crate::http::problem::ApiResult;
use crate::http::state::App;
use crate::http::upload;
use crate::http::write::{Begun, Write};
use crate::investors::{
    self, Application, ApplicationStatus, Approval, Investor, InvestorDocument, InvestorId, Nonce,
    Rejection, WalletSession, chain,
};
use crate::outbox::{self, Action};
use crate::siwe;
use crate::types::{PageRequest, now_ms};

page_type!(
    /// A page of investors.
    InvestorPage,
    Investor
);

/// What to put in an EIP-4361 message besides the nonce.
#[derive(Debug, Serialize, ToSchema)]
pub struct NonceGrant {
    /// The nonce and when it expires.
    #[serde(flatten)]
    pub nonce: Nonce,
    /// The message's domain.
    pub domain: String,
    /// The message's URI.
    pub uri: String,
    /// The message's chain id.
    pub chain_id: u64,
    /// A statement to show.
    pub statement: &'static str,
}

/// Issues a sign-in nonce, good once for ten minutes.
#[utoipa::path(post, path = "/v1/auth/siwe/nonce", tag = "auth",
    responses((status = 201, body = NonceGrant)),
    extensions(("x-roles" = json!([]))))]
pub async fn nonce(State(app): State<App>, ctx: Ctx) -> ApiResult<Response> {
    app.inner.limiter.unauthenticated(ctx.0.client_ip)?;
    let chain_id = app.chain()?.chain_id;
    let actor = crate::auth::Actor::anonymous(None);
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        actor,
        "POST",
        "/v1/auth/siwe/nonce",
        None,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let nonce = investors::issue_nonce(w.tx()).await?;
    let (domain, uri) = origin_parts(&app.config().public_url)?;
    let grant = NonceGrant {
        nonce,
        domain,
        uri,
        chain_id,
        statement: "Sign in to PropLedger.",
    };
    Ok(w.finish(StatusCode::CREATED, &grant, None).await?)
}

/// The domain (authority) and origin of a public URL.
fn origin_parts(public_url: &str) -> Result<(String, String), Error> {
    let (scheme, rest) = public_url
        .split_once("://")
        .ok_or_else(|| Error::Config(format!("the public URL {public_url:?} has no scheme")))?;
    let authority = rest.split('/').next().unwrap_or("").to_owned();
    Ok((authority.clone(), format!("{scheme}://{authority}")))
}

/// A signed EIP-4361 message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedMessage {
    /// The message, exactly as signed.
    pub message: String,
    /// The EIP-191 signature (65 bytes, hex).
    pub signature: String,
}

/// Signs a wallet in: checks the message (domain, URI, chain, nonce, times) and its signature,
/// and returns a session token for the wallet (`plw_…`).
#[utoipa::path(post, path = "/v1/auth/siwe/verify", tag = "auth", request_body = SignedMessage,
    responses((status = 201, body = WalletSession)),
    extensions(("x-roles" = json!([]))))]
pub async fn verify(
    State(app): State<App>,
    ctx: Ctx,
    body: Json<SignedMessage>,
) -> ApiResult<Response> {
    app.inner.limiter.unauthenticated(ctx.0.client_ip)?;
    let chain_id = app.chain()?.chain_id;
    let message = siwe::Message::parse(&body.value.message)?;
    ctx.0.set_actor(crate::auth::Actor {
        kind: crate::auth::ActorKind::Anonymous,
        id: None,
        name: Some(message.address.to_checksum(None)),
    });
    let (domain, origin) = origin_parts(&app.config().public_url)?;
    siwe::check(
        &message,
        &siwe::Expected {
            domain: &domain,
            origin: &origin,
            chain_id,
            now_s: now_ms() / 1000,
            skew_s: 60,
            max_age_s: 600,
        },
    )?;
    siwe::verify_signature(&body.value.message, message.address, &body.value.signature)?;
    let actor = Principal::Wallet {
        wallet: message.address.to_checksum(None),
        session_id: String::new(),
    }
    .actor();
    ctx.0.set_actor(actor.clone());
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        actor,
        "POST",
        "/v1/auth/siwe/verify",
        None,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    investors::consume_nonce(w.tx(), &message.nonce).await?;
    let ttl = i64::try_from(app.config().session_ttl.as_millis()).unwrap_or(i64::MAX);
    let session = investors::open_wallet_session(w.tx(), message.address, ttl).await?;
    let shown = serde_json::to_vec(&session).map_err(|e| Error::Internal(e.to_string()))?;
    let id = session.session_id.clone();
    Ok(
        w.finish_with_stored(StatusCode::CREATED, shown, Vec::new(), Some(id))
            .await?,
    )
}

/// The signed-in wallet's address.
pub(crate) fn wallet_address(auth: &Auth) -> ApiResult<alloy::primitives::Address> {
    Ok(wallet_of(auth)?
        .parse()
        .map_err(|_| Error::Corrupt("a session's wallet".to_owned()))?)
}

pub(crate) fn wallet_of(auth: &Auth) -> ApiResult<String> {
    match auth.require(Allowed::INVESTOR)? {
        Principal::Wallet { wallet, .. } => Ok(wallet.clone()),
        _ => Err(
            Error::Forbidden("only a signed-in wallet has its own investor data".to_owned()).into(),
        ),
    }
}

/// Applies to invest: the signed-in wallet becomes the investor's first wallet. Compliance
/// reviews the application.
#[utoipa::path(post, path = "/v1/me/application", tag = "investors", request_body = Application,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Investor)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn apply(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    body: Json<Application>,
) -> ApiResult<Response> {
    let wallet = wallet_of(&auth)?;
    body.value.check()?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        auth.0.actor(),
        "POST",
        "/v1/me/application",
        idem.0,
        &[&body.raw],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let inv = investors::apply(w.tx(), &wallet, &body.value).await?;
    let id = inv.id.to_string();
    Ok(w.finish(StatusCode::CREATED, &inv, Some(id)).await?)
}

/// Adds a KYC document to the signed-in wallet's application (`multipart/form-data` with
/// `kind`: passport, id_card, proof_of_address, accreditation or other; and `file`).
#[utoipa::path(post, path = "/v1/me/application/documents", tag = "investors",
    request_body(content = String, content_type = "multipart/form-data"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = InvestorDocument)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["investor"]))))]
pub async fn add_document(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    idem: Idem,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let wallet = wallet_of(&auth)?;
    let inv = investors::of_wallet(app.db(), &wallet)
        .await?
        .ok_or_else(|| {
            Error::conflict("no_application", "apply first (POST /v1/me/application)")
        })?;
    let up = upload::read(&app, multipart, &["kind"]).await?;
    let kind = up
        .fields
        .get("kind")
        .cloned()
        .ok_or_else(|| Error::invalid("kind", "required"))?;
    let (sha, size) = (up.file.sha256, up.file.size);
    let inv_id = inv.id.to_string();
    let fingerprint: [&[u8]; 4] = [
        inv_id.as_bytes(),
        kind.as_bytes(),
        up.content_type.as_bytes(),
        &sha,
    ];
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        auth.0.actor(),
        "POST",
        "/v1/me/application/documents",
        idem.0,
        &fingerprint,
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    app.blobs().put(w.tx(), up.file).await?;
    let doc = investors::add_document(
        w.tx(),
        inv.id,
        &kind,
        up.filename.as_deref(),
        &up.content_type,
        sha,
        size,
    )
    .await?;
    let id = doc.id.clone();
    Ok(w.finish(StatusCode::CREATED, &doc, Some(id)).await?)
}

/// Filters of the investor list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvestorQuery {
    /// Only this status: submitted, approved or rejected.
    pub status: Option<ApplicationStatus>,
    /// Items per page (1 to 200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Investors, in application order (compliance's review queue with `status=submitted`).
#[utoipa::path(get, path = "/v1/investors", tag = "investors", params(InvestorQuery),
    responses((status = 200, body = InvestorPage)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance", "auditor"]))))]
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    Query(q): Query<InvestorQuery>,
) -> ApiResult<axum::Json<InvestorPage>> {
    auth.require(Allowed::REVIEW)?;
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(
        investors::list(app.db(), q.status, &page).await?.into(),
    ))
}

/// An investor, with their documents and chain actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvestorDetail {
    /// The investor.
    #[serde(flatten)]
    pub investor: Investor,
    /// Their KYC documents.
    pub documents: Vec<InvestorDocument>,
    /// The chain writes made for them (registration, wallets, freezes), in order.
    pub actions: Vec<Action>,
}

pub(crate) async fn detail(app: &App, id: InvestorId) -> ApiResult<InvestorDetail> {
    let investor = investors::read(app.db(), id).await?;
    let documents = investors::documents(app.db(), id).await?;
    let actions = outbox::of_resource(app.db().reader(), "investor", &id.to_string()).await?;
    Ok(InvestorDetail {
        investor,
        documents,
        actions,
    })
}

/// One investor.
#[utoipa::path(get, path = "/v1/investors/{id}", tag = "investors",
    params(("id" = String, Path, description = "The investor's id")),
    responses((status = 200, body = InvestorDetail)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance", "auditor"]))))]
pub async fn get(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<InvestorDetail>> {
    auth.require(Allowed::REVIEW)?;
    Ok(axum::Json(detail(&app, InvestorId::parse(&id)?).await?))
}

/// Approves an application: registers the investor on chain (country, accreditation, KYC
/// expiry) and links their wallets, through the outbox, signed by the registrar key.
#[utoipa::path(post, path = "/v1/investors/{id}/approve", tag = "investors", request_body = Approval,
    params(("id" = String, Path, description = "The investor's id")),
    responses((status = 200, body = InvestorDetail)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn approve(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    body: Json<Approval>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let id = InvestorId::parse(&id)?;
    let registry = app.chain()?.platform.identity_registry.address;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/investors/{id}/approve",
        None,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let by = w.actor().reference();
    let (inv, expires) = investors::approve(w.tx(), id, &by, &body.value).await?;
    let country = investors::country_numeric("/country", &inv.country)?;
    let kyc_expiry_s = investors::kyc_expiry_s(expires)?;
    let rid = investors::registry_id(&inv)?;
    let resource = || Some(("investor", id.to_string()));
    let registered = w
        .enqueue(
            "registrar",
            "identity.set_investor",
            chain::set_investor(registry, rid, country, body.value.accredited, kyc_expiry_s),
            None,
            resource(),
        )
        .await?;
    for wallet in &inv.wallets {
        let wallet = wallet
            .parse()
            .map_err(|_| Error::Corrupt("stored wallet".to_owned()))?;
        w.enqueue(
            "registrar",
            "identity.add_wallet",
            chain::add_wallet(registry, rid, wallet),
            Some(registered),
            resource(),
        )
        .await?;
    }
    let view = InvestorDetail {
        investor: inv,
        documents: Vec::new(),
        actions: outbox::of_resource(w.tx().exec(), "investor", &id.to_string()).await?,
    };
    Ok(w.finish(StatusCode::OK, &view, Some(id.to_string()))
        .await?)
}

/// Rejects an application, with a reason the applicant sees.
#[utoipa::path(post, path = "/v1/investors/{id}/reject", tag = "investors", request_body = Rejection,
    params(("id" = String, Path, description = "The investor's id")),
    responses((status = 200, body = Investor)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "compliance"]))))]
pub async fn reject(
    State(app): State<App>,
    ctx: Ctx,
    auth: Auth,
    Path(id): Path<String>,
    body: Json<Rejection>,
) -> ApiResult<Response> {
    let p = auth.require(Allowed::COMPLIANCE)?;
    let id = InvestorId::parse(&id)?;
    let mut w = match Write::begin(
        &app,
        &ctx.0,
        p.actor(),
        "POST",
        "/v1/investors/{id}/reject",
        None,
        &[],
    )
    .await?
    {
        Begun::Fresh(w) => w,
        Begun::Replay(r) => return Ok(r),
    };
    let by = w.actor().reference();
    let inv = investors::reject(w.tx(), id, &by, &body.value).await?;
    Ok(w.finish(StatusCode::OK, &inv, Some(id.to_string())).await?)
}

/// One chain action of the outbox.
#[utoipa::path(get, path = "/v1/actions/{id}", tag = "investors",
    params(("id" = String, Path, description = "The action's id")),
    responses((status = 200, body = Action)),
    security(("bearer" = [])), extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor"]))))]
pub async fn action(
    State(app): State<App>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Action>> {
    auth.require(Allowed::STAFF)?;
    Ok(axum::Json(
        outbox::get(app.db().reader(), outbox::ActionId::parse(&id)?).await?,
    ))
}
