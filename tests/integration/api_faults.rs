//! The API when the store fails or is slow: 503 / UNAVAILABLE, request
//! timeouts, oversized gRPC messages, and graceful shutdown letting an
//! in-flight request finish.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hydrogen::api::proto as pb;
use hydrogen::api::proto::app_service_client::AppServiceClient;
use hydrogen::store::Store;
use serde_json::{Value, json};
use tonic::Code;

use crate::api_fixture::{DEADLINE, FlakyStore, Mode, app_json, config, eventually, start_generic};

#[tokio::test]
async fn api_faults_store_unavailable_is_503_and_unavailable() {
    let store = Arc::new(FlakyStore::new());
    let srv = start_generic(Arc::clone(&store), config(None)).await;
    let http = reqwest::Client::new();
    store.set(Mode::Down);

    let resp = http
        .get(format!("{}/v1/api/app?name=web", srv.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["code"], "unavailable");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("unavailable"))
    );

    let resp = http
        .post(format!("{}/v1/api/app", srv.base))
        .body(json!([app_json("web", "x")]).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503);
    // A store failover settles in seconds: the answer says when to retry.
    assert_eq!(
        resp.headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );

    let resp = http
        .get(format!("{}/readyz", srv.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["ready"], false);
    // Liveness does not depend on the store.
    let resp = http
        .get(format!("{}/healthz", srv.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);

    let mut client = AppServiceClient::connect(srv.base.clone())
        .await
        .expect("connect");
    let status = client
        .list_all(pb::ListAllRequest::default())
        .await
        .expect_err("down");
    assert_eq!(status.code(), Code::Unavailable);
    let status = client
        .watch_tasks(pb::WatchTasksRequest {
            app: None,
            after_revision: Some(0),
            ..Default::default()
        })
        .await
        .expect_err("down");
    assert_eq!(status.code(), Code::Unavailable);

    store.set(Mode::Up);
    client
        .list_all(pb::ListAllRequest::default())
        .await
        .expect("back up");
    srv.shutdown.cancel();
    let _ = tokio::time::timeout(DEADLINE, srv.handle).await;
}

#[tokio::test]
async fn api_faults_slow_store_times_out() {
    let store = Arc::new(FlakyStore::new());
    let mut cfg = config(None);
    cfg.request_timeout = Duration::from_millis(100);
    let srv = start_generic(Arc::clone(&store), cfg).await;
    store.set(Mode::Slow(Duration::from_secs(30)));

    let resp = reqwest::Client::new()
        .get(format!("{}/v1/api/app/all", srv.base))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 504);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["code"], "deadline_exceeded");

    let mut client = AppServiceClient::connect(srv.base.clone())
        .await
        .expect("connect");
    let status = client
        .list_all(pb::ListAllRequest::default())
        .await
        .expect_err("slow");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    srv.shutdown.cancel();
    let _ = tokio::time::timeout(DEADLINE, srv.handle).await;
}

#[tokio::test]
async fn api_faults_graceful_shutdown_finishes_in_flight_requests() {
    let store = Arc::new(FlakyStore::new());
    let srv = start_generic(Arc::clone(&store), config(None)).await;
    store.set(Mode::Slow(Duration::from_millis(300)));
    let url = format!("{}/v1/api/app/all", srv.base);
    let in_flight = tokio::spawn(async move { reqwest::Client::new().get(url).send().await });
    // Wait until the request is inside the server (the store is called).
    let before = store.calls.load(Ordering::SeqCst);
    eventually("the request reaches the store", || {
        let store = Arc::clone(&store);
        async move { (store.calls.load(Ordering::SeqCst) > before).then_some(()) }
    })
    .await;
    srv.shutdown.cancel();
    let resp = tokio::time::timeout(DEADLINE, in_flight)
        .await
        .expect("answered")
        .expect("task")
        .expect("response despite shutdown");
    assert_eq!(resp.status(), 200);
    tokio::time::timeout(DEADLINE, srv.handle)
        .await
        .expect("server stops")
        .expect("task")
        .expect("serve");
}

#[tokio::test]
async fn api_faults_oversized_grpc_message_is_rejected() {
    let store = Arc::new(FlakyStore::new());
    let mut cfg = config(None);
    cfg.body_limit = 2048;
    let srv = start_generic(Arc::clone(&store), cfg).await;
    let mut client = AppServiceClient::connect(srv.base.clone())
        .await
        .expect("connect");
    let mut app = hydrogen::api::convert::app_to_proto(
        &hydrogen::spec::parse_apps(json!([app_json("web", "x")]).to_string().as_bytes())
            .expect("valid")[0],
    );
    app.labels.insert("big".into(), "x".repeat(4096));
    let status = client
        .deploy(pb::DeployRequest { apps: vec![app] })
        .await
        .expect_err("too big");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(store.inner.get_app("web").await.ok().flatten().is_none());
    srv.shutdown.cancel();
    let _ = tokio::time::timeout(DEADLINE, srv.handle).await;
}
