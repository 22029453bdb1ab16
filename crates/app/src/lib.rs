//! The application layer: every operation of idsync as a service with typed input and output,
//! which the CLI, the admin API and the console call alike. It prints nothing and knows neither
//! HTTP nor a command line; its errors carry a code and words an administrator can act on.
//!
//! So far it holds what the binary's commands shared: secrets at rest and targets' sealed
//! credentials, tokens, durations, schedules and pull sources' stored settings.
#![forbid(unsafe_code)]

pub mod bindings;
pub mod duration;
mod error;
pub mod login;
pub mod pull;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod sources;
pub mod targets;
pub mod tokens;

pub use error::Error;
