use std::time::Duration;

use crate::harness::started;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let (_d, server, scim) = started();
    let http = crate::harness::http_client();
    let r = http.get(format!("{}/healthz", server.root)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{}/readyz", server.root)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    scim.create_user("metric").await;
    scim.get("/Users").await;
    let text = http.get(format!("{}/metrics", server.root)).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(
            "idsync_scim_requests_total{source=\"test\",route=\"/scim/v2/{source}/{resource}\",status=\"201\"}"
        ),
        "{text}"
    );
    assert!(text.contains("idsync_scim_request_duration_seconds_bucket"), "{text}");
    let r = http.get(format!("{}/nowhere", server.root)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("x-request-id").is_some());
}

/// Requests without a valid token, for sources that exist or not, count under `unknown`: nobody
/// can make a metric series per made-up name.
#[tokio::test]
async fn metrics_name_only_authenticated_sources() {
    let (_d, server, scim) = started();
    let http = crate::harness::http_client();
    for i in 0..20 {
        http.get(format!("{}/scim/v2/made-up-{i}/Users", server.root)).bearer_auth("x").send().await.unwrap();
    }
    http.get(format!("{}/scim/v2/test/Users", server.root)).bearer_auth("wrong").send().await.unwrap();
    scim.get("/Users").await;
    let text = http.get(format!("{}/metrics", server.root)).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("made-up"), "{text}");
    assert!(text.contains("source=\"unknown\",route=\"/scim/v2/{source}/{resource}\",status=\"401\"} 21"), "{text}");
    assert!(text.contains("source=\"test\",route=\"/scim/v2/{source}/{resource}\",status=\"200\"}"), "{text}");
}

/// One log line per request at the default level, naming the route template, never the token.
#[tokio::test]
async fn every_request_is_logged_once_without_secrets() {
    let (_d, server, scim) = started();
    scim.create_user("logged").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.logged();
    let line = log
        .lines()
        .find(|l| l.contains("method=POST") && l.contains("status=201"))
        .unwrap_or_else(|| panic!("no request line in: {log}"));
    assert!(
        line.contains("route=/scim/v2/{source}/{resource}") && line.contains("request_id=") && line.contains("ms="),
        "{line}"
    );
    assert!(!log.contains(&scim.token) && !log.contains("logged@"), "{log}");
}

#[tokio::test]
async fn lower_case_endpoints_and_slashes_before_the_query_are_understood() {
    let (_d, _server, scim) = started();
    let id = scim.create_user("ann").await;
    let listed = scim.get("/users/?filter=userName%20eq%20%22ann%22").await;
    assert_eq!((listed.status.as_u16(), listed.body["totalResults"].as_u64()), (200, Some(1)), "{}", listed.body);
    assert_eq!(scim.get(&format!("/users/{id}/")).await.body["userName"], "ann");
    assert_eq!(scim.get("/serviceproviderconfig").await.status, 200);
    let schema = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    assert_eq!(schema.body["description"], "User Account", "RFC 7643 §8.7.1");
}

#[tokio::test]
async fn sighup_does_not_stop_the_server() {
    let (_d, server, scim) = started();
    let ok = std::process::Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(scim.get("/Users").await.status, 200, "still serving after SIGHUP");
    assert!(server.logged().contains("SIGHUP received and ignored"), "{}", server.logged());
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let (_d, mut server, scim) = started();
    scim.create_user("before-stop").await;
    unsafe_free_sigterm(server.child.id());
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = server.child.try_wait().unwrap() {
                let log = server.logged();
                return (s, log);
            }
            assert!(std::time::Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit status {:?}", status.0);
    assert!(status.1.contains("database closed"), "{}", status.1);
}

fn unsafe_free_sigterm(pid: u32) {
    let ok = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

#[tokio::test]
async fn json_logs_and_power_durability() {
    let dir = tempfile::tempdir().unwrap();
    let token = crate::harness::add_source(dir.path(), "json");
    let server = crate::harness::Server::start_with(
        dir.path(),
        &[("IDSYNC_LOG_FORMAT", "json"), ("IDSYNC_DURABILITY", "power")],
    );
    let scim = server.scim("json", &token);
    scim.create_user("fsynced").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = server.logged();
    let line = log.lines().find(|l| l.contains("\"level\"")).unwrap_or_else(|| panic!("no JSON log line in: {log}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    assert!(v["message"].is_string(), "{line}");
}

#[test]
fn bad_settings_are_refused_with_their_name() {
    let out = std::process::Command::new(crate::harness::BIN)
        .env("IDSYNC_DURABILITY", "sometimes")
        .args(["source", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("durability"), "{}", String::from_utf8_lossy(&out.stderr));
}
