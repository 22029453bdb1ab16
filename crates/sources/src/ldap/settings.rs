//! What an LDAP source is told, and the defaults each kind of directory implies: Active Directory
//! and OpenLDAP name the same ideas differently (external-apis.md A8).

use serde::{Deserialize, Serialize};

/// Which family of directory the server is; it decides every default below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Directory {
    /// Active Directory (and AD LDS): `sAMAccountName`, `objectGUID`, `userAccountControl`.
    Ad,
    /// OpenLDAP, 389-DS and other RFC 4519 directories: `uid`, `entryUUID`, `groupOfNames`.
    #[default]
    OpenLdap,
}

/// Where group memberships are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Membership {
    /// Groups list their members (`member`, `uniqueMember` or `memberUid`).
    #[default]
    Member,
    /// Users and groups list the groups they are in (`memberOf`, AD's back-link or the OpenLDAP
    /// memberof overlay).
    MemberOf,
}

/// An LDAP source as stored. Every attribute name and filter left out takes the default of its
/// [`Directory`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSettings {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    #[serde(default)]
    pub directory: Directory,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of the certificate authorities that sign the server's certificate; without it the
    /// system's trust store is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Whether the server's certificate is checked; off only for a lab, never in production.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub tls_verify: bool,
    /// Where users are searched (subtree); several bases are read one after another.
    pub user_bases: Vec<String>,
    /// Where groups are searched; empty means the user bases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_bases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_filter: Option<String>,
    /// The attribute that becomes the username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name_attribute: Option<String>,
    /// The attribute that says an account is disabled: `userAccountControl` is read bit-wise
    /// (ACCOUNTDISABLE); any other attribute disables when present and not `false`/`0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_attribute: Option<String>,
    #[serde(default)]
    pub membership: Membership,
    /// Only users who are members of this group, directly or through nested groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_group: Option<String>,
    /// Entries per page of the paged-results control; Active Directory caps pages at 1000.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn default_page_size() -> u32 {
    500
}

/// LDAP_MATCHING_RULE_IN_CHAIN: Active Directory follows nested groups on the server.
const AD_IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

impl LdapSettings {
    pub fn user_filter(&self) -> String {
        self.user_filter.clone().unwrap_or_else(|| match self.directory {
            Directory::Ad => "(&(objectCategory=person)(objectClass=user))".into(),
            Directory::OpenLdap => "(objectClass=inetOrgPerson)".into(),
        })
    }

    pub fn group_filter(&self) -> String {
        self.group_filter.clone().unwrap_or_else(|| match self.directory {
            Directory::Ad => "(objectClass=group)".into(),
            Directory::OpenLdap => {
                "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))".into()
            }
        })
    }

    pub fn group_bases(&self) -> &[String] {
        if self.group_bases.is_empty() { &self.user_bases } else { &self.group_bases }
    }

    pub fn username_attribute(&self) -> &str {
        self.username_attribute.as_deref().unwrap_or(match self.directory {
            Directory::Ad => "sAMAccountName",
            Directory::OpenLdap => "uid",
        })
    }

    pub fn group_name_attribute(&self) -> &str {
        self.group_name_attribute.as_deref().unwrap_or("cn")
    }

    pub fn disabled_attribute(&self) -> &str {
        self.disabled_attribute.as_deref().unwrap_or(match self.directory {
            Directory::Ad => "userAccountControl",
            Directory::OpenLdap => "pwdAccountLockedTime",
        })
    }

    /// The immutable id of an entry; it survives renames and moves.
    pub fn id_attribute(&self) -> &'static str {
        match self.directory {
            Directory::Ad => "objectGUID",
            Directory::OpenLdap => "entryUUID",
        }
    }

    /// The attributes that move forward whenever an entry changes, best first: Active
    /// Directory's update sequence number (per domain controller); OpenLDAP's change sequence
    /// number, unique per change; the modification time, to the second, elsewhere.
    pub fn change_attributes(&self) -> &'static [&'static str] {
        match self.directory {
            Directory::Ad => &["uSNChanged"],
            Directory::OpenLdap => &["entryCSN", "modifyTimestamp"],
        }
    }

    /// `filter` narrowed to entries changed after `cursor` (`attribute:value`, the latest value
    /// seen). Sequence numbers are exact; a modification time counts seconds, so the entries of
    /// the cursor's second are read again rather than risk missing a later change in that second.
    pub fn changed_since(&self, filter: &str, cursor: &str) -> Option<String> {
        let (attribute, mark) = cursor.split_once(':')?;
        let mark_escaped = ldap3::ldap_escape(mark);
        let condition = match attribute {
            "uSNChanged" => format!("(uSNChanged>={})", mark.parse::<u64>().ok()? + 1),
            "entryCSN" => format!("(entryCSN>={mark_escaped})(!(entryCSN={mark_escaped}))"),
            "modifyTimestamp" => format!("(modifyTimestamp>={mark_escaped})"),
            _ => return None,
        };
        Some(format!("(&{filter}{condition})"))
    }

    /// The attribute that holds an entry's own DN, for finding entries by DN in one search.
    pub fn dn_attribute(&self) -> &'static str {
        match self.directory {
            Directory::Ad => "distinguishedName",
            Directory::OpenLdap => "entryDN",
        }
    }

    /// The attributes read of each user.
    pub fn user_attributes(&self) -> Vec<String> {
        let mut list: Vec<String> = [self.id_attribute(), self.username_attribute(), self.disabled_attribute()]
            .into_iter()
            .chain(self.change_attributes().iter().copied())
            .chain(["mail", "givenName", "sn", "displayName", "cn"])
            .map(String::from)
            .collect();
        if self.membership == Membership::MemberOf {
            list.push("memberOf".into());
        }
        list
    }

    /// The attributes read of each group.
    pub fn group_attributes(&self) -> Vec<String> {
        let mut list = vec![self.id_attribute().to_string(), self.group_name_attribute().to_string()];
        list.extend(self.change_attributes().iter().map(|a| a.to_string()));
        match self.membership {
            Membership::Member => list.extend(["member", "uniqueMember", "memberUid"].map(String::from)),
            Membership::MemberOf => list.push("memberOf".into()),
        }
        list
    }

    /// A filter for the one user with this username.
    pub fn one_user_filter(&self, username: &str) -> String {
        format!("(&{}({}={}))", self.users_filter(), self.username_attribute(), ldap3::ldap_escape(username))
    }

    /// Groups that hold `dn` (or `username`, for posixGroup's bare `memberUid`) as a direct member.
    pub fn groups_of_filter(&self, dn: &str, username: &str) -> String {
        let dn = ldap3::ldap_escape(dn);
        let holds = match self.directory {
            Directory::Ad => format!("(member={dn})"),
            // posixGroup lists bare usernames, and never groups.
            Directory::OpenLdap if username.is_empty() => format!("(|(member={dn})(uniqueMember={dn}))"),
            Directory::OpenLdap => {
                format!("(|(member={dn})(uniqueMember={dn})(memberUid={}))", ldap3::ldap_escape(username))
            }
        };
        format!("(&{}{holds})", self.group_filter())
    }

    /// The filter users are read with. Scoped to a group, Active Directory follows the nesting
    /// itself (LDAP_MATCHING_RULE_IN_CHAIN) so only members are sent; other directories have no
    /// such rule, and the scope is applied after reading.
    pub fn users_filter(&self) -> String {
        match (&self.only_group, self.directory) {
            (Some(group), Directory::Ad) => {
                format!("(&{}(memberOf:{AD_IN_CHAIN}:={}))", self.user_filter(), ldap3::ldap_escape(group.as_str()))
            }
            _ => self.user_filter(),
        }
    }

    /// Whether the scope to `only_group` is left to idsync.
    pub fn scope_after_reading(&self) -> bool {
        self.only_group.is_some() && self.directory != Directory::Ad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(directory: Directory) -> LdapSettings {
        serde_json::from_value(serde_json::json!({
            "url": "ldap://dc1", "directory": directory, "user_bases": ["dc=corp,dc=example"]
        }))
        .unwrap()
    }

    #[test]
    fn active_directory_defaults_and_nested_scope_on_the_server() {
        let mut ad = settings(Directory::Ad);
        assert_eq!(ad.username_attribute(), "sAMAccountName");
        assert_eq!(ad.id_attribute(), "objectGUID");
        assert_eq!(
            ad.groups_of_filter("CN=Ann (x),OU=People,DC=corp", "alee"),
            "(&(objectClass=group)(member=CN=Ann \\28x\\29,OU=People,DC=corp))"
        );
        assert_eq!(
            ad.changed_since("(objectClass=user)", "uSNChanged:41").unwrap(),
            "(&(objectClass=user)(uSNChanged>=42))"
        );
        let csn = "20261123180537.836931Z#000000#000#000000";
        assert_eq!(
            ad.changed_since("(x=1)", &format!("entryCSN:{csn}")).unwrap(),
            format!("(&(x=1)(entryCSN>={csn})(!(entryCSN={csn})))")
        );
        assert!(ad.changed_since("(x=1)", "garbage").is_none());
        ad.only_group = Some("CN=Jira Users,OU=Groups,DC=corp".into());
        assert_eq!(
            ad.one_user_filter("alee"),
            "(&(&(&(objectCategory=person)(objectClass=user))(memberOf:1.2.840.113556.1.4.1941:=CN=Jira Users,OU=Groups,DC=corp))(sAMAccountName=alee))"
        );
        assert!(!ad.scope_after_reading());
    }

    #[test]
    fn openldap_defaults_escape_user_input() {
        let ol = settings(Directory::OpenLdap);
        assert_eq!(ol.one_user_filter("a*)(uid=b"), "(&(objectClass=inetOrgPerson)(uid=a\\2a\\29\\28uid=b))");
        assert_eq!(ol.group_bases(), ["dc=corp,dc=example".to_string()]);
        assert_eq!(ol.page_size, 500);
    }

    #[test]
    fn unknown_settings_are_refused() {
        let bad = serde_json::from_value::<LdapSettings>(serde_json::json!({
            "url": "ldap://x", "user_bases": [], "userbase": "typo"
        }));
        assert!(bad.unwrap_err().to_string().contains("userbase"));
    }
}
