//! What each identity provider calls the two things it needs to push to idsync, and where an
//! administrator enters them, so the console speaks the provider's language.

pub struct PushProvider {
    pub key: &'static str,
    pub label: &'static str,
    /// The provider's name for the SCIM base URL.
    pub url_label: &'static str,
    /// The provider's name for the bearer token.
    pub token_label: &'static str,
    pub steps: &'static [&'static str],
}

pub const PUSH: &[PushProvider] = &[
    PushProvider {
        key: "entra",
        label: "Microsoft Entra ID",
        url_label: "Tenant URL",
        token_label: "Secret Token",
        steps: &[
            "In the Microsoft Entra admin center, open Enterprise applications and the application for your Atlassian products (create a non-gallery one if there is none).",
            "Under Provisioning, set Provisioning Mode to Automatic.",
            "Under Admin Credentials, paste the Tenant URL and the Secret Token shown above, then choose Test Connection.",
            "Assign the users and groups to provision, then start provisioning.",
        ],
    },
    PushProvider {
        key: "okta",
        label: "Okta",
        url_label: "SCIM connector base URL",
        token_label: "API Token",
        steps: &[
            "In the Okta admin console, open the application and its General tab; enable SCIM provisioning.",
            "On the Provisioning tab, choose Integration: paste the SCIM connector base URL, set the unique identifier field to userName, and choose HTTP Header authentication with the API Token shown above.",
            "Test the connector configuration and save.",
            "Under To App, enable creating users, updating user attributes and deactivating users; push the groups you want provisioned.",
        ],
    },
    PushProvider {
        key: "onelogin",
        label: "OneLogin",
        url_label: "SCIM Base URL",
        token_label: "SCIM Bearer Token",
        steps: &[
            "In OneLogin, add a SCIM Provisioner with SCIM 2.0 application and open its Configuration tab.",
            "Paste the SCIM Base URL and the SCIM Bearer Token shown above, then enable the API connection.",
            "On the Provisioning tab, enable provisioning and assign the users and roles to provision.",
        ],
    },
    PushProvider {
        key: "oracle",
        label: "Oracle IDCS / OCI IAM",
        url_label: "Base URI",
        token_label: "Access Token",
        steps: &[
            "In the identity domain, open the application and its provisioning settings.",
            "Enable provisioning and paste the Base URI and the Access Token shown above; test the connectivity.",
            "Choose the provisioning operations (create, update, deactivate) and assign users and groups.",
        ],
    },
    PushProvider {
        key: "scim",
        label: "Another SCIM 2.0 client",
        url_label: "SCIM base URL",
        token_label: "Bearer token",
        steps: &["Give your identity provider the SCIM base URL and the bearer token shown above."],
    },
];

pub fn push(key: &str) -> Option<&'static PushProvider> {
    PUSH.iter().find(|p| p.key == key)
}
