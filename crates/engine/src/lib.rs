//! The sync engine: the administrator's rules, and the planner that turns source records, rules,
//! a target's known state and idsync's ownership of target objects into a plan of operations, each
//! with its reason. Everything but `sync` is pure; `sync` is the edge that reads the store and
//! the targets and applies plans through the outbox.
#![forbid(unsafe_code)]

pub mod attributes;
pub mod planner;
pub mod rules;
pub mod safeguard;
pub mod simulate;
pub mod state;
pub mod sync;

pub use model::target::{Capabilities, Grant, GrantOrigin, Ownership, UserLink};
pub use planner::{Binding, Effect, LinkChange, Plan, PlannedOp, Skipped, Target, desired_name, plan};
pub use rules::{
    BindingSpec, CompiledRules, Deprovision, GroupRules, RuleError, Rules, Safeguard, Transform, UserField, UserRules,
};
pub use state::{Scope, SourceGroup, SourceSnapshot, SourceUser, TargetState};
