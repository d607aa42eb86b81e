//! The simulated master's JSON face, driven with hand-written JSON calls (no
//! generated types) over real loopback HTTP: proves the wire shapes match
//! Mesos's JSON mapping of the protobufs (`{"type":"OFFERS","offers":
//! {"offers":[...]}}`, enum names, base64 uuids) and the master's status
//! codes.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use hydrogen::mesos::recordio::RecordIoCodec;
use hydrogen_sim::{SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

const DEADLINE: Duration = Duration::from_secs(20);

type Events = FramedRead<
    StreamReader<
        futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
        bytes::Bytes,
    >,
    RecordIoCodec,
>;

async fn start() -> SimHandle {
    let timings = hydrogen_sim::Timings {
        allocation_interval: Duration::from_millis(50),
        task_start_delay: Duration::from_millis(20),
        task_kill_delay: Duration::from_millis(10),
        ..Default::default()
    };
    let config = SimConfig {
        listen: "127.0.0.1:0".parse().expect("loopback"),
        agents: (1..=2).map(hydrogen_sim::cluster::default_agent).collect(),
        timings,
        ..SimConfig::default()
    };
    Simulator::start(config).await.expect("simulator starts")
}

fn endpoint(sim: &SimHandle) -> String {
    format!("{}/api/v1/scheduler", sim.url())
}

async fn post(
    sim: &SimHandle,
    stream_id: Option<&str>,
    body: &Value,
) -> (u16, String, Option<String>) {
    let mut req = reqwest::Client::new()
        .post(endpoint(sim))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(id) = stream_id {
        req = req.header("Mesos-Stream-Id", id);
    }
    let resp = req.send().await.expect("answered");
    let status = resp.status().as_u16();
    let length = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, resp.text().await.expect("body"), length)
}

fn framework_info(name: &str) -> Value {
    json!({
        "user": "tester",
        "name": name,
        "failover_timeout": 3600.0,
        "capabilities": [{"type": "TASK_KILLING_STATE"}, {"type": "PARTITION_AWARE"}]
    })
}

/// SUBSCRIBEs; returns framework id, stream id and the event reader (past
/// SUBSCRIBED and the first HEARTBEAT).
async fn subscribe(sim: &SimHandle, name: &str) -> (String, String, Events) {
    let resp = reqwest::Client::new()
        .post(endpoint(sim))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info(name)}})
                .to_string(),
        )
        .send()
        .await
        .expect("subscribe answered");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let stream_id = resp
        .headers()
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .expect("stream id")
        .to_string();
    let bytes = resp.bytes_stream().map_err(std::io::Error::other).boxed();
    let mut events: Events = FramedRead::new(StreamReader::new(bytes), RecordIoCodec::default());
    let first = next(&mut events).await;
    assert_eq!(first["type"], "SUBSCRIBED");
    let framework_id = first["subscribed"]["framework_id"]["value"]
        .as_str()
        .expect("framework id")
        .to_string();
    assert!(
        first["subscribed"]["heartbeat_interval_seconds"]
            .as_f64()
            .is_some()
    );
    assert_eq!(first["subscribed"]["master_info"]["version"], "1.11.0");
    assert_eq!(next(&mut events).await["type"], "HEARTBEAT");
    (framework_id, stream_id, events)
}

async fn next(events: &mut Events) -> Value {
    let record = tokio::time::timeout(DEADLINE, events.next())
        .await
        .expect("an event before the deadline")
        .expect("stream open")
        .expect("valid recordio");
    // Records are compact JSON: no newline inside.
    assert!(!record.contains(&b'\n'));
    serde_json::from_slice(&record).expect("event is JSON")
}

/// The next event of a type, skipping others (heartbeats, offers).
async fn next_of(events: &mut Events, kind: &str) -> Value {
    loop {
        let e = next(events).await;
        if e["type"] == kind {
            return e;
        }
    }
}

fn ack_body(framework_id: &str, status: &Value) -> Value {
    json!({
        "framework_id": {"value": framework_id},
        "type": "ACKNOWLEDGE",
        "acknowledge": {
            "agent_id": status["agent_id"],
            "task_id": status["task_id"],
            "uuid": status["uuid"],
        }
    })
}

#[tokio::test]
async fn json_face_subscribe_launch_ack_reconcile_kill() {
    let sim = start().await;
    let (fw, stream, mut events) = subscribe(&sim, "json").await;

    let offers = next_of(&mut events, "OFFERS").await;
    let offer = offers["offers"]["offers"][0].clone();
    assert_eq!(offer["framework_id"]["value"], fw.as_str());
    // Mesos 1.11 strips allocation_info from offers to frameworks without
    // MULTI_ROLE (master.cpp, Master::offer).
    assert!(offer.get("allocation_info").is_none(), "{offer}");
    let cpus = offer["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "cpus")
        .expect("cpus")
        .clone();
    assert_eq!(cpus["type"], "SCALAR");
    assert_eq!(cpus["scalar"]["value"], 4.0);
    assert!(
        offer["attributes"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );

    let accept = json!({
        "framework_id": {"value": fw},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{
                "type": "LAUNCH",
                "launch": {"task_infos": [{
                    "name": "web",
                    "task_id": {"value": "web-1"},
                    "agent_id": offer["agent_id"],
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}
                    ],
                    "command": {"value": "sleep 1000"},
                    "health_check": {"type": "COMMAND", "command": {"value": "true"}}
                }]}
            }],
            "filters": {"refuse_seconds": 1.0}
        }
    });
    let (status, body, length) = post(&sim, Some(&stream), &accept).await;
    assert_eq!(
        (status, body.as_str(), length.as_deref()),
        (202, "", Some("0"))
    );

    let starting = next_of(&mut events, "UPDATE").await["update"]["status"].clone();
    assert_eq!(starting["state"], "TASK_STARTING");
    assert_eq!(starting["source"], "SOURCE_EXECUTOR");
    assert_eq!(starting["task_id"]["value"], "web-1");
    assert!(
        starting["uuid"].as_str().is_some_and(|u| !u.is_empty()),
        "uuid is base64"
    );
    assert!(
        starting["container_status"]["network_infos"][0]["ip_addresses"][0]["ip_address"]
            .is_string()
    );
    assert_eq!(
        post(&sim, Some(&stream), &ack_body(&fw, &starting)).await.0,
        202
    );

    let running = next_of(&mut events, "UPDATE").await["update"]["status"].clone();
    assert_eq!(running["state"], "TASK_RUNNING");
    assert_eq!(
        post(&sim, Some(&stream), &ack_body(&fw, &running)).await.0,
        202
    );
    let healthy = next_of(&mut events, "UPDATE").await["update"]["status"].clone();
    assert_eq!(healthy["healthy"], true);
    assert_eq!(healthy["reason"], "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED");
    assert_eq!(
        post(&sim, Some(&stream), &ack_body(&fw, &healthy)).await.0,
        202
    );

    // An ACKNOWLEDGE whose uuid is not a UUID is a 400.
    let mut bad = ack_body(&fw, &running);
    bad["acknowledge"]["uuid"] = json!("AAAA");
    let (status, body, _) = post(&sim, Some(&stream), &bad).await;
    assert_eq!(status, 400);
    assert_eq!(body, "Failed to validate scheduler::Call: Not a valid UUID");

    // Explicit reconciliation: known and unknown tasks, no uuid.
    let reconcile = json!({
        "framework_id": {"value": fw},
        "type": "RECONCILE",
        "reconcile": {"tasks": [{"task_id": {"value": "web-1"}}, {"task_id": {"value": "ghost"}}]}
    });
    assert_eq!(post(&sim, Some(&stream), &reconcile).await.0, 202);
    let a = next_of(&mut events, "UPDATE").await["update"]["status"].clone();
    let b = next_of(&mut events, "UPDATE").await["update"]["status"].clone();
    assert_eq!(
        (a["state"].as_str(), a["reason"].as_str()),
        (Some("TASK_RUNNING"), Some("REASON_RECONCILIATION"))
    );
    assert!(a.get("uuid").is_none());
    assert_eq!(b["state"], "TASK_UNKNOWN");
    assert_eq!(b["message"], "Reconciliation: Task is unknown");

    // Implicit reconciliation.
    let implicit = json!({"framework_id": {"value": fw}, "type": "RECONCILE", "reconcile": {}});
    assert_eq!(post(&sim, Some(&stream), &implicit).await.0, 202);
    let c = next_of(&mut events, "UPDATE").await["update"]["status"].clone();
    assert_eq!(c["task_id"]["value"], "web-1");

    // The gauges Mesos serves on /metrics/snapshot count it (a poll that
    // does not list every task, as /master/state does).
    let metrics: Value = reqwest::get(format!("{}/metrics/snapshot", sim.url()))
        .await
        .expect("metrics")
        .json_or_text()
        .await;
    assert_eq!(metrics["master/tasks_running"], json!(1.0), "{metrics}");
    assert_eq!(metrics["master/tasks_staging"], json!(0.0), "{metrics}");
    assert_eq!(metrics["master/frameworks_active"], json!(1.0), "{metrics}");
    assert_eq!(metrics["master/elected"], json!(1.0), "{metrics}");

    // KILL: TASK_KILLING (capability), then TASK_KILLED.
    let kill = json!({"framework_id": {"value": fw}, "type": "KILL", "kill": {"task_id": {"value": "web-1"}}});
    assert_eq!(post(&sim, Some(&stream), &kill).await.0, 202);
    let killing = next_of(&mut events, "UPDATE").await["update"]["status"].clone();
    assert_eq!(killing["state"], "TASK_KILLING");
    assert_eq!(
        post(&sim, Some(&stream), &ack_body(&fw, &killing)).await.0,
        202
    );
    let killed = next_of(&mut events, "UPDATE").await["update"]["status"].clone();
    assert_eq!(killed["state"], "TASK_KILLED");
    assert_eq!(
        post(&sim, Some(&stream), &ack_body(&fw, &killed)).await.0,
        202
    );

    // The task is completed in /master/state once its terminal update is acked.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let state: Value = reqwest::get(format!("{}/master/state", sim.url()))
            .await
            .expect("state")
            .json_or_text()
            .await;
        let fw_state = state["frameworks"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["id"] == fw.as_str()).cloned())
            .expect("framework in state");
        if fw_state["completed_tasks"][0]["state"] == "TASK_KILLED" {
            assert_eq!(
                fw_state["completed_tasks"][0]["slave_id"],
                offer["agent_id"]["value"]
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task never completed: {fw_state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // DECLINE and TEARDOWN are accepted.
    let offers = next_of(&mut events, "OFFERS").await;
    let decline = json!({
        "framework_id": {"value": fw},
        "type": "DECLINE",
        "decline": {"offer_ids": [offers["offers"]["offers"][0]["id"]], "filters": {"refuse_seconds": 60}}
    });
    assert_eq!(post(&sim, Some(&stream), &decline).await.0, 202);
    let teardown = json!({"framework_id": {"value": fw}, "type": "TEARDOWN"});
    assert_eq!(post(&sim, Some(&stream), &teardown).await.0, 202);
    sim.shutdown().await;
}

/// reqwest without its `json` feature: parse the body ourselves.
trait JsonOrText {
    async fn json_or_text(self) -> Value;
}

impl JsonOrText for reqwest::Response {
    async fn json_or_text(self) -> Value {
        let text = self.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

#[tokio::test]
async fn json_face_error_codes() {
    let sim = start().await;
    let client = reqwest::Client::new();

    // No Content-Type: 400.
    let resp = client
        .post(endpoint(&sim))
        .body("{}")
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        resp.text().await.expect("body"),
        "Expecting 'Content-Type' to be present"
    );

    // Another Content-Type: 415.
    let resp = client
        .post(endpoint(&sim))
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 415);

    // SUBSCRIBE whose Accept allows neither encoding: 406.
    let resp = client
        .post(endpoint(&sim))
        .header("Content-Type", "application/json")
        .header("Accept", "text/html")
        .body(
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("x")}})
                .to_string(),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 406);

    // Malformed JSON: 400 with a message.
    let resp = client
        .post(endpoint(&sim))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        resp.text()
            .await
            .expect("body")
            .starts_with("Failed to parse body into JSON")
    );

    // A framework the master does not know: 400 "Framework cannot be found".
    let revive = |fw: &str| json!({"framework_id": {"value": fw}, "type": "REVIVE"});
    let (status, body, _) = post(&sim, Some("x"), &revive("nobody")).await;
    assert_eq!((status, body.as_str()), (400, "Framework cannot be found"));

    // Subscribed framework: missing or wrong stream id is a 400.
    let (fw, stream, events) = subscribe(&sim, "codes").await;
    let (status, body, _) = post(&sim, None, &revive(&fw)).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
    );
    let (status, body, _) = post(&sim, Some("wrong"), &revive(&fw)).await;
    assert_eq!(status, 400);
    assert!(body.starts_with("The stream ID 'wrong' included in this request didn't match"));
    assert_eq!(post(&sim, Some(&stream), &revive(&fw)).await.0, 202);

    // SUBSCRIBE with a stream id header: 400.
    let resp = client
        .post(endpoint(&sim))
        .header("Content-Type", "application/json")
        .header("Mesos-Stream-Id", &stream)
        .body(
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("x")}})
                .to_string(),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 400);

    // Invalid SUBSCRIBE (bad role): 200 with one ERROR event, then closed.
    let resp = client
        .post(endpoint(&sim))
        .header("Content-Type", "application/json")
        .body(
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info":
                {"user": "u", "name": "bad", "role": "a//b"}}})
            .to_string(),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 200);
    let body = tokio::time::timeout(DEADLINE, resp.bytes())
        .await
        .expect("closed")
        .expect("body");
    let text = String::from_utf8_lossy(&body);
    let (len, record) = text.split_once('\n').expect("recordio");
    assert_eq!(len.parse::<usize>().expect("length"), record.len());
    let error: Value = serde_json::from_str(record).expect("json");
    assert_eq!(error["type"], "ERROR");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot contain two adjacent slashes"))
    );

    // After the stream closes, the (failover_timeout > 0) framework is
    // known but not subscribed: 403.
    drop(events);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (status, body, _) = post(&sim, Some(&stream), &revive(&fw)).await;
        if status == 403 {
            assert_eq!(body, "Framework is not subscribed");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn protobuf_stream_when_only_protobuf_is_accepted() {
    let sim = start().await;
    let resp = reqwest::Client::new()
        .post(endpoint(&sim))
        .header("Content-Type", "application/json")
        .header("Accept", "application/x-protobuf")
        .body(
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("pb")}})
                .to_string(),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-protobuf")
    );
    let bytes = resp.bytes_stream().map_err(std::io::Error::other).boxed();
    let mut events: Events = FramedRead::new(StreamReader::new(bytes), RecordIoCodec::default());
    let record = tokio::time::timeout(DEADLINE, events.next())
        .await
        .expect("event")
        .expect("open")
        .expect("recordio");
    let event: hydrogen::mesos::v1::scheduler::Event =
        prost::Message::decode(record).expect("protobuf event");
    assert_eq!(
        event.r#type(),
        hydrogen::mesos::v1::scheduler::event::Type::Subscribed
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn version_health_redirect_and_admin_errors() {
    let sim = start().await;
    let version: Value = reqwest::get(format!("{}/version", sim.url()))
        .await
        .expect("version")
        .json_or_text()
        .await;
    assert_eq!(version["version"], "1.11.0");
    assert_eq!(
        reqwest::get(format!("{}/health", sim.url()))
            .await
            .expect("health")
            .status()
            .as_u16(),
        200
    );
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = no_follow
        .get(format!("{}/redirect", sim.url()))
        .send()
        .await
        .expect("redirect");
    assert_eq!(resp.status().as_u16(), 307);
    assert_eq!(
        resp.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(format!("//127.0.0.1:{}", sim.addr().port()).as_str())
    );

    // Non-leading with a leader: 307 with a scheme-less Location.
    let resp = no_follow
        .post(format!("{}/sim/master/leadership", sim.url()))
        .body(json!({"leading": false, "leader": "10.1.2.3:5050"}).to_string())
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = no_follow
        .post(endpoint(&sim))
        .header("Content-Type", "application/json")
        .body(
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("x")}})
                .to_string(),
        )
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 307);
    assert_eq!(
        resp.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("//10.1.2.3:5050/api/v1/scheduler")
    );
    // Non-leading, no leader known: 503.
    no_follow
        .post(format!("{}/sim/master/leadership", sim.url()))
        .body(json!({"leading": false}).to_string())
        .send()
        .await
        .expect("admin");
    let resp = no_follow
        .post(endpoint(&sim))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 503);

    // Admin input errors are 4xx JSON.
    let resp = no_follow
        .post(format!("{}/sim/agents/nope/unreachable", sim.url()))
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status().as_u16(), 404);
    let body: Value = resp.json_or_text().await;
    assert!(body["error"].is_string());
    let resp = no_follow
        .post(format!("{}/sim/agents", sim.url()))
        .body(json!({"hostname": "x", "resources": {"cpus": "lots"}}).to_string())
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status().as_u16(), 400);
    let resp = no_follow
        .post(format!("{}/sim/agents", sim.url()))
        .body(json!({"hostname": "extra.sim", "resources": {"cpus": 2, "mem": 1024}}).to_string())
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status().as_u16(), 201);
    let agents: Value = no_follow
        .get(format!("{}/sim/agents", sim.url()))
        .send()
        .await
        .expect("agents")
        .json_or_text()
        .await;
    assert_eq!(agents["agents"].as_array().map(Vec::len), Some(3));
    sim.shutdown().await;
}
