//! An LDAP server that answers as Windows Active Directory does where slapd cannot: at most 1,500
//! values of `member` per entry with the rest by ranged retrieval (`member;range=1500-*`), pages of
//! at most 1,000 entries, `objectGUID` as 16 bytes, `uSNChanged`, `primaryGroupToken`, the
//! Deleted Objects container behind the Show Deleted control (1.2.840.113556.1.4.417) for
//! privileged accounts only, the matching rules of `userAccountControl` (…803) and
//! LDAP_MATCHING_RULE_IN_CHAIN (…1941), and bind failures with AD's `data 52e/530/…` sub-codes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapFilter, LdapMsg, LdapOp, LdapPartialAttribute, LdapResult, LdapResultCode,
    LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope,
};
use ldap3_proto::{LdapCodec, control::LdapControl};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

use crate::common::lock;

/// AD's MaxValRange and MaxPageSize.
pub const MAX_VALUES: usize = 1500;
pub const MAX_PAGE: usize = 1000;
/// AD's MaxReceiveBuffer: the largest request it takes (a filter naming 500 DNs is ~40 KB).
const MAX_RECEIVE_BUFFER: usize = 10 * 1024 * 1024;

const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
const BIT_AND: &str = "1.2.840.113556.1.4.803";

/// Why a bind account cannot sign in, as AD's `data` sub-code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Active,
    /// 530: not permitted to log on at this time.
    OutsideHours,
    /// 531: not permitted to log on at this workstation.
    WrongWorkstation,
    /// 532: the password has expired.
    PasswordExpired,
    /// 533: the account is disabled.
    Disabled,
    /// 701: the account has expired.
    AccountExpired,
    /// 773: the password must be changed before first logon.
    MustChangePassword,
    /// 775: the account is locked out.
    Locked,
}

impl AccountState {
    fn code(self) -> &'static str {
        match self {
            AccountState::Active => "52e",
            AccountState::OutsideHours => "530",
            AccountState::WrongWorkstation => "531",
            AccountState::PasswordExpired => "532",
            AccountState::Disabled => "533",
            AccountState::AccountExpired => "701",
            AccountState::MustChangePassword => "773",
            AccountState::Locked => "775",
        }
    }
}

/// An account that may bind.
#[derive(Debug, Clone)]
pub struct Account {
    pub dn: String,
    pub upn: String,
    pub password: String,
    pub state: AccountState,
    /// May list Deleted Objects (Domain Admins, or granted List Contents there).
    pub privileged: bool,
}

/// One directory object: its DN, its attributes (names as AD spells them), and whether it is a
/// tombstone in Deleted Objects.
#[derive(Debug, Clone)]
pub struct Object {
    pub dn: String,
    pub attributes: BTreeMap<String, Vec<Vec<u8>>>,
    pub deleted: bool,
}

impl Object {
    fn values(&self, name: &str) -> Option<&Vec<Vec<u8>>> {
        self.attributes.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    fn text(&self, name: &str) -> Vec<String> {
        self.values(name).into_iter().flatten().map(|v| String::from_utf8_lossy(v).into_owned()).collect()
    }

    pub fn set(&mut self, name: &str, values: Vec<String>) {
        self.attributes.retain(|k, _| !k.eq_ignore_ascii_case(name));
        if !values.is_empty() {
            self.attributes.insert(name.to_string(), values.into_iter().map(String::into_bytes).collect());
        }
    }

    /// objectGUID in AD's text form (first three fields little-endian).
    pub fn guid(&self) -> String {
        let b = self.values("objectGUID").and_then(|v| v.first()).cloned().unwrap_or_default();
        if b.len() != 16 {
            return String::new();
        }
        format!(
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
        )
    }
}

#[derive(Debug, Default)]
pub struct AdData {
    pub objects: Vec<Object>,
    pub accounts: Vec<Account>,
    usn: u64,
    next_rid: u32,
}

fn fold(dn: &str) -> String {
    dn.split(',').map(str::trim).collect::<Vec<_>>().join(",").to_lowercase()
}

impl AdData {
    fn bump(&mut self) -> String {
        self.usn += 1;
        self.usn.to_string()
    }

    fn new_object(&mut self, dn: String, classes: &[&str]) -> &mut Object {
        let usn = self.bump();
        let n = self.objects.len() as u32 + 1;
        let mut guid = [0u8; 16];
        guid[..4].copy_from_slice(&n.to_le_bytes());
        guid[8..12].copy_from_slice(&0xadad_adad_u32.to_be_bytes());
        let mut object = Object { dn: dn.clone(), attributes: BTreeMap::new(), deleted: false };
        object.set("objectClass", classes.iter().map(|c| c.to_string()).collect());
        object.set("distinguishedName", vec![dn]);
        object.attributes.insert("objectGUID".into(), vec![guid.to_vec()]);
        object.set("uSNCreated", vec![usn.clone()]);
        object.set("uSNChanged", vec![usn]);
        self.objects.push(object);
        self.objects.last_mut().expect("just pushed")
    }

    /// Adds a user `CN=<cn>,<ou>` with the attributes AD gives one; returns its objectGUID text.
    pub fn add_user(&mut self, ou: &str, cn: &str, sam: &str) -> String {
        let domain = domain_of(ou);
        let user =
            self.new_object(format!("CN={},{ou}", escape(cn)), &["top", "person", "organizationalPerson", "user"]);
        user.set("cn", vec![cn.into()]);
        user.set("sAMAccountName", vec![sam.into()]);
        user.set("userPrincipalName", vec![format!("{sam}@{domain}")]);
        user.set("userAccountControl", vec!["512".into()]);
        user.set("primaryGroupID", vec!["513".into()]);
        user.guid()
    }

    /// Adds a group `CN=<cn>,<ou>` with these member DNs; returns its objectGUID text.
    pub fn add_group(&mut self, ou: &str, cn: &str, members: Vec<String>) -> String {
        self.next_rid = self.next_rid.max(1100) + 1;
        let rid = self.next_rid;
        let group = self.new_object(format!("CN={},{ou}", escape(cn)), &["top", "group"]);
        group.set("cn", vec![cn.into()]);
        group.set("sAMAccountName", vec![cn.replace(' ', "")]);
        group.set("member", members);
        group.set("primaryGroupToken", vec![rid.to_string()]);
        group.guid()
    }

    /// Changes an object in place (raising its uSNChanged); None when no object has that DN.
    pub fn change(&mut self, dn: &str, edit: impl FnOnce(&mut Object)) -> Option<()> {
        let usn = self.bump();
        let object = self.objects.iter_mut().find(|o| !o.deleted && fold(&o.dn) == fold(dn))?;
        edit(object);
        object.set("uSNChanged", vec![usn]);
        Some(())
    }

    /// Deletes an object as AD does: it leaves every group, and a tombstone that keeps its
    /// objectGUID and lastKnownParent moves to Deleted Objects.
    pub fn delete(&mut self, dn: &str) -> Option<()> {
        let at = self.objects.iter().position(|o| !o.deleted && fold(&o.dn) == fold(dn))?;
        let groups: Vec<String> = self
            .objects
            .iter()
            .filter(|o| o.text("member").iter().any(|m| fold(m) == fold(dn)))
            .map(|o| o.dn.clone())
            .collect();
        for group in groups {
            self.change(&group, |g| {
                let left = g.text("member").into_iter().filter(|m| fold(m) != fold(dn)).collect();
                g.set("member", left);
            });
        }
        let usn = self.bump();
        let object = &mut self.objects[at];
        let guid = object.guid();
        let (rdn, parent) = object.dn.split_once(',').unwrap_or((&object.dn, ""));
        let (rdn, parent) = (rdn.to_string(), parent.to_string());
        let keep = ["objectGUID", "objectClass", "uSNCreated"];
        object.attributes.retain(|k, _| keep.iter().any(|w| w.eq_ignore_ascii_case(k)));
        object.dn = format!("{rdn}\\0ADEL:{guid},CN=Deleted Objects,{}", domain_root(&parent));
        object.set("distinguishedName", vec![object.dn.clone()]);
        object.set("isDeleted", vec!["TRUE".into()]);
        object.set("lastKnownParent", vec![parent]);
        object.set("uSNChanged", vec![usn]);
        object.deleted = true;
        Some(())
    }

    /// Moves an object under another parent (a user leaving the bases without being deleted).
    pub fn move_to(&mut self, dn: &str, parent: &str) -> Option<()> {
        self.change(dn, |o| {
            let rdn = o.dn.split_once(',').map_or(o.dn.clone(), |(r, _)| r.to_string());
            o.dn = format!("{rdn},{parent}");
            o.set("distinguishedName", vec![o.dn.clone()]);
        })
    }
}

fn escape(cn: &str) -> String {
    cn.replace('\\', "\\\\").replace(',', "\\,").replace('+', "\\+")
}

/// `dc=corp,dc=example,dc=com` of any DN below it.
fn domain_root(dn: &str) -> String {
    dn.split(',').filter(|p| p.trim().to_lowercase().starts_with("dc=")).collect::<Vec<_>>().join(",")
}

/// `corp.example.com` of any DN below it.
fn domain_of(dn: &str) -> String {
    domain_root(dn).split(',').filter_map(|p| p.trim().get(3..)).collect::<Vec<_>>().join(".")
}

pub struct ActiveDirectory {
    pub data: Mutex<AdData>,
    /// Search requests served (each page counts).
    pub searches: AtomicU64,
    /// Paging goes in a circle: from the second page on, the cookie leads back to the second.
    pub loop_paging: std::sync::atomic::AtomicBool,
}

/// A running server; dropping it stops the listener.
pub struct RunningAd {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RunningAd {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ActiveDirectory {
    /// A domain `DC=corp,DC=example,DC=com` with `OU=People`, `OU=Groups`, the `Domain Users`
    /// group (RID 513), the system accounts krbtgt and Guest, and two bind accounts:
    /// `reader@corp.example.com` (an ordinary user) and `admin@corp.example.com` (privileged),
    /// whose password is `secret`.
    pub fn new() -> Arc<Self> {
        let mut data = AdData::default();
        let users = ActiveDirectory::PEOPLE;
        for ou in [ActiveDirectory::PEOPLE, ActiveDirectory::GROUPS] {
            let o = data.new_object(ou.to_string(), &["top", "organizationalUnit"]);
            o.set("ou", vec![ou.split(',').next().unwrap_or_default().trim_start_matches("OU=").into()]);
        }
        for (sam, critical) in [("krbtgt", true), ("Guest", true)] {
            let dn = format!("CN={sam},CN=Users,{}", ActiveDirectory::DOMAIN);
            let o = data.new_object(dn, &["top", "person", "organizationalPerson", "user"]);
            o.set("sAMAccountName", vec![sam.into()]);
            o.set("cn", vec![sam.into()]);
            o.set("userAccountControl", vec!["514".into()]);
            o.set("isCriticalSystemObject", vec![if critical { "TRUE" } else { "FALSE" }.into()]);
        }
        let domain_users =
            data.new_object(format!("CN=Domain Users,CN=Users,{}", ActiveDirectory::DOMAIN), &["top", "group"]);
        domain_users.set("cn", vec!["Domain Users".into()]);
        domain_users.set("sAMAccountName", vec!["Domain Users".into()]);
        domain_users.set("primaryGroupToken", vec!["513".into()]);
        domain_users.set("isCriticalSystemObject", vec!["TRUE".into()]);
        for (sam, privileged) in [("reader", false), ("admin", true)] {
            let dn = format!("CN={sam},{users}");
            data.accounts.push(Account {
                dn,
                upn: format!("{sam}@corp.example.com"),
                password: "secret".into(),
                state: AccountState::Active,
                privileged,
            });
        }
        Arc::new(ActiveDirectory {
            data: Mutex::new(data),
            searches: AtomicU64::new(0),
            loop_paging: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub const DOMAIN: &str = "DC=corp,DC=example,DC=com";
    pub const PEOPLE: &str = "OU=People,DC=corp,DC=example,DC=com";
    pub const GROUPS: &str = "OU=Groups,DC=corp,DC=example,DC=com";

    pub async fn start(self: &Arc<Self>) -> std::io::Result<RunningAd> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ldap://{}", listener.local_addr()?);
        let ad = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let ad = ad.clone();
                let codec = LdapCodec::new(Some(MAX_RECEIVE_BUFFER), None);
                tokio::spawn(async move { ad.serve(Framed::new(socket, codec)).await });
            }
        });
        Ok(RunningAd { url, task })
    }

    async fn serve(&self, mut conn: Framed<tokio::net::TcpStream, LdapCodec>) {
        let mut bound: Option<Account> = None;
        while let Some(Ok(msg)) = conn.next().await {
            let replies = match msg.op {
                LdapOp::BindRequest(bind) => {
                    let (result, account) = self.bind(&bind.dn, &bind.cred);
                    bound = account;
                    vec![LdapMsg {
                        msgid: msg.msgid,
                        op: LdapOp::BindResponse(LdapBindResponse { res: result, saslcreds: None }),
                        ctrl: vec![],
                    }]
                }
                LdapOp::SearchRequest(search) => self.search(msg.msgid, &search, &msg.ctrl, bound.as_ref()),
                LdapOp::UnbindRequest => return,
                _ => vec![done(msg.msgid, LdapResultCode::UnwillingToPerform, "not supported here", vec![])],
            };
            for reply in replies {
                if conn.send(reply).await.is_err() {
                    return;
                }
            }
        }
    }

    fn bind(&self, dn: &str, cred: &LdapBindCred) -> (LdapResult, Option<Account>) {
        let LdapBindCred::Simple(password) = cred else {
            return (result(LdapResultCode::AuthMethodNotSupported, "only simple binds"), None);
        };
        let data = lock(&self.data);
        let account = data.accounts.iter().find(|a| fold(&a.dn) == fold(dn) || a.upn.eq_ignore_ascii_case(dn)).cloned();
        let code = match &account {
            Some(a) if &a.password == password && a.state == AccountState::Active => {
                return (result(LdapResultCode::Success, ""), account);
            }
            Some(a) if &a.password == password => a.state.code(),
            _ => "52e",
        };
        let message =
            format!("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {code}, v4563\0");
        (result(LdapResultCode::InvalidCredentials, &message), None)
    }

    fn search(
        &self,
        msgid: i32,
        req: &LdapSearchRequest,
        controls: &[LdapControl],
        who: Option<&Account>,
    ) -> Vec<LdapMsg> {
        self.searches.fetch_add(1, Ordering::SeqCst);
        let Some(who) = who else {
            return vec![done(
                msgid,
                LdapResultCode::OperationsError,
                "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563",
                vec![],
            )];
        };
        let show_deleted = controls.iter().any(|c| matches!(c, LdapControl::ShowDeleted { .. }));
        let paging = controls.iter().find_map(|c| match c {
            LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
            _ => None,
        });
        let data = lock(&self.data);
        let base = fold(&req.base);
        let in_deleted = base.starts_with("cn=deleted objects,");
        if in_deleted && !(show_deleted && who.privileged) {
            return vec![done(
                msgid,
                LdapResultCode::NoSuchObject,
                "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT), data 0, best match of:",
                vec![],
            )];
        }
        let exists =
            data.objects.iter().any(|o| fold(&o.dn).ends_with(&base)) || fold(ActiveDirectory::DOMAIN).ends_with(&base);
        if !exists && !in_deleted {
            return vec![done(
                msgid,
                LdapResultCode::NoSuchObject,
                "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT), data 0, best match of:",
                vec![],
            )];
        }
        let view = View::new(&data);
        let test = prepare(&req.filter);
        let matching: Vec<&Object> = data
            .objects
            .iter()
            .filter(|o| !o.deleted || (show_deleted && who.privileged))
            .filter(|o| in_scope(&fold(&o.dn), &base, &req.scope))
            .filter(|o| view.matches(o, &test))
            .collect();
        let (start, size) = match &paging {
            Some((size, cookie)) => {
                let start = String::from_utf8_lossy(cookie).parse::<usize>().unwrap_or(0);
                (start, usize::try_from(*size).unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE))
            }
            None => (0, MAX_PAGE),
        };
        let end = (start + size).min(matching.len());
        let mut out: Vec<LdapMsg> = matching
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|o| LdapMsg { msgid, op: LdapOp::SearchResultEntry(render(&view, o, &req.attrs)), ctrl: vec![] })
            .collect();
        match paging {
            Some(_) => {
                let looping = self.loop_paging.load(Ordering::SeqCst) && start > 0;
                let cookie = if looping {
                    size.to_string().into_bytes()
                } else if end < matching.len() {
                    end.to_string().into_bytes()
                } else {
                    Vec::new()
                };
                out.push(done(
                    msgid,
                    LdapResultCode::Success,
                    "",
                    vec![LdapControl::SimplePagedResults { size: 0, cookie }],
                ));
            }
            None if matching.len() > MAX_PAGE => out.push(done(msgid, LdapResultCode::SizeLimitExceeded, "", vec![])),
            None => out.push(done(msgid, LdapResultCode::Success, "", vec![])),
        }
        out
    }
}

fn result(code: LdapResultCode, message: &str) -> LdapResult {
    LdapResult { code, matcheddn: String::new(), message: message.into(), referral: vec![] }
}

fn done(msgid: i32, code: LdapResultCode, message: &str, ctrl: Vec<LdapControl>) -> LdapMsg {
    LdapMsg { msgid, op: LdapOp::SearchResultDone(result(code, message)), ctrl }
}

fn in_scope(dn: &str, base: &str, scope: &LdapSearchScope) -> bool {
    match scope {
        LdapSearchScope::Base => dn == base,
        LdapSearchScope::OneLevel => dn.split_once(',').is_some_and(|(_, parent)| parent == base),
        _ => dn == base || dn.ends_with(&format!(",{base}")) || base.is_empty(),
    }
}

/// The attributes asked for, by name or `*`; `member` of a group past 1,500 values comes as
/// `member;range=0-1499`, and `member;range=S-*` asks for the values from S on.
fn render(view: &View<'_>, o: &Object, wanted: &[String]) -> LdapSearchResultEntry {
    let all = wanted.is_empty() || wanted.iter().any(|w| w == "*");
    let mut attributes = Vec::new();
    for (name, vals) in &o.attributes {
        // Constructed: only when asked for by name.
        let constructed = name.eq_ignore_ascii_case("primaryGroupToken");
        let asked = wanted.iter().any(|w| w.eq_ignore_ascii_case(name));
        let ranged = wanted.iter().find_map(|w| {
            let (attr, range) = w.split_once(";range=")?;
            attr.eq_ignore_ascii_case(name).then(|| range.split_once('-').and_then(|(s, _)| s.parse::<usize>().ok()))?
        });
        if !(asked || ranged.is_some() || (all && !constructed)) {
            continue;
        }
        if name.eq_ignore_ascii_case("member") && (vals.len() > MAX_VALUES || ranged.is_some()) {
            let from = ranged.unwrap_or(0).min(vals.len());
            let to = (from + MAX_VALUES).min(vals.len());
            let label = if to == vals.len() {
                format!("member;range={from}-*")
            } else {
                format!("member;range={from}-{}", to - 1)
            };
            attributes.push(LdapPartialAttribute { atype: label, vals: vals[from..to].to_vec() });
            continue;
        }
        attributes.push(LdapPartialAttribute { atype: name.clone(), vals: vals.clone() });
    }
    // memberOf is AD's back link, kept in step with every group's member.
    let member_of = view.values(o, "memberOf");
    if !member_of.is_empty() && (all || wanted.iter().any(|w| w.eq_ignore_ascii_case("memberOf"))) {
        attributes.push(LdapPartialAttribute {
            atype: "memberOf".into(),
            vals: member_of.into_iter().map(String::into_bytes).collect(),
        });
    }
    LdapSearchResultEntry { dn: o.dn.clone(), attributes }
}

/// One search's view of the directory: its filter prepared once (DNs folded, an OR of
/// equalities on one attribute turned into a set) and who is a member of what, indexed once.
struct View<'a> {
    /// Folded member DN → DNs of the groups that list it.
    member_of: HashMap<String, Vec<&'a str>>,
}

enum Test {
    And(Vec<Test>),
    Or(Vec<Test>),
    Not(Box<Test>),
    Present(String),
    Category(String),
    Equal(String, HashSet<String>),
    AtLeast(String, String),
    AtMost(String, String),
    Substring(String, ldap3_proto::proto::LdapSubstringFilter),
    Bits(String, u64),
    InChain(String),
    Never,
}

fn prepare(filter: &LdapFilter) -> Test {
    match filter {
        LdapFilter::And(all) => Test::And(all.iter().map(prepare).collect()),
        LdapFilter::Or(any) => {
            let attrs: HashSet<String> = any
                .iter()
                .filter_map(|f| match f {
                    LdapFilter::Equality(a, _) if !a.eq_ignore_ascii_case("objectCategory") => Some(a.to_lowercase()),
                    _ => None,
                })
                .collect();
            if attrs.len() == 1 && any.iter().all(|f| matches!(f, LdapFilter::Equality(..))) {
                let values = any
                    .iter()
                    .filter_map(|f| match f {
                        LdapFilter::Equality(_, v) => Some(fold(v)),
                        _ => None,
                    })
                    .collect();
                return Test::Equal(attrs.into_iter().next().unwrap_or_default(), values);
            }
            Test::Or(any.iter().map(prepare).collect())
        }
        LdapFilter::Not(f) => Test::Not(Box::new(prepare(f))),
        LdapFilter::Present(a) => Test::Present(a.clone()),
        LdapFilter::Equality(a, v) if a.eq_ignore_ascii_case("objectCategory") => Test::Category(v.to_lowercase()),
        LdapFilter::Equality(a, v) => Test::Equal(a.to_lowercase(), HashSet::from([fold(v)])),
        LdapFilter::GreaterOrEqual(a, v) => Test::AtLeast(a.clone(), v.clone()),
        LdapFilter::LessOrEqual(a, v) => Test::AtMost(a.clone(), v.clone()),
        LdapFilter::Substring(a, sub) => Test::Substring(a.clone(), sub.clone()),
        LdapFilter::Extensible(rule) => {
            let attr = rule.type_.clone().unwrap_or_default();
            match rule.matching_rule.as_deref() {
                Some(BIT_AND) => Test::Bits(attr, rule.match_value.parse().unwrap_or(0)),
                Some(IN_CHAIN) if attr.eq_ignore_ascii_case("memberOf") => Test::InChain(fold(&rule.match_value)),
                _ => Test::Never,
            }
        }
        LdapFilter::Approx(..) => Test::Never,
    }
}

fn ordered(value: &str, bound: &str) -> std::cmp::Ordering {
    match (value.parse::<u64>(), bound.parse::<u64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => value.cmp(bound),
    }
}

impl<'a> View<'a> {
    fn new(data: &'a AdData) -> Self {
        let mut member_of: HashMap<String, Vec<&'a str>> = HashMap::new();
        for group in data.objects.iter().filter(|o| !o.deleted) {
            for member in group.values("member").into_iter().flatten() {
                member_of.entry(fold(&String::from_utf8_lossy(member))).or_default().push(group.dn.as_str());
            }
        }
        View { member_of }
    }

    fn values(&self, o: &Object, attr: &str) -> Vec<String> {
        if attr.eq_ignore_ascii_case("memberOf") {
            return self.member_of.get(&fold(&o.dn)).into_iter().flatten().map(|g| g.to_string()).collect();
        }
        if attr.eq_ignore_ascii_case("objectGUID") {
            return vec![o.guid()];
        }
        o.text(attr)
    }

    fn matches(&self, o: &Object, test: &Test) -> bool {
        match test {
            Test::And(all) => all.iter().all(|t| self.matches(o, t)),
            Test::Or(any) => any.iter().any(|t| self.matches(o, t)),
            Test::Not(t) => !self.matches(o, t),
            Test::Present(attr) => attr.eq_ignore_ascii_case("objectClass") || !self.values(o, attr).is_empty(),
            Test::Category(value) => {
                let category = if o.text("objectClass").iter().any(|c| c == "user") { "person" } else { "group" };
                value == category || value.starts_with(&format!("cn={category},"))
            }
            Test::Equal(attr, wanted) => self.values(o, attr).iter().any(|v| wanted.contains(&fold(v))),
            Test::AtLeast(attr, bound) => self.values(o, attr).iter().any(|v| ordered(v, bound).is_ge()),
            Test::AtMost(attr, bound) => self.values(o, attr).iter().any(|v| ordered(v, bound).is_le()),
            Test::Substring(attr, sub) => self.values(o, attr).iter().any(|v| {
                let v = v.to_lowercase();
                let mut rest = v.as_str();
                if let Some(initial) = &sub.initial {
                    let Some(r) = rest.strip_prefix(&initial.to_lowercase()) else { return false };
                    rest = r;
                }
                for part in &sub.any {
                    let Some(at) = rest.find(&part.to_lowercase()) else { return false };
                    rest = &rest[at + part.len()..];
                }
                sub.final_.as_ref().is_none_or(|f| rest.ends_with(&f.to_lowercase()))
            }),
            Test::Bits(attr, want) => {
                self.values(o, attr).iter().any(|v| v.parse::<u64>().is_ok_and(|n| n & want == *want))
            }
            Test::InChain(group) => self.in_chain(&o.dn, group, &mut HashSet::new()),
            Test::Never => false,
        }
    }

    /// Whether `dn` is in `group` (folded) directly or through nested groups.
    fn in_chain(&self, dn: &str, group: &str, seen: &mut HashSet<String>) -> bool {
        self.member_of.get(&fold(dn)).into_iter().flatten().any(|g| {
            let key = fold(g);
            key == group || (seen.insert(key) && self.in_chain(g, group, seen))
        })
    }
}
