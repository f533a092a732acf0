//! Opt-out and resume keywords: a message that is only "STOP" (in one of several
//! languages) opts the contact out at once; "START" opts back in.
//!
//! Only a message that consists of the keyword alone counts (case, surrounding
//! whitespace and punctuation ignored), so "please don't stop" is not an opt-out.
//!
//! ```
//! use scrm::limits::optout::{Keyword, keyword};
//! assert_eq!(keyword(" Stop! "), Some(Keyword::OptOut));
//! assert_eq!(keyword("Baja"), Some(Keyword::OptOut));
//! assert_eq!(keyword("please don't stop"), None);
//! assert_eq!(keyword("START"), Some(Keyword::Resume));
//! ```

use scrm_store::Store;

/// What a keyword asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop business-initiated messages.
    OptOut,
    /// Receive them again.
    Resume,
}

/// Opt-out words: English, Spanish, Portuguese, French, German, Italian, Dutch,
/// Indonesian, Russian, Arabic, Hindi, Chinese. Ambiguous words a customer may mean
/// otherwise ("cancel" an order, "end") are left out on purpose.
const OPT_OUT: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "optout",
    "opt out",
    "alto",
    "baja",
    "darme de baja",
    "parar",
    "sair",
    "cancelar",
    "arret",
    "arrêt",
    "desabonner",
    "désabonner",
    "stopp",
    "abmelden",
    "basta",
    "annulla",
    "disiscrivi",
    "disiscriviti",
    "afmelden",
    "berhenti",
    "dur",
    "стоп",
    "отписаться",
    "توقف",
    "إلغاء",
    "रोकें",
    "停止",
    "退订",
];

/// Resume words.
const RESUME: &[&str] = &[
    "start",
    "unstop",
    "resume",
    "subscribe",
    "reanudar",
    "retomar",
    "reprendre",
    "fortsetzen",
    "riprendi",
    "hervatten",
    "mulai",
    "старт",
    "开始",
];

/// The keyword a whole message is, if it is one.
pub fn keyword(text: &str) -> Option<Keyword> {
    let trimmed = text.trim_matches(|c: char| {
        c.is_whitespace() || c.is_ascii_punctuation() || "¡¿。！".contains(c)
    });
    if trimmed.is_empty() || trimmed.len() > 40 {
        return None;
    }
    let lower = trimmed.to_lowercase();
    let normal = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    if OPT_OUT.contains(&normal.as_str()) {
        Some(Keyword::OptOut)
    } else if RESUME.contains(&normal.as_str()) {
        Some(Keyword::Resume)
    } else {
        None
    }
}

/// Applies a STOP / START keyword the contact sent at `at` (Unix ms).
///
/// # Errors
/// On database failure.
pub fn apply_keyword(
    conn: &dyn Store,
    tenant: &str,
    wa_id: &str,
    keyword: Keyword,
    at: i64,
) -> Result<(), scrm_store::StoreError> {
    match keyword {
        Keyword::OptOut => scrm_store::ConsentRepo::opt_out(conn, tenant, wa_id, "keyword", at),
        Keyword::Resume => scrm_store::ConsentRepo::opt_in(conn, tenant, wa_id, "keyword", at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_stop_in_several_languages() {
        for word in [
            "STOP",
            "stop.",
            "Baja",
            "PARAR",
            "Arrêt",
            "Stopp",
            "Basta!",
            "стоп",
            "停止",
            "Unsubscribe",
        ] {
            assert_eq!(keyword(word), Some(Keyword::OptOut), "{word}");
        }
    }

    #[test]
    fn ignores_stop_inside_a_sentence() {
        for text in [
            "please don't stop",
            "stop sending me the wrong size",
            "",
            "   ",
            "!!!",
        ] {
            assert_eq!(keyword(text), None, "{text:?}");
        }
    }

    #[test]
    fn recognises_resume_words() {
        assert_eq!(keyword("Start"), Some(Keyword::Resume));
        assert_eq!(keyword("reanudar"), Some(Keyword::Resume));
    }
}
