//! manifest.json of a model directory (optional): what the export tool records about the
//! model — its id, prompt template, precision, whether its weights are random, checksums.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub model_id: Option<String>,
    /// True for test models: their answers mean nothing, and users are told so.
    #[serde(default)]
    pub random_weights: bool,
    #[serde(default)]
    pub prompt_template: Option<String>,
    #[serde(default)]
    pub label_separator: Option<String>,
    #[serde(default)]
    pub precision: Option<String>,
    /// File name → SHA-256 (hex) of the files the export wrote.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::invalid_model(path, e.to_string()))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::invalid_model(path, e.to_string()))?;
        // The names are joined to the model directory and read (checksums): a path that
        // leaves it (`../../etc/passwd`) would let the manifest's writer read any file.
        if let Some(name) = manifest.files.keys().find(|n| !is_plain_file_name(n)) {
            return Err(Error::invalid_model(
                path,
                format!("files entry {name:?} is not a plain file name inside the model directory"),
            ));
        }
        Ok(manifest)
    }

    /// Checks every listed file's SHA-256; the first mismatch is the error.
    pub fn verify_checksums(&self, dir: &Path) -> Result<()> {
        for (name, expected) in &self.files {
            let path = dir.join(name);
            if !path.exists() {
                return Err(Error::MissingFile { what: format!("{name} (listed in manifest.json)"), path });
            }
            let actual = sha256_file(&path)?;
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(Error::invalid_model(&path, format!("SHA-256 is {actual}, manifest.json says {expected}")));
            }
        }
        Ok(())
    }
}

/// A name with no directory part: not empty, no separator, not `.` or `..`, no NUL.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::invalid_model(path, e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        // Gigabytes at base size: a cancel is answered between chunks.
        crate::interrupt::check()?;
        let n = file.read(&mut buf).map_err(|e| Error::invalid_model(path, e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_accepted() {
        for ok in ["encoder_model.onnx", "config.json", "a..b"] {
            assert!(is_plain_file_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../../../../etc/passwd", "/etc/passwd", "sub/file", "a\\b", "a\0b"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }
}
