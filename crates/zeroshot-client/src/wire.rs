//! The JSON of one text's classification in `POST /v1/classify`, and of a request and answer of
//! `POST /v1/generate`, written by one side and read by the other (the server, the database
//! backend): one place for both sides, so they cannot drift apart. It carries everything
//! `zeroshot::Classification` holds, so that a backend in server mode answers what it would
//! have in-process (NaN, for labels greedy mode did not score, travels as null).
use serde_json::{json, Map, Value};
use zeroshot::{Classification, GenerateOptions, Generation};

fn nullable(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// `{"label", "best", "score", "scores": {label: p}, "probs": [..], "logprobs": [..],
/// "input_tokens", "truncated"}`.
pub fn classification_json(labels: &[String], c: &Classification) -> Value {
    let scores: Map<String, Value> = c.scored(labels).map(|(l, p, _)| (l.to_string(), json!(p))).collect();
    json!({
        "label": labels[c.best],
        "best": c.best,
        "score": c.probs[c.best],
        "scores": scores,
        "probs": c.probs.iter().map(|&p| nullable(p)).collect::<Vec<_>>(),
        "logprobs": c.logprobs.iter().map(|&p| nullable(p)).collect::<Vec<_>>(),
        "input_tokens": c.input_tokens,
        "truncated": c.truncated,
    })
}

/// The classification `classification_json` wrote, checked against the number of labels.
pub fn classification_from_json(v: &Value, n_labels: usize) -> Result<Classification, String> {
    let floats = |name: &str| -> Result<Vec<f64>, String> {
        let items = v.get(name).and_then(Value::as_array).ok_or(format!("no {name} array"))?;
        if items.len() != n_labels {
            return Err(format!("{name} has {} values for {n_labels} labels", items.len()));
        }
        items
            .iter()
            .map(|x| if x.is_null() { Ok(f64::NAN) } else { x.as_f64().ok_or(format!("{name}: {x}")) })
            .collect()
    };
    let best = v.get("best").and_then(Value::as_u64).ok_or("no best")? as usize;
    if best >= n_labels {
        return Err(format!("best {best} is not one of {n_labels} labels"));
    }
    let probs = floats("probs")?;
    if probs.iter().any(|p| !p.is_nan() && !(0.0..=1.0).contains(p)) || !probs[best].is_finite() {
        return Err("a probability is not between 0 and 1, or the answer's is missing".into());
    }
    Ok(Classification {
        probs,
        logprobs: floats("logprobs")?,
        best,
        input_tokens: v.get("input_tokens").and_then(Value::as_u64).ok_or("no input_tokens")? as usize,
        truncated: v.get("truncated").and_then(Value::as_bool).ok_or("no truncated")?,
    })
}

/// The aliases object of zs_classify's `aliases` argument and of `/v1/classify`'s field,
/// `{"label": ["alias", …], …}`, as (label, aliases) pairs; the error says what is malformed.
/// (Whether each label is one of the labels, and each form a valid label, `LabelForms` checks.)
pub fn aliases_from_json(aliases: &Value) -> Result<Vec<(String, Vec<String>)>, String> {
    let object = aliases.as_object().ok_or("aliases must be an object of label: [alias, …]")?;
    object
        .iter()
        .map(|(label, list)| {
            let bad = || format!("the aliases of {label:?} must be an array of strings");
            let forms = list.as_array().ok_or_else(bad)?;
            let forms =
                forms.iter().map(|f| f.as_str().map(str::to_string).ok_or_else(bad)).collect::<Result<_, _>>()?;
            Ok((label.clone(), forms))
        })
        .collect()
}

/// How many forms, and how many bytes, `labels` and their `aliases` make: what must fit in a
/// prompt, measured as for a label array.
pub fn forms_size(labels: &[String], aliases: &[(String, Vec<String>)]) -> (usize, usize) {
    let forms = aliases.iter().flat_map(|(_, f)| f);
    let bytes = labels.iter().chain(forms.clone()).fold(0usize, |b, f| b.saturating_add(f.len()));
    (labels.len() + forms.count(), bytes)
}

/// `POST /v1/generate`'s body for `prompt` under `opts` (the server applies its own limits).
pub fn generate_request_json(prompt: &str, opts: &GenerateOptions) -> Value {
    json!({
        "prompt": prompt,
        "n": opts.n,
        "temperature": opts.sampling.temperature,
        "top_k": opts.sampling.top_k,
        "top_p": opts.sampling.top_p,
        "max_new_tokens": opts.max_new_tokens,
        "seed": opts.seed,
        "max_input_tokens": opts.max_input_tokens,
        "batch_rows": opts.max_rows,
    })
}

/// `{"outputs": [text, …], "tokens": [[id, …], …], "input_tokens", "truncated"}`.
pub fn generation_json(g: &Generation) -> Value {
    json!({
        "outputs": g.texts,
        "tokens": g.tokens,
        "input_tokens": g.input_tokens,
        "truncated": g.truncated,
    })
}

/// The generation `generation_json` wrote, checked to hold `n` outputs.
pub fn generation_from_json(v: &Value, n: usize) -> Result<Generation, String> {
    let texts: Vec<String> = v
        .get("outputs")
        .and_then(Value::as_array)
        .ok_or("no outputs array")?
        .iter()
        .map(|t| t.as_str().map(str::to_string).ok_or(format!("outputs: {t}")))
        .collect::<Result<_, _>>()?;
    let tokens: Vec<Vec<u32>> =
        serde_json::from_value(v.get("tokens").cloned().ok_or("no tokens")?).map_err(|e| format!("tokens: {e}"))?;
    if texts.len() != n || tokens.len() != n {
        return Err(format!("{} outputs and {} token lists for n = {n}", texts.len(), tokens.len()));
    }
    Ok(Generation {
        texts,
        tokens,
        input_tokens: v.get("input_tokens").and_then(Value::as_u64).ok_or("no input_tokens")? as usize,
        truncated: v.get("truncated").and_then(Value::as_bool).ok_or("no truncated")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_field_and_nan() {
        let labels = vec!["物流".to_string(), "质量".to_string(), "售后".to_string()];
        let c = Classification {
            logprobs: vec![-1.5, f64::NAN, -0.25],
            probs: vec![0.2, f64::NAN, 0.8],
            best: 2,
            input_tokens: 17,
            truncated: true,
        };
        let v = classification_json(&labels, &c);
        assert_eq!(v["label"], "售后");
        assert_eq!(v["scores"].as_object().unwrap().len(), 2);
        let back = classification_from_json(&v, 3).unwrap();
        assert_eq!((back.best, back.input_tokens, back.truncated), (2, 17, true));
        assert!(back.probs[1].is_nan() && back.logprobs[1].is_nan());
        assert_eq!((back.probs[2], back.logprobs[0]), (0.8, -1.5));
        assert!(classification_from_json(&v, 2).is_err());
        let mut bad = v.clone();
        bad["probs"] = json!([0.2, null, 1e308]);
        assert!(classification_from_json(&bad, 3).is_err());
        bad["probs"] = json!([0.2, 0.3, null]);
        assert!(classification_from_json(&bad, 3).is_err(), "the answer's probability is missing");
    }

    #[test]
    fn a_generation_round_trips_and_is_checked_against_n() {
        let g = Generation {
            texts: vec!["物流".into(), "".into()],
            tokens: vec![vec![5, 1], vec![1]],
            input_tokens: 9,
            truncated: false,
        };
        let v = generation_json(&g);
        assert_eq!(generation_from_json(&v, 2).unwrap(), g);
        assert!(generation_from_json(&v, 3).is_err());
        let mut bad = v.clone();
        bad["tokens"] = json!([[5, -1], [1]]);
        assert!(generation_from_json(&bad, 2).is_err());
    }
}
