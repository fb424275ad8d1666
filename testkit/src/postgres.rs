//! A throwaway PostgreSQL cluster started from the server binaries on this machine.
//!
//! Tests share one cluster per run ([`Postgres::shared`]): nextest runs every test in its own
//! process, and starting a cluster per process would cost seconds each. Processes hold a shared
//! lock on a lease file while they live; the first one to arrive starts the cluster under a
//! setup lock and spawns a detached reaper, which stops the cluster and deletes it once nobody
//! has held the lease for a few seconds. A benchmark, or a test that stops or breaks its server,
//! starts a private cluster instead ([`Postgres::start`], [`Postgres::start_durable`]); a
//! test of TLS starts one with `ssl=on` ([`Postgres::start_tls`]).
//!
//! Root cannot run the PostgreSQL server, so when running as root every server command runs as
//! the `postgres` user (`runuser -u postgres`). Set `PROPLEDGER_PG_BIN` to the directory of
//! `initdb`/`pg_ctl` when they are not in `/usr/lib/postgresql/15/bin` or on `PATH`.

use std::fs::{self, File, OpenOptions};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::Connection;
use tempfile::TempDir;

/// A running cluster on 127.0.0.1, reached as user `postgres` without a password.
#[derive(Debug)]
pub struct Postgres {
    port: u16,
    dir: PathBuf,
    /// Set for a private cluster: stopped on drop, then its directory deleted with this.
    private: Option<TempDir>,
    _lease: Option<File>,
}

impl Postgres {
    /// Starts a private cluster with fsync off (fast; a crash of the machine may lose it),
    /// stopped and deleted on drop.
    pub fn start() -> Postgres {
        Self::start_private(false)
    }

    /// Starts a private cluster with PostgreSQL's default durability (fsync on), for
    /// benchmarks that compare durable commits; stopped and deleted on drop.
    pub fn start_durable() -> Postgres {
        Self::start_private(true)
    }

    /// Starts a private cluster (fsync off) with `ssl=on`, presenting the certificate
    /// `cert_pem` with its key `key_pem`; clients may still connect without TLS. Stopped and
    /// deleted on drop.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Postgres {
        Self::start_private_with(false, |dir| {
            use std::os::unix::fs::PermissionsExt;
            fs::create_dir_all(dir).expect("create cluster dir");
            let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
            fs::write(&cert, cert_pem).expect("write certificate");
            fs::write(&key, key_pem).expect("write key");
            // PostgreSQL refuses a key others can read.
            fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod key");
            format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            )
        })
    }

    fn start_private(durable: bool) -> Postgres {
        Self::start_private_with(durable, |_| String::new())
    }

    /// Starts a private cluster; `prepare` readies its directory and returns extra server
    /// options.
    fn start_private_with(durable: bool, prepare: impl FnOnce(&Path) -> String) -> Postgres {
        let tmp = tempfile::tempdir().expect("create a temporary directory");
        // The server runs as `postgres` when we are root and must reach its directory.
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("open the cluster's parent directory to its owner");
        let dir = tmp.path().join("pg");
        let extra = prepare(&dir);
        let port = init_and_start(&dir, durable, &extra);
        Postgres {
            port,
            dir,
            private: Some(tmp),
            _lease: None,
        }
    }

    /// The cluster shared by every test process of this run (fsync off), started by the first
    /// process that asks for it.
    pub fn shared() -> &'static Postgres {
        shared()
    }

    /// Its TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of `database` in this cluster, as user `postgres`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a new, empty database with a name no other test uses and returns its URL.
    pub async fn fresh_database(&self) -> String {
        create_database(&self.url("postgres")).await
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.private.is_some() {
            stop(&self.dir);
        }
    }
}

/// A new database for a test: in the server of `PROPLEDGER_TEST_PG_URL` (a URL of an existing
/// database there, used to connect) when set, otherwise in [`Postgres::shared`].
pub(crate) async fn fresh_test_database() -> String {
    match std::env::var("PROPLEDGER_TEST_PG_URL") {
        Ok(admin) => create_database(&admin).await,
        Err(_) => Postgres::shared().fresh_database().await,
    }
}

/// Creates a database with a unique name in the server of `admin_url` (the URL of a database
/// there to connect to, such as [`Postgres::url`]`("postgres")` of a cluster started elsewhere);
/// returns the new database's URL.
pub async fn fresh_database_at(admin_url: &str) -> String {
    create_database(admin_url).await
}

/// Creates a database with a unique name through `admin_url`; returns the new one's URL.
async fn create_database(admin_url: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    );
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test server at {admin_url}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let _ = admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

const IDLE_SECONDS_BEFORE_STOP: u32 = 5;

fn pg_bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PROPLEDGER_PG_BIN") {
        return Path::new(&dir).join(name);
    }
    let debian = Path::new("/usr/lib/postgresql/15/bin").join(name);
    if debian.exists() {
        return debian;
    }
    PathBuf::from(name)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command that runs as the cluster's owner.
fn as_owner(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn give_to_owner(path: &Path) {
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .expect("run chown");
        assert!(
            status.success(),
            "chown {} to postgres failed",
            path.display()
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn data_dir(dir: &Path) -> PathBuf {
    dir.join("data")
}

/// Creates the cluster under `dir` and starts it with `extra` server options; returns its port.
fn init_and_start(dir: &Path, durable: bool, extra: &str) -> u16 {
    let data = data_dir(dir);
    let run = dir.join("run");
    fs::create_dir_all(&run).expect("create cluster dir");
    give_to_owner(dir);
    let out = as_owner(&pg_bin("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run initdb ({e}); the PostgreSQL 15 server binaries are needed \
                 (Debian: apt-get install postgresql-15), or set PROPLEDGER_PG_BIN"
            )
        });
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let mut options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
        run.display()
    );
    if !durable {
        options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
    }
    options.push_str(extra);
    let log = dir.join("server.log");
    let status = as_owner(&pg_bin("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", "60", "-o", &options, "start"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a test runner cleaning up a test's group must not take the
        // server with it.
        .process_group(0)
        .status()
        .expect("run pg_ctl");
    assert!(
        status.success(),
        "pg_ctl start failed: {}",
        fs::read_to_string(&log).unwrap_or_default()
    );
    port
}

fn stop(dir: &Path) {
    let _ = as_owner(&pg_bin("pg_ctl"))
        .arg("-D")
        .arg(data_dir(dir))
        .args(["-m", "immediate", "-w", "stop"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn lock_file(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// The cluster shared by all test processes of this run.
fn shared() -> &'static Postgres {
    static CLUSTER: OnceLock<Postgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let base = std::env::temp_dir().join("propledger-test-pg");
        fs::create_dir_all(&base).expect("create shared cluster dir");
        let lease = lock_file(&base.join("lease"));
        // Blocks only while the reaper is stopping an idle cluster.
        lease.lock_shared().expect("take the cluster lease");
        let setup = lock_file(&base.join("setup"));
        setup.lock().expect("take the setup lock");
        let port_file = base.join("port");
        let running = fs::read_to_string(&port_file)
            .ok()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .filter(|p| accepts(*p));
        let port = match running {
            Some(port) => port,
            None => {
                let dir = base.join("cluster");
                if dir.exists() {
                    stop(&dir);
                    fs::remove_dir_all(&dir).expect("remove a stale cluster");
                }
                let port = init_and_start(&dir, false, "");
                fs::write(&port_file, port.to_string()).expect("write port file");
                spawn_reaper(&base, &dir);
                port
            }
        };
        setup.unlock().expect("release the setup lock");
        Postgres {
            port,
            dir: base,
            private: None,
            _lease: Some(lease),
        }
    })
}

/// Starts the detached process that removes the shared cluster once it has been idle.
fn spawn_reaper(base: &Path, dir: &Path) {
    let pg_ctl = pg_bin("pg_ctl");
    let stop_cmd = if running_as_root() {
        format!(
            "runuser -u postgres -- {} -D {}/data -m immediate -w stop",
            pg_ctl.display(),
            dir.display()
        )
    } else {
        format!(
            "{} -D {}/data -m immediate -w stop",
            pg_ctl.display(),
            dir.display()
        )
    };
    let script = format!(
        r#"
base='{base}'; dir='{dir}'; idle=0
while sleep 1; do
  if flock -n -x "$base/lease" true; then idle=$((idle+1)); else idle=0; fi
  if [ "$idle" -ge {IDLE_SECONDS_BEFORE_STOP} ]; then
    if flock -n -x "$base/lease" flock -x "$base/setup" sh -c '{stop_cmd} >/dev/null 2>&1; rm -rf "$0" "$1/port"' "$dir" "$base"; then
      exit 0
    fi
    idle=0
  fi
done
"#,
        base = base.display(),
        dir = dir.display(),
    );
    // Started in the background of a shell that exits at once, so nothing waits on it and it
    // outlives this process.
    let status = Command::new("sh")
        .args(["-c", "sh -c \"$1\" >/dev/null 2>&1 </dev/null &", "reaper"])
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .status()
        .expect("spawn the cluster reaper");
    assert!(status.success(), "spawning the cluster reaper failed");
}
