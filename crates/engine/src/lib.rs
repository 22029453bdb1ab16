//! The pure core of provisioning: the administrator's rules, and the planner that turns source
//! records, rules, a target's known state and idsync's ownership of target objects into a plan of
//! operations, each with its reason. No I/O: its dependencies are `model`, serde and regex. The
//! edge that reads the store and the targets and applies plans is the `sync` crate.
#![forbid(unsafe_code)]

pub mod attributes;
pub mod planner;
pub mod rules;
pub mod safeguard;
pub mod simulate;
pub mod state;

pub use model::target::{Capabilities, Grant, GrantOrigin, Ownership, UserLink};
pub use planner::{Binding, Effect, LinkChange, Plan, PlannedOp, Skipped, Target, desired_name, plan};
pub use rules::{
    BindingSpec, CompiledRules, Deprovision, GroupRules, MappedBy, RuleError, Rules, Safeguard, Transform, UserField,
    UserRules,
};
pub use state::{Scope, SourceGroup, SourceSnapshot, SourceUser, TargetState};
