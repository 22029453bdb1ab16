//! AWS IAM Identity Center's identity store (external-apis.md A7): AWS JSON 1.1 calls signed
//! with Signature Version 4, `NextToken` paging, AWS's error types (`ThrottlingException` waited
//! out, `AccessDeniedException` naming the missing action). The store has no disabled flag and no
//! nested groups: every user read is active, and one who disappears is deleted.

use std::time::Duration;

use async_trait::async_trait;
use rest::{Check, Credentials, Http, RestError};
use serde_json::{Value, json};

use crate::fetch::{Retry, retrying};
use crate::paging::Pages;
use crate::sigv4::Signer;
use crate::{Connector, PulledGroup, PulledUser, Snapshot, scim_user};

const PAGE: u64 = 100;
const SERVICE: &str = "identitystore";

pub struct Aws {
    http: Http,
    host: String,
    region: String,
    store: String,
    access_key: String,
    secret_key: String,
    retry: Retry,
}

impl Aws {
    /// `url` is `https://identitystore.{region}.amazonaws.com` (whose region is used when
    /// `region` is not given) or another endpoint (a VPC endpoint, a test).
    pub fn new(
        url: &str,
        region: Option<&str>,
        store: &str,
        credentials: Credentials,
        timeout: Duration,
        retry: Retry,
    ) -> Result<Self, RestError> {
        let Credentials::Basic { username, password } = credentials else {
            return Err(RestError::Config(
                "AWS signs requests with an access key: give --username ACCESS_KEY_ID and --password-file/--password-env with the secret access key".into(),
            ));
        };
        let http = Http::new(url, Credentials::Bearer { token: String::new() }, timeout)?.paced(retry.rate);
        let host = http.url("", &[]).host_str().map(String::from).unwrap_or_default();
        let region = match region {
            Some(r) => r.to_string(),
            None => host
                .strip_prefix("identitystore.")
                .and_then(|h| h.strip_suffix(".amazonaws.com"))
                .map(String::from)
                .ok_or_else(|| RestError::Config(format!("give --region: it cannot be read from {url}")))?,
        };
        let port = http.url("", &[]).port().map(|p| format!(":{p}")).unwrap_or_default();
        Ok(Aws {
            http,
            host: format!("{host}{port}"),
            region,
            store: store.into(),
            access_key: username,
            secret_key: password,
            retry,
        })
    }

    /// One signed call, its AWS error turned into a [`RestError`].
    async fn call_once(&self, operation: &str, body: &[u8]) -> Result<Value, RestError> {
        let amz_date = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
        let mut headers = vec![
            ("content-type".to_string(), "application/x-amz-json-1.1".to_string()),
            ("host".to_string(), self.host.clone()),
            ("x-amz-date".to_string(), amz_date.clone()),
            ("x-amz-target".to_string(), format!("AWSIdentityStore.{operation}")),
        ];
        let signer = Signer {
            access_key: &self.access_key,
            secret_key: &self.secret_key,
            region: &self.region,
            service: SERVICE,
        };
        let authorization = signer.authorization("POST", "/", "", &headers, body, &amz_date);
        headers.push(("authorization".into(), authorization));
        headers.retain(|(name, _)| name != "host");
        let answer = self.http.exchange(self.http.url("", &[]), &headers, body.to_vec()).await?;
        if answer.status.is_success() {
            return Ok(answer.body);
        }
        Err(aws_error(operation, answer.status.as_u16(), &answer.body))
    }

    async fn call(&self, operation: &str, body: Value, requests: &mut u64) -> Result<Value, RestError> {
        let body = body.to_string().into_bytes();
        retrying(self.retry, requests, || self.call_once(operation, &body)).await
    }

    /// Every item of a listing, following `NextToken`.
    async fn all(
        &self,
        operation: &str,
        field: &str,
        mut body: Value,
        requests: &mut u64,
    ) -> Result<Vec<Value>, RestError> {
        body["IdentityStoreId"] = json!(self.store);
        body["MaxResults"] = json!(PAGE);
        let mut out = Vec::new();
        let mut pages = Pages::new(format!("AWS {operation}"));
        loop {
            let page = self.call(operation, body.clone(), requests).await?;
            out.extend(page[field].as_array().cloned().unwrap_or_default());
            match page["NextToken"].as_str() {
                Some(next) if !next.is_empty() => {
                    pages.next(next)?;
                    body["NextToken"] = json!(next)
                }
                _ => return Ok(out),
            }
        }
    }

    async fn user_id(&self, username: &str, requests: &mut u64) -> Result<Option<String>, RestError> {
        let body = json!({"IdentityStoreId": self.store, "AlternateIdentifier": {"UniqueAttribute": {"AttributePath": "userName", "AttributeValue": username}}});
        match self.call("GetUserId", body, requests).await {
            Ok(found) => Ok(found["UserId"].as_str().map(String::from)),
            Err(RestError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// AWS names its errors by type (`__type`, sometimes with a namespace before `#`).
fn aws_error(operation: &str, status: u16, body: &Value) -> RestError {
    let kind = body["__type"].as_str().unwrap_or_default().rsplit('#').next().unwrap_or_default().to_string();
    let text = body["message"].as_str().or(body["Message"].as_str()).unwrap_or_default();
    let message = format!("{operation}: {kind} ({status}): {text}");
    match kind.as_str() {
        "ThrottlingException" | "TooManyRequestsException" => {
            RestError::Throttled { retry_after: body["RetryAfterSeconds"].as_u64().map(Duration::from_secs), message }
        }
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "SignatureDoesNotMatch" => RestError::Unauthorized { message },
        "AccessDeniedException" => RestError::Forbidden { message },
        "ResourceNotFoundException" => RestError::NotFound { message },
        "InternalServerException" | "ServiceUnavailableException" => {
            RestError::Server { status, retry_after: None, message }
        }
        _ if status >= 500 => RestError::Server { status, retry_after: None, message },
        _ => RestError::Rejected { status, message },
    }
}

fn pulled_user(u: &Value) -> Option<PulledUser> {
    let name = &u["Name"];
    let emails = u["Emails"].as_array();
    let email = emails
        .and_then(|list| list.iter().find(|e| e["Primary"] == true).or(list.first()))
        .and_then(|e| e["Value"].as_str());
    let mut record = scim_user(
        &u["UserName"],
        name["GivenName"].as_str().unwrap_or_default(),
        name["FamilyName"].as_str().unwrap_or_default(),
        email,
        true,
    );
    if let Some(display) = u["DisplayName"].as_str() {
        record.insert("displayName".into(), json!(display));
    }
    Some(PulledUser { external_id: u["UserId"].as_str()?.to_string(), record })
}

#[async_trait]
impl Connector for Aws {
    async fn check(&self) -> Vec<Check> {
        let mut out = Vec::new();
        let mut requests = 0;
        for (operation, what) in [("ListUsers", "users"), ("ListGroups", "groups")] {
            let body = json!({"IdentityStoreId": self.store, "MaxResults": 1});
            match self.call(operation, body, &mut requests).await {
                Ok(_) => out.push(Check::ok(format!("may list {what} of identity store {}", self.store))),
                Err(e @ RestError::Unauthorized { .. }) => {
                    out.push(Check::failed(format!(
                        "AWS refused the access key {} ({e}): check the key id and secret",
                        self.access_key
                    )));
                    return out;
                }
                Err(e @ RestError::Forbidden { .. }) => {
                    out.push(Check::failed(format!(
                        "the access key may not list {what} ({e}): allow identitystore:ListUsers, ListGroups, ListGroupMemberships, ListGroupMembershipsForMember, GetUserId, DescribeUser and DescribeGroup"
                    )));
                    return out;
                }
                Err(e @ RestError::NotFound { .. }) => {
                    out.push(Check::failed(format!(
                        "{e}: check --identity-store (d-…, IAM Identity Center → Settings) and --region"
                    )));
                    return out;
                }
                Err(e) => {
                    out.push(Check::failed(format!("cannot reach the identity store in {}: {e}", self.region)));
                    return out;
                }
            }
        }
        out
    }

    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError> {
        let mut requests = 0;
        let Some(id) = self.user_id(username, &mut requests).await? else { return Ok(None) };
        let body = json!({"IdentityStoreId": self.store, "UserId": id});
        Ok(Some(self.call("DescribeUser", body, &mut requests).await?))
    }

    async fn read(&self) -> Snapshot {
        let mut snapshot = Snapshot { complete: true, ..Snapshot::default() };
        let mut requests = 0;
        match self.all("ListUsers", "Users", json!({}), &mut requests).await {
            Ok(users) => snapshot.users = users.iter().filter_map(pulled_user).collect(),
            Err(e) => snapshot.failed(format!("reading users failed: {e}")),
        }
        match self.all("ListGroups", "Groups", json!({}), &mut requests).await {
            Ok(groups) => {
                for g in &groups {
                    let (Some(id), Some(name)) = (g["GroupId"].as_str(), g["DisplayName"].as_str()) else { continue };
                    match self
                        .all("ListGroupMemberships", "GroupMemberships", json!({"GroupId": id}), &mut requests)
                        .await
                    {
                        Ok(list) => {
                            let members = list
                                .iter()
                                .filter_map(|m| m["MemberId"]["UserId"].as_str().map(String::from))
                                .collect();
                            snapshot.groups.push(PulledGroup::new(id, name, members));
                        }
                        Err(e) => snapshot.failed(format!("reading the members of {name} failed: {e}")),
                    }
                }
            }
            Err(e) => snapshot.failed(format!("reading groups failed: {e}")),
        }
        snapshot.requests = requests;
        snapshot
    }

    async fn read_user(&self, username: &str) -> Result<Option<(PulledUser, Vec<PulledGroup>)>, RestError> {
        let mut requests = 0;
        let Some(id) = self.user_id(username, &mut requests).await? else { return Ok(None) };
        let found =
            self.call("DescribeUser", json!({"IdentityStoreId": self.store, "UserId": id}), &mut requests).await?;
        let user = pulled_user(&found).ok_or_else(|| RestError::Protocol(format!("user {username} has no UserId")))?;
        let memberships = self
            .all(
                "ListGroupMembershipsForMember",
                "GroupMemberships",
                json!({"MemberId": {"UserId": id}}),
                &mut requests,
            )
            .await?;
        let mut groups = Vec::new();
        for m in memberships {
            let Some(group_id) = m["GroupId"].as_str() else { continue };
            let group = self
                .call("DescribeGroup", json!({"IdentityStoreId": self.store, "GroupId": group_id}), &mut requests)
                .await?;
            if let Some(name) = group["DisplayName"].as_str() {
                groups.push(PulledGroup::new(group_id, name, vec![id.clone()]));
            }
        }
        Ok(Some((user, groups)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_regional_endpoint() {
        rest::install_crypto();
        let credentials = Credentials::Basic { username: "AKIA".into(), password: "s".into() };
        let aws = Aws::new(
            "https://identitystore.eu-west-1.amazonaws.com",
            None,
            "d-1",
            credentials,
            Duration::from_secs(1),
            Retry::default(),
        )
        .unwrap();
        assert_eq!((aws.region.as_str(), aws.host.as_str()), ("eu-west-1", "identitystore.eu-west-1.amazonaws.com"));
    }

    #[test]
    fn aws_error_types_decide_what_helps() {
        let throttled = aws_error(
            "ListUsers",
            400,
            &json!({"__type": "com.amazonaws#ThrottlingException", "message": "Rate exceeded"}),
        );
        assert!(throttled.is_retryable(), "{throttled}");
        let denied = aws_error("ListUsers", 400, &json!({"__type": "AccessDeniedException", "Message": "no"}));
        assert!(matches!(denied, RestError::Forbidden { .. }) && !denied.is_retryable());
    }
}
