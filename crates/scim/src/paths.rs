//! Some SCIM clients address endpoints in lower case (`/users`) or put a slash before the query
//! (`/Users/?filter=…`). Routes are matched exactly, so requests are brought to the canonical
//! form before routing: the endpoint segment in its RFC 7644 spelling, no trailing slash.

use axum::extract::Request;
use axum::http::Uri;

const ENDPOINTS: [&str; 8] =
    ["Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas", "Bulk", "Me", ".search"];

/// The canonical path of a SCIM request, or None when it is canonical already (or not SCIM).
fn canonical(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/scim/v2/")?;
    let trimmed = rest.strip_suffix('/').unwrap_or(rest);
    let mut segments: Vec<&str> = trimmed.split('/').collect();
    if let Some(endpoint) = segments.get_mut(1)
        && let Some(known) = ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(endpoint))
    {
        *endpoint = known;
    }
    if segments.len() > 2 && segments[2].eq_ignore_ascii_case(".search") {
        segments[2] = ".search";
    }
    let fixed = format!("/scim/v2/{}", segments.join("/"));
    (fixed != path && !trimmed.is_empty()).then_some(fixed)
}

/// Rewrites a request to its canonical SCIM path (see the module notes); others pass unchanged.
pub fn canonical_path(mut req: Request) -> Request {
    if let Some(path) = canonical(req.uri().path()) {
        let with_query = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = with_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn endpoints_in_any_case_and_trailing_slashes_are_canonical() {
        assert_eq!(canonical("/scim/v2/entra/users").as_deref(), Some("/scim/v2/entra/Users"));
        assert_eq!(canonical("/scim/v2/entra/Users/").as_deref(), Some("/scim/v2/entra/Users"));
        assert_eq!(canonical("/scim/v2/entra/groups/abc/").as_deref(), Some("/scim/v2/entra/Groups/abc"));
        assert_eq!(
            canonical("/scim/v2/entra/serviceproviderconfig").as_deref(),
            Some("/scim/v2/entra/ServiceProviderConfig")
        );
        assert_eq!(canonical("/scim/v2/entra/users/.SEARCH").as_deref(), Some("/scim/v2/entra/Users/.search"));
        assert_eq!(canonical("/scim/v2/entra/Users"), None);
        assert_eq!(canonical("/scim/v2/entra/Users/ID-Keeps-Case"), None, "ids keep their case");
        assert_eq!(canonical("/healthz"), None);
    }
}
