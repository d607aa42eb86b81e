//! State and ListAll are served from a per-instance snapshot of the store
//! (`api::service::Views`): these tests pin that every kind of write is
//! visible to the very next read — no polling — on the instance that took
//! it and on another instance sharing the store, through both faces, with
//! the memory store (one instance) and a real `redis-server` (two API
//! instances over one Redis, as leader and follower are).

use std::sync::Arc;
use std::time::Duration;

use hydrogen::api::proto as pb;
use hydrogen::api::proto::app_service_client::AppServiceClient;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::redis::{RedisOptions, RedisStore};
use hydrogen::store::{AppStatus, Store, TaskBatch, TaskRecord, TaskState};
use hydrogen_testkit::procs;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::api_fixture::{GenericServer, app_json, config, start_generic, task};

/// One API instance as the tests read it.
struct Instance {
    server: GenericServer,
    http: reqwest::Client,
    grpc: AppServiceClient<Channel>,
}

impl Instance {
    async fn start<S: Store>(store: Arc<S>) -> Self {
        let server = start_generic(store, config(None)).await;
        let channel = Channel::from_shared(server.base.clone())
            .expect("uri")
            .connect()
            .await
            .expect("connect grpc");
        Self {
            server,
            http: reqwest::Client::new(),
            grpc: AppServiceClient::new(channel),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    /// `(app, task id, state, message)` of every task, by both faces, which
    /// must agree.
    async fn list_all(&mut self) -> Vec<(String, String, String, String)> {
        let rest: Vec<Value> = self
            .http
            .get(self.url("/v1/api/app/all"))
            .send()
            .await
            .expect("rest list")
            .json()
            .await
            .expect("json list");
        let rest: Vec<_> = rest
            .iter()
            .map(|t| {
                let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                (s("Name"), s("id"), s("State"), s("message"))
            })
            .collect();
        let grpc: Vec<_> = self
            .grpc
            .list_all(pb::ListAllRequest::default())
            .await
            .expect("grpc list")
            .into_inner()
            .tasks
            .into_iter()
            .map(|t| (t.app, t.id, mesos_name(t.state), t.message))
            .collect();
        assert_eq!(rest, grpc, "REST and gRPC ListAll disagree");
        rest
    }

    /// State by both faces (which must agree on what they share), or the
    /// REST status and gRPC code of its absence.
    async fn state(&mut self, app: &str) -> Result<Value, (StatusCode, tonic::Code)> {
        let response = self
            .http
            .get(self.url(&format!("/v1/api/app?name={app}")))
            .send()
            .await
            .expect("rest state");
        let status = response.status();
        let rest: Value = response.json().await.expect("json state");
        let grpc = self.grpc.state(pb::StateRequest { name: app.into() }).await;
        match grpc {
            Ok(g) => {
                assert_eq!(status, StatusCode::OK, "REST failed where gRPC did not");
                let g = g.into_inner();
                let tasks: Vec<(String, String)> = g
                    .tasks
                    .into_iter()
                    .map(|t| (t.id, mesos_name(t.state)))
                    .collect();
                let rest_tasks: Vec<(String, String)> = rest["tasks"]
                    .as_array()
                    .expect("tasks")
                    .iter()
                    .map(|t| {
                        let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                        (s("id"), s("state"))
                    })
                    .collect();
                assert_eq!(tasks, rest_tasks, "REST and gRPC State disagree on tasks");
                assert_eq!(rest["version"], json!(g.version));
                assert_eq!(rest["state"], json!(g.state));
                assert_eq!(
                    rest["status"]["message"].as_str(),
                    g.status.as_ref().map(|s| s.message.as_str())
                );
                // Failures: the same on both faces.
                let rest_ended: Vec<(String, String)> = rest["status"]["recent_terminations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                        (s("task_id"), s("state"))
                    })
                    .collect();
                let grpc_ended: Vec<(String, String)> = g
                    .status
                    .iter()
                    .flat_map(|s| s.recent_terminations.iter())
                    .map(|t| (t.task_id.clone(), mesos_name(t.state)))
                    .collect();
                assert_eq!(rest_ended, grpc_ended, "REST and gRPC disagree on failures");
                let rest_slots = rest["status"]["last_terminations"]
                    .as_object()
                    .map_or(0, |m| m.len());
                let grpc_slots = g.status.as_ref().map_or(0, |s| s.last_terminations.len());
                assert_eq!(rest_slots, grpc_slots);
                Ok(rest)
            }
            Err(e) => Err((status, e.code())),
        }
    }
}

/// `TASK_STATE_RUNNING` (gRPC) → `TASK_RUNNING` (REST, Mesos).
fn mesos_name(state: i32) -> String {
    let name = pb::TaskState::try_from(state).map_or("?", |s| s.as_str_name());
    name.replacen("TASK_STATE_", "TASK_", 1)
}

fn states(list: &[(String, String, String, String)]) -> Vec<(&str, &str)> {
    list.iter()
        .map(|(_, id, state, _)| (id.as_str(), state.as_str()))
        .collect()
}

/// Deploys through `a`, writes tasks and statuses into `store` as a
/// scheduler would, updates and kills through `b`, and after each write
/// reads State and ListAll on both instances at once.
async fn every_write_is_visible_to_the_next_read<S: Store>(
    store: Arc<S>,
    a: &mut Instance,
    b: &mut Instance,
) {
    // Warm both instances' snapshots, empty.
    for i in [&mut *a, &mut *b] {
        assert!(i.list_all().await.is_empty());
        assert_eq!(
            i.state("web").await.err(),
            Some((StatusCode::NOT_FOUND, tonic::Code::NotFound))
        );
    }

    let deployed = a
        .http
        .post(a.url("/v1/api/app"))
        .body(json!([app_json("web", "sleep 10"), app_json("db", "sleep 10")]).to_string())
        .send()
        .await
        .expect("deploy");
    assert_eq!(deployed.status(), StatusCode::OK);
    for i in [&mut *a, &mut *b] {
        let web = i.state("web").await.expect("web deployed");
        assert_eq!(web["version"], 1);
        assert_eq!(web["tasks"], json!([]));
    }

    let lease = store
        .acquire_lease("scheduler", "127.0.0.1:1", Duration::from_secs(3600))
        .await
        .expect("store")
        .expect("lease free");
    let apply = |upserts: Vec<TaskRecord>, removals: Vec<String>| TaskBatch {
        upserts: upserts.into_iter().map(std::sync::Arc::new).collect(),
        removals,
        ..TaskBatch::default()
    };
    let running = vec![
        task("web", 0, TaskState::TaskRunning),
        task("web", 1, TaskState::TaskRunning),
        task("db", 0, TaskState::TaskStaging),
    ];
    store
        .apply(lease.epoch, apply(running, vec![]))
        .await
        .expect("tasks");
    for i in [&mut *a, &mut *b] {
        assert_eq!(
            states(&i.list_all().await),
            [
                ("db.0.0000", "TASK_STAGING"),
                ("web.0.0000", "TASK_RUNNING"),
                ("web.1.0000", "TASK_RUNNING"),
            ]
        );
        assert_eq!(i.state("web").await.expect("web")["running"], 2);
    }

    // A state change of one task (an event) ...
    store
        .apply(
            lease.epoch,
            apply(vec![task("web", 1, TaskState::TaskFailed)], vec![]),
        )
        .await
        .expect("failed");
    for i in [&mut *a, &mut *b] {
        assert_eq!(
            states(&i.list_all().await)[2],
            ("web.1.0000", "TASK_FAILED")
        );
        let web = i.state("web").await.expect("web");
        assert_eq!(
            (web["running"].clone(), web["state"].clone()),
            (json!(1), json!("TASK_STAGING"))
        );
    }

    // ... a change that appends no event (same state, new message) ...
    let mut db = task("db", 0, TaskState::TaskStaging);
    db.message = "pulling image".into();
    store
        .apply(lease.epoch, apply(vec![db], vec![]))
        .await
        .expect("message");
    for i in [&mut *a, &mut *b] {
        assert_eq!(i.list_all().await[0].3, "pulling image");
    }

    // ... and a scheduler status.
    let ended = hydrogen::store::Termination {
        task_id: "db.0.dead".into(),
        instance: 0,
        app_version: 1,
        state: TaskState::TaskFailed,
        reason: "REASON_COMMAND_EXECUTOR_FAILED".into(),
        source: "SOURCE_EXECUTOR".into(),
        message: "exit status 1".into(),
        agent_id: "agent-1".into(),
        hostname: "host-1".into(),
        at_ms: 1,
    };
    let status = AppStatus {
        app: "db".into(),
        waiting: 1,
        message: "1 task waits: no offer has enough mem".into(),
        last_terminations: [(0, ended.clone())].into(),
        recent_terminations: vec![ended],
        ..AppStatus::default()
    };
    let statuses = TaskBatch {
        statuses: vec![Arc::new(status)],
        ..TaskBatch::default()
    };
    store.apply(lease.epoch, statuses).await.expect("status");
    for i in [&mut *a, &mut *b] {
        let db = i.state("db").await.expect("db");
        assert_eq!(
            db["status"]["message"],
            "1 task waits: no offer has enough mem"
        );
        // The failure of a task whose record is gone still shows.
        assert_eq!(
            db["status"]["last_terminations"]["0"]["message"],
            "exit status 1"
        );
        assert_eq!(
            db["status"]["recent_terminations"][0]["reason"],
            "REASON_COMMAND_EXECUTOR_FAILED"
        );
    }

    // An update through the other instance, over gRPC.
    let mut spec = pb::App {
        name: "web".into(),
        instances: Some(3),
        resources: Some(pb::Resources {
            cpu: 0.5,
            mem: 64.0,
            ..Default::default()
        }),
        command: Some(pb::Command {
            cmd: Some("sleep 10".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let updated = b
        .grpc
        .update(pb::UpdateRequest {
            app: Some(spec.clone()),
            expected_version: Some(1),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.version, 2);
    for i in [&mut *a, &mut *b] {
        let web = i.state("web").await.expect("web");
        assert_eq!(
            (web["version"].clone(), web["instances"].clone()),
            (json!(2), json!(3))
        );
    }
    spec.instances = Some(4);
    let again = a
        .http
        .put(a.url("/v1/api/app"))
        .body(
            json!({"name": "web", "resources": {"cpu": 0.5, "mem": 64}, "instances": 4,
                   "command": {"cmd": "sleep 10"}})
            .to_string(),
        )
        .send()
        .await
        .expect("rest update");
    assert_eq!(again.status(), StatusCode::OK);
    for i in [&mut *a, &mut *b] {
        assert_eq!(i.state("web").await.expect("web")["instances"], 4);
    }

    // A kill through the other instance.
    b.grpc
        .kill(pb::KillRequest {
            name: "web".into(),
            expected_version: None,
        })
        .await
        .expect("kill");
    for i in [&mut *a, &mut *b] {
        let web = i.state("web").await.expect("web");
        assert_eq!(
            (web["state"].clone(), web["goal"].clone()),
            (json!("TASK_KILLING"), json!("KILL"))
        );
    }

    // The scheduler forgets web's tasks, then web: gone everywhere.
    let removals = vec!["web.0.0000".to_owned(), "web.1.0000".to_owned()];
    store
        .apply(lease.epoch, apply(vec![], removals))
        .await
        .expect("removals");
    for i in [&mut *a, &mut *b] {
        assert_eq!(states(&i.list_all().await), [("db.0.0000", "TASK_STAGING")]);
        assert_eq!(i.state("web").await.expect("web")["tasks"], json!([]));
    }
    let forget = TaskBatch {
        app_removals: vec!["web".into()],
        ..TaskBatch::default()
    };
    store.apply(lease.epoch, forget).await.expect("app removal");
    for i in [&mut *a, &mut *b] {
        assert_eq!(
            i.state("web").await.err(),
            Some((StatusCode::NOT_FOUND, tonic::Code::NotFound))
        );
        assert!(i.state("db").await.is_ok());
    }

    // Tasks whose app has no record still show in ListAll (not in State).
    store
        .apply(
            lease.epoch,
            apply(vec![task("ghost", 0, TaskState::TaskRunning)], vec![]),
        )
        .await
        .expect("orphan");
    for i in [&mut *a, &mut *b] {
        assert_eq!(
            states(&i.list_all().await),
            [
                ("db.0.0000", "TASK_STAGING"),
                ("ghost.0.0000", "TASK_RUNNING")
            ]
        );
        assert_eq!(
            i.state("ghost").await.err(),
            Some((StatusCode::NOT_FOUND, tonic::Code::NotFound))
        );
    }
}

#[tokio::test]
async fn api_views_memory_store_shows_every_write_at_once() {
    let store = Arc::new(MemoryStore::default());
    // Two servers over one in-process store: two caches, one store.
    let mut a = Instance::start(Arc::clone(&store)).await;
    let mut b = Instance::start(Arc::clone(&store)).await;
    every_write_is_visible_to_the_next_read(store, &mut a, &mut b).await;
}

#[tokio::test]
async fn api_views_redis_store_shows_every_write_at_once_on_every_instance() {
    let redis = procs::Redis::start();
    let connect = || async {
        Arc::new(
            RedisStore::connect(&redis.url(), RedisOptions::default())
                .await
                .expect("connect redis"),
        )
    };
    // Each instance has its own connection, as separate processes would;
    // the scheduler's writes come through a third.
    let mut a = Instance::start(connect().await).await;
    let mut b = Instance::start(connect().await).await;
    every_write_is_visible_to_the_next_read(connect().await, &mut a, &mut b).await;
}
