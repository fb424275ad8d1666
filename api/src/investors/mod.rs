//! Investors: wallets that sign in with EIP-4361, their applications (identity, contact,
//! country, accreditation claim, KYC documents), and compliance's decisions on them. Contact
//! data stays in the database; what the chain needs (investor id, country, accreditation, KYC
//! expiry, wallets) is registered through the outbox when compliance approves.

pub mod chain;

use alloy_primitives::Address;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::WALLET_PREFIX;
use crate::auth::secret::{self, random_bytes};
use crate::db::{Db, Exec, Query, Row, Tx, is_unique_violation};
use crate::error::{Checks, Error, Result};
use crate::types::{Page, PageRequest, now_ms, rfc3339, typed_id};

typed_id!(
    /// An investor's id.
    InvestorId,
    "investor"
);

/// How long a sign-in nonce is good for.
pub const NONCE_TTL_MS: i64 = 10 * 60 * 1000;

/// A fresh sign-in nonce.
#[derive(Debug, Serialize, ToSchema)]
pub struct Nonce {
    /// Put it in the message's `Nonce:` line.
    pub nonce: String,
    /// When it stops being accepted (RFC 3339).
    pub expires_at: String,
}

/// Issues a nonce (good once, for [`NONCE_TTL_MS`]).
pub async fn issue_nonce(tx: &mut Tx) -> Result<Nonce> {
    let nonce = hex::encode(random_bytes::<12>()?);
    let now = now_ms();
    Query::new("INSERT INTO api_siwe_nonces (nonce, created_at, expires_at) VALUES ($1, $2, $3)")
        .bind(nonce.as_str())
        .bind(now)
        .bind(now + NONCE_TTL_MS)
        .execute(tx.exec())
        .await?;
    // Forget nonces long past use; a handful per issue keeps the table small.
    Query::new(
        "DELETE FROM api_siwe_nonces WHERE nonce IN \
         (SELECT nonce FROM api_siwe_nonces WHERE expires_at < $1 LIMIT 16)",
    )
    .bind(now - NONCE_TTL_MS)
    .execute(tx.exec())
    .await?;
    Ok(Nonce {
        nonce,
        expires_at: rfc3339(now + NONCE_TTL_MS),
    })
}

/// Uses up a nonce: refused if it was never issued, was used, or expired.
pub async fn consume_nonce(tx: &mut Tx, nonce: &str) -> Result<()> {
    let now = now_ms();
    let used = Query::new(
        "UPDATE api_siwe_nonces SET used_at = $1 \
         WHERE nonce = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(nonce)
    .execute(tx.exec())
    .await?;
    if used != 1 {
        return Err(Error::Unauthenticated(
            "the nonce is unknown, used or expired; ask for a new one",
        ));
    }
    Ok(())
}

/// A wallet's session.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletSession {
    /// The bearer token (`plw_…`); shown once.
    #[schema(value_type = String)]
    pub token: String,
    /// The session's id.
    pub session_id: String,
    /// When it ends (RFC 3339).
    pub expires_at: String,
    /// The wallet, checksummed.
    pub wallet: String,
}

/// Opens a session for a wallet that signed in.
pub async fn open_wallet_session(
    tx: &mut Tx,
    wallet: Address,
    ttl_ms: i64,
) -> Result<WalletSession> {
    let token = secret::new_token(WALLET_PREFIX)?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    let wallet = wallet.to_checksum(None);
    Query::new(
        "INSERT INTO api_wallet_sessions (id, token_hash, wallet, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.as_str())
    .bind(secret::token_hash(token.expose()))
    .bind(wallet.as_str())
    .bind(now)
    .bind(now + ttl_ms)
    .execute(tx.exec())
    .await?;
    Ok(WalletSession {
        token: token.expose().to_owned(),
        session_id: id,
        expires_at: rfc3339(now + ttl_ms),
        wallet,
    })
}

/// Ends a wallet's session.
pub async fn revoke_wallet_session(tx: &mut Tx, id: &str) -> Result<()> {
    Query::new(
        "UPDATE api_wallet_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .execute(tx.exec())
    .await?;
    Ok(())
}

/// Where an application stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// Waiting for compliance.
    Submitted,
    /// Approved; the identity is registered on chain (see the investor's actions).
    Approved,
    /// Rejected, with a reason.
    Rejected,
}

impl ApplicationStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Submitted => "submitted",
            ApplicationStatus::Approved => "approved",
            ApplicationStatus::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "submitted" => ApplicationStatus::Submitted,
            "approved" => ApplicationStatus::Approved,
            "rejected" => ApplicationStatus::Rejected,
            other => return Err(Error::Corrupt(format!("application status {other:?}"))),
        })
    }
}

/// An investor as staff (and the investor themselves) see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Investor {
    /// The investor's id.
    pub id: InvestorId,
    /// The identity registry's investor id (bytes32, hex).
    pub registry_id: String,
    /// Where the application stands.
    pub status: ApplicationStatus,
    /// Legal name.
    pub legal_name: String,
    /// Email for notices.
    pub email: String,
    /// ISO 3166-1 alpha-2 country of residence.
    pub country: String,
    /// Whether they claim to be an accredited investor.
    pub accredited_claim: bool,
    /// Whether compliance accepted the accreditation (once approved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accredited: Option<bool>,
    /// When the KYC check expires (YYYY-MM-DD, once approved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kyc_expires_on: Option<String>,
    /// Why compliance rejected the application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    /// Who decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
    /// The investor's wallets (checksummed), active ones.
    pub wallets: Vec<String>,
    /// Increases with every change.
    pub version: i64,
    /// When they applied (RFC 3339).
    pub created_at: String,
    /// When the record last changed (RFC 3339).
    pub updated_at: String,
}

/// An application, as a signed-in wallet sends it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Legal name (1 to 200 characters).
    pub legal_name: String,
    /// Email for notices.
    pub email: String,
    /// ISO 3166-1 alpha-2 country of residence (`US`).
    pub country: String,
    /// Whether they claim to be an accredited investor.
    #[serde(default)]
    pub accredited_claim: bool,
}

/// A country by its ISO 3166-1 alpha-2 code: its numeric code (what the registry stores).
pub fn country_numeric(pointer: &str, alpha2: &str) -> Result<u16> {
    if alpha2.len() != 2 || !alpha2.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::invalid(
            pointer,
            "an ISO 3166-1 alpha-2 code in capitals, such as US",
        ));
    }
    celes::Country::from_alpha2(alpha2)
        .ok()
        .and_then(|c| u16::try_from(c.value).ok())
        .ok_or_else(|| Error::invalid(pointer, format!("{alpha2} is not an ISO 3166-1 country")))
}

/// A country's name, for sentences.
pub fn country_name(alpha2: &str) -> String {
    celes::Country::from_alpha2(alpha2)
        .map_or_else(|_| alpha2.to_owned(), |c| c.long_name.to_owned())
}

impl Application {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        let mut c = Checks::new();
        let name = self.legal_name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            c.push("/legal_name", "1 to 200 printable characters");
        }
        let e = self.email.trim();
        let ok = e.len() <= 254
            && e.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !e.chars().any(|ch| ch.is_whitespace() || ch.is_control())
            });
        if !ok {
            c.push("/email", "an email address such as ada@example.com");
        }
        c.take(country_numeric("/country", &self.country));
        c.finish()
    }
}

const COLUMNS: &str = "id, registry_id, status, legal_name, email, country, accredited_claim, accredited, \
     kyc_expires_on, rejection_reason, reviewed_by, version, created_at, updated_at";

async fn from_row(exec: Exec<'_>, row: &Row) -> Result<Investor> {
    let id = InvestorId::stored(&row.get::<String>("id")?)?;
    let wallets = Query::new(
        "SELECT wallet FROM api_investor_wallets WHERE investor_id = $1 AND status = 'active' ORDER BY added_at, wallet",
    )
    .bind(id.to_string())
    .fetch_all(exec)
    .await?
    .iter()
    .map(|r| r.get::<String>("wallet"))
    .collect::<Result<Vec<_>>>()?;
    Ok(Investor {
        id,
        registry_id: format!("0x{}", hex::encode(row.get::<Vec<u8>>("registry_id")?)),
        status: ApplicationStatus::parse(&row.get::<String>("status")?)?,
        legal_name: row.get("legal_name")?,
        email: row.get("email")?,
        country: row.get("country")?,
        accredited_claim: row.get("accredited_claim")?,
        accredited: row.get("accredited")?,
        kyc_expires_on: row.get("kyc_expires_on")?,
        rejection_reason: row.get("rejection_reason")?,
        reviewed_by: row.get("reviewed_by")?,
        wallets,
        version: row.get("version")?,
        created_at: rfc3339(row.get("created_at")?),
        updated_at: rfc3339(row.get("updated_at")?),
    })
}

/// One investor.
pub async fn get(tx: &mut Tx, id: InvestorId) -> Result<Investor> {
    let row = Query::assembled(format!("SELECT {COLUMNS} FROM api_investors WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(tx.exec())
        .await?
        .ok_or(Error::NotFound("investor"))?;
    from_row(tx.exec(), &row).await
}

/// One investor, read outside a transaction.
pub async fn read(db: &Db, id: InvestorId) -> Result<Investor> {
    let row = Query::assembled(format!("SELECT {COLUMNS} FROM api_investors WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(db.reader())
        .await?
        .ok_or(Error::NotFound("investor"))?;
    from_row(db.reader(), &row).await
}

/// The investor a wallet belongs to (active wallets only).
pub async fn of_wallet(db: &Db, wallet: &str) -> Result<Option<Investor>> {
    let row = Query::assembled(format!(
        "SELECT {} FROM api_investors i JOIN api_investor_wallets w ON w.investor_id = i.id \
         WHERE w.wallet = $1 AND w.status = 'active'",
        COLUMNS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(wallet)
    .fetch_optional(db.reader())
    .await?;
    match row {
        Some(r) => Ok(Some(from_row(db.reader(), &r).await?)),
        None => Ok(None),
    }
}

/// Investors by status, in application order.
pub async fn list(
    db: &Db,
    status: Option<ApplicationStatus>,
    page: &PageRequest,
) -> Result<Page<Investor>> {
    let rows = Query::assembled(format!(
        "SELECT {COLUMNS} FROM api_investors WHERE id > $1 AND ($2 IS NULL OR status = $2) ORDER BY id LIMIT $3"
    ))
    .bind(page.after.clone().unwrap_or_default())
    .bind(status.map(|s| s.as_str()))
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(from_row(db.reader(), r).await?);
    }
    Ok(Page::from_probe(out, page, |i| i.id.to_string()))
}

/// A wallet applies: makes the investor (status `submitted`) with the wallet as theirs. A
/// wallet that belongs to an investor already cannot apply again.
pub async fn apply(tx: &mut Tx, wallet: &str, app: &Application) -> Result<Investor> {
    app.check()?;
    let id = InvestorId::new();
    let now = now_ms();
    Query::new(
        "INSERT INTO api_investors (id, registry_id, status, legal_name, email, country, \
         accredited_claim, version, created_at, updated_at) \
         VALUES ($1, $2, 'submitted', $3, $4, $5, $6, 1, $7, $7)",
    )
    .bind(id.to_string())
    .bind(random_bytes::<32>()?.to_vec())
    .bind(app.legal_name.trim())
    .bind(app.email.trim())
    .bind(app.country.as_str())
    .bind(app.accredited_claim)
    .bind(now)
    .execute(tx.exec())
    .await?;
    Query::new(
        "INSERT INTO api_investor_wallets (wallet, investor_id, status, added_at) VALUES ($1, $2, 'active', $3)",
    )
    .bind(wallet)
    .bind(id.to_string())
    .bind(now)
    .execute(tx.exec())
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::conflict(
                "wallet_taken",
                "this wallet belongs to an investor already",
            )
        } else {
            e
        }
    })?;
    get(tx, id).await
}

/// What compliance decides when approving.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Whether the accreditation was verified.
    pub accredited: bool,
    /// When the KYC check expires (YYYY-MM-DD, in the future).
    pub kyc_expires_on: String,
}

/// Why compliance rejects.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// The reason, for the applicant (1 to 500 characters).
    pub reason: String,
}

/// Records an approval (the caller registers the identity on chain in the same transaction).
pub async fn approve(
    tx: &mut Tx,
    id: InvestorId,
    by: &str,
    a: &Approval,
) -> Result<(Investor, NaiveDate)> {
    let date = kyc_date(&a.kyc_expires_on)?;
    let current = get(tx, id).await?;
    if current.status != ApplicationStatus::Submitted {
        return Err(Error::conflict(
            "not_submitted",
            format!(
                "the application is {}, not submitted",
                current.status.as_str()
            ),
        ));
    }
    Query::new(
        "UPDATE api_investors SET status = 'approved', accredited = $1, kyc_expires_on = $2, \
         reviewed_by = $3, reviewed_at = $4, version = version + 1, updated_at = $4 \
         WHERE id = $5 AND status = 'submitted'",
    )
    .bind(a.accredited)
    .bind(date.format("%Y-%m-%d").to_string())
    .bind(by)
    .bind(now_ms())
    .bind(id.to_string())
    .execute(tx.exec())
    .await?;
    Ok((get(tx, id).await?, date))
}

/// Records a rejection.
pub async fn reject(tx: &mut Tx, id: InvestorId, by: &str, r: &Rejection) -> Result<Investor> {
    let reason = r.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid("/reason", "1 to 500 characters"));
    }
    let current = get(tx, id).await?;
    if current.status != ApplicationStatus::Submitted {
        return Err(Error::conflict(
            "not_submitted",
            format!(
                "the application is {}, not submitted",
                current.status.as_str()
            ),
        ));
    }
    Query::new(
        "UPDATE api_investors SET status = 'rejected', rejection_reason = $1, reviewed_by = $2, \
         reviewed_at = $3, version = version + 1, updated_at = $3 WHERE id = $4 AND status = 'submitted'",
    )
    .bind(reason)
    .bind(by)
    .bind(now_ms())
    .bind(id.to_string())
    .execute(tx.exec())
    .await?;
    get(tx, id).await
}

/// The registry id of an investor, as 32 bytes.
pub fn registry_id(inv: &Investor) -> Result<[u8; 32]> {
    let bytes = hex::decode(inv.registry_id.trim_start_matches("0x"))
        .map_err(|_| Error::Corrupt("registry id".to_owned()))?;
    bytes
        .try_into()
        .map_err(|_| Error::Corrupt("registry id length".to_owned()))
}

/// A document an investor gave with their application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvestorDocument {
    /// The document's id.
    pub id: String,
    /// What it is: passport, id_card, proof_of_address, accreditation, other.
    pub kind: String,
    /// The uploaded file's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Its media type.
    pub content_type: String,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// When (RFC 3339).
    pub created_at: String,
}

/// Kinds of KYC documents.
pub const DOCUMENT_KINDS: &[&str] = &[
    "passport",
    "id_card",
    "proof_of_address",
    "accreditation",
    "other",
];

fn document_from(row: &Row) -> Result<InvestorDocument> {
    Ok(InvestorDocument {
        id: row.get("id")?,
        kind: row.get("kind")?,
        filename: row.get("filename")?,
        content_type: row.get("content_type")?,
        sha256: hex::encode(row.get::<Vec<u8>>("sha256")?),
        size: row.get("size")?,
        created_at: rfc3339(row.get("created_at")?),
    })
}

/// Records a KYC document whose bytes are in the blob store (same transaction).
pub async fn add_document(
    tx: &mut Tx,
    investor: InvestorId,
    kind: &str,
    filename: Option<&str>,
    content_type: &str,
    sha256: [u8; 32],
    size: u64,
) -> Result<InvestorDocument> {
    if !DOCUMENT_KINDS.contains(&kind) {
        return Err(Error::invalid(
            "kind",
            format!("expected one of {}", DOCUMENT_KINDS.join(", ")),
        ));
    }
    let row = Query::new(
        "INSERT INTO api_investor_documents (id, investor_id, kind, filename, content_type, sha256, size, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING id, kind, filename, content_type, sha256, size, created_at",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(investor.to_string())
    .bind(kind)
    .bind(filename)
    .bind(content_type)
    .bind(sha256.to_vec())
    .bind(i64::try_from(size).map_err(|_| Error::Internal("document size".to_owned()))?)
    .bind(now_ms())
    .fetch_one(tx.exec())
    .await?;
    document_from(&row)
}

/// An investor's documents, oldest first.
pub async fn documents(db: &Db, investor: InvestorId) -> Result<Vec<InvestorDocument>> {
    Query::new(
        "SELECT id, kind, filename, content_type, sha256, size, created_at FROM api_investor_documents \
         WHERE investor_id = $1 ORDER BY id",
    )
    .bind(investor.to_string())
    .fetch_all(db.reader())
    .await?
    .iter()
    .map(document_from)
    .collect()
}

/// One of an investor's documents.
pub async fn document(db: &Db, investor: InvestorId, id: &str) -> Result<InvestorDocument> {
    let row = Query::new(
        "SELECT id, kind, filename, content_type, sha256, size, created_at FROM api_investor_documents \
         WHERE investor_id = $1 AND id = $2",
    )
    .bind(investor.to_string())
    .bind(id)
    .fetch_optional(db.reader())
    .await?
    .ok_or(Error::NotFound("document"))?;
    document_from(&row)
}

/// Links another wallet to an investor (a wallet once removed may be linked again).
pub async fn link_wallet(tx: &mut Tx, id: InvestorId, wallet: &str) -> Result<()> {
    let now = now_ms();
    let existing =
        Query::new("SELECT investor_id, status FROM api_investor_wallets WHERE wallet = $1")
            .bind(wallet)
            .fetch_optional(tx.exec())
            .await?;
    match existing {
        Some(r) if r.get::<String>("status")? == "active" => Err(Error::conflict(
            "wallet_taken",
            "this wallet belongs to an investor already",
        )),
        Some(_) => {
            Query::new(
                "UPDATE api_investor_wallets SET investor_id = $1, status = 'active', added_at = $2, \
                 removed_at = NULL WHERE wallet = $3",
            )
            .bind(id.to_string())
            .bind(now)
            .bind(wallet)
            .execute(tx.exec())
            .await?;
            touch(tx, id, now).await
        }
        None => {
            Query::new(
                "INSERT INTO api_investor_wallets (wallet, investor_id, status, added_at) VALUES ($1, $2, 'active', $3)",
            )
            .bind(wallet)
            .bind(id.to_string())
            .bind(now)
            .execute(tx.exec())
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::conflict("wallet_taken", "this wallet belongs to an investor already")
                } else {
                    e
                }
            })?;
            touch(tx, id, now).await
        }
    }
}

/// Unlinks a wallet from an investor.
pub async fn unlink_wallet(tx: &mut Tx, id: InvestorId, wallet: &str) -> Result<()> {
    let now = now_ms();
    let n = Query::new(
        "UPDATE api_investor_wallets SET status = 'removed', removed_at = $1 \
         WHERE wallet = $2 AND investor_id = $3 AND status = 'active'",
    )
    .bind(now)
    .bind(wallet)
    .bind(id.to_string())
    .execute(tx.exec())
    .await?;
    if n == 0 {
        return Err(Error::NotFound("wallet"));
    }
    touch(tx, id, now).await
}

async fn touch(tx: &mut Tx, id: InvestorId, now: i64) -> Result<()> {
    Query::new("UPDATE api_investors SET version = version + 1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id.to_string())
        .execute(tx.exec())
        .await?;
    Ok(())
}

/// One investor of a register being imported: who they are, what compliance verified, and
/// their wallet.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Legal name (1 to 200 characters).
    pub legal_name: String,
    /// Email for notices.
    pub email: String,
    /// ISO 3166-1 alpha-2 country of residence (`US`).
    pub country: String,
    /// Whether the accreditation was verified.
    pub accredited: bool,
    /// When the KYC check expires (YYYY-MM-DD, in the future).
    pub kyc_expires_on: String,
    /// The investor's wallet.
    pub wallet: String,
}

/// A registration whose fields passed their checks.
#[derive(Clone, Copy, Debug)]
pub struct CheckedRegistration {
    /// The wallet.
    pub wallet: Address,
    /// The registry's country number.
    pub country: u16,
    /// When the KYC check expires.
    pub kyc_expires_on: NaiveDate,
}

impl Registration {
    /// Checks every field, with pointers relative to the item.
    pub fn check(&self) -> Result<CheckedRegistration> {
        let mut c = Checks::new();
        let application = Application {
            legal_name: self.legal_name.clone(),
            email: self.email.clone(),
            country: self.country.clone(),
            accredited_claim: self.accredited,
        };
        c.take(application.check());
        let country = country_numeric("/country", &self.country).ok();
        let expires = c.take(kyc_date(&self.kyc_expires_on));
        let wallet = match self.wallet.parse::<Address>() {
            Ok(w) if !w.is_zero() => Some(w),
            _ => {
                c.push("/wallet", "an address (0x and 40 hex digits), not zero");
                None
            }
        };
        c.finish()?;
        match (wallet, country, expires) {
            (Some(wallet), Some(country), Some(kyc_expires_on)) => Ok(CheckedRegistration {
                wallet,
                country,
                kyc_expires_on,
            }),
            _ => Err(Error::Internal(
                "a checked registration lost a field".to_owned(),
            )),
        }
    }
}

/// A KYC expiry date: YYYY-MM-DD, after today.
fn kyc_date(text: &str) -> Result<NaiveDate> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Error::invalid("/kyc_expires_on", "a date as YYYY-MM-DD"))?;
    if date <= chrono::Utc::now().date_naive() {
        return Err(Error::invalid("/kyc_expires_on", "must be in the future"));
    }
    Ok(date)
}

/// The registry's KYC expiry of a date: the last second of that day (UTC), in Unix seconds.
pub fn kyc_expiry_s(date: NaiveDate) -> Result<u64> {
    date.and_hms_opt(23, 59, 59)
        .map(|t| t.and_utc().timestamp())
        .and_then(|t| u64::try_from(t).ok())
        .ok_or_else(|| Error::invalid("/kyc_expires_on", "out of range"))
}

/// What importing one registration did.
#[derive(Clone, Debug)]
pub enum Imported {
    /// A new investor, approved, with the wallet.
    Created(Investor),
    /// The wallet's investor, approved (if they had only applied) and updated.
    Updated(Investor),
    /// The wallet's investor was rejected: nothing changed.
    Rejected(InvestorId),
}

/// Imports one registration: the wallet's investor is approved and updated with it, or a new
/// investor is made, approved, with the wallet. The caller registers the result on chain in
/// the same transaction.
pub async fn import(
    tx: &mut Tx,
    by: &str,
    r: &Registration,
    c: &CheckedRegistration,
    new_registry_id: [u8; 32],
) -> Result<Imported> {
    let wallet = c.wallet.to_checksum(None);
    let now = now_ms();
    let owner = Query::new(
        "SELECT i.id, i.status FROM api_investor_wallets w JOIN api_investors i ON i.id = w.investor_id \
         WHERE w.wallet = $1 AND w.status = 'active'",
    )
    .bind(wallet.as_str())
    .fetch_optional(tx.exec())
    .await?;
    let expires = c.kyc_expires_on.format("%Y-%m-%d").to_string();
    if let Some(row) = owner {
        let id = InvestorId::stored(&row.get::<String>("id")?)?;
        if row.get::<String>("status")? == "rejected" {
            return Ok(Imported::Rejected(id));
        }
        Query::new(
            "UPDATE api_investors SET status = 'approved', legal_name = $1, email = $2, country = $3, \
             accredited = $4, kyc_expires_on = $5, reviewed_by = $6, reviewed_at = $7, \
             version = version + 1, updated_at = $7 WHERE id = $8",
        )
        .bind(r.legal_name.trim())
        .bind(r.email.trim())
        .bind(r.country.as_str())
        .bind(r.accredited)
        .bind(expires)
        .bind(by)
        .bind(now)
        .bind(id.to_string())
        .execute(tx.exec())
        .await?;
        return Ok(Imported::Updated(get(tx, id).await?));
    }
    let id = InvestorId::new();
    Query::new(
        "INSERT INTO api_investors (id, registry_id, status, legal_name, email, country, \
         accredited_claim, accredited, kyc_expires_on, reviewed_by, reviewed_at, version, \
         created_at, updated_at) \
         VALUES ($1, $2, 'approved', $3, $4, $5, $6, $6, $7, $8, $9, 1, $9, $9)",
    )
    .bind(id.to_string())
    .bind(new_registry_id.to_vec())
    .bind(r.legal_name.trim())
    .bind(r.email.trim())
    .bind(r.country.as_str())
    .bind(r.accredited)
    .bind(expires)
    .bind(by)
    .bind(now)
    .execute(tx.exec())
    .await?;
    link_wallet(tx, id, &wallet).await?;
    Ok(Imported::Created(get(tx, id).await?))
}
