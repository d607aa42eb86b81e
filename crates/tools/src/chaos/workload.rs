//! The seeded workload (deploy, rolling update, scale, kill through a random
//! instance) and the model of what the API must hold afterwards.
//!
//! Every write's outcome is one of three: acknowledged (2xx), refused (a
//! 4xx, or a connection that never opened: nothing was applied) or unknown
//! (a timeout, a 5xx, a connection cut mid-request: it may or may not have
//! been applied). The model keeps, per app, the last acknowledged spec and
//! the specs of unknown writes issued after it; "every acknowledged write
//! is reflected" then means the API's spec is one of those candidates, and
//! nothing older. App names are never reused, so a killed app must stay
//! gone. The client's timeout (10 s) outlasts the server's request timeout
//! (5 s), so an unknown write cannot land after a later acknowledged one.

use std::collections::BTreeMap;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::fixture::Cluster;

/// The task label that carries a spec's generation, so the checks can tell
/// from Mesos alone which spec a task was launched from.
pub const GENERATION_LABEL: &str = "chaos-generation";

/// The part of a spec the workload changes, and the checks compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub instances: u32,
    /// Bumped by each rolling update (it is in the command).
    pub generation: u32,
    pub health_checked: bool,
}

impl Spec {
    pub fn json(&self, name: &str) -> Value {
        let mut app = json!({
            "name": name,
            "instances": self.instances,
            "resources": {"cpu": 0.1, "mem": 32},
            "command": {"cmd": format!("sleep 1000000 # generation {}", self.generation)},
            "labels": {GENERATION_LABEL: self.generation.to_string()},
        });
        if self.health_checked {
            app["healthcheck"] = json!({"endpoint": "localhost:8080"});
        }
        app
    }

    /// The spec in an app state answered by the API.
    pub fn from_state(doc: &Value) -> Option<Self> {
        let cmd = doc["command"]["cmd"].as_str()?;
        Some(Self {
            instances: u32::try_from(doc["instances"].as_u64().unwrap_or(1)).ok()?,
            generation: cmd.rsplit(' ').next()?.parse().ok()?,
            health_checked: !doc["healthcheck"].is_null(),
        })
    }
}

/// What the API may hold for one app: `None` is "absent".
#[derive(Debug, Clone, Default)]
pub struct AppModel {
    pub acked: Option<Spec>,
    /// Outcomes of unknown writes since the last acknowledged one.
    pub maybe: Vec<Option<Spec>>,
    /// A kill was sent (acknowledged or not): no more writes to it.
    pub killed: bool,
}

impl AppModel {
    pub fn candidates(&self) -> Vec<Option<Spec>> {
        let mut c = vec![self.acked.clone()];
        c.extend(self.maybe.iter().cloned());
        c
    }
}

/// A write's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Acked,
    Refused,
    Unknown,
}

/// The workload's state: every app ever deployed.
#[derive(Debug, Default)]
pub struct Workload {
    pub apps: BTreeMap<String, AppModel>,
    next_app: u32,
    pub writes: BTreeMap<&'static str, u64>,
}

/// Live apps the workload aims at, so the cluster stays busy but not full.
const MIN_APPS: usize = 3;
const MAX_APPS: usize = 10;

impl Workload {
    fn live(&self) -> Vec<String> {
        self.apps
            .iter()
            .filter(|(_, m)| !m.killed)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// One random write through a random instance (up or not: a write to
    /// a dead instance is a refused write, which is fine).
    pub async fn step(&mut self, rng: &mut StdRng, cluster: &Cluster) {
        let live = self.live();
        let roll = rng.random_range(0..100);
        if live.len() < MIN_APPS || (roll < 20 && live.len() < MAX_APPS) {
            self.deploy(rng, cluster).await;
            return;
        }
        let name = live[rng.random_range(0..live.len())].clone();
        if roll < 30 || live.len() > MAX_APPS {
            self.kill(rng, cluster, &name).await;
            return;
        }
        let Some(base) = self.apps.get(&name).and_then(|m| {
            m.maybe
                .last()
                .cloned()
                .flatten()
                .or_else(|| m.acked.clone())
        }) else {
            // Its deploy is unknown and nothing else was written: try the
            // deploy's spec again.
            self.deploy_again(rng, cluster, &name).await;
            return;
        };
        let mut spec = base;
        if roll < 65 {
            spec.generation += 1;
        } else {
            spec.instances = rng.random_range(0..=5);
        }
        self.update(rng, cluster, &name, spec).await;
    }

    fn random_spec(rng: &mut StdRng) -> Spec {
        Spec {
            instances: rng.random_range(1..=5),
            generation: 0,
            health_checked: rng.random_bool(0.5),
        }
    }

    async fn deploy(&mut self, rng: &mut StdRng, cluster: &Cluster) {
        let name = format!("chaos{}", self.next_app);
        self.next_app += 1;
        let spec = Self::random_spec(rng);
        let body = Value::Array(vec![spec.json(&name)]);
        let outcome = self.send(rng, cluster, reqwest::Method::POST, body).await;
        self.count("deploy", outcome);
        let model = self.apps.entry(name).or_default();
        apply(model, outcome, Some(spec));
    }

    async fn deploy_again(&mut self, rng: &mut StdRng, cluster: &Cluster, name: &str) {
        let Some(spec) = self
            .apps
            .get(name)
            .and_then(|m| m.maybe.iter().flatten().next().cloned())
        else {
            return;
        };
        let body = Value::Array(vec![spec.json(name)]);
        let outcome = self.send(rng, cluster, reqwest::Method::POST, body).await;
        self.count("deploy", outcome);
        if let Some(model) = self.apps.get_mut(name) {
            apply(model, outcome, Some(spec));
        }
    }

    async fn update(&mut self, rng: &mut StdRng, cluster: &Cluster, name: &str, spec: Spec) {
        let body = spec.json(name);
        let (outcome, status) = self
            .send_status(rng, cluster, reqwest::Method::PUT, body)
            .await;
        self.count("update", outcome);
        if let Some(model) = self.apps.get_mut(name) {
            if status == Some(404) {
                // Definitely absent right then: an unknown deploy did not land.
                model.acked = None;
                model.maybe.clear();
            }
            apply(model, outcome, Some(spec));
        }
    }

    async fn kill(&mut self, rng: &mut StdRng, cluster: &Cluster, name: &str) {
        let body = json!({"name": name});
        let (outcome, status) = self
            .send_status(rng, cluster, reqwest::Method::DELETE, body)
            .await;
        self.count("kill", outcome);
        if let Some(model) = self.apps.get_mut(name) {
            model.killed = true;
            let outcome = if status == Some(404) {
                Outcome::Acked
            } else {
                outcome
            };
            apply(model, outcome, None);
        }
    }

    fn count(&mut self, what: &'static str, outcome: Outcome) {
        let key = match (what, outcome) {
            (_, Outcome::Acked) => "acknowledged",
            (_, Outcome::Refused) => "refused",
            (_, Outcome::Unknown) => "unknown",
        };
        *self.writes.entry(key).or_default() += 1;
        *self.writes.entry(what).or_default() += 1;
    }

    async fn send(
        &self,
        rng: &mut StdRng,
        cluster: &Cluster,
        method: reqwest::Method,
        body: Value,
    ) -> Outcome {
        self.send_status(rng, cluster, method, body).await.0
    }

    async fn send_status(
        &self,
        rng: &mut StdRng,
        cluster: &Cluster,
        method: reqwest::Method,
        body: Value,
    ) -> (Outcome, Option<u16>) {
        let via = &cluster.instances[rng.random_range(0..cluster.instances.len())];
        let sent = cluster
            .http
            .request(method, format!("{}/v1/api/app", via.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                let outcome = match status {
                    200..=299 => Outcome::Acked,
                    400..=499 if status != 408 => Outcome::Refused,
                    _ => Outcome::Unknown,
                };
                (outcome, Some(status))
            }
            Err(e) if e.is_connect() => (Outcome::Refused, None),
            Err(_) => (Outcome::Unknown, None),
        }
    }
}

fn apply(model: &mut AppModel, outcome: Outcome, spec: Option<Spec>) {
    match outcome {
        Outcome::Acked => {
            model.acked = spec;
            model.maybe.clear();
        }
        Outcome::Unknown => model.maybe.push(spec),
        Outcome::Refused => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_through_the_app_json() {
        let spec = Spec {
            instances: 3,
            generation: 7,
            health_checked: true,
        };
        assert_eq!(Spec::from_state(&spec.json("a")), Some(spec));
    }

    #[test]
    fn unknown_writes_widen_the_candidates_until_one_is_acknowledged() {
        let s = |instances| Spec {
            instances,
            generation: 0,
            health_checked: false,
        };
        let mut m = AppModel::default();
        apply(&mut m, Outcome::Acked, Some(s(1)));
        apply(&mut m, Outcome::Unknown, Some(s(2)));
        apply(&mut m, Outcome::Refused, Some(s(3)));
        assert_eq!(m.candidates(), vec![Some(s(1)), Some(s(2))]);
        apply(&mut m, Outcome::Acked, None);
        assert_eq!(m.candidates(), vec![None]);
    }
}
