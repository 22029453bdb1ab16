//! The listener's limits against slow, idle and too many clients: request heads and bodies have
//! deadlines, quiet connections are closed, the connection cap answers 503, shutdown does not wait
//! for idle connections, and oversized targets and headers get SCIM error bodies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::{Server, add_source};

fn connect(server: &Server) -> TcpStream {
    let addr = server.root.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Reads until the server closes; what it said (with how the read ended, when it failed), and how
/// long that took.
fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let ended = stream.read_to_end(&mut out);
    let mut said = String::from_utf8_lossy(&out).into_owned();
    if let Err(e) = ended {
        said.push_str(&format!(" [the read ended with: {e}]"));
    }
    (said, started.elapsed())
}

const FAST: [(&str, &str); 3] = [
    ("IDSYNC_HTTP__HEADER_READ_TIMEOUT_SECONDS", "1"),
    ("IDSYNC_HTTP__BODY_READ_TIMEOUT_SECONDS", "1"),
    ("IDSYNC_HTTP__IDLE_TIMEOUT_SECONDS", "2"),
];

#[test]
fn slow_and_idle_clients_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let token = add_source(dir.path(), "test");
    let server = Server::start_with(dir.path(), &FAST);

    // A connection that never sends a request is closed after the header deadline.
    let (said, took) = until_closed(&mut connect(&server));
    assert!(took < Duration::from_secs(5), "idle connection kept {took:?}: {said}");

    // Half a request head, then nothing.
    let mut half = connect(&server);
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let (_, took) = until_closed(&mut half);
    assert!(took < Duration::from_secs(5), "slow head kept {took:?}");

    // A body that stops arriving: 408 in SCIM form.
    let mut slow = connect(&server);
    let head = format!(
        "POST /scim/v2/test/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: 200\r\n\r\n{{\"schemas\""
    );
    slow.write_all(head.as_bytes()).unwrap();
    let (said, took) = until_closed(&mut slow);
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains("urn:ietf:params:scim:api:messages:2.0:Error"), "{said}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // A kept-alive connection is closed once it stays idle past the deadline.
    let mut kept = connect(&server);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (said, took) = until_closed(&mut kept);
    assert!(said.starts_with("HTTP/1.1 200") && took < Duration::from_secs(5), "{took:?}: {said}");
}

#[test]
fn the_connection_cap_answers_503_and_shutdown_does_not_wait_for_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    add_source(dir.path(), "test");
    let mut server = Server::start_with(dir.path(), &[("IDSYNC_HTTP__MAX_CONNECTIONS", "3")]);
    let held: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let (said, _) = until_closed(&mut connect(&server));
    assert!(said.starts_with("HTTP/1.1 503") && said.contains("Retry-After: 1"), "{said}");

    // Three idle connections open, the default grace of 30 s: the server still stops at once.
    let started = Instant::now();
    assert!(
        std::process::Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap().success()
    );
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown waited {:?} for idle connections", started.elapsed());
    drop(held);
}

#[tokio::test]
async fn oversized_targets_and_headers_get_scim_error_bodies() {
    let (_d, _server, scim) = crate::harness::started();
    let long = "a".repeat(9_000);
    let r = scim.get(&format!("/Users?filter=userName%20eq%20%22{long}%22")).await;
    assert_eq!(r.status, 414, "{}", r.body);
    assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains(".search"), "{}", r.body);
    let big = "b".repeat(40_000);
    let r = scim.send(reqwest::Method::GET, "/Users", None, &[("x-padding", big.as_str())]).await;
    assert_eq!(r.status, 431, "{}", r.body);
    assert_eq!(r.body["status"], "431", "{}", r.body);
}
