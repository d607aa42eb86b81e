//! The faults: what is broken, and how each is undone. A fault that lasts
//! (a dead or frozen process, a lost agent, an unhealthy task) schedules
//! its repair a random while later; the repairs still pending when a round
//! ends are done at once, so the quiet period starts from a whole cluster.
//! Faults the simulator times itself (a stall, delayed acknowledgements, a
//! leaderless failover) are waited out.
//!
//! Three faults repeat what a reliability probe found (issue 16):
//! - `redis_stall_batch`: a batch deploy of many apps (`batch`) through a
//!   random instance, and Redis frozen (SIGSTOP) for 2–6 s while it is in
//!   flight; the batch is judged once the round is quiet.
//! - `watcher_storm`: SSE and gRPC watchers by the hundred on the leader
//!   (`storm`) for 5–15 s; the faults that change leadership on purpose
//!   (`LEADERSHIP`) wait meanwhile, so any change of leader is the storm's.
//! - `agent_return`: an agent with running tasks of ours is lost and comes
//!   back once all of them were replaced elsewhere (or after 30 s), its
//!   old tasks still running; the stale copies it brings back into
//!   replaced slots are handed to the duplicate check.
//!
//! With `--sentinel` (issue 18), `redis_primary_kill` kill -9s the Redis
//! primary; the sentinels promote a replica, and the dead node comes back
//! 1–5 s later as a replica of the new one (`sentinel::Topology::rejoin`).
//! `redis_restart` (the single Redis back as itself) is the standalone
//! fault and does not apply there; `redis_stall_batch` freezes the primary,
//! which the sentinels fail over when the stall outlasts their 1 s.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;
use tokio::time::Instant;

use super::ChaosError;
use super::batch::Batch;
use super::check::slot;
use super::fixture::{Cluster, SimTask};
use super::storm::{Storm, StormOutcome, StormSize};

/// Every fault kind, as named in the summary.
pub const KINDS: &[&str] = &[
    "kill_leader",
    "kill_follower",
    "stop_leader",
    "redis_restart",
    "master_failover",
    "agent_loss",
    "heartbeat_stall",
    "task_failure",
    "task_unhealthy",
    "ack_delay",
    "redis_stall_batch",
    "watcher_storm",
    "agent_return",
    "redis_primary_kill",
];

/// The faults that change the leader on purpose: held back while a watcher
/// storm runs.
const LEADERSHIP: &[&str] = &[
    "kill_leader",
    "stop_leader",
    "redis_restart",
    "redis_stall_batch",
    "redis_primary_kill",
];

/// The kinds named in `list` (comma-separated), checked against [`KINDS`].
pub fn parse_kinds(list: &str) -> Result<Vec<&'static str>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            KINDS
                .iter()
                .copied()
                .find(|known| *known == k)
                .ok_or_else(|| format!("unknown fault '{k}' (known: {})", KINDS.join(", ")))
        })
        .collect()
}

/// How long an agent stays away at most when its tasks are not replaced
/// (its apps were killed or scaled down meanwhile).
const RETURN_AT_LATEST: Duration = Duration::from_secs(30);

/// A repair due at some time.
#[derive(Debug, Clone)]
enum Repair {
    Restart(usize),
    Continue(usize),
    RestartRedis,
    /// Follow the promoted replica and restart the killed primary as a
    /// replica of it (Sentinel topology).
    RejoinRedis,
    Reregister(String),
    Healthy(String),
    ContinueRedis,
    EndStorm,
    /// Reregister the agent once every one of its `lost` (task, app, slot)
    /// has a replacement running, or at the time given.
    Return {
        agent: String,
        lost: Vec<(String, String, u32)>,
    },
}

/// What the faults may do, and how big the new ones are.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    pub kinds: Vec<&'static str>,
    pub storm: StormSize,
    pub batch_apps: usize,
}

/// Injected faults and the repairs they owe.
pub struct Faults {
    config: FaultConfig,
    pub counts: BTreeMap<&'static str, u64>,
    pending: Vec<(Instant, Repair)>,
    /// When the simulator's own timed faults are over.
    timed_until: Option<Instant>,
    storm: Option<Storm>,
    /// Storms that ended, for the caller to check and sum up.
    pub storms: Vec<StormOutcome>,
    /// Every batch deploy sent, judged by the caller.
    pub batches: Vec<Batch>,
    /// Stale copies agents brought back next to their replacements, for
    /// the duplicate check (taken by the caller).
    pub brought_back: Vec<(String, String)>,
    /// Agents that came back after every lost task was replaced.
    pub returned_replaced: u64,
    /// When the Redis primary was last killed (Sentinel topology).
    last_primary_kill: Option<Instant>,
}

/// The sentinels refuse to fail the same primary name over again within
/// twice their failover timeout (3 s in `procs`): kills closer together
/// would wait on that, not on Hydrogen.
const PRIMARY_KILL_GAP: Duration = Duration::from_secs(8);

fn millis(rng: &mut StdRng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.random_range(lo..=hi))
}

fn humane(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        Self {
            config,
            counts: BTreeMap::new(),
            pending: Vec::new(),
            timed_until: None,
            storm: None,
            storms: Vec::new(),
            batches: Vec::new(),
            brought_back: Vec::new(),
            returned_replaced: 0,
            last_primary_kill: None,
        }
    }

    /// The Sentinel topology is whole and settled (no Redis repair owed;
    /// instances may be down), and the last primary kill is
    /// [`PRIMARY_KILL_GAP`] ago.
    async fn primary_killable(&self, cluster: &Cluster) -> bool {
        let Some(topology) = &cluster.topology else {
            return false;
        };
        let rested = self
            .last_primary_kill
            .is_none_or(|at| at.elapsed() >= PRIMARY_KILL_GAP);
        let redis_owed = self.pending.iter().any(|(_, r)| {
            matches!(
                r,
                Repair::RestartRedis | Repair::RejoinRedis | Repair::ContinueRedis
            )
        });
        rested && !redis_owed && topology.settled(&cluster.redis).await
    }

    /// Whether a process repair is owed (an instance or Redis to start or
    /// continue): the cluster is not whole yet.
    fn mending(&self) -> bool {
        self.pending.iter().any(|(_, r)| {
            matches!(
                r,
                Repair::Restart(_)
                    | Repair::Continue(_)
                    | Repair::RestartRedis
                    | Repair::RejoinRedis
                    | Repair::ContinueRedis
            )
        })
    }

    /// Instances down or frozen now, or owed a repair.
    fn disrupted(&self, cluster: &Cluster) -> usize {
        (0..cluster.instances.len())
            .filter(|i| {
                let p = &cluster.instances[*i];
                !p.is_running() || p.stopped
            })
            .count()
    }

    fn until_timed(&mut self, at: Instant) {
        self.timed_until = Some(self.timed_until.map_or(at, |t| t.max(at)));
    }

    /// Injects one random fault of the enabled kinds. A fault that does
    /// not apply right now (no leader to kill, no task to fail, a storm
    /// holding leadership faults back) is skipped and not counted. `head`
    /// is the latest revision the run's watches have seen.
    pub async fn inject(
        &mut self,
        rng: &mut StdRng,
        cluster: &mut Cluster,
        head: u64,
    ) -> Result<(), ChaosError> {
        if self.config.kinds.is_empty() {
            return Ok(());
        }
        let kind = self.config.kinds[rng.random_range(0..self.config.kinds.len())];
        if self.storm.is_some() && LEADERSHIP.contains(&kind) {
            return Ok(());
        }
        let now = Instant::now();
        // At least one instance stays whole, so the API keeps answering.
        let may_disrupt = self.disrupted(cluster) + 1 < cluster.instances.len();
        let done = match kind {
            "kill_leader" | "stop_leader" if may_disrupt => match cluster.leader().await {
                Some(i) if kind == "kill_leader" => {
                    cluster.instances[i].kill9().await;
                    self.pending
                        .push((now + millis(rng, 500, 5000), Repair::Restart(i)));
                    true
                }
                Some(i) => {
                    // Longer than the 1.5 s lease, sometimes much longer.
                    cluster.instances[i].stop_signal().await;
                    self.pending
                        .push((now + millis(rng, 1000, 6000), Repair::Continue(i)));
                    true
                }
                None => false,
            },
            "kill_follower" if may_disrupt => {
                let leader = cluster.leader().await;
                let followers: Vec<usize> = cluster
                    .up()
                    .into_iter()
                    .filter(|i| Some(*i) != leader)
                    .collect();
                if followers.is_empty() {
                    false
                } else {
                    let i = followers[rng.random_range(0..followers.len())];
                    cluster.instances[i].kill9().await;
                    self.pending
                        .push((now + millis(rng, 500, 5000), Repair::Restart(i)));
                    true
                }
            }
            "redis_stall_batch" if cluster.redis_whole() => {
                let up = cluster.up();
                if up.is_empty() {
                    false
                } else {
                    let via = up[rng.random_range(0..up.len())];
                    let id = u32::try_from(self.batches.len()).unwrap_or(u32::MAX);
                    self.batches.push(Batch::send(
                        cluster.http.clone(),
                        cluster.instances[via].url.clone(),
                        id,
                        self.config.batch_apps,
                    ));
                    // Before, during or after the store write, as it falls.
                    tokio::time::sleep(millis(rng, 0, 300)).await;
                    cluster.redis.stop_signal().await;
                    self.pending
                        .push((now + millis(rng, 2000, 6000), Repair::ContinueRedis));
                    true
                }
            }
            "watcher_storm" if self.storm.is_none() && !self.mending() => {
                let whole = cluster.redis_whole() && cluster.up().len() == cluster.instances.len();
                match super::storm::stable_leader(cluster).await {
                    Some((leader, known)) if whole => {
                        let storm =
                            Storm::start(cluster, leader, known, head, self.config.storm).await;
                        self.storm = Some(storm);
                        self.pending
                            .push((now + millis(rng, 5000, 15_000), Repair::EndStorm));
                        true
                    }
                    _ => false,
                }
            }
            "agent_return" => {
                let tasks = cluster.sim_tasks().await.unwrap_or_default();
                let active: Vec<String> = cluster
                    .sim_agents()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(id, up)| {
                        *up && tasks
                            .iter()
                            .any(|t| t.agent_id == *id && running_ours(t).is_some())
                    })
                    .map(|(id, _)| id)
                    .collect();
                if active.is_empty() {
                    false
                } else {
                    let agent = active[rng.random_range(0..active.len())].clone();
                    let lost: Vec<(String, String, u32)> = tasks
                        .iter()
                        .filter(|t| t.agent_id == agent)
                        .filter_map(|t| {
                            let (app, i) = running_ours(t)?;
                            Some((t.id.clone(), app, i))
                        })
                        .collect();
                    let ok = cluster
                        .sim_post(&format!("/sim/agents/{agent}/unreachable"), json!({}))
                        .await;
                    self.pending
                        .push((now + RETURN_AT_LATEST, Repair::Return { agent, lost }));
                    ok
                }
            }
            "redis_primary_kill" if self.primary_killable(cluster).await => {
                cluster.redis.kill9().await;
                self.last_primary_kill = Some(now);
                self.pending
                    .push((now + millis(rng, 1000, 5000), Repair::RejoinRedis));
                true
            }
            "redis_restart" if cluster.topology.is_none() && cluster.redis.is_running() => {
                cluster.redis.kill9().await;
                self.pending
                    .push((now + millis(rng, 200, 3000), Repair::RestartRedis));
                true
            }
            "master_failover" => {
                let leaderless = millis(rng, 0, 2000);
                let ok = cluster
                    .sim_post(
                        "/sim/master/failover",
                        json!({"leaderless": humane(leaderless)}),
                    )
                    .await;
                self.until_timed(now + leaderless);
                ok
            }
            "heartbeat_stall" => {
                // Past five 1 s heartbeats the subscription is given up.
                let d = millis(rng, 2000, 8000);
                self.until_timed(now + d);
                cluster
                    .sim_post("/sim/master/stall", json!({"duration": humane(d)}))
                    .await
            }
            "ack_delay" => {
                let d = millis(rng, 1000, 6000);
                self.until_timed(now + d);
                cluster
                    .sim_post("/sim/acks/delay", json!({"duration": humane(d)}))
                    .await
            }
            "agent_loss" => {
                let active: Vec<String> = cluster
                    .sim_agents()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(_, up)| *up)
                    .map(|(id, _)| id)
                    .collect();
                if active.is_empty() {
                    false
                } else {
                    let id = active[rng.random_range(0..active.len())].clone();
                    let ok = cluster
                        .sim_post(&format!("/sim/agents/{id}/unreachable"), json!({}))
                        .await;
                    // Sometimes past the 5 s unreachable grace.
                    self.pending
                        .push((now + millis(rng, 1000, 10_000), Repair::Reregister(id)));
                    ok
                }
            }
            "task_failure" | "task_unhealthy" => {
                let running: Vec<String> = cluster
                    .sim_tasks()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| t.state == "TASK_RUNNING" && !t.unreachable)
                    .map(|t| t.id)
                    .collect();
                if running.is_empty() {
                    false
                } else {
                    let id = running[rng.random_range(0..running.len())].clone();
                    let action = if kind == "task_failure" {
                        "fail"
                    } else {
                        "unhealthy"
                    };
                    let ok = cluster
                        .sim_post(&format!("/sim/tasks/{id}/{action}"), json!({}))
                        .await;
                    if ok && kind == "task_unhealthy" {
                        self.pending
                            .push((now + millis(rng, 1000, 6000), Repair::Healthy(id)));
                    }
                    ok
                }
            }
            _ => false,
        };
        if done {
            *self.counts.entry(kind).or_default() += 1;
        }
        Ok(())
    }

    /// Performs the repairs that are due (all of them with `all`).
    pub async fn repair(&mut self, cluster: &mut Cluster, all: bool) -> Result<(), ChaosError> {
        let now = Instant::now();
        let (mut due, mut later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(at, _)| all || *at <= now);
        // An agent returns as soon as its tasks were all replaced.
        if later
            .iter()
            .any(|(_, r)| matches!(r, Repair::Return { .. }))
            && let Some(tasks) = cluster.sim_tasks().await
        {
            let (ready, wait): (Vec<_>, Vec<_>) = later.into_iter().partition(
                |(_, r)| matches!(r, Repair::Return { lost, .. } if all_replaced(lost, &tasks)),
            );
            due.extend(ready);
            later = wait;
        }
        self.pending = later;
        // A stall the sentinels failed over moved the primary: follow it,
        // so the faults that act on "Redis" act on the primary.
        let rejoining = self
            .pending
            .iter()
            .chain(&due)
            .any(|(_, r)| matches!(r, Repair::RejoinRedis));
        if let Some(topology) = cluster.topology.as_mut()
            && !rejoining
        {
            topology.follow(&mut cluster.redis).await;
        }
        // Redis first: `hydrogen serve` refuses to start without its store
        // (a supervisor would restart it), so an instance's restart waits
        // for Redis to be back.
        due.sort_by_key(|(_, r)| {
            !matches!(
                r,
                Repair::RestartRedis | Repair::RejoinRedis | Repair::ContinueRedis
            )
        });
        for (at, repair) in due {
            match repair {
                Repair::Restart(i) if !cluster.redis.is_serving() => {
                    self.pending.push((at, Repair::Restart(i)));
                }
                Repair::Restart(i) => cluster.instances[i].restart().await?,
                Repair::Continue(i) => cluster.instances[i].cont_signal().await,
                Repair::RestartRedis => cluster.redis.spawn().await?,
                Repair::RejoinRedis => match cluster.topology.as_mut() {
                    Some(topology) => topology.rejoin(&mut cluster.redis).await?,
                    None => cluster.redis.spawn().await?,
                },
                Repair::ContinueRedis => {
                    // The frozen node may have been swapped out by a
                    // failover meanwhile: continue whichever is frozen.
                    if cluster.redis.stopped {
                        cluster.redis.cont_signal().await;
                    }
                    if let Some(topology) = cluster.topology.as_mut() {
                        for r in topology.replicas.iter_mut().filter(|r| r.stopped) {
                            r.cont_signal().await;
                        }
                    }
                }
                Repair::EndStorm => {
                    if let Some(storm) = self.storm.take() {
                        let outcome = storm.finish(cluster).await;
                        self.storms.push(outcome);
                    }
                }
                Repair::Return { agent, lost } => {
                    let before = cluster.sim_tasks().await.unwrap_or_default();
                    if all_replaced(&lost, &before) {
                        self.returned_replaced += 1;
                    }
                    cluster
                        .sim_post(&format!("/sim/agents/{agent}/reregister"), json!({}))
                        .await;
                    let after = cluster.sim_tasks().await.unwrap_or_default();
                    self.brought_back.extend(stale_pairs(&lost, &after));
                }
                Repair::Reregister(id) => {
                    cluster
                        .sim_post(&format!("/sim/agents/{id}/reregister"), json!({}))
                        .await;
                }
                Repair::Healthy(id) => {
                    // The task may be gone by now (killed, replaced): fine.
                    cluster
                        .sim_post(&format!("/sim/tasks/{id}/healthy"), json!({}))
                        .await;
                }
            }
        }
        Ok(())
    }

    /// Repairs everything, waits out the simulator's timed faults and has
    /// every batch deploy answered.
    pub async fn heal(&mut self, cluster: &mut Cluster) -> Result<(), ChaosError> {
        self.repair(cluster, true).await?;
        if let Some(t) = self.timed_until.take() {
            tokio::time::sleep_until(t).await;
        }
        for batch in &mut self.batches {
            batch.answered().await;
        }
        Ok(())
    }
}

/// The app and slot of a task of ours that Mesos runs and can reach.
fn running_ours(t: &SimTask) -> Option<(String, u32)> {
    (t.state == "TASK_RUNNING" && !t.unreachable)
        .then(|| slot(&t.id))
        .flatten()
}

/// Every lost task's slot runs another task.
fn all_replaced(lost: &[(String, String, u32)], tasks: &[SimTask]) -> bool {
    lost.iter().all(|(id, app, i)| {
        tasks
            .iter()
            .any(|t| t.id != *id && running_ours(t).is_some_and(|(a, j)| a == *app && j == *i))
    })
}

/// (stale copy, replacement) for each lost task that runs again next to
/// another task of its slot.
fn stale_pairs(lost: &[(String, String, u32)], tasks: &[SimTask]) -> Vec<(String, String)> {
    let live = |t: &SimTask| {
        !t.unreachable
            && matches!(
                t.state.as_str(),
                "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING"
            )
    };
    let mut pairs = Vec::new();
    for (id, app, i) in lost {
        if !tasks.iter().any(|t| t.id == *id && live(t)) {
            continue;
        }
        for t in tasks.iter().filter(|t| t.id != *id && live(t)) {
            if slot(&t.id).is_some_and(|(a, j)| a == *app && j == *i) {
                pairs.push((id.clone(), t.id.clone()));
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, state: &str, unreachable: bool) -> SimTask {
        SimTask {
            id: id.into(),
            agent_id: "a1".into(),
            state: state.into(),
            unreachable,
            healthy: None,
            generation: Some(0),
        }
    }

    #[test]
    fn fault_lists_name_known_kinds() {
        assert_eq!(
            parse_kinds("agent_return, watcher_storm"),
            Ok(vec!["agent_return", "watcher_storm"])
        );
        let e = parse_kinds("agent_return,redis_stal").unwrap_err();
        assert!(
            e.contains("redis_stal") && e.contains("redis_stall_batch"),
            "{e}"
        );
    }

    #[test]
    fn an_agent_returns_once_its_slots_run_elsewhere_and_its_copies_are_paired() {
        let old = format!("web.0.{}", "a".repeat(32));
        let new = format!("web.0.{}", "b".repeat(32));
        let lost = vec![(old.clone(), "web".to_string(), 0)];
        let away = vec![task(&old, "TASK_RUNNING", true)];
        assert!(!all_replaced(&lost, &away));
        let staging = vec![
            task(&old, "TASK_RUNNING", true),
            task(&new, "TASK_STAGING", false),
        ];
        assert!(!all_replaced(&lost, &staging), "a replacement must run");
        let replaced = vec![
            task(&old, "TASK_RUNNING", true),
            task(&new, "TASK_RUNNING", false),
        ];
        assert!(all_replaced(&lost, &replaced));
        assert!(stale_pairs(&lost, &replaced).is_empty(), "still away");
        let back = vec![
            task(&old, "TASK_RUNNING", false),
            task(&new, "TASK_RUNNING", false),
        ];
        assert_eq!(stale_pairs(&lost, &back), vec![(old.clone(), new.clone())]);
    }
}
