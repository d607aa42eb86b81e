//! Failover time with real processes: `redis-server`, `hydrogen sim` and two
//! `hydrogen serve` instances sharing the Redis store, 10,000 running tasks.
//! The leader is killed with SIGKILL again and again; each time we measure
//! from the kill until the surviving instance leads, is subscribed to Mesos
//! and has finished reconciling (its `hydrogen_scheduler_launch_ready` gauge
//! is 1), then restart the killed one as a follower. Each kill waits for
//! a settled cluster first (every update acknowledged, the standby up).
//!
//! Environment: `FAILOVER_KILLS` (default 10), `FAILOVER_APPS` and
//! `FAILOVER_INSTANCES` (default 100 × 100). Prints a table and one JSON
//! line. A benchmark, not a test: it asserts nothing about the figures.

use std::time::{Duration, Instant};

use hydrogen_testkit::procs::{Hydrogen, Redis};
use serde_json::{Value, json};

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cluster_file(agents: u32) -> tempfile::NamedTempFile {
    let agents: Vec<Value> = (1..=agents)
        .map(|i| {
            json!({"hostname": format!("big-{i}.sim"),
                   "resources": {"cpus": 1000, "mem": 1_000_000, "disk": 1_000_000, "ports": "[31000-32000]"},
                   "attributes": {"rack": format!("r{}", i % 4)}})
        })
        .collect();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), json!({"agents": agents}).to_string()).expect("write cluster");
    file
}

fn serve(sim: &str, redis: &str) -> Hydrogen {
    Hydrogen::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--master",
        sim,
        "--store",
        redis,
    ])
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

async fn get(url: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    response.text().await.ok()
}

async fn is_leader_and_ready(url: &str) -> bool {
    let Some(metrics) = get(&format!("{url}/metrics")).await else {
        return false;
    };
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    value("hydrogen_leader") == Some(1.0)
        && value("hydrogen_mesos_subscribed") == Some(1.0)
        && value("hydrogen_scheduler_launch_ready") == Some(1.0)
}

/// ACKNOWLEDGE calls `url` made so far (every status), from its metrics.
async fn acknowledgements(url: &str) -> Option<f64> {
    let metrics = get(&format!("{url}/metrics")).await?;
    Some(
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("hydrogen_mesos_calls_total{") && l.contains("call=\"ACKNOWLEDGE\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

/// Waits until the leader has acknowledged every update it was sent (its
/// ACKNOWLEDGE count stood still for a second) and the standby answers:
/// a failover is measured from a settled cluster. Without this the first
/// kill lands while the deploy's 200,000 updates are still being
/// acknowledged (the next leader gets them all resent), and each later
/// one on a standby restarted a moment before.
async fn settle(leader: &str, standby: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = None;
    while Instant::now() < deadline {
        let now = acknowledgements(leader).await;
        if now.is_some() && now == last && get(&format!("{standby}/metrics")).await.is_some() {
            return;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("the cluster did not settle within 120 s");
}

/// RUNNING tasks by the master's gauge (`/metrics/snapshot`): listing them
/// all (`/master/state`) costs the simulator tens of megabytes per poll at
/// 100,000 tasks.
async fn running_tasks(sim: &str) -> usize {
    let Some(text) = get(&format!("{sim}/metrics/snapshot")).await else {
        return 0;
    };
    let metrics: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    metrics["master/tasks_running"]
        .as_f64()
        .map_or(0, |n| n as usize)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("failover: bench");
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches as tests: do nothing there.
        return;
    }
    let kills = env_u32("FAILOVER_KILLS", 10);
    let apps = env_u32("FAILOVER_APPS", 100);
    let instances = env_u32("FAILOVER_INSTANCES", 100);
    let total = (apps * instances) as usize;
    let redis = Redis::start();
    let cluster = cluster_file(20);
    let sim = Hydrogen::start(&[
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--cluster",
        cluster.path().to_str().expect("utf-8 path"),
        "--allocation-interval",
        "200ms",
        "--task-start-delay",
        "10ms",
    ]);
    let mut instances_up = [serve(&sim.url, &redis.url()), serve(&sim.url, &redis.url())];
    block_on(async {
        let client = reqwest::Client::new();
        let batch: Vec<Value> = (0..apps)
            .map(|a| {
                json!({"name": format!("bench{a}"), "resources": {"cpu": 0.01, "mem": 1},
                           "instances": instances, "command": {"cmd": "sleep 100000"}})
            })
            .collect();
        let response = client
            .post(format!("{}/v1/api/app", instances_up[0].url))
            .body(Value::Array(batch).to_string())
            .send()
            .await
            .expect("deploy answered");
        assert!(
            response.status().is_success(),
            "deploy failed: {}",
            response.status()
        );
        let started = Instant::now();
        while running_tasks(&sim.url).await < total {
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "tasks never all ran"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!(
            "{total} tasks running after {:.1} s",
            started.elapsed().as_secs_f64()
        );
    });
    let mut times = Vec::new();
    for round in 0..kills {
        let leader = block_on(async {
            loop {
                for (i, h) in instances_up.iter().enumerate() {
                    if is_leader_and_ready(&h.url).await {
                        return i;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let other = 1 - leader;
        block_on(settle(&instances_up[leader].url, &instances_up[other].url));
        let killed_at = Instant::now();
        instances_up[leader].kill9();
        block_on(async {
            while !is_leader_and_ready(&instances_up[other].url).await {
                assert!(killed_at.elapsed() < Duration::from_secs(60), "no takeover");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let took = killed_at.elapsed();
        println!(
            "kill {}: new leader reconciled after {:.3} s",
            round + 1,
            took.as_secs_f64()
        );
        times.push(took);
        instances_up[leader] = serve(&sim.url, &redis.url());
    }
    times.sort();
    let p50 = times[times.len() / 2];
    let max = times[times.len() - 1];
    let running = block_on(running_tasks(&sim.url));
    println!(
        "{}",
        json!({"bench": "failover", "kills": kills, "tasks": total, "tasks_running_at_end": running,
               "p50_seconds": p50.as_secs_f64(), "max_seconds": max.as_secs_f64()})
    );
}
