//! Real processes for the integration tests: `hydrogen` subcommands that
//! print the address they listen on (and the one parser of that line), and
//! `redis-server` (from `redis.rs`, which the library's unit tests share).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

#[path = "redis.rs"]
mod redis_server;
#[allow(unused_imports)] // not every test crate that includes this file uses each
pub use redis_server::{
    Redis, Sentinel, SentinelTopology, free_port, info_field, query, signal, wait_until,
};

/// What `hydrogen serve`, `dev` and `sim` print once they serve, before
/// the URL: `listening on http://127.0.0.1:PORT`.
pub const LISTENING: &str = "listening on ";
/// What `hydrogen dev` prints before its simulated master's URL.
pub const SIM_LISTENING: &str = "simulated mesos master on ";

/// The URL a line of `hydrogen`'s output announces after `prefix`.
pub fn announced<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix).map(str::trim)
}

/// Reads `hydrogen`'s stdout until every one of `prefixes` was announced,
/// and returns the URLs in the order of `prefixes`; `None` when the output
/// ends (the process exited) first.
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

/// A `hydrogen` process that printed `listening on http://...`.
pub struct Hydrogen {
    pub url: String,
    child: Option<Child>,
}

impl Hydrogen {
    pub fn start(args: &[&str]) -> Self {
        Self::start_binary(env!("CARGO_BIN_EXE_hydrogen"), args)
    }

    /// `hydrogen sim` on a free port with `agents` agents and quick
    /// timings (offers every 100 ms, tasks start within 50 ms), then `extra`.
    #[allow(dead_code)] // not every test crate that includes this file uses it
    pub fn sim(agents: usize, extra: &[&str]) -> Self {
        let agents = agents.to_string();
        let mut args = vec![
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--agents",
            &agents,
            "--allocation-interval",
            "100ms",
            "--task-start-delay",
            "50ms",
        ];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    /// `hydrogen serve` on a free port against `master` with `store`,
    /// refusing declined offers for 200 ms only, then `extra`.
    #[allow(dead_code)] // not every test crate that includes this file uses it
    pub fn serve(master: &str, store: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--master",
            master,
            "--store",
            store,
            "--decline-refuse",
            "200ms",
        ];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    /// [`Hydrogen::start`] with another build of the binary.
    pub fn start_binary(binary: &str, args: &[&str]) -> Self {
        let (process, _) = Self::spawn(binary, args, &[]);
        process
    }

    /// `hydrogen dev` on free ports with `extra` flags: the process (its
    /// URL is the API's) and the URL of its simulated master.
    #[allow(dead_code)] // not every test crate that includes this file uses it
    pub fn dev(extra: &[&str]) -> (Self, String) {
        let mut args = vec![
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--sim-listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        let (process, mut more) =
            Self::spawn(env!("CARGO_BIN_EXE_hydrogen"), &args, &[SIM_LISTENING]);
        (process, more.remove(0))
    }

    /// Starts `binary` and reads its stdout until it announced the URL it
    /// listens on and the URLs after `more` prefixes, returned in order.
    fn spawn(binary: &str, args: &[&str], more: &[&str]) -> (Self, Vec<String>) {
        let mut child = Command::new(binary)
            .args(args)
            .env("HYDROGEN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("hydrogen starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let prefixes: Vec<&str> = std::iter::once(LISTENING)
            .chain(more.iter().copied())
            .collect();
        let mut urls = read_announced(&mut lines, &prefixes)
            .expect("hydrogen prints the addresses it listens on");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let url = urls.remove(0);
        let process = Self {
            url,
            child: Some(child),
        };
        (process, urls)
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
