//! Memory per tracked task at 100,000 tasks (1,000 apps × 100 instances):
//! a memory store holding the tasks (each written STAGING then RUNNING, so
//! the event log is full at its 100,000-event cap), then the scheduler's
//! model loaded from it as a new leader loads it
//! ([`hydrogen::scheduler::runtime::StatusBench`]). Measured two ways:
//! live heap bytes (a counting global allocator: exact) and VmRSS deltas
//! (what the OS sees, allocator slack included). Prints one JSON line.
//!
//! `cargo bench --bench memory` (env `MEMORY_BENCH_TASKS`, default 100000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hydrogen::bench::fixtures::plain_app;
use hydrogen::bench::procstat::rss_bytes;
use hydrogen::scheduler::launch::new_task_id;
use hydrogen::scheduler::runtime::StatusBench;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{Store, TaskBatch, TaskRecord, TaskState};

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
        task_id: new_task_id(&name, i as u32),
        app: name,
        instance: i as u32,
        app_version: 1,
        agent_id: format!("0f3c2a9e-61b5-4c1e-9d4f-1a2b3c4d5e6f-S{agent}"),
        hostname: format!("agent-{agent}.sim"),
        state,
        healthy: None,
        ips: vec![format!("10.0.{}.{}", agent / 250, agent % 250 + 1)],
        ports: Vec::new(),
        message: String::new(),
        kill_sent: false,
        created_ms: 1_700_000_000_000,
        updated_ms: 1_700_000_000_000,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
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
                        upserts,
                        ..TaskBatch::default()
                    },
                )
                .await
                .expect("staging");
        }
        for (a, app_ids) in ids.iter().enumerate() {
            let upserts = app_ids
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
                        upserts,
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
