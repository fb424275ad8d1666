//! The `propledger` binary: parses configuration and runs the node.

use std::str::FromStr;

use alloy::primitives::Address;
use anyhow::Context;
use clap::Parser;
use propledger_node::{
    Node, NodeConfig,
    config::{Cli, Command},
    deployment::DeploymentRecord,
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

    if let Some(Command::Status) = cli.command {
        let record = DeploymentRecord::load(&cli.data_dir)?
            .with_context(|| format!("no deployment recorded in {}", cli.data_dir.display()))?;
        println!("{}", serde_json::to_string_pretty(&record)?);
        return Ok(());
    }

    let mut config = NodeConfig::new(cli.data_dir.clone());
    config.rpc_url = cli.rpc_url;
    config.private_key = cli.private_key;
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
    config.database_url = cli.database_url;
    config.confirmations = cli.confirmations;

    let node = Node::start(config).await?;
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
