//! The LDAP connector against an AD-like server (simulators::active_directory), for what slapd
//! cannot show: ranged retrieval of large groups, AD's page limit, binary GUIDs.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rest::Credentials;
use simulators::active_directory::ActiveDirectory;
use sources::{LdapSettings, SourceConfig, connect};

pub fn settings(url: &str) -> LdapSettings {
    serde_json::from_value(serde_json::json!({
        "url": url, "directory": "ad", "user_bases": [ActiveDirectory::PEOPLE],
        "group_bases": [ActiveDirectory::GROUPS], "page_size": 500
    }))
    .unwrap()
}

pub fn reader() -> Credentials {
    Credentials::Basic { username: "reader@corp.example.com".into(), password: "secret".into() }
}

pub fn source(settings: LdapSettings, credentials: Credentials) -> Box<dyn sources::Connector> {
    rest::install_crypto();
    connect(&SourceConfig::Ldap(settings), credentials, Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn groups_past_1500_members_are_read_whole_by_ranges() {
    let ad = ActiveDirectory::new();
    let (big, small) = {
        let mut data = ad.data.lock().unwrap();
        let mut dns = Vec::new();
        for i in 0..5_000 {
            data.add_user(ActiveDirectory::PEOPLE, &format!("User {i:04}"), &format!("u{i:04}"));
            dns.push(format!("CN=User {i:04},{}", ActiveDirectory::PEOPLE));
        }
        // A GUID whose bytes are all ASCII reaches the client as text; it is still a GUID.
        let first = data.objects.iter_mut().find(|o| o.dn.starts_with("CN=User 0000")).unwrap();
        first.attributes.insert("objectGUID".into(), vec![b"ABCDEFGHIJKLMNOP".to_vec()]);
        let big = data.add_group(ActiveDirectory::GROUPS, "all-staff", dns.clone());
        let small = data.add_group(ActiveDirectory::GROUPS, "few", dns[..3].to_vec());
        (big, small)
    };
    let running = ad.start().await.unwrap();
    let ldap = source(settings(&running.url), reader());
    let full = ldap.read().await;
    assert!(full.complete, "{:?}", full.problems);
    assert_eq!(full.users.len(), 5_000);
    let members = |id: &str| full.groups.iter().find(|g| g.external_id == id).unwrap().members.len();
    assert_eq!(members(&big), 5_000, "every range read: 0-1499, 1500-2999, 3000-4499, 4500-*");
    assert_eq!(members(&small), 3);
    assert!(
        full.users.iter().any(|u| u.external_id == "44434241-4645-4847-494a-4b4c4d4e4f50"),
        "ASCII GUID in GUID form"
    );

    // An incremental run that sees the big group change reads its ranges too.
    let mark = full.cursor.clone().expect("a uSNChanged cursor");
    ad.data
        .lock()
        .unwrap()
        .change(&format!("CN=all-staff,{}", ActiveDirectory::GROUPS), |g| g.set("description", vec!["changed".into()]))
        .unwrap();
    let before = ad.searches.load(Ordering::SeqCst);
    let changes = ldap.read_changes(&mark).await;
    assert!(changes.complete, "{:?}", changes.problems);
    let group = changes.groups.iter().find(|g| g.external_id == big).expect("the changed group");
    match &group.members {
        sources::MemberChanges::All(ids) => assert_eq!(ids.len(), 5_000),
        other => panic!("{other:?}"),
    }
    assert!(ad.searches.load(Ordering::SeqCst) - before < 40, "ranges and member lookups, batched");
}
