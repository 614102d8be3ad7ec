//! Every call gives back ONNX Runtime's free arena memory when it ends: its last run asks for
//! the arenas to be shrunk, whichever path the call takes (README, "Memory"; tests/safety
//! measures what a backend holds after calls). `Model::keep_arenas` keeps that memory from call
//! to call instead, with the same scores.
mod common;

use zeroshot::{Model, ScoreMode, ScoreOptions};

/// One call of each kind the engine has, each checked as it ends; returns every call's
/// log-probabilities, as bits (greedy mode's unscored labels are NaN).
fn calls(model: &mut Model, keep: bool) -> Vec<Vec<u64>> {
    let (labels, texts) = common::workload_87(3);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let prepared = model.labels(&labels, 1024).unwrap();
    let exact = ScoreOptions { max_input_tokens: 1024, ..ScoreOptions::default() };
    let split = ScoreOptions { runs: zeroshot::RunLimits { max_rows: 3, ..exact.runs }, ..exact.clone() };
    let greedy = ScoreOptions { mode: ScoreMode::Greedy, ..exact.clone() };
    let mut scores = Vec::new();
    let mut check = |what: &str, logprobs: Vec<Vec<f64>>, model: &Model| {
        assert_eq!(model.last_run_shrank(), !keep, "{what}: did the call's last run shrink the arenas?");
        scores.extend(logprobs.into_iter().map(|l| l.iter().map(|x| x.to_bits()).collect::<Vec<_>>()));
    };
    for (what, opts) in [("exact", &exact), ("exact, a level split into steps", &split), ("greedy", &greedy)] {
        let c = model.classify(texts[0], &prepared, opts).unwrap();
        check(what, vec![c.logprobs], model);
    }
    for (what, opts) in [("exact, several texts", &exact), ("greedy, several texts", &greedy)] {
        let cs = model.classify_many(&texts, &prepared, opts).unwrap();
        check(what, cs.into_iter().map(|c| c.logprobs).collect(), model);
    }
    scores
}

/// With the tree graph (exact mode in one pass; the split and greedy calls open the step
/// graphs) and without it.
#[test]
fn every_call_ends_by_shrinking_the_arenas_unless_told_to_keep_them() {
    for mut model in [common::load(), common::load_steps()] {
        let returned = calls(&mut model, false);
        assert!(model.loaded_graphs().contains(&"decoder_cache_gather.onnx"));
        model.keep_arenas(true);
        let kept = calls(&mut model, true);
        assert_eq!(returned, kept, "keeping the arenas changed the scores");
    }
}

/// The same with the engine's host gather (a model without the cache gather graph).
#[test]
fn calls_without_the_gather_graph_shrink_the_arenas_too() {
    let copy = common::model_copy("arenas-no-gather", &["decoder_cache_gather.onnx", "manifest.json"]);
    let mut model = Model::load(&copy.0, &common::step_options()).unwrap();
    assert!(!model.loaded_graphs().contains(&"decoder_cache_gather.onnx"));
    let returned = calls(&mut model, false);
    model.keep_arenas(true);
    assert_eq!(returned, calls(&mut model, true), "keeping the arenas changed the scores");
}
