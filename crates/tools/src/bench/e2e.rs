//! `hydrogen bench e2e`: the whole framework against the simulated master,
//! in one process, measured.
//!
//! The simulator runs on its own tokio runtime whose threads are named
//! [`SIM_THREAD_PREFIX`], so its CPU time can be read per thread from
//! `/proc` and taken out of the process total: `framework_cpu_seconds` is
//! the process's CPU time minus the simulator threads' (the memory store,
//! the scheduler, its Mesos client and this driver are what remains).
//!
//! Phases:
//! 1. start the simulator (fast allocation interval, short task start
//!    delay), the store (memory, or Redis at a `redis://` URL) and the
//!    scheduler under [`hydrogen::ha::run`], as `hydrogen dev` / `serve` wire
//!    them; wait until the framework is subscribed;
//! 2. deploy `apps` × `instances` through the store and wait until every
//!    task is RUNNING (following the store's event log, not polling task
//!    lists);
//! 3. mark a tenth of the agents gone (through the simulator's master, as
//!    its admin API does) and wait until every lost task is replaced and
//!    RUNNING.
//!
//! With Redis, every key lives under a fresh prefix
//! (`hydrogen-bench-<pid>-<ms>`), so a run never reads or clobbers another
//! cluster's state, and the keys are deleted when the run ends.
//! `framework_cpu_seconds` does not include the Redis server's CPU (another
//! process).
//!
//! `offer_cycles` counts the OFFERS events the simulator sent from the
//! deploy until the last launch ([`hydrogen_sim::SimStats`]);
//! `min_offer_cycles` is the least any scheduler could use: the tasks
//! divided by what the free cluster holds in one cycle.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::fixtures::plain_app;
use super::procstat;
use hydrogen::ha::{self, HaConfig};
use hydrogen::mesos::subscription::parse_masters;
use hydrogen::scheduler::runtime::SchedulerConfig;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::redis::{RedisOptions, RedisStore};
use hydrogen::store::{Store, StoreError, TaskState};
use hydrogen_sim::master::AgentState;
use hydrogen_sim::{SimConfig, SimHandle, SimStats, Simulator, Timings, cluster};

/// Name prefix of the simulator's runtime threads.
pub const SIM_THREAD_PREFIX: &str = "hydrogen-sim";

/// CPUs and mem of one default simulated agent.
const AGENT_CPUS: f64 = 4.0;
const AGENT_MEM: f64 = 8192.0;

/// What to run.
#[derive(Debug, Clone)]
pub struct E2eConfig {
    pub agents: usize,
    pub apps: usize,
    pub instances: u32,
    /// Per task.
    pub cpus: f64,
    pub mem: f64,
    pub allocation_interval: Duration,
    pub task_start_delay: Duration,
    /// Fraction of agents lost in the storm (0 skips it).
    pub storm_fraction: f64,
    /// Give up waiting after this long (per phase).
    pub timeout: Duration,
    /// Worker threads of the simulator's runtime.
    pub sim_threads: usize,
    /// `memory`, or a `redis://` / `rediss://` URL.
    pub store: String,
}

impl Default for E2eConfig {
    fn default() -> Self {
        Self {
            agents: 1000,
            apps: 100,
            instances: 100,
            cpus: 0.1,
            mem: 32.0,
            allocation_interval: Duration::from_millis(100),
            task_start_delay: Duration::from_millis(50),
            storm_fraction: 0.1,
            timeout: Duration::from_secs(600),
            sim_threads: 1,
            store: "memory".into(),
        }
    }
}

/// The figures; printed as one JSON line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct E2eReport {
    pub agents: usize,
    pub apps: usize,
    pub instances: u32,
    pub tasks: u64,
    pub store: String,
    /// All tasks RUNNING within the timeout.
    pub completed: bool,
    pub seconds_to_subscribed: f64,
    /// From the first deploy until every task had a record (placed).
    pub seconds_to_all_placed: f64,
    pub seconds_to_all_running: f64,
    /// Until Mesos also saw every update of the deploy acknowledged (the
    /// acknowledgements are sent in the background, after the writes).
    pub seconds_to_all_acknowledged: f64,
    pub offer_cycles: u64,
    pub min_offer_cycles: u64,
    pub offers_made: u64,
    /// During the deploy phase.
    pub framework_cpu_seconds: f64,
    pub sim_cpu_seconds: f64,
    /// Simulator CPU / process CPU during the deploy phase.
    pub sim_cpu_share: f64,
    /// Whole process (simulator included), VmHWM.
    pub peak_rss_bytes: u64,
    pub rss_after_deploy_bytes: u64,
    pub storm_agents_lost: usize,
    pub storm_tasks_lost: u64,
    pub storm_completed: bool,
    pub storm_seconds_to_replaced: f64,
    pub storm_offer_cycles: u64,
    pub storm_min_offer_cycles: u64,
    pub storm_framework_cpu_seconds: f64,
    pub storm_sim_cpu_share: f64,
    /// Task state changes persisted during the storm, per second.
    pub storm_updates_per_second: f64,
    /// Over the whole run: updates the simulated agents sent again because
    /// no acknowledgement came within their retry interval, and
    /// acknowledgements of updates that were not in flight (duplicates).
    pub updates_resent: u64,
    pub stale_acknowledgements: u64,
}

/// CPU split at one moment.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    total: f64,
    sim: f64,
}

impl Cpu {
    fn now() -> Self {
        Self {
            total: procstat::process_cpu_seconds(),
            sim: procstat::threads_cpu_seconds(SIM_THREAD_PREFIX),
        }
    }

    /// (framework, sim, sim share) since `earlier`.
    fn since(self, earlier: Cpu) -> (f64, f64, f64) {
        let total = (self.total - earlier.total).max(0.0);
        let sim = (self.sim - earlier.sim).max(0.0);
        let share = if total > 0.0 { sim / total } else { 0.0 };
        ((total - sim).max(0.0), sim, share)
    }
}

/// Follows the store's event log: the latest state of every task.
struct Tracker {
    cursor: u64,
    states: HashMap<String, TaskState>,
    running: usize,
    changes: u64,
}

impl Tracker {
    fn new(head: u64) -> Self {
        Self {
            cursor: head,
            states: HashMap::new(),
            running: 0,
            changes: 0,
        }
    }

    async fn catch_up(&mut self, store: &impl Store) -> anyhow::Result<()> {
        loop {
            let page = match store.events_after(self.cursor, 10_000).await {
                Ok(page) => page,
                Err(StoreError::Compacted { .. }) => {
                    // 100,000 tasks write three times the log's cap: behind
                    // it, the states are read whole and followed from there.
                    self.resync(store).await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let Some(last) = page.events.last().map(|e| e.revision) else {
                return Ok(());
            };
            for e in page.events {
                self.changes += 1;
                let old = self.states.insert(e.task_id, e.state);
                if old == Some(TaskState::TaskRunning) {
                    self.running -= 1;
                }
                if e.state == TaskState::TaskRunning {
                    self.running += 1;
                }
            }
            self.cursor = last;
        }
    }

    /// Takes every task's state from one snapshot, then follows the log
    /// from the snapshot's head.
    async fn resync(&mut self, store: &impl Store) -> anyhow::Result<()> {
        let snapshot = store.view_snapshot().await?;
        self.states = snapshot
            .tasks
            .iter()
            .map(|t| (t.task_id.clone(), t.state))
            .collect();
        self.running = self
            .states
            .values()
            .filter(|s| **s == TaskState::TaskRunning)
            .count();
        self.cursor = snapshot.revision.events;
        Ok(())
    }

    /// Waits until `done(self)` or the timeout; returns whether it held.
    async fn wait(
        &mut self,
        store: &impl Store,
        timeout: Duration,
        mut on_change: impl FnMut(&Tracker),
        done: impl Fn(&Tracker) -> bool,
    ) -> anyhow::Result<bool> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = store.changes();
        loop {
            changes.borrow_and_update();
            self.catch_up(store).await?;
            on_change(self);
            if done(self) {
                return Ok(true);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => bail!("the store's change feed closed"),
                Err(_) => return Ok(false),
            }
        }
    }
}

/// Status updates the simulated agents still wait to see acknowledged
/// (a counter: walking 100,000 tasks every poll would hold the master's
/// lock and be counted as the framework's CPU).
fn unacknowledged(sim: &SimHandle) -> u64 {
    sim_stats(sim).unacknowledged_updates
}

/// Polls until every update was acknowledged; false at the timeout.
async fn wait_acknowledged(sim: &SimHandle, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while unacknowledged(sim) > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

fn sim_stats(sim: &SimHandle) -> SimStats {
    sim.master()
        .lock()
        .map(|m| m.stats)
        .unwrap_or_else(|p| p.into_inner().stats)
}

/// Tasks one free default agent holds, and the cycles `tasks` need on
/// `agents` of them.
fn min_cycles(tasks: u64, agents: usize, cpus: f64, mem: f64) -> u64 {
    let fit = |have: f64, need: f64| {
        if need > 0.0 {
            (have / need + 1e-9).floor()
        } else {
            f64::INFINITY
        }
    };
    let per_agent = fit(AGENT_CPUS, cpus).min(fit(AGENT_MEM, mem));
    let per_cycle = per_agent * agents as f64;
    if per_cycle <= 0.0 {
        return u64::MAX;
    }
    if per_cycle.is_infinite() {
        return 1;
    }
    (tasks as f64 / per_cycle).ceil().max(1.0) as u64
}

/// Runs the benchmark; the caller prints the report.
pub async fn run(config: E2eConfig) -> anyhow::Result<E2eReport> {
    if config.agents == 0 || config.apps == 0 || config.instances == 0 {
        bail!("--agents, --apps and --instances must be positive");
    }
    let redis = config.store.starts_with("redis://") || config.store.starts_with("rediss://");
    if config.store != "memory" && !redis {
        bail!(
            "--store {}: expected `memory` or `redis://[:password@]host:port/db`",
            config.store
        );
    }
    let tasks = config.apps as u64 * u64::from(config.instances);
    let mut report = E2eReport {
        agents: config.agents,
        apps: config.apps,
        instances: config.instances,
        tasks,
        store: if redis { "redis" } else { "memory" }.into(),
        min_offer_cycles: min_cycles(tasks, config.agents, config.cpus, config.mem),
        ..E2eReport::default()
    };

    // The simulator on its own runtime, so its CPU time can be told apart.
    let sim_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.sim_threads.max(1))
        .thread_name(SIM_THREAD_PREFIX)
        .enable_all()
        .build()
        .context("cannot build the simulator's runtime")?;
    let sim_config = SimConfig {
        listen: "127.0.0.1:0".parse().context("literal address")?,
        agents: (1..=config.agents).map(cluster::default_agent).collect(),
        timings: Timings {
            allocation_interval: config.allocation_interval,
            task_start_delay: config.task_start_delay,
            task_kill_delay: Duration::from_millis(20),
            ..Timings::default()
        },
        ..SimConfig::default()
    };
    let sim = sim_runtime
        .spawn(Simulator::start(sim_config))
        .await
        .context("simulator start task")??;

    let outcome = if config.store == "memory" {
        run_with(&config, &sim, Arc::new(MemoryStore::default()), &mut report).await
    } else {
        run_redis(&config, &sim, &mut report).await
    };

    let _ = sim_runtime.spawn(sim.shutdown()).await;
    sim_runtime.shutdown_background();
    outcome.map(|()| report)
}

/// With Redis under a fresh prefix, deleted afterwards.
async fn run_redis(
    config: &E2eConfig,
    sim: &SimHandle,
    report: &mut E2eReport,
) -> anyhow::Result<()> {
    let prefix = format!(
        "hydrogen-bench-{}-{}",
        std::process::id(),
        hydrogen_time::now_ms()
    );
    let options = RedisOptions {
        prefix: prefix.clone(),
        // A deploy of 10,000 tasks is a large batch script; the default
        // deadline is for interactive writes.
        timeout: Duration::from_secs(30),
        ..RedisOptions::default()
    };
    let store = RedisStore::connect(&config.store, options)
        .await
        .with_context(|| format!("--store {}", config.store))?;
    let outcome = run_with(config, sim, Arc::new(store), report).await;
    let cleaned = delete_keys(&config.store, &prefix).await;
    outcome?;
    cleaned.with_context(|| format!("deleting the bench keys {prefix}:* from Redis"))
}

/// Deletes every key under `prefix:`.
async fn delete_keys(url: &str, prefix: &str) -> anyhow::Result<()> {
    let client = ::redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let () = ::redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// The framework on `store` against `sim`, measured.
async fn run_with<S: Store>(
    config: &E2eConfig,
    sim: &SimHandle,
    store: Arc<S>,
    report: &mut E2eReport,
) -> anyhow::Result<()> {
    let mut scheduler = SchedulerConfig::new(parse_masters(&sim.url()).context("sim url")?);
    scheduler.decline_refuse = Duration::from_secs(5);
    let cancel = CancellationToken::new();
    let elections = tokio::spawn(ha::run(
        store.clone(),
        HaConfig::new("bench".into(), "127.0.0.1:0".into()),
        scheduler,
        cancel.clone(),
    ));

    let outcome = measure(config, sim, store.as_ref(), report).await;

    cancel.cancel();
    let _ = elections.await;
    outcome
}

async fn measure(
    config: &E2eConfig,
    sim: &SimHandle,
    store: &impl Store,
    report: &mut E2eReport,
) -> anyhow::Result<()> {
    let tasks = report.tasks;
    let start = Instant::now();
    while store.framework_id().await?.is_none() {
        if start.elapsed() > config.timeout {
            bail!(
                "the framework did not subscribe within {:?}",
                config.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report.seconds_to_subscribed = start.elapsed().as_secs_f64();
    // Let the first offers be declined and the offer flow settle.
    tokio::time::sleep(config.allocation_interval * 3).await;

    // Deploy.
    let mut tracker = Tracker::new(store.changes().borrow().events);
    let before = sim_stats(sim);
    let cpu0 = Cpu::now();
    let t0 = Instant::now();
    for a in 0..config.apps {
        let app = plain_app(
            &format!("bench-{a}"),
            config.instances,
            config.cpus,
            config.mem,
        );
        store.create_app(app).await?;
    }
    let mut placed_at = None;
    report.completed = tracker
        .wait(
            store,
            config.timeout,
            |t| {
                if placed_at.is_none() && t.states.len() as u64 >= tasks {
                    placed_at = Some(t0.elapsed());
                }
            },
            |t| t.running as u64 >= tasks,
        )
        .await?;
    report.seconds_to_all_running = t0.elapsed().as_secs_f64();
    report.seconds_to_all_placed = placed_at.unwrap_or_default().as_secs_f64();
    // The storm starts from a quiet cluster, not behind a queue of the
    // deploy's acknowledgements.
    if report.completed {
        report.completed = wait_acknowledged(sim, config.timeout).await;
    }
    report.seconds_to_all_acknowledged = t0.elapsed().as_secs_f64();
    let (fw, sim_cpu, share) = Cpu::now().since(cpu0);
    report.framework_cpu_seconds = fw;
    report.sim_cpu_seconds = sim_cpu;
    report.sim_cpu_share = share;
    let after = sim_stats(sim);
    report.offer_cycles = after
        .offer_events_at_last_launch
        .saturating_sub(before.offer_events);
    report.offers_made = after.offers_made - before.offers_made;
    report.rss_after_deploy_bytes = procstat::rss_bytes();
    report.peak_rss_bytes = procstat::peak_rss_bytes();
    report.updates_resent = after.updates_resent;
    report.stale_acknowledgements = after.stale_acknowledgements;
    if !report.completed || config.storm_fraction <= 0.0 {
        return Ok(());
    }

    // Storm: a tenth of the agents (evenly spread: every k-th) gone at once.
    let stats0 = sim_stats(sim);
    let cpu1 = Cpu::now();
    let t1 = Instant::now();
    let (lost_agents, lost_tasks) = {
        let master = sim.master();
        let mut m = master.lock().unwrap_or_else(|p| p.into_inner());
        let step = (1.0 / config.storm_fraction).round().max(1.0) as usize;
        let victims: Vec<String> = m
            .agents
            .values()
            .filter(|a| a.state == AgentState::Active)
            .enumerate()
            .filter(|(i, _)| i % step == step - 1)
            .map(|(_, a)| a.id.clone())
            .collect();
        let mut lost = 0u64;
        for id in &victims {
            lost += m.agents.get(id).map_or(0, |a| a.tasks.len() as u64);
            let _ = m.mark_gone(id);
        }
        (victims.len(), lost)
    };
    report.storm_agents_lost = lost_agents;
    report.storm_tasks_lost = lost_tasks;
    report.storm_min_offer_cycles = if lost_tasks == 0 {
        0
    } else {
        min_cycles(
            lost_tasks,
            config.agents - lost_agents,
            config.cpus,
            config.mem,
        )
    };
    let changes_before = tracker.changes;
    // Every lost task must leave RUNNING and a replacement must get there.
    let target_changes = lost_tasks;
    report.storm_completed = tracker
        .wait(
            store,
            config.timeout,
            |_| {},
            |t| t.changes - changes_before >= target_changes && t.running as u64 >= tasks,
        )
        .await?;
    let elapsed = t1.elapsed().as_secs_f64();
    report.storm_seconds_to_replaced = elapsed;
    let (fw, _, share) = Cpu::now().since(cpu1);
    report.storm_framework_cpu_seconds = fw;
    report.storm_sim_cpu_share = share;
    let stats1 = sim_stats(sim);
    report.storm_offer_cycles = stats1
        .offer_events_at_last_launch
        .saturating_sub(stats0.offer_events);
    report.storm_updates_per_second = if elapsed > 0.0 {
        (tracker.changes - changes_before) as f64 / elapsed
    } else {
        0.0
    };
    report.peak_rss_bytes = procstat::peak_rss_bytes();
    let end = sim_stats(sim);
    report.updates_resent = end.updates_resent;
    report.stale_acknowledgements = end.stale_acknowledgements;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_cycles_follow_capacity() {
        // 40 tasks of 0.1 cpu per agent: 10,000 tasks fit 1,000 agents once.
        assert_eq!(min_cycles(10_000, 1_000, 0.1, 32.0), 1);
        // 4 tasks of 1 cpu per agent: 4,000 per cycle.
        assert_eq!(min_cycles(10_000, 1_000, 1.0, 32.0), 3);
        // Memory bound: 2 tasks of 4096 mem.
        assert_eq!(min_cycles(10, 1, 0.1, 4096.0), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_run_completes() {
        let config = E2eConfig {
            agents: 5,
            apps: 3,
            instances: 4,
            timeout: Duration::from_secs(30),
            storm_fraction: 0.2,
            ..E2eConfig::default()
        };
        let report = run(config).await.expect("bench runs");
        assert!(report.completed, "{report:?}");
        assert_eq!(report.tasks, 12);
        assert!(report.offer_cycles >= 1, "{report:?}");
        assert!(report.storm_completed, "{report:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_run_with_redis_completes_and_cleans_up() {
        let server = hydrogen_testkit::redis_server::Redis::start_volatile();
        let config = E2eConfig {
            agents: 5,
            apps: 3,
            instances: 4,
            timeout: Duration::from_secs(30),
            storm_fraction: 0.2,
            store: server.url(),
            ..E2eConfig::default()
        };
        let report = run(config).await.expect("bench runs");
        assert_eq!(report.store, "redis");
        assert!(report.completed, "{report:?}");
        assert!(report.storm_completed, "{report:?}");
        let client = ::redis::Client::open(server.url()).expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connects");
        let keys: Vec<String> = ::redis::cmd("KEYS")
            .arg("hydrogen-bench-*")
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        assert!(keys.is_empty(), "bench keys left behind: {keys:?}");
    }

    #[tokio::test]
    async fn an_unknown_store_is_refused_by_name() {
        let config = E2eConfig {
            agents: 1,
            apps: 1,
            instances: 1,
            store: "postgres://x".into(),
            ..E2eConfig::default()
        };
        let e = run(config).await.expect_err("refused");
        assert!(e.to_string().contains("postgres://x"), "{e}");
    }
}
