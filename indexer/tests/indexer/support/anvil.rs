//! anvil (from the test kit) and a dev chain driver that works against anvil and the embedded
//! chain alike: it deploys a [`TestStablecoin`] and mines blocks holding a chosen number of mints
//! (one `Transfer` log each), with automine off so that many transactions share a block.

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, U64, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use propledger_contracts::TestStablecoin;
use std::time::Duration;

pub(crate) use propledger_testkit::Anvil;

/// Errors of the test helpers and tests.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// What a test returns.
pub(crate) type TestResult<T = ()> = Result<T, BoxError>;

/// Anvil's first dev account (standard mnemonic), also the embedded chain's: deploys and mints.
pub(crate) const ADMIN_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// How long one test may take before it fails instead of hanging.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs a test body, failing it if it takes longer than [`TEST_TIMEOUT`].
pub(crate) async fn within(body: impl Future<Output = TestResult>) -> TestResult {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .map_err(|_| format!("test did not finish within {} s", TEST_TIMEOUT.as_secs()))?
}

/// Drives a dev chain (anvil or the embedded chain) with automine off.
pub(crate) struct DevChain {
    /// Signs for the admin.
    pub(crate) provider: DynProvider,
    /// Dev account 0.
    pub(crate) admin: Address,
    /// The deployed test stablecoin.
    pub(crate) token: Address,
    /// Mints sent so far (makes recipients and amounts distinct).
    sent: u64,
}

impl DevChain {
    /// Attaches to the node at `url`, turns automine off (anvil; the embedded chain is started
    /// with a long block time instead) and deploys the token in block 1.
    pub(crate) async fn attach(url: &str) -> TestResult<Self> {
        let admin: PrivateKeySigner = ADMIN_KEY.parse()?;
        let admin_addr = admin.address();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::new(admin))
            .connect_http(url.parse()?)
            .erased();
        let mut attempts = 0;
        while let Err(e) = provider.get_chain_id().await {
            attempts += 1;
            if attempts > 50 {
                return Err(format!("{url} does not answer: {e}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Anvil knows evm_setAutomine; the embedded chain runs without automine already.
        let _ = provider
            .raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (false,))
            .await;
        let deploy = TestStablecoin::deploy_builder(&provider, admin_addr)
            .from(admin_addr)
            .into_transaction_request();
        let pending = provider.send_transaction(deploy).await?;
        let hash = *pending.tx_hash();
        mine(&provider).await?;
        let receipt = provider
            .get_transaction_receipt(hash)
            .await?
            .ok_or("the deployment was not mined")?;
        let token = receipt
            .contract_address
            .ok_or("the deployment created no contract")?;
        Ok(Self {
            provider,
            admin: admin_addr,
            token,
            sent: 0,
        })
    }

    /// The head block number.
    pub(crate) async fn head(&self) -> TestResult<u64> {
        Ok(self.provider.get_block_number().await?)
    }

    /// The recipient of mint number `i`.
    pub(crate) fn recipient(i: u64) -> Address {
        Address::from_word(B256::from(U256::from(0x1000 + i)))
    }

    /// Mines one block per entry of `counts`, holding that many mints (0: an empty block);
    /// returns the numbers of the blocks.
    pub(crate) async fn mint_blocks(&mut self, counts: &[usize]) -> TestResult<Vec<u64>> {
        let token = TestStablecoin::new(self.token, &self.provider);
        let mut blocks = Vec::with_capacity(counts.len());
        for &count in counts {
            let mut hashes = Vec::with_capacity(count);
            for _ in 0..count {
                let i = self.sent;
                self.sent += 1;
                let tx: TransactionRequest = token
                    .mint(Self::recipient(i % 7), U256::from(1_000 + i))
                    .from(self.admin)
                    .into_transaction_request()
                    .with_gas_limit(200_000)
                    .with_max_fee_per_gas(100_000_000_000)
                    .with_max_priority_fee_per_gas(1_000_000_000);
                hashes.push(*self.provider.send_transaction(tx).await?.tx_hash());
            }
            mine(&self.provider).await?;
            let number = self.head().await?;
            for hash in hashes {
                let receipt = self
                    .provider
                    .get_transaction_receipt(hash)
                    .await?
                    .ok_or_else(|| format!("{hash} was not mined"))?;
                if !receipt.status() || receipt.block_number != Some(number) {
                    return Err(format!("{hash} failed or landed outside block {number}").into());
                }
            }
            blocks.push(number);
        }
        Ok(blocks)
    }

    /// Mines `n` empty blocks at once.
    pub(crate) async fn mine_empty(&self, n: u64) -> TestResult {
        self.provider
            .raw_request::<_, serde_json::Value>("anvil_mine".into(), (U64::from(n),))
            .await?;
        Ok(())
    }
}

/// Mines one block with what is pending.
async fn mine(provider: &DynProvider) -> TestResult {
    provider
        .raw_request::<_, serde_json::Value>("evm_mine".into(), serde_json::json!([]))
        .await?;
    Ok(())
}
