//! Hydrogen: a highly available Apache Mesos framework for long-running
//! containers, on the Mesos v1 scheduler HTTP API.
//!
//! See `DESIGN.md`-level overview in the README; each module's docs say what
//! it owns.

pub mod mesos;
pub mod sim;
