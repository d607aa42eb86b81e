//! The fixtures hydrogen's integration tests, benches and library unit tests
//! share that do not need hydrogen's own types: real processes (the
//! `hydrogen` binary, `redis-server`, a Sentinel topology, a real Mesos) and
//! HTTP with deadlines. Fixtures built on hydrogen's types stay with the
//! tests (`tests/integration/`), since this crate must not depend on
//! hydrogen.

pub mod procs;
pub mod real_mesos;
pub mod redis_server;
pub mod web;
