//! Dynamic reservations by the operator API (`RESERVE_RESOURCES`,
//! `UNRESERVE_RESOURCES`), as `Master::Http::_reserve`, `_unreserve` and
//! `_operation` (http.cpp) and `validation::operation::validate`
//! (validation.cpp) of Mesos 1.12 do them: the resources are validated,
//! the agent's outstanding offers are rescinded (with the default 5 s
//! filter) until what the operation consumes is free, and the agent's pool
//! is converted: unreserved to reserved, or back. The reserved resources
//! are then offered to their role (and its sub-roles) with the reservation
//! as made: type DYNAMIC, principal and labels.
//!
//! Not modelled: reservation refinement (a `source`, or a reservation
//! stacked on another one), reservations of disk sources and resource
//! providers, and authorization (the simulator has no principals, so a
//! reservation's principal is kept but never checked).

use std::time::{Duration, Instant};

use super::master::{AgentState, Master};
use super::resources::{ResourceSet, dynamic_of};
use hydrogen_mesos::v1;

/// Why an operator reservation call was refused, as the master answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservationRefused {
    /// 400 with the master's text.
    BadRequest(String),
    /// 409: the agent has not enough of what the operation consumes.
    Conflict(String),
    /// 501: a shape the simulator does not model.
    NotModelled(String),
}

/// How long resources recovered by rescinding an offer stay filtered from
/// its framework: the `Filters()` default the master passes.
const RESCIND_REFUSE: Duration = Duration::from_secs(5);

impl Master {
    /// `RESERVE_RESOURCES` of `resources` on `agent_id`.
    pub fn reserve_resources(
        &mut self,
        now: Instant,
        agent_id: &str,
        source: &[v1::Resource],
        resources: &[v1::Resource],
    ) -> Result<(), ReservationRefused> {
        self.observe(now);
        let agent_text = self.registered_agent_text(agent_id)?;
        let reserved = ResourceSet::from_protos(resources)
            .map_err(|e| ReservationRefused::BadRequest(format!("Invalid resources: {e}")))?;
        if !source.is_empty() || resources.iter().any(|r| r.reservations.len() > 1) {
            return Err(ReservationRefused::NotModelled(
                "the simulator models reservations of unreserved resources only \
                 (no `source`, no refined reservation)"
                    .into(),
            ));
        }
        let invalid = |why: String| {
            ReservationRefused::BadRequest(format!(
                "Invalid RESERVE operation on agent {agent_text}: {why}"
            ))
        };
        for r in resources {
            if let Some(text) = not_dynamically_reserved(r) {
                return Err(invalid(format!(
                    "Resource {text} is not dynamically reserved"
                )));
            }
            if r.allocation_info.is_some() {
                return Err(invalid(
                    "A reserve operation was attempted with an allocated resource, but the \
                     operator API only allows reservations to be made to unallocated resources"
                        .into(),
                ));
            }
        }
        let consumed = reserved.unreserved();
        self.convert(agent_id, "RESERVE", &consumed, &reserved)
    }

    /// `UNRESERVE_RESOURCES` of `resources` on `agent_id`.
    pub fn unreserve_resources(
        &mut self,
        now: Instant,
        agent_id: &str,
        resources: &[v1::Resource],
    ) -> Result<(), ReservationRefused> {
        self.observe(now);
        self.registered_agent_text(agent_id)?;
        let reserved = ResourceSet::from_protos(resources)
            .map_err(|e| ReservationRefused::BadRequest(format!("Invalid resources: {e}")))?;
        for r in resources {
            if let Some(text) = not_dynamically_reserved(r) {
                return Err(ReservationRefused::BadRequest(format!(
                    "Invalid UNRESERVE operation: Resource {text} is not dynamically reserved"
                )));
            }
        }
        let released = reserved.unreserved();
        self.convert(agent_id, "UNRESERVE", &reserved, &released)
    }

    /// Applies an operation to the agent's pool: rescinds offers until
    /// `consumed` is free (409 when it still is not), then replaces it with
    /// `produced` in the agent's free and total resources.
    fn convert(
        &mut self,
        agent_id: &str,
        operation: &str,
        consumed: &ResourceSet,
        produced: &ResourceSet,
    ) -> Result<(), ReservationRefused> {
        self.free_on(agent_id, consumed);
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return Err(unknown_agent());
        };
        if !agent.free.contains(consumed) {
            return Err(ReservationRefused::Conflict(format!(
                "Invalid {operation} Operation: {} does not contain {consumed}",
                agent.free
            )));
        }
        agent.free.subtract(consumed);
        agent.free.add(produced);
        agent.total.subtract(consumed);
        agent.total.add(produced);
        Ok(())
    }

    /// `stringify(*slave)` of a registered agent, or the master's 400.
    fn registered_agent_text(&self, agent_id: &str) -> Result<String, ReservationRefused> {
        match self.agents.get(agent_id) {
            Some(a) if a.state == AgentState::Active => Ok(format!(
                "{} at slave(1)@{}:5051 ({})",
                a.id, a.ip, a.hostname
            )),
            _ => Err(unknown_agent()),
        }
    }

    /// Rescinds the agent's offers, one at a time, until `needed` is free
    /// (as `_operation` does; an offer holding none of it is kept).
    fn free_on(&mut self, agent_id: &str, needed: &ResourceSet) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        if agent.free.contains(needed) {
            return;
        }
        let mut offers: Vec<String> = agent.offers.iter().cloned().collect();
        offers.sort();
        for offer_id in offers {
            let helps = self.offers.get(&offer_id).is_some_and(|o| {
                let mut without = needed.clone();
                without.subtract(&o.resources);
                without != *needed
            });
            if !helps {
                continue;
            }
            let refuse = Some((self.now, RESCIND_REFUSE));
            self.remove_offer(&offer_id, true, refuse);
            if self
                .agents
                .get(agent_id)
                .is_some_and(|a| a.free.contains(needed))
            {
                return;
            }
        }
    }
}

/// The resource as the master prints it, when it is not dynamically
/// reserved (unreserved, or statically reserved).
fn not_dynamically_reserved(r: &v1::Resource) -> Option<String> {
    let dynamic = dynamic_of(r).is_some() && super::resources::reservation_role(r) != "*";
    (!dynamic).then(|| {
        ResourceSet::from_protos(std::slice::from_ref(r))
            .unwrap_or_default()
            .to_string()
    })
}

fn unknown_agent() -> ReservationRefused {
    ReservationRefused::BadRequest("No agent found with specified ID".into())
}
