//! LDAP and Active Directory (external-apis.md A8): a simple bind over LDAP, LDAPS or StartTLS,
//! users and groups read with the paged-results control, memberships from `member`/`uniqueMember`/
//! `memberUid` or from `memberOf`, nested groups kept as groups inside groups (the engine
//! flattens them), disabled accounts from `userAccountControl` or a lock attribute.

mod departures;
mod dn;
mod entry;
mod read;
mod settings;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry};
use rest::{Check, Credentials, RestError};
use serde_json::Value;

use crate::{ChangedGroup, Changes, Connector, MemberChanges, PulledGroup, PulledUser, Snapshot, UserSink, Users};
use dn::canonical;
use entry::{Entry, manager_dn, set_manager};
pub use settings::{Directory, LdapSettings, Membership};

pub struct LdapSource {
    settings: LdapSettings,
    bind_dn: String,
    password: String,
    timeout: Duration,
}

impl LdapSource {
    pub fn new(settings: LdapSettings, credentials: Credentials, timeout: Duration) -> Result<Self, RestError> {
        let Credentials::Basic { username, password } = credentials else {
            return Err(RestError::Config(
                "an LDAP source binds with a DN and password: give --username BIND_DN and --password-file/--password-env"
                    .into(),
            ));
        };
        if settings.user_bases.is_empty() {
            return Err(RestError::Config("an LDAP source needs at least one --user-base".into()));
        }
        let problems = settings.problems();
        if !problems.is_empty() {
            return Err(RestError::Config(problems.join("; ")));
        }
        if !(settings.url.starts_with("ldap://") || settings.url.starts_with("ldaps://")) {
            return Err(RestError::Config(format!(
                "'{}' is not an LDAP URL: give ldap://host:389 (with --starttls to encrypt) or ldaps://host:636",
                settings.url
            )));
        }
        Ok(LdapSource { settings, bind_dn: username, password, timeout })
    }

    fn tls_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>, RestError> {
        let Some(path) = &self.settings.ca_file else { return Ok(None) };
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| RestError::Config(format!("cannot read the CA file {path}: {e}")))?;
        for cert in certs {
            let cert = cert.map_err(|e| RestError::Config(format!("the CA file {path} is not PEM: {e}")))?;
            roots.add(cert).map_err(|e| {
                RestError::Config(format!("the CA file {path} holds a certificate rustls refuses: {e}"))
            })?;
        }
        if roots.is_empty() {
            return Err(RestError::Config(format!("the CA file {path} holds no certificate")));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| RestError::Config(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(Arc::new(config)))
    }

    /// A bound connection.
    async fn connect(&self) -> Result<Ldap, RestError> {
        let mut settings = LdapConnSettings::new().set_conn_timeout(self.timeout).set_starttls(self.settings.starttls);
        if !self.settings.tls_verify {
            settings = settings.set_no_tls_verify(true);
        } else if let Some(config) = self.tls_config()? {
            settings = settings.set_config(config);
        }
        let (connection, mut ldap) =
            LdapConnAsync::with_settings(settings, &self.settings.url).await.map_err(|e| self.connection_error(e))?;
        ldap3::drive!(connection);
        let bound = ldap
            .with_timeout(self.timeout)
            .simple_bind(&self.bind_dn, &self.password)
            .await
            .map_err(|e| self.connection_error(e))?;
        if bound.rc == 49 {
            return Err(RestError::Unauthorized { message: bind_refused(&self.bind_dn, &bound.text) });
        }
        result_error(bound, "bind")?;
        Ok(ldap)
    }

    /// Every entry under `base` matching `filter`, a page at a time; counts the pages in
    /// `requests`. Continuation references (other partitions, other servers) are skipped.
    async fn search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        filter: &str,
        attributes: &[String],
        requests: &mut u64,
    ) -> Result<Vec<Entry>, RestError> {
        let mut search = self.open_search(ldap, base, filter, attributes).await?;
        let mut entries = Vec::new();
        while let Some(entry) = search.next().await? {
            entries.push(entry);
        }
        search.finish(requests).await?;
        Ok(entries)
    }

    /// Reads the rest of every group's members that Active Directory handed out in ranges
    /// (`member;range=0-1499`, then `member;range=1500-*`, …), one base search per range.
    async fn complete_ranges(
        &self,
        ldap: &mut Ldap,
        groups: &mut [Entry],
        requests: &mut u64,
    ) -> Result<(), RestError> {
        for group in groups.iter_mut() {
            let mut last = 0;
            while let Some(next) = group.fold_range("member") {
                if next <= last {
                    return Err(RestError::Protocol(format!(
                        "group {} answered the member range from {next} after the one from {last}; the server repeats itself",
                        group.dn
                    )));
                }
                last = next;
                *requests += 1;
                rest::sent::sent(1);
                let attribute = format!("member;range={next}-*");
                let (found, _) = ldap
                    .with_timeout(self.timeout)
                    .search(&group.dn, Scope::Base, "(objectClass=*)", vec![attribute])
                    .await
                    .and_then(ldap3::SearchResult::success)
                    .map_err(|e| search_error(&group.dn, e))?;
                let Some(more) = found.into_iter().next() else {
                    return Err(RestError::Protocol(format!(
                        "group {} went away while its members were read",
                        group.dn
                    )));
                };
                group.absorb_range("member", Entry::new(SearchEntry::construct(more), self.settings.id_attribute()));
            }
        }
        Ok(())
    }

    /// A paged search whose entries are taken one at a time (a directory need not fit in memory).
    async fn open_search<'a>(
        &self,
        ldap: &mut Ldap,
        base: &'a str,
        filter: &str,
        attributes: &[String],
    ) -> Result<Search<'a>, RestError> {
        let page = i32::try_from(self.settings.page_size.max(1)).unwrap_or(1000);
        let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(page))];
        let stream = ldap
            .with_timeout(self.timeout)
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attributes.to_vec())
            .await
            .map_err(|e| search_error(base, e))?;
        Ok(Search {
            stream,
            base,
            id_attribute: self.settings.id_attribute(),
            page: u64::from(self.settings.page_size.max(1)),
            read: 0,
            seen: HashSet::new(),
        })
    }

    /// Whether `dn` is inside the scoping group, following groups upwards one search per level.
    async fn in_scope(&self, ldap: &mut Ldap, dn: &str, username: &str, requests: &mut u64) -> Result<bool, RestError> {
        let scopes: HashSet<String> = self.settings.only_groups.iter().map(|g| canonical(g)).collect();
        let attributes = vec![self.settings.id_attribute().to_string()];
        let mut seen = HashSet::new();
        let mut frontier = vec![(dn.to_string(), username.to_string())];
        while let Some((dn, name)) = frontier.pop() {
            for base in self.settings.group_bases() {
                let filter = self.settings.groups_of_filter(&dn, &name);
                for group in self.search(ldap, base, &filter, &attributes, requests).await? {
                    let key = canonical(&group.dn);
                    if scopes.contains(&key) {
                        return Ok(true);
                    }
                    if seen.insert(key) {
                        frontier.push((group.dn, String::new()));
                    }
                }
            }
        }
        Ok(false)
    }

    fn pulled_user(&self, entry: &Entry) -> Result<PulledUser, String> {
        entry.user(self.settings.username_attribute(), self.settings.disabled_attribute(), &self.settings.attributes)
    }
}

impl LdapSource {
    /// Whether this source can be read by changes: a scope or memberships read from `memberOf`
    /// need the whole directory to tell who left.
    fn incremental(&self) -> bool {
        self.settings.only_groups.is_empty() && self.settings.membership == Membership::Member
    }

    /// The cursor after reading `entries`: the latest value of the best change attribute they
    /// carry (`attribute:value`), or `since` when none is later.
    fn high_mark<'a>(&self, entries: impl Iterator<Item = &'a Entry> + Clone, since: Option<&str>) -> Option<String> {
        let attribute = self
            .settings
            .change_attributes()
            .iter()
            .find(|a| entries.clone().any(|e| e.first(a).is_some()))
            .copied()
            .or_else(|| since.and_then(|s| s.split_once(':')).map(|(a, _)| a))
            .and_then(|a| self.settings.change_attributes().iter().find(|known| **known == a).copied())?;
        let before = since.and_then(|s| s.strip_prefix(&format!("{attribute}:")));
        let marks = entries.filter_map(|e| e.first(attribute)).chain(before);
        let latest = match attribute {
            "uSNChanged" => marks.filter_map(|m| m.parse::<u64>().ok()).max().map(|n| n.to_string()),
            // CSNs and GeneralizedTime of one server share a format and sort as text.
            _ => marks.max().map(String::from),
        };
        latest.map(|value| format!("{attribute}:{value}"))
    }

    /// The external ids of the entries named by `dns` (users or groups), 500 names per search:
    /// user bases first, then group bases for what is left; names idsync does not read are left
    /// out.
    async fn ids_of_dns(
        &self,
        ldap: &mut Ldap,
        dns: &[String],
        requests: &mut u64,
    ) -> Result<HashMap<String, String>, RestError> {
        let mut out = HashMap::new();
        // The server is asked for the DNs as it wrote them (it compares DNs by their meaning);
        // what it answers is matched by canonical form.
        let wanted: BTreeMap<String, &String> = dns.iter().map(|dn| (canonical(dn), dn)).collect();
        let mut searched: Vec<&String> = Vec::new();
        for base in self.settings.user_bases.iter().chain(self.settings.group_bases()) {
            if searched.contains(&base) {
                continue;
            }
            searched.push(base);
            let left: Vec<String> =
                wanted.iter().filter(|(key, _)| !out.contains_key(*key)).map(|(_, dn)| (*dn).clone()).collect();
            let dn = self.settings.dn_attribute();
            for entry in self.find_any(ldap, base, "(objectClass=*)", dn, &left, requests).await? {
                if let Some(id) = entry.id {
                    out.insert(canonical(&entry.dn), id);
                }
            }
        }
        Ok(out)
    }

    /// The entries under `base` matching `scope` whose `attribute` is one of `values`, 500
    /// values to a search; each with its id and that attribute.
    async fn find_any(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: &str,
        attribute: &str,
        values: &[String],
        requests: &mut u64,
    ) -> Result<Vec<Entry>, RestError> {
        let attributes = vec![self.settings.id_attribute().to_string(), attribute.to_string()];
        let mut out = Vec::new();
        for batch in values.chunks(500) {
            let any: String =
                batch.iter().map(|v| format!("({attribute}={})", ldap3::ldap_escape(v.as_str()))).collect();
            out.extend(self.search(ldap, base, &format!("(&{scope}(|{any}))"), &attributes, requests).await?);
        }
        Ok(out)
    }

    /// Users and groups changed since `since`, each changed group with its whole membership.
    async fn changes_since(&self, since: &str, changes: &mut Changes) -> Result<(), RestError> {
        let mut ldap = self.connect().await?;
        let mut requests = 0;
        let mut users = Vec::new();
        let unreadable = || RestError::Config(format!("the stored change mark '{since}' is unreadable"));
        let filter = self.settings.changed_since(&self.settings.users_filter(), since).ok_or_else(unreadable)?;
        for base in &self.settings.user_bases {
            users.extend(self.search(&mut ldap, base, &filter, &self.settings.user_attributes(), &mut requests).await?);
        }
        let mut groups = Vec::new();
        let filter = self.settings.changed_since(&self.settings.group_filter(), since).ok_or_else(unreadable)?;
        for base in self.settings.group_bases() {
            groups
                .extend(self.search(&mut ldap, base, &filter, &self.settings.group_attributes(), &mut requests).await?);
        }
        let (users, mut groups) = (dedup(users), dedup(groups));
        self.complete_ranges(&mut ldap, &mut groups, &mut requests).await?;
        let mut pulled = Vec::new();
        for entry in &users {
            match self.pulled_user(entry) {
                Ok(user) => pulled.push(user),
                Err(problem) => changes.failed(problem),
            }
        }
        // One lookup for the member DNs of changed groups and the managers of changed users.
        let member_dns: Vec<String> = groups
            .iter()
            .flat_map(|g| g.values("member").chain(g.values("uniqueMember")))
            .map(String::from)
            .chain(pulled.iter().filter_map(|u| manager_dn(&u.record)))
            .collect();
        let ids = self.ids_of_dns(&mut ldap, &member_dns, &mut requests).await?;
        let mut uids: Vec<String> = groups.iter().flat_map(|g| g.values("memberUid")).map(str::to_lowercase).collect();
        uids.sort();
        uids.dedup();
        let mut id_of_uid = HashMap::new();
        let (scope, name) = (self.settings.users_filter(), self.settings.username_attribute());
        for base in &self.settings.user_bases {
            for entry in self.find_any(&mut ldap, base, &scope, name, &uids, &mut requests).await? {
                if let (Some(id), Some(uid)) = (entry.id.clone(), entry.first(name)) {
                    id_of_uid.insert(uid.to_lowercase(), id);
                }
            }
        }
        // AD: a group's primary members (users whose primaryGroupID is its token) are not in its
        // member attribute.
        let tokens: Vec<String> =
            groups.iter().filter_map(|g| g.first("primaryGroupToken").map(String::from)).collect();
        let mut primary: HashMap<String, Vec<String>> = HashMap::new();
        if !tokens.is_empty() {
            for base in &self.settings.user_bases {
                for entry in self.find_any(&mut ldap, base, &scope, "primaryGroupID", &tokens, &mut requests).await? {
                    if let (Some(id), Some(rid)) = (entry.id.clone(), entry.first("primaryGroupID")) {
                        primary.entry(rid.to_string()).or_default().push(id);
                    }
                }
            }
        }
        self.departures(&mut ldap, since, changes, &mut requests).await?;
        let _ = ldap.unbind().await;
        for group in &groups {
            let (Some(id), Some(name)) = (group.id.clone(), group.first(self.settings.group_name_attribute())) else {
                changes.failed(format!("group {} has no {}", group.dn, self.settings.id_attribute()));
                continue;
            };
            let mut members: Vec<String> = group
                .values("member")
                .chain(group.values("uniqueMember"))
                .filter_map(|dn| ids.get(&canonical(dn)).cloned())
                .chain(group.values("memberUid").filter_map(|u| id_of_uid.get(&u.to_lowercase()).cloned()))
                .chain(group.first("primaryGroupToken").and_then(|t| primary.get(t)).into_iter().flatten().cloned())
                .collect();
            members.sort();
            members.dedup();
            changes.groups.push(ChangedGroup {
                external_id: id,
                name: Some(name.into()),
                members: MemberChanges::All(members),
                attributes: Some(group.extra_attributes()),
            });
        }
        for mut user in pulled {
            if let Some(dn) = manager_dn(&user.record) {
                set_manager(&mut user.record, ids.get(&canonical(&dn)).map(String::as_str));
            }
            changes.users.push(user);
        }
        changes.cursor = self.high_mark(users.iter().chain(&groups), Some(since));
        changes.requests = requests;
        Ok(())
    }
}

/// A search in progress.
struct Search<'a> {
    stream: ldap3::SearchStream<'static, String, Vec<String>>,
    base: &'a str,
    id_attribute: &'static str,
    page: u64,
    read: u64,
    /// Hashes of the DNs returned so far.
    seen: HashSet<u64>,
}

impl Search<'_> {
    /// The next entry. A search returns each entry once, so a DN met again means the server
    /// pages in a circle (the paged-results cookie leads back); and no search runs past
    /// `MAX_PAGES` pages.
    async fn next(&mut self) -> Result<Option<Entry>, RestError> {
        let found = self.stream.next().await.map_err(|e| search_error(self.base, e))?;
        let Some(found) = found else { return Ok(None) };
        self.read += 1;
        let entry = Entry::new(SearchEntry::construct(found), self.id_attribute);
        let key = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            canonical(&entry.dn).hash(&mut hasher);
            hasher.finish()
        };
        if !self.seen.insert(key) {
            return Err(RestError::Protocol(format!(
                "the search under {} returned {} a second time; the server pages in a circle, so the read stops there",
                self.base, entry.dn
            )));
        }
        if self.read > crate::paging::MAX_PAGES as u64 * self.page {
            return Err(RestError::Protocol(format!(
                "the search under {} went on for more than {} pages, so the read stops there",
                self.base,
                crate::paging::MAX_PAGES
            )));
        }
        Ok(Some(entry))
    }

    /// The search's outcome; counts its pages in `requests`.
    async fn finish(mut self, requests: &mut u64) -> Result<(), RestError> {
        result_error(self.stream.finish().await, &format!("search under {}", self.base))?;
        let pages = 1 + self.read / self.page;
        *requests += pages;
        rest::sent::sent(pages);
        Ok(())
    }
}

/// Entries found under two overlapping bases count once.
fn dedup(entries: Vec<Entry>) -> Vec<Entry> {
    let mut seen = HashSet::new();
    entries.into_iter().filter(|e| seen.insert(canonical(&e.dn))).collect()
}

#[async_trait]
impl Connector for LdapSource {
    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut ldap = match self.connect().await {
            Ok(l) => l,
            Err(e) => {
                out.push(Check::failed(e.to_string()));
                return out;
            }
        };
        let encrypted = self.settings.url.starts_with("ldaps://") || self.settings.starttls;
        let how = if encrypted && !self.settings.tls_verify {
            "encrypted, but without checking the server's certificate (--tls-verify false: a lab only)"
        } else if self.settings.url.starts_with("ldaps://") {
            "over LDAPS"
        } else if self.settings.starttls {
            "with StartTLS"
        } else {
            "without encryption (use ldaps:// or --starttls outside a lab)"
        };
        out.push(Check::ok(format!("bound to {} as {} {how}", self.settings.url, self.bind_dn)));
        let mut requests = 0;
        for base in &self.settings.user_bases {
            let probe = self
                .search(&mut ldap, base, &self.settings.users_filter(), &self.settings.user_attributes(), &mut requests)
                .await;
            match probe {
                Ok(users) if users.is_empty() => {
                    out.push(Check::failed(format!(
                        "no user under {base} matches {}: check the base DN and the user filter, and that the bind account may read these entries",
                        self.settings.users_filter()
                    )));
                    return out;
                }
                Ok(users) => {
                    let unusable = users.iter().filter(|u| self.pulled_user(u).is_err()).count();
                    if unusable > 0 {
                        let example = users.iter().find_map(|u| self.pulled_user(u).err()).unwrap_or_default();
                        out.push(Check::failed(format!(
                            "{unusable} of {} users under {base} cannot be read ({example})",
                            users.len()
                        )));
                        return out;
                    }
                    out.push(Check::ok(format!("{} users under {base}", users.len())));
                }
                Err(e) => {
                    out.push(Check::failed(e.to_string()));
                    return out;
                }
            }
        }
        for base in self.settings.group_bases() {
            match self
                .search(
                    &mut ldap,
                    base,
                    &self.settings.group_filter(),
                    &self.settings.group_attributes(),
                    &mut requests,
                )
                .await
            {
                Ok(groups) => out.push(Check::ok(format!("{} groups under {base}", groups.len()))),
                Err(e) => {
                    out.push(Check::failed(e.to_string()));
                    return out;
                }
            }
        }
        out
    }

    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError> {
        let mut ldap = self.connect().await?;
        let mut requests = 0;
        let every = vec!["*".to_string(), "+".to_string()];
        for base in &self.settings.user_bases {
            let found =
                self.search(&mut ldap, base, &self.settings.lookup_filter(username), &every, &mut requests).await?;
            if let Some(entry) = found.into_iter().next() {
                return Ok(Some(entry.to_json()));
            }
        }
        Ok(None)
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
        if !self.incremental() {
            return Changes::restart("a source scoped to a group, or reading memberOf, is read in full");
        }
        let mut changes = Changes { complete: true, ..Changes::default() };
        match self.changes_since(cursor, &mut changes).await {
            Ok(()) => {}
            Err(RestError::Config(problem)) => changes = Changes::restart(problem),
            Err(e) => changes.failed(format!("reading the changes failed: {e}")),
        }
        changes
    }

    async fn read_user(&self, username: &str) -> Result<Option<(PulledUser, Vec<PulledGroup>)>, RestError> {
        let mut ldap = self.connect().await?;
        let mut requests = 0;
        let mut found = None;
        for base in &self.settings.user_bases {
            let filter = self.settings.one_user_filter(username);
            if let Some(entry) = self
                .search(&mut ldap, base, &filter, &self.settings.user_attributes(), &mut requests)
                .await?
                .into_iter()
                .next()
            {
                found = Some(entry);
                break;
            }
        }
        let Some(entry) = found else { return Ok(None) };
        let user = self.pulled_user(&entry).map_err(RestError::Protocol)?;
        let name = user.record.get("userName").and_then(Value::as_str).unwrap_or(username).to_string();
        let mut groups = Vec::new();
        for base in self.settings.group_bases() {
            let filter = self.settings.groups_of_filter(&entry.dn, &name);
            let attributes =
                vec![self.settings.id_attribute().to_string(), self.settings.group_name_attribute().to_string()];
            for group in self.search(&mut ldap, base, &filter, &attributes, &mut requests).await? {
                if let (Some(id), Some(group_name)) =
                    (group.id.clone(), group.first(self.settings.group_name_attribute()))
                {
                    groups.push(PulledGroup::new(id, group_name, vec![user.external_id.clone()]));
                }
            }
        }
        if self.settings.scope_after_reading() && !self.in_scope(&mut ldap, &entry.dn, &name, &mut requests).await? {
            return Ok(None);
        }
        let _ = ldap.unbind().await;
        Ok(Some((user, groups)))
    }
}

/// Why the directory refused a bind. Active Directory names the reason in the diagnostic text
/// (`…AcceptSecurityContext error, data 775, …`): a locked or disabled account is not a wrong
/// password, and each wants a different fix.
fn bind_refused(bind_dn: &str, diagnostic: &str) -> String {
    let code = diagnostic.split("data ").nth(1).and_then(|rest| rest.split([',', ' ']).next()).unwrap_or_default();
    let reason = match code.to_ascii_lowercase().as_str() {
        "525" => "the account does not exist: check the bind DN (on Active Directory also user@domain)",
        "530" => "the account may not sign in at this time of day: widen its logon hours",
        "531" => "the account may not sign in from this computer: allow it in 'Log On To' (userWorkstations)",
        "532" => {
            "the account's password has expired: set a new one (and consider 'password never expires' for a service account)"
        }
        "533" => "the account is disabled: enable it in Active Directory",
        "701" => "the account has expired: extend its expiry date (accountExpires)",
        "773" => {
            "the account must change its password before it may sign in: set a new password without 'must change at next logon'"
        }
        "775" => {
            "the account is locked out after failed sign-ins: unlock it, then check that idsync has the current password"
        }
        _ => "invalid credentials: check the bind DN (on Active Directory also user@domain) and the password",
    };
    format!("the directory refused the bind as '{bind_dn}': {reason}")
}

impl LdapSource {
    /// A failed connection in words that name the likely mistake: TLS to a port that speaks none,
    /// plain LDAP to the LDAPS port, a CA file that does not sign the server's certificate.
    fn connection_error(&self, e: LdapError) -> RestError {
        let url = &self.settings.url;
        let detail = e.to_string();
        let tls = url.starts_with("ldaps://") || self.settings.starttls;
        let hint = if detail.contains("certificate")
            || detail.contains("UnknownIssuer")
            || detail.contains("Certificate")
        {
            match &self.settings.ca_file {
                Some(file) => format!(
                    "; the CA in --ca-file {file} does not sign the server's certificate: give the CA that issued it (the server's chain shows which)"
                ),
                None => "; the server's certificate is not trusted: give --ca-file with the CA that signed it".into(),
            }
        } else if url.starts_with("ldaps://")
            && (detail.contains("handshake eof") || detail.contains("corrupt message"))
        {
            "; the server does not speak TLS on this port: use ldaps:// with the LDAPS port (636), or ldap:// with this port (and --starttls to encrypt)".into()
        } else if !tls
            && (detail.contains("channel closed") || detail.contains("reset") || detail.contains("end of file"))
        {
            "; the server closed the connection at once, as an LDAPS port (636) does to plain LDAP: use ldaps:// for that port".into()
        } else if detail.contains("refused") {
            "; is the server running, and is the port right (389 for ldap://, 636 for ldaps://)?".into()
        } else if detail.contains("failed to lookup") || detail.contains("Name or service not known") {
            format!("; the name in {url} does not resolve: check the host name and DNS")
        } else if matches!(e, LdapError::Timeout { .. }) {
            "; the server did not answer in time".into()
        } else {
            String::new()
        };
        RestError::Unreachable { detail: format!("cannot connect to {url}: {detail}{hint}") }
    }
}

fn search_error(base: &str, e: LdapError) -> RestError {
    match e {
        LdapError::LdapResult { result } => {
            result_error(result, &format!("search under {base}")).err().unwrap_or(RestError::Protocol(base.into()))
        }
        LdapError::FilterParsing => RestError::Config(format!(
            "the filter for {base} is not a valid LDAP filter: check --user-filter/--group-filter"
        )),
        other => RestError::Unreachable { detail: format!("search under {base}: {other}") },
    }
}

/// An LDAP result code in words an administrator can act on; success passes.
fn result_error(result: LdapResult, what: &str) -> Result<(), RestError> {
    let text = if result.text.is_empty() { String::new() } else { format!(" ({})", result.text) };
    let message = format!("{what}: result code {}{text}", result.rc);
    Err(match result.rc {
        0 => return Ok(()),
        10 => RestError::Rejected {
            status: 10,
            message: format!(
                "{message}: the server refers this base to another server ({}); point --url at that server, or at the Global Catalog (port 3268) for a whole forest",
                result.refs.join(", ")
            ),
        },
        32 => RestError::NotFound {
            message: format!(
                "{message}: the base DN does not exist, or the bind account may not see it; check --user-base/--group-base and the directory's access rules"
            ),
        },
        49 => RestError::Unauthorized { message },
        50 => RestError::Forbidden { message: format!("{message}: the bind account lacks the right to read there") },
        51..=53 => RestError::Server {
            status: 503,
            retry_after: None,
            message: format!("{message}: the server is busy or unavailable"),
        },
        3 | 4 | 11 => RestError::Rejected {
            status: u16::try_from(result.rc).unwrap_or(0),
            message: format!(
                "{message}: a server limit cut the search short; lower --page-size or raise the bind account's limits"
            ),
        },
        rc => RestError::Rejected { status: u16::try_from(rc).unwrap_or(0), message },
    })
}
