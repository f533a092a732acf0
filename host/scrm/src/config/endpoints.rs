//! The model endpoints flows may name (`[flows] endpoints`), checked when a flow is
//! enabled (`crate::automation::endpoint`).

use serde::{Deserialize, Serialize};

/// The endpoints flows may name (`[flows] endpoints`): each entry a host
/// (`api.openai.com`, any port), a host and port (`127.0.0.1:11434`,
/// `[::1]:8000`) or every subdomain of a domain (`*.openai.azure.com`). Empty (the
/// default): any endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Allowlist(pub Vec<String>);

impl Allowlist {
    /// Why an entry is not usable, if one is not.
    ///
    /// # Errors
    /// The first entry that names no host or a bad port.
    pub fn validate(&self) -> Result<(), String> {
        for e in &self.0 {
            let (host, port) = split_entry(e);
            if host.trim_start_matches("*.").is_empty() || host.contains('/') {
                return Err(format!(
                    "{e:?} is not a host, host:port or *.domain (e.g. api.openai.com, 127.0.0.1:11434)"
                ));
            }
            if let Some(Err(_)) = port {
                return Err(format!("{e:?} has a port that is not a number 1..=65535"));
            }
        }
        Ok(())
    }

    /// True when the list names the endpoint's `host` and `port` (or is empty and
    /// `strict` is false).
    pub(crate) fn names(&self, host: &str, port: u16, strict: bool) -> bool {
        if self.0.is_empty() {
            return !strict;
        }
        let host = host.to_ascii_lowercase();
        self.0.iter().any(|e| {
            let (h, p) = split_entry(e);
            let h = h.to_ascii_lowercase();
            let host_ok = match h.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => h == host,
            };
            host_ok && p.is_none_or(|p| p == Ok(port))
        })
    }
}

/// An entry's host (brackets removed) and port, if it has one.
fn split_entry(entry: &str) -> (&str, Option<Result<u16, ()>>) {
    let entry = entry.trim();
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').map(port_of);
        return (host, port);
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port_of(port))),
        _ => (entry, None),
    }
}

fn port_of(text: &str) -> Result<u16, ()> {
    text.parse::<u16>().ok().filter(|p| *p > 0).ok_or(())
}
