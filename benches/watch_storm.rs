//! Watcher storm on the leader (issue 16, item 2), with real processes:
//! `redis-server`, the simulated master, two `hydrogen serve` sharing the
//! Redis store. On the leader: `WATCH_SSE` (1,000) SSE watchers and
//! `WATCH_GRPC` (200) gRPC `WatchTasks` streams, then a deploy of
//! `WATCH_APPS` × `WATCH_INSTANCES` (20 × 100 = 2,000) tasks alongside.
//!
//! Reports (never asserts): the leader's lease renewal latency (p50/p99
//! bucket bounds of `hydrogen_store_operation_duration_seconds{op=
//! "renew_lease"}`) and failures, leadership changes seen by polling both
//! instances' `/readyz` (must be 0), watch delivery latency (receive time
//! minus the event's `timestamp_ms`, sampled on every 25th watcher), the
//! leader's RSS before and after, and how long the deploy took to run.
//!
//! `cargo bench --bench watch_storm`; prints a table, then one JSON line.
//! `WATCH_BIN=/path/to/hydrogen` runs another build of the server (the
//! simulator and both instances), e.g. to compare before and after a change
//! with the same harness.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hydrogen::api::proto as pb;
use hydrogen_testkit::procs::{Hydrogen, Redis};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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

async fn readyz(url: &str) -> Value {
    match get(&format!("{url}/readyz")).await {
        Some(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
        None => Value::Null,
    }
}

async fn running_tasks(sim: &str) -> usize {
    let Some(text) = get(&format!("{sim}/master/state")).await else {
        return 0;
    };
    let state: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .filter(|t| t["state"] == "TASK_RUNNING")
        .count()
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Upper bounds (seconds) of the buckets holding the p50 and p99 of a
/// histogram series whose `_bucket` lines contain `selector`.
fn quantiles(metrics: &str, selector: &str) -> (f64, f64, u64) {
    let mut buckets: Vec<(f64, u64)> = metrics
        .lines()
        .filter(|l| l.contains("_bucket{") && l.contains(selector))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count = l.rsplit(' ').next()?.parse::<f64>().ok()? as u64;
            Some((le, count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0, |b| b.1);
    let at = |q: f64| {
        let want = (total as f64 * q).ceil() as u64;
        buckets
            .iter()
            .find(|(_, c)| *c >= want)
            .map_or(f64::NAN, |b| b.0)
    };
    (at(0.5), at(0.99), total)
}

fn counter(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// One SSE watcher: reads the stream, and when `samples` is given records
/// each event's delivery latency.
async fn sse_watcher(addr: String, samples: Option<Arc<Mutex<Vec<u64>>>>) {
    let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
        return;
    };
    let request = "GET /v1/api/app/watch HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n\r\n";
    if s.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = String::new();
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let Some(samples) = &samples else { continue };
        let received = now_ms();
        carry.push_str(&String::from_utf8_lossy(&buf[..n]));
        let mut seen = Vec::new();
        while let Some(at) = carry.find("\"timestamp_ms\":") {
            let rest = &carry[at + 15..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.len() == rest.len() {
                break; // cut in the middle: wait for more
            }
            if let Ok(ts) = digits.parse::<u64>() {
                seen.push(received.saturating_sub(ts));
            }
            carry = rest[digits.len()..].to_string();
        }
        if carry.len() > 4096 && !carry.contains("\"timestamp_ms\":") {
            carry.clear();
        }
        if let Ok(mut all) = samples.lock() {
            all.extend(seen);
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("watch_storm: bench");
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benches as tests: do nothing there.
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let sse = env_u64("WATCH_SSE", 1000) as usize;
    let grpc = env_u64("WATCH_GRPC", 200) as usize;
    let apps = env_u64("WATCH_APPS", 20);
    let instances = env_u64("WATCH_INSTANCES", 100);
    let tasks = (apps * instances) as usize;

    let binary =
        std::env::var("WATCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hydrogen").to_string());
    let redis = Redis::start();
    let sim = Hydrogen::start_binary(
        &binary,
        &[
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--agents",
            "20",
            "--allocation-interval",
            "100ms",
            "--task-start-delay",
            "50ms",
        ],
    );
    let store = redis.url();
    let instances_up: Vec<Hydrogen> = (0..2)
        .map(|_| {
            Hydrogen::start_binary(
                &binary,
                &[
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--master",
                    &sim.url,
                    "--store",
                    &store,
                    "--decline-refuse",
                    "200ms",
                ],
            )
        })
        .collect();
    let start = Instant::now();
    let leader = loop {
        let mut found = None;
        for h in &instances_up {
            if readyz(&h.url).await["leader"] == true {
                found = Some(h);
            }
        }
        if let Some(h) = found {
            break h;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let leader_url = leader.url.clone();
    let leader_addr = leader_url.trim_start_matches("http://").to_string();
    let urls: Vec<String> = instances_up.iter().map(|h| h.url.clone()).collect();

    // Leadership as both instances see it, every 200 ms.
    let epochs = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    {
        let epochs = Arc::clone(&epochs);
        let stop = stop.clone();
        let urls = urls.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                for url in &urls {
                    let r = readyz(url).await;
                    if let (Some(id), Some(epoch)) = (r["leader_id"].as_str(), r["epoch"].as_u64())
                        && let Ok(mut e) = epochs.lock()
                    {
                        e.insert((epoch, id.to_string()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }

    let samples = Arc::new(Mutex::new(Vec::new()));
    for i in 0..sse {
        let sampled = (i % 25 == 0).then(|| Arc::clone(&samples));
        tokio::spawn(sse_watcher(leader_addr.clone(), sampled));
    }
    let mut grpc_streams = 0;
    for c in 0..grpc.div_ceil(10) {
        let Ok(channel) = tonic::transport::Channel::from_shared(leader_url.clone())
            .expect("uri")
            .connect()
            .await
        else {
            continue;
        };
        for i in 0..10.min(grpc - c * 10) {
            let mut client = pb::app_service_client::AppServiceClient::new(channel.clone());
            let sampled = ((c * 10 + i) % 25 == 0).then(|| Arc::clone(&samples));
            if let Ok(stream) = client.watch_tasks(pb::WatchTasksRequest::default()).await {
                grpc_streams += 1;
                let mut stream = stream.into_inner();
                tokio::spawn(async move {
                    while let Ok(Some(event)) = stream.message().await {
                        if let Some(samples) = &sampled {
                            let ts = event.timestamp_ms;
                            if ts > 0
                                && let Ok(mut all) = samples.lock()
                            {
                                all.push(now_ms().saturating_sub(ts));
                            }
                        }
                    }
                });
            }
        }
    }
    // Let the watchers connect.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = rss_kb(leader.pid(), "VmRSS:");
    let before = get(&format!("{leader_url}/metrics"))
        .await
        .unwrap_or_default();
    let open = counter(&before, "hydrogen_api_connections");

    let body: Vec<Value> = (0..apps)
        .map(|a| {
            json!({"name": format!("storm{a}"), "resources": {"cpu": 0.01, "mem": 4},
                   "instances": instances, "command": {"cmd": "sleep 3600"}})
        })
        .collect();
    let deployed_at = Instant::now();
    let answer = reqwest::Client::new()
        .post(format!("{leader_url}/v1/api/app"))
        .json(&body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let mut running = 0;
    while deployed_at.elapsed() < Duration::from_secs(600) {
        running = running_tasks(&sim.url).await;
        if running >= tasks {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deploy_secs = deployed_at.elapsed().as_secs_f64();
    // Let the last events reach the watchers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();

    let metrics = get(&format!("{leader_url}/metrics"))
        .await
        .unwrap_or_default();
    let (renew_p50, renew_p99, renewals) = quantiles(&metrics, "op=\"renew_lease\"");
    let failures = counter(&metrics, "hydrogen_lease_renewal_failures_total");
    let rss_after = rss_kb(leader.pid(), "VmRSS:");
    let rss_peak = rss_kb(leader.pid(), "VmHWM:");
    let leaderships = epochs.lock().map_or(0, |e| e.len());
    let mut lat = samples.lock().map(|s| s.clone()).unwrap_or_default();
    lat.sort_unstable();

    println!(
        "watch storm on the leader: {sse} SSE + {grpc_streams} gRPC watchers ({open} connections open), deploy of {tasks} tasks (answer {answer})"
    );
    println!("  tasks running           {running} / {tasks} after {deploy_secs:.1} s");
    println!(
        "  lease renewals          {renewals}, failures {failures}, p50 <= {renew_p50} s, p99 <= {renew_p99} s"
    );
    println!(
        "  leadership changes      {}",
        leaderships.saturating_sub(1)
    );
    println!(
        "  watch delivery (ms)     p50 {} p99 {} max {} ({} samples)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0),
        lat.len()
    );
    println!(
        "  leader RSS (MB)         {:.1} with watchers, {:.1} after the deploy, peak {:.1}",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );
    println!(
        "{}",
        json!({
            "bench": "watch_storm",
            "sse_watchers": sse,
            "grpc_watchers": grpc_streams,
            "tasks": tasks,
            "tasks_running": running,
            "deploy_secs": deploy_secs,
            "lease_renewals": renewals,
            "lease_renewal_failures": failures,
            "lease_renewal_p50_le_secs": renew_p50,
            "lease_renewal_p99_le_secs": renew_p99,
            "leadership_changes": leaderships.saturating_sub(1),
            "watch_delivery_ms_p50": percentile(&lat, 0.5),
            "watch_delivery_ms_p99": percentile(&lat, 0.99),
            "watch_delivery_samples": lat.len(),
            "leader_rss_mb_with_watchers": rss_before as f64 / 1024.0,
            "leader_rss_mb_after": rss_after as f64 / 1024.0,
            "leader_rss_mb_peak": rss_peak as f64 / 1024.0,
        })
    );
    drop(instances_up);
    drop(sim);
    drop(redis);
}
