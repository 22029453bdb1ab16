//! AWS Signature Version 4 for one JSON POST (the AWS JSON 1.1 protocol idsync speaks to the
//! Identity Store), with ring's HMAC-SHA256 and SHA-256.

use ring::{digest, hmac};

pub struct Signer<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes()).as_ref().to_vec()
}

impl Signer<'_> {
    /// The `Authorization` header for a request whose (lower-case, trimmed) headers are
    /// `headers`, all of them signed; `amz_date` is `YYYYMMDDTHHMMSSZ` and must be among them.
    pub fn authorization(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        body: &[u8],
        amz_date: &str,
    ) -> String {
        let mut sorted: Vec<(String, String)> =
            headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string())).collect();
        sorted.sort();
        let canonical_headers: String = sorted.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let signed_headers = sorted.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
        let payload = hex(digest::digest(&digest::SHA256, body).as_ref());
        let canonical = format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload}");
        let date = &amz_date[..8];
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
        );
        let key = [date, self.region, self.service, "aws4_request"]
            .iter()
            .fold(format!("AWS4{}", self.secret_key).into_bytes(), |key, part| mac(&key, part));
        let signature = hex(&mac(&key, &to_sign));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "get-vanilla" of AWS's Signature Version 4 test suite.
    #[test]
    fn the_published_test_vector() {
        let signer = Signer {
            access_key: "AKIDEXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
            service: "service",
        };
        let headers = [
            ("Host".to_string(), "example.amazonaws.com".to_string()),
            ("X-Amz-Date".into(), "20150830T123600Z".into()),
        ];
        assert_eq!(
            signer.authorization("GET", "/", "", &headers, b"", "20150830T123600Z"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }
}
