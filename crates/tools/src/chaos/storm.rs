//! The `watcher_storm` fault: many SSE watchers (`GET /v1/api/app/watch`)
//! and gRPC `WatchTasks` streams opened at once on the leader and held
//! while the workload goes on, as a dashboard fleet reconnecting would.
//!
//! Every watcher starts after the same revision (the head the run's own
//! watches had reached), so once the storm ends all of them must have
//! delivered the same revisions, strictly increasing (no repeat, no
//! reorder), each with the same content; the end-of-run check compares that
//! sequence with the event log (no gap). A watcher that cannot open, whose
//! stream ends or that does not catch up with the others is a
//! `watch_exactly_once` violation. Meanwhile every instance's `/readyz` is
//! polled: the storm must not cost the leader its lease, so more than one
//! (epoch, leader) pair seen during a storm is a `leader_kept` violation
//! (the faults that change leadership on purpose are held back while a
//! storm runs).

use hydrogen_time::now_ms;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::check::Seen;
use super::fixture::Cluster;
use hydrogen::api::proto as pb;

/// How many watchers a storm opens on the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormSize {
    pub sse: usize,
    pub grpc: usize,
}

/// gRPC streams per HTTP/2 connection, as a pooling client would share them.
const STREAMS_PER_CHANNEL: usize = 10;
/// One watcher in this many records delivery latency.
const SAMPLE_EVERY: usize = 25;
/// How long the watchers get to catch up with each other once a storm ends.
const CATCH_UP: Duration = Duration::from_secs(30);

/// What one watcher delivered.
#[derive(Debug, Default)]
struct Delivered {
    revisions: Vec<u64>,
    problems: Vec<String>,
    /// The stream is gone (failed to open, ended, failed).
    done: bool,
}

impl Delivered {
    fn last(&self) -> u64 {
        self.revisions.last().copied().unwrap_or(0)
    }

    fn fail(&mut self, problem: String) {
        self.problems.push(problem);
        self.done = true;
    }
}

/// What the watchers of one storm share.
#[derive(Debug)]
struct Shared {
    after: u64,
    /// Wall time the storm started: events recorded before it are replayed,
    /// not delivered live, and are not latency samples.
    started_ms: u64,
    /// The first delivery of each revision; every other must equal it.
    events: Mutex<BTreeMap<u64, Seen>>,
    latencies_ms: Mutex<Vec<u64>>,
}

impl Shared {
    fn deliver(&self, d: &Mutex<Delivered>, e: Seen, timestamp_ms: u64, sampled: bool) {
        if sampled
            && timestamp_ms >= self.started_ms
            && let Ok(mut l) = self.latencies_ms.lock()
        {
            l.push(now_ms().saturating_sub(timestamp_ms));
        }
        let differs = match self.events.lock() {
            Ok(mut events) => match events.get(&e.revision) {
                Some(first) if *first != e => Some(format!(
                    "revision {} delivered as {e:?}, to another watcher as {first:?}",
                    e.revision
                )),
                Some(_) => None,
                None => {
                    events.insert(e.revision, e.clone());
                    None
                }
            },
            Err(_) => None,
        };
        let Ok(mut d) = d.lock() else { return };
        d.problems.extend(differs);
        let last = d.last().max(self.after);
        if e.revision <= last {
            d.problems
                .push(format!("revision {} delivered after {last}", e.revision));
            return;
        }
        d.revisions.push(e.revision);
    }
}

/// A storm in progress.
pub struct Storm {
    pub leader: usize,
    after: u64,
    started: Instant,
    size: StormSize,
    stop: CancellationToken,
    watchers: Vec<Arc<Mutex<Delivered>>>,
    shared: Arc<Shared>,
    leaderships: Arc<Mutex<BTreeSet<(u64, String)>>>,
    renewal_failures_before: Option<f64>,
}

/// What a storm left: the sequence the watchers delivered (for the
/// end-of-run comparison with the log), problems and figures.
#[derive(Debug)]
pub struct StormOutcome {
    pub record: StormRecord,
    /// `watch_exactly_once` problems, each with how many watchers had it.
    pub watch_problems: Vec<String>,
    /// `leader_kept` problems.
    pub leadership_problems: Vec<String>,
    pub figures: StormFigures,
}

/// The revisions a storm's watchers delivered within (`after`, `until`].
#[derive(Debug, Clone, Default)]
pub struct StormRecord {
    pub after: u64,
    pub until: u64,
    /// Each distinct revision sequence and how many watchers delivered it.
    pub sequences: BTreeMap<Vec<u64>, usize>,
    /// The content of each revision as delivered (all watchers agreed or
    /// said otherwise in the problems).
    pub events: BTreeMap<u64, Seen>,
}

/// One storm's figures.
#[derive(Debug, Clone, Default)]
pub struct StormFigures {
    pub sse_opened: usize,
    pub grpc_opened: usize,
    pub seconds: f64,
    pub events_delivered: u64,
    pub latencies_ms: Vec<u64>,
    pub leadership_changes: usize,
    pub lease_renewal_failures: Option<f64>,
    pub leader_rss_mb: Option<f64>,
}

/// The leader as every running instance's `/readyz` tells it: its index
/// and (epoch, leader id), when all of them answer and agree and exactly
/// one says it leads.
pub async fn stable_leader(cluster: &Cluster) -> Option<(usize, (u64, String))> {
    let mut seen = BTreeSet::new();
    let mut leaders = Vec::new();
    for i in cluster.up() {
        let doc = cluster
            .get_json(&format!("{}/readyz", cluster.instances[i].url))
            .await?;
        seen.insert((
            doc["epoch"].as_u64()?,
            doc["leader_id"].as_str()?.to_string(),
        ));
        if doc["leader"] == true {
            leaders.push(i);
        }
    }
    if seen.len() != 1 || leaders.len() != 1 {
        return None;
    }
    Some((leaders[0], seen.pop_first()?))
}

async fn metric(http: &reqwest::Client, url: &str, name: &str) -> Option<f64> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

impl Storm {
    /// Opens the watchers on `leader`, all after revision `after`, and
    /// starts polling leadership; `known` is the (epoch, leader) every
    /// instance agreed on just before.
    pub async fn start(
        cluster: &Cluster,
        leader: usize,
        known: (u64, String),
        after: u64,
        size: StormSize,
    ) -> Self {
        let url = cluster.instances[leader].url.clone();
        let renewal_failures_before =
            metric(&cluster.http, &url, "hydrogen_lease_renewal_failures_total").await;
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            after,
            started_ms: now_ms(),
            events: Mutex::new(BTreeMap::new()),
            latencies_ms: Mutex::new(Vec::new()),
        });
        // Streams live as long as the storm: no overall timeout.
        let streaming = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let mut watchers = Vec::new();
        for n in 0..size.sse {
            let d = Arc::new(Mutex::new(Delivered::default()));
            watchers.push(Arc::clone(&d));
            tokio::spawn(sse_watcher(
                streaming.clone(),
                url.clone(),
                d,
                Arc::clone(&shared),
                n % SAMPLE_EVERY == 0,
                stop.clone(),
            ));
        }
        let mut n = 0;
        while n < size.grpc {
            let count = STREAMS_PER_CHANNEL.min(size.grpc - n);
            let ds: Vec<Arc<Mutex<Delivered>>> = (0..count)
                .map(|_| Arc::new(Mutex::new(Delivered::default())))
                .collect();
            watchers.extend(ds.iter().cloned());
            tokio::spawn(grpc_watchers(
                url.clone(),
                ds,
                n,
                Arc::clone(&shared),
                stop.clone(),
            ));
            n += count;
        }
        let leaderships = Arc::new(Mutex::new(BTreeSet::from([known])));
        tokio::spawn(poll_leadership(
            cluster.http.clone(),
            cluster.instances.iter().map(|p| p.url.clone()).collect(),
            Arc::clone(&leaderships),
            stop.clone(),
        ));
        Self {
            leader,
            after,
            started: Instant::now(),
            size,
            stop,
            watchers,
            shared,
            leaderships,
            renewal_failures_before,
        }
    }

    /// Lets every watcher catch up with the furthest one, closes them all
    /// and sums up.
    pub async fn finish(self, cluster: &Cluster) -> StormOutcome {
        let seconds = self.started.elapsed().as_secs_f64();
        let last = |d: &Arc<Mutex<Delivered>>| d.lock().map_or(0, |d| d.last());
        let until = self
            .watchers
            .iter()
            .map(last)
            .max()
            .unwrap_or(0)
            .max(self.after);
        let deadline = Instant::now() + CATCH_UP;
        loop {
            let behind = self.watchers.iter().any(|d| {
                d.lock()
                    .map(|d| !d.done && d.last().max(self.after) < until)
                    .unwrap_or(false)
            });
            if !behind || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let leader = &cluster.instances[self.leader];
        let leader_rss_mb = leader.pid().and_then(rss_mb);
        let failures_after = metric(
            &cluster.http,
            &leader.url,
            "hydrogen_lease_renewal_failures_total",
        )
        .await;
        self.stop.cancel();

        let mut problems: BTreeMap<String, usize> = BTreeMap::new();
        let mut sequences: BTreeMap<Vec<u64>, usize> = BTreeMap::new();
        let mut events_delivered = 0;
        let (mut sse_opened, mut grpc_opened) = (0, 0);
        for (n, d) in self.watchers.iter().enumerate() {
            let Ok(d) = d.lock() else { continue };
            let kind = if n < self.size.sse { "SSE" } else { "gRPC" };
            let opened = !d.problems.iter().any(|p| p.starts_with("could not open"));
            if opened && n < self.size.sse {
                sse_opened += 1;
            } else if opened {
                grpc_opened += 1;
            }
            for p in &d.problems {
                *problems.entry(format!("{kind} watcher: {p}")).or_default() += 1;
            }
            if !d.done && d.last().max(self.after) < until {
                *problems
                    .entry(format!(
                        "{kind} watcher had not caught up with revision {until} {CATCH_UP:?} after the storm"
                    ))
                    .or_default() += 1;
            }
            events_delivered += d.revisions.len() as u64;
            let seq: Vec<u64> = d
                .revisions
                .iter()
                .copied()
                .filter(|r| *r <= until)
                .collect();
            *sequences.entry(seq).or_default() += 1;
        }
        let events = self
            .shared
            .events
            .lock()
            .map(|e| e.range(..=until).map(|(r, s)| (*r, s.clone())).collect())
            .unwrap_or_default();
        let watch_problems = problems
            .into_iter()
            .map(|(p, count)| format!("{count} of the storm's watchers: {p}"))
            .collect();
        let leaderships: Vec<(u64, String)> = self
            .leaderships
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default();
        let leadership_problems = if leaderships.len() > 1 {
            vec![format!(
                "leadership changed during a storm of {} SSE and {} gRPC watchers on instance {}: (epoch, leader) {leaderships:?}",
                self.size.sse, self.size.grpc, self.leader
            )]
        } else {
            Vec::new()
        };
        let latencies_ms = self
            .shared
            .latencies_ms
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        StormOutcome {
            record: StormRecord {
                after: self.after,
                until,
                sequences,
                events,
            },
            watch_problems,
            leadership_problems,
            figures: StormFigures {
                sse_opened,
                grpc_opened,
                seconds,
                events_delivered,
                latencies_ms,
                leadership_changes: leaderships.len().saturating_sub(1),
                lease_renewal_failures: self
                    .renewal_failures_before
                    .zip(failures_after)
                    .map(|(b, a)| a - b),
                leader_rss_mb,
            },
        }
    }
}

/// Every instance's (epoch, leader) every 250 ms until `stop`.
async fn poll_leadership(
    http: reqwest::Client,
    urls: Vec<String>,
    seen: Arc<Mutex<BTreeSet<(u64, String)>>>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        for url in &urls {
            let answer = http
                .get(format!("{url}/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            let Ok(response) = answer else { continue };
            let Ok(doc) = response.json::<Value>().await else {
                continue;
            };
            if let (Some(id), Some(epoch)) = (doc["leader_id"].as_str(), doc["epoch"].as_u64())
                && let Ok(mut s) = seen.lock()
            {
                s.insert((epoch, id.to_string()));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// One SSE frame's `id`, `event` and `data`.
fn parse_frame(frame: &str) -> (Option<&str>, Option<&str>, String) {
    let (mut id, mut event, mut data) = (None, None, String::new());
    for line in frame.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value),
            "event" => event = Some(value),
            "data" => {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            _ => {}
        }
    }
    (id, event, data)
}

/// A task event's SSE data as the checks compare it.
fn seen_of_sse(data: &str) -> Option<(Seen, u64)> {
    let e: hydrogen::store::TaskEvent = serde_json::from_str(data).ok()?;
    Some((
        Seen {
            revision: e.revision,
            task_id: e.task_id,
            state: hydrogen::api::convert::task_state_to_proto(e.state) as i32,
            healthy: e.healthy,
            message: e.message,
        },
        e.timestamp_ms,
    ))
}

async fn sse_watcher(
    http: reqwest::Client,
    url: String,
    d: Arc<Mutex<Delivered>>,
    shared: Arc<Shared>,
    sampled: bool,
    stop: CancellationToken,
) {
    let fail = |p: String| {
        if let Ok(mut d) = d.lock() {
            d.fail(p);
        }
    };
    let request = http
        .get(format!("{url}/v1/api/app/watch?after={}", shared.after))
        .header("accept", "text/event-stream")
        .send();
    let response = tokio::select! {
        r = request => r,
        _ = stop.cancelled() => return,
    };
    let response = match response {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return fail(format!("could not open: HTTP {}", r.status())),
        Err(e) => return fail(format!("could not open: {e}")),
    };
    let mut body = response.bytes_stream();
    let mut buf = String::new();
    loop {
        let chunk = tokio::select! {
            c = body.next() => c,
            _ = stop.cancelled() => return,
        };
        let bytes = match chunk {
            Some(Ok(b)) => b,
            Some(Err(e)) => return fail(format!("the stream failed: {e}")),
            None => return fail("the server ended the stream".into()),
        };
        buf.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let (id, event, data) = parse_frame(&frame);
            match event {
                Some("task") => match seen_of_sse(&data) {
                    Some((seen, ts)) if id == Some(seen.revision.to_string().as_str()) => {
                        shared.deliver(&d, seen, ts, sampled);
                    }
                    _ => fail(format!("an unreadable task event: {frame:?}")),
                },
                Some("error") => return fail(format!("an error event: {data}")),
                // Keep-alive comments.
                _ => {}
            }
        }
    }
}

/// `count` gRPC `WatchTasks` streams over one connection.
async fn grpc_watchers(
    url: String,
    ds: Vec<Arc<Mutex<Delivered>>>,
    first: usize,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let fail_all = |p: String| {
        for d in &ds {
            if let Ok(mut d) = d.lock() {
                d.fail(p.clone());
            }
        }
    };
    let channel = match tonic::transport::Channel::from_shared(url) {
        Ok(endpoint) => {
            endpoint
                .connect_timeout(Duration::from_secs(10))
                .connect()
                .await
        }
        Err(e) => return fail_all(format!("could not open: {e}")),
    };
    let channel = match channel {
        Ok(c) => c,
        Err(e) => return fail_all(format!("could not open: {e}")),
    };
    for (k, d) in ds.iter().enumerate() {
        let mut client = pb::app_service_client::AppServiceClient::new(channel.clone());
        let request = pb::WatchTasksRequest {
            app: None,
            after_revision: Some(shared.after),
            ..Default::default()
        };
        let d = Arc::clone(d);
        let shared = Arc::clone(&shared);
        let stop = stop.clone();
        let sampled = (first + k) % SAMPLE_EVERY == 0;
        tokio::spawn(async move {
            let fail = |p: String| {
                if let Ok(mut d) = d.lock() {
                    d.fail(p);
                }
            };
            let opened = tokio::select! {
                r = client.watch_tasks(request) => r,
                _ = stop.cancelled() => return,
            };
            let mut stream = match opened {
                Ok(s) => s.into_inner(),
                Err(status) => return fail(format!("could not open: {status}")),
            };
            loop {
                let next = tokio::select! {
                    n = stream.message() => n,
                    _ = stop.cancelled() => return,
                };
                match next {
                    Ok(Some(e)) => {
                        let ts = e.timestamp_ms;
                        let seen = Seen {
                            revision: e.revision,
                            task_id: e.task_id,
                            state: e.state,
                            healthy: e.healthy,
                            message: e.message,
                        };
                        shared.deliver(&d, seen, ts, sampled);
                    }
                    Ok(None) => return fail("the server ended the stream".into()),
                    Err(status) => return fail(format!("the stream failed: {status}")),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_frames_yield_id_event_and_joined_data() {
        let (id, event, data) = parse_frame("id: 7\nevent: task\ndata: {\"a\":\ndata: 1}\n\n");
        assert_eq!((id, event), (Some("7"), Some("task")));
        assert_eq!(data, "{\"a\":\n1}");
        let (id, event, _) = parse_frame(":\n\n");
        assert_eq!((id, event), (None, None));
    }
}
