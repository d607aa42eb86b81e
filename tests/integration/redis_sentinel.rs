//! Hydrogen on a replicated Redis, with real processes: a `redis-server`
//! primary, two replicas and three `redis-server --sentinel`, all on
//! loopback with OS-picked ports. The primary is killed with SIGKILL while
//! Hydrogen deploys 2,000 tasks and while API writes stream in; nothing
//! acknowledged may be lost, no slot doubled, the framework id kept.
//!
//! And the fencing argument, shown on the store itself: a lease
//! acquisition that no replica confirmed is refused (`--redis-min-replicas`),
//! and an epoch is never handed out twice, even by a replica promoted
//! while the old primary keeps granting (epochs come from the server's
//! clock, see `scripts::ACQUIRE_LEASE`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hydrogen::store::Store;
use hydrogen::store::redis::{RedisOptions, RedisStore};
use hydrogen::store::{LeaderInfo, StoreError};
use hydrogen_testkit::procs::{Hydrogen, Redis, SentinelTopology, info_field, query, wait_until};
use hydrogen_testkit::web;
use serde_json::{Value, json};

const MASTER: &str = "hymaster";
const DEADLINE: Duration = Duration::from_secs(180);

/// (status, Retry-After header, body).
async fn http(
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let reply = web::send(method, url, body.as_ref(), Duration::from_secs(15)).await;
    let json = reply.json();
    (reply.status, reply.retry_after, json)
}

async fn poll<T>(what: &str, f: impl AsyncFnMut() -> Option<T>) -> T {
    web::poll(DEADLINE, what, f).await
}

fn app(name: &str, instances: u32) -> Value {
    json!({"name": name, "resources": {"cpu": 0.01, "mem": 4}, "instances": instances,
           "command": {"cmd": "sleep 1000"}})
}

/// The simulator's frameworks (id, active) and live tasks by id: state.
async fn sim_state(sim: &str) -> (Vec<(String, bool)>, BTreeMap<String, String>) {
    let (_, _, state) = http(reqwest::Method::GET, &format!("{sim}/master/state"), None).await;
    let frameworks = state["frameworks"].as_array().cloned().unwrap_or_default();
    let ids = frameworks
        .iter()
        .filter_map(|f| Some((f["id"].as_str()?.to_string(), f["active"] == true)))
        .collect();
    let tasks = frameworks
        .iter()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| {
            Some((
                t["id"].as_str()?.to_string(),
                t["state"].as_str()?.to_string(),
            ))
        })
        .collect();
    (ids, tasks)
}

/// Slots (`app.instance`) with more than one live task.
fn doubled_slots(tasks: &BTreeMap<String, String>) -> Vec<String> {
    let mut per_slot: BTreeMap<String, u32> = BTreeMap::new();
    for (id, state) in tasks {
        if matches!(
            state.as_str(),
            "TASK_RUNNING" | "TASK_STARTING" | "TASK_STAGING"
        ) {
            let parts: Vec<&str> = id.splitn(3, '.').collect();
            *per_slot
                .entry(format!("{}.{}", parts[0], parts.get(1).unwrap_or(&"")))
                .or_default() += 1;
        }
    }
    per_slot
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(s, _)| s)
        .collect()
}

fn running_of(tasks: &BTreeMap<String, String>, app: &str) -> usize {
    tasks
        .iter()
        .filter(|(id, s)| id.split('.').next() == Some(app) && *s == "TASK_RUNNING")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_killed_during_a_deploy_and_api_writes_loses_nothing() {
    let mut topology = tokio::task::spawn_blocking(|| SentinelTopology::start(MASTER))
        .await
        .expect("topology");
    let sim = Hydrogen::sim(
        12,
        &[
            "--heartbeat-interval",
            "1s",
            "--status-update-retry",
            "500ms",
        ],
    );
    let store = topology.url();
    let serve = |sim: &str| {
        Hydrogen::serve(
            sim,
            &store,
            &["--redis-min-replicas", "1", "--backoff-initial", "200ms"],
        )
    };
    let instances = [serve(&sim.url), serve(&sim.url)];
    poll("a leader", async || {
        web::leading(instances.iter().map(|h| h.url.as_str())).await
    })
    .await;
    let (s, _, body) = http(
        reqwest::Method::POST,
        &format!("{}/v1/api/app", instances[0].url),
        Some(json!([app("big", 2000)])),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let framework = poll("the framework registered", async || {
        let (frameworks, _) = sim_state(&sim.url).await;
        frameworks.first().map(|(id, _)| id.clone())
    })
    .await;

    // API writes through both instances, one after the other, all along.
    let urls: Vec<String> = instances.iter().map(|h| h.url.clone()).collect();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut refused: BTreeMap<u16, usize> = BTreeMap::new();
        let mut without_retry_hint = 0usize;
        let mut first_ack_at: Vec<Instant> = Vec::new();
        for i in 0.. {
            if *stop_rx.borrow() {
                break;
            }
            let name = format!("w{i}");
            let (s, retry, _) = http(
                reqwest::Method::POST,
                &format!("{}/v1/api/app", urls[i % urls.len()]),
                Some(json!([app(&name, 1)])),
            )
            .await;
            if s == 200 {
                acked.push(name);
                first_ack_at.push(Instant::now());
            } else {
                *refused.entry(s).or_default() += 1;
                if s == 503 && retry.is_none() {
                    without_retry_hint += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        (acked, refused, without_retry_hint, first_ack_at)
    });

    // Mid-deploy: SIGKILL the primary.
    poll("the deploy under way", async || {
        let (_, tasks) = sim_state(&sim.url).await;
        (running_of(&tasks, "big") >= 300).then_some(())
    })
    .await;
    let old_primary = topology.primary.port;
    let killed_at = Instant::now();
    topology.primary.kill();
    let mut doubles = BTreeSet::new();
    let new_primary = poll("a replica promoted", async || {
        let (_, tasks) = sim_state(&sim.url).await;
        doubles.extend(doubled_slots(&tasks));
        topology.primary_port().filter(|p| *p != old_primary)
    })
    .await;
    let promoted_after = killed_at.elapsed();

    // The deploy completes on the new primary.
    let tasks = poll("all 2,000 tasks running", async || {
        let (_, tasks) = sim_state(&sim.url).await;
        doubles.extend(doubled_slots(&tasks));
        (running_of(&tasks, "big") == 2000).then_some(tasks)
    })
    .await;
    stop_tx.send_replace(true);
    let (acked, refused, without_retry_hint, ack_times) = writer.await.expect("writer");
    let first_write_after = ack_times
        .iter()
        .find(|t| **t > killed_at)
        .map(|t| t.duration_since(killed_at));
    eprintln!(
        "primary killed: replica on port {new_primary} promoted after {promoted_after:?}; \
         first acknowledged API write {first_write_after:?} after the kill; \
         {} writes acknowledged, refusals by status {refused:?}",
        acked.len()
    );
    assert!(
        first_write_after.is_some(),
        "no API write succeeded after the kill"
    );
    assert!(
        refused.keys().all(|s| *s == 503 || *s == 504),
        "refusals other than 503/504 while Redis failed over: {refused:?}"
    );
    assert_eq!(without_retry_hint, 0, "503 answers without Retry-After");
    assert!(doubles.is_empty(), "slots with two live tasks: {doubles:?}");
    assert!(doubled_slots(&tasks).is_empty());

    // Every acknowledged write survived the failover, and converges.
    let (s, _, listed) = http(
        reqwest::Method::GET,
        &format!("{}/v1/api/apps", instances[1].url),
        None,
    )
    .await;
    assert_eq!(s, 200, "{listed}");
    let names: BTreeSet<String> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|n| !names.contains(*n)).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let tasks = poll("every acknowledged app running", async || {
        let (_, tasks) = sim_state(&sim.url).await;
        acked
            .iter()
            .all(|n| running_of(&tasks, n) == 1)
            .then_some(tasks)
    })
    .await;
    assert!(doubled_slots(&tasks).is_empty());
    // No orphan: every task belongs to an app the store knows.
    assert!(
        tasks
            .keys()
            .all(|id| names.contains(id.split('.').next().unwrap_or_default())),
        "tasks of unknown apps"
    );
    // One framework, the same one.
    let (frameworks, _) = sim_state(&sim.url).await;
    assert_eq!(
        frameworks,
        vec![(framework, true)],
        "the framework id changed or a second framework registered"
    );
}

fn options(min_replicas: u32) -> RedisOptions {
    RedisOptions {
        timeout: Duration::from_secs(2),
        min_replicas: Some(min_replicas),
        ..RedisOptions::default()
    }
}

/// Waits until the replica on `port` follows its primary and is in sync.
async fn in_sync(port: u16) {
    tokio::task::spawn_blocking(move || {
        wait_until("the replica in sync", Duration::from_secs(60), || {
            info_field(port, "master_link_status").as_deref() == Some("up")
        })
    })
    .await
    .expect("replica");
}

/// `REPLICAOF NO ONE` on `port`: what Sentinel does to the replica it
/// promotes (or what a partition does to what the replica receives).
async fn promote(port: u16) {
    let _: String = tokio::task::spawn_blocking(move || {
        query(port, redis::cmd("REPLICAOF").arg("NO").arg("ONE")).expect("REPLICAOF NO ONE")
    })
    .await
    .expect("promote");
}

/// A store on `url` confirming writes on `min_replicas`, and the lease it
/// took there as instance `id`.
async fn leading(url: &str, min_replicas: u32, id: &str) -> (RedisStore, LeaderInfo) {
    let store = RedisStore::connect(url, options(min_replicas))
        .await
        .unwrap_or_else(|e| panic!("store {id}: {e}"));
    let lease = store
        .acquire_lease(id, &format!("{id}:1"), LEASE_TTL)
        .await
        .unwrap_or_else(|e| panic!("{id}'s acquisition: {e}"))
        .unwrap_or_else(|| panic!("{id}: the lease is held"));
    (store, lease)
}

const LEASE_TTL: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_unreplicated_lease_is_never_led_on_so_no_epoch_is_held_twice() {
    let mut primary = Redis::start();
    let replica = Redis::start_replica_of(primary.port);
    in_sync(replica.port).await;
    let (a, lease_a) = leading(&primary.url(), 1, "a").await;
    a.release_lease(&lease_a).await.expect("release");

    // The replica is cut off (as a partition, or a lagging link, would):
    // what the primary takes now never reaches it.
    promote(replica.port).await;
    let b = RedisStore::connect(&primary.url(), options(1))
        .await
        .expect("store b");
    let refused = b.acquire_lease("b", "b:1", LEASE_TTL).await;
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(why)) if why.contains("replicas")),
        "an acquisition no replica confirmed must not count: {refused:?}"
    );
    // Without WAIT the same acquisition would count: that is the hazard.
    let unguarded = RedisStore::connect(&primary.url(), options(0))
        .await
        .expect("store without min replicas");
    let b_epoch = {
        // The lease b's refused acquisition left behind (it did run).
        let held = unguarded.leader().await.expect("read").expect("held");
        assert_eq!(held.instance_id, "b");
        held.epoch
    };
    assert!(b_epoch > lease_a.epoch);

    // The primary dies; the cut-off replica is what gets promoted.
    primary.kill();
    let (c, lease_c) = leading(&replica.url(), 0, "c").await;
    // The promoted replica never saw b's grant, yet hands out another
    // number, above every epoch anyone acted on.
    assert_ne!(lease_c.epoch, b_epoch);
    assert!(lease_c.epoch > lease_a.epoch);
    // b's store reaches only the dead primary: it cannot write either.
    let write = b.set_framework_id(b_epoch, "f-b").await;
    assert!(write.is_err(), "{write:?}");
    assert_eq!(c.framework_id().await.expect("read"), None);
}

/// The case `WAIT 1` cannot cover: Sentinel promotes one replica while the
/// old primary keeps running (frozen past `down-after-milliseconds` and
/// woken, or cut off by a partition) and the other replica still follows
/// it and confirms its writes. A grant there is confirmed, and lost once
/// the old primary and that replica resync from the new one; it must
/// never carry the number the new primary hands out, or its holder's
/// writes would pass the new leader's fence.
#[tokio::test]
async fn a_primary_that_keeps_running_past_a_promotion_never_grants_the_new_primarys_epoch() {
    let primary = Redis::start();
    let promoted = Redis::start_replica_of(primary.port);
    let follower = Redis::start_replica_of(primary.port);
    in_sync(promoted.port).await;
    in_sync(follower.port).await;
    let (a, lease_a) = leading(&primary.url(), 1, "a").await;
    a.set_framework_id(lease_a.epoch, "f-1")
        .await
        .expect("a leads");
    a.release_lease(&lease_a)
        .await
        .expect("release, confirmed by both");

    promote(promoted.port).await;
    // The old primary still takes writes, and `follower` confirms them.
    let (_b, lease_b) = leading(&primary.url(), 1, "b").await;
    let (c, lease_c) = leading(&promoted.url(), 0, "c").await;
    assert!(lease_b.epoch > lease_a.epoch && lease_c.epoch > lease_a.epoch);
    assert!(
        lease_c.epoch > lease_b.epoch,
        "the new primary granted {:?} after the old one granted {:?}",
        lease_c.epoch,
        lease_b.epoch
    );

    // Sentinel turns the old primary and its follower into replicas of the
    // new one: b's confirmed grant is gone.
    let new_port = promoted.port.to_string();
    for port in [primary.port, follower.port] {
        let new_port = new_port.clone();
        let _: String = tokio::task::spawn_blocking(move || {
            query(
                port,
                redis::cmd("REPLICAOF").arg("127.0.0.1").arg(&new_port),
            )
            .expect("REPLICAOF")
        })
        .await
        .expect("demote");
        in_sync(port).await;
    }
    // b, following the failover to the new primary, is fenced there: its
    // epoch is not the current one, and its lease is not the one held.
    assert_eq!(
        c.set_framework_id(lease_b.epoch, "f-b").await,
        Err(StoreError::Fenced {
            offered: lease_b.epoch,
            current: lease_c.epoch
        })
    );
    assert!(
        !c.renew_lease(&lease_b, LEASE_TTL).await.expect("renew"),
        "b's lease is not held on the new primary"
    );
    c.set_framework_id(lease_c.epoch, "f-1")
        .await
        .expect("the new leader writes");
    assert_eq!(
        c.leader().await.expect("leader").map(|l| l.instance_id),
        Some("c".to_string())
    );
}

#[tokio::test]
async fn writes_wait_for_replicas_and_a_missing_replica_makes_them_unavailable() {
    let primary = Redis::start();
    let mut replica = Redis::start_replica_of(primary.port);
    let port = replica.port;
    tokio::task::spawn_blocking(move || {
        wait_until("the replica in sync", Duration::from_secs(60), || {
            info_field(port, "master_link_status").as_deref() == Some("up")
        })
    })
    .await
    .expect("replica");
    // Default: 1 when the primary has replicas.
    let store = RedisStore::connect(
        &primary.url(),
        RedisOptions {
            timeout: Duration::from_secs(2),
            ..RedisOptions::default()
        },
    )
    .await
    .expect("store");
    assert_eq!(store.min_replicas(), 1);
    let spec: hydrogen::spec::App =
        hydrogen::spec::parse_app(app("one", 1).to_string().as_bytes()).expect("spec");
    store.create_app(spec).await.expect("confirmed write");
    replica.kill();
    let spec: hydrogen::spec::App =
        hydrogen::spec::parse_app(app("two", 1).to_string().as_bytes()).expect("spec");
    let refused = store.create_app(spec).await;
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(why)) if why.contains("--redis-min-replicas")),
        "{refused:?}"
    );
    // Reads still work.
    assert!(store.get_app("one").await.expect("read").is_some());
}

/// A planned switchover (`SENTINEL FAILOVER`) leaves the old primary
/// running and taking writes until the sentinels demote it, while one
/// replica is already promoted: a write the other replica confirmed in
/// that window is lost when it resyncs from the new primary. Only `WAIT`
/// for every replica closes that window (with `--redis-min-replicas 1`
/// this test loses writes: see the README), so that is what it runs with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switchover_is_followed_and_refused_writes_are_retried_on_the_new_primary() {
    let topology = tokio::task::spawn_blocking(|| SentinelTopology::start(MASTER))
        .await
        .expect("topology");
    let store = RedisStore::connect(&topology.url(), options(2))
        .await
        .expect("store through the sentinels");
    let old = store.primary_address();
    assert!(
        old.ends_with(&format!(":{}", topology.primary.port)),
        "{old}"
    );
    let spec =
        |name: &str| hydrogen::spec::parse_app(app(name, 1).to_string().as_bytes()).expect("spec");
    store.create_app(spec("before")).await.expect("write");
    // A planned switchover: the old primary lives on as a replica and
    // answers writes with READONLY until the store follows the new one.
    let sentinel = topology.sentinels[0].port;
    let _: String = tokio::task::spawn_blocking(move || {
        query(sentinel, redis::cmd("SENTINEL").arg("FAILOVER").arg(MASTER))
            .expect("SENTINEL FAILOVER")
    })
    .await
    .expect("failover");
    let mut acked = vec!["before".to_string()];
    let mut refusals = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    while store.primary_address() == old || acked.len() < 5 {
        assert!(
            Instant::now() < deadline,
            "the store never followed the switchover: {refusals:?}"
        );
        let name = format!("during{i}");
        i += 1;
        match store.create_app(spec(&name)).await {
            Ok(_) => acked.push(name),
            Err(StoreError::Unavailable(why)) => refusals.push(why),
            Err(other) => panic!("not a failover error: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new_port = tokio::task::block_in_place(|| topology.primary_port());
    assert_eq!(
        store.primary_address(),
        format!("127.0.0.1:{}", new_port.expect("a primary")),
    );
    for name in &acked {
        assert!(
            store.get_app(name).await.expect("read").is_some(),
            "acknowledged {name} lost"
        );
    }
    eprintln!(
        "switchover: {} writes acknowledged, {} refused while it happened",
        acked.len(),
        refusals.len()
    );
}

/// The pid of the Redis on `port` (`INFO server`).
fn redis_pid(port: u16) -> Option<u32> {
    let info: String = query(port, redis::cmd("INFO").arg("server"))?;
    info.lines()
        .find_map(|l| l.trim().strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
}

fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// `WAIT` counts the replicas that reached the last write of its own
/// connection, and a fresh connection has written nothing, so every
/// replica "confirms" it at once. A write and its `WAIT` sent apart could
/// be split by a reconnect and count as confirmed when nothing reached a
/// replica. Here the only replica is frozen (still connected, acknowledging
/// nothing) while the store's connections are killed again and again:
/// no write may be confirmed. (Whether a kill lands between the two is
/// timing: without the fix this fails only sometimes; with it, never.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_replica_confirms_no_write_even_across_reconnects() {
    let primary = Redis::start();
    let replica = Redis::start_replica_of(primary.port);
    let (primary_port, replica_port) = (primary.port, replica.port);
    tokio::task::spawn_blocking(move || {
        wait_until("the replica in sync", Duration::from_secs(60), || {
            info_field(primary_port, "connected_slaves").as_deref() == Some("1")
                && info_field(replica_port, "master_link_status").as_deref() == Some("up")
        })
    })
    .await
    .expect("replica");
    let store = RedisStore::connect(
        &primary.url(),
        RedisOptions {
            timeout: Duration::from_millis(600),
            min_replicas: Some(1),
            ..RedisOptions::default()
        },
    )
    .await
    .expect("store");
    let spec =
        |name: &str| hydrogen::spec::parse_app(app(name, 1).to_string().as_bytes()).expect("spec");
    store
        .create_app(spec("before"))
        .await
        .expect("confirmed while the replica runs");
    let pid = tokio::task::spawn_blocking(move || redis_pid(replica_port))
        .await
        .expect("pid")
        .expect("the replica's pid");
    signal(pid, "STOP");
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        let mut kills = 0u64;
        while stop_rx.try_recv().is_err() {
            // Every normal client but this one: the store's connections.
            let killed: Option<i64> = query(
                primary_port,
                redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal"),
            );
            kills += u64::try_from(killed.unwrap_or(0)).unwrap_or(0);
            std::thread::sleep(Duration::from_millis(2));
        }
        kills
    });
    let mut confirmed = Vec::new();
    let mut refused = 0;
    for i in 0..40 {
        let name = format!("w{i}");
        match store.create_app(spec(&name)).await {
            Ok(_) => confirmed.push(name),
            Err(StoreError::Unavailable(_)) => refused += 1,
            Err(other) => panic!("not an availability error: {other:?}"),
        }
    }
    let _ = stop_tx.send(());
    let kills = killer.join().expect("killer");
    signal(pid, "CONT");
    eprintln!("{refused} writes refused, {kills} connections killed meanwhile");
    assert!(kills > 0, "the store's connections were killed");
    assert!(
        confirmed.is_empty(),
        "writes no replica received counted as confirmed: {confirmed:?}"
    );
}

/// A store that runs no operation still follows a failover, from the
/// sentinels' `+switch-master` announcement alone: its changes feed's
/// fallback poll is an hour here, and nothing fails to make it ask. Prints
/// the time from the kill to the move and to the first confirmed write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_store_follows_a_failover_from_the_sentinels_announcement() {
    let mut topology = tokio::task::spawn_blocking(|| SentinelTopology::start(MASTER))
        .await
        .expect("topology");
    let store = RedisStore::connect(
        &topology.url(),
        RedisOptions {
            changes_poll_interval: Duration::from_secs(3600),
            ..options(1)
        },
    )
    .await
    .expect("store through the sentinels");
    let old = store.primary_address();
    let killed_at = Instant::now();
    topology.primary.kill();
    poll("the store to follow the announcement", async || {
        (store.primary_address() != old).then_some(())
    })
    .await;
    let moved_after = killed_at.elapsed();
    let named = tokio::task::block_in_place(|| topology.primary_port());
    assert_eq!(
        store.primary_address(),
        format!("127.0.0.1:{}", named.expect("a primary"))
    );
    let spec =
        |name: &str| hydrogen::spec::parse_app(app(name, 1).to_string().as_bytes()).expect("spec");
    let mut i = 0;
    poll("a confirmed write on the new primary", async || {
        i += 1;
        store.create_app(spec(&format!("after{i}"))).await.ok()
    })
    .await;
    eprintln!(
        "idle store: followed the new primary {moved_after:?} after the kill; \
         first confirmed write {:?} after it",
        killed_at.elapsed()
    );
}
