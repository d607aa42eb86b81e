//! The Mesos v1 scheduler HTTP API, our side of the wire.
//!
//! The wire itself (generated types, RecordIO, the protobuf and JSON
//! encodings, call builders, ranges) is the `hydrogen-mesos` crate,
//! re-exported here; the simulated master builds on the same crate.
//! This module adds the client:
//! - [`pipeline`]: HTTP/1.1 pipelining of calls (acknowledgements) on
//!   kept-alive connections.
//! - [`subscription`]: the long-lived SUBSCRIBE stream and the calls made on it,
//!   with redirects, heartbeat-loss detection and reconnection.

pub use hydrogen_mesos::{
    SCHEDULER_PATH, STREAM_ID_HEADER, calls, encoding, is_terminal, ranges, recordio, v1,
};

pub(crate) mod pipeline;
pub mod subscription;
