//! The one thread that owns the model: takes batches from the queue, runs them, and answers
//! each job with its own texts' classifications. A batch's jobs share ONNX Runtime runs; a job
//! whose client went away while its batch ran gets its answer dropped, and the others in the
//! batch are answered as if it had never been there.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use zeroshot::{ErrorKind, Model};

use crate::metrics::Metrics;
use crate::queue::{Job, JobError, Queue};

pub fn spawn(
    mut model: Model,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    max_wait: Duration,
    max_texts: usize,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("zeroshot-engine".into()).spawn(move || {
        while let Some(batch) = queue.next_batch(max_wait, max_texts) {
            run_batch(&mut model, batch, &metrics);
        }
    })
}

fn run_batch(model: &mut Model, batch: Vec<Job>, metrics: &Metrics) {
    let live: Vec<Job> = batch.into_iter().filter(|j| !j.cancelled.load(Ordering::Relaxed)).collect();
    if live.is_empty() {
        return;
    }
    let texts: Vec<&str> = live.iter().flat_map(|j| j.texts.iter().map(String::as_str)).collect();
    metrics.batch(texts.len());
    let (labels, opts) = (live[0].labels.clone(), live[0].opts.clone());
    // A panic in the engine (a bug, not an ONNX Runtime fault: those end the process) fails
    // this batch's requests, not the server.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let prepared = model.labels(&labels, opts.max_input_tokens)?;
        if texts.is_empty() {
            // A check of the labels alone (a database backend's, before a backfill).
            return Ok(Vec::new());
        }
        model.classify_many(&texts, &prepared, &opts)
    }));
    let results = match outcome {
        Ok(Ok(results)) => results,
        Ok(Err(e)) => return fail(live, JobError { kind: e.kind(), message: e.to_string() }, metrics),
        Err(_) => {
            let e = JobError { kind: ErrorKind::Internal, message: "the engine failed on this batch".into() };
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
