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

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[tokio::test]
async fn what_ad_holds_is_carried_and_system_accounts_are_left_out() {
    let ad = ActiveDirectory::new();
    let people = ActiveDirectory::PEOPLE;
    let (contractors_dn, hopper, ada) = {
        let mut data = ad.data.lock().unwrap();
        let boss = data.add_user(people, "Grace Boss", "gboss");
        let ada = data.add_user(people, "Lovelace, Ada", "alovelace");
        let hopper = data.add_user(people, "Hopper, Margaret", "mhopper");
        data.add_group(ActiveDirectory::GROUPS, "Contractors", vec![]);
        let contractors_dn = format!("CN=Contractors,{}", ActiveDirectory::GROUPS);
        let rid =
            data.objects.iter().find(|o| o.dn == contractors_dn).unwrap().attributes["primaryGroupToken"][0].clone();
        data.change(&contractors_dn, |g| g.set("mail", vec!["contractors@corp.example.com".into()]));
        data.change(&format!("CN=Hopper\\, Margaret,{people}"), |u| {
            u.set("mail", vec!["margaret.hopper@corp.example.com".into()]);
            u.set("title", vec!["Engineer".into()]);
            u.set("department", vec!["Platform".into()]);
            u.set("company", vec!["Example Ltd".into()]);
            u.set("employeeID", vec!["E1042".into()]);
            u.set("telephoneNumber", vec!["+44 20 7946 0000".into()]);
            u.set("extensionAttribute1", vec!["cost-42".into()]);
            u.set("manager", vec![format!("CN=Grace Boss,{people}")]);
            u.set("primaryGroupID", vec![String::from_utf8(rid).unwrap()]);
        });
        // Ada's manager sits outside the bases: no link, and the read still completes.
        data.change(&format!("CN=Lovelace\\, Ada,{people}"), |u| {
            u.set("manager", vec![format!("CN=Someone,OU=Elsewhere,{}", ActiveDirectory::DOMAIN)]);
        });
        let _ = boss;
        (contractors_dn, hopper, ada)
    };
    let running = ad.start().await.unwrap();
    let mut s = settings(&running.url);
    // System accounts live under CN=Users; reading the whole domain shows they are filtered out.
    s.user_bases = vec![ActiveDirectory::DOMAIN.into()];
    s.attributes.insert("extensionAttribute1".into(), format!("{ENTERPRISE}:costCenter"));
    let ldap = source(s, reader());
    let full = ldap.read().await;
    assert!(full.complete, "{:?}", full.problems);
    let names: Vec<&str> = full.users.iter().map(|u| u.record["userName"].as_str().unwrap()).collect();
    assert!(!names.contains(&"krbtgt") && !names.contains(&"Guest"), "{names:?}");
    let user = |id: &str| &full.users.iter().find(|u| u.external_id == id).unwrap().record;
    let boss_id = full.users.iter().find(|u| u.record["userName"] == "gboss").unwrap().external_id.clone();
    let m = user(&hopper);
    assert_eq!(m["title"], "Engineer");
    assert_eq!(m["phoneNumbers"][0]["value"], "+44 20 7946 0000");
    assert_eq!(m[ENTERPRISE]["department"], "Platform");
    assert_eq!(m[ENTERPRISE]["organization"], "Example Ltd");
    assert_eq!(m[ENTERPRISE]["employeeNumber"], "E1042");
    assert_eq!(m[ENTERPRISE]["costCenter"], "cost-42", "an attribute the administrator named");
    assert_eq!(m[ENTERPRISE]["manager"]["value"], boss_id.as_str(), "the manager's DN resolved to the manager");
    assert!(user(&ada).get(ENTERPRISE).and_then(|e| e.get("manager")).is_none(), "{:?}", user(&ada));
    let contractors = full.groups.iter().find(|g| g.name == "Contractors").unwrap();
    assert_eq!(contractors.members, std::slice::from_ref(&hopper), "the primary group holds its primary members");
    assert_eq!(contractors.attributes[sources::GROUP_EXTENSION]["mail"], "contractors@corp.example.com");

    // Incremental: a change to the primary group lists its primary member; a changed user's
    // manager is resolved too.
    let mark = full.cursor.clone().unwrap();
    {
        let mut data = ad.data.lock().unwrap();
        data.change(&contractors_dn, |g| g.set("description", vec!["touched".into()])).unwrap();
        data.change(&format!("CN=Hopper\\, Margaret,{people}"), |u| u.set("title", vec!["Lead".into()])).unwrap();
    }
    let changes = ldap.read_changes(&mark).await;
    assert!(changes.complete, "{:?}", changes.problems);
    let group = changes.groups.iter().find(|g| g.external_id == contractors.external_id).unwrap();
    assert_eq!(group.members, sources::MemberChanges::All(vec![hopper.clone()]));
    let carried = &group.attributes.as_ref().expect("reported")[sources::GROUP_EXTENSION];
    assert_eq!(
        (carried["mail"].as_str(), carried["description"].as_str()),
        (Some("contractors@corp.example.com"), Some("touched"))
    );
    let changed = changes.users.iter().find(|u| u.external_id == hopper).unwrap();
    assert_eq!(changed.record[ENTERPRISE]["manager"]["value"], boss_id.as_str());

    // Looked up by userPrincipalName or mail as well as by sAMAccountName.
    for name in ["mhopper", "mhopper@corp.example.com", "margaret.hopper@corp.example.com"] {
        let found = ldap.lookup(name).await.unwrap().unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(found["samaccountname"], "mhopper", "{found}");
    }
}

#[tokio::test]
async fn each_reason_ad_refuses_a_bind_is_named() {
    use simulators::active_directory::AccountState;
    let ad = ActiveDirectory::new();
    let running = ad.start().await.unwrap();
    for (state, words) in [
        (AccountState::Active, "invalid credentials"),
        (AccountState::Disabled, "the account is disabled"),
        (AccountState::Locked, "locked out"),
        (AccountState::PasswordExpired, "password has expired"),
        (AccountState::AccountExpired, "account has expired"),
        (AccountState::MustChangePassword, "must change its password"),
        (AccountState::OutsideHours, "time of day"),
        (AccountState::WrongWorkstation, "from this computer"),
    ] {
        ad.data.lock().unwrap().accounts[0].state = state;
        let password = if state == AccountState::Active { "wrong" } else { "secret" };
        let credentials = Credentials::Basic { username: "reader@corp.example.com".into(), password: password.into() };
        let checks = source(settings(&running.url), credentials).check().await;
        assert!(checks[0].what.contains(words), "{state:?}: {checks:?}");
    }
}

/// AD: an account that may list Deleted Objects reads the tombstones and what moved out of the
/// bases since the last run, in proportion to the changes; an ordinary account falls back to
/// listing the ids under the bases.
#[tokio::test]
async fn deletions_are_read_from_tombstones_or_found_by_listing_ids() {
    let ad = ActiveDirectory::new();
    let people = ActiveDirectory::PEOPLE;
    let (ann, bob, cat, team) = {
        let mut data = ad.data.lock().unwrap();
        let ann = data.add_user(people, "Ann", "ann");
        let bob = data.add_user(people, "Bob", "bob");
        let cat = data.add_user(people, "Cat", "cat");
        let team = data.add_group(ActiveDirectory::GROUPS, "team", vec![format!("CN=Ann,{people}")]);
        (ann, bob, cat, team)
    };
    let running = ad.start().await.unwrap();
    let admin = Credentials::Basic { username: "admin@corp.example.com".into(), password: "secret".into() };
    let privileged = source(settings(&running.url), admin);
    let ordinary = source(settings(&running.url), reader());
    let mark = privileged.read().await.cursor.unwrap();
    {
        let mut data = ad.data.lock().unwrap();
        data.delete(&format!("CN=Bob,{people}")).unwrap();
        data.delete(&format!("CN=team,{}", ActiveDirectory::GROUPS)).unwrap();
        data.move_to(&format!("CN=Cat,{people}"), &format!("OU=Leavers,{}", ActiveDirectory::DOMAIN)).unwrap();
    }
    let changes = privileged.read_changes(&mark).await;
    assert!(changes.complete, "{:?}", changes.problems);
    let mut removed = changes.removed_users.clone();
    removed.sort();
    let mut expected = vec![bob.clone(), cat.clone()];
    expected.sort();
    assert_eq!(removed, expected, "the tombstone and the move");
    assert_eq!(changes.removed_groups, std::slice::from_ref(&team));
    assert!(changes.scope.is_none(), "no listing needed");

    let changes = ordinary.read_changes(&mark).await;
    assert!(changes.complete, "{:?}", changes.problems);
    assert!(changes.removed_users.is_empty());
    assert_eq!(changes.scope.unwrap(), [ann], "only Ann is still under the bases");
    assert!(changes.group_scope.unwrap().is_empty());
}

/// A server whose paged-results cookie leads back to a page it handed out ends the read with an
/// error, after a few pages rather than for ever; the read is incomplete.
#[tokio::test]
async fn a_paged_search_that_circles_is_stopped() {
    let ad = ActiveDirectory::new();
    {
        let mut data = ad.data.lock().unwrap();
        for i in 0..30 {
            data.add_user(ActiveDirectory::PEOPLE, &format!("User {i}"), &format!("u{i}"));
        }
    }
    let running = ad.start().await.unwrap();
    let mut s = settings(&running.url);
    s.page_size = 5;
    ad.loop_paging.store(true, Ordering::SeqCst);
    let snapshot =
        tokio::time::timeout(Duration::from_secs(20), source(s, reader()).read()).await.expect("the read ends");
    assert!(!snapshot.complete);
    assert!(snapshot.problems.iter().any(|p| p.contains("pages in a circle")), "{:?}", snapshot.problems);
    assert!(ad.searches.load(Ordering::SeqCst) < 20);
}
