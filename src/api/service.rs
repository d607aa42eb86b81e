//! The API core: what Deploy, Kill, Update, State, ListAll and readiness do,
//! in domain types. Both faces (gRPC in `grpc.rs`, REST in `rest.rs`) parse
//! their input into these calls and render the results; neither talks to the
//! store directly, so they cannot disagree (invariant 4: any instance serves
//! the API, reads from the store, writes validated specs to it).

use std::sync::Arc;

use crate::spec::App;
use crate::store::{
    AppGoal, AppRecord, AppStatus, CreateOutcome, LeaderInfo, Store, TaskRecord, TaskState,
};

use super::error::ApiError;

/// The outcome of deploying one app.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// The app as stored after the call.
    pub record: AppRecord,
    /// False when the same spec was already deployed (nothing changed).
    pub created: bool,
}

impl Deployed {
    /// The original Hydrogen's success message.
    pub fn message(&self) -> String {
        if self.created {
            format!("Task {} successfully queued", self.record.name())
        } else {
            format!(
                "Task {} successfully queued (unchanged: the same spec is deployed at version {})",
                self.record.name(),
                self.record.version
            )
        }
    }
}

/// The outcome of an update.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The app as stored after the call.
    pub record: AppRecord,
    /// False when the spec was the same (nothing changed).
    pub changed: bool,
}

/// One app with what Hydrogen observes of it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppView {
    /// The app as stored.
    pub record: AppRecord,
    /// Its tasks, by instance.
    pub tasks: Vec<TaskRecord>,
    /// The scheduler's account of it (why tasks wait), if any yet.
    pub status: Option<AppStatus>,
}

impl AppView {
    /// Tasks in TASK_RUNNING.
    pub fn running(&self) -> u32 {
        let n = self
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::TaskRunning)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The one-word state the original REST API reported for an app:
    /// `TASK_KILLING` while killed; `TASK_RUNNING` when every instance runs;
    /// else the state of the first (by instance) live task that is not
    /// running; `TASK_STAGING` when tasks are still missing; `TASK_FINISHED`
    /// for an app scaled to zero with nothing left.
    pub fn summary_state(&self) -> &'static str {
        if self.record.goal == AppGoal::Kill {
            return TaskState::TaskKilling.as_str();
        }
        let live: Vec<&TaskRecord> = self
            .tasks
            .iter()
            .filter(|t| !t.state.is_terminal())
            .collect();
        if self.record.spec.instances == 0 && live.is_empty() {
            return TaskState::TaskFinished.as_str();
        }
        if let Some(t) = live.iter().find(|t| t.state != TaskState::TaskRunning) {
            return t.state.as_str();
        }
        if self.running() >= self.record.spec.instances {
            TaskState::TaskRunning.as_str()
        } else {
            TaskState::TaskStaging.as_str()
        }
    }
}

/// What `/readyz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The lease holder, if any.
    pub leader: Option<LeaderInfo>,
    /// Whether this instance holds the lease.
    pub is_leader: bool,
}

/// See the module docs. Cheap to clone.
pub struct ApiService<S> {
    store: Arc<S>,
    instance_id: String,
}

impl<S> Clone for ApiService<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            instance_id: self.instance_id.clone(),
        }
    }
}

impl<S: Store> ApiService<S> {
    /// A core over `store`, for the instance `instance_id` (compared with the
    /// lease holder for readiness).
    pub fn new(store: Arc<S>, instance_id: impl Into<String>) -> Self {
        Self {
            store,
            instance_id: instance_id.into(),
        }
    }

    /// The store (for the watch).
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// Deploys validated apps. Conflicts are checked for every app before
    /// any is written, so a request with one conflicting app writes nothing
    /// (up to a concurrent write racing between the check and the writes; the
    /// error then names the app that lost).
    pub async fn deploy(&self, apps: Vec<App>) -> Result<Vec<Deployed>, ApiError> {
        for app in &apps {
            if let Some(existing) = self.store.get_app(&app.name).await? {
                if existing.goal == AppGoal::Kill {
                    return Err(crate::store::StoreError::AppKilling(app.name.clone()).into());
                }
                if existing.spec != *app {
                    return Err(crate::store::StoreError::AppConflict {
                        name: app.name.clone(),
                        version: existing.version,
                    }
                    .into());
                }
            }
        }
        let mut out = Vec::with_capacity(apps.len());
        for app in apps {
            let deployed = match self.store.create_app(app).await? {
                CreateOutcome::Created(record) => Deployed {
                    record,
                    created: true,
                },
                CreateOutcome::Unchanged(record) => Deployed {
                    record,
                    created: false,
                },
            };
            tracing::info!(
                app = deployed.record.name(),
                version = deployed.record.version,
                created = deployed.created,
                "app deployed"
            );
            out.push(deployed);
        }
        Ok(out)
    }

    /// Replaces an app's spec.
    pub async fn update(
        &self,
        app: App,
        expected_version: Option<u64>,
    ) -> Result<Updated, ApiError> {
        let before = self.store.get_app(&app.name).await?.map(|r| r.version);
        let record = self.store.update_app(app, expected_version).await?;
        let changed = before != Some(record.version);
        tracing::info!(
            app = record.name(),
            version = record.version,
            changed,
            "app updated"
        );
        Ok(Updated { record, changed })
    }

    /// Asks for an app to be killed.
    pub async fn kill(
        &self,
        name: &str,
        expected_version: Option<u64>,
    ) -> Result<AppRecord, ApiError> {
        check_name(name)?;
        let record = self.store.kill_app(name, expected_version).await?;
        tracing::info!(app = name, version = record.version, "app kill requested");
        Ok(record)
    }

    /// One app with its tasks and status.
    pub async fn state(&self, name: &str) -> Result<AppView, ApiError> {
        check_name(name)?;
        let record = self
            .store
            .get_app(name)
            .await?
            .ok_or_else(|| crate::store::StoreError::AppNotFound(name.to_owned()))?;
        let tasks = self.store.app_tasks(name).await?;
        let status = self.store.app_status(name).await?;
        Ok(AppView {
            record,
            tasks,
            status,
        })
    }

    /// Every task.
    pub async fn list_all(&self) -> Result<Vec<TaskRecord>, ApiError> {
        Ok(self.store.list_tasks().await?)
    }

    /// Whether the store answers, and who leads.
    pub async fn readiness(&self) -> Result<Readiness, ApiError> {
        let leader = self.store.leader().await?;
        let is_leader = leader
            .as_ref()
            .is_some_and(|l| l.instance_id == self.instance_id);
        Ok(Readiness { leader, is_leader })
    }
}

/// An app name given to Kill or State must at least be present; the store
/// answers NOT_FOUND for names that cannot exist.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::BadRequest {
            field: Some("name".into()),
            message: "is required".into(),
        });
    }
    Ok(())
}
