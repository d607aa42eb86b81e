//! The scheduler: on the leader only, keeps every app's tasks running on
//! Mesos, placed where the app asks, and heals them when anything fails.
//!
//! - [`plan`]: per app, what to launch, kill and forget (pure).
//! - [`placement`]: offers matched to waiting tasks (pure).
//! - [`launch`]: the TaskInfo built for a placed task (pure).
//! - [`backoff`]: relaunch backoff per app.
//! - [`status`]: Mesos status updates into task records.
//! - [`runtime`]: the event loop that ties them to Mesos and the store.
//! - [`acks`]: status update acknowledgements, sent in the background.

pub mod acks;
pub mod backoff;
pub mod launch;
pub mod placement;
pub mod plan;
pub mod runtime;
pub mod status;
