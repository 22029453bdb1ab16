//! Planner benchmark: 100,000 users in 200 groups (five groups each, some nested), once against an
//! empty target (everything to create) and once against a target that already matches (nothing to
//! do, the common case of a full reconcile). Prints one JSON object; `scripts/bench` records it.
//!
//! `cargo run --release -p engine --example plan_bench [USERS] [GROUPS]`

use std::collections::HashMap;
use std::time::Instant;

use engine::{
    Binding, Capabilities, CompiledRules, Ownership, Rules, Scope, SourceGroup, SourceSnapshot, SourceUser, Target,
    TargetState, plan,
};
use serde_json::json;

/// `VmHWM` (peak) or `VmRSS` (now) of this process, in MB.
fn rss_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let users = args.first().copied().unwrap_or(100_000);
    let groups = args.get(1).copied().unwrap_or(200);
    let mut rules = Rules::default();
    rules.groups.default_for_all = vec!["jira-software-users".into()];
    rules.groups.mapping.insert("g0".into(), vec!["jira-administrators".into(), "admins".into()]);
    let rules = CompiledRules::compile(&rules).expect("rules");
    let group_map: HashMap<String, SourceGroup> = (0..groups)
        .map(|g| {
            // Every tenth group sits inside the one before it.
            let parents = if g % 10 == 1 { vec![format!("g{}", g - 1)] } else { vec![] };
            (format!("g{g}"), SourceGroup { id: format!("g{g}"), name: format!("g{g}"), parents })
        })
        .collect();
    let source_users: Vec<SourceUser> = (0..users)
        .map(|i| SourceUser {
            id: format!("u{i}"),
            record: json!({
                "userName": format!("user{i}@example.com"),
                "displayName": format!("User {i}"),
                "emails": [{"value": format!("user{i}@example.com"), "primary": true}],
                "active": i % 50 != 0,
            }),
            groups: (0..5).map(|k| format!("g{}", (i * 7 + k * 13) % groups)).collect(),
        })
        .collect();
    let snapshot = SourceSnapshot {
        source: "entra".into(),
        users: source_users,
        groups: group_map,
        scope: Scope::Full,
        complete: true,
    };
    let target = Target { name: "jira", caps: Capabilities::ALL };
    let bindings = [Binding { rules: &rules, snapshot: &snapshot }];
    let mut state = TargetState::default();
    let mut owned = Ownership::default();

    let inputs_rss = rss_mb("VmRSS:");
    let started = Instant::now();
    let initial = plan(&target, &bindings, &state, &owned);
    let initial_seconds = started.elapsed().as_secs_f64();
    let after_initial_rss = rss_mb("VmRSS:");
    let initial_ops = initial.ops.len();
    engine::simulate::apply_plan(&mut state, &mut owned, &initial);
    drop(initial);

    let started = Instant::now();
    let steady = plan(&target, &bindings, &state, &owned);
    let steady_seconds = started.elapsed().as_secs_f64();
    assert!(steady.is_empty(), "a matching target needs no operations");
    println!(
        "{}",
        json!({
            "users": users, "groups": groups,
            "initial_plan_seconds": initial_seconds, "initial_operations": initial_ops,
            "steady_plan_seconds": steady_seconds,
            "rss_with_inputs_mb": inputs_rss,
            "rss_after_initial_plan_mb": after_initial_rss,
            "peak_rss_mb": rss_mb("VmHWM:"),
        })
    );
}
