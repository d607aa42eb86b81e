//! Our Mesos client (`mesos::subscription`) against the simulated master over
//! real loopback HTTP: subscribe, offers, launch, reliable updates, kill,
//! reconciliation, failovers of both sides, redirects, dead-master detection
//! and agent loss with and without partition awareness.

use std::time::Duration;

use bytes::Bytes;
use hydrogen::mesos::calls;
use hydrogen::mesos::encoding::Encoding;
use hydrogen::mesos::subscription::{CallError, SubscriptionError, SubscriptionEvent};
use hydrogen::mesos::v1::scheduler::event;
use hydrogen::mesos::v1::{self, TaskState, task_status::Reason};

use crate::sim_fixture::*;

/// Subscribes, takes the first offer and launches one task on it; returns
/// the client, the offer and the task's RUNNING status (acknowledged).
async fn launch_one(
    sim: &hydrogen_sim::SimHandle,
    framework: v1::FrameworkInfo,
    task: &str,
) -> (Client, v1::Offer, v1::TaskStatus) {
    let mut client = Client::start(Client::config(sim, framework));
    let session = client.subscribed().await;
    let (generation, offers) = client.next_event(event::Type::Offers, |_| true).await;
    assert_eq!(generation, session.generation);
    let offer = offers.offers.expect("offers payload").offers.remove(0);
    let caller = client.subscription.caller();
    let launch = calls::launch(vec![task_for(&offer, task, true)]);
    caller
        .call_in(
            generation,
            calls::accept(vec![offer.id.clone()], vec![launch], None),
        )
        .await
        .expect("ACCEPT is 202");
    let (_, starting) = client.update(task, TaskState::TaskStarting).await;
    ack(&client, &starting).await;
    let (_, running) = client.update(task, TaskState::TaskRunning).await;
    assert_eq!(running.agent_id.as_ref(), Some(&offer.agent_id));
    ack(&client, &running).await;
    // The health check's first result comes as a further RUNNING update.
    let (_, healthy) = client
        .next_event(event::Type::Update, |e| {
            e.update
                .as_ref()
                .is_some_and(|u| u.status.task_id.value == task && u.status.healthy == Some(true))
        })
        .await;
    let healthy = healthy.update.map(|u| u.status).expect("update payload");
    assert_eq!(healthy.state(), TaskState::TaskRunning);
    assert_eq!(healthy.reason(), Reason::TaskHealthCheckStatusUpdated);
    ack(&client, &healthy).await;
    (client, offer, healthy)
}

async fn ack(client: &Client, status: &v1::TaskStatus) {
    let uuid = status.uuid.clone().expect("agent updates carry a uuid");
    let agent = status.agent_id.clone().expect("agent id");
    client
        .subscription
        .caller()
        .call(calls::acknowledge(agent, status.task_id.clone(), uuid))
        .await
        .expect("ACKNOWLEDGE is 202");
}

fn task_state<'a>(state: &'a serde_json::Value, task: &str) -> Option<&'a str> {
    state["frameworks"]
        .as_array()?
        .iter()
        .flat_map(|f| f["tasks"].as_array().into_iter().flatten())
        .find(|t| t["id"] == task)
        .and_then(|t| t["state"].as_str())
}

#[tokio::test]
async fn launches_acknowledges_and_kills_a_task() {
    let sim = start_sim(fast_sim_config(2)).await;
    let (mut client, offer, _) = launch_one(&sim, framework("launch", false), "t1").await;
    let state = wait_state(&sim, "t1 running", |s| {
        task_state(s, "t1") == Some("TASK_RUNNING")
    })
    .await;
    assert_eq!(state["frameworks"][0]["name"], "launch");

    let caller = client.subscription.caller();
    caller
        .call(calls::kill(
            calls::task_id("t1"),
            Some(offer.agent_id.clone()),
        ))
        .await
        .expect("KILL is 202");
    // TASK_KILLING_STATE was declared, so the kill passes through KILLING.
    let (_, killing) = client.update("t1", TaskState::TaskKilling).await;
    ack(&client, &killing).await;
    let (_, killed) = client.update("t1", TaskState::TaskKilled).await;
    ack(&client, &killed).await;
    wait_state(&sim, "t1 completed", |s| {
        task_state(s, "t1").is_none()
            && s["frameworks"][0]["completed_tasks"]
                .as_array()
                .is_some_and(|c| {
                    c.iter()
                        .any(|t| t["id"] == "t1" && t["state"] == "TASK_KILLED")
                })
    })
    .await;
    client.cancel.cancel();
    client.subscription.join().await.expect("clean stop");
    sim.shutdown().await;
}

#[tokio::test]
async fn json_encoding_works_end_to_end() {
    let sim = start_sim(fast_sim_config(1)).await;
    let mut config = Client::config(&sim, framework("json", false));
    config.encoding = Encoding::Json;
    let mut client = Client::start(config);
    client.subscribed().await;
    let (_, offers) = client.next_event(event::Type::Offers, |_| true).await;
    let offer = offers.offers.expect("offers").offers.remove(0);
    let launch = calls::launch(vec![task_for(&offer, "j1", false)]);
    client
        .subscription
        .caller()
        .call(calls::accept(vec![offer.id.clone()], vec![launch], None))
        .await
        .expect("ACCEPT is 202");
    let (_, starting) = client.update("j1", TaskState::TaskStarting).await;
    ack(&client, &starting).await;
    client.update("j1", TaskState::TaskRunning).await;
    client.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn unacknowledged_updates_are_redelivered_in_order() {
    let sim = start_sim(fast_sim_config(1)).await;
    let mut client = Client::start(Client::config(&sim, framework("redeliver", false)));
    client.subscribed().await;
    let (_, offers) = client.next_event(event::Type::Offers, |_| true).await;
    let offer = offers.offers.expect("offers").offers.remove(0);
    let caller = client.subscription.caller();
    caller
        .call(calls::accept(
            vec![offer.id.clone()],
            vec![calls::launch(vec![task_for(&offer, "r1", false)])],
            None,
        ))
        .await
        .expect("ACCEPT is 202");
    let (_, first) = client.update("r1", TaskState::TaskStarting).await;
    // Not acknowledged: the same update (same uuid) comes again, and RUNNING
    // waits behind it.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while seen.len() < 2 {
        let e = tokio::time::timeout_at(deadline, client.events.recv())
            .await
            .expect("redelivery before the deadline")
            .expect("channel open");
        if let SubscriptionEvent::Event { event, .. } = e
            && let Some(update) = event.update
        {
            assert_eq!(
                update.status.state(),
                TaskState::TaskStarting,
                "RUNNING must wait for the ack"
            );
            seen.push(update.status);
        }
    }
    assert!(
        seen.iter().all(|s| s.uuid == first.uuid),
        "redelivery keeps the uuid"
    );
    ack(&client, &first).await;
    let (_, running) = client.update("r1", TaskState::TaskRunning).await;
    assert_ne!(running.uuid, first.uuid);
    client.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn reconciliation_explicit_and_implicit() {
    for partition_aware in [false, true] {
        let sim = start_sim(fast_sim_config(1)).await;
        let (mut client, offer, _) =
            launch_one(&sim, framework("reconcile", partition_aware), "k1").await;
        let caller = client.subscription.caller();
        caller
            .call(calls::reconcile(vec![
                (calls::task_id("k1"), Some(offer.agent_id.clone())),
                (calls::task_id("nobody"), None),
            ]))
            .await
            .expect("RECONCILE is 202");
        let (_, known) = client.update("k1", TaskState::TaskRunning).await;
        assert_eq!(known.reason(), Reason::Reconciliation);
        assert!(
            known.uuid.is_none(),
            "reconciliation answers are not to be acknowledged"
        );
        let unknown_state = if partition_aware {
            TaskState::TaskUnknown
        } else {
            TaskState::TaskLost
        };
        let (_, unknown) = client.update("nobody", unknown_state).await;
        assert_eq!(unknown.reason(), Reason::Reconciliation);
        assert!(unknown.uuid.is_none());

        caller
            .call(calls::reconcile(vec![]))
            .await
            .expect("implicit RECONCILE is 202");
        let (_, implicit) = client.update("k1", TaskState::TaskRunning).await;
        assert_eq!(implicit.reason(), Reason::Reconciliation);
        client.cancel.cancel();
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn kill_of_an_unknown_task_is_answered_like_reconciliation() {
    let sim = start_sim(fast_sim_config(1)).await;
    let mut client = Client::start(Client::config(&sim, framework("kill-unknown", true)));
    client.subscribed().await;
    client
        .subscription
        .caller()
        .call(calls::kill(calls::task_id("ghost"), None))
        .await
        .expect("KILL is 202");
    let (_, status) = client.update("ghost", TaskState::TaskUnknown).await;
    assert_eq!(status.reason(), Reason::Reconciliation);
    client.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn framework_failover_takes_over_and_errors_the_old_stream() {
    let sim = start_sim(fast_sim_config(1)).await;
    let (mut old, _, _) = launch_one(&sim, framework("failover", true), "f1").await;
    let framework_id = old.subscription.caller().session().map(|_| ());
    assert!(framework_id.is_some());
    let state = get_json(&format!("{}/master/state", sim.url())).await;
    let id = state["frameworks"][0]["id"]
        .as_str()
        .expect("framework id")
        .to_string();

    let mut info = framework("failover", true);
    info.id = Some(calls::framework_id(id.clone()));
    let mut new = Client::start(Client::config(&sim, info));
    let session = new.subscribed().await;
    assert_eq!(session.framework_id.value, id, "the framework keeps its id");

    let (_, error) = old.next_event(event::Type::Error, |_| true).await;
    let message = error.error.expect("error payload").message;
    assert!(message.contains("failed over"), "{message}");
    match old.subscription.join().await {
        Err(SubscriptionError::MasterError { message }) => assert!(message.contains("failed over")),
        other => panic!("the old subscription must end with the master's error: {other:?}"),
    }
    // The task survived the failover and is reconciled on the new stream.
    new.subscription
        .caller()
        .call(calls::reconcile(vec![]))
        .await
        .expect("RECONCILE is 202");
    new.update("f1", TaskState::TaskRunning).await;
    new.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn follows_the_redirect_to_the_leading_master() {
    let leader = start_sim(fast_sim_config(1)).await;
    let mut standby_config = fast_sim_config(1);
    standby_config.listen = "127.0.0.1:0".parse().expect("addr");
    let standby = start_sim(standby_config).await;
    admin(
        &format!("{}/sim/master/leadership", standby.url()),
        serde_json::json!({"leading": false, "leader": leader.addr().to_string()}),
    )
    .await;
    let mut client = Client::start(Client::config(&standby, framework("redirect", false)));
    let session = client.subscribed().await;
    assert_eq!(session.master.port(), Some(leader.addr().port()));
    // Calls go to the leader that holds the stream.
    client.next_event(event::Type::Offers, |_| true).await;
    client
        .subscription
        .caller()
        .call(calls::revive(vec![]))
        .await
        .expect("REVIVE reaches the leader");
    client.cancel.cancel();
    leader.shutdown().await;
    standby.shutdown().await;
}

#[tokio::test]
async fn rotates_past_a_dead_master() {
    let sim = start_sim(fast_sim_config(1)).await;
    // A port that was just free: nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let masters =
        hydrogen::mesos::subscription::parse_masters(&format!("http://{dead},{}", sim.url()))
            .expect("masters");
    let mut config = Client::config(&sim, framework("rotate", false));
    config.masters = masters;
    let mut client = Client::start(config);
    let failed = client
        .next_matching("a failed attempt", |e| {
            matches!(e, SubscriptionEvent::ConnectFailed { .. })
        })
        .await;
    if let SubscriptionEvent::ConnectFailed { master, .. } = failed {
        assert_eq!(master.port(), Some(dead.port()));
    }
    let session = client.subscribed().await;
    assert_eq!(session.master.port(), Some(sim.addr().port()));
    client.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn detects_a_silent_master_and_resubscribes() {
    let sim = start_sim(fast_sim_config(1)).await;
    let mut config = Client::config(&sim, framework("heartbeat", false));
    config.missed_heartbeats = 2;
    let mut client = Client::start(config);
    let first = client.subscribed().await;
    assert_eq!(first.heartbeat_interval, Duration::from_millis(500));
    admin(
        &format!("{}/sim/master/stall", sim.url()),
        serde_json::json!({"duration": "3s"}),
    )
    .await;
    let lost = client
        .next_matching("disconnection", |e| {
            matches!(e, SubscriptionEvent::Disconnected { .. })
        })
        .await;
    if let SubscriptionEvent::Disconnected { reason, session } = lost {
        assert_eq!(session, first.generation);
        assert!(reason.contains("no event"), "{reason}");
    }
    let second = client.subscribed().await;
    assert!(second.generation > first.generation);
    assert_eq!(
        second.framework_id, first.framework_id,
        "re-subscribed as the same framework"
    );
    client.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn master_failover_keeps_tasks_and_voids_the_old_session() {
    let sim = start_sim(fast_sim_config(1)).await;
    let (mut client, offer, _) = launch_one(&sim, framework("mfailover", true), "m1").await;
    let old = client
        .subscription
        .caller()
        .session()
        .expect("live session");
    admin(
        &format!("{}/sim/master/failover", sim.url()),
        serde_json::json!({}),
    )
    .await;
    let session = client.subscribed().await;
    assert!(session.generation > old);
    let caller = client.subscription.caller();
    let stale = caller
        .call_in(old, calls::decline(vec![offer.id.clone()], None))
        .await;
    assert!(
        matches!(stale, Err(CallError::StaleSession { .. })),
        "{stale:?}"
    );
    caller
        .call_in(session.generation, calls::reconcile(vec![]))
        .await
        .expect("RECONCILE on the new session");
    client.update("m1", TaskState::TaskRunning).await;
    client.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn agent_loss_without_partition_awareness_is_task_lost() {
    let sim = start_sim(fast_sim_config(1)).await;
    let (mut client, offer, _) = launch_one(&sim, framework("lost", false), "l1").await;
    admin(
        &format!(
            "{}/sim/agents/{}/unreachable",
            sim.url(),
            offer.agent_id.value
        ),
        serde_json::json!({}),
    )
    .await;
    let (_, lost) = client.update("l1", TaskState::TaskLost).await;
    assert!(
        lost.uuid.is_none(),
        "master-generated updates carry no uuid"
    );
    client.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn agent_loss_with_partition_awareness_is_unreachable_then_gone() {
    let sim = start_sim(fast_sim_config(1)).await;
    let (mut client, offer, _) = launch_one(&sim, framework("partition", true), "p1").await;
    let agent = offer.agent_id.value.clone();
    admin(
        &format!("{}/sim/agents/{agent}/unreachable", sim.url()),
        serde_json::json!({}),
    )
    .await;
    let (_, unreachable) = client.update("p1", TaskState::TaskUnreachable).await;
    assert!(
        unreachable.unreachable_time.is_some(),
        "unreachable_time is set"
    );
    admin(
        &format!("{}/sim/agents/{agent}/gone", sim.url()),
        serde_json::json!({}),
    )
    .await;
    client.update("p1", TaskState::TaskGoneByOperator).await;
    client.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn call_errors_carry_the_masters_message() {
    let sim = start_sim(fast_sim_config(1)).await;
    let mut client = Client::start(Client::config(&sim, framework("errors", false)));
    client.subscribed().await;
    let bad = client
        .subscription
        .caller()
        .call(calls::acknowledge(
            calls::agent_id("a"),
            calls::task_id("t"),
            Bytes::from_static(b"short"),
        ))
        .await;
    match bad {
        Err(CallError::BadRequest(message)) => assert!(!message.is_empty()),
        other => panic!("a malformed uuid must be a 400: {other:?}"),
    }
    client.cancel.cancel();
    sim.shutdown().await;
}

#[tokio::test]
async fn sends_basic_auth_when_configured() {
    use axum::http::HeaderMap;
    use tokio::sync::mpsc;

    // A bare endpoint that records the Authorization header and refuses.
    let (tx, mut rx) = mpsc::unbounded_channel::<Option<String>>();
    let app = axum::Router::new().route(
        "/api/v1/scheduler",
        axum::routing::post(move |headers: HeaderMap| {
            let tx = tx.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let _ = tx.send(auth);
                (axum::http::StatusCode::UNAUTHORIZED, "bad credentials")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let masters = hydrogen::mesos::subscription::parse_masters(&addr.to_string()).expect("url");
    let mut config =
        hydrogen::mesos::subscription::SubscriptionConfig::new(masters, framework("auth", false));
    config.credentials = Some(hydrogen::mesos::subscription::Credentials {
        principal: "hydrogen".into(),
        secret: "s3cret".into(),
    });
    let mut client = Client::start(config);
    let auth = tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("a SUBSCRIBE arrives")
        .expect("channel open");
    // base64("hydrogen:s3cret")
    assert_eq!(auth.as_deref(), Some("Basic aHlkcm9nZW46czNjcmV0"));
    let failed = client
        .next_matching("the refusal", |e| {
            matches!(e, SubscriptionEvent::ConnectFailed { .. })
        })
        .await;
    if let SubscriptionEvent::ConnectFailed { reason, .. } = failed {
        assert!(reason.contains("401"), "{reason}");
    }
    client.cancel.cancel();
    server.abort();
}
