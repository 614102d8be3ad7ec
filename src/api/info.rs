//! zs_model_info(): what this backend runs, read from the loaded model.
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::backend::{texts_scored, with_model};
use crate::error::OrReport;
use crate::gucs;

/// Loads the model if needed and describes it. VOLATILE (it counts texts) and
/// PARALLEL RESTRICTED (it describes the leader's backend). Server paths (model_dir,
/// onnxruntime_library) are shown to superusers and pg_read_server_files members only.
#[pg_extern(volatile, parallel_restricted)]
fn zs_model_info() -> JsonB {
    let show_paths = crate::disclosure::may_see_paths();
    let hidden = || serde_json::Value::String("(hidden: superuser or pg_read_server_files only)".into());
    if let Some(client) = crate::server_mode::client() {
        // The server's model, as its GET /v1/model says, with this backend's own counters.
        let client = client.or_report();
        let mut info = crate::server_mode::model_info(&client).or_report();
        for path in ["model_dir", "onnxruntime_library"] {
            if !show_paths && info.get(path).is_some() {
                info[path] = hidden();
            }
        }
        info["mode"] = json!("server");
        info["server"] = json!(if show_paths { client.address.to_string() } else { "(hidden)".into() });
        info["server_texts_scored"] = info.get("texts_scored").cloned().unwrap_or_default();
        info["texts_scored"] = json!(texts_scored());
        info["score_mode"] = json!(format!("{:?}", gucs::score_mode()).to_lowercase());
        info["device_setting"] = json!(gucs::device_setting_name());
        return JsonB(info);
    }
    let info = with_model(|m| {
        let manifest = m.manifest.clone().unwrap_or_default();
        let (cached_sets, cache_bytes) = m.label_cache_usage();
        Ok(json!({
            "model_dir": if show_paths { json!(m.dir.display().to_string()) } else { hidden() },
            "model_id": manifest.model_id,
            "random_weights": manifest.random_weights,
            "warning": manifest.random_weights.then_some("random weights: this is the tiny test model and its labels mean nothing; set zs.model_dir to a real model"),
            "precision": manifest.precision,
            "execution_provider": m.provider,
            "score_outputs": m.score_outputs().name(),
            "shares_weights": m.shares_weights(),
            "batches_texts": m.batches_texts(),
            "graphs": m.loaded_graphs(),
            "intra_op_threads": match gucs::threads() {
                0 => gucs::cores(),
                n => n,
            },
            "score_mode": format!("{:?}", gucs::score_mode()).to_lowercase(),
            "device_setting": gucs::device_setting_name(),
            "onnxruntime_version": m.runtime.version,
            "onnxruntime_library": if show_paths { json!(m.runtime.library.display().to_string()) } else { hidden() },
            "load_ms": m.load_time.as_secs_f64() * 1000.0,
            "model_type": m.config.model_type,
            "vocab_size": m.config.vocab_size,
            "d_model": m.config.d_model,
            "num_layers": m.config.num_layers,
            "num_decoder_layers": m.config.decoder_layers(),
            "num_heads": m.config.num_heads,
            "texts_scored": texts_scored(),
            "label_sets_cached": cached_sets,
            "label_cache_bytes": cache_bytes,
            // The bound in force (zs.max_model_processes, or its automatic value for this model).
            "max_model_processes": crate::model_slots::limit(&m.dir).0,
            "mode": "in-process",
        }))
    })
    .or_report();
    JsonB(info)
}
