//! [`ApiError`]: an error Meta attached to a message, a status or a change.

use serde::Serialize;
use serde_json::Value;

use crate::json::{array_at, parse_at, str_at};

/// An error Meta reported on a message, status or change (stored as JSON in this
/// shape, and read back from there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ApiError {
    /// Meta's numeric error code, e.g. 131051 (0 if absent).
    pub code: i64,
    /// The short title (empty if absent).
    pub title: String,
    /// The longer message, if any.
    pub message: Option<String>,
    /// `error_data.details`, if any.
    pub details: Option<String>,
}

impl ApiError {
    /// Meta's code (`None` when absent) and a one-line description: the title (or
    /// message) with the details when they add something.
    pub fn summary(&self) -> (Option<i64>, String) {
        let title = if self.title.is_empty() {
            self.message.as_deref().unwrap_or("failed")
        } else {
            &self.title
        };
        let text = match &self.details {
            Some(d) if d != title => format!("{title} ({d})"),
            _ => title.to_owned(),
        };
        ((self.code != 0).then_some(self.code), text)
    }
}

pub(super) fn api_errors(item: &Value) -> Vec<ApiError> {
    api_errors_of(array_at(item, "errors"))
}

/// Reads each of Meta's error objects in `errors`.
pub(super) fn api_errors_of(errors: &[Value]) -> Vec<ApiError> {
    errors
        .iter()
        .map(|error| ApiError {
            code: parse_at(error, "/code").unwrap_or(0),
            title: str_at(error, "/title").unwrap_or_default(),
            message: str_at(error, "/message"),
            details: str_at(error, "/error_data/details"),
        })
        .collect()
}
