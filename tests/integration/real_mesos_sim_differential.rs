//! The simulator held to the real Mesos: one scripted sequence of v1
//! scheduler calls is played against a real Mesos 1.12 master (fixture
//! `RealCluster`, one posix agent) and against `hydrogen sim` (in process,
//! one agent with the same resources), on both encodings. Each step records
//! what a framework sees (HTTP status and 400 bodies, event types and the
//! fields of SUBSCRIBED, OFFERS, UPDATE, ERROR events, the shape of
//! `/master/state`); ids, hostnames, timestamps and ports are normalised
//! and the two transcripts must be equal.
//!
//! Skipped (with a note on stderr) when `MESOS_HOME` is unset, like the
//! fixture. Where the simulator keeps a known difference, the step skips
//! exactly that field and names the README entry ("The simulated Mesos
//! master", known differences).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use hydrogen::mesos::encoding::{Encoding, from_json, to_json_value};
use hydrogen::mesos::recordio::RecordIoCodec;
use hydrogen::mesos::v1::scheduler::{Call, Event};
use hydrogen_sim::{SimConfig, SimHandle, Simulator};
use hydrogen_testkit::real_mesos::{AgentOptions, MasterOptions, RealCluster};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

/// Generous: two busy cores, a real agent forking a command executor.
const DEADLINE: Duration = Duration::from_secs(60);

/// A transcript: step label -> what the framework saw, normalised.
type Transcript = Vec<(String, Value)>;

/// A scheduler speaking raw HTTP to one master in one encoding.
struct Driver {
    http: reqwest::Client,
    endpoint: String,
    base: String,
    encoding: Encoding,
    stream_id: Option<String>,
    framework_id: String,
    events: Option<mpsc::UnboundedReceiver<Value>>,
    /// Events read but not yet consumed by a wait.
    backlog: Vec<Value>,
    /// Volatile strings (ids) and their placeholders, for normalising.
    ids: Vec<(String, String)>,
    transcript: Transcript,
}

impl Driver {
    fn new(base: &str, encoding: Encoding) -> Self {
        Self {
            http: reqwest::Client::new(),
            endpoint: format!("{base}/api/v1/scheduler"),
            base: base.to_string(),
            encoding,
            stream_id: None,
            framework_id: String::new(),
            events: None,
            backlog: Vec::new(),
            ids: Vec::new(),
            transcript: Vec::new(),
        }
    }

    fn remember(&mut self, id: &str, placeholder: &str) {
        if !id.is_empty() && !self.ids.iter().any(|(v, _)| v == id) {
            self.ids.push((id.to_string(), placeholder.to_string()));
            // Longest first: an offer id contains the framework's prefix.
            self.ids.sort_by_key(|b| std::cmp::Reverse(b.0.len()));
        }
    }

    fn record(&mut self, label: &str, value: Value) {
        let v = normalise(&value, &self.ids);
        self.transcript.push((label.to_string(), v));
    }

    /// A call's body in this driver's encoding.
    fn body(&self, call: &Value) -> (Vec<u8>, &'static str) {
        match self.encoding {
            Encoding::Json => (call.to_string().into_bytes(), "application/json"),
            Encoding::Protobuf => {
                let call: Call = from_json(call.to_string().as_bytes())
                    .unwrap_or_else(|e| panic!("test call {call} is not a Call: {e}"));
                (Encoding::Protobuf.encode(&call), "application/x-protobuf")
            }
        }
    }

    /// POSTs raw bytes; returns status and body text (empty for a 2xx).
    async fn post_raw(
        &self,
        body: Vec<u8>,
        content_type: &str,
        accept: Option<&str>,
        stream_id: Option<&str>,
    ) -> (u16, String) {
        let mut req = self
            .http
            .post(&self.endpoint)
            .header("Content-Type", content_type)
            .body(body);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        if let Some(s) = stream_id {
            req = req.header("Mesos-Stream-Id", s);
        }
        let resp = req.send().await.expect("master answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, text)
    }

    /// A non-SUBSCRIBE call with this driver's stream id; records status
    /// and body.
    async fn call(&mut self, label: &str, call: Value) -> u16 {
        let (body, ct) = self.body(&call);
        let sid = self.stream_id.clone();
        let (status, text) = self.post_raw(body, ct, None, sid.as_deref()).await;
        self.record(label, json!({"status": status, "body": text}));
        status
    }

    /// SUBSCRIBE: records status, content type and the first event; keeps
    /// the stream for later waits when it is a SUBSCRIBED.
    async fn subscribe(&mut self, label: &str, call: Value) -> Option<Value> {
        let (body, ct) = self.body(&call);
        let accept = self.encoding.media_type();
        let resp = self
            .http
            .post(&self.endpoint)
            .header("Content-Type", ct)
            .header("Accept", accept)
            .body(body)
            .send()
            .await
            .expect("master answers");
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.text().await.unwrap_or_default();
            self.record(label, json!({"status": status, "body": text}));
            return None;
        }
        let content_type = resp
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let stream_id = resp
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let encoding = self.encoding;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let bytes = resp.bytes_stream().map_err(std::io::Error::other).boxed();
        tokio::spawn(async move {
            let mut frames = FramedRead::new(StreamReader::new(bytes), RecordIoCodec::new(1 << 24));
            while let Some(Ok(record)) = frames.next().await {
                let value = match encoding {
                    // The wire JSON itself: its shape is part of the contract.
                    Encoding::Json => serde_json::from_slice(&record).unwrap_or(Value::Null),
                    Encoding::Protobuf => Encoding::Protobuf
                        .decode::<Event>(&record)
                        .ok()
                        .and_then(|e| to_json_value(&e))
                        .unwrap_or(Value::Null),
                };
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let first = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .ok()
            .flatten()
            .unwrap_or(Value::Null);
        if first["type"] == "SUBSCRIBED" {
            let fid = first["subscribed"]["framework_id"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.remember(&fid, "<framework>");
            let master = first["subscribed"]["master_info"]["id"]
                .as_str()
                .unwrap_or_default();
            self.remember(master, "<master>");
            self.framework_id = fid;
            if let Some(sid) = &stream_id {
                self.remember(sid, "<stream>");
            }
            self.stream_id = stream_id.clone();
            self.events = Some(rx);
        } else {
            // An ERROR event is the last thing on the stream: the master
            // closes it.
            let closed = tokio::time::timeout(DEADLINE, async {
                while let Some(e) = rx.recv().await {
                    if e["type"] != "HEARTBEAT" {
                        return false;
                    }
                }
                true
            })
            .await
            .unwrap_or(false);
            self.record(&format!("{label} stream closed"), json!(closed));
        }
        self.record(
            label,
            json!({
                "status": status,
                "content_type": content_type,
                "stream_id_present": stream_id.is_some(),
                "first_event": first,
            }),
        );
        Some(first)
    }

    /// The next event matching `pred` (HEARTBEATs dropped), from the
    /// backlog first.
    async fn wait_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let started = Instant::now();
        let rx = self.events.as_mut().expect("subscribed");
        loop {
            let left = DEADLINE.saturating_sub(started.elapsed());
            let event = tokio::time::timeout(left, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no event {what} within {DEADLINE:?} on {}", self.base))
                .unwrap_or_else(|| panic!("stream closed waiting for {what} on {}", self.base));
            if event["type"] == "HEARTBEAT" {
                continue;
            }
            if pred(&event) {
                return event;
            }
            self.backlog.push(event);
        }
    }

    /// Waits for an OFFERS event; remembers its ids.
    async fn wait_offer(&mut self) -> Value {
        let ev = self.wait_event("OFFERS", |e| e["type"] == "OFFERS").await;
        let offer = ev["offers"]["offers"][0].clone();
        self.remember(offer["id"]["value"].as_str().unwrap_or_default(), "<offer>");
        self.remember(
            offer["agent_id"]["value"].as_str().unwrap_or_default(),
            "<agent>",
        );
        offer
    }

    /// Waits for the next UPDATE of `task`; acknowledges it when it has a
    /// uuid; records it.
    async fn update(&mut self, label: &str, task: &str) -> Value {
        let ev = self
            .wait_event(&format!("UPDATE of {task}"), |e| {
                e["type"] == "UPDATE" && e["update"]["status"]["task_id"]["value"] == task
            })
            .await;
        let status = ev["update"]["status"].clone();
        if let Some(uuid) = status["uuid"].as_str() {
            let ack = json!({
                "framework_id": {"value": self.framework_id},
                "type": "ACKNOWLEDGE",
                "acknowledge": {
                    "agent_id": status["agent_id"],
                    "task_id": status["task_id"],
                    "uuid": uuid,
                }
            });
            self.call(&format!("{label} ack"), ack).await;
        }
        self.record(label, update_view(&status));
        status
    }

    fn fw(&self) -> Value {
        json!({"value": self.framework_id})
    }

    async fn state(&self) -> Value {
        self.http
            .get(format!("{}/master/state", self.base))
            .send()
            .await
            .expect("state answers")
            .json()
            .await
            .expect("state is JSON")
    }
}

/// What frameworks read from a status update: state, reason, source,
/// message, presence of uuid, agent id and executor id, health.
fn update_view(status: &Value) -> Value {
    json!({
        "state": status["state"],
        "reason": status["reason"],
        "source": status["source"],
        "message": status["message"].as_str().map(|m| canonical_resources(&mask_ranges(m))),
        "uuid_present": status.get("uuid").is_some(),
        "agent_id": status["agent_id"],
        "executor_id_present": status.get("executor_id").is_some(),
        "healthy": status["healthy"],
        "container_status_present": status.get("container_status").is_some(),
    })
}

/// Replaces volatile values (ids, timestamps, hosts, ports) by placeholders.
fn normalise(v: &Value, ids: &[(String, String)]) -> Value {
    const VOLATILE: &[&str] = &[
        "timestamp",
        "hostname",
        "pid",
        "ip",
        "port",
        "uuid",
        "registered_time",
        "reregistered_time",
        "unregistered_time",
        "start_time",
        "elected_time",
        "address",
        "container_id",
        "ip_address",
        "version",
    ];
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if VOLATILE.contains(&k.as_str()) && !v.is_object() {
                        json!(format!("<{k}>"))
                    } else {
                        normalise(v, ids)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| normalise(v, ids)).collect()),
        Value::String(s) => {
            let mut s = s.clone();
            for (id, placeholder) in ids {
                s = s.replace(id.as_str(), placeholder);
            }
            Value::String(s)
        }
        other => other.clone(),
    }
}

/// The shape of a JSON value: keys and value types, arrays by their first
/// element. Used where values legitimately differ but keys must not.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(a) => match a.first() {
            Some(first) => json!([shape(first)]),
            None => json!([]),
        },
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// The offers' resources as name -> type, with scalars kept (the two
/// clusters' agents have the same cpus, mem, disk; ports ranges differ).
fn offer_view(offer: &Value) -> Value {
    let mut resources = BTreeMap::new();
    for r in offer["resources"].as_array().into_iter().flatten() {
        let name = r["name"].as_str().unwrap_or_default().to_string();
        let mut r = r.clone();
        if let Some(ranges) = r.get_mut("ranges") {
            *ranges = shape(ranges);
        }
        resources.insert(name, r);
    }
    json!({
        "keys": offer.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
        "resources": resources,
        "allocation_info": offer["allocation_info"],
        "url_shape": shape(&offer["url"]),
    })
}

fn is_terminal_name(state: &str) -> bool {
    matches!(
        state,
        "TASK_FINISHED"
            | "TASK_FAILED"
            | "TASK_KILLED"
            | "TASK_ERROR"
            | "TASK_LOST"
            | "TASK_DROPPED"
    )
}

/// Mesos lists resources in the order its `Resources` keeps them (the
/// agent's, shuffled by arithmetic); the simulator sorts them by name.
/// Messages naming resources compare as sorted lists. README: "Known
/// differences", resource order in messages.
fn canonical_resources(message: &str) -> String {
    let sorted = |part: &str| {
        let mut items: Vec<&str> = part.split("; ").collect();
        items.sort_unstable();
        items.join("; ")
    };
    let Some(rest) = message.strip_prefix("Total resources ") else {
        return message.to_string();
    };
    for required in [
        " required by task and its executor is more than available ",
        " required by task group and its executor are more than available ",
    ] {
        if let Some((total, available)) = rest.split_once(required) {
            return format!(
                "Total resources {}{required}{}",
                sorted(total),
                sorted(available)
            );
        }
    }
    message.to_string()
}

fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".into())
}

fn framework_info(name: &str) -> Value {
    json!({
        "user": user(),
        "name": name,
        "failover_timeout": 60.0,
        "capabilities": [{"type": "TASK_KILLING_STATE"}],
    })
}

fn task(id: &str, agent: &Value, cpus: f64) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": agent,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
        ],
        "command": {"value": "sleep 300"},
    })
}

/// The scripted sequence; returns the transcript.
async fn script(base: &str, encoding: Encoding) -> Transcript {
    let mut d = Driver::new(base, encoding);

    // Headers and bodies before any subscription.
    let sub = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("diff")}});
    let (body, ct) = d.body(&sub);
    let (status, text) = d.post_raw(body.clone(), "text/plain", None, None).await;
    d.record(
        "subscribe with text/plain",
        json!({"status": status, "body": text}),
    );
    let (status, text) = d.post_raw(body.clone(), ct, Some("text/html"), None).await;
    d.record(
        "subscribe accepting text/html",
        json!({"status": status, "body": text}),
    );
    let (status, text) = d.post_raw(b"\x01garbage".to_vec(), ct, None, None).await;
    d.record("garbage body", json!({"status": status, "body": text}));
    let (status, text) = d.post_raw(body.clone(), ct, None, Some("abc")).await;
    d.record(
        "subscribe with a stream id",
        json!({"status": status, "body": text}),
    );
    let decline = json!({
        "framework_id": {"value": "no-such-framework"},
        "type": "DECLINE",
        "decline": {"offer_ids": [{"value": "o1"}]}
    });
    d.call("decline from an unknown framework", decline).await;

    // Invalid FrameworkInfo: 200 and one ERROR event.
    let mut bad = framework_info("diff-bad");
    bad["role"] = json!("bad role");
    d.subscribe(
        "subscribe with an invalid role",
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": bad}}),
    )
    .await;
    let mut mismatched = framework_info("diff-bad");
    mismatched["id"] = json!({"value": "one"});
    d.subscribe(
        "subscribe with mismatched framework ids",
        json!({"type": "SUBSCRIBE", "framework_id": {"value": "two"}, "subscribe": {"framework_info": mismatched}}),
    )
    .await;

    // A new framework.
    d.subscribe("subscribe", sub.clone()).await;
    let sid = d.stream_id.clone().unwrap_or_default();
    let offer = d.wait_offer().await;
    d.record("first offer", offer_view(&offer));
    let agent = offer["agent_id"].clone();
    let offer_id = offer["id"].clone();
    let fw = d.fw();

    // Stream id checks.
    let revive = json!({"framework_id": fw, "type": "REVIVE"});
    let (body, ct) = d.body(&revive);
    let (status, text) = d.post_raw(body.clone(), ct, None, None).await;
    d.record(
        "revive without stream id",
        json!({"status": status, "body": text}),
    );
    let (status, text) = d
        .post_raw(body.clone(), ct, None, Some("not-the-stream"))
        .await;
    d.record(
        "revive with a wrong stream id",
        json!({"status": status, "body": text}),
    );
    let (status, text) = d
        .post_raw(body.clone(), ct, Some("text/html"), Some(&sid))
        .await;
    d.record(
        "revive accepting text/html",
        json!({"status": status, "body": text}),
    );
    let (status, text) = d
        .post_raw(body.clone(), "text/plain", None, Some(&sid))
        .await;
    d.record(
        "revive as text/plain",
        json!({"status": status, "body": text}),
    );
    let resp = d
        .http
        .post(&d.endpoint)
        .header("Mesos-Stream-Id", sid.as_str())
        .body(body.clone())
        .send()
        .await
        .expect("master answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    d.record(
        "revive without content type",
        json!({"status": status, "body": text}),
    );
    let (status, text) = d.post_raw(body, ct, None, Some(&sid)).await;
    d.record("revive", json!({"status": status, "body": text}));

    // ACCEPT with an unknown offer.
    d.call(
        "accept an unknown offer",
        json!({"framework_id": fw, "type": "ACCEPT", "accept": {
            "offer_ids": [{"value": "no-such-offer"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task("t-lost", &agent, 0.1)]}}]
        }}),
    )
    .await;
    d.update("unknown offer: t-lost", "t-lost").await;

    // ACCEPT with one valid task and invalid ones.
    let mut nocmd = task("t-nocmd", &agent, 0.1);
    nocmd.as_object_mut().map(|o| o.remove("command"));
    let big = task("t-big", &agent, 100.0);
    let mut badhc = task("t-badhc", &agent, 0.1);
    badhc["health_check"] = json!({"type": "HTTP"});
    let mut badid = task("t/slash", &agent, 0.1);
    badid["name"] = json!("slash");
    let mut noresources = task("t-nores", &agent, 0.1);
    noresources["resources"] = json!([]);
    let mut wrongagent = task("t-wrongagent", &json!({"value": "no-such-agent"}), 0.1);
    wrongagent["name"] = json!("wrongagent");
    // One task per rule of validation.cpp / common/validation.cpp.
    let mut more = Vec::new();
    let mut variant = |id: &str, change: &dyn Fn(&mut Value)| {
        let mut t = task(id, &agent, 0.1);
        change(&mut t);
        more.push(t);
    };
    variant("t-killpolicy", &|t| {
        t["kill_policy"] = json!({"grace_period": {"nanoseconds": -1}})
    });
    variant("t-maxtime", &|t| {
        t["max_completion_time"] = json!({"nanoseconds": -1})
    });
    variant("t-check", &|t| t["check"] = json!({"type": "COMMAND"}));
    variant("t-checkpath", &|t| {
        t["check"] = json!({"type": "HTTP", "http": {"port": 80, "path": "x"}})
    });
    variant("t-hcnotype", &|t| t["health_check"] = json!({}));
    variant(
        "t-hcdelay",
        &|t| t["health_check"] = json!({"type": "TCP", "tcp": {"port": 80}, "delay_seconds": -1.0}),
    );
    variant("t-hcscheme", &|t| {
        t["health_check"] = json!({"type": "HTTP", "http": {"port": 80, "scheme": "ftp"}})
    });
    variant("t-hccmd", &|t| {
        t["health_check"] = json!({"type": "COMMAND", "command": {"shell": false}})
    });
    variant("t-env", &|t| {
        t["command"]["environment"] = json!({"variables": [{"name": "A"}]})
    });
    variant(
        "t-volume",
        &|t| {
            t["container"] =
                json!({"type": "MESOS", "volumes": [{"container_path": "/x", "mode": "RW"}]})
        },
    );
    variant(
        "t-volsrc",
        &|t| t["container"] = json!({"type": "MESOS", "volumes": [{"container_path": "/x", "mode": "RW", "source": {"type": "DOCKER_VOLUME"}}]}),
    );
    variant("t-docker", &|t| t["container"] = json!({"type": "DOCKER"}));
    variant(
        "t-dockername",
        &|t| t["container"] = json!({"type": "DOCKER", "docker": {"image": "busybox", "parameters": [{"key": "name", "value": "x"}]}}),
    );
    variant("t-limits", &|t| {
        t["limits"] = json!({"disk": {"value": 1.0}})
    });
    variant("t-cpulimit", &|t| {
        t["limits"] = json!({"cpus": {"value": 0.01}})
    });
    variant("t-execdefault", &|t| {
        t.as_object_mut().map(|o| o.remove("command"));
        t["executor"] = json!({"type": "DEFAULT", "executor_id": {"value": "e1"}});
    });
    variant("t-execnocmd", &|t| {
        t.as_object_mut().map(|o| o.remove("command"));
        t["executor"] = json!({"executor_id": {"value": "e2"}});
    });
    variant("t-execfw", &|t| {
        t.as_object_mut().map(|o| o.remove("command"));
        t["executor"] = json!({"executor_id": {"value": "e3"}, "framework_id": {"value": "other"}, "command": {"value": "x"}});
    });
    variant("t-execid", &|t| {
        t.as_object_mut().map(|o| o.remove("command"));
        t["executor"] = json!({"executor_id": {"value": "a/b"}, "command": {"value": "x"}});
    });
    let mut neg_cpus = task("t-negcpus", &agent, 0.1);
    neg_cpus["resources"][0]["scalar"]["value"] = json!(-1.0);
    let neg_peer = task("t-negpeer", &agent, 0.1);
    let more_ids: Vec<String> = more
        .iter()
        .map(|t| {
            t["task_id"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let mut all_tasks = vec![
        task("t-ok", &agent, 0.1),
        task("t-ok", &agent, 0.1),
        nocmd,
        big,
        badhc,
        badid,
        noresources,
        wrongagent,
    ];
    all_tasks.extend(more);
    d.call(
        "accept with valid and invalid tasks",
        json!({"framework_id": fw, "type": "ACCEPT", "accept": {
            "offer_ids": [offer_id],
            "operations": [
                {"type": "LAUNCH", "launch": {"task_infos": all_tasks}},
                // One invalid resource voids its whole operation.
                {"type": "LAUNCH", "launch": {"task_infos": [neg_cpus, neg_peer]}},
            ],
            "filters": {"refuse_seconds": 0.0}
        }}),
    )
    .await;
    for t in [
        "t-nocmd",
        "t-big",
        "t-badhc",
        "t/slash",
        "t-nores",
        "t-wrongagent",
        "t-negcpus",
        "t-negpeer",
    ] {
        d.update(&format!("invalid task {t}"), t).await;
    }
    for t in &more_ids {
        d.update(&format!("invalid task {t}"), t).await;
    }
    // t-ok: the duplicate's TASK_ERROR and the real one's launch updates.
    let mut seen = Vec::new();
    loop {
        let s = d
            .update(&format!("t-ok update {}", seen.len()), "t-ok")
            .await;
        let state = s["state"].as_str().unwrap_or_default().to_string();
        seen.push(state.clone());
        if state == "TASK_RUNNING" || seen.len() > 5 {
            break;
        }
    }

    // ACKNOWLEDGE with an invalid uuid.
    d.call(
        "acknowledge with an invalid uuid",
        json!({"framework_id": fw, "type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": agent, "task_id": {"value": "t-ok"}, "uuid": "AAAA"
        }}),
    )
    .await;

    // State while t-ok runs.
    let state = d.state().await;
    record_state(&mut d, "state with t-ok running", &state);

    // Reconciliation.
    d.call(
        "explicit reconcile",
        json!({"framework_id": fw, "type": "RECONCILE", "reconcile": {"tasks": [
            {"task_id": {"value": "t-ok"}, "agent_id": agent},
            {"task_id": {"value": "t-unknown"}},
        ]}}),
    )
    .await;
    d.update("explicit reconcile t-ok", "t-ok").await;
    d.update("explicit reconcile t-unknown", "t-unknown").await;
    d.call(
        "implicit reconcile",
        json!({"framework_id": fw, "type": "RECONCILE", "reconcile": {}}),
    )
    .await;
    d.update("implicit reconcile t-ok", "t-ok").await;

    // LAUNCH_GROUP on the remainder: an invalid group (executor without
    // framework id) and a valid one under the default executor.
    let offer = d.wait_offer().await;
    d.record("offer of the remainder", offer_view(&offer));
    let executor = |id: &str, with_fw: bool| {
        let mut e = json!({
            "type": "DEFAULT",
            "executor_id": {"value": id},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                {"name": "disk", "type": "SCALAR", "scalar": {"value": 32}},
            ],
        });
        if with_fw {
            e["framework_id"] = fw.clone();
        }
        e
    };
    let group_task = |id: &str| {
        let mut t = task(id, &agent, 0.1);
        t.as_object_mut().map(|o| o.remove("command"));
        t["command"] = json!({"value": "sleep 300"});
        t
    };
    d.call(
        "accept with task groups",
        json!({"framework_id": fw, "type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]],
            "operations": [
                {"type": "LAUNCH_GROUP", "launch_group": {
                    "executor": executor("exec-bad", false),
                    "task_group": {"tasks": [group_task("g-bad")]}}},
                {"type": "LAUNCH_GROUP", "launch_group": {
                    "executor": executor("exec-1", true),
                    "task_group": {"tasks": [group_task("g-1")]}}},
            ],
            "filters": {"refuse_seconds": 0.0}
        }}),
    )
    .await;
    d.update("invalid group g-bad", "g-bad").await;
    let mut seen = Vec::new();
    loop {
        let s = d.update(&format!("g-1 update {}", seen.len()), "g-1").await;
        let state = s["state"].as_str().unwrap_or_default().to_string();
        seen.push(state.clone());
        if state == "TASK_RUNNING" || is_terminal_name(&state) || seen.len() > 5 {
            break;
        }
    }
    let state = d.state().await;
    record_state(&mut d, "state with g-1 running", &state);

    // Decline the remainder, suppress, revive: revive clears the decline's
    // filter, so the agent is offered again.
    let offer = d.wait_offer().await;
    d.record("offer after the groups", offer_view(&offer));
    d.call(
        "decline",
        json!({"framework_id": fw, "type": "DECLINE", "decline": {
            "offer_ids": [offer["id"]], "filters": {"refuse_seconds": 1000.0}
        }}),
    )
    .await;
    d.call(
        "suppress",
        json!({"framework_id": fw, "type": "SUPPRESS", "suppress": {}}),
    )
    .await;
    d.call(
        "revive again",
        json!({"framework_id": fw, "type": "REVIVE"}),
    )
    .await;
    let offer = d.wait_offer().await;
    d.record("offer after revive", offer_view(&offer));

    // Kill: unknown, then known.
    d.call(
        "kill an unknown task",
        json!({"framework_id": fw, "type": "KILL", "kill": {"task_id": {"value": "t-nope"}}}),
    )
    .await;
    d.update("kill unknown t-nope", "t-nope").await;
    d.call(
        "kill t-ok",
        json!({"framework_id": fw, "type": "KILL", "kill": {"task_id": {"value": "t-ok"}, "agent_id": agent}}),
    )
    .await;
    let s = d.update("kill t-ok first", "t-ok").await;
    if s["state"] == "TASK_KILLING" {
        d.update("kill t-ok second", "t-ok").await;
    }

    let state = d.state().await;
    record_state(&mut d, "state after kill", &state);

    // Failover: a second scheduler subscribes with the framework's id; the
    // first stream gets an ERROR, and its stream id is no longer valid.
    let mut info = framework_info("diff");
    info["id"] = fw.clone();
    let mut d2 = Driver::new(base, encoding);
    d2.ids = d.ids.clone();
    d2.subscribe(
        "subscribe with the framework id",
        json!({"type": "SUBSCRIBE", "framework_id": fw, "subscribe": {"framework_info": info}}),
    )
    .await;
    let error = d.wait_event("ERROR", |e| e["type"] == "ERROR").await;
    d.record("old stream after failover", error);
    d.call(
        "revive on the old stream",
        json!({"framework_id": fw, "type": "REVIVE"}),
    )
    .await;
    // A failed-over framework shows `reregistered_time`.
    let state = d2.state().await;
    let keys: Vec<String> = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == d2.framework_id.as_str())
        .and_then(|f| f.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    d2.record("framework keys after failover", json!(keys));

    // Teardown, and a call after it.
    d2.call("teardown", json!({"framework_id": fw, "type": "TEARDOWN"}))
        .await;
    d2.call(
        "revive after teardown",
        json!({"framework_id": fw, "type": "REVIVE"}),
    )
    .await;
    d.transcript.append(&mut d2.transcript);
    d.transcript
        .append(&mut partition_aware(base, encoding).await);
    d.transcript.append(&mut odd_calls(base, encoding).await);
    d.transcript
}

/// Calls frameworks get wrong: a SUBSCRIBE with an id the master does not
/// know (a framework coming back after a master failover), calls without
/// their message, DECLINE / ACKNOWLEDGE of things that do not exist.
async fn odd_calls(base: &str, encoding: Encoding) -> Transcript {
    let mut d = Driver::new(base, encoding);
    let mut info = framework_info("diff-odd");
    info["id"] = json!({"value": "diff-odd-framework"});
    d.subscribe(
        "subscribe with an unknown framework id",
        json!({"type": "SUBSCRIBE", "framework_id": info["id"], "subscribe": {"framework_info": info}}),
    )
    .await;
    let fw = d.fw();
    let offer = d.wait_offer().await;
    let agent = offer["agent_id"].clone();
    d.call(
        "accept without accept",
        json!({"framework_id": fw, "type": "ACCEPT"}),
    )
    .await;
    d.call(
        "kill without kill",
        json!({"framework_id": fw, "type": "KILL"}),
    )
    .await;
    d.call(
        "decline an unknown offer",
        json!({"framework_id": fw, "type": "DECLINE", "decline": {"offer_ids": [{"value": "nope"}]}}),
    )
    .await;
    d.call(
        "acknowledge an unknown task",
        json!({"framework_id": fw, "type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": agent, "task_id": {"value": "nope"},
            "uuid": "Eb7bHoM3RVGrv1PsNFg+Aw=="
        }}),
    )
    .await;
    // The nil UUID is refused as invalid.
    d.call(
        "acknowledge on an unknown agent",
        json!({"framework_id": fw, "type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": {"value": "no-such-agent"}, "task_id": {"value": "nope"},
            "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="
        }}),
    )
    .await;
    // Not played: a LAUNCH_GROUP naming one task id twice makes a real
    // 1.12 master abort (`Check failed: !tasks[frameworkId].contains(taskId)
    // Duplicate task`, master.cpp:12605). README: "Known differences".
    d.call(
        "odd teardown",
        json!({"framework_id": fw, "type": "TEARDOWN"}),
    )
    .await;
    // The torn-down framework moves to `completed_frameworks`.
    let started = Instant::now();
    let completed = loop {
        let state = d.state().await;
        let found = state["completed_frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["id"] == d.framework_id.as_str())
            .cloned();
        match found {
            Some(f) => break f,
            None if started.elapsed() < DEADLINE => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None => panic!("framework not completed within {DEADLINE:?} on {base}"),
        }
    };
    let mut completed_shape = shape(&completed);
    // A real master writes `reregistered_time` when it differs from
    // `registered_time`; for a framework that subscribes with an id the
    // master does not know, both are set a clock tick apart or not.
    for k in [
        "tasks",
        "completed_tasks",
        "offers",
        "unreachable_tasks",
        "reregistered_time",
    ] {
        if let Some(o) = completed_shape.as_object_mut() {
            o.remove(k);
        }
    }
    d.record("completed framework", completed_shape);
    d.record(
        "completed framework activity",
        json!({"active": completed["active"], "connected": completed["connected"]}),
    );
    d.transcript
}

/// What changes for a PARTITION_AWARE framework: TASK_DROPPED for invalid
/// offers, TASK_UNKNOWN for tasks the master does not know.
async fn partition_aware(base: &str, encoding: Encoding) -> Transcript {
    let mut d = Driver::new(base, encoding);
    let mut info = framework_info("diff-pa");
    info["capabilities"] = json!([{"type": "PARTITION_AWARE"}]);
    d.subscribe(
        "partition-aware subscribe",
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}),
    )
    .await;
    let fw = d.fw();
    let offer = d.wait_offer().await;
    d.call(
        "partition-aware: accept an unknown offer",
        json!({"framework_id": fw, "type": "ACCEPT", "accept": {
            "offer_ids": [{"value": "no-such-offer"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task("p-lost", &offer["agent_id"], 0.1)]}}]
        }}),
    )
    .await;
    d.update("partition-aware: unknown offer", "p-lost").await;
    d.call(
        "partition-aware: kill an unknown task",
        json!({"framework_id": fw, "type": "KILL", "kill": {"task_id": {"value": "p-nope"}}}),
    )
    .await;
    d.update("partition-aware: kill unknown", "p-nope").await;
    d.call(
        "partition-aware: reconcile an unknown task",
        json!({"framework_id": fw, "type": "RECONCILE", "reconcile": {"tasks": [
            {"task_id": {"value": "p-unknown"}, "agent_id": offer["agent_id"]},
        ]}}),
    )
    .await;
    d.update("partition-aware: reconcile unknown", "p-unknown")
        .await;
    d.call(
        "partition-aware teardown",
        json!({"framework_id": fw, "type": "TEARDOWN"}),
    )
    .await;
    d.transcript
}

/// A task's shape in `/master/state`. A real agent reports the network of
/// a task group's nested container in some updates and not in others
/// (it depends on when the default executor learns its container's
/// address), so `network_infos` of a nested container is not compared.
fn task_shape(task: &Value) -> Value {
    let mut shape = shape(task);
    if let Some(statuses) = shape["statuses"].as_array_mut() {
        for s in statuses {
            let cs = &mut s["container_status"];
            if cs["container_id"].get("parent").is_some()
                && let Some(o) = cs.as_object_mut()
            {
                o.remove("network_infos");
            }
        }
    }
    shape
}

/// Port ranges differ between the two clusters' agents.
fn mask_ranges(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('[') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        match after.find(']') {
            Some(end)
                if after[1..end]
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '-' | ',' | ' ')) =>
            {
                out.push_str("[<ports>]");
                rest = &after[end + 1..];
            }
            _ => {
                out.push('[');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `/master/state` as frameworks read it: the framework's keys and value
/// shapes, its tasks (state, keys), executors, and the agents' keys.
fn record_state(d: &mut Driver, label: &str, state: &Value) {
    let fw = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == d.framework_id.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    // The master keeps tasks in a hash map: their order means nothing.
    let mut tasks: Vec<Value> = fw["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| json!({"id": t["id"], "state": t["state"], "shape": task_shape(t)}))
        .collect();
    tasks.sort_by_key(|t| t["id"].to_string());
    let completed: Vec<Value> = fw["completed_tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| json!({"id": t["id"], "state": t["state"], "shape": task_shape(t)}))
        .collect();
    let mut top = shape(state);
    for k in ["frameworks", "slaves", "completed_frameworks", "flags"] {
        top.as_object_mut().map(|o| o.remove(k));
    }
    let slave = state["slaves"][0].clone();
    d.record(
        &format!("{label}: top-level keys"),
        json!(
            top.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
        ),
    );
    let mut fw_shape = shape(&fw);
    for k in ["tasks", "completed_tasks", "offers"] {
        fw_shape.as_object_mut().map(|o| o.remove(k));
    }
    d.record(&format!("{label}: framework"), fw_shape);
    // Tasks' and executors' resources; offered ones depend on timing.
    let used = &fw["used_resources"];
    d.record(
        &format!("{label}: used resources"),
        json!({"cpus": used["cpus"], "mem": used["mem"], "disk": used["disk"]}),
    );
    d.record(&format!("{label}: tasks"), json!(tasks));
    d.record(&format!("{label}: completed tasks"), json!(completed));
    d.record(&format!("{label}: executors"), fw["executors"].clone());
    d.record(
        &format!("{label}: completed executors"),
        fw["completed_executors"].clone(),
    );
    d.record(&format!("{label}: agent"), shape(&slave));
}

fn real_cluster() -> Option<RealCluster> {
    let agent = AgentOptions {
        hostname: "agent-1.diff".into(),
        cpus: 2.0,
        mem: 1024,
        disk: 4096,
        ..AgentOptions::numbered(1)
    };
    RealCluster::start(MasterOptions::default(), vec![agent])
}

async fn sim() -> SimHandle {
    let timings = hydrogen_sim::Timings {
        allocation_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let agent: hydrogen_sim::AgentSpec = serde_json::from_value(json!({
        "hostname": "agent-1.diff",
        "resources": {"cpus": 2, "mem": 1024, "disk": 4096, "ports": "[20000-20099]"},
        "attributes": {"rack": "r1"}
    }))
    .expect("agent spec");
    let config = SimConfig {
        listen: "127.0.0.1:0".parse().expect("loopback"),
        agents: vec![agent],
        timings,
        ..SimConfig::default()
    };
    Simulator::start(config).await.expect("simulator starts")
}

/// Fails with every step where the two transcripts differ; with
/// `SIM_DIFF_DUMP` set, prints both first.
fn assert_same_transcripts(what: impl AsRef<str>, real: &Transcript, sim: &Transcript) {
    if std::env::var_os("SIM_DIFF_DUMP").is_some() {
        for (label, v) in real {
            eprintln!("real {label} = {v}");
        }
        for (label, v) in sim {
            eprintln!("sim  {label} = {v}");
        }
    }
    let diffs = differences(real, sim);
    assert!(
        diffs.is_empty(),
        "{} differences between real Mesos and the simulator ({}):\n{}",
        diffs.len(),
        what.as_ref(),
        diffs.join("\n")
    );
}

/// `script` against a real master with the one-agent cluster (skipped
/// without MESOS_HOME) and against the simulator with the same agent, in
/// JSON; fails on any difference.
fn assert_matches_a_real_master<F, Fut>(what: &str, script: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Transcript>,
{
    let Some(cluster) = real_cluster() else {
        eprintln!("MESOS_HOME is unset: {what} skipped");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let real = rt.block_on(script(cluster.master_url()));
    let sim = rt.block_on(async {
        let sim = sim().await;
        let t = script(sim.url()).await;
        sim.shutdown().await;
        t
    });
    drop(cluster);
    assert_same_transcripts(what, &real, &sim);
}

/// Steps where the two transcripts differ, with both sides, matched by
/// label (a master may interleave acknowledgements differently).
fn differences(real: &Transcript, sim: &Transcript) -> Vec<String> {
    let sim_map: BTreeMap<&str, &Value> = sim.iter().map(|(l, v)| (l.as_str(), v)).collect();
    let real_map: BTreeMap<&str, &Value> = real.iter().map(|(l, v)| (l.as_str(), v)).collect();
    let mut out = Vec::new();
    for (label, r) in real {
        match sim_map.get(label.as_str()) {
            Some(s) if *s == r => {}
            Some(s) => out.push(format!("{label}:\n  real: {r}\n  sim:  {s}")),
            None => out.push(format!("{label}: only in real: {r}")),
        }
    }
    for (label, s) in sim {
        if !real_map.contains_key(label.as_str()) {
            out.push(format!("{label}: only in sim: {s}"));
        }
    }
    out
}

fn differential(encoding: Encoding) {
    let Some(cluster) = real_cluster() else {
        eprintln!("MESOS_HOME is unset: real_mesos_sim_differential skipped");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let real = rt.block_on(script(&cluster.master_url(), encoding));
    let sim = rt.block_on(async {
        let sim = sim().await;
        let t = script(&sim.url(), encoding).await;
        sim.shutdown().await;
        t
    });
    drop(cluster);
    assert_same_transcripts(format!("{encoding:?}"), &real, &sim);
}

#[test]
fn json_calls_see_the_same_master() {
    differential(Encoding::Json);
}

#[test]
fn protobuf_calls_see_the_same_master() {
    differential(Encoding::Protobuf);
}

/// A real agent with the `network/cni` isolator (posix launcher), for the
/// agent-side failures the simulator models. Started by this test, not by
/// the fixture, which fixes the isolation; killed (and its CNI bind mount
/// undone) on drop.
struct CniAgent {
    child: std::process::Child,
    runtime: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl CniAgent {
    fn start(cluster: &RealCluster) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sim-diff-cni-")
            .tempdir()
            .expect("temp dir");
        let p = |name: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(&path).expect("agent dir");
            path
        };
        let (plugins, conf, work, runtime, fetch) =
            (p("plugins"), p("conf"), p("work"), p("run"), p("fetch"));
        // The isolator loads a network only when its plugin exists; the
        // failures under test happen before any plugin runs.
        let plugin = plugins.join("bridge");
        std::fs::write(&plugin, "#!/bin/sh\nexit 1\n").expect("plugin");
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&plugin)
            .status()
            .expect("chmod");
        std::fs::write(
            conf.join("blue.conf"),
            r#"{"cniVersion": "0.3.0", "name": "blue", "type": "bridge"}"#,
        )
        .expect("network config");
        let home = &cluster.install.home;
        let ports = AgentOptions::numbered(1).ports;
        let log = std::fs::File::create(dir.path().join("agent.log")).expect("log");
        let child = std::process::Command::new(home.join("sbin/mesos-agent"))
            .env("LD_LIBRARY_PATH", home.join("lib"))
            .env("LIBPROCESS_IP", "127.0.0.1")
            .env_remove("MESOS_MASTER")
            .args([
                format!("--master=127.0.0.1:{}", cluster.master_port),
                "--ip=127.0.0.1".into(),
                "--port=0".into(),
                "--hostname=agent-1.diff".into(),
                format!("--work_dir={}", work.display()),
                format!("--runtime_dir={}", runtime.display()),
                format!("--fetcher_cache_dir={}", fetch.display()),
                "--launcher=posix".into(),
                "--isolation=posix/cpu,posix/mem,network/cni".into(),
                format!("--network_cni_plugins_dir={}", plugins.display()),
                format!("--network_cni_config_dir={}", conf.display()),
                "--containerizers=mesos".into(),
                "--systemd_enable_support=false".into(),
                format!("--launcher_dir={}", home.join("libexec/mesos").display()),
                format!(
                    "--resources=cpus:2;mem:1024;disk:4096;ports:[{}-{}]",
                    ports.0, ports.1
                ),
                format!(
                    "--executor_environment_variables={}",
                    json!({
                        "LD_LIBRARY_PATH": home.join("lib"),
                        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    })
                ),
                "--registration_backoff_factor=100ms".into(),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("mesos-agent starts");
        Self {
            child,
            runtime,
            _dir: dir,
        }
    }
}

impl Drop for CniAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::process::Command::new("umount")
            .arg(self.runtime.join("isolators/network/cni"))
            .status();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The agent-side failures: one CNI network twice fails the container,
/// a network entry without a name is skipped (the task runs).
async fn cni_script(base: &str) -> Transcript {
    let mut d = Driver::new(base, Encoding::Json);
    d.subscribe(
        "cni subscribe",
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("diff-cni")}}),
    )
    .await;
    let fw = d.fw();
    let offer = d.wait_offer().await;
    let agent = offer["agent_id"].clone();
    let mut dup = task("c-dup", &agent, 0.1);
    dup["container"] =
        json!({"type": "MESOS", "network_infos": [{"name": "blue"}, {"name": "blue"}]});
    let mut unnamed = task("c-unnamed", &agent, 0.1);
    unnamed["container"] = json!({"type": "MESOS", "network_infos": [
        {"ip_addresses": [{"ip_address": "10.9.9.9"}]}
    ]});
    d.call(
        "cni accept",
        json!({"framework_id": fw, "type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [dup, unnamed]}}]
        }}),
    )
    .await;
    d.update("cni c-dup", "c-dup").await;
    let mut seen = Vec::new();
    loop {
        let s = d
            .update(&format!("cni c-unnamed {}", seen.len()), "c-unnamed")
            .await;
        let state = s["state"].as_str().unwrap_or_default().to_string();
        seen.push(state.clone());
        if state == "TASK_RUNNING" || is_terminal_name(&state) || seen.len() > 5 {
            break;
        }
    }
    d.call(
        "cni teardown",
        json!({"framework_id": fw, "type": "TEARDOWN"}),
    )
    .await;
    d.transcript
}

/// Docker volumes are not played: with the posix launcher the agent's
/// `filesystem/posix` isolator refuses any volume first ("Volumes in
/// ContainerInfo is not supported"), before `docker/volume` looks at them.
#[test]
fn cni_isolator_failures_match_a_real_agent() {
    let Some(mut cluster) = RealCluster::start(MasterOptions::default(), Vec::new()) else {
        eprintln!("MESOS_HOME is unset: real_mesos_sim_differential skipped");
        return;
    };
    if !is_root() {
        eprintln!("the network/cni isolator needs root: cni test skipped");
        return;
    }
    let agent = CniAgent::start(&cluster);
    cluster.wait_agents(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let real = rt.block_on(cni_script(&cluster.master_url()));
    if std::env::var_os("SIM_DIFF_DUMP").is_some() {
        for (label, v) in &real {
            eprintln!("real {label} = {v}");
        }
    }
    let sim = rt.block_on(async {
        let sim = sim().await;
        let t = cni_script(&sim.url()).await;
        sim.shutdown().await;
        t
    });
    drop(agent);
    drop(cluster);
    let diffs = differences(&real, &sim);
    assert!(
        diffs.is_empty(),
        "{} differences between a real CNI agent and the simulator:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// A MULTI_ROLE framework in `team-a` and `team-b/web` on one agent with
/// 1 cpu and 512 MB statically reserved to `team-b`: the offers of each
/// role (allocation_info, reservations: the parent's reservation goes to
/// the sub-role), and what the master says of ACCEPTs that mix roles or
/// drop `allocation_info`, and of a valid one.
async fn multi_role_script(base: &str, encoding: Encoding) -> Transcript {
    let mut d = Driver::new(base, encoding);
    let mut info = framework_info("diff-roles");
    info["roles"] = json!(["team-a", "team-b/web"]);
    info["capabilities"] = json!([{"type": "MULTI_ROLE"}, {"type": "TASK_KILLING_STATE"}]);
    d.subscribe(
        "multi-role subscribe",
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}),
    )
    .await;
    let fw = d.fw();
    let no_filter = json!({"refuse_seconds": 0.0});
    let mut round = 0;
    for case in ["mixed roles", "no allocation_info", "valid"] {
        round += 1;
        // One offer per role (one OFFERS event or two).
        let mut by_role: BTreeMap<String, Value> = BTreeMap::new();
        while by_role.len() < 2 {
            let ev = d.wait_event("OFFERS", |e| e["type"] == "OFFERS").await;
            for o in ev["offers"]["offers"].as_array().into_iter().flatten() {
                d.remember(o["id"]["value"].as_str().unwrap_or_default(), "<offer>");
                d.remember(
                    o["agent_id"]["value"].as_str().unwrap_or_default(),
                    "<agent>",
                );
                let role = o["allocation_info"]["role"].as_str().unwrap_or_default();
                by_role.insert(role.to_string(), o.clone());
            }
        }
        if round == 1 {
            for (role, offer) in &by_role {
                d.record(&format!("offer to {role}"), offer_view(offer));
            }
        }
        let (a, b) = (&by_role["team-a"], &by_role["team-b/web"]);
        // team-b's reserved cpus and mem, as offered (allocation_info kept).
        let reserved = |name: &str, value: f64| {
            let mut r = b["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["name"] == name)
                .cloned()
                .unwrap_or(Value::Null);
            r["scalar"] = json!({"value": value});
            r
        };
        let id = format!("r{round}");
        let mut t = task(&id, &b["agent_id"], 0.1);
        t["resources"] = json!([reserved("cpus", 0.1), reserved("mem", 32.0)]);
        let offer_ids = match case {
            "mixed roles" => json!([a["id"], b["id"]]),
            _ => json!([b["id"]]),
        };
        if case == "no allocation_info" {
            for r in t["resources"].as_array_mut().into_iter().flatten() {
                if let Some(o) = r.as_object_mut() {
                    o.remove("allocation_info");
                }
            }
        }
        d.call(
            &format!("multi-role accept: {case}"),
            json!({"framework_id": fw, "type": "ACCEPT", "accept": {
                "offer_ids": offer_ids,
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [t]}}],
                "filters": no_filter,
            }}),
        )
        .await;
        let status = d.update(&format!("multi-role {case}"), &id).await;
        if case == "mixed roles" {
            // Only the named offers went back; decline what is left.
            continue;
        }
        if case == "valid" {
            let state = d.state().await;
            let task = state["frameworks"][0]["tasks"][0].clone();
            d.record(
                "multi-role task in state",
                json!({"role": task["role"], "state_present": task.get("state").is_some()}),
            );
        }
        if status["state"] == "TASK_STARTING" || status["state"] == "TASK_RUNNING" {
            d.call(
                "multi-role kill",
                json!({"framework_id": fw, "type": "KILL", "kill": {"task_id": {"value": id}}}),
            )
            .await;
        }
        // team-a's offer is still out: give it back for the next round.
        d.call(
            &format!("multi-role decline ({case})"),
            json!({"framework_id": fw, "type": "DECLINE", "decline": {
                "offer_ids": [a["id"]], "filters": no_filter}}),
        )
        .await;
    }
    d.call(
        "multi-role teardown",
        json!({"framework_id": fw, "type": "TEARDOWN"}),
    )
    .await;
    d.transcript
}

#[test]
fn multi_role_offers_and_accepts_match_a_real_master() {
    let reserved = "cpus(team-b):1;mem(team-b):512";
    let agent = AgentOptions {
        hostname: "agent-1.diff".into(),
        cpus: 2.0,
        mem: 1024,
        disk: 4096,
        reserved: reserved.into(),
        ..AgentOptions::numbered(1)
    };
    let Some(cluster) = RealCluster::start(MasterOptions::default(), vec![agent]) else {
        eprintln!("MESOS_HOME is unset: multi_role_offers_and_accepts_match_a_real_master skipped");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let real = rt.block_on(multi_role_script(&cluster.master_url(), Encoding::Json));
    let sim = rt.block_on(async {
        let agent: hydrogen_sim::AgentSpec = serde_json::from_value(json!({
            "hostname": "agent-1.diff",
            "resources": {"cpus": 2, "mem": 1024, "disk": 4096, "ports": "[20000-20099]"},
            "reserved": {"team-b": {"cpus": 1, "mem": 512}},
            "attributes": {"rack": "r1"},
        }))
        .expect("agent spec");
        let sim = Simulator::start(SimConfig {
            listen: "127.0.0.1:0".parse().expect("loopback"),
            agents: vec![agent],
            timings: hydrogen_sim::Timings {
                allocation_interval: Duration::from_millis(100),
                ..Default::default()
            },
            ..SimConfig::default()
        })
        .await
        .expect("simulator starts");
        let t = multi_role_script(&sim.url(), Encoding::Json).await;
        sim.shutdown().await;
        t
    });
    drop(cluster);
    assert_same_transcripts("multi-role", &real, &sim);
}

/// DRAIN_AGENT (operator API) with a task running: the answer, the task's
/// update, and the answer for an unknown agent.
async fn drain_script(base: &str, encoding: Encoding) -> Transcript {
    let mut d = Driver::new(base, encoding);
    d.subscribe(
        "drain subscribe",
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("diff-drain")}}),
    )
    .await;
    let fw = d.fw();
    let offer = d.wait_offer().await;
    d.call(
        "drain: launch",
        json!({"framework_id": fw, "type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task("d1", &offer["agent_id"], 0.1)]}}]
        }}),
    )
    .await;
    // Until RUNNING, unrecorded: start-up updates are the main script's.
    loop {
        let ev = d
            .wait_event("UPDATE of d1", |e| {
                e["type"] == "UPDATE" && e["update"]["status"]["task_id"]["value"] == "d1"
            })
            .await;
        let status = &ev["update"]["status"];
        if let Some(uuid) = status["uuid"].as_str() {
            let ack = json!({"framework_id": fw, "type": "ACKNOWLEDGE", "acknowledge": {
                "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": uuid}});
            let (body, ct) = d.body(&ack);
            let sid = d.stream_id.clone();
            d.post_raw(body, ct, None, sid.as_deref()).await;
        }
        let state = status["state"].as_str().unwrap_or_default();
        if state == "TASK_RUNNING" || is_terminal_name(state) {
            break;
        }
    }
    let operator = format!("{base}/api/v1");
    for (label, agent) in [
        ("drain: unknown agent", json!({"value": "no-such-agent"})),
        ("drain: the task's agent", offer["agent_id"].clone()),
    ] {
        let resp = d
            .http
            .post(&operator)
            .header("Content-Type", "application/json")
            .body(json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": agent}}).to_string())
            .send()
            .await
            .expect("operator api answers");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        d.record(label, json!({"status": status, "body": body}));
    }
    loop {
        let status = d.update("drain: update", "d1").await;
        let state = status["state"].as_str().unwrap_or_default().to_string();
        // Labels by state: the same label twice would hide one.
        if let Some(last) = d.transcript.last_mut() {
            last.0 = format!("drain: {state}");
        }
        if is_terminal_name(&state) {
            break;
        }
    }
    d.call(
        "drain teardown",
        json!({"framework_id": fw, "type": "TEARDOWN"}),
    )
    .await;
    d.transcript
}

#[test]
fn drain_agent_matches_a_real_master() {
    assert_matches_a_real_master("drain", |base| async move {
        drain_script(&base, Encoding::Json).await
    });
}

/// The maintenance primitives with a task on the machine: the schedule's
/// validation and round trip, the inverse offer and the offer's
/// unavailability, a DECLINE_INVERSE_OFFERS seen in the maintenance
/// status, then START_MAINTENANCE (the task's update), STOP_MAINTENANCE.
async fn maintenance_script(base: &str, encoding: Encoding) -> Transcript {
    let mut d = Driver::new(base, encoding);
    d.subscribe(
        "maintenance subscribe",
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("diff-maint")}}),
    )
    .await;
    let fw = d.fw();
    let offer = d.wait_offer().await;
    d.call(
        "maintenance: launch",
        json!({"framework_id": fw, "type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task("m1", &offer["agent_id"], 0.1)]}}]
        }}),
    )
    .await;
    // Until RUNNING, unrecorded: start-up updates are the main script's.
    loop {
        let ev = d
            .wait_event("UPDATE of m1", |e| {
                e["type"] == "UPDATE" && e["update"]["status"]["task_id"]["value"] == "m1"
            })
            .await;
        let status = &ev["update"]["status"];
        if let Some(uuid) = status["uuid"].as_str() {
            let ack = json!({"framework_id": fw, "type": "ACKNOWLEDGE", "acknowledge": {
                "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": uuid}});
            let (body, ct) = d.body(&ack);
            let sid = d.stream_id.clone();
            d.post_raw(body, ct, None, sid.as_deref()).await;
        }
        let state = status["state"].as_str().unwrap_or_default();
        if state == "TASK_RUNNING" || is_terminal_name(state) {
            break;
        }
    }
    let state = d.state().await;
    let slave = state["slaves"][0].clone();
    let hostname = slave["hostname"].as_str().unwrap_or_default().to_string();
    let ip = slave["pid"]
        .as_str()
        .and_then(|p| p.split_once('@'))
        .and_then(|(_, a)| a.split_once(':'))
        .map(|(ip, _)| ip.to_string())
        .unwrap_or_default();
    d.remember(&ip, "<ip>");
    let machine = json!({"hostname": hostname, "ip": ip});
    // 2100-01-01: far ahead, the same on both sides.
    let unavailability = json!({"start": {"nanoseconds": 4_102_444_800_000_000_000_i64},
                                "duration": {"nanoseconds": 3_600_000_000_000_i64}});
    let http = d.http.clone();
    let schedule_url = format!("{base}/master/maintenance/schedule");
    let operator = format!("{base}/api/v1");
    let post = |url: String, body: Value| {
        let http = http.clone();
        async move {
            let resp = http
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("master answers");
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
            json!({"status": status, "body": body})
        }
    };
    for (label, body) in [
        (
            "schedule: empty window",
            json!({"windows": [{"machine_ids": [], "unavailability": unavailability}]}),
        ),
        (
            "schedule: machine twice",
            json!({"windows": [{"machine_ids": [machine, machine], "unavailability": unavailability}]}),
        ),
        (
            "schedule: no hostname nor ip",
            json!({"windows": [{"machine_ids": [{}], "unavailability": unavailability}]}),
        ),
    ] {
        let answer = post(schedule_url.clone(), body).await;
        d.record(label, answer);
    }
    let answer = post(
        operator.clone(),
        json!({"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine]}}),
    )
    .await;
    d.record("start maintenance: not scheduled", answer);
    let answer = post(
        schedule_url.clone(),
        json!({"windows": [{"machine_ids": [machine], "unavailability": unavailability}]}),
    )
    .await;
    d.record("schedule: valid", answer);
    let schedule: Value = d
        .http
        .get(&schedule_url)
        .send()
        .await
        .expect("schedule answers")
        .json()
        .await
        .expect("schedule is JSON");
    d.record("schedule: get", schedule);
    let answer = post(
        operator.clone(),
        json!({"type": "GET_MAINTENANCE_SCHEDULE"}),
    )
    .await;
    d.record("operator: get schedule", answer);

    let ev = d
        .wait_event("INVERSE_OFFERS", |e| e["type"] == "INVERSE_OFFERS")
        .await;
    let inverse = ev["inverse_offers"]["inverse_offers"][0].clone();
    d.remember(
        inverse["id"]["value"].as_str().unwrap_or_default(),
        "<inverse offer>",
    );
    d.record(
        "inverse offer",
        json!({
            "count": ev["inverse_offers"]["inverse_offers"].as_array().map(Vec::len),
            "keys": inverse.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
            "agent_id": inverse["agent_id"],
            "framework_id": inverse["framework_id"],
            "unavailability": inverse["unavailability"],
            "url_shape": shape(&inverse["url"]),
        }),
    );
    let offer = d
        .wait_event("OFFERS with unavailability", |e| {
            e["type"] == "OFFERS" && e["offers"]["offers"][0].get("unavailability").is_some()
        })
        .await;
    d.record(
        "offer unavailability",
        offer["offers"]["offers"][0]["unavailability"].clone(),
    );
    let offer_id = offer["offers"]["offers"][0]["id"].clone();
    d.call(
        "maintenance: decline offer",
        json!({"framework_id": fw, "type": "DECLINE", "decline": {"offer_ids": [offer_id]}}),
    )
    .await;
    d.call(
        "maintenance: decline inverse offer",
        json!({"framework_id": fw, "type": "DECLINE_INVERSE_OFFERS", "decline_inverse_offers": {
            "inverse_offer_ids": [inverse["id"]], "filters": {"refuse_seconds": 3600.0}}}),
    )
    .await;
    // The master records the answer asynchronously: poll for it.
    let started = Instant::now();
    let mut status = loop {
        let answer = post(operator.clone(), json!({"type": "GET_MAINTENANCE_STATUS"})).await;
        let statuses =
            &answer["body"]["get_maintenance_status"]["status"]["draining_machines"][0]["statuses"];
        if statuses.as_array().is_some_and(|s| !s.is_empty()) || started.elapsed() > DEADLINE {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // When the framework answered: present, the value differs.
    for s in status["body"]["get_maintenance_status"]["status"]["draining_machines"][0]["statuses"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        s["timestamp"] = json!(s.get("timestamp").is_some());
    }
    d.record("operator: maintenance status (declined)", status);

    let answer = post(
        operator.clone(),
        json!({"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": [machine]}}),
    )
    .await;
    d.record("stop maintenance: not down", answer);
    let answer = post(
        operator.clone(),
        json!({"type": "START_MAINTENANCE", "start_maintenance": {"machines": [machine]}}),
    )
    .await;
    d.record("start maintenance", answer);
    d.update("maintenance: task on the machine brought down", "m1")
        .await;
    let answer = post(schedule_url.clone(), json!({})).await;
    d.record("schedule: a down machine left out", answer);
    let answer = post(operator.clone(), json!({"type": "GET_MAINTENANCE_STATUS"})).await;
    d.record("operator: maintenance status (down)", answer);
    let answer = post(
        operator.clone(),
        json!({"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": [machine]}}),
    )
    .await;
    d.record("stop maintenance", answer);
    let answer = post(
        operator.clone(),
        json!({"type": "GET_MAINTENANCE_SCHEDULE"}),
    )
    .await;
    d.record("operator: schedule after stop", answer);
    d.call(
        "maintenance teardown",
        json!({"framework_id": fw, "type": "TEARDOWN"}),
    )
    .await;
    d.transcript
}

#[test]
fn maintenance_matches_a_real_master() {
    assert_matches_a_real_master("maintenance", |base| async move {
        maintenance_script(&base, Encoding::Json).await
    });
}

/// UPDATE_FRAMEWORK (`Master::updateFramework`, Mesos 1.12): the 400s for
/// an invalid FrameworkInfo, a changed immutable field and suppressed roles
/// outside the roles; then role b added (its reservation is offered to it)
/// and role a removed (a's outstanding offer is rescinded).
async fn update_framework_script(base: &str, encoding: Encoding) -> Transcript {
    let mut d = Driver::new(base, encoding);
    let mut info = framework_info("diff-update");
    info["capabilities"] = json!([{"type": "MULTI_ROLE"}, {"type": "TASK_KILLING_STATE"}]);
    info["roles"] = json!(["team-a"]);
    d.subscribe(
        "update subscribe",
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}),
    )
    .await;
    let fw = d.fw();
    info["id"] = fw.clone();
    let a = d.wait_offer().await;
    d.record("update: offer to team-a", offer_view(&a));
    let update = |info: &Value, suppressed: Value| {
        json!({"framework_id": fw, "type": "UPDATE_FRAMEWORK", "update_framework": {
            "framework_info": info, "suppressed_roles": suppressed}})
    };
    let with = |field: &str, value: Value| {
        let mut i = info.clone();
        i[field] = value;
        i
    };
    let cases = [
        (
            "changed user",
            with("user", json!("someone-else")),
            json!([]),
        ),
        (
            "changed checkpoint",
            with("checkpoint", json!(true)),
            json!([]),
        ),
        (
            "changed principal",
            with("principal", json!("p")),
            json!([]),
        ),
        (
            "duplicate roles",
            with("roles", json!(["team-a", "team-a"])),
            json!([]),
        ),
        ("invalid role", with("roles", json!(["team a"])), json!([])),
        ("role and roles", with("role", json!("team-a")), json!([])),
        (
            "suppressed outside roles",
            with("roles", json!(["team-a"])),
            json!(["team-c", "team-b"]),
        ),
        (
            "other framework id",
            with("id", json!({"value": "other"})),
            json!([]),
        ),
    ];
    for (case, i, suppressed) in cases {
        d.call(&format!("update framework: {case}"), update(&i, suppressed))
            .await;
    }
    let both = with("roles", json!(["team-a", "team-b"]));
    d.call("update framework: add team-b", update(&both, json!([])))
        .await;
    let b = d
        .wait_event("an offer to team-b", |e| {
            e["type"] == "OFFERS" && e["offers"]["offers"][0]["allocation_info"]["role"] == "team-b"
        })
        .await;
    let b = b["offers"]["offers"][0].clone();
    d.remember(b["id"]["value"].as_str().unwrap_or_default(), "<offer-b>");
    d.record("update: offer to team-b", offer_view(&b));
    let only_b = with("roles", json!(["team-b"]));
    d.call(
        "update framework: remove team-a",
        update(&only_b, json!([])),
    )
    .await;
    let rescind = d
        .wait_event("team-a's offer rescinded", |e| e["type"] == "RESCIND")
        .await;
    d.record("update: rescind", rescind);
    let state = d.state().await;
    let listed = &state["frameworks"][0];
    d.record(
        "update: framework in state",
        json!({"roles": listed["roles"], "id": listed["id"]}),
    );
    d.call(
        "update teardown",
        json!({"framework_id": fw, "type": "TEARDOWN"}),
    )
    .await;
    d.transcript
}

#[test]
fn update_framework_matches_a_real_master() {
    let agent = AgentOptions {
        hostname: "agent-1.diff".into(),
        cpus: 2.0,
        mem: 1024,
        disk: 4096,
        reserved: "cpus(team-b):1;mem(team-b):512".into(),
        ..AgentOptions::numbered(1)
    };
    let Some(cluster) = RealCluster::start(MasterOptions::default(), vec![agent]) else {
        eprintln!("MESOS_HOME is unset: update_framework_matches_a_real_master skipped");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for encoding in [Encoding::Json, Encoding::Protobuf] {
        let real = rt.block_on(update_framework_script(&cluster.master_url(), encoding));
        let sim = rt.block_on(async {
            let agent: hydrogen_sim::AgentSpec = serde_json::from_value(json!({
                "hostname": "agent-1.diff",
                "resources": {"cpus": 2, "mem": 1024, "disk": 4096, "ports": "[20000-20099]"},
                "reserved": {"team-b": {"cpus": 1, "mem": 512}},
                "attributes": {"rack": "r1"},
            }))
            .expect("agent spec");
            let sim = Simulator::start(SimConfig {
                listen: "127.0.0.1:0".parse().expect("loopback"),
                agents: vec![agent],
                timings: hydrogen_sim::Timings {
                    allocation_interval: Duration::from_millis(100),
                    ..Default::default()
                },
                ..SimConfig::default()
            })
            .await
            .expect("simulator starts");
            let t = update_framework_script(&sim.url(), encoding).await;
            sim.shutdown().await;
            t
        });
        assert_same_transcripts(format!("UPDATE_FRAMEWORK, {encoding:?}"), &real, &sim);
    }
}

/// RESERVE_RESOURCES / UNRESERVE_RESOURCES (operator API) against a
/// MULTI_ROLE framework in the reservation's role: the refusals (a static
/// reservation, more than the agent has, an unknown agent), the rescind of
/// the outstanding offer, the reserved resources in the next offer (type,
/// role, principal, labels), and the unreserve with its rescind.
async fn reservation_script(base: &str, encoding: Encoding) -> Transcript {
    let mut d = Driver::new(base, encoding);
    let mut info = framework_info("diff-reserve");
    info["roles"] = json!(["eng"]);
    info["capabilities"] = json!([{"type": "TASK_KILLING_STATE"}, {"type": "MULTI_ROLE"},
                                  {"type": "RESERVATION_REFINEMENT"}]);
    d.subscribe(
        "reserve subscribe",
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}),
    )
    .await;
    let fw = d.fw();
    let offer = d.wait_offer().await;
    let agent = offer["agent_id"].clone();
    let operator = format!("{base}/api/v1");
    let reservation = json!([{"type": "DYNAMIC", "role": "eng", "principal": "ops",
                              "labels": {"labels": [{"key": "owner", "value": "eng"}]}}]);
    let dynamic = |name: &str, value: f64| json!({"name": name, "type": "SCALAR", "scalar": {"value": value}, "reservations": reservation});
    let static_cpus = json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0},
                             "reservations": [{"type": "STATIC", "role": "eng"}]});
    let calls = [
        (
            "reserve: static",
            "RESERVE_RESOURCES",
            agent.clone(),
            vec![static_cpus],
        ),
        (
            "reserve: unknown agent",
            "RESERVE_RESOURCES",
            json!({"value": "no-such-agent"}),
            vec![dynamic("cpus", 1.0)],
        ),
        (
            "reserve: more than the agent has",
            "RESERVE_RESOURCES",
            agent.clone(),
            vec![dynamic("cpus", 1000.0)],
        ),
        (
            "reserve",
            "RESERVE_RESOURCES",
            agent.clone(),
            vec![dynamic("cpus", 1.0), dynamic("mem", 256.0)],
        ),
    ];
    for (label, kind, agent_id, resources) in calls {
        let field = kind.to_lowercase();
        let resp = d
            .http
            .post(&operator)
            .header("Content-Type", "application/json")
            .body(
                json!({"type": kind, field: {"agent_id": agent_id, "resources": resources}})
                    .to_string(),
            )
            .send()
            .await
            .expect("operator api answers");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        // The agent's pid (its port) differs between the two masters.
        let body = match body.find("slave(1)@") {
            Some(at) => {
                let end = body[at..].find(' ').map_or(body.len(), |e| at + e);
                format!("{}<pid>{}", &body[..at], &body[end..])
            }
            None => body,
        };
        // A conflict's text is the agent's resource arithmetic: the status
        // is what a client acts on.
        let body = if status == 409 { String::new() } else { body };
        d.record(label, json!({"status": status, "body": body}));
    }
    let rescind = d.wait_event("RESCIND", |e| e["type"] == "RESCIND").await;
    d.record(
        "reserve: the outstanding offer",
        json!({"type": rescind["type"]}),
    );
    let reserved_of = |offer: &Value| -> Value {
        let mut reserved: Vec<Value> = offer["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["reservations"].as_array().is_some_and(|v| !v.is_empty()))
            .cloned()
            .collect();
        reserved.sort_by_key(|r| r["name"].as_str().unwrap_or_default().to_string());
        Value::Array(reserved)
    };
    let offer = d.wait_offer().await;
    d.record("reserve: offered", reserved_of(&offer));
    let resp = d
        .http
        .post(&operator)
        .header("Content-Type", "application/json")
        .body(
            json!({"type": "UNRESERVE_RESOURCES", "unreserve_resources": {
                "agent_id": agent, "resources": [dynamic("cpus", 1.0), dynamic("mem", 256.0)]}})
            .to_string(),
        )
        .send()
        .await
        .expect("operator api answers");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    d.record("unreserve", json!({"status": status, "body": body}));
    let rescind = d.wait_event("RESCIND", |e| e["type"] == "RESCIND").await;
    d.record(
        "unreserve: the outstanding offer",
        json!({"type": rescind["type"]}),
    );
    let offer = d.wait_offer().await;
    d.record("unreserve: offered", reserved_of(&offer));
    d.call(
        "reserve teardown",
        json!({"framework_id": fw, "type": "TEARDOWN"}),
    )
    .await;
    d.transcript
}

#[test]
fn operator_reservations_match_a_real_master() {
    assert_matches_a_real_master("reservations", |base| async move {
        reservation_script(&base, Encoding::Json).await
    });
}

/// The life of a drain after DRAIN_AGENT: the agent is DRAINING (and
/// deactivated) until its last task's terminal update is acknowledged,
/// REACTIVATE_AGENT is refused until then, the agent is DRAINED after,
/// reactivation puts it back into offers, and a second one is refused.
async fn reactivate_script(base: &str, encoding: Encoding) -> Transcript {
    let mut d = Driver::new(base, encoding);
    d.subscribe(
        "reactivate subscribe",
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info("diff-reactivate")}}),
    )
    .await;
    let fw = d.fw();
    let offer = d.wait_offer().await;
    let agent = offer["agent_id"].clone();
    d.call(
        "reactivate: launch",
        json!({"framework_id": fw, "type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task("r1", &agent, 0.1)]}}]
        }}),
    )
    .await;
    let ack = |status: &Value| {
        json!({"framework_id": fw, "type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}})
    };
    // Every update acknowledged but the terminal one, which is held back.
    let terminal = loop {
        let ev = d
            .wait_event("UPDATE of r1", |e| {
                e["type"] == "UPDATE" && e["update"]["status"]["task_id"]["value"] == "r1"
            })
            .await;
        let status = ev["update"]["status"].clone();
        let state = status["state"].as_str().unwrap_or_default().to_string();
        if is_terminal_name(&state) {
            break status;
        }
        if status.get("uuid").is_some() {
            let (body, ct) = d.body(&ack(&status));
            let sid = d.stream_id.clone();
            d.post_raw(body, ct, None, sid.as_deref()).await;
        }
        if state == "TASK_RUNNING" {
            let operator = format!("{base}/api/v1");
            let resp = d
                .http
                .post(&operator)
                .header("Content-Type", "application/json")
                .body(
                    json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": agent}}).to_string(),
                )
                .send()
                .await
                .expect("operator api answers");
            d.record(
                "reactivate: drain",
                json!({"status": resp.status().as_u16()}),
            );
        }
    };
    d.record("reactivate: terminal update", update_view(&terminal));
    let operator = format!("{base}/api/v1");
    let reactivate = |d: &Driver| {
        d.http
            .post(&operator)
            .header("Content-Type", "application/json")
            .body(
                json!({"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": agent}})
                    .to_string(),
            )
            .send()
    };
    let agent_view = |state: &Value| -> Value {
        let a = state["slaves"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == agent["value"])
            .cloned()
            .unwrap_or_default();
        json!({"active": a["active"], "deactivated": a["deactivated"], "drain_info": a["drain_info"],
               "deactivated_slaves": state["deactivated_slaves"], "activated_slaves": state["activated_slaves"]})
    };
    let resp = reactivate(&d).await.expect("operator api answers");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    d.record(
        "reactivate: while draining",
        json!({"status": status, "body": body}),
    );
    let state = d.state().await;
    d.record("reactivate: state while draining", agent_view(&state));
    let (body, ct) = d.body(&ack(&terminal));
    let sid = d.stream_id.clone();
    d.post_raw(body, ct, None, sid.as_deref()).await;
    let started = Instant::now();
    let drained = loop {
        let state = d.state().await;
        let view = agent_view(&state);
        if view["drain_info"]["state"] == "DRAINED" || started.elapsed() > DEADLINE {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    d.record("reactivate: state once drained", drained);
    for label in ["reactivate: drained", "reactivate: again"] {
        let resp = reactivate(&d).await.expect("operator api answers");
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        d.record(label, json!({"status": status, "body": body}));
    }
    let state = d.state().await;
    d.record("reactivate: state after", agent_view(&state));
    let offer = d.wait_offer().await;
    d.record(
        "reactivate: offered again",
        json!({"agent": offer["agent_id"] == agent}),
    );
    d.call(
        "reactivate teardown",
        json!({"framework_id": fw, "type": "TEARDOWN"}),
    )
    .await;
    d.transcript
}

#[test]
fn reactivating_a_drained_agent_matches_a_real_master() {
    assert_matches_a_real_master("reactivate", |base| async move {
        reactivate_script(&base, Encoding::Json).await
    });
}
