//! The scheduler: on the leader only, keeps every app's tasks running on
//! Mesos, placed where the app asks, and heals them when anything fails.
//!
//! - [`plan`]: per app, what to launch, kill and forget (pure).

pub mod backoff;
pub mod plan;
pub mod status;
