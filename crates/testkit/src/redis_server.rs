//! The one `redis-server` launcher of the tests: a server (or a sentinel)
//! on a free loopback port in its own temporary directory, ready when it
//! answers PING, killed on drop. The integration tests and benches reach it
//! through [`crate::procs`] too; the library's unit tests use this module
//! alone, so there is one copy to keep right.
//!
//! A missing binary fails the test with a clear message: CI installs
//! redis-server, nothing is skipped. `$REDIS_SERVER` names another binary.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server gets to answer its first PING.
const READY_DEADLINE: Duration = Duration::from_secs(20);

/// A free loopback port (bound then released): `redis-server` cannot pick
/// one itself and report it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The binary: `$REDIS_SERVER`, else `redis-server` from PATH.
fn binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER").map_or_else(|| PathBuf::from("redis-server"), PathBuf::from)
}

/// A `redis-server` owned by the test, killed on drop.
pub struct Redis {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// Neither AOF nor RDB save points: a restart loses everything.
    volatile: bool,
    /// Started as a replica of the Redis on this port.
    replica_of: Option<u16>,
    /// With TLS: the TLS port (the plain one stays open for PING).
    tls_port: Option<u16>,
}

impl Redis {
    fn new(volatile: bool, replica_of: Option<u16>, tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for redis-server");
        if tls {
            make_certificates(dir.path());
        }
        let mut redis = Self {
            port: free_port(),
            dir,
            child: None,
            volatile,
            replica_of,
            tls_port: tls.then(free_port),
        };
        redis.spawn();
        redis
    }

    /// Starts redis-server with AOF persistence (`appendfsync always`): a
    /// restart keeps every acknowledged write.
    pub fn start() -> Self {
        Self::new(false, None, false)
    }

    /// Starts redis-server with AOF persistence as a replica of the Redis
    /// on `primary_port` (loopback).
    pub fn start_replica_of(primary_port: u16) -> Self {
        Self::new(false, Some(primary_port), false)
    }

    /// Starts redis-server without any persistence (`--save "" --appendonly no`).
    pub fn start_volatile() -> Self {
        Self::new(true, None, false)
    }

    /// [`Redis::start_volatile`] that also listens with TLS, its certificate
    /// (for `localhost` and 127.0.0.1) signed by a fresh CA made with the
    /// `openssl` command line; see [`Redis::tls_url`] and [`Redis::ca_file`].
    pub fn start_tls() -> Self {
        Self::new(true, None, true)
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("redis.log");
        let mut command = Command::new(binary());
        if let Some(primary) = self.replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        if let Some(tls_port) = self.tls_port {
            let path = |name: &str| self.dir.path().join(name);
            command
                .arg("--tls-port")
                .arg(tls_port.to_string())
                .arg("--tls-cert-file")
                .arg(path("server.crt"))
                .arg("--tls-key-file")
                .arg(path("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(path("ca.crt"))
                .args(["--tls-auth-clients", "no"]);
        }
        let child = command
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                if self.volatile { "no" } else { "yes" },
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {:?} ({e}): install redis-server (apt-get install \
                     redis-server) or point REDIS_SERVER at it; these tests need a real server",
                    binary()
                )
            });
        self.child = Some(child);
        wait_pong(self.port, "redis-server", self.child.as_mut(), &log);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("started with start_tls");
        format!("rediss://localhost:{port}/0")
    }

    /// The CA that signed the TLS certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Kills and starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGKILL (a paused one too); the port stays ours to restart on.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGKILL ends a stopped process too, but do not leave one
            // stopped should kill fail.
            signal(c.id(), "CONT");
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        signal(self.pid(), "STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        signal(self.pid(), "CONT");
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `redis-server --sentinel` owned by the test, killed on drop. Its
/// config file lives in its own temp dir: Sentinel rewrites it.
pub struct Sentinel {
    pub port: u16,
    _dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Sentinel {
    /// Monitors the primary on `primary_port` as `master` with `quorum`,
    /// declaring it down after `down_after_ms` without an answer.
    pub fn start(master: &str, primary_port: u16, quorum: u32, down_after_ms: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("sentinel.conf");
        let log = dir.path().join("sentinel.log");
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}\n\
                 sentinel monitor {master} 127.0.0.1 {primary_port} {quorum}\n\
                 sentinel down-after-milliseconds {master} {down_after_ms}\n\
                 sentinel failover-timeout {master} 10000\n\
                 sentinel parallel-syncs {master} 1\n",
                dir.path().display(),
                log.display()
            ),
        )
        .expect("write sentinel.conf");
        let mut child = Command::new(binary())
            .arg(&config)
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (it runs sentinels too)");
        wait_pong(port, "redis sentinel", Some(&mut child), &log);
        Self {
            port,
            _dir: dir,
            child: Some(child),
        }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends a signal by name with `kill(1)`.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits until the server on `port` answers PING; a server that exits
/// first fails the test with its log.
fn wait_pong(port: u16, what: &str, mut child: Option<&mut Child>, log: &Path) {
    let deadline = Instant::now() + READY_DEADLINE;
    while !ping(port) {
        if let Some(child) = child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} exited with {status} before answering PING:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} on port {port} did not answer PING within {READY_DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A CA and a server certificate signed by it, in `dir`.
fn make_certificates(dir: &Path) {
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write san.ext");
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=hydrogen-test-ca",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    ];
    for args in steps {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run openssl ({e}): the TLS test makes its certificates with it")
            });
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Runs one command against the server on `port`; `None` when it does not
/// answer (stopped, killed, not yet up) or answers an error.
pub fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> Option<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let mut conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    cmd.query(&mut conn).ok()
}

/// One field of `INFO replication` of the server on `port`.
pub fn info_field(port: u16, field: &str) -> Option<String> {
    let info: String = query(port, redis::cmd("INFO").arg("replication"))?;
    info.lines().find_map(|l| {
        l.trim()
            .strip_prefix(&format!("{field}:"))
            .map(str::to_string)
    })
}

/// Polls `ok` until it holds; panics naming `what` after `deadline`.
pub fn wait_until(what: &str, deadline: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `redis+sentinel://` store URL of sentinels on loopback `ports`,
/// for the primary they monitor as `master`.
pub fn sentinel_url(ports: impl IntoIterator<Item = u16>, master: &str) -> String {
    let hosts: Vec<String> = ports
        .into_iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    format!("redis+sentinel://{}/{master}", hosts.join(","))
}

/// A primary, two replicas and three sentinels (quorum 2) watching it as
/// `master`, started and waited for until every sentinel knows the
/// replicas and the other sentinels (a failover needs both).
pub struct SentinelTopology {
    pub master: &'static str,
    pub primary: Redis,
    pub replicas: Vec<Redis>,
    pub sentinels: Vec<Sentinel>,
}

impl SentinelTopology {
    /// How long the topology gets to settle (sentinels learn each other
    /// through the primary every 2 s or so; slow on loaded machines).
    const SETTLE: Duration = Duration::from_secs(120);

    pub fn start(master: &'static str) -> Self {
        let primary = Redis::start();
        let replicas: Vec<Redis> = (0..2)
            .map(|_| Redis::start_replica_of(primary.port))
            .collect();
        wait_until("both replicas in sync", Self::SETTLE, || {
            info_field(primary.port, "connected_slaves").as_deref() == Some("2")
                && replicas
                    .iter()
                    .all(|r| info_field(r.port, "master_link_status").as_deref() == Some("up"))
        });
        let sentinels: Vec<Sentinel> = (0..3)
            .map(|_| Sentinel::start(master, primary.port, 2, 1000))
            .collect();
        wait_until("the sentinels to know the topology", Self::SETTLE, || {
            sentinels.iter().all(|s| {
                let replicas: Option<Vec<redis::Value>> =
                    query(s.port, redis::cmd("SENTINEL").arg("REPLICAS").arg(master));
                let others: Option<Vec<redis::Value>> =
                    query(s.port, redis::cmd("SENTINEL").arg("SENTINELS").arg(master));
                replicas.is_some_and(|r| r.len() == 2) && others.is_some_and(|o| o.len() == 2)
            })
        });
        Self {
            master,
            primary,
            replicas,
            sentinels,
        }
    }

    /// The store URL naming every sentinel.
    pub fn url(&self) -> String {
        sentinel_url(self.sentinels.iter().map(|s| s.port), self.master)
    }

    /// The primary's port according to the first sentinel that answers.
    pub fn primary_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let addr: Vec<String> = query(
                s.port,
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(self.master),
            )?;
            addr.get(1)?.parse().ok()
        })
    }
}
