//! The resumable task watch behind gRPC `WatchTasks` and the SSE
//! `/v1/api/app/watch`.
//!
//! A watch replays the event log after a revision, then follows it live. It
//! reads pages with `Store::events_after` and sleeps on `Store::changes()`
//! between pages; the change receiver is subscribed *before* the first read,
//! so a write landing between a read and the wait still wakes it: no event is
//! missed, and since the cursor only moves forward none is repeated. The first
//! page is read before the watch is returned, so a revision the log no longer
//! holds fails the request itself (gRPC OUT_OF_RANGE, HTTP 410) instead of a
//! stream that dies at once; if the log is compacted past a slow watcher
//! later, the stream ends with that same error. The stream also ends when the
//! server shuts down or the client goes away.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;
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

/// Starts a watch of `app` (every app when `None`) from `from`.
pub async fn watch<S: Store>(
    store: Arc<S>,
    from: WatchFrom,
    app: Option<String>,
    shutdown: CancellationToken,
) -> Result<TaskWatch, ApiError> {
    let mut changes = store.changes();
    let head_now = changes.borrow_and_update().events;
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
        let mut page: Option<EventPage> = Some(first);
        loop {
            let current = match page.take() {
                Some(p) => p,
                None => match store.events_after(cursor, PAGE).await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                },
            };
            let full = current.events.len() >= PAGE;
            for event in current.events {
                cursor = event.revision;
                if app.as_deref().is_some_and(|a| a != event.app) {
                    continue;
                }
                tokio::select! {
                    sent = tx.send(Ok(event)) => if sent.is_err() { return },
                    () = shutdown.cancelled() => return,
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = shutdown.cancelled() => return,
                () = tx.closed() => return,
            }
        }
    });
    Ok(TaskWatch { rx })
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
        let mut w = watch(
            Arc::clone(&store),
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
}
