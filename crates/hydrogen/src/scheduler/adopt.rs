//! The start-up check that keeps a leader from registering a second
//! framework while the first one still runs: when the store has no
//! framework id (a fresh cluster, or a store that lost its data), the
//! master is asked (v1 operator API, `GET_FRAMEWORKS`) for a framework
//! with our name and principal that is registered but not connected. One
//! found means the store forgot it: its tasks run on unseen until its
//! failover timeout, and registering again would start a second copy of
//! every app. The leader then refuses, saying how to adopt it
//! (`--framework-id`) or tear it down.

use std::time::Duration;

use serde_json::Value;

use super::runtime::SchedulerConfig;
use crate::mesos::encoding::JSON;

/// Path of the master's v1 operator API.
pub const OPERATOR_PATH: &str = "api/v1";

/// A framework of ours that the master runs and the store forgot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub id: String,
    pub name: String,
    pub principal: Option<String>,
    /// Its tasks, from `/master/state`; `None` when that could not be read.
    pub tasks: Option<usize>,
}

impl Orphan {
    /// What the operator must do, for the log and `/readyz`.
    pub fn advice(&self, master: &str) -> String {
        let tasks = match self.tasks {
            Some(n) => format!("runs {n} tasks"),
            None => "may run tasks".into(),
        };
        let master = master.trim_end_matches('/');
        format!(
            "framework {id} named {name:?} (principal {principal:?}) is still registered with \
             the master, disconnected, and {tasks}, but the store has no framework id (was the \
             store wiped?): not registering a second one. Start Hydrogen with --framework-id {id} \
             to adopt it, or tear it down (curl -X POST {master}/master/teardown -d \
             frameworkId={id})",
            id = self.id,
            name = self.name,
            principal = self.principal.as_deref().unwrap_or(""),
        )
    }
}

/// Why the master could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("GET_FRAMEWORKS at {url}: {message}")]
    Call { url: String, message: String },
    #[error("no master configured")]
    NoMaster,
}

/// Asks the masters in turn for a disconnected framework with our name
/// and principal; the first master that answers decides. Returns it with
/// the URL of the master that answered.
pub async fn find_orphan(config: &SchedulerConfig) -> Result<Option<(Orphan, String)>, AdoptError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| AdoptError::Call {
            url: String::new(),
            message: e.to_string(),
        })?;
    let mut last = AdoptError::NoMaster;
    for master in &config.masters {
        let url = match master.join(OPERATOR_PATH) {
            Ok(u) => u,
            Err(e) => {
                last = AdoptError::Call {
                    url: master.to_string(),
                    message: e.to_string(),
                };
                continue;
            }
        };
        match get_frameworks(&http, config, &url).await {
            Ok(answer) => {
                let Some(mut orphan) =
                    orphans_in(&answer, &config.framework_name, config.principal.as_deref())
                        .into_iter()
                        .next()
                else {
                    return Ok(None);
                };
                orphan.tasks = count_tasks(&http, config, master, &orphan.id).await;
                return Ok(Some((orphan, master.to_string())));
            }
            Err(message) => {
                last = AdoptError::Call {
                    url: url.to_string(),
                    message,
                }
            }
        }
    }
    Err(last)
}

fn with_auth(req: reqwest::RequestBuilder, config: &SchedulerConfig) -> reqwest::RequestBuilder {
    match (&config.principal, &config.secret) {
        (Some(p), Some(s)) => req.basic_auth(p, Some(s)),
        _ => req,
    }
}

async fn get_frameworks(
    http: &reqwest::Client,
    config: &SchedulerConfig,
    url: &reqwest::Url,
) -> Result<Value, String> {
    let req = http
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, JSON)
        .header(reqwest::header::ACCEPT, JSON)
        .body(r#"{"type":"GET_FRAMEWORKS"}"#);
    let response = with_auth(req, config)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", body.trim()));
    }
    serde_json::from_str(&body).map_err(|e| format!("the answer is not JSON: {e}"))
}

/// The framework's tasks from `/master/state` (best effort: only the
/// message uses it).
async fn count_tasks(
    http: &reqwest::Client,
    config: &SchedulerConfig,
    master: &reqwest::Url,
    id: &str,
) -> Option<usize> {
    let url = master.join("master/state").ok()?;
    let response = with_auth(http.get(url), config).send().await.ok()?;
    let state: Value = response.json().await.ok()?;
    state
        .get("frameworks")?
        .as_array()?
        .iter()
        .find(|f| f.get("id").and_then(Value::as_str) == Some(id))
        .and_then(|f| f.get("tasks"))
        .and_then(Value::as_array)
        .map(Vec::len)
}

/// The registered, not connected frameworks of a `GET_FRAMEWORKS` JSON
/// answer with this name and principal. Completed (removed) frameworks
/// have no tasks left and are not listed.
pub fn orphans_in(answer: &Value, name: &str, principal: Option<&str>) -> Vec<Orphan> {
    let Some(frameworks) = answer
        .pointer("/get_frameworks/frameworks")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    frameworks
        .iter()
        .filter(|f| f.get("connected").and_then(Value::as_bool) == Some(false))
        .filter_map(|f| {
            let info = f.get("framework_info")?;
            let id = info.pointer("/id/value")?.as_str()?;
            let their_name = info.get("name")?.as_str()?;
            let their_principal = info.get("principal").and_then(Value::as_str);
            (their_name == name && their_principal == principal).then(|| Orphan {
                id: id.to_string(),
                name: their_name.to_string(),
                principal: their_principal.map(str::to_string),
                tasks: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn framework(id: &str, name: &str, principal: Option<&str>, connected: bool) -> Value {
        let mut info = json!({"id": {"value": id}, "name": name, "user": "root"});
        if let Some(p) = principal {
            info["principal"] = json!(p);
        }
        json!({"framework_info": info, "active": connected, "connected": connected})
    }

    #[test]
    fn only_a_disconnected_framework_with_our_name_and_principal_is_an_orphan() {
        let answer = json!({"type": "GET_FRAMEWORKS", "get_frameworks": {"frameworks": [
            framework("a", "Hydrogen", Some("Hydrogen"), true),
            framework("b", "Other", Some("Hydrogen"), false),
            framework("c", "Hydrogen", Some("someone"), false),
            framework("d", "Hydrogen", None, false),
            framework("e", "Hydrogen", Some("Hydrogen"), false),
        ], "completed_frameworks": [framework("f", "Hydrogen", Some("Hydrogen"), false)]}});
        let found = orphans_in(&answer, "Hydrogen", Some("Hydrogen"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "e");
        let unauthenticated = orphans_in(&answer, "Hydrogen", None);
        assert_eq!(unauthenticated.len(), 1);
        assert_eq!(unauthenticated[0].id, "d");
        assert!(orphans_in(&json!({"type": "GET_FRAMEWORKS"}), "Hydrogen", None).is_empty());
    }

    #[test]
    fn the_advice_names_the_id_the_flag_and_the_teardown() {
        let orphan = Orphan {
            id: "fw-7".into(),
            name: "Hydrogen".into(),
            principal: Some("Hydrogen".into()),
            tasks: Some(2000),
        };
        let advice = orphan.advice("http://m1:5050/");
        assert!(advice.contains("runs 2000 tasks"), "{advice}");
        assert!(advice.contains("--framework-id fw-7"), "{advice}");
        assert!(
            advice.contains("curl -X POST http://m1:5050/master/teardown -d frameworkId=fw-7"),
            "{advice}"
        );
    }
}
