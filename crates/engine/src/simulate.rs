//! What applying a plan does to a target and to idsync's ownership records, computed without a
//! target. The dry-run shows the state after a plan with it, the sync worker records ownership
//! with [`record`], and the property tests check that a plan, once applied, leaves nothing to do.

use std::collections::BTreeMap;

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

/// Ownership indexed for applying many operations: links by (source, source id), grants by
/// (folded user, folded group).
struct Index {
    links: BTreeMap<(String, String), UserLink>,
    grants: BTreeMap<(String, String), Grant>,
}

impl Index {
    fn new(owned: &Ownership) -> Self {
        Index {
            links: owned.users.iter().map(|l| ((l.source.clone(), l.source_id.clone()), l.clone())).collect(),
            grants: owned.grants.iter().map(|g| ((fold(&g.user), fold(&g.group)), g.clone())).collect(),
        }
    }

    fn into_ownership(self) -> Ownership {
        Ownership { users: self.links.into_values().collect(), grants: self.grants.into_values().collect() }
    }

    fn drop_grants_of(&mut self, user: &str) {
        let user = fold(user);
        self.grants.retain(|(u, _), _| *u != user);
    }

    /// Records what an applied operation changes in idsync's ownership.
    fn record(&mut self, planned: &PlannedOp) {
        let source = &planned.source;
        match (&planned.effect, &planned.op) {
            (Effect::Link { source_id }, Operation::CreateUser { user }) => {
                let link = UserLink { source: source.clone(), source_id: source_id.clone(), name: user.name.clone() };
                self.links.insert((source.clone(), source_id.clone()), link);
            }
            (Effect::Rename { source_id }, Operation::RenameUser { name, new_name }) => {
                if let Some(link) = self.links.get_mut(&(source.clone(), source_id.clone())) {
                    link.name.clone_from(new_name);
                }
                let moved: Vec<Grant> = self
                    .grants
                    .iter()
                    .filter(|((u, _), _)| *u == fold(name))
                    .map(|(_, g)| Grant { user: new_name.clone(), ..g.clone() })
                    .collect();
                self.drop_grants_of(name);
                for g in moved {
                    self.grants.insert((fold(&g.user), fold(&g.group)), g);
                }
            }
            (Effect::Unlink { source_id }, Operation::DeleteUser { name }) => {
                self.links.remove(&(source.clone(), source_id.clone()));
                self.drop_grants_of(name);
            }
            (Effect::Grant { origin }, Operation::AddMember { group, user }) => {
                let grant = Grant { source: source.clone(), group: group.clone(), user: user.clone(), origin: *origin };
                self.grants.insert((fold(user), fold(group)), grant);
            }
            (Effect::Revoke, Operation::RemoveMember { group, user }) => {
                self.grants.remove(&(fold(user), fold(group)));
            }
            _ => {}
        }
    }

    /// Records a link change (adoption or a forgotten link).
    fn record_link(&mut self, change: &LinkChange) {
        match change {
            LinkChange::Adopt { link, .. } => {
                // One owner per name: the new link replaces any other of the same source to it.
                self.links.retain(|(s, id), l| {
                    !(*s == link.source && (*id == link.source_id || fold(&l.name) == fold(&link.name)))
                });
                self.links.insert((link.source.clone(), link.source_id.clone()), link.clone());
            }
            LinkChange::Forget { link, .. } => {
                self.links.remove(&(link.source.clone(), link.source_id.clone()));
                self.drop_grants_of(&link.name);
            }
        }
    }
}

/// Applies a whole plan to a model of the target and to the ownership records.
pub fn apply_plan(state: &mut TargetState, owned: &mut Ownership, plan: &Plan) {
    let mut index = Index::new(owned);
    for change in &plan.links {
        index.record_link(change);
    }
    for planned in &plan.ops {
        apply(state, &planned.op);
        index.record(planned);
    }
    *owned = index.into_ownership();
}
