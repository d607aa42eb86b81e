//! The API core: what Deploy, Kill, Update, State, ListAll and readiness do,
//! in domain types. Both faces (gRPC in `grpc.rs`, REST in `rest.rs`) parse
//! their input into these calls and render the results; neither talks to the
//! store directly, so they cannot disagree (invariant 4 of the design,
//! `docs/design.md#invariants`: any instance serves the API, reads from
//! the store, writes validated specs to it).
//!
//! # State and ListAll: one snapshot per store revision
//!
//! Reading every task from the store and rendering it again for each
//! request would make ListAll cost O(tasks) per call (a 3 MB `HGETALL` and
//! its JSON at 10,000 tasks). Instead each instance keeps [`Views`]: every app,
//! task and status as of one [`ViewRevision`], with each face's encoding
//! of each app's State and ListAll share rendered once, on first use.
//!
//! Freshness is unchanged: every request first reads the store's current
//! view revision (one small read; one round trip to Redis) and is served
//! from the snapshot only when it was read at that revision, or when its
//! read began after the request did. Otherwise one request re-reads the
//! snapshot while the others wait for it. That read costs what changed,
//! not what is stored: the store answers the apps whose record, tasks or
//! status changed since the revision we hold ([`Store::view_delta`]), and
//! only those are read and replaced; the whole state is read only the
//! first time, or when the store's change history no longer reaches back
//! to our revision. An app whose record, tasks and status are equal to the
//! previous snapshot's keeps its entry, renderings included, so a change
//! re-renders only the apps it touched. A write is thus visible to the next read on any
//! instance as soon as the store has it, as when every read went to the
//! store.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::spec::{App, SpecError, ValidationError};
use crate::store::{
    AppGoal, AppRecord, AppSlice, AppStatus, CreateOutcome, LeaderInfo, Store, TaskRecord,
    TaskState, ViewDelta, ViewRevision, ViewSnapshot,
};

use super::error::ApiError;

/// The outcome of deploying one app.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// The app as stored after the call.
    pub record: AppRecord,
    /// False when the same spec was already deployed (nothing changed).
    pub created: bool,
}

impl Deployed {
    /// The original Hydrogen's success message.
    pub fn message(&self) -> String {
        if self.created {
            format!("Task {} successfully queued", self.record.name())
        } else {
            format!(
                "Task {} successfully queued (unchanged: the same spec is deployed at version {})",
                self.record.name(),
                self.record.version
            )
        }
    }
}

/// The outcome of an update.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The app as stored after the call.
    pub record: AppRecord,
    /// False when the spec was the same (nothing changed).
    pub changed: bool,
}

/// One app with what Hydrogen observes of it. The record and the status
/// are shared with the store's snapshot (on the leader with the memory
/// store: the very records the store and the scheduler hold).
#[derive(Debug, Clone, PartialEq)]
pub struct AppView {
    /// The app as stored.
    pub record: Arc<AppRecord>,
    /// Its tasks, by instance (the store's and the scheduler's records).
    pub tasks: Vec<Arc<TaskRecord>>,
    /// The scheduler's account of it (why tasks wait), if any yet.
    pub status: Option<Arc<AppStatus>>,
}

impl AppView {
    /// Tasks in TASK_RUNNING.
    pub fn running(&self) -> u32 {
        let n = self
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::TaskRunning)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The one-word state the original REST API reported for an app:
    /// `TASK_KILLING` while killed; `TASK_RUNNING` when every instance runs;
    /// else the state of the first (by instance) live task that is not
    /// running; `TASK_STAGING` when tasks are still missing; `TASK_FINISHED`
    /// for an app scaled to zero with nothing left.
    pub fn summary_state(&self) -> &'static str {
        if self.record.goal == AppGoal::Kill {
            return TaskState::TaskKilling.as_str();
        }
        let live: Vec<&TaskRecord> = self
            .tasks
            .iter()
            .map(|t| &**t)
            .filter(|t| !t.state.is_terminal())
            .collect();
        if self.record.spec.instances == 0 && live.is_empty() {
            return TaskState::TaskFinished.as_str();
        }
        if let Some(t) = live.iter().find(|t| t.state != TaskState::TaskRunning) {
            return t.state.as_str();
        }
        if self.running() >= self.record.spec.instances {
            TaskState::TaskRunning.as_str()
        } else {
            TaskState::TaskStaging.as_str()
        }
    }
}

/// What `/readyz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The lease holder, if any.
    pub leader: Option<LeaderInfo>,
    /// Whether this instance holds the lease.
    pub is_leader: bool,
    /// Why this instance refuses to lead (it is then not ready).
    pub refusal: Option<String>,
}

/// The two encodings answers are memoized in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// The REST face's JSON.
    Json,
    /// The gRPC face's protobuf.
    Proto,
}

impl Face {
    fn index(self) -> usize {
        match self {
            Face::Json => 0,
            Face::Proto => 1,
        }
    }
}

/// How the per-app shares of a ListAll body are put together: `open`, the
/// non-empty shares separated by `separator`, `close` (`[`, `,`, `]` for a
/// JSON array; nothing for protobuf, where concatenated encodings of a
/// repeated field are one message).
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    pub open: &'static [u8],
    pub separator: &'static [u8],
    pub close: &'static [u8],
}

#[derive(Debug, PartialEq)]
enum Content {
    /// An app with its record.
    App(Box<AppView>),
    /// Tasks whose app has no record (any more): ListAll shows them, State
    /// does not know the app.
    Orphans(Vec<Arc<TaskRecord>>),
}

impl Content {
    /// An app that is not gone ([`AppSlice::is_gone`]).
    fn of(slice: AppSlice) -> Self {
        match slice.record {
            Some(record) => Content::App(Box::new(AppView {
                record,
                tasks: slice.tasks,
                status: slice.status,
            })),
            None => Content::Orphans(slice.tasks),
        }
    }
}

/// One app as State and ListAll show it, with each face's encodings of its
/// State answer and of its ListAll share, rendered on first use and kept
/// while the app is unchanged.
#[derive(Debug)]
pub struct AppEntry {
    content: Content,
    state: [OnceLock<Bytes>; 2],
    list: [OnceLock<Bytes>; 2],
}

impl AppEntry {
    fn new(content: Content) -> Self {
        Self {
            content,
            state: Default::default(),
            list: Default::default(),
        }
    }

    /// `previous`'s entry of `name` when its content is `content` (its
    /// renderings stay valid), else a new entry.
    fn kept_or_new(previous: Option<&Views>, name: &str, content: Content) -> Arc<Self> {
        previous
            .and_then(|p| p.apps.get(name))
            .filter(|old| old.content == content)
            .map(Arc::clone)
            .unwrap_or_else(|| Arc::new(AppEntry::new(content)))
    }

    /// The app, when it has a record.
    pub fn view(&self) -> Option<&AppView> {
        match &self.content {
            Content::App(view) => Some(view),
            Content::Orphans(_) => None,
        }
    }

    /// Its tasks, by instance.
    pub fn tasks(&self) -> &[Arc<TaskRecord>] {
        match &self.content {
            Content::App(view) => &view.tasks,
            Content::Orphans(tasks) => tasks,
        }
    }

    /// The State answer in `face`'s encoding, rendered by `render` the first
    /// time; `None` for an app without a record.
    pub fn state_body(&self, face: Face, render: impl FnOnce(&AppView) -> Bytes) -> Option<Bytes> {
        let view = self.view()?;
        Some(
            self.state[face.index()]
                .get_or_init(|| render(view))
                .clone(),
        )
    }

    fn list_share(&self, face: Face, render: &impl Fn(&[Arc<TaskRecord>]) -> Bytes) -> &Bytes {
        self.list[face.index()].get_or_init(|| render(self.tasks()))
    }
}

/// Every app, task and status as of one view revision. See the module docs.
#[derive(Debug)]
pub struct Views {
    revision: ViewRevision,
    /// When the read of this snapshot began.
    read_at: Instant,
    apps: BTreeMap<String, Arc<AppEntry>>,
    list: [OnceLock<Bytes>; 2],
}

impl Views {
    /// Groups a snapshot by app, keeping the entries of `previous` whose
    /// content did not change (with their renderings).
    fn build(snapshot: ViewSnapshot, read_at: Instant, previous: Option<&Views>) -> Self {
        let snapshot_revision = snapshot.revision;
        let apps = snapshot
            .into_slices()
            .into_values()
            .filter(|slice| !slice.is_gone())
            .map(|slice| {
                let name = slice.name.clone();
                let entry = AppEntry::kept_or_new(previous, &name, Content::of(slice));
                (name, entry)
            })
            .collect();
        Self {
            revision: snapshot_revision,
            read_at,
            apps,
            list: Default::default(),
        }
    }

    /// `previous` brought up to `delta`'s revision: the apps it names are
    /// replaced (or dropped when gone), the others keep their entries and
    /// renderings. Costs what changed, not what is stored.
    fn advance(previous: &Views, delta: ViewDelta, read_at: Instant) -> Self {
        let mut apps = previous.apps.clone();
        let revision = delta.apply_to(&mut apps, |slice| {
            let name = slice.name.clone();
            AppEntry::kept_or_new(Some(previous), &name, Content::of(slice))
        });
        Self {
            revision,
            read_at,
            apps,
            list: Default::default(),
        }
    }

    /// The entry of an app that has a record.
    pub fn app(&self, name: &str) -> Option<&Arc<AppEntry>> {
        self.apps.get(name).filter(|e| e.view().is_some())
    }

    /// Every app that has a record, by name.
    pub fn apps(&self) -> impl Iterator<Item = &Arc<AppEntry>> {
        self.apps.values().filter(|e| e.view().is_some())
    }

    /// Every task, by app, instance and task id.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.apps.values().flat_map(|e| e.tasks()).map(|t| &**t)
    }

    /// Up to `limit` tasks after `after` in ListAll's order (app, instance,
    /// task id), as runs of one app each, and whether more follow: one page
    /// of a paged ListAll.
    pub fn task_page(&self, after: Option<&TaskKey>, limit: usize) -> (Vec<PagePart<'_>>, bool) {
        use std::ops::Bound;
        let start = match after {
            Some(key) => Bound::Included(key.app.as_str()),
            None => Bound::Unbounded,
        };
        let mut parts = Vec::new();
        let mut listed = 0;
        for (name, entry) in self.apps.range::<str, _>((start, Bound::Unbounded)) {
            let tasks = entry.tasks();
            let from = match after {
                // Tasks are sorted by (instance, task id) within an app.
                Some(key) if *name == key.app => tasks.partition_point(|t| {
                    (t.instance, t.task_id.as_str()) <= (key.instance, key.task_id.as_str())
                }),
                _ => 0,
            };
            let left = tasks.len() - from;
            if left == 0 {
                continue;
            }
            if listed == limit {
                return (parts, true);
            }
            let take = left.min(limit - listed);
            parts.push(PagePart {
                entry,
                from,
                to: from + take,
            });
            listed += take;
            if take < left {
                return (parts, true);
            }
        }
        (parts, false)
    }

    /// The ListAll answer in `face`'s encoding: each app's share rendered
    /// by `render` (once per app while it is unchanged), framed by `framing`;
    /// the whole body built once per snapshot.
    pub fn list_body(
        &self,
        face: Face,
        framing: Framing,
        render: impl Fn(&[Arc<TaskRecord>]) -> Bytes,
    ) -> Bytes {
        self.list[face.index()]
            .get_or_init(|| {
                let shares: Vec<&Bytes> = self
                    .apps
                    .values()
                    .map(|e| e.list_share(face, &render))
                    .filter(|b| !b.is_empty())
                    .collect();
                let len = framing.open.len()
                    + framing.close.len()
                    + shares.iter().map(|b| b.len()).sum::<usize>()
                    + framing.separator.len() * shares.len().saturating_sub(1);
                let mut body = BytesMut::with_capacity(len);
                body.extend_from_slice(framing.open);
                for (i, share) in shares.iter().enumerate() {
                    if i > 0 {
                        body.extend_from_slice(framing.separator);
                    }
                    body.extend_from_slice(share);
                }
                body.extend_from_slice(framing.close);
                body.freeze()
            })
            .clone()
    }
}

/// One app's tasks on a page of ListAll (see [`Views::task_page`]).
pub struct PagePart<'v> {
    entry: &'v AppEntry,
    from: usize,
    to: usize,
}

impl PagePart<'_> {
    pub fn tasks(&self) -> &[Arc<TaskRecord>] {
        &self.entry.tasks()[self.from..self.to]
    }

    /// The part in `face`'s encoding, by `render`: an app listed whole
    /// reuses its ListAll share (rendered once per app while unchanged), so
    /// a page costs a copy of bytes, not an encoding, for most apps.
    pub fn render(&self, face: Face, render: &impl Fn(&[Arc<TaskRecord>]) -> Bytes) -> Bytes {
        if self.from == 0 && self.to == self.entry.tasks().len() {
            self.entry.list_share(face, render).clone()
        } else {
            render(self.tasks())
        }
    }
}

/// Where a page of ListAll ends: its last task's app, instance and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskKey {
    pub app: String,
    pub instance: u32,
    pub task_id: String,
}

impl TaskKey {
    pub fn of(task: &TaskRecord) -> Self {
        Self {
            app: task.app.clone(),
            instance: task.instance,
            task_id: task.task_id.clone(),
        }
    }
}

/// The latest [`Views`] of one instance, and the lock that lets one request
/// at a time read a new one.
#[derive(Default)]
struct ViewCache {
    current: RwLock<Option<Arc<Views>>>,
    refresh: tokio::sync::Mutex<()>,
}

impl ViewCache {
    fn current(&self) -> Option<Arc<Views>> {
        // Never poisoned in practice: nothing panics while holding it.
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current views if they are fresh enough for a request that began
    /// at `asked` and then read `revision` from the store.
    fn fresh(&self, asked: Instant, revision: ViewRevision) -> Option<Arc<Views>> {
        self.current()
            .filter(|v| v.revision == revision || v.read_at >= asked)
    }

    fn set(&self, views: Arc<Views>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(views);
    }
}

/// See the module docs. Cheap to clone (clones share the views).
pub struct ApiService<S> {
    store: Arc<S>,
    instance_id: String,
    views: Arc<ViewCache>,
    /// This process's own knowledge of its leadership (the election loop's
    /// lease while it leads), when the process runs elections.
    leadership: Option<tokio::sync::watch::Receiver<Option<LeaderInfo>>>,
    /// Why this instance refuses to lead, reported by readiness.
    refusal: crate::ha::Refusal,
    /// The one event-log reader of every watch, started by the first.
    hub: Arc<std::sync::OnceLock<Arc<super::watch::WatchHub>>>,
    /// The framework's roles (`--roles`): an app's `resources.role` must be
    /// one of them. Empty: not checked (no scheduler configured).
    roles: Arc<[String]>,
}

impl<S> Clone for ApiService<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            instance_id: self.instance_id.clone(),
            views: Arc::clone(&self.views),
            leadership: self.leadership.clone(),
            refusal: self.refusal.clone(),
            hub: Arc::clone(&self.hub),
            roles: Arc::clone(&self.roles),
        }
    }
}

impl<S: Store> ApiService<S> {
    /// A core over `store`, for the instance `instance_id` (compared with the
    /// lease holder for readiness).
    pub fn new(store: Arc<S>, instance_id: impl Into<String>) -> Self {
        Self {
            store,
            instance_id: instance_id.into(),
            views: Arc::default(),
            leadership: None,
            refusal: crate::ha::Refusal::default(),
            hub: Arc::default(),
            roles: Arc::from(Vec::new()),
        }
    }

    /// Apps must then use one of `roles` (the framework's, first the
    /// default): the scheduler gets offers for no other role, so an app in
    /// another would wait forever.
    pub fn with_roles(mut self, roles: Vec<String>) -> Self {
        self.roles = Arc::from(roles);
        self
    }

    /// Refuses apps whose role the framework does not hold, naming the
    /// field; and `reserved_only` in role `*`, which has no reservations.
    fn check_roles(&self, apps: &[App]) -> Result<(), ApiError> {
        let Some(default) = self.roles.first() else {
            return Ok(());
        };
        let several = apps.len() > 1;
        for (i, app) in apps.iter().enumerate() {
            let role = app.resources.role.as_deref().unwrap_or(default);
            let error = if !self.roles.iter().any(|r| r == role) {
                Some(ValidationError::new(
                    "resources.role",
                    format!(
                        "must be one of the framework's roles ({}), not {role:?}: Hydrogen \
                         gets no offers for another role (ask the operator to add it to --roles)",
                        self.roles.join(", ")
                    ),
                ))
            } else if role == "*" && app.resources.reserved_only == Some(true) {
                Some(ValidationError::new(
                    "resources.reserved_only",
                    "needs a resources.role other than \"*\": nothing is reserved to \"*\", \
                     so the app could never be placed",
                ))
            } else {
                None
            };
            if let Some(error) = error {
                return Err(SpecError::Invalid {
                    index: several.then_some(i),
                    errors: vec![error],
                }
                .into());
            }
        }
        Ok(())
    }

    /// The watch hub of this core (started on first use).
    pub fn watch_hub(&self) -> Arc<super::watch::WatchHub> {
        Arc::clone(
            self.hub
                .get_or_init(|| super::watch::WatchHub::start(&self.store)),
        )
    }

    /// Readiness then reports why this instance refuses to lead.
    pub fn with_refusal(mut self, refusal: crate::ha::Refusal) -> Self {
        self.refusal = refusal;
        self
    }

    /// Readiness then calls this instance the leader only while its
    /// election loop leads with the lease the store names: a lease naming
    /// us that we do not know we hold (an acquisition whose answer was
    /// lost) or still hold (we fenced ourselves) is not leadership.
    pub fn with_leadership(
        mut self,
        leadership: tokio::sync::watch::Receiver<Option<LeaderInfo>>,
    ) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// This instance's id.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The store (for the watch).
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// Deploys validated apps, all or nothing: one atomic store write
    /// (`Store::create_apps`), so a conflict anywhere, a store stall or a
    /// crash never leaves part of a batch. The write runs in its own task:
    /// once started it finishes even if the caller goes away (or a dropped
    /// connection would leave part of the batch written), and the answer,
    /// when one can be sent, lists every app with whether it was created.
    pub async fn deploy(&self, apps: Vec<App>) -> Result<Vec<Deployed>, ApiError> {
        self.check_roles(&apps)?;
        let store = Arc::clone(&self.store);
        let count = apps.len();
        let outcomes = tokio::spawn(async move { store.create_apps(apps).await })
            .await
            .map_err(|e| {
                ApiError::Store(crate::store::StoreError::Unavailable(format!(
                    "the deploy of {count} apps failed inside the server ({e}); \
                     nothing or all of them were written: read them back or deploy again"
                )))
            })??;
        let out: Vec<Deployed> = outcomes
            .into_iter()
            .map(|outcome| match outcome {
                CreateOutcome::Created(record) => Deployed {
                    record,
                    created: true,
                },
                CreateOutcome::Unchanged(record) => Deployed {
                    record,
                    created: false,
                },
            })
            .collect();
        let created = out.iter().filter(|d| d.created).count();
        tracing::info!(apps = count, created, "apps deployed");
        for deployed in &out {
            tracing::debug!(
                app = deployed.record.name(),
                version = deployed.record.version,
                created = deployed.created,
                "app deployed"
            );
        }
        Ok(out)
    }

    /// Replaces an app's spec.
    pub async fn update(
        &self,
        app: App,
        expected_version: Option<u64>,
    ) -> Result<Updated, ApiError> {
        self.check_roles(std::slice::from_ref(&app))?;
        let outcome = self.store.update_app(app, expected_version).await?;
        let changed = outcome.changed();
        let record = outcome.into_record();
        tracing::info!(
            app = record.name(),
            version = record.version,
            changed,
            "app updated"
        );
        Ok(Updated { record, changed })
    }

    /// Asks for an app to be killed.
    pub async fn kill(
        &self,
        name: &str,
        expected_version: Option<u64>,
    ) -> Result<AppRecord, ApiError> {
        check_name(name)?;
        let record = self.store.kill_app(name, expected_version).await?;
        tracing::info!(app = name, version = record.version, "app kill requested");
        Ok(record)
    }

    /// One app with its tasks and status (State).
    pub async fn app(&self, name: &str) -> Result<Arc<AppEntry>, ApiError> {
        check_name(name)?;
        let views = self.views().await?;
        views
            .app(name)
            .cloned()
            .ok_or_else(|| crate::store::StoreError::AppNotFound(name.to_owned()).into())
    }

    /// Every app and task as the store holds them now (ListAll). See the
    /// module docs.
    pub async fn views(&self) -> Result<Arc<Views>, ApiError> {
        let asked = Instant::now();
        let revision = self.store.view_revision().await?;
        if let Some(views) = self.views.fresh(asked, revision) {
            return Ok(views);
        }
        let _refreshing = self.views.refresh.lock().await;
        // Another request may have read a snapshot while we waited.
        if let Some(views) = self.views.fresh(asked, revision) {
            return Ok(views);
        }
        let read_at = Instant::now();
        let previous = self.views.current();
        // What changed since the snapshot we hold, when the store can tell;
        // the whole state otherwise (first read, or history out of reach).
        let delta = match &previous {
            Some(previous) => self.store.view_delta(previous.revision).await?,
            None => None,
        };
        let views = match (delta, previous.as_deref()) {
            (Some(delta), Some(previous)) => Views::advance(previous, delta, read_at),
            (_, previous) => {
                let snapshot = self.store.view_snapshot().await?;
                Views::build(snapshot, read_at, previous)
            }
        };
        let views = Arc::new(views);
        self.views.set(Arc::clone(&views));
        Ok(views)
    }

    /// Whether the store answers, and who leads.
    pub async fn readiness(&self) -> Result<Readiness, ApiError> {
        let leader = self.store.leader().await?;
        let named = leader
            .as_ref()
            .is_some_and(|l| l.instance_id == self.instance_id);
        let is_leader = match &self.leadership {
            Some(local) => named && *local.borrow() == leader,
            None => named,
        };
        Ok(Readiness {
            leader,
            is_leader,
            refusal: self.refusal.get(),
        })
    }
}

/// An app name given to Kill or State must at least be present; the store
/// answers NOT_FOUND for names that cannot exist.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::BadRequest {
            field: Some("name".into()),
            message: "is required".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{app, task};

    fn snapshot(views: u64, tasks: Vec<TaskRecord>) -> ViewSnapshot {
        let record = |name: &str| {
            Arc::new(AppRecord {
                spec: app(name, "sleep 1"),
                version: 1,
                config_version: 1,
                goal: AppGoal::Run,
                created_ms: 1,
                updated_ms: 1,
            })
        };
        ViewSnapshot {
            revision: ViewRevision {
                views,
                ..ViewRevision::default()
            },
            apps: vec![record("db"), record("web")],
            tasks: tasks.into_iter().map(Arc::new).collect(),
            statuses: vec![],
        }
    }

    #[test]
    fn a_delta_replaces_the_apps_it_names_and_keeps_the_rest() {
        let running = TaskState::TaskRunning;
        let first = Views::build(
            snapshot(
                1,
                vec![
                    task("db", 0, "db.0", running),
                    task("web", 0, "web.0", running),
                ],
            ),
            Instant::now(),
            None,
        );
        let web = first.apps["web"].view().expect("record").record.clone();
        let revision = ViewRevision {
            views: 2,
            ..ViewRevision::default()
        };
        let delta = ViewDelta {
            revision,
            apps: vec![
                // db: gone entirely; web: a task failed; ghost: orphans.
                crate::store::AppSlice {
                    name: "db".into(),
                    ..Default::default()
                },
                crate::store::AppSlice {
                    name: "web".into(),
                    record: Some(web),
                    tasks: vec![Arc::new(task("web", 0, "web.0", TaskState::TaskFailed))],
                    status: None,
                },
                crate::store::AppSlice {
                    name: "ghost".into(),
                    tasks: vec![Arc::new(task("ghost", 0, "ghost.0", running))],
                    ..Default::default()
                },
            ],
        };
        let second = Views::advance(&first, delta, Instant::now());
        assert_eq!(second.revision, revision);
        assert!(second.app("db").is_none() && !second.apps.contains_key("db"));
        assert_eq!(second.apps["web"].tasks()[0].state, TaskState::TaskFailed);
        assert!(second.app("ghost").is_none(), "orphans have no State");
        let ids: Vec<&str> = second.tasks().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["ghost.0", "web.0"]);

        // An app named with the content it had keeps its entry.
        let same = ViewDelta {
            revision,
            apps: vec![crate::store::AppSlice {
                name: "ghost".into(),
                tasks: vec![Arc::new(task("ghost", 0, "ghost.0", running))],
                ..Default::default()
            }],
        };
        let third = Views::advance(&second, same, Instant::now());
        assert!(Arc::ptr_eq(&second.apps["ghost"], &third.apps["ghost"]));
        assert!(Arc::ptr_eq(&second.apps["web"], &third.apps["web"]));
    }

    #[test]
    fn a_page_continues_after_the_last_task_it_listed() {
        let running = TaskState::TaskRunning;
        let views = Views::build(
            snapshot(
                1,
                vec![
                    task("db", 0, "db.0", running),
                    task("db", 1, "db.1", running),
                    task("web", 0, "web.0", running),
                ],
            ),
            Instant::now(),
            None,
        );
        let ids = |page: &[PagePart]| {
            page.iter()
                .flat_map(|p| p.tasks())
                .map(|t| t.task_id.clone())
                .collect::<Vec<_>>()
        };
        let (first, more) = views.task_page(None, 2);
        assert_eq!(
            (ids(&first), more),
            (vec!["db.0".into(), "db.1".into()], true)
        );
        let after = TaskKey::of(&first[0].tasks()[1]);
        let (second, more) = views.task_page(Some(&after), 2);
        assert_eq!((ids(&second), more), (vec!["web.0".into()], false));
        // A cursor whose task is gone still resumes at the next one.
        let gone = TaskKey {
            app: "db".into(),
            instance: 0,
            task_id: "db.0x".into(),
        };
        let (resumed, _) = views.task_page(Some(&gone), 10);
        assert_eq!(ids(&resumed), vec!["db.1".to_string(), "web.0".into()]);
    }

    #[test]
    fn a_new_snapshot_keeps_the_renderings_of_unchanged_apps_only() {
        let running = TaskState::TaskRunning;
        let first = Views::build(
            snapshot(
                1,
                vec![
                    task("db", 0, "db.0", running),
                    task("web", 0, "web.0", running),
                ],
            ),
            Instant::now(),
            None,
        );
        let rendered = |views: &Views, name: &str| {
            views.apps[name]
                .state_body(Face::Json, |v| Bytes::from(v.record.version.to_string()))
                .expect("has a record")
        };
        rendered(&first, "db");
        rendered(&first, "web");
        let failed = TaskState::TaskFailed;
        let second = Views::build(
            snapshot(
                2,
                vec![
                    task("db", 0, "db.0", running),
                    task("web", 0, "web.0", failed),
                ],
            ),
            Instant::now(),
            Some(&first),
        );
        assert!(Arc::ptr_eq(&first.apps["db"], &second.apps["db"]));
        assert!(!Arc::ptr_eq(&first.apps["web"], &second.apps["web"]));
        assert_eq!(second.apps["web"].tasks()[0].state, failed);
        assert!(second.apps["web"].state[Face::Json.index()].get().is_none());
        assert!(second.apps["db"].state[Face::Json.index()].get().is_some());

        // ListAll joins every app's share; apps without tasks add nothing.
        let body = second.list_body(
            Face::Json,
            Framing {
                open: b"[",
                separator: b",",
                close: b"]",
            },
            |tasks| {
                Bytes::from(
                    tasks
                        .iter()
                        .map(|t| format!("\"{}\"", t.task_id))
                        .collect::<Vec<_>>()
                        .join(","),
                )
            },
        );
        assert_eq!(&body[..], b"[\"db.0\",\"web.0\"]");
        assert_eq!(second.tasks().count(), 2);
    }

    #[test]
    fn tasks_without_an_app_record_are_listed_but_have_no_state() {
        let mut snap = snapshot(1, vec![task("ghost", 0, "ghost.0", TaskState::TaskRunning)]);
        snap.apps.clear();
        let views = Views::build(snap, Instant::now(), None);
        assert!(views.app("ghost").is_none());
        assert_eq!(
            views
                .tasks()
                .map(|t| t.task_id.as_str())
                .collect::<Vec<_>>(),
            ["ghost.0"]
        );
    }
}
