//! `zeroshot serve`: one process holds the model and answers every client, database backends
//! and HTTP clients alike. Three rooms, as text-embeddings-inference's router has them:
//! - `http`: the front. Parses and checks requests (`api`), enforces the limits, answers.
//! - `queue`: the waiting room. Requests with the same labels and options are put together
//!   into one batch, within a short wait; the oldest request's set goes first.
//! - `engine`: the one thread that owns the model and runs the batches.
//! - `webui`: the release's WebUI at `GET /`, a page that calls the API from the browser.
//!
//! The engine crate knows nothing of HTTP; the database knows nothing of this crate (it
//! speaks to it through `zeroshot-client`).
pub mod api;
mod browser_guard;
pub mod config;
mod engine;
mod http;
mod metrics;
pub mod queue;
mod webui;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use config::ServeConfig;
use zeroshot::Model;

/// Set once the grace period after SIGTERM is over: the engine's interrupt check, so a run
/// still under way stops.
static ABANDON_RUNS: AtomicBool = AtomicBool::new(false);

/// Serves `model` until SIGTERM or SIGINT; then stops accepting, finishes or fails what is
/// queued within `config.shutdown_grace`, and returns.
pub fn run(mut model: Model, config: ServeConfig) -> Result<(), String> {
    // A process that does nothing but score keeps ONNX Runtime's working memory.
    model.keep_arenas(true);
    // A run stops when the grace period after SIGTERM is over, or when every client of the
    // batch it belongs to has gone away.
    zeroshot::interrupt::set_check(|| ABANDON_RUNS.load(Ordering::Relaxed) || engine::running_batch_abandoned());
    let info = api::model_info(&model, &config);
    let queue = Arc::new(queue::Queue::new(config.max_queue_texts));
    let metrics = Arc::new(metrics::Metrics::new(queue.clone()));
    metrics.set_graphs(model.loaded_graphs());
    let engine = engine::spawn(model, queue.clone(), metrics.clone(), config.max_wait, config.max_batch_texts)
        .map_err(|e| format!("cannot start the engine thread: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("zeroshot-http")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
    let state = http::AppState::new(queue.clone(), metrics, info, config.clone());
    let served = runtime.block_on(http::serve(state, &config));
    // The front waited out the grace period for the requests under way; the engine has at most
    // a moment more, then its run is stopped and what is left queued fails.
    queue.close();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while !engine.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if !engine.is_finished() {
        ABANDON_RUNS.store(true, Ordering::Relaxed);
        queue.fail_all("the server is shutting down");
    }
    let _ = engine.join();
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}
