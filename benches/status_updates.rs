//! Status-update handling per update, with the memory store and with a
//! real `redis-server` (AOF, `appendfsync always`: what "persisted" means
//! in production), on batches of 512 updates (the event loop's batch size)
//! for 10,000 tracked tasks:
//!
//! - `persisted_acked_512_{memory,redis}_store`: the scheduler's own path
//!   ([`hydrogen::scheduler::runtime::StatusBench`]: model update, backoff
//!   and readiness bookkeeping, re-plan of the touched apps, one fenced
//!   `store.apply` per batch, then the ACKNOWLEDGE calls through the
//!   background sender) against the simulated master over loopback HTTP;
//!   the clock stops when every acknowledgement was answered. Targets:
//!   over 20,000 updates/s (memory), over 5,000 updates/s (Redis). The
//!   simulator runs on its own threads; its share of the CPU is printed.
//! - `runtime_batch_512_*`: the same without Mesos (no acknowledgements).
//! - `store_apply_only_512_*`: just the store write of a batch.
//!
//! `cargo bench --bench status_updates` (needs `redis-server` on PATH).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hydrogen::mesos::v1;
use hydrogen::scheduler::runtime::StatusBench;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::redis::{RedisOptions, RedisStore};
use hydrogen::store::{Store, TaskBatch, TaskRecord, TaskState};
use hydrogen_sim::{SimConfig, Simulator};
use hydrogen_testkit::procs;
use hydrogen_tools::bench::fixtures::plain_app;
use hydrogen_tools::bench::procstat;

/// Name prefix of the simulator's threads, to tell its CPU time apart
/// (under 16 bytes: Linux keeps 15 of a thread name).
const SIM_THREADS: &str = "bench-sim";

const APPS: usize = 100;
const PER_APP: u32 = 100;
const BATCH: usize = 512;

fn task_id(app: usize, i: u32) -> String {
    format!("bench-{app}.{i}.0b6f2a9e-61b5-4c1e-9d4f-1a2b3c4d5e{i:02x}")
}

async fn seeded<S: Store>(store: Arc<S>) -> (Arc<S>, hydrogen::store::Epoch) {
    let lease = store
        .acquire_lease("bench", "127.0.0.1:0", Duration::from_secs(3600))
        .await
        .expect("store")
        .expect("free lease");
    for a in 0..APPS {
        store
            .create_app(plain_app(&format!("bench-{a}"), PER_APP, 0.1, 32.0))
            .await
            .expect("app");
        let upserts: Vec<TaskRecord> = (0..PER_APP).map(|i| running(a, i, None, 1)).collect();
        store
            .apply(
                lease.epoch,
                TaskBatch {
                    upserts: upserts.into_iter().map(std::sync::Arc::new).collect(),
                    ..TaskBatch::default()
                },
            )
            .await
            .expect("seed");
    }
    (store, lease.epoch)
}

/// A distinct UUID (version nibble 4, as Mesos checks) per update.
fn uuid(n: usize) -> bytes::Bytes {
    let mut raw = (n as u128).to_le_bytes();
    raw[6] = 0x40;
    bytes::Bytes::copy_from_slice(&raw)
}

/// Batch `n` of updates: RUNNING with health flipping, so every update
/// changes what a user sees (a store write and an event each).
fn updates(n: usize) -> Vec<v1::TaskStatus> {
    (0..BATCH)
        .map(|k| {
            let slot = (n * BATCH + k) % (APPS * PER_APP as usize);
            let (a, i) = (slot / PER_APP as usize, (slot % PER_APP as usize) as u32);
            let mut s = v1::TaskStatus {
                task_id: v1::TaskId {
                    value: task_id(a, i),
                },
                agent_id: Some(v1::AgentId {
                    value: format!("bench-master-S{}", slot % 1000),
                }),
                healthy: Some((n / 20) % 2 == 0),
                uuid: Some(uuid(n * BATCH + k)),
                timestamp: Some(1.7e9),
                ..Default::default()
            };
            s.set_state(v1::TaskState::TaskRunning);
            s
        })
        .collect()
}

/// Slot `i` of app `a`, RUNNING on its agent since `updated_ms`.
fn running(a: usize, i: u32, healthy: Option<bool>, updated_ms: u64) -> TaskRecord {
    let agent = (a * PER_APP as usize + i as usize) % 1000;
    TaskRecord {
        state: TaskState::TaskRunning,
        healthy,
        ips: vec!["10.0.3.7".into()],
        updated_ms,
        ..TaskRecord::staging(
            task_id(a, i),
            format!("bench-{a}"),
            i,
            1,
            format!("bench-master-S{agent}"),
            format!("agent-{agent}.sim"),
            1,
        )
    }
}

fn apply_batch(m: usize) -> TaskBatch {
    let healthy = Some(m % 2 == 0);
    let upserts: Vec<TaskRecord> = (0..BATCH)
        .map(|k| {
            let slot = (m * BATCH + k) % (APPS * PER_APP as usize);
            let (a, i) = (slot / PER_APP as usize, (slot % PER_APP as usize) as u32);
            running(a, i, healthy, 2)
        })
        .collect();
    TaskBatch {
        upserts: upserts.into_iter().map(std::sync::Arc::new).collect(),
        ..TaskBatch::default()
    }
}

/// The three benchmarks over one store; `master` is the simulator's URL.
fn bench_store<S: Store>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    label: &str,
    store: Arc<S>,
    master: &str,
) {
    let (store, epoch) = rt.block_on(seeded(store));
    let url = reqwest::Url::parse(master).expect("sim url");
    let mut acking = rt
        .block_on(StatusBench::load_with_master(store.clone(), epoch, url))
        .expect("model loads and subscribes");
    assert_eq!(acking.tasks(), APPS * PER_APP as usize);
    let mut plain = rt
        .block_on(StatusBench::load(store.clone(), epoch))
        .expect("model loads");

    let mut group = c.benchmark_group("status_updates");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(4));

    let mut n = 0usize;
    let (mut cpu_total, mut cpu_sim) = (0.0f64, 0.0f64);
    group.bench_function(format!("persisted_acked_512_{label}_store"), |b| {
        b.iter_custom(|iters| {
            let batches: Vec<_> = (0..iters)
                .map(|_| {
                    n += 1;
                    updates(n)
                })
                .collect();
            let (total0, sim0) = (
                procstat::process_cpu_seconds(),
                procstat::threads_cpu_seconds(SIM_THREADS),
            );
            let start = Instant::now();
            rt.block_on(async {
                for batch in batches {
                    acking.handle(batch).await.expect("handled");
                }
                acking.acked().await
            });
            let elapsed = start.elapsed();
            cpu_total += procstat::process_cpu_seconds() - total0;
            cpu_sim += procstat::threads_cpu_seconds(SIM_THREADS) - sim0;
            elapsed
        })
    });
    let (answered, failed) = rt.block_on(acking.acked());
    println!(
        "status_updates {label}: {answered} acknowledgements answered, {failed} failed; \
         simulator CPU share {:.0}% ({cpu_sim:.2} of {cpu_total:.2} CPU s)",
        if cpu_total > 0.0 {
            100.0 * cpu_sim / cpu_total
        } else {
            0.0
        }
    );

    let mut n = 1_000_000usize;
    group.bench_function(format!("runtime_batch_512_{label}_store"), |b| {
        b.iter_batched(
            || {
                n += 1;
                updates(n)
            },
            |batch| rt.block_on(plain.handle(batch)).expect("handled"),
            BatchSize::SmallInput,
        )
    });
    let mut m = 0usize;
    group.bench_function(format!("store_apply_only_512_{label}"), |b| {
        b.iter_batched(
            || {
                m += 1;
                apply_batch(m)
            },
            |batch| rt.block_on(store.apply(epoch, batch)).expect("applied"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The simulated master on its own thread, as in `hydrogen bench e2e`.
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(SIM_THREADS)
        .enable_all()
        .build()
        .expect("sim runtime");
    let sim = sim_rt
        .block_on(Simulator::start(SimConfig {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            agents: Vec::new(),
            ..SimConfig::default()
        }))
        .expect("simulator starts");

    bench_store(
        c,
        &rt,
        "memory",
        Arc::new(MemoryStore::default()),
        &sim.url(),
    );

    let redis = procs::Redis::start();
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let store = rt
        .block_on(RedisStore::connect(&url, RedisOptions::default()))
        .expect("redis store");
    bench_store(c, &rt, "redis", Arc::new(store), &sim.url());
    drop(redis);
    sim_rt.block_on(sim.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
