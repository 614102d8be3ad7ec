//! What the HTTP API takes and answers. Every field is checked here, before anything is
//! queued, with the limits the extension puts on the same values; the labels themselves are
//! checked by the engine, exactly as for the extension (a refused set fails only the requests
//! that sent it).
use serde_json::{json, Map, Value};
use zeroshot::tokenize::TEXT_CHARS_PER_TOKEN;
use zeroshot::{Classification, Model, ScoreMode, ScoreOptions};
use zeroshot_client::wire::classification_json;

use crate::config::ServeConfig;

/// An answer other than 200: its status, and `{"error": message, "kind": kind}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    /// Seconds for a Retry-After header (503 when the queue is full).
    pub retry_after: Option<u32>,
    /// The labels were refused as they are: the body says `"about": "labels"`, so that a
    /// database backend gives the same HINT as in-process.
    pub about_labels: bool,
}

impl ApiError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, kind, message: message.into(), retry_after: None, about_labels: false }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_parameter", message)
    }

    pub fn body(&self) -> Value {
        let mut body = json!({ "error": self.message, "kind": self.kind });
        if self.about_labels {
            body["about"] = json!("labels");
        }
        body
    }
}

/// A request as the queue takes it.
#[derive(Debug)]
pub struct Request {
    pub texts: Vec<String>,
    pub labels: Vec<String>,
    pub opts: ScoreOptions,
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a Value, ApiError> {
    match body.get(name) {
        Some(v) if !v.is_null() => Ok(v),
        _ => Err(ApiError::bad_request(format!("missing field {name:?}"))),
    }
}

fn string_list(value: &Value, name: &str) -> Result<Vec<String>, ApiError> {
    let items =
        value.as_array().ok_or_else(|| ApiError::bad_request(format!("{name:?} must be an array of strings")))?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad_request(format!("{name:?}[{i}] must be a string, got {v}")))
        })
        .collect()
}

/// The labels: an array of strings, or (as the release's WebUI sends them) one string of
/// comma-separated labels. Measured as the extension measures a label array: more labels than
/// prompt tokens, or more bytes than a prompt can read, is refused before anything is built.
fn labels(body: &Value, name: &str, max_input_tokens: usize) -> Result<Vec<String>, ApiError> {
    let value = field(body, name)?;
    let labels = match value.as_str() {
        Some(s) => s.split(',').map(|l| l.trim().to_string()).collect(),
        None => string_list(value, name)?,
    };
    let bytes: usize = labels.iter().map(String::len).sum();
    let max_bytes = max_input_tokens.saturating_mul(TEXT_CHARS_PER_TOKEN).saturating_mul(4);
    if labels.len() > max_input_tokens || bytes > max_bytes {
        return Err(ApiError::new(
            400,
            "program_limit",
            format!(
                "the label array ({} labels, {bytes} bytes) cannot fit in max_input_tokens = {max_input_tokens} tokens together with the prompt",
                labels.len()
            ),
        ));
    }
    Ok(labels)
}

/// The texts; `/v1/classify` may send none (a database backend checks a label set so before
/// a backfill's first batch), the release's calls may not.
fn texts(body: &Value, name: &str, config: &ServeConfig, may_be_empty: bool) -> Result<Vec<String>, ApiError> {
    let texts = string_list(field(body, name)?, name)?;
    if texts.is_empty() && !may_be_empty {
        return Err(ApiError::bad_request(format!("{name:?} is empty")));
    }
    if texts.len() > config.max_texts_per_request {
        return Err(ApiError::new(
            400,
            "program_limit",
            format!("{} texts in one request; at most {}", texts.len(), config.max_texts_per_request),
        ));
    }
    Ok(texts)
}

fn number(body: &Value, name: &str, lo: f64, hi: f64) -> Result<Option<f64>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x)),
            _ => Err(ApiError::bad_request(format!("{name:?} must be a number from {lo} to {hi}, got {v}"))),
        },
    }
}

/// The scoring options: the server's defaults, with what the request names (the settings a
/// database session sends: zs.temperature, zs.score_mode, zs.max_input_tokens, zs.batch_rows),
/// within the bounds those settings have.
fn options(body: &Value, config: &ServeConfig) -> Result<ScoreOptions, ApiError> {
    let mut opts = config.defaults.clone();
    if let Some(t) = number(body, "temperature", 0.01, 100.0)? {
        opts.temperature = t;
    }
    if let Some(m) = body.get("score_mode").filter(|v| !v.is_null()) {
        let name = m.as_str().ok_or_else(|| ApiError::bad_request("\"score_mode\" must be \"exact\" or \"greedy\""))?;
        opts.mode = name.parse::<ScoreMode>().map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let limit = config.max_input_tokens_limit;
    if let Some(n) = number(body, "max_input_tokens", 16.0, 65536.0)? {
        if n as usize > limit {
            return Err(ApiError::bad_request(format!(
                "max_input_tokens = {n} is over this server's limit of {limit} (--max-input-tokens-limit)"
            )));
        }
        opts.max_input_tokens = n as usize;
    }
    if let Some(n) = number(body, "batch_rows", 1.0, 1024.0)? {
        opts.runs.max_rows = n as usize;
    }
    Ok(opts)
}

/// `POST /augment {"text", "candidate_labels"}`: the release's single-text call.
pub fn augment_request(body: &Value, config: &ServeConfig) -> Result<Request, ApiError> {
    let text = field(body, "text")?.as_str().ok_or_else(|| ApiError::bad_request("\"text\" must be a string"))?;
    let opts = options(body, config)?;
    Ok(Request {
        texts: vec![text.to_string()],
        labels: labels(body, "candidate_labels", opts.max_input_tokens)?,
        opts,
    })
}

/// `POST /augment_batch {"texts", "candidate_labels"}`: the release's batch call.
pub fn augment_batch_request(body: &Value, config: &ServeConfig) -> Result<Request, ApiError> {
    let opts = options(body, config)?;
    Ok(Request {
        texts: texts(body, "texts", config, false)?,
        labels: labels(body, "candidate_labels", opts.max_input_tokens)?,
        opts,
    })
}

/// `POST /v1/classify {"texts", "labels", "temperature"?, "score_mode"?, "max_input_tokens"?,
/// "batch_rows"?}`.
pub fn classify_request(body: &Value, config: &ServeConfig) -> Result<Request, ApiError> {
    let opts = options(body, config)?;
    Ok(Request {
        texts: texts(body, "texts", config, true)?,
        labels: labels(body, "labels", opts.max_input_tokens)?,
        opts,
    })
}

/// The release's answer: `{"label", "score", "all_scores": {label: p}}`.
pub fn augment_answer(labels: &[String], c: &Classification) -> Value {
    let all: Map<String, Value> = c.scored(labels).map(|(l, p, _)| (l.to_string(), json!(p))).collect();
    json!({ "label": labels[c.best], "score": c.probs[c.best], "all_scores": all })
}

/// The release's batch answer: `[{"label", "score"}, …]`.
pub fn augment_batch_answer(labels: &[String], results: &[Classification]) -> Value {
    Value::Array(results.iter().map(|c| json!({ "label": labels[c.best], "score": c.probs[c.best] })).collect())
}

/// `{"results": [classification, …]}` (zeroshot_client::wire), and `"random_model": id` when
/// `model` (GET /v1/model's description) has random weights, so that a database session warns
/// as a backend that loaded it would (the release's answers stay as they are).
pub fn classify_answer(model: &Value, labels: &[String], results: &[Classification]) -> Value {
    let mut answer = json!({ "results": results.iter().map(|c| classification_json(labels, c)).collect::<Vec<_>>() });
    if model.get("random_weights").and_then(Value::as_bool) == Some(true) {
        answer["random_model"] = model.get("model_id").cloned().unwrap_or(json!("the model"));
    }
    answer
}

/// What `GET /v1/model` shows of the model (what zs_model_info() shows in-process) and of the
/// server's limits; counters are added per request.
pub fn model_info(model: &Model, config: &ServeConfig) -> Value {
    let mut info = model.describe();
    info["server"] = json!({
        "max_input_tokens_limit": config.max_input_tokens_limit,
        "default_max_input_tokens": config.defaults.max_input_tokens,
        "max_batch_texts": config.max_batch_texts,
        "max_wait_ms": config.max_wait.as_secs_f64() * 1000.0,
        "max_queue_texts": config.max_queue_texts,
        "max_texts_per_request": config.max_texts_per_request,
    });
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> ServeConfig {
        ServeConfig {
            socket: None,
            listen: None,
            token: None,
            defaults: ScoreOptions::default(),
            max_input_tokens_limit: 2048,
            socket_max_input_tokens_limit: None,
            max_wait: Duration::from_millis(5),
            max_batch_texts: 64,
            max_queue_texts: 1024,
            max_texts_per_request: 8,
            max_body_bytes: 1 << 20,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(5),
            intra_op_threads: 1,
        }
    }

    #[test]
    fn each_bad_field_is_a_400_that_names_it() {
        let c = config();
        for (body, word) in [
            (json!({"candidate_labels": ["a"]}), "\"text\""),
            (json!({"text": 5, "candidate_labels": ["a"]}), "\"text\""),
            (json!({"text": "x"}), "candidate_labels"),
            (json!({"text": "x", "candidate_labels": [1]}), "candidate_labels"),
            (json!({"text": "x", "candidate_labels": ["a"], "temperature": 0}), "temperature"),
            (json!({"text": "x", "candidate_labels": ["a"], "score_mode": "fast"}), "score mode"),
            (json!({"text": "x", "candidate_labels": ["a"], "max_input_tokens": 4096}), "limit"),
        ] {
            let e = augment_request(&body, &c).unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert!(e.message.contains(word), "{body}: {}", e.message);
        }
        let e = classify_request(&json!({"texts": vec!["t"; 9], "labels": ["a"]}), &c).unwrap_err();
        assert_eq!((e.status, e.kind), (400, "program_limit"));
        let e = augment_batch_request(&json!({"texts": [], "candidate_labels": ["a"]}), &c).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(classify_request(&json!({"texts": [], "labels": ["a"]}), &c).is_ok(), "labels alone are checked");
        let many: Vec<String> = (0..600).map(|i| format!("l{i}")).collect();
        let e = classify_request(&json!({"texts": ["t"], "labels": many}), &c).unwrap_err();
        assert_eq!((e.status, e.kind), (400, "program_limit"));
    }

    #[test]
    fn options_and_comma_separated_labels() {
        let c = config();
        let r = augment_request(
            &json!({"text": "x", "candidate_labels": "物流, 质量 ,售后", "temperature": 2, "score_mode": "greedy", "max_input_tokens": 64}),
            &c,
        )
        .unwrap();
        assert_eq!(r.labels, ["物流", "质量", "售后"]);
        assert_eq!((r.opts.temperature, r.opts.mode, r.opts.max_input_tokens), (2.0, ScoreMode::Greedy, 64));
    }
}
