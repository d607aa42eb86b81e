//! Real processes for the integration tests and benches: `hydrogen`
//! subcommands that print the address they listen on (and the one parser of
//! that line), and `redis-server` (from [`crate::redis_server`], which the
//! library's unit tests use on its own), so one import brings both.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use crate::redis_server::{
    Redis, Sentinel, SentinelTopology, free_port, info_field, query, signal, wait_until,
};

/// The `hydrogen` binary to run: `$HYDROGEN_BIN` when set, else the one
/// cargo built next to the running test or bench (which runs as
/// `target/<profile>/deps/<name>-<hash>`, beside `target/<profile>/hydrogen`).
/// `env!("CARGO_BIN_EXE_hydrogen")` is only defined while cargo compiles
/// hydrogen's own tests and benches, not this crate, so the path is found
/// at run time.
pub fn hydrogen_binary() -> PathBuf {
    if let Some(binary) = std::env::var_os("HYDROGEN_BIN").filter(|b| !b.is_empty()) {
        let binary = PathBuf::from(binary);
        assert!(
            binary.is_file(),
            "HYDROGEN_BIN={} is not a file: point it at a built hydrogen binary, or unset it \
             to use the one cargo built next to this test",
            binary.display()
        );
        return binary;
    }
    let exe = std::env::current_exe().expect("the running test's own path");
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join(format!("hydrogen{}", std::env::consts::EXE_SUFFIX)));
    match binary {
        Some(binary) if binary.is_file() => binary,
        _ => panic!(
            "no hydrogen binary next to {} (expected target/<profile>/hydrogen, which cargo \
             builds for hydrogen's integration tests and benches): run this through `cargo test` \
             or `cargo bench` in the hydrogen package, or set HYDROGEN_BIN",
            exe.display()
        ),
    }
}

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
        Self::start_binary(hydrogen_binary(), args)
    }

    /// `hydrogen sim` on a free port with `agents` agents and quick
    /// timings (offers every 100 ms, tasks start within 50 ms), then `extra`.
    pub fn sim(agents: usize, extra: &[&str]) -> Self {
        Self::sim_of(hydrogen_binary(), agents, extra)
    }

    /// [`Hydrogen::sim`] of another `hydrogen` binary (a bench's copy).
    pub fn sim_of(binary: impl AsRef<OsStr>, agents: usize, extra: &[&str]) -> Self {
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
        Self::start_binary(binary, &args)
    }

    /// `hydrogen serve` on a free port against `master` with `store`,
    /// refusing declined offers for 200 ms only, then `extra`.
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
    pub fn start_binary(binary: impl AsRef<OsStr>, args: &[&str]) -> Self {
        let (process, _) = Self::spawn(binary, args, &[]);
        process
    }

    /// `hydrogen dev` on free ports with `extra` flags: the process (its
    /// URL is the API's) and the URL of its simulated master.
    pub fn dev(extra: &[&str]) -> (Self, String) {
        let mut args = vec![
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--sim-listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        let (process, mut more) = Self::spawn(hydrogen_binary(), &args, &[SIM_LISTENING]);
        (process, more.remove(0))
    }

    /// Starts `binary` and reads its stdout until it announced the URL it
    /// listens on and the URLs after `more` prefixes, returned in order.
    fn spawn(binary: impl AsRef<OsStr>, args: &[&str], more: &[&str]) -> (Self, Vec<String>) {
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
