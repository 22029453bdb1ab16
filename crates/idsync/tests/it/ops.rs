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
