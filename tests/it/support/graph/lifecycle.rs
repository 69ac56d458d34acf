//! What governance actions do to the stand-in's directory, answered the
//! way Graph answers them: archive and unarchive (202 and a
//! `teamsAsyncOperation` to poll; `isArchived` changes at once, the
//! operation says `succeeded` after the configured number of polls), soft
//! delete into `/directory/deletedItems` and restore from it, renew
//! (`renewedDateTime`, and `expirationDateTime` when a group lifecycle
//! policy applies), `groupLifecyclePolicies`, and owner and member `$ref`
//! links with Graph's own "already exist" 400 and 404 for a link that is
//! not there. [`GraphStandIn::fail_after_effect`] makes the next writes take
//! effect and answer 504, as Graph sometimes does.
//!
//! Simplifications: a `Selected` lifecycle policy applies to every group
//! (like `All`); archiving an archived team is accepted again.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    CREATED, GraphStandIn, Reply, Req, State, Tenant, bound_id, group_json, user_not_found,
};

impl GraphStandIn {
    /// The next `times` lifecycle writes (archive, unarchive, delete,
    /// restore, renew, `$ref` add or remove) take effect, then answer 504.
    pub fn fail_after_effect(&self, times: usize) {
        self.state().fail_after_effect = times;
    }

    /// A group lifecycle policy for every group of the tenant.
    pub fn set_group_lifetime(&self, tenant: &str, days: u32) {
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        t.lifecycle_policies = vec![json!({"id": uuid::Uuid::new_v4().to_string(),
            "groupLifetimeInDays": days, "managedGroupTypes": "All",
            "alternateNotificationEmails": "admins@stand-in.test"})];
    }

    pub fn is_archived(&self, tenant: &str, group: &str) -> bool {
        let st = self.state();
        st.tenants[tenant]
            .groups
            .iter()
            .find(|g| g.id == group)
            .and_then(|g| g.team.as_ref())
            .is_some_and(|t| t.archived)
    }

    pub fn is_soft_deleted(&self, tenant: &str, group: &str) -> bool {
        self.state().tenants[tenant]
            .deleted
            .iter()
            .any(|g| g.id == group)
    }

    /// `renewedDateTime` and `expirationDateTime` of a group, as stored.
    pub fn group_dates(&self, tenant: &str, group: &str) -> (Option<String>, Option<String>) {
        let st = self.state();
        let g = st.tenants[tenant]
            .groups
            .iter()
            .find(|g| g.id == group)
            .expect("a group of the tenant");
        (g.renewed.clone(), g.expires.clone())
    }
}

/// Graph's clock ([`GraphStandIn::set_now`]).
fn now(st: &State) -> OffsetDateTime {
    st.subscriptions.now()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("a date formats")
}

/// The answer for a write that took effect: `reply`, or the 504 Graph
/// sometimes gives for one.
fn effect_or_504(st: &mut State, reply: Reply) -> Reply {
    if st.fail_after_effect > 0 {
        st.fail_after_effect -= 1;
        return Reply::error(504, "GatewayTimeout", "The operation timed out.");
    }
    reply
}

fn tenant_mut<'s>(st: &'s mut State, tenant: &str) -> &'s mut Tenant {
    st.tenants.get_mut(tenant).expect("a known tenant")
}

pub(super) fn set_archived(st: &mut State, tenant: &str, g: usize, archive: bool) -> Reply {
    let polls = st.operation_polls;
    let group = &mut tenant_mut(st, tenant).groups[g];
    let id = group.id.clone();
    let team = group.team.as_mut().expect("a ready team");
    team.archived = archive;
    let op = uuid::Uuid::new_v4().to_string();
    let kind = if archive {
        "archiveTeam"
    } else {
        "unarchiveTeam"
    };
    team.lifecycle_ops.push((op.clone(), kind, polls));
    let reply =
        Reply::empty(202).with_header("Location", format!("/teams('{id}')/operations('{op}')"));
    effect_or_504(st, reply)
}

pub(super) fn get_operation(st: &mut State, tenant: &str, id: &str, op: &str) -> Reply {
    let t = tenant_mut(st, tenant);
    let Some((_, kind, polls_left)) = t
        .groups
        .iter_mut()
        .find(|g| g.id == id)
        .and_then(|g| g.team.as_mut())
        .and_then(|team| team.lifecycle_ops.iter_mut().find(|(o, _, _)| o == op))
    else {
        return Reply::not_found(&format!("Operation '{op}'"));
    };
    let status = if *polls_left > 0 {
        *polls_left -= 1;
        "inProgress"
    } else {
        "succeeded"
    };
    Reply::json(
        200,
        json!({"id": op, "operationType": kind, "status": status, "targetResourceId": id,
            "targetResourceLocation": format!("/teams('{id}')"), "attemptsCount": 1,
            "error": null, "createdDateTime": CREATED, "lastActionDateTime": CREATED}),
    )
}

pub(super) fn delete_group(st: &mut State, tenant: &str, id: &str) -> Reply {
    let t = tenant_mut(st, tenant);
    let Some(g) = t.groups.iter().position(|g| g.id == id) else {
        return user_not_found(id);
    };
    let group = t.groups.remove(g);
    t.deleted.push(group);
    t.journal.group_removed(id, "changed");
    effect_or_504(st, Reply::empty(204))
}

/// `GET /directory/deletedItems/{id}` and `POST …/{id}/restore`.
pub(super) fn deleted_items(st: &mut State, tenant: &str, req: &Req, rest: &[&str]) -> Reply {
    let t = tenant_mut(st, tenant);
    match (req.method.as_str(), rest) {
        ("GET", [id]) => match t.deleted.iter().find(|g| g.id == *id) {
            Some(g) => Reply::json(200, group_json(g)),
            None => user_not_found(id),
        },
        ("POST", [id, "restore"]) => {
            let Some(g) = t.deleted.iter().position(|g| g.id == *id) else {
                return user_not_found(id);
            };
            let group = t.deleted.remove(g);
            let body = group_json(&group);
            t.journal.group_created(id);
            t.groups.push(group);
            effect_or_504(st, Reply::json(200, body))
        }
        _ => Reply::bad_request(&format!("Unsupported request on {}", req.path)),
    }
}

pub(super) fn renew(st: &mut State, tenant: &str, id: &str) -> Reply {
    let now = now(st);
    let t = tenant_mut(st, tenant);
    let lifetime = t
        .lifecycle_policies
        .iter()
        .filter(|p| p["managedGroupTypes"] != "None")
        .filter_map(|p| p["groupLifetimeInDays"].as_i64())
        .min();
    let Some(g) = t.groups.iter_mut().find(|g| g.id == id) else {
        return user_not_found(id);
    };
    g.renewed = Some(rfc3339(now));
    g.expires = lifetime.map(|days| rfc3339(now + time::Duration::days(days)));
    t.journal
        .group_changed(id, &["renewedDateTime", "expirationDateTime"]);
    effect_or_504(st, Reply::empty(204))
}

pub(super) fn policies(st: &State, tenant: &str, _req: &Req) -> Reply {
    Reply::json(
        200,
        json!({"value": st.tenants[tenant].lifecycle_policies.clone()}),
    )
}

pub(super) fn add_ref(st: &mut State, tenant: &str, req: &Req, id: &str, relation: &str) -> Reply {
    let body: Value = req.json().unwrap_or(Value::Null);
    let Some(user) = body["@odata.id"]
        .as_str()
        .and_then(|b| bound_id(b, "directoryObjects"))
    else {
        return Reply::bad_request("Invalid request body: @odata.id is required.");
    };
    let t = tenant_mut(st, tenant);
    if !t.users.contains_key(&user) {
        return Reply::error(
            404,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{user}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    }
    let Some(g) = t.groups.iter_mut().find(|g| g.id == id) else {
        return user_not_found(id);
    };
    let (list, relation) = if relation == "owners" {
        (&mut g.owners, "owners")
    } else {
        (&mut g.members, "members")
    };
    if list.contains(&user) {
        return Reply::error(
            400,
            "Request_BadRequest",
            &format!(
                "One or more added object references already exist for the following modified properties: '{relation}'."
            ),
        );
    }
    list.push(user.clone());
    t.journal.link(id, relation, &user, false);
    effect_or_504(st, Reply::empty(204))
}

pub(super) fn remove_member(st: &mut State, tenant: &str, id: &str, user: &str) -> Reply {
    let t = tenant_mut(st, tenant);
    let Some(g) = t.groups.iter_mut().find(|g| g.id == id) else {
        return user_not_found(id);
    };
    if !g.members.iter().any(|u| u == user) {
        return Reply::error(
            404,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{user}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    }
    g.members.retain(|u| u != user);
    t.journal.link(id, "members", user, true);
    effect_or_504(st, Reply::empty(204))
}
