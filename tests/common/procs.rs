//! Real processes for the integration tests: `redis-server` on a free
//! loopback port in a temporary directory, and `hydrogen` subcommands that
//! print the address they listen on (and the one parser of that line).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// What `hydrogen serve`, `dev` and `sim` print once they serve, before
/// the URL: `listening on http://127.0.0.1:PORT`.
pub const LISTENING: &str = "listening on ";
/// What `hydrogen dev` prints before its simulated master's URL.
#[allow(dead_code)] // not every test crate that includes this file uses it
pub const SIM_LISTENING: &str = "simulated mesos master on ";

/// The URL a line of `hydrogen`'s output announces after `prefix`.
pub fn announced<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix).map(str::trim)
}

/// Reads `hydrogen`'s stdout until every one of `prefixes` was announced,
/// and returns the URLs in the order of `prefixes`; `None` when the output
/// ends (the process exited) first.
#[allow(dead_code)] // not every test crate that includes this file uses it
pub fn read_announced(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    prefixes: &[&str],
) -> Option<Vec<String>> {
    let mut urls: Vec<Option<String>> = vec![None; prefixes.len()];
    while urls.iter().any(Option::is_none) {
        let line = lines.next()?.ok()?;
        for (url, prefix) in urls.iter_mut().zip(prefixes) {
            if let Some(found) = announced(&line, prefix) {
                *url = Some(found.to_string());
            }
        }
    }
    Some(urls.into_iter().flatten().collect())
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
}

impl Redis {
    /// Starts redis-server with AOF persistence in a fresh directory.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut redis = Self {
            port: free_port(),
            dir,
            child: None,
            volatile: false,
            replica_of: None,
        };
        redis.spawn();
        redis
    }

    /// Starts redis-server with AOF persistence as a replica of the Redis
    /// on `primary_port` (loopback).
    #[allow(dead_code)] // not every test crate that includes this file uses it
    pub fn start_replica_of(primary_port: u16) -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            volatile: false,
            replica_of: Some(primary_port),
        };
        redis.spawn();
        redis
    }

    /// Starts redis-server without any persistence (`--save "" --appendonly no`).
    #[allow(dead_code)] // not every test crate that includes this file uses it
    pub fn start_volatile() -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            volatile: true,
            replica_of: None,
        };
        redis.spawn();
        redis
    }

    fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        if let Some(primary) = self.replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
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
                "--dir",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server); .ci/run installs it");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        wait_pong(self.port, "redis-server");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills and starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
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

/// A `hydrogen` process that printed `listening on http://...`.
pub struct Hydrogen {
    pub url: String,
    child: Option<Child>,
}

impl Hydrogen {
    pub fn start(args: &[&str]) -> Self {
        Self::start_binary(env!("CARGO_BIN_EXE_hydrogen"), args)
    }

    /// [`Hydrogen::start`] with another build of the binary.
    pub fn start_binary(binary: &str, args: &[&str]) -> Self {
        let mut child = Command::new(binary)
            .args(args)
            .env("HYDROGEN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("hydrogen starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = read_announced(&mut lines, &[LISTENING])
            .and_then(|urls| urls.into_iter().next())
            .expect("hydrogen prints the address it listens on");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            url,
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL: no chance to release anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait: a graceful stop.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM");
            let _ = c.wait();
        }
    }
}

impl Drop for Hydrogen {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Sends a signal by name with `kill(1)`.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status();
}

/// Waits until the server on `port` answers PING.
fn wait_pong(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            if s.write_all(b"PING\r\n").is_ok() {
                let mut buf = [0u8; 7];
                if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                    return;
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server --sentinel` owned by the test, killed on drop. Its
/// config file lives in its own temp dir: Sentinel rewrites it.
#[allow(dead_code)] // not every test crate that includes this file uses it
pub struct Sentinel {
    pub port: u16,
    _dir: tempfile::TempDir,
    child: Option<Child>,
}

#[allow(dead_code)]
impl Sentinel {
    /// Monitors the primary on `primary_port` as `master` with `quorum`,
    /// declaring it down after `down_after_ms` without an answer.
    pub fn start(master: &str, primary_port: u16, quorum: u32, down_after_ms: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {master} 127.0.0.1 {primary_port} {quorum}\n\
                 sentinel down-after-milliseconds {master} {down_after_ms}\n\
                 sentinel failover-timeout {master} 10000\n\
                 sentinel parallel-syncs {master} 1\n",
                dir.path().display()
            ),
        )
        .expect("write sentinel.conf");
        let child = Command::new("redis-server")
            .arg(&config)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (it runs sentinels too)");
        let sentinel = Self {
            port,
            _dir: dir,
            child: Some(child),
        };
        wait_pong(port, "redis sentinel");
        sentinel
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
