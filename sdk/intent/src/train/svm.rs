//! Fitting the weights: one-vs-rest L2-regularised, L2-loss (squared hinge) linear SVMs
//! solved by dual coordinate descent with shrinking (Hsieh et al. 2008, the algorithm of
//! liblinear's `-s 1`, which is what scikit-learn's `LinearSVC` runs), on the hashed features.

use crate::features::{FeatureParams, Scratch};
use crate::format::{
    ENC_I8_CLASS_SCALE, FIXED_HEADER, FLAG_DIGITS, FLAG_SIGNED, FLAG_SKIP_BIGRAMS, MAGIC,
    TABLE_ALIGN, VERSION,
};

/// Why training could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainError {
    /// No training rows.
    NoData,
    /// `hash_bits` outside 8..=26.
    HashBits(u8),
    /// A row's intent is empty; its index.
    EmptyIntent(usize),
}

impl core::fmt::Display for TrainError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TrainError::NoData => write!(f, "no training rows"),
            TrainError::HashBits(k) => write!(f, "hash_bits {k} is outside 8..=26"),
            TrainError::EmptyIntent(i) => write!(f, "row {i} has an empty intent"),
        }
    }
}

impl std::error::Error for TrainError {}

/// Training hyperparameters; the defaults are the ones measured in BENCHMARKS.md.
#[derive(Clone, Debug)]
pub struct TrainParams {
    /// The feature extractor (stored in the model).
    pub features: FeatureParams,
    /// SVM cost C (larger = less regularisation).
    pub c: f32,
    /// Stopping tolerance on the projected-gradient gap (liblinear's `-e`).
    pub eps: f32,
    /// Max outer iterations per class.
    pub max_iter: u32,
    /// Value of the constant bias feature (liblinear's `-B`, sklearn's `intercept_scaling`).
    pub bias: f32,
    /// Softmax temperature written into the model (confidence = softmax(T * score)).
    pub temperature: f32,
    /// Weight each example's C by n / (n_classes * n_its_class) (sklearn's
    /// `class_weight="balanced"`), for test sets that are more balanced than the training set.
    pub balanced: bool,
    /// Seed of the coordinate shuffling.
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            features: FeatureParams::default(),
            c: 1.0,
            eps: 0.1,
            max_iter: 1000,
            bias: 1.0,
            temperature: 6.0,
            balanced: false,
            seed: 1,
        }
    }
}

/// A trained model in memory (f32 weights). `to_bytes` quantises it into the file format.
#[derive(Clone, Debug)]
pub struct Model {
    /// The feature extractor.
    pub params: FeatureParams,
    /// Class names, sorted.
    pub classes: Vec<String>,
    /// Row-major `[bucket][class]`, `2^hash_bits * classes.len()` values.
    pub weights: Vec<f32>,
    /// Intercept per class.
    pub bias: Vec<f32>,
    /// Softmax temperature.
    pub temperature: f32,
    /// The rules section written with the model (see [`crate::rules`]); empty by default.
    pub rules: String,
}

/// Sparse design matrix (CSR).
struct Csr {
    ptr: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
}

impl Csr {
    fn build(texts: &[&str], p: &FeatureParams) -> Csr {
        let mut ptr = Vec::with_capacity(texts.len() + 1);
        ptr.push(0);
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        let mut scratch = Scratch::default();
        let mut f = Vec::new();
        for t in texts {
            p.extract(t, &mut scratch, &mut f);
            for &(b, v) in &f {
                idx.push(b);
                val.push(v);
            }
            ptr.push(idx.len());
        }
        Csr { ptr, idx, val }
    }
    #[inline]
    fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (s, e) = (self.ptr[i], self.ptr[i + 1]);
        (&self.idx[s..e], &self.val[s..e])
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
}

/// Binary L2-loss SVM by dual coordinate descent. Returns (w, intercept).
fn dcd_binary(
    x: &Csr,
    y: &[f32],
    diag: &[f32],
    qd: &[f32],
    w: &mut [f32],
    p: &TrainParams,
    rng: &mut Rng,
) -> f32 {
    let l = y.len();
    let bias = p.bias;
    w.iter_mut().for_each(|v| *v = 0.0);
    let mut wb = 0.0f32;
    let mut alpha = vec![0.0f32; l];
    let mut index: Vec<usize> = (0..l).collect();
    let mut active = l;
    // L2 loss: alpha has no upper bound, so only the lower-bound shrinking test is needed.
    let mut pgmax_old = f32::INFINITY;
    for _ in 0..p.max_iter {
        let (mut pgmax_new, mut pgmin_new) = (f32::NEG_INFINITY, f32::INFINITY);
        for s in 0..active {
            let j = s + rng.below(active - s);
            index.swap(s, j);
        }
        let mut s = 0;
        while s < active {
            let i = index[s];
            let (ix, vx) = x.row(i);
            let mut dot = wb * bias;
            for (&b, &v) in ix.iter().zip(vx) {
                dot += w[b as usize] * v;
            }
            let g = y[i] * dot - 1.0 + alpha[i] * diag[i];
            let mut pg = 0.0;
            if alpha[i] == 0.0 {
                if g > pgmax_old {
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else if g < 0.0 {
                    pg = g;
                }
            } else {
                pg = g;
            }
            pgmax_new = pgmax_new.max(pg);
            pgmin_new = pgmin_new.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / qd[i]).max(0.0);
                let d = (alpha[i] - old) * y[i];
                for (&b, &v) in ix.iter().zip(vx) {
                    w[b as usize] += d * v;
                }
                wb += d * bias;
            }
            s += 1;
        }
        if pgmax_new - pgmin_new <= p.eps {
            if active == l {
                break;
            }
            active = l;
            pgmax_old = f32::INFINITY;
            continue;
        }
        pgmax_old = if pgmax_new <= 0.0 {
            f32::INFINITY
        } else {
            pgmax_new
        };
    }
    wb * bias
}

/// Fits a model to `(text, intent)` rows.
///
/// # Errors
/// When there are no rows, an intent is empty or `hash_bits` is out of range.
pub fn fit(rows: &[(String, String)], p: &TrainParams) -> Result<Model, TrainError> {
    if !(8..=26).contains(&p.features.hash_bits) {
        return Err(TrainError::HashBits(p.features.hash_bits));
    }
    if rows.is_empty() {
        return Err(TrainError::NoData);
    }
    if let Some(i) = rows.iter().position(|r| r.1.is_empty()) {
        return Err(TrainError::EmptyIntent(i));
    }
    let mut classes: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    classes.sort();
    classes.dedup();
    let nc = classes.len();
    let label: Vec<usize> = rows
        .iter()
        .map(|r| classes.binary_search(&r.1).unwrap_or_default())
        .collect();
    let texts: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let x = Csr::build(&texts, &p.features);
    let mut count = vec![0usize; nc];
    label.iter().for_each(|&l| count[l] += 1);
    // L2 loss: D_ii = 1 / (2 C_i)
    let diag: Vec<f32> = label
        .iter()
        .map(|&l| {
            let wgt = if p.balanced {
                rows.len() as f32 / (nc as f32 * count[l] as f32)
            } else {
                1.0
            };
            0.5 / (p.c * wgt)
        })
        .collect();
    let qd: Vec<f32> = (0..rows.len())
        .map(|i| diag[i] + p.bias * p.bias + x.row(i).1.iter().map(|v| v * v).sum::<f32>())
        .collect();
    let d = 1usize << p.features.hash_bits;
    let mut weights = vec![0.0f32; d * nc];
    let mut bias = vec![0.0f32; nc];
    let mut w = vec![0.0f32; d];
    let mut rng = Rng(p.seed.max(1));
    let mut y = vec![0.0f32; rows.len()];
    for c in 0..nc {
        for (yi, &li) in y.iter_mut().zip(&label) {
            *yi = if li == c { 1.0 } else { -1.0 };
        }
        bias[c] = dcd_binary(&x, &y, &diag, &qd, &mut w, p, &mut rng);
        for (b, &v) in w.iter().enumerate() {
            if v != 0.0 {
                weights[b * nc + c] = v;
            }
        }
    }
    Ok(Model {
        params: p.features.clone(),
        classes,
        weights,
        bias,
        temperature: p.temperature,
        rules: String::new(),
    })
}

impl Model {
    /// Unquantised scores, one per class (to measure what quantisation costs).
    pub fn scores(&self, text: &str) -> Vec<f32> {
        let mut f = Vec::new();
        self.params.extract(text, &mut Scratch::default(), &mut f);
        let nc = self.classes.len();
        let mut s = self.bias.clone();
        for (b, v) in f {
            let row = &self.weights[b as usize * nc..(b as usize + 1) * nc];
            for (a, w) in s.iter_mut().zip(row) {
                *a += v * w;
            }
        }
        s
    }

    /// Serialise (quantising weights to i8 with a per-class scale); layout in `format`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let nc = self.classes.len();
        let d = 1usize << self.params.hash_bits;
        let mut scale = vec![0.0f32; nc];
        for row in self.weights.chunks_exact(nc) {
            for (s, &w) in scale.iter_mut().zip(row) {
                *s = s.max(w.abs());
            }
        }
        for s in &mut scale {
            *s = if *s > 0.0 { *s / 127.0 } else { 1.0 };
        }
        let mut names = Vec::new();
        let mut ends = vec![0u32];
        for c in &self.classes {
            names.extend_from_slice(c.as_bytes());
            ends.push(names.len() as u32);
        }
        let rules = self.rules.as_bytes();
        let var_len = 8 * nc + 4 * (nc + 1) + names.len() + rules.len();
        let table_offset = ((FIXED_HEADER + var_len) as u64).div_ceil(TABLE_ALIGN) * TABLE_ALIGN;
        let mut out = Vec::with_capacity(table_offset as usize + d * nc);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(nc as u32).to_le_bytes());
        let p = &self.params;
        let flags = (p.digits_to_zero as u8 * FLAG_DIGITS)
            | (p.signed as u8 * FLAG_SIGNED)
            | (p.skip_bigrams as u8 * FLAG_SKIP_BIGRAMS);
        out.extend_from_slice(&[
            p.hash_bits,
            p.word_min,
            p.word_max,
            p.char_min,
            p.char_max,
            p.char_mode as u8,
            flags,
            ENC_I8_CLASS_SCALE,
        ]);
        out.extend_from_slice(&p.seed.to_le_bytes());
        out.extend_from_slice(&p.word_weight.to_le_bytes());
        out.extend_from_slice(&p.char_weight.to_le_bytes());
        out.extend_from_slice(&self.temperature.to_le_bytes());
        out.extend_from_slice(&(names.len() as u32).to_le_bytes());
        out.extend_from_slice(&table_offset.to_le_bytes());
        out.extend_from_slice(&(nc as u64).to_le_bytes());
        out.extend_from_slice(&(rules.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        debug_assert_eq!(out.len(), FIXED_HEADER);
        scale
            .iter()
            .for_each(|s| out.extend_from_slice(&s.to_le_bytes()));
        self.bias
            .iter()
            .for_each(|b| out.extend_from_slice(&b.to_le_bytes()));
        ends.iter()
            .for_each(|e| out.extend_from_slice(&e.to_le_bytes()));
        out.extend_from_slice(&names);
        out.extend_from_slice(rules);
        out.resize(table_offset as usize, 0);
        for row in self.weights.chunks_exact(nc) {
            for (&w, &s) in row.iter().zip(&scale) {
                out.push((w / s).round().clamp(-127.0, 127.0) as i8 as u8);
            }
        }
        out
    }
}
