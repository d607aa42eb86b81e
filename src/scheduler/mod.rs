//! The scheduler core (leader only): turns desired apps into Mesos tasks.

pub mod launch;
