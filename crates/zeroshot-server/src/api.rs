//! What the HTTP API takes and answers. Every field is checked here, before anything is
//! queued, with the limits the extension puts on the same values; the labels themselves are
//! checked by the engine, exactly as for the extension (a refused set fails only the requests
//! that sent it).
use serde_json::{json, Map, Value};
use zeroshot::generate::MAX_TEMPERATURE;
use zeroshot::tokenize::TEXT_CHARS_PER_TOKEN;
use zeroshot::{Classification, GenerateOptions, Generation, LabelForms, Model, Sampling, ScoreMode, ScoreOptions};
use zeroshot_client::wire::{aliases_from_json, classification_json, forms_size, generation_json};

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

/// A classification request as the queue takes it.
#[derive(Debug)]
pub struct Request {
    pub texts: Vec<String>,
    /// The labels, and their aliases (`/v1/classify` only; else the forms are the labels).
    pub forms: LabelForms,
    pub opts: ScoreOptions,
    /// `"top": k` (`/v1/classify` only): each result also lists its k most probable labels.
    pub top: Option<usize>,
}

/// A generation request as the queue takes it.
#[derive(Debug)]
pub struct GenerateRequest {
    pub prompt: String,
    pub opts: GenerateOptions,
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

/// A label array the prompt cannot hold, measured as the extension measures one: more labels
/// (or forms, with aliases) than prompt tokens, or more bytes than a prompt can read, is
/// refused before anything is built.
fn check_label_bounds(count: usize, bytes: usize, max_input_tokens: usize) -> Result<(), ApiError> {
    let max_bytes = max_input_tokens.saturating_mul(TEXT_CHARS_PER_TOKEN).saturating_mul(4);
    if count > max_input_tokens || bytes > max_bytes {
        return Err(ApiError::new(
            400,
            "program_limit",
            format!(
                "the label array ({count} labels, {bytes} bytes) cannot fit in max_input_tokens = {max_input_tokens} tokens together with the prompt"
            ),
        ));
    }
    Ok(())
}

/// The labels: an array of strings, or (as the release's WebUI sends them) one string of
/// comma-separated labels.
fn labels(body: &Value, name: &str, max_input_tokens: usize) -> Result<Vec<String>, ApiError> {
    let value = field(body, name)?;
    let labels = match value.as_str() {
        Some(s) => s.split(',').map(|l| l.trim().to_string()).collect(),
        None => string_list(value, name)?,
    };
    check_label_bounds(labels.len(), labels.iter().map(String::len).sum(), max_input_tokens)?;
    Ok(labels)
}

/// The labels of `/v1/classify` with their optional aliases, `{"label": ["alias", …], …}` (the
/// object zs_classify's aliases argument takes). Every form counts against the bounds of a
/// label array; the forms themselves are checked by the engine as labels.
fn label_forms(body: &Value, max_input_tokens: usize) -> Result<LabelForms, ApiError> {
    let labels = labels(body, "labels", max_input_tokens)?;
    let Some(aliases) = body.get("aliases").filter(|v| !v.is_null()) else {
        return LabelForms::new(labels, Vec::new()).map_err(|e| ApiError::bad_request(e.to_string()));
    };
    let pairs = aliases_from_json(aliases).map_err(|m| ApiError::bad_request(format!("\"aliases\": {m}")))?;
    let (count, bytes) = forms_size(&labels, &pairs);
    check_label_bounds(count, bytes, max_input_tokens)?;
    LabelForms::new(labels, pairs).map_err(|e| ApiError::bad_request(e.to_string()))
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

/// A whole number from `lo` to `hi`, if given.
fn integer(body: &Value, name: &str, lo: u64, hi: u64) -> Result<Option<usize>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x as usize)),
            _ => Err(ApiError::bad_request(format!("{name:?} must be a whole number from {lo} to {hi}, got {v}"))),
        },
    }
}

/// `max_input_tokens`, within this server's limit (as zs.max_input_tokens_limit bounds it).
fn max_input_tokens(body: &Value, config: &ServeConfig) -> Result<Option<usize>, ApiError> {
    let limit = config.max_input_tokens_limit;
    match number(body, "max_input_tokens", 16.0, 65536.0)? {
        Some(n) if n as usize > limit => Err(ApiError::bad_request(format!(
            "max_input_tokens = {n} is over this server's limit of {limit} (--max-input-tokens-limit)"
        ))),
        n => Ok(n.map(|n| n as usize)),
    }
}

/// `batch_rows` (zs.batch_rows): the most decoder rows one ONNX Runtime run may take.
fn batch_rows(body: &Value) -> Result<Option<usize>, ApiError> {
    Ok(number(body, "batch_rows", 1.0, 1024.0)?.map(|n| n as usize))
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
    if let Some(n) = max_input_tokens(body, config)? {
        opts.max_input_tokens = n;
    }
    if let Some(n) = batch_rows(body)? {
        opts.runs.max_rows = n;
    }
    Ok(opts)
}

/// `POST /augment {"text", "candidate_labels"}`: the release's single-text call.
pub fn augment_request(body: &Value, config: &ServeConfig) -> Result<Request, ApiError> {
    let text = field(body, "text")?.as_str().ok_or_else(|| ApiError::bad_request("\"text\" must be a string"))?;
    let opts = options(body, config)?;
    let labels = labels(body, "candidate_labels", opts.max_input_tokens)?;
    Ok(Request { texts: vec![text.to_string()], forms: plain_forms(labels)?, opts, top: None })
}

/// `POST /augment_batch {"texts", "candidate_labels"}`: the release's batch call.
pub fn augment_batch_request(body: &Value, config: &ServeConfig) -> Result<Request, ApiError> {
    let opts = options(body, config)?;
    let texts = texts(body, "texts", config, false)?;
    let labels = labels(body, "candidate_labels", opts.max_input_tokens)?;
    Ok(Request { texts, forms: plain_forms(labels)?, opts, top: None })
}

/// The release's calls take no aliases: their labels are the forms.
fn plain_forms(labels: Vec<String>) -> Result<LabelForms, ApiError> {
    LabelForms::new(labels, Vec::new()).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `POST /v1/classify {"texts", "labels", "aliases"?, "top"?, "temperature"?, "score_mode"?,
/// "max_input_tokens"?, "batch_rows"?}`.
pub fn classify_request(body: &Value, config: &ServeConfig) -> Result<Request, ApiError> {
    let opts = options(body, config)?;
    let texts = texts(body, "texts", config, true)?;
    let forms = label_forms(body, opts.max_input_tokens)?;
    // zs_classify_top's k is an int.
    let top = integer(body, "top", 0, i32::MAX as u64)?;
    Ok(Request { texts, forms, opts, top })
}

/// `POST /v1/generate {"prompt", "n"?, "temperature"?, "top_k"?, "top_p"?, "max_new_tokens"?,
/// "seed"?, "max_input_tokens"?, "batch_rows"?}` (what `wire::generate_request_json` writes), with
/// zs_generate's defaults and bounds; `max_new_tokens` within `--max-new-tokens-limit`.
pub fn generate_request(body: &Value, config: &ServeConfig) -> Result<GenerateRequest, ApiError> {
    let prompt = field(body, "prompt")?.as_str().ok_or_else(|| ApiError::bad_request("\"prompt\" must be a string"))?;
    let mut opts = GenerateOptions {
        max_input_tokens: config.defaults.max_input_tokens,
        max_rows: config.defaults.runs.max_rows,
        ..GenerateOptions::default()
    };
    opts.max_input_tokens = max_input_tokens(body, config)?.unwrap_or(opts.max_input_tokens);
    opts.max_rows = batch_rows(body)?.unwrap_or(opts.max_rows);
    opts.n = integer(body, "n", 1, opts.most_outputs() as u64)?.unwrap_or(opts.n);
    let defaults = opts.sampling;
    opts.sampling = Sampling {
        temperature: number(body, "temperature", 0.0, MAX_TEMPERATURE)?.unwrap_or(defaults.temperature),
        top_k: integer(body, "top_k", 0, u32::MAX as u64)?.unwrap_or(defaults.top_k),
        // (0, 1]: a top_p of 0 is refused by `validate` below.
        top_p: number(body, "top_p", 0.0, 1.0)?.unwrap_or(defaults.top_p),
    };
    // The limit is on every output's tokens together (zs.max_new_tokens_limit's rule); the
    // default is zs_generate's, lowered to fit it.
    let limit = config.max_new_tokens_limit;
    opts.max_new_tokens = match integer(body, "max_new_tokens", 1, u64::MAX)? {
        Some(n) => n,
        None => opts.max_new_tokens.min(limit / opts.n).max(1),
    };
    if opts.tokens() > limit {
        return Err(ApiError::bad_request(format!(
            "n x max_new_tokens = {} is over this server's limit of {limit} (--max-new-tokens-limit)",
            opts.tokens()
        )));
    }
    opts.validate().map_err(|e| ApiError::bad_request(e.to_string()))?;
    opts.seed = match body.get("seed") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError::bad_request(format!("\"seed\" must be an unsigned 64-bit integer or null, got {v}"))
        })?),
    };
    Ok(GenerateRequest { prompt: prompt.to_string(), opts })
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

/// `answer` with `"random_model": id` when `model` (GET /v1/model's description) has random
/// weights, so that a database session warns as a backend that loaded it would (the release's
/// answers stay as they are).
fn with_random_model(model: &Value, mut answer: Value) -> Value {
    if model.get("random_weights").and_then(Value::as_bool) == Some(true) {
        answer["random_model"] = model.get("model_id").cloned().unwrap_or(json!("the model"));
    }
    answer
}

/// `{"results": [classification, …]}` (zeroshot_client::wire), each result with `"top":
/// [{"label", "score"}, …]` when the request asked for its `top` k labels (most probable first,
/// ties in label order: zs_classify_top's rule); and `"random_model"` (`with_random_model`).
pub fn classify_answer(model: &Value, labels: &[String], top: Option<usize>, results: &[Classification]) -> Value {
    let results: Vec<Value> = results
        .iter()
        .map(|c| {
            let mut result = classification_json(labels, c);
            if let Some(k) = top {
                let best: Vec<Value> =
                    c.top(k, 0.0).into_iter().map(|l| json!({ "label": labels[l], "score": c.probs[l] })).collect();
                result["top"] = Value::Array(best);
            }
            result
        })
        .collect();
    with_random_model(model, json!({ "results": results }))
}

/// `{"outputs", "tokens", "input_tokens", "truncated"}` (zeroshot_client::wire), and
/// `"random_model"` (`with_random_model`).
pub fn generate_answer(model: &Value, generation: &Generation) -> Value {
    with_random_model(model, generation_json(generation))
}

/// What `GET /v1/model` shows of the model (what zs_model_info() shows in-process) and of the
/// server's limits; counters are added per request.
pub fn model_info(model: &Model, config: &ServeConfig) -> Value {
    let mut info = model.describe();
    info["server"] = json!({
        "max_input_tokens_limit": config.max_input_tokens_limit,
        "max_new_tokens_limit": config.max_new_tokens_limit,
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
            max_new_tokens_limit: 4096,
            socket_max_new_tokens_limit: None,
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
        assert_eq!(r.forms.labels, ["物流", "质量", "售后"]);
        assert_eq!((r.opts.temperature, r.opts.mode, r.opts.max_input_tokens), (2.0, ScoreMode::Greedy, 64));
    }

    #[test]
    fn each_bad_generate_field_is_a_400_that_names_it() {
        let c = config();
        let with = |name: &str, value: Value| {
            let mut body = json!({"prompt": "关键词："});
            body[name] = value;
            body
        };
        for (body, word) in [
            (json!({}), "prompt"),
            (json!({"prompt": 5}), "prompt"),
            (with("n", json!(0)), "\"n\""),
            (with("n", json!(65)), "\"n\""),
            (with("n", json!(1.5)), "\"n\""),
            (with("temperature", json!(-0.5)), "temperature"),
            (with("temperature", json!(101)), "temperature"),
            (with("temperature", json!("hot")), "temperature"),
            (with("top_k", json!(-1)), "top_k"),
            (with("top_p", json!(0)), "top_p"),
            (with("top_p", json!(1.5)), "top_p"),
            (with("max_new_tokens", json!(0)), "max_new_tokens"),
            (with("max_new_tokens", json!(4097)), "--max-new-tokens-limit"),
            (with("max_input_tokens", json!(4096)), "--max-input-tokens-limit"),
            (with("batch_rows", json!(0)), "batch_rows"),
            (with("seed", json!(-1)), "seed"),
            (with("seed", json!("42")), "seed"),
            (with("seed", json!(1.5)), "seed"),
        ] {
            let e = generate_request(&body, &c).unwrap_err();
            assert_eq!((e.status, e.kind), (400, "invalid_parameter"), "{body}");
            assert!(e.message.contains(word), "{body}: {}", e.message);
        }
        // n is bounded by batch_rows too: each output is a row of the same runs.
        let e = generate_request(&json!({"prompt": "p", "n": 8, "batch_rows": 4}), &c).unwrap_err();
        assert!(e.message.contains("\"n\""), "{}", e.message);
    }

    #[test]
    fn generate_defaults_and_fields() {
        let c = config();
        let r = generate_request(&json!({"prompt": "p"}), &c).unwrap();
        assert_eq!(r.opts.n, 1);
        assert_eq!((r.opts.sampling.temperature, r.opts.sampling.top_k, r.opts.sampling.top_p), (0.0, 0, 1.0));
        assert_eq!((r.opts.max_new_tokens, r.opts.seed, r.opts.max_input_tokens), (64, None, 512));
        // What the database backend sends (wire::generate_request_json) is taken as it is.
        let mut sent = GenerateOptions {
            n: 3,
            sampling: Sampling { temperature: 0.7, top_k: 40, top_p: 0.9 },
            max_new_tokens: 256,
            seed: Some(u64::MAX),
            max_input_tokens: 128,
            max_rows: 16,
        };
        let r = generate_request(&zeroshot_client::wire::generate_request_json("关键词：", &sent), &c).unwrap();
        assert_eq!((r.prompt.as_str(), &r.opts), ("关键词：", &sent));
        sent.seed = None;
        let r = generate_request(&zeroshot_client::wire::generate_request_json("p", &sent), &c).unwrap();
        assert_eq!(r.opts.seed, None, "a null seed is a new seed each call");
        // The server's limit lowers the default too.
        let low = ServeConfig { max_new_tokens_limit: 10, ..config() };
        assert_eq!(generate_request(&json!({"prompt": "p"}), &low).unwrap().opts.max_new_tokens, 10);
    }

    #[test]
    fn aliases_and_top() {
        let c = config();
        let body = json!({"texts": ["t"], "labels": ["物流问题", "商品质量"], "aliases": {"物流问题": ["快递慢", "没发货"]}, "top": 2});
        let r = classify_request(&body, &c).unwrap();
        assert_eq!(r.forms.forms, ["物流问题", "快递慢", "没发货", "商品质量"]);
        assert_eq!(r.top, Some(2));
        assert!(!classify_request(&json!({"texts": [], "labels": ["a"], "aliases": null}), &c)
            .unwrap()
            .forms
            .has_aliases());
        for (aliases, top, word) in [
            (json!(["快递慢"]), json!(null), "aliases"),
            (json!({"物流问题": "快递慢"}), json!(null), "aliases of \"物流问题\""),
            (json!({"物流问题": [1]}), json!(null), "aliases of \"物流问题\""),
            (json!({"退货": ["退款"]}), json!(null), "aliases"),
            (json!(null), json!(-1), "top"),
            (json!(null), json!(1.5), "top"),
        ] {
            let body = json!({"texts": ["t"], "labels": ["物流问题", "商品质量"], "aliases": aliases, "top": top});
            let e = classify_request(&body, &c).unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert!(e.message.contains(word), "{body}: {}", e.message);
        }
        // Every form counts against the bounds of a label array.
        let many: Vec<String> = (0..600).map(|i| format!("a{i}")).collect();
        let e =
            classify_request(&json!({"texts": ["t"], "labels": ["a", "b"], "aliases": {"a": many}}), &c).unwrap_err();
        assert_eq!((e.status, e.kind), (400, "program_limit"));
    }

    #[test]
    fn top_lists_the_most_probable_labels_first_ties_in_label_order() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let c = Classification {
            logprobs: vec![-1.0, -0.5, -0.5],
            probs: vec![0.2, 0.4, 0.4],
            best: 1,
            input_tokens: 3,
            truncated: false,
        };
        let answer = classify_answer(&json!({"random_weights": false}), &labels, Some(2), std::slice::from_ref(&c));
        assert_eq!(answer["results"][0]["top"], json!([{"label": "b", "score": 0.4}, {"label": "c", "score": 0.4}]));
        assert!(answer.get("random_model").is_none());
        let answer = classify_answer(&json!({"random_weights": true, "model_id": "m"}), &labels, None, &[c]);
        assert!(answer["results"][0].get("top").is_none());
        assert_eq!(answer["random_model"], "m");
    }
}
