//! Tokenizing a property: one outbox action sends the platform launcher's `launch`, which mints
//! the property's deed and creates its share token, compliance rules, treasury, distributor and
//! first offering in a single transaction. The launch is all or nothing and the deed's token id
//! is the property's own id, so a crash anywhere and a retry can neither leave an orphan deed
//! nor mint a second one: the outbox sends the action once, and a second launch of the same id
//! reverts.
//!
//! The deed records a document of the property (its Keccak-256, and a URI where it is served);
//! the share token's name and symbol, the parcel id and the offering's terms come with the
//! request. The contracts the launch created are read from the platform's directory once the
//! action is confirmed, and kept with the tokenization.

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use futures_util::StreamExt;
use propledger_contracts::deploy::Platform;
use propledger_contracts::launch::{
    self, LaunchCall, NAME_MAX_LEN, OfferingTerms, PropertyParams, SYMBOL_MAX_LEN, URI_MAX_LEN,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::blobs::BlobStore;
use crate::compliance::{share_units, token_units};
use crate::db::{Db, Query, Row, Tx};
use crate::documents::{self, DocumentId};
use crate::error::{Checks, Error, Result};
use crate::outbox::{self, Action, ActionId, Status};
use crate::properties::PropertyId;
use crate::types::{now_ms, rfc3339};

/// Longest parcel id, in bytes: it is stored in the deed as a left-aligned `bytes32`.
pub const PARCEL_ID_MAX_LEN: usize = 32;

/// The offering a tokenization opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferingRequest {
    /// Settlement-token amount per whole share (`"100.00"`).
    pub price_per_share: String,
    /// Fewest shares one purchase may buy (`"1"`, fractions allowed).
    pub min_purchase: String,
    /// Most shares one investor may buy over the whole offering; absent or `"0"`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_investor: Option<String>,
    /// Shares on sale.
    pub shares_for_sale: String,
    /// Settlement-token amount the offering must raise to succeed; below it, buyers are
    /// refunded.
    pub soft_cap: String,
    /// When it opens (RFC 3339).
    pub opens_at: String,
    /// When it closes (RFC 3339, exclusive).
    pub closes_at: String,
}

/// A request to tokenize a property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizationRequest {
    /// The share token's name (`Elm St Shares`), 1 to 64 bytes.
    pub name: String,
    /// The share token's symbol (`ELM`), 1 to 16 bytes.
    pub symbol: String,
    /// The parcel id (APN) recorded in the deed, 1 to 32 bytes.
    pub parcel_id: String,
    /// A document of the property (usually its deed) whose Keccak-256 the deed records.
    pub document_id: String,
    /// Where the document is served; the API's own address of its content when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_uri: Option<String>,
    /// Who holds the deed; the platform admin when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custodian: Option<String>,
    /// The first offering.
    pub offering: OfferingRequest,
}

/// What a tokenization sends, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Launch {
    /// The deed's token id: the property's id as a number.
    pub token_id: String,
    /// The share token's name.
    pub name: String,
    /// The share token's symbol.
    pub symbol: String,
    /// The parcel id.
    pub parcel_id: String,
    /// The document the deed records.
    pub document_id: String,
    /// Its Keccak-256, as the deed holds it.
    pub metadata_hash: String,
    /// Where it is served.
    pub metadata_uri: String,
    /// Who holds the deed.
    pub custodian: String,
    /// The offering's terms, as asked for.
    pub offering: OfferingRequest,
}

/// The contracts a launch created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Contracts {
    /// The platform's deed collection (the deed is its token `token_id`).
    pub deed: String,
    /// The property's share token.
    pub shares: String,
    /// Its compliance rules.
    pub compliance: String,
    /// Its treasury.
    pub treasury: String,
    /// Its distributor.
    pub distributor: String,
    /// Its first offering.
    pub offering: String,
}

/// A property's tokenization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Tokenization {
    /// The property.
    pub property_id: PropertyId,
    /// Where it stands: its launch action's status.
    pub status: Status,
    /// What is (or was) launched.
    pub launch: Launch,
    /// The launch's outbox action (transaction hash and block once mined; the reason if it
    /// failed).
    pub action: Action,
    /// The contracts, once the launch is confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contracts: Option<Contracts>,
    /// Who asked for it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
}

/// A request, checked and resolved into the launch's parameters.
pub struct Prepared {
    /// As recorded.
    pub launch: Launch,
    /// The launch's parameters.
    pub params: PropertyParams,
    /// The transaction.
    pub call: LaunchCall,
}

/// The deed's token id of a property: its UUID as a 128-bit number.
pub fn token_id(property: PropertyId) -> U256 {
    U256::from(property.0.as_u128())
}

fn address(checks: &mut Checks, pointer: &str, s: &str) -> Option<Address> {
    match s.parse::<Address>() {
        Ok(a) if !a.is_zero() => Some(a),
        _ => {
            checks.push(pointer, "an address (0x and 40 hex digits), not zero");
            None
        }
    }
}

fn unix_seconds(checks: &mut Checks, pointer: &str, s: &str) -> Option<u64> {
    match chrono::DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) if t.timestamp() > 0 => u64::try_from(t.timestamp()).ok(),
        _ => {
            checks.push(pointer, "an RFC 3339 time, such as 2027-01-31T17:00:00Z");
            None
        }
    }
}

/// The parcel id as the deed stores it: its bytes, left-aligned in 32.
fn parcel_bytes(s: &str) -> Option<B256> {
    let t = s.trim();
    if t.is_empty() || t.len() > PARCEL_ID_MAX_LEN {
        return None;
    }
    let mut b = [0u8; 32];
    b[..t.len()].copy_from_slice(t.as_bytes());
    Some(B256::from(b))
}

/// Checks the request's own fields, every bad one at once: the terms in base units.
fn check_fields(
    req: &TokenizationRequest,
    settlement_decimals: u32,
) -> Result<(OfferingTerms, Option<Address>)> {
    let mut c = Checks::new();
    let text = |c: &mut Checks, pointer: &str, s: &str, max: usize| {
        if s.trim().is_empty() || s.len() > max || s.trim() != s {
            c.push(
                pointer,
                format!("1 to {max} bytes, without leading or trailing spaces"),
            );
        }
    };
    text(&mut c, "/name", &req.name, NAME_MAX_LEN);
    text(&mut c, "/symbol", &req.symbol, SYMBOL_MAX_LEN);
    if parcel_bytes(&req.parcel_id).is_none() {
        c.push("/parcel_id", format!("1 to {PARCEL_ID_MAX_LEN} bytes"));
    }
    if let Some(uri) = &req.metadata_uri
        && (uri.is_empty() || uri.len() > URI_MAX_LEN || uri.chars().any(char::is_whitespace))
    {
        c.push(
            "/metadata_uri",
            format!("1 to {URI_MAX_LEN} bytes without spaces"),
        );
    }
    let custodian = req
        .custodian
        .as_deref()
        .and_then(|s| address(&mut c, "/custodian", s));
    let o = &req.offering;
    let price = c.take(token_units(
        "/offering/price_per_share",
        &o.price_per_share,
        settlement_decimals,
    ));
    let min = c.take(share_units("/offering/min_purchase", &o.min_purchase));
    let max = match &o.max_per_investor {
        Some(s) => c.take(share_units("/offering/max_per_investor", s)),
        None => Some(U256::ZERO),
    };
    let for_sale = c.take(share_units("/offering/shares_for_sale", &o.shares_for_sale));
    let soft_cap = c.take(token_units(
        "/offering/soft_cap",
        &o.soft_cap,
        settlement_decimals,
    ));
    let start = unix_seconds(&mut c, "/offering/opens_at", &o.opens_at);
    let end = unix_seconds(&mut c, "/offering/closes_at", &o.closes_at);
    c.finish()?;
    let (
        Some(price_per_share),
        Some(min_purchase),
        Some(max_per_investor),
        Some(shares_for_sale),
        Some(soft_cap),
        Some(start),
        Some(end),
    ) = (price, min, max, for_sale, soft_cap, start, end)
    else {
        return Err(Error::Internal("a checked field has no value".to_owned()));
    };
    let terms = OfferingTerms {
        price_per_share,
        min_purchase,
        max_per_investor,
        shares_for_sale,
        soft_cap,
        start,
        end,
    };
    // The offering contract's own rules, each named by the field it is about.
    let mut c = Checks::new();
    if price_per_share.is_zero() {
        c.push("/offering/price_per_share", "more than zero");
    }
    if shares_for_sale.is_zero() {
        c.push("/offering/shares_for_sale", "more than zero");
    }
    if end <= start {
        c.push("/offering/closes_at", "after opens_at");
    } else if i64::try_from(end).unwrap_or(i64::MAX) <= chrono::Utc::now().timestamp() {
        // The contract would take it, and open an offering that is already over.
        c.push("/offering/closes_at", "in the future");
    }
    if !max_per_investor.is_zero() && max_per_investor < min_purchase {
        c.push("/offering/max_per_investor", "at least min_purchase, or 0");
    }
    c.finish()?;
    terms
        .validate()
        .map_err(|e| Error::invalid("/offering/soft_cap", bindings_detail(&e)))?;
    Ok((terms, custodian))
}

fn bindings_detail(e: &propledger_contracts::Error) -> String {
    match e {
        propledger_contracts::Error::InvalidParams(s) => (*s).to_owned(),
        other => other.to_string(),
    }
}

/// The Keccak-256 of a stored document's bytes.
async fn document_hash(db: &Db, blobs: &BlobStore, doc: &documents::Document) -> Result<B256> {
    let mut stream = blobs.open(db, documents::sha256_of(doc)?).await?;
    let mut hasher = alloy::primitives::Keccak256::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk?);
    }
    Ok(hasher.finalize())
}

/// Checks a request for `property` and resolves it into the launch: the document must be the
/// property's, and the deed's metadata hash is its content's Keccak-256.
#[allow(clippy::too_many_arguments)]
pub async fn prepare(
    db: &Db,
    blobs: &BlobStore,
    platform: &Platform,
    settlement_decimals: u32,
    public_url: &str,
    property: PropertyId,
    req: TokenizationRequest,
) -> Result<Prepared> {
    let (terms, custodian) = check_fields(&req, settlement_decimals)?;
    let doc_id = DocumentId::parse(&req.document_id)
        .map_err(|_| Error::invalid("/document_id", "a document of this property"))?;
    let doc = match documents::get(db.reader(), doc_id).await {
        Ok(d) if d.property_id == property => d,
        Ok(_) | Err(Error::NotFound(_)) => {
            return Err(Error::invalid(
                "/document_id",
                "a document of this property",
            ));
        }
        Err(e) => return Err(e),
    };
    let metadata_hash = document_hash(db, blobs, &doc).await?;
    let metadata_uri = req.metadata_uri.clone().unwrap_or_else(|| {
        format!(
            "{}/v1/documents/{doc_id}/content",
            public_url.trim_end_matches('/')
        )
    });
    let parcel_id = parcel_bytes(&req.parcel_id)
        .ok_or_else(|| Error::invalid("/parcel_id", "1 to 32 bytes"))?;
    let params = PropertyParams {
        property_id: token_id(property),
        name: req.name.clone(),
        symbol: req.symbol.clone(),
        parcel_id,
        metadata_hash,
        metadata_uri: metadata_uri.clone(),
        custodian,
        terms,
    };
    let call = launch::launch_call(platform, &params)
        .map_err(|e| Error::invalid("", bindings_detail(&e)))?;
    let launch = Launch {
        token_id: params.property_id.to_string(),
        name: req.name,
        symbol: req.symbol,
        parcel_id: req.parcel_id.trim().to_owned(),
        document_id: doc_id.to_string(),
        metadata_hash: metadata_hash.to_string(),
        metadata_uri,
        custodian: custodian.unwrap_or(platform.roles.admin).to_checksum(None),
        offering: req.offering,
    };
    Ok(Prepared {
        launch,
        params,
        call,
    })
}

const COLUMNS: &str = "property_id, action_id, request, shares, compliance, treasury, \
     distributor, offering, created_by, created_at";

/// The action of the property's current tokenization, if it has one.
async fn current_action(tx: &mut Tx, property: PropertyId) -> Result<Option<Action>> {
    let row = Query::new("SELECT action_id FROM api_tokenizations WHERE property_id = $1")
        .bind(property.to_string())
        .fetch_optional(tx.exec())
        .await?;
    match row {
        Some(r) => Ok(Some(
            outbox::get(tx.exec(), ActionId::stored(&r.get::<String>("action_id")?)?).await?,
        )),
        None => Ok(None),
    }
}

/// Where the property's launch stands, if it has one.
pub async fn launch_status(db: &Db, property: PropertyId) -> Result<Option<Status>> {
    let row = Query::new(
        "SELECT o.status FROM api_tokenizations t JOIN api_outbox o ON o.id = t.action_id \
         WHERE t.property_id = $1",
    )
    .bind(property.to_string())
    .fetch_optional(db.reader())
    .await?;
    row.map(|r| Status::parse(&r.get::<String>("status")?))
        .transpose()
}

/// Records a tokenization with its launch action, in the caller's transaction. A property has
/// one; only a tokenization whose launch failed may be replaced.
pub async fn record(
    tx: &mut Tx,
    chain_id: u64,
    property: PropertyId,
    launch: &Launch,
    action: ActionId,
    actor: &str,
) -> Result<()> {
    if let Some(a) = current_action(tx, property).await? {
        if a.status != Status::Failed {
            return Err(Error::conflict(
                "already_tokenized",
                format!(
                    "the property is already tokenized (its launch is {})",
                    serde_json::to_value(a.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
            ));
        }
        Query::new("DELETE FROM api_tokenizations WHERE property_id = $1")
            .bind(property.to_string())
            .execute(tx.exec())
            .await?;
    }
    let now = now_ms();
    let request = serde_json::to_string(launch)
        .map_err(|e| Error::Internal(format!("serializing a launch: {e}")))?;
    let inserted = Query::new(
        "INSERT INTO api_tokenizations (property_id, chain_id, action_id, request, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(property.to_string())
    .bind(i64::try_from(chain_id).map_err(|_| Error::invalid("chain_id", "too large"))?)
    .bind(action.to_string())
    .bind(request)
    .bind(actor)
    .bind(now)
    .execute(tx.exec())
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if crate::db::is_unique_violation(&e) => Err(Error::conflict(
            "already_tokenized",
            "the property is already being tokenized",
        )),
        Err(e) => Err(e),
    }
}

fn contracts_of(row: &Row, deed: Address) -> Result<Option<Contracts>> {
    let Some(shares) = row.get::<Option<String>>("shares")? else {
        return Ok(None);
    };
    let get = |c: &str| -> Result<String> {
        row.get::<Option<String>>(c)?
            .ok_or_else(|| Error::Corrupt(format!("tokenization without its {c}")))
    };
    Ok(Some(Contracts {
        deed: deed.to_checksum(None),
        shares,
        compliance: get("compliance")?,
        treasury: get("treasury")?,
        distributor: get("distributor")?,
        offering: get("offering")?,
    }))
}

/// A property's tokenization. Once its launch is confirmed, the contracts it created are read
/// from the platform's directory (the first time) and kept.
pub async fn get<P: Provider>(
    db: &Db,
    provider: &P,
    platform: &Platform,
    property: PropertyId,
) -> Result<Tokenization> {
    let row = Query::assembled(format!(
        "SELECT {COLUMNS} FROM api_tokenizations WHERE property_id = $1"
    ))
    .bind(property.to_string())
    .fetch_optional(db.reader())
    .await?
    .ok_or(Error::NotFound("tokenization"))?;
    let action = outbox::get(
        db.reader(),
        ActionId::stored(&row.get::<String>("action_id")?)?,
    )
    .await?;
    let launch: Launch = serde_json::from_str(&row.get::<String>("request")?)
        .map_err(|e| Error::Corrupt(format!("tokenization request: {e}")))?;
    let mut contracts = contracts_of(&row, platform.deed.address)?;
    if contracts.is_none() && action.status == Status::Confirmed {
        contracts = Some(learn_contracts(db, provider, platform, property, &action).await?);
    }
    Ok(Tokenization {
        property_id: property,
        status: action.status,
        launch,
        action,
        contracts,
        created_by: row.get("created_by")?,
        created_at: rfc3339(row.get("created_at")?),
    })
}

/// Reads what the directory holds for a launched property and keeps it.
async fn learn_contracts<P: Provider>(
    db: &Db,
    provider: &P,
    platform: &Platform,
    property: PropertyId,
    action: &Action,
) -> Result<Contracts> {
    let registered = launch::registered_property(provider, platform, token_id(property))
        .await
        .map_err(|e| Error::Unavailable(format!("reading the directory: {e}")))?
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "launch {} is confirmed but the directory has no property {}",
                action.id,
                token_id(property)
            ))
        })?;
    let offering = registered
        .offerings
        .first()
        .copied()
        .ok_or_else(|| Error::Corrupt("a launched property without an offering".to_owned()))?;
    let c = Contracts {
        deed: platform.deed.address.to_checksum(None),
        shares: registered.shares.to_checksum(None),
        compliance: registered.compliance.to_checksum(None),
        treasury: registered.treasury.to_checksum(None),
        distributor: registered.distributor.to_checksum(None),
        offering: offering.to_checksum(None),
    };
    let mut tx = db.begin().await?;
    Query::new(
        "UPDATE api_tokenizations SET shares = $1, compliance = $2, treasury = $3, \
         distributor = $4, offering = $5, updated_at = $6 \
         WHERE property_id = $7 AND action_id = $8 AND shares IS NULL",
    )
    .bind(c.shares.clone())
    .bind(c.compliance.clone())
    .bind(c.treasury.clone())
    .bind(c.distributor.clone())
    .bind(c.offering.clone())
    .bind(now_ms())
    .bind(property.to_string())
    .bind(action.id.to_string())
    .execute(tx.exec())
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// The outbox kind of a listing on the share market.
pub const LIST_KIND: &str = "market.list";
/// Most tokenizations one pass of [`list_on_market`] looks at.
const LIST_BATCH: i64 = 100;

/// Lists the share token of every launched property on the platform's share market, once per
/// property, through the outbox (the transfer agent's key): the contracts are learned from the
/// directory when they are not known yet. Nothing when the platform has no market or this node
/// holds no key for the agent. Returns how many listings it queued.
pub async fn list_on_market(db: &Db, chain: &crate::app::ChainContext) -> Result<usize> {
    use alloy::sol_types::SolCall;
    let Some(market) = chain.platform.settlement else {
        return Ok(0);
    };
    let Ok(agent) = chain.signer("agent") else {
        return Ok(0);
    };
    let rows = Query::new(
        "SELECT t.property_id FROM api_tokenizations t JOIN api_outbox o ON o.id = t.action_id \
         WHERE o.status = 'confirmed' AND t.market_action_id IS NULL \
         ORDER BY t.property_id LIMIT $1",
    )
    .bind(LIST_BATCH)
    .fetch_all(db.reader())
    .await?;
    let mut queued = 0;
    for row in rows {
        let property = PropertyId::stored(&row.get::<String>("property_id")?)?;
        let t = get(db, &chain.provider, &chain.platform, property).await?;
        let Some(c) = t.contracts else { continue };
        let shares: Address = c
            .shares
            .parse()
            .map_err(|_| Error::Corrupt(format!("share token address {:?}", c.shares)))?;
        let call = outbox::Call::new(
            market.address,
            propledger_contracts::ShareSettlement::setListedCall {
                token: shares,
                listed_: true,
            }
            .abi_encode(),
        );
        let mut tx = db.begin().await?;
        let id = outbox::enqueue(
            &mut tx,
            outbox::NewAction {
                chain_id: chain.chain_id,
                key_role: "agent",
                signer: agent,
                kind: LIST_KIND,
                call,
                after: None,
                actor: &crate::auth::Actor::system("share market"),
                resource: Some(("tokenization", property.to_string())),
            },
        )
        .await?;
        let claimed = Query::new(
            "UPDATE api_tokenizations SET market_action_id = $1, updated_at = $2 \
             WHERE property_id = $3 AND market_action_id IS NULL",
        )
        .bind(id.to_string())
        .bind(now_ms())
        .bind(property.to_string())
        .execute(tx.exec())
        .await?;
        // Another replica listed it first: drop this one.
        if claimed == 1 {
            tx.commit().await?;
            queued += 1;
        }
    }
    Ok(queued)
}
