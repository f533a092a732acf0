//! `public_url`: the address the world reaches this host at (behind its TLS proxy),
//! for links the host hands out — tracked links point at `{public_url}/l/{token}`.

use std::fmt;
use std::sync::Arc;

/// A validated public base URL: absolute `http` or `https`, with a host, no
/// credentials, query or fragment; kept without a trailing `/`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicUrl(Arc<str>);

/// Why a `public_url` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "public_url must be an absolute http(s) URL without query or fragment (e.g. https://crm.example.com), got {given:?}: {reason}"
)]
pub struct InvalidPublicUrl {
    /// The value as given.
    pub given: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl PublicUrl {
    /// Parses and validates `text`.
    ///
    /// # Errors
    /// [`InvalidPublicUrl`] saying what is wrong.
    pub fn parse(text: &str) -> Result<PublicUrl, InvalidPublicUrl> {
        let bad = |reason| InvalidPublicUrl {
            given: text.to_owned(),
            reason,
        };
        let url = url::Url::parse(text.trim()).map_err(|_| bad("not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it must not carry credentials"));
        }
        if url.query().is_some() {
            return Err(bad("it must not have a query (?…)"));
        }
        if url.fragment().is_some() {
            return Err(bad("it must not have a fragment (#…)"));
        }
        let text = url.as_str().trim_end_matches('/');
        Ok(PublicUrl(Arc::from(text)))
    }

    /// The URL, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address of a tracked link's `token`: `{public_url}/l/{token}`.
    pub fn link(&self, token: &str) -> String {
        format!("{}/l/{token}", self.0)
    }

    /// Whether `url` is a tracked link of this host already (`{public_url}/l/…`).
    pub fn is_link(&self, url: &str) -> bool {
        url.strip_prefix(&*self.0)
            .is_some_and(|rest| rest.starts_with("/l/"))
    }
}

impl fmt::Debug for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicUrl({:?})", self.0)
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https_bases_and_drops_the_trailing_slash() {
        let u = PublicUrl::parse("https://crm.example.com/").unwrap();
        assert_eq!(u.as_str(), "https://crm.example.com");
        assert_eq!(u.link("abc"), "https://crm.example.com/l/abc");
        let u = PublicUrl::parse("http://10.0.0.5:8080/scrm").unwrap();
        assert_eq!(u.link("abc"), "http://10.0.0.5:8080/scrm/l/abc");
        assert!(u.is_link("http://10.0.0.5:8080/scrm/l/abc"));
        assert!(!u.is_link("http://10.0.0.5:8080/scrm/other"));
        assert!(!u.is_link("http://10.0.0.5:8080/scrmx/l/abc"));
    }

    #[test]
    fn refuses_what_is_not_an_absolute_http_url_without_query_or_fragment() {
        for (bad, why) in [
            ("crm.example.com", "absolute"),
            ("ftp://crm.example.com", "scheme"),
            ("https://crm.example.com/?a=1", "query"),
            ("https://crm.example.com/#top", "fragment"),
            ("https://user:pw@crm.example.com", "credentials"),
            ("mailto:ops@example.com", "scheme"),
        ] {
            let err = PublicUrl::parse(bad).unwrap_err();
            assert!(err.to_string().contains(why), "{bad}: {err}");
            assert!(err.to_string().contains("public_url"), "{err}");
        }
    }
}
