//! Inference: parse the head (a few KB) once, then per message hash the features and
//! read only the weight rows of those buckets, in one [`ModelReader::read_rows`] call.
//!
//! ```
//! # fn main() -> Result<(), scrm_intent::ModelError> {
//! # let model: Vec<u8> = Vec::new();
//! # if model.is_empty() { return Ok(()); }
//! let prediction = scrm_intent::predict(model.as_slice(), "where is my card?")?;
//! println!("{} {:.2}", prediction.intent, prediction.confidence);
//! # Ok(())
//! # }
//! ```

use crate::features::{CharMode, FeatureParams, Scratch};
use crate::format::{
    ENC_I8_CLASS_SCALE, FIXED_HEADER, FLAG_DIGITS, FLAG_SIGNED, FLAG_SKIP_BIGRAMS, MAGIC,
    TABLE_ALIGN, VERSION, f32_at, u32_at, u64_at,
};

/// How much of the model the first read fetches: the whole head of a model with up to
/// ~100 classes, so that opening it is usually one read (and one allocation, since the
/// plugin's fresh instance pays for every page of memory it touches).
const HEAD_PREFETCH: u64 = 4096;

/// Random access to the model bytes (e.g. the plugin's installed configuration).
pub trait ModelReader {
    /// Total size of the model in bytes.
    fn size(&self) -> u64;
    /// Read `len` bytes at `offset`. Must return exactly `len` bytes (fewer = truncated model).
    fn read(&self, offset: u64, len: u32) -> Vec<u8>;
    /// Borrowed variant: the whole model as a slice, if it is in memory. When this returns
    /// `Some`, rows are read straight from the slice without any copy or call.
    fn as_slice(&self) -> Option<&[u8]> {
        None
    }
    /// Read several rows of `len` bytes each, concatenated into `out` (cleared first).
    /// The default makes one `read` per row; a host with a batched call can override it.
    fn read_rows(&self, offsets: &[u64], len: u32, out: &mut Vec<u8>) {
        out.clear();
        for &o in offsets {
            out.extend_from_slice(&self.read(o, len));
        }
    }
}

impl ModelReader for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        let s = (offset as usize).min(self.len());
        let e = s.saturating_add(len as usize).min(self.len());
        self[s..e].to_vec()
    }
    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl ModelReader for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        self.as_slice().read(offset, len)
    }
    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl<R: ModelReader + ?Sized> ModelReader for &R {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        (**self).read(offset, len)
    }
    fn as_slice(&self) -> Option<&[u8]> {
        (**self).as_slice()
    }
    fn read_rows(&self, offsets: &[u64], len: u32, out: &mut Vec<u8>) {
        (**self).read_rows(offsets, len, out)
    }
}

/// Why a byte string is not a usable model. (Hand-written `Display` instead of
/// `thiserror`: this crate is compiled into plugins and has no dependencies.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// The model is shorter than its header says.
    Truncated,
    /// The bytes do not start with the model magic.
    BadMagic,
    /// A format version this crate does not read.
    UnsupportedVersion(u32),
    /// A weight encoding this crate does not read.
    UnsupportedEncoding(u8),
    /// A header field is out of range; names the field.
    BadHeader(&'static str),
}

impl core::fmt::Display for ModelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ModelError::Truncated => write!(f, "intent model is truncated"),
            ModelError::BadMagic => write!(f, "not an intent model (bad magic)"),
            ModelError::UnsupportedVersion(v) => write!(f, "unsupported intent model version {v}"),
            ModelError::UnsupportedEncoding(e) => write!(f, "unsupported weight encoding {e}"),
            ModelError::BadHeader(m) => write!(f, "bad intent model header: {m}"),
        }
    }
}

impl std::error::Error for ModelError {}

/// The most likely intents of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The best class.
    pub intent: String,
    /// Softmax probability of `intent` (temperature-scaled scores).
    pub confidence: f32,
    /// Best classes first, at most `k` of them: (intent, probability).
    pub top: Vec<(String, f32)>,
}

/// Parsed head: everything except the weight table (a few KB), kept as the bytes
/// read so that opening a model costs one read and one allocation.
#[derive(Debug, Clone)]
pub struct Classifier {
    /// The feature extractor the model was trained with.
    pub params: FeatureParams,
    /// Softmax temperature of the confidences.
    pub temperature: f32,
    n_classes: usize,
    /// The head's bytes from offset 0 (fixed part, scales, biases, name ends, names,
    /// rules), validated by `open`.
    head: Vec<u8>,
    names_at: usize,
    rules_at: usize,
    table_offset: u64,
    stride: u32,
}

fn read_exact<R: ModelReader + ?Sized>(r: &R, off: u64, len: usize) -> Result<Vec<u8>, ModelError> {
    let len32 = u32::try_from(len).map_err(|_| ModelError::BadHeader("header too large"))?;
    if off.checked_add(len as u64).is_none_or(|e| e > r.size()) {
        return Err(ModelError::Truncated);
    }
    let v = r.read(off, len32);
    if v.len() != len {
        return Err(ModelError::Truncated);
    }
    Ok(v)
}

impl Classifier {
    /// Reads and validates the head: one read of the first 4 KB, which holds the
    /// whole head of a model with up to ~100 intents; a second one for larger heads.
    ///
    /// # Errors
    /// When the bytes are not a complete model of a supported version.
    pub fn open<R: ModelReader + ?Sized>(r: &R) -> Result<Self, ModelError> {
        let size = r.size();
        let mut head = r.read(0, size.min(HEAD_PREFETCH) as u32);
        if head.len() < FIXED_HEADER {
            return Err(if head.len() >= 8 && head[0..8] != MAGIC {
                ModelError::BadMagic
            } else {
                ModelError::Truncated
            });
        }
        let h = &head[..FIXED_HEADER];
        if h[0..8] != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let version = u32_at(h, 8);
        if version != VERSION {
            return Err(ModelError::UnsupportedVersion(version));
        }
        let c = u32_at(h, 12) as usize;
        if c == 0 || c > 65_536 {
            return Err(ModelError::BadHeader("class count"));
        }
        let k = h[16];
        if !(8..=26).contains(&k) {
            return Err(ModelError::BadHeader("hash_bits"));
        }
        if h[22] & !(FLAG_DIGITS | FLAG_SIGNED | FLAG_SKIP_BIGRAMS) != 0 {
            return Err(ModelError::BadHeader("unknown flags"));
        }
        if h[23] != ENC_I8_CLASS_SCALE {
            return Err(ModelError::UnsupportedEncoding(h[23]));
        }
        let char_mode = match h[21] {
            0 => CharMode::WordBounded,
            1 => CharMode::Text,
            _ => return Err(ModelError::BadHeader("char_mode")),
        };
        let params = FeatureParams {
            hash_bits: k,
            word_min: h[17],
            word_max: h[18],
            char_min: h[19],
            char_max: h[20],
            char_mode,
            digits_to_zero: h[22] & FLAG_DIGITS != 0,
            signed: h[22] & FLAG_SIGNED != 0,
            skip_bigrams: h[22] & FLAG_SKIP_BIGRAMS != 0,
            seed: u64_at(h, 24),
            word_weight: f32_at(h, 32),
            char_weight: f32_at(h, 36),
        };
        if params.word_max > 16 || params.char_max > 16 {
            return Err(ModelError::BadHeader("n-gram range"));
        }
        let temperature = f32_at(h, 40);
        let names_len = u32_at(h, 44) as usize;
        let table_offset = u64_at(h, 48);
        let stride = u64_at(h, 56);
        let rules_len = u32_at(h, 64) as usize;
        if stride != c as u64 {
            return Err(ModelError::BadHeader("row stride"));
        }
        let names_at = FIXED_HEADER + 12 * c + 4;
        let rules_at = names_at + names_len;
        let head_len = rules_at + rules_len;
        if head_len as u64 > table_offset {
            return Err(ModelError::BadHeader("table offset"));
        }
        let expect = table_offset
            .checked_add((1u64 << k) * stride)
            .ok_or(ModelError::BadHeader("size overflow"))?;
        if size < expect {
            return Err(ModelError::Truncated);
        }
        if size > expect {
            return Err(ModelError::BadHeader("size mismatch"));
        }
        if head.len() < head_len {
            head = read_exact(r, 0, head_len)?;
        }
        head.truncate(head_len);
        let ends_at = FIXED_HEADER + 8 * c;
        let names = std::str::from_utf8(&head[names_at..rules_at])
            .map_err(|_| ModelError::BadHeader("class names not UTF-8"))?;
        std::str::from_utf8(&head[rules_at..])
            .map_err(|_| ModelError::BadHeader("rules section not UTF-8"))?;
        let end = |i: usize| u32_at(&head, ends_at + 4 * i) as usize;
        if end(0) != 0
            || end(c) != names_len
            || (0..c).any(|i| end(i) > end(i + 1) || !names.is_char_boundary(end(i + 1)))
        {
            return Err(ModelError::BadHeader("name offsets"));
        }
        Ok(Classifier {
            params,
            temperature,
            n_classes: c,
            head,
            names_at,
            rules_at,
            table_offset,
            stride: stride as u32,
        })
    }

    /// The rules section stored with the model (empty when there is none); see
    /// [`crate::rules`].
    pub fn rules(&self) -> &str {
        // Validated by `open`.
        std::str::from_utf8(&self.head[self.rules_at..]).unwrap_or_default()
    }

    /// The number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Name of class `i` (classes are sorted by name).
    pub fn class_name(&self, i: usize) -> &str {
        let ends_at = FIXED_HEADER + 8 * self.n_classes;
        let (a, b) = (
            u32_at(&self.head, ends_at + 4 * i) as usize,
            u32_at(&self.head, ends_at + 4 * i + 4) as usize,
        );
        let names = &self.head[self.names_at..self.rules_at];
        // Validated by `open`: UTF-8 and offsets on character boundaries.
        names
            .get(a..b)
            .and_then(|n| std::str::from_utf8(n).ok())
            .unwrap_or_default()
    }

    /// Every class name, in class order.
    pub fn class_names(&self) -> impl Iterator<Item = &str> {
        (0..self.n_classes()).map(|i| self.class_name(i))
    }

    fn scale(&self, i: usize) -> f32 {
        f32_at(&self.head, FIXED_HEADER + 4 * i)
    }

    fn bias(&self, i: usize) -> f32 {
        f32_at(&self.head, FIXED_HEADER + 4 * self.n_classes + 4 * i)
    }

    /// Raw scores (one per class, same order as `classes`).
    pub fn scores<R: ModelReader + ?Sized>(
        &self,
        r: &R,
        text: &str,
        ws: &mut Workspace,
    ) -> Vec<f32> {
        self.fill_scores(r, text, ws);
        ws.acc.clone()
    }

    /// Computes the scores of `text` into `ws.acc`.
    fn fill_scores<R: ModelReader + ?Sized>(&self, r: &R, text: &str, ws: &mut Workspace) {
        self.params.extract(text, &mut ws.scratch, &mut ws.feats);
        let c = self.n_classes();
        let stride = self.stride as usize;
        ws.acc.clear();
        ws.acc.resize(c, 0.0);
        let acc = &mut ws.acc[..];
        if let Some(all) = r.as_slice() {
            for &(b, v) in &ws.feats {
                let o = self.table_offset as usize + b as usize * stride;
                // in range for the reader this Classifier was opened on; never panic otherwise
                if let Some(row) = all.get(o..o + stride) {
                    add_row(acc, row, v);
                }
            }
        } else {
            ws.offsets.clear();
            ws.offsets.extend(
                ws.feats
                    .iter()
                    .map(|&(b, _)| self.table_offset + b as u64 * stride as u64),
            );
            r.read_rows(&ws.offsets, self.stride, &mut ws.rows);
            // a short read (truncated model) contributes nothing for the missing rows
            for (row, &(_, v)) in ws.rows.chunks_exact(stride).zip(&ws.feats) {
                add_row(acc, row, v);
            }
        }
        for (i, a) in acc.iter_mut().enumerate() {
            *a = self.bias(i) + self.scale(i) * *a;
        }
    }

    /// The best class of `text` and its confidence, without allocating anything but
    /// `ws`'s buffers (the plugin's per-message path).
    pub fn best<R: ModelReader + ?Sized>(
        &self,
        r: &R,
        text: &str,
        ws: &mut Workspace,
    ) -> (usize, f32) {
        self.fill_scores(r, text, ws);
        let s = &ws.acc;
        let mut best = 0;
        for (i, &x) in s.iter().enumerate() {
            if x > s[best] {
                best = i;
            }
        }
        (best, softmax_at(s, best, self.temperature))
    }

    /// Predict with the `k` best classes.
    pub fn predict<R: ModelReader + ?Sized>(
        &self,
        r: &R,
        text: &str,
        k: usize,
        ws: &mut Workspace,
    ) -> Prediction {
        if k <= 1 {
            let (i, confidence) = self.best(r, text, ws);
            let intent = self.class_name(i).to_owned();
            return Prediction {
                top: vec![(intent.clone(), confidence)],
                intent,
                confidence,
            };
        }
        self.fill_scores(r, text, ws);
        let s = &ws.acc;
        let mut idx: Vec<usize> = (0..s.len()).collect();
        idx.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
        let top: Vec<(String, f32)> = idx
            .iter()
            .take(k)
            .map(|&i| {
                (
                    self.class_name(i).to_owned(),
                    softmax_at(s, i, self.temperature),
                )
            })
            .collect();
        // A model has at least one class (checked by `open`), so `top` is never empty.
        let (intent, confidence) = top.first().cloned().unwrap_or_default();
        Prediction {
            intent,
            confidence,
            top,
        }
    }
}

/// `softmax(t * s)[i]`. Terms more than 30 below the maximum (each < 1e-13 of it)
/// are skipped.
fn softmax_at(s: &[f32], i: usize, t: f32) -> f32 {
    let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut z = 0.0f32;
    for &x in s {
        z += exp_neg((x - m) * t);
    }
    exp_neg((s[i] - m) * t) / z
}

/// `e^x` for `x <= 0` (0 below -30), to ~2e-6 relative error: `2^(x log2 e)` split
/// into an integer power (the exponent bits) and a degree-6 Taylor polynomial of
/// `e^g`, `|g| <= ln(2) / 2`. `f32::exp` is a software routine in WebAssembly, several
/// times slower, and a model has up to hundreds of classes; plain arithmetic also
/// gives the same result natively and in the plugin.
fn exp_neg(x: f32) -> f32 {
    if x.is_nan() || x < -30.0 {
        return 0.0;
    }
    let y = x.min(0.0) * core::f32::consts::LOG2_E;
    // The nearest integer to y <= 0 by truncation (`round` is a library call).
    let n = -((0.5 - y) as i32) as f32;
    let g = (y - n) * core::f32::consts::LN_2;
    let p = 1.0
        + g * (1.0
            + g * (1.0 / 2.0
                + g * (1.0 / 6.0 + g * (1.0 / 24.0 + g * (1.0 / 120.0 + g * (1.0 / 720.0))))));
    // n is in -44..=0: 2^n is a normal f32 (down to 2^-126).
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `acc += v * row` (one i8 weight per class).
#[inline]
fn add_row(acc: &mut [f32], row: &[u8], v: f32) {
    #[cfg(target_arch = "wasm32")]
    add_row_simd(acc, row, v);
    #[cfg(not(target_arch = "wasm32"))]
    add_row_scalar(acc, row, v);
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
#[inline]
fn add_row_scalar(acc: &mut [f32], row: &[u8], v: f32) {
    for (a, &q) in acc.iter_mut().zip(row) {
        *a += v * (q as i8) as f32;
    }
}

/// The same in WebAssembly SIMD (128-bit lanes): 16 weights per step instead of one
/// (every scalar step also pays the engine's fuel accounting). LLVM does not vectorise
/// the scalar loop for this target, so it is written out. (Safe: an engine without
/// SIMD refuses the module at load time, it cannot misbehave.)
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn add_row_simd(acc: &mut [f32], row: &[u8], v: f32) {
    use core::arch::wasm32::{
        f32x4, f32x4_add, f32x4_convert_i32x4, f32x4_extract_lane, f32x4_mul, f32x4_splat,
        i16x8_extend_high_i8x16, i16x8_extend_low_i8x16, i32x4_extend_high_i16x8,
        i32x4_extend_low_i16x8, i64x2, v128,
    };
    let n = acc.len().min(row.len());
    let (acc, row) = (&mut acc[..n], &row[..n]);
    let vv = f32x4_splat(v);
    let add4 = |a: &mut [f32], q: v128| {
        if let Ok(a) = <&mut [f32; 4]>::try_from(a) {
            let s = f32x4_add(
                f32x4(a[0], a[1], a[2], a[3]),
                f32x4_mul(f32x4_convert_i32x4(q), vv),
            );
            *a = [
                f32x4_extract_lane::<0>(s),
                f32x4_extract_lane::<1>(s),
                f32x4_extract_lane::<2>(s),
                f32x4_extract_lane::<3>(s),
            ];
        }
    };
    let mut a16 = acc.chunks_exact_mut(16);
    let mut r16 = row.chunks_exact(16);
    for (a, r) in (&mut a16).zip(&mut r16) {
        let lo = u64::from_le_bytes(r[..8].try_into().unwrap_or_default());
        let hi = u64::from_le_bytes(r[8..].try_into().unwrap_or_default());
        let q = i64x2(lo as i64, hi as i64);
        let (l, h) = (i16x8_extend_low_i8x16(q), i16x8_extend_high_i8x16(q));
        add4(&mut a[0..4], i32x4_extend_low_i16x8(l));
        add4(&mut a[4..8], i32x4_extend_high_i16x8(l));
        add4(&mut a[8..12], i32x4_extend_low_i16x8(h));
        add4(&mut a[12..16], i32x4_extend_high_i16x8(h));
    }
    for (a, &q) in a16.into_remainder().iter_mut().zip(r16.remainder()) {
        *a += v * (q as i8) as f32;
    }
}

/// Reusable per-instance buffers (avoid allocation on repeated predictions).
#[derive(Debug, Default)]
pub struct Workspace {
    scratch: Scratch,
    feats: Vec<(u32, f32)>,
    acc: Vec<f32>,
    offsets: Vec<u64>,
    rows: Vec<u8>,
}

/// One-shot prediction (head parse + top-3), as in a fresh WASM instance.
///
/// # Errors
/// When `reader` does not hold a complete model of a supported version.
pub fn predict<R: ModelReader + ?Sized>(reader: &R, text: &str) -> Result<Prediction, ModelError> {
    let cl = Classifier::open(reader)?;
    Ok(cl.predict(reader, text, 3, &mut Workspace::default()))
}

/// `model` with its rules section replaced by `rules` (the weights are copied as they
/// are): lets an operator give each tenant its own rules without retraining.
///
/// # Errors
/// When `model` is not a complete model of a supported version.
pub fn with_rules(model: &[u8], rules: &str) -> Result<Vec<u8>, ModelError> {
    let cl = Classifier::open(model)?;
    let c = cl.n_classes();
    let names_len = u32_at(model, 44) as usize;
    let keep = FIXED_HEADER + 12 * c + 4 + names_len;
    let table = model
        .get(cl.table_offset as usize..)
        .ok_or(ModelError::Truncated)?;
    let head = model.get(..keep).ok_or(ModelError::Truncated)?;
    let var_len = keep - FIXED_HEADER + rules.len();
    let table_offset = ((FIXED_HEADER + var_len) as u64).div_ceil(TABLE_ALIGN) * TABLE_ALIGN;
    let mut out = Vec::with_capacity(table_offset as usize + table.len());
    out.extend_from_slice(head);
    out[48..56].copy_from_slice(&table_offset.to_le_bytes());
    out[64..68].copy_from_slice(&(rules.len() as u32).to_le_bytes());
    out.extend_from_slice(rules.as_bytes());
    out.resize(table_offset as usize, 0);
    out.extend_from_slice(table);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_exponential_matches_the_library_one() {
        let mut x = 0.0f32;
        while x > -30.0 {
            let (a, b) = (exp_neg(x), x.exp());
            assert!((a - b).abs() <= 4e-6 * b, "{x}: {a} vs {b}");
            x -= 0.013;
        }
        assert_eq!(exp_neg(0.0), 1.0);
        assert_eq!(exp_neg(-31.0), 0.0);
        assert_eq!(exp_neg(f32::NAN), 0.0);
        assert_eq!(exp_neg(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn softmax_is_a_distribution() {
        let s = [0.3f32, -1.0, 0.9, 0.89, -40.0];
        let total: f32 = (0..s.len()).map(|i| softmax_at(&s, i, 6.0)).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        assert!(softmax_at(&s, 2, 6.0) > softmax_at(&s, 3, 6.0));
    }
}
