//! The `zeroshot` binary, run as a user would, on the committed tiny model and the
//! FewCLUE test sets in data/fewclue.
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn zeroshot(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zeroshot"))
        .args(args)
        .arg("--model-dir")
        .arg(repo().join("tests/fixtures/tiny-mt5"))
        .output()
        .expect("run zeroshot");
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(out.status.success(), "zeroshot {args:?} failed: {stderr}");
    (stdout, stderr)
}

#[test]
fn classify_prints_one_of_the_labels_per_text() {
    let labels = ["物流问题", "商品质量", "售后体验"];
    let (out, err) = zeroshot(&["classify", "--labels", "物流问题, 商品质量,售后体验", "快递太慢了", "质量很好"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for line in lines {
        let (label, score) = line.split_once('\t').unwrap();
        assert!(labels.contains(&label), "{line}");
        let p: f64 = score.parse().unwrap();
        assert!(p > 1.0 / 3.0 - 1e-9 && p <= 1.0, "{line}");
    }
    assert!(err.contains("random weights"), "the test model must be flagged: {err}");
}

#[test]
fn classify_json_has_a_distribution() {
    let (out, _) = zeroshot(&["classify", "--json", "--labels", "正面,负面", "还不错"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let sum: f64 = v["scores"].as_object().unwrap().values().map(|p| p.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    assert!(["正面", "负面"].contains(&v["label"].as_str().unwrap()));
}

/// The evaluation smoke test: near-chance accuracy is expected from random weights; the
/// share of answers inside the label set must be 100%.
#[test]
fn eval_smoke_on_fewclue() {
    let data = repo().join("data/fewclue");
    assert!(data.is_dir(), "FewCLUE data expected at {}", data.display());
    let json = std::env::temp_dir().join(format!("zs-eval-{}.json", std::process::id()));
    let (out, _) = zeroshot(&[
        "eval",
        "--task",
        "eprstmt,tnews,iflytek,csldcp",
        "--limit",
        "40",
        "--max-input-tokens",
        "1024",
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.starts_with("| set | rows | labels | accuracy | macro-F1 | in-label | rows/s |"), "{out}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(r["rows"], 40);
        assert_eq!(r["in_label_share"], 1.0, "{r}");
        let acc = r["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
    }
    assert_eq!(results[0]["labels"], 2);
    assert_eq!(results[1]["labels"], 15);
    assert_eq!(doc["random_weights"], true);
    std::fs::remove_file(json).ok();
}

#[test]
fn bench_reports_every_configuration() {
    let json = std::env::temp_dir().join(format!("zs-bench-{}.json", std::process::id()));
    let workload = repo().join("bench/workload.json");
    let (out, _) = zeroshot(&[
        "bench",
        "--workload",
        workload.to_str().unwrap(),
        "--texts",
        "4",
        "--warmup",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.starts_with("| labels | mode | texts | p50 ms | p95 ms | rows/s |"), "{out}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 12, "3 label sets x (exact, exact_batch, greedy, greedy_batch)");
    assert!(doc["graphs"].as_array().unwrap().iter().any(|g| g == "decoder_cache_gather.onnx"), "{doc}");
    assert_eq!(doc["keep_arenas"], false, "a backend's way is the default");
    for r in results {
        assert!(r["rows_per_s"].as_f64().unwrap() > 0.0);
        // The self-attention cache stays in ONNX Runtime: one text per call, only ids, masks
        // and scores cross; the one tree pass of exact mode adds its nodes × nodes mask.
        // (Batches of texts of different lengths still pad their encoder output or
        // cross-attention keys/values on the host, README "CUDA".)
        let host = r["host_bytes_per_text"].as_u64().unwrap();
        assert!(host > 0, "{r}");
        let mode = r["mode"].as_str().unwrap();
        if !mode.ends_with("_batch") {
            let nodes = r["decoder_rows_per_text"].as_u64().unwrap();
            let mask = if mode == "exact" && doc["one_pass"] == true { nodes * nodes } else { 0 };
            assert!(host < (64 << 10) + mask, "{r}");
        }
        if mode == "exact" {
            assert_eq!(r["ort_runs_per_text"], 2.0, "the encoder and one tree pass: {r}");
        }
        if r["mode"].as_str().unwrap().ends_with("_batch") {
            assert_eq!(r["batches_texts"], true, "the test model's texts share runs");
            assert_eq!(r["batch"], 16);
        } else {
            assert!(r["p50_ms"].as_f64().unwrap() <= r["p95_ms"].as_f64().unwrap());
        }
    }
    std::fs::remove_file(json).ok();
}

#[test]
fn bench_keeps_the_arenas_when_asked() {
    let json = std::env::temp_dir().join(format!("zs-bench-keep-{}.json", std::process::id()));
    let workload = repo().join("bench/workload.json");
    let args = ["bench", "--workload", workload.to_str().unwrap(), "--label-sets", "5", "--modes", "exact"];
    zeroshot(
        &[&args[..], &["--texts", "2", "--warmup", "0", "--keep-arenas", "--json", json.to_str().unwrap()]].concat(),
    );
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["keep_arenas"], true, "{doc}");
    // Pages first touched per text (Linux): what returning the arenas after every call costs.
    assert!(doc["results"][0]["minor_faults_per_text"].is_u64(), "{doc}");
    assert_eq!(doc["results"].as_array().unwrap().len(), 2, "exact and exact_batch: {doc}");
    std::fs::remove_file(json).ok();
}
