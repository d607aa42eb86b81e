//! The placement algorithm: demands take turns walking the offers with a
//! cursor, each offer checked in a fixed order of rules (see "The
//! algorithm and its fairness" and "Cost" in the module above), with the
//! agents' offers indexed once and alike offers grouped.

use super::*;

/// Matches `offers` to `demands`; see the module docs for the rules.
/// `framework_role` is the role of apps without `resources.role`, and the
/// allocation role of resources that carry none.
pub fn place(
    offers: &[v1::Offer],
    demands: &[Demand<'_>],
    framework_role: &str,
) -> PlacementOutcome {
    let mut roles = RoleTable::default();
    let mut agents: FastMap<&str, usize> = FastMap::default();
    agents.reserve(offers.len());
    let mut offer_agents: Vec<usize> = Vec::with_capacity(offers.len());
    let mut states: Vec<OfferState<'_>> = Vec::with_capacity(offers.len());
    // Attributes matter only to demands with filters.
    let wants_attributes = demands
        .iter()
        .any(|d| d.wanted > 0 && !d.app.filters.is_empty());
    let mut attr_sets = AttributeSets::default();
    for offer in offers {
        let next = agents.len();
        let agent = *agents.entry(offer.agent_id.value.as_str()).or_insert(next);
        offer_agents.push(agent);
        let attr_set = if wants_attributes {
            attr_sets.intern(&offer.attributes)
        } else {
            0
        };
        states.push(OfferState::new(
            offer,
            agent,
            attr_set,
            framework_role,
            &mut roles,
        ));
    }
    let agent_offers = AgentOffers::new(&offer_agents, agents.len());
    let cache_filters = attr_sets.len() <= MAX_CACHED_ATTRIBUTE_SETS;
    // Offers with reserved entries: few in most clusters, and each demand
    // whose role they serve visits them first (see "Roles").
    let reserved_offers: Vec<usize> = states
        .iter()
        .enumerate()
        .filter(|(_, o)| o.slots.iter().any(|s| !s.unreserved))
        .map(|(i, _)| i)
        .collect();

    let mut demand_states: Vec<DemandState<'_>> = demands
        .iter()
        .map(|d| {
            let mut ds = DemandState::new(
                d,
                framework_role,
                &roles,
                &agents,
                &agent_offers,
                (&reserved_offers, &states),
            );
            if cache_filters && !ds.filters.is_empty() {
                ds.filter_cache = vec![FILTERS_UNKNOWN; attr_sets.len()];
            }
            ds
        })
        .collect();
    let mut rejections = vec![Rejections::default(); demands.len()];
    // Demands no offer can take (cpu or mem above every offer's total):
    // their rejections are counted per group of alike offers, not per offer.
    let max_cpus = states.iter().map(|o| o.total_cpus).max().unwrap_or(0);
    let max_mem = states.iter().map(|o| o.total_mem).max().unwrap_or(0);
    let mut groups: Option<Vec<OfferGroup>> = None;
    for (d, ds) in demand_states.iter_mut().enumerate() {
        let hopeless = if ds.cpu > max_cpus {
            Some(Reject::Cpu)
        } else if ds.cpu <= 0 && ds.mem > max_mem {
            Some(Reject::Mem)
        } else {
            None
        };
        let Some(reason) = hopeless else { continue };
        if ds.left == 0 || states.iter().any(|o| !o.other_roles.is_empty()) {
            continue;
        }
        let groups = groups.get_or_insert_with(|| OfferGroup::of(&states));
        ds.reject_all(
            reason,
            groups,
            &states,
            &attr_sets,
            &agent_offers,
            &mut rejections[d],
        );
    }
    // Each placement is one task wanted; past this many, let it grow.
    let wanted: u64 = demands.iter().map(|d| u64::from(d.wanted)).sum();
    let mut placements = Vec::with_capacity(wanted.min(1 << 16) as usize);
    let mut scratch = TakeScratch::default();

    let mut active: Vec<usize> = (0..demands.len())
        .filter(|&d| demand_states[d].left > 0)
        .collect();
    while !active.is_empty() {
        let mut keep = 0;
        for i in 0..active.len() {
            let d = active[i];
            let ds = &mut demand_states[d];
            if let Some((offer, resources, ports)) =
                ds.place_one(&mut states, &attr_sets, &mut rejections[d], &mut scratch)
            {
                placements.push(Placement {
                    offer,
                    demand: d,
                    resources,
                    ports,
                });
                if ds.left > 0 {
                    active[keep] = d;
                    keep += 1;
                }
            }
        }
        active.truncate(keep);
    }
    for (ds, r) in demand_states.iter().zip(&mut rejections) {
        for (i, &n) in ds.filter_counts.iter().enumerate() {
            if n > 0 {
                r.filters += n;
                *r.filter_failures.entry(i).or_default() += n;
            }
        }
    }

    PlacementOutcome {
        placements,
        unused_offers: (0..states.len()).filter(|&i| !states[i].used).collect(),
        rejections,
        unplaced: demand_states.iter().map(|d| d.left).collect(),
    }
}

/// The offers of each agent, in offer order, in one flat array (most
/// agents have one offer: a `Vec` each would be an allocation per offer).
#[derive(Debug)]
pub(super) struct AgentOffers {
    /// Agent `a`'s offers are `offers[start[a]..start[a + 1]]`.
    pub(super) start: Vec<usize>,
    pub(super) offers: Vec<usize>,
}

impl AgentOffers {
    /// From the agent index of each offer (indices `0..agents`).
    pub(super) fn new(offer_agents: &[usize], agents: usize) -> Self {
        let mut start = vec![0usize; agents + 1];
        for &a in offer_agents {
            start[a + 1] += 1;
        }
        for a in 0..agents {
            start[a + 1] += start[a];
        }
        let mut next = start.clone();
        let mut offers = vec![0usize; offer_agents.len()];
        for (o, &a) in offer_agents.iter().enumerate() {
            offers[next[a]] = o;
            next[a] += 1;
        }
        Self { start, offers }
    }

    pub(super) fn of(&self, agent: usize) -> &[usize] {
        match (self.start.get(agent), self.start.get(agent + 1)) {
            (Some(&b), Some(&e)) => &self.offers[b..e],
            _ => &[],
        }
    }
}

/// Offers alike for role and filters: (allocation role, attribute set) and
/// how many offers share them.
pub(super) struct OfferGroup {
    pub(super) role: u32,
    pub(super) attr_set: usize,
    pub(super) count: u32,
}

impl OfferGroup {
    pub(super) fn of(offers: &[OfferState<'_>]) -> Vec<OfferGroup> {
        let mut index: FastMap<(u32, usize), usize> = FastMap::default();
        let mut out: Vec<OfferGroup> = Vec::new();
        for o in offers {
            let next = out.len();
            let i = *index.entry((o.role, o.attr_set)).or_insert(next);
            if i == next {
                out.push(OfferGroup {
                    role: o.role,
                    attr_set: o.attr_set,
                    count: 0,
                });
            }
            out[i].count += 1;
        }
        out
    }
}

/// One demand during a cycle: its needs, its cursor over the offers, and
/// its live tasks per agent (existing plus placed this cycle).
pub(super) struct DemandState<'a> {
    pub(super) role: Role<'a>,
    pub(super) filters: &'a [spec::Filter],
    pub(super) unique: bool,
    pub(super) cpu: i64,
    pub(super) mem: i64,
    pub(super) disk: Option<DiskNeed<'a>>,
    /// Host ports per task, the fixed ones included.
    pub(super) ports: u32,
    /// `port_mapping` host ports the task must hold exactly, sorted.
    pub(super) fixed_ports: Vec<u64>,
    pub(super) left: u32,
    /// Agent index → live tasks, only for agents with offers this cycle.
    pub(super) existing: FastMap<usize, u32>,
    /// MUX: offers on agents with tasks, visited first (most tasks first).
    pub(super) preferred: Vec<usize>,
    /// `preferred` by offer index, to skip them in the second pass.
    pub(super) preferred_sorted: Vec<usize>,
    /// Position in `preferred`, then (past its end) in all offers.
    pub(super) first_pass: usize,
    pub(super) second_pass: usize,
    pub(super) skip: usize,
    /// Per attribute set: [`FILTERS_UNKNOWN`], [`FILTERS_PASS`] or the
    /// index of the first failing filter. Empty: evaluate every time.
    pub(super) filter_cache: Vec<u32>,
    /// Offers visited that failed filter `i` first, counted into
    /// [`Rejections`] at the end of the cycle.
    pub(super) filter_counts: Vec<u32>,
}

impl<'a> DemandState<'a> {
    pub(super) fn new(
        demand: &Demand<'a>,
        framework_role: &'a str,
        roles: &RoleTable<'_>,
        agents: &FastMap<&str, usize>,
        agent_offers: &AgentOffers,
        (reserved_offers, offers): (&[usize], &[OfferState<'_>]),
    ) -> Self {
        let app = demand.app;
        let res = &app.resources;
        let port_needs = crate::scheduler::launch::port_needs(app);
        let disk = res.disk.as_ref().and_then(|d| {
            let size = need(d.size);
            if size == 0 {
                return None;
            }
            let (kind, root) = match &d.source {
                None => (DiskKind::Root, None),
                Some(s) => match s.kind {
                    DiskSourceType::Path => (DiskKind::Path, s.path.as_deref()),
                    DiskSourceType::Mount => (DiskKind::Mount, s.mount.as_deref()),
                },
            };
            Some(DiskNeed { kind, root, size })
        });

        // Index the app's live tasks by agent, walking the smaller side.
        let mut existing: FastMap<usize, u32> = FastMap::default();
        if demand.tasks_per_agent.len() <= agents.len() {
            for (agent, &n) in demand.tasks_per_agent {
                if n > 0
                    && let Some(&i) = agents.get(agent.as_str())
                {
                    existing.insert(i, n);
                }
            }
        } else {
            for (agent, &i) in agents {
                if let Some(&n) = demand.tasks_per_agent.get(*agent)
                    && n > 0
                {
                    existing.insert(i, n);
                }
            }
        }

        let unique = app.strategy_type() == StrategyType::Unique;
        let role = Role {
            reserved_only: res.reserved_only == Some(true),
            ..roles.get(res.role.as_deref().unwrap_or(framework_role))
        };
        // Offers holding resources reserved to the app's role (or an
        // ancestor of it) first: nobody else can use those, so the shared
        // pool is left to the others.
        let mut preferred: Vec<usize> = if demand.wanted > 0 {
            reserved_offers
                .iter()
                .copied()
                .filter(|&o| {
                    offers[o]
                        .slots
                        .iter()
                        .any(|s| !s.unreserved && s.usable_by(role))
                })
                .collect()
        } else {
            Vec::new()
        };
        if !unique && demand.wanted > 0 && !existing.is_empty() {
            let mut reserved_sorted = preferred.clone();
            reserved_sorted.sort_unstable();
            let mut by_count: Vec<(usize, u32)> = existing.iter().map(|(&a, &n)| (a, n)).collect();
            // Most tasks first; ties by the agent's first offer (agent
            // indices follow offer order).
            by_count.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for (agent, _) in by_count {
                for &o in agent_offers.of(agent) {
                    // Already visited among the reserved ones.
                    if reserved_sorted.binary_search(&o).is_err() {
                        preferred.push(o);
                    }
                }
            }
        }
        let mut preferred_sorted = preferred.clone();
        preferred_sorted.sort_unstable();

        DemandState {
            role,
            filters: &app.filters,
            unique,
            cpu: need(res.cpu),
            mem: need(res.mem),
            disk,
            ports: port_needs.count,
            fixed_ports: port_needs.fixed.iter().map(|&p| u64::from(p)).collect(),
            left: demand.wanted,
            existing,
            preferred,
            preferred_sorted,
            first_pass: 0,
            second_pass: 0,
            skip: 0,
            filter_cache: Vec::new(),
            filter_counts: vec![0; app.filters.len()],
        }
    }

    /// The first filter an offer with attribute set `set` fails, if any.
    pub(super) fn first_failing_filter(
        &mut self,
        set: usize,
        sets: &AttributeSets,
    ) -> Option<usize> {
        if self.filters.is_empty() {
            return None;
        }
        if let Some(&cached) = self.filter_cache.get(set)
            && cached != FILTERS_UNKNOWN
        {
            return (cached != FILTERS_PASS).then_some(cached as usize);
        }
        let attributes = sets.get(set);
        let failing = self.filters.iter().position(|f| !f.matches(attributes));
        if let Some(slot) = self.filter_cache.get_mut(set) {
            *slot = failing.map_or(FILTERS_PASS, |i| i as u32);
        }
        failing
    }

    /// Counts every offer as rejected (the demand can use none: `reason`
    /// holds for all that pass role, filters and UNIQUE) and moves the
    /// cursor past the end. Counts what visiting each offer would count.
    pub(super) fn reject_all(
        &mut self,
        reason: Reject,
        groups: &[OfferGroup],
        offers: &[OfferState<'_>],
        sets: &AttributeSets,
        agent_offers: &AgentOffers,
        rejections: &mut Rejections,
    ) {
        let mut passing = 0u32;
        for g in groups {
            if g.role != self.role.id {
                rejections.role += g.count;
            } else if let Some(i) = self.first_failing_filter(g.attr_set, sets) {
                rejections.filters += g.count;
                *rejections.filter_failures.entry(i).or_default() += g.count;
            } else {
                passing += g.count;
            }
        }
        if self.unique {
            let agents: Vec<usize> = self
                .existing
                .iter()
                .filter(|&(_, &n)| n > 0)
                .map(|(&a, _)| a)
                .collect();
            for agent in agents {
                for &o in agent_offers.of(agent) {
                    let offer = &offers[o];
                    if offer.role == self.role.id
                        && self.first_failing_filter(offer.attr_set, sets).is_none()
                    {
                        rejections.unique += 1;
                        passing -= 1;
                    }
                }
            }
        }
        match reason {
            Reject::Mem => rejections.mem += passing,
            _ => rejections.cpu += passing,
        }
        self.first_pass = self.preferred.len();
        self.second_pass = offers.len();
    }

    /// The offer under the cursor, `None` once every offer was visited.
    pub(super) fn current(&mut self, offers: usize) -> Option<usize> {
        if let Some(&o) = self.preferred.get(self.first_pass) {
            return Some(o);
        }
        while self.second_pass < offers {
            if self.preferred_sorted.get(self.skip) == Some(&self.second_pass) {
                self.skip += 1;
                self.second_pass += 1;
                continue;
            }
            return Some(self.second_pass);
        }
        None
    }

    pub(super) fn advance(&mut self) {
        if self.first_pass < self.preferred.len() {
            self.first_pass += 1;
        } else {
            self.second_pass += 1;
        }
    }

    /// Places one task, or returns `None` when no offer left can take it.
    pub(super) fn place_one(
        &mut self,
        offers: &mut [OfferState<'_>],
        sets: &AttributeSets,
        rejections: &mut Rejections,
        scratch: &mut TakeScratch,
    ) -> Option<(usize, Vec<v1::Resource>, Vec<u32>)> {
        loop {
            let o = self.current(offers.len())?;
            let offer = &mut offers[o];
            match offer.check(self, sets) {
                Ok(()) => {
                    let (resources, ports) = offer.take(self, scratch);
                    *self.existing.entry(offer.agent).or_default() += 1;
                    self.left -= 1;
                    if self.unique {
                        self.advance();
                    }
                    return Some((o, resources, ports));
                }
                // Per filter in a flat array here, into the map at the end.
                Err(Reject::Filter(i)) => {
                    if let Some(n) = self.filter_counts.get_mut(i) {
                        *n += 1;
                    }
                    self.advance();
                }
                Err(reason) => {
                    rejections.count(reason);
                    self.advance();
                }
            }
        }
    }
}
