//! The decision core on a hand-stepped clock: no sleeps, no sockets. Each
//! test feeds inputs and checks the effects, as the driver would see them.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::mesos::v1::resource::AllocationInfo;
use crate::mesos::v1::value::Type as VType;
use crate::scheduler::effects::OfferFlow;

fn config() -> SchedulerConfig {
    let url = reqwest::Url::parse("http://127.0.0.1:5050").expect("literal url");
    let mut config = SchedulerConfig::new(vec![url]);
    config.backoff.initial = Duration::from_secs(1);
    config.backoff.max = Duration::from_secs(60);
    config.decline_refuse = Duration::from_secs(5);
    config.status_interval = Duration::from_secs(1);
    config.plan.unreachable_grace_ms = 10_000;
    config
}

/// The apps input of owned records (the store shares them; a test has one
/// holder).
fn apps_input(records: Vec<AppRecord>) -> Input {
    Input::Apps(records.into_iter().map(Arc::new).collect())
}

fn record(spec: &Value, version: u64, config_version: u64) -> AppRecord {
    AppRecord {
        spec: crate::spec::parse_app(spec.to_string().as_bytes()).expect("valid test app"),
        version,
        config_version,
        goal: AppGoal::Run,
        created_ms: 0,
        updated_ms: 0,
    }
}

fn unique_app(instances: u32, cmd: &str) -> Value {
    json!({"name": "web", "resources": {"cpu": 0.1, "mem": 32}, "instances": instances,
           "command": {"cmd": cmd}, "strategy": {"type": "unique"}})
}

fn plain_app(name: &str, instances: u32, extra: Value) -> Value {
    let mut app = json!({"name": name, "resources": {"cpu": 0.1, "mem": 32},
                         "instances": instances, "command": {"cmd": "sleep 100"}});
    if let (Some(app), Some(extra)) = (app.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            app.insert(k.clone(), v.clone());
        }
    }
    app
}

fn scalar(name: &str, value: f64) -> v1::Resource {
    let mut r = v1::Resource {
        name: name.into(),
        scalar: Some(v1::value::Scalar { value }),
        allocation_info: Some(AllocationInfo {
            role: Some("*".into()),
        }),
        ..Default::default()
    };
    r.set_type(VType::Scalar);
    r
}

fn offer(id: u64, agent: &str) -> v1::Offer {
    v1::Offer {
        id: v1::OfferId {
            value: format!("o{id}"),
        },
        framework_id: v1::FrameworkId { value: "fw".into() },
        agent_id: v1::AgentId {
            value: agent.into(),
        },
        hostname: format!("{agent}.example"),
        resources: vec![scalar("cpus", 4.0), scalar("mem", 4096.0)],
        allocation_info: Some(AllocationInfo {
            role: Some("*".into()),
        }),
        ..Default::default()
    }
}

fn update(task: &str, agent: &str, state: v1::TaskState, uuid: bool) -> Event {
    let mut status = v1::TaskStatus {
        task_id: v1::TaskId { value: task.into() },
        agent_id: Some(v1::AgentId {
            value: agent.into(),
        }),
        uuid: uuid.then(|| bytes::Bytes::from_static(&[7u8; 16])),
        ..Default::default()
    };
    status.set_state(state);
    Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(v1::scheduler::event::Update { status }),
        ..Default::default()
    }
}

/// A core subscribed to a master, on a clock stepped by hand.
struct Harness {
    core: Core,
    now: Now,
    next_offer: u64,
}

impl Harness {
    fn new(config: SchedulerConfig, apps: Vec<AppRecord>, tasks: Vec<Arc<TaskRecord>>) -> Self {
        let now = Now {
            at: Instant::now(),
            wall_ms: 1_000_000,
        };
        let mut h = Self::unsubscribed(config, apps, tasks, now);
        let fx = h.subscribe();
        // With live tasks the implicit RECONCILE waits for their answers
        // (`the_implicit_reconcile_waits_for_the_explicit_answers`).
        let explicit = fx.reconciles.iter().any(|r| !r.tasks.is_empty());
        assert!(
            explicit || fx.reconciles.last().is_some_and(|r| r.tasks.is_empty()),
            "an implicit reconcile ends the subscription's requests: {fx:?}"
        );
        h
    }

    /// A new leader's core before its SUBSCRIBED, at `now`.
    fn unsubscribed(
        config: SchedulerConfig,
        apps: Vec<AppRecord>,
        tasks: Vec<Arc<TaskRecord>>,
        now: Now,
    ) -> Self {
        Self {
            core: Core::new(config, Some("fw".into()), apps, tasks, vec![], now),
            now,
            next_offer: 0,
        }
    }

    /// SUBSCRIBED for framework `fw`, session 1.
    fn subscribe(&mut self) -> Effects {
        self.step(Input::Subscribed {
            generation: Generation(1),
            framework_id: "fw".into(),
        })
    }

    fn step(&mut self, input: Input) -> Effects {
        self.core.handle(input, self.now)
    }

    fn advance(&mut self, d: Duration) -> Effects {
        self.now = self.now.after(d);
        self.step(Input::Tick)
    }

    fn offers(&mut self, agents: &[&str]) -> Effects {
        let offers = agents
            .iter()
            .map(|a| {
                self.next_offer += 1;
                offer(self.next_offer, a)
            })
            .collect();
        self.step(Input::Mesos(vec![Event {
            r#type: Some(event::Type::Offers as i32),
            offers: Some(v1::scheduler::event::Offers { offers }),
            ..Default::default()
        }]))
    }

    fn status(&mut self, task: &str, state: v1::TaskState) -> Effects {
        let agent = self
            .core
            .task(task)
            .map_or_else(String::new, |t| t.agent_id.clone());
        self.step(Input::Mesos(vec![update(task, &agent, state, true)]))
    }

    /// Launches every waiting slot on `agents` and reports them RUNNING;
    /// returns the launched task ids.
    fn launch_running(&mut self, agents: &[&str]) -> Vec<String> {
        let fx = self.offers(agents);
        let ids: Vec<String> = fx
            .launches
            .iter()
            .flat_map(|l| l.task_ids.clone())
            .collect();
        for id in &ids {
            self.status(id, v1::TaskState::TaskRunning);
        }
        ids
    }
}

fn launched(fx: &Effects) -> Vec<String> {
    fx.launches
        .iter()
        .flat_map(|l| l.task_ids.clone())
        .collect()
}

fn killed(fx: &Effects) -> Vec<(String, KillReason)> {
    fx.kills
        .iter()
        .map(|k| (k.task_id.clone(), k.reason))
        .collect()
}

#[test]
fn a_launch_is_persisted_in_the_same_effects_before_its_accept() {
    let mut h = Harness::new(
        config(),
        vec![record(&unique_app(2, "sleep 1"), 1, 1)],
        vec![],
    );
    let fx = h.offers(&["a1", "a2"]);
    let ids = launched(&fx);
    assert_eq!(ids.len(), 2, "{fx:?}");
    for id in &ids {
        let write = fx.writes.upserts.iter().find(|t| &t.task_id == id);
        assert_eq!(
            write.map(|t| t.state),
            Some(TaskState::TaskStaging),
            "every launched task is written as STAGING with its launch"
        );
    }
    // A status update is written and acknowledged in one effects value.
    let fx = h.status(&ids[0], v1::TaskState::TaskRunning);
    assert_eq!(fx.writes.upserts.len(), 1);
    assert_eq!(fx.acks.len(), 1);
    assert_eq!(fx.acks[0].task_id.value, ids[0]);
    // Nothing waits any more: offers are suppressed.
    assert_eq!(h.core.pending("web"), &[] as &[u32]);
}

#[test]
fn a_unique_update_on_a_full_cluster_replaces_in_place_and_rolls_back_the_same_way() {
    let agents = ["a1", "a2", "a3"];
    let mut h = Harness::new(
        config(),
        vec![record(&unique_app(3, "sleep 1"), 1, 1)],
        vec![],
    );
    let v1_ids = h.launch_running(&agents);
    assert_eq!(v1_ids.len(), 3);

    let roll = |h: &mut Harness, spec: Value, version: u64| {
        let fx = h.step(apps_input(vec![record(&spec, version, version)]));
        assert!(fx.kills.is_empty(), "a surge first: {fx:?}");
        assert_eq!(h.core.pending("web"), &[0], "slot 0 surges");
        // Every agent runs a task of the app: UNIQUE rejects them all, twice.
        let fx = h.offers(&agents);
        assert!(fx.launches.is_empty() && fx.kills.is_empty(), "{fx:?}");
        let mut fx = h.offers(&agents);
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds <= 3, "one slot at a time, three slots");
            let kills = killed(&fx);
            assert_eq!(kills.len(), 1, "one slot at a time: {fx:?}");
            assert_eq!(kills[0].1, KillReason::MakeRoom);
            let old = kills[0].0.clone();
            let agent = h
                .core
                .task(&old)
                .map(|t| t.agent_id.clone())
                .expect("known");
            // While the old task is going, nothing else is touched.
            let fx2 = h.offers(&agents);
            assert!(fx2.kills.is_empty() && fx2.launches.is_empty(), "{fx2:?}");
            let fx2 = h.status(&old, v1::TaskState::TaskKilled);
            assert_eq!(fx2.offer_flow, revive("*"), "the freed slot wants offers");
            let fx2 = h.offers(&agents);
            let new = launched(&fx2);
            assert_eq!(new.len(), 1, "{fx2:?}");
            assert_eq!(
                h.core.task(&new[0]).map(|t| t.agent_id.clone()),
                Some(agent),
                "the new task takes the old one's place"
            );
            fx = h.status(&new[0], v1::TaskState::TaskRunning);
            if fx.kills.is_empty() {
                break;
            }
        }
        assert_eq!(rounds, 3);
    };

    roll(&mut h, unique_app(3, "sleep 2"), 2);
    // Halfway through the next update, State tells the progress.
    let fx = h.step(apps_input(vec![record(&unique_app(3, "sleep 1"), 3, 3)]));
    assert!(fx.kills.is_empty());
    h.offers(&["a1", "a2", "a3"]);
    let fx = h.offers(&["a1", "a2", "a3"]);
    assert_eq!(killed(&fx).len(), 1);
    let fx = h.advance(Duration::from_secs(2));
    let status = fx
        .writes
        .statuses
        .iter()
        .find(|s| s.app == "web")
        .expect("status written");
    assert!(
        status
            .message
            .starts_with("rolling update: 0 of 3 on version 3; no room beside"),
        "{}",
        status.message
    );
    // Finish the rollback the same way.
    let old = killed(&fx)
        .first()
        .map(|k| k.0.clone())
        .or_else(|| {
            h.core
                .tasks
                .values()
                .find(|t| t.kill_sent)
                .map(|t| t.task_id.clone())
        })
        .expect("a task is being replaced");
    h.status(&old, v1::TaskState::TaskKilled);
    for _ in 0..3 {
        let fx = h.offers(&agents);
        for id in launched(&fx) {
            let fx = h.status(&id, v1::TaskState::TaskRunning);
            for (k, _) in killed(&fx) {
                h.status(&k, v1::TaskState::TaskKilled);
            }
        }
    }
    let versions: Vec<u64> = h
        .core
        .tasks
        .values()
        .filter(|t| plan::is_live(t.state))
        .map(|t| t.app_version)
        .collect();
    assert_eq!(versions, vec![3, 3, 3], "all on the rolled-back spec");
}

#[test]
fn tasks_mesos_lost_track_of_are_replaced_at_once_without_backoff() {
    let app = record(&plain_app("web", 4, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![app.clone()], vec![]);
    let ids = h.launch_running(&["a1"]);
    assert_eq!(ids.len(), 4);
    // A new subscription; past its re-registration grace every task answers
    // UNKNOWN (or GONE, DROPPED, LOST): the agents are not coming back.
    let tasks: Vec<Arc<TaskRecord>> = h.core.tasks.values().cloned().collect();
    let mut h = Harness::new(config(), vec![app], tasks);
    h.advance(h.core.config.reregister_grace + Duration::from_millis(1));
    let states = [
        v1::TaskState::TaskUnknown,
        v1::TaskState::TaskGone,
        v1::TaskState::TaskDropped,
        v1::TaskState::TaskLost,
    ];
    let answers = ids
        .iter()
        .zip(states)
        .map(|(id, state)| update(id, "a1", state, false))
        .collect();
    let fx = h.step(Input::Mesos(answers));
    assert!(fx.acks.is_empty(), "reconciliation answers carry no uuid");
    assert_eq!(h.core.backoffs.failures("web"), 0, "no backoff growth");
    assert_eq!(h.core.pending("web").len(), 4);
    assert_eq!(fx.offer_flow, revive("*"));
    let fx = h.offers(&["a2"]);
    assert_eq!(launched(&fx).len(), 4, "replaced at once: {fx:?}");
}

#[test]
fn unknown_right_after_subscribing_keeps_its_slot_for_the_reregister_grace() {
    let app = record(&plain_app("web", 3, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![app.clone()], vec![]);
    let ids = h.launch_running(&["a1"]);
    assert_eq!(ids.len(), 3);
    // A master back without its registry: it does not know agent a1 yet, so
    // every task answers UNKNOWN at once; GONE, DROPPED and LOST would be
    // definitive, UNKNOWN is not.
    let tasks: Vec<Arc<TaskRecord>> = h.core.tasks.values().cloned().collect();
    let mut h = Harness::new(config(), vec![app], tasks);
    let grace = h.core.config.reregister_grace;
    assert_eq!(grace, Duration::from_secs(5));
    let answers = ids
        .iter()
        .map(|id| update(id, "a1", v1::TaskState::TaskUnknown, false))
        .collect();
    let fx = h.step(Input::Mesos(answers));
    assert!(fx.kills.is_empty(), "{fx:?}");
    assert!(h.core.pending("web").is_empty(), "the slots are held");
    let fx = h.offers(&["a2"]);
    assert!(
        launched(&fx).is_empty(),
        "no launch within the grace: {fx:?}"
    );
    assert!(fx.decline.is_some(), "the offer goes back: {fx:?}");

    // While held, the tasks are asked about again every second.
    let fx = h.advance(Duration::from_millis(1000));
    let asked: BTreeSet<String> = fx
        .reconciles
        .iter()
        .flat_map(|r| r.tasks.iter().map(|t| t.task_id.clone()))
        .collect();
    assert_eq!(asked, ids.iter().cloned().collect(), "{fx:?}");
    let fx = h.advance(Duration::from_millis(500));
    assert!(fx.reconciles.is_empty(), "not before a second: {fx:?}");

    // The agent re-registered: the first task answers RUNNING and is kept.
    let fx = h.status(&ids[0], v1::TaskState::TaskRunning);
    assert!(fx.kills.is_empty() && fx.launches.is_empty(), "{fx:?}");
    assert_eq!(
        h.core.task(&ids[0]).map(|t| t.state),
        Some(TaskState::TaskRunning)
    );
    assert!(h.core.pending("web").is_empty());
    assert!(
        h.core
            .history
            .get("web")
            .is_none_or(|hist| hist.recent.is_empty()),
        "a held task has not ended (State shows no termination)"
    );

    // Just before the grace ends, the others still hold their slots; at its
    // end (the plan's requeue, no other input) they are replaced, without
    // backoff, and the kept task is untouched.
    let fx = h.advance(grace - Duration::from_millis(1501));
    assert!(
        fx.kills.is_empty() && h.core.pending("web").is_empty(),
        "{fx:?}"
    );
    let fx = h.advance(Duration::from_millis(1));
    assert!(fx.kills.is_empty(), "{fx:?}");
    assert_eq!(h.core.pending("web"), [1, 2].as_slice());
    assert!(fx.writes.removals.contains(&ids[1]) && fx.writes.removals.contains(&ids[2]));
    assert_eq!(h.core.backoffs.failures("web"), 0, "no backoff growth");
    assert_eq!(fx.offer_flow, revive("*"));
    let written = fx.writes.statuses.iter().find(|s| s.app == "web");
    let ended: BTreeSet<&str> = written
        .into_iter()
        .flat_map(|s| s.last_terminations.values())
        .map(|t| t.task_id.as_str())
        .collect();
    assert_eq!(
        ended,
        [ids[1].as_str(), ids[2].as_str()].into_iter().collect(),
        "the replaced tasks' UNKNOWN shows in State: {fx:?}"
    );
    let fx = h.offers(&["a2"]);
    assert_eq!(
        launched(&fx).len(),
        2,
        "replaced at the grace's end: {fx:?}"
    );
    assert!(fx.kills.is_empty(), "{fx:?}");
    assert_eq!(
        h.core.task(&ids[0]).map(|t| t.state),
        Some(TaskState::TaskRunning)
    );

    // A task of a held slot answering RUNNING after its replacement started
    // is an extra task now: the scheduler no longer knows it, so it goes.
    let fx = h.status(&ids[1], v1::TaskState::TaskRunning);
    assert_eq!(killed(&fx), [(ids[1].clone(), KillReason::Orphan)]);
}

#[test]
fn declines_during_a_backoff_refuse_no_longer_than_it_and_a_revive_ends_it() {
    let app = record(&plain_app("web", 1, json!({"retry": {"time": 1}})), 1, 1);
    let mut h = Harness::new(config(), vec![app], vec![]);
    let ids = h.launch_running(&["a1"]);
    let fx = h.status(&ids[0], v1::TaskState::TaskFailed);
    assert_eq!(h.core.backoffs.failures("web"), 1);
    assert_ne!(fx.offer_flow, revive("*"), "nothing launchable yet");
    h.now = h.now.after(Duration::from_millis(300));
    let fx = h.offers(&["a1", "a2"]);
    assert!(fx.launches.is_empty());
    let decline = fx.decline.expect("declined");
    assert_eq!(decline.offer_ids.len(), 2);
    assert_eq!(
        decline.refuse,
        Duration::from_millis(700),
        "the filter ends with the backoff, not after decline_refuse (5 s)"
    );
    let fx = h.advance(Duration::from_millis(699));
    assert_eq!(fx.offer_flow, None, "still backing off");
    let fx = h.advance(Duration::from_millis(1));
    assert_eq!(fx.offer_flow, revive("*"), "revived as it ends");
    let fx = h.offers(&["a1"]);
    assert_eq!(launched(&fx).len(), 1);
}

#[test]
fn a_task_back_from_an_unreachable_agent_is_killed_on_its_first_update() {
    let app = record(&plain_app("web", 1, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![app], vec![]);
    let ids = h.launch_running(&["a1"]);
    let old = ids[0].clone();
    h.status(&old, v1::TaskState::TaskUnreachable);
    assert!(
        h.core.pending("web").is_empty(),
        "the grace period holds the slot"
    );
    // The plan asked to be looked at when the grace ends: the tick does.
    let fx = h.advance(Duration::from_secs(9));
    assert!(h.core.pending("web").is_empty(), "{fx:?}");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.core.pending("web"), &[0]);
    let new = h.launch_running(&["a2"]);
    assert_eq!(new.len(), 1);
    // The replacement runs: the unreachable one is killed (it cannot hear it).
    assert!(h.core.kills.contains_key(&old));
    // Its agent comes back: the first update kills it at once.
    let fx = h.status(&old, v1::TaskState::TaskRunning);
    assert_eq!(killed(&fx), vec![(old.clone(), KillReason::Duplicate)]);
}

#[test]
fn kill_retries_back_off_from_one_second() {
    let app = record(&plain_app("web", 1, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![app], vec![]);
    let ids = h.launch_running(&["a1"]);
    let mut killed_app = record(&plain_app("web", 1, json!({})), 2, 1);
    killed_app.goal = AppGoal::Kill;
    let fx = h.step(apps_input(vec![killed_app]));
    assert_eq!(killed(&fx), vec![(ids[0].clone(), KillReason::AppGone)]);
    let mut sent_at = Vec::new();
    for ms in 0..20_000u64 {
        let fx = h.advance(Duration::from_millis(1));
        if !fx.kills.is_empty() {
            sent_at.push(ms + 1);
        }
    }
    assert_eq!(
        sent_at,
        vec![1_000, 3_000, 7_000, 15_000],
        "1 s, 2 s, 4 s, 8 s"
    );
}

#[test]
fn a_failing_new_version_pauses_the_update_with_the_old_tasks_running() {
    let v1_app = record(&plain_app("web", 2, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![v1_app], vec![]);
    let old = h.launch_running(&["a1"]);
    assert_eq!(old.len(), 2);
    let broken = plain_app("web", 2, json!({"command": {"cmd": "exit 1"}}));
    h.step(apps_input(vec![record(&broken, 2, 2)]));
    for _ in 0..3 {
        let fx = h.offers(&["a1"]);
        let new = launched(&fx);
        assert_eq!(new.len(), 1, "one surge at a time: {fx:?}");
        h.status(&new[0], v1::TaskState::TaskFailed);
        // Let the backoff pass.
        h.advance(Duration::from_secs(60));
    }
    let fx = h.offers(&["a1"]);
    assert!(
        fx.launches.is_empty() && fx.kills.is_empty(),
        "paused: {fx:?}"
    );
    for id in &old {
        assert_eq!(
            h.core.task(id).map(|t| t.state),
            Some(TaskState::TaskRunning)
        );
    }
    h.advance(Duration::from_secs(2));
    let status = h.core.statuses_written.get("web").expect("status written");
    assert!(
        status
            .message
            .contains("paused: 3 new-version tasks failed"),
        "{}",
        status.message
    );
    // A new PUT (the old spec back) resumes: the update starts over.
    let back = plain_app("web", 2, json!({}));
    h.step(apps_input(vec![record(&back, 3, 3)]));
    let fx = h.offers(&["a1"]);
    assert_eq!(launched(&fx).len(), 1);
}

#[test]
fn an_app_change_replans_that_app_only() {
    let a = record(&plain_app("a", 1, json!({})), 1, 1);
    let b = record(&plain_app("b", 1, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![a.clone(), b.clone()], vec![]);
    h.launch_running(&["a1"]);
    let b_task = h
        .core
        .tasks
        .values()
        .find(|t| t.app == "b")
        .map(|t| t.task_id.clone())
        .expect("b runs");
    // b's task fails while a changes: only a is replanned by the change.
    Arc::make_mut(h.core.tasks.get_mut(&b_task).expect("b")).state = TaskState::TaskFailed;
    let fx = h.step(apps_input(vec![
        record(&plain_app("a", 2, json!({})), 2, 1),
        b,
    ]));
    assert!(fx.writes.removals.is_empty(), "b was not replanned: {fx:?}");
    assert_eq!(h.core.pending("a"), &[1]);
    assert!(h.core.pending("b").is_empty());
}

#[test]
fn a_failure_shows_in_the_status_written_with_its_update_and_outlives_the_leader() {
    let app = record(&plain_app("web", 1, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![app.clone()], vec![]);
    let ids = h.launch_running(&["a1"]);
    let mut failed = update(&ids[0], "a1", v1::TaskState::TaskFailed, true);
    if let Some(u) = failed.update.as_mut() {
        u.status.message = Some("exit status 3".into());
        u.status
            .set_reason(v1::task_status::Reason::CommandExecutorFailed);
        u.status.set_source(v1::task_status::Source::Executor);
    }
    let fx = h.step(Input::Mesos(vec![failed]));
    assert_eq!(fx.writes.removals, vec![ids[0].clone()], "the record goes");
    let status = fx
        .writes
        .statuses
        .iter()
        .find(|s| s.app == "web")
        .expect("the status is written with the update");
    let last = status.last_terminations.get(&0).expect("slot 0");
    assert_eq!(last.state, TaskState::TaskFailed);
    assert_eq!(last.reason, "REASON_COMMAND_EXECUTOR_FAILED");
    assert_eq!(last.source, "SOURCE_EXECUTOR");
    assert_eq!(last.message, "exit status 3");
    assert_eq!(last.agent_id, "a1");
    assert_eq!(status.recent_terminations.len(), 1);
    // A new leader loads the status and keeps the history in what it writes.
    let mut next = Core::new(
        config(),
        Some("fw".into()),
        vec![app],
        vec![],
        vec![status.clone()],
        h.now,
    );
    next.handle(
        Input::Subscribed {
            generation: Generation(2),
            framework_id: "fw".into(),
        },
        h.now,
    );
    let fx = next.handle(Input::Tick, h.now.after(Duration::from_secs(2)));
    let written = fx
        .writes
        .statuses
        .iter()
        .find(|s| s.app == "web")
        .expect("the new leader writes a status");
    assert_eq!(written.last_terminations.get(&0), Some(last));
    // The history is bounded.
    let mut h = Harness::new(
        config(),
        vec![record(&plain_app("web", 1, json!({})), 1, 1)],
        vec![],
    );
    for _ in 0..(RECENT_TERMINATIONS + 5) {
        let ids = h.launch_running(&["a1"]);
        h.status(&ids[0], v1::TaskState::TaskFailed);
        h.advance(Duration::from_secs(120));
    }
    let history = h.core.history.get("web").expect("history");
    assert_eq!(history.recent.len(), RECENT_TERMINATIONS);
}

#[test]
fn an_apps_upgrade_settings_beat_the_flags() {
    let mut spec = unique_app(3, "sleep 1");
    spec["upgrade"] = json!({"max_surge": 2, "minimum_ready_share": 1.0});
    let agents = ["a1", "a2", "a3"];
    let mut h = Harness::new(config(), vec![record(&spec, 1, 1)], vec![]);
    assert_eq!(h.launch_running(&agents).len(), 3);
    spec["command"]["cmd"] = json!("sleep 2");
    h.step(apps_input(vec![record(&spec, 2, 2)]));
    assert_eq!(h.core.pending("web"), &[0, 1], "max_surge 2: two surge");
    h.offers(&agents);
    let fx = h.offers(&agents);
    let kills = killed(&fx);
    assert_eq!(
        kills.len(),
        2,
        "two slots replaced in place at once: {fx:?}"
    );
    // Bad settings are refused with the field named.
    for (bad, field) in [
        (json!({"max_surge": 0}), "upgrade.max_surge"),
        (
            json!({"minimum_ready_share": 1.5}),
            "upgrade.minimum_ready_share",
        ),
    ] {
        spec["upgrade"] = bad;
        let err = crate::spec::parse_app(spec.to_string().as_bytes()).expect_err("refused");
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn an_orphan_is_killed_retried_and_forgotten_once_gone() {
    let mut h = Harness::new(config(), vec![], vec![]);
    let fx = h.step(Input::Mesos(vec![update(
        "ghost.0.x",
        "a9",
        v1::TaskState::TaskRunning,
        false,
    )]));
    assert_eq!(
        killed(&fx),
        vec![("ghost.0.x".to_string(), KillReason::Orphan)]
    );
    let fx = h.advance(Duration::from_secs(1));
    assert_eq!(
        fx.kills.len(),
        1,
        "retried after 1 s though it has no record"
    );
    assert_eq!(fx.kills[0].agent_id.as_deref(), Some("a9"));
    h.step(Input::Mesos(vec![update(
        "ghost.0.x",
        "a9",
        v1::TaskState::TaskKilled,
        false,
    )]));
    assert!(h.core.kills.is_empty());
}

#[test]
fn an_orphan_back_from_an_unreachable_agent_is_killed_at_once() {
    let mut h = Harness::new(config(), vec![], vec![]);
    let unreachable = || update("ghost.0.x", "a9", v1::TaskState::TaskUnreachable, false);
    let fx = h.step(Input::Mesos(vec![unreachable()]));
    assert_eq!(
        killed(&fx),
        vec![("ghost.0.x".to_string(), KillReason::Orphan)]
    );
    // While its agent is away each kill is answered UNREACHABLE and the
    // retries back off: 1 s, 2 s, 4 s, 8 s.
    for wait in [1, 2, 4, 8] {
        let fx = h.advance(Duration::from_secs(wait));
        assert_eq!(fx.kills.len(), 1, "retry after {wait} s");
        let fx = h.step(Input::Mesos(vec![unreachable()]));
        assert!(
            fx.kills.is_empty(),
            "a report while away waits for the retry"
        );
    }
    // The agent is back and the master says the orphan runs: killed now,
    // not 16 s later.
    let fx = h.step(Input::Mesos(vec![update(
        "ghost.0.x",
        "a9",
        v1::TaskState::TaskRunning,
        false,
    )]));
    assert_eq!(
        killed(&fx),
        vec![("ghost.0.x".to_string(), KillReason::Orphan)]
    );
    assert_eq!(fx.kills[0].agent_id.as_deref(), Some("a9"));
}

#[test]
fn quiet_updates_of_a_steady_app_do_not_replan_it_and_a_failure_does() {
    let web = record(&plain_app("web", 3, json!({})), 1, 1);
    let other = record(&plain_app("other", 1, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![web, other], vec![]);
    let fx = h.offers(&["a1"]);
    let ids: Vec<String> = launched(&fx)
        .into_iter()
        .filter(|id| id.starts_with("web"))
        .collect();
    assert_eq!(ids.len(), 3);
    let planned = h.core.plans_made();
    for id in &ids {
        let fx = h.status(id, v1::TaskState::TaskStarting);
        assert_eq!(fx.writes.upserts.len(), 1, "still written");
        assert_eq!(fx.acks.len(), 1, "still acknowledged");
        h.status(id, v1::TaskState::TaskRunning);
    }
    assert_eq!(
        h.core.plans_made(),
        planned,
        "STARTING and RUNNING replan nothing"
    );
    // The statuses written every second still see the app.
    h.advance(Duration::from_secs(2));
    // A failure matters: its app alone is planned, and the slot waits.
    let fx = h.status(&ids[1], v1::TaskState::TaskFailed);
    assert_eq!(h.core.plans_made(), planned + 1);
    assert_eq!(h.core.pending("web").len(), 1, "{fx:?}");
    // A rolling update unsettles the app: its new tasks' updates replan it
    // (an old task goes once the new one of its slot is ready).
    let fx = h.step(apps_input(vec![
        record(
            &plain_app("web", 3, json!({"command": {"cmd": "sleep 200"}})),
            2,
            2,
        ),
        record(&plain_app("other", 1, json!({})), 1, 1),
    ]));
    assert!(fx.kills.is_empty(), "{fx:?}");
    let fx = h.offers(&["a2"]);
    let surging = launched(&fx)
        .into_iter()
        .find(|id| h.core.task(id).is_some_and(|t| t.instance != 1))
        .expect("a new task beside an old one");
    let planned = h.core.plans_made();
    h.status(&surging, v1::TaskState::TaskStarting);
    let fx = h.status(&surging, v1::TaskState::TaskRunning);
    assert_eq!(h.core.plans_made(), planned + 2);
    let slot = h.core.task(&surging).map(|t| t.instance);
    let old: Vec<(String, KillReason)> = ids
        .iter()
        .filter(|id| h.core.task(id).map(|t| t.instance) == slot)
        .map(|id| (id.clone(), KillReason::Replaced))
        .collect();
    assert_eq!(
        killed(&fx),
        old,
        "the ready new task replaces its slot's old one"
    );
}

/// The offer flow reviving `role` only.
fn revive(role: &str) -> Option<OfferFlow> {
    Some(OfferFlow {
        revive: vec![role.to_string()],
        suppress: Vec::new(),
    })
}

/// An offer of `agent` allocated to `role` (a MULTI_ROLE framework's).
fn offer_in_role(id: u64, agent: &str, role: &str) -> v1::Offer {
    let mut o = offer(id, agent);
    let allocation = Some(AllocationInfo {
        role: Some(role.into()),
    });
    for r in &mut o.resources {
        r.allocation_info = allocation.clone();
    }
    o.allocation_info = allocation;
    o
}

fn offers_event(offers: Vec<v1::Offer>) -> Input {
    Input::Mesos(vec![Event {
        r#type: Some(event::Type::Offers as i32),
        offers: Some(v1::scheduler::event::Offers { offers }),
        ..Default::default()
    }])
}

fn flow(revive: &[&str], suppress: &[&str]) -> Option<OfferFlow> {
    Some(OfferFlow {
        revive: revive.iter().map(|r| r.to_string()).collect(),
        suppress: suppress.iter().map(|r| r.to_string()).collect(),
    })
}

#[test]
fn each_role_is_revived_only_for_its_own_waiting_tasks_and_a_role_change_rolls() {
    let mut config = config();
    config.roles = vec!["a".into(), "b".into()];
    let web = |role: &str| {
        plain_app(
            "web",
            1,
            json!({"resources": {"cpu": 0.1, "mem": 32, "role": role}}),
        )
    };
    let now = Now {
        at: Instant::now(),
        wall_ms: 1_000_000,
    };
    let mut h = Harness::unsubscribed(config, vec![record(&web("b"), 1, 1)], vec![], now);
    let fx = h.subscribe();
    assert_eq!(
        fx.offer_flow,
        flow(&["b"], &["a"]),
        "only b has waiting work"
    );

    // An offer for role a is no use to an app in b; one for b is.
    let fx = h.step(offers_event(vec![offer_in_role(1, "a1", "a")]));
    assert!(fx.launches.is_empty(), "{fx:?}");
    let fx = h.step(offers_event(vec![offer_in_role(2, "a2", "b")]));
    let ids = launched(&fx);
    assert_eq!(ids.len(), 1, "{fx:?}");
    for r in &fx.launches[0].tasks[0].resources {
        assert_eq!(
            r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
            Some("b"),
            "launched resources carry the offer's allocation_info"
        );
    }
    assert_eq!(
        fx.offer_flow,
        flow(&[], &["b"]),
        "nothing waits in b any more (a stays suppressed)"
    );
    h.status(&ids[0], v1::TaskState::TaskRunning);

    // The role changes: a new version, rolled out in role a.
    let fx = h.step(apps_input(vec![record(&web("a"), 2, 2)]));
    assert_eq!(fx.offer_flow, flow(&["a"], &[]), "{fx:?}");
    let fx = h.step(offers_event(vec![offer_in_role(3, "a3", "b")]));
    assert!(
        fx.launches.is_empty(),
        "the new version is in role a: {fx:?}"
    );
    let fx = h.step(offers_event(vec![offer_in_role(4, "a4", "a")]));
    let new = launched(&fx);
    assert_eq!(new.len(), 1, "{fx:?}");
    assert_ne!(new[0], ids[0]);
    let fx = h.status(&new[0], v1::TaskState::TaskRunning);
    assert_eq!(
        killed(&fx),
        [(ids[0].clone(), KillReason::Replaced)],
        "the old version goes once the new one is ready"
    );
}

#[test]
fn tasks_killed_by_an_agent_drain_are_replaced_at_once_and_a_plain_kill_backs_off() {
    let app = record(&plain_app("web", 2, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![app], vec![]);
    let ids = h.launch_running(&["a1"]);
    assert_eq!(ids.len(), 2);
    // DRAIN_AGENT: the agent kills the task, reason REASON_AGENT_DRAINING.
    let mut drained = update(&ids[0], "a1", v1::TaskState::TaskKilled, true);
    if let Some(u) = drained.update.as_mut() {
        u.status.set_reason(v1::task_status::Reason::AgentDraining);
    }
    let fx = h.step(Input::Mesos(vec![drained]));
    assert_eq!(h.core.backoffs.failures("web"), 0, "a drain is no failure");
    assert_eq!(h.core.pending("web"), [0].as_slice());
    assert_eq!(fx.offer_flow, revive("*"));
    let fx = h.offers(&["a2"]);
    assert_eq!(launched(&fx).len(), 1, "replaced at once: {fx:?}");
    // The same kill without the drain's reason (someone killed the task
    // behind our back) counts as a failure.
    h.status(&ids[1], v1::TaskState::TaskKilled);
    assert_eq!(h.core.backoffs.failures("web"), 1);
}

fn unavailability_in(h: &Harness, d: Duration) -> v1::Unavailability {
    let ms = h.now.wall_ms + u64::try_from(d.as_millis()).expect("small");
    v1::Unavailability {
        start: v1::TimeInfo {
            nanoseconds: i64::try_from(ms).expect("small") * 1_000_000,
        },
        duration: None,
    }
}

fn inverse_offer_event(id: &str, agent: &str, unavailability: v1::Unavailability) -> Input {
    Input::Mesos(vec![Event {
        r#type: Some(event::Type::InverseOffers as i32),
        inverse_offers: Some(v1::scheduler::event::InverseOffers {
            inverse_offers: vec![v1::InverseOffer {
                id: v1::OfferId { value: id.into() },
                url: None,
                framework_id: v1::FrameworkId { value: "fw".into() },
                agent_id: Some(v1::AgentId {
                    value: agent.into(),
                }),
                unavailability,
                resources: vec![],
            }],
        }),
        ..Default::default()
    }])
}

fn offer_with(h: &mut Harness, agent: &str, unavailability: Option<v1::Unavailability>) -> Effects {
    h.next_offer += 1;
    let mut o = offer(h.next_offer, agent);
    o.unavailability = unavailability;
    h.step(offers_event(vec![o]))
}

fn agent_of(h: &Harness, task: &str) -> String {
    h.core
        .task(task)
        .map(|t| t.agent_id.clone())
        .expect("known task")
}

#[test]
fn offers_of_agents_going_down_within_the_horizon_get_no_task_and_later_ones_do() {
    let mut h = Harness::new(
        config(),
        vec![record(&unique_app(1, "sleep 1"), 1, 1)],
        vec![],
    );
    // Maintenance in 30 min, within the default 1 h horizon: declined.
    let soon = unavailability_in(&h, Duration::from_secs(1800));
    let fx = offer_with(&mut h, "a1", Some(soon));
    assert!(fx.launches.is_empty(), "{fx:?}");
    assert_eq!(fx.decline.map(|d| d.offer_ids.len()), Some(1));
    // In 2 h: beyond the horizon, used.
    let later = unavailability_in(&h, Duration::from_secs(7200));
    let fx = offer_with(&mut h, "a2", Some(later));
    assert_eq!(launched(&fx).len(), 1, "{fx:?}");

    // A shorter horizon lets the 30 min agent be used too.
    let mut short = config();
    short.maintenance_horizon = Duration::from_secs(600);
    let mut h = Harness::new(short, vec![record(&unique_app(1, "sleep 1"), 1, 1)], vec![]);
    let soon = unavailability_in(&h, Duration::from_secs(1800));
    let fx = offer_with(&mut h, "a1", Some(soon));
    assert_eq!(launched(&fx).len(), 1, "{fx:?}");
}

#[test]
fn an_inverse_offer_moves_the_task_first_then_accepts() {
    let mut h = Harness::new(
        config(),
        vec![record(&unique_app(2, "sleep 1"), 1, 1)],
        vec![],
    );
    let ids = h.launch_running(&["a1", "a2"]);
    let on_a1 = ids
        .iter()
        .find(|id| agent_of(&h, id) == "a1")
        .cloned()
        .expect("a task on a1");
    let soon = unavailability_in(&h, Duration::from_secs(600));
    let fx = h.step(inverse_offer_event("io1", "a1", soon));
    assert!(fx.kills.is_empty(), "the replacement comes first: {fx:?}");
    assert!(fx.inverse_accepts.is_empty() && fx.inverse_declines.is_empty());
    assert_eq!(
        h.core.pending("web").len(),
        1,
        "a1's slot wants a task elsewhere"
    );
    // a1's own offer is refused; a3 takes the replacement.
    let fx = offer_with(&mut h, "a1", Some(soon));
    assert!(fx.launches.is_empty(), "{fx:?}");
    let fx = offer_with(&mut h, "a3", None);
    let new = launched(&fx);
    assert_eq!(new.len(), 1, "{fx:?}");
    // Starting is not ready: the old task stays.
    let fx = h.status(&new[0], v1::TaskState::TaskStarting);
    assert!(fx.kills.is_empty(), "{fx:?}");
    let fx = h.status(&new[0], v1::TaskState::TaskRunning);
    assert_eq!(killed(&fx), vec![(on_a1.clone(), KillReason::Maintenance)]);
    assert!(fx.inverse_accepts.is_empty(), "our task still runs there");
    let fx = h.status(&on_a1, v1::TaskState::TaskKilled);
    assert_eq!(
        fx.inverse_accepts,
        vec![v1::OfferId {
            value: "io1".into()
        }]
    );
    assert!(launched(&fx).is_empty() && h.core.pending("web").is_empty());
}

#[test]
fn moving_that_would_break_the_minimum_declines_and_says_why_unless_the_share_allows_it() {
    // Two agents, a UNIQUE app on both: its replacement has nowhere to go.
    let mut h = Harness::new(
        config(),
        vec![record(&unique_app(2, "sleep 1"), 1, 1)],
        vec![],
    );
    let ids = h.launch_running(&["a1", "a2"]);
    let soon = unavailability_in(&h, Duration::from_secs(600));
    h.step(inverse_offer_event("io1", "a1", soon));
    let fx = offer_with(&mut h, "a2", None);
    assert!(
        fx.inverse_declines.is_empty(),
        "one round may be bad luck: {fx:?}"
    );
    let fx = offer_with(&mut h, "a2", None);
    assert_eq!(
        fx.inverse_declines,
        vec![v1::OfferId {
            value: "io1".into()
        }]
    );
    assert!(fx.kills.is_empty(), "{fx:?}");
    let status = fx
        .writes
        .statuses
        .iter()
        .find(|s| s.app == "web")
        .expect("the app's State is written");
    assert!(
        status
            .message
            .contains("a1.example goes down for maintenance in 10 min")
            && status.message.contains("(1 ready elsewhere, 2 needed)"),
        "{}",
        status.message
    );

    // With a minimum ready share of one half, the task goes first.
    let app = json!({"name": "web", "resources": {"cpu": 0.1, "mem": 32}, "instances": 2,
                     "command": {"cmd": "sleep 1"}, "strategy": {"type": "unique"},
                     "upgrade": {"minimum_ready_share": 0.5}});
    let mut h = Harness::new(config(), vec![record(&app, 1, 1)], vec![]);
    let ids2 = h.launch_running(&["a1", "a2"]);
    let on_a1 = ids2
        .iter()
        .find(|id| agent_of(&h, id) == "a1")
        .cloned()
        .expect("a task on a1");
    h.step(inverse_offer_event("io1", "a1", soon));
    offer_with(&mut h, "a2", None);
    let fx = offer_with(&mut h, "a2", None);
    assert!(fx.inverse_declines.is_empty(), "{fx:?}");
    assert_eq!(killed(&fx), vec![(on_a1.clone(), KillReason::Maintenance)]);
    let fx = h.status(&on_a1, v1::TaskState::TaskKilled);
    assert_eq!(fx.inverse_accepts.len(), 1, "{fx:?}");
    assert_eq!(ids.len(), 2);
}

/// A leader taking over a rolling update midway (the Sentinel chaos soak:
/// the former leader lost the store between two slots) goes on with the
/// next slot once the current one's new task is ready, with or without a
/// health check.
#[test]
fn a_rolling_update_taken_over_midway_goes_on_to_the_next_slot() {
    for checked in [false, true] {
        let extra = if checked {
            json!({"labels": {"v": "2"}, "healthcheck": {"endpoint": "localhost:8080"}})
        } else {
            json!({"labels": {"v": "2"}})
        };
        let app = record(&plain_app("web", 3, extra), 2, 2);
        let healthy = checked.then_some(true);
        let task = |id: &str, instance: u32, version: u64, state: TaskState, kill_sent: bool| {
            Arc::new(TaskRecord {
                state,
                healthy: healthy.filter(|_| state == TaskState::TaskRunning),
                kill_sent,
                ..TaskRecord::staging(id, "web", instance, version, "a1", "a1", 0)
            })
        };
        let tasks = vec![
            task("web.0.old", 0, 1, TaskState::TaskKilling, true),
            task("web.0.new", 0, 2, TaskState::TaskRunning, false),
            task("web.1.old", 1, 1, TaskState::TaskRunning, false),
            task("web.1.new", 1, 2, TaskState::TaskStarting, false),
            task("web.2.old", 2, 1, TaskState::TaskRunning, false),
        ];
        let mut h = Harness::new(config(), vec![app], tasks);
        let answer = |id: &str, state: v1::TaskState, healthy: Option<bool>| {
            let mut event = update(id, "a1", state, true);
            if let Some(u) = event.update.as_mut() {
                u.status.healthy = healthy;
            }
            Input::Mesos(vec![event])
        };
        // As the soak's log had them: reconciliation answers and resent
        // updates, a STARTING with a health verdict among them.
        h.step(answer("web.0.old", v1::TaskState::TaskKilling, healthy));
        h.step(answer("web.0.new", v1::TaskState::TaskRunning, healthy));
        h.step(answer("web.1.new", v1::TaskState::TaskStarting, None));
        h.step(answer("web.2.old", v1::TaskState::TaskRunning, healthy));
        h.step(answer("web.1.new", v1::TaskState::TaskStarting, healthy));
        h.step(answer("web.1.old", v1::TaskState::TaskRunning, healthy));
        h.step(answer("web.0.old", v1::TaskState::TaskKilled, healthy));
        assert!(h.core.pending("web").is_empty(), "web.1.new is in flight");
        let fx = h.step(answer("web.1.new", v1::TaskState::TaskRunning, healthy));
        assert_eq!(
            killed(&fx),
            [("web.1.old".to_string(), KillReason::Replaced)],
            "checked: {checked}"
        );
        assert_eq!(
            h.core.pending("web"),
            &[2],
            "the next slot's turn (checked: {checked})"
        );
        let fx = h.offers(&["a2"]);
        assert_eq!(launched(&fx).len(), 1, "checked: {checked}: {fx:?}");
    }
}

/// A kill a former leader recorded but maybe never sent (its term ended in
/// between, or the write was not confirmed by a replica yet stayed on the
/// primary) is sent again by the next leader: the plan waits for such a
/// task to go and would otherwise wait forever.
#[test]
fn a_kill_recorded_by_a_former_leader_is_sent_again() {
    let app = record(&plain_app("web", 1, json!({"labels": {"v": "2"}})), 2, 2);
    let old = Arc::new(TaskRecord {
        state: TaskState::TaskRunning,
        kill_sent: true,
        ..TaskRecord::staging("web.0.old", "web", 0, 1, "a1", "a1", 0)
    });
    let mut h = Harness::new(config(), vec![app], vec![old]);
    assert_eq!(h.core.kills.len(), 1, "sent with the subscription");
    h.status("web.0.old", v1::TaskState::TaskRunning);
    assert!(
        h.core.pending("web").is_empty(),
        "the slot waits for its old task to go"
    );
    let fx = h.advance(Duration::from_millis(1100));
    assert_eq!(
        killed(&fx),
        [("web.0.old".to_string(), KillReason::Retry)],
        "and retried"
    );
    let fx = h.status("web.0.old", v1::TaskState::TaskKilled);
    assert!(fx.kills.is_empty(), "{fx:?}");
    assert_eq!(h.core.pending("web"), &[0]);
}

/// A kill sent to a task on an unreachable agent never reached it: when the
/// task reports back, its record no longer says killed and the plan decides
/// again (here: an old version whose slot has no current task yet gets its
/// replacement, as a rolling update would).
#[test]
fn a_task_back_from_unreachable_is_no_longer_marked_killed() {
    let app = record(&plain_app("web", 1, json!({"labels": {"v": "2"}})), 2, 2);
    let old = Arc::new(TaskRecord {
        task_id: "web.0.old".into(),
        app: "web".into(),
        instance: 0,
        app_version: 1,
        agent_id: "a1".into(),
        hostname: "a1".into(),
        state: TaskState::TaskUnreachable,
        healthy: None,
        ips: vec![],
        ports: vec![],
        message: String::new(),
        kill_sent: true,
        created_ms: 1_000_000,
        updated_ms: 1_000_000,
    });
    let mut h = Harness::new(config(), vec![app], vec![old]);
    let fx = h.status("web.0.old", v1::TaskState::TaskRunning);
    assert_eq!(h.core.task("web.0.old").map(|t| t.kill_sent), Some(false));
    assert!(
        fx.writes
            .upserts
            .iter()
            .any(|t| t.task_id == "web.0.old" && !t.kill_sent),
        "{fx:?}"
    );
    assert_eq!(h.core.pending("web"), &[0], "the update goes on");
}

#[test]
fn the_implicit_reconcile_waits_for_the_explicit_answers() {
    let app = record(&plain_app("web", 3, json!({})), 1, 1);
    let mut h = Harness::new(config(), vec![app.clone()], vec![]);
    let ids = h.launch_running(&["a1"]);
    let tasks: Vec<Arc<TaskRecord>> = h.core.tasks.values().cloned().collect();
    let implicit = |fx: &Effects| fx.reconciles.iter().filter(|r| r.tasks.is_empty()).count();

    // A new leader: the known tasks are asked about, the rest of Mesos not yet.
    let now = h.now;
    let mut h = Harness::unsubscribed(config(), vec![app.clone()], tasks.clone(), now);
    let fx = h.subscribe();
    let asked: BTreeSet<String> = fx
        .reconciles
        .iter()
        .flat_map(|r| r.tasks.iter().map(|t| t.task_id.clone()))
        .collect();
    assert_eq!(asked, ids.iter().cloned().collect());
    assert_eq!(implicit(&fx), 0, "not before the answers: {fx:?}");
    let fx = h.status(&ids[0], v1::TaskState::TaskRunning);
    assert_eq!(implicit(&fx), 0, "two answers still missing: {fx:?}");
    let fx = h.advance(Duration::from_millis(250));
    assert_eq!(implicit(&fx), 0, "{fx:?}");
    h.status(&ids[1], v1::TaskState::TaskRunning);
    let fx = h.status(&ids[2], v1::TaskState::TaskRunning);
    assert_eq!(implicit(&fx), 1, "with the last answer: {fx:?}");
    assert!(h.core.launch_allowed(h.now));
    let fx = h.advance(Duration::from_millis(250));
    assert_eq!(implicit(&fx), 0, "once per session: {fx:?}");

    // Answers that never come: the implicit one goes with the timeout.
    let mut h = Harness::unsubscribed(config(), vec![app], tasks, now);
    let fx = h.subscribe();
    assert_eq!(implicit(&fx), 0);
    let timeout = h.core.config.reconcile_timeout;
    let fx = h.advance(timeout - Duration::from_millis(1));
    assert_eq!(implicit(&fx), 0, "{fx:?}");
    let fx = h.advance(Duration::from_millis(1));
    assert_eq!(implicit(&fx), 1, "{fx:?}");
}
