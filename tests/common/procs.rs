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
        };
        redis.spawn();
        redis
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
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
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 7];
                    if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                        return;
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
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
