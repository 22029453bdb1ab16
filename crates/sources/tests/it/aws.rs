//! The AWS identity store against its simulator, which checks every Signature Version 4: pages of
//! users, groups and memberships, one user at login, throttling waited out, IAM denials and a
//! wrong secret explained, a failure part-way through paging.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rest::{CheckStatus, Credentials};
use simulators::aws::IdentityStore;
use simulators::{Faults, Running, Simulator};
use sources::{Retry, SourceConfig, connect_with};

async fn store() -> (Arc<IdentityStore>, Running) {
    let s = IdentityStore::new(simulators::Credentials::default());
    let running = Simulator::Aws(s.clone()).start("127.0.0.1:0").await.unwrap();
    (s, running)
}

fn client(store: &IdentityStore, url: &str, secret: &str) -> Box<dyn sources::Connector> {
    rest::install_crypto();
    let config = SourceConfig::Aws {
        url: url.into(),
        identity_store: store.store_id.clone(),
        region: Some(store.region.clone()),
    };
    let credentials = Credentials::Basic { username: store.access_key.clone(), password: secret.into() };
    let retry =
        Retry { attempts: 3, first_wait: Duration::from_millis(200), longest_wait: Duration::from_secs(2), rate: None };
    connect_with(&config, credentials, Duration::from_secs(3), retry).unwrap()
}

#[tokio::test]
async fn aws_reads_signed_pages_of_users_groups_and_memberships() {
    let (s, running) = store().await;
    let (ann, group) = {
        let mut data = s.data.lock().unwrap();
        let ids: Vec<String> = (0..250).map(|i| data.add_user(&format!("user{i:03}"))).collect();
        let ann = data.add_user("ann.lee");
        let members: Vec<&str> = ids.iter().take(150).map(String::as_str).chain([ann.as_str()]).collect();
        let group = data.add_group("Developers", &members);
        data.add_group("Admins", &[&ann]);
        (ann, group)
    };
    let c = client(&s, &running.base_url, &s.secret_key);
    let checks = c.check().await;
    assert!(checks.iter().all(|c| c.status == CheckStatus::Ok), "{checks:?}");
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(snapshot.users.len(), 251);
    let user = snapshot.users.iter().find(|u| u.external_id == ann).unwrap();
    assert_eq!(user.record["userName"], "ann.lee");
    assert_eq!(user.record["emails"][0]["value"], "ann.lee@example.com");
    assert_eq!(user.record["displayName"], "ann lee");
    let developers = snapshot.groups.iter().find(|g| g.external_id == group).unwrap();
    assert_eq!(developers.members.len(), 151, "two pages of memberships");
    // 3 user pages, 1 group page, 2 + 1 membership pages.
    assert_eq!(snapshot.requests, 3 + 1 + 2 + 1);

    let (found, groups) = c.read_user("ANN.LEE").await.unwrap().unwrap();
    assert_eq!(found.external_id, ann);
    let mut names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Admins", "Developers"]);
    assert_eq!(c.lookup("ann.lee").await.unwrap().unwrap()["Name"]["GivenName"], "ann");
    assert!(c.lookup("nobody").await.unwrap().is_none());
}

#[tokio::test]
async fn aws_throttling_denials_and_wrong_keys_are_handled() {
    let (s, running) = store().await;
    {
        let mut data = s.data.lock().unwrap();
        for i in 0..250 {
            data.add_user(&format!("user{i:03}"));
        }
    }
    let c = client(&s, &running.base_url, &s.secret_key);
    s.throttled.store(2, Ordering::SeqCst);
    let started = Instant::now();
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(snapshot.users.len(), 250);
    assert!(started.elapsed() >= Duration::from_millis(600), "waited {:?}", started.elapsed());

    s.control.set_faults(Faults { errors_500: 100, errors_500_after: 1, ..Faults::default() });
    let snapshot = c.read().await;
    assert!(!snapshot.complete && snapshot.problems[0].contains("reading users failed"), "{:?}", snapshot.problems);
    s.control.set_faults(Faults { loop_paging: true, ..Faults::default() });
    let before = s.control.total_requests();
    let snapshot = c.read().await;
    assert!(!snapshot.complete && snapshot.problems[0].contains("in a circle"), "{:?}", snapshot.problems);
    assert!(s.control.total_requests() - before < 10);
    s.control.set_faults(Faults::default());

    s.denied.lock().unwrap().insert("ListGroups".into());
    let checks = c.check().await;
    assert_eq!(checks[1].status, CheckStatus::Failed);
    assert!(
        checks[1].what.contains("identitystore:ListGroups is not authorized")
            || checks[1].what.contains("not authorized to perform: identitystore:ListGroups"),
        "{checks:?}"
    );
    assert!(checks[1].what.contains("allow identitystore:ListUsers"), "{checks:?}");

    let wrong = client(&s, &running.base_url, "not-the-secret").check().await;
    assert!(wrong[0].what.contains("refused the access key") && wrong[0].what.contains("signature"), "{wrong:?}");

    let elsewhere = SourceConfig::Aws {
        url: running.base_url.clone(),
        identity_store: "d-0000000000".into(),
        region: Some(s.region.clone()),
    };
    let credentials = Credentials::Basic { username: s.access_key.clone(), password: s.secret_key.clone() };
    let checks =
        connect_with(&elsewhere, credentials.clone(), Duration::from_secs(2), Retry::default()).unwrap().check().await;
    assert!(checks[0].what.contains("--identity-store"), "{checks:?}");

    let no_region =
        SourceConfig::Aws { url: running.base_url.clone(), identity_store: s.store_id.clone(), region: None };
    let refused = connect_with(&no_region, credentials, Duration::from_secs(2), Retry::default());
    assert!(refused.err().unwrap().to_string().contains("--region"));
}
