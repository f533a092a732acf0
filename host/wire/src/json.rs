//! Lenient reads from untyped webhook JSON.
//!
//! Meta's payloads drift (ids sent as numbers, new fields, missing optional ones), and one
//! odd field must not sink a whole message, so fields are read one at a time and a
//! missing or mistyped field is simply absent.

use std::str::FromStr;

use serde_json::Value;

/// Reads the string (or number, rendered as text) at a JSON pointer such as `/context/id`.
pub(super) fn str_at(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Parses the string or number at a JSON pointer; Meta sends timestamps as strings and
/// prices as numbers, so both spellings are accepted for every numeric field.
pub(super) fn parse_at<T: FromStr>(value: &Value, pointer: &str) -> Option<T> {
    str_at(value, pointer)?.trim().parse().ok()
}

/// Returns the array under `key`, or an empty slice when it is absent or not an array.
pub(super) fn array_at<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_strings_and_numbers_alike() {
        let value = json!({"a": {"b": "x"}, "n": 12, "s": " 42 ", "f": 1.5, "o": {}});
        assert_eq!(str_at(&value, "/a/b").as_deref(), Some("x"));
        assert_eq!(str_at(&value, "/n").as_deref(), Some("12"));
        assert_eq!(str_at(&value, "/o"), None);
        assert_eq!(str_at(&value, "/missing"), None);
        assert_eq!(parse_at::<i64>(&value, "/s"), Some(42));
        assert_eq!(parse_at::<f64>(&value, "/f"), Some(1.5));
        assert_eq!(parse_at::<u32>(&value, "/a/b"), None);
    }

    #[test]
    fn array_at_tolerates_absence_and_wrong_types() {
        let value = json!({"list": [1, 2], "scalar": 3});
        assert_eq!(array_at(&value, "list").len(), 2);
        assert!(array_at(&value, "scalar").is_empty());
        assert!(array_at(&value, "missing").is_empty());
        assert!(array_at(&json!("not an object"), "list").is_empty());
    }
}
