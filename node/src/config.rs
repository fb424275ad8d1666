//! Command-line and environment configuration of the `propledger` binary.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};
use propledger_net::Secret;

/// PropLedger: tokenization and ledger node for real-estate investing.
#[derive(Debug, Clone, Parser)]
#[command(name = "propledger", version, about)]
pub struct Cli {
    /// Where the node keeps its chain state and deployment record.
    #[arg(
        long,
        env = "PROPLEDGER_DATA_DIR",
        default_value = "propledger-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// JSON-RPC endpoint of an external EVM chain; without it the node runs its embedded chain.
    #[arg(
        long,
        env = "PROPLEDGER_RPC_URL",
        hide_env_values = true,
        global = true
    )]
    pub rpc_url: Option<Secret<String>>,

    /// The deployer and platform admin key (the operator of a production embedded chain):
    /// `keystore:<path>[,password-file=<path>]` (Web3 Secret Storage) or, for development,
    /// hex. Defaults to the first dev account of the standard test mnemonic, which is only
    /// accepted on development chains (ids 31337, 1337).
    #[arg(
        long,
        env = "PROPLEDGER_PRIVATE_KEY",
        hide_env_values = true,
        global = true
    )]
    pub private_key: Option<Secret<String>>,

    /// PEM file of a CA certificate to trust for `https://`/`wss://` endpoints besides
    /// Mozilla's roots (a permissioned network's private CA); may be given more than once.
    #[arg(long, env = "PROPLEDGER_CA_FILE", global = true, value_delimiter = ',')]
    pub ca_file: Vec<PathBuf>,

    /// File whose first line is the password of keystores that name no password file of their
    /// own; without it the node prompts when standard input is a terminal.
    #[arg(long, env = "PROPLEDGER_KEYSTORE_PASSWORD_FILE", global = true)]
    pub keystore_password_file: Option<PathBuf>,

    /// Key of the share tokens' transfer agent (pause, freezes, forced transfers, recovery), in
    /// the forms `--private-key` takes; defaults to the admin key.
    #[arg(
        long,
        env = "PROPLEDGER_AGENT_KEY",
        hide_env_values = true,
        global = true
    )]
    pub agent_key: Option<Secret<String>>,

    /// Key of the treasurer (budgets, draws, distributions, cancelling offerings), in the forms
    /// `--private-key` takes; defaults to the admin key.
    #[arg(
        long,
        env = "PROPLEDGER_TREASURER_KEY",
        hide_env_values = true,
        global = true
    )]
    pub treasurer_key: Option<Secret<String>>,

    /// Key of the identity registry's registrar (investors and their wallets), in the forms
    /// `--private-key` takes; defaults to the admin key.
    #[arg(
        long,
        env = "PROPLEDGER_REGISTRAR_KEY",
        hide_env_values = true,
        global = true
    )]
    pub registrar_key: Option<Secret<String>>,

    /// Key of the compliance rules admin, in the forms `--private-key` takes; defaults to the
    /// admin key.
    #[arg(
        long,
        env = "PROPLEDGER_RULES_KEY",
        hide_env_values = true,
        global = true
    )]
    pub rules_key: Option<Secret<String>>,

    /// Address of the USD stablecoin to settle in; without it a TestStablecoin is deployed.
    #[arg(long, env = "PROPLEDGER_SETTLEMENT_TOKEN", global = true)]
    pub settlement_token: Option<String>,

    /// Loopback port of the embedded chain's JSON-RPC (HTTP and WebSocket).
    #[arg(
        long,
        env = "PROPLEDGER_CHAIN_PORT",
        default_value_t = 8545,
        global = true
    )]
    pub chain_port: u16,

    /// Address the embedded chain's JSON-RPC listens on, e.g. `0.0.0.0:8545` to let other
    /// machines in (put TLS in front of it); overrides `--chain-port`.
    #[arg(long, env = "PROPLEDGER_CHAIN_LISTEN", global = true)]
    pub chain_listen: Option<SocketAddr>,

    /// Create the embedded chain in production mode: no dev accounts, no dev methods, the
    /// admin key's account funded at genesis. Needs `--chain-id` of its own and `--private-key`;
    /// recorded in the data directory for good.
    #[arg(long, env = "PROPLEDGER_PRODUCTION", global = true)]
    pub production: bool,

    /// Most connections the embedded chain's JSON-RPC server keeps open; more wait.
    #[arg(
        long,
        env = "PROPLEDGER_CHAIN_MAX_CONNECTIONS",
        default_value_t = 1024,
        global = true
    )]
    pub chain_max_connections: usize,

    /// Seconds a client may take to send a request's headers to the embedded chain.
    #[arg(
        long,
        env = "PROPLEDGER_CHAIN_HEADER_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub chain_header_timeout_secs: u64,

    /// Seconds a connection to the embedded chain may sit idle between requests.
    #[arg(
        long,
        env = "PROPLEDGER_CHAIN_KEEP_ALIVE_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub chain_keep_alive_timeout_secs: u64,

    /// Seconds a client may take to send a request's body to the embedded chain.
    #[arg(
        long,
        env = "PROPLEDGER_CHAIN_BODY_TIMEOUT_SECS",
        default_value_t = 30,
        global = true
    )]
    pub chain_body_timeout_secs: u64,

    /// Chain id of the embedded chain.
    #[arg(
        long,
        env = "PROPLEDGER_CHAIN_ID",
        default_value_t = 31337,
        global = true
    )]
    pub chain_id: u64,

    /// Seconds between blocks on the embedded chain; without it every transaction is mined at once.
    #[arg(long, env = "PROPLEDGER_BLOCK_TIME", global = true)]
    pub block_time: Option<u64>,

    /// Where the books and the index live: `sqlite:<path>` or `postgres://user@host/db`;
    /// default `sqlite:<data-dir>/ledger.db`.
    #[arg(
        long,
        env = "PROPLEDGER_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<Secret<String>>,
    /// Confirmations before a chain event's ledger entry is posted (default 0 on the embedded
    /// chain, 12 on an external chain).
    #[arg(long, env = "PROPLEDGER_CONFIRMATIONS", global = true)]
    pub confirmations: Option<u64>,
    /// Where the HTTP API listens.
    #[arg(
        long,
        env = "PROPLEDGER_API_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub api_listen: std::net::SocketAddr,

    /// Where uploaded files are kept: `disk` (under the data directory) or `database` (every
    /// replica on the database can serve them). Default: disk with SQLite, database with
    /// PostgreSQL.
    #[arg(long, env = "PROPLEDGER_BLOB_STORE", value_parser = ["disk", "database"], global = true)]
    pub blob_store: Option<String>,

    /// Largest document upload, in MiB.
    #[arg(
        long,
        env = "PROPLEDGER_MAX_UPLOAD_MIB",
        default_value_t = 25,
        global = true
    )]
    pub max_upload_mib: u64,

    /// The origin clients reach the API at (`https://api.example.com`), which wallet sign-in
    /// (EIP-4361) messages must name; default: `http://` and the API's listening address.
    #[arg(long, env = "PROPLEDGER_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// A JSON-RPC endpoint auditors may have the node read for a verification
    /// (`POST /v1/audit/verifications`); repeat it, or separate with commas. The node reads no
    /// endpoint that is not listed.
    #[arg(
        long = "audit-rpc-allow",
        env = "PROPLEDGER_AUDIT_RPC_ALLOW",
        value_delimiter = ',',
        global = true
    )]
    pub audit_rpc_allow: Vec<String>,

    /// Where the platform contracts' code differs from the deployment record (the chain's
    /// code, or this build's artifacts), accept it as it is now and record it; without it such
    /// a node refuses chain actions. Meant for one start, after checking the difference.
    #[arg(long, env = "PROPLEDGER_ACCEPT_DEPLOYED_CODE", global = true)]
    pub accept_deployed_code: bool,

    /// What to do (default: run).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the node until interrupted (the default).
    Run,
    /// Print the recorded deployment as JSON.
    Status,
    /// Copy the data directory and the SQLite books into DIR, consistently, while the node
    /// runs (a PostgreSQL database is backed up with its own tools: see the README).
    Backup {
        /// Where the backup goes (created; must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a backup and restore it into `--data-dir` (which must not exist or be empty); the
    /// next start re-verifies the books against the chain and catches up.
    Restore {
        /// The backup to restore.
        #[arg(long)]
        from: PathBuf,
    },
    /// Manage staff users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `propledger users ...`
#[derive(Debug, Clone, Subcommand)]
pub enum UsersCommand {
    /// Create a staff user; prints their TOTP secret once, to enroll in an authenticator app.
    Create {
        /// The sign-in name (lowercase letters, digits, '.', '_', '-', '@').
        #[arg(long)]
        username: String,
        /// The role: admin, operator, compliance or auditor.
        #[arg(long)]
        role: String,
        /// The name shown to people (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// A file holding the password (at least 12 characters; one trailing newline is
        /// ignored). Without it the password is asked for on the terminal.
        #[arg(long)]
        password_file: Option<std::path::PathBuf>,
    },
}

/// `propledger keys ...`
#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Make an API key; prints it once.
    Create {
        /// The role: admin, operator, compliance or auditor.
        #[arg(long)]
        role: String,
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// The staff user who owns it (their username; the key gets their role). Without it
        /// the key belongs to the service account named by --service (default: the name).
        #[arg(long, conflicts_with = "service")]
        user: Option<String>,
        /// The service account that owns it.
        #[arg(long)]
        service: Option<String>,
    },
}
