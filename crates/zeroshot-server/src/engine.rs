//! The one thread that owns the model: takes batches from the queue, runs them, and answers
//! each job with its own texts' classifications. A batch's jobs share ONNX Runtime runs; a job
//! whose client went away while its batch ran gets its answer dropped, and the others in the
//! batch are answered as if it had never been there.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use zeroshot::{ErrorKind, Model};

use crate::metrics::Metrics;
use crate::queue::{Job, JobError, Queue};

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
            RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    })
}

/// Runs a batch `max_texts` texts at a time (a request larger than that is not one long run),
/// dropping between chunks the requests whose clients went away.
fn run_batch(model: &mut Model, batch: Vec<Job>, metrics: &Metrics, max_texts: usize) {
    let live: Vec<Job> = batch.into_iter().filter(|j| !j.cancelled.load(Ordering::Relaxed)).collect();
    if live.is_empty() {
        return;
    }
    let texts: Vec<&str> = live.iter().flat_map(|j| j.texts.iter().map(String::as_str)).collect();
    metrics.batch(texts.len());
    let (labels, opts) = (live[0].labels.clone(), live[0].opts.clone());
    // A panic in the engine (a bug, not an ONNX Runtime fault: those end the process) fails
    // this batch's requests, not the server.
    // Which job each text belongs to, for the checks between chunks.
    let owner: Vec<usize> =
        live.iter().enumerate().flat_map(|(j, job)| std::iter::repeat_n(j, job.texts.len())).collect();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let prepared = model.labels(&labels, opts.max_input_tokens)?;
        let mut results = Vec::with_capacity(texts.len());
        for (chunk, owners) in texts.chunks(max_texts.max(1)).zip(owner.chunks(max_texts.max(1))) {
            if owners.iter().all(|&j| live[j].cancelled.load(Ordering::Relaxed)) {
                return Err(zeroshot::Error::Interrupted);
            }
            results.extend(model.classify_many(chunk, &prepared, &opts)?);
        }
        Ok(results)
    }));
    let results = match outcome {
        Ok(Ok(results)) => results,
        Ok(Err(e)) => {
            return fail(
                live,
                JobError { kind: e.kind(), message: e.to_string(), about_labels: e.concerns_labels() },
                metrics,
            )
        }
        Err(_) => {
            let e = JobError {
                kind: ErrorKind::Internal,
                message: "the engine failed on this batch".into(),
                about_labels: false,
            };
            return fail(live, e, metrics);
        }
    };
    metrics.texts(texts.len());
    let mut results = results.into_iter();
    for job in live {
        let mine: Vec<_> = results.by_ref().take(job.texts.len()).collect();
        // A client that went away drops its receiver: nothing to do.
        let _ = job.reply.send(Ok(mine));
    }
}

fn fail(jobs: Vec<Job>, error: JobError, metrics: &Metrics) {
    metrics.error(error.kind.name());
    for job in jobs {
        let _ = job.reply.send(Err(error.clone()));
    }
}
