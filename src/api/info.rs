//! zs_model_info(): what this backend runs, read from the loaded model.
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::backend::{calls, with_model};
use crate::error::OrReport;
use crate::gucs;

/// Loads the model if needed and describes it. VOLATILE (it counts calls) and
/// PARALLEL RESTRICTED (it describes the leader's backend).
#[pg_extern(volatile, parallel_restricted)]
fn zs_model_info() -> JsonB {
    let info = with_model(|m| {
        let manifest = m.manifest.clone().unwrap_or_default();
        Ok(json!({
            "model_dir": m.dir.display().to_string(),
            "model_id": manifest.model_id,
            "random_weights": manifest.random_weights,
            "warning": manifest.random_weights.then_some("random weights: this is the tiny test model and its labels mean nothing; set zs.model_dir to a real model"),
            "precision": manifest.precision,
            "execution_provider": m.provider,
            "score_outputs": m.score_outputs(),
            "shares_weights": m.shares_weights(),
            "batches_texts": m.groups_texts(),
            "score_mode": format!("{:?}", gucs::score_mode()).to_lowercase(),
            "device_setting": gucs::device_name(),
            "onnxruntime_version": m.runtime.version,
            "onnxruntime_library": m.runtime.library.display().to_string(),
            "load_ms": m.load_time.as_secs_f64() * 1000.0,
            "model_type": m.config.model_type,
            "vocab_size": m.config.vocab_size,
            "d_model": m.config.d_model,
            "num_layers": m.config.num_layers,
            "num_decoder_layers": m.config.decoder_layers(),
            "num_heads": m.config.num_heads,
            "calls": calls(),
        }))
    })
    .or_report();
    JsonB(info)
}
