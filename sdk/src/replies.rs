//! Replies written in a CRM for the customer: a note or activity whose text starts
//! with the connector's marker (`/wa Il suo ordine è partito`).

/// The reply in `text` when it starts with `marker` (any case), the marker and a
/// following `:` or spaces removed; none when it does not, or nothing follows.
pub fn reply_text(text: &str, marker: &str) -> Option<String> {
    let text = text.trim();
    let head = text.get(..marker.len())?;
    if marker.is_empty() || !head.eq_ignore_ascii_case(marker) {
        return None;
    }
    let rest = text[marker.len()..]
        .trim_start_matches([':', ' ', '\n'])
        .trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::reply_text;

    #[test]
    fn the_marker_starts_a_reply() {
        assert_eq!(
            reply_text("/WA: Spedito", "/wa").as_deref(),
            Some("Spedito")
        );
        assert_eq!(reply_text("Chiamato il cliente", "/wa"), None);
        assert_eq!(reply_text("/wa", "/wa"), None);
        assert_eq!(reply_text("/wa ciao", ""), None);
    }
}
