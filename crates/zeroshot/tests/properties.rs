//! Properties of the scorer over random label sets: the answer is always one of the
//! labels, the scores are a distribution, and the trie paths give what plain per-label
//! teacher forcing gives: the one-pass tree graph (whole, and cut into parts of a few rows),
//! and the step decoder (shared prefixes, KV cache, one batched step per depth).
mod common;

use std::cell::RefCell;

use proptest::prelude::*;
use zeroshot::{Model, ScoreMode, ScoreOptions};

thread_local! {
    static MODEL: RefCell<Model> = RefCell::new(common::load());
    static STEPS: RefCell<Model> = RefCell::new(common::load_steps());
}

/// Same scores: the tree graph and the step decoder compute the same sums in other orders.
const SAME: f64 = 1e-5;

/// Characters the labels are drawn from: few, so that random labels share prefixes.
const CHARS: &[char] = &['物', '流', '问', '题', '商', '品', '质', '量', '好', '差', 'A', 'b', '😀', '售', '后'];

fn label() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS), 1..6).prop_map(|cs| cs.into_iter().collect())
}

fn label_set(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(label(), 1..max).prop_map(|s| s.into_iter().collect::<Vec<_>>()).prop_shuffle()
}

fn check(labels: &[String], text: &str) -> Result<(), TestCaseError> {
    MODEL.with(|m| {
        let mut model = m.borrow_mut();
        let prepared = model.labels(labels, 4096).unwrap();
        let opts = ScoreOptions { max_input_tokens: 4096, ..ScoreOptions::default() };
        let c = model.classify(text, &prepared, &opts).unwrap();
        prop_assert!(model.scores_in_one_pass());
        // The tree cut in two or three parts (each repeats its ancestors), as zs.batch_rows cuts
        // a wide trie (or, where that takes more parts than levels, the step decoder); and the
        // step decoder, level by level.
        let rows = prepared.trie().levels().len().max(prepared.trie().decoder_rows().div_ceil(2));
        let parts = ScoreOptions { runs: zeroshot::RunLimits { max_rows: rows, ..opts.runs }, ..opts.clone() };
        let cut = model.classify(text, &prepared, &parts).unwrap();
        let stepped = STEPS.with(|s| {
            let mut s = s.borrow_mut();
            let prepared = s.labels(labels, 4096).unwrap();
            s.classify(text, &prepared, &opts).unwrap()
        });
        for (i, l) in c.logprobs.iter().enumerate() {
            prop_assert!((l - cut.logprobs[i]).abs() < SAME, "{:?}: whole {} parts {}", labels[i], l, cut.logprobs[i]);
            prop_assert!(
                (l - stepped.logprobs[i]).abs() < SAME,
                "{:?}: tree {} steps {}",
                labels[i],
                l,
                stepped.logprobs[i]
            );
        }
        prop_assert!(c.best < labels.len());
        prop_assert_eq!(c.probs.len(), labels.len());
        prop_assert!((c.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        prop_assert!(c.logprobs.iter().all(|l| l.is_finite() && *l < 0.0));
        let best = c.logprobs[c.best];
        prop_assert!(c.logprobs.iter().all(|&l| l <= best));
        let plain = model.teacher_forced_logprobs(text, &prepared, opts.max_input_tokens).unwrap();
        for (i, (t, p)) in c.logprobs.iter().zip(&plain).enumerate() {
            prop_assert!((t - p).abs() < 1e-4, "label {:?}: trie {} plain {}", labels[i], t, p);
        }
        // Greedy mode: still a label, scored exactly as in exact mode, never above the best.
        let g = model.classify(text, &prepared, &ScoreOptions { mode: ScoreMode::Greedy, ..opts.clone() }).unwrap();
        prop_assert!(g.best < labels.len());
        prop_assert!((g.logprobs[g.best] - c.logprobs[g.best]).abs() < 1e-4);
        // Within float rounding: greedy runs its steps with other batch shapes.
        prop_assert!(g.logprobs[g.best] <= best + 1e-4);
        for (i, l) in g.logprobs.iter().enumerate() {
            prop_assert!(l.is_nan() || (l - c.logprobs[i]).abs() < 1e-4, "greedy scored {:?} as {}", labels[i], l);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_label_sets(labels in label_set(12), text in "[物流问题好差 a-z😀]{0,40}") {
        check(&labels, &text)?;
    }

    #[test]
    fn one_label(l in label(), text in "[物流问题好差]{0,20}") {
        check(&[l], &text)?;
    }
}

#[test]
fn more_than_a_hundred_labels() {
    let labels: Vec<String> = (0..130).map(|i| format!("类别{i}")).collect();
    check(&labels, "这个应用很好用").unwrap();
}

#[test]
fn two_hundred_labels() {
    let labels: Vec<String> = (0..200).map(|i| format!("{}{}", CHARS[i % CHARS.len()], i)).collect();
    check(&labels, "物流太慢了，商品质量还好").unwrap();
}

#[test]
fn labels_that_are_prefixes_of_each_other() {
    check(&common::strings(&["物", "物流", "物流问", "物流问题", "物流问题很多"]), "快递太慢").unwrap();
}
