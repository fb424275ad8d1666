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
    config.dev_chain.port = cli.chain_port;
    config.dev_chain.chain_id = cli.chain_id;
    config.dev_chain.block_time_secs = cli.block_time;

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
