//! The Prometheus metrics Hydrogen exports on `GET /metrics`: the recorder
//! and the catalogue of every family, so the HELP lines, the README's
//! metrics reference and the tests are one list.
//!
//! Families without labels are registered at zero when the recorder is
//! installed, so a dashboard sees `hydrogen_mesos_disconnects_total 0`
//! rather than no series before the first disconnection. Families with
//! labels appear with their first labelled value. Every `_seconds` family is
//! a histogram with the buckets below (the exporter would otherwise render
//! summaries, which cannot be aggregated across instances).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// What kind of Prometheus metric a family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    /// The Prometheus `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn family(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind,
        labels,
        help,
    }
}

/// Every family Hydrogen exports.
pub const FAMILIES: &[Family] = &[
    family(
        "hydrogen_api_requests_total",
        Kind::Counter,
        &["method", "route", "status"],
        "API requests answered (gRPC and REST), by route and HTTP status.",
    ),
    family(
        "hydrogen_api_request_duration_seconds",
        Kind::Histogram,
        &["method", "route", "status"],
        "API request latency (to the response head; watches until they end).",
    ),
    family(
        "hydrogen_api_connections",
        Kind::Gauge,
        &[],
        "API connections open now.",
    ),
    family(
        "hydrogen_api_connections_refused_total",
        Kind::Counter,
        &[],
        "API connections closed on accept because --max-connections were open.",
    ),
    family(
        "hydrogen_api_connections_timed_out_total",
        Kind::Counter,
        &["reason"],
        "API connections closed by the server: `header` (headers too slow or never sent) or `idle`.",
    ),
    family(
        "hydrogen_offers_received_total",
        Kind::Counter,
        &[],
        "Offers received from Mesos.",
    ),
    family(
        "hydrogen_offers_used_total",
        Kind::Counter,
        &[],
        "Offers used: in ACCEPT calls the master answered 202.",
    ),
    family(
        "hydrogen_offers_declined_total",
        Kind::Counter,
        &[],
        "Offers declined in DECLINE calls the master answered 202.",
    ),
    family(
        "hydrogen_tasks_launched_total",
        Kind::Counter,
        &[],
        "Tasks in ACCEPT calls the master answered 202, each launch once (a launch decided but not delivered is not counted).",
    ),
    family(
        "hydrogen_tasks_confirmed_total",
        Kind::Counter,
        &[],
        "Launched tasks Mesos confirmed: their first state after STAGING is one only an agent that has them reports (STARTING, RUNNING, ...; not DROPPED, LOST, ERROR or UNKNOWN).",
    ),
    family(
        "hydrogen_status_updates_total",
        Kind::Counter,
        &["state"],
        "Task state changes Mesos reported for our tasks, by new state: each task counts once per state it reaches (resent updates and reconciliation answers that change nothing are not counted).",
    ),
    family(
        "hydrogen_acknowledgements_total",
        Kind::Counter,
        &[],
        "Status update ACKNOWLEDGE calls the master answered 202.",
    ),
    family(
        "hydrogen_acknowledgements_failed_total",
        Kind::Counter,
        &[],
        "ACKNOWLEDGEs not taken by the master: refused, failed, or dropped with their session (Mesos resends the update).",
    ),
    family(
        "hydrogen_acknowledgements_deduplicated_total",
        Kind::Counter,
        &[],
        "ACKNOWLEDGEs not queued because the same one (an update Mesos re-sent) was still waiting to be sent.",
    ),
    family(
        "hydrogen_kills_total",
        Kind::Counter,
        &[],
        "KILL calls the master answered 202 (scale down, app kill, unknown tasks, retries).",
    ),
    family(
        "hydrogen_reconciliations_total",
        Kind::Counter,
        &[],
        "Reconciliations delivered: implicit RECONCILE calls the master answered 202 (after each subscription, and periodic ones).",
    ),
    family(
        "hydrogen_mesos_calls_total",
        Kind::Counter,
        &["call", "status"],
        "Calls to the Mesos master, by call type and HTTP status (`error` when no answer came).",
    ),
    family(
        "hydrogen_mesos_call_duration_seconds",
        Kind::Histogram,
        &["call"],
        "Latency of calls to the Mesos master.",
    ),
    family(
        "hydrogen_mesos_subscribed",
        Kind::Gauge,
        &[],
        "1 while this instance holds a live Mesos subscription.",
    ),
    family(
        "hydrogen_mesos_subscriptions_total",
        Kind::Counter,
        &[],
        "Successful SUBSCRIBEs (the first, then one per reconnection).",
    ),
    family(
        "hydrogen_mesos_subscribe_failures_total",
        Kind::Counter,
        &[],
        "SUBSCRIBE attempts that did not open a session (master down, not leading, refused).",
    ),
    family(
        "hydrogen_mesos_disconnects_total",
        Kind::Counter,
        &[],
        "Mesos sessions lost (stream closed, master silent, failover).",
    ),
    family(
        "hydrogen_scheduler_launch_ready",
        Kind::Gauge,
        &[],
        "1 once the leader has reconciled and may launch.",
    ),
    family(
        "hydrogen_leader",
        Kind::Gauge,
        &[],
        "1 while this instance holds the leader lease.",
    ),
    family(
        "hydrogen_leader_epoch",
        Kind::Gauge,
        &[],
        "Fencing epoch of the lease this instance last held.",
    ),
    family(
        "hydrogen_lease_renewals_total",
        Kind::Counter,
        &[],
        "Leader lease renewals that succeeded.",
    ),
    family(
        "hydrogen_lease_renewal_failures_total",
        Kind::Counter,
        &[],
        "Leader lease renewals that failed, timed out or found the lease taken.",
    ),
    family(
        "hydrogen_store_operation_duration_seconds",
        Kind::Histogram,
        &["backend", "op", "outcome"],
        "Latency of every store operation, by backend, operation and outcome (`ok` or the error kind).",
    ),
    family(
        "hydrogen_store_apply_seconds",
        Kind::Histogram,
        &[],
        "Latency of the scheduler's fenced batch writes (one per scheduling round).",
    ),
];

/// Histogram buckets (seconds): sub-millisecond memory store calls up to
/// slow Redis and long API calls.
const BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder, installed on first use; `None`
/// when another recorder was installed first (then `/metrics` says so).
/// Call it before anything records: values recorded earlier are lost.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            // Only fails for an empty bucket list.
            let builder = builder
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            let installed = metrics::set_global_recorder(recorder).ok().map(|()| handle);
            if installed.is_some() {
                describe();
            }
            installed
        })
        .as_ref()
}

fn describe() {
    for f in FAMILIES {
        match f.kind {
            Kind::Counter => {
                metrics::describe_counter!(f.name, f.help);
                if f.labels.is_empty() {
                    metrics::counter!(f.name).increment(0);
                }
            }
            Kind::Gauge => {
                metrics::describe_gauge!(f.name, f.help);
                if f.labels.is_empty() {
                    metrics::gauge!(f.name).increment(0.0);
                }
            }
            Kind::Histogram => metrics::describe_histogram!(f.name, f.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_prometheus_conventions() {
        let mut seen = std::collections::BTreeSet::new();
        for f in FAMILIES {
            assert!(seen.insert(f.name), "{} twice", f.name);
            assert!(f.name.starts_with("hydrogen_"), "{}", f.name);
            match f.kind {
                Kind::Counter => assert!(f.name.ends_with("_total"), "{}", f.name),
                Kind::Histogram => assert!(f.name.ends_with("_seconds"), "{}", f.name),
                Kind::Gauge => assert!(!f.name.ends_with("_total"), "{}", f.name),
            }
        }
    }

    /// The README's metrics reference lists exactly these families, with
    /// their types and labels.
    #[test]
    fn the_readme_reference_matches_the_catalogue() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("\n## Metrics\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README has a Metrics section");
        let mut documented = Vec::new();
        for line in section.lines().filter(|l| l.starts_with("| `hydrogen_")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            documented.push((
                cells[1].trim_matches('`').to_string(),
                cells[2].to_string(),
                cells[3].replace('`', ""),
            ));
        }
        let expected: Vec<(String, String, String)> = FAMILIES
            .iter()
            .map(|f| {
                (
                    f.name.to_string(),
                    f.kind.as_str().to_string(),
                    f.labels.join(", "),
                )
            })
            .collect();
        assert_eq!(documented, expected);
    }
}
