//! The identity registry's calls that onboarding makes through the outbox.

use alloy::sol_types::SolCall;
use alloy_primitives::{Address, B256};
use propledger_contracts::IdentityRegistry;

use crate::outbox::Call;

/// Creates the investor in the registry, or updates their country, accreditation and KYC
/// expiry (Unix seconds).
pub fn set_investor(
    registry: Address,
    id: [u8; 32],
    country: u16,
    accredited: bool,
    kyc_expiry_s: u64,
) -> Call {
    Call::new(
        registry,
        IdentityRegistry::setInvestorCall {
            investorId: B256::from(id),
            country,
            accredited,
            kycExpiry: kyc_expiry_s,
        }
        .abi_encode(),
    )
}

/// Links a wallet to the investor.
pub fn add_wallet(registry: Address, id: [u8; 32], wallet: Address) -> Call {
    Call::new(
        registry,
        IdentityRegistry::addWalletCall {
            wallet,
            investorId: B256::from(id),
        }
        .abi_encode(),
    )
}

/// Unlinks a wallet.
pub fn remove_wallet(registry: Address, wallet: Address) -> Call {
    Call::new(
        registry,
        IdentityRegistry::removeWalletCall { wallet }.abi_encode(),
    )
}

/// Freezes or unfreezes the investor on every token.
pub fn set_frozen(registry: Address, id: [u8; 32], frozen: bool) -> Call {
    Call::new(
        registry,
        IdentityRegistry::setInvestorFrozenCall {
            investorId: B256::from(id),
            frozen,
        }
        .abi_encode(),
    )
}
