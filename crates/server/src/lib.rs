//! idsync over HTTP: the admin API `/api/v1` (with its one mapping from application errors to
//! problem documents, its token scopes and its OpenAPI document), the whole server's router
//! (SCIM, the admin API, health and metrics, with the layers every request passes) and the
//! listener that serves it.
#![forbid(unsafe_code)]

pub mod api;
pub mod http;
pub mod listener;
