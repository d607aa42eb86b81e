//! Offer resources: what an offer holds, parsed once into free amounts in
//! Mesos thousandths, by role and reservation, and carved into the task's
//! resources (see "What a task takes", "Roles" and "Disk" in the module
//! above).

use super::*;

/// Mesos fixed point: thousandths. `None` for values Mesos would refuse
/// (negative, non-finite) or that do not fit an `i64` of thousandths.
pub(super) fn millis(value: f64) -> Option<i64> {
    if (0.0..9.0e15).contains(&value) {
        Some((value * 1000.0).round() as i64)
    } else {
        None
    }
}

pub(super) fn from_millis(value: i64) -> f64 {
    value as f64 / 1000.0
}

/// What a task needs of one scalar: at least one thousandth when positive;
/// `i64::MAX` (never fits) when the app's number is unusable.
pub(super) fn need(value: f64) -> i64 {
    match millis(value) {
        Some(0) if value > 0.0 => 1,
        Some(v) => v,
        None => i64::MAX,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DiskKind {
    Root,
    Path,
    Mount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotKind<'a> {
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
pub(super) struct Slot<'a> {
    pub(super) resource: &'a v1::Resource,
    pub(super) kind: SlotKind<'a>,
    /// Interned allocation role.
    pub(super) allocation_role: u32,
    pub(super) reservation_role: &'a str,
    pub(super) unreserved: bool,
    /// Thousandths left (cpus, mem, disk).
    pub(super) free: i64,
    /// Ports left, sorted, merged, within 1..=65535.
    pub(super) ports: Vec<(u64, u64)>,
}

impl<'a> Slot<'a> {
    pub(super) fn parse(r: &'a v1::Resource, allocation_role: u32) -> Option<Slot<'a>> {
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
    pub(super) fn usable_by(&self, role: Role<'_>) -> bool {
        self.allocation_role == role.id
            && if self.unreserved {
                !role.reserved_only
            } else {
                reservation_serves(self.reservation_role, role.name)
            }
    }
}

/// `reserved` is `*`, `role` itself, or an ancestor of `role`.
pub(super) fn reservation_serves(reserved: &str, role: &str) -> bool {
    reserved == "*"
        || reserved == role
        || role
            .strip_prefix(reserved)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The role a resource is reserved to: the last (most refined) reservation,
/// else the legacy `role` field, `*` when unreserved.
pub(super) fn reservation_role(r: &v1::Resource) -> &str {
    match r.reservations.last() {
        Some(last) => last.role.as_deref().unwrap_or_else(|| r.role()),
        None => r.role(),
    }
}

/// Root, PATH or MOUNT disk; `None` for disks a task must not take
/// (persistent volumes, BLOCK / RAW / unknown sources).
pub(super) fn disk_kind(r: &v1::Resource) -> Option<SlotKind<'_>> {
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

/// Everything about one offer that placement reads or changes.
pub(super) struct OfferState<'a> {
    pub(super) agent: usize,
    /// The offer's allocation role, interned.
    pub(super) role: u32,
    /// Other allocation roles of its resources (a well-formed offer has
    /// none).
    pub(super) other_roles: Vec<u32>,
    /// Free cpus and mem over all entries, whatever their role: an upper
    /// bound that rejects most full offers without walking the entries.
    pub(super) total_cpus: i64,
    pub(super) total_mem: i64,
    /// Interned attribute set ([`AttributeSets`]).
    pub(super) attr_set: usize,
    /// Usable entries, reserved first, then in the offer's order.
    pub(super) slots: Vec<Slot<'a>>,
    pub(super) used: bool,
}

impl<'a> OfferState<'a> {
    pub(super) fn new(
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

    pub(super) fn usable<'s>(&'s self, role: Role<'s>) -> impl Iterator<Item = &'s Slot<'a>> + 's {
        self.slots.iter().filter(move |s| s.usable_by(role))
    }

    pub(super) fn scalar_free(&self, role: Role<'_>, kind: SlotKind<'_>) -> i64 {
        self.usable(role)
            .filter(|s| s.kind == kind)
            .map(|s| s.free)
            .fold(0i64, i64::saturating_add)
    }

    pub(super) fn disk_fits(&self, role: Role<'_>, need: &DiskNeed<'_>) -> bool {
        let mut matching = self.usable(role).filter(|s| need.accepts(s.kind));
        match need.kind {
            DiskKind::Mount => matching.any(|s| s.free >= need.size),
            DiskKind::Root | DiskKind::Path => {
                matching.map(|s| s.free).fold(0i64, i64::saturating_add) >= need.size
            }
        }
    }

    pub(super) fn free_ports(&self, role: Role<'_>) -> u64 {
        self.usable(role)
            .filter(|s| s.kind == SlotKind::Ports)
            .flat_map(|s| s.ports.iter().map(|(b, e)| e - b + 1))
            .sum()
    }

    pub(super) fn holds_port(&self, role: Role<'_>, port: u64) -> bool {
        self.usable(role)
            .filter(|s| s.kind == SlotKind::Ports)
            .any(|s| s.ports.iter().any(|&(b, e)| b <= port && port <= e))
    }

    /// The first rule the offer fails for one more task of `d`.
    pub(super) fn check(
        &self,
        d: &mut DemandState<'_>,
        sets: &AttributeSets,
    ) -> Result<(), Reject> {
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
    pub(super) fn take(
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

    pub(super) fn take_scalar(
        &mut self,
        role: Role<'_>,
        kind: SlotKind<'_>,
        amount: i64,
        out: &mut Vec<Cut>,
    ) {
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
pub(super) enum Cut {
    /// Thousandths of a scalar entry.
    Scalar(usize, i64),
    /// The whole entry.
    Whole(usize),
    /// Port ranges of a ranges entry, as a span of [`TakeScratch::ranges`].
    Ports(usize, Range<usize>),
}

/// Buffers [`OfferState::take`] reuses from one placement to the next.
#[derive(Debug, Default)]
pub(super) struct TakeScratch {
    pub(super) cuts: Vec<Cut>,
    pub(super) ranges: Vec<(u64, u64)>,
    /// Fixed ports not found in the entries visited so far.
    pub(super) fixed_left: Vec<u64>,
}

/// A role: its interned id and its name.
#[derive(Debug, Clone, Copy)]
pub(super) struct Role<'a> {
    pub(super) id: u32,
    pub(super) name: &'a str,
    /// `resources.reserved_only`: unreserved entries are not usable.
    pub(super) reserved_only: bool,
}

/// Role names to small integers, so the per-visit role checks compare
/// integers.
#[derive(Debug, Default)]
pub(super) struct RoleTable<'a> {
    pub(super) ids: FastMap<&'a str, u32>,
}

impl<'a> RoleTable<'a> {
    pub(super) fn intern(&mut self, name: &'a str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(name).or_insert(next)
    }

    /// The role of a demand; a role no offer has gets an id nothing
    /// matches.
    pub(super) fn get<'n>(&self, name: &'n str) -> Role<'n> {
        Role {
            id: self.ids.get(name).copied().unwrap_or(u32::MAX),
            name,
            reserved_only: false,
        }
    }
}

/// The disk one task needs.
#[derive(Debug)]
pub(super) struct DiskNeed<'a> {
    pub(super) kind: DiskKind,
    pub(super) root: Option<&'a str>,
    pub(super) size: i64,
}

impl DiskNeed<'_> {
    pub(super) fn accepts(&self, slot: SlotKind<'_>) -> bool {
        match slot {
            SlotKind::Disk { kind, root } => {
                kind == self.kind && (self.root.is_none() || root == self.root)
            }
            _ => false,
        }
    }
}
