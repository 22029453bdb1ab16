//! Tests of the pure SCIM core: filter grammar and evaluation, PATCH, normalisation.

mod filter;
mod patch;
mod properties;
mod resource;
