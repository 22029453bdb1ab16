//! The SCIM schemas idsync serves (RFC 7643 §4 and §8.7.1) as data, so that validation, filtering,
//! PATCH and the `/Schemas` discovery endpoint all read one definition.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttributeDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub server_unique: bool,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: Vec<AttributeDef>,
    pub description: &'static str,
}

fn attr(name: &'static str, ty: AttrType, description: &'static str) -> AttributeDef {
    AttributeDef {
        name,
        ty,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        server_unique: false,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: Vec::new(),
        description,
    }
}

fn string(name: &'static str, description: &'static str) -> AttributeDef {
    attr(name, AttrType::String, description)
}

fn complex(name: &'static str, description: &'static str, subs: Vec<AttributeDef>) -> AttributeDef {
    AttributeDef { sub_attributes: subs, ..attr(name, AttrType::Complex, description) }
}

impl AttributeDef {
    fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    fn write_only_never_returned(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self.returned = Returned::Never;
        self
    }
    fn always(mut self) -> Self {
        self.returned = Returned::Always;
        self
    }
    fn unique(mut self) -> Self {
        self.server_unique = true;
        self
    }
    fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 representation used by the `/Schemas` endpoint.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.ty.as_str()));
        m.insert("multiValued".into(), json!(self.multi_valued));
        m.insert("description".into(), json!(self.description));
        m.insert("required".into(), json!(self.required));
        if self.ty == AttrType::Complex {
            let subs: Vec<Value> = self.sub_attributes.iter().map(AttributeDef::to_json).collect();
            m.insert("subAttributes".into(), Value::Array(subs));
        } else {
            m.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            m.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if self.ty == AttrType::Reference {
            m.insert("referenceTypes".into(), json!(self.reference_types));
        }
        let mutability = match self.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        };
        m.insert("mutability".into(), json!(mutability));
        let returned = match self.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        };
        m.insert("returned".into(), json!(returned));
        if self.ty != AttrType::Complex {
            m.insert("uniqueness".into(), json!(if self.server_unique { "server" } else { "none" }));
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttributeDef::to_json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base_url}/Schemas/{}", self.id)},
        })
    }
}

/// Which of the two resource kinds a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }
    pub fn definition(self) -> &'static ResourceTypeDef {
        match self {
            ResourceKind::User => &USER_TYPE,
            ResourceKind::Group => &GROUP_TYPE,
        }
    }
    pub fn from_endpoint(segment: &str) -> Option<Self> {
        match segment {
            "Users" => Some(ResourceKind::User),
            "Groups" => Some(ResourceKind::Group),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceTypeDef {
    pub kind: ResourceKind,
    pub description: &'static str,
    pub schema: Schema,
    pub extensions: Vec<Schema>,
}

impl ResourceTypeDef {
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions.iter().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// All schema URNs this type knows, core first.
    pub fn schema_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.schema.id).chain(self.extensions.iter().map(|s| s.id))
    }

    pub fn to_json(&self, base_url: &str) -> Value {
        let name = self.kind.as_str();
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": name,
            "name": name,
            "endpoint": format!("/{}", self.kind.endpoint()),
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": self.extensions.iter()
                .map(|s| json!({"schema": s.id, "required": false}))
                .collect::<Vec<_>>(),
            "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/{name}")},
        })
    }
}

/// Attributes every resource has (RFC 7643 §3.1); they live outside any schema's attribute list.
pub static COMMON_ATTRIBUTES: LazyLock<Vec<AttributeDef>> = LazyLock::new(|| {
    vec![
        string("id", "Identifier the service provider assigned to the resource.").exact().read_only().always().unique(),
        string("externalId", "Identifier the provisioning client assigned to the resource.").exact(),
        complex(
            "meta",
            "Resource metadata maintained by the service provider.",
            vec![
                string("resourceType", "Name of the resource type.").exact().read_only(),
                attr("created", AttrType::DateTime, "When the resource was added.").read_only(),
                attr("lastModified", AttrType::DateTime, "When the resource was last changed.").read_only(),
                attr("location", AttrType::Reference, "URI of the resource.").read_only().refs(&["uri"]),
                string("version", "Version of the resource, as sent in the ETag header.").exact().read_only(),
            ],
        )
        .read_only(),
    ]
});

fn multi_valued_contact(name: &'static str, description: &'static str, types: &'static [&'static str]) -> AttributeDef {
    complex(
        name,
        description,
        vec![
            string("value", "The value itself."),
            string("display", "A human-readable form of the value.").read_only(),
            string("type", "What kind of value this is.").canonical(types),
            attr("primary", AttrType::Boolean, "Marks the preferred value of the list."),
        ],
    )
    .multi()
}

pub static USER_TYPE: LazyLock<ResourceTypeDef> = LazyLock::new(|| ResourceTypeDef {
    kind: ResourceKind::User,
    description: "A person's account.",
    schema: Schema { id: USER_SCHEMA, name: "User", description: "User Account", attributes: user_attributes() },
    extensions: vec![Schema {
        id: ENTERPRISE_USER_SCHEMA,
        name: "EnterpriseUser",
        description: "Enterprise User",
        attributes: enterprise_attributes(),
    }],
});

fn user_attributes() -> Vec<AttributeDef> {
    vec![
        string("userName", "Unique login name of the user.").required().unique(),
        complex(
            "name",
            "The parts of the user's name.",
            vec![
                string("formatted", "The full name for display."),
                string("familyName", "Family name."),
                string("givenName", "Given name."),
                string("middleName", "Middle name."),
                string("honorificPrefix", "Title before the name."),
                string("honorificSuffix", "Suffix after the name."),
            ],
        ),
        string("displayName", "Name shown to people."),
        string("nickName", "Casual name."),
        attr("profileUrl", AttrType::Reference, "URL of the user's profile page.").refs(&["external"]),
        string("title", "Job title."),
        string("userType", "Relation to the organisation, such as Employee or Contractor."),
        string("preferredLanguage", "Preferred written or spoken language."),
        string("locale", "Default location for formatting."),
        string("timezone", "Time zone in IANA form."),
        attr("active", AttrType::Boolean, "Whether the account may be used."),
        string("password", "Clear-text password; accepted but never returned.").exact().write_only_never_returned(),
        multi_valued_contact("emails", "Email addresses.", &["work", "home", "other"]),
        multi_valued_contact("phoneNumbers", "Phone numbers.", &["work", "home", "mobile", "fax", "pager", "other"]),
        multi_valued_contact(
            "ims",
            "Instant messaging addresses.",
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
        ),
        multi_valued_contact("photos", "Image URLs.", &["photo", "thumbnail"]),
        complex(
            "addresses",
            "Postal addresses.",
            vec![
                string("formatted", "The full address for display."),
                string("streetAddress", "Street and number."),
                string("locality", "City."),
                string("region", "State or region."),
                string("postalCode", "Postal code."),
                string("country", "Country as an ISO 3166-1 alpha-2 code."),
                string("type", "What kind of address this is.").canonical(&["work", "home", "other"]),
                attr("primary", AttrType::Boolean, "Marks the preferred address."),
            ],
        )
        .multi(),
        complex(
            "groups",
            "Groups the user belongs to, maintained through the Groups endpoint.",
            vec![
                string("value", "Id of the group.").read_only(),
                attr("$ref", AttrType::Reference, "URI of the group.").read_only().refs(&["Group"]),
                string("display", "Name of the group.").read_only(),
                string("type", "direct or indirect membership.").read_only().canonical(&["direct", "indirect"]),
            ],
        )
        .multi()
        .read_only(),
        multi_valued_contact("entitlements", "Entitlements of the user.", &[]),
        multi_valued_contact("roles", "Roles of the user.", &[]),
        complex(
            "x509Certificates",
            "Certificates of the user.",
            vec![
                attr("value", AttrType::Binary, "DER certificate, base64-encoded."),
                string("display", "A human-readable name.").read_only(),
                string("type", "What kind of certificate this is."),
                attr("primary", AttrType::Boolean, "Marks the preferred certificate."),
            ],
        )
        .multi(),
    ]
}

fn enterprise_attributes() -> Vec<AttributeDef> {
    vec![
        string("employeeNumber", "Number the organisation assigned to the person."),
        string("costCenter", "Cost centre."),
        string("organization", "Organisation."),
        string("division", "Division."),
        string("department", "Department."),
        complex(
            "manager",
            "The user's manager.",
            vec![
                string("value", "Id of the manager's user."),
                attr("$ref", AttrType::Reference, "URI of the manager's user.").refs(&["User"]),
                string("displayName", "Name of the manager.").read_only(),
            ],
        ),
    ]
}

pub static GROUP_TYPE: LazyLock<ResourceTypeDef> = LazyLock::new(|| ResourceTypeDef {
    kind: ResourceKind::Group,
    description: "A set of users and groups.",
    schema: Schema {
        id: GROUP_SCHEMA,
        name: "Group",
        description: "Group",
        attributes: vec![
            string("displayName", "Name of the group.").required(),
            complex(
                "members",
                "Users and groups in the group.",
                vec![
                    string("value", "Id of the member.").immutable(),
                    attr("$ref", AttrType::Reference, "URI of the member.").immutable().refs(&["User", "Group"]),
                    string("display", "Name of the member.").read_only(),
                    string("type", "User or Group.").immutable().canonical(&["User", "Group"]),
                ],
            )
            .multi(),
        ],
    },
    extensions: Vec::new(),
});

pub fn all_schemas() -> Vec<&'static Schema> {
    let mut out = vec![&USER_TYPE.schema];
    out.extend(USER_TYPE.extensions.iter());
    out.push(&GROUP_TYPE.schema);
    out
}
