//! Tokenizer of a model directory, and the prompt's input ids with the text truncated by
//! tokens (never the label list) when the prompt is over the limit.
use std::path::Path;

use tokenizers::Tokenizer;

use crate::error::{Error, Result};
use crate::prompt::PromptTemplate;

pub struct TextTokenizer {
    inner: Tokenizer,
    eos: u32,
}

/// A prompt's token ids and how much of the text they kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptIds {
    pub ids: Vec<i64>,
    /// Characters of the text in the prompt.
    pub kept_chars: usize,
    /// Whether some of the text was left out.
    pub truncated: bool,
}

impl PromptIds {
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

/// At most this many characters of a text are read per prompt token allowed: tokenizing
/// costs time and about 200 bytes of memory per character, so a text is cut to
/// `max_tokens * TEXT_CHARS_PER_TOKEN` characters before it is tokenized. A prefix that
/// long already needs more tokens than allowed unless the text averages over 16 characters
/// per token (mT5 reads Chinese at about 1 to 1.5, English at about 4; only runs of blanks or
/// of characters its normaliser drops go further), so the prompt, and the answer, are those
/// of the whole text.
pub const TEXT_CHARS_PER_TOKEN: usize = 16;

/// The longest prefix of `text` that `prompt_ids` reads for a prompt of `max_tokens`, and
/// whether it is shorter than the text. Callers holding huge texts cut them with this
/// before converting or copying them.
pub fn text_prefix(text: &str, max_tokens: usize) -> (&str, bool) {
    let limit = max_tokens.saturating_mul(TEXT_CHARS_PER_TOKEN);
    match text.char_indices().nth(limit) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

impl TextTokenizer {
    pub fn from_file(path: &Path, eos: u32) -> Result<TextTokenizer> {
        let inner = Tokenizer::from_file(path).map_err(|e| Error::invalid_model(path, e.to_string()))?;
        Ok(TextTokenizer { inner, eos })
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Ids of a whole prompt, with the tokenizer's special tokens (EOS for T5).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The decoder target for a label: its tokens, then EOS.
    pub fn label_sequence(&self, label: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(label, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let mut ids = enc.get_ids().to_vec();
        ids.push(self.eos);
        Ok(ids)
    }

    /// The prompt's ids, keeping the longest prefix of `text` (in characters) that fits in
    /// `max_tokens`. Only `text_prefix(text, max_tokens)` is read. The prefix is found by
    /// binary search on the character count, which is exact where the token count grows
    /// with the prefix (it nearly always does) and deterministic where it does not;
    /// tools/reference.py does the same search.
    pub fn prompt_ids(
        &self,
        template: &PromptTemplate,
        label_part: &str,
        n_labels: usize,
        text: &str,
        max_tokens: usize,
    ) -> Result<PromptIds> {
        let too_many = |needed| Error::TooManyLabels { labels: n_labels, needed, max: max_tokens };
        self.fit(text, max_tokens, |t| self.encode(&template.render(label_part, t)), too_many)
    }

    /// A generation prompt's ids: the prompt as it is, cut as `prompt_ids` cuts a text.
    pub fn text_ids(&self, text: &str, max_tokens: usize) -> Result<PromptIds> {
        let too_long = |needed| {
            Error::InvalidOption(format!("the prompt limit of {max_tokens} tokens leaves no room ({needed} needed)"))
        };
        self.fit(text, max_tokens, |t| self.encode(t), too_long)
    }

    /// The ids `ids` gives for the longest prefix of `text` that fits in `max_tokens`
    /// (`prompt_ids`); `too_long(needed)` when even the empty text does not fit.
    fn fit(
        &self,
        text: &str,
        max_tokens: usize,
        ids: impl Fn(&str) -> Result<Vec<u32>>,
        too_long: impl FnOnce(usize) -> Error,
    ) -> Result<PromptIds> {
        let (text, cut) = text_prefix(text, max_tokens);
        let text_chars = text.chars().count();
        let full = ids(text)?;
        if full.len() <= max_tokens {
            return Ok(PromptIds { ids: widen(full), kept_chars: text_chars, truncated: cut });
        }
        let empty = ids("")?;
        if empty.len() > max_tokens {
            return Err(too_long(empty.len()));
        }
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let prefix = |k: usize| &text[..bounds[k]];
        let (mut lo, mut hi, mut best) = (0usize, text_chars, empty);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            let candidate = ids(prefix(mid))?;
            if candidate.len() <= max_tokens {
                lo = mid;
                best = candidate;
            } else {
                hi = mid;
            }
        }
        Ok(PromptIds { ids: widen(best), kept_chars: lo, truncated: true })
    }

    /// Generated ids as text, without special tokens (transformers' `skip_special_tokens`).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// `text` as the tokenizer's normaliser leaves it (NFKC, folded blanks for mT5).
    pub fn normalize(&self, text: &str) -> Result<String> {
        use tokenizers::tokenizer::{NormalizedString, Normalizer};
        let Some(normalizer) = self.inner.get_normalizer() else { return Ok(text.to_string()) };
        let mut normalized = NormalizedString::from(text);
        normalizer.normalize(&mut normalized).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(normalized.get().to_string())
    }

    /// The texts of the tokenizer's special tokens (`</s>`, `<pad>`, `<unk>` for mT5).
    pub fn special_tokens(&self) -> Vec<String> {
        let mut specials: Vec<String> =
            self.inner.get_added_tokens_decoder().into_values().filter(|t| t.special).map(|t| t.content).collect();
        specials.sort();
        specials
    }
}

fn widen(ids: Vec<u32>) -> Vec<i64> {
    ids.into_iter().map(i64::from).collect()
}
