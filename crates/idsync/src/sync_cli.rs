//! `idsync runs …` and `idsync log` (and the words for runs and plans that `sync` and `source`
//! print): held runs, run history and the provisioning log, through the admin API.

use std::sync::Arc;

use anyhow::{Context, bail};
use api_types::{LogEntry, Plan, Run, RunKind, RunState};
use clap::Subcommand;
use reqwest::Method;
use sync::{Bindings, Engine};

use crate::config::Config;

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
        /// Only this user's: SOURCE/ID, as 'runs show' lists them (repeatable); the others stay held.
        #[arg(long = "user", value_name = "SOURCE/ID")]
        users: Vec<String>,
    },
    /// Discard them.
    Reject {
        /// The held run's number, as 'runs list' shows it.
        id: i64,
    },
}

/// A dry run's plan in words.
pub fn print_dry_run(plan: &Plan) {
    println!("dry run of {} (run {}): {} operations would be applied", plan.target, plan.run, plan.ops.len());
    print_plan(plan);
    if let Some(r) = &plan.hold_reason {
        println!("  safeguard: a real run would hold the deprovisioning for approval: {r}");
    }
}

/// Each operation of a plan with its reason, one line each.
pub fn print_plan(plan: &Plan) {
    if plan.ops.is_empty() {
        println!("{}: nothing to do; the target matches the sources and rules", plan.target);
        return;
    }
    for op in &plan.ops {
        match serde_json::from_value::<engine::PlannedOp>(op.clone()) {
            Ok(p) => println!("  {:<16} {:<24} {}", p.op.action(), object(p.op.user(), p.op.group()), p.reason),
            Err(_) => println!("  {op}"),
        }
    }
}

/// A user, a group, or a user in a group, as log lines and plans name them.
fn object(user: Option<&str>, group: Option<&str>) -> String {
    match (user, group) {
        (Some(u), Some(g)) => format!("{u} in {g}"),
        (Some(u), None) => u.to_string(),
        (None, Some(g)) => g.to_string(),
        (None, None) => String::new(),
    }
}

/// What the targets did after a pull run, until the source's next run: the provisioning log's
/// results for that source in that window, per target. (Targets follow a pull asynchronously, so
/// this is read from the log rather than counted by the run.)
async fn after_pull(api: &client::Client, run: &Run) -> anyhow::Result<Vec<String>> {
    let (later, _) = crate::pages::all::<Run>(api, &format!("/runs?target={}", client::segment(&run.target))).await?;
    let next = later.iter().filter(|r| r.kind == RunKind::Pull && r.id > run.id).map(|r| r.started.clone()).min();
    let query = api_types::LogQuery {
        source: Some(run.target.clone()),
        since: Some(run.started.clone()),
        until: next,
        ..Default::default()
    };
    let mut by_target: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> = Default::default();
    for e in logged(api, query, usize::MAX).await?.into_iter().filter(|e| e.result != "planned") {
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
fn duration(r: &Run) -> String {
    let parse = |t: &str| t.parse::<jiff::Timestamp>().ok();
    match (parse(&r.started), r.finished.as_deref().and_then(parse)) {
        (Some(start), Some(end)) => format!("{:.1}s", (end - start).total(jiff::Unit::Second).unwrap_or(0.0)),
        _ => "-".into(),
    }
}

pub async fn runs(cmd: RunsCommand, api: &client::Client) -> anyhow::Result<()> {
    match cmd {
        RunsCommand::Approve { id, users } => {
            let chosen = users
                .iter()
                .map(|u| {
                    u.split_once('/')
                        .map(|(source, id)| api_types::HeldUser { source: source.into(), id: id.into() })
                        .ok_or_else(|| {
                            anyhow::anyhow!("--user {u}: write it as SOURCE/ID, as 'idsync runs show {id}' lists it")
                        })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let approved = api.approve(id, (!chosen.is_empty()).then_some(chosen)).await?;
            println!("run {id}: {} applied, {} failed; now {}", approved.applied, approved.failed, approved.state);
            if let Some(r) = approved.hold_reason {
                println!("{r}");
            }
        }
        RunsCommand::Reject { id } => {
            api.reject(id).await?;
            println!("run {id} rejected: nothing was deactivated or deleted");
        }
        RunsCommand::List { target, limit, json } => {
            let mut path = format!("/runs?limit={}", limit.clamp(1, api_types::PageQuery::MAX_LIMIT));
            if let Some(t) = &target {
                path.push_str(&format!("&target={}", client::segment(t)));
            }
            let (page, text): (api_types::Page<Run>, String) = api.exchange(Method::GET, &path, None::<&()>).await?;
            if json {
                println!("{text}");
            } else {
                println!(
                    "{:>5}  {:<8} {:<16} {:<9} {:<25} {:>8}  outcome",
                    "id", "kind", "target/source", "state", "started", "took"
                );
                for r in &page.items {
                    println!(
                        "{:>5}  {:<8} {:<16} {:<9} {:<25} {:>8}  {}",
                        r.id,
                        r.kind.as_str(),
                        r.target,
                        r.state.as_str(),
                        r.started,
                        duration(r),
                        app::runs::describe(r.kind, &r.summary)
                    );
                }
            }
        }
        RunsCommand::Show { id, json } => {
            let (r, text): (Run, String) = api.exchange(Method::GET, &format!("/runs/{id}"), None::<&()>).await?;
            if json {
                println!("{text}");
                return Ok(());
            }
            println!("run {} ({} of {}): {}", r.id, r.kind.as_str(), r.target, r.state.as_str());
            println!(
                "started {}{}",
                r.started,
                r.finished.as_ref().map(|f| format!(", finished {f}")).unwrap_or_default()
            );
            println!("took    {}", duration(&r));
            println!("outcome {}", app::runs::describe(r.kind, &r.summary));
            for problem in r.summary["problems"].as_array().into_iter().flatten().filter_map(|p| p.as_str()) {
                println!("  problem: {problem}");
            }
            if r.kind == RunKind::Pull {
                for line in after_pull(api, &r).await? {
                    println!("{line}");
                }
                println!("each change, with its reason: idsync log --source {} --since {}", r.target, r.started);
            }
            if let Some(reason) = &r.hold_reason {
                println!("held because {reason}");
            }
            let held = app::runs::held_operations(&r);
            if !held.is_empty() && r.state == RunState::Held {
                println!("waiting for approval:");
                for p in &held {
                    println!(
                        "  {:<16} {:<24} {:<40} {}",
                        p.action,
                        p.user,
                        format!("{}/{}", p.source, p.source_id),
                        p.reason
                    );
                }
                println!(
                    "decide with 'idsync runs approve {id}' (all), 'idsync runs approve {id} --user SOURCE/ID' (some) or 'idsync runs reject {id}'"
                );
            }
        }
    }
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

/// The newest `limit` entries the log holds for `query`, newest first, page by page.
async fn logged(api: &client::Client, mut query: api_types::LogQuery, limit: usize) -> anyhow::Result<Vec<LogEntry>> {
    let mut entries = Vec::new();
    while entries.len() < limit {
        let left = (limit - entries.len()).min(api_types::PageQuery::MAX_LIMIT as usize);
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

pub async fn log(args: LogArgs, api: &client::Client) -> anyhow::Result<()> {
    let query = api_types::LogQuery {
        user: args.user,
        group: args.group,
        target: args.target,
        source: args.source,
        result: args.result,
        run: args.run,
        since: args.since.as_deref().map(parse_since).transpose()?,
        until: args.until.as_deref().map(parse_since).transpose()?,
        ..Default::default()
    };
    let mut events = logged(api, query, args.limit as usize).await?;
    events.reverse();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
    } else if events.is_empty() {
        println!("no matching events");
    } else {
        for e in &events {
            println!(
                "{} {:<9} {:<10} {:<16} {:<24} {}",
                &e.at[..19.min(e.at.len())],
                e.result,
                e.target,
                e.action,
                object(e.user.as_deref(), e.group.as_deref()),
                e.reason
            );
            if let Some(d) = &e.detail {
                println!("{:>30} {d}", "→");
            }
        }
    }
    Ok(())
}
