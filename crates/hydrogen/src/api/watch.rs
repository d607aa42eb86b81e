//! The resumable task watch behind gRPC `WatchTasks` and the SSE
//! `/v1/api/app/watch`, and the side events a watch may ask for: app status
//! changes and cluster (leadership, Mesos subscription) changes.
//!
//! A watch replays the event log after a revision, then follows it live. It
//! reads pages with `Store::events_after` until it has caught up, then
//! follows the batches of the process's one [`WatchHub`] reader; it
//! subscribes to the hub *before* its first read, so a write landing between
//! a read and the wait still reaches it: no event is missed, and since the
//! cursor only moves forward (events at or below it are skipped) none is
//! repeated. A batch that does not follow on from the cursor (a gap) or a
//! hub that left it behind sends it back to reading the store. The first
//! page is read before the watch is returned, so a revision the log no longer
//! holds fails the request itself (gRPC OUT_OF_RANGE, HTTP 410) instead of a
//! stream that dies at once; if the log is compacted past a slow watcher
//! later, the stream ends with that same error. The stream also ends when the
//! server shuts down or the client goes away.
//!
//! The hub encodes each event once per face (the SSE frame, the protobuf
//! message) and every watcher passes the same shared bytes on: a thousand
//! watchers cost a thousand reference counts per event, not a thousand
//! serialisations. Only a watcher catching up from the store encodes the
//! events it reads itself.
//!
//! Status and cluster events are states, not log entries: they carry no
//! revision, are not replayed after one, and a watch that asked for them
//! starts with the current ones (the hub keeps them), then gets each change
//! the hub sees; a watch that fell behind gets the current ones again. The
//! same state may therefore arrive twice, never a stale one after a newer.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;
use prost::Message;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::store::{AppStatus, EventPage, LeaderInfo, MesosLink, Store, StoreError, TaskEvent};

use super::convert;
use super::error::ApiError;
use super::proto as pb;

/// Events read from the store per page.
const PAGE: usize = 512;
/// Chunks buffered between a watch's task and a slow client.
const BUFFER: usize = 256;

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// After this revision (0 = the whole log).
    After(u64),
    /// At the current head: live events only.
    Head,
}

/// What a watch streams besides task events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchOptions {
    /// Only this app's task and status events; every app when `None`.
    pub app: Option<String>,
    /// App status changes too.
    pub statuses: bool,
    /// Cluster changes too.
    pub cluster: bool,
}

/// Who leads and whether it is subscribed, as a cluster event tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterState {
    pub leader_id: Option<String>,
    pub leader_address: Option<String>,
    pub epoch: Option<u64>,
    pub subscribed: bool,
    pub framework_id: Option<String>,
}

impl ClusterState {
    /// From the store's lease, Mesos link and framework id.
    pub fn new(
        leader: Option<&LeaderInfo>,
        link: Option<&MesosLink>,
        framework_id: Option<String>,
    ) -> Self {
        Self {
            leader_id: leader.map(|l| l.instance_id.clone()),
            leader_address: leader.map(|l| l.address.clone()),
            epoch: leader.map(|l| l.epoch.0),
            subscribed: MesosLink::leader_subscribed(link, leader),
            framework_id,
        }
    }
}

#[derive(Debug)]
enum Kind {
    Task { revision: u64, app: String },
    Status { app: String },
    Cluster,
}

/// One thing a watch delivers, encoded for both faces. Cheap to clone: the
/// encodings are shared.
#[derive(Debug, Clone)]
pub struct Item(Arc<Encoded>);

#[derive(Debug)]
struct Encoded {
    kind: Kind,
    /// Side events: the hub's publication order (0 for task events).
    seq: u64,
    sse: Bytes,
    grpc: Bytes,
}

impl Item {
    /// A task event: SSE `id: <revision>`, `event: task`.
    fn task(event: &TaskEvent) -> Self {
        let json = serde_json::to_vec(event).unwrap_or_default();
        Self::new(
            Kind::Task {
                revision: event.revision,
                app: event.app.clone(),
            },
            0,
            sse_frame(Some(event.revision), "task", &json),
            convert::event_to_proto(event).encode_to_vec(),
        )
    }

    /// An app's new status: SSE `event: status` without an id (so an
    /// EventSource's Last-Event-ID stays the last task revision).
    fn status(status: &AppStatus, seq: u64) -> Self {
        let json = serde_json::to_vec(status).unwrap_or_default();
        let message = pb::TaskEvent {
            app: status.app.clone(),
            status: Some(convert::status_to_proto(status)),
            ..pb::TaskEvent::default()
        };
        Self::new(
            Kind::Status {
                app: status.app.clone(),
            },
            seq,
            sse_frame(None, "status", &json),
            message.encode_to_vec(),
        )
    }

    /// The cluster's new state: SSE `event: cluster`, no id.
    fn cluster(state: &ClusterState, seq: u64) -> Self {
        let json = serde_json::to_vec(state).unwrap_or_default();
        let message = pb::TaskEvent {
            cluster: Some(pb::ClusterInfo {
                leader_id: state.leader_id.clone(),
                leader_address: state.leader_address.clone(),
                epoch: state.epoch,
                subscribed: state.subscribed,
                framework_id: state.framework_id.clone(),
            }),
            ..pb::TaskEvent::default()
        };
        Self::new(
            Kind::Cluster,
            seq,
            sse_frame(None, "cluster", &json),
            message.encode_to_vec(),
        )
    }

    fn new(kind: Kind, seq: u64, sse: Bytes, grpc: Vec<u8>) -> Self {
        Self(Arc::new(Encoded {
            kind,
            seq,
            sse,
            grpc: Bytes::from(grpc),
        }))
    }

    /// The whole SSE frame, blank line included.
    pub fn sse(&self) -> &Bytes {
        &self.0.sse
    }

    /// The protobuf `hydrogen.v1.TaskEvent` message.
    pub fn grpc(&self) -> &Bytes {
        &self.0.grpc
    }

    /// The revision of a task event; `None` for status and cluster events.
    pub fn revision(&self) -> Option<u64> {
        match self.0.kind {
            Kind::Task { revision, .. } => Some(revision),
            _ => None,
        }
    }

    fn wanted(&self, options: &WatchOptions) -> bool {
        let app_ok = |app: &str| options.app.as_deref().is_none_or(|a| a == app);
        match &self.0.kind {
            Kind::Task { app, .. } => app_ok(app),
            Kind::Status { app } => options.statuses && app_ok(app),
            Kind::Cluster => options.cluster,
        }
    }
}

/// `id:`, `event:` and `data:` lines and the blank line that ends a frame.
/// JSON from serde has no raw newline, so `data` is one line.
fn sse_frame(id: Option<u64>, event: &str, data: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(data.len() + event.len() + 40);
    if let Some(id) = id {
        frame.put_slice(b"id: ");
        frame.put_slice(id.to_string().as_bytes());
        frame.put_u8(b'\n');
    }
    frame.put_slice(b"event: ");
    frame.put_slice(event.as_bytes());
    frame.put_slice(b"\ndata: ");
    frame.put_slice(data);
    frame.put_slice(b"\n\n");
    frame.freeze()
}

/// A live stream of watch items, oldest first, in chunks (the events of one
/// hub batch, or one store page, that this watch wants).
pub struct TaskWatch {
    rx: mpsc::Receiver<Result<Vec<Item>, ApiError>>,
}

impl Stream for TaskWatch {
    type Item = Result<Vec<Item>, ApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// What the hub's reader publishes.
#[derive(Clone)]
enum HubMessage {
    /// New task events, oldest first (never empty).
    Tasks(Arc<[Item]>),
    /// The hub skipped a compacted stretch: look in the store yourself.
    Gap,
    /// A status or cluster change.
    Side(Item),
}

/// Batches kept for watchers that are behind; one further behind reads the
/// store itself.
const HUB_BUFFER: usize = 64;

/// How soon the hub's reader retries the store after an error.
const HUB_RETRY: Duration = Duration::from_millis(250);

/// The latest status and cluster events, for watches that start.
#[derive(Default)]
struct Current {
    /// Shared with the store (the memory store's own records): the hub
    /// adds only the encoded item per app, not another copy of it.
    statuses: HashMap<String, (Arc<AppStatus>, Item)>,
    cluster: Option<(ClusterState, Item)>,
    /// The `seq` of the last side event published.
    seq: u64,
}

/// One reader of the event log (and of statuses and the cluster) for every
/// live watch of a process.
///
/// Without it each watch read the store on every change: a thousand idle
/// SSE watchers made a thousand reads per task update, on the connection
/// the leader's lease renewals shared, until renewals timed out. With it
/// the store is read once per change whatever the number of watchers; a
/// watch reads the store itself only to catch up (its first pages, after
/// falling more than [`HUB_BUFFER`] batches behind, or across a gap).
pub struct WatchHub {
    tx: broadcast::Sender<HubMessage>,
    current: Mutex<Current>,
}

impl WatchHub {
    /// Starts the reader over `store`, from its current head. The reader
    /// holds the store weakly and ends with it.
    pub fn start<S: Store>(store: &Arc<S>) -> Arc<Self> {
        let (tx, _) = broadcast::channel(HUB_BUFFER);
        let hub = Arc::new(Self {
            tx,
            current: Mutex::new(Current::default()),
        });
        let mut changes = store.changes();
        // Read now, not in the task: events landing before the task first
        // runs are then still read (and announced) by it.
        let seen = *changes.borrow_and_update();
        let mut cursor = seen.events;
        let weak_store = Arc::downgrade(store);
        let weak_hub = Arc::downgrade(&hub);
        tokio::spawn(async move {
            // Statuses and the cluster are read first thing, so watches
            // that start find them.
            let mut side_seen = None;
            loop {
                let (Some(store), Some(hub)) = (weak_store.upgrade(), weak_hub.upgrade()) else {
                    return;
                };
                let now = *changes.borrow_and_update();
                if now.events != cursor {
                    cursor = hub.read_events(&*store, cursor, &changes).await;
                }
                let side = (now.statuses, now.mesos, now.epoch);
                if side_seen.is_none_or(|(s, _, _)| s != side.0)
                    && hub.read_statuses(&*store).await.is_err()
                {
                    tokio::time::sleep(HUB_RETRY).await;
                    continue;
                }
                if side_seen.is_none_or(|(_, m, e)| (m, e) != (side.1, side.2))
                    && hub.read_cluster(&*store).await.is_err()
                {
                    tokio::time::sleep(HUB_RETRY).await;
                    continue;
                }
                side_seen = Some(side);
                drop((store, hub));
                if changes.changed().await.is_err() {
                    return;
                }
            }
        });
        hub
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Current> {
        // Nothing panics while holding it; the data stays usable.
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads and publishes the events after `cursor`; answers the new
    /// cursor.
    async fn read_events<S: Store>(
        &self,
        store: &S,
        mut cursor: u64,
        changes: &tokio::sync::watch::Receiver<crate::store::Changes>,
    ) -> u64 {
        loop {
            match store.events_after(cursor, PAGE).await {
                Ok(page) => {
                    let full = page.events.len() >= PAGE;
                    if let Some(last) = page.events.last() {
                        cursor = last.revision;
                        let items: Arc<[Item]> = page.events.iter().map(Item::task).collect();
                        let _ = self.tx.send(HubMessage::Tasks(items));
                    }
                    if !full {
                        return cursor;
                    }
                }
                Err(StoreError::Compacted { .. }) => {
                    // Skip to the head; watchers see the gap and read (and
                    // report) it themselves.
                    let _ = self.tx.send(HubMessage::Gap);
                    return changes.borrow().events;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "watch hub cannot read the event log; retrying");
                    tokio::time::sleep(HUB_RETRY).await;
                }
            }
        }
    }

    /// Reads every status and publishes the changed ones.
    async fn read_statuses<S: Store>(&self, store: &S) -> Result<(), StoreError> {
        let statuses = store.app_statuses().await.inspect_err(|e| {
            tracing::debug!(error = %e, "watch hub cannot read app statuses; retrying");
        })?;
        let mut current = self.current();
        let mut kept = HashMap::with_capacity(statuses.len());
        for status in statuses {
            let item = match current.statuses.remove(&status.app) {
                // The same allocation is the same status (the memory store
                // hands out what it holds); otherwise compare contents.
                Some((old, item)) if Arc::ptr_eq(&old, &status) || old == status => item,
                _ => {
                    current.seq += 1;
                    let item = Item::status(&status, current.seq);
                    let _ = self.tx.send(HubMessage::Side(item.clone()));
                    item
                }
            };
            kept.insert(status.app.clone(), (status, item));
        }
        current.statuses = kept;
        Ok(())
    }

    /// Reads who leads and whether it is subscribed; publishes a change.
    async fn read_cluster<S: Store>(&self, store: &S) -> Result<(), StoreError> {
        let read = async {
            let leader = store.leader().await?;
            let link = store.mesos_link().await?;
            let framework_id = store.framework_id().await?;
            Ok::<_, StoreError>(ClusterState::new(
                leader.as_ref(),
                link.as_ref(),
                framework_id,
            ))
        };
        let state = read.await.inspect_err(|e| {
            tracing::debug!(error = %e, "watch hub cannot read the cluster state; retrying");
        })?;
        let mut current = self.current();
        if current
            .cluster
            .as_ref()
            .is_none_or(|(old, _)| *old != state)
        {
            current.seq += 1;
            let item = Item::cluster(&state, current.seq);
            let _ = self.tx.send(HubMessage::Side(item.clone()));
            current.cluster = Some((state, item));
        }
        Ok(())
    }

    /// The current status and cluster events `options` asks for, and the
    /// `seq` they are current as of: a side event received later with a
    /// `seq` at or below it is older than (or the same as) one of these.
    fn current_items(&self, options: &WatchOptions) -> (Vec<Item>, u64) {
        let current = self.current();
        if !options.statuses && !options.cluster {
            return (Vec::new(), current.seq);
        }
        let statuses = current.statuses.values().map(|(_, item)| item);
        let items = current
            .cluster
            .iter()
            .map(|(_, item)| item)
            .chain(statuses)
            .filter(|item| item.wanted(options))
            .cloned()
            .collect();
        (items, current.seq)
    }
}

/// Starts a watch from `from` with `options`.
pub async fn watch<S: Store>(
    store: Arc<S>,
    hub: &Arc<WatchHub>,
    from: WatchFrom,
    options: WatchOptions,
    shutdown: CancellationToken,
) -> Result<TaskWatch, ApiError> {
    // Subscribed before the first read: a batch published meanwhile is
    // received, and its events already read are skipped by revision.
    let mut live = hub.tx.subscribe();
    let head_now = store.changes().borrow().events;
    let mut cursor = match from {
        WatchFrom::After(rev) => rev,
        WatchFrom::Head => head_now,
    };
    if cursor == u64::MAX {
        return Err(ApiError::BadRequest {
            field: Some("after_revision".into()),
            message: "must be less than 18446744073709551615".into(),
        });
    }
    let first = store.events_after(cursor, PAGE).await?;
    let (tx, rx) = mpsc::channel(BUFFER);
    let (initial, mut side_seq) = hub.current_items(&options);
    if !initial.is_empty() {
        // The channel is new and empty: this cannot fail for lack of room.
        let _ = tx.try_send(Ok(initial));
    }
    let hub = Arc::clone(hub);
    tokio::spawn(async move {
        // Some(page): catching up from the store; None: following the hub.
        let mut page: Option<EventPage> = Some(first);
        loop {
            let chunk: Vec<Item> = match page.take() {
                Some(p) => {
                    let full = p.events.len() >= PAGE;
                    let items = p
                        .events
                        .iter()
                        .filter(|e| e.revision > cursor)
                        .map(Item::task)
                        .collect();
                    if !send_after(&tx, &shutdown, &mut cursor, &options, items).await {
                        return;
                    }
                    if full {
                        page = match store.events_after(cursor, PAGE).await {
                            Ok(p) => Some(p),
                            Err(e) => {
                                let _ = tx.send(Err(e.into())).await;
                                return;
                            }
                        };
                    }
                    continue;
                }
                None => {
                    let received = tokio::select! {
                        received = live.recv() => received,
                        () = shutdown.cancelled() => return,
                        () = tx.closed() => return,
                    };
                    match received {
                        Ok(HubMessage::Tasks(batch))
                            if batch
                                .first()
                                .and_then(Item::revision)
                                .is_some_and(|r| r <= cursor + 1) =>
                        {
                            batch.to_vec()
                        }
                        Ok(HubMessage::Side(item)) if item.0.seq > side_seq => {
                            side_seq = item.0.seq;
                            vec![item]
                        }
                        Ok(HubMessage::Side(_)) => continue,
                        // A gap (compaction, or published before we
                        // subscribed), or we fell behind: read the store,
                        // and take the side events we may have missed.
                        Ok(HubMessage::Tasks(_) | HubMessage::Gap)
                        | Err(broadcast::error::RecvError::Lagged(_)) => {
                            let (missed, seq) = hub.current_items(&options);
                            side_seq = seq;
                            if !send_after(&tx, &shutdown, &mut cursor, &options, missed).await {
                                return;
                            }
                            match store.events_after(cursor, PAGE).await {
                                Ok(p) => page = Some(p),
                                Err(e) => {
                                    let _ = tx.send(Err(e.into())).await;
                                    return;
                                }
                            }
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            };
            if !send_after(&tx, &shutdown, &mut cursor, &options, chunk).await {
                return;
            }
        }
    });
    Ok(TaskWatch { rx })
}

/// Sends, as one chunk, the items this watch wants: task events after
/// `cursor` (moving it) of its app, and side events it asked for; false
/// when the watch is over.
async fn send_after(
    tx: &mpsc::Sender<Result<Vec<Item>, ApiError>>,
    shutdown: &CancellationToken,
    cursor: &mut u64,
    options: &WatchOptions,
    items: Vec<Item>,
) -> bool {
    let mut chunk = Vec::with_capacity(items.len());
    for item in items {
        if let Some(revision) = item.revision() {
            if revision <= *cursor {
                continue;
            }
            *cursor = revision;
        }
        if item.wanted(options) {
            chunk.push(item);
        }
    }
    if chunk.is_empty() {
        return true;
    }
    tokio::select! {
        sent = tx.send(Ok(chunk)) => sent.is_ok(),
        () = shutdown.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;
    use crate::api::ErrorCode;
    use crate::store::memory::MemoryStore;
    use crate::store::{TaskBatch, TaskRecord};

    fn task(instance: u32) -> TaskRecord {
        TaskRecord::staging(format!("web.{instance}.x"), "web", instance, 1, "a", "h", 0)
    }

    /// A watcher the log outruns while it is not reading is told so, and the
    /// stream ends, rather than silently skipping events.
    #[tokio::test(flavor = "current_thread")]
    async fn api_watch_overtaken_by_compaction_ends_with_out_of_range() {
        let store = Arc::new(MemoryStore::new(2));
        let lease = store
            .acquire_lease("s", "a", Duration::from_secs(60))
            .await
            .expect("store")
            .expect("lease");
        let hub = WatchHub::start(&store);
        let mut w = watch(
            Arc::clone(&store),
            &hub,
            WatchFrom::Head,
            WatchOptions::default(),
            CancellationToken::new(),
        )
        .await
        .expect("watch");
        // The reader task cannot run before we await: five events land and
        // the log (capacity 2) drops three of them.
        for i in 0..5 {
            store
                .apply(
                    lease.epoch,
                    TaskBatch {
                        upserts: vec![Arc::new(task(i))],
                        ..TaskBatch::default()
                    },
                )
                .await
                .expect("apply");
        }
        let first = w.next().await.expect("an item");
        let err = first.expect_err("compacted");
        assert_eq!(err.code(), ErrorCode::OutOfRange);
        assert!(w.next().await.is_none(), "the stream ends after the error");
    }

    /// Many watchers share the hub, and one that falls behind it (its
    /// client not reading) reads the store itself: everyone gets every
    /// event once, in order.
    #[tokio::test(flavor = "current_thread")]
    async fn api_watch_shared_hub_and_a_lagging_watcher_miss_and_repeat_nothing() {
        let store = Arc::new(MemoryStore::new(10_000));
        let lease = store
            .acquire_lease("s", "a", Duration::from_secs(60))
            .await
            .expect("store")
            .expect("lease");
        let hub = WatchHub::start(&store);
        let mut watchers = Vec::new();
        for _ in 0..20 {
            let w = watch(
                Arc::clone(&store),
                &hub,
                WatchFrom::Head,
                WatchOptions::default(),
                CancellationToken::new(),
            )
            .await
            .expect("watch");
            watchers.push(w);
        }
        const N: u32 = 400;
        for i in 0..N {
            store
                .apply(
                    lease.epoch,
                    TaskBatch {
                        upserts: vec![Arc::new(task(i))],
                        ..TaskBatch::default()
                    },
                )
                .await
                .expect("apply");
            // Let the hub publish each batch on its own: more batches than
            // it keeps pile up behind watchers nobody reads.
            tokio::task::yield_now().await;
        }
        for w in &mut watchers {
            let mut revisions = Vec::new();
            while revisions.len() < N as usize {
                let chunk = tokio::time::timeout(Duration::from_secs(10), w.next())
                    .await
                    .expect("events keep coming")
                    .expect("an item")
                    .expect("events");
                revisions.extend(chunk.iter().filter_map(Item::revision));
            }
            let expected: Vec<u64> = (1..=u64::from(N)).collect();
            assert_eq!(revisions, expected);
        }
    }
}
