//! What left the directory between full reads. A change search sees what changed under the
//! bases, not what was deleted or moved away, so an incremental run also asks for departures:
//! where the bind account may (a privileged AD account), the tombstones in Deleted Objects
//! (Show Deleted control) and the entries whose change moved them out of the bases, both in
//! proportion to what changed; otherwise, and on OpenLDAP, a listing of ids alone (nothing else
//! is read) of everything under the bases, against which the store's copy is compared.

use ldap3::controls::RawControl;
use ldap3::{Ldap, Scope, SearchEntry};
use rest::RestError;

use super::dn::canonical;
use super::entry::Entry;
use super::settings::Directory;
use super::{LdapSource, search_error};
use crate::Changes;

/// LDAP_SERVER_SHOW_DELETED_OID.
const SHOW_DELETED: &str = "1.2.840.113556.1.4.417";

impl LdapSource {
    pub(super) async fn departures(
        &self,
        ldap: &mut Ldap,
        since: &str,
        changes: &mut Changes,
        requests: &mut u64,
    ) -> Result<(), RestError> {
        if self.settings.directory == Directory::Ad && self.tombstones(ldap, since, changes, requests).await? {
            return Ok(());
        }
        self.list_ids(ldap, changes, requests).await
    }

    /// AD's tombstones since `since` and the entries moved out of the bases; false when the
    /// account may not list Deleted Objects (nothing is changed then).
    async fn tombstones(
        &self,
        ldap: &mut Ldap,
        since: &str,
        changes: &mut Changes,
        requests: &mut u64,
    ) -> Result<bool, RestError> {
        let Some(root) = self.settings.user_bases.first().map(|b| domain_root(b)).filter(|r| !r.is_empty()) else {
            return Ok(false);
        };
        let deleted = format!("CN=Deleted Objects,{root}");
        let Some(filter) = self.settings.changed_since("(isDeleted=TRUE)", since) else { return Ok(false) };
        let id = self.settings.id_attribute();
        *requests += 1;
        let found = ldap
            .with_controls(vec![RawControl { ctype: SHOW_DELETED.into(), crit: true, val: None }])
            .with_timeout(self.timeout)
            .search(&deleted, Scope::OneLevel, &filter, vec![id, "objectClass"])
            .await
            .map_err(|e| search_error(&deleted, e))?;
        // No such object, no access, or more tombstones than one answer holds: list ids instead.
        if found.1.rc != 0 {
            return Ok(false);
        }
        for entry in found.0.into_iter().map(|e| Entry::new(SearchEntry::construct(e), id)) {
            let Some(gone) = entry.id.clone() else { continue };
            if entry.values("objectClass").any(|c| c.eq_ignore_ascii_case("group")) {
                changes.removed_groups.push(gone);
            } else {
                changes.removed_users.push(gone);
            }
        }
        // Moved out of the bases: changed since, somewhere in the domain, but under no base.
        for (filter, bases, users) in [
            (self.settings.users_filter(), &self.settings.user_bases, true),
            (self.settings.group_filter(), &self.settings.group_bases().to_vec(), false),
        ] {
            let Some(filter) = self.settings.changed_since(&filter, since) else { continue };
            let bases: Vec<String> = bases.iter().map(|b| canonical(b)).collect();
            for entry in self.search(ldap, &root, &filter, &[id.to_string()], requests).await? {
                let dn = canonical(&entry.dn);
                let inside = bases.iter().any(|b| dn == *b || dn.ends_with(&format!(",{b}")));
                if let (false, Some(gone)) = (inside, entry.id) {
                    if users { changes.removed_users.push(gone) } else { changes.removed_groups.push(gone) }
                }
            }
        }
        Ok(true)
    }

    /// Every user and group id under the bases, nothing else read: the store's copy keeps only
    /// these.
    async fn list_ids(&self, ldap: &mut Ldap, changes: &mut Changes, requests: &mut u64) -> Result<(), RestError> {
        let id = vec![self.settings.id_attribute().to_string()];
        let mut users = Vec::new();
        for base in &self.settings.user_bases {
            let found = self.search(ldap, base, &self.settings.users_filter(), &id, requests).await?;
            users.extend(found.into_iter().filter_map(|e| e.id));
        }
        let mut groups = Vec::new();
        for base in self.settings.group_bases() {
            let found = self.search(ldap, base, &self.settings.group_filter(), &id, requests).await?;
            groups.extend(found.into_iter().filter_map(|e| e.id));
        }
        changes.scope = Some(users);
        changes.group_scope = Some(groups);
        Ok(())
    }
}

/// `DC=corp,DC=example,DC=com` of a DN below it.
fn domain_root(dn: &str) -> String {
    dn.split(',')
        .map(str::trim)
        .filter(|p| p.len() > 3 && p[..3].eq_ignore_ascii_case("dc="))
        .collect::<Vec<_>>()
        .join(",")
}
