//! Attribute paths (`userName`, `name.givenName`, `urn:…:enterprise:2.0:User:manager.value`) resolved
//! against a resource type's schemas, so that every later step works with canonical names and knows
//! the attribute's type, plurality and case rule.

use std::fmt;

use crate::schema::{AttrType, AttributeDef, COMMON_ATTRIBUTES, ResourceTypeDef};

/// Where in a resource an attribute lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    /// Top level: the core schema and the common attributes (`id`, `externalId`, `meta`).
    Core,
    /// Inside the object keyed by a registered extension schema URN.
    Extension(&'static str),
    /// Inside the object keyed by an extension URN we have no schema for; kept as the client sent it.
    Unregistered(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub ns: Namespace,
    pub attr: String,
    pub sub: Option<String>,
    pub def: Option<&'static AttributeDef>,
    pub sub_def: Option<&'static AttributeDef>,
}

impl AttrPath {
    /// Names an attribute a server never returns (`password`): it may be neither filtered nor
    /// sorted on, since either would reveal it one guess at a time (RFC 7644 §3.4.2.2).
    pub fn is_never_returned(&self) -> bool {
        [self.def, self.sub_def].into_iter().flatten().any(|d| d.returned == crate::schema::Returned::Never)
    }

    pub fn is_multi_valued(&self) -> bool {
        self.def.is_some_and(|d| d.multi_valued)
    }

    /// The definition that governs the compared value: the sub-attribute when there is one, the
    /// implicit `value` sub-attribute of a multi-valued complex attribute, else the attribute itself.
    pub fn value_def(&self) -> Option<&'static AttributeDef> {
        if self.sub.is_some() {
            return self.sub_def;
        }
        let def = self.def?;
        if def.ty == AttrType::Complex {
            return def.sub_attribute("value");
        }
        Some(def)
    }

    pub fn case_exact(&self) -> bool {
        self.value_def().is_some_and(|d| d.case_exact)
    }

    /// None when the attribute is unregistered and its type unknown.
    pub fn value_type(&self) -> Option<AttrType> {
        self.value_def().map(|d| d.ty)
    }

    pub fn is(&self, attr: &str) -> bool {
        self.ns == Namespace::Core && self.attr == attr
    }

    /// The same attribute without the sub-attribute.
    pub fn parent(&self) -> AttrPath {
        AttrPath { sub: None, sub_def: None, ..self.clone() }
    }

    /// A sub-attribute of this (complex) attribute, resolved by name.
    pub fn child(&self, name: &str) -> Result<AttrPath, String> {
        check_name(name)?;
        let mut out = self.parent();
        match self.def {
            Some(def) if def.ty == AttrType::Complex => {
                let sub =
                    def.sub_attribute(name).ok_or_else(|| format!("'{}' has no sub-attribute '{name}'", self.attr))?;
                out.sub = Some(sub.name.to_string());
                out.sub_def = Some(sub);
            }
            Some(_) => {
                return Err(format!("'{}' is not a complex attribute and has no sub-attributes", self.attr));
            }
            None => out.sub = Some(name.to_string()),
        }
        Ok(out)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ns {
            Namespace::Core => {}
            Namespace::Extension(urn) => write!(f, "{urn}:")?,
            Namespace::Unregistered(urn) => write!(f, "{urn}:")?,
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = match chars.next() {
        Some('$') => name == "$ref",
        Some(c) if c.is_ascii_alphabetic() => chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        _ => false,
    };
    if ok { Ok(()) } else { Err(format!("'{name}' is not a valid attribute name")) }
}

/// Splits a schema URN prefix off `token`, when it has one.
fn split_urn<'a>(token: &'a str, rt: &'static ResourceTypeDef) -> Result<(Namespace, &'a str), String> {
    if !token.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return Ok((Namespace::Core, token));
    }
    if rt.schema_ids().any(|id| id.eq_ignore_ascii_case(token)) {
        return Err(format!("'{token}' is a schema URN without an attribute name"));
    }
    for id in rt.schema_ids() {
        let n = id.len();
        if token.len() > n + 1
            && token.is_char_boundary(n)
            && token[..n].eq_ignore_ascii_case(id)
            && token.as_bytes()[n] == b':'
        {
            let ns = if id == rt.schema.id { Namespace::Core } else { Namespace::Extension(id) };
            return Ok((ns, &token[n + 1..]));
        }
    }
    match token.rfind(':') {
        Some(i) if i > 4 && i + 1 < token.len() => {
            let urn = &token[..i];
            if !urn.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:+".contains(&b)) {
                return Err(format!("'{}' is not a valid schema URN", urn.escape_debug()));
            }
            Ok((Namespace::Unregistered(urn.to_string()), &token[i + 1..]))
        }
        _ => Err(format!("'{token}' is a schema URN without an attribute name")),
    }
}

/// Resolves `token` (as written by a client) to a canonical attribute path of `rt`.
pub fn resolve(token: &str, rt: &'static ResourceTypeDef) -> Result<AttrPath, String> {
    let (ns, rest) = split_urn(token, rt)?;
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    check_name(attr)?;
    let (ns, def) = match ns {
        Namespace::Core => {
            let found = rt
                .schema
                .attribute(attr)
                .map(|d| (Namespace::Core, d))
                .or_else(|| {
                    COMMON_ATTRIBUTES.iter().find(|a| a.name.eq_ignore_ascii_case(attr)).map(|d| (Namespace::Core, d))
                })
                // Clients often name enterprise attributes without their URN; accept that when unambiguous.
                .or_else(|| {
                    rt.extensions.iter().find_map(|s| s.attribute(attr).map(|d| (Namespace::Extension(s.id), d)))
                });
            match found {
                Some((ns, d)) => (ns, Some(d)),
                None => {
                    return Err(format!("'{attr}' is not an attribute of {}", rt.kind.as_str()));
                }
            }
        }
        Namespace::Extension(urn) => {
            let schema = rt.extension(urn).ok_or_else(|| format!("unknown schema {urn}"))?;
            let d = schema.attribute(attr).ok_or_else(|| format!("'{attr}' is not an attribute of schema {urn}"))?;
            (Namespace::Extension(urn), Some(d))
        }
        unregistered @ Namespace::Unregistered(_) => (unregistered, None),
    };
    let path = AttrPath {
        ns,
        attr: def.map_or_else(|| attr.to_string(), |d| d.name.to_string()),
        sub: None,
        def,
        sub_def: None,
    };
    match sub {
        None => Ok(path),
        Some(s) if s.contains('.') => Err(format!("'{token}' nests deeper than attribute.subAttribute")),
        Some(s) => path.child(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_TYPE};

    #[test]
    fn resolves_case_insensitively_to_canonical_names() {
        let p = resolve("NAME.GIVENNAME", &USER_TYPE).unwrap();
        assert_eq!(p.to_string(), "name.givenName");
        assert!(!p.case_exact());
        let p = resolve("urn:ietf:params:scim:schemas:core:2.0:User:userName", &USER_TYPE).unwrap();
        assert_eq!(p.to_string(), "userName");
    }

    #[test]
    fn resolves_extension_and_unregistered_urns() {
        let p =
            resolve("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", &USER_TYPE).unwrap();
        assert_eq!(p.ns, Namespace::Extension(ENTERPRISE_USER_SCHEMA));
        assert_eq!(p.sub.as_deref(), Some("value"));
        let p = resolve("department", &USER_TYPE).unwrap();
        assert_eq!(p.ns, Namespace::Extension(ENTERPRISE_USER_SCHEMA));
        let p = resolve("urn:example:custom:1.0:User:badge", &USER_TYPE).unwrap();
        assert_eq!(p.ns, Namespace::Unregistered("urn:example:custom:1.0:User".into()));
        assert_eq!(p.attr, "badge");
    }

    #[test]
    fn rejects_unknown_and_malformed_names() {
        assert!(resolve("nosuch", &USER_TYPE).is_err());
        assert!(resolve("name.nosuch", &USER_TYPE).is_err());
        assert!(resolve("userName.value", &USER_TYPE).is_err());
        assert!(resolve("a.b.c", &USER_TYPE).is_err());
        assert!(resolve("9abc", &USER_TYPE).is_err());
        assert!(resolve("urn:ietf:params:scim:schemas:core:2.0:User", &USER_TYPE).is_err());
        assert!(resolve("urn:\0\0:attr", &USER_TYPE).is_err(), "found by fuzzing");
    }

    #[test]
    fn common_attributes_resolve() {
        let p = resolve("meta.lastModified", &USER_TYPE).unwrap();
        assert_eq!(p.value_type(), Some(AttrType::DateTime));
        assert!(resolve("externalId", &USER_TYPE).unwrap().case_exact());
        let emails = resolve("emails", &USER_TYPE).unwrap();
        assert!(emails.is_multi_valued());
        assert_eq!(emails.value_def().unwrap().name, "value");
    }
}
