//! Generation against PyTorch transformers on the same weights: greedy decoding token for
//! token, and sampled first tokens against the reference's softmax. The reference is
//! tests/fixtures/reference_generate.json, written by tools/reference_generate.py (PyTorch),
//! not by this code.
mod common;

use serde_json::Value;
use zeroshot::{GenerateOptions, Model, Sampling};

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(common::fixtures().join("reference_generate.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 6, "the generation reference must keep its cases");
    cases
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn greedy(case: &Value) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: case["max_new_tokens"].as_u64().unwrap() as usize,
        max_input_tokens: case.get("max_input_tokens").and_then(Value::as_u64).unwrap_or(512) as usize,
        ..GenerateOptions::default()
    }
}

fn check_greedy(model: &mut Model, what: &str) {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let got = model.generate(case["prompt"].as_str().unwrap(), &greedy(&case)).unwrap();
        let want: Vec<u32> = ints(&case["greedy"]).into_iter().map(|t| t as u32).collect();
        assert_eq!(got.input_tokens, case["input_ids"].as_array().unwrap().len(), "{what} {name}: prompt length");
        assert_eq!(got.tokens, vec![want.clone()], "{what} {name}: greedy tokens");
        assert_eq!(got.texts, vec![model.tokenizer().decode(&want).unwrap()], "{what} {name}");
    }
}

#[test]
fn greedy_equals_transformers_generate_token_for_token() {
    check_greedy(&mut common::load(), "our export");
}

/// A plain Optimum export: the root step through decoder_model.onnx, caches gathered on the host.
#[test]
fn greedy_equals_transformers_generate_with_a_plain_optimum_export() {
    let copy =
        common::model_copy("gen-plain", &["decoder_cross_kv.onnx", "decoder_cache_gather.onnx", "manifest.json"]);
    let mut model = Model::load(&copy.0, &common::options()).unwrap();
    check_greedy(&mut model, "plain export");
}

#[test]
fn greedy_outputs_are_n_copies_and_stop_at_the_limit() {
    let mut model = common::load();
    let opts = GenerateOptions { n: 3, max_new_tokens: 5, ..GenerateOptions::default() };
    let got = model.generate("好评，下次还来买", &opts).unwrap();
    assert_eq!(got.tokens.len(), 3);
    assert!(got.tokens.iter().all(|t| t == &got.tokens[0] && t.len() <= 5 && !t.is_empty()));
    // The call's last run returned the arenas' free memory (its caches were dropped before it).
    assert!(model.last_run_shrank());
}

fn sampled(model: &mut Model, prompt: &str, sampling: Sampling, n: usize, seed: u64, max_new: usize) -> Vec<Vec<u32>> {
    let opts = GenerateOptions { n, sampling, seed: Some(seed), max_new_tokens: max_new, ..GenerateOptions::default() };
    model.generate(prompt, &opts).unwrap().tokens
}

#[test]
fn a_seed_reproduces_the_samples_and_another_seed_does_not() {
    let mut model = common::load();
    let s = Sampling { temperature: 1.0, top_k: 50, top_p: 0.95 };
    let a = sampled(&mut model, "抽取关键词：\n物流很慢", s, 4, 42, 12);
    assert_eq!(a, sampled(&mut model, "抽取关键词：\n物流很慢", s, 4, 42, 12));
    assert_ne!(a, sampled(&mut model, "抽取关键词：\n物流很慢", s, 4, 43, 12));
    assert_eq!(a.len(), 4);
    // Four draws of 12 tokens from about 50 each: equal rows would mean the rows share draws.
    assert!(a.iter().any(|t| t != &a[0]), "{a:?}");
}

/// First tokens drawn `draws` times (calls of 16 outputs, one token each, seeds 0, 1, ...).
fn first_tokens(model: &mut Model, prompt: &str, sampling: Sampling, draws: usize) -> Vec<u32> {
    let mut tokens = Vec::with_capacity(draws);
    for seed in 0..draws.div_ceil(16) {
        tokens.extend(sampled(model, prompt, sampling, 16, seed as u64, 1).into_iter().map(|t| t[0]));
    }
    tokens
}

/// Checks that `tokens` are only `allowed` and that each one's share is its probability within
/// what chance allows: a share of N draws has standard deviation sqrt(p(1-p)/N); at z = 5.3 a
/// category of a correct sampler falls outside with probability about 1.2e-7, so the whole test
/// fails by chance with probability below 1e-6 for up to 8 categories (Bonferroni). The
/// reference's float64 probabilities and ONNX Runtime's float32 ones differ by about 1e-6,
/// far inside that.
fn check_frequencies(tokens: &[u32], allowed: &[u32], probs: &[f64]) {
    let n = tokens.len() as f64;
    for &t in tokens {
        assert!(allowed.contains(&t), "token {t} is outside {allowed:?}");
    }
    for (&token, &p) in allowed.iter().zip(probs) {
        let share = tokens.iter().filter(|&&t| t == token).count() as f64 / n;
        let tolerance = 5.3 * (p * (1.0 - p) / n).sqrt();
        assert!((share - p).abs() <= tolerance, "token {token}: share {share:.4}, probability {p:.4} ± {tolerance:.4}");
    }
}

fn softmax(logprobs: &[f64], temperature: f64) -> Vec<f64> {
    let w: Vec<f64> = logprobs.iter().map(|l| ((l - logprobs[0]) / temperature).exp()).collect();
    let total: f64 = w.iter().sum();
    w.into_iter().map(|x| x / total).collect()
}

#[test]
fn sampled_first_tokens_follow_the_reference_softmax_under_top_k_and_temperature() {
    let mut model = common::load();
    let case = &cases()[0];
    let prompt = case["prompt"].as_str().unwrap();
    let top: Vec<u32> = ints(&case["first"]["tokens"]).into_iter().map(|t| t as u32).collect();
    let logprobs: Vec<f64> =
        case["first"]["logprobs"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    // The tiny model's first tokens differ by a few hundredths in log-probability, so near 1
    // the temperature hardly moves their shares (top 4 of the first case: 0.26 0.25 0.25 0.24
    // at 1.0); at 0.05 they are 0.44 0.27 0.17 0.12, far beyond the tolerance of 4000 draws.
    for (k, temperature) in [(8usize, 1.0f64), (4, 0.05)] {
        let tokens = first_tokens(&mut model, prompt, Sampling { temperature, top_k: k, top_p: 1.0 }, 4000);
        check_frequencies(&tokens, &top[..k], &softmax(&logprobs[..k], temperature));
    }
}

#[test]
fn sampled_first_tokens_stay_in_the_nucleus_of_top_p() {
    let mut model = common::load();
    let case = &cases()[1];
    let prompt = case["prompt"].as_str().unwrap();
    let top: Vec<u32> = ints(&case["first"]["tokens"]).into_iter().map(|t| t as u32).collect();
    let p: Vec<f64> = case["first"]["logprobs"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap().exp()).collect();
    // Half way into the third token's probability: the nucleus is the first three tokens,
    // whatever float32 rounding does to the sums.
    let top_p = p[0] + p[1] + p[2] / 2.0;
    let tokens = first_tokens(&mut model, prompt, Sampling { temperature: 1.0, top_k: 0, top_p }, 4000);
    let kept = p[0] + p[1] + p[2];
    check_frequencies(&tokens, &top[..3], &[p[0] / kept, p[1] / kept, p[2] / kept]);
}

#[test]
fn bad_options_are_refused_before_any_run() {
    let mut model = common::load();
    let bad = [
        GenerateOptions { n: 0, ..GenerateOptions::default() },
        GenerateOptions { n: 5, max_rows: 4, ..GenerateOptions::default() },
        GenerateOptions { max_new_tokens: 0, ..GenerateOptions::default() },
        GenerateOptions {
            sampling: Sampling { temperature: -1.0, top_k: 0, top_p: 1.0 },
            ..GenerateOptions::default()
        },
        GenerateOptions {
            sampling: Sampling { temperature: f64::NAN, top_k: 0, top_p: 1.0 },
            ..GenerateOptions::default()
        },
        GenerateOptions { sampling: Sampling { temperature: 1.0, top_k: 0, top_p: 0.0 }, ..GenerateOptions::default() },
        GenerateOptions { sampling: Sampling { temperature: 1.0, top_k: 0, top_p: 1.5 }, ..GenerateOptions::default() },
    ];
    for opts in bad {
        match model.generate("好评", &opts) {
            Err(zeroshot::Error::InvalidOption(_)) => {}
            other => panic!("{opts:?}: {other:?}"),
        }
    }
}
