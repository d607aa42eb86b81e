//! The task watch on both faces: replay, live, interrupt and resume from the
//! last revision with nothing missed or repeated, app filters, compaction
//! answered clearly, and watches ending on shutdown.

use std::sync::Arc;

use futures_util::StreamExt;
use hydrogen::api::proto as pb;
use hydrogen::store::memory::MemoryStore;
use hydrogen::store::{AppStatus, Store, TaskBatch, TaskState};
use serde_json::Value;
use tonic::Code;

use crate::api_fixture::{DEADLINE, TestServer, Writer, config, start, start_with_store};

/// One parsed server-sent event.
#[derive(Debug)]
struct Sse {
    id: Option<u64>,
    event: String,
    data: Value,
}

/// Reads server-sent events from a streaming response.
struct SseReader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    fn new(resp: reqwest::Response) -> Self {
        Self {
            body: resp.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` at the end.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut event = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if event.is_empty() && data.is_empty() {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data).expect("event data is json");
                return Some(Sse { id, event, data });
            }
            let chunk = tokio::time::timeout(DEADLINE, self.body.next())
                .await
                .expect("an event arrives before the deadline")?;
            let chunk = chunk.expect("stream chunk");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn sse(srv: &TestServer, query: &str, last_id: Option<u64>) -> reqwest::Response {
    let mut req = srv.http.get(srv.url(&format!("/v1/api/app/watch{query}")));
    if let Some(id) = last_id {
        req = req.header("last-event-id", id.to_string());
    }
    req.send().await.expect("watch request")
}

#[tokio::test]
async fn api_watch_sse_resumes_without_gap_or_repeat() {
    let srv = start(config(None)).await;
    let writer = Writer::new(&srv.store).await;
    // Events before the watch starts: replayed.
    writer.task("web", 0, TaskState::TaskStaging).await;
    writer.task("web", 0, TaskState::TaskRunning).await;
    writer.task("db", 0, TaskState::TaskStaging).await;

    let resp = sse(&srv, "?after=0", None).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/event-stream"))
    );
    let mut reader = SseReader::new(resp);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = reader.next().await.expect("event");
        assert_eq!(e.event, "task");
        assert_eq!(e.data["revision"].as_u64(), e.id);
        seen.push(e.id.expect("id"));
    }
    // Live events.
    writer.task("web", 1, TaskState::TaskStaging).await;
    let e = reader.next().await.expect("live event");
    assert_eq!(e.data["app"], "web");
    assert_eq!(e.data["state"], "TASK_STAGING");
    seen.push(e.id.expect("id"));

    // Interrupt, miss some events, resume from the last id.
    drop(reader);
    writer.task("web", 1, TaskState::TaskRunning).await;
    writer.task("db", 0, TaskState::TaskRunning).await;
    let last = *seen.last().expect("some");
    let mut reader = SseReader::new(sse(&srv, "?after=0", Some(last)).await);
    for _ in 0..2 {
        seen.push(reader.next().await.expect("event").id.expect("id"));
    }
    writer.task("db", 1, TaskState::TaskStaging).await;
    seen.push(reader.next().await.expect("event").id.expect("id"));
    assert_eq!(seen, (1..=7).collect::<Vec<u64>>(), "no gap, no repeat");

    // Shutdown ends the stream (and the server returns).
    srv.shutdown.cancel();
    assert!(reader.next().await.is_none(), "stream ends on shutdown");
    tokio::time::timeout(DEADLINE, srv.handle)
        .await
        .expect("server stops")
        .expect("task")
        .expect("serve");
}

#[tokio::test]
async fn api_watch_sse_filters_live_and_compaction() {
    let store = Arc::new(MemoryStore::new(4));
    let srv = start_with_store(Arc::clone(&store), config(None)).await;
    let writer = Writer::new(&store).await;
    for i in 0..6 {
        writer.task("old", i, TaskState::TaskStaging).await;
    }
    // The log keeps 4 events: revisions 3..=6; after=1 needs revision 2.
    let resp = sse(&srv, "?after=1", None).await;
    assert_eq!(resp.status(), 410);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["code"], "out_of_range");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("no longer holds"))
    );
    let resp = sse(&srv, "", Some(2)).await;
    assert_eq!(resp.status(), 200, "revision 3 is still held");
    drop(resp);
    let resp = sse(&srv, "", Some(u64::MAX)).await;
    assert_eq!(resp.status(), 400);
    let resp = srv
        .http
        .get(srv.url("/v1/api/app/watch"))
        .header("last-event-id", "abc")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);

    // No revision: live only; ?app= filters.
    let mut reader = SseReader::new(sse(&srv, "?app=web", None).await);
    writer.task("other", 0, TaskState::TaskStaging).await;
    writer.task("web", 0, TaskState::TaskStaging).await;
    let e = reader.next().await.expect("event");
    assert_eq!(e.data["app"], "web");
    assert_eq!(e.id, Some(8));
    srv.stop().await;
}

async fn grpc_watch(
    client: &mut pb::app_service_client::AppServiceClient<tonic::transport::Channel>,
    app: Option<&str>,
    after: Option<u64>,
) -> Result<tonic::Streaming<pb::TaskEvent>, tonic::Status> {
    client
        .watch_tasks(pb::WatchTasksRequest {
            app: app.map(str::to_owned),
            after_revision: after,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn next_event(stream: &mut tonic::Streaming<pb::TaskEvent>) -> pb::TaskEvent {
    tokio::time::timeout(DEADLINE, stream.message())
        .await
        .expect("event before the deadline")
        .expect("stream ok")
        .expect("stream open")
}

#[tokio::test]
async fn api_watch_grpc_resumes_without_gap_or_repeat() {
    let srv = start(config(None)).await;
    let mut client = srv.grpc().await;
    let writer = Writer::new(&srv.store).await;
    writer.task("web", 0, TaskState::TaskStaging).await;
    writer.task("web", 0, TaskState::TaskRunning).await;

    let mut stream = grpc_watch(&mut client, None, Some(0)).await.expect("watch");
    let mut seen = vec![
        next_event(&mut stream).await.revision,
        next_event(&mut stream).await.revision,
    ];
    writer.task("db", 0, TaskState::TaskStaging).await;
    let e = next_event(&mut stream).await;
    assert_eq!(e.app, "db");
    assert_eq!(e.state, pb::TaskState::Staging as i32);
    seen.push(e.revision);
    drop(stream);

    writer.task("db", 0, TaskState::TaskRunning).await;
    writer.task("web", 1, TaskState::TaskStaging).await;
    let last = *seen.last().expect("some");
    let mut stream = grpc_watch(&mut client, None, Some(last))
        .await
        .expect("watch");
    seen.push(next_event(&mut stream).await.revision);
    seen.push(next_event(&mut stream).await.revision);
    assert_eq!(seen, (1..=5).collect::<Vec<u64>>());

    // Filter and live-only.
    let mut web_only = grpc_watch(&mut client, Some("web"), None)
        .await
        .expect("watch");
    writer.task("db", 1, TaskState::TaskStaging).await;
    writer.task("web", 1, TaskState::TaskRunning).await;
    let e = next_event(&mut web_only).await;
    assert_eq!((e.app.as_str(), e.revision), ("web", 7));

    // Shutdown ends open watches cleanly.
    srv.shutdown.cancel();
    let end = tokio::time::timeout(DEADLINE, web_only.message())
        .await
        .expect("ends before the deadline");
    assert!(matches!(end, Ok(None)), "{end:?}");
    tokio::time::timeout(DEADLINE, srv.handle)
        .await
        .expect("server stops")
        .expect("task")
        .expect("serve");
}

#[tokio::test]
async fn api_watch_grpc_compacted_is_out_of_range() {
    let store = Arc::new(MemoryStore::new(2));
    let srv = start_with_store(Arc::clone(&store), config(None)).await;
    let mut client = srv.grpc().await;
    let writer = Writer::new(&store).await;
    for i in 0..5 {
        writer.task("web", i, TaskState::TaskStaging).await;
    }
    let status = grpc_watch(&mut client, None, Some(0))
        .await
        .expect_err("compacted");
    assert_eq!(status.code(), Code::OutOfRange);
    let mut ok = grpc_watch(&mut client, None, Some(3)).await.expect("held");
    assert_eq!(next_event(&mut ok).await.revision, 4);
    srv.stop().await;
}

/// Writes `app`'s scheduler status as the leader does.
async fn write_status(writer: &Writer, app: &str, waiting: u32) {
    let status = AppStatus {
        app: app.into(),
        waiting,
        message: format!("{waiting} waiting: no offer fits"),
        ..AppStatus::default()
    };
    writer
        .store
        .apply(
            writer.epoch,
            TaskBatch {
                statuses: vec![Arc::new(status)],
                ..TaskBatch::default()
            },
        )
        .await
        .expect("apply");
}

/// `?include=status,cluster`: an app's status changes and the cluster's
/// (leader, epoch, subscribed) arrive as their own SSE events, without an
/// id (Last-Event-ID stays a task revision); a watch that did not ask sees
/// task events only; an unknown kind is refused naming the field.
#[tokio::test]
async fn api_watch_sse_streams_status_and_cluster_events_on_request() {
    let srv = start(config(None)).await;
    let writer = Writer::new(&srv.store).await;
    write_status(&writer, "web", 2).await;

    let mut plain = SseReader::new(sse(&srv, "", None).await);
    let mut side = SseReader::new(sse(&srv, "?include=status,cluster&app=web", None).await);
    // It starts with the current cluster and statuses, in either order.
    let mut first = [
        side.next().await.expect("event"),
        side.next().await.expect("event"),
    ];
    first.sort_by(|a, b| a.event.cmp(&b.event));
    let (cluster, status) = (&first[0], &first[1]);
    assert_eq!(cluster.event, "cluster");
    assert_eq!(cluster.id, None);
    assert_eq!(cluster.data["leader_id"], "test-scheduler");
    assert_eq!(cluster.data["epoch"], writer.epoch.0);
    assert_eq!(cluster.data["subscribed"], false);
    assert_eq!(status.event, "status");
    assert_eq!(status.id, None);
    assert_eq!(status.data["app"], "web");
    assert_eq!(status.data["waiting"], 2);

    // The leader subscribes to Mesos: one cluster event.
    writer
        .store
        .set_mesos_link(writer.epoch, true)
        .await
        .expect("link");
    let e = side.next().await.expect("cluster event");
    assert_eq!(e.event, "cluster");
    assert_eq!(e.data["subscribed"], true);

    // A status change of another app is filtered out, one of ours is not,
    // and a task event still carries its revision.
    write_status(&writer, "db", 1).await;
    write_status(&writer, "web", 3).await;
    let e = side.next().await.expect("status event");
    assert_eq!((e.event.as_str(), e.id), ("status", None));
    assert_eq!(e.data["waiting"], 3);
    assert_eq!(e.data["message"], "3 waiting: no offer fits");
    // The same status again is no change: nothing is sent for it.
    write_status(&writer, "web", 3).await;
    writer.task("web", 0, TaskState::TaskStaging).await;
    let e = side.next().await.expect("task event");
    assert_eq!(e.event, "task");
    assert_eq!(e.id, Some(1));

    // The plain watch saw none of the side events.
    let e = plain.next().await.expect("task event");
    assert_eq!((e.event.as_str(), e.id), ("task", Some(1)));

    let resp = sse(&srv, "?include=status,tasks", None).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["field"], "include", "{v}");
    srv.stop().await;
}

/// gRPC `WatchTasks` with `include_status` / `include_cluster`: messages
/// with `status` or `cluster` set (revision 0); a request without them (an
/// old client) gets task events only.
#[tokio::test]
async fn api_watch_grpc_streams_status_and_cluster_messages_on_request() {
    let srv = start(config(None)).await;
    let mut client = srv.grpc().await;
    let writer = Writer::new(&srv.store).await;

    let mut old = grpc_watch(&mut client, None, None).await.expect("watch");
    let mut side = client
        .watch_tasks(pb::WatchTasksRequest {
            include_status: true,
            include_cluster: true,
            ..Default::default()
        })
        .await
        .expect("watch")
        .into_inner();
    let e = next_event(&mut side).await;
    let cluster = e.cluster.expect("the current cluster first");
    assert_eq!(e.revision, 0);
    assert_eq!(cluster.leader_id.as_deref(), Some("test-scheduler"));
    assert_eq!(cluster.epoch, Some(writer.epoch.0));
    assert!(!cluster.subscribed);

    write_status(&writer, "web", 4).await;
    let e = next_event(&mut side).await;
    assert_eq!((e.revision, e.app.as_str()), (0, "web"));
    let status = e.status.expect("a status message");
    assert_eq!(status.waiting, 4);
    assert_eq!(status.message, "4 waiting: no offer fits");

    writer
        .store
        .set_mesos_link(writer.epoch, true)
        .await
        .expect("link");
    let e = next_event(&mut side).await;
    assert!(e.cluster.expect("a cluster message").subscribed);

    writer.task("web", 0, TaskState::TaskStaging).await;
    let e = next_event(&mut side).await;
    assert_eq!((e.revision, e.status, e.cluster), (1, None, None));
    let e = next_event(&mut old).await;
    assert_eq!((e.revision, e.status, e.cluster), (1, None, None));
    srv.stop().await;
}
