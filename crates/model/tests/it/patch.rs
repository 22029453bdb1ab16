use model::patch::{MemberChange, apply, parse_request};
use model::schema::{GROUP_TYPE, ResourceTypeDef, USER_TYPE};
use model::{FilterLimits, ScimError, ScimType};
use serde_json::{Map, Value, json};

fn run(rt: &'static ResourceTypeDef, data: Value, ops: Value) -> Result<(Value, Vec<MemberChange>), ScimError> {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let ops = parse_request(&body, rt, FilterLimits::default())?;
    let mut map: Map<String, Value> = data.as_object().cloned().unwrap_or_default();
    let members = apply(&mut map, &ops, rt)?;
    Ok((Value::Object(map), members))
}

fn user(ops: Value) -> Result<Value, ScimError> {
    run(&USER_TYPE, json!({"userName": "ann", "active": true, "emails": [{"value": "a@x", "type": "work"}]}), ops)
        .map(|(d, _)| d)
}

#[test]
fn entra_capitalised_ops_and_string_booleans() {
    let d = user(json!([
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "displayName", "value": "Ann"}
    ]))
    .unwrap();
    assert_eq!(d["active"], json!(false));
    assert_eq!(d["displayName"], json!("Ann"));
}

#[test]
fn entra_value_path_creates_missing_typed_element() {
    let d = user(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@x"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"}
    ]))
    .unwrap();
    assert_eq!(d["emails"], json!([{"value": "new@x", "type": "work"}]));
    assert_eq!(d["phoneNumbers"], json!([{"type": "mobile", "value": "+1 555"}]));
}

#[test]
fn entra_manager_as_bare_string_and_extension_paths() {
    let d = user(json!([
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "boss-id"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Eng"}
    ]))
    .unwrap();
    assert_eq!(
        d["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        json!({"manager": {"value": "boss-id"}, "department": "Eng"})
    );
}

#[test]
fn okta_pathless_replace_of_active() {
    let d = user(json!([{"op": "replace", "value": {"active": false}}])).unwrap();
    assert_eq!(d["active"], json!(false));
}

#[test]
fn pathless_values_may_use_dotted_and_qualified_names() {
    let d = user(json!([{"op": "replace", "value": {
        "name.givenName": "Ann",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter": "42",
        "urn:acme:custom:1.0": {"badge": 7}
    }}]))
    .unwrap();
    assert_eq!(d["name"], json!({"givenName": "Ann"}));
    assert_eq!(d["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["costCenter"], json!("42"));
    assert_eq!(d["urn:acme:custom:1.0"], json!({"badge": 7}));
}

#[test]
fn add_to_multi_valued_appends_without_duplicates() {
    let d = user(json!([
        {"op": "add", "path": "emails", "value": [{"value": "b@x", "type": "home"}, {"value": "a@x", "type": "work"}]}
    ]))
    .unwrap();
    assert_eq!(d["emails"].as_array().unwrap().len(), 2);
}

#[test]
fn remove_with_filter_and_whole_attribute() {
    let d = user(json!([{"op": "remove", "path": "emails[type eq \"work\"]"}])).unwrap();
    assert!(d.get("emails").is_none(), "an emptied list disappears");
    let d = user(json!([{"op": "remove", "path": "active"}])).unwrap();
    assert!(d.get("active").is_none());
}

#[test]
fn complex_replace_merges_sub_attributes() {
    let d = run(
        &USER_TYPE,
        json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}}),
        json!([{"op": "replace", "path": "name", "value": {"givenName": "C"}}]),
    )
    .unwrap()
    .0;
    assert_eq!(d["name"], json!({"givenName": "C", "familyName": "B"}));
}

fn err(ops: Value, ty: ScimType, fragment: &str) {
    let e = user(ops.clone()).expect_err(&ops.to_string());
    assert_eq!(e.scim_type, Some(ty), "{ops}: {}", e.detail);
    assert!(e.detail.contains(fragment), "{ops}: {}", e.detail);
}

#[test]
fn errors_carry_the_right_scim_type() {
    err(json!([{"op": "remove"}]), ScimType::NoTarget, "path");
    err(json!([{"op": "move", "path": "x"}]), ScimType::InvalidSyntax, "'move'");
    err(json!([{"op": "replace", "path": "nosuch", "value": 1}]), ScimType::InvalidPath, "not an attribute");
    err(json!([{"op": "replace", "path": "emails[type eq]", "value": 1}]), ScimType::InvalidPath, "expected a value");
    err(json!([{"op": "replace", "path": "id", "value": "x"}]), ScimType::Mutability, "read-only");
    err(json!([{"op": "replace", "path": "meta.created", "value": "x"}]), ScimType::Mutability, "read-only");
    err(json!([{"op": "remove", "path": "userName"}]), ScimType::Mutability, "required");
    err(
        json!([{"op": "replace", "path": "emails[value co \"zzz\"].value", "value": "x"}]),
        ScimType::NoTarget,
        "matches",
    );
    err(json!([{"op": "replace", "path": "active", "value": "perhaps"}]), ScimType::InvalidValue, "boolean");
    err(json!([{"op": "add", "path": "userName"}]), ScimType::InvalidValue, "need a 'value'");
    err(json!([{"op": "add", "value": "x"}]), ScimType::InvalidValue, "object");
}

#[test]
fn a_failing_operation_reports_its_position() {
    let e = user(
        json!([{"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "nosuch", "value": 1}]),
    )
    .unwrap_err();
    assert!(e.detail.starts_with("operation 2:"), "{}", e.detail);
}

#[test]
fn request_shape_is_checked() {
    let e = parse_request(&json!({"Operations": []}), &USER_TYPE, FilterLimits::default()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    let e = parse_request(
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
        &USER_TYPE,
        FilterLimits::default(),
    )
    .unwrap_err();
    assert!(e.detail.contains("Operations"));
}

fn group(ops: Value) -> Vec<MemberChange> {
    run(&GROUP_TYPE, json!({"displayName": "g"}), ops).unwrap().1
}

#[test]
fn member_changes_are_returned_not_applied() {
    assert_eq!(
        group(json!([{"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}])),
        vec![MemberChange::Add(vec![
            model::resource::MemberRef { value: "u1".into(), kind: None, display: None },
            model::resource::MemberRef { value: "u2".into(), kind: None, display: None },
        ])]
    );
    // Entra removes by a value list; Okta and others by filter path.
    assert_eq!(
        group(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}])),
        vec![MemberChange::Remove(vec!["u1".into()])]
    );
    assert_eq!(
        group(json!([{"op": "remove", "path": "members[value eq \"u2\"]"}])),
        vec![MemberChange::Remove(vec!["u2".into()])]
    );
    assert!(matches!(
        group(json!([{"op": "remove", "path": "members[type eq \"Group\"]"}]))[..],
        [MemberChange::RemoveMatching(_)]
    ));
    assert_eq!(group(json!([{"op": "remove", "path": "members"}])), vec![MemberChange::RemoveAll]);
    let replaced = group(json!([{"op": "replace", "path": "members", "value": [{"value": "u3"}]}]));
    assert_eq!(replaced[0], MemberChange::RemoveAll);
    let pathless =
        group(json!([{"op": "replace", "value": {"id": "ignored", "displayName": "h", "members": [{"value": "u4"}]}}]));
    assert_eq!(pathless.len(), 2);
}
