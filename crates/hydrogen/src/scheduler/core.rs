//! The scheduler's decision core: the in-memory model of apps and tasks,
//! and every decision about them, as a pure state machine.
//!
//! [`Core::handle`] turns one [`Input`] (Mesos events, a (re)subscription,
//! an app change, a tick) at a given [`Now`] into [`Effects`]: store writes,
//! launches, kills with their reason, declines with their refuse time,
//! REVIVE / SUPPRESS, reconciliation requests and acknowledgements. It
//! never touches the store or the network and never reads a clock, so unit
//! tests drive it on a hand-stepped clock; [`super::runtime`] is the driver
//! that feeds it and carries its effects out (persist, then act).
//!
//! # What a wake-up decides
//! 1. Status updates are applied to the model: orphans (tasks Mesos runs
//!    for us that no app owns) are killed, failures feed the relaunch
//!    backoff — except when Mesos merely lost track of a task (UNKNOWN,
//!    GONE, DROPPED, LOST, UNREACHABLE), which says nothing about the app
//!    and is replaced at once. UNKNOWN within `reregister_grace` of a
//!    subscription is the exception (see Reconciliation).
//! 2. The touched apps are re-planned ([`super::plan`]); a plan says when it
//!    must be looked at again (`requeue_after`), so a tick re-plans only the
//!    apps that asked, not every app.
//! 3. Waiting slots are placed on the offers of the batch
//!    ([`super::placement`]) and their TaskInfos built ([`super::launch`]);
//!    unused offers are declined for no longer than the shortest backoff
//!    still running, and a REVIVE goes out the moment a backoff ends.
//!
//! # Rolling updates
//! A slot of an old version gets a new task beside the old one (surge).
//! When that new task cannot be placed (UNIQUE, fixed host ports, a full
//! cluster: every offer of two rounds rejected it) the app's update turns
//! *in place*: old tasks are killed a slot at a time and their slots
//! relaunched. New-version tasks that keep failing (`update_failures_to_pause`)
//! pause the update with the old tasks still running; any change to the app
//! (a fix, or the previous spec back) starts a new update.
//!
//! # Maintenance
//! Agents whose Mesos maintenance starts within `maintenance_horizon` get
//! no new task; their tasks move off like an old version in a rolling
//! update, and the inverse offer is accepted once none remain, or declined
//! when moving would break an app's minimum (see `maintenance.rs`).
//!
//! # Kills
//! A kill is sent once and retried, if no terminal update came, after 1 s,
//! 2 s, 4 s … up to `kill_retry`. A task we killed while its agent was
//! unreachable is killed again on its first update after the agent returns,
//! so a slot never runs twice for longer than one round trip.
//!
//! # Reconciliation
//! After every SUBSCRIBED: an explicit RECONCILE of every live task we know,
//! then, once that is answered, an implicit one. Launching waits until
//! every explicitly reconciled task has been answered (or
//! `reconcile_timeout` passed), so a new leader never launches into a slot
//! whose task is still running unbeknown to it.
//!
//! A master that restarted without its registry answers TASK_UNKNOWN for
//! every task whose agent has not re-registered with it yet, and the agents
//! do so only seconds later, their tasks still running. So an UNKNOWN
//! answered within `reregister_grace` of the subscription keeps its slot
//! until that grace ends (the plan's requeue brings the app back then); the
//! held tasks are reconciled again every second meanwhile, and one that
//! answers RUNNING is simply kept. Without news by the grace's end, the
//! slot is replaced, with no backoff. GONE, DROPPED and LOST are definitive
//! and replaced at once, as are tasks killed by an agent drain
//! (REASON_AGENT_DRAINING).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::backoff::Backoffs;
use super::effects::{
    Acknowledge, Decline, Effects, Kill, KillReason, Launch, Reconcile, ReconcileTask,
};
use super::explain::{self, Backing, Progress};
use super::launch::{self, LaunchRequest};
use super::names::{AppName, TaskId};
use super::offer_flow::RoleFlow;
use super::placement::{self, Demand};
use super::plan::{self, Rollout};
use super::runtime::SchedulerConfig;
use super::status;
use crate::mesos::calls;
use crate::mesos::subscription::Generation;
use crate::mesos::v1::scheduler::{Event, event};
use crate::mesos::v1::{self};
use crate::store::model::RECENT_TERMINATIONS;
use crate::store::{AppGoal, AppRecord, AppStatus, TaskBatch, TaskRecord, TaskState, Termination};

/// The time an input is handled at: a monotonic instant for timers and the
/// wall clock (ms since the Unix epoch) that records carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub at: Instant,
    pub wall_ms: u64,
}

impl Now {
    /// The real time.
    pub fn real() -> Self {
        Self {
            at: Instant::now(),
            wall_ms: hydrogen_time::now_ms(),
        }
    }

    /// This time moved on by `d` (both clocks).
    pub fn after(self, d: Duration) -> Self {
        Self {
            at: self.at + d,
            wall_ms: self
                .wall_ms
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// Something that happened, for the core to decide about.
#[derive(Debug)]
pub enum Input {
    /// A Mesos session began (the SUBSCRIBED event).
    Subscribed {
        generation: Generation,
        framework_id: String,
    },
    /// The Mesos session was lost: its offers are void, no call may go out.
    Disconnected,
    /// Events of the current session, in order.
    Mesos(Vec<Event>),
    /// The apps as the store has them now (every app), shared with the
    /// store: the core keeps these records, not copies of them.
    Apps(Vec<Arc<AppRecord>>),
    /// Time passed.
    Tick,
}

/// A kill in flight: when it was last sent and how often.
#[derive(Debug, Clone)]
struct KillTimer {
    sent_at: Instant,
    attempts: u32,
    /// Where it was sent (orphans have no record to look it up in).
    agent_id: Option<String>,
}

/// An app's rolling update, for its current config version.
#[derive(Debug, Clone, Copy, Default)]
struct RolloutState {
    config_version: u64,
    in_place: bool,
    /// Offer rounds in a row in which every offer rejected the new task.
    unplaced_rounds: u32,
    /// New-version tasks that failed during this update.
    new_failures: u32,
}

/// Offer rounds that must reject a surging new task before the update
/// replaces in place: one round may hold offers of only a few agents.
const UNPLACED_ROUNDS_FOR_IN_PLACE: u32 = 2;

/// How often tasks held in UNKNOWN are reconciled during the
/// re-registration grace: about as often as an agent retries registering.
const HELD_RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// Tasks named in one RECONCILE call at most: the master answers each with
/// an update, and a failover with 100,000 known tasks then sends a hundred
/// calls of a bounded body size instead of one of megabytes.
const RECONCILE_CHUNK: usize = 1000;

/// The decision core (see the module docs).
pub struct Core {
    config: SchedulerConfig,
    framework_id: Option<String>,
    session: Option<Generation>,
    /// Shared with the store (and the API's views): one copy of an app
    /// in the process; a map's spare capacity costs a pointer per slot,
    /// not an app (10,000 apps leave ~6,000 spare slots).
    apps: HashMap<AppName, Arc<AppRecord>>,
    /// Shared with the memory store (and its event log) and the API's
    /// views: a change copies the record once ([`Arc::make_mut`]) and the
    /// written copy becomes everyone's.
    tasks: HashMap<TaskId, Arc<TaskRecord>>,
    by_app: HashMap<AppName, BTreeSet<TaskId>>,
    /// Slots waiting for a task, per app.
    pending: BTreeMap<AppName, Vec<u32>>,
    backoffs: Backoffs,
    ready_since: HashMap<TaskId, Instant>,
    kills: HashMap<TaskId, KillTimer>,
    awaiting_reconcile: HashSet<TaskId>,
    reconcile_started: Option<Instant>,
    /// The implicit RECONCILE of a session waits for the explicit one to be
    /// answered (or to time out): sent at once, its answers for every task
    /// (as many again after a failover) would compete with the answers the
    /// launching waits on.
    implicit_reconcile_due: bool,
    /// Every app is replanned after a (re)subscription; with tasks to
    /// reconcile, at the next input: the reconciliation calls go out first
    /// (nothing launches before their answers anyway, so the offer flow
    /// decided meanwhile is the same), and a failover at 100,000 tasks
    /// waits ~40 ms less.
    replan_all_due: bool,
    last_implicit_reconcile: Instant,
    /// When the re-registration grace of the current subscription ends.
    reregister_until: Option<Now>,
    /// Last explicit reconciliation of the tasks held in UNKNOWN.
    last_held_reconcile: Instant,
    /// Per role: suppressed, or decline filters to clear.
    flow: RoleFlow,
    /// Apps with waiting slots held back by their backoff at the last look.
    backing_off: BTreeSet<AppName>,
    /// When an app's plan asked to be looked at again.
    requeue: HashMap<AppName, Instant>,
    /// Apps whose last plan was [`plan::AppPlan::steady`]: an update that
    /// moves one of their tasks between quiet live states does not replan
    /// them (at 1,000 instances an app's plan visits 1,000 records, and a
    /// deploy sends two such updates per task).
    steady: HashSet<AppName>,
    /// Apps planned so far (an operation count for tests and benches).
    plans: u64,
    rollouts: HashMap<AppName, RolloutState>,
    rejections: HashMap<AppName, BTreeMap<String, u64>>,
    launch_errors: HashMap<AppName, String>,
    /// What was last written per app, shared with the store that holds it.
    statuses_written: HashMap<AppName, Arc<AppStatus>>,
    last_status_write: Instant,
    /// How the apps' tasks ended, for State (persisted with the status).
    history: HashMap<AppName, History>,
    /// The UNKNOWN answers of tasks held in it: history only once the grace
    /// ends without the task coming back (one that comes back never ended).
    held_terminations: HashMap<TaskId, Termination>,
    /// Agents Mesos said go down for maintenance: agent id ⇒ when (wall ms).
    unavailable: HashMap<String, u64>,
    /// Those whose maintenance starts within the horizon: our tasks on
    /// them move (see `maintenance.rs`).
    moving_agents: HashSet<String>,
    /// Outstanding inverse offers: id ⇒ agent id.
    inverse_offers: HashMap<String, String>,
    /// Offer rounds in a row that placed none of a moving app's tasks.
    moving_unplaced: HashMap<AppName, u32>,
    /// Why an app blocks a maintenance (shown in its State).
    maintenance_notes: HashMap<AppName, String>,
}

/// How an app's tasks ended: the last of each slot, and the latest few.
#[derive(Debug, Clone, Default)]
struct History {
    last: BTreeMap<u32, Termination>,
    /// Newest first, at most [`RECENT_TERMINATIONS`].
    recent: Vec<Termination>,
}

impl Core {
    /// A core for a new leadership term, loaded with the stored state
    /// (the statuses bring the failure history a former leader wrote).
    /// Apps are taken as shared records (owned ones are wrapped), as are
    /// statuses: a store that hands out its own keeps one copy of each.
    pub fn new(
        config: SchedulerConfig,
        framework_id: Option<String>,
        apps: impl IntoIterator<Item = impl Into<Arc<AppRecord>>>,
        tasks: Vec<Arc<TaskRecord>>,
        statuses: Vec<Arc<AppStatus>>,
        now: Now,
    ) -> Self {
        let mut core = Self {
            backoffs: Backoffs::new(config.backoff),
            config,
            framework_id,
            session: None,
            apps: HashMap::new(),
            tasks: HashMap::new(),
            by_app: HashMap::new(),
            pending: BTreeMap::new(),
            ready_since: HashMap::new(),
            kills: HashMap::new(),
            awaiting_reconcile: HashSet::new(),
            reconcile_started: None,
            implicit_reconcile_due: false,
            replan_all_due: false,
            last_implicit_reconcile: now.at,
            reregister_until: None,
            last_held_reconcile: now.at,
            flow: RoleFlow::default(),
            backing_off: BTreeSet::new(),
            requeue: HashMap::new(),
            steady: HashSet::new(),
            plans: 0,
            rollouts: HashMap::new(),
            rejections: HashMap::new(),
            launch_errors: HashMap::new(),
            statuses_written: HashMap::new(),
            last_status_write: now.at,
            history: HashMap::new(),
            held_terminations: HashMap::new(),
            unavailable: HashMap::new(),
            moving_agents: HashSet::new(),
            inverse_offers: HashMap::new(),
            moving_unplaced: HashMap::new(),
            maintenance_notes: HashMap::new(),
        };
        for status in statuses {
            // Most apps have no ended task: no entry, rather than an empty one each.
            if !status.last_terminations.is_empty() || !status.recent_terminations.is_empty() {
                core.history.insert(
                    status.app.clone().into(),
                    History {
                        last: status.last_terminations.clone(),
                        recent: status.recent_terminations.clone(),
                    },
                );
            }
            core.statuses_written
                .insert(status.app.clone().into(), status);
        }
        core.apps = apps
            .into_iter()
            .map(|a| {
                let a: Arc<AppRecord> = a.into();
                (AppName::from(&a.spec.name), a)
            })
            .collect();
        // A new leader builds this for every task while its takeover
        // waits (100,000 tasks after a failover): one allocation per id,
        // none per app name, each app's id set built in one sorted pass.
        core.tasks.reserve(tasks.len());
        let mut ids_by_app: HashMap<AppName, Vec<TaskId>> = HashMap::new();
        for task in tasks {
            match ids_by_app.get_mut(task.app.as_str()) {
                Some(ids) => ids.push(TaskId::from(&task.task_id)),
                None => {
                    ids_by_app.insert(AppName::from(&task.app), vec![TaskId::from(&task.task_id)]);
                }
            }
            core.tasks.insert(task.task_id.clone().into(), task);
        }
        core.by_app = ids_by_app
            .into_iter()
            .map(|(app, ids)| (app, ids.into_iter().collect()))
            .collect();
        core
    }

    /// Decides what `input` at `now` calls for.
    pub fn handle(&mut self, input: Input, now: Now) -> Effects {
        let mut fx = Effects::default();
        if self.replan_all_due && !matches!(input, Input::Subscribed { .. }) {
            // Before the input, so that its updates find the apps' plans
            // (and a steady app's quiet updates replan nothing).
            self.replan_all_due = false;
            let names = self.all_app_names();
            self.replan(&names, now, &mut fx);
        }
        match input {
            Input::Subscribed {
                generation,
                framework_id,
            } => self.on_subscribed(generation, framework_id, now, &mut fx),
            Input::Disconnected => {
                warn!("mesos session lost; offers of it are void");
                self.session = None;
                // Inverse offers are per session too.
                self.inverse_offers.clear();
            }
            Input::Mesos(events) => self.on_events(events, now, &mut fx),
            Input::Apps(apps) => self.on_apps(apps, now, &mut fx),
            Input::Tick => self.on_tick(now, &mut fx),
        }
        if self.implicit_reconcile_due && self.launch_allowed(now) {
            self.implicit_reconcile_due = false;
            fx.reconciles.push(Reconcile::default());
        }
        self.refresh_moving(now, &mut fx);
        self.answer_inverse_offers(now, &mut fx);
        self.send_kills(now, &mut fx);
        self.offer_flow(now, &mut fx);
        dedup_upserts(&mut fx.writes);
        fx.session = self.session;
        fx
    }

    /// Apps and tasks in the model.
    pub fn counts(&self) -> (usize, usize) {
        (self.apps.len(), self.tasks.len())
    }

    /// The task record the model holds.
    pub fn task(&self, id: &str) -> Option<&TaskRecord> {
        self.tasks.get(id).map(|t| &**t)
    }

    /// The records of `app`'s tasks, by task id.
    fn records_of<'a>(&'a self, app: &str) -> impl Iterator<Item = &'a TaskRecord> + 'a {
        self.by_app
            .get(app)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id).map(|t| &**t))
    }

    /// How many times an app was planned: a quiet update of a steady app
    /// is not one (see [`plan::AppPlan::steady`]).
    pub fn plans_made(&self) -> u64 {
        self.plans
    }

    /// Slots waiting for a task, per app.
    pub fn pending(&self, app: &str) -> &[u32] {
        self.pending.get(app).map_or(&[], Vec::as_slice)
    }

    /// Whether launching is allowed (subscribed, reconciliation settled).
    pub fn launch_allowed(&self, now: Now) -> bool {
        if self.session.is_none() {
            return false;
        }
        self.awaiting_reconcile.is_empty()
            || self.reconcile_started.is_some_and(|t| {
                now.at.saturating_duration_since(t) >= self.config.reconcile_timeout
            })
    }

    /// For benches: the session `generation` is current, with no
    /// reconciliation and offers suppressed (only the status path runs).
    #[doc(hidden)]
    pub fn bench_session(&mut self, generation: Generation) {
        self.session = Some(generation);
        self.flow.suppress_all(&self.config.roles);
    }

    fn all_app_names(&self) -> Vec<String> {
        let mut names: BTreeSet<&AppName> = self.apps.keys().collect();
        names.extend(self.by_app.keys());
        names.into_iter().map(String::from).collect()
    }

    fn on_subscribed(&mut self, generation: Generation, id: String, now: Now, fx: &mut Effects) {
        if self.framework_id.as_deref() != Some(id.as_str()) {
            fx.framework_id = Some(id.clone());
            self.framework_id = Some(id.clone());
        }
        self.session = Some(generation);
        // A new SUBSCRIBE is not suppressed unless it says so.
        self.flow.subscribed();
        self.reregister_until = Some(now.after(self.config.reregister_grace));
        self.last_held_reconcile = now.at;
        let plan_config = self.plan_config();
        // Built in one pass, each id copied once per use: after a failover
        // this is every task, and the first call waits for it.
        let mut awaiting: HashSet<TaskId> = HashSet::with_capacity(self.tasks.len());
        let mut chunk = Vec::with_capacity(RECONCILE_CHUNK);
        for t in self
            .tasks
            .values()
            .filter(|t| plan::is_live(t.state) || plan::is_held(t, now.wall_ms, &plan_config))
        {
            awaiting.insert(TaskId::from(&t.task_id));
            chunk.push(ReconcileTask {
                task_id: t.task_id.clone(),
                agent_id: t.agent_id.clone(),
            });
            if chunk.len() == RECONCILE_CHUNK {
                fx.reconciles.push(Reconcile {
                    tasks: std::mem::replace(&mut chunk, Vec::with_capacity(RECONCILE_CHUNK)),
                });
            }
        }
        if !chunk.is_empty() {
            fx.reconciles.push(Reconcile { tasks: chunk });
        }
        info!(framework_id = %id, known_live_tasks = awaiting.len(), "subscribed; reconciling");
        self.awaiting_reconcile = awaiting;
        self.reconcile_started = Some(now.at);
        self.last_implicit_reconcile = now.at;
        self.implicit_reconcile_due = true;
        // Kills decided without a session, or sent on the lost one, were
        // never delivered: send every kill still wanted on this session now
        // rather than at their retry (KILL is idempotent).
        self.kills.clear();
        // A kill on record (`kill_sent`) may never have reached Mesos: a
        // former leader's term can end between the write and the call, or
        // its write was applied without a replica's confirmation. The plan
        // waits for such a task to go instead of deciding its kill again,
        // so it is sent again here.
        let recorded: Vec<Kill> = self
            .tasks
            .values()
            .filter(|t| t.kill_sent && plan::is_live(t.state))
            .map(|t| Kill {
                task_id: t.task_id.clone(),
                agent_id: Some(t.agent_id.clone()),
                reason: KillReason::Retry,
            })
            .collect();
        fx.kills.extend(recorded);
        if self.awaiting_reconcile.is_empty() {
            let names = self.all_app_names();
            self.replan(&names, now, fx);
        } else {
            self.replan_all_due = true;
        }
    }

    fn on_events(&mut self, events: Vec<Event>, now: Now, fx: &mut Effects) {
        let mut offers: Vec<v1::Offer> = Vec::new();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut ended: BTreeSet<String> = BTreeSet::new();
        for event in events {
            match event.r#type() {
                event::Type::Offers => {
                    if let Some(o) = event.offers {
                        offers.extend(o.offers);
                    }
                }
                event::Type::Update => {
                    if let Some(update) = event.update {
                        self.on_status(update.status, now, &mut touched, &mut ended, fx);
                    }
                }
                event::Type::Rescind => {
                    // Offers are answered as they arrive; nothing is held.
                }
                event::Type::InverseOffers => {
                    if let Some(i) = event.inverse_offers {
                        self.on_inverse_offers(i.inverse_offers);
                    }
                }
                event::Type::RescindInverseOffer => {
                    if let Some(r) = event.rescind_inverse_offer {
                        self.inverse_offers.remove(&r.inverse_offer_id.value);
                    }
                }
                event::Type::Failure => {
                    if let Some(f) = event.failure {
                        warn!(agent = ?f.agent_id.map(|a| a.value), executor = ?f.executor_id.map(|e| e.value), status = ?f.status, "mesos reports a failure");
                    }
                }
                other => debug!(event = ?other, "mesos event ignored"),
            }
        }
        let touched: Vec<String> = touched.into_iter().collect();
        self.replan(&touched, now, fx);
        if !offers.is_empty() {
            self.on_offers(offers, now, fx);
        }
        // A failure shows in State with the update that reported it.
        if !ended.is_empty() {
            let names: Vec<String> = ended.into_iter().collect();
            self.write_statuses(&names, now, fx);
        }
    }

    fn on_apps(&mut self, apps: Vec<Arc<AppRecord>>, now: Now, fx: &mut Effects) {
        let apps: HashMap<AppName, Arc<AppRecord>> = apps
            .into_iter()
            .map(|a| (AppName::from(&a.spec.name), a))
            .collect();
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for (name, record) in &apps {
            let old = self.apps.get(name);
            if old.is_none_or(|old| old.version != record.version) {
                changed.insert(String::from(name));
            }
            // A changed spec (a fix, or a new retry policy) starts the
            // failure count and the update over: that is how a user
            // restarts an app that gave up, or resumes a paused update.
            if old.is_none_or(|old| old.config_version != record.config_version) {
                self.backoffs.forget(name);
                self.rollouts.remove(name);
            }
        }
        changed.extend(
            self.apps
                .keys()
                .filter(|n| !apps.contains_key(*n))
                .map(String::from),
        );
        self.apps = apps;
        let changed: Vec<String> = changed.into_iter().collect();
        self.replan(&changed, now, fx);
    }

    fn on_status(
        &mut self,
        status: v1::TaskStatus,
        now: Now,
        touched: &mut BTreeSet<String>,
        ended: &mut BTreeSet<String>,
        fx: &mut Effects,
    ) {
        let task_id = status.task_id.value.clone();
        let state = status::task_state(status.state());
        let plan_config = self.plan_config();
        if !self.awaiting_reconcile.is_empty()
            && self.awaiting_reconcile.remove(&task_id)
            && self.awaiting_reconcile.is_empty()
        {
            // The moment launching may start after a (re)subscription: the
            // last figure of a failover's timeline.
            info!(
                after_ms = self
                    .reconcile_started
                    .map_or(0, |t| now.at.saturating_duration_since(t).as_millis()),
                "explicit reconciliation answered for every known task"
            );
        }
        if let Some(shared) = self.tasks.get_mut(&task_id) {
            let before = shared.state;
            let was_live = plan::is_live(before);
            // Only a change copies the shared record (the store's and the
            // views' copies stay as they were given).
            if status::apply(shared, &status, now.wall_ms) {
                fx.writes.upserts.push(Arc::clone(shared));
            }
            let record: &TaskRecord = shared;
            status::count(before, record.state);
            let held = plan::is_held(record, now.wall_ms, &plan_config);
            info!(task = %task_id, state = state.as_str(), healthy = ?record.healthy, "task status");
            let app = record.app.clone();
            let record_version = record.app_version;
            let kill_sent = record.kill_sent;
            let app_record = self.apps.get(&app);
            let app_running = app_record.is_some_and(|a| a.goal == AppGoal::Run);
            // The relaunch backoff is for tasks that fail. Mesos losing track
            // of a task (its agent gone or unreachable, a master that lost
            // its state, a launch that never arrived) says nothing about the
            // app: it is replaced at once, and a storm of such answers must
            // not hold every app's replacements back.
            let lost_track = matches!(
                state,
                TaskState::TaskGone
                    | TaskState::TaskGoneByOperator
                    | TaskState::TaskUnreachable
                    | TaskState::TaskUnknown
                    | TaskState::TaskDropped
                    | TaskState::TaskLost
            );
            // An operator draining the agent (DRAIN_AGENT, Mesos 1.9+) kills
            // its tasks: a replacement, not a failure of the app.
            let drained = status.reason == Some(v1::task_status::Reason::AgentDraining as i32);
            if was_live
                && !plan::is_live(state)
                && !kill_sent
                && app_running
                && !lost_track
                && !drained
            {
                let retry = app_record.and_then(|a| a.spec.retry.as_deref());
                let policy = self.backoffs.policy(retry);
                self.backoffs.record_failure(&app, policy, now.at);
                // A new-version task failing during an update counts
                // towards pausing it.
                if let Some(a) = app_record
                    && record_version >= a.config_version
                    && self.outdated_live(&app, a) > 0
                {
                    let config_version = a.config_version;
                    let r = self.rollout_mut(&app, config_version);
                    r.new_failures += 1;
                }
            }
            if was_live && !plan::is_live(state) {
                let termination = self.tasks.get(&task_id).map(|t| Termination {
                    task_id: task_id.clone(),
                    instance: t.instance,
                    app_version: t.app_version,
                    state,
                    reason: status
                        .reason
                        .map(|_| status.reason().as_str_name().to_string())
                        .unwrap_or_default(),
                    source: status
                        .source
                        .map(|_| status.source().as_str_name().to_string())
                        .unwrap_or_default(),
                    message: status.message.clone().unwrap_or_default(),
                    agent_id: t.agent_id.clone(),
                    hostname: t.hostname.clone(),
                    at_ms: now.wall_ms,
                });
                match termination {
                    Some(termination) if held => {
                        self.held_terminations
                            .insert(task_id.clone().into(), termination);
                    }
                    Some(termination) => {
                        self.record_termination(&app, termination);
                        ended.insert(app.clone());
                    }
                    None => {}
                }
            }
            if plan::is_live(state) && !self.held_terminations.is_empty() {
                self.held_terminations.remove(&task_id);
            }
            if !plan::is_live(state) {
                self.kills.remove(&task_id);
            } else if before == TaskState::TaskUnreachable
                && state != TaskState::TaskUnreachable
                && state != TaskState::TaskKilling
            {
                // Back from an unreachable agent: a kill sent while it was
                // away never reached it; the plan decides again, now. Its
                // record must say so too: the plan waits for a task marked
                // killed to go instead of deciding its kill (the chaos soak:
                // a slot held two returned old tasks, both marked, forever).
                self.kills.remove(&task_id);
                if let Some(task) = self.tasks.get_mut(&task_id)
                    && task.kill_sent
                {
                    Arc::make_mut(task).kill_sent = false;
                    fx.writes.upserts.push(Arc::clone(task));
                }
            }
            let ready = self
                .tasks
                .get(&task_id)
                .zip(self.apps.get(&app))
                .is_some_and(|(t, a)| plan::is_ready(t, &a.spec));
            // Most updates find the task as ready as it was (a failover's
            // hundred thousand reconciliation answers): no key copied.
            if ready {
                if !self.ready_since.contains_key(&task_id) {
                    self.ready_since.insert(task_id.clone().into(), now.at);
                }
            } else {
                self.ready_since.remove(&task_id);
            }
            // A steady app's plan is the same after a quiet move: skip it.
            if !(self.steady.contains(&app) && !kill_sent && plan::is_steady_move(before, state)) {
                touched.insert(app);
            }
        } else if !plan::is_live(state) {
            // An orphan we killed is gone.
            self.kills.remove(&task_id);
        } else {
            // Mesos runs a task for us that no app owns: an orphan. Reported
            // reachable, it may be back from an agent that was away while
            // our kills backed off (up to `kill_retry`): those never reached
            // it, so the kill goes now, not at its next retry.
            if state != TaskState::TaskUnreachable && state != TaskState::TaskKilling {
                self.kills.remove(&task_id);
            }
            warn!(task = %task_id, state = state.as_str(), "killing a task that belongs to no app");
            fx.kills.push(Kill {
                task_id: task_id.clone(),
                agent_id: status.agent_id.as_ref().map(|a| a.value.clone()),
                reason: KillReason::Orphan,
            });
        }
        if let (Some(uuid), Some(agent)) = (status.uuid.clone(), status.agent_id.clone()) {
            fx.acks.push(Acknowledge {
                agent_id: agent,
                task_id: status.task_id,
                uuid,
            });
        }
    }

    fn rollout_mut(&mut self, app: &str, config_version: u64) -> &mut RolloutState {
        let r = self.rollouts.entry(AppName::from(app)).or_default();
        if r.config_version != config_version {
            *r = RolloutState {
                config_version,
                ..RolloutState::default()
            };
        }
        r
    }

    /// Live tasks of `app` launched from an older config version.
    fn outdated_live(&self, name: &str, app: &AppRecord) -> usize {
        self.records_of(name)
            .filter(|t| plan::is_live(t.state) && t.app_version < app.config_version)
            .count()
    }

    fn rollout_of(&self, name: &str, app: &AppRecord) -> Rollout {
        let Some(r) = self
            .rollouts
            .get(name)
            .filter(|r| r.config_version == app.config_version)
        else {
            return Rollout::default();
        };
        Rollout {
            in_place: r.in_place,
            paused: self.config.update_failures_to_pause > 0
                && r.new_failures >= self.config.update_failures_to_pause,
        }
    }

    /// Re-plans apps, updating pending slots and gathering kills, forgotten
    /// records and app removals.
    fn replan(&mut self, apps: &[String], now: Now, fx: &mut Effects) {
        let mut ended: Vec<String> = Vec::new();
        for name in apps {
            self.requeue.remove(name);
            self.steady.remove(name);
            // Field by field, not `records_of`: the plan below updates other
            // fields of `self` while these borrows live.
            let tasks: Vec<&TaskRecord> = self
                .by_app
                .get(name)
                .into_iter()
                .flatten()
                .filter_map(|id| self.tasks.get(id).map(|t| &**t))
                .collect();
            let Some(app) = self.apps.get(name) else {
                // Tasks of an app that no longer exists: kill the live ones.
                for t in tasks.iter().filter(|t| plan::is_live(t.state)) {
                    fx.kills.push(Kill {
                        task_id: t.task_id.clone(),
                        agent_id: Some(t.agent_id.clone()),
                        reason: KillReason::AppGone,
                    });
                }
                continue;
            };
            let rollout = self.rollout_of(name, app);
            // The app's own upgrade settings beat the flags.
            let mut plan_config = self.plan_config();
            if let Some(upgrade) = &app.spec.upgrade {
                if let Some(share) = upgrade.minimum_ready_share {
                    plan_config.min_ready_share = share;
                }
                if let Some(surge) = upgrade.max_surge {
                    plan_config.surge = surge;
                }
            }
            self.plans += 1;
            let moving = &self.moving_agents;
            let p = plan::plan_moving(app, &tasks, now.wall_ms, &plan_config, rollout, &|t| {
                moving.contains(&t.agent_id)
            });
            for k in p.kill {
                let agent = self.tasks.get(&k.task_id).map(|t| t.agent_id.clone());
                fx.kills.push(Kill {
                    task_id: k.task_id,
                    agent_id: agent,
                    reason: k.reason,
                });
            }
            for id in p.forget {
                if let Some(termination) = self.held_terminations.remove(&id) {
                    // Its re-registration grace ended without news.
                    self.record_termination(name, termination);
                    ended.push(name.clone());
                }
                self.forget_task(&id);
                fx.writes.removals.push(id);
            }
            if p.remove_app {
                info!(app = %name, "app killed and all its tasks are gone; removing it");
                self.apps.remove(name);
                self.pending.remove(name);
                self.backoffs.forget(name);
                self.rejections.remove(name);
                self.statuses_written.remove(name);
                self.rollouts.remove(name);
                self.history.remove(name);
                fx.writes.app_removals.push(name.clone());
                continue;
            }
            if let Some(ms) = p.requeue_after_ms {
                self.requeue
                    .insert(name.clone().into(), now.at + Duration::from_millis(ms));
            }
            if p.steady {
                self.steady.insert(name.clone().into());
            }
            if p.launch.is_empty() {
                self.pending.remove(name);
            } else {
                let grew = self
                    .pending
                    .get(name)
                    .is_none_or(|old| old.len() < p.launch.len());
                self.pending.insert(name.clone().into(), p.launch);
                if grew {
                    // New work: clear decline filters so offers come at once.
                    let role = app_role(
                        self.apps.get(name).map(Arc::as_ref),
                        self.config.default_role(),
                    );
                    self.flow.want_revive(role);
                }
            }
        }
        ended.retain(|name| self.apps.contains_key(name));
        if !ended.is_empty() {
            self.write_statuses(&ended, now, fx);
        }
    }

    /// The planner's settings for the current subscription.
    fn plan_config(&self) -> plan::PlanConfig {
        plan::PlanConfig {
            reregister_until_ms: self.reregister_until.map_or(0, |n| n.wall_ms),
            ..self.config.plan
        }
    }

    /// During the re-registration grace, asks again every second about the
    /// tasks held in UNKNOWN. A Mesos 1.12 master reports a re-registered
    /// agent's tasks unasked; asking as well covers a report that was lost
    /// (or a master that does not send one), since RUNNING must arrive
    /// before the grace ends for the task to be kept.
    fn reconcile_held(&mut self, now: Now, fx: &mut Effects) {
        let Some(until) = self.reregister_until else {
            return;
        };
        if self.session.is_none()
            || now.at >= until.at
            || now.at.saturating_duration_since(self.last_held_reconcile) < HELD_RECONCILE_EVERY
        {
            return;
        }
        let plan_config = self.plan_config();
        let held: Vec<ReconcileTask> = self
            .tasks
            .values()
            .filter(|t| plan::is_held(t, now.wall_ms, &plan_config))
            .map(|t| ReconcileTask {
                task_id: t.task_id.clone(),
                agent_id: t.agent_id.clone(),
            })
            .collect();
        if held.is_empty() {
            return;
        }
        self.last_held_reconcile = now.at;
        debug!(tasks = held.len(), "reconciling tasks held in TASK_UNKNOWN");
        for chunk in held.chunks(RECONCILE_CHUNK) {
            fx.reconciles.push(Reconcile {
                tasks: chunk.to_vec(),
            });
        }
    }

    fn record_termination(&mut self, app: &str, termination: Termination) {
        let history = self.history.entry(AppName::from(app)).or_default();
        history
            .last
            .insert(termination.instance, termination.clone());
        history.recent.insert(0, termination);
        history.recent.truncate(RECENT_TERMINATIONS);
    }

    fn forget_task(&mut self, id: &str) {
        self.held_terminations.remove(id);
        if let Some(task) = self.tasks.remove(id)
            && let Some(ids) = self.by_app.get_mut(&task.app)
        {
            ids.remove(id);
            if ids.is_empty() {
                self.by_app.remove(&task.app);
            }
        }
        self.ready_since.remove(id);
        self.kills.remove(id);
    }

    /// Apps with slots that may launch now.
    fn launchable(&self, now: Now) -> Vec<String> {
        if !self.launch_allowed(now) {
            return Vec::new();
        }
        self.pending
            .keys()
            .filter(|app| self.backoffs.blocked_until(app, now.at).is_none())
            .filter(|app| !self.backoffs.gave_up(app))
            .filter(|app| self.apps.get(*app).is_some_and(|a| a.goal == AppGoal::Run))
            .map(String::from)
            .collect()
    }

    /// How long to refuse an offer nothing was placed on: the configured
    /// filter, but no longer than the shortest backoff of a waiting app, so
    /// its agents are offered again when it may launch.
    fn decline_refuse(&self, now: Now) -> Duration {
        self.pending
            .keys()
            .filter_map(|app| self.backoffs.blocked_until(app, now.at))
            .map(|until| until.saturating_duration_since(now.at))
            .fold(self.config.decline_refuse, Duration::min)
    }

    fn on_offers(&mut self, offers: Vec<v1::Offer>, now: Now, fx: &mut Effects) {
        metrics::counter!("hydrogen_offers_received_total").increment(offers.len() as u64);
        let (offers, going_down) = self.usable_offers(offers, now);
        let refuse = self.decline_refuse(now);
        // Agents going down get no new task.
        decline_all(fx, going_down, refuse);
        if offers.is_empty() {
            return;
        }
        let apps = self.launchable(now);
        let Some(framework_id) = self.framework_id.clone() else {
            decline_all(fx, offers, refuse);
            return;
        };
        if apps.is_empty() {
            decline_all(fx, offers, refuse);
            return;
        }
        let per_agent: Vec<HashMap<String, u32>> = apps
            .iter()
            .map(|app| {
                let mut counts = HashMap::new();
                for id in self.by_app.get(app).into_iter().flatten() {
                    if let Some(t) = self.tasks.get(id)
                        && plan::is_live(t.state)
                    {
                        *counts.entry(t.agent_id.clone()).or_insert(0) += 1;
                    }
                }
                counts
            })
            .collect();
        let specs: Vec<&AppRecord> = apps
            .iter()
            .filter_map(|a| self.apps.get(a).map(Arc::as_ref))
            .collect();
        let demands: Vec<Demand<'_>> = specs
            .iter()
            .zip(&apps)
            .zip(&per_agent)
            .map(|((record, name), counts)| Demand {
                app: &record.spec,
                wanted: u32::try_from(self.pending.get(name).map_or(0, Vec::len))
                    .unwrap_or(u32::MAX),
                tasks_per_agent: counts,
            })
            .collect();
        let outcome = placement::place(&offers, &demands, self.config.default_role());
        let mut placed_per_app = vec![0u32; apps.len()];
        for placed in &outcome.placements {
            if let Some(n) = placed_per_app.get_mut(placed.demand) {
                *n += 1;
            }
        }
        let mut turned_in_place = Vec::new();
        for (i, rejections) in outcome.rejections.iter().enumerate() {
            let Some(app) = apps.get(i) else {
                continue;
            };
            let Some(record) = self.apps.get(app) else {
                continue;
            };
            let reasons = explain::rejection_reasons(&record.spec, rejections);
            let rejected: u32 = reasons.iter().map(|(_, n)| *n).sum();
            let entry = self.rejections.entry(app.clone().into()).or_default();
            for (reason, count) in reasons {
                *entry.entry(reason).or_insert(0) += u64::from(count);
            }
            // An update whose new task no offer takes beside the old ones
            // turns to replacing in place.
            let updating = self.outdated_live(app, record) > 0;
            let config_version = record.config_version;
            self.count_moving_round(app, placed_per_app.get(i).copied().unwrap_or(0), rejected);
            if updating {
                let placed = placed_per_app.get(i).copied().unwrap_or(0);
                let r = self.rollout_mut(app, config_version);
                if placed > 0 || rejected == 0 {
                    r.unplaced_rounds = 0;
                } else if !r.in_place {
                    r.unplaced_rounds += 1;
                    if r.unplaced_rounds >= UNPLACED_ROUNDS_FOR_IN_PLACE {
                        r.in_place = true;
                        info!(app = %app, "no room for the new version beside the old tasks; replacing in place");
                        turned_in_place.push(app.clone());
                    }
                }
            }
        }
        let mut launches: BTreeMap<usize, Launch> = BTreeMap::new();
        for placed in outcome.placements {
            let (Some(app_name), Some(offer)) = (apps.get(placed.demand), offers.get(placed.offer))
            else {
                continue;
            };
            let Some(record) = self.apps.get(app_name) else {
                continue;
            };
            let Some(slots) = self.pending.get_mut(app_name) else {
                continue;
            };
            if slots.is_empty() {
                continue;
            }
            let instance = slots.remove(0);
            let task_id = launch::new_task_id(app_name, instance);
            let request = LaunchRequest {
                app: &record.spec,
                app_version: record.version,
                instance,
                task_id: task_id.clone(),
                agent_id: offer.agent_id.clone(),
                framework_id: calls::framework_id(framework_id.clone()),
                resources: placed.resources,
                ports: placed.ports,
            };
            let info = match launch::task_info(&request, &self.config.launch_defaults) {
                Ok(info) => info,
                Err(e) => {
                    warn!(app = %app_name, error = %e, "cannot build the task; it waits");
                    self.launch_errors
                        .insert(app_name.clone().into(), e.to_string());
                    slots.insert(0, instance);
                    continue;
                }
            };
            let task = TaskRecord {
                ports: request.ports.clone(),
                ..TaskRecord::staging(
                    task_id.clone(),
                    app_name.clone(),
                    instance,
                    record.version,
                    offer.agent_id.value.clone(),
                    offer.hostname.clone(),
                    now.wall_ms,
                )
            };
            info!(task = %task_id, app = %app_name, instance, agent = %offer.hostname, "launching");
            self.by_app
                .entry(app_name.clone().into())
                .or_default()
                .insert(task_id.clone().into());
            let task = Arc::new(task);
            self.tasks.insert(task_id.clone().into(), Arc::clone(&task));
            fx.writes.upserts.push(task);
            let entry = launches.entry(placed.offer).or_insert_with(|| Launch {
                offer_id: offer.id.clone(),
                tasks: Vec::new(),
                task_ids: Vec::new(),
            });
            entry.tasks.push(info);
            entry.task_ids.push(task_id);
        }
        self.pending.retain(|_, slots| !slots.is_empty());
        let mut unused = Vec::new();
        for (index, offer) in offers.into_iter().enumerate() {
            match launches.remove(&index) {
                Some(launch) => fx.launches.push(launch),
                None => unused.push(offer),
            }
        }
        decline_all(fx, unused, refuse);
        if !turned_in_place.is_empty() {
            // The rejections were the surge's: the in-place slots start afresh.
            for app in &turned_in_place {
                self.rejections.remove(app);
            }
            self.replan(&turned_in_place, now, fx);
        }
    }

    fn on_tick(&mut self, now: Now, fx: &mut Effects) {
        // Backoff resets for apps whose tasks stay ready.
        // Only apps with failures on record have a backoff to reset: look
        // at their tasks, not at every ready task of the cluster.
        let ready: Vec<(String, Instant)> = self
            .backoffs
            .apps()
            .flat_map(|app| {
                self.by_app
                    .get(app)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| self.ready_since.get(id))
                    .map(move |since| (app.to_string(), *since))
            })
            .collect();
        for (app, since) in ready {
            self.backoffs.record_ready(&app, since, now.at);
        }
        // Apps whose plan asked to be looked at again by now.
        let due: Vec<String> = self
            .requeue
            .iter()
            .filter(|(_, at)| **at <= now.at)
            .map(|(app, _)| String::from(app))
            .collect();
        self.replan(&due, now, fx);
        // Kills not answered in time are sent again, backing off.
        let retry: Vec<Kill> = self
            .kills
            .iter()
            .filter(|(_, k)| now.at.saturating_duration_since(k.sent_at) >= self.kill_delay(k))
            .map(|(id, k)| Kill {
                task_id: String::from(id),
                agent_id: self
                    .tasks
                    .get(id)
                    .map(|t| t.agent_id.clone())
                    .or_else(|| k.agent_id.clone()),
                reason: KillReason::Retry,
            })
            .collect();
        fx.kills.extend(retry);
        self.reconcile_held(now, fx);
        // Periodic implicit reconciliation.
        if self.session.is_some()
            && now
                .at
                .saturating_duration_since(self.last_implicit_reconcile)
                >= self.config.reconcile_interval
        {
            self.last_implicit_reconcile = now.at;
            fx.reconciles.push(Reconcile::default());
        }
        if now.at.saturating_duration_since(self.last_status_write) >= self.config.status_interval {
            self.last_status_write = now.at;
            let mut names: Vec<String> = self.apps.keys().map(String::from).collect();
            names.sort();
            self.write_statuses(&names, now, fx);
        }
    }

    /// How long after its last send an unanswered kill goes again: 1 s,
    /// doubling, at most `kill_retry`.
    fn kill_delay(&self, k: &KillTimer) -> Duration {
        let exponent = k.attempts.saturating_sub(1).min(16);
        Duration::from_secs(1u64 << exponent).min(self.config.kill_retry)
    }

    /// Marks the kills decided in this input as sent (a kill already in
    /// flight is not sent again before its retry) and their records as
    /// killed, so a killed task is never counted as a failure.
    fn send_kills(&mut self, now: Now, fx: &mut Effects) {
        let decided = std::mem::take(&mut fx.kills);
        for kill in decided {
            let attempts = match self.kills.get(&kill.task_id) {
                Some(_) if kill.reason != KillReason::Retry => continue,
                Some(k) => k.attempts + 1,
                None => 1,
            };
            if fx.kills.iter().any(|k| k.task_id == kill.task_id) {
                continue;
            }
            self.kills.insert(
                kill.task_id.clone().into(),
                KillTimer {
                    sent_at: now.at,
                    attempts,
                    agent_id: kill.agent_id.clone(),
                },
            );
            if let Some(task) = self.tasks.get_mut(&kill.task_id)
                && !task.kill_sent
            {
                Arc::make_mut(task).kill_sent = true;
                fx.writes.upserts.push(Arc::clone(task));
            }
            fx.kills.push(kill);
        }
    }

    /// REVIVE the roles whose launchable work waits while their offers are
    /// suppressed or filtered (new slots, or a backoff that just ended);
    /// SUPPRESS the roles where nothing waits (see [`RoleFlow`]).
    fn offer_flow(&mut self, now: Now, fx: &mut Effects) {
        let blocked: BTreeSet<AppName> = self
            .pending
            .keys()
            .filter(|app| self.backoffs.blocked_until(app, now.at).is_some())
            .cloned()
            .collect();
        let default_role = self.config.default_role();
        for app in &self.backing_off {
            if !blocked.contains(app) && self.pending.contains_key(app) {
                // A backoff ended: its app's agents may be filtered by declines.
                self.flow
                    .want_revive(app_role(self.apps.get(app).map(Arc::as_ref), default_role));
            }
        }
        self.backing_off = blocked;
        let launchable = self.launchable(now);
        let waiting: BTreeSet<&str> = launchable
            .iter()
            .map(|app| app_role(self.apps.get(app).map(Arc::as_ref), default_role))
            .collect();
        fx.offer_flow = self
            .flow
            .decide(&self.config.roles, &waiting, self.launch_allowed(now));
    }

    fn write_statuses(&mut self, names: &[String], now: Now, fx: &mut Effects) {
        let wall = now.wall_ms;
        let launch_allowed = self.launch_allowed(now);
        for name in names {
            if !self.apps.contains_key(name) {
                continue;
            }
            let name = name.clone();
            let waiting =
                u32::try_from(self.pending.get(&name).map_or(0, Vec::len)).unwrap_or(u32::MAX);
            let backoff_until_ms = self.backoffs.blocked_until(&name, now.at).map(|until| {
                wall + u64::try_from(until.saturating_duration_since(now.at).as_millis())
                    .unwrap_or(u64::MAX)
            });
            let rejections = if waiting > 0 {
                self.rejections.get(&name).cloned().unwrap_or_default()
            } else {
                self.rejections.remove(&name);
                BTreeMap::new()
            };
            let backing = if self.backoffs.gave_up(&name) {
                Backing::GaveUp(self.backoffs.failures(&name))
            } else if backoff_until_ms.is_some() {
                Backing::Off
            } else {
                Backing::No
            };
            let progress = self.progress(&name);
            let message = explain::status_message(
                waiting,
                backing,
                &rejections,
                self.launch_errors.get(&name),
                launch_allowed,
                progress,
            );
            let message = match self.maintenance_notes.get(&name) {
                Some(note) if message.is_empty() => note.clone(),
                Some(note) => format!("{message}; {note}"),
                None => message,
            };
            let status = AppStatus {
                app: name.clone(),
                waiting,
                backoff_until_ms,
                consecutive_failures: self.backoffs.failures(&name),
                rejections,
                message,
                updated_ms: wall,
                last_terminations: self
                    .history
                    .get(&name)
                    .map(|h| h.last.clone())
                    .unwrap_or_default(),
                recent_terminations: self
                    .history
                    .get(&name)
                    .map(|h| h.recent.clone())
                    .unwrap_or_default(),
            };
            let unchanged = self.statuses_written.get(&name).is_some_and(|old| {
                AppStatus {
                    updated_ms: wall,
                    backoff_until_ms: status.backoff_until_ms.map(|_| 0),
                    ..AppStatus::clone(old)
                } == AppStatus {
                    backoff_until_ms: status.backoff_until_ms.map(|_| 0),
                    ..status.clone()
                }
            });
            if !unchanged {
                let status = Arc::new(status);
                self.statuses_written
                    .insert(name.into(), Arc::clone(&status));
                fx.writes.statuses.retain(|s| s.app != status.app);
                fx.writes.statuses.push(status);
            }
        }
    }

    /// Where the app's rolling update stands, if one is under way.
    fn progress(&self, name: &str) -> Option<Progress> {
        let app = self.apps.get(name)?;
        // A steady app has no outdated task by definition; asking it costs
        // a walk of its tasks, and statuses are written every second.
        if app.goal != AppGoal::Run
            || self.steady.contains(name)
            || self.outdated_live(name, app) == 0
        {
            return None;
        }
        let updated = self
            .records_of(name)
            .filter(|t| {
                t.app_version >= app.config_version
                    && t.instance < app.spec.instances
                    && plan::is_ready(t, &app.spec)
            })
            .count();
        let rollout = self.rollout_of(name, app);
        let failures = self
            .rollouts
            .get(name)
            .filter(|r| r.config_version == app.config_version)
            .map_or(0, |r| r.new_failures);
        Some(Progress {
            updated: u32::try_from(updated).unwrap_or(u32::MAX),
            instances: app.spec.instances,
            version: app.config_version,
            in_place: rollout.in_place,
            paused_after: rollout.paused.then_some(failures),
        })
    }
}

fn decline_all(fx: &mut Effects, offers: Vec<v1::Offer>, refuse: Duration) {
    if offers.is_empty() {
        return;
    }
    let decline = fx.decline.get_or_insert_with(|| Decline {
        offer_ids: Vec::new(),
        refuse,
    });
    decline.refuse = decline.refuse.min(refuse);
    decline.offer_ids.extend(offers.into_iter().map(|o| o.id));
}

/// Keeps the last upsert of each task (a task may change twice in a batch).
fn dedup_upserts(batch: &mut TaskBatch) {
    let mut seen = HashSet::new();
    let mut kept: Vec<Arc<TaskRecord>> = Vec::with_capacity(batch.upserts.len());
    for task in batch.upserts.drain(..).rev() {
        if seen.insert(task.task_id.clone()) {
            kept.push(task);
        }
    }
    kept.reverse();
    batch.upserts = kept;
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;

#[path = "maintenance.rs"]
mod maintenance;

/// The role an app's tasks take resources from: its `resources.role`, else
/// the framework's default (first) role.
fn app_role<'a>(app: Option<&'a AppRecord>, default_role: &'a str) -> &'a str {
    app.and_then(|a| a.spec.resources.role.as_deref())
        .unwrap_or(default_role)
}
