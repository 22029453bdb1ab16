//! The planner: from what the sources say, the rules, what the target holds and what idsync owns
//! there, the operations that make the target right, each with the reason for it. A pure
//! function; the dry-run and the sync worker call the same one.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use model::target::{LeadKind, NewUser, Operation, TargetUser, fold, fold_cow, same_name};
use serde::{Deserialize, Serialize};

mod desired;

use crate::attributes::extract;
use crate::rules::{CompiledRules, Deprovision, UserField};
use crate::state::{Scope, SourceSnapshot, SourceUser, TargetState};
pub use desired::desired_name;
use desired::{Desired, GroupTargets, Why, desire_all};
use model::target::Capabilities;
use model::target::{Grant, GrantOrigin, Ownership, UserLink};

/// How an applied operation changes what idsync owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    None,
    Link { source_id: String },
    Rename { source_id: String },
    Unlink { source_id: String },
    Grant { origin: GrantOrigin },
    Revoke,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedOp {
    pub source: String,
    /// The source user the operation is for (None for group creation): a user's operations
    /// run in order, different users' operations in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(flatten)]
    pub op: Operation,
    pub reason: String,
    pub effect: Effect,
    /// Part of deactivating or deleting a user (what the safeguard holds back).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprovision: bool,
}

/// Ownership changes that need no call to the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkChange {
    /// An existing target user that matches a source user becomes managed.
    Adopt { link: UserLink, reason: String },
    /// The linked target user no longer exists; the link goes.
    Forget { link: UserLink, reason: String },
}

/// Something the plan deliberately leaves alone, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub source: String,
    pub user: String,
    pub reason: String,
    /// A username claimed by two owners: reported, never flip-flopped.
    pub conflict: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// In the order they must be applied: groups first, then each user's operations in turn.
    pub ops: Vec<PlannedOp>,
    pub links: Vec<LinkChange>,
    pub skipped: Vec<Skipped>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.links.is_empty()
    }

    /// How many users the plan deactivates or deletes (or, where the target cannot deactivate,
    /// strips of every membership).
    pub fn deprovisioning(&self) -> usize {
        self.ops
            .iter()
            .filter(|p| p.deprovision)
            .filter_map(|p| p.source_id.as_ref().map(|id| (&p.source, id)))
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// One source feeding the target, with its rules.
pub struct Binding<'a> {
    pub rules: &'a CompiledRules,
    pub snapshot: &'a SourceSnapshot,
}

pub struct Target<'a> {
    pub name: &'a str,
    pub caps: Capabilities,
}

pub fn plan(target: &Target, bindings: &[Binding], state: &TargetState, owned: &Ownership) -> Plan {
    let known = Known::new(target, state, owned);
    let caches: Vec<GroupTargets> = bindings.iter().map(GroupTargets::new).collect();
    let desired: Vec<Vec<Option<Desired>>> =
        bindings.iter().zip(&caches).map(|(b, cache)| desire_all(b, cache)).collect();

    // Who claims each username, to find conflicts before anything is planned.
    let mut claims: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    for (bi, users) in desired.iter().enumerate() {
        for (ui, d) in users.iter().enumerate() {
            if let Some(d) = d {
                claims.entry(fold(&d.name)).or_default().push((bi, ui));
            }
        }
    }

    let nothing_removed = BTreeSet::new();
    let mut whole = Planner::new(&known, &nothing_removed);
    for (bi, binding) in bindings.iter().enumerate() {
        let source = &binding.snapshot.source;
        let seen: BTreeSet<&str> = binding.snapshot.users.iter().map(|u| u.id.as_str()).collect();
        let removed: BTreeSet<String> = owned
            .users
            .iter()
            .filter(|l| &l.source == source && !seen.contains(l.source_id.as_str()))
            .filter(|l| match &binding.snapshot.scope {
                Scope::Full => true,
                Scope::Users(ids) => ids.contains(&l.source_id),
            })
            .map(|l| l.source_id.clone())
            .collect();
        let in_scope: Vec<usize> = binding
            .snapshot
            .users
            .iter()
            .enumerate()
            .filter(|(_, u)| match &binding.snapshot.scope {
                Scope::Full => true,
                Scope::Users(ids) => ids.contains(&u.id),
            })
            .map(|(ui, _)| ui)
            .collect();
        let plan_part = |part: &[usize]| {
            let mut planner = Planner::new(&known, &removed);
            for &ui in part {
                let user = &binding.snapshot.users[ui];
                match &desired[bi][ui] {
                    Some(d) => {
                        let rivals: Vec<String> = claims[&fold(&d.name)]
                            .iter()
                            .filter(|&&(b, u)| (b, u) != (bi, ui))
                            .map(|&(b, u)| describe_claim(bindings, b, u))
                            .collect();
                        if !rivals.is_empty() {
                            let reason = format!(
                                "username {} is also claimed by {}; left alone until only one source claims it",
                                d.name,
                                rivals.join(", ")
                            );
                            planner.skip(source, &d.name, reason, true);
                            continue;
                        }
                        planner.reconcile(binding, &caches[bi], d);
                    }
                    None => planner.deprovision_link(binding, &user.id, &out_of_scope_reason(binding, user)),
                }
            }
            planner
        };
        for part in in_parts(&in_scope, plan_part) {
            whole.absorb(part);
        }
        let mut rest = Planner::new(&known, &removed);
        for source_id in &removed {
            if !whole.taken_over.contains(source_id) {
                rest.deprovision_link(binding, source_id, &format!("removed from {source}"));
            }
        }
        whole.absorb(rest);
    }
    whole.finish()
}

/// Runs `work` over parts of `items` on every core (in order), or at once when they are few.
pub(super) fn in_parts<'p, T: Sync, R: Send>(items: &'p [T], work: impl Fn(&'p [T]) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || items.len() < 5_000 {
        return vec![work(items)];
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = items.chunks(chunk).map(|part| scope.spawn(move || work(part))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

fn describe_claim(bindings: &[Binding], b: usize, u: usize) -> String {
    let snap = bindings[b].snapshot;
    format!("{} user {}", snap.source, snap.users[u].id)
}

fn out_of_scope_reason(binding: &Binding, user: &SourceUser) -> String {
    let source = &binding.snapshot.source;
    if extract(&user.record, &binding.rules.username).is_none() {
        format!("{source} user {} has no {}", user.id, binding.rules.rules.users.username_attribute)
    } else {
        format!(
            "out of scope: no longer matches users.filter '{}' of {source}",
            binding.rules.rules.users.filter.as_deref().unwrap_or_default()
        )
    }
}

/// What every part of a plan reads: the target, its state, and indexes of what idsync owns.
/// Shared by the threads that plan parts of a large source.
struct Known<'a> {
    target: &'a Target<'a>,
    state: &'a TargetState,
    link_by_id: HashMap<(&'a str, &'a str), &'a UserLink>,
    link_by_name: HashMap<Cow<'a, str>, &'a UserLink>,
    grants_by_user: HashMap<Cow<'a, str>, Vec<&'a Grant>>,
}

impl<'a> Known<'a> {
    fn new(target: &'a Target<'a>, state: &'a TargetState, owned: &'a Ownership) -> Self {
        Known {
            target,
            state,
            link_by_id: owned.users.iter().map(|l| ((l.source.as_str(), l.source_id.as_str()), l)).collect(),
            link_by_name: owned.users.iter().map(|l| (fold_cow(&l.name), l)).collect(),
            grants_by_user: owned.grants.iter().fold(HashMap::new(), |mut m, g| {
                m.entry(fold_cow(&g.user)).or_insert_with(Vec::new).push(g);
                m
            }),
        }
    }
}

/// Plans one part of a plan; parts are merged in order.
struct Planner<'a> {
    known: &'a Known<'a>,
    target: &'a Target<'a>,
    state: &'a TargetState,
    /// Source ids of the current binding whose users are gone from the source.
    removed: &'a BTreeSet<String>,
    /// Removed source ids whose target user a new source user of the same name took over.
    taken_over: BTreeSet<String>,
    /// The source user being planned.
    current: Option<String>,
    created_groups: BTreeMap<String, String>,
    group_ops: Vec<PlannedOp>,
    user_ops: Vec<PlannedOp>,
    links: Vec<LinkChange>,
    skipped: Vec<Skipped>,
}

impl<'a> Planner<'a> {
    fn new(known: &'a Known<'a>, removed: &'a BTreeSet<String>) -> Self {
        Planner {
            known,
            target: known.target,
            state: known.state,
            removed,
            taken_over: BTreeSet::new(),
            current: None,
            created_groups: BTreeMap::new(),
            group_ops: Vec::new(),
            user_ops: Vec::new(),
            links: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Appends a later part, keeping one creation per group.
    fn absorb(&mut self, part: Planner) {
        for op in part.group_ops {
            if let Operation::CreateGroup { group } = &op.op
                && self.created_groups.insert(fold(group), group.clone()).is_some()
            {
                continue;
            }
            self.group_ops.push(op);
        }
        self.user_ops.extend(part.user_ops);
        self.links.extend(part.links);
        self.skipped.extend(part.skipped);
        self.taken_over.extend(part.taken_over);
    }

    fn finish(self) -> Plan {
        let mut ops = self.group_ops;
        ops.extend(self.user_ops);
        Plan { ops, links: self.links, skipped: self.skipped }
    }

    fn skip(&mut self, source: &str, user: &str, reason: String, conflict: bool) {
        self.skipped.push(Skipped { source: source.into(), user: user.into(), reason, conflict });
    }

    fn push(&mut self, source: &str, op: Operation, reason: String, effect: Effect) {
        let source_id = self.current.clone();
        self.user_ops.push(PlannedOp { source: source.into(), source_id, op, reason, effect, deprovision: false });
    }

    fn reconcile(&mut self, binding: &Binding, cache: &GroupTargets, d: &Desired) {
        self.current = Some(d.user.id.clone());
        let source = binding.snapshot.source.as_str();
        let rules = binding.rules;
        let target_name = self.target.name;
        let link = self.known.link_by_id.get(&(source, d.user.id.as_str())).copied();
        let mut created = false;
        let state = self.state;
        // Borrowed from the known state unless created or renamed here: most users need no copy.
        let current: Cow<TargetUser> = match link {
            Some(link) => {
                let found = state.user(&link.name);
                // Renamed outside idsync, or renamed just before a crash kept the link from
                // following: the user is found under the name the source wants.
                let moved = match &found {
                    None if !self.known.link_by_name.contains_key(fold_cow(&d.name).as_ref()) => state.user(&d.name),
                    _ => None,
                };
                match (found, moved) {
                    (Some(existing), _) if !same_name(&link.name, &d.name) => {
                        let mut renamed = existing.clone();
                        if !self.rename(binding, d, link, &mut renamed) {
                            return;
                        }
                        Cow::Owned(renamed)
                    }
                    (Some(existing), _) => Cow::Borrowed(existing),
                    (None, Some(existing)) => {
                        self.adopt(
                            source,
                            d,
                            existing,
                            format!("{} was renamed to {} in {target_name}", link.name, existing.name),
                        );
                        Cow::Borrowed(existing)
                    }
                    (None, None) if rules.rules.users.import && d.active => {
                        created = true;
                        Cow::Owned(self.create(
                            source,
                            d,
                            format!("{} is managed for {source} but missing from {target_name}", link.name),
                        ))
                    }
                    (None, None) => {
                        self.links.push(LinkChange::Forget {
                            link: link.clone(),
                            reason: format!("{} no longer exists in {target_name}", link.name),
                        });
                        return;
                    }
                }
            }
            None => match state.user(&d.name) {
                Some(existing) => {
                    let owner = self.known.link_by_name.get(fold_cow(&d.name).as_ref()).copied();
                    if let Some(owner) = owner
                        && owner.source == source
                        && self.removed.contains(&owner.source_id)
                    {
                        // The IdP deleted the user and created another with the same name (a
                        // leaver who rejoins): the new one takes the account over.
                        self.taken_over.insert(owner.source_id.clone());
                        let reason = format!(
                            "{source} user {} replaces removed {source} user {} as the owner of {}",
                            d.source_name, owner.source_id, existing.name
                        );
                        self.adopt(source, d, existing, reason);
                    } else if let Some(owner) = owner {
                        let reason = format!(
                            "{target_name} user {} is managed for {} user {}; left alone",
                            existing.name, owner.source, owner.source_id
                        );
                        self.skip(source, &d.name, reason, true);
                        return;
                    } else if !rules.rules.users.adopt_existing {
                        let reason = format!(
                            "{target_name} already has a user {} that idsync does not manage; set users.adopt_existing = true to manage it",
                            existing.name
                        );
                        self.skip(source, &d.name, reason, true);
                        return;
                    } else {
                        let reason = format!(
                            "existing {target_name} user {} matches {source} user {}",
                            existing.name, d.source_name
                        );
                        self.adopt(source, d, existing, reason);
                    }
                    Cow::Borrowed(existing)
                }
                None if !rules.rules.users.import => {
                    self.skip(source, &d.name, "not in the target and users.import is off".into(), false);
                    return;
                }
                None if !d.active => {
                    self.skip(source, &d.name, format!("inactive in {source}: not created"), false);
                    return;
                }
                None => {
                    created = true;
                    Cow::Owned(self.create(source, d, format!("new {source} user {}", d.source_name)))
                }
            },
        };
        let name = current.name.clone();
        if !created {
            self.update_fields(binding, d, &current);
        }
        let access_revoked_by_groups = !self.target.caps.deactivate;
        if rules.rules.users.sync_active && !d.active {
            let policy = rules.rules.users.on_inactive;
            // A deleted user, or one whose access goes with its groups, has nothing left to plan;
            // a deactivated one keeps its groups in step.
            let nothing_left = match policy {
                Deprovision::Leave => false,
                Deprovision::Delete => true,
                Deprovision::Disable => access_revoked_by_groups,
            };
            if nothing_left || (policy == Deprovision::Disable && current.active) {
                self.deprovision(binding, &d.user.id, &current, policy, &format!("inactive in {source}"));
            }
            if nothing_left {
                return;
            }
        } else if rules.rules.users.sync_active && !current.active && self.target.caps.deactivate {
            self.push(
                source,
                Operation::SetActive { name: name.clone(), active: true },
                format!("active in {source}"),
                Effect::None,
            );
        }
        if self.target.caps.properties && (created || rules.updates(UserField::CustomAttributes)) {
            for (key, value) in &d.properties {
                if current.properties.get(key) != Some(value) {
                    self.push(
                        source,
                        Operation::SetProperty { name: name.clone(), key: key.clone(), value: value.clone() },
                        format!("{key} is '{value}' in {source}"),
                        Effect::None,
                    );
                }
            }
        }
        // Grants are recorded under the name the user had before a rename in this plan.
        let granted_as = link.map_or(current.name.as_str(), |l| l.name.as_str()).to_string();
        self.memberships(binding, cache, d, &current, &granted_as, created);
    }

    /// Links an existing target user to the source user `d`.
    fn adopt(&mut self, source: &str, d: &Desired, existing: &TargetUser, reason: String) {
        let link = UserLink { source: source.into(), source_id: d.user.id.clone(), name: existing.name.clone() };
        self.links.push(LinkChange::Adopt { link, reason });
    }

    fn create(&mut self, source: &str, d: &Desired, reason: String) -> TargetUser {
        let user = NewUser { name: d.name.clone(), email: d.email.clone(), display_name: d.display_name.clone() };
        self.push(source, Operation::CreateUser { user }, reason, Effect::Link { source_id: d.user.id.clone() });
        TargetUser {
            name: d.name.clone(),
            key: None,
            email: d.email.clone(),
            display_name: d.display_name.clone(),
            active: true,
            groups: BTreeSet::new(),
            properties: BTreeMap::new(),
        }
    }

    /// Renames `existing` to the desired name when the rules and the target allow it; false when
    /// the user is left alone instead.
    fn rename(&mut self, binding: &Binding, d: &Desired, link: &UserLink, existing: &mut TargetUser) -> bool {
        let source = binding.snapshot.source.as_str();
        let target_name = self.target.name;
        if !binding.rules.updates(UserField::Username) {
            // Keep managing the user under the name it has.
            return true;
        }
        if !self.target.caps.rename {
            let reason = format!(
                "username changed in {source} to {}, but {target_name} cannot rename users; rename {} by hand or leave username out of users.update_fields",
                d.name, link.name
            );
            self.skip(source, &link.name, reason, false);
            return true;
        }
        if let Some(taken) = self.state.user(&d.name) {
            let reason =
                format!("cannot rename {} to {}: {target_name} already has a user {}", link.name, d.name, taken.name);
            self.skip(source, &link.name, reason, true);
            return false;
        }
        self.push(
            source,
            Operation::RenameUser { name: existing.name.clone(), new_name: d.name.clone() },
            format!("username changed in {source} from {} to {}", link.name, d.name),
            Effect::Rename { source_id: d.user.id.clone() },
        );
        existing.name = d.name.clone();
        true
    }

    fn update_fields(&mut self, binding: &Binding, d: &Desired, current: &TargetUser) {
        let rules = binding.rules;
        let source = binding.snapshot.source.as_str();
        let differs = |want: &Option<String>, have: &Option<String>| want.is_some() && want != have;
        let email =
            (rules.updates(UserField::Email) && differs(&d.email, &current.email)).then(|| d.email.clone()).flatten();
        let display_name = (rules.updates(UserField::DisplayName) && differs(&d.display_name, &current.display_name))
            .then(|| d.display_name.clone())
            .flatten();
        if email.is_none() && display_name.is_none() {
            return;
        }
        let mut changed = Vec::new();
        if let Some(e) = &email {
            changed.push(format!("email {} → {e}", current.email.as_deref().unwrap_or("(none)")));
        }
        if let Some(n) = &display_name {
            changed.push(format!("display name {} → {n}", current.display_name.as_deref().unwrap_or("(none)")));
        }
        self.push(
            source,
            Operation::UpdateUser { name: current.name.clone(), email, display_name },
            format!("changed in {source}: {}", changed.join(", ")),
            Effect::None,
        );
    }

    fn explain(&self, source: &str, d: &Desired, current: &TargetUser, group: &str, why: Why) -> String {
        match why {
            Why::DefaultForAll => format!("{group} is a default group for all users"),
            Why::DefaultForNew => format!("{group} is a default group for new users"),
            Why::KeptDefault => format!("{group} was given as a default group when {} was created", current.name),
            Why::Mapped { group: from, via: None, manual: true } => {
                format!("{} is in {source} group {from} (mapped to {group})", d.source_name)
            }
            Why::Mapped { group: from, via: None, manual: false } => {
                format!("{} is in {source} group {from}", d.source_name)
            }
            Why::Mapped { group: from, via: Some(inner), .. } => {
                format!("{} is in {source} group {from} through nested group {inner}", d.source_name)
            }
        }
    }

    fn memberships(
        &mut self,
        binding: &Binding,
        cache: &GroupTargets,
        d: &Desired,
        current: &TargetUser,
        granted_as: &str,
        created: bool,
    ) {
        let source = binding.snapshot.source.as_str();
        let rules = &binding.rules.rules.groups;
        let user_grants: Vec<&'a Grant> =
            self.known.grants_by_user.get(fold_cow(granted_as).as_ref()).cloned().unwrap_or_default();
        let mut wanted: BTreeMap<&str, (&str, Why, GrantOrigin)> =
            d.groups.iter().map(|(k, (n, why))| (*k, (*n, *why, GrantOrigin::Rule))).collect();
        if created {
            for (key, spelled) in &cache.default_for_new {
                wanted.entry(key).or_insert((spelled, Why::DefaultForNew, GrantOrigin::DefaultForNew));
            }
        }
        let kept: Vec<(Cow<str>, &str)> = user_grants
            .iter()
            .filter(|g| g.origin == GrantOrigin::DefaultForNew && g.source == source)
            .map(|g| (fold_cow(&g.group), g.group.as_str()))
            .collect();
        for (key, spelled) in &kept {
            wanted.entry(key.as_ref()).or_insert((spelled, Why::KeptDefault, GrantOrigin::DefaultForNew));
        }
        let has = |key: &str| current.groups.iter().any(|g| same_name(g, key));
        for (key, (name, why, origin)) in &wanted {
            if has(key) {
                continue;
            }
            let reason = self.explain(source, d, current, name, *why);
            let Some(group) = self.ensure_group(source, name, rules.create_missing) else {
                let reason = format!(
                    "{} should join {name} ({reason}), but {} has no such group and groups.create_missing is off",
                    current.name, self.target.name
                );
                self.skip(source, &current.name, reason, false);
                continue;
            };
            self.push(
                source,
                Operation::AddMember { group, user: current.name.clone() },
                reason,
                Effect::Grant { origin: *origin },
            );
        }
        for name in &current.groups {
            if wanted.contains_key(fold_cow(name).as_ref()) {
                continue;
            }
            let granted = user_grants.iter().any(|g| same_name(&g.group, name) && g.source == source);
            let reason = if granted {
                format!("{} is no longer in a {source} group that maps to {name}", d.source_name)
            } else if !rules.keep_existing {
                format!("{name} is not given by the rules of {source} and groups.keep_existing is off")
            } else {
                continue;
            };
            self.push(
                source,
                Operation::RemoveMember { group: name.clone(), user: current.name.clone() },
                reason,
                Effect::Revoke,
            );
        }
    }

    /// The target's spelling of a group, planning its creation when it is missing and allowed.
    fn ensure_group(&mut self, source: &str, name: &str, create: bool) -> Option<String> {
        let key = fold(name);
        if let Some(existing) = self.state.groups.get(&key).or_else(|| self.created_groups.get(&key)) {
            return Some(existing.clone());
        }
        if !create {
            return None;
        }
        self.created_groups.insert(key, name.to_string());
        self.group_ops.push(PlannedOp {
            source: source.into(),
            source_id: None,
            op: Operation::CreateGroup { group: name.to_string() },
            reason: format!("{name} is needed by the rules of {source} and missing from {}", self.target.name),
            effect: Effect::None,
            deprovision: false,
        });
        Some(name.to_string())
    }

    /// Applies the removal policy to the target user linked to a source user that is gone or out
    /// of scope.
    fn deprovision_link(&mut self, binding: &Binding, source_id: &str, why: &str) {
        self.current = Some(source_id.to_string());
        let source = binding.snapshot.source.as_str();
        let Some(link) = self.known.link_by_id.get(&(source, source_id)).copied() else { return };
        let Some(current) = self.state.user(&link.name) else {
            self.links.push(LinkChange::Forget {
                link: link.clone(),
                reason: format!("{} no longer exists in {}", link.name, self.target.name),
            });
            return;
        };
        let policy = binding.rules.rules.users.on_removed;
        if policy == Deprovision::Leave {
            return;
        }
        if !binding.snapshot.complete {
            let reason = format!("{why}, but the last read of {source} was incomplete: nothing is deprovisioned");
            self.skip(source, &link.name, reason, false);
            return;
        }
        let current = current.clone();
        self.deprovision(binding, source_id, &current, policy, why);
    }

    fn deprovision(
        &mut self,
        binding: &Binding,
        source_id: &str,
        current: &TargetUser,
        policy: Deprovision,
        why: &str,
    ) {
        let source = binding.snapshot.source.as_str();
        let user_key = fold(&current.name);
        let action = match policy {
            Deprovision::Leave => return,
            Deprovision::Disable if !self.target.caps.deactivate => {
                for g in &current.groups {
                    self.push(
                        source,
                        Operation::RemoveMember { group: g.clone(), user: current.name.clone() },
                        format!("{why}; {} cannot deactivate users, so access is revoked by removing every group membership", self.target.name),
                        Effect::Revoke,
                    );
                    self.mark_deprovision();
                }
                return;
            }
            Deprovision::Disable if !current.active => return,
            Deprovision::Disable => Operation::SetActive { name: current.name.clone(), active: false },
            Deprovision::Delete => Operation::DeleteUser { name: current.name.clone() },
        };
        if self.target.caps.leads {
            let led: Vec<_> =
                self.state.leads.iter().filter(|l| l.lead.as_deref().map(fold).as_deref() == Some(&user_key)).collect();
            let mut handoffs = Vec::new();
            for lead in led {
                let (fallback, field) = match lead.kind {
                    LeadKind::Project => {
                        (&binding.rules.rules.users.default_project_lead, "users.default_project_lead")
                    }
                    LeadKind::Component => {
                        (&binding.rules.rules.users.default_component_lead, "users.default_component_lead")
                    }
                };
                let kind = match lead.kind {
                    LeadKind::Project => "project",
                    LeadKind::Component => "component",
                };
                match fallback {
                    Some(to) if fold(to) != user_key => handoffs.push(PlannedOp {
                        source: source.into(),
                        source_id: Some(source_id.to_string()),
                        op: Operation::SetLead { kind: lead.kind, id: lead.id.clone(), lead: to.clone() },
                        reason: format!(
                            "{} leads {kind} {} and is about to be {}; {to} takes over",
                            current.name,
                            lead.name,
                            past(policy)
                        ),
                        effect: Effect::None,
                        deprovision: true,
                    }),
                    _ => {
                        let reason = format!(
                            "{why}, but {} leads {kind} {} and no {field} is set to take over: not {}",
                            current.name,
                            lead.name,
                            past(policy)
                        );
                        self.skip(source, &current.name, reason, false);
                        return;
                    }
                }
            }
            self.user_ops.extend(handoffs);
        }
        let effect = match policy {
            Deprovision::Delete => Effect::Unlink { source_id: source_id.to_string() },
            _ => Effect::None,
        };
        self.push(source, action, why.to_string(), effect);
        self.mark_deprovision();
    }

    fn mark_deprovision(&mut self) {
        if let Some(last) = self.user_ops.last_mut() {
            last.deprovision = true;
        }
    }
}

fn past(policy: Deprovision) -> &'static str {
    match policy {
        Deprovision::Delete => "deleted",
        _ => "deactivated",
    }
}
