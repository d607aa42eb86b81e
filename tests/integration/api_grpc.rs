//! The gRPC face against a real server on loopback through the generated
//! tonic client: every RPC, every error class with its structured detail,
//! auth, standard health and reflection, and agreement with the REST face.

use hydrogen::api::convert::{app_from_proto, app_to_proto};
use hydrogen::api::proto as pb;
use hydrogen::store::{Store, TaskState};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

use crate::api_fixture::{TestServer, Writer, app_json, config, start, with_token};

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
        .list_all(pb::ListAllRequest::default())
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
        .list_all(pb::ListAllRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .list_all(with_token(pb::ListAllRequest::default(), "wrong"))
        .await
        .expect_err("wrong token");
    assert_eq!(status.code(), Code::Unauthenticated);
    client
        .list_all(with_token(pb::ListAllRequest::default(), "s3cret"))
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
        assert_eq!(r["ports"], json!(g.ports));
        assert!(!g.ports.is_empty(), "the test's tasks hold ports");
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
        .list_all(pb::ListAllRequest::default())
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

/// Sends `json` over REST (POST) and `proto` over gRPC (Deploy): both must be
/// refused with the same field paths and messages, and nothing stored.
async fn refused_alike(
    srv: &TestServer,
    client: &mut pb::app_service_client::AppServiceClient<tonic::transport::Channel>,
    json: Value,
    proto: pb::App,
    field: &str,
) {
    let resp = srv
        .http
        .post(srv.url("/v1/api/app"))
        .body(json!([json]).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST, "{field}");
    let rest: Value = resp.json().await.expect("json");
    assert_eq!(rest["field"], field, "{rest}");
    let status = client
        .deploy(pb::DeployRequest { apps: vec![proto] })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations: Vec<(String, String)> = status
        .get_details_bad_request()
        .expect("bad request detail")
        .field_violations
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect();
    let rest_errors: Vec<(String, String)> = rest["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(violations, rest_errors, "both faces refuse alike");
    assert_eq!(status.message(), rest["message"], "same message");
    assert!(
        srv.store.list_apps().await.expect("store").is_empty(),
        "nothing stored for {field}"
    );
}

#[tokio::test]
async fn api_grpc_and_rest_refuse_what_agents_would_fail_on_alike() {
    let srv = start(config(None)).await;
    let mut client = srv.grpc().await;
    let with_json = |patch: Value| {
        let mut v = app_json("web", "sleep 5");
        for (k, x) in patch.as_object().expect("object") {
            v[k] = x.clone();
        }
        v
    };
    let with_proto = |edit: &dyn Fn(&mut pb::App)| {
        let mut app = proto_app("web", "sleep 5");
        edit(&mut app);
        app
    };
    let ip = |ip: &str| pb::IpAddress {
        ip: Some(ip.into()),
        ..Default::default()
    };
    let named = |name: &str| pb::Network {
        name: Some(name.into()),
        ..Default::default()
    };
    let docker = |driver: &str, name: &str, path: &str| pb::Volume {
        container_path: Some(path.into()),
        source: Some(pb::VolumeSource {
            r#type: pb::VolumeSourceType::Docker as i32,
            docker_volume: Some(pb::DockerVolume {
                driver: driver.into(),
                name: name.into(),
                driveropts: vec![],
            }),
        }),
        ..Default::default()
    };
    let docker_json = |driver: &str, name: &str, path: &str| {
        json!({"container_path": path, "source": {"type": "DOCKER",
            "docker_volume": {"driver": driver, "name": name}}})
    };

    // A static IP on an unnamed network: the CNI isolator would skip it.
    refused_alike(
        &srv,
        &mut client,
        with_json(json!({"container": {"network": [{"ipaddress": [{"ip": "10.2.1.1"}]}]}})),
        with_proto(&|a| {
            a.container = Some(pb::Container {
                network: vec![pb::Network {
                    ipaddress: vec![ip("10.2.1.1")],
                    ..Default::default()
                }],
                ..Default::default()
            })
        }),
        "container.network[0].name",
    )
    .await;
    // The same network twice.
    refused_alike(
        &srv,
        &mut client,
        with_json(json!({"container": {"network": [{"name": "a"}, {"name": "a"}]}})),
        with_proto(&|a| {
            a.container = Some(pb::Container {
                network: vec![named("a"), named("a")],
                ..Default::default()
            })
        }),
        "container.network[1].name",
    )
    .await;
    // The same Docker volume twice.
    refused_alike(
        &srv,
        &mut client,
        with_json(json!({"container": {"volume": [
            docker_json("rexray", "v", "a"), docker_json("rexray", "v", "b")]}})),
        with_proto(&|a| {
            a.container = Some(pb::Container {
                volume: vec![docker("rexray", "v", "a"), docker("rexray", "v", "b")],
                ..Default::default()
            })
        }),
        "container.volume[1].source.docker_volume",
    )
    .await;
    // NUL in the command line.
    refused_alike(
        &srv,
        &mut client,
        with_json(json!({"command": {"cmd": "sleep\u{0}5"}})),
        with_proto(&|a| {
            if let Some(c) = a.command.as_mut() {
                c.cmd = Some("sleep\u{0}5".into());
            }
        }),
        "command.cmd",
    )
    .await;
    // Amounts Mesos rounds to zero, or no agent has.
    refused_alike(
        &srv,
        &mut client,
        with_json(json!({"resources": {"cpu": 0.0004, "mem": 64}})),
        with_proto(&|a| {
            if let Some(r) = a.resources.as_mut() {
                r.cpu = 0.0004;
            }
        }),
        "resources.cpu",
    )
    .await;
    refused_alike(
        &srv,
        &mut client,
        with_json(json!({"resources": {"cpu": 1, "mem": 1e13}})),
        with_proto(&|a| {
            if let Some(r) = a.resources.as_mut() {
                r.cpu = 1.0;
                r.mem = 1e13;
            }
        }),
        "resources.mem",
    )
    .await;
    // A health check port_index beyond the ports the task takes.
    refused_alike(
        &srv,
        &mut client,
        with_json(json!({"resources": {"cpu": 0.5, "mem": 64, "ports": 1},
            "healthcheck": {"type": "http", "http": {"port_index": 1}}})),
        with_proto(&|a| {
            if let Some(r) = a.resources.as_mut() {
                r.ports = Some(1);
            }
            a.healthcheck = Some(pb::HealthCheck {
                r#type: pb::HealthCheckType::Http as i32,
                http: Some(pb::HttpCheck {
                    port_index: Some(1),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }),
        "healthcheck.http.port_index",
    )
    .await;
    // gRPC only: a non-finite amount (JSON cannot carry one).
    let status = client
        .deploy(pb::DeployRequest {
            apps: vec![with_proto(&|a| {
                if let Some(r) = a.resources.as_mut() {
                    r.mem = f64::INFINITY;
                }
            })],
        })
        .await
        .expect_err("infinite");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("resources.mem"), "{status:?}");
    srv.stop().await;
}

#[tokio::test]
async fn api_grpc_and_rest_warn_alike_about_the_originals_ignored_fields() {
    let srv = start(config(None)).await;
    let mut client = srv.grpc().await;
    let expected_fields = ["container.type", "container.tag"];

    // REST POST and PUT: accepted, with a warnings list per app.
    let mut legacy = app_json("legacy", "sleep 5");
    legacy["container"] = json!({"type": "MESOS", "tag": "latest", "image": "debian"});
    let resp = srv
        .http
        .post(srv.url("/v1/api/app"))
        .body(json!([legacy, app_json("plain", "sleep 5")]).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let posted: Value = resp.json().await.expect("json");
    let rest_fields: Vec<&str> = posted[0]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w["field"].as_str())
        .collect();
    assert_eq!(rest_fields, expected_fields, "{posted}");
    assert!(posted[1].get("warnings").is_none(), "none for a plain app");
    legacy["instances"] = json!(3);
    let resp = srv
        .http
        .put(srv.url("/v1/api/app"))
        .body(legacy.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let put: Value = resp.json().await.expect("json");
    assert_eq!(put["warnings"], posted[0]["warnings"], "{put}");
    // Ignored: stored without them.
    let stored = srv
        .store
        .get_app("legacy")
        .await
        .expect("store")
        .expect("app");
    let stored_json = serde_json::to_value(&stored.spec).expect("json");
    assert_eq!(stored_json["container"], json!({"image": "debian"}));

    // gRPC Deploy and Update: the same warnings.
    let mut app = proto_app("legacy-grpc", "sleep 5");
    app.container = Some(pb::Container {
        image: Some("debian".into()),
        r#type: Some("MESOS".into()),
        tag: Some("latest".into()),
        ..Default::default()
    });
    let deployed = client
        .deploy(pb::DeployRequest {
            apps: vec![app.clone(), proto_app("plain-grpc", "sleep 5")],
        })
        .await
        .expect("deploy")
        .into_inner();
    let grpc: Vec<(String, String)> = deployed.results[0]
        .warnings
        .iter()
        .map(|w| (w.field.clone(), w.message.clone()))
        .collect();
    let rest: Vec<(String, String)> = posted[0]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| {
            (
                w["field"].as_str().unwrap_or_default().to_owned(),
                w["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(grpc, rest, "both faces warn alike");
    assert!(deployed.results[1].warnings.is_empty());
    app.instances = Some(3);
    let updated = client
        .update(pb::UpdateRequest {
            app: Some(app),
            expected_version: None,
        })
        .await
        .expect("update")
        .into_inner();
    assert!(updated.changed);
    assert_eq!(updated.warnings, deployed.results[0].warnings);
    srv.stop().await;
}

/// Doubles JSON cannot carry (NaN, ±inf) are refused naming the field with
/// spec's "must be a finite number", in Deploy (batch positions included)
/// and Update alike, and nothing is stored.
#[tokio::test]
async fn api_grpc_refuses_non_finite_doubles_as_not_finite() {
    let srv = start(config(None)).await;
    let mut client = srv.grpc().await;
    type Poke = fn(&mut pb::App);
    let cases: [(&str, Poke); 6] = [
        ("resources.cpu", |a| {
            if let Some(r) = a.resources.as_mut() {
                r.cpu = f64::NAN;
            }
        }),
        ("resources.mem", |a| {
            if let Some(r) = a.resources.as_mut() {
                r.mem = f64::INFINITY;
            }
        }),
        ("resources.disk.size", |a| {
            if let Some(r) = a.resources.as_mut() {
                r.disk = Some(pb::Disk {
                    size: f64::NEG_INFINITY,
                    ..Default::default()
                });
            }
        }),
        ("retry.time", |a| {
            a.retry = Some(pb::Retry {
                time: Some(f64::NAN),
                ..Default::default()
            });
        }),
        ("upgrade.minimum_ready_share", |a| {
            a.upgrade = Some(pb::Upgrade {
                minimum_ready_share: Some(f64::NAN),
                ..Default::default()
            });
        }),
        ("healthcheck.interval", |a| {
            a.healthcheck = Some(pb::HealthCheck {
                interval: Some(f64::INFINITY),
                ..Default::default()
            });
        }),
    ];
    for (field, poke) in cases {
        let mut bad = proto_app("web", "x");
        poke(&mut bad);
        let status = client
            .deploy(pb::DeployRequest {
                apps: vec![bad.clone()],
            })
            .await
            .expect_err("non-finite deploy");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(
            status.message(),
            format!("{field} must be a finite number"),
            "{status:?}"
        );
        let violations = status
            .get_details_bad_request()
            .expect("bad request detail")
            .field_violations;
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].field, field);
        assert_eq!(violations[0].description, "must be a finite number");

        let status = client
            .deploy(pb::DeployRequest {
                apps: vec![proto_app("ok", "x"), bad.clone()],
            })
            .await
            .expect_err("non-finite in a batch");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .contains(&format!("{field} must be a finite number")),
            "{status:?}"
        );
        assert!(status.message().contains("[1]"), "{status:?}");

        let status = client
            .update(pb::UpdateRequest {
                app: Some(bad),
                expected_version: None,
            })
            .await
            .expect_err("non-finite update");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            format!("{field} must be a finite number"),
            "{status:?}"
        );
    }
    assert!(srv.store.list_apps().await.expect("store").is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn api_grpc_refuses_a_role_the_framework_does_not_hold_and_keeps_reserved_only() {
    let mut cfg = config(None);
    cfg.roles = vec!["team-a".into(), "team-b".into()];
    let srv = start(cfg).await;
    let mut client = srv.grpc().await;
    let mut other = proto_app("web", "x");
    if let Some(r) = other.resources.as_mut() {
        r.role = Some("team-c".into());
    }
    let status = client
        .deploy(pb::DeployRequest { apps: vec![other] })
        .await
        .expect_err("role outside --roles");
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = status
        .get_details_bad_request()
        .expect("bad request detail");
    let fields: Vec<&str> = details
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["resources.role"]);

    let mut b = proto_app("web", "x");
    if let Some(r) = b.resources.as_mut() {
        r.role = Some("team-b".into());
        r.reserved_only = Some(true);
    }
    client
        .deploy(pb::DeployRequest { apps: vec![b] })
        .await
        .expect("team-b is one of the roles");
    let state = client
        .state(pb::StateRequest { name: "web".into() })
        .await
        .expect("state")
        .into_inner();
    let resources = state
        .spec
        .and_then(|a| a.resources)
        .expect("resources in State");
    assert_eq!(resources.role.as_deref(), Some("team-b"));
    assert_eq!(resources.reserved_only, Some(true));
    srv.stop().await;
}

/// Paged ListAll: pages of the asked size in ListAll's order, together the
/// same tasks as the one-answer form, a task written while paging shows up
/// once, oversized pages are capped, and a forged token names its field.
#[tokio::test]
async fn api_grpc_list_all_pages_through_every_task() {
    let srv = start(config(None)).await;
    let mut client = srv.grpc().await;
    let writer = Writer::new(&srv.store).await;
    for app in ["a", "b", "c"] {
        for instance in 0..7 {
            writer.task(app, instance, TaskState::TaskRunning).await;
        }
    }
    let whole = client
        .list_all(pb::ListAllRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(whole.tasks.len(), 21);
    assert!(whole.next_page_token.is_empty());

    let mut paged = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_all(pb::ListAllRequest {
                page_size: 5,
                page_token: token,
            })
            .await
            .expect("page")
            .into_inner();
        pages += 1;
        assert!(page.tasks.len() <= 5, "page {pages}: {}", page.tasks.len());
        if pages == 2 {
            // Written behind the cursor ("a" is done) and ahead of it.
            writer.task("a", 7, TaskState::TaskRunning).await;
            writer.task("c", 7, TaskState::TaskRunning).await;
        }
        paged.extend(page.tasks);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 5, "22 tasks in pages of 5");
    let ids: Vec<&str> = paged.iter().map(|t| t.id.as_str()).collect();
    let mut expected: Vec<&str> = whole.tasks.iter().map(|t| t.id.as_str()).collect();
    expected.push("c.7.0000");
    assert_eq!(ids, expected);

    let first = client
        .list_all(pb::ListAllRequest {
            page_size: u32::MAX,
            page_token: String::new(),
        })
        .await
        .expect("capped")
        .into_inner();
    assert_eq!(
        first.tasks.len(),
        23,
        "a page above the cap lists what fits"
    );

    let err = client
        .list_all(pb::ListAllRequest {
            page_size: 5,
            page_token: "not-a-token!".into(),
        })
        .await
        .expect_err("forged token");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("page_token"), "{}", err.message());
}
