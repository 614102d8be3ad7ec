//! zs_classify, zs_classify_scores and zs_classify_batch.
//!
//! STABLE, not IMMUTABLE: the answer depends on settings (zs.model_dir, zs.temperature,
//! zs.max_input_tokens) that can change between statements. PARALLEL SAFE: each parallel
//! worker loads its own copy of the model, which costs memory but no correctness.
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::{json, Map, Value};
use zeroshot::{Classification, RunLimits, ScoreOptions};

use crate::backend::{count_calls, with_model};
use crate::error::{OrReport, ZsError};
use crate::gucs;

/// The labels of a SQL array; a NULL element is an error that names its position.
fn label_vec(labels: &Array<'_, &str>) -> Result<Vec<String>, ZsError> {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| l.map(str::to_string).ok_or(ZsError::NullLabel { position: i + 1 }))
        .collect()
}

fn options() -> ScoreOptions {
    ScoreOptions {
        max_input_tokens: gucs::max_input_tokens(),
        temperature: gucs::temperature(),
        mode: gucs::score_mode(),
        runs: RunLimits { max_rows: gucs::batch_rows(), ..RunLimits::default() },
    }
}

/// Scores each text (None for a NULL one), zs.batch_size texts at a time: the texts of a
/// chunk share ONNX Runtime runs (exact mode), and cancellation is checked between chunks
/// because an ONNX Runtime run itself cannot be interrupted.
fn classify_all(
    bodies: &[Option<&str>],
    labels: &[String],
) -> Result<(Vec<String>, Vec<Option<Classification>>), ZsError> {
    let opts = options();
    let chunk = gucs::batch_size();
    with_model(|model| {
        let prepared = model.labels(labels)?;
        let mut out = Vec::with_capacity(bodies.len());
        for part in bodies.chunks(chunk) {
            pgrx::check_for_interrupts!();
            let texts: Vec<&str> = part.iter().flatten().copied().collect();
            let mut results = model.classify_many(&texts, &prepared, &opts)?.into_iter();
            out.extend(part.iter().map(|body| body.and_then(|_| results.next())));
            count_calls(texts.len() as u64);
        }
        Ok((prepared.labels.clone(), out))
    })
}

/// Labels greedy mode did not score are left out of `scores`.
fn scores_json(labels: &[String], c: &Classification) -> Value {
    let scores: Map<String, Value> = c.scored(labels).map(|(l, p, _)| (l.to_string(), json!(p))).collect();
    json!({ "label": labels[c.best], "score": c.probs[c.best], "scores": scores })
}

fn classify_one(body: &str, labels: &Array<'_, &str>) -> (Vec<String>, Classification) {
    let labels = label_vec(labels).or_report();
    let (labels, mut results) = classify_all(&[Some(body)], &labels).or_report();
    (labels, results.pop().flatten().expect("one text in, one result out"))
}

/// The most probable of `labels` for `body`; always one of them.
#[pg_extern(stable, strict, parallel_safe)]
fn zs_classify(body: &str, labels: Array<'_, &str>) -> String {
    let (labels, c) = classify_one(body, &labels);
    labels[c.best].clone()
}

/// `{"label": best, "score": its probability, "scores": {label: probability, …}}`.
#[pg_extern(stable, strict, parallel_safe)]
fn zs_classify_scores(body: &str, labels: Array<'_, &str>) -> JsonB {
    let (labels, c) = classify_one(body, &labels);
    JsonB(scores_json(&labels, &c))
}

/// One row per input text, in input order (`ord` is 1-based); a NULL text gives a row of NULLs.
#[pg_extern(stable, strict, parallel_safe)]
fn zs_classify_batch(
    bodies: Array<'_, &str>,
    labels: Array<'_, &str>,
) -> TableIterator<
    'static,
    (name!(ord, i32), name!(label, Option<String>), name!(score, Option<f32>), name!(scores, Option<JsonB>)),
> {
    let labels = label_vec(&labels).or_report();
    let texts: Vec<Option<&str>> = bodies.iter().collect();
    let (labels, results) = classify_all(&texts, &labels).or_report();
    let rows: Vec<_> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Some(c) => (
                i as i32 + 1,
                Some(labels[c.best].clone()),
                Some(c.probs[c.best] as f32),
                Some(JsonB(scores_json(&labels, &c))),
            ),
            None => (i as i32 + 1, None, None, None),
        })
        .collect();
    TableIterator::new(rows)
}
