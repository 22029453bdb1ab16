//! The identity providers idsync reads, each with the fields it needs in its own words and the
//! steps that prepare it, so the add form is that provider's wizard.

/// How a field is entered.
#[derive(PartialEq)]
pub enum Input {
    Text,
    Url,
    /// One of these values.
    Choice(&'static [&'static str]),
    /// One value per line, stored as a list.
    Lines,
    /// On or off.
    Toggle,
}

pub struct Field {
    /// The connector setting it fills.
    pub key: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    /// What the field holds when the form opens.
    pub default: &'static str,
    pub required: bool,
    pub input: Input,
}

/// What signs idsync in.
pub enum Secret {
    /// A token sent with every request.
    Token { label: &'static str },
    /// An id with its secret (an OAuth client, an access key, a bind DN).
    Pair { id_label: &'static str, secret_label: &'static str },
    /// A key file's contents that signs token requests.
    Key { label: &'static str },
}

pub struct PullProvider {
    /// The connector kind.
    pub key: &'static str,
    pub label: &'static str,
    pub fields: &'static [Field],
    pub secret: Secret,
    /// What to prepare at the provider, and where.
    pub steps: &'static [&'static str],
}

const fn text(key: &'static str, label: &'static str, hint: &'static str) -> Field {
    Field { key, label, hint, default: "", required: true, input: Input::Text }
}

const fn url(key: &'static str, label: &'static str, hint: &'static str, default: &'static str) -> Field {
    Field { key, label, hint, default, required: true, input: Input::Url }
}

const fn optional(key: &'static str, label: &'static str, hint: &'static str) -> Field {
    Field { key, label, hint, default: "", required: false, input: Input::Text }
}

pub const PULL: &[PullProvider] = &[
    PullProvider {
        key: "entra",
        label: "Microsoft Entra ID (Microsoft Graph)",
        fields: &[
            text("tenant", "Directory (tenant) ID", "On the app registration's Overview page."),
            url(
                "graph_url",
                "Microsoft Graph URL",
                "Another host only for a national cloud.",
                "https://graph.microsoft.com",
            ),
            url(
                "login_url",
                "Sign-in URL",
                "Another host only for a national cloud.",
                "https://login.microsoftonline.com",
            ),
            Field {
                key: "username_attribute",
                label: "Username from",
                hint: "The Graph attribute that becomes the username in the targets.",
                default: "userPrincipalName",
                required: true,
                input: Input::Choice(&["userPrincipalName", "mail", "onPremisesSamAccountName"]),
            },
            Field {
                key: "only_group",
                label: "Only members of these groups",
                hint: "Group object ids, one per line; nested groups count. Empty: everyone.",
                default: "",
                required: false,
                input: Input::Lines,
            },
        ],
        secret: Secret::Pair { id_label: "Application (client) ID", secret_label: "Client secret value" },
        steps: &[
            "In the Microsoft Entra admin center, open App registrations and register an application for idsync (single tenant).",
            "Under API permissions, add the Microsoft Graph application permissions User.Read.All and GroupMember.Read.All, then grant admin consent.",
            "Under Certificates & secrets, create a client secret and copy its Value (not its ID): Entra shows it once.",
            "Enter the Directory (tenant) ID and the Application (client) ID from the Overview page, with the secret's value.",
        ],
    },
    PullProvider {
        key: "keycloak",
        label: "Keycloak",
        fields: &[
            url("url", "Server URL", "Before Keycloak 17, or with the /auth path, end it with /auth.", ""),
            text("realm", "Realm", "The realm whose users idsync reads."),
        ],
        secret: Secret::Pair { id_label: "Client ID", secret_label: "Client secret" },
        steps: &[
            "In the realm's admin console, create a client with Client authentication on and Service accounts roles enabled.",
            "On its Service accounts roles tab, assign the realm-management roles view-users, query-users and query-groups.",
            "On its Credentials tab, copy the client secret.",
        ],
    },
    PullProvider {
        key: "okta",
        label: "Okta",
        fields: &[
            url("url", "Okta domain", "Such as https://acme.okta.com (not the -admin address).", ""),
            optional("app", "Only users assigned to this app", "The app's id (0oa…); empty: every user."),
        ],
        secret: Secret::Token { label: "API Token" },
        steps: &[
            "In the Okta admin console, sign in as an administrator who may view users and groups (Read-only Administrator is enough).",
            "Under Security → API → Tokens, create a token and copy it: Okta shows it once.",
            "Okta deletes a token unused for 30 days; idsync reads at least daily, which keeps it alive.",
        ],
    },
    PullProvider {
        key: "google",
        label: "Google Workspace",
        fields: &[
            url("url", "Directory API URL", "Leave as it is.", "https://admin.googleapis.com"),
            text("admin", "Administrator to act for", "An administrator's address, such as admin@example.com."),
            Field {
                key: "customer",
                label: "Customer id",
                hint: "my_customer is the administrator's own account.",
                default: "my_customer",
                required: true,
                input: Input::Text,
            },
            optional("domain", "Only this domain", "Empty: every domain of the account."),
            optional("org_unit", "Only this organisational unit", "Such as /Engineering; the units below it count."),
            optional("only_group", "Only members of this group", "The group's address; nested groups count."),
        ],
        secret: Secret::Key { label: "Service account key (JSON)" },
        steps: &[
            "In the Google Cloud console, create a service account in a project with the Admin SDK API enabled, and create a JSON key for it.",
            "In the Admin console, under Security → API controls → Domain-wide delegation, add the service account's client id with the scopes https://www.googleapis.com/auth/admin.directory.user.readonly and https://www.googleapis.com/auth/admin.directory.group.readonly.",
            "Paste the whole key file below, and name an administrator for the service account to act for.",
        ],
    },
    PullProvider {
        key: "oracle",
        label: "Oracle IDCS / OCI IAM",
        fields: &[
            url("url", "Domain URL", "Such as https://idcs-….identity.oraclecloud.com.", ""),
            optional("app", "Only users granted this app", "The app's id; empty: every user."),
            optional(
                "group_attribute",
                "More groups from this attribute",
                "A user attribute whose values name groups.",
            ),
        ],
        secret: Secret::Pair { id_label: "Client ID", secret_label: "Client secret" },
        steps: &[
            "In the identity domain, add a confidential application with the Client Credentials grant.",
            "Grant it the User Administrator app role (or a role that may read users and groups), then activate it.",
            "Copy its client id and client secret.",
        ],
    },
    PullProvider {
        key: "onelogin",
        label: "OneLogin",
        fields: &[url("url", "API URL", "https://<subdomain>.onelogin.com", "")],
        secret: Secret::Pair { id_label: "Client ID", secret_label: "Client Secret" },
        steps: &[
            "In OneLogin, open Developers → API Credentials and create a credential with Read users scope.",
            "Copy its Client ID and Client Secret.",
        ],
    },
    PullProvider {
        key: "aws",
        label: "AWS IAM Identity Center",
        fields: &[
            url("url", "Identity store endpoint", "https://identitystore.<region>.amazonaws.com", ""),
            text("identity_store", "Identity store ID", "d-… on the Identity Center settings page."),
            optional("region", "Region", "Needed only when the endpoint does not name it."),
        ],
        secret: Secret::Pair { id_label: "Access key ID", secret_label: "Secret access key" },
        steps: &[
            "In IAM, create a user or role for idsync with a policy that allows identitystore:List* and identitystore:Describe* on the identity store.",
            "Create an access key for it and copy both parts.",
        ],
    },
    PullProvider {
        key: "ldap",
        label: "LDAP or Active Directory",
        fields: &[
            url("url", "Server", "ldap://host:389 or ldaps://host:636", ""),
            Field {
                key: "directory",
                label: "Directory",
                hint: "It decides the attribute names idsync reads (ad: sAMAccountName, openldap: uid).",
                default: "openldap",
                required: true,
                input: Input::Choice(&["openldap", "ad"]),
            },
            Field {
                key: "user_bases",
                label: "Where users are",
                hint: "Base DNs, one per line, searched with their subtrees.",
                default: "",
                required: true,
                input: Input::Lines,
            },
            Field {
                key: "group_bases",
                label: "Where groups are",
                hint: "Base DNs, one per line; empty: where users are.",
                default: "",
                required: false,
                input: Input::Lines,
            },
            optional("user_filter", "User filter", "An LDAP filter; empty: the directory's usual one."),
            Field {
                key: "starttls",
                label: "StartTLS",
                hint: "Upgrade an ldap:// connection before binding.",
                default: "",
                required: false,
                input: Input::Toggle,
            },
        ],
        secret: Secret::Pair { id_label: "Bind DN", secret_label: "Bind password" },
        steps: &[
            "Create a service account that may read the users and groups below the bases (read-only).",
            "Use ldaps:// or StartTLS in production: the bind password crosses the network.",
        ],
    },
    PullProvider {
        key: "scim",
        label: "Another SCIM 2.0 server",
        fields: &[url("url", "SCIM base URL", "The address that ends before /Users.", "")],
        secret: Secret::Token { label: "Bearer token" },
        steps: &["Ask the server's administrator for a bearer token that may list users and groups."],
    },
];

pub fn pull(key: &str) -> Option<&'static PullProvider> {
    PULL.iter().find(|p| p.key == key)
}
