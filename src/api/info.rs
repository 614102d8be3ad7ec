//! zs_model_info(): what this backend runs, read from the loaded model.
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::backend::{texts_scored, with_model};
use crate::error::OrReport;
use crate::gucs;

const RANDOM_WEIGHTS_WARNING: &str =
    "random weights: this is the tiny test model and its labels mean nothing; set zs.model_dir to a real model";

/// Loads the model if needed and describes it. VOLATILE (it counts texts) and
/// PARALLEL RESTRICTED (it describes the leader's backend). Server paths (model_dir,
/// onnxruntime_library) are shown to superusers and pg_read_server_files members only.
#[pg_extern(volatile, parallel_restricted)]
fn zs_model_info() -> JsonB {
    // The model's description (Model::describe, or the server's GET /v1/model), then this
    // backend's own state; server paths hidden from roles that may not see them.
    let (mut info, mode) = match crate::server_mode::client() {
        Some(client) => {
            let client = client.or_report();
            let mut info = crate::server_mode::model_info(&client).or_report();
            info["server_texts_scored"] = info.get("texts_scored").cloned().unwrap_or_default();
            // What every session sent: for roles that may see the server's activity.
            if !crate::disclosure::may_see_server_activity() {
                if let Some(fields) = info.as_object_mut() {
                    for counter in
                        ["server_texts_scored", "queue_texts", "uptime_s", "label_sets_cached", "label_cache_bytes"]
                    {
                        fields.remove(counter);
                    }
                }
            }
            info["server"] = json!(client.address.to_string());
            if info.get("random_weights").and_then(serde_json::Value::as_bool) == Some(true) {
                info["warning"] = json!(RANDOM_WEIGHTS_WARNING);
            }
            (info, "server")
        }
        None => {
            let info = with_model(|m| {
                let mut info = m.describe();
                let (cached_sets, cache_bytes) = m.label_cache_usage();
                info["warning"] = json!(m.is_random().then_some(RANDOM_WEIGHTS_WARNING));
                info["intra_op_threads"] = json!(match gucs::threads() {
                    0 => gucs::cores(),
                    n => n,
                });
                info["label_sets_cached"] = json!(cached_sets);
                info["label_cache_bytes"] = json!(cache_bytes);
                // The bound in force (zs.max_model_processes, or its automatic value for this model).
                info["max_model_processes"] = json!(crate::model_slots::limit(&m.dir).0);
                Ok(info)
            })
            .or_report();
            (info, "in-process")
        }
    };
    if !crate::disclosure::may_see_paths() {
        for path in ["model_dir", "onnxruntime_library", "server"] {
            if info.get(path).is_some() {
                info[path] = json!("(hidden: superuser or pg_read_server_files only)");
            }
        }
    }
    info["mode"] = json!(mode);
    info["texts_scored"] = json!(texts_scored());
    info["score_mode"] = json!(gucs::score_mode().name());
    info["device_setting"] = json!(gucs::device_setting_name());
    JsonB(info)
}
