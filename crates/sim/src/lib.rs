//! A simulated Mesos master with fake agents: `hydrogen sim`, and the
//! in-process master of tests and `hydrogen dev`.
//!
//! It speaks the real v1 scheduler HTTP API (protobuf and JSON, RecordIO
//! event streams, the master's status codes and messages) for any framework,
//! not just ours: a framework that works against it must work against a real
//! Mesos 1.11 master. Its own crate, it depends on no Hydrogen code but
//! [`hydrogen_mesos`] (the wire types) and `hydrogen_time` (durations), so
//! a shortcut through our own scheduler types cannot hide a protocol bug.
//!
//! # Files
//! - `lib.rs`: configuration ([`SimConfig`], the `hydrogen sim` flags
//!   [`SimArgs`]), [`Simulator::start`] / [`SimHandle`], the ticker.
//! - `master.rs`: the state machine (frameworks, agents, tasks, reliable
//!   status updates, kill, reconcile, failover, faults).
//! - `accept.rs`: ACCEPT validation and task launch; `validation.rs`: the
//!   master's stateless task / executor checks and the agents' isolator
//!   failures.
//! - `allocator.rs`: the periodic offer pass; `maintenance.rs`: the
//!   maintenance schedule, unavailability, inverse offers, machines DOWN.
//! - `resources.rs`: resource arithmetic; `cluster.rs`: agent descriptions.
//! - `http.rs`: the scheduler endpoint and `/version`, `/health`,
//!   `/redirect`; `state_json.rs`: `/master/state`; `admin.rs`: `/sim/`.
//!
//! # Concurrency
//! One `Master` behind a `std::sync::Mutex`, locked for short synchronous
//! steps by HTTP handlers and by one ticker task (every 10 ms: timers,
//! heartbeats, allocation). A mutex rather than an actor because every step
//! is synchronous and bounded (no await while locked), callers need the
//! result at once (a status code, an admin answer), and unit tests drive the
//! same `Master` directly with a hand-stepped clock.
//!
//! # Embedding
//! ```no_run
//! # async fn demo() -> Result<(), hydrogen_sim::SimError> {
//! use hydrogen_sim::{SimConfig, Simulator};
//! let mut config = SimConfig::default();
//! config.listen = "127.0.0.1:0".parse().expect("literal address");
//! config.timings.allocation_interval = std::time::Duration::from_millis(50);
//! let sim = Simulator::start(config).await?;
//! println!("master at {}", sim.url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Agents
//! `--agents N` (default 5) makes agents `agent-1.sim` … with cpus 4, mem
//! 8192, disk 65536, ports `[31000-32000]` and attributes `rack` (TEXT),
//! `zone` (TEXT), `cores` (SCALAR), `features` (SET), `slots` (RANGES).
//! `--cluster FILE` replaces them with agents from a JSON file:
//!
//! ```json
//! {"agents": [
//!   {"hostname": "a1.example",
//!    "resources": {"cpus": 8, "mem": 16384, "disk": 100000, "ports": "[31000-32000]"},
//!    "reserved": {"web": {"cpus": 2, "mem": 2048}},
//!    "attributes": {"rack": "r1", "cores": 8, "features": ["ssd"], "slots": "[1-4]"}}
//! ]}
//! ```
//!
//! A value is a number (SCALAR), a string in range syntax `[a-b,c-d]`
//! (RANGES), an array of strings (SET) or, for attributes, another string
//! (TEXT). `reserved` holds resources statically reserved for a role;
//! the operator API's `RESERVE_RESOURCES` reserves more dynamically (see
//! `reservations.rs`).
//!
//! # Admin / fault API (`/sim/`, JSON)
//! | route | body | effect |
//! | --- | --- | --- |
//! | `GET /sim/agents` | | agents with state, resources, attributes |
//! | `POST /sim/agents` | an agent as in the cluster file | adds an agent, `201 {"id"}` |
//! | `POST /sim/agents/{id}/unreachable` | | agent partitioned: offers rescinded, tasks TASK_UNREACHABLE (PARTITION_AWARE) or TASK_LOST, reason REASON_AGENT_REMOVED |
//! | `POST /sim/agents/{id}/reregister` | | an unreachable agent returns with its tasks (known again, as reconciliation shows; queued updates flow) |
//! | `POST /sim/agents/{id}/gone`, `DELETE /sim/agents/{id}` | | agent marked gone: tasks TASK_GONE_BY_OPERATOR (PARTITION_AWARE) or TASK_LOST |
//! | `GET /sim/tasks` | | every known task with state, health, unacked updates |
//! | `POST /sim/tasks/{id}/fail` | `{"message"?}` | TASK_FAILED (REASON_COMMAND_EXECUTOR_FAILED) |
//! | `POST /sim/tasks/{id}/finish` | `{"message"?}` | TASK_FINISHED |
//! | `POST /sim/tasks/{id}/unhealthy`, `/healthy` | | TASK_RUNNING update with `healthy` false / true |
//! | `POST /sim/master/failover` | `{"leaderless"?: "2s"}` | all streams dropped, offers gone, new master id, tasks kept; optionally 503 "No leader elected" for a while |
//! | `POST /sim/master/stall` | `{"duration": "30s"}` | no events at all (heartbeats included) for that long |
//! | `POST /sim/master/leadership` | `{"leading": false, "leader"?: "host:port"}` | non-leading mode: scheduler calls get 307 `Location: //host:port/api/v1/scheduler` (503 without a leader), `GET /redirect` likewise; `{"leading": true}` restores |
//! | `POST /sim/master/lose-on-accept` | `{"count": 2}` | each of the next `count` ACCEPTs meets a leadership loss: answered 503 "No leader elected", not carried out, then a failover as above (streams dropped, offers gone, tasks kept) |
//! | `POST /sim/acks/delay` | `{"duration": "5s"}` | ACKNOWLEDGE calls ignored for that long: agents retry their in-flight updates (duplicates reach the framework), later updates queue behind them |
//! | `POST /sim/offers/pause`, `/resume` | | stop / restart the allocation |
//!
//! Task routes take `?framework_id=` when several frameworks use the id.
//! Errors: 400 bad body, 404 unknown agent or task, 409 wrong state; all
//! `{"error": "..."}`. Durations are humane strings: `250ms`, `1s`, `1.5s`,
//! `2m`, `1h`.
//!
//! The non-leading mode can also be set at start (`--not-leading`,
//! `--leader host:port`).

mod accept;
mod admin;
mod allocator;
pub mod cluster;
mod drain;
mod http;
mod maintenance;
pub mod master;
mod operator;
mod required;
mod reservations;
pub mod resources;
mod state_json;
mod validation;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use hydrogen_time::HumaneDuration;

pub use cluster::AgentSpec;
pub use master::{Leadership, Master, SimStats, Timings};

/// Why the simulator could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The cluster file could not be read.
    #[error("cannot read cluster file {path}: {source}")]
    ClusterFile {
        path: String,
        source: std::io::Error,
    },
    /// The cluster description is invalid.
    #[error("invalid cluster: {0}")]
    Cluster(String),
    /// A flag has an invalid value.
    #[error("invalid --{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    /// The server failed.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Configuration of a simulated master. Public fields, so tests set short
/// timings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    /// The agents to register at start.
    pub agents: Vec<AgentSpec>,
    pub timings: Timings,
    /// Hostname in MasterInfo and redirects (default: the listen IP).
    pub hostname: Option<String>,
    /// Whether this master leads (see the non-leading mode above).
    pub leadership: Leadership,
    /// Resolution of the ticker.
    pub tick: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5050)),
            agents: (1..=5).map(cluster::default_agent).collect(),
            timings: Timings::default(),
            hostname: None,
            leadership: Leadership::Leading,
            tick: Duration::from_millis(10),
        }
    }
}

/// `hydrogen sim`: run a simulated Mesos master.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is
    /// printed as `listening on http://HOST:PORT`).
    #[arg(long, env = "HYDROGEN_SIM_LISTEN", default_value_t = SimConfig::default().listen)]
    pub listen: SocketAddr,

    /// Number of default agents (agent-1.sim ...: cpus 4, mem 8192, disk
    /// 65536, ports [31000-32000], attributes rack, zone, cores, features,
    /// slots). Ignored with --cluster.
    #[arg(long, env = "HYDROGEN_SIM_AGENTS", default_value_t = SimConfig::default().agents.len())]
    pub agents: usize,

    /// JSON file describing the agents: {"agents": [{"hostname": ...,
    /// "resources": {...}, "reserved": {"role": {...}}, "attributes": {...}}]}.
    #[arg(long, env = "HYDROGEN_SIM_CLUSTER", value_name = "FILE")]
    pub cluster: Option<String>,

    /// How often offers are made.
    #[arg(long, env = "HYDROGEN_SIM_ALLOCATION_INTERVAL", default_value_t = HumaneDuration(Timings::default().allocation_interval))]
    pub allocation_interval: HumaneDuration,

    /// HEARTBEAT event interval, advertised in SUBSCRIBED.
    #[arg(long, env = "HYDROGEN_SIM_HEARTBEAT_INTERVAL", default_value_t = HumaneDuration(Timings::default().heartbeat_interval))]
    pub heartbeat_interval: HumaneDuration,

    /// Delay of each launch step (STAGING → STARTING at once, → RUNNING after
    /// this, → healthy after this again for tasks with a health check).
    #[arg(long, env = "HYDROGEN_SIM_TASK_START_DELAY", default_value_t = HumaneDuration(Timings::default().task_start_delay))]
    pub task_start_delay: HumaneDuration,

    /// Delay between a KILL (or TASK_KILLING) and TASK_KILLED.
    #[arg(long, env = "HYDROGEN_SIM_TASK_KILL_DELAY", default_value_t = HumaneDuration(Timings::default().task_kill_delay))]
    pub task_kill_delay: HumaneDuration,

    /// Rescind offers not used within this time (default: never, as Mesos).
    #[arg(long, env = "HYDROGEN_SIM_OFFER_TIMEOUT")]
    pub offer_timeout: Option<HumaneDuration>,

    /// First retry of an unacknowledged status update; doubles each time.
    #[arg(long, env = "HYDROGEN_SIM_STATUS_UPDATE_RETRY", default_value_t = HumaneDuration(Timings::default().status_update_retry))]
    pub status_update_retry: HumaneDuration,

    /// Cap of the status update retry interval.
    #[arg(
        long,
        env = "HYDROGEN_SIM_STATUS_UPDATE_RETRY_MAX",
        default_value_t = HumaneDuration(Timings::default().status_update_retry_max)
    )]
    pub status_update_retry_max: HumaneDuration,

    /// Hostname reported in MasterInfo and redirects (default: listen IP).
    #[arg(long, env = "HYDROGEN_SIM_HOSTNAME")]
    pub hostname: Option<String>,

    /// Start as a non-leading master: scheduler calls get 503 "No leader
    /// elected", or a 307 to --leader when given.
    #[arg(long, env = "HYDROGEN_SIM_NOT_LEADING")]
    pub not_leading: bool,

    /// host:port of the leading master a non-leading master redirects to
    /// (implies --not-leading).
    #[arg(long, env = "HYDROGEN_SIM_LEADER", value_name = "HOST:PORT")]
    pub leader: Option<String>,
}

impl SimArgs {
    /// Turns flags into a configuration.
    pub fn into_config(self) -> Result<SimConfig, SimError> {
        let agents = match &self.cluster {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| SimError::ClusterFile {
                        path: path.clone(),
                        source,
                    })?;
                cluster::parse_cluster(&text).map_err(SimError::Cluster)?
            }
            None => (1..=self.agents).map(cluster::default_agent).collect(),
        };
        let positive = |flag: &'static str, d: HumaneDuration| {
            if d.0.is_zero() {
                return Err(SimError::Flag {
                    flag,
                    message: "must be positive".into(),
                });
            }
            Ok(d.0)
        };
        let timings = Timings {
            heartbeat_interval: positive("heartbeat-interval", self.heartbeat_interval)?,
            allocation_interval: positive("allocation-interval", self.allocation_interval)?,
            task_start_delay: self.task_start_delay.0,
            task_kill_delay: self.task_kill_delay.0,
            offer_timeout: self.offer_timeout.map(|d| d.0),
            status_update_retry: positive("status-update-retry", self.status_update_retry)?,
            status_update_retry_max: self.status_update_retry_max.0,
        };
        let leadership = if self.not_leading || self.leader.is_some() {
            Leadership::Following {
                leader: self.leader,
            }
        } else {
            Leadership::Leading
        };
        Ok(SimConfig {
            listen: self.listen,
            agents,
            timings,
            hostname: self.hostname,
            leadership,
            ..SimConfig::default()
        })
    }
}

/// Starts simulated masters.
pub struct Simulator;

/// A running simulated master.
pub struct SimHandle {
    addr: SocketAddr,
    shared: http::Shared,
    cancel: CancellationToken,
    server: JoinHandle<Result<(), std::io::Error>>,
    ticker: JoinHandle<()>,
}

impl Simulator {
    /// Binds `config.listen`, registers the agents and serves in the
    /// background.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let hostname = config
            .hostname
            .clone()
            .unwrap_or_else(|| addr.ip().to_string());
        let mut master = Master::new(
            config.timings.clone(),
            addr,
            hostname,
            Instant::now(),
            master::wall_clock(),
        );
        master.leadership = config.leadership.clone();
        for spec in &config.agents {
            master.add_agent(spec).map_err(SimError::Cluster)?;
        }
        let shared = http::Shared {
            master: Arc::new(Mutex::new(master)),
        };
        let cancel = CancellationToken::new();
        let app = http::router(shared.clone()).merge(admin::router(shared.clone()));
        let server = tokio::spawn({
            let cancel = cancel.clone();
            async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(cancel.cancelled_owned())
                    .await
            }
        });
        let ticker = tokio::spawn({
            let shared = shared.clone();
            let cancel = cancel.clone();
            let tick = config.tick.max(Duration::from_millis(1));
            async move {
                let mut interval = tokio::time::interval(tick);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = interval.tick() => shared.lock().tick(Instant::now()),
                    }
                }
            }
        });
        info!(%addr, agents = config.agents.len(), "simulated mesos master started");
        Ok(SimHandle {
            addr,
            shared,
            cancel,
            server,
            ticker,
        })
    }
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Direct access to the state machine (for tests that inspect state).
    pub fn master(&self) -> Arc<Mutex<Master>> {
        self.shared.master.clone()
    }

    /// Closes every event stream and stops serving.
    pub async fn shutdown(self) {
        {
            let mut m = self.shared.lock();
            for fw in m.frameworks.values_mut() {
                // Ending the streams lets the graceful shutdown finish.
                fw.conn = None;
            }
        }
        self.cancel.cancel();
        let _ = self.ticker.await;
        match tokio::time::timeout(Duration::from_secs(5), self.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => warn!(error = %e, "simulated master server error"),
            Ok(Err(e)) => warn!(error = %e, "simulated master server task failed"),
            Err(_) => warn!("simulated master did not stop within 5s"),
        }
    }
}

/// Serves until SIGINT or SIGTERM (`hydrogen sim`).
pub async fn run_until_signal(config: SimConfig) -> Result<(), SimError> {
    let handle = Simulator::start(config).await?;
    // Tools and tests read this line to find the bound port.
    println!("listening on {}", handle.url());
    wait_for_signal().await.map_err(SimError::Serve)?;
    info!("signal received; stopping the simulated master");
    handle.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> Result<(), std::io::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Result<(), std::io::Error> {
    tokio::signal::ctrl_c().await
}

#[cfg(test)]
mod tests;
