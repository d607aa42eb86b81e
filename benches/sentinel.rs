//! Report-only figures of Hydrogen on a Sentinel topology (issue 18): a
//! `redis-server` primary, two replicas and three `redis-server
//! --sentinel` (quorum 2, down after 1 s), `hydrogen sim` and one
//! `hydrogen serve --store redis+sentinel://...`, all real processes on
//! loopback. For `--redis-min-replicas` 0 and 1, each on a fresh topology:
//!
//! - `updates_per_second`: status updates persisted and acknowledged
//!   (the leader's `hydrogen_acknowledgements_total`) per second while a
//!   deploy of `SENTINEL_BENCH_TASKS` tasks (default 2,000) runs, from the
//!   deploy until every task runs and every update is acknowledged;
//! - `state_ms_p50/p99`: REST `State` (`GET /v1/api/app?name=`) under 16
//!   concurrent clients for `SENTINEL_BENCH_SECS` (default 3);
//! - `kill_to_write_ms`: the primary is killed with SIGKILL while one
//!   client deploys a one-task app every 10 ms; the time from the kill to
//!   the first acknowledged write *sent* after the primary died (one sent
//!   before may be answered by the dying primary), and to the sentinels'
//!   promotion (`promoted_ms`).
//!
//! Prints a line per setting, then one JSON line. Never asserts on time.
//! `cargo bench --bench sentinel` (`SENTINEL_BENCH_HYDROGEN`: another
//! build of the binary to serve with).

use std::time::{Duration, Instant};

use hydrogen_testkit::procs::{Hydrogen, SentinelTopology};
use serde_json::{Value, json};

const MASTER: &str = "benchmaster";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn app(name: &str, instances: u64) -> Value {
    json!({"name": name, "resources": {"cpu": 0.01, "mem": 4}, "instances": instances,
           "command": {"cmd": "sleep 1000"}})
}

async fn acknowledgements(http: &reqwest::Client, url: &str) -> Option<f64> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("hydrogen_acknowledgements_total"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
}

/// Every task the simulator holds runs and has nothing unacknowledged.
async fn all_running_and_acked(http: &reqwest::Client, sim: &str, tasks: u64) -> bool {
    let Ok(response) = http.get(format!("{sim}/sim/tasks")).send().await else {
        return false;
    };
    let Ok(doc) = response.json::<Value>().await else {
        return false;
    };
    let list = doc["tasks"].as_array().cloned().unwrap_or_default();
    let running = list.iter().filter(|t| t["state"] == "TASK_RUNNING").count() as u64;
    running >= tasks
        && list
            .iter()
            .all(|t| t["unacknowledged_updates"].as_u64().unwrap_or(0) == 0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(binary: &str, min_replicas: u32) -> Value {
    let tasks = env_or("SENTINEL_BENCH_TASKS", 2000);
    let secs = env_or("SENTINEL_BENCH_SECS", 3);
    let mut topology = tokio::task::spawn_blocking(|| SentinelTopology::start(MASTER))
        .await
        .expect("topology");
    let agents = usize::try_from(tasks.div_ceil(100).max(4)).expect("agents fit a usize");
    let sim = Hydrogen::sim_of(binary, agents, &[]);
    let store = topology.url();
    let min = min_replicas.to_string();
    let serve = Hydrogen::start_binary(
        binary,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--master",
            &sim.url,
            "--store",
            &store,
            "--redis-min-replicas",
            &min,
            "--decline-refuse",
            "200ms",
        ],
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = http.get(format!("{}/readyz", serve.url)).send().await;
        if let Ok(r) = ready
            && let Ok(doc) = r.json::<Value>().await
            && doc["leader"] == true
        {
            break;
        }
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Status updates persisted and acknowledged during a deploy.
    let before = acknowledgements(&http, &serve.url).await.unwrap_or(0.0);
    let started = Instant::now();
    let answer = http
        .post(format!("{}/v1/api/app", serve.url))
        .body(json!([app("big", tasks)]).to_string())
        .send()
        .await
        .expect("deploy");
    assert!(answer.status().is_success(), "deploy: {}", answer.status());
    let deadline = Instant::now() + Duration::from_secs(600);
    while !all_running_and_acked(&http, &sim.url, tasks).await {
        assert!(Instant::now() < deadline, "the deploy never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deploy_seconds = started.elapsed().as_secs_f64();
    let acked = acknowledgements(&http, &serve.url).await.unwrap_or(0.0) - before;
    let updates_per_second = acked / deploy_seconds;

    // REST State under 16 clients.
    let end = Instant::now() + Duration::from_secs(secs);
    let mut clients = Vec::new();
    for _ in 0..16 {
        let url = format!("{}/v1/api/app?name=big", serve.url);
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut took = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                if let Ok(r) = http.get(&url).send().await
                    && r.status().is_success()
                    && r.bytes().await.is_ok()
                {
                    took.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            took
        }));
    }
    let mut state_ms = Vec::new();
    for c in clients {
        state_ms.extend(c.await.expect("client"));
    }
    state_ms.sort_by(f64::total_cmp);

    // Kill the primary while writes stream in.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let url = serve.url.clone();
    let writer = tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client");
        let mut acked_at = Vec::new();
        for i in 0.. {
            if *stop_rx.borrow() {
                break;
            }
            let sent = Instant::now();
            let ok = http
                .post(format!("{url}/v1/api/app"))
                .body(json!([app(&format!("w{i}"), 0)]).to_string())
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                acked_at.push((sent, Instant::now()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        acked_at
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old = topology.primary.port;
    let killed_at = Instant::now();
    topology.primary.kill();
    // `kill` returns once the process is reaped: a write sent before this
    // may have been answered by the dying primary, so only writes sent
    // after it count.
    let dead_at = Instant::now();
    let promoted = loop {
        let now = tokio::task::block_in_place(|| topology.primary_port());
        if now.is_some_and(|p| p != old) {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "no promotion"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop_tx.send_replace(true);
    let acked_at = writer.await.expect("writer");
    let first = acked_at
        .iter()
        .find(|(sent, _)| *sent > dead_at)
        .map(|(_, acked)| acked.duration_since(killed_at).as_secs_f64() * 1000.0);

    let figures = json!({
        "min_replicas": min_replicas,
        "tasks": tasks,
        "deploy_seconds": (deploy_seconds * 100.0).round() / 100.0,
        "updates_acknowledged": acked,
        "updates_per_second": updates_per_second.round(),
        "state_requests": state_ms.len(),
        "state_ms_p50": (percentile(&state_ms, 0.50) * 100.0).round() / 100.0,
        "state_ms_p99": (percentile(&state_ms, 0.99) * 100.0).round() / 100.0,
        "promoted_ms": promoted.as_millis() as u64,
        "kill_to_write_ms": first.map(|f| f.round()),
    });
    println!(
        "min-replicas {min_replicas}: {acked} updates persisted+acked in {deploy_seconds:.2} s \
         ({updates_per_second:.0}/s); State p50 {:.2} ms p99 {:.2} ms ({} requests); \
         primary killed: promoted after {} ms, first write {:?} ms after the kill",
        percentile(&state_ms, 0.5),
        percentile(&state_ms, 0.99),
        state_ms.len(),
        promoted.as_millis(),
        first.map(|f| f.round()),
    );
    drop((serve, sim, topology));
    figures
}

fn main() {
    // `cargo bench` passes `--bench`; no other argument is understood.
    let binary = std::env::var("SENTINEL_BENCH_HYDROGEN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_hydrogen").to_owned());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut all = Vec::new();
    for min_replicas in [0, 1] {
        all.push(rt.block_on(run(&binary, min_replicas)));
    }
    println!("{}", json!({"bench": "sentinel", "settings": all}));
}
