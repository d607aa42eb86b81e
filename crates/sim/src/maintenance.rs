//! Maintenance primitives (Mesos 1.0+), as `src/master/http.cpp`,
//! `master.cpp`, `maintenance.cpp` and the hierarchical allocator of Mesos
//! 1.11/1.12 implement them:
//!
//! - The **schedule** (`/master/maintenance/schedule`, operator
//!   `GET_MAINTENANCE_SCHEDULE` / `UPDATE_MAINTENANCE_SCHEDULE`): windows of
//!   machines (`{hostname, ip}`, both compared, the hostname without case,
//!   as `MachineID`'s `operator==`) with an `unavailability`. A machine in
//!   the schedule is DRAINING; one left out goes back UP (its unavailability
//!   revoked); a DOWN machine cannot be left out. Every update rescinds the
//!   offers and inverse offers of the scheduled machines' agents and forgets
//!   the frameworks' answers (`Master::updateUnavailability`).
//! - **Unavailability on offers**: an offer from an agent of a DRAINING
//!   machine carries the machine's `unavailability` (`Master::offer`).
//! - **Inverse offers** (`generateInverseOffers`, hierarchical.cpp): on each
//!   allocation pass, every connected framework with tasks or offers on such
//!   an agent gets one INVERSE_OFFERS event naming the agent, the window and
//!   no resources (the whole agent), unless it has one outstanding for the
//!   agent or filtered the agent by answering within `refuse_seconds`
//!   (default 5 s). ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS record
//!   the answer for `GET_MAINTENANCE_STATUS` and install that filter; a new
//!   inverse offer follows when it expires, as long as the framework still
//!   has something on the agent.
//! - **START_MAINTENANCE** (DRAINING ⇒ DOWN): the machine's agents are
//!   removed (`Master::_removeSlave`): each task TASK_LOST, SOURCE_MASTER,
//!   REASON_AGENT_REMOVED, "Agent <hostname> removed: Operator initiated
//!   'Machine DOWN'", whether or not the framework is partition-aware; then
//!   their offers and inverse offers are rescinded.
//! - **STOP_MAINTENANCE** (DOWN ⇒ UP): the machine leaves the schedule.
//!
//! Not modelled: `/master/machine/down` and `/machine/up` (the operator
//! calls do the same), the agents of a machine coming back after
//! STOP_MAINTENANCE (a real agent registers again with a new id; add one
//! with the admin API), the FAILURE (agent lost) event of a removal, and
//! inverse offers for parts of an agent.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tracing::info;

use super::master::{AgentState, Master, event_of, master_status};
use hydrogen_mesos::encoding::to_json_value;
use hydrogen_mesos::v1::allocator::{InverseOfferStatus, inverse_offer_status};
use hydrogen_mesos::v1::maintenance::{ClusterStatus, Schedule, cluster_status};
use hydrogen_mesos::v1::scheduler::{Event, event};
use hydrogen_mesos::v1::{self, TaskState, task_status::Reason};

/// What START_MAINTENANCE tells the frameworks (`_startMaintenance`).
const MACHINE_DOWN: &str = "Operator initiated 'Machine DOWN'";

/// How long an answered inverse offer is not sent again when the answer
/// has no `filters` (`Filters.refuse_seconds` defaults to 5).
const DEFAULT_INVERSE_REFUSE: Duration = Duration::from_secs(5);

/// A machine's maintenance mode (`MachineInfo.Mode`); UP machines are not
/// kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Draining,
    Down,
}

/// A machine in the schedule.
#[derive(Debug, Clone)]
pub struct Machine {
    pub id: v1::MachineId,
    pub mode: Mode,
    pub unavailability: v1::Unavailability,
}

/// An outstanding inverse offer.
#[derive(Debug, Clone)]
pub struct InverseOfferRec {
    pub framework_id: String,
    pub agent_id: String,
}

/// The master's maintenance state.
#[derive(Debug, Default)]
pub struct Maintenance {
    /// The schedule as last set (windows of DRAINING and DOWN machines).
    pub schedule: Schedule,
    /// Scheduled machines by [`key`].
    pub machines: BTreeMap<(String, String), Machine>,
    pub inverse_offers: HashMap<String, InverseOfferRec>,
    /// (agent id, framework id) ⇒ the framework's latest answer.
    pub statuses: HashMap<(String, String), InverseOfferStatus>,
    /// (framework id, agent id) ⇒ no inverse offer before then.
    pub filters: HashMap<(String, String), Instant>,
}

/// How machines are compared: `MachineID`'s `operator==` lower-cases the
/// hostname and compares the IP as written.
fn key(id: &v1::MachineId) -> (String, String) {
    (
        id.hostname.as_deref().unwrap_or_default().to_lowercase(),
        id.ip.clone().unwrap_or_default(),
    )
}

/// `stringify(JSON::protobuf(id))`, as the master's messages quote it.
fn quoted(id: &v1::MachineId) -> String {
    to_json_value(id).map_or_else(String::new, |v| v.to_string())
}

/// `maintenance::validation::machine`.
fn validate_machine(id: &v1::MachineId) -> Result<(), String> {
    let hostname = id.hostname.as_deref().unwrap_or_default();
    let ip = id.ip.as_deref().unwrap_or_default();
    if hostname.is_empty() && ip.is_empty() {
        return Err("Both 'hostname' and 'ip' for a machine are empty".into());
    }
    if !ip.is_empty() && ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(format!("Failed to parse IP address '{ip}'"));
    }
    Ok(())
}

/// `maintenance::validation::machines`: the list of START/STOP_MAINTENANCE.
fn validate_machines(ids: &[v1::MachineId]) -> Result<(), String> {
    if ids.is_empty() {
        return Err("List of machines is empty".into());
    }
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        validate_machine(id)?;
        if !seen.insert(key(id)) {
            return Err(format!(
                "Machine '{}' appears more than once in the schedule",
                quoted(id)
            ));
        }
    }
    Ok(())
}

impl Master {
    /// The machine key of an agent: its hostname and IP.
    fn agent_machine(&self, agent_id: &str) -> Option<(String, String)> {
        self.agents
            .get(agent_id)
            .map(|a| (a.hostname.to_lowercase(), a.ip.clone()))
    }

    /// The unavailability of an agent's machine while it is DRAINING: what
    /// its offers carry.
    pub(super) fn unavailability_of(&self, agent_id: &str) -> Option<v1::Unavailability> {
        let machine = self
            .maintenance
            .machines
            .get(&self.agent_machine(agent_id)?)?;
        (machine.mode == Mode::Draining).then_some(machine.unavailability)
    }

    /// The ids of the agents on a machine.
    fn agents_on(&self, machine: &(String, String)) -> Vec<String> {
        self.agents
            .values()
            .filter(|a| {
                a.state == AgentState::Active
                    && a.hostname.to_lowercase() == machine.0
                    && a.ip == machine.1
            })
            .map(|a| a.id.clone())
            .collect()
    }

    /// `UPDATE_MAINTENANCE_SCHEDULE` and `POST /master/maintenance/schedule`;
    /// `Err` is the master's 400 text.
    pub fn update_maintenance_schedule(&mut self, schedule: Schedule) -> Result<(), String> {
        // `maintenance::validation::schedule`.
        let mut listed = std::collections::HashSet::new();
        for window in &schedule.windows {
            if window.machine_ids.is_empty() {
                return Err("List of machines in the maintenance window is empty".into());
            }
            if window
                .unavailability
                .duration
                .as_ref()
                .is_some_and(|d| d.nanoseconds < 0)
            {
                return Err("Unavailability 'duration' is negative".into());
            }
            for id in &window.machine_ids {
                validate_machine(id)?;
                if !listed.insert(key(id)) {
                    return Err(format!(
                        "Machine '{}' appears more than once in the schedule",
                        quoted(id)
                    ));
                }
            }
        }
        if let Some(down) = self
            .maintenance
            .machines
            .iter()
            .find(|(k, m)| m.mode == Mode::Down && !listed.contains(*k))
        {
            return Err(format!(
                "Machine '{}' is deactivated and cannot be removed from the schedule",
                quoted(&down.1.id)
            ));
        }
        // Machines left out go back UP.
        let removed: Vec<(String, String)> = self
            .maintenance
            .machines
            .keys()
            .filter(|k| !listed.contains(*k))
            .cloned()
            .collect();
        for k in removed {
            self.maintenance.machines.remove(&k);
            self.unavailability_changed(&k);
        }
        for window in &schedule.windows {
            for id in &window.machine_ids {
                let k = key(id);
                let mode = self
                    .maintenance
                    .machines
                    .get(&k)
                    .map_or(Mode::Draining, |m| m.mode);
                self.maintenance.machines.insert(
                    k.clone(),
                    Machine {
                        id: id.clone(),
                        mode,
                        unavailability: window.unavailability,
                    },
                );
                self.unavailability_changed(&k);
            }
        }
        info!(
            windows = schedule.windows.len(),
            "maintenance schedule updated"
        );
        self.maintenance.schedule = schedule;
        Ok(())
    }

    /// `Master::updateUnavailability` for the agents of a machine: offers
    /// and inverse offers rescinded, answers and inverse offer filters
    /// forgotten (the allocator starts the agent's maintenance afresh).
    fn unavailability_changed(&mut self, machine: &(String, String)) {
        for agent_id in self.agents_on(machine) {
            let offers: Vec<String> = self
                .agents
                .get(&agent_id)
                .map(|a| a.offers.iter().cloned().collect())
                .unwrap_or_default();
            for o in offers {
                self.remove_offer(&o, true, None);
            }
            self.remove_inverse_offers_on(&agent_id, true);
            self.maintenance.statuses.retain(|(a, _), _| *a != agent_id);
            self.maintenance.filters.retain(|(_, a), _| *a != agent_id);
        }
    }

    /// Removes the outstanding inverse offers for an agent, sending
    /// RESCIND_INVERSE_OFFER when `rescind`.
    pub(super) fn remove_inverse_offers_on(&mut self, agent_id: &str, rescind: bool) {
        let mut ids: Vec<(String, String)> = self
            .maintenance
            .inverse_offers
            .iter()
            .filter(|(_, o)| o.agent_id == agent_id)
            .map(|(id, o)| (id.clone(), o.framework_id.clone()))
            .collect();
        ids.sort();
        for (id, framework_id) in ids {
            self.maintenance.inverse_offers.remove(&id);
            if rescind {
                self.send_rescind_inverse(&framework_id, &id);
            }
        }
    }

    /// Drops a framework's inverse offers (it disconnected or was removed:
    /// `Master::deactivate` removes them without a rescind).
    pub(super) fn drop_framework_inverse_offers(&mut self, framework_id: &str) {
        self.maintenance
            .inverse_offers
            .retain(|_, o| o.framework_id != framework_id);
    }

    fn send_rescind_inverse(&mut self, framework_id: &str, id: &str) {
        let ev = Event {
            rescind_inverse_offer: Some(event::RescindInverseOffer {
                inverse_offer_id: v1::OfferId {
                    value: id.to_string(),
                },
            }),
            ..event_of(event::Type::RescindInverseOffer)
        };
        self.send(framework_id, ev);
    }

    /// One pass of `generateInverseOffers`: an inverse offer to every
    /// connected framework with tasks or offers on an agent of a DRAINING
    /// machine that has none outstanding for it and has not filtered it.
    pub(super) fn generate_inverse_offers(&mut self, now: Instant) {
        if self.maintenance.machines.is_empty()
            || self.is_stalled(now)
            || self.leaderless_until.is_some()
            || !matches!(self.leadership, super::master::Leadership::Leading)
        {
            return;
        }
        let mut batches: BTreeMap<String, Vec<v1::InverseOffer>> = BTreeMap::new();
        let agent_ids: Vec<String> = self.agents.keys().cloned().collect();
        for agent_id in agent_ids {
            let Some(unavailability) = self.unavailability_of(&agent_id) else {
                continue;
            };
            let Some(agent) = self.agents.get(&agent_id) else {
                continue;
            };
            // `Master::inverseOffer` drops those of deactivated agents.
            if agent.state != AgentState::Active || self.draining.contains_key(&agent_id) {
                continue;
            }
            let mut holders: Vec<String> = agent
                .tasks
                .iter()
                .filter(|(f, t)| {
                    self.frameworks
                        .get(f)
                        .and_then(|fw| fw.tasks.get(t))
                        .is_some_and(|t| !hydrogen_mesos::is_terminal(t.state))
                })
                .map(|(f, _)| f.clone())
                .chain(
                    agent
                        .offers
                        .iter()
                        .filter_map(|o| self.offers.get(o).map(|o| o.framework_id.clone())),
                )
                .collect();
            holders.sort();
            holders.dedup();
            let url = v1::Url {
                scheme: "http".into(),
                address: v1::Address {
                    hostname: Some(agent.hostname.clone()),
                    ip: Some(agent.ip.clone()),
                    port: 5051,
                },
                path: Some("/slave(1)".into()),
                query: Vec::new(),
                fragment: None,
            };
            for framework_id in holders {
                if !self
                    .frameworks
                    .get(&framework_id)
                    .is_some_and(|f| f.connected())
                {
                    continue;
                }
                let outstanding = self
                    .maintenance
                    .inverse_offers
                    .values()
                    .any(|o| o.agent_id == agent_id && o.framework_id == framework_id);
                let filtered = self
                    .maintenance
                    .filters
                    .get(&(framework_id.clone(), agent_id.clone()))
                    .is_some_and(|until| *until > now);
                if outstanding || filtered {
                    continue;
                }
                let id = self.new_offer_id();
                self.maintenance.inverse_offers.insert(
                    id.clone(),
                    InverseOfferRec {
                        framework_id: framework_id.clone(),
                        agent_id: agent_id.clone(),
                    },
                );
                batches
                    .entry(framework_id.clone())
                    .or_default()
                    .push(v1::InverseOffer {
                        id: v1::OfferId { value: id },
                        url: Some(url.clone()),
                        framework_id: v1::FrameworkId {
                            value: framework_id,
                        },
                        agent_id: Some(v1::AgentId {
                            value: agent_id.clone(),
                        }),
                        unavailability,
                        resources: Vec::new(),
                    });
            }
        }
        for (framework_id, inverse_offers) in batches {
            info!(%framework_id, count = inverse_offers.len(), "sending inverse offers");
            let ev = Event {
                inverse_offers: Some(event::InverseOffers { inverse_offers }),
                ..event_of(event::Type::InverseOffers)
            };
            self.send(&framework_id, ev);
        }
    }

    /// ACCEPT_INVERSE_OFFERS (`accept`) or DECLINE_INVERSE_OFFERS: the
    /// answer is recorded and the agent filtered for `refuse_seconds`;
    /// unknown ids are ignored, as the master logs and ignores them.
    pub(super) fn answer_inverse_offers(
        &mut self,
        now: Instant,
        framework_id: &str,
        ids: &[v1::OfferId],
        accept: bool,
        filters: Option<&v1::Filters>,
    ) {
        let refuse = match filters {
            None => Some(DEFAULT_INVERSE_REFUSE),
            Some(_) => self.refuse_duration(filters),
        };
        for id in ids {
            let Some(offer) = self
                .maintenance
                .inverse_offers
                .get(&id.value)
                .filter(|o| o.framework_id == framework_id)
                .cloned()
            else {
                tracing::warn!(framework_id, inverse_offer_id = %id.value, "ignoring answer to an inverse offer that is no longer valid");
                continue;
            };
            self.maintenance.inverse_offers.remove(&id.value);
            let status = if accept {
                inverse_offer_status::Status::Accept
            } else {
                inverse_offer_status::Status::Decline
            };
            info!(framework_id, agent_id = %offer.agent_id, ?status, "inverse offer answered");
            self.maintenance.statuses.insert(
                (offer.agent_id.clone(), framework_id.to_string()),
                InverseOfferStatus {
                    status: status as i32,
                    framework_id: v1::FrameworkId {
                        value: framework_id.to_string(),
                    },
                    timestamp: v1::TimeInfo {
                        nanoseconds: (self.wall_now * 1e9) as i64,
                    },
                },
            );
            if let Some(d) = refuse {
                self.maintenance
                    .filters
                    .insert((framework_id.to_string(), offer.agent_id), now + d);
            }
        }
    }

    /// Whether an agent ever registered from this machine: the master then
    /// knows it (in UP mode) though it is in no schedule.
    fn known_machine(&self, k: &(String, String)) -> bool {
        self.agents
            .values()
            .any(|a| a.hostname.to_lowercase() == k.0 && a.ip == k.1)
    }

    /// `START_MAINTENANCE`: DRAINING machines go DOWN, their agents removed.
    pub fn start_maintenance(&mut self, ids: &[v1::MachineId]) -> Result<(), String> {
        validate_machines(ids)?;
        for id in ids {
            match self.maintenance.machines.get(&key(id)) {
                None if self.known_machine(&key(id)) => {
                    return Err(format!(
                        "Machine '{}' is not in DRAINING mode and cannot be brought down",
                        quoted(id)
                    ));
                }
                None => {
                    return Err(format!(
                        "Machine '{}' is not part of a maintenance schedule",
                        quoted(id)
                    ));
                }
                Some(m) if m.mode != Mode::Draining => {
                    return Err(format!(
                        "Machine '{}' is not in DRAINING mode and cannot be brought down",
                        quoted(id)
                    ));
                }
                Some(_) => {}
            }
        }
        for id in ids {
            let k = key(id);
            for agent_id in self.agents_on(&k) {
                self.remove_agent_for_maintenance(&agent_id);
            }
            if let Some(m) = self.maintenance.machines.get_mut(&k) {
                m.mode = Mode::Down;
            }
        }
        Ok(())
    }

    /// `Master::_removeSlave` with the cause "Machine DOWN".
    fn remove_agent_for_maintenance(&mut self, agent_id: &str) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        info!(agent_id, "removing agent: {MACHINE_DOWN}");
        agent.state = AgentState::Gone;
        agent.free = super::resources::ResourceSet::new();
        agent.used = super::resources::ResourceSet::new();
        let hostname = agent.hostname.clone();
        let mut tasks: Vec<(String, String)> = agent.tasks.drain().collect();
        let offers: Vec<String> = agent.offers.iter().cloned().collect();
        tasks.sort();
        let now_wall = self.wall_now;
        for (framework_id, task_id) in tasks {
            let Some(fw) = self.frameworks.get_mut(&framework_id) else {
                continue;
            };
            let Some(mut task) = fw.tasks.remove(&task_id) else {
                continue;
            };
            task.state = TaskState::TaskLost;
            task.unreachable = None;
            self.stats.unacknowledged_updates = self
                .stats
                .unacknowledged_updates
                .saturating_sub(task.pending.len() as u64);
            task.pending.clear();
            task.statuses.push((TaskState::TaskLost, now_wall, None));
            let mut s = master_status(
                &task_id,
                Some(agent_id),
                TaskState::TaskLost,
                Reason::AgentRemoved,
                &format!("Agent {hostname} removed: {MACHINE_DOWN}"),
                now_wall,
            );
            s.executor_id = task
                .executor_id
                .clone()
                .map(|value| v1::ExecutorId { value });
            fw.completed_tasks.push_back(task);
            if fw.completed_tasks.len() > super::master::MAX_COMPLETED_TASKS {
                fw.completed_tasks.pop_front();
            }
            let ev = Event {
                update: Some(event::Update { status: s }),
                ..event_of(event::Type::Update)
            };
            self.send(&framework_id, ev);
        }
        for o in offers {
            self.remove_offer(&o, true, None);
        }
        self.remove_inverse_offers_on(agent_id, true);
    }

    /// `STOP_MAINTENANCE`: DOWN machines come back UP and leave the schedule.
    pub fn stop_maintenance(&mut self, ids: &[v1::MachineId]) -> Result<(), String> {
        validate_machines(ids)?;
        for id in ids {
            match self.maintenance.machines.get(&key(id)) {
                None if self.known_machine(&key(id)) => {
                    return Err(format!(
                        "Machine '{}' is not in DOWN mode and cannot be brought up",
                        quoted(id)
                    ));
                }
                None => {
                    return Err(format!(
                        "Machine '{}' is not part of a maintenance schedule",
                        quoted(id)
                    ));
                }
                Some(m) if m.mode != Mode::Down => {
                    return Err(format!(
                        "Machine '{}' is not in DOWN mode and cannot be brought up",
                        quoted(id)
                    ));
                }
                Some(_) => {}
            }
        }
        let up: std::collections::HashSet<(String, String)> = ids.iter().map(key).collect();
        for k in &up {
            self.maintenance.machines.remove(k);
        }
        for window in &mut self.maintenance.schedule.windows {
            window.machine_ids.retain(|m| !up.contains(&key(m)));
        }
        self.maintenance
            .schedule
            .windows
            .retain(|w| !w.machine_ids.is_empty());
        Ok(())
    }

    /// `GET_MAINTENANCE_STATUS` and `/master/maintenance/status`.
    pub fn maintenance_status(&self) -> ClusterStatus {
        let mut status = ClusterStatus::default();
        for (k, machine) in &self.maintenance.machines {
            match machine.mode {
                Mode::Draining => {
                    let agents = self.agents_on(k);
                    let mut statuses: Vec<InverseOfferStatus> = self
                        .maintenance
                        .statuses
                        .iter()
                        .filter(|((a, _), _)| agents.contains(a))
                        .map(|(_, s)| s.clone())
                        .collect();
                    statuses.sort_by(|a, b| a.framework_id.value.cmp(&b.framework_id.value));
                    status
                        .draining_machines
                        .push(cluster_status::DrainingMachine {
                            id: machine.id.clone(),
                            statuses,
                        });
                }
                Mode::Down => status.down_machines.push(machine.id.clone()),
            }
        }
        status
    }
}

/// `GET` and `POST /master/maintenance/schedule`: the schedule in JSON
/// (`JSON::protobuf`: an empty schedule is `{}`); a POST replaces it and
/// answers `200 OK` with no body, or 400 with the master's reason.
pub(super) async fn schedule_endpoint(
    axum::extract::State(shared): axum::extract::State<super::http::Shared>,
    method: axum::http::Method,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    match method {
        axum::http::Method::GET => {
            let schedule = shared.lock().maintenance.schedule.clone();
            let json = to_json_value(&schedule).unwrap_or_else(|| serde_json::json!({}));
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                json.to_string(),
            )
                .into_response()
        }
        axum::http::Method::POST => {
            let schedule = match hydrogen_mesos::encoding::from_json::<Schedule>(&body) {
                Ok(s) => s,
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
            };
            match shared.lock().update_maintenance_schedule(schedule) {
                Ok(()) => StatusCode::OK.into_response(),
                Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
            }
        }
        other => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, POST")],
            format!("Expecting one of {{ 'GET', 'POST' }}, but received '{other}'"),
        )
            .into_response(),
    }
}

/// `GET /master/maintenance/status`: the cluster's maintenance status.
pub(super) async fn status_endpoint(
    axum::extract::State(shared): axum::extract::State<super::http::Shared>,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let status = shared.lock().maintenance_status();
    let json = to_json_value(&status).unwrap_or_else(|| serde_json::json!({}));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
        .into_response()
}
