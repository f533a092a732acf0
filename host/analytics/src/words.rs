//! Hot words: what customers write about most, and whether they use the words a
//! tenant watches (`sconto` during a promotion).
//!
//! A message's text is split at Unicode word boundaries (UAX #29) and at
//! apostrophes (`l'iPhone` → `l`, `iphone`), lowercased; Italian and English stop
//! words (the `stop-words` crate's ISO lists), numbers and one-letter words are
//! dropped; the rest are reduced to their Snowball stem in the tenant's language
//! (`spedizione`, `spedizioni` → `spedizion`), and each stem is shown as the form
//! customers wrote most often. Each emoji counts as a word of its own (skin tones
//! folded into the base emoji).

use rust_stemmers::{Algorithm, Stemmer};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use unicode_segmentation::UnicodeSegmentation;

/// A word customers used, with how often.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HotWord {
    /// The form written most often.
    pub word: String,
    /// Times it was written (all forms of its stem).
    pub count: u64,
    /// The share of conversations (with customer messages in the range) that use it.
    pub share: f64,
}

/// A watched word's use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Watched {
    /// The word as the tenant wrote it.
    pub word: String,
    /// Conversations that used it (any form of its stem).
    pub conversations: u64,
    /// Their share of the conversations with customer messages in the range.
    pub share: f64,
}

#[derive(Debug, Default)]
struct Entry {
    count: u64,
    conversations: HashSet<i64>,
    forms: HashMap<String, u64>,
}

/// Counts words over many messages.
pub struct WordCounter {
    stemmer: Stemmer,
    stop: HashSet<&'static str>,
    /// Written form → its key (or none): customers repeat words, and stemming is the
    /// costly part.
    keys: HashMap<String, Option<String>>,
    words: HashMap<String, Entry>,
    conversations: HashSet<i64>,
}

impl std::fmt::Debug for WordCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordCounter")
            .field("words", &self.words.len())
            .field("conversations", &self.conversations.len())
            .finish()
    }
}

/// The stemmer for a language code (`it`, `en`, …); English for one Snowball lacks.
fn algorithm(language: &str) -> Algorithm {
    match language {
        "it" => Algorithm::Italian,
        "es" => Algorithm::Spanish,
        "fr" => Algorithm::French,
        "de" => Algorithm::German,
        "pt" => Algorithm::Portuguese,
        "nl" => Algorithm::Dutch,
        _ => Algorithm::English,
    }
}

/// True when `text` has an emoji (a grapheme that is one).
pub fn has_emoji(text: &str) -> bool {
    text.graphemes(true).any(|g| emojis::get(g).is_some())
}

/// The emoji a grapheme is, with skin tone and presentation selectors removed.
fn emoji(grapheme: &str) -> Option<String> {
    let e = emojis::get(grapheme)?;
    let base: String = e
        .as_str()
        .chars()
        .filter(|c| !matches!(*c as u32, 0x1F3FB..=0x1F3FF | 0xFE0F))
        .collect();
    Some(base)
}

impl WordCounter {
    /// A counter stemming in `language` (`it`, `en`, …), dropping Italian, English
    /// and that language's stop words.
    pub fn new(language: &str) -> WordCounter {
        let mut stop: HashSet<&'static str> = HashSet::new();
        for code in ["it", "en", language] {
            if let Some(words) = stop_words::lookup(code) {
                stop.extend(words.iter().copied());
            }
        }
        WordCounter {
            stemmer: Stemmer::create(algorithm(language)),
            stop,
            keys: HashMap::new(),
            words: HashMap::new(),
            conversations: HashSet::new(),
        }
    }

    /// The stem a written word counts under; `None` for a word that does not count.
    pub fn key(&self, word: &str) -> Option<String> {
        let w = word.to_lowercase();
        if w.chars().count() < 2
            || w.chars().all(|c| c.is_numeric())
            || self.stop.contains(w.as_str())
        {
            return None;
        }
        Some(self.stemmer.stem(&w).into_owned())
    }

    /// Counts the words of one customer message of `conversation`.
    pub fn add(&mut self, conversation: i64, text: &str) {
        self.conversations.insert(conversation);
        let mut found: Vec<(String, String)> = Vec::new();
        for word in text.unicode_words().flat_map(|w| w.split(['\'', '’'])) {
            let form = word.to_lowercase();
            let key = match self.keys.get(&form) {
                Some(k) => k.clone(),
                None => {
                    let k = self.key(&form);
                    self.keys.insert(form.clone(), k.clone());
                    k
                }
            };
            if let Some(key) = key {
                found.push((key, form));
            }
        }
        for g in text.graphemes(true) {
            if let Some(e) = emoji(g) {
                found.push((e.clone(), e));
            }
        }
        for (key, form) in found {
            let e = self.words.entry(key).or_default();
            e.count += 1;
            e.conversations.insert(conversation);
            *e.forms.entry(form).or_default() += 1;
        }
    }

    /// Conversations seen.
    pub fn conversations(&self) -> u64 {
        self.conversations.len() as u64
    }

    /// The `n` most written words, most first (ties alphabetical).
    pub fn top(&self, n: usize) -> Vec<HotWord> {
        let total = self.conversations();
        let mut all: Vec<HotWord> = self
            .words
            .values()
            .map(|e| {
                let word = e
                    .forms
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(f, _)| f.clone())
                    .unwrap_or_default();
                HotWord {
                    word,
                    count: e.count,
                    share: crate::stats::share(e.conversations.len() as u64, total),
                }
            })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
        all.truncate(n);
        all
    }

    /// How many conversations used any of `words`.
    pub fn conversations_using(&self, words: &[String]) -> u64 {
        let mut any: HashSet<i64> = HashSet::new();
        for w in words {
            if let Some(e) = self
                .key(w)
                .or_else(|| emoji(w))
                .and_then(|k| self.words.get(&k))
            {
                any.extend(e.conversations.iter().copied());
            }
        }
        any.len() as u64
    }

    /// How many conversations used each of `words` (any form of its stem).
    pub fn watched(&self, words: &[String]) -> Vec<Watched> {
        let total = self.conversations();
        words
            .iter()
            .map(|w| {
                let used = self
                    .key(w)
                    .or_else(|| emoji(w))
                    .and_then(|k| self.words.get(&k))
                    .map_or(0, |e| e.conversations.len() as u64);
                Watched {
                    word: w.clone(),
                    conversations: used,
                    share: crate::stats::share(used, total),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_are_found_in_text() {
        assert!(has_emoji("Saldi 🔥 fino al 50%"));
        assert!(has_emoji("👍🏽"));
        assert!(!has_emoji("Saldi fino al 50% :)"));
    }

    #[test]
    fn stems_stop_words_apostrophes_and_emoji() {
        let mut c = WordCounter::new("it");
        c.add(1, "Ciao, quanto costa la spedizione dell'iPhone? 👍🏽");
        c.add(1, "Le spedizioni sono gratuite? 👍");
        c.add(2, "Spedizione in Sicilia per 2 iPhone");
        let top = c.top(10);
        let get = |w: &str| top.iter().find(|h| h.word == w).cloned();
        let sped = get("spedizione").expect("spedizione and spedizioni are one word");
        assert_eq!((sped.count, sped.share), (3, 1.0));
        assert_eq!(get("iphone").map(|h| h.count), Some(2));
        assert_eq!(
            get("👍").map(|h| (h.count, h.share)),
            Some((2, 0.5)),
            "skin tones folded"
        );
        for gone in ["la", "le", "dell", "in", "per", "2", "sono"] {
            assert!(
                get(gone).is_none(),
                "{gone} is a stop word or a number: {top:?}"
            );
        }
        assert_eq!(top[0].word, "spedizione", "most first: {top:?}");
    }

    #[test]
    fn watched_words_share_of_conversations() {
        let mut c = WordCounter::new("it");
        c.add(1, "C'è uno sconto?");
        c.add(2, "Avete sconti per studenti?");
        for id in 3..=30 {
            c.add(id, "Buongiorno, a che ora aprite?");
        }
        let w = c.watched(&["sconto".into(), "coupon".into()]);
        assert_eq!((w[0].conversations, w[0].share), (2, 0.0667));
        assert_eq!((w[1].conversations, w[1].share), (0, 0.0));
        assert_eq!(
            c.conversations_using(&["sconto".into(), "studenti".into()]),
            2
        );
        assert_eq!(
            c.conversations_using(&["aprite".into(), "sconti".into()]),
            30
        );
        assert!(WordCounter::new("en").top(5).is_empty());
        assert_eq!(
            WordCounter::new("en").watched(&["sale".into()])[0].share,
            0.0,
            "none: zero, not NaN"
        );
    }
}
