//! Stored resources as SCIM JSON: `schemas`, `id`, the data, derived `members`/`groups`, `meta`.

use model::ResourceKind;
use model::resource::{Projection, schemas_for};
use serde_json::{Map, Value, json};
use store::StoredResource;

pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Parses `W/"3"`, `"3"` or `*` (any version: `Some(None)`); other text matches no version.
pub fn parse_etag(s: &str) -> Option<Option<u64>> {
    let s = s.trim();
    if s == "*" {
        return Some(None);
    }
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).and_then(|v| v.parse().ok()).map(Some)
}

pub fn location(base: &str, kind: ResourceKind, id: &str) -> String {
    format!("{base}/{}/{id}", kind.endpoint())
}

pub fn render(r: &StoredResource, base: &str, projection: &Projection) -> Value {
    let rt = r.kind.definition();
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(schemas_for(&r.data, rt)));
    out.insert("id".into(), json!(r.id));
    for (k, v) in &r.data {
        out.insert(k.clone(), v.clone());
    }
    if let Some(members) = &r.members {
        let list: Vec<Value> = members
            .iter()
            .map(|m| {
                let mut e = json!({"value": m.id});
                if let Some(kind) = m.kind {
                    e["$ref"] = json!(location(base, kind, &m.id));
                    e["type"] = json!(kind.as_str());
                }
                if let Some(d) = &m.display {
                    e["display"] = json!(d);
                }
                e
            })
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    if let Some(groups) = &r.groups
        && !groups.is_empty()
    {
        let list: Vec<Value> = groups
                .iter()
                .map(|g| json!({"value": g.id, "$ref": location(base, ResourceKind::Group, &g.id), "display": g.display, "type": "direct"}))
                .collect();
        out.insert("groups".into(), Value::Array(list));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": r.kind.as_str(),
            "created": r.created,
            "lastModified": r.last_modified,
            "location": location(base, r.kind, &r.id),
            "version": etag(r.version),
        }),
    );
    out.remove("password");
    projection.apply(&mut out);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        assert_eq!(parse_etag(&etag(7)), Some(Some(7)));
        assert_eq!(parse_etag("\"7\""), Some(Some(7)));
        assert_eq!(parse_etag("*"), Some(None));
        assert_eq!(parse_etag("W/\"abc\""), None);
    }
}
