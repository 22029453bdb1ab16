//! Pull benchmarks (`scripts/bench` runs this): the real `idsync` binary reads a simulated Entra ID
//! of 100,000 users and 2,000 groups, and a real slapd of 50,000 people, into its store — a full
//! read, then an incremental one after 100 changes. Prints one JSON object: times, the idsync
//! process's peak RSS, and how many requests each incremental read needed.
//!
//! `IDSYNC_BIN` names the binary (default: `target/release/idsync` next to this example);
//! `PULL_BENCH_USERS` and `PULL_BENCH_LDAP_USERS` shrink the directories for a quick try.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simulators::slapd::{ADMIN_PASSWORD, Flavor, Slapd};
use simulators::{Credentials, Simulator};

const SECRET_ENV: &str = "PULL_BENCH_SECRET";

fn idsync_bin() -> PathBuf {
    std::env::var_os("IDSYNC_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("the example's path");
        exe.parent().and_then(Path::parent).expect("target/release").join("idsync")
    })
}

fn count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs idsync with `args` and `secret` in [`SECRET_ENV`]; its JSON output, the wall time and the
/// peak RSS (VmHWM) seen while it ran.
fn run(data: &Path, args: &[&str], secret: &str) -> (Value, f64, f64) {
    let started = Instant::now();
    let child = Command::new(idsync_bin())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env(SECRET_ENV, secret)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idsync runs");
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let watcher = std::thread::spawn(move || {
        while let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next());
            match hwm.and_then(|v| v.parse::<u64>().ok()) {
                Some(kb) => peak_kb = peak_kb.max(kb),
                None => break,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak_kb
    });
    let out = child.wait_with_output().expect("idsync finishes");
    let seconds = started.elapsed().as_secs_f64();
    let peak_kb = watcher.join().unwrap_or(0);
    assert!(
        out.status.success(),
        "idsync {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (summary, seconds, peak_kb as f64 / 1024.0)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("idsync-pull-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

async fn entra(users: usize, groups: usize) -> Value {
    let graph = simulators::entra::Entra::new(Credentials::default());
    let running = Simulator::Entra(graph.clone()).start("127.0.0.1:0").await.expect("the simulator listens");
    let ids: Vec<String> = {
        let mut data = graph.data.lock().expect("data");
        let ids: Vec<String> =
            (0..users).map(|i| data.add_user(&format!("user{i:06}@contoso.com"), i % 50 != 0)).collect();
        let per_group = 50.min(users);
        for g in 0..groups {
            let members: Vec<&str> = (0..per_group).map(|k| ids[(g * 37 + k * 101) % users].as_str()).collect();
            data.add_group(&format!("group{g:04}"), &members);
        }
        ids
    };
    let data = temp_dir("entra");
    let url = running.base_url.clone();
    let args = [
        "source",
        "add",
        "--kind",
        "entra",
        "--name",
        "entra",
        "--url",
        &url,
        "--login-url",
        &url,
        "--tenant",
        &graph.tenant,
        "--username",
        &graph.client_id,
        "--password-env",
        SECRET_ENV,
        "--json",
    ];
    run(&data, &args, &graph.client_secret);
    let (full, full_seconds, full_rss) = run(&data, &["source", "sync", "entra", "--json"], &graph.client_secret);
    assert_eq!(full["users_created"].as_u64(), Some(users as u64), "{full}");
    // 100 changes: 40 users disabled, 20 deleted, 20 created, 20 memberships.
    {
        let mut d = graph.data.lock().expect("data");
        for id in ids.iter().skip(1).step_by(users / 40).take(40) {
            d.update_user(id, |u| u.account_enabled = false);
        }
        for id in ids.iter().skip(3).step_by(users / 20).take(20) {
            d.remove_user(id);
        }
        let group_ids: Vec<String> = d.groups.iter().map(|g| g.id.clone()).take(20).collect();
        for (i, group) in group_ids.iter().enumerate() {
            let new = d.add_user(&format!("new{i:03}@contoso.com"), true);
            d.add_member(group, &new);
        }
    }
    let before = graph.control.total_requests();
    let (incremental, inc_seconds, inc_rss) = run(&data, &["source", "sync", "entra", "--json"], &graph.client_secret);
    let requests = graph.control.total_requests() - before;
    assert_eq!(incremental["incremental"], true, "{incremental}");
    let _ = std::fs::remove_dir_all(&data);
    json!({
        "users": users, "groups": groups,
        "full_seconds": full_seconds, "full_peak_rss_mb": full_rss, "full_requests": full["requests"],
        "incremental_changes": 100, "incremental_seconds": inc_seconds, "incremental_peak_rss_mb": inc_rss,
        "incremental_requests": requests, "incremental_summary": incremental,
    })
}

fn ldap(users: usize) -> Value {
    let groups = users / 100;
    let mut ldif = String::from(
        "dn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,dc=example,dc=com\nobjectClass: organizationalUnit\nou: groups\n\n",
    );
    for i in 0..users {
        ldif += &format!(
            "dn: uid=u{i:06},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: u{i:06}\ncn: User {i}\n\
             sn: {i}\ngivenName: User\nmail: u{i:06}@example.com\n\n"
        );
    }
    for g in 0..groups {
        ldif += &format!("dn: cn=g{g:04},ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: g{g:04}\n");
        for k in 0..100 {
            ldif += &format!("member: uid=u{:06},ou=people,dc=example,dc=com\n", (g * 100 + k) % users);
        }
        ldif += "\n";
    }
    let server = Slapd::start(Flavor::OpenLdap, &ldif).expect("slapd starts");
    let data = temp_dir("ldap");
    let args = [
        "source",
        "add",
        "--kind",
        "ldap",
        "--name",
        "ldap",
        "--url",
        &server.url,
        "--user-base",
        "ou=people,dc=example,dc=com",
        "--group-base",
        "ou=groups,dc=example,dc=com",
        "--username",
        &server.admin_dn,
        "--password-env",
        SECRET_ENV,
        "--json",
    ];
    run(&data, &args, ADMIN_PASSWORD);
    let (full, full_seconds, full_rss) = run(&data, &["source", "sync", "ldap", "--json"], ADMIN_PASSWORD);
    assert_eq!(full["users_created"].as_u64(), Some(users as u64), "{full}");
    let mut changes = String::new();
    for i in 0..50 {
        let uid = format!("u{:06}", i * (users / 50));
        changes += &format!(
            "dn: uid={uid},ou=people,dc=example,dc=com\nchangetype: modify\nreplace: mail\nmail: {uid}@new.example.com\n\n"
        );
    }
    for g in 0..50 {
        let index = g % groups.max(1);
        // Past the group's own hundred members, a different person each time.
        let group = format!("g{index:04}");
        let uid = format!("u{:06}", (index * 100 + 100 + g) % users);
        changes += &format!(
            "dn: cn={group},ou=groups,dc=example,dc=com\nchangetype: modify\nadd: member\nmember: uid={uid},ou=people,dc=example,dc=com\n\n"
        );
    }
    // Deletions, which an LDAP directory does not report: the id listing finds them.
    for i in 0..10 {
        changes += &format!("dn: uid=u{:06},ou=people,dc=example,dc=com\nchangetype: delete\n\n", i * (users / 10) + 1);
    }
    server.modify(&changes).expect("the changes apply");
    let (incremental, inc_seconds, inc_rss) = run(&data, &["source", "sync", "ldap", "--json"], ADMIN_PASSWORD);
    assert_eq!(incremental["incremental"], true, "{incremental}");
    assert_eq!(incremental["users_deleted"].as_u64(), Some(10), "{incremental}");
    // Nothing changed since: what remains is the listing of every id under the bases.
    let (quiet, quiet_seconds, _) = run(&data, &["source", "sync", "ldap", "--json"], ADMIN_PASSWORD);
    assert_eq!(quiet["incremental"], true, "{quiet}");
    let _ = std::fs::remove_dir_all(&data);
    json!({
        "users": users, "groups": groups,
        "full_seconds": full_seconds, "full_peak_rss_mb": full_rss, "full_requests": full["requests"],
        "incremental_changes": 110, "incremental_seconds": inc_seconds, "incremental_peak_rss_mb": inc_rss,
        "incremental_requests": incremental["requests"], "incremental_summary": incremental,
        "id_listing_seconds": quiet_seconds, "id_listing_requests": quiet["requests"],
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let entra = entra(count("PULL_BENCH_USERS", 100_000), count("PULL_BENCH_GROUPS", 2_000)).await;
    let ldap = tokio::task::spawn_blocking(|| ldap(count("PULL_BENCH_LDAP_USERS", 50_000))).await.expect("ldap bench");
    println!("{}", json!({"entra": entra, "ldap": ldap}));
}
