//! The app-write rules: given the stored record of an app (if any), what a
//! deploy, an update or a kill writes and what it answers. Pure functions of
//! the record, the request and the time, so that every backend (the memory
//! store under its lock, Redis inside its compare-and-set loop) and the API
//! decide alike: invariant 5 of the design (`docs/design.md#invariants`),
//! idempotent, versioned writes.

use super::StoreError;
use super::model::{AppGoal, AppRecord, differs_only_in_instances};
use crate::spec::App;

/// What a deploy did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created(AppRecord),
    /// The same spec was already deployed: nothing changed.
    Unchanged(AppRecord),
}

impl CreateOutcome {
    /// The app as stored after the deploy.
    pub fn record(&self) -> &AppRecord {
        match self {
            CreateOutcome::Created(r) | CreateOutcome::Unchanged(r) => r,
        }
    }
}

/// What an update or a kill did.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// A new version was written.
    Changed(AppRecord),
    /// The app already was as asked (the same spec, or already being
    /// killed): nothing was written, the version is kept.
    Unchanged(AppRecord),
}

impl UpdateOutcome {
    /// The app as stored after the call.
    pub fn record(&self) -> &AppRecord {
        match self {
            UpdateOutcome::Changed(r) | UpdateOutcome::Unchanged(r) => r,
        }
    }

    pub fn into_record(self) -> AppRecord {
        match self {
            UpdateOutcome::Changed(r) | UpdateOutcome::Unchanged(r) => r,
        }
    }

    /// Whether a new version was written.
    pub fn changed(&self) -> bool {
        matches!(self, UpdateOutcome::Changed(_))
    }
}

/// The record a decision writes, if it writes one: what a backend stores
/// (and compares-and-sets against the record it decided on).
pub trait Written {
    fn written(&self) -> Option<&AppRecord>;
}

impl Written for CreateOutcome {
    fn written(&self) -> Option<&AppRecord> {
        match self {
            CreateOutcome::Created(r) => Some(r),
            CreateOutcome::Unchanged(_) => None,
        }
    }
}

impl Written for UpdateOutcome {
    fn written(&self) -> Option<&AppRecord> {
        match self {
            UpdateOutcome::Changed(r) => Some(r),
            UpdateOutcome::Unchanged(_) => None,
        }
    }
}

/// Deploying `spec` over `existing`: version 1 when the name is free; the
/// same spec again changes nothing; another spec is a conflict (Update
/// changes an app), and an app being killed cannot be deployed until it is
/// gone.
pub fn create(
    existing: Option<&AppRecord>,
    spec: &App,
    now_ms: u64,
) -> Result<CreateOutcome, StoreError> {
    if let Some(existing) = existing {
        if existing.goal == AppGoal::Kill {
            return Err(StoreError::AppKilling(spec.name.clone()));
        }
        if existing.spec == *spec {
            return Ok(CreateOutcome::Unchanged(existing.clone()));
        }
        return Err(StoreError::AppConflict {
            name: spec.name.clone(),
            version: existing.version,
        });
    }
    Ok(CreateOutcome::Created(AppRecord {
        spec: spec.clone(),
        version: 1,
        config_version: 1,
        goal: AppGoal::Run,
        created_ms: now_ms,
        updated_ms: now_ms,
    }))
}

/// Replacing the spec of `existing` by `spec`: version + 1, and a new
/// config version unless only `instances` changed (a scale does not roll
/// the running tasks). The same spec changes nothing. `expected`, when
/// given, must be the stored version.
pub fn update(
    existing: Option<&AppRecord>,
    spec: &App,
    expected: Option<u64>,
    now_ms: u64,
) -> Result<UpdateOutcome, StoreError> {
    let existing = versioned(existing, &spec.name, expected)?;
    if existing.goal == AppGoal::Kill {
        return Err(StoreError::AppKilling(spec.name.clone()));
    }
    if existing.spec == *spec {
        return Ok(UpdateOutcome::Unchanged(existing.clone()));
    }
    let mut record = existing.clone();
    let scale_only = differs_only_in_instances(&record.spec, spec);
    record.spec = spec.clone();
    record.version += 1;
    if !scale_only {
        record.config_version = record.version;
    }
    record.updated_ms = now_ms;
    Ok(UpdateOutcome::Changed(record))
}

/// Killing `existing` (named `name`): version + 1 and goal Kill; an app
/// already being killed changes nothing. `expected`, when given, must be
/// the stored version.
pub fn kill(
    existing: Option<&AppRecord>,
    name: &str,
    expected: Option<u64>,
    now_ms: u64,
) -> Result<UpdateOutcome, StoreError> {
    let existing = versioned(existing, name, expected)?;
    if existing.goal == AppGoal::Kill {
        return Ok(UpdateOutcome::Unchanged(existing.clone()));
    }
    let mut record = existing.clone();
    record.goal = AppGoal::Kill;
    record.version += 1;
    record.updated_ms = now_ms;
    Ok(UpdateOutcome::Changed(record))
}

/// The stored app a versioned write applies to: it must exist, and be at
/// `expected` when one is given.
fn versioned<'a>(
    existing: Option<&'a AppRecord>,
    name: &str,
    expected: Option<u64>,
) -> Result<&'a AppRecord, StoreError> {
    let existing = existing.ok_or_else(|| StoreError::AppNotFound(name.to_string()))?;
    existing.check_version(expected)?;
    Ok(existing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str, cmd: &str, instances: u32) -> App {
        crate::spec::parse_app(
            format!(
                r#"{{"name": "{name}", "resources": {{"cpu": 0.1, "mem": 32}}, "instances": {instances}, "command": {{"cmd": "{cmd}"}}}}"#
            )
            .as_bytes(),
        )
        .expect("valid app")
    }

    fn created(spec: &App) -> AppRecord {
        match create(None, spec, 10) {
            Ok(CreateOutcome::Created(r)) => r,
            other => panic!("expected a creation, got {other:?}"),
        }
    }

    #[test]
    fn a_deploy_creates_once_and_refuses_another_spec_or_a_killed_app() {
        let web = app("web", "sleep 1", 1);
        let record = created(&web);
        assert_eq!((record.version, record.config_version), (1, 1));
        assert_eq!((record.created_ms, record.updated_ms), (10, 10));
        assert!(create(Some(&record), &web, 20).is_ok_and(|o| o.written().is_none()));
        assert_eq!(
            create(Some(&record), &app("web", "sleep 2", 1), 20),
            Err(StoreError::AppConflict {
                name: "web".into(),
                version: 1
            })
        );
        let killing = kill(Some(&record), "web", None, 20)
            .expect("kill")
            .into_record();
        assert_eq!(
            create(Some(&killing), &web, 30),
            Err(StoreError::AppKilling("web".into()))
        );
    }

    #[test]
    fn an_update_says_whether_it_changed_anything_and_a_scale_keeps_the_config_version() {
        let web = app("web", "sleep 1", 1);
        let record = created(&web);
        let same = update(Some(&record), &web, Some(1), 20).expect("same spec");
        assert!(!same.changed() && same.written().is_none());
        assert_eq!(same.record(), &record);

        let scaled = update(Some(&record), &app("web", "sleep 1", 3), Some(1), 20).expect("scale");
        assert!(scaled.changed());
        let scaled = scaled.into_record();
        assert_eq!((scaled.version, scaled.config_version), (2, 1));
        assert_eq!((scaled.created_ms, scaled.updated_ms), (10, 20));

        let changed = update(Some(&scaled), &app("web", "sleep 2", 3), None, 30)
            .expect("new command")
            .into_record();
        assert_eq!((changed.version, changed.config_version), (3, 3));

        assert_eq!(
            update(Some(&changed), &web, Some(1), 40),
            Err(StoreError::VersionMismatch {
                name: "web".into(),
                expected: 1,
                actual: 3
            })
        );
        assert_eq!(
            update(None, &web, None, 40),
            Err(StoreError::AppNotFound("web".into()))
        );
    }

    #[test]
    fn a_kill_is_versioned_and_idempotent() {
        let record = created(&app("web", "sleep 1", 1));
        assert_eq!(
            kill(None, "web", None, 20),
            Err(StoreError::AppNotFound("web".into()))
        );
        assert!(matches!(
            kill(Some(&record), "web", Some(2), 20),
            Err(StoreError::VersionMismatch { .. })
        ));
        let killed = kill(Some(&record), "web", Some(1), 20).expect("kill");
        assert!(killed.changed());
        let killed = killed.into_record();
        assert_eq!((killed.goal, killed.version), (AppGoal::Kill, 2));
        let again = kill(Some(&killed), "web", None, 30).expect("again");
        assert_eq!(again, UpdateOutcome::Unchanged(killed.clone()));
        assert_eq!(
            update(Some(&killed), &app("web", "sleep 1", 1), None, 30),
            Err(StoreError::AppKilling("web".into()))
        );
    }
}
