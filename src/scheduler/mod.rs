//! The scheduler: runs on the leader only, turns desired apps and Mesos offers into launches.

pub mod placement;
