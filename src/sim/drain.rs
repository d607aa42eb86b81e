//! Agent draining (operator `DRAIN_AGENT`, Mesos 1.9+), as
//! `Master::Http::_drainAgent` (http.cpp) and the agent's drain do it: the
//! agent is deactivated (its offers rescinded, no new ones) and every task
//! on it is killed, the agent reporting TASK_KILLED with
//! REASON_AGENT_DRAINING. Not modelled: `max_grace_period` (kills are
//! immediate), `mark_gone`, the DRAINED state and REACTIVATE_AGENT.

use std::time::Instant;

use super::master::Master;
use crate::mesos::is_terminal;
use crate::mesos::v1::TaskState;
use crate::mesos::v1::task_status::{Reason, Source};

impl Master {
    /// Drains `agent_id`; `Err` carries the master's 400 text.
    pub fn drain_agent(&mut self, now: Instant, agent_id: &str) -> Result<(), String> {
        let Some(agent) = self.agents.get(agent_id) else {
            return Err("Unknown agent".into());
        };
        let offers: Vec<String> = agent.offers.iter().cloned().collect();
        let mut tasks: Vec<(String, String)> = agent.tasks.iter().cloned().collect();
        tasks.sort();
        self.draining.insert(agent_id.to_string());
        for offer in offers {
            self.remove_offer(&offer, true, None);
        }
        for (framework_id, task_id) in tasks {
            let live = self
                .frameworks
                .get(&framework_id)
                .and_then(|f| f.tasks.get(&task_id))
                .is_some_and(|t| !is_terminal(t.state));
            if live {
                if let Some(t) = self
                    .frameworks
                    .get_mut(&framework_id)
                    .and_then(|f| f.tasks.get_mut(&task_id))
                {
                    // Steps scheduled for the task (start, kill) are void.
                    t.step_gen += 1;
                }
                self.agent_update(
                    now,
                    &framework_id,
                    &task_id,
                    TaskState::TaskKilled,
                    Source::Executor,
                    Some(Reason::AgentDraining),
                    None,
                );
            }
        }
        Ok(())
    }
}
