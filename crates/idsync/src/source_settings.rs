//! The connector flags of `source add` and `source edit`: each flag names one setting of the
//! stored connector, so adding lays the flags over nothing and editing lays them over what is
//! stored; the connector's own types then refuse what does not fit the kind.

use anyhow::bail;
use clap::Args;
use serde_json::{Map, Value, json};
use sources::SourceConfig;

#[derive(Args, Debug, Default)]
pub struct ConnectorArgs {
    /// Keycloak realm (kind keycloak).
    #[arg(long)]
    realm: Option<String>,
    /// Entra ID tenant id (kind entra; --url is https://graph.microsoft.com).
    #[arg(long)]
    tenant: Option<String>,
    /// Entra ID sign-in host [default: https://login.microsoftonline.com].
    #[arg(long)]
    login_url: Option<String>,
    /// The attribute that becomes the username: for entra userPrincipalName (default), mail or
    /// onPremisesSamAccountName; for ldap sAMAccountName (ad) or uid (openldap) by default.
    #[arg(long)]
    username_attribute: Option<String>,
    /// Okta and Oracle: only the users and groups assigned (granted) this app, by its id.
    #[arg(long)]
    app: Option<String>,
    /// Oracle: a user attribute whose values name more groups the user is in, e.g.
    /// urn:ietf:params:scim:schemas:idcs:extension:custom:User:jiraGroups.
    #[arg(long)]
    group_attribute: Option<String>,
    /// Google Workspace: the administrator the service account acts for.
    #[arg(long)]
    admin: Option<String>,
    /// Google Workspace: the customer id [default: my_customer, the administrator's own].
    #[arg(long)]
    customer: Option<String>,
    /// Google Workspace: read only this domain of the account.
    #[arg(long)]
    domain: Option<String>,
    /// Google Workspace: only users of this organisational unit, e.g. /Engineering.
    #[arg(long)]
    org_unit: Option<String>,
    /// AWS: the identity store id (d-…; IAM Identity Center → Settings).
    #[arg(long)]
    identity_store: Option<String>,
    /// AWS: the region, when --url does not name it.
    #[arg(long)]
    region: Option<String>,
    /// LDAP: which kind of directory, `ad` or `openldap` (default); it sets every other default.
    #[arg(long)]
    directory: Option<String>,
    /// LDAP: upgrade an ldap:// connection with StartTLS before binding.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    starttls: Option<bool>,
    /// LDAP: PEM file of the CA that signed the server's certificate [default: the system's].
    #[arg(long)]
    ca_file: Option<String>,
    /// LDAP: check the server's certificate [default: true]; false only for a lab.
    #[arg(long)]
    tls_verify: Option<bool>,
    /// LDAP: base DN of the users (repeat for several).
    #[arg(long)]
    user_base: Vec<String>,
    /// LDAP: base DN of the groups (repeat for several) [default: the user bases].
    #[arg(long)]
    group_base: Vec<String>,
    /// LDAP: filter for users [default: (objectClass=inetOrgPerson), or
    /// (&(objectCategory=person)(objectClass=user)) on ad].
    #[arg(long)]
    user_filter: Option<String>,
    /// LDAP: filter for groups [default: groupOfNames, groupOfUniqueNames and posixGroup, or
    /// (objectClass=group) on ad].
    #[arg(long)]
    group_filter: Option<String>,
    /// LDAP: the attribute that names a group [default: cn].
    #[arg(long)]
    group_name_attribute: Option<String>,
    /// LDAP: the attribute that marks a disabled account [default: userAccountControl on ad,
    /// pwdAccountLockedTime on openldap].
    #[arg(long)]
    disabled_attribute: Option<String>,
    /// LDAP: read memberships from groups' `member` (default) or from `memberOf`.
    #[arg(long)]
    membership: Option<String>,
    /// Only users in this group, directly or through nested groups: its object id (entra), its DN
    /// (ldap) or its address (google). Repeat for several (entra, ldap): members of any count.
    #[arg(long)]
    only_group: Vec<String>,
    /// LDAP: entries per page [default: 500; Active Directory allows at most 1000].
    #[arg(long)]
    page_size: Option<u32>,
    /// LDAP: carry a further attribute to a SCIM path, as `ldapName=scim.path`, e.g.
    /// `extensionAttribute1=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter`.
    /// Repeatable; given on `source edit`, the list replaces the stored one.
    #[arg(long, value_parser = attribute_pair)]
    attribute: Vec<(String, String)>,
}

/// `ldapName=scim.path`.
fn attribute_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, path)) if !name.trim().is_empty() && !path.trim().is_empty() => {
            Ok((name.trim().to_string(), path.trim().to_string()))
        }
        _ => Err(format!("'{text}' is not ldapName=scim.path, e.g. title=title or employeeType=userType")),
    }
}

impl ConnectorArgs {
    /// The given flags as the settings they name.
    fn settings(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let mut put = |name: &str, value: Value| {
            out.insert(name.to_string(), value);
        };
        let text = [
            ("realm", &self.realm),
            ("tenant", &self.tenant),
            ("login_url", &self.login_url),
            ("username_attribute", &self.username_attribute),
            ("app", &self.app),
            ("group_attribute", &self.group_attribute),
            ("admin", &self.admin),
            ("customer", &self.customer),
            ("domain", &self.domain),
            ("org_unit", &self.org_unit),
            ("identity_store", &self.identity_store),
            ("region", &self.region),
            ("directory", &self.directory),
            ("ca_file", &self.ca_file),
            ("user_filter", &self.user_filter),
            ("group_filter", &self.group_filter),
            ("group_name_attribute", &self.group_name_attribute),
            ("disabled_attribute", &self.disabled_attribute),
            ("membership", &self.membership),
        ];
        for (name, value) in text {
            if let Some(v) = value {
                put(name, json!(v));
            }
        }
        if let Some(v) = self.starttls {
            put("starttls", json!(v));
        }
        if let Some(v) = self.tls_verify {
            put("tls_verify", json!(v));
        }
        if let Some(v) = self.page_size {
            put("page_size", json!(v));
        }
        if !self.user_base.is_empty() {
            put("user_bases", json!(self.user_base));
        }
        match self.only_group.as_slice() {
            [] => {}
            [one] => put("only_group", json!(one)),
            many => put("only_group", json!(many)),
        }
        if !self.group_base.is_empty() {
            put("group_bases", json!(self.group_base));
        }
        if !self.attribute.is_empty() {
            let map: Map<String, Value> = self.attribute.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            put("attributes", Value::Object(map));
        }
        out
    }
}

/// The connector settings of a new source (`stored` None) or of an edited one: the flags laid
/// over what was there.
pub fn connector_config(
    kind: &str,
    url: Option<&str>,
    args: &ConnectorArgs,
    stored: Option<&SourceConfig>,
) -> anyhow::Result<SourceConfig> {
    let mut object = match stored {
        Some(config) => match serde_json::to_value(config)? {
            Value::Object(o) => o,
            _ => bail!("the stored source settings are unreadable"),
        },
        None => Map::from_iter([("kind".to_string(), json!(kind))]),
    };
    if let Some(url) = url {
        // Entra keeps the Graph host apart from the sign-in host.
        let field = if kind == "entra" { "graph_url" } else { "url" };
        object.insert(field.into(), json!(url));
    }
    object.extend(args.settings());
    serde_json::from_value(Value::Object(object)).map_err(|e| explain(kind, &e.to_string()))
}

/// serde's words turned into the flags an administrator typed.
fn explain(kind: &str, error: &str) -> anyhow::Error {
    let field = error.split('`').nth(1).unwrap_or_default();
    let flag = match field {
        "user_bases" => "--user-base".to_string(),
        "group_bases" => "--group-base".to_string(),
        "graph_url" | "url" => "--url".to_string(),
        other => format!("--{}", other.replace('_', "-")),
    };
    if error.starts_with("unknown field") {
        anyhow::anyhow!("{flag} does not apply to {kind} sources")
    } else if error.starts_with("missing field") {
        anyhow::anyhow!("{kind} sources need {flag}")
    } else if let Some(kinds) = error.strip_prefix(&format!("unknown variant `{kind}`, expected one of ")) {
        // serde lists the kinds SourceConfig knows, so the list cannot fall behind.
        anyhow::anyhow!("pull sources of kind '{kind}' do not exist; the kinds are {}", kinds.replace('`', ""))
    } else {
        anyhow::anyhow!("the {kind} source settings are not valid: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ldap_args() -> ConnectorArgs {
        ConnectorArgs {
            user_base: vec!["ou=people,dc=example,dc=com".into()],
            directory: Some("ad".into()),
            starttls: Some(true),
            ..ConnectorArgs::default()
        }
    }

    #[test]
    fn add_lays_flags_over_the_kind() {
        let config = connector_config("ldap", Some("ldap://dc1"), &ldap_args(), None).unwrap();
        let SourceConfig::Ldap(settings) = &config else { panic!("{config:?}") };
        assert!(settings.starttls);
        assert_eq!(settings.username_attribute(), "sAMAccountName");
        let entra = ConnectorArgs { tenant: Some("t1".into()), ..ConnectorArgs::default() };
        let config = connector_config("entra", Some("https://graph.microsoft.com"), &entra, None).unwrap();
        assert_eq!(serde_json::to_value(&config).unwrap()["login_url"], "https://login.microsoftonline.com");
    }

    #[test]
    fn edit_keeps_what_is_not_given() {
        let stored = connector_config("ldap", Some("ldap://dc1"), &ldap_args(), None).unwrap();
        let change = ConnectorArgs { page_size: Some(900), starttls: Some(false), ..ConnectorArgs::default() };
        let SourceConfig::Ldap(edited) = connector_config("ldap", None, &change, Some(&stored)).unwrap() else {
            panic!()
        };
        assert_eq!((edited.page_size, edited.starttls, edited.url.as_str()), (900, false, "ldap://dc1"));
        assert_eq!(edited.user_bases, ["ou=people,dc=example,dc=com"]);
    }

    #[test]
    fn flags_that_do_not_fit_are_named() {
        let realm = ConnectorArgs { realm: Some("acme".into()), ..ConnectorArgs::default() };
        let e = connector_config("okta", Some("https://acme.okta.com"), &realm, None).unwrap_err();
        assert_eq!(e.to_string(), "--realm does not apply to okta sources");
        let e = connector_config("keycloak", Some("https://kc"), &ConnectorArgs::default(), None).unwrap_err();
        assert_eq!(e.to_string(), "keycloak sources need --realm");
        let e = connector_config("ldap", Some("ldap://dc1"), &ConnectorArgs::default(), None).unwrap_err();
        assert_eq!(e.to_string(), "ldap sources need --user-base");
        let e = connector_config("ftp", Some("ftp://x"), &ConnectorArgs::default(), None).unwrap_err();
        assert!(e.to_string().contains("do not exist; the kinds are scim, entra"), "{e}");
    }
}
