//! The outbox's sender against the real embedded chain: actions are sent in order with one nonce
//! each, settle with their receipts, fail with their revert's reason (without spending a
//! nonce), wait for the actions they follow, recover what a crash left signed but unsent,
//! only one sender per key runs among processes sharing the database, and a sender reaches a
//! chain over `https://` and `wss://` (refusing a certificate it does not trust).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use propledger_api::ChainContext;
use propledger_api::auth::Actor;
use propledger_api::db::Engine;
use propledger_api::outbox::sender::{Sender, SenderConfig};
use propledger_api::outbox::{self, Call, NewAction, Status};
use propledger_chain::{ChainConfig, EmbeddedChain};
use propledger_contracts::TestStablecoin;
use propledger_ledger::Ledger;
use propledger_testkit::tls::{TestCa, TlsProxy};

use crate::support::{TestApp, both_engines};

both_engines!(
    actions_settle_in_order,
    reverts_and_sequences,
    one_sender_per_key
);

/// The first dev account of the standard test mnemonic.
pub(crate) const DEV_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) chain: EmbeddedChain,
    _chain_dir: tempfile::TempDir,
    pub(crate) signer: PrivateKeySigner,
    pub(crate) token: Address,
    pub(crate) provider: alloy::providers::DynProvider,
}

pub(crate) async fn world(engine: Engine) -> World {
    let app = TestApp::new(engine).await;
    let chain_dir = tempfile::tempdir().unwrap();
    let mut cfg = ChainConfig::new(chain_dir.path());
    cfg.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let chain = EmbeddedChain::start(cfg).await.expect("chain");
    let signer: PrivateKeySigner = DEV_KEY.parse().unwrap();
    let url: alloy::transports::http::reqwest::Url = chain.url().parse().unwrap();
    let deployer = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer.clone()))
        .connect_http(url.clone());
    let token = *TestStablecoin::deploy(&deployer, signer.address())
        .await
        .expect("deploy")
        .address();
    let tls = propledger_net::tls::client_config(&[]).expect("tls");
    let provider = ChainContext::connect_provider(url.as_str(), &tls)
        .await
        .expect("provider");
    World {
        app,
        chain,
        _chain_dir: chain_dir,
        signer,
        token,
        provider,
    }
}

impl World {
    pub(crate) fn sender(&self) -> Sender {
        self.sender_on(self.provider.clone())
    }

    /// A sender whose chain connection is `provider`.
    pub(crate) fn sender_on(&self, provider: alloy::providers::DynProvider) -> Sender {
        let mut cfg = SenderConfig::new(31337, 0);
        cfg.poll = Duration::from_millis(20);
        Sender::new(
            self.app.api.db().clone(),
            provider,
            self.signer.clone(),
            "admin",
            cfg,
        )
    }

    pub(crate) async fn enqueue(
        &self,
        kind: &str,
        call: Call,
        after: Option<outbox::ActionId>,
    ) -> outbox::ActionId {
        let mut tx = self.app.api.db().begin().await.unwrap();
        let id = outbox::enqueue(
            &mut tx,
            NewAction {
                chain_id: 31337,
                key_role: "admin",
                signer: self.signer.address(),
                kind,
                call,
                after,
                actor: &Actor::system("test"),
                resource: Some(("test", "r1".to_owned())),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    }

    pub(crate) fn mint(&self, to: Address, amount: u64) -> Call {
        Call::new(
            self.token,
            TestStablecoin::mintCall {
                to,
                amount: U256::from(amount),
            }
            .abi_encode(),
        )
    }

    pub(crate) async fn balance(&self, who: Address) -> U256 {
        TestStablecoin::new(self.token, &self.provider)
            .balanceOf(who)
            .call()
            .await
            .unwrap()
    }

    pub(crate) async fn drain(&self, sender: &mut Sender) {
        for _ in 0..200 {
            let pass = sender.pass().await.expect("pass");
            if pass.sent + pass.resent + pass.settled + pass.waiting == 0 {
                return;
            }
        }
        panic!("the outbox did not settle");
    }

    pub(crate) async fn action(&self, id: outbox::ActionId) -> outbox::Action {
        outbox::get(self.app.api.db().reader(), id).await.unwrap()
    }
}

fn who(n: u8) -> Address {
    Address::from([n; 20])
}

async fn actions_settle_in_order(engine: Engine) {
    let w = world(engine).await;
    let start_nonce = w
        .provider
        .get_transaction_count(w.signer.address())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 1..=5u8 {
        ids.push(
            w.enqueue("mint", w.mint(who(n), u64::from(n) * 1_000_000), None)
                .await,
        );
    }
    assert_eq!(w.action(ids[0]).await.status, Status::Queued);
    let mut sender = w.sender();
    w.drain(&mut sender).await;
    for (i, id) in ids.iter().enumerate() {
        let a = w.action(*id).await;
        assert_eq!(a.status, Status::Confirmed, "{a:?}");
        assert_eq!(
            a.nonce,
            Some(start_nonce + i as u64),
            "one nonce each, in order"
        );
        assert_eq!(a.sends, 1);
        assert!(a.tx_hash.is_some() && a.block_number.is_some());
    }
    for n in 1..=5u8 {
        assert_eq!(
            w.balance(who(n)).await,
            U256::from(u64::from(n) * 1_000_000),
            "minted once"
        );
    }
    assert_eq!(
        w.provider
            .get_transaction_count(w.signer.address())
            .await
            .unwrap(),
        start_nonce + 5,
        "no nonce gap, nothing twice"
    );
    let of = outbox::of_resource(w.app.api.db().reader(), "test", "r1")
        .await
        .unwrap();
    assert_eq!(of.len(), 5);
    w.chain.shutdown().await.unwrap();
}

async fn reverts_and_sequences(engine: Engine) {
    let w = world(engine).await;
    let start_nonce = w
        .provider
        .get_transaction_count(w.signer.address())
        .await
        .unwrap();
    // A transfer the signer cannot afford reverts in estimation: failed, with the reason.
    let transfer = Call::new(
        w.token,
        TestStablecoin::transferCall {
            to: who(9),
            value: U256::from(5u64),
        }
        .abi_encode(),
    );
    let broke = w.enqueue("transfer", transfer.clone(), None).await;
    // A mint after it fails too; a mint after a good mint goes once that one is confirmed.
    let after_broke = w.enqueue("mint", w.mint(who(8), 1), Some(broke)).await;
    let first = w.enqueue("mint", w.mint(who(7), 1), None).await;
    let second = w.enqueue("mint", w.mint(who(7), 2), Some(first)).await;
    let mut sender = w.sender();
    w.drain(&mut sender).await;
    let b = w.action(broke).await;
    assert_eq!(b.status, Status::Failed);
    assert!(
        b.failure
            .as_deref()
            .unwrap()
            .starts_with("ERC20InsufficientBalance("),
        "{b:?}"
    );
    assert_eq!(b.nonce, None, "a failed estimate spends no nonce");
    let a = w.action(after_broke).await;
    assert_eq!(
        (a.status, a.failure.as_deref()),
        (Status::Failed, Some("an action it depends on failed"))
    );
    assert_eq!(w.action(first).await.status, Status::Confirmed);
    let s = w.action(second).await;
    assert_eq!(s.status, Status::Confirmed);
    assert!(s.block_number > w.action(first).await.block_number);
    assert_eq!(w.balance(who(7)).await, U256::from(3u64));
    assert_eq!(w.balance(who(8)).await, U256::ZERO);
    assert_eq!(
        w.provider
            .get_transaction_count(w.signer.address())
            .await
            .unwrap(),
        start_nonce + 2
    );
    w.chain.shutdown().await.unwrap();
}

async fn one_sender_per_key(engine: Engine) {
    let w = world(engine).await;
    let ledger = Ledger::connect(&w.app.url).await.unwrap();
    let sender = w.sender();
    let held = ledger.try_lock(&sender.lock_name()).await.unwrap();
    assert!(held.is_some());
    // Another holder (another replica's handle) is refused while this one holds it.
    let other = Ledger::connect(&w.app.url).await.unwrap();
    assert!(other.try_lock(&sender.lock_name()).await.unwrap().is_none());
    drop(held);
    assert!(other.try_lock(&sender.lock_name()).await.unwrap().is_some());
    w.chain.shutdown().await.unwrap();
}

/// The chain behind a TLS-terminating proxy whose certificate comes from a CA made here: a
/// sender on a connection that trusts the CA settles its actions over `https://` and over
/// `wss://`; one that trusts only the usual roots is refused with the certificate named as the
/// cause, and its action stays queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_settle_over_https_and_wss() {
    let w = world(Engine::Sqlite).await;
    let ca = TestCa::new("Provider CA");
    let proxy = TlsProxy::start(&ca, w.chain.local_addr()).await;
    let tls = propledger_net::tls::client_config(&[ca.ca_file()]).expect("tls");
    for (n, url) in [(21u8, proxy.https_url()), (22, proxy.wss_url())] {
        let provider = ChainContext::connect_provider(&url, &tls)
            .await
            .expect("provider");
        let id = w.enqueue("mint", w.mint(who(n), 1_000), None).await;
        let mut sender = w.sender_on(provider);
        w.drain(&mut sender).await;
        let a = w.action(id).await;
        assert_eq!(a.status, Status::Confirmed, "{url}: {a:?}");
        assert_eq!(w.balance(who(n)).await, U256::from(1_000u64), "{url}");
    }

    let untrusted = propledger_net::tls::client_config(&[]).expect("tls");
    // An HTTP connection is made with the first request.
    let provider = ChainContext::connect_provider(&proxy.https_url(), &untrusted)
        .await
        .expect("provider");
    let id = w.enqueue("mint", w.mint(who(23), 1_000), None).await;
    let err = w
        .sender_on(provider)
        .pass()
        .await
        .expect_err("an untrusted certificate");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    assert_eq!(w.action(id).await.status, Status::Queued);
    assert_eq!(w.balance(who(23)).await, U256::ZERO);
    // A WebSocket connection is made at once.
    let err = ChainContext::connect_provider(&proxy.wss_url(), &untrusted)
        .await
        .expect_err("an untrusted certificate");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    w.chain.shutdown().await.unwrap();
}
