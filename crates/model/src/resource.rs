//! Incoming resources: checked against the schema and brought to canonical form (attribute names as
//! the schema spells them, booleans as booleans), with extension objects we have no schema for kept
//! exactly as sent. Outgoing resources: `attributes` / `excludedAttributes` projection.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::eval::get_ci;
use crate::path::{AttrPath, Namespace};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceKind, ResourceTypeDef, Returned, Schema};

/// One entry of a group's `members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub value: String,
    /// `User` or `Group` when the client said which.
    pub kind: Option<String>,
    pub display: Option<String>,
}

/// A resource as a client sent it, canonicalised. `data` holds no `id`, `meta` or `members`.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedResource {
    pub data: Map<String, Value>,
    pub members: Option<Vec<MemberRef>>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Coerces one scalar to the attribute's type. Entra sends booleans as "True"/"False".
fn normalize_scalar(def: &AttributeDef, v: Value, at: &str) -> ScimResult<Value> {
    let wrong =
        |v: &Value| ScimError::invalid_value(format!("'{at}' must be {}, not {}", def.ty.as_str(), type_name(v)));
    match def.ty {
        AttrType::Boolean => match v {
            Value::Bool(_) => Ok(v),
            Value::String(ref s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(ref s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            other => Err(wrong(&other)),
        },
        AttrType::Integer => match v {
            Value::Number(ref n) if n.is_i64() || n.is_u64() => Ok(v),
            Value::String(ref s) => s.parse::<i64>().map(Value::from).map_err(|_| wrong(&v)),
            other => Err(wrong(&other)),
        },
        AttrType::Decimal => match v {
            Value::Number(_) => Ok(v),
            other => Err(wrong(&other)),
        },
        AttrType::DateTime => match v {
            Value::String(ref s) if crate::time::parse_rfc3339(s).is_some() => Ok(v),
            Value::String(ref s) => {
                Err(ScimError::invalid_value(format!("'{at}' must be an RFC 3339 timestamp, not '{s}'")))
            }
            other => Err(wrong(&other)),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => match v {
            Value::String(_) => Ok(v),
            other => Err(wrong(&other)),
        },
        AttrType::Complex => Err(ScimError::internal("complex attribute reached scalar normalisation")),
    }
}

fn normalize_complex(def: &AttributeDef, v: Value, at: &str) -> ScimResult<Option<Value>> {
    let obj = match v {
        Value::Object(o) => o,
        // Entra sends the enterprise manager as a bare id string.
        Value::String(s) if def.sub_attribute("value").is_some() => {
            let mut m = Map::new();
            m.insert("value".into(), Value::String(s));
            m
        }
        other => {
            return Err(ScimError::invalid_value(format!("'{at}' must be an object, not {}", type_name(&other))));
        }
    };
    let mut out = Map::new();
    for (k, sv) in obj {
        let Some(sub) = def.sub_attribute(&k) else {
            return Err(ScimError::invalid_value(format!("'{at}' has no sub-attribute '{k}'")));
        };
        if sv.is_null() {
            continue;
        }
        out.insert(sub.name.to_string(), normalize_scalar(sub, sv, &format!("{at}.{}", sub.name))?);
    }
    Ok(if out.is_empty() { None } else { Some(Value::Object(out)) })
}

fn normalize_single(def: &AttributeDef, v: Value, at: &str) -> ScimResult<Option<Value>> {
    if v.is_null() {
        return Ok(None);
    }
    if def.ty == AttrType::Complex { normalize_complex(def, v, at) } else { normalize_scalar(def, v, at).map(Some) }
}

/// Normalises a value for `def`; `None` means "unassigned" (null, or an empty list).
pub fn normalize_attribute(def: &AttributeDef, v: Value, at: &str) -> ScimResult<Option<Value>> {
    if !def.multi_valued {
        if v.is_array() {
            return Err(ScimError::invalid_value(format!("'{at}' takes a single value, not a list")));
        }
        return normalize_single(def, v, at);
    }
    let items = match v {
        Value::Array(items) => items,
        Value::Null => return Ok(None),
        single => vec![single],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(n) = normalize_single(def, item, at)? {
            out.push(n);
        }
    }
    Ok(if out.is_empty() { None } else { Some(Value::Array(out)) })
}

fn normalize_schema_object(
    schema: &Schema,
    obj: Map<String, Value>,
    out: &mut Map<String, Value>,
    prefix: &str,
) -> ScimResult<()> {
    for (k, v) in obj {
        // Some clients repeat the extension's `schemas` inside its object.
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let Some(def) = schema.attribute(&k) else {
            return Err(ScimError::invalid_value(format!("'{prefix}{k}' is not an attribute of schema {}", schema.id)));
        };
        if def.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(n) = normalize_attribute(def, v, &format!("{prefix}{}", def.name))? {
            out.insert(def.name.to_string(), n);
        }
    }
    Ok(())
}

/// Parses the `members` list of a group.
pub fn parse_members(v: Value) -> ScimResult<Vec<MemberRef>> {
    let items = match v {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        single => vec![single],
    };
    items
        .into_iter()
        .map(|item| {
            let value = get_ci(&item, "value").and_then(Value::as_str).filter(|s| !s.is_empty());
            let value =
                value.ok_or_else(|| ScimError::invalid_value("every member needs a 'value' with the member's id"))?;
            let kind = match get_ci(&item, "type").and_then(Value::as_str) {
                None => None,
                Some(t) if t.eq_ignore_ascii_case("user") => Some("User".to_string()),
                Some(t) if t.eq_ignore_ascii_case("group") => Some("Group".to_string()),
                Some(t) => {
                    return Err(ScimError::invalid_value(format!("member type must be User or Group, not '{t}'")));
                }
            };
            let display = get_ci(&item, "display").and_then(Value::as_str).map(str::to_string);
            Ok(MemberRef { value: value.to_string(), kind, display })
        })
        .collect()
}

/// Checks and canonicalises a resource body from POST or PUT.
pub fn normalize(body: Value, rt: &'static ResourceTypeDef) -> ScimResult<NormalizedResource> {
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax(format!("a {} must be a JSON object", rt.kind.as_str())));
    };
    let schemas = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")).map(|(_, v)| v.clone());
    match schemas {
        Some(Value::Array(list))
            if list.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(rt.schema.id))) => {}
        Some(_) => {
            return Err(ScimError::invalid_value(format!(
                "'schemas' must be a list that includes \"{}\"",
                rt.schema.id
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "the 'schemas' attribute is missing; send [\"{}\"]",
                rt.schema.id
            )));
        }
    }
    let mut data = Map::new();
    let mut members = None;
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("schemas") || k.eq_ignore_ascii_case("id") || k.eq_ignore_ascii_case("meta") {
            continue;
        }
        if k.eq_ignore_ascii_case("externalId") {
            match v {
                Value::String(s) => {
                    data.insert("externalId".into(), Value::String(s));
                }
                Value::Null => {}
                other => {
                    return Err(ScimError::invalid_value(format!(
                        "'externalId' must be a string, not {}",
                        type_name(&other)
                    )));
                }
            }
            continue;
        }
        if rt.kind == ResourceKind::Group && k.eq_ignore_ascii_case("members") {
            members = Some(parse_members(v)?);
            continue;
        }
        if let Some(ext) = rt.extension(&k) {
            let Value::Object(inner) = v else {
                return Err(ScimError::invalid_value(format!("'{}' must be an object", ext.id)));
            };
            let mut out = Map::new();
            normalize_schema_object(ext, inner, &mut out, &format!("{}:", ext.id))?;
            if !out.is_empty() {
                data.insert(ext.id.to_string(), Value::Object(out));
            }
            continue;
        }
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            match v {
                Value::Object(_) => {
                    data.insert(k, v);
                }
                Value::Null => {}
                _ => {
                    return Err(ScimError::invalid_value(format!("extension '{k}' must be an object")));
                }
            }
            continue;
        }
        let mut single = Map::new();
        single.insert(k, v);
        normalize_schema_object(&rt.schema, single, &mut data, "")?;
    }
    discard_never_returned(&mut data, rt);
    check_required(&data, rt)?;
    Ok(NormalizedResource { data, members })
}

/// Drops what a client may write but must never read back (`password`, RFC 7643 §4.1.1:
/// `returned: never`, `mutability: writeOnly`). idsync provisions targets whose users sign in
/// through single sign-on, so it needs no password; keeping none means none can leak, through a
/// response, a filter, a backup or a copy of the database.
pub fn discard_never_returned(data: &mut Map<String, Value>, rt: &'static ResourceTypeDef) {
    for def in rt.schema.attributes.iter().filter(|d| d.returned == Returned::Never) {
        data.retain(|k, _| !k.eq_ignore_ascii_case(def.name));
    }
}

/// The form under which user names (and group names) are unique within a source: lower-cased and
/// NFC-normalised, so a name typed in another case, or with "é" composed or decomposed, is the
/// same name.
pub fn unique_form(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.to_lowercase().nfc().collect()
}

/// Every required core attribute must be present and non-empty; a text of nothing but white space
/// (blanks, tabs, no-break spaces) is empty.
pub fn check_required(data: &Map<String, Value>, rt: &'static ResourceTypeDef) -> ScimResult<()> {
    for def in rt.schema.attributes.iter().filter(|d| d.required) {
        let present = match data.get(def.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(v) => crate::eval::is_present(v),
            None => false,
        };
        if !present {
            return Err(ScimError::invalid_value(format!("'{}' is required for a {}", def.name, rt.kind.as_str())));
        }
    }
    Ok(())
}

/// The `schemas` list for a stored resource: core plus every extension it carries.
pub fn schemas_for(data: &Map<String, Value>, rt: &'static ResourceTypeDef) -> Vec<Value> {
    let mut out = vec![Value::String(rt.schema.id.to_string())];
    out.extend(
        data.keys().filter(|k| k.starts_with("urn:") || k.starts_with("URN:")).map(|k| Value::String(k.clone())),
    );
    out
}

/// Which attributes a client asked for, resolved once per request.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// Whether the client wants `attr` (a core attribute) in the response.
    pub fn wants(&self, attr: &str) -> bool {
        if !self.attributes.is_empty() {
            return self.attributes.iter().any(|p| p.is(attr));
        }
        !self.excluded.iter().any(|p| p.is(attr) && p.sub.is_none())
    }

    /// True when the client asked for no attributes at all beyond the always-returned ones.
    pub fn is_default(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    pub fn apply(&self, resource: &mut Map<String, Value>) {
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for key in ["schemas", "id"] {
                if let Some(v) = resource.remove(key) {
                    kept.insert(key.to_string(), v);
                }
            }
            for p in &self.attributes {
                copy_path(resource, &mut kept, p);
            }
            *resource = kept;
        }
        for p in &self.excluded {
            if p.def.is_some_and(|d| d.returned == Returned::Always) {
                continue;
            }
            remove_path(resource, p);
        }
    }
}

fn holder<'a>(m: &'a mut Map<String, Value>, ns: &Namespace) -> Option<&'a mut Map<String, Value>> {
    match ns {
        Namespace::Core => Some(m),
        Namespace::Extension(urn) => m.get_mut(*urn).and_then(Value::as_object_mut),
        Namespace::Unregistered(urn) => m.get_mut(urn.as_str()).and_then(Value::as_object_mut),
    }
}

fn ns_key(ns: &Namespace) -> Option<String> {
    match ns {
        Namespace::Core => None,
        Namespace::Extension(urn) => Some(urn.to_string()),
        Namespace::Unregistered(urn) => Some(urn.clone()),
    }
}

fn copy_path(from: &mut Map<String, Value>, to: &mut Map<String, Value>, p: &AttrPath) {
    let Some(src) = holder(from, &p.ns) else {
        return;
    };
    let Some(v) = src.get(&p.attr).cloned() else {
        return;
    };
    let picked = match &p.sub {
        None => v,
        Some(sub) => match v {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .filter_map(|i| {
                        i.get(sub.as_str()).cloned().map(|s| Value::Object(Map::from_iter([(sub.clone(), s)])))
                    })
                    .collect(),
            ),
            Value::Object(o) => match o.get(sub.as_str()) {
                Some(s) => Value::Object(Map::from_iter([(sub.clone(), s.clone())])),
                None => return,
            },
            _ => return,
        },
    };
    let dst = match ns_key(&p.ns) {
        None => to,
        Some(k) => {
            let entry = to.entry(k).or_insert_with(|| Value::Object(Map::new()));
            match entry.as_object_mut() {
                Some(o) => o,
                None => return,
            }
        }
    };
    match (dst.get_mut(&p.attr), picked) {
        (Some(Value::Object(existing)), Value::Object(add)) => existing.extend(add),
        (_, picked) => {
            dst.insert(p.attr.clone(), picked);
        }
    }
}

fn remove_path(resource: &mut Map<String, Value>, p: &AttrPath) {
    let Some(src) = holder(resource, &p.ns) else {
        return;
    };
    match &p.sub {
        None => {
            src.remove(&p.attr);
        }
        Some(sub) => match src.get_mut(&p.attr) {
            Some(Value::Object(o)) => {
                o.remove(sub.as_str());
            }
            Some(Value::Array(items)) => {
                for i in items.iter_mut().filter_map(Value::as_object_mut) {
                    i.remove(sub.as_str());
                }
            }
            _ => {}
        },
    }
}
