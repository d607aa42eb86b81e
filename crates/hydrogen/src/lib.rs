//! Hydrogen: a highly available Apache Mesos framework for long-running
//! containers, on the Mesos v1 scheduler HTTP API.
//!
//! Modules, each owning one concern (the architecture, the data flow and the
//! invariants: `docs/design.md`):
//! - [`spec`]: the app model, its JSON and validation;
//! - [`mesos`]: the v1 protocol: the `hydrogen-mesos` crate's wire (types,
//!   RecordIO, encodings) and our subscription client;
//! - [`store`]: shared state (apps, tasks, event log, leader lease);
//! - [`scheduler`]: the leader's core (placement, launch, reconciliation);
//! - [`ha`]: leader election and self-fencing;
//! - [`api`]: the gRPC `AppService` and the legacy REST bridge;
//! - [`client`]: the Rust client of the gRPC API;
//! - [`telemetry`]: the Prometheus metrics catalogue and recorder.
//!
//! The simulated master (`hydrogen-sim`) and the development tooling
//! (`hydrogen-tools`: the end-to-end benchmark, the chaos soak) are crates
//! of their own; the `hydrogen` binary (the workspace's root package) puts
//! them all under one command.

pub mod api;
pub mod client;
pub mod ha;
pub mod mesos;
pub mod scheduler;
pub mod spec;
pub mod store;
pub mod telemetry;
