//! What decides how a model is loaded: the ONNX Runtime library, the device, threads and
//! the other options a change of which means loading again.
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// CUDA when its provider loads, else the CPU.
    Auto,
    Cpu,
    Cuda,
}

impl Device {
    /// The name `FromStr` reads back.
    pub fn name(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

impl FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Device> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            _ => Err(Error::InvalidOption(format!("device {s:?}: expected auto, cpu or cuda"))),
        }
    }
}

/// Everything that decides how a model is loaded; a change to any of it means a reload.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    pub library: PathBuf,
    pub device: Device,
    pub cuda_device_id: i32,
    /// TF32 tensor cores for fp32 matrix products on CUDA: much faster on Ampere and later,
    /// with about 10 bits of mantissa (scores move by up to 0.19 in log-probability at
    /// mT5-base size with random weights; 3.5e-4 with it off; answers agreed on 100% of rows).
    pub cuda_tf32: bool,
    /// Most GPU memory ONNX Runtime's CUDA arena may take, in bytes; 0 for no limit. The
    /// arena grows by what each request needs, not by powers of two.
    pub cuda_mem_limit: usize,
    /// Intra-op threads per session; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
    /// Check manifest.json's SHA-256 of every file before loading.
    pub verify_checksums: bool,
    /// Read scores from the `label_logprobs` output when the graphs have it
    /// (our export adds them); false forces full logits, as a plain Optimum export gives.
    pub fused_scores: bool,
    /// Load the ORT-format copies (`*.ort`, written by `export_model.py --ort-format`) from
    /// memory-mapped files, with ONNX Runtime using the mapped bytes as the weights and no
    /// prepacking: every process that maps the same files shares one copy in the page cache.
    pub share_weights: bool,
    /// Score exact mode's label trie in one decoder run through decoder_tree_model.onnx where
    /// the model directory has it; false takes the step decoder level by level, as for a
    /// model without it (for comparison: `zeroshot bench --no-tree-pass`).
    pub tree_pass: bool,
}
