//! The same faults for every REST provider that throttles with 429: a storm of 429s is waited
//! out as long as the provider asks (no tight loop), and 500s that start part-way through paging
//! leave the read incomplete, so nothing is removed on its account. (Google's 403 quota answers
//! and AWS's ThrottlingException have their own tests.)

use std::time::{Duration, Instant};

use rest::Credentials;
use simulators::{Faults, Running, Simulator};
use sources::{Retry, SourceConfig, connect_with};

/// A simulator of `kind` with 250 users (pages in every provider) and a connector to it.
async fn rig(kind: &str) -> (Simulator, Running, Box<dyn sources::Connector>) {
    let creds = simulators::Credentials::default();
    let sim = Simulator::by_kind(kind, creds.clone()).unwrap();
    for i in 0..250 {
        match &sim {
            Simulator::Entra(s) => _ = s.data.lock().unwrap().add_user(&format!("u{i}@contoso.com"), true),
            Simulator::Okta(s) => _ = s.data.lock().unwrap().add_user(&format!("u{i}@example.com"), "ACTIVE"),
            Simulator::Keycloak(s) => _ = s.data.lock().unwrap().add_user(&format!("u{i}"), true),
            Simulator::OneLogin(s) => _ = s.data.lock().unwrap().add_user(&format!("u{i}"), 1),
            Simulator::Oracle(s) => _ = s.data.lock().unwrap().add_user(&format!("u{i}"), true),
            _ => unreachable!("{kind} has its own throttling test"),
        }
    }
    let running = sim.start("127.0.0.1:0").await.unwrap();
    let url = running.base_url.clone();
    let basic = |id: &str, secret: &str| Credentials::Basic { username: id.into(), password: secret.into() };
    let (config, credentials) = match &sim {
        Simulator::Entra(s) => (
            SourceConfig::Entra {
                tenant: s.tenant.clone(),
                graph_url: url.clone(),
                login_url: url.clone(),
                username_attribute: "userPrincipalName".into(),
                only_group: Vec::new(),
            },
            basic(&s.client_id, &s.client_secret),
        ),
        Simulator::Okta(_) => (SourceConfig::Okta { url, app: None }, Credentials::Bearer { token: creds.admin_token }),
        Simulator::Keycloak(s) => {
            (SourceConfig::Keycloak { url, realm: s.realm.clone() }, basic(&s.client_id, &s.client_secret))
        }
        Simulator::OneLogin(s) => (SourceConfig::OneLogin { url }, basic(&s.client_id, &s.client_secret)),
        Simulator::Oracle(s) => {
            (SourceConfig::Oracle { url, app: None, group_attribute: None }, basic(&s.client_id, &s.client_secret))
        }
        _ => unreachable!(),
    };
    rest::install_crypto();
    let retry =
        Retry { attempts: 4, first_wait: Duration::from_millis(50), longest_wait: Duration::from_secs(3), rate: None };
    let connector = connect_with(&config, credentials, Duration::from_secs(3), retry).unwrap();
    (sim, running, connector)
}

#[tokio::test]
async fn every_provider_waits_out_throttling_and_reports_failures_part_way() {
    for kind in ["entra", "okta", "keycloak", "onelogin", "oracle"] {
        let (sim, _running, c) = rig(kind).await;
        assert!(c.read().await.complete, "{kind}: a clean read");
        // Two 429s asking for a second each: waited, not hammered.
        sim.control().set_faults(Faults { storm_429: 2, retry_after_seconds: 1, ..Faults::default() });
        let before = sim.control().total_requests();
        let started = Instant::now();
        let snapshot = c.read().await;
        assert!(snapshot.complete, "{kind}: {:?}", snapshot.problems);
        assert_eq!(snapshot.users.len(), 250, "{kind}");
        assert!(started.elapsed() >= Duration::from_millis(1900), "{kind}: waited only {:?}", started.elapsed());
        let extra = sim.control().total_requests() - before;
        assert!(extra <= 2 + 20, "{kind}: {extra} requests, a retry per 429 and no more");
        // Paging fails for good after the second request: an incomplete read that says why.
        sim.control().set_faults(Faults { errors_500: 1000, errors_500_after: 2, ..Faults::default() });
        let snapshot = c.read().await;
        assert!(!snapshot.complete, "{kind}: a read that failed part-way must not count as complete");
        assert!(!snapshot.problems.is_empty(), "{kind}");
        sim.control().set_faults(Faults::default());
    }
}

#[tokio::test]
async fn a_connector_keeps_to_the_rate_it_is_given() {
    let o = simulators::okta::Okta::new(simulators::Credentials::default());
    for i in 0..450 {
        o.data.lock().unwrap().add_user(&format!("u{i}@example.com"), "ACTIVE");
    }
    let running = Simulator::Okta(o.clone()).start("127.0.0.1:0").await.unwrap();
    rest::install_crypto();
    let read = |rate: Option<f64>| {
        let config = SourceConfig::Okta { url: running.base_url.clone(), app: None };
        let token = Credentials::Bearer { token: simulators::Credentials::default().admin_token };
        let retry = Retry { rate, ..Retry::default() };
        let c = connect_with(&config, token, Duration::from_secs(3), retry).unwrap();
        async move {
            let started = Instant::now();
            let snapshot = c.read().await;
            assert_eq!(snapshot.users.len(), 450);
            (started.elapsed(), snapshot.requests)
        }
    };
    let (free, requests) = read(None).await;
    assert_eq!(requests, 5, "three pages of users, the deprovisioned, the groups");
    // Two a second: a burst of two, then one every half second.
    let (paced, _) = read(Some(2.0)).await;
    assert!(paced >= Duration::from_millis(1400), "{paced:?}");
    assert!(free < Duration::from_millis(1000), "{free:?}");
}

/// A provider that pages in a circle, or whose groups form a cycle, ends the read with an error
/// that names the loop after a few requests instead of thousands; the read is incomplete, so
/// nothing is removed on its account.
#[tokio::test]
async fn every_provider_stops_at_a_page_it_was_handed_before() {
    for kind in ["entra", "okta", "keycloak", "onelogin", "oracle"] {
        let (sim, _running, c) = rig(kind).await;
        if let Simulator::Keycloak(s) = &sim {
            let mut data = s.data.lock().unwrap();
            let eng = data.add_group("engineering", None, &[]);
            data.add_group("web", Some(&eng), &[]);
        }
        assert!(c.read().await.complete, "{kind}: a clean read first");
        sim.control().set_faults(Faults { loop_paging: true, ..Faults::default() });
        let before = sim.control().total_requests();
        let snapshot = tokio::time::timeout(Duration::from_secs(20), c.read()).await.expect("the read must end");
        assert!(!snapshot.complete, "{kind}: a looping read is not complete");
        assert!(
            snapshot.problems.iter().any(|p| p.contains("in a circle") || p.contains("form a cycle")),
            "{kind}: {:?}",
            snapshot.problems
        );
        let spent = sim.control().total_requests() - before;
        assert!(spent < 40, "{kind}: {spent} requests before the loop was noticed");
    }
}
