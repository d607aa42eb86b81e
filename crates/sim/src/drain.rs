//! Agent draining (operator `DRAIN_AGENT`, Mesos 1.9+), as
//! `Master::Http::_drainAgent` (http.cpp) and the agent's drain do it: the
//! agent is deactivated (its offers rescinded, no new ones) and every task
//! on it is killed: TASK_KILLING (to TASK_KILLING_STATE frameworks) then
//! TASK_KILLED, both with REASON_AGENT_DRAINING, as a real 1.12 agent
//! reports them (`drain_agent_matches_a_real_master`). Once no task is left
//! on it (each terminal update acknowledged), the agent is DRAINED, or
//! marked gone when the call said `mark_gone`
//! (`Master::checkAndTransitionDrainingAgent`). `REACTIVATE_AGENT` of a
//! DRAINED agent puts it back into offers (`_reactivateAgent`). Not
//! modelled: `max_grace_period` (kills are immediate).

use std::time::Instant;

use super::master::Master;
use hydrogen_mesos::is_terminal;
use hydrogen_mesos::v1::TaskState;
use hydrogen_mesos::v1::framework_info::capability::Type as Capability;
use hydrogen_mesos::v1::task_status::{Reason, Source};

/// A drained agent's state (`DrainInfo` in `/master/state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    /// DRAINED: no task left on the agent; DRAINING before.
    pub drained: bool,
    /// Mark the agent gone instead of DRAINED.
    pub mark_gone: bool,
}

impl Master {
    /// Drains `agent_id`; `Err` carries the master's 400 text.
    pub fn drain_agent(
        &mut self,
        now: Instant,
        agent_id: &str,
        mark_gone: bool,
    ) -> Result<(), String> {
        self.observe(now);
        let Some(agent) = self.agents.get(agent_id) else {
            return Err("Unknown agent".into());
        };
        let offers: Vec<String> = agent.offers.iter().cloned().collect();
        let mut tasks: Vec<(String, String)> = agent.tasks.iter().cloned().collect();
        tasks.sort();
        self.draining.insert(
            agent_id.to_string(),
            Drain {
                drained: false,
                mark_gone,
            },
        );
        for offer in offers {
            self.remove_offer(&offer, true, None);
        }
        // A deactivated agent's inverse offers go too (`Master::deactivate`).
        self.remove_inverse_offers_on(agent_id, true);
        for (framework_id, task_id) in tasks {
            let Some(fw) = self.frameworks.get(&framework_id) else {
                continue;
            };
            let killing_state = fw.has_capability(Capability::TaskKillingState);
            let live = fw
                .tasks
                .get(&task_id)
                .is_some_and(|t| !is_terminal(t.state));
            if live {
                if let Some(t) = self
                    .frameworks
                    .get_mut(&framework_id)
                    .and_then(|f| f.tasks.get_mut(&task_id))
                {
                    // Steps scheduled for the task (start, kill) are void.
                    t.step_gen += 1;
                    t.killing = true;
                }
                // The second update waits behind the first until it is
                // acknowledged, as every agent update does.
                if killing_state {
                    self.agent_update(
                        now,
                        &framework_id,
                        &task_id,
                        TaskState::TaskKilling,
                        Source::Executor,
                        Some(Reason::AgentDraining),
                        None,
                    );
                }
                self.agent_update(
                    now,
                    &framework_id,
                    &task_id,
                    TaskState::TaskKilled,
                    Source::Executor,
                    Some(Reason::AgentDraining),
                    Some("Command terminated with signal Terminated".into()),
                );
            }
        }
        self.check_drained(agent_id);
        Ok(())
    }

    /// A draining agent with no task left becomes DRAINED (or gone).
    pub(super) fn check_drained(&mut self, agent_id: &str) {
        let Some(drain) = self.draining.get(agent_id).copied() else {
            return;
        };
        if drain.drained
            || self
                .agents
                .get(agent_id)
                .is_some_and(|a| !a.tasks.is_empty())
        {
            return;
        }
        if drain.mark_gone {
            self.draining.remove(agent_id);
            if let Err(e) = self.mark_gone(agent_id) {
                tracing::warn!(agent_id, error = %e, "a drained agent could not be marked gone");
            }
        } else if let Some(d) = self.draining.get_mut(agent_id) {
            d.drained = true;
        }
    }

    /// REACTIVATE_AGENT; `Err` carries the master's 400 text.
    pub fn reactivate_agent(&mut self, now: Instant, agent_id: &str) -> Result<(), String> {
        self.observe(now);
        match self.draining.get(agent_id) {
            None => Err("Agent is not deactivated".into()),
            Some(d) if !d.drained => Err("Agent is still in the DRAINING state".into()),
            Some(_) => {
                self.draining.remove(agent_id);
                Ok(())
            }
        }
    }
}
