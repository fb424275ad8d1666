//! Dev accounts (the standard test mnemonic, as in anvil and Hardhat) and the genesis block.

use alloy::{
    consensus::{EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH, Header},
    eips::eip7685::EMPTY_REQUESTS_HASH,
    primitives::{Address, B64, B256, Bloom, Bytes, U256},
    signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
};

use super::{
    codec::{self, Reader, Writer},
    state::{Account, DiffBuilder, StateDiff, commit_root},
};

/// The mnemonic anvil and Hardhat derive their dev accounts from.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// Failures deriving dev accounts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mnemonic or a derived key was rejected.
    #[error("cannot derive dev account {index} from the mnemonic: {reason}")]
    Derive {
        /// Index in m/44'/60'/0'/0/i.
        index: u32,
        /// Why derivation failed.
        reason: String,
    },
}

/// A dev account with its key, unlocked for `eth_sendTransaction`.
#[derive(Debug, Clone)]
pub(crate) struct DevAccount {
    pub(crate) address: Address,
    pub(crate) signer: PrivateKeySigner,
}

/// Derives `count` accounts along m/44'/60'/0'/0/i.
pub(crate) fn dev_accounts(mnemonic: &str, count: u32) -> Result<Vec<DevAccount>, Error> {
    let derive_err = |index: u32, e: &dyn std::fmt::Display| Error::Derive {
        index,
        reason: e.to_string(),
    };
    let parent = MnemonicBuilder::<English>::default()
        .phrase(mnemonic)
        .build_parent_key()
        .map_err(|e| derive_err(0, &e))?;
    (0..count)
        .map(|i| {
            let signer = parent.child(i).map_err(|e| derive_err(i, &e))?.signer();
            Ok(DevAccount {
                address: signer.address(),
                signer,
            })
        })
        .collect()
}

/// What the genesis block is made from. Recorded in the data directory so a restart rebuilds
/// exactly the same block 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GenesisSpec {
    pub(crate) chain_id: u64,
    pub(crate) timestamp: u64,
    pub(crate) gas_limit: u64,
    pub(crate) base_fee: u64,
    pub(crate) alloc: Vec<(Address, U256)>,
}

impl GenesisSpec {
    /// The initial state as a diff from nothing.
    pub(crate) fn state_diff(&self) -> StateDiff {
        let mut b = DiffBuilder::default();
        for (address, balance) in &self.alloc {
            b.account(*address, None, Some(Account::with_balance(*balance)));
        }
        b.finish()
    }

    /// Block 0.
    pub(crate) fn header(&self) -> Header {
        Header {
            parent_hash: B256::ZERO,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: Address::ZERO,
            state_root: commit_root(B256::ZERO, &self.state_diff()),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Bloom::ZERO,
            difficulty: U256::ZERO,
            number: 0,
            gas_limit: self.gas_limit,
            gas_used: 0,
            timestamp: self.timestamp,
            extra_data: Bytes::new(),
            mix_hash: B256::ZERO,
            nonce: B64::ZERO,
            base_fee_per_gas: Some(self.base_fee),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.chain_id);
        w.u64(self.timestamp);
        w.u64(self.gas_limit);
        w.u64(self.base_fee);
        w.len(self.alloc.len());
        for (address, balance) in &self.alloc {
            w.address(address);
            w.u256(balance);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> codec::Result<Self> {
        let chain_id = r.u64()?;
        let timestamp = r.u64()?;
        let gas_limit = r.u64()?;
        let base_fee = r.u64()?;
        let n = r.len(52)?;
        let mut alloc = Vec::with_capacity(n);
        for _ in 0..n {
            alloc.push((r.address()?, r.u256()?));
        }
        Ok(Self {
            chain_id,
            timestamp,
            gas_limit,
            base_fee,
            alloc,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    #[test]
    fn derives_the_same_accounts_as_anvil_and_hardhat() {
        let accounts = dev_accounts(DEV_MNEMONIC, 10).expect("derive");
        assert_eq!(accounts.len(), 10);
        assert_eq!(
            accounts[0].address,
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        assert_eq!(
            accounts[1].address,
            address!("70997970C51812dc3A010C7d01b50e0d17dc79C8")
        );
        assert_eq!(
            accounts[9].address,
            address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720")
        );
        assert_eq!(
            accounts[0].signer.to_bytes().as_slice(),
            alloy::hex!("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        );
    }

    #[test]
    fn genesis_round_trips_and_is_deterministic() {
        let spec = GenesisSpec {
            chain_id: 31337,
            timestamp: 1_700_000_000,
            gas_limit: 30_000_000,
            base_fee: 1_000_000_000,
            alloc: vec![(Address::repeat_byte(1), U256::from(5))],
        };
        let mut w = Writer::new();
        spec.encode(&mut w);
        let bytes = w.into_bytes();
        let decoded = GenesisSpec::decode(&mut Reader::new(&bytes)).expect("decode");
        assert_eq!(decoded, spec);
        assert_eq!(decoded.header().hash_slow(), spec.header().hash_slow());
    }
}
