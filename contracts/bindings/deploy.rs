//! Deploys the contract suite, wired the way `contracts/test/utils/Fixture.sol` wires it.
//!
//! [`deploy_platform`] deploys the shared contracts once per chain: the settlement token (a
//! [`TestStablecoin`] on development chains, or an existing token, which must move exact amounts),
//! the [`IdentityRegistry`], the [`PropertyDeed`] collection and the [`PropertyDirectory`].
//! [`deploy_property`] then, per property, mints its deed, deploys its [`ShareCompliance`],
//! [`PropertyShares`], [`Distributor`], [`PropertyTreasury`] and [`ShareOffering`], grants the
//! roles that connect them and registers them in the directory.
//!
//! The roles are held by the accounts of [`Roles`], which may all differ: the admin holds every
//! contract's admin role (handed over in two steps with a two-day delay) and sends every
//! transaction here, so the provider must be able to sign for it (a wallet holding its key, or an
//! account the node unlocks); the agent, treasurer, registrar and rules admin only receive their
//! roles. Each contract comes back with the block it was deployed in, so an indexer can backfill
//! from there.
//!
//! Transactions are sent one after the other, each waiting for its receipt. A provider built with
//! alloy's recommended fillers caches nonces and hands one out even to a transaction whose gas
//! estimation then fails, which leaves a gap that stalls the account; a provider that may see such
//! failures should use `ProviderBuilder::with_simple_nonce_management`.

use crate::{
    Distributor, Error, IdentityRegistry, PropertyDeed, PropertyDirectory, PropertyShares,
    PropertyTreasury, ShareCompliance, ShareOffering, TestStablecoin,
};

alloy::sol! {
    /// The part of ERC-20 the settlement token check uses.
    #[sol(rpc)]
    interface IErc20 {
        function balanceOf(address account) external view returns (uint256);
        function approve(address spender, uint256 value) external returns (bool);
    }
}
use alloy::{
    contract::{CallBuilder, CallDecoder},
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};
use serde::{Deserialize, Serialize};

/// A deployed contract: its address and the block of its deployment transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Deployed {
    /// The contract's address.
    pub address: Address,
    /// The block the contract was created in (no event of it can be older).
    pub block: u64,
}

/// Which settlement token (USD stablecoin) the platform uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementToken {
    /// Deploy a fresh [`TestStablecoin`] (development chains); the admin may mint it.
    DeployTestStablecoin,
    /// Use an existing ERC-20 (e.g. USDC) at this address.
    Existing(Address),
}

/// Who holds each role the deployer grants; the accounts may all differ, or all be one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Roles {
    /// Holds every contract's admin role (moved in two steps, with a two-day delay), mints deeds,
    /// registers properties and offerings, and sends every deployment transaction.
    pub admin: Address,
    /// The transfer agent of every share token: pause, freezes, forced transfers, recovery, burns.
    pub agent: Address,
    /// Operates every treasury (budgets, draws, distributions) and may cancel offerings.
    pub treasurer: Address,
    /// Registers investors and their wallets in the identity registry.
    pub registrar: Address,
    /// Sets every property's compliance rules.
    pub rules: Address,
}

impl Roles {
    /// Every role held by one account (a development chain's single key).
    pub fn single(account: Address) -> Self {
        Self {
            admin: account,
            agent: account,
            treasurer: account,
            registrar: account,
            rules: account,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let named = [
            ("admin", self.admin),
            ("agent", self.agent),
            ("treasurer", self.treasurer),
            ("registrar", self.registrar),
            ("rules", self.rules),
        ];
        match named.iter().find(|(_, a)| a.is_zero()) {
            Some((role, _)) => Err(Error::ZeroRole(role)),
            None => Ok(()),
        }
    }
}

/// The shared contracts of one platform deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// The chain the platform lives on.
    pub chain_id: u64,
    /// Who holds which role; `roles.admin` deployed everything.
    pub roles: Roles,
    /// The settlement token.
    pub settlement_token: Address,
    /// The [`TestStablecoin`] when it was deployed as the settlement token, else `None`.
    pub test_stablecoin: Option<Deployed>,
    /// The shared [`IdentityRegistry`].
    pub identity_registry: Deployed,
    /// The shared [`PropertyDeed`] collection.
    pub deed: Deployed,
    /// The [`PropertyDirectory`].
    pub directory: Deployed,
}

impl Platform {
    /// The account that deployed everything and holds every admin role.
    pub fn admin(&self) -> Address {
        self.roles.admin
    }

    /// The earliest block holding any of the platform's contracts: where an indexer starts.
    pub fn start_block(&self) -> u64 {
        [
            Some(self.identity_registry),
            Some(self.deed),
            Some(self.directory),
            self.test_stablecoin,
        ]
        .into_iter()
        .flatten()
        .map(|d| d.block)
        .min()
        .unwrap_or(self.identity_registry.block)
    }
}

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

impl From<OfferingTerms> for ShareOffering::Terms {
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

/// What [`deploy_property`] needs to know about a property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyParams {
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

/// The contracts of one deployed property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyDeployment {
    /// The property's id: its deed's token id.
    pub property_id: U256,
    /// The block the deed was minted in (its `DeedMinted` event).
    pub deed_block: u64,
    /// The property's [`ShareCompliance`].
    pub compliance: Deployed,
    /// The property's [`PropertyShares`].
    pub shares: Deployed,
    /// The property's [`PropertyTreasury`].
    pub treasury: Deployed,
    /// The property's [`Distributor`].
    pub distributor: Deployed,
    /// The property's [`ShareOffering`].
    pub offering: Deployed,
    /// The block the property and its offering were registered in the directory.
    pub registered_block: u64,
}

impl PropertyDeployment {
    /// The earliest block holding any event of the property: where an indexer starts.
    pub fn start_block(&self) -> u64 {
        [
            self.deed_block,
            self.compliance.block,
            self.shares.block,
            self.treasury.block,
            self.distributor.block,
            self.offering.block,
            self.registered_block,
        ]
        .into_iter()
        .min()
        .unwrap_or(self.deed_block)
    }
}

/// `keccak256(name)`: how the contracts derive their role ids.
fn role(name: &str) -> B256 {
    keccak256(name.as_bytes())
}

/// Deploys the shared platform contracts, administered by `roles.admin`, who sends every
/// transaction; the identity registry's registrar role goes to `roles.registrar`.
///
/// An existing settlement token is checked before the platform is recorded: the admin must hold
/// at least one base unit of it, which the directory moves to itself and back
/// (`checkSettlementToken`). A token that delivers less than it is asked to move (a transfer fee)
/// is refused with [`Error::UnsupportedSettlementToken`]: the treasuries' books could not follow it.
pub async fn deploy_platform<P: Provider>(
    provider: &P,
    roles: Roles,
    settlement: SettlementToken,
) -> Result<Platform, Error> {
    roles.validate()?;
    let admin = roles.admin;
    let chain_id = provider.get_chain_id().await?;

    let (settlement_token, test_stablecoin) = match settlement {
        SettlementToken::Existing(address) => {
            if address.is_zero() {
                return Err(Error::InvalidParams("the settlement token address is zero"));
            }
            (address, None)
        }
        SettlementToken::DeployTestStablecoin => {
            let usd = deploy_contract(
                "deploy TestStablecoin",
                TestStablecoin::deploy_builder(provider, admin).from(admin),
            )
            .await?;
            (usd.address, Some(usd))
        }
    };
    let identity_registry = deploy_contract(
        "deploy IdentityRegistry",
        IdentityRegistry::deploy_builder(provider, admin, roles.registrar).from(admin),
    )
    .await?;
    let deed = deploy_contract(
        "deploy PropertyDeed",
        PropertyDeed::deploy_builder(provider, admin).from(admin),
    )
    .await?;
    let directory = deploy_contract(
        "deploy PropertyDirectory",
        PropertyDirectory::deploy_builder(
            provider,
            identity_registry.address,
            deed.address,
            settlement_token,
            admin,
        )
        .from(admin),
    )
    .await?;
    if test_stablecoin.is_none() {
        check_settlement_token(provider, admin, settlement_token, directory.address).await?;
    }

    Ok(Platform {
        chain_id,
        roles,
        settlement_token,
        test_stablecoin,
        identity_registry,
        deed,
        directory,
    })
}

/// Deploys one property on `platform`: mints its deed, deploys and wires its contracts, and
/// registers them and the offering in the directory.
pub async fn deploy_property<P: Provider>(
    provider: &P,
    platform: &Platform,
    params: &PropertyParams,
) -> Result<PropertyDeployment, Error> {
    if params.metadata_hash.is_zero() || params.metadata_uri.is_empty() {
        return Err(Error::InvalidParams(
            "the deed needs a metadata hash and uri",
        ));
    }
    params.terms.validate()?;
    let roles = platform.roles;
    roles.validate()?;
    let admin = roles.admin;
    let usd = platform.settlement_token;

    // The deed: its token id is the property id.
    let deed = PropertyDeed::new(platform.deed.address, provider);
    let action = "mint the property deed";
    let receipt = send(
        action,
        deed.mintDeed(
            params.custodian.unwrap_or(admin),
            params.parcel_id,
            params.metadata_hash,
            params.metadata_uri.clone(),
        )
        .from(admin),
    )
    .await?;
    let minted: PropertyDeed::DeedMinted = event(action, &receipt, platform.deed.address)?;
    let property_id = minted.tokenId;
    let deed_block = block_of(action, &receipt)?;

    let compliance = deploy_contract(
        "deploy ShareCompliance",
        ShareCompliance::deploy_builder(provider, admin, roles.rules).from(admin),
    )
    .await?;
    let shares = deploy_contract(
        "deploy PropertyShares",
        PropertyShares::deploy_builder(
            provider,
            params.name.clone(),
            params.symbol.clone(),
            property_id,
            platform.identity_registry.address,
            compliance.address,
            admin,
            roles.agent,
        )
        .from(admin),
    )
    .await?;
    let distributor = deploy_contract(
        "deploy Distributor",
        Distributor::deploy_builder(provider, shares.address, usd, admin).from(admin),
    )
    .await?;
    // The treasury pays distributions only through the property's own distributor.
    let treasury = deploy_contract(
        "deploy PropertyTreasury",
        PropertyTreasury::deploy_builder(
            provider,
            usd,
            property_id,
            distributor.address,
            admin,
            roles.treasurer,
        )
        .from(admin),
    )
    .await?;
    let offering = deploy_contract(
        "deploy ShareOffering",
        ShareOffering::deploy_builder(
            provider,
            shares.address,
            usd,
            treasury.address,
            params.terms.into(),
            admin,
            roles.treasurer,
        )
        .from(admin),
    )
    .await?;

    // The roles that connect them (as in Fixture.sol).
    let shares_c = PropertyShares::new(shares.address, provider);
    let treasury_c = PropertyTreasury::new(treasury.address, provider);
    let distributor_c = Distributor::new(distributor.address, provider);
    send(
        "grant the offering MINTER_ROLE on the shares",
        shares_c
            .grantRole(role("MINTER_ROLE"), offering.address)
            .from(admin),
    )
    .await?;
    send(
        "grant the distributor CHECKPOINT_ROLE on the shares",
        shares_c
            .grantRole(role("CHECKPOINT_ROLE"), distributor.address)
            .from(admin),
    )
    .await?;
    send(
        "grant the offering OFFERING_ROLE on the treasury",
        treasury_c
            .grantRole(role("OFFERING_ROLE"), offering.address)
            .from(admin),
    )
    .await?;
    send(
        "grant the treasury FUNDER_ROLE on the distributor",
        distributor_c
            .grantRole(role("FUNDER_ROLE"), treasury.address)
            .from(admin),
    )
    .await?;

    // Registration in the directory, which is how indexers discover the property.
    let directory = PropertyDirectory::new(platform.directory.address, provider);
    let action = "register the property in the directory";
    let receipt = send(
        action,
        directory
            .registerProperty(
                property_id,
                shares.address,
                compliance.address,
                treasury.address,
                distributor.address,
            )
            .from(admin),
    )
    .await?;
    let registered_block = block_of(action, &receipt)?;
    send(
        "register the offering in the directory",
        directory
            .registerOffering(property_id, offering.address)
            .from(admin),
    )
    .await?;

    Ok(PropertyDeployment {
        property_id,
        deed_block,
        compliance,
        shares,
        treasury,
        distributor,
        offering,
        registered_block,
    })
}

/// Refuses a settlement token that does not move exact amounts: the directory pulls one base unit
/// from the admin and sends it straight back, measuring both sides.
async fn check_settlement_token<P: Provider>(
    provider: &P,
    admin: Address,
    token: Address,
    directory: Address,
) -> Result<(), Error> {
    let refuse = |reason: String| Error::UnsupportedSettlementToken { token, reason };
    let erc20 = IErc20::new(token, provider);
    let held = erc20.balanceOf(admin).call().await.map_err(|e| {
        refuse(format!(
            "it does not answer balanceOf like an ERC-20 token ({e})"
        ))
    })?;
    if held.is_zero() {
        return Err(refuse(format!(
            "the admin {admin} holds none of it, and needs one base unit to check that it moves \
             exact amounts"
        )));
    }
    let one = U256::from(1u8);
    send(
        "approve the directory to check the settlement token",
        erc20.approve(directory, one).from(admin),
    )
    .await?;
    let check = PropertyDirectory::new(directory, provider);
    match check.checkSettlementToken(one).from(admin).send().await {
        Ok(pending) => {
            let receipt = pending.get_receipt().await?;
            if !receipt.status() {
                return Err(refuse(format!(
                    "moving one base unit through the directory failed (transaction {})",
                    receipt.transaction_hash
                )));
            }
            Ok(())
        }
        Err(e) => Err(refuse(inexact_reason(&e))),
    }
}

/// Why the directory's check refused the token, from its revert.
fn inexact_reason(err: &alloy::contract::Error) -> String {
    match err.as_decoded_error::<PropertyDirectory::InexactTransfer>() {
        Some(e) => format!(
            "asked to move {} base units it delivered {}: a token that keeps a fee (or otherwise \
             delivers less than asked) would leave the treasuries' books above their money",
            e.expected, e.received
        ),
        None => format!("moving one base unit through the directory failed: {err}"),
    }
}

/// Sends a transaction, waits for its receipt and fails unless it succeeded.
async fn send<P: Provider, D: CallDecoder>(
    action: &str,
    call: CallBuilder<P, D>,
) -> Result<TransactionReceipt, Error> {
    let receipt = call.send().await?.get_receipt().await?;
    if !receipt.status() {
        return Err(Error::Reverted {
            action: action.to_owned(),
            tx: receipt.transaction_hash,
        });
    }
    Ok(receipt)
}

/// Sends a deployment and returns the new contract's address and block.
async fn deploy_contract<P: Provider, D: CallDecoder>(
    action: &str,
    call: CallBuilder<P, D>,
) -> Result<Deployed, Error> {
    let receipt = send(action, call).await?;
    let address = receipt
        .contract_address
        .ok_or_else(|| Error::IncompleteReceipt {
            action: action.to_owned(),
            tx: receipt.transaction_hash,
            field: "contract address",
        })?;
    Ok(Deployed {
        address,
        block: block_of(action, &receipt)?,
    })
}

fn block_of(action: &str, receipt: &TransactionReceipt) -> Result<u64, Error> {
    receipt
        .block_number
        .ok_or_else(|| Error::IncompleteReceipt {
            action: action.to_owned(),
            tx: receipt.transaction_hash,
            field: "block number",
        })
}

/// The first `E` event that `emitter` logged in the receipt.
fn event<E: SolEvent>(
    action: &str,
    receipt: &TransactionReceipt,
    emitter: Address,
) -> Result<E, Error> {
    receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == emitter)
        .find_map(|log| log.log_decode::<E>().ok())
        .map(|log| log.inner.data)
        .ok_or_else(|| Error::MissingEvent {
            action: action.to_owned(),
            tx: receipt.transaction_hash,
            event: E::SIGNATURE,
        })
}
