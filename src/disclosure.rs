//! What a role may learn about the server: the paths of the model directory and of the ONNX
//! Runtime library, and the address of zs.server, are shown to superusers and members of
//! pg_read_server_files (who can read those files anyway), and hidden from everyone else, in
//! zs_model_info() and in errors. In server mode, the server's counters (every session's
//! texts, its queue and cache) are shown to superusers and pg_read_all_stats members only.
use pgrx::pg_sys;

use crate::gucs;

/// Whether the current role is a superuser or has the privileges of the predefined `role`.
fn superuser_or(role: u32) -> bool {
    // SAFETY: plain catalog lookups for the current role.
    unsafe { pg_sys::superuser() || pg_sys::has_privs_of_role(pg_sys::GetUserId(), pg_sys::Oid::from(role)) }
}

/// Whether the current role may see server paths.
pub fn may_see_paths() -> bool {
    superuser_or(pg_sys::ROLE_PG_READ_SERVER_FILES)
}

/// Whether the current role may see what the whole server does (pg_read_all_stats, as for
/// other sessions' activity): the zeroshot server's counters, queue and cache in server mode.
pub fn may_see_server_activity() -> bool {
    superuser_or(pg_sys::ROLE_PG_READ_ALL_STATS)
}

/// `text` with the model directory and the library path replaced by the settings' names,
/// unless the current role may see them.
pub fn hide_paths(text: String) -> String {
    if may_see_paths() {
        return text;
    }
    let mut text = text;
    for (path, setting) in
        [(gucs::model_dir(), "$zs.model_dir"), (gucs::onnxruntime_library(), "$zs.onnxruntime_library")]
    {
        let shown = path.display().to_string();
        if !shown.is_empty() {
            text = text.replace(&shown, setting);
        }
        if let Some(parent) = path.parent().map(|p| p.display().to_string()).filter(|p| p.len() > 1) {
            text = text.replace(&parent, &format!("{setting}/.."));
        }
    }
    // The setting as written (or the started server's socket, in the data directory), then its
    // socket path or host:port alone.
    let server = gucs::server().or_else(|| crate::server_worker::started_server_address()?.ok());
    if let Some(server) = server {
        let bare =
            server.strip_prefix("unix:").or_else(|| server.strip_prefix("http://")).map(|s| s.trim_end_matches('/'));
        for shown in [Some(server.as_str()), bare].into_iter().flatten().filter(|s| !s.is_empty()) {
            text = text.replace(shown, "$zs.server");
        }
    }
    text
}
