//! Keyset pagination shared by the list queries.

use serde::Serialize;

/// Largest page a caller may ask for.
pub const MAX_LIMIT: u32 = 500;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 50;

/// Which page to read: items with ids after `after`, at most `limit` of them.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Return items whose id is greater than this (0: from the start).
    pub after: i64,
    /// How many items at most (clamped to 1..=[`MAX_LIMIT`]).
    pub limit: u32,
}

impl PageRequest {
    /// A request with a clamped limit.
    pub fn new(after: Option<i64>, limit: Option<u32>) -> PageRequest {
        PageRequest {
            after: after.unwrap_or(0),
            limit: limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        }
    }

    /// The SQL LIMIT: one more than asked, to know whether there is a next page.
    pub fn sql_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of items and the cursor for the next one.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows, using `id` to make the cursor.
    pub fn from_rows(mut rows: Vec<T>, req: PageRequest, id: impl Fn(&T) -> i64) -> Page<T> {
        let more = rows.len() > req.limit as usize;
        rows.truncate(req.limit as usize);
        let next_after = if more { rows.last().map(id) } else { None };
        Page {
            items: rows,
            next_after,
        }
    }
}
