//! The API: gRPC `hydrogen.v1.AppService` and the legacy JSON REST API on one
//! port, both over one core and the [`crate::store::Store`].
//!
//! - `service.rs`: the core (deploy, kill, update, state, list, readiness);
//! - `grpc.rs` / `rest.rs`: the two faces, thin translations;
//! - `convert.rs`: proto ↔ spec (through the app JSON, so both faces
//!   validate alike);
//! - `watch.rs`: the resumable task watch (gRPC stream and SSE);
//! - `error.rs`: one error enum → HTTP status, gRPC code, JSON body;
//! - `auth.rs`: optional bearer token;
//! - `console.rs`: the web console's static page at `/ui/`;
//! - `openapi.rs`: the OpenAPI document of the REST face;
//! - `server.rs`: [`server::serve`], one listener for everything;
//! - `conn.rs`: the accept loop: connection cap, header and idle timeouts.
//!
//! Invariant 4 of the design (`docs/design.md#invariants`) holds here: any instance serves the API; reads
//! come from the store and writes go to it, validated, without finding the
//! leader. The API never talks to Mesos.

pub mod auth;
pub mod codec;
pub mod conn;
pub mod console;
pub mod convert;
pub mod error;
pub mod grpc;
mod openapi;
pub mod rest;
pub mod server;
pub mod service;
pub mod watch;

/// Types and stubs generated from `proto/hydrogen/v1/app.proto`.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("hydrogen.v1");
}

/// The encoded descriptor set of `hydrogen.v1`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/hydrogen_descriptor.bin"));

pub use error::{ApiError, ErrorCode};
pub use server::{ApiConfig, ServeError, serve};
pub use service::ApiService;
