//! Re-encoding images to JPEG under a size limit (Meta refuses images over 5 MB and
//! image messages that are not JPEG or PNG).
//!
//! The image is decoded (JPEG, PNG or WebP), turned upright by its EXIF orientation
//! (the JPEG written carries no EXIF), flattened onto white when it has
//! transparency, then encoded at falling quality (85, 70, 55) and, if that is not
//! enough, at falling dimensions, until it fits. CPU-heavy: call it from a blocking
//! thread.

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage, imageops::FilterType};
use std::io::Cursor;

/// Qualities tried at full size, best first.
const QUALITIES: [u8; 3] = [85, 70, 55];
/// The quality used once the image is being scaled down.
const SCALED_QUALITY: u8 = 70;
/// The shorter side below which the host stops shrinking and gives up.
const MIN_SIDE: u32 = 64;

/// Why an image could not be re-encoded.
#[derive(Debug, thiserror::Error)]
pub enum ReencodeError {
    /// The bytes are not a JPEG, PNG or WebP image the decoder can read.
    #[error("not a readable JPEG, PNG or WebP image: {0}")]
    Decode(String),
    /// Encoding failed.
    #[error("cannot encode JPEG: {0}")]
    Encode(String),
    /// Even a small, low-quality JPEG is over the limit.
    #[error("cannot make the image smaller than {limit} bytes")]
    CannotShrink {
        /// The limit, in bytes.
        limit: u64,
    },
}

/// A re-encoded image.
#[derive(Debug, Clone)]
pub struct Reencoded {
    /// The JPEG bytes.
    pub bytes: Vec<u8>,
    /// The JPEG quality used.
    pub quality: u8,
    /// Width and height written.
    pub width: u32,
    /// Height written.
    pub height: u32,
    /// Encodings tried (a cost measure).
    pub tries: u32,
}

/// Decodes `input` and writes a JPEG of at most `limit` bytes.
///
/// # Errors
/// [`ReencodeError`] when the input is not an image or cannot be made small enough.
pub fn to_jpeg_under(input: &[u8], limit: u64) -> Result<Reencoded, ReencodeError> {
    let decode = |e: image::ImageError| ReencodeError::Decode(e.to_string());
    let reader = ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .map_err(|e| ReencodeError::Decode(e.to_string()))?;
    let mut decoder = reader.into_decoder().map_err(decode)?;
    let orientation = decoder.orientation().map_err(decode)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(decode)?;
    img.apply_orientation(orientation);
    let mut rgb = flatten(&img);
    let mut tries = 0;
    for quality in QUALITIES {
        tries += 1;
        let bytes = encode(&rgb, quality)?;
        if bytes.len() as u64 <= limit {
            return Ok(done(bytes, quality, &rgb, tries));
        }
    }
    let mut last = encode(&rgb, SCALED_QUALITY)?.len() as u64;
    loop {
        // JPEG size grows about with the pixel count: aim a little below the limit.
        let factor = ((limit as f64 / last as f64).sqrt() * 0.92).clamp(0.3, 0.9);
        let (w, h) = (
            ((rgb.width() as f64) * factor).round() as u32,
            ((rgb.height() as f64) * factor).round() as u32,
        );
        if w.min(h) < MIN_SIDE {
            return Err(ReencodeError::CannotShrink { limit });
        }
        rgb = image::imageops::resize(&rgb, w, h, FilterType::Triangle);
        tries += 1;
        let bytes = encode(&rgb, SCALED_QUALITY)?;
        if bytes.len() as u64 <= limit {
            return Ok(done(bytes, SCALED_QUALITY, &rgb, tries));
        }
        last = bytes.len() as u64;
    }
}

fn done(bytes: Vec<u8>, quality: u8, rgb: &RgbImage, tries: u32) -> Reencoded {
    Reencoded {
        bytes,
        quality,
        width: rgb.width(),
        height: rgb.height(),
        tries,
    }
}

fn encode(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, ReencodeError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(rgb)
        .map_err(|e| ReencodeError::Encode(e.to_string()))?;
    Ok(out)
}

/// RGB pixels; transparent areas become white (JPEG has no alpha, and black
/// behind a transparent logo is what a plain conversion would show).
fn flatten(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u16::from(p[3]);
        let mix = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, Rgba, RgbaImage};

    /// Noise compresses badly, like a photo's detail: a worst case for size.
    fn noisy_png(w: u32, h: u32) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        let img = RgbImage::from_fn(w, h, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
        });
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn shrinks_an_image_under_the_limit_lowering_dimensions_when_quality_is_not_enough() {
        let png = noisy_png(400, 300);
        let limit = 40_000;
        let out = to_jpeg_under(&png, limit).unwrap();
        assert!(out.bytes.len() as u64 <= limit, "{}", out.bytes.len());
        assert!(out.width < 400, "noise at 400x300 needs smaller dimensions");
        let back = image::load_from_memory(&out.bytes).unwrap();
        assert_eq!(
            image::guess_format(&out.bytes).unwrap(),
            ImageFormat::Jpeg,
            "written as JPEG"
        );
        assert_eq!((back.width(), back.height()), (out.width, out.height));
        let ratio = f64::from(out.width) / f64::from(out.height);
        assert!((ratio - 4.0 / 3.0).abs() < 0.02, "aspect kept: {ratio}");
    }

    #[test]
    fn keeps_full_size_when_quality_alone_is_enough() {
        let png = noisy_png(64, 64);
        let out = to_jpeg_under(&png, 1_000_000).unwrap();
        assert_eq!((out.width, out.height, out.quality), (64, 64, 85));
        assert_eq!(out.tries, 1);
    }

    #[test]
    fn transparent_pixels_become_white() {
        let img = RgbaImage::from_pixel(16, 16, Rgba([0, 0, 0, 0]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let out = to_jpeg_under(&png, 1_000_000).unwrap();
        let back = image::load_from_memory(&out.bytes).unwrap().to_rgb8();
        assert!(back.get_pixel(8, 8).0.iter().all(|&c| c > 240));
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        assert!(matches!(
            to_jpeg_under(b"%PDF-1.7 not an image", 1000),
            Err(ReencodeError::Decode(_))
        ));
    }

    #[test]
    fn gives_up_when_even_a_tiny_image_is_too_big() {
        let png = noisy_png(200, 200);
        assert!(matches!(
            to_jpeg_under(&png, 100),
            Err(ReencodeError::CannotShrink { limit: 100 })
        ));
    }
}
