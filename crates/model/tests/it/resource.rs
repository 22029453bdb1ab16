use model::ScimType;
use model::resource::{normalize, parse_members};
use model::schema::{GROUP_TYPE, USER_TYPE};
use serde_json::json;

#[test]
fn canonicalises_names_and_entra_booleans() {
    let n = normalize(
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "USERNAME": "ann", "Active": "False",
            "emails": [{"Value": "a@x", "TYPE": "work", "primary": "true"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Manager": "m-1", "department": "Eng"},
            "id": "ignored", "meta": {"created": "ignored"}
        }),
        &USER_TYPE,
    )
    .unwrap();
    assert_eq!(
        serde_json::Value::Object(n.data),
        json!({
            "userName": "ann", "active": false,
            "emails": [{"value": "a@x", "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m-1"}, "department": "Eng"}
        })
    );
}

#[test]
fn keeps_unknown_extensions_verbatim() {
    let ext = json!({"badge": 42, "Nested": {"x": [1, 2]}});
    let n = normalize(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:acme:custom:1.0"], "userName": "a", "urn:acme:custom:1.0": ext.clone()}), &USER_TYPE).unwrap();
    assert_eq!(n.data["urn:acme:custom:1.0"], ext);
}

#[test]
fn rejects_bad_input_precisely() {
    let cases = [
        (json!([1]), ScimType::InvalidSyntax, "JSON object"),
        (json!({"userName": "a"}), ScimType::InvalidSyntax, "schemas"),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
            ScimType::InvalidValue,
            "'userName' is required",
        ),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 5}),
            ScimType::InvalidValue,
            "must be string",
        ),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "active": "maybe"}),
            ScimType::InvalidValue,
            "boolean",
        ),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "shoeSize": 44}),
            ScimType::InvalidValue,
            "not an attribute",
        ),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "name": {"nosuch": "x"}}),
            ScimType::InvalidValue,
            "no sub-attribute",
        ),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a", "displayName": ["x"]}),
            ScimType::InvalidValue,
            "single value",
        ),
    ];
    for (body, ty, fragment) in cases {
        let e = normalize(body.clone(), &USER_TYPE).expect_err(&body.to_string());
        assert_eq!(e.scim_type, Some(ty), "{body}");
        assert!(e.detail.contains(fragment), "{body}: {}", e.detail);
    }
}

#[test]
fn group_members_come_out_separately() {
    let n = normalize(
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g", "members": [{"value": "u1", "type": "user", "display": "Ann"}]}),
        &GROUP_TYPE,
    )
    .unwrap();
    assert!(!n.data.contains_key("members"));
    let m = n.members.unwrap();
    assert_eq!(m[0].value, "u1");
    assert_eq!(m[0].kind.as_deref(), Some("User"));
    assert!(parse_members(json!([{"type": "User"}])).is_err());
    assert!(parse_members(json!([{"value": "x", "type": "Robot"}])).is_err());
}
