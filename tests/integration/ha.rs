//! High availability with Redis, with real processes: one `redis-server`,
//! one `hydrogen sim`, three `hydrogen serve` sharing the Redis store.
//! Every convergence check reads the simulator's `/master/state`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hydrogen_testkit::procs::{Hydrogen, Redis, signal};
use hydrogen_testkit::web::{self, http};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(45);

struct Cluster {
    redis: Redis,
    sim: Hydrogen,
    instances: Vec<Hydrogen>,
}

fn start_sim(agents: usize) -> Hydrogen {
    Hydrogen::sim(
        agents,
        &[
            "--heartbeat-interval",
            "1s",
            "--status-update-retry",
            "500ms",
        ],
    )
}

fn start_instance(sim: &str, redis: &str) -> Hydrogen {
    Hydrogen::serve(sim, redis, &["--backoff-initial", "200ms"])
}

impl Cluster {
    fn start(instances: usize, agents: usize) -> Self {
        let redis = Redis::start();
        let sim = start_sim(agents);
        let instances = (0..instances)
            .map(|_| start_instance(&sim.url, &redis.url()))
            .collect();
        Self {
            redis,
            sim,
            instances,
        }
    }

    fn add_instance(&mut self) {
        self.instances
            .push(start_instance(&self.sim.url, &self.redis.url()));
    }
}

async fn poll<T>(what: &str, f: impl AsyncFnMut() -> Option<T>) -> T {
    web::poll(DEADLINE, what, f).await
}

fn app(name: &str, instances: u32, cmd: &str) -> Value {
    json!({"name": name, "resources": {"cpu": 0.1, "mem": 32}, "instances": instances,
           "command": {"cmd": cmd}})
}

/// Index of the instance that leads, by its own `/readyz`.
async fn leader(cluster: &Cluster) -> usize {
    poll("a leader", async || {
        // A killed instance's port may serve a newer instance by now.
        let live: Vec<&Hydrogen> = cluster.instances.iter().filter(|h| h.pid() != 0).collect();
        let found = web::leading(live.iter().map(|h| h.url.as_str())).await?;
        cluster
            .instances
            .iter()
            .position(|h| std::ptr::eq(h, live[found]))
    })
    .await
}

/// Live tasks in the simulator, by task id: (state, agent).
async fn sim_tasks(sim: &str) -> BTreeMap<String, (String, String)> {
    let (_, state) = http(reqwest::Method::GET, &format!("{sim}/master/state"), None).await;
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter_map(|t| {
            Some((
                t["id"].as_str()?.to_string(),
                (
                    t["state"].as_str()?.to_string(),
                    t["slave_id"].as_str()?.to_string(),
                ),
            ))
        })
        .collect()
}

/// Slots (`app.instance`) with more than one live task.
fn doubled_slots(tasks: &BTreeMap<String, (String, String)>) -> Vec<String> {
    let mut per_slot: BTreeMap<String, u32> = BTreeMap::new();
    for (id, (state, _)) in tasks {
        if state == "TASK_RUNNING" || state == "TASK_STARTING" || state == "TASK_STAGING" {
            let slot: Vec<&str> = id.splitn(3, '.').collect();
            *per_slot
                .entry(format!("{}.{}", slot[0], slot.get(1).unwrap_or(&"")))
                .or_default() += 1;
        }
    }
    per_slot
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(s, _)| s)
        .collect()
}

/// Waits until exactly the expected apps run their instance counts in the
/// simulator, one task per slot, nothing else.
async fn converged(
    cluster: &Cluster,
    expected: &BTreeMap<String, u32>,
) -> BTreeMap<String, (String, String)> {
    poll("convergence", async || {
        let tasks = sim_tasks(&cluster.sim.url).await;
        let mut running: BTreeMap<String, u32> = BTreeMap::new();
        for (id, (state, _)) in &tasks {
            if state == "TASK_RUNNING" {
                let app = id.split('.').next().unwrap_or_default().to_string();
                *running.entry(app).or_default() += 1;
            }
        }
        let wanted: BTreeMap<String, u32> = expected
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(a, n)| (a.clone(), *n))
            .collect();
        (running == wanted && tasks.len() as u32 == wanted.values().sum::<u32>()).then_some(tasks)
    })
    .await
}

#[tokio::test]
async fn every_instance_serves_writes_and_reads_alike() {
    let cluster = Cluster::start(3, 4);
    leader(&cluster).await;
    // Deploy on one, update on another, read everywhere.
    let (s, body) = http(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", cluster.instances[0].url),
        Some(json!([app("alpha", 2, "sleep 100")])),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = http(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", cluster.instances[2].url),
        Some(json!([app("beta", 1, "sleep 100")])),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = http(
        reqwest::Method::PUT,
        &format!("{}/v1/api/app", cluster.instances[1].url),
        Some(app("alpha", 3, "sleep 100")),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let expected: BTreeMap<String, u32> = [("alpha".into(), 3), ("beta".into(), 1)].into();
    converged(&cluster, &expected).await;
    let mut views = Vec::new();
    for h in &cluster.instances {
        let state = poll("every task running in State", async || {
            let (s, body) = http(
                reqwest::Method::GET,
                &format!("{}/v1/api/app?name=alpha", h.url),
                None,
            )
            .await;
            let running = body["tasks"].as_array().map_or(0, |t| {
                t.iter().filter(|t| t["state"] == "TASK_RUNNING").count()
            });
            (s == 200 && running == 3).then_some(body)
        })
        .await;
        let mut ids: Vec<String> = state["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        views.push((state["version"].clone(), ids));
    }
    assert!(
        views.windows(2).all(|w| w[0] == w[1]),
        "instances disagree: {views:?}"
    );
    // Kill through the third instance.
    let (s, body) = http(
        reqwest::Method::DELETE,
        &format!("{}/v1/api/app", cluster.instances[2].url),
        Some(json!({"name": "beta"})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let expected: BTreeMap<String, u32> = [("alpha".into(), 3)].into();
    converged(&cluster, &expected).await;
}

#[tokio::test]
async fn leader_killed_under_writes_loses_nothing() {
    let mut cluster = Cluster::start(3, 5);
    let first = leader(&cluster).await;
    let mut expected: BTreeMap<String, u32> = BTreeMap::new();
    let mut doubles = Vec::new();
    // A stream of writes through the followers while the leader dies.
    let writers: Vec<usize> = (0..3).filter(|i| *i != first).collect();
    for round in 0..12u32 {
        let via = &cluster.instances[writers[(round as usize) % writers.len()]];
        let name = format!("app{}", round % 4);
        let instances = 1 + round % 3;
        let method = if expected.contains_key(&name) {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let body = if method == reqwest::Method::POST {
            json!([app(&name, instances, "sleep 100")])
        } else {
            app(&name, instances, "sleep 100")
        };
        let (s, resp) = http(method, &format!("{}/v1/api/app", via.url), Some(body)).await;
        assert_eq!(s, 200, "write {round} was refused: {resp}");
        expected.insert(name, instances);
        if round == 4 {
            cluster.instances[first].kill9();
        }
        let tasks = sim_tasks(&cluster.sim.url).await;
        doubles.extend(doubled_slots(&tasks));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let final_tasks = converged(&cluster, &expected).await;
    assert!(doubles.is_empty(), "slots with two live tasks: {doubles:?}");
    assert!(doubled_slots(&final_tasks).is_empty());
    // A new leader took over and every acknowledged write is reflected.
    let new_leader = leader(&cluster).await;
    assert_ne!(new_leader, first);
    for (name, n) in &expected {
        let (s, body) = http(
            reqwest::Method::GET,
            &format!(
                "{}/v1/api/app?name={name}",
                cluster.instances[new_leader].url
            ),
            None,
        )
        .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["instances"], *n, "{name}: {body}");
    }
    // No orphans: every task in Mesos belongs to an app we know.
    assert!(
        final_tasks
            .keys()
            .all(|id| expected.contains_key(id.split('.').next().unwrap_or_default()))
    );
    // The killed instance comes back as a follower.
    cluster.add_instance();
    leader(&cluster).await;
}

#[tokio::test]
async fn graceful_stop_hands_over_at_once() {
    let mut cluster = Cluster::start(2, 3);
    let first = leader(&cluster).await;
    let (s, _) = http(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", cluster.instances[first].url),
        Some(json!([app("calm", 2, "sleep 100")])),
    )
    .await;
    assert_eq!(s, 200);
    let expected: BTreeMap<String, u32> = [("calm".into(), 2)].into();
    let before = converged(&cluster, &expected).await;
    let stopped_at = Instant::now();
    cluster.instances[first].stop();
    let next = leader(&cluster).await;
    let handover = stopped_at.elapsed();
    assert_ne!(next, first);
    // Released, not expired: well under the 1.5 s lease.
    assert!(
        handover < Duration::from_millis(1400),
        "handover took {handover:?}"
    );
    let after = converged(&cluster, &expected).await;
    let ids = |t: &BTreeMap<String, (String, String)>| t.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        ids(&before),
        ids(&after),
        "the new leader adopted the running tasks"
    );
}

#[tokio::test]
async fn a_leader_cut_off_from_redis_stops_and_state_survives_a_redis_restart() {
    let mut cluster = Cluster::start(2, 3);
    let first = leader(&cluster).await;
    let (s, _) = http(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", cluster.instances[first].url),
        Some(json!([app("durable", 2, "sleep 100")])),
    )
    .await;
    assert_eq!(s, 200);
    let expected: BTreeMap<String, u32> = [("durable".into(), 2)].into();
    let before = converged(&cluster, &expected).await;

    // Redis frozen: writes fail fast with 503 and the leader steps down.
    signal(cluster.redis.pid(), "STOP");
    let (s, body) = http(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", cluster.instances[first].url),
        Some(json!([app("late", 1, "sleep 1")])),
    )
    .await;
    assert_eq!(s, 503, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    // Self-fencing: the leader drops its Mesos subscription before its
    // lease can expire, so the master sees the framework disconnect.
    poll("the leader to drop its subscription", async || {
        let (_, state) = http(
            reqwest::Method::GET,
            &format!("{}/master/state", cluster.sim.url),
            None,
        )
        .await;
        (state["frameworks"][0]["connected"] == false).then_some(())
    })
    .await;
    let (s, _) = http(
        reqwest::Method::GET,
        &format!("{}/readyz", cluster.instances[first].url),
        None,
    )
    .await;
    assert_eq!(s, 503, "readiness says the store is down");
    signal(cluster.redis.pid(), "CONT");
    leader(&cluster).await;
    let after_pause = converged(&cluster, &expected).await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after_pause.keys().collect::<Vec<_>>(),
        "no task replaced for a store pause"
    );

    // Redis restarted from its append-only file: apps survive, and the
    // service recovers without restarting Hydrogen.
    cluster.redis.restart();
    let any = &cluster.instances[0];
    let state = poll("the app read back after the restart", async || {
        let (s, body) = http(
            reqwest::Method::GET,
            &format!("{}/v1/api/app?name=durable", any.url),
            None,
        )
        .await;
        (s == 200).then_some(body)
    })
    .await;
    assert_eq!(state["instances"], 2);
    let (s, body) = http(
        reqwest::Method::PUT,
        &format!("{}/v1/api/app", any.url),
        Some(app("durable", 3, "sleep 100")),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let expected: BTreeMap<String, u32> = [("durable".into(), 3)].into();
    converged(&cluster, &expected).await;
}

/// Cluster events of an SSE watch (`?include=cluster`), as JSON, in order.
struct ClusterEvents {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl ClusterEvents {
    async fn open(url: &str) -> Self {
        let resp = reqwest::Client::new()
            .get(format!("{url}/v1/api/app/watch?include=cluster"))
            .send()
            .await
            .expect("watch");
        assert_eq!(resp.status(), 200);
        Self {
            body: Box::pin(resp.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next cluster event that satisfies `want`.
    async fn until(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if !frame.lines().any(|l| l == "event: cluster") {
                    continue;
                }
                let data = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .expect("a data line");
                let event: Value = serde_json::from_str(data).expect("json");
                if want(&event) {
                    return event;
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("the watch stays open")
                .expect("chunk");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Whether the leader is subscribed to Mesos is in the store: a follower
/// answers it in `/v1/api/cluster` and `/readyz`, and its watch tells when
/// leadership moves and the new leader subscribes.
#[tokio::test]
async fn a_follower_knows_whether_the_leader_is_subscribed() {
    let mut cluster = Cluster::start(2, 1);
    let first = leader(&cluster).await;
    let follower = 1 - first;
    let follower_url = cluster.instances[follower].url.clone();
    let (_, readyz) = http(
        reqwest::Method::GET,
        &format!("{}/readyz", cluster.instances[first].url),
        None,
    )
    .await;
    let epoch = readyz["epoch"].as_u64().expect("the leader's epoch");
    let seen = poll("the follower to say the leader is subscribed", async || {
        let (status, body) = http(
            reqwest::Method::GET,
            &format!("{follower_url}/v1/api/cluster"),
            None,
        )
        .await;
        (status == 200 && body["subscribed"] == true).then_some(body)
    })
    .await;
    assert_eq!(seen["leader"], false, "{seen}");
    assert_eq!(seen["epoch"], epoch, "{seen}");
    let (status, ready) = http(
        reqwest::Method::GET,
        &format!("{follower_url}/readyz"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["mesos"]["subscribed"], true, "{ready}");

    // The follower's watch starts with the current cluster, then follows a
    // handover to itself and its own subscription.
    let mut events = ClusterEvents::open(&follower_url).await;
    let current = events
        .until("the current cluster", |e| e["epoch"] == epoch)
        .await;
    assert_eq!(current["subscribed"], true, "{current}");
    cluster.instances[first].stop();
    let next = events
        .until("the new leader's subscription", |e| {
            e["epoch"].as_u64().is_some_and(|e| e > epoch) && e["subscribed"] == true
        })
        .await;
    let (_, ready) = http(
        reqwest::Method::GET,
        &format!("{follower_url}/readyz"),
        None,
    )
    .await;
    assert_eq!(ready["leader"], true, "{ready}");
    assert_eq!(next["leader_id"], ready["leader_id"], "{next}");
    assert_eq!(ready["mesos"]["subscribed"], true, "{ready}");
}
