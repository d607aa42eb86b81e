//! The ACKNOWLEDGE pipeline: status update acknowledgements sent in the
//! background, a bounded number at a time, so the event loop never waits
//! for them.
//!
//! # Why a pipeline
//! Mesos sends a task's next status update only once the previous one is
//! acknowledged (the agent's status update manager keeps one in flight
//! per task), and the v1 API has one HTTP call per acknowledgement. When
//! the event loop awaited its batch's ACKNOWLEDGE calls before reading
//! the next batch, every STARTING → RUNNING step of a large deploy paid a
//! full batch round trip (store write, then up to 512 calls, then the
//! slowest of them) before the next batch could even be read.
//!
//! Now the loop hands the acknowledgements of a batch to an
//! [`Acknowledger`] *after* the batch's store write returned, and goes on
//! with the next batch at once. One background task sends them, at most
//! [`Acknowledger::start`]'s `concurrency` in flight, over the caller's
//! keep-alive connection pool.
//!
//! # The invariant
//! An acknowledgement is only ever queued after the status it answers was
//! durably written ([`super::runtime`] queues after `Store::apply`
//! returned Ok; a failed write ends the loop and its acknowledgements are
//! dropped, so Mesos resends the update to the next leader). Each one is
//! tied to the Mesos session it belongs to and is not sent on a later one
//! (the update will be resent there anyway).
//!
//! # Losing acknowledgements is safe
//! An acknowledgement that fails, or that is still queued when the
//! leadership term ends, is not retried: Mesos retries the update itself
//! (with backoff) until it is acknowledged, and the scheduler's handling
//! of a repeated update is idempotent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::mesos::calls;
use crate::mesos::subscription::{Caller, Generation};
use crate::mesos::v1;

/// One acknowledgement: the update's agent, task and uuid.
pub(crate) type Ack = (v1::AgentId, v1::TaskId, Bytes);

/// Counts shared with the sender task.
#[derive(Default)]
struct Progress {
    queued: AtomicU64,
    /// Answered by Mesos, whether accepted or refused.
    finished: AtomicU64,
    failed: AtomicU64,
    changed: Notify,
}

/// Sends acknowledgements in the background; dropping it stops sending.
pub struct Acknowledger {
    tx: mpsc::UnboundedSender<(Generation, Ack)>,
    progress: Arc<Progress>,
    task: JoinHandle<()>,
}

impl Acknowledger {
    /// Starts the sender task: at most `concurrency` calls in flight.
    ///
    /// The queue is unbounded on purpose: Mesos keeps one update per task
    /// in flight, so it never holds much more than one acknowledgement per
    /// task, and a bounded queue would make the event loop wait for Mesos,
    /// which is what this type exists to avoid.
    pub fn start(caller: Caller, concurrency: usize) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Generation, Ack)>();
        let progress = Arc::new(Progress::default());
        let shared = progress.clone();
        let task = tokio::spawn(async move {
            futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
                .for_each_concurrent(concurrency.max(1), |(generation, (agent, task, uuid))| {
                    let caller = caller.clone();
                    let progress = shared.clone();
                    async move {
                        let id = task.value.clone();
                        let result = caller
                            .call_in(generation, calls::acknowledge(agent, task, uuid))
                            .await;
                        if let Err(e) = result {
                            // Mesos resends the update; nothing to do here.
                            debug!(task = %id, error = %e, "acknowledge failed");
                            progress.failed.fetch_add(1, Ordering::Relaxed);
                            metrics::counter!("hydrogen_acknowledgements_failed_total")
                                .increment(1);
                        } else {
                            metrics::counter!("hydrogen_acknowledgements_total").increment(1);
                        }
                        progress.finished.fetch_add(1, Ordering::Release);
                        progress.changed.notify_waiters();
                    }
                })
                .await;
        });
        Self { tx, progress, task }
    }

    /// Queues the acknowledgements of session `generation`. Call only once
    /// the statuses they answer are durably written.
    pub(crate) fn send(&self, generation: Generation, acks: Vec<Ack>) {
        for ack in acks {
            self.progress.queued.fetch_add(1, Ordering::Relaxed);
            if self.tx.send((generation, ack)).is_err() {
                // The sender task is gone (shutting down): Mesos resends.
                self.progress.finished.fetch_add(1, Ordering::Release);
                self.progress.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Acknowledgements queued so far.
    pub fn queued(&self) -> u64 {
        self.progress.queued.load(Ordering::Relaxed)
    }

    /// Acknowledgements answered so far (sent or given up).
    pub fn finished(&self) -> u64 {
        self.progress.finished.load(Ordering::Acquire)
    }

    /// Acknowledgements that failed (transport error, refused, stale session).
    pub fn failed(&self) -> u64 {
        self.progress.failed.load(Ordering::Relaxed)
    }

    /// Waits until every acknowledgement queued before the call was answered.
    pub async fn drained(&self) {
        let target = self.queued();
        loop {
            let notified = self.progress.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a notification in between is
            // not lost.
            notified.as_mut().enable();
            if self.finished() >= target {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Acknowledger {
    fn drop(&mut self) {
        self.task.abort();
    }
}
