//! Hydrogen's integration tests, one binary: each module below is what used
//! to be a test binary of its own, so the fixtures and hydrogen are compiled
//! and linked once instead of once per file. Filter by module as before,
//! e.g. `cargo test --test integration api_`, or
//! `cargo test --test integration real_mesos` for the real-Mesos suite.
//!
//! The chaos soaks are the one exception (`tests/chaos_soak`): they must
//! have the machine to themselves.
//!
//! The fixtures built on hydrogen's types live here (`api_fixture`,
//! `sim_fixture`); those that only start processes and speak HTTP are the
//! `hydrogen-testkit` crate, which the benches and the library's unit tests
//! use too.

mod api_fixture;
mod sim_fixture;

mod api_faults;
mod api_grpc;
mod api_hardening;
mod api_props;
mod api_rest;
mod api_views;
mod api_watch;
mod config_cli;
mod console_ui;
mod dev_cli;
mod examples;
mod ha;
mod mesos_client;
mod metrics_delivered;
mod real_mesos;
mod real_mesos_adopt;
mod real_mesos_faults;
mod real_mesos_healthcheck_ports;
mod real_mesos_sim_differential;
mod redis_sentinel;
mod scheduler;
mod scheduler_acks;
mod scheduler_day2;
mod sim_cli;
mod sim_json;
mod volatile_store;
