//! A change to one member of a big group touches one row, and big groups are not echoed back.

use serde_json::{Value, json};

use crate::harness::started;

#[tokio::test]
async fn one_member_changes_in_a_group_of_thousands() {
    let (_d, _s, scim) = started();
    let mut ids = Vec::new();
    let bulk: Vec<Value> = (0..1500)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("member{i}")}}))
        .collect();
    for chunk in bulk.chunks(500) {
        let r = scim
            .post(
                "/Bulk",
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": chunk}),
            )
            .await;
        for op in r.body["Operations"].as_array().unwrap() {
            ids.push(op["location"].as_str().unwrap().rsplit('/').next().unwrap().to_string());
        }
    }
    let gid = scim.create_group("big", &[]).await;
    for chunk in ids.chunks(500) {
        let value: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
        let r = scim.patch(&format!("/Groups/{gid}"), json!([{"op": "Add", "path": "members", "value": value}])).await;
        assert!(r.status == 200 || r.status == 204, "{}", r.body);
    }
    // Past the response limit a PATCH answers 204 instead of echoing 1,500 members.
    let extra = scim.create_user("extra").await;
    let r = scim
        .patch(&format!("/Groups/{gid}"), json!([{"op": "add", "path": "members", "value": [{"value": extra}]}]))
        .await;
    assert_eq!(r.status, 204);
    assert!(r.header("etag").is_some());
    let r = scim
        .patch(
            &format!("/Groups/{gid}?attributes=displayName"),
            json!([{"op": "remove", "path": format!("members[value eq \"{extra}\"]")}]),
        )
        .await;
    assert_eq!(r.status, 200, "asking for attributes always gets a body");
    assert!(r.body.get("members").is_none());
    let full = scim.get(&format!("/Groups/{gid}")).await;
    assert_eq!(full.body["members"].as_array().unwrap().len(), 1500);
    let slim = scim.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert!(slim.body.get("members").is_none());
    let r = scim.patch(&format!("/Groups/{gid}"), json!([{"op": "remove", "path": "members[type eq \"User\"]"}])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["members"], json!([]));
}
