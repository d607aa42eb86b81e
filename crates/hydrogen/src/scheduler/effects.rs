//! What the decision core ([`super::core`]) asks the driver
//! ([`super::runtime`]) to do after one input: store writes, Mesos calls and
//! acknowledgements, as named values.
//!
//! The driver carries them out in one fixed order, which is invariant 1
//! of the design (`docs/design.md#invariants`, persist before act): [`Effects::framework_id`] and [`Effects::writes`]
//! first (one fenced batch), then the Mesos calls (reconciliation first,
//! then launches, declines, kills and the offer flow), then the
//! acknowledgements. A crash between the write and the calls leaves records
//! Mesos may not know, which reconciliation settles; never a task Mesos
//! runs that we do not know, and never an acknowledged update we did not
//! write.

use std::time::Duration;

use bytes::Bytes;

use crate::mesos::subscription::Generation;
use crate::mesos::v1;
use crate::store::TaskBatch;

/// Everything one input decided.
#[derive(Debug, Default)]
pub struct Effects {
    /// The Mesos session the calls belong to; `None`: no call may go out
    /// (the decisions stand, and are sent again on the next session).
    pub session: Option<Generation>,
    /// A framework id to persist (the first SUBSCRIBED of a new framework).
    pub framework_id: Option<String>,
    /// Task, status and app-removal writes, applied as one fenced batch.
    pub writes: TaskBatch,
    /// RECONCILE calls, in order (explicit ones first, then implicit).
    pub reconciles: Vec<Reconcile>,
    /// ACCEPTs, one per used offer.
    pub launches: Vec<Launch>,
    /// One DECLINE of the offers nothing was placed on.
    pub decline: Option<Decline>,
    /// Inverse offers to accept: none of our tasks remain on their agents.
    pub inverse_accepts: Vec<v1::OfferId>,
    /// Inverse offers to decline: moving off their agents would take an
    /// app below its minimum ready share (the apps' State says which).
    pub inverse_declines: Vec<v1::OfferId>,
    pub kills: Vec<Kill>,
    pub offer_flow: Option<OfferFlow>,
    /// Acknowledgements of the updates `writes` persisted.
    pub acks: Vec<Acknowledge>,
}

impl Effects {
    /// Whether nothing at all is to be done.
    pub fn is_empty(&self) -> bool {
        self.framework_id.is_none()
            && self.writes.is_empty()
            && self.reconciles.is_empty()
            && self.launches.is_empty()
            && self.decline.is_none()
            && self.inverse_accepts.is_empty()
            && self.inverse_declines.is_empty()
            && self.kills.is_empty()
            && self.offer_flow.is_none()
            && self.acks.is_empty()
    }
}

/// ACCEPT of one offer with LAUNCH of these tasks (their records are in
/// the same [`Effects::writes`], as STAGING).
#[derive(Debug, Clone)]
pub struct Launch {
    pub offer_id: v1::OfferId,
    pub tasks: Vec<v1::TaskInfo>,
    /// For logs: the ids of `tasks`.
    pub task_ids: Vec<String>,
}

/// DECLINE of offers with a refuse filter.
#[derive(Debug, Clone)]
pub struct Decline {
    pub offer_ids: Vec<v1::OfferId>,
    /// `refuse_seconds`: never longer than the shortest relaunch backoff
    /// still running, so a backed-off app is offered again when it ends.
    pub refuse: Duration,
}

/// KILL of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    pub task_id: String,
    /// Empty or absent: Mesos finds the agent itself.
    pub agent_id: Option<String>,
    pub reason: KillReason,
}

/// Why a task is killed (logged with the call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// Mesos runs it for us and no app owns it.
    Orphan,
    /// Its app was killed or deleted.
    AppGone,
    /// Its slot is beyond the app's `instances`.
    ScaleDown,
    /// Another task of the same version serves its slot.
    Duplicate,
    /// Its slot's new-version task is ready.
    Replaced,
    /// A rolling update makes room for the new version in its slot.
    MakeRoom,
    /// Its agent goes down for maintenance; a replacement runs elsewhere.
    Maintenance,
    /// An earlier kill got no terminal answer: sent again.
    Retry,
}

impl KillReason {
    pub fn as_str(self) -> &'static str {
        match self {
            KillReason::Orphan => "orphan",
            KillReason::AppGone => "app gone",
            KillReason::ScaleDown => "scale down",
            KillReason::Duplicate => "duplicate in its slot",
            KillReason::Replaced => "replaced by the new version",
            KillReason::MakeRoom => "making room for the new version",
            KillReason::Maintenance => "moved off an agent going down for maintenance",
            KillReason::Retry => "kill retry",
        }
    }
}

/// REVIVE of some roles (clears their decline filters, resumes their
/// offers) and SUPPRESS of others; at least one role in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferFlow {
    pub revive: Vec<String>,
    pub suppress: Vec<String>,
}

/// RECONCILE of these tasks; none: implicit (every task Mesos knows).
#[derive(Debug, Clone, Default)]
pub struct Reconcile {
    pub tasks: Vec<ReconcileTask>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileTask {
    pub task_id: String,
    /// Empty: unknown.
    pub agent_id: String,
}

/// ACKNOWLEDGE of one status update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledge {
    pub agent_id: v1::AgentId,
    pub task_id: v1::TaskId,
    pub uuid: Bytes,
}
