//! Typed Rust access to the PropLedger Solidity contracts.
//!
//! | item | what it holds |
//! |---|---|
//! | [`identity_registry`], [`property_deed`], [`property_directory`], [`share_compliance`], [`property_shares`], [`share_offering`], [`property_treasury`], [`distributor`], [`test_stablecoin`] | alloy `sol!` bindings (calls, events, errors, `deploy`) generated at compile time from the committed artifacts in `contracts/artifacts/` |
//! | [`ReasonCode`] | the transfer-restriction codes of `contracts/src/ReasonCodes.sol` (see `contracts/REASON_CODES.md`) |
//! | [`deploy`] | deploys the shared platform contracts and, per property, the wired suite |
//! | [`Error`] | the one error type of this crate |
//!
//! The artifacts are produced by `scripts/build-contracts` (crate `propledger-contracts-builder`);
//! building this crate needs no Solidity compiler.

mod error;
mod reason;

pub mod deploy;

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
    /// `TestStablecoin.json`.
    pub const TEST_STABLECOIN: &str = include_str!("../artifacts/TestStablecoin.json");
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
    /// `TestStablecoin`: the mintable 6-decimal settlement token of development chains.
    test_stablecoin,
    TestStablecoin,
    "artifacts/TestStablecoin.json"
);

pub use distributor::Distributor;
pub use identity_registry::IdentityRegistry;
pub use property_deed::PropertyDeed;
pub use property_directory::PropertyDirectory;
pub use property_shares::PropertyShares;
pub use property_treasury::PropertyTreasury;
pub use share_compliance::ShareCompliance;
pub use share_offering::ShareOffering;
pub use test_stablecoin::TestStablecoin;
