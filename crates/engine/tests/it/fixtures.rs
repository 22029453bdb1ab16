//! Small builders for planner inputs.

use std::collections::{BTreeSet, HashMap};

use engine::{
    Binding, Capabilities, CompiledRules, Ownership, Plan, Rules, Scope, SourceGroup, SourceSnapshot, SourceUser,
    Target, TargetState, plan,
};
use model::target::{Operation, TargetUser};
use serde_json::{Value, json};

pub fn user(id: &str, name: &str, groups: &[&str]) -> SourceUser {
    SourceUser {
        id: id.into(),
        record: json!({
            "userName": name,
            "displayName": format!("{name} display"),
            "emails": [{"value": format!("{name}@example.com"), "primary": true}],
            "active": true
        }),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

pub fn with(mut u: SourceUser, key: &str, value: Value) -> SourceUser {
    u.record.as_object_mut().unwrap().insert(key.into(), value);
    u
}

pub fn group(id: &str, name: &str, parents: &[&str]) -> SourceGroup {
    SourceGroup { id: id.into(), name: name.into(), parents: parents.iter().map(|p| p.to_string()).collect() }
}

pub fn snapshot(source: &str, users: Vec<SourceUser>, groups: Vec<SourceGroup>) -> SourceSnapshot {
    SourceSnapshot {
        source: source.into(),
        users,
        groups: groups.into_iter().map(|g| (g.id.clone(), g)).collect::<HashMap<_, _>>(),
        scope: Scope::Full,
        complete: true,
    }
}

pub fn target_user(name: &str, groups: &[&str]) -> TargetUser {
    TargetUser {
        name: name.into(),
        key: None,
        email: Some(format!("{name}@example.com")),
        display_name: Some(format!("{name} display")),
        active: true,
        groups: groups.iter().map(|g| g.to_string()).collect::<BTreeSet<_>>(),
        properties: Default::default(),
    }
}

pub fn rules(toml_text: &str) -> CompiledRules {
    let rules: Rules = toml::from_str(toml_text).expect("rules parse");
    CompiledRules::compile(&rules).expect("rules compile")
}

/// One run of the planner, and everything needed to apply its plan and plan again.
pub struct World {
    pub rules: Vec<CompiledRules>,
    pub snapshots: Vec<SourceSnapshot>,
    pub state: TargetState,
    pub owned: Ownership,
    pub caps: Capabilities,
}

impl World {
    pub fn new(rules: CompiledRules, snapshot: SourceSnapshot) -> Self {
        World {
            rules: vec![rules],
            snapshots: vec![snapshot],
            state: TargetState::default(),
            owned: Ownership::default(),
            caps: Capabilities::ALL,
        }
    }

    pub fn plan(&self) -> Plan {
        let bindings: Vec<Binding> =
            self.rules.iter().zip(&self.snapshots).map(|(rules, snapshot)| Binding { rules, snapshot }).collect();
        plan(&Target { name: "jira", caps: self.caps }, &bindings, &self.state, &self.owned)
    }

    /// Plans, applies, and checks that planning again finds nothing left to do.
    pub fn converge(&mut self) -> Plan {
        let first = self.plan();
        engine::simulate::apply_plan(&mut self.state, &mut self.owned, &first);
        let again = self.plan();
        assert!(
            again.is_empty(),
            "second plan not empty: {:#?}\nafter first plan {:#?}\nowned {:#?}",
            again.ops,
            first,
            self.owned
        );
        first
    }

    pub fn target(&self, name: &str) -> Option<&TargetUser> {
        self.state.user(name)
    }
}

pub fn ops(plan: &Plan) -> Vec<Operation> {
    plan.ops.iter().map(|p| p.op.clone()).collect()
}

pub fn groups_of(world: &World, name: &str) -> Vec<String> {
    world.target(name).map(|u| u.groups.iter().cloned().collect()).unwrap_or_default()
}
