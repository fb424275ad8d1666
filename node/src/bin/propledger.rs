//! The `propledger` binary: parses configuration and runs the node.

use std::{process::ExitCode, str::FromStr, time::Duration};

use alloy::primitives::Address;
use anyhow::Context;
use clap::Parser;
use propledger_node::{
    Node, NodeConfig, backup,
    chain::ServerLimits,
    config::{Cli, Command},
    deployment::DeploymentRecord,
    keys::{KeyLoader, KeySource},
    logging::{self, Scrubber},
};

/// mimalloc: the indexer and the chain allocate many small, short-lived buffers, where it is
/// markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    propledger_net::tls::install_crypto_provider();
    // Every secret on the command line is known before anything is logged; keys loaded from
    // keystores are learnt as they are decrypted.
    let scrubber = Scrubber::new();
    for url in [&cli.rpc_url, &cli.database_url].into_iter().flatten() {
        scrubber.learn_url(url.expose());
    }
    if let Some(key) = &cli.private_key {
        scrubber.learn(key.expose());
    }
    logging::init(scrubber.clone());
    match run(cli, &scrubber).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{}", scrubber.scrub(&describe(&e)));
            ExitCode::FAILURE
        }
    }
}

/// The error and the causes that add to it (library errors often quote their cause already).
fn describe(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

async fn run(cli: Cli, scrubber: &Scrubber) -> anyhow::Result<()> {
    let database_url = cli.database_url.as_ref().map(|u| u.expose().clone());
    match &cli.command {
        Some(Command::Status) => {
            let record = DeploymentRecord::load(&cli.data_dir)?
                .with_context(|| format!("no deployment recorded in {}", cli.data_dir.display()))?;
            println!("{}", serde_json::to_string_pretty(&record)?);
            return Ok(());
        }
        Some(Command::Backup { out }) => {
            let made = backup::backup(&cli.data_dir, database_url.as_deref(), out).await?;
            println!("{}", serde_json::to_string_pretty(&made)?);
            return Ok(());
        }
        Some(Command::Restore { from }) => {
            let restored = backup::restore(from, &cli.data_dir).await?;
            println!("{}", serde_json::to_string_pretty(&restored)?);
            return Ok(());
        }
        Some(Command::Run) | None => {}
    }

    let mut config = NodeConfig::new(cli.data_dir.clone());
    config.rpc_url = cli.rpc_url;
    config.production = cli.production;
    if let Some(value) = cli.private_key {
        let loader = KeyLoader::new(cli.password_file.clone());
        let source = KeySource::parse("--private-key", value.expose())?;
        let loaded = tokio::task::spawn_blocking(move || loader.load("--private-key", &source))
            .await
            .context("loading --private-key")??;
        for secret in &loaded.secrets {
            scrubber.learn(secret.expose());
        }
        config.signer = Some(loaded.signer);
    }
    config.settlement_token = cli
        .settlement_token
        .as_deref()
        .map(Address::from_str)
        .transpose()
        .context("--settlement-token is not an address")?;
    config.chain.listen = cli.chain_listen.unwrap_or(std::net::SocketAddr::from((
        std::net::Ipv4Addr::LOCALHOST,
        cli.chain_port,
    )));
    config.chain.chain_id = cli.chain_id;
    config.chain.block_time = cli.block_time.map(Duration::from_secs);
    config.chain.server = ServerLimits {
        max_connections: cli.chain_max_connections,
        header_read_timeout: Duration::from_secs(cli.chain_header_timeout_secs),
        keep_alive_timeout: Duration::from_secs(cli.chain_keep_alive_timeout_secs),
        body_read_timeout: Duration::from_secs(cli.chain_body_timeout_secs),
    };
    config.database_url = cli.database_url;
    config.confirmations = cli.confirmations;
    config.ca_files = cli.ca_file;

    let node = Node::start(config).await?;
    tracing::info!(
        rpc = %propledger_net::redact_url(node.rpc_url()),
        data_dir = %cli.data_dir.display(),
        "node running; Ctrl-C or SIGTERM stops it"
    );
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
