//! Hydrogen against a real Apache Mesos, the app lifecycle: `hydrogen serve`
//! (the real binary) with a real `mesos-master` and posix `mesos-agent`s on
//! loopback, deploying, scaling, updating and killing apps, tasks that fail
//! and health checks run by the real command executor. Every assertion reads
//! the master's `/master/state`, the API's answers, the tasks' sandboxes or
//! the real processes the agents run. Faults (agents, masters, Hydrogen
//! instances dying; authentication) are in `real_mesos_faults`.
//!
//! Each test starts its own small cluster (about a second), so the tests are
//! independent and can run in parallel. Skipped (with a note) when
//! `MESOS_HOME` is unset; see `hydrogen_testkit::real_mesos`.

use std::collections::BTreeSet;
use std::time::Duration;

use hydrogen_testkit::real_mesos::{
    AgentOptions, MasterOptions, RealCluster, Serve, app_tasks, completed_tasks, files_named,
    sleep_marker, sleeper_pids, sleepers, wait_for,
};
use hydrogen_testkit::{procs, real_mesos};
use serde_json::{Value, json};

/// Generous: two busy cores, real executors forking real processes.
const DEADLINE: Duration = Duration::from_secs(90);
const FRAMEWORK: &str = "Hydrogen";

fn ids(tasks: &[&Value]) -> BTreeSet<String> {
    tasks
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

fn agents_of(tasks: &[&Value]) -> BTreeSet<String> {
    tasks
        .iter()
        .filter_map(|t| t["slave_id"].as_str().map(str::to_string))
        .collect()
}

/// The agent id the master gave the agent with `hostname`.
fn agent_id(cluster: &RealCluster, hostname: &str) -> String {
    let state = cluster.state();
    state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["hostname"] == hostname)
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("no agent {hostname} in {state}"))
        .to_string()
}

/// Waits until the app has exactly `n` RUNNING tasks in the master's state
/// and `n` real sleep processes with `marker` exist; returns the tasks' ids.
fn wait_running(
    cluster: &RealCluster,
    app: &str,
    n: usize,
    marker: &str,
) -> (BTreeSet<String>, Value) {
    wait_running_except(cluster, app, n, marker, &BTreeSet::new())
}

/// [`wait_running`] where none of the tasks may be one of `old`.
fn wait_running_except(
    cluster: &RealCluster,
    app: &str,
    n: usize,
    marker: &str,
    old: &BTreeSet<String>,
) -> (BTreeSet<String>, Value) {
    let state = cluster.wait_state(&format!("{n} new RUNNING tasks of {app}"), DEADLINE, |s| {
        let running = app_tasks(s, FRAMEWORK, app, "TASK_RUNNING");
        running.len() == n && ids(&running).is_disjoint(old)
    });
    wait_for(
        &format!("{n} sleep {marker} processes"),
        DEADLINE,
        || (sleepers(marker) == n).then_some(()),
        || cluster.logs(),
    );
    let running = app_tasks(&state, FRAMEWORK, app, "TASK_RUNNING");
    (ids(&running), state.clone())
}

#[test]
fn unique_app_runs_one_real_process_per_agent_and_delete_leaves_none() {
    let Some(cluster) = RealCluster::start_agents(2) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &[]);
    let m = sleep_marker();
    hydrogen.deploy(json!({
        "name": "smoke",
        "resources": {"cpu": 0.1, "mem": 32},
        "instances": 2,
        "command": {"cmd": format!("exec /bin/sleep {m}")},
        "strategy": {"type": "unique"}
    }));
    let (_, state) = wait_running(&cluster, "smoke", 2, &m);
    let running = app_tasks(&state, FRAMEWORK, "smoke", "TASK_RUNNING");
    assert_eq!(agents_of(&running).len(), 2, "UNIQUE: one per agent");

    // The API tells the same story as the master.
    let app = hydrogen.app("smoke");
    assert_eq!(app["running"], 2, "{app}");

    hydrogen.kill_app("smoke");
    cluster.wait_state("no running task", DEADLINE, |s| {
        app_tasks(s, FRAMEWORK, "smoke", "TASK_RUNNING").is_empty()
    });
    wait_for(
        "the sleep processes to end",
        DEADLINE,
        || (sleepers(&m) == 0).then_some(()),
        || cluster.logs(),
    );
}

#[test]
fn mux_packs_and_filters_ports_environment_and_fetched_uris_reach_the_task() {
    let Some(cluster) = RealCluster::start_agents(3) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &[]);

    // MUX: four small tasks fit on one agent, so they all go to one.
    let packed = sleep_marker();
    hydrogen.deploy(json!({
        "name": "packed",
        "resources": {"cpu": 0.1, "mem": 16},
        "instances": 4,
        "command": {"cmd": format!("exec /bin/sleep {packed}")},
    }));
    let (_, state) = wait_running(&cluster, "packed", 4, &packed);
    let running = app_tasks(&state, FRAMEWORK, "packed", "TASK_RUNNING");
    assert_eq!(
        agents_of(&running).len(),
        1,
        "MUX packs onto as few agents as fit: {running:?}"
    );

    // A filter on the real `rack` attribute, a host port, an environment
    // variable and a file:// URI the real fetcher copies into the sandbox.
    // The command writes PORT0 only once it has seen the others, so the
    // file proves all four reached the task.
    let payload_name = format!("payload-{}.txt", std::process::id());
    let payload = cluster.dir.path().join(&payload_name);
    std::fs::write(&payload, "fetched\n").expect("payload written");
    let pinned = sleep_marker();
    hydrogen.deploy(json!({
        "name": "pinned",
        "resources": {"cpu": 0.1, "mem": 16, "ports": 1},
        "instances": 2,
        "filters": [{"type": "TEXT", "attribute": "rack", "value": ["r3"]}],
        "command": {
            "cmd": format!(
                "test -f {payload_name} && test \"$GREETING\" = hello \
                 && echo \"$PORT0\" > port0.txt && exec /bin/sleep {pinned}"
            ),
            "environment": {"GREETING": "hello"},
            "uris": [{"uri": format!("file://{}", payload.display()), "extract": false}]
        },
    }));
    let (_, state) = wait_running(&cluster, "pinned", 2, &pinned);
    let rack3 = agent_id(&cluster, &cluster.agent_options(2).hostname);
    let running = app_tasks(&state, FRAMEWORK, "pinned", "TASK_RUNNING");
    assert_eq!(
        agents_of(&running),
        BTreeSet::from([rack3]),
        "the filter rack=r3 holds on agent 3 only"
    );

    let agent3_work = cluster.dir.path().join("agent3-work");
    let ports: Vec<u16> = wait_for(
        "two port0.txt files in agent 3's sandboxes",
        DEADLINE,
        || {
            let files = files_named(&agent3_work, "port0.txt");
            let ports: Vec<u16> = files
                .iter()
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .filter_map(|s| s.trim().parse().ok())
                .collect();
            (ports.len() == 2).then_some(ports)
        },
        || cluster.logs(),
    );
    let (low, high) = cluster.agent_options(2).ports;
    for port in &ports {
        assert!(
            (low..=high).contains(port),
            "PORT0={port} outside agent 3's range {low}-{high}"
        );
    }
    assert_ne!(ports[0], ports[1], "two tasks on one agent, one port each");
    // The master agrees about which ports the tasks hold.
    let held = running
        .iter()
        .flat_map(|t| t["resources"]["ports"].as_str())
        .collect::<Vec<_>>()
        .join(",");
    for port in &ports {
        assert!(
            held.contains(&port.to_string()),
            "{port} not in the tasks' ports {held}"
        );
    }
    // And the API reports, per task, the port the task saw as $PORT0.
    let app = hydrogen.app("pinned");
    let mut reported: Vec<u16> = app["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .map(|t| {
            let held = t["ports"].as_array().cloned().unwrap_or_default();
            assert_eq!(held.len(), 1, "one port per task: {t}");
            held[0]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .expect("a port number")
        })
        .collect();
    reported.sort_unstable();
    let mut seen = ports.clone();
    seen.sort_unstable();
    assert_eq!(reported, seen, "the API's ports are the tasks' $PORT0");
}

#[test]
fn scale_up_down_rolling_update_and_kill_replace_real_processes() {
    let Some(cluster) = RealCluster::start_agents(2) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &[]);
    let old = sleep_marker();
    let spec = |instances: u32, m: &str| {
        json!({
            "name": "web",
            "resources": {"cpu": 0.1, "mem": 16},
            "instances": instances,
            "command": {"cmd": format!("exec /bin/sleep {m}")},
        })
    };
    hydrogen.deploy(spec(2, &old));
    let (first, _) = wait_running(&cluster, "web", 2, &old);

    // Scale up: two more, the first two untouched.
    hydrogen.update(spec(4, &old));
    let (scaled, _) = wait_running(&cluster, "web", 4, &old);
    assert!(first.is_subset(&scaled), "{first:?} kept in {scaled:?}");

    // Scale down to one: three real processes end.
    hydrogen.update(spec(1, &old));
    let (one, _) = wait_running(&cluster, "web", 1, &old);
    assert!(one.is_subset(&scaled), "scaling down starts nothing new");

    // Rolling update: another command; the new process replaces the old.
    let new = sleep_marker();
    hydrogen.update(spec(1, &new));
    wait_running_except(&cluster, "web", 1, &new, &scaled);
    wait_for(
        "the old version's process to end",
        DEADLINE,
        || (sleepers(&old) == 0).then_some(()),
        || cluster.logs(),
    );
    let app = hydrogen.app("web");
    assert_eq!(app["running"], 1, "{app}");

    hydrogen.kill_app("web");
    cluster.wait_state("no running task of web", DEADLINE, |s| {
        app_tasks(s, FRAMEWORK, "web", "TASK_RUNNING").is_empty()
    });
    wait_for(
        "the last process to end",
        DEADLINE,
        || (sleepers(&new) == 0).then_some(()),
        || cluster.logs(),
    );
}

#[test]
fn unique_update_at_capacity_rolls_every_agent() {
    let Some(cluster) = RealCluster::start_agents(2) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &[]);
    let spec = |m: &str| {
        json!({
            "name": "everywhere",
            "resources": {"cpu": 0.1, "mem": 16},
            "instances": 2,
            "strategy": {"type": "UNIQUE"},
            "command": {"cmd": format!("exec /bin/sleep {m}")},
        })
    };
    let old = sleep_marker();
    hydrogen.deploy(spec(&old));
    let (first, _) = wait_running(&cluster, "everywhere", 2, &old);
    // Every agent already runs a task of the app: the new version can only
    // start where an old one was killed first.
    let new = sleep_marker();
    hydrogen.update(spec(&new));
    // State says how the update goes while it goes.
    wait_for(
        "State to say the update replaces in place",
        DEADLINE,
        || {
            let app = hydrogen.app("everywhere");
            let message = app["status"]["message"].as_str().unwrap_or_default();
            (message.contains("replacing them in place") || sleepers(&new) == 2).then_some(())
        },
        || cluster.logs(),
    );
    wait_running_except(&cluster, "everywhere", 2, &new, &first);
    wait_for(
        "the old processes to end",
        DEADLINE,
        || (sleepers(&old) == 0).then_some(()),
        || cluster.logs(),
    );

    // A task that dies explains itself in State: the command executor's
    // TASK_FAILED (no reason, only its message) as the slot's last
    // termination and the app's most recent one.
    let victim = sleeper_pids(&new)[0];
    procs::signal(victim, "KILL");
    let ended = wait_for(
        "the failure in State",
        DEADLINE,
        || {
            let app = hydrogen.app("everywhere");
            let ended = app["status"]["recent_terminations"][0].clone();
            (ended["state"] == "TASK_FAILED").then_some(ended)
        },
        || format!("{:#}", hydrogen.app("everywhere")),
    );
    assert!(
        ended["message"].as_str().is_some_and(|m| !m.is_empty()),
        "the agent's message is kept: {ended:#}"
    );
    assert_eq!(ended["source"], "SOURCE_EXECUTOR", "{ended:#}");
}

#[test]
fn failing_task_shows_the_agents_message_and_is_relaunched_with_backoff() {
    let Some(cluster) = RealCluster::start_agents(2) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &[]);
    // Two seconds, doubling: relaunches at least 2 s, then 4 s apart.
    hydrogen.deploy(json!({
        "name": "crash",
        "resources": {"cpu": 0.1, "mem": 16},
        "instances": 1,
        "command": {"cmd": "echo going down >&2; exit 3"},
        "retry": {"time": "2", "exp_backoff": true},
    }));
    let state = cluster.wait_state("three failed launches of crash", DEADLINE, |s| {
        completed_tasks(s, FRAMEWORK)
            .iter()
            .filter(|t| t["state"] == "TASK_FAILED")
            .count()
            >= 3
    });
    let failed = completed_tasks(&state, FRAMEWORK);
    assert_eq!(ids(&failed).len(), failed.len(), "a new task id per launch");
    let mut failed_at: Vec<f64> = failed
        .iter()
        .filter_map(|t| {
            t["statuses"]
                .as_array()?
                .iter()
                .find(|s| s["state"] == "TASK_FAILED")?["timestamp"]
                .as_f64()
        })
        .collect();
    failed_at.sort_by(f64::total_cmp);
    assert!(failed_at.len() >= 3, "{failed:?}");
    // Between two failures lie the backoff and a launch: never less than
    // the backoff (launch times vary too much on busy cores for more).
    let gaps = [failed_at[1] - failed_at[0], failed_at[2] - failed_at[1]];
    assert!(
        gaps[0] >= 1.9 && gaps[1] >= 3.9,
        "relaunch gaps {gaps:?}: expected at least 2 s, then 4 s"
    );

    // The command executor's message reaches the API's event log.
    let events = watch_events(&hydrogen, "crash", 3);
    let failed_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["state"] == "TASK_FAILED")
        .collect();
    assert!(
        failed_events.iter().any(|e| e["message"]
            .as_str()
            .unwrap_or("")
            .contains("exited with status 3")),
        "no FAILED event with the executor's message in {events:?}"
    );
}

/// Task events of `app` from the SSE watch, replayed from the start of the
/// event log, until `failed` of them are TASK_FAILED.
fn watch_events(hydrogen: &Serve, app: &str, failed: usize) -> Vec<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = format!("{}/v1/api/app/watch?app={app}&after=0", hydrogen.url);
    runtime.block_on(async {
        let mut response = reqwest::Client::new()
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let mut events = Vec::new();
        let mut buffer = String::new();
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let chunk = tokio::time::timeout_at(until, response.chunk())
                .await
                .unwrap_or_else(|_| panic!("watch: timed out; events so far {events:?}"))
                .unwrap_or_else(|e| panic!("watch: {e}"))
                .unwrap_or_else(|| panic!("watch ended; events so far {events:?}"));
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let record: String = buffer.drain(..end + 2).collect();
                for line in record.lines() {
                    if let Some(data) = line.strip_prefix("data:")
                        && let Ok(event) = serde_json::from_str::<Value>(data.trim())
                    {
                        events.push(event);
                    }
                }
            }
            if events
                .iter()
                .filter(|e| e["state"] == "TASK_FAILED")
                .count()
                >= failed
            {
                return events;
            }
        }
    })
}

#[test]
fn command_http_and_tcp_health_checks_run_by_the_real_executor() {
    let Some(cluster) = RealCluster::start_agents(2) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &[]);
    let timing = json!({"delay": 0, "interval": 1, "timeout": 5, "graceperiod": 30});
    let with_timing = |mut check: Value| {
        for (k, v) in timing.as_object().into_iter().flatten() {
            check[k] = v.clone();
        }
        check
    };
    let http_port = procs::free_port();
    let tcp_port = procs::free_port();
    let m = sleep_marker();
    let apps = [
        (
            "hc-command",
            format!("exec /bin/sleep {m}"),
            with_timing(json!({"type": "command", "command": {"cmd": "test -d ."}})),
        ),
        (
            "hc-http",
            format!("exec python3 -m http.server {http_port} --bind 127.0.0.1"),
            with_timing(json!({"type": "http", "http": {"port": http_port, "path": "/"}})),
        ),
        (
            "hc-tcp",
            format!("exec python3 -m http.server {tcp_port} --bind 127.0.0.1"),
            with_timing(json!({"type": "tcp", "tcp": {"port": tcp_port}})),
        ),
    ];
    for (name, cmd, check) in &apps {
        hydrogen.deploy(json!({
            "name": name,
            "resources": {"cpu": 0.1, "mem": 64},
            "instances": 1,
            "command": {"cmd": cmd},
            "healthcheck": check,
        }));
    }
    // A check that always fails, once, with no grace: Mesos kills the task
    // and Hydrogen starts another.
    let bad = sleep_marker();
    hydrogen.deploy(json!({
        "name": "hc-bad",
        "resources": {"cpu": 0.1, "mem": 16},
        "instances": 1,
        "command": {"cmd": format!("exec /bin/sleep {bad}")},
        "healthcheck": {"type": "command", "command": {"cmd": "exit 1"},
                        "delay": 0, "interval": 1, "timeout": 5, "graceperiod": 0, "fails": 1},
    }));

    for (name, _, _) in &apps {
        cluster.wait_state(&format!("{name} RUNNING and healthy"), DEADLINE, |s| {
            app_tasks(s, FRAMEWORK, name, "TASK_RUNNING")
                .iter()
                .any(|t| {
                    t["statuses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|st| st["healthy"] == true)
                })
        });
        wait_for(
            &format!("the API to say {name} is healthy"),
            DEADLINE,
            || {
                let app = hydrogen.app(name);
                app["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["healthy"] == true)
                    .then_some(())
            },
            || format!("{}", hydrogen.app(name)),
        );
    }

    let state = cluster.wait_state("hc-bad killed by Mesos twice", DEADLINE, |s| {
        completed_tasks(s, FRAMEWORK)
            .iter()
            .filter(|t| t["id"].as_str().is_some_and(|id| id.starts_with("hc-bad.")))
            .count()
            >= 2
    });
    let killed: Vec<&Value> = completed_tasks(&state, FRAMEWORK)
        .into_iter()
        .filter(|t| t["id"].as_str().is_some_and(|id| id.starts_with("hc-bad.")))
        .collect();
    assert!(
        killed.iter().all(|t| t["state"] == "TASK_KILLED"),
        "a task failing its check is killed: {killed:?}"
    );
    // The healthy ones were never replaced.
    for (name, _, _) in &apps {
        let prefix = format!("{name}.");
        assert!(
            !completed_tasks(&state, FRAMEWORK)
                .iter()
                .any(|t| t["id"].as_str().is_some_and(|id| id.starts_with(&prefix))),
            "{name} was replaced"
        );
    }
}

#[test]
fn two_apps_in_two_roles_run_on_the_agents_reserved_to_each() {
    // Each agent has its unreserved 2 cpus, plus 1 cpu and 256 MB reserved
    // to one team.
    let agents = [(1, "team-a"), (2, "team-b")]
        .into_iter()
        .map(|(i, role)| AgentOptions {
            reserved: format!("cpus({role}):1;mem({role}):256"),
            ..AgentOptions::numbered(i)
        })
        .collect();
    let Some(cluster) = RealCluster::start(MasterOptions::default(), agents) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &["--roles", "team-a,team-b"]);
    let (ma, mb) = (sleep_marker(), sleep_marker());
    // alpha takes the first role by default; beta names team-b. Reserved
    // resources only: each must land on its team's agent.
    hydrogen.deploy(json!({
        "name": "alpha",
        "resources": {"cpu": 0.2, "mem": 32, "reserved_only": true},
        "instances": 2,
        "command": {"cmd": format!("exec /bin/sleep {ma}")},
    }));
    hydrogen.deploy(json!({
        "name": "beta",
        "resources": {"cpu": 0.2, "mem": 32, "role": "team-b", "reserved_only": true},
        "instances": 2,
        "command": {"cmd": format!("exec /bin/sleep {mb}")},
    }));
    let (_, state) = wait_running(&cluster, "alpha", 2, &ma);
    let (_, state_b) = wait_running(&cluster, "beta", 2, &mb);
    let alpha = app_tasks(&state, FRAMEWORK, "alpha", "TASK_RUNNING");
    let beta = app_tasks(&state_b, FRAMEWORK, "beta", "TASK_RUNNING");
    assert_eq!(
        agents_of(&alpha),
        BTreeSet::from([agent_id(&cluster, "agent-1.real")])
    );
    assert_eq!(
        agents_of(&beta),
        BTreeSet::from([agent_id(&cluster, "agent-2.real")])
    );
    for (tasks, role) in [(&alpha, "team-a"), (&beta, "team-b")] {
        for t in tasks.iter() {
            assert_eq!(t["role"], role, "{t}");
        }
    }
    let framework = state_b["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"] == FRAMEWORK)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        framework["roles"],
        json!(["team-a", "team-b"]),
        "{framework}"
    );
    hydrogen.kill_app("alpha");
    hydrogen.kill_app("beta");
    wait_for(
        "the sleep processes to end",
        DEADLINE,
        || (sleepers(&ma) + sleepers(&mb) == 0).then_some(()),
        || cluster.logs(),
    );
}

/// Issue 19: dynamically reserved resources (operator RESERVE_RESOURCES on
/// the real master, as an operator makes them) serve the app's role like
/// static ones: a `reserved_only` app lands on them, and an app that may
/// take unreserved resources takes the reserved ones first. Mesos checks
/// the launched resources against the offer, so each task carries the
/// reservation exactly as offered (type, role, labels).
#[test]
fn dynamically_reserved_resources_serve_the_apps_role_first() {
    let Some(cluster) = RealCluster::start_agents(2) else {
        return;
    };
    let reserved_agent = agent_id(&cluster, "agent-2.real");
    let port = master_port(&cluster);
    // Labels travel with the reservation and must come back as offered.
    let reservation = json!([{"type": "DYNAMIC", "role": "team-a",
                              "labels": {"labels": [{"key": "owner", "value": "team-a"}]}}]);
    let (status, body) = http_post_json(
        port,
        "/api/v1",
        &json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
        "agent_id": {"value": reserved_agent},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}, "reservations": reservation},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 256.0}, "reservations": reservation},
        ]}}),
    );
    assert_eq!(status, 202, "the master takes the reservation: {body}");
    let hydrogen = Serve::start(&cluster.master_url(), &["--roles", "team-a"]);
    let (ma, mb) = (sleep_marker(), sleep_marker());
    hydrogen.deploy(json!({
        "name": "alpha",
        "resources": {"cpu": 0.2, "mem": 32, "reserved_only": true},
        "instances": 2,
        "command": {"cmd": format!("exec /bin/sleep {ma}")},
    }));
    let (_, state) = wait_running(&cluster, "alpha", 2, &ma);
    // Room for both on either agent: the reserved share goes first.
    hydrogen.deploy(json!({
        "name": "beta",
        "resources": {"cpu": 0.2, "mem": 32},
        "instances": 2,
        "command": {"cmd": format!("exec /bin/sleep {mb}")},
    }));
    let (_, state_b) = wait_running(&cluster, "beta", 2, &mb);
    for (app, state) in [("alpha", &state), ("beta", &state_b)] {
        let tasks = app_tasks(state, FRAMEWORK, app, "TASK_RUNNING");
        assert_eq!(
            agents_of(&tasks),
            BTreeSet::from([reserved_agent.clone()]),
            "{app} runs on the reserved agent"
        );
        for t in &tasks {
            assert_eq!(t["role"], "team-a", "{t}");
        }
    }
    // What the master recorded: the agent's resources in use, in full
    // (`/master/slaves`; `/master/state` sums them without reservations).
    let slaves = cluster.get_json("/master/slaves");
    let agent = slaves["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["id"] == reserved_agent.as_str())
        .cloned()
        .expect("the reserved agent is listed");
    let used = &agent["used_resources_full"];
    let reserved_cpus: f64 = used
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == "cpus")
        .filter(|r| {
            r["reservations"]
                .as_array()
                .and_then(|v| v.last())
                .is_some_and(|last| {
                    last["type"] == "DYNAMIC"
                        && last["role"] == "team-a"
                        && last["labels"]["labels"][0]["value"] == "team-a"
                })
        })
        .filter_map(|r| r["scalar"]["value"].as_f64())
        .sum();
    assert!(
        (reserved_cpus - 0.8).abs() < 1e-6,
        "all four tasks hold dynamically reserved cpus: {used}"
    );
    hydrogen.kill_app("alpha");
    hydrogen.kill_app("beta");
    wait_for(
        "the sleep processes to end",
        DEADLINE,
        || (sleepers(&ma) + sleepers(&mb) == 0).then_some(()),
        || cluster.logs(),
    );
}

/// Issue 19: the framework's roles change at restart. The real master's
/// `Master::subscribe` sends a known framework id with a changed
/// FrameworkInfo through `validateUpdate` and `updateFramework`, the same
/// path as UPDATE_FRAMEWORK, so re-subscribing with `--roles a,b` after
/// `--roles a` adds role b without touching the task running in a.
#[test]
fn a_restart_with_another_role_re_subscribes_with_it_and_keeps_the_running_task() {
    let agent = AgentOptions {
        reserved: "cpus(team-b):1;mem(team-b):256".into(),
        ..AgentOptions::numbered(1)
    };
    let Some(cluster) = RealCluster::start(MasterOptions::default(), vec![agent]) else {
        return;
    };
    let redis = procs::Redis::start();
    let store = redis.url();
    let mut first = Serve::start(
        &cluster.master_url(),
        &["--store", &store, "--roles", "team-a"],
    );
    let (ma, mb) = (sleep_marker(), sleep_marker());
    first.deploy(json!({
        "name": "alpha",
        "resources": {"cpu": 0.2, "mem": 32},
        "instances": 1,
        "command": {"cmd": format!("exec /bin/sleep {ma}")},
    }));
    let (alpha_before, state) = wait_running(&cluster, "alpha", 1, &ma);
    let framework = |state: &Value| {
        state["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["name"] == FRAMEWORK)
            .cloned()
            .unwrap_or_default()
    };
    let framework_id = framework(&state)["id"].clone();
    assert!(framework_id.is_string(), "{state}");
    assert_eq!(framework(&state)["roles"], json!(["team-a"]));
    first.kill9();

    let second = Serve::start(
        &cluster.master_url(),
        &["--store", &store, "--roles", "team-a,team-b"],
    );
    let state = cluster.wait_state(
        "the framework re-subscribed with both roles",
        DEADLINE,
        |s| {
            let f = framework(s);
            f["connected"] == true && f["roles"] == json!(["team-a", "team-b"])
        },
    );
    assert_eq!(
        framework(&state)["id"],
        framework_id,
        "a new framework: {state}"
    );
    second.deploy(json!({
        "name": "beta",
        "resources": {"cpu": 0.2, "mem": 32, "role": "team-b", "reserved_only": true},
        "instances": 1,
        "command": {"cmd": format!("exec /bin/sleep {mb}")},
    }));
    let (_, state) = wait_running(&cluster, "beta", 1, &mb);
    for t in app_tasks(&state, FRAMEWORK, "beta", "TASK_RUNNING") {
        assert_eq!(t["role"], "team-b", "{t}");
    }
    let alpha = app_tasks(&state, FRAMEWORK, "alpha", "TASK_RUNNING");
    assert_eq!(ids(&alpha), alpha_before, "alpha was relaunched: {state}");
    assert_eq!(alpha[0]["role"], "team-a", "{state}");
    assert_eq!(sleepers(&ma), 1);
    assert_eq!(
        state["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["name"] == FRAMEWORK)
            .count(),
        1,
        "{state}"
    );
    second.kill_app("alpha");
    second.kill_app("beta");
    wait_for(
        "the sleep processes to end",
        DEADLINE,
        || (sleepers(&ma) + sleepers(&mb) == 0).then_some(()),
        || cluster.logs(),
    );
}

/// The port the real master listens on.
fn master_port(cluster: &RealCluster) -> u16 {
    cluster
        .master_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("master port")
}

/// A blocking HTTP/1.0 POST of JSON on loopback; returns status and body.
fn http_post_json(port: u16, path: &str, body: &Value) -> (u16, String) {
    use std::io::{Read, Write};
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("master listens");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request sent");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("answer read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, rest.to_string())
}

#[test]
fn a_maintenance_window_on_a_real_master_moves_the_task_and_the_inverse_offer_is_accepted() {
    let Some(cluster) = RealCluster::start_agents(3) else {
        return;
    };
    let hydrogen = Serve::start(&cluster.master_url(), &[]);
    let marker = sleep_marker();
    hydrogen.deploy(json!({
        "name": "web",
        "resources": {"cpu": 0.1, "mem": 16},
        "instances": 2,
        "strategy": {"type": "unique"},
        "command": {"cmd": format!("exec /bin/sleep {marker}")},
    }));
    let (first, state) = wait_running(&cluster, "web", 2, &marker);
    let tasks = app_tasks(&state, FRAMEWORK, "web", "TASK_RUNNING");
    let agent = tasks[0]["slave_id"].as_str().expect("agent").to_string();
    let slave = state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == agent.as_str())
        .cloned()
        .expect("listed agent");
    let ip = slave["pid"]
        .as_str()
        .and_then(|p| p.split_once('@'))
        .and_then(|(_, a)| a.split_once(':'))
        .map(|(ip, _)| ip.to_string())
        .expect("pid has the ip");
    let machine = json!({"hostname": slave["hostname"], "ip": ip});
    let start_ns = (std::time::SystemTime::now() + Duration::from_secs(600))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_nanos();
    let port = master_port(&cluster);
    let (status, body) = http_post_json(
        port,
        "/master/maintenance/schedule",
        &json!({"windows": [{"machine_ids": [machine],
                             "unavailability": {"start": {"nanoseconds": start_ns}}}]}),
    );
    assert_eq!(status, 200, "{body}");

    // The task leaves the agent, a replacement first; Hydrogen accepts.
    let accepted = wait_for(
        "web off the agent and the inverse offer accepted",
        DEADLINE,
        || {
            let state = cluster.state();
            let running = app_tasks(&state, FRAMEWORK, "web", "TASK_RUNNING");
            assert!(
                running.len() >= 2,
                "web fell below its minimum: {running:?}"
            );
            let on_agent = running.iter().any(|t| t["slave_id"] == agent.as_str());
            let status = cluster.get_json("/master/maintenance/status");
            let accepted = status["draining_machines"][0]["statuses"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["status"] == "ACCEPT");
            (!on_agent && running.len() == 2 && accepted).then_some(status)
        },
        || {
            format!(
                "{}\nhydrogen:\n{}",
                cluster.logs(),
                real_mesos::log_tail(&hydrogen.log, 40)
            )
        },
    );
    println!("maintenance status: {accepted}");
    let (moved, _) = wait_running(&cluster, "web", 2, &marker);
    assert_eq!(moved.intersection(&first).count(), 1, "one task moved");

    // The operator brings the machine down: nothing of ours is lost.
    let (status, body) = http_post_json(
        port,
        "/api/v1",
        &json!({"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine]}}),
    );
    assert_eq!(status, 200, "{body}");
    let (after, _) = wait_running(&cluster, "web", 2, &marker);
    assert_eq!(after, moved, "no task lost to the machine going down");
    hydrogen.kill_app("web");
    wait_for(
        "the sleep processes to end",
        DEADLINE,
        || (sleepers(&marker) == 0).then_some(()),
        || cluster.logs(),
    );
}
