//! Outbound HTTP for plugins through the standard `wasi:http` outgoing handler,
//! filtered per binding:
//!
//! - only hosts on the binding's allowlist (`api.hubapi.com`, `*.zoho.com`);
//! - after DNS resolution every address is checked again: loopback, private,
//!   link-local and other non-public addresses are refused unless that exact
//!   `ip:port` is listed in `allow_private` (for CRMs on the operator's own network);
//! - at most `max_requests` per call;
//! - credentials come from the tenant's secrets and are added by the host to requests
//!   for the matching host, so a plugin never sees a token. A credential that renews
//!   itself (an OAuth 2 refresh token) is renewed before it expires, and when the
//!   server answers 401 anyway the host renews it and sends the request once more.
//!
//! Every refusal is recorded on the call (and returned to the plugin as the standard
//! `HTTP-request-denied` / `destination-IP-prohibited` error codes).

use crate::storage::SecretSource;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use secrecy::ExposeSecret;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpHooks,
};

/// A credential the host adds to requests for one host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// The host (as in the allowlist) whose requests get the header.
    pub host: String,
    /// The header to set, e.g. `authorization` (empty when `query` carries it).
    #[serde(default)]
    pub header: String,
    /// Or the query parameter to add, e.g. `key` (Google's APIs), instead of a header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The tenant secret holding the value.
    pub secret: String,
    /// Text put before the secret, e.g. `Bearer `.
    #[serde(default)]
    pub prefix: String,
}

/// A binding's outbound HTTP policy, as installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPolicy {
    /// Hosts the plugin may call: exact names, or `*.example.com` for subdomains.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Non-public `ip:port` destinations explicitly allowed (e.g. `127.0.0.1:8069`).
    #[serde(default)]
    pub allow_private: Vec<SocketAddr>,
    /// Most requests per call (default 10).
    #[serde(default)]
    pub max_requests: Option<u32>,
    /// Credentials added by the host.
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// Tenant secrets the plugin may key an HMAC with (`scrm:plugin/secrets`), e.g. to
    /// check a CRM webhook's signature; it never reads them.
    #[serde(default)]
    pub secrets: Vec<String>,
}

impl HttpPolicy {
    /// True when `host` is on the allowlist.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow.iter().any(|rule| {
            let rule = rule.to_ascii_lowercase();
            match rule.strip_prefix("*.") {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => host == rule,
            }
        })
    }

    /// Checks the policy's own consistency.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        for rule in &self.allow {
            let bare = rule.strip_prefix("*.").unwrap_or(rule);
            if bare.is_empty() || bare.contains(['/', ':', '*', ' ']) {
                return Err(format!(
                    "allow entry {rule:?} must be a host name or *.domain"
                ));
            }
        }
        for c in &self.credentials {
            if !self.allows_host(&c.host) {
                return Err(format!(
                    "credential host {:?} is not on the allowlist",
                    c.host
                ));
            }
            match &c.query {
                Some(q)
                    if q.is_empty()
                        || !q
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                {
                    return Err(format!(
                        "credential query parameter {q:?} is not a plain name"
                    ));
                }
                Some(_) if !c.header.is_empty() => {
                    return Err("a credential sets a header or a query parameter, not both".into());
                }
                Some(_) => {}
                None if http::HeaderName::from_bytes(c.header.as_bytes()).is_err() => {
                    return Err(format!(
                        "credential header {:?} is not a valid header name",
                        c.header
                    ));
                }
                None => {}
            }
        }
        Ok(())
    }
}

/// True for addresses that are not publicly routable (loopback, private, link-local,
/// unique-local, unspecified, multicast, broadcast, documentation, CGNAT).
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
        }
    }
}

/// What the per-call HTTP state reports back.
#[derive(Debug, Default)]
pub struct HttpReport {
    /// Requests sent.
    pub sent: u32,
    /// Requests refused, with why.
    pub denied: Vec<String>,
}

/// How long a request may take to connect, when the plugin does not say.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may wait for the first byte of the answer (and between two of
/// its chunks), when the plugin does not say.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a call's credentials are renewed after a 401: the tenant's secret source.
#[derive(Debug, Clone)]
pub struct Renewal {
    /// The source of the tenant's credentials.
    pub source: Arc<dyn SecretSource>,
    /// The calling binding's tenant.
    pub tenant: String,
}

/// A credential's current value per secret name, shared by a call's requests.
type Values = Arc<Mutex<Vec<(String, SecretString)>>>;

/// Per-call outbound HTTP state.
pub struct HttpState {
    pub(crate) ctx: WasiHttpCtx,
    pub(crate) hooks: PolicyHooks,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState").finish_non_exhaustive()
    }
}

impl HttpState {
    /// State for one call under `policy`, with the values of its credentials by
    /// secret name, renewed through `renew` after a 401.
    pub fn new(
        policy: Arc<HttpPolicy>,
        secrets: Vec<(String, SecretString)>,
        renew: Option<Renewal>,
    ) -> HttpState {
        HttpState {
            ctx: WasiHttpCtx::new(),
            hooks: PolicyHooks {
                remaining: policy.max_requests.unwrap_or(10),
                sent: 0,
                policy,
                secrets: Arc::new(Mutex::new(secrets)),
                renew,
                report: Arc::default(),
                waited_us: Arc::default(),
            },
        }
    }

    /// How many requests this call sent (past the policy checks).
    pub fn sent(&self) -> u32 {
        self.hooks.sent
    }

    /// How long this call's requests have waited for their answers so far (from
    /// sending until the answer's head arrived, or the request failed).
    pub fn waited(&self) -> Duration {
        Duration::from_micros(self.hooks.waited_us.load(Ordering::Relaxed))
    }

    /// What happened to this call's requests.
    pub fn report(&self) -> Arc<Mutex<HttpReport>> {
        self.hooks.report.clone()
    }
}

/// The hooks that enforce the policy on every outgoing request.
#[derive(Debug)]
pub struct PolicyHooks {
    policy: Arc<HttpPolicy>,
    secrets: Values,
    renew: Option<Renewal>,
    remaining: u32,
    sent: u32,
    report: Arc<Mutex<HttpReport>>,
    /// Time spent waiting for answers, µs (see [`HttpState::waited`]).
    waited_us: Arc<AtomicU64>,
}

type SendFuture = Box<
    dyn std::future::Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl PolicyHooks {
    fn deny(&self, why: String, err: HttpError) -> SendFuture {
        tracing::warn!(reason = %why, "plugin HTTP request refused");
        self.report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .denied
            .push(why);
        Box::new(async move { Err(err) })
    }
}

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let Some(host) = request.uri().host().map(str::to_string) else {
            return self.deny(
                "request without a host".into(),
                HttpError::HttpRequestUriInvalid,
            );
        };
        if self.remaining == 0 {
            return self.deny(
                format!("request to {host}: max_requests reached"),
                HttpError::HttpRequestDenied,
            );
        }
        if !self.policy.allows_host(&host) {
            return self.deny(
                format!("request to {host}: not on the allowlist"),
                HttpError::HttpRequestDenied,
            );
        }
        self.remaining -= 1;
        self.sent += 1;
        // Credentials are added here, outside the sandbox.
        let mut applied = Vec::new();
        for c in self
            .policy
            .credentials
            .iter()
            .filter(|c| c.host.eq_ignore_ascii_case(&host))
        {
            let value = self
                .secrets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|(name, _)| *name == c.secret)
                .map(|(_, v)| v.clone());
            let Some(value) = value else {
                return self.deny(
                    format!("request to {host}: tenant secret {:?} is not set", c.secret),
                    HttpError::HttpRequestDenied,
                );
            };
            if let Some(param) = &c.query {
                match with_query(
                    request.uri(),
                    param,
                    &format!("{}{}", c.prefix, value.expose_secret()),
                ) {
                    Some(uri) => *request.uri_mut() = uri,
                    None => {
                        return self.deny(
                            format!(
                                "request to {host}: credential {:?} cannot go in the URL",
                                c.secret
                            ),
                            HttpError::HttpRequestDenied,
                        );
                    }
                }
                continue;
            }
            match credential_header(c, &value) {
                Some((name, v)) => {
                    request.headers_mut().insert(name, v);
                    applied.push((c.clone(), value));
                }
                None => {
                    return self.deny(
                        format!(
                            "request to {host}: credential {:?} is not a valid header",
                            c.secret
                        ),
                        HttpError::HttpRequestDenied,
                    );
                }
            }
        }
        let retry = self
            .renew
            .clone()
            .filter(|_| !applied.is_empty())
            .map(|r| (r, applied, self.secrets.clone()));
        let tls = request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = request
            .uri()
            .port_u16()
            .unwrap_or(if tls { 443 } else { 80 });
        let allow_private = self.policy.allow_private.clone();
        let report = self.report.clone();
        let waited_us = self.waited_us.clone();
        // A CRM that never answers must not hold the call (and its job) forever.
        let options = RequestOptions {
            connect_timeout: options
                .and_then(|o| o.connect_timeout)
                .or(Some(CONNECT_TIMEOUT)),
            first_byte_timeout: options
                .and_then(|o| o.first_byte_timeout)
                .or(Some(ANSWER_TIMEOUT)),
            between_bytes_timeout: options
                .and_then(|o| o.between_bytes_timeout)
                .or(Some(ANSWER_TIMEOUT)),
        };
        let started = Instant::now();
        let sending = async move {
            // Check every address the name resolves to, so a public name pointing at
            // a private address is refused too.
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), port)).await
            {
                Ok(a) => a.collect(),
                Err(_) => return Err(HttpError::DestinationNotFound),
            };
            if addrs.is_empty() {
                return Err(HttpError::DestinationNotFound);
            }
            if let Some(bad) = addrs
                .iter()
                .find(|a| is_non_public(a.ip()) && !allow_private.contains(a))
            {
                let why = format!("request to {host}: {bad} is not a public address");
                tracing::warn!(reason = %why, "plugin HTTP request refused");
                report
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .denied
                    .push(why);
                return Err(HttpError::DestinationIpProhibited);
            }
            report.lock().unwrap_or_else(|p| p.into_inner()).sent += 1;
            let Some(retry) = retry else {
                let (res, io) =
                    wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
                return Ok((
                    res.map(BodyExt::boxed_unsync),
                    Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
                ));
            };
            // The body is kept so the request can go again with a renewed credential.
            let (parts, body) = request.into_parts();
            let bytes = body.collect().await?.to_bytes();
            let again = copy_request(&parts, &bytes);
            let (res, io) = wasmtime_wasi_http::default_send_request(
                http::Request::from_parts(parts, full(bytes)),
                Some(options),
            )
            .await?;
            if res.status() != http::StatusCode::UNAUTHORIZED {
                return Ok((
                    res.map(BodyExt::boxed_unsync),
                    Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
                ));
            }
            let Some(mut again) = renewed(again, retry).await else {
                return Ok((
                    res.map(BodyExt::boxed_unsync),
                    Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
                ));
            };
            drop((res, io));
            again.headers_mut().remove(http::header::CONTENT_LENGTH);
            report.lock().unwrap_or_else(|p| p.into_inner()).sent += 1;
            let (res, io) = wasmtime_wasi_http::default_send_request(again, Some(options)).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        };
        Box::new(async move {
            let answer = sending.await;
            // The plugin's CPU deadline does not run while it waits for the CRM.
            let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            waited_us.fetch_add(waited, Ordering::Relaxed);
            answer
        })
    }
}

/// The header a credential sets, marked sensitive; none when it cannot be one.
fn credential_header(
    c: &Credential,
    value: &SecretString,
) -> Option<(http::HeaderName, http::HeaderValue)> {
    let name = http::HeaderName::from_bytes(c.header.as_bytes()).ok()?;
    let mut v =
        http::HeaderValue::from_str(&format!("{}{}", c.prefix, value.expose_secret())).ok()?;
    v.set_sensitive(true);
    Some((name, v))
}

/// `uri` with `param=value` added to its query (the value percent-encoded).
fn with_query(uri: &http::Uri, param: &str, value: &str) -> Option<http::Uri> {
    const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let encoded = percent_encoding::utf8_percent_encode(value, COMPONENT);
    let path = uri.path();
    let query = match uri.query() {
        Some(q) if !q.is_empty() => format!("{q}&{param}={encoded}"),
        _ => format!("{param}={encoded}"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(format!("{path}?{query}").parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

fn full(bytes: Bytes) -> WasiBody {
    Full::new(bytes)
        .map_err(|never: std::convert::Infallible| match never {})
        .boxed_unsync()
}

/// A second copy of a request (method, URI, version, headers and body).
fn copy_request(parts: &http::request::Parts, body: &Bytes) -> http::Request<WasiBody> {
    let mut r = http::Request::new(full(body.clone()));
    *r.method_mut() = parts.method.clone();
    *r.uri_mut() = parts.uri.clone();
    *r.version_mut() = parts.version;
    *r.headers_mut() = parts.headers.clone();
    r
}

/// After a 401: `request` with every credential it carried renewed, or none when no
/// credential changed (a fixed token is refused for good).
async fn renewed(
    mut request: http::Request<WasiBody>,
    (renew, applied, values): (Renewal, Vec<(Credential, SecretString)>, Values),
) -> Option<http::Request<WasiBody>> {
    let mut changed = false;
    for (c, refused) in applied {
        let (source, tenant, name) = (renew.source.clone(), renew.tenant.clone(), c.secret.clone());
        let fresh = tokio::task::spawn_blocking(move || {
            source
                .credential(&tenant, &name, Some(&refused))
                .map(|v| (v, refused))
        })
        .await;
        let (fresh, refused) = match fresh {
            Ok(Ok((Some(v), refused))) => (v, refused),
            Ok(Err(e)) => {
                tracing::warn!(secret = %c.secret, error = %e, "cannot renew a credential");
                continue;
            }
            _ => continue,
        };
        if fresh.expose_secret() == refused.expose_secret() {
            continue;
        }
        let Some((header, value)) = credential_header(&c, &fresh) else {
            continue;
        };
        request.headers_mut().insert(header, value);
        let mut values = values.lock().unwrap_or_else(|p| p.into_inner());
        match values.iter_mut().find(|(n, _)| *n == c.secret) {
            Some((_, v)) => *v = fresh,
            None => values.push((c.secret.clone(), fresh)),
        }
        changed = true;
    }
    changed.then_some(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_exact_hosts_and_subdomains_only() {
        let p = HttpPolicy {
            allow: vec!["api.hubapi.com".into(), "*.zoho.com".into()],
            ..HttpPolicy::default()
        };
        assert!(p.allows_host("api.hubapi.com"));
        assert!(p.allows_host("API.HUBAPI.COM."));
        assert!(p.allows_host("www.zohoapis.zoho.com"));
        assert!(!p.allows_host("zoho.com"));
        assert!(!p.allows_host("evil-api.hubapi.com.attacker.net"));
        assert!(!p.allows_host("hubapi.com"));
    }

    #[test]
    fn non_public_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn policy_validation_names_the_problem() {
        let p = HttpPolicy {
            allow: vec!["https://x.com/".into()],
            ..HttpPolicy::default()
        };
        assert!(p.validate().unwrap_err().contains("must be a host name"));
        let p = HttpPolicy {
            allow: vec!["x.com".into()],
            credentials: vec![Credential {
                host: "y.com".into(),
                header: "authorization".into(),
                query: None,
                secret: "s".into(),
                prefix: String::new(),
            }],
            ..HttpPolicy::default()
        };
        assert!(p.validate().unwrap_err().contains("not on the allowlist"));
        let p = HttpPolicy {
            allow: vec!["maps.googleapis.com".into()],
            credentials: vec![Credential {
                host: "maps.googleapis.com".into(),
                header: "authorization".into(),
                query: Some("key".into()),
                secret: "s".into(),
                prefix: String::new(),
            }],
            ..HttpPolicy::default()
        };
        assert!(p.validate().unwrap_err().contains("not both"));
    }

    #[test]
    fn a_query_credential_is_added_to_the_url_encoded() {
        let uri: http::Uri = "https://maps.googleapis.com/maps/api/geocode/json?address=Via+Roma"
            .parse()
            .unwrap();
        let out = with_query(&uri, "key", "AIza k&y").unwrap();
        assert_eq!(
            out.to_string(),
            "https://maps.googleapis.com/maps/api/geocode/json?address=Via+Roma&key=AIza%20k%26y"
        );
        let bare: http::Uri = "http://127.0.0.1:9/x".parse().unwrap();
        assert_eq!(
            with_query(&bare, "key", "k").unwrap().to_string(),
            "http://127.0.0.1:9/x?key=k"
        );
    }
}
