//! Where scripts/install puts what the extension loads by default: the bundled tiny test
//! model, the ONNX Runtime library and the zeroshot program, all found relative to the running Postgres.
use std::ffi::CStr;
use std::path::PathBuf;

/// A directory Postgres resolves relative to its own binary (share or pkglib).
fn pg_path(get: unsafe fn(*const std::ffi::c_char, *mut std::ffi::c_char)) -> PathBuf {
    let mut buf = vec![0 as std::ffi::c_char; pgrx::pg_sys::MAXPGPATH as usize];
    // SAFETY: my_exec_path is set at postmaster start; buf has MAXPGPATH bytes as required.
    unsafe {
        get(std::ptr::addr_of!(pgrx::pg_sys::my_exec_path) as *const std::ffi::c_char, buf.as_mut_ptr());
        PathBuf::from(CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
    }
}

/// Where scripts/install puts the tiny test model.
pub fn bundled_model_dir() -> PathBuf {
    pg_path(pgrx::pg_sys::get_share_path).join("extension/pg_zeroshot/tiny-mt5")
}

/// The extension's own folder in pkglib, where scripts/install-extension puts the ONNX
/// Runtime library and the zeroshot program side by side.
fn install_dir() -> PathBuf {
    pg_path(pgrx::pg_sys::get_pkglib_path).join("pg_zeroshot")
}

/// Where scripts/install puts the ONNX Runtime library: the engine names the file, so that
/// the zeroshot program, which looks beside itself, finds the same one.
pub fn bundled_library() -> PathBuf {
    zeroshot::runtime::installed_library(&install_dir())
}

/// Where scripts/install-extension puts the zeroshot program (the background worker runs it;
/// scripts/install links the one of PostgreSQL 15 into /usr/local/bin).
pub fn bundled_cli() -> PathBuf {
    install_dir().join("zeroshot")
}

/// The data directory (every backend's and worker's working directory).
pub fn data_dir() -> PathBuf {
    // SAFETY: DataDir is set before any extension code runs and never changes.
    let data_dir = unsafe { CStr::from_ptr(pgrx::pg_sys::DataDir) };
    PathBuf::from(&*data_dir.to_string_lossy())
}
