//! Every setting of the extension, registered in one place, with typed getters (install
//! paths live in paths.rs).
//! Getters read Postgres state and must run on the backend's main thread, before any
//! ONNX Runtime work starts.
use std::path::PathBuf;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::PostgresGucEnum;
use zeroshot::Device;

use crate::paths;

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
pub static CUDA_TF32: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static CUDA_MEM_LIMIT: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static MAX_INPUT_TOKENS: GucSetting<i32> = GucSetting::<i32>::new(512);
pub static MAX_INPUT_TOKENS_LIMIT: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_MAX_INPUT_TOKENS_LIMIT);
pub static MAX_NEW_TOKENS_LIMIT: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_MAX_NEW_TOKENS_LIMIT);
pub static TEMPERATURE: GucSetting<f64> = GucSetting::<f64>::new(1.0);
pub static SCORE_MODE: GucSetting<ScoreModeSetting> = GucSetting::<ScoreModeSetting>::new(ScoreModeSetting::Exact);
pub static BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(16);
pub static BATCH_ROWS: GucSetting<i32> = GucSetting::<i32>::new(zeroshot::RunLimits::DEFAULT_MAX_ROWS as i32);
pub static SHARE_WEIGHTS: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static ONE_PASS: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static VERIFY_CHECKSUMS: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static KEEP_ARENAS: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static MAX_MODEL_PROCESSES: GucSetting<i32> = GucSetting::<i32>::new(-1);
pub static SERVER: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
pub static SERVER_AUTOSTART: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static SERVER_COMMAND: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
pub static SERVER_SOCKET: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(Some(c"pg_zeroshot/server.sock"));
pub static SERVER_OPTIONS: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
pub static SERVER_TOKEN_FILE: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(None);

/// The longest prompt a non-superuser may ask for. A call's memory grows with the prompt
/// (T5's positions are unbounded, so the model sets no limit): at 2,048 tokens and the
/// widest label set that fits, a call stays within about 1 GB at mT5-base size (README,
/// "Security and limits").
const DEFAULT_MAX_INPUT_TOKENS_LIMIT: i32 = 2048;

/// The most tokens a zs_generate call may generate in all (n x max_new_tokens) unless a
/// superuser raises it: every token of an output is a decoder step for its row, and each
/// output's self-attention cache grows by one position per step (72 KB at mT5-base size,
/// held twice while a step runs), so 4,096 tokens peak near 0.6 GB, as classification's
/// largest calls do; and in server mode a generation holds the one engine while it runs.
const DEFAULT_MAX_NEW_TOKENS_LIMIT: i32 = 4096;

/// Most decoder rows per run a setting may ask for: each row briefly takes a
/// vocabulary-wide row of logits and of their log-softmax (2 MB for mT5), so 1,024 rows are
/// about 2 GB.
const MAX_BATCH_ROWS: i32 = 1024;

/// The highest zs.max_new_tokens_limit a superuser may set.
pub const MAX_NEW_TOKENS_CEILING: i32 = 65536;

/// The highest zs.max_input_tokens_limit a superuser may set.
pub const MAX_INPUT_TOKENS_CEILING: i32 = 65536;

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
    GucRegistry::define_bool_guc(
        c"zs.cuda_tf32",
        c"TF32 tensor cores for fp32 matrix products on CUDA.",
        c"Faster on Ampere and later; log-probabilities move by up to about 0.2 (README, CUDA). Off: within 1e-3 of the CPU.",
        &CUDA_TF32,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.cuda_mem_limit",
        c"Most GPU memory, in MB, ONNX Runtime's CUDA arena may take per backend; 0 means no limit.",
        c"Superuser only: a limit a role could lift is none. The arena grows by what each request needs. Read when the model loads.",
        &CUDA_MEM_LIMIT,
        0,
        1 << 20,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.threads",
        c"ONNX Runtime intra-op threads per session in each backend; 0 means one per core.",
        c"Never more than the machine's cores. With many concurrent connections, 1 avoids oversubscribing them.",
        &THREADS,
        0,
        256,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.max_input_tokens",
        c"Longest prompt in tokens; longer texts are truncated, never the label list.",
        c"At most zs.max_input_tokens_limit, which only a superuser can raise.",
        &MAX_INPUT_TOKENS,
        16,
        65536,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.max_input_tokens_limit",
        c"Largest zs.max_input_tokens a call may use.",
        c"Superuser only: a call's memory and time grow with the prompt's length.",
        &MAX_INPUT_TOKENS_LIMIT,
        16,
        MAX_INPUT_TOKENS_CEILING,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"zs.max_new_tokens_limit",
        c"Most tokens a zs_generate call may generate in all (n x max_new_tokens).",
        c"Superuser only: a call's memory and time grow with every token it generates.",
        &MAX_NEW_TOKENS_LIMIT,
        1,
        MAX_NEW_TOKENS_CEILING,
        GucContext::Suset,
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
        c"Decoder rows (texts times the label trie's nodes in one tree pass, or its widest level) one ONNX Runtime run may score.",
        c"Each row briefly takes a vocabulary-wide row of logits and of their log-softmax (2 MB for mT5) inside ONNX Runtime; 1 scores one text per run.",
        &BATCH_ROWS,
        1,
        MAX_BATCH_ROWS,
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
        c"zs.one_pass",
        c"Score exact mode's label trie in one decoder run where the model has decoder_tree_model.onnx.",
        c"Off: level by level through the step graphs, which greedy mode and generation open anyway; a backend then holds one copy of the decoder instead of two.",
        &ONE_PASS,
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
    // SUSET: on, a backend holds its largest call's working memory (hundreds of MB at base
    // size) for as long as it lives; the administrator decides that, not each role.
    GucRegistry::define_bool_guc(
        c"zs.keep_arenas",
        c"Keep ONNX Runtime's working memory from call to call instead of giving it back when each call ends.",
        c"Faster (no pages to touch again on every call), but each backend holds its largest call's working memory until it exits. See README, Memory.",
        &KEEP_ARENAS,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SIGHUP: one bound for the whole server (model_slots.rs counts across all databases),
    // so it is set in postgresql.conf or ALTER SYSTEM, never per session.
    GucRegistry::define_int_guc(
        c"zs.max_model_processes",
        c"Most processes of the server (backends and parallel workers) that may hold a model at once; -1: automatic.",
        c"Automatic: half of the memory (or the cgroup's limit) divided by the size of the model's files, at least 1. Past it a call fails with 53300.",
        &MAX_MODEL_PROCESSES,
        -1,
        10000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // SUSET: they decide where every session's texts go, and which file the server reads.
    GucRegistry::define_string_guc(
        c"zs.server",
        c"Where `zeroshot serve` listens: unix:/path/to/socket or http://host:port; empty means each backend loads the model itself.",
        c"Superuser only. With it set, backends load no model and send their texts to that server.",
        &SERVER,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"zs.server_token_file",
        c"File whose first line is the bearer token for a zs.server on TCP (the server's --token-file).",
        c"Superuser only: the server reads it.",
        &SERVER_TOKEN_FILE,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    // The server started with PostgreSQL (server_worker.rs): SIGHUP for what the worker passes
    // to the server, which it restarts when they change; POSTMASTER for the worker itself and
    // its socket, which only a preloaded library may define (PostgreSQL refuses them later,
    // with a FATAL error that would end every session loading the library).
    GucRegistry::define_string_guc(
        c"zs.server_command",
        c"The zeroshot program the background worker runs; empty means the one installed with the extension.",
        c"Read when the worker starts the server.",
        &SERVER_COMMAND,
        GucContext::Sighup,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"zs.server_options",
        c"More arguments for `zeroshot serve`, separated by blanks, e.g. --listen 127.0.0.1:7860 --max-wait-ms 2.",
        c"The worker restarts the server when they change (reload).",
        &SERVER_OPTIONS,
        GucContext::Sighup,
        GucFlags::SUPERUSER_ONLY,
    );
    // SAFETY: a plain read of a flag the postmaster sets while it loads preloaded libraries.
    let preloading = unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress };
    GucRegistry::define_bool_guc(
        c"zs.server_autostart",
        c"Start `zeroshot serve` with PostgreSQL (a background worker) and send every session's texts to it.",
        c"Needs pg_zeroshot in shared_preload_libraries. An empty zs.server then means this server's socket.",
        &SERVER_AUTOSTART,
        // Loaded later, the setting is still the configuration's (SIGHUP: no session may turn
        // it off to load a model of its own); it then only makes every call an error.
        if preloading { GucContext::Postmaster } else { GucContext::Sighup },
        GucFlags::default(),
    );
    if !preloading {
        return;
    }
    GucRegistry::define_string_guc(
        c"zs.server_socket",
        c"Unix socket of the started server, relative to the data directory unless absolute.",
        c"",
        &SERVER_SOCKET,
        GucContext::Postmaster,
        GucFlags::SUPERUSER_ONLY,
    );
}

fn string(setting: &GucSetting<Option<std::ffi::CString>>) -> Option<String> {
    setting.get().map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
}

pub fn model_dir() -> PathBuf {
    string(&MODEL_DIR).map(PathBuf::from).unwrap_or_else(paths::bundled_model_dir)
}

pub fn onnxruntime_library() -> PathBuf {
    string(&ONNXRUNTIME_LIBRARY).map(PathBuf::from).unwrap_or_else(paths::bundled_library)
}

impl From<DeviceSetting> for Device {
    fn from(setting: DeviceSetting) -> Device {
        match setting {
            DeviceSetting::Auto => Device::Auto,
            DeviceSetting::Cpu => Device::Cpu,
            DeviceSetting::Cuda => Device::Cuda,
        }
    }
}

pub fn device() -> Device {
    DEVICE.get().into()
}

/// zs.device as the user wrote it.
pub fn device_setting_name() -> &'static str {
    Device::from(DEVICE.get()).name()
}

pub fn cuda_device_id() -> i32 {
    CUDA_DEVICE_ID.get()
}

pub fn cuda_tf32() -> bool {
    CUDA_TF32.get()
}

/// zs.cuda_mem_limit in bytes (0: no limit).
pub fn cuda_mem_limit() -> usize {
    (CUDA_MEM_LIMIT.get().max(0) as usize) << 20
}

/// zs.threads, never more than the cores: more threads than cores only slow a run down,
/// and each one costs the server a process-limit slot.
pub fn threads() -> usize {
    (THREADS.get().max(0) as usize).min(cores())
}

/// The machine's cores, as ONNX Runtime counts them for its default pool (zs.threads = 0).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// zs.max_input_tokens and zs.max_input_tokens_limit (the caller refuses a value over it).
pub fn max_input_tokens() -> (usize, usize) {
    (MAX_INPUT_TOKENS.get().max(1) as usize, MAX_INPUT_TOKENS_LIMIT.get().max(1) as usize)
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

pub fn max_new_tokens_limit() -> usize {
    MAX_NEW_TOKENS_LIMIT.get().max(1) as usize
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

pub fn one_pass() -> bool {
    ONE_PASS.get()
}

pub fn verify_checksums() -> bool {
    VERIFY_CHECKSUMS.get()
}

pub fn keep_arenas() -> bool {
    KEEP_ARENAS.get()
}

/// zs.max_model_processes; None when it is -1 (automatic: model_slots.rs).
pub fn max_model_processes() -> Option<u64> {
    u64::try_from(MAX_MODEL_PROCESSES.get()).ok()
}

/// zs.server, if set.
pub fn server() -> Option<String> {
    string(&SERVER)
}

/// zs.server_autostart.
pub fn server_autostart() -> bool {
    SERVER_AUTOSTART.get()
}

/// The zeroshot program the worker runs.
pub fn server_command() -> PathBuf {
    string(&SERVER_COMMAND).map(PathBuf::from).unwrap_or_else(paths::bundled_cli)
}

/// The started server's socket (a relative path is in the data directory).
pub fn server_socket() -> PathBuf {
    let path = string(&SERVER_SOCKET).unwrap_or_else(|| "pg_zeroshot/server.sock".into());
    paths::data_dir().join(path)
}

/// zs.server_options, split at blanks.
pub fn server_options() -> Vec<String> {
    string(&SERVER_OPTIONS).map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}

/// zs.server_token_file, if set.
pub fn server_token_file() -> Option<PathBuf> {
    string(&SERVER_TOKEN_FILE).map(PathBuf::from)
}
