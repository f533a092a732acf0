//! Many rows in one statement: the shapes the pipeline's batches use to write a
//! batch's messages with a few statements instead of a few per message.
//!
//! A batch of `n` rows is cut into chunks whose sizes are powers of two (37 rows →
//! 32 + 4 + 1), so each statement shape is prepared for at most
//! [`MAX_CHUNK`]`.ilog2() + 1` sizes and stays in the connection's statement cache.

use std::fmt::Write;
use std::ops::Range;

/// The most rows one statement carries.
pub(crate) const MAX_CHUNK: usize = 64;

/// Cuts `0..n` into ranges whose lengths are powers of two, largest first, none
/// longer than [`MAX_CHUNK`].
pub(crate) fn chunks(n: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < n {
        let left = n - at;
        let size = if left >= MAX_CHUNK {
            MAX_CHUNK
        } else {
            1 << left.ilog2()
        };
        out.push(at..at + size);
        at += size;
    }
    out
}

/// `(?1, ?2, …), (…)`: `rows` tuples of `cols` numbered placeholders, numbering from
/// `first`.
pub(crate) fn tuples(rows: usize, cols: usize, first: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "?{}", first + r * cols + c);
        }
        s.push(')');
    }
    s
}

/// `?first, ?first+1, …`: `n` numbered placeholders for an `IN (…)` list.
pub(crate) fn list(n: usize, first: usize) -> String {
    let mut s = String::with_capacity(n * 5);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "?{}", first + i);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_and_cover_everything() {
        assert_eq!(chunks(0), Vec::<Range<usize>>::new());
        assert_eq!(chunks(1), vec![0..1]);
        assert_eq!(chunks(37), vec![0..32, 32..36, 36..37]);
        assert_eq!(chunks(130), vec![0..64, 64..128, 128..130]);
        for n in 0..300 {
            let c = chunks(n);
            assert_eq!(c.iter().map(|r| r.len()).sum::<usize>(), n);
            assert!(
                c.iter()
                    .all(|r| r.len().is_power_of_two() && r.len() <= MAX_CHUNK)
            );
            assert!(c.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn placeholders_are_numbered_in_row_order() {
        assert_eq!(tuples(2, 3, 2), "(?2, ?3, ?4), (?5, ?6, ?7)");
        assert_eq!(list(3, 1), "?1, ?2, ?3");
    }
}
