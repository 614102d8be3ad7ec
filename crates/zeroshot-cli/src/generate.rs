//! `zeroshot generate`: the model's free outputs for a prompt (keywords, titles, summaries,
//! paraphrases: README, "Generation"), with the release's knobs; one line per output, or JSON
//! with the token ids and the call's time. What zs_generate and `POST /v1/generate` give for the same options.
use std::io::BufRead;

use clap::Args;
use serde_json::json;
use zeroshot::{GenerateOptions, Sampling};

use crate::progress::{Progress, ProgressArgs};
use crate::ModelArgs;

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    progress: ProgressArgs,
    /// Outputs per prompt (1 to 64).
    #[arg(long, default_value_t = 1)]
    n: usize,
    /// 0: greedy decoding; above 0: sampling at this temperature (the release uses about 0.8-1.0).
    #[arg(long, default_value_t = 0.0)]
    sample_temperature: f64,
    /// Sample from the k most probable tokens only (0: all; the release uses 50).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample from the most probable tokens whose probabilities reach p (1: all; the release uses 0.95).
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    /// Tokens generated at most per output.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Seed of the sampling: the same seed, prompt and options give the same outputs.
    #[arg(long)]
    seed: Option<u64>,
    /// One JSON object per prompt with its outputs and their token ids.
    #[arg(long)]
    json: bool,
    /// Prompts, e.g. "抽取关键词：\n…"; with none, one prompt per line from standard input.
    prompts: Vec<String>,
}

pub fn run(args: GenerateArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut model = args.model.load(args.progress.quiet)?;
    let score = args.model.score_options()?;
    let opts = GenerateOptions {
        n: args.n,
        sampling: Sampling { temperature: args.sample_temperature, top_k: args.top_k, top_p: args.top_p },
        max_new_tokens: args.max_new_tokens,
        seed: args.seed,
        max_input_tokens: score.max_input_tokens,
        max_rows: score.runs.max_rows,
    };
    let from_stdin = args.prompts.is_empty();
    let prompts: Vec<String> =
        if from_stdin { std::io::stdin().lock().lines().collect::<Result<_, _>>()? } else { args.prompts };
    let shown = ProgressArgs { quiet: args.progress.quiet || !from_stdin, ..args.progress };
    let mut progress = Progress::start(&shown, "generate", prompts.len() as u64);
    for prompt in &prompts {
        let started = std::time::Instant::now();
        let g = model.generate(prompt, &opts)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if args.json {
            // The call's time, without the model's load (bench/generate.py reads it).
            let line = json!({"prompt": prompt, "outputs": g.texts, "tokens": g.tokens,
                              "input_tokens": g.input_tokens, "truncated": g.truncated, "ms": ms});
            progress.println(&line.to_string());
        } else {
            for text in &g.texts {
                progress.println(text);
            }
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(())
}
