//! The resumable task watch behind gRPC `WatchTasks` and the SSE
//! `/v1/api/app/watch`.
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

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::store::{EventPage, Store, TaskEvent};

use super::error::ApiError;

/// Events read from the store per page.
const PAGE: usize = 512;
/// Events buffered between the reader task and a slow client.
const BUFFER: usize = 256;

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// After this revision (0 = the whole log).
    After(u64),
    /// At the current head: live events only.
    Head,
}

/// A live stream of task events, oldest first.
pub struct TaskWatch {
    rx: mpsc::Receiver<Result<TaskEvent, ApiError>>,
}

impl Stream for TaskWatch {
    type Item = Result<TaskEvent, ApiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Batches of new events, as the hub's one reader found them. An empty
/// batch means "look in the store yourself" (the hub skipped a compacted
/// stretch).
type Batch = Arc<[TaskEvent]>;

/// Batches kept for watchers that are behind; one further behind reads the
/// store itself.
const HUB_BUFFER: usize = 64;

/// How soon the hub's reader retries the store after an error.
const HUB_RETRY: Duration = Duration::from_millis(250);

/// One reader of the event log for every live watch of a process.
///
/// Without it each watch read the store on every change: a thousand idle
/// SSE watchers made a thousand reads per task update, on the connection
/// the leader's lease renewals shared, until renewals timed out. With it
/// the store is read once per change whatever the number of watchers; a
/// watch reads the store itself only to catch up (its first pages, after
/// falling more than [`HUB_BUFFER`] batches behind, or across a gap).
pub struct WatchHub {
    tx: broadcast::Sender<Batch>,
}

impl WatchHub {
    /// Starts the reader over `store`, from its current head. The reader
    /// holds the store weakly and ends with it.
    pub fn start<S: Store>(store: &Arc<S>) -> Arc<Self> {
        let (tx, _) = broadcast::channel(HUB_BUFFER);
        let hub = Arc::new(Self { tx: tx.clone() });
        let mut changes = store.changes();
        // Read now, not in the task: events landing before the task first
        // runs are then still read (and announced) by it.
        let mut cursor = changes.borrow_and_update().events;
        let weak = Arc::downgrade(store);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(store) = weak.upgrade() else { return };
                loop {
                    match store.events_after(cursor, PAGE).await {
                        Ok(page) => {
                            let full = page.events.len() >= PAGE;
                            if let Some(last) = page.events.last() {
                                cursor = last.revision;
                                let _ = tx.send(page.events.into());
                            }
                            if !full {
                                break;
                            }
                        }
                        Err(crate::store::StoreError::Compacted { .. }) => {
                            // Skip to the head; watchers see the gap and
                            // read (and report) it themselves.
                            cursor = changes.borrow_and_update().events;
                            let _ = tx.send(Arc::from(Vec::new()));
                            break;
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "watch hub cannot read the event log; retrying");
                            tokio::time::sleep(HUB_RETRY).await;
                        }
                    }
                }
            }
        });
        hub
    }
}

/// Starts a watch of `app` (every app when `None`) from `from`.
pub async fn watch<S: Store>(
    store: Arc<S>,
    hub: &WatchHub,
    from: WatchFrom,
    app: Option<String>,
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
    tokio::spawn(async move {
        // Some(page): catching up from the store; None: following the hub.
        let mut page: Option<EventPage> = Some(first);
        loop {
            let batch: Vec<TaskEvent> = match page.take() {
                Some(p) => {
                    let full = p.events.len() >= PAGE;
                    if !send_after(&tx, &shutdown, &mut cursor, app.as_deref(), p.events).await {
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
                        Ok(batch) if batch.first().is_some_and(|e| e.revision <= cursor + 1) => {
                            batch.to_vec()
                        }
                        // A gap (compaction, or published before we
                        // subscribed), or we fell behind: read the store.
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
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
            if !send_after(&tx, &shutdown, &mut cursor, app.as_deref(), batch).await {
                return;
            }
        }
    });
    Ok(TaskWatch { rx })
}

/// Sends the events after `cursor` (of `app`, when given) and moves the
/// cursor; false when the watch is over.
async fn send_after(
    tx: &mpsc::Sender<Result<TaskEvent, ApiError>>,
    shutdown: &CancellationToken,
    cursor: &mut u64,
    app: Option<&str>,
    events: Vec<TaskEvent>,
) -> bool {
    for event in events {
        if event.revision <= *cursor {
            continue;
        }
        *cursor = event.revision;
        if app.is_some_and(|a| a != event.app) {
            continue;
        }
        tokio::select! {
            sent = tx.send(Ok(event)) => if sent.is_err() { return false },
            () = shutdown.cancelled() => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;
    use crate::api::ErrorCode;
    use crate::store::memory::MemoryStore;
    use crate::store::{TaskBatch, TaskRecord, TaskState};

    fn task(instance: u32) -> TaskRecord {
        TaskRecord {
            task_id: format!("web.{instance}.x"),
            app: "web".into(),
            instance,
            app_version: 1,
            agent_id: "a".into(),
            hostname: "h".into(),
            state: TaskState::TaskStaging,
            healthy: None,
            ips: vec![],
            ports: Vec::new(),
            message: String::new(),
            kill_sent: false,
            created_ms: 0,
            updated_ms: 0,
        }
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
            None,
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
                        upserts: vec![task(i)],
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
                None,
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
                        upserts: vec![task(i)],
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
                let event = tokio::time::timeout(Duration::from_secs(10), w.next())
                    .await
                    .expect("events keep coming")
                    .expect("an item")
                    .expect("an event");
                revisions.push(event.revision);
            }
            let expected: Vec<u64> = (1..=u64::from(N)).collect();
            assert_eq!(revisions, expected);
        }
    }
}
