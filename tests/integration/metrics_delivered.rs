//! The scheduler's counters count what reached Mesos, once, with real
//! processes: `hydrogen serve` (memory store) against `hydrogen sim`, whose
//! master loses its leadership as ACCEPTs arrive (503, streams dropped)
//! and ignores acknowledgements for a while (so updates are resent). The
//! counters are compared with what the simulator recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use hydrogen_testkit::procs::Hydrogen;
use hydrogen_testkit::web;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(90);

/// (status, body text) of one request.
async fn http(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, String) {
    let reply = web::send(method, url, body.as_ref(), web::REQUEST_TIMEOUT).await;
    (reply.status, reply.text)
}

async fn json_of(method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
    let (status, text) = http(method, url, body).await;
    assert!((200..300).contains(&status), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

async fn poll<T>(what: &str, f: impl AsyncFnMut() -> Option<T>) -> T {
    web::poll(DEADLINE, what, f).await
}

/// `name{labels}` → value of every sample on `/metrics`.
async fn metrics(serve: &Hydrogen) -> BTreeMap<String, f64> {
    let (status, text) = http(
        reqwest::Method::GET,
        &format!("{}/metrics", serve.url),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn counter(m: &BTreeMap<String, f64>, key: &str) -> u64 {
    m.get(key).copied().unwrap_or(0.0) as u64
}

/// Every task the simulated master ever knew of (live and completed), by
/// id: its state.
async fn sim_tasks(sim: &str) -> BTreeMap<String, String> {
    let state = json_of(reqwest::Method::GET, &format!("{sim}/master/state"), None).await;
    let mut tasks = BTreeMap::new();
    for fw in state["frameworks"].as_array().into_iter().flatten() {
        for key in ["tasks", "completed_tasks"] {
            for t in fw[key].as_array().into_iter().flatten() {
                tasks.insert(
                    t["id"].as_str().unwrap_or_default().to_string(),
                    t["state"].as_str().unwrap_or_default().to_string(),
                );
            }
        }
    }
    tasks
}

/// Live tasks with updates the master still waits to see acknowledged.
async fn unacknowledged(sim: &str) -> usize {
    let tasks = json_of(reqwest::Method::GET, &format!("{sim}/sim/tasks"), None).await;
    tasks["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["unacknowledged_updates"].as_u64().unwrap_or(0) as usize)
        .sum()
}

fn running(tasks: &BTreeMap<String, String>) -> usize {
    tasks.values().filter(|s| *s == "TASK_RUNNING").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_count_what_mesos_accepted_once_under_master_flapping() {
    let sim = Hydrogen::sim(
        3,
        &[
            "--status-update-retry",
            "200ms",
            "--status-update-retry-max",
            "400ms",
        ],
    );
    let serve = Hydrogen::serve(&sim.url, "memory", &[]);
    poll("the framework to subscribe", async || {
        (counter(&metrics(&serve).await, "hydrogen_mesos_subscribed") == 1).then_some(())
    })
    .await;

    // The next two ACCEPTs meet a master losing its leadership, and for a
    // while no acknowledgement counts, so every update is sent again.
    json_of(
        reqwest::Method::POST,
        &format!("{}/sim/master/lose-on-accept", sim.url),
        Some(json!({"count": 2})),
    )
    .await;
    json_of(
        reqwest::Method::POST,
        &format!("{}/sim/acks/delay", sim.url),
        Some(json!({"duration": "2s"})),
    )
    .await;
    const INSTANCES: usize = 30;
    let (status, text) = http(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", serve.url),
        Some(json!([{
            "name": "web",
            "instances": INSTANCES,
            "resources": {"cpu": 0.1, "mem": 32},
            "command": {"cmd": "sleep 100000"},
        }])),
    )
    .await;
    assert!((200..300).contains(&status), "deploy: {status} {text}");

    let tasks = poll(
        "every instance RUNNING, every update acknowledged",
        async || {
            let tasks = sim_tasks(&sim.url).await;
            (running(&tasks) == INSTANCES && unacknowledged(&sim.url).await == 0).then_some(tasks)
        },
    )
    .await;
    let m = poll("the counters to catch up", async || {
        let m = metrics(&serve).await;
        (counter(&m, "hydrogen_tasks_confirmed_total") >= INSTANCES as u64).then_some(m)
    })
    .await;
    assert_eq!(
        counter(
            &m,
            r#"hydrogen_mesos_calls_total{call="ACCEPT",status="503"}"#
        ),
        2,
        "the fault was met: {m:?}"
    );
    // The two refused ACCEPTs launched nothing; every task the master ever
    // saw was launched (and confirmed) exactly once.
    let launched = counter(&m, "hydrogen_tasks_launched_total");
    assert_eq!(launched, tasks.len() as u64, "{tasks:?}\n{m:?}");
    assert_eq!(
        counter(&m, "hydrogen_tasks_confirmed_total"),
        tasks.len() as u64,
        "{m:?}"
    );
    assert_eq!(
        counter(&m, "hydrogen_offers_used_total"),
        counter(
            &m,
            r#"hydrogen_mesos_calls_total{call="ACCEPT",status="202"}"#
        ),
        "{m:?}"
    );
    // Resent updates count once per task and state.
    assert_eq!(
        counter(&m, r#"hydrogen_status_updates_total{state="TASK_RUNNING"}"#),
        INSTANCES as u64,
        "{m:?}"
    );
    assert_eq!(
        counter(
            &m,
            r#"hydrogen_status_updates_total{state="TASK_STARTING"}"#
        ),
        INSTANCES as u64,
        "{m:?}"
    );
    assert_eq!(
        counter(&m, "hydrogen_acknowledgements_total"),
        counter(
            &m,
            r#"hydrogen_mesos_calls_total{call="ACKNOWLEDGE",status="202"}"#
        ),
        "{m:?}"
    );
    // One implicit reconciliation per subscription: the first and one
    // after each failover.
    assert_eq!(
        counter(&m, "hydrogen_reconciliations_total"),
        counter(&m, "hydrogen_mesos_subscriptions_total"),
        "{m:?}"
    );

    // Scaling down: KILLs counted as the master took them.
    let (status, text) = http(
        reqwest::Method::PUT,
        &format!("{}/v1/api/app", serve.url),
        Some(json!({
            "name": "web",
            "instances": INSTANCES - 10,
            "resources": {"cpu": 0.1, "mem": 32},
            "command": {"cmd": "sleep 100000"},
        })),
    )
    .await;
    assert!((200..300).contains(&status), "scale down: {status} {text}");
    let killed = poll("ten tasks killed", async || {
        let tasks = sim_tasks(&sim.url).await;
        let killed = tasks.values().filter(|s| *s == "TASK_KILLED").count();
        (killed == 10 && running(&tasks) == INSTANCES - 10).then_some(killed)
    })
    .await;
    let m = poll("the kill counter", async || {
        let m = metrics(&serve).await;
        (counter(&m, r#"hydrogen_status_updates_total{state="TASK_KILLED"}"#) == killed as u64)
            .then_some(m)
    })
    .await;
    // A kill retried because its answer was slow is delivered twice, and
    // counted so; the count is of KILLs the master took, never fewer than
    // the tasks it killed.
    let kills = counter(&m, "hydrogen_kills_total");
    assert_eq!(
        kills,
        counter(
            &m,
            r#"hydrogen_mesos_calls_total{call="KILL",status="202"}"#
        ),
        "{m:?}"
    );
    assert!(kills >= killed as u64, "{m:?}");
}
