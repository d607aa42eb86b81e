//! Unit tests of the state machine, driven without HTTP and with a
//! hand-stepped clock.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::cluster::default_agent;
use super::master::{Connection, Master, Rejection, SubscribeOutcome, Timings};
use hydrogen_mesos::v1::scheduler::{Event, call, event};
use hydrogen_mesos::v1::{self, TaskState, task_status::Reason};

struct Fixture {
    m: Master,
    t0: Instant,
}

fn timings() -> Timings {
    Timings {
        heartbeat_interval: Duration::from_secs(15),
        allocation_interval: Duration::from_secs(1),
        task_start_delay: Duration::from_millis(100),
        task_kill_delay: Duration::from_millis(50),
        offer_timeout: None,
        status_update_retry: Duration::from_secs(10),
        status_update_retry_max: Duration::from_secs(600),
    }
}

fn fixture(agents: usize) -> Fixture {
    fixture_with(agents, timings())
}

fn fixture_with(agents: usize, timings: Timings) -> Fixture {
    let t0 = Instant::now();
    let mut m = Master::new(
        timings,
        "127.0.0.1:5050".parse().expect("addr"),
        "sim".into(),
        t0,
        super::master::wall_clock(),
    );
    for i in 1..=agents {
        m.add_agent(&default_agent(i)).expect("agent");
    }
    Fixture { m, t0 }
}

struct Sched {
    id: String,
    stream: String,
    rx: UnboundedReceiver<Event>,
    /// Events after SUBSCRIBED and the first HEARTBEAT.
    extra: Vec<Event>,
}

fn info(caps: &[v1::framework_info::capability::Type]) -> v1::FrameworkInfo {
    v1::FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        failover_timeout: Some(60.0),
        capabilities: caps
            .iter()
            .map(|c| v1::framework_info::Capability {
                r#type: Some(*c as i32),
            })
            .collect(),
        ..Default::default()
    }
}

impl Fixture {
    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn subscribe(
        &mut self,
        ms: u64,
        info: v1::FrameworkInfo,
    ) -> Result<Sched, (String, UnboundedReceiver<Event>)> {
        let (tx, mut rx) = unbounded_channel();
        let stream = uuid::Uuid::new_v4().to_string();
        let out = self.m.subscribe(
            self.at(ms),
            call::Subscribe {
                framework_info: info,
                suppressed_roles: vec![],
            },
            Connection {
                stream_id: stream.clone(),
                tx,
            },
        );
        match out {
            SubscribeOutcome::Subscribed { framework_id } => {
                let mut evs = drain(&mut rx);
                assert_eq!(evs[0].r#type(), event::Type::Subscribed);
                assert_eq!(evs[1].r#type(), event::Type::Heartbeat);
                Ok(Sched {
                    id: framework_id,
                    stream,
                    rx,
                    extra: evs.split_off(2),
                })
            }
            SubscribeOutcome::Refused { message } => Err((message, rx)),
        }
    }

    /// Ticks and returns the offers the framework got.
    fn offers(&mut self, ms: u64, s: &mut Sched) -> Vec<v1::Offer> {
        self.m.tick(self.at(ms));
        drain(&mut s.rx)
            .into_iter()
            .filter_map(|e| e.offers)
            .flat_map(|o| o.offers)
            .collect()
    }

    fn launch(&mut self, ms: u64, s: &Sched, offer: &v1::Offer, tasks: Vec<v1::TaskInfo>) {
        self.m.accept(
            self.at(ms),
            &s.id,
            call::Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![launch_op(tasks)],
                filters: None,
            },
        );
    }
}

fn drain(rx: &mut UnboundedReceiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

fn updates(rx: &mut UnboundedReceiver<Event>) -> Vec<v1::TaskStatus> {
    drain(rx)
        .into_iter()
        .filter_map(|e| e.update.map(|u| u.status))
        .collect()
}

fn launch_op(tasks: Vec<v1::TaskInfo>) -> v1::offer::Operation {
    v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::Launch as i32),
        launch: Some(v1::offer::operation::Launch { task_infos: tasks }),
        ..Default::default()
    }
}

fn scalar(name: &str, v: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value: v }),
        ..Default::default()
    }
}

fn task(id: &str, agent: &v1::AgentId, cpus: f64) -> v1::TaskInfo {
    v1::TaskInfo {
        name: id.into(),
        task_id: v1::TaskId { value: id.into() },
        agent_id: agent.clone(),
        resources: vec![scalar("cpus", cpus), scalar("mem", 64.0)],
        command: Some(v1::CommandInfo {
            value: Some("sleep 1000".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ack(f: &mut Fixture, ms: u64, s: &Sched, st: &v1::TaskStatus) {
    let agent = st.agent_id.clone().expect("agent id").value;
    let uuid = st.uuid.clone().expect("uuid");
    f.m.acknowledge(f.at(ms), &s.id, &agent, &st.task_id.value, &uuid);
}

/// Launches one task and acks it to RUNNING; returns its agent id.
fn running_task(f: &mut Fixture, s: &mut Sched, id: &str) -> String {
    let offers = f.offers(1000, s);
    let offer = offers[0].clone();
    f.launch(1000, s, &offer, vec![task(id, &offer.agent_id, 1.0)]);
    f.m.tick(f.at(1001));
    let st = updates(&mut s.rx);
    assert_eq!(st[0].state(), TaskState::TaskStarting);
    ack(f, 1001, s, &st[0]);
    f.m.tick(f.at(1200));
    let st = updates(&mut s.rx);
    assert_eq!(st[0].state(), TaskState::TaskRunning);
    ack(f, 1200, s, &st[0]);
    offer.agent_id.value
}

#[test]
fn subscribe_gets_one_offer_per_agent_with_allocation_info() {
    let mut f = fixture(3);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let offers = f.offers(0, &mut s);
    assert_eq!(offers.len(), 3);
    // `Master::offer` (master.cpp) clears allocation_info (offer and
    // resources) for frameworks without MULTI_ROLE.
    for o in &offers {
        assert!(o.allocation_info.is_none());
        assert!(o.resources.iter().all(|r| r.allocation_info.is_none()));
        assert_eq!(o.framework_id.value, s.id);
        assert_eq!(o.attributes.len(), 5);
    }
    // Offer ids are `<master id>-O<n>` from 0 (`Master::newOfferId`).
    let mut ids: Vec<String> = offers.iter().map(|o| o.id.value.clone()).collect();
    ids.sort();
    assert_eq!(ids[0], format!("{}-O0", f.m.master_id));
    // Nothing new while the offers are outstanding.
    assert!(f.offers(1000, &mut s).is_empty());
    // A MULTI_ROLE framework sees the allocation role everywhere.
    let mut f = fixture(1);
    let mut mr_info = info(&[v1::framework_info::capability::Type::MultiRole]);
    mr_info.roles = vec!["web".into()];
    let mut mr = f.subscribe(0, mr_info).expect("subscribed");
    let o = f.offers(0, &mut mr).remove(0);
    assert_eq!(
        o.allocation_info.and_then(|a| a.role).as_deref(),
        Some("web")
    );
    assert!(o.resources.iter().all(|r| r.allocation_info.is_some()));
}

#[test]
fn decline_filters_for_refuse_seconds_and_revive_clears() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    f.m.handle_call(
        f.at(0),
        &s.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline {
                offer_ids: vec![o.id.clone()],
                filters: Some(v1::Filters {
                    refuse_seconds: Some(10.0),
                }),
            }),
            ..Default::default()
        },
    );
    assert!(f.offers(5000, &mut s).is_empty());
    let o = f.offers(10_500, &mut s).remove(0);
    // Absent filters mean the proto default of 5 s.
    f.m.handle_call(
        f.at(10_500),
        &s.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline {
                offer_ids: vec![o.id.clone()],
                filters: None,
            }),
            ..Default::default()
        },
    );
    assert!(f.offers(14_000, &mut s).is_empty());
    assert_eq!(f.offers(16_000, &mut s).len(), 1);
    // Decline again, then REVIVE: offered at the next allocation.
    let o2 = f.m.offers.keys().next().cloned().expect("offer");
    f.m.handle_call(
        f.at(16_000),
        &s.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline {
                offer_ids: vec![v1::OfferId { value: o2 }],
                filters: Some(v1::Filters {
                    refuse_seconds: Some(1000.0),
                }),
            }),
            ..Default::default()
        },
    );
    assert!(f.offers(17_000, &mut s).is_empty());
    f.m.handle_call(
        f.at(17_000),
        &s.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::Revive as i32),
            ..Default::default()
        },
    );
    assert_eq!(f.offers(18_000, &mut s).len(), 1);
}

#[test]
fn suppress_stops_offers_until_revive() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    f.m.handle_call(
        f.at(0),
        &s.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::Suppress as i32),
            ..Default::default()
        },
    );
    assert!(f.offers(0, &mut s).is_empty());
    assert!(f.offers(5000, &mut s).is_empty());
    f.m.handle_call(
        f.at(5000),
        &s.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::Revive as i32),
            ..Default::default()
        },
    );
    assert_eq!(f.offers(6000, &mut s).len(), 1);
}

#[test]
fn two_frameworks_share_agents_round_robin() {
    let mut f = fixture(4);
    let mut a = f.subscribe(0, info(&[])).expect("a");
    let mut b = f.subscribe(0, info(&[])).expect("b");
    f.m.tick(f.at(0));
    let na: usize = drain(&mut a.rx)
        .iter()
        .filter_map(|e| e.offers.as_ref())
        .map(|o| o.offers.len())
        .sum();
    let nb: usize = drain(&mut b.rx)
        .iter()
        .filter_map(|e| e.offers.as_ref())
        .map(|o| o.offers.len())
        .sum();
    assert_eq!((na, nb), (2, 2));
}

#[test]
fn launch_goes_starting_running_with_reliable_updates_in_order() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let mut t = task("t1", &o.agent_id, 1.0);
    t.container = Some(v1::ContainerInfo {
        r#type: v1::container_info::Type::Mesos as i32,
        network_infos: vec![v1::NetworkInfo {
            name: Some("overlay".into()),
            ip_addresses: vec![v1::network_info::IpAddress {
                protocol: None,
                ip_address: Some("192.168.7.7".into()),
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    f.launch(0, &s, &o, vec![t]);
    // STAGING is not reported; STARTING comes from the executor.
    f.m.tick(f.at(1));
    let st = updates(&mut s.rx);
    assert_eq!(st.len(), 1);
    let starting = st[0].clone();
    assert_eq!(starting.state(), TaskState::TaskStarting);
    assert_eq!(starting.source(), v1::task_status::Source::Executor);
    assert_eq!(starting.uuid.as_ref().map(|u| u.len()), Some(16));
    let net = &starting
        .container_status
        .as_ref()
        .expect("container status")
        .network_infos[0];
    assert_eq!(
        net.ip_addresses[0].ip_address.as_deref(),
        Some("192.168.7.7")
    );
    assert_eq!(net.name.as_deref(), Some("overlay"));
    // Not acked: RUNNING waits behind STARTING.
    f.m.tick(f.at(500));
    assert!(updates(&mut s.rx).is_empty());
    // The retry re-sends the same update.
    f.m.tick(f.at(10_001));
    let st = updates(&mut s.rx);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].uuid, starting.uuid);
    // Backoff doubles: nothing at +10 s again, resent at +20 s.
    f.m.tick(f.at(20_500));
    assert!(updates(&mut s.rx).is_empty());
    f.m.tick(f.at(30_002));
    assert_eq!(updates(&mut s.rx).len(), 1);
    // An ack with a wrong uuid is ignored; the right one releases RUNNING.
    f.m.acknowledge(
        f.at(30_003),
        &s.id,
        &o.agent_id.value,
        "t1",
        uuid::Uuid::new_v4().as_bytes(),
    );
    assert!(updates(&mut s.rx).is_empty());
    ack(&mut f, 30_003, &s, &starting);
    let st = updates(&mut s.rx);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].state(), TaskState::TaskRunning);
    assert_ne!(st[0].uuid, starting.uuid);
}

#[test]
fn health_checked_task_reports_healthy() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let mut t = task("h", &o.agent_id, 1.0);
    t.health_check = Some(command_health_check());
    f.launch(0, &s, &o, vec![t]);
    let mut seen = Vec::new();
    for ms in [1, 150, 300, 450] {
        f.m.tick(f.at(ms));
        for st in updates(&mut s.rx) {
            ack(&mut f, ms, &s, &st);
            seen.push((st.state(), st.healthy));
        }
    }
    assert_eq!(
        seen,
        vec![
            (TaskState::TaskStarting, None),
            (TaskState::TaskRunning, None),
            (TaskState::TaskRunning, Some(true))
        ]
    );
    let (fw, id) = f.m.find_task("h", None).expect("task");
    f.m.set_health(f.at(500), &fw, &id, false).expect("running");
    let st = updates(&mut s.rx);
    assert_eq!(st[0].healthy, Some(false));
    assert_eq!(st[0].reason(), Reason::TaskHealthCheckStatusUpdated);
}

#[test]
fn invalid_offers_give_lost_or_dropped_without_uuid() {
    for (caps, expected) in [
        (vec![], TaskState::TaskLost),
        (
            vec![v1::framework_info::capability::Type::PartitionAware],
            TaskState::TaskDropped,
        ),
    ] {
        let mut f = fixture(1);
        let mut s = f.subscribe(0, info(&caps)).expect("subscribed");
        let o = f.offers(0, &mut s).remove(0);
        let mut bogus = o.clone();
        bogus.id.value = "nope".into();
        f.launch(0, &s, &bogus, vec![task("t", &o.agent_id, 1.0)]);
        let st = updates(&mut s.rx);
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].state(), expected);
        assert_eq!(st[0].reason(), Reason::InvalidOffers);
        assert_eq!(st[0].source(), v1::task_status::Source::Master);
        assert!(st[0].uuid.is_none());
        assert_eq!(
            st[0].message(),
            "Task launched with invalid offers: Offer nope is no longer valid"
        );
        // Using an offer twice: the second time it is no longer valid.
        f.launch(0, &s, &o, vec![task("a", &o.agent_id, 1.0)]);
        f.launch(0, &s, &o, vec![task("b", &o.agent_id, 1.0)]);
        let st = updates(&mut s.rx);
        assert_eq!(st.last().map(|s| s.state()), Some(expected));
    }
}

#[test]
fn offers_from_two_agents_are_invalid() {
    let mut f = fixture(2);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let offers = f.offers(0, &mut s);
    f.m.accept(
        f.at(0),
        &s.id,
        call::Accept {
            offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
            operations: vec![launch_op(vec![task("t", &offers[0].agent_id, 1.0)])],
            filters: None,
        },
    );
    let st = updates(&mut s.rx);
    assert!(
        st[0]
            .message()
            .contains("Aggregated offers must belong to one single agent")
    );
    // Both offers went back to the pool.
    assert!(f.m.offers.is_empty());
}

#[test]
fn invalid_tasks_get_task_error() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let mut both = task("both", &o.agent_id, 0.1);
    both.executor = Some(v1::ExecutorInfo {
        executor_id: v1::ExecutorId { value: "e".into() },
        ..Default::default()
    });
    let mut wrong_agent = task("wrong", &o.agent_id, 0.1);
    wrong_agent.agent_id.value = "other".into();
    let mut no_resources = task("none", &o.agent_id, 0.1);
    no_resources.resources.clear();
    f.launch(
        0,
        &s,
        &o,
        vec![
            task("ok", &o.agent_id, 1.0),
            task("ok", &o.agent_id, 1.0),
            both,
            wrong_agent,
            no_resources,
            task("big", &o.agent_id, 100.0),
        ],
    );
    let st = updates(&mut s.rx);
    let msgs: Vec<(String, String)> = st
        .iter()
        .map(|s| {
            assert_eq!(s.state(), TaskState::TaskError);
            assert_eq!(s.reason(), Reason::TaskInvalid);
            (s.task_id.value.clone(), s.message().to_string())
        })
        .collect();
    assert_eq!(msgs[0], ("ok".into(), "Task has duplicate ID: ok".into()));
    assert!(
        msgs[1]
            .1
            .starts_with("Task should have at least one (but not both)")
    );
    assert_eq!(
        msgs[2].1,
        format!(
            "Task uses invalid agent other while agent {} is expected",
            o.agent_id.value
        )
    );
    assert_eq!(msgs[3].1, "Task uses no resources");
    assert!(
        msgs[4].1.contains("is more than available"),
        "{}",
        msgs[4].1
    );
    // Unused resources went back with the default 5 s filter.
    assert!(f.offers(1000, &mut s).is_empty());
    let again = f.offers(6000, &mut s);
    assert_eq!(again.len(), 1);
    let cpus: f64 = again[0]
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .map(|r| r.scalar.as_ref().map_or(0.0, |s| s.value))
        .sum();
    assert_eq!(cpus, 3.0);
}

#[test]
fn launch_group_requires_executor_framework_id() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let mut t = task("g1", &o.agent_id, 0.5);
    t.command = None;
    let exec = v1::ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Default as i32),
        executor_id: v1::ExecutorId { value: "ex".into() },
        resources: vec![
            scalar("cpus", 0.1),
            scalar("mem", 32.0),
            scalar("disk", 10.0),
        ],
        ..Default::default()
    };
    let op = |exec: v1::ExecutorInfo, t: v1::TaskInfo| v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::LaunchGroup as i32),
        launch_group: Some(v1::offer::operation::LaunchGroup {
            executor: exec,
            task_group: v1::TaskGroupInfo { tasks: vec![t] },
        }),
        ..Default::default()
    };
    f.m.accept(
        f.at(0),
        &s.id,
        call::Accept {
            offer_ids: vec![o.id.clone()],
            operations: vec![op(exec.clone(), t.clone())],
            filters: Some(v1::Filters {
                refuse_seconds: Some(0.0),
            }),
        },
    );
    let st = updates(&mut s.rx);
    assert_eq!(st[0].state(), TaskState::TaskError);
    assert_eq!(st[0].reason(), Reason::TaskGroupInvalid);
    assert_eq!(st[0].message(), "'ExecutorInfo.framework_id' must be set");
    let o = f.offers(1000, &mut s).remove(0);
    let mut exec = exec;
    exec.framework_id = Some(v1::FrameworkId {
        value: s.id.clone(),
    });
    f.m.accept(
        f.at(1000),
        &s.id,
        call::Accept {
            offer_ids: vec![o.id.clone()],
            operations: vec![op(exec, t)],
            filters: None,
        },
    );
    f.m.tick(f.at(1001));
    let st = updates(&mut s.rx);
    assert_eq!(st[0].state(), TaskState::TaskStarting);
    assert_eq!(
        st[0].executor_id.as_ref().map(|e| e.value.as_str()),
        Some("ex")
    );
}

#[test]
fn kill_passes_through_killing_with_the_capability() {
    let mut f = fixture(1);
    let mut s = f
        .subscribe(
            0,
            info(&[v1::framework_info::capability::Type::TaskKillingState]),
        )
        .expect("subscribed");
    running_task(&mut f, &mut s, "k");
    f.m.kill(f.at(2000), &s.id, "k", None);
    let st = updates(&mut s.rx);
    assert_eq!(st[0].state(), TaskState::TaskKilling);
    ack(&mut f, 2000, &s, &st[0]);
    f.m.tick(f.at(2100));
    let st = updates(&mut s.rx);
    assert_eq!(st[0].state(), TaskState::TaskKilled);
    // Resources are free again once the task is terminal.
    let agent = f.m.agents.values().next().expect("agent");
    assert_eq!(agent.used.scalar_total("cpus"), 0.0);
    // Acking the terminal update moves the task to completed.
    ack(&mut f, 2100, &s, &st[0]);
    let fw = &f.m.frameworks[&s.id];
    assert!(fw.tasks.is_empty());
    assert_eq!(fw.completed_tasks.len(), 1);
    // The id may be reused once the task has ended.
    assert!(f.m.find_task("k", None).is_err());
}

#[test]
fn kill_without_capability_goes_straight_to_killed() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    running_task(&mut f, &mut s, "k");
    f.m.kill(f.at(2000), &s.id, "k", None);
    assert!(updates(&mut s.rx).is_empty());
    f.m.tick(f.at(2100));
    assert_eq!(updates(&mut s.rx)[0].state(), TaskState::TaskKilled);
}

#[test]
fn kill_of_unknown_task_is_answered_like_reconciliation() {
    for (caps, expected) in [
        (vec![], TaskState::TaskLost),
        (
            vec![v1::framework_info::capability::Type::PartitionAware],
            TaskState::TaskUnknown,
        ),
    ] {
        let mut f = fixture(1);
        let mut s = f.subscribe(0, info(&caps)).expect("subscribed");
        f.m.kill(f.at(0), &s.id, "ghost", None);
        let st = updates(&mut s.rx);
        assert_eq!(st[0].state(), expected);
        assert_eq!(st[0].reason(), Reason::Reconciliation);
        assert_eq!(st[0].message(), "Reconciliation: Task is unknown");
        assert!(st[0].uuid.is_none());
    }
}

#[test]
fn reconcile_explicit_and_implicit() {
    let mut f = fixture(1);
    let mut s = f
        .subscribe(
            0,
            info(&[v1::framework_info::capability::Type::PartitionAware]),
        )
        .expect("subscribed");
    let agent = running_task(&mut f, &mut s, "r");
    f.m.reconcile(&s.id, vec![]);
    let st = updates(&mut s.rx);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].state(), TaskState::TaskRunning);
    assert_eq!(st[0].reason(), Reason::Reconciliation);
    assert_eq!(st[0].message(), "Reconciliation: Latest task state");
    assert!(st[0].uuid.is_none());
    let rt = |id: &str, agent: Option<&str>| call::reconcile::Task {
        task_id: v1::TaskId { value: id.into() },
        agent_id: agent.map(|a| v1::AgentId { value: a.into() }),
    };
    f.m.reconcile(
        &s.id,
        vec![
            rt("r", None),
            rt("x", Some(&agent)),
            rt("y", None),
            rt("z", Some("nope")),
        ],
    );
    let st: Vec<TaskState> = updates(&mut s.rx).iter().map(|s| s.state()).collect();
    assert_eq!(
        st,
        vec![
            TaskState::TaskRunning,
            TaskState::TaskGone,
            TaskState::TaskUnknown,
            TaskState::TaskUnknown
        ]
    );
}

#[test]
fn reconcile_reports_the_in_flight_state() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    f.launch(0, &s, &o, vec![task("q", &o.agent_id, 1.0)]);
    f.m.tick(f.at(1));
    f.m.tick(f.at(500));
    drain(&mut s.rx);
    // The agent is RUNNING but STARTING is unacked: reconcile says STARTING.
    f.m.reconcile(&s.id, vec![]);
    assert_eq!(updates(&mut s.rx)[0].state(), TaskState::TaskStarting);
}

#[test]
fn failover_sends_error_to_old_stream_and_recovers_offers_silently() {
    let mut f = fixture(1);
    let mut a = f.subscribe(0, info(&[])).expect("subscribed");
    assert_eq!(f.offers(0, &mut a).len(), 1);
    let mut again = info(&[]);
    again.id = Some(v1::FrameworkId {
        value: a.id.clone(),
    });
    let mut b = f.subscribe(100, again).expect("failover");
    assert_eq!(b.id, a.id);
    let old = drain(&mut a.rx);
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].r#type(), event::Type::Error);
    assert_eq!(
        old[0].error.as_ref().map(|e| e.message.as_str()),
        Some("Framework failed over")
    );
    // The old stream is closed.
    assert!(a.rx.try_recv().is_err() && a.rx.is_closed());
    // No RESCIND; the resources are offered again on the new stream.
    let evs = {
        f.m.tick(f.at(1000));
        drain(&mut b.rx)
    };
    assert!(evs.iter().all(|e| e.r#type() != event::Type::Rescind));
    assert_eq!(
        evs.iter()
            .filter(|e| e.r#type() == event::Type::Offers)
            .count(),
        1
    );
    // The old stream id is refused now.
    assert_eq!(
        f.m.check_call(&b.id, Some(&a.stream)).map_err(|r| r.status),
        Err(400)
    );
    assert!(f.m.check_call(&b.id, Some(&b.stream)).is_ok());
}

#[test]
fn empty_id_registers_a_new_framework_and_bad_roles_are_refused() {
    let mut f = fixture(1);
    let mut i = info(&[]);
    i.id = Some(v1::FrameworkId {
        value: String::new(),
    });
    assert!(f.subscribe(0, i).is_ok());
    let mut bad = info(&[]);
    #[allow(deprecated)]
    {
        bad.role = Some("/bad".into());
    }
    let (msg, mut rx) = f.subscribe(0, bad).err().expect("refused");
    assert_eq!(
        msg,
        "'FrameworkInfo.role' is not a valid role: Role '/bad' cannot start with a slash"
    );
    let evs = drain(&mut rx);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].r#type(), event::Type::Error);
    assert!(rx.is_closed());
}

#[test]
fn call_checks_follow_the_master() {
    let mut f = fixture(1);
    assert_eq!(
        f.m.check_call("nope", Some("x")),
        Err(Rejection::new(400, "Framework cannot be found"))
    );
    let s = f.subscribe(0, info(&[])).expect("subscribed");
    assert_eq!(f.m.check_call(&s.id, None).map_err(|r| r.status), Err(400));
    f.m.disconnected(f.at(1), &s.id, &s.stream);
    assert_eq!(
        f.m.check_call(&s.id, Some(&s.stream)),
        Err(Rejection::new(403, "Framework is not subscribed"))
    );
}

#[test]
fn failover_timeout_removes_framework_and_kills_tasks() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    running_task(&mut f, &mut s, "t");
    f.m.disconnected(f.at(2000), &s.id, &s.stream);
    f.m.tick(f.at(61_000));
    assert!(f.m.frameworks.contains_key(&s.id));
    f.m.tick(f.at(62_001));
    assert!(!f.m.frameworks.contains_key(&s.id));
    let removed = f.m.completed_frameworks.back().expect("completed");
    assert_eq!(removed.completed_tasks[0].state, TaskState::TaskKilled);
    assert_eq!(
        f.m.agents
            .values()
            .next()
            .expect("agent")
            .used
            .scalar_total("cpus"),
        0.0
    );
    let mut again = info(&[]);
    again.id = Some(v1::FrameworkId {
        value: s.id.clone(),
    });
    let (msg, _) = f.subscribe(63_000, again).err().expect("refused");
    assert_eq!(msg, "Framework has been removed");
}

#[test]
fn zero_failover_timeout_removes_at_once_and_teardown_closes_stream() {
    let mut f = fixture(1);
    let mut i = info(&[]);
    i.failover_timeout = None;
    let s = f.subscribe(0, i).expect("subscribed");
    f.m.disconnected(f.at(10), &s.id, &s.stream);
    f.m.tick(f.at(10));
    assert!(!f.m.frameworks.contains_key(&s.id));

    let mut t = f.subscribe(20, info(&[])).expect("subscribed");
    f.m.handle_call(
        f.at(20),
        &t.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::Teardown as i32),
            ..Default::default()
        },
    );
    assert!(!f.m.frameworks.contains_key(&t.id));
    drain(&mut t.rx);
    assert!(t.rx.is_closed());
}

#[test]
fn updates_made_while_disconnected_arrive_on_resubscribe() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    running_task(&mut f, &mut s, "t");
    f.m.disconnected(f.at(2000), &s.id, &s.stream);
    let (fw, id) = f.m.find_task("t", None).expect("task");
    f.m.end_task(f.at(2100), &fw, &id, TaskState::TaskFailed, None)
        .expect("running");
    let mut again = info(&[]);
    again.id = Some(v1::FrameworkId {
        value: s.id.clone(),
    });
    let s2 = f.subscribe(3000, again).expect("resubscribed");
    let st: Vec<_> = s2
        .extra
        .iter()
        .filter_map(|e| e.update.as_ref().map(|u| u.status.clone()))
        .collect();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].state(), TaskState::TaskFailed);
    assert_eq!(st[0].reason(), Reason::CommandExecutorFailed);
}

#[test]
fn agent_unreachable_then_back_partition_aware() {
    let mut f = fixture(1);
    let mut s = f
        .subscribe(
            0,
            info(&[v1::framework_info::capability::Type::PartitionAware]),
        )
        .expect("subscribed");
    let agent = running_task(&mut f, &mut s, "t");
    // An outstanding offer is rescinded.
    // (The rest of the agent was filtered for 5 s after the launch.)
    f.m.tick(f.at(7000));
    drain(&mut s.rx);
    assert!(!f.m.offers.is_empty());
    f.m.mark_unreachable(&agent).expect("active");
    let evs = drain(&mut s.rx);
    assert!(evs.iter().any(|e| e.r#type() == event::Type::Rescind));
    let st: Vec<_> = evs
        .into_iter()
        .filter_map(|e| e.update.map(|u| u.status))
        .collect();
    assert_eq!(st[0].state(), TaskState::TaskUnreachable);
    assert_eq!(st[0].reason(), Reason::AgentRemoved);
    assert!(st[0].unreachable_time.is_some());
    assert!(st[0].uuid.is_none());
    // No offers from an unreachable agent.
    f.m.tick(f.at(8000));
    assert!(
        drain(&mut s.rx)
            .iter()
            .all(|e| e.r#type() != event::Type::Offers)
    );
    // Reconciliation: unknown, agent unreachable.
    f.m.reconcile(
        &s.id,
        vec![call::reconcile::Task {
            task_id: v1::TaskId { value: "t".into() },
            agent_id: Some(v1::AgentId {
                value: agent.clone(),
            }),
        }],
    );
    assert_eq!(updates(&mut s.rx)[0].state(), TaskState::TaskUnreachable);
    f.m.reregister(f.at(9000), &agent).expect("unreachable");
    f.m.reconcile(&s.id, vec![]);
    assert_eq!(updates(&mut s.rx)[0].state(), TaskState::TaskRunning);
}

#[test]
fn agent_gone_and_lost_without_partition_awareness() {
    let mut f = fixture(2);
    let mut pa = f
        .subscribe(
            0,
            info(&[v1::framework_info::capability::Type::PartitionAware]),
        )
        .expect("pa");
    let agent = running_task(&mut f, &mut pa, "t");
    f.m.mark_unreachable(&agent).expect("active");
    drain(&mut pa.rx);
    f.m.mark_gone(&agent).expect("not gone");
    let st = updates(&mut pa.rx);
    assert_eq!(st[0].state(), TaskState::TaskGoneByOperator);
    assert_eq!(st[0].reason(), Reason::AgentRemovedByOperator);

    let mut f = fixture(1);
    let mut old = f.subscribe(0, info(&[])).expect("old");
    let agent = running_task(&mut f, &mut old, "t");
    f.m.mark_unreachable(&agent).expect("active");
    let st = updates(&mut old.rx);
    assert_eq!(st[0].state(), TaskState::TaskLost);
    assert_eq!(st[0].reason(), Reason::AgentRemoved);
}

#[test]
fn offer_timeout_rescinds() {
    let mut t = timings();
    t.offer_timeout = Some(Duration::from_secs(2));
    let mut f = fixture_with(1, t);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    f.m.tick(f.at(2001));
    let evs = drain(&mut s.rx);
    let rescind = evs
        .iter()
        .find_map(|e| e.rescind.as_ref())
        .expect("rescind");
    assert_eq!(rescind.offer_id, o.id);
}

#[test]
fn heartbeats_at_the_interval_and_silence_while_stalled() {
    let mut f = fixture(0);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    f.m.tick(f.at(14_000));
    assert!(drain(&mut s.rx).is_empty());
    f.m.tick(f.at(15_000));
    assert_eq!(drain(&mut s.rx)[0].r#type(), event::Type::Heartbeat);
    f.m.stalled_until = Some(f.at(100_000));
    f.m.tick(f.at(30_000));
    assert!(drain(&mut s.rx).is_empty());
}

#[test]
fn master_failover_drops_streams_keeps_tasks() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    running_task(&mut f, &mut s, "t");
    let old_id = f.m.master_id.clone();
    f.m.failover(f.at(2000), Some(Duration::from_secs(1)));
    assert!(
        s.rx.is_closed() || {
            drain(&mut s.rx);
            s.rx.is_closed()
        }
    );
    assert_ne!(f.m.master_id, old_id);
    assert!(f.m.leader_redirect(f.at(2500)).is_some());
    assert!(f.m.leader_redirect(f.at(3000)).is_none());
    let mut again = info(&[]);
    again.id = Some(v1::FrameworkId {
        value: s.id.clone(),
    });
    let mut s2 = f.subscribe(3000, again).expect("resubscribed");
    f.m.reconcile(&s2.id, vec![]);
    assert_eq!(updates(&mut s2.rx)[0].state(), TaskState::TaskRunning);
}

// ---- fidelity review: behaviour pinned to the Mesos 1.11 source ----------

fn decline(f: &mut Fixture, ms: u64, s: &Sched, offer: &v1::OfferId, refuse: Option<f64>) {
    f.m.handle_call(
        f.at(ms),
        &s.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::Decline as i32),
            decline: Some(call::Decline {
                offer_ids: vec![offer.clone()],
                filters: refuse.map(|r| v1::Filters {
                    refuse_seconds: Some(r),
                }),
            }),
            ..Default::default()
        },
    );
}

/// `Master::_subscribe` (src/master/master.cpp) runs
/// `validation::framework::preserveImmutableFields` before
/// `validateUpdate`: a re-subscription that changes `user` or `checkpoint`
/// is accepted and the old values are kept; only a changed principal is
/// refused.
#[test]
fn resubscribe_keeps_user_and_checkpoint_instead_of_refusing() {
    let mut f = fixture(1);
    let mut first = info(&[]);
    first.checkpoint = Some(true);
    let a = f.subscribe(0, first).expect("subscribed");
    let mut again = info(&[]);
    again.id = Some(v1::FrameworkId {
        value: a.id.clone(),
    });
    again.user = "someone-else".into();
    again.checkpoint = Some(false);
    let b = f.subscribe(100, again).expect("re-subscribed");
    assert_eq!(b.id, a.id);
    let fw = &f.m.frameworks[&a.id];
    assert_eq!(fw.info.user, "root");
    assert!(fw.info.checkpoint());
    let mut principal = info(&[]);
    principal.id = Some(v1::FrameworkId {
        value: a.id.clone(),
    });
    principal.principal = Some("p".into());
    let (msg, _) = f.subscribe(200, principal).err().expect("refused");
    assert_eq!(msg, "Changing framework's principal is not allowed.");
}

/// `HierarchicalAllocatorProcess::recoverResources` (hierarchical.cpp):
/// refuse_seconds > 365 days ⇒ 365 days, negative ⇒ the default 5 s,
/// 0 ⇒ no filter, and a filter lasts at least one allocation interval.
#[test]
fn refuse_seconds_is_clamped_as_the_allocator_does() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let agent = f.m.agents.keys().next().cloned().expect("agent");
    let filtered_for = |f: &Fixture, s: &Sched, at: u64| {
        f.m.frameworks[&s.id]
            .filters
            .get("*")
            .and_then(|agents| agents.get(&agent))
            .map(|until| until.duration_since(f.at(at)))
    };
    // Negative: the default 5 s, not "no filter".
    let o = f.offers(0, &mut s).remove(0);
    decline(&mut f, 0, &s, &o.id, Some(-1.0));
    assert_eq!(filtered_for(&f, &s, 0), Some(Duration::from_secs(5)));
    assert!(f.offers(4000, &mut s).is_empty());
    // Huge and infinite: 365 days.
    let o = f.offers(6000, &mut s).remove(0);
    decline(&mut f, 6000, &s, &o.id, Some(f64::INFINITY));
    assert_eq!(
        filtered_for(&f, &s, 6000),
        Some(Duration::from_secs(365 * 24 * 3600))
    );
    f.m.handle_call(
        f.at(6000),
        &s.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::Revive as i32),
            ..Default::default()
        },
    );
    // Shorter than the allocation interval (1 s): one interval.
    let o = f.offers(7000, &mut s).remove(0);
    decline(&mut f, 7000, &s, &o.id, Some(0.1));
    assert_eq!(filtered_for(&f, &s, 7000), Some(Duration::from_secs(1)));
    // Zero: no filter at all.
    let o = f.offers(8000, &mut s).remove(0);
    f.m.frameworks.get_mut(&s.id).expect("fw").filters.clear();
    decline(&mut f, 8000, &s, &o.id, Some(0.0));
    assert_eq!(filtered_for(&f, &s, 8000), None);
    assert_eq!(f.offers(9000, &mut s).len(), 1);
}

/// `common::validation::validateID` (src/common/validation.cpp) words
/// task id errors: empty, too long, `.`/`..`, control characters.
#[test]
fn task_ids_are_validated_in_mesos_words() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let long = "x".repeat(256);
    f.launch(
        0,
        &s,
        &o,
        vec![
            task("", &o.agent_id, 0.1),
            task(&long, &o.agent_id, 0.1),
            task("..", &o.agent_id, 0.1),
            task("a\tb", &o.agent_id, 0.1),
            task("a/b", &o.agent_id, 0.1),
        ],
    );
    let msgs: Vec<String> = updates(&mut s.rx)
        .iter()
        .map(|st| {
            assert_eq!(st.state(), TaskState::TaskError);
            assert_eq!(st.reason(), Reason::TaskInvalid);
            st.message().to_string()
        })
        .collect();
    assert_eq!(
        msgs,
        vec![
            "ID must not be empty".to_string(),
            "ID must not be greater than 255 characters".to_string(),
            "'..' is disallowed".to_string(),
            "'a\tb' contains invalid characters".to_string(),
            "'a/b' contains invalid characters".to_string(),
        ]
    );
}

/// `Master::validateFramework` (master.cpp): suppressed roles are checked
/// before "Framework has been removed", and the failover timeout must fit
/// stout's `Duration::create` (int64 nanoseconds), printed with
/// `stringify(double)`.
#[test]
fn subscribe_validation_order_and_failover_timeout_range() {
    let mut f = fixture(1);
    let a = f.subscribe(0, info(&[])).expect("subscribed");
    f.m.remove_framework(&a.id);
    let mut removed = info(&[]);
    removed.id = Some(v1::FrameworkId {
        value: a.id.clone(),
    });
    let (msg, _) = f.subscribe(0, removed.clone()).err().expect("refused");
    assert_eq!(msg, "Framework has been removed");
    let (tx, _rx) = unbounded_channel();
    let out = f.m.subscribe(
        f.at(0),
        call::Subscribe {
            framework_info: removed,
            suppressed_roles: vec!["other".into()],
        },
        Connection {
            stream_id: "s".into(),
            tx,
        },
    );
    assert_eq!(
        out,
        SubscribeOutcome::Refused {
            message: "Suppressed role 'other' is not contained in the list of roles".into()
        }
    );
    let mut big = info(&[]);
    big.failover_timeout = Some(1e10);
    let (msg, _) = f.subscribe(0, big).err().expect("refused");
    assert_eq!(msg, "The framework failover_timeout (1e+10) is invalid");
    let mut ok = info(&[]);
    ok.failover_timeout = Some(9e9);
    assert!(f.subscribe(0, ok).is_ok());
}

#[test]
fn doubles_are_stringified_like_an_ostream() {
    use super::master::stringify_f64;
    assert_eq!(stringify_f64(3600.0), "3600");
    assert_eq!(stringify_f64(0.5), "0.5");
    assert_eq!(stringify_f64(1e10), "1e+10");
    assert_eq!(stringify_f64(123456.0), "123456");
    assert_eq!(stringify_f64(1234567.0), "1.23457e+06");
    assert_eq!(stringify_f64(0.0001), "0.0001");
    assert_eq!(stringify_f64(0.00001), "1e-05");
    assert_eq!(stringify_f64(f64::INFINITY), "inf");
    assert_eq!(stringify_f64(-2.5), "-2.5");
}

/// `Master::__reregisterSlave` (master.cpp): when an unreachable agent
/// comes back, each of its tasks is announced with the agent's latest
/// state (TASK_RUNNING here, even to a framework that was told TASK_LOST),
/// SOURCE_MASTER, REASON_AGENT_REREGISTERED, "Unreachable agent
/// re-reregistered", no uuid; tasks of non-partition-aware frameworks are
/// not killed.
#[test]
fn reregistered_agent_announces_its_tasks_to_every_framework() {
    for caps in [
        vec![],
        vec![v1::framework_info::capability::Type::PartitionAware],
    ] {
        let mut f = fixture(1);
        let mut s = f.subscribe(0, info(&caps)).expect("subscribed");
        let agent = running_task(&mut f, &mut s, "t");
        f.m.mark_unreachable(&agent).expect("active");
        drain(&mut s.rx);
        f.m.reregister(f.at(9000), &agent).expect("unreachable");
        let st = updates(&mut s.rx);
        assert_eq!(st.len(), 1, "{st:?}");
        assert_eq!(st[0].state(), TaskState::TaskRunning);
        assert_eq!(st[0].source(), v1::task_status::Source::Master);
        assert_eq!(st[0].reason(), Reason::AgentReregistered);
        assert_eq!(st[0].message(), "Unreachable agent re-reregistered");
        assert!(st[0].uuid.is_none());
        assert!(st[0].container_status.is_some());
        assert_eq!(
            f.m.frameworks[&s.id].tasks["t"].state,
            TaskState::TaskRunning
        );
    }
}

/// `validation::offer::validate` (src/master/validation.cpp) runs each
/// validator over the whole offer list before the next: a duplicate is
/// reported before an unknown offer that precedes it, and an unknown offer
/// before another framework's offer that precedes it.
#[test]
fn offer_validators_run_in_mesos_order() {
    let mut f = fixture(2);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let mut other = f.subscribe(0, info(&[])).expect("other");
    let mine = f.offers(0, &mut s);
    let theirs: Vec<v1::Offer> = drain(&mut other.rx)
        .into_iter()
        .filter_map(|e| e.offers)
        .flat_map(|o| o.offers)
        .collect();
    let unknown = v1::OfferId {
        value: "nope".into(),
    };
    let accept = |f: &mut Fixture, s: &mut Sched, ids: Vec<v1::OfferId>| {
        f.m.accept(
            f.at(0),
            &s.id,
            call::Accept {
                offer_ids: ids,
                operations: vec![launch_op(vec![task(
                    "t",
                    &v1::AgentId { value: "a".into() },
                    0.1,
                )])],
                filters: None,
            },
        );
        updates(&mut s.rx).remove(0).message().to_string()
    };
    let m = accept(
        &mut f,
        &mut s,
        vec![unknown.clone(), mine[0].id.clone(), mine[0].id.clone()],
    );
    assert_eq!(
        m,
        format!(
            "Task launched with invalid offers: Duplicate offer {} in offer list",
            mine[0].id.value
        )
    );
    let t = theirs.first().expect("the other framework got an offer");
    let m = accept(&mut f, &mut s, vec![t.id.clone(), unknown.clone()]);
    assert_eq!(
        m,
        "Task launched with invalid offers: Offer nope is no longer valid"
    );
}

/// `Master::__removeSlave` (master.cpp) sends the tasks' updates before it
/// rescinds the agent's offers.
#[test]
fn agent_removal_updates_tasks_before_rescinding_offers() {
    let mut f = fixture(1);
    let mut s = f
        .subscribe(
            0,
            info(&[v1::framework_info::capability::Type::PartitionAware]),
        )
        .expect("subscribed");
    let agent = running_task(&mut f, &mut s, "t");
    f.m.tick(f.at(7000));
    drain(&mut s.rx);
    assert!(!f.m.offers.is_empty());
    f.m.mark_unreachable(&agent).expect("active");
    let kinds: Vec<event::Type> = drain(&mut s.rx).iter().map(|e| e.r#type()).collect();
    assert_eq!(kinds, vec![event::Type::Update, event::Type::Rescind]);
}

/// `Master::reconcile` (master.cpp) answers known tasks with
/// `protobuf::getTaskContainerStatus`, the container status of the
/// latest update that had one (so the task's IP is visible).
#[test]
fn reconciliation_answers_carry_the_container_status() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    running_task(&mut f, &mut s, "t");
    f.m.reconcile(&s.id, vec![]);
    let st = updates(&mut s.rx);
    assert_eq!(st[0].reason(), Reason::Reconciliation);
    let cs = st[0].container_status.as_ref().expect("container status");
    assert!(cs.container_id.is_some());
    assert!(cs.network_infos[0].ip_addresses[0].ip_address.is_some());
}

#[test]
fn delayed_acknowledgements_are_dropped_so_updates_repeat() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    f.launch(0, &s, &o, vec![task("t1", &o.agent_id, 1.0)]);
    f.m.tick(f.at(1));
    let starting = updates(&mut s.rx).remove(0);
    assert_eq!(starting.state(), TaskState::TaskStarting);
    f.m.acks_ignored_until = Some(f.at(15_000));
    // Dropped: RUNNING stays queued and STARTING is sent again.
    ack(&mut f, 2, &s, &starting);
    f.m.tick(f.at(500));
    assert!(updates(&mut s.rx).is_empty());
    f.m.tick(f.at(10_002));
    let again = updates(&mut s.rx);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].uuid, starting.uuid, "the same update, retried");
    // Once the delay is over the same acknowledgement goes through.
    ack(&mut f, 15_000, &s, &again[0]);
    let st = updates(&mut s.rx);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].state(), TaskState::TaskRunning);
}

fn command_health_check() -> v1::HealthCheck {
    v1::HealthCheck {
        r#type: Some(v1::health_check::Type::Command as i32),
        command: Some(v1::CommandInfo {
            value: Some("true".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn duration(nanoseconds: i64) -> Option<v1::DurationInfo> {
    Some(v1::DurationInfo { nanoseconds })
}

fn mesos_container(change: impl FnOnce(&mut v1::ContainerInfo)) -> Option<v1::ContainerInfo> {
    let mut c = v1::ContainerInfo {
        r#type: v1::container_info::Type::Mesos as i32,
        ..Default::default()
    };
    change(&mut c);
    Some(c)
}

fn custom_executor(id: &str) -> v1::ExecutorInfo {
    v1::ExecutorInfo {
        executor_id: v1::ExecutorId { value: id.into() },
        command: Some(v1::CommandInfo {
            value: Some("./executor".into()),
            ..Default::default()
        }),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        ..Default::default()
    }
}

fn docker_volume(driver: Option<&str>, name: &str) -> v1::Volume {
    v1::Volume {
        mode: v1::volume::Mode::Rw as i32,
        container_path: format!("/data/{name}"),
        source: Some(v1::volume::Source {
            r#type: Some(v1::volume::source::Type::DockerVolume as i32),
            docker_volume: Some(v1::volume::source::DockerVolume {
                driver: driver.map(str::to_string),
                name: name.into(),
                driver_options: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn network(name: Option<&str>, ip: Option<&str>) -> v1::NetworkInfo {
    v1::NetworkInfo {
        name: name.map(str::to_string),
        ip_addresses: ip
            .map(|ip| v1::network_info::IpAddress {
                protocol: None,
                ip_address: Some(ip.into()),
            })
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

/// Launches `tasks` on one fresh offer and returns the first update of
/// each, in order.
fn first_updates(tasks: impl FnOnce(&v1::AgentId) -> Vec<v1::TaskInfo>) -> Vec<v1::TaskStatus> {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    f.launch(0, &s, &o, tasks(&o.agent_id));
    f.m.tick(f.at(1));
    updates(&mut s.rx)
}

/// One task per rule of `task::internal::validateTask`,
/// `validateExecutor` and `common/validation.cpp`, with the message the
/// real master sends (the same texts `tests/integration/real_mesos_sim_differential.rs` checks
/// against a real Mesos).
#[test]
fn each_task_validation_rule_gives_task_error_with_mesos_text() {
    type Change = Box<dyn Fn(&mut v1::TaskInfo, &str)>;
    let rules: Vec<(&str, Change, &str)> = vec![
        (
            "killpolicy",
            Box::new(|t, _| {
                t.kill_policy = Some(v1::KillPolicy {
                    grace_period: duration(-1),
                })
            }),
            "Task's 'kill_policy.grace_period' must be non-negative",
        ),
        (
            "maxtime",
            Box::new(|t, _| t.max_completion_time = duration(-1)),
            "Task's `max_completion_time` must be non-negative",
        ),
        (
            "checktype",
            Box::new(|t, _| t.check = Some(v1::CheckInfo::default())),
            "Task uses invalid check: CheckInfo must specify 'type'",
        ),
        (
            "checkcmd",
            Box::new(|t, _| {
                t.check = Some(v1::CheckInfo {
                    r#type: Some(v1::check_info::Type::Command as i32),
                    ..Default::default()
                })
            }),
            "Task uses invalid check: Expecting 'command' to be set for COMMAND check",
        ),
        (
            "hctype",
            Box::new(|t, _| t.health_check = Some(v1::HealthCheck::default())),
            "Task uses invalid health check: HealthCheck must specify 'type'",
        ),
        (
            "hchttp",
            Box::new(|t, _| {
                t.health_check = Some(v1::HealthCheck {
                    r#type: Some(v1::health_check::Type::Http as i32),
                    ..Default::default()
                })
            }),
            "Task uses invalid health check: Expecting 'http' to be set for HTTP health check",
        ),
        (
            "hcpath",
            Box::new(|t, _| {
                t.health_check = Some(v1::HealthCheck {
                    r#type: Some(v1::health_check::Type::Http as i32),
                    http: Some(v1::health_check::HttpCheckInfo {
                        port: 80,
                        path: Some("health".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
            "Task uses invalid health check: The path 'health' of HTTP health check must start with '/'",
        ),
        (
            "hctcp",
            Box::new(|t, _| {
                t.health_check = Some(v1::HealthCheck {
                    r#type: Some(v1::health_check::Type::Tcp as i32),
                    ..Default::default()
                })
            }),
            "Task uses invalid health check: Expecting 'tcp' to be set for TCP health check",
        ),
        (
            "hcinterval",
            Box::new(|t, _| {
                let mut h = command_health_check();
                h.interval_seconds = Some(-1.0);
                t.health_check = Some(h);
            }),
            "Task uses invalid health check: Expecting 'interval_seconds' to be non-negative",
        ),
        (
            "hcshell",
            Box::new(|t, _| {
                t.health_check = Some(v1::HealthCheck {
                    r#type: Some(v1::health_check::Type::Command as i32),
                    command: Some(v1::CommandInfo::default()),
                    ..Default::default()
                })
            }),
            "Task uses invalid health check: Command health check must contain 'shell command'",
        ),
        (
            "hcunknown",
            Box::new(|t, _| {
                t.health_check = Some(v1::HealthCheck {
                    r#type: Some(v1::health_check::Type::Unknown as i32),
                    ..Default::default()
                })
            }),
            "Task uses invalid health check: 'UNKNOWN' is not a valid health check type",
        ),
        (
            "hcscheme",
            Box::new(|t, _| {
                t.health_check = Some(v1::HealthCheck {
                    r#type: Some(v1::health_check::Type::Http as i32),
                    http: Some(v1::health_check::HttpCheckInfo {
                        port: 80,
                        scheme: Some("ftp".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
            "Task uses invalid health check: Unsupported HTTP health check scheme: 'ftp'",
        ),
        (
            "checkpath",
            Box::new(|t, _| {
                t.check = Some(v1::CheckInfo {
                    r#type: Some(v1::check_info::Type::Http as i32),
                    http: Some(v1::check_info::Http {
                        port: 80,
                        path: Some("x".into()),
                    }),
                    ..Default::default()
                })
            }),
            "Task uses invalid check: The path 'x' of HTTP check must start with '/'",
        ),
        (
            "checktcp",
            Box::new(|t, _| {
                t.check = Some(v1::CheckInfo {
                    r#type: Some(v1::check_info::Type::Tcp as i32),
                    ..Default::default()
                })
            }),
            "Task uses invalid check: Expecting 'tcp' to be set for TCP check",
        ),
        (
            "checkdelay",
            Box::new(|t, _| {
                t.check = Some(v1::CheckInfo {
                    r#type: Some(v1::check_info::Type::Tcp as i32),
                    tcp: Some(v1::check_info::Tcp { port: 80 }),
                    delay_seconds: Some(-1.0),
                    ..Default::default()
                })
            }),
            "Task uses invalid check: Expecting 'delay_seconds' to be non-negative",
        ),
        (
            "envvalue",
            Box::new(|t, _| {
                if let Some(c) = t.command.as_mut() {
                    c.environment = Some(v1::Environment {
                        variables: vec![v1::environment::Variable {
                            name: "V".into(),
                            ..Default::default()
                        }],
                    });
                }
            }),
            "Task's `CommandInfo` is invalid: Environment variable 'V' of type 'VALUE' must have a value set",
        ),
        (
            "envsecretref",
            Box::new(|t, _| {
                if let Some(c) = t.command.as_mut() {
                    c.environment = Some(v1::Environment {
                        variables: vec![v1::environment::Variable {
                            name: "S".into(),
                            r#type: Some(v1::environment::variable::Type::Secret as i32),
                            secret: Some(v1::Secret {
                                r#type: Some(v1::secret::Type::Reference as i32),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }],
                    });
                }
            }),
            "Task's `CommandInfo` is invalid: Environment variable 'S' specifies an invalid secret: Secret of type REFERENCE must have the 'reference' field set",
        ),
        (
            "envunknown",
            Box::new(|t, _| {
                if let Some(c) = t.command.as_mut() {
                    c.environment = Some(v1::Environment {
                        variables: vec![v1::environment::Variable {
                            name: "U".into(),
                            r#type: Some(v1::environment::variable::Type::Unknown as i32),
                            value: Some("x".into()),
                            ..Default::default()
                        }],
                    });
                }
            }),
            "Task's `CommandInfo` is invalid: Environment variable of type 'UNKNOWN' is not allowed",
        ),
        (
            "volsandbox",
            Box::new(|t, _| {
                t.container = mesos_container(|c| {
                    c.volumes.push(v1::Volume {
                        mode: v1::volume::Mode::Rw as i32,
                        container_path: "/x".into(),
                        source: Some(v1::volume::Source {
                            r#type: Some(v1::volume::source::Type::SandboxPath as i32),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                })
            }),
            "Task's `ContainerInfo` is invalid: Invalid volume: 'source.sandbox_path' is not set for SANDBOX_PATH volume",
        ),
        (
            "volunknown",
            Box::new(|t, _| {
                t.container = mesos_container(|c| {
                    c.volumes.push(v1::Volume {
                        mode: v1::volume::Mode::Rw as i32,
                        container_path: "/x".into(),
                        source: Some(v1::volume::Source::default()),
                        ..Default::default()
                    })
                })
            }),
            "Task's `ContainerInfo` is invalid: Invalid volume: 'source.type' is unknown",
        ),
        (
            "dockername",
            Box::new(|t, _| {
                t.container = Some(v1::ContainerInfo {
                    r#type: v1::container_info::Type::Docker as i32,
                    docker: Some(v1::container_info::DockerInfo {
                        image: "busybox".into(),
                        parameters: vec![v1::Parameter {
                            key: "name".into(),
                            value: "x".into(),
                        }],
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
            "Task's `ContainerInfo` is invalid: Parameter in DockerInfo must not be 'name'",
        ),
        (
            "cpulimit",
            Box::new(|t, _| {
                t.resources = vec![scalar("mem", 64.0)];
                t.limits
                    .insert("cpus".into(), v1::value::Scalar { value: 1.0 });
            }),
            "When a CPU limit is specified, a CPU request must also be specified",
        ),
        (
            "execnotype",
            Box::new(|t, _| {
                t.command = None;
                let mut e = custom_executor("e");
                e.command = None;
                t.executor = Some(e);
            }),
            "'ExecutorInfo.command' must be set",
        ),
        (
            "execdefaultok",
            Box::new(|t, _| {
                t.command = None;
                let mut e = custom_executor("e");
                e.command = None;
                e.set_type(v1::executor_info::Type::Default);
                t.executor = Some(e);
            }),
            "'ExecutorInfo.type' must be 'CUSTOM'",
        ),
        (
            "env",
            Box::new(|t, _| {
                if let Some(c) = t.command.as_mut() {
                    c.environment = Some(v1::Environment {
                        variables: vec![v1::environment::Variable {
                            name: "S".into(),
                            r#type: Some(v1::environment::variable::Type::Secret as i32),
                            ..Default::default()
                        }],
                    });
                }
            }),
            "Task's `CommandInfo` is invalid: Environment variable 'S' of type 'SECRET' must have a secret set",
        ),
        (
            "volume",
            Box::new(|t, _| {
                t.container = mesos_container(|c| {
                    c.volumes.push(v1::Volume {
                        mode: v1::volume::Mode::Ro as i32,
                        container_path: "/x".into(),
                        host_path: Some("/y".into()),
                        image: Some(v1::Image {
                            r#type: v1::image::Type::Docker as i32,
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                })
            }),
            "Task's `ContainerInfo` is invalid: Invalid volume: Only one of them should be set: 'host_path', 'image' and 'source'",
        ),
        (
            "volsource",
            Box::new(|t, _| {
                t.container = mesos_container(|c| {
                    c.volumes.push(v1::Volume {
                        mode: v1::volume::Mode::Ro as i32,
                        container_path: "/x".into(),
                        source: Some(v1::volume::Source {
                            r#type: Some(v1::volume::source::Type::HostPath as i32),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                })
            }),
            "Task's `ContainerInfo` is invalid: Invalid volume: 'source.host_path' is not set for HOST_PATH volume",
        ),
        (
            "docker",
            Box::new(|t, _| {
                t.container = Some(v1::ContainerInfo {
                    r#type: v1::container_info::Type::Docker as i32,
                    ..Default::default()
                })
            }),
            "Task's `ContainerInfo` is invalid: DockerInfo 'docker' is not set for DOCKER typed ContainerInfo",
        ),
        (
            "limits",
            Box::new(|t, _| {
                t.limits
                    .insert("gpus".into(), v1::value::Scalar { value: 1.0 });
            }),
            "Only cpus and mem may be included in a task's resource limits",
        ),
        (
            "memlimit",
            Box::new(|t, _| {
                t.limits
                    .insert("mem".into(), v1::value::Scalar { value: 1.0 });
            }),
            "The memory limit must be greater than or equal to the memory request",
        ),
        (
            "both",
            Box::new(|t, _| t.executor = Some(custom_executor("e"))),
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present",
        ),
        (
            "execdefault",
            Box::new(|t, _| {
                t.command = None;
                let mut e = custom_executor("e");
                e.set_type(v1::executor_info::Type::Default);
                t.executor = Some(e);
            }),
            "'ExecutorInfo.command' must not be set for 'DEFAULT' executor",
        ),
        (
            "execcustom",
            Box::new(|t, _| {
                t.command = None;
                let mut e = custom_executor("e");
                e.command = None;
                e.set_type(v1::executor_info::Type::Custom);
                t.executor = Some(e);
            }),
            "'ExecutorInfo.command' must be set for 'CUSTOM' executor",
        ),
        (
            "execgrace",
            Box::new(|t, _| {
                t.command = None;
                let mut e = custom_executor("e");
                e.shutdown_grace_period = duration(-5);
                t.executor = Some(e);
            }),
            "ExecutorInfo's 'shutdown_grace_period' must be non-negative",
        ),
        (
            "execfw",
            Box::new(|t, _| {
                t.command = None;
                let mut e = custom_executor("e");
                e.framework_id = Some(v1::FrameworkId {
                    value: "other".into(),
                });
                t.executor = Some(e);
            }),
            "ExecutorInfo has an invalid FrameworkID (Actual: other vs Expected: FW)",
        ),
        (
            "execid",
            Box::new(|t, _| {
                t.command = None;
                t.executor = Some(custom_executor(".."));
            }),
            "'..' is disallowed",
        ),
    ];
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let tasks: Vec<v1::TaskInfo> = rules
        .iter()
        .map(|(id, change, _)| {
            let mut t = task(id, &o.agent_id, 0.1);
            change(&mut t, &s.id);
            t
        })
        .collect();
    f.launch(0, &s, &o, tasks);
    let st = updates(&mut s.rx);
    assert_eq!(st.len(), rules.len());
    for ((id, _, expected), status) in rules.iter().zip(&st) {
        assert_eq!(status.task_id.value, *id);
        assert_eq!(status.state(), TaskState::TaskError, "{id}");
        assert_eq!(status.reason(), Reason::TaskInvalid, "{id}");
        assert!(
            status.uuid.is_none(),
            "{id}: master-made updates have no uuid"
        );
        assert_eq!(status.message(), expected.replace("FW", &s.id), "{id}");
    }
}

#[test]
fn health_check_without_type_takes_it_from_its_fields() {
    let st = first_updates(|agent| {
        let mut t = task("h", agent, 0.1);
        let mut hc = command_health_check();
        hc.r#type = None;
        t.health_check = Some(hc);
        vec![t]
    });
    assert_eq!(
        st[0].state(),
        TaskState::TaskStarting,
        "{:?}",
        st[0].message
    );
}

#[test]
fn a_custom_executor_is_charged_once_and_must_stay_the_same() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let with_exec = |id: &str, exec: v1::ExecutorInfo| {
        let mut t = task(id, &o.agent_id, 0.5);
        t.command = None;
        t.executor = Some(exec);
        t
    };
    let mut changed = custom_executor("e");
    changed.name = Some("renamed".into());
    f.m.accept(
        f.at(0),
        &s.id,
        call::Accept {
            offer_ids: vec![o.id.clone()],
            operations: vec![launch_op(vec![
                with_exec("a", custom_executor("e")),
                with_exec("b", custom_executor("e")),
                with_exec("c", changed),
            ])],
            filters: Some(v1::Filters {
                refuse_seconds: Some(0.0),
            }),
        },
    );
    let st = updates(&mut s.rx);
    assert_eq!(st.len(), 1, "{st:?}");
    assert_eq!(st[0].task_id.value, "c");
    assert!(
        st[0].message().starts_with(
            "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID."
        ),
        "{}",
        st[0].message()
    );
    // 4 cpus - 0.5 - 0.5 - 0.1 (the executor, once).
    let again = f.offers(1000, &mut s);
    let cpus: f64 = again[0]
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .map(|r| r.scalar.as_ref().map_or(0.0, |s| s.value))
        .sum();
    assert!((cpus - 2.9).abs() < 1e-9, "{cpus}");
    assert_eq!(
        again[0].executor_ids,
        vec![v1::ExecutorId { value: "e".into() }]
    );
    let agent = o.agent_id.value.clone();
    let used_cpus = |f: &Fixture| f.m.agents[&agent].used.scalar_total("cpus");
    assert!((used_cpus(&f) - 1.1).abs() < 1e-9);
    // The executor outlives its first task and goes with its last one.
    f.m.end_task(f.at(1000), &s.id, "a", TaskState::TaskFinished, None)
        .expect("running");
    assert!((used_cpus(&f) - 0.6).abs() < 1e-9, "{}", used_cpus(&f));
    f.m.end_task(f.at(1000), &s.id, "b", TaskState::TaskFinished, None)
        .expect("running");
    assert!(used_cpus(&f).abs() < 1e-9, "{}", used_cpus(&f));
    assert!(f.m.agents[&agent].executors.is_empty());
}

fn group_op(exec: v1::ExecutorInfo, tasks: Vec<v1::TaskInfo>) -> v1::offer::Operation {
    v1::offer::Operation {
        r#type: Some(v1::offer::operation::Type::LaunchGroup as i32),
        launch_group: Some(v1::offer::operation::LaunchGroup {
            executor: exec,
            task_group: v1::TaskGroupInfo { tasks },
        }),
        ..Default::default()
    }
}

fn default_executor(fw: &str, id: &str) -> v1::ExecutorInfo {
    v1::ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Default as i32),
        executor_id: v1::ExecutorId { value: id.into() },
        framework_id: Some(v1::FrameworkId { value: fw.into() }),
        resources: vec![
            scalar("cpus", 0.1),
            scalar("mem", 32.0),
            scalar("disk", 10.0),
        ],
        ..Default::default()
    }
}

#[test]
fn each_task_group_rule_gives_task_group_invalid() {
    type Change = Box<dyn Fn(&mut v1::ExecutorInfo, &mut v1::TaskInfo)>;
    let rules: Vec<(Change, &str)> = vec![
        (
            Box::new(|_, t| {
                t.container = Some(v1::ContainerInfo {
                    r#type: v1::container_info::Type::Docker as i32,
                    docker: Some(v1::container_info::DockerInfo {
                        image: "busybox".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            }),
            "Task 'g' is invalid: Docker ContainerInfo is not supported on the task",
        ),
        (
            Box::new(|_, t| {
                t.container = mesos_container(|c| c.network_infos.push(network(Some("net"), None)));
                t.health_check = Some(v1::HealthCheck {
                    r#type: Some(v1::health_check::Type::Tcp as i32),
                    tcp: Some(v1::health_check::TcpCheckInfo {
                        port: 80,
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }),
            "Task 'g' is invalid: HTTP and TCP health checks are not supported for nested containers not joining parent's network",
        ),
        (
            Box::new(|_, t| {
                t.limits
                    .insert("cpus".into(), v1::value::Scalar { value: 1.0 });
            }),
            "Task 'g' is invalid: Resource limits may only be set for tasks within a task group when the 'share_cgroups' field is set to 'false'.",
        ),
        (
            Box::new(|e, _| e.r#type = None),
            "'ExecutorInfo.type' must be set",
        ),
        (
            Box::new(|e, _| e.command = Some(v1::CommandInfo::default())),
            "'ExecutorInfo.command' must not be set for 'DEFAULT' executor",
        ),
        (
            Box::new(|e, _| e.resources = vec![scalar("mem", 32.0), scalar("disk", 10.0)]),
            "Executor 'x' uses less CPUs (None) than the minimum required (0.01)",
        ),
        (
            Box::new(|e, _| {
                e.resources = vec![
                    scalar("cpus", 0.1),
                    scalar("mem", 16.0),
                    scalar("disk", 10.0),
                ]
            }),
            "Executor 'x' uses less memory (16MB) than the minimum required (32MB)",
        ),
        (
            Box::new(|e, _| e.resources = vec![scalar("cpus", 0.1), scalar("mem", 32.0)]),
            "Executor 'x' uses no disk",
        ),
    ];
    for (change, expected) in rules {
        let mut f = fixture(1);
        let mut s = f.subscribe(0, info(&[])).expect("subscribed");
        let o = f.offers(0, &mut s).remove(0);
        let mut exec = default_executor(&s.id, "x");
        let mut t = task("g", &o.agent_id, 0.1);
        t.command = Some(v1::CommandInfo {
            value: Some("sleep 1".into()),
            ..Default::default()
        });
        change(&mut exec, &mut t);
        f.m.accept(
            f.at(0),
            &s.id,
            call::Accept {
                offer_ids: vec![o.id.clone()],
                operations: vec![group_op(exec, vec![t])],
                filters: None,
            },
        );
        let st = updates(&mut s.rx);
        assert_eq!(st[0].state(), TaskState::TaskError, "{expected}");
        assert_eq!(st[0].reason(), Reason::TaskGroupInvalid, "{expected}");
        assert_eq!(st[0].message(), expected);
    }
}

#[test]
fn joining_one_cni_network_twice_fails_at_the_agent() {
    let st = first_updates(|agent| {
        let mut t = task("n", agent, 0.1);
        t.container = mesos_container(|c| {
            c.network_infos = vec![network(Some("blue"), None), network(Some("blue"), None)];
        });
        vec![t]
    });
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].state(), TaskState::TaskFailed);
    assert_eq!(st[0].source(), v1::task_status::Source::Agent);
    assert_eq!(st[0].reason(), Reason::ContainerLaunchFailed);
    assert!(st[0].uuid.is_some(), "an agent update, to acknowledge");
    assert!(st[0].container_status.is_none(), "the container never ran");
    assert_eq!(
        st[0].message(),
        "Failed to launch container: Attempted to join CNI network 'blue' multiple times"
    );
}

#[test]
fn a_network_entry_without_a_name_is_ignored() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let mut unnamed = task("unnamed", &o.agent_id, 0.1);
    unnamed.container = mesos_container(|c| {
        c.network_infos = vec![network(None, Some("10.9.9.9")), network(None, None)];
    });
    let mut second = task("second", &o.agent_id, 0.1);
    second.container = mesos_container(|c| {
        c.network_infos = vec![
            network(None, Some("10.9.9.9")),
            network(Some("red"), Some("10.1.1.1")),
        ];
    });
    f.launch(0, &s, &o, vec![unnamed, second]);
    f.m.tick(f.at(1));
    let st = updates(&mut s.rx);
    assert!(
        st.iter().all(|s| s.state() == TaskState::TaskStarting),
        "{st:?}"
    );
    let fw = &f.m.frameworks[&s.id];
    let agent_ip = f.m.agents[&o.agent_id.value].ip.clone();
    assert_eq!(
        fw.tasks["unnamed"].ip, agent_ip,
        "host networking: the static IP does nothing"
    );
    assert_eq!(fw.tasks["unnamed"].network_name, None);
    assert_eq!(fw.tasks["second"].ip, "10.1.1.1");
    assert_eq!(fw.tasks["second"].network_name.as_deref(), Some("red"));
}

#[test]
fn the_same_docker_volume_twice_fails_at_the_agent() {
    let st = first_updates(|agent| {
        let mut dup = task("dup", agent, 0.1);
        dup.container = mesos_container(|c| {
            c.volumes = vec![
                docker_volume(Some("rexray"), "v1"),
                docker_volume(Some("rexray"), "v1"),
            ];
        });
        let mut two_drivers = task("two-drivers", agent, 0.1);
        two_drivers.container = mesos_container(|c| {
            c.volumes = vec![
                docker_volume(Some("rexray"), "v1"),
                docker_volume(Some("local"), "v1"),
            ];
        });
        let mut no_driver = task("no-driver", agent, 0.1);
        no_driver.container = mesos_container(|c| c.volumes = vec![docker_volume(None, "v2")]);
        vec![dup, two_drivers, no_driver]
    });
    let by_id = |id: &str| {
        st.iter()
            .find(|s| s.task_id.value == id)
            .expect("an update")
    };
    assert_eq!(by_id("dup").state(), TaskState::TaskFailed);
    assert_eq!(by_id("dup").reason(), Reason::ContainerLaunchFailed);
    assert_eq!(
        by_id("dup").message(),
        "Failed to launch container: Found duplicate docker volume with driver 'rexray' and name 'v1'"
    );
    assert_eq!(by_id("two-drivers").state(), TaskState::TaskStarting);
    assert_eq!(by_id("no-driver").state(), TaskState::TaskFailed);
    assert_eq!(
        by_id("no-driver").message(),
        "Failed to launch container: The volume driver is not specified for volume 'v2'"
    );
}

#[test]
fn state_lists_group_and_custom_executors_but_not_command_ones() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let mut custom = task("custom", &o.agent_id, 0.1);
    custom.command = None;
    custom.executor = Some(custom_executor("ce"));
    let mut grouped = task("grouped", &o.agent_id, 0.1);
    grouped.command = Some(v1::CommandInfo {
        value: Some("sleep 1".into()),
        ..Default::default()
    });
    f.m.accept(
        f.at(0),
        &s.id,
        call::Accept {
            offer_ids: vec![o.id.clone()],
            operations: vec![
                launch_op(vec![task("plain", &o.agent_id, 0.1), custom]),
                group_op(default_executor(&s.id, "ge"), vec![grouped]),
            ],
            filters: None,
        },
    );
    f.m.tick(f.at(1));
    let state = super::state_json::state_value(&f.m);
    let fw = &state["frameworks"][0];
    let mut executors: Vec<&serde_json::Value> = fw["executors"]
        .as_array()
        .expect("executors")
        .iter()
        .collect();
    executors.sort_by_key(|e| e["executor_id"].as_str().map(str::to_string));
    assert_eq!(executors.len(), 2, "{executors:?}");
    assert_eq!(executors[0]["executor_id"], "ce");
    assert_eq!(
        executors[0]["framework_id"],
        s.id.as_str(),
        "filled in by the master"
    );
    assert_eq!(executors[0]["command"]["value"], "./executor");
    assert_eq!(executors[0]["slave_id"], o.agent_id.value.as_str());
    assert_eq!(executors[0]["role"], "*");
    assert!(executors[0].get("type").is_none());
    assert_eq!(executors[1]["executor_id"], "ge");
    assert_eq!(executors[1]["type"], "DEFAULT");
    assert_eq!(
        executors[1]["command"],
        serde_json::json!({"argv": [], "uris": []})
    );
    assert_eq!(executors[1]["resources"]["disk"], 10.0);
    assert!(fw.get("completed_executors").is_none());
    assert!(fw.get("pid").is_none(), "HTTP frameworks have no pid");
    assert_eq!(fw["role"], "*");
    assert!(
        fw.get("roles").is_none(),
        "roles only for MULTI_ROLE frameworks"
    );
    // A group task's container nests in the executor's.
    let grouped = fw["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["id"] == "grouped")
        .expect("grouped task");
    assert!(
        grouped["statuses"][0]["container_status"]["container_id"]["parent"]["value"].is_string()
    );
}

#[test]
fn one_invalid_resource_voids_its_whole_launch() {
    let mut f = fixture(1);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let o = f.offers(0, &mut s).remove(0);
    let mut bad = task("bad", &o.agent_id, 0.1);
    bad.resources = vec![scalar("cpus", -1.0)];
    f.m.accept(
        f.at(0),
        &s.id,
        call::Accept {
            offer_ids: vec![o.id.clone()],
            operations: vec![
                launch_op(vec![task("peer", &o.agent_id, 0.1), bad]),
                launch_op(vec![task("other-op", &o.agent_id, 0.1)]),
            ],
            filters: None,
        },
    );
    f.m.tick(f.at(1));
    let st = updates(&mut s.rx);
    let state_of = |id: &str| {
        st.iter()
            .find(|s| s.task_id.value == id)
            .map(|s| (s.state(), s.message().to_string()))
    };
    let error = "Resource 'cpus:-1' is invalid: Invalid scalar resource: value <= 0".to_string();
    assert_eq!(
        state_of("peer"),
        Some((TaskState::TaskError, error.clone()))
    );
    assert_eq!(state_of("bad"), Some((TaskState::TaskError, error)));
    assert_eq!(
        state_of("other-op").map(|s| s.0),
        Some(TaskState::TaskStarting)
    );
}

/// The queued updates, counted by walking every task (what the counter
/// in [`super::master::SimStats`] saves callers from doing).
fn queued_updates(m: &Master) -> u64 {
    m.frameworks
        .values()
        .flat_map(|f| f.tasks.values())
        .map(|t| t.pending.len() as u64)
        .sum()
}

#[test]
fn unacknowledged_updates_are_counted_as_the_queues_change() {
    let mut f = fixture(2);
    let mut s = f
        .subscribe(
            0,
            info(&[v1::framework_info::capability::Type::PartitionAware]),
        )
        .expect("subscribed");
    let offers = f.offers(0, &mut s);
    let (a, b) = (offers[0].clone(), offers[1].clone());
    f.launch(0, &s, &a, vec![task("t1", &a.agent_id, 1.0)]);
    f.launch(0, &s, &b, vec![task("t2", &b.agent_id, 1.0)]);
    f.m.tick(f.at(1));
    let st = updates(&mut s.rx);
    assert_eq!(st.len(), 2);
    assert_eq!(f.m.stats.unacknowledged_updates, 2);
    // t1's RUNNING queues behind its unacknowledged STARTING.
    f.m.tick(f.at(200));
    assert_eq!(f.m.stats.unacknowledged_updates, 4);
    assert_eq!(f.m.stats.unacknowledged_updates, queued_updates(&f.m));
    let t1 = st
        .iter()
        .find(|u| u.task_id.value == "t1")
        .expect("t1 update");
    ack(&mut f, 200, &s, t1);
    assert_eq!(f.m.stats.unacknowledged_updates, 3);
    // A duplicate acknowledgement changes nothing and is counted.
    ack(&mut f, 201, &s, t1);
    assert_eq!(f.m.stats.unacknowledged_updates, 3);
    assert_eq!(f.m.stats.stale_acknowledgements, 1);
    // The retry re-sends t2's STARTING (t1's RUNNING is not due yet).
    f.m.tick(f.at(10_001));
    assert_eq!(f.m.stats.updates_resent, 1);
    // An agent marked gone drops its tasks' queues.
    f.m.mark_gone(&b.agent_id.value).expect("gone");
    assert_eq!(f.m.stats.unacknowledged_updates, 1);
    assert_eq!(f.m.stats.unacknowledged_updates, queued_updates(&f.m));
    // A removed framework drops the rest.
    f.m.remove_framework(&s.id);
    assert_eq!(f.m.stats.unacknowledged_updates, 0);
}

fn role_call(kind: call::Type, roles: &[&str]) -> v1::scheduler::Call {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    let mut c = v1::scheduler::Call {
        r#type: Some(kind as i32),
        ..Default::default()
    };
    match kind {
        call::Type::Revive => c.revive = Some(call::Revive { roles }),
        _ => c.suppress = Some(call::Suppress { roles }),
    }
    c
}

/// The allocation roles of offers, sorted.
fn offer_roles(offers: &[v1::Offer]) -> Vec<String> {
    let mut roles: Vec<String> = offers
        .iter()
        .filter_map(|o| o.allocation_info.as_ref()?.role.clone())
        .collect();
    roles.sort();
    roles
}

/// A MULTI_ROLE framework gets one offer per role: `b`'s holds the
/// resources reserved to `b` (legacy `role` field without
/// RESERVATION_REFINEMENT). Filters are per role and agent
/// (`offerFilters[role][agent]` in hierarchical.cpp): declining `a`'s
/// offer does not filter `b`, and a REVIVE or SUPPRESS naming roles touches
/// only those (`reviveRoles`, `suppressRoles`).
#[test]
fn multi_role_offers_filters_suppress_and_revive_are_per_role() {
    let mut f = fixture(0);
    let agent: super::cluster::AgentSpec = serde_json::from_value(serde_json::json!({
        "hostname": "r1", "resources": {"cpus": 2, "mem": 1024},
        "reserved": {"b": {"cpus": 1, "mem": 512}}
    }))
    .expect("agent");
    f.m.add_agent(&agent).expect("agent");
    let mut mr = info(&[v1::framework_info::capability::Type::MultiRole]);
    mr.roles = vec!["a".into(), "b".into()];
    let mut s = f.subscribe(0, mr).expect("subscribed");
    let offers = f.offers(0, &mut s);
    assert_eq!(offer_roles(&offers), ["a", "b"]);
    let (a, b): (Vec<_>, Vec<_>) = offers
        .into_iter()
        .partition(|o| o.allocation_info.as_ref().and_then(|i| i.role.as_deref()) == Some("a"));
    #[allow(deprecated)]
    let b_roles: Vec<&str> = b[0].resources.iter().map(|r| r.role()).collect();
    assert_eq!(b_roles, ["b", "b"], "only b's reservation is offered to b");
    #[allow(deprecated)]
    let a_roles: Vec<&str> = a[0].resources.iter().map(|r| r.role()).collect();
    assert!(a_roles.iter().all(|r| *r == "*"), "{a_roles:?}");

    // a's offer declined for 60 s, b's without a filter.
    decline(&mut f, 0, &s, &a[0].id, Some(60.0));
    decline(&mut f, 0, &s, &b[0].id, Some(0.0));
    assert_eq!(
        offer_roles(&f.offers(2000, &mut s)),
        ["b"],
        "a is filtered, b not"
    );
    // REVIVE of b leaves a's filter.
    f.m.handle_call(f.at(2000), &s.id, role_call(call::Type::Revive, &["b"]));
    let b = f.offers(3000, &mut s);
    assert!(b.is_empty(), "b's offer is still outstanding: {b:?}");
    // SUPPRESS of b, then its offer back: a is still filtered, b suppressed.
    f.m.handle_call(f.at(3000), &s.id, role_call(call::Type::Suppress, &["b"]));
    let b = f.offers(3500, &mut s);
    assert!(b.is_empty());
    let outstanding: Vec<v1::OfferId> = f.m.frameworks[&s.id]
        .offers
        .iter()
        .map(|id| v1::OfferId { value: id.clone() })
        .collect();
    assert_eq!(outstanding.len(), 1);
    decline(&mut f, 3000, &s, &outstanding[0], Some(0.0));
    assert!(
        f.offers(4000, &mut s).is_empty(),
        "a filtered, b suppressed"
    );
    // REVIVE of a: its filter goes; b stays suppressed.
    f.m.handle_call(f.at(4000), &s.id, role_call(call::Type::Revive, &["a"]));
    assert_eq!(offer_roles(&f.offers(5000, &mut s)), ["a"]);
    // REVIVE without roles: every role.
    f.m.handle_call(f.at(5000), &s.id, role_call(call::Type::Revive, &[]));
    assert_eq!(
        offer_roles(&f.offers(6000, &mut s)),
        ["b"],
        "a's offer is out"
    );
}

/// `Resources::isAllocatableTo` (resources.cpp): a reservation to `eng`
/// is offered to a framework in `eng/web`, not to one in `engineering`.
#[test]
fn a_parent_roles_reservation_is_offered_to_its_sub_roles_only() {
    let mut f = fixture(0);
    let agent: super::cluster::AgentSpec = serde_json::from_value(serde_json::json!({
        "hostname": "r1", "reserved": {"eng": {"cpus": 1, "mem": 256}}
    }))
    .expect("agent");
    f.m.add_agent(&agent).expect("agent");
    let subscribe = |f: &mut Fixture, role: &str| {
        let mut mr = info(&[v1::framework_info::capability::Type::MultiRole]);
        mr.roles = vec![role.into()];
        f.subscribe(0, mr).expect("subscribed")
    };
    let mut other = subscribe(&mut f, "engineering");
    assert!(f.offers(0, &mut other).is_empty(), "not a sub-role of eng");
    let mut web = subscribe(&mut f, "eng/web");
    let offers = f.offers(1000, &mut web);
    assert_eq!(offer_roles(&offers), ["eng/web"]);
    #[allow(deprecated)]
    let reserved: Vec<&str> = offers[0].resources.iter().map(|r| r.role()).collect();
    assert_eq!(
        reserved,
        ["eng", "eng"],
        "reserved to eng, allocated to eng/web"
    );
}

/// The machine id of an agent (its hostname and IP).
fn machine_of(f: &Fixture, agent_id: &str) -> v1::MachineId {
    let a = &f.m.agents[agent_id];
    v1::MachineId {
        hostname: Some(a.hostname.to_uppercase()),
        ip: Some(a.ip.clone()),
    }
}

fn window(machines: Vec<v1::MachineId>, start_ns: i64) -> hydrogen_mesos::v1::maintenance::Window {
    hydrogen_mesos::v1::maintenance::Window {
        machine_ids: machines,
        unavailability: v1::Unavailability {
            start: v1::TimeInfo {
                nanoseconds: start_ns,
            },
            duration: Some(v1::DurationInfo {
                nanoseconds: 3_600_000_000_000,
            }),
        },
    }
}

#[test]
fn a_draining_machine_gets_unavailability_and_inverse_offers_then_goes_down() {
    use hydrogen_mesos::v1::allocator::inverse_offer_status::Status;
    use hydrogen_mesos::v1::maintenance::Schedule;
    let mut f = fixture(2);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let agent = running_task(&mut f, &mut s, "t1");
    let machine = machine_of(&f, &agent);

    // Validation, worded as the master's.
    let empty = Schedule {
        windows: vec![window(vec![], 1)],
    };
    assert_eq!(
        f.m.update_maintenance_schedule(empty),
        Err("List of machines in the maintenance window is empty".into())
    );
    let twice = Schedule {
        windows: vec![window(vec![machine.clone(), machine.clone()], 1)],
    };
    let e = f.m.update_maintenance_schedule(twice).expect_err("refused");
    assert!(e.contains("appears more than once"), "{e}");
    assert_eq!(
        f.m.start_maintenance(std::slice::from_ref(&machine)),
        Err(format!(
            "Machine '{{\"hostname\":\"{}\",\"ip\":\"{}\"}}' is not in DRAINING mode and cannot be brought down",
            machine.hostname.clone().unwrap_or_default(),
            machine.ip.clone().unwrap_or_default()
        ))
    );

    let start = 2_000_000_000_000_000_000;
    f.m.update_maintenance_schedule(Schedule {
        windows: vec![window(vec![machine.clone()], start)],
    })
    .expect("schedule");
    // The agent's outstanding offers were rescinded; a pass after the
    // launch's 5 s filter brings one with the unavailability, and an
    // inverse offer for the task's agent.
    f.m.tick(f.at(7000));
    let evs = drain(&mut s.rx);
    let offers: Vec<&v1::Offer> = evs
        .iter()
        .filter_map(|e| e.offers.as_ref())
        .flat_map(|o| &o.offers)
        .collect();
    let draining: Vec<&&v1::Offer> = offers
        .iter()
        .filter(|o| o.agent_id.value == agent)
        .collect();
    assert_eq!(draining.len(), 1, "{offers:?}");
    assert_eq!(
        draining[0]
            .unavailability
            .as_ref()
            .map(|u| u.start.nanoseconds),
        Some(start)
    );
    assert!(
        offers
            .iter()
            .filter(|o| o.agent_id.value != agent)
            .all(|o| o.unavailability.is_none())
    );
    let inverse: Vec<v1::InverseOffer> = evs
        .iter()
        .filter_map(|e| e.inverse_offers.clone())
        .flat_map(|i| i.inverse_offers)
        .collect();
    assert_eq!(inverse.len(), 1, "{evs:?}");
    assert_eq!(
        inverse[0].agent_id.as_ref().map(|a| a.value.as_str()),
        Some(agent.as_str())
    );
    assert_eq!(inverse[0].unavailability.start.nanoseconds, start);
    assert!(inverse[0].resources.is_empty());
    // Outstanding: not sent again.
    f.m.tick(f.at(8000));
    assert!(drain(&mut s.rx).iter().all(|e| e.inverse_offers.is_none()));

    // A decline is recorded and filters the agent for refuse_seconds.
    f.m.handle_call(
        f.at(8000),
        &s.id,
        v1::scheduler::Call {
            r#type: Some(call::Type::DeclineInverseOffers as i32),
            decline_inverse_offers: Some(call::DeclineInverseOffers {
                inverse_offer_ids: vec![inverse[0].id.clone()],
                filters: Some(v1::Filters {
                    refuse_seconds: Some(2.0),
                }),
            }),
            ..Default::default()
        },
    );
    let status = f.m.maintenance_status();
    assert_eq!(status.draining_machines.len(), 1);
    assert_eq!(status.draining_machines[0].statuses.len(), 1);
    assert_eq!(
        status.draining_machines[0].statuses[0].status(),
        Status::Decline
    );
    f.m.tick(f.at(9000));
    assert!(drain(&mut s.rx).iter().all(|e| e.inverse_offers.is_none()));
    f.m.tick(f.at(10100));
    let again: Vec<v1::InverseOffer> = drain(&mut s.rx)
        .into_iter()
        .filter_map(|e| e.inverse_offers)
        .flat_map(|i| i.inverse_offers)
        .collect();
    assert_eq!(again.len(), 1, "a new inverse offer once the filter ends");

    // START_MAINTENANCE: the agent is removed, its task LOST by the master,
    // the inverse offer rescinded; STOP brings the machine back UP.
    f.m.start_maintenance(std::slice::from_ref(&machine))
        .expect("down");
    let evs = drain(&mut s.rx);
    let lost: Vec<&v1::TaskStatus> = evs
        .iter()
        .filter_map(|e| e.update.as_ref().map(|u| &u.status))
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].state(), TaskState::TaskLost);
    assert_eq!(lost[0].reason(), Reason::AgentRemoved);
    assert_eq!(
        lost[0].message.as_deref(),
        Some(
            format!(
                "Agent {} removed: Operator initiated 'Machine DOWN'",
                f.m.agents[&agent].hostname
            )
            .as_str()
        )
    );
    assert!(evs.iter().any(|e| {
        e.rescind_inverse_offer
            .as_ref()
            .is_some_and(|r| r.inverse_offer_id == again[0].id)
    }));
    assert_eq!(
        f.m.maintenance_status().down_machines,
        vec![machine.clone()]
    );
    let e =
        f.m.update_maintenance_schedule(Schedule::default())
            .expect_err("a DOWN machine stays in the schedule");
    assert!(e.contains("is deactivated and cannot be removed"), "{e}");
    f.m.stop_maintenance(std::slice::from_ref(&machine))
        .expect("up");
    assert_eq!(f.m.maintenance_status(), Default::default());
    assert!(f.m.maintenance.schedule.windows.is_empty());
}

/// A MULTI_ROLE framework info in `roles`, failed over onto framework `id`.
fn roles_info(id: Option<&str>, roles: &[&str]) -> v1::FrameworkInfo {
    let mut i = info(&[v1::framework_info::capability::Type::MultiRole]);
    i.roles = roles.iter().map(|r| r.to_string()).collect();
    i.id = id.map(|v| v1::FrameworkId { value: v.into() });
    i
}

/// Launches task `id` from `offer`, its resources carrying the offer's
/// `allocation_info` as a MULTI_ROLE framework must.
fn launch_in_offer_role(f: &mut Fixture, ms: u64, s: &Sched, offer: &v1::Offer, id: &str) {
    let mut t = task(id, &offer.agent_id, 0.5);
    for r in &mut t.resources {
        r.allocation_info = offer.allocation_info.clone();
    }
    f.launch(ms, s, offer, vec![t]);
}

fn update_call(info: v1::FrameworkInfo, suppressed: &[&str]) -> call::UpdateFramework {
    call::UpdateFramework {
        framework_info: info,
        suppressed_roles: suppressed.iter().map(|r| r.to_string()).collect(),
    }
}

/// `Master::updateFramework(Call::UpdateFramework&&)` (master.cpp):
/// `validateFramework` ("Supplied FrameworkInfo is not valid: ..."), then
/// `validateUpdate` without `preserveImmutableFields` ("FrameworkInfo
/// update is not valid: ..."), then the suppressed roles; on success the
/// roles change, offers of a removed role are rescinded and the tasks
/// launched in it keep running, still allocated to it.
#[test]
fn update_framework_changes_roles_keeps_tasks_and_refuses_immutable_fields() {
    let mut f = fixture(1);
    let mut s = f
        .subscribe(0, roles_info(None, &["a"]))
        .expect("subscribed");
    let offer = f.offers(0, &mut s).remove(0);
    launch_in_offer_role(&mut f, 0, &s, &offer, "t-a");
    let id = s.id.clone();
    let refused = |f: &mut Fixture, info: v1::FrameworkInfo, suppressed: &[&str]| {
        f.m.update_framework(f.at(100), &id, update_call(info, suppressed))
            .expect_err("refused")
    };

    let mut user = roles_info(Some(&id), &["a", "b"]);
    user.user = "other".into();
    let r = refused(&mut f, user, &[]);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message,
        "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported; attempted to update from 'root' to 'other'"
    );
    let mut checkpoint = roles_info(Some(&id), &["a", "b"]);
    checkpoint.checkpoint = Some(true);
    assert_eq!(
        refused(&mut f, checkpoint, &[]).message,
        "FrameworkInfo update is not valid: Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from 'false' to 'true'"
    );
    let mut principal = roles_info(Some(&id), &["a", "b"]);
    principal.principal = Some("p".into());
    assert_eq!(
        refused(&mut f, principal, &[]).message,
        "FrameworkInfo update is not valid: Changing framework's principal is not allowed."
    );
    assert_eq!(
        refused(&mut f, roles_info(Some(&id), &["a", "a"]), &[]).message,
        "Supplied FrameworkInfo is not valid: 'FrameworkInfo.roles' contains duplicate items: { a }"
    );
    assert_eq!(
        refused(&mut f, roles_info(Some(&id), &["a", "b"]), &["c", "d"]).message,
        "'UpdateFramework' call is not valid: Suppressed roles { c, d } are not contained in the set of roles"
    );
    assert_eq!(f.m.frameworks[&id].roles, ["a"], "refusals change nothing");

    // a → a,b with b suppressed: b gets no offer until it is unsuppressed.
    f.m.update_framework(
        f.at(200),
        &id,
        update_call(roles_info(Some(&id), &["a", "b"]), &["b"]),
    )
    .expect("updated");
    assert_eq!(f.m.frameworks[&id].roles, ["a", "b"]);
    assert!(f.m.frameworks[&id].suppressed.contains("b"));
    let offers = f.offers(1000, &mut s);
    assert!(
        !offer_roles(&offers).contains(&"b".to_string()),
        "{offers:?}"
    );
    f.m.update_framework(
        f.at(1000),
        &id,
        update_call(roles_info(Some(&id), &["a", "b"]), &[]),
    )
    .expect("updated");
    assert!(offer_roles(&f.offers(2000, &mut s)).contains(&"b".to_string()));

    // a,b → b: a's outstanding offers are rescinded; t-a keeps running in a.
    let a_offers: Vec<String> = f.m.frameworks[&id]
        .offers
        .iter()
        .filter(|o| f.m.offers[*o].role == "a")
        .cloned()
        .collect();
    f.m.update_framework(
        f.at(2000),
        &id,
        update_call(roles_info(Some(&id), &["b"]), &[]),
    )
    .expect("updated");
    let rescinded: Vec<String> = drain(&mut s.rx)
        .into_iter()
        .filter_map(|e| e.rescind.map(|r| r.offer_id.value))
        .collect();
    assert_eq!(rescinded.len(), a_offers.len());
    assert!(a_offers.iter().all(|o| rescinded.contains(o)));
    let fw = &f.m.frameworks[&id];
    assert_eq!(fw.roles, ["b"]);
    assert_eq!(fw.tasks["t-a"].role, "a");
    assert!(
        offer_roles(&f.offers(3000, &mut s))
            .iter()
            .all(|r| r == "b")
    );
}

/// `Master::subscribe` of a known framework id with a changed FrameworkInfo
/// goes through the same `updateFramework`: a restart with new roles
/// re-subscribes, the roles change, the tasks stay.
#[test]
fn resubscribe_with_new_roles_updates_them_and_keeps_tasks() {
    let mut f = fixture(1);
    let mut s = f
        .subscribe(0, roles_info(None, &["a"]))
        .expect("subscribed");
    let offer = f.offers(0, &mut s).remove(0);
    launch_in_offer_role(&mut f, 0, &s, &offer, "t-a");
    let mut again = f
        .subscribe(1000, roles_info(Some(&s.id), &["a", "b"]))
        .expect("re-subscribed");
    assert_eq!(again.id, s.id);
    let fw = &f.m.frameworks[&s.id];
    assert_eq!(fw.roles, ["a", "b"]);
    assert_eq!(fw.tasks["t-a"].role, "a");
    assert!(offer_roles(&f.offers(2000, &mut again)).contains(&"b".to_string()));
}

/// A dynamic reservation of the operator API as Mesos 1.12 makes it:
/// refused when not dynamic, when allocated, or larger than the agent;
/// outstanding offers rescinded for it; then offered to its role with its
/// type, principal and labels, usable by a task that names it so (and not
/// by one that names it static); unreserved back to the shared pool.
#[test]
fn an_operator_reservation_is_offered_to_its_role_as_made_and_unreserved_back() {
    use super::reservations::ReservationRefused;
    let mut f = fixture(1);
    let agent_id = f.m.agents.keys().next().cloned().expect("one agent");
    let mut mr = info(&[
        v1::framework_info::capability::Type::MultiRole,
        v1::framework_info::capability::Type::ReservationRefinement,
    ]);
    mr.roles = vec!["eng".into()];
    let mut s = f.subscribe(0, mr).expect("subscribed");
    let outstanding = f.offers(0, &mut s);
    assert_eq!(outstanding.len(), 1, "the agent is on offer");
    let dynamic = |name: &str, value: f64| {
        let mut r = scalar(name, value);
        r.reservations = vec![v1::resource::ReservationInfo {
            r#type: Some(v1::resource::reservation_info::Type::Dynamic as i32),
            role: Some("eng".into()),
            principal: Some("ops".into()),
            labels: Some(v1::Labels {
                labels: vec![v1::Label {
                    key: "owner".into(),
                    value: Some("eng".into()),
                }],
            }),
        }];
        r
    };
    let reserve = |f: &mut Fixture, ms: u64, resources: Vec<v1::Resource>| {
        let at = f.at(ms);
        f.m.reserve_resources(at, &agent_id, &[], &resources)
    };

    // Refusals change nothing.
    let mut static_one = scalar("cpus", 1.0);
    static_one.reservations = vec![v1::resource::ReservationInfo {
        r#type: Some(v1::resource::reservation_info::Type::Static as i32),
        role: Some("eng".into()),
        ..Default::default()
    }];
    match reserve(&mut f, 10, vec![static_one]) {
        Err(ReservationRefused::BadRequest(e)) => {
            assert!(e.contains("is not dynamically reserved"), "{e}")
        }
        other => panic!("a static reservation is refused: {other:?}"),
    }
    let mut allocated = dynamic("cpus", 1.0);
    allocated.allocation_info = Some(v1::resource::AllocationInfo {
        role: Some("eng".into()),
    });
    assert!(matches!(
        reserve(&mut f, 10, vec![allocated]),
        Err(ReservationRefused::BadRequest(e)) if e.contains("allocated resource")
    ));
    assert!(matches!(
        reserve(&mut f, 10, vec![dynamic("cpus", 1000.0)]),
        Err(ReservationRefused::Conflict(_))
    ));
    assert_eq!(
        f.m.frameworks[&s.id].offers.len(),
        0,
        "the offer was rescinded to look for room"
    );

    reserve(
        &mut f,
        20,
        vec![dynamic("cpus", 1.0), dynamic("mem", 256.0)],
    )
    .expect("reserved");
    let offers = f.offers(6000, &mut s);
    assert_eq!(offers.len(), 1);
    let reserved: Vec<&v1::Resource> = offers[0]
        .resources
        .iter()
        .filter(|r| !r.reservations.is_empty())
        .collect();
    assert_eq!(reserved.len(), 2, "{:?}", offers[0].resources);
    for r in &reserved {
        let info = &r.reservations[0];
        assert_eq!(
            info.r#type,
            Some(v1::resource::reservation_info::Type::Dynamic as i32)
        );
        assert_eq!(info.role.as_deref(), Some("eng"));
        assert_eq!(info.principal.as_deref(), Some("ops"));
        assert_eq!(info.labels.as_ref().map(|l| l.labels.len()), Some(1));
    }

    // A task naming the reservation as offered runs on it.
    let mut t = task("t1", &offers[0].agent_id, 0.5);
    t.resources = reserved
        .iter()
        .map(|r| {
            let mut r = (*r).clone();
            r.scalar = Some(v1::value::Scalar {
                value: if r.name == "cpus" { 0.5 } else { 64.0 },
            });
            r
        })
        .collect();
    f.launch(6000, &s, &offers[0], vec![t]);
    f.m.tick(f.at(6001));
    let st = updates(&mut s.rx);
    assert_eq!(st[0].state(), TaskState::TaskStarting, "{st:?}");

    // What a running task holds cannot be unreserved; the rest can.
    assert!(matches!(
        f.m.unreserve_resources(f.at(6100), &agent_id, &[dynamic("cpus", 1.0)]),
        Err(ReservationRefused::Conflict(_))
    ));
    f.m.unreserve_resources(f.at(6100), &agent_id, &[dynamic("cpus", 0.5)])
        .expect("the free half is unreserved");
    let agent = &f.m.agents[&agent_id];
    assert_eq!(
        agent.total.scalar_total("cpus"),
        4.0,
        "nothing created or lost"
    );
    assert!(
        agent
            .total
            .to_string()
            .contains("cpus(reservations: [(DYNAMIC,eng,ops,{owner: eng})]):0.5"),
        "{}",
        agent.total
    );
}

/// DRAIN_AGENT with `mark_gone`: the agent is marked gone instead of
/// DRAINED once its last task's terminal update is acknowledged; without
/// it, DRAINED and then REACTIVATE_AGENT bring it back into offers.
#[test]
fn a_drain_ends_drained_or_gone_and_a_drained_agent_can_be_reactivated() {
    let mut f = fixture(2);
    let mut s = f.subscribe(0, info(&[])).expect("subscribed");
    let on = running_task(&mut f, &mut s, "t1");
    let idle =
        f.m.agents
            .keys()
            .find(|a| **a != on)
            .cloned()
            .expect("other agent");
    f.m.drain_agent(f.at(1300), &on, true).expect("drain");
    assert_eq!(
        f.m.reactivate_agent(f.at(1300), &on),
        Err("Agent is still in the DRAINING state".into())
    );
    let killed = updates(&mut s.rx);
    let last = killed.last().expect("an update");
    assert_eq!(last.state(), TaskState::TaskKilled);
    ack(&mut f, 1400, &s, last);
    assert_eq!(
        f.m.agents[&on].state,
        super::master::AgentState::Gone,
        "marked gone once drained"
    );

    // No task: DRAINED at once, then reactivated.
    f.m.drain_agent(f.at(1500), &idle, false).expect("drain");
    assert!(f.m.draining[&idle].drained);
    f.m.reactivate_agent(f.at(1500), &idle)
        .expect("reactivated");
    assert_eq!(
        f.m.reactivate_agent(f.at(1500), &idle),
        Err("Agent is not deactivated".into())
    );
    let offers = f.offers(10_000, &mut s);
    assert!(
        offers.iter().any(|o| o.agent_id.value == idle),
        "offered again: {offers:?}"
    );
}
