//! Every adapter against its simulator: the same operations, read back through the adapter, plus
//! each product's failure modes.

use std::time::Duration;

use model::target::{Lead, LeadKind, NewUser, Operation};
use serde_json::json;
use simulators::{Credentials as SimCredentials, Faults, Running, Simulator};
use targets::{CheckStatus, Credentials, Kind, TargetClient, TargetConfig, TargetError, connect};

async fn start(kind: &str) -> (Simulator, Running) {
    let sim = Simulator::by_kind(kind, SimCredentials::default()).unwrap();
    let running = sim.start("127.0.0.1:0").await.unwrap();
    (sim, running)
}

fn client(kind: Kind, url: &str, credentials: Credentials) -> Box<dyn TargetClient> {
    targets::install_crypto();
    connect(&TargetConfig { name: "t".into(), kind, url: url.into(), credentials, timeout: Duration::from_secs(2) })
        .unwrap()
}

fn admin() -> Credentials {
    Credentials::Bearer { token: SimCredentials::default().admin_token }
}

fn create(name: &str) -> Operation {
    Operation::CreateUser {
        user: NewUser {
            name: name.into(),
            email: Some(format!("{name}@example.com")),
            display_name: Some(format!("{name} Lee")),
        },
    }
}

/// The operations every product supports, read back through the adapter.
async fn exercise(c: &dyn TargetClient) {
    let checks = c.check().await;
    assert!(checks.iter().all(|c| c.status != CheckStatus::Failed), "{checks:?}");
    assert_eq!(c.user("ann", &[]).await.unwrap(), None);
    c.apply(&create("ann")).await.unwrap();
    c.apply(&Operation::CreateGroup { group: "devs".into() }).await.unwrap();
    c.apply(&Operation::CreateGroup { group: "devs".into() }).await.unwrap();
    c.apply(&Operation::AddMember { group: "devs".into(), user: "ann".into() }).await.unwrap();
    let ann = c.user("ANN", &[]).await.unwrap().expect("ann exists");
    assert_eq!(ann.name, "ann");
    assert_eq!(ann.email.as_deref(), Some("ann@example.com"));
    assert_eq!(ann.display_name.as_deref(), Some("ann Lee"));
    assert!(ann.groups.contains("devs"), "{ann:?}");
    assert!(c.groups().await.unwrap().contains(&"devs".to_string()));
    c.apply(&Operation::UpdateUser {
        name: "ann".into(),
        email: Some("a@example.org".into()),
        display_name: Some("Ann B".into()),
    })
    .await
    .unwrap();
    let ann = c.user("ann", &[]).await.unwrap().unwrap();
    assert_eq!((ann.email.as_deref(), ann.display_name.as_deref()), (Some("a@example.org"), Some("Ann B")));
    c.apply(&Operation::RemoveMember { group: "devs".into(), user: "ann".into() }).await.unwrap();
    assert!(!c.user("ann", &[]).await.unwrap().unwrap().groups.contains("devs"));
    if c.capabilities().deactivate {
        c.apply(&Operation::SetActive { name: "ann".into(), active: false }).await.unwrap();
        assert!(!c.user("ann", &[]).await.unwrap().unwrap().active);
        c.apply(&Operation::SetActive { name: "ann".into(), active: true }).await.unwrap();
        assert!(c.user("ann", &[]).await.unwrap().unwrap().active);
    }
    if c.capabilities().rename {
        c.apply(&Operation::RenameUser { name: "ann".into(), new_name: "ann.lee".into() }).await.unwrap();
        assert!(c.user("ann", &[]).await.unwrap().is_none());
        assert!(c.user("ann.lee", &[]).await.unwrap().is_some());
        c.apply(&Operation::RenameUser { name: "ann.lee".into(), new_name: "ann".into() }).await.unwrap();
    }
    c.apply(&Operation::DeleteUser { name: "ann".into() }).await.unwrap();
    // Deleting again (a retry after a crash) succeeds.
    c.apply(&Operation::DeleteUser { name: "ann".into() }).await.unwrap();
}

#[tokio::test]
async fn jira_adapter_against_the_simulator() {
    let (sim, running) = start("jira").await;
    let c = client(Kind::Jira, &running.base_url, admin());
    exercise(c.as_ref()).await;
    // Properties and leads.
    c.apply(&create("bob")).await.unwrap();
    c.apply(&Operation::SetProperty { name: "bob".into(), key: "department".into(), value: "R&D".into() })
        .await
        .unwrap();
    let bob = c.user("bob", &["department".into(), "missing".into()]).await.unwrap().unwrap();
    assert_eq!(bob.properties.get("department").map(String::as_str), Some("R&D"));
    assert_eq!(bob.properties.len(), 1);
    let Simulator::Jira(jira) = &sim else { unreachable!() };
    let http = reqwest::Client::new();
    let token = SimCredentials::default().admin_token;
    http.post(format!("{}/rest/api/2/project", running.base_url))
        .bearer_auth(&token)
        .json(&json!({"key": "OPS", "name": "Operations", "lead": "bob"}))
        .send()
        .await
        .unwrap();
    http.post(format!("{}/rest/api/2/component", running.base_url))
        .bearer_auth(&token)
        .json(&json!({"project": "OPS", "name": "Backend", "leadUserName": "bob"}))
        .send()
        .await
        .unwrap();
    let leads = c.leads().await.unwrap();
    assert_eq!(leads.len(), 2);
    assert!(leads.contains(&Lead {
        kind: LeadKind::Project,
        id: "OPS".into(),
        name: "Operations".into(),
        lead: Some("bob".into())
    }));
    // The simulator, like Jira's UI, refuses to deactivate a lead: the error says why.
    let err = c.apply(&Operation::SetActive { name: "bob".into(), active: false }).await.unwrap_err();
    assert!(matches!(&err, TargetError::Rejected { message, .. } if message.contains("lead of project OPS")), "{err}");
    assert!(!err.is_retryable());
    let component = leads.iter().find(|l| l.kind == LeadKind::Component).unwrap();
    c.apply(&Operation::SetLead { kind: LeadKind::Project, id: "OPS".into(), lead: "admin".into() }).await.unwrap();
    c.apply(&Operation::SetLead { kind: LeadKind::Component, id: component.id.clone(), lead: "admin".into() })
        .await
        .unwrap();
    c.apply(&Operation::SetActive { name: "bob".into(), active: false }).await.unwrap();
    assert!(!jira.data.lock().unwrap().user("bob").unwrap().active);
}

#[tokio::test]
async fn jira_before_8_3_explains_that_it_cannot_deactivate() {
    let sim = Simulator::Jira(simulators::jira::Jira::new(
        SimCredentials::default(),
        simulators::jira::JiraOptions { version: "8.2.0".into(), ..Default::default() },
    ));
    let running = sim.start("127.0.0.1:0").await.unwrap();
    let c = client(Kind::Jira, &running.base_url, admin());
    let checks = c.check().await;
    assert!(checks.iter().any(|c| c.status == CheckStatus::Warning && c.what.contains("needs 8.3")), "{checks:?}");
    c.apply(&create("ann")).await.unwrap();
    let err = c.apply(&Operation::SetActive { name: "ann".into(), active: false }).await.unwrap_err();
    assert!(err.to_string().contains("Jira before 8.3 cannot deactivate"), "{err}");
}

#[tokio::test]
async fn read_only_directories_are_named_in_the_check() {
    let sim = Simulator::Jira(simulators::jira::Jira::new(
        SimCredentials::default(),
        simulators::jira::JiraOptions { read_only_directory: true, ..Default::default() },
    ));
    let running = sim.start("127.0.0.1:0").await.unwrap();
    let checks = client(Kind::Jira, &running.base_url, admin()).check().await;
    let last = checks.last().unwrap();
    assert_eq!(last.status, CheckStatus::Failed);
    assert!(last.what.contains("read-only") && last.what.contains("writable directory"), "{}", last.what);
}

#[tokio::test]
async fn confluence_adapter_against_the_simulator() {
    let (_sim, running) = start("confluence").await;
    exercise(client(Kind::Confluence, &running.base_url, admin()).as_ref()).await;
}

#[tokio::test]
async fn confluence_before_8_4_is_reported() {
    let sim = Simulator::Confluence(simulators::confluence::Confluence::new(
        SimCredentials::default(),
        simulators::confluence::ConfluenceOptions { version: "7.19.0".into(), ..Default::default() },
    ));
    let running = sim.start("127.0.0.1:0").await.unwrap();
    let checks = client(Kind::Confluence, &running.base_url, admin()).check().await;
    assert!(checks.last().unwrap().what.contains("8.4"), "{checks:?}");
}

#[tokio::test]
async fn bitbucket_adapter_against_the_simulator() {
    let (_sim, running) = start("bitbucket").await;
    let c = client(
        Kind::Bitbucket,
        &running.base_url,
        Credentials::Basic { username: "admin".into(), password: "admin".into() },
    );
    exercise(c.as_ref()).await;
    let err = c.apply(&Operation::SetActive { name: "admin".into(), active: false }).await.unwrap_err();
    assert!(matches!(err, TargetError::Unsupported(_)));
}

#[tokio::test]
async fn credential_and_permission_failures_say_what_to_fix() {
    for kind in ["jira", "confluence", "bitbucket"] {
        let (_sim, running) = start(kind).await;
        let k = Kind::parse(kind).unwrap();
        let wrong = client(k, &running.base_url, Credentials::Bearer { token: "wrong".into() }).check().await;
        let last = wrong.last().unwrap();
        assert_eq!(last.status, CheckStatus::Failed, "{kind}: {wrong:?}");
        assert!(
            last.what.contains("credentials refused") || last.what.contains("signing in failed"),
            "{kind}: {}",
            last.what
        );
        let viewer = Credentials::Bearer { token: SimCredentials::default().viewer_token };
        let checks = client(k, &running.base_url, viewer).check().await;
        let last = checks.last().unwrap();
        assert_eq!(last.status, CheckStatus::Failed, "{kind}: {checks:?}");
        assert!(last.what.contains("lacks"), "{kind}: {}", last.what);
    }
}

#[tokio::test]
async fn outages_and_throttling_are_retryable_with_the_wait() {
    let (sim, running) = start("jira").await;
    let c = client(Kind::Jira, &running.base_url, admin());
    sim.control().set_faults(Faults { storm_429: 1, retry_after_seconds: 7, ..Faults::default() });
    let err = c.user("admin", &[]).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    sim.control().set_faults(Faults { errors_500: 1, ..Faults::default() });
    assert!(matches!(c.user("admin", &[]).await.unwrap_err(), TargetError::Server { status: 500, .. }));
    sim.control().set_faults(Faults { down: true, ..Faults::default() });
    let err = c.user("admin", &[]).await.unwrap_err();
    assert!(err.is_retryable() && err.is_outage(), "{err}");
    sim.control().set_faults(Faults { delay_ms: 3000, ..Faults::default() });
    let err = c.user("admin", &[]).await.unwrap_err();
    assert!(matches!(&err, TargetError::Unreachable { detail } if detail.contains("no answer in time")), "{err}");
    sim.control().set_faults(Faults::default());
    assert!(c.user("admin", &[]).await.unwrap().is_some());
    let url = running.base_url.clone();
    running.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = client(Kind::Jira, &url, admin());
    let err = c.user("admin", &[]).await.unwrap_err();
    assert!(matches!(&err, TargetError::Unreachable { detail } if detail.contains("cannot connect")), "{err}");
    let checks = c.check().await;
    assert!(checks[0].what.contains("cannot reach"), "{checks:?}");
}

#[tokio::test]
async fn paging_reads_every_group() {
    let (sim, running) = start("confluence").await;
    let c = client(Kind::Confluence, &running.base_url, admin());
    for i in 0..450 {
        c.apply(&Operation::CreateGroup { group: format!("g{i:03}") }).await.unwrap();
    }
    assert_eq!(c.groups().await.unwrap().len(), 452);
    assert!(sim.control().requests().get("GET /rest/api/group").copied().unwrap_or(0) >= 3);
}

/// The Data Center products name the charset in their JSON answers; the simulators do too, and
/// the adapters read such answers (the adapter tests above run against them).
#[tokio::test]
async fn atlassian_simulators_answer_json_with_its_charset() {
    for (kind, path) in [
        ("jira", "/rest/api/2/serverInfo"),
        ("confluence", "/rest/api/group"),
        ("bitbucket", "/rest/api/1.0/admin/groups"),
    ] {
        let (_sim, running) = start(kind).await;
        targets::install_crypto();
        let answer = reqwest::Client::new()
            .get(format!("{}{path}", running.base_url))
            .bearer_auth(SimCredentials::default().admin_token)
            .send()
            .await
            .unwrap();
        let content_type = answer.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(content_type, simulators::common::ATLASSIAN_JSON, "{kind} {path}: {}", answer.status());
    }
}
