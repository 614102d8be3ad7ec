//! Free generation, for the model's other tasks (keywords, titles, summaries, sentiment,
//! paraphrases: README, "Generation"): the prompt as it is, then decoder steps that pick
//! each next token (sampling.rs) until EOS or `max_new_tokens`. The `n` outputs of a prompt
//! share its encoder pass and run as rows of the same decoder steps; a row that has ended
//! leaves the steps that follow (its cache row is not gathered again).
use crate::batch::RunPrompts;
use crate::error::{Error, Result};
use crate::interrupt;
use crate::model::Model;
use crate::sampling::{next_token, Rng, Sampling};
use crate::scorer::{Read, Steps};

/// The most outputs one prompt may ask for: each output is a decoder row of every step.
pub const MAX_OUTPUTS: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Outputs per prompt (at least 1, at most `MAX_OUTPUTS` and `max_rows`).
    pub n: usize,
    pub sampling: Sampling,
    /// Tokens generated at most per output (EOS included).
    pub max_new_tokens: usize,
    /// Where sampling starts; None: a new seed each call.
    pub seed: Option<u64>,
    /// Prompt length limit in tokens; the prompt is cut to fit.
    pub max_input_tokens: usize,
    /// Most decoder rows one run may take (`RunLimits::max_rows`): bounds `n`.
    pub max_rows: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            n: 1,
            sampling: Sampling { temperature: 0.0, top_k: 0, top_p: 1.0 },
            max_new_tokens: 64,
            seed: None,
            max_input_tokens: 512,
            max_rows: crate::RunLimits::DEFAULT_MAX_ROWS,
        }
    }
}

/// The highest sampling temperature: above it the softmax is uniform to float precision anyway.
pub const MAX_TEMPERATURE: f64 = 100.0;

impl GenerateOptions {
    /// Tokens the call may generate in all (`n` x `max_new_tokens`): what
    /// zs.max_new_tokens_limit and `--max-new-tokens-limit` bound, as a call's memory (each
    /// output's cache grows by a position per token) and time grow with it.
    pub fn tokens(&self) -> usize {
        self.n.saturating_mul(self.max_new_tokens)
    }

    /// The most outputs a call may ask for: each is a decoder row of the same runs, so no more
    /// than `max_rows` either.
    pub fn most_outputs(&self) -> usize {
        if self.max_rows > 0 {
            MAX_OUTPUTS.min(self.max_rows)
        } else {
            MAX_OUTPUTS
        }
    }

    /// Refuses options no call may have (`Error::InvalidOption`, naming the option); the
    /// callers check `tokens()` against their own limit.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidOption(m));
        let s = &self.sampling;
        let most = self.most_outputs();
        if self.n == 0 || self.n > most {
            return bad(format!(
                "n must be between 1 and {most} (at most {MAX_OUTPUTS}, and zs.batch_rows), got {}",
                self.n
            ));
        }
        if !(0.0..=MAX_TEMPERATURE).contains(&s.temperature) {
            return bad(format!("temperature must be 0 (greedy) to {MAX_TEMPERATURE}, got {}", s.temperature));
        }
        if !(s.top_p > 0.0 && s.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {}", s.top_p));
        }
        if self.max_new_tokens == 0 {
            return bad("max_new_tokens must be at least 1".into());
        }
        Ok(())
    }
}

/// What one prompt gave: `n` outputs in row order.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Each output's text, special tokens left out.
    pub texts: Vec<String>,
    /// Each output's token ids, EOS included where it was reached.
    pub tokens: Vec<Vec<u32>>,
    pub input_tokens: usize,
    pub truncated: bool,
}

impl Model {
    /// `n` outputs for `prompt` (see the module comment).
    pub fn generate(&mut self, prompt: &str, opts: &GenerateOptions) -> Result<Generation> {
        opts.validate()?;
        let prompt = self.tokenizer.text_ids(prompt, opts.max_input_tokens)?;
        let mut rng = opts.seed.map_or_else(Rng::unseeded, Rng::new);
        let run_prompts = RunPrompts::new(&[&prompt.ids], self.config.pad_token_id as i64, false);
        let (dims, eos) = (self.dims(), self.config.eos_token_id);
        let start = self.config.decoder_start_token_id as i64;
        self.ensure_steps()?;
        let mut steps = Steps::new(&mut self.sessions, dims, &run_prompts)?;
        let vocab = dims.vocab;
        // Every step shrinks the arenas: the step that ends the call is known only after it ran.
        let root = steps.start(start, Read::Logits, true)?;
        // Greedy outputs are all the same: one row computes them.
        let rows = if opts.sampling.is_greedy() { 1 } else { opts.n };
        let mut tokens: Vec<Vec<u32>> =
            (0..rows).map(|_| vec![next_token(&root.scores.logits[..vocab], &opts.sampling, &mut rng)]).collect();
        // Rows of the last step's cache: the root step had one, for every output.
        let mut cache_row = vec![0usize; rows];
        let mut self_kv = root.self_kv;
        let ended = |t: &[u32]| t.len() >= opts.max_new_tokens || t.last() == Some(&eos);
        let decoded = (|| -> Result<()> {
            loop {
                let live: Vec<usize> = (0..rows).filter(|&i| !ended(&tokens[i])).collect();
                if live.is_empty() {
                    return Ok(());
                }
                interrupt::check()?;
                let fed: Vec<i64> =
                    live.iter().map(|&i| *tokens[i].last().expect("one token at least") as i64).collect();
                let parents: Vec<usize> = live.iter().map(|&i| cache_row[i]).collect();
                let (scores, kv) = steps.expand(&fed, &parents, &self_kv, &root.cross_kv, Read::Logits, true)?;
                for (row, &i) in live.iter().enumerate() {
                    // A top-p draw over a flat distribution sorts much of the vocabulary: a cancel
                    // is answered between rows, not only between steps.
                    interrupt::check()?;
                    tokens[i].push(next_token(
                        &scores.logits[row * vocab..(row + 1) * vocab],
                        &opts.sampling,
                        &mut rng,
                    ));
                    cache_row[i] = row;
                }
                self_kv = kv;
            }
        })();
        // The cache's memory goes back however decoding ended, a cancel included (two small
        // runs, which the cancel that ended decoding must not stop too).
        let released = interrupt::ignoring(|| steps.release(std::mem::take(&mut self_kv), &root.cross_kv, eos as i64));
        decoded?;
        released?;
        tokens.resize(opts.n, tokens[0].clone());
        let texts = tokens.iter().map(|t| self.tokenizer.decode(t)).collect::<Result<Vec<_>>>()?;
        Ok(Generation { texts, tokens, input_tokens: prompt.ids.len(), truncated: prompt.truncated })
    }
}
