//! A volatile store never orphans a cluster's tasks, with real processes:
//! `redis-server` without persistence is refused unless
//! `--allow-volatile-store`; a store that lost the framework id does not
//! register a second framework next to a disconnected one of ours in
//! `hydrogen sim`, and `--framework-id` adopts it without relaunching.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use hydrogen_testkit::procs::{Hydrogen, Redis};
use hydrogen_testkit::web::{self, http};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(45);

async fn poll<T>(what: &str, f: impl AsyncFnMut() -> Option<T>) -> T {
    web::poll(DEADLINE, what, f).await
}

fn start_sim() -> Hydrogen {
    Hydrogen::sim(2, &[])
}

fn serve(sim: &str, redis: &str, extra: &[&str]) -> Hydrogen {
    Hydrogen::serve(sim, redis, extra)
}

async fn readyz(h: &Hydrogen) -> (u16, Value) {
    http(reqwest::Method::GET, &format!("{}/readyz", h.url), None).await
}

async fn leads(h: &Hydrogen) {
    poll("the instance to lead", async || {
        let (status, body) = readyz(h).await;
        (status == 200 && body["leader"] == true).then_some(())
    })
    .await;
}

/// Waits for `/readyz` to answer 503 with an error containing `needle`.
async fn refuses(h: &Hydrogen, needle: &str) -> String {
    poll("the instance to refuse", async || {
        let (status, body) = readyz(h).await;
        let error = body["error"].as_str().unwrap_or_default();
        (status == 503 && error.contains(needle)).then(|| error.to_string())
    })
    .await
}

async fn get_frameworks(sim: &str) -> Value {
    let (status, body) = http(
        reqwest::Method::POST,
        &format!("{sim}/api/v1"),
        Some(json!({"type": "GET_FRAMEWORKS"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Live tasks of every framework: task id ⇒ (framework id, state).
async fn sim_tasks(sim: &str) -> BTreeMap<String, (String, String)> {
    let (_, state) = http(reqwest::Method::GET, &format!("{sim}/master/state"), None).await;
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| {
            let fw = f["id"].as_str().unwrap_or_default().to_string();
            f["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |t| {
                    Some((
                        t["id"].as_str()?.to_string(),
                        (fw.clone(), t["state"].as_str()?.to_string()),
                    ))
                })
        })
        .collect()
}

#[tokio::test]
async fn a_volatile_redis_is_refused_unless_allowed() {
    let redis = Redis::start_volatile();
    let sim = start_sim();
    let refused = serve(&sim.url, &redis.url(), &[]);
    let error = refuses(&refused, "--allow-volatile-store").await;
    assert!(error.contains("no persistence"), "{error}");
    let (_, body) = readyz(&refused).await;
    assert_eq!(body["leader"], false, "{body}");
    // It never took the lease, so it never registered.
    let frameworks = get_frameworks(&sim.url).await;
    assert_eq!(
        frameworks["get_frameworks"]["frameworks"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "{frameworks}"
    );
    drop(refused);

    let allowed = serve(&sim.url, &redis.url(), &["--allow-volatile-store"]);
    leads(&allowed).await;
    poll("the framework to register", async || {
        let frameworks = get_frameworks(&sim.url).await;
        (frameworks["get_frameworks"]["frameworks"]
            .as_array()
            .map(Vec::len)
            == Some(1))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_forgotten_framework_is_not_registered_twice_and_is_adopted() {
    let redis = Redis::start();
    let sim = start_sim();
    let first = serve(&sim.url, &redis.url(), &[]);
    leads(&first).await;
    let (s, body) = http(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", first.url),
        Some(
            json!([{"name": "keep", "resources": {"cpu": 0.1, "mem": 32},
                     "instances": 2, "command": {"cmd": "sleep 1000"}}]),
        ),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let before = poll("two running tasks", async || {
        let tasks = sim_tasks(&sim.url).await;
        (tasks.len() == 2 && tasks.values().all(|(_, s)| s == "TASK_RUNNING")).then_some(tasks)
    })
    .await;
    let framework_id = before
        .values()
        .next()
        .map(|(f, _)| f.clone())
        .unwrap_or_default();
    let mut first = first;
    first.kill9();

    // The store loses the framework id (a restore from an older backup, a
    // key evicted): the apps are still there.
    let deleted = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "DEL",
            "hydrogen:framework-id",
        ])
        .output()
        .expect("redis-cli runs");
    assert_eq!(String::from_utf8_lossy(&deleted.stdout).trim(), "1");

    let second = serve(&sim.url, &redis.url(), &[]);
    let error = refuses(&second, &format!("--framework-id {framework_id}")).await;
    assert!(error.contains("runs 2 tasks"), "{error}");
    assert!(
        error.contains(&format!("master/teardown -d frameworkId={framework_id}")),
        "{error}"
    );
    let frameworks = get_frameworks(&sim.url).await;
    let listed = frameworks["get_frameworks"]["frameworks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(listed.len(), 1, "registered twice: {frameworks}");
    // The fields the real master answers (see the real_mesos_adopt module).
    let fw = &listed[0];
    assert_eq!(frameworks["type"], "GET_FRAMEWORKS", "{frameworks}");
    assert_eq!(fw["connected"], false, "{frameworks}");
    assert_eq!(fw["active"], false, "{frameworks}");
    assert_eq!(fw["recovered"], false, "{frameworks}");
    assert_eq!(
        fw["framework_info"]["id"]["value"],
        framework_id.as_str(),
        "{frameworks}"
    );
    assert_eq!(fw["framework_info"]["name"], "Hydrogen", "{frameworks}");
    assert_eq!(
        fw["framework_info"]["principal"], "Hydrogen",
        "{frameworks}"
    );
    assert!(
        fw["registered_time"]["nanoseconds"].is_i64(),
        "{frameworks}"
    );
    assert!(
        fw["reregistered_time"]["nanoseconds"].is_i64(),
        "{frameworks}"
    );
    assert!(fw.get("unregistered_time").is_none(), "{frameworks}");
    drop(second);

    let adopting = serve(
        &sim.url,
        &redis.url(),
        &["--framework-id", framework_id.as_str()],
    );
    leads(&adopting).await;
    poll("the framework to reconnect", async || {
        let frameworks = get_frameworks(&sim.url).await;
        let listed = frameworks["get_frameworks"]["frameworks"]
            .as_array()?
            .clone();
        (listed.len() == 1 && listed[0]["connected"] == true).then_some(())
    })
    .await;
    // Reconciled, not relaunched: once explicit reconciliation answered
    // (launching is allowed from then on), the app reports the same two
    // tasks, and the simulator still runs exactly those.
    poll("reconciliation to finish", async || {
        let (_, metrics) = http(
            reqwest::Method::GET,
            &format!("{}/metrics", adopting.url),
            None,
        )
        .await;
        let text = metrics.as_str().unwrap_or_default().to_string();
        text.lines()
            .any(|l| l.starts_with("hydrogen_scheduler_launch_ready") && l.ends_with(" 1"))
            .then_some(())
    })
    .await;
    let state = poll("the app to report its two tasks", async || {
        let (s, state) = http(
            reqwest::Method::GET,
            &format!("{}/v1/api/app?name=keep", adopting.url),
            None,
        )
        .await;
        let text = state.to_string();
        (s == 200 && before.keys().all(|id| text.contains(id.as_str()))).then_some(state)
    })
    .await;
    let after = sim_tasks(&sim.url).await;
    assert_eq!(after, before, "state: {state}");
    let stored = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "GET",
            "hydrogen:framework-id",
        ])
        .output()
        .expect("redis-cli runs");
    assert_eq!(String::from_utf8_lossy(&stored.stdout).trim(), framework_id);
}
