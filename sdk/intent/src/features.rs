//! Feature extraction shared by training and inference (one code path, so they cannot drift).
//!
//! A message becomes a sparse vector over `2^hash_bits` buckets:
//!
//! 1. Normalise: Unicode lowercase (`char::to_lowercase`); optionally every ASCII digit
//!    becomes `'0'`.
//! 2. Word block: tokens are maximal runs of `char::is_alphanumeric() || '_'` (like the regex
//!    `\w+`); word n-grams for `n` in `word_min..=word_max` are the tokens joined by one space.
//! 3. Char block: the text is split on Unicode whitespace; in `CharMode::WordBounded` each
//!    piece is padded as `" " + piece + " "` (sklearn's `char_wb`); in `CharMode::Text` the
//!    pieces are joined as `" " + p1 + " " + p2 + ... + " "`. All char n-grams with `n` in
//!    `char_min..=char_max` are taken (a padded string shorter than `char_min` is taken whole).
//! 4. Every n-gram is hashed (seeded 64-bit FNV-1a over a block tag byte and the UTF-8 bytes,
//!    then a splitmix64 finaliser); bucket = `h & (2^hash_bits - 1)`; if `signed`, bit 63 of
//!    `h` gives the sign (+1/-1) of the occurrence.
//! 5. Per block, signed occurrence counts are summed per bucket; a non-zero count `c` becomes
//!    `sign(c) * (1 + ln|c|)` (sublinear TF), the block is L2-normalised and multiplied by its
//!    block weight. The two blocks are added together. Each bucket appears once, in the
//!    order of its first occurrence (counted in a small open-addressing table, not by
//!    sorting: sorting was a sixth of a prediction's cost).

/// How char n-grams are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharMode {
    /// Per whitespace-separated piece, padded with one space each side (sklearn `char_wb`).
    WordBounded = 0,
    /// Over the whole text: pieces joined by one space, padded with one space each side.
    Text = 1,
}

/// Hyperparameters of the feature extractor; stored in the model header.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureParams {
    /// Number of hash buckets is `1 << hash_bits` (8..=26).
    pub hash_bits: u8,
    /// Word n-gram range (inclusive); `word_max == 0` disables the word block.
    pub word_min: u8,
    pub word_max: u8,
    /// Char (word-bounded) n-gram range (inclusive); `char_max == 0` disables the char block.
    pub char_min: u8,
    pub char_max: u8,
    pub char_mode: CharMode,
    /// Map every decimal digit to '0' before extraction.
    pub digits_to_zero: bool,
    /// Also emit word skip-bigrams (token i with token i+2) into the word block.
    pub skip_bigrams: bool,
    /// Signed hashing (the sign of an occurrence comes from the hash).
    pub signed: bool,
    pub seed: u64,
    pub word_weight: f32,
    pub char_weight: f32,
}

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams {
            hash_bits: 17,
            word_min: 1,
            word_max: 2,
            char_min: 3,
            // 3–4 matches 3–5 in cross-validation (BENCHMARKS.md) with a third fewer
            // features, i.e. fewer rows read per message.
            char_max: 4,
            char_mode: CharMode::WordBounded,
            digits_to_zero: false,
            signed: false,
            skip_bigrams: false,
            seed: 0x5C12_4D17_0000_0001,
            word_weight: 1.0,
            char_weight: 1.0,
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const TAG_WORD: u8 = 1;
const TAG_CHAR: u8 = 2;
const TAG_SKIP: u8 = 3;

#[inline]
fn fnv_start(seed: u64, tag: u8) -> u64 {
    fnv_bytes(FNV_OFFSET ^ seed, &[tag])
}

#[inline]
fn fnv_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

#[inline]
fn finish(mut z: u64) -> u64 {
    // splitmix64 finaliser: good low bits for the bucket mask.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline]
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reusable buffers, so repeated extraction does not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    text: String,
    padbuf: String,
    bounds: Vec<usize>,
    tokens: Vec<(usize, usize)>,
    counts: Counts,
}

/// Signed occurrence counts per bucket and block, in order of first occurrence: an
/// open-addressing table (linear probing) of indices into `entries`.
#[derive(Debug, Default)]
struct Counts {
    /// `index + 1` into `entries`; 0 = empty slot. Its length is a power of two,
    /// doubled whenever it is half full.
    slots: Vec<u32>,
    shift: u32,
    /// (bucket, count in the word block, count in the char block).
    entries: Vec<(u32, i32, i32)>,
}

impl Counts {
    /// Empties the table, sized for about `n` distinct buckets.
    fn reset(&mut self, n: usize) {
        self.entries.clear();
        self.entries.reserve(n);
        self.resize((2 * n).next_power_of_two().max(16));
    }

    /// Empty slots of length `cap` (a power of two) for the current entries.
    fn resize(&mut self, cap: usize) {
        self.slots.clear();
        self.slots.resize(cap, 0);
        self.shift = 32 - cap.trailing_zeros();
        for k in 0..self.entries.len() {
            let i = self.free_slot(self.entries[k].0);
            self.slots[i] = k as u32 + 1;
        }
    }

    /// The slot holding `bucket`, or the empty slot where it belongs.
    #[inline]
    fn free_slot(&self, bucket: u32) -> usize {
        let mask = self.slots.len() - 1;
        // Fibonacci hashing of the bucket number spreads neighbouring buckets.
        let mut i = (bucket.wrapping_mul(0x9E37_79B1) >> self.shift) as usize;
        loop {
            let s = self.slots[i];
            if s == 0 || self.entries[s as usize - 1].0 == bucket {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn add(&mut self, bucket: u32, sign: i32, char_block: bool) {
        let mut i = self.free_slot(bucket);
        if self.slots[i] == 0 {
            if 2 * (self.entries.len() + 1) > self.slots.len() {
                self.resize(2 * self.slots.len());
                i = self.free_slot(bucket);
            }
            self.entries.push((bucket, 0, 0));
            self.slots[i] = self.entries.len() as u32;
        }
        let e = &mut self.entries[self.slots[i] as usize - 1];
        if char_block {
            e.2 += sign;
        } else {
            e.1 += sign;
        }
    }
}

/// Sublinear term frequency: `sign(c) * (1 + ln|c|)`, 0 for 0.
#[inline]
fn tf(c: i32) -> f32 {
    // Almost every count is 1, and `ln` is a software routine in WebAssembly.
    let v = match c.unsigned_abs() {
        0 => return 0.0,
        1 => 1.0,
        n => 1.0 + (n as f32).ln(),
    };
    if c < 0 { -v } else { v }
}

/// Normalised text as used by both blocks.
fn normalise(p: &FeatureParams, text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() && !p.digits_to_zero {
        out.push_str(text);
        out.make_ascii_lowercase();
        return;
    }
    for ch in text.chars() {
        if p.digits_to_zero && ch.is_ascii_digit() {
            out.push('0');
        } else {
            out.extend(ch.to_lowercase());
        }
    }
}

impl FeatureParams {
    /// Char n-grams (n in cmin..=char_max) of `text`; a text shorter than cmin is taken whole.
    fn char_ngrams(&self, text: &str, cmin: usize, bounds: &mut Vec<usize>, out: &mut Counts) {
        let start = fnv_start(self.seed, TAG_CHAR);
        let tb = text.as_bytes();
        if text.is_ascii() {
            // Fast path (most messages): characters are bytes, no boundary table.
            if tb.len() < cmin {
                self.emit(fnv_bytes(start, tb), out, true);
                return;
            }
            for i in 0..tb.len() {
                let mut h = start;
                for (n, &b) in tb[i..].iter().take(self.char_max as usize).enumerate() {
                    h = fnv_bytes(h, &[b]);
                    if n + 1 >= cmin {
                        self.emit(h, out, true);
                    }
                }
            }
            return;
        }
        bounds.clear();
        bounds.extend(text.char_indices().map(|(i, _)| i));
        bounds.push(text.len());
        let nchars = bounds.len() - 1;
        if nchars < cmin {
            self.emit(fnv_bytes(start, tb), out, true);
            return;
        }
        for i in 0..nchars {
            let mut h = start;
            for n in 1..=(self.char_max as usize).min(nchars - i) {
                h = fnv_bytes(h, &tb[bounds[i + n - 1]..bounds[i + n]]);
                if n >= cmin {
                    self.emit(h, out, true);
                }
            }
        }
    }

    #[inline]
    fn emit(&self, h: u64, out: &mut Counts, char_block: bool) {
        let z = finish(h);
        let mask = (1u64 << self.hash_bits) - 1;
        let sign = if self.signed && (z >> 63) == 1 { -1 } else { 1 };
        out.add((z & mask) as u32, sign, char_block);
    }

    /// Extract the sparse feature vector of `text` into `out` (each bucket once, in
    /// order of first occurrence).
    pub fn extract(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<(u32, f32)>) {
        out.clear();
        let Scratch {
            text: norm,
            padbuf,
            bounds,
            tokens,
            counts,
        } = scratch;
        normalise(self, text, norm);
        // Sized for the usual ~2 distinct n-grams per byte of text, so that a typical
        // message never regrows it (a fresh plugin instance pays for every regrowth).
        counts.reset(2 * norm.len() + 8);

        // Word block.
        if self.word_max > 0 {
            tokens.clear();
            let mut start: Option<usize> = None;
            for (i, c) in norm.char_indices() {
                if is_word_char(c) {
                    if start.is_none() {
                        start = Some(i);
                    }
                } else if let Some(s) = start.take() {
                    tokens.push((s, i));
                }
            }
            if let Some(s) = start {
                tokens.push((s, norm.len()));
            }
            let nb = norm.as_bytes();
            for i in 0..tokens.len() {
                let mut h = fnv_start(self.seed, TAG_WORD);
                for n in 1..=self.word_max as usize {
                    if i + n > tokens.len() {
                        break;
                    }
                    let (s, e) = tokens[i + n - 1];
                    if n > 1 {
                        h = fnv_bytes(h, b" ");
                    }
                    h = fnv_bytes(h, &nb[s..e]);
                    if n >= self.word_min as usize {
                        self.emit(h, counts, false);
                    }
                }
                if self.skip_bigrams && i + 2 < tokens.len() {
                    let (a, b) = tokens[i];
                    let (c, d) = tokens[i + 2];
                    let h = fnv_bytes(fnv_start(self.seed, TAG_SKIP), &nb[a..b]);
                    self.emit(fnv_bytes(fnv_bytes(h, b" "), &nb[c..d]), counts, false);
                }
            }
        }

        // Char block.
        if self.char_max > 0 {
            let cmin = self.char_min.max(1) as usize;
            match self.char_mode {
                CharMode::WordBounded => {
                    for piece in norm.split_whitespace() {
                        padbuf.clear();
                        padbuf.push(' ');
                        padbuf.push_str(piece);
                        padbuf.push(' ');
                        self.char_ngrams(padbuf, cmin, bounds, counts);
                    }
                }
                CharMode::Text => {
                    padbuf.clear();
                    padbuf.push(' ');
                    for piece in norm.split_whitespace() {
                        padbuf.push_str(piece);
                        padbuf.push(' ');
                    }
                    if padbuf.len() > 1 {
                        self.char_ngrams(padbuf, cmin, bounds, counts);
                    }
                }
            }
        }

        // Per block: sublinear TF, L2 norm, block weight; then the blocks added.
        let (mut nw, mut nc) = (0.0f32, 0.0f32);
        for &(_, w, c) in &counts.entries {
            nw += tf(w) * tf(w);
            nc += tf(c) * tf(c);
        }
        let sw = if nw > 0.0 {
            self.word_weight / nw.sqrt()
        } else {
            0.0
        };
        let sc = if nc > 0.0 {
            self.char_weight / nc.sqrt()
        } else {
            0.0
        };
        out.clear();
        out.reserve(counts.entries.len());
        for &(b, w, c) in &counts.entries {
            let v = tf(w) * sw + tf(c) * sc;
            if v != 0.0 {
                out.push((b, v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_and_shape() {
        let p = FeatureParams::default();
        let mut s = Scratch::default();
        let mut a = Vec::new();
        let mut b = Vec::new();
        p.extract("Where is MY Card?", &mut s, &mut a);
        p.extract("where is my card?", &mut s, &mut b);
        assert_eq!(a, b);
        let mut buckets: Vec<u32> = a.iter().map(|e| e.0).collect();
        buckets.sort_unstable();
        buckets.dedup();
        assert_eq!(buckets.len(), a.len(), "each bucket once");
        p.extract("ÉCOLE Straße", &mut s, &mut a);
        p.extract("école straße", &mut s, &mut b);
        assert_eq!(a, b);
        p.extract("", &mut s, &mut a);
        assert!(a.is_empty());
    }

    #[test]
    fn a_long_text_grows_the_count_table_and_keeps_every_bucket_once() {
        // 2^24 buckets: no collision between the blocks among these ~2,000 n-grams.
        let p = FeatureParams {
            hash_bits: 24,
            ..FeatureParams::default()
        };
        let mut s = Scratch::default();
        let mut short = Vec::new();
        p.extract("zq", &mut s, &mut short);
        // Far more distinct n-grams than the table is first sized for, plus repeats.
        let text: String = (0..400).map(|i| format!("w{i} ")).collect::<String>() + "w1 w1";
        let mut a = Vec::new();
        p.extract(&text, &mut s, &mut a);
        let mut buckets: Vec<u32> = a.iter().map(|e| e.0).collect();
        buckets.sort_unstable();
        buckets.dedup();
        assert_eq!(buckets.len(), a.len());
        assert!(a.len() > 1000, "{}", a.len());
        // Both blocks L2-normalised: squared norm 2.
        let sq: f32 = a.iter().map(|e| e.1 * e.1).sum();
        assert!((sq - 2.0).abs() < 1e-3, "{sq}");
        // The same scratch then serves a short text as if new.
        let mut again = Vec::new();
        p.extract("zq", &mut s, &mut again);
        assert_eq!(short, again);
        // A repeated word counts sublinearly: "w1" three times weighs 1 + ln 3 before
        // normalisation, more than "w2" once.
        let mut words_only = Vec::new();
        let pw = FeatureParams {
            char_max: 0,
            word_max: 1,
            ..FeatureParams::default()
        };
        pw.extract("w1 w2 w1 w1", &mut s, &mut words_only);
        assert_eq!(words_only.len(), 2);
        let ratio = words_only[0].1 / words_only[1].1;
        assert!((ratio - (1.0 + 3f32.ln())).abs() < 1e-5, "{ratio}");
    }

    #[test]
    fn counts_match_reference() {
        // "ab": padded " ab " has 4 chars; char 1..=5 n-grams: 4+3+2+1 = 10, word: "ab" = 1.
        let p = FeatureParams {
            hash_bits: 24,
            char_min: 1,
            char_max: 5,
            ..FeatureParams::default()
        };
        let mut s = Scratch::default();
        let mut a = Vec::new();
        p.extract("ab", &mut s, &mut a);
        // " " appears twice among unigrams -> 9 distinct char buckets (barring collisions) + 1 word
        assert_eq!(a.len(), 10);
    }
}

#[cfg(test)]
mod golden {
    use super::*;

    /// Pins the hash function and bucket layout: changing it breaks every stored model
    /// (bump the format version if this has to change).
    #[test]
    fn golden_buckets() {
        let p = FeatureParams {
            hash_bits: 20,
            word_min: 1,
            word_max: 1,
            char_min: 3,
            char_max: 3,
            seed: 42,
            ..FeatureParams::default()
        };
        let mut out = Vec::new();
        p.extract("Ab c", &mut Scratch::default(), &mut out);
        let mut buckets: Vec<u32> = out.iter().map(|e| e.0).collect();
        buckets.sort_unstable();
        assert_eq!(buckets, GOLDEN);
        // word block: 2 features of 1/sqrt(2); char block: 3 features of 1/sqrt(3)
        let sq: f32 = out.iter().map(|e| e.1 * e.1).sum();
        assert!((sq - 2.0).abs() < 1e-5);
    }
}
#[cfg(test)]
const GOLDEN: [u32; 5] = [311622, 316009, 792350, 807570, 861827];
