//! Command-line and environment configuration of the `propledger` binary.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    #[arg(long, env = "PROPLEDGER_RPC_URL", global = true)]
    pub rpc_url: Option<String>,

    /// Hex private key of the deployer and platform admin. Defaults to the first dev account of
    /// the standard test mnemonic, which is only accepted on development chains (ids 31337, 1337).
    #[arg(
        long,
        env = "PROPLEDGER_PRIVATE_KEY",
        hide_env_values = true,
        global = true
    )]
    pub private_key: Option<String>,

    /// Hex private key of the share tokens' transfer agent (pause, freezes, forced transfers,
    /// recovery); defaults to the admin key.
    #[arg(
        long,
        env = "PROPLEDGER_AGENT_KEY",
        hide_env_values = true,
        global = true
    )]
    pub agent_key: Option<String>,

    /// Hex private key of the treasurer (budgets, draws, distributions, cancelling offerings);
    /// defaults to the admin key.
    #[arg(
        long,
        env = "PROPLEDGER_TREASURER_KEY",
        hide_env_values = true,
        global = true
    )]
    pub treasurer_key: Option<String>,

    /// Hex private key of the identity registry's registrar (investors and their wallets);
    /// defaults to the admin key.
    #[arg(
        long,
        env = "PROPLEDGER_REGISTRAR_KEY",
        hide_env_values = true,
        global = true
    )]
    pub registrar_key: Option<String>,

    /// Hex private key of the compliance rules admin; defaults to the admin key.
    #[arg(
        long,
        env = "PROPLEDGER_RULES_KEY",
        hide_env_values = true,
        global = true
    )]
    pub rules_key: Option<String>,

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
    pub database_url: Option<String>,
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
