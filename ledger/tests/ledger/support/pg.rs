//! A throwaway PostgreSQL cluster started from the server binaries on this machine.
//!
//! The tests share one cluster per run ([`shared`]): nextest runs every test in its own process,
//! and starting a cluster per process would cost seconds each. Processes hold a shared lock on a
//! lease file while they live; the first one to arrive starts the cluster under a setup lock
//! and spawns a detached reaper, which stops the cluster and deletes it once nobody has held the
//! lease for a few seconds. The benchmark starts a private cluster instead ([`Cluster::start`]).
//!
//! Root cannot run the PostgreSQL server, so when running as root every server command runs as
//! the `postgres` user (`runuser -u postgres`). Set `PROPLEDGER_PG_BIN` to the directory of
//! `initdb`/`pg_ctl` when they are not in `/usr/lib/postgresql/15/bin` or on `PATH`.

#![allow(dead_code)]

use std::fs::{self, File, OpenOptions};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

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

/// A running cluster.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// TCP port on 127.0.0.1.
    pub(crate) port: u16,
    dir: PathBuf,
    private: bool,
    _lease: Option<File>,
}

impl Cluster {
    /// URL of a database in this cluster.
    pub(crate) fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts a private cluster in `dir` (which must not exist yet), stopped and removed on drop.
    /// `durable` keeps PostgreSQL's default fsync settings; otherwise they are turned off.
    pub(crate) fn start(dir: &Path, durable: bool) -> Cluster {
        let port = init_and_start(dir, durable, "");
        Cluster {
            port,
            dir: dir.to_owned(),
            private: true,
            _lease: None,
        }
    }

    /// Starts a private cluster in `dir` (which must not exist yet) with `ssl=on`, presenting
    /// the certificate `cert_pem` with its key `key_pem`. Clients may still connect without TLS.
    pub(crate) fn start_tls(dir: &Path, cert_pem: &str, key_pem: &str) -> Cluster {
        use std::os::unix::fs::PermissionsExt;
        fs::create_dir_all(dir).expect("create cluster dir");
        let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
        fs::write(&cert, cert_pem).expect("write certificate");
        fs::write(&key, key_pem).expect("write key");
        // PostgreSQL refuses a key others can read.
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod key");
        let options = format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            cert.display(),
            key.display()
        );
        let port = init_and_start(dir, false, &options);
        Cluster {
            port,
            dir: dir.to_owned(),
            private: true,
            _lease: None,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.private {
            stop(&self.dir);
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
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
pub(crate) fn shared() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let base = std::env::temp_dir().join("propledger-ledger-test-pg");
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
        Cluster {
            port,
            dir: base,
            private: false,
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
