//! The HTTP a flow's parameters ask for. A flow with an `endpoint` parameter (an
//! http(s) URL, such as the AI replies flow's model endpoint) may call that URL's
//! host — and its addresses when they are loopback or private (a local Ollama or
//! vLLM), because the tenant named it explicitly — with the tenant secret named by
//! its `api_key_secret` parameter sent as `Authorization: Bearer …` by the host (the
//! flow never reads it). Any other flow gets no HTTP.
//!
//! The operator may narrow what tenants can name with `[flows] endpoints` (an
//! [`Allowlist`]); link-local addresses (cloud metadata services) are refused
//! unless that list names them.

use super::params::ParamError;
pub use crate::config::endpoints::Allowlist;
use serde_json::{Map, Value, json};
use std::net::{IpAddr, SocketAddr};

fn refused(param: &str, reason: impl Into<String>) -> ParamError {
    ParamError {
        param: param.to_owned(),
        reason: reason.into(),
    }
}

/// The endpoint's host and port, or why it is not usable.
///
/// # Errors
/// A [`ParamError`] on `endpoint`.
pub fn endpoint_of(url: &str) -> Result<(String, u16), ParamError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
        refused(
            "endpoint",
            format!("{url:?} is not a URL ({e}); e.g. https://api.openai.com/v1"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(refused("endpoint", format!("{url:?} is not http(s)")));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| refused("endpoint", format!("{url:?} names no host")))?;
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| refused("endpoint", format!("{url:?} names no port")))?;
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

/// Whether the tenant secret a flow names can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretState {
    /// The tenant has no secret of that name.
    Missing,
    /// It is stored but cannot be read (sealed with another key, or empty).
    Unreadable(String),
    /// It can be read.
    Readable,
}

/// The secret named by the `api_key_secret` parameter, if one is.
pub fn secret_name(params: &Map<String, Value>) -> Option<&str> {
    params
        .get("api_key_secret")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Whether an address is one the host refuses unless a policy names it.
fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || link_local(ip) || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Link-local addresses: cloud metadata services live there.
fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// What a flow's endpoint is checked against when it is enabled.
#[derive(Debug, Clone, Copy)]
pub struct Checks<'a> {
    /// The addresses the endpoint's host resolves to ([`resolve`]).
    pub addrs: &'a [SocketAddr],
    /// The operator's list.
    pub allowed: &'a Allowlist,
    /// The state of the secret `api_key_secret` names (ignored when none is named).
    pub secret: &'a SecretState,
}

/// The HTTP policy for a flow enabled with `params`. `{}` (no HTTP) without an
/// `endpoint`.
///
/// # Errors
/// A [`ParamError`]: an unusable endpoint, one the operator's list does not name,
/// or an `api_key_secret` the tenant does not have or that cannot be read.
pub fn policy(params: &Map<String, Value>, checks: Checks<'_>) -> Result<Value, ParamError> {
    let Some(url) = params.get("endpoint").and_then(Value::as_str) else {
        return Ok(json!({}));
    };
    let (host, port) = endpoint_of(url)?;
    if !checks.allowed.names(&host, port, false) {
        return Err(refused(
            "endpoint",
            format!(
                "{host}:{port} is not among the endpoints this host allows flows to call ([flows] endpoints: {})",
                checks.allowed.0.join(", ")
            ),
        ));
    }
    if let Some(a) = checks.addrs.iter().find(|a| link_local(a.ip()))
        && !checks.allowed.names(&host, port, true)
    {
        return Err(refused(
            "endpoint",
            format!(
                "{host} is the link-local address {} (cloud metadata lives there): refused unless the operator lists it in [flows] endpoints",
                a.ip()
            ),
        ));
    }
    let allow_private: Vec<String> = checks
        .addrs
        .iter()
        .filter(|a| private(a.ip()))
        .map(|a| SocketAddr::new(a.ip(), port).to_string())
        .collect();
    let mut policy = json!({"allow": [host], "allow_private": allow_private});
    if let Some(secret) = secret_name(params) {
        let set_it = format!("set it with PUT /v1/tenants/{{id}}/secrets/{secret}");
        match checks.secret {
            SecretState::Readable => {}
            SecretState::Missing => {
                return Err(refused(
                    "api_key_secret",
                    format!("the tenant has no secret {secret:?}; {set_it}"),
                ));
            }
            SecretState::Unreadable(why) => {
                return Err(refused(
                    "api_key_secret",
                    format!(
                        "the tenant's secret {secret:?} cannot be read ({why}); {set_it} again"
                    ),
                ));
            }
        }
        policy["credentials"] = json!([{"host": host, "header": "authorization",
                                        "secret": secret, "prefix": "Bearer "}]);
    }
    Ok(policy)
}

/// The addresses the endpoint's host resolves to (an IP literal: itself).
///
/// # Errors
/// A [`ParamError`] when the name does not resolve.
pub async fn resolve(params: &Map<String, Value>) -> Result<Vec<SocketAddr>, ParamError> {
    let Some(url) = params.get("endpoint").and_then(Value::as_str) else {
        return Ok(Vec::new());
    };
    let (host, port) = endpoint_of(url)?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .map(Iterator::collect)
        .map_err(|e| refused("endpoint", format!("{host} does not resolve: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn check(
        p: &Value,
        addrs: &[&str],
        allowed: &[&str],
        secret: SecretState,
    ) -> Result<Value, ParamError> {
        let addrs: Vec<SocketAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
        let allowed = Allowlist(allowed.iter().map(|s| (*s).to_owned()).collect());
        policy(
            &params(p.clone()),
            Checks {
                addrs: &addrs,
                allowed: &allowed,
                secret: &secret,
            },
        )
    }

    #[test]
    fn a_local_endpoint_is_allowed_because_it_is_named() {
        let p = json!({"endpoint": "http://127.0.0.1:11434/v1", "api_key_secret": "ollama"});
        let got = check(&p, &["127.0.0.1:11434"], &[], SecretState::Readable).unwrap();
        assert_eq!(got["allow"], json!(["127.0.0.1"]));
        assert_eq!(got["allow_private"], json!(["127.0.0.1:11434"]));
        assert_eq!(got["credentials"][0]["secret"], "ollama");
        assert_eq!(got["credentials"][0]["prefix"], "Bearer ");
    }

    #[test]
    fn a_public_endpoint_needs_no_private_address_and_an_empty_secret_sends_none() {
        let p = json!({"endpoint": "https://api.openai.com/v1", "api_key_secret": ""});
        let got = check(&p, &["104.18.7.192:443"], &[], SecretState::Missing).unwrap();
        assert_eq!(
            got,
            json!({"allow": ["api.openai.com"], "allow_private": []})
        );
        assert_eq!(
            check(&json!({"x": 1}), &[], &[], SecretState::Missing).unwrap(),
            json!({})
        );
    }

    #[test]
    fn bad_endpoints_and_missing_or_unreadable_secrets_are_refused_by_name() {
        let ok = SecretState::Readable;
        let e = check(&json!({"endpoint": "ftp://x/v1"}), &[], &[], ok.clone()).unwrap_err();
        assert_eq!(e.param, "endpoint");
        let e = check(&json!({"endpoint": "not a url"}), &[], &[], ok).unwrap_err();
        assert_eq!(e.param, "endpoint");
        let p = json!({"endpoint": "https://api.openai.com/v1", "api_key_secret": "openai"});
        let e = check(&p, &[], &[], SecretState::Missing).unwrap_err();
        assert_eq!(e.param, "api_key_secret");
        assert!(e.reason.contains("no secret \"openai\""), "{}", e.reason);
        let sealed = SecretState::Unreadable("sealed with another key".into());
        let e = check(&p, &[], &[], sealed).unwrap_err();
        assert_eq!(e.param, "api_key_secret");
        assert!(e.reason.contains("cannot be read (sealed"), "{}", e.reason);
    }

    #[test]
    fn the_operators_list_narrows_what_tenants_may_name() {
        let ok = || SecretState::Readable;
        let list = [
            "api.openai.com",
            "127.0.0.1:11434",
            "*.openai.azure.com",
            "[::1]:8000",
        ];
        for (url, allowed) in [
            ("https://api.openai.com/v1", true),
            ("https://API.openai.com:8443/v1", true),
            ("http://127.0.0.1:11434/v1", true),
            ("http://127.0.0.1:8080/v1", false),
            ("https://acme.openai.azure.com/openai", true),
            ("https://openai.azure.com/openai", false),
            ("https://evil.example/v1", false),
            ("http://[::1]:8000/v1", true),
        ] {
            let got = check(&json!({"endpoint": url}), &[], &list, ok());
            assert_eq!(got.is_ok(), allowed, "{url}: {got:?}");
            if let Err(e) = got {
                assert!(e.reason.contains("[flows] endpoints"), "{}", e.reason);
            }
        }
        assert!(
            Allowlist(list.iter().map(|s| (*s).into()).collect())
                .validate()
                .is_ok()
        );
        for bad in ["*.", "http://x/v1", "x:0", "x:port"] {
            assert!(Allowlist(vec![bad.into()]).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn link_local_addresses_are_refused_unless_the_operator_lists_them() {
        let p = json!({"endpoint": "http://169.254.169.254/v1"});
        let e = check(&p, &["169.254.169.254:80"], &[], SecretState::Readable).unwrap_err();
        assert!(e.reason.contains("link-local"), "{}", e.reason);
        let got = check(
            &p,
            &["169.254.169.254:80"],
            &["169.254.169.254"],
            SecretState::Readable,
        )
        .unwrap();
        assert_eq!(got["allow_private"], json!(["169.254.169.254:80"]));
    }
}
