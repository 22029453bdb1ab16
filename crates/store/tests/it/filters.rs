//! Differential test: for random data and random filters, the SQL translation selects exactly the
//! resources the in-memory evaluator (`model::eval`) selects.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use model::eval::matches;
use model::schema::USER_TYPE;
use model::{Filter, FilterLimits, ResourceKind};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use store::{ListQuery, Load, Store, StoredResource};

struct Fixture {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    store: std::sync::Arc<store::sqlite::SqliteStore>,
    source: store::SourceId,
    users: Vec<Value>,
}

/// The resource as a client would see it, for the reference evaluator.
fn as_json(r: &StoredResource) -> Value {
    let mut m: Map<String, Value> = r.data.clone();
    m.insert("id".into(), json!(r.id));
    m.insert("meta".into(), json!({"resourceType": r.kind.as_str(), "created": r.created, "lastModified": r.last_modified, "version": format!("W/\"{}\"", r.version)}));
    if let Some(groups) = &r.groups {
        m.insert(
            "groups".into(),
            Value::Array(
                groups.iter().map(|g| json!({"value": g.id, "display": g.display, "type": "direct"})).collect(),
            ),
        );
    }
    Value::Object(m)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (dir, store, source) = rt.block_on(super::open());
        let mut rng = 0x2545_f491_u64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let words = ["ann", "Bob", "carl", "DANA", "e.f", "Ann", "x-y", ""];
        let users = rt.block_on(async {
            let mut ids = Vec::new();
            for i in 0..60 {
                let mut d = json!({"userName": format!("{}{}", words[next(7) as usize], i), "active": next(2) == 0});
                if next(3) > 0 {
                    d["displayName"] = json!(words[next(8) as usize]);
                }
                if next(2) == 0 {
                    d["title"] = json!(words[next(8) as usize]);
                }
                if next(2) == 0 {
                    d["externalId"] = json!(words[next(8) as usize]);
                }
                if next(2) == 0 {
                    d["name"] = json!({"givenName": words[next(8) as usize]});
                }
                let n = next(3);
                if n > 0 {
                    d["emails"] = Value::Array((0..n).map(|_| json!({"value": words[next(8) as usize], "type": (if next(2) == 0 { "work" } else { "home" }), "primary": next(2) == 0})).collect());
                }
                if next(2) == 0 {
                    d["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = json!({"department": words[next(8) as usize]});
                }
                let r = store.create(source, ResourceKind::User, d.as_object().cloned().unwrap(), vec![]).await.unwrap();
                ids.push(r.id);
            }
            for g in 0..3 {
                let members = ids.iter().filter(|_| next(3) == 0).map(|id| model::resource::MemberRef { value: id.clone(), kind: None, display: None }).collect();
                let data = json!({"displayName": format!("group-{g}")}).as_object().cloned().unwrap();
                store.create(source, ResourceKind::Group, data, members).await.unwrap();
            }
            let q = ListQuery { filter: None, sort_by: None, descending: false, start_index: 1, count: 1000, load: Load { groups: true, ..Load::default() } };
            store.list(source, ResourceKind::User, &q).await.unwrap().items.iter().map(as_json).collect()
        });
        Fixture { _dir: dir, rt, store, source, users }
    })
}

const ATTRS: &[&str] = &[
    "userName",
    "displayName",
    "title",
    "externalId",
    "name.givenName",
    "emails.value",
    "emails.type",
    "emails",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "groups.display",
    "id",
];
const OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
const VALUES: &[&str] = &["ann", "ANN", "a", "b", "Bob", "", "e.f", "x", "group-1", "z"];

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::sample::select(ATTRS), prop::sample::select(OPS), prop::sample::select(VALUES)).prop_map(|(a, o, v)| format!("{a} {o} \"{v}\"")),
        1 => prop::sample::select(ATTRS).prop_map(|a| format!("{a} pr")),
        1 => prop::sample::select(ATTRS).prop_map(|a| format!("{a} eq null")),
        1 => prop::bool::ANY.prop_map(|b| format!("active eq {b}")),
        1 => (prop::sample::select(&["work", "home"][..]), prop::bool::ANY).prop_map(|(t, p)| format!("emails[type eq \"{t}\" and primary eq {p}]")),
        1 => prop::sample::select(&["gt", "lt", "ge"][..]).prop_map(|o| format!("meta.created {o} \"2000-01-01T00:00:00+02:00\"")),
    ]
}

fn filter_text() -> impl Strategy<Value = String> {
    atom().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn sql_selects_what_the_evaluator_selects(text in filter_text()) {
        let fx = fixture();
        let filter = Filter::parse(&text, &USER_TYPE, FilterLimits::default()).unwrap();
        let expected: BTreeSet<String> = fx.users.iter().filter(|u| matches(&filter, u)).map(|u| u["id"].as_str().unwrap().to_string()).collect();
        let q = ListQuery { filter: Some(&filter), sort_by: None, descending: false, start_index: 1, count: 1000, load: Load::default() };
        let page = fx.rt.block_on(fx.store.list(fx.source, ResourceKind::User, &q)).unwrap();
        let got: BTreeSet<String> = page.items.iter().map(|r| r.id.clone()).collect();
        prop_assert_eq!(page.total as usize, got.len());
        prop_assert_eq!(got, expected, "filter: {}", text);
    }
}

#[test]
fn paging_and_sorting() {
    let fx = fixture();
    let sort = model::path::resolve("userName", &USER_TYPE).unwrap();
    let all = |descending| {
        let q = ListQuery {
            filter: None,
            sort_by: Some(&sort),
            descending,
            start_index: 1,
            count: 1000,
            load: Load::default(),
        };
        fx.rt.block_on(fx.store.list(fx.source, ResourceKind::User, &q)).unwrap().items
    };
    let asc = all(false);
    let names: Vec<String> = asc.iter().map(|r| r.data["userName"].as_str().unwrap().to_lowercase()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted case-insensitively");
    let desc = all(true);
    assert_eq!(desc.first().map(|r| &r.id), asc.last().map(|r| &r.id));
    let q = ListQuery {
        filter: None,
        sort_by: Some(&sort),
        descending: false,
        start_index: 11,
        count: 5,
        load: Load::default(),
    };
    let page = fx.rt.block_on(fx.store.list(fx.source, ResourceKind::User, &q)).unwrap();
    assert_eq!(page.total, 60);
    assert_eq!(
        page.items.iter().map(|r| &r.id).collect::<Vec<_>>(),
        asc[10..15].iter().map(|r| &r.id).collect::<Vec<_>>()
    );
}
