//! Meta's webhook signatures: the `X-Hub-Signature-256` header, an HMAC-SHA256 of the
//! request body keyed with the app secret, rendered as `sha256=<hex>`.
//!
//! Meta computes the HMAC over an escaped-unicode rendering of the payload (non-ASCII
//! characters as lowercase `\uXXXX`), while the body it delivers may carry those
//! characters as raw UTF-8. [`verify`] therefore accepts either form.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The scheme prefix Meta puts before the hex digest.
const PREFIX: &str = "sha256=";

/// Why a webhook's signature was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The request carried no `X-Hub-Signature-256` header (or an empty one).
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// The header was present but not of the form `sha256=<64 hex digits>`.
    #[error("malformed X-Hub-Signature-256 header: expected sha256=<64 hex digits>")]
    Malformed,
    /// The header was well formed but no accepted rendering of the body matches it.
    #[error("signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    /// A stable machine-readable code for logs, metrics and API responses.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed => "signature_malformed",
            Self::Mismatch => "signature_mismatch",
        }
    }
}

/// Computes the `X-Hub-Signature-256` header value Meta would send for `body`.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let digest = mac(app_secret, body).finalize().into_bytes();
    format!("{PREFIX}{}", hex::encode(digest))
}

/// Checks an `X-Hub-Signature-256` header against the raw body, in constant time.
///
/// The raw bytes are tried first; if they do not match and the body has non-ASCII text,
/// its escaped-unicode rendering (see [`escape_non_ascii`]) is tried as well.
pub fn verify(app_secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(SignatureError::Missing)?;
    let expected = decode_header(header)?;
    if mac(app_secret, body).verify_slice(&expected).is_ok() {
        return Ok(());
    }
    match escape_non_ascii(body) {
        Some(escaped) if mac(app_secret, &escaped).verify_slice(&expected).is_ok() => Ok(()),
        _ => Err(SignatureError::Mismatch),
    }
}

/// Rewrites every non-ASCII character of a UTF-8 body as `\uXXXX` with lowercase hex
/// (UTF-16 surrogate pairs beyond the BMP), leaving ASCII bytes untouched.
///
/// Returns `None` when there is nothing to rewrite: the body is pure ASCII, or it is not
/// UTF-8 (Meta only sends UTF-8 JSON, so such a body can only match in its raw form).
pub fn escape_non_ascii(body: &[u8]) -> Option<Vec<u8>> {
    if body.is_ascii() {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    // Each non-ASCII char is 2–4 UTF-8 bytes and becomes 6 or 12 escaped ones.
    let mut escaped = Vec::with_capacity(body.len() * 2);
    let mut units = [0u16; 2];
    for ch in text.chars() {
        if ch.is_ascii() {
            escaped.push(ch as u8);
        } else {
            for unit in ch.encode_utf16(&mut units) {
                escaped.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
            }
        }
    }
    Some(escaped)
}

/// Parses `sha256=<64 hex digits>` (hex in either case) into the 32-byte digest.
fn decode_header(header: &str) -> Result<[u8; 32], SignatureError> {
    let digits = header
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::Malformed)?;
    let mut digest = [0u8; 32];
    // `decode_to_slice` also rejects any length other than exactly 64 digits.
    hex::decode_to_slice(digits, &mut digest).map_err(|_| SignatureError::Malformed)?;
    Ok(digest)
}

/// Starts an HMAC-SHA256 over `body` keyed with the app secret.
fn mac(app_secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC hashes over-long keys and pads short ones, so no key length is invalid.
    let mut mac =
        HmacSha256::new_from_slice(app_secret).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"app-secret";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;

    #[test]
    fn sign_then_verify_roundtrips() {
        let header = sign(SECRET, BODY);
        assert!(header.starts_with("sha256="));
        assert_eq!(header.len(), "sha256=".len() + 64);
        assert_eq!(verify(SECRET, BODY, Some(&header)), Ok(()));
    }

    #[test]
    fn sign_matches_a_known_hmac_sha256_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hex_digits_are_case_insensitive_and_header_is_trimmed() {
        let header = sign(SECRET, BODY);
        let upper = format!("sha256={}", header["sha256=".len()..].to_uppercase());
        assert_eq!(verify(SECRET, BODY, Some(&upper)), Ok(()));
        assert_eq!(verify(SECRET, BODY, Some(&format!("  {header} "))), Ok(()));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let header = sign(b"another-secret", BODY);
        let error = verify(SECRET, BODY, Some(&header)).unwrap_err();
        assert_eq!(error, SignatureError::Mismatch);
        assert_eq!(error.code(), "signature_mismatch");
        assert_eq!(error.to_string(), "signature does not match the body");
    }

    #[test]
    fn a_flipped_body_byte_is_a_mismatch() {
        let header = sign(SECRET, BODY);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 0x01;
        assert_eq!(
            verify(SECRET, &tampered, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_flipped_signature_digit_is_a_mismatch() {
        let mut header = sign(SECRET, BODY).into_bytes();
        let last = header.len() - 1;
        header[last] = if header[last] == b'0' { b'1' } else { b'0' };
        let header = String::from_utf8(header).unwrap();
        assert_eq!(
            verify(SECRET, BODY, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_or_empty_header() {
        for header in [None, Some(""), Some("   ")] {
            let error = verify(SECRET, BODY, header).unwrap_err();
            assert_eq!(error, SignatureError::Missing);
            assert_eq!(error.code(), "signature_missing");
        }
        assert_eq!(
            SignatureError::Missing.to_string(),
            "missing X-Hub-Signature-256 header"
        );
    }

    #[test]
    fn malformed_headers() {
        let digest = &sign(SECRET, BODY)["sha256=".len()..];
        let cases = [
            digest.to_owned(),                     // no prefix
            format!("sha1={digest}"),              // wrong scheme
            format!("SHA256={digest}"),            // prefix is case-sensitive
            format!("sha256={}", &digest[..63]),   // too short
            format!("sha256={digest}0"),           // too long
            format!("sha256={}zz", &digest[..62]), // not hex
            "sha256=".to_owned(),
        ];
        for header in &cases {
            let error = verify(SECRET, BODY, Some(header)).unwrap_err();
            assert_eq!(error, SignatureError::Malformed, "{header}");
            assert_eq!(error.code(), "signature_malformed");
        }
        assert!(
            SignatureError::Malformed
                .to_string()
                .contains("expected sha256=<64 hex digits>")
        );
    }

    #[test]
    fn escape_non_ascii_uses_lowercase_utf16_escapes() {
        let body = "{\"name\":\"Lucía 👍 äöå\"}".as_bytes();
        let escaped = escape_non_ascii(body).unwrap();
        assert_eq!(
            String::from_utf8(escaped).unwrap(),
            r#"{"name":"Luc\u00eda \ud83d\udc4d \u00e4\u00f6\u00e5"}"#
        );
    }

    #[test]
    fn escape_non_ascii_is_none_for_ascii_or_invalid_utf8() {
        assert_eq!(escape_non_ascii(BODY), None);
        assert_eq!(escape_non_ascii(b""), None);
        assert_eq!(escape_non_ascii(b"{\"a\":\"\xff\xfe\"}"), None);
    }

    #[test]
    fn escaped_unicode_signature_accepts_the_raw_body() {
        let raw = "{\"profile\":{\"name\":\"Lucía 👍\"}}".as_bytes();
        let escaped = escape_non_ascii(raw).unwrap();
        let header = sign(SECRET, &escaped);
        assert_eq!(verify(SECRET, raw, Some(&header)), Ok(()));
        // The escaped form itself is still accepted as a raw body.
        assert_eq!(verify(SECRET, &escaped, Some(&header)), Ok(()));
        // And a raw-form signature still verifies too.
        assert_eq!(verify(SECRET, raw, Some(&sign(SECRET, raw))), Ok(()));
        // But the fallback is no loophole: a different secret still fails.
        assert_eq!(
            verify(b"other", raw, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }
}
