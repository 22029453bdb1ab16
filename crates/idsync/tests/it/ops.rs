use std::time::Duration;

use crate::harness::started;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let (_d, server, scim) = started();
    let http = reqwest::Client::new();
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
