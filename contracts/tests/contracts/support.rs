//! A throwaway anvil per test, a provider whose wallet signs for the admin, a dev-account funder
//! and two investor wallets, and helpers to deploy and populate a property.

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, B256, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use propledger_contracts::{
    IdentityRegistry, PropertyShares, ShareOffering, TestStablecoin,
    deploy::{
        OfferingTerms, Platform, PropertyDeployment, PropertyParams, Roles, SettlementToken,
        deploy_platform, deploy_property,
    },
};
use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// Errors of the test helpers and tests.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// What a test returns.
pub(crate) type TestResult<T = ()> = Result<T, BoxError>;

/// Anvil's first dev account (standard mnemonic): the platform admin.
const ADMIN_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Anvil's second dev account: pays the investors' gas money.
const FUNDER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// ISO-3166-1 numeric country codes.
pub(crate) const US: u16 = 840;
pub(crate) const GB: u16 = 826;

/// How long one test may take before it fails instead of hanging.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);

/// Runs a test body, failing it if it takes longer than [`TEST_TIMEOUT`].
pub(crate) async fn within(body: impl Future<Output = TestResult>) -> TestResult {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .map_err(|_| format!("test did not finish within {} s", TEST_TIMEOUT.as_secs()))?
}

/// 10^n as a U256.
pub(crate) fn pow10(n: u64) -> U256 {
    U256::from(10).pow(U256::from(n))
}

/// `n` whole shares in share units (18 decimals).
pub(crate) fn shares(n: u64) -> U256 {
    U256::from(n) * pow10(18)
}

/// `n` whole test dollars in base units (6 decimals).
pub(crate) fn usd(n: u64) -> U256 {
    U256::from(n) * pow10(6)
}

/// A running anvil, killed (and reaped) on drop.
pub(crate) struct Anvil {
    child: Child,
    /// The JSON-RPC endpoint.
    pub(crate) url: String,
}

impl Anvil {
    /// Starts anvil from node_modules on a free loopback port (`--port 0`; anvil prints the port
    /// it bound) and waits until it listens.
    pub(crate) fn start() -> Self {
        let bin = std::env::var_os("PROPLEDGER_ANVIL")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
            });
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install-toolchain",
            bin.display()
        );
        let mut child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", "0", "--accounts", "3"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        // One guard from here on, so a failed start still kills the process.
        let mut anvil = Self {
            child,
            url: String::new(),
        };

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Report the address, then keep draining so anvil never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix("Listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => anvil.url = format!("http://{addr}"),
            Err(e) => panic!("anvil did not report its address within 30 s: {e}"),
        }
        anvil
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chain with the platform admin, a funder and two investor wallets, all signable.
pub(crate) struct Chain {
    /// Signs for every account below.
    pub(crate) provider: DynProvider,
    /// The platform admin (dev account 0).
    pub(crate) admin: Address,
    /// A dev account that funds the investors' gas (dev account 1).
    pub(crate) funder: Address,
    /// Fresh investor wallets, never known to anvil.
    pub(crate) alice: Address,
    pub(crate) bob: Address,
    /// Fresh accounts for the operational roles, in the order agent, treasurer, registrar, rules.
    pub(crate) operators: [Address; 4],
    // Dropped last: the provider must not outlive the node by much, and the node must die.
    _anvil: Anvil,
}

impl Chain {
    pub(crate) async fn start() -> TestResult<Self> {
        let anvil = Anvil::start();
        let admin: PrivateKeySigner = ADMIN_KEY.parse()?;
        let funder: PrivateKeySigner = FUNDER_KEY.parse()?;
        let investors: Vec<PrivateKeySigner> = (0..6).map(|_| PrivateKeySigner::random()).collect();
        let (admin_addr, funder_addr) = (admin.address(), funder.address());
        let addrs: Vec<Address> = investors.iter().map(PrivateKeySigner::address).collect();

        let mut wallet = EthereumWallet::new(admin);
        wallet.register_signer(funder);
        for signer in investors {
            wallet.register_signer(signer);
        }
        // Simple nonce management: alloy's default cache hands out a nonce even to a transaction
        // whose gas estimation fails (a predicted revert), leaving a gap that stalls the account.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(wallet)
            .connect_http(anvil.url.parse()?);
        // Anvil mines at once; look for receipts often.
        provider
            .client()
            .set_poll_interval(Duration::from_millis(20));
        let provider = provider.erased();
        // Anvil listens before it prints the address, but be patient with a slow machine.
        let mut attempts = 0;
        while let Err(e) = provider.get_chain_id().await {
            attempts += 1;
            if attempts > 50 {
                return Err(format!("anvil at {} does not answer: {e}", anvil.url).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            provider,
            admin: admin_addr,
            funder: funder_addr,
            alice: addrs[0],
            bob: addrs[1],
            operators: [addrs[2], addrs[3], addrs[4], addrs[5]],
            _anvil: anvil,
        })
    }

    /// The timestamp of the latest block.
    pub(crate) async fn now(&self) -> TestResult<u64> {
        let block = self
            .provider
            .get_block_by_number(Default::default())
            .await?;
        Ok(block.ok_or("no latest block")?.header.timestamp)
    }

    /// Deploys the platform (with a test stablecoin) and one property, as the node would on a
    /// development chain: every role held by the admin.
    pub(crate) async fn deploy(&self) -> TestResult<(Platform, PropertyDeployment)> {
        self.deploy_with(Roles::single(self.admin)).await
    }

    /// Deploys the platform (with a test stablecoin) and one property, the roles held as given.
    pub(crate) async fn deploy_with(
        &self,
        roles: Roles,
    ) -> TestResult<(Platform, PropertyDeployment)> {
        let platform =
            deploy_platform(&self.provider, roles, SettlementToken::DeployTestStablecoin).await?;
        let start = self.now().await?;
        let params = PropertyParams {
            name: "Elm St Shares".into(),
            symbol: "ELM".into(),
            parcel_id: parcel_id(),
            metadata_hash: keccak256("metadata"),
            metadata_uri: "ipfs://deed/1".into(),
            custodian: None,
            terms: OfferingTerms {
                price_per_share: usd(50),
                min_purchase: shares(1),
                max_per_investor: shares(5_000),
                shares_for_sale: shares(10_000),
                soft_cap: usd(100_000),
                start,
                end: start + 30 * 24 * 3600,
            },
        };
        let property = deploy_property(&self.provider, &platform, &params).await?;
        Ok((platform, property))
    }

    /// Sends `wallet` 1 ETH of gas money from the funder.
    pub(crate) async fn fund_gas(&self, wallet: Address) -> TestResult {
        let gas_money = TransactionRequest::default()
            .with_from(self.funder)
            .with_to(wallet)
            .with_value(pow10(18));
        mined(
            self.provider
                .send_transaction(gas_money)
                .await?
                .get_receipt()
                .await?,
        )?;
        Ok(())
    }

    /// Registers `wallet` as a new investor (as the platform's registrar), gives it gas money from
    /// the funder and `dollars` test dollars; returns its investor number.
    pub(crate) async fn onboard(
        &self,
        platform: &Platform,
        wallet: Address,
        label: &str,
        country: u16,
        accredited: bool,
        dollars: u64,
    ) -> TestResult<u64> {
        let registry = IdentityRegistry::new(platform.identity_registry.address, &self.provider);
        let investor_id = keccak256(format!("investor:{label}"));
        let kyc_expiry = self.now().await? + 365 * 24 * 3600;
        let receipt = mined(
            registry
                .setInvestor(investor_id, country, accredited, kyc_expiry)
                .from(platform.roles.registrar)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        let updated: IdentityRegistry::InvestorUpdated =
            decode_from(&receipt, platform.identity_registry.address)?;
        assert_eq!(updated.investorId, investor_id);
        mined(
            registry
                .addWallet(wallet, investor_id)
                .from(platform.roles.registrar)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;

        self.fund_gas(wallet).await?;

        let usd_token = TestStablecoin::new(platform.settlement_token, &self.provider);
        mined(
            usd_token
                .mint(wallet, usd(dollars))
                .from(self.admin)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        Ok(updated.investorNo)
    }

    /// `buyer` approves the offering for the price and buys `amount` share units, signing with its
    /// own key; returns the purchase receipt.
    pub(crate) async fn buy(
        &self,
        platform: &Platform,
        property: &PropertyDeployment,
        buyer: Address,
        amount: U256,
    ) -> TestResult<TransactionReceipt> {
        let offering = ShareOffering::new(property.offering.address, &self.provider);
        let cost = offering.quote(amount).call().await?;
        let usd_token = TestStablecoin::new(platform.settlement_token, &self.provider);
        mined(
            usd_token
                .approve(property.offering.address, cost)
                .from(buyer)
                .send()
                .await?
                .get_receipt()
                .await?,
        )?;
        let receipt = offering
            .buy(amount)
            .from(buyer)
            .send()
            .await?
            .get_receipt()
            .await?;
        let receipt = mined(receipt)?;
        assert_eq!(receipt.from, buyer, "the buyer signs its own purchase");
        Ok(receipt)
    }

    /// The share token of a property.
    pub(crate) fn shares(
        &self,
        property: &PropertyDeployment,
    ) -> PropertyShares::PropertySharesInstance<&DynProvider> {
        PropertyShares::new(property.shares.address, &self.provider)
    }
}

/// The parcel id used for the test property.
pub(crate) fn parcel_id() -> B256 {
    let mut id = [0u8; 32];
    id[..7].copy_from_slice(b"APN-001");
    B256::from(id)
}

/// Fails unless the transaction succeeded.
pub(crate) fn mined(receipt: TransactionReceipt) -> TestResult<TransactionReceipt> {
    if receipt.status() {
        Ok(receipt)
    } else {
        Err(format!("transaction {} reverted", receipt.transaction_hash).into())
    }
}

/// The single `E` event that `emitter` logged in the receipt.
pub(crate) fn decode_from<E: SolEvent>(
    receipt: &TransactionReceipt,
    emitter: Address,
) -> TestResult<E> {
    let mut found: Vec<E> = receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == emitter)
        .filter_map(|log| log.log_decode::<E>().ok())
        .map(|log| log.inner.data)
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(format!(
            "expected one {} event from {emitter}, found {n}",
            E::SIGNATURE
        )
        .into()),
    }
}
