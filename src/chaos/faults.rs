//! The faults: what is broken, and how each is undone. A fault that lasts
//! (a dead or frozen process, a lost agent, an unhealthy task) schedules
//! its repair a random while later; the repairs still pending when a round
//! ends are done at once, so the quiet period starts from a whole cluster.
//! Faults the simulator times itself (a stall, delayed acknowledgements, a
//! leaderless failover) are waited out.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;
use tokio::time::Instant;

use super::ChaosError;
use super::fixture::Cluster;

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
];

/// A repair due at some time.
#[derive(Debug, Clone)]
enum Repair {
    Restart(usize),
    Continue(usize),
    RestartRedis,
    Reregister(String),
    Healthy(String),
}

/// Injected faults and the repairs they owe.
#[derive(Debug, Default)]
pub struct Faults {
    pub counts: BTreeMap<&'static str, u64>,
    pending: Vec<(Instant, Repair)>,
    /// When the simulator's own timed faults are over.
    timed_until: Option<Instant>,
}

fn millis(rng: &mut StdRng, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rng.random_range(lo..=hi))
}

fn humane(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl Faults {
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

    /// Injects one random fault. A fault that does not apply right now (no
    /// leader to kill, no task to fail) is skipped and not counted.
    pub async fn inject(
        &mut self,
        rng: &mut StdRng,
        cluster: &mut Cluster,
    ) -> Result<(), ChaosError> {
        let kind = KINDS[rng.random_range(0..KINDS.len())];
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
            "redis_restart" if cluster.redis.is_running() => {
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
        let (mut due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(at, _)| all || *at <= now);
        self.pending = later;
        // Redis first: `hydrogen serve` refuses to start without its store
        // (a supervisor would restart it), so an instance's restart waits
        // for Redis to be back.
        due.sort_by_key(|(_, r)| !matches!(r, Repair::RestartRedis));
        for (at, repair) in due {
            match repair {
                Repair::Restart(i) if !cluster.redis.is_running() => {
                    self.pending.push((at, Repair::Restart(i)));
                }
                Repair::Restart(i) => cluster.instances[i].restart().await?,
                Repair::Continue(i) => cluster.instances[i].cont_signal().await,
                Repair::RestartRedis => cluster.redis.spawn().await?,
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

    /// Repairs everything and waits out the simulator's timed faults.
    pub async fn heal(&mut self, cluster: &mut Cluster) -> Result<(), ChaosError> {
        self.repair(cluster, true).await?;
        if let Some(t) = self.timed_until.take() {
            tokio::time::sleep_until(t).await;
        }
        Ok(())
    }
}
