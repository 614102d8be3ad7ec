//! zs_generate: free generation for the model's other tasks (README, "Generation").
//!
//! VOLATILE: with a temperature above 0 and no seed, each call draws new outputs, so the
//! planner must call it once per row it is written for and never fold or reuse a call. (A
//! greedy or seeded call repeats itself, but one function has one volatility.) PARALLEL
//! RESTRICTED, as the classification functions: a parallel worker would load a model of its own.
//! Not STRICT, so that a NULL seed means "a new seed"; a NULL prompt gives no rows.
use pgrx::prelude::*;
use zeroshot::{GenerateOptions, Generation, Sampling, ScoreOptions};

use crate::api::classify::{options, text_utf8};
use crate::backend::with_model;
use crate::error::{non_negative, OrReport, ZsError};
use crate::gucs;
use crate::text::{DbText, ServerText};

/// An argument as the engine takes it: not NULL, not negative.
fn count(value: Option<i32>, name: &'static str) -> Result<usize, ZsError> {
    non_negative(value.ok_or(ZsError::NullArgument { name })?, name)
}

/// The generation options from the arguments, within the session's settings (`score`).
fn generation_options(
    score: &ScoreOptions,
    n: Option<i32>,
    temperature: Option<f64>,
    top_k: Option<i32>,
    top_p: Option<f64>,
    max_new_tokens: Option<i32>,
    seed: Option<i64>,
) -> Result<GenerateOptions, ZsError> {
    let max_new_tokens = count(max_new_tokens, "max_new_tokens")?;
    let opts = GenerateOptions {
        n: count(n, "n")?,
        sampling: Sampling {
            temperature: temperature.ok_or(ZsError::NullArgument { name: "temperature" })?,
            top_k: count(top_k, "top_k")?,
            top_p: top_p.ok_or(ZsError::NullArgument { name: "top_p" })?,
        },
        max_new_tokens,
        // A bigint's bits: every seed, negative ones too, is its own.
        seed: seed.map(|s| s as u64),
        max_input_tokens: score.max_input_tokens,
        max_rows: score.runs.max_rows,
    };
    // Checked here, before anything is sent in server mode: JSON has no NaN to send.
    opts.validate()?;
    let limit = gucs::max_new_tokens_limit();
    if opts.tokens() > limit {
        return Err(ZsError::SettingOverLimit {
            setting: "n x max_new_tokens",
            value: opts.tokens() as i64,
            limit_setting: "zs.max_new_tokens_limit",
            limit: limit as i64,
        });
    }
    Ok(opts)
}

fn generate(prompt: &str, opts: &GenerateOptions) -> Result<Generation, ZsError> {
    if let Some(client) = crate::server_mode::client() {
        return crate::server_mode::generate(&client?, prompt, opts);
    }
    with_model(|model| Ok(model.generate(prompt, opts)?))
}

/// `n` outputs of the model for `prompt` (the prompt as it is: no template), greedy at
/// temperature 0, sampled with top-k and top-p above it; reproducible with a seed.
#[pg_extern(volatile, parallel_restricted)]
fn zs_generate<'a>(
    prompt: Option<DbText<'a>>,
    n: default!(Option<i32>, 1),
    temperature: default!(Option<f64>, 0),
    top_k: default!(Option<i32>, 0),
    top_p: default!(Option<f64>, 1),
    max_new_tokens: default!(Option<i32>, 64),
    seed: default!(Option<i64>, "NULL"),
) -> SetOfIterator<'a, ServerText> {
    let score = options().or_report();
    let opts = generation_options(&score, n, temperature, top_k, top_p, max_new_tokens, seed).or_report();
    let Some(prompt) = prompt else { return SetOfIterator::new(Vec::new()) };
    let prompt = text_utf8(prompt, &score).or_report();
    let generation = generate(&prompt, &opts).or_report();
    SetOfIterator::new(generation.texts.into_iter().map(|t| ServerText::new(&t)).collect::<Vec<_>>())
}
