//! The fast paths give the reference path's scores, with the shapes the README's "How it scores"
//! describes. The tests of the step decoder load the model with `common::step_options()`
//! (exact mode level by level, as without the tree graph); tests/tree_pass.rs has the tree's.
mod common;

use zeroshot::{ScoreMode, ScoreOptions};

#[test]
fn our_export_has_the_fused_outputs_and_they_are_used() {
    let model = common::load();
    assert_eq!(model.score_outputs().name(), "fused");
}

/// The cross-attention keys/values reach ONNX Runtime with batch 1 however many trie nodes
/// a step scores: never copied per label. The self-attention cache has one row per node.
#[test]
fn cross_attention_cache_is_never_expanded_per_label() {
    let mut model = common::load_steps();
    let labels = common::strings(&["物流", "物流问题", "商品质量", "售后体验", "价格争议"]);
    let prepared = model.labels(&labels, 4096).unwrap();
    model.record_input_shapes(true);
    model.classify("快递三天了还没到", &prepared, &ScoreOptions::default()).unwrap();
    let runs = model.input_shapes().to_vec();
    assert_eq!(
        runs.len(),
        prepared.trie().levels().len() - 1,
        "one decoder-with-past run per trie depth below the root"
    );
    let mut widest = 0;
    let prompt_len = model.prompt_ids("快递三天了还没到", &prepared, 512).unwrap().ids.len();
    for (depth, run) in runs.iter().enumerate() {
        let batch = run.iter().find(|(n, _)| n == "input_ids").unwrap().1[0];
        assert_eq!(batch, prepared.trie().levels()[depth + 1].len(), "rows = nodes with children at that depth");
        widest = widest.max(batch);
        for (name, shape) in run {
            if name.contains(".encoder.") {
                assert_eq!(shape[0], 1, "{name} {shape:?} at depth {}", depth + 1);
                assert_eq!(shape[2], prompt_len, "{name} covers the prompt");
            } else if name.contains(".decoder.") {
                assert_eq!(shape[0], batch, "{name} {shape:?}");
                assert_eq!(shape[2], depth + 1, "{name}: the past is as long as the depth");
            }
        }
    }
    assert!(widest >= 4, "the test must batch several nodes in one step (widest {widest})");
}

#[test]
fn greedy_mode_answers_with_a_label_and_scores_its_path() {
    let mut model = common::load();
    let labels = common::strings(&["物流", "物流问题", "商品质量", "售后体验"]);
    let prepared = model.labels(&labels, 4096).unwrap();
    let exact = model.classify("快递太慢", &prepared, &ScoreOptions::default()).unwrap();
    model.record_input_shapes(true);
    let greedy = model
        .classify("快递太慢", &prepared, &ScoreOptions { mode: ScoreMode::Greedy, ..ScoreOptions::default() })
        .unwrap();
    assert!(greedy.best < labels.len());
    assert!((greedy.logprobs[greedy.best] - exact.logprobs[greedy.best]).abs() < 1e-4);
    assert!((greedy.probs[greedy.best] - greedy.logprobs[greedy.best].exp()).abs() < 1e-12);
    // Only the labels on the path are scored, and greedy runs one row per step.
    assert!(greedy.logprobs.iter().any(|l| l.is_nan()));
    assert!(model.input_shapes().iter().all(|run| run[0].1[0] == 1));
}

/// Several texts in one run: the decoder steps once per depth for all of them, with one
/// cross-attention row per text (never per node) and the nodes of each text, text-major.
#[test]
fn texts_share_decoder_steps_without_copying_cross_attention() {
    let mut model = common::load_steps();
    assert!(model.batches_texts(), "our export writes the grouped decoder");
    let labels = common::strings(&["物流", "物流问题", "商品质量", "售后体验", "价格争议"]);
    let prepared = model.labels(&labels, 4096).unwrap();
    let texts = ["快递三天了还没到", "质量很差，用了两天就坏了，客服也不理人", "好"];
    let longest = texts.iter().map(|t| model.prompt_ids(t, &prepared, 512).unwrap().ids.len()).max().unwrap();
    model.record_input_shapes(true);
    let results = model.classify_many(&texts, &prepared, &ScoreOptions::default()).unwrap();
    assert_eq!(results.len(), texts.len());
    let runs = model.input_shapes().to_vec();
    assert_eq!(
        runs.len(),
        prepared.trie().levels().len() - 1,
        "one decoder-with-past run per depth for all three texts"
    );
    for (depth, run) in runs.iter().enumerate() {
        let rows = run.iter().find(|(n, _)| n == "input_ids").unwrap().1[0];
        assert_eq!(rows, texts.len() * prepared.trie().levels()[depth + 1].len());
        for (name, shape) in run {
            if name.contains(".encoder.") {
                assert_eq!(shape[0], texts.len(), "{name} {shape:?}: one row per text");
                assert_eq!(shape[2], longest, "{name}: padded to the longest prompt");
            } else if name.contains(".decoder.") {
                assert_eq!(shape[0], rows, "{name} {shape:?}");
            }
        }
    }
    // The row limit splits the texts into runs, and (at one row) each text's levels into
    // one-row steps; the results do not depend on it.
    model.record_input_shapes(true);
    let one_at_a_time =
        ScoreOptions { runs: zeroshot::RunLimits { max_rows: 1, ..Default::default() }, ..ScoreOptions::default() };
    let single = model.classify_many(&texts, &prepared, &one_at_a_time).unwrap();
    let rows_per_text: usize = prepared.trie().levels()[1..].iter().map(Vec::len).sum();
    assert_eq!(model.input_shapes().len(), texts.len() * rows_per_text);
    assert!(model.input_shapes().iter().all(|run| run[0].1[0] == 1), "one row per step");
    for (a, b) in results.iter().zip(&single) {
        assert_eq!(a.best, b.best);
        assert!(
            a.logprobs.iter().zip(&b.logprobs).all(|(x, y)| (x - y).abs() < 1e-5),
            "{:?} {:?}",
            a.logprobs,
            b.logprobs
        );
    }
}

/// Greedy mode batches texts with the root step through our cross-KV graph or through
/// decoder_model.onnx (as a plain Optimum export has it), fused output or full logits: one
/// row per text per step (a text whose path ended rides along), the same answers and path
/// scores as one text at a time.
#[test]
fn greedy_mode_batches_texts_with_any_export() {
    let without_cross = common::model_copy("greedy-nocross", &["decoder_cross_kv.onnx", "manifest.json"]);
    for dir in [common::model_dir(), without_cross.0.clone()] {
        let mut opts = common::options();
        opts.fused_scores = dir == common::model_dir();
        let mut model = zeroshot::Model::load(&dir, &opts).unwrap();
        let labels = common::strings(&["A", "很长的一个标签名字", "中"]);
        let prepared = model.labels(&labels, 4096).unwrap();
        let texts = ["快递三天了还没到", "质量很差，用了两天就坏了，客服也不理人", "好", "退货很顺利"];
        let greedy = ScoreOptions { mode: ScoreMode::Greedy, ..ScoreOptions::default() };
        model.record_input_shapes(true);
        let batch = model.classify_many(&texts, &prepared, &greedy).unwrap();
        let runs = model.input_shapes().to_vec();
        assert!(!runs.is_empty());
        for run in &runs {
            for (name, shape) in run {
                if name == "input_ids" || name.contains(".encoder.") {
                    assert_eq!(shape[0], texts.len(), "{dir:?} {name} {shape:?}: one row per text");
                }
            }
        }
        // With the fixture's weights the paths end at different depths ("中" and the long
        // label), so a text rides along after its path ended: the case this test is for.
        let answers: Vec<&str> = batch.iter().map(|c| labels[c.best].as_str()).collect();
        assert!(answers.contains(&"中") && answers.contains(&"很长的一个标签名字"), "{dir:?}: {answers:?}");
        for (text, b) in texts.iter().zip(&batch) {
            let one = model.classify(text, &prepared, &greedy).unwrap();
            assert_eq!(b.best, one.best, "{dir:?} {text}");
            for (x, y) in b.logprobs.iter().zip(&one.logprobs) {
                assert_eq!(x.is_nan(), y.is_nan(), "{dir:?} {text}: the same labels are scored");
                assert!(x.is_nan() || (x - y).abs() < 1e-5, "{dir:?} {text}: {x} against {y}");
            }
        }
    }
}

/// A decoder-with-past graph without our export's grouped mark (as Optimum writes it) is
/// never given several texts at once: exact mode scores one text per run.
#[test]
fn an_unmarked_decoder_scores_one_text_per_run() {
    let copy = common::model_copy("unmarked", &["manifest.json"]);
    let path = copy.0.join("decoder_with_past_model.onnx");
    let mut bytes = std::fs::read(&path).unwrap();
    // The metadata entry's value, "1", follows its key (protobuf field 2, length 1).
    let mark = b"pg_zeroshot.grouped_cross_attention\x12\x011";
    let at = bytes.windows(mark.len()).position(|w| w == mark).expect("our export marks the graph");
    bytes[at + mark.len() - 1] = b'0';
    std::fs::write(&path, bytes).unwrap();
    let mut model = zeroshot::Model::load(&copy.0, &common::step_options()).unwrap();
    assert!(!model.batches_texts());
    let labels = common::strings(&["物流", "物流问题", "商品质量", "售后体验", "价格争议"]);
    let prepared = model.labels(&labels, 4096).unwrap();
    let texts = ["快递三天了还没到", "质量很差，用了两天就坏了，客服也不理人", "好"];
    model.record_input_shapes(true);
    let batch = model.classify_many(&texts, &prepared, &ScoreOptions::default()).unwrap();
    let depths = prepared.trie().levels().len() - 1;
    assert_eq!(model.input_shapes().len(), texts.len() * depths, "one run per text");
    for run in model.input_shapes() {
        for (name, shape) in run {
            if name.contains(".encoder.") {
                assert_eq!(shape[0], 1, "{name} {shape:?}");
            }
        }
    }
    for (text, b) in texts.iter().zip(&batch) {
        assert_eq!(b, &model.classify(text, &prepared, &ScoreOptions::default()).unwrap(), "{text}");
    }
}

/// Host traffic per text (bytes fed from host buffers plus bytes read back) for the
/// benchmark's 87 labels in exact mode, one text per call and all texts in one call.
fn host_bytes_per_text(model: &mut zeroshot::Model) -> (u64, u64) {
    let (labels, texts) = common::workload_87(8);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let prepared = model.labels(&labels, 1024).unwrap();
    let opts = ScoreOptions { max_input_tokens: 1024, ..ScoreOptions::default() };
    model.take_host_bytes();
    for text in &texts {
        model.classify(text, &prepared, &opts).unwrap();
    }
    let single = model.take_host_bytes() / texts.len() as u64;
    model.classify_many(&texts, &prepared, &opts).unwrap();
    let batched = model.take_host_bytes() / texts.len() as u64;
    (single, batched)
}

/// With the cache gather graph our export writes, the decoder's self-attention cache stays in
/// ONNX Runtime between steps (on a GPU: on the device): under 64 KB per text cross between
/// host memory and ONNX Runtime. Without it the engine gathers the cache on the host, and
/// the same scoring moves several times more.
#[test]
fn the_cache_stays_in_onnx_runtime_with_the_gather_graph() {
    let mut model = common::load_steps();
    assert!(model.loaded_graphs().contains(&"decoder_cache_gather.onnx"));
    let (single, batched) = host_bytes_per_text(&mut model);
    assert!(single < 64 << 10, "{single} bytes per text, one text per call");
    assert!(batched < 64 << 10, "{batched} bytes per text, texts batched");

    let copy = common::model_copy("no-gather", &["decoder_cache_gather.onnx", "manifest.json"]);
    let mut host_gather = zeroshot::Model::load(&copy.0, &common::step_options()).unwrap();
    assert!(!host_gather.loaded_graphs().contains(&"decoder_cache_gather.onnx"));
    let (host_single, _) = host_bytes_per_text(&mut host_gather);
    assert!(host_single > 2 * single, "host gather {host_single} bytes per text, gather graph {single}");
    eprintln!("host bytes per text: {single} (batched {batched}) with the gather graph, {host_single} without");
}

/// The gather graph computes what the host gather does: the same scores either way.
#[test]
fn the_gather_graph_gives_the_host_gathers_scores() {
    let (labels, texts) = common::workload_87(4);
    let text = texts[3].as_str();
    let opts = ScoreOptions { max_input_tokens: 1024, ..ScoreOptions::default() };
    let mut model = common::load_steps();
    let prepared = model.labels(&labels, 1024).unwrap();
    let with_graph = model.classify(text, &prepared, &opts).unwrap();
    let copy = common::model_copy("no-gather-scores", &["decoder_cache_gather.onnx", "manifest.json"]);
    let mut host = zeroshot::Model::load(&copy.0, &common::step_options()).unwrap();
    let on_host = host.classify(text, &prepared, &opts).unwrap();
    assert_eq!(with_graph.logprobs, on_host.logprobs);
}

/// One text whose trie level is wider than `max_rows` is scored in steps of at most that
/// many rows (bounded memory, and runs a cancel can stop between), with the scores of one
/// step within float rounding and the same answer.
#[test]
fn a_level_wider_than_max_rows_is_split_into_steps_with_the_same_scores() {
    let (labels, texts) = common::workload_87(3);
    let mut model = common::load_steps();
    let prepared = model.labels(&labels, 1024).unwrap();
    let widest = prepared.trie().levels().iter().map(Vec::len).max().unwrap();
    assert!(widest > 8, "the test needs a wide level ({widest})");
    let whole = ScoreOptions { max_input_tokens: 1024, ..ScoreOptions::default() };
    let split = ScoreOptions { runs: zeroshot::RunLimits { max_rows: 3, ..whole.runs }, ..whole.clone() };
    for text in &texts {
        let a = model.classify(text, &prepared, &whole).unwrap();
        let b = model.classify(text, &prepared, &split).unwrap();
        let worst = a.logprobs.iter().zip(&b.logprobs).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "{worst:e}");
        assert_eq!(a.best, b.best);
    }
}
