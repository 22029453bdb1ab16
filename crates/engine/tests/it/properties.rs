//! Properties of the planner over random sources, rules and targets: a plan, once applied, leaves
//! nothing to do; unmanaged users and memberships never appear in a plan.

use engine::{CompiledRules, Deprovision, Rules, Scope};
use model::target::Operation;
use proptest::prelude::*;
use serde_json::json;

use crate::fixtures::*;

const NAMES: &[&str] = &["ann", "Ann", "bob", "carl", "dora", "eve", "fay", "gus"];
const GROUPS: usize = 5;

#[derive(Debug, Clone)]
struct RandomUser {
    name: usize,
    active: bool,
    groups: Vec<usize>,
}

fn random_user() -> impl Strategy<Value = RandomUser> {
    (0..NAMES.len(), prop::bool::weighted(0.8), prop::collection::vec(0..GROUPS, 0..3))
        .prop_map(|(name, active, groups)| RandomUser { name, active, groups })
}

fn deprovision() -> impl Strategy<Value = Deprovision> {
    prop_oneof![Just(Deprovision::Disable), Just(Deprovision::Delete), Just(Deprovision::Leave)]
}

fn random_rules() -> impl Strategy<Value = Rules> {
    (
        (any::<bool>(), any::<bool>(), any::<bool>(), deprovision(), deprovision()),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (import, update, sync_active, on_inactive, on_removed),
                (keep, flatten, create, fly, defaults, mapped),
            )| {
                let mut r = Rules::default();
                r.users.import = import;
                r.users.update = update;
                r.users.sync_active = sync_active;
                r.users.on_inactive = on_inactive;
                r.users.on_removed = on_removed;
                r.groups.keep_existing = keep;
                r.groups.flatten_nested = flatten;
                r.groups.create_missing = create;
                r.groups.on_the_fly = fly;
                if defaults {
                    r.groups.default_for_new = vec!["new-users".into()];
                    r.groups.default_for_all = vec!["all-users".into()];
                }
                if mapped {
                    r.groups.mapping.insert("g0".into(), vec!["t-a".into(), "t-b".into()]);
                }
                r
            },
        )
}

fn parents() -> impl Strategy<Value = Vec<Vec<usize>>> {
    prop::collection::vec(prop::collection::vec(0..GROUPS, 0..2), GROUPS)
}

fn source(users: &[RandomUser], parents: &[Vec<usize>], name_variant: bool) -> engine::SourceSnapshot {
    let users = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let name = if name_variant { format!("{}.x", NAMES[u.name]) } else { NAMES[u.name].to_string() };
            let groups: Vec<String> = u.groups.iter().map(|g| format!("g{g}")).collect();
            let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
            with(user(&format!("id{i}"), &name, &refs), "active", json!(u.active))
        })
        .collect();
    let groups = (0..GROUPS)
        .map(|g| {
            let ps: Vec<String> = parents[g].iter().map(|p| format!("g{p}")).collect();
            let refs: Vec<&str> = ps.iter().map(String::as_str).collect();
            group(&format!("g{g}"), &format!("g{g}"), &refs)
        })
        .collect();
    snapshot("entra", users, groups)
}

fn check_unmanaged_untouched(plan: &engine::Plan, keep_existing: bool) {
    for p in &plan.ops {
        if let Some(u) = p.op.user() {
            assert!(!u.starts_with("local"), "unmanaged user {u} in plan: {p:?}");
        }
        if keep_existing && let Operation::RemoveMember { group, .. } = &p.op {
            assert!(!group.starts_with("loc-"), "unmanaged membership removed: {p:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn applying_a_plan_leaves_nothing_to_do(
        rules in random_rules(),
        before in prop::collection::vec(random_user(), 0..8),
        after in prop::collection::vec(random_user(), 0..8),
        nesting in parents(),
        existing in prop::collection::vec((0..NAMES.len(), any::<bool>()), 0..4),
        removed in prop::collection::vec(any::<bool>(), 8),
        partial in any::<bool>(),
    ) {
        let compiled = CompiledRules::compile(&rules).unwrap();
        let mut w = World::new(compiled, source(&before, &nesting, false));
        // Unmanaged target users and memberships, some sharing a name with a source user.
        w.state.insert_user(target_user("local-admin", &["loc-admins"]));
        w.state.insert_group("loc-admins");
        for (n, active) in &existing {
            let mut u = target_user(NAMES[*n], &["loc-admins"]);
            u.active = *active;
            w.state.insert_user(u);
        }
        let first = w.converge();
        check_unmanaged_untouched(&first, rules.groups.keep_existing);

        // The source changes: users come and go, change state and groups. Renames are left to
        // `renames_converge`: a name freed by a rename goes to its new claimant one run later.
        let mut after = after;
        for (i, u) in after.iter_mut().enumerate() {
            if let Some(b) = before.get(i) {
                u.name = b.name;
            }
        }
        let mut next = source(&after, &nesting, false);
        next.users.retain(|u| !removed[u.id[2..].parse::<usize>().unwrap() % 8]);
        if partial {
            next.scope = Scope::Users((0..8).map(|i| format!("id{i}")).filter(|id| id.ends_with(['0', '2', '4', '6'])).collect());
        }
        w.snapshots[0] = next;
        let second = w.converge();
        check_unmanaged_untouched(&second, rules.groups.keep_existing);
        prop_assert!(w.state.user("local-admin").unwrap().groups.contains("loc-admins"));
    }

    #[test]
    fn renames_converge(users in prop::collection::vec(random_user(), 1..6), nesting in parents()) {
        let mut w = World::new(CompiledRules::compile(&Rules::default()).unwrap(), source(&users, &nesting, false));
        w.converge();
        w.snapshots[0] = source(&users, &nesting, true);
        w.converge();
    }
}
