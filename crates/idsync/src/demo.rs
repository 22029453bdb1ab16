//! `idsync demo`: idsync, a simulated Jira and Confluence and a push source in one process, with
//! a scripted series of SCIM changes replayed against it, so a newcomer sees users and groups
//! appear in the targets and the provisioning log explain each change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use simulators::{Credentials, Simulator};
use store::{EventQuery, Store, SyncStore};

use crate::config::Config;
use crate::serve::open_store;

#[derive(Args)]
pub struct DemoArgs {
    /// Leave once the script has run instead of staying up for a look around.
    #[arg(long)]
    exit: bool,
    /// Seconds between steps.
    #[arg(long, default_value_t = 1.5)]
    pace: f64,
}

const DEMO_RULES: &str = r#"
[[binding]]
source = "demo-idp"
target = "jira"
[binding.users]
default_project_lead = "admin"
[binding.groups]
mapping = { Engineering = ["jira-developers"] }
default_for_new = ["jira-software-users"]

[[binding]]
source = "demo-idp"
target = "confluence"
[binding.groups]
default_for_all = ["confluence-users"]
"#;

struct Demo {
    http: reqwest::Client,
    scim: String,
    token: String,
    jira: Arc<simulators::jira::Jira>,
    confluence: Arc<simulators::confluence::Confluence>,
    store: store::sqlite::SqliteStore,
    last_event: i64,
    pace: Duration,
}

impl Demo {
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.scim))
            .bearer_auth(&self.token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        anyhow::ensure!(status.is_success(), "{path} answered {status}: {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn user(&self, name: &str, display: &str) -> anyhow::Result<String> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name, "displayName": display, "active": true,
            "emails": [{"value": format!("{name}@example.com"), "primary": true}]
        });
        let created = self.send(reqwest::Method::POST, "/Users", body).await?;
        created["id"].as_str().map(String::from).context("created user has no id")
    }

    async fn group(&self, name: &str, members: &[&String]) -> anyhow::Result<String> {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members});
        let created = self.send(reqwest::Method::POST, "/Groups", body).await?;
        created["id"].as_str().map(String::from).context("created group has no id")
    }

    async fn patch(&self, path: &str, ops: Value) -> anyhow::Result<()> {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        self.send(reqwest::Method::PATCH, path, body).await.map(|_| ())
    }

    fn jira_users(&self) -> Vec<String> {
        let data = self.jira.data.lock().unwrap_or_else(|e| e.into_inner());
        data.users
            .values()
            .filter(|u| u.name != "admin")
            .map(|u| {
                let state = if u.active { "active" } else { "inactive" };
                format!("{} ({state}) in {}", u.name, data.groups_of(&u.name).join(", "))
            })
            .collect()
    }

    fn confluence_users(&self) -> Vec<String> {
        let data = self.confluence.data.lock().unwrap_or_else(|e| e.into_inner());
        data.users
            .values()
            .filter(|u| u.name != "admin")
            .map(|u| {
                let state = if u.active { "active" } else { "deactivated" };
                format!("{} ({state}) in {}", u.name, data.groups_of(&u.name).join(", "))
            })
            .collect()
    }

    /// Waits until the worker has had its go at the last change, then shows both targets and
    /// what the log says happened since the previous step.
    async fn settle_and_show(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut quiet_since = Instant::now();
        let mut seen = self.last_event;
        while Instant::now() < deadline {
            let newest = self.store.events(&EventQuery { limit: 1, ..EventQuery::default() }).await?;
            let newest = newest.first().map_or(0, |e| e.id);
            let pending = self.store.pending("jira").await? + self.store.pending("confluence").await?;
            if newest != seen || pending > 0 {
                seen = newest;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() > Duration::from_millis(400) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut events = self.store.events(&EventQuery { limit: 200, ..EventQuery::default() }).await?;
        events.retain(|e| e.id > self.last_event);
        events.reverse();
        self.last_event = seen.max(self.last_event);
        for e in &events {
            let object = match (&e.user, &e.group) {
                (Some(u), Some(g)) => format!("{u} → {g}"),
                (Some(u), None) => u.clone(),
                (None, Some(g)) => g.clone(),
                (None, None) => String::new(),
            };
            println!("    log  {:<11} {:<16} {:<28} {}", e.target, e.action, object, e.reason);
        }
        println!("    jira now:       {}", self.jira_users().join("; "));
        println!("    confluence now: {}", self.confluence_users().join("; "));
        tokio::time::sleep(self.pace).await;
        Ok(())
    }
}

fn step(text: &str) {
    println!("\n→ {text}");
}

/// Which of the global flags were given: the demo honours them, and picks its own otherwise.
pub struct Given {
    pub data_dir: bool,
    pub listen: bool,
}

pub async fn run(args: DemoArgs, base: &Config, given: Given) -> anyhow::Result<()> {
    targets::install_crypto();
    // A directory of the administrator's stays (and must be new: the simulated applications
    // live in this process only); the demo's own goes when it ends.
    let dir = if given.data_dir {
        if base.database_path().exists() {
            anyhow::bail!(
                "{} already holds an idsync database; give the demo an empty --data-dir (or none: it then uses a temporary one)",
                base.data_dir.display()
            );
        }
        base.data_dir.clone()
    } else {
        std::env::temp_dir().join(format!("idsync-demo-{}", std::process::id()))
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = demo(args, base, &given, &dir).await;
    if !given.data_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn demo(args: DemoArgs, base: &Config, given: &Given, dir: &std::path::Path) -> anyhow::Result<()> {
    let credentials = Credentials::default();
    let jira = simulators::jira::Jira::new(credentials.clone(), Default::default());
    let confluence = simulators::confluence::Confluence::new(credentials.clone(), Default::default());
    let jira_run = Simulator::Jira(jira.clone()).start("127.0.0.1:0").await?;
    let confluence_run = Simulator::Confluence(confluence.clone()).start("127.0.0.1:0").await?;

    let config_file = dir.join("idsync.toml");
    let text = format!("data_dir = {:?}\n\n[sync]\npoll_ms = 50\n", dir.display().to_string());
    std::fs::write(&config_file, &text)?;
    let mut config: Config = toml::from_str(&text).context("demo configuration")?;
    config.file = Some(config_file.clone());
    config.listen = if given.listen { base.listen.clone() } else { "127.0.0.1:0".into() };
    config.log_format = base.log_format.clone();

    let store = open_store(&config).await?;
    let token = app::tokens::new_token();
    store.create_source("demo-idp", "scim", &scim::hash_token(&token)).await?;
    let connector = crate::target::connector(&config)?;
    let admin = targets::Credentials::Bearer { token: credentials.admin_token.clone() };
    for (name, kind, url) in
        [("jira", "jira", &jira_run.base_url), ("confluence", "confluence", &confluence_run.base_url)]
    {
        let sealed = connector.seal(name, &admin)?;
        store.create_target(name, kind, url, &sealed).await?;
    }
    let rules = app::bindings::parse_binding_tables(DEMO_RULES, "the demo's rules")?;
    app::bindings::import(&store, &rules).await?;
    store.close().await;

    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}; pick another address with --listen", config.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (logs, level) = crate::logging::detached();
    let logging = std::sync::Arc::new(app::diagnostics::Logging::new(logs, level));
    let server = tokio::spawn(crate::serve::serve(config.clone(), listener, logging, async {
        let _ = stopped.await;
    }));
    let scim_base = format!("http://{addr}/scim/v2/demo-idp");
    let cli = format!("idsync --data-dir {} --config {}", dir.display(), config_file.display());
    println!("idsync demo: idsync, a simulated Jira and a simulated Confluence, all in this process.\n");
    println!("  SCIM source 'demo-idp'  {scim_base}");
    println!("  bearer token            {token}");
    println!("  simulated Jira          {}/_sim/state", jira_run.base_url);
    println!("  simulated Confluence    {}/_sim/state", confluence_run.base_url);
    println!("  data and config         {}", dir.display());
    if !given.data_dir {
        println!("                          (a temporary directory, removed when the demo ends; --data-dir keeps one)");
    }
    println!("\nThe rules (see them with '{cli} binding show demo-idp jira'):");
    println!("  Jira: IdP group Engineering → jira-developers; new users join jira-software-users;");
    println!("        other IdP groups → Jira groups of the same name; admin takes over projects of leavers.");
    println!("  Confluence: every user is kept in confluence-users.");
    println!("  Both: inactive or removed IdP users are deactivated, never deleted.");

    let mut demo = Demo {
        http: reqwest::Client::new(),
        scim: scim_base,
        token,
        jira,
        confluence,
        store: open_store(&config).await?,
        last_event: 0,
        pace: Duration::from_secs_f64(args.pace.max(0.0)),
    };
    step("The IdP creates ann, bob and carl");
    let ann = demo.user("ann", "Ann Lee").await?;
    let bob = demo.user("bob", "Bob Stone").await?;
    let carl = demo.user("carl", "Carl Diaz").await?;
    demo.settle_and_show().await?;
    step("…and groups: Engineering (ann, bob) and Design (carl)");
    let engineering = demo.group("Engineering", &[&ann, &bob]).await?;
    let design = demo.group("Design", &[&carl]).await?;
    demo.settle_and_show().await?;
    step("bob is disabled in the IdP");
    demo.patch(&format!("/Users/{bob}"), json!([{"op": "Replace", "path": "active", "value": "False"}])).await?;
    demo.settle_and_show().await?;
    step("carl moves from Design to Engineering");
    demo.patch(
        &format!("/Groups/{design}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{carl}\"]")}]),
    )
    .await?;
    demo.patch(
        &format!("/Groups/{engineering}"),
        json!([{"op": "add", "path": "members", "value": [{"value": carl}]}]),
    )
    .await?;
    demo.settle_and_show().await?;
    step("(meanwhile ann became the lead of Jira project OPS)");
    {
        let mut data = demo.jira.data.lock().unwrap_or_else(|e| e.into_inner());
        let lead = data.user("ann").map(|u| u.key.clone()).context("ann is not in Jira")?;
        let project = simulators::jira::JiraProject { key: "OPS".into(), name: "Operations".into(), lead };
        data.projects.insert("OPS".into(), project);
    }
    println!("    jira now:       project OPS led by ann");
    step("ann leaves the company: the IdP deletes her");
    demo.send(reqwest::Method::DELETE, &format!("/Users/{ann}"), Value::Null).await?;
    demo.settle_and_show().await?;
    {
        let data = demo.jira.data.lock().unwrap_or_else(|e| e.into_inner());
        let lead = data.projects.get("OPS").and_then(|p| data.users.get(&p.lead)).map(|u| u.name.clone());
        println!("    jira now:       project OPS led by {}", lead.unwrap_or_else(|| "nobody".into()));
    }

    println!("\nTry, in another terminal:");
    println!("  {cli} log                      # every change, with its reason");
    println!("  {cli} log --user carl --json");
    println!("  {cli} sync --target jira --dry-run   # a full reconcile, previewed");
    println!("  {cli} target list");
    println!("  curl -X POST -H 'Authorization: Bearer {}' -H 'Content-Type: application/scim+json' \\", demo.token);
    println!(
        "       -d '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"dora\",\"emails\":[{{\"value\":\"dora@example.com\"}}]}}' {}/Users",
        demo.scim
    );
    if !args.exit {
        println!("\nidsync demo is running; stop it with Ctrl-C.");
        tokio::signal::ctrl_c().await?;
    }
    demo.store.close().await;
    let _ = stop.send(());
    server.await.context("demo server")??;
    drop((jira_run, confluence_run));
    Ok(())
}
