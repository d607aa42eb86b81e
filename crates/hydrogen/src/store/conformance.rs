//! The behaviour every [`Store`] backend must have, as one suite run against
//! each of them (memory here; Redis in its own module with a real server).

use std::sync::Arc;
use std::time::Duration;

use super::*;

/// A small valid app (shared with the backends' own tests).
pub(crate) fn app(name: &str, cmd: &str) -> App {
    let body = format!(
        r#"{{"name": "{name}", "resources": {{"cpu": 0.1, "mem": 32}}, "instances": 2, "command": {{"cmd": "{cmd}"}}}}"#
    );
    crate::spec::parse_app(body.as_bytes()).expect("test app parses")
}

/// A task record with fixed agent and times.
pub(crate) fn task(app: &str, instance: u32, id: &str, state: TaskState) -> TaskRecord {
    TaskRecord {
        state,
        ports: vec![31000, 31001],
        ..TaskRecord::staging(id, app, instance, 1, "agent-1", "host-1", 1)
    }
}

pub(crate) const TTL: Duration = Duration::from_secs(30);

/// Takes the lease of a store nobody leads yet; its fencing epoch.
pub(crate) async fn lead<S: Store>(store: &S) -> Epoch {
    store
        .acquire_lease("i", "i:1", TTL)
        .await
        .expect("lease")
        .expect("free")
        .epoch
}

/// One `#[tokio::test]` per case, so one failing case does not hide the
/// others. `$make` is an async block giving `(guard, store)`: a fresh store
/// whose event log holds exactly 8 events, and whatever must live as long
/// as it (a `redis-server`). Used inside a backend's test module.
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::store::conformance::conformance_tests!(@cases $make;
            deploy_is_idempotent_and_conflicts_on_a_different_spec,
            update_is_versioned,
            kill_is_versioned_and_idempotent,
            lease_epochs_fence_writes,
            batches_write_tasks_and_log_changes,
            event_log_pages_and_compacts,
            lease_expires,
            a_held_lease_says_when_it_lapses,
            view_revision_moves_with_everything_state_and_list_show,
            a_batch_deploy_is_all_or_nothing,
            statuses_and_the_mesos_link_are_announced_and_fenced,
            a_view_delta_brings_a_snapshot_up_to_date,
            the_view_log_stays_bounded_and_readers_behind_it_read_everything,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (_guard, store) = $make.await;
                $crate::store::conformance::$case(&store).await;
            }
        )*
    };
}
pub(crate) use conformance_tests;

/// Apps come and go by the thousand over a cluster's life; the change
/// history behind [`Store::view_delta`] must not keep every name ever
/// seen. Once it is trimmed, a reader from before the trim gets no delta
/// (it reads a whole snapshot) and a reader after it still gets one.
pub(crate) async fn the_view_log_stays_bounded_and_readers_behind_it_read_everything<S: Store>(
    store: &S,
) {
    let before = store.view_revision().await.expect("rev");
    let names: Vec<String> = (0..1_500).map(|i| format!("gone-{i}")).collect();
    let specs = names.iter().map(|n| app(n, "sleep 1")).collect();
    store.create_apps(specs).await.expect("create");
    let epoch = lead(store).await;
    let removal = TaskBatch {
        app_removals: names,
        ..TaskBatch::default()
    };
    store.apply(epoch, removal).await.expect("removal");
    store
        .create_app(app("kept", "sleep 1"))
        .await
        .expect("create");
    let after = store.view_revision().await.expect("rev");
    assert_eq!(
        store.view_delta(before).await.expect("delta"),
        None,
        "a reader from before the trim reads everything"
    );
    let status = TaskBatch {
        statuses: vec![Arc::new(AppStatus {
            app: "kept".into(),
            ..AppStatus::default()
        })],
        ..TaskBatch::default()
    };
    store.apply(epoch, status).await.expect("status");
    let delta = store
        .view_delta(after)
        .await
        .expect("delta")
        .expect("a reader after the trim gets a delta");
    let named: Vec<&str> = delta.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(named, ["kept"]);
}

/// `snapshot` with `delta` applied the way the API's views and the
/// standby apply it ([`ViewDelta::apply_to`]).
fn advanced(snapshot: ViewSnapshot, delta: ViewDelta) -> ViewSnapshot {
    let mut slices = snapshot.into_slices();
    let revision = delta.apply_to(&mut slices, |slice| slice);
    normalized(ViewSnapshot::from_slices(revision, slices))
}

fn normalized(mut snapshot: ViewSnapshot) -> ViewSnapshot {
    snapshot.apps.sort_by(|a, b| a.name().cmp(b.name()));
    snapshot
        .tasks
        .sort_by(|a, b| (&a.app, a.instance, &a.task_id).cmp(&(&b.app, b.instance, &b.task_id)));
    snapshot.statuses.sort_by(|a, b| a.app.cmp(&b.app));
    snapshot
}

/// A reader holding the snapshot at some revision, plus the delta since,
/// sees exactly what a fresh snapshot shows, after every kind of write
/// (apps, tasks, statuses, removals, orphans); the delta names only the
/// apps that changed; a revision from the future (a store that lost its
/// data) gets no delta.
pub(crate) async fn a_view_delta_brings_a_snapshot_up_to_date<S: Store>(store: &S) {
    for name in ["a", "b", "c"] {
        store
            .create_app(app(name, "sleep 1"))
            .await
            .expect("create");
    }
    let epoch = lead(store).await;
    let batch = TaskBatch {
        upserts: vec![
            Arc::new(task("a", 0, "a.0", TaskState::TaskRunning)),
            Arc::new(task("b", 0, "b.0", TaskState::TaskStaging)),
            Arc::new(task("b", 1, "b.1", TaskState::TaskStaging)),
        ],
        ..TaskBatch::default()
    };
    store.apply(epoch, batch).await.expect("apply");
    let mut held = normalized(store.view_snapshot().await.expect("snapshot"));

    let nothing = store
        .view_delta(held.revision)
        .await
        .expect("delta")
        .expect("a delta from the current revision");
    assert!(
        nothing.apps.is_empty(),
        "nothing changed: {:?}",
        nothing.apps
    );
    assert_eq!(nothing.revision, held.revision);

    type Step<'s> = (&'s str, Vec<&'s str>);
    let steps: Vec<Step> = vec![
        ("a task changes state", vec!["b"]),
        ("a status", vec!["c"]),
        ("an update", vec!["a"]),
        ("a removal and an orphan", vec!["a", "ghost"]),
        ("a kill and app removal", vec!["b"]),
    ];
    for (what, names) in steps {
        match what {
            "a task changes state" => {
                let batch = TaskBatch {
                    upserts: vec![Arc::new(task("b", 1, "b.1", TaskState::TaskRunning))],
                    ..TaskBatch::default()
                };
                store.apply(epoch, batch).await.expect("apply");
            }
            "a status" => {
                let batch = TaskBatch {
                    statuses: vec![Arc::new(AppStatus {
                        app: "c".into(),
                        waiting: 1,
                        message: "no offer fits".into(),
                        ..AppStatus::default()
                    })],
                    ..TaskBatch::default()
                };
                store.apply(epoch, batch).await.expect("apply");
            }
            "an update" => {
                store
                    .update_app(app("a", "sleep 2"), None)
                    .await
                    .expect("update");
            }
            "a removal and an orphan" => {
                let batch = TaskBatch {
                    upserts: vec![Arc::new(task(
                        "ghost",
                        0,
                        "ghost.0",
                        TaskState::TaskRunning,
                    ))],
                    removals: vec!["a.0".into()],
                    ..TaskBatch::default()
                };
                store.apply(epoch, batch).await.expect("apply");
            }
            _ => {
                store.kill_app("b", None).await.expect("kill");
                let batch = TaskBatch {
                    removals: vec!["b.0".into(), "b.1".into()],
                    app_removals: vec!["b".into()],
                    ..TaskBatch::default()
                };
                store.apply(epoch, batch).await.expect("apply");
            }
        }
        let delta = store
            .view_delta(held.revision)
            .await
            .expect("delta")
            .unwrap_or_else(|| panic!("after {what}: no delta"));
        let delta_names: Vec<&str> = delta.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(delta_names, names, "after {what}: the apps named");
        let fresh = normalized(store.view_snapshot().await.expect("snapshot"));
        held = advanced(held, delta);
        assert_eq!(
            held, fresh,
            "after {what}: the held snapshot plus the delta"
        );
    }
    let gone = held.apps.iter().all(|a| a.name() != "b") && held.tasks.iter().all(|t| t.app != "b");
    assert!(gone, "b is gone: {held:?}");

    // A revision this store never reached (it lost its data since).
    let future = ViewRevision {
        views: held.revision.views + 100,
        ..held.revision
    };
    assert_eq!(store.view_delta(future).await.expect("delta"), None);
}

/// Status writes and the leader's Mesos link move their change counters
/// (the watch hub follows them); the link's write is fenced, and a link
/// only speaks for the leader whose epoch it carries.
pub(crate) async fn statuses_and_the_mesos_link_are_announced_and_fenced<S: Store>(store: &S) {
    assert_eq!(store.mesos_link().await.expect("read"), None);
    let first = store
        .acquire_lease("a", "a:1", TTL)
        .await
        .expect("store")
        .expect("lease");
    let changes = store.changes();
    assert_eq!(
        changes.borrow().epoch,
        first.epoch,
        "the epoch is announced"
    );
    let before = *changes.borrow();
    let status = AppStatus {
        app: "web".into(),
        waiting: 2,
        message: "no offer fits".into(),
        ..AppStatus::default()
    };
    let batch = TaskBatch {
        statuses: vec![Arc::new(status.clone())],
        ..TaskBatch::default()
    };
    store.apply(first.epoch, batch).await.expect("apply");
    assert!(store.changes().borrow().statuses > before.statuses);
    assert_eq!(
        store.app_statuses().await.expect("read"),
        vec![Arc::new(status)]
    );

    store.set_mesos_link(first.epoch, true).await.expect("link");
    let after = *store.changes().borrow();
    assert!(after.mesos > before.mesos, "the link write is announced");
    let link = store.mesos_link().await.expect("read").expect("written");
    assert_eq!((link.epoch, link.subscribed), (first.epoch, true));
    let leader = store.leader().await.expect("read");
    assert!(MesosLink::leader_subscribed(Some(&link), leader.as_ref()));

    // A new leader: the old one's word is refused, and the link it left
    // says nothing about the new one.
    store.release_lease(&first).await.expect("release");
    let second = store
        .acquire_lease("b", "b:1", TTL)
        .await
        .expect("store")
        .expect("lease");
    assert_eq!(
        store.set_mesos_link(first.epoch, false).await,
        Err(StoreError::Fenced {
            offered: first.epoch,
            current: second.epoch
        })
    );
    let link = store.mesos_link().await.expect("read");
    assert_eq!(link.map(|l| l.epoch), Some(first.epoch), "unchanged");
    let leader = store.leader().await.expect("read");
    assert!(!MesosLink::leader_subscribed(
        link.as_ref(),
        leader.as_ref()
    ));
    assert!(!MesosLink::leader_subscribed(link.as_ref(), None));
}

pub(crate) async fn deploy_is_idempotent_and_conflicts_on_a_different_spec<S: Store>(store: &S) {
    let mut changes = store.changes();
    let created = store
        .create_app(app("web", "sleep 1"))
        .await
        .expect("create");
    assert!(
        matches!(&created, CreateOutcome::Created(r) if r.version == 1 && r.goal == AppGoal::Run)
    );
    assert!(
        changes.has_changed().unwrap_or(false),
        "creation is announced"
    );
    changes.borrow_and_update();
    let again = store
        .create_app(app("web", "sleep 1"))
        .await
        .expect("same spec");
    assert!(matches!(again, CreateOutcome::Unchanged(r) if r.version == 1));
    let conflict = store.create_app(app("web", "sleep 2")).await;
    assert_eq!(
        conflict,
        Err(StoreError::AppConflict {
            name: "web".into(),
            version: 1
        })
    );
    // A name that is a prefix of another is a different app.
    store
        .create_app(app("web2", "sleep 1"))
        .await
        .expect("create web2");
    let names: Vec<String> = store
        .list_apps()
        .await
        .expect("list")
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    assert_eq!(names, vec!["web".to_string(), "web2".to_string()]);
}

pub(crate) async fn update_is_versioned<S: Store>(store: &S) {
    assert_eq!(
        store.update_app(app("api", "x"), None).await,
        Err(StoreError::AppNotFound("api".into()))
    );
    store.create_app(app("api", "x")).await.expect("create");
    let same = store
        .update_app(app("api", "x"), Some(1))
        .await
        .expect("same spec");
    assert!(!same.changed(), "an identical update changes nothing");
    assert_eq!(same.record().version, 1);
    let v2 = store
        .update_app(app("api", "y"), Some(1))
        .await
        .expect("update");
    assert!(v2.changed(), "a new spec is a change");
    let v2 = v2.into_record();
    assert_eq!((v2.version, v2.config_version), (2, 2));
    let mut scaled = app("api", "y");
    scaled.instances = 7;
    let v3 = store
        .update_app(scaled, Some(2))
        .await
        .expect("scale")
        .into_record();
    assert_eq!(
        (v3.version, v3.config_version),
        (3, 2),
        "scaling keeps the config version"
    );
    let back = store
        .update_app(app("api", "y"), Some(3))
        .await
        .expect("scale back")
        .into_record();
    assert_eq!((back.version, back.config_version), (4, 2));
    let stale = store.update_app(app("api", "z"), Some(1)).await;
    assert_eq!(
        stale,
        Err(StoreError::VersionMismatch {
            name: "api".into(),
            expected: 1,
            actual: 4
        })
    );
    let read = store.get_app("api").await.expect("get").expect("exists");
    assert_eq!(
        read.spec,
        app("api", "y"),
        "the rejected update changed nothing"
    );
}

pub(crate) async fn kill_is_versioned_and_idempotent<S: Store>(store: &S) {
    assert_eq!(
        store.kill_app("db", None).await,
        Err(StoreError::AppNotFound("db".into()))
    );
    store.create_app(app("db", "x")).await.expect("create");
    assert!(matches!(
        store.kill_app("db", Some(7)).await,
        Err(StoreError::VersionMismatch { .. })
    ));
    let killed = store.kill_app("db", Some(1)).await.expect("kill");
    assert_eq!((killed.goal, killed.version), (AppGoal::Kill, 2));
    let again = store.kill_app("db", None).await.expect("kill again");
    assert_eq!(again.version, 2, "a second kill is a no-op");
    assert_eq!(
        store.create_app(app("db", "x")).await,
        Err(StoreError::AppKilling("db".into()))
    );
    assert_eq!(
        store.update_app(app("db", "y"), None).await,
        Err(StoreError::AppKilling("db".into()))
    );
}

pub(crate) async fn lease_epochs_fence_writes<S: Store>(store: &S) {
    assert_eq!(store.leader().await.expect("leader"), None);
    let first = store
        .acquire_lease("a", "10.0.0.1:8080", TTL)
        .await
        .expect("acquire")
        .expect("free lease is taken");
    assert_eq!(
        store
            .acquire_lease("b", "10.0.0.2:8080", TTL)
            .await
            .expect("acquire"),
        None,
        "a held lease is not taken"
    );
    assert!(store.renew_lease(&first, TTL).await.expect("renew"));
    assert_eq!(store.leader().await.expect("leader"), Some(first.clone()));
    store
        .set_framework_id(first.epoch, "fw-1")
        .await
        .expect("fenced write");
    store.release_lease(&first).await.expect("release");
    let second = store
        .acquire_lease("b", "10.0.0.2:8080", TTL)
        .await
        .expect("acquire")
        .expect("released lease is free");
    assert!(
        second.epoch > first.epoch,
        "every acquisition is a new epoch"
    );
    assert!(
        !store.renew_lease(&first, TTL).await.expect("renew"),
        "the old lease is gone"
    );
    let stale = store
        .apply(
            first.epoch,
            TaskBatch {
                upserts: vec![Arc::new(task("web", 0, "web.0.a", TaskState::TaskStaging))],
                ..Default::default()
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
        store.set_framework_id(first.epoch, "fw-2").await,
        Err(StoreError::Fenced { .. })
    ));
    assert_eq!(
        store.framework_id().await.expect("read"),
        Some("fw-1".into())
    );
    assert!(
        store.list_tasks().await.expect("list").is_empty(),
        "the fenced batch wrote nothing"
    );
}

pub(crate) async fn batches_write_tasks_and_log_changes<S: Store>(store: &S) {
    let lease = store
        .acquire_lease("a", "addr", TTL)
        .await
        .expect("acquire")
        .expect("free");
    store.create_app(app("web", "x")).await.expect("create");
    let events = store
        .apply(
            lease.epoch,
            TaskBatch {
                upserts: vec![
                    Arc::new(task("web", 0, "web.0.a", TaskState::TaskStaging)),
                    Arc::new(task("web", 1, "web.1.b", TaskState::TaskStaging)),
                    Arc::new(task("other", 0, "other.0.c", TaskState::TaskStaging)),
                ],
                ..Default::default()
            },
        )
        .await
        .expect("apply");
    let revisions: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions.len(), 3);
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    let web = store.app_tasks("web").await.expect("tasks");
    assert_eq!(web.len(), 2);
    assert_eq!(web[0].task_id, "web.0.a");

    // An unchanged state appends nothing; a changed one appends one event.
    let mut running = task("web", 0, "web.0.a", TaskState::TaskRunning);
    running.healthy = Some(true);
    let events = store
        .apply(
            lease.epoch,
            TaskBatch {
                upserts: vec![
                    Arc::new(task("web", 1, "web.1.b", TaskState::TaskStaging)),
                    Arc::new(running),
                ],
                ..Default::default()
            },
        )
        .await
        .expect("apply");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].state, TaskState::TaskRunning);
    assert_eq!(events[0].healthy, Some(true));

    // Failures outlive their task records: the status keeps them.
    let failure = crate::store::Termination {
        task_id: "web.0.x".into(),
        instance: 0,
        app_version: 2,
        state: TaskState::TaskFailed,
        reason: "REASON_COMMAND_EXECUTOR_FAILED".into(),
        source: "SOURCE_EXECUTOR".into(),
        message: "exit status 1".into(),
        agent_id: "agent-1".into(),
        hostname: "host-1".into(),
        at_ms: 4,
    };
    let status = AppStatus {
        app: "web".into(),
        waiting: 1,
        message: "1 task waits: no offer has enough cpu".into(),
        rejections: [("insufficient cpu".to_string(), 3)].into(),
        updated_ms: 5,
        last_terminations: [(0, failure.clone())].into(),
        recent_terminations: vec![failure],
        ..Default::default()
    };
    store
        .apply(
            lease.epoch,
            TaskBatch {
                statuses: vec![Arc::new(status.clone())],
                ..Default::default()
            },
        )
        .await
        .expect("apply");
    assert_eq!(store.app_status("web").await.expect("status"), Some(status));
    store
        .apply(
            lease.epoch,
            TaskBatch {
                removals: vec!["web.1.b".into()],
                app_removals: vec!["web".into()],
                ..Default::default()
            },
        )
        .await
        .expect("apply");
    assert_eq!(
        store.app_status("web").await.expect("status"),
        None,
        "removed with its app"
    );
    assert_eq!(store.app_tasks("web").await.expect("tasks").len(), 1);
    assert_eq!(store.get_app("web").await.expect("get"), None);
    assert_eq!(store.list_tasks().await.expect("list").len(), 2);
}

pub(crate) async fn event_log_pages_and_compacts<S: Store>(store: &S) {
    let lease = store
        .acquire_lease("a", "addr", TTL)
        .await
        .expect("acquire")
        .expect("free");
    let empty = store.events_after(0, 10).await.expect("empty log");
    assert_eq!((empty.events.len(), empty.head), (0, 0));
    for i in 0..12u32 {
        let state = if i % 2 == 0 {
            TaskState::TaskStaging
        } else {
            TaskState::TaskRunning
        };
        store
            .apply(
                lease.epoch,
                TaskBatch {
                    upserts: vec![Arc::new(task("web", 0, "web.0.a", state))],
                    ..Default::default()
                },
            )
            .await
            .expect("apply");
    }
    // Capacity 8: revisions 5..=12 remain.
    let page = store.events_after(4, 3).await.expect("page");
    assert_eq!(page.head, 12);
    let revisions: Vec<u64> = page.events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, vec![5, 6, 7]);
    let tail = store.events_after(10, 100).await.expect("tail");
    assert_eq!(
        tail.events.iter().map(|e| e.revision).collect::<Vec<_>>(),
        vec![11, 12]
    );
    assert!(
        store
            .events_after(12, 10)
            .await
            .expect("at head")
            .events
            .is_empty()
    );
    assert_eq!(
        store.events_after(2, 10).await,
        Err(StoreError::Compacted {
            requested: 3,
            oldest: 5
        })
    );
}

pub(crate) async fn lease_expires<S: Store>(store: &S) {
    let short = store
        .acquire_lease("a", "addr", Duration::from_millis(50))
        .await
        .expect("acquire")
        .expect("free");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.leader().await.expect("leader").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !store.renew_lease(&short, TTL).await.expect("renew"),
        "an expired lease is not renewed"
    );
    let next = store
        .acquire_lease("b", "addr", TTL)
        .await
        .expect("acquire")
        .expect("expired lease is free");
    assert!(next.epoch > short.epoch);
}

/// A follower waits for the moment the holder's lease lapses, so the
/// answer must be within the TTL, shrink as time passes, and grow back on a
/// renewal; at the lapse the lease is free.
pub(crate) async fn a_held_lease_says_when_it_lapses<S: Store>(store: &S) {
    let ttl = Duration::from_millis(800);
    let held = store
        .acquire_lease("a", "addr", ttl)
        .await
        .expect("acquire")
        .expect("free");
    let left = |attempt: LeaseAttempt| match attempt {
        LeaseAttempt::Held {
            expires_in: Some(left),
        } => left,
        other => panic!("a held lease must say when it lapses, got {other:?}"),
    };
    let first = left(store.try_acquire_lease("b", "b", TTL).await.expect("try"));
    assert!(first <= ttl, "{first:?} is beyond the TTL {ttl:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let later = left(store.try_acquire_lease("b", "b", TTL).await.expect("try"));
    assert!(later < first, "{later:?} did not shrink from {first:?}");
    assert!(store.renew_lease(&held, ttl).await.expect("renew"));
    let renewed = left(store.try_acquire_lease("b", "b", TTL).await.expect("try"));
    assert!(
        renewed > later,
        "{renewed:?} did not grow back from {later:?}"
    );
    // Taken at the lapse it announced (give or take the store's clock).
    tokio::time::sleep(renewed + Duration::from_millis(20)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let taken = loop {
        match store.try_acquire_lease("b", "b", TTL).await.expect("try") {
            LeaseAttempt::Taken(lease) => break lease,
            held => assert!(
                tokio::time::Instant::now() < deadline,
                "the lease was still held long after its announced lapse: {held:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(taken.epoch > held.epoch);
}

/// The API serves State and ListAll from a snapshot while the view revision
/// is unchanged, so every write those reads show must move it — including
/// the ones that append no event (a status, a task's message, a removal) —
/// and a snapshot must be what the other reads return.
pub(crate) async fn view_revision_moves_with_everything_state_and_list_show<S: Store>(store: &S) {
    let empty = store.view_snapshot().await.expect("snapshot");
    assert_eq!(empty.revision, store.view_revision().await.expect("rev"));
    assert!(empty.apps.is_empty() && empty.tasks.is_empty() && empty.statuses.is_empty());

    let mut seen = vec![empty.revision];
    let mut moved = async |what: &str| {
        let rev = store.view_revision().await.expect("rev");
        assert!(
            !seen.contains(&rev),
            "{what} did not move the view revision"
        );
        seen.push(rev);
    };
    store
        .create_app(app("web", "sleep 1"))
        .await
        .expect("create");
    moved("a create").await;
    store
        .update_app(app("web", "sleep 2"), None)
        .await
        .expect("update");
    moved("an update").await;
    let lease = store
        .acquire_lease("a", "a:1", TTL)
        .await
        .expect("lease")
        .expect("free");
    let mut t = task("web", 0, "web.0.x", TaskState::TaskRunning);
    let upsert = |t: &TaskRecord| TaskBatch {
        upserts: vec![Arc::new(t.clone())],
        ..TaskBatch::default()
    };
    store.apply(lease.epoch, upsert(&t)).await.expect("apply");
    moved("a new task").await;
    t.message = "same state, new message".into();
    store.apply(lease.epoch, upsert(&t)).await.expect("apply");
    moved("a task change that appends no event").await;
    let status = AppStatus {
        app: "web".into(),
        waiting: 1,
        message: "waiting for offers".into(),
        ..AppStatus::default()
    };
    let statuses = TaskBatch {
        statuses: vec![Arc::new(status.clone())],
        ..TaskBatch::default()
    };
    store.apply(lease.epoch, statuses).await.expect("status");
    moved("a status").await;

    let snapshot = store.view_snapshot().await.expect("snapshot");
    assert_eq!(snapshot.revision, store.view_revision().await.expect("rev"));
    assert_eq!(snapshot.apps, store.list_apps().await.expect("apps"));
    let snapshot_tasks: Vec<TaskRecord> = snapshot
        .tasks
        .iter()
        .map(|t| TaskRecord::clone(t))
        .collect();
    assert_eq!(snapshot_tasks, store.list_tasks().await.expect("tasks"));
    assert_eq!(snapshot.statuses, vec![Arc::new(status)]);

    // Reads and empty batches leave it alone.
    let before = store.view_revision().await.expect("rev");
    store
        .apply(lease.epoch, TaskBatch::default())
        .await
        .expect("empty batch");
    store.list_tasks().await.expect("read");
    assert_eq!(store.view_revision().await.expect("rev"), before);

    let removal = TaskBatch {
        removals: vec!["web.0.x".into()],
        ..TaskBatch::default()
    };
    store.apply(lease.epoch, removal).await.expect("removal");
    moved("a task removal").await;
    store.kill_app("web", None).await.expect("kill");
    moved("a kill").await;
    let app_removal = TaskBatch {
        app_removals: vec!["web".into()],
        ..TaskBatch::default()
    };
    store
        .apply(lease.epoch, app_removal)
        .await
        .expect("app removal");
    moved("an app removal").await;
    let gone = store.view_snapshot().await.expect("snapshot");
    assert!(gone.apps.is_empty() && gone.tasks.is_empty() && gone.statuses.is_empty());
}

pub(crate) async fn a_batch_deploy_is_all_or_nothing<S: Store>(store: &S) {
    store
        .create_app(app("taken", "sleep 1"))
        .await
        .expect("create");
    let before = store.view_revision().await.expect("revision");
    // One conflict, at the end: nothing of the batch is written.
    let batch: Vec<App> = (0..50)
        .map(|i| app(&format!("b{i}"), "sleep 1"))
        .chain([app("taken", "sleep 2")])
        .collect();
    let refused = store.create_apps(batch).await;
    assert_eq!(
        refused,
        Err(StoreError::AppConflict {
            name: "taken".into(),
            version: 1
        })
    );
    let apps = store.list_apps().await.expect("list");
    assert_eq!(
        apps.len(),
        1,
        "a refused batch wrote {} apps",
        apps.len() - 1
    );
    assert_eq!(store.view_revision().await.expect("revision"), before);
    // A batch of new apps, one existing unchanged, one name twice.
    let batch: Vec<App> = (0..50)
        .map(|i| app(&format!("b{i}"), "sleep 1"))
        .chain([app("taken", "sleep 1"), app("b7", "sleep 1")])
        .collect();
    let outcomes = store.create_apps(batch).await.expect("batch");
    assert_eq!(outcomes.len(), 52);
    assert!(
        outcomes[..50]
            .iter()
            .all(|o| matches!(o, CreateOutcome::Created(r) if r.version == 1))
    );
    assert!(matches!(&outcomes[50], CreateOutcome::Unchanged(r) if r.name() == "taken"));
    assert!(matches!(&outcomes[51], CreateOutcome::Unchanged(r) if r.name() == "b7"));
    assert_eq!(store.list_apps().await.expect("list").len(), 51);
    assert_ne!(store.view_revision().await.expect("revision"), before);
    // The same batch again: all unchanged, nothing written.
    let after = store.view_revision().await.expect("revision");
    let again: Vec<App> = (0..50).map(|i| app(&format!("b{i}"), "sleep 1")).collect();
    let outcomes = store.create_apps(again).await.expect("again");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, CreateOutcome::Unchanged(_)))
    );
    assert_eq!(store.view_revision().await.expect("revision"), after);
    // A killed app refuses the batch it is in.
    store.kill_app("b3", None).await.expect("kill");
    let refused = store
        .create_apps(vec![app("c1", "sleep 1"), app("b3", "sleep 1")])
        .await;
    assert_eq!(refused, Err(StoreError::AppKilling("b3".into())));
    assert_eq!(store.get_app("c1").await.expect("get"), None);
    assert!(
        store
            .create_apps(Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
}
