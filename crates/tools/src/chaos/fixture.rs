//! The cluster under test and the two views of it the checks read: the
//! simulator's (`GET /sim/tasks`: what Mesos runs) and the API's (`GET
//! /v1/api/app?name=`, `GET /v1/api/app/all`: what Hydrogen believes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::ChaosError;
use super::procs::{HydrogenProc, Redis};
use super::sentinel::Topology;
use super::workload::GENERATION_LABEL;

/// Timings that make faults matter within seconds, not minutes: the
/// simulator retries unacknowledged updates fast and heartbeats every
/// second (so a stall is noticed after five), Hydrogen replaces unreachable
/// tasks after 5 s and backs off at most 5 s, so convergence after the
/// faults stop is bounded by the faults, not by production back-offs.
const SIM_ARGS: &[&str] = &[
    "--allocation-interval",
    "100ms",
    "--task-start-delay",
    "100ms",
    "--task-kill-delay",
    "50ms",
    "--heartbeat-interval",
    "1s",
    "--status-update-retry",
    "500ms",
    "--status-update-retry-max",
    "2s",
];
const SERVE_ARGS: &[&str] = &[
    "--backoff-initial",
    "200ms",
    "--backoff-max",
    "5s",
    "--decline-refuse",
    "1s",
    "--unreachable-grace",
    "5s",
    "--request-timeout",
    "5s",
];

/// One task as the simulated master knows it.
#[derive(Debug, Clone)]
pub struct SimTask {
    pub id: String,
    pub agent_id: String,
    pub state: String,
    pub unreachable: bool,
    pub healthy: Option<bool>,
    /// The workload's `chaos-generation` label (see `workload::Spec`).
    pub generation: Option<u32>,
}

impl SimTask {
    /// Not terminal: it holds resources and may run.
    pub fn is_live(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "TASK_FINISHED"
                | "TASK_FAILED"
                | "TASK_KILLED"
                | "TASK_ERROR"
                | "TASK_LOST"
                | "TASK_DROPPED"
                | "TASK_GONE"
                | "TASK_GONE_BY_OPERATOR"
        )
    }
}

/// One task as the API lists it.
#[derive(Debug, Clone)]
pub struct ApiTask {
    pub app: String,
    pub instance: u32,
    pub state: String,
}

/// Redis, the simulator and the Hydrogen instances.
pub struct Cluster {
    /// The only Redis, or the primary the sentinels name.
    pub redis: Redis,
    /// With `--sentinel`: the replicas and the sentinels.
    pub topology: Option<Topology>,
    pub sim: HydrogenProc,
    pub instances: Vec<HydrogenProc>,
    pub http: reqwest::Client,
    pub dir: PathBuf,
}

impl Cluster {
    pub async fn start(
        hydrogen: &Path,
        redis_server: &Path,
        dir: &Path,
        agents: usize,
        instances: usize,
        sentinel: bool,
        min_replicas: u32,
    ) -> Result<Self, ChaosError> {
        let (redis, topology) = if sentinel {
            let (primary, topology) = Topology::start(redis_server, dir).await?;
            (primary, Some(topology))
        } else {
            let redis_dir = dir.join("redis");
            std::fs::create_dir_all(&redis_dir).map_err(|e| ChaosError::Spawn {
                what: format!("directory {}", redis_dir.display()),
                reason: e.to_string(),
            })?;
            (Redis::start(redis_server, &redis_dir).await?, None)
        };
        // Through the sentinels, every write confirmed by `min_replicas`
        // replicas, spelt out so the run does not depend on how many
        // replicas an instance saw when it started.
        let store: Vec<String> = match &topology {
            Some(t) => vec![
                "--store".into(),
                t.url(),
                "--redis-min-replicas".into(),
                min_replicas.to_string(),
            ],
            None => vec!["--store".into(), redis.url()],
        };
        let mut sim_args = vec!["sim".to_string(), "--agents".into(), agents.to_string()];
        sim_args.extend(SIM_ARGS.iter().map(|s| s.to_string()));
        let sim = HydrogenProc::start(hydrogen, sim_args, &dir.join("sim.log")).await?;
        let mut procs = Vec::new();
        for i in 0..instances {
            let mut args: Vec<String> = vec![
                "serve".into(),
                "--master".into(),
                sim.url.clone(),
                "--instance-id".into(),
                format!("chaos-{i}"),
            ];
            args.extend(store.iter().cloned());
            args.extend(SERVE_ARGS.iter().map(|s| s.to_string()));
            procs.push(
                HydrogenProc::start(hydrogen, args, &dir.join(format!("hydrogen-{i}.log"))).await?,
            );
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ChaosError::Spawn {
                what: "an HTTP client".into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            redis,
            topology,
            sim,
            instances: procs,
            http,
            dir: dir.to_path_buf(),
        })
    }

    /// GET a JSON document; `None` when unreachable or not 2xx.
    pub async fn get_json(&self, url: &str) -> Option<Value> {
        let response = self.http.get(url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// POST a JSON body to the simulator's fault API.
    pub async fn sim_post(&self, path: &str, body: Value) -> bool {
        self.http
            .post(format!("{}{path}", self.sim.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Every task the simulated master knows, with the generation label
    /// its TaskInfo carries (from `/master/state`).
    pub async fn sim_tasks(&self) -> Option<Vec<SimTask>> {
        let state = self
            .get_json(&format!("{}/master/state", self.sim.url))
            .await?;
        let mut generations: BTreeMap<String, u32> = BTreeMap::new();
        for f in state["frameworks"].as_array().into_iter().flatten() {
            let tasks = f["tasks"].as_array().into_iter().flatten();
            let unreachable = f["unreachable_tasks"].as_array().into_iter().flatten();
            for t in tasks.chain(unreachable) {
                let generation = t["labels"].as_array().into_iter().flatten().find_map(|l| {
                    (l["key"] == GENERATION_LABEL).then(|| l["value"].as_str()?.parse().ok())?
                });
                if let (Some(id), Some(g)) = (t["id"].as_str(), generation) {
                    generations.insert(id.to_string(), g);
                }
            }
        }
        let doc = self
            .get_json(&format!("{}/sim/tasks", self.sim.url))
            .await?;
        Some(
            doc["tasks"]
                .as_array()?
                .iter()
                .filter_map(|t| {
                    Some(SimTask {
                        id: t["task_id"].as_str()?.to_string(),
                        agent_id: t["agent_id"].as_str().unwrap_or_default().to_string(),
                        state: t["state"].as_str()?.to_string(),
                        unreachable: t["unreachable"].as_bool().unwrap_or(false),
                        healthy: t["healthy"].as_bool(),
                        generation: t["task_id"]
                            .as_str()
                            .and_then(|id| generations.get(id).copied()),
                    })
                })
                .collect(),
        )
    }

    /// The ids of every framework the simulated master knows (active,
    /// inactive or completed), from `/master/state`.
    pub async fn frameworks(&self) -> Option<Vec<String>> {
        let state = self
            .get_json(&format!("{}/master/state", self.sim.url))
            .await?;
        let mut ids = Vec::new();
        for list in ["frameworks", "completed_frameworks"] {
            for f in state[list].as_array().into_iter().flatten() {
                if let Some(id) = f["id"].as_str() {
                    ids.push(id.to_string());
                }
            }
        }
        Some(ids)
    }

    /// Agent ids and whether each is active.
    pub async fn sim_agents(&self) -> Option<Vec<(String, bool)>> {
        let doc = self
            .get_json(&format!("{}/sim/agents", self.sim.url))
            .await?;
        Some(
            doc["agents"]
                .as_array()?
                .iter()
                .filter_map(|a| Some((a["id"].as_str()?.to_string(), a["state"] == "active")))
                .collect(),
        )
    }

    /// Redis answers: the single node, or the primary and both replicas.
    pub fn redis_whole(&self) -> bool {
        self.redis.is_serving() && self.topology.as_ref().is_none_or(Topology::whole)
    }

    /// Indexes of the instances whose process runs and is not stopped.
    pub fn up(&self) -> Vec<usize> {
        (0..self.instances.len())
            .filter(|i| self.instances[*i].is_running() && !self.instances[*i].stopped)
            .collect()
    }

    /// The instance that says it leads, by its `/readyz`.
    pub async fn leader(&self) -> Option<usize> {
        for i in self.up() {
            let url = format!("{}/readyz", self.instances[i].url);
            if let Some(doc) = self.get_json(&url).await
                && doc["leader"] == true
            {
                return Some(i);
            }
        }
        None
    }

    /// The API's task list, from the first instance that answers.
    pub async fn api_tasks(&self) -> Option<BTreeMap<String, ApiTask>> {
        for i in self.up() {
            let url = format!("{}/v1/api/app/all", self.instances[i].url);
            let Some(doc) = self.get_json(&url).await else {
                continue;
            };
            let tasks = doc
                .as_array()?
                .iter()
                .filter_map(|t| {
                    Some((
                        t["id"].as_str()?.to_string(),
                        ApiTask {
                            app: t["app"].as_str()?.to_string(),
                            instance: u32::try_from(t["instance"].as_u64()?).ok()?,
                            state: t["state"].as_str()?.to_string(),
                        },
                    ))
                })
                .collect();
            return Some(tasks);
        }
        None
    }

    /// The names of every app instance `i` holds (`GET /v1/api/apps`);
    /// `None` when it did not answer.
    pub async fn app_names(&self, i: usize) -> Option<BTreeSet<String>> {
        let url = format!("{}/v1/api/apps", self.instances[i].url);
        let doc = self.get_json(&url).await?;
        Some(
            doc.as_array()?
                .iter()
                .filter_map(|a| Some(a["name"].as_str()?.to_string()))
                .collect(),
        )
    }

    /// One app's state from instance `i`: `Some(None)` when the API says
    /// it does not exist, `None` when the instance did not answer.
    pub async fn app_state(&self, i: usize, name: &str) -> Option<Option<Value>> {
        let url = format!("{}/v1/api/app?name={name}", self.instances[i].url);
        let response = self.http.get(url).send().await.ok()?;
        match response.status().as_u16() {
            404 => Some(None),
            s if (200..300).contains(&s) => Some(Some(response.json().await.ok()?)),
            _ => None,
        }
    }
}
