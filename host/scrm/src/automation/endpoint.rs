//! The HTTP a flow's parameters ask for. A flow with an `endpoint` parameter (an
//! http(s) URL, such as the AI replies flow's model endpoint) may call that URL's
//! host — and its addresses when they are loopback or private (a local Ollama or
//! vLLM), because the tenant named it explicitly — with the tenant secret named by
//! its `api_key_secret` parameter sent as `Authorization: Bearer …` by the host (the
//! flow never reads it). Any other flow gets no HTTP.

use super::params::ParamError;
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

/// Whether an address is one the host refuses unless a policy names it.
fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The HTTP policy for a flow enabled with `params`, its endpoint's name resolving
/// to `addrs`; `secrets`: the tenant's secret names. `{}` (no HTTP) without an
/// `endpoint`.
///
/// # Errors
/// A [`ParamError`]: an unusable endpoint, or an `api_key_secret` the tenant does
/// not have.
pub fn policy(
    params: &Map<String, Value>,
    addrs: &[SocketAddr],
    secrets: &[String],
) -> Result<Value, ParamError> {
    let Some(url) = params.get("endpoint").and_then(Value::as_str) else {
        return Ok(json!({}));
    };
    let (host, port) = endpoint_of(url)?;
    let allow_private: Vec<String> = addrs
        .iter()
        .filter(|a| private(a.ip()))
        .map(|a| SocketAddr::new(a.ip(), port).to_string())
        .collect();
    let mut policy = json!({"allow": [host], "allow_private": allow_private});
    let secret = params
        .get("api_key_secret")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if !secret.is_empty() {
        if !secrets.iter().any(|s| s == secret) {
            return Err(refused(
                "api_key_secret",
                format!(
                    "the tenant has no secret {secret:?}; set it first (PUT /v1/tenants/{{id}}/secrets/{secret})"
                ),
            ));
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

    #[test]
    fn a_local_endpoint_is_allowed_because_it_is_named() {
        let p =
            params(json!({"endpoint": "http://127.0.0.1:11434/v1", "api_key_secret": "ollama"}));
        let addrs = ["127.0.0.1:11434".parse().unwrap()];
        let got = policy(&p, &addrs, &["ollama".into()]).unwrap();
        assert_eq!(got["allow"], json!(["127.0.0.1"]));
        assert_eq!(got["allow_private"], json!(["127.0.0.1:11434"]));
        assert_eq!(got["credentials"][0]["secret"], "ollama");
        assert_eq!(got["credentials"][0]["prefix"], "Bearer ");
    }

    #[test]
    fn a_public_endpoint_needs_no_private_address_and_an_empty_secret_sends_none() {
        let p = params(json!({"endpoint": "https://api.openai.com/v1", "api_key_secret": ""}));
        let got = policy(&p, &["104.18.7.192:443".parse().unwrap()], &[]).unwrap();
        assert_eq!(
            got,
            json!({"allow": ["api.openai.com"], "allow_private": []})
        );
        assert_eq!(
            policy(&params(json!({"x": 1})), &[], &[]).unwrap(),
            json!({})
        );
    }

    #[test]
    fn bad_endpoints_and_missing_secrets_are_refused_by_name() {
        let e = policy(&params(json!({"endpoint": "ftp://x/v1"})), &[], &[]).unwrap_err();
        assert_eq!(e.param, "endpoint");
        let e = policy(&params(json!({"endpoint": "not a url"})), &[], &[]).unwrap_err();
        assert_eq!(e.param, "endpoint");
        let p =
            params(json!({"endpoint": "https://api.openai.com/v1", "api_key_secret": "openai"}));
        let e = policy(&p, &[], &["other".into()]).unwrap_err();
        assert_eq!(e.param, "api_key_secret");
        assert!(e.reason.contains("no secret \"openai\""), "{}", e.reason);
    }
}
