//! The batch deploys of the `redis_stall_batch` fault: one `POST
//! /v1/api/app` of many apps (with no instances, so they cost the cluster
//! nothing but their records) while Redis is frozen with SIGSTOP, and the
//! judgement of what came of it.
//!
//! A batch is all or nothing: once the round is quiet every instance must
//! hold every app of the batch or none of them, and the client's answer
//! must agree with that: acknowledged (2xx, listing every app of the batch
//! in order as created) means all, refused (a 4xx other than 408, or a
//! connection that never opened) means none, unknown (a 5xx, a timeout, a
//! connection cut) allows either. The settled outcome must then hold until
//! the end of the run: an unknown batch judged absent must not land later.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// What the client was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchAnswer {
    /// 2xx; `problem` says how the answer's list differs from the batch.
    Acked {
        problem: Option<String>,
    },
    Refused(String),
    Unknown(String),
}

/// What the instances hold of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    All,
    None,
}

/// One batch deploy and, once answered and judged, its outcome.
#[derive(Debug)]
pub struct Batch {
    pub names: Vec<String>,
    pub answer: Option<BatchAnswer>,
    pending: Option<JoinHandle<BatchAnswer>>,
    pub settled: Option<Settled>,
    /// A violation was recorded: not judged again.
    pub reported: bool,
}

/// The apps of batch `id`: fresh names (never reused), no instances.
pub fn apps(id: u32, size: usize) -> Vec<Value> {
    (0..size)
        .map(|i| {
            json!({
                "name": format!("stall{id}-{i}"),
                "instances": 0,
                "resources": {"cpu": 0.1, "mem": 32},
                "command": {"cmd": "sleep 1000000"},
            })
        })
        .collect()
}

impl Batch {
    /// Sends the deploy in its own task (the caller freezes Redis
    /// meanwhile) through `url`.
    pub fn send(http: reqwest::Client, url: String, id: u32, size: usize) -> Self {
        let body = Value::Array(apps(id, size));
        let names: Vec<String> = (0..size).map(|i| format!("stall{id}-{i}")).collect();
        let expected = names.clone();
        let pending = tokio::spawn(async move {
            let sent = http
                .post(format!("{url}/v1/api/app"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            match sent {
                Ok(r) => {
                    let status = r.status().as_u16();
                    match status {
                        200..=299 => {
                            let doc: Value = r.json().await.unwrap_or(Value::Null);
                            BatchAnswer::Acked {
                                problem: answer_problem(&doc, &expected),
                            }
                        }
                        400..=499 if status != 408 => {
                            BatchAnswer::Refused(format!("HTTP {status}"))
                        }
                        _ => BatchAnswer::Unknown(format!("HTTP {status}")),
                    }
                }
                Err(e) if e.is_connect() => BatchAnswer::Refused(e.to_string()),
                Err(e) => BatchAnswer::Unknown(e.to_string()),
            }
        });
        Self {
            names,
            answer: None,
            pending: Some(pending),
            settled: None,
            reported: false,
        }
    }

    /// Waits for the answer (the client's timeout bounds it).
    pub async fn answered(&mut self) -> &BatchAnswer {
        if let Some(handle) = self.pending.take() {
            let answer = handle
                .await
                .unwrap_or_else(|e| BatchAnswer::Unknown(format!("the request task failed: {e}")));
            self.answer = Some(answer);
        }
        self.answer
            .get_or_insert_with(|| BatchAnswer::Unknown("never sent".into()))
    }

    /// How many of the batch's apps `held` holds.
    pub fn present(&self, held: &BTreeSet<String>) -> usize {
        self.names.iter().filter(|n| held.contains(*n)).count()
    }
}

/// How an acknowledged answer's list differs from the batch (`None`: it
/// names every app of the batch, in order, as created).
fn answer_problem(doc: &Value, expected: &[String]) -> Option<String> {
    let Some(list) = doc.as_array() else {
        return Some(format!("the answer is not a list: {doc}"));
    };
    if list.len() != expected.len() {
        return Some(format!(
            "the answer lists {} apps of {}",
            list.len(),
            expected.len()
        ));
    }
    for (entry, name) in list.iter().zip(expected) {
        if entry["name"].as_str() != Some(name.as_str()) {
            return Some(format!(
                "the answer lists {} where {name} was sent",
                entry["name"]
            ));
        }
        if entry["created"] != true {
            return Some(format!("the answer says {name} was not created"));
        }
    }
    None
}

/// Judges a batch from the client's answer and how many of its `total`
/// apps one instance holds: what was written, or why that is a violation.
pub fn judge(answer: &BatchAnswer, present: usize, total: usize) -> Result<Settled, String> {
    let settled = if present == total {
        Settled::All
    } else if present == 0 {
        Settled::None
    } else {
        return Err(format!("{present} of {total} apps were written"));
    };
    match (answer, settled) {
        (BatchAnswer::Acked { problem: Some(p) }, _) => Err(format!(
            "acknowledged, but {p} ({present} of {total} written)"
        )),
        (BatchAnswer::Acked { .. }, Settled::None) => Err(format!(
            "acknowledged, but none of its {total} apps was written"
        )),
        (BatchAnswer::Refused(why), Settled::All) => Err(format!(
            "refused ({why}), yet all {total} apps were written"
        )),
        _ => Ok(settled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked() -> BatchAnswer {
        BatchAnswer::Acked { problem: None }
    }

    #[test]
    fn a_partial_batch_is_a_violation_whatever_the_answer() {
        for answer in [
            acked(),
            BatchAnswer::Refused("HTTP 400".into()),
            BatchAnswer::Unknown("HTTP 503".into()),
        ] {
            assert!(judge(&answer, 3, 10).is_err(), "{answer:?}");
        }
    }

    #[test]
    fn the_answer_must_agree_with_what_was_written() {
        assert_eq!(judge(&acked(), 10, 10), Ok(Settled::All));
        assert!(judge(&acked(), 0, 10).is_err());
        let refused = BatchAnswer::Refused("HTTP 400".into());
        assert_eq!(judge(&refused, 0, 10), Ok(Settled::None));
        assert!(judge(&refused, 10, 10).is_err());
        let unknown = BatchAnswer::Unknown("HTTP 503".into());
        assert_eq!(judge(&unknown, 0, 10), Ok(Settled::None));
        assert_eq!(judge(&unknown, 10, 10), Ok(Settled::All));
        let wrong = BatchAnswer::Acked {
            problem: Some("the answer lists 9 apps of 10".into()),
        };
        assert!(judge(&wrong, 10, 10).is_err());
    }

    #[test]
    fn an_acknowledgement_must_list_every_app_as_created() {
        let names = vec!["a".to_string(), "b".to_string()];
        let good = json!([{"name": "a", "created": true}, {"name": "b", "created": true}]);
        assert_eq!(answer_problem(&good, &names), None);
        let short = json!([{"name": "a", "created": true}]);
        assert!(answer_problem(&short, &names).is_some());
        let stale = json!([{"name": "a", "created": true}, {"name": "b", "created": false}]);
        assert!(answer_problem(&stale, &names).is_some());
        let swapped = json!([{"name": "b", "created": true}, {"name": "a", "created": true}]);
        assert!(answer_problem(&swapped, &names).is_some());
    }

    #[test]
    fn batch_apps_are_valid_specs_with_fresh_names() {
        let apps = apps(7, 3);
        assert_eq!(apps.len(), 3);
        assert_eq!(apps[2]["name"], "stall7-2");
        let parsed = hydrogen::spec::parse_apps_warned(Value::Array(apps).to_string().as_bytes());
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}
