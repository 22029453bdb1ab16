//! Not a simulator: a real OpenLDAP `slapd` (Debian packages `slapd` and `ldap-utils`, which
//! `scripts/test` installs) started on loopback ports for one test or benchmark, with its own
//! configuration, database, certificate authority and test tree, and stopped when dropped.
//!
//! Two trees: an OpenLDAP one (`inetOrgPerson`, `groupOfNames`, the memberof and ppolicy overlays)
//! and an Active Directory-like one, with a small schema that gives the AD attributes idsync reads
//! their real OIDs (slapd cannot evaluate AD's nested-membership matching rule, so that part is
//! tested on the filters idsync sends; and what AD maintains itself, `distinguishedName`,
//! `memberOf`, `uSNChanged`, an AD-like tree states in its LDIF).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "admin-secret";
/// Where the sample directory keeps its people and groups.
pub const PEOPLE: &str = "ou=people,dc=example,dc=com";
pub const GROUPS: &str = "ou=groups,dc=example,dc=com";
/// A service account of the sample directory that may read everything (password
/// `reader-secret`); `cn=blind` (`blind-secret`) may read nothing.
pub const READER: &str = "cn=reader,dc=example,dc=com";

/// Which kind of directory the server imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenLdap,
    ActiveDirectory,
}

pub struct Slapd {
    dir: PathBuf,
    child: Child,
    /// `ldap://127.0.0.1:PORT` (StartTLS offered).
    pub url: String,
    /// `ldaps://127.0.0.1:PORT`.
    pub ldaps_url: String,
    /// The CA that signed the server's certificate (PEM).
    pub ca_file: PathBuf,
    pub suffix: String,
    /// The directory manager (rootdn), password [`ADMIN_PASSWORD`].
    pub admin_dn: String,
}

/// The part of Active Directory's schema idsync reads, with AD's own OIDs.
const AD_SCHEMA: &str = r#"
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
  EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.102 NAME 'memberOf'
  EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
attributetype ( 1.2.840.113556.1.4.750 NAME 'groupType'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.2.120 NAME 'uSNChanged'
  EQUALITY integerMatch ORDERING integerOrderingMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP organizationalPerson STRUCTURAL
  MAY ( sAMAccountName $ userPrincipalName $ userAccountControl $ objectGUID $ memberOf $
        uSNChanged $ mail $ givenName $ displayName $ distinguishedName ) )
objectclass ( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL
  MUST cn MAY ( sAMAccountName $ groupType $ member $ objectGUID $ memberOf $ uSNChanged $
        description $ distinguishedName ) )
"#;

/// Seven people (one locked by ppolicy), two service accounts, and groups of each kind: nested
/// groupOfNames, groupOfUniqueNames and a posixGroup listing bare uids.
fn sample_tree() -> String {
    let mut ldif = String::from(
        "dn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,dc=example,dc=com\nobjectClass: organizationalUnit\nou: groups\n\n",
    );
    for (uid, given, family) in [
        ("alee", "Ann", "Lee"),
        ("bkim", "Bo", "Kim"),
        ("cdiaz", "Cy", "Diaz"),
        ("dpatel", "Dev", "Patel"),
        ("ekim", "Eve", "Kim"),
        ("fsato", "Fumi", "Sato"),
        ("gnovak", "Gus", "Novak"),
    ] {
        ldif += &format!(
            "dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {given} {family}\n\
             givenName: {given}\nsn: {family}\nmail: {uid}@example.com\n"
        );
        if uid == "cdiaz" {
            ldif += "pwdAccountLockedTime: 000001010000Z\n";
        }
        ldif += "\n";
    }
    for account in ["reader", "blind"] {
        ldif += &format!(
            "dn: cn={account},dc=example,dc=com\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: {account}\nuserPassword: {account}-secret\n\n"
        );
    }
    ldif
}

/// Groups go in through slapd (not slapadd) so the memberof overlay writes users' memberOf.
const SAMPLE_GROUPS: &str = "\
dn: cn=platform,ou=groups,dc=example,dc=com
changetype: add
objectClass: groupOfNames
cn: platform
member: uid=bkim,ou=people,dc=example,dc=com
member: uid=dpatel,ou=people,dc=example,dc=com

dn: cn=jira-users,ou=groups,dc=example,dc=com
changetype: add
objectClass: groupOfNames
cn: jira-users
member: uid=alee,ou=people,dc=example,dc=com
member: cn=platform,ou=groups,dc=example,dc=com
member: uid=nobody,ou=elsewhere,dc=example,dc=com

dn: cn=confluence-users,ou=groups,dc=example,dc=com
changetype: add
objectClass: groupOfUniqueNames
cn: confluence-users
uniqueMember: uid=cdiaz,ou=people,dc=example,dc=com

dn: cn=devs,ou=groups,dc=example,dc=com
changetype: add
objectClass: posixGroup
cn: devs
gidNumber: 5000
memberUid: alee
memberUid: EKIM
";

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) -> Result<(), String> {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(
        Command::new("openssl")
            .current_dir(dir)
            .args(["req", "-x509", "-days", "2", "-subj", "/CN=idsync test CA", "-keyout", "ca.key", "-out", "ca.pem"])
            .args(ec),
        "openssl (CA)",
    )?;
    run(
        Command::new("openssl")
            .current_dir(dir)
            .args(["req", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"])
            .args(ec),
        "openssl (request)",
    )?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    run(
        Command::new("openssl").current_dir(dir).args([
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]),
        "openssl (sign)",
    )
}

impl Slapd {
    /// OpenLDAP with the sample directory: seven people (cdiaz locked), the accounts `cn=reader`
    /// and `cn=blind`, and the groups jira-users (alee and the nested group platform: bkim,
    /// dpatel), confluence-users (groupOfUniqueNames: cdiaz) and devs (posixGroup: alee, EKIM).
    pub fn sample() -> Result<Slapd, String> {
        let server = Slapd::start(Flavor::OpenLdap, &sample_tree())?;
        server.modify(SAMPLE_GROUPS)?;
        Ok(server)
    }

    /// Starts slapd with `ldif` loaded below the suffix entry (which is created here).
    pub fn start(flavor: Flavor, ldif: &str) -> Result<Slapd, String> {
        let slapd = ["/usr/sbin/slapd", "/usr/local/libexec/slapd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("slapd is not installed: run scripts/test (it installs the Debian packages slapd and ldap-utils)")?;
        let dir =
            std::env::temp_dir().join(format!("idsync-slapd-{}-{}", std::process::id(), free_port().unwrap_or(0)));
        std::fs::create_dir_all(dir.join("db")).map_err(|e| e.to_string())?;
        certificates(&dir)?;
        let suffix = match flavor {
            Flavor::OpenLdap => "dc=example,dc=com",
            Flavor::ActiveDirectory => "DC=corp,DC=example,DC=com",
        };
        let admin_dn = format!("cn=admin,{suffix}");
        let d = dir.display();
        let naming = match flavor {
            Flavor::OpenLdap => "uid,cn",
            Flavor::ActiveDirectory => "sAMAccountName,cn",
        };
        let (schema, modules, overlays) = match flavor {
            Flavor::OpenLdap => ("", "moduleload memberof\nmoduleload ppolicy", "overlay memberof\noverlay ppolicy"),
            Flavor::ActiveDirectory => {
                std::fs::write(dir.join("ad.schema"), AD_SCHEMA).map_err(|e| e.to_string())?;
                ("include DIR/ad.schema", "", "")
            }
        };
        let config = format!(
            r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
{schema}
modulepath /usr/lib/ldap
moduleload back_mdb
{modules}
pidfile {d}/slapd.pid
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
sizelimit 1000
database mdb
maxsize 1073741824
suffix "{suffix}"
rootdn "{admin_dn}"
rootpw {ADMIN_PASSWORD}
directory {d}/db
index objectClass eq
index {naming} eq
index member,uniqueMember,memberUid eq
index entryUUID,modifyTimestamp eq
limits users size.soft=5 size.hard=5 size.pr=5 size.prtotal=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="cn=blind,{suffix}" none by users read by * none
{overlays}
"#
        )
        .replace("DIR", &d.to_string());
        std::fs::write(dir.join("slapd.conf"), config).map_err(|e| e.to_string())?;
        let top = suffix.split(',').next().unwrap_or_default().split('=').nth(1).unwrap_or_default();
        let root = format!("dn: {suffix}\nobjectClass: dcObject\nobjectClass: organization\no: {top}\ndc: {top}\n\n");
        std::fs::write(dir.join("data.ldif"), format!("{root}{ldif}")).map_err(|e| e.to_string())?;
        run(
            Command::new("slapadd").args(["-q", "-f"]).arg(dir.join("slapd.conf")).arg("-l").arg(dir.join("data.ldif")),
            "slapadd",
        )?;
        let (plain, tls) = (free_port().map_err(|e| e.to_string())?, free_port().map_err(|e| e.to_string())?);
        let url = format!("ldap://127.0.0.1:{plain}");
        let ldaps_url = format!("ldaps://127.0.0.1:{tls}");
        let child = Command::new(slapd)
            .arg("-f")
            .arg(dir.join("slapd.conf"))
            .args(["-h", &format!("{url} {ldaps_url}"), "-d", "none"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("slapd.log")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("starting slapd: {e}"))?;
        let mut server =
            Slapd { ca_file: dir.join("ca.pem"), dir, child, url, ldaps_url, suffix: suffix.to_string(), admin_dn };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", tls)).is_err() || TcpStream::connect(("127.0.0.1", plain)).is_err() {
            if Instant::now() > deadline || server.child.try_wait().ok().flatten().is_some() {
                let log = std::fs::read_to_string(server.dir.join("slapd.log")).unwrap_or_default();
                return Err(format!("slapd did not start: {log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// Applies LDIF change records (`changetype: modify/add/delete`) as the directory manager.
    pub fn modify(&self, ldif: &str) -> Result<(), String> {
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &self.url, "-D", &self.admin_dn, "-w", ADMIN_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("ldapmodify (package ldap-utils): {e}"))?;
        child.stdin.take().ok_or("no stdin")?.write_all(ldif.as_bytes()).map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
