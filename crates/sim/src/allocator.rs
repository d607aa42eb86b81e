//! The allocation pass: once per allocation interval, each reachable agent's
//! free resources are offered, one offer per agent and framework role.
//!
//! Fairness is round robin, not DRF: for agent number `i` the frameworks are
//! tried starting at `(cycle + i) mod n`, so in one pass consecutive agents
//! go to different frameworks and over passes every framework gets first
//! pick. A framework is skipped while disconnected, for its suppressed roles,
//! and for agents it has filtered for a role (DECLINE/ACCEPT
//! `refuse_seconds` filter the offer's role only, as in Mesos). Each
//! framework gets one OFFERS event per pass with all its new offers, as the
//! Mesos master batches an allocation.
//!
//! Cost: O(agents × frameworks' roles) per pass, with the per-agent work a
//! few small map operations; offers are only built for agents with
//! allocatable free resources.

use std::time::Instant;

use tracing::debug;

use super::master::{AgentState, Master, OfferRec, Timer, event_of};
use super::resources::UNRESERVED;
use hydrogen_mesos::v1;
use hydrogen_mesos::v1::scheduler::{Event, event};

struct Candidate {
    id: String,
    roles: Vec<String>,
    refinement: bool,
}

/// The reservation roles whose resources may be offered to `role`:
/// unreserved ones, `role`'s own and its ancestors' (`Resources::
/// isAllocatableTo`, resources.cpp: a reservation to `eng` is allocatable
/// to `eng/web`).
fn served_by(role: &str) -> Vec<&str> {
    let mut roles = vec![UNRESERVED, role];
    let mut rest = role;
    while let Some((parent, _)) = rest.rsplit_once('/') {
        roles.push(parent);
        rest = parent;
    }
    roles
}

impl Master {
    /// Makes offers from every agent's free resources.
    pub fn allocate(&mut self, now: Instant) {
        self.observe(now);
        if self.offers_paused || self.is_stalled(now) || self.leaderless_until.is_some() {
            return;
        }
        if !matches!(self.leadership, super::master::Leadership::Leading) {
            return;
        }
        let candidates: Vec<Candidate> = self
            .framework_order
            .iter()
            .filter_map(|id| self.frameworks.get(id))
            .filter(|f| f.connected())
            .map(|f| Candidate {
                id: f.id.clone(),
                roles: f
                    .roles
                    .iter()
                    .filter(|r| !f.suppressed.contains(*r))
                    .cloned()
                    .collect(),
                refinement: f.refinement(),
            })
            .filter(|c| !c.roles.is_empty())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let n = candidates.len();
        let served: Vec<Vec<Vec<&str>>> = candidates
            .iter()
            .map(|c| c.roles.iter().map(|r| served_by(r)).collect())
            .collect();
        let cycle = self.round_robin;
        self.round_robin = self.round_robin.wrapping_add(1);

        let mut made: Vec<(usize, OfferRec)> = Vec::new();
        for (i, agent) in self.agents.values_mut().enumerate() {
            if agent.state != AgentState::Active
                || !agent.free.allocatable()
                || self.draining.contains_key(&agent.id)
            {
                continue;
            }
            for j in 0..n {
                let c = (cycle + i + j) % n;
                let cand = &candidates[c];
                let Some(fw) = self.frameworks.get(&cand.id) else {
                    continue;
                };
                for (role, served) in cand.roles.iter().zip(&served[c]) {
                    if fw
                        .filters
                        .get(role)
                        .and_then(|agents| agents.get(&agent.id))
                        .is_some_and(|until| *until > now)
                    {
                        continue;
                    }
                    let available = agent.free.for_roles(served);
                    if !available.allocatable() {
                        continue;
                    }
                    agent.free.subtract(&available);
                    agent.offered.add(&available);
                    made.push((
                        c,
                        OfferRec {
                            id: String::new(),
                            framework_id: cand.id.clone(),
                            agent_id: agent.id.clone(),
                            role: role.clone(),
                            resources: available,
                        },
                    ));
                }
            }
        }

        if !made.is_empty() {
            self.stats.allocation_passes += 1;
            self.stats.offers_made += made.len() as u64;
        }
        let mut batches: Vec<Vec<v1::Offer>> = vec![Vec::new(); n];
        for (c, mut offer) in made {
            offer.id = self.new_offer_id();
            let Some(agent) = self.agents.get_mut(&offer.agent_id) else {
                continue;
            };
            agent.offers.insert(offer.id.clone());
            // `Master::offer` (master.cpp) clears the offer's and the
            // resources' allocation_info for frameworks without MULTI_ROLE.
            let multi_role = self
                .frameworks
                .get(&offer.framework_id)
                .is_some_and(|f| f.has_capability(v1::framework_info::capability::Type::MultiRole));
            let Some(agent) = self.agents.get(&offer.agent_id) else {
                continue;
            };
            let proto = v1::Offer {
                id: v1::OfferId {
                    value: offer.id.clone(),
                },
                framework_id: v1::FrameworkId {
                    value: offer.framework_id.clone(),
                },
                agent_id: v1::AgentId {
                    value: agent.id.clone(),
                },
                hostname: agent.hostname.clone(),
                url: Some(v1::Url {
                    scheme: "http".into(),
                    address: v1::Address {
                        hostname: Some(agent.hostname.clone()),
                        ip: Some(agent.ip.clone()),
                        port: 5051,
                    },
                    path: Some("/slave(1)".into()),
                    query: Vec::new(),
                    fragment: None,
                }),
                resources: offer.resources.to_protos(
                    multi_role.then_some(offer.role.as_str()),
                    candidates[c].refinement,
                ),
                attributes: agent.attributes.clone(),
                allocation_info: multi_role.then(|| v1::resource::AllocationInfo {
                    role: Some(offer.role.clone()),
                }),
                executor_ids: self.executor_ids_on(&offer.framework_id, agent),
                // `Master::offer`: offers of a machine scheduled for
                // maintenance say when it goes.
                unavailability: self.unavailability_of(&agent.id),
                ..Default::default()
            };
            batches[c].push(proto);
            if let Some(fw) = self.frameworks.get_mut(&offer.framework_id) {
                fw.offers.insert(offer.id.clone());
            }
            if let Some(timeout) = self.timings.offer_timeout {
                self.schedule(
                    now + timeout,
                    Timer::OfferTimeout {
                        offer_id: offer.id.clone(),
                    },
                );
            }
            self.offers.insert(offer.id.clone(), offer);
        }
        for (c, offers) in batches.into_iter().enumerate() {
            if offers.is_empty() {
                continue;
            }
            debug!(framework_id = %candidates[c].id, count = offers.len(), "sending offers");
            self.stats.offer_events += 1;
            let ev = Event {
                offers: Some(event::Offers { offers }),
                ..event_of(event::Type::Offers)
            };
            self.send(&candidates[c].id, ev);
        }
    }
}
