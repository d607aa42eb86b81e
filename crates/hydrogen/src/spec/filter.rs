//! Placement filters on agent attributes, and their pure evaluation.
//!
//! The scheduler owns placement; this file owns what a filter *means*, so the
//! API can validate a filter with the same parser the scheduler evaluates it
//! with. Agents are described by plain [`Attribute`]s (the scheduler converts
//! Mesos `Attribute` protobufs into them), so nothing here depends on Mesos
//! types.
//!
//! The semantics, with an example per type, are on [`Filter`] so that they
//! show in the rendered docs (this file is a private module).

use serde::Serialize;
use serde_json::Value;

use super::error::ValidationError;
use super::json::{Obj, ReadResult, array, at, join, keyword, string, text};

/// The kind of agent attribute a filter looks at (input is case-insensitive;
/// serialised upper-case as the seed README writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FilterType {
    /// A Mesos text attribute, e.g. `rack:r1`.
    Text,
    /// A Mesos set attribute, e.g. `features:{ssd,gpu}`.
    Set,
    /// A Mesos scalar attribute, e.g. `cores:16`.
    Scalar,
    /// A Mesos ranges attribute, e.g. `ports:[8000-9000]`.
    Ranges,
}

/// Comparison of a `SCALAR` filter (lowercase on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScalarOp {
    /// Equal to one of the values (the default).
    Eq,
    /// Less than the value.
    Lt,
    /// Less than or equal to the value.
    Le,
    /// Greater than the value.
    Gt,
    /// Greater than or equal to the value.
    Ge,
}

/// One placement filter, as the seed writes it plus `attribute` and `op`.
///
/// A filter is `{"type": T, "value": [...], "attribute"?: NAME, "op"?: OP}`.
/// Without `attribute` it holds when **some** agent attribute of type `T`
/// matches (the original Hydrogen's meaning); with `attribute` only the
/// attribute of that name (names compare case-sensitively, as Mesos does)
/// counts, and it must have type `T`. Several filters on one app must all hold.
///
/// | type | holds when | example filter | agent that passes |
/// | --- | --- | --- | --- |
/// | `TEXT` | the text equals one of the values, ignoring ASCII case | `{"type":"TEXT","value":["DEADBEEF00"]}` | `mac:deadbeef00` |
/// | `SCALAR` | the number equals one of the values, or compares with `op` (`eq`, `lt`, `le`, `gt`, `ge`) to the single value | `{"type":"SCALAR","attribute":"cores","op":"ge","value":["8"]}` | `cores:16` |
/// | `SET` | the agent's set holds every value (exact strings) | `{"type":"SET","value":["ssd","gpu"]}` | `features:{ssd,gpu,nvme}` |
/// | `RANGES` | the agent's ranges contain every value, a number or `"a-b"` | `{"type":"RANGES","attribute":"ports","value":["8080","9000-9010"]}` | `ports:[8000-8100,9000-9999]` |
///
/// Scalars compare after rounding to three decimals, the precision Mesos keeps
/// for scalar values. An agent's ranges are merged first, so `[1-5,6-10]`
/// contains `3-8`. The seed's README also lists a `STRATEGY` filter type; the
/// original never gave it a meaning, and the strategy has its own field, so it
/// is rejected with a message pointing there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filter {
    /// Which attribute type the filter looks at.
    #[serde(rename = "type")]
    pub kind: FilterType,
    /// The values to match; numbers arrive as strings or JSON numbers and are
    /// kept as text, the seed's shape.
    pub value: Vec<String>,
    /// Only this agent attribute counts; any attribute of `kind` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// Comparison for `SCALAR` filters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<ScalarOp>,
}

/// One attribute of an agent, in plain types.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// The attribute's name, e.g. `rack`.
    pub name: String,
    /// Its typed value.
    pub value: AttributeValue,
}

/// The value of an agent attribute, one variant per Mesos attribute type.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    /// `rack:r1`.
    Text(String),
    /// `cores:16`.
    Scalar(f64),
    /// `features:{ssd,gpu}`.
    Set(Vec<String>),
    /// `ports:[8000-8100,9000-9999]`, inclusive bounds.
    Ranges(Vec<(u64, u64)>),
}

impl AttributeValue {
    /// The filter type that looks at values like this one.
    pub fn filter_type(&self) -> FilterType {
        match self {
            AttributeValue::Text(_) => FilterType::Text,
            AttributeValue::Scalar(_) => FilterType::Scalar,
            AttributeValue::Set(_) => FilterType::Set,
            AttributeValue::Ranges(_) => FilterType::Ranges,
        }
    }
}

const FILTER_KEYS: &[&str] = &["type", "value", "attribute", "op"];
const TYPE_RULE: &str = "TEXT, SET, SCALAR or RANGES";
const OP_RULE: &str = "eq, lt, le, gt or ge";

impl Filter {
    pub(crate) fn read(v: &Value, path: &str) -> ReadResult<Self> {
        let o = Obj::new(v, path, FILTER_KEYS)?;
        let kind = o.req("type", |v, p| {
            if v.as_str().is_some_and(|s| s.trim().eq_ignore_ascii_case("strategy")) {
                return Err(ValidationError::new(
                    p,
                    format!("must be {TYPE_RULE} (STRATEGY is not a filter: use the app's `strategy` field)"),
                ));
            }
            keyword(
                v,
                p,
                &[
                    ("TEXT", FilterType::Text),
                    ("SET", FilterType::Set),
                    ("SCALAR", FilterType::Scalar),
                    ("RANGES", FilterType::Ranges),
                ],
                TYPE_RULE,
            )
        })?;
        let value = o.req("value", |v, p| array(v, p, text))?;
        let attribute = o.opt("attribute", string)?;
        let op = o.opt("op", |v, p| {
            keyword(
                v,
                p,
                &[
                    ("eq", ScalarOp::Eq),
                    ("lt", ScalarOp::Lt),
                    ("le", ScalarOp::Le),
                    ("gt", ScalarOp::Gt),
                    ("ge", ScalarOp::Ge),
                ],
                OP_RULE,
            )
        })?;
        Ok(Filter {
            kind,
            value,
            attribute,
            op,
        })
    }

    pub(crate) fn validate(&self, path: &str, errors: &mut Vec<ValidationError>) {
        let value_path = join(path, "value");
        if self.value.is_empty() {
            errors.push(ValidationError::new(&value_path, "must not be empty"));
        }
        for (i, v) in self.value.iter().enumerate() {
            let p = at(&value_path, i);
            if v.trim().is_empty() {
                errors.push(ValidationError::new(p, "must not be empty"));
                continue;
            }
            match self.kind {
                FilterType::Scalar if parse_scalar(v).is_none() => {
                    errors.push(ValidationError::new(
                        p,
                        format!("must be a number for a SCALAR filter, not {v:?}"),
                    ))
                }
                FilterType::Ranges if parse_range(v).is_none() => {
                    errors.push(ValidationError::new(
                        p,
                        format!(
                            "must be a number or \"a-b\" with a <= b for a RANGES filter, not {v:?}"
                        ),
                    ))
                }
                _ => {}
            }
        }
        if let Some(attribute) = &self.attribute
            && attribute.trim().is_empty()
        {
            errors.push(ValidationError::new(
                join(path, "attribute"),
                "must not be empty",
            ));
        }
        match self.op {
            Some(_) if self.kind != FilterType::Scalar => errors.push(ValidationError::new(
                join(path, "op"),
                "is only allowed with type SCALAR",
            )),
            Some(op) if op != ScalarOp::Eq && self.value.len() > 1 => {
                errors.push(ValidationError::new(
                    value_path,
                    format!("must hold exactly one value when op is {}", op_word(op)),
                ))
            }
            _ => {}
        }
    }

    /// Whether an agent with `attributes` satisfies this filter (see the
    /// module docs). An invalid value (never in a validated app) matches
    /// nothing.
    pub fn matches(&self, attributes: &[Attribute]) -> bool {
        attributes
            .iter()
            .filter(|a| self.attribute.as_deref().is_none_or(|name| name == a.name))
            .any(|a| self.matches_value(&a.value))
    }

    /// Whether one attribute value satisfies this filter, ignoring names;
    /// false when the value's type is not the filter's.
    pub fn matches_value(&self, value: &AttributeValue) -> bool {
        match (self.kind, value) {
            (FilterType::Text, AttributeValue::Text(t)) => self
                .value
                .iter()
                .any(|v| v.trim().eq_ignore_ascii_case(t.trim())),
            (FilterType::Scalar, AttributeValue::Scalar(s)) => {
                let agent = mesos_round(*s);
                let mut wanted = self
                    .value
                    .iter()
                    .filter_map(|v| parse_scalar(v))
                    .map(mesos_round);
                match self.op.unwrap_or(ScalarOp::Eq) {
                    ScalarOp::Eq => wanted.any(|w| w == agent),
                    ScalarOp::Lt => wanted.next().is_some_and(|w| agent < w),
                    ScalarOp::Le => wanted.next().is_some_and(|w| agent <= w),
                    ScalarOp::Gt => wanted.next().is_some_and(|w| agent > w),
                    ScalarOp::Ge => wanted.next().is_some_and(|w| agent >= w),
                }
            }
            (FilterType::Set, AttributeValue::Set(items)) => self
                .value
                .iter()
                .all(|v| items.iter().any(|i| i == v.trim())),
            (FilterType::Ranges, AttributeValue::Ranges(ranges)) => {
                let merged = merge_ranges(ranges);
                self.value.iter().all(|v| match parse_range(v) {
                    Some((lo, hi)) => merged.iter().any(|&(a, b)| a <= lo && hi <= b),
                    None => false,
                })
            }
            _ => false,
        }
    }
}

/// Whether every filter holds for an agent with `attributes` (true when there
/// are no filters).
pub fn filters_match(filters: &[Filter], attributes: &[Attribute]) -> bool {
    filters.iter().all(|f| f.matches(attributes))
}

fn op_word(op: ScalarOp) -> &'static str {
    match op {
        ScalarOp::Eq => "eq",
        ScalarOp::Lt => "lt",
        ScalarOp::Le => "le",
        ScalarOp::Gt => "gt",
        ScalarOp::Ge => "ge",
    }
}

fn parse_scalar(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Mesos keeps scalars as fixed point with three decimals.
fn mesos_round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `"8080"` → (8080, 8080); `"9000-9010"` → (9000, 9010); `a > b` → None.
pub(crate) fn parse_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let (lo, hi) = match v.split_once('-') {
        Some((lo, hi)) => (lo.trim().parse().ok()?, hi.trim().parse().ok()?),
        None => {
            let n = v.parse().ok()?;
            (n, n)
        }
    };
    (lo <= hi).then_some((lo, hi))
}

/// Sorts and merges overlapping or adjacent ranges; drops inverted ones.
fn merge_ranges(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut sorted: Vec<(u64, u64)> = ranges.iter().copied().filter(|(a, b)| a <= b).collect();
    sorted.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(sorted.len());
    for (lo, hi) in sorted {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(json: &str) -> Filter {
        let v: Value = serde_json::from_str(json).expect("test json");
        Filter::read(&v, "filters[0]").expect("valid filter")
    }

    fn errors(json: &str) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        filter(json).validate("filters[0]", &mut errors);
        errors
    }

    fn attr(name: &str, value: AttributeValue) -> Attribute {
        Attribute {
            name: name.to_owned(),
            value,
        }
    }

    fn text(name: &str, v: &str) -> Attribute {
        attr(name, AttributeValue::Text(v.to_owned()))
    }

    #[test]
    fn type_is_case_insensitive() {
        assert_eq!(
            filter(r#"{"type":"text","value":["a"]}"#).kind,
            FilterType::Text
        );
        assert_eq!(
            filter(r#"{"type":"Ranges","value":["1"]}"#).kind,
            FilterType::Ranges
        );
        assert_eq!(
            filter(r#"{"type":" sEt ","value":["a"]}"#).kind,
            FilterType::Set
        );
        let f = filter(r#"{"type":"SCALAR","value":["1"],"op":"GE"}"#);
        assert_eq!(f.op, Some(ScalarOp::Ge));
    }

    #[test]
    fn unknown_type_names_the_field() {
        let v: Value = serde_json::from_str(r#"{"type":"COLOUR","value":["a"]}"#).unwrap();
        let e = Filter::read(&v, "filters[2]").unwrap_err();
        assert_eq!(e.field, "filters[2].type");
        assert_eq!(
            e.message,
            "must be TEXT, SET, SCALAR or RANGES, not \"COLOUR\""
        );
    }

    #[test]
    fn strategy_type_points_to_the_strategy_field() {
        let v: Value = serde_json::from_str(r#"{"type":"strategy","value":["a"]}"#).unwrap();
        let e = Filter::read(&v, "filters[0]").unwrap_err();
        assert_eq!(e.field, "filters[0].type");
        assert!(
            e.message.contains("use the app's `strategy` field"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unknown_op_names_the_field() {
        let v: Value =
            serde_json::from_str(r#"{"type":"SCALAR","value":["1"],"op":"ne"}"#).unwrap();
        let e = Filter::read(&v, "filters[0]").unwrap_err();
        assert_eq!(
            e,
            ValidationError::new("filters[0].op", "must be eq, lt, le, gt or ge, not \"ne\"")
        );
    }

    #[test]
    fn numbers_in_value_are_kept_as_text() {
        assert_eq!(
            filter(r#"{"type":"SCALAR","value":[4, 2.5]}"#).value,
            ["4", "2.5"]
        );
    }

    #[test]
    fn values_must_not_be_empty() {
        assert_eq!(
            errors(r#"{"type":"TEXT","value":[]}"#),
            [ValidationError::new(
                "filters[0].value",
                "must not be empty"
            )]
        );
        assert_eq!(
            errors(r#"{"type":"TEXT","value":["a", " "]}"#),
            [ValidationError::new(
                "filters[0].value[1]",
                "must not be empty"
            )]
        );
    }

    #[test]
    fn scalar_values_must_be_numbers() {
        assert_eq!(
            errors(r#"{"type":"SCALAR","value":["1.5","lots"]}"#),
            [ValidationError::new(
                "filters[0].value[1]",
                "must be a number for a SCALAR filter, not \"lots\""
            )]
        );
    }

    #[test]
    fn ranges_values_must_be_numbers_or_ordered_pairs() {
        assert!(errors(r#"{"type":"RANGES","value":["80","1000-2000", 5]}"#).is_empty());
        let e = errors(r#"{"type":"RANGES","value":["20-10","x","-3"]}"#);
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "filters[0].value[0]",
                "filters[0].value[1]",
                "filters[0].value[2]"
            ]
        );
        assert_eq!(
            e[0].message,
            "must be a number or \"a-b\" with a <= b for a RANGES filter, not \"20-10\""
        );
    }

    #[test]
    fn op_only_for_scalar() {
        assert_eq!(
            errors(r#"{"type":"TEXT","value":["a"],"op":"eq"}"#),
            [ValidationError::new(
                "filters[0].op",
                "is only allowed with type SCALAR"
            )]
        );
    }

    #[test]
    fn comparison_op_takes_one_value() {
        assert_eq!(
            errors(r#"{"type":"SCALAR","value":["1","2"],"op":"gt"}"#),
            [ValidationError::new(
                "filters[0].value",
                "must hold exactly one value when op is gt"
            )]
        );
        assert!(errors(r#"{"type":"SCALAR","value":["1","2"],"op":"eq"}"#).is_empty());
    }

    #[test]
    fn attribute_must_not_be_empty() {
        assert_eq!(
            errors(r#"{"type":"TEXT","value":["a"],"attribute":""}"#),
            [ValidationError::new(
                "filters[0].attribute",
                "must not be empty"
            )]
        );
    }

    #[test]
    fn text_matches_any_text_attribute_case_insensitively() {
        let f = filter(r#"{"type":"TEXT","value":["DEADBEEF00","cafe"]}"#);
        assert!(f.matches(&[text("rack", "r1"), text("mac", "deadbeef00")]));
        assert!(f.matches(&[text("x", "CAFE")]));
        assert!(!f.matches(&[text("mac", "deadbeef01")]));
        // a scalar or set holding the text does not count: the type must match
        assert!(!f.matches(&[attr("mac", AttributeValue::Set(vec!["DEADBEEF00".into()]))]));
        assert!(!f.matches(&[]));
    }

    #[test]
    fn named_attribute_restricts_the_match() {
        let f = filter(r#"{"type":"TEXT","value":["r1"],"attribute":"rack"}"#);
        assert!(f.matches(&[text("rack", "R1")]));
        assert!(!f.matches(&[text("zone", "r1"), text("rack", "r2")]));
        assert!(
            !f.matches(&[text("Rack", "r1")]),
            "attribute names are case-sensitive"
        );
    }

    #[test]
    fn scalar_equality_and_ops() {
        let cores = |n: f64| [attr("cores", AttributeValue::Scalar(n))];
        let eq = filter(r#"{"type":"SCALAR","value":["4","8"]}"#);
        assert!(eq.matches(&cores(8.0)));
        assert!(
            eq.matches(&cores(4.0004)),
            "mesos rounds scalars to 3 decimals"
        );
        assert!(!eq.matches(&cores(6.0)));
        let ge = filter(r#"{"type":"SCALAR","value":["8"],"op":"ge","attribute":"cores"}"#);
        assert!(ge.matches(&cores(8.0)) && ge.matches(&cores(16.0)) && !ge.matches(&cores(4.0)));
        let gt = filter(r#"{"type":"SCALAR","value":["8"],"op":"gt"}"#);
        assert!(!gt.matches(&cores(8.0)) && gt.matches(&cores(9.0)));
        let lt = filter(r#"{"type":"SCALAR","value":["8"],"op":"lt"}"#);
        assert!(lt.matches(&cores(7.0)) && !lt.matches(&cores(8.0)));
        let le = filter(r#"{"type":"SCALAR","value":["8"],"op":"le"}"#);
        assert!(le.matches(&cores(8.0)) && !le.matches(&cores(8.5)));
    }

    #[test]
    fn set_needs_every_value() {
        let f = filter(r#"{"type":"SET","value":["ssd","gpu"]}"#);
        let set = |items: &[&str]| {
            [attr(
                "features",
                AttributeValue::Set(items.iter().map(|s| s.to_string()).collect()),
            )]
        };
        assert!(f.matches(&set(&["ssd", "gpu", "nvme"])));
        assert!(!f.matches(&set(&["ssd"])));
        assert!(
            !f.matches(&set(&["SSD", "GPU"])),
            "set members compare exactly"
        );
    }

    #[test]
    fn ranges_contain_every_value() {
        let f = filter(r#"{"type":"RANGES","value":["8080","9000-9010"],"attribute":"ports"}"#);
        let ports = |r: Vec<(u64, u64)>| [attr("ports", AttributeValue::Ranges(r))];
        assert!(f.matches(&ports(vec![(8000, 8100), (9000, 9999)])));
        assert!(!f.matches(&ports(vec![(8000, 8100), (9005, 9999)])));
        let spanning = filter(r#"{"type":"RANGES","value":["3-8"]}"#);
        assert!(
            spanning.matches(&ports(vec![(6, 10), (1, 5)])),
            "adjacent ranges merge"
        );
        assert!(!spanning.matches(&ports(vec![(1, 4), (6, 10)])));
    }

    #[test]
    fn all_filters_must_hold() {
        let fs = [
            filter(r#"{"type":"TEXT","value":["r1"],"attribute":"rack"}"#),
            filter(r#"{"type":"SCALAR","value":["8"],"op":"ge"}"#),
        ];
        let both = [
            text("rack", "r1"),
            attr("cores", AttributeValue::Scalar(8.0)),
        ];
        assert!(filters_match(&fs, &both));
        assert!(!filters_match(&fs, &both[..1]));
        assert!(filters_match(&[], &[]));
    }

    #[test]
    fn merge_ranges_handles_overlap_and_inversion() {
        assert_eq!(
            merge_ranges(&[(5, 9), (1, 6), (20, 10), (11, 12)]),
            [(1, 9), (11, 12)]
        );
        assert_eq!(merge_ranges(&[(0, u64::MAX), (3, 4)]), [(0, u64::MAX)]);
    }
}
