//! `zeroshot bench`: single-text latency (p50/p95) and throughput (rows/s) of the engine on
//! bench/workload.json, per label set and score mode, and the throughput of batches in each
//! mode (`classify_many`, as zs_classify_batch runs them). Medians, not means: machines
//! are noisy.
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::{json, Value};
use zeroshot::{ScoreMode, ScoreOptions};

use crate::progress::{Progress, ProgressArgs};
use crate::ModelArgs;

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    progress: ProgressArgs,
    /// The workload: texts and label sets (see bench/workload.json).
    #[arg(long, default_value = "bench/workload.json")]
    workload: PathBuf,
    /// Label sets to run, by name in the workload.
    #[arg(long, default_value = "5,15,87")]
    label_sets: String,
    /// Score modes to run.
    #[arg(long, default_value = "exact,greedy")]
    modes: String,
    /// Texts per configuration (evenly spaced over the workload's).
    #[arg(long, default_value_t = 20)]
    texts: usize,
    /// Untimed texts first, per configuration (caches, allocator, thread pool).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Texts per `classify_many` call for the batch rows (modes exact_batch, greedy_batch); 0 skips them.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The value at quantile `q` (nearest rank) of `xs`, which it sorts.
pub fn quantile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

/// Minor page faults of this process so far (Linux's /proc/self/stat; None elsewhere): pages
/// touched for the first time since they were mapped, i.e. memory given back to the system and
/// taken again. Returning ONNX Runtime's arena memory after every call costs as many.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name in parentheses: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt.
    stat.rsplit_once(')')?.1.split_whitespace().nth(7)?.parse().ok()
}

pub fn run(args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let workload: Value = serde_json::from_str(&std::fs::read_to_string(&args.workload)?)?;
    let all_texts: Vec<String> = workload["texts"]
        .as_array()
        .ok_or("workload has no texts")?
        .iter()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    let texts: Vec<&String> =
        crate::eval::evenly_spaced(all_texts.len(), args.texts.max(1)).into_iter().map(|i| &all_texts[i]).collect();
    let n = texts.len();
    let mut model = args.model.load(args.progress.quiet)?;
    let (label_sets, modes): (Vec<&str>, Vec<&str>) =
        (args.label_sets.split(',').map(str::trim).collect(), args.modes.split(',').map(str::trim).collect());
    // Every text scored, warm-up included: the time left counts them all.
    let warmup = args.warmup.min(n);
    let per_configuration = (warmup + n) * if args.batch > 0 { 2 } else { 1 };
    let mut progress =
        Progress::start(&args.progress, "bench", (label_sets.len() * modes.len() * per_configuration) as u64);
    progress.println("| labels | mode | texts | p50 ms | p95 ms | rows/s |");
    progress.println("|---:|---|---:|---:|---:|---:|");
    let mut results = Vec::new();
    for &set in &label_sets {
        let labels: Vec<String> = workload["label_sets"][set]
            .as_array()
            .ok_or(format!("no label set {set:?}"))?
            .iter()
            .filter_map(|l| l.as_str().map(String::from))
            .collect();
        let prepared = model.labels(&labels, args.model.score_options()?.max_input_tokens)?;
        for &mode_name in &modes {
            let mode: ScoreMode = mode_name.parse()?;
            let opts = ScoreOptions { mode, ..args.model.score_options()? };
            progress.stage(format!("{} labels, {mode_name}", labels.len()));
            for text in texts.iter().take(warmup) {
                model.classify(text, &prepared, &opts)?;
                progress.advance(1);
            }
            let mut ms = Vec::with_capacity(n);
            model.take_host_bytes();
            model.take_run_count();
            let faults_before = minor_faults();
            let started = Instant::now();
            for text in &texts {
                let t = Instant::now();
                model.classify(text, &prepared, &opts)?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                // Outside the text's latency; its cost in the throughput is a counter's.
                progress.advance(1);
            }
            let rows_per_s = n as f64 / started.elapsed().as_secs_f64();
            let host_bytes_per_text = model.take_host_bytes() / n as u64;
            let ort_runs_per_text = model.take_run_count() as f64 / n as f64;
            let faults_per_text = faults_before.zip(minor_faults()).map(|(a, b)| (b - a) / n as u64);
            let (p50, p95) = (quantile(&mut ms, 0.5), quantile(&mut ms, 0.95));
            progress
                .println(&format!("| {} | {mode_name} | {n} | {p50:.1} | {p95:.1} | {rows_per_s:.2} |", labels.len()));
            results.push(json!({"labels": labels.len(), "mode": mode_name, "texts": n, "p50_ms": p50, "p95_ms": p95, "rows_per_s": rows_per_s,
                                "decoder_rows_per_text": prepared.trie().decoder_rows(), "host_bytes_per_text": host_bytes_per_text,
                                "ort_runs_per_text": ort_runs_per_text,
                                "minor_faults_per_text": faults_per_text}));
            if args.batch > 0 {
                let refs: Vec<&str> = texts.iter().map(|t| t.as_str()).collect();
                progress.stage(format!("{} labels, {mode_name}_batch", labels.len()));
                model.classify_many(&refs[..warmup], &prepared, &opts)?;
                progress.advance(warmup as u64);
                model.take_host_bytes();
                model.take_run_count();
                let started = Instant::now();
                for chunk in refs.chunks(args.batch) {
                    model.classify_many(chunk, &prepared, &opts)?;
                    progress.advance(chunk.len() as u64);
                }
                let rows_per_s = n as f64 / started.elapsed().as_secs_f64();
                let host_bytes_per_text = model.take_host_bytes() / n as u64;
                let ort_runs_per_text = model.take_run_count() as f64 / n as f64;
                let batch_mode = format!("{mode_name}_batch");
                progress.println(&format!(
                    "| {} | {batch_mode} ({} per call) | {n} | | | {rows_per_s:.2} |",
                    labels.len(),
                    args.batch
                ));
                results.push(json!({"labels": labels.len(), "mode": batch_mode, "texts": n, "batch": args.batch, "rows_per_s": rows_per_s,
                                    "max_rows": opts.runs.max_rows, "batches_texts": model.batches_texts(),
                                    "host_bytes_per_text": host_bytes_per_text, "ort_runs_per_text": ort_runs_per_text}));
            }
        }
    }
    progress.finish();
    if let Some(path) = &args.json {
        let doc = json!({"model_dir": model.dir.display().to_string(), "model_id": model.model_id(), "provider": model.provider,
                         "score_outputs": model.score_outputs().name(), "one_pass": model.scores_in_one_pass(),
                         "threads": args.model.threads,
                         "graphs": model.loaded_graphs(), "cuda_tf32": args.model.cuda_tf32, "keep_arenas": args.model.keep_arenas,
                         "results": results});
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn nearest_rank_quantiles() {
        let mut xs = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&mut xs, 0.5), 3.0);
        assert_eq!(quantile(&mut xs, 0.95), 5.0);
        assert_eq!(quantile(&mut [7.0], 0.95), 7.0);
    }
}
