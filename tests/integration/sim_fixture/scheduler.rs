//! The scheduler cluster fixture: an in-process simulated master, a store
//! and Hydrogen's scheduler led through `ha::run` with fast timings, plus
//! readers of the simulator's `/master/state` by app.

use std::sync::Arc;
use std::time::Duration;

use hydrogen::ha::{self, HaConfig};
use hydrogen::scheduler::runtime::SchedulerConfig;
use hydrogen::store::Store;
use hydrogen_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{DEADLINE, get_json, start_sim};

/// Scheduler timings short enough for a test to see retries and reconciles
/// (backoff from 300 ms to 3 s, reconcile and status every few seconds or
/// less, reconnects within 200 ms).
pub fn fast_scheduler_config(sim_url: &str) -> SchedulerConfig {
    let masters = hydrogen::mesos::subscription::parse_masters(sim_url).expect("url");
    let mut config = SchedulerConfig::new(masters);
    config.backoff.initial = Duration::from_millis(300);
    config.backoff.max = Duration::from_secs(3);
    config.reconcile_timeout = Duration::from_secs(3);
    config.status_interval = Duration::from_millis(100);
    config.plan.unreachable_grace_ms = 500;
    config.reconnect_backoff_initial = Duration::from_millis(20);
    config.reconnect_backoff_max = Duration::from_millis(200);
    config
}

/// A lease of 5 s renewed every 500 ms, given up 1 s before it expires.
pub fn fast_ha_config(instance: &str) -> HaConfig {
    let mut ha_config = HaConfig::new(instance.into(), "127.0.0.1:0".into());
    ha_config.lease_ttl = Duration::from_secs(5);
    ha_config.renew_interval = Duration::from_millis(500);
    ha_config.safety_margin = Duration::from_secs(1);
    ha_config
}

/// A simulated master and one Hydrogen instance leading on `store`.
pub struct Cluster<S> {
    /// `None` once a test shut the simulator down itself.
    pub sim: Option<SimHandle>,
    pub url: String,
    pub store: Arc<S>,
    cancel: CancellationToken,
    ha: tokio::task::JoinHandle<()>,
}

impl<S: Store + Send + Sync + 'static> Cluster<S> {
    /// Starts the simulator, then `ha::run` with `config` (made for the
    /// simulator's URL by [`fast_scheduler_config`], then changed by `tweak`).
    pub async fn start(
        sim_config: SimConfig,
        store: Arc<S>,
        ha_config: HaConfig,
        tweak: impl FnOnce(&mut SchedulerConfig),
    ) -> Self {
        let sim = start_sim(sim_config).await;
        let url = sim.url();
        let mut config = fast_scheduler_config(&url);
        tweak(&mut config);
        let cancel = CancellationToken::new();
        let ha = tokio::spawn(ha::run(store.clone(), ha_config, config, cancel.clone()));
        Self {
            sim: Some(sim),
            url,
            store,
            cancel,
            ha,
        }
    }

    /// The simulator, while it runs.
    pub fn sim(&self) -> &SimHandle {
        self.sim.as_ref().expect("the simulator runs")
    }

    pub async fn deploy(&self, app: Value) {
        let spec = hydrogen::spec::parse_app(app.to_string().as_bytes()).expect("valid app");
        self.store.create_app(spec).await.expect("deployed");
    }

    pub async fn update(&self, app: Value) {
        let spec = hydrogen::spec::parse_app(app.to_string().as_bytes()).expect("valid app");
        self.store.update_app(spec, None).await.expect("updated");
    }

    pub async fn state(&self) -> Value {
        get_json(&format!("{}/master/state", self.url)).await
    }

    /// Polls until `pred` holds over the app's tasks in `/master/state`.
    pub async fn wait_tasks(
        &self,
        app: &str,
        what: &str,
        deadline: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + deadline;
        loop {
            let tasks = app_tasks(&self.state().await, app);
            if pred(&tasks) {
                return tasks;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; tasks of {app}: {tasks:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until exactly `n` tasks of `app` live, all RUNNING.
    pub async fn wait_running(&self, app: &str, n: usize) -> Vec<Value> {
        self.wait_tasks(app, &format!("{n} running"), DEADLINE, |t| {
            running(t).len() == n && t.len() == n
        })
        .await
    }

    /// Stops this instance's scheduler and leads again on the same store
    /// as `ha_config` with `config`: a new term, as after a failover.
    pub async fn replace_leader(&mut self, ha_config: HaConfig, config: SchedulerConfig) {
        self.cancel.cancel();
        let _ = (&mut self.ha).await;
        self.cancel = CancellationToken::new();
        self.ha = tokio::spawn(ha::run(
            self.store.clone(),
            ha_config,
            config,
            self.cancel.clone(),
        ));
    }

    /// Stops the scheduler, then the simulator.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        let _ = (&mut self.ha).await;
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
    }
}

/// Live tasks of an app (task ids are `<app>.<instance>.<uuid>`).
pub fn app_tasks(state: &Value, app: &str) -> Vec<Value> {
    let prefix = format!("{app}.");
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| t["id"].as_str().is_some_and(|id| id.starts_with(&prefix)))
        .cloned()
        .collect()
}

pub fn running(tasks: &[Value]) -> Vec<&Value> {
    tasks
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .collect()
}

/// The README's `examples/test-app.json` (five UNIQUE instances).
pub fn test_app() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/test-app.json"
    ))
    .expect("example exists");
    let apps: Value = serde_json::from_str(&text).expect("example is JSON");
    apps[0].clone()
}

/// `instances` tasks of 0.1 cpu and 32 MB sleeping.
pub fn small_app(name: &str, instances: u32) -> Value {
    json!({"name": name, "resources": {"cpu": 0.1, "mem": 32}, "instances": instances,
           "command": {"cmd": "sleep 1000"}})
}
