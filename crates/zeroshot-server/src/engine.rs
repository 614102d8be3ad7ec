//! The one thread that owns the model: takes batches from the queue, runs them, and answers
//! each job with its own texts' classifications, or a generation with its outputs. A batch's
//! jobs share ONNX Runtime runs; a job whose client went away while its batch ran gets its
//! answer dropped, and the others in the batch are answered as if it had never been there.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use zeroshot::{ErrorKind, Model};

use crate::metrics::Metrics;
use crate::queue::{Classify, Generate, Job, JobError, Queue, Work};
/// The cancel flags of the batch the engine runs now: when every one is set (all its clients
/// went away), the engine's interrupt check stops the ONNX Runtime run under way (lib.rs).
static RUNNING: Mutex<Vec<Arc<AtomicBool>>> = Mutex::new(Vec::new());

/// Whether every request of the running batch was abandoned by its client.
pub fn running_batch_abandoned() -> bool {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    !running.is_empty() && running.iter().all(|c| c.load(Ordering::Relaxed))
}

pub fn spawn(
    mut model: Model,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    max_wait: Duration,
    max_texts: usize,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("zeroshot-engine".into()).spawn(move || {
        while let Some(batch) = queue.next_batch(max_wait, max_texts) {
            *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = batch.iter().map(|j| j.cancelled.clone()).collect();
            run_batch(&mut model, batch, &metrics, max_texts);
            metrics.label_cache(model.label_cache_usage());
            metrics.set_graphs(model.loaded_graphs());
            RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    })
}

/// Runs one batch: the queue hands over classifications of one label set, or one generation.
fn run_batch(model: &mut Model, batch: Vec<Job>, metrics: &Metrics, max_texts: usize) {
    let mut classify = Vec::new();
    for job in batch.into_iter().filter(|j| !j.cancelled.load(Ordering::Relaxed)) {
        match job.work {
            Work::Classify(c) => classify.push((c, job.cancelled)),
            Work::Generate(g) => run_generation(model, g, metrics),
        }
    }
    if !classify.is_empty() {
        run_classification(model, classify, metrics, max_texts);
    }
}

/// Runs `work` on the model. A panic in the engine (a bug, not an ONNX Runtime fault: those end
/// the process) fails this batch's requests, not the server.
fn guarded<T>(metrics: &Metrics, work: impl FnOnce() -> zeroshot::Result<T>) -> Result<T, JobError> {
    let error = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(Ok(answer)) => return Ok(answer),
        Ok(Err(e)) => JobError { kind: e.kind(), message: e.to_string(), about_labels: e.concerns_labels() },
        Err(_) => JobError {
            kind: ErrorKind::Internal,
            message: "the engine failed on this batch".into(),
            about_labels: false,
        },
    };
    metrics.error(error.kind.name());
    Err(error)
}

/// One prompt's outputs. Its client going away stops it between decoder steps (the interrupt
/// check sees the running batch abandoned): a long generation nobody reads frees the engine.
fn run_generation(model: &mut Model, job: Generate, metrics: &Metrics) {
    let outcome = guarded(metrics, || model.generate(&job.prompt, &job.opts));
    if let Ok(g) = &outcome {
        metrics.generation(g.tokens.iter().map(Vec::len).sum());
    }
    let _ = job.reply.send(outcome);
}

/// Runs a batch `max_texts` texts at a time (a request larger than that is not one long run),
/// dropping between chunks the requests whose clients went away. Every form of the labels is
/// scored as a label, then merged per label (LabelForms, as the extension does in-process).
fn run_classification(model: &mut Model, live: Vec<(Classify, Arc<AtomicBool>)>, metrics: &Metrics, max_texts: usize) {
    let texts: Vec<&str> = live.iter().flat_map(|(j, _)| j.texts.iter().map(String::as_str)).collect();
    metrics.batch(texts.len());
    let (forms, opts) = (live[0].0.forms.clone(), live[0].0.opts.clone());
    // Which job each text belongs to, for the checks between chunks.
    let owner: Vec<usize> =
        live.iter().enumerate().flat_map(|(j, (job, _))| std::iter::repeat_n(j, job.texts.len())).collect();
    let outcome = guarded(metrics, || {
        let prepared = model.labels(&forms.forms, opts.max_input_tokens)?;
        let mut results = Vec::with_capacity(texts.len());
        for (chunk, owners) in texts.chunks(max_texts.max(1)).zip(owner.chunks(max_texts.max(1))) {
            if owners.iter().all(|&j| live[j].1.load(Ordering::Relaxed)) {
                return Err(zeroshot::Error::Interrupted);
            }
            results.extend(model.classify_many(chunk, &prepared, &opts)?);
        }
        Ok(forms.merge_all(results, &opts))
    });
    let results = match outcome {
        Ok(results) => results,
        Err(e) => {
            for (job, _) in live {
                let _ = job.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    metrics.texts(texts.len());
    let mut results = results.into_iter();
    for (job, _) in live {
        let mine: Vec<_> = results.by_ref().take(job.texts.len()).collect();
        // A client that went away drops its receiver: nothing to do.
        let _ = job.reply.send(Ok(mine));
    }
}
