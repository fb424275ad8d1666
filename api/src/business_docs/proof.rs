//! Proof of publication. Each published version is a leaf
//! `keccak256(keccak256(utf8(document id) ‖ uint64 version, big-endian ‖ sha256))`, numbered in
//! publication order; the leaves form a Merkle tree whose nodes hash their two children in
//! sorted order (`keccak256(min ‖ max)`, as OpenZeppelin's `MerkleProof` verifies) and whose odd
//! last node moves up unchanged. Each anchor of the books records the root over every version
//! published by then as `documentsRoot`, so a version's text, its proof and the chain show the
//! text was in force by the anchor's block.

use alloy::primitives::{B256, keccak256};
use serde::Serialize;
use utoipa::ToSchema;

use super::BusinessDocumentId;
use crate::db::{Exec, Query, Tx};
use crate::error::{Error, Result};

/// Most publications a root covers.
pub const PUBLICATIONS_MAX: i64 = 1_000_000;

/// A published version's leaf.
pub fn leaf(id: BusinessDocumentId, version: i64, sha256: &[u8; 32]) -> B256 {
    let mut pre = id.to_string().into_bytes();
    pre.extend_from_slice(&(version as u64).to_be_bytes());
    pre.extend_from_slice(sha256);
    keccak256(keccak256(&pre))
}

fn pair(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// The root over `leaves` (zero when there are none).
pub fn root(leaves: &[B256]) -> B256 {
    if leaves.is_empty() {
        return B256::ZERO;
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|c| if c.len() == 2 { pair(c[0], c[1]) } else { c[0] })
            .collect();
    }
    level[0]
}

/// The siblings from leaf `index` up to the root.
pub fn path(leaves: &[B256], mut index: usize) -> Vec<B256> {
    let mut out = Vec::new();
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        let sibling = index ^ 1;
        if sibling < level.len() {
            out.push(level[sibling]);
        }
        level = level
            .chunks(2)
            .map(|c| if c.len() == 2 { pair(c[0], c[1]) } else { c[0] })
            .collect();
        index /= 2;
    }
    out
}

/// The root a leaf and its path lead to.
pub fn fold(leaf: B256, path: &[B256]) -> B256 {
    path.iter().fold(leaf, |acc, s| pair(acc, *s))
}

/// The first `count` publications' leaves, in order.
pub async fn leaves(exec: Exec<'_>, count: i64) -> Result<Vec<B256>> {
    let rows = Query::new(
        "SELECT leaf FROM api_business_document_publications WHERE seq <= $1 ORDER BY seq",
    )
    .bind(count.min(PUBLICATIONS_MAX))
    .fetch_all(exec)
    .await?;
    rows.iter()
        .map(|r| {
            let b: Vec<u8> = r.get("leaf")?;
            B256::try_from(b.as_slice())
                .map_err(|_| Error::Corrupt("a publication's leaf".to_owned()))
        })
        .collect()
}

/// The root over every publication committed, and how many there are; records the root so
/// a proof can find which publications an anchor covered. `None` when nothing is published.
pub async fn current_root(tx: &mut Tx) -> Result<Option<(B256, i64)>> {
    let count: i64 = Query::new("SELECT count FROM api_business_document_publication_head")
        .fetch_one(tx.exec())
        .await?
        .get("count")?;
    if count == 0 {
        return Ok(None);
    }
    if count > PUBLICATIONS_MAX {
        return Err(Error::conflict(
            "too_many_publications",
            format!("more than {PUBLICATIONS_MAX} publications to anchor"),
        ));
    }
    let leaves = leaves(tx.exec(), count).await?;
    if leaves.len() as i64 != count {
        return Err(Error::Corrupt(format!(
            "{count} publications counted, {} stored",
            leaves.len()
        )));
    }
    let r = root(&leaves);
    Query::new(
        "INSERT INTO api_business_document_roots (root, count) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(r.to_vec())
    .bind(count)
    .execute(tx.exec())
    .await?;
    Ok(Some((r, count)))
}

/// How many publications a recorded root covers.
pub async fn root_count(exec: Exec<'_>, root: B256) -> Result<Option<i64>> {
    Query::new("SELECT count FROM api_business_document_roots WHERE root = $1")
        .bind(root.to_vec())
        .fetch_optional(exec)
        .await?
        .map(|r| r.get::<i64>("count"))
        .transpose()
}

/// A version's publication: its number in publication order, its hash and its leaf.
pub async fn publication(
    exec: Exec<'_>,
    id: BusinessDocumentId,
    version: i64,
) -> Result<(i64, [u8; 32], B256)> {
    let row = Query::new(
        "SELECT seq, sha256, leaf FROM api_business_document_publications \
         WHERE document_id = $1 AND version = $2",
    )
    .bind(id.to_string())
    .bind(version)
    .fetch_optional(exec)
    .await?
    .ok_or(Error::NotFound("publication of that version"))?;
    let sha: Vec<u8> = row.get("sha256")?;
    let leaf: Vec<u8> = row.get("leaf")?;
    Ok((
        row.get("seq")?,
        sha.try_into()
            .map_err(|_| Error::Corrupt("a publication's hash".to_owned()))?,
        B256::try_from(leaf.as_slice())
            .map_err(|_| Error::Corrupt("a publication's leaf".to_owned()))?,
    ))
}

/// The anchor that first covered a publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AnchorRef {
    /// The anchor's number on the contract.
    pub index: u64,
    /// The root it recorded.
    pub documents_root: String,
    /// Publications the root covers.
    pub publications: i64,
    /// Its block.
    pub block_number: u64,
    /// Its block's time (RFC 3339): the text was in force by then.
    pub block_time: String,
    /// Its transaction.
    pub tx_hash: String,
    /// The contract.
    pub contract: String,
    /// The chain.
    pub chain_id: u64,
}

/// A published version's proof against the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct PublicationProof {
    /// The document.
    pub document_id: BusinessDocumentId,
    /// The version.
    pub version: i64,
    /// The version's SHA-256 (hex) over its canonical form.
    pub sha256: String,
    /// Its leaf.
    pub leaf: String,
    /// Its number in publication order (1, 2, ...).
    pub publication: i64,
    /// The siblings from the leaf to the root (empty until anchored).
    pub proof: Vec<String>,
    /// The first anchor whose root covers it (absent until one does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<AnchorRef>,
}

/// A text checked against a publication's anchored proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Verification {
    /// Whether the text's leaf, with the proof, leads to the root the chain recorded.
    pub verified: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The text's SHA-256 (hex).
    pub sha256: String,
    /// The published version's SHA-256 (hex).
    pub published_sha256: String,
    /// The root the text leads to (once anchored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_root: Option<String>,
    /// The proof used, with its anchor.
    pub proof: PublicationProof,
}

/// A published version's proof: its path to the root of the first anchor that covers it, and
/// that anchor as the chain recorded it. Refused when the publications stored no longer give
/// a root the chain recorded.
pub async fn prove(
    db: &crate::db::Db,
    chain: &crate::app::ChainContext,
    source: &propledger_indexer::source::RpcSource,
    id: BusinessDocumentId,
    version: i64,
) -> Result<PublicationProof> {
    use alloy::providers::Provider;
    let (seq, sha, leaf) = publication(db.reader(), id, version).await?;
    let mut out = PublicationProof {
        document_id: id,
        version,
        sha256: hex::encode(sha),
        leaf: format!("{leaf:#x}"),
        publication: seq,
        proof: Vec::new(),
        anchor: None,
    };
    let contract = crate::anchors::contract(chain)?;
    for a in crate::anchors::recorded(contract, source).await? {
        if a.documents_root == B256::ZERO {
            continue;
        }
        let Some(count) = root_count(db.reader(), a.documents_root).await? else {
            continue;
        };
        if count < seq {
            continue;
        }
        let leaves = leaves(db.reader(), count).await?;
        if root(&leaves) != a.documents_root {
            return Err(Error::conflict(
                "publications_altered",
                format!(
                    "the stored publications no longer give the root anchor {} recorded",
                    a.index
                ),
            ));
        }
        let siblings = path(&leaves, usize::try_from(seq - 1).unwrap_or(usize::MAX));
        let block = chain
            .provider
            .get_block_by_number(a.block_number.into())
            .await
            .map_err(|e| Error::Unavailable(format!("the chain: {e}")))?
            .ok_or_else(|| Error::Unavailable(format!("no block {}", a.block_number)))?;
        out.proof = siblings.iter().map(|s| format!("{s:#x}")).collect();
        out.anchor = Some(AnchorRef {
            index: a.index,
            documents_root: format!("{:#x}", a.documents_root),
            publications: count,
            block_number: a.block_number,
            block_time: crate::types::rfc3339(
                i64::try_from(block.header.timestamp)
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000),
            ),
            tx_hash: format!("{:#x}", a.tx_hash),
            contract: contract.address.to_checksum(None),
            chain_id: chain.chain_id,
        });
        break;
    }
    Ok(out)
}

/// Checks a text (its hash `sha256`) against a published version's anchored proof.
pub fn verify(
    id: BusinessDocumentId,
    version: i64,
    sha256: &[u8; 32],
    proof: PublicationProof,
) -> Result<Verification> {
    let Some(anchor) = &proof.anchor else {
        return Ok(Verification {
            verified: false,
            reason: Some("no anchor covers this publication yet".to_owned()),
            sha256: hex::encode(sha256),
            published_sha256: proof.sha256.clone(),
            computed_root: None,
            proof,
        });
    };
    let siblings = proof
        .proof
        .iter()
        .map(|s| s.parse::<B256>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::Corrupt("a proof's hash".to_owned()))?;
    let computed = fold(leaf(id, version, sha256), &siblings);
    let verified = format!("{computed:#x}") == anchor.documents_root;
    Ok(Verification {
        verified,
        reason: (!verified).then(|| {
            "the text's hash does not lead to the root the chain recorded: it is not the text \
             published"
                .to_owned()
        }),
        sha256: hex::encode(sha256),
        published_sha256: proof.sha256.clone(),
        computed_root: Some(format!("{computed:#x}")),
        proof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_proves_against_the_root() {
        for n in 1..=9usize {
            let leaves: Vec<B256> = (0..n).map(|i| keccak256([i as u8])).collect();
            let r = root(&leaves);
            for (i, l) in leaves.iter().enumerate() {
                assert_eq!(fold(*l, &path(&leaves, i)), r, "leaf {i} of {n}");
                // Another leaf with this leaf's path does not.
                assert_ne!(fold(keccak256(b"edited"), &path(&leaves, i)), r);
            }
        }
        assert_eq!(root(&[]), B256::ZERO);
    }

    #[test]
    fn a_leaf_binds_document_version_and_hash() {
        let id = BusinessDocumentId::new();
        let h = [7u8; 32];
        assert_ne!(leaf(id, 1, &h), leaf(id, 2, &h));
        assert_ne!(leaf(id, 1, &h), leaf(BusinessDocumentId::new(), 1, &h));
        assert_ne!(leaf(id, 1, &h), leaf(id, 1, &[8u8; 32]));
    }
}
