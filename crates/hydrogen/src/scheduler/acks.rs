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
//! with the next batch at once. One background task sends them: what is
//! queued is taken in runs of up to [`PIPELINE_DEPTH`], each run written
//! back to back on one kept-alive connection
//! ([`Caller::call_many_in`], HTTP/1.1 pipelining), at most
//! [`Acknowledger::start`]'s `concurrency` runs in flight. One call and one
//! round trip per acknowledgement made them fall behind at 100,000 tasks
//! (200,000 acknowledgements for one deploy): the agents then re-sent their
//! updates after 10 s, which doubled the work on both sides.
//!
//! # Duplicates
//! An update Mesos re-sends while its acknowledgement is still queued here
//! is answered by that one: a second acknowledgement of the same uuid is
//! not queued (the master would ignore it; it only costs a call).
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

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// Acknowledgements written back to back on one connection, at most.
/// Large enough that a burst of updates takes few round trips, small
/// enough that the first of a run is not held long behind the last.
pub const PIPELINE_DEPTH: usize = 256;

/// Counts shared with the sender task.
#[derive(Default)]
struct Progress {
    queued: AtomicU64,
    /// Answered by Mesos, whether accepted or refused.
    finished: AtomicU64,
    failed: AtomicU64,
    /// Not queued: the same acknowledgement was already waiting.
    duplicates: AtomicU64,
    changed: Notify,
    /// (task, uuid) of every acknowledgement queued and not yet answered.
    waiting: Mutex<HashSet<(String, Bytes)>>,
}

impl Progress {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashSet<(String, Bytes)>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `acks` answered (or given up).
    fn finish(&self, acks: &[(Generation, Ack)], failed: u64) {
        {
            let mut waiting = self.waiting();
            for (_, (_, task, uuid)) in acks {
                waiting.remove(&(task.value.clone(), uuid.clone()));
            }
        }
        self.failed.fetch_add(failed, Ordering::Relaxed);
        self.finished
            .fetch_add(acks.len() as u64, Ordering::Release);
        self.changed.notify_waiters();
    }
}

/// Sends acknowledgements in the background; dropping it stops sending.
pub struct Acknowledger {
    tx: mpsc::UnboundedSender<(Generation, Ack)>,
    progress: Arc<Progress>,
    task: JoinHandle<()>,
}

impl Acknowledger {
    /// Starts the sender task: at most `concurrency` pipelined runs in
    /// flight.
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
            // Runs of what is queued now: at most PIPELINE_DEPTH, one
            // session each (a run is sent on one stream).
            let runs = futures_util::stream::poll_fn(move |cx| {
                let mut run = Vec::new();
                match rx.poll_recv_many(cx, &mut run, PIPELINE_DEPTH) {
                    std::task::Poll::Ready(0) => std::task::Poll::Ready(None),
                    std::task::Poll::Ready(_) => std::task::Poll::Ready(Some(run)),
                    std::task::Poll::Pending => std::task::Poll::Pending,
                }
            })
            .flat_map(|run| futures_util::stream::iter(split_by_session(run)));
            runs.for_each_concurrent(concurrency.max(1), |run| {
                let caller = caller.clone();
                let progress = shared.clone();
                async move {
                    let generation = run[0].0;
                    let calls = run
                        .iter()
                        .map(|(_, (agent, task, uuid))| {
                            calls::acknowledge(agent.clone(), task.clone(), uuid.clone())
                        })
                        .collect();
                    let results = caller.call_many_in(generation, calls).await;
                    let mut failed = 0;
                    for ((_, (_, task, _)), result) in run.iter().zip(&results) {
                        if let Err(e) = result {
                            // Mesos resends the update; nothing to do here.
                            debug!(task = %task.value, error = %e, "acknowledge failed");
                            failed += 1;
                        }
                    }
                    // A call without a result (never the case) counts failed.
                    failed += run.len().saturating_sub(results.len()) as u64;
                    metrics::counter!("hydrogen_acknowledgements_failed_total").increment(failed);
                    metrics::counter!("hydrogen_acknowledgements_total")
                        .increment(run.len() as u64 - failed);
                    progress.finish(&run, failed);
                }
            })
            .await;
        });
        Self { tx, progress, task }
    }

    /// Queues the acknowledgements of session `generation`. Call only once
    /// the statuses they answer are durably written. One already waiting
    /// for the same update (Mesos re-sent it) is not queued again.
    pub(crate) fn send(&self, generation: Generation, acks: Vec<Ack>) {
        let mut waiting = self.progress.waiting();
        for ack in acks {
            if !waiting.insert((ack.1.value.clone(), ack.2.clone())) {
                self.progress.duplicates.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("hydrogen_acknowledgements_deduplicated_total").increment(1);
                continue;
            }
            self.progress.queued.fetch_add(1, Ordering::Relaxed);
            if let Err(mpsc::error::SendError(item)) = self.tx.send((generation, ack)) {
                // The sender task is gone (shutting down): Mesos resends.
                waiting.remove(&(item.1.1.value.clone(), item.1.2.clone()));
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

    /// Acknowledgements not queued because the same one was waiting.
    pub fn duplicates(&self) -> u64 {
        self.progress.duplicates.load(Ordering::Relaxed)
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

/// Splits a run where the session changes: each part goes on its own
/// session's stream (or is refused as stale, as a whole).
fn split_by_session(run: Vec<(Generation, Ack)>) -> Vec<Vec<(Generation, Ack)>> {
    let mut parts: Vec<Vec<(Generation, Ack)>> = Vec::new();
    for item in run {
        match parts.last_mut() {
            Some(part) if part[0].0 == item.0 => part.push(item),
            _ => parts.push(vec![item]),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(generation: u64, task: &str) -> (Generation, Ack) {
        (
            Generation(generation),
            (
                calls::agent_id("a"),
                calls::task_id(task),
                Bytes::from_static(b"0123456789abcdef"),
            ),
        )
    }

    /// An acknowledgement queued twice before it is answered goes once;
    /// once answered (here refused: no session), the same one is queued
    /// again, for Mesos re-sends an update it did not see acknowledged.
    #[tokio::test]
    async fn an_acknowledgement_waiting_in_the_queue_is_not_queued_twice() {
        use crate::mesos::subscription::{Subscription, SubscriptionConfig};
        let url = reqwest::Url::parse("http://127.0.0.1:9").expect("literal url");
        let cancel = tokio_util::sync::CancellationToken::new();
        let (subscription, _events) = Subscription::start(
            SubscriptionConfig::new(vec![url], v1::FrameworkInfo::default()),
            cancel.clone(),
        )
        .expect("starts");
        let acks = Acknowledger::start(subscription.caller(), 4);
        let (a, b) = (ack(1, "t1").1, ack(1, "t2").1);
        acks.send(Generation(1), vec![a.clone(), b, a.clone()]);
        assert_eq!((acks.queued(), acks.duplicates()), (2, 1));
        acks.drained().await;
        assert_eq!(
            (acks.finished(), acks.failed()),
            (2, 2),
            "no session: refused"
        );
        acks.send(Generation(1), vec![a]);
        acks.drained().await;
        assert_eq!(
            (acks.queued(), acks.duplicates(), acks.finished()),
            (3, 1, 3)
        );
        cancel.cancel();
    }

    #[test]
    fn runs_are_split_where_the_session_changes() {
        let parts = split_by_session(vec![ack(1, "a"), ack(1, "b"), ack(2, "c"), ack(1, "d")]);
        let shape: Vec<(u64, usize)> = parts.iter().map(|p| (p[0].0.0, p.len())).collect();
        assert_eq!(shape, vec![(1, 2), (2, 1), (1, 1)]);
    }
}
