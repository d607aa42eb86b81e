//! The Redis store against a real `redis-server` (the testkit's
//! `redis_server`, the one the integration tests use too).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hydrogen_testkit::redis_server::Redis as TestRedis;

use super::*;
use crate::store::TaskState;

static PREFIXES: AtomicUsize = AtomicUsize::new(0);

fn fresh_prefix() -> String {
    format!("test{}", PREFIXES.fetch_add(1, Ordering::Relaxed))
}

async fn store_with(server: &TestRedis, prefix: &str, capacity: usize) -> RedisStore {
    RedisStore::connect(&server.url(), options(prefix, capacity))
        .await
        .expect("connect to the test redis")
}

fn options(prefix: &str, capacity: usize) -> RedisOptions {
    RedisOptions {
        prefix: prefix.to_string(),
        event_log_capacity: capacity,
        timeout: Duration::from_millis(700),
        ..RedisOptions::default()
    }
}

/// A store whose changes feed moves only by pub/sub messages (its fallback
/// poll is an hour), to prove the messages arrive.
async fn pubsub_only_store(server: &TestRedis, prefix: &str) -> RedisStore {
    RedisStore::connect(
        &server.url(),
        RedisOptions {
            changes_poll_interval: Duration::from_secs(3600),
            ..options(prefix, 100)
        },
    )
    .await
    .expect("connect to the test redis")
}

async fn raw(server: &TestRedis) -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(server.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection")
}

use crate::store::conformance::{TTL, app, task};

/// Waits until the receiver holds a value satisfying `ok`.
async fn wait_for(rx: &mut watch::Receiver<Changes>, ok: impl Fn(&Changes) -> bool) {
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|c| ok(c)))
        .await
        .expect("the changes feed moved in time")
        .expect("the store is alive");
}

/// Each case on its own `redis-server`.
mod conformance {
    use super::*;
    crate::store::conformance::conformance_tests!(async {
        let server = TestRedis::start_volatile();
        let store = store_with(&server, &fresh_prefix(), 8).await;
        (server, store)
    });
}

#[test]
fn redact_hides_the_password() {
    assert_eq!(
        redact_url("redis://:s3cret@db.example:6379/2"),
        "redis://:***@db.example:6379/2"
    );
    assert_eq!(
        redact_url("redis://user:s3cret@db:6379"),
        "redis://user:***@db:6379"
    );
    assert_eq!(redact_url("redis://db:6379/0"), "redis://db:6379/0");
}

#[tokio::test]
async fn two_instances_see_each_others_writes_and_changes() {
    let server = TestRedis::start_volatile();
    let prefix = fresh_prefix();
    let a = pubsub_only_store(&server, &prefix).await;
    let b = pubsub_only_store(&server, &prefix).await;
    let mut a_changes = a.changes();
    let mut b_changes = b.changes();

    a.create_app(app("web", "x")).await.expect("create on a");
    let seen = b
        .get_app("web")
        .await
        .expect("get on b")
        .expect("b sees it");
    assert_eq!(seen.version, 1);
    wait_for(&mut a_changes, |c| c.apps >= 1).await;
    wait_for(&mut b_changes, |c| c.apps >= 1).await;

    let lease = b
        .acquire_lease("b", "addr-b", TTL)
        .await
        .expect("acquire")
        .expect("free");
    assert_eq!(a.leader().await.expect("leader"), Some(lease.clone()));
    let events = b
        .apply(
            lease.epoch,
            TaskBatch {
                upserts: vec![Arc::new(task("web", 0, "web.0.a", TaskState::TaskStaging))],
                ..Default::default()
            },
        )
        .await
        .expect("apply on b");
    assert_eq!(events.len(), 1);
    wait_for(&mut a_changes, |c| c.events >= 1).await;
    wait_for(&mut b_changes, |c| c.events >= 1).await;
    assert_eq!(a.app_tasks("web").await.expect("tasks on a").len(), 1);
    let page = a.events_after(0, 10).await.expect("events on a");
    assert_eq!(page.events, events);

    // An update through b is a conflict-free versioned write seen by a.
    b.update_app(app("web", "y"), Some(1))
        .await
        .expect("update on b");
    assert_eq!(
        a.update_app(app("web", "z"), Some(1)).await,
        Err(StoreError::VersionMismatch {
            name: "web".into(),
            expected: 1,
            actual: 2
        })
    );
    wait_for(&mut a_changes, |c| c.apps >= 2).await;
}

#[tokio::test]
async fn a_deposed_leader_writes_nothing() {
    let server = TestRedis::start_volatile();
    let prefix = fresh_prefix();
    let old = store_with(&server, &prefix, 100).await;
    let new = store_with(&server, &prefix, 100).await;
    let first = old
        .acquire_lease("old", "a", Duration::from_millis(100))
        .await
        .expect("acquire")
        .expect("free");
    old.set_framework_id(first.epoch, "fw-1")
        .await
        .expect("framework id");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = new
        .acquire_lease("new", "b", TTL)
        .await
        .expect("acquire")
        .expect("expired lease is free");
    assert!(second.epoch > first.epoch);
    let before = new.events_after(0, 100).await.expect("events").head;
    let stale = old
        .apply(
            first.epoch,
            TaskBatch {
                upserts: vec![Arc::new(task("web", 0, "web.0.a", TaskState::TaskRunning))],
                removals: vec!["nothing".into()],
                app_removals: vec!["web".into()],
                statuses: vec![Arc::new(AppStatus {
                    app: "web".into(),
                    ..Default::default()
                })],
            },
        )
        .await;
    assert_eq!(
        stale,
        Err(StoreError::Fenced {
            offered: first.epoch,
            current: second.epoch
        })
    );
    assert!(matches!(
        old.set_framework_id(first.epoch, "fw-stale").await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(new.list_tasks().await.expect("tasks").is_empty());
    assert_eq!(new.app_status("web").await.expect("status"), None);
    assert_eq!(new.events_after(0, 100).await.expect("events").head, before);
    assert_eq!(
        new.framework_id().await.expect("framework id"),
        Some("fw-1".into())
    );
    assert!(
        !old.renew_lease(&first, TTL).await.expect("renew"),
        "the old lease cannot be renewed"
    );
    old.release_lease(&first).await.expect("release");
    assert_eq!(
        new.leader().await.expect("leader"),
        Some(second),
        "releasing a stale lease leaves the new one alone"
    );
}

#[tokio::test]
async fn an_epoch_is_the_servers_clock_or_one_above_the_last() {
    let server = TestRedis::start_volatile();
    let prefix = fresh_prefix();
    let store = store_with(&server, &prefix, 100).await;
    let mut conn = raw(&server).await;
    let server_micros = async |conn: &mut ::redis::aio::MultiplexedConnection| {
        let (secs, micros): (u64, u64) =
            ::redis::cmd("TIME").query_async(conn).await.expect("TIME");
        secs * 1_000_000 + micros
    };
    let before = server_micros(&mut conn).await;
    let first = store
        .acquire_lease("a", "a", TTL)
        .await
        .expect("acquire")
        .expect("free");
    let after = server_micros(&mut conn).await;
    assert!(
        (before..=after).contains(&first.epoch.0),
        "{before} <= {} <= {after}",
        first.epoch.0
    );
    store.release_lease(&first).await.expect("release");

    // A clock behind the last epoch (set back, or a node whose clock lags
    // the one that granted it) still moves the epoch up.
    let ahead = after + 3_600_000_000;
    let _: () = ::redis::cmd("SET")
        .arg(format!("{prefix}:epoch"))
        .arg(ahead)
        .query_async(&mut conn)
        .await
        .expect("set");
    let next = store
        .acquire_lease("a", "a", TTL)
        .await
        .expect("acquire")
        .expect("free");
    assert_eq!(next.epoch, Epoch(ahead + 1));
    store.release_lease(&next).await.expect("release");

    let _: () = ::redis::cmd("SET")
        .arg(format!("{prefix}:epoch"))
        .arg("seven")
        .query_async(&mut conn)
        .await
        .expect("set");
    let err = store
        .acquire_lease("a", "a", TTL)
        .await
        .expect_err("a corrupt epoch grants nothing");
    assert!(
        err.to_string().contains(&format!("{prefix}:epoch")),
        "{err}"
    );
    assert_eq!(store.leader().await.expect("leader"), None);
}

#[tokio::test]
async fn prefixes_do_not_mix() {
    let server = TestRedis::start_volatile();
    let one = store_with(&server, "one", 100).await;
    let two = store_with(&server, "one2", 100).await;
    one.create_app(app("web", "x")).await.expect("create");
    let lease = one
        .acquire_lease("a", "a", TTL)
        .await
        .expect("acquire")
        .expect("free");
    one.apply(
        lease.epoch,
        TaskBatch {
            upserts: vec![Arc::new(task("web", 0, "web.0.a", TaskState::TaskStaging))],
            ..Default::default()
        },
    )
    .await
    .expect("apply");
    assert!(two.list_apps().await.expect("apps").is_empty());
    assert!(two.list_tasks().await.expect("tasks").is_empty());
    assert!(two.app_tasks("web").await.expect("tasks").is_empty());
    assert_eq!(two.leader().await.expect("leader"), None);
    assert_eq!(two.events_after(0, 10).await.expect("events").head, 0);
    let other = two
        .acquire_lease("b", "b", TTL)
        .await
        .expect("acquire")
        .expect("the other cluster's lease is its own");
    let mut conn = raw(&server).await;
    for (key, epoch) in [("one:epoch", lease.epoch), ("one2:epoch", other.epoch)] {
        let stored: u64 = ::redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("epoch");
        assert_eq!(Epoch(stored), epoch, "{key} is its own cluster's epoch");
    }
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("one:") || k.starts_with("one2:")),
        "{keys:?}"
    );
}

#[tokio::test]
async fn corrupt_records_are_reported_with_their_key_and_block_nothing_else() {
    let server = TestRedis::start_volatile();
    let prefix = fresh_prefix();
    let store = store_with(&server, &prefix, 100).await;
    let mut conn = raw(&server).await;
    let _: () = ::redis::cmd("HSET")
        .arg(format!("{prefix}:apps"))
        .arg("bad")
        .arg("{not json")
        .query_async(&mut conn)
        .await
        .expect("hset");
    let _: () = ::redis::cmd("HSET")
        .arg(format!("{prefix}:tasks"))
        .arg("bad.0.x")
        .arg("[]")
        .query_async(&mut conn)
        .await
        .expect("hset");
    match store.get_app("bad").await {
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains(&format!("{prefix}:apps")), "{message}");
            assert!(message.contains("bad"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let lease = store
        .acquire_lease("a", "a", TTL)
        .await
        .expect("acquire")
        .expect("free");
    let result = store
        .apply(
            lease.epoch,
            TaskBatch {
                upserts: vec![
                    Arc::new(task("web", 0, "web.0.a", TaskState::TaskStaging)),
                    Arc::new(task("bad", 0, "bad.0.x", TaskState::TaskRunning)),
                ],
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(&result, Err(StoreError::Corrupt(m)) if m.contains("bad.0.x")),
        "{result:?}"
    );
    assert_eq!(
        store.app_tasks("web").await.expect("tasks"),
        vec![],
        "a refused batch writes nothing"
    );
    assert_eq!(store.events_after(0, 10).await.expect("events").head, 0);
}

/// INFO commandstats calls of one command.
async fn calls(conn: &mut ::redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = ::redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .expect("info");
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn big_batch(n: u32, state: TaskState) -> TaskBatch {
    TaskBatch {
        upserts: (0..n)
            .map(|i| Arc::new(task("big", i, &format!("big.{i}.x"), state)))
            .collect(),
        ..Default::default()
    }
}

/// A store on `server` with room for 100,000 events, holding the lease,
/// with the batch script loaded (its first EVALSHA, NOSCRIPT, EVAL behind
/// it), and a connection of its own to count the server's calls with.
async fn leased_with_scripts_loaded(
    server: &TestRedis,
) -> (RedisStore, Epoch, ::redis::aio::MultiplexedConnection) {
    let store = store_with(server, &fresh_prefix(), 100_000).await;
    let lease = store
        .acquire_lease("a", "a", TTL)
        .await
        .expect("acquire")
        .expect("free");
    store
        .apply(lease.epoch, TaskBatch::default())
        .await
        .expect("warm up");
    let conn = raw(server).await;
    (store, lease.epoch, conn)
}

#[tokio::test]
async fn a_batch_of_1000_upserts_is_one_script_call() {
    let server = TestRedis::start_volatile();
    let (store, epoch, mut conn) = leased_with_scripts_loaded(&server).await;
    let (evalsha, eval) = (
        calls(&mut conn, "evalsha").await,
        calls(&mut conn, "eval").await,
    );
    let events = store
        .apply(epoch, big_batch(1000, TaskState::TaskStaging))
        .await
        .expect("apply");
    assert_eq!(events.len(), 1000);
    assert_eq!(calls(&mut conn, "evalsha").await, evalsha + 1);
    assert_eq!(calls(&mut conn, "eval").await, eval);
    assert_eq!(store.app_tasks("big").await.expect("tasks").len(), 1000);
}

/// A launch of many tasks is split into scripts of `APPLY_CHUNK`, so no
/// script holds Redis (and the lease's renewals) for long; the caller
/// still gets every event, in revision order, and the removals and
/// statuses of the batch land after every task.
#[tokio::test]
async fn a_large_batch_is_written_in_chunks_and_answers_as_one() {
    let server = TestRedis::start_volatile();
    let (store, epoch, mut conn) = leased_with_scripts_loaded(&server).await;
    let evalsha = calls(&mut conn, "evalsha").await;
    let n = u32::try_from(2 * super::APPLY_CHUNK + 7).expect("small");
    let mut batch = big_batch(n, TaskState::TaskStaging);
    batch.statuses = vec![Arc::new(AppStatus {
        app: "big".into(),
        waiting: 3,
        ..AppStatus::default()
    })];
    let events = store.apply(epoch, batch).await.expect("apply");
    assert_eq!(events.len(), n as usize);
    assert!(
        events
            .windows(2)
            .all(|w| w[0].revision + 1 == w[1].revision)
    );
    assert_eq!(calls(&mut conn, "evalsha").await, evalsha + 3);
    assert_eq!(
        store.app_tasks("big").await.expect("tasks").len(),
        n as usize
    );
    let status = store
        .app_status("big")
        .await
        .expect("read")
        .expect("written");
    assert_eq!(status.waiting, 3);
}

#[tokio::test]
async fn redis_down_is_unavailable_fast_and_recovers_after_restart() {
    let mut server = TestRedis::start_volatile();
    let prefix = fresh_prefix();
    let store = pubsub_only_store(&server, &prefix).await;
    store.create_app(app("web", "x")).await.expect("create");
    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let result = store.get_app("web").await;
        assert!(
            matches!(&result, Err(StoreError::Unavailable(m)) if m.contains("redis") && m.contains("127.0.0.1")),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let result = store.apply(Epoch(1), TaskBatch::default()).await;
        assert!(
            matches!(&result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(1500));
    }
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.create_app(app("web", "x")).await {
            Ok(outcome) => {
                // The restarted server kept nothing (no persistence here).
                assert!(matches!(outcome, CreateOutcome::Created(_)));
                break;
            }
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    }
    // The changes feed resubscribes: another instance's write moves it.
    let mut changes = store.changes();
    let other = store_with(&server, &prefix, 100).await;
    let before = changes.borrow().apps;
    other.kill_app("web", None).await.expect("kill");
    wait_for(&mut changes, |c| c.apps > before).await;
}

#[tokio::test]
async fn a_paused_redis_is_unavailable_within_the_timeout() {
    let server = TestRedis::start_volatile();
    let store = store_with(&server, &fresh_prefix(), 100).await;
    store.create_app(app("web", "x")).await.expect("create");
    server.pause();
    let started = Instant::now();
    let result = store.kill_app("web", None).await;
    let elapsed = started.elapsed();
    server.resume();
    assert!(
        matches!(&result, Err(StoreError::Unavailable(m)) if m.contains("within")),
        "{result:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1500),
        "a hung redis held the call {elapsed:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.get_app("web").await {
            Ok(Some(record)) => {
                // The timed-out kill may or may not have landed: both are
                // valid outcomes of an unknown write.
                assert!(record.version <= 2);
                break;
            }
            Ok(None) => panic!("the app vanished"),
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    }
}

#[tokio::test]
async fn rediss_connects_with_tls_and_checks_the_certificate() {
    let server = TestRedis::start_tls();
    let store = RedisStore::connect(
        &server.tls_url(),
        RedisOptions {
            tls_ca_file: Some(server.ca_file()),
            ..options("tls", 100)
        },
    )
    .await
    .expect("connect with TLS");
    store.create_app(app("web", "x")).await.expect("create");
    let lease = store
        .acquire_lease("a", "a", TTL)
        .await
        .expect("acquire")
        .expect("free");
    store
        .apply(
            lease.epoch,
            TaskBatch {
                upserts: vec![Arc::new(task("web", 0, "web.0.a", TaskState::TaskStaging))],
                ..Default::default()
            },
        )
        .await
        .expect("apply over TLS");
    let mut changes = store.changes();
    let plain = store_with(&server, "tls", 100).await;
    plain.kill_app("web", None).await.expect("kill");
    wait_for(&mut changes, |c| c.apps >= 2).await;

    // Without the CA the server's certificate is not trusted.
    let untrusted = RedisStore::connect(&server.tls_url(), options("tls", 100)).await;
    assert!(
        matches!(&untrusted, Err(StoreError::Unavailable(m)) if m.contains("rediss://localhost")),
        "{:?}",
        untrusted.err()
    );
}

async fn connected_clients(conn: &mut ::redis::aio::MultiplexedConnection) -> u64 {
    let info: String = ::redis::cmd("INFO")
        .arg("clients")
        .query_async(conn)
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("connected_clients in INFO")
}

#[tokio::test]
async fn dropping_the_store_ends_its_changes_task_and_connections() {
    let server = TestRedis::start_volatile();
    let mut conn = raw(&server).await;
    let baseline = connected_clients(&mut conn).await;
    let store = store_with(&server, &fresh_prefix(), 100).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while connected_clients(&mut conn).await < baseline + 2 {
        assert!(
            Instant::now() < deadline,
            "the changes task never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(store);
    let deadline = Instant::now() + Duration::from_secs(5);
    while connected_clients(&mut conn).await > baseline {
        assert!(
            Instant::now() < deadline,
            "connections outlived the store: its task still runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `cargo test --lib store::redis -- --ignored --nocapture` prints the
/// figures for the report.
#[tokio::test]
#[ignore = "measurement, not a check"]
async fn measure_apply_of_1000_upserts() {
    let server = TestRedis::start_volatile();
    let store = store_with(&server, &fresh_prefix(), 100_000).await;
    let lease = store
        .acquire_lease("a", "a", TTL)
        .await
        .expect("acquire")
        .expect("free");
    store
        .apply(lease.epoch, TaskBatch::default())
        .await
        .expect("warm up");
    let mut timings = Vec::new();
    for round in 0..20 {
        let state = if round % 2 == 0 {
            TaskState::TaskRunning
        } else {
            TaskState::TaskStaging
        };
        let started = Instant::now();
        let events = store
            .apply(lease.epoch, big_batch(1000, state))
            .await
            .expect("apply");
        timings.push(started.elapsed());
        assert_eq!(events.len(), 1000);
    }
    let started = Instant::now();
    let events = store
        .apply(lease.epoch, big_batch(1000, TaskState::TaskStaging))
        .await
        .expect("apply");
    let unchanged = started.elapsed();
    assert!(events.is_empty());
    timings.sort();
    println!(
        "apply(1000 upserts, 1000 events): p50 {:?}, max {:?}; 1000 unchanged upserts: {:?}",
        timings[timings.len() / 2],
        timings[timings.len() - 1],
        unchanged
    );
    let started = Instant::now();
    let tasks = store.list_tasks().await.expect("list");
    println!("list_tasks of {}: {:?}", tasks.len(), started.elapsed());
}
