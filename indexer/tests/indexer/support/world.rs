//! A chain to index (anvil from node_modules or the embedded chain), the platform deployed on
//! it, and the business done there: investors buying shares, a deposit, rehab draws, a
//! distribution and its claims, a forced transfer. Investors are dev accounts (unlocked on both
//! chains), so reorgs can replay their transactions by request.

use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};
use alloy::sol_types::SolCall;
use propledger_chain::{ChainConfig, DEV_MNEMONIC, EmbeddedChain};
use propledger_contracts::deploy::{
    OfferingTerms, Platform, PropertyDeployment, PropertyParams, Roles, SettlementToken,
    deploy_platform, deploy_property,
};
use propledger_contracts::{
    Distributor, IdentityRegistry, PropertyShares, PropertyTreasury, ShareOffering, TestStablecoin,
};
use propledger_indexer::IndexerConfig;
use propledger_indexer::source::SourceConfig;
use serde_json::json;

use super::anvil::{Anvil, TestResult};

/// Which chain a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChainKind {
    Anvil,
    Embedded,
}

/// A running chain, stopped on drop.
pub(crate) enum Node {
    Anvil(Anvil),
    Embedded(EmbeddedChain, #[allow(dead_code)] tempfile::TempDir),
}

impl Node {
    pub(crate) async fn start(kind: ChainKind) -> TestResult<Node> {
        Ok(match kind {
            ChainKind::Anvil => Node::Anvil(Anvil::spawn_with_accounts(6)),
            ChainKind::Embedded => {
                let dir = tempfile::tempdir()?;
                let mut cfg = ChainConfig::new(dir.path().join("chain"));
                cfg.listen = "127.0.0.1:0".parse()?;
                cfg.dev_accounts = 6;
                Node::Embedded(EmbeddedChain::start(cfg).await?, dir)
            }
        })
    }

    pub(crate) fn url(&self) -> String {
        match self {
            Node::Anvil(a) => a.url().to_owned(),
            Node::Embedded(c, _) => c.url(),
        }
    }
}

/// A dev account's key (standard test mnemonic).
pub(crate) fn dev_key(i: u32) -> PrivateKeySigner {
    MnemonicBuilder::<English>::default()
        .phrase(DEV_MNEMONIC)
        .index(i)
        .expect("derivation index")
        .build()
        .expect("dev key")
}

/// `n` whole test dollars in base units (6 decimals).
pub(crate) fn usd(n: u64) -> U256 {
    U256::from(n) * U256::from(1_000_000u64)
}

/// `n` whole shares (18 decimals).
pub(crate) fn shares(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// The platform on a chain, and the accounts that use it.
pub(crate) struct World {
    pub(crate) node: Node,
    pub(crate) provider: DynProvider,
    pub(crate) admin: Address,
    /// Investor wallets (dev accounts 1..).
    pub(crate) investors: Vec<Address>,
    pub(crate) platform: Platform,
    pub(crate) property: PropertyDeployment,
}

/// Price of one share, in test dollars.
pub(crate) const PRICE: u64 = 50;

impl World {
    /// Starts a chain and deploys the platform and one property with four onboarded
    /// investors holding test dollars.
    pub(crate) async fn start(kind: ChainKind) -> TestResult<World> {
        let node = Node::start(kind).await?;
        let keys: Vec<PrivateKeySigner> = (0..5).map(dev_key).collect();
        let admin = keys[0].address();
        let investors: Vec<Address> = keys[1..].iter().map(PrivateKeySigner::address).collect();
        let mut wallet = EthereumWallet::new(keys[0].clone());
        for k in &keys[1..] {
            wallet.register_signer(k.clone());
        }
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(wallet)
            .connect_http(node.url().parse()?);
        provider
            .client()
            .set_poll_interval(Duration::from_millis(10));
        let provider = provider.erased();
        let platform = deploy_platform(
            &provider,
            Roles::single(admin),
            SettlementToken::DeployTestStablecoin,
        )
        .await?;
        let start = latest_timestamp(&provider).await?;
        let params = property_params("Elm St Shares", "ELM", start);
        let property = deploy_property(&provider, &platform, &params).await?;
        let world = World {
            node,
            provider,
            admin,
            investors,
            platform,
            property,
        };
        let registry =
            IdentityRegistry::new(world.platform.identity_registry.address, &world.provider);
        let token = TestStablecoin::new(world.platform.settlement_token, &world.provider);
        for (i, wallet) in world.investors.clone().into_iter().enumerate() {
            let id = keccak256(format!("investor:{i}"));
            mined(
                registry
                    .setInvestor(id, 840, true, start + 3 * 365 * 24 * 3600)
                    .from(admin)
                    .send()
                    .await?
                    .get_receipt()
                    .await?,
            )?;
            mined(
                registry
                    .addWallet(wallet, id)
                    .from(admin)
                    .send()
                    .await?
                    .get_receipt()
                    .await?,
            )?;
            mined(
                token
                    .mint(wallet, usd(1_000_000))
                    .from(admin)
                    .send()
                    .await?
                    .get_receipt()
                    .await?,
            )?;
            mined(
                token
                    .approve(world.property.offering.address, U256::MAX)
                    .from(wallet)
                    .send()
                    .await?
                    .get_receipt()
                    .await?,
            )?;
        }
        // The admin funds direct deposits into the treasury.
        mined(
            token
                .mint(admin, usd(1_000_000))
                .from(admin)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        mined(
            token
                .approve(world.property.treasury.address, U256::MAX)
                .from(admin)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        Ok(world)
    }

    /// What an indexer of this world is configured with (confirmations as given).
    pub(crate) fn indexer_config(&self, confirmations: u64) -> IndexerConfig {
        let mut source = SourceConfig::new(self.node.url());
        source.request_timeout = Duration::from_secs(10);
        let mut cfg = IndexerConfig::new(source, self.platform.clone());
        cfg.confirmations = confirmations;
        cfg.reorg_window = 100;
        cfg.poll_interval = Duration::from_millis(20);
        cfg
    }

    /// A transaction request from `from` calling `to` with `input` (for sending, or for
    /// replaying in a reorg).
    pub(crate) fn request(&self, from: Address, to: Address, input: Bytes) -> TransactionRequest {
        TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_input(input)
            .with_gas_limit(1_000_000)
    }

    /// A purchase of whole shares by investor `i`, as a request.
    pub(crate) fn buy_request(&self, i: usize, whole_shares: u64) -> TransactionRequest {
        self.request(
            self.investors[i],
            self.property.offering.address,
            ShareOffering::buyCall {
                shareAmount: shares(whole_shares),
            }
            .abi_encode()
            .into(),
        )
    }

    /// A direct treasury deposit by the admin, as a request.
    pub(crate) fn deposit_request(&self, dollars: u64, reference: B256) -> TransactionRequest {
        self.request(
            self.admin,
            self.property.treasury.address,
            PropertyTreasury::depositCall {
                amount: usd(dollars),
                r#ref: reference,
            }
            .abi_encode()
            .into(),
        )
    }

    pub(crate) async fn send(&self, request: TransactionRequest) -> TestResult<TransactionReceipt> {
        mined(
            self.provider
                .send_transaction(request)
                .await?
                .get_receipt()
                .await?,
        )
    }

    pub(crate) async fn buy(&self, i: usize, whole_shares: u64) -> TestResult<TransactionReceipt> {
        self.send(self.buy_request(i, whole_shares)).await
    }

    pub(crate) async fn deposit(
        &self,
        dollars: u64,
        reference: B256,
    ) -> TestResult<TransactionReceipt> {
        self.send(self.deposit_request(dollars, reference)).await
    }

    /// Plans a budget line and releases a draw against it with an invoice hash.
    pub(crate) async fn draw(
        &self,
        line: &str,
        dollars: u64,
        invoice: B256,
    ) -> TestResult<TransactionReceipt> {
        let treasury = PropertyTreasury::new(self.property.treasury.address, &self.provider);
        let line = keccak256(line);
        mined(
            treasury
                .setBudgetLine(line, usd(1_000_000))
                .from(self.admin)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        mined(
            treasury
                .releaseDraw(self.investors[3], usd(dollars), line, invoice)
                .from(self.admin)
                .send()
                .await?
                .get_receipt()
                .await?,
        )
    }

    /// Funds a distribution and has the first two investors' payouts claimed.
    pub(crate) async fn distribute(&self, dollars: u64, reference: B256) -> TestResult {
        let treasury = PropertyTreasury::new(self.property.treasury.address, &self.provider);
        let now = latest_timestamp(&self.provider).await?;
        mined(
            treasury
                .fundDistribution(usd(dollars), now + 3600, reference)
                .from(self.admin)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        let distributor = Distributor::new(self.property.distributor.address, &self.provider);
        let id = distributor.distributionCount().call().await? - U256::from(1u8);
        for holder in &self.investors[..2] {
            mined(
                distributor
                    .claimFor(id, *holder)
                    .from(self.admin)
                    .send()
                    .await?
                    .get_receipt()
                    .await?,
            )?;
        }
        Ok(())
    }

    /// Moves shares between investors by the agent's forced transfer.
    pub(crate) async fn force(
        &self,
        from: usize,
        to: usize,
        whole_shares: u64,
    ) -> TestResult<TransactionReceipt> {
        let shares_token = PropertyShares::new(self.property.shares.address, &self.provider);
        mined(
            shares_token
                .forcedTransfer(
                    self.investors[from],
                    self.investors[to],
                    shares(whole_shares),
                )
                .from(self.admin)
                .send()
                .await?
                .get_receipt()
                .await?,
        )
    }

    /// A mix of everything: purchases by all investors, a deposit, two draws, a distribution
    /// with claims, a forced transfer.
    pub(crate) async fn business(&self) -> TestResult {
        for i in 0..self.investors.len() {
            self.buy(i, 10 + i as u64).await?;
        }
        self.deposit(1_000, keccak256("rent-2026-10")).await?;
        self.draw("roof", 700, keccak256("invoice-1")).await?;
        self.draw("kitchen", 300, keccak256("invoice-2")).await?;
        self.distribute(200, keccak256("dist-1")).await?;
        self.force(0, 1, 2).await?;
        Ok(())
    }

    /// Replaces the last `depth` blocks with `depth` new ones holding `txs` (each with the
    /// offset of its block), by `anvil_reorg`, which both chains implement.
    pub(crate) async fn reorg(
        &self,
        depth: u64,
        txs: Vec<(TransactionRequest, u64)>,
    ) -> TestResult {
        let pairs: Vec<serde_json::Value> = txs
            .into_iter()
            .map(|(tx, offset)| json!([tx, offset]))
            .collect();
        let _: serde_json::Value = self
            .provider
            .raw_request("anvil_reorg".into(), (depth, pairs))
            .await?;
        Ok(())
    }

    /// Mines `n` empty blocks.
    pub(crate) async fn mine(&self, n: u64) -> TestResult {
        for _ in 0..n {
            let _: serde_json::Value = self.provider.raw_request("evm_mine".into(), ()).await?;
        }
        Ok(())
    }

    pub(crate) async fn snapshot(&self) -> TestResult<U256> {
        Ok(self.provider.raw_request("evm_snapshot".into(), ()).await?)
    }

    pub(crate) async fn revert(&self, id: U256) -> TestResult {
        let ok: bool = self
            .provider
            .raw_request("evm_revert".into(), (id,))
            .await?;
        assert!(ok, "evm_revert refused");
        Ok(())
    }
}

/// A property's parameters: shares at $50, a $100 soft cap, open for a year from `start`.
pub(crate) fn property_params(name: &str, symbol: &str, start: u64) -> PropertyParams {
    PropertyParams {
        name: name.into(),
        symbol: symbol.into(),
        parcel_id: keccak256(format!("APN:{symbol}")),
        metadata_hash: keccak256(format!("metadata:{symbol}")),
        metadata_uri: format!("ipfs://deed/{symbol}"),
        custodian: None,
        terms: OfferingTerms {
            price_per_share: usd(PRICE),
            min_purchase: shares(1),
            max_per_investor: U256::ZERO,
            shares_for_sale: shares(100_000),
            soft_cap: usd(100),
            start,
            end: start + 365 * 24 * 3600,
        },
    }
}

pub(crate) async fn latest_timestamp(provider: &DynProvider) -> TestResult<u64> {
    let block = provider.get_block_by_number(Default::default()).await?;
    Ok(block.ok_or("no latest block")?.header.timestamp)
}

pub(crate) fn mined(receipt: TransactionReceipt) -> TestResult<TransactionReceipt> {
    if receipt.status() {
        Ok(receipt)
    } else {
        Err(format!("transaction {} reverted", receipt.transaction_hash).into())
    }
}
