//! Status update acknowledgements, sent in the background by the
//! scheduler (`scheduler::acks`), against the simulated master over
//! loopback HTTP: an update whose write failed is never acknowledged, and
//! under load every update ends up acknowledged. What Mesos considers
//! acknowledged is read from the simulated agents' status update queues.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hydrogen::ha::{self, HaConfig};
use hydrogen::mesos::v1;
use hydrogen::scheduler::runtime::SchedulerConfig;
use hydrogen::spec::App;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{
    AppRecord, AppStatus, Changes, CreateOutcome, Epoch, EventPage, LeaderInfo, LeaseAttempt,
    Store, StoreError, TaskBatch, TaskEvent, TaskRecord, TaskState, ViewDelta, ViewRevision,
    ViewSnapshot,
};
use hydrogen_sim::SimHandle;
use hydrogen_sim::cluster::default_agent;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::sim_fixture::*;

/// The memory store with a switch that makes every scheduler batch write
/// fail, as an unreachable Redis does; everything else passes through.
#[derive(Default)]
struct WriteGate {
    inner: MemoryStore,
    closed: AtomicBool,
    /// Refused batches that carried a TASK_FAILED record.
    refused_failed: AtomicU64,
}

impl Store for WriteGate {
    async fn create_app(&self, spec: App) -> Result<CreateOutcome, StoreError> {
        self.inner.create_app(spec).await
    }
    async fn update_app(
        &self,
        spec: App,
        v: Option<u64>,
    ) -> Result<hydrogen::store::UpdateOutcome, StoreError> {
        self.inner.update_app(spec, v).await
    }
    async fn kill_app(&self, name: &str, v: Option<u64>) -> Result<AppRecord, StoreError> {
        self.inner.kill_app(name, v).await
    }
    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        self.inner.get_app(name).await
    }
    async fn list_apps(&self) -> Result<Vec<Arc<AppRecord>>, StoreError> {
        self.inner.list_apps().await
    }
    async fn list_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.inner.list_tasks().await
    }
    async fn app_tasks(&self, app: &str) -> Result<Vec<TaskRecord>, StoreError> {
        self.inner.app_tasks(app).await
    }
    async fn view_revision(&self) -> Result<ViewRevision, StoreError> {
        self.inner.view_revision().await
    }
    async fn view_snapshot(&self) -> Result<ViewSnapshot, StoreError> {
        self.inner.view_snapshot().await
    }
    async fn view_delta(&self, since: ViewRevision) -> Result<Option<ViewDelta>, StoreError> {
        self.inner.view_delta(since).await
    }
    async fn apply(&self, epoch: Epoch, batch: TaskBatch) -> Result<Vec<TaskEvent>, StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            if batch
                .upserts
                .iter()
                .any(|t| t.state == TaskState::TaskFailed)
            {
                self.refused_failed.fetch_add(1, Ordering::SeqCst);
            }
            return Err(StoreError::Unavailable(
                "write gate closed by the test".into(),
            ));
        }
        self.inner.apply(epoch, batch).await
    }
    async fn app_status(&self, app: &str) -> Result<Option<AppStatus>, StoreError> {
        self.inner.app_status(app).await
    }
    async fn app_statuses(&self) -> Result<Vec<Arc<AppStatus>>, StoreError> {
        self.inner.app_statuses().await
    }
    async fn set_mesos_link(&self, epoch: Epoch, subscribed: bool) -> Result<(), StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "write gate closed by the test".into(),
            ));
        }
        self.inner.set_mesos_link(epoch, subscribed).await
    }
    async fn mesos_link(&self) -> Result<Option<hydrogen::store::MesosLink>, StoreError> {
        self.inner.mesos_link().await
    }
    async fn framework_id(&self) -> Result<Option<String>, StoreError> {
        self.inner.framework_id().await
    }
    async fn set_framework_id(&self, epoch: Epoch, id: &str) -> Result<(), StoreError> {
        self.inner.set_framework_id(epoch, id).await
    }
    async fn events_after(&self, after: u64, limit: usize) -> Result<EventPage, StoreError> {
        self.inner.events_after(after, limit).await
    }
    fn changes(&self) -> watch::Receiver<Changes> {
        self.inner.changes()
    }
    async fn try_acquire_lease(
        &self,
        id: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<LeaseAttempt, StoreError> {
        self.inner.try_acquire_lease(id, address, ttl).await
    }
    async fn renew_lease(&self, lease: &LeaderInfo, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.renew_lease(lease, ttl).await
    }
    async fn release_lease(&self, lease: &LeaderInfo) -> Result<(), StoreError> {
        self.inner.release_lease(lease).await
    }
    async fn leader(&self) -> Result<Option<LeaderInfo>, StoreError> {
        self.inner.leader().await
    }
}

struct Cluster {
    sim: SimHandle,
    store: Arc<WriteGate>,
    cancel: CancellationToken,
    ha: tokio::task::JoinHandle<()>,
}

impl Cluster {
    async fn start(agents: usize, ack_concurrency: usize) -> Self {
        let mut sim_config = fast_sim_config(0);
        sim_config.agents = (1..=agents).map(default_agent).collect();
        let sim = start_sim(sim_config).await;
        let store = Arc::new(WriteGate::default());
        let masters = hydrogen::mesos::subscription::parse_masters(&sim.url()).expect("url");
        let mut config = SchedulerConfig::new(masters);
        config.decline_refuse = Duration::from_millis(200);
        config.reconcile_timeout = Duration::from_secs(3);
        config.status_interval = Duration::from_millis(100);
        config.reconnect_backoff_initial = Duration::from_millis(20);
        config.reconnect_backoff_max = Duration::from_millis(200);
        config.backoff.initial = Duration::from_millis(100);
        config.backoff.max = Duration::from_millis(500);
        config.ack_concurrency = ack_concurrency;
        let mut ha_config = HaConfig::new("acks-test".into(), "127.0.0.1:0".into());
        ha_config.lease_ttl = Duration::from_secs(5);
        ha_config.renew_interval = Duration::from_millis(500);
        ha_config.safety_margin = Duration::from_secs(1);
        ha_config.acquire_interval = Duration::from_millis(100);
        let cancel = CancellationToken::new();
        let ha = tokio::spawn(ha::run(store.clone(), ha_config, config, cancel.clone()));
        Self {
            sim,
            store,
            cancel,
            ha,
        }
    }

    async fn deploy(&self, name: &str, instances: u32) {
        let app = json!({"name": name, "resources": {"cpu": 0.1, "mem": 16},
                         "instances": instances, "command": {"cmd": "sleep 1000"}});
        let spec = hydrogen::spec::parse_app(app.to_string().as_bytes()).expect("valid app");
        self.store.create_app(spec).await.expect("deployed");
    }

    /// Reads the simulated master.
    fn with_master<T>(&self, f: impl FnOnce(&hydrogen_sim::Master) -> T) -> T {
        let master = self.sim.master();
        let guard = master.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    /// (tasks RUNNING in Mesos, of which with an update not yet acknowledged).
    fn running_and_unacked(&self) -> (usize, usize) {
        self.with_master(|m| {
            let tasks = m.frameworks.values().flat_map(|f| f.tasks.values());
            tasks.fold((0, 0), |(running, unacked), t| {
                (
                    running + usize::from(t.state == v1::TaskState::TaskRunning),
                    unacked + usize::from(!t.pending.is_empty()),
                )
            })
        })
    }

    /// Polls `what` until it holds or the deadline passes.
    async fn wait(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + DEADLINE * 2;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        let _ = self.ha.await;
        self.sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_write_failed_is_never_acknowledged() {
    let cluster = Cluster::start(2, 4).await;
    cluster.deploy("gated", 1).await;
    cluster
        .wait("the task running with every update acknowledged", |c| {
            c.running_and_unacked() == (1, 0)
        })
        .await;
    let task_id = cluster.with_master(|m| {
        m.frameworks
            .values()
            .flat_map(|f| f.tasks.keys())
            .next()
            .cloned()
            .expect("one task")
    });

    cluster.store.closed.store(true, Ordering::SeqCst);
    {
        let master = cluster.sim.master();
        let mut m = master.lock().unwrap_or_else(|p| p.into_inner());
        let (framework, task) = m.find_task(&task_id, None).expect("task known");
        m.end_task(
            Instant::now(),
            &framework,
            &task,
            v1::TaskState::TaskFailed,
            None,
        )
        .expect("task fails");
    }
    // The update reaches the scheduler again and again (Mesos retries it,
    // and resends it to every new term), and each write of it fails.
    cluster
        .wait("three refused writes of TASK_FAILED", |c| {
            c.store.refused_failed.load(Ordering::SeqCst) >= 3
        })
        .await;
    let in_flight = cluster.with_master(|m| {
        m.frameworks
            .values()
            .find_map(|f| f.tasks.get(&task_id))
            .and_then(|t| t.pending.front().map(|s| s.state()))
    });
    assert_eq!(
        in_flight,
        Some(v1::TaskState::TaskFailed),
        "the failed task's update must still wait for its acknowledgement"
    );

    // Once writes succeed, the update is written, then acknowledged (the
    // agent forgets the task) and the slot is filled again.
    cluster.store.closed.store(false, Ordering::SeqCst);
    cluster
        .wait("the failed task acknowledged and replaced", |c| {
            let forgotten = c.with_master(|m| {
                m.frameworks
                    .values()
                    .all(|f| !f.tasks.contains_key(&task_id))
            });
            forgotten && c.running_and_unacked() == (1, 0)
        })
        .await;
    let log = cluster
        .store
        .inner
        .events_after(0, 100_000)
        .await
        .expect("event log");
    assert!(
        log.events
            .iter()
            .any(|e| e.task_id == task_id && e.state == TaskState::TaskFailed),
        "the acknowledged TASK_FAILED was written: {:?}",
        log.events
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_is_acknowledged_under_load() {
    // Two acknowledgements in flight for hundreds of updates: the queue
    // must drain, in the background, without losing any.
    let cluster = Cluster::start(10, 2).await;
    for a in 0..4 {
        cluster.deploy(&format!("load-{a}"), 50).await;
    }
    cluster
        .wait("200 tasks running with every update acknowledged", |c| {
            c.running_and_unacked() == (200, 0)
        })
        .await;
    let stored = cluster.store.inner.list_tasks().await.expect("tasks");
    assert_eq!(stored.len(), 200);
    assert!(
        stored.iter().all(|t| t.state == TaskState::TaskRunning),
        "every acknowledged RUNNING was written first"
    );
    cluster.stop().await;
}
