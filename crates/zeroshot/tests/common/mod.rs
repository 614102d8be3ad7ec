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
    LoadOptions { library: library(), device: Device::Cpu, cuda_device_id: 0, threads: 1, verify_checksums: true, fused_scores: true, share_weights: false }
}

pub fn load() -> Model {
    Model::load(&model_dir(), &options()).expect("the test model loads")
}

pub fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}
