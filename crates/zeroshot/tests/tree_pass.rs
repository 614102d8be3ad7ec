//! Exact mode in one decoder pass through the tree graph (README, "How it scores"): how many
//! ONNX Runtime runs a call takes, the row bound every run keeps, what a trie wider or deeper
//! than that bound does, and that the step graphs are opened only when something needs them.
//! The scores themselves are checked against PyTorch in tests/parity.rs and tests/fp16.rs, and
//! against teacher forcing and the step decoder in tests/properties.rs.
mod common;

use zeroshot::{RunLimits, ScoreMode, ScoreOptions};

const SAME: f64 = 1e-5;

fn largest_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// One text, any number of labels that fits a run: the encoder and one tree run, where the
/// step decoder takes the encoder, the cross-attention graph and a decoder run per trie level
/// with a cache gather between two.
#[test]
fn a_text_takes_two_runs_whatever_the_number_of_labels() {
    let (labels_87, texts) = common::workload_87(2);
    let mut tree = common::load();
    let mut steps = common::load_steps();
    for labels in [common::strings(&["物流问题", "商品质量", "售后体验", "物流", "价格"]), labels_87] {
        let prepared = tree.labels(&labels, 1024).unwrap();
        assert!(prepared.trie().decoder_rows() <= RunLimits::DEFAULT_MAX_ROWS, "the trie must fit one run");
        let opts = ScoreOptions { max_input_tokens: 1024, ..ScoreOptions::default() };
        tree.take_run_count();
        let one_pass = tree.classify(&texts[0], &prepared, &opts).unwrap();
        assert_eq!(tree.take_run_count(), 2, "{} labels: the encoder and one tree run", labels.len());
        let prepared_steps = steps.labels(&labels, 1024).unwrap();
        steps.take_run_count();
        let stepped = steps.classify(&texts[0], &prepared_steps, &opts).unwrap();
        let levels = prepared.trie().levels().len() as u64;
        // The encoder, the cross-attention graph, a decoder run per level, and a cache gather
        // before each but the first (none where every row continues its own parent's).
        let runs = steps.take_run_count();
        assert!(runs >= 2 + levels && runs <= 2 * levels + 1, "{} labels: {runs} runs", labels.len());
        assert!(largest_difference(&one_pass.logprobs, &stepped.logprobs) <= SAME);
    }
}

/// Every tree run keeps texts × nodes within the row bound (zs.batch_rows), so no run takes
/// more logits than the bound allows; a trie wider than the bound is cut into parts, a batch of
/// texts into runs, and the scores stay the same.
#[test]
fn runs_keep_the_row_bound_with_the_same_scores() {
    let (labels, texts) = common::workload_87(6);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut model = common::load();
    let prepared = model.labels(&labels, 1024).unwrap();
    let nodes = prepared.trie().decoder_rows();
    let deepest = prepared.trie().levels().len();
    let whole = ScoreOptions {
        max_input_tokens: 1024,
        runs: RunLimits { max_rows: 0, ..RunLimits::default() },
        ..ScoreOptions::default()
    };
    let reference = model.classify_many(&texts, &prepared, &whole).unwrap();
    assert!(deepest < nodes / 2);
    // From two or three parts a text to several texts a run (smaller bounds take the step
    // decoder: tree_parts::fits_tree, and a_label_deeper_than_the_bound_takes_the_step_decoder).
    for max_rows in [nodes / 2, nodes / 2 + 7, nodes, 2 * nodes + 1, 4 * nodes] {
        let opts = ScoreOptions { runs: RunLimits { max_rows, ..RunLimits::default() }, ..whole.clone() };
        model.record_input_shapes(true);
        let got = model.classify_many(&texts, &prepared, &opts).unwrap();
        let runs = model.input_shapes().to_vec();
        model.record_input_shapes(false);
        let mut rows_scored = 0;
        for run in &runs {
            let ids = &run.iter().find(|(n, _)| n == "input_ids").unwrap().1;
            let mask = &run.iter().find(|(n, _)| n == "tree_mask").expect("a tree run").1;
            assert_eq!(mask, &vec![ids[1], ids[1]]);
            assert!(ids[0] * ids[1] <= max_rows, "max_rows {max_rows}: a run of {ids:?}");
            rows_scored += ids[0] * ids[1];
        }
        // Parts repeat their ancestors: a few rows more than the nodes, never a multiple.
        assert!(rows_scored >= nodes * texts.len() && rows_scored <= 2 * nodes * texts.len(), "{rows_scored}");
        if max_rows < nodes {
            assert!(runs.len() > texts.len(), "max_rows {max_rows}: the trie must be cut into parts");
        }
        if max_rows >= 2 * nodes {
            assert!(runs.len() < texts.len(), "max_rows {max_rows}: texts must share runs");
        }
        for (g, r) in got.iter().zip(&reference) {
            let worst = largest_difference(&g.logprobs, &r.logprobs);
            assert!(worst <= SAME, "max_rows {max_rows}: {worst:e} from one run for all");
            assert_eq!(g.best, r.best);
        }
    }
}

/// A label deeper than the row bound does not fit a tree run (a run holds every ancestor of
/// its nodes), nor does a trie that would be cut into more parts than it has levels: exact mode
/// takes the step decoder for it, opened then, with the same scores.
#[test]
fn a_label_deeper_than_the_bound_takes_the_step_decoder() {
    let mut model = common::load();
    assert_eq!(model.loaded_graphs(), ["encoder_model.onnx", "decoder_tree_model.onnx"]);
    let labels = common::strings(&["物流问题很多很多很多", "好"]);
    let prepared = model.labels(&labels, 512).unwrap();
    let deepest = prepared.trie().levels().len();
    assert!(deepest > 4, "the test needs a deep label ({deepest})");
    let whole = ScoreOptions::default();
    let one_pass = model.classify("快递太慢", &prepared, &whole).unwrap();
    assert!(!model.loaded_graphs().contains(&"decoder_with_past_model.onnx"));
    let shallow = ScoreOptions { runs: RunLimits { max_rows: deepest - 1, ..RunLimits::default() }, ..whole };
    let stepped = model.classify("快递太慢", &prepared, &shallow).unwrap();
    assert!(model.loaded_graphs().contains(&"decoder_with_past_model.onnx"), "{:?}", model.loaded_graphs());
    assert!(largest_difference(&one_pass.logprobs, &stepped.logprobs) <= SAME);
}

/// The step graphs (a second copy of the decoder's weights) are opened by what needs them:
/// greedy mode and generation; exact mode with the tree graph never opens them.
#[test]
fn the_step_graphs_open_on_first_use() {
    let mut model = common::load();
    let labels = common::strings(&["物流", "物流问题", "商品质量"]);
    let prepared = model.labels(&labels, 512).unwrap();
    let exact = model.classify("快递太慢", &prepared, &ScoreOptions::default()).unwrap();
    model.classify_many(&["快递太慢", "质量很好"], &prepared, &ScoreOptions::default()).unwrap();
    assert_eq!(model.loaded_graphs(), ["encoder_model.onnx", "decoder_tree_model.onnx"]);
    let greedy = ScoreOptions { mode: ScoreMode::Greedy, ..ScoreOptions::default() };
    let g = model.classify("快递太慢", &prepared, &greedy).unwrap();
    assert!((g.logprobs[g.best] - exact.logprobs[g.best]).abs() < 1e-4);
    assert!(model.loaded_graphs().contains(&"decoder_with_past_model.onnx"));

    let mut fresh = common::load();
    let opts = zeroshot::GenerateOptions { max_new_tokens: 4, ..zeroshot::GenerateOptions::default() };
    assert_eq!(fresh.generate("快递太慢", &opts).unwrap().tokens.len(), 1);
    assert!(fresh.loaded_graphs().contains(&"decoder_with_past_model.onnx"));
}
