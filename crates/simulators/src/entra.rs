//! Microsoft Graph simulator for Entra ID (external-apis.md A1 and Part C): client-credentials
//! tokens from `/{tenant}/oauth2/v2.0/token`, `@odata.nextLink` paging with an opaque
//! `$skiptoken`, `$top` outside 1–999 refused, `$select` honoured (the default projection leaves
//! `accountEnabled` out), group members with their `@odata.type`, Graph's error body.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::common::{Control, Credentials, Tokens, lock, reply};

#[derive(Debug, Clone, Serialize)]
pub struct GraphUser {
    pub id: String,
    pub user_principal_name: String,
    pub mail: String,
    pub given_name: String,
    pub surname: String,
    pub account_enabled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphGroup {
    pub id: String,
    pub display_name: String,
    /// Ids of member users and groups.
    pub members: Vec<String>,
}

/// What the delta queries report: one entry per change, in order.
#[derive(Debug, Clone, Serialize)]
pub enum Event {
    User(String),
    Group(String),
    Member { group: String, member: String, added: bool },
}

#[derive(Debug, Default, Serialize)]
pub struct GraphData {
    pub users: Vec<GraphUser>,
    pub groups: Vec<GraphGroup>,
    /// Changes so far, numbered; delta tokens remember a number.
    journal: Vec<(u64, Event)>,
    /// Delta links issued before the generation changed are refused (`syncStateNotFound`), as
    /// Graph refuses links older than 7 days.
    generation: u64,
    /// Objects created so far: ids are never reused, as in a directory.
    created: usize,
}

impl GraphData {
    fn record(&mut self, event: Event) {
        let seq = self.journal.len() as u64 + 1;
        self.journal.push((seq, event));
    }

    fn seq(&self) -> u64 {
        self.journal.len() as u64
    }

    /// Makes every delta link issued so far unusable.
    pub fn expire_delta_links(&mut self) {
        self.generation += 1;
    }

    pub fn update_user(&mut self, id: &str, change: impl FnOnce(&mut GraphUser)) {
        if let Some(u) = self.users.iter_mut().find(|u| u.id == id) {
            change(u);
            self.record(Event::User(id.into()));
        }
    }

    pub fn remove_user(&mut self, id: &str) {
        self.users.retain(|u| u.id != id);
        for g in 0..self.groups.len() {
            if self.groups[g].members.iter().any(|m| m == id) {
                let group = self.groups[g].id.clone();
                self.remove_member(&group, id);
            }
        }
        self.record(Event::User(id.into()));
    }

    pub fn add_member(&mut self, group: &str, member: &str) {
        if let Some(g) = self.groups.iter_mut().find(|g| g.id == group) {
            g.members.push(member.into());
            self.record(Event::Member { group: group.into(), member: member.into(), added: true });
        }
    }

    pub fn remove_member(&mut self, group: &str, member: &str) {
        if let Some(g) = self.groups.iter_mut().find(|g| g.id == group) {
            g.members.retain(|m| m != member);
            self.record(Event::Member { group: group.into(), member: member.into(), added: false });
        }
    }

    pub fn remove_group(&mut self, id: &str) {
        self.groups.retain(|g| g.id != id);
        self.record(Event::Group(id.into()));
    }

    pub fn add_user(&mut self, upn: &str, enabled: bool) -> String {
        self.created += 1;
        let id = format!("6e7b768e-07e2-4810-8459-{:012}", self.created);
        let local = upn.split('@').next().unwrap_or(upn);
        let (given, surname) = local.split_once('.').unwrap_or((local, "Test"));
        self.users.push(GraphUser {
            id: id.clone(),
            user_principal_name: upn.into(),
            mail: upn.into(),
            given_name: given.into(),
            surname: surname.into(),
            account_enabled: enabled,
        });
        self.record(Event::User(id.clone()));
        id
    }

    pub fn add_group(&mut self, name: &str, members: &[&str]) -> String {
        self.created += 1;
        let id = format!("02bd9fd6-8f93-4758-87c3-{:012}", self.created);
        self.groups.push(GraphGroup {
            id: id.clone(),
            display_name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        });
        self.record(Event::Group(id.clone()));
        id
    }
}

pub struct Entra {
    pub control: Arc<Control>,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    tokens: Tokens,
    pub data: Mutex<GraphData>,
    base: Mutex<String>,
}

impl Entra {
    pub fn new(credentials: Credentials) -> Arc<Self> {
        Arc::new(Entra {
            control: Control::new(credentials),
            tenant: "contoso-tenant".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: "entra-sim-secret".into(),
            tokens: Tokens::default(),
            data: Mutex::new(GraphData::default()),
            base: Mutex::new(String::new()),
        })
    }

    pub fn set_base_url(&self, base: &str) {
        *lock(&self.base) = base.trim_end_matches('/').to_string();
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let graph = Router::new()
            .route("/users", get(users))
            .route("/users/delta", get(users_delta))
            .route("/groups/delta", get(groups_delta))
            .route("/groups/{id}/transitiveMembers", get(transitive_members))
            .route("/users/{id}", get(user))
            .route("/users/{id}/memberOf", get(member_of))
            .route("/groups", get(groups))
            .route("/groups/{id}", get(group))
            .route("/groups/{id}/members", get(members));
        let root = Router::new().route("/{tenant}/oauth2/v2.0/token", post(token));
        crate::common::mount(self.clone(), self.control.clone(), &["/v1.0"], graph, root, get(dump_state))
    }
}

type Q = Query<BTreeMap<String, String>>;
type S = State<Arc<Entra>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    reply(status, json!({"error": {"code": code, "message": message, "innerError": {"request-id": "sim"}}}))
}

fn authorize(e: &Entra, headers: &HeaderMap) -> Result<(), Response> {
    if e.tokens.admits(headers) {
        return Ok(());
    }
    Err(error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "Access token is empty or invalid."))
}

async fn token(State(e): S, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: BTreeMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3A", ":").replace("%2F", "/").replace('+', " ")))
        .collect();
    if tenant != e.tenant {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": format!("AADSTS90002: Tenant '{tenant}' not found.")}),
        );
    }
    if form.get("client_id") != Some(&e.client_id) || form.get("client_secret") != Some(&e.client_secret) {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."}),
        );
    }
    if form.get("scope").map(String::as_str) != Some("https://graph.microsoft.com/.default") {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_scope", "error_description": "AADSTS70011: The provided value for scope is not valid."}),
        );
    }
    reply(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": 3599, "access_token": e.tokens.issue("eyJ0eXAi.graph.")}),
    )
}

fn user_json(u: &GraphUser, select: Option<&str>) -> Value {
    let all = json!({
        "id": u.id, "userPrincipalName": u.user_principal_name, "mail": u.mail, "givenName": u.given_name, "surname": u.surname,
        "displayName": format!("{} {}", u.given_name, u.surname), "accountEnabled": u.account_enabled,
    });
    let default = ["id", "userPrincipalName", "mail", "givenName", "surname", "displayName"];
    let wanted: Vec<&str> = match select {
        Some(s) => s.split(',').map(str::trim).collect(),
        None => default.to_vec(),
    };
    let mut out = Map::new();
    for k in wanted {
        if let Some(v) = all.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    out.insert("id".into(), json!(u.id));
    Value::Object(out)
}

/// One page of `items` from `$skiptoken`, with an absolute `@odata.nextLink` when there is more.
fn paged(e: &Entra, path: &str, items: Vec<Value>, q: &BTreeMap<String, String>) -> Response {
    let top: usize = match q.get("$top").map(|t| t.parse::<usize>()) {
        None => 100,
        Some(Ok(t)) if (1..=999).contains(&t) => t,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "Invalid page size specified: '$top'. Must be between 1 and 999 inclusive.",
            );
        }
    };
    let skip: usize = q.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = items.iter().skip(skip).take(top).cloned().collect();
    let mut body =
        json!({"@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{path}"), "value": page});
    if skip + top < items.len() {
        let base = lock(&e.base).clone();
        let select = q.get("$select").map(|s| format!("&$select={s}")).unwrap_or_default();
        body["@odata.nextLink"] = json!(format!("{base}/v1.0/{path}?$top={top}{select}&$skiptoken={}", skip + top));
    }
    reply(StatusCode::OK, body)
}

async fn users(State(e): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let items = lock(&e.data).users.iter().map(|u| user_json(u, q.get("$select").map(String::as_str))).collect();
    paged(&e, "users", items, &q)
}

async fn user(State(e): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let data = lock(&e.data);
    match data.users.iter().find(|u| u.id == id || u.user_principal_name.eq_ignore_ascii_case(&id)) {
        Some(u) => reply(StatusCode::OK, user_json(u, q.get("$select").map(String::as_str))),
        None => error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        ),
    }
}

fn group_json(g: &GraphGroup) -> Value {
    json!({"@odata.type": "#microsoft.graph.group", "id": g.id, "displayName": g.display_name})
}

async fn group(State(e): S, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    match lock(&e.data).groups.iter().find(|g| g.id == id) {
        Some(g) => reply(StatusCode::OK, group_json(g)),
        None => error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", &format!("Resource '{id}' does not exist.")),
    }
}

async fn member_of(State(e): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let items = lock(&e.data).groups.iter().filter(|g| g.members.contains(&id)).map(group_json).collect();
    paged(&e, &format!("users/{id}/memberOf"), items, &q)
}

async fn groups(State(e): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let items = lock(&e.data).groups.iter().map(group_json).collect();
    paged(&e, "groups", items, &q)
}

async fn members(State(e): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let data = lock(&e.data);
    let Some(group) = data.groups.iter().find(|g| g.id == id) else {
        return error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", &format!("Resource '{id}' does not exist."));
    };
    let items = group
        .members
        .iter()
        .map(|m| {
            let kind =
                if data.groups.iter().any(|g| &g.id == m) { "#microsoft.graph.group" } else { "#microsoft.graph.user" };
            json!({"@odata.type": kind, "id": m})
        })
        .collect();
    paged(&e, &format!("groups/{id}/members"), items, &q)
}

/// Where a delta round stands: which changes it reports (after `since`, up to `upto`; an initial
/// round has no `since`) and how far its pages have come.
struct Round {
    generation: u64,
    since: Option<u64>,
    upto: u64,
    offset: usize,
}

impl Round {
    fn token(&self) -> String {
        let since = self.since.map(|s| s.to_string()).unwrap_or_else(|| "initial".into());
        format!("g{}.{since}.{}.{}", self.generation, self.upto, self.offset)
    }

    fn parse(token: &str) -> Option<Round> {
        let mut parts = token.split('.');
        let generation = parts.next()?.strip_prefix('g')?.parse().ok()?;
        let since = match parts.next()? {
            "initial" => None,
            n => Some(n.parse().ok()?),
        };
        Some(Round { generation, since, upto: parts.next()?.parse().ok()?, offset: parts.next()?.parse().ok()? })
    }
}

/// Entries per delta page (Graph decides this itself).
const DELTA_PAGE: usize = 200;

/// The round a delta request continues, or Graph's answer to a token it no longer knows.
fn round(data: &GraphData, q: &BTreeMap<String, String>) -> Result<Round, Response> {
    let expired = || {
        error(
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        )
    };
    if let Some(token) = q.get("$skiptoken") {
        let round = Round::parse(token).ok_or_else(expired)?;
        return if round.generation == data.generation { Ok(round) } else { Err(expired()) };
    }
    match q.get("$deltatoken").map(String::as_str) {
        None => Ok(Round { generation: data.generation, since: None, upto: data.seq(), offset: 0 }),
        Some("latest") => {
            Ok(Round { generation: data.generation, since: Some(data.seq()), upto: data.seq(), offset: 0 })
        }
        Some(token) => {
            let round = Round::parse(token).ok_or_else(expired)?;
            if round.generation != data.generation {
                return Err(expired());
            }
            Ok(Round { generation: data.generation, since: Some(round.upto), upto: data.seq(), offset: 0 })
        }
    }
}

/// One page of a delta round, with the link to the next page or, at the end, the delta link.
/// Only the page's entries are rendered (`entry(i)` for i in the page), so a page costs its size.
fn delta_page(
    e: &Entra,
    path: &str,
    total: usize,
    entry: impl Fn(usize) -> Value,
    mut round: Round,
    select: Option<&str>,
) -> Response {
    let page: Vec<Value> = (round.offset..total.min(round.offset + DELTA_PAGE)).map(entry).collect();
    let base = lock(&e.base).clone();
    let select = select.map(|s| format!("$select={s}&")).unwrap_or_default();
    let mut body =
        json!({"@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{path}"), "value": page});
    if e.control.faults().loop_paging && round.offset > 0 {
        round.offset = DELTA_PAGE;
        body["@odata.nextLink"] = json!(format!("{base}/v1.0/{path}?{select}$skiptoken={}", round.token()));
    } else if round.offset + DELTA_PAGE < total {
        round.offset += DELTA_PAGE;
        body["@odata.nextLink"] = json!(format!("{base}/v1.0/{path}?{select}$skiptoken={}", round.token()));
    } else {
        round.offset = 0;
        body["@odata.deltaLink"] = json!(format!("{base}/v1.0/{path}?{select}$deltatoken={}", round.token()));
    }
    reply(StatusCode::OK, body)
}

/// The journal's entries that a round reports.
fn events(data: &GraphData, round: &Round) -> Vec<Event> {
    data.journal
        .iter()
        .filter(|(seq, _)| round.since.is_none_or(|s| *seq > s) && *seq <= round.upto)
        .map(|(_, e)| e.clone())
        .collect()
}

async fn users_delta(State(e): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let data = lock(&e.data);
    let round = match round(&data, &q) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let select = q.get("$select").map(String::as_str);
    let changed: Vec<String> = match round.since {
        None => Vec::new(),
        Some(_) => {
            let mut changed: Vec<String> = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for event in events(&data, &round) {
                if let Event::User(id) = event
                    && seen.insert(id.clone())
                {
                    changed.push(id);
                }
            }
            changed
        }
    };
    if round.since.is_none() {
        return delta_page(&e, "users/delta", data.users.len(), |i| user_json(&data.users[i], select), round, select);
    }
    let index: std::collections::HashMap<&str, &GraphUser> = data.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let render = |i: usize| match index.get(changed[i].as_str()) {
        Some(u) => user_json(u, select),
        None => json!({"id": changed[i], "@removed": {"reason": "deleted"}}),
    };
    delta_page(&e, "users/delta", changed.len(), render, round, select)
}

fn member_json(data: &GraphData, id: &str, removed: bool) -> Value {
    let kind = if data.groups.iter().any(|g| g.id == id) { "#microsoft.graph.group" } else { "#microsoft.graph.user" };
    let mut member = json!({"@odata.type": kind, "id": id});
    if removed {
        member["@removed"] = json!({"reason": "deleted"});
    }
    member
}

async fn groups_delta(State(e): S, headers: HeaderMap, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let data = lock(&e.data);
    let round = match round(&data, &q) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let group_ids: std::collections::HashSet<&str> = data.groups.iter().map(|g| g.id.as_str()).collect();
    let member = |id: &str, removed: bool| {
        let kind = if group_ids.contains(id) { "#microsoft.graph.group" } else { "#microsoft.graph.user" };
        let mut member = json!({"@odata.type": kind, "id": id});
        if removed {
            member["@removed"] = json!({"reason": "deleted"});
        }
        member
    };

    let (order, changed_members): (Vec<String>, BTreeMap<String, Vec<Value>>) = match round.since {
        None => (Vec::new(), BTreeMap::new()),
        Some(_) => {
            let mut order: Vec<String> = Vec::new();
            let mut members: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for event in events(&data, &round) {
                let (group, change) = match event {
                    Event::Group(id) => (id, None),
                    Event::Member { group, member: m, added } => (group, Some(member(&m, !added))),
                    Event::User(_) => continue,
                };
                if !order.contains(&group) {
                    order.push(group.clone());
                }
                members.entry(group).or_default().extend(change);
            }
            (order, members)
        }
    };
    let select = q.get("$select").map(String::as_str);
    if round.since.is_none() {
        let render = |i: usize| {
            let g = &data.groups[i];
            let members: Vec<Value> = g.members.iter().map(|m| member(m, false)).collect();
            json!({"id": g.id, "displayName": g.display_name, "members@delta": members})
        };
        return delta_page(&e, "groups/delta", data.groups.len(), render, round, select);
    }
    let index: std::collections::HashMap<&str, &GraphGroup> = data.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let render = |i: usize| match index.get(order[i].as_str()) {
        Some(g) => {
            let mut item = json!({"id": g.id, "displayName": g.display_name});
            if let Some(list) = changed_members.get(&order[i]).filter(|l| !l.is_empty()) {
                item["members@delta"] = Value::Array(list.clone());
            }
            item
        }
        None => json!({"id": order[i], "@removed": {"reason": "deleted"}}),
    };
    delta_page(&e, "groups/delta", order.len(), render, round, select)
}

async fn transitive_members(State(e): S, headers: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Err(r) = authorize(&e, &headers) {
        return r;
    }
    let data = lock(&e.data);
    if !data.groups.iter().any(|g| g.id == id) {
        return error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", &format!("Resource '{id}' does not exist."));
    }
    let mut seen = Vec::new();
    let mut queue = vec![id.clone()];
    let mut items = Vec::new();
    while let Some(group) = queue.pop() {
        if seen.contains(&group) {
            continue;
        }
        seen.push(group.clone());
        for m in data.groups.iter().find(|g| g.id == group).map(|g| g.members.clone()).unwrap_or_default() {
            if data.groups.iter().any(|g| g.id == m) {
                queue.push(m.clone());
            }
            let member = member_json(&data, &m, false);
            if !items.contains(&member) {
                items.push(member);
            }
        }
    }
    paged(&e, &format!("groups/{id}/transitiveMembers"), items, &q)
}

async fn dump_state(State(e): S) -> Response {
    let data = lock(&e.data);
    reply(StatusCode::OK, serde_json::to_value(&*data).unwrap_or(Value::Null))
}
