//! The scheduler's event loop: one task that owns the Mesos subscription
//! and an in-memory model of apps and tasks, and turns events into store
//! writes and Mesos calls.
//!
//! # The loop
//! It wakes on Mesos events (drained in batches), on app changes in the
//! store, and on a tick. Each wake-up:
//! 1. applies status updates to the model, finds orphans (tasks Mesos runs
//!    for us that no app owns) and failures (which feed the relaunch backoff);
//! 2. re-plans the touched apps ([`super::plan`]): slots to launch, tasks to
//!    kill, records to forget, apps to remove;
//! 3. places waiting slots on the offers of the batch ([`super::placement`])
//!    and builds their TaskInfos ([`super::launch`]);
//! 4. writes one fenced batch to the store — new STAGING tasks, updated and
//!    forgotten tasks, removed apps — and only then
//! 5. acknowledges the updates, ACCEPTs, DECLINEs and KILLs.
//!
//! Acknowledgements are queued to a background [`super::acks::Acknowledger`]
//! and not awaited: Mesos holds a task's next update until the previous one
//! is acknowledged, so a loop that waited for its acknowledgements would
//! pace every task's STARTING → RUNNING on its slowest call.
//!
//! Step 4 before step 5 is invariant 1 (persist before act): a crash between
//! them leaves records Mesos may not know, which reconciliation settles
//! (TASK_UNKNOWN / TASK_LOST for a launch that never happened); never a task
//! Mesos runs that we do not know. A store write that fails ends the loop:
//! a fenced write means another leader took over; an unavailable store
//! means we cannot know the outcome, and the leader must reload, not guess.
//!
//! # Reconciliation
//! After every SUBSCRIBED: an explicit RECONCILE of every live task we know,
//! then an implicit one. Launching waits until every explicitly reconciled
//! task has been answered (or `reconcile_timeout` passed), so a new leader
//! never launches into a slot whose task is still running unbeknown to it.
//! Implicit answers reveal orphans, which are killed. Offers of an earlier
//! session are never accepted (the caller refuses stale sessions).
//!
//! # Offers
//! Offers are answered at once: placed tasks are ACCEPTed, the rest
//! DECLINEd with a `refuse_seconds` filter. When nothing waits the loop
//! SUPPRESSes offers, and REVIVEs as soon as a slot waits again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::acks::{Ack, Acknowledger};
use super::backoff::{BackoffConfig, Backoffs};
use super::launch::{self, LaunchDefaults, LaunchRequest};
use super::placement::{self, Demand};
use super::plan::{self, PlanConfig};
use super::status;
use crate::mesos::calls;
use crate::mesos::encoding::Encoding;
use crate::mesos::subscription::{
    Caller, Credentials, Session, Subscription, SubscriptionConfig, SubscriptionError,
    SubscriptionEvent,
};
use crate::mesos::v1::scheduler::{Event, event};
use crate::mesos::v1::{self, framework_info::Capability, framework_info::capability};
use crate::store::model::now_ms;
use crate::store::{
    AppGoal, AppRecord, AppStatus, Store, StoreError, TaskBatch, TaskRecord, TaskState,
};

/// How the scheduler talks to Mesos and how it behaves.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub masters: Vec<reqwest::Url>,
    pub framework_name: String,
    pub user: String,
    pub role: String,
    pub principal: Option<String>,
    pub secret: Option<String>,
    /// How long Mesos keeps our tasks when we are gone (default one week).
    pub failover_timeout: Duration,
    pub hostname: Option<String>,
    pub webui_url: Option<String>,
    pub encoding: Encoding,
    pub backoff: BackoffConfig,
    pub plan: PlanConfig,
    /// `refuse_seconds` of DECLINE: how long an unused agent is not offered again.
    pub decline_refuse: Duration,
    /// Implicit reconciliation period (default 15 min).
    pub reconcile_interval: Duration,
    /// Launching waits at most this long for explicit reconciliation answers.
    pub reconcile_timeout: Duration,
    /// A kill not answered by a terminal update is sent again after this.
    pub kill_retry: Duration,
    /// How often app statuses (why tasks wait) are written, at most.
    pub status_interval: Duration,
    /// Subscription heartbeat tolerance and reconnection backoff.
    pub missed_heartbeats: u32,
    pub reconnect_backoff_initial: Duration,
    pub reconnect_backoff_max: Duration,
    pub launch_defaults: LaunchDefaults,
    /// ACKNOWLEDGE calls in flight at once (see [`super::acks`]).
    pub ack_concurrency: usize,
}

impl SchedulerConfig {
    /// Defaults (the original Hydrogen's where it had them) for these masters.
    pub fn new(masters: Vec<reqwest::Url>) -> Self {
        Self {
            masters,
            framework_name: "Hydrogen".into(),
            user: "root".into(),
            role: "*".into(),
            principal: Some("Hydrogen".into()),
            secret: None,
            failover_timeout: Duration::from_secs(604_800),
            hostname: None,
            webui_url: None,
            encoding: Encoding::Protobuf,
            backoff: BackoffConfig::default(),
            plan: PlanConfig::default(),
            decline_refuse: Duration::from_secs(5),
            reconcile_interval: Duration::from_secs(15 * 60),
            reconcile_timeout: Duration::from_secs(30),
            kill_retry: Duration::from_secs(30),
            status_interval: Duration::from_secs(1),
            missed_heartbeats: 5,
            reconnect_backoff_initial: Duration::from_millis(200),
            reconnect_backoff_max: Duration::from_secs(30),
            launch_defaults: LaunchDefaults::default(),
            ack_concurrency: 32,
        }
    }
}

/// Why the scheduler stopped.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("mesos subscription failed: {0}")]
    Subscription(#[from] SubscriptionError),
    #[error("store write failed, stopping to reload: {0}")]
    Store(#[from] StoreError),
    #[error("the mesos subscription ended")]
    SubscriptionEnded,
}

/// The scheduler of one leadership term (one fencing epoch).
pub struct Scheduler<S: Store> {
    store: Arc<S>,
    epoch: u64,
    config: SchedulerConfig,
}

impl<S: Store> Scheduler<S> {
    pub fn new(store: Arc<S>, epoch: u64, config: SchedulerConfig) -> Self {
        Self {
            store,
            epoch,
            config,
        }
    }

    /// Runs until cancelled (Ok) or until something makes this term
    /// unusable (Err): the caller then gives up leadership or retries.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), SchedulerError> {
        let framework_id = self.store.framework_id().await?;
        let framework = framework_info(&self.config, framework_id.clone());
        let mut sub_config = SubscriptionConfig::new(self.config.masters.clone(), framework);
        sub_config.encoding = self.config.encoding;
        sub_config.missed_heartbeats = self.config.missed_heartbeats;
        sub_config.backoff_initial = self.config.reconnect_backoff_initial;
        sub_config.backoff_max = self.config.reconnect_backoff_max;
        if let (Some(principal), Some(secret)) = (&self.config.principal, &self.config.secret) {
            sub_config.credentials = Some(Credentials {
                principal: principal.clone(),
                secret: secret.clone(),
            });
        }
        let sub_cancel = cancel.child_token();
        let (subscription, events) = Subscription::start(sub_config, sub_cancel.clone())?;
        let mut runtime = Runtime::new(
            self.store,
            self.epoch,
            self.config,
            subscription.caller(),
            framework_id,
        );
        runtime.load().await?;
        let result = runtime.run(events, cancel.clone()).await;
        sub_cancel.cancel();
        let ended = subscription.join().await;
        match (result, ended) {
            (Err(SchedulerError::SubscriptionEnded), Err(e)) => Err(e.into()),
            (result, _) => result,
        }
    }
}

/// Builds our FrameworkInfo.
pub fn framework_info(config: &SchedulerConfig, id: Option<String>) -> v1::FrameworkInfo {
    let capabilities = [
        capability::Type::PartitionAware,
        capability::Type::TaskKillingState,
    ]
    .into_iter()
    .map(|t| Capability {
        r#type: Some(t as i32),
    })
    .collect();
    #[allow(deprecated)] // the single-role field is what a non-MULTI_ROLE framework sends
    v1::FrameworkInfo {
        user: config.user.clone(),
        name: config.framework_name.clone(),
        id: id.map(calls::framework_id),
        failover_timeout: Some(config.failover_timeout.as_secs_f64()),
        checkpoint: Some(true),
        role: Some(config.role.clone()),
        hostname: config.hostname.clone(),
        principal: config.principal.clone(),
        webui_url: config.webui_url.clone(),
        capabilities,
        ..Default::default()
    }
}

/// Writes and calls gathered during one wake-up, carried out in order.
#[derive(Default)]
struct Effects {
    batch: TaskBatch,
    acks: Vec<Ack>,
    kills: Vec<(String, Option<String>)>,
    accepts: Vec<(v1::OfferId, Vec<v1::TaskInfo>, Vec<String>)>,
    declines: Vec<v1::OfferId>,
}

struct Runtime<S: Store> {
    store: Arc<S>,
    epoch: u64,
    config: SchedulerConfig,
    caller: Caller,
    framework_id: Option<String>,
    session: Option<u64>,
    apps: HashMap<String, AppRecord>,
    tasks: HashMap<String, TaskRecord>,
    by_app: HashMap<String, BTreeSet<String>>,
    /// Slots waiting for a task, per app.
    pending: BTreeMap<String, Vec<u32>>,
    backoffs: Backoffs,
    ready_since: HashMap<String, Instant>,
    kill_sent_at: HashMap<String, Instant>,
    awaiting_reconcile: HashSet<String>,
    reconcile_started: Option<Instant>,
    last_implicit_reconcile: Instant,
    suppressed: bool,
    /// New slots appeared since the last REVIVE: decline filters must go.
    revive_wanted: bool,
    rejections: HashMap<String, BTreeMap<String, u64>>,
    launch_errors: HashMap<String, String>,
    statuses_written: HashMap<String, AppStatus>,
    last_status_write: Instant,
    acks: Acknowledger,
}

impl<S: Store> Runtime<S> {
    fn new(
        store: Arc<S>,
        epoch: u64,
        config: SchedulerConfig,
        caller: Caller,
        framework_id: Option<String>,
    ) -> Self {
        let now = Instant::now();
        let acks = Acknowledger::start(caller.clone(), config.ack_concurrency);
        Self {
            acks,
            store,
            epoch,
            backoffs: Backoffs::new(config.backoff),
            config,
            caller,
            framework_id,
            session: None,
            apps: HashMap::new(),
            tasks: HashMap::new(),
            by_app: HashMap::new(),
            pending: BTreeMap::new(),
            ready_since: HashMap::new(),
            kill_sent_at: HashMap::new(),
            awaiting_reconcile: HashSet::new(),
            reconcile_started: None,
            last_implicit_reconcile: now,
            suppressed: false,
            revive_wanted: false,
            rejections: HashMap::new(),
            launch_errors: HashMap::new(),
            statuses_written: HashMap::new(),
            last_status_write: now,
        }
    }

    async fn load(&mut self) -> Result<(), SchedulerError> {
        self.reload_apps().await?;
        for task in self.store.list_tasks().await? {
            self.by_app
                .entry(task.app.clone())
                .or_default()
                .insert(task.task_id.clone());
            self.tasks.insert(task.task_id.clone(), task);
        }
        info!(
            apps = self.apps.len(),
            tasks = self.tasks.len(),
            epoch = self.epoch,
            "scheduler loaded state"
        );
        Ok(())
    }

    async fn reload_apps(&mut self) -> Result<(), SchedulerError> {
        let apps = self.store.list_apps().await?;
        let apps: HashMap<String, AppRecord> =
            apps.into_iter().map(|a| (a.spec.name.clone(), a)).collect();
        // A changed spec (a fix, or a new retry policy) starts the failure
        // count over: that is how a user restarts an app that gave up.
        for (name, record) in &apps {
            let changed = self
                .apps
                .get(name)
                .is_none_or(|old| old.config_version != record.config_version);
            if changed {
                self.backoffs.forget(name);
            }
        }
        self.apps = apps;
        Ok(())
    }

    async fn run(
        &mut self,
        mut events: mpsc::Receiver<SubscriptionEvent>,
        cancel: CancellationToken,
    ) -> Result<(), SchedulerError> {
        let mut changes = self.store.changes();
        let mut seen_apps = changes.borrow_and_update().apps;
        let tick = Duration::from_millis(250);
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut effects = Effects::default();
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                first = events.recv() => {
                    let Some(first) = first else {
                        return Err(SchedulerError::SubscriptionEnded);
                    };
                    let mut batch = vec![first];
                    while batch.len() < 512 {
                        match events.try_recv() {
                            Ok(e) => batch.push(e),
                            Err(_) => break,
                        }
                    }
                    self.on_events(batch, &mut effects).await?;
                }
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Err(StoreError::Unavailable("store change feed closed".into()).into());
                    }
                    let now_apps = changes.borrow_and_update().apps;
                    if now_apps != seen_apps {
                        seen_apps = now_apps;
                        self.reload_apps().await?;
                        let names: Vec<String> = self.all_app_names();
                        self.replan(&names, &mut effects);
                    }
                }
                _ = ticker.tick() => {
                    self.on_tick(&mut effects);
                }
            }
            self.execute(effects).await?;
        }
    }

    fn all_app_names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.apps.keys().cloned().collect();
        names.extend(self.by_app.keys().cloned());
        names.into_iter().collect()
    }

    async fn on_events(
        &mut self,
        batch: Vec<SubscriptionEvent>,
        effects: &mut Effects,
    ) -> Result<(), SchedulerError> {
        let mut offers: Vec<v1::Offer> = Vec::new();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for item in batch {
            match item {
                SubscriptionEvent::Subscribed(session) => {
                    self.on_subscribed(*session, effects).await?
                }
                SubscriptionEvent::Disconnected { reason, .. } => {
                    warn!(%reason, "mesos session lost; offers of it are void");
                    self.session = None;
                    metrics::gauge!("hydrogen_mesos_subscribed").set(0.0);
                    offers.clear();
                }
                SubscriptionEvent::ConnectFailed { master, reason } => {
                    debug!(%master, %reason, "mesos connection attempt failed");
                }
                SubscriptionEvent::Event { session, event } => {
                    if Some(session) != self.session {
                        continue;
                    }
                    self.on_mesos_event(*event, &mut offers, &mut touched, effects);
                }
            }
        }
        let touched: Vec<String> = touched.into_iter().collect();
        self.replan(&touched, effects);
        if !offers.is_empty() {
            self.on_offers(offers, effects);
        }
        Ok(())
    }

    async fn on_subscribed(
        &mut self,
        session: Session,
        effects: &mut Effects,
    ) -> Result<(), SchedulerError> {
        let id = session.framework_id.value.clone();
        if self.framework_id.as_deref() != Some(id.as_str()) {
            self.store.set_framework_id(self.epoch, &id).await?;
            self.framework_id = Some(id.clone());
        }
        self.session = Some(session.generation);
        metrics::counter!("hydrogen_mesos_subscriptions_total").increment(1);
        metrics::gauge!("hydrogen_mesos_subscribed").set(1.0);
        metrics::counter!("hydrogen_reconciliations_total").increment(1);
        // A new SUBSCRIBE is not suppressed unless it says so.
        self.suppressed = false;
        let live: Vec<(v1::TaskId, Option<v1::AgentId>)> = self
            .tasks
            .values()
            .filter(|t| plan::is_live(t.state))
            .map(|t| {
                let agent = (!t.agent_id.is_empty()).then(|| calls::agent_id(t.agent_id.clone()));
                (calls::task_id(t.task_id.clone()), agent)
            })
            .collect();
        self.awaiting_reconcile = live.iter().map(|(t, _)| t.value.clone()).collect();
        self.reconcile_started = Some(Instant::now());
        self.last_implicit_reconcile = Instant::now();
        info!(framework_id = %id, known_live_tasks = live.len(), "subscribed; reconciling");
        let caller = self.caller.clone();
        let generation = session.generation;
        if !live.is_empty() {
            for chunk in live.chunks(1000) {
                if let Err(e) = caller
                    .call_in(generation, calls::reconcile(chunk.to_vec()))
                    .await
                {
                    warn!(error = %e, "explicit reconcile failed");
                }
            }
        }
        if let Err(e) = caller.call_in(generation, calls::reconcile(vec![])).await {
            warn!(error = %e, "implicit reconcile failed");
        }
        // Kills decided without a session, or sent on the lost one, were
        // never delivered: send every kill still wanted on this session now
        // rather than after `kill_retry` (KILL is idempotent).
        self.kill_sent_at.clear();
        let names = self.all_app_names();
        self.replan(&names, effects);
        Ok(())
    }

    fn on_mesos_event(
        &mut self,
        event: Event,
        offers: &mut Vec<v1::Offer>,
        touched: &mut BTreeSet<String>,
        effects: &mut Effects,
    ) {
        match event.r#type() {
            event::Type::Offers => {
                if let Some(o) = event.offers {
                    offers.extend(o.offers);
                }
            }
            event::Type::Update => {
                if let Some(update) = event.update {
                    self.on_status(update.status, touched, effects);
                }
            }
            event::Type::Rescind => {
                // Offers are answered as they arrive; nothing is held.
            }
            event::Type::Failure => {
                if let Some(f) = event.failure {
                    warn!(agent = ?f.agent_id.map(|a| a.value), executor = ?f.executor_id.map(|e| e.value), status = ?f.status, "mesos reports a failure");
                }
            }
            other => debug!(event = ?other, "mesos event ignored"),
        }
    }

    fn on_status(
        &mut self,
        status: v1::TaskStatus,
        touched: &mut BTreeSet<String>,
        effects: &mut Effects,
    ) {
        let task_id = status.task_id.value.clone();
        let state = status::task_state(status.state());
        self.awaiting_reconcile.remove(&task_id);
        metrics::counter!("hydrogen_status_updates_total", "state" => state.as_str()).increment(1);
        let now = Instant::now();
        if let Some(record) = self.tasks.get_mut(&task_id) {
            let was_live = plan::is_live(record.state);
            if status::apply(record, &status, now_ms()) {
                effects.batch.upserts.push(record.clone());
            }
            info!(task = %task_id, state = state.as_str(), healthy = ?record.healthy, "task status");
            let app = record.app.clone();
            let app_running = self.apps.get(&app).is_some_and(|a| a.goal == AppGoal::Run);
            // The relaunch backoff is for tasks that fail; a task lost with
            // its agent says nothing about the app, and an agent-loss storm
            // must not hold every app's replacements back.
            let agent_lost = matches!(
                state,
                TaskState::TaskGone | TaskState::TaskGoneByOperator | TaskState::TaskUnreachable
            );
            if was_live && !plan::is_live(state) && !record.kill_sent && app_running && !agent_lost
            {
                let retry = self.apps.get(&app).and_then(|a| a.spec.retry.as_ref());
                let policy = self.backoffs.policy(retry);
                self.backoffs.record_failure(&app, policy, now);
            }
            if !plan::is_live(state) {
                self.kill_sent_at.remove(&task_id);
            }
            let ready = self
                .apps
                .get(&app)
                .is_some_and(|a| plan::is_ready(record, &a.spec));
            if ready {
                self.ready_since.entry(task_id.clone()).or_insert(now);
            } else {
                self.ready_since.remove(&task_id);
            }
            touched.insert(app);
        } else if plan::is_live(state) {
            // Mesos runs a task for us that no app owns: an orphan.
            warn!(task = %task_id, state = state.as_str(), "killing a task that belongs to no app");
            effects.kills.push((
                task_id.clone(),
                status.agent_id.as_ref().map(|a| a.value.clone()),
            ));
        }
        if let (Some(uuid), Some(agent)) = (status.uuid.clone(), status.agent_id.clone()) {
            effects.acks.push((agent, status.task_id, uuid));
        }
    }

    /// Re-plans apps, updating pending slots and gathering kills, forgotten
    /// records and app removals.
    fn replan(&mut self, apps: &[String], effects: &mut Effects) {
        let now = now_ms();
        for name in apps {
            let tasks: Vec<&TaskRecord> = self
                .by_app
                .get(name)
                .into_iter()
                .flatten()
                .filter_map(|id| self.tasks.get(id))
                .collect();
            let Some(app) = self.apps.get(name) else {
                // Tasks of an app that no longer exists: kill the live ones.
                for t in tasks.iter().filter(|t| plan::is_live(t.state)) {
                    if !self.kill_sent_at.contains_key(&t.task_id) {
                        effects
                            .kills
                            .push((t.task_id.clone(), Some(t.agent_id.clone())));
                    }
                }
                continue;
            };
            let p = plan::plan_app(app, &tasks, now, &self.config.plan);
            for id in p.kill {
                if !self.kill_sent_at.contains_key(&id) {
                    let agent = self.tasks.get(&id).map(|t| t.agent_id.clone());
                    effects.kills.push((id, agent));
                }
            }
            for id in p.forget {
                self.forget_task(&id);
                effects.batch.removals.push(id);
            }
            if p.remove_app {
                info!(app = %name, "app killed and all its tasks are gone; removing it");
                self.apps.remove(name);
                self.pending.remove(name);
                self.backoffs.forget(name);
                self.rejections.remove(name);
                self.statuses_written.remove(name);
                effects.batch.app_removals.push(name.clone());
                continue;
            }
            if p.launch.is_empty() {
                self.pending.remove(name);
            } else {
                let grew = self
                    .pending
                    .get(name)
                    .is_none_or(|old| old.len() < p.launch.len());
                self.pending.insert(name.clone(), p.launch);
                if grew {
                    // New work: clear decline filters so offers come at once.
                    self.revive_wanted = true;
                }
            }
        }
    }

    fn forget_task(&mut self, id: &str) {
        if let Some(task) = self.tasks.remove(id)
            && let Some(ids) = self.by_app.get_mut(&task.app)
        {
            ids.remove(id);
            if ids.is_empty() {
                self.by_app.remove(&task.app);
            }
        }
        self.ready_since.remove(id);
        self.kill_sent_at.remove(id);
    }

    fn launch_allowed(&self) -> bool {
        if self.session.is_none() {
            return false;
        }
        self.awaiting_reconcile.is_empty()
            || self
                .reconcile_started
                .is_some_and(|t| t.elapsed() >= self.config.reconcile_timeout)
    }

    /// Apps with slots that may launch now.
    fn launchable(&self, now: Instant) -> Vec<String> {
        if !self.launch_allowed() {
            return Vec::new();
        }
        self.pending
            .keys()
            .filter(|app| self.backoffs.blocked_until(app, now).is_none())
            .filter(|app| !self.backoffs.gave_up(app))
            .filter(|app| self.apps.get(*app).is_some_and(|a| a.goal == AppGoal::Run))
            .cloned()
            .collect()
    }

    fn on_offers(&mut self, offers: Vec<v1::Offer>, effects: &mut Effects) {
        metrics::counter!("hydrogen_offers_received_total").increment(offers.len() as u64);
        let now = Instant::now();
        let apps = self.launchable(now);
        let Some(framework_id) = self.framework_id.clone() else {
            effects.declines.extend(offers.into_iter().map(|o| o.id));
            return;
        };
        if apps.is_empty() {
            effects.declines.extend(offers.into_iter().map(|o| o.id));
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
        let specs: Vec<&AppRecord> = apps.iter().filter_map(|a| self.apps.get(a)).collect();
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
        let outcome = placement::place(&offers, &demands, &self.config.role);
        for (i, rejections) in outcome.rejections.iter().enumerate() {
            if let Some(app) = apps.get(i) {
                let entry = self.rejections.entry(app.clone()).or_default();
                if let Some(record) = self.apps.get(app) {
                    for (reason, count) in rejection_reasons(&record.spec, rejections) {
                        *entry.entry(reason).or_insert(0) += u64::from(count);
                    }
                }
            }
        }
        let mut launches: BTreeMap<usize, (Vec<v1::TaskInfo>, Vec<String>)> = BTreeMap::new();
        let created = now_ms();
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
                    self.launch_errors.insert(app_name.clone(), e.to_string());
                    slots.insert(0, instance);
                    continue;
                }
            };
            let task = TaskRecord {
                task_id: task_id.clone(),
                app: app_name.clone(),
                instance,
                app_version: record.version,
                agent_id: offer.agent_id.value.clone(),
                hostname: offer.hostname.clone(),
                state: TaskState::TaskStaging,
                healthy: None,
                ips: Vec::new(),
                message: String::new(),
                kill_sent: false,
                created_ms: created,
                updated_ms: created,
            };
            info!(task = %task_id, app = %app_name, instance, agent = %offer.hostname, "launching");
            self.by_app
                .entry(app_name.clone())
                .or_default()
                .insert(task_id.clone());
            self.tasks.insert(task_id.clone(), task.clone());
            effects.batch.upserts.push(task);
            let entry = launches.entry(placed.offer).or_default();
            entry.0.push(info);
            entry.1.push(task_id);
        }
        self.pending.retain(|_, slots| !slots.is_empty());
        for (index, offer) in offers.into_iter().enumerate() {
            match launches.remove(&index) {
                Some((infos, ids)) => effects.accepts.push((offer.id, infos, ids)),
                None => effects.declines.push(offer.id),
            }
        }
    }

    fn on_tick(&mut self, effects: &mut Effects) {
        let now = Instant::now();
        // Backoff resets for apps whose tasks stay ready.
        let ready: Vec<(String, Instant)> = self
            .ready_since
            .iter()
            .filter_map(|(id, since)| self.tasks.get(id).map(|t| (t.app.clone(), *since)))
            .collect();
        for (app, since) in ready {
            self.backoffs.record_ready(&app, since, now);
        }
        // Unreachable grace periods and anything time-driven in the plan.
        let names = self.all_app_names();
        self.replan(&names, effects);
        // Kills not answered in time are sent again.
        let retry: Vec<(String, Option<String>)> = self
            .kill_sent_at
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) >= self.config.kill_retry)
            .filter_map(|(id, _)| {
                self.tasks
                    .get(id)
                    .map(|t| (id.clone(), Some(t.agent_id.clone())))
            })
            .collect();
        for (id, agent) in retry {
            self.kill_sent_at.remove(&id);
            effects.kills.push((id, agent));
        }
        // Periodic implicit reconciliation.
        if let Some(generation) = self.session
            && self.last_implicit_reconcile.elapsed() >= self.config.reconcile_interval
        {
            self.last_implicit_reconcile = Instant::now();
            metrics::counter!("hydrogen_reconciliations_total").increment(1);
            let caller = self.caller.clone();
            tokio::spawn(async move {
                if let Err(e) = caller.call_in(generation, calls::reconcile(vec![])).await {
                    warn!(error = %e, "periodic reconcile failed");
                }
            });
        }
        if self.last_status_write.elapsed() >= self.config.status_interval {
            self.last_status_write = now;
            self.write_statuses(now, effects);
        }
    }

    fn write_statuses(&mut self, now: Instant, effects: &mut Effects) {
        let wall = now_ms();
        let names: Vec<String> = self.apps.keys().cloned().collect();
        for name in names {
            let waiting =
                u32::try_from(self.pending.get(&name).map_or(0, Vec::len)).unwrap_or(u32::MAX);
            let backoff_until_ms = self.backoffs.blocked_until(&name, now).map(|until| {
                wall + u64::try_from(until.saturating_duration_since(now).as_millis())
                    .unwrap_or(u64::MAX)
            });
            let rejections = if waiting > 0 {
                self.rejections.get(&name).cloned().unwrap_or_default()
            } else {
                self.rejections.remove(&name);
                BTreeMap::new()
            };
            let message = status_message(
                waiting,
                if self.backoffs.gave_up(&name) {
                    Backing::GaveUp(self.backoffs.failures(&name))
                } else if backoff_until_ms.is_some() {
                    Backing::Off
                } else {
                    Backing::No
                },
                &rejections,
                self.launch_errors.get(&name),
                self.launch_allowed(),
            );
            let status = AppStatus {
                app: name.clone(),
                waiting,
                backoff_until_ms,
                consecutive_failures: self.backoffs.failures(&name),
                rejections,
                message,
                updated_ms: wall,
            };
            let unchanged = self.statuses_written.get(&name).is_some_and(|old| {
                AppStatus {
                    updated_ms: wall,
                    backoff_until_ms: status.backoff_until_ms.map(|_| 0),
                    ..old.clone()
                } == AppStatus {
                    backoff_until_ms: status.backoff_until_ms.map(|_| 0),
                    ..status.clone()
                }
            });
            if !unchanged {
                self.statuses_written.insert(name, status.clone());
                effects.batch.statuses.push(status);
            }
        }
    }

    /// Persist, then act.
    async fn execute(&mut self, mut effects: Effects) -> Result<(), SchedulerError> {
        let now = Instant::now();
        // Kills mark their tasks first, so a kill is never counted as a failure.
        let mut kill_calls = Vec::new();
        for (id, agent) in std::mem::take(&mut effects.kills) {
            if self.kill_sent_at.contains_key(&id) {
                continue;
            }
            self.kill_sent_at.insert(id.clone(), now);
            if let Some(task) = self.tasks.get_mut(&id)
                && !task.kill_sent
            {
                task.kill_sent = true;
                effects.batch.upserts.push(task.clone());
            }
            kill_calls.push((id, agent));
        }
        metrics::gauge!("hydrogen_scheduler_launch_ready").set(if self.launch_allowed() {
            1.0
        } else {
            0.0
        });
        if !effects.batch.is_empty() {
            dedup_upserts(&mut effects.batch);
            let started = Instant::now();
            self.store.apply(self.epoch, effects.batch).await?;
            metrics::histogram!("hydrogen_store_apply_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        let launched: usize = effects
            .accepts
            .iter()
            .map(|(_, infos, _)| infos.len())
            .sum();
        metrics::counter!("hydrogen_tasks_launched_total").increment(launched as u64);
        metrics::counter!("hydrogen_offers_used_total").increment(effects.accepts.len() as u64);
        metrics::counter!("hydrogen_offers_declined_total")
            .increment(effects.declines.len() as u64);
        metrics::counter!("hydrogen_kills_total").increment(kill_calls.len() as u64);
        let Some(generation) = self.session else {
            return Ok(());
        };
        // The batch is written: its acknowledgements may go, in the
        // background, so the next batch need not wait for them.
        self.acks.send(generation, effects.acks);
        let mut calls_out = FuturesUnordered::new();
        for (offer, infos, ids) in effects.accepts {
            let caller = self.caller.clone();
            calls_out.push(tokio::spawn(async move {
                let call = calls::accept(
                    vec![offer],
                    vec![calls::launch(infos)],
                    Some(calls::refuse_for(1.0)),
                );
                (
                    format!("accept for {}", ids.join(",")),
                    caller.call_in(generation, call).await,
                )
            }));
        }
        if !effects.declines.is_empty() {
            let caller = self.caller.clone();
            let refuse = self.config.decline_refuse.as_secs_f64();
            let offers = effects.declines;
            calls_out.push(tokio::spawn(async move {
                let call = calls::decline(offers, Some(calls::refuse_for(refuse)));
                (
                    "decline".to_string(),
                    caller.call_in(generation, call).await,
                )
            }));
        }
        for (id, agent) in kill_calls {
            let caller = self.caller.clone();
            info!(task = %id, "killing");
            calls_out.push(tokio::spawn(async move {
                let call = calls::kill(
                    calls::task_id(id.clone()),
                    agent.filter(|a| !a.is_empty()).map(calls::agent_id),
                );
                (format!("kill {id}"), caller.call_in(generation, call).await)
            }));
        }
        // Offers are wanted while a launchable slot waits.
        let want_offers = !self.launchable(now).is_empty();
        let revive_or_suppress = if want_offers && (self.suppressed || self.revive_wanted) {
            self.suppressed = false;
            self.revive_wanted = false;
            Some(("revive", calls::revive(vec![])))
        } else if !want_offers && !self.suppressed && self.launch_allowed() {
            self.suppressed = true;
            Some(("suppress", calls::suppress(vec![])))
        } else {
            None
        };
        if let Some((what, call)) = revive_or_suppress {
            debug!(what, "offer flow");
            let caller = self.caller.clone();
            calls_out.push(tokio::spawn(async move {
                (what.to_string(), caller.call_in(generation, call).await)
            }));
        }
        while let Some(done) = calls_out.next().await {
            match done {
                Ok((_, Ok(()))) => {}
                Ok((what, Err(e))) => warn!(call = %what, error = %e, "mesos call failed"),
                Err(e) => warn!(error = %e, "mesos call task failed"),
            }
        }
        Ok(())
    }
}

/// Keeps the last upsert of each task (a task may change twice in a batch).
fn dedup_upserts(batch: &mut TaskBatch) {
    let mut seen = HashSet::new();
    let mut kept: Vec<TaskRecord> = Vec::with_capacity(batch.upserts.len());
    for task in batch.upserts.drain(..).rev() {
        if seen.insert(task.task_id.clone()) {
            kept.push(task);
        }
    }
    kept.reverse();
    batch.upserts = kept;
}

/// Rejection counts under names a user understands.
fn rejection_reasons(app: &crate::spec::App, r: &placement::Rejections) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut push = |name: String, n: u32| {
        if n > 0 {
            out.push((name, n));
        }
    };
    push(
        format!(
            "no resources for role {}",
            app.resources.role.as_deref().unwrap_or("of the framework")
        ),
        r.role,
    );
    for (index, n) in &r.filter_failures {
        let what = app.filters.get(*index).map_or_else(String::new, |f| {
            let attribute = f.attribute.as_deref().unwrap_or("any attribute");
            format!(
                " ({} on {attribute})",
                format!("{:?}", f.kind).to_uppercase()
            )
        });
        push(format!("filter {index}{what}"), *n);
    }
    push(
        "UNIQUE: agent already runs a task of the app".into(),
        r.unique,
    );
    push("insufficient cpu".into(), r.cpu);
    push("insufficient mem".into(), r.mem);
    push("insufficient disk".into(), r.disk);
    push("insufficient ports".into(), r.ports);
    out
}

/// Whether an app waits out a relaunch backoff.
enum Backing {
    No,
    Off,
    /// Gave up after this many consecutive failures (`retry.total_retries`).
    GaveUp(u32),
}

/// One line telling a user why an app's tasks wait.
fn status_message(
    waiting: u32,
    backing: Backing,
    rejections: &BTreeMap<String, u64>,
    launch_error: Option<&String>,
    launch_allowed: bool,
) -> String {
    if waiting == 0 {
        return String::new();
    }
    if let Some(e) = launch_error {
        return format!("{waiting} task(s) wait: the task cannot be built: {e}");
    }
    if !launch_allowed {
        return format!(
            "{waiting} task(s) wait: the scheduler is (re)connecting to Mesos and reconciling"
        );
    }
    match backing {
        Backing::No => {}
        Backing::Off => {
            return format!("{waiting} task(s) wait: relaunch backoff after failures");
        }
        Backing::GaveUp(failures) => {
            return format!(
                "{waiting} task(s) wait: relaunches stopped after {failures} consecutive failures \
                 (retry.total_retries); fix and update the app to start again"
            );
        }
    }
    match rejections.iter().max_by_key(|(_, n)| **n) {
        Some((reason, n)) => {
            format!("{waiting} task(s) wait: {n} recent offers rejected, mostly for {reason}")
        }
        None => format!("{waiting} task(s) wait for offers"),
    }
}

/// The scheduler's status-update path, for `benches/`: a [`Runtime`]
/// loaded from a store as a new leader loads it, fed status updates the
/// way a batch of UPDATE events feeds it (model update, backoff and
/// readiness bookkeeping, re-plan of the touched apps, one fenced store
/// write, then the acknowledgements queued to the background sender).
/// Built with [`StatusBench::load_with_master`], the acknowledgements go to
/// a real master over HTTP and [`StatusBench::acked`] waits for their
/// answers; with [`StatusBench::load`] there is no Mesos session and none
/// is sent. Not an API.
#[doc(hidden)]
pub struct StatusBench<S: Store> {
    runtime: Runtime<S>,
    _subscription: Subscription,
    _drain: Option<tokio::task::JoinHandle<()>>,
}

impl<S: Store> StatusBench<S> {
    /// Loads apps and tasks from `store`; writes carry `epoch`. No Mesos.
    pub async fn load(store: Arc<S>, epoch: u64) -> Result<Self, SchedulerError> {
        let url = reqwest::Url::parse("http://127.0.0.1:9").map_err(|e| {
            SchedulerError::Store(StoreError::Unavailable(format!("literal url: {e}")))
        })?;
        let config = SchedulerConfig::new(vec![url]);
        // A subscription that never connects: it only provides a caller.
        let cancel = CancellationToken::new();
        cancel.cancel();
        let framework = framework_info(&config, None);
        let (subscription, _events) = Subscription::start(
            SubscriptionConfig::new(config.masters.clone(), framework),
            cancel,
        )?;
        let mut runtime = Runtime::new(store, epoch, config, subscription.caller(), None);
        runtime.load().await?;
        Ok(Self {
            runtime,
            _subscription: subscription,
            _drain: None,
        })
    }

    /// Like [`Self::load`], subscribed to the master at `master`: every
    /// handled update is acknowledged to it. Other events are dropped
    /// (offers stay unanswered).
    pub async fn load_with_master(
        store: Arc<S>,
        epoch: u64,
        master: reqwest::Url,
    ) -> Result<Self, SchedulerError> {
        let config = SchedulerConfig::new(vec![master]);
        let framework = framework_info(&config, None);
        let (subscription, mut events) = Subscription::start(
            SubscriptionConfig::new(config.masters.clone(), framework),
            CancellationToken::new(),
        )?;
        let session = loop {
            match events.recv().await {
                Some(SubscriptionEvent::Subscribed(session)) => break session,
                Some(_) => {}
                None => return Err(SchedulerError::SubscriptionEnded),
            }
        };
        let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
        let mut runtime = Runtime::new(
            store,
            epoch,
            config,
            subscription.caller(),
            Some(session.framework_id.value.clone()),
        );
        runtime.load().await?;
        runtime.session = Some(session.generation);
        Ok(Self {
            runtime,
            _subscription: subscription,
            _drain: Some(drain),
        })
    }

    /// Handles one batch of status updates, persists the result and queues
    /// the acknowledgements.
    pub async fn handle(&mut self, statuses: Vec<v1::TaskStatus>) -> Result<(), SchedulerError> {
        let mut effects = Effects::default();
        let mut touched = BTreeSet::new();
        for status in statuses {
            self.runtime.on_status(status, &mut touched, &mut effects);
        }
        let touched: Vec<String> = touched.into_iter().collect();
        self.runtime.replan(&touched, &mut effects);
        // Only the status path: no offers wanted, nothing to revive.
        self.runtime.suppressed = true;
        self.runtime.revive_wanted = false;
        self.runtime.execute(effects).await
    }

    /// Waits until every acknowledgement queued so far was answered;
    /// returns (answered, failed) totals.
    pub async fn acked(&self) -> (u64, u64) {
        self.runtime.acks.drained().await;
        (self.runtime.acks.finished(), self.runtime.acks.failed())
    }

    /// Tasks in the model.
    pub fn tasks(&self) -> usize {
        self.runtime.tasks.len()
    }
}
