//! The binary model format, read in place.
//!
//! All integers and floats are little-endian; offsets are from the start of the file.
//!
//! ```text
//! offset size           field
//! 0      8              magic  b"SCRMINT\x01"
//! 8      4   u32        format version (= 1)
//! 12     4   u32        n_classes C
//! 16     1   u8         hash_bits k (buckets = 2^k, 8..=26)
//! 17     1   u8         word_min
//! 18     1   u8         word_max   (0 = no word block)
//! 19     1   u8         char_min
//! 20     1   u8         char_max   (0 = no char block)
//! 21     1   u8         char_mode  (0 = word-bounded "char_wb", 1 = whole text)
//! 22     1   u8         flags: bit0 digits_to_zero, bit1 signed hashing, bit2 skip-bigrams
//! 23     1   u8         weight encoding (1 = i8 with a per-class f32 scale)
//! 24     8   u64        hash seed
//! 32     4   f32        word block weight
//! 36     4   f32        char block weight
//! 40     4   f32        softmax temperature T (confidence = softmax(T * score))
//! 44     4   u32        names_len: bytes of the class-name blob
//! 48     8   u64        table_offset (multiple of 64)
//! 56     8   u64        row_stride in bytes (= C)
//! 64     4   u32        rules_len: bytes of the rules section (see `rules`)
//! 68     4   u32        reserved (0)
//! 72     4*C f32        class_scale[C]  (weight[b][c] = q[b][c] * class_scale[c])
//! ..     4*C f32        bias[C]
//! ..     4*(C+1) u32    name_end offsets into the blob, name_end[0] = 0
//! ..     names_len      class names, UTF-8, concatenated, sorted
//! ..     rules_len      the rules section (UTF-8 lines; `rules::Rules::encode`)
//! ..                    zero padding up to table_offset
//! table_offset  2^k * row_stride  i8 q[bucket][class]; the row of bucket b is at
//!                                 table_offset + b * row_stride
//! ```
//!
//! Total size = `table_offset + 2^k * row_stride` exactly. The score of class c for a
//! message with sparse features (b, v) is `bias[c] + class_scale[c] * Σ v * q[b][c]`.
//! Everything before the table is the "head" (a few KB); a prediction reads the head
//! and then one row per distinct feature bucket of the message.

/// The first eight bytes of every model.
pub const MAGIC: [u8; 8] = *b"SCRMINT\x01";
/// The format version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Size of the fixed part of the head.
pub const FIXED_HEADER: usize = 72;
/// Weight encoding: i8 weights with one f32 scale per class.
pub const ENC_I8_CLASS_SCALE: u8 = 1;
/// Flag: digits are mapped to '0' before feature extraction.
pub const FLAG_DIGITS: u8 = 1;
/// Flag: signed hashing.
pub const FLAG_SIGNED: u8 = 2;
/// Flag: word skip-bigrams.
pub const FLAG_SKIP_BIGRAMS: u8 = 4;
/// The weight table starts at a multiple of this.
pub const TABLE_ALIGN: u64 = 64;

/// The `N` bytes at `o`; zeros past the end (callers check lengths first, and a
/// corrupt model must never make the plugin panic).
#[inline]
fn bytes_at<const N: usize>(b: &[u8], o: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(s) = b.get(o..o + N) {
        out.copy_from_slice(s);
    }
    out
}

#[inline]
pub(crate) fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(bytes_at(b, o))
}

#[inline]
pub(crate) fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(bytes_at(b, o))
}

#[inline]
pub(crate) fn f32_at(b: &[u8], o: usize) -> f32 {
    f32::from_le_bytes(bytes_at(b, o))
}
