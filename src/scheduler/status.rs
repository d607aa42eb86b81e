//! Translation of Mesos task status updates into our task records.

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
fn describe(status: &TaskStatus) -> String {
    match (&status.message, status.reason) {
        (Some(m), _) if !m.is_empty() => m.clone(),
        (_, Some(_)) => status.reason().as_str_name().to_string(),
        _ => String::new(),
    }
}

/// Applies a status update to a record. Returns whether anything a user
/// would see changed.
pub fn apply(record: &mut TaskRecord, status: &TaskStatus, now_ms: u64) -> bool {
    let before = record.clone();
    let incoming = task_state(status.state());
    if goes_back(record.state, incoming) {
        // Mesos resends a task's oldest unacknowledged update, while a
        // reconciliation answer carries its latest state: after a failover
        // RUNNING (reconciled) can arrive before the resent STARTING. A
        // live task never returns to an earlier launch step; the update is
        // still acknowledged, it only changes nothing.
        return false;
    }
    record.state = incoming;
    if let Some(healthy) = status.healthy {
        record.healthy = Some(healthy);
    } else if record.state != TaskState::TaskRunning {
        // Health is only meaningful while running.
        record.healthy = None;
    }
    if let Some(agent) = &status.agent_id
        && !agent.value.is_empty()
    {
        record.agent_id = agent.value.clone();
    }
    let ips = ips(status);
    if !ips.is_empty() {
        record.ips = ips;
    }
    let message = describe(status);
    if !message.is_empty() {
        record.message = message;
    }
    let changed = *record != before;
    if changed {
        record.updated_ms = now_ms;
    }
    changed
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
        let mut record = TaskRecord {
            task_id: "t".into(),
            app: "a".into(),
            instance: 0,
            app_version: 1,
            agent_id: "agent".into(),
            hostname: "h".into(),
            state: TaskState::TaskStaging,
            healthy: None,
            ips: vec![],
            ports: Vec::new(),
            message: String::new(),
            kill_sent: false,
            created_ms: 1,
            updated_ms: 1,
        };
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
}
