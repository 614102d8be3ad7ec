//! The ONNX Runtime library and environment. One environment per process (ONNX Runtime
//! refuses a second), created on first use from an explicit library path: the `ort`
//! crate's own fallback (a library name on the search path, or a panic) never runs.
use std::ffi::{c_char, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::error::{Error, Result};

pub struct Runtime {
    pub env: Environment,
    pub library: PathBuf,
    pub version: String,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// `OrtApiBase` from onnxruntime_c_api.h: the one symbol every ONNX Runtime library exports.
#[repr(C)]
struct OrtApiBase {
    get_api: unsafe extern "C" fn(u32) -> *const c_void,
    get_version_string: unsafe extern "C" fn() -> *const c_char,
}

/// An error and its causes on one line (libloading keeps dlerror()'s text in the source).
fn with_sources(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Opens the library ourselves first, so that a wrong path gives the loader's own message
/// and the version is known; a failed attempt leaves nothing behind, so a corrected path
/// works on the next call. Public for `zeroshot --version`, which reports the version of
/// the library it would load without creating an environment.
pub fn probe_library(path: &Path) -> Result<String> {
    if !path.exists() {
        return Err(Error::MissingLibrary(path.to_path_buf()));
    }
    let fail = |message: String| Error::RuntimeLibrary { path: path.to_path_buf(), message };
    // SAFETY: loading ONNX Runtime runs only its static initialisers.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| fail(with_sources(&e)))?;
    // SAFETY: the symbol has this signature in every ONNX Runtime release.
    let version = unsafe {
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const OrtApiBase> = lib
            .get(b"OrtGetApiBase")
            .map_err(|_| fail("the library does not export OrtGetApiBase; is it ONNX Runtime?".into()))?;
        let base = get_base();
        if base.is_null() {
            return Err(fail("OrtGetApiBase returned null".into()));
        }
        CStr::from_ptr(((*base).get_version_string)()).to_string_lossy().into_owned()
    };
    // Keep it loaded: ort opens the same file again and unloading ONNX Runtime is not safe.
    std::mem::forget(lib);
    Ok(version)
}

/// The process's runtime, loading `library` on first use. Later calls return the loaded
/// runtime whatever path they pass: compare `Runtime::library` to tell the caller.
pub fn runtime(library: &Path) -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let version = probe_library(library)?;
    let env = ort::init_from(library)
        .map_err(|e| Error::RuntimeLibrary { path: library.to_path_buf(), message: e.to_string() })?
        .with_name("zeroshot")
        .with_telemetry(false)
        .build()
        .map_err(|e| Error::runtime("create its environment", e))?;
    Ok(RUNTIME.get_or_init(|| Runtime { env, library: library.to_path_buf(), version }))
}

/// The runtime if one was loaded in this process.
pub fn loaded() -> Option<&'static Runtime> {
    RUNTIME.get()
}

/// The library named by `ORT_DYLIB_PATH`, for command-line use.
pub fn library_from_env() -> Option<PathBuf> {
    std::env::var_os("ORT_DYLIB_PATH").filter(|s| !s.is_empty()).map(PathBuf::from)
}

/// The ONNX Runtime version the project installs (ONNXRUNTIME_VERSION at the repository
/// root, which scripts/common.sh reads too): one place for the extension and the command line.
pub fn installed_version() -> &'static str {
    include_str!("../../../ONNXRUNTIME_VERSION").trim()
}

/// The library that scripts/install-extension puts in `dir`, the extension's own folder
/// (`$(pg_config --pkglibdir)/pg_zeroshot`), beside the `zeroshot` program it installs there.
/// The extension looks in that folder by default, and so does the program, from its own
/// location: both defaults name the same file.
pub fn installed_library(dir: &Path) -> PathBuf {
    dir.join(format!("libonnxruntime.so.{}", installed_version()))
}
