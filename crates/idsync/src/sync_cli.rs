//! `idsync sync`, `idsync runs …` and `idsync log`: full reconciles and their preview, held runs,
//! and the provisioning log.

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;
use store::{EventQuery, RunKind, RunState, Store, SyncStore};
use sync::{Bindings, Engine, RunReport};

use crate::config::Config;
use crate::serve::open_store;

/// The engine over the stored bindings. A binding whose rules cannot be used is named on stderr
/// and left out; the others work.
pub async fn engine(config: &Config, store: Arc<store::sqlite::SqliteStore>) -> anyhow::Result<Arc<Engine>> {
    let connector = crate::target::connector(config)?;
    let bindings = Bindings::load(&*store).await?;
    for b in bindings.broken() {
        eprintln!(
            "idsync: binding {} → {} is left out, its rules cannot be used: {}; fix them with 'idsync binding set'",
            b.source, b.target, b.error
        );
    }
    Ok(Engine::new(store, Arc::new(connector), bindings, config.sync.clone()))
}

#[derive(Subcommand)]
pub enum RunsCommand {
    /// Recent runs: full syncs, dry-runs and held deprovisioning.
    List {
        /// Only runs of this target (or, for pull runs, this source).
        #[arg(long)]
        target: Option<String>,
        /// At most this many runs, newest first.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One run, with the operations it holds.
    Show {
        /// The run's number, as 'runs list' shows it.
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Apply the deactivations and deletions a held run waits with.
    Approve {
        /// The held run's number, as 'runs list' shows it.
        id: i64,
    },
    /// Discard them.
    Reject {
        /// The held run's number, as 'runs list' shows it.
        id: i64,
    },
}

pub fn print_dry_run(report: &RunReport) {
    println!(
        "dry run of {} (run {}): {} operations would be applied",
        report.target,
        report.run_id,
        report.plan.ops.len()
    );
    print_plan(report);
    if let Some(r) = &report.hold_reason {
        println!("  safeguard: a real run would hold the deprovisioning for approval: {r}");
    }
}

fn print_plan(report: &RunReport) {
    let plan = &report.plan;
    if plan.ops.is_empty() && plan.links.is_empty() && plan.skipped.is_empty() {
        println!("{}: nothing to do; the target matches the sources and rules", report.target);
        return;
    }
    for link in &plan.links {
        match link {
            engine::LinkChange::Adopt { link, reason } => println!("  adopt        {:<24} {reason}", link.name),
            engine::LinkChange::Forget { link, reason } => println!("  forget       {:<24} {reason}", link.name),
        }
    }
    for p in &plan.ops {
        let object = match (p.op.user(), p.op.group()) {
            (Some(u), Some(g)) => format!("{u} in {g}"),
            (Some(u), None) => u.to_string(),
            (None, Some(g)) => g.to_string(),
            (None, None) => String::new(),
        };
        println!("  {:<16} {:<24} {}", p.op.action(), object, p.reason);
    }
    for s in &plan.skipped {
        let kind = if s.conflict { "conflict" } else { "skip" };
        println!("  {kind:<16} {:<24} {}", s.user, s.reason);
    }
}

/// `source sync NAME --dry-run`: reads the source in full, then says what the store and every
/// bound target would get, changing neither.
pub async fn preview_pull(config: &Config, name: &str, json: bool) -> anyhow::Result<()> {
    let store = Arc::new(open_store(config).await?);
    let result = async {
        let source = store
            .source(name)
            .await?
            .with_context(|| format!("there is no source named '{name}'"))?;
        let snapshot = app::pull::stored_connector(&*store, name, &crate::pull::env(config)).await?.read().await;
        if !snapshot.complete {
            bail!("the read of {name} was incomplete, so nothing can be previewed: {}", snapshot.problems.join("; "));
        }
        let (preview, summary) = sync::preview_snapshot(&*store, &source, &snapshot).await?;
        let engine = engine(config, store.clone()).await?;
        let targets: Vec<String> = engine.bindings().for_source(name).map(|(spec, _)| spec.target.clone()).collect();
        let mut reports = Vec::new();
        for t in &targets {
            reports.push(engine.preview(t, preview.clone()).await.with_context(|| format!("previewing {t} failed"))?);
        }
        if json {
            println!("{}", serde_json::to_string_pretty(&json!({"source": summary, "targets": reports}))?);
            return Ok(());
        }
        println!(
            "dry run of {name}: read {} users and {} groups; the store would get users {} created, {} updated, {} deleted; groups {} created, {} updated, {} deleted",
            summary.users_read,
            summary.groups_read,
            summary.users_created,
            summary.users_updated,
            summary.users_deleted,
            summary.groups_created,
            summary.groups_updated,
            summary.groups_deleted
        );
        if targets.is_empty() {
            println!("no binding feeds a target from {name}; add one with 'idsync binding add --source {name} --target TARGET'");
        }
        for report in &reports {
            println!("{} (run {}): {} operations would be applied", report.target, report.run_id, report.plan.ops.len());
            print_plan(report);
            if let Some(r) = &report.hold_reason {
                println!("  safeguard: a real run would hold the deprovisioning for approval: {r}");
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

pub async fn sync(config: &Config, target: Option<String>, dry_run: bool, json: bool) -> anyhow::Result<()> {
    let store = Arc::new(open_store(config).await?);
    let engine = engine(config, store.clone()).await?;
    let targets: Vec<String> = match target {
        Some(t) => vec![t],
        None => engine.bindings().targets().into_iter().collect(),
    };
    if targets.is_empty() {
        bail!("no binding feeds any target; add one with 'idsync binding add --source SOURCE --target TARGET'");
    }
    let mut reports = Vec::new();
    let mut failed = false;
    for t in targets {
        let report = engine.full_sync(&t, dry_run).await.with_context(|| format!("sync of {t} failed"))?;
        failed |= report.failed > 0;
        if !json {
            if dry_run {
                print_dry_run(&report);
            } else {
                println!(
                    "sync of {t} (run {}): {} applied, {} failed, {} skipped, {} to retry, {} held",
                    report.run_id, report.applied, report.failed, report.skipped, report.retrying, report.held
                );
                if let Some(r) = &report.hold_reason {
                    println!("  held for approval: {r}; see 'idsync runs show {}'", report.run_id);
                }
                if report.failed > 0 {
                    println!("  see the failures with 'idsync log --run {} --result failed'", report.run_id);
                }
            }
        }
        reports.push(report);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    store.close().await;
    if failed {
        bail!("some operations failed");
    }
    Ok(())
}

/// What the targets did after a pull run, until the source's next run: the provisioning log's
/// results for that source in that window, per target. (Targets follow a pull asynchronously, so
/// this is read from the log rather than counted by the run.)
async fn after_pull(store: &store::sqlite::SqliteStore, run: &store::RunRecord) -> anyhow::Result<Vec<String>> {
    let later = store.runs(Some(&run.target), None, 1000).await?;
    let next = later.iter().filter(|r| r.kind == RunKind::Pull && r.id > run.id).map(|r| r.started.clone()).min();
    let query = EventQuery {
        source: Some(run.target.clone()),
        since: Some(parse_since(&run.started)?),
        until: next.as_deref().map(parse_since).transpose()?,
        limit: 1_000_000,
        ..EventQuery::default()
    };
    let mut by_target: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> = Default::default();
    for e in store.events(&query).await?.into_iter().filter(|e| e.result != "planned") {
        *by_target.entry(e.target).or_default().entry(e.result).or_default() += 1;
    }
    if by_target.is_empty() {
        return Ok(vec![format!(
            "targets: nothing done yet for {} (a running server applies what the run changed)",
            run.target
        )]);
    }
    Ok(by_target
        .into_iter()
        .map(|(target, results)| {
            let counts: Vec<String> = results.iter().map(|(result, n)| format!("{n} {result}")).collect();
            format!("target {target} afterwards: {}", counts.join(", "))
        })
        .collect())
}

/// How long a run took, or `-` while it goes on.
fn duration(r: &store::RunRecord) -> String {
    let parse = |t: &str| t.parse::<jiff::Timestamp>().ok();
    match (parse(&r.started), r.finished.as_deref().and_then(parse)) {
        (Some(start), Some(end)) => format!("{:.1}s", (end - start).total(jiff::Unit::Second).unwrap_or(0.0)),
        _ => "-".into(),
    }
}

/// A run's summary in words: what a pull read and changed in idsync's copy of the source, what a
/// reconcile did to its target.
pub fn describe(r: &store::RunRecord) -> String {
    let s = &r.summary;
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    if let Some(error) = s["error"].as_str() {
        return format!("error: {error}");
    }
    match r.kind {
        RunKind::Pull => format!(
            "{} read: {} users, {} groups, {} requests; users +{} ~{} -{}, groups +{} ~{} -{}; {} unchanged, {} refused, {} problems",
            if s["incremental"] == true { "incremental" } else { "full" },
            n("users_read"),
            n("groups_read"),
            n("requests"),
            n("users_created"),
            n("users_updated"),
            n("users_deleted"),
            n("groups_created"),
            n("groups_updated"),
            n("groups_deleted"),
            n("unchanged"),
            n("refused"),
            s["problems"].as_array().map_or(0, Vec::len)
        ),
        RunKind::DryRun => format!("{} planned, {} skipped", n("planned"), n("skipped")),
        _ if s.get("applied").is_some() => format!(
            "{}{} applied, {} failed, {} skipped, {} to retry, {} held",
            s["cause"].as_str().map(|c| format!("after {c}: ")).unwrap_or_default(),
            n("applied"),
            n("failed"),
            n("skipped"),
            n("retrying"),
            n("held") + n("left")
        ),
        _ if s.get("held_users").is_some() => format!(
            "{} users' deactivations or deletions ({} operations) wait for approval",
            n("held_users"),
            n("held_operations")
        ),
        _ => match s.as_object() {
            Some(fields) if !fields.is_empty() => {
                fields.iter().map(|(k, v)| format!("{} {}", k.replace('_', " "), v)).collect::<Vec<_>>().join(", ")
            }
            _ => "-".into(),
        },
    }
}

pub async fn runs(cmd: RunsCommand, config: &Config, remote: &crate::remote::Remote) -> anyhow::Result<()> {
    // With an admin token at hand, decisions are made by the server (audited, next to its worker).
    match &cmd {
        RunsCommand::Approve { id } if crate::remote::configured(remote) => {
            let approved = crate::remote::client(remote, config).await?.approve(*id).await?;
            println!("run {id}: {} applied, {} failed; now {}", approved.applied, approved.failed, approved.state);
            if let Some(r) = approved.hold_reason {
                println!("{r}");
            }
            return Ok(());
        }
        RunsCommand::Reject { id } if crate::remote::configured(remote) => {
            crate::remote::client(remote, config).await?.reject(*id).await?;
            println!("run {id} rejected: nothing was deactivated or deleted");
            return Ok(());
        }
        _ => {}
    }
    let store = Arc::new(open_store(config).await?);
    match cmd {
        RunsCommand::List { target, limit, json } => {
            let runs = store.runs(target.as_deref(), None, limit).await?;
            if json {
                let v: Vec<_> = runs
                    .iter()
                    .map(|r| {
                        json!({"id": r.id, "kind": r.kind.as_str(), "target": r.target, "state": r.state.as_str(), "started": r.started,
                               "finished": r.finished, "summary": r.summary, "hold_reason": r.hold_reason})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{:>5}  {:<8} {:<16} {:<9} {:<25} {:>8}  outcome",
                    "id", "kind", "target/source", "state", "started", "took"
                );
                for r in runs {
                    println!(
                        "{:>5}  {:<8} {:<16} {:<9} {:<25} {:>8}  {}",
                        r.id,
                        r.kind,
                        r.target,
                        r.state,
                        r.started,
                        duration(&r),
                        describe(&r)
                    );
                }
            }
        }
        RunsCommand::Show { id, json } => {
            let r = store.run(id).await?.with_context(|| format!("there is no run {id}"))?;
            if json {
                let v = json!({"id": r.id, "kind": r.kind.as_str(), "target": r.target, "state": r.state.as_str(), "started": r.started,
                               "finished": r.finished, "summary": r.summary, "hold_reason": r.hold_reason, "held": r.held});
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("run {} ({} of {}): {}", r.id, r.kind, r.target, r.state);
                println!(
                    "started {}{}",
                    r.started,
                    r.finished.as_ref().map(|f| format!(", finished {f}")).unwrap_or_default()
                );
                println!("took    {}", duration(&r));
                println!("outcome {}", describe(&r));
                for problem in r.summary["problems"].as_array().into_iter().flatten().filter_map(|p| p.as_str()) {
                    println!("  problem: {problem}");
                }
                if r.kind == RunKind::Pull {
                    for line in after_pull(&store, &r).await? {
                        println!("{line}");
                    }
                    println!("each change, with its reason: idsync log --source {} --since {}", r.target, r.started);
                }
                if let Some(reason) = &r.hold_reason {
                    println!("held because {reason}");
                }
                let held: Vec<engine::PlannedOp> =
                    r.held.and_then(|h| serde_json::from_value(h).ok()).unwrap_or_default();
                if !held.is_empty() && r.state == RunState::Held {
                    println!("waiting for approval:");
                    for p in &held {
                        println!("  {:<16} {:<24} {}", p.op.action(), p.op.user().unwrap_or_default(), p.reason);
                    }
                    println!("decide with 'idsync runs approve {id}' or 'idsync runs reject {id}'");
                }
            }
        }
        RunsCommand::Approve { id } => {
            let engine = engine(config, store.clone()).await?;
            let report = engine.approve(id).await?;
            println!("run {id}: {} applied, {} failed; now {}", report.applied, report.failed, report.state);
            if let Some(r) = report.hold_reason {
                println!("{r}");
            }
        }
        RunsCommand::Reject { id } => {
            let engine = engine(config, store.clone()).await?;
            engine.reject(id).await?;
            println!("run {id} rejected: nothing was deactivated or deleted");
        }
    }
    store.close().await;
    Ok(())
}

/// `1h`, `30m`, `2d` ago, or an RFC 3339 time.
fn parse_since(text: &str) -> anyhow::Result<String> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(format_time(t));
    }
    let (num, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("'{text}' is neither a time (2026-01-31T12:00:00Z) nor an age (90s, 15m, 2h, 7d)"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("'{text}' is neither a time (2026-01-31T12:00:00Z) nor an age (90s, 15m, 2h, 7d)"),
    };
    Ok(format_time(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(seconds)))
}

fn format_time(t: jiff::Timestamp) -> String {
    model::time::format_rfc3339_millis((t.as_second(), t.subsec_nanosecond().max(0) as u32))
}

#[derive(clap::Args)]
pub struct LogArgs {
    /// Only entries about this user (the target username, without case).
    #[arg(long)]
    user: Option<String>,
    /// Only entries about this target group.
    #[arg(long)]
    group: Option<String>,
    /// Only entries of this target.
    #[arg(long)]
    target: Option<String>,
    /// Only entries caused by this source.
    #[arg(long)]
    source: Option<String>,
    /// Only entries with this result.
    #[arg(long, value_parser = ["applied", "failed", "retrying", "skipped", "conflict", "held", "planned", "rejected"])]
    result: Option<String>,
    /// Only entries of this run.
    #[arg(long)]
    run: Option<i64>,
    /// From this age back (15m, 2h, 7d) or this RFC 3339 time on.
    #[arg(long)]
    since: Option<String>,
    /// Up to this age back or this RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
    /// At most this many entries, newest first.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON, one array of entries.
    #[arg(long)]
    json: bool,
}

/// The newest `args.limit` entries the server's log holds for `args`, page by page.
async fn logged_remotely(
    args: &LogArgs,
    since: Option<String>,
    until: Option<String>,
    remote: &crate::remote::Remote,
    config: &Config,
) -> anyhow::Result<Vec<api_types::LogEntry>> {
    let api = crate::remote::client(remote, config).await?;
    let mut query = api_types::LogQuery {
        user: args.user.clone(),
        group: args.group.clone(),
        target: args.target.clone(),
        source: args.source.clone(),
        result: args.result.clone(),
        run: args.run,
        since,
        until,
        after: None,
        limit: None,
    };
    let mut entries = Vec::new();
    while entries.len() < args.limit as usize {
        let left = (args.limit as usize - entries.len()).min(api_types::PageQuery::MAX_LIMIT as usize);
        query.limit = Some(left as u32);
        let page = api.log(&query).await?;
        entries.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    Ok(entries)
}

pub async fn log(args: LogArgs, config: &Config, remote: &crate::remote::Remote) -> anyhow::Result<()> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let until = args.until.as_deref().map(parse_since).transpose()?;
    let mut events = if crate::remote::configured(remote) {
        logged_remotely(&args, since, until, remote, config).await?
    } else {
        let store = open_store(config).await?;
        let query = EventQuery {
            user: args.user,
            group: args.group,
            target: args.target,
            source: args.source,
            result: args.result,
            run_id: args.run,
            since,
            until,
            before: None,
            limit: args.limit,
        };
        let read = app::log::entries(&store, &query).await;
        store.close().await;
        read?
    };
    events.reverse();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
    } else if events.is_empty() {
        println!("no matching events");
    } else {
        for e in &events {
            let object = match (&e.user, &e.group) {
                (Some(u), Some(g)) => format!("{u} in {g}"),
                (Some(u), None) => u.clone(),
                (None, Some(g)) => g.clone(),
                (None, None) => String::new(),
            };
            println!(
                "{} {:<9} {:<10} {:<16} {:<24} {}",
                &e.at[..19.min(e.at.len())],
                e.result,
                e.target,
                e.action,
                object,
                e.reason
            );
            if let Some(d) = &e.detail {
                println!("{:>30} {d}", "→");
            }
        }
    }
    Ok(())
}
