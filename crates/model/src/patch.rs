//! PATCH (RFC 7644 §3.5.2): operations are parsed up front, then applied to a copy of the resource so
//! that a request either applies whole or not at all. Group membership changes are not applied to
//! the JSON: they come back as `MemberChange`s for the store to apply row by row, which keeps a
//! one-member change to a 100,000-member group as cheap as to a 10-member one.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::eval::{get_ci, matches_element};
use crate::filter::{CmpOp, Filter, FilterLimits};
use crate::path::{AttrPath, Namespace, resolve};
use crate::resource::{MemberRef, check_required, discard_never_returned, normalize_attribute, parse_members};
use crate::schema::{AttrType, AttributeDef, Mutability, PATCH_OP, ResourceKind, ResourceTypeDef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, with the sub-attribute that follows a value filter (`emails[…].value`).
    pub target: AttrPath,
    pub filter: Option<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub kind: PatchKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    Add(Vec<MemberRef>),
    Remove(Vec<String>),
    RemoveMatching(Filter),
    RemoveAll,
}

/// Parses `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
pub fn parse_path(input: &str, rt: &'static ResourceTypeDef, limits: FilterLimits) -> ScimResult<PatchPath> {
    let bad = |msg: String| ScimError::invalid_path(format!("{msg} in path '{input}'"));
    if input.len() > limits.max_length {
        return Err(ScimError::invalid_path(format!("path is longer than {} bytes", limits.max_length)));
    }
    let Some(open) = input.find('[') else {
        return Ok(PatchPath { target: resolve(input.trim(), rt).map_err(bad)?, filter: None });
    };
    let mut close = None;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in input[open + 1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            ']' if !in_string => {
                close = Some(open + 1 + i);
                break;
            }
            _ => {}
        }
    }
    let close = close.ok_or_else(|| bad("missing ']'".into()))?;
    let parent = resolve(input[..open].trim(), rt).map_err(bad)?;
    if parent.sub.is_some() || parent.def.is_some_and(|d| d.ty != AttrType::Complex || !d.multi_valued) {
        return Err(bad(format!("'{parent}' is not a multi-valued complex attribute, so it takes no filter")));
    }
    let filter = Filter::parse_value_filter(&input[open + 1..close], &parent, rt, limits)
        .map_err(|e| ScimError::invalid_path(format!("{} (in path '{input}')", e.detail)))?;
    let rest = &input[close + 1..];
    let target = match rest.strip_prefix('.') {
        Some(sub) => parent.child(sub).map_err(bad)?,
        None if rest.is_empty() => parent,
        None => return Err(bad(format!("unexpected '{rest}' after ']'"))),
    };
    Ok(PatchPath { target, filter: Some(filter) })
}

/// Parses a PatchOp request body. Op names are case-insensitive (Entra sends `Replace`).
pub fn parse_request(
    body: &Value,
    rt: &'static ResourceTypeDef,
    limits: FilterLimits,
) -> ScimResult<Vec<PatchOperation>> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax("a PATCH body must be a JSON object"));
    };
    let has_schema = get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP))));
    if !has_schema {
        return Err(ScimError::invalid_syntax(format!("a PATCH body needs \"schemas\": [\"{PATCH_OP}\"]")));
    }
    let ops = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v)
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs an 'Operations' list"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("'Operations' is empty"));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            parse_operation(op, rt, limits)
                .map_err(|e| ScimError { detail: format!("operation {}: {}", i + 1, e.detail), ..e })
        })
        .collect()
}

fn parse_operation(op: &Value, rt: &'static ResourceTypeDef, limits: FilterLimits) -> ScimResult<PatchOperation> {
    if !op.is_object() {
        return Err(ScimError::invalid_syntax("each operation must be a JSON object"));
    }
    let kind = match get_ci(op, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
        Some("add") => PatchKind::Add,
        Some("remove") => PatchKind::Remove,
        Some("replace") => PatchKind::Replace,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "'{other}' is not an operation; use add, remove or replace"
            )));
        }
        None => return Err(ScimError::invalid_syntax("'op' is missing")),
    };
    let mut value = get_ci(op, "value").cloned();
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        // A path naming a whole extension means its object: the same as a path-less operation
        // on `{"<urn>": value}`; for remove, the object is dropped.
        Some(Value::String(s)) if rt.extension(s.trim()).is_some() => {
            let urn = rt.extension(s.trim()).map_or("", |e| e.id);
            let inner = if kind == PatchKind::Remove { Value::Null } else { value.take().unwrap_or(Value::Null) };
            return Ok(PatchOperation {
                kind,
                path: None,
                value: Some(Value::Object(Map::from_iter([(urn.to_string(), inner)]))),
            });
        }
        Some(Value::String(s)) => Some(parse_path(s, rt, limits)?),
        Some(_) => return Err(ScimError::invalid_path("'path' must be a string")),
    };
    match (kind, &path, &value) {
        (PatchKind::Remove, None, _) => Err(ScimError::no_target("remove needs a 'path'")),
        (PatchKind::Add | PatchKind::Replace, _, None) => {
            Err(ScimError::invalid_value("add and replace need a 'value'"))
        }
        (PatchKind::Add | PatchKind::Replace, None, Some(v)) if !v.is_object() => {
            Err(ScimError::invalid_value("without a 'path', 'value' must be an object of attributes"))
        }
        _ => Ok(PatchOperation { kind, path, value }),
    }
}

/// Applies `ops` to `data` (a resource without id, meta and members). On error `data` may be
/// partly changed: callers apply to a copy and keep it only on success.
pub fn apply(
    data: &mut Map<String, Value>,
    ops: &[PatchOperation],
    rt: &'static ResourceTypeDef,
) -> ScimResult<Vec<MemberChange>> {
    let mut members = Vec::new();
    for op in ops {
        match &op.path {
            Some(path) => apply_path(data, op.kind, path, op.value.clone(), rt, &mut members)?,
            None => {
                let Some(Value::Object(values)) = op.value.clone() else {
                    return Err(ScimError::invalid_value("without a 'path', 'value' must be an object"));
                };
                if op.kind == PatchKind::Remove {
                    // Only produced for a path naming a whole extension.
                    for urn in values.keys() {
                        data.remove(urn);
                    }
                    continue;
                }
                apply_pathless(data, op.kind, values, rt, &mut members)?;
            }
        }
    }
    discard_never_returned(data, rt);
    check_required(data, rt)?;
    Ok(members)
}

fn apply_pathless(
    data: &mut Map<String, Value>,
    kind: PatchKind,
    values: Map<String, Value>,
    rt: &'static ResourceTypeDef,
    members: &mut Vec<MemberChange>,
) -> ScimResult<()> {
    for (k, v) in values {
        if ["schemas", "id", "meta"].iter().any(|r| k.eq_ignore_ascii_case(r)) {
            continue;
        }
        if let Some(ext) = rt.extension(&k) {
            let Value::Object(inner) = v else {
                return Err(ScimError::invalid_value(format!("'{}' must be an object", ext.id)));
            };
            for (ak, av) in inner {
                if ak.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                let target = resolve(&format!("{}:{ak}", ext.id), rt).map_err(ScimError::invalid_value)?;
                apply_path(data, kind, &PatchPath { target, filter: None }, Some(av), rt, members)?;
            }
            continue;
        }
        let target = match resolve(&k, rt) {
            Ok(t) if !matches!(t.ns, Namespace::Unregistered(_)) || !v.is_object() => t,
            _ if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) && v.is_object() => {
                merge_unregistered(data, kind, k, v);
                continue;
            }
            Err(e) => return Err(ScimError::invalid_value(e)),
            Ok(t) => t,
        };
        apply_path(data, kind, &PatchPath { target, filter: None }, Some(v), rt, members)?;
    }
    Ok(())
}

fn merge_unregistered(data: &mut Map<String, Value>, kind: PatchKind, key: String, v: Value) {
    match (kind, data.get_mut(&key), v) {
        (PatchKind::Add, Some(Value::Object(existing)), Value::Object(add)) => existing.extend(add),
        (_, _, v) => {
            data.insert(key, v);
        }
    }
}

/// Ids named by `value eq "…"` (or several of them joined by `or`), the shape every real client uses.
fn member_ids(filter: &Filter) -> Option<Vec<String>> {
    match filter {
        Filter::Compare { path, op: CmpOp::Eq, value: Value::String(s) } if path.sub.as_deref() == Some("value") => {
            Some(vec![s.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = member_ids(a)?;
            ids.extend(member_ids(b)?);
            Some(ids)
        }
        _ => None,
    }
}

fn member_change(
    kind: PatchKind,
    path: &PatchPath,
    value: Option<Value>,
    out: &mut Vec<MemberChange>,
) -> ScimResult<()> {
    if path.target.sub.is_some() {
        return Err(ScimError::invalid_path(
            "members are added or removed whole; their sub-attributes cannot be changed",
        ));
    }
    match (kind, &path.filter) {
        (PatchKind::Remove, Some(f)) => out.push(match member_ids(f) {
            Some(ids) => MemberChange::Remove(ids),
            None => MemberChange::RemoveMatching(f.clone()),
        }),
        (PatchKind::Remove, None) => match value {
            Some(v) if !v.is_null() => {
                out.push(MemberChange::Remove(parse_members(v)?.into_iter().map(|m| m.value).collect()))
            }
            _ => out.push(MemberChange::RemoveAll),
        },
        (_, Some(_)) => {
            return Err(ScimError::invalid_path("add and replace of members take the path 'members' without a filter"));
        }
        (PatchKind::Add, None) => out.push(MemberChange::Add(parse_members(value.unwrap_or(Value::Null))?)),
        (PatchKind::Replace, None) => {
            out.push(MemberChange::RemoveAll);
            out.push(MemberChange::Add(parse_members(value.unwrap_or(Value::Null))?));
        }
    }
    Ok(())
}

fn ns_key(ns: &Namespace) -> String {
    match ns {
        Namespace::Core => String::new(),
        Namespace::Extension(urn) => urn.to_string(),
        Namespace::Unregistered(urn) => urn.clone(),
    }
}

fn holder_mut<'a>(
    data: &'a mut Map<String, Value>,
    ns: &Namespace,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let key = match ns {
        Namespace::Core => return Some(data),
        Namespace::Extension(urn) => urn.to_string(),
        Namespace::Unregistered(urn) => urn.clone(),
    };
    if create && !data.contains_key(&key) {
        data.insert(key.clone(), Value::Object(Map::new()));
    }
    data.get_mut(&key).and_then(Value::as_object_mut)
}

fn normalize_for(target: &AttrPath, v: Value, whole: bool) -> ScimResult<Option<Value>> {
    let at = target.to_string();
    let def = if whole { target.def } else { target.sub_def.or(target.def) };
    match def {
        Some(d) if !whole && target.sub.is_some() => normalize_attribute(&single(d), v, &at),
        Some(d) => normalize_attribute(d, v, &at),
        None => Ok(if v.is_null() { None } else { Some(v) }),
    }
}

/// A copy of `def` that takes one value: a sub-attribute of a multi-valued attribute is single-valued.
fn single(def: &AttributeDef) -> AttributeDef {
    AttributeDef { multi_valued: false, ..def.clone() }
}

fn apply_path(
    data: &mut Map<String, Value>,
    kind: PatchKind,
    path: &PatchPath,
    value: Option<Value>,
    rt: &'static ResourceTypeDef,
    members: &mut Vec<MemberChange>,
) -> ScimResult<()> {
    let target = &path.target;
    if rt.kind == ResourceKind::Group && target.is("members") {
        return member_change(kind, path, value, members);
    }
    let read_only = |d: Option<&AttributeDef>| d.is_some_and(|d| d.mutability == Mutability::ReadOnly);
    if read_only(target.def) || read_only(target.sub_def) || target.is("id") || target.is("meta") {
        return Err(ScimError::mutability(format!("'{target}' is read-only")));
    }
    if kind == PatchKind::Remove
        && target.sub.is_none()
        && path.filter.is_none()
        && target.def.is_some_and(|d| d.required)
    {
        return Err(ScimError::mutability(format!("'{target}' is required and cannot be removed")));
    }
    let Some(holder) = holder_mut(data, &target.ns, kind != PatchKind::Remove) else {
        if kind == PatchKind::Remove && !data.contains_key(&ns_key(&target.ns)) {
            // Removing from an extension the resource does not carry: nothing to do.
            return Ok(());
        }
        return Err(ScimError::invalid_value(format!("'{target}' sits inside something that is not an object")));
    };
    let value = value.unwrap_or(Value::Null);
    match (&path.filter, &target.sub) {
        (None, None) => apply_whole(holder, kind, target, value)?,
        (None, Some(sub)) => apply_sub_everywhere(holder, kind, target, sub, value)?,
        (Some(filter), sub) => apply_filtered(holder, kind, target, filter, sub.as_deref(), value)?,
    }
    if let Namespace::Extension(urn) = &target.ns
        && data.get(*urn).and_then(Value::as_object).is_some_and(Map::is_empty)
    {
        data.remove(*urn);
    }
    Ok(())
}

fn apply_whole(holder: &mut Map<String, Value>, kind: PatchKind, target: &AttrPath, value: Value) -> ScimResult<()> {
    let key = target.attr.clone();
    if kind == PatchKind::Remove {
        holder.remove(&key);
        return Ok(());
    }
    let Some(new) = normalize_for(target, value, true)? else {
        if kind == PatchKind::Replace {
            holder.remove(&key);
        }
        return Ok(());
    };
    let multi = target.is_multi_valued();
    match (kind, holder.get_mut(&key), new) {
        (PatchKind::Add, Some(Value::Array(existing)), Value::Array(add)) if multi => {
            for v in add {
                if !existing.contains(&v) {
                    existing.push(v);
                }
            }
        }
        (_, Some(Value::Object(existing)), Value::Object(add)) if !multi => existing.extend(add),
        (_, _, new) => {
            holder.insert(key, new);
        }
    }
    Ok(())
}

fn apply_sub_everywhere(
    holder: &mut Map<String, Value>,
    kind: PatchKind,
    target: &AttrPath,
    sub: &str,
    value: Value,
) -> ScimResult<()> {
    let new = if kind == PatchKind::Remove { None } else { normalize_for(target, value, false)? };
    let key = target.attr.clone();
    match (holder.get_mut(&key), new) {
        (Some(Value::Array(items)), new) => {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                set_or_remove(item, sub, new.clone());
            }
            items.retain(|i| i.as_object().is_none_or(|o| !o.is_empty()));
        }
        (Some(Value::Object(obj)), new) => set_or_remove(obj, sub, new),
        (None, Some(new)) => {
            let element = Value::Object(Map::from_iter([(sub.to_string(), new)]));
            let fresh = if target.is_multi_valued() { Value::Array(vec![element]) } else { element };
            holder.insert(key.clone(), fresh);
        }
        _ => {}
    }
    drop_if_empty(holder, &key);
    Ok(())
}

fn set_or_remove(obj: &mut Map<String, Value>, sub: &str, new: Option<Value>) {
    match new {
        Some(v) => {
            obj.insert(sub.to_string(), v);
        }
        None => {
            obj.remove(sub);
        }
    }
}

fn drop_if_empty(holder: &mut Map<String, Value>, key: &str) {
    let empty = match holder.get(key) {
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    };
    if empty {
        holder.remove(key);
    }
}

/// `type eq "work"`-style filters name the element they would create when none exists yet; Entra
/// relies on that to set a first work email through `emails[type eq "work"].value`.
fn seed_element(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare { path, op: CmpOp::Eq, value } if !value.is_null() => {
            Some(Map::from_iter([(path.sub.clone()?, value.clone())]))
        }
        Filter::And(a, b) => {
            let mut m = seed_element(a)?;
            m.extend(seed_element(b)?);
            Some(m)
        }
        _ => None,
    }
}

fn apply_filtered(
    holder: &mut Map<String, Value>,
    kind: PatchKind,
    target: &AttrPath,
    filter: &Filter,
    sub: Option<&str>,
    value: Value,
) -> ScimResult<()> {
    let key = target.attr.clone();
    let new = if kind == PatchKind::Remove { None } else { normalize_for(target, value, false)? };
    let items = match holder.get_mut(&key) {
        Some(Value::Array(items)) => items,
        _ => {
            holder.insert(key.clone(), Value::Array(Vec::new()));
            match holder.get_mut(&key) {
                Some(Value::Array(items)) => items,
                _ => return Err(ScimError::internal("array vanished")),
            }
        }
    };
    let matched: Vec<usize> =
        items.iter().enumerate().filter(|(_, i)| matches_element(filter, i)).map(|(n, _)| n).collect();
    if matched.is_empty() {
        let seeded = match (kind, seed_element(filter), &new) {
            (PatchKind::Remove, ..) | (_, None, _) | (_, _, None) => None,
            (_, Some(mut element), Some(new)) => {
                match (sub, new) {
                    (Some(sub), v) => {
                        element.insert(sub.to_string(), v.clone());
                    }
                    (None, Value::Array(list)) => {
                        if let Some(Value::Object(o)) = list.first() {
                            element.extend(o.clone());
                        }
                    }
                    (None, Value::Object(o)) => element.extend(o.clone()),
                    (None, _) => {}
                }
                Some(element)
            }
        };
        match seeded {
            Some(element) => items.push(Value::Object(element)),
            None => {
                drop_if_empty(holder, &key);
                return Err(ScimError::no_target(format!("no value of '{key}' matches the filter {filter}")));
            }
        }
        return Ok(());
    }
    match kind {
        PatchKind::Remove => {
            if let Some(sub) = sub {
                for n in &matched {
                    if let Some(o) = items[*n].as_object_mut() {
                        o.remove(sub);
                    }
                }
                items.retain(|i| i.as_object().is_none_or(|o| !o.is_empty()));
            } else {
                let mut n = 0;
                items.retain(|_| {
                    let keep = !matched.contains(&n);
                    n += 1;
                    keep
                });
            }
        }
        PatchKind::Add | PatchKind::Replace => {
            for n in &matched {
                let Some(o) = items[*n].as_object_mut() else {
                    continue;
                };
                match (sub, &new) {
                    (Some(sub), Some(v)) => {
                        o.insert(sub.to_string(), v.clone());
                    }
                    (None, Some(Value::Array(list))) => {
                        if let Some(Value::Object(add)) = list.first() {
                            if kind == PatchKind::Replace {
                                o.clear();
                            }
                            o.extend(add.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    drop_if_empty(holder, &key);
    Ok(())
}
