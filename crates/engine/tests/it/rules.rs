//! One test (at least) per rule of the product: each fails if the rule is broken.

use engine::{Capabilities, CompiledRules, Rules, Scope, UserLink};
use model::target::{Lead, LeadKind, Operation};
use serde_json::json;

use crate::fixtures::*;

#[test]
fn import_creates_users_with_mapped_attributes() {
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    let plan = w.converge();
    assert_eq!(plan.ops.len(), 1);
    assert_eq!(plan.ops[0].reason, "new entra user ann");
    let ann = w.target("ann").unwrap();
    assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
    assert_eq!(ann.display_name.as_deref(), Some("ann display"));
    assert_eq!(w.owned.users, vec![UserLink { source: "entra".into(), source_id: "1".into(), name: "ann".into() }]);
}

#[test]
fn import_off_creates_nobody_but_adopts_existing_users() {
    let mut w = World::new(
        rules("[users]\nimport = false"),
        snapshot("entra", vec![user("1", "ann", &[]), user("2", "bob", &["g"])], vec![group("g", "devs", &[])]),
    );
    w.state.insert_user(target_user("bob", &[]));
    w.state.insert_group("devs");
    let plan = w.converge();
    assert!(w.target("ann").is_none());
    assert!(plan.skipped.iter().any(|s| s.user == "ann" && s.reason.contains("users.import is off")));
    assert_eq!(groups_of(&w, "bob"), ["devs"]);
}

#[test]
fn update_follows_update_fields() {
    let snap = snapshot("entra", vec![with(user("1", "ann", &[]), "displayName", json!("Ann Lee"))], vec![]);
    let mut w = World::new(rules(""), snap.clone());
    w.state.insert_user(target_user("ann", &[]));
    let plan = w.converge();
    assert_eq!(
        ops(&plan),
        [Operation::UpdateUser { name: "ann".into(), email: None, display_name: Some("Ann Lee".into()) }]
    );
    assert_eq!(plan.ops[0].reason, "changed in entra: display name ann display → Ann Lee");

    let mut w = World::new(rules("[users]\nupdate_fields = [\"email\"]"), snap.clone());
    w.state.insert_user(target_user("ann", &[]));
    assert!(w.converge().ops.is_empty());

    let mut w = World::new(rules("[users]\nupdate = false"), snap);
    w.state.insert_user(target_user("ann", &[]));
    assert!(w.converge().ops.is_empty());
}

#[test]
fn inactive_users_are_disabled_then_enabled_again() {
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.converge();
    w.snapshots[0].users[0] = with(user("1", "ann", &[]), "active", json!(false));
    let plan = w.converge();
    assert_eq!(ops(&plan), [Operation::SetActive { name: "ann".into(), active: false }]);
    assert_eq!(plan.ops[0].reason, "inactive in entra");
    w.snapshots[0].users[0] = user("1", "ann", &[]);
    assert_eq!(ops(&w.converge()), [Operation::SetActive { name: "ann".into(), active: true }]);
}

#[test]
fn sync_active_off_ignores_the_flag_and_string_booleans_count() {
    let mut w =
        World::new(rules("[users]\nsync_active = false"), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.converge();
    w.snapshots[0].users[0] = with(user("1", "ann", &[]), "active", json!("False"));
    assert!(w.converge().ops.is_empty());
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.converge();
    w.snapshots[0].users[0] = with(user("1", "ann", &[]), "active", json!("False"));
    assert_eq!(ops(&w.converge()), [Operation::SetActive { name: "ann".into(), active: false }]);
}

#[test]
fn on_inactive_delete_and_leave() {
    let mut w =
        World::new(rules("[users]\non_inactive = \"delete\""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.converge();
    w.snapshots[0].users[0] = with(user("1", "ann", &[]), "active", json!(false));
    assert_eq!(ops(&w.converge()), [Operation::DeleteUser { name: "ann".into() }]);
    assert!(w.owned.users.is_empty(), "a deleted user is no longer linked");

    let mut w =
        World::new(rules("[users]\non_inactive = \"leave\""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.converge();
    w.snapshots[0].users[0] = with(user("1", "ann", &[]), "active", json!(false));
    assert!(w.converge().ops.is_empty());
    assert!(w.target("ann").unwrap().active);
}

#[test]
fn inactive_users_are_not_created() {
    let mut w =
        World::new(rules(""), snapshot("entra", vec![with(user("1", "ann", &[]), "active", json!(false))], vec![]));
    let plan = w.converge();
    assert!(plan.ops.is_empty());
    assert!(plan.skipped[0].reason.contains("inactive in entra: not created"));
}

#[test]
fn removed_users_follow_on_removed() {
    for (policy, expect) in [
        ("disable", Some(Operation::SetActive { name: "ann".into(), active: false })),
        ("delete", Some(Operation::DeleteUser { name: "ann".into() })),
        ("leave", None),
    ] {
        let mut w = World::new(
            rules(&format!("[users]\non_removed = \"{policy}\"")),
            snapshot("entra", vec![user("1", "ann", &[])], vec![]),
        );
        w.converge();
        w.snapshots[0].users.clear();
        let plan = w.converge();
        assert_eq!(ops(&plan).into_iter().next(), expect, "policy {policy}");
        if let Some(p) = plan.ops.first() {
            assert_eq!(p.reason, "removed from entra");
        }
    }
}

#[test]
fn incomplete_reads_never_deprovision() {
    let mut w =
        World::new(rules("[users]\non_removed = \"delete\""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.converge();
    w.snapshots[0].users.clear();
    w.snapshots[0].complete = false;
    let plan = w.plan();
    assert!(plan.ops.is_empty());
    assert!(plan.skipped[0].reason.contains("incomplete: nothing is deprovisioned"));
}

#[test]
fn out_of_scope_users_follow_on_removed() {
    let snap = snapshot(
        "entra",
        vec![
            with(user("1", "ann", &[]), "userType", json!("Employee")),
            with(user("2", "bob", &[]), "userType", json!("Employee")),
        ],
        vec![],
    );
    let mut w = World::new(rules("[users]\nfilter = 'userType eq \"Employee\"'"), snap);
    w.converge();
    w.snapshots[0].users[1] = with(user("2", "bob", &[]), "userType", json!("Contractor"));
    let plan = w.converge();
    assert_eq!(ops(&plan), [Operation::SetActive { name: "bob".into(), active: false }]);
    assert!(plan.ops[0].reason.starts_with("out of scope"), "{}", plan.ops[0].reason);
}

#[test]
fn username_transform_with_capture_groups() {
    let r = rules("[users.username_transform]\npattern = '(.*)@(.*)\\.com'\nreplacement = '$1-$2'");
    let mut w = World::new(r, snapshot("entra", vec![user("1", "demouser@example.com", &[])], vec![]));
    w.converge();
    assert!(w.target("demouser-example").is_some());
    // A name the pattern does not match is used as it is.
    let r = rules("[users.username_transform]\npattern = '(.*)@.*'\nreplacement = '$1'");
    let mut w = World::new(r, snapshot("entra", vec![user("1", "plain", &[])], vec![]));
    w.converge();
    assert!(w.target("plain").is_some());
}

#[test]
fn invalid_regexes_are_refused_with_the_position() {
    let mut r = Rules::default();
    r.users.username_transform = Some(engine::Transform { pattern: "(.*@".into(), replacement: "$1".into() });
    let err = CompiledRules::compile(&r).unwrap_err();
    assert_eq!(err.field, "users.username_transform.pattern");
    assert!(err.message.contains("(.*@") && err.message.contains('^'), "{}", err.message);
    let mut r = Rules::default();
    r.groups.include = vec!["ok".into(), "re:[a-".into()];
    assert_eq!(CompiledRules::compile(&r).unwrap_err().field, "groups.include[1]");
    let mut r = Rules::default();
    r.users.filter = Some("userName eq".into());
    assert_eq!(CompiledRules::compile(&r).unwrap_err().field, "users.filter");
    let mut r = Rules::default();
    r.users.email_attribute = "emails[type eq".into();
    assert_eq!(CompiledRules::compile(&r).unwrap_err().field, "users.email_attribute");
}

#[test]
fn unknown_rule_keys_are_refused() {
    assert!(toml::from_str::<Rules>("[users]\nimprot = true").is_err());
}

#[test]
fn attribute_mapping_chooses_username_email_and_display_name() {
    let r = rules(
        "[users]\nusername_attribute = 'emails[type eq \"work\"].value'\nemail_attribute = 'emails[type eq \"home\"].value'\ndisplay_name_attribute = 'nickName'",
    );
    let u = with(
        with(
            user("1", "ignored", &[]),
            "emails",
            json!([{"value": "h@home", "type": "home"}, {"value": "w@work", "type": "work"}]),
        ),
        "nickName",
        json!("Annie"),
    );
    let mut w = World::new(r, snapshot("entra", vec![u], vec![]));
    w.converge();
    let created = w.target("w@work").unwrap();
    assert_eq!(created.email.as_deref(), Some("h@home"));
    assert_eq!(created.display_name.as_deref(), Some("Annie"));
}

#[test]
fn custom_attributes_become_properties_where_the_target_has_them() {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let r = rules(&format!("[users.custom_attributes]\ndepartment = '{enterprise}:department'"));
    let u = with(user("1", "ann", &[]), enterprise, json!({"department": "R&D"}));
    let mut w = World::new(r.clone(), snapshot("entra", vec![u.clone()], vec![]));
    let plan = w.converge();
    assert!(ops(&plan).contains(&Operation::SetProperty {
        name: "ann".into(),
        key: "department".into(),
        value: "R&D".into()
    }));
    w.snapshots[0].users[0] = with(user("1", "ann", &[]), enterprise, json!({"department": "Ops"}));
    assert_eq!(plan_reasons(&w.converge()), ["department is 'Ops' in entra"]);

    let mut w = World::new(r, snapshot("entra", vec![u], vec![]));
    w.caps.properties = false;
    assert!(!ops(&w.converge()).iter().any(|o| matches!(o, Operation::SetProperty { .. })));
}

fn plan_reasons(plan: &engine::Plan) -> Vec<String> {
    plan.ops.iter().map(|p| p.reason.clone()).collect()
}

fn lead_world(toml_rules: &str) -> World {
    let mut w = World::new(rules(toml_rules), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.converge();
    w.state.leads = vec![
        Lead { kind: LeadKind::Project, id: "OPS".into(), name: "Operations".into(), lead: Some("Ann".into()) },
        Lead { kind: LeadKind::Component, id: "10042".into(), name: "Backend".into(), lead: Some("ann".into()) },
        Lead { kind: LeadKind::Project, id: "WEB".into(), name: "Web".into(), lead: Some("carl".into()) },
    ];
    w.snapshots[0].users.clear();
    w
}

#[test]
fn leads_are_handed_to_the_defaults_before_deactivation() {
    let mut w = lead_world("[users]\ndefault_project_lead = 'admin'\ndefault_component_lead = 'lead'");
    let plan = w.converge();
    assert_eq!(
        ops(&plan),
        [
            Operation::SetLead { kind: LeadKind::Project, id: "OPS".into(), lead: "admin".into() },
            Operation::SetLead { kind: LeadKind::Component, id: "10042".into(), lead: "lead".into() },
            Operation::SetActive { name: "ann".into(), active: false },
        ]
    );
    assert_eq!(plan.ops[0].reason, "ann leads project Operations and is about to be deactivated; admin takes over");
    assert_eq!(w.state.leads[2].lead.as_deref(), Some("carl"));
}

#[test]
fn a_lead_without_a_default_is_not_deactivated() {
    let mut w = lead_world("[users]\ndefault_project_lead = 'admin'");
    let plan = w.plan();
    assert!(plan.ops.is_empty());
    assert!(plan.skipped[0].reason.contains("no users.default_component_lead is set"), "{}", plan.skipped[0].reason);
    let _ = &mut w;
}

#[test]
fn default_groups_for_new_users_are_given_once_and_kept() {
    let r = rules("[groups]\ndefault_for_new = ['jira-software-users']\ndefault_for_all = ['everyone']");
    let mut w = World::new(r, snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.state.insert_user(target_user("bob", &[]));
    w.snapshots[0].users.push(user("2", "bob", &[]));
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["everyone", "jira-software-users"]);
    assert_eq!(groups_of(&w, "bob"), ["everyone"], "an adopted user is not new");
    // Still kept on later runs (converge asserts nothing is removed).
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["everyone", "jira-software-users"]);
}

#[test]
fn manual_mapping_feeds_several_target_groups() {
    let r = rules("[groups.mapping]\nEngineering = ['jira-developers', 'jira-software-users']");
    let snap = snapshot("entra", vec![user("1", "ann", &["g1"])], vec![group("g1", "engineering", &[])]);
    let mut w = World::new(r, snap);
    let plan = w.converge();
    assert_eq!(groups_of(&w, "ann"), ["jira-developers", "jira-software-users"]);
    assert!(plan_reasons(&plan).contains(&"ann is in entra group engineering (mapped to jira-developers)".to_string()));
}

#[test]
fn on_the_fly_mapping_creates_missing_groups_unless_told_not_to() {
    let snap = snapshot("entra", vec![user("1", "ann", &["g1"])], vec![group("g1", "Designers", &[])]);
    let mut w = World::new(rules(""), snap.clone());
    let plan = w.converge();
    assert_eq!(plan.ops[0].op, Operation::CreateGroup { group: "Designers".into() });
    assert_eq!(groups_of(&w, "ann"), ["Designers"]);

    let mut w = World::new(rules("[groups]\ncreate_missing = false"), snap.clone());
    let plan = w.converge();
    assert!(groups_of(&w, "ann").is_empty());
    assert!(plan.skipped[0].reason.contains("groups.create_missing is off"));

    // An existing group is used with the target's spelling.
    let mut w = World::new(rules("[groups]\ncreate_missing = false"), snap.clone());
    w.state.insert_group("designers");
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["designers"]);

    let mut w = World::new(rules("[groups]\non_the_fly = false"), snap);
    w.converge();
    assert!(groups_of(&w, "ann").is_empty());
}

#[test]
fn on_the_fly_names_can_be_transformed_by_regex() {
    let r = rules("[groups.name_transform]\npattern = 'idp-(.*)'\nreplacement = 'jira-$1'");
    let snap = snapshot(
        "entra",
        vec![user("1", "ann", &["g1", "g2"])],
        vec![group("g1", "idp-devs", &[]), group("g2", "Other", &[])],
    );
    let mut w = World::new(r, snap);
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["jira-devs"], "names the pattern does not match are not mapped");
}

#[test]
fn include_and_exclude_filters_select_source_groups() {
    let r = rules("[groups]\ninclude = ['re:team-.*', 'Admins']\nexclude = ['team-secret']");
    let snap = snapshot(
        "entra",
        vec![user("1", "ann", &["a", "b", "c", "d"])],
        vec![
            group("a", "team-web", &[]),
            group("b", "team-secret", &[]),
            group("c", "admins", &[]),
            group("d", "misc", &[]),
        ],
    );
    let mut w = World::new(r, snap);
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["admins", "team-web"]);
}

#[test]
fn import_groups_off_keeps_only_default_groups() {
    let r = rules("[groups]\nimport = false\ndefault_for_all = ['users']");
    let mut w = World::new(r, snapshot("entra", vec![user("1", "ann", &["a"])], vec![group("a", "devs", &[])]));
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["users"]);
}

#[test]
fn keep_existing_protects_memberships_idsync_did_not_grant() {
    let snap = snapshot("entra", vec![user("1", "ann", &["a"])], vec![group("a", "devs", &[])]);
    let mut w = World::new(rules(""), snap.clone());
    w.state.insert_user(target_user("ann", &["local-admins"]));
    w.state.insert_group("local-admins");
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["devs", "local-admins"]);
    // Leaving the source group removes only what idsync granted.
    w.snapshots[0].users[0].groups.clear();
    let plan = w.converge();
    assert_eq!(ops(&plan), [Operation::RemoveMember { group: "devs".into(), user: "ann".into() }]);
    assert_eq!(plan.ops[0].reason, "ann is no longer in a entra group that maps to devs");
    assert_eq!(groups_of(&w, "ann"), ["local-admins"]);

    let mut w = World::new(rules("[groups]\nkeep_existing = false"), snap);
    w.state.insert_user(target_user("ann", &["local-admins"]));
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["devs"]);
}

#[test]
fn nested_groups_are_flattened_and_cycles_end() {
    // ann is in "web", which is in "eng", which is in "all", which is in "eng" again.
    let groups = vec![group("web", "web", &["eng"]), group("eng", "eng", &["all"]), group("all", "all", &["eng"])];
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &["web"])], groups.clone()));
    let plan = w.converge();
    assert_eq!(groups_of(&w, "ann"), ["all", "eng", "web"]);
    assert!(plan_reasons(&plan).contains(&"ann is in entra group eng through nested group web".to_string()));

    let mut w = World::new(
        rules("[groups]\nflatten_nested = false"),
        snapshot("entra", vec![user("1", "ann", &["web"])], groups),
    );
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["web"]);
}

#[test]
fn existing_users_are_adopted_or_reported() {
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "Ann", &[])], vec![]));
    w.state.insert_user(target_user("ann", &[]));
    let plan = w.converge();
    assert!(
        matches!(&plan.links[0], engine::LinkChange::Adopt { reason, .. } if reason == "existing jira user ann matches entra user Ann")
    );

    let mut w =
        World::new(rules("[users]\nadopt_existing = false"), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.state.insert_user(target_user("ann", &[]));
    let plan = w.converge();
    assert!(plan.skipped[0].conflict && plan.skipped[0].reason.contains("adopt_existing"));
}

#[test]
fn two_sources_claiming_one_username_are_left_alone() {
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.rules.push(rules(""));
    w.snapshots.push(snapshot("okta", vec![user("x", "ANN", &[])], vec![]));
    let plan = w.converge();
    assert!(plan.ops.is_empty());
    assert_eq!(plan.skipped.len(), 2);
    assert!(plan.skipped.iter().all(|s| s.conflict));

    // Once one source owns it, the other's claim is reported and the owner keeps managing it.
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.converge();
    w.rules.push(rules(""));
    w.snapshots.push(snapshot("okta", vec![with(user("x", "ann", &[]), "displayName", json!("Okta Ann"))], vec![]));
    w.snapshots[1].scope = Scope::Users(["x".to_string()].into());
    let plan = w.converge();
    assert!(plan.ops.is_empty());
    assert!(plan.skipped.iter().any(|s| s.source == "okta" && s.conflict));
    assert_eq!(w.target("ann").unwrap().display_name.as_deref(), Some("ann display"));
}

#[test]
fn renames_follow_the_source() {
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &["a"])], vec![group("a", "devs", &[])]));
    w.converge();
    w.snapshots[0].users[0] = user("1", "ann.lee", &["a"]);
    let plan = w.converge();
    assert_eq!(ops(&plan)[0], Operation::RenameUser { name: "ann".into(), new_name: "ann.lee".into() });
    assert_eq!(groups_of(&w, "ann.lee"), ["devs"]);
    // Targets that cannot rename keep the old name and say so.
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.caps.rename = false;
    w.converge();
    w.snapshots[0].users[0] = user("1", "ann.lee", &[]);
    let plan = w.plan();
    assert!(plan.skipped[0].reason.contains("cannot rename users"));
}

#[test]
fn targets_without_deactivation_revoke_access_through_groups() {
    let mut w = World::new(
        rules("[groups]\ndefault_for_all = ['stash-users']"),
        snapshot("entra", vec![user("1", "ann", &["a"])], vec![group("a", "devs", &[])]),
    );
    w.caps = Capabilities { deactivate: false, rename: true, properties: false, leads: false };
    w.converge();
    w.snapshots[0].users[0] = with(user("1", "ann", &["a"]), "active", json!(false));
    let plan = w.converge();
    assert_eq!(plan.ops.len(), 2);
    assert!(groups_of(&w, "ann").is_empty());
    w.snapshots[0].users[0] = user("1", "ann", &["a"]);
    w.converge();
    assert_eq!(groups_of(&w, "ann"), ["devs", "stash-users"]);
}

#[test]
fn partial_scope_touches_only_the_named_users() {
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &[]), user("2", "bob", &[])], vec![]));
    w.converge();
    // A reconcile of ann alone, with bob absent from the snapshot, must not deprovision bob.
    w.snapshots[0].users.retain(|u| u.id == "1");
    w.snapshots[0].scope = Scope::Users(["1".to_string()].into());
    assert!(w.converge().ops.is_empty());
    // But an id in scope that the source no longer has was removed.
    w.snapshots[0].scope = Scope::Users(["2".to_string()].into());
    assert_eq!(ops(&w.converge()), [Operation::SetActive { name: "bob".into(), active: false }]);
}

#[test]
fn plans_serialise_with_reasons() {
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    let plan = w.converge();
    let json = serde_json::to_value(&plan.ops[0]).unwrap();
    assert_eq!(json["action"], "create_user");
    assert_eq!(json["user"]["name"], "ann");
    assert_eq!(json["reason"], "new entra user ann");
    assert_eq!(json["source"], "entra");
}

#[test]
fn a_rejoining_user_takes_over_the_account_of_the_removed_one() {
    let mut w = World::new(rules(""), snapshot("entra", vec![user("old", "ann", &[])], vec![]));
    w.converge();
    w.snapshots[0].users = vec![user("new", "ann", &[])];
    let plan = w.converge();
    assert!(plan.ops.is_empty(), "no deactivation and no second account: {:?}", plan.ops);
    assert_eq!(w.owned.users, vec![UserLink { source: "entra".into(), source_id: "new".into(), name: "ann".into() }]);
}

#[test]
fn a_user_renamed_in_the_target_is_found_under_the_new_name() {
    let mut w = World::new(rules(""), snapshot("entra", vec![user("1", "ann", &[])], vec![]));
    w.converge();
    // The rename reached the target but not the link (a crash in between), then the source
    // renames too.
    let mut renamed = w.state.users.remove("ann").unwrap();
    renamed.name = "ann.lee".into();
    w.state.insert_user(renamed);
    w.snapshots[0].users[0] = user("1", "ann.lee", &[]);
    let plan = w.converge();
    assert!(plan.ops.iter().all(|p| !matches!(p.op, Operation::CreateUser { .. })), "{:?}", plan.ops);
    assert_eq!(w.owned.users[0].name, "ann.lee");
}
