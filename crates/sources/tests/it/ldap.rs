//! The LDAP connector against a real slapd: paged reads past the server's size limit, nested
//! groups, the three membership attributes and memberOf, disabled accounts, scoping to a group,
//! TLS (LDAPS and StartTLS, trusted and not), and each failure explained.

use std::time::Duration;

use rest::{CheckStatus, Credentials};
use simulators::slapd::{ADMIN_PASSWORD, Flavor, PEOPLE, READER, Slapd};
use sources::{Directory, LdapSettings, Membership, SourceConfig, connect};

fn settings(url: &str) -> LdapSettings {
    serde_json::from_value(serde_json::json!({
        "url": url, "user_bases": [PEOPLE], "group_bases": ["ou=groups,dc=example,dc=com"], "page_size": 2
    }))
    .unwrap()
}

fn reader() -> Credentials {
    Credentials::Basic { username: READER.into(), password: "reader-secret".into() }
}

fn source(settings: LdapSettings, credentials: Credentials) -> Box<dyn sources::Connector> {
    rest::install_crypto();
    connect(&SourceConfig::Ldap(settings), credentials, Duration::from_secs(3)).unwrap()
}

fn user<'a>(snapshot: &'a sources::Snapshot, name: &str) -> &'a sources::PulledUser {
    snapshot.users.iter().find(|u| u.record["userName"] == name).unwrap_or_else(|| panic!("{name} not read"))
}

fn members(snapshot: &sources::Snapshot, group: &str) -> Vec<String> {
    let g = snapshot.groups.iter().find(|g| g.name == group).unwrap_or_else(|| panic!("{group} not read"));
    let mut names: Vec<String> = g
        .members
        .iter()
        .map(|id| {
            snapshot
                .users
                .iter()
                .find(|u| &u.external_id == id)
                .map(|u| u.record["userName"].as_str().unwrap().to_string())
                .or_else(|| snapshot.groups.iter().find(|g| &g.external_id == id).map(|g| format!("group:{}", g.name)))
                .unwrap()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn openldap_full_read_pages_past_the_size_limit_with_every_kind_of_group() {
    let server = Slapd::sample().unwrap();
    let ldap = source(settings(&server.url), reader());
    let checks = ldap.check().await;
    assert!(checks.iter().all(|c| c.status == CheckStatus::Ok), "{checks:?}");
    assert!(checks[0].what.contains("without encryption"), "{checks:?}");

    let snapshot = ldap.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    // The reader may see 5 entries per search; 7 people arrive only through paging (2 a page).
    assert_eq!(snapshot.users.len(), 7);
    assert!(snapshot.requests >= 6, "pages: {}", snapshot.requests);
    let ann = user(&snapshot, "alee");
    assert_eq!(ann.record["emails"][0]["value"], "alee@example.com");
    assert_eq!(ann.record["displayName"], "Ann Lee");
    assert_eq!(ann.external_id.len(), 36, "entryUUID: {}", ann.external_id);
    assert_eq!(ann.record["active"], true);
    assert_eq!(user(&snapshot, "cdiaz").record["active"], false, "ppolicy lock means disabled");

    assert_eq!(members(&snapshot, "jira-users"), ["alee", "group:platform"], "unknown DNs are left out");
    assert_eq!(members(&snapshot, "platform"), ["bkim", "dpatel"]);
    assert_eq!(members(&snapshot, "confluence-users"), ["cdiaz"]);
    assert_eq!(members(&snapshot, "devs"), ["alee", "ekim"], "memberUid matched without case");

    // The same memberships read from users' memberOf (written by the overlay).
    let mut by_member_of = settings(&server.url);
    by_member_of.membership = Membership::MemberOf;
    let snapshot = source(by_member_of, reader()).read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(members(&snapshot, "jira-users"), ["alee", "group:platform"]);
    assert_eq!(members(&snapshot, "platform"), ["bkim", "dpatel"]);

    // Without paging the server stops at its limit: a clear error, and an incomplete read.
    let mut unpaged = settings(&server.url);
    unpaged.page_size = 100;
    let snapshot = source(unpaged, reader()).read().await;
    assert!(!snapshot.complete);
    assert!(snapshot.problems[0].contains("limit"), "{:?}", snapshot.problems);
}

#[tokio::test]
async fn openldap_lookup_login_read_and_scope_to_a_nested_group() {
    let server = Slapd::sample().unwrap();
    let ldap = source(settings(&server.url), reader());
    let raw = ldap.lookup("alee").await.unwrap().unwrap();
    assert_eq!(raw["dn"], format!("uid=alee,{PEOPLE}"));
    assert_eq!(raw["mail"], "alee@example.com");
    assert!(raw["entryuuid"].is_string(), "operational attributes are shown: {raw}");
    assert!(ldap.lookup("nobody").await.unwrap().is_none());
    assert!(ldap.lookup("*").await.unwrap().is_none(), "input is escaped, not a wildcard");

    let (ann, groups) = ldap.read_user("alee").await.unwrap().unwrap();
    let mut names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["devs", "jira-users"], "direct groups; nesting comes from full reads");
    assert!(groups.iter().all(|g| g.members == [ann.external_id.clone()]));

    let mut scoped = settings(&server.url);
    scoped.only_groups = vec!["cn=jira-users,ou=groups,dc=example,dc=com".into()];
    let ldap = source(scoped, reader());
    let snapshot = ldap.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    let mut names: Vec<&str> = snapshot.users.iter().map(|u| u.record["userName"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["alee", "bkim", "dpatel"], "members of jira-users, directly or through platform");
    assert!(ldap.read_user("dpatel").await.unwrap().is_some(), "in scope through platform");
    assert!(ldap.read_user("cdiaz").await.unwrap().is_none(), "outside the scope");
}

#[tokio::test]
async fn ldap_failures_are_explained_and_never_complete() {
    let server = Slapd::sample().unwrap();
    let wrong = Credentials::Basic { username: READER.into(), password: "nope".into() };
    let ldap = source(settings(&server.url), wrong);
    let checks = ldap.check().await;
    assert_eq!(checks[0].status, CheckStatus::Failed);
    assert!(checks[0].what.contains("refused the bind"), "{checks:?}");
    let snapshot = ldap.read().await;
    assert!(!snapshot.complete && snapshot.users.is_empty());

    let blind = Credentials::Basic { username: "cn=blind,dc=example,dc=com".into(), password: "blind-secret".into() };
    let checks = source(settings(&server.url), blind).check().await;
    // slapd hides a base the account may not read as if it did not exist.
    assert!(checks.last().unwrap().what.contains("may not see it"), "{checks:?}");

    let mut missing = settings(&server.url);
    missing.user_bases = vec!["ou=staff,dc=example,dc=com".into()];
    let checks = source(missing, reader()).check().await;
    assert!(checks.last().unwrap().what.contains("base DN does not exist"), "{checks:?}");

    let mut nobody = settings(&server.url);
    nobody.user_filter = Some("(uid=no-such-person)".into());
    let checks = source(nobody, reader()).check().await;
    assert!(checks.last().unwrap().what.contains("no user under"), "{checks:?}");

    // A malformed filter is refused before anything is sent, naming the flag and the place.
    let mut bad_filter = settings(&server.url);
    bad_filter.user_filter = Some("(objectClass=inetOrgPerson".into());
    let refused = connect(&SourceConfig::Ldap(bad_filter), reader(), Duration::from_secs(3)).err().unwrap().to_string();
    assert!(
        refused.contains("--user-filter is not an LDAP filter: the '(' at character 1 is never closed"),
        "{refused}"
    );

    let closed = format!(
        "ldap://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let checks = source(settings(&closed), reader()).check().await;
    assert!(checks[0].what.contains("cannot connect"), "{checks:?}");
}

#[tokio::test]
async fn ldaps_and_starttls_trust_only_the_given_authority() {
    let server = Slapd::sample().unwrap();
    let mut ldaps = settings(&server.ldaps_url);
    ldaps.ca_file = Some(server.ca_file.display().to_string());
    let checks = source(ldaps.clone(), reader()).check().await;
    assert!(checks.iter().all(|c| c.status == CheckStatus::Ok), "{checks:?}");
    assert!(checks[0].what.contains("over LDAPS"));

    ldaps.ca_file = None;
    let checks = source(ldaps.clone(), reader()).check().await;
    assert_eq!(checks[0].status, CheckStatus::Failed);
    assert!(checks[0].what.contains("--ca-file"), "{checks:?}");
    // A lab may skip the check, and is told what that means.
    ldaps.tls_verify = false;
    let checks = source(ldaps, reader()).check().await;
    assert!(checks.iter().all(|c| c.status == CheckStatus::Ok), "{checks:?}");
    assert!(checks[0].what.contains("without checking the server's certificate"), "{checks:?}");

    let mut starttls = settings(&server.url);
    starttls.starttls = true;
    starttls.ca_file = Some(server.ca_file.display().to_string());
    let checks = source(starttls.clone(), reader()).check().await;
    assert!(checks.iter().all(|c| c.status == CheckStatus::Ok), "{checks:?}");
    assert!(checks[0].what.contains("StartTLS"));
    assert_eq!(source(starttls, reader()).read().await.users.len(), 7);
}

#[tokio::test]
async fn active_directory_guids_account_control_and_member_of() {
    let people = "OU=People,DC=corp,DC=example,DC=com";
    let mut ldif = format!("dn: {people}\nobjectClass: organizationalUnit\nou: People\n\n");
    ldif += "dn: OU=Groups,DC=corp,DC=example,DC=com\nobjectClass: organizationalUnit\nou: Groups\n\n";
    for (i, (sam, cn, control, group)) in [
        ("alee", "Ann Lee", 512, "Jira Users"),
        ("bkim", "Bo Kim", 514, "Jira Users"),
        ("cdiaz", "Cy Diaz", 66048, "Platform"),
    ]
    .into_iter()
    .enumerate()
    {
        ldif += &format!(
            "dn: CN={cn},{people}\ndistinguishedName: CN={cn},{people}\nobjectClass: user\ncn: {cn}\nsn: {}\nsAMAccountName: {sam}\n\
             userPrincipalName: {sam}@corp.example.com\nmail: {sam}@example.com\nuserAccountControl: {control}\n\
             objectGUID:: 3q2+7wAAAAAAAAAAAAAAA{}==\nmemberOf: CN={group},OU=Groups,DC=corp,DC=example,DC=com\n\
             uSNChanged: {}\n\n",
            cn.split(' ').nth(1).unwrap(),
            ["A", "Q", "g"][i],
            100 + i
        );
    }
    ldif += "dn: CN=Jira Users,OU=Groups,DC=corp,DC=example,DC=com\nobjectClass: group\ncn: Jira Users\n\
             distinguishedName: CN=Jira Users,OU=Groups,DC=corp,DC=example,DC=com\n\
             objectGUID:: AAAAAAAAAAAAAAAAAAAAAQ==\nmember: CN=Ann Lee,OU=People,DC=corp,DC=example,DC=com\n\
             member: CN=Bo Kim,OU=People,DC=corp,DC=example,DC=com\nmember: CN=Platform,OU=Groups,DC=corp,DC=example,DC=com\n\
             uSNChanged: 103\n\n";
    ldif += "dn: CN=Platform,OU=Groups,DC=corp,DC=example,DC=com\nobjectClass: group\ncn: Platform\n\
             distinguishedName: CN=Platform,OU=Groups,DC=corp,DC=example,DC=com\n\
             objectGUID:: AAAAAAAAAAAAAAAAAAAAAg==\nmemberOf: CN=Jira Users,OU=Groups,DC=corp,DC=example,DC=com\n\
             member: CN=Cy Diaz,OU=People,DC=corp,DC=example,DC=com\nuSNChanged: 104\n\n";
    let server = Slapd::start(Flavor::ActiveDirectory, &ldif).unwrap();
    let mut ad: LdapSettings = serde_json::from_value(serde_json::json!({
        "url": server.url, "directory": "ad", "user_bases": ["DC=corp,DC=example,DC=com"],
        // slapd cannot evaluate AD's objectCategory shorthand.
        "user_filter": "(objectClass=user)",
    }))
    .unwrap();
    assert_eq!(ad.directory, Directory::Ad);
    let admin = Credentials::Basic { username: server.admin_dn.clone(), password: ADMIN_PASSWORD.into() };
    for membership in [Membership::Member, Membership::MemberOf] {
        ad.membership = membership;
        let snapshot = source(ad.clone(), admin.clone()).read().await;
        assert!(snapshot.complete, "{:?}", snapshot.problems);
        assert_eq!(snapshot.users.len(), 3);
        let ann = user(&snapshot, "alee");
        assert_eq!(ann.external_id, "efbeadde-0000-0000-0000-000000000000");
        assert_eq!(ann.record["active"], true);
        assert_eq!(user(&snapshot, "bkim").record["active"], false, "514 = ACCOUNTDISABLE");
        assert_eq!(user(&snapshot, "cdiaz").record["active"], true, "66048 = normal + password never expires");
        assert_eq!(members(&snapshot, "Jira Users"), ["alee", "bkim", "group:Platform"], "{membership:?}");
        assert_eq!(members(&snapshot, "Platform"), ["cdiaz"]);
    }

    // Incremental: update sequence numbers above the highest seen (AD raises uSNChanged on every
    // change; slapd keeps what it is given, so the test raises them).
    ad.membership = Membership::Member;
    let ad_source = source(ad, admin);
    let full = ad_source.read().await;
    assert_eq!(full.cursor.as_deref(), Some("uSNChanged:104"));
    server
        .modify(
            "dn: CN=Bo Kim,OU=People,DC=corp,DC=example,DC=com\nchangetype: modify\nreplace: userAccountControl\n\
             userAccountControl: 512\n-\nreplace: uSNChanged\nuSNChanged: 200\n\n\
             dn: CN=Platform,OU=Groups,DC=corp,DC=example,DC=com\nchangetype: modify\nadd: member\n\
             member: CN=Bo Kim,OU=People,DC=corp,DC=example,DC=com\n-\nreplace: uSNChanged\nuSNChanged: 201\n",
        )
        .unwrap();
    let changes = ad_source.read_changes("uSNChanged:104").await;
    assert!(changes.complete, "{:?}", changes.problems);
    assert_eq!(names(&changes.users), ["bkim"]);
    assert_eq!(changes.users[0].record["active"], true, "512: enabled again");
    assert_eq!(changes.groups.len(), 1);
    let platform = &changes.groups[0];
    assert_eq!(platform.name.as_deref(), Some("Platform"));
    let mut expected = vec![user(&full, "bkim").external_id.clone(), user(&full, "cdiaz").external_id.clone()];
    expected.sort();
    assert_eq!(platform.members, sources::MemberChanges::All(expected));
    assert_eq!(changes.cursor.as_deref(), Some("uSNChanged:201"));
}

fn names(users: &[sources::PulledUser]) -> Vec<&str> {
    let mut names: Vec<&str> = users.iter().map(|u| u.record["userName"].as_str().unwrap()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn openldap_incremental_reads_return_only_what_changed() {
    let server = Slapd::sample().unwrap();
    let ldap = source(settings(&server.url), reader());
    let full = ldap.read().await;
    assert!(full.complete);
    let first_mark = full.cursor.clone().expect("a cursor after a full read");
    assert!(first_mark.starts_with("entryCSN:"), "OpenLDAP's change sequence numbers: {first_mark}");
    server
        .modify(&format!(
            "dn: uid=bkim,{PEOPLE}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n\n\
             dn: cn=jira-users,ou=groups,dc=example,dc=com\nchangetype: modify\ndelete: member\nmember: uid=alee,{PEOPLE}\n\n\
             dn: uid=hnew,{PEOPLE}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: hnew\ncn: Hal New\nsn: New\n\n\
             dn: cn=devs,ou=groups,dc=example,dc=com\nchangetype: modify\nadd: memberUid\nmemberUid: hnew\n"
        ))
        .unwrap();
    let changes = ldap.read_changes(&first_mark).await;
    assert!(changes.complete && !changes.restart, "{:?}", changes.problems);
    let read = names(&changes.users);
    // alee's memberOf changed through the overlay, which may or may not count as her change.
    assert!(["bkim", "hnew"].iter().all(|n| read.contains(n)), "{read:?}");
    assert!(read.iter().all(|n| ["alee", "bkim", "hnew"].contains(n)), "{read:?}");
    assert_eq!(changes.users.iter().find(|u| u.record["userName"] == "bkim").unwrap().record["active"], false);
    let id = |name: &str| full.users.iter().find(|u| u.record["userName"] == name).map(|u| u.external_id.clone());
    let group = |changes: &sources::Changes, name: &str| {
        let g = full.groups.iter().find(|g| g.name == name).unwrap();
        changes
            .groups
            .iter()
            .find(|c| c.external_id == g.external_id)
            .unwrap_or_else(|| panic!("{name} not changed"))
            .clone()
    };
    let platform = full.groups.iter().find(|g| g.name == "platform").unwrap().external_id.clone();
    assert_eq!(group(&changes, "jira-users").members, sources::MemberChanges::All(vec![platform]));
    let hnew = changes.users.iter().find(|u| u.record["userName"] == "hnew").unwrap().external_id.clone();
    let mut devs = vec![id("alee").unwrap(), id("ekim").unwrap(), hnew];
    devs.sort();
    assert_eq!(group(&changes, "devs").members, sources::MemberChanges::All(devs));
    let second_mark = changes.cursor.clone().unwrap();
    assert!(second_mark > first_mark, "{second_mark} after {first_mark}");

    server
        .modify(&format!("dn: uid=fsato,{PEOPLE}\nchangetype: modify\nreplace: mail\nmail: fumi@example.com\n"))
        .unwrap();
    let changes = ldap.read_changes(&second_mark).await;
    // Exactly what changed since: change sequence numbers never repeat.
    assert_eq!(names(&changes.users), ["fsato"]);
    assert!(changes.groups.is_empty(), "{:?}", changes.groups);
    // The change searches, plus the listing of ids that finds departures (8 entries under the
    // people base and 4 groups, 2 to a page).
    assert!(changes.requests <= 8 + 7, "{} requests", changes.requests);

    // A cursor of modification times (directories without entryCSN) reads changes too.
    let by_time = ldap.read_changes("modifyTimestamp:20000101000000Z").await;
    assert!(by_time.complete && by_time.users.len() == 8, "{:?}", by_time.problems);
    assert!(by_time.cursor.unwrap().starts_with("entryCSN:"), "the better mark is taken up");

    // Scoped sources are read in full.
    let mut scoped = settings(&server.url);
    scoped.only_groups = vec!["cn=jira-users,ou=groups,dc=example,dc=com".into()];
    let scoped = source(scoped, reader());
    assert!(scoped.read().await.cursor.is_none());
    assert!(scoped.read_changes(&first_mark).await.restart);
}

/// Active Directory's "Last, First" names hold an escaped comma and a blank (`cn=Hopper\,
/// Margaret`). Such a user, and a nested group named the same way, keep their memberships in
/// full reads and in incremental runs after their groups change: no member dropped, no flapping.
#[tokio::test]
async fn dns_with_escaped_commas_keep_their_memberships_in_full_and_incremental_runs() {
    let groups = "ou=groups,dc=example,dc=com";
    let ldif = format!(
        "dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: {groups}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: cn=Hopper\\, Margaret,{PEOPLE}\nobjectClass: inetOrgPerson\ncn: Hopper, Margaret\nsn: Hopper\nuid: mhopper\n\n\
         dn: cn=Lovelace\\2C Ada,{PEOPLE}\nobjectClass: inetOrgPerson\ncn: Lovelace, Ada\nsn: Lovelace\nuid: alovelace\n\n\
         dn: cn=Night\\, Ops,{groups}\nobjectClass: groupOfNames\ncn: Night, Ops\nmember: cn=Lovelace\\2C Ada,{PEOPLE}\n\n\
         dn: cn=engineering,{groups}\nobjectClass: groupOfNames\ncn: engineering\n\
         member: CN=Hopper\\, Margaret, OU=People,DC=example,DC=com\nmember: cn=Night\\2C Ops,{groups}\n\n\
         dn: cn={READER_CN},dc=example,dc=com\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: {READER_CN}\nuserPassword: reader-secret\n\n",
        READER_CN = "reader"
    );
    let server = Slapd::start(Flavor::OpenLdap, &ldif).unwrap();
    let mut s = settings(&server.url);
    s.username_attribute = Some("uid".into());
    let ldap = source(s, reader());
    let full = ldap.read().await;
    assert!(full.complete, "{:?}", full.problems);
    assert_eq!(members(&full, "engineering"), ["group:Night, Ops", "mhopper"]);
    assert_eq!(members(&full, "Night, Ops"), ["alovelace"]);

    let mark = full.cursor.clone().unwrap();
    server
        .modify(&format!(
            "dn: cn=engineering,{groups}\nchangetype: modify\nadd: description\ndescription: touched\n\n\
             dn: cn=Night\\, Ops,{groups}\nchangetype: modify\nadd: description\ndescription: touched\n"
        ))
        .unwrap();
    let changes = ldap.read_changes(&mark).await;
    assert!(changes.complete, "{:?}", changes.problems);
    let id_of = |name: &str| {
        full.users
            .iter()
            .find(|u| u.record["userName"] == name)
            .map(|u| u.external_id.clone())
            .or_else(|| full.groups.iter().find(|g| g.name == name).map(|g| g.external_id.clone()))
            .unwrap()
    };
    let changed = |name: &str| {
        let id = id_of(name);
        match &changes.groups.iter().find(|g| g.external_id == id).unwrap_or_else(|| panic!("{name} unchanged")).members
        {
            sources::MemberChanges::All(ids) => {
                let mut ids = ids.clone();
                ids.sort();
                ids
            }
            other => panic!("{other:?}"),
        }
    };
    let mut engineering = vec![id_of("mhopper"), id_of("Night, Ops")];
    engineering.sort();
    assert_eq!(changed("engineering"), engineering, "members with escaped DNs are still found");
    assert_eq!(changed("Night, Ops"), [id_of("alovelace")]);
}

/// The connection mistakes an administrator makes, each named: TLS to a plain port, plain LDAP
/// to the LDAPS port, a CA file of another authority.
#[tokio::test]
async fn tls_and_port_mistakes_are_named() {
    let server = Slapd::sample().unwrap();
    let other = Slapd::sample().unwrap();
    let check = |s: LdapSettings| async move { source(s, reader()).check().await[0].what.clone() };
    let tls_to_plain = check(settings(&server.url.replace("ldap://", "ldaps://"))).await;
    assert!(tls_to_plain.contains("does not speak TLS on this port"), "{tls_to_plain}");
    let plain_to_tls = check(settings(&server.ldaps_url.replace("ldaps://", "ldap://"))).await;
    assert!(plain_to_tls.contains("use ldaps:// for that port"), "{plain_to_tls}");
    let mut wrong_ca = settings(&server.ldaps_url);
    wrong_ca.ca_file = Some(other.ca_file.display().to_string());
    let wrong_ca = check(wrong_ca).await;
    assert!(wrong_ca.contains("does not sign the server's certificate"), "{wrong_ca}");
}

/// Deletions and moves out of the bases are seen by incremental runs, not only by the next full
/// read: OpenLDAP has no tombstones to ask for, so an incremental run lists the ids under the
/// bases (nothing else) and the store keeps only those.
#[tokio::test]
async fn incremental_runs_see_deletions_and_moves_out_of_the_bases() {
    let server = Slapd::sample().unwrap();
    let ldap = source(settings(&server.url), reader());
    let full = ldap.read().await;
    let id = |name: &str| full.users.iter().find(|u| u.record["userName"] == name).unwrap().external_id.clone();
    let group = |name: &str| full.groups.iter().find(|g| g.name == name).unwrap().external_id.clone();
    let mark = full.cursor.clone().unwrap();
    server
        .modify(&format!(
            "dn: uid=bkim,{PEOPLE}\nchangetype: delete\n\n\
             dn: uid=fsato,{PEOPLE}\nchangetype: modrdn\nnewrdn: uid=fsato\ndeleteoldrdn: 1\nnewsuperior: dc=example,dc=com\n\n\
             dn: cn=confluence-users,ou=groups,dc=example,dc=com\nchangetype: delete\n"
        ))
        .unwrap();
    let changes = ldap.read_changes(&mark).await;
    assert!(changes.complete, "{:?}", changes.problems);
    let users = changes.scope.clone().expect("the ids under the bases");
    assert!(!users.contains(&id("bkim")), "deleted");
    assert!(!users.contains(&id("fsato")), "moved out of the bases");
    assert!(users.contains(&id("alee")));
    let groups = changes.group_scope.clone().unwrap();
    assert!(!groups.contains(&group("confluence-users")) && groups.contains(&group("devs")), "{groups:?}");
}
