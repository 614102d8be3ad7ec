//! Checks on a label set before it goes into a prompt, made on the labels as the model's
//! tokenizer sees them (after its normaliser): a label that reads as the separator, a line
//! break or a special token would silently change the candidate list the model reads, and
//! two labels the tokenizer cannot tell apart would split one probability between them.
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::trie::LabelTrie;

/// Everything the checks need from the tokenizer and the prompt template.
pub struct LabelRules<'a> {
    /// The template's label separator (`,` for the model card's prompt).
    pub separator: &'a str,
    /// The tokenizer's normaliser (NFKC and whitespace folding for mT5).
    pub normalize: &'a dyn Fn(&str) -> Result<String>,
    /// Texts of the tokenizer's special tokens (`</s>`, `<pad>`, `<unk>`).
    pub special_tokens: &'a [String],
}

/// Line and paragraph breaks, including the Unicode ones a prompt reader would break on.
const LINE_BREAKS: [char; 7] = ['\n', '\r', '\u{0B}', '\u{0C}', '\u{85}', '\u{2028}', '\u{2029}'];

/// Characters that show nothing: a label made only of these (and blanks) is empty.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '\u{AD}' | '\u{34F}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}')
        || matches!(c, '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '▁')
}

/// What two labels are compared by: the normalised text without blanks around it, and with
/// runs of blanks inside read as one (the tokenizer folds them).
fn comparison_key(normalized: &str) -> String {
    let mut key = String::with_capacity(normalized.len());
    for word in normalized.split(|c: char| c.is_whitespace() || c == '▁').filter(|w| !w.is_empty()) {
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(word);
    }
    key
}

/// Validates labels; positions in errors are 1-based. `interrupted` is polled between labels.
pub fn validate_labels(labels: &[String], rules: &LabelRules<'_>, interrupted: &dyn Fn() -> bool) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::EmptyLabelSet);
    }
    let separator = (rules.normalize)(rules.separator)?;
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        let position = i + 1;
        let invalid = |reason: String| Error::InvalidLabel { label: label.clone(), position, reason };
        let normalized = (rules.normalize)(label)?;
        if label.contains(LINE_BREAKS) || normalized.contains(LINE_BREAKS) {
            return Err(invalid("a label must not contain a line break".into()));
        }
        if normalized.chars().all(is_invisible) {
            return Err(invalid("a label must contain a visible character".into()));
        }
        for text in [label.as_str(), normalized.as_str()] {
            if text.contains(rules.separator) || (!separator.is_empty() && text.contains(separator.as_str())) {
                return Err(invalid(format!(
                    "a label must not contain the label separator {:?} (or a character the tokenizer reads as it)",
                    rules.separator
                )));
            }
            if let Some(special) = rules.special_tokens.iter().find(|s| !s.is_empty() && text.contains(s.as_str())) {
                return Err(invalid(format!("a label must not contain the special token {special:?}")));
            }
        }
        if let Some(first) = seen.insert(comparison_key(&normalized), position) {
            return Err(Error::DuplicateLabel {
                first_label: labels[first - 1].clone(),
                first,
                label: label.clone(),
                second: position,
            });
        }
    }
    Ok(())
}

/// Refuses two labels whose token sequences are the same: the model cannot tell them apart
/// (two characters a tokenizer without byte fallback both reads as `<unk>`), so they would
/// tie and split one probability, as labels equal after normalisation would.
pub fn check_distinct_sequences(labels: &[String], sequences: &[Vec<u32>]) -> Result<()> {
    let mut seen: HashMap<&[u32], usize> = HashMap::with_capacity(sequences.len());
    for (i, sequence) in sequences.iter().enumerate() {
        if let Some(first) = seen.insert(sequence.as_slice(), i) {
            return Err(Error::SameTokens {
                first_label: labels[first].clone(),
                first: first + 1,
                label: labels[i].clone(),
                second: i + 1,
            });
        }
    }
    Ok(())
}

/// A label set made ready for scoring: validated, tokenised, as a trie.
pub struct PreparedLabels {
    pub labels: Vec<String>,
    pub(crate) label_part: String,
    pub(crate) trie: LabelTrie,
}

impl PreparedLabels {
    pub fn trie(&self) -> &LabelTrie {
        &self.trie
    }

    /// Approximate heap bytes: the labels, the prompt's label part and the trie.
    pub(crate) fn size_bytes(&self) -> usize {
        let labels: usize = self.labels.iter().map(|l| l.capacity() + std::mem::size_of::<String>()).sum();
        labels + self.label_part.capacity() + self.trie.size_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    /// A stand-in for mT5's normaliser on the characters these tests use: full-width forms
    /// and small/vertical commas fold to ASCII, `e` + combining acute composes.
    fn nfkc_like(s: &str) -> Result<String> {
        Ok(s.replace(['，', '﹐', '︐'], ",").replace("ＡＢＣ", "ABC").replace("e\u{301}", "é"))
    }

    fn check(labels: &[String]) -> Result<()> {
        let specials = v(&["</s>", "<pad>", "<unk>"]);
        let rules = LabelRules { separator: ",", normalize: &nfkc_like, special_tokens: &specials };
        validate_labels(labels, &rules, &|| false)
    }

    #[test]
    fn accepts_ordinary_labels() {
        check(&v(&["物流问题", "商品质量", "OK 好", "a<b"])).unwrap();
    }

    #[test]
    fn rejects_each_bad_label_and_names_it() {
        assert!(matches!(check(&[]), Err(Error::EmptyLabelSet)));
        for bad in [
            "",
            "  ",
            "\u{200B}",
            "\u{FEFF}",
            "a,b",
            "物流，问题",
            "a﹐b",
            "a︐b",
            "a\nb",
            "a\rb",
            "a\u{2028}b",
            "a\u{85}b",
            "a\u{0B}b",
            "</s>",
            "x</s>y",
            "<pad>",
        ] {
            match check(&v(&["ok", bad])) {
                Err(Error::InvalidLabel { label, position, .. }) => assert_eq!((label.as_str(), position), (bad, 2)),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn labels_equal_to_the_tokenizer_are_duplicates() {
        for (a, b) in [("a", "a"), ("物流问题", "物流问题 "), ("ABC", "ＡＢＣ"), ("é", "e\u{301}"), ("a b", "a  b")]
        {
            match check(&v(&["x", a, b])) {
                Err(Error::DuplicateLabel { first_label, first, label, second }) => {
                    assert_eq!((first_label.as_str(), first, label.as_str(), second), (a, 2, b, 3))
                }
                other => panic!("{a:?} {b:?}: {other:?}"),
            }
        }
        check(&v(&["abc", "ABC"])).unwrap();
    }

    #[test]
    fn labels_with_the_same_tokens_are_duplicates() {
        let labels = v(&["甲", "\u{20000}", "乙", "\u{20001}"]);
        // The two rare characters are both <unk> (id 2) to a tokenizer without byte fallback.
        let sequences = vec![vec![10, 1], vec![2, 1], vec![11, 1], vec![2, 1]];
        match check_distinct_sequences(&labels, &sequences) {
            Err(Error::SameTokens { first, second, .. }) => assert_eq!((first, second), (2, 4)),
            other => panic!("{other:?}"),
        }
        check_distinct_sequences(&labels[..3], &sequences[..3]).unwrap();
    }

    #[test]
    fn separator_comes_from_the_template() {
        let rules = LabelRules { separator: "|", normalize: &nfkc_like, special_tokens: &[] };
        validate_labels(&v(&["a,b"]), &rules, &|| false).unwrap();
        assert!(validate_labels(&v(&["a|b"]), &rules, &|| false).is_err());
    }

    #[test]
    fn an_interrupt_stops_the_checks() {
        let rules = LabelRules { separator: ",", normalize: &nfkc_like, special_tokens: &[] };
        assert!(matches!(validate_labels(&v(&["a"]), &rules, &|| true), Err(Error::Interrupted)));
    }
}
