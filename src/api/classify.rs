//! zs_classify, zs_classify_scores and zs_classify_batch.
//!
//! STABLE, not IMMUTABLE: the answer depends on settings (zs.model_dir, zs.temperature,
//! zs.max_input_tokens) that can change between statements. PARALLEL RESTRICTED: they run in
//! the leader only. A parallel worker would load a copy of the model of its own (3 GB at
//! base size, 9 copies from one SELECT a plain role can plan), and gain nothing: one model's
//! runs already use every core (zs.threads).
//!
//! Texts and labels arrive as `DbText` (any database encoding) and are converted to UTF-8
//! here; a text is read only as far as its prompt can use (`zeroshot::tokenize::text_prefix`).
use std::collections::VecDeque;

use pgrx::prelude::*;
use pgrx::PgMemoryContexts;
use serde_json::{json, Map, Value};
use zeroshot::tokenize::TEXT_CHARS_PER_TOKEN;
use zeroshot::{Classification, LabelForms, RunLimits, ScoreOptions};
use zeroshot_client::wire::{aliases_from_json, forms_size};

use crate::backend::{count_texts, with_model};
use crate::error::{non_negative, OrReport, ZsError};
use crate::gucs;
use crate::text::{DbJsonb, DbText, ServerJsonb, ServerText};

/// How many array elements are converted between two checks for a cancel.
const CONVERT_CHUNK: usize = 256;

/// The labels of a SQL array, as UTF-8; a NULL element is an error that names its position.
/// The array is measured before anything is allocated for it: more labels than prompt tokens,
/// or more bytes than a prompt can read, is refused at once (54000), whatever its size.
pub(crate) fn label_vec<'a, 'b>(
    labels: &Array<'a, DbText<'b>>,
    max_input_tokens: usize,
) -> Result<Vec<String>, ZsError> {
    let mut bytes = 0usize;
    for (i, label) in labels.iter().enumerate() {
        if i % CONVERT_CHUNK == 0 {
            pgrx::check_for_interrupts!();
        }
        bytes = bytes.saturating_add(label.map_or(0, |l| l.len()));
    }
    check_label_bounds(labels.len(), bytes, max_input_tokens)?;
    let mut out = Vec::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        if i % CONVERT_CHUNK == 0 {
            pgrx::check_for_interrupts!();
        }
        out.push(label.ok_or(ZsError::NullLabel { position: i + 1 })?.to_utf8_all()?);
    }
    Ok(out)
}

/// The most bytes of labels a prompt of `max_input_tokens` can read.
fn label_bytes_bound(max_input_tokens: usize) -> usize {
    max_input_tokens.saturating_mul(TEXT_CHARS_PER_TOKEN).saturating_mul(4)
}

/// More labels (or forms) than prompt tokens, or more bytes than a prompt can read, cannot fit.
fn check_label_bounds(labels: usize, bytes: usize, max_input_tokens: usize) -> Result<(), ZsError> {
    if labels > max_input_tokens || bytes > label_bytes_bound(max_input_tokens) {
        return Err(ZsError::LabelArrayTooLarge { labels, bytes, max: max_input_tokens });
    }
    Ok(())
}

/// The labels and their aliases (`{"label": ["alias", …], …}`, or NULL for none): every form
/// counts against the same bounds as a label array, and a malformed object is 22023.
pub(crate) fn label_forms(
    labels: Vec<String>,
    aliases: Option<DbJsonb>,
    max_input_tokens: usize,
) -> Result<LabelForms, ZsError> {
    let bad = |m: String| ZsError::Engine(zeroshot::Error::InvalidOption(format!("aliases: {m}")));
    let pairs = match aliases {
        None => Vec::new(),
        // Stored jsonb takes at most a few times its strings' bytes: a larger object cannot
        // hold forms that fit in a prompt, and is refused before it is read.
        Some(json) => {
            let max = label_bytes_bound(max_input_tokens).saturating_mul(4).saturating_add(1 << 16);
            aliases_from_json(&json.to_value(max)?.map_err(bad)?).map_err(bad)?
        }
    };
    let (forms, bytes) = forms_size(&labels, &pairs);
    check_label_bounds(forms, bytes, max_input_tokens)?;
    Ok(LabelForms::new(labels, pairs)?)
}

/// The scoring options from the settings, read once per call (before any ONNX Runtime work).
pub(crate) fn options() -> Result<ScoreOptions, ZsError> {
    let (max_input_tokens, limit) = gucs::max_input_tokens();
    if max_input_tokens > limit {
        return Err(ZsError::SettingOverLimit {
            setting: "zs.max_input_tokens",
            value: max_input_tokens as i64,
            limit_setting: "zs.max_input_tokens_limit",
            limit: limit as i64,
        });
    }
    Ok(ScoreOptions {
        max_input_tokens,
        temperature: gucs::temperature(),
        mode: gucs::score_mode(),
        runs: RunLimits { max_rows: gucs::batch_rows(), ..RunLimits::default() },
    })
}

/// A text as UTF-8, cut to what a prompt of `opts.max_input_tokens` can read.
pub(crate) fn text_utf8(text: DbText<'_>, opts: &ScoreOptions) -> Result<String, ZsError> {
    text.to_utf8(Some(opts.max_input_tokens.saturating_mul(TEXT_CHARS_PER_TOKEN)))
}

/// Scores `texts` (each already UTF-8) against the labels of `forms`, one classification per
/// text over the canonical labels. In server mode the server scores the forms as labels and
/// they are merged here, as the engine merges them in-process.
pub(crate) fn classify_texts(
    texts: &[&str],
    forms: &LabelForms,
    opts: &ScoreOptions,
) -> Result<Vec<Classification>, ZsError> {
    if let Some(client) = crate::server_mode::client() {
        let by_form = crate::server_mode::classify(&client?, texts, &forms.forms, opts)?;
        count_texts(texts.len() as u64);
        return Ok(forms.merge_all(by_form, opts));
    }
    with_model(|model| {
        let results = model.classify_forms(texts, forms, opts)?;
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

fn classify_one(
    body: DbText<'_>,
    labels: Array<'_, DbText<'_>>,
    aliases: Option<DbJsonb>,
) -> (Vec<String>, Classification) {
    let opts = options().or_report();
    let labels = label_vec(&labels, opts.max_input_tokens).or_report();
    let forms = label_forms(labels, aliases, opts.max_input_tokens).or_report();
    let body = text_utf8(body, &opts).or_report();
    let mut results = classify_texts(&[&body], &forms, &opts).or_report();
    (forms.labels, results.pop().expect("one text in, one result out"))
}

/// The most probable of `labels` for `body`; always one of them.
#[pg_extern(stable, strict, parallel_restricted)]
fn zs_classify(body: DbText<'_>, labels: Array<'_, DbText<'_>>) -> ServerText {
    let (labels, c) = classify_one(body, labels, None);
    ServerText::new(&labels[c.best])
}

/// `zs_classify` with label aliases. An overload, not a new default argument: views and
/// triggers that call the two-argument function keep depending on it across the update.
/// Not STRICT: NULL aliases mean none (a NULL text or label array is still a NULL answer).
#[pg_extern(stable, parallel_restricted, name = "zs_classify")]
fn zs_classify_aliases(
    body: Option<DbText<'_>>,
    labels: Option<Array<'_, DbText<'_>>>,
    aliases: Option<DbJsonb>,
) -> Option<ServerText> {
    let (labels, c) = classify_one(body?, labels?, aliases);
    Some(ServerText::new(&labels[c.best]))
}

/// `{"label": best, "score": its probability, "scores": {label: probability, …}}`.
#[pg_extern(stable, strict, parallel_restricted)]
fn zs_classify_scores(body: DbText<'_>, labels: Array<'_, DbText<'_>>) -> ServerJsonb {
    let (labels, c) = classify_one(body, labels, None);
    ServerJsonb(scores_json(&labels, &c))
}

/// `zs_classify_scores` with label aliases (see `zs_classify_aliases`).
#[pg_extern(stable, parallel_restricted, name = "zs_classify_scores")]
fn zs_classify_scores_aliases(
    body: Option<DbText<'_>>,
    labels: Option<Array<'_, DbText<'_>>>,
    aliases: Option<DbJsonb>,
) -> Option<ServerJsonb> {
    let (labels, c) = classify_one(body?, labels?, aliases);
    Some(ServerJsonb(scores_json(&labels, &c)))
}

/// The `k` most probable labels with a score of at least `min_score`, most probable first
/// (ties in the order of `labels`, as zs_classify breaks them). Greedy mode scores only the
/// labels on its path, so only those can be listed.
// The named columns must be spelled out in the signature for pgrx to generate the SQL.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_restricted)]
fn zs_classify_top<'a>(
    body: Option<DbText<'a>>,
    labels: Option<Array<'a, DbText<'a>>>,
    k: default!(Option<i32>, 3),
    min_score: default!(Option<f32>, 0),
    aliases: default!(Option<DbJsonb>, "NULL"),
) -> TableIterator<'a, (name!(rank, i32), name!(label, ServerText), name!(score, f32))> {
    let (Some(body), Some(labels), Some(k), Some(min_score)) = (body, labels, k, min_score) else {
        return TableIterator::new(Vec::new());
    };
    let k = non_negative(k, "k").or_report();
    if min_score.is_nan() {
        ZsError::Engine(zeroshot::Error::InvalidOption("min_score is NaN".into())).report();
    }
    let (labels, c) = classify_one(body, labels, aliases);
    let rows: Vec<_> = c
        .top(k, min_score as f64)
        .into_iter()
        .enumerate()
        .map(|(rank, l)| (rank as i32 + 1, ServerText::new(&labels[l]), c.probs[l] as f32))
        .collect();
    TableIterator::new(rows)
}

type BatchRow = (i32, Option<ServerText>, Option<f32>, Option<ServerJsonb>);

/// zs_classify_batch's rows, scored zs.batch_size texts at a time as Postgres asks for them:
/// texts are converted a chunk at a time from the array (which lives in the function's
/// multi-call memory context), and a chunk's results are held as scores, each row's JSON made
/// when it is returned. A cancel is seen between chunks (and inside them, by the engine).
/// (In FROM, Postgres still fetches every row into a tuplestore; in the select list, or with a
/// cursor, rows are made as they are read.)
struct BatchRows<'a> {
    texts: pgrx::datum::ArrayIterator<'a, DbText<'a>>,
    forms: LabelForms,
    opts: ScoreOptions,
    chunk: usize,
    ord: i32,
    ready: VecDeque<(i32, Option<Classification>)>,
}

impl BatchRows<'_> {
    fn score_next_chunk(&mut self) {
        let part: Vec<Option<DbText<'_>>> = self.texts.by_ref().take(self.chunk).collect();
        let converted: Vec<Option<String>> = part
            .into_iter()
            .map(|t| t.map(|t| text_utf8(t, &self.opts)).transpose())
            .collect::<Result<_, _>>()
            .or_report();
        let texts: Vec<&str> = converted.iter().flatten().map(String::as_str).collect();
        // A chunk of NULLs scores nothing (the labels were checked before the first chunk): in
        // server mode it would be a request, and a wait for a batch, per chunk.
        let scored =
            if texts.is_empty() { Vec::new() } else { classify_texts(&texts, &self.forms, &self.opts).or_report() };
        let mut results = scored.into_iter();
        for text in &converted {
            self.ord += 1;
            self.ready.push_back((self.ord, text.as_ref().and_then(|_| results.next())));
        }
    }
}

impl Iterator for BatchRows<'_> {
    type Item = BatchRow;

    fn next(&mut self) -> Option<BatchRow> {
        if self.ready.is_empty() {
            pgrx::check_for_interrupts!();
            self.score_next_chunk();
        }
        let (ord, result) = self.ready.pop_front()?;
        Some(match result {
            Some(c) => (
                ord,
                Some(ServerText::new(&self.forms.labels[c.best])),
                Some(c.probs[c.best] as f32),
                Some(ServerJsonb(scores_json(&self.forms.labels, &c))),
            ),
            None => (ord, None, None, None),
        })
    }
}

type BatchTable<'a> = TableIterator<
    'a,
    (name!(ord, i32), name!(label, Option<ServerText>), name!(score, Option<f32>), name!(scores, Option<ServerJsonb>)),
>;

fn batch<'a>(bodies: Array<'a, DbText<'a>>, labels: Array<'a, DbText<'a>>, aliases: Option<DbJsonb>) -> BatchTable<'a> {
    let opts = options().or_report();
    let labels = label_vec(&labels, opts.max_input_tokens).or_report();
    let forms = label_forms(labels, aliases, opts.max_input_tokens).or_report();
    // Labels are checked now, so that a bad label set fails even for an array of NULLs: by the
    // model of this backend, or by the server (a request with no text) in server mode.
    classify_texts(&[], &forms, &opts).or_report();
    // The array is kept in the current memory context, which for a set-returning function's
    // first call is its multi-call context: it lives until the last row (or an error) and is
    // dropped with that context, so the iterator can read it chunk by chunk.
    // SAFETY: the pointer is valid until the multi-call context is deleted, after the last
    // call of the iterator that borrows it.
    let bodies: &'a Array<'a, DbText<'a>> =
        unsafe { &*PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(bodies) };
    let rows =
        BatchRows { texts: bodies.iter(), forms, chunk: gucs::batch_size(), opts, ord: 0, ready: VecDeque::new() };
    TableIterator::new(rows)
}

/// One row per input text, in input order (`ord` is 1-based); a NULL text gives a row of NULLs.
// The named columns must be spelled out in the signature for pgrx to generate the SQL.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, strict, parallel_restricted)]
fn zs_classify_batch<'a>(
    bodies: Array<'a, DbText<'a>>,
    labels: Array<'a, DbText<'a>>,
) -> TableIterator<
    'a,
    (name!(ord, i32), name!(label, Option<ServerText>), name!(score, Option<f32>), name!(scores, Option<ServerJsonb>)),
> {
    batch(bodies, labels, None)
}

/// `zs_classify_batch` with label aliases (see `zs_classify_aliases`); no rows for a NULL
/// text or label array, as the STRICT form.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_restricted, name = "zs_classify_batch")]
fn zs_classify_batch_aliases<'a>(
    bodies: Option<Array<'a, DbText<'a>>>,
    labels: Option<Array<'a, DbText<'a>>>,
    aliases: Option<DbJsonb>,
) -> TableIterator<
    'a,
    (name!(ord, i32), name!(label, Option<ServerText>), name!(score, Option<f32>), name!(scores, Option<ServerJsonb>)),
> {
    match (bodies, labels) {
        (Some(bodies), Some(labels)) => batch(bodies, labels, aliases),
        _ => TableIterator::new(Vec::new()),
    }
}
