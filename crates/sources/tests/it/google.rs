//! Google Workspace against its simulator: a signed service-account grant, pages of users, groups
//! and members, nesting, suspended and archived users, scoping, throttling by 403 quota answers,
//! a failure part-way through paging, and each refused grant explained.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rest::{CheckStatus, Credentials};
use simulators::google::Google;
use simulators::{Faults, Running, Simulator};
use sources::{Retry, SourceConfig, connect_with};

async fn google() -> (Arc<Google>, Running) {
    let g = Google::new(simulators::Credentials::default());
    let running = Simulator::Google(g.clone()).start("127.0.0.1:0").await.unwrap();
    (g, running)
}

fn config(url: &str, only_group: Option<&str>, org_unit: Option<&str>) -> SourceConfig {
    serde_json::from_value(serde_json::json!({
        "kind": "google", "url": url, "admin": "admin@example.com",
        "only_group": only_group, "org_unit": org_unit,
    }))
    .unwrap()
}

fn client(config: &SourceConfig, key: &str) -> Box<dyn sources::Connector> {
    rest::install_crypto();
    let retry =
        Retry { attempts: 3, first_wait: Duration::from_millis(200), longest_wait: Duration::from_secs(2), rate: None };
    connect_with(config, Credentials::Key { key: key.into(), client_id: None }, Duration::from_secs(3), retry).unwrap()
}

#[tokio::test]
async fn google_reads_pages_of_users_groups_and_members_with_nesting() {
    let (g, running) = google().await;
    let (ann, eng, platform) = {
        let mut data = g.data.lock().unwrap();
        let ids: Vec<String> =
            (0..1_100).map(|i| data.add_user(&format!("user{i:04}@example.com"), i % 100 == 7)).collect();
        let ann = data.add_user("ann.lee@example.com", false);
        data.users.last_mut().unwrap().org_unit_path = "/Engineering".into();
        let archived = data.add_user("old.timer@example.com", false);
        data.users.last_mut().unwrap().archived = true;
        let many: Vec<&str> = ids.iter().take(450).map(String::as_str).collect();
        data.add_group("all@example.com", "All staff", &many);
        let platform = data.add_group("platform@example.com", "Platform", &[&ann, &archived]);
        let eng = data.add_group("eng@example.com", "Engineering", &[&platform, &ids[1]]);
        for i in 0..210 {
            data.add_group(&format!("team{i}@example.com"), &format!("Team {i}"), &[]);
        }
        (ann, eng, platform)
    };
    let c = client(&config(&running.base_url, None, None), &g.key_file());
    let checks = c.check().await;
    assert!(checks.iter().all(|c| c.status == CheckStatus::Ok), "{checks:?}");
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(snapshot.users.len(), 1_102);
    let user = |id: &str| snapshot.users.iter().find(|u| u.external_id == id).unwrap();
    assert_eq!(user(&ann).record["userName"], "ann.lee@example.com");
    assert_eq!(user(&ann).record["name"]["givenName"], "ann");
    assert_eq!(snapshot.users.iter().filter(|u| u.record["active"] == false).count(), 11 + 1, "suspended and archived");
    assert_eq!(snapshot.groups.len(), 213);
    let group = |name: &str| snapshot.groups.iter().find(|g| g.name == name).unwrap();
    assert_eq!(group("All staff").members.len(), 450, "three pages of members");
    assert_eq!(group("Engineering").members[0], platform, "a nested group stays a member");
    assert_eq!(group("Engineering").external_id, eng);
    // 3 user pages + 2 group pages + 3 + 212 member pages; the token is the one the check got.
    assert_eq!(snapshot.requests, 3 + 2 + 3 + 212, "requests");

    // Scoped to a group: its nested members only; to an organisational unit: that unit only.
    let scoped = client(&config(&running.base_url, Some("eng@example.com"), None), &g.key_file());
    let snapshot = scoped.read().await;
    let mut names: Vec<&str> = snapshot.users.iter().map(|u| u.record["userName"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["ann.lee@example.com", "old.timer@example.com", "user0001@example.com"]);
    assert!(scoped.read_user("ann.lee@example.com").await.unwrap().is_some());
    assert!(scoped.read_user("user0002@example.com").await.unwrap().is_none(), "outside the group");
    let unit = client(&config(&running.base_url, None, Some("/Engineering")), &g.key_file()).read().await;
    assert_eq!(unit.users.len(), 1);

    let (found, groups) = c.read_user("ann.lee@example.com").await.unwrap().unwrap();
    assert_eq!(found.external_id, ann);
    assert_eq!(groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["Platform"]);
    assert_eq!(c.lookup("ann.lee@example.com").await.unwrap().unwrap()["orgUnitPath"], "/Engineering");
    assert!(c.lookup("nobody@example.com").await.unwrap().is_none());
}

#[tokio::test]
async fn google_quota_answers_are_waited_out_and_failures_leave_reads_incomplete() {
    let (g, running) = google().await;
    {
        let mut data = g.data.lock().unwrap();
        for i in 0..1_200 {
            data.add_user(&format!("user{i:04}@example.com"), false);
        }
    }
    let c = client(&config(&running.base_url, None, None), &g.key_file());
    g.quota_errors.store(2, Ordering::SeqCst);
    let started = Instant::now();
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    assert_eq!(snapshot.users.len(), 1_200);
    // Two 403 userRateLimitExceeded, waited 200 ms then 400 ms: no tight loop.
    assert!(started.elapsed() >= Duration::from_millis(600), "{:?}", started.elapsed());

    // The second page of users fails for good: the read says so and is incomplete.
    g.control.set_faults(Faults { errors_500: 100, errors_500_after: 1, ..Faults::default() });
    let snapshot = c.read().await;
    assert!(!snapshot.complete);
    assert!(snapshot.problems[0].contains("reading users failed"), "{:?}", snapshot.problems);

    // A page token handed back a second time ends the read, not in thousands of requests.
    g.control.set_faults(Faults { loop_paging: true, ..Faults::default() });
    let before = g.control.total_requests();
    let snapshot = c.read().await;
    assert!(!snapshot.complete && snapshot.problems[0].contains("in a circle"), "{:?}", snapshot.problems);
    assert!(g.control.total_requests() - before < 10);
}

#[tokio::test]
async fn refused_grants_say_what_to_fix() {
    let (g, running) = google().await;
    // An administrator who never delegated the member scope.
    g.delegated.lock().unwrap().pop();
    let checks = client(&config(&running.base_url, None, None), &g.key_file()).check().await;
    assert_eq!(checks[0].status, CheckStatus::Failed);
    assert!(checks[0].what.contains("Domain-wide delegation"), "{checks:?}");
    assert!(checks[0].what.contains("group.member.readonly"), "{checks:?}");

    // A key the service account does not have (another RSA key): the signature is refused.
    let other = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .unwrap();
    let mut key: serde_json::Value = serde_json::from_str(&g.key_file()).unwrap();
    key["private_key"] = String::from_utf8(other.stdout).unwrap().into();
    let checks = client(&config(&running.base_url, None, None), &key.to_string()).check().await;
    assert!(checks[0].what.contains("Invalid JWT Signature"), "{checks:?}");

    rest::install_crypto();
    let not_a_key = connect_with(
        &config(&running.base_url, None, None),
        Credentials::Key { key: "{\"type\": \"service_account\"}".into(), client_id: None },
        Duration::from_secs(1),
        Retry::default(),
    );
    assert!(not_a_key.err().unwrap().to_string().contains("--key-file"));
    let half = connect_with(
        &config(&running.base_url, None, None),
        Credentials::Key { key: "{\"type\": \"authorized_user\"}".into(), client_id: None },
        Duration::from_secs(1),
        Retry::default(),
    );
    assert!(half.err().unwrap().to_string().contains("has no client_id"));
}

#[tokio::test]
async fn an_oauth_client_signs_in_with_its_refresh_token() {
    let (g, running) = google().await;
    g.data.lock().unwrap().add_user("ann.lee@example.com", false);
    let c = client(&config(&running.base_url, None, None), &g.authorized_user_file());
    let checks = c.check().await;
    assert!(checks.iter().all(|c| c.status == CheckStatus::Ok), "{checks:?}");
    assert!(checks[0].what.contains("OAuth client"), "{checks:?}");
    assert_eq!(c.read().await.users.len(), 1);
    // The consent was withdrawn: the refresh token no longer works, and the check says what to do.
    *g.refresh_token.lock().unwrap() = "1//another".into();
    let checks = client(&config(&running.base_url, None, None), &g.authorized_user_file().replace("another", "old"))
        .check()
        .await;
    assert!(checks[0].what.contains("expired or revoked") && checks[0].what.contains("consent again"), "{checks:?}");
}
