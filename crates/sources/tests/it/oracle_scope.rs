//! Oracle identity domains scoped to one app's grants (users granted it directly or through a
//! granted group; the granted groups), and groups named by a user attribute.

use std::time::Duration;

use rest::Credentials;
use simulators::Simulator;
use simulators::oracle::{CUSTOM_SCHEMA, Oracle};
use sources::{Retry, SourceConfig, connect_with};

#[tokio::test]
async fn oracle_app_grants_scope_the_source_and_an_attribute_names_groups() {
    let o = Oracle::new(simulators::Credentials::default());
    let running = Simulator::Oracle(o.clone()).start("127.0.0.1:0").await.unwrap();
    let app = {
        let mut data = o.data.lock().unwrap();
        let ann = data.add_user("ann.lee", true);
        let bob = data.add_user("bob.ng", true);
        data.add_user("out.sider", true);
        data.users.iter_mut().find(|u| u.id == ann).unwrap().custom_groups = vec!["jira-admins".into()];
        let devs = data.add_group("devs", &[&bob]);
        data.add_group("unrelated", &[&ann, &bob]);
        data.add_app("Jira DC", &[&ann], &[&devs])
    };
    rest::install_crypto();
    let config = SourceConfig::Oracle {
        url: running.base_url.clone(),
        app: Some(app),
        group_attribute: Some(format!("{CUSTOM_SCHEMA}:jiraGroups")),
    };
    let credentials = Credentials::Basic { username: o.client_id.clone(), password: o.client_secret.clone() };
    let retry =
        Retry { attempts: 2, first_wait: Duration::from_millis(10), longest_wait: Duration::from_secs(1), rate: None };
    let c = connect_with(&config, credentials, Duration::from_secs(2), retry).unwrap();
    let snapshot = c.read().await;
    assert!(snapshot.complete, "{:?}", snapshot.problems);
    let mut users: Vec<&str> = snapshot.users.iter().map(|u| u.record["userName"].as_str().unwrap()).collect();
    users.sort();
    assert_eq!(users, ["ann.lee", "bob.ng"], "granted directly (ann) or through a granted group (bob)");
    let mut groups: Vec<&str> = snapshot.groups.iter().map(|g| g.name.as_str()).collect();
    groups.sort();
    assert_eq!(groups, ["devs", "jira-admins"], "the granted group and the attribute's group");
    let admins = snapshot.groups.iter().find(|g| g.name == "jira-admins").unwrap();
    assert_eq!(admins.members.len(), 1);

    let (ann, ann_groups) = c.read_user("ann.lee").await.unwrap().unwrap();
    assert_eq!(ann.record["userName"], "ann.lee");
    assert_eq!(ann_groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["jira-admins"]);
    assert!(c.read_user("out.sider").await.unwrap().is_none(), "not granted the app");
}
