//! Hydrogen against a real Apache Mesos when things break: an agent killed
//! with SIGKILL and restarted, the master restarted with and without its
//! registry, the Hydrogen leader killed with another instance on the same
//! real `redis-server`, and framework authentication (right and wrong
//! secret) with the JSON encoding of the scheduler API. Each test starts its
//! own cluster; skipped (with a note) when `MESOS_HOME` is unset.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hydrogen_testkit::procs;
use hydrogen_testkit::real_mesos::{
    AgentOptions, MasterOptions, RealCluster, Registry, Serve, app_tasks, frameworks_named,
    sleep_marker, sleepers, wait_for,
};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(90);
const FRAMEWORK: &str = "Hydrogen";

fn ids(tasks: &[&Value]) -> BTreeSet<String> {
    tasks
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

fn sleep_app(name: &str, instances: u32, marker: &str) -> Value {
    json!({
        "name": name,
        "resources": {"cpu": 0.1, "mem": 16},
        "instances": instances,
        "strategy": {"type": "UNIQUE"},
        "command": {"cmd": format!("exec /bin/sleep {marker}")},
    })
}

/// Waits for exactly `n` RUNNING tasks of `app` in the master's state and
/// `n` real processes; returns their ids.
fn wait_running(cluster: &RealCluster, app: &str, n: usize, marker: &str) -> BTreeSet<String> {
    let state = cluster.wait_state(&format!("{n} RUNNING tasks of {app}"), DEADLINE, |s| {
        app_tasks(s, FRAMEWORK, app, "TASK_RUNNING").len() == n
    });
    wait_for(
        &format!("{n} sleep {marker} processes"),
        DEADLINE,
        || (sleepers(marker) == n).then_some(()),
        || cluster.logs(),
    );
    ids(&app_tasks(&state, FRAMEWORK, app, "TASK_RUNNING"))
}

/// The id of the (one, live) framework named Hydrogen.
fn framework_id(state: &Value) -> String {
    let ids: Vec<&str> = frameworks_named(state, FRAMEWORK)
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "one framework {FRAMEWORK}: {state}");
    ids[0].to_string()
}

/// Every task id the master has seen for the framework, live or ended.
fn all_task_ids(state: &Value, app: &str) -> BTreeSet<String> {
    let prefix = format!("{app}.");
    frameworks_named(state, FRAMEWORK)
        .flat_map(|f| {
            ["tasks", "completed_tasks", "unreachable_tasks"]
                .into_iter()
                .flat_map(move |k| f[k].as_array().into_iter().flatten())
        })
        .filter_map(|t| t["id"].as_str())
        .filter(|id| id.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// The instance numbers (`<app>.<instance>.<uuid>`) of task ids.
fn instances(ids: &BTreeSet<String>) -> Vec<String> {
    ids.iter()
        .filter_map(|id| id.split('.').nth(1).map(str::to_string))
        .collect()
}

#[test]
fn killed_agent_is_replaced_and_its_recovered_task_does_not_run_twice() {
    let Some(mut cluster) = RealCluster::start_agents(3) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &["--unreachable-grace", "1s"]);
    let m = sleep_marker();
    hydrogen.deploy(sleep_app("survivor", 2, &m));
    let before = wait_running(&cluster, "survivor", 2, &m);

    // Kill the agent of one of the two tasks; its executor keeps running.
    let state = cluster.state();
    let victim_agent = app_tasks(&state, FRAMEWORK, "survivor", "TASK_RUNNING")[0]["slave_id"]
        .as_str()
        .expect("slave_id")
        .to_string();
    let victim_host = state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["id"] == victim_agent.as_str())
        .and_then(|a| a["hostname"].as_str())
        .expect("the agent of a running task")
        .to_string();
    let victim = (0..cluster.agent_count())
        .find(|&i| cluster.agent_options(i).hostname == victim_host)
        .expect("one of our agents");
    let killed_at = Instant::now();
    cluster.kill_agent(victim);

    // Partition-aware: the task goes UNREACHABLE, and after the grace a
    // replacement runs on the third agent.
    let state = cluster.wait_state(
        "a replacement RUNNING away from the killed agent",
        DEADLINE,
        |s| {
            let elsewhere = app_tasks(s, FRAMEWORK, "survivor", "TASK_RUNNING")
                .into_iter()
                .filter(|t| t["slave_id"] != victim_agent.as_str())
                .count();
            elsewhere == 2
        },
    );
    let replaced_after = killed_at.elapsed();
    let unreachable: Vec<&Value> = frameworks_named(&state, FRAMEWORK)
        .flat_map(|f| f["unreachable_tasks"].as_array().into_iter().flatten())
        .collect();
    assert!(
        unreachable
            .iter()
            .any(|t| t["slave_id"] == victim_agent.as_str()),
        "the killed agent's task is unreachable: {state}"
    );
    eprintln!("replacement RUNNING {replaced_after:?} after the agent was killed");

    // The agent comes back with its work dir and recovers its executor: one
    // slot now has two tasks, and Hydrogen must end one of them.
    cluster.restart_agent(victim);
    cluster.wait_agents(3);
    let state = cluster.wait_state(
        "exactly 2 RUNNING tasks of survivor, the agent back",
        DEADLINE,
        |s| {
            let running = app_tasks(s, FRAMEWORK, "survivor", "TASK_RUNNING");
            let back = s["slaves"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["id"] == victim_agent.as_str() && a["active"] == true);
            let reunited = frameworks_named(s, FRAMEWORK).all(|f| {
                f["unreachable_tasks"]
                    .as_array()
                    .is_none_or(|u| u.is_empty())
            });
            back && reunited && running.len() == 2
        },
    );
    let running = ids(&app_tasks(&state, FRAMEWORK, "survivor", "TASK_RUNNING"));
    let mut slots = instances(&running);
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), 2, "one task per slot: {running:?}");
    wait_for(
        "exactly 2 real processes",
        DEADLINE,
        || (sleepers(&m) == 2).then_some(()),
        || cluster.logs(),
    );
    eprintln!("before {before:?}, after {running:?}");
}

#[test]
fn master_restarted_with_its_registry_takes_the_framework_back_without_relaunching() {
    let Some(mut cluster) = RealCluster::start(
        MasterOptions {
            registry: Registry::ReplicatedLog,
            ..MasterOptions::default()
        },
        (1..=2).map(AgentOptions::numbered).collect(),
    ) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &[]);
    let m = sleep_marker();
    hydrogen.deploy(sleep_app("steady", 2, &m));
    let before = wait_running(&cluster, "steady", 2, &m);
    let framework = framework_id(&cluster.state());

    let restarted = Instant::now();
    cluster.restart_master();
    let state = cluster.wait_state(
        "the framework re-subscribed with its id and both tasks back",
        DEADLINE,
        |s| {
            frameworks_named(s, FRAMEWORK)
                .any(|f| f["id"] == framework.as_str() && f["active"] == true)
                && ids(&app_tasks(s, FRAMEWORK, "steady", "TASK_RUNNING")) == before
        },
    );
    eprintln!(
        "replicated log: framework and tasks back {:?} after the restart",
        restarted.elapsed()
    );
    assert_eq!(framework_id(&state), framework);

    // Launches wait for reconciliation: once a new app runs, Hydrogen has
    // reconciled, and the old tasks must still be the same ones.
    let m2 = sleep_marker();
    hydrogen.deploy(sleep_app("later", 1, &m2));
    wait_running(&cluster, "later", 1, &m2);
    let state = cluster.state();
    assert_eq!(
        all_task_ids(&state, "steady"),
        before,
        "nothing relaunched: {state}"
    );
    assert_eq!(sleepers(&m), 2);
}

/// What [`restart_master_without_registry`] leaves: the cluster, the
/// instance, the tasks' ids before, the framework id, the tasks' marker and
/// when the master was restarted.
type Restarted = (
    RealCluster,
    Serve,
    BTreeSet<String>,
    String,
    String,
    Instant,
);

/// Restarts a master with the in-memory registry under 2 running tasks of
/// `amnesia`. `None` without Mesos.
fn restart_master_without_registry() -> Option<Restarted> {
    let mut cluster = RealCluster::start_agents(2)?;
    let hydrogen = Serve::start(&cluster.master_url(), &[]);
    let m = sleep_marker();
    hydrogen.deploy(sleep_app("amnesia", 2, &m));
    let before = wait_running(&cluster, "amnesia", 2, &m);
    let framework = framework_id(&cluster.state());
    // The new master knows neither agents nor frameworks: the agents
    // re-register with their running tasks and Hydrogen re-subscribes with
    // its id.
    let restarted = Instant::now();
    cluster.restart_master();
    Some((cluster, hydrogen, before, framework, m, restarted))
}

#[test]
fn master_restarted_without_its_registry_ends_with_one_task_per_slot() {
    let Some((mut cluster, hydrogen, _, framework, m, restarted)) =
        restart_master_without_registry()
    else {
        return;
    };
    let state = cluster.wait_state(
        "the framework back, both agents back, 2 RUNNING tasks",
        Duration::from_secs(180),
        |s| {
            frameworks_named(s, FRAMEWORK)
                .any(|f| f["id"] == framework.as_str() && f["active"] == true)
                && s["slaves"].as_array().is_some_and(|a| a.len() == 2)
                && app_tasks(s, FRAMEWORK, "amnesia", "TASK_RUNNING").len() == 2
        },
    );
    cluster.wait_agents(2);
    eprintln!(
        "in-memory registry: framework and 2 tasks RUNNING {:?} after the restart",
        restarted.elapsed()
    );
    let running = ids(&app_tasks(&state, FRAMEWORK, "amnesia", "TASK_RUNNING"));
    let mut slots = instances(&running);
    slots.dedup();
    assert_eq!(slots, ["0", "1"], "one task per slot: {running:?}");
    // Hydrogen has reconciled once a new app runs; then exactly two
    // processes are left for the two slots.
    let m2 = sleep_marker();
    hydrogen.deploy(sleep_app("later", 1, &m2));
    wait_running(&cluster, "later", 1, &m2);
    wait_for(
        "exactly 2 amnesia processes",
        DEADLINE,
        || (sleepers(&m) == 2).then_some(()),
        || cluster.logs(),
    );
    let state = cluster.state();
    assert_eq!(
        app_tasks(&state, FRAMEWORK, "amnesia", "TASK_RUNNING").len(),
        2,
        "{state}"
    );
}

/// The master answers the reconciliation of tasks on agents it has not
/// seen yet with TASK_UNKNOWN; the agents re-register seconds later with
/// those tasks still RUNNING. Within `--reregister-grace` of the
/// subscription an UNKNOWN task keeps its slot and is asked about again,
/// so its RUNNING answer keeps it: nothing is restarted.
#[test]
fn master_restarted_without_its_registry_keeps_the_running_tasks() {
    let Some((cluster, hydrogen, before, framework, m, restarted)) =
        restart_master_without_registry()
    else {
        return;
    };
    cluster.wait_state(
        "the framework back with its 2 original tasks RUNNING",
        Duration::from_secs(180),
        |s| {
            frameworks_named(s, FRAMEWORK)
                .any(|f| f["id"] == framework.as_str() && f["active"] == true)
                && ids(&app_tasks(s, FRAMEWORK, "amnesia", "TASK_RUNNING")) == before
        },
    );
    eprintln!(
        "in-memory registry: the 2 original tasks RUNNING again {:?} after the restart",
        restarted.elapsed()
    );
    // Hydrogen itself must know them RUNNING again (not merely hold their
    // slots for the re-registration grace, which would end in replacements).
    let known_running = || {
        let (_, all) = hydrogen.api("GET", "/v1/api/app/all", None);
        let amnesia: Vec<&Value> = all
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["app"] == "amnesia")
            .collect();
        let running: Vec<&Value> = amnesia
            .iter()
            .copied()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .collect();
        (amnesia.len() == before.len() && ids(&running) == before).then_some(())
    };
    wait_for(
        "Hydrogen to know the 2 original tasks RUNNING",
        DEADLINE,
        known_running,
        || hydrogen.log_text(),
    );
    eprintln!(
        "in-memory registry: Hydrogen knows them RUNNING {:?} after the restart",
        restarted.elapsed()
    );
    let m2 = sleep_marker();
    hydrogen.deploy(sleep_app("later", 1, &m2));
    wait_running(&cluster, "later", 1, &m2);
    let state = cluster.state();
    assert_eq!(
        all_task_ids(&state, "amnesia"),
        before,
        "nothing relaunched: {state}"
    );
    assert_eq!(sleepers(&m), 2);
}

/// `/readyz` of an instance.
fn ready(hydrogen: &Serve) -> Value {
    hydrogen.api("GET", "/readyz", None).1
}

#[test]
fn killed_leader_is_replaced_by_the_other_instance_with_the_same_framework() {
    let Some(cluster) = RealCluster::start_agents(2) else {
        return;
    };
    let redis = procs::Redis::start();
    let store = redis.url();
    let flags = ["--store", store.as_str(), "--lease-ttl", "1500ms"];
    let mut a = Serve::start(&cluster.master_url(), &flags);
    let mut b = Serve::start(&cluster.master_url(), &flags);
    let m = sleep_marker();
    a.deploy(sleep_app("ha", 2, &m));
    let before = wait_running(&cluster, "ha", 2, &m);
    let framework = framework_id(&cluster.state());

    let a_leads = wait_for(
        "one instance to lead",
        DEADLINE,
        || match (ready(&a)["leader"] == true, ready(&b)["leader"] == true) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        },
        || format!("a: {}, b: {}", ready(&a), ready(&b)),
    );
    let (leader, follower) = if a_leads { (&mut a, &b) } else { (&mut b, &a) };
    let killed_at = Instant::now();
    leader.kill9();
    wait_for(
        "the other instance to lead",
        DEADLINE,
        || (ready(follower)["leader"] == true).then_some(()),
        || follower.log_text(),
    );
    cluster.wait_state("the framework active again with its id", DEADLINE, |s| {
        frameworks_named(s, FRAMEWORK).any(|f| f["id"] == framework.as_str() && f["active"] == true)
    });
    eprintln!(
        "new leader subscribed {:?} after the kill",
        killed_at.elapsed()
    );
    let m2 = sleep_marker();
    follower.deploy(sleep_app("after", 1, &m2));
    wait_running(&cluster, "after", 1, &m2);
    let state = cluster.state();
    assert_eq!(framework_id(&state), framework, "the same framework");
    assert_eq!(
        all_task_ids(&state, "ha"),
        before,
        "tasks untouched: {state}"
    );
    assert_eq!(sleepers(&m), 2);
}

#[test]
fn authenticated_json_subscription_works_and_a_wrong_secret_is_refused_clearly() {
    let Some(cluster) = RealCluster::start(
        MasterOptions {
            credentials: vec![("hydrogen".into(), "right-secret".into())],
            ..MasterOptions::default()
        },
        (1..=2).map(AgentOptions::numbered).collect(),
    ) else {
        return;
    };
    let right = cluster.dir.path().join("right");
    let wrong = cluster.dir.path().join("wrong");
    std::fs::write(&right, "right-secret\n").expect("secret file");
    std::fs::write(&wrong, "wrong-secret\n").expect("secret file");

    // The right secret, with the JSON encoding on the wire.
    let good = Serve::start(
        &cluster.master_url(),
        &[
            "--mesos-encoding",
            "json",
            "--principal",
            "hydrogen",
            "--secret-file",
            &right.to_string_lossy(),
        ],
    );
    let m = sleep_marker();
    good.deploy(sleep_app("secure", 2, &m));
    let state = cluster.wait_state("2 RUNNING tasks of secure", DEADLINE, |s| {
        app_tasks(s, FRAMEWORK, "secure", "TASK_RUNNING").len() == 2
    });
    let principals: Vec<&Value> = frameworks_named(&state, FRAMEWORK)
        .map(|f| &f["principal"])
        .collect();
    assert_eq!(principals, [&json!("hydrogen")]);
    good.kill_app("secure");
    cluster.wait_state("secure's tasks killed", DEADLINE, |s| {
        app_tasks(s, FRAMEWORK, "secure", "TASK_RUNNING").is_empty()
    });
    wait_for(
        "secure's processes to end",
        DEADLINE,
        || (sleepers(&m) == 0).then_some(()),
        || cluster.logs(),
    );

    // A wrong secret: the master answers 401, Hydrogen says so in its log,
    // its metrics and the app's status, and registers nothing.
    let bad = Serve::start(
        &cluster.master_url(),
        &[
            "--framework-name",
            "Refused",
            "--principal",
            "hydrogen",
            "--secret-file",
            &wrong.to_string_lossy(),
        ],
    );
    let refused = wait_for(
        "a log line about the 401",
        DEADLINE,
        || {
            bad.log_text()
                .lines()
                .find(|l| l.contains("subscribing to mesos master failed") && l.contains("401"))
                .map(str::to_string)
        },
        || bad.log_text(),
    );
    eprintln!("wrong secret: {refused}");
    let (_, metrics) = bad.api("GET", "/metrics", None);
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("hydrogen_mesos_subscribed 0"),
        "metrics: {metrics}"
    );
    bad.deploy(sleep_app("refused", 1, &sleep_marker()));
    wait_for(
        "the app's status to say why nothing runs",
        DEADLINE,
        || {
            let app = bad.app("refused");
            app["status"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("(re)connecting"))
                .then_some(())
        },
        || bad.app("refused").to_string(),
    );
    // /readyz is about the store and the lease, not Mesos: the instance is
    // ready and leads, though it cannot subscribe. The metric and the app
    // status above are where a refused subscription shows.
    let readyz = ready(&bad);
    assert_eq!(
        (&readyz["ready"], &readyz["leader"]),
        (&json!(true), &json!(true)),
        "{readyz}"
    );
    let state = cluster.state();
    assert_eq!(
        frameworks_named(&state, "Refused").count(),
        0,
        "no framework registered with a wrong secret: {state}"
    );
}
