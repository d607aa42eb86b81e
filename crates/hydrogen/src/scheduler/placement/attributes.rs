//! Agent attributes and app filters: Mesos attributes converted to
//! [`spec::Attribute`]s, attribute sets interned once per cycle, and the
//! first failing filter cached per set (see "Filters" in the module above).

use super::*;

/// Converts a Mesos attribute; `None` when its type is unknown or its value
/// missing or unusable.
pub(super) fn attribute(a: &v1::Attribute) -> Option<spec::Attribute> {
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

/// Filter results are cached per (demand, attribute set) while a cycle has
/// at most this many distinct attribute sets (agents of a rack or a zone
/// share theirs); beyond, filters are evaluated per visit.
pub(super) const MAX_CACHED_ATTRIBUTE_SETS: usize = 1024;

pub(super) const FILTERS_UNKNOWN: u32 = u32::MAX;

pub(super) const FILTERS_PASS: u32 = u32::MAX - 1;

/// The distinct attribute sets of a cycle's offers, converted once each.
/// Id 0 is the empty set (offers without attributes, and every offer when
/// no demand has filters).
pub(super) struct AttributeSets {
    pub(super) sets: Vec<Vec<spec::Attribute>>,
    /// Hash of the Mesos attributes → (ids, with their first offer's
    /// attributes to compare against).
    pub(super) by_hash: FastMap<u64, Vec<usize>>,
    pub(super) raw: Vec<Vec<v1::Attribute>>,
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
    pub(super) fn intern(&mut self, attributes: &[v1::Attribute]) -> usize {
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

    pub(super) fn get(&self, id: usize) -> &[spec::Attribute] {
        self.sets.get(id).map_or(&[], Vec::as_slice)
    }

    pub(super) fn len(&self) -> usize {
        self.sets.len()
    }
}

/// A hash of Mesos attributes (names, types and values), for interning.
pub(super) fn hash_attributes(attributes: &[v1::Attribute]) -> u64 {
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
