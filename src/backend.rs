//! The model of this backend: loaded on first use, again when a setting that decides the
//! load changes, and kept otherwise. A failed load leaves nothing behind, so the next call
//! retries with whatever the settings are then (no reconnect needed after a fix).
//!
//! A load runs in a thread of its own while the backend waits for it, checking for a cancel:
//! ONNX Runtime cannot be stopped while it creates a session (seconds at base size, and any
//! role can force a load by changing `zs.threads`), but a cancel must end the call at once.
//! A cancelled load usually goes on to its end (Postgres clears the cancel at once, and the
//! load checks only between files, graphs and checksum chunks); the next call waits for it
//! first and uses it if it loaded what that call needs, or stops it at its next check if not.
//! So at most one load is ever under way, and it never outlives the backend
//! (`join_load_at_exit`).
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use pgrx::prelude::*;
use zeroshot::{LoadOptions, Model};

use crate::error::ZsError;
use crate::gucs;
use crate::model_slots;

/// What decides a load: a change to any of it means loading again.
#[derive(Clone, PartialEq, Debug)]
struct LoadKey {
    dir: PathBuf,
    options: LoadOptions,
}

struct Loaded {
    key: LoadKey,
    model: Model,
}

/// A load under way in its thread (or ended, not yet collected).
struct PendingLoad {
    key: LoadKey,
    thread: JoinHandle<zeroshot::Result<Model>>,
}

/// How often the backend looks at a load and at its interrupt flags while it waits.
const LOAD_POLL: Duration = Duration::from_millis(5);

/// Set while the backend waits for a load it no longer wants (other settings), and for good
/// when it exits: the load stops at its next check. Never set while the backend itself runs
/// ONNX Runtime (the flag is part of the engine's interrupt check).
static STOP_LOAD: AtomicBool = AtomicBool::new(false);

/// Whether a load under way should stop (read by the engine's interrupt check, from any thread).
pub fn load_unwanted() -> bool {
    STOP_LOAD.load(Ordering::Relaxed)
}

/// Clears `STOP_LOAD` when dropped: on every way out of a wait for an unwanted load.
struct StopLoad;

impl StopLoad {
    fn set() -> StopLoad {
        STOP_LOAD.store(true, Ordering::Relaxed);
        StopLoad
    }
}

impl Drop for StopLoad {
    fn drop(&mut self) {
        STOP_LOAD.store(false, Ordering::Relaxed);
    }
}

thread_local! {
    // A backend is single-threaded: no lock, just a cell.
    static MODEL: RefCell<Option<Loaded>> = const { RefCell::new(None) };
    static PENDING: RefCell<Option<PendingLoad>> = const { RefCell::new(None) };
    static EXIT_HOOK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static TEXTS_SCORED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn current_key() -> LoadKey {
    LoadKey {
        dir: gucs::model_dir(),
        options: LoadOptions {
            library: gucs::onnxruntime_library(),
            device: gucs::device(),
            cuda_device_id: gucs::cuda_device_id(),
            cuda_tf32: gucs::cuda_tf32(),
            cuda_mem_limit: gucs::cuda_mem_limit(),
            threads: gucs::threads(),
            verify_checksums: gucs::verify_checksums(),
            fused_scores: true,
            share_weights: gucs::share_weights(),
            tree_pass: gucs::one_pass(),
        },
    }
}

fn load(key: &LoadKey) -> Result<Model, ZsError> {
    if let Some(rt) = zeroshot::runtime::loaded() {
        if rt.library != key.options.library {
            pgrx::warning!(
                "pg_zeroshot: zs.onnxruntime_library is {} but this backend already loaded {}; reconnect to use the new library",
                key.options.library.display(),
                rt.library.display()
            );
        }
    }
    let model = load_in_thread(key)?.map_err(|source| {
        if source.kind() == zeroshot::ErrorKind::Interrupted {
            return ZsError::Engine(source);
        }
        let setting = match &source {
            e if e.concerns_runtime_library() => "zs.onnxruntime_library",
            zeroshot::Error::DeviceUnavailable(_) => "zs.device",
            _ => "zs.model_dir",
        };
        ZsError::Load { setting, source }
    })?;
    pgrx::log!(
        "pg_zeroshot: loaded {} from {} on {} (zs.device = {}) in {} ms",
        model.model_id().unwrap_or("model"),
        key.dir.display(),
        model.provider,
        gucs::device_setting_name(),
        model.load_time.as_millis()
    );
    if model.is_random() {
        warn_random_model(model.model_id().unwrap_or("in zs.model_dir"));
    }
    Ok(model)
}

/// The warning of a session whose model has random weights: once per backend, when it loads
/// the model or (server mode) gets its first answer from a server that runs one.
pub fn warn_random_model(model_id: &str) {
    ereport!(
        PgLogLevel::WARNING,
        PgSqlErrorCode::ERRCODE_WARNING,
        crate::text::message_for_server(format!(
            "pg_zeroshot: the model {model_id} has random weights: its labels mean nothing"
        )),
        "It is the tiny test model bundled for tests. Set zs.model_dir to a real model exported with tools/export_model.py (see README)."
    );
}

/// Loads `key` in a thread of its own and waits for it (`Err` only for a cancel, which leaves
/// the load pending); a load a cancel left pending is collected first, and used when it
/// loaded `key`.
fn load_in_thread(key: &LoadKey) -> Result<zeroshot::Result<Model>, ZsError> {
    let unwanted = PENDING.with(|p| p.borrow().as_ref().is_some_and(|l| l.key != *key));
    let stop = unwanted.then(StopLoad::set);
    if let Some((pending_key, result)) = wait_for_load()? {
        let stopped = matches!(&result, Err(e) if e.kind() == zeroshot::ErrorKind::Interrupted);
        if pending_key == *key && !stopped {
            return Ok(result);
        }
        // Anything else it loaded is freed here, before the new load takes its memory.
    }
    drop(stop);
    if !EXIT_HOOK.replace(true) {
        // Registered before the first thread starts, so that no thread can outlive the backend.
        // SAFETY: registers a callback Postgres calls once as the backend exits.
        unsafe { pg_sys::on_proc_exit(Some(join_load_at_exit), pg_sys::Datum::from(0)) };
    }
    let (dir, options) = (key.dir.clone(), key.options.clone());
    // Signals stay with the backend's own thread (Postgres's handlers), as for ONNX Runtime's.
    // The stack of the backend's own thread, which loads used to run on (protobuf parsing
    // recurses).
    let thread = zeroshot::interrupt::without_signals(|| {
        std::thread::Builder::new()
            .name("zeroshot-load".into())
            .stack_size(8 << 20)
            .spawn(move || Model::load(&dir, &options))
    })
    .map_err(|e| zeroshot::Error::Runtime {
        action: "start a thread to load the model".into(),
        message: e.to_string(),
    })?;
    PENDING.with(|p| *p.borrow_mut() = Some(PendingLoad { key: key.clone(), thread }));
    Ok(wait_for_load()?.expect("a load was just started").1)
}

/// Waits for the pending load, if any, to end and returns its key and result. A cancel while
/// waiting is `Err(Interrupted)` at once, the load left pending.
fn wait_for_load() -> Result<Option<(LoadKey, zeroshot::Result<Model>)>, ZsError> {
    loop {
        let ended = PENDING.with(|p| p.borrow().as_ref().map(|l| l.thread.is_finished()));
        match ended {
            None => return Ok(None),
            Some(true) => break,
            // Postgres's cancel only: while this backend stops a load it no longer wants, the
            // engine's check says "interrupted" too, and that must not fail the call.
            Some(false) if crate::cancel_pending() => return Err(zeroshot::Error::Interrupted.into()),
            Some(false) => {
                // Woken at once by a cancel (Postgres's signal handlers set the latch); exits if
                // the postmaster dies; shows as an extension wait in pg_stat_activity.
                // SAFETY: the backend's own latch, on the backend's own thread.
                unsafe {
                    pg_sys::WaitLatch(
                        pg_sys::MyLatch,
                        (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                        LOAD_POLL.as_millis() as std::os::raw::c_long,
                        pg_sys::PG_WAIT_EXTENSION,
                    );
                    pg_sys::ResetLatch(pg_sys::MyLatch);
                }
            }
        }
    }
    let load = PENDING.with(|p| p.borrow_mut().take()).expect("checked above");
    let result = load.thread.join().unwrap_or_else(|_| {
        Err(zeroshot::Error::Runtime { action: "load the model".into(), message: "the loading thread panicked".into() })
    });
    Ok(Some((load.key, result)))
}

/// A load still under way when the backend exits is stopped at its next check and waited
/// for, and so is an opening of the step graphs: ONNX Runtime's library must not be torn down
/// by the process's exit while a thread is inside it.
unsafe extern "C-unwind" fn join_load_at_exit(_code: std::os::raw::c_int, _arg: pg_sys::Datum) {
    STOP_LOAD.store(true, Ordering::Relaxed);
    // No panic here, whatever state the exit finds: an unwind out of this callback would abort.
    let pending = PENDING.try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.take())).ok().flatten();
    if let Some(load) = pending {
        let _ = load.thread.join();
    }
    // So are the openings of the step graphs that a cancel left under way (the model's, and
    // those of models dropped since: zeroshot::model::finish_step_openings).
    let _ = MODEL.try_with(|m| match m.try_borrow_mut() {
        Ok(mut slot) => zeroshot::model::finish_step_openings(slot.as_mut().map(|l| &mut l.model)),
        Err(_) => zeroshot::model::finish_step_openings(None),
    });
}

/// Runs `f` with this backend's model, loading it first if needed.
pub fn with_model<R>(f: impl FnOnce(&mut Model) -> Result<R, ZsError>) -> Result<R, ZsError> {
    let key = current_key();
    MODEL.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|l| l.key != key) {
            // Free the old sessions before the new ones take their memory.
            *slot = None;
            // A process that holds a model (or is loading one) holds a slot of the server's.
            model_slots::acquire(&key.dir)?;
            let model = load(&key).inspect_err(|_| {
                // A load a cancel left under way still takes its memory: its slot stays.
                if PENDING.with(|p| p.borrow().is_none()) {
                    model_slots::release();
                }
            })?;
            *slot = Some(Loaded { key, model });
        }
        let model = &mut slot.as_mut().expect("loaded above").model;
        // Read on every call: a change takes effect without a reload.
        model.keep_arenas(gucs::keep_arenas());
        f(model)
    })
}

/// Counts texts scored by this backend (for zs_model_info).
pub fn count_texts(n: u64) {
    TEXTS_SCORED.with(|c| c.set(c.get() + n));
}

pub fn texts_scored() -> u64 {
    TEXTS_SCORED.with(|c| c.get())
}
