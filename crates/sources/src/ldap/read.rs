//! A full read of the directory: users streamed to the run as the pages arrive (only the names
//! and ids needed to resolve memberships stay behind), then the groups, their members resolved by
//! DN or username, and the scope applied when the directory cannot apply it itself.

use std::collections::{HashMap, HashSet};

use rest::RestError;

use super::dn::canonical;
use super::entry::{Entry, manager_dn, set_manager};
use super::{LdapSource, Membership, dedup};
use crate::{PulledGroup, Snapshot, Users};

/// What the group pass needs to know of the users read: external ids by DN and by username, and
/// for memberOf, the groups each named.
#[derive(Default)]
struct UserIndex {
    by_dn: HashMap<String, String>,
    by_name: HashMap<String, String>,
    member_of: Vec<(String, Vec<String>)>,
    /// AD: each user's primary group (the RID in primaryGroupID), which that group's `member`
    /// does not list.
    primary: Vec<(String, String)>,
}

impl UserIndex {
    /// The external id of the manager a user record names by DN, when the source read it.
    fn manager(&self, dn: &str) -> Option<&str> {
        self.by_dn.get(&canonical(dn)).map(String::as_str)
    }
}

impl LdapSource {
    pub(super) async fn read_into(&self, users: &mut Users<'_>) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        if let Err(e) = self.read_directory(users, &mut snapshot).await {
            snapshot.cursor = None;
            snapshot.failed(format!("reading the directory failed: {e}"));
        }
        snapshot
    }

    async fn read_directory(&self, users: &mut Users<'_>, snapshot: &mut Snapshot) -> Result<(), RestError> {
        let mut ldap = self.connect().await?;
        let mut requests = 0;
        let mut index = UserIndex::default();
        let mut seen = HashSet::new();
        // The latest change mark seen so far: the cursor of the next incremental read.
        let mut mark: Option<String> = None;
        // A scope idsync applies itself needs every group first: those users wait.
        let mut held = Vec::new();
        let mut awaiting_manager = Vec::new();
        let filter = self.settings.users_filter();
        for base in &self.settings.user_bases {
            let mut search = self.open_search(&mut ldap, base, &filter, &self.settings.user_attributes()).await?;
            while let Some(entry) = search.next().await? {
                if !seen.insert(canonical(&entry.dn)) {
                    continue;
                }
                let user = match self.pulled_user(&entry) {
                    Ok(user) => user,
                    Err(problem) => {
                        snapshot.failed(problem);
                        continue;
                    }
                };
                index.by_dn.insert(canonical(&entry.dn), user.external_id.clone());
                if let Some(name) = user.record.get("userName").and_then(|v| v.as_str()) {
                    index.by_name.insert(name.to_lowercase(), user.external_id.clone());
                }
                if let Some(rid) = entry.first("primaryGroupID") {
                    index.primary.push((user.external_id.clone(), rid.to_string()));
                }
                if self.settings.membership == Membership::MemberOf {
                    index
                        .member_of
                        .push((user.external_id.clone(), entry.values("memberOf").map(String::from).collect()));
                }
                if self.incremental() {
                    mark = self.high_mark(std::iter::once(&entry), mark.as_deref());
                }
                let mut user = user;
                match manager_dn(&user.record) {
                    // The manager comes later in the read: the user waits for it.
                    Some(dn) if !index.by_dn.contains_key(&canonical(&dn)) => {
                        awaiting_manager.push(user);
                        continue;
                    }
                    Some(dn) => set_manager(&mut user.record, index.manager(&dn)),
                    None => {}
                }
                if self.settings.scope_after_reading() {
                    held.push(user);
                } else if !users.deliver(user).await {
                    return Err(RestError::Protocol("the run stopped taking users".into()));
                }
            }
            search.finish(&mut requests).await?;
        }
        // Managers outside what the source reads are nobody it provisions: the link is dropped.
        for mut user in awaiting_manager {
            let manager = manager_dn(&user.record).and_then(|dn| index.manager(&dn).map(String::from));
            set_manager(&mut user.record, manager.as_deref());
            if self.settings.scope_after_reading() {
                held.push(user);
            } else if !users.deliver(user).await {
                return Err(RestError::Protocol("the run stopped taking users".into()));
            }
        }
        let mut groups = Vec::new();
        let filter = self.settings.group_filter();
        for base in self.settings.group_bases() {
            groups
                .extend(self.search(&mut ldap, base, &filter, &self.settings.group_attributes(), &mut requests).await?);
        }
        let mut groups = dedup(groups);
        self.complete_ranges(&mut ldap, &mut groups, &mut requests).await?;
        let _ = ldap.unbind().await;
        snapshot.requests += requests;
        for group in groups.iter().filter(|g| g.id.is_none()) {
            snapshot.failed(format!(
                "group {} has no {}: the bind account must be able to read it",
                group.dn,
                self.settings.id_attribute()
            ));
        }
        if self.incremental() {
            snapshot.cursor = self.high_mark(groups.iter(), mark.as_deref());
        }
        snapshot.groups = self.resolve_members(&index, &groups);
        if self.settings.scope_after_reading() {
            let mut members = HashSet::new();
            for scope in &self.settings.only_groups {
                let Some(root) =
                    groups.iter().find(|g| canonical(&g.dn) == canonical(scope)).and_then(|g| g.id.clone())
                else {
                    snapshot.failed(format!(
                        "the group {scope} that scopes this source was not found under the group bases"
                    ));
                    return Ok(());
                };
                members.extend(members_in_chain(&snapshot.groups, &root));
            }
            for user in held.into_iter().filter(|u| members.contains(&u.external_id)) {
                if !users.deliver(user).await {
                    return Err(RestError::Protocol("the run stopped taking users".into()));
                }
            }
        }
        Ok(())
    }

    /// Who is in which group, by external id: groups list members (or users and groups list the
    /// groups they are in); member DNs outside what was read (other bases, filtered out) are left
    /// out.
    fn resolve_members(&self, index: &UserIndex, groups: &[Entry]) -> Vec<PulledGroup> {
        let mut out: Vec<PulledGroup> = Vec::new();
        let mut index_of_dn = HashMap::new();
        for group in groups {
            let (Some(id), Some(name)) = (group.id.clone(), group.first(self.settings.group_name_attribute())) else {
                continue;
            };
            index_of_dn.insert(canonical(&group.dn), out.len());
            let mut pulled = PulledGroup::new(id, name.to_string(), Vec::new());
            pulled.attributes = group.extra_attributes();
            out.push(pulled);
        }
        let group_ids: HashMap<String, String> =
            index_of_dn.iter().map(|(dn, i)| (dn.clone(), out[*i].external_id.clone())).collect();
        let member_id = |dn: &str| -> Option<String> {
            let dn = canonical(dn);
            group_ids.get(&dn).or_else(|| index.by_dn.get(&dn)).cloned()
        };
        match self.settings.membership {
            Membership::Member => {
                for group in groups {
                    let Some(&at) = index_of_dn.get(&canonical(&group.dn)) else { continue };
                    let mut members: Vec<String> = group
                        .values("member")
                        .chain(group.values("uniqueMember"))
                        .filter_map(&member_id)
                        .chain(
                            group.values("memberUid").filter_map(|uid| index.by_name.get(&uid.to_lowercase()).cloned()),
                        )
                        .collect();
                    if let Some(token) = group.first("primaryGroupToken") {
                        members.extend(index.primary.iter().filter(|(_, rid)| rid == token).map(|(id, _)| id.clone()));
                    }
                    members.sort();
                    members.dedup();
                    out[at].members = members;
                }
            }
            Membership::MemberOf => {
                let nested = groups
                    .iter()
                    .filter_map(|g| Some((g.id.clone()?, g.values("memberOf").map(String::from).collect())));
                for (id, group_dns) in index.member_of.iter().cloned().chain(nested) {
                    for group_dn in group_dns {
                        if let Some(&at) = index_of_dn.get(&canonical(&group_dn)) {
                            out[at].members.push(id.clone());
                        }
                    }
                }
            }
        }
        out
    }
}

/// The users who are members of `group`, directly or through groups inside it.
pub(super) fn members_in_chain(groups: &[PulledGroup], group: &str) -> HashSet<String> {
    let by_id: HashMap<&str, &PulledGroup> = groups.iter().map(|g| (g.external_id.as_str(), g)).collect();
    let mut seen = HashSet::new();
    let mut queue = vec![group.to_string()];
    let mut members = HashSet::new();
    while let Some(id) = queue.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(g) = by_id.get(id.as_str()) else { continue };
        for member in &g.members {
            if by_id.contains_key(member.as_str()) {
                queue.push(member.clone());
            } else {
                members.insert(member.clone());
            }
        }
    }
    members
}
