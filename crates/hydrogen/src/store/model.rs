//! The records the store keeps: desired apps, observed tasks, task events and
//! the leader lease. Plain data with serde, so every backend stores the same
//! JSON and a record written by one Hydrogen version reads in the next.

use serde::{Deserialize, Serialize};

use crate::spec::App;

/// What the user wants of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppGoal {
    /// Keep `instances` tasks running.
    Run,
    /// Kill every task, then forget the app.
    Kill,
}

/// An app as stored: the user's spec and its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub spec: App,
    /// 1 on creation, +1 on every change of spec or goal.
    pub version: u64,
    /// The version of the last change to anything but `instances`: tasks
    /// launched at or after it are current; older ones get rolled. A pure
    /// scale leaves it alone, so scaling never restarts running tasks.
    pub config_version: u64,
    pub goal: AppGoal,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl AppRecord {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Refuses an optimistic write made against another version.
    pub fn check_version(&self, expected: Option<u64>) -> Result<(), super::StoreError> {
        match expected {
            Some(expected) if expected != self.version => Err(super::StoreError::VersionMismatch {
                name: self.spec.name.clone(),
                expected,
                actual: self.version,
            }),
            _ => Ok(()),
        }
    }
}

/// Whether two specs differ only in `instances`.
pub fn differs_only_in_instances(old: &App, new: &App) -> bool {
    let mut scaled = old.clone();
    scaled.instances = new.instances;
    scaled == *new
}

/// A task state as Mesos names it (`TASK_RUNNING` ...). The store does not
/// depend on the Mesos types; the scheduler converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Persisted before the launch went out; Mesos has not spoken yet.
    TaskStaging,
    TaskStarting,
    TaskRunning,
    TaskKilling,
    TaskFinished,
    TaskFailed,
    TaskKilled,
    TaskError,
    TaskLost,
    TaskDropped,
    TaskUnreachable,
    TaskGone,
    TaskGoneByOperator,
    TaskUnknown,
}

impl TaskState {
    /// States after which the task never runs again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::TaskFinished
                | TaskState::TaskFailed
                | TaskState::TaskKilled
                | TaskState::TaskError
                | TaskState::TaskLost
                | TaskState::TaskDropped
                | TaskState::TaskGone
                | TaskState::TaskGoneByOperator
        )
    }

    /// The Mesos spelling, e.g. `TASK_RUNNING`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::TaskStaging => "TASK_STAGING",
            TaskState::TaskStarting => "TASK_STARTING",
            TaskState::TaskRunning => "TASK_RUNNING",
            TaskState::TaskKilling => "TASK_KILLING",
            TaskState::TaskFinished => "TASK_FINISHED",
            TaskState::TaskFailed => "TASK_FAILED",
            TaskState::TaskKilled => "TASK_KILLED",
            TaskState::TaskError => "TASK_ERROR",
            TaskState::TaskLost => "TASK_LOST",
            TaskState::TaskDropped => "TASK_DROPPED",
            TaskState::TaskUnreachable => "TASK_UNREACHABLE",
            TaskState::TaskGone => "TASK_GONE",
            TaskState::TaskGoneByOperator => "TASK_GONE_BY_OPERATOR",
            TaskState::TaskUnknown => "TASK_UNKNOWN",
        }
    }
}

/// A task as Hydrogen knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// `<app>.<instance>.<uuid>`: unique per launch.
    pub task_id: String,
    pub app: String,
    /// The slot this task fills, `0..instances`.
    pub instance: u32,
    /// The app version it was launched from.
    pub app_version: u64,
    pub agent_id: String,
    pub hostname: String,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// The host ports the task holds, in `$PORT0`, `$PORT1`... order (set
    /// at launch; records written before they were kept have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u32>,
    /// The latest Mesos message or reason, for humans.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// A kill was sent for this task.
    #[serde(default)]
    pub kill_sent: bool,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl TaskRecord {
    /// The record of a task about to be launched: STAGING on `agent_id`
    /// (`hostname`) at `at_ms`, nothing reported yet. The scheduler writes
    /// it before the ACCEPT (invariant 1 of the design); tests and benches
    /// start from it and change what they need with struct update syntax.
    pub fn staging(
        task_id: impl Into<String>,
        app: impl Into<String>,
        instance: u32,
        app_version: u64,
        agent_id: impl Into<String>,
        hostname: impl Into<String>,
        at_ms: u64,
    ) -> Self {
        Self {
            task_id: task_id.into(),
            app: app.into(),
            instance,
            app_version,
            agent_id: agent_id.into(),
            hostname: hostname.into(),
            state: TaskState::TaskStaging,
            healthy: None,
            ips: Vec::new(),
            ports: Vec::new(),
            message: String::new(),
            kill_sent: false,
            created_ms: at_ms,
            updated_ms: at_ms,
        }
    }
}

/// One entry of the event log: a task changed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// Position in the log; strictly increasing, never reused.
    pub revision: u64,
    pub app: String,
    pub task_id: String,
    pub instance: u32,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    pub agent_id: String,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub timestamp_ms: u64,
}

impl TaskEvent {
    /// The event recording `task` as it is now, at `revision` of the log.
    pub fn of_task(task: &TaskRecord, revision: u64, timestamp_ms: u64) -> Self {
        Self {
            revision,
            app: task.app.clone(),
            task_id: task.task_id.clone(),
            instance: task.instance,
            state: task.state,
            healthy: task.healthy,
            agent_id: task.agent_id.clone(),
            hostname: task.hostname.clone(),
            message: task.message.clone(),
            timestamp_ms,
        }
    }
}

/// A batch of scheduler writes, applied atomically under one epoch check.
#[derive(Debug, Clone, Default)]
pub struct TaskBatch {
    /// Tasks to insert or replace (by task id). Each one whose state differs
    /// from the stored one also appends a [`TaskEvent`].
    /// Shared: the scheduler's model and the memory store (and its event
    /// log) keep this very allocation.
    pub upserts: Vec<std::sync::Arc<TaskRecord>>,
    /// Task ids to forget (terminal tasks once replaced or their app gone).
    pub removals: Vec<String>,
    /// Apps to forget (killed apps once all their tasks are terminal).
    pub app_removals: Vec<String>,
    /// Scheduler status of apps to record (replacing the previous one).
    /// Shared: the scheduler keeps what it last wrote to compare the next
    /// status with, and the memory store keeps the same allocation.
    pub statuses: Vec<std::sync::Arc<AppStatus>>,
}

impl TaskBatch {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty()
            && self.removals.is_empty()
            && self.app_removals.is_empty()
            && self.statuses.is_empty()
    }
}

/// The scheduler's account of an app, for State: what waits and why.
/// Written by the leader (fenced), at most about once a second per app.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    pub app: String,
    /// Tasks that should run but have no live task yet.
    pub waiting: u32,
    /// When the relaunch backoff of this app ends, if it is backing off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_until_ms: Option<u64>,
    /// Consecutive failed launches since the app last stayed up.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Recent offers rejected for this app, by rule (`insufficient cpu`,
    /// `filter 0 (TEXT rack)`, `UNIQUE: agent already runs a task` ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub rejections: std::collections::BTreeMap<String, u64>,
    /// One line for humans: why the app is not (fully) running.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub updated_ms: u64,
    /// Per slot, how its last task ended (kept in the store, so the failure
    /// of a task outlives its record and a new leader shows it too).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub last_terminations: std::collections::BTreeMap<u32, Termination>,
    /// The app's most recent terminal tasks, newest first, at most
    /// [`RECENT_TERMINATIONS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_terminations: Vec<Termination>,
}

/// How many terminal tasks an [`AppStatus`] keeps.
pub const RECENT_TERMINATIONS: usize = 10;

/// How a task ended, as Mesos told it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Termination {
    pub task_id: String,
    pub instance: u32,
    pub app_version: u64,
    pub state: TaskState,
    /// Mesos's reason, e.g. `REASON_COMMAND_EXECUTOR_FAILED`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Who reported it, e.g. `SOURCE_EXECUTOR`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The agent's (or master's) message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub agent_id: String,
    pub hostname: String,
    /// When the scheduler learnt it, ms since the Unix epoch.
    pub at_ms: u64,
}

/// The fencing epoch of the leader lease: a new one with every acquisition,
/// always higher than the last. Every scheduler write carries its leader's
/// epoch and the store refuses any other than the current one (invariant 2
/// of the design). Serialized as the bare number, as before it had a type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether the leader of `epoch` is subscribed to Mesos, as it last said.
/// Kept in the store so every instance can answer, not only the leader;
/// the write is fenced, so a deposed leader's late word cannot land. It
/// describes the current leader only when `epoch` is the lease's epoch: a
/// new leader that has not written yet is not subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MesosLink {
    pub epoch: Epoch,
    pub subscribed: bool,
    /// When the leader wrote it, ms since the Unix epoch.
    pub updated_ms: u64,
}

impl MesosLink {
    /// Whether the current leader is subscribed: only a link written under
    /// the lease's own epoch speaks for it (an older one is a former
    /// leader's word), and with no leader nobody is.
    pub fn leader_subscribed(link: Option<&MesosLink>, leader: Option<&LeaderInfo>) -> bool {
        match (link, leader) {
            (Some(link), Some(leader)) => link.epoch == leader.epoch && link.subscribed,
            _ => false,
        }
    }
}

/// Who holds the leader lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderInfo {
    pub instance_id: String,
    pub address: String,
    pub epoch: Epoch,
}

/// What one attempt to take the lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAttempt {
    /// Ours now, with a new epoch.
    Taken(LeaderInfo),
    /// Another holder's; it lapses in `expires_in` unless renewed. A
    /// follower waits for that moment instead of a whole attempt period
    /// (a failover's lease phase is otherwise up to one period late).
    Held {
        expires_in: Option<std::time::Duration>,
    },
}

impl LeaseAttempt {
    /// The lease, when the attempt took it.
    pub fn taken(self) -> Option<LeaderInfo> {
        match self {
            Self::Taken(lease) => Some(lease),
            Self::Held { .. } => None,
        }
    }
}
