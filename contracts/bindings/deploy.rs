//! Deploys the shared platform contracts, wired the way `contracts/test/utils/Fixture.sol` wires
//! them.
//!
//! [`deploy_platform`] deploys them once per chain: the settlement token (a [`TestStablecoin`] on
//! development chains, or an existing token, which must move exact amounts), the
//! [`IdentityRegistry`], the [`PropertyDeed`] collection, the [`PropertyDirectory`], the three
//! factories and the [`PropertyLauncher`], which receives the registrar role of the deed and of
//! the directory. Properties are then tokenized one transaction each through the launcher (see
//! [`crate::launch`]).
//!
//! The roles are held by the accounts of [`Roles`], which may all differ: the admin holds every
//! contract's admin role (handed over in two steps with a two-day delay), launches properties and
//! sends every transaction here, so the provider must be able to sign for it (a wallet holding its
//! key, or an account the node unlocks); the agent, treasurer, registrar and rules admin only
//! receive their roles. Each contract comes back with the block it was deployed in, so an indexer
//! can backfill from there.
//!
//! Transactions are sent one after the other, each waiting for its receipt. A provider built with
//! alloy's recommended fillers caches nonces and hands one out even to a transaction whose gas
//! estimation then fails, which leaves a gap that stalls the account; a provider that may see such
//! failures should use `ProviderBuilder::with_simple_nonce_management`.

use crate::{
    Error, IdentityRegistry, LedgerAnchor, OfferingFactory, PropertyDeed, PropertyDirectory,
    PropertyLauncher, ShareSettlement, SharesFactory, TestStablecoin, TreasuryFactory,
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
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::Provider,
    rpc::types::TransactionReceipt,
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

/// One of a platform's contracts: the name of its artifact (`contracts/artifacts/<name>.json`),
/// where it was deployed, and the artifact's creation code as this build deploys it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformContract {
    /// The contract's (and its artifact's) name.
    pub name: &'static str,
    /// Its address and deployment block.
    pub deployed: Deployed,
    /// The artifact's creation code (`bytecode.object`), constructor arguments excluded.
    pub creation_code: &'static [u8],
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
    /// Holds every contract's admin role (moved in two steps, with a two-day delay), launches
    /// properties (and may still mint deeds and register properties and offerings directly), and
    /// sends every deployment transaction.
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

    pub(crate) fn validate(&self) -> Result<(), Error> {
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
    /// The [`PropertyLauncher`], which tokenizes properties; it holds the registrar role of the
    /// deed and of the directory, and only the admin may call it.
    pub launcher: Deployed,
    /// The factories the launcher creates each property's contracts with.
    pub factories: Factories,
    /// The [`LedgerAnchor`] the books' head is recorded in (`None` in a record made before
    /// platforms had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Deployed>,
    /// The [`ShareSettlement`] market where investors trade shares against the settlement token
    /// (`None` in a record made before platforms had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<Deployed>,
}

/// The factories of a platform's launcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factories {
    /// The [`SharesFactory`].
    pub shares: Deployed,
    /// The [`OfferingFactory`] (compliance rule sets and offerings).
    pub offering: Deployed,
    /// The [`TreasuryFactory`] (distributors and treasuries).
    pub treasury: Deployed,
}

impl Platform {
    /// The account that deployed everything and holds every admin role.
    pub fn admin(&self) -> Address {
        self.roles.admin
    }

    /// Every contract the platform deployed (the settlement token only when it deployed it).
    pub fn deployed(&self) -> Vec<Deployed> {
        self.contracts().into_iter().map(|c| c.deployed).collect()
    }

    /// Every contract the platform deployed, named, with the creation code this build deploys
    /// it from.
    pub fn contracts(&self) -> Vec<PlatformContract> {
        let named = |name, deployed, creation_code: &'static Bytes| PlatformContract {
            name,
            deployed,
            creation_code: creation_code.as_ref(),
        };
        let mut all = vec![
            named(
                "IdentityRegistry",
                self.identity_registry,
                &IdentityRegistry::BYTECODE,
            ),
            named("PropertyDeed", self.deed, &PropertyDeed::BYTECODE),
            named(
                "PropertyDirectory",
                self.directory,
                &PropertyDirectory::BYTECODE,
            ),
            named(
                "PropertyLauncher",
                self.launcher,
                &PropertyLauncher::BYTECODE,
            ),
            named(
                "SharesFactory",
                self.factories.shares,
                &SharesFactory::BYTECODE,
            ),
            named(
                "OfferingFactory",
                self.factories.offering,
                &OfferingFactory::BYTECODE,
            ),
            named(
                "TreasuryFactory",
                self.factories.treasury,
                &TreasuryFactory::BYTECODE,
            ),
        ];
        if let Some(usd) = self.test_stablecoin {
            all.push(named("TestStablecoin", usd, &TestStablecoin::BYTECODE));
        }
        if let Some(anchor) = self.anchor {
            all.push(named("LedgerAnchor", anchor, &LedgerAnchor::BYTECODE));
        }
        if let Some(settlement) = self.settlement {
            all.push(named(
                "ShareSettlement",
                settlement,
                &ShareSettlement::BYTECODE,
            ));
        }
        all
    }

    /// The earliest block holding any of the platform's contracts: where an indexer starts.
    pub fn start_block(&self) -> u64 {
        self.deployed()
            .into_iter()
            .map(|d| d.block)
            .min()
            .unwrap_or(self.identity_registry.block)
    }
}

/// Deploys a [`LedgerAnchor`] administered by `admin`, who also records the anchors: part of
/// every new platform, and added to one recorded before platforms had it.
pub async fn deploy_anchor<P: Provider>(provider: &P, admin: Address) -> Result<Deployed, Error> {
    deploy_contract(
        "deploy LedgerAnchor",
        LedgerAnchor::deploy_builder(provider, admin, admin).from(admin),
    )
    .await
}

/// The trading fee a new market starts with, in basis points of each payment (the admin holds
/// `FEE_ADMIN_ROLE` and changes it with `setFee`).
pub const DEFAULT_TRADING_FEE_BPS: u16 = 25;

/// Deploys a [`ShareSettlement`] market for `settlement_token`: administered by the admin, who
/// receives the fees (at [`DEFAULT_TRADING_FEE_BPS`]); the transfer agent lists share tokens and
/// approves trades. Part of every new platform, and added to one recorded before platforms had
/// it.
pub async fn deploy_settlement<P: Provider>(
    provider: &P,
    roles: &Roles,
    settlement_token: Address,
) -> Result<Deployed, Error> {
    deploy_contract(
        "deploy ShareSettlement",
        ShareSettlement::deploy_builder(
            provider,
            roles.admin,
            roles.agent,
            settlement_token,
            roles.admin,
            DEFAULT_TRADING_FEE_BPS,
        )
        .from(roles.admin),
    )
    .await
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

    // The launcher, and the factories holding the creation code it could not hold itself.
    let factories = Factories {
        shares: deploy_contract(
            "deploy SharesFactory",
            SharesFactory::deploy_builder(provider).from(admin),
        )
        .await?,
        offering: deploy_contract(
            "deploy OfferingFactory",
            OfferingFactory::deploy_builder(provider).from(admin),
        )
        .await?,
        treasury: deploy_contract(
            "deploy TreasuryFactory",
            TreasuryFactory::deploy_builder(provider).from(admin),
        )
        .await?,
    };
    let launcher = deploy_contract(
        "deploy PropertyLauncher",
        PropertyLauncher::deploy_builder(
            provider,
            directory.address,
            factories.shares.address,
            factories.offering.address,
            factories.treasury.address,
            admin,
        )
        .from(admin),
    )
    .await?;
    let registrar = role("REGISTRAR_ROLE");
    send(
        "grant the launcher REGISTRAR_ROLE on the deed",
        PropertyDeed::new(deed.address, provider)
            .grantRole(registrar, launcher.address)
            .from(admin),
    )
    .await?;
    send(
        "grant the launcher REGISTRAR_ROLE on the directory",
        PropertyDirectory::new(directory.address, provider)
            .grantRole(registrar, launcher.address)
            .from(admin),
    )
    .await?;

    let anchor = deploy_anchor(provider, admin).await?;
    let settlement = deploy_settlement(provider, &roles, settlement_token).await?;

    Ok(Platform {
        chain_id,
        roles,
        settlement_token,
        test_stablecoin,
        identity_registry,
        deed,
        directory,
        launcher,
        factories,
        anchor: Some(anchor),
        settlement: Some(settlement),
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

pub(crate) fn block_of(action: &str, receipt: &TransactionReceipt) -> Result<u64, Error> {
    receipt
        .block_number
        .ok_or_else(|| Error::IncompleteReceipt {
            action: action.to_owned(),
            tx: receipt.transaction_hash,
            field: "block number",
        })
}
