//! Errors of the app model.
//!
//! Every rejection names the JSON path of the offending field
//! (`resources.cpu`, `container.network[1].ipaddress[0].ip`) and the rule it
//! broke (`must be > 0`), because invariant 6 of the design
//! (`docs/design.md#invariants`) says bad input gets a clear error: the API turns these into HTTP 400 / gRPC INVALID_ARGUMENT with
//! `field` and `message` taken from here, without re-wording them.

use std::fmt;

use serde::Serialize;

/// One broken rule: where (`field`, a JSON path relative to the app object)
/// and what (`message`, lowercase, reads after the path: `resources.cpu must be
/// > 0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    /// JSON path of the field, e.g. `filters[0].type`; empty for the app
    /// object itself.
    pub field: String,
    /// The rule broken, e.g. `must be UNIQUE or MUX`.
    pub message: String,
}

impl ValidationError {
    /// An error at `field` saying `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "app {}", self.message)
        } else {
            write!(f, "{} {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ValidationError {}

/// A field that was accepted but means nothing (the original's
/// `container.type`, say): the app deploys, and the answer lists these so
/// the author learns the field is ignored rather than finding out later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// JSON path of the field, relative to the app object.
    pub field: String,
    /// What happened to it, e.g. `is ignored: ...`.
    pub message: String,
}

impl Warning {
    /// A warning about `field` saying `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

/// Why a request body is not an acceptable app (or list of apps).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The body is not JSON at all (or has a duplicate key, or nests deeper
    /// than the parser allows). `line`/`column` are 1-based, as serde_json
    /// counts them.
    #[error("malformed json at line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the JSON parser saw.
        message: String,
    },
    /// The body is JSON, but its top level is neither what POST nor what PUT
    /// takes (e.g. a string, an empty array, several apps where one is wanted).
    #[error("{0}")]
    Body(String),
    /// One app in the body is wrong: its shape (unknown field, wrong type,
    /// missing field, unknown enum value — then `errors` has one entry) or its
    /// validation rules (then `errors` lists every rule broken).
    #[error("{}", describe(*.index, errors))]
    Invalid {
        /// Position of the app in the body's array when the body held more
        /// than one app; `None` for a single app (object or array of one), so
        /// paths read the same for POST and PUT of one app.
        index: Option<usize>,
        /// Never empty.
        errors: Vec<ValidationError>,
    },
}

impl SpecError {
    /// The path of the (first) offending field, for the API's `field` key.
    /// `None` when the problem is not inside an app.
    pub fn field(&self) -> Option<String> {
        match self {
            SpecError::Invalid { index, errors } => {
                let first = errors.first()?;
                Some(match index {
                    Some(i) if first.field.is_empty() => format!("[{i}]"),
                    Some(i) => format!("[{i}].{}", first.field),
                    None => first.field.clone(),
                })
            }
            _ => None,
        }
    }

    /// Every broken rule (empty unless this is [`SpecError::Invalid`]).
    pub fn errors(&self) -> &[ValidationError] {
        match self {
            SpecError::Invalid { errors, .. } => errors,
            _ => &[],
        }
    }

    pub(crate) fn invalid(index: Option<usize>, errors: Vec<ValidationError>) -> Self {
        SpecError::Invalid { index, errors }
    }
}

fn describe(index: Option<usize>, errors: &[ValidationError]) -> String {
    let list = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    match index {
        Some(i) => format!("app [{i}]: {list}"),
        None => list,
    }
}
