//! Why an app is not (fully) running, in words a user understands: the
//! one-line `message` of its [`crate::store::AppStatus`] and the names of
//! the placement rules that rejected offers. Pure text, kept apart from the
//! decisions so the wording can change without touching them.

use std::collections::BTreeMap;

use super::placement;
use crate::spec::App;

/// Rejection counts under names a user understands.
pub fn rejection_reasons(app: &App, r: &placement::Rejections) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut push = |name: String, n: u32| {
        if n > 0 {
            out.push((name, n));
        }
    };
    push(
        format!(
            "no resources for role {}",
            app.resources
                .role
                .as_deref()
                .unwrap_or("(the framework's first)")
        ),
        r.role,
    );
    for (index, n) in &r.filter_failures {
        let what = app.filters.get(*index).map_or_else(String::new, |f| {
            let attribute = f.attribute.as_deref().unwrap_or("any attribute");
            format!(
                " ({} on {attribute})",
                format!("{:?}", f.kind).to_uppercase()
            )
        });
        push(format!("filter {index}{what}"), *n);
    }
    push(
        "UNIQUE: agent already runs a task of the app".into(),
        r.unique,
    );
    // Unreserved resources do not count for such an app: say so, or a user
    // looking at an agent's free cpus would not understand.
    let reserved = if app.resources.reserved_only == Some(true) {
        "reserved "
    } else {
        ""
    };
    push(format!("insufficient {reserved}cpu"), r.cpu);
    push(format!("insufficient {reserved}mem"), r.mem);
    push(format!("insufficient {reserved}disk"), r.disk);
    push(format!("insufficient {reserved}ports"), r.ports);
    out
}

/// Whether an app waits out a relaunch backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    No,
    Off,
    /// Gave up after this many consecutive failures (`retry.total_retries`).
    GaveUp(u32),
}

/// Where a rolling update stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Ready tasks of the current version.
    pub updated: u32,
    pub instances: u32,
    pub version: u64,
    /// Replacing in place (no room beside the old tasks).
    pub in_place: bool,
    /// Paused after this many failures of new-version tasks.
    pub paused_after: Option<u32>,
}

impl Progress {
    pub fn describe(&self) -> String {
        let Progress {
            updated,
            instances,
            version,
            ..
        } = *self;
        let head = format!("rolling update: {updated} of {instances} on version {version}");
        if let Some(failures) = self.paused_after {
            return format!(
                "{head}; paused: {failures} new-version tasks failed, the old ones keep running \
                 (update the app again to resume, or PUT the previous spec to roll back)"
            );
        }
        if self.in_place {
            format!(
                "{head}; no room beside the old tasks: replacing them in place, \
                 waiting for the next new task to become ready"
            )
        } else {
            format!("{head}; waiting for the next new task to become ready")
        }
    }
}

/// One line telling a user why an app's tasks wait, or how its update goes.
pub fn status_message(
    waiting: u32,
    backing: Backing,
    rejections: &BTreeMap<String, u64>,
    launch_error: Option<&String>,
    launch_allowed: bool,
    progress: Option<Progress>,
) -> String {
    let waiting_line = waiting_message(waiting, backing, rejections, launch_error, launch_allowed);
    match (progress, waiting_line.is_empty()) {
        (Some(p), true) => p.describe(),
        (Some(p), false) => format!("{}; {waiting_line}", p.describe()),
        (None, _) => waiting_line,
    }
}

fn waiting_message(
    waiting: u32,
    backing: Backing,
    rejections: &BTreeMap<String, u64>,
    launch_error: Option<&String>,
    launch_allowed: bool,
) -> String {
    if waiting == 0 {
        return String::new();
    }
    if let Some(e) = launch_error {
        return format!("{waiting} task(s) wait: the task cannot be built: {e}");
    }
    if !launch_allowed {
        return format!(
            "{waiting} task(s) wait: the scheduler is (re)connecting to Mesos and reconciling"
        );
    }
    match backing {
        Backing::No => {}
        Backing::Off => {
            return format!("{waiting} task(s) wait: relaunch backoff after failures");
        }
        Backing::GaveUp(failures) => {
            return format!(
                "{waiting} task(s) wait: relaunches stopped after {failures} consecutive failures \
                 (retry.total_retries); fix and update the app to start again"
            );
        }
    }
    match rejections.iter().max_by_key(|(_, n)| **n) {
        Some((reason, n)) => {
            format!("{waiting} task(s) wait: {n} recent offers rejected, mostly for {reason}")
        }
        None => format!("{waiting} task(s) wait for offers"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_and_waiting_read_as_one_line() {
        let p = Progress {
            updated: 3,
            instances: 5,
            version: 2,
            in_place: true,
            paused_after: None,
        };
        let line = status_message(1, Backing::No, &BTreeMap::new(), None, true, Some(p));
        assert!(
            line.starts_with("rolling update: 3 of 5 on version 2; no room beside"),
            "{line}"
        );
        assert!(line.ends_with("1 task(s) wait for offers"), "{line}");
        let paused = Progress {
            paused_after: Some(3),
            ..p
        };
        assert!(
            paused
                .describe()
                .contains("paused: 3 new-version tasks failed")
        );
        assert_eq!(
            status_message(0, Backing::No, &BTreeMap::new(), None, true, None),
            ""
        );
    }
}
