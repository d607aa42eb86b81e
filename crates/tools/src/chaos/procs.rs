//! The real processes of a chaos run: one `redis-server` (append-only file,
//! `appendfsync always`, so a restart on the same port and directory keeps
//! every acknowledged write), or with `--sentinel` a primary, two replicas
//! and three `redis-server --sentinel`; one `hydrogen sim` and several
//! `hydrogen serve`. Each child is killed when its handle is dropped, so an
//! error, a panic or Ctrl-C leaves nothing running. A restarted `hydrogen
//! serve` takes the port it had before, so clients (and watches resuming by
//! revision) find it again at the same address.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::ChaosError;

/// How long a child gets to report that it listens.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A free loopback port (bound, then released): `redis-server` cannot pick
/// one itself and report it.
fn free_port() -> Result<u16, ChaosError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ChaosError::Spawn {
            what: "a free port".into(),
            reason: e.to_string(),
        })
}

/// Sends `signal` (`STOP`, `CONT`, ...) to `pid` with kill(1), which every
/// Unix has, rather than a new dependency for one call.
pub async fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// The children's log filter: `HYDROGEN_CHAOS_LOG` (e.g. `info`) when
/// set, else warnings only.
pub fn child_log_level() -> String {
    std::env::var("HYDROGEN_CHAOS_LOG").unwrap_or_else(|_| "warn".into())
}

/// A `redis-server` of the run: the only one, or one node of the Sentinel
/// topology.
pub struct Redis {
    binary: PathBuf,
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
    /// Frozen with SIGSTOP and not yet continued.
    pub stopped: bool,
    /// Started (or restarted) as a replica of the node on this port.
    pub replica_of: Option<u16>,
}

impl Redis {
    /// Starts redis-server with AOF persistence, its files in `dir`.
    pub async fn start(binary: &Path, dir: &Path) -> Result<Self, ChaosError> {
        Self::start_replica_of(binary, dir, None).await
    }

    /// Starts redis-server with AOF persistence, as a replica of the node
    /// on `primary` (loopback) when given.
    pub async fn start_replica_of(
        binary: &Path,
        dir: &Path,
        primary: Option<u16>,
    ) -> Result<Self, ChaosError> {
        let mut redis = Self {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            port: free_port()?,
            child: None,
            stopped: false,
            replica_of: primary,
        };
        redis.spawn().await?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Running and not frozen: it answers.
    pub fn is_serving(&self) -> bool {
        self.is_running() && !self.stopped
    }

    /// SIGSTOP: every client's commands queue up unanswered.
    pub async fn stop_signal(&mut self) {
        if let Some(pid) = self.child.as_ref().and_then(Child::id) {
            signal(pid, "STOP").await;
            self.stopped = true;
        }
    }

    pub async fn cont_signal(&mut self) {
        if let Some(pid) = self.child.as_ref().and_then(Child::id) {
            signal(pid, "CONT").await;
        }
        self.stopped = false;
    }

    /// Starts it (again) on the same port and directory.
    pub async fn spawn(&mut self) -> Result<(), ChaosError> {
        let mut command = Command::new(&self.binary);
        if let Some(primary) = self.replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        let child = command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ChaosError::Spawn {
                what: format!(
                    "{} (install redis-server or pass --redis-server PATH)",
                    self.binary.display()
                ),
                reason: e.to_string(),
            })?;
        self.child = Some(child);
        self.stopped = false;
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        while tokio::time::Instant::now() < deadline {
            if self.ping().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(ChaosError::Start("redis-server".into()))
    }

    async fn ping(&self) -> bool {
        ping(self.port).await
    }

    /// SIGKILL (a frozen one too): whatever the AOF holds is what survives.
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
        self.stopped = false;
    }
}

/// Whether something on loopback `port` answers PING with PONG.
async fn ping(port: u16) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").await.is_ok()
        && tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut buf))
            .await
            .is_ok_and(|r| r.is_ok())
        && &buf == b"+PONG\r\n"
}

/// A `redis-server --sentinel` of the run. Its config file is its own
/// (Sentinel rewrites it with what it learns).
pub struct SentinelProc {
    pub port: u16,
    _child: Child,
}

impl SentinelProc {
    /// Monitors the primary on `primary` as `master` with `quorum`; a
    /// primary silent for `down_after` is failed over.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        master: &str,
        primary: u16,
        quorum: u32,
        down_after: Duration,
    ) -> Result<Self, ChaosError> {
        let port = free_port()?;
        let config = dir.join(format!("sentinel-{port}.conf"));
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\n\
             sentinel monitor {master} 127.0.0.1 {primary} {quorum}\n\
             sentinel down-after-milliseconds {master} {down}\n\
             sentinel failover-timeout {master} 3000\n\
             sentinel parallel-syncs {master} 1\n",
            dir = dir.display(),
            down = down_after.as_millis(),
        );
        std::fs::write(&config, text).map_err(|e| ChaosError::Spawn {
            what: format!("sentinel config {}", config.display()),
            reason: e.to_string(),
        })?;
        let child = Command::new(binary)
            .arg(&config)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ChaosError::Spawn {
                what: format!("{} --sentinel", binary.display()),
                reason: e.to_string(),
            })?;
        let deadline = tokio::time::Instant::now() + START_DEADLINE;
        while tokio::time::Instant::now() < deadline {
            if ping(port).await {
                return Ok(Self {
                    port,
                    _child: child,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(ChaosError::Start("redis sentinel".into()))
    }
}

/// A `hydrogen` child that printed `listening on http://HOST:PORT`.
pub struct HydrogenProc {
    binary: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`, fixed for the whole run.
    pub url: String,
    child: Option<Child>,
    /// Stopped with SIGSTOP and not yet continued.
    pub stopped: bool,
}

impl HydrogenProc {
    /// Starts `hydrogen ARGS --listen 127.0.0.1:0`, its stderr appended to
    /// `log`; the port it binds is kept for restarts.
    pub async fn start(binary: &Path, args: Vec<String>, log: &Path) -> Result<Self, ChaosError> {
        let mut p = Self {
            binary: binary.to_path_buf(),
            args,
            log: log.to_path_buf(),
            url: String::new(),
            child: None,
            stopped: false,
        };
        p.spawn().await?;
        Ok(p)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the process, on its previous port when it had one.
    pub async fn spawn(&mut self) -> Result<(), ChaosError> {
        let listen = match self.url.strip_prefix("http://") {
            Some(addr) => addr.to_string(),
            None => "127.0.0.1:0".to_string(),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| ChaosError::Spawn {
                what: format!("log file {}", self.log.display()),
                reason: e.to_string(),
            })?;
        let what = format!("{} {}", self.binary.display(), self.args.join(" "));
        let mut child = Command::new(&self.binary)
            .args(&self.args)
            .args(["--listen", &listen])
            .env("HYDROGEN_LOG", child_log_level())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ChaosError::Spawn {
                what: what.clone(),
                reason: e.to_string(),
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ChaosError::Start(what.clone()))?;
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(START_DEADLINE, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Some(url.trim().to_string());
                }
            }
            None
        })
        .await;
        let Ok(Some(url)) = found else {
            let _ = child.kill().await;
            return Err(ChaosError::Start(format!(
                "{what} (see {})",
                self.log.display()
            )));
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.url = url;
        self.child = Some(child);
        self.stopped = false;
        Ok(())
    }

    /// SIGKILL: no chance to release the lease or anything else.
    pub async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
        self.stopped = false;
    }

    /// Restarts a killed process on its port; the port can be briefly
    /// taken by someone else, hence the retries.
    pub async fn restart(&mut self) -> Result<(), ChaosError> {
        let mut last = None;
        for _ in 0..10 {
            match self.spawn().await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(last.unwrap_or_else(|| ChaosError::Start(self.url.clone())))
    }

    pub async fn stop_signal(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, "STOP").await;
            self.stopped = true;
        }
    }

    pub async fn cont_signal(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, "CONT").await;
        }
        self.stopped = false;
    }
}
