//! The HTTP side of idsync that is not SCIM: the admin API `/api/v1`, with its one mapping from
//! application errors to problem documents, its token scopes and its OpenAPI document.
#![forbid(unsafe_code)]

pub mod api;
