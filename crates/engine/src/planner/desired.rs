//! What each source user should be in the target: the desired name, attributes, state and
//! target groups under a binding's rules. The most expensive part of a large plan, so it is
//! computed on every core and explained in words only where an operation needs it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use model::eval::matches;
use model::target::fold;

use super::{Binding, in_parts};
use crate::attributes::{extract, fallback_display_name};
use crate::rules::{CompiledRules, MappedBy};
use crate::state::SourceUser;

/// Why a user belongs in a target group. Put into words only for the memberships an operation
/// or a skip mentions: a full plan weighs hundreds of thousands and writes few.
#[derive(Clone, Copy)]
pub(super) enum Why<'a> {
    DefaultForAll,
    DefaultForNew,
    KeptDefault,
    Mapped { group: &'a str, via: Option<&'a str>, manual: bool },
}

/// Target group names, folded and as spelled.
type GroupNames = Vec<(String, String)>;

/// A binding's source groups resolved to target groups once per plan, not once per member.
pub(super) struct GroupTargets<'a> {
    /// Source group id → its targets and whether a manual mapping chose them.
    mapped: HashMap<&'a str, (GroupNames, bool)>,
    default_for_all: GroupNames,
    pub(super) default_for_new: GroupNames,
}

impl<'a> GroupTargets<'a> {
    pub(super) fn new(binding: &Binding<'a>) -> Self {
        let folded = |names: &[String]| names.iter().map(|n| (fold(n), n.clone())).collect::<Vec<_>>();
        let mapped = binding
            .snapshot
            .groups
            .iter()
            .filter_map(|(id, g)| {
                let (targets, how) = binding.rules.map_group(&g.name)?;
                Some((id.as_str(), (folded(&targets), how == MappedBy::Manual)))
            })
            .collect();
        let groups = &binding.rules.rules.groups;
        GroupTargets {
            mapped,
            default_for_all: folded(&groups.default_for_all),
            default_for_new: folded(&groups.default_for_new),
        }
    }
}

/// What a source user should be in the target.
pub(super) struct Desired<'a> {
    pub(super) user: &'a SourceUser,
    pub(super) source_name: String,
    pub(super) name: String,
    pub(super) email: Option<String>,
    pub(super) display_name: Option<String>,
    pub(super) active: bool,
    pub(super) properties: BTreeMap<String, String>,
    /// Folded target group → (spelling, why).
    pub(super) groups: BTreeMap<&'a str, (&'a str, Why<'a>)>,
}

fn source_active(user: &SourceUser) -> bool {
    match model::eval::get_ci(&user.record, "active") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => !s.eq_ignore_ascii_case("false"),
        _ => true,
    }
}

/// The target username a source record maps to under these rules, or None when it is out of
/// scope. The sync worker looks these names up in the target before planning.
pub fn desired_name(rules: &CompiledRules, record: &serde_json::Value) -> Option<String> {
    if let Some(filter) = &rules.user_filter
        && !matches(filter, record)
    {
        return None;
    }
    let name = rules.transform_username(&extract(record, &rules.username)?);
    (!name.trim().is_empty()).then_some(name)
}

/// The desired users of a binding, computed on every core: it is most of a full plan's work.
pub(super) fn desire_all<'a>(binding: &Binding<'a>, cache: &'a GroupTargets<'a>) -> Vec<Option<Desired<'a>>> {
    in_parts(&binding.snapshot.users, |part: &'a [SourceUser]| {
        part.iter().map(|u| desire(binding, cache, u)).collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The desired target user for a source user, or None when the user is out of this binding's scope.
fn desire<'a>(binding: &Binding<'a>, cache: &'a GroupTargets<'a>, user: &'a SourceUser) -> Option<Desired<'a>> {
    let rules = binding.rules;
    let name = desired_name(rules, &user.record)?;
    let raw_name = extract(&user.record, &rules.username)?;
    let properties = rules.custom.iter().filter_map(|(k, p)| Some((k.clone(), extract(&user.record, p)?))).collect();
    let mut groups: BTreeMap<&'a str, (&'a str, Why<'a>)> = BTreeMap::new();
    for (key, spelled) in &cache.default_for_all {
        groups.entry(key).or_insert((spelled, Why::DefaultForAll));
    }
    for (group_id, via) in ancestry(binding, user) {
        let Some((targets, manual)) = cache.mapped.get(group_id) else { continue };
        let Some(group) = binding.snapshot.groups.get(group_id) else { continue };
        for (key, spelled) in targets {
            groups.entry(key).or_insert((spelled, Why::Mapped { group: &group.name, via, manual: *manual }));
        }
    }
    Some(Desired {
        user,
        source_name: raw_name,
        email: extract(&user.record, &rules.email),
        display_name: extract(&user.record, &rules.display_name).or_else(|| fallback_display_name(&user.record)),
        active: source_active(user),
        name,
        properties,
        groups,
    })
}

/// The ids of the groups a user is in, directly or (with flattening) through nesting, each with
/// the name of the direct group it was reached through. Cycles end the walk.
fn ancestry<'a>(binding: &Binding<'a>, user: &'a SourceUser) -> Vec<(&'a str, Option<&'a str>)> {
    let groups = &binding.snapshot.groups;
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    let mut stack: Vec<(&str, Option<&str>)> = user.groups.iter().map(|g| (g.as_str(), None)).collect();
    stack.reverse();
    while let Some((id, via)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        out.push((id, via));
        if !binding.rules.rules.groups.flatten_nested {
            continue;
        }
        if let Some(g) = groups.get(id) {
            let through = via.or(Some(g.name.as_str()));
            for p in g.parents.iter().rev() {
                stack.push((p.as_str(), through));
            }
        }
    }
    out
}
