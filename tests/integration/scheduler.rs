//! The scheduler against the simulated master over loopback HTTP, with the
//! memory store: apps become running tasks, placed as asked, and are healed.
//! Every assertion on placement reads the simulator's `/master/state`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrogen::scheduler::runtime::SchedulerConfig;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{Store, TaskState};
use hydrogen_sim::cluster::{AgentSpec, default_agent};
use serde_json::{Value, json};

use crate::sim_fixture::*;

type Cluster = scheduler::Cluster<MemoryStore>;

async fn start_cluster(agents: Vec<AgentSpec>) -> Cluster {
    start_cluster_with(agents, |_| {}).await
}

async fn start_cluster_with(
    agents: Vec<AgentSpec>,
    tweak: impl FnOnce(&mut SchedulerConfig),
) -> Cluster {
    let mut sim_config = fast_sim_config(0);
    sim_config.agents = agents;
    let store = Arc::new(MemoryStore::default());
    Cluster::start(
        sim_config,
        store,
        fast_ha_config("test-instance"),
        |config| {
            config.backoff.reset_after = Duration::from_secs(30);
            config.decline_refuse = Duration::from_millis(200);
            config.kill_retry = Duration::from_secs(3);
            tweak(config);
        },
    )
    .await
}

fn agents_of(tasks: &[Value]) -> BTreeSet<String> {
    tasks
        .iter()
        .filter_map(|t| t["slave_id"].as_str().map(str::to_string))
        .collect()
}

fn agent_hostnames(state: &Value) -> BTreeMap<String, String> {
    state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["id"].as_str()?.to_string(),
                s["hostname"].as_str()?.to_string(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn test_app_lands_on_five_distinct_agents() {
    let cluster = start_cluster((1..=6).map(default_agent).collect()).await;
    cluster.deploy(test_app()).await;
    let tasks = cluster.wait_running("test-app", 5).await;
    assert_eq!(agents_of(&tasks).len(), 5, "UNIQUE: one task per agent");
    cluster.stop().await;
}

#[tokio::test]
async fn unique_waits_for_agents_and_says_why() {
    let cluster = start_cluster((1..=3).map(default_agent).collect()).await;
    cluster.deploy(test_app()).await;
    let tasks = cluster.wait_running("test-app", 3).await;
    assert_eq!(agents_of(&tasks).len(), 3);
    // State explains why two wait.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let status = loop {
        let status = cluster.store.app_status("test-app").await.expect("status");
        if let Some(s) = status.filter(|s| s.waiting == 2 && !s.rejections.is_empty()) {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no why-pending status"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status
            .rejections
            .keys()
            .any(|k| k.to_lowercase().contains("unique")),
        "the UNIQUE rule is named: {status:?}"
    );
    assert!(status.message.contains("2 task"), "{}", status.message);
    // Two more agents: the waiting tasks start there.
    for i in 4..=5 {
        admin(
            &format!("{}/sim/agents", cluster.url),
            serde_json::to_value(default_agent(i)).expect("agent json"),
        )
        .await;
    }
    let tasks = cluster.wait_running("test-app", 5).await;
    assert_eq!(agents_of(&tasks).len(), 5);
    cluster.stop().await;
}

#[tokio::test]
async fn mux_colocates() {
    let cluster = start_cluster((1..=4).map(default_agent).collect()).await;
    let mut app = small_app("packed", 6);
    app["strategy"] = json!({"type": "mux"});
    cluster.deploy(app).await;
    let tasks = cluster.wait_running("packed", 6).await;
    assert_eq!(
        agents_of(&tasks).len(),
        1,
        "six small tasks fit one agent: {tasks:#?}"
    );
    cluster.stop().await;
}

#[tokio::test]
async fn filters_admit_and_reject_agents() {
    // default_agent: rack-1..4 by index, zone-a/b/c, cores 4, features
    // ["ssd","gpu"] on even agents, slots [1-8].
    let cluster = start_cluster((1..=4).map(default_agent).collect()).await;
    let state = cluster.state().await;
    let hosts = agent_hostnames(&state);
    let cases = [
        (
            "text",
            json!([{"type": "TEXT", "attribute": "rack", "value": ["RACK-2"]}]),
            vec!["agent-2.sim"],
        ),
        (
            "set",
            json!([{"type": "set", "attribute": "features", "value": ["gpu"]}]),
            vec!["agent-2.sim", "agent-4.sim"],
        ),
        (
            "scalar",
            json!([{"type": "SCALAR", "attribute": "cores", "op": "ge", "value": ["4"]}]),
            vec!["agent-1.sim", "agent-2.sim", "agent-3.sim", "agent-4.sim"],
        ),
        (
            "ranges",
            json!([{"type": "RANGES", "attribute": "slots", "value": ["2-3"]}, {"type": "TEXT", "attribute": "zone", "value": ["zone-a"]}]),
            vec!["agent-1.sim", "agent-4.sim"],
        ),
    ];
    for (name, filters, allowed) in &cases {
        let mut app = small_app(name, 4);
        app["filters"] = filters.clone();
        app["strategy"] = json!({"type": "unique"});
        cluster.deploy(app).await;
        let n = allowed.len();
        let tasks = cluster.wait_running(name, n).await;
        let used: BTreeSet<&str> = agents_of(&tasks)
            .iter()
            .filter_map(|id| hosts.get(id).map(String::as_str))
            .collect();
        let expected: BTreeSet<&str> = allowed.iter().copied().collect();
        assert_eq!(used, expected, "filter {name}");
    }
    // An impossible filter: nothing runs, and State names the filter.
    let mut app = small_app("nowhere", 1);
    app["filters"] = json!([{"type": "TEXT", "attribute": "rack", "value": ["rack-9"]}]);
    cluster.deploy(app).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let status = cluster.store.app_status("nowhere").await.expect("status");
        if status
            .as_ref()
            .is_some_and(|s| s.rejections.keys().any(|k| k.contains("filter")))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no filter rejection: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app_tasks(&cluster.state().await, "nowhere").is_empty());
    cluster.stop().await;
}

#[tokio::test]
async fn failed_tasks_are_replaced_with_backoff() {
    let cluster = start_cluster((1..=2).map(default_agent).collect()).await;
    cluster.deploy(small_app("crashy", 1)).await;
    let mut gaps = Vec::new();
    let mut current = cluster.wait_running("crashy", 1).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    for _ in 0..3 {
        let failed_at = Instant::now();
        admin(
            &format!("{}/sim/tasks/{current}/fail", cluster.url),
            json!({"message": "boom"}),
        )
        .await;
        let old = current.clone();
        let tasks = cluster
            .wait_tasks("crashy", "a replacement", DEADLINE, |t| {
                running(t).iter().any(|x| x["id"] != old.as_str())
            })
            .await;
        gaps.push(failed_at.elapsed());
        current = running(&tasks)
            .iter()
            .find(|x| x["id"] != old.as_str())
            .and_then(|x| x["id"].as_str())
            .expect("new id")
            .to_string();
        assert_ne!(current, old, "task ids are unique per launch");
    }
    // Backoff 300 ms, 600 ms, 1.2 s: each replacement waits at least that.
    for (gap, floor) in gaps.iter().zip([300u64, 600, 1200]) {
        assert!(*gap >= Duration::from_millis(floor), "gaps {gaps:?}");
    }
    assert!(gaps[2] > gaps[0], "the backoff grows: {gaps:?}");
    let status = cluster
        .store
        .app_status("crashy")
        .await
        .expect("status")
        .expect("exists");
    assert!(status.consecutive_failures >= 3, "{status:?}");
    cluster.stop().await;
}

#[tokio::test]
async fn an_app_gives_up_after_its_total_retries_and_an_update_restarts_it() {
    let cluster = start_cluster((1..=2).map(default_agent).collect()).await;
    let mut app = small_app("fragile", 1);
    app["retry"] = json!({"time": "0.1", "exp_backoff": false, "total_retries": 1});
    cluster.deploy(app.clone()).await;
    let first = cluster.wait_running("fragile", 1).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let fail = |id: String| {
        let url = format!("{}/sim/tasks/{id}/fail", cluster.url);
        async move { admin(&url, json!({"message": "boom"})).await }
    };
    fail(first.clone()).await;
    // One relaunch is allowed...
    let tasks = cluster
        .wait_tasks("fragile", "the one allowed relaunch", DEADLINE, |t| {
            running(t).iter().any(|x| x["id"] != first.as_str())
        })
        .await;
    let second = running(&tasks)[0]["id"].as_str().expect("id").to_string();
    fail(second.clone()).await;
    // ...the next failure stops relaunches, and State says so.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = cluster.store.app_status("fragile").await.expect("status");
        if let Some(s) = status.filter(|s| s.message.contains("relaunches stopped")) {
            assert_eq!(s.consecutive_failures, 2, "{s:?}");
            assert_eq!(s.waiting, 1, "{s:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no give-up status");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        running(&app_tasks(&cluster.state().await, "fragile")).is_empty(),
        "no third launch"
    );
    // A changed spec starts over.
    app["command"] = json!({"cmd": "sleep 2000"});
    cluster.update(app).await;
    cluster.wait_running("fragile", 1).await;
    cluster.stop().await;
}

#[tokio::test]
async fn a_fixed_host_port_runs_once_per_agent_and_the_rest_wait_for_ports() {
    let cluster = start_cluster((1..=2).map(default_agent).collect()).await;
    let mut app = small_app("pinned", 3);
    app["container"] = json!({"network": [{"name": "n",
        "port_mapping": [{"host_port": 31500, "container_port": 80}]}]});
    cluster.deploy(app).await;
    let tasks = cluster.wait_running("pinned", 2).await;
    assert_eq!(
        agents_of(&tasks).len(),
        2,
        "one per agent: the port is taken"
    );
    for task in &tasks {
        // `/master/state` summarises resources as Mesos does.
        assert_eq!(task["resources"]["ports"], "[31500-31500]", "{task}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = cluster.store.app_status("pinned").await.expect("status");
        if status
            .is_some_and(|s| s.waiting == 1 && s.message.contains("mostly for insufficient ports"))
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no ports status");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.stop().await;
}

#[tokio::test]
async fn agent_loss_replaces_tasks_elsewhere() {
    let cluster = start_cluster((1..=3).map(default_agent).collect()).await;
    let mut app = small_app("survivor", 2);
    app["strategy"] = json!({"type": "unique"});
    cluster.deploy(app).await;
    let tasks = cluster.wait_running("survivor", 2).await;
    let lost_agent = tasks[0]["slave_id"].as_str().expect("agent").to_string();
    admin(
        &format!("{}/sim/agents/{lost_agent}/unreachable", cluster.url),
        json!({}),
    )
    .await;
    // After the unreachable grace period a replacement runs on another agent.
    let tasks = cluster
        .wait_tasks(
            "survivor",
            "replacement off the lost agent",
            DEADLINE,
            |t| {
                let run = running(t);
                run.len() == 2 && run.iter().all(|x| x["slave_id"] != lost_agent.as_str())
            },
        )
        .await;
    assert_eq!(
        agents_of(&running(&tasks).into_iter().cloned().collect::<Vec<_>>()).len(),
        2
    );
    // The agent comes back: its old task returns and one of the two is killed.
    admin(
        &format!("{}/sim/agents/{lost_agent}/reregister", cluster.url),
        json!({}),
    )
    .await;
    cluster
        .wait_tasks(
            "survivor",
            "two running after the agent returns",
            DEADLINE,
            |t| running(t).len() == 2 && t.len() == 2,
        )
        .await;
    cluster.stop().await;
}

#[tokio::test]
async fn kill_removes_every_task_and_the_app() {
    let cluster = start_cluster((1..=3).map(default_agent).collect()).await;
    cluster.deploy(small_app("doomed", 3)).await;
    cluster.wait_running("doomed", 3).await;
    cluster.store.kill_app("doomed", None).await.expect("kill");
    cluster
        .wait_tasks("doomed", "no live task", DEADLINE, |t| t.is_empty())
        .await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while cluster
        .store
        .get_app("doomed")
        .await
        .expect("get")
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app was never removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        cluster
            .store
            .app_tasks("doomed")
            .await
            .expect("tasks")
            .is_empty()
    );
    cluster.stop().await;
}

#[tokio::test]
async fn scale_up_and_down_touch_only_what_changes() {
    let cluster = start_cluster((1..=3).map(default_agent).collect()).await;
    cluster.deploy(small_app("elastic", 2)).await;
    let before: BTreeSet<String> = cluster
        .wait_running("elastic", 2)
        .await
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect();
    cluster.update(small_app("elastic", 4)).await;
    let after: BTreeSet<String> = cluster
        .wait_running("elastic", 4)
        .await
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect();
    assert!(before.is_subset(&after), "scale up keeps the running tasks");
    cluster.update(small_app("elastic", 1)).await;
    let left = cluster.wait_running("elastic", 1).await;
    let id = left[0]["id"].as_str().expect("id");
    assert!(
        id.starts_with("elastic.0."),
        "scale down keeps the lowest slot: {id}"
    );
    cluster.stop().await;
}

#[tokio::test]
async fn rolling_update_never_drops_below_the_instances() {
    let cluster = start_cluster((1..=4).map(default_agent).collect()).await;
    let mut app = small_app("rolling", 3);
    app["healthcheck"] = json!({"endpoint": "localhost:8080"});
    cluster.deploy(app.clone()).await;
    let old: BTreeSet<String> = cluster
        .wait_tasks("rolling", "3 healthy", DEADLINE, |t| {
            running(t).len() == 3
                && t.iter().all(|x| {
                    x["statuses"]
                        .as_array()
                        .is_some_and(|s| s.iter().any(|st| st["healthy"] == true))
                })
        })
        .await
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect();
    app["command"] = json!({"cmd": "sleep 2000"});
    cluster.update(app).await;
    // Watch until every old task is gone; never fewer than 3 running.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut min_running = usize::MAX;
    loop {
        let tasks = app_tasks(&cluster.state().await, "rolling");
        let run = running(&tasks);
        min_running = min_running.min(run.len());
        let old_left = tasks
            .iter()
            .any(|t| t["id"].as_str().is_some_and(|id| old.contains(id)));
        if !old_left && run.len() == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "update never finished: {tasks:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        min_running >= 3,
        "dropped to {min_running} running during the update"
    );
    let records = cluster.store.app_tasks("rolling").await.expect("tasks");
    assert!(records.iter().all(|t| t.app_version == 2), "{records:#?}");
    cluster.stop().await;
}

#[tokio::test]
async fn master_failover_reconciles_without_duplicates() {
    let cluster = start_cluster((1..=3).map(default_agent).collect()).await;
    cluster.deploy(small_app("steady", 3)).await;
    let before: BTreeSet<String> = cluster
        .wait_running("steady", 3)
        .await
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect();
    admin(
        &format!("{}/sim/master/failover", cluster.url),
        json!({"leaderless": "300ms"}),
    )
    .await;
    // The framework re-subscribes (the state shows it connected again).
    wait_state(cluster.sim(), "framework reconnected", |s| {
        s["frameworks"][0]["connected"] == true && s["frameworks"][0]["active"] == true
    })
    .await;
    // Give the scheduler time to reconcile, then check nothing changed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        let tasks = app_tasks(&cluster.state().await, "steady");
        let ids: BTreeSet<String> = tasks
            .iter()
            .filter_map(|t| t["id"].as_str().map(str::to_string))
            .collect();
        assert_eq!(ids, before, "no task launched twice or lost");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let records = cluster.store.app_tasks("steady").await.expect("tasks");
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|t| t.state == TaskState::TaskRunning));
    cluster.stop().await;
}

#[tokio::test]
async fn a_scale_down_while_disconnected_is_killed_on_resubscription() {
    // Retrying kills is left to resubscription alone.
    let cluster = start_cluster_with((1..=3).map(default_agent).collect(), |c| {
        c.kill_retry = Duration::from_secs(3600);
    })
    .await;
    cluster.deploy(small_app("shrink", 3)).await;
    cluster.wait_running("shrink", 3).await;
    admin(
        &format!("{}/sim/master/failover", cluster.url),
        json!({"leaderless": "1s"}),
    )
    .await;
    cluster.update(small_app("shrink", 1)).await;
    cluster.wait_running("shrink", 1).await;
    cluster.stop().await;
}

#[tokio::test]
async fn orphans_are_killed() {
    let cluster = start_cluster((1..=2).map(default_agent).collect()).await;
    cluster.deploy(small_app("kept", 1)).await;
    let task = cluster.wait_running("kept", 1).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    // Forget the task behind the scheduler's back, as a lost write would.
    let lease = cluster
        .store
        .leader()
        .await
        .expect("leader")
        .expect("a leader");
    cluster
        .store
        .apply(
            lease.epoch,
            hydrogen::store::TaskBatch {
                removals: vec![task.clone()],
                ..Default::default()
            },
        )
        .await
        .expect("apply");
    // Restart leadership: the new term reconciles and finds the orphan.
    cluster.store.release_lease(&lease).await.expect("release");
    cluster
        .wait_tasks("kept", "orphan killed and slot refilled", DEADLINE, |t| {
            t.len() == 1 && running(t).len() == 1 && t[0]["id"] != task.as_str()
        })
        .await;
    cluster.stop().await;
}

/// An agent whose only resources are statically reserved to `role`.
fn reserved_agent(i: usize, role: &str, cpus: f64) -> AgentSpec {
    serde_json::from_value(json!({
        "hostname": format!("reserved-{i}.sim"),
        "resources": {"disk": 1024, "ports": "[31000-31100]"},
        "reserved": {role: {"cpus": cpus, "mem": 1024}},
    }))
    .expect("agent spec")
}

#[tokio::test]
async fn two_apps_in_two_roles_run_on_the_agents_reserved_to_each() {
    // reserved-1 is team-a's, reserved-2 team-b's (1 cpu each); agent-3
    // is unreserved.
    let cluster = start_cluster_with(
        vec![
            reserved_agent(1, "team-a", 1.0),
            reserved_agent(2, "team-b", 1.0),
            default_agent(3),
        ],
        |c| c.roles = vec!["team-a".into(), "team-b".into()],
    )
    .await;
    // alpha takes the default (first) role; beta names its own. Both ask
    // for reserved resources only: three 0.5 cpu tasks of beta cannot all
    // fit in team-b's one cpu, and agent-3's free cpus must not be used.
    cluster
        .deploy(
            json!({"name": "alpha", "resources": {"cpu": 0.5, "mem": 64, "reserved_only": true},
                       "instances": 2, "command": {"cmd": "sleep 1000"}}),
        )
        .await;
    cluster
        .deploy(json!({"name": "beta",
                       "resources": {"cpu": 0.5, "mem": 64, "role": "team-b", "reserved_only": true},
                       "instances": 3, "command": {"cmd": "sleep 1000"}}))
        .await;
    // gamma (team-b, unreserved allowed) spills over to agent-3.
    cluster
        .deploy(
            json!({"name": "gamma", "resources": {"cpu": 2, "mem": 64, "role": "team-b"},
                       "instances": 1, "command": {"cmd": "sleep 1000"}}),
        )
        .await;
    let alpha = cluster.wait_running("alpha", 2).await;
    let gamma = cluster.wait_running("gamma", 1).await;
    let beta = cluster
        .wait_tasks("beta", "2 running", DEADLINE, |t| running(t).len() == 2)
        .await;
    let state = cluster.state().await;
    let hosts = agent_hostnames(&state);
    let on = |tasks: &[Value]| -> BTreeSet<String> {
        agents_of(tasks)
            .iter()
            .filter_map(|a| hosts.get(a).cloned())
            .collect()
    };
    assert_eq!(on(&alpha), BTreeSet::from(["reserved-1.sim".to_string()]));
    assert_eq!(on(&beta), BTreeSet::from(["reserved-2.sim".to_string()]));
    assert_eq!(on(&gamma), BTreeSet::from(["agent-3.sim".to_string()]));
    for (tasks, role) in [(&alpha, "team-a"), (&beta, "team-b"), (&gamma, "team-b")] {
        for t in tasks {
            assert_eq!(t["role"], role, "{t:#}");
        }
    }
    let framework = &state["frameworks"][0];
    assert_eq!(framework["roles"], json!(["team-a", "team-b"]));
    assert!(
        framework["capabilities"]
            .as_array()
            .is_some_and(|c| c.contains(&json!("MULTI_ROLE"))),
        "{framework:#}"
    );

    // beta's third task waits, and State says why.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let status = cluster.store.app_status("beta").await.expect("status");
        if let Some(s) = status.filter(|s| s.waiting == 1) {
            if s.rejections.contains_key("insufficient reserved cpu") {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "beta's status never said why it waits"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Still two after that: agent-3's unreserved cpus were never taken.
    assert_eq!(running(&app_tasks(&cluster.state().await, "beta")).len(), 2);
    cluster.stop().await;
}

#[tokio::test]
async fn a_drained_agents_tasks_are_replaced_elsewhere_without_backoff() {
    // A backoff longer than the test's deadline: only a replacement that
    // skips it can pass.
    let cluster = start_cluster_with((1..=2).map(default_agent).collect(), |c| {
        c.backoff.initial = Duration::from_secs(60);
        c.backoff.max = Duration::from_secs(60);
    })
    .await;
    cluster.deploy(small_app("web", 2)).await;
    let before = cluster.wait_running("web", 2).await;
    let drained: Vec<String> = agents_of(&before).into_iter().collect();
    assert_eq!(drained.len(), 1, "MUX colocates: {before:#?}");
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/v1", cluster.url))
        .header("Content-Type", "application/json")
        .body(
            json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": drained[0]}}})
                .to_string(),
        )
        .send()
        .await
        .expect("operator api answers");
    assert_eq!(resp.status().as_u16(), 200);
    let after = cluster
        .wait_tasks(
            "web",
            "2 replacements off the drained agent",
            DEADLINE,
            |t| running(t).len() == 2 && !agents_of(t).contains(&drained[0]),
        )
        .await;
    assert!(
        agents_of(&after).iter().all(|a| a != &drained[0]),
        "{after:#?}"
    );
    let status = cluster.store.app_status("web").await.expect("status");
    assert_eq!(
        status.map(|s| s.consecutive_failures),
        Some(0),
        "a drain is no failure"
    );
    // An unknown agent is refused as the master refuses it.
    let resp = http
        .post(format!("{}/api/v1", cluster.url))
        .header("Content-Type", "application/json")
        .body(
            json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "nope"}}})
                .to_string(),
        )
        .send()
        .await
        .expect("operator api answers");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.text().await.unwrap_or_default(), "Unknown agent");
    cluster.stop().await;
}
