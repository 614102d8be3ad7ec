//! The JSON of one text's classification in `POST /v1/classify`, written by the server and read
//! by the database backend: one place for both sides, so they cannot drift apart. It carries
//! everything `zeroshot::Classification` holds, so that a backend in server mode answers what
//! it would have in-process (NaN, for labels greedy mode did not score, travels as null).
use serde_json::{json, Map, Value};
use zeroshot::Classification;

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
}
