//! A real Apache Mesos on loopback for the integration tests: one
//! `mesos-master` and posix `mesos-agent`s, each with its own port, work and
//! runtime directories, hostname, attributes and a disjoint ports range.
//!
//! The install is found through `MESOS_HOME` (a directory with `sbin/`,
//! `lib/` and `libexec/mesos/`, as unpacked from `../shared/real-mesos/` by
//! `.ci/run`, or any user's own Mesos install). Without it every real-Mesos
//! test returns at once after saying so on stderr, and `make test` prints a
//! banner saying the suite was skipped: a machine without Mesos must still
//! be able to run the rest of the suite.
//!
//! Every process writes its log into the cluster's temporary directory; when
//! a test panics, the tails of those logs are printed, since they are the
//! only record of why a real master refused something.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::procs::{LISTENING, free_port, hydrogen_binary, read_announced, signal};

/// How long a master or agent may take to come up (they are slow under a
/// parallel test run on two cores).
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A Mesos installation: `sbin/mesos-master`, `sbin/mesos-agent`, `lib/`,
/// `libexec/mesos/`.
#[derive(Clone, Debug)]
pub struct MesosInstall {
    pub home: PathBuf,
}

impl MesosInstall {
    /// The install named by `MESOS_HOME`, or `None` (with a note on stderr)
    /// when the variable is unset. A set variable that names no usable
    /// install is a broken setup, not a reason to skip: it panics.
    pub fn from_env() -> Option<Self> {
        let Some(home) = std::env::var_os("MESOS_HOME").filter(|h| !h.is_empty()) else {
            eprintln!(
                "real-Mesos test skipped: MESOS_HOME is not set (point it at a Mesos install \
                 with sbin/mesos-master, or run .ci/run, which unpacks ../shared/real-mesos into \
                 target/real-mesos for `make test`)"
            );
            return None;
        };
        let install = Self {
            home: PathBuf::from(home),
        };
        for binary in ["sbin/mesos-master", "sbin/mesos-agent"] {
            let path = install.home.join(binary);
            assert!(
                path.is_file(),
                "MESOS_HOME={} has no {binary}: unset MESOS_HOME to skip the real-Mesos tests",
                install.home.display()
            );
        }
        Some(install)
    }

    fn command(&self, binary: &str) -> Command {
        let mut command = Command::new(self.home.join("sbin").join(binary));
        let lib = self.home.join("lib");
        let library_path = match std::env::var_os("LD_LIBRARY_PATH") {
            Some(existing) if !existing.is_empty() => {
                let mut joined = lib.into_os_string();
                joined.push(":");
                joined.push(existing);
                joined
            }
            _ => lib.into_os_string(),
        };
        command
            .env("LD_LIBRARY_PATH", library_path)
            // libprocess picks its own address from these when the flags
            // leave a gap; keep everything on loopback.
            .env("LIBPROCESS_IP", "127.0.0.1")
            .env_remove("MESOS_MASTER")
            .stdin(Stdio::null());
        command
    }

    fn launcher_dir(&self) -> PathBuf {
        self.home.join("libexec").join("mesos")
    }
}

/// How the master keeps its registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registry {
    /// State lost on restart.
    InMemory,
    /// `--registry=replicated_log --quorum=1`: state survives a restart.
    ReplicatedLog,
}

/// Flags of a test master.
#[derive(Clone, Debug)]
pub struct MasterOptions {
    pub registry: Registry,
    /// `--agent_ping_timeout`; with `--max_agent_ping_timeouts=3` an agent
    /// killed with SIGKILL is noticed after about three of these.
    pub agent_ping_timeout: Duration,
    /// `principal -> secret`: turns on framework authentication (both the
    /// driver-based and the HTTP one) with a credentials file.
    pub credentials: Vec<(String, String)>,
    /// Anything else, as `--flag=value`.
    pub extra_args: Vec<String>,
}

impl Default for MasterOptions {
    fn default() -> Self {
        Self {
            registry: Registry::InMemory,
            agent_ping_timeout: Duration::from_secs(1),
            credentials: Vec::new(),
            extra_args: Vec::new(),
        }
    }
}

/// Resources and attributes of a test agent.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    pub hostname: String,
    pub cpus: f64,
    pub mem: u64,
    pub disk: u64,
    /// Inclusive ports range given to the agent's offers.
    pub ports: (u16, u16),
    /// `--attributes` as Mesos parses it: `rack:r1;zone:z1`.
    pub attributes: String,
    /// Statically reserved resources appended to `--resources`
    /// (`cpus(team-a):1;mem(team-a):512`); empty for none.
    pub reserved: String,
    pub extra_args: Vec<String>,
}

impl AgentOptions {
    /// Agent `index` (1-based): `agent-N.real`, 2 cpus, 1 GiB, 100 ports
    /// from a range no other agent of this test process uses, and a
    /// `rack:rN` attribute.
    pub fn numbered(index: usize) -> Self {
        let base = next_ports_base();
        Self {
            hostname: format!("agent-{index}.real"),
            cpus: 2.0,
            mem: 1024,
            disk: 4096,
            ports: (base, base + 99),
            attributes: format!("rack:r{index}"),
            reserved: String::new(),
            extra_args: Vec::new(),
        }
    }

    fn resources(&self) -> String {
        let mut resources = format!(
            "cpus:{};mem:{};disk:{};ports:[{}-{}]",
            self.cpus, self.mem, self.disk, self.ports.0, self.ports.1
        );
        if !self.reserved.is_empty() {
            resources.push(';');
            resources.push_str(&self.reserved);
        }
        resources
    }
}

/// Ports ranges for agents: disjoint within a test process, and spread by
/// the process id so that two test processes running at once (the tests
/// and a bench, or two checkouts) rarely meet.
/// The range stays below Linux's default ephemeral range (32768+), so no
/// port the OS hands out for a connection can sit in a task's range.
fn next_ports_base() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slot = NEXT.fetch_add(1, Ordering::Relaxed) % 40;
    let spread = (std::process::id() % 3) as u16 * 40;
    20_000 + (spread + slot) * 100
}

/// One Mesos daemon process with its log file.
struct Daemon {
    name: String,
    binary: &'static str,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn spawn(&mut self, install: &MesosInstall) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file in the cluster's temp dir");
        let err = log.try_clone().expect("log file handle");
        let child = install
            .command(self.binary)
            .args(&self.args)
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Panics when the process has exited (with its log's tail): a daemon
    /// that dies at start would otherwise look like a slow one.
    fn assert_alive(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!(
                "{} exited ({status}) while starting:\n{}",
                self.name,
                log_tail(&self.log, 40)
            );
        }
    }
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A real master and its agents; every process is killed on drop.
pub struct RealCluster {
    pub install: MesosInstall,
    pub dir: tempfile::TempDir,
    pub master_port: u16,
    master: Daemon,
    agents: Vec<(AgentOptions, Daemon)>,
}

impl RealCluster {
    /// A master with `options` and one agent per entry of `agents`, all
    /// registered before this returns. `None` when no install is
    /// configured (the test should return).
    pub fn start(options: MasterOptions, agents: Vec<AgentOptions>) -> Option<Self> {
        let install = MesosInstall::from_env()?;
        Some(Self::start_with(install, options, agents))
    }

    /// [`RealCluster::start`] with default master flags and `n` numbered
    /// agents.
    pub fn start_agents(n: usize) -> Option<Self> {
        Self::start(
            MasterOptions::default(),
            (1..=n).map(AgentOptions::numbered).collect(),
        )
    }

    pub fn start_with(
        install: MesosInstall,
        options: MasterOptions,
        agents: Vec<AgentOptions>,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("real-mesos-")
            .tempdir()
            .expect("temp dir");
        let master_port = free_port();
        let master_work = dir.path().join("master");
        std::fs::create_dir_all(&master_work).expect("master work dir");
        let mut args = vec![
            "--ip=127.0.0.1".to_string(),
            format!("--port={master_port}"),
            "--hostname=127.0.0.1".to_string(),
            format!("--work_dir={}", master_work.display()),
            format!(
                "--agent_ping_timeout={}ms",
                options.agent_ping_timeout.as_millis()
            ),
            "--max_agent_ping_timeouts=3".to_string(),
            // Offers every 100 ms instead of every second: the tests wait
            // on placement, and the allocator is not what they exercise.
            "--allocation_interval=100ms".to_string(),
        ];
        match options.registry {
            Registry::InMemory => args.push("--registry=in_memory".into()),
            Registry::ReplicatedLog => {
                args.push("--registry=replicated_log".into());
                args.push("--quorum=1".into());
            }
        }
        if !options.credentials.is_empty() {
            // Mesos 1.12 reads only the JSON form (the old `principal
            // secret` lines are refused as invalid JSON at start), and warns
            // about a file others can read.
            let path = dir.path().join("credentials");
            let credentials: Vec<serde_json::Value> = options
                .credentials
                .iter()
                .map(|(principal, secret)| {
                    serde_json::json!({"principal": principal, "secret": secret})
                })
                .collect();
            std::fs::write(
                &path,
                serde_json::json!({ "credentials": credentials }).to_string(),
            )
            .expect("credentials written");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("credentials made private");
            args.push("--authenticate_frameworks".into());
            args.push("--authenticate_http_frameworks".into());
            args.push("--http_framework_authenticators=basic".into());
            args.push(format!("--credentials={}", path.display()));
        }
        args.extend(options.extra_args.iter().cloned());
        let mut master = Daemon {
            name: format!("mesos-master on 127.0.0.1:{master_port}"),
            binary: "mesos-master",
            args,
            log: dir.path().join("master.log"),
            child: None,
        };
        master.spawn(&install);
        let mut cluster = Self {
            install,
            dir,
            master_port,
            master,
            agents: Vec::new(),
        };
        cluster.wait_master();
        for agent in agents {
            cluster.add_agent(agent);
        }
        cluster.wait_agents(cluster.agents.len());
        cluster
    }

    /// `http://127.0.0.1:PORT`, as `hydrogen serve --master` takes it.
    pub fn master_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.master_port)
    }

    /// Starts another agent (not waited for).
    pub fn add_agent(&mut self, options: AgentOptions) {
        let index = self.agents.len() + 1;
        let work = self.dir.path().join(format!("agent{index}-work"));
        let runtime = self.dir.path().join(format!("agent{index}-run"));
        let fetcher_cache = self.dir.path().join(format!("agent{index}-fetch"));
        for d in [&work, &runtime, &fetcher_cache] {
            std::fs::create_dir_all(d).expect("agent dir");
        }
        let port = free_port();
        let mut args = vec![
            format!("--master=127.0.0.1:{}", self.master_port),
            "--ip=127.0.0.1".to_string(),
            format!("--port={port}"),
            format!("--hostname={}", options.hostname),
            format!("--work_dir={}", work.display()),
            format!("--runtime_dir={}", runtime.display()),
            format!("--fetcher_cache_dir={}", fetcher_cache.display()),
            "--launcher=posix".to_string(),
            "--isolation=posix/cpu,posix/mem".to_string(),
            "--containerizers=mesos".to_string(),
            "--systemd_enable_support=false".to_string(),
            format!("--launcher_dir={}", self.install.launcher_dir().display()),
            format!("--resources={}", options.resources()),
            // The agent gives executors a clean environment: without this
            // the command executor cannot find libmesos in a non-system
            // install such as ours.
            format!(
                "--executor_environment_variables={}",
                serde_json::json!({
                    "LD_LIBRARY_PATH": self.install.home.join("lib"),
                    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                })
            ),
            // Registration retries back off from up to 1 s by default;
            // keep restarts and re-registrations quick.
            "--registration_backoff_factor=100ms".to_string(),
        ];
        if !options.attributes.is_empty() {
            args.push(format!("--attributes={}", options.attributes));
        }
        args.extend(options.extra_args.iter().cloned());
        let mut daemon = Daemon {
            name: format!("mesos-agent {} on 127.0.0.1:{port}", options.hostname),
            binary: "mesos-agent",
            args,
            log: self.dir.path().join(format!("agent{index}.log")),
            child: None,
        };
        daemon.spawn(&self.install);
        self.agents.push((options, daemon));
    }

    /// SIGKILL to agent `index` (0-based): its executors and tasks keep
    /// running, as on a real host whose agent process died.
    pub fn kill_agent(&mut self, index: usize) {
        self.agents[index].1.kill9();
    }

    /// Starts agent `index` again with the same flags and work dir, so it
    /// recovers its executors.
    pub fn restart_agent(&mut self, index: usize) {
        let install = self.install.clone();
        let daemon = &mut self.agents[index].1;
        daemon.kill9();
        daemon.spawn(&install);
    }

    pub fn agent_options(&self, index: usize) -> &AgentOptions {
        &self.agents[index].0
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// SIGKILL to the master.
    pub fn kill_master(&mut self) {
        self.master.kill9();
    }

    /// Starts the master again on the same port and work dir (with the
    /// replicated log, it recovers its registry).
    pub fn restart_master(&mut self) {
        let install = self.install.clone();
        self.master.kill9();
        self.master.spawn(&install);
        self.wait_master();
    }

    pub fn master_pid(&self) -> Option<u32> {
        self.master.pid()
    }

    /// The master's log so far (for assertions on what it logged).
    pub fn master_log(&self) -> String {
        log_tail(&self.master.log, usize::MAX)
    }

    /// GET a path of the master as JSON (blocking; loopback only).
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = http_get(self.master_port, path)
            .unwrap_or_else(|e| panic!("GET {path} from the master: {e}"));
        assert_eq!(status, 200, "GET {path}: {status} {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// `/master/state`.
    pub fn state(&self) -> serde_json::Value {
        self.get_json("/master/state")
    }

    /// Blocks until `/master/state` satisfies `pred` or `deadline` passes.
    pub fn wait_state(
        &self,
        what: &str,
        deadline: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let until = Instant::now() + deadline;
        loop {
            let state = http_get(self.master_port, "/master/state")
                .ok()
                .filter(|(status, _)| *status == 200)
                .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok());
            if let Some(state) = state {
                if pred(&state) {
                    return state;
                }
                if Instant::now() >= until {
                    panic!("timed out waiting for {what}; /master/state: {state}");
                }
            } else if Instant::now() >= until {
                panic!("timed out waiting for {what}: the master does not answer");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Blocks until the master answers `/health` (and has a leader: a
    /// freshly started master elects itself first).
    fn wait_master(&mut self) {
        let until = Instant::now() + START_DEADLINE;
        loop {
            self.master.assert_alive();
            let leading = http_get(self.master_port, "/master/state")
                .ok()
                .filter(|(status, _)| *status == 200)
                .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
                .is_some_and(|s| s["leader"].is_string() || s["leader_info"].is_object());
            if leading {
                return;
            }
            assert!(
                Instant::now() < until,
                "mesos-master did not start:\n{}",
                log_tail(&self.master.log, 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Blocks until `n` agents are registered and active.
    pub fn wait_agents(&mut self, n: usize) {
        let until = Instant::now() + START_DEADLINE;
        loop {
            for (_, daemon) in &mut self.agents {
                daemon.assert_alive();
            }
            let active = http_get(self.master_port, "/master/state")
                .ok()
                .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
                .map_or(0, |s| {
                    s["slaves"].as_array().map_or(0, |agents| {
                        agents.iter().filter(|a| a["active"] == true).count()
                    })
                });
            if active >= n {
                return;
            }
            assert!(
                Instant::now() < until,
                "{active} of {n} agents registered; master log:\n{}",
                log_tail(&self.master.log, 30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Logs of every process, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = format!("--- master ---\n{}\n", log_tail(&self.master.log, 60));
        for (options, daemon) in &self.agents {
            out.push_str(&format!(
                "--- agent {} ---\n{}\n",
                options.hostname,
                log_tail(&daemon.log, 40)
            ));
        }
        let mut sandboxes = Vec::new();
        collect_sandbox_stderr(self.dir.path(), &mut sandboxes);
        for path in sandboxes.iter().rev().take(6) {
            out.push_str(&format!(
                "--- {} ---\n{}\n",
                path.display(),
                log_tail(path, 15)
            ));
        }
        out
    }
}

/// The `stderr` files of executor sandboxes under `dir` (the executor's and
/// the task's own complaints end up there, not in the agent's log).
fn collect_sandbox_stderr(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && !path.ends_with("meta") {
            collect_sandbox_stderr(&path, found);
        } else if kind.is_file() && path.file_name().is_some_and(|n| n == "stderr") {
            found.push(path);
        }
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "real Mesos logs ({}):\n{}",
                self.dir.path().display(),
                self.logs()
            );
        }
        // Agents first, so none re-registers with a master being stopped;
        // then the executors they launched, which a SIGKILLed agent leaves
        // running (they are found by their sandbox under our temp dir).
        for (_, daemon) in &mut self.agents {
            daemon.kill9();
        }
        self.master.kill9();
        kill_processes_under(self.dir.path());
    }
}

/// SIGKILL to every process whose command line or working directory lies
/// under `dir` (executors and the tasks they run in their sandboxes).
pub fn kill_processes_under(dir: &Path) {
    let needle = dir.to_string_lossy().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd"))
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        if cmdline.contains(&needle) || cwd.starts_with(&needle) {
            signal(pid as u32, "KILL");
        }
    }
}

/// A minimal blocking HTTP/1.0 GET on loopback: the tests' synchronous
/// fixture code must not need a runtime.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header end"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    Ok((status, body.to_string()))
}

/// Files named `name` under `dir` (tasks' sandboxes lie under the cluster's
/// temp dir: `agentN-work/slaves/.../runs/<container>/`).
pub fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            // `runs/latest` is a symlink to a run already visited.
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && path.file_name().is_some_and(|n| n == name) {
                found.push(path);
            }
        }
    }
    found
}

/// Polls `probe` every 100 ms until it returns `Some`, panicking with
/// `what` and the latest `context()` once `deadline` passes.
pub fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut probe: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let until = Instant::now() + deadline;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}:\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Tasks of the framework named `framework` in a `/master/state`, in
/// `task_state` (`TASK_RUNNING` ...), live ones only (`tasks`, not
/// `completed_tasks`).
pub fn framework_tasks<'a>(
    state: &'a serde_json::Value,
    framework: &str,
    task_state: &str,
) -> Vec<&'a serde_json::Value> {
    frameworks_named(state, framework)
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| t["state"] == task_state)
        .collect()
}

/// Ended tasks (`completed_tasks`) of the framework named `framework`.
pub fn completed_tasks<'a>(
    state: &'a serde_json::Value,
    framework: &str,
) -> Vec<&'a serde_json::Value> {
    frameworks_named(state, framework)
        .flat_map(|f| f["completed_tasks"].as_array().into_iter().flatten())
        .collect()
}

/// The (live) frameworks of `/master/state` named `name`.
pub fn frameworks_named<'a>(
    state: &'a serde_json::Value,
    name: &str,
) -> impl Iterator<Item = &'a serde_json::Value> {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |f| f["name"] == name)
}

/// Running tasks of one app (task ids are `<app>.<instance>.<uuid>`).
pub fn app_tasks<'a>(
    state: &'a serde_json::Value,
    framework: &str,
    app: &str,
    task_state: &str,
) -> Vec<&'a serde_json::Value> {
    let prefix = format!("{app}.");
    framework_tasks(state, framework, task_state)
        .into_iter()
        .filter(|t| t["id"].as_str().is_some_and(|id| id.starts_with(&prefix)))
        .collect()
}

/// A `hydrogen serve` process (the real binary) with its log in a file,
/// killed on drop. Tests assert on what it logs (a refused subscription),
/// so the log is kept rather than thrown away.
pub struct Serve {
    pub url: String,
    pub log: PathBuf,
    child: Option<Child>,
    _log_dir: tempfile::TempDir,
}

impl Serve {
    /// Starts `hydrogen serve --listen 127.0.0.1:0 --master MASTER` with
    /// fast timings and `extra` flags; returns once it listens.
    pub fn start(master: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--master",
            master,
            "--backoff-initial",
            "200ms",
            "--decline-refuse",
            "200ms",
        ];
        args.extend_from_slice(extra);
        let log_dir = tempfile::Builder::new()
            .prefix("hydrogen-serve-")
            .tempdir()
            .expect("temp dir");
        let log = log_dir.path().join("hydrogen.log");
        let err = File::create(&log).expect("hydrogen log file");
        let mut child = Command::new(hydrogen_binary())
            .args(&args)
            .env("HYDROGEN_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("hydrogen starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let Some(url) =
            read_announced(&mut lines, &[LISTENING]).and_then(|urls| urls.into_iter().next())
        else {
            panic!(
                "hydrogen serve {args:?} exited before listening:\n{}",
                log_tail(&log, 30)
            )
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            url,
            log,
            child: Some(child),
            _log_dir: log_dir,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the instance gets no chance to release its lease.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        log_tail(&self.log, usize::MAX)
    }

    /// `METHOD url-path` on its REST API with an optional JSON body.
    pub fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        api_call(method, &format!("{}{path}", self.url), body)
    }

    /// `GET /v1/api/app?name=APP` (the app's state with its tasks).
    pub fn app(&self, name: &str) -> serde_json::Value {
        let (status, body) = self.api("GET", &format!("/v1/api/app?name={name}"), None);
        assert_eq!(status, 200, "GET app {name}: {body}");
        body
    }

    /// POST one app and expects 200.
    pub fn deploy(&self, app: serde_json::Value) {
        let (status, body) = self.api("POST", "/v1/api/app", Some(&serde_json::json!([app])));
        assert_eq!(status, 200, "deploy: {body}");
    }

    /// PUT one app and expects 200.
    pub fn update(&self, app: serde_json::Value) {
        let (status, body) = self.api("PUT", "/v1/api/app", Some(&app));
        assert_eq!(status, 200, "update: {body}");
    }

    /// DELETE one app and expects 200.
    pub fn kill_app(&self, name: &str) {
        let (status, body) = self.api(
            "DELETE",
            "/v1/api/app",
            Some(&serde_json::json!({ "name": name })),
        );
        assert_eq!(status, 200, "delete: {body}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "hydrogen serve log ({}):\n{}",
                self.log.display(),
                log_tail(&self.log, 60)
            );
        }
        self.kill9();
    }
}

/// A blocking JSON request (reqwest on a private current-thread runtime:
/// the real-Mesos tests are synchronous like their fixture). The body is
/// JSON when it parses, else a string.
pub fn api_call(
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = reqwest::Client::new()
            .request(method, url)
            .timeout(Duration::from_secs(20));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url} does not answer: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    })
}

/// The processes (pid, command line) whose command line contains `needle`:
/// the tests look for the real `sleep` processes a task runs.
pub fn processes_matching(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline.trim().to_string()));
        }
    }
    found
}

/// A `sleep` duration no other app of any test (or test process) uses:
/// GNU sleep takes fractions, so `/bin/sleep <marker>` names the real
/// processes of one app.
pub fn sleep_marker() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("3600.{}0{n}", std::process::id())
}

/// The real `sleep` processes started with `marker`: not the `sh -c` the
/// command executor wraps them in (killing that one orphans the sleep,
/// which the posix launcher leaves running), nor anything else whose
/// command line mentions it.
pub fn sleeper_pids(marker: &str) -> Vec<u32> {
    processes_matching(&format!("sleep {marker}"))
        .into_iter()
        .filter(|(_, cmd)| cmd.starts_with("/bin/sleep ") || cmd.starts_with("sleep "))
        .map(|(pid, _)| pid)
        .collect()
}

/// How many real `sleep` processes run with `marker` ([`sleeper_pids`]).
pub fn sleepers(marker: &str) -> usize {
    sleeper_pids(marker).len()
}
