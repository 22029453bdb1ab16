//! Reading one value out of a source record by a SCIM attribute path, the way administrators
//! expect from a mapping: for a multi-valued attribute the primary value wins, then the first.

use model::eval::{container, get_ci, matches_element};
use model::patch::PatchPath;
use serde_json::Value;

/// The string value `path` names in `record`, if any. Numbers and booleans are rendered as text;
/// empty strings count as absent.
pub fn extract(record: &Value, path: &PatchPath) -> Option<String> {
    let target = &path.target;
    let value = container(record, target).and_then(|c| get_ci(c, &target.attr))?;
    let chosen = match value {
        Value::Array(items) => {
            let candidates: Vec<&Value> =
                items.iter().filter(|item| path.filter.as_ref().is_none_or(|f| matches_element(f, item))).collect();
            let primary = candidates.iter().find(|item| get_ci(item, "primary").is_some_and(is_true));
            *primary.or(candidates.first())?
        }
        other => other,
    };
    let leaf = match (&target.sub, chosen) {
        (Some(sub), v) => get_ci(v, sub)?,
        (None, v @ Value::Object(_)) => get_ci(v, "value")?,
        (None, v) => v,
    };
    match leaf {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A display name for a record whose mapped attribute is empty: `name.formatted`, then given and
/// family name.
pub fn fallback_display_name(record: &Value) -> Option<String> {
    let name = get_ci(record, "name")?;
    if let Some(Value::String(f)) = get_ci(name, "formatted")
        && !f.is_empty()
    {
        return Some(f.clone());
    }
    let part = |k| get_ci(name, k).and_then(Value::as_str).filter(|s| !s.is_empty());
    match (part("givenName"), part("familyName")) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::FilterLimits;
    use model::patch::parse_path;
    use model::schema::USER_TYPE;
    use serde_json::json;

    fn path(p: &str) -> PatchPath {
        parse_path(p, &USER_TYPE, FilterLimits::default()).unwrap()
    }

    #[test]
    fn primary_value_wins_then_first() {
        let user = json!({"emails": [{"value": "a@x"}, {"value": "b@x", "primary": true}]});
        assert_eq!(extract(&user, &path("emails.value")).as_deref(), Some("b@x"));
        assert_eq!(extract(&user, &path("emails")).as_deref(), Some("b@x"));
        let user = json!({"emails": [{"value": "a@x", "type": "home"}, {"value": "w@x", "type": "work"}]});
        assert_eq!(extract(&user, &path("emails.value")).as_deref(), Some("a@x"));
        assert_eq!(extract(&user, &path("emails[type eq \"work\"].value")).as_deref(), Some("w@x"));
    }

    #[test]
    fn extension_and_nested_attributes() {
        let user = json!({
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "employeeNumber": ""}
        });
        assert_eq!(extract(&user, &path("name.givenName")).as_deref(), Some("Ann"));
        assert_eq!(
            extract(&user, &path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")).as_deref(),
            Some("R&D")
        );
        assert_eq!(
            extract(&user, &path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")),
            None
        );
        assert_eq!(fallback_display_name(&user).as_deref(), Some("Ann Lee"));
    }
}
