//! The gRPC face against a real server on loopback through the generated
//! tonic client: every RPC, every error class with its structured detail,
//! auth, standard health and reflection, and agreement with the REST face.

mod api_common;

use api_common::{Writer, app_json, config, start, with_token};
use hydrogen::api::convert::{app_from_proto, app_to_proto};
use hydrogen::api::proto as pb;
use hydrogen::store::{Store, TaskState};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

fn proto_app(name: &str, cmd: &str) -> pb::App {
    let bytes = json!([app_json(name, cmd)]).to_string();
    let apps = hydrogen::spec::parse_apps(bytes.as_bytes()).expect("valid app");
    app_to_proto(&apps[0])
}

#[tokio::test]
async fn api_grpc_every_rpc_succeeds() {
    let srv = start(config(None)).await;
    let mut client = srv.grpc().await;

    // The full enumeration of the README, through the proto messages.
    let example = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/full-enumeration.json"
    ))
    .expect("example");
    let spec = hydrogen::spec::parse_apps(&example).expect("valid");
    let full = app_to_proto(&spec[0]);
    let resp = client
        .deploy(pb::DeployRequest {
            apps: vec![full.clone(), proto_app("web", "sleep 1")],
        })
        .await
        .expect("deploy")
        .into_inner();
    assert_eq!(resp.results.len(), 2);
    assert_eq!(resp.results[0].name, "Example-app");
    assert!(resp.results[0].created);
    assert_eq!(
        resp.results[0].message,
        "Task Example-app successfully queued"
    );
    assert_eq!(resp.results[1].version, 1);

    let stored = srv
        .store
        .get_app("Example-app")
        .await
        .expect("store")
        .expect("app");
    assert_eq!(
        stored.spec, spec[0],
        "proto deploy stores the same spec as JSON"
    );

    let writer = Writer::new(&srv.store).await;
    writer.task("web", 0, TaskState::TaskRunning).await;

    let state = client
        .state(pb::StateRequest { name: "web".into() })
        .await
        .expect("state")
        .into_inner();
    assert_eq!(state.version, 1);
    assert_eq!(state.goal, pb::AppGoal::Run as i32);
    assert_eq!(state.tasks.len(), 1);
    assert_eq!(state.tasks[0].state, pb::TaskState::Running as i32);
    assert_eq!(state.tasks[0].hostname, "host-0");
    assert_eq!(state.running, 1);
    assert_eq!(state.state, "TASK_STAGING", "1 of 2 instances runs");
    assert_eq!(state.spec.as_ref().map(|s| s.name.as_str()), Some("web"));

    let all = client
        .list_all(pb::ListAllRequest {})
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.tasks.len(), 1);
    assert_eq!(all.tasks[0].id, "web.0.0000");

    let mut changed = proto_app("web", "sleep 2");
    changed.instances = Some(4);
    let updated = client
        .update(pb::UpdateRequest {
            app: Some(changed.clone()),
            expected_version: Some(1),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.version, 2);
    assert!(updated.changed);
    let same = client
        .update(pb::UpdateRequest {
            app: Some(changed),
            expected_version: None,
        })
        .await
        .expect("update")
        .into_inner();
    assert!(!same.changed);

    let killed = client
        .kill(pb::KillRequest {
            name: "web".into(),
            expected_version: Some(2),
        })
        .await
        .expect("kill")
        .into_inner();
    assert_eq!(killed.version, 3);
    let state = client
        .state(pb::StateRequest { name: "web".into() })
        .await
        .expect("state")
        .into_inner();
    assert_eq!(state.goal, pb::AppGoal::Kill as i32);
    srv.stop().await;
}

#[tokio::test]
async fn api_grpc_error_classes() {
    let srv = start(config(None)).await;
    let mut client = srv.grpc().await;

    // INVALID_ARGUMENT: field path in the message, every rule in BadRequest.
    let mut bad = proto_app("web", "x");
    if let Some(r) = bad.resources.as_mut() {
        r.cpu = 0.0;
        r.mem = -1.0;
    }
    let status = client
        .deploy(pb::DeployRequest { apps: vec![bad] })
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("resources.cpu must be > 0"),
        "{status:?}"
    );
    let details = status
        .get_details_bad_request()
        .expect("bad request detail");
    let fields: Vec<&str> = details
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["resources.cpu", "resources.mem"]);

    let status = client
        .deploy(pb::DeployRequest { apps: vec![] })
        .await
        .expect_err("empty");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client
        .update(pb::UpdateRequest {
            app: None,
            expected_version: None,
        })
        .await
        .expect_err("no app");
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut unknown_enum = proto_app("web", "x");
    unknown_enum.strategy = Some(pb::Strategy {
        r#type: 99,
        effort: None,
    });
    let status = client
        .deploy(pb::DeployRequest {
            apps: vec![unknown_enum],
        })
        .await
        .expect_err("enum");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("strategy.type"), "{status:?}");
    let status = client
        .state(pb::StateRequest {
            name: String::new(),
        })
        .await
        .expect_err("no name");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(srv.store.list_apps().await.expect("store").is_empty());

    // NOT_FOUND.
    for status in [
        client
            .state(pb::StateRequest {
                name: "ghost".into(),
            })
            .await
            .expect_err("state"),
        client
            .kill(pb::KillRequest {
                name: "ghost".into(),
                expected_version: None,
            })
            .await
            .expect_err("kill"),
        client
            .update(pb::UpdateRequest {
                app: Some(proto_app("ghost", "x")),
                expected_version: None,
            })
            .await
            .expect_err("update"),
    ] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }

    // ALREADY_EXISTS.
    client
        .deploy(pb::DeployRequest {
            apps: vec![proto_app("web", "x")],
        })
        .await
        .expect("deploy");
    let status = client
        .deploy(pb::DeployRequest {
            apps: vec![proto_app("web", "y")],
        })
        .await
        .expect_err("conflict");
    assert_eq!(status.code(), Code::AlreadyExists);

    // FAILED_PRECONDITION: stale version, and deploying while killed.
    let status = client
        .update(pb::UpdateRequest {
            app: Some(proto_app("web", "y")),
            expected_version: Some(5),
        })
        .await
        .expect_err("stale");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = client
        .kill(pb::KillRequest {
            name: "web".into(),
            expected_version: Some(5),
        })
        .await
        .expect_err("stale");
    assert_eq!(status.code(), Code::FailedPrecondition);
    client
        .kill(pb::KillRequest {
            name: "web".into(),
            expected_version: None,
        })
        .await
        .expect("kill");
    let status = client
        .deploy(pb::DeployRequest {
            apps: vec![proto_app("web", "x")],
        })
        .await
        .expect_err("killing");
    assert_eq!(status.code(), Code::FailedPrecondition);
    srv.stop().await;
}

#[tokio::test]
async fn api_grpc_bearer_token_health_and_reflection() {
    let srv = start(config(Some("s3cret"))).await;
    let mut client = srv.grpc().await;
    let status = client
        .list_all(pb::ListAllRequest {})
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .list_all(with_token(pb::ListAllRequest {}, "wrong"))
        .await
        .expect_err("wrong token");
    assert_eq!(status.code(), Code::Unauthenticated);
    client
        .list_all(with_token(pb::ListAllRequest {}, "s3cret"))
        .await
        .expect("right token");

    // Standard health, without a token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(srv.channel().await);
    for service in ["", "hydrogen.v1.AppService"] {
        let resp = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner();
        assert_eq!(
            resp.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }

    // Reflection lists our service (with the token).
    use tonic_reflection::pb::v1 as refl;
    let mut reflection =
        refl::server_reflection_client::ServerReflectionClient::new(srv.channel().await);
    let request = refl::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            refl::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut stream = reflection
        .server_reflection_info(with_token(tokio_stream::iter(vec![request]), "s3cret"))
        .await
        .expect("reflection")
        .into_inner();
    let answer = stream.message().await.expect("answer").expect("one");
    let Some(refl::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("unexpected reflection answer: {answer:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "hydrogen.v1.AppService"),
        "{list:?}"
    );
    srv.stop().await;
}

/// Deploy through one face, read through both: the same answer.
#[tokio::test]
async fn api_grpc_and_rest_agree_on_state() {
    let srv = start(config(None)).await;
    let mut client = srv.grpc().await;
    let resp = srv
        .http
        .post(srv.url("/v1/api/app"))
        .body(json!([app_json("web", "sleep 5")]).to_string())
        .send()
        .await
        .expect("post");
    assert!(resp.status().is_success());
    let writer = Writer::new(&srv.store).await;
    writer.task("web", 0, TaskState::TaskRunning).await;
    writer.task("web", 1, TaskState::TaskStarting).await;

    let rest: Value = srv
        .http
        .get(srv.url("/v1/api/app?name=web"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let grpc = client
        .state(pb::StateRequest { name: "web".into() })
        .await
        .expect("state")
        .into_inner();

    // The spec: the gRPC one, read back as an App, serialises to the REST keys.
    let spec = app_from_proto(grpc.spec.as_ref()).expect("valid spec");
    let spec_json = serde_json::to_value(&spec).expect("json");
    for (key, value) in spec_json.as_object().expect("object") {
        assert_eq!(&rest[key], value, "spec key {key}");
    }
    assert_eq!(rest["version"], grpc.version);
    assert_eq!(rest["state"], grpc.state);
    assert_eq!(rest["running"], grpc.running);
    assert_eq!(rest["created_ms"], grpc.created_ms);
    let rest_tasks = rest["tasks"].as_array().expect("tasks");
    assert_eq!(rest_tasks.len(), grpc.tasks.len());
    for (r, g) in rest_tasks.iter().zip(&grpc.tasks) {
        assert_eq!(r["id"], g.id);
        assert_eq!(r["instance"], g.instance);
        assert_eq!(r["agent_id"], g.agent_id);
        assert_eq!(r["hostname"], g.hostname);
        assert_eq!(r["healthy"], json!(g.healthy));
        assert_eq!(r["ips"], json!(g.ips));
        let state = pb::TaskState::try_from(g.state).expect("known state");
        assert_eq!(
            r["state"].as_str().map(|s| s.trim_start_matches("TASK_")),
            Some(state.as_str_name().trim_start_matches("TASK_STATE_"))
        );
    }

    // ListAll agrees too.
    let all: Value = srv
        .http
        .get(srv.url("/v1/api/app/all"))
        .send()
        .await
        .expect("all")
        .json()
        .await
        .expect("json");
    let grpc_all = client
        .list_all(pb::ListAllRequest {})
        .await
        .expect("list")
        .into_inner();
    let rest_ids: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    let grpc_ids: Vec<&str> = grpc_all.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(rest_ids, grpc_ids);
    srv.stop().await;
}
