//! The provisioning log: search and downloads.

use super::*;

/// A search of the provisioning log as the form sends it; empty fields select everything.
#[derive(Deserialize, Default, serde::Serialize)]
pub(super) struct LogSearch {
    #[serde(default)]
    user: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    since: String,
    #[serde(default, skip_serializing)]
    after: Option<i64>,
}

const LOG_RESULTS: &[&str] = &["applied", "failed", "retrying", "skipped", "conflict", "held", "planned", "rejected"];
const LOG_PER_PAGE: u32 = 100;
/// The most entries one download holds.
const LOG_DOWNLOAD: u32 = 100_000;

impl LogSearch {
    fn query(&self, limit: u32) -> Result<store::EventQuery, String> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let since = match text(&self.since) {
            Some(t) => Some(
                t.parse::<store::Time>()
                    .map_err(|_| format!("'{t}' is not a time: write it as RFC 3339, such as 2026-12-01T09:00:00Z"))?,
            ),
            None => None,
        };
        Ok(store::EventQuery {
            user: text(&self.user),
            group: text(&self.group),
            source: text(&self.source),
            target: text(&self.target),
            result: text(&self.result),
            since,
            before: self.after,
            limit,
            ..store::EventQuery::default()
        })
    }

    /// The search as a query string, for the next page and the downloads.
    fn encoded(&self) -> String {
        let pairs = [
            ("user", &self.user),
            ("group", &self.group),
            ("source", &self.source),
            ("target", &self.target),
            ("result", &self.result),
            ("since", &self.since),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", api_types::percent_encoded(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

struct LogRow {
    at: String,
    result: String,
    target: String,
    action: String,
    object: String,
    /// The explain page of the user it concerns, when it concerns one.
    explain: Option<String>,
    reason: String,
    detail: Option<String>,
}

fn log_row(e: api_types::LogEntry) -> LogRow {
    let object = match (&e.user, &e.group) {
        (Some(u), Some(g)) => format!("{u} in {g}"),
        (Some(u), None) => u.clone(),
        (None, Some(g)) => g.clone(),
        (None, None) => String::new(),
    };
    LogRow {
        at: e.at,
        result: e.result,
        target: e.target,
        action: e.action,
        object,
        explain: e.user.as_deref().map(|u| format!("/ui/explain?user={}", api_types::percent_encoded(u))),
        reason: e.reason,
        detail: e.detail,
    }
}

#[derive(Template)]
#[template(path = "log.html")]
struct LogPage {
    signed_in: Option<String>,
    q: LogSearch,
    query: String,
    results: &'static [&'static str],
    entries: Vec<LogRow>,
    next: Option<i64>,
    problem: Option<String>,
}

pub(super) async fn log_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Query(search): Query<LogSearch>,
) -> Response {
    let (entries, next, problem) = match search.query(LOG_PER_PAGE + 1) {
        Ok(query) => match app::log::entries(&*s.db, &query).await {
            Ok(mut entries) => {
                let next = (entries.len() > LOG_PER_PAGE as usize).then(|| {
                    entries.truncate(LOG_PER_PAGE as usize);
                    entries.last().map(|e| e.id)
                });
                (entries, next.flatten(), None)
            }
            Err(e) => return failure(&e),
        },
        Err(problem) => (Vec::new(), None, Some(problem)),
    };
    page(&LogPage {
        signed_in: Some(signed.administrator),
        query: search.encoded(),
        q: search,
        results: LOG_RESULTS,
        entries: entries.into_iter().map(log_row).collect(),
        next,
        problem,
    })
}

async fn log_download(s: &ConsoleState, search: &LogSearch) -> Result<Vec<api_types::LogEntry>, Response> {
    let query = search.query(LOG_DOWNLOAD).map_err(|p| (StatusCode::BAD_REQUEST, p).into_response())?;
    app::log::entries(&*s.db, &query).await.map_err(|e| failure(&e))
}

fn attachment(content_type: &'static str, name: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CONTENT_DISPOSITION, name)], body).into_response()
}

/// A CSV field, quoted when it must be, and never read as a formula by a spreadsheet.
fn csv_field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

pub(super) async fn log_csv(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Query(search): Query<LogSearch>,
) -> Response {
    let entries = match log_download(&s, &search).await {
        Ok(entries) => entries,
        Err(response) => return response,
    };
    let mut body = String::from("at,result,source,target,action,user,group,reason,detail\r\n");
    for e in entries {
        let fields = [
            e.at,
            e.result,
            e.source,
            e.target,
            e.action,
            e.user.unwrap_or_default(),
            e.group.unwrap_or_default(),
            e.reason,
            e.detail.unwrap_or_default(),
        ];
        body.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        body.push_str("\r\n");
    }
    attachment("text/csv; charset=utf-8", "attachment; filename=\"idsync-log.csv\"", body)
}

pub(super) async fn log_json(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Query(search): Query<LogSearch>,
) -> Response {
    match log_download(&s, &search).await {
        Ok(entries) => attachment(
            "application/json",
            "attachment; filename=\"idsync-log.json\"",
            serde_json::to_string_pretty(&entries).unwrap_or_default(),
        ),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }
}
