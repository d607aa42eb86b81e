//! Benchmarks that need the whole crate: the end-to-end run behind
//! `hydrogen bench e2e` ([`e2e`]), process figures from `/proc`
//! ([`procstat`]) and the inputs shared with the criterion benchmarks in
//! `benches/` ([`fixtures`]). Benchmarks report; they never assert timings.
//!
//! `make bench` runs all of them and writes `target/bench-report.md`.

pub mod e2e;
pub mod fixtures;
pub mod procstat;
