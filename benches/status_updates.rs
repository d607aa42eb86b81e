//! Status-update handling per update with the memory store: the
//! scheduler's own path ([`hydrogen::scheduler::runtime::StatusBench`]:
//! model update, backoff and readiness bookkeeping, re-plan of the touched
//! apps, one fenced `store.apply` per batch), on batches of 512 updates
//! (the event loop's batch size) for 10,000 tracked tasks. The
//! ACKNOWLEDGE calls are not included (no Mesos session); the end-to-end
//! storm (`hydrogen bench e2e`) measures them.
//!
//! Also `store_apply_only`: just the store write of a batch.
//!
//! `cargo bench --bench status_updates`

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hydrogen::bench::fixtures::plain_app;
use hydrogen::mesos::v1;
use hydrogen::scheduler::runtime::StatusBench;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{Store, TaskBatch, TaskRecord, TaskState};

const APPS: usize = 100;
const PER_APP: u32 = 100;
const BATCH: usize = 512;

fn task_id(app: usize, i: u32) -> String {
    format!("bench-{app}.{i}.0b6f2a9e-61b5-4c1e-9d4f-1a2b3c4d5e{i:02x}")
}

async fn seeded() -> (Arc<MemoryStore>, u64) {
    let store = Arc::new(MemoryStore::default());
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
        let upserts = (0..PER_APP)
            .map(|i| TaskRecord {
                task_id: task_id(a, i),
                app: format!("bench-{a}"),
                instance: i,
                app_version: 1,
                agent_id: format!("bench-master-S{}", (a * 100 + i as usize) % 1000),
                hostname: format!("agent-{}.sim", (a * 100 + i as usize) % 1000),
                state: TaskState::TaskRunning,
                healthy: None,
                ips: vec!["10.0.3.7".into()],
                message: String::new(),
                kill_sent: false,
                created_ms: 1,
                updated_ms: 1,
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
            .expect("seed");
    }
    (store, lease.epoch)
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
                uuid: Some(bytes::Bytes::copy_from_slice(
                    &(n * BATCH + k).to_le_bytes(),
                )),
                timestamp: Some(1.7e9),
                ..Default::default()
            };
            s.set_state(v1::TaskState::TaskRunning);
            s
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, epoch) = rt.block_on(seeded());
    let mut handler = rt
        .block_on(StatusBench::load(store.clone(), epoch))
        .expect("model loads");
    assert_eq!(handler.tasks(), APPS * PER_APP as usize);

    let mut group = c.benchmark_group("status_updates");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(30);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    let mut n = 0usize;
    group.bench_function("runtime_batch_512_memory_store", |b| {
        b.iter_batched(
            || {
                n += 1;
                updates(n)
            },
            |batch| rt.block_on(handler.handle(batch)).expect("handled"),
            BatchSize::SmallInput,
        )
    });
    let mut m = 0usize;
    group.bench_function("store_apply_only_512", |b| {
        b.iter_batched(
            || {
                m += 1;
                let healthy = Some(m % 2 == 0);
                let upserts = (0..BATCH)
                    .map(|k| {
                        let slot = (m * BATCH + k) % (APPS * PER_APP as usize);
                        let (a, i) = (slot / PER_APP as usize, (slot % PER_APP as usize) as u32);
                        TaskRecord {
                            task_id: task_id(a, i),
                            app: format!("bench-{a}"),
                            instance: i,
                            app_version: 1,
                            agent_id: format!("bench-master-S{}", slot % 1000),
                            hostname: format!("agent-{}.sim", slot % 1000),
                            state: TaskState::TaskRunning,
                            healthy,
                            ips: vec!["10.0.3.7".into()],
                            message: String::new(),
                            kill_sent: false,
                            created_ms: 1,
                            updated_ms: 2,
                        }
                    })
                    .collect();
                TaskBatch {
                    upserts,
                    ..TaskBatch::default()
                }
            },
            |batch| rt.block_on(store.apply(epoch, batch)).expect("applied"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
