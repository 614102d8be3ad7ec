//! Which ONNX Runtime library the program loads: `--onnxruntime-library`, else
//! `ORT_DYLIB_PATH`, else the one scripts/install put beside the installed program (the
//! engine's `runtime::installed_library` names it, as it does for the extension). And what
//! `zeroshot --version` says about it.
use std::fmt;
use std::path::{Path, PathBuf};

use zeroshot::runtime;

/// Where the chosen path came from: a missing file is reported against what named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Option,
    Env,
    BesideProgram,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Source::Option => "from --onnxruntime-library",
            Source::Env => "from ORT_DYLIB_PATH",
            Source::BesideProgram => "installed beside this program",
        })
    }
}

pub struct Choice {
    pub path: PathBuf,
    pub source: Source,
}

/// What to do when no library is there: the same advice wherever it is printed.
fn how_to_fix() -> String {
    format!(
        "run scripts/install from a checkout, or give --onnxruntime-library PATH or set ORT_DYLIB_PATH \
         to libonnxruntime.so.{}",
        runtime::installed_version()
    )
}

/// The folder of the running program, with symbolic links resolved (Linux's current_exe
/// reads /proc/self/exe): a link on the PATH leads to the installed folder, which holds the
/// library.
fn program_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.parent().map(Path::to_path_buf)
}

/// The library to load, or a one-line error saying what to do.
pub fn choose(option: Option<&Path>) -> Result<Choice, String> {
    if let Some(path) = option {
        return named(path.to_path_buf(), Source::Option, "--onnxruntime-library", "leave the option out");
    }
    if let Some(path) = runtime::library_from_env() {
        return named(path, Source::Env, "ORT_DYLIB_PATH", "unset it");
    }
    let dir = program_dir().ok_or_else(|| format!("cannot tell where this program is; {}", how_to_fix()))?;
    let path = runtime::installed_library(&dir);
    if !path.exists() {
        return Err(format!(
            "no ONNX Runtime library found: ORT_DYLIB_PATH is not set and {} is not there; {}",
            path.display(),
            how_to_fix()
        ));
    }
    Ok(Choice { path, source: Source::BesideProgram })
}

/// A path the user named (`by`): if it is not there, that is said before the model takes
/// seconds to load, with the way back to the installed library (`instead`).
fn named(path: PathBuf, source: Source, by: &str, instead: &str) -> Result<Choice, String> {
    if !path.exists() {
        return Err(format!(
            "{by} {} does not exist; give the path of libonnxruntime.so.{}, or {instead} to use the one \
             scripts/install put beside this program",
            path.display(),
            runtime::installed_version()
        ));
    }
    Ok(Choice { path, source })
}

/// The advice added to the engine's error when the library is there but does not load.
pub fn load_failure_hint() -> String {
    format!(
        "give --onnxruntime-library or ORT_DYLIB_PATH the path of an ONNX Runtime library (libonnxruntime.so.{})",
        runtime::installed_version()
    )
}

/// `zeroshot --version`: the program's version, then which ONNX Runtime it would load, its
/// version and where it is, or that there is none and how to fix that.
pub fn version_report() -> String {
    let mut text = format!("zeroshot {}\n", env!("CARGO_PKG_VERSION"));
    match choose(None) {
        Err(e) => text.push_str(&format!("{e}\n")),
        Ok(choice) => match runtime::probe_library(&choice.path) {
            Ok(version) => {
                text.push_str(&format!("ONNX Runtime {version}: {} ({})", choice.path.display(), choice.source));
                if version != runtime::installed_version() {
                    text.push_str(&format!("; the install uses {}", runtime::installed_version()));
                }
                text.push('\n');
            }
            Err(e) => text.push_str(&format!("ONNX Runtime {}: {e}\n", choice.source)),
        },
    }
    text
}
