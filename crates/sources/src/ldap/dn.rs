//! Distinguished names parsed and compared as RFC 4514 writes them, never by splitting on commas:
//! Active Directory's "Last, First" names (`CN=Hopper\, Margaret,OU=People,…`) hold an escaped
//! comma, values may escape any byte as `\XX`, an RDN may join several values with `+`, and
//! attribute types ignore case. Two spellings of one name have one [`canonical`] form, which is
//! what idsync compares and indexes by; searches send the DN as the server wrote it.

/// One attribute value assertion of an RDN: the type in lower case, the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Ava {
    kind: String,
    value: String,
}

/// The canonical form of `dn`: types in lower case, values unescaped, compared without case and
/// with runs of blanks as one (as the naming attributes' caseIgnoreMatch does), the values of a
/// multi-valued RDN in order, each value escaped again as RFC 4514 requires. A DN that does not
/// parse is compared as written, in lower case.
pub fn canonical(dn: &str) -> String {
    match parse(dn) {
        Ok(rdns) => rdns
            .iter()
            .map(|rdn| {
                rdn.iter().map(|ava| format!("{}={}", ava.kind, escape(&ava.value))).collect::<Vec<_>>().join("+")
            })
            .collect::<Vec<_>>()
            .join(","),
        Err(_) => dn.trim().to_lowercase(),
    }
}

fn parse(dn: &str) -> Result<Vec<Vec<Ava>>, String> {
    let mut rdns = Vec::new();
    if dn.trim().is_empty() {
        return Ok(rdns);
    }
    let mut chars = dn.chars().peekable();
    let mut rdn = Vec::new();
    loop {
        let kind: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let kind = kind.trim().to_lowercase();
        if kind.is_empty() {
            return Err(format!("'{dn}' has an RDN without an attribute type"));
        }
        let kind = kind.strip_prefix("oid.").map(str::to_string).unwrap_or(kind);
        let (value, end) = value(&mut chars)?;
        rdn.push(Ava { kind, value: fold(&value) });
        match end {
            Some('+') => continue,
            Some(_) => {
                rdn.sort();
                rdns.push(std::mem::take(&mut rdn));
            }
            None => {
                rdn.sort();
                rdns.push(rdn);
                return Ok(rdns);
            }
        }
    }
}

/// One value up to an unescaped `,`, `;` (an old separator) or `+`, which it returns; escapes
/// undone, unescaped blanks at either end dropped, a `#` value (hex of its BER form) kept as written.
fn value(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<(String, Option<char>), String> {
    while chars.next_if(|c| *c == ' ').is_some() {}
    let mut bytes: Vec<u8> = Vec::new();
    let mut kept_to = 0;
    let mut quoted = false;
    let end = loop {
        let Some(c) = chars.next() else { break None };
        match c {
            '"' => quoted = !quoted,
            ',' | ';' | '+' if !quoted => break Some(c),
            '\\' => {
                let Some(next) = chars.next() else { return Err("a DN ends in a lone '\\'".into()) };
                if next.is_ascii_hexdigit() {
                    let low =
                        chars.next().filter(char::is_ascii_hexdigit).ok_or("a '\\' escape needs two hex digits")?;
                    let pair: String = [next, low].iter().collect();
                    bytes.push(u8::from_str_radix(&pair, 16).map_err(|e| e.to_string())?);
                } else {
                    let mut buf = [0; 4];
                    bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                }
                kept_to = bytes.len();
            }
            other => {
                let mut buf = [0; 4];
                bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                if other != ' ' {
                    kept_to = bytes.len();
                }
            }
        }
    };
    bytes.truncate(kept_to);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), end))
}

/// Case and runs of blanks do not tell two values apart.
fn fold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_lowercase());
    }
    if out.is_empty() { value.to_lowercase() } else { out }
}

/// RFC 4514 section 2.4: the characters a value must escape.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::canonical;

    fn same(a: &str, b: &str) {
        assert_eq!(canonical(a), canonical(b), "{a} and {b} name one entry");
    }

    #[test]
    fn escaped_commas_and_blanks_stay_in_the_value() {
        same(
            "CN=Hopper\\, Margaret,OU=People,DC=corp,DC=example",
            "cn=hopper\\, margaret, ou=people,dc=corp,dc=example",
        );
        assert_ne!(canonical("CN=Hopper\\, Margaret,OU=People"), canonical("CN=Hopper\\,Margaret,OU=People"));
        assert_eq!(canonical("CN=Hopper\\, Margaret,OU=People"), "cn=hopper\\, margaret,ou=people");
    }

    #[test]
    fn every_escape_of_rfc_4514_reads_back() {
        same("CN=a\\+b\\\"c\\\\d\\<e\\>f\\;g\\=h,DC=x", "cn=A\\2Bb\\22c\\5Cd\\3Ce\\3Ef\\3Bg\\3Dh,dc=X");
        same("CN=\\#hash,DC=x", "cn=\\23hash,dc=x");
        same("CN=\\ leading and trailing\\ ,DC=x", "cn=\\20leading and trailing\\20,dc=x");
        same("CN=Jos\\C3\\A9,DC=x", "cn=josé,dc=x");
        same("CN=ZÜRICH,DC=x", "cn=zürich,dc=x");
    }

    #[test]
    fn types_ignore_case_and_multi_valued_rdns_ignore_order() {
        same("CN=Ann+UID=alee,DC=x", "uid=alee+cn=ann,dc=x");
        same("OID.2.5.4.3=Ann,DC=x", "2.5.4.3=ann,dc=x");
        same("cn=Ann  Lee ,dc=x", "CN=Ann Lee,DC=x");
        same("CN=Ann;DC=x", "cn=ann,dc=x");
        same("cn=\"Lee, Ann\",dc=x", "cn=Lee\\, Ann,dc=x");
    }

    #[test]
    fn hex_values_and_broken_dns_do_not_panic() {
        same("1.3.6.1.4.1.1466.0=#04024869,DC=x", "1.3.6.1.4.1.1466.0=#04024869,dc=x");
        for broken in ["", "=x", "cn=a\\", "cn=a\\4", "cn=a\\zz", ",,,"] {
            let _ = canonical(broken);
        }
    }
}
