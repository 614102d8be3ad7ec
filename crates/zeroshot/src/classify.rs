//! The classification pipeline, as `Model` methods: texts to prompts (tokenize.rs), prompts
//! to runs of texts (runs.rs, batch.rs), runs to per-label log-probabilities (scorer.rs),
//! and log-probabilities to an answer: the argmax label (ties go to the earlier label) and a
//! softmax over the labels at a temperature.
use crate::batch::RunPrompts;
use crate::error::{Error, Result};
use crate::labels::PreparedLabels;
use crate::model::Model;
use crate::runs::{plan_runs, RunLimits};
use crate::scorer::{self, Run};
use crate::tokenize::PromptIds;
use crate::tree_parts::fits_tree;
use crate::tree_pass;

/// How labels are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreMode {
    /// Every label's exact log-probability over the label trie.
    Exact,
    /// Constrained greedy decoding down the trie: the answer is still a label, its score is
    /// its path's probability, and only labels whose whole sequence lay on the path are scored.
    Greedy,
}

impl ScoreMode {
    /// The mode's name, as `FromStr` reads it.
    pub fn name(self) -> &'static str {
        match self {
            ScoreMode::Exact => "exact",
            ScoreMode::Greedy => "greedy",
        }
    }
}

impl std::str::FromStr for ScoreMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<ScoreMode> {
        match s.to_ascii_lowercase().as_str() {
            "exact" => Ok(ScoreMode::Exact),
            "greedy" => Ok(ScoreMode::Greedy),
            _ => Err(Error::InvalidOption(format!("score mode {s:?}: expected exact or greedy"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreOptions {
    /// Prompt length limit in tokens; the text is truncated to fit, never the labels.
    pub max_input_tokens: usize,
    /// Softmax temperature over the labels' log-probabilities (> 0).
    pub temperature: f64,
    pub mode: ScoreMode,
    /// How many texts `classify_many` may put in one ONNX Runtime run (exact mode).
    pub runs: RunLimits,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions { max_input_tokens: 512, temperature: 1.0, mode: ScoreMode::Exact, runs: RunLimits::default() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// log P(label + EOS | prompt), one per label, in the caller's order (NaN for labels
    /// greedy mode did not score).
    pub logprobs: Vec<f64>,
    /// Exact mode: softmax(logprobs / temperature), sums to 1. Greedy mode: exp(logprob) of
    /// each scored label, the model's own probability of it (NaN for the others).
    pub probs: Vec<f64>,
    /// Index of the answer.
    pub best: usize,
    pub input_tokens: usize,
    pub truncated: bool,
}

impl Classification {
    /// (label, probability, log-probability) of every scored label, in the caller's order;
    /// labels greedy mode did not score (NaN) are left out.
    pub fn scored<'a>(&'a self, labels: &'a [String]) -> impl Iterator<Item = (&'a str, f64, f64)> + 'a {
        labels
            .iter()
            .zip(self.probs.iter().zip(&self.logprobs))
            .filter(|(_, (p, _))| !p.is_nan())
            .map(|(l, (&p, &lp))| (l.as_str(), p, lp))
    }

    /// The indices of the `k` most probable scored labels with a probability of at least
    /// `min_score`, most probable first; equal probabilities keep the labels' order (as the
    /// answer's ties are broken). Labels greedy mode did not score are never listed.
    pub fn top(&self, k: usize, min_score: f64) -> Vec<usize> {
        let mut order: Vec<usize> =
            (0..self.probs.len()).filter(|&l| !self.probs[l].is_nan() && self.probs[l] >= min_score).collect();
        // A stable sort: ties stay in label order.
        order.sort_by(|&a, &b| self.probs[b].total_cmp(&self.probs[a]));
        order.truncate(k);
        order
    }

    fn exact(logprobs: Vec<f64>, prompt: &PromptIds, temperature: f64) -> Classification {
        let probs = softmax(&logprobs, temperature);
        let best = argmax_first(&logprobs);
        Classification { logprobs, probs, best, input_tokens: prompt.ids.len(), truncated: prompt.truncated() }
    }

    /// Greedy mode: the label whose leaf the path reached; probabilities are the model's own.
    fn greedy(logprobs: Vec<f64>, leaf: usize, labels: &PreparedLabels, prompt: &PromptIds) -> Classification {
        let best =
            (0..labels.labels.len()).find(|&l| labels.trie.label_leaf(l) == leaf).expect("the path ends at a label");
        let probs = logprobs.iter().map(|l| l.exp()).collect();
        Classification { logprobs, probs, best, input_tokens: prompt.ids.len(), truncated: prompt.truncated() }
    }
}

/// Index of the largest value; the first one on ties.
pub fn argmax_first(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

pub fn softmax(logprobs: &[f64], temperature: f64) -> Vec<f64> {
    let max = logprobs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logprobs.iter().map(|&l| ((l - max) / temperature).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

impl Model {
    pub(crate) fn dims(&self) -> scorer::Dims {
        scorer::Dims {
            layers: self.config.decoder_layers(),
            vocab: self.config.vocab_size,
            heads: self.config.num_heads,
            head_dim: self.config.head_dim(),
        }
    }

    /// Scores every label of `labels` for `text`.
    pub fn classify(&mut self, text: &str, labels: &PreparedLabels, opts: &ScoreOptions) -> Result<Classification> {
        Ok(self.classify_many(&[text], labels, opts)?.pop().expect("one text in, one result out"))
    }

    /// Scores every label for each text, in input order. In exact mode, with the tree graph our
    /// export writes, texts share ONNX Runtime runs (`opts.runs`): the encoder over length
    /// buckets of their prompts, then every node of the label trie for all of them in one
    /// decoder run (tree_pass.rs); without it (or for a trie that does not fit `opts.runs.max_rows`
    /// rows in a few parts: `fits_tree`), one decoder step per trie depth, several texts at once with the grouped
    /// decoder. A text's scores then differ from `classify`'s alone only by float rounding
    /// (padding changes the order of some sums). Greedy mode batches texts with any export
    /// (one row per text per step); exact mode with a plain Optimum export scores one text per
    /// run.
    pub fn classify_many(
        &mut self,
        texts: &[&str],
        labels: &PreparedLabels,
        opts: &ScoreOptions,
    ) -> Result<Vec<Classification>> {
        if !(opts.temperature > 0.0 && opts.temperature.is_finite()) {
            return Err(Error::InvalidOption(format!("temperature must be positive, got {}", opts.temperature)));
        }
        let mut prompts = Vec::with_capacity(texts.len());
        for text in texts {
            crate::interrupt::check()?;
            prompts.push(self.prompt_ids(text, labels, opts.max_input_tokens)?);
        }
        let outputs = self.score_outputs;
        let dims = self.dims();
        let lens: Vec<usize> = prompts.iter().map(|p| p.ids.len()).collect();
        let max_rows = opts.runs.max_rows;
        let one_pass =
            opts.mode == ScoreMode::Exact && self.sessions.tree.is_some() && fits_tree(&labels.trie, max_rows);
        if !one_pass {
            self.ensure_steps()?;
        }
        let (rows_per_text, limits) = match opts.mode {
            // Every node with children of the trie, in one run.
            ScoreMode::Exact if one_pass => (labels.trie.decoder_rows(), opts.runs),
            ScoreMode::Exact if self.sessions.steps.as_ref().is_some_and(|s| s.batches_texts) => {
                (labels.trie.levels().iter().map(Vec::len).max().unwrap_or(1), opts.runs)
            }
            // Limits no second text fits: Optimum's decoder broadcasts only one text's keys/values.
            ScoreMode::Exact => (1, RunLimits { max_rows: 0, max_tokens: 0 }),
            // One row per text per step: the layout any decoder takes.
            ScoreMode::Greedy => (1, opts.runs),
        };
        let mut results: Vec<Option<Classification>> = vec![None; texts.len()];
        for run in plan_runs(&lens, rows_per_text, limits) {
            let ids: Vec<&[i64]> = run.iter().map(|&i| prompts[i].ids.as_slice()).collect();
            let run_prompts = RunPrompts::new(&ids, self.config.pad_token_id as i64, !self.sessions.memory.on_device);
            let scored: Vec<Classification> = match opts.mode {
                ScoreMode::Exact => {
                    let logprobs = if one_pass {
                        tree_pass::exact(&mut self.sessions, outputs, dims.vocab, &run_prompts, &labels.trie, max_rows)?
                    } else {
                        Run::new(&mut self.sessions, dims, &run_prompts, &labels.trie, max_rows)?.exact()?
                    };
                    logprobs
                        .into_iter()
                        .zip(&run)
                        .map(|(logprobs, &i)| Classification::exact(logprobs, &prompts[i], opts.temperature))
                        .collect()
                }
                ScoreMode::Greedy => Run::new(&mut self.sessions, dims, &run_prompts, &labels.trie, max_rows)?
                    .greedy()?
                    .into_iter()
                    .zip(&run)
                    .map(|((logprobs, leaf), &i)| Classification::greedy(logprobs, leaf, labels, &prompts[i]))
                    .collect(),
            };
            for (&i, c) in run.iter().zip(scored) {
                results[i] = Some(c);
            }
        }
        Ok(results.into_iter().map(|r| r.expect("plan_runs places every text")).collect())
    }
}

impl Model {
    /// Test hook, not part of the API.
    #[doc(hidden)]
    /// Per-label log-probabilities by the plain per-label teacher-forced path (no trie, no
    /// cache). Slow; it exists so tests can check the trie path against it.
    pub fn teacher_forced_logprobs(
        &mut self,
        text: &str,
        labels: &PreparedLabels,
        max_input_tokens: usize,
    ) -> Result<Vec<f64>> {
        self.ensure_decoder()?;
        let prompt = self.prompt_ids(text, labels, max_input_tokens)?;
        let sequences = labels.labels.iter().map(|l| self.tokenizer.label_sequence(l)).collect::<Result<Vec<_>>>()?;
        let (vocab, start) = (self.config.vocab_size, self.config.decoder_start_token_id);
        scorer::teacher_forced_logprobs(&mut self.sessions, vocab, start, &prompt.ids, &sequences)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_earlier_label() {
        assert_eq!(argmax_first(&[-2.0, -1.0, -1.0]), 1);
        assert_eq!(argmax_first(&[-1.0]), 0);
    }

    #[test]
    fn top_is_most_probable_first_with_ties_in_label_order() {
        let c = Classification {
            logprobs: vec![0.0; 5],
            probs: vec![0.2, 0.3, f64::NAN, 0.3, 0.2],
            best: 1,
            input_tokens: 1,
            truncated: false,
        };
        assert_eq!(c.top(3, 0.0), [1, 3, 0]);
        assert_eq!(c.top(9, 0.25), [1, 3]);
        assert!(c.top(0, 0.0).is_empty());
    }

    #[test]
    fn softmax_sums_to_one_and_sharpens_with_low_temperature() {
        let p = softmax(&[-10.0, -11.0, -30.0], 1.0);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let sharp = softmax(&[-10.0, -11.0, -30.0], 0.1);
        assert!(sharp[0] > p[0]);
    }
}
