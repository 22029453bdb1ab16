//! In-memory evaluation of filters against resources. The store translates the same semantics to
//! SQL; this evaluator is the reference the SQL is tested against, and serves PATCH value paths.

use std::cmp::Ordering;

use serde_json::Value;

use crate::filter::{CmpOp, Filter};
use crate::path::{AttrPath, Namespace};
use crate::schema::AttrType;
use crate::time::parse_rfc3339;

/// Looks a key up exactly first, then ignoring ASCII case (attribute names are case-insensitive).
pub fn get_ci<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    let map = obj.as_object()?;
    map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The object that holds `path`'s attribute: the resource itself or one of its extension objects.
pub fn container<'a>(resource: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    match &path.ns {
        Namespace::Core => Some(resource),
        Namespace::Extension(urn) => get_ci(resource, urn),
        Namespace::Unregistered(urn) => get_ci(resource, urn),
    }
}

fn push_leaf<'a>(v: &'a Value, sub: Option<&str>, out: &mut Vec<&'a Value>) {
    let leaf = match (sub, v) {
        (Some(s), _) => get_ci(v, s),
        (None, Value::Object(_)) => get_ci(v, "value"),
        (None, other) => Some(other),
    };
    if let Some(l) = leaf.filter(|l| !l.is_null()) {
        out.push(l);
    }
}

/// Every value `path` names in `resource`, flattening multi-valued attributes.
pub fn values_at<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let mut out = Vec::new();
    let Some(v) = container(resource, path).and_then(|c| get_ci(c, &path.attr)) else {
        return out;
    };
    match v {
        Value::Array(items) => items.iter().for_each(|i| push_leaf(i, path.sub.as_deref(), &mut out)),
        Value::Object(_) if path.sub.is_none() && !path.is_multi_valued() => out.push(v),
        other => push_leaf(other, path.sub.as_deref(), &mut out),
    }
    out
}

pub fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

pub fn matches(filter: &Filter, resource: &Value) -> bool {
    eval(filter, resource, false)
}

/// Evaluates the inner filter of a value path against one element of the multi-valued attribute.
pub fn matches_element(filter: &Filter, element: &Value) -> bool {
    eval(filter, element, true)
}

fn element_values<'a>(element: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let mut out = Vec::new();
    match (&path.sub, element) {
        (Some(sub), Value::Object(_)) => {
            if let Some(v) = get_ci(element, sub).filter(|v| !v.is_null()) {
                out.push(v);
            }
        }
        (None, v) | (Some(_), v) if !v.is_object() => out.push(v),
        _ => {}
    }
    out
}

fn eval(filter: &Filter, target: &Value, element: bool) -> bool {
    match filter {
        Filter::And(a, b) => eval(a, target, element) && eval(b, target, element),
        Filter::Or(a, b) => eval(a, target, element) || eval(b, target, element),
        Filter::Not(a) => !eval(a, target, element),
        Filter::Present(path) => {
            let vals = if element { element_values(target, path) } else { values_at(target, path) };
            vals.into_iter().any(is_present)
        }
        Filter::Compare { path, op, value } => {
            let vals = if element { element_values(target, path) } else { values_at(target, path) };
            let ty = path.value_type();
            let exact = path.case_exact();
            match (op, value) {
                (CmpOp::Eq, Value::Null) => vals.is_empty(),
                (CmpOp::Ne, Value::Null) => !vals.is_empty(),
                (CmpOp::Ne, _) => !vals.iter().any(|v| compare(CmpOp::Eq, v, value, ty, exact)),
                _ => vals.iter().any(|v| compare(*op, v, value, ty, exact)),
            }
        }
        Filter::ValuePath { path, filter } => {
            let Some(v) = container(target, path).and_then(|c| get_ci(c, &path.attr)) else {
                return false;
            };
            match v {
                Value::Array(items) => items.iter().any(|i| matches_element(filter, i)),
                other => matches_element(filter, other),
            }
        }
    }
}

fn fold(s: &str, exact: bool) -> String {
    if exact { s.to_string() } else { s.to_ascii_lowercase() }
}

/// Compares one stored value with the filter's literal under `op`.
pub fn compare(op: CmpOp, actual: &Value, expected: &Value, ty: Option<AttrType>, exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            if ty == Some(AttrType::DateTime) && !op.is_substring() {
                return match (parse_rfc3339(a), parse_rfc3339(e)) {
                    (Some(a), Some(e)) => ordering_holds(op, a.cmp(&e)),
                    _ => false,
                };
            }
            let (a, e) = (fold(a, exact), fold(e, exact));
            match op {
                CmpOp::Co => a.contains(&e),
                CmpOp::Sw => a.starts_with(&e),
                CmpOp::Ew => a.ends_with(&e),
                _ => ordering_holds(op, a.as_str().cmp(e.as_str())),
            }
        }
        (Value::Number(a), Value::Number(e)) => match (a.as_f64(), e.as_f64()) {
            (Some(a), Some(e)) => a.partial_cmp(&e).is_some_and(|o| ordering_holds(op, o)),
            _ => false,
        },
        (Value::Bool(a), Value::Bool(e)) => match op {
            CmpOp::Eq => a == e,
            CmpOp::Ne => a != e,
            _ => false,
        },
        _ => false,
    }
}

fn ordering_holds(op: CmpOp, o: Ordering) -> bool {
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Co | CmpOp::Sw | CmpOp::Ew => false,
    }
}
