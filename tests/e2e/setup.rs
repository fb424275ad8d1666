//! A node on a chain and a database, as a test starts it.

use alloy::primitives::keccak256;
use alloy::signers::local::PrivateKeySigner;
use propledger_e2e::{NodeProcess, free_port};
use propledger_node::demo::DemoConfig;
use propledger_testkit::anvil::Anvil;

/// Which chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chain {
    /// The node's own embedded chain.
    Embedded,
    /// anvil, as an external chain.
    Anvil,
}

/// Which database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Db {
    /// SQLite in the data directory.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// Whether every case of the matrices runs.
pub(crate) fn full() -> bool {
    std::env::var("PROPLEDGER_TEST_FULL").is_ok_and(|v| v == "1")
}

/// The seed choosing a subset (default: the day).
pub(crate) fn seed() -> u64 {
    std::env::var("PROPLEDGER_TEST_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp() as u64 / 86_400)
}

/// A running node with what it stands on.
pub(crate) struct Setup {
    pub(crate) node: NodeProcess,
    pub(crate) data_dir: tempfile::TempDir,
    /// `--database-url` when not the data directory's SQLite.
    pub(crate) database_url: Option<String>,
    pub(crate) rpc_url: String,
    _anvil: Option<Anvil>,
}

impl Setup {
    pub(crate) async fn start(chain: Chain, db: Db) -> Setup {
        Self::start_with(chain, db, &[]).await
    }

    /// With more arguments.
    pub(crate) async fn start_with(chain: Chain, db: Db, extra: &[String]) -> Setup {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut args = vec![
            "--data-dir".to_owned(),
            data_dir.path().display().to_string(),
            "--api-listen".to_owned(),
            format!("127.0.0.1:{}", free_port()),
            // Anchors on demand only: the lifecycle asks for one.
            "--anchor-interval-mins".to_owned(),
            "0".to_owned(),
        ];
        let (anvil, rpc_url) = match chain {
            Chain::Embedded => {
                let port = free_port();
                args.extend(["--chain-port".to_owned(), port.to_string()]);
                (None, format!("http://127.0.0.1:{port}"))
            }
            Chain::Anvil => {
                let anvil = Anvil::spawn();
                let url = anvil.url().to_owned();
                args.extend(
                    [
                        "--rpc-url",
                        &url,
                        "--confirmations",
                        "0",
                        "--public-rpc-url",
                        &url,
                        "--audit-rpc-allow",
                        &url,
                    ]
                    .map(str::to_owned),
                );
                (Some(anvil), url)
            }
        };
        let database_url = match db {
            Db::Sqlite => None,
            Db::Postgres => Some(
                propledger_testkit::postgres::Postgres::shared()
                    .fresh_database()
                    .await,
            ),
        };
        if let Some(url) = &database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args.extend(extra.iter().cloned());
        let node = NodeProcess::start(args);
        Setup {
            node,
            data_dir,
            database_url,
            rpc_url,
            _anvil: anvil,
        }
    }

    /// The lifecycle's settings: the investors' fixed keys, and this node.
    pub(crate) fn demo(&self) -> DemoConfig {
        demo_config(&self.node.api_url, self.data_dir.path())
    }

    /// Arguments naming this node's data directory and database, for one-shot commands.
    pub(crate) fn store_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.data_dir.path().display().to_string(),
        ];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args
    }
}

/// The lifecycle's settings against `api_url`: the investors' fixed keys, and the admin key the
/// node with `data_dir` made on its first start.
pub(crate) fn demo_config(api_url: &str, data_dir: &std::path::Path) -> DemoConfig {
    let key = |n: u8| {
        PrivateKeySigner::from_bytes(&keccak256(format!("e2e investor {n}"))).expect("a key")
    };
    DemoConfig {
        api_url: api_url.to_owned(),
        api_key: std::fs::read_to_string(data_dir.join("admin.key"))
            .expect("admin.key")
            .trim()
            .to_owned(),
        rpc_url: None,
        tls: propledger_net::tls::client_config(&[]).expect("tls"),
        investors: Some([key(1), key(2), key(3)]),
        tag: Some("e2e".to_owned()),
    }
}
