//! `zeroshot`: the engine without Postgres. Try a model (`classify`), measure accuracy on a
//! labelled test set (`eval`), generate free text (`generate`), time it (`bench`), or serve it
//! over HTTP (`serve`).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use zeroshot::{Device, LoadOptions, Model, ScoreOptions};

mod advice;
mod bench;
mod classify;
mod eval;
mod generate;
mod metrics;
mod onnxruntime;
mod progress;
mod serve;

#[derive(Parser)]
// `--version` is our own: besides the version it says which ONNX Runtime the commands load.
#[command(
    name = "zeroshot",
    about = "Zero-shot classification of Chinese text with an mT5 ONNX model",
    disable_version_flag = true,
    arg_required_else_help = true
)]
struct Cli {
    /// Print the version, and which ONNX Runtime library the commands load (and its version).
    #[arg(short = 'V', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Label texts with one of the given labels and print the scores.
    Classify(classify::ClassifyArgs),
    /// Accuracy, macro-F1, in-label share and rows/s on a JSONL test set.
    Eval(eval::EvalArgs),
    /// Free outputs for prompts (keywords, titles, summaries, paraphrases), greedy or sampled.
    Generate(generate::GenerateArgs),
    /// Latency (p50/p95) and throughput on bench/workload.json.
    Bench(bench::BenchArgs),
    /// Serve the model over HTTP: one model for every database backend and HTTP client.
    // A later occurrence of an option wins: the background worker puts zs.server_options after
    // the arguments it derives from the other settings.
    #[command(args_override_self = true)]
    Serve(serve::ServeArgs),
}

/// How to load the model, shared by every subcommand.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Model directory (Optimum layout: encoder/decoder ONNX files, tokenizer.json, config.json).
    // Optional to clap so that its absence gets a one-line error that says what to give.
    #[arg(long, env = "ZS_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// libonnxruntime.so to load [default: $ORT_DYLIB_PATH, else the one installed beside this program].
    // ORT_DYLIB_PATH is read by `onnxruntime::choose`, not by clap: errors name what gave the path.
    #[arg(long)]
    pub onnxruntime_library: Option<PathBuf>,
    /// auto, cpu or cuda.
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long, default_value_t = 0)]
    pub cuda_device_id: i32,
    /// TF32 for fp32 matrix products on CUDA (zs.cuda_tf32): faster, scores within about 0.2 in log-probability.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub cuda_tf32: bool,
    /// Most GPU memory ONNX Runtime's CUDA arena may take, in MiB; 0 for no limit (zs.cuda_mem_limit).
    #[arg(long, default_value_t = 0)]
    pub cuda_mem_limit: usize,
    /// Intra-op threads per session (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Longest prompt in tokens; longer texts are truncated.
    #[arg(long, default_value_t = 512)]
    pub max_input_tokens: usize,
    /// Softmax temperature of the scores.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Check manifest.json's checksums before loading.
    #[arg(long)]
    pub verify_checksums: bool,
    /// exact (every label's probability) or greedy (constrained greedy decoding).
    #[arg(long, default_value = "exact")]
    pub score_mode: String,
    /// Read full logits even where the model has our fused score outputs (for comparison).
    #[arg(long)]
    pub full_logits: bool,
    /// Decoder rows one ONNX Runtime run may score when several texts run together (zs.batch_rows).
    #[arg(long, default_value_t = zeroshot::RunLimits::DEFAULT_MAX_ROWS)]
    pub batch_rows: usize,
    /// Padded prompt tokens one run may encode when several texts run together.
    #[arg(long, default_value_t = zeroshot::RunLimits::DEFAULT_MAX_TOKENS)]
    pub batch_tokens: usize,
    /// Load the memory-mapped ORT-format copies (export_model.py --ort-format), sharing weights between processes.
    #[arg(long)]
    pub share_weights: bool,
    /// Keep ONNX Runtime's arena memory from text to text instead of returning it after every call
    /// (a database backend returns it): faster, holds the largest call's working memory.
    #[arg(long)]
    pub keep_arenas: bool,
    /// Score exact mode level by level through the step decoder even where the model has the
    /// one-pass tree graph (decoder_tree_model.onnx): for comparison.
    #[arg(long)]
    pub no_tree_pass: bool,
}

impl ModelArgs {
    /// Loads the model; an error is one line that says what to do. Unless `quiet`, warns on
    /// stderr when the model has random weights (the test model).
    pub fn load(&self, quiet: bool) -> Result<Model, String> {
        let device: Device = self.device.parse().map_err(|e: zeroshot::Error| e.to_string())?;
        let dir = advice::model_dir(self.model_dir.as_deref())?;
        let library = onnxruntime::choose(self.onnxruntime_library.as_deref())?.path;
        let opts = LoadOptions {
            library,
            device,
            cuda_device_id: self.cuda_device_id,
            cuda_tf32: self.cuda_tf32,
            cuda_mem_limit: self.cuda_mem_limit << 20,
            threads: self.threads,
            verify_checksums: self.verify_checksums,
            fused_scores: !self.full_logits,
            share_weights: self.share_weights,
            tree_pass: !self.no_tree_pass,
        };
        let mut model = Model::load(&dir, &opts).map_err(|e| advice::load_error(e, &dir))?;
        model.keep_arenas(self.keep_arenas);
        if model.is_random() && !quiet {
            eprintln!(
                "warning: {} has random weights: its labels mean nothing",
                model.model_id().unwrap_or("this model")
            );
        }
        Ok(model)
    }

    pub fn score_options(&self) -> zeroshot::Result<ScoreOptions> {
        Ok(ScoreOptions {
            max_input_tokens: self.max_input_tokens,
            temperature: self.temperature,
            mode: self.score_mode.parse()?,
            runs: zeroshot::RunLimits { max_rows: self.batch_rows.max(1), max_tokens: self.batch_tokens.max(1) },
        })
    }
}

/// Labels from one comma-separated argument, blanks around each trimmed.
pub fn split_labels(arg: &str) -> Vec<String> {
    arg.split(',').map(|l| l.trim().to_string()).collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        print!("{}", onnxruntime::version_report());
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        // Only options and no subcommand (`arg_required_else_help` covers no arguments at all).
        let _ = Cli::command().print_help();
        return ExitCode::from(2);
    };
    let result = match command {
        Command::Classify(args) => classify::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zeroshot: {e}");
            ExitCode::FAILURE
        }
    }
}
