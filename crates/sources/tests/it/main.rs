//! Connectors against their simulators: full reads across pages, nesting, token expiry,
//! throttling waited out, credential errors explained, failures that leave a read incomplete.

mod active_directory;
mod aws;
mod entra_delta;
mod faults;
mod google;
mod ldap;
mod okta_changes;
mod onelogin_changes;
mod oracle_scope;

use std::time::{Duration, Instant};

use rest::{CheckStatus, Credentials, RestError};
use simulators::{Faults, Simulator};
use sources::{Retry, SourceConfig, connect_with};

async fn keycloak() -> (std::sync::Arc<simulators::keycloak::Keycloak>, simulators::Running) {
    let kc = simulators::keycloak::Keycloak::new(simulators::Credentials::default());
    let running = Simulator::Keycloak(kc.clone()).start("127.0.0.1:0").await.unwrap();
    (kc, running)
}

fn client(url: &str, secret: &str) -> Box<dyn sources::Connector> {
    rest::install_crypto();
    let config = SourceConfig::Keycloak { url: url.into(), realm: "acme".into() };
    let credentials = Credentials::Basic { username: "idsync".into(), password: secret.into() };
    let retry =
        Retry { attempts: 3, first_wait: Duration::from_millis(10), longest_wait: Duration::from_secs(3), rate: None };
    connect_with(&config, credentials, Duration::from_secs(2), retry).unwrap()
}

#[tokio::test]
async fn keycloak_reads_everything_across_pages_with_nesting() {
    let (kc, running) = keycloak().await;
    let (ann, parent) = {
        let mut data = kc.data.lock().unwrap();
        for i in 0..250 {
            data.add_user(&format!("user{i:03}"), i % 10 != 0);
        }
        let ann = data.add_user("ann.lee", true);
        let parent = data.add_group("engineering", None, &[]);
        data.add_group("web", Some(&parent), &[&ann]);
        (ann, parent)
    };
    let c = client(&running.base_url, "sim-client-secret");
    let checks = c.check().await;
    assert!(checks.iter().all(|c| c.status == CheckStatus::Ok), "{checks:?}");
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(snapshot.users.len(), 251);
    let ann_user = snapshot.users.iter().find(|u| u.external_id == ann).unwrap();
    assert_eq!(ann_user.record["userName"], "ann.lee");
    assert_eq!(ann_user.record["emails"][0]["value"], "ann.lee@example.com");
    assert_eq!(ann_user.record["name"]["givenName"], "ann");
    assert_eq!(snapshot.users.iter().filter(|u| u.record["active"] == false).count(), 25, "enabled maps to active");
    let engineering = snapshot.groups.iter().find(|g| g.external_id == parent).unwrap();
    let web = snapshot.groups.iter().find(|g| g.name == "web").unwrap();
    assert_eq!(engineering.members, vec![web.external_id.clone()], "sub-groups are members of their parent");
    assert_eq!(web.members, vec![ann.clone()]);
    let users_pages = kc.control.requests().get("GET /admin/realms/acme/users").copied().unwrap_or(0);
    assert!(users_pages >= 3, "250 users take three pages of 100: {users_pages}");
    let (user, groups) = c.read_user("ANN.LEE").await.unwrap().unwrap();
    assert_eq!(user.external_id, ann);
    assert_eq!(groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["web"]);
    assert!(c.read_user("nobody").await.unwrap().is_none());
}

#[tokio::test]
async fn keycloak_renews_an_expired_token_and_waits_out_throttling() {
    let (kc, running) = keycloak().await;
    kc.data.lock().unwrap().add_user("ann", true);
    let c = client(&running.base_url, "sim-client-secret");
    assert!(c.lookup("ann").await.unwrap().is_some());
    kc.revoke_tokens();
    assert!(c.lookup("ann").await.unwrap().is_some(), "a 401 gets one new token");
    kc.control.set_faults(Faults { storm_429: 1, retry_after_seconds: 1, ..Faults::default() });
    let started = Instant::now();
    assert!(c.lookup("ann").await.unwrap().is_some());
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured: {:?}", started.elapsed());
}

#[tokio::test]
async fn keycloak_failures_are_explained_and_make_reads_incomplete() {
    let (kc, running) = keycloak().await;
    kc.data.lock().unwrap().add_user("ann", true);
    let checks = client(&running.base_url, "wrong").check().await;
    let last = checks.last().unwrap();
    assert_eq!(last.status, CheckStatus::Failed);
    assert!(last.what.contains("Service accounts enabled") && last.what.contains("Invalid client"), "{}", last.what);
    let c = client(&running.base_url, "sim-client-secret");
    assert!(c.lookup("ann").await.unwrap().is_some());
    // Every request fails from now on, beyond the retries: the read says it is incomplete.
    kc.control.set_faults(Faults { errors_500: 1000, ..Faults::default() });
    let snapshot = c.read().await;
    assert!(!snapshot.complete);
    assert!(snapshot.problems[0].contains("reading users failed"), "{:?}", snapshot.problems);
    let err = c.lookup("ann").await.unwrap_err();
    assert!(matches!(err, RestError::Server { status: 500, .. }), "{err}");
}

async fn okta() -> (std::sync::Arc<simulators::okta::Okta>, simulators::Running) {
    let o = simulators::okta::Okta::new(simulators::Credentials::default());
    let running = Simulator::Okta(o.clone()).start("127.0.0.1:0").await.unwrap();
    (o, running)
}

fn okta_client(url: &str, token: &str) -> Box<dyn sources::Connector> {
    rest::install_crypto();
    let retry =
        Retry { attempts: 3, first_wait: Duration::from_millis(10), longest_wait: Duration::from_secs(3), rate: None };
    connect_with(
        &SourceConfig::Okta { url: url.into(), app: None },
        Credentials::Bearer { token: token.into() },
        Duration::from_secs(2),
        retry,
    )
    .unwrap()
}

#[tokio::test]
async fn okta_follows_link_headers_and_keeps_deprovisioned_users_as_inactive() {
    let (o, running) = okta().await;
    let (ann, gone) = {
        let mut data = o.data.lock().unwrap();
        for i in 0..450 {
            data.add_user(&format!("user{i:03}@example.com"), "ACTIVE");
        }
        let ann = data.add_user("ann.lee@example.com", "ACTIVE");
        let gone = data.add_user("gone@example.com", "DEPROVISIONED");
        data.add_user("new@example.com", "STAGED");
        data.add_group("devs", &[&ann, &gone]);
        (ann, gone)
    };
    let c = okta_client(&running.base_url, &simulators::Credentials::default().admin_token);
    assert!(c.check().await.iter().all(|c| c.status == CheckStatus::Ok));
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(snapshot.users.len(), 453, "deprovisioned users are read too");
    let pages = o.control.requests().get("GET /api/v1/users").copied().unwrap_or(0);
    assert!(pages >= 4, "452 users in pages of 200, plus the deprovisioned: {pages}");
    let by_id = |id: &str| snapshot.users.iter().find(|u| u.external_id == id).unwrap();
    assert_eq!(by_id(&ann).record["userName"], "ann.lee@example.com");
    assert_eq!(by_id(&ann).record["active"], true);
    assert_eq!(by_id(&gone).record["active"], false);
    assert_eq!(
        snapshot.users.iter().find(|u| u.record["userName"] == "new@example.com").unwrap().record["active"],
        false
    );
    assert_eq!(snapshot.groups[0].members, vec![ann.clone(), gone]);
    let (user, groups) = c.read_user("ann.lee@example.com").await.unwrap().unwrap();
    assert_eq!((user.external_id, groups[0].name.as_str()), (ann, "devs"));
    assert!(c.read_user("nobody@example.com").await.unwrap().is_none());
}

#[tokio::test]
async fn okta_token_problems_say_what_to_do() {
    let (_o, running) = okta().await;
    let wrong = okta_client(&running.base_url, "wrong").check().await;
    assert!(wrong[0].what.contains("Security → API → Tokens"), "{wrong:?}");
    let viewer = okta_client(&running.base_url, &simulators::Credentials::default().viewer_token).check().await;
    assert!(viewer[0].what.contains("Read-only Administrator"), "{viewer:?}");
}

#[tokio::test]
async fn okta_throttling_is_waited_out_by_its_reset_header() {
    let (o, running) = okta().await;
    o.data.lock().unwrap().add_user("ann@example.com", "ACTIVE");
    let c = okta_client(&running.base_url, &simulators::Credentials::default().admin_token);
    o.control.set_faults(Faults { storm_429: 1, retry_after_seconds: 2, ..Faults::default() });
    let started = Instant::now();
    assert!(c.lookup("ann@example.com").await.unwrap().is_some());
    // The reset is a whole epoch second, so the wait is at least one second.
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(o.control.total_requests(), 2, "one 429, then the answer: no tight loop");
}

#[tokio::test]
async fn onelogin_follows_after_cursor_and_maps_roles_and_statuses() {
    let ol = simulators::onelogin::OneLogin::new(simulators::Credentials::default());
    let running = Simulator::OneLogin(ol.clone()).start("127.0.0.1:0").await.unwrap();
    let (ann, suspended) = {
        let mut data = ol.data.lock().unwrap();
        for i in 0..230 {
            data.add_user(&format!("user{i:03}"), 1);
        }
        let ann = data.add_user("ann", 1);
        let suspended = data.add_user("sam", 2);
        data.add_role("Jira Users", &[ann, suspended]);
        (ann, suspended)
    };
    rest::install_crypto();
    let retry =
        Retry { attempts: 3, first_wait: Duration::from_millis(10), longest_wait: Duration::from_secs(3), rate: None };
    let connect = |secret: &str| {
        let credentials = Credentials::Basic { username: "ol-client".into(), password: secret.into() };
        connect_with(
            &SourceConfig::OneLogin { url: running.base_url.clone() },
            credentials,
            Duration::from_secs(2),
            retry,
        )
        .unwrap()
    };
    let wrong = connect("nope").check().await;
    assert!(wrong[0].status == CheckStatus::Failed && wrong[0].what.contains("API Credentials"), "{wrong:?}");
    let c = connect("ol-secret");
    assert!(c.check().await.iter().all(|c| c.status == CheckStatus::Ok));
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(snapshot.users.len(), 232);
    let pages = ol.control.requests().get("GET /api/2/users").copied().unwrap_or(0);
    assert!(pages >= 3, "232 users in pages of 100: {pages}");
    let by_id = |id: u64| snapshot.users.iter().find(|u| u.external_id == id.to_string()).unwrap();
    assert_eq!(by_id(ann).record["active"], true);
    assert_eq!(by_id(suspended).record["active"], false, "suspended is inactive");
    assert_eq!(snapshot.groups[0].name, "Jira Users");
    assert_eq!(snapshot.groups[0].members, vec![ann.to_string(), suspended.to_string()]);
    let (user, groups) = c.read_user("ann").await.unwrap().unwrap();
    assert_eq!((user.external_id, groups[0].name.as_str()), (ann.to_string(), "Jira Users"));
}

#[tokio::test]
async fn oracle_signs_in_with_client_credentials_and_asks_for_members() {
    let idcs = simulators::oracle::Oracle::new(simulators::Credentials::default());
    let running = Simulator::Oracle(idcs.clone()).start("127.0.0.1:0").await.unwrap();
    let (ann, off) = {
        let mut data = idcs.data.lock().unwrap();
        for i in 0..150 {
            data.add_user(&format!("user{i:03}"), true);
        }
        let ann = data.add_user("ann.lee", true);
        let off = data.add_user("off", false);
        data.add_group("jira-software-users", &[&ann, &off]);
        (ann, off)
    };
    rest::install_crypto();
    let retry =
        Retry { attempts: 3, first_wait: Duration::from_millis(10), longest_wait: Duration::from_secs(3), rate: None };
    let connect = |secret: &str| {
        let credentials = Credentials::Basic { username: "idcs-client".into(), password: secret.into() };
        connect_with(
            &SourceConfig::Oracle { url: running.base_url.clone(), app: None, group_attribute: None },
            credentials,
            Duration::from_secs(2),
            retry,
        )
        .unwrap()
    };
    assert_eq!(connect("wrong").check().await[0].status, CheckStatus::Failed);
    let c = connect("idcs-secret");
    assert!(c.check().await.iter().all(|c| c.status == CheckStatus::Ok));
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(snapshot.users.len(), 152);
    assert_eq!(snapshot.users.iter().find(|u| u.external_id == off).unwrap().record["active"], false);
    assert_eq!(snapshot.groups[0].members, vec![ann.clone(), off], "members asked for, and read");
    let (user, groups) = c.read_user("ANN.LEE").await.unwrap().unwrap();
    assert_eq!((user.external_id, groups[0].name.as_str()), (ann, "jira-software-users"));
}

#[tokio::test]
async fn entra_reads_graph_pages_with_select_and_nested_groups() {
    let graph = simulators::entra::Entra::new(simulators::Credentials::default());
    let running = Simulator::Entra(graph.clone()).start("127.0.0.1:0").await.unwrap();
    let (ann, off, inner) = {
        let mut data = graph.data.lock().unwrap();
        for i in 0..1200 {
            data.add_user(&format!("user{i:04}@contoso.com"), true);
        }
        let ann = data.add_user("ann.lee@contoso.com", true);
        let off = data.add_user("off@contoso.com", false);
        data.add_user("guest_fabrikam.com#EXT#@contoso.onmicrosoft.com", true);
        let inner = data.add_group("web", &[&ann]);
        data.add_group("Engineering", &[&inner, &off]);
        (ann, off, inner)
    };
    rest::install_crypto();
    let retry =
        Retry { attempts: 3, first_wait: Duration::from_millis(10), longest_wait: Duration::from_secs(3), rate: None };
    let connect = |secret: &str| {
        let config = SourceConfig::Entra {
            tenant: graph.tenant.clone(),
            graph_url: running.base_url.clone(),
            login_url: running.base_url.clone(),
            username_attribute: "userPrincipalName".into(),
            only_group: Vec::new(),
        };
        let credentials = Credentials::Basic { username: graph.client_id.clone(), password: secret.into() };
        connect_with(&config, credentials, Duration::from_secs(2), retry).unwrap()
    };
    let wrong = connect("nope").check().await;
    assert!(wrong[0].what.contains("AADSTS7000215") && wrong[0].what.contains("client secret value"), "{wrong:?}");
    let c = connect(&graph.client_secret);
    assert!(c.check().await.iter().all(|c| c.status == CheckStatus::Ok));
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(snapshot.users.len(), 1203);
    let pages = graph.control.requests().get("GET /v1.0/users/delta").copied().unwrap_or(0);
    assert_eq!(pages, 7, "a delta round of 200-entry pages, by @odata.nextLink");
    let by_id = |id: &str| snapshot.users.iter().find(|u| u.external_id == id).unwrap();
    assert_eq!(by_id(&ann).record["userName"], "ann.lee@contoso.com");
    assert_eq!(by_id(&ann).record["active"], true);
    assert_eq!(by_id(&off).record["active"], false, "accountEnabled is read through $select");
    let engineering = snapshot.groups.iter().find(|g| g.name == "Engineering").unwrap();
    assert_eq!(engineering.members, vec![inner, off]);
    let (user, groups) = c.read_user("ann.lee@contoso.com").await.unwrap().unwrap();
    assert_eq!((user.external_id, groups[0].name.as_str()), (ann, "web"));
    assert!(c.read_user("nobody@contoso.com").await.unwrap().is_none());
    assert!(
        c.lookup("guest_fabrikam.com#EXT#@contoso.onmicrosoft.com").await.unwrap().is_some(),
        "`#` is sent encoded"
    );
}
