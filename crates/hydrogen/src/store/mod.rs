//! Shared state: desired apps, observed tasks, the framework id, the task
//! event log and the leader lease, behind one [`Store`] trait.
//!
//! Two kinds of writers use it. The API, on any instance, writes apps
//! (create, update, kill) without fencing: those writes are the user's word
//! and are versioned instead (optimistic `expected_version`). The scheduler,
//! on the leader only, writes tasks, the framework id and app removals, and
//! every one of those writes carries the leader's fencing epoch: the store
//! refuses it when the epoch is not the current lease's, so a deposed leader
//! that has not noticed yet cannot overwrite its successor's state.
//!
//! Backends: [`memory::MemoryStore`] (single instance, the embedded default)
//! and [`redis::RedisStore`] (shared by several instances, for HA).
//! Every backend must pass the conformance suite in `conformance.rs`.
//! [`timed::Timed`] wraps either to measure every operation.

pub mod app_write;
pub mod memory;
pub mod model;
pub mod redis;
pub mod timed;

#[cfg(test)]
pub(crate) mod conformance;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::spec::App;
pub use app_write::{CreateOutcome, UpdateOutcome};
pub use model::{
    AppGoal, AppRecord, AppStatus, Epoch, LeaderInfo, LeaseAttempt, MesosLink, TaskBatch,
    TaskEvent, TaskRecord, TaskState, Termination,
};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("app {0:?} does not exist")]
    AppNotFound(String),
    #[error(
        "app {name:?} already exists with a different spec (version {version}); use Update to change it"
    )]
    AppConflict { name: String, version: u64 },
    #[error(
        "app {name:?} is at version {actual}, not the expected {expected}; re-read it and retry"
    )]
    VersionMismatch {
        name: String,
        expected: u64,
        actual: u64,
    },
    #[error("app {0:?} is being killed; wait until it is gone before deploying it again")]
    AppKilling(String),
    #[error("write refused: fencing epoch {offered} is not the current leader epoch {current}")]
    Fenced { offered: Epoch, current: Epoch },
    #[error(
        "the event log no longer holds revision {requested}; the oldest kept is {oldest}: re-read the full state and watch from there"
    )]
    Compacted { requested: u64, oldest: u64 },
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A page of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<TaskEvent>,
    /// The newest revision in the log when the page was read.
    pub head: u64,
}

/// Bumped on every change, so waiters wake without polling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Increments whenever an app is created, updated, killed or removed.
    pub apps: u64,
    /// The event log's head revision.
    pub events: u64,
    /// Increments whenever the scheduler writes or drops app statuses.
    pub statuses: u64,
    /// Increments whenever the leader writes its [`MesosLink`].
    pub mesos: u64,
    /// The fencing epoch: moves when an instance takes the lease. Another
    /// instance's store may see it up to a second late (Redis: the feed's
    /// periodic re-read).
    pub epoch: Epoch,
}

/// Identifies the content of everything State and ListAll show (apps,
/// tasks, statuses). Read cheaply with [`Store::view_revision`]: two equal
/// revisions of one store mean nothing those reads show changed in between,
/// so the API can serve a snapshot it read at the same revision instead of
/// reading everything again. Only equality is meaningful (a store that lost
/// its data starts again from zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewRevision {
    /// Bumped by every write that changes an app, a task or a status.
    pub views: u64,
    /// [`Changes::apps`]; [`Changes::events`]: also compared, so writers
    /// that do not bump `views` (an older Hydrogen sharing the store during
    /// a rolling upgrade) still invalidate snapshots on app writes and task
    /// state changes.
    pub apps: u64,
    pub events: u64,
    /// How many of the `views` bumps also recorded which apps they touched
    /// (see [`Store::view_delta`]). A writer that moves `views` without it
    /// (an older Hydrogen) opens a gap between the two, and a delta across
    /// that gap cannot be trusted.
    pub tracked: u64,
}

impl ViewRevision {
    /// Whether every view change between `self` and `later` recorded the
    /// apps it touched, so that a delta between them is complete.
    pub fn deltas_complete_to(&self, later: &ViewRevision) -> bool {
        later.views.wrapping_sub(later.tracked) == self.views.wrapping_sub(self.tracked)
            && later.views >= self.views
    }
}

/// One app as State and ListAll show it, read in one consistent cut: its
/// record (none once it is removed, or for tasks left without an app), its
/// tasks by instance and task id, and its status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppSlice {
    pub name: String,
    pub record: Option<Arc<AppRecord>>,
    pub tasks: Vec<Arc<TaskRecord>>,
    pub status: Option<Arc<AppStatus>>,
}

impl AppSlice {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Self::default()
        }
    }

    /// The app is gone entirely: no record and no tasks. Its status, if
    /// any, goes with it.
    pub fn is_gone(&self) -> bool {
        self.record.is_none() && self.tasks.is_empty()
    }
}

impl ViewSnapshot {
    /// The snapshot as one slice per app that has a record, tasks or a
    /// status, by name; each app's tasks in the snapshot's order.
    pub fn into_slices(self) -> BTreeMap<String, AppSlice> {
        fn slice_of<'a>(apps: &'a mut BTreeMap<String, AppSlice>, name: &str) -> &'a mut AppSlice {
            apps.entry(name.to_string())
                .or_insert_with(|| AppSlice::named(name))
        }
        let mut apps = BTreeMap::new();
        for record in self.apps {
            let slice = slice_of(&mut apps, &record.spec.name);
            slice.record = Some(record);
        }
        // The tasks come by app: one lookup (and name copy) per run of an
        // app's tasks, not per task (100,000 after a failover).
        let mut tasks = self.tasks.into_iter().peekable();
        while let Some(first) = tasks.next() {
            let slice = slice_of(&mut apps, &first.app);
            slice.tasks.push(first);
            while let Some(next) = tasks.next_if(|t| t.app == slice.name) {
                slice.tasks.push(next);
            }
        }
        for status in self.statuses {
            let slice = slice_of(&mut apps, &status.app);
            slice.status = Some(status);
        }
        apps
    }

    /// Slices back into a snapshot, in the order [`Store::view_snapshot`]
    /// gives: apps by name, tasks by app, instance and task id.
    pub fn from_slices(
        revision: ViewRevision,
        slices: impl IntoIterator<Item = (String, AppSlice)>,
    ) -> Self {
        let mut snapshot = Self {
            revision,
            ..Self::default()
        };
        for (_, slice) in slices {
            snapshot.apps.extend(slice.record);
            snapshot.tasks.extend(slice.tasks);
            snapshot.statuses.extend(slice.status);
        }
        snapshot
    }
}

impl ViewDelta {
    /// Brings per-app copies, by name, up to this delta: every app it names
    /// is replaced with `copy` of its slice, or removed when it is gone.
    /// The API's views and the standby's copy both keep theirs this way.
    pub fn apply_to<V>(
        self,
        apps: &mut BTreeMap<String, V>,
        mut copy: impl FnMut(AppSlice) -> V,
    ) -> ViewRevision {
        for slice in self.apps {
            if slice.is_gone() {
                apps.remove(&slice.name);
            } else {
                apps.insert(slice.name.clone(), copy(slice));
            }
        }
        self.revision
    }
}

/// How many entries beyond twice the apps alive the view log (one entry per
/// app whose view changed, for [`Store::view_delta`]) keeps before it is
/// trimmed; amortises the trim.
pub const VIEW_LOG_SLACK: usize = 1024;

/// The one trim rule of the view log, for both stores: while it holds at
/// most twice the apps alive plus [`VIEW_LOG_SLACK`] entries, nothing;
/// beyond, this many of its oldest entries go (whoever they name), down to
/// the apps alive plus half the slack. The stores raise their floor to the
/// newest revision dropped, so a reader behind it reads a whole snapshot.
pub fn view_log_excess(logged: usize, alive: usize) -> usize {
    if logged <= 2 * alive + VIEW_LOG_SLACK {
        0
    } else {
        logged - (alive + VIEW_LOG_SLACK / 2)
    }
}

/// What changed in State and ListAll between an earlier revision and
/// `revision`: every app whose record, tasks or status changed since, as it
/// is now (an app gone entirely has neither record nor tasks).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewDelta {
    pub revision: ViewRevision,
    /// By name.
    pub apps: Vec<AppSlice>,
}

/// Apps, tasks and statuses read in one consistent cut, at `revision`.
///
/// Apps and statuses are shared (`Arc`): the memory store hands out the
/// records it holds, so the scheduler and the API's views keep one copy of
/// each app between them, not one each (issue 16: an app's cost to the
/// leader).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewSnapshot {
    pub revision: ViewRevision,
    /// By name.
    pub apps: Vec<Arc<AppRecord>>,
    /// By app, instance, task id (as [`Store::list_tasks`]). Shared like
    /// the apps: one copy of a task in the process (issue 17: under 1 KiB
    /// per task).
    pub tasks: Vec<Arc<TaskRecord>>,
    /// In no particular order.
    pub statuses: Vec<Arc<AppStatus>>,
}

/// The shared state of a Hydrogen cluster.
pub trait Store: Send + Sync + 'static {
    /// Deploys a new app (version 1). The same spec again is a no-op; a
    /// different spec under an existing name is a conflict.
    fn create_app(
        &self,
        spec: App,
    ) -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send;

    /// Deploys several apps, all or nothing: when any of them conflicts
    /// (another spec under its name, or being killed) nothing is written,
    /// and otherwise every new one is written in one atomic step (one
    /// script in Redis, one lock in memory), so no reader, crash or stall
    /// ever sees part of the batch. Outcomes come in the order of `specs`;
    /// a name given twice is decided against the first.
    ///
    /// The default deploys one by one and is NOT atomic: it is only for
    /// test doubles; every real backend overrides it (the conformance
    /// suite checks that a conflicting batch writes nothing).
    fn create_apps(
        &self,
        specs: Vec<App>,
    ) -> impl Future<Output = Result<Vec<CreateOutcome>, StoreError>> + Send {
        async move {
            let mut out = Vec::with_capacity(specs.len());
            for spec in specs {
                out.push(self.create_app(spec).await?);
            }
            Ok(out)
        }
    }

    /// Replaces an app's spec (version + 1). The same spec is a no-op that
    /// keeps the version, answered `Unchanged`.
    fn update_app(
        &self,
        spec: App,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<UpdateOutcome, StoreError>> + Send;

    /// Asks for an app to be killed (version + 1, goal Kill). Idempotent.
    fn kill_app(
        &self,
        name: &str,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<AppRecord, StoreError>> + Send;

    fn get_app(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<AppRecord>, StoreError>> + Send;

    /// Every app, by name; shared, as in [`ViewSnapshot::apps`].
    fn list_apps(&self) -> impl Future<Output = Result<Vec<Arc<AppRecord>>, StoreError>> + Send;

    /// Every task record.
    fn list_tasks(&self) -> impl Future<Output = Result<Vec<TaskRecord>, StoreError>> + Send;

    /// The tasks of one app.
    fn app_tasks(
        &self,
        app: &str,
    ) -> impl Future<Output = Result<Vec<TaskRecord>, StoreError>> + Send;

    /// The current [`ViewRevision`]: one small read (one round trip to a
    /// shared store), fresh as of the call like every other read.
    fn view_revision(&self) -> impl Future<Output = Result<ViewRevision, StoreError>> + Send;

    /// Every app, task and status with the revision they were read at.
    fn view_snapshot(&self) -> impl Future<Output = Result<ViewSnapshot, StoreError>> + Send;

    /// The apps whose record, tasks or status changed after `since` (a
    /// revision this store answered earlier), read in one consistent cut, so
    /// a reader holding the snapshot at `since` can bring it up to date by
    /// reading only what changed. `None` when the store cannot tell exactly
    /// (`since` is older than the change history it keeps, it is from before
    /// a restart that lost the data, or a writer did not record what it
    /// touched): then read the whole [`Store::view_snapshot`].
    fn view_delta(
        &self,
        since: ViewRevision,
    ) -> impl Future<Output = Result<Option<ViewDelta>, StoreError>> + Send;

    /// Applies a scheduler batch atomically if `epoch` is the current lease
    /// epoch; returns the events it appended.
    fn apply(
        &self,
        epoch: Epoch,
        batch: TaskBatch,
    ) -> impl Future<Output = Result<Vec<TaskEvent>, StoreError>> + Send;

    /// Every app's latest scheduler status (in no particular order);
    /// shared, as in [`ViewSnapshot::statuses`].
    fn app_statuses(&self) -> impl Future<Output = Result<Vec<Arc<AppStatus>>, StoreError>> + Send;

    /// The scheduler's latest status of an app (why tasks wait).
    fn app_status(
        &self,
        app: &str,
    ) -> impl Future<Output = Result<Option<AppStatus>, StoreError>> + Send;

    fn framework_id(&self) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    fn set_framework_id(
        &self,
        epoch: Epoch,
        id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records whether the leader of `epoch` is subscribed to Mesos;
    /// `Fenced` unless `epoch` is the current lease epoch.
    fn set_mesos_link(
        &self,
        epoch: Epoch,
        subscribed: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The last [`MesosLink`] a leader wrote, if any.
    fn mesos_link(&self) -> impl Future<Output = Result<Option<MesosLink>, StoreError>> + Send;

    /// Events with a revision greater than `after`, at most `limit`.
    /// `Compacted` when events after `after` were already dropped.
    fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<EventPage, StoreError>> + Send;

    /// A receiver that changes whenever apps or the event log change.
    fn changes(&self) -> watch::Receiver<Changes>;

    /// Takes the lease if it is free or expired (a new epoch each time);
    /// otherwise says when the holder's lease lapses.
    fn try_acquire_lease(
        &self,
        instance_id: &str,
        address: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<LeaseAttempt, StoreError>> + Send;

    /// [`Store::try_acquire_lease`], the lease only.
    fn acquire_lease(
        &self,
        instance_id: &str,
        address: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<LeaderInfo>, StoreError>> + Send {
        async move {
            Ok(self
                .try_acquire_lease(instance_id, address, ttl)
                .await?
                .taken())
        }
    }

    /// Extends our lease; false when it is no longer ours.
    fn renew_lease(
        &self,
        lease: &LeaderInfo,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the lease up at once (planned handoff).
    fn release_lease(
        &self,
        lease: &LeaderInfo,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The current lease holder, if the lease is held.
    fn leader(&self) -> impl Future<Output = Result<Option<LeaderInfo>, StoreError>> + Send;
}

#[cfg(test)]
mod view_log_tests {
    use super::{VIEW_LOG_SLACK, view_log_excess};

    #[test]
    fn the_view_log_is_trimmed_past_twice_the_apps_plus_the_slack_down_to_the_apps_plus_half() {
        let alive = 100;
        let bound = 2 * alive + VIEW_LOG_SLACK;
        assert_eq!(view_log_excess(bound, alive), 0);
        assert_eq!(
            view_log_excess(bound + 1, alive),
            bound + 1 - alive - VIEW_LOG_SLACK / 2
        );
        assert_eq!(view_log_excess(0, 0), 0);
        assert_eq!(
            view_log_excess(VIEW_LOG_SLACK + 1, 0),
            VIEW_LOG_SLACK / 2 + 1
        );
    }
}
