//! A lexicon sentiment score in [0, 1] (0 very negative, 0.5 neutral, 1 very
//! positive) for English and Italian, in the manner of VADER:
//!
//! 1. each word of the lexicon (or of the tenant's `[sentiment]` table, which wins)
//!    contributes its valence in [-4, 4]; a few emoji count as words;
//! 2. an intensifier right before a word ("very", "molto") multiplies it by 1.5;
//! 3. a negation up to three words before it ("not", "never", "non", "mai") flips it
//!    and damps it (× -0.75), so "not bad" is mildly positive;
//! 4. each `!` (up to four) adds 0.3 in the direction of the sum;
//! 5. the sum `s` is squashed by `s / sqrt(s² + 15)` into [-1, 1] and mapped to [0, 1].
//!
//! Cheap (one pass, a binary search per word) and explainable; it is not a model of
//! irony or of domain words the lexicon lacks, which the tenant can add.

use scrm_intent::RulesView;

/// The built-in lexicon, sorted by word (checked by a test): English and Italian.
const LEXICON: &[(&str, f32)] = &[
    ("abysmal", -3.5),
    ("amazing", 3.0),
    ("angry", -2.5),
    ("annoyed", -2.0),
    ("annoying", -2.0),
    ("arrabbiata", -2.5),
    ("arrabbiati", -2.5),
    ("arrabbiato", -2.5),
    ("awesome", 3.0),
    ("awful", -3.0),
    ("bad", -2.5),
    ("bella", 2.0),
    ("bellissima", 3.0),
    ("bellissime", 3.0),
    ("bellissimi", 3.0),
    ("bellissimo", 3.0),
    ("bello", 2.0),
    ("bene", 1.5),
    ("best", 3.0),
    ("brava", 2.0),
    ("bravi", 2.0),
    ("bravo", 2.0),
    ("broken", -2.0),
    ("buona", 2.0),
    ("buoni", 2.0),
    ("buono", 2.0),
    ("cheated", -3.0),
    ("complaint", -1.5),
    ("contenta", 2.0),
    ("contenti", 2.0),
    ("contento", 2.0),
    ("damaged", -2.0),
    ("damn", -2.0),
    ("defective", -2.0),
    ("delusa", -2.5),
    ("delusi", -2.5),
    ("delusione", -2.5),
    ("deluso", -2.5),
    ("difettoso", -2.0),
    ("disappointed", -2.5),
    ("disappointing", -2.5),
    ("disaster", -3.0),
    ("disastro", -3.0),
    ("disgusting", -3.0),
    ("disgustoso", -3.0),
    ("error", -1.5),
    ("errore", -1.5),
    ("excellent", 3.0),
    ("fantastic", 3.0),
    ("fantastica", 3.0),
    ("fantastico", 3.0),
    ("felice", 2.5),
    ("felici", 2.5),
    ("furioso", -3.5),
    ("furious", -3.5),
    ("gentile", 2.0),
    ("gentili", 2.0),
    ("gentilissimi", 2.5),
    ("good", 2.0),
    ("grande", 1.0),
    ("grazie", 1.5),
    ("great", 3.0),
    ("guasto", -2.0),
    ("happy", 2.5),
    ("hate", -3.0),
    ("helpful", 2.0),
    ("horrible", -3.0),
    ("inaccettabile", -3.0),
    ("incompetent", -3.0),
    ("incompetenti", -3.0),
    ("insoddisfatto", -2.5),
    ("late", -1.5),
    ("lenta", -1.5),
    ("lento", -1.5),
    ("love", 3.0),
    ("lovely", 2.5),
    ("male", -2.0),
    ("nice", 2.0),
    ("odio", -3.0),
    ("ok", 0.5),
    ("ottima", 3.0),
    ("ottime", 3.0),
    ("ottimi", 3.0),
    ("ottimo", 3.0),
    ("perfect", 3.0),
    ("perfetta", 3.0),
    ("perfetto", 3.0),
    ("pessima", -3.5),
    ("pessimi", -3.5),
    ("pessimo", -3.5),
    ("please", 0.3),
    ("poor", -2.0),
    ("problem", -1.5),
    ("problema", -1.5),
    ("problemi", -1.5),
    ("problems", -1.5),
    ("reclamo", -1.5),
    ("ridicolo", -2.5),
    ("ridiculous", -2.5),
    ("ritardo", -1.5),
    ("rotta", -2.0),
    ("rotti", -2.0),
    ("rotto", -2.0),
    ("rubbish", -3.0),
    ("rude", -2.5),
    ("satisfied", 2.0),
    ("scam", -3.5),
    ("schifo", -3.5),
    ("scortese", -2.5),
    ("slow", -1.5),
    ("soddisfatta", 2.0),
    ("soddisfatto", 2.0),
    ("sorry", -0.5),
    ("stupid", -2.5),
    ("super", 2.0),
    ("terribile", -3.5),
    ("terrible", -3.5),
    ("thank", 1.5),
    ("thanks", 1.5),
    ("truffa", -3.5),
    ("unacceptable", -3.0),
    ("upset", -2.5),
    ("useless", -3.0),
    ("vergogna", -3.0),
    ("waste", -2.5),
    ("worst", -3.5),
    ("wow", 2.5),
    ("wrong", -2.0),
    ("😀", 2.0),
    ("😁", 2.0),
    ("😂", 1.5),
    ("😊", 2.0),
    ("😍", 3.0),
    ("😞", -2.0),
    ("😠", -3.0),
    ("😡", -3.5),
    ("😢", -2.0),
    ("😤", -2.5),
    ("😭", -2.5),
    ("🙂", 1.5),
    ("🙏", 1.0),
    ("🤬", -3.5),
];

/// Words that flip the valence of the next three words. (`matches!` rather than a
/// list: a length switch and one comparison instead of ~20 calls to `memcmp`.)
fn is_negation(w: &str) -> bool {
    matches!(
        w,
        "not"
            | "no"
            | "never"
            | "nothing"
            | "nobody"
            | "without"
            | "dont"
            | "doesnt"
            | "didnt"
            | "isnt"
            | "wasnt"
            | "arent"
            | "cant"
            | "cannot"
            | "wont"
            | "non"
            | "mai"
            | "nessun"
            | "nessuno"
            | "niente"
            | "senza"
            | "né"
    )
}

/// Words that strengthen the next word.
fn is_intensifier(w: &str) -> bool {
    matches!(
        w,
        "very"
            | "really"
            | "so"
            | "extremely"
            | "totally"
            | "too"
            | "absolutely"
            | "molto"
            | "davvero"
            | "troppo"
            | "proprio"
            | "veramente"
            | "assolutamente"
    )
}

fn valence(word: &str, extra: &[(&str, f32)]) -> Option<f32> {
    if let Some((_, v)) = extra.iter().find(|(w, _)| *w == word) {
        return Some(*v);
    }
    LEXICON
        .binary_search_by(|(w, _)| (*w).cmp(word))
        .ok()
        .map(|i| LEXICON[i].1)
}

/// The sentiment of `lower` (the message text, lowercased) in [0, 1]; `extra` holds
/// the tenant's word table.
pub fn score(lower: &str, extra: &RulesView<'_>) -> f32 {
    // Read the tenant's words once, not per word (no allocation when there are none).
    let extra: Vec<(&str, f32)> = extra.words().collect();
    let mut sum = 0.0f32;
    // Words since the last negation (None: no negation in reach).
    let mut since_negation: Option<u32> = None;
    let mut boost = 1.0f32;
    let mut word = String::new();
    let mut flush = |word: &mut String, sum: &mut f32| {
        if word.is_empty() {
            return;
        }
        if is_negation(word) {
            since_negation = Some(0);
        } else if is_intensifier(word) {
            boost = 1.5;
        } else {
            if let Some(v) = valence(word, &extra) {
                let negated = since_negation.is_some_and(|n| n < 3);
                *sum += v * boost * if negated { -0.75 } else { 1.0 };
            }
            boost = 1.0;
            since_negation = since_negation.map(|n| n + 1);
        }
        word.clear();
    };
    for c in lower.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else if c == '\'' || c == '’' {
            // "don't" → "dont"; Italian elisions ("dov'è") split into words instead.
            if !matches!(
                word.as_str(),
                "don" | "doesn" | "didn" | "isn" | "wasn" | "aren" | "can" | "won"
            ) {
                flush(&mut word, &mut sum);
            }
        } else {
            flush(&mut word, &mut sum);
            if !c.is_whitespace() && !c.is_ascii() {
                // An emoji or other symbol stands alone as a word.
                word.push(c);
                flush(&mut word, &mut sum);
            }
        }
    }
    flush(&mut word, &mut sum);
    if sum != 0.0 {
        let bangs = lower.matches('!').count().min(4) as f32;
        sum += sum.signum() * 0.3 * bangs;
    }
    let compound = sum / (sum * sum + 15.0).sqrt();
    (compound + 1.0) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> f32 {
        score(&text.to_lowercase(), &RulesView::parse("").unwrap())
    }

    #[test]
    fn the_lexicon_is_sorted_for_binary_search() {
        assert!(LEXICON.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn neutral_text_scores_one_half() {
        assert_eq!(s("where is my order 12345"), 0.5);
        assert_eq!(s(""), 0.5);
    }

    #[test]
    fn scores_english_and_italian_by_polarity() {
        assert!(s("Thanks, great service!") > 0.8);
        assert!(s("Grazie mille, servizio ottimo") > 0.8);
        assert!(s("È bellissima, che borsa") > 0.7);
        assert!(s("This is the worst, a total scam") < 0.15);
        assert!(s("Servizio pessimo, che schifo") < 0.15);
        assert!(s("😡😡") < 0.2);
    }

    #[test]
    fn negation_flips_and_intensifiers_strengthen() {
        assert!(s("not good") < 0.5);
        assert!(s("non è buono") < 0.5);
        assert!(s("not bad") > 0.5);
        assert!(s("I don't like it, it's not good") < 0.5);
        assert!(s("very bad") < s("bad"));
        assert!(s("bad!!!") < s("bad"));
    }

    #[test]
    fn tenant_words_override_the_lexicon() {
        let extra = scrm_intent::Rules {
            words: vec![("late".to_string(), 0.0), ("sick".to_string(), 3.0)],
            ..Default::default()
        }
        .encode()
        .unwrap();
        let extra = RulesView::parse(&extra).unwrap();
        assert_eq!(score("late", &extra), 0.5);
        assert!(score("sick sneakers", &extra) > 0.7);
    }

    #[test]
    fn stays_within_zero_and_one() {
        let angry = "terrible ".repeat(1000);
        let happy = "great ".repeat(1000);
        assert!((0.0..=1.0).contains(&s(&angry)));
        assert!((0.0..=1.0).contains(&s(&happy)));
    }
}
