//! `zeroshot classify`: one line per text, `label<TAB>score`, or JSON with every score.
use std::io::BufRead;

use clap::Args;
use serde_json::json;

use crate::progress::{Progress, ProgressArgs};
use crate::{split_labels, ModelArgs};

#[derive(Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    progress: ProgressArgs,
    /// Comma-separated labels, e.g. 物流问题,商品质量,售后体验
    #[arg(long)]
    labels: String,
    /// Print one JSON object per text with every label's probability and log-probability.
    #[arg(long)]
    json: bool,
    /// Texts to classify; with none, one text per line from standard input.
    texts: Vec<String>,
}

pub fn run(args: ClassifyArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut model = args.model.load(args.progress.quiet)?;
    let opts = args.model.score_options()?;
    let labels = model.labels(&split_labels(&args.labels), opts.max_input_tokens)?;
    // Progress for texts from standard input only: a few texts on the command line are done
    // before a bar would be worth drawing.
    let from_stdin = args.texts.is_empty();
    let texts: Vec<String> =
        if from_stdin { std::io::stdin().lock().lines().collect::<Result<_, _>>()? } else { args.texts };
    let shown = ProgressArgs { quiet: args.progress.quiet || !from_stdin, ..args.progress };
    let mut progress = Progress::start(&shown, "classify", texts.len() as u64);
    for text in &texts {
        let c = model.classify(text, &labels, &opts)?;
        let best = &labels.labels[c.best];
        if args.json {
            // Greedy mode leaves labels off its path unscored: they are not listed.
            let scores: serde_json::Map<String, serde_json::Value> =
                c.scored(&labels.labels).map(|(l, p, _)| (l.to_string(), json!(p))).collect();
            let logprobs: serde_json::Map<String, serde_json::Value> =
                c.scored(&labels.labels).map(|(l, _, lp)| (l.to_string(), json!(lp))).collect();
            let line = json!({"text": text, "label": best, "score": c.probs[c.best], "scores": scores,
                              "logprobs": logprobs, "input_tokens": c.input_tokens, "truncated": c.truncated});
            progress.println(&line.to_string());
        } else {
            progress.println(&format!("{best}\t{:.6}", c.probs[c.best]));
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(())
}
