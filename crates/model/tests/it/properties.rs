//! Property tests: printing a filter and parsing it again gives the same filter; evaluation agrees
//! with De Morgan; PATCH add-then-remove leaves no trace.

use model::eval::matches;
use model::schema::USER_TYPE;
use model::{Filter, FilterLimits};
use proptest::prelude::*;
use serde_json::{Value, json};

const STRING_ATTRS: &[&str] = &[
    "userName",
    "displayName",
    "title",
    "name.givenName",
    "emails.value",
    "emails.type",
    "externalId",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
];
const OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];

fn literal() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 @.\\\\\"-]{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap())
}

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::sample::select(STRING_ATTRS), prop::sample::select(OPS), literal())
            .prop_map(|(a, o, v)| format!("{a} {o} {v}")),
        prop::sample::select(STRING_ATTRS).prop_map(|a| format!("{a} pr")),
        prop::bool::ANY.prop_map(|b| format!("active eq {b}")),
        (prop::sample::select(&["type", "value"][..]), literal()).prop_map(|(s, v)| format!("emails[{s} eq {v}]")),
    ]
}

fn filter_text() -> impl Strategy<Value = String> {
    atom().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn resource() -> impl Strategy<Value = Value> {
    (
        "[a-c]{1,3}",
        proptest::option::of("[a-c]{0,2}"),
        prop::bool::ANY,
        proptest::collection::vec(("[a-c]{1,2}", "[wh]"), 0..3),
    )
        .prop_map(|(u, d, a, emails)| {
            let mut r = json!({"userName": u, "active": a});
            if let Some(d) = d {
                r["displayName"] = json!(d);
            }
            if !emails.is_empty() {
                r["emails"] = Value::Array(emails.into_iter().map(|(v, t)| json!({"value": v, "type": t})).collect());
            }
            r
        })
}

fn parse(s: &str) -> Filter {
    Filter::parse(s, &USER_TYPE, FilterLimits { max_length: 100_000, max_depth: 64 })
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

proptest! {
    #[test]
    fn print_then_parse_is_identity(text in filter_text()) {
        let f = parse(&text);
        let printed = f.to_string();
        prop_assert_eq!(parse(&printed), f);
    }

    #[test]
    fn not_inverts_and_de_morgan_holds(a in filter_text(), b in filter_text(), r in resource()) {
        let fa = parse(&a);
        let fb = parse(&b);
        let not_a = parse(&format!("not ({a})"));
        prop_assert_eq!(matches(&not_a, &r), !matches(&fa, &r));
        let lhs = parse(&format!("not (({a}) and ({b}))"));
        let rhs = parse(&format!("not ({a}) or not ({b})"));
        prop_assert_eq!(matches(&lhs, &r), matches(&rhs, &r));
        prop_assert_eq!(matches(&parse(&format!("({a}) or ({b})")), &r), matches(&fa, &r) || matches(&fb, &r));
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,60}") {
        let _ = Filter::parse(&text, &USER_TYPE, FilterLimits::default());
        let _ = model::patch::parse_path(&text, &USER_TYPE, FilterLimits::default());
    }

    #[test]
    fn patch_add_then_remove_leaves_no_trace(title in "[a-z]{1,6}", given in "[a-z]{1,6}") {
        let base = json!({"userName": "u"});
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "add", "path": "title", "value": title},
            {"op": "add", "path": "name.givenName", "value": given},
            {"op": "remove", "path": "title"},
            {"op": "remove", "path": "name.givenName"},
        ]});
        let ops = model::patch::parse_request(&body, &USER_TYPE, FilterLimits::default()).unwrap();
        let mut data = base.as_object().cloned().unwrap();
        model::patch::apply(&mut data, &ops, &USER_TYPE).unwrap();
        prop_assert_eq!(Value::Object(data), base);
    }

    #[test]
    fn patch_on_arbitrary_json_never_panics(body in arbitrary_json(3)) {
        if let Ok(ops) = model::patch::parse_request(&body, &USER_TYPE, FilterLimits::default()) {
            let mut data = json!({"userName": "u"}).as_object().cloned().unwrap();
            let _ = model::patch::apply(&mut data, &ops, &USER_TYPE);
        }
        let _ = model::resource::normalize(body, &USER_TYPE);
    }
}

fn arbitrary_json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        prop::bool::ANY.prop_map(Value::Bool),
        (-5i64..5).prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "op",
            "add",
            "Remove",
            "replace",
            "path",
            "value",
            "userName",
            "emails[type eq \"work\"].value",
            "members",
            "True",
            "urn:ietf:params:scim:api:messages:2.0:PatchOp",
            "Operations",
            "schemas"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(depth, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "op",
                        "path",
                        "value",
                        "schemas",
                        "Operations",
                        "userName",
                        "active",
                        "emails"
                    ]),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}
