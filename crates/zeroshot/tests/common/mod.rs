//! Shared by the engine's integration tests: the committed test model and the ONNX
//! Runtime library. The library path comes from ORT_DYLIB_PATH (scripts/test sets it);
//! without it these tests fail and say so rather than pass without running.
#![allow(dead_code)]
use std::path::PathBuf;

use zeroshot::{Device, LoadOptions, Model};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

pub fn model_dir() -> PathBuf {
    fixtures().join("tiny-mt5")
}

pub fn library() -> PathBuf {
    zeroshot::runtime::library_from_env()
        .expect("set ORT_DYLIB_PATH to libonnxruntime.so.1.31.1 (scripts/test does; see README)")
}

pub fn options() -> LoadOptions {
    LoadOptions {
        library: library(),
        device: Device::Cpu,
        cuda_device_id: 0,
        cuda_tf32: true,
        cuda_mem_limit: 0,
        threads: 1,
        verify_checksums: true,
        fused_scores: true,
        share_weights: false,
        tree_pass: true,
    }
}

pub fn load() -> Model {
    Model::load(&model_dir(), &options()).expect("the test model loads")
}

/// `options()` with exact mode decoded level by level through the step graphs even where the
/// model has the tree graph: for the tests of that path (a plain Optimum export takes it, and
/// so does a label deeper than a run's row bound).
pub fn step_options() -> LoadOptions {
    LoadOptions { tree_pass: false, ..options() }
}

/// The test model with `step_options()`.
pub fn load_steps() -> Model {
    Model::load(&model_dir(), &step_options()).expect("the test model loads")
}

/// A scratch copy of the test model, without the files named in `except`, for tests that
/// break it; removed when the returned guard drops.
pub fn model_copy(tag: &str, except: &[&str]) -> ScratchDir {
    model_copy_of(&model_dir(), tag, except)
}

/// The fp16 export of the same weights: made from the committed model by tools/fp16_copy.py
/// into ZS_FP16_MODEL_DIR (scripts/test does); without it the fp16 tests fail and say so.
pub fn fp16_model_dir() -> PathBuf {
    let dir = std::env::var_os("ZS_FP16_MODEL_DIR")
        .map(PathBuf::from)
        .expect("set ZS_FP16_MODEL_DIR to the fp16 test model (scripts/test makes it with tools/fp16_copy.py)");
    assert!(dir.join("decoder_with_past_model.onnx").is_file(), "no fp16 test model in {}", dir.display());
    dir
}

/// `model_copy` of the model directory `src`.
pub fn model_copy_of(src: &std::path::Path, tag: &str, except: &[&str]) -> ScratchDir {
    let dir = std::env::temp_dir().join(format!("zs-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap();
        if !except.iter().any(|x| name == *x) {
            std::fs::copy(&p, dir.join(name)).unwrap();
        }
    }
    ScratchDir(dir)
}

pub struct ScratchDir(pub PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// The benchmark's 87-label set and its first `texts` texts (bench/workload.json).
pub fn workload_87(texts: usize) -> (Vec<String>, Vec<String>) {
    let path = fixtures().join("../../bench/workload.json");
    let w: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let strings = |v: &serde_json::Value, n: usize| -> Vec<String> {
        v.as_array().unwrap().iter().take(n).map(|x| x.as_str().unwrap().to_string()).collect()
    };
    (strings(&w["label_sets"]["87"], usize::MAX), strings(&w["texts"], texts))
}
