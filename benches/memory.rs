//! Memory per tracked task at 100,000 tasks (1,000 apps × 100 instances):
//! a memory store holding the tasks (each written STAGING then RUNNING, so
//! the event log is full at its 100,000-event cap), then the scheduler's
//! model loaded from it as a new leader loads it
//! ([`hydrogen::scheduler::runtime::StatusBench`]). Measured two ways:
//! live heap bytes (a counting global allocator: exact) and VmRSS deltas
//! (what the OS sees, allocator slack included). Prints one JSON line.
//!
//! A second case measures what an app costs the leader at 10,000 apps:
//! a memory store and a leader [`Scheduler`] subscribed to `hydrogen sim`
//! (its own process, so its memory is not counted), then the apps created
//! with 0 instances (measured once the scheduler wrote every app's status),
//! then scaled to 1 instance (measured once every task is RUNNING). Heap
//! and RSS deltas over the leader before the apps, per app.
//!
//! `cargo bench --bench memory` (env `MEMORY_BENCH_TASKS`, default 100000;
//! `MEMORY_BENCH_APPS`, default 10000; `MEMORY_BENCH_CASE` `tasks` or `apps`
//! runs one case only). The heap figures do not depend on the build
//! profile, so `cargo test --bench memory` (dev profile) gives them too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hydrogen::scheduler::launch::new_task_id;
use hydrogen::scheduler::runtime::{Scheduler, SchedulerConfig, StatusBench};
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{Store, TaskBatch, TaskRecord, TaskState};
use hydrogen_tools::bench::fixtures::plain_app;
use hydrogen_tools::bench::procstat::rss_bytes;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PER_APP: usize = 100;

fn record(app: usize, i: usize, state: TaskState) -> TaskRecord {
    let name = format!("bench-{app}");
    let agent = (app * PER_APP + i) % 10_000 + 1;
    TaskRecord {
        state,
        ips: vec![format!("10.0.{}.{}", agent / 250, agent % 250 + 1)],
        ..TaskRecord::staging(
            new_task_id(&name, i as u32),
            name,
            i as u32,
            1,
            format!("0f3c2a9e-61b5-4c1e-9d4f-1a2b3c4d5e6f-S{agent}"),
            format!("agent-{agent}.sim"),
            1_700_000_000_000,
        )
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let case = std::env::var("MEMORY_BENCH_CASE").unwrap_or_default();
    if case.is_empty() || case == "tasks" {
        tasks_case();
    }
    if case.is_empty() || case == "apps" {
        apps_case();
    }
}

fn tasks_case() {
    let tasks: usize = std::env::var("MEMORY_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let apps = tasks.div_ceil(PER_APP);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let heap0 = LIVE.load(Ordering::Relaxed);
        let rss0 = rss_bytes();
        let store = Arc::new(MemoryStore::default());
        let lease = store
            .acquire_lease("bench", "127.0.0.1:0", Duration::from_secs(3600))
            .await
            .expect("store")
            .expect("free lease");
        for a in 0..apps {
            store
                .create_app(plain_app(&format!("bench-{a}"), PER_APP as u32, 0.1, 32.0))
                .await
                .expect("app");
        }
        let heap_apps = LIVE.load(Ordering::Relaxed);
        // The task ids are random per launch: keep this run's.
        let mut ids: Vec<Vec<String>> = Vec::with_capacity(apps);
        for a in 0..apps {
            let upserts: Vec<TaskRecord> = (0..PER_APP)
                .map(|i| record(a, i, TaskState::TaskStaging))
                .collect();
            ids.push(upserts.iter().map(|t| t.task_id.clone()).collect());
            store
                .apply(
                    lease.epoch,
                    TaskBatch {
                        upserts: upserts.into_iter().map(std::sync::Arc::new).collect(),
                        ..TaskBatch::default()
                    },
                )
                .await
                .expect("staging");
        }
        for (a, app_ids) in ids.iter().enumerate() {
            let upserts: Vec<TaskRecord> = app_ids
                .iter()
                .enumerate()
                .map(|(i, id)| TaskRecord {
                    task_id: id.clone(),
                    ..record(a, i, TaskState::TaskRunning)
                })
                .collect();
            store
                .apply(
                    lease.epoch,
                    TaskBatch {
                        upserts: upserts.into_iter().map(std::sync::Arc::new).collect(),
                        ..TaskBatch::default()
                    },
                )
                .await
                .expect("running");
        }
        drop(ids);
        let heap1 = LIVE.load(Ordering::Relaxed);
        let rss1 = rss_bytes();
        let model = StatusBench::load(store.clone(), lease.epoch)
            .await
            .expect("model loads");
        assert_eq!(model.tasks(), apps * PER_APP);
        let heap2 = LIVE.load(Ordering::Relaxed);
        let rss2 = rss_bytes();
        let n = (apps * PER_APP) as f64;
        let per = |bytes: usize| bytes as f64 / n;
        let store_tasks_heap = heap1.saturating_sub(heap_apps);
        let model_heap = heap2.saturating_sub(heap1);
        let report = serde_json::json!({
            "tasks": apps * PER_APP,
            "apps": apps,
            "store_heap_bytes_per_task": per(store_tasks_heap),
            "model_heap_bytes_per_task": per(model_heap),
            "heap_bytes_per_task": per(store_tasks_heap + model_heap),
            "store_rss_bytes_per_task": per(rss1.saturating_sub(rss0) as usize),
            "model_rss_bytes_per_task": per(rss2.saturating_sub(rss1) as usize),
            "rss_bytes_per_task": per(rss2.saturating_sub(rss0) as usize),
            "apps_heap_bytes": heap_apps.saturating_sub(heap0),
            "note": "heap: live bytes by a counting allocator; rss: VmRSS deltas (allocator slack and freed-but-kept pages included); the store holds each task's record and, with the event log at its 100,000-event cap, about one event per task",
        });
        println!("{report}");
        drop(model);
    });
}

/// `hydrogen sim` in its own process: its memory is not the leader's.
struct SimProcess {
    url: String,
    child: std::process::Child,
}

impl SimProcess {
    fn start(agents: usize) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hydrogen"))
            .args(["sim", "--listen", "127.0.0.1:0", "--agents"])
            .arg(agents.to_string())
            .args([
                "--allocation-interval",
                "100ms",
                "--task-start-delay",
                "10ms",
            ])
            .env("HYDROGEN_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("hydrogen sim starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the simulator prints its address")
                .expect("utf-8");
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self { url, child }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` every 100 ms until it holds; panics after `deadline`.
async fn until(what: &str, deadline: Duration, mut done: impl AsyncFnMut() -> bool) {
    let end = tokio::time::Instant::now() + deadline;
    while !done().await {
        assert!(tokio::time::Instant::now() < end, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What an app with no task may cost the leader (issue 16): 3 KB, of
/// heap and of RSS.
const APP_TARGET_BYTES: f64 = 3000.0;

fn apps_case() {
    let apps: usize = std::env::var("MEMORY_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // 0.01 cpu and 4 MB each: 100 default agents (4 cpus, 8 GB) hold 10,000.
    let sim = SimProcess::start(apps.div_ceil(100).max(1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Arc::new(MemoryStore::default());
        let lease = store
            .acquire_lease("bench", "127.0.0.1:0", Duration::from_secs(3600))
            .await
            .expect("store")
            .expect("free lease");
        let master = reqwest::Url::parse(&sim.url).expect("sim url");
        let mut config = SchedulerConfig::new(vec![master]);
        config.status_interval = Duration::from_millis(200);
        let cancel = tokio_util::sync::CancellationToken::new();
        let scheduler = tokio::spawn(
            Scheduler::new(store.clone(), lease.epoch, config).run(cancel.clone()),
        );
        until("subscribed", Duration::from_secs(60), async || {
            store.framework_id().await.ok().flatten().is_some()
        })
        .await;
        // Let the first reconciliation and offer rounds settle.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let heap0 = LIVE.load(Ordering::Relaxed);
        let rss0 = rss_bytes();
        let names: Vec<String> = (0..apps).map(|a| format!("bench-app-{a}")).collect();
        for chunk in names.chunks(500) {
            let specs = chunk.iter().map(|n| plain_app(n, 0, 0.01, 4.0)).collect();
            store.create_apps(specs).await.expect("apps");
        }
        until("a status for every app", Duration::from_secs(600), async || {
            store
                .view_snapshot()
                .await
                .is_ok_and(|s| s.statuses.len() >= apps)
        })
        .await;
        // One more status round, so the figures are of a steady state.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let heap_zero = LIVE.load(Ordering::Relaxed);
        let rss_zero = rss_bytes();
        for name in &names {
            store
                .update_app(plain_app(name, 1, 0.01, 4.0), None)
                .await
                .expect("scale to 1");
        }
        until("every task RUNNING", Duration::from_secs(1200), async || {
            store.list_tasks().await.is_ok_and(|t| {
                t.iter().filter(|t| t.state == TaskState::TaskRunning).count() >= apps
            })
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let heap_one = LIVE.load(Ordering::Relaxed);
        let rss_one = rss_bytes();
        cancel.cancel();
        let _ = scheduler.await;
        let per = |bytes: i128| bytes as f64 / apps as f64;
        let zero = per(heap_zero as i128 - heap0 as i128);
        let zero_rss = per(rss_zero as i128 - rss0 as i128);
        let report = serde_json::json!({
            "case": "apps",
            "apps": apps,
            "heap_bytes_per_app_0_instances": zero,
            "rss_bytes_per_app_0_instances": zero_rss,
            "target_bytes_per_app_0_instances": APP_TARGET_BYTES,
            "within_target": zero < APP_TARGET_BYTES && zero_rss < APP_TARGET_BYTES,
            "heap_bytes_per_app_1_instance": per(heap_one as i128 - heap0 as i128),
            "rss_bytes_per_app_1_instance": per(rss_one as i128 - rss0 as i128),
            "note": "leader = memory store + scheduler subscribed to hydrogen sim (another process: its memory is not in these figures); heap: live bytes by a counting allocator; rss: VmRSS deltas of this process (the leader), allocator slack included",
        });
        println!("{report}");
    });
}
