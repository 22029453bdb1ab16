//! Reading SCIM requests: the JSON body (size-limited, errors in SCIM form), query parameters
//! (names case-insensitive), projections and conditional headers.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use model::path::resolve;
use model::resource::Projection;
use model::schema::ResourceTypeDef;
use model::{AttrPath, ScimError};
use serde_json::Value;

use crate::render::parse_etag;

/// Reads and parses a JSON body of at most `limit` bytes, sent within `timeout`.
pub async fn read_json(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Value, ScimError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !(mime.is_empty() || mime == "application/json" || mime.ends_with("+json")) {
            return Err(ScimError::new(
                415,
                None,
                format!("send the body as application/scim+json or application/json, not {mime}"),
            ));
        }
    }
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await.map_err(|_| {
        ScimError::new(
            408,
            None,
            format!("the request body did not arrive within {} s; send it whole and promptly", timeout.as_secs()),
        )
    })?;
    let bytes = read.map_err(|_| {
        ScimError::new(
            413,
            None,
            format!("the request body is larger than the {limit}-byte limit; send fewer operations per request"),
        )
    })?;
    if bytes.is_empty() {
        return Err(ScimError::invalid_syntax("the request body is empty; send a JSON object"));
    }
    serde_json::from_slice(&bytes).map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))
}

/// The largest request target and header block idsync reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_uri_bytes: usize,
    pub max_header_bytes: usize,
}

/// A request target or header block larger than idsync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversized {
    Target { bytes: usize, limit: usize },
    Headers { bytes: usize, limit: usize },
}

impl Oversized {
    pub fn status(self) -> u16 {
        match self {
            Oversized::Target { .. } => 414,
            Oversized::Headers { .. } => 431,
        }
    }
}

/// Whether `request` goes past `limits` (the HTTP parser's own limits lie above these, so it
/// does not answer first).
pub fn oversized(limits: &RequestLimits, request: &axum::extract::Request) -> Option<Oversized> {
    let target = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let headers: usize = request.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if target > limits.max_uri_bytes {
        Some(Oversized::Target { bytes: target, limit: limits.max_uri_bytes })
    } else if headers > limits.max_header_bytes {
        Some(Oversized::Headers { bytes: headers, limit: limits.max_header_bytes })
    } else {
        None
    }
}

/// Answers a request whose target or headers are too large with 414 or 431, in SCIM form.
pub async fn refuse_oversized(
    axum::extract::State(limits): axum::extract::State<RequestLimits>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let Some(too_big) = oversized(&limits, &request) else {
        return next.run(request).await;
    };
    let detail = match too_big {
        Oversized::Target { bytes, limit } => {
            format!(
                "the request target is {bytes} bytes, more than the {limit} idsync reads; send long filters with POST .search"
            )
        }
        Oversized::Headers { bytes, limit } => {
            format!("the request headers are {bytes} bytes, more than the {limit} idsync reads")
        }
    };
    crate::error::error_response(&ScimError::new(too_big.status(), None, detail))
}

/// Query parameters with case-insensitive names.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                q.split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        (decode(k).to_ascii_lowercase(), decode(v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Params(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Resolves a comma-separated attribute list; names the schema does not know are ignored.
pub fn attr_list<'a>(names: impl Iterator<Item = &'a str>, rt: &'static ResourceTypeDef) -> Vec<AttrPath> {
    names.map(str::trim).filter(|n| !n.is_empty()).filter_map(|n| resolve(n, rt).ok()).collect()
}

pub fn projection(attributes: Option<&str>, excluded: Option<&str>, rt: &'static ResourceTypeDef) -> Projection {
    Projection {
        attributes: attributes.map(|a| attr_list(a.split(','), rt)).unwrap_or_default(),
        excluded: excluded.map(|a| attr_list(a.split(','), rt)).unwrap_or_default(),
    }
}

/// The version an `If-Match` header demands: `Ok(None)` when absent or `*`.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ScimError> {
    let Some(raw) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let mut wanted = None;
    for tag in raw.split(',') {
        match parse_etag(tag) {
            Some(None) => return Ok(None),
            Some(Some(v)) => wanted = Some(v),
            None => {}
        }
    }
    // An ETag we never issued can match nothing; u64::MAX is a version no resource reaches.
    Ok(Some(wanted.unwrap_or(u64::MAX)))
}

/// Whether `If-None-Match` names `version` (or `*`).
pub fn if_none_match(headers: &HeaderMap, version: u64) -> bool {
    headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|raw| {
        raw.split(',').any(|t| matches!(parse_etag(t), Some(None)) || parse_etag(t) == Some(Some(version)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_values() {
        let p = Params::parse(Some("Filter=userName%20eq%20%22a%2Bb%22&count=5&x=%zz"));
        assert_eq!(p.get("filter"), Some("userName eq \"a+b\""));
        assert_eq!(p.get("COUNT"), Some("5"));
        assert_eq!(p.get("x"), Some("%zz"));
    }
}
