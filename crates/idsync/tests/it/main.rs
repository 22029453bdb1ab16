//! End-to-end tests: each starts the real `idsync` binary on a loopback port with its own data
//! directory and drives it over HTTP and the command line.

mod admin_api;
mod backup;
mod bindings;
mod cli;
mod cli_api;
mod connections;
mod crash;
mod dialects;
mod harness;
mod large_groups;
mod ldap;
mod ops;
mod pull;
mod scim_api;
mod sync;
