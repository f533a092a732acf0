//! What the flow does to a model's answer before anyone sees it: the answer is
//! data, never markup. Links to hosts the tenant did not allow are removed (a model
//! can be talked into sending a phishing link); template syntax is neutralised when
//! the answer is sent (the host renders `reply` text as a template); an answer
//! longer than WhatsApp's text limit is cut after a sentence.

/// WhatsApp's limit for a text message's body, in characters.
pub const TEXT_LIMIT: usize = 4096;

/// Removes every `http(s)://` URL whose host is not in `allowed` (exact, or a
/// subdomain of an entry); what is left, trimmed of doubled spaces, and the
/// removed URLs.
pub fn strip_links(text: &str, allowed: &[String]) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut removed = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&clean_word(word, allowed, &mut removed));
    }
    let mut squeezed = out.replace("  ", " ");
    while squeezed.contains("  ") {
        squeezed = squeezed.replace("  ", " ");
    }
    (squeezed.trim().to_owned(), removed)
}

/// A word with its disallowed URLs removed (a word may hold several lines).
fn clean_word(word: &str, allowed: &[String], removed: &mut Vec<String>) -> String {
    let mut out = String::new();
    for (i, line) in word.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let Some(start) = line.find("http://").or_else(|| line.find("https://")) else {
            out.push_str(line);
            continue;
        };
        // The URL runs to the end of the word, less closing punctuation.
        let url = line[start..].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\'']);
        let rest = &line[start + url.len()..];
        if host_allowed(url, allowed) {
            out.push_str(line);
        } else {
            out.push_str(&line[..start]);
            out.push_str(rest);
            removed.push(url.to_owned());
        }
    }
    out
}

/// Whether the URL's host is `allowed`.
fn host_allowed(url: &str, allowed: &[String]) -> bool {
    let after = url.split_once("://").map_or(url, |(_, a)| a);
    let authority = after.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    !host.is_empty()
        && allowed.iter().any(|a| {
            let a = a.trim().trim_start_matches("*.").to_ascii_lowercase();
            !a.is_empty() && (host == a || host.ends_with(&format!(".{a}")))
        })
}

/// `text` cut to at most `limit` characters: after the last sentence that fits,
/// else at the last space with an ellipsis.
pub fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let head: String = text.chars().take(limit).collect();
    let sentence_end = head
        .char_indices()
        .rev()
        .find(|(i, c)| {
            matches!(c, '.' | '!' | '?' | '…' | '\n')
                && head[i + c.len_utf8()..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
        })
        .map(|(i, c)| i + c.len_utf8());
    match sentence_end {
        Some(end) if end > 0 => head[..end].trim_end().to_owned(),
        _ => {
            // Room for the ellipsis; a word that does not fit whole is left out.
            let room: String = text.chars().take(limit.saturating_sub(1)).collect();
            let whole = text
                .chars()
                .nth(limit.saturating_sub(1))
                .is_none_or(char::is_whitespace);
            let at = if whole {
                room.len()
            } else {
                room.rfind(char::is_whitespace).unwrap_or(room.len())
            };
            format!("{}…", room[..at].trim_end())
        }
    }
}

/// `text` as the host's template language shows it literally: inside a raw block,
/// with every `{%` broken up so the block cannot be closed from inside.
pub fn literal(text: &str) -> String {
    format!("{{% raw %}}{}{{% endraw %}}", text.replace("{%", "{ %"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_links_stay() {
        let allowed = vec!["shop.example.com".to_owned()];
        let (text, removed) = strip_links(
            "Track it at https://shop.example.com/t/42. Or pay at http://evil.example.net/pay?x=1!",
            &allowed,
        );
        assert_eq!(
            text,
            "Track it at https://shop.example.com/t/42. Or pay at !"
        );
        assert_eq!(removed, ["http://evil.example.net/pay?x=1"]);
        let (text, _) = strip_links("see https://www.shop.example.com/a\nbye", &allowed);
        assert!(
            text.contains("https://www.shop.example.com/a"),
            "subdomains count: {text}"
        );
        let (text, removed) = strip_links("https://user@shop.example.com.evil.io/x", &allowed);
        assert_eq!((text.as_str(), removed.len()), ("", 1));
    }

    #[test]
    fn a_long_answer_is_cut_after_a_sentence() {
        let text = "One. Two is longer! Three?";
        assert_eq!(cut(text, 100), text);
        assert_eq!(cut(text, 20), "One. Two is longer!");
        assert_eq!(cut("no sentence end here at all", 12), "no sentence…");
        let long = "Ciao. ".repeat(1000);
        let got = cut(&long, TEXT_LIMIT);
        assert!(
            got.chars().count() <= TEXT_LIMIT && got.ends_with("Ciao."),
            "{}",
            got.len()
        );
    }

    #[test]
    fn template_syntax_is_shown_not_run() {
        let got = literal("Hi {{ contact.email }} {% endraw %}{{ secrets }}");
        assert_eq!(
            got,
            "{% raw %}Hi {{ contact.email }} { % endraw %}{{ secrets }}{% endraw %}"
        );
        assert_eq!(got.matches("{%").count(), 2);
    }
}
