//! Labels with aliases against PyTorch transformers on the same weights: every form in the
//! prompt, each label's log-probability the log-sum-exp of its forms'. The reference is
//! tests/fixtures/reference_aliases.json, written by tools/reference_fixtures.py (PyTorch).
mod common;

use serde_json::Value;
use zeroshot::{LabelForms, ScoreMode, ScoreOptions};

const TOLERANCE: f64 = 1e-4;

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn cases() -> Vec<(String, String, LabelForms, Value)> {
    let text = std::fs::read_to_string(common::fixtures().join("reference_aliases.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases: Vec<_> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let aliases = c["aliases"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), strings(v))).collect();
            let forms = LabelForms::new(strings(&c["labels"]), aliases).unwrap();
            (c["name"].as_str().unwrap().to_string(), c["text"].as_str().unwrap().to_string(), forms, c.clone())
        })
        .collect();
    assert!(cases.len() >= 3);
    cases
}

#[test]
fn label_scores_with_aliases_match_the_reference() {
    let mut model = common::load();
    for (name, text, forms, case) in cases() {
        let opts = ScoreOptions::default();
        let c = model.classify_forms(&[&text], &forms, &opts).unwrap().pop().unwrap();
        assert_eq!(c.input_tokens, case["input_ids"].as_array().unwrap().len(), "{name}: every form is in the prompt");
        let want = floats(&case["logprobs"]);
        assert_eq!(c.logprobs.len(), forms.labels.len(), "{name}: one score per canonical label");
        for (got, want) in c.logprobs.iter().zip(&want) {
            assert!((got - want).abs() < TOLERANCE, "{name}: {:?} against {want:?}", c.logprobs);
        }
        let best = want.iter().enumerate().fold(0, |b, (i, &x)| if x > want[b] { i } else { b });
        assert_eq!(c.best, best, "{name}");
        let total: f64 = want.iter().map(|l| (l - want[best]).exp()).sum();
        assert!((c.probs[best] - 1.0 / total).abs() < 1e-6, "{name}: the softmax is over labels");
        // Greedy mode answers with a label too, never a form.
        let greedy = ScoreOptions { mode: ScoreMode::Greedy, ..opts };
        let g = model.classify_forms(&[&text], &forms, &greedy).unwrap().pop().unwrap();
        assert!(g.best < forms.labels.len() && g.logprobs.len() == forms.labels.len());
    }
}

#[test]
fn a_form_equal_to_another_label_or_form_is_refused() {
    let mut model = common::load();
    let labels = common::strings(&["物流问题", "商品质量"]);
    for aliases in [
        vec![("物流问题".to_string(), common::strings(&["商品质量"]))],
        vec![("物流问题".to_string(), common::strings(&["快递慢", "快递慢"]))],
        vec![
            ("物流问题".to_string(), common::strings(&["快递慢"])),
            ("商品质量".to_string(), common::strings(&["快递慢 "])),
        ],
        vec![("物流问题".to_string(), common::strings(&["ＡＢＣ", "ABC"]))],
    ] {
        let forms = LabelForms::new(labels.clone(), aliases.clone()).unwrap();
        match model.classify_forms(&["快递"], &forms, &ScoreOptions::default()) {
            Err(e) if e.kind() == zeroshot::ErrorKind::InvalidParameter => {}
            other => panic!("{aliases:?}: {other:?}"),
        }
    }
}
