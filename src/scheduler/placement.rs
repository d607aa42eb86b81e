//! Placement: which of this cycle's offers each app's waiting tasks go to.
//!
//! [`place`] is a pure function: Mesos offers and per-app [`Demand`]s in, a
//! [`PlacementOutcome`] out (the placements, the offers to decline, and per
//! app the reasons offers were rejected). No I/O, no clock, no randomness:
//! the same input gives the same output, so the scheduler loop can be tested
//! apart from it and this can be tested exhaustively.
//!
//! # What a task takes
//!
//! Each task of an app takes `cpus` = `resources.cpu`, `mem` =
//! `resources.mem`, `disk` when `resources.disk.size > 0`, and
//! `resources.ports` host ports. Only resources named `cpus`, `mem`, `disk`
//! (SCALAR) and `ports` (RANGES) are used; anything else in an offer (gpus,
//! custom resources) is left alone. The [`Placement::resources`] returned are
//! real entries carved out of the offer's: same name, type, `role`,
//! `reservations`, `allocation_info`, disk info and provider, only the
//! quantity changed. The master checks that an ACCEPT's resources are
//! contained in the offer; a copy of the offer's own entries always is.
//!
//! Scalars are handled in thousandths, as Mesos does (it keeps scalars as
//! fixed point with three decimals): an offer's value and an app's need are
//! each rounded to the nearest thousandth once, and all subtraction is
//! integer, so placing a thousand 0.1-cpu tasks on one offer does not drift.
//! A positive need that rounds to zero takes one thousandth.
//!
//! # Roles
//!
//! An app's role is `resources.role`, or the framework's first role when absent.
//! An offer resource is *allocated* to its `allocation_info.role` (MULTI_ROLE
//! frameworks), else to the offer's `allocation_info.role`, else to the
//! framework's role (a framework without MULTI_ROLE has one role). It is
//! *reserved* to the role of its last `reservations` entry, else to its
//! legacy `role` field (`*`, unreserved, when absent). A task may use a
//! resource when the resource is allocated to the app's role and is
//! unreserved, reserved to that role, or reserved to an ancestor of it (Mesos
//! reservations are hierarchical: `eng` reservations serve `eng/web`). All
//! of a task's resources are then allocated to one role, as the master
//! requires. Among the usable entries, reserved ones are taken first (nobody
//! else can use them; unreserved leftovers return to the pool), then in the
//! offer's order. An app with `resources.reserved_only` never uses
//! unreserved entries: an offer without enough reserved resources is
//! rejected for the resource it lacks, as any other short offer.
//!
//! Revocable and shared resources, persistent volumes and BLOCK / RAW disks
//! are never used: long-running tasks must not be revoked, and volumes are
//! not part of the app model. Malformed entries (unknown value type, missing,
//! negative or non-finite scalar, inverted ranges) are ignored, never fatal.
//!
//! # Disk
//!
//! `disk.source` absent: the agent's root disk (disk entries without a
//! source), split by size. `PATH`: PATH disk entries (with `disk.source.path`
//! given, only the one with that root), split by size. `MOUNT`: one whole
//! MOUNT disk entry at least `size` large (with `disk.source.mount` given,
//! only that root); a MOUNT disk cannot be shared, so the task takes all of
//! it, and the smallest that fits is chosen.
//!
//! # Ports
//!
//! A task needs the host ports of `launch::port_needs`: the fixed
//! `port_mapping` `host_port`s, which an offer must hold exactly (else it is
//! a ports rejection), plus enough more for `resources.ports` and the
//! dynamic (`host_port` 0) mappings, taken from the offer's `ports` ranges
//! lowest first, within 1..=65535. A port given to one task is removed from
//! the offer, so no two placements of a cycle share a port (and two tasks
//! with the same fixed port never share an agent). [`Placement::ports`]
//! lists them in the order taken (the launch code maps them to the app's
//! port mappings).
//!
//! # Filters
//!
//! The agent's attributes are converted once per offer into
//! [`spec::Attribute`]s and every app's filters are evaluated with
//! [`spec::Filter::matches`], so the semantics live in one place (the API
//! validates with the same code): all filters must hold; a filter without
//! `attribute` holds when some attribute of its type matches; TEXT is
//! case-insensitive equality to one of the values, SCALAR equality or `op`
//! comparison, SET holds every value, RANGES contain every value. See
//! [`spec::Filter`] for an example of each. Attributes of an unknown type,
//! or missing their value, are dropped.
//!
//! # Strategies
//!
//! - `UNIQUE`: at most one live task of the app per agent, counting the
//!   tasks that already run ([`Demand::tasks_per_agent`]) and the placements
//!   of this cycle (several offers may come from one agent).
//! - `MUX` (the default): colocate. Offers on agents that already run tasks
//!   of the app come first, the agent with the most tasks first (ties: the
//!   agent whose first offer comes first); then the other offers in their
//!   order. An offer is filled with as many tasks as fit before the next one
//!   is tried.
//!
//! # The algorithm and its fairness
//!
//! Each demand walks the offers in its order with a cursor. An offer is
//! checked in a fixed order of rules — role, filters (first failing filter),
//! UNIQUE conflict, cpu, mem, disk, ports — and the first rule it fails is
//! counted once in the demand's [`Rejections`] and the cursor moves past it.
//! This is sound because within a cycle an offer only loses resources and an
//! agent only gains tasks: an offer that cannot take a task now cannot later.
//!
//! Demands take turns: in each round every demand that still wants tasks
//! places one (advancing its cursor as far as needed), in the order of the
//! `demands` slice; a demand whose cursor runs off the end is done for the
//! cycle. So an app wanting 1,000 tasks gets one per round like an app
//! wanting 1, and cannot take a scarce offer whole before the others had a
//! turn. Ties go to the earlier demand: the caller chooses that order (for
//! example rotating it between cycles, or oldest waiting first).
//!
//! Rejections count the offers a demand looked at and could not use (or use
//! again); offers it never reached because it was satisfied are not counted.
//! They answer "why is this app pending" when [`PlacementOutcome::unplaced`]
//! is non-zero: then the demand has looked at every offer.
//!
//! # Cost
//!
//! Per-offer work (attribute conversion, parsing resources into free
//! amounts, the agent index) is done once. Each demand's cursor visits each
//! offer at most once, and a visit costs the demand's filters plus a pass
//! over the offer's few usable entries: O(offers × demands) in the worst
//! case, plus O(placements) for the carving, plus, per demand, O(min(agents
//! with its tasks, agents offered)) to index its existing tasks. Nothing
//! scans all tasks.
//!
//! Per visit, the cheap checks come first and touch only the offer's inline
//! fields: roles are interned to integers, and the offer's total free cpus
//! and mem (over all roles, an upper bound) reject a full offer before its
//! entries are walked.
//!
//! Attribute sets are interned once per cycle (agents of a rack or zone
//! share theirs, and attributes are converted only when some demand has
//! filters); each demand caches `attribute set → first failing filter`, so
//! a visit costs an array lookup instead of filter evaluation. A demand
//! whose cpu (or, without cpu, mem) exceeds every offer's total is counted
//! rejected per group of alike offers (role, attribute set) without
//! visiting them, with the same counts a visit would give.
//!
//! Allocation was the other large cost. A `v1::Resource` is about a
//! kilobyte, so a task's entries are first decided as `Cut`s (slot index
//! and amount, in reused buffers) and copied out of the offer into one
//! exactly sized `Vec`; the offers of each agent sit in one flat index
//! (`AgentOffers`), not a `Vec` per agent; per-filter rejections are
//! counted in an array and moved into the map once; and the cycle's maps
//! hash with `fast_hash` instead of SipHash.
//!
//! `benches/placement.rs` measures a cycle (figures: the README's
//! Benchmarks table). Doubling apps or placements nearly doubles the time,
//! doubling offers adds a fifth to a half (per-offer setup), and the tasks
//! already running barely count. The copies of the offer's entries for the
//! launch (about 2.3 per task, each a clone of a kilobyte-sized protobuf
//! with its strings) are the largest single cost; they are needed for the
//! ACCEPT anyway.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use crate::mesos::v1;
use crate::spec::{self, App, DiskSourceType, StrategyType};

use fast_hash::FastMap;

mod fast_hash;
#[cfg(test)]
mod tests;

/// One app's request for this cycle.
#[derive(Debug, Clone, Copy)]
pub struct Demand<'a> {
    /// The app, for its resources, role, filters and strategy.
    pub app: &'a App,
    /// Tasks of this app to place now (each becomes one [`Placement`] at
    /// most).
    pub wanted: u32,
    /// Live (non-terminal) tasks of this app per agent id, for UNIQUE and
    /// MUX. Agents with no task may be absent.
    pub tasks_per_agent: &'a HashMap<String, u32>,
}

/// One task placed on one offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Index of the offer in the `offers` given to [`place`].
    pub offer: usize,
    /// Index of the demand in the `demands` given to [`place`].
    pub demand: usize,
    /// The task's resources, carved from the offer's entries (for the
    /// TaskInfo of the ACCEPT).
    pub resources: Vec<v1::Resource>,
    /// Host ports taken, in the order taken; `resources.ports` of them.
    pub ports: Vec<u32>,
}

/// Counts of offers a demand could not use, by the first rule each failed.
///
/// The rules are checked in this order: role, filters, UNIQUE conflict, cpu,
/// mem, disk, ports. An offer counts at most once per demand and cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    /// No resources allocated to the app's role.
    pub role: u32,
    /// Some filter did not hold.
    pub filters: u32,
    /// Per filter index (into `app.filters`): the offers that failed that
    /// filter first. Sums to `filters`.
    pub filter_failures: BTreeMap<usize, u32>,
    /// UNIQUE: the agent already runs (or was just given) a task of the app.
    pub unique: u32,
    /// Not enough usable cpus.
    pub cpu: u32,
    /// Not enough usable mem.
    pub mem: u32,
    /// No usable disk of the right source and size.
    pub disk: u32,
    /// Not enough free ports.
    pub ports: u32,
}

impl Rejections {
    /// All rejected offers, whatever the reason.
    pub fn total(&self) -> u32 {
        self.role + self.filters + self.unique + self.cpu + self.mem + self.disk + self.ports
    }

    fn count(&mut self, reason: Reject) {
        match reason {
            Reject::Role => self.role += 1,
            Reject::Filter(i) => {
                self.filters += 1;
                *self.filter_failures.entry(i).or_default() += 1;
            }
            Reject::Unique => self.unique += 1,
            Reject::Cpu => self.cpu += 1,
            Reject::Mem => self.mem += 1,
            Reject::Disk => self.disk += 1,
            Reject::Ports => self.ports += 1,
        }
    }
}

/// What [`place`] decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlacementOutcome {
    /// The placements, in the order they were made (round by round).
    pub placements: Vec<Placement>,
    /// Indices of the offers nothing was placed on (to DECLINE), ascending.
    pub unused_offers: Vec<usize>,
    /// Per demand (same index): why offers were rejected this cycle.
    pub rejections: Vec<Rejections>,
    /// Per demand (same index): wanted tasks that found no offer.
    pub unplaced: Vec<u32>,
}

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

    let mut demand_states: Vec<DemandState<'_>> = demands
        .iter()
        .map(|d| {
            let mut ds = DemandState::new(d, framework_role, &roles, &agents, &agent_offers);
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

/// Why one offer could not take one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reject {
    Role,
    Filter(usize),
    Unique,
    Cpu,
    Mem,
    Disk,
    Ports,
}

/// Lowest and highest host port handed out.
const PORT_MIN: u64 = 1;
const PORT_MAX: u64 = 65_535;

/// Mesos fixed point: thousandths. `None` for values Mesos would refuse
/// (negative, non-finite) or that do not fit an `i64` of thousandths.
fn millis(value: f64) -> Option<i64> {
    if (0.0..9.0e15).contains(&value) {
        Some((value * 1000.0).round() as i64)
    } else {
        None
    }
}

fn from_millis(value: i64) -> f64 {
    value as f64 / 1000.0
}

/// What a task needs of one scalar: at least one thousandth when positive;
/// `i64::MAX` (never fits) when the app's number is unusable.
fn need(value: f64) -> i64 {
    match millis(value) {
        Some(0) if value > 0.0 => 1,
        Some(v) => v,
        None => i64::MAX,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DiskKind {
    Root,
    Path,
    Mount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotKind<'a> {
    Cpus,
    Mem,
    Disk {
        kind: DiskKind,
        root: Option<&'a str>,
    },
    Ports,
}

/// One usable resource entry of an offer and what is still free of it.
#[derive(Debug)]
struct Slot<'a> {
    resource: &'a v1::Resource,
    kind: SlotKind<'a>,
    /// Interned allocation role.
    allocation_role: u32,
    reservation_role: &'a str,
    unreserved: bool,
    /// Thousandths left (cpus, mem, disk).
    free: i64,
    /// Ports left, sorted, merged, within 1..=65535.
    ports: Vec<(u64, u64)>,
}

impl<'a> Slot<'a> {
    fn parse(r: &'a v1::Resource, allocation_role: u32) -> Option<Slot<'a>> {
        if r.revocable.is_some() || r.shared.is_some() {
            return None;
        }
        let ty = v1::value::Type::try_from(r.r#type).ok()?;
        let kind = match (r.name.as_str(), ty) {
            ("cpus", v1::value::Type::Scalar) => SlotKind::Cpus,
            ("mem", v1::value::Type::Scalar) => SlotKind::Mem,
            ("disk", v1::value::Type::Scalar) => disk_kind(r)?,
            ("ports", v1::value::Type::Ranges) => SlotKind::Ports,
            _ => return None,
        };
        let mut slot = Slot {
            resource: r,
            kind,
            allocation_role,
            reservation_role: reservation_role(r),
            unreserved: reservation_role(r) == "*",
            free: 0,
            ports: Vec::new(),
        };
        if kind == SlotKind::Ports {
            let ranges = r.ranges.as_ref()?;
            if ranges.range.iter().any(|x| x.begin > x.end) {
                return None;
            }
            slot.ports = merge(
                ranges
                    .range
                    .iter()
                    .map(|x| (x.begin.max(PORT_MIN), x.end.min(PORT_MAX)))
                    .filter(|(b, e)| b <= e)
                    .collect(),
            );
            if slot.ports.is_empty() {
                return None;
            }
        } else {
            slot.free = millis(r.scalar.as_ref()?.value)?;
            if slot.free == 0 {
                return None;
            }
        }
        Some(slot)
    }

    /// Whether a task of `role` may use this entry (see "Roles").
    fn usable_by(&self, role: Role<'_>) -> bool {
        self.allocation_role == role.id
            && if self.unreserved {
                !role.reserved_only
            } else {
                reservation_serves(self.reservation_role, role.name)
            }
    }
}

/// `reserved` is `*`, `role` itself, or an ancestor of `role`.
fn reservation_serves(reserved: &str, role: &str) -> bool {
    reserved == "*"
        || reserved == role
        || role
            .strip_prefix(reserved)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The role a resource is reserved to: the last (most refined) reservation,
/// else the legacy `role` field, `*` when unreserved.
fn reservation_role(r: &v1::Resource) -> &str {
    match r.reservations.last() {
        Some(last) => last.role.as_deref().unwrap_or_else(|| r.role()),
        None => r.role(),
    }
}

/// Root, PATH or MOUNT disk; `None` for disks a task must not take
/// (persistent volumes, BLOCK / RAW / unknown sources).
fn disk_kind(r: &v1::Resource) -> Option<SlotKind<'_>> {
    use v1::resource::disk_info::source::Type;
    let Some(info) = &r.disk else {
        return Some(SlotKind::Disk {
            kind: DiskKind::Root,
            root: None,
        });
    };
    if info.persistence.is_some() || info.volume.is_some() {
        return None;
    }
    let Some(source) = &info.source else {
        return Some(SlotKind::Disk {
            kind: DiskKind::Root,
            root: None,
        });
    };
    match Type::try_from(source.r#type).ok()? {
        Type::Path => Some(SlotKind::Disk {
            kind: DiskKind::Path,
            root: source.path.as_ref().and_then(|p| p.root.as_deref()),
        }),
        Type::Mount => Some(SlotKind::Disk {
            kind: DiskKind::Mount,
            root: source.mount.as_ref().and_then(|m| m.root.as_deref()),
        }),
        _ => None,
    }
}

/// Sorts and merges overlapping or adjacent inclusive ranges.
fn merge(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (b, e) in ranges {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

/// Converts a Mesos attribute; `None` when its type is unknown or its value
/// missing or unusable.
fn attribute(a: &v1::Attribute) -> Option<spec::Attribute> {
    use v1::value::Type;
    let value = match Type::try_from(a.r#type).ok()? {
        Type::Text => spec::AttributeValue::Text(a.text.as_ref()?.value.clone()),
        Type::Scalar => {
            let v = a.scalar.as_ref()?.value;
            if !v.is_finite() {
                return None;
            }
            spec::AttributeValue::Scalar(v)
        }
        Type::Set => spec::AttributeValue::Set(a.set.as_ref()?.item.clone()),
        Type::Ranges => spec::AttributeValue::Ranges(
            a.ranges
                .as_ref()?
                .range
                .iter()
                .map(|r| (r.begin, r.end))
                .collect(),
        ),
    };
    Some(spec::Attribute {
        name: a.name.clone(),
        value,
    })
}

/// Everything about one offer that placement reads or changes.
struct OfferState<'a> {
    agent: usize,
    /// The offer's allocation role, interned.
    role: u32,
    /// Other allocation roles of its resources (a well-formed offer has
    /// none).
    other_roles: Vec<u32>,
    /// Free cpus and mem over all entries, whatever their role: an upper
    /// bound that rejects most full offers without walking the entries.
    total_cpus: i64,
    total_mem: i64,
    /// Interned attribute set ([`AttributeSets`]).
    attr_set: usize,
    /// Usable entries, reserved first, then in the offer's order.
    slots: Vec<Slot<'a>>,
    used: bool,
}

impl<'a> OfferState<'a> {
    fn new(
        offer: &'a v1::Offer,
        agent: usize,
        attr_set: usize,
        framework_role: &'a str,
        roles: &mut RoleTable<'a>,
    ) -> Self {
        let offer_role = offer
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
            .unwrap_or(framework_role);
        let role = roles.intern(offer_role);
        let mut other_roles = Vec::new();
        let mut slots = Vec::new();
        for r in &offer.resources {
            let this = match r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) {
                Some(name) => roles.intern(name),
                None => role,
            };
            if this != role && !other_roles.contains(&this) {
                other_roles.push(this);
            }
            if let Some(slot) = Slot::parse(r, this) {
                slots.push(slot);
            }
        }
        // Stable: reserved entries first, each group in the offer's order.
        slots.sort_by_key(|s| s.unreserved);
        let total = |kind| {
            slots
                .iter()
                .filter(|s: &&Slot<'_>| s.kind == kind)
                .map(|s| s.free)
                .fold(0i64, i64::saturating_add)
        };
        OfferState {
            agent,
            role,
            other_roles,
            total_cpus: total(SlotKind::Cpus),
            total_mem: total(SlotKind::Mem),
            attr_set,
            slots,
            used: false,
        }
    }

    fn usable<'s>(&'s self, role: Role<'s>) -> impl Iterator<Item = &'s Slot<'a>> + 's {
        self.slots.iter().filter(move |s| s.usable_by(role))
    }

    fn scalar_free(&self, role: Role<'_>, kind: SlotKind<'_>) -> i64 {
        self.usable(role)
            .filter(|s| s.kind == kind)
            .map(|s| s.free)
            .fold(0i64, i64::saturating_add)
    }

    fn disk_fits(&self, role: Role<'_>, need: &DiskNeed<'_>) -> bool {
        let mut matching = self.usable(role).filter(|s| need.accepts(s.kind));
        match need.kind {
            DiskKind::Mount => matching.any(|s| s.free >= need.size),
            DiskKind::Root | DiskKind::Path => {
                matching.map(|s| s.free).fold(0i64, i64::saturating_add) >= need.size
            }
        }
    }

    fn free_ports(&self, role: Role<'_>) -> u64 {
        self.usable(role)
            .filter(|s| s.kind == SlotKind::Ports)
            .flat_map(|s| s.ports.iter().map(|(b, e)| e - b + 1))
            .sum()
    }

    fn holds_port(&self, role: Role<'_>, port: u64) -> bool {
        self.usable(role)
            .filter(|s| s.kind == SlotKind::Ports)
            .any(|s| s.ports.iter().any(|&(b, e)| b <= port && port <= e))
    }

    /// The first rule the offer fails for one more task of `d`.
    fn check(&self, d: &mut DemandState<'_>, sets: &AttributeSets) -> Result<(), Reject> {
        if self.role != d.role.id && !self.other_roles.contains(&d.role.id) {
            return Err(Reject::Role);
        }
        if let Some(i) = d.first_failing_filter(self.attr_set, sets) {
            return Err(Reject::Filter(i));
        }
        if d.unique && d.existing.get(&self.agent).is_some_and(|&n| n > 0) {
            return Err(Reject::Unique);
        }
        if d.cpu > 0
            && (self.total_cpus < d.cpu || self.scalar_free(d.role, SlotKind::Cpus) < d.cpu)
        {
            return Err(Reject::Cpu);
        }
        if d.mem > 0 && (self.total_mem < d.mem || self.scalar_free(d.role, SlotKind::Mem) < d.mem)
        {
            return Err(Reject::Mem);
        }
        if let Some(disk) = &d.disk
            && !self.disk_fits(d.role, disk)
        {
            return Err(Reject::Disk);
        }
        if d.ports > 0 && self.free_ports(d.role) < u64::from(d.ports) {
            return Err(Reject::Ports);
        }
        if !d
            .fixed_ports
            .iter()
            .all(|&port| self.holds_port(d.role, port))
        {
            return Err(Reject::Ports);
        }
        Ok(())
    }

    /// Takes one task's resources; [`OfferState::check`] passed.
    fn take(
        &mut self,
        d: &DemandState<'_>,
        scratch: &mut TakeScratch,
    ) -> (Vec<v1::Resource>, Vec<u32>) {
        scratch.cuts.clear();
        scratch.ranges.clear();
        self.take_scalar(d.role, SlotKind::Cpus, d.cpu, &mut scratch.cuts);
        self.take_scalar(d.role, SlotKind::Mem, d.mem, &mut scratch.cuts);
        if let Some(disk) = &d.disk {
            match disk.kind {
                DiskKind::Mount => {
                    let best = self
                        .slots
                        .iter_mut()
                        .enumerate()
                        .filter(|(_, s)| s.usable_by(d.role) && disk.accepts(s.kind))
                        .filter(|(_, s)| s.free >= disk.size)
                        .min_by_key(|(_, s)| s.free);
                    if let Some((i, slot)) = best {
                        scratch.cuts.push(Cut::Whole(i));
                        slot.free = 0;
                    }
                }
                DiskKind::Root | DiskKind::Path => {
                    let mut left = disk.size;
                    for (i, slot) in self.slots.iter_mut().enumerate() {
                        if left == 0 {
                            break;
                        }
                        if !slot.usable_by(d.role) || !disk.accepts(slot.kind) || slot.free == 0 {
                            continue;
                        }
                        let n = left.min(slot.free);
                        slot.free -= n;
                        left -= n;
                        scratch.cuts.push(Cut::Scalar(i, n));
                    }
                }
            }
        }
        let mut ports = Vec::new();
        // Fixed ports first (from whichever entry holds them), then the
        // dynamic ones lowest first.
        scratch.fixed_left.clear();
        scratch.fixed_left.extend_from_slice(&d.fixed_ports);
        let mut left = u64::from(d.ports).saturating_sub(d.fixed_ports.len() as u64);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if left == 0 && scratch.fixed_left.is_empty() {
                break;
            }
            if slot.kind != SlotKind::Ports || !slot.usable_by(d.role) {
                continue;
            }
            let start = scratch.ranges.len();
            scratch.fixed_left.retain(|&port| {
                let taken = take_port(&mut slot.ports, port);
                if taken {
                    scratch.ranges.push((port, port));
                    ports.push(port as u32);
                }
                !taken
            });
            while left > 0 {
                let Some(first) = slot.ports.first_mut() else {
                    break;
                };
                let (b, e) = *first;
                let n = left.min(e - b + 1);
                let last = b + n - 1;
                scratch.ranges.push((b, last));
                ports.extend((b..=last).map(|p| p as u32));
                left -= n;
                if last == e {
                    slot.ports.remove(0);
                } else {
                    first.0 = last + 1;
                }
            }
            if scratch.ranges.len() > start {
                merge_tail(&mut scratch.ranges, start);
                scratch
                    .cuts
                    .push(Cut::Ports(i, start..scratch.ranges.len()));
            }
        }
        self.used = true;
        // Entries are about a kilobyte each: allocate exactly once, and
        // copy each straight into place.
        let mut out = Vec::with_capacity(scratch.cuts.len());
        for cut in &scratch.cuts {
            let (Cut::Scalar(i, _) | Cut::Whole(i) | Cut::Ports(i, _)) = *cut;
            out.push(self.slots[i].resource.clone());
            let Some(r) = out.last_mut() else { continue };
            match cut {
                Cut::Scalar(_, amount) => {
                    r.scalar = Some(v1::value::Scalar {
                        value: from_millis(*amount),
                    });
                }
                // The entry exactly as offered (a MOUNT disk is taken whole).
                Cut::Whole(_) => {}
                Cut::Ports(_, taken) => {
                    r.ranges = Some(v1::value::Ranges {
                        range: scratch.ranges[taken.clone()]
                            .iter()
                            .map(|&(begin, end)| v1::value::Range { begin, end })
                            .collect(),
                    });
                }
            }
        }
        (out, ports)
    }

    fn take_scalar(&mut self, role: Role<'_>, kind: SlotKind<'_>, amount: i64, out: &mut Vec<Cut>) {
        let mut left = amount;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if left == 0 {
                break;
            }
            if slot.kind != kind || !slot.usable_by(role) || slot.free == 0 {
                continue;
            }
            let n = left.min(slot.free);
            slot.free -= n;
            left -= n;
            out.push(Cut::Scalar(i, n));
        }
        let taken = amount - left;
        match kind {
            SlotKind::Cpus => self.total_cpus -= taken,
            SlotKind::Mem => self.total_mem -= taken,
            _ => {}
        }
    }
}

/// One piece of a task's resources, by slot index of its offer: the
/// decision, before the entry is copied out of the offer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cut {
    /// Thousandths of a scalar entry.
    Scalar(usize, i64),
    /// The whole entry.
    Whole(usize),
    /// Port ranges of a ranges entry, as a span of [`TakeScratch::ranges`].
    Ports(usize, Range<usize>),
}

/// Buffers [`OfferState::take`] reuses from one placement to the next.
#[derive(Debug, Default)]
struct TakeScratch {
    cuts: Vec<Cut>,
    ranges: Vec<(u64, u64)>,
    /// Fixed ports not found in the entries visited so far.
    fixed_left: Vec<u64>,
}

/// Removes `port` from sorted, disjoint `ranges`; false if absent.
fn take_port(ranges: &mut Vec<(u64, u64)>, port: u64) -> bool {
    let Some(i) = ranges.iter().position(|&(b, e)| b <= port && port <= e) else {
        return false;
    };
    let (b, e) = ranges[i];
    match (port == b, port == e) {
        (true, true) => {
            ranges.remove(i);
        }
        (true, false) => ranges[i].0 = port + 1,
        (false, true) => ranges[i].1 = port - 1,
        (false, false) => {
            ranges[i].1 = port - 1;
            ranges.insert(i + 1, (port + 1, e));
        }
    }
    true
}

/// Sorts and merges `ranges[start..]`, so an entry's ranges read as Mesos
/// writes them (fixed ports taken before dynamic ones may interleave).
fn merge_tail(ranges: &mut Vec<(u64, u64)>, start: usize) {
    ranges[start..].sort_unstable();
    let mut write = start;
    for read in start..ranges.len() {
        let (b, e) = ranges[read];
        if write > start && ranges[write - 1].1.saturating_add(1) >= b {
            ranges[write - 1].1 = ranges[write - 1].1.max(e);
        } else {
            ranges[write] = (b, e);
            write += 1;
        }
    }
    ranges.truncate(write);
}

/// The offers of each agent, in offer order, in one flat array (most
/// agents have one offer: a `Vec` each would be an allocation per offer).
#[derive(Debug)]
struct AgentOffers {
    /// Agent `a`'s offers are `offers[start[a]..start[a + 1]]`.
    start: Vec<usize>,
    offers: Vec<usize>,
}

impl AgentOffers {
    /// From the agent index of each offer (indices `0..agents`).
    fn new(offer_agents: &[usize], agents: usize) -> Self {
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

    fn of(&self, agent: usize) -> &[usize] {
        match (self.start.get(agent), self.start.get(agent + 1)) {
            (Some(&b), Some(&e)) => &self.offers[b..e],
            _ => &[],
        }
    }
}

/// Filter results are cached per (demand, attribute set) while a cycle has
/// at most this many distinct attribute sets (agents of a rack or a zone
/// share theirs); beyond, filters are evaluated per visit.
const MAX_CACHED_ATTRIBUTE_SETS: usize = 1024;
const FILTERS_UNKNOWN: u32 = u32::MAX;
const FILTERS_PASS: u32 = u32::MAX - 1;

/// The distinct attribute sets of a cycle's offers, converted once each.
/// Id 0 is the empty set (offers without attributes, and every offer when
/// no demand has filters).
struct AttributeSets {
    sets: Vec<Vec<spec::Attribute>>,
    /// Hash of the Mesos attributes → (ids, with their first offer's
    /// attributes to compare against).
    by_hash: FastMap<u64, Vec<usize>>,
    raw: Vec<Vec<v1::Attribute>>,
}

impl Default for AttributeSets {
    fn default() -> Self {
        Self {
            sets: vec![Vec::new()],
            by_hash: FastMap::default(),
            raw: vec![Vec::new()],
        }
    }
}

impl AttributeSets {
    fn intern(&mut self, attributes: &[v1::Attribute]) -> usize {
        if attributes.is_empty() {
            return 0;
        }
        let hash = hash_attributes(attributes);
        let ids = self.by_hash.entry(hash).or_default();
        if let Some(&id) = ids.iter().find(|&&id| self.raw[id] == attributes) {
            return id;
        }
        let id = self.sets.len();
        ids.push(id);
        self.sets
            .push(attributes.iter().filter_map(attribute).collect());
        self.raw.push(attributes.to_vec());
        id
    }

    fn get(&self, id: usize) -> &[spec::Attribute] {
        self.sets.get(id).map_or(&[], Vec::as_slice)
    }

    fn len(&self) -> usize {
        self.sets.len()
    }
}

/// A hash of Mesos attributes (names, types and values), for interning.
fn hash_attributes(attributes: &[v1::Attribute]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = fast_hash::FastHasher::default();
    for a in attributes {
        a.name.hash(&mut h);
        a.r#type.hash(&mut h);
        if let Some(t) = &a.text {
            t.value.hash(&mut h);
        }
        if let Some(s) = &a.scalar {
            s.value.to_bits().hash(&mut h);
        }
        if let Some(s) = &a.set {
            s.item.hash(&mut h);
        }
        if let Some(r) = &a.ranges {
            for x in &r.range {
                (x.begin, x.end).hash(&mut h);
            }
        }
    }
    h.finish()
}

/// Offers alike for role and filters: (allocation role, attribute set) and
/// how many offers share them.
struct OfferGroup {
    role: u32,
    attr_set: usize,
    count: u32,
}

impl OfferGroup {
    fn of(offers: &[OfferState<'_>]) -> Vec<OfferGroup> {
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

/// A role: its interned id and its name.
#[derive(Debug, Clone, Copy)]
struct Role<'a> {
    id: u32,
    name: &'a str,
    /// `resources.reserved_only`: unreserved entries are not usable.
    reserved_only: bool,
}

/// Role names to small integers, so the per-visit role checks compare
/// integers.
#[derive(Debug, Default)]
struct RoleTable<'a> {
    ids: FastMap<&'a str, u32>,
}

impl<'a> RoleTable<'a> {
    fn intern(&mut self, name: &'a str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(name).or_insert(next)
    }

    /// The role of a demand; a role no offer has gets an id nothing
    /// matches.
    fn get<'n>(&self, name: &'n str) -> Role<'n> {
        Role {
            id: self.ids.get(name).copied().unwrap_or(u32::MAX),
            name,
            reserved_only: false,
        }
    }
}

/// The disk one task needs.
#[derive(Debug)]
struct DiskNeed<'a> {
    kind: DiskKind,
    root: Option<&'a str>,
    size: i64,
}

impl DiskNeed<'_> {
    fn accepts(&self, slot: SlotKind<'_>) -> bool {
        match slot {
            SlotKind::Disk { kind, root } => {
                kind == self.kind && (self.root.is_none() || root == self.root)
            }
            _ => false,
        }
    }
}

/// One demand during a cycle: its needs, its cursor over the offers, and
/// its live tasks per agent (existing plus placed this cycle).
struct DemandState<'a> {
    role: Role<'a>,
    filters: &'a [spec::Filter],
    unique: bool,
    cpu: i64,
    mem: i64,
    disk: Option<DiskNeed<'a>>,
    /// Host ports per task, the fixed ones included.
    ports: u32,
    /// `port_mapping` host ports the task must hold exactly, sorted.
    fixed_ports: Vec<u64>,
    left: u32,
    /// Agent index → live tasks, only for agents with offers this cycle.
    existing: FastMap<usize, u32>,
    /// MUX: offers on agents with tasks, visited first (most tasks first).
    preferred: Vec<usize>,
    /// `preferred` by offer index, to skip them in the second pass.
    preferred_sorted: Vec<usize>,
    /// Position in `preferred`, then (past its end) in all offers.
    first_pass: usize,
    second_pass: usize,
    skip: usize,
    /// Per attribute set: [`FILTERS_UNKNOWN`], [`FILTERS_PASS`] or the
    /// index of the first failing filter. Empty: evaluate every time.
    filter_cache: Vec<u32>,
    /// Offers visited that failed filter `i` first, counted into
    /// [`Rejections`] at the end of the cycle.
    filter_counts: Vec<u32>,
}

impl<'a> DemandState<'a> {
    fn new(
        demand: &Demand<'a>,
        framework_role: &'a str,
        roles: &RoleTable<'_>,
        agents: &FastMap<&str, usize>,
        agent_offers: &AgentOffers,
    ) -> Self {
        let app = demand.app;
        let res = &app.resources;
        let port_needs = super::launch::port_needs(app);
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
        let mut preferred = Vec::new();
        if !unique && demand.wanted > 0 && !existing.is_empty() {
            let mut by_count: Vec<(usize, u32)> = existing.iter().map(|(&a, &n)| (a, n)).collect();
            // Most tasks first; ties by the agent's first offer (agent
            // indices follow offer order).
            by_count.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for (agent, _) in by_count {
                preferred.extend_from_slice(agent_offers.of(agent));
            }
        }
        let mut preferred_sorted = preferred.clone();
        preferred_sorted.sort_unstable();

        DemandState {
            role: Role {
                reserved_only: res.reserved_only == Some(true),
                ..roles.get(res.role.as_deref().unwrap_or(framework_role))
            },
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
    fn first_failing_filter(&mut self, set: usize, sets: &AttributeSets) -> Option<usize> {
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
    fn reject_all(
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
    fn current(&mut self, offers: usize) -> Option<usize> {
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

    fn advance(&mut self) {
        if self.first_pass < self.preferred.len() {
            self.first_pass += 1;
        } else {
            self.second_pass += 1;
        }
    }

    /// Places one task, or returns `None` when no offer left can take it.
    fn place_one(
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
