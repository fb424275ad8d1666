//! Documents attached to a property (deed, title, inspection, photos, appraisals...): the
//! file's bytes live in the blob store under their SHA-256; the document records what it is,
//! for which property, and who uploaded it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Actor;
use crate::blobs::Sha256Hash;
use crate::db::{Db, Exec, Query, Row, Tx};
use crate::error::{Checks, Error, Result};
use crate::properties::{self, PropertyId};
use crate::types::{Page, PageRequest, now_ms, rfc3339, typed_id};

typed_id!(
    /// A document's id.
    DocumentId,
    "document"
);

/// What a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// The deed.
    Deed,
    /// A title report or policy.
    Title,
    /// An inspection report.
    Inspection,
    /// An appraisal.
    Appraisal,
    /// A photo.
    Photo,
    /// An invoice.
    Invoice,
    /// A contract.
    Contract,
    /// An insurance policy.
    Insurance,
    /// A lease.
    Lease,
    /// Anything else.
    Other,
}

impl DocumentKind {
    const ALL: [(DocumentKind, &'static str); 10] = [
        (DocumentKind::Deed, "deed"),
        (DocumentKind::Title, "title"),
        (DocumentKind::Inspection, "inspection"),
        (DocumentKind::Appraisal, "appraisal"),
        (DocumentKind::Photo, "photo"),
        (DocumentKind::Invoice, "invoice"),
        (DocumentKind::Contract, "contract"),
        (DocumentKind::Insurance, "insurance"),
        (DocumentKind::Lease, "lease"),
        (DocumentKind::Other, "other"),
    ];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("other", |(_, s)| s)
    }

    /// Parses a kind given in a form field.
    pub fn parse(pointer: &str, s: &str) -> Result<DocumentKind> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                Error::invalid(
                    pointer,
                    format!("expected one of {}", Self::ALL.map(|(_, s)| s).join(", ")),
                )
            })
    }
}

/// A document as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Document {
    /// The document's id.
    pub id: DocumentId,
    /// The property it belongs to.
    pub property_id: PropertyId,
    /// What it is.
    pub kind: DocumentKind,
    /// Its title.
    pub title: String,
    /// The uploaded file's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The media type it is served with.
    pub content_type: String,
    /// SHA-256 of the bytes, hex: what anchors and on-chain records refer to.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Where the bytes are served.
    pub content_url: String,
}

/// What an upload says about its file (besides the bytes).
#[derive(Clone, Debug)]
pub struct NewDocument {
    /// What it is.
    pub kind: DocumentKind,
    /// Its title (default: the file name, or the kind).
    pub title: Option<String>,
    /// The file's name as uploaded.
    pub filename: Option<String>,
    /// Its media type.
    pub content_type: String,
}

impl NewDocument {
    /// Checks the fields.
    pub fn check(&self) -> Result<()> {
        let mut c = Checks::new();
        if let Some(t) = &self.title
            && (t.trim().is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control))
        {
            c.push("title", "1 to 200 printable characters");
        }
        if let Some(f) = &self.filename
            && (f.is_empty()
                || f.len() > 255
                || f.chars()
                    .any(|ch| ch.is_control() || ch == '/' || ch == '\\'))
        {
            c.push("file", "a file name of 1 to 255 characters without slashes");
        }
        if !is_media_type(&self.content_type) {
            c.push("file", "the file's content type is not a valid media type");
        }
        c.finish()
    }
}

/// Whether `s` is a plain `type/subtype` media type (parameters allowed), safe to send back.
fn is_media_type(s: &str) -> bool {
    let essence = s.split(';').next().unwrap_or("").trim();
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= 64
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    s.len() <= 128
        && s.is_ascii()
        && !s.chars().any(|c| c.is_ascii_control())
        && essence
            .split_once('/')
            .is_some_and(|(t, sub)| token(t) && token(sub))
}

const COLUMNS: &str =
    "id, property_id, kind, title, filename, content_type, sha256, size, uploaded_by, created_at";

fn from_row(row: &Row) -> Result<Document> {
    let id = DocumentId::stored(&row.get::<String>("id")?)?;
    let kind: String = row.get("kind")?;
    Ok(Document {
        id,
        property_id: PropertyId::stored(&row.get::<String>("property_id")?)?,
        kind: DocumentKind::parse("kind", &kind)
            .map_err(|_| Error::Corrupt(format!("document kind {kind:?}")))?,
        title: row.get("title")?,
        filename: row.get("filename")?,
        content_type: row.get("content_type")?,
        sha256: hex::encode(row.get::<Vec<u8>>("sha256")?),
        size: row.get("size")?,
        uploaded_by: row.get("uploaded_by")?,
        created_at: rfc3339(row.get("created_at")?),
        content_url: format!("/v1/documents/{id}/content"),
    })
}

/// Records a document for a property whose bytes are already in the blob store (in the same
/// transaction).
pub async fn create(
    tx: &mut Tx,
    actor: &Actor,
    property_id: PropertyId,
    new: &NewDocument,
    sha256: Sha256Hash,
    size: u64,
) -> Result<Document> {
    new.check()?;
    // The property must exist (the foreign key would refuse it too, less clearly).
    properties::get(tx.exec(), property_id).await?;
    let title = new
        .title
        .clone()
        .or_else(|| new.filename.clone())
        .unwrap_or_else(|| new.kind.as_str().to_owned());
    let row = Query::assembled(format!(
        "INSERT INTO api_documents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         RETURNING {COLUMNS}"
    ))
    .bind(DocumentId::new().to_string())
    .bind(property_id.to_string())
    .bind(new.kind.as_str())
    .bind(title.trim())
    .bind(new.filename.clone())
    .bind(new.content_type.as_str())
    .bind(sha256.to_vec())
    .bind(i64::try_from(size).map_err(|_| Error::Internal("document size".to_owned()))?)
    .bind(actor.reference())
    .bind(now_ms())
    .fetch_one(tx.exec())
    .await?;
    from_row(&row)
}

/// One document.
pub async fn get(exec: Exec<'_>, id: DocumentId) -> Result<Document> {
    let row = Query::assembled(format!("SELECT {COLUMNS} FROM api_documents WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(exec)
        .await?
        .ok_or(Error::NotFound("document"))?;
    from_row(&row)
}

/// A property's documents in upload order.
pub async fn list(db: &Db, property_id: PropertyId, page: &PageRequest) -> Result<Page<Document>> {
    properties::get(db.reader(), property_id).await?;
    let rows = Query::assembled(format!(
        "SELECT {COLUMNS} FROM api_documents WHERE property_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(property_id.to_string())
    .bind(page.after.clone().unwrap_or_default())
    .bind(page.probe())
    .fetch_all(db.reader())
    .await?;
    let docs = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_probe(docs, page, |d| d.id.to_string()))
}

/// A document's stored hash.
pub fn sha256_of(doc: &Document) -> Result<Sha256Hash> {
    let bytes = hex::decode(&doc.sha256).map_err(|_| Error::Corrupt("document hash".to_owned()))?;
    bytes
        .try_into()
        .map_err(|_| Error::Corrupt("document hash length".to_owned()))
}
