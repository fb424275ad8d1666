//! The harness of PropLedger's end-to-end tests: the `propledger` binary as a child process
//! on fixed loopback ports, so it can be killed and started again where clients left it.
//!
//! The binary is the one Cargo built beside the test (`target/<profile>/propledger`); a
//! workspace test run builds it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a start may take.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The `propledger` binary built beside the running test.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/<test> -> target/<profile>/propledger
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps")
        .join("propledger");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p propledger-node` (a workspace test run does)",
        bin.display()
    );
    bin
}

/// A free loopback port, below Linux's ephemeral range (32768 and up), so that no outgoing
/// connection is given it between the check and the node's bind, or between a kill and the
/// restart that binds it again; chosen at random, and checked by binding it.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    for _ in 0..1000 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        h.write_u32(std::process::id());
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000");
}

/// Runs the binary to its end (`export`, `audit verify`): its output.
pub fn command(args: &[String]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("PROPLEDGER_PRIVATE_KEY")
        .stdin(Stdio::null())
        .output()
        .expect("run propledger")
}

/// A running node: its arguments (kept to start it again), its API and its log.
#[derive(Debug)]
pub struct NodeProcess {
    args: Vec<String>,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    /// The API's URL.
    pub api_url: String,
    /// How many times it was started.
    pub starts: u32,
}

impl NodeProcess {
    /// Starts the node with `args` (which should fix `--api-listen`, and `--chain-port` on the
    /// embedded chain, for a restart to come back where clients expect it) and waits until its
    /// API answers.
    pub fn start(args: Vec<String>) -> NodeProcess {
        let mut node = NodeProcess {
            args,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
            api_url: String::new(),
            starts: 0,
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let mut child = Command::new(binary())
            .args(&self.args)
            .env("RUST_LOG", "info")
            .env_remove("PROPLEDGER_PRIVATE_KEY")
            .env_remove("PROPLEDGER_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn propledger");
        self.starts += 1;
        let marker = format!("=== start {} ===\n", self.starts);
        self.log.lock().expect("log").push_str(&marker);
        let pipe = |reader: Box<dyn Read + Send>| {
            let log = self.log.clone();
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
        self.child = Some(child);
        let start = Instant::now();
        loop {
            let log = self.log();
            let this_start = &log[log.rfind(&marker).unwrap_or(0)..];
            if let Some(at) = this_start.find("PropLedger API: ") {
                let rest = &this_start[at + "PropLedger API: ".len()..];
                self.api_url = rest
                    .split_whitespace()
                    .next()
                    .expect("the API's URL")
                    .to_owned();
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                std::thread::sleep(Duration::from_millis(200));
                panic!("the node exited ({status}) while starting:\n{}", self.log());
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "the node did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything it printed, every start.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Kills it with SIGKILL, as a crash would, and waits until it is gone.
    pub fn kill(&mut self) {
        self.signal("-KILL");
    }

    /// Kills it (SIGKILL) and starts it again with the same arguments.
    pub fn restart_after_kill(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Stops it with SIGTERM; its log.
    pub fn stop(mut self) -> String {
        self.signal("-TERM");
        self.log()
    }

    fn signal(&mut self, signal: &str) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let start = Instant::now();
        while !matches!(child.try_wait(), Ok(Some(_))) {
            if start.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                panic!("the node did not exit on {signal}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let the readers drain what is left.
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP front on a loopback port that forwards each connection to the current upstream, as a
/// load balancer in front of API replicas does; [`Front::switch`] sends new connections to
/// another upstream and closes the open ones.
#[derive(Debug)]
pub struct Front {
    addr: std::net::SocketAddr,
    upstream: Arc<Mutex<String>>,
    generation: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Front {
    /// Listens on loopback `port` (0: a free one), forwarding to `upstream` (`host:port`).
    pub async fn start(port: u16, upstream: &str) -> Front {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the front");
        let addr = listener.local_addr().expect("its address");
        let upstream = Arc::new(Mutex::new(upstream.to_owned()));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let task = tokio::spawn({
            let upstream = upstream.clone();
            let generation = generation.clone();
            async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    let target = upstream.lock().expect("upstream").clone();
                    let mut changed = generation.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = changed.changed() => {}
                        }
                    });
                }
            }
        });
        Front {
            addr,
            upstream,
            generation,
            task,
        }
    }

    /// Its URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends connections to `upstream` from now on, closing the open ones.
    pub fn switch(&self, upstream: &str) {
        *self.upstream.lock().expect("upstream") = upstream.to_owned();
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}
