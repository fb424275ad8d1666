//! The `propledger` binary: parses configuration and runs the node.

use std::{process::ExitCode, str::FromStr, time::Duration};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use anyhow::Context;
use clap::Parser;
use propledger_net::Secret;
use propledger_node::{
    Node, NodeConfig, RoleKeys, backup,
    chain::ServerLimits,
    config::{AuditCommand, Cli, Command, KeysCommand, UsersCommand},
    deployment::DeploymentRecord,
    keys::{KeyLoader, KeySource},
    logging::{self, Scrubber},
    node::ApiSettings,
};

/// mimalloc: the indexer and the chain allocate many small, short-lived buffers, where it is
/// markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = match propledger_node::config::with_config_file(
        std::env::args_os().collect(),
        &|name| std::env::var_os(name).is_some(),
        &|path| std::fs::read_to_string(path),
    ) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    propledger_net::tls::install_crypto_provider();
    // Every secret on the command line is known before anything is logged; keys loaded from
    // keystores are learnt as they are decrypted.
    let scrubber = Scrubber::new();
    for url in [&cli.rpc_url, &cli.anchor_rpc_url, &cli.database_url]
        .into_iter()
        .flatten()
    {
        scrubber.learn_url(url.expose());
    }
    for key in key_options(&cli).into_iter().filter_map(|(_, key)| key) {
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

/// Every key option, with its name.
fn key_options(cli: &Cli) -> [(&'static str, Option<&Secret<String>>); 5] {
    [
        ("--private-key", cli.private_key.as_ref()),
        ("--agent-key", cli.agent_key.as_ref()),
        ("--treasurer-key", cli.treasurer_key.as_ref()),
        ("--registrar-key", cli.registrar_key.as_ref()),
        ("--rules-key", cli.rules_key.as_ref()),
    ]
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

/// Loads the key of `option`, if given, and teaches the scrubber its secrets (the key itself,
/// and the password that opened a keystore).
async fn load_key(
    loader: &KeyLoader,
    option: &'static str,
    value: Option<&Secret<String>>,
    scrubber: &Scrubber,
) -> anyhow::Result<Option<PrivateKeySigner>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let source = KeySource::parse(option, value.expose())?;
    let loader = loader.clone();
    // Decrypting a keystore is deliberately slow: off the runtime's worker threads.
    let loaded = tokio::task::spawn_blocking(move || loader.load(option, &source))
        .await
        .with_context(|| format!("loading {option}"))??;
    for secret in &loaded.secrets {
        scrubber.learn(secret.expose());
    }
    Ok(Some(loaded.signer))
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
        Some(Command::Export { property, out }) => return export(&cli, property, out).await,
        Some(Command::Audit(AuditCommand::Verify { export })) => {
            return audit_verify(&cli, export).await;
        }
        Some(Command::Demo { api_url, api_key }) => {
            return demo(&cli, api_url, api_key.as_ref()).await;
        }
        Some(Command::Users(cmd)) => return users(&cli, cmd).await,
        Some(Command::Keys(cmd)) => return keys(&cli, cmd).await,
        Some(Command::Run) | None => {}
    }

    let mut config = NodeConfig::new(cli.data_dir.clone());
    config.rpc_url = cli.rpc_url.clone();
    config.anchor_rpc_url = cli.anchor_rpc_url.clone();
    config.production = cli.production;
    config.accept_deployed_code = cli.accept_deployed_code;
    let loader = KeyLoader::new(cli.keystore_password_file.clone());
    let [admin, agent, treasurer, registrar, rules] = key_options(&cli);
    config.signer = load_key(&loader, admin.0, admin.1, scrubber).await?;
    config.role_keys = RoleKeys {
        agent: load_key(&loader, agent.0, agent.1, scrubber).await?,
        treasurer: load_key(&loader, treasurer.0, treasurer.1, scrubber).await?,
        registrar: load_key(&loader, registrar.0, registrar.1, scrubber).await?,
        rules: load_key(&loader, rules.0, rules.1, scrubber).await?,
    };
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
    config.database_url = cli.database_url.clone();
    config.confirmations = cli.confirmations;
    config.ca_files = cli.ca_file.clone();
    let mut api = propledger_api::ApiConfig::new(cli.data_dir.clone());
    api.blob_location = cli.blob_store.as_deref().map(|s| match s {
        "database" => propledger_api::blobs::BlobLocation::Database,
        _ => propledger_api::blobs::BlobLocation::Disk,
    });
    api.max_document_bytes = cli.max_upload_mib.saturating_mul(1024 * 1024);
    if let Some(url) = &cli.public_url {
        api.public_url = url.trim_end_matches('/').to_owned();
    }
    api.audit_rpc_allowlist = cli.audit_rpc_allow.clone();
    api.public_rpc_url = cli.public_rpc_url.clone();
    api.anchor_interval =
        (cli.anchor_interval_mins > 0).then(|| Duration::from_secs(cli.anchor_interval_mins * 60));
    config.api = Some(ApiSettings {
        listen: cli.api_listen,
        public_url: cli.public_url.clone(),
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
    let rpc = propledger_net::redact_url(node.rpc_url());
    println!("Chain JSON-RPC: {rpc}");
    tracing::info!(
        rpc = %rpc,
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

/// `propledger demo`: the lifecycle against a running node.
async fn demo(cli: &Cli, api_url: &str, api_key: Option<&Secret<String>>) -> anyhow::Result<()> {
    let api_key = match api_key {
        Some(k) => k.expose().clone(),
        None => {
            let path = cli.data_dir.join(propledger_node::node::ADMIN_KEY_FILE);
            std::fs::read_to_string(&path)
                .with_context(|| {
                    format!(
                        "no --api-key (or PROPLEDGER_API_KEY), and no admin key in {}",
                        path.display()
                    )
                })?
                .trim()
                .to_owned()
        }
    };
    let config = propledger_node::demo::DemoConfig {
        api_url: api_url.to_owned(),
        api_key,
        rpc_url: cli.rpc_url.as_ref().map(|u| u.expose().clone()),
        tls: propledger_net::tls::client_config(&cli.ca_file)?,
        investors: None,
        tag: None,
    };
    let outcome = propledger_node::demo::run(config, &mut |line| println!("{line}"), &mut |_| {
        Box::pin(async {})
    })
    .await?;
    let base = api_url.trim_end_matches('/');
    println!(
        "Done. The property: {base}/v1/properties/{}",
        outcome.property
    );
    println!(
        "In the web app, with the admin key at #/staff: {base}/#/staff/properties/{}",
        outcome.property
    );
    anyhow::ensure!(
        outcome.verification["clean"] == true,
        "the auditor's verification found differences"
    );
    Ok(())
}

/// `propledger export`: the property's audit export, from the node's database and deployment
/// record.
async fn export(cli: &Cli, property: &str, out: &std::path::Path) -> anyhow::Result<()> {
    let record = DeploymentRecord::load(&cli.data_dir)?
        .with_context(|| format!("no deployment recorded in {}", cli.data_dir.display()))?;
    let url = database_url(cli);
    let db = propledger_api::db::Db::connect(&url).await?;
    let ledger = propledger_ledger::Ledger::connect(&url).await?;
    let mut made =
        propledger_api::audit_export::export(&db, &ledger, &record.platform, property).await?;
    made.external_anchor =
        record
            .external_anchor
            .map(|a| propledger_api::audit_export::ExportExternalAnchor {
                chain_id: a.chain_id,
                contract: a.contract,
            });
    let text = serde_json::to_vec_pretty(&made)?;
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {}: {} events, {} entries, up to block {}",
        out.display(),
        made.events.len(),
        made.entries.len(),
        made.block
    );
    Ok(())
}

/// `propledger audit verify`: the export against the chain alone; the process fails unless
/// everything matches.
async fn audit_verify(cli: &Cli, export: &std::path::Path) -> anyhow::Result<()> {
    let url = cli
        .rpc_url
        .as_ref()
        .context("--rpc-url names the chain to verify against")?;
    let text = std::fs::read(export).with_context(|| format!("reading {}", export.display()))?;
    let made: propledger_api::audit_export::AuditExport = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not an audit export", export.display()))?;
    let tls = propledger_net::tls::client_config(&cli.ca_file)?;
    let connect = |url: &str| {
        let mut source = propledger_indexer::source::SourceConfig::new(url.to_owned());
        source.tls = Some(tls.clone());
        propledger_indexer::source::RpcSource::connect(source)
    };
    let source = connect(url.expose()).await?;
    // The external anchor chain, when the export names one and its endpoint is given.
    let anchor_source = match &cli.anchor_rpc_url {
        Some(u) => Some(connect(u.expose()).await?),
        None => None,
    };
    let verdict = propledger_api::audit_export::verify_with(
        &made,
        &source,
        anchor_source.as_ref(),
        &mut |step| eprintln!("checking {step}..."),
    )
    .await?;
    for (what, found) in &verdict.checks {
        println!("{what}: {found}");
    }
    for f in &verdict.findings {
        println!("FINDING: {f}");
    }
    anyhow::ensure!(
        verdict.is_clean(),
        "the export does not match the chain: {} finding(s)",
        verdict.findings.len()
    );
    println!(
        "verified: property {} up to block {} matches the chain",
        made.property, made.block
    );
    Ok(())
}

/// The node's database URL, as the node would open it.
fn database_url(cli: &Cli) -> String {
    cli.database_url
        .as_ref()
        .map(|u| u.expose().clone())
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
