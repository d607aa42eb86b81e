//! A path-tracking reader over `serde_json::Value`.
//!
//! Why not `#[derive(Deserialize)]` with `deny_unknown_fields`: serde's errors
//! carry a line and column but no field path, and their wording (`expected
//! f64`) is written for programmers. The app JSON is small and its schema
//! fixed, so each type reads itself from a `Value` through these helpers,
//! which know the path they are at and word errors for users
//! (`resources.cpu must be a number, not a string`).
//!
//! Conventions shared by every reader:
//! - an unknown key is an error naming the key's path and the keys allowed;
//! - `null` counts as absent (the original, in Go, treated it so);
//! - numbers are finite by construction (JSON has no NaN), `-0` reads as `0`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::{SpecError, ValidationError};

/// Result of reading one part of the app JSON: fails fast on the first shape
/// error, like a deserializer does.
pub(crate) type ReadResult<T> = Result<T, ValidationError>;

/// `parent.key` (or `key` at the root).
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `parent[i]`.
pub(crate) fn at(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: &str, expected: &str, v: &Value) -> ValidationError {
    ValidationError::new(path, format!("must be {expected}, not {}", kind(v)))
}

/// A JSON object being read, with the keys its schema allows.
pub(crate) struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// Reads `v` as an object whose keys all are in `allowed`.
    pub(crate) fn new(v: &'a Value, path: &str, allowed: &[&str]) -> ReadResult<Self> {
        let Value::Object(map) = v else {
            return Err(wrong_type(path, "an object", v));
        };
        if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ValidationError::new(
                join(path, key),
                format!(
                    "is not a known field (expected one of: {})",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            map,
        })
    }

    /// Path of `key` inside this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value at `key`, `None` when absent or `null`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` is present and not `null`.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Reads an optional field with `read`.
    pub(crate) fn opt<T>(
        &self,
        key: &str,
        read: impl FnOnce(&'a Value, &str) -> ReadResult<T>,
    ) -> ReadResult<Option<T>> {
        match self.get(key) {
            Some(v) => read(v, &self.path_of(key)).map(Some),
            None => Ok(None),
        }
    }

    /// Reads a required field with `read`.
    pub(crate) fn req<T>(
        &self,
        key: &str,
        read: impl FnOnce(&'a Value, &str) -> ReadResult<T>,
    ) -> ReadResult<T> {
        match self.get(key) {
            Some(v) => read(v, &self.path_of(key)),
            None => Err(ValidationError::new(self.path_of(key), "is required")),
        }
    }

    /// Reads an optional array field; absent reads as empty.
    pub(crate) fn list<T>(
        &self,
        key: &str,
        read: impl Fn(&'a Value, &str) -> ReadResult<T>,
    ) -> ReadResult<Vec<T>> {
        Ok(self.opt(key, |v, p| array(v, p, read))?.unwrap_or_default())
    }
}

pub(crate) fn string(v: &Value, path: &str) -> ReadResult<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(wrong_type(path, "a string", v)),
    }
}

pub(crate) fn number(v: &Value, path: &str) -> ReadResult<f64> {
    match v.as_f64() {
        // `+ 0.0` turns -0 into 0 so equal specs hash equal.
        Some(n) if n.is_finite() => Ok(n + 0.0),
        _ => Err(wrong_type(path, "a number", v)),
    }
}

/// A whole number in `0..=u32::MAX`; `5.0` is accepted (some JSON encoders
/// write every number as a float).
pub(crate) fn uint32(v: &Value, path: &str) -> ReadResult<u32> {
    let Value::Number(n) = v else {
        return Err(wrong_type(path, "a whole number", v));
    };
    let whole = if let Some(u) = n.as_u64() {
        Some(u)
    } else if let Some(i) = n.as_i64() {
        return Err(ValidationError::new(path, format!("must be >= 0, not {i}")));
    } else {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    };
    match whole {
        Some(u) => u32::try_from(u)
            .map_err(|_| ValidationError::new(path, format!("must be <= {}", u32::MAX))),
        None if n.as_f64().is_some_and(|f| f < 0.0) => {
            Err(ValidationError::new(path, format!("must be >= 0, not {n}")))
        }
        None => Err(ValidationError::new(
            path,
            format!("must be a whole number, not {n}"),
        )),
    }
}

pub(crate) fn boolean(v: &Value, path: &str) -> ReadResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong_type(path, "true or false", v)),
    }
}

/// A string, or a number kept as its JSON text (filter values and `effort`
/// are strings in the seed, but `"value": [4]` means the same as `["4"]`).
pub(crate) fn text(v: &Value, path: &str) -> ReadResult<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(wrong_type(path, "a string or a number", v)),
    }
}

pub(crate) fn array<'a, T>(
    v: &'a Value,
    path: &str,
    read: impl Fn(&'a Value, &str) -> ReadResult<T>,
) -> ReadResult<Vec<T>> {
    let Value::Array(items) = v else {
        return Err(wrong_type(path, "an array", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| read(item, &at(path, i)))
        .collect()
}

/// `{"k": "v", ...}` with string values.
pub(crate) fn string_map(v: &Value, path: &str) -> ReadResult<BTreeMap<String, String>> {
    let Value::Object(map) = v else {
        return Err(wrong_type(path, "an object of strings", v));
    };
    map.iter()
        .map(|(k, v)| Ok((k.clone(), string(v, &join(path, k))?)))
        .collect()
}

/// One of a fixed set of words, compared case-insensitively; `expected`
/// words the rule (`UNIQUE or MUX`).
pub(crate) fn keyword<T: Copy>(
    v: &Value,
    path: &str,
    choices: &[(&str, T)],
    expected: &str,
) -> ReadResult<T> {
    let Value::String(s) = v else {
        return Err(ValidationError::new(
            path,
            format!("must be {expected}, not {}", kind(v)),
        ));
    };
    choices
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(s.trim()))
        .map(|(_, t)| *t)
        .ok_or_else(|| ValidationError::new(path, format!("must be {expected}, not {s:?}")))
}

/// Parses a request body as JSON, rejecting duplicate object keys (serde_json
/// would silently keep the last one, so `{"cpu": 1, "cpu": 64}` would deploy
/// something the user did not read).
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, SpecError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = de
        .deserialize_any(StrictValue)
        .and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let text = e.to_string();
        // serde_json appends " at line L column C"; we report those apart.
        let message = match text.rsplit_once(" at line ") {
            Some((head, _)) => head.to_owned(),
            None => text,
        };
        SpecError::Syntax {
            line: e.line(),
            column: e.column(),
            message,
        }
    })
}

/// Builds a `Value` like serde_json does, but refuses duplicate keys.
struct StrictValue;

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // Non-finite floats cannot come from JSON text; `from` maps them to null.
        Ok(Value::from(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictSeed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let value = access.next_value_seed(StrictSeed)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

struct StrictSeed;

impl<'de> de::DeserializeSeed<'de> for StrictSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictValue)
    }
}
