//! Meta's media types, with the MIME types and sizes the Cloud API accepts for each
//! (sizes read strictly: 1 MB = 1,000,000 bytes, below either reading of Meta's "MB").

use base64::Engine as _;

/// A media type of an outbound message (and of a Cloud API upload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `image`: JPEG or PNG, at most 5 MB.
    Image,
    /// `audio`: AAC, AMR, MP3, MP4 audio or OGG (Opus), at most 16 MB.
    Audio,
    /// `video`: MP4 or 3GPP, at most 16 MB.
    Video,
    /// `document`: any file, at most 100 MB.
    Document,
    /// `sticker`: WebP, at most 100 KB (500 KB when animated).
    Sticker,
}

/// The largest image Meta accepts; larger images are re-encoded to JPEG below it.
pub const IMAGE_MAX: u64 = 5_000_000;
/// The largest audio or video file.
pub const AUDIO_VIDEO_MAX: u64 = 16_000_000;
/// The largest document (and the largest file the host downloads or accepts).
pub const DOCUMENT_MAX: u64 = 100_000_000;
/// The largest static sticker.
pub const STICKER_MAX: u64 = 100_000;
/// The largest animated sticker.
pub const ANIMATED_STICKER_MAX: u64 = 500_000;

const IMAGE_MIMES: &[&str] = &["image/jpeg", "image/png"];
const AUDIO_MIMES: &[&str] = &[
    "audio/aac",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
];
const VIDEO_MIMES: &[&str] = &["video/mp4", "video/3gpp"];
const STICKER_MIMES: &[&str] = &["image/webp"];

impl Kind {
    /// Every outbound kind, as the Cloud API names them.
    pub const ALL: [Kind; 5] = [
        Kind::Image,
        Kind::Audio,
        Kind::Video,
        Kind::Document,
        Kind::Sticker,
    ];

    /// Parses `image`, `audio`, `video`, `document` or `sticker`.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The Cloud API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Audio => "audio",
            Kind::Video => "video",
            Kind::Document => "document",
            Kind::Sticker => "sticker",
        }
    }

    /// The kind a file of `mime` is sent as when the caller does not say.
    pub fn infer(mime: &str) -> Kind {
        let m = essence(mime);
        if m == "image/webp" {
            Kind::Sticker
        } else if m.starts_with("image/") {
            Kind::Image
        } else if m.starts_with("audio/") {
            Kind::Audio
        } else if m.starts_with("video/") {
            Kind::Video
        } else {
            Kind::Document
        }
    }

    /// Whether Meta accepts `mime` for this kind.
    pub fn accepts(self, mime: &str) -> bool {
        let m = essence(mime);
        let list = match self {
            Kind::Image => IMAGE_MIMES,
            Kind::Audio => AUDIO_MIMES,
            Kind::Video => VIDEO_MIMES,
            Kind::Sticker => STICKER_MIMES,
            Kind::Document => return true,
        };
        list.contains(&m.as_str())
    }

    /// The MIME types Meta accepts, for messages (`any` for documents).
    pub fn accepted(self) -> String {
        match self {
            Kind::Image => IMAGE_MIMES.join(", "),
            Kind::Audio => AUDIO_MIMES.join(", "),
            Kind::Video => VIDEO_MIMES.join(", "),
            Kind::Sticker => STICKER_MIMES.join(", "),
            Kind::Document => "any".into(),
        }
    }

    /// The largest file of this kind Meta accepts (animated WebP stickers may be
    /// larger than static ones).
    pub fn max_size(self, animated: bool) -> u64 {
        match self {
            Kind::Image => IMAGE_MAX,
            Kind::Audio | Kind::Video => AUDIO_VIDEO_MAX,
            Kind::Document => DOCUMENT_MAX,
            Kind::Sticker if animated => ANIMATED_STICKER_MAX,
            Kind::Sticker => STICKER_MAX,
        }
    }
}

/// A MIME type without parameters, lowercase (`audio/ogg; codecs=opus` → `audio/ogg`).
pub fn essence(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// True for an animated WebP: a `VP8X` header with the animation flag set.
pub fn is_animated_webp(bytes: &[u8]) -> bool {
    bytes.len() >= 21
        && &bytes[0..4] == b"RIFF"
        && &bytes[8..12] == b"WEBP"
        && &bytes[12..16] == b"VP8X"
        && bytes[20] & 0x02 != 0
}

/// Parses a SHA-256 as Meta gives it: base64 in webhooks (`SfInY0…GUI=`), hex in
/// the media URL answer. Standard or URL-safe base64, padded or not.
pub fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    let mut out = [0u8; 32];
    if s.len() == 64 && hex::decode_to_slice(s, &mut out).is_ok() {
        return Some(out);
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
}

/// True for a lowercase 64-digit hex SHA-256 (a content address).
pub fn is_hex_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn reads_metas_base64_and_hex_hashes_alike() {
        let digest: [u8; 32] = Sha256::digest(b"taj mahal").into();
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(b64.ends_with('='));
        assert_eq!(parse_sha256(&b64), Some(digest));
        assert_eq!(parse_sha256(b64.trim_end_matches('=')), Some(digest));
        assert_eq!(parse_sha256(&hex::encode(digest)), Some(digest));
        assert_eq!(
            parse_sha256(&hex::encode(digest).to_uppercase()),
            Some(digest)
        );
        // The spec's own example is a valid base64 SHA-256.
        assert!(parse_sha256("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=").is_some());
        assert_eq!(parse_sha256("not a hash"), None);
        assert_eq!(parse_sha256("c2hvcnQ="), None);
    }

    #[test]
    fn infers_kinds_and_checks_metas_mime_lists() {
        assert_eq!(Kind::infer("image/jpeg"), Kind::Image);
        assert_eq!(Kind::infer("image/webp"), Kind::Sticker);
        assert_eq!(Kind::infer("audio/ogg; codecs=opus"), Kind::Audio);
        assert_eq!(Kind::infer("application/pdf"), Kind::Document);
        assert!(Kind::Audio.accepts("audio/ogg; codecs=opus"));
        assert!(!Kind::Image.accepts("image/gif"));
        assert!(Kind::Document.accepts("application/zip"));
        assert!(!Kind::Sticker.accepts("image/png"));
    }

    #[test]
    fn animated_stickers_may_be_larger() {
        let mut animated = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        animated.extend_from_slice(&[0, 0, 0, 0, 0x02]);
        assert!(is_animated_webp(&animated));
        assert_eq!(Kind::Sticker.max_size(true), ANIMATED_STICKER_MAX);
        let mut still = animated.clone();
        still[20] = 0;
        assert!(!is_animated_webp(&still));
        assert_eq!(Kind::Sticker.max_size(false), STICKER_MAX);
    }
}
