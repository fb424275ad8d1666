//! Business documents: SOPs, business plans, policies, deal memos and investor statement
//! templates, as ordered sections with typed variables.
//!
//! Every save is an immutable version (author, time, comment, parent). An edit names the
//! version it was based on (`If-Match`): based on the current one it simply follows it; based
//! on an older one it is merged three ways when the two changes touch different sections, and
//! refused with the conflicting sections when they overlap. A rollback is a new version equal
//! to an old one. Publishing needs the approvers' sign-off on the version under review (an
//! author never approves their own version); a published version stays read-only and in force
//! until the next one is published, and its hash joins the publications' Merkle root that the
//! books' anchor records on chain. Every action lands in the document's append-only trail.
//!
//! Permissions: admins may do anything; auditors read everything. A document lists viewers,
//! editors and approvers by user id: a restricted document is shown only to its owner, its
//! members, admins and auditors; with editors listed, only they, the owner and admins edit;
//! with approvers listed, only they approve. With no one listed, the staff roles that write
//! documents (admin, operator, compliance) may edit and approve.

pub mod content;
pub mod merge;
pub mod proof;
pub mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Actor, Principal, Role};
use crate::blobs::Sha256Hash;
use crate::db::{Db, Engine, Exec, Query, Row, Tx};
use crate::error::{Checks, Error, Result};
use crate::types::{Page, PageRequest, now_ms, rfc3339, typed_id};
use content::{Content, DocType};

typed_id!(
    /// A business document's id.
    BusinessDocumentId,
    "business document"
);

typed_id!(
    /// An attachment's id.
    AttachmentId,
    "attachment"
);

/// Most results a search returns.
pub const SEARCH_MAX: u32 = 50;
/// Most members of each kind a document lists.
pub const MEMBERS_MAX: usize = 100;

/// Where a document stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being written.
    Draft,
    /// Submitted for approval.
    InReview,
    /// Its latest version is the one in force.
    Published,
    /// Withdrawn; read-only.
    Archived,
}

impl Status {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::InReview => "in_review",
            Status::Published => "published",
            Status::Archived => "archived",
        }
    }

    /// From storage or a query.
    pub fn parse(pointer: &str, s: &str) -> Result<Status> {
        Ok(match s {
            "draft" => Status::Draft,
            "in_review" => Status::InReview,
            "published" => Status::Published,
            "archived" => Status::Archived,
            _ => {
                return Err(Error::invalid(
                    pointer,
                    "expected draft, in_review, published or archived",
                ));
            }
        })
    }
}

/// Who is asking, as per-document permissions see them.
#[derive(Clone, Debug)]
pub struct Access {
    /// `user:<id>` for a staff user or a key they own, `key:<id>` for a service key.
    pub subject: String,
    /// Their role.
    pub role: Role,
    /// The actor recorded for their writes.
    pub actor: Actor,
}

impl Access {
    /// The access of an authenticated caller.
    pub fn of(p: &Principal) -> Access {
        let subject = match p {
            Principal::User { user_id, .. } => format!("user:{user_id}"),
            Principal::Key {
                owner_user_id: Some(u),
                ..
            } => format!("user:{u}"),
            Principal::Key { key_id, .. } => format!("key:{key_id}"),
            Principal::Wallet { wallet, .. } => format!("wallet:{wallet}"),
        };
        Access {
            subject,
            role: p.role(),
            actor: p.actor(),
        }
    }

    fn writes_documents(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Operator | Role::Compliance)
    }
}

/// A decision on the version under review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Approval {
    /// The version decided on.
    pub version: i64,
    /// Who decided (`user:<id>` or `key:<id>`).
    pub approver: String,
    /// `approved` or `rejected`.
    pub decision: String,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

/// A file attached to a business document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Attachment {
    /// Its id.
    pub id: AttachmentId,
    /// Its title.
    pub title: String,
    /// The uploaded file's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The media type it is served with.
    pub content_type: String,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Who attached it.
    pub uploaded_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Where the bytes are served.
    pub content_url: String,
}

/// A business document as the API shows it: its settings and its current version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct BusinessDocument {
    /// Its id.
    pub id: BusinessDocumentId,
    /// What kind of document.
    #[serde(rename = "type")]
    pub doc_type: DocType,
    /// The current version's title.
    pub title: String,
    /// Where it stands.
    pub status: Status,
    /// The current version (also the `ETag`).
    pub version: i64,
    /// The version submitted for review, while in review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_version: Option<i64>,
    /// The version in force: the last one published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_version: Option<i64>,
    /// Approvals publishing needs.
    pub approvals_required: i64,
    /// Whether only its owner, members, admins and auditors see it.
    pub restricted: bool,
    /// Who made it.
    pub owner: String,
    /// Members who may read it (user ids).
    pub viewers: Vec<String>,
    /// Members who may edit it (user ids; none listed: any staff role that writes documents).
    pub editors: Vec<String>,
    /// Members who may approve it (user ids; none listed: any staff role that writes
    /// documents).
    pub approvers: Vec<String>,
    /// The decisions on the version under review.
    pub approvals: Vec<Approval>,
    /// The current version's content.
    pub content: Content,
    /// The current version's SHA-256 (hex) over its canonical form.
    pub sha256: String,
    /// Files attached.
    pub attachments: Vec<Attachment>,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

/// A document in a list or a search: without its content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Summary {
    /// Its id.
    pub id: BusinessDocumentId,
    /// What kind of document.
    #[serde(rename = "type")]
    pub doc_type: DocType,
    /// Its title.
    pub title: String,
    /// Where it stands.
    pub status: Status,
    /// The current version.
    pub version: i64,
    /// The version in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_version: Option<i64>,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
    /// For a search: the matching text, matches in `[` `]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// What kind of save made a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionKind {
    /// The first version.
    Created,
    /// An edit of the version before it.
    Edited,
    /// An edit based on an older version, merged with the changes made since.
    Merged,
    /// A copy of an older version.
    RolledBack,
}

impl VersionKind {
    fn as_str(self) -> &'static str {
        match self {
            VersionKind::Created => "created",
            VersionKind::Edited => "edited",
            VersionKind::Merged => "merged",
            VersionKind::RolledBack => "rolled_back",
        }
    }

    fn parse(s: &str) -> Result<VersionKind> {
        Ok(match s {
            "created" => VersionKind::Created,
            "edited" => VersionKind::Edited,
            "merged" => VersionKind::Merged,
            "rolled_back" => VersionKind::RolledBack,
            other => return Err(Error::Corrupt(format!("version kind {other:?}"))),
        })
    }
}

/// One version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Version {
    /// Its number (1, 2, ...).
    pub number: i64,
    /// The version it follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<i64>,
    /// For a merge, the older version the edit was based on; for a rollback, the version
    /// copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<i64>,
    /// What made it.
    pub kind: VersionKind,
    /// Its title.
    pub title: String,
    /// SHA-256 (hex) over its canonical form.
    pub sha256: String,
    /// Who saved it (`user:<id>` or `key:<id>`).
    pub author: String,
    /// Their name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When (RFC 3339).
    pub created_at: String,
    /// Whether it was published.
    pub published: bool,
    /// Its content (when one version is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
}

/// One entry of a document's audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TrailEntry {
    /// Its number (increasing).
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who (`user:<id>`, `key:<id>`).
    pub actor: String,
    /// Their name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// What: created, edited, merged, rolled_back, permissions_changed, submitted, approved,
    /// rejected, published, archived, attached.
    pub action: String,
    /// The version it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// The stored row of a document.
#[derive(Clone, Debug)]
pub struct Doc {
    /// Its id.
    pub id: BusinessDocumentId,
    /// Its type.
    pub doc_type: DocType,
    /// The current title.
    pub title: String,
    /// Where it stands.
    pub status: Status,
    /// The current version.
    pub head: i64,
    /// The version in review.
    pub review: Option<i64>,
    /// The version in force.
    pub published: Option<i64>,
    /// Approvals needed.
    pub approvals_required: i64,
    /// Restricted to its members.
    pub restricted: bool,
    /// Its owner's subject.
    pub owner: String,
    created_at: i64,
    updated_at: i64,
}

const DOC_COLUMNS: &str = "id, doc_type, title, status, head_version, review_version, \
    published_version, approvals_required, restricted, owner, created_at, updated_at";

fn doc_from(row: &Row) -> Result<Doc> {
    let t: String = row.get("doc_type")?;
    let s: String = row.get("status")?;
    Ok(Doc {
        id: BusinessDocumentId::stored(&row.get::<String>("id")?)?,
        doc_type: DocType::parse("doc_type", &t)
            .map_err(|_| Error::Corrupt(format!("document type {t:?}")))?,
        title: row.get("title")?,
        status: Status::parse("status", &s)
            .map_err(|_| Error::Corrupt(format!("document status {s:?}")))?,
        head: row.get("head_version")?,
        review: row.get("review_version")?,
        published: row.get("published_version")?,
        approvals_required: row.get("approvals_required")?,
        restricted: row.get("restricted")?,
        owner: row.get("owner")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// The members of a document by role (subjects).
#[derive(Clone, Debug, Default)]
pub struct Members {
    /// Readers.
    pub viewers: Vec<String>,
    /// Editors.
    pub editors: Vec<String>,
    /// Approvers.
    pub approvers: Vec<String>,
}

impl Members {
    fn all(&self) -> impl Iterator<Item = &String> {
        self.viewers
            .iter()
            .chain(&self.editors)
            .chain(&self.approvers)
    }
}

async fn members(exec: Exec<'_>, id: BusinessDocumentId) -> Result<Members> {
    let rows = Query::new(
        "SELECT subject, role FROM api_business_document_members WHERE document_id = $1 \
         ORDER BY role, subject",
    )
    .bind(id.to_string())
    .fetch_all(exec)
    .await?;
    let mut m = Members::default();
    for r in rows {
        let subject: String = r.get("subject")?;
        match r.get::<String>("role")?.as_str() {
            "viewer" => m.viewers.push(subject),
            "editor" => m.editors.push(subject),
            _ => m.approvers.push(subject),
        }
    }
    Ok(m)
}

fn can_view(doc: &Doc, m: &Members, a: &Access) -> bool {
    !doc.restricted
        || matches!(a.role, Role::Admin | Role::Auditor)
        || doc.owner == a.subject
        || m.all().any(|s| *s == a.subject)
}

fn can_edit(doc: &Doc, m: &Members, a: &Access) -> bool {
    a.writes_documents()
        && (a.role == Role::Admin
            || doc.owner == a.subject
            || m.editors.contains(&a.subject)
            || (m.editors.is_empty() && can_view(doc, m, a)))
}

fn can_approve(doc: &Doc, m: &Members, a: &Access) -> bool {
    a.writes_documents()
        && if m.approvers.is_empty() {
            can_view(doc, m, a)
        } else {
            m.approvers.contains(&a.subject)
        }
}

/// A document with its members, once the caller may see it.
pub async fn load(exec: Exec<'_>, id: BusinessDocumentId, a: &Access) -> Result<(Doc, Members)> {
    let (doc, m) = load_any(exec, id).await?;
    if !can_view(&doc, &m, a) {
        return Err(Error::Forbidden(
            "this document is restricted to its owner and members".to_owned(),
        ));
    }
    Ok((doc, m))
}

async fn load_any(mut exec: Exec<'_>, id: BusinessDocumentId) -> Result<(Doc, Members)> {
    let row = Query::assembled(format!(
        "SELECT {DOC_COLUMNS} FROM api_business_documents WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(exec.reborrow())
    .await?
    .ok_or(Error::NotFound("business document"))?;
    let doc = doc_from(&row)?;
    let m = members(exec, id).await?;
    Ok((doc, m))
}

/// Loads a document for a change the caller must be allowed to make, in `tx`.
async fn load_for(
    tx: &mut Tx,
    id: BusinessDocumentId,
    a: &Access,
    allowed: fn(&Doc, &Members, &Access) -> bool,
    what: &str,
) -> Result<(Doc, Members)> {
    let (doc, m) = load(tx.exec(), id, a).await?;
    if !allowed(&doc, &m, a) {
        return Err(Error::Forbidden(format!(
            "only this document's {what} may do this"
        )));
    }
    Ok((doc, m))
}

fn not_archived(doc: &Doc) -> Result<()> {
    if doc.status == Status::Archived {
        return Err(Error::conflict(
            "archived",
            "the document is archived and read-only",
        ));
    }
    Ok(())
}

/// Records an entry of the document's audit trail.
async fn trail(
    tx: &mut Tx,
    id: BusinessDocumentId,
    a: &Access,
    action: &str,
    version: Option<i64>,
    detail: serde_json::Value,
) -> Result<()> {
    Query::new(
        "INSERT INTO api_business_document_events (document_id, at, actor, actor_name, action, \
         version, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.to_string())
    .bind(now_ms())
    .bind(a.subject.as_str())
    .bind(a.actor.name.clone())
    .bind(action)
    .bind(version)
    .bind(detail.to_string())
    .execute(tx.exec())
    .await?;
    Ok(())
}

/// Keeps the search index on the current version.
async fn index_text(
    tx: &mut Tx,
    engine: Engine,
    id: BusinessDocumentId,
    title: &str,
    text: &str,
) -> Result<()> {
    if engine == Engine::Sqlite {
        Query::new("DELETE FROM api_business_documents_fts WHERE id = $1")
            .bind(id.to_string())
            .execute(tx.exec())
            .await?;
        Query::new("INSERT INTO api_business_documents_fts (id, title, body) VALUES ($1, $2, $3)")
            .bind(id.to_string())
            .bind(title)
            .bind(text)
            .execute(tx.exec())
            .await?;
    }
    Ok(())
}

/// Stores a new version.
#[allow(clippy::too_many_arguments)]
async fn insert_version(
    tx: &mut Tx,
    doc: &Doc,
    number: i64,
    kind: VersionKind,
    base: Option<i64>,
    title: &str,
    content: &Content,
    a: &Access,
    comment: Option<&str>,
) -> Result<[u8; 32]> {
    let sha = content::sha256(doc.doc_type, title, content);
    let json = serde_json::to_string(content)
        .map_err(|e| Error::Internal(format!("serializing content: {e}")))?;
    Query::new(
        "INSERT INTO api_business_document_versions (document_id, number, parent, base, kind, \
         title, content, sha256, author, author_name, comment, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(doc.id.to_string())
    .bind(number)
    .bind((number > 1).then_some(number - 1))
    .bind(base)
    .bind(kind.as_str())
    .bind(title)
    .bind(json)
    .bind(sha.to_vec())
    .bind(a.subject.as_str())
    .bind(a.actor.name.clone())
    .bind(comment)
    .bind(now_ms())
    .execute(tx.exec())
    .await?;
    Ok(sha)
}

fn check_comment(comment: Option<&str>) -> Result<()> {
    if comment.is_some_and(|c| c.chars().count() > 1_000) {
        return Err(Error::invalid("/comment", "at most 1,000 characters"));
    }
    Ok(())
}

/// The permissions and review settings of a document.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Only the owner, members, admins and auditors see it (default false).
    #[serde(default)]
    pub restricted: Option<bool>,
    /// Approvals publishing needs, 1 to 10 (default 1).
    #[serde(default)]
    pub approvals_required: Option<i64>,
    /// User ids who may read it.
    #[serde(default)]
    pub viewers: Option<Vec<String>>,
    /// User ids who may edit it.
    #[serde(default)]
    pub editors: Option<Vec<String>>,
    /// User ids who may approve it.
    #[serde(default)]
    pub approvers: Option<Vec<String>>,
}

impl Permissions {
    async fn check(&self, exec: &mut Exec<'_>, pointer: &str) -> Result<()> {
        let mut c = Checks::new();
        if let Some(n) = self.approvals_required
            && !(1..=10).contains(&n)
        {
            c.push(format!("{pointer}/approvals_required"), "1 to 10");
        }
        for (name, list) in [
            ("viewers", &self.viewers),
            ("editors", &self.editors),
            ("approvers", &self.approvers),
        ] {
            let Some(list) = list else { continue };
            if list.len() > MEMBERS_MAX {
                c.push(
                    format!("{pointer}/{name}"),
                    format!("at most {MEMBERS_MAX}"),
                );
                continue;
            }
            for (i, u) in list.iter().enumerate() {
                let found = Query::new("SELECT id FROM api_users WHERE id = $1")
                    .bind(u.as_str())
                    .fetch_optional(exec.reborrow())
                    .await?;
                if found.is_none() {
                    c.push(format!("{pointer}/{name}/{i}"), "no such user");
                }
            }
        }
        c.finish()
    }
}

async fn set_members(tx: &mut Tx, id: BusinessDocumentId, p: &Permissions) -> Result<()> {
    for (role, list) in [
        ("viewer", &p.viewers),
        ("editor", &p.editors),
        ("approver", &p.approvers),
    ] {
        let Some(list) = list else { continue };
        Query::new(
            "DELETE FROM api_business_document_members WHERE document_id = $1 AND role = $2",
        )
        .bind(id.to_string())
        .bind(role)
        .execute(tx.exec())
        .await?;
        let mut seen = std::collections::BTreeSet::new();
        for u in list {
            if !seen.insert(u) {
                continue;
            }
            Query::new(
                "INSERT INTO api_business_document_members (document_id, subject, role) \
                 VALUES ($1, $2, $3)",
            )
            .bind(id.to_string())
            .bind(format!("user:{u}"))
            .bind(role)
            .execute(tx.exec())
            .await?;
        }
    }
    Ok(())
}

/// A new document.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBusinessDocument {
    /// What kind of document (default: the template's).
    #[serde(rename = "type", default)]
    pub doc_type: Option<DocType>,
    /// Its title (default: the template's).
    #[serde(default)]
    pub title: Option<String>,
    /// Its content (or start from `template`).
    #[serde(default)]
    pub content: Option<Content>,
    /// A built-in template to start from: `investor_statement` or `deal_memo`.
    #[serde(default)]
    pub template: Option<String>,
    /// Why, for the first version.
    #[serde(default)]
    pub comment: Option<String>,
    /// Permissions and review settings.
    #[serde(default)]
    pub permissions: Option<Permissions>,
}

/// Creates a document with its first version.
pub async fn create(
    tx: &mut Tx,
    engine: Engine,
    a: &Access,
    new: NewBusinessDocument,
) -> Result<BusinessDocument> {
    let (doc_type, title, mut content) = match new.template.as_deref() {
        Some(name) => {
            let Some((_, t, title, c)) = render::templates().into_iter().find(|t| t.0 == name)
            else {
                return Err(Error::invalid(
                    "/template",
                    "expected investor_statement or deal_memo",
                ));
            };
            (
                new.doc_type.unwrap_or(t),
                new.title.unwrap_or_else(|| title.to_owned()),
                new.content.unwrap_or(c),
            )
        }
        None => (
            new.doc_type
                .ok_or_else(|| Error::invalid("/type", "required (or a template)"))?,
            new.title
                .ok_or_else(|| Error::invalid("/title", "required (or a template)"))?,
            new.content.unwrap_or_default(),
        ),
    };
    content::check_title("/title", &title)?;
    content.assign_keys();
    content.check()?;
    check_comment(new.comment.as_deref())?;
    let perms = new.permissions.unwrap_or_default();
    perms.check(&mut tx.exec(), "/permissions").await?;
    let id = BusinessDocumentId::new();
    let now = now_ms();
    let title = title.trim().to_owned();
    Query::assembled(format!(
        "INSERT INTO api_business_documents ({DOC_COLUMNS}, search_text) \
         VALUES ($1, $2, $3, 'draft', 1, NULL, NULL, $4, $5, $6, $7, $7, $8)"
    ))
    .bind(id.to_string())
    .bind(doc_type.as_str())
    .bind(title.as_str())
    .bind(perms.approvals_required.unwrap_or(1))
    .bind(perms.restricted.unwrap_or(false))
    .bind(a.subject.as_str())
    .bind(now)
    .bind(content.search_text())
    .execute(tx.exec())
    .await?;
    set_members(tx, id, &perms).await?;
    let (doc, _) = load_any(tx.exec(), id).await?;
    insert_version(
        tx,
        &doc,
        1,
        VersionKind::Created,
        None,
        &title,
        &content,
        a,
        new.comment.as_deref(),
    )
    .await?;
    index_text(tx, engine, id, &title, &content.search_text()).await?;
    trail(
        tx,
        id,
        a,
        "created",
        Some(1),
        serde_json::json!({"type": doc_type.as_str(), "template": new.template}),
    )
    .await?;
    view(tx.exec(), id, a).await
}

/// A version's title and content.
pub async fn version_content(
    exec: Exec<'_>,
    id: BusinessDocumentId,
    number: i64,
) -> Result<(String, Content, [u8; 32])> {
    let row = Query::new(
        "SELECT title, content, sha256 FROM api_business_document_versions \
         WHERE document_id = $1 AND number = $2",
    )
    .bind(id.to_string())
    .bind(number)
    .fetch_optional(exec)
    .await?
    .ok_or(Error::NotFound("version"))?;
    let content: Content = serde_json::from_str(&row.get::<String>("content")?)
        .map_err(|e| Error::Corrupt(format!("a version's content: {e}")))?;
    let sha: Vec<u8> = row.get("sha256")?;
    let sha: [u8; 32] = sha
        .try_into()
        .map_err(|_| Error::Corrupt("a version's hash".to_owned()))?;
    Ok((row.get("title")?, content, sha))
}

/// The document as the API shows it.
pub async fn view(
    mut exec: Exec<'_>,
    id: BusinessDocumentId,
    a: &Access,
) -> Result<BusinessDocument> {
    let (doc, m) = load(exec.reborrow(), id, a).await?;
    let (title, content, sha) = version_content(exec.reborrow(), id, doc.head).await?;
    let approvals = match doc.review {
        Some(v) => approvals(exec.reborrow(), id, v).await?,
        None => Vec::new(),
    };
    let attachments = attachments(exec, id).await?;
    let users = |l: &[String]| {
        l.iter()
            .map(|s| s.strip_prefix("user:").unwrap_or(s).to_owned())
            .collect()
    };
    Ok(BusinessDocument {
        id,
        doc_type: doc.doc_type,
        title,
        status: doc.status,
        version: doc.head,
        review_version: doc.review,
        published_version: doc.published,
        approvals_required: doc.approvals_required,
        restricted: doc.restricted,
        owner: doc.owner,
        viewers: users(&m.viewers),
        editors: users(&m.editors),
        approvers: users(&m.approvers),
        approvals,
        content,
        sha256: hex::encode(sha),
        attachments,
        created_at: rfc3339(doc.created_at),
        updated_at: rfc3339(doc.updated_at),
    })
}

async fn approvals(exec: Exec<'_>, id: BusinessDocumentId, version: i64) -> Result<Vec<Approval>> {
    let rows = Query::new(
        "SELECT version, approver, decision, comment, created_at FROM \
         api_business_document_approvals WHERE document_id = $1 AND version = $2 \
         ORDER BY created_at, approver",
    )
    .bind(id.to_string())
    .bind(version)
    .fetch_all(exec)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Approval {
                version: r.get("version")?,
                approver: r.get("approver")?,
                decision: r.get("decision")?,
                comment: r.get("comment")?,
                at: rfc3339(r.get("created_at")?),
            })
        })
        .collect()
}

/// An edit: the whole new title and content, based on the version `If-Match` names.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// The title (default: the base version's).
    #[serde(default)]
    pub title: Option<String>,
    /// The content.
    pub content: Content,
    /// Why.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Moves the document's head to `number` (only from `expected`), back to draft.
async fn advance(
    tx: &mut Tx,
    engine: Engine,
    doc: &Doc,
    number: i64,
    title: &str,
    content: &Content,
) -> Result<()> {
    let text = content.search_text();
    let n = Query::new(
        "UPDATE api_business_documents SET head_version = $1, title = $2, search_text = $3, \
         status = 'draft', review_version = NULL, updated_at = $4 \
         WHERE id = $5 AND head_version = $6",
    )
    .bind(number)
    .bind(title)
    .bind(text.as_str())
    .bind(now_ms())
    .bind(doc.id.to_string())
    .bind(doc.head)
    .execute(tx.exec())
    .await?;
    if n == 0 {
        return Err(Error::PreconditionFailed { current: doc.head });
    }
    index_text(tx, engine, doc.id, title, &text).await
}

/// Saves an edit based on version `base`: after the current version when `base` is it;
/// merged with the changes since when they touch other sections; refused with the
/// conflicting sections otherwise. Returns the document and, for a merge, the base.
pub async fn edit(
    tx: &mut Tx,
    engine: Engine,
    a: &Access,
    id: BusinessDocumentId,
    base: Option<i64>,
    edit: Edit,
) -> Result<(BusinessDocument, Option<i64>)> {
    let base = base.ok_or_else(|| {
        Error::invalid(
            "If-Match",
            "required: the version the edit is based on (its ETag)",
        )
    })?;
    let (doc, _) = load_for(tx, id, a, can_edit, "editors").await?;
    not_archived(&doc)?;
    check_comment(edit.comment.as_deref())?;
    if base < 1 || base > doc.head {
        return Err(Error::PreconditionFailed { current: doc.head });
    }
    let (base_title, base_content, _) = version_content(tx.exec(), id, base).await?;
    let mut theirs = edit.content;
    theirs.assign_keys();
    theirs.check()?;
    let their_title = edit.title.unwrap_or_else(|| base_title.clone());
    content::check_title("/title", &their_title)?;
    let their_title = their_title.trim().to_owned();
    let (title, content, kind, merged_from) = if base == doc.head {
        (their_title, theirs, VersionKind::Edited, None)
    } else {
        let (our_title, ours, _) = version_content(tx.exec(), id, doc.head).await?;
        match merge::merge(
            (&base_title, &base_content),
            (&our_title, &ours),
            (&their_title, &theirs),
        ) {
            Ok((t, c)) => {
                c.check()?;
                (t, c, VersionKind::Merged, Some(base))
            }
            Err(sections) => {
                return Err(Error::MergeConflict {
                    current: doc.head,
                    sections,
                });
            }
        }
    };
    let number = doc.head + 1;
    advance(tx, engine, &doc, number, &title, &content).await?;
    insert_version(
        tx,
        &doc,
        number,
        kind,
        merged_from,
        &title,
        &content,
        a,
        edit.comment.as_deref(),
    )
    .await?;
    trail(
        tx,
        id,
        a,
        kind.as_str(),
        Some(number),
        serde_json::json!({"based_on": base, "comment": edit.comment}),
    )
    .await?;
    Ok((view(tx.exec(), id, a).await?, merged_from))
}

/// Makes a new version equal to version `to`, after the current one (`expected`, from
/// `If-Match`).
pub async fn rollback(
    tx: &mut Tx,
    engine: Engine,
    a: &Access,
    id: BusinessDocumentId,
    expected: Option<i64>,
    to: i64,
    comment: Option<String>,
) -> Result<BusinessDocument> {
    let (doc, _) = load_for(tx, id, a, can_edit, "editors").await?;
    not_archived(&doc)?;
    check_comment(comment.as_deref())?;
    if let Some(e) = expected
        && e != doc.head
    {
        return Err(Error::PreconditionFailed { current: doc.head });
    }
    if to < 1 || to >= doc.head {
        return Err(Error::invalid(
            "/version",
            format!("a version before the current one (1 to {})", doc.head - 1),
        ));
    }
    let (title, content, _) = version_content(tx.exec(), id, to).await?;
    let number = doc.head + 1;
    advance(tx, engine, &doc, number, &title, &content).await?;
    insert_version(
        tx,
        &doc,
        number,
        VersionKind::RolledBack,
        Some(to),
        &title,
        &content,
        a,
        comment.as_deref(),
    )
    .await?;
    trail(
        tx,
        id,
        a,
        "rolled_back",
        Some(number),
        serde_json::json!({"to": to, "comment": comment}),
    )
    .await?;
    view(tx.exec(), id, a).await
}

/// Changes the permissions and review settings (absent fields stay).
pub async fn set_permissions(
    tx: &mut Tx,
    a: &Access,
    id: BusinessDocumentId,
    p: Permissions,
) -> Result<BusinessDocument> {
    let (doc, _) = load_for(tx, id, a, can_edit, "editors").await?;
    p.check(&mut tx.exec(), "").await?;
    Query::new(
        "UPDATE api_business_documents SET approvals_required = $1, restricted = $2, \
         updated_at = $3 WHERE id = $4",
    )
    .bind(p.approvals_required.unwrap_or(doc.approvals_required))
    .bind(p.restricted.unwrap_or(doc.restricted))
    .bind(now_ms())
    .bind(id.to_string())
    .execute(tx.exec())
    .await?;
    set_members(tx, id, &p).await?;
    trail(
        tx,
        id,
        a,
        "permissions_changed",
        None,
        serde_json::json!({
            "restricted": p.restricted, "approvals_required": p.approvals_required,
            "viewers": p.viewers, "editors": p.editors, "approvers": p.approvers,
        }),
    )
    .await?;
    view(tx.exec(), id, a).await
}

/// Submits the current version for approval.
pub async fn submit(
    tx: &mut Tx,
    a: &Access,
    id: BusinessDocumentId,
    expected: Option<i64>,
) -> Result<BusinessDocument> {
    let (doc, _) = load_for(tx, id, a, can_edit, "editors").await?;
    not_archived(&doc)?;
    if let Some(e) = expected
        && e != doc.head
    {
        return Err(Error::PreconditionFailed { current: doc.head });
    }
    match doc.status {
        Status::Draft => {}
        Status::InReview => {
            return Err(Error::conflict(
                "already_in_review",
                format!("version {} is in review", doc.head),
            ));
        }
        _ => {
            return Err(Error::conflict(
                "nothing_to_review",
                "the current version is published; edit it to make a new one",
            ));
        }
    }
    Query::new(
        "UPDATE api_business_documents SET status = 'in_review', review_version = $1, \
         updated_at = $2 WHERE id = $3 AND head_version = $1",
    )
    .bind(doc.head)
    .bind(now_ms())
    .bind(id.to_string())
    .execute(tx.exec())
    .await?;
    trail(
        tx,
        id,
        a,
        "submitted",
        Some(doc.head),
        serde_json::json!({}),
    )
    .await?;
    view(tx.exec(), id, a).await
}

/// An approver's decision.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `approve` or `reject` (a rejection sends the document back to draft).
    pub decision: String,
    /// Why (required to reject).
    #[serde(default)]
    pub comment: Option<String>,
}

/// Records an approver's decision on the version in review.
pub async fn decide(
    tx: &mut Tx,
    a: &Access,
    id: BusinessDocumentId,
    d: Decision,
) -> Result<BusinessDocument> {
    let (doc, _) = load_for(tx, id, a, can_approve, "approvers").await?;
    check_comment(d.comment.as_deref())?;
    let approve = match d.decision.as_str() {
        "approve" => true,
        "reject" => {
            if d.comment.as_deref().is_none_or(|c| c.trim().is_empty()) {
                return Err(Error::invalid("/comment", "required to reject"));
            }
            false
        }
        _ => return Err(Error::invalid("/decision", "expected approve or reject")),
    };
    let (Status::InReview, Some(version)) = (doc.status, doc.review) else {
        return Err(Error::conflict(
            "not_in_review",
            "no version of this document is in review",
        ));
    };
    let author: String = Query::new(
        "SELECT author FROM api_business_document_versions WHERE document_id = $1 AND number = $2",
    )
    .bind(id.to_string())
    .bind(version)
    .fetch_one(tx.exec())
    .await?
    .get("author")?;
    if author == a.subject {
        return Err(Error::Forbidden(format!(
            "version {version} is yours: its author may not approve or reject it"
        )));
    }
    let inserted = Query::new(
        "INSERT INTO api_business_document_approvals (document_id, version, approver, decision, \
         comment, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(id.to_string())
    .bind(version)
    .bind(a.subject.as_str())
    .bind(if approve { "approved" } else { "rejected" })
    .bind(d.comment.clone())
    .bind(now_ms())
    .execute(tx.exec())
    .await?;
    if inserted == 0 {
        return Err(Error::conflict(
            "already_decided",
            format!("you have decided on version {version} already"),
        ));
    }
    if !approve {
        Query::new(
            "UPDATE api_business_documents SET status = 'draft', review_version = NULL, \
             updated_at = $1 WHERE id = $2",
        )
        .bind(now_ms())
        .bind(id.to_string())
        .execute(tx.exec())
        .await?;
    }
    trail(
        tx,
        id,
        a,
        if approve { "approved" } else { "rejected" },
        Some(version),
        serde_json::json!({"comment": d.comment}),
    )
    .await?;
    view(tx.exec(), id, a).await
}

/// Publishes the version in review once it has its approvals: it becomes the version in
/// force, and its hash joins the publications the next anchor records.
pub async fn publish(tx: &mut Tx, a: &Access, id: BusinessDocumentId) -> Result<BusinessDocument> {
    let (doc, _) = load_for(tx, id, a, can_edit, "editors").await?;
    let (Status::InReview, Some(version)) = (doc.status, doc.review) else {
        return Err(Error::conflict(
            "not_in_review",
            "submit the document for review first",
        ));
    };
    let approved = approvals(tx.exec(), id, version)
        .await?
        .iter()
        .filter(|x| x.decision == "approved")
        .count() as i64;
    if approved < doc.approvals_required {
        return Err(Error::conflict(
            "approvals_missing",
            format!(
                "version {version} has {approved} of the {} approvals it needs",
                doc.approvals_required
            ),
        ));
    }
    let (_, _, sha) = version_content(tx.exec(), id, version).await?;
    let seq: i64 = Query::new(
        "UPDATE api_business_document_publication_head SET count = count + 1 WHERE id = 1 \
         RETURNING count",
    )
    .fetch_one(tx.exec())
    .await?
    .get("count")?;
    let leaf = proof::leaf(id, version, &sha);
    Query::new(
        "INSERT INTO api_business_document_publications (seq, document_id, version, sha256, \
         leaf, published_by, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(seq)
    .bind(id.to_string())
    .bind(version)
    .bind(sha.to_vec())
    .bind(leaf.to_vec())
    .bind(a.subject.as_str())
    .bind(now_ms())
    .execute(tx.exec())
    .await?;
    Query::new(
        "UPDATE api_business_documents SET status = 'published', published_version = $1, \
         review_version = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(version)
    .bind(now_ms())
    .bind(id.to_string())
    .execute(tx.exec())
    .await?;
    trail(
        tx,
        id,
        a,
        "published",
        Some(version),
        serde_json::json!({"sha256": hex::encode(sha), "publication": seq}),
    )
    .await?;
    view(tx.exec(), id, a).await
}

/// Archives the document: read-only from then on.
pub async fn archive(tx: &mut Tx, a: &Access, id: BusinessDocumentId) -> Result<BusinessDocument> {
    let (doc, _) = load_for(tx, id, a, can_edit, "editors").await?;
    not_archived(&doc)?;
    Query::new(
        "UPDATE api_business_documents SET status = 'archived', review_version = NULL, \
         updated_at = $1 WHERE id = $2",
    )
    .bind(now_ms())
    .bind(id.to_string())
    .execute(tx.exec())
    .await?;
    trail(tx, id, a, "archived", Some(doc.head), serde_json::json!({})).await?;
    view(tx.exec(), id, a).await
}

fn version_from(row: &Row, with_content: bool) -> Result<Version> {
    let sha: Vec<u8> = row.get("sha256")?;
    Ok(Version {
        number: row.get("number")?,
        parent: row.get("parent")?,
        base: row.get("base")?,
        kind: VersionKind::parse(&row.get::<String>("kind")?)?,
        title: row.get("title")?,
        sha256: hex::encode(sha),
        author: row.get("author")?,
        author_name: row.get("author_name")?,
        comment: row.get("comment")?,
        created_at: rfc3339(row.get("created_at")?),
        published: row.get::<i64>("published")? != 0,
        content: if with_content {
            Some(
                serde_json::from_str(&row.get::<String>("content")?)
                    .map_err(|e| Error::Corrupt(format!("a version's content: {e}")))?,
            )
        } else {
            None
        },
    })
}

const VERSION_COLUMNS: &str = "v.number, v.parent, v.base, v.kind, v.title, v.sha256, v.author, \
    v.author_name, v.comment, v.created_at, v.content, \
    (SELECT COUNT(*) FROM api_business_document_publications p \
     WHERE p.document_id = v.document_id AND p.version = v.number) AS published";

/// A document's versions, newest first.
pub async fn versions(
    db: &Db,
    a: &Access,
    id: BusinessDocumentId,
    page: &PageRequest,
) -> Result<Page<Version>> {
    load(db.reader(), id, a).await?;
    let before = match &page.after {
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| Error::invalid("cursor", "not a cursor of this list"))?,
        None => i64::MAX,
    };
    let rows = Query::assembled(format!(
        "SELECT {VERSION_COLUMNS} FROM api_business_document_versions v \
         WHERE v.document_id = $1 AND v.number < $2 ORDER BY v.number DESC LIMIT $3"
    ))
    .bind(id.to_string())
    .bind(before)
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let items = rows
        .iter()
        .map(|r| version_from(r, false))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(items, page, |v| v.number.to_string()))
}

/// One version, with its content.
pub async fn version(db: &Db, a: &Access, id: BusinessDocumentId, number: i64) -> Result<Version> {
    load(db.reader(), id, a).await?;
    let row = Query::assembled(format!(
        "SELECT {VERSION_COLUMNS} FROM api_business_document_versions v \
         WHERE v.document_id = $1 AND v.number = $2"
    ))
    .bind(id.to_string())
    .bind(number)
    .fetch_optional(db.reader())
    .await?
    .ok_or(Error::NotFound("version"))?;
    version_from(&row, true)
}

/// The difference between two versions.
pub async fn diff(
    db: &Db,
    a: &Access,
    id: BusinessDocumentId,
    from: i64,
    to: i64,
) -> Result<merge::Diff> {
    load(db.reader(), id, a).await?;
    let (ft, fc, _) = version_content(db.reader(), id, from).await?;
    let (tt, tc, _) = version_content(db.reader(), id, to).await?;
    Ok(merge::diff((from, &ft, &fc), (to, &tt, &tc)))
}

/// The document's audit trail, oldest first.
pub async fn history(
    db: &Db,
    a: &Access,
    id: BusinessDocumentId,
    page: &PageRequest,
) -> Result<Page<TrailEntry>> {
    load(db.reader(), id, a).await?;
    let after = match &page.after {
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| Error::invalid("cursor", "not a cursor of this list"))?,
        None => 0,
    };
    let rows = Query::new(
        "SELECT seq, at, actor, actor_name, action, version, detail FROM \
         api_business_document_events WHERE document_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(id.to_string())
    .bind(after)
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(TrailEntry {
                seq: r.get("seq")?,
                at: rfc3339(r.get("at")?),
                actor: r.get("actor")?,
                actor_name: r.get("actor_name")?,
                action: r.get("action")?,
                version: r.get("version")?,
                detail: serde_json::from_str(&r.get::<String>("detail")?)
                    .map_err(|e| Error::Corrupt(format!("a trail entry: {e}")))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(items, page, |e| e.seq.to_string()))
}

fn summary_from(row: &Row, snippet: bool) -> Result<Summary> {
    let doc = doc_from(row)?;
    Ok(Summary {
        id: doc.id,
        doc_type: doc.doc_type,
        title: doc.title,
        status: doc.status,
        version: doc.head,
        published_version: doc.published,
        updated_at: rfc3339(doc.updated_at),
        snippet: if snippet { row.get("snippet")? } else { None },
    })
}

/// The condition that a document is visible to the caller (`$2` subject, `$3` privileged).
const VISIBLE: &str = "(d.restricted = FALSE OR $3 OR d.owner = $2 OR EXISTS (SELECT 1 FROM \
    api_business_document_members m WHERE m.document_id = d.id AND m.subject = $2))";

/// Filters of a list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this type.
    pub doc_type: Option<DocType>,
    /// Only this status.
    pub status: Option<Status>,
}

/// The documents the caller may see, oldest first.
pub async fn list(
    db: &Db,
    a: &Access,
    filter: &Filter,
    page: &PageRequest,
) -> Result<Page<Summary>> {
    let cols = DOC_COLUMNS
        .split(", ")
        .map(|c| format!("d.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = Query::assembled(format!(
        "SELECT {cols} FROM api_business_documents d WHERE d.id > $1 AND {VISIBLE} \
         AND ($4 = '' OR d.doc_type = $4) AND ($5 = '' OR d.status = $5) ORDER BY d.id LIMIT $6"
    ))
    .bind(page.after.clone().unwrap_or_default())
    .bind(a.subject.as_str())
    .bind(matches!(a.role, Role::Admin | Role::Auditor))
    .bind(filter.doc_type.map_or("", DocType::as_str))
    .bind(filter.status.map_or("", Status::as_str))
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let items = rows
        .iter()
        .map(|r| summary_from(r, false))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(items, page, |d| d.id.to_string()))
}

/// The words of a search, as an FTS5 query: each word quoted (so nothing in it is syntax),
/// all required.
fn fts5_query(q: &str) -> String {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(32)
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Searches titles and section text of the current versions the caller may see, best first.
pub async fn search(db: &Db, a: &Access, q: &str, limit: u32) -> Result<Vec<Summary>> {
    if q.trim().is_empty() || q.chars().count() > 200 {
        return Err(Error::invalid("q", "1 to 200 characters"));
    }
    if limit == 0 || limit > SEARCH_MAX {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {SEARCH_MAX}"),
        ));
    }
    let cols = DOC_COLUMNS
        .split(", ")
        .map(|c| format!("d.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (text, terms) = match db.engine() {
        Engine::Sqlite => {
            let terms = fts5_query(q);
            if terms.is_empty() {
                return Err(Error::invalid("q", "no words to search for"));
            }
            (
                format!(
                    "SELECT {cols}, snippet(api_business_documents_fts, -1, '[', ']', '…', 16) \
                     AS snippet FROM api_business_documents_fts f \
                     JOIN api_business_documents d ON d.id = f.id \
                     WHERE api_business_documents_fts MATCH $1 AND {VISIBLE} \
                     ORDER BY bm25(api_business_documents_fts, 0.0, 4.0, 1.0), d.id LIMIT $4"
                ),
                terms,
            )
        }
        Engine::Postgres => (
            format!(
                "SELECT {cols}, ts_headline('english', d.title || ' ' || d.search_text, q, \
                 'StartSel=[, StopSel=], MaxWords=24, MinWords=8') AS snippet \
                 FROM api_business_documents d, websearch_to_tsquery('english', $1) q \
                 WHERE to_tsvector('english', d.title || ' ' || d.search_text) @@ q AND {VISIBLE} \
                 ORDER BY ts_rank(setweight(to_tsvector('english', d.title), 'A') || \
                 to_tsvector('english', d.search_text), q) DESC, d.id LIMIT $4"
            ),
            q.to_owned(),
        ),
    };
    let rows = Query::assembled(text)
        .bind(terms)
        .bind(a.subject.as_str())
        .bind(matches!(a.role, Role::Admin | Role::Auditor))
        .bind(i64::from(limit))
        .fetch_all(db.reader())
        .await?;
    rows.iter().map(|r| summary_from(r, true)).collect()
}

const ATTACHMENT_COLUMNS: &str =
    "id, title, filename, content_type, sha256, size, uploaded_by, created_at, document_id";

fn attachment_from(row: &Row) -> Result<Attachment> {
    let id = AttachmentId::stored(&row.get::<String>("id")?)?;
    let doc: String = row.get("document_id")?;
    Ok(Attachment {
        id,
        title: row.get("title")?,
        filename: row.get("filename")?,
        content_type: row.get("content_type")?,
        sha256: hex::encode(row.get::<Vec<u8>>("sha256")?),
        size: row.get("size")?,
        uploaded_by: row.get("uploaded_by")?,
        created_at: rfc3339(row.get("created_at")?),
        content_url: format!("/v1/business-documents/{doc}/attachments/{id}"),
    })
}

async fn attachments(exec: Exec<'_>, id: BusinessDocumentId) -> Result<Vec<Attachment>> {
    let rows = Query::assembled(format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM api_business_document_attachments \
         WHERE document_id = $1 ORDER BY id"
    ))
    .bind(id.to_string())
    .fetch_all(exec)
    .await?;
    rows.iter().map(attachment_from).collect()
}

/// A file to attach (its bytes already in the blob store).
#[derive(Clone, Debug)]
pub struct NewAttachment {
    /// Its title (default: the file name).
    pub title: Option<String>,
    /// The file's name.
    pub filename: Option<String>,
    /// Its media type.
    pub content_type: String,
    /// Its hash.
    pub sha256: Sha256Hash,
    /// Its size.
    pub size: u64,
}

/// Most attachments a document holds.
pub const ATTACHMENTS_MAX: i64 = 200;

/// Attaches a file.
pub async fn attach(
    tx: &mut Tx,
    a: &Access,
    id: BusinessDocumentId,
    new: NewAttachment,
) -> Result<Attachment> {
    let (doc, _) = load_for(tx, id, a, can_edit, "editors").await?;
    not_archived(&doc)?;
    let n: i64 = Query::new(
        "SELECT COUNT(*) AS n FROM api_business_document_attachments WHERE document_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(tx.exec())
    .await?
    .get("n")?;
    if n >= ATTACHMENTS_MAX {
        return Err(Error::conflict(
            "too_many_attachments",
            format!("a document holds at most {ATTACHMENTS_MAX} attachments"),
        ));
    }
    let title = new
        .title
        .clone()
        .or_else(|| new.filename.clone())
        .unwrap_or_else(|| "attachment".to_owned());
    content::check_title("title", &title)?;
    let aid = AttachmentId::new();
    let row = Query::assembled(format!(
        "INSERT INTO api_business_document_attachments ({ATTACHMENT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {ATTACHMENT_COLUMNS}"
    ))
    .bind(aid.to_string())
    .bind(title.trim())
    .bind(new.filename.clone())
    .bind(new.content_type.as_str())
    .bind(new.sha256.to_vec())
    .bind(i64::try_from(new.size).map_err(|_| Error::Internal("attachment size".to_owned()))?)
    .bind(a.subject.as_str())
    .bind(now_ms())
    .bind(id.to_string())
    .fetch_one(tx.exec())
    .await?;
    let att = attachment_from(&row)?;
    trail(
        tx,
        id,
        a,
        "attached",
        None,
        serde_json::json!({"attachment": aid.to_string(), "sha256": att.sha256, "title": att.title}),
    )
    .await?;
    Ok(att)
}

/// One attachment of a document the caller may see.
pub async fn attachment(
    db: &Db,
    a: &Access,
    id: BusinessDocumentId,
    aid: AttachmentId,
) -> Result<Attachment> {
    load(db.reader(), id, a).await?;
    let row = Query::assembled(format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM api_business_document_attachments \
         WHERE document_id = $1 AND id = $2"
    ))
    .bind(id.to_string())
    .bind(aid.to_string())
    .fetch_optional(db.reader())
    .await?
    .ok_or(Error::NotFound("attachment"))?;
    attachment_from(&row)
}

/// The variables and live figures of a rendering.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    /// `html` or `pdf` (default `pdf`).
    #[serde(default)]
    pub format: Option<String>,
    /// The version (default: the version in force, else the current one).
    #[serde(default)]
    pub version: Option<i64>,
    /// Values of the declared variables, by name.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: BTreeMap<String, serde_json::Value>,
    /// The property whose figures fill `property.*`.
    #[serde(default)]
    pub property_id: Option<String>,
    /// The investor whose capital account in that property fills `investor.*`: their id, or
    /// their key in the books (the `investor` of the property's capital accounts).
    #[serde(default)]
    pub investor: Option<String>,
    /// The day the figures are as of (default: today).
    #[serde(default)]
    pub as_of: Option<String>,
}

/// The version a rendering uses.
pub async fn rendered_version(
    db: &Db,
    a: &Access,
    id: BusinessDocumentId,
    version: Option<i64>,
) -> Result<(Doc, i64, String, Content, [u8; 32])> {
    let (doc, _) = load(db.reader(), id, a).await?;
    let number = version.or(doc.published).unwrap_or(doc.head);
    let (title, content, sha) = version_content(db.reader(), id, number).await?;
    Ok((doc, number, title, content, sha))
}
