//! OneLogin incremental reads: users updated since the last change seen, each with its roles.

use std::time::Duration;

use rest::Credentials;
use simulators::Simulator;
use simulators::onelogin::OneLogin;
use sources::{Retry, SourceConfig, connect_with};

#[tokio::test]
async fn onelogin_reads_users_updated_since_with_their_roles() {
    let ol = OneLogin::new(simulators::Credentials::default());
    let running = Simulator::OneLogin(ol.clone()).start("127.0.0.1:0").await.unwrap();
    let (ann, bob, jira, wiki) = {
        let mut data = ol.data.lock().unwrap();
        for i in 0..250 {
            data.add_user(&format!("user{i:03}"), 1);
        }
        let ann = data.add_user("ann", 1);
        let bob = data.add_user("bob", 1);
        let jira = data.add_role("jira-users", &[ann, bob]);
        let wiki = data.add_role("wiki-users", &[]);
        (ann, bob, jira, wiki)
    };
    rest::install_crypto();
    let credentials = Credentials::Basic { username: ol.client_id.clone(), password: ol.client_secret.clone() };
    let retry =
        Retry { attempts: 2, first_wait: Duration::from_millis(10), longest_wait: Duration::from_secs(1), rate: None };
    let c = connect_with(
        &SourceConfig::OneLogin { url: running.base_url.clone() },
        credentials,
        Duration::from_secs(2),
        retry,
    )
    .unwrap();
    let full = c.read().await;
    assert!(full.complete, "{:?}", full.problems);
    let cursor = full.cursor.clone().expect("the latest updated_at after a full read");
    {
        let mut data = ol.data.lock().unwrap();
        data.update_user(ann, |u| u.status = 2);
        data.update_user(bob, |u| u.role_ids = vec![wiki]);
    }
    let changes = c.read_changes(&cursor).await;
    assert!(changes.complete, "{:?}", changes.problems);
    let mut names: Vec<&str> = changes.users.iter().map(|u| u.record["userName"].as_str().unwrap()).collect();
    names.sort();
    assert!(names.contains(&"ann") && names.contains(&"bob") && names.len() <= 3, "{names:?}");
    assert_eq!(changes.users.iter().find(|u| u.record["userName"] == "ann").unwrap().record["active"], false);
    let bob_roles = changes.memberships.iter().find(|(id, _)| id == &bob.to_string()).unwrap();
    assert_eq!(bob_roles.1, [wiki.to_string()], "bob left jira-users and joined wiki-users");
    let ann_roles = changes.memberships.iter().find(|(id, _)| id == &ann.to_string()).unwrap();
    assert_eq!(ann_roles.1, [jira.to_string()]);
    assert_eq!(changes.groups.len(), 2, "every role with its name");
    assert!(changes.requests <= 3, "one page of changed users, one of roles: {}", changes.requests);
}
