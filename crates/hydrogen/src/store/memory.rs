//! The in-memory store: the zero-setup default for a single Hydrogen
//! instance (`hydrogen dev`, or `serve` without Redis). Everything lives in
//! one mutex-guarded struct; operations are short and never await while
//! holding it. State is lost with the process — that is what Redis is for.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::app_write::{self, Written};
use super::{
    AppRecord, AppSlice, AppStatus, Changes, CreateOutcome, Epoch, EventPage, LeaderInfo,
    LeaseAttempt, MesosLink, Store, StoreError, TaskBatch, TaskEvent, TaskRecord, UpdateOutcome,
    ViewDelta, ViewRevision, ViewSnapshot, view_log_excess,
};
use crate::spec::App;
use hydrogen_time::now_ms;

/// Events kept by default (the Redis stream is capped alike).
pub const DEFAULT_EVENT_LOG_CAPACITY: usize = 100_000;

struct Inner {
    /// Shared with readers: the scheduler and the API's views hold these
    /// very records (one copy of each app in the process, not one per
    /// holder), and B-tree nodes filled in name order stay about half
    /// full, so an empty place costs a pointer, not an app.
    apps: BTreeMap<String, Arc<AppRecord>>,
    /// Shared with the scheduler's model, the API's views and the event
    /// log below: one copy of each task.
    tasks: HashMap<String, Arc<TaskRecord>>,
    tasks_by_app: BTreeMap<String, BTreeSet<String>>,
    framework_id: Option<String>,
    mesos_link: Option<MesosLink>,
    /// Shared with the scheduler, which keeps what it last wrote.
    statuses: HashMap<String, Arc<AppStatus>>,
    events: VecDeque<LoggedEvent>,
    head: u64,
    epoch: Epoch,
    lease: Option<(LeaderInfo, Instant)>,
    app_changes: u64,
    status_changes: u64,
    mesos_changes: u64,
    /// [`ViewRevision::views`]: every write to an app, task or status.
    view_changes: u64,
    /// The `view_changes` at which each app's record, tasks or status last
    /// changed ([`Store::view_delta`]). Apps gone stay until trimmed.
    view_log: HashMap<String, u64>,
    /// The newest revision trimmed from `view_log`: a delta from before it
    /// could miss an app.
    view_floor: u64,
}

impl Inner {
    fn view_revision(&self) -> ViewRevision {
        ViewRevision {
            views: self.view_changes,
            apps: self.app_changes,
            events: self.head,
            tracked: self.view_changes,
        }
    }

    /// Records that `app`'s view changed at the current `view_changes`.
    fn touch(&mut self, app: &str) {
        match self.view_log.get_mut(app) {
            Some(at) => *at = self.view_changes,
            None => {
                self.view_log.insert(app.to_owned(), self.view_changes);
            }
        }
    }

    /// Trims `view_log` by the stores' one rule ([`view_log_excess`]):
    /// the oldest entries go, and the floor moves so that readers behind it
    /// read a whole snapshot.
    fn trim_view_log(&mut self) {
        let excess = view_log_excess(self.view_log.len(), self.apps.len());
        if excess == 0 {
            return;
        }
        let mut by_age: Vec<(u64, String)> = self
            .view_log
            .iter()
            .map(|(name, at)| (*at, name.clone()))
            .collect();
        by_age.select_nth_unstable(excess - 1);
        for (at, name) in by_age.into_iter().take(excess) {
            self.view_log.remove(&name);
            self.view_floor = self.view_floor.max(at);
        }
    }

    /// An app's tasks, by instance and task id.
    fn tasks_of(&self, app: &str) -> Vec<Arc<TaskRecord>> {
        let mut tasks: Vec<Arc<TaskRecord>> = self
            .tasks_by_app
            .get(app)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id).cloned())
            .collect();
        tasks.sort_by(|a, b| (a.instance, &a.task_id).cmp(&(b.instance, &b.task_id)));
        tasks
    }

    fn slice(&self, name: &str) -> AppSlice {
        AppSlice {
            name: name.to_owned(),
            record: self.apps.get(name).cloned(),
            tasks: self.tasks_of(name),
            status: self.statuses.get(name).cloned(),
        }
    }
}

/// One entry of the event log: the task as that write left it (a record
/// is never changed in place, a write replaces it), so the event is built
/// on read instead of holding copies of the task's names.
struct LoggedEvent {
    revision: u64,
    timestamp_ms: u64,
    task: Arc<TaskRecord>,
}

impl LoggedEvent {
    fn event(&self) -> TaskEvent {
        TaskEvent::of_task(&self.task, self.revision, self.timestamp_ms)
    }
}

/// See the module docs.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    capacity: usize,
    changes: watch::Sender<Changes>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_EVENT_LOG_CAPACITY)
    }
}

impl MemoryStore {
    /// A store keeping at most `event_log_capacity` events.
    pub fn new(event_log_capacity: usize) -> Self {
        let (changes, _) = watch::channel(Changes::default());
        Self {
            inner: Mutex::new(Inner {
                apps: BTreeMap::new(),
                tasks: HashMap::new(),
                tasks_by_app: BTreeMap::new(),
                framework_id: None,
                mesos_link: None,
                statuses: HashMap::new(),
                events: VecDeque::new(),
                head: 0,
                epoch: Epoch(0),
                lease: None,
                app_changes: 0,
                status_changes: 0,
                mesos_changes: 0,
                view_changes: 0,
                view_log: HashMap::new(),
                view_floor: 0,
            }),
            capacity: event_log_capacity.max(1),
            changes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No operation panics while holding the lock; if one ever did, the
        // data is still consistent at operation granularity.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores the record an app-write decision writes, if any.
    fn write_app(&self, inner: &mut Inner, outcome: &impl Written) {
        if let Some(record) = outcome.written() {
            inner
                .apps
                .insert(record.spec.name.clone(), Arc::new(record.clone()));
            inner.app_changes += 1;
            inner.view_changes += 1;
            inner.touch(&record.spec.name);
            self.notify(inner);
        }
    }

    fn notify(&self, inner: &Inner) {
        self.changes.send_replace(Changes {
            apps: inner.app_changes,
            events: inner.head,
            statuses: inner.status_changes,
            mesos: inner.mesos_changes,
            epoch: inner.epoch,
        });
    }
}

impl Store for MemoryStore {
    async fn create_app(&self, spec: App) -> Result<CreateOutcome, StoreError> {
        let mut inner = self.lock();
        let outcome =
            app_write::create(inner.apps.get(&spec.name).map(Arc::as_ref), &spec, now_ms())?;
        self.write_app(&mut inner, &outcome);
        Ok(outcome)
    }

    async fn create_apps(&self, specs: Vec<App>) -> Result<Vec<CreateOutcome>, StoreError> {
        // One lock for the decision and the writes: all or nothing.
        let mut inner = self.lock();
        let now = now_ms();
        let mut decided: HashMap<String, AppRecord> = HashMap::new();
        let mut out = Vec::with_capacity(specs.len());
        for spec in &specs {
            let existing = decided
                .get(&spec.name)
                .or_else(|| inner.apps.get(&spec.name).map(Arc::as_ref));
            let outcome = app_write::create(existing, spec, now)?;
            if let Some(record) = outcome.written() {
                decided.insert(spec.name.clone(), record.clone());
            }
            out.push(outcome);
        }
        if !decided.is_empty() {
            inner.app_changes += 1;
            inner.view_changes += 1;
            for name in decided.keys() {
                inner.touch(name);
            }
            inner
                .apps
                .extend(decided.into_iter().map(|(name, app)| (name, Arc::new(app))));
            self.notify(&inner);
        }
        Ok(out)
    }

    async fn update_app(
        &self,
        spec: App,
        expected: Option<u64>,
    ) -> Result<UpdateOutcome, StoreError> {
        let mut inner = self.lock();
        let outcome = app_write::update(
            inner.apps.get(&spec.name).map(Arc::as_ref),
            &spec,
            expected,
            now_ms(),
        )?;
        self.write_app(&mut inner, &outcome);
        Ok(outcome)
    }

    async fn kill_app(&self, name: &str, expected: Option<u64>) -> Result<AppRecord, StoreError> {
        let mut inner = self.lock();
        let outcome = app_write::kill(
            inner.apps.get(name).map(Arc::as_ref),
            name,
            expected,
            now_ms(),
        )?;
        self.write_app(&mut inner, &outcome);
        Ok(outcome.into_record())
    }

    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        Ok(self.lock().apps.get(name).map(|a| AppRecord::clone(a)))
    }

    async fn list_apps(&self) -> Result<Vec<Arc<AppRecord>>, StoreError> {
        Ok(self.lock().apps.values().cloned().collect())
    }

    async fn list_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let inner = self.lock();
        let mut tasks: Vec<TaskRecord> =
            inner.tasks.values().map(|t| TaskRecord::clone(t)).collect();
        tasks.sort_by(|a, b| {
            (&a.app, a.instance, &a.task_id).cmp(&(&b.app, b.instance, &b.task_id))
        });
        Ok(tasks)
    }

    async fn app_tasks(&self, app: &str) -> Result<Vec<TaskRecord>, StoreError> {
        Ok(self
            .lock()
            .tasks_of(app)
            .iter()
            .map(|t| TaskRecord::clone(t))
            .collect())
    }

    async fn view_revision(&self) -> Result<ViewRevision, StoreError> {
        Ok(self.lock().view_revision())
    }

    async fn view_snapshot(&self) -> Result<ViewSnapshot, StoreError> {
        let mut snapshot = {
            let inner = self.lock();
            ViewSnapshot {
                revision: inner.view_revision(),
                apps: inner.apps.values().cloned().collect(),
                tasks: inner.tasks.values().cloned().collect(),
                statuses: inner.statuses.values().cloned().collect(),
            }
        };
        // Sorted after the lock is released: writers wait only for the copy.
        snapshot.tasks.sort_by(|a, b| {
            (&a.app, a.instance, &a.task_id).cmp(&(&b.app, b.instance, &b.task_id))
        });
        Ok(snapshot)
    }

    async fn view_delta(&self, since: ViewRevision) -> Result<Option<ViewDelta>, StoreError> {
        let inner = self.lock();
        let revision = inner.view_revision();
        if since.views < inner.view_floor || !since.deltas_complete_to(&revision) {
            return Ok(None);
        }
        let mut changed: Vec<&String> = inner
            .view_log
            .iter()
            .filter(|(_, at)| **at > since.views)
            .map(|(name, _)| name)
            .collect();
        changed.sort_unstable();
        let apps = changed.into_iter().map(|name| inner.slice(name)).collect();
        Ok(Some(ViewDelta { revision, apps }))
    }

    async fn apply(&self, epoch: Epoch, batch: TaskBatch) -> Result<Vec<TaskEvent>, StoreError> {
        let mut inner = self.lock();
        if epoch != inner.epoch {
            return Err(StoreError::Fenced {
                offered: epoch,
                current: inner.epoch,
            });
        }
        let mut appended = Vec::new();
        let now = now_ms();
        if !batch.is_empty() {
            inner.view_changes += 1;
        }
        for task in &batch.upserts {
            inner.touch(&task.app);
        }
        for name in batch
            .statuses
            .iter()
            .map(|s| &s.app)
            .chain(&batch.app_removals)
        {
            inner.touch(name);
        }
        for task in batch.upserts {
            let changed = inner
                .tasks
                .get(&task.task_id)
                .is_none_or(|old| old.state != task.state || old.healthy != task.healthy);
            if changed {
                inner.head += 1;
                let logged = LoggedEvent {
                    revision: inner.head,
                    timestamp_ms: now,
                    task: Arc::clone(&task),
                };
                appended.push(logged.event());
                inner.events.push_back(logged);
            }
            inner
                .tasks_by_app
                .entry(task.app.clone())
                .or_default()
                .insert(task.task_id.clone());
            inner.tasks.insert(task.task_id.clone(), task);
        }
        for id in batch.removals {
            let Some(task) = inner.tasks.remove(&id) else {
                continue;
            };
            inner.touch(&task.app);
            if let Some(ids) = inner.tasks_by_app.get_mut(&task.app) {
                ids.remove(&id);
                if ids.is_empty() {
                    inner.tasks_by_app.remove(&task.app);
                }
            }
        }
        if !batch.statuses.is_empty() || !batch.app_removals.is_empty() {
            inner.status_changes += 1;
        }
        for status in batch.statuses {
            inner.statuses.insert(status.app.clone(), status);
        }
        let mut apps_changed = false;
        for name in batch.app_removals {
            inner.statuses.remove(&name);
            apps_changed |= inner.apps.remove(&name).is_some();
        }
        if apps_changed {
            inner.app_changes += 1;
        }
        inner.trim_view_log();
        while inner.events.len() > self.capacity {
            inner.events.pop_front();
        }
        self.notify(&inner);
        Ok(appended)
    }

    async fn app_statuses(&self) -> Result<Vec<Arc<AppStatus>>, StoreError> {
        Ok(self.lock().statuses.values().cloned().collect())
    }

    async fn app_status(&self, app: &str) -> Result<Option<AppStatus>, StoreError> {
        Ok(self.lock().statuses.get(app).map(|s| AppStatus::clone(s)))
    }

    async fn framework_id(&self) -> Result<Option<String>, StoreError> {
        Ok(self.lock().framework_id.clone())
    }

    async fn set_framework_id(&self, epoch: Epoch, id: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if epoch != inner.epoch {
            return Err(StoreError::Fenced {
                offered: epoch,
                current: inner.epoch,
            });
        }
        inner.framework_id = Some(id.to_string());
        Ok(())
    }

    async fn set_mesos_link(&self, epoch: Epoch, subscribed: bool) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if epoch != inner.epoch {
            return Err(StoreError::Fenced {
                offered: epoch,
                current: inner.epoch,
            });
        }
        inner.mesos_link = Some(MesosLink {
            epoch,
            subscribed,
            updated_ms: now_ms(),
        });
        inner.mesos_changes += 1;
        self.notify(&inner);
        Ok(())
    }

    async fn mesos_link(&self) -> Result<Option<MesosLink>, StoreError> {
        Ok(self.lock().mesos_link)
    }

    async fn events_after(&self, after: u64, limit: usize) -> Result<EventPage, StoreError> {
        let inner = self.lock();
        let oldest = inner.events.front().map_or(inner.head + 1, |e| e.revision);
        // Events after `after` are complete only if the log still holds
        // `after + 1` (or nothing newer was ever written).
        if after + 1 < oldest && after < inner.head {
            return Err(StoreError::Compacted {
                requested: after + 1,
                oldest,
            });
        }
        let skip =
            usize::try_from(after.saturating_sub(oldest.saturating_sub(1))).unwrap_or(usize::MAX);
        let events = inner
            .events
            .iter()
            .skip(skip)
            .take(limit)
            .map(LoggedEvent::event)
            .collect();
        Ok(EventPage {
            events,
            head: inner.head,
        })
    }

    fn changes(&self) -> watch::Receiver<Changes> {
        self.changes.subscribe()
    }

    async fn try_acquire_lease(
        &self,
        instance_id: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<LeaseAttempt, StoreError> {
        let mut inner = self.lock();
        let now = Instant::now();
        if let Some((_, expires)) = inner.lease.as_ref().filter(|(_, e)| *e > now) {
            return Ok(LeaseAttempt::Held {
                expires_in: Some(*expires - now),
            });
        }
        inner.epoch = Epoch(inner.epoch.0 + 1);
        let lease = LeaderInfo {
            instance_id: instance_id.to_string(),
            address: address.to_string(),
            epoch: inner.epoch,
        };
        inner.lease = Some((lease.clone(), now + ttl));
        self.notify(&inner);
        Ok(LeaseAttempt::Taken(lease))
    }

    async fn renew_lease(&self, lease: &LeaderInfo, ttl: Duration) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let now = Instant::now();
        match &mut inner.lease {
            Some((held, expires)) if held == lease && *expires > now => {
                *expires = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_lease(&self, lease: &LeaderInfo) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.lease.as_ref().is_some_and(|(held, _)| held == lease) {
            inner.lease = None;
        }
        Ok(())
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, StoreError> {
        let inner = self.lock();
        let now = Instant::now();
        Ok(inner
            .lease
            .as_ref()
            .filter(|(_, expires)| *expires > now)
            .map(|(l, _)| l.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod conformance {
        use super::*;
        crate::store::conformance::conformance_tests!(async { ((), MemoryStore::new(8)) });
    }
}
