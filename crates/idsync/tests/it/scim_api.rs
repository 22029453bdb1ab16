use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Server, add_source, started, urlencode};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn user(name: &str) -> Value {
    json!({"schemas": [USER], "userName": name, "name": {"givenName": "G", "familyName": name}, "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}], "active": true})
}

#[tokio::test]
async fn user_lifecycle_with_etags() {
    let (_d, _s, scim) = started();
    let created = scim.post("/Users", &user("ann")).await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.header("location"), created.body["meta"]["location"].as_str());
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    assert_eq!(created.header("content-type"), Some("application/scim+json"));
    assert_eq!(created.body["meta"]["resourceType"], "User");

    let got = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["userName"], "ann");
    let not_modified = scim.send(Method::GET, &format!("/Users/{id}"), None, &[("if-none-match", "W/\"1\"")]).await;
    assert_eq!(not_modified.status, 304);

    let mut replacement = user("ann");
    replacement["displayName"] = json!("Ann A.");
    let stale = scim.send(Method::PUT, &format!("/Users/{id}"), Some(&replacement), &[("if-match", "W/\"9\"")]).await;
    stale.assert_error(412, None);
    let put = scim.send(Method::PUT, &format!("/Users/{id}"), Some(&replacement), &[("if-match", "W/\"1\"")]).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.header("etag"), Some("W/\"2\""));
    assert_eq!(put.body["meta"]["created"], created.body["meta"]["created"]);

    let patched =
        scim.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "active", "value": false}])).await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["displayName"], "Ann A.");

    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "x"}]});
    scim.send(Method::PATCH, &format!("/Users/{id}"), Some(&patch), &[("if-match", "W/\"2\"")])
        .await
        .assert_error(412, None);
    scim.send(Method::DELETE, &format!("/Users/{id}"), None, &[("if-match", "W/\"1\"")]).await.assert_error(412, None);
    let current = patched.header("etag").unwrap().to_string();
    assert_eq!(current, "W/\"3\"");
    assert_eq!(scim.send(Method::DELETE, &format!("/Users/{id}"), None, &[("if-match", &current)]).await.status, 204);
    scim.get(&format!("/Users/{id}")).await.assert_error(404, None);
    scim.delete(&format!("/Users/{id}")).await.assert_error(404, None);
}

#[tokio::test]
async fn patch_applies_all_operations_or_none() {
    let (_d, _s, scim) = started();
    let id = scim.create_user("bob").await;
    let r = scim
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "replace", "path": "emails[type eq \"nope\" and value co \"zz\"].value", "value": "x"}
            ]),
        )
        .await;
    r.assert_error(400, Some("noTarget"));
    let got = scim.get(&format!("/Users/{id}")).await;
    assert!(got.body.get("displayName").is_none(), "the first operation must not have stuck: {}", got.body);
    assert_eq!(got.header("etag"), Some("W/\"1\""));
}

#[tokio::test]
async fn usernames_are_unique_case_insensitively() {
    let (_d, _s, scim) = started();
    scim.create_user("Carol").await;
    scim.post("/Users", &user("cAROL")).await.assert_error(409, Some("uniqueness"));
    let id = scim.create_user("dave").await;
    scim.put(&format!("/Users/{id}"), &user("CAROL")).await.assert_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn list_filter_sort_page_and_project() {
    let (_d, _s, scim) = started();
    for n in ["erin", "frank", "Gina", "hank", "ivy"] {
        scim.create_user(n).await;
    }
    let q = |f: &str| format!("/Users?filter={}", urlencode(f));
    let r = scim.get(&q("userName eq \"GINA\"")).await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["userName"], "Gina");
    let r = scim.get(&q("userName sw \"h\" or userName ew \"y\"")).await;
    assert_eq!(r.body["totalResults"], 2);
    let r = scim.get(&format!("{}&sortBy=userName&sortOrder=descending&startIndex=2&count=2", q("userName pr"))).await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["startIndex"], 2);
    assert_eq!(r.body["itemsPerPage"], 2);
    let names: Vec<&str> =
        r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap()).collect();
    assert_eq!(names, ["hank", "Gina"]);
    let r = scim.get("/Users?attributes=userName&count=1").await;
    let first = r.body["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let r = scim.get("/Users?excludedAttributes=emails,name&count=1").await;
    assert!(r.body["Resources"][0].get("emails").is_none() && r.body["Resources"][0].get("userName").is_some());
    let r = scim.get("/Users?count=0").await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["Resources"], json!([]));
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName co \"an\"", "attributes": ["userName"], "sortBy": "userName"});
    let r = scim.post("/Users/.search", &search).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 2);
    let r = scim
        .post("/.search", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 3}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["itemsPerPage"], 3);
}

#[tokio::test]
async fn every_error_class_answers_in_scim_form() {
    let (_d, _s, scim) = started();
    scim.get(&format!("/Users?filter={}", urlencode("userName eq"))).await.assert_error(400, Some("invalidFilter"));
    scim.get(&format!("/Users?filter={}", urlencode("shoeSize gt 4"))).await.assert_error(400, Some("invalidFilter"));
    scim.get("/Users?count=lots").await.assert_error(400, Some("invalidValue"));
    scim.get("/Users?sortOrder=sideways").await.assert_error(400, Some("invalidValue"));
    scim.raw(Method::POST, "/Users", "{\"userName\": ", "application/scim+json")
        .await
        .assert_error(400, Some("invalidSyntax"));
    scim.raw(Method::POST, "/Users", "userName=x", "application/x-www-form-urlencoded").await.assert_error(415, None);
    scim.raw(Method::POST, "/Users", &user("ok-json").to_string(), "application/json; charset=utf-8").await;
    scim.post("/Users", &json!({"schemas": [USER]})).await.assert_error(400, Some("invalidValue"));
    scim.post("/Users", &json!({"schemas": [USER], "userName": "x", "active": "perhaps"}))
        .await
        .assert_error(400, Some("invalidValue"));
    let id = scim.create_user("err").await;
    scim.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "bad[[", "value": 1}]))
        .await
        .assert_error(400, Some("invalidPath"));
    scim.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "id", "value": "x"}]))
        .await
        .assert_error(400, Some("mutability"));
    scim.patch(&format!("/Users/{id}"), json!([{"op": "remove"}])).await.assert_error(400, Some("noTarget"));
    scim.send(Method::PATCH, &format!("/Users/{id}"), Some(&json!({"Operations": []})), &[])
        .await
        .assert_error(400, Some("invalidSyntax"));
    scim.get("/Widgets").await.assert_error(404, None);
    scim.get("/Users/a/b/c").await.assert_error(404, None);
    scim.send(Method::DELETE, "/Users", None, &[]).await.assert_error(405, None);
    scim.get("/Me").await.assert_error(501, None);
    let big = json!({"schemas": [USER], "userName": "big", "title": "x".repeat(2 * 1024 * 1024)});
    scim.post("/Users", &big).await.assert_error(413, None);
}

#[tokio::test]
async fn tokens_open_only_their_own_source() {
    let dir = tempfile::tempdir().unwrap();
    let token_a = add_source(dir.path(), "alpha");
    let token_b = add_source(dir.path(), "beta");
    let server = Server::start(dir.path());
    let a = server.scim("alpha", &token_a);
    a.create_user("only-in-alpha").await;
    for (source, token) in
        [("alpha", token_b.as_str()), ("alpha", ""), ("alpha", "idsync_0000"), ("nosuch", token_a.as_str())]
    {
        let r = server.scim(source, token).get("/Users").await;
        r.assert_error(401, None);
        assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")));
        assert!(!r.body.to_string().contains("only-in-alpha"));
    }
    let b = server.scim("beta", &token_b);
    assert_eq!(b.get("/Users").await.body["totalResults"], 0, "beta sees nothing of alpha");
    assert!(!server.logged().contains(&token_a), "tokens never reach the log");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let token = add_source(dir.path(), "busy");
    let server = Server::start_with(
        dir.path(),
        &[("IDSYNC_SCIM__RATE_LIMIT_PER_SECOND", "1"), ("IDSYNC_SCIM__RATE_LIMIT_BURST", "3")],
    );
    let scim = server.scim("busy", &token);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(scim.get("/Users").await);
    }
    assert!(statuses[..3].iter().all(|r| r.status == 200));
    let limited = &statuses[4];
    limited.assert_error(429, None);
    assert!(limited.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s >= 1));
}

#[tokio::test]
async fn configured_limits_apply() {
    let dir = tempfile::tempdir().unwrap();
    let token = add_source(dir.path(), "small");
    let server = Server::start_with(
        dir.path(),
        &[
            ("IDSYNC_SCIM__MAX_FILTER_LENGTH", "30"),
            ("IDSYNC_SCIM__MAX_COUNT", "2"),
            ("IDSYNC_SCIM__DEFAULT_COUNT", "2"),
            ("IDSYNC_SCIM__MAX_BODY_BYTES", "300"),
        ],
    );
    let scim = server.scim("small", &token);
    for n in ["a", "b", "c"] {
        scim.create_user(n).await;
    }
    let r = scim.get(&format!("/Users?filter={}", urlencode("userName eq \"a-rather-long-user-name\""))).await;
    r.assert_error(400, Some("invalidFilter"));
    assert!(r.body["detail"].as_str().unwrap().contains("limit"), "{}", r.body);
    let page = scim.get("/Users?count=50").await;
    assert_eq!(page.body["itemsPerPage"], 2, "count is capped at max_count");
    assert_eq!(page.body["totalResults"], 3);
    assert_eq!(scim.get("/ServiceProviderConfig").await.body["filter"]["maxResults"], 2);
    let mut big = user("big");
    big["title"] = json!("x".repeat(400));
    scim.post("/Users", &big).await.assert_error(413, None);
}

#[tokio::test]
async fn discovery_describes_what_is_supported() {
    let (_d, _s, scim) = started();
    let spc = scim.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["patch"]["supported"], true);
    assert_eq!(spc.body["bulk"]["maxOperations"], 1000);
    assert_eq!(spc.body["filter"]["maxResults"], 1000);
    assert_eq!(spc.body["etag"]["supported"], true);
    let types = scim.get("/ResourceTypes").await;
    assert_eq!(types.body["totalResults"], 2);
    assert_eq!(
        scim.get("/ResourceTypes/User").await.body["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );
    let schemas = scim.get("/Schemas").await;
    assert_eq!(schemas.body["totalResults"], 3);
    let user_schema = scim.get(&format!("/Schemas/{USER}")).await;
    let attrs = user_schema.body["attributes"].as_array().unwrap();
    let user_name = attrs.iter().find(|a| a["name"] == "userName").unwrap();
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    let emails = attrs.iter().find(|a| a["name"] == "emails").unwrap();
    assert_eq!(emails["subAttributes"].as_array().unwrap().len(), 4);
    scim.get("/Schemas?filter=x").await.assert_error(403, None);
}

#[tokio::test]
async fn bulk_resolves_references_and_stops_on_errors() {
    let (_d, _s, scim) = started();
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "team", "members": [{"value": "bulkId:u1"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": user("bulk1")},
            {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:u2"}]}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u2", "data": user("bulk2")},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user("BULK1")}
        ]
    });
    let r = scim.post("/Bulk", &bulk).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ops = r.body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200", "201", "409"]);
    assert_eq!(ops[4]["response"]["scimType"], "uniqueness");
    let group = scim.get(ops[0]["location"].as_str().unwrap().rsplit_once("/scim/v2/test").unwrap().1).await;
    assert_eq!(group.body["members"].as_array().unwrap().len(), 2);

    let failing = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER]}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": user("never")}
        ]
    });
    let r = scim.post("/Bulk", &failing).await;
    assert_eq!(r.body["Operations"].as_array().unwrap().len(), 1, "stops after the first error");
    assert_eq!(
        scim.get(&format!("/Users?filter={}", urlencode("userName eq \"never\""))).await.body["totalResults"],
        0
    );

    let too_many: Vec<Value> = (0..1001).map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")})).collect();
    scim.post(
        "/Bulk",
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": too_many}),
    )
    .await
    .assert_error(413, Some("tooMany"));
    let cycle = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "POST", "path": "/Groups", "bulkId": "x", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "x", "members": [{"value": "bulkId:y"}]}},
        {"method": "POST", "path": "/Groups", "bulkId": "y", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "y", "members": [{"value": "bulkId:x"}]}}
    ]});
    let r = scim.post("/Bulk", &cycle).await;
    assert!(r.body["Operations"].as_array().unwrap().iter().all(|o| o["status"] == "409"), "{}", r.body);
}

#[tokio::test]
async fn groups_list_members_and_users_list_groups() {
    let (_d, _s, scim) = started();
    let u1 = scim.create_user("m1").await;
    let u2 = scim.create_user("m2").await;
    let g = scim.create_group("Admins", std::slice::from_ref(&u1)).await;
    let r =
        scim.patch(&format!("/Groups/{g}"), json!([{"op": "add", "path": "members", "value": [{"value": u2}]}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);
    let user = scim.get(&format!("/Users/{u1}")).await;
    assert_eq!(user.body["groups"][0]["value"], g.as_str());
    assert_eq!(user.body["groups"][0]["display"], "Admins");
    let f = format!("members.value eq \"{u2}\"");
    assert_eq!(scim.get(&format!("/Groups?filter={}", urlencode(&f))).await.body["totalResults"], 1);
    let no_members = scim.get(&format!("/Groups/{g}?excludedAttributes=members")).await;
    assert!(no_members.body.get("members").is_none());
    scim.patch(&format!("/Users/{u1}"), json!([{"op": "add", "path": "groups", "value": [{"value": g}]}]))
        .await
        .assert_error(400, Some("mutability"));
}

#[tokio::test]
async fn root_search_pages_across_users_then_groups() {
    let (_d, _s, scim) = started();
    for n in ["u1", "u2", "u3"] {
        scim.create_user(n).await;
    }
    for g in ["g1", "g2"] {
        scim.create_group(g, &[]).await;
    }
    let search = |start: u64, count: u64| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "startIndex": start, "count": count, "attributes": ["userName", "displayName"]});
    let names = |r: &crate::harness::Resp| -> Vec<String> {
        r.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.get("userName").or_else(|| x.get("displayName")).unwrap().as_str().unwrap().to_string())
            .collect()
    };
    let r = scim.post("/.search", &search(1, 10)).await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(names(&r), ["u1", "u2", "u3", "g1", "g2"]);
    let r = scim.post("/.search", &search(3, 2)).await;
    assert_eq!(names(&r), ["u3", "g1"], "a page may straddle the two types");
    let r = scim.post("/.search", &search(5, 2)).await;
    assert_eq!(names(&r), ["g2"]);
    let only_groups = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "members pr or displayName sw \"g\""});
    let r = scim.post("/.search", &only_groups).await;
    assert_eq!(r.body["totalResults"], 2, "a filter naming group attributes selects groups only: {}", r.body);
}

/// RFC 7643 §4.1.1 and §7: a password a client sends is never kept, so it can neither be read
/// back nor guessed character by character through filters or sorting.
#[tokio::test]
async fn passwords_are_never_kept_filtered_or_sorted_on() {
    let (dir, _s, scim) = started();
    let secret = "Wh1sper-only-once";
    let mut body = user("ann");
    body["password"] = json!(secret);
    let created = scim.post("/Users", &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let set =
        scim.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "password", "value": "Another-1"}])).await;
    assert_eq!(set.status, 200, "a client may still set one: {}", set.body);
    let replaced =
        scim.put(&format!("/Users/{id}"), &json!({"schemas": [USER], "userName": "ann", "password": "Third-1"})).await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    for probe in ["password sw \"W\"", "password pr", "emails.value pr and password eq \"Third-1\""] {
        scim.get(&format!("/Users?filter={}", urlencode(probe))).await.assert_error(400, Some("invalidFilter"));
    }
    scim.get("/Users?sortBy=password").await.assert_error(400, Some("invalidFilter"));
    let got = scim.get(&format!("/Users/{id}?attributes=password")).await;
    assert!(got.body.get("password").is_none(), "{}", got.body);
    let db = std::fs::read(dir.path().join("idsync.db")).unwrap();
    let wal = std::fs::read(dir.path().join("idsync.db-wal")).unwrap_or_default();
    for word in [secret, "Another-1", "Third-1"] {
        let found = |bytes: &[u8]| bytes.windows(word.len()).any(|w| w == word.as_bytes());
        assert!(!found(&db) && !found(&wal), "'{word}' reached the database");
    }
}

/// A userName of nothing but white space is no name; two encodings of one name are one name.
#[tokio::test]
async fn user_names_are_non_blank_and_unique_after_normalisation() {
    let (_d, _s, scim) = started();
    for blank in [" ", "\t", "\u{a0}", " \u{a0}\t "] {
        let r = scim.post("/Users", &json!({"schemas": [USER], "userName": blank})).await;
        r.assert_error(400, Some("invalidValue"));
        assert!(r.body["detail"].as_str().unwrap().contains("userName"), "{}", r.body);
    }
    let composed = "Ren\u{e9}";
    let decomposed = "rene\u{301}";
    let created = scim.post("/Users", &json!({"schemas": [USER], "userName": composed})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    scim.post("/Users", &json!({"schemas": [USER], "userName": decomposed}))
        .await
        .assert_error(409, Some("uniqueness"));
    let found = scim.get(&format!("/Users?filter={}", urlencode(&format!("userName eq \"{decomposed}\"")))).await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    let id = created.body["id"].as_str().unwrap();
    let blanked =
        scim.patch(&format!("/Users/{id}"), json!([{"op": "replace", "path": "userName", "value": "  "}])).await;
    blanked.assert_error(400, Some("invalidValue"));
}
