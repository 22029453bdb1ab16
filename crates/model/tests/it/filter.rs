use model::eval::matches;
use model::schema::{GROUP_TYPE, USER_TYPE};
use model::{Filter, FilterLimits, ScimType};
use serde_json::{Value, json};

fn parse(s: &str) -> Result<Filter, model::ScimError> {
    Filter::parse(s, &USER_TYPE, FilterLimits::default())
}

fn canon(s: &str) -> String {
    parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).to_string()
}

fn user() -> Value {
    json!({
        "id": "2819c223",
        "externalId": "ext-1",
        "userName": "Bjensen@Example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs Jensen",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "manager": {"value": "26118915"}
        },
        "meta": {"resourceType": "User", "created": "2024-01-01T10:00:00.000Z", "lastModified": "2024-03-01T10:00:00.000Z", "version": "W/\"3\""}
    })
}

fn check(filter: &str, expected: bool) {
    let f = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    assert_eq!(matches(&f, &user()), expected, "{filter}");
}

#[test]
fn every_operator_on_strings() {
    check("userName eq \"bjensen@example.com\"", true);
    check("userName ne \"bjensen@example.com\"", false);
    check("userName co \"JENSEN\"", true);
    check("userName sw \"bj\"", true);
    check("userName ew \".com\"", true);
    check("userName gt \"a\"", true);
    check("userName ge \"bjensen@example.com\"", true);
    check("userName lt \"a\"", false);
    check("userName le \"bjensen@example.com\"", true);
    check("userName pr", true);
    check("nickName pr", false);
}

#[test]
fn case_exact_attributes_compare_exactly() {
    check("externalId eq \"EXT-1\"", false);
    check("externalId eq \"ext-1\"", true);
    check("id eq \"2819C223\"", false);
}

#[test]
fn keywords_and_attribute_names_are_case_insensitive() {
    check("USERNAME EQ \"bjensen@example.com\" AND Active Eq TRUE", true);
    assert_eq!(canon("UserName Eq \"x\""), "userName eq \"x\"");
}

#[test]
fn precedence_is_not_then_and_then_or() {
    assert_eq!(canon("title pr or nickName pr and locale pr"), "(title pr or (nickName pr and locale pr))");
    assert_eq!(canon("(title pr or nickName pr) and locale pr"), "((title pr or nickName pr) and locale pr)");
    assert_eq!(canon("not (title pr) and locale pr"), "(not (title pr) and locale pr)");
    check("userName pr or nickName pr and title pr", true);
    check("(userName pr or nickName pr) and title pr", false);
    check("not (nickName pr)", true);
}

#[test]
fn multi_valued_and_complex_filters() {
    check("emails.value eq \"babs@jensen.org\"", true);
    check("emails eq \"babs@jensen.org\"", true);
    check("emails[type eq \"work\" and value co \"example\"]", true);
    check("emails[type eq \"home\" and value co \"example\"]", false);
    check("emails.type eq \"other\"", false);
    check("name.familyName eq \"jensen\"", true);
    check("name[givenName sw \"bar\"]", true);
}

#[test]
fn schema_qualified_names() {
    check("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"bj\"", true);
    check("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\"", true);
    check("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"26118915\"", true);
    check("employeeNumber eq \"701984\"", true);
}

#[test]
fn date_time_comparisons_use_instants_not_text() {
    check("meta.lastModified gt \"2024-02-01T00:00:00Z\"", true);
    check("meta.lastModified gt \"2024-03-01T12:00:00+03:00\"", true);
    check("meta.created lt \"2024-01-01T10:00:00.000Z\"", false);
    check("meta.created ge \"2024-01-01T11:00:00+01:00\"", true);
}

#[test]
fn null_and_boolean_literals() {
    check("nickName eq null", true);
    check("userName ne null", true);
    check("active eq true", true);
    check("active ne false", true);
}

#[test]
fn group_filters_resolve_against_the_group_schema() {
    let f =
        Filter::parse("displayName eq \"Admins\" and members[value eq \"1\"]", &GROUP_TYPE, FilterLimits::default())
            .unwrap();
    let g = json!({"displayName": "admins", "members": [{"value": "1", "type": "User"}]});
    assert!(matches(&f, &g));
}

fn invalid(filter: &str, fragment: &str) {
    let e = parse(filter).expect_err(filter);
    assert_eq!(e.status, 400, "{filter}");
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{filter}");
    assert!(e.detail.contains(fragment), "{filter}: '{}' does not mention '{fragment}'", e.detail);
}

#[test]
fn invalid_filters_say_what_is_wrong() {
    invalid("", "empty");
    invalid("userName", "operator");
    invalid("userName eqq \"x\"", "unknown operator 'eqq'");
    invalid("userName eq", "expected a value");
    invalid("userName eq bob", "not a value");
    invalid("userName eq \"x", "unterminated string");
    invalid("nosuch eq \"x\"", "not an attribute");
    invalid("(userName pr", "expected ')'");
    invalid("userName pr)", "unexpected text");
    invalid("emails[type eq \"work\"", "expected ']'");
    invalid("active gt true", "only eq and ne");
    invalid("active eq \"yes\"", "boolean");
    invalid("meta.created gt \"yesterday\"", "RFC 3339");
    invalid("name eq \"x\"", "complex");
    invalid("userName gt null", "null");
    invalid("userName eq 5", "double quotes");
    invalid("userName pr and", "attribute name");
}

#[test]
fn numbers_survive_printing_exactly() {
    // Found by fuzzing: without exact float parsing the printed filter parsed to another number.
    let f = Filter::parse("urn:acme:1.0:User:n gt 8.33e46", &USER_TYPE, FilterLimits::default()).unwrap();
    assert_eq!(Filter::parse(&f.to_string(), &USER_TYPE, FilterLimits::default()).unwrap(), f);
}

#[test]
fn limits_bound_length_and_depth() {
    let limits = FilterLimits { max_length: 20, max_depth: 3 };
    let e = Filter::parse("userName eq \"a very long value\"", &USER_TYPE, limits).unwrap_err();
    assert!(e.detail.contains("limit"), "{}", e.detail);
    let deep = "((((userName pr))))";
    let e = Filter::parse(deep, &USER_TYPE, FilterLimits { max_length: 100, max_depth: 3 }).unwrap_err();
    assert!(e.detail.contains("nests deeper"), "{}", e.detail);
    let nested_not = format!("{}userName pr{}", "not (".repeat(50), ")".repeat(50));
    assert!(Filter::parse(&nested_not, &USER_TYPE, FilterLimits::default()).is_err());
}
