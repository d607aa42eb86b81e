//! Translation of Mesos task status updates into our task records.

use std::sync::Arc;

use crate::mesos::v1::{self, TaskStatus};
use crate::store::{TaskRecord, TaskState};

/// Our record state for a Mesos state.
pub fn task_state(state: v1::TaskState) -> TaskState {
    use v1::TaskState as M;
    match state {
        M::TaskStaging => TaskState::TaskStaging,
        M::TaskStarting => TaskState::TaskStarting,
        M::TaskRunning => TaskState::TaskRunning,
        M::TaskKilling => TaskState::TaskKilling,
        M::TaskFinished => TaskState::TaskFinished,
        M::TaskFailed => TaskState::TaskFailed,
        M::TaskKilled => TaskState::TaskKilled,
        M::TaskError => TaskState::TaskError,
        M::TaskLost => TaskState::TaskLost,
        M::TaskDropped => TaskState::TaskDropped,
        M::TaskUnreachable => TaskState::TaskUnreachable,
        M::TaskGone => TaskState::TaskGone,
        M::TaskGoneByOperator => TaskState::TaskGoneByOperator,
        M::TaskUnknown => TaskState::TaskUnknown,
    }
}

/// The container's IP addresses, as the agent reports them.
pub fn ips(status: &TaskStatus) -> Vec<String> {
    status
        .container_status
        .iter()
        .flat_map(|c| c.network_infos.iter())
        .flat_map(|n| n.ip_addresses.iter())
        .filter_map(|ip| ip.ip_address.clone())
        .collect()
}

/// A human line for the record: Mesos's message, else its reason.
fn describe(status: &TaskStatus) -> &str {
    match (&status.message, status.reason) {
        (Some(m), _) if !m.is_empty() => m,
        (_, Some(_)) => status.reason().as_str_name(),
        _ => "",
    }
}

/// What a status update changes in a record, worked out without copying
/// the record: most updates a big cluster sees (reconciliation answers
/// after each failover, resent updates) change nothing.
struct Update {
    state: TaskState,
    healthy: Option<bool>,
    agent_id: Option<String>,
    ips: Option<Vec<String>>,
    message: Option<String>,
}

fn update_of(record: &TaskRecord, status: &TaskStatus) -> Option<Update> {
    let incoming = task_state(status.state());
    if goes_back(record.state, incoming) {
        // Mesos resends a task's oldest unacknowledged update, while a
        // reconciliation answer carries its latest state: after a failover
        // RUNNING (reconciled) can arrive before the resent STARTING. A
        // live task never returns to an earlier launch step; the update is
        // still acknowledged, it only changes nothing.
        return None;
    }
    let healthy = match status.healthy {
        Some(healthy) => Some(healthy),
        // Health is only meaningful while running.
        None if incoming != TaskState::TaskRunning => None,
        None => record.healthy,
    };
    let agent_id = status
        .agent_id
        .as_ref()
        .filter(|a| !a.value.is_empty() && a.value != record.agent_id)
        .map(|a| a.value.clone());
    let ips = Some(ips(status)).filter(|ips| !ips.is_empty() && *ips != record.ips);
    // A reconciliation answer that finds the task where we had it brings
    // no news: its boilerplate ("Reconciliation: Latest task state") must
    // not replace the last real message (a health check's, the agent's),
    // nor cost a write of every task after each failover.
    let reconciled = status.reason == Some(v1::task_status::Reason::Reconciliation as i32)
        && incoming == record.state;
    let message = describe(status);
    let message = (!message.is_empty() && !reconciled && message != record.message)
        .then(|| message.to_string());
    let changed = incoming != record.state
        || healthy != record.healthy
        || agent_id.is_some()
        || ips.is_some()
        || message.is_some();
    changed.then_some(Update {
        state: incoming,
        healthy,
        agent_id,
        ips,
        message,
    })
}

impl Update {
    fn write(self, record: &mut TaskRecord, now_ms: u64) {
        record.state = self.state;
        record.healthy = self.healthy;
        if let Some(agent_id) = self.agent_id {
            record.agent_id = agent_id;
        }
        if let Some(ips) = self.ips {
            record.ips = ips;
        }
        if let Some(message) = self.message {
            record.message = message;
        }
        record.updated_ms = now_ms;
    }
}

/// Applies a status update to a record shared with the store and the API
/// views. Returns whether anything a user would see changed; only then is
/// the record copied (copy on write), so the others keep the version they
/// were given.
pub fn apply(record: &mut Arc<TaskRecord>, status: &TaskStatus, now_ms: u64) -> bool {
    update_of(record, status)
        .map(|u| u.write(Arc::make_mut(record), now_ms))
        .is_some()
}

/// Whether `incoming` is an earlier step of a launch than `current`
/// (STAGING, STARTING, RUNNING, in that order).
fn goes_back(current: TaskState, incoming: TaskState) -> bool {
    let step = |s: TaskState| match s {
        TaskState::TaskStaging => Some(0),
        TaskState::TaskStarting => Some(1),
        TaskState::TaskRunning => Some(2),
        _ => None,
    };
    matches!((step(current), step(incoming)), (Some(c), Some(i)) if i < c)
}

/// Counts a status update of a task we track once per state it reaches:
/// the record is persisted, so an update Mesos resends (its
/// acknowledgement lost), a reconciliation answer that changes nothing,
/// or the same update reaching the next leader counts nothing. A task
/// leaving STAGING for a state only an agent that has it reports is one
/// Mesos confirmed launching.
pub fn count(before: TaskState, after: TaskState) {
    if before == after {
        return;
    }
    metrics::counter!("hydrogen_status_updates_total", "state" => after.as_str()).increment(1);
    if before == TaskState::TaskStaging && reached_agent(after) {
        metrics::counter!("hydrogen_tasks_confirmed_total").increment(1);
    }
}

/// States an agent reports about a task it received (unlike TASK_LOST,
/// TASK_DROPPED, TASK_UNKNOWN … which the master may say of a task no
/// agent ever ran).
fn reached_agent(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskStarting
            | TaskState::TaskRunning
            | TaskState::TaskKilling
            | TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mesos_state_maps_and_terminality_agrees() {
        for raw in 0..=13 {
            let Ok(state) = v1::TaskState::try_from(raw) else {
                continue;
            };
            assert_eq!(
                crate::mesos::is_terminal(state),
                task_state(state).is_terminal(),
                "{state:?}"
            );
        }
    }

    #[test]
    fn updates_fill_the_record() {
        let mut record = Arc::new(TaskRecord::staging("t", "a", 0, 1, "agent", "h", 1));
        let status = TaskStatus {
            task_id: v1::TaskId { value: "t".into() },
            state: v1::TaskState::TaskRunning as i32,
            healthy: Some(true),
            container_status: Some(v1::ContainerStatus {
                network_infos: vec![v1::NetworkInfo {
                    ip_addresses: vec![v1::network_info::IpAddress {
                        ip_address: Some("10.0.0.7".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(apply(&mut record, &status, 5));
        assert_eq!(record.state, TaskState::TaskRunning);
        assert_eq!(record.healthy, Some(true));
        assert_eq!(record.ips, vec!["10.0.0.7".to_string()]);
        assert_eq!(record.updated_ms, 5);
        assert!(
            !apply(&mut record, &status, 6),
            "the same update changes nothing"
        );
        let resent_starting = TaskStatus {
            task_id: v1::TaskId { value: "t".into() },
            state: v1::TaskState::TaskStarting as i32,
            ..Default::default()
        };
        assert!(
            !apply(&mut record, &resent_starting, 7),
            "a resent STARTING after a reconciled RUNNING changes nothing"
        );
        assert_eq!(record.state, TaskState::TaskRunning);
        assert_eq!(record.healthy, Some(true));
        let failed = TaskStatus {
            task_id: v1::TaskId { value: "t".into() },
            state: v1::TaskState::TaskFailed as i32,
            ..Default::default()
        };
        assert!(apply(&mut record, &failed, 8));
        assert_eq!(record.state, TaskState::TaskFailed);
    }

    fn reconciled(state: v1::TaskState) -> TaskStatus {
        let mut status = TaskStatus {
            task_id: v1::TaskId { value: "t".into() },
            state: state as i32,
            message: Some("Reconciliation: Latest task state".into()),
            ..Default::default()
        };
        status.set_reason(v1::task_status::Reason::Reconciliation);
        status
    }

    #[test]
    fn a_reconciliation_answer_that_finds_the_task_unchanged_keeps_its_message() {
        let mut record = Arc::new(crate::store::conformance::task(
            "a",
            0,
            "t",
            TaskState::TaskRunning,
        ));
        Arc::make_mut(&mut record).message = "health check passed".into();
        // What the store and the views were given.
        let given = Arc::clone(&record);
        assert!(
            !apply(&mut record, &reconciled(v1::TaskState::TaskRunning), 9),
            "nothing to write"
        );
        assert_eq!(record.message, "health check passed");
        assert!(Arc::ptr_eq(&given, &record), "nothing copied");
        // News, though, is news: the task was lost meanwhile.
        assert!(apply(&mut record, &reconciled(v1::TaskState::TaskLost), 10));
        assert_eq!(record.state, TaskState::TaskLost);
        assert_eq!(record.message, "Reconciliation: Latest task state");
        assert_eq!(given.state, TaskState::TaskRunning, "copied on write");
    }
}
