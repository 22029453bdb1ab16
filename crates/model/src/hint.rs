//! What an administrator can do about an error, as data. A library attaches the hint to its
//! error; whoever shows the error renders it: the CLI as the command to run, the admin API as a
//! field, the console as a link. No library names a command itself.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Hint {
    /// See which sources there are.
    ListSources,
    /// See which targets there are.
    ListTargets,
    /// See the recent runs.
    ListRuns,
    /// See which bindings there are.
    ListBindings,
    /// Bind a source to this target.
    AddBinding { target: String },
}
