//! Kill the server with SIGKILL at random moments while clients write; after each restart every
//! write the server acknowledged must be there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::harness::{Server, add_source};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let token = add_source(dir.path(), "crash");
    // user id -> highest acknowledged title number
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut seed = 0x9e37_79b9_u64;
    for round in 0..20 {
        let mut server = Server::start(dir.path());
        let scim = server.scim("crash", &token);
        let mut writers = Vec::new();
        for w in 0..4 {
            let scim = scim.clone();
            let acked = acked.clone();
            writers.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("r{round}-w{w}-{n}"), "title": "0"});
                    let Ok(r) = scim.http.post(format!("{}/Users", scim.base)).bearer_auth(&scim.token).header("content-type", "application/scim+json").body(body.to_string()).send().await else { return };
                    if r.status() != 201 {
                        return;
                    }
                    let Ok(v) = r.json::<serde_json::Value>().await else { return };
                    let id = v["id"].as_str().unwrap().to_string();
                    acked.lock().unwrap().insert(id.clone(), 0);
                    for t in 1..=3u64 {
                        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": t.to_string()}]});
                        let Ok(r) = scim.http.patch(format!("{}/Users/{id}", scim.base)).bearer_auth(&scim.token).header("content-type", "application/scim+json").body(patch.to_string()).send().await else { return };
                        if r.status() != 200 {
                            return;
                        }
                        acked.lock().unwrap().insert(id.clone(), t);
                    }
                }
            }));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(50 + seed % 250)).await;
        server.kill();
        for w in writers {
            let _ = w.await;
        }
    }
    let server = Server::start(dir.path());
    let scim = server.scim("crash", &token);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the test wrote too little to mean anything: {}", acked.len());
    let mut stored: HashMap<String, u64> = HashMap::new();
    let mut start = 1;
    loop {
        let page = scim.get(&format!("/Users?attributes=title&startIndex={start}&count=1000")).await;
        let items = page.body["Resources"].as_array().unwrap().clone();
        for u in &items {
            stored.insert(u["id"].as_str().unwrap().to_string(), u["title"].as_str().unwrap().parse().unwrap());
        }
        if items.len() < 1000 {
            break;
        }
        start += 1000;
    }
    for (id, title) in &acked {
        let got = stored.get(id).unwrap_or_else(|| panic!("acknowledged user {id} is gone"));
        assert!(got >= title, "user {id}: acknowledged title {title}, stored {got}");
    }
}
