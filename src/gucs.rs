//! Every setting of the extension, registered in one place, with typed getters.
//! Getters read Postgres state and must run on the backend's main thread, before any
//! ONNX Runtime work starts.
use std::ffi::CStr;
use std::path::PathBuf;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::PostgresGucEnum;
use zeroshot::Device;

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeviceSetting {
    #[name = c"auto"]
    Auto,
    #[name = c"cpu"]
    Cpu,
    #[name = c"cuda"]
    Cuda,
}

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScoreModeSetting {
    #[name = c"exact"]
    Exact,
    #[name = c"greedy"]
    Greedy,
}

pub static MODEL_DIR: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
pub static ONNXRUNTIME_LIBRARY: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(None);
pub static DEVICE: GucSetting<DeviceSetting> = GucSetting::<DeviceSetting>::new(DeviceSetting::Auto);
pub static CUDA_DEVICE_ID: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static MAX_INPUT_TOKENS: GucSetting<i32> = GucSetting::<i32>::new(512);
pub static TEMPERATURE: GucSetting<f64> = GucSetting::<f64>::new(1.0);
pub static SCORE_MODE: GucSetting<ScoreModeSetting> = GucSetting::<ScoreModeSetting>::new(ScoreModeSetting::Exact);
pub static BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(16);
pub static BATCH_ROWS: GucSetting<i32> = GucSetting::<i32>::new(zeroshot::RunLimits::DEFAULT_MAX_ROWS as i32);
pub static SHARE_WEIGHTS: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static VERIFY_CHECKSUMS: GucSetting<bool> = GucSetting::<bool>::new(false);

pub fn init() {
    // SUSET: these two make the server open files and load code chosen by the setter.
    GucRegistry::define_string_guc(
        c"zs.model_dir",
        c"Directory of the ONNX model (Optimum layout); empty means the bundled tiny test model.",
        c"Superuser only: the server loads files from it. The bundled model has random weights.",
        &MODEL_DIR,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"zs.onnxruntime_library",
        c"Path of libonnxruntime.so; empty means the copy installed with the extension.",
        c"Superuser only: the server loads this library. Read once per backend; a change needs a new connection.",
        &ONNXRUNTIME_LIBRARY,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"zs.device",
        c"Where the model runs: auto (CUDA if its provider loads, else CPU), cpu or cuda.",
        c"cuda is an error where the CUDA execution provider cannot be used.",
        &DEVICE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.cuda_device_id",
        c"CUDA device ordinal used when zs.device selects CUDA.",
        c"",
        &CUDA_DEVICE_ID,
        0,
        64,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.threads",
        c"ONNX Runtime intra-op threads per session in each backend; 0 means one per core.",
        c"With many concurrent connections, 1 avoids oversubscribing the cores.",
        &THREADS,
        0,
        256,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.max_input_tokens",
        c"Longest prompt in tokens; longer texts are truncated, never the label list.",
        c"",
        &MAX_INPUT_TOKENS,
        16,
        65536,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"zs.temperature",
        c"Softmax temperature of the label probabilities (scores); the answer does not depend on it.",
        c"",
        &TEMPERATURE,
        0.01,
        100.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"zs.score_mode",
        c"exact: every label's probability over the label trie. greedy: constrained greedy decoding down the trie.",
        c"In greedy mode the answer is still a label; score is its path's probability and scores holds only the labels whose whole sequence was on the path.",
        &SCORE_MODE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.batch_size",
        c"Texts zs_classify_batch scores together, between two checks for cancellation.",
        c"In exact mode the texts of a chunk share ONNX Runtime runs, as zs.batch_rows allows.",
        &BATCH_SIZE,
        1,
        4096,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.batch_rows",
        c"Decoder rows (texts times the widest level of the label trie) one ONNX Runtime run may score.",
        c"Each row briefly takes a vocabulary-wide row of logits (1 MB for mT5) inside ONNX Runtime; 1 scores one text per run.",
        &BATCH_ROWS,
        1,
        65536,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"zs.share_weights",
        c"Load the model's memory-mapped ORT-format files, so that all backends share one copy of the weights.",
        c"Needs the *.ort files that tools/export_model.py --ort-format writes. CPU only; see BENCHMARKS.md for its cost.",
        &SHARE_WEIGHTS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"zs.verify_checksums",
        c"Check the SHA-256 of every model file listed in manifest.json when a backend loads the model.",
        c"Off by default: hashing a base-size model takes seconds per connection.",
        &VERIFY_CHECKSUMS,
        GucContext::Suset,
        GucFlags::default(),
    );
}

fn string(setting: &GucSetting<Option<std::ffi::CString>>) -> Option<String> {
    setting.get().map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
}

/// A directory Postgres resolves relative to its own binary (share or pkglib).
fn pg_path(get: unsafe fn(*const std::ffi::c_char, *mut std::ffi::c_char)) -> PathBuf {
    let mut buf = vec![0 as std::ffi::c_char; pgrx::pg_sys::MAXPGPATH as usize];
    // SAFETY: my_exec_path is set at postmaster start; buf has MAXPGPATH bytes as required.
    unsafe {
        get(std::ptr::addr_of!(pgrx::pg_sys::my_exec_path) as *const std::ffi::c_char, buf.as_mut_ptr());
        PathBuf::from(CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
    }
}

/// Where scripts/install puts the tiny test model.
pub fn bundled_model_dir() -> PathBuf {
    pg_path(pgrx::pg_sys::get_share_path).join("extension/pg_zeroshot/tiny-mt5")
}

/// Where scripts/install puts the ONNX Runtime library.
pub fn bundled_library() -> PathBuf {
    pg_path(pgrx::pg_sys::get_pkglib_path).join("pg_zeroshot/libonnxruntime.so.1.31.1")
}

pub fn model_dir() -> PathBuf {
    string(&MODEL_DIR).map(PathBuf::from).unwrap_or_else(bundled_model_dir)
}

pub fn onnxruntime_library() -> PathBuf {
    string(&ONNXRUNTIME_LIBRARY).map(PathBuf::from).unwrap_or_else(bundled_library)
}

pub fn device() -> Device {
    match DEVICE.get() {
        DeviceSetting::Auto => Device::Auto,
        DeviceSetting::Cpu => Device::Cpu,
        DeviceSetting::Cuda => Device::Cuda,
    }
}

pub fn device_name() -> &'static str {
    match DEVICE.get() {
        DeviceSetting::Auto => "auto",
        DeviceSetting::Cpu => "cpu",
        DeviceSetting::Cuda => "cuda",
    }
}

pub fn cuda_device_id() -> i32 {
    CUDA_DEVICE_ID.get()
}

pub fn threads() -> usize {
    THREADS.get().max(0) as usize
}

pub fn max_input_tokens() -> usize {
    MAX_INPUT_TOKENS.get().max(1) as usize
}

pub fn temperature() -> f64 {
    TEMPERATURE.get()
}

pub fn score_mode() -> zeroshot::ScoreMode {
    match SCORE_MODE.get() {
        ScoreModeSetting::Exact => zeroshot::ScoreMode::Exact,
        ScoreModeSetting::Greedy => zeroshot::ScoreMode::Greedy,
    }
}

pub fn batch_size() -> usize {
    BATCH_SIZE.get().max(1) as usize
}

pub fn batch_rows() -> usize {
    BATCH_ROWS.get().max(1) as usize
}

pub fn share_weights() -> bool {
    SHARE_WEIGHTS.get()
}

pub fn verify_checksums() -> bool {
    VERIFY_CHECKSUMS.get()
}
