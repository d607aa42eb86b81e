//! [`Timed`]: a [`Store`] that measures every operation of the store it
//! wraps into `hydrogen_store_operation_duration_seconds{backend, op,
//! outcome}`, so both backends are measured the same way and neither the
//! API nor the scheduler has to time its own calls.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{
    AppRecord, AppStatus, Changes, CreateOutcome, Epoch, EventPage, LeaderInfo, LeaseAttempt,
    MesosLink, Store, StoreError, TaskBatch, TaskEvent, TaskRecord, ViewDelta, ViewRevision,
    ViewSnapshot,
};
use crate::spec::App;

const METRIC: &str = "hydrogen_store_operation_duration_seconds";

/// Wraps a store and times its operations.
#[derive(Debug)]
pub struct Timed<S> {
    inner: S,
    backend: &'static str,
}

impl<S: Store> Timed<S> {
    /// Times `inner`'s operations under the `backend` label (`memory`, `redis`).
    pub fn new(inner: S, backend: &'static str) -> Self {
        Self { inner, backend }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => outcome(e),
        };
        metrics::histogram!(METRIC, "backend" => self.backend, "op" => op, "outcome" => outcome)
            .record(start.elapsed().as_secs_f64());
        result
    }
}

/// The outcome label of a failed operation: the error's kind, never its
/// text (which may name apps: unbounded label values).
fn outcome(e: &StoreError) -> &'static str {
    match e {
        StoreError::AppNotFound(_) => "not_found",
        StoreError::AppConflict { .. } => "conflict",
        StoreError::VersionMismatch { .. } => "version_mismatch",
        StoreError::AppKilling(_) => "killing",
        StoreError::Fenced { .. } => "fenced",
        StoreError::Compacted { .. } => "compacted",
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Corrupt(_) => "corrupt",
    }
}

impl<S: Store> Store for Timed<S> {
    async fn create_app(&self, spec: App) -> Result<CreateOutcome, StoreError> {
        self.timed("create_app", self.inner.create_app(spec)).await
    }

    async fn create_apps(&self, specs: Vec<App>) -> Result<Vec<CreateOutcome>, StoreError> {
        self.timed("create_apps", self.inner.create_apps(specs))
            .await
    }

    async fn update_app(
        &self,
        spec: App,
        expected_version: Option<u64>,
    ) -> Result<super::UpdateOutcome, StoreError> {
        self.timed("update_app", self.inner.update_app(spec, expected_version))
            .await
    }

    async fn kill_app(
        &self,
        name: &str,
        expected_version: Option<u64>,
    ) -> Result<AppRecord, StoreError> {
        self.timed("kill_app", self.inner.kill_app(name, expected_version))
            .await
    }

    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        self.timed("get_app", self.inner.get_app(name)).await
    }

    async fn list_apps(&self) -> Result<Vec<Arc<AppRecord>>, StoreError> {
        self.timed("list_apps", self.inner.list_apps()).await
    }

    async fn list_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.timed("list_tasks", self.inner.list_tasks()).await
    }

    async fn app_tasks(&self, app: &str) -> Result<Vec<TaskRecord>, StoreError> {
        self.timed("app_tasks", self.inner.app_tasks(app)).await
    }

    async fn view_revision(&self) -> Result<ViewRevision, StoreError> {
        self.timed("view_revision", self.inner.view_revision())
            .await
    }

    async fn view_snapshot(&self) -> Result<ViewSnapshot, StoreError> {
        self.timed("view_snapshot", self.inner.view_snapshot())
            .await
    }

    async fn view_delta(&self, since: ViewRevision) -> Result<Option<ViewDelta>, StoreError> {
        self.timed("view_delta", self.inner.view_delta(since)).await
    }

    async fn apply(&self, epoch: Epoch, batch: TaskBatch) -> Result<Vec<TaskEvent>, StoreError> {
        self.timed("apply", self.inner.apply(epoch, batch)).await
    }

    async fn app_statuses(&self) -> Result<Vec<Arc<AppStatus>>, StoreError> {
        self.timed("app_statuses", self.inner.app_statuses()).await
    }

    async fn set_mesos_link(&self, epoch: Epoch, subscribed: bool) -> Result<(), StoreError> {
        self.timed(
            "set_mesos_link",
            self.inner.set_mesos_link(epoch, subscribed),
        )
        .await
    }

    async fn mesos_link(&self) -> Result<Option<MesosLink>, StoreError> {
        self.timed("mesos_link", self.inner.mesos_link()).await
    }

    async fn app_status(&self, app: &str) -> Result<Option<AppStatus>, StoreError> {
        self.timed("app_status", self.inner.app_status(app)).await
    }

    async fn framework_id(&self) -> Result<Option<String>, StoreError> {
        self.timed("framework_id", self.inner.framework_id()).await
    }

    async fn set_framework_id(&self, epoch: Epoch, id: &str) -> Result<(), StoreError> {
        self.timed("set_framework_id", self.inner.set_framework_id(epoch, id))
            .await
    }

    async fn events_after(&self, after: u64, limit: usize) -> Result<EventPage, StoreError> {
        self.timed("events_after", self.inner.events_after(after, limit))
            .await
    }

    fn changes(&self) -> watch::Receiver<Changes> {
        self.inner.changes()
    }

    async fn try_acquire_lease(
        &self,
        instance_id: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<LeaseAttempt, StoreError> {
        self.timed(
            "acquire_lease",
            self.inner.try_acquire_lease(instance_id, address, ttl),
        )
        .await
    }

    async fn renew_lease(&self, lease: &LeaderInfo, ttl: Duration) -> Result<bool, StoreError> {
        self.timed("renew_lease", self.inner.renew_lease(lease, ttl))
            .await
    }

    async fn release_lease(&self, lease: &LeaderInfo) -> Result<(), StoreError> {
        self.timed("release_lease", self.inner.release_lease(lease))
            .await
    }

    async fn leader(&self) -> Result<Option<LeaderInfo>, StoreError> {
        self.timed("leader", self.inner.leader()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    /// The wrapper is transparent: the whole backend suite passes through it.
    mod conformance {
        use super::*;
        crate::store::conformance::conformance_tests!(async {
            ((), Timed::new(MemoryStore::new(8), "memory"))
        });
    }

    #[test]
    fn outcomes_are_error_kinds_not_messages() {
        let outcomes = [
            StoreError::AppNotFound("a".into()),
            StoreError::AppConflict {
                name: "a".into(),
                version: 1,
            },
            StoreError::VersionMismatch {
                name: "a".into(),
                expected: 1,
                actual: 2,
            },
            StoreError::AppKilling("a".into()),
            StoreError::Fenced {
                offered: Epoch(1),
                current: Epoch(2),
            },
            StoreError::Compacted {
                requested: 1,
                oldest: 2,
            },
            StoreError::Unavailable("x".into()),
            StoreError::Corrupt("x".into()),
        ]
        .map(|e| outcome(&e));
        let distinct: std::collections::BTreeSet<_> = outcomes.iter().collect();
        assert_eq!(distinct.len(), outcomes.len(), "{outcomes:?}");
    }
}
