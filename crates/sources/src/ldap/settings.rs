//! What an LDAP source is told, and the defaults each kind of directory implies: Active Directory
//! and OpenLDAP name the same ideas differently (external-apis.md A8).

use std::collections::BTreeMap;

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
    /// Only users who are members of these groups (any of them), directly or through nested
    /// groups. Stored as one DN or a list.
    #[serde(
        default,
        rename = "only_group",
        deserialize_with = "crate::one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub only_groups: Vec<String>,
    /// Further attributes carried, each to a SCIM path (`extensionAttribute1` →
    /// `urn:…:User:extensionAttribute1`, `roomNumber` → `addresses.streetAddress`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
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

/// Where and why `filter` is not an LDAP filter (RFC 4515), or None when it is one.
fn filter_problem(filter: &str) -> Option<String> {
    let mut open: Vec<usize> = Vec::new();
    for (at, c) in filter.char_indices() {
        match c {
            '(' => open.push(at),
            ')' => {
                let Some(start) = open.pop() else {
                    return Some(format!("the ')' at character {} closes nothing", at + 1));
                };
                let inner = &filter[start + 1..at];
                let composite = inner.starts_with(['&', '|', '!']);
                if !composite && !inner.contains('=') {
                    return Some(format!(
                        "'({inner})' at character {} has no comparison such as attr=value",
                        start + 1
                    ));
                }
            }
            _ if open.is_empty() && !c.is_whitespace() => {
                return Some(format!("character {} ('{c}') is outside any parentheses", at + 1));
            }
            _ => {}
        }
    }
    if let Some(start) = open.pop() {
        return Some(format!("the '(' at character {} is never closed", start + 1));
    }
    ldap3::parse_filter(filter).is_err().then(|| "it does not parse (check the operators and escapes)".to_string())
}

/// LDAP_MATCHING_RULE_IN_CHAIN: Active Directory follows nested groups on the server.
const AD_IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

impl LdapSettings {
    pub fn user_filter(&self) -> String {
        self.user_filter.clone().unwrap_or_else(|| match self.directory {
            // System accounts (krbtgt, Guest, and whatever AD marks critical) are nobody's users.
            Directory::Ad => "(&(objectCategory=person)(objectClass=user)(!(isCriticalSystemObject=TRUE))\
                (!(sAMAccountName=krbtgt))(!(sAMAccountName=Guest)))"
                .into(),
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

    /// The attributes read of each user: the ones every directory has that map to SCIM, those an
    /// administrator named, and on AD the primary group.
    pub fn user_attributes(&self) -> Vec<String> {
        let mut list: Vec<String> = [self.id_attribute(), self.username_attribute(), self.disabled_attribute()]
            .into_iter()
            .chain(self.change_attributes().iter().copied())
            .chain(["mail", "givenName", "sn", "displayName", "cn"])
            .chain(super::entry::CARRIED.iter().map(|(name, _)| *name))
            .map(String::from)
            .chain(self.attributes.keys().cloned())
            .collect();
        if self.membership == Membership::MemberOf {
            list.push("memberOf".into());
        }
        if self.directory == Directory::Ad {
            list.push("primaryGroupID".into());
        }
        list.sort_by_key(|a| a.to_lowercase());
        list.dedup_by_key(|a| a.to_lowercase());
        list
    }

    /// The attributes read of each group.
    pub fn group_attributes(&self) -> Vec<String> {
        let mut list = vec![self.id_attribute().to_string(), self.group_name_attribute().to_string()];
        list.extend(self.change_attributes().iter().map(|a| a.to_string()));
        list.extend(["mail", "description"].map(String::from));
        if self.directory == Directory::Ad {
            // Constructed, so only returned when asked for: the RID users name as primaryGroupID.
            list.push("primaryGroupToken".into());
        }
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

    /// A filter for the user an administrator looks up: by username, userPrincipalName or mail.
    pub fn lookup_filter(&self, name: &str) -> String {
        let name = ldap3::ldap_escape(name);
        let mut by: Vec<&str> = vec![self.username_attribute(), "mail"];
        if self.directory == Directory::Ad {
            by.push("userPrincipalName");
        }
        by.dedup_by_key(|a| a.to_lowercase());
        let any: String = by.iter().map(|a| format!("({a}={name})")).collect();
        format!("(&{}(|{any}))", self.users_filter())
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
        if self.only_groups.is_empty() || self.directory != Directory::Ad {
            return self.user_filter();
        }
        let any: String = self
            .only_groups
            .iter()
            .map(|g| format!("(memberOf:{AD_IN_CHAIN}:={})", ldap3::ldap_escape(g.as_str())))
            .collect();
        if self.only_groups.len() == 1 {
            format!("(&{}{any})", self.user_filter())
        } else {
            format!("(&{}(|{any}))", self.user_filter())
        }
    }

    /// Whether the scope to `only_groups` is left to idsync.
    pub fn scope_after_reading(&self) -> bool {
        !self.only_groups.is_empty() && self.directory != Directory::Ad
    }

    /// What makes these settings unusable, in terms of the flags that set them: filters that are
    /// not LDAP filters (with the position), page sizes the server will not honour.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (flag, filter) in [("--user-filter", &self.user_filter), ("--group-filter", &self.group_filter)] {
            if let Some(problem) = filter.as_deref().and_then(filter_problem) {
                out.push(format!("{flag} is not an LDAP filter: {problem}"));
            }
        }
        if self.page_size == 0 {
            out.push("--page-size must be at least 1".into());
        }
        if self.directory == Directory::Ad && self.page_size > 1000 {
            out.push(format!(
                "--page-size {} is more than Active Directory returns per page (MaxPageSize, 1000 by default); use 1000 or less",
                self.page_size
            ));
        }
        for (attribute, path) in &self.attributes {
            if attribute.trim().is_empty() || path.trim().is_empty() {
                out.push(format!("--attribute '{attribute}={path}' needs an LDAP attribute and a SCIM path"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_filters_and_page_sizes_name_the_flag_and_the_place() {
        let mut s = settings(Directory::Ad);
        s.user_filter = Some("(&(objectClass=user)(cn=ann)".into());
        s.group_filter = Some("(objectClass=group))".into());
        s.page_size = 5000;
        let problems = s.problems().join("; ");
        assert!(
            problems.contains("--user-filter is not an LDAP filter: the '(' at character 1 is never closed"),
            "{problems}"
        );
        assert!(
            problems.contains("--group-filter is not an LDAP filter: the ')' at character 20 closes nothing"),
            "{problems}"
        );
        assert!(problems.contains("MaxPageSize"), "{problems}");
        s.user_filter = Some("(&(objectClass=user)(ann))".into());
        assert!(s.problems()[0].contains("'(ann)' at character 21"), "{:?}", s.problems());
        s.user_filter = Some("(objectClass=user)".into());
        s.group_filter = None;
        s.page_size = 0;
        assert_eq!(s.problems(), ["--page-size must be at least 1"]);
    }

    #[test]
    fn one_scoping_group_or_several_are_read_alike() {
        let one: LdapSettings = serde_json::from_value(
            serde_json::json!({"url": "ldap://x", "user_bases": ["dc=x"], "only_group": "cn=a,dc=x"}),
        )
        .unwrap();
        let many: LdapSettings = serde_json::from_value(
            serde_json::json!({"url": "ldap://x", "user_bases": ["dc=x"], "only_group": ["cn=a,dc=x", "cn=b,dc=x"]}),
        )
        .unwrap();
        assert_eq!((one.only_groups.len(), many.only_groups.len()), (1, 2));
    }

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
        ad.only_groups = vec!["CN=Jira Users,OU=Groups,DC=corp".into()];
        assert_eq!(
            ad.users_filter(),
            format!("(&{}(memberOf:1.2.840.113556.1.4.1941:=CN=Jira Users,OU=Groups,DC=corp))", ad.user_filter())
        );
        assert!(!ad.scope_after_reading());
        ad.only_groups.push("CN=Wiki,OU=Groups,DC=corp".into());
        assert!(
            ad.users_filter().contains("(|(memberOf:1.2.840.113556.1.4.1941:=CN=Jira Users"),
            "{}",
            ad.users_filter()
        );
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
