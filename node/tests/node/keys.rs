//! The `propledger` binary with its keys in encrypted keystores (written by `cast wallet`, as an
//! operator would): the admin key and a role key from keystores run the node, a wrong or missing
//! password is a clear error, and the captured log (at debug level) shows no key, password,
//! provider credential or database password.

use std::{
    io::{BufRead, BufReader, Read},
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use propledger_node::{
    chain::{ChainConfig, EmbeddedChain},
    deployment::DeploymentRecord,
};

/// The admin's key (the mnemonic's second account, funded on the stand-in network).
const ADMIN_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ADMIN: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// The registrar's key, from a keystore of its own (the mnemonic's fourth account).
const REGISTRAR_KEY: &str = "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const REGISTRAR: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
/// The transfer agent's key, given as hex (the mnemonic's fifth account).
const AGENT_KEY: &str = "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
const AGENT: &str = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";
const PASSWORD: &str = "correct horse battery staple 42";
const PROVIDER_PASSWORD: &str = "b4sic-auth-s3cret";
const PROVIDER_KEY: &str = "9aa3d95b3bc440fa88ea12eaa4456161";
const DATABASE_PASSWORD: &str = "db-pa55word-xyz";

/// A deadline that only a hung process would miss.
const NEVER: Duration = Duration::from_secs(120);

pub(crate) fn cast() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node_modules/@foundry-rs/cast-linux-amd64/bin/cast")
}

/// Encrypts `key` into a keystore in `dir` with `cast wallet import`; returns its path.
pub(crate) fn keystore(dir: &Path, name: &str, key: &str, password: &str) -> PathBuf {
    let out = Command::new(cast())
        .args(["wallet", "import", name, "--private-key", key])
        .args(["--unsafe-password", password, "--keystore-dir"])
        .arg(dir)
        .output()
        .expect("run cast");
    assert!(
        out.status.success(),
        "cast wallet import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join(name)
}

/// The binary as a child process, its standard output and error captured together.
pub(crate) struct Run {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Run {
    pub(crate) fn start(args: &[&str]) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_propledger"))
            .args(args)
            .env("RUST_LOG", "debug")
            // The API on a port of its own: tests run side by side.
            .env("PROPLEDGER_API_LISTEN", "127.0.0.1:0")
            .env_remove("PROPLEDGER_PRIVATE_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn propledger");
        let log = Arc::new(Mutex::new(String::new()));
        let pipe = |reader: Box<dyn Read + Send>| {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    let mut log = log.lock().expect("log");
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        };
        pipe(Box::new(child.stdout.take().expect("stdout")));
        pipe(Box::new(child.stderr.take().expect("stderr")));
        Run { child, log }
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Waits until the log holds `text`; panics if the process ends first.
    pub(crate) fn wait_for(&mut self, text: &str) {
        let start = Instant::now();
        while !self.log().contains(text) {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the readers drain what is left.
                std::thread::sleep(Duration::from_millis(200));
                panic!("exited ({status}) before {text:?}:\n{}", self.log());
            }
            assert!(start.elapsed() < NEVER, "no {text:?} in:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it with SIGKILL, as a crash would, and waits for it to be gone.
    pub(crate) fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status();
        self.finish();
    }

    /// Stops it with SIGTERM and returns the whole log.
    pub(crate) fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.finish()
    }

    /// Waits for it to exit and returns the whole log with the exit status's success.
    pub(crate) fn finish(&mut self) -> String {
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            assert!(start.elapsed() < NEVER, "did not exit:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        self.log()
    }

    pub(crate) fn failed(&mut self) -> bool {
        self.finish();
        self.child
            .try_wait()
            .ok()
            .flatten()
            .is_some_and(|s| !s.success())
    }
}

fn assert_no_secrets(log: &str) {
    for secret in [
        ADMIN_KEY,
        REGISTRAR_KEY,
        AGENT_KEY,
        PASSWORD,
        PROVIDER_PASSWORD,
        PROVIDER_KEY,
        DATABASE_PASSWORD,
    ] {
        assert!(
            !log.to_lowercase().contains(&secret.to_lowercase()),
            "{secret} is in the log:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keystore_key_runs_the_node_and_the_log_shows_no_secret() {
    // An embedded chain on its own stands in for a hosted provider.
    let network_dir = tempfile::tempdir().expect("tempdir");
    let mut network = ChainConfig::new(network_dir.path());
    network.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    network.chain_id = 4242;
    let network = EmbeddedChain::start(network).await.expect("network");
    let rpc_url = format!(
        "http://node:{PROVIDER_PASSWORD}@{}/?apikey={PROVIDER_KEY}",
        network.local_addr()
    );

    let keys = tempfile::tempdir().expect("tempdir");
    let store = keystore(keys.path(), "admin", ADMIN_KEY, PASSWORD);
    let password_file = keys.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("write");
    let wrong_file = keys.path().join("wrong");
    std::fs::write(&wrong_file, "not the password\n").expect("write");
    let key = format!("keystore:{}", store.display());
    let registrar_store = keystore(keys.path(), "registrar", REGISTRAR_KEY, PASSWORD);
    let registrar_key = format!("keystore:{}", registrar_store.display());
    let agent_key = format!("0x{AGENT_KEY}");

    let data = tempfile::tempdir().expect("tempdir");
    let data_dir = data.path().to_str().expect("utf-8");
    let password_arg = password_file.to_str().expect("utf-8");
    let mut run = Run::start(&[
        "--data-dir",
        data_dir,
        "--rpc-url",
        &rpc_url,
        "--private-key",
        &key,
        "--registrar-key",
        &registrar_key,
        "--agent-key",
        &agent_key,
        "--keystore-password-file",
        password_arg,
    ]);
    run.wait_for("node running");
    run.wait_for("indexer running");
    let log = run.stop();
    assert!(log.contains("platform contracts deployed"), "{log}");
    assert_no_secrets(&log);
    let record = DeploymentRecord::load(data.path())
        .expect("load")
        .expect("deployed");
    assert_eq!(
        record.platform.admin().to_string(),
        ADMIN,
        "the keystore's key"
    );
    assert_eq!(record.platform.roles.registrar.to_string(), REGISTRAR);
    assert_eq!(record.platform.roles.agent.to_string(), AGENT);
    assert_eq!(record.platform.roles.treasurer.to_string(), ADMIN);

    // The password may also come with the key itself.
    let own = format!("{key},password-file={password_arg}");
    let mut with_own = Run::start(&[
        "--data-dir",
        data_dir,
        "--rpc-url",
        &rpc_url,
        "--private-key",
        &own,
    ]);
    with_own.wait_for("platform contracts found");
    assert_no_secrets(&with_own.stop());
    // Without a key, a chain that is not a development chain is refused.
    let mut keyless = Run::start(&["--data-dir", data_dir, "--rpc-url", &rpc_url]);
    assert!(keyless.failed());
    assert!(
        keyless.log().contains("pass --private-key"),
        "{}",
        keyless.log()
    );
    // A wrong password is a clear error, and nothing starts.
    let mut wrong = Run::start(&[
        "--data-dir",
        data_dir,
        "--rpc-url",
        &rpc_url,
        "--private-key",
        &key,
        "--keystore-password-file",
        wrong_file.to_str().expect("utf-8"),
    ]);
    assert!(wrong.failed());
    let log = wrong.log();
    assert!(
        log.contains(&format!(
            "--private-key: wrong password for the keystore {}",
            store.display()
        )),
        "{log}"
    );
    assert_no_secrets(&log);

    // A role key behind a wrong password stops the node before anything is deployed.
    let fresh = tempfile::tempdir().expect("tempdir");
    let wrong_role = format!(
        "{registrar_key},password-file={}",
        wrong_file.to_str().expect("utf-8")
    );
    let mut wrong = Run::start(&[
        "--data-dir",
        fresh.path().to_str().expect("utf-8"),
        "--rpc-url",
        &rpc_url,
        "--private-key",
        &key,
        "--registrar-key",
        &wrong_role,
        "--keystore-password-file",
        password_arg,
    ]);
    assert!(wrong.failed());
    let log = wrong.log();
    assert!(
        log.contains(&format!(
            "--registrar-key: wrong password for the keystore {}",
            registrar_store.display()
        )),
        "{log}"
    );
    assert_no_secrets(&log);
    assert!(
        DeploymentRecord::load(fresh.path())
            .expect("load")
            .is_none(),
        "nothing deployed"
    );
    // A role key that is not a key is refused the same way.
    let mut bad = Run::start(&[
        "--data-dir",
        fresh.path().to_str().expect("utf-8"),
        "--rpc-url",
        &rpc_url,
        "--private-key",
        &key,
        "--treasurer-key",
        "0xnot-a-key",
        "--keystore-password-file",
        password_arg,
    ]);
    assert!(bad.failed());
    assert!(
        bad.log()
            .contains("--treasurer-key: the key is not 32 bytes of hex"),
        "{}",
        bad.log()
    );

    // No password file, and standard input is not a terminal: no prompt, a clear error.
    let mut none = Run::start(&[
        "--data-dir",
        data_dir,
        "--rpc-url",
        &rpc_url,
        "--private-key",
        &key,
    ]);
    assert!(none.failed());
    assert!(
        none.log().contains("no password for the keystore"),
        "{}",
        none.log()
    );
    // A database URL that is refused: the error is shown, the password is not.
    let mut db = Run::start(&[
        "--data-dir",
        data_dir,
        "--rpc-url",
        &rpc_url,
        "--private-key",
        &key,
        "--keystore-password-file",
        password_arg,
        "--database-url",
        &format!("postgres://books:{DATABASE_PASSWORD}@127.0.0.1:1/propledger?sslmode=sometimes"),
    ]);
    assert!(db.failed());
    let log = db.log();
    assert!(log.contains("unknown value \"sometimes\""), "{log}");
    assert_no_secrets(&log);
    network.shutdown().await.expect("stop");
}
