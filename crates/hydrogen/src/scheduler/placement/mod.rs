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
//! offer's order; and among the offers, those holding reserved entries the
//! app may use are visited first (before MUX's preferred agents below), so
//! an app spends its role's reservations before the shared pool. An app with `resources.reserved_only` never uses
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
//! - `MUX` (the default): colocate. After the offers with reservations
//!   for the app's role, offers on agents that already run tasks of the app
//!   come, the agent with the most tasks first (ties: the
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

mod algorithm;
mod attributes;
mod fast_hash;
mod ports;
mod resources;
#[cfg(test)]
mod tests;

pub use algorithm::place;
use algorithm::*;
use attributes::*;
use ports::*;
use resources::*;

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
