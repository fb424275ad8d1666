//! Compliance checks: would a share transfer or a purchase pass, and if not, why.

use alloy::primitives::Address;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Allowed, Principal};
use crate::compliance::{self, PurchaseCheck, TransferCheck, Verdict};
use crate::error::Error;
use crate::http::extract::{Auth, Json};
use crate::http::problem::ApiResult;
use crate::http::state::App;

/// A transfer (`token`, `from`, `to`, `amount`) or a purchase (`offering`, `wallet`, `amount`)
/// to judge, at the latest block or at `block`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// A transfer's share token.
    #[schema(value_type = Option<String>)]
    pub token: Option<Address>,
    /// A transfer's sending wallet.
    #[schema(value_type = Option<String>)]
    pub from: Option<Address>,
    /// A transfer's receiving wallet.
    #[schema(value_type = Option<String>)]
    pub to: Option<Address>,
    /// A purchase's offering.
    #[schema(value_type = Option<String>)]
    pub offering: Option<Address>,
    /// A purchase's buying wallet.
    #[schema(value_type = Option<String>)]
    pub wallet: Option<Address>,
    /// Shares, as decimal text with up to 18 decimals (`"10"`, `"2.5"`).
    pub amount: String,
    /// The block to judge at (default: the latest).
    pub block: Option<u64>,
}

enum Check {
    Transfer(TransferCheck),
    Purchase(PurchaseCheck),
}

impl CheckRequest {
    fn into_check(self) -> Result<Check, Error> {
        let purchase = self.offering.is_some() || self.wallet.is_some();
        let transfer = self.token.is_some() || self.from.is_some() || self.to.is_some();
        let need = |v: Option<Address>, pointer: &str| {
            v.ok_or_else(|| Error::invalid(pointer, "required"))
        };
        match (transfer, purchase) {
            (true, true) => Err(Error::invalid(
                "/offering",
                "a check is either a transfer (token, from, to) or a purchase (offering, wallet), not both",
            )),
            (false, false) => Err(Error::invalid(
                "/token",
                "give a transfer (token, from, to) or a purchase (offering, wallet)",
            )),
            (true, false) => Ok(Check::Transfer(TransferCheck {
                token: need(self.token, "/token")?,
                from: need(self.from, "/from")?,
                to: need(self.to, "/to")?,
                amount: self.amount,
            })),
            (false, true) => Ok(Check::Purchase(PurchaseCheck {
                offering: need(self.offering, "/offering")?,
                wallet: need(self.wallet, "/wallet")?,
                amount: self.amount,
            })),
        }
    }
}

/// Judges a transfer or a purchase at one block: the share token's reason code (exactly the
/// contract's, called at that block), its stable name, and a sentence written from the facts
/// read at the same block. Investors may check only what their own signed-in wallet sends or
/// buys, and see the standard description of another wallet's refusal, not its facts.
#[utoipa::path(post, path = "/v1/compliance/check", tag = "compliance", request_body = CheckRequest,
    responses((status = 200, body = Verdict)),
    security(("bearer" = [])),
    extensions(("x-roles" = json!(["admin", "operator", "compliance", "auditor", "investor"]))))]
pub async fn check(
    State(app): State<App>,
    auth: Auth,
    body: Json<CheckRequest>,
) -> ApiResult<axum::Json<Verdict>> {
    auth.require(Allowed::ANYONE)?;
    let block = body.value.block;
    let check = body.value.into_check()?;
    let own = match &auth.0 {
        Principal::Wallet { wallet, .. } => Some(wallet.clone()),
        _ => None,
    };
    let context = app.chain()?;
    let verdict = match check {
        Check::Transfer(t) => {
            if let Some(w) = &own
                && !w.eq_ignore_ascii_case(&t.from.to_checksum(None))
            {
                return Err(Error::Forbidden(
                    "an investor checks transfers from its own signed-in wallet".to_owned(),
                )
                .into());
            }
            let mut v = compliance::check_transfer(&context.provider, &t, block).await?;
            if own.is_some() && compliance::about_recipient(v.code) && t.to != t.from {
                v.sentence = compliance::standard_sentence(v.code);
            }
            v
        }
        Check::Purchase(p) => {
            if let Some(w) = &own
                && !w.eq_ignore_ascii_case(&p.wallet.to_checksum(None))
            {
                return Err(Error::Forbidden(
                    "an investor checks purchases for its own signed-in wallet".to_owned(),
                )
                .into());
            }
            compliance::check_purchase(&context.provider, &p, block, false).await?
        }
    };
    Ok(axum::Json(verdict))
}
