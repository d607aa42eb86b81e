//! Which of the framework's roles get offers: SUPPRESS for a role whose apps
//! have nothing waiting, REVIVE for a role with waiting work whose offers
//! are suppressed or filtered by earlier declines. Per role, so a busy role
//! does not keep offers of an idle one flowing (each such offer would be
//! declined, and hold its agent's resources from other frameworks).

use std::collections::BTreeSet;

use super::effects::OfferFlow;

/// The offer state of each role, as far as our calls made it.
#[derive(Debug, Default)]
pub struct RoleFlow {
    /// Roles we suppressed (until REVIVE or a new subscription).
    suppressed: BTreeSet<String>,
    /// Roles whose decline filters must go: new slots, or a backoff ended.
    revive_wanted: BTreeSet<String>,
}

impl RoleFlow {
    /// A new SUBSCRIBE (which names no suppressed roles): every role gets
    /// offers again.
    pub fn subscribed(&mut self) {
        self.suppressed.clear();
    }

    /// For benches without offers: every role counts as suppressed.
    pub fn suppress_all(&mut self, roles: &[String]) {
        self.suppressed.extend(roles.iter().cloned());
    }

    /// New work in `role`: its decline filters should be cleared.
    pub fn want_revive(&mut self, role: &str) {
        if !self.revive_wanted.contains(role) {
            self.revive_wanted.insert(role.to_string());
        }
    }

    /// The calls for this moment: REVIVE of each of `roles` in `waiting`
    /// (launchable work) that is suppressed or wants a revive; SUPPRESS of
    /// each role with nothing waiting, when `may_suppress` (launching is
    /// allowed, so "nothing waits" is a fact and not a pause). Roles
    /// outside `roles` are never named: the master knows no others.
    pub fn decide(
        &mut self,
        roles: &[String],
        waiting: &BTreeSet<&str>,
        may_suppress: bool,
    ) -> Option<OfferFlow> {
        let mut flow = OfferFlow::default();
        for role in roles {
            if waiting.contains(role.as_str()) {
                let suppressed = self.suppressed.remove(role);
                if self.revive_wanted.remove(role) || suppressed {
                    flow.revive.push(role.clone());
                }
            } else if may_suppress && !self.suppressed.contains(role) {
                self.suppressed.insert(role.clone());
                flow.suppress.push(role.clone());
            }
        }
        (!flow.revive.is_empty() || !flow.suppress.is_empty()).then_some(flow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    fn flow(revive: &[&str], suppress: &[&str]) -> Option<OfferFlow> {
        Some(OfferFlow {
            revive: revive.iter().map(|r| r.to_string()).collect(),
            suppress: suppress.iter().map(|r| r.to_string()).collect(),
        })
    }

    #[test]
    fn only_roles_with_waiting_work_are_revived_and_idle_ones_suppressed() {
        let mut f = RoleFlow::default();
        // Nothing waits: both roles are suppressed, once.
        assert_eq!(
            f.decide(&roles(), &BTreeSet::new(), true),
            flow(&[], &["a", "b"])
        );
        assert_eq!(f.decide(&roles(), &BTreeSet::new(), true), None);
        // Work in b: only b is revived.
        f.want_revive("b");
        let waiting = BTreeSet::from(["b"]);
        assert_eq!(f.decide(&roles(), &waiting, true), flow(&["b"], &[]));
        assert_eq!(f.decide(&roles(), &waiting, true), None, "once");
        // More work in b while it flows: its filters are cleared again.
        f.want_revive("b");
        assert_eq!(f.decide(&roles(), &waiting, true), flow(&["b"], &[]));
        // b done, a waits (suppressed: revived even without want_revive).
        let waiting = BTreeSet::from(["a"]);
        assert_eq!(f.decide(&roles(), &waiting, true), flow(&["a"], &["b"]));
    }

    #[test]
    fn nothing_is_suppressed_while_launching_is_paused_and_unknown_roles_are_never_named() {
        let mut f = RoleFlow::default();
        assert_eq!(f.decide(&roles(), &BTreeSet::new(), false), None);
        f.want_revive("gone");
        let waiting = BTreeSet::from(["gone", "a"]);
        assert_eq!(f.decide(&roles(), &waiting, false), None, "a flows already");
        f.suppress_all(&roles());
        assert_eq!(f.decide(&roles(), &waiting, false), flow(&["a"], &[]));
        f.subscribed();
        assert_eq!(
            f.decide(&roles(), &BTreeSet::from(["b"]), true),
            flow(&[], &["a"])
        );
    }
}
