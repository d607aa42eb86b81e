//! Builders for the calls a scheduler sends on its subscription.
//!
//! Each builder returns a [`Call`] without `framework_id`: the
//! scheduler's caller (`hydrogen::mesos::subscription::Caller`) fills it in from the live session,
//! so a call can never name another framework by accident.

use bytes::Bytes;

use super::v1::scheduler::{Call, call};
use super::v1::{self, offer};

fn call_of(kind: call::Type) -> Call {
    Call {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// `FrameworkID`, `TaskID` ... are all `{value: string}`; this keeps call sites short.
pub fn framework_id(value: impl Into<String>) -> v1::FrameworkId {
    v1::FrameworkId {
        value: value.into(),
    }
}

/// A `TaskID`.
pub fn task_id(value: impl Into<String>) -> v1::TaskId {
    v1::TaskId {
        value: value.into(),
    }
}

/// An `AgentID`.
pub fn agent_id(value: impl Into<String>) -> v1::AgentId {
    v1::AgentId {
        value: value.into(),
    }
}

/// An `OfferID`.
pub fn offer_id(value: impl Into<String>) -> v1::OfferId {
    v1::OfferId {
        value: value.into(),
    }
}

/// `Filters` with the given refusal time.
pub fn refuse_for(seconds: f64) -> v1::Filters {
    v1::Filters {
        refuse_seconds: Some(seconds),
    }
}

/// SUBSCRIBE with this framework description. A present `framework_info.id`
/// re-subscribes (failover); the caller also sets `Call.framework_id` then.
pub fn subscribe(framework_info: v1::FrameworkInfo) -> Call {
    let mut c = call_of(call::Type::Subscribe);
    c.framework_id = framework_info.id.clone().filter(|id| !id.value.is_empty());
    c.subscribe = Some(call::Subscribe {
        framework_info,
        ..Default::default()
    });
    c
}

/// A LAUNCH operation.
pub fn launch(task_infos: Vec<v1::TaskInfo>) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::Launch as i32),
        launch: Some(offer::operation::Launch { task_infos }),
        ..Default::default()
    }
}

/// A LAUNCH_GROUP operation (default executor).
pub fn launch_group(executor: v1::ExecutorInfo, task_group: v1::TaskGroupInfo) -> offer::Operation {
    offer::Operation {
        r#type: Some(offer::operation::Type::LaunchGroup as i32),
        launch_group: Some(offer::operation::LaunchGroup {
            executor,
            task_group,
        }),
        ..Default::default()
    }
}

/// ACCEPT: apply `operations` to the resources of `offer_ids` (all from one
/// agent); what is left over is refused for `filters`.
pub fn accept(
    offer_ids: Vec<v1::OfferId>,
    operations: Vec<offer::Operation>,
    filters: Option<v1::Filters>,
) -> Call {
    let mut c = call_of(call::Type::Accept);
    c.accept = Some(call::Accept {
        offer_ids,
        operations,
        filters,
    });
    c
}

/// DECLINE offers, refusing their agents' resources for `filters`.
pub fn decline(offer_ids: Vec<v1::OfferId>, filters: Option<v1::Filters>) -> Call {
    let mut c = call_of(call::Type::Decline);
    c.decline = Some(call::Decline { offer_ids, filters });
    c
}

/// ACCEPT_INVERSE_OFFERS: agree to give the agents back for maintenance.
pub fn accept_inverse_offers(ids: Vec<v1::OfferId>, filters: Option<v1::Filters>) -> Call {
    let mut c = call_of(call::Type::AcceptInverseOffers);
    c.accept_inverse_offers = Some(call::AcceptInverseOffers {
        inverse_offer_ids: ids,
        filters,
    });
    c
}

/// DECLINE_INVERSE_OFFERS: refuse, for now, to give the agents back.
pub fn decline_inverse_offers(ids: Vec<v1::OfferId>, filters: Option<v1::Filters>) -> Call {
    let mut c = call_of(call::Type::DeclineInverseOffers);
    c.decline_inverse_offers = Some(call::DeclineInverseOffers {
        inverse_offer_ids: ids,
        filters,
    });
    c
}

/// REVIVE: clear every filter and resume offers (all roles when empty).
pub fn revive(roles: Vec<String>) -> Call {
    let mut c = call_of(call::Type::Revive);
    c.revive = Some(call::Revive { roles });
    c
}

/// SUPPRESS: stop offers until REVIVE (all roles when empty).
pub fn suppress(roles: Vec<String>) -> Call {
    let mut c = call_of(call::Type::Suppress);
    c.suppress = Some(call::Suppress { roles });
    c
}

/// KILL a task; the agent id lets the master route it when it lost track.
pub fn kill(task: v1::TaskId, agent: Option<v1::AgentId>) -> Call {
    let mut c = call_of(call::Type::Kill);
    c.kill = Some(call::Kill {
        task_id: task,
        agent_id: agent,
        kill_policy: None,
    });
    c
}

/// ACKNOWLEDGE a status update that carried `uuid`.
pub fn acknowledge(agent: v1::AgentId, task: v1::TaskId, uuid: Bytes) -> Call {
    let mut c = call_of(call::Type::Acknowledge);
    c.acknowledge = Some(call::Acknowledge {
        agent_id: agent,
        task_id: task,
        uuid,
    });
    c
}

/// RECONCILE: explicit for the given tasks, implicit (every task the master
/// knows for us) when `tasks` is empty.
pub fn reconcile(tasks: Vec<(v1::TaskId, Option<v1::AgentId>)>) -> Call {
    let mut c = call_of(call::Type::Reconcile);
    c.reconcile = Some(call::Reconcile {
        tasks: tasks
            .into_iter()
            .map(|(task_id, agent_id)| call::reconcile::Task { task_id, agent_id })
            .collect(),
    });
    c
}

/// TEARDOWN: the framework ends; Mesos kills all its tasks.
pub fn teardown() -> Call {
    call_of(call::Type::Teardown)
}

/// SHUTDOWN a custom executor.
pub fn shutdown(executor: v1::ExecutorId, agent: v1::AgentId) -> Call {
    let mut c = call_of(call::Type::Shutdown);
    c.shutdown = Some(call::Shutdown {
        executor_id: executor,
        agent_id: agent,
    });
    c
}

/// MESSAGE to an executor.
pub fn message(agent: v1::AgentId, executor: v1::ExecutorId, data: Bytes) -> Call {
    let mut c = call_of(call::Type::Message);
    c.message = Some(call::Message {
        agent_id: agent,
        executor_id: executor,
        data,
    });
    c
}
