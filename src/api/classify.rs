//! zs_classify, zs_classify_scores and zs_classify_batch.
//!
//! STABLE, not IMMUTABLE: the answer depends on settings (zs.model_dir, zs.temperature,
//! zs.max_input_tokens) that can change between statements. PARALLEL SAFE: each parallel
//! worker loads its own copy of the model, which costs memory but no correctness.
//!
//! Texts and labels arrive as `DbText` (any database encoding) and are converted to UTF-8
//! here; a text is read only as far as its prompt can use (`zeroshot::tokenize::text_prefix`).
use std::collections::VecDeque;

use pgrx::prelude::*;
use serde_json::{json, Map, Value};
use zeroshot::tokenize::TEXT_CHARS_PER_TOKEN;
use zeroshot::{Classification, RunLimits, ScoreOptions};

use crate::backend::{count_texts, with_model};
use crate::error::{OrReport, ZsError};
use crate::gucs;
use crate::text::{DbText, ServerJsonb, ServerText};

/// How many array elements are converted between two checks for a cancel.
const CONVERT_CHUNK: usize = 256;

/// The labels of a SQL array, as UTF-8; a NULL element is an error that names its position.
pub(crate) fn label_vec<'a>(labels: impl ExactSizeIterator<Item = Option<DbText<'a>>>) -> Result<Vec<String>, ZsError> {
    let mut out = Vec::with_capacity(labels.len());
    for (i, label) in labels.enumerate() {
        if i % CONVERT_CHUNK == 0 {
            pgrx::check_for_interrupts!();
        }
        out.push(label.ok_or(ZsError::NullLabel { position: i + 1 })?.to_utf8_all()?);
    }
    Ok(out)
}

/// The scoring options from the settings, read once per call (before any ONNX Runtime work).
pub(crate) fn options() -> Result<ScoreOptions, ZsError> {
    Ok(ScoreOptions {
        max_input_tokens: gucs::max_input_tokens()?,
        temperature: gucs::temperature(),
        mode: gucs::score_mode(),
        runs: RunLimits { max_rows: gucs::batch_rows(), ..RunLimits::default() },
    })
}

/// A text as UTF-8, cut to what a prompt of `opts.max_input_tokens` can read.
pub(crate) fn text_utf8(text: DbText<'_>, opts: &ScoreOptions) -> Result<String, ZsError> {
    text.to_utf8(Some(opts.max_input_tokens.saturating_mul(TEXT_CHARS_PER_TOKEN)))
}

/// Scores `texts` (each already UTF-8) against `labels`; returns the labels as the engine
/// validated them and one classification per text.
pub(crate) fn classify_texts(
    texts: &[&str],
    labels: &[String],
    opts: &ScoreOptions,
) -> Result<Vec<Classification>, ZsError> {
    with_model(|model| {
        let prepared = model.labels(labels, opts.max_input_tokens)?;
        let results = model.classify_many(texts, &prepared, opts)?;
        count_texts(texts.len() as u64);
        Ok(results)
    })
}

/// `{"label": best, "score": its probability, "scores": {label: probability, …}}`; labels
/// greedy mode did not score are left out of `scores`.
pub(crate) fn scores_json(labels: &[String], c: &Classification) -> Value {
    let scores: Map<String, Value> = c.scored(labels).map(|(l, p, _)| (l.to_string(), json!(p))).collect();
    json!({ "label": labels[c.best], "score": c.probs[c.best], "scores": scores })
}

fn classify_one(body: DbText<'_>, labels: Array<'_, DbText<'_>>) -> (Vec<String>, Classification) {
    let opts = options().or_report();
    let labels = label_vec(labels.iter()).or_report();
    let body = text_utf8(body, &opts).or_report();
    let mut results = classify_texts(&[&body], &labels, &opts).or_report();
    (labels, results.pop().expect("one text in, one result out"))
}

/// The most probable of `labels` for `body`; always one of them.
#[pg_extern(stable, strict, parallel_safe)]
fn zs_classify(body: DbText<'_>, labels: Array<'_, DbText<'_>>) -> ServerText {
    let (labels, c) = classify_one(body, labels);
    ServerText::new(&labels[c.best])
}

/// `{"label": best, "score": its probability, "scores": {label: probability, …}}`.
#[pg_extern(stable, strict, parallel_safe)]
fn zs_classify_scores(body: DbText<'_>, labels: Array<'_, DbText<'_>>) -> ServerJsonb {
    let (labels, c) = classify_one(body, labels);
    ServerJsonb(scores_json(&labels, &c))
}

type BatchRow = (i32, Option<ServerText>, Option<f32>, Option<ServerJsonb>);

/// zs_classify_batch's rows, scored zs.batch_size texts at a time as Postgres asks for them:
/// memory holds one chunk's results, never the whole array's, and a cancel is seen between
/// chunks (and inside them, by the engine).
struct BatchRows {
    texts: Vec<Option<String>>,
    labels: Vec<String>,
    opts: ScoreOptions,
    chunk: usize,
    next: usize,
    ready: VecDeque<BatchRow>,
}

impl BatchRows {
    fn score_next_chunk(&mut self) {
        let end = (self.next + self.chunk).min(self.texts.len());
        let part = &self.texts[self.next..end];
        let texts: Vec<&str> = part.iter().flatten().map(String::as_str).collect();
        let mut results = classify_texts(&texts, &self.labels, &self.opts).or_report().into_iter();
        for (i, text) in part.iter().enumerate() {
            let ord = (self.next + i + 1) as i32;
            let row = match text.as_ref().and_then(|_| results.next()) {
                Some(c) => (
                    ord,
                    Some(ServerText::new(&self.labels[c.best])),
                    Some(c.probs[c.best] as f32),
                    Some(ServerJsonb(scores_json(&self.labels, &c))),
                ),
                None => (ord, None, None, None),
            };
            self.ready.push_back(row);
        }
        self.next = end;
    }
}

impl Iterator for BatchRows {
    type Item = BatchRow;

    fn next(&mut self) -> Option<BatchRow> {
        if self.ready.is_empty() && self.next < self.texts.len() {
            pgrx::check_for_interrupts!();
            self.score_next_chunk();
        }
        self.ready.pop_front()
    }
}

/// One row per input text, in input order (`ord` is 1-based); a NULL text gives a row of NULLs.
// The named columns must be spelled out in the signature for pgrx to generate the SQL.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, strict, parallel_safe)]
fn zs_classify_batch(
    bodies: Array<'_, DbText<'_>>,
    labels: Array<'_, DbText<'_>>,
) -> TableIterator<
    'static,
    (name!(ord, i32), name!(label, Option<ServerText>), name!(score, Option<f32>), name!(scores, Option<ServerJsonb>)),
> {
    let opts = options().or_report();
    let labels = label_vec(labels.iter()).or_report();
    let mut texts = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.iter().enumerate() {
        if i % CONVERT_CHUNK == 0 {
            pgrx::check_for_interrupts!();
        }
        texts.push(body.map(|b| text_utf8(b, &opts)).transpose().or_report());
    }
    // Labels are checked now, so that a bad label set fails even for an array of NULLs.
    with_model(|model| model.labels(&labels, opts.max_input_tokens).map(|_| ()).map_err(ZsError::from)).or_report();
    let rows = BatchRows { texts, labels, chunk: gucs::batch_size(), opts, next: 0, ready: VecDeque::new() };
    TableIterator::new(rows)
}
