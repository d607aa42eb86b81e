//! Mesos maintenance, in the decision core: unavailability on offers,
//! inverse offers, and moving tasks off agents that go down.
//!
//! An agent is *going down* when Mesos said (an offer's `unavailability`,
//! or an inverse offer) that its maintenance starts within
//! `maintenance_horizon` of now. Then:
//! - its offers get no new task (they are declined);
//! - the apps' tasks on it are *moving*: [`plan::plan_moving`] replaces
//!   them elsewhere the way a rolling update replaces an old version
//!   (replacement first, kill once it is ready, within the minimum ready
//!   share);
//! - its inverse offer is accepted once none of our live tasks remain on
//!   it, and left unanswered while they move.
//!
//! When an app's replacements find no room (every offer rejected them for
//! [`UNPLACED_ROUNDS_FOR_BLOCKED`] rounds in a row), moving is *blocked*: if
//! the app's ready tasks elsewhere still meet its minimum ready share, its
//! tasks on the agent are killed first (their slots relaunch when room
//! appears); otherwise the inverse offer is declined (Mesos asks again
//! later) and the app's State says why. An offer of the agent without
//! `unavailability` (and no inverse offer outstanding) means the
//! maintenance was called off.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use tracing::info;

use super::Core;
use crate::mesos::v1;
use crate::scheduler::core::Now;
use crate::scheduler::effects::{Effects, Kill, KillReason};
use crate::scheduler::names::AppName;
use crate::scheduler::plan;

/// Offer rounds in a row in which an app moving off a maintenance agent
/// placed none of its replacements before moving counts as blocked (one
/// round may hold offers of only a few agents).
pub(super) const UNPLACED_ROUNDS_FOR_BLOCKED: u32 = 2;

/// Wall ms of a Mesos `TimeInfo` (nanoseconds; before the epoch ⇒ 0).
fn wall_ms(t: &v1::TimeInfo) -> u64 {
    u64::try_from(t.nanoseconds / 1_000_000).unwrap_or(0)
}

impl Core {
    fn horizon_end_ms(&self, now: Now) -> u64 {
        now.wall_ms.saturating_add(
            u64::try_from(self.config.maintenance_horizon.as_millis()).unwrap_or(u64::MAX),
        )
    }

    /// Recomputes the agents going down; replans the apps with live tasks
    /// on an agent that started or stopped going down.
    pub(super) fn refresh_moving(&mut self, now: Now, fx: &mut Effects) {
        let end = self.horizon_end_ms(now);
        let moving: HashSet<String> = self
            .unavailable
            .iter()
            .filter(|(_, start)| **start <= end)
            .map(|(agent, _)| agent.clone())
            .collect();
        if moving == self.moving_agents {
            return;
        }
        let changed: HashSet<&String> = moving.symmetric_difference(&self.moving_agents).collect();
        let apps: BTreeSet<String> = self
            .tasks
            .values()
            .filter(|t| plan::is_live(t.state) && changed.contains(&t.agent_id))
            .map(|t| t.app.clone())
            .collect();
        for agent in moving.difference(&self.moving_agents) {
            info!(agent = %agent, "agent goes down for maintenance within the horizon; moving our tasks off it");
        }
        self.moving_agents = moving;
        let apps: Vec<String> = apps.into_iter().collect();
        self.replan(&apps, now, fx);
    }

    /// New inverse offers: their agents go down at the window's start.
    pub(super) fn on_inverse_offers(&mut self, offers: Vec<v1::InverseOffer>) {
        for o in offers {
            let Some(agent) = o.agent_id.map(|a| a.value) else {
                // Maintenance is per agent; one without an agent asks
                // nothing we can give back.
                continue;
            };
            info!(inverse_offer = %o.id.value, %agent, "inverse offer");
            self.unavailable
                .insert(agent.clone(), wall_ms(&o.unavailability.start));
            self.inverse_offers.insert(o.id.value, agent);
        }
    }

    /// Splits offers into those placement may use and those of agents
    /// going down within the horizon (noting what offers say about
    /// unavailability).
    pub(super) fn usable_offers(
        &mut self,
        offers: Vec<v1::Offer>,
        now: Now,
    ) -> (Vec<v1::Offer>, Vec<v1::Offer>) {
        let end = self.horizon_end_ms(now);
        let mut usable = Vec::with_capacity(offers.len());
        let mut unusable = Vec::new();
        for offer in offers {
            let agent = &offer.agent_id.value;
            match &offer.unavailability {
                Some(u) => {
                    self.unavailable.insert(agent.clone(), wall_ms(&u.start));
                }
                None => {
                    // Called off, unless an inverse offer still says so.
                    if !self.inverse_offers.values().any(|a| a == agent) {
                        self.unavailable.remove(agent);
                    }
                }
            }
            if self.moving_agents.contains(agent)
                || offer
                    .unavailability
                    .as_ref()
                    .is_some_and(|u| wall_ms(&u.start) <= end)
            {
                unusable.push(offer);
            } else {
                usable.push(offer);
            }
        }
        (usable, unusable)
    }

    /// Counts an offer round for the apps moving off maintenance agents.
    pub(super) fn count_moving_round(&mut self, app: &str, placed: u32, rejected: u32) {
        if !self.app_is_moving(app) {
            self.moving_unplaced.remove(app);
            return;
        }
        if placed > 0 {
            self.moving_unplaced.remove(app);
        } else if rejected > 0 {
            *self.moving_unplaced.entry(AppName::from(app)).or_insert(0) += 1;
        }
    }

    fn app_is_moving(&self, app: &str) -> bool {
        self.live_on_moving(app).next().is_some()
    }

    /// The app's live tasks on agents going down.
    fn live_on_moving<'a>(
        &'a self,
        app: &str,
    ) -> impl Iterator<Item = &'a crate::store::TaskRecord> + 'a {
        self.records_of(app)
            .filter(|t| plan::is_live(t.state) && self.moving_agents.contains(&t.agent_id))
    }

    /// Answers the outstanding inverse offers (see the module docs), and
    /// kills the tasks of blocked apps that may go first.
    pub(super) fn answer_inverse_offers(&mut self, now: Now, fx: &mut Effects) {
        if self.session.is_none()
            || (self.inverse_offers.is_empty() && self.maintenance_notes.is_empty())
        {
            return;
        }
        let mut ids: Vec<(String, String)> = self
            .inverse_offers
            .iter()
            .map(|(id, agent)| (id.clone(), agent.clone()))
            .collect();
        ids.sort();
        let notes_before = self.maintenance_notes.clone();
        // One walk of the tasks for every outstanding inverse offer.
        let mut apps_on: HashMap<&str, BTreeSet<String>> = ids
            .iter()
            .map(|(_, agent)| (agent.as_str(), BTreeSet::new()))
            .collect();
        for t in self.tasks.values() {
            if let Some(apps) = apps_on.get_mut(t.agent_id.as_str())
                && plan::is_live(t.state)
            {
                apps.insert(t.app.clone());
            }
        }
        let apps_on: HashMap<String, BTreeSet<String>> = apps_on
            .into_iter()
            .map(|(agent, apps)| (agent.to_string(), apps))
            .collect();
        for (id, agent) in ids {
            let apps = apps_on.get(&agent).cloned().unwrap_or_default();
            if apps.is_empty() {
                info!(inverse_offer = %id, %agent, "none of our tasks remain on the agent; accepting its maintenance");
                self.inverse_offers.remove(&id);
                fx.inverse_accepts.push(v1::OfferId { value: id });
                continue;
            }
            if !self.moving_agents.contains(&agent) {
                // Its window is beyond the horizon: nothing moves yet.
                continue;
            }
            let mut decline = false;
            for app in apps {
                if self.moving_unplaced.get(&app).copied().unwrap_or(0)
                    < UNPLACED_ROUNDS_FOR_BLOCKED
                {
                    continue;
                }
                let Some(record) = self.apps.get(&app) else {
                    continue;
                };
                let spec = &record.spec;
                let instances = spec.instances;
                let share = record
                    .spec
                    .upgrade
                    .as_ref()
                    .and_then(|u| u.minimum_ready_share)
                    .unwrap_or(self.config.plan.min_ready_share)
                    .clamp(0.0, 1.0);
                // As the rolling update rounds it: floor of the unready share.
                let allowed_unready = (f64::from(instances) * (1.0 - share)).floor() as u32;
                let needed = instances.saturating_sub(allowed_unready);
                let ready_elsewhere = self
                    .records_of(&app)
                    .filter(|t| {
                        t.instance < instances
                            && !self.moving_agents.contains(&t.agent_id)
                            && plan::is_ready(t, spec)
                    })
                    .count();
                let ready_elsewhere = u32::try_from(ready_elsewhere).unwrap_or(u32::MAX);
                if ready_elsewhere >= needed {
                    // No room for replacements, but the app can spare these.
                    let kills: Vec<Kill> = self
                        .live_on_moving(&app)
                        .filter(|t| t.agent_id == agent && !t.kill_sent)
                        .map(|t| Kill {
                            task_id: t.task_id.clone(),
                            agent_id: Some(t.agent_id.clone()),
                            reason: KillReason::Maintenance,
                        })
                        .collect();
                    fx.kills.extend(kills);
                    continue;
                }
                decline = true;
                let hostname = self
                    .live_on_moving(&app)
                    .find(|t| t.agent_id == agent)
                    .map_or_else(|| agent.clone(), |t| t.hostname.clone());
                let start = self.unavailable.get(&agent).copied().unwrap_or(0);
                let minutes =
                    Duration::from_millis(start.saturating_sub(now.wall_ms)).as_secs() / 60;
                let note = format!(
                    "agent {hostname} goes down for maintenance in {minutes} min: moving its task would break the minimum ready share ({ready_elsewhere} ready elsewhere, {needed} needed) and no offer takes a replacement; maintenance declined"
                );
                self.maintenance_notes.insert(app.into(), note);
            }
            if decline {
                info!(inverse_offer = %id, %agent, "declining maintenance: an app would fall below its minimum ready share");
                self.inverse_offers.remove(&id);
                fx.inverse_declines.push(v1::OfferId { value: id });
            }
        }
        // Notes of apps no longer blocked go; changed ones show in State.
        let blocked: Vec<AppName> = self
            .maintenance_notes
            .keys()
            .filter(|app| {
                self.app_is_moving(app)
                    && self.moving_unplaced.get(*app).copied().unwrap_or(0)
                        >= UNPLACED_ROUNDS_FOR_BLOCKED
            })
            .cloned()
            .collect();
        self.maintenance_notes
            .retain(|app, _| blocked.contains(app));
        if notes_before != self.maintenance_notes {
            let mut changed: Vec<String> = notes_before.into_keys().map(String::from).collect();
            changed.extend(self.maintenance_notes.keys().map(String::from));
            changed.sort();
            changed.dedup();
            self.write_statuses(&changed, now, fx);
        }
    }
}
