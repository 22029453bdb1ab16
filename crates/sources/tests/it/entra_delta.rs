//! Entra ID delta queries against the Graph simulator: a full read leaves delta links, the next
//! read returns only the changes (users updated, deleted; members joining and leaving; groups
//! removed) in a number of requests that follows the changes, an expired link asks for a full
//! read, and a scope to nested group members follows people in and out.

use std::sync::Arc;
use std::time::Duration;

use rest::Credentials;
use simulators::entra::Entra;
use simulators::{Running, Simulator};
use sources::{MemberChanges, Retry, SourceConfig, connect_with};

async fn graph() -> (Arc<Entra>, Running) {
    let graph = Entra::new(simulators::Credentials::default());
    let running = Simulator::Entra(graph.clone()).start("127.0.0.1:0").await.unwrap();
    (graph, running)
}

fn client(graph: &Entra, running: &Running, only_group: Vec<String>) -> Box<dyn sources::Connector> {
    rest::install_crypto();
    let config = SourceConfig::Entra {
        tenant: graph.tenant.clone(),
        graph_url: running.base_url.clone(),
        login_url: running.base_url.clone(),
        username_attribute: "userPrincipalName".into(),
        only_group,
    };
    let credentials = Credentials::Basic { username: graph.client_id.clone(), password: graph.client_secret.clone() };
    let retry =
        Retry { attempts: 3, first_wait: Duration::from_millis(10), longest_wait: Duration::from_secs(1), rate: None };
    connect_with(&config, credentials, Duration::from_secs(2), retry).unwrap()
}

#[tokio::test]
async fn entra_delta_reads_only_the_changes() {
    let (graph, running) = graph().await;
    let (ann, bob, devs, old) = {
        let mut data = graph.data.lock().unwrap();
        for i in 0..1000 {
            data.add_user(&format!("user{i:04}@contoso.com"), true);
        }
        let ann = data.add_user("ann.lee@contoso.com", true);
        let bob = data.add_user("bob.ng@contoso.com", true);
        let devs = data.add_group("devs", &[&ann]);
        let old = data.add_group("old", &[&bob]);
        (ann, bob, devs, old)
    };
    let c = client(&graph, &running, Vec::new());
    let full = c.read().await;
    assert!(full.complete, "{:?}", full.problems);
    assert_eq!((full.users.len(), full.groups.len()), (1002, 2));
    let cursor = full.cursor.clone().expect("delta links after a full read");

    {
        let mut data = graph.data.lock().unwrap();
        data.update_user(&ann, |u| u.account_enabled = false);
        data.remove_user(&bob);
        let carl = data.add_user("carl.diaz@contoso.com", true);
        data.add_member(&devs, &carl);
        data.remove_member(&devs, &ann);
        data.remove_group(&old);
    }
    let requests_before = graph.control.total_requests();
    let changes = c.read_changes(&cursor).await;
    assert!(changes.complete && !changes.restart, "{:?}", changes.problems);
    let mut names: Vec<&str> = changes.users.iter().map(|u| u.record["userName"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["ann.lee@contoso.com", "carl.diaz@contoso.com"]);
    assert_eq!(changes.users.iter().find(|u| u.external_id == ann).unwrap().record["active"], false);
    assert_eq!(changes.removed_users, std::slice::from_ref(&bob), "{changes:#?}");
    assert_eq!(changes.removed_groups, [old]);
    let carl =
        changes.users.iter().find(|u| u.record["userName"] == "carl.diaz@contoso.com").unwrap().external_id.clone();
    let devs_change = changes.groups.iter().find(|g| g.external_id == devs).unwrap();
    assert_eq!(devs_change.members, MemberChanges::Delta { added: vec![carl], removed: vec![ann.clone()] });
    // One page of user changes and one of group changes: proportional to the changes, not to 1,002 users.
    assert_eq!(changes.requests, 2);
    assert_eq!(graph.control.total_requests() - requests_before, 2);

    // Nothing changed since: nothing read.
    let quiet = c.read_changes(changes.cursor.as_deref().unwrap()).await;
    assert!(quiet.users.is_empty() && quiet.groups.is_empty() && quiet.removed_users.is_empty());

    // A link Graph has forgotten (older than 7 days): read everything again.
    graph.data.lock().unwrap().expire_delta_links();
    let expired = c.read_changes(quiet.cursor.as_deref().unwrap()).await;
    assert!(expired.restart, "{expired:?}");
    assert!(expired.problems[0].contains("sync state"), "{:?}", expired.problems);
}

#[tokio::test]
async fn entra_scope_follows_nested_members_in_and_out() {
    let (graph, running) = graph().await;
    let (ann, bob, jira, inner) = {
        let mut data = graph.data.lock().unwrap();
        let ann = data.add_user("ann.lee@contoso.com", true);
        let bob = data.add_user("bob.ng@contoso.com", true);
        data.add_user("out.sider@contoso.com", true);
        let inner = data.add_group("platform", &[&ann]);
        let jira = data.add_group("jira-users", &[&inner]);
        (ann, bob, jira, inner)
    };
    let c = client(&graph, &running, vec![jira.clone()]);
    let checks = c.check().await;
    assert!(checks.last().unwrap().what.contains("only members of jira-users"), "{checks:?}");
    let full = c.read().await;
    assert_eq!(full.users.iter().map(|u| u.external_id.clone()).collect::<Vec<_>>(), std::slice::from_ref(&ann));

    // bob joins the nested group (he himself does not change); ann leaves it.
    {
        let mut data = graph.data.lock().unwrap();
        data.add_member(&inner, &bob);
        data.remove_member(&inner, &ann);
    }
    let changes = c.read_changes(full.cursor.as_deref().unwrap()).await;
    assert!(changes.complete, "{:?}", changes.problems);
    assert_eq!(changes.users.iter().map(|u| u.external_id.clone()).collect::<Vec<_>>(), std::slice::from_ref(&bob));
    assert_eq!(changes.scope, Some(vec![bob]), "ann is outside the scope now");
}
