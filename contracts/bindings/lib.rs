//! Typed Rust access to the PropLedger Solidity contracts.
//!
//! | item | what it holds |
//! |---|---|
//! | [`identity_registry`], [`property_deed`], [`property_directory`], [`share_compliance`], [`property_shares`], [`share_offering`], [`property_treasury`], [`distributor`], [`property_launcher`], [`shares_factory`], [`offering_factory`], [`treasury_factory`], [`test_stablecoin`], [`ledger_anchor`], [`share_settlement`] | alloy `sol!` bindings (calls, events, errors, `deploy`) generated at compile time from the committed artifacts in `contracts/artifacts/` |
//! | [`ReasonCode`] | the transfer-restriction codes of `contracts/src/ReasonCodes.sol` (see `contracts/REASON_CODES.md`) |
//! | [`deploy`] | deploys the shared platform contracts once per chain, the launcher among them |
//! | [`launch`] | tokenizes a property in one transaction through the launcher: the call to send (for an outbox), the decoder of its `PropertyLaunched` log, and a sender that waits for it |
//! | [`Error`] | the one error type of this crate |
//!
//! The artifacts are produced by `scripts/build-contracts` (crate `propledger-contracts-builder`);
//! building this crate needs no Solidity compiler.

mod error;
mod reason;

pub mod deploy;
pub mod launch;

/// The committed artifacts' JSON (ABI, bytecode, compiler settings), for code that works with
/// the ABI at run time (event decoding into JSON, for instance).
pub mod artifacts {
    /// `IdentityRegistry.json`.
    pub const IDENTITY_REGISTRY: &str = include_str!("../artifacts/IdentityRegistry.json");
    /// `PropertyDeed.json`.
    pub const PROPERTY_DEED: &str = include_str!("../artifacts/PropertyDeed.json");
    /// `PropertyDirectory.json`.
    pub const PROPERTY_DIRECTORY: &str = include_str!("../artifacts/PropertyDirectory.json");
    /// `ShareCompliance.json`.
    pub const SHARE_COMPLIANCE: &str = include_str!("../artifacts/ShareCompliance.json");
    /// `PropertyShares.json`.
    pub const PROPERTY_SHARES: &str = include_str!("../artifacts/PropertyShares.json");
    /// `ShareOffering.json`.
    pub const SHARE_OFFERING: &str = include_str!("../artifacts/ShareOffering.json");
    /// `PropertyTreasury.json`.
    pub const PROPERTY_TREASURY: &str = include_str!("../artifacts/PropertyTreasury.json");
    /// `Distributor.json`.
    pub const DISTRIBUTOR: &str = include_str!("../artifacts/Distributor.json");
    /// `PropertyLauncher.json`.
    pub const PROPERTY_LAUNCHER: &str = include_str!("../artifacts/PropertyLauncher.json");
    /// `SharesFactory.json`.
    pub const SHARES_FACTORY: &str = include_str!("../artifacts/SharesFactory.json");
    /// `OfferingFactory.json`.
    pub const OFFERING_FACTORY: &str = include_str!("../artifacts/OfferingFactory.json");
    /// `TreasuryFactory.json`.
    pub const TREASURY_FACTORY: &str = include_str!("../artifacts/TreasuryFactory.json");
    /// `TestStablecoin.json`.
    pub const TEST_STABLECOIN: &str = include_str!("../artifacts/TestStablecoin.json");
    /// `ShareSettlement.json`.
    pub const SHARE_SETTLEMENT: &str = include_str!("../artifacts/ShareSettlement.json");

    /// Every artifact above, for tables keyed by selector (custom errors, events).
    pub const ALL: [&str; 14] = [
        IDENTITY_REGISTRY,
        PROPERTY_DEED,
        PROPERTY_DIRECTORY,
        SHARE_COMPLIANCE,
        PROPERTY_SHARES,
        SHARE_OFFERING,
        PROPERTY_TREASURY,
        DISTRIBUTOR,
        PROPERTY_LAUNCHER,
        SHARES_FACTORY,
        OFFERING_FACTORY,
        TREASURY_FACTORY,
        TEST_STABLECOIN,
        SHARE_SETTLEMENT,
    ];
}

pub use error::Error;
pub use reason::ReasonCode;

/// Re-export of the alloy version the bindings are generated for.
pub use alloy;

/// Declares one module of `sol!` bindings generated from a committed artifact.
macro_rules! bindings {
    ($(#[$doc:meta])* $module:ident, $contract:ident, $file:literal) => {
        $(#[$doc])*
        #[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
        pub mod $module {
            alloy::sol!(
                #[sol(rpc, all_derives)]
                $contract,
                $file
            );
        }
    };
}

bindings!(
    /// `IdentityRegistry`: wallets to investor records, shared by every property.
    identity_registry,
    IdentityRegistry,
    "artifacts/IdentityRegistry.json"
);
bindings!(
    /// `PropertyDeed`: the ERC-721 collection with one deed per property.
    property_deed,
    PropertyDeed,
    "artifacts/PropertyDeed.json"
);
bindings!(
    /// `PropertyDirectory`: the on-chain index of every property's contracts.
    property_directory,
    PropertyDirectory,
    "artifacts/PropertyDirectory.json"
);
bindings!(
    /// `ShareCompliance`: one property's offering rules.
    share_compliance,
    ShareCompliance,
    "artifacts/ShareCompliance.json"
);
bindings!(
    /// `PropertyShares`: one property's compliant fractional-share token.
    property_shares,
    PropertyShares,
    "artifacts/PropertyShares.json"
);
bindings!(
    /// `ShareOffering`: the primary sale of a property's shares.
    share_offering,
    ShareOffering,
    "artifacts/ShareOffering.json"
);
bindings!(
    /// `PropertyTreasury`: one property's settlement-token funds.
    property_treasury,
    PropertyTreasury,
    "artifacts/PropertyTreasury.json"
);
bindings!(
    /// `Distributor`: record-date pro-rata payouts to one property's shareholders.
    distributor,
    Distributor,
    "artifacts/Distributor.json"
);
bindings!(
    /// `PropertyLauncher`: tokenizes a property (deed, contracts, registration) in one transaction.
    property_launcher,
    PropertyLauncher,
    "artifacts/PropertyLauncher.json"
);
bindings!(
    /// `SharesFactory`: creates share tokens for the launcher.
    shares_factory,
    SharesFactory,
    "artifacts/SharesFactory.json"
);
bindings!(
    /// `OfferingFactory`: creates compliance rule sets and offerings for the launcher.
    offering_factory,
    OfferingFactory,
    "artifacts/OfferingFactory.json"
);
bindings!(
    /// `TreasuryFactory`: creates distributors and treasuries for the launcher.
    treasury_factory,
    TreasuryFactory,
    "artifacts/TreasuryFactory.json"
);
bindings!(
    /// `TestStablecoin`: the mintable 6-decimal settlement token of development chains.
    test_stablecoin,
    TestStablecoin,
    "artifacts/TestStablecoin.json"
);
bindings!(
    /// `LedgerAnchor`: the books' head hash after a count of posted entries, recorded on chain.
    ledger_anchor,
    LedgerAnchor,
    "artifacts/LedgerAnchor.json"
);
bindings!(
    /// `ShareSettlement`: delivery versus payment of property shares against the settlement
    /// token (offers, bids, partial fills, the agent's approval, a trading fee).
    share_settlement,
    ShareSettlement,
    "artifacts/ShareSettlement.json"
);

pub use distributor::Distributor;
pub use identity_registry::IdentityRegistry;
pub use ledger_anchor::LedgerAnchor;
pub use offering_factory::OfferingFactory;
pub use property_deed::PropertyDeed;
pub use property_directory::PropertyDirectory;
pub use property_launcher::PropertyLauncher;
pub use property_shares::PropertyShares;
pub use property_treasury::PropertyTreasury;
pub use share_compliance::ShareCompliance;
pub use share_offering::ShareOffering;
pub use share_settlement::ShareSettlement;
pub use shares_factory::SharesFactory;
pub use test_stablecoin::TestStablecoin;
pub use treasury_factory::TreasuryFactory;
