//! The web console over HTTP against a real server on loopback: the page
//! and its assets are served at `/ui/` without the token and with the right
//! content types and policy, while every data route the page uses
//! (`/v1/api/apps`, `/v1/api/cluster`, the watch) still needs the token.
//! The browser scenario itself is `tests/console/test_console.py`
//! (`make test-console`).

use hydrogen::api::ApiConfig;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{Store, TaskState};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::api_fixture::{Writer, app_json, bearer, config, start, start_with_store};

const TOKEN: &str = "console-token";

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn console_assets_are_served_without_the_token() {
    let srv = start(config(Some(TOKEN))).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let cases = [
        (
            "/ui/",
            "text/html; charset=utf-8",
            "<title>Hydrogen console</title>",
        ),
        ("/ui/app.css", "text/css; charset=utf-8", ".badge"),
        (
            "/ui/app.js",
            "text/javascript; charset=utf-8",
            "/v1/api/app/watch",
        ),
    ];
    for (path, content_type, needle) in cases {
        let resp = http.get(srv.url(path)).send().await.expect("get");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&resp, CONTENT_TYPE), content_type, "{path}");
        assert!(
            header(&resp, CONTENT_SECURITY_POLICY).contains("default-src 'self'"),
            "{path}: the page may load nothing from elsewhere"
        );
        let body = resp.text().await.expect("body");
        assert!(body.contains(needle), "{path} lacks {needle:?}");
    }

    let resp = http.get(srv.url("/ui")).send().await.expect("get");
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(&resp, LOCATION), "/ui/");

    // Only the assets are public: any other path under /ui/ is not.
    let resp = http.get(srv.url("/ui/secret")).send().await.expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    srv.stop().await;
}

#[tokio::test]
async fn console_data_routes_still_need_the_token() {
    let srv = start(config(Some(TOKEN))).await;
    for path in [
        "/v1/api/apps",
        "/v1/api/cluster",
        "/v1/api/app/all",
        "/v1/api/app/watch",
    ] {
        let resp = srv.http.get(srv.url(path)).send().await.expect("get");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
        let wrong = srv
            .http
            .get(srv.url(path))
            .header("authorization", bearer("not-it"))
            .send()
            .await
            .expect("get");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        let resp = srv
            .http
            .get(srv.url(path))
            .header("authorization", bearer(TOKEN))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    srv.stop().await;
}

/// `/v1/api/apps` is every app's State answer, by name, apps without tasks
/// included (the console's list cannot be built from the task list).
#[tokio::test]
async fn console_apps_lists_every_app_state() {
    let store = Arc::new(MemoryStore::default());
    let srv = start_with_store(Arc::clone(&store), config(None)).await;
    let body = json!([app_json("web", "sleep 10"), app_json("db", "sleep 20")]);
    let resp = srv
        .http
        .post(srv.url("/v1/api/app"))
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::OK);
    let writer = Writer::new(&store).await;
    writer.task("web", 0, TaskState::TaskRunning).await;

    let apps: Value = srv
        .http
        .get(srv.url("/v1/api/apps"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let apps = apps.as_array().expect("an array");
    let names: Vec<&str> = apps.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, ["db", "web"]);
    for app in apps {
        let name = app["name"].as_str().expect("name");
        let one: Value = srv
            .http
            .get(srv.url(&format!("/v1/api/app?name={name}")))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(app, &one, "{name}: the list holds the State answer");
    }
    assert_eq!(apps[0]["tasks"], json!([]));
    assert_eq!(apps[1]["running"], 1);
    assert_eq!(apps[1]["config_version"], 1);

    // A pure scale moves the version, not the config version: running
    // tasks stay current (the console's rolling-update progress uses it).
    let mut web = app_json("web", "sleep 10");
    web["instances"] = json!(3);
    let resp = srv
        .http
        .put(srv.url("/v1/api/app"))
        .body(web.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status(), StatusCode::OK);
    let state: Value = srv
        .http
        .get(srv.url("/v1/api/app?name=web"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(state["version"], 2);
    assert_eq!(state["config_version"], 1);
    srv.stop().await;
}

#[tokio::test]
async fn console_cluster_reports_leader_epoch_masters_and_framework() {
    let store = Arc::new(MemoryStore::default());
    let srv = start_with_store(
        Arc::clone(&store),
        ApiConfig {
            masters: vec!["http://m1:5050/".into(), "http://m2:5050/".into()],
            ..config(None)
        },
    )
    .await;
    let get = || async {
        let resp = srv
            .http
            .get(srv.url("/v1/api/cluster"))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json::<Value>().await.expect("json")
    };

    let before = get().await;
    assert_eq!(before["instance_id"], "test-instance");
    assert_eq!(before["leader"], false);
    assert_eq!(before["leader_id"], Value::Null);
    assert_eq!(before["epoch"], Value::Null);
    assert_eq!(before["framework_id"], Value::Null);
    assert_eq!(
        before["masters"],
        json!(["http://m1:5050/", "http://m2:5050/"])
    );

    // Another instance leads and has registered with Mesos.
    let writer = Writer::new(&store).await;
    store
        .set_framework_id(writer.epoch, "fw-0001")
        .await
        .expect("framework id");
    let after = get().await;
    assert_eq!(after["leader"], false);
    assert_eq!(after["leader_id"], "test-scheduler");
    assert_eq!(after["leader_address"], "127.0.0.1:1");
    assert_eq!(after["epoch"], writer.epoch.0);
    assert_eq!(after["framework_id"], "fw-0001");
    // Subscribed is read from the store: not until the leader says so.
    assert_eq!(after["subscribed"], false);
    store
        .set_mesos_link(writer.epoch, true)
        .await
        .expect("link");
    let subscribed = get().await;
    assert_eq!(subscribed["leader"], false);
    assert_eq!(subscribed["subscribed"], true);
    let ready: Value = srv
        .http
        .get(srv.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["mesos"]["subscribed"], true, "{ready}");
    // A new leader that has not subscribed yet is not: the link the former
    // one left speaks for its own epoch only.
    let lease = store.leader().await.expect("read").expect("held");
    store.release_lease(&lease).await.expect("release");
    let next = Writer::new(&store).await;
    let moved = get().await;
    assert_eq!(moved["epoch"], next.epoch.0);
    assert_eq!(moved["subscribed"], false);
    srv.stop().await;
}
