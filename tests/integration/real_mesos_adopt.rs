//! Adoption against a real Apache Mesos: a store that lost the framework
//! id does not register a second framework next to the disconnected one
//! (found with the real master's `GET_FRAMEWORKS`), says how to adopt it,
//! and `--framework-id` adopts it without relaunching its tasks. Also
//! checks that the real master's `GET_FRAMEWORKS` JSON has the fields the
//! simulator serves and Hydrogen reads. Skipped (with a note) when
//! `MESOS_HOME` is unset; see `hydrogen_testkit::real_mesos`.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use hydrogen_testkit::procs;
use hydrogen_testkit::real_mesos::{
    RealCluster, Serve, api_call, app_tasks, frameworks_named, sleep_marker, wait_for,
};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(90);
const FRAMEWORK: &str = "Hydrogen";

fn running_ids(state: &Value) -> BTreeSet<String> {
    app_tasks(state, FRAMEWORK, "keep", "TASK_RUNNING")
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

fn get_frameworks(cluster: &RealCluster) -> Value {
    let (status, body) = api_call(
        "POST",
        &format!("{}/api/v1", cluster.master_url().trim_end_matches('/')),
        Some(&json!({"type": "GET_FRAMEWORKS"})),
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// `GET_FRAMEWORKS` in protobuf both ways, decoded with our subset of
/// `master.proto`: the field numbers are the real master's.
fn get_frameworks_protobuf(cluster: &RealCluster) -> hydrogen::mesos::v1::master::Response {
    use hydrogen::mesos::v1::master::{Call, Response, call};
    use prost::Message;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let body = Call {
            r#type: Some(call::Type::GetFrameworks as i32),
            ..Default::default()
        }
        .encode_to_vec();
        let response = reqwest::Client::new()
            .post(format!(
                "{}/api/v1",
                cluster.master_url().trim_end_matches('/')
            ))
            .header("content-type", "application/x-protobuf")
            .header("accept", "application/x-protobuf")
            .body(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("the master answers");
        assert_eq!(response.status().as_u16(), 200);
        let bytes = response.bytes().await.expect("body");
        Response::decode(bytes.as_ref()).expect("a protobuf master::Response")
    })
}

fn redis_cli(redis: &procs::Redis, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(redis.port.to_string())
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_forgotten_framework_is_not_registered_twice_and_is_adopted() {
    let Some(cluster) = RealCluster::start_agents(1) else {
        return;
    };
    let redis = procs::Redis::start();
    let store = redis.url();
    let mut first = Serve::start(&cluster.master_url(), &["--store", &store]);
    let m = sleep_marker();
    first.deploy(json!({
        "name": "keep",
        "resources": {"cpu": 0.1, "mem": 32},
        "instances": 2,
        "command": {"cmd": format!("exec /bin/sleep {m}")},
    }));
    let state = cluster.wait_state("two running tasks", DEADLINE, |s| running_ids(s).len() == 2);
    let before = running_ids(&state);
    let framework_id = frameworks_named(&state, FRAMEWORK)
        .next()
        .and_then(|f| f["id"].as_str())
        .expect("our framework")
        .to_string();
    first.kill9();
    cluster.wait_state("the framework to be disconnected", DEADLINE, |s| {
        frameworks_named(s, FRAMEWORK).any(|f| f["connected"] == false)
    });

    // The real master's answer has what the simulator serves.
    let answer = get_frameworks(&cluster);
    let listed = &answer["get_frameworks"]["frameworks"][0];
    assert_eq!(answer["type"], "GET_FRAMEWORKS", "{answer}");
    assert_eq!(
        listed["framework_info"]["id"]["value"],
        framework_id.as_str(),
        "{answer}"
    );
    assert_eq!(listed["framework_info"]["name"], FRAMEWORK, "{answer}");
    assert_eq!(listed["framework_info"]["principal"], FRAMEWORK, "{answer}");
    assert_eq!(listed["connected"], false, "{answer}");
    assert_eq!(listed["active"], false, "{answer}");
    assert_eq!(listed["recovered"], false, "{answer}");
    assert!(
        listed["registered_time"]["nanoseconds"].is_i64(),
        "{answer}"
    );
    assert!(
        listed["reregistered_time"]["nanoseconds"].is_i64(),
        "{answer}"
    );
    // A disconnected framework has no unregistration time yet.
    assert!(listed.get("unregistered_time").is_none(), "{answer}");

    let typed = get_frameworks_protobuf(&cluster);
    let listed = typed
        .get_frameworks
        .as_ref()
        .and_then(|g| g.frameworks.first())
        .expect("one framework");
    assert_eq!(
        listed.framework_info.id.as_ref().map(|i| i.value.as_str()),
        Some(framework_id.as_str())
    );
    assert!(!listed.connected && !listed.active && !listed.recovered);
    assert!(listed.registered_time.is_some() && listed.unregistered_time.is_none());

    assert_eq!(redis_cli(&redis, &["DEL", "hydrogen:framework-id"]), "1");
    let second = Serve::start(&cluster.master_url(), &["--store", &store]);
    let needle = format!("--framework-id {framework_id}");
    let error = wait_for(
        "the second instance to refuse",
        DEADLINE,
        || {
            let (status, body) = second.api("GET", "/readyz", None);
            let error = body["error"].as_str().unwrap_or_default().to_string();
            (status == 503 && error.contains(&needle)).then_some(error)
        },
        || second.log_text(),
    );
    assert!(error.contains("runs 2 tasks"), "{error}");
    assert!(second.log_text().contains(&needle), "{}", second.log_text());
    let state = cluster.state();
    assert_eq!(
        frameworks_named(&state, FRAMEWORK).count(),
        1,
        "registered twice: {state}"
    );
    drop(second);

    let adopting = Serve::start(
        &cluster.master_url(),
        &["--store", &store, "--framework-id", &framework_id],
    );
    cluster.wait_state("the framework to reconnect", DEADLINE, |s| {
        frameworks_named(s, FRAMEWORK).count() == 1
            && frameworks_named(s, FRAMEWORK).all(|f| f["connected"] == true)
    });
    wait_for(
        "reconciliation and the app's two tasks",
        DEADLINE,
        || {
            let (_, metrics) = adopting.api("GET", "/metrics", None);
            let ready = metrics
                .as_str()
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with("hydrogen_scheduler_launch_ready") && l.ends_with(" 1"));
            let app = adopting.app("keep").to_string();
            (ready && before.iter().all(|id| app.contains(id.as_str()))).then_some(())
        },
        || adopting.log_text(),
    );
    assert_eq!(running_ids(&cluster.state()), before, "relaunched");
    assert_eq!(
        redis_cli(&redis, &["GET", "hydrogen:framework-id"]),
        framework_id
    );
}
