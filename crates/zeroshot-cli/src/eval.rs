//! `zeroshot eval`: accuracy, macro-F1, the share of answers inside the label set, and
//! rows/s on a labelled JSONL test set: the FewCLUE presets or any file.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde_json::{json, Value};

use crate::metrics::{accuracy, macro_f1};
use crate::progress::{Progress, ProgressArgs};
use crate::{split_labels, ModelArgs};

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    progress: ProgressArgs,
    /// FewCLUE presets, comma-separated: eprstmt, tnews, iflytek, csldcp (or all).
    #[arg(long)]
    task: Option<String>,
    /// Directory of the FewCLUE files for --task.
    #[arg(long, default_value = "data/fewclue")]
    data_dir: PathBuf,
    /// A JSONL test set instead of a preset.
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value = "sentence")]
    text_field: String,
    #[arg(long, default_value = "label")]
    label_field: String,
    /// Comma-separated labels for --data; default: the gold labels in order of appearance.
    #[arg(long)]
    labels: Option<String>,
    /// Score N evenly spaced rows of each set (the files are sorted by label).
    #[arg(long)]
    limit: Option<usize>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// A test set: texts, the label set, and each text's gold label as an index into it.
pub struct TestSet {
    pub name: String,
    pub texts: Vec<String>,
    pub labels: Vec<String>,
    pub gold: Vec<usize>,
}

type BoxError = Box<dyn std::error::Error>;

fn read_jsonl(path: &Path) -> Result<Vec<Value>, BoxError> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{} line {}: {e}", path.display(), i + 1).into()))
        .collect()
}

fn field(row: &Value, name: &str, path: &Path) -> Result<String, BoxError> {
    match &row[name] {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("{}: a row has no field {name:?}", path.display()).into()),
    }
}

/// Builds a test set; `map` renames gold labels (e.g. Positive → 正面), `labels` fixes the
/// label set (else the gold labels in order of appearance).
fn build(
    name: &str,
    path: &Path,
    text_field: &str,
    gold_field: &str,
    map: &HashMap<String, String>,
    labels: Option<Vec<String>>,
) -> Result<TestSet, BoxError> {
    let rows = read_jsonl(path)?;
    let mut texts = Vec::with_capacity(rows.len());
    let mut gold_names = Vec::with_capacity(rows.len());
    for row in &rows {
        texts.push(field(row, text_field, path)?);
        let g = field(row, gold_field, path)?;
        gold_names.push(map.get(&g).cloned().unwrap_or(g));
    }
    let labels = labels.unwrap_or_else(|| {
        let mut seen = Vec::new();
        for g in &gold_names {
            if !seen.contains(g) {
                seen.push(g.clone());
            }
        }
        seen
    });
    let index: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let gold = gold_names
        .iter()
        .map(|g| {
            index
                .get(g.as_str())
                .copied()
                .ok_or_else(|| format!("{}: gold label {g:?} is not in the label set", path.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TestSet { name: name.into(), texts, labels, gold })
}

/// The FewCLUE test sets of data/fewclue, with Chinese label names.
pub fn fewclue(task: &str, dir: &Path) -> Result<TestSet, BoxError> {
    let none = HashMap::new();
    match task {
        "eprstmt" => {
            let map = HashMap::from([
                ("Positive".to_string(), "正面".to_string()),
                ("Negative".to_string(), "负面".to_string()),
            ]);
            build(
                task,
                &dir.join("eprstmt.test_public.jsonl"),
                "sentence",
                "label",
                &map,
                Some(vec!["正面".into(), "负面".into()]),
            )
        }
        "tnews" => {
            let names = read_jsonl(&dir.join("tnews.labels.jsonl"))?;
            let mut map = HashMap::new();
            let mut labels = Vec::new();
            for n in &names {
                let (desc, zh) = (field(n, "label_desc", dir)?, field(n, "label_zh", dir)?);
                map.insert(desc, zh.clone());
                labels.push(zh);
            }
            build(task, &dir.join("tnews.test_public.jsonl"), "sentence", "label_desc", &map, Some(labels))
        }
        "iflytek" => build(task, &dir.join("iflytek.test_public.jsonl"), "sentence", "label_des", &none, None),
        "csldcp" => {
            let path = dir.join("csldcp.labels.txt");
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let labels = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
            build(task, &dir.join("csldcp.test_public.jsonl"), "content", "label", &none, Some(labels))
        }
        other => Err(format!("unknown task {other:?}: expected eprstmt, tnews, iflytek, csldcp or all").into()),
    }
}

/// `n` indices spread evenly over `0..len`, in order (all of them when `n >= len`).
pub fn evenly_spaced(len: usize, n: usize) -> Vec<usize> {
    let n = n.min(len);
    (0..n).map(|i| i * len / n).collect()
}

/// Keeps `n` rows spread evenly over the set, in order.
fn sample_evenly(set: &mut TestSet, n: usize) {
    let keep = evenly_spaced(set.texts.len(), n);
    set.texts = keep.iter().map(|&i| set.texts[i].clone()).collect();
    set.gold = keep.iter().map(|&i| set.gold[i]).collect();
}

pub struct EvalResult {
    pub set: String,
    pub rows: usize,
    pub labels: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub in_label_share: f64,
    pub rows_per_second: f64,
}

/// Texts per `classify_many` call, as zs_classify_batch's default zs.batch_size.
const EVAL_BATCH: usize = 16;

pub fn evaluate(
    model: &mut zeroshot::Model,
    set: &TestSet,
    opts: &zeroshot::ScoreOptions,
    progress: &mut Progress,
) -> Result<EvalResult, BoxError> {
    let prepared = model.labels(&set.labels, opts.max_input_tokens)?;
    progress.stage(set.name.clone());
    let started = Instant::now();
    let mut predicted = Vec::with_capacity(set.texts.len());
    let mut in_label = 0usize;
    let texts: Vec<&str> = set.texts.iter().map(String::as_str).collect();
    for chunk in texts.chunks(EVAL_BATCH) {
        for c in model.classify_many(chunk, &prepared, opts)? {
            // The answer is an index into the label set by construction; count it as the
            // model's release would count a free-text answer: is the text one of the labels?
            if set.labels.contains(&prepared.labels[c.best]) {
                in_label += 1;
            }
            predicted.push(c.best);
        }
        progress.advance(chunk.len() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(EvalResult {
        set: set.name.clone(),
        rows: set.texts.len(),
        labels: set.labels.len(),
        accuracy: accuracy(&set.gold, &predicted),
        macro_f1: macro_f1(&set.gold, &predicted, set.labels.len()),
        in_label_share: in_label as f64 / set.texts.len().max(1) as f64,
        rows_per_second: set.texts.len() as f64 / seconds.max(1e-9),
    })
}

pub fn run(args: EvalArgs) -> Result<(), BoxError> {
    let mut sets = Vec::new();
    if let Some(tasks) = &args.task {
        let names: Vec<&str> = if tasks == "all" {
            vec!["eprstmt", "tnews", "iflytek", "csldcp"]
        } else {
            tasks.split(',').map(str::trim).collect()
        };
        for name in names {
            sets.push(fewclue(name, &args.data_dir)?);
        }
    }
    if let Some(path) = &args.data {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        sets.push(build(
            &name,
            path,
            &args.text_field,
            &args.label_field,
            &HashMap::new(),
            args.labels.as_deref().map(split_labels),
        )?);
    }
    if sets.is_empty() {
        return Err("give --task or --data".into());
    }
    if let Some(limit) = args.limit {
        for s in &mut sets {
            sample_evenly(s, limit);
        }
    }
    let mut model = args.model.load(args.progress.quiet)?;
    let opts = args.model.score_options()?;
    let mut progress = Progress::start(&args.progress, "eval", sets.iter().map(|s| s.texts.len() as u64).sum());
    progress.println("| set | rows | labels | accuracy | macro-F1 | in-label | rows/s |");
    progress.println("|---|---:|---:|---:|---:|---:|---:|");
    let mut results = Vec::new();
    for set in &sets {
        let r = evaluate(&mut model, set, &opts, &mut progress)?;
        progress.println(&format!(
            "| {} | {} | {} | {:.2}% | {:.2}% | {:.2}% | {:.1} |",
            r.set,
            r.rows,
            r.labels,
            100.0 * r.accuracy,
            100.0 * r.macro_f1,
            100.0 * r.in_label_share,
            r.rows_per_second
        ));
        results.push(
            json!({"set": r.set, "rows": r.rows, "labels": r.labels, "accuracy": r.accuracy, "macro_f1": r.macro_f1,
                            "in_label_share": r.in_label_share, "rows_per_second": r.rows_per_second}),
        );
    }
    progress.finish();
    if let Some(path) = &args.json {
        let doc = json!({"model_dir": model.dir.display().to_string(), "model_id": model.model_id(), "random_weights": model.is_random(),
                         "execution_provider": model.provider, "max_input_tokens": opts.max_input_tokens, "results": results});
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
    }
    Ok(())
}
