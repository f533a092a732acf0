//! The configuration the operator installed with this plugin binding.
//!
//! Plugins usually take JSON or TOML; [`parse`] accepts either.

use crate::classifier::scrm::plugin::config as host;
use serde::de::DeserializeOwned;

/// The installed configuration as raw bytes; empty when none was installed.
pub fn bytes() -> Vec<u8> {
    host::get()
}

/// The configuration's size in bytes, without reading it.
pub fn size() -> u64 {
    host::size()
}

/// Reads `len` bytes at `offset` of the configuration, for large configurations
/// (such as a model) that should not be copied in whole on every call.
pub fn read(offset: u64, len: u32) -> Vec<u8> {
    host::read(offset, len)
}

/// Reads several `(offset, len)` ranges in one host call, concatenated; each is
/// clamped to the configuration's end like [`read`].
pub fn read_many(ranges: &[(u64, u32)]) -> Vec<u8> {
    host::read_many(ranges)
}

/// Parses the configuration as JSON (when it starts with `{`) or TOML; `Ok(None)`
/// when none was installed.
///
/// # Errors
/// A message saying where the configuration is invalid.
pub fn parse<T: DeserializeOwned>() -> Result<Option<T>, String> {
    parse_bytes(&bytes())
}

/// Like [`parse`], on bytes the caller already has (handy for native unit tests).
///
/// # Errors
/// A message saying where the configuration is invalid.
pub fn parse_bytes<T: DeserializeOwned>(raw: &[u8]) -> Result<Option<T>, String> {
    let text = std::str::from_utf8(raw).map_err(|e| format!("config is not UTF-8: {e}"))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.starts_with('{') {
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| format!("invalid JSON config: {e}"))
    } else {
        toml::from_str(text)
            .map(Some)
            .map_err(|e| format!("invalid TOML config: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Conf {
        name: String,
    }

    #[test]
    fn parses_json_and_toml_and_empty() {
        assert_eq!(
            parse_bytes::<Conf>(br#"{"name":"a"}"#).unwrap(),
            Some(Conf { name: "a".into() })
        );
        assert_eq!(
            parse_bytes::<Conf>(b"name = \"b\"\n").unwrap(),
            Some(Conf { name: "b".into() })
        );
        assert_eq!(parse_bytes::<Conf>(b"  \n").unwrap(), None);
    }

    #[test]
    fn reports_where_config_is_invalid() {
        let err = parse_bytes::<Conf>(b"name = ").unwrap_err();
        assert!(err.starts_with("invalid TOML config"), "{err}");
    }
}
