//! Okta incremental reads against the simulator: only users changed since the last run (status
//! changes included, deprovisioning too) and groups whose membership changed, re-read whole; and a
//! source scoped to one app's assignments following people in and out.

use std::time::Duration;

use rest::Credentials;
use simulators::okta::Okta;
use simulators::{Running, Simulator};
use sources::{MemberChanges, Retry, SourceConfig, connect_with};

async fn okta() -> (std::sync::Arc<Okta>, Running) {
    let o = Okta::new(simulators::Credentials::default());
    let running = Simulator::Okta(o.clone()).start("127.0.0.1:0").await.unwrap();
    (o, running)
}

fn client(running: &Running, app: Option<String>) -> Box<dyn sources::Connector> {
    rest::install_crypto();
    let retry =
        Retry { attempts: 3, first_wait: Duration::from_millis(10), longest_wait: Duration::from_secs(1), rate: None };
    let token = simulators::Credentials::default().admin_token;
    connect_with(
        &SourceConfig::Okta { url: running.base_url.clone(), app },
        Credentials::Bearer { token },
        Duration::from_secs(2),
        retry,
    )
    .unwrap()
}

#[tokio::test]
async fn okta_incremental_reads_ask_for_what_changed() {
    let (o, running) = okta().await;
    let (ann, bob, devs) = {
        let mut data = o.data.lock().unwrap();
        for i in 0..600 {
            data.add_user(&format!("user{i:03}@example.com"), "ACTIVE");
        }
        let ann = data.add_user("ann.lee@example.com", "ACTIVE");
        let bob = data.add_user("bob.ng@example.com", "ACTIVE");
        let devs = data.add_group("devs", &[&ann]);
        data.add_group("ops", &[&bob]);
        (ann, bob, devs)
    };
    let c = client(&running, None);
    let full = c.read().await;
    assert!(full.complete, "{:?}", full.problems);
    let cursor = full.cursor.clone().expect("change times after a full read");
    {
        let mut data = o.data.lock().unwrap();
        data.update_user(&bob, |u| u.status = "DEPROVISIONED".into());
        data.update_user(&ann, |u| u.last_name = "Lee-Kim".into());
        data.add_member(&devs, &bob);
    }
    let before = o.control.total_requests();
    let changes = c.read_changes(&cursor).await;
    assert!(changes.complete && !changes.restart, "{:?}", changes.problems);
    let mut names: Vec<&str> = changes.users.iter().map(|u| u.record["userName"].as_str().unwrap()).collect();
    names.sort();
    // ann and bob changed; the user at the last mark of the full read is read again (>=).
    assert!(names.contains(&"ann.lee@example.com") && names.contains(&"bob.ng@example.com"), "{names:?}");
    assert!(names.len() <= 3, "{names:?}");
    let bob_now = changes.users.iter().find(|u| u.external_id == bob).unwrap();
    assert_eq!(bob_now.record["active"], false, "a deprovisioned user is read as inactive, not lost");
    assert_eq!(changes.users.iter().find(|u| u.external_id == ann).unwrap().record["name"]["familyName"], "Lee-Kim");
    let mut members = vec![ann.clone(), bob.clone()];
    members.sort();
    let devs_change = changes.groups.iter().find(|g| g.external_id == devs).unwrap();
    assert_eq!(devs_change.members, MemberChanges::All(members));
    // One page of users, one of groups, one of devs' members (ops is read again as the last mark).
    assert!(o.control.total_requests() - before <= 4, "{} requests", o.control.total_requests() - before);
    assert_eq!(changes.requests, o.control.total_requests() - before);
}

#[tokio::test]
async fn okta_scoped_to_an_app_follows_assignments() {
    let (o, running) = okta().await;
    let (ann, bob, app) = {
        let mut data = o.data.lock().unwrap();
        let ann = data.add_user("ann.lee@example.com", "ACTIVE");
        let bob = data.add_user("bob.ng@example.com", "ACTIVE");
        data.add_user("out.sider@example.com", "ACTIVE");
        let jira = data.add_group("jira-users", &[&ann]);
        data.add_group("unrelated", &[&ann]);
        let app = data.add_app(&[], &[&jira]);
        (ann, bob, app)
    };
    let c = client(&running, Some(app.clone()));
    let full = c.read().await;
    assert!(full.complete, "{:?}", full.problems);
    assert_eq!(full.users.iter().map(|u| u.external_id.clone()).collect::<Vec<_>>(), std::slice::from_ref(&ann));
    assert_eq!(full.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["jira-users"]);
    // bob is assigned directly (he does not change); ann's group loses its assignment.
    {
        let mut data = o.data.lock().unwrap();
        let a = data.apps.iter_mut().find(|a| a.id == app).unwrap();
        a.users.push(bob.clone());
        a.groups.clear();
    }
    let changes = c.read_changes(full.cursor.as_deref().unwrap()).await;
    assert!(changes.complete, "{:?}", changes.problems);
    assert!(changes.users.iter().any(|u| u.external_id == bob), "{:?}", changes.users);
    assert_eq!(changes.scope, Some(vec![bob]));
}

#[tokio::test]
async fn okta_service_apps_sign_in_with_a_private_key() {
    let (o, running) = okta().await;
    o.data.lock().unwrap().add_user("ann.lee@example.com", "ACTIVE");
    rest::install_crypto();
    let app = |key: &str| {
        let credentials = Credentials::Key { key: key.into(), client_id: Some(o.service_app.clone()) };
        let config = SourceConfig::Okta { url: running.base_url.clone(), app: None };
        connect_with(&config, credentials, Duration::from_secs(2), Retry::default()).unwrap()
    };
    let c = app(simulators::common::TEST_KEY);
    let checks = c.check().await;
    assert!(checks.iter().all(|c| c.status == rest::CheckStatus::Ok), "{checks:?}");
    assert_eq!(c.read().await.users.len(), 1, "read with the service app's bearer tokens");

    // An admin who did not grant the groups scope: the check names it.
    o.granted_scopes.lock().unwrap().retain(|s| s != "okta.groups.read");
    let checks = app(simulators::common::TEST_KEY).check().await;
    assert!(checks[0].what.contains("not allowed: okta.groups.read"), "{checks:?}");
    assert!(checks[0].what.contains("service app could not sign in"), "{checks:?}");

    // A key that is not the app's.
    let other = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .unwrap();
    let checks = app(&String::from_utf8(other.stdout).unwrap()).check().await;
    assert!(checks[0].what.contains("signature is invalid"), "{checks:?}");
    let not_pem = connect_with(
        &SourceConfig::Okta { url: running.base_url.clone(), app: None },
        Credentials::Key { key: "not a key".into(), client_id: Some("x".into()) },
        Duration::from_secs(1),
        Retry::default(),
    );
    assert!(not_pem.err().unwrap().to_string().contains("PEM private key"));
}
