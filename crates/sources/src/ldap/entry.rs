//! One directory entry as idsync reads it: attribute names compared without case (as LDAP does),
//! binary identifiers turned into their usual text form.

use std::collections::{BTreeMap, HashMap};

use ldap3::SearchEntry;
use serde_json::{Map, Value, json};

use crate::{PulledUser, scim_user};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The attributes directories commonly hold, read of every user and carried to SCIM (core and
/// enterprise extension). `employeeID` comes after `employeeNumber`, so AD's wins where both are set.
pub const CARRIED: [(&str, &str); 8] = [
    ("title", "title"),
    ("telephoneNumber", "phoneNumbers"),
    ("department", "department"),
    ("company", "organization"),
    ("employeeNumber", "employeeNumber"),
    ("employeeID", "employeeNumber"),
    ("manager", "manager"),
    ("userPrincipalName", ""),
];

pub struct Entry {
    pub dn: String,
    /// The immutable id (entryUUID, or objectGUID in its text form); None when the bind account
    /// may not read it.
    pub id: Option<String>,
    /// Attribute values by lower-cased name.
    attributes: HashMap<String, Vec<String>>,
}

impl Entry {
    pub fn new(found: SearchEntry, id_attribute: &str) -> Self {
        let mut attributes: HashMap<String, Vec<String>> = HashMap::new();
        for (name, values) in found.attrs {
            // A GUID whose 16 bytes happen to be valid UTF-8 arrives as text; it is still binary.
            let values = if name.eq_ignore_ascii_case("objectGUID") {
                values.iter().map(|v| guid(v.as_bytes())).collect()
            } else {
                values
            };
            attributes.insert(name.to_lowercase(), values);
        }
        for (name, values) in found.bin_attrs {
            let text = values
                .iter()
                .map(|v| if name.eq_ignore_ascii_case("objectGUID") { guid(v) } else { base64(v) })
                .collect();
            attributes.insert(name.to_lowercase(), text);
        }
        let id = attributes.get(&id_attribute.to_lowercase()).and_then(|v| v.first()).cloned();
        Entry { dn: found.dn, id, attributes }
    }

    pub fn values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.attributes.get(&name.to_lowercase()).into_iter().flatten().map(String::as_str)
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    /// Active Directory hands out at most 1,500 values of an attribute per entry, as
    /// `member;range=0-1499`; the rest is read by asking for `member;range=1500-*`, and so on,
    /// until a range ends in `*`. Moves the values of a ranged `name` into `name` and returns the
    /// first value of the next range, or None when there is no more.
    pub fn fold_range(&mut self, name: &str) -> Option<u64> {
        let prefix = format!("{};range=", name.to_lowercase());
        let key = self.attributes.keys().find(|k| k.starts_with(&prefix))?.clone();
        let values = self.attributes.remove(&key).unwrap_or_default();
        self.attributes.entry(name.to_lowercase()).or_default().extend(values);
        let (_, end) = key[prefix.len()..].split_once('-')?;
        end.parse::<u64>().ok().map(|end| end + 1)
    }

    /// Takes over the ranged values of `name` that `more` (the same entry, read again for the
    /// next range) carries.
    pub fn absorb_range(&mut self, name: &str, more: Entry) {
        let prefix = format!("{};range=", name.to_lowercase());
        for (key, values) in more.attributes.into_iter().filter(|(k, _)| k.starts_with(&prefix)) {
            self.attributes.insert(key, values);
        }
    }

    /// The user in SCIM form, or why it cannot be used. `manager` holds the manager's DN until the
    /// read resolves it (see `set_manager`); `custom` carries further attributes to SCIM paths.
    pub fn user(
        &self,
        username_attribute: &str,
        disabled_attribute: &str,
        custom: &BTreeMap<String, String>,
    ) -> Result<PulledUser, String> {
        let id = self.id.clone().ok_or_else(|| {
            format!("user {} has no immutable id: the bind account must be able to read entryUUID/objectGUID", self.dn)
        })?;
        let username = self
            .first(username_attribute)
            .ok_or_else(|| format!("user {} has no {username_attribute}, so it has no username", self.dn))?;
        let mut record = scim_user(
            &Value::String(username.to_string()),
            self.first("givenName").unwrap_or_default(),
            self.first("sn").unwrap_or_default(),
            self.first("mail"),
            !self.is_disabled(disabled_attribute),
        );
        if let Some(display) = self.first("displayName").or_else(|| self.first("cn")) {
            record.insert("displayName".into(), Value::String(display.to_string()));
        }
        let mut enterprise = Map::new();
        for (attribute, target) in CARRIED {
            let Some(value) = self.first(attribute).map(|v| Value::String(v.to_string())) else { continue };
            match target {
                "" => {}
                "title" => _ = record.insert("title".into(), value),
                "phoneNumbers" => _ = record.insert(target.into(), json!([{"value": value, "type": "work"}])),
                "manager" => _ = enterprise.insert(target.into(), json!({"value": value})),
                _ => _ = enterprise.insert(target.into(), value),
            }
        }
        if !enterprise.is_empty() {
            record.insert(ENTERPRISE.into(), Value::Object(enterprise));
        }
        for (attribute, path) in custom {
            if let Some(value) = self.first(attribute) {
                set_path(&mut record, path, Value::String(value.to_string()));
            }
        }
        Ok(PulledUser { external_id: id, record })
    }

    /// `userAccountControl` carries ACCOUNTDISABLE (0x2) among other bits; any other attribute
    /// (a lock time, `nsAccountLock: true`, a shadow expiry) disables by being set.
    fn is_disabled(&self, attribute: &str) -> bool {
        let Some(value) = self.first(attribute) else { return false };
        if attribute.eq_ignore_ascii_case("userAccountControl") {
            return value.trim().parse::<i64>().is_ok_and(|flags| flags & 0x2 != 0);
        }
        !matches!(value.trim().to_ascii_lowercase().as_str(), "" | "false" | "0")
    }

    /// A group's `mail` and `description`, under the extension SCIM's Group schema lacks them in.
    pub fn extra_attributes(&self) -> Map<String, Value> {
        let carried: Map<String, Value> = ["mail", "description"]
            .iter()
            .filter_map(|a| self.first(a).map(|v| (a.to_string(), Value::String(v.to_string()))))
            .collect();
        if carried.is_empty() {
            return Map::new();
        }
        Map::from_iter([(crate::GROUP_EXTENSION.to_string(), Value::Object(carried))])
    }

    /// Every attribute, for `source lookup`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("dn".into(), Value::String(self.dn.clone()));
        let mut names: Vec<&String> = self.attributes.keys().collect();
        names.sort();
        for name in names {
            let values = &self.attributes[name];
            let value = match values.as_slice() {
                [one] => Value::String(one.clone()),
                many => Value::Array(many.iter().cloned().map(Value::String).collect()),
            };
            out.insert(name.clone(), value);
        }
        Value::Object(out)
    }
}

/// The manager's DN a user record holds while the read resolves it.
pub fn manager_dn(record: &Map<String, Value>) -> Option<String> {
    record.get(ENTERPRISE)?.get("manager")?.get("value")?.as_str().map(String::from)
}

/// Points a user's manager at the manager's record (its external id, as every member reference
/// of a pulled source is), or drops the manager when the DN names no user the source reads.
pub fn set_manager(record: &mut Map<String, Value>, manager: Option<&str>) {
    let Some(Value::Object(enterprise)) = record.get_mut(ENTERPRISE) else { return };
    match manager {
        Some(id) => _ = enterprise.insert("manager".into(), json!({"value": id})),
        None => _ = enterprise.remove("manager"),
    }
}

/// Sets `path` (`title`, `name.givenName`, `urn:…:User:costCenter`) in a SCIM record.
fn set_path(record: &mut Map<String, Value>, path: &str, value: Value) {
    let (container, rest) = match path.rsplit_once(':') {
        Some((urn, attribute)) if path.starts_with("urn:") => {
            let Value::Object(inner) = record.entry(urn.to_string()).or_insert_with(|| json!({})) else { return };
            (inner, attribute)
        }
        _ => (record, path),
    };
    match rest.split_once('.') {
        Some((attribute, sub)) => {
            if let Value::Object(inner) = container.entry(attribute.to_string()).or_insert_with(|| json!({})) {
                inner.insert(sub.to_string(), value);
            }
        }
        None => _ = container.insert(rest.to_string(), value),
    }
}

/// Active Directory's objectGUID: 16 bytes whose first three fields are little-endian.
fn guid(bytes: &[u8]) -> String {
    let Ok(b) = <[u8; 16]>::try_from(bytes) else { return base64(bytes) };
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_guid_reads_as_active_directory_prints_it() {
        // The example of external-apis.md A8: bytes de ad be ef 00 … 00.
        let bytes = [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(guid(&bytes), "efbeadde-0000-0000-0000-000000000000");
        let bytes: Vec<u8> = (1..=16).collect();
        assert_eq!(guid(&bytes), "04030201-0605-0807-090a-0b0c0d0e0f10");
    }

    fn entry(attribute: &str, value: &str) -> Entry {
        let attributes = HashMap::from([(attribute.to_lowercase(), vec![value.to_string()])]);
        Entry { dn: "cn=x".into(), id: Some("1".into()), attributes }
    }

    #[test]
    fn disabled_by_account_control_bit_or_by_a_lock_attribute() {
        assert!(!entry("userAccountControl", "512").is_disabled("userAccountControl"));
        assert!(entry("userAccountControl", "514").is_disabled("userAccountControl"));
        assert!(entry("userAccountControl", "66050").is_disabled("userAccountControl"));
        assert!(entry("pwdAccountLockedTime", "000001010000Z").is_disabled("pwdAccountLockedTime"));
        assert!(!entry("nsAccountLock", "false").is_disabled("nsAccountLock"));
        assert!(!entry("mail", "x").is_disabled("pwdAccountLockedTime"));
    }
}
