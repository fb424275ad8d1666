//! Tokenizing a property: one `PropertyLauncher.launch` transaction mints the property's deed
//! (metadata URI and document hash), creates its compliance rules, share token, distributor,
//! treasury and first offering wired to each other, and registers them in the directory. Either
//! all of it happens or none of it; the property id is the caller's, and a second launch of an id
//! reverts (`PropertyDeed.DeedExists`) without changing anything, so a crash and a rerun can never
//! leave an orphan deed or mint a second one.
//!
//! For a sender of its own (the API's outbox), [`launch_call`] checks the parameters and returns
//! the transaction to send (`from`, `to`, calldata); once mined, [`launched_from_receipt`] (or
//! [`decode_launched`] over the receipt's logs) names the contracts it created. [`launch_property`]
//! does both with a provider that signs for the admin. [`registered_property`] reads what the
//! directory holds for an id, for a caller that finds its id taken.
//!
//! The operational roles of the new contracts go to the platform's [`Roles`]; the admin role of
//! each goes to the launching admin (moved in two delayed steps, as everywhere).

use alloy::{
    primitives::{Address, B256, Bytes, Log, TxHash, U256},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::{SolCall, SolEvent},
};
use serde::{Deserialize, Serialize};

use crate::deploy::{Deployed, Platform, Roles, block_of};
use crate::{Error, PropertyDeed, PropertyDirectory, PropertyLauncher, property_launcher};

/// Longest share-token name [`launch_call`] accepts, in bytes.
pub const NAME_MAX_LEN: usize = 64;
/// Longest share-token symbol [`launch_call`] accepts, in bytes.
pub const SYMBOL_MAX_LEN: usize = 16;
/// Longest metadata URI [`launch_call`] accepts, in bytes.
pub const URI_MAX_LEN: usize = 2048;

/// The terms of a property's share offering (`ShareOffering.Terms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferingTerms {
    /// Settlement-token base units per whole share (1e18 share units).
    pub price_per_share: U256,
    /// Minimum share units per purchase.
    pub min_purchase: U256,
    /// Maximum share units per investor over the whole offering (0 = no limit).
    pub max_per_investor: U256,
    /// Share units on sale (the hard cap).
    pub shares_for_sale: U256,
    /// Settlement-token base units that must be raised for the offering to succeed.
    pub soft_cap: U256,
    /// Opening time, unix seconds.
    pub start: u64,
    /// Closing time (exclusive), unix seconds.
    pub end: u64,
}

impl OfferingTerms {
    /// The checks of the `ShareOffering` constructor, so a bad offering fails before any
    /// transaction is sent.
    pub fn validate(&self) -> Result<(), Error> {
        let one_share = U256::from(10).pow(U256::from(18));
        let u128_max = U256::from(u128::MAX);
        if self.price_per_share.is_zero() {
            return Err(Error::InvalidParams("the price per share is zero"));
        }
        if self.shares_for_sale.is_zero() || self.shares_for_sale > u128_max {
            return Err(Error::InvalidParams(
                "shares for sale must be between 1 and 2^128 - 1",
            ));
        }
        if self.end <= self.start {
            return Err(Error::InvalidParams(
                "the offering must end after it starts",
            ));
        }
        if !self.max_per_investor.is_zero() && self.max_per_investor < self.min_purchase {
            return Err(Error::InvalidParams(
                "the per-investor maximum is below the minimum purchase",
            ));
        }
        let proceeds = self
            .shares_for_sale
            .checked_mul(self.price_per_share)
            .ok_or(Error::InvalidParams(
                "shares for sale times price overflows",
            ))?;
        if proceeds.div_ceil(one_share) > u128_max {
            return Err(Error::InvalidParams(
                "the offering would raise more than 2^128 - 1",
            ));
        }
        if self.soft_cap > proceeds / one_share {
            return Err(Error::InvalidParams(
                "the soft cap exceeds what the offering can raise",
            ));
        }
        Ok(())
    }
}

impl From<OfferingTerms> for property_launcher::ShareOffering::Terms {
    fn from(t: OfferingTerms) -> Self {
        Self {
            pricePerShare: t.price_per_share,
            minPurchase: t.min_purchase,
            maxPerInvestor: t.max_per_investor,
            sharesForSale: t.shares_for_sale,
            softCap: t.soft_cap,
            start: t.start,
            end: t.end,
        }
    }
}

impl From<OfferingTerms> for crate::ShareOffering::Terms {
    fn from(t: OfferingTerms) -> Self {
        Self {
            pricePerShare: t.price_per_share,
            minPurchase: t.min_purchase,
            maxPerInvestor: t.max_per_investor,
            sharesForSale: t.shares_for_sale,
            softCap: t.soft_cap,
            start: t.start,
            end: t.end,
        }
    }
}

/// What a launch needs to know about a property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyParams {
    /// The property's id, which becomes its deed's token id: from 1 to 2^128 - 1 (a UUID fits;
    /// the books name properties by this number), never launched before.
    pub property_id: U256,
    /// The share token's name, e.g. `Elm St Shares`.
    pub name: String,
    /// The share token's symbol, e.g. `ELM`.
    pub symbol: String,
    /// The parcel id (APN) recorded in the deed.
    pub parcel_id: B256,
    /// Keccak-256 of the property's metadata document; must not be zero.
    pub metadata_hash: B256,
    /// Where the metadata document is served; must not be empty.
    pub metadata_uri: String,
    /// Who holds the deed; the admin when `None`.
    pub custodian: Option<Address>,
    /// The share offering's terms.
    pub terms: OfferingTerms,
}

impl PropertyParams {
    /// Everything the launcher would refuse, and the limits of this crate, checked before a
    /// transaction is built.
    pub fn validate(&self) -> Result<(), Error> {
        if self.property_id.is_zero() || self.property_id > U256::from(u128::MAX) {
            return Err(Error::InvalidParams(
                "the property id must be between 1 and 2^128 - 1",
            ));
        }
        if self.metadata_hash.is_zero() {
            return Err(Error::InvalidParams("the deed needs a metadata hash"));
        }
        if self.metadata_uri.is_empty() || self.metadata_uri.len() > URI_MAX_LEN {
            return Err(Error::InvalidParams(
                "the metadata uri must be 1 to 2048 bytes",
            ));
        }
        if self.name.is_empty() || self.name.len() > NAME_MAX_LEN {
            return Err(Error::InvalidParams(
                "the share token's name must be 1 to 64 bytes",
            ));
        }
        if self.symbol.is_empty() || self.symbol.len() > SYMBOL_MAX_LEN {
            return Err(Error::InvalidParams(
                "the share token's symbol must be 1 to 16 bytes",
            ));
        }
        if self.custodian.is_some_and(|c| c.is_zero()) {
            return Err(Error::InvalidParams("the custodian is the zero address"));
        }
        self.terms.validate()
    }
}

/// The transaction that launches a property: the admin (`from`) calls the launcher (`to`) with
/// `data`, sending no value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchCall {
    /// Who must sign it: the platform admin (the launcher's admin).
    pub from: Address,
    /// The platform's [`PropertyLauncher`].
    pub to: Address,
    /// ABI-encoded `launch(PropertyArgs, RoleHolders, Terms)`.
    pub data: Bytes,
}

impl LaunchCall {
    /// The call as a transaction request (nonce, gas and fees left to the sender).
    pub fn request(&self) -> TransactionRequest {
        TransactionRequest::default()
            .from(self.from)
            .to(self.to)
            .input(self.data.clone().into())
    }
}

/// Checks `params` and builds the launch of the property on `platform`, for a sender of the
/// caller's (an outbox): the call is the whole tokenization, and sending it twice launches once.
pub fn launch_call(platform: &Platform, params: &PropertyParams) -> Result<LaunchCall, Error> {
    let call = launch_args(platform, params)?;
    Ok(LaunchCall {
        from: platform.roles.admin,
        to: platform.launcher.address,
        data: call.abi_encode().into(),
    })
}

/// The arguments of `launch`, after the checks.
fn launch_args(
    platform: &Platform,
    params: &PropertyParams,
) -> Result<PropertyLauncher::launchCall, Error> {
    params.validate()?;
    let roles: Roles = platform.roles;
    roles.validate()?;
    Ok(PropertyLauncher::launchCall {
        p: property_launcher::PropertyLauncher::PropertyArgs {
            propertyId: params.property_id,
            custodian: params.custodian.unwrap_or(roles.admin),
            parcelId: params.parcel_id,
            metadataHash: params.metadata_hash,
            metadataUri: params.metadata_uri.clone(),
            name: params.name.clone(),
            symbol: params.symbol.clone(),
        },
        roles: property_launcher::PropertyLauncher::RoleHolders {
            agent: roles.agent,
            treasurer: roles.treasurer,
            rulesAdmin: roles.rules,
        },
        terms: params.terms.into(),
    })
}

/// The contracts a launch created, as its `PropertyLaunched` event names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LaunchedProperty {
    /// The property's id: its deed's token id.
    pub property_id: U256,
    /// Who received the deed.
    pub custodian: Address,
    /// The property's `PropertyShares`.
    pub shares: Address,
    /// The property's `ShareCompliance`.
    pub compliance: Address,
    /// The property's `PropertyTreasury`.
    pub treasury: Address,
    /// The property's `Distributor`.
    pub distributor: Address,
    /// The property's first `ShareOffering`.
    pub offering: Address,
}

/// The `PropertyLaunched` event that `launcher` logged among `logs` (a receipt's), if any.
/// Logs of any other emitter are ignored, whatever they claim.
pub fn decode_launched<'a>(
    launcher: Address,
    logs: impl IntoIterator<Item = &'a Log>,
) -> Option<LaunchedProperty> {
    logs.into_iter()
        .filter(|log| log.address == launcher)
        .find_map(|log| PropertyLauncher::PropertyLaunched::decode_log(log).ok())
        .map(|e| LaunchedProperty {
            property_id: e.propertyId,
            custodian: e.custodian,
            shares: e.shares,
            compliance: e.compliance,
            treasury: e.treasury,
            distributor: e.distributor,
            offering: e.offering,
        })
}

/// The contracts of one launched property, with the transaction and block that made them all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyDeployment {
    /// The property's id: its deed's token id.
    pub property_id: U256,
    /// Who received the deed.
    pub custodian: Address,
    /// The launch transaction.
    pub tx: TxHash,
    /// The block of the launch: the deed, every contract and the registrations are in it.
    pub block: u64,
    /// The property's `ShareCompliance`.
    pub compliance: Deployed,
    /// The property's `PropertyShares`.
    pub shares: Deployed,
    /// The property's `PropertyTreasury`.
    pub treasury: Deployed,
    /// The property's `Distributor`.
    pub distributor: Deployed,
    /// The property's first `ShareOffering`.
    pub offering: Deployed,
}

impl PropertyDeployment {
    /// The earliest block holding any event of the property: where an indexer starts.
    pub fn start_block(&self) -> u64 {
        self.block
    }
}

/// The property a mined launch transaction created on `platform`. Fails when the transaction
/// reverted or is not a launch by the platform's launcher.
pub fn launched_from_receipt(
    platform: &Platform,
    receipt: &TransactionReceipt,
) -> Result<PropertyDeployment, Error> {
    let action = "launch a property";
    if !receipt.status() {
        return Err(Error::Reverted {
            action: action.to_owned(),
            tx: receipt.transaction_hash,
        });
    }
    let block = block_of(action, receipt)?;
    let launched = decode_launched(
        platform.launcher.address,
        receipt.inner.logs().iter().map(|l| &l.inner),
    )
    .ok_or_else(|| Error::MissingEvent {
        action: action.to_owned(),
        tx: receipt.transaction_hash,
        event: PropertyLauncher::PropertyLaunched::SIGNATURE,
    })?;
    let at = |address| Deployed { address, block };
    Ok(PropertyDeployment {
        property_id: launched.property_id,
        custodian: launched.custodian,
        tx: receipt.transaction_hash,
        block,
        compliance: at(launched.compliance),
        shares: at(launched.shares),
        treasury: at(launched.treasury),
        distributor: at(launched.distributor),
        offering: at(launched.offering),
    })
}

/// Launches a property on `platform` and waits for it, the provider signing for the admin.
///
/// An id that already has a deed or a directory entry is refused with
/// [`Error::PropertyIdTaken`] while the node estimates the transaction: nothing is sent and
/// nothing changes.
pub async fn launch_property<P: Provider>(
    provider: &P,
    platform: &Platform,
    params: &PropertyParams,
) -> Result<PropertyDeployment, Error> {
    let args = launch_args(platform, params)?;
    let launcher = PropertyLauncher::new(platform.launcher.address, provider);
    let pending = launcher
        .launch(args.p, args.roles, args.terms)
        .from(platform.roles.admin)
        .send()
        .await
        .map_err(|e| taken(params.property_id, e))?;
    let receipt = pending.get_receipt().await?;
    launched_from_receipt(platform, &receipt)
}

/// [`Error::PropertyIdTaken`] for a revert on an id already used; any other error as it is.
fn taken(property_id: U256, e: alloy::contract::Error) -> Error {
    if e.as_decoded_error::<PropertyDeed::DeedExists>().is_some()
        || e.as_decoded_error::<PropertyDirectory::PropertyExists>()
            .is_some()
    {
        Error::PropertyIdTaken(property_id)
    } else {
        Error::Contract(e)
    }
}

/// What the directory holds for a property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredProperty {
    /// The property's `PropertyShares`.
    pub shares: Address,
    /// The property's `ShareCompliance`.
    pub compliance: Address,
    /// The property's `PropertyTreasury`.
    pub treasury: Address,
    /// The property's `Distributor`.
    pub distributor: Address,
    /// Its offerings, first to last.
    pub offerings: Vec<Address>,
}

/// The directory's entry for `property_id`, or `None` when the id is not registered.
pub async fn registered_property<P: Provider>(
    provider: &P,
    platform: &Platform,
    property_id: U256,
) -> Result<Option<RegisteredProperty>, Error> {
    let directory = PropertyDirectory::new(platform.directory.address, provider);
    match directory.property(property_id).call().await {
        Ok(p) => Ok(Some(RegisteredProperty {
            shares: p.shares,
            compliance: p.compliance,
            treasury: p.treasury,
            distributor: p.distributor,
            offerings: p.offerings,
        })),
        Err(e)
            if e.as_decoded_error::<PropertyDirectory::UnknownProperty>()
                .is_some() =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::Factories;

    fn at(byte: u8) -> Deployed {
        Deployed {
            address: Address::repeat_byte(byte),
            block: 1,
        }
    }

    fn platform() -> Platform {
        Platform {
            chain_id: 31337,
            roles: Roles {
                admin: Address::repeat_byte(0xa0),
                agent: Address::repeat_byte(0xa1),
                treasurer: Address::repeat_byte(0xa2),
                registrar: Address::repeat_byte(0xa3),
                rules: Address::repeat_byte(0xa4),
            },
            settlement_token: Address::repeat_byte(1),
            test_stablecoin: None,
            identity_registry: at(2),
            deed: at(3),
            directory: at(4),
            launcher: at(5),
            factories: Factories {
                shares: at(6),
                offering: at(7),
                treasury: at(8),
            },
            anchor: None,
            settlement: None,
        }
    }

    fn params() -> PropertyParams {
        PropertyParams {
            property_id: U256::from(7),
            name: "Elm St Shares".into(),
            symbol: "ELM".into(),
            parcel_id: B256::repeat_byte(0x11),
            metadata_hash: B256::repeat_byte(0x22),
            metadata_uri: "ipfs://deed/7".into(),
            custodian: None,
            terms: OfferingTerms {
                price_per_share: U256::from(50_000_000u64),
                min_purchase: U256::from(10).pow(U256::from(18)),
                max_per_investor: U256::ZERO,
                shares_for_sale: U256::from(1_000) * U256::from(10).pow(U256::from(18)),
                soft_cap: U256::from(10_000_000_000u64),
                start: 100,
                end: 200,
            },
        }
    }

    fn refused(change: impl FnOnce(&mut PropertyParams)) -> Error {
        let mut p = params();
        change(&mut p);
        launch_call(&platform(), &p).expect_err("accepted")
    }

    #[test]
    fn the_call_names_the_launcher_the_admin_and_every_argument() {
        let call = launch_call(&platform(), &params()).expect("call");
        assert_eq!(call.from, Address::repeat_byte(0xa0));
        assert_eq!(call.to, Address::repeat_byte(5));
        let decoded = PropertyLauncher::launchCall::abi_decode(&call.data).expect("decodes");
        assert_eq!(decoded.p.propertyId, U256::from(7));
        assert_eq!(
            decoded.p.custodian,
            Address::repeat_byte(0xa0),
            "the admin by default"
        );
        assert_eq!(decoded.p.metadataUri, "ipfs://deed/7");
        assert_eq!(decoded.roles.agent, Address::repeat_byte(0xa1));
        assert_eq!(decoded.roles.treasurer, Address::repeat_byte(0xa2));
        assert_eq!(decoded.roles.rulesAdmin, Address::repeat_byte(0xa4));
        assert_eq!(decoded.terms.end, 200);
        let request = call.request();
        assert_eq!(request.from, Some(call.from));
        assert_eq!(request.input.input(), Some(&call.data));
    }

    #[test]
    fn bad_parameters_are_refused_before_a_transaction_exists() {
        let invalid = |e: Error| matches!(e, Error::InvalidParams(_));
        assert!(invalid(refused(|p| p.property_id = U256::ZERO)));
        assert!(invalid(refused(
            |p| p.property_id = U256::from(u128::MAX) + U256::from(1)
        )));
        assert!(invalid(refused(|p| p.metadata_hash = B256::ZERO)));
        assert!(invalid(refused(|p| p.metadata_uri.clear())));
        assert!(invalid(refused(
            |p| p.metadata_uri = "u".repeat(URI_MAX_LEN + 1)
        )));
        assert!(invalid(refused(|p| p.name.clear())));
        assert!(invalid(refused(|p| p.name = "n".repeat(NAME_MAX_LEN + 1))));
        assert!(invalid(refused(|p| p.symbol.clear())));
        assert!(invalid(refused(
            |p| p.symbol = "s".repeat(SYMBOL_MAX_LEN + 1)
        )));
        assert!(invalid(refused(|p| p.custodian = Some(Address::ZERO))));
        assert!(invalid(refused(|p| p.terms.end = p.terms.start)));
        assert!(invalid(refused(|p| p.terms.price_per_share = U256::ZERO)));
        // The limits themselves are accepted.
        let mut p = params();
        p.property_id = U256::from(u128::MAX);
        p.metadata_uri = "u".repeat(URI_MAX_LEN);
        p.name = "n".repeat(NAME_MAX_LEN);
        p.symbol = "s".repeat(SYMBOL_MAX_LEN);
        launch_call(&platform(), &p).expect("the limits are allowed");
        // A zero role of the platform is refused too.
        let mut bad = platform();
        bad.roles.agent = Address::ZERO;
        assert!(matches!(
            launch_call(&bad, &params()),
            Err(Error::ZeroRole("agent"))
        ));
    }
}
