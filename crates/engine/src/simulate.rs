//! What applying a plan does to a target and to idsync's ownership records, computed without a
//! target. The dry-run shows the state after a plan with it, the sync worker records ownership
//! with [`record`], and the property tests check that a plan, once applied, leaves nothing to do.

use model::target::{Operation, TargetUser, fold};

use crate::planner::{Effect, LinkChange, Plan, PlannedOp};
use crate::state::TargetState;
use model::target::{Grant, Ownership, UserLink};

/// Applies one operation to a model of the target.
pub fn apply(state: &mut TargetState, op: &Operation) {
    match op {
        Operation::CreateUser { user } => state.insert_user(TargetUser {
            name: user.name.clone(),
            key: None,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            active: true,
            groups: Default::default(),
            properties: Default::default(),
        }),
        Operation::UpdateUser { name, email, display_name } => {
            if let Some(u) = state.users.get_mut(&fold(name)) {
                if email.is_some() {
                    u.email.clone_from(email);
                }
                if display_name.is_some() {
                    u.display_name.clone_from(display_name);
                }
            }
        }
        Operation::RenameUser { name, new_name } => {
            if let Some(mut u) = state.users.remove(&fold(name)) {
                u.name.clone_from(new_name);
                state.insert_user(u);
                for lead in &mut state.leads {
                    if lead.lead.as_deref().map(fold) == Some(fold(name)) {
                        lead.lead = Some(new_name.clone());
                    }
                }
            }
        }
        Operation::SetActive { name, active } => {
            if let Some(u) = state.users.get_mut(&fold(name)) {
                u.active = *active;
            }
        }
        Operation::DeleteUser { name } => {
            state.users.remove(&fold(name));
        }
        Operation::SetProperty { name, key, value } => {
            if let Some(u) = state.users.get_mut(&fold(name)) {
                u.properties.insert(key.clone(), value.clone());
            }
        }
        Operation::CreateGroup { group } => state.insert_group(group),
        Operation::AddMember { group, user } => {
            if let Some(u) = state.users.get_mut(&fold(user))
                && !u.groups.iter().any(|g| fold(g) == fold(group))
            {
                u.groups.insert(group.clone());
            }
        }
        Operation::RemoveMember { group, user } => {
            if let Some(u) = state.users.get_mut(&fold(user)) {
                u.groups.retain(|g| fold(g) != fold(group));
            }
        }
        Operation::SetLead { kind, id, lead } => {
            if let Some(l) = state.leads.iter_mut().find(|l| l.kind == *kind && l.id == *id) {
                l.lead = Some(lead.clone());
            }
        }
    }
}

/// Records what an applied operation changes in idsync's ownership.
pub fn record(owned: &mut Ownership, planned: &PlannedOp) {
    let source = &planned.source;
    match (&planned.effect, &planned.op) {
        (Effect::Link { source_id }, Operation::CreateUser { user }) => {
            owned.users.retain(|l| !(l.source == *source && l.source_id == *source_id));
            owned.users.push(UserLink {
                source: source.clone(),
                source_id: source_id.clone(),
                name: user.name.clone(),
            });
        }
        (Effect::Rename { source_id }, Operation::RenameUser { name, new_name }) => {
            for link in owned.users.iter_mut().filter(|l| l.source == *source && l.source_id == *source_id) {
                link.name.clone_from(new_name);
            }
            for grant in owned.grants.iter_mut().filter(|g| fold(&g.user) == fold(name)) {
                grant.user.clone_from(new_name);
            }
        }
        (Effect::Unlink { source_id }, Operation::DeleteUser { name }) => {
            owned.users.retain(|l| !(l.source == *source && l.source_id == *source_id));
            owned.grants.retain(|g| fold(&g.user) != fold(name));
        }
        (Effect::Grant { origin }, Operation::AddMember { group, user }) => {
            owned.grants.retain(|g| !(fold(&g.user) == fold(user) && fold(&g.group) == fold(group)));
            owned.grants.push(Grant {
                source: source.clone(),
                group: group.clone(),
                user: user.clone(),
                origin: *origin,
            });
        }
        (Effect::Revoke, Operation::RemoveMember { group, user }) => {
            owned.grants.retain(|g| !(fold(&g.user) == fold(user) && fold(&g.group) == fold(group)));
        }
        _ => {}
    }
}

/// Records a link change (adoption or a forgotten link).
pub fn record_link(owned: &mut Ownership, change: &LinkChange) {
    match change {
        LinkChange::Adopt { link, .. } => {
            owned.users.retain(|l| {
                l.source != link.source || (l.source_id != link.source_id && fold(&l.name) != fold(&link.name))
            });
            owned.users.push(link.clone());
        }
        LinkChange::Forget { link, .. } => {
            owned.users.retain(|l| !(l.source == link.source && l.source_id == link.source_id));
            owned.grants.retain(|g| fold(&g.user) != fold(&link.name));
        }
    }
}

/// Applies a whole plan to a model of the target and to the ownership records.
pub fn apply_plan(state: &mut TargetState, owned: &mut Ownership, plan: &Plan) {
    for change in &plan.links {
        record_link(owned, change);
    }
    for planned in &plan.ops {
        apply(state, &planned.op);
        record(owned, planned);
    }
}
