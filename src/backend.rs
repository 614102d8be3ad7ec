//! The model of this backend: loaded on first use, again when a setting that decides the
//! load changes, and kept otherwise. A failed load leaves nothing behind, so the next call
//! retries with whatever the settings are then (no reconnect needed after a fix).
use std::cell::RefCell;
use std::path::PathBuf;

use pgrx::prelude::*;
use zeroshot::{LoadOptions, Model};

use crate::error::ZsError;
use crate::gucs;

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

thread_local! {
    // A backend is single-threaded: no lock, just a cell.
    static MODEL: RefCell<Option<Loaded>> = const { RefCell::new(None) };
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
    let model = Model::load(&key.dir, &key.options).map_err(|source| {
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
        ereport!(
            PgLogLevel::WARNING,
            PgSqlErrorCode::ERRCODE_WARNING,
            crate::text::message_for_server(format!(
                "pg_zeroshot: the model {} has random weights: its labels mean nothing",
                model.model_id().unwrap_or("in zs.model_dir")
            )),
            "It is the tiny test model bundled for tests. Set zs.model_dir to a real model exported with tools/export_model.py (see README)."
        );
    }
    Ok(model)
}

/// Runs `f` with this backend's model, loading it first if needed.
pub fn with_model<R>(f: impl FnOnce(&mut Model) -> Result<R, ZsError>) -> Result<R, ZsError> {
    let key = current_key();
    MODEL.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|l| l.key != key) {
            // Free the old sessions before the new ones take their memory.
            *slot = None;
            let model = load(&key)?;
            *slot = Some(Loaded { key, model });
        }
        f(&mut slot.as_mut().expect("loaded above").model)
    })
}

/// Counts texts scored by this backend (for zs_model_info).
pub fn count_texts(n: u64) {
    TEXTS_SCORED.with(|c| c.set(c.get() + n));
}

pub fn texts_scored() -> u64 {
    TEXTS_SCORED.with(|c| c.get())
}
