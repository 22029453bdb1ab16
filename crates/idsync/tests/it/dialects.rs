//! The request sequences Microsoft Entra ID and Okta send when provisioning, replayed as they send
//! them (capitalised ops, string booleans, `$ref: null`, path-less replace, …).

use serde_json::json;

use crate::harness::{started, urlencode};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn filter(path: &str, f: &str) -> String {
    format!("{path}?filter={}", urlencode(f))
}

#[tokio::test]
async fn entra_id_provisioning_cycle() {
    let (_d, _s, scim) = started();
    // The connection test probes with a random userName and expects an empty list.
    let probe = scim.get(&filter("/Users", "userName eq \"5f5c9f2e-5d62-4b0a-8e27-b9b4dbd6ff6c\"")).await;
    assert_eq!(probe.status, 200);
    assert_eq!(probe.body["totalResults"], 0);

    let manager = scim.create_user("boss@contoso.com").await;
    let created = scim
        .post(
            "/Users",
            &json!({
                "schemas": [USER, ENTERPRISE],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com",
                "active": true,
                "displayName": "Test User",
                "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                "roles": [],
                ENTERPRISE: {"department": "Sales", "employeeNumber": "42"}
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();

    let by_external = scim.get(&filter("/Users", "externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"")).await;
    assert_eq!(by_external.body["totalResults"], 1);
    assert_eq!(
        scim.get(&filter("/Users", "externalId eq \"0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF\"")).await.body["totalResults"],
        0,
        "externalId is caseExact"
    );

    let r = scim
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@contoso.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {"op": "Add", "path": format!("{ENTERPRISE}:manager"), "value": manager},
                {"op": "Replace", "path": "active", "value": "False"}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["emails"][0]["value"], "updatedEmail@contoso.com");
    assert_eq!(r.body["name"]["familyName"], "updatedFamilyName");
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], manager.as_str());
    assert_eq!(r.body["active"], false);
    let r = scim.patch(&format!("/Users/{id}"), json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}, {"op": "Replace", "path": "active", "value": "True"}])).await;
    assert!(r.body[ENTERPRISE].get("manager").is_none());
    assert_eq!(r.body["active"], true);

    let g = scim.post("/Groups", &json!({"schemas": [GROUP], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName", "meta": {"resourceType": "Group"}})).await;
    assert_eq!(g.status, 201, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_string();
    let found =
        scim.get(&format!("{}&excludedAttributes=members", filter("/Groups", "displayName eq \"displayName\""))).await;
    assert_eq!(found.body["totalResults"], 1);
    assert!(found.body["Resources"][0].get("members").is_none());

    let r = scim.patch(&format!("/Groups/{gid}"), json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": manager}]}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let check = format!("id eq \"{gid}\" and members eq \"{id}\"");
    assert_eq!(
        scim.get(&format!("{}&excludedAttributes=members", filter("/Groups", &check))).await.body["totalResults"],
        1
    );
    let r = scim.patch(&format!("/Groups/{gid}"), json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}, {"op": "Replace", "path": "displayName", "value": "renamed"}])).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "renamed");
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(
        scim.get(&format!("{}&excludedAttributes=members", filter("/Groups", &check))).await.body["totalResults"],
        0
    );

    assert_eq!(scim.delete(&format!("/Users/{id}")).await.status, 204);
    assert_eq!(scim.delete(&format!("/Groups/{gid}")).await.status, 204);
}

#[tokio::test]
async fn okta_provisioning_cycle() {
    let (_d, _s, scim) = started();
    let probe =
        scim.get(&format!("{}&startIndex=1&count=100", filter("/Users", "userName eq \"john.doe@example.com\""))).await;
    assert_eq!(probe.body["totalResults"], 0);
    assert_eq!(probe.body["Resources"], json!([]));
    let user = json!({
        "schemas": [USER], "userName": "john.doe@example.com",
        "name": {"givenName": "John", "familyName": "Doe"},
        "emails": [{"primary": true, "value": "john.doe@example.com", "type": "work"}],
        "displayName": "John Doe", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [], "password": "1mz050nq", "active": true
    });
    let created = scim.post("/Users", &user).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body.get("password").is_none(), "passwords are never returned");
    let id = created.body["id"].as_str().unwrap().to_string();

    let mut whole = created.body.clone();
    whole["name"]["familyName"] = json!("Doe-Smith");
    let put = scim.put(&format!("/Users/{id}"), &whole).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["name"]["familyName"], "Doe-Smith");
    let off = scim.patch(&format!("/Users/{id}"), json!([{"op": "replace", "value": {"active": false}}])).await;
    assert_eq!(off.body["active"], false);

    let other = scim.create_user("jane@example.com").await;
    for i in 0..5 {
        scim.create_group(&format!("okta-{i}"), &[]).await;
    }
    let page1 = scim.get("/Groups?startIndex=1&count=2").await;
    let page3 = scim.get("/Groups?startIndex=5&count=2").await;
    assert_eq!(page1.body["totalResults"], 5);
    assert_eq!(page1.body["itemsPerPage"], 2);
    assert_eq!(page3.body["itemsPerPage"], 1);

    let g = scim.post("/Groups", &json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": [{"value": id, "display": "john.doe@example.com"}]})).await;
    let gid = g.body["id"].as_str().unwrap().to_string();
    let r = scim
        .patch(
            &format!("/Groups/{gid}"),
            json!([
                {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
                {"op": "add", "path": "members", "value": [{"value": other, "display": "jane@example.com"}]}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["members"],
        json!([{"value": other, "display": "jane@example.com", "type": "User", "$ref": format!("{}/Users/{other}", scim.base)}])
    );
    let r = scim
        .patch(&format!("/Groups/{gid}"), json!([{"op": "replace", "value": {"id": gid, "displayName": "Renamed"}}]))
        .await;
    assert_eq!(r.body["displayName"], "Renamed");
    let r = scim
        .patch(&format!("/Groups/{gid}"), json!([{"op": "replace", "path": "members", "value": [{"value": id}]}]))
        .await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["members"][0]["value"], id.as_str());
    assert_eq!(scim.delete(&format!("/Groups/{gid}")).await.status, 204);
}
