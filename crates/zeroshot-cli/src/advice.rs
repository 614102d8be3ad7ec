//! The errors a new user meets first, each made one line that says what to do: no model
//! directory, a folder that is not one (a parent folder, a PyTorch checkpoint), CUDA asked for
//! where it cannot run. (A missing ONNX Runtime library: `onnxruntime`.) The engine's own
//! messages say what is wrong; the advice is the command line's, since it names options.
use std::path::{Path, PathBuf};

use zeroshot::graphs::{CONFIG_FILE, ENCODER_FILE};
use zeroshot::Error;

use crate::onnxruntime;

const EXPORT: &str = "a folder exported by tools/export_model.py (README \"The real model\")";

/// The model directory the options name, or why there is none.
pub fn model_dir(given: Option<&Path>) -> Result<PathBuf, String> {
    let dir = given.ok_or_else(|| {
        format!(
            "no model: give --model-dir DIR (or set ZS_MODEL_DIR), {EXPORT}; the random-weights test model is \
             installed in $(pg_config --sharedir)/extension/pg_zeroshot/tiny-mt5"
        )
    })?;
    if !dir.exists() {
        return Err(format!("--model-dir {} does not exist; give {EXPORT}", dir.display()));
    }
    if !dir.is_dir() {
        return Err(format!("--model-dir {} is a file, not a folder; give the folder that holds it", dir.display()));
    }
    Ok(dir.to_path_buf())
}

/// The engine's load error, with what to do where the user can do something.
pub fn load_error(e: Error, dir: &Path) -> String {
    match &e {
        Error::MissingFile { path, .. } if path.parent() == Some(dir) => {
            format!("{} is not a model folder: {e}; {}", dir.display(), layout_advice(dir))
        }
        Error::DeviceUnavailable(detail) => {
            // The engine words it for the extension (zs.device); the option here is --device.
            let detail = detail.strip_prefix("zs.device is cuda but ").unwrap_or(detail).trim_end_matches('.');
            format!(
                "--device cuda, but {detail}; use --device cpu (or auto, which falls back to the CPU), or give \
                 --onnxruntime-library an ONNX Runtime built with CUDA (the onnxruntime-gpu wheel's library)"
            )
        }
        Error::MissingLibrary(_) | Error::RuntimeLibrary { .. } => {
            format!("{e}; {}", onnxruntime::load_failure_hint())
        }
        _ => e.to_string(),
    }
}

/// Why a folder without the model's files is not one, from what it holds instead.
fn layout_advice(dir: &Path) -> String {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    entries.sort();
    let name = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if entries.iter().map(name).any(|n| n.ends_with(".safetensors") || n.starts_with("pytorch_model")) {
        return "it holds a PyTorch checkpoint: export it to ONNX first (tools/export_model.py, README \"The real model\")"
            .into();
    }
    if let Some(sub) = entries.iter().find(|p| p.join(CONFIG_FILE).is_file() && p.join(ENCODER_FILE).is_file()) {
        return format!("did you mean --model-dir {}?", sub.display());
    }
    format!("give --model-dir {EXPORT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zs-advice-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn missing_config(dir: &Path) -> Error {
        Error::MissingFile { what: "model file config.json".into(), path: dir.join(CONFIG_FILE) }
    }

    #[test]
    fn no_model_dir_says_which_option() {
        let e = model_dir(None).unwrap_err();
        assert!(e.contains("--model-dir") && e.contains("ZS_MODEL_DIR"), "{e}");
        let e = model_dir(Some(Path::new("/no/such/folder"))).unwrap_err();
        assert!(e.starts_with("--model-dir /no/such/folder does not exist"), "{e}");
    }

    #[test]
    fn a_parent_folder_points_at_the_model_inside() {
        let dir = scratch("parent");
        let sub = dir.join("mt5");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(CONFIG_FILE), "{}").unwrap();
        std::fs::write(sub.join(ENCODER_FILE), "").unwrap();
        let e = load_error(missing_config(&dir), &dir);
        assert!(e.ends_with(&format!("did you mean --model-dir {}?", sub.display())), "{e}");
        assert!(!e.contains('\n'));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_checkpoint_is_to_be_exported() {
        let dir = scratch("checkpoint");
        std::fs::write(dir.join("model.safetensors"), "").unwrap();
        let e = load_error(missing_config(&dir), &dir);
        assert!(e.contains("PyTorch checkpoint") && e.contains("tools/export_model.py"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn cuda_advice_names_the_options() {
        let e = Error::DeviceUnavailable(
            "zs.device is cuda but the CUDA execution provider could not be used with /x.so: not enabled.".into(),
        );
        let e = load_error(e, Path::new("/m"));
        assert_eq!(
            e,
            "--device cuda, but the CUDA execution provider could not be used with /x.so: not enabled; use --device \
             cpu (or auto, which falls back to the CPU), or give --onnxruntime-library an ONNX Runtime built with \
             CUDA (the onnxruntime-gpu wheel's library)"
        );
    }
}
