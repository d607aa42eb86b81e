//! Shared fixtures of the integration tests: a simulated master on a loopback
//! port the OS picks, a subscription client driven with deadlines, and the
//! scheduler cluster fixture (`scheduler.rs`).

pub mod scheduler;

use std::time::Duration;

use hydrogen::mesos::subscription::{
    Generation, Subscription, SubscriptionConfig, SubscriptionEvent,
};
use hydrogen::mesos::v1::scheduler::{Event, event};
use hydrogen::mesos::v1::{self, framework_info::Capability, framework_info::capability};
use hydrogen_sim::{SimConfig, SimHandle, Simulator};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use scheduler::{app_tasks, fast_ha_config, running, small_app, test_app};

/// Everything waits at most this long for a condition.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A simulator with fast timings, on 127.0.0.1 with an OS-picked port.
pub fn fast_sim_config(agents: usize) -> SimConfig {
    let mut config = SimConfig {
        listen: "127.0.0.1:0".parse().expect("loopback address"),
        agents: (1..=agents)
            .map(hydrogen_sim::cluster::default_agent)
            .collect(),
        ..SimConfig::default()
    };
    config.timings.allocation_interval = Duration::from_millis(50);
    config.timings.task_start_delay = Duration::from_millis(20);
    config.timings.task_kill_delay = Duration::from_millis(10);
    config.timings.heartbeat_interval = Duration::from_millis(500);
    config.timings.status_update_retry = Duration::from_millis(200);
    config.timings.status_update_retry_max = Duration::from_millis(800);
    config
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.expect("simulator starts")
}

/// A framework as Hydrogen registers it.
pub fn framework(name: &str, partition_aware: bool) -> v1::FrameworkInfo {
    let mut capabilities = vec![Capability {
        r#type: Some(capability::Type::TaskKillingState as i32),
    }];
    if partition_aware {
        capabilities.push(Capability {
            r#type: Some(capability::Type::PartitionAware as i32),
        });
    }
    v1::FrameworkInfo {
        user: "root".into(),
        name: name.into(),
        failover_timeout: Some(60.0),
        checkpoint: Some(true),
        capabilities,
        ..Default::default()
    }
}

/// A client subscription with its event receiver.
pub struct Client {
    pub subscription: Subscription,
    pub events: mpsc::Receiver<SubscriptionEvent>,
    pub cancel: CancellationToken,
}

impl Client {
    pub fn start(config: SubscriptionConfig) -> Self {
        let cancel = CancellationToken::new();
        let (subscription, events) =
            Subscription::start(config, cancel.clone()).expect("subscription starts");
        Self {
            subscription,
            events,
            cancel,
        }
    }

    pub fn config(sim: &SimHandle, framework: v1::FrameworkInfo) -> SubscriptionConfig {
        let masters = hydrogen::mesos::subscription::parse_masters(&sim.url()).expect("url");
        let mut config = SubscriptionConfig::new(masters, framework);
        config.backoff_initial = Duration::from_millis(20);
        config.backoff_max = Duration::from_millis(200);
        config.call_timeout = Duration::from_secs(5);
        config
    }

    /// The next subscription event satisfying `pred`, skipping others.
    pub async fn next_matching(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&SubscriptionEvent) -> bool,
    ) -> SubscriptionEvent {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) if pred(&e) => return e,
                Ok(Some(_)) => {}
                Ok(None) => panic!("event channel closed while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    /// The next Mesos event of `kind` satisfying `pred`, with its session.
    pub async fn next_event(
        &mut self,
        kind: event::Type,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> (Generation, Event) {
        let found = self
            .next_matching(&format!("{kind:?} event"), |e| match e {
                SubscriptionEvent::Event { event, .. } => event.r#type() == kind && pred(event),
                _ => false,
            })
            .await;
        match found {
            SubscriptionEvent::Event { session, event } => (session, *event),
            _ => unreachable!("filtered above"),
        }
    }

    /// Waits for SUBSCRIBED and returns the session.
    pub async fn subscribed(&mut self) -> hydrogen::mesos::subscription::Session {
        match self
            .next_matching("SUBSCRIBED", |e| {
                matches!(e, SubscriptionEvent::Subscribed(_))
            })
            .await
        {
            SubscriptionEvent::Subscribed(s) => *s,
            _ => unreachable!("filtered above"),
        }
    }

    /// Waits for a status update of `task` in `state`.
    pub async fn update(
        &mut self,
        task: &str,
        state: v1::TaskState,
    ) -> (Generation, v1::TaskStatus) {
        let (session, event) = self
            .next_event(event::Type::Update, |e| {
                e.update
                    .as_ref()
                    .is_some_and(|u| u.status.task_id.value == task && u.status.state() == state)
            })
            .await;
        let status = event.update.map(|u| u.status).expect("update payload");
        (session, status)
    }
}

/// GETs a JSON document from the simulator.
pub async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url)
        .await
        .expect("GET succeeds")
        .json()
        .await
        .expect("JSON body")
}

/// POSTs a JSON body to the simulator's admin API and expects success.
pub async fn admin(url: &str, body: serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("admin call is answered");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "admin {url} answered {status}: {text}");
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// Polls `/master/state` until `pred` holds.
pub async fn wait_state(
    sim: &SimHandle,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let state = get_json(&format!("{}/master/state", sim.url())).await;
        if pred(&state) {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {state}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A one-cpu command task for an offer.
pub fn task_for(offer: &v1::Offer, id: &str, health_check: bool) -> v1::TaskInfo {
    let scalar = |name: &str, value: f64| v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        allocation_info: offer.allocation_info.clone(),
        ..Default::default()
    };
    v1::TaskInfo {
        name: id.into(),
        task_id: v1::TaskId { value: id.into() },
        agent_id: offer.agent_id.clone(),
        resources: vec![scalar("cpus", 0.5), scalar("mem", 64.0)],
        command: Some(v1::CommandInfo {
            value: Some("sleep 1000".into()),
            ..Default::default()
        }),
        health_check: health_check.then(|| v1::HealthCheck {
            r#type: Some(v1::health_check::Type::Tcp as i32),
            tcp: Some(v1::health_check::TcpCheckInfo {
                port: 8080,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
