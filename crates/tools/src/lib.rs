//! Hydrogen's development tooling, kept out of the product crate
//! (`hydrogen`): it drives the product and the simulated master from
//! outside, as an operator or a benchmark would.
//! - [`bench`]: `hydrogen bench e2e` and the fixtures the criterion
//!   benchmarks in `benches/` share;
//! - [`chaos`]: `hydrogen chaos`, the soak test of high availability.
//!
//! The `hydrogen` binary (the workspace's root package) makes both
//! subcommands of the one binary, beside `serve`, `sim` and `dev`.

pub mod bench;
pub mod chaos;
