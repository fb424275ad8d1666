//! The `propledger` binary: parses configuration and runs the node.

use std::str::FromStr;

use alloy::primitives::Address;
use anyhow::Context;
use clap::Parser;
use propledger_node::{
    Node, NodeConfig, RoleKeys,
    config::{Cli, Command, KeysCommand, UsersCommand},
    deployment::DeploymentRecord,
    node::ApiSettings,
};
use tracing_subscriber::EnvFilter;

/// mimalloc: the indexer and the chain allocate many small, short-lived buffers, where it is
/// markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();

    match &cli.command {
        Some(Command::Status) => {
            let record = DeploymentRecord::load(&cli.data_dir)?
                .with_context(|| format!("no deployment recorded in {}", cli.data_dir.display()))?;
            println!("{}", serde_json::to_string_pretty(&record)?);
            return Ok(());
        }
        Some(Command::Users(cmd)) => return users(&cli, cmd).await,
        Some(Command::Keys(cmd)) => return keys(&cli, cmd).await,
        Some(Command::Run) | None => {}
    }

    let mut config = NodeConfig::new(cli.data_dir.clone());
    config.rpc_url = cli.rpc_url;
    config.private_key = cli.private_key;
    config.role_keys = RoleKeys {
        agent: cli.agent_key,
        treasurer: cli.treasurer_key,
        registrar: cli.registrar_key,
        rules: cli.rules_key,
    };
    config.settlement_token = cli
        .settlement_token
        .as_deref()
        .map(Address::from_str)
        .transpose()
        .context("--settlement-token is not an address")?;
    config.chain.listen =
        std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, cli.chain_port));
    config.chain.chain_id = cli.chain_id;
    config.chain.block_time = cli.block_time.map(std::time::Duration::from_secs);
    config.database_url = cli.database_url.clone();
    config.confirmations = cli.confirmations;
    let mut api = propledger_api::ApiConfig::new(cli.data_dir.clone());
    api.blob_location = cli.blob_store.as_deref().map(|s| match s {
        "database" => propledger_api::blobs::BlobLocation::Database,
        _ => propledger_api::blobs::BlobLocation::Disk,
    });
    api.max_document_bytes = cli.max_upload_mib.saturating_mul(1024 * 1024);
    config.api = Some(ApiSettings {
        listen: cli.api_listen,
        config: api,
    });

    let node = Node::start(config).await?;
    if let Some(url) = node.api_url() {
        println!("PropLedger API: {url} (docs: {url}/v1/docs)");
    }
    if let Some(key) = node.first_admin_key() {
        println!(
            "Admin API key (shown once; also in {}): {key}",
            cli.data_dir
                .join(propledger_node::node::ADMIN_KEY_FILE)
                .display()
        );
    }
    println!("Chain JSON-RPC: {}", node.rpc_url());
    tracing::info!(rpc = node.rpc_url(), data_dir = %cli.data_dir.display(), "node running; Ctrl-C or SIGTERM stops it");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    tracing::info!("stopping");
    node.shutdown().await?;
    Ok(())
}

/// The node's database URL, as the node would open it.
fn database_url(cli: &Cli) -> String {
    cli.database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite:{}", cli.data_dir.join("ledger.db").display()))
}

async fn users(cli: &Cli, cmd: &UsersCommand) -> anyhow::Result<()> {
    let UsersCommand::Create {
        username,
        role,
        display_name,
        password_file,
    } = cmd;
    let password = match password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            text.strip_suffix('\n').unwrap_or(&text).to_owned()
        }
        None => {
            let first = rpassword::prompt_password("Password for the new user: ")
                .context("no password: give --password-file or run on a terminal")?;
            let again = rpassword::prompt_password("Again: ")?;
            anyhow::ensure!(first == again, "the passwords differ");
            first
        }
    };
    std::fs::create_dir_all(&cli.data_dir)?;
    let db = propledger_api::db::Db::connect(&database_url(cli)).await?;
    let new = propledger_api::users::NewUser {
        username: username.clone(),
        display_name: display_name.clone(),
        role: role.parse()?,
        password: propledger_api::auth::secret::Secret::new(password),
    };
    let (user, totp) = propledger_api::admin::create_user(&db, &new).await?;
    println!(
        "created user {} ({}) with role {}",
        user.username, user.id, user.role
    );
    println!("TOTP secret (enroll it in an authenticator app now; it is not shown again):");
    println!("  {}", totp.secret_base32);
    println!("  {}", totp.otpauth_uri);
    Ok(())
}

async fn keys(cli: &Cli, cmd: &KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Create {
        role,
        name,
        user,
        service,
    } = cmd;
    std::fs::create_dir_all(&cli.data_dir)?;
    let db = propledger_api::db::Db::connect(&database_url(cli)).await?;
    let user_id = match user {
        Some(username) => Some(
            propledger_api::admin::user_by_name(&db, username)
                .await
                .with_context(|| format!("no user named {username:?}"))?
                .id
                .to_string(),
        ),
        None => None,
    };
    let new = propledger_api::keys::NewKey {
        name: name.clone(),
        role: role.parse()?,
        service: if user_id.is_some() {
            None
        } else {
            Some(service.clone().unwrap_or_else(|| name.clone()))
        },
        user_id,
    };
    let (key, secret) = propledger_api::admin::create_key(&db, &new).await?;
    eprintln!(
        "created API key {} ({}) with role {}; it is shown once:",
        key.name, key.id, key.role
    );
    println!("{}", secret.expose());
    Ok(())
}
