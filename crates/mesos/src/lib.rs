//! The Mesos v1 wire, shared by Hydrogen's scheduler and its simulated
//! master: nothing here knows either of them, so both stay honest to what
//! a real master sends and accepts.
//!
//! - [`v1`]: the generated protobuf types (our subset of the official
//!   `mesos.v1`, `mesos.v1.scheduler`, `mesos.v1.master`,
//!   `mesos.v1.maintenance` and `mesos.v1.allocator` packages, same names
//!   and numbers).
//! - [`recordio`]: the framing of the event stream.
//! - [`encoding`]: protobuf and JSON bodies exactly as Mesos encodes them,
//!   and the content negotiation rules of the master.
//! - [`calls`]: builders for the calls a scheduler sends.
//! - [`ranges`]: `Value.Ranges` in canonical form.

pub mod calls;
pub mod encoding;
pub mod ranges;
pub mod recordio;

/// Generated Mesos v1 types.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/mesos.v1.rs"));

    /// Generated `mesos.v1.scheduler` types: `Call` and `Event`.
    pub mod scheduler {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.scheduler.rs"));
    }

    /// Generated `mesos.v1.master` types: the `GET_FRAMEWORKS`,
    /// `DRAIN_AGENT` and maintenance subset of the operator API.
    pub mod master {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.master.rs"));
    }

    /// Generated `mesos.v1.maintenance` types: schedules and the cluster's
    /// maintenance status.
    pub mod maintenance {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.maintenance.rs"));
    }

    /// Generated `mesos.v1.allocator` types: the inverse offer status.
    pub mod allocator {
        include!(concat!(env!("OUT_DIR"), "/mesos.v1.allocator.rs"));
    }
}

/// The serialized `FileDescriptorSet` of the Mesos protos, for JSON transcoding.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mesos_descriptor.bin"));

/// The endpoint every scheduler call goes to.
pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";

/// The header that ties calls to a subscription.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// Task states after which a task never runs again.
pub fn is_terminal(state: v1::TaskState) -> bool {
    use v1::TaskState as S;
    matches!(
        state,
        S::TaskFinished
            | S::TaskFailed
            | S::TaskKilled
            | S::TaskError
            | S::TaskLost
            | S::TaskDropped
            | S::TaskGone
            | S::TaskGoneByOperator
    )
}
