//! The scheduler: on the leader only, keeps every app's tasks running on
//! Mesos, placed where the app asks, and heals them when anything fails.
//!
//! - [`plan`]: per app, what to launch, kill and forget (pure).
//! - [`placement`]: offers matched to waiting tasks (pure).
//! - [`launch`]: the TaskInfo built for a placed task (pure).
//! - [`backoff`]: relaunch backoff per app.
//! - [`status`]: Mesos status updates into task records.
//! - [`core`]: the decision core, a pure state machine: inputs at a time
//!   in, [`effects`] out.
//! - [`explain`]: why an app waits, in words (State's status message).
//! - [`runtime`]: the driver that feeds the core and carries out its
//!   effects; the only code that touches Mesos and the store.
//! - [`acks`]: status update acknowledgements, sent in the background.
//! - [`standby`]: on the other instances, the copy of the state a new
//!   leader starts from.
//! - [`adopt`]: at start-up, a framework of ours the store forgot.

pub mod acks;
pub mod adopt;
pub mod backoff;
pub mod core;
pub mod effects;
pub mod explain;
pub mod launch;
pub mod names;
pub mod offer_flow;
pub mod placement;
pub mod plan;
pub mod runtime;
pub mod standby;
pub mod status;
