//! Microsoft Entra ID through Microsoft Graph v1.0 (external-apis.md A1): an app registration's
//! client credentials, `$select` for the attributes idsync maps, `@odata.nextLink` paging. Reads
//! are delta rounds (`/users/delta`, `/groups/delta` with `members@delta`): a full read is the
//! initial round, whose delta links are the cursor the next run continues from, so later runs
//! fetch only changes. Nested groups stay nested (the engine flattens them). A source can be
//! scoped to the transitive members of some groups.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use rest::{Check, Credentials, Http, RestError, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::fetch::Retry;
use crate::oauth::{TokenRequest, TokenSource};
use crate::paging::Pages;
use crate::{
    ChangedGroup, Changes, Connector, MemberChanges, PulledGroup, PulledUser, Snapshot, UserSink, Users, scim_user,
};

const USER_FIELDS: &str =
    "id,userPrincipalName,mail,givenName,surname,displayName,accountEnabled,onPremisesSamAccountName";

pub struct Entra {
    /// Graph v1.0; requests carry the current token.
    graph: Http,
    /// Which Graph attribute becomes the username (userPrincipalName, mail, …).
    username_attribute: String,
    retry: Retry,
    tokens: TokenSource,
    /// Only the transitive members of these groups (ids), when given.
    only_groups: Vec<String>,
}

pub struct EntraSettings<'a> {
    /// `https://graph.microsoft.com`.
    pub graph: &'a str,
    /// `https://login.microsoftonline.com`.
    pub login: &'a str,
    pub tenant: &'a str,
    pub username_attribute: &'a str,
    pub only_groups: &'a [String],
}

/// Where a delta round goes after a page.
enum Step {
    Next(Url),
    Done(String),
}

/// Where the next delta round starts, and who was in scope at the end of the last one.
#[derive(Serialize, Deserialize)]
struct Cursor {
    users: String,
    groups: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<BTreeSet<String>>,
}

fn removed(item: &Value) -> bool {
    item.get("@removed").is_some()
}

impl Entra {
    pub fn new(
        settings: EntraSettings<'_>,
        credentials: Credentials,
        timeout: Duration,
        retry: Retry,
    ) -> Result<Self, RestError> {
        let EntraSettings { graph, login, tenant, username_attribute, only_groups } = settings;
        let Credentials::Basic { username, password } = credentials else {
            return Err(RestError::Config(
                "Entra ID signs in with an app registration: give --username <application (client) id> and --password-file/--password-env <client secret>".into(),
            ));
        };
        let url = format!("{}/{tenant}/oauth2/v2.0/token", login.trim_end_matches('/'));
        let scope = Some("https://graph.microsoft.com/.default".to_string());
        let tokens =
            TokenSource::new(TokenRequest::Form { url, client_id: username, secret: password, scope }, timeout);
        let graph = Http::new(
            &format!("{}/v1.0", graph.trim_end_matches('/')),
            Credentials::Bearer { token: String::new() },
            timeout,
        )?
        .paced(retry.rate);
        Ok(Entra {
            graph,
            username_attribute: username_attribute.to_string(),
            retry,
            tokens,
            only_groups: only_groups.to_vec(),
        })
    }

    async fn fetch(&self, url: Url, query: &[(&str, &str)], requests: &mut u64) -> Result<Value, RestError> {
        Ok(self.tokens.get(&self.graph, url, query, self.retry, requests).await?.body)
    }

    /// Every item of a collection, following `@odata.nextLink` (which carries the query itself).
    async fn all(&self, path: &str, query: &[(&str, &str)], requests: &mut u64) -> Result<Vec<Value>, RestError> {
        let mut out = Vec::new();
        let mut pages = Pages::new(format!("Graph {path}"));
        let mut page = self.fetch(self.graph.url(path, &[]), query, requests).await?;
        loop {
            out.extend(page["value"].as_array().cloned().unwrap_or_default());
            match page["@odata.nextLink"].as_str().map(Url::parse) {
                Some(Ok(next)) => {
                    pages.next(next.as_str())?;
                    page = self.fetch(next, &[], requests).await?
                }
                Some(Err(e)) => return Err(RestError::Protocol(format!("@odata.nextLink is not a URL: {e}"))),
                None => return Ok(out),
            }
        }
    }

    /// One page of a delta round: its entries, and where the round goes on.
    async fn delta_page(
        &self,
        url: Url,
        query: &[(&str, &str)],
        requests: &mut u64,
    ) -> Result<(Vec<Value>, Step), RestError> {
        let mut page = self.fetch(url, query, requests).await?;
        let items = match page["value"].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        if let Some(link) = page["@odata.deltaLink"].as_str() {
            return Ok((items, Step::Done(link.to_string())));
        }
        match page["@odata.nextLink"].as_str().map(Url::parse) {
            Some(Ok(next)) => Ok((items, Step::Next(next))),
            Some(Err(e)) => Err(RestError::Protocol(format!("@odata.nextLink is not a URL: {e}"))),
            None => Err(RestError::Protocol("a delta page carried neither a next nor a delta link".into())),
        }
    }

    /// A whole delta round from `start`: its entries and the delta link the next round starts from.
    async fn round(
        &self,
        start: Url,
        query: &[(&str, &str)],
        requests: &mut u64,
    ) -> Result<(Vec<Value>, String), RestError> {
        let mut out = Vec::new();
        let mut pages = Pages::new(format!("Graph {}", start.path()));
        let (mut url, mut query) = (start, query);
        loop {
            let (items, step) = self.delta_page(url, query, requests).await?;
            out.extend(items);
            match step {
                Step::Next(next) => {
                    pages.next(next.as_str())?;
                    (url, query) = (next, &[])
                }
                Step::Done(link) => return Ok((out, link)),
            }
        }
    }

    /// The users inside the scoping groups, nested groups included; None when not scoped.
    async fn scope(&self, requests: &mut u64) -> Result<Option<BTreeSet<String>>, RestError> {
        if self.only_groups.is_empty() {
            return Ok(None);
        }
        let mut users = BTreeSet::new();
        for group in &self.only_groups {
            let path = format!("groups/{group}/transitiveMembers");
            for m in self.all(&path, &[("$select", "id"), ("$top", "999")], requests).await? {
                if m["@odata.type"] == "#microsoft.graph.user"
                    && let Some(id) = m["id"].as_str()
                {
                    users.insert(id.to_string());
                }
            }
        }
        Ok(Some(users))
    }

    fn link(text: &str) -> Result<Url, RestError> {
        Url::parse(text).map_err(|e| RestError::Protocol(format!("a stored delta link is not a URL: {e}")))
    }

    /// Everything, as the initial delta rounds give it.
    /// Everything, as the initial delta rounds give it; users go to `users` page by page.
    async fn read_all(
        &self,
        snapshot: &mut Snapshot,
        users: &mut Users<'_>,
        requests: &mut u64,
    ) -> Result<(), RestError> {
        let scope = self.scope(requests).await?;
        let (mut url, mut query): (Url, &[(&str, &str)]) =
            (self.graph.url("users/delta", &[]), &[("$select", USER_FIELDS)]);
        let mut pages = Pages::new("Graph users/delta");
        let users_link = loop {
            let (items, step) = self.delta_page(url, query, requests).await?;
            for u in items.iter().filter(|u| !removed(u)) {
                if let Some(user) = self.pulled_user(u)
                    && scope.as_ref().is_none_or(|s| s.contains(&user.external_id))
                    && !users.deliver(user).await
                {
                    return Err(RestError::Protocol("the run stopped taking users".into()));
                }
            }
            match step {
                Step::Next(next) => {
                    pages.next(next.as_str())?;
                    (url, query) = (next, &[])
                }
                Step::Done(link) => break link,
            }
        };
        let (items, groups_link) =
            self.round(self.graph.url("groups/delta", &[]), &[("$select", "displayName,members")], requests).await?;
        // Graph may spread a large group's members over several entries.
        let mut merged: BTreeMap<String, PulledGroup> = BTreeMap::new();
        for g in items.iter().filter(|g| !removed(g)) {
            let Some(id) = g["id"].as_str() else { continue };
            let entry = merged.entry(id.to_string()).or_insert_with(|| PulledGroup::new(id, String::new(), Vec::new()));
            if let Some(name) = g["displayName"].as_str() {
                entry.name = name.into();
            }
            let members = g["members@delta"].as_array().into_iter().flatten();
            entry.members.extend(members.filter(|m| !removed(m)).filter_map(|m| m["id"].as_str().map(String::from)));
        }
        snapshot.groups = merged.into_values().filter(|g| !g.name.is_empty()).collect();
        let cursor = Cursor { users: users_link, groups: groups_link, scope };
        snapshot.cursor = serde_json::to_string(&cursor).ok();
        Ok(())
    }

    async fn read_into(&self, users: &mut Users<'_>) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        let mut requests = 0;
        if let Err(e) = self.read_all(&mut snapshot, users, &mut requests).await {
            snapshot.cursor = None;
            snapshot.failed(format!("reading the directory failed: {e}"));
        }
        snapshot.requests = requests;
        snapshot
    }

    /// The changes since `cursor`.
    async fn read_since(&self, cursor: &Cursor, changes: &mut Changes, requests: &mut u64) -> Result<(), RestError> {
        let scope = self.scope(requests).await?;
        let (items, users_link) = self.round(Self::link(&cursor.users)?, &[], requests).await?;
        for u in &items {
            let Some(id) = u["id"].as_str() else { continue };
            if removed(u) {
                changes.removed_users.push(id.into());
            } else if scope.as_ref().is_none_or(|s| s.contains(id))
                && let Some(user) = self.pulled_user(u)
            {
                changes.users.push(user);
            }
        }
        // Users who joined the scope without changing themselves are read one by one.
        if let (Some(now), Some(before)) = (&scope, &cursor.scope) {
            for id in now.difference(before) {
                if changes.users.iter().any(|u| &u.external_id == id) {
                    continue;
                }
                match self.fetch(self.graph.url("users", &[id]), &[("$select", USER_FIELDS)], requests).await {
                    Ok(u) => changes.users.extend(self.pulled_user(&u)),
                    Err(RestError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let (items, groups_link) = self.round(Self::link(&cursor.groups)?, &[], requests).await?;
        let mut merged: BTreeMap<String, ChangedGroup> = BTreeMap::new();
        for g in &items {
            let Some(id) = g["id"].as_str() else { continue };
            if removed(g) {
                changes.removed_groups.push(id.into());
                continue;
            }
            let entry = merged.entry(id.to_string()).or_insert_with(|| ChangedGroup {
                external_id: id.into(),
                name: None,
                members: MemberChanges::Same,
                attributes: None,
            });
            if let Some(name) = g["displayName"].as_str() {
                entry.name = Some(name.into());
            }
            let Some(list) = g["members@delta"].as_array() else { continue };
            if matches!(entry.members, MemberChanges::Same) {
                entry.members = MemberChanges::Delta { added: Vec::new(), removed: Vec::new() };
            }
            if let MemberChanges::Delta { added, removed: gone } = &mut entry.members {
                for m in list {
                    let Some(member) = m["id"].as_str().map(String::from) else { continue };
                    if removed(m) { gone.push(member) } else { added.push(member) }
                }
            }
        }
        changes.groups = merged.into_values().collect();
        changes.scope = scope.as_ref().map(|s| s.iter().cloned().collect());
        let next = Cursor { users: users_link, groups: groups_link, scope };
        changes.cursor = serde_json::to_string(&next).ok();
        Ok(())
    }

    fn user_record(&self, u: &Value) -> Map<String, Value> {
        let text = |k: &str| u[k].as_str().unwrap_or_default();
        let user_name = match u[self.username_attribute.as_str()].as_str() {
            Some(n) if !n.is_empty() => Value::String(n.to_string()),
            _ => u["userPrincipalName"].clone(),
        };
        let email = u["mail"].as_str().or(u["userPrincipalName"].as_str());
        scim_user(&user_name, text("givenName"), text("surname"), email, u["accountEnabled"].as_bool().unwrap_or(true))
    }

    fn pulled_user(&self, u: &Value) -> Option<PulledUser> {
        Some(PulledUser { external_id: u["id"].as_str()?.to_string(), record: self.user_record(u) })
    }
}

#[async_trait]
impl Connector for Entra {
    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut requests = 0;
        if let Err(e) = self.tokens.token(&mut requests).await {
            out.push(Check::failed(format!(
                "the token request was refused ({e}): check the tenant id, the application (client) id and the client secret value (not its id)"
            )));
            return out;
        }
        out.push(Check::ok("signed in as the app registration"));
        for (path, what, permission) in
            [("users", "users", "User.Read.All"), ("groups", "groups", "GroupMember.Read.All")]
        {
            match self.fetch(self.graph.url(path, &[]), &[("$top", "1"), ("$select", "id")], &mut requests).await {
                Ok(_) => out.push(Check::ok(format!("the app may read {what}"))),
                Err(e) => {
                    out.push(Check::failed(format!(
                        "cannot read {what} ({e}); the app registration lacks the {permission} application permission (with admin consent)"
                    )));
                    return out;
                }
            }
        }
        for group in &self.only_groups {
            match self.fetch(self.graph.url("groups", &[group]), &[("$select", "id,displayName")], &mut requests).await
            {
                Ok(g) => out
                    .push(Check::ok(format!("only members of {} ({group})", g["displayName"].as_str().unwrap_or("?")))),
                Err(e) => {
                    out.push(Check::failed(format!(
                        "the scoping group {group} cannot be read ({e}): give its object id"
                    )));
                    return out;
                }
            }
        }
        out
    }

    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError> {
        let mut requests = 0;
        // Segments are percent-encoded: guests' names hold `#` (`a_b.com#EXT#@tenant…`).
        let url = self.graph.url("users", &[username]);
        match self.fetch(url, &[("$select", USER_FIELDS)], &mut requests).await {
            Ok(u) => Ok(Some(u)),
            Err(RestError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read(&self) -> Snapshot {
        let mut users = Vec::new();
        let mut snapshot = self.read_into(&mut Users::Collect(&mut users)).await;
        snapshot.users = users;
        snapshot
    }

    async fn read_streaming(&self, sink: UserSink) -> Snapshot {
        self.read_into(&mut Users::Send(&sink)).await
    }

    async fn read_changes(&self, cursor: &str) -> Changes {
        let mut changes = Changes { complete: true, ..Changes::default() };
        let Ok(cursor) = serde_json::from_str::<Cursor>(cursor) else {
            return Changes::restart("the stored delta links are unreadable");
        };
        let mut requests = 0;
        match self.read_since(&cursor, &mut changes, &mut requests).await {
            Ok(()) => {}
            // Graph answers 400 syncStateNotFound for links older than 7 days (410 elsewhere).
            Err(RestError::Rejected { status: 400 | 410, message } | RestError::NotFound { message }) => {
                changes = Changes::restart(message);
            }
            Err(e) => {
                changes.cursor = None;
                changes.failed(format!("reading the changes failed: {e}"));
            }
        }
        changes.requests = requests;
        changes
    }

    async fn read_user(&self, username: &str) -> Result<Option<(PulledUser, Vec<PulledGroup>)>, RestError> {
        let Some(found) = self.lookup(username).await? else { return Ok(None) };
        let Some(user) = self.pulled_user(&found) else {
            return Err(RestError::Protocol(format!("user {username} has no id")));
        };
        let mut requests = 0;
        let groups =
            self.all(&format!("users/{}/memberOf", user.external_id), &[("$top", "999")], &mut requests).await?;
        let groups = groups
            .iter()
            .filter(|g| g["@odata.type"].as_str() == Some("#microsoft.graph.group"))
            .filter_map(|g| {
                Some(PulledGroup::new(g["id"].as_str()?, g["displayName"].as_str()?, vec![user.external_id.clone()]))
            })
            .collect();
        Ok(Some((user, groups)))
    }
}
