//! The simulated master's state machine: frameworks, agents, offers, tasks
//! and the agents' status update managers.
//!
//! Everything here is synchronous and driven by two inputs: calls (from the
//! HTTP layer or the admin API) and [`Master::tick`] with the current time.
//! Nothing here reads a clock: time comes in as the `now` of the calls and
//! ticks, and calls that bring none (adding or marking an agent, removing a
//! framework) use the latest `now` given. Mesos timestamps (seconds since
//! the epoch) are the wall clock reading the master was created with plus
//! the time given since. So unit tests step time by hand and never sleep;
//! the HTTP and admin layers read the clock and pass it in. Events leave through each framework's
//! [`Connection`], an unbounded channel the HTTP layer turns into a RecordIO
//! stream; dropping the sender closes the stream.
//!
//! Time-driven work (task start steps, kills, status update retries, offer
//! timeouts, framework failover timeouts) is kept in one ordered timer map,
//! so a tick costs O(expired timers + frameworks), not O(tasks); the
//! allocation pass, once per allocation interval, costs O(agents × roles).
//! Tasks are indexed by framework and task id, and by agent.
//!
//! Where the behaviour comes from: `src/master/master.cpp`, `http.cpp` and
//! `validation.cpp` of Apache Mesos 1.11 (messages are worded as there), and
//! the agent's status update manager for retries.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, warn};

use super::cluster::AgentSpec;
use super::resources::ResourceSet;
use hydrogen_mesos::is_terminal;
use hydrogen_mesos::v1::scheduler::{Call, Event, call, event};
use hydrogen_mesos::v1::{self, TaskState, task_status::Reason, task_status::Source};

/// The Mesos version the simulator speaks.
pub const MESOS_VERSION: &str = "1.11.0";

/// How many completed tasks a framework keeps for `/master/state`, as the
/// master's `--max_completed_tasks_per_framework` default.
pub(super) const MAX_COMPLETED_TASKS: usize = 1000;
/// How many removed frameworks `/master/state` keeps.
const MAX_COMPLETED_FRAMEWORKS: usize = 50;
/// The longest a filter lasts (Mesos caps `refuse_seconds` at a year).
const MAX_REFUSE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Timings of the simulated cluster.
#[derive(Debug, Clone)]
pub struct Timings {
    pub heartbeat_interval: Duration,
    pub allocation_interval: Duration,
    pub task_start_delay: Duration,
    pub task_kill_delay: Duration,
    pub offer_timeout: Option<Duration>,
    pub status_update_retry: Duration,
    pub status_update_retry_max: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(15),
            allocation_interval: Duration::from_secs(1),
            task_start_delay: Duration::from_millis(300),
            task_kill_delay: Duration::from_millis(100),
            offer_timeout: None,
            status_update_retry: Duration::from_secs(10),
            status_update_retry_max: Duration::from_secs(600),
        }
    }
}

/// Whether this master leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    Leading,
    /// Not the leader; `leader` is `host:port` of the one that is, if known.
    Following {
        leader: Option<String>,
    },
}

/// The event channel of one subscription.
#[derive(Debug)]
pub struct Connection {
    pub stream_id: String,
    pub tx: UnboundedSender<Event>,
}

/// A refused scheduler call: HTTP status and the master's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub message: String,
}

impl Rejection {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// What became of a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeOutcome {
    Subscribed {
        framework_id: String,
    },
    /// An ERROR event was sent and the stream closed.
    Refused {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum AgentState {
    Active,
    Unreachable { since: f64 },
    Gone,
}

/// A simulated agent.
#[derive(Debug)]
pub struct Agent {
    pub id: String,
    pub hostname: String,
    pub ip: String,
    pub total: ResourceSet,
    /// Neither used by tasks nor offered.
    pub free: ResourceSet,
    pub used: ResourceSet,
    pub offered: ResourceSet,
    pub attributes: Vec<v1::Attribute>,
    pub state: AgentState,
    pub registered_time: f64,
    /// (framework id, task id) of the tasks on this agent.
    pub tasks: HashSet<(String, String)>,
    pub offers: HashSet<String>,
    /// (framework id, executor id) ⇒ the executor's own resources, held
    /// from its first task's launch until its last task on this agent
    /// ends (`Slave::addExecutor` / `removeExecutor` in the master).
    pub executors: HashMap<(String, String), ResourceSet>,
}

/// A task as the master (and its agent) know it.
#[derive(Debug, Clone)]
pub struct Task {
    pub info: v1::TaskInfo,
    pub framework_id: String,
    pub agent_id: String,
    pub executor_id: Option<String>,
    /// The executor's info when the task runs under one (LAUNCH with an
    /// ExecutorInfo, or LAUNCH_GROUP); `None` for command tasks, which
    /// real masters do not list under `executors`.
    pub executor_info: Option<v1::ExecutorInfo>,
    /// The executor's container, for a task of a task group (nested).
    pub parent_container_id: Option<String>,
    pub role: String,
    pub resources: ResourceSet,
    /// The latest state the agent reports.
    pub state: TaskState,
    /// Set while the agent is unreachable: the state the master reported
    /// (TASK_UNREACHABLE or TASK_LOST).
    pub unreachable: Option<TaskState>,
    /// The agent's status update queue; the front is in flight.
    pub pending: VecDeque<v1::TaskStatus>,
    pub retry_backoff: Duration,
    /// Bumped whenever retry timers are rescheduled, to void older ones.
    pub retry_gen: u64,
    /// Bumped when a kill or fault supersedes the scheduled lifecycle steps.
    pub step_gen: u64,
    pub killing: bool,
    pub healthy: Option<bool>,
    pub ip: String,
    pub network_name: Option<String>,
    pub container_id: String,
    /// State history for `/master/state` (state, timestamp, healthy).
    pub statuses: Vec<(TaskState, f64, Option<bool>)>,
}

impl Task {
    /// The state reconciliation reports: the in-flight update's state if
    /// any (so frameworks see updates in order), else the latest.
    pub fn status_update_state(&self) -> TaskState {
        self.pending.front().map_or(self.state, |s| s.state())
    }
}

/// A registered framework.
#[derive(Debug)]
pub struct Framework {
    pub id: String,
    pub info: v1::FrameworkInfo,
    pub roles: Vec<String>,
    pub suppressed: HashSet<String>,
    /// Role ⇒ agent id ⇒ until when this framework refuses the agent's
    /// resources for that role (Mesos keeps `offerFilters[role][agent]`, and
    /// a REVIVE naming roles clears only theirs).
    pub filters: HashMap<String, HashMap<String, Instant>>,
    pub offers: HashSet<String>,
    pub tasks: HashMap<String, Task>,
    pub completed_tasks: VecDeque<Task>,
    pub conn: Option<Connection>,
    pub next_heartbeat: Instant,
    /// Bumped on each disconnection so a stale failover timer is ignored.
    pub disconnect_gen: u64,
    pub registered_time: f64,
    /// When a known framework last subscribed again (failover).
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
}

impl Framework {
    pub fn has_capability(&self, cap: v1::framework_info::capability::Type) -> bool {
        self.info.capabilities.iter().any(|c| c.r#type() == cap)
    }
    pub fn partition_aware(&self) -> bool {
        self.has_capability(v1::framework_info::capability::Type::PartitionAware)
    }
    pub fn refinement(&self) -> bool {
        self.has_capability(v1::framework_info::capability::Type::ReservationRefinement)
    }
    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }
    /// A task the master knows as running on a reachable agent (Mesos's
    /// `Framework::getTask`: unreachable tasks are kept apart).
    pub fn known_task(&self, task_id: &str) -> Option<&Task> {
        self.tasks.get(task_id).filter(|t| t.unreachable.is_none())
    }
}

/// An outstanding offer.
#[derive(Debug, Clone)]
pub struct OfferRec {
    pub id: String,
    pub framework_id: String,
    pub agent_id: String,
    pub role: String,
    pub resources: ResourceSet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Starting,
    Running,
    Healthy,
    Killed,
    /// The agent's isolators refuse the container (see
    /// `validation::agent_launch_failure`).
    LaunchFailed,
}

#[derive(Debug, Clone)]
pub(super) enum Timer {
    TaskStep {
        framework_id: String,
        task_id: String,
        step: Step,
        generation: u64,
    },
    Retry {
        framework_id: String,
        task_id: String,
        generation: u64,
    },
    FailoverTimeout {
        framework_id: String,
        generation: u64,
    },
    OfferTimeout {
        offer_id: String,
    },
}

/// The simulated master.
#[derive(Debug)]
pub struct Master {
    /// The latest time the master was given: its "now" for calls that
    /// bring no time of their own.
    pub(super) now: Instant,
    /// Seconds since the epoch at `now`, for Mesos timestamps.
    pub(super) wall_now: f64,
    /// The time and the wall clock reading the master was created with;
    /// `wall_now` moves on from them with the given times.
    origin: (Instant, f64),
    pub timings: Timings,
    pub master_id: String,
    pub address: SocketAddr,
    pub hostname: String,
    pub leadership: Leadership,
    pub leaderless_until: Option<Instant>,
    pub stalled_until: Option<Instant>,
    /// Until then ACKNOWLEDGE calls are dropped, so agents keep retrying
    /// their in-flight updates (a slow acknowledgement path).
    pub acks_ignored_until: Option<Instant>,
    /// ACCEPTs still to be met by a leadership loss (`/sim/master/lose-on-accept`).
    pub accepts_lost: u32,
    pub offers_paused: bool,
    /// Agents drained by the operator (DRAIN_AGENT): deactivated, out of
    /// offers until REACTIVATE_AGENT (see `drain.rs`).
    pub draining: HashMap<String, super::drain::Drain>,
    /// The maintenance schedule, machine modes and inverse offers.
    pub maintenance: super::maintenance::Maintenance,
    pub frameworks: HashMap<String, Framework>,
    /// Framework ids in registration order, for round-robin allocation.
    pub(super) framework_order: Vec<String>,
    pub completed_frameworks: VecDeque<Framework>,
    removed_frameworks: HashSet<String>,
    pub agents: BTreeMap<String, Agent>,
    pub offers: HashMap<String, OfferRec>,
    timers: BTreeMap<(Instant, u64), Timer>,
    seq: u64,
    next_framework: u64,
    next_agent: u64,
    next_offer: u64,
    next_ip: u32,
    pub(super) next_allocation: Instant,
    pub(super) round_robin: usize,
    pub start_time: f64,
    pub elected_time: f64,
    /// Counters for benchmarks and tests; nothing reads them to decide.
    pub stats: SimStats,
}

/// What the master did, counted (read-only for everything but the master).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Allocation passes that made at least one offer.
    pub allocation_passes: u64,
    /// OFFERS events sent (one per framework and productive pass).
    pub offer_events: u64,
    /// Offers made.
    pub offers_made: u64,
    /// Tasks launched by ACCEPTs.
    pub tasks_launched: u64,
    /// `offer_events` when the latest task was launched: with a snapshot of
    /// `offer_events` taken before a deploy, the number of offer cycles the
    /// deploy needed.
    pub offer_events_at_last_launch: u64,
    /// Status updates the agents hold unacknowledged (every task's queue,
    /// in flight or behind), kept as the queues change so that waiting for
    /// it to reach 0 does not walk every task.
    pub unacknowledged_updates: u64,
    /// Unacknowledged updates sent again (the agents' retry timer fired).
    pub updates_resent: u64,
    /// ACKNOWLEDGE calls for an update that was not in flight (a duplicate,
    /// or one for a task the agent no longer has).
    pub stale_acknowledgements: u64,
}

/// Seconds since the epoch, as Mesos timestamps are.
pub fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn random_uuid_bytes() -> Bytes {
    Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes())
}

pub(super) fn event_of(kind: event::Type) -> Event {
    Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

fn update_event(status: v1::TaskStatus) -> Event {
    Event {
        update: Some(event::Update { status }),
        ..event_of(event::Type::Update)
    }
}

fn error_event(message: &str) -> Event {
    Event {
        error: Some(event::Error {
            message: message.to_string(),
        }),
        ..event_of(event::Type::Error)
    }
}

/// A status update the master makes itself: no uuid, nothing to ack.
pub(super) fn master_status(
    task_id: &str,
    agent_id: Option<&str>,
    state: TaskState,
    reason: Reason,
    message: &str,
    timestamp: f64,
) -> v1::TaskStatus {
    let mut s = v1::TaskStatus {
        task_id: v1::TaskId {
            value: task_id.to_string(),
        },
        message: Some(message.to_string()),
        agent_id: agent_id.map(|a| v1::AgentId {
            value: a.to_string(),
        }),
        timestamp: Some(timestamp),
        ..Default::default()
    };
    s.set_state(state);
    s.set_source(Source::Master);
    s.set_reason(reason);
    s
}

/// Whether stout's `Duration::create(seconds)` succeeds: the nanoseconds
/// must fit an int64 (NaN passes, as its comparisons are false).
pub(super) fn duration_create_ok(seconds: f64) -> bool {
    let nanos = seconds * 1e9;
    !(nanos > i64::MAX as f64 || nanos < i64::MIN as f64)
}

/// A double as stout's `stringify` (an `ostream` with the default `%g`
/// style, 6 significant digits): `3600`, `0.5`, `1e+10`, `inf`.
pub(crate) fn stringify_f64(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{v:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |t: &str| -> String {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = usize::try_from(5 - exp).unwrap_or(0);
        trim(&format!("{v:.decimals$}"))
    }
}

/// `common::validation::validateID` (src/common/validation.cpp), used for
/// task, executor and framework ids.
pub(super) fn validate_id(id: &str) -> Result<(), String> {
    const NAME_MAX: usize = 255;
    if id.is_empty() {
        return Err("ID must not be empty".into());
    }
    if id.len() > NAME_MAX {
        return Err(format!("ID must not be greater than {NAME_MAX} characters"));
    }
    if id == "." || id == ".." {
        return Err(format!("'{id}' is disallowed"));
    }
    if id
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'/' || b == b'\\')
    {
        return Err(format!("'{id}' contains invalid characters"));
    }
    Ok(())
}

/// The container status the agent attaches to a task's updates (and the
/// master repeats from the latest one, `protobuf::getTaskContainerStatus`).
///
/// A task of a task group runs in a container nested in its executor's:
/// its id names the parent, and it reports no network of its own (it
/// shares the executor's), as a real agent's status shows.
fn container_status(task: &Task) -> v1::ContainerStatus {
    if let Some(parent) = &task.parent_container_id {
        return v1::ContainerStatus {
            container_id: Some(v1::ContainerId {
                value: task.container_id.clone(),
                parent: Some(Box::new(v1::ContainerId {
                    value: parent.clone(),
                    parent: None,
                })),
            }),
            network_infos: Vec::new(),
            executor_pid: None,
        };
    }
    v1::ContainerStatus {
        container_id: Some(v1::ContainerId {
            value: task.container_id.clone(),
            parent: None,
        }),
        network_infos: vec![v1::NetworkInfo {
            ip_addresses: vec![v1::network_info::IpAddress {
                protocol: None,
                ip_address: Some(task.ip.clone()),
            }],
            name: task.network_name.clone(),
            ..Default::default()
        }],
        executor_pid: None,
    }
}

/// Mesos's role name check (`roles::validate`).
pub(super) fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.starts_with('/') {
        return Err(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Err(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Err(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    let components: Vec<&str> = role.split('/').filter(|c| !c.is_empty()).collect();
    if components.is_empty() {
        return Err("Role names cannot be the empty string".into());
    }
    for c in components {
        match c {
            "." => return Err(format!("Role '{role}' cannot include '.' as a component")),
            ".." => return Err(format!("Role '{role}' cannot include '..' as a component")),
            "*" => return Err(format!("Role '{role}' cannot include '*' as a component")),
            _ => {}
        }
        if c.starts_with('-') {
            return Err(format!(
                "Role component '{c}' is invalid because it starts with a dash"
            ));
        }
        if c.chars().any(|ch| ch.is_whitespace() || ch == '\u{8}') {
            return Err(format!(
                "Role component '{c}' is invalid because it contains backspace or whitespace"
            ));
        }
    }
    Ok(())
}

/// `validation::framework::validate` plus the master's own checks.
fn validate_framework_info(info: &v1::FrameworkInfo) -> Result<Vec<String>, String> {
    use v1::framework_info::capability::Type as Cap;
    let multi_role = info
        .capabilities
        .iter()
        .any(|c| c.r#type() == Cap::MultiRole);
    // `role` is deprecated in the proto, but its presence is exactly what
    // the master checks for MULTI_ROLE frameworks.
    #[allow(deprecated)]
    let has_role = info.role.is_some();
    if multi_role {
        if has_role {
            return Err(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .into(),
            );
        }
        let mut seen = HashSet::new();
        let dups: Vec<&String> = info.roles.iter().filter(|r| !seen.insert(*r)).collect();
        if !dups.is_empty() {
            return Err(format!(
                "'FrameworkInfo.roles' contains duplicate items: {{ {} }}",
                dups.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for r in &info.roles {
            validate_role(r)
                .map_err(|e| format!("'FrameworkInfo.roles' contains invalid role: {e}"))?;
        }
    } else {
        if !info.roles.is_empty() {
            return Err("'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable".into());
        }
        validate_role(info.role())
            .map_err(|e| format!("'FrameworkInfo.role' is not a valid role: {e}"))?;
    }
    if let Some(id) = info.id.as_ref().filter(|id| !id.value.is_empty()) {
        validate_id(&id.value)?;
    }
    Ok(if multi_role {
        info.roles.clone()
    } else {
        vec![info.role().to_string()]
    })
}

impl Master {
    /// A master created at `now`, when the wall clock read `wall` (seconds
    /// since the epoch, see [`wall_clock`]).
    pub fn new(
        timings: Timings,
        address: SocketAddr,
        hostname: String,
        now: Instant,
        wall: f64,
    ) -> Self {
        let now_wall = wall;
        Self {
            now,
            wall_now: wall,
            origin: (now, wall),
            timings,
            master_id: uuid::Uuid::new_v4().to_string(),
            address,
            hostname,
            leadership: Leadership::Leading,
            leaderless_until: None,
            stalled_until: None,
            acks_ignored_until: None,
            accepts_lost: 0,
            offers_paused: false,
            draining: HashMap::new(),
            maintenance: Default::default(),
            frameworks: HashMap::new(),
            framework_order: Vec::new(),
            completed_frameworks: VecDeque::new(),
            removed_frameworks: HashSet::new(),
            agents: BTreeMap::new(),
            offers: HashMap::new(),
            timers: BTreeMap::new(),
            seq: 0,
            next_framework: 0,
            next_agent: 0,
            next_offer: 0,
            next_ip: 0,
            next_allocation: now,
            round_robin: 0,
            start_time: now_wall,
            elected_time: now_wall,
            stats: SimStats::default(),
        }
    }

    // ---- plumbing -------------------------------------------------------

    pub(super) fn schedule(&mut self, at: Instant, timer: Timer) {
        self.seq += 1;
        self.timers.insert((at, self.seq), timer);
    }

    pub(super) fn is_stalled(&self, now: Instant) -> bool {
        self.stalled_until.is_some_and(|t| now < t)
    }

    /// Takes the time a call brings as the master's "now" (times only move
    /// forward), and the wall clock with it.
    pub(super) fn observe(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
            self.wall_now = self.origin.1 + now.duration_since(self.origin.0).as_secs_f64();
        }
    }

    /// Sends an event to a framework's stream if it is connected (and the
    /// master is not stalled: a stalled master is silent).
    pub(super) fn send(&mut self, framework_id: &str, event: Event) {
        if self.is_stalled(self.now) {
            debug!(framework_id, event = ?event.r#type(), "master stalled: event not sent");
            return;
        }
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if let Some(conn) = &fw.conn {
            debug!(framework_id, event = ?event.r#type(), "sending event");
            if conn.tx.send(event).is_err() {
                // The stream's reader is gone; the HTTP layer reports the
                // disconnection, which does the bookkeeping.
                debug!(framework_id, "event stream already closed");
            }
        }
    }

    pub fn master_info(&self) -> v1::MasterInfo {
        let ip = match self.address.ip() {
            std::net::IpAddr::V4(v4) => u32::from_ne_bytes(v4.octets()),
            std::net::IpAddr::V6(_) => 0,
        };
        v1::MasterInfo {
            id: self.master_id.clone(),
            ip,
            port: u32::from(self.address.port()),
            pid: Some(format!("master@{}", self.address)),
            hostname: Some(self.hostname.clone()),
            version: Some(MESOS_VERSION.to_string()),
            address: Some(v1::Address {
                hostname: Some(self.hostname.clone()),
                ip: Some(self.address.ip().to_string()),
                port: i32::from(self.address.port()),
            }),
            // What a 1.12 master advertises (`MasterInfo` in master.cpp).
            capabilities: [
                v1::master_info::capability::Type::AgentUpdate,
                v1::master_info::capability::Type::AgentDraining,
                v1::master_info::capability::Type::QuotaV2,
            ]
            .into_iter()
            .map(|t| v1::master_info::Capability {
                r#type: Some(t as i32),
            })
            .collect(),
            ..Default::default()
        }
    }

    /// Whether scheduler calls must be redirected or refused because this
    /// master does not lead. `Some(Ok(leader))` ⇒ 307 to `leader`;
    /// `Some(Err(()))` ⇒ 503 (no leader known).
    pub fn leader_redirect(&mut self, now: Instant) -> Option<Result<String, ()>> {
        self.observe(now);
        if self.leaderless_until.is_some_and(|t| now >= t) {
            self.leaderless_until = None;
        }
        if self.leaderless_until.is_some() {
            return Some(Err(()));
        }
        match &self.leadership {
            Leadership::Leading => None,
            Leadership::Following { leader: Some(l) } => Some(Ok(l.clone())),
            Leadership::Following { leader: None } => Some(Err(())),
        }
    }

    // ---- agents ---------------------------------------------------------

    /// Registers an agent; returns its id.
    pub fn add_agent(&mut self, spec: &AgentSpec) -> Result<String, String> {
        spec.validate()?;
        let total = spec.resource_set()?;
        let attributes = spec.attribute_protos()?;
        let id = format!("{}-S{}", self.master_id, self.next_agent);
        self.next_agent += 1;
        let n = self.next_agent;
        let agent = Agent {
            id: id.clone(),
            hostname: spec.hostname.clone(),
            ip: format!("10.0.{}.{}", (n / 250) % 250, n % 250 + 1),
            free: total.clone(),
            total,
            used: ResourceSet::new(),
            offered: ResourceSet::new(),
            attributes,
            state: AgentState::Active,
            registered_time: self.wall_now,
            tasks: HashSet::new(),
            offers: HashSet::new(),
            executors: HashMap::new(),
        };
        info!(agent_id = %id, hostname = %spec.hostname, "agent registered");
        self.agents.insert(id.clone(), agent);
        Ok(id)
    }

    // ---- subscription ---------------------------------------------------

    /// SUBSCRIBE: registers a new framework, or takes over a known one.
    pub fn subscribe(
        &mut self,
        now: Instant,
        subscribe: call::Subscribe,
        conn: Connection,
    ) -> SubscribeOutcome {
        self.observe(now);
        let mut info = subscribe.framework_info;
        info!(name = %info.name, "received subscription request");
        let refuse = |message: String, conn: Connection| {
            info!(name = %info.name, error = %message, "refusing subscription");
            // The ERROR event goes out even if stalled would hide it: the
            // stream is closed right after, which a client sees anyway.
            let _ = conn.tx.send(error_event(&message));
            SubscribeOutcome::Refused { message }
        };
        let roles = match validate_framework_info(&info) {
            Ok(r) => r,
            Err(e) => return refuse(e, conn),
        };
        let given_id = info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|v| !v.is_empty());
        // The rest of `Master::validateFramework` (master.cpp), in its
        // order: suppressed roles, removed framework, failover timeout.
        if let Some(r) = subscribe
            .suppressed_roles
            .iter()
            .find(|r| !roles.contains(r))
        {
            return refuse(
                format!("Suppressed role '{r}' is not contained in the list of roles"),
                conn,
            );
        }
        let suppressed: HashSet<String> = subscribe.suppressed_roles.into_iter().collect();
        if let Some(id) = &given_id
            && self.removed_frameworks.contains(id)
        {
            return refuse("Framework has been removed".into(), conn);
        }
        let timeout = info.failover_timeout();
        if !duration_create_ok(timeout) {
            return refuse(
                format!(
                    "The framework failover_timeout ({}) is invalid",
                    stringify_f64(timeout)
                ),
                conn,
            );
        }

        let framework_id = match given_id {
            None => {
                let id = format!("{}-{:04}", self.master_id, self.next_framework);
                self.next_framework += 1;
                info.id = Some(v1::FrameworkId { value: id.clone() });
                info!(framework_id = %id, name = %info.name, "framework registered");
                self.frameworks.insert(
                    id.clone(),
                    Framework {
                        id: id.clone(),
                        info,
                        roles,
                        suppressed,
                        filters: HashMap::new(),
                        offers: HashSet::new(),
                        tasks: HashMap::new(),
                        completed_tasks: VecDeque::new(),
                        conn: Some(conn),
                        next_heartbeat: now,
                        disconnect_gen: 0,
                        registered_time: self.wall_now,
                        reregistered_time: None,
                        unregistered_time: None,
                    },
                );
                self.framework_order.push(id.clone());
                id
            }
            Some(id) => {
                let known = self.frameworks.contains_key(&id);
                if let Some(fw) = self.frameworks.get(&id) {
                    if fw.info.principal != info.principal {
                        return refuse(
                            "Changing framework's principal is not allowed.".into(),
                            conn,
                        );
                    }
                    // `Master::_subscribe` (master.cpp) calls
                    // `validation::framework::preserveImmutableFields`
                    // before `validateUpdate`: a changed `user` or
                    // `checkpoint` is silently kept as first registered,
                    // never refused (`failover_framework` keeps them).
                } else {
                    // Unknown id: after a real master failover the master
                    // recovers the framework from its SUBSCRIBE.
                    info!(framework_id = %id, "recovering framework from its subscription");
                    self.frameworks.insert(
                        id.clone(),
                        Framework {
                            id: id.clone(),
                            info: info.clone(),
                            roles: roles.clone(),
                            suppressed: HashSet::new(),
                            filters: HashMap::new(),
                            offers: HashSet::new(),
                            tasks: HashMap::new(),
                            completed_tasks: VecDeque::new(),
                            conn: None,
                            next_heartbeat: now,
                            disconnect_gen: 0,
                            registered_time: self.wall_now,
                            reregistered_time: None,
                            unregistered_time: None,
                        },
                    );
                    self.framework_order.push(id.clone());
                }
                self.failover_framework(now, &id, info, roles, suppressed, conn);
                if known && let Some(fw) = self.frameworks.get_mut(&id) {
                    fw.reregistered_time = Some(self.wall_now);
                }
                id
            }
        };

        let subscribed = Event {
            subscribed: Some(event::Subscribed {
                framework_id: v1::FrameworkId {
                    value: framework_id.clone(),
                },
                heartbeat_interval_seconds: Some(self.timings.heartbeat_interval.as_secs_f64()),
                master_info: Some(self.master_info()),
            }),
            ..event_of(event::Type::Subscribed)
        };
        self.send(&framework_id, subscribed);
        self.send(&framework_id, event_of(event::Type::Heartbeat));
        if let Some(fw) = self.frameworks.get_mut(&framework_id) {
            fw.next_heartbeat = now + self.timings.heartbeat_interval;
        }
        self.resend_pending(now, &framework_id, None);
        SubscribeOutcome::Subscribed { framework_id }
    }

    /// A known framework subscribes again: the old stream (if any) gets
    /// "Framework failed over" and is closed; outstanding offers are
    /// recovered without RESCIND.
    fn failover_framework(
        &mut self,
        _now: Instant,
        id: &str,
        mut info: v1::FrameworkInfo,
        roles: Vec<String>,
        suppressed: HashSet<String>,
        conn: Connection,
    ) {
        if let Some(fw) = self.frameworks.get_mut(id) {
            if let Some(old) = fw.conn.take() {
                info!(framework_id = %id, "framework failed over: closing the previous stream");
                let _ = old.tx.send(error_event("Framework failed over"));
            }
            // Immutable fields stay as first registered
            // (`validation::framework::preserveImmutableFields`).
            info.user = fw.info.user.clone();
            info.checkpoint = fw.info.checkpoint;
            info.id = Some(v1::FrameworkId {
                value: id.to_string(),
            });
            fw.info = info;
            fw.roles = roles;
            fw.suppressed = suppressed;
            fw.conn = Some(conn);
            fw.disconnect_gen += 1;
            fw.unregistered_time = None;
        }
        self.recover_framework_offers(id, false);
    }

    /// The stream of `framework_id` with `stream_id` closed (client went
    /// away). Starts the failover timeout.
    pub fn disconnected(&mut self, now: Instant, framework_id: &str, stream_id: &str) {
        self.observe(now);
        let timeout = {
            let Some(fw) = self.frameworks.get_mut(framework_id) else {
                return;
            };
            if fw.conn.as_ref().is_none_or(|c| c.stream_id != stream_id) {
                return;
            }
            fw.conn = None;
            fw.disconnect_gen += 1;
            let t = fw.info.failover_timeout().max(0.0);
            info!(framework_id, failover_timeout = t, "framework disconnected");
            (Duration::from_secs_f64(t.min(1e10)), fw.disconnect_gen)
        };
        self.recover_framework_offers(framework_id, false);
        self.schedule(
            now + timeout.0,
            Timer::FailoverTimeout {
                framework_id: framework_id.to_string(),
                generation: timeout.1,
            },
        );
    }

    /// Removes every outstanding offer of a framework, sending RESCIND when
    /// `rescind`.
    pub(super) fn recover_framework_offers(&mut self, framework_id: &str, rescind: bool) {
        self.drop_framework_inverse_offers(framework_id);
        let ids: Vec<String> = self
            .frameworks
            .get(framework_id)
            .map(|f| f.offers.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.remove_offer(&id, rescind, None);
        }
    }

    /// Removes an offer and returns its resources to the agent, optionally
    /// filtering them from the framework for `refuse`.
    pub(super) fn remove_offer(
        &mut self,
        offer_id: &str,
        rescind: bool,
        refuse: Option<(Instant, Duration)>,
    ) -> Option<OfferRec> {
        let offer = self.offers.remove(offer_id)?;
        if let Some(agent) = self.agents.get_mut(&offer.agent_id) {
            agent.offers.remove(offer_id);
            agent.offered.subtract(&offer.resources);
            if agent.state == AgentState::Active {
                agent.free.add(&offer.resources);
            }
        }
        if let Some(fw) = self.frameworks.get_mut(&offer.framework_id) {
            fw.offers.remove(offer_id);
            if let Some((now, d)) = refuse {
                fw.filters
                    .entry(offer.role.clone())
                    .or_default()
                    .insert(offer.agent_id.clone(), now + d);
            }
        }
        if rescind {
            let ev = Event {
                rescind: Some(event::Rescind {
                    offer_id: v1::OfferId {
                        value: offer_id.to_string(),
                    },
                }),
                ..event_of(event::Type::Rescind)
            };
            self.send(&offer.framework_id.clone(), ev);
        }
        Some(offer)
    }

    /// How long a DECLINE's or ACCEPT's leftover resources are filtered,
    /// as `HierarchicalAllocatorProcess::recoverResources` (hierarchical.cpp)
    /// decides it: `refuse_seconds` (proto default 5 when `filters` is
    /// absent); above 365 days ⇒ 365 days; negative ⇒ the default 5 s;
    /// exactly 0 ⇒ no filter; any filter lasts at least one allocation
    /// interval (MESOS-4302). NaN casts to a negative duration on x86, so
    /// it ends up as one allocation interval.
    pub(super) fn refuse_duration(&self, filters: Option<&v1::Filters>) -> Option<Duration> {
        let default = v1::Filters::default().refuse_seconds();
        let secs = filters.map_or(default, |f| f.refuse_seconds());
        let timeout = if secs > MAX_REFUSE.as_secs_f64() {
            MAX_REFUSE
        } else if secs < 0.0 {
            Duration::from_secs_f64(default)
        } else if secs.is_nan() {
            Duration::ZERO
        } else if secs == 0.0 {
            return None;
        } else {
            Duration::from_secs_f64(secs)
        };
        Some(timeout.max(self.timings.allocation_interval))
    }

    // ---- scheduler calls -------------------------------------------------

    /// The checks `http.cpp` makes before dispatching a non-SUBSCRIBE call.
    pub fn check_call(&self, framework_id: &str, stream_id: Option<&str>) -> Result<(), Rejection> {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return Err(Rejection::new(400, "Framework cannot be found"));
        };
        let Some(conn) = &fw.conn else {
            return Err(Rejection::new(403, "Framework is not subscribed"));
        };
        let Some(stream_id) = stream_id else {
            return Err(Rejection::new(
                400,
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
            ));
        };
        if stream_id != conn.stream_id {
            return Err(Rejection::new(
                400,
                format!(
                    "The stream ID '{stream_id}' included in this request didn't match the stream ID currently associated with framework ID {framework_id}"
                ),
            ));
        }
        Ok(())
    }

    /// UPDATE_FRAMEWORK (`Master::updateFramework`, master.cpp): the same
    /// checks a SUBSCRIBE makes, then `validateUpdate` against the
    /// registered info (no `preserveImmutableFields` here: a changed `user`
    /// or `checkpoint` is refused), then the new roles and suppressed roles
    /// take effect; offers allocated to a removed role are rescinded. Tasks
    /// stay as they are, allocated to the role they were launched in.
    pub fn update_framework(
        &mut self,
        now: Instant,
        framework_id: &str,
        update: call::UpdateFramework,
    ) -> Result<(), Rejection> {
        self.observe(now);
        let mut info = update.framework_info;
        let invalid =
            |e: String| Rejection::new(400, format!("Supplied FrameworkInfo is not valid: {e}"));
        let roles = validate_framework_info(&info).map_err(invalid)?;
        let timeout = info.failover_timeout();
        if !duration_create_ok(timeout) {
            return Err(invalid(format!(
                "The framework failover_timeout ({}) is invalid",
                stringify_f64(timeout)
            )));
        }
        let Some(fw) = self.frameworks.get(framework_id) else {
            return Err(Rejection::new(400, "Framework cannot be found"));
        };
        let not_update =
            |e: String| Rejection::new(400, format!("FrameworkInfo update is not valid: {e}"));
        if fw.info.principal != info.principal {
            return Err(not_update(
                "Changing framework's principal is not allowed.".into(),
            ));
        }
        if fw.info.user != info.user {
            return Err(not_update(format!(
                "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '{}' to '{}'",
                fw.info.user, info.user
            )));
        }
        if fw.info.checkpoint() != info.checkpoint() {
            return Err(not_update(format!(
                "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from '{}' to '{}'",
                fw.info.checkpoint(),
                info.checkpoint()
            )));
        }
        // `validateSuppressedRoles`: stout prints a set sorted, as `{ a, b }`.
        let suppressed: BTreeSet<String> = update.suppressed_roles.into_iter().collect();
        let outside: Vec<&str> = suppressed
            .iter()
            .filter(|r| !roles.contains(r))
            .map(String::as_str)
            .collect();
        if !outside.is_empty() {
            return Err(Rejection::new(
                400,
                format!(
                    "'UpdateFramework' call is not valid: Suppressed roles {{ {} }} are not contained in the set of roles",
                    outside.join(", ")
                ),
            ));
        }
        info!(framework_id, roles = ?roles, suppressed = ?suppressed, "processing UPDATE_FRAMEWORK");
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return Err(Rejection::new(400, "Framework cannot be found"));
        };
        info.id = Some(v1::FrameworkId {
            value: framework_id.to_string(),
        });
        // `HierarchicalAllocatorProcess::updateFramework`: a removed role
        // loses its filters; a role no longer suppressed is revived, which
        // clears its filters too.
        let old_suppressed = std::mem::take(&mut fw.suppressed);
        fw.filters.retain(|role, _| {
            let revived = old_suppressed.contains(role) && !suppressed.contains(role);
            roles.contains(role) && !revived
        });
        fw.suppressed = suppressed.into_iter().collect();
        fw.roles = roles;
        fw.info = info;
        let stale: Vec<String> = fw
            .offers
            .iter()
            .filter(|id| {
                self.offers
                    .get(*id)
                    .is_some_and(|o| !fw.roles.contains(&o.role))
            })
            .cloned()
            .collect();
        for id in stale {
            self.remove_offer(&id, true, None);
        }
        Ok(())
    }

    /// Dispatches a validated, authorized non-SUBSCRIBE call.
    pub fn handle_call(&mut self, now: Instant, framework_id: &str, call: Call) {
        self.observe(now);
        use call::Type as T;
        debug!(framework_id, call = ?call.r#type(), "processing call");
        match call.r#type() {
            T::Teardown => {
                info!(framework_id, "processing TEARDOWN");
                self.remove_framework(framework_id);
            }
            T::Accept => {
                if let Some(a) = call.accept {
                    self.accept(now, framework_id, a);
                }
            }
            T::Decline => {
                if let Some(d) = call.decline {
                    let refuse = self.refuse_duration(d.filters.as_ref());
                    for id in d.offer_ids {
                        if self
                            .offers
                            .get(&id.value)
                            .is_some_and(|o| o.framework_id == framework_id)
                        {
                            self.remove_offer(&id.value, false, refuse.map(|r| (now, r)));
                        } else {
                            warn!(framework_id, offer_id = %id.value, "ignoring decline of an offer that is no longer valid");
                        }
                    }
                }
            }
            T::Revive => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                // `HierarchicalAllocatorProcess::reviveRoles`: the named
                // roles (all when none) lose their filters and suppression.
                if let Some(fw) = self.frameworks.get_mut(framework_id) {
                    if roles.is_empty() {
                        fw.filters.clear();
                        fw.suppressed.clear();
                    } else {
                        for r in roles {
                            fw.filters.remove(&r);
                            fw.suppressed.remove(&r);
                        }
                    }
                }
            }
            T::Suppress => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                if let Some(fw) = self.frameworks.get_mut(framework_id) {
                    let roles = if roles.is_empty() {
                        fw.roles.clone()
                    } else {
                        roles
                    };
                    fw.suppressed.extend(roles);
                }
            }
            T::Kill => {
                if let Some(k) = call.kill {
                    self.kill(
                        now,
                        framework_id,
                        &k.task_id.value,
                        k.agent_id.map(|a| a.value),
                    );
                }
            }
            T::Acknowledge => {
                if let Some(a) = call.acknowledge {
                    self.acknowledge(
                        now,
                        framework_id,
                        &a.agent_id.value,
                        &a.task_id.value,
                        &a.uuid,
                    );
                }
            }
            T::Reconcile => {
                let tasks = call.reconcile.map(|r| r.tasks).unwrap_or_default();
                self.reconcile(framework_id, tasks);
            }
            T::AcceptInverseOffers => {
                if let Some(a) = call.accept_inverse_offers {
                    self.answer_inverse_offers(
                        now,
                        framework_id,
                        &a.inverse_offer_ids,
                        true,
                        a.filters.as_ref(),
                    );
                }
            }
            T::DeclineInverseOffers => {
                if let Some(d) = call.decline_inverse_offers {
                    self.answer_inverse_offers(
                        now,
                        framework_id,
                        &d.inverse_offer_ids,
                        false,
                        d.filters.as_ref(),
                    );
                }
            }
            T::Shutdown | T::Message | T::Request => {
                debug!(framework_id, call = ?call.r#type(), "accepted, no simulated effect");
            }
            other => {
                debug!(framework_id, call = ?other, "call not modelled by the simulator; ignored");
            }
        }
    }

    /// Removes a framework (TEARDOWN or failover timeout): its offers go,
    /// its tasks are killed, its stream is closed.
    pub fn remove_framework(&mut self, framework_id: &str) {
        self.recover_framework_offers(framework_id, false);
        let Some(mut fw) = self.frameworks.remove(framework_id) else {
            return;
        };
        info!(framework_id, "removing framework");
        self.framework_order.retain(|id| id != framework_id);
        fw.conn = None;
        let now_wall = self.wall_now;
        for agent in self.agents.values_mut() {
            let charges: Vec<(String, String)> = agent
                .executors
                .keys()
                .filter(|(f, _)| f == framework_id)
                .cloned()
                .collect();
            for key in charges {
                if let Some(r) = agent.executors.remove(&key) {
                    agent.used.subtract(&r);
                    if agent.state == AgentState::Active {
                        agent.free.add(&r);
                    }
                }
            }
        }
        for (_, mut task) in fw.tasks.drain() {
            if let Some(agent) = self.agents.get_mut(&task.agent_id) {
                agent
                    .tasks
                    .remove(&(framework_id.to_string(), task.info.task_id.value.clone()));
                if !is_terminal(task.state) {
                    agent.used.subtract(&task.resources);
                    if agent.state == AgentState::Active {
                        agent.free.add(&task.resources);
                    }
                }
            }
            if !is_terminal(task.state) {
                task.state = TaskState::TaskKilled;
                task.statuses.push((TaskState::TaskKilled, now_wall, None));
            }
            self.stats.unacknowledged_updates = self
                .stats
                .unacknowledged_updates
                .saturating_sub(task.pending.len() as u64);
            task.pending.clear();
            fw.completed_tasks.push_back(task);
        }
        while fw.completed_tasks.len() > MAX_COMPLETED_TASKS {
            fw.completed_tasks.pop_front();
        }
        fw.unregistered_time = Some(now_wall);
        self.removed_frameworks.insert(framework_id.to_string());
        self.completed_frameworks.push_back(fw);
        while self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
            self.completed_frameworks.pop_front();
        }
    }

    // ---- tasks: agent side -----------------------------------------------

    fn new_status(
        &self,
        task: &Task,
        state: TaskState,
        source: Source,
        reason: Option<Reason>,
        message: Option<String>,
    ) -> v1::TaskStatus {
        let mut s = v1::TaskStatus {
            task_id: task.info.task_id.clone(),
            message,
            agent_id: Some(v1::AgentId {
                value: task.agent_id.clone(),
            }),
            executor_id: Some(v1::ExecutorId {
                value: task
                    .executor_id
                    .clone()
                    .unwrap_or_else(|| task.info.task_id.value.clone()),
            }),
            timestamp: Some(self.wall_now),
            uuid: Some(random_uuid_bytes()),
            healthy: task.healthy,
            // A container that never launched has no status to report.
            container_status: (reason != Some(Reason::ContainerLaunchFailed))
                .then(|| container_status(task)),
            labels: task.info.labels.clone(),
            ..Default::default()
        };
        s.set_state(state);
        s.set_source(source);
        if let Some(r) = reason {
            s.set_reason(r);
        }
        s
    }

    /// The agent reports a new state for a task: it becomes the latest
    /// state at once and joins the task's reliable update queue.
    pub(super) fn agent_update(
        &mut self,
        now: Instant,
        framework_id: &str,
        task_id: &str,
        state: TaskState,
        source: Source,
        reason: Option<Reason>,
        message: Option<String>,
    ) {
        let Some(task) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(task_id))
        else {
            return;
        };
        let status = self.new_status(task, state, source, reason, message);
        let Some(task) = self
            .frameworks
            .get_mut(framework_id)
            .and_then(|f| f.tasks.get_mut(task_id))
        else {
            return;
        };
        let was_terminal = is_terminal(task.state);
        task.state = state;
        task.statuses
            .push((state, status.timestamp.unwrap_or_default(), task.healthy));
        if task.statuses.len() > 20 {
            task.statuses.remove(0);
        }
        let agent_id = task.agent_id.clone();
        let resources = task.resources.clone();
        let executor_id = task
            .executor_info
            .as_ref()
            .map(|e| e.executor_id.value.clone());
        task.pending.push_back(status);
        self.stats.unacknowledged_updates += 1;
        let first = task.pending.len() == 1;
        info!(framework_id, task_id, state = ?state, "task state changed");
        if is_terminal(state)
            && !was_terminal
            && let Some(agent) = self.agents.get_mut(&agent_id)
        {
            agent.used.subtract(&resources);
            if agent.state == AgentState::Active {
                agent.free.add(&resources);
            }
        }
        if is_terminal(state) && !was_terminal {
            self.release_idle_executor(framework_id, &agent_id, executor_id.as_deref());
        }
        if first {
            self.forward_front(now, framework_id, task_id, true);
        }
    }

    /// Sends a task's in-flight update (when the framework is connected and
    /// the agent reachable) and arms its retry timer.
    fn forward_front(
        &mut self,
        now: Instant,
        framework_id: &str,
        task_id: &str,
        reset_backoff: bool,
    ) {
        let initial = self.timings.status_update_retry;
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let connected = fw.conn.is_some();
        let Some(task) = fw.tasks.get_mut(task_id) else {
            return;
        };
        let Some(front) = task.pending.front().cloned() else {
            return;
        };
        if reset_backoff {
            task.retry_backoff = initial;
        }
        task.retry_gen += 1;
        let (generation, backoff) = (task.retry_gen, task.retry_backoff);
        let reachable = self
            .agents
            .get(&task.agent_id)
            .is_some_and(|a| a.state == AgentState::Active);
        if connected && reachable {
            self.send(framework_id, update_event(front));
        }
        if reachable {
            self.schedule(
                now + backoff,
                Timer::Retry {
                    framework_id: framework_id.to_string(),
                    task_id: task_id.to_string(),
                    generation,
                },
            );
        }
    }

    /// Re-sends every in-flight update of a framework (after it
    /// re-subscribes), or of the tasks on one agent (after it reregisters).
    fn resend_pending(&mut self, now: Instant, framework_id: &str, agent: Option<&str>) {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        let queued = |t: &&Task| !t.pending.is_empty();
        // One agent's tasks come from its own index: a storm of agents
        // re-registering must not walk the framework's every task each.
        let ids: Vec<String> = match agent {
            Some(agent_id) => self
                .agents
                .get(agent_id)
                .into_iter()
                .flat_map(|a| a.tasks.iter())
                .filter(|(f, _)| f == framework_id)
                .filter_map(|(_, t)| fw.tasks.get(t))
                .filter(|t| t.agent_id == agent_id)
                .filter(queued)
                .map(|t| t.info.task_id.value.clone())
                .collect(),
            None => fw
                .tasks
                .values()
                .filter(queued)
                .map(|t| t.info.task_id.value.clone())
                .collect(),
        };
        for id in ids {
            self.forward_front(now, framework_id, &id, true);
        }
    }

    /// ACKNOWLEDGE: the agent drops the in-flight update with that uuid and
    /// sends the next; a task whose terminal update is acknowledged is
    /// removed. Anything else is ignored, as the master does (the call was
    /// already answered 202).
    pub fn acknowledge(
        &mut self,
        now: Instant,
        framework_id: &str,
        agent_id: &str,
        task_id: &str,
        uuid: &[u8],
    ) {
        self.observe(now);
        if self.acks_ignored_until.is_some_and(|t| now < t) {
            debug!(
                framework_id,
                task_id, "ignoring acknowledgement: acknowledgements are delayed"
            );
            return;
        }
        if self
            .agents
            .get(agent_id)
            .is_none_or(|a| a.state != AgentState::Active)
        {
            warn!(
                framework_id,
                agent_id, task_id, "ignoring acknowledgement: agent is not registered"
            );
            return;
        }
        let Some(fw) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(task) = fw.tasks.get_mut(task_id).filter(|t| t.agent_id == agent_id) else {
            self.stats.stale_acknowledgements += 1;
            warn!(
                framework_id,
                task_id, "ignoring acknowledgement for an unknown task"
            );
            return;
        };
        if task.pending.front().and_then(|s| s.uuid.as_deref()) != Some(uuid) {
            self.stats.stale_acknowledgements += 1;
            warn!(
                framework_id,
                task_id, "ignoring acknowledgement of an update that is not in flight"
            );
            return;
        }
        let acked = task.pending.pop_front();
        self.stats.unacknowledged_updates = self.stats.unacknowledged_updates.saturating_sub(1);
        let acked_state = acked.map(|s| s.state());
        debug!(framework_id, task_id, state = ?acked_state, "update acknowledged");
        if acked_state.is_some_and(is_terminal) {
            // The agent forgets the task once its terminal update is acked;
            // the master moves it to the completed tasks.
            let mut forgotten = false;
            if let Some(task) = fw.tasks.remove(task_id) {
                forgotten = true;
                self.stats.unacknowledged_updates = self
                    .stats
                    .unacknowledged_updates
                    .saturating_sub(task.pending.len() as u64);
                if let Some(agent) = self.agents.get_mut(agent_id) {
                    agent
                        .tasks
                        .remove(&(framework_id.to_string(), task_id.to_string()));
                }
                fw.completed_tasks.push_back(task);
                if fw.completed_tasks.len() > MAX_COMPLETED_TASKS {
                    fw.completed_tasks.pop_front();
                }
            }
            if forgotten {
                self.check_drained(agent_id);
            }
            return;
        }
        self.forward_front(now, framework_id, task_id, true);
    }

    // ---- kill and reconcile ----------------------------------------------

    /// KILL: a task the master does not know is answered like an explicit
    /// reconciliation of it.
    pub fn kill(
        &mut self,
        now: Instant,
        framework_id: &str,
        task_id: &str,
        agent_id: Option<String>,
    ) {
        self.observe(now);
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        let Some(task) = fw.known_task(task_id) else {
            warn!(
                framework_id,
                task_id, "cannot kill unknown task; performing reconciliation"
            );
            let mut t = call::reconcile::Task {
                task_id: v1::TaskId {
                    value: task_id.to_string(),
                },
                agent_id: None,
            };
            t.agent_id = agent_id.map(|value| v1::AgentId { value });
            self.reconcile(framework_id, vec![t]);
            return;
        };
        if agent_id.as_ref().is_some_and(|a| *a != task.agent_id) {
            warn!(
                framework_id,
                task_id, "cannot kill task: it belongs to a different agent"
            );
            return;
        }
        if is_terminal(task.state) || task.killing {
            return;
        }
        let killing_state =
            fw.has_capability(v1::framework_info::capability::Type::TaskKillingState);
        let staging = task.state == TaskState::TaskStaging;
        let Some(task) = self
            .frameworks
            .get_mut(framework_id)
            .and_then(|f| f.tasks.get_mut(task_id))
        else {
            return;
        };
        task.killing = true;
        task.step_gen += 1;
        let generation = task.step_gen;
        info!(framework_id, task_id, "killing task");
        if staging {
            self.agent_update(
                now,
                framework_id,
                task_id,
                TaskState::TaskKilled,
                Source::Agent,
                Some(Reason::TaskKilledDuringLaunch),
                Some("Killed before delivery to the executor".into()),
            );
            return;
        }
        if killing_state {
            self.agent_update(
                now,
                framework_id,
                task_id,
                TaskState::TaskKilling,
                Source::Executor,
                None,
                None,
            );
        }
        self.schedule(
            now + self.timings.task_kill_delay,
            Timer::TaskStep {
                framework_id: framework_id.to_string(),
                task_id: task_id.to_string(),
                step: Step::Killed,
                generation,
            },
        );
    }

    /// RECONCILE, explicit (tasks given) or implicit (none), worded and
    /// decided as `Master::reconcile`. Answers carry no uuid.
    pub fn reconcile(&mut self, framework_id: &str, tasks: Vec<call::reconcile::Task>) {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        let partition_aware = fw.partition_aware();
        let mut updates = Vec::new();
        let latest = |t: &Task| {
            let mut s = master_status(
                &t.info.task_id.value,
                Some(&t.agent_id),
                t.status_update_state(),
                Reason::Reconciliation,
                "Reconciliation: Latest task state",
                self.wall_now,
            );
            s.executor_id = t.executor_id.clone().map(|value| v1::ExecutorId { value });
            s.healthy = t.healthy;
            // `protobuf::getTaskContainerStatus`: from the latest status
            // that has one, i.e. any the agent sent (not for STAGING).
            if t.statuses
                .iter()
                .any(|(st, _, _)| *st != TaskState::TaskStaging)
            {
                s.container_status = Some(container_status(t));
            }
            s
        };
        if tasks.is_empty() {
            info!(
                framework_id,
                "performing implicit task state reconciliation"
            );
            updates.extend(
                fw.tasks
                    .values()
                    .filter(|t| t.unreachable.is_none())
                    .map(latest),
            );
        } else {
            info!(
                framework_id,
                count = tasks.len(),
                "performing explicit task state reconciliation"
            );
            for t in tasks {
                let id = t.task_id.value.as_str();
                let agent_id = t.agent_id.as_ref().map(|a| a.value.as_str());
                if let Some(task) = fw.known_task(id) {
                    updates.push(latest(task));
                    continue;
                }
                let agent = agent_id.and_then(|a| self.agents.get(a));
                let lost_or = |s: TaskState| {
                    if partition_aware {
                        s
                    } else {
                        TaskState::TaskLost
                    }
                };
                let status = match agent.map(|a| &a.state) {
                    Some(AgentState::Active) => master_status(
                        id,
                        agent_id,
                        lost_or(TaskState::TaskGone),
                        Reason::Reconciliation,
                        "Reconciliation: Task is unknown to the agent",
                        self.wall_now,
                    ),
                    Some(AgentState::Unreachable { since }) => {
                        let mut s = master_status(
                            id,
                            agent_id,
                            lost_or(TaskState::TaskUnreachable),
                            Reason::Reconciliation,
                            "Reconciliation: Task is unreachable",
                            self.wall_now,
                        );
                        s.unreachable_time = Some(v1::TimeInfo {
                            nanoseconds: (since * 1e9) as i64,
                        });
                        s
                    }
                    Some(AgentState::Gone) => master_status(
                        id,
                        agent_id,
                        lost_or(TaskState::TaskGoneByOperator),
                        Reason::Reconciliation,
                        "Reconciliation: Task is gone",
                        self.wall_now,
                    ),
                    None => master_status(
                        id,
                        agent_id,
                        lost_or(TaskState::TaskUnknown),
                        Reason::Reconciliation,
                        "Reconciliation: Task is unknown",
                        self.wall_now,
                    ),
                };
                updates.push(status);
            }
        }
        for s in updates {
            self.send(framework_id, update_event(s));
        }
    }

    // ---- faults (admin API) ----------------------------------------------

    /// Finds a task by id (in one framework, or the only one having it).
    pub fn find_task(
        &self,
        task_id: &str,
        framework_id: Option<&str>,
    ) -> Result<(String, String), String> {
        let mut found = self
            .frameworks
            .values()
            .filter(|f| framework_id.is_none_or(|id| id == f.id))
            .filter(|f| f.tasks.contains_key(task_id))
            .map(|f| f.id.clone());
        match (found.next(), found.next()) {
            (Some(fw), None) => Ok((fw, task_id.to_string())),
            (Some(_), Some(_)) => Err(format!(
                "task '{task_id}' exists in several frameworks; pass ?framework_id="
            )),
            (None, _) => Err(format!("no task '{task_id}'")),
        }
    }

    /// A task ends by itself (admin): TASK_FAILED or TASK_FINISHED.
    pub fn end_task(
        &mut self,
        now: Instant,
        framework_id: &str,
        task_id: &str,
        state: TaskState,
        message: Option<String>,
    ) -> Result<(), String> {
        let task = self
            .frameworks
            .get_mut(framework_id)
            .and_then(|f| f.tasks.get_mut(task_id))
            .ok_or_else(|| format!("no task '{task_id}'"))?;
        if is_terminal(task.state) {
            return Err(format!("task '{task_id}' is already {:?}", task.state));
        }
        task.step_gen += 1;
        let (reason, default_message) = match state {
            TaskState::TaskFinished => (None, "Command exited with status 0"),
            _ => (
                Some(Reason::CommandExecutorFailed),
                "Command exited with status 1",
            ),
        };
        let message = message.unwrap_or_else(|| default_message.to_string());
        self.agent_update(
            now,
            framework_id,
            task_id,
            state,
            Source::Executor,
            reason,
            Some(message),
        );
        Ok(())
    }

    /// Sets a task's health (admin); sends a RUNNING update with `healthy`.
    pub fn set_health(
        &mut self,
        now: Instant,
        framework_id: &str,
        task_id: &str,
        healthy: bool,
    ) -> Result<(), String> {
        let task = self
            .frameworks
            .get_mut(framework_id)
            .and_then(|f| f.tasks.get_mut(task_id))
            .ok_or_else(|| format!("no task '{task_id}'"))?;
        if task.state != TaskState::TaskRunning {
            return Err(format!(
                "task '{task_id}' is {:?}, not TASK_RUNNING",
                task.state
            ));
        }
        task.healthy = Some(healthy);
        self.agent_update(
            now,
            framework_id,
            task_id,
            TaskState::TaskRunning,
            Source::Executor,
            Some(Reason::TaskHealthCheckStatusUpdated),
            None,
        );
        Ok(())
    }

    /// The agent stops answering: its offers are rescinded, its tasks
    /// become TASK_UNREACHABLE (partition-aware) or TASK_LOST.
    pub fn mark_unreachable(&mut self, agent_id: &str) -> Result<(), String> {
        let agent = self
            .agents
            .get_mut(agent_id)
            .ok_or_else(|| format!("no agent '{agent_id}'"))?;
        if agent.state != AgentState::Active {
            return Err(format!(
                "agent '{agent_id}' is not active ({:?})",
                agent.state
            ));
        }
        let since = self.wall_now;
        agent.state = AgentState::Unreachable { since };
        agent.free = ResourceSet::new();
        let offers: Vec<String> = agent.offers.iter().cloned().collect();
        let tasks: Vec<(String, String)> = agent.tasks.iter().cloned().collect();
        info!(agent_id, "agent marked unreachable");
        for (fw_id, task_id) in tasks {
            let Some(fw) = self.frameworks.get_mut(&fw_id) else {
                continue;
            };
            let partition_aware = fw.partition_aware();
            let Some(task) = fw.tasks.get_mut(&task_id) else {
                continue;
            };
            let state = if partition_aware {
                TaskState::TaskUnreachable
            } else {
                TaskState::TaskLost
            };
            task.unreachable = Some(state);
            let mut s = master_status(
                &task_id,
                Some(agent_id),
                state,
                Reason::AgentRemoved,
                "health check timed out",
                self.wall_now,
            );
            s.executor_id = task
                .executor_id
                .clone()
                .map(|value| v1::ExecutorId { value });
            s.unreachable_time = Some(v1::TimeInfo {
                nanoseconds: (since * 1e9) as i64,
            });
            self.send(&fw_id, update_event(s));
        }
        // `Master::__removeSlave` (master.cpp) updates the tasks first and
        // only then rescinds the agent's offers.
        for o in offers {
            self.remove_offer(&o, true, None);
        }
        self.remove_inverse_offers_on(agent_id, true);
        Ok(())
    }

    /// The operator marks the agent gone: its tasks end for good.
    pub fn mark_gone(&mut self, agent_id: &str) -> Result<(), String> {
        let agent = self
            .agents
            .get_mut(agent_id)
            .ok_or_else(|| format!("no agent '{agent_id}'"))?;
        if agent.state == AgentState::Gone {
            return Err(format!("agent '{agent_id}' is already gone"));
        }
        agent.state = AgentState::Gone;
        agent.free = ResourceSet::new();
        agent.used = ResourceSet::new();
        let offers: Vec<String> = agent.offers.iter().cloned().collect();
        let tasks: Vec<(String, String)> = agent.tasks.drain().collect();
        info!(agent_id, "agent marked gone");
        let now_wall = self.wall_now;
        for (fw_id, task_id) in tasks {
            let Some(fw) = self.frameworks.get_mut(&fw_id) else {
                continue;
            };
            let partition_aware = fw.partition_aware();
            let Some(mut task) = fw.tasks.remove(&task_id) else {
                continue;
            };
            let (state, reason) = if partition_aware {
                (
                    TaskState::TaskGoneByOperator,
                    Reason::AgentRemovedByOperator,
                )
            } else {
                (TaskState::TaskLost, Reason::AgentRemoved)
            };
            task.state = state;
            task.unreachable = None;
            self.stats.unacknowledged_updates = self
                .stats
                .unacknowledged_updates
                .saturating_sub(task.pending.len() as u64);
            task.pending.clear();
            task.statuses.push((state, now_wall, None));
            let mut s = master_status(
                &task_id,
                Some(agent_id),
                state,
                reason,
                "Agent has been marked gone",
                self.wall_now,
            );
            s.executor_id = task
                .executor_id
                .clone()
                .map(|value| v1::ExecutorId { value });
            fw.completed_tasks.push_back(task);
            if fw.completed_tasks.len() > MAX_COMPLETED_TASKS {
                fw.completed_tasks.pop_front();
            }
            self.send(&fw_id, update_event(s));
        }
        // Tasks first, then RESCIND (`Master::__removeSlave`).
        for o in offers {
            self.remove_offer(&o, true, None);
        }
        self.remove_inverse_offers_on(agent_id, true);
        Ok(())
    }

    /// An unreachable agent comes back with its tasks: they are known
    /// again (reconciliation reports their real state) and its queued
    /// updates flow.
    pub fn reregister(&mut self, now: Instant, agent_id: &str) -> Result<(), String> {
        self.observe(now);
        let agent = self
            .agents
            .get_mut(agent_id)
            .ok_or_else(|| format!("no agent '{agent_id}'"))?;
        if !matches!(agent.state, AgentState::Unreachable { .. }) {
            return Err(format!(
                "agent '{agent_id}' is not unreachable ({:?})",
                agent.state
            ));
        }
        agent.state = AgentState::Active;
        agent.free = agent.total.clone();
        agent.free.subtract(&agent.used);
        let tasks: Vec<(String, String)> = agent.tasks.iter().cloned().collect();
        info!(agent_id, "agent reregistered");
        let mut frameworks = HashSet::new();
        for (fw_id, task_id) in tasks {
            if let Some(task) = self
                .frameworks
                .get_mut(&fw_id)
                .and_then(|f| f.tasks.get_mut(&task_id))
            {
                task.unreachable = None;
                // `Master::__reregisterSlave` (master.cpp): every task the
                // agent brings back is announced to its (connected)
                // framework, partition-aware or not — none is killed — with
                // the agent's latest state, SOURCE_MASTER,
                // REASON_AGENT_REREGISTERED and no uuid.
                let mut s = master_status(
                    &task_id,
                    Some(agent_id),
                    task.state,
                    Reason::AgentReregistered,
                    "Unreachable agent re-reregistered",
                    self.wall_now,
                );
                s.executor_id = task
                    .executor_id
                    .clone()
                    .map(|value| v1::ExecutorId { value });
                s.healthy = task.healthy;
                s.container_status = Some(container_status(task));
                self.send(&fw_id, update_event(s));
                frameworks.insert(fw_id);
            }
        }
        for fw_id in frameworks {
            self.resend_pending(now, &fw_id, Some(agent_id));
        }
        Ok(())
    }

    /// Master failover: every stream drops, offers vanish, a new master id
    /// (and, if asked, a leaderless window). Tasks and agents stay.
    pub fn failover(&mut self, now: Instant, leaderless: Option<Duration>) {
        self.observe(now);
        let offer_ids: Vec<String> = self.offers.keys().cloned().collect();
        for id in offer_ids {
            self.remove_offer(&id, false, None);
        }
        for fw in self.frameworks.values_mut() {
            // The connection breaks; recovered frameworks are not subject to
            // their failover timeout until they reconnect and leave again.
            fw.conn = None;
            fw.disconnect_gen += 1;
            fw.filters.clear();
        }
        self.master_id = uuid::Uuid::new_v4().to_string();
        self.elected_time = self.wall_now;
        self.leaderless_until = leaderless.map(|d| now + d);
        self.next_allocation = now + leaderless.unwrap_or_default();
        info!(master_id = %self.master_id, "simulated master failover");
    }

    // ---- time --------------------------------------------------------------

    /// Advances the simulation to `now`.
    pub fn tick(&mut self, now: Instant) {
        self.observe(now);
        if self.stalled_until.is_some_and(|t| now >= t) {
            info!("heartbeat stall over");
            self.stalled_until = None;
        }
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.fire(now, timer);
        }
        let interval = self.timings.heartbeat_interval;
        let stalled = self.is_stalled(now);
        let due: Vec<String> = self
            .frameworks
            .values_mut()
            .filter(|f| f.conn.is_some() && f.next_heartbeat <= now)
            .map(|f| {
                f.next_heartbeat = now + interval;
                f.id.clone()
            })
            .collect();
        if !stalled {
            for id in due {
                self.send(&id, event_of(event::Type::Heartbeat));
            }
        }
        if now >= self.next_allocation {
            self.next_allocation = now + self.timings.allocation_interval;
            self.allocate(now);
            self.generate_inverse_offers(now);
        }
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::TaskStep {
                framework_id,
                task_id,
                step,
                generation,
            } => self.task_step(now, &framework_id, &task_id, step, generation),
            Timer::Retry {
                framework_id,
                task_id,
                generation,
            } => {
                let max = self.timings.status_update_retry_max;
                let Some(task) = self
                    .frameworks
                    .get_mut(&framework_id)
                    .and_then(|f| f.tasks.get_mut(&task_id))
                else {
                    return;
                };
                if task.retry_gen != generation || task.pending.is_empty() {
                    return;
                }
                task.retry_backoff = (task.retry_backoff * 2).min(max);
                self.stats.updates_resent += 1;
                debug!(
                    framework_id,
                    task_id, "retrying unacknowledged status update"
                );
                self.forward_front(now, &framework_id, &task_id, false);
            }
            Timer::FailoverTimeout {
                framework_id,
                generation,
            } => {
                let expired = self
                    .frameworks
                    .get(&framework_id)
                    .is_some_and(|f| f.conn.is_none() && f.disconnect_gen == generation);
                if expired {
                    info!(framework_id, "framework failover timeout elapsed");
                    self.remove_framework(&framework_id);
                }
            }
            Timer::OfferTimeout { offer_id } => {
                if self.offers.contains_key(&offer_id) {
                    debug!(offer_id, "offer timed out; rescinding");
                    self.remove_offer(&offer_id, true, None);
                }
            }
        }
    }

    fn task_step(
        &mut self,
        now: Instant,
        framework_id: &str,
        task_id: &str,
        step: Step,
        generation: u64,
    ) {
        let Some(task) = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(task_id))
        else {
            return;
        };
        if task.step_gen != generation || (is_terminal(task.state) && step != Step::Killed) {
            return;
        }
        let delay = self.timings.task_start_delay;
        let has_health = task.info.health_check.is_some();
        let next = |step| Timer::TaskStep {
            framework_id: framework_id.to_string(),
            task_id: task_id.to_string(),
            step,
            generation,
        };
        match step {
            Step::Starting => {
                self.agent_update(
                    now,
                    framework_id,
                    task_id,
                    TaskState::TaskStarting,
                    Source::Executor,
                    None,
                    None,
                );
                self.schedule(now + delay, next(Step::Running));
            }
            Step::Running => {
                self.agent_update(
                    now,
                    framework_id,
                    task_id,
                    TaskState::TaskRunning,
                    Source::Executor,
                    None,
                    None,
                );
                if has_health {
                    self.schedule(now + delay, next(Step::Healthy));
                }
            }
            Step::Healthy => {
                if let Some(t) = self
                    .frameworks
                    .get_mut(framework_id)
                    .and_then(|f| f.tasks.get_mut(task_id))
                {
                    t.healthy = Some(true);
                }
                self.agent_update(
                    now,
                    framework_id,
                    task_id,
                    TaskState::TaskRunning,
                    Source::Executor,
                    Some(Reason::TaskHealthCheckStatusUpdated),
                    None,
                );
            }
            Step::LaunchFailed => {
                let message = super::validation::agent_launch_failure(&task.info)
                    .unwrap_or_else(|| "Failed to launch container".into());
                self.agent_update(
                    now,
                    framework_id,
                    task_id,
                    TaskState::TaskFailed,
                    Source::Agent,
                    Some(Reason::ContainerLaunchFailed),
                    Some(message),
                );
            }
            Step::Killed => {
                if !is_terminal(task.state) {
                    self.agent_update(
                        now,
                        framework_id,
                        task_id,
                        TaskState::TaskKilled,
                        Source::Executor,
                        None,
                        Some("Command terminated with signal Terminated".into()),
                    );
                }
            }
        }
    }

    // ---- ids for the other parts of the machine -------------------------------

    pub(super) fn new_offer_id(&mut self) -> String {
        // `Master::newOfferId`: `<master id>-O<n>`, n from 0.
        let id = format!("{}-O{}", self.master_id, self.next_offer);
        self.next_offer += 1;
        id
    }

    /// Frees an executor's resources once no live task of the framework
    /// runs under it on the agent (the executor exits with its last task).
    fn release_idle_executor(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        executor_id: Option<&str>,
    ) {
        let Some(executor_id) = executor_id else {
            return;
        };
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let busy = self.frameworks.get(framework_id).is_some_and(|fw| {
            agent
                .tasks
                .iter()
                .filter(|(f, _)| f == framework_id)
                .filter_map(|(_, t)| fw.tasks.get(t))
                .any(|t| {
                    !is_terminal(t.state)
                        && t.executor_info
                            .as_ref()
                            .is_some_and(|e| e.executor_id.value == executor_id)
                })
        });
        if busy {
            return;
        }
        if let Some(agent) = self.agents.get_mut(agent_id)
            && let Some(r) = agent
                .executors
                .remove(&(framework_id.to_string(), executor_id.to_string()))
        {
            agent.used.subtract(&r);
            if agent.state == AgentState::Active {
                agent.free.add(&r);
            }
        }
    }

    /// `Offer.executor_ids`: the executors of the framework that live
    /// tasks run under on the agent (read from the agent's own task list,
    /// so the cost does not grow with the framework's size).
    pub(super) fn executor_ids_on(&self, framework_id: &str, agent: &Agent) -> Vec<v1::ExecutorId> {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = agent
            .tasks
            .iter()
            .filter(|(f, _)| f == framework_id)
            .filter_map(|(_, t)| fw.tasks.get(t))
            .filter(|t| !is_terminal(t.state))
            .filter_map(|t| {
                t.executor_info
                    .as_ref()
                    .map(|e| e.executor_id.value.clone())
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .map(|value| v1::ExecutorId { value })
            .collect()
    }

    pub(super) fn new_task_ip(&mut self) -> String {
        self.next_ip += 1;
        let n = self.next_ip;
        format!(
            "10.{}.{}.{}",
            1 + (n >> 16) % 250,
            (n >> 8) & 0xff,
            n & 0xff
        )
    }
}
