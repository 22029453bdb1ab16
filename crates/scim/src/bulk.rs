//! `/Bulk` (RFC 7644 §3.7): operations run one after another through the same service as single
//! requests, `bulkId:` references resolved as the resources they name are created.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use model::resource::Projection;
use model::schema::{BULK_REQUEST, BULK_RESPONSE};
use model::{ResourceKind, ScimError};
use serde_json::{Value, json};

use crate::ScimState;
use crate::auth::SourceCtx;
use crate::error::{ApiError, error_body};
use crate::handlers::scim_response;
use crate::render::{etag, parse_etag};
use crate::request::read_json;
use crate::service::Ctx;

fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix("bulkId:") {
                out.push(id.to_string());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        Value::Object(o) => o.values().for_each(|i| references(i, out)),
        _ => {}
    }
}

fn substitute(v: &mut Value, ids: &HashMap<String, String>) -> Result<(), ScimError> {
    match v {
        Value::String(s) => {
            if let Some(bulk_id) = s.strip_prefix("bulkId:") {
                let id = ids.get(bulk_id).ok_or_else(|| {
                    ScimError::new(
                        409,
                        Some(model::ScimType::InvalidValue),
                        format!("bulkId '{bulk_id}' names no operation that succeeded"),
                    )
                })?;
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().try_for_each(|i| substitute(i, ids))?,
        Value::Object(o) => o.values_mut().try_for_each(|i| substitute(i, ids))?,
        _ => {}
    }
    Ok(())
}

struct Op {
    index: usize,
    method: String,
    bulk_id: Option<String>,
    path: String,
    data: Option<Value>,
    version: Option<String>,
}

fn parse_op(index: usize, v: &Value) -> Result<Op, ScimError> {
    let get = |k: &str| model::eval::get_ci(v, k);
    let method = get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_syntax(format!("operation {}: 'method' is missing", index + 1)))?;
    let path = get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_syntax(format!("operation {}: 'path' is missing", index + 1)))?;
    Ok(Op {
        index,
        method: method.to_ascii_uppercase(),
        bulk_id: get("bulkId").and_then(Value::as_str).map(str::to_string),
        path: path.to_string(),
        data: get("data").cloned(),
        version: get("version").and_then(Value::as_str).map(str::to_string),
    })
}

async fn run_op(
    ctx: &Ctx<'_>,
    op: &Op,
    ids: &HashMap<String, String>,
) -> Result<(u16, Option<String>, Option<u64>, Option<String>), ScimError> {
    let path = op
        .path
        .split('/')
        .map(|seg| match seg.strip_prefix("bulkId:") {
            Some(b) => ids.get(b).cloned().ok_or_else(|| {
                ScimError::new(
                    409,
                    Some(model::ScimType::InvalidValue),
                    format!("bulkId '{b}' names no operation that succeeded"),
                )
            }),
            None => Ok(seg.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()?
        .join("/");
    let mut segments = path.trim_start_matches('/').split('/');
    let kind = segments
        .next()
        .and_then(ResourceKind::from_endpoint)
        .ok_or_else(|| ScimError::invalid_path(format!("'{}' is not a Users or Groups path", op.path)))?;
    let id = segments.next().filter(|s| !s.is_empty()).map(str::to_string);
    if segments.next().is_some() {
        return Err(ScimError::invalid_path(format!("'{}' has too many segments", op.path)));
    }
    let if_match = match &op.version {
        None => None,
        Some(v) => match parse_etag(v) {
            Some(v) => v,
            None => Some(u64::MAX),
        },
    };
    let mut data = op.data.clone();
    if let Some(d) = data.as_mut() {
        substitute(d, ids)?;
    }
    let need_data = || data.clone().ok_or_else(|| ScimError::invalid_syntax(format!("{} needs 'data'", op.method)));
    let proj = Projection::default();
    match (op.method.as_str(), id) {
        ("POST", None) => {
            if op.bulk_id.is_none() {
                return Err(ScimError::invalid_syntax("POST operations need a 'bulkId'"));
            }
            let r = ctx.create(kind, need_data()?, &proj).await?;
            let id = r.body.get("id").and_then(Value::as_str).map(str::to_string);
            Ok((201, Some(r.location), Some(r.version), id))
        }
        ("PUT", Some(id)) => {
            let r = ctx.replace(kind, &id, if_match, need_data()?, &proj).await?;
            Ok((200, Some(r.location), Some(r.version), None))
        }
        ("PATCH", Some(id)) => match ctx.patch(kind, &id, if_match, &need_data()?, &proj).await? {
            Ok(r) => Ok((200, Some(r.location), Some(r.version), None)),
            Err(version) => Ok((200, Some(crate::render::location(&ctx.base, kind, &id)), Some(version), None)),
        },
        ("DELETE", Some(id)) => {
            ctx.delete(kind, &id, if_match).await?;
            Ok((204, None, None, None))
        }
        (m, _) => Err(ScimError::invalid_syntax(format!(
            "'{m} {}' is not a bulk operation: POST to a collection, or PUT/PATCH/DELETE a resource",
            op.path
        ))),
    }
}

pub async fn bulk(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body, state.config.max_body_bytes, state.config.body_read_timeout).await?;
    let has_schema = model::eval::get_ci(&body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST))));
    if !has_schema {
        return Err(ApiError(ScimError::invalid_syntax(format!(
            "a bulk body needs \"schemas\": [\"{BULK_REQUEST}\"]"
        ))));
    }
    let ops = model::eval::get_ci(&body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError(ScimError::invalid_syntax("a bulk body needs an 'Operations' list")))?;
    let max = state.config.bulk_max_operations;
    if ops.len() > max {
        return Err(ApiError(ScimError::new(
            413,
            Some(model::ScimType::TooMany),
            format!("{} operations is more than the {max} one bulk request may carry; split the request", ops.len()),
        )));
    }
    let fail_on_errors = match model::eval::get_ci(&body, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError(ScimError::invalid_value("'failOnErrors' must be a positive integer")))?,
        ),
    };
    let parsed: Vec<Op> = ops.iter().enumerate().map(|(i, v)| parse_op(i, v)).collect::<Result<_, _>>()?;
    let ctx = Ctx::new(&state, &src, &headers);

    let declared: HashMap<String, usize> =
        parsed.iter().filter_map(|o| o.bulk_id.clone().map(|b| (b, o.index))).collect();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results: Vec<(usize, Value)> = Vec::new();
    let mut pending: Vec<&Op> = parsed.iter().collect();
    let mut errors = 0u64;
    'passes: while !pending.is_empty() {
        let mut deferred = Vec::new();
        let before = pending.len();
        for op in pending {
            let mut refs = Vec::new();
            op.path.split('/').for_each(|seg| references(&Value::String(seg.to_string()), &mut refs));
            if let Some(d) = &op.data {
                references(d, &mut refs);
            }
            let waits = refs.iter().any(|r| {
                !ids.contains_key(r)
                    && declared.get(r).is_some_and(|i| *i != op.index && results.iter().all(|(done, _)| done != i))
            });
            if waits {
                deferred.push(op);
                continue;
            }
            let mut entry = json!({"method": op.method});
            if let Some(b) = &op.bulk_id {
                entry["bulkId"] = json!(b);
            }
            match run_op(&ctx, op, &ids).await {
                Ok((status, location, version, new_id)) => {
                    if let (Some(b), Some(id)) = (&op.bulk_id, new_id) {
                        ids.insert(b.clone(), id);
                    }
                    if let Some(l) = location {
                        entry["location"] = json!(l);
                    }
                    if let Some(v) = version {
                        entry["version"] = json!(etag(v));
                    }
                    entry["status"] = json!(status.to_string());
                }
                Err(e) => {
                    errors += 1;
                    entry["status"] = json!(e.status.to_string());
                    entry["response"] = error_body(&e);
                }
            }
            results.push((op.index, entry));
            if fail_on_errors.is_some_and(|n| errors >= n) {
                break 'passes;
            }
        }
        if deferred.len() == before {
            for op in deferred {
                let e = ScimError::new(
                    409,
                    Some(model::ScimType::InvalidValue),
                    "bulkId references form a cycle and cannot be resolved",
                );
                let mut entry = json!({"method": op.method, "status": "409", "response": error_body(&e)});
                if let Some(b) = &op.bulk_id {
                    entry["bulkId"] = json!(b);
                }
                results.push((op.index, entry));
            }
            break;
        }
        pending = deferred;
    }
    results.sort_by_key(|(i, _)| *i);
    let operations: Vec<Value> = results.into_iter().map(|(_, v)| v).collect();
    Ok(scim_response(StatusCode::OK, &json!({"schemas": [BULK_RESPONSE], "Operations": operations})))
}
