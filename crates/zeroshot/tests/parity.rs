//! The engine's per-label log-probabilities against PyTorch transformers on the same weights.
//! tests/fixtures/reference_scores.json is written by tools/make_test_model.py (PyTorch), not
//! by this code; tools/parity_cases.json lists the cases.
mod common;

use serde_json::Value;
use zeroshot::ScoreOptions;

const TOLERANCE: f64 = 1e-4;

/// Reference cases whose label set the engine now refuses: `ＡＢＣ` and `ABC` are one label
/// to mT5's normaliser (NFKC), so their probabilities would only split one answer in two.
/// PyTorch scored them when the fixture was made; the engine must refuse them instead.
const REFUSED_CASES: [&str; 1] = ["fullwidth_equal_labels"];

fn all_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(common::fixtures().join("reference_scores.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// The cases the engine scores (every one but `REFUSED_CASES`).
fn reference() -> Vec<Value> {
    let cases: Vec<Value> =
        all_cases().into_iter().filter(|c| !REFUSED_CASES.contains(&c["name"].as_str().unwrap())).collect();
    assert!(cases.len() >= 20, "the parity suite must keep its cases ({} left)", cases.len());
    cases
}

#[test]
fn label_sets_equal_to_the_tokenizer_are_refused() {
    let mut model = common::load();
    for case in all_cases().iter().filter(|c| REFUSED_CASES.contains(&c["name"].as_str().unwrap())) {
        let labels: Vec<String> =
            case["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect();
        match model.labels(&labels, 4096) {
            Err(zeroshot::Error::DuplicateLabel { .. }) => {}
            Err(other) => panic!("{labels:?}: {other}"),
            Ok(_) => panic!("{labels:?} must be refused"),
        }
    }
}

/// Every path our engine can take: the whole label trie in one pass through the tree graph
/// (the default with our export) or level by level through the step decoder (a model
/// without the tree graph); the fused output our export adds (the default) or the full
/// logits a plain Optimum export gives; the step decoder's root step through our cross-KV
/// graph (the default) or through decoder_model.onnx, as a plain Optimum export has it.
/// (That our grouped decoder-with-past computes what Optimum's own does is checked where
/// both graphs exist: `export_model.py --self-test`; keeping Optimum's graph here too would
/// make tests/fixtures larger still.)
#[test]
fn label_logprobs_match_pytorch() {
    let without_cross = common::model_copy("nocross", &["decoder_cross_kv.onnx", "manifest.json"]);
    let ours = common::model_dir();
    let mut scores_by_path = Vec::new();
    for (dir, tree, fused) in [
        (&ours, true, true),
        (&ours, true, false),
        (&ours, false, true),
        (&ours, false, false),
        (&without_cross.0, false, true),
        (&without_cross.0, false, false),
    ] {
        let opts = zeroshot::LoadOptions { fused_scores: fused, tree_pass: tree, ..common::options() };
        let mut model = zeroshot::Model::load(dir, &opts).unwrap();
        assert_eq!(model.score_outputs().name(), if fused { "fused" } else { "full_logits" });
        assert_eq!(model.scores_in_one_pass(), tree);
        let graphs = model.loaded_graphs();
        assert_eq!(graphs.contains(&"decoder_tree_model.onnx"), tree, "{graphs:?}");
        // With the tree graph, exact mode opens no step graph.
        assert_eq!(graphs.contains(&"decoder_with_past_model.onnx"), !tree, "{graphs:?}");
        let cross = *dir == ours;
        assert_eq!(graphs.contains(&"decoder_model.onnx"), !tree && !cross, "{graphs:?}");
        assert!(model.batches_texts());
        scores_by_path.push(check_against_pytorch(&mut model));
        check_batches_against_pytorch(&mut model);
        assert_eq!(model.loaded_graphs(), graphs, "exact mode opened more graphs");
    }
    // Same scores whichever path: within 1e-5 of each other in log-probability.
    let mut worst = 0f64;
    for other in &scores_by_path[1..] {
        for (a, b) in scores_by_path[0].iter().flatten().zip(other.iter().flatten()) {
            worst = worst.max((a - b).abs());
        }
    }
    assert!(worst <= 1e-5, "the paths' scores differ by {worst:e}");
    eprintln!("every path within {worst:e} of the tree graph's fused scores");
}

/// `classify_many` over the cases that share a label set: several texts of different
/// lengths in one run (padded) give PyTorch's scores too, and `classify`'s within rounding.
fn check_batches_against_pytorch(model: &mut zeroshot::Model) {
    let cases = reference();
    let mut groups: Vec<(Vec<String>, u64, Vec<&Value>)> = Vec::new();
    for case in &cases {
        let labels: Vec<String> =
            case["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect();
        let max = case["max_input_tokens"].as_u64().unwrap();
        match groups.iter_mut().find(|g| g.0 == labels && g.1 == max) {
            Some(g) => g.2.push(case),
            None => groups.push((labels, max, vec![case])),
        }
    }
    let largest = groups.iter().map(|g| g.2.len()).max().unwrap();
    assert!(largest >= 5, "some label set must have several texts (largest group {largest})");
    let (mut worst, mut worst_vs_single) = (0f64, 0f64);
    for (labels, max, group) in &groups {
        let prepared = model.labels(labels, 4096).unwrap();
        let texts: Vec<&str> = group.iter().map(|c| c["text"].as_str().unwrap()).collect();
        let lens: std::collections::BTreeSet<usize> =
            texts.iter().map(|t| model.prompt_ids(t, &prepared, *max as usize).unwrap().ids.len()).collect();
        assert!(group.len() == 1 || lens.len() > 1, "texts of one length would not test the padding");
        let opts = ScoreOptions { max_input_tokens: *max as usize, ..ScoreOptions::default() };
        let batch = model.classify_many(&texts, &prepared, &opts).unwrap();
        assert_eq!(batch.len(), texts.len());
        for ((case, got), text) in group.iter().zip(&batch).zip(&texts) {
            let want: Vec<f64> = case["logprobs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let single = model.classify(text, &prepared, &opts).unwrap();
            for ((g, w), s) in got.logprobs.iter().zip(&want).zip(&single.logprobs) {
                worst = worst.max((g - w).abs());
                worst_vs_single = worst_vs_single.max((g - s).abs());
            }
            assert!(worst <= TOLERANCE, "{}: batched scores differ from PyTorch by {worst:e}", case["name"]);
            assert_eq!(got.best, single.best, "{}: the batch answers as classify does", case["name"]);
        }
    }
    assert!(worst_vs_single <= 1e-5, "batched and single scores differ by {worst_vs_single:e}");
    eprintln!(
        "batched parity ({}, grouped {}): largest difference {worst:e} from PyTorch, {worst_vs_single:e} from classify",
        model.score_outputs().name(),
        model.batches_texts()
    );
}

/// Every case's log-probabilities (also returned, case by case) within `TOLERANCE` of
/// PyTorch's.
fn check_against_pytorch(model: &mut zeroshot::Model) -> Vec<Vec<f64>> {
    let cases = reference();
    assert!(cases.len() >= 20, "the parity suite has {} cases", cases.len());
    let mut worst = 0f64;
    let mut scores = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let labels: Vec<String> =
            case["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect();
        let text = case["text"].as_str().unwrap();
        let max = case["max_input_tokens"].as_u64().unwrap() as usize;
        let prepared = model.labels(&labels, 4096).unwrap();

        let prompt = model.prompt_ids(text, &prepared, max).unwrap();
        let want_ids: Vec<i64> = case["input_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(prompt.ids, want_ids, "{name}: prompt ids differ from the reference tokenizer's");
        assert_eq!(prompt.kept_chars as u64, case["kept_chars"].as_u64().unwrap(), "{name}: truncation");

        let opts = ScoreOptions { max_input_tokens: max, ..ScoreOptions::default() };
        let got = model.classify(text, &prepared, &opts).unwrap();
        let want: Vec<f64> = case["logprobs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(got.logprobs.len(), want.len(), "{name}");
        for (i, (g, w)) in got.logprobs.iter().zip(&want).enumerate() {
            let diff = (g - w).abs();
            worst = worst.max(diff);
            assert!(diff <= TOLERANCE, "{name}: label {:?}: engine {g}, PyTorch {w}, diff {diff:e}", labels[i]);
        }
        assert_eq!(labels[got.best], labels[zeroshot::classify::argmax_first(&want)], "{name}: answer");
        scores.push(got.logprobs);
    }
    eprintln!(
        "parity ({}, {:?}): {} cases, largest difference {worst:e}",
        model.score_outputs().name(),
        model.loaded_graphs(),
        cases.len()
    );
    scores
}

#[test]
fn truncation_cases_really_truncate() {
    let cases = reference();
    let truncated =
        cases.iter().filter(|c| c["kept_chars"].as_u64().unwrap() < c["text"].as_str().unwrap().chars().count() as u64);
    assert!(truncated.count() >= 2, "the suite must exercise truncation");
}
