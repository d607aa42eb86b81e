//! The REST face against a real server on loopback: every route, the
//! original's response shapes, every error class, auth, readiness, metrics,
//! the OpenAPI document and the README's curl lines.

use std::collections::BTreeSet;

use hydrogen::store::{Store, TaskState};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_fixture::{Writer, app_json, bearer, config, start};

async fn json_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not json ({e}): {text:?}"));
    (status, value)
}

#[tokio::test]
async fn api_rest_deploy_state_list_update_kill() {
    let srv = start(config(None)).await;
    let http = &srv.http;

    // POST: an array; one {"message": "Task <app> successfully queued"} each.
    let body = json!([app_json("web", "sleep 10"), app_json("db", "sleep 20")]);
    let (status, v) = json_of(
        http.post(srv.url("/v1/api/app"))
            .body(body.to_string())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v[0]["message"], "Task web successfully queued");
    assert_eq!(v[1]["message"], "Task db successfully queued");
    assert_eq!(v[0]["version"], 1);
    assert_eq!(v[0]["created"], true);

    // The same again is a no-op, still 200.
    let (status, v) = json_of(
        http.post(srv.url("/v1/api/app"))
            .body(json!([app_json("web", "sleep 10")]).to_string())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v[0]["created"], false);
    assert_eq!(v[0]["version"], 1);

    // Tasks appear through the store (as the scheduler would write them).
    let writer = Writer::new(&srv.store).await;
    writer.task("web", 0, TaskState::TaskRunning).await;
    writer.task("web", 1, TaskState::TaskStaging).await;

    // GET ?name=: the original's keys, plus ours.
    let (status, v) = json_of(
        http.get(srv.url("/v1/api/app?name=web"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    for key in ["name", "state", "instances", "resources", "command"] {
        assert!(v.get(key).is_some(), "state lacks {key}: {v}");
    }
    assert_eq!(v["name"], "web");
    assert_eq!(v["state"], "TASK_STAGING");
    assert_eq!(v["version"], 1);
    assert_eq!(v["goal"], "RUN");
    assert_eq!(v["running"], 1);
    assert_eq!(v["tasks"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(v["tasks"][0]["hostname"], "host-0");

    writer.task("web", 1, TaskState::TaskRunning).await;
    let (_, v) = json_of(
        http.get(srv.url("/v1/api/app?name=web"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(v["state"], "TASK_RUNNING");

    // GET /all: {"Name", "State"} per task.
    let (status, v) = json_of(
        http.get(srv.url("/v1/api/app/all"))
            .send()
            .await
            .expect("all"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let entries = v.as_array().expect("array");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["Name"], "web");
    assert_eq!(entries[0]["State"], "TASK_RUNNING");
    assert_eq!(entries[0]["id"], "web.0.0000");

    // PUT: one object; version goes up; same spec again is unchanged.
    let mut changed = app_json("web", "sleep 99");
    changed["instances"] = json!(3);
    let (status, v) = json_of(
        http.put(srv.url("/v1/api/app"))
            .body(changed.to_string())
            .send()
            .await
            .expect("put"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 2);
    assert_eq!(v["changed"], true);
    assert!(v["message"].as_str().is_some());
    // An array of one is accepted too, with the expected version.
    let (status, v) = json_of(
        http.put(srv.url("/v1/api/app?expected_version=2"))
            .body(json!([changed]).to_string())
            .send()
            .await
            .expect("put"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["changed"], false);
    assert_eq!(v["version"], 2);

    // DELETE with the original's body.
    let (status, v) = json_of(
        http.delete(srv.url("/v1/api/app"))
            .body(r#"{"name": "web"}"#)
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["message"], "Task web successfully killed");
    assert_eq!(v["version"], 3);
    let (_, v) = json_of(
        http.get(srv.url("/v1/api/app?name=web"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(v["goal"], "KILL");
    assert_eq!(v["state"], "TASK_KILLING");
    // DELETE ?name= without a body works too.
    let resp = http
        .delete(srv.url("/v1/api/app?name=db"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), StatusCode::OK);

    srv.stop().await;
}

/// Asserts an error answer: status, `code`, `field`, and a `message`.
async fn expect_error(
    resp: reqwest::Response,
    status: StatusCode,
    code: &str,
    field: Option<&str>,
) -> Value {
    let (got, v) = json_of(resp).await;
    assert_eq!(got, status, "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["field"].as_str(), field, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v
}

#[tokio::test]
async fn api_rest_rejects_bad_input_and_changes_nothing() {
    let mut cfg = config(None);
    cfg.body_limit = 4096;
    let srv = start(cfg).await;
    let http = &srv.http;
    let post = |body: String| http.post(srv.url("/v1/api/app")).body(body).send();

    let v = expect_error(
        post("[{".into()).await.expect("send"),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        None,
    )
    .await;
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("malformed json")),
        "{v}"
    );

    let mut wrong_type = app_json("web", "x");
    wrong_type["resources"]["cpu"] = json!("lots");
    let v = expect_error(
        post(json!([wrong_type]).to_string()).await.expect("send"),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        Some("resources.cpu"),
    )
    .await;
    assert_eq!(v["errors"][0]["field"], "resources.cpu");

    let mut unknown = app_json("web", "x");
    unknown["resources"]["cpus"] = json!(1);
    let v = expect_error(
        post(json!([unknown]).to_string()).await.expect("send"),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        Some("resources.cpus"),
    )
    .await;
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("not a known field")),
        "{v}"
    );

    // Several apps: the path carries the index.
    let mut bad_second = app_json("b", "x");
    bad_second["resources"]["mem"] = json!(0);
    expect_error(
        post(json!([app_json("a", "x"), bad_second]).to_string())
            .await
            .expect("send"),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        Some("[1].resources.mem"),
    )
    .await;

    expect_error(
        post("[]".into()).await.expect("send"),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        None,
    )
    .await;

    let big = format!("[{}]", " ".repeat(8192));
    expect_error(
        post(big).await.expect("send"),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    )
    .await;

    let resp = http
        .patch(srv.url("/v1/api/app"))
        .body("{}")
        .send()
        .await
        .expect("send");
    let allow = resp
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    for method in ["GET", "POST", "PUT", "DELETE"] {
        assert!(allow.contains(method), "Allow: {allow:?}");
    }
    expect_error(
        resp,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    )
    .await;
    expect_error(
        http.post(srv.url("/v1/api/app/all"))
            .send()
            .await
            .expect("send"),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
    )
    .await;
    expect_error(
        http.get(srv.url("/v1/api/nope"))
            .send()
            .await
            .expect("send"),
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;

    // Nothing was written by any of the above.
    assert!(srv.store.list_apps().await.expect("store").is_empty());

    // Unknown app.
    expect_error(
        http.get(srv.url("/v1/api/app?name=ghost"))
            .send()
            .await
            .expect("send"),
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    expect_error(
        http.delete(srv.url("/v1/api/app"))
            .body(r#"{"name": "ghost"}"#)
            .send()
            .await
            .expect("send"),
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    expect_error(
        http.put(srv.url("/v1/api/app"))
            .body(app_json("ghost", "x").to_string())
            .send()
            .await
            .expect("send"),
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    // Missing name.
    expect_error(
        http.get(srv.url("/v1/api/app")).send().await.expect("send"),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        Some("name"),
    )
    .await;
    expect_error(
        http.delete(srv.url("/v1/api/app"))
            .body(r#"{"nam": "web"}"#)
            .send()
            .await
            .expect("send"),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        Some("nam"),
    )
    .await;

    // Conflict: a different spec under an existing name.
    post(json!([app_json("web", "x")]).to_string())
        .await
        .expect("send");
    expect_error(
        post(json!([app_json("web", "y")]).to_string())
            .await
            .expect("send"),
        StatusCode::CONFLICT,
        "already_exists",
        None,
    )
    .await;
    // A conflicting app in a batch writes none of the batch.
    expect_error(
        post(json!([app_json("fresh", "x"), app_json("web", "y")]).to_string())
            .await
            .expect("send"),
        StatusCode::CONFLICT,
        "already_exists",
        None,
    )
    .await;
    assert!(srv.store.get_app("fresh").await.expect("store").is_none());

    // Stale expected version.
    expect_error(
        http.put(srv.url("/v1/api/app?expected_version=7"))
            .body(app_json("web", "z").to_string())
            .send()
            .await
            .expect("send"),
        StatusCode::CONFLICT,
        "failed_precondition",
        None,
    )
    .await;
    expect_error(
        http.delete(srv.url("/v1/api/app"))
            .body(r#"{"name": "web", "expected_version": 9}"#)
            .send()
            .await
            .expect("send"),
        StatusCode::CONFLICT,
        "failed_precondition",
        None,
    )
    .await;
    let record = srv.store.get_app("web").await.expect("store").expect("app");
    assert_eq!(record.version, 1, "rejected writes changed the app");

    srv.stop().await;
}

#[tokio::test]
async fn api_rest_bearer_token() {
    let srv = start(config(Some("s3cret"))).await;
    let http = &srv.http;
    let body = json!([app_json("web", "x")]).to_string();

    let resp = http
        .post(srv.url("/v1/api/app"))
        .body(body.clone())
        .send()
        .await
        .expect("send");
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthenticated", None).await;
    let resp = http
        .post(srv.url("/v1/api/app"))
        .header("authorization", bearer("wrong"))
        .body(body.clone())
        .send()
        .await
        .expect("send");
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthenticated", None).await;
    let resp = http
        .post(srv.url("/v1/api/app"))
        .header("authorization", bearer("s3cret"))
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    // Health endpoints need no token.
    for path in ["/healthz", "/readyz"] {
        let resp = http.get(srv.url(path)).send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let resp = http
        .get(srv.url("/v1/api/app/all"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    srv.stop().await;
}

#[tokio::test]
async fn api_rest_health_readiness_metrics() {
    let srv = start(config(None)).await;
    let http = &srv.http;
    let (status, v) = json_of(http.get(srv.url("/healthz")).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "ok");

    let (status, v) = json_of(http.get(srv.url("/readyz")).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        v,
        json!({"ready": true, "leader": false, "leader_id": null, "leader_address": null, "epoch": null,
               "mesos": {"subscribed": false}})
    );
    let lease = srv
        .store
        .acquire_lease(
            "test-instance",
            "127.0.0.1:8080",
            std::time::Duration::from_secs(60),
        )
        .await
        .expect("store")
        .expect("lease");
    let (_, v) = json_of(http.get(srv.url("/readyz")).send().await.expect("send")).await;
    assert_eq!(
        v,
        json!({"ready": true, "leader": true, "leader_id": "test-instance",
               "leader_address": "127.0.0.1:8080", "epoch": lease.epoch,
               "mesos": {"subscribed": false}})
    );
    // Reported, never a reason to be unready: the leader's subscription,
    // as it recorded it in the store.
    srv.store
        .set_mesos_link(lease.epoch, true)
        .await
        .expect("link");
    let (status, v) = json_of(http.get(srv.url("/readyz")).send().await.expect("send")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["mesos"], json!({"subscribed": true}));

    let text = http
        .get(srv.url("/metrics"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(text.contains("hydrogen_api_requests_total"), "{text}");
    assert!(text.contains("route=\"/readyz\""), "{text}");
    srv.stop().await;
}

#[tokio::test]
async fn api_rest_openapi_lists_every_route() {
    let srv = start(config(None)).await;
    let (status, doc) = json_of(
        srv.http
            .get(srv.url("/openapi.json"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> =
        hydrogen::api::rest::route_table::<hydrogen::store::memory::MemoryStore>()
            .into_iter()
            .map(|(p, m, _)| (p.to_owned(), m.to_string()))
            .collect();
    assert_eq!(documented, routed);
    // And the router answers every one of them (no 404 / 405).
    for (path, _, _) in hydrogen::api::rest::route_table::<hydrogen::store::memory::MemoryStore>() {
        assert!(hydrogen::api::rest::is_rest_path(path), "{path}");
    }
    for (path, method) in &routed {
        if path.ends_with("/watch") {
            continue; // a stream; covered by api_watch
        }
        let resp = srv
            .http
            .request(method.parse().expect("method"), srv.url(path))
            .send()
            .await
            .expect("send");
        assert!(
            resp.status() != StatusCode::NOT_FOUND || path == "/v1/api/app",
            "{method} {path} is not routed"
        );
        assert_ne!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
    }
    srv.stop().await;
}

/// The README's curl lines, verbatim but for the host (no JSON content type,
/// `-d@file`).
#[tokio::test]
async fn api_rest_readme_curl_lines_work_verbatim() {
    let srv = start(config(None)).await;
    let host = format!("{}/v1/api", srv.addr);
    let dir = env!("CARGO_MANIFEST_DIR");
    let curl = |args: String| {
        let dir = dir.to_owned();
        async move {
            let out = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(format!("curl -sS -w '\\n%{{http_code}}' {args}"))
                .current_dir(dir)
                .output()
                .await
                .expect("curl runs");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let (body, code) = text.rsplit_once('\n').expect("status line");
            (code.to_owned(), body.to_owned())
        }
    };
    let (code, body) = curl(format!("-X POST {host}/app -d@examples/test-app.json")).await;
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("Task test-app successfully queued"), "{body}");
    let (code, body) = curl(format!("-X GET {host}/app?name=test-app")).await;
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"name\":\"test-app\""), "{body}");
    let (code, body) = curl(format!("-X GET {host}/app/all")).await;
    assert_eq!(code, "200", "{body}");
    let (code, body) = curl(format!("-X PUT {host}/app -d@examples/test-app.json")).await;
    assert_eq!(code, "200", "{body}");
    let (code, body) = curl(format!(
        "-X DELETE {host}/app -d'{{\"name\": \"test-app\"}}'"
    ))
    .await;
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("successfully killed"), "{body}");
    srv.stop().await;
}

#[tokio::test]
async fn api_rest_port_index_checks_and_ignored_fields_round_trip() {
    let srv = start(config(None)).await;
    let http = &srv.http;
    let mut app = app_json("web", "exec python3 -m http.server $PORT0");
    app["resources"]["ports"] = json!(1);
    app["healthcheck"] = json!({"type": "http", "http": {"port_index": 0, "path": "/"}});
    app["container"] = json!({"type": "MESOS"});
    let (status, v) = json_of(
        http.post(srv.url("/v1/api/app"))
            .body(json!([app]).to_string())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v[0]["warnings"][0]["field"], "container.type", "{v}");
    // Ignored means not stored: the same body again is the same spec.
    let (status, again) = json_of(
        http.post(srv.url("/v1/api/app"))
            .body(json!([app]).to_string())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again[0]["created"], false, "{again}");
    assert_eq!(again[0]["warnings"], v[0]["warnings"]);
    // State shows the check as written: port_index, no port; the container
    // without the ignored type (an empty section, as `"container": {}`).
    let (status, state) = json_of(
        http.get(srv.url("/v1/api/app?name=web"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(
        state["healthcheck"]["http"],
        json!({"port_index": 0, "path": "/"}),
        "{state}"
    );
    assert_eq!(state["container"], json!({}), "{state}");

    // An index beyond the task's ports is refused, naming the field.
    app["name"] = json!("web2");
    app["healthcheck"]["http"]["port_index"] = json!(1);
    let v = expect_error(
        http.post(srv.url("/v1/api/app"))
            .body(json!([app]).to_string())
            .send()
            .await
            .expect("post"),
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        Some("healthcheck.http.port_index"),
    )
    .await;
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("must be below resources.ports (1)")),
        "{v}"
    );
    assert!(srv.store.get_app("web2").await.expect("store").is_none());
    srv.stop().await;
}

#[tokio::test]
async fn api_rest_refuses_a_role_the_framework_does_not_hold() {
    let mut cfg = config(None);
    cfg.roles = vec!["team-a".into(), "team-b".into()];
    let srv = start(cfg).await;
    let http = &srv.http;

    // Role outside --roles: 400 naming resources.role, nothing written.
    let mut other = app_json("web", "x");
    other["resources"]["role"] = json!("team-c");
    let resp = http
        .post(srv.url("/v1/api/app"))
        .body(json!([app_json("ok", "x"), other]).to_string())
        .send()
        .await
        .expect("send");
    let v = expect_error(
        resp,
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        Some("[1].resources.role"),
    )
    .await;
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("team-a, team-b") && m.contains("team-c")),
        "{v}"
    );
    assert!(
        srv.store.list_apps().await.expect("list").is_empty(),
        "all or nothing"
    );

    // Roles in the list (the default, the second) are accepted.
    let mut b = app_json("web", "x");
    b["resources"]["role"] = json!("team-b");
    b["resources"]["reserved_only"] = json!(true);
    for app in [app_json("alpha", "x"), b.clone()] {
        let resp = http
            .post(srv.url("/v1/api/app"))
            .body(json!([app]).to_string())
            .send()
            .await
            .expect("send");
        let (status, v) = json_of(resp).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let state = http
        .get(srv.url("/v1/api/app?name=web"))
        .send()
        .await
        .expect("state");
    let (_, v) = json_of(state).await;
    assert_eq!(v["resources"]["reserved_only"], json!(true), "{v}");

    // An update to a role outside the list is refused the same way.
    b["resources"]["role"] = json!("*");
    let resp = http
        .put(srv.url("/v1/api/app"))
        .body(b.to_string())
        .send()
        .await
        .expect("put");
    expect_error(
        resp,
        StatusCode::BAD_REQUEST,
        "invalid_argument",
        Some("resources.role"),
    )
    .await;
    srv.stop().await;
}
