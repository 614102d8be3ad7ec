//! The fp16 export (tools/export_model.py --precision fp16), whose graphs pass the encoder
//! output and the caches to each other in fp16: scored against PyTorch (float32 weights,
//! float64 log-softmax) within fp16's tolerance, and through every host path the engine has
//! for a cache (parent rows gathered on the host, encoder buckets and split levels stacked on
//! the host) with the scores of the paths that keep the cache in ONNX Runtime. The model is the
//! committed tiny one converted by tools/fp16_copy.py (`common::fp16_model_dir`).
mod common;

use serde_json::Value;
use zeroshot::host_tensors::CacheType;
use zeroshot::{Model, ScoreOptions};

/// Label probabilities (softmax over the labels' log-probabilities), as the export check
/// compares fp16 (tools/export_check.py: 1e-2).
const PROB_TOLERANCE: f64 = 1e-2;

fn load_fp16() -> Model {
    Model::load(&common::fp16_model_dir(), &common::options()).expect("the fp16 test model loads")
}

/// The fp16 model decoding exact mode level by level (`common::step_options`).
fn load_fp16_steps() -> Model {
    Model::load(&common::fp16_model_dir(), &common::step_options()).expect("the fp16 test model loads")
}

fn labels_of(case: &Value) -> Vec<String> {
    case["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

fn reference_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(common::fixtures().join("reference_scores.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    // Label sets the engine refuses (equal after normalisation) are left out, as in parity.rs.
    doc["cases"].as_array().unwrap().iter().filter(|c| c["name"] != "fullwidth_equal_labels").cloned().collect()
}

fn largest_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn the_fp16_export_passes_its_caches_in_fp16() {
    let model = load_fp16();
    assert_eq!(model.cache_type(), CacheType::F16);
    assert_eq!(model.loaded_graphs(), ["encoder_model.onnx", "decoder_tree_model.onnx"]);
    assert_eq!(common::load().cache_type(), CacheType::F32);
    let steps = load_fp16_steps();
    assert_eq!(steps.cache_type(), CacheType::F16);
    assert!(steps.loaded_graphs().contains(&"decoder_cache_gather.onnx"), "{:?}", steps.loaded_graphs());
}

#[test]
fn fp16_label_probabilities_match_pytorch() {
    for model in [load_fp16(), load_fp16_steps()] {
        fp16_matches_pytorch(model);
    }
}

fn fp16_matches_pytorch(mut model: Model) {
    let (mut worst_prob, mut worst_logprob) = (0f64, 0f64);
    let cases = reference_cases();
    assert!(cases.len() >= 20);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let labels = labels_of(case);
        let max = case["max_input_tokens"].as_u64().unwrap() as usize;
        let prepared = model.labels(&labels, 4096).unwrap();
        let opts = ScoreOptions { max_input_tokens: max, ..ScoreOptions::default() };
        let got = model.classify(case["text"].as_str().unwrap(), &prepared, &opts).unwrap();
        let want: Vec<f64> = case["logprobs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(got.logprobs.iter().all(|x| x.is_finite()), "{name}: {:?}", got.logprobs);
        let prob = largest_difference(
            &zeroshot::classify::softmax(&got.logprobs, 1.0),
            &zeroshot::classify::softmax(&want, 1.0),
        );
        assert!(prob <= PROB_TOLERANCE, "{name}: label probabilities differ from PyTorch's by {prob:e}");
        worst_prob = worst_prob.max(prob);
        worst_logprob = worst_logprob.max(largest_difference(&got.logprobs, &want));
    }
    eprintln!(
        "fp16 parity ({:?}): {} cases, |Δprob| ≤ {worst_prob:e}, |Δlog-prob| ≤ {worst_logprob:e}",
        model.loaded_graphs(),
        cases.len()
    );
}

/// The paths that bring an fp16 cache to the host (several encoder buckets stacked, a wide
/// level split into steps, parent rows gathered without the gather graph) give the scores
/// of the paths that keep it in ONNX Runtime, and under 64 KB per text cross to the host
/// with the gather graph, as with float32.
#[test]
fn fp16_caches_take_every_host_path_with_the_same_scores() {
    let (labels, texts) = common::workload_87(6);
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut model = load_fp16_steps();
    let prepared = model.labels(&labels, 1024).unwrap();
    let whole = ScoreOptions { max_input_tokens: 1024, ..ScoreOptions::default() };
    model.take_host_bytes();
    let single: Vec<_> = texts.iter().map(|t| model.classify(t, &prepared, &whole).unwrap()).collect();
    let per_text = model.take_host_bytes() / texts.len() as u64;
    assert!(per_text < 64 << 10, "{per_text} bytes per text");

    // Several texts of different lengths: encoded in buckets, stacked on the host.
    let batch = model.classify_many(&texts, &prepared, &whole).unwrap();
    // One text's widest level in steps of 3 rows, joined on the host.
    let split = ScoreOptions { runs: zeroshot::RunLimits { max_rows: 3, ..whole.runs }, ..whole.clone() };
    let copy = common::model_copy_of(
        &common::fp16_model_dir(),
        "fp16-no-gather",
        &["decoder_cache_gather.onnx", "manifest.json"],
    );
    let mut host_gather = Model::load(&copy.0, &common::step_options()).unwrap();
    assert_eq!(host_gather.cache_type(), CacheType::F16);
    for (i, text) in texts.iter().enumerate() {
        let stepped = model.classify(text, &prepared, &split).unwrap();
        let gathered = host_gather.classify(text, &prepared, &whole).unwrap();
        assert_eq!(gathered.logprobs, single[i].logprobs, "the host gather picks the rows the gather graph does");
        // fp16 kernels over other shapes round differently: within fp16 rounding.
        for (what, other) in [("batch", &batch[i]), ("split level", &stepped)] {
            let worst = largest_difference(&other.logprobs, &single[i].logprobs);
            assert!(worst < 0.05, "{what}: {worst:e} from one text per call");
        }
        assert_eq!(stepped.best, single[i].best);
    }
}

/// A model directory whose graphs disagree on the element type of the values they pass (an
/// fp32 graph beside fp16 ones) fails when the graph is opened, naming the file: at load for
/// the tree graph and for the step graphs without it, at the first call that opens the step
/// graphs with it.
#[test]
fn graphs_of_two_precisions_do_not_load_together() {
    for fp32_file in ["decoder_cache_gather.onnx", "decoder_tree_model.onnx"] {
        let copy = common::model_copy_of(&common::fp16_model_dir(), "fp16-mixed", &[fp32_file, "manifest.json"]);
        std::fs::copy(common::model_dir().join(fp32_file), copy.0.join(fp32_file)).unwrap();
        // The committed model's graphs read their weights from shared_weights.bin beside them.
        std::fs::copy(common::model_dir().join("shared_weights.bin"), copy.0.join("shared_weights.bin")).unwrap();
        let err = Model::load(&copy.0, &common::step_options())
            .and_then(|_| Model::load(&copy.0, &common::options()))
            .err()
            .expect("mixed precisions must not load");
        let text = err.to_string();
        assert!(text.contains(fp32_file) && text.contains("float16"), "{text}");
        if fp32_file == "decoder_cache_gather.onnx" {
            // The tree graph loads; greedy mode opens the step graphs, and fails there.
            let mut model = Model::load(&copy.0, &common::options()).unwrap();
            let prepared = model.labels(&common::strings(&["正面", "负面"]), 512).unwrap();
            let greedy = ScoreOptions { mode: zeroshot::ScoreMode::Greedy, ..ScoreOptions::default() };
            let text = model.classify("很好", &prepared, &greedy).unwrap_err().to_string();
            assert!(text.contains(fp32_file) && text.contains("float16"), "{text}");
        }
    }
}
