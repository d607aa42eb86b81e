//! Resource arithmetic for the simulated master: what an agent has, what is
//! offered, what tasks use.
//!
//! Mesos resources are a list of protobufs; the master adds, subtracts and
//! compares them keyed by name and reservation role. We keep the same keys in
//! a compact form: scalars in thousandths (Mesos itself rounds scalars to
//! three decimals, and integer arithmetic keeps `offered - used` exact over
//! millions of operations), ranges as sorted, merged inclusive intervals, sets
//! as ordered string sets. Conversion to and from `v1::Resource` happens only
//! at the edges (offers, TaskInfo validation, `/master/state`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use hydrogen_mesos::ranges::merge as normalize;
use hydrogen_mesos::v1;

/// The reservation role of resources that are not reserved.
pub const UNRESERVED: &str = "*";

/// Key of one resource: its name, the role it is reserved for (`*` when
/// unreserved) and, for a dynamic reservation, who made it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub name: String,
    pub role: String,
    /// `None`: unreserved, or reserved statically (by the agent's flags).
    pub dynamic: Option<Dynamic>,
}

/// What a dynamic reservation carries besides its role
/// (`ReservationInfo.principal`, `.labels`): part of the resources'
/// identity, as in Mesos, so a task must name them as they were offered,
/// and reservations with other labels do not merge.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dynamic {
    pub principal: Option<String>,
    /// (key, value) in the order given.
    pub labels: Vec<(String, Option<String>)>,
}

impl Dynamic {
    fn of(info: &v1::resource::ReservationInfo) -> Self {
        Dynamic {
            principal: info.principal.clone(),
            labels: info
                .labels
                .iter()
                .flat_map(|l| &l.labels)
                .map(|l| (l.key.clone(), l.value.clone()))
                .collect(),
        }
    }

    fn labels(&self) -> Option<v1::Labels> {
        (!self.labels.is_empty()).then(|| v1::Labels {
            labels: self
                .labels
                .iter()
                .map(|(key, value)| v1::Label {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        })
    }
}

/// The dynamic reservation of a resource protobuf, whichever shape it
/// came in: the last `reservations` entry of type DYNAMIC, or the legacy
/// `reservation` field (only dynamic reservations ever had one).
pub fn dynamic_of(resource: &v1::Resource) -> Option<Dynamic> {
    match resource.reservations.last() {
        Some(last) => (last.r#type == Some(v1::resource::reservation_info::Type::Dynamic as i32))
            .then(|| Dynamic::of(last)),
        None => resource.reservation.as_ref().map(Dynamic::of),
    }
}

/// How Mesos prints a reservation in resource texts:
/// `(STATIC,role)` or `(DYNAMIC,role[,principal][,{k: v}])`.
fn reservation_text(key: &Key) -> String {
    match &key.dynamic {
        None => format!("(STATIC,{})", key.role),
        Some(d) => {
            let mut text = format!("(DYNAMIC,{}", key.role);
            if let Some(p) = &d.principal {
                text.push_str(&format!(",{p}"));
            }
            if !d.labels.is_empty() {
                let labels: Vec<String> = d
                    .labels
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{k}: {v}"),
                        None => k.clone(),
                    })
                    .collect();
                text.push_str(&format!(",{{{}}}", labels.join(", ")));
            }
            text.push(')');
            text
        }
    }
}

/// The quantity of one resource key.
#[derive(Debug, Clone, PartialEq)]
pub enum Quantity {
    /// Thousandths of the scalar value.
    Scalar(i64),
    /// Sorted, non-overlapping, non-adjacent inclusive ranges.
    Ranges(Vec<(u64, u64)>),
    Set(BTreeSet<String>),
}

/// A bag of resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceSet {
    items: BTreeMap<Key, Quantity>,
}

fn to_millis(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

fn from_millis(value: i64) -> f64 {
    value as f64 / 1000.0
}

fn ranges_contain(outer: &[(u64, u64)], inner: &[(u64, u64)]) -> bool {
    inner
        .iter()
        .all(|(b, e)| outer.iter().any(|(ob, oe)| ob <= b && e <= oe))
}

fn ranges_subtract(from: &[(u64, u64)], remove: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(from.len() + 1);
    for &(b, e) in from {
        let mut pieces = vec![(b, e)];
        for &(rb, re) in remove {
            let mut next = Vec::with_capacity(pieces.len() + 1);
            for (pb, pe) in pieces {
                if re < pb || rb > pe {
                    next.push((pb, pe));
                    continue;
                }
                if rb > pb {
                    next.push((pb, rb - 1));
                }
                if re < pe {
                    next.push((re + 1, pe));
                }
            }
            pieces = next;
        }
        out.extend(pieces);
    }
    normalize(out)
}

/// Parses `[1-2,5-9]` (the Mesos text form of ranges).
pub fn parse_ranges(text: &str) -> Option<Vec<(u64, u64)>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (b, e) = part.split_once('-')?;
        let (b, e) = (b.trim().parse().ok()?, e.trim().parse().ok()?);
        if b > e {
            return None;
        }
        out.push((b, e));
    }
    Some(normalize(out))
}

fn format_ranges(ranges: &[(u64, u64)]) -> String {
    let parts: Vec<String> = ranges.iter().map(|(b, e)| format!("{b}-{e}")).collect();
    format!("[{}]", parts.join(", "))
}

/// The reservation role a resource protobuf belongs to, whichever of the
/// three shapes the framework used (refined `reservations`, legacy
/// `reservation` with `role`, or only the deprecated `role`).
pub fn reservation_role(resource: &v1::Resource) -> String {
    if let Some(last) = resource.reservations.last() {
        return last
            .role
            .clone()
            .unwrap_or_else(|| resource.role().to_string());
    }
    resource.role().to_string()
}

impl ResourceSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds one quantity.
    pub fn add_one(&mut self, key: Key, quantity: Quantity) {
        match (self.items.get_mut(&key), quantity) {
            (Some(Quantity::Scalar(a)), Quantity::Scalar(b)) => *a += b,
            (Some(Quantity::Ranges(a)), Quantity::Ranges(b)) => {
                let mut all = std::mem::take(a);
                all.extend(b);
                *a = normalize(all);
            }
            (Some(Quantity::Set(a)), Quantity::Set(b)) => a.extend(b),
            (Some(_), _) => {
                // A type clash (e.g. `ports` as scalar and ranges) cannot come
                // from validated input; keep the first type.
            }
            (None, q) => {
                self.items.insert(key, q);
            }
        }
        self.prune();
    }

    pub fn scalar(name: &str, role: &str, value: f64) -> (Key, Quantity) {
        (
            Key {
                name: name.to_string(),
                role: role.to_string(),
                dynamic: None,
            },
            Quantity::Scalar(to_millis(value)),
        )
    }

    /// Drops zero and empty quantities so `is_empty` means "nothing".
    fn prune(&mut self) {
        self.items.retain(|_, q| match q {
            Quantity::Scalar(v) => *v > 0,
            Quantity::Ranges(r) => !r.is_empty(),
            Quantity::Set(s) => !s.is_empty(),
        });
    }

    /// Parses resource protobufs, refusing what Mesos's resource validation
    /// refuses (negative or non-finite scalars, type mismatches).
    pub fn from_protos(resources: &[v1::Resource]) -> Result<Self, String> {
        let mut set = ResourceSet::new();
        for r in resources {
            let role = reservation_role(r);
            let key = Key {
                name: r.name.clone(),
                dynamic: if role == UNRESERVED {
                    None
                } else {
                    dynamic_of(r)
                },
                role,
            };
            let quantity = match r.r#type() {
                v1::value::Type::Scalar => {
                    let v = r.scalar.as_ref().map(|s| s.value).ok_or_else(|| {
                        format!("Invalid scalar resource {}: scalar is missing", r.name)
                    })?;
                    if !v.is_finite() || v < 0.0 {
                        return Err(format!("Invalid scalar resource {}: {v}", r.name));
                    }
                    Quantity::Scalar(to_millis(v))
                }
                v1::value::Type::Ranges => {
                    let ranges: Vec<(u64, u64)> = r
                        .ranges
                        .as_ref()
                        .map(|rs| rs.range.iter().map(|x| (x.begin, x.end)).collect())
                        .unwrap_or_default();
                    if ranges.iter().any(|(b, e)| b > e) {
                        return Err(format!("Invalid ranges resource {}", r.name));
                    }
                    Quantity::Ranges(normalize(ranges))
                }
                v1::value::Type::Set => Quantity::Set(
                    r.set
                        .as_ref()
                        .map(|s| s.item.iter().cloned().collect())
                        .unwrap_or_default(),
                ),
                v1::value::Type::Text => {
                    return Err(format!("Unsupported resource type TEXT for {}", r.name));
                }
            };
            if let Some(existing) = set.items.get(&key)
                && std::mem::discriminant(existing) != std::mem::discriminant(&quantity)
            {
                return Err(format!("Resource {} has conflicting types", r.name));
            }
            set.add_one(key, quantity);
        }
        Ok(set)
    }

    /// The protobuf form. `allocation_role` is set on offered and used
    /// resources; `refinement` selects the `reservations` shape for reserved
    /// resources (frameworks with RESERVATION_REFINEMENT) over the legacy
    /// `role` field alone.
    pub fn to_protos(&self, allocation_role: Option<&str>, refinement: bool) -> Vec<v1::Resource> {
        self.items
            .iter()
            .map(|(key, q)| {
                let mut r = v1::Resource {
                    name: key.name.clone(),
                    ..Default::default()
                };
                match q {
                    Quantity::Scalar(v) => {
                        r.set_type(v1::value::Type::Scalar);
                        r.scalar = Some(v1::value::Scalar {
                            value: from_millis(*v),
                        });
                    }
                    Quantity::Ranges(ranges) => {
                        r.set_type(v1::value::Type::Ranges);
                        r.ranges = Some(v1::value::Ranges {
                            range: ranges
                                .iter()
                                .map(|(b, e)| v1::value::Range { begin: *b, end: *e })
                                .collect(),
                        });
                    }
                    Quantity::Set(items) => {
                        r.set_type(v1::value::Type::Set);
                        r.set = Some(v1::value::Set {
                            item: items.iter().cloned().collect(),
                        });
                    }
                }
                // Mesos always names the role of pre-refinement resources in
                // the deprecated `role` field ("*" when unreserved).
                if key.role != UNRESERVED && refinement {
                    let mut info = v1::resource::ReservationInfo {
                        r#type: Some(v1::resource::reservation_info::Type::Static as i32),
                        role: Some(key.role.clone()),
                        ..Default::default()
                    };
                    if let Some(d) = &key.dynamic {
                        info.r#type = Some(v1::resource::reservation_info::Type::Dynamic as i32);
                        info.principal = d.principal.clone();
                        info.labels = d.labels();
                    }
                    r.reservations.push(info);
                } else {
                    // Deprecated in the proto, still what pre-refinement
                    // frameworks read.
                    #[allow(deprecated)]
                    {
                        r.role = Some(key.role.clone());
                    }
                    if let Some(d) = &key.dynamic {
                        r.reservation = Some(v1::resource::ReservationInfo {
                            principal: d.principal.clone(),
                            labels: d.labels(),
                            ..Default::default()
                        });
                    }
                }
                if let Some(role) = allocation_role {
                    r.allocation_info = Some(v1::resource::AllocationInfo {
                        role: Some(role.to_string()),
                    });
                }
                r
            })
            .collect()
    }

    /// Whether every quantity of `other` fits in `self`.
    pub fn contains(&self, other: &ResourceSet) -> bool {
        other
            .items
            .iter()
            .all(|(key, q)| match (self.items.get(key), q) {
                (Some(Quantity::Scalar(a)), Quantity::Scalar(b)) => a >= b,
                (Some(Quantity::Ranges(a)), Quantity::Ranges(b)) => ranges_contain(a, b),
                (Some(Quantity::Set(a)), Quantity::Set(b)) => b.is_subset(a),
                _ => false,
            })
    }

    pub fn add(&mut self, other: &ResourceSet) {
        for (k, q) in &other.items {
            self.add_one(k.clone(), q.clone());
        }
    }

    /// Removes `other`, saturating at nothing for what is not there.
    pub fn subtract(&mut self, other: &ResourceSet) {
        for (key, q) in &other.items {
            if let Some(mine) = self.items.get_mut(key) {
                match (mine, q) {
                    (Quantity::Scalar(a), Quantity::Scalar(b)) => *a = (*a - b).max(0),
                    (Quantity::Ranges(a), Quantity::Ranges(b)) => *a = ranges_subtract(a, b),
                    (Quantity::Set(a), Quantity::Set(b)) => a.retain(|x| !b.contains(x)),
                    _ => {}
                }
            }
        }
        self.prune();
    }

    /// The part reserved for one of `roles` (or unreserved when `roles`
    /// contains `*`).
    pub fn for_roles(&self, roles: &[&str]) -> ResourceSet {
        ResourceSet {
            items: self
                .items
                .iter()
                .filter(|(k, _)| roles.contains(&k.role.as_str()))
                .map(|(k, q)| (k.clone(), q.clone()))
                .collect(),
        }
    }

    /// The same quantities unreserved: what a reservation of them takes
    /// from the agent's unreserved pool, or what unreserving them returns.
    pub fn unreserved(&self) -> ResourceSet {
        let mut out = ResourceSet::new();
        for (k, q) in &self.items {
            out.add_one(
                Key {
                    name: k.name.clone(),
                    role: UNRESERVED.to_string(),
                    dynamic: None,
                },
                q.clone(),
            );
        }
        out
    }

    /// Total of a scalar over all roles, in natural units.
    pub fn scalar_total(&self, name: &str) -> f64 {
        from_millis(
            self.items
                .iter()
                .filter(|(k, _)| k.name == name)
                .map(|(_, q)| match q {
                    Quantity::Scalar(v) => *v,
                    _ => 0,
                })
                .sum(),
        )
    }

    /// Ranges of one resource name over all roles, in text form.
    pub fn ranges_text(&self, name: &str) -> Option<String> {
        let mut all = Vec::new();
        for (k, q) in &self.items {
            if k.name == name
                && let Quantity::Ranges(r) = q
            {
                all.extend(r.iter().copied());
            }
        }
        (!all.is_empty()).then(|| format_ranges(&normalize(all)))
    }

    /// Resource summary as `/master/state` prints it: scalars as numbers
    /// (cpus, mem, disk, gpus always present), ranges as `[a-b, c-d]`.
    pub fn state_summary(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for name in ["cpus", "mem", "disk", "gpus"] {
            map.insert(name.to_string(), serde_json::json!(self.scalar_total(name)));
        }
        for (k, q) in &self.items {
            match q {
                Quantity::Scalar(_) if !map.contains_key(&k.name) => {
                    map.insert(
                        k.name.clone(),
                        serde_json::json!(self.scalar_total(&k.name)),
                    );
                }
                Quantity::Ranges(_) if !map.contains_key(&k.name) => {
                    if let Some(text) = self.ranges_text(&k.name) {
                        map.insert(k.name.clone(), serde_json::json!(text));
                    }
                }
                Quantity::Set(items) => {
                    let text = format!(
                        "{{{}}}",
                        items.iter().cloned().collect::<Vec<_>>().join(", ")
                    );
                    map.insert(k.name.clone(), serde_json::json!(text));
                }
                _ => {}
            }
        }
        serde_json::Value::Object(map)
    }

    /// Whether there is enough to be worth offering (Mesos's minimum
    /// allocatable resources: 0.01 cpus or 32 MB of memory).
    pub fn allocatable(&self) -> bool {
        self.scalar_total("cpus") >= 0.01 || self.scalar_total("mem") >= 32.0
    }
}

/// Mesos's text form of resources, used in validation messages, e.g.
/// `cpus(allocated: *):0.5; mem(allocated: *):128`.
impl ResourceSet {
    /// Mesos's `stringify(Resources)` of offered resources, which the
    /// master has stamped with their allocation role before validating an
    /// operation: `cpus(allocated: *):0.5; ports(allocated: *):[31000-31009]`.
    pub fn describe_allocated(&self, role: &str) -> String {
        let mut out = Vec::with_capacity(self.items.len());
        for (k, q) in &self.items {
            let mut item = format!("{}(allocated: {role})", k.name);
            if k.role != UNRESERVED {
                item.push_str(&format!("(reservations: [{}])", reservation_text(k)));
            }
            item.push(':');
            match q {
                Quantity::Scalar(v) => item.push_str(&from_millis(*v).to_string()),
                Quantity::Ranges(r) => item.push_str(&format_ranges(r)),
                Quantity::Set(s) => item.push_str(&format!(
                    "{{{}}}",
                    s.iter().cloned().collect::<Vec<_>>().join(", ")
                )),
            }
            out.push(item);
        }
        out.join("; ")
    }
}

impl fmt::Display for ResourceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, q) in &self.items {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            if k.role == UNRESERVED {
                write!(f, "{}:", k.name)?;
            } else {
                write!(f, "{}(reservations: [{}]):", k.name, reservation_text(k))?;
            }
            match q {
                Quantity::Scalar(v) => write!(f, "{}", from_millis(*v))?,
                Quantity::Ranges(r) => f.write_str(&format_ranges(r))?,
                Quantity::Set(s) => write!(
                    f,
                    "{{{}}}",
                    s.iter().cloned().collect::<Vec<_>>().join(", ")
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> ResourceSet {
        let mut s = ResourceSet::new();
        let (k, q) = ResourceSet::scalar("cpus", "*", 4.0);
        s.add_one(k, q);
        s.add_one(
            Key {
                name: "ports".into(),
                role: "*".into(),
                dynamic: None,
            },
            Quantity::Ranges(vec![(31000, 32000)]),
        );
        s
    }

    #[test]
    fn ranges_round_trip_and_subtract() {
        assert_eq!(parse_ranges("[1-2, 4-9]"), Some(vec![(1, 2), (4, 9)]));
        assert_eq!(parse_ranges("[1-2,3-4]"), Some(vec![(1, 4)]));
        assert_eq!(parse_ranges("1-2"), None);
        assert_eq!(
            ranges_subtract(&[(1, 10)], &[(3, 4)]),
            vec![(1, 2), (5, 10)]
        );
        assert_eq!(ranges_subtract(&[(1, 10)], &[(1, 10)]), vec![]);
    }

    #[test]
    fn contains_and_subtract_are_exact() {
        let total = agent();
        let mut used = ResourceSet::new();
        let (k, q) = ResourceSet::scalar("cpus", "*", 0.1);
        used.add_one(k, q);
        used.add_one(
            Key {
                name: "ports".into(),
                role: "*".into(),
                dynamic: None,
            },
            Quantity::Ranges(vec![(31000, 31000)]),
        );
        assert!(total.contains(&used));
        let mut left = total.clone();
        for _ in 0..40 {
            left.subtract(&used.for_roles(&["*"]).clone().for_roles(&["*"]));
            let mut only_cpu = ResourceSet::new();
            let (k, q) = ResourceSet::scalar("cpus", "*", 0.0);
            only_cpu.add_one(k, q);
        }
        assert_eq!(left.scalar_total("cpus"), 0.0);
        assert!(!left.contains(&used));
        let protos = total.to_protos(Some("web"), false);
        let back = ResourceSet::from_protos(&protos).expect("valid");
        assert_eq!(back, total);
    }

    #[test]
    fn reservation_shapes_are_all_understood() {
        let mut s = ResourceSet::new();
        let (k, q) = ResourceSet::scalar("cpus", "web", 1.0);
        s.add_one(k, q);
        for refinement in [true, false] {
            let protos = s.to_protos(None, refinement);
            assert_eq!(ResourceSet::from_protos(&protos).expect("valid"), s);
        }
    }
}
