//! Command-line and environment configuration of the `propledger` binary.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};
use propledger_net::Secret;

/// PropLedger: tokenization and ledger node for real-estate investing.
#[derive(Debug, Clone, Parser)]
#[command(name = "propledger", version, about)]
pub struct Cli {
    /// A TOML file of settings, each key a flag's long name (`api-listen = "127.0.0.1:9090"`,
    /// `ca-file = ["a.pem", "b.pem"]`, `production = true`). A flag on the command line, then
    /// its environment variable, overrides the file.
    #[arg(long, env = "PROPLEDGER_CONFIG", global = true)]
    pub config: Option<PathBuf>,

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

    /// A second, external chain's JSON-RPC endpoint to anchor the books' head on too, beside
    /// the platform's chain (the admin key deploys an anchor contract there once and anchors
    /// with it; it needs gas money on that chain). Another chain than the platform's.
    #[arg(
        long,
        env = "PROPLEDGER_ANCHOR_RPC_URL",
        global = true,
        hide_env_values = true
    )]
    pub anchor_rpc_url: Option<Secret<String>>,

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

    /// The JSON-RPC endpoint published to wallets (`GET /v1/network`); default: the embedded
    /// chain's own endpoint, and none with an external chain (whose URL may hold credentials).
    #[arg(long, env = "PROPLEDGER_PUBLIC_RPC_URL", global = true)]
    pub public_rpc_url: Option<String>,

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

    /// Minutes between anchors of the books' head on chain (when it moved on); 0 anchors only
    /// on demand (`POST /v1/audit/anchors`).
    #[arg(
        long,
        env = "PROPLEDGER_ANCHOR_INTERVAL_MINS",
        default_value_t = 60,
        global = true
    )]
    pub anchor_interval_mins: u64,

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
    /// Write a property's audit export: the platform's deployment, the property's contracts and
    /// stored events, and every posted ledger entry with its hashes, as one JSON file.
    Export {
        /// The property (its API id or deed token id).
        #[arg(long)]
        property: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run the whole investment lifecycle against a running node through its API and
    /// investors' own wallet signatures, printing each step with links to what it made: a new
    /// user's first thing to try (needs a development platform, which can grant test funds).
    Demo {
        /// The node's API.
        #[arg(
            long,
            env = "PROPLEDGER_API_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        api_url: String,
        /// An admin API key (default: `<data-dir>/admin.key`).
        #[arg(long, env = "PROPLEDGER_API_KEY", hide_env_values = true)]
        api_key: Option<propledger_net::Secret<String>>,
    },
    /// Audits: `propledger audit verify`.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage staff users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `propledger audit ...`
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Verify an audit export against a chain's JSON-RPC endpoint (`--rpc-url`), trusting
    /// nothing else: the platform's code, the property's contracts and events, the hash chain,
    /// the entries booked from events, the anchors and the cap table. Exits 0 only when
    /// everything matches.
    Verify {
        /// The export (`propledger export`).
        #[arg(long)]
        export: PathBuf,
    },
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

/// The arguments with the settings of a TOML file (`--config`, or `PROPLEDGER_CONFIG`) added
/// where neither the command line nor the environment gives them: each key of the file is a
/// flag's long name, its value a string, number, boolean or (for flags that take several) an
/// array. `env_set` says whether an environment variable is set. An unknown key, a value of the
/// wrong shape or an unreadable file is an error naming it.
pub fn with_config_file(
    args: Vec<std::ffi::OsString>,
    env_set: &dyn Fn(&str) -> bool,
    read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
) -> Result<Vec<std::ffi::OsString>, String> {
    use clap::CommandFactory;
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let named = text.iter().enumerate().find_map(|(i, a)| {
        if a == "--config" {
            text.get(i + 1).cloned()
        } else {
            a.strip_prefix("--config=").map(str::to_owned)
        }
    });
    let path = match named {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("PROPLEDGER_CONFIG") {
            Some(p) if env_set("PROPLEDGER_CONFIG") => PathBuf::from(p),
            _ => return Ok(args),
        },
    };
    let body = read(&path).map_err(|e| format!("the config file {}: {e}", path.display()))?;
    let table: toml::Table = body
        .parse()
        .map_err(|e| format!("the config file {}: {e}", path.display()))?;
    let command = Cli::command();
    let mut out = args;
    for (key, value) in table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && key != "config")
            .ok_or_else(|| format!("the config file {}: no setting `{key}`", path.display()))?;
        let given = text
            .iter()
            .any(|a| a == &format!("--{key}") || a.starts_with(&format!("--{key}=")));
        let from_env = arg.get_env().is_some_and(|e| env_set(&e.to_string_lossy()));
        if given || from_env {
            continue;
        }
        // A switch (`production = true`) is given or not.
        if !arg.get_action().takes_values() {
            match value {
                toml::Value::Boolean(true) => out.push(format!("--{key}").into()),
                toml::Value::Boolean(false) => {}
                _ => {
                    return Err(format!(
                        "the config file {}: `{key}` is a switch: true or false",
                        path.display()
                    ));
                }
            }
            continue;
        }
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(n) => Some(n.to_string()),
            toml::Value::Float(f) => Some(f.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        };
        let shape = || {
            format!(
                "the config file {}: `{key}` takes a string, number or boolean{}",
                path.display(),
                if arg.get_value_delimiter().is_some() {
                    ", or an array of them"
                } else {
                    ""
                }
            )
        };
        let text_value = match &value {
            toml::Value::Array(items) if arg.get_value_delimiter().is_some() => items
                .iter()
                .map(|v| scalar(v).ok_or_else(shape))
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            v => scalar(v).ok_or_else(shape)?,
        };
        out.push(format!("--{key}={text_value}").into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn parse(list: &[&str], file: &str, env: &[&str]) -> Result<Cli, String> {
        let file = file.to_owned();
        let env: Vec<String> = env.iter().map(|e| (*e).to_owned()).collect();
        let augmented =
            with_config_file(args(list), &|name| env.iter().any(|e| e == name), &|_| {
                Ok(file.clone())
            })?;
        Cli::try_parse_from(augmented).map_err(|e| e.to_string())
    }

    #[test]
    fn the_file_fills_what_flags_do_not_give() {
        let file = "api-listen = \"127.0.0.1:9191\"\nconfirmations = 3\nproduction = true\n\
                    audit-rpc-allow = [\"http://a:1\", \"http://b:2\"]\ndata-dir = \"/tmp/x\"\n";
        let cli = parse(&["propledger", "--config", "node.toml"], file, &[]).unwrap();
        assert_eq!(cli.api_listen.to_string(), "127.0.0.1:9191");
        assert_eq!(cli.confirmations, Some(3));
        assert!(cli.production);
        assert_eq!(cli.audit_rpc_allow, ["http://a:1", "http://b:2"]);
        assert_eq!(cli.data_dir, PathBuf::from("/tmp/x"));
        // A flag wins over the file.
        let cli = parse(
            &["propledger", "--config=node.toml", "--confirmations", "7"],
            file,
            &[],
        )
        .unwrap();
        assert_eq!(cli.confirmations, Some(7));
        // So does an environment variable: the file's value is not added.
        let augmented = with_config_file(
            args(&["propledger", "--config", "node.toml"]),
            &|name| name == "PROPLEDGER_CONFIRMATIONS",
            &|_| Ok(file.to_owned()),
        )
        .unwrap();
        assert!(
            !augmented
                .iter()
                .any(|a| a.to_string_lossy().starts_with("--confirmations"))
        );
    }

    #[test]
    fn a_bad_file_is_named() {
        let e = parse(&["propledger", "--config", "n.toml"], "no-such = 1\n", &[]).unwrap_err();
        assert!(e.contains("no setting `no-such`"), "{e}");
        let e = parse(
            &["propledger", "--config", "n.toml"],
            "api-listen = [\"a\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(e.contains("`api-listen` takes a string"), "{e}");
        let e = parse(
            &["propledger", "--config", "n.toml"],
            "production = 1\n",
            &[],
        )
        .unwrap_err();
        assert!(e.contains("`production` is a switch"), "{e}");
        let e = parse(
            &["propledger", "--config", "n.toml"],
            "api-listen = \n",
            &[],
        )
        .unwrap_err();
        assert!(e.contains("n.toml"), "{e}");
        // Without a file, nothing changes.
        let cli = parse(&["propledger"], "", &[]).unwrap();
        assert!(cli.config.is_none());
    }
}
