//! Day-two behaviours of the scheduler (issue 15) against the simulated
//! master over loopback HTTP, with the memory store: rolling updates that
//! always progress, a failing new version that pauses, backoff that means
//! what it says, a master that lost its state, and an agent that returns
//! with tasks whose slots were replaced. Figures are printed (run with
//! `--nocapture`); the assertions only use generous deadlines.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hydrogen::scheduler::runtime::SchedulerConfig;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{AppStatus, Store, TaskState};
use hydrogen_sim::cluster::{AgentSpec, default_agent};
use serde_json::{Value, json};

use crate::sim_fixture::*;

const LONG: Duration = Duration::from_secs(90);

type Cluster = scheduler::Cluster<MemoryStore>;

async fn start_cluster(
    agents: Vec<AgentSpec>,
    tweak: impl FnOnce(&mut SchedulerConfig),
) -> Cluster {
    start_cluster_with_sim(agents, |_| {}, tweak).await
}

async fn start_cluster_with_sim(
    agents: Vec<AgentSpec>,
    sim_tweak: impl FnOnce(&mut hydrogen_sim::SimConfig),
    tweak: impl FnOnce(&mut SchedulerConfig),
) -> Cluster {
    let mut sim_config = fast_sim_config(0);
    sim_config.agents = agents;
    sim_tweak(&mut sim_config);
    let store = Arc::new(MemoryStore::default());
    Cluster::start(sim_config, store, fast_ha_config("test-instance"), tweak).await
}

/// What these tests read of the memory store.
impl Cluster {
    /// Polls the app's scheduler status until `pred` holds.
    async fn wait_status(&self, app: &str, what: &str, pred: impl Fn(&AppStatus) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let status = self.store.app_status(app).await.expect("status");
            if status.as_ref().is_some_and(&pred) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; status: {status:#?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Store versions of the live tasks of `app`, sorted.
    async fn live_versions(&self, app: &str) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .store
            .app_tasks(app)
            .await
            .expect("tasks")
            .iter()
            .filter(|t| t.state == TaskState::TaskRunning)
            .map(|t| t.app_version)
            .collect();
        v.sort_unstable();
        v
    }
}

fn ids(tasks: &[&Value]) -> BTreeSet<String> {
    tasks
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn the_readme_test_app_update_rolls_in_place_on_a_full_cluster_and_back() {
    // Five UNIQUE instances on exactly five agents: no room to surge.
    let cluster = start_cluster((1..=5).map(default_agent).collect(), |_| {}).await;
    let v1 = test_app();
    cluster.deploy(v1.clone()).await;
    cluster.wait_running("test-app", 5).await;
    let mut v2 = v1.clone();
    v2["command"]["cmd"] = json!("/bin/sleep 600");
    for (spec, version) in [(v2, 2u64), (v1, 3u64)] {
        let started = Instant::now();
        cluster.update(spec).await;
        cluster
            .wait_status("test-app", "the update's progress in State", |s| {
                s.message.contains("rolling update:") && s.message.contains("in place")
            })
            .await;
        let deadline = tokio::time::Instant::now() + LONG;
        while cluster.live_versions("test-app").await != vec![version; 5] {
            assert!(
                tokio::time::Instant::now() < deadline,
                "update to version {version} stuck: {:?}",
                cluster.live_versions("test-app").await
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        cluster.wait_running("test-app", 5).await;
        println!(
            "figure: test-app roll to version {version} took {:?}",
            started.elapsed()
        );
    }
    cluster.stop().await;
}

#[tokio::test]
async fn a_failing_new_version_pauses_with_the_old_tasks_running() {
    // A new task is ready once healthy, a start delay after RUNNING: the
    // test fails each new-version task while it runs but is not healthy yet.
    let cluster = start_cluster_with_sim(
        (1..=3).map(default_agent).collect(),
        |sim| sim.timings.task_start_delay = Duration::from_secs(1),
        |c| {
            c.backoff.initial = Duration::from_millis(50);
            c.update_failures_to_pause = 3;
        },
    )
    .await;
    let mut app = small_app("steady", 2);
    app["healthcheck"] = json!({"endpoint": "localhost:8080"});
    cluster.deploy(app.clone()).await;
    let old = ids(&running(&cluster.wait_running("steady", 2).await));
    let mut broken = app.clone();
    broken["command"]["cmd"] = json!("sleep 999");
    cluster.update(broken).await;
    // Each new-version task fails as soon as it runs.
    let mut failed = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while failed.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "failed {failed:?}");
        for t in running(&app_tasks(&cluster.state().await, "steady")) {
            let id = t["id"].as_str().unwrap_or_default().to_string();
            let healthy = t["statuses"]
                .as_array()
                .and_then(|s| s.last())
                .is_some_and(|s| s["healthy"] == true);
            if !old.contains(&id) && !healthy && failed.insert(id.clone()) {
                admin(
                    &format!("{}/sim/tasks/{id}/fail", cluster.url),
                    json!({"message": "bad config"}),
                )
                .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster
        .wait_status("steady", "the pause in State", |s| {
            s.message.contains("paused: 3 new-version tasks failed")
        })
        .await;
    let now = ids(&running(&cluster.wait_running("steady", 2).await));
    assert_eq!(now, old, "the old tasks keep running");
    // A new PUT (the old spec back) resumes: it rolls to the new version.
    cluster.update(app).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while cluster.live_versions("steady").await != vec![3, 3] {
        assert!(tokio::time::Instant::now() < deadline, "no resume");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    cluster.stop().await;
}

#[tokio::test]
async fn a_relaunch_waits_for_the_backoff_not_for_the_decline_filter() {
    // A decline filter of a minute: were it the limit, no relaunch in time.
    let cluster = start_cluster(vec![default_agent(1)], |c| {
        c.decline_refuse = Duration::from_secs(60);
    })
    .await;
    let mut app = small_app("retry", 1);
    app["retry"] = json!({"time": 1});
    cluster.deploy(app).await;
    let first = ids(&running(&cluster.wait_running("retry", 1).await));
    let id = first.iter().next().cloned().expect("one task");
    let failed_at = Instant::now();
    admin(
        &format!("{}/sim/tasks/{id}/fail", cluster.url),
        json!({"message": "boom"}),
    )
    .await;
    cluster
        .wait_tasks("retry", "a relaunch", Duration::from_secs(30), |t| {
            running(t).iter().any(|x| x["id"] != id.as_str())
        })
        .await;
    let delay = failed_at.elapsed();
    println!("figure: relaunch delay with retry.time 1 s: {delay:?}");
    assert!(
        delay >= Duration::from_secs(1),
        "the backoff holds: {delay:?}"
    );
    cluster.stop().await;
}

#[tokio::test]
async fn a_master_that_lost_its_state_gets_every_task_back_without_backoff() {
    let agents: Vec<AgentSpec> = (1..=20).map(default_agent).collect();
    let cluster = start_cluster(agents.clone(), |_| {}).await;
    for i in 0..10 {
        cluster.deploy(small_app(&format!("fleet{i}"), 30)).await;
    }
    for i in 0..10 {
        cluster.wait_running(&format!("fleet{i}"), 30).await;
    }
    // The master restarts on the same address with no memory of us: every
    // task answers UNKNOWN.
    let addr: SocketAddr = cluster
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("sim address");
    let mut cluster = cluster;
    if let Some(sim) = cluster.sim.take() {
        sim.shutdown().await;
    }
    let mut sim_config = fast_sim_config(0);
    sim_config.agents = agents;
    sim_config.listen = addr;
    let restarted = Instant::now();
    cluster.sim = Some(start_sim(sim_config).await);
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let state = cluster.state().await;
        let back = (0..10)
            .map(|i| running(&app_tasks(&state, &format!("fleet{i}"))).len())
            .sum::<usize>();
        if back == 300 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{back} of 300 back");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    println!(
        "figure: 300 tasks on 20 agents RUNNING again {:?} after the master's return",
        restarted.elapsed()
    );
    for i in 0..10 {
        let status = cluster
            .store
            .app_status(&format!("fleet{i}"))
            .await
            .expect("status");
        assert_eq!(
            status.map_or(0, |s| s.consecutive_failures),
            0,
            "lost track is not a failure"
        );
    }
    cluster.stop().await;
}

#[tokio::test]
async fn a_task_back_from_an_unreachable_agent_is_killed_on_its_first_update() {
    let cluster = start_cluster((1..=3).map(default_agent).collect(), |c| {
        // Far off: only the first update after the return may kill it.
        c.kill_retry = Duration::from_secs(3600);
    })
    .await;
    let mut app = small_app("single", 1);
    app["strategy"] = json!({"type": "unique"});
    cluster.deploy(app).await;
    let tasks = cluster.wait_running("single", 1).await;
    let lost_agent = tasks[0]["slave_id"].as_str().expect("agent").to_string();
    admin(
        &format!("{}/sim/agents/{lost_agent}/unreachable", cluster.url),
        json!({}),
    )
    .await;
    cluster
        .wait_tasks("single", "a replacement", DEADLINE, |t| {
            running(t)
                .iter()
                .any(|x| x["slave_id"] != lost_agent.as_str())
        })
        .await;
    // Past the early kill retries (1 s, 2 s, 4 s …: at most 16 s apart now).
    tokio::time::sleep(Duration::from_secs(2)).await;
    admin(
        &format!("{}/sim/agents/{lost_agent}/reregister", cluster.url),
        json!({}),
    )
    .await;
    let returned = Instant::now();
    let mut doubled = Duration::ZERO;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let tasks = app_tasks(&cluster.state().await, "single");
        if running(&tasks).len() > 1 {
            doubled = returned.elapsed();
        }
        if running(&tasks).len() == 1 && tasks.len() == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{tasks:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("figure: longest doubled-slot time after the agent returned: {doubled:?}");
    assert!(doubled < Duration::from_secs(10), "{doubled:?}");
    cluster.stop().await;
}

#[tokio::test]
async fn a_failure_explains_itself_in_state_and_survives_a_new_leader() {
    let cluster = start_cluster((1..=2).map(default_agent).collect(), |_| {}).await;
    cluster.deploy(small_app("crashy", 1)).await;
    let tasks = cluster.wait_running("crashy", 1).await;
    let id = tasks[0]["id"].as_str().expect("id").to_string();
    admin(
        &format!("{}/sim/tasks/{id}/fail", cluster.url),
        json!({"message": "exit status 3"}),
    )
    .await;
    let shown = |s: &AppStatus| {
        s.last_terminations.get(&0).is_some_and(|t| {
            t.task_id == id
                && t.state == TaskState::TaskFailed
                && t.message == "exit status 3"
                && t.reason == "REASON_COMMAND_EXECUTOR_FAILED"
                && !t.source.is_empty()
        }) && s
            .recent_terminations
            .first()
            .is_some_and(|t| t.task_id == id)
    };
    cluster
        .wait_status("crashy", "the failure in State", shown)
        .await;
    // A new leader (a new term on the same store) keeps showing it.
    let mut cluster = cluster;
    let masters = hydrogen::mesos::subscription::parse_masters(&cluster.url).expect("url");
    let mut config = SchedulerConfig::new(masters);
    config.status_interval = Duration::from_millis(100);
    cluster
        .replace_leader(fast_ha_config("second-instance"), config)
        .await;
    // The new leader writes its own status (updated_ms moves on) with the
    // history it loaded.
    let before = cluster
        .store
        .app_status("crashy")
        .await
        .expect("status")
        .map_or(0, |s| s.updated_ms);
    cluster
        .wait_status("crashy", "the new leader's status", |s| {
            s.updated_ms > before && shown(s)
        })
        .await;
    cluster.stop().await;
}

/// POSTs a JSON body; returns the status and the body text.
async fn post_json(url: &str, body: Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_maintenance_window_empties_its_agent_without_any_app_below_its_minimum() {
    // Three agents; `web` (UNIQUE) and `api` run on them, `web` on two.
    let cluster = start_cluster((1..=3).map(default_agent).collect(), |_| {}).await;
    let mut web = small_app("web", 2);
    web["strategy"] = json!({"type": "unique"});
    cluster.deploy(web).await;
    cluster.deploy(small_app("api", 2)).await;
    let web_tasks = cluster.wait_running("web", 2).await;
    cluster.wait_running("api", 2).await;

    // The agent of one `web` task goes down for maintenance in 10 minutes.
    let agent = web_tasks[0]["slave_id"]
        .as_str()
        .expect("agent")
        .to_string();
    let state = cluster.state().await;
    let slave = state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == agent.as_str())
        .cloned()
        .expect("the agent is listed");
    let hostname = slave["hostname"].as_str().expect("hostname").to_string();
    let ip = slave["pid"]
        .as_str()
        .and_then(|p| p.split_once('@'))
        .and_then(|(_, a)| a.split_once(':'))
        .map(|(ip, _)| ip.to_string())
        .expect("pid has the ip");
    let start_ns = i64::try_from(
        (std::time::SystemTime::now() + Duration::from_secs(600))
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_nanos(),
    )
    .expect("fits");
    let machine = json!({"hostname": hostname, "ip": ip});
    let started = Instant::now();
    let (status, body) = post_json(
        &format!("{}/master/maintenance/schedule", cluster.url),
        json!({"windows": [{"machine_ids": [machine],
                            "unavailability": {"start": {"nanoseconds": start_ns}}}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Our tasks leave the agent; at no sample does an app run fewer ready
    // tasks than its instances (the default minimum ready share is 1).
    let deadline = tokio::time::Instant::now() + LONG;
    let mut samples = 0u32;
    loop {
        let state = cluster.state().await;
        for app in ["web", "api"] {
            let tasks = app_tasks(&state, app);
            assert!(
                running(&tasks).len() >= 2,
                "{app} fell below its minimum: {tasks:#?}"
            );
        }
        samples += 1;
        let on_agent = ["web", "api"]
            .iter()
            .flat_map(|app| app_tasks(&state, app))
            .filter(|t| t["slave_id"] == agent.as_str())
            .count();
        let status = get_json(&format!("{}/master/maintenance/status", cluster.url)).await;
        let accepted = status["draining_machines"][0]["statuses"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["status"] == "ACCEPT");
        if on_agent == 0 && accepted {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent was not emptied and accepted: {on_agent} task(s) left; status {status}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    println!(
        "figure: maintenance agent emptied and inverse offer accepted in {:?} ({samples} samples, every app at its instances in each)",
        started.elapsed()
    );
    cluster.wait_running("web", 2).await;
    cluster.wait_running("api", 2).await;
    let state = cluster.state().await;
    for app in ["web", "api"] {
        assert!(
            app_tasks(&state, app)
                .iter()
                .all(|t| t["slave_id"] != agent.as_str()),
            "{app} went back to the agent"
        );
    }

    // The operator brings the machine down: nothing of ours is lost.
    let (status, body) = post_json(
        &format!("{}/api/v1", cluster.url),
        json!({"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let status = get_json(&format!("{}/master/maintenance/status", cluster.url)).await;
    assert_eq!(status["down_machines"], json!([machine]), "{status}");
    cluster.wait_running("web", 2).await;
    cluster.wait_running("api", 2).await;
    cluster.stop().await;
}
