//! The standby's copy of what a new leader loads: every app, task and
//! status, kept current on an instance that does not lead, so that taking
//! over reads only what changed since its last refresh (one
//! [`Store::view_delta`]) instead of every record (at 100,000 tasks on
//! Redis the whole read is about 0.3 s of a failover).
//!
//! Correctness never rests on how current the copy is: the leader's load
//! ([`Standby::take`]) brings it up to date with the store first, after the
//! lease was taken, exactly as a fresh [`Store::view_snapshot`] would be; a
//! delta the store cannot give (history out of reach) falls back to that
//! whole read. The copy is handed over, not kept, so a leader holds one
//! copy of its state, and a standby rebuilds its own after losing the lease.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::store::{
    AppSlice, LeaderInfo, Store, StoreError, ViewDelta, ViewRevision, ViewSnapshot,
};

/// After a change, how long the standby waits before reading it, so a
/// burst of writes (a deploy's status updates) costs one read, not one per
/// write.
const BATCH_CHANGES: Duration = Duration::from_secs(1);

/// A read even without a change notification: the notifications do not
/// cover every field a task record has.
const REFRESH_AT_LEAST_EVERY: Duration = Duration::from_secs(5);

/// Every app's record, tasks and status at `revision`, by app name.
#[derive(Debug, Default)]
struct Copy {
    revision: ViewRevision,
    apps: BTreeMap<String, AppSlice>,
}

impl Copy {
    fn from_snapshot(snapshot: ViewSnapshot) -> Self {
        Self {
            revision: snapshot.revision,
            apps: snapshot.into_slices(),
        }
    }

    fn advance(&mut self, delta: ViewDelta) {
        self.revision = delta.apply_to(&mut self.apps, |slice| slice);
    }

    /// The copy in the order [`Store::view_snapshot`] gives: apps by name,
    /// tasks by app, instance and task id.
    fn into_snapshot(self) -> ViewSnapshot {
        ViewSnapshot::from_slices(self.revision, self.apps)
    }
}

/// The standby's copy (see the module docs). One per instance, shared by
/// its election loop (which keeps it current while another instance
/// leads) and the scheduler it starts on winning (which takes it).
#[derive(Debug, Default)]
pub struct Standby {
    copy: Mutex<Option<Copy>>,
}

impl Standby {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Brings `copy` up to date: one delta, or the whole state when there
    /// is no copy yet or the store cannot say what changed since it.
    async fn bring_up_to_date<S: Store>(
        copy: &mut Option<Copy>,
        store: &S,
    ) -> Result<(), StoreError> {
        if let Some(held) = copy.as_mut() {
            if let Some(delta) = store.view_delta(held.revision).await? {
                held.advance(delta);
                return Ok(());
            }
            debug!("the store cannot say what changed since the standby's copy; reading it all");
        }
        *copy = Some(Copy::from_snapshot(store.view_snapshot().await?));
        Ok(())
    }

    /// Reads what changed since the last refresh.
    pub async fn refresh<S: Store>(&self, store: &S) -> Result<(), StoreError> {
        let mut copy = self.copy.lock().await;
        Self::bring_up_to_date(&mut copy, store).await
    }

    /// The state as the store holds it now, for a new leader: the copy
    /// brought up to date and handed over (the standby keeps none).
    pub async fn take<S: Store>(&self, store: &S) -> Result<ViewSnapshot, StoreError> {
        let mut copy = self.copy.lock().await;
        Self::bring_up_to_date(&mut copy, store).await?;
        Ok(copy.take().map(Copy::into_snapshot).unwrap_or_default())
    }

    /// Whether a copy is held.
    #[cfg(test)]
    async fn is_warm(&self) -> bool {
        self.copy.lock().await.is_some()
    }

    /// Keeps the copy current while this instance does not lead (another
    /// does, or nobody yet), until `cancel`. While it leads the copy is
    /// the scheduler's and nothing is read here.
    pub async fn follow<S: Store>(
        self: Arc<Self>,
        store: Arc<S>,
        mut leadership: watch::Receiver<Option<LeaderInfo>>,
        cancel: CancellationToken,
    ) {
        let mut changes = store.changes();
        loop {
            if leadership.borrow_and_update().is_some() {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    changed = leadership.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        continue;
                    }
                }
            }
            // Seen before the read, so a change made during it wakes the
            // next one instead of waiting for the periodic refresh.
            changes.borrow_and_update();
            if let Err(e) = self.refresh(store.as_ref()).await {
                warn!(error = %e, "the standby could not refresh its copy of the state; a takeover will read it all");
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = changes.changed() => {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(BATCH_CHANGES) => {}
                    }
                }
                _ = leadership.changed() => {}
                _ = tokio::time::sleep(REFRESH_AT_LEAST_EVERY) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{TTL, app, lead, task};
    use crate::store::memory::MemoryStore;
    use crate::store::{AppStatus, Epoch, TaskBatch, TaskState};

    async fn write(store: &MemoryStore, epoch: Epoch, batch: TaskBatch) {
        store.apply(epoch, batch).await.expect("written");
    }

    fn tasks(app: &str, n: u32, state: TaskState) -> TaskBatch {
        TaskBatch {
            upserts: (0..n)
                .map(|i| Arc::new(task(app, i, &format!("{app}.{i}"), state)))
                .collect(),
            ..TaskBatch::default()
        }
    }

    fn status(app: &str, waiting: u32) -> TaskBatch {
        TaskBatch {
            statuses: vec![Arc::new(AppStatus {
                app: app.into(),
                waiting,
                ..AppStatus::default()
            })],
            ..TaskBatch::default()
        }
    }

    /// What the standby hands over equals a fresh snapshot however the
    /// store moved since its copy: tasks changed and added, an app
    /// removed, a status written, an app created.
    #[tokio::test]
    async fn the_copy_handed_over_is_the_store_now() {
        let store = MemoryStore::new(1024);
        let epoch = lead(&store).await;
        store
            .create_apps(vec![app("web", "sleep 1"), app("db", "sleep 1")])
            .await
            .expect("created");
        write(&store, epoch, tasks("web", 3, TaskState::TaskStaging)).await;
        write(&store, epoch, tasks("db", 2, TaskState::TaskRunning)).await;
        let standby = Standby::new();
        standby.refresh(&store).await.expect("first read");
        assert!(standby.is_warm().await);

        write(&store, epoch, tasks("web", 4, TaskState::TaskRunning)).await;
        write(&store, epoch, status("web", 1)).await;
        store.kill_app("db", None).await.expect("kill requested");
        write(
            &store,
            epoch,
            TaskBatch {
                removals: vec!["db.0".into(), "db.1".into()],
                app_removals: vec!["db".into()],
                ..TaskBatch::default()
            },
        )
        .await;
        store
            .create_app(app("cache", "sleep 1"))
            .await
            .expect("created");

        let taken = standby.take(&store).await.expect("taken");
        let fresh = store.view_snapshot().await.expect("snapshot");
        assert_eq!(taken, fresh);
        assert_eq!(taken.tasks.len(), 4);
        assert!(!standby.is_warm().await, "the leader holds the only copy");
    }

    /// A copy older than the store's change history is read again whole.
    #[tokio::test]
    async fn a_copy_beyond_the_store_history_is_read_again() {
        let store = MemoryStore::new(1024);
        store
            .create_app(app("web", "sleep 1"))
            .await
            .expect("created");
        let standby = Standby::new();
        standby.refresh(&store).await.expect("first read");
        let held = store.view_revision().await.expect("revision");
        // More apps come and go than the memory store's view history
        // keeps (the live apps' entries and 1,024 more).
        let names: Vec<String> = (0..1_500).map(|i| format!("gone-{i}")).collect();
        let specs = names.iter().map(|n| app(n, "sleep 1")).collect();
        store.create_apps(specs).await.expect("created");
        let epoch = lead(&store).await;
        let removal = TaskBatch {
            app_removals: names,
            ..TaskBatch::default()
        };
        write(&store, epoch, removal).await;
        assert!(
            store.view_delta(held).await.expect("answers").is_none(),
            "the store cannot say what changed since the copy"
        );
        let taken = standby.take(&store).await.expect("taken");
        assert_eq!(taken, store.view_snapshot().await.expect("snapshot"));
    }

    /// The standby follows the store while nobody leads here, and reads
    /// nothing once this instance leads. (Paused time: the pauses of the
    /// loop pass at once when nothing else is ready.)
    #[tokio::test(start_paused = true)]
    async fn it_follows_only_while_another_instance_leads() {
        let store = Arc::new(MemoryStore::new(1024));
        let (leadership, _) = watch::channel(None);
        let standby = Standby::new();
        let cancel = CancellationToken::new();
        let following = tokio::spawn(Arc::clone(&standby).follow(
            store.clone(),
            leadership.subscribe(),
            cancel.clone(),
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !standby.is_warm().await {
            assert!(tokio::time::Instant::now() < deadline, "never read");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let lease = store
            .acquire_lease("me", "me:1", TTL)
            .await
            .expect("lease")
            .expect("free");
        leadership.send_replace(Some(lease));
        let _ = standby.take(store.as_ref()).await.expect("taken");
        store
            .create_app(app("web", "sleep 1"))
            .await
            .expect("created");
        // Past a batching pause and a periodic refresh: still no copy.
        tokio::time::sleep(REFRESH_AT_LEAST_EVERY + BATCH_CHANGES).await;
        assert!(!standby.is_warm().await, "nothing read while leading");
        leadership.send_replace(None);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !standby.is_warm().await {
            assert!(tokio::time::Instant::now() < deadline, "never resumed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cancel.cancel();
        following.await.expect("ends");
    }
}
