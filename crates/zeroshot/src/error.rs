//! One error type for the engine. `Error::kind` groups the variants the way a caller
//! reports them (the extension maps each kind to one SQLSTATE); the engine knows no SQL.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the label array is empty")]
    EmptyLabelSet,
    #[error("invalid label {label:?} (label {position}): {reason}")]
    InvalidLabel { label: String, position: usize, reason: String },
    #[error("{}", duplicate_message(first_label, *first, label, *second))]
    DuplicateLabel { first_label: String, first: usize, label: String, second: usize },
    #[error(
        "labels {first} ({first_label:?}) and {second} ({label:?}) are the same label to the model \
         (its tokenizer reads both as the same tokens)"
    )]
    SameTokens { first_label: String, first: usize, label: String, second: usize },
    #[error(
        "the prompt for {labels} labels needs {needed} tokens before any text, \
         more than max_input_tokens = {max}"
    )]
    TooManyLabels { labels: usize, needed: usize, max: usize },
    #[error(
        "the label set ({labels} labels, {chars} characters) cannot fit in max_input_tokens = {max} \
         tokens together with the prompt"
    )]
    LabelSetTooLarge { labels: usize, chars: usize, max: usize },
    #[error("canceled")]
    Interrupted,
    #[error("{what} does not exist: {path}")]
    MissingFile { what: String, path: PathBuf },
    #[error("invalid model file {path}: {reason}")]
    InvalidModel { path: PathBuf, reason: String },
    #[error("ONNX Runtime library does not exist: {0}")]
    MissingLibrary(PathBuf),
    #[error("cannot load the ONNX Runtime library {path}: {message}")]
    RuntimeLibrary { path: PathBuf, message: String },
    #[error("{0}")]
    DeviceUnavailable(String),
    #[error("ONNX Runtime failed to {action}: {message}")]
    Runtime { action: String, message: String },
    #[error("tokenizer failed: {0}")]
    Tokenizer(String),
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

/// How a caller should classify an error (the extension turns each into one SQLSTATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad argument from the caller (labels, options).
    InvalidParameter,
    /// The request does not fit a configured limit.
    ProgramLimit,
    /// A file or library that should be there is not.
    UndefinedFile,
    /// A file is there but its content is not what the engine needs.
    InvalidModel,
    /// The requested execution provider cannot be used here.
    DeviceUnavailable,
    /// ONNX Runtime or the tokenizer failed at run time.
    Internal,
    /// The caller's interrupt check fired (a cancel): the work stopped early.
    Interrupted,
    /// ONNX Runtime could not allocate memory (host or device) for a run.
    OutOfMemory,
}

impl ErrorKind {
    const ALL: [ErrorKind; 8] = [
        ErrorKind::InvalidParameter,
        ErrorKind::ProgramLimit,
        ErrorKind::UndefinedFile,
        ErrorKind::InvalidModel,
        ErrorKind::DeviceUnavailable,
        ErrorKind::Internal,
        ErrorKind::Interrupted,
        ErrorKind::OutOfMemory,
    ];

    /// The kind's name on the wire (`zeroshot serve`'s error bodies), stable across versions.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidParameter => "invalid_parameter",
            ErrorKind::ProgramLimit => "program_limit",
            ErrorKind::UndefinedFile => "undefined_file",
            ErrorKind::InvalidModel => "invalid_model",
            ErrorKind::DeviceUnavailable => "device_unavailable",
            ErrorKind::Internal => "internal",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::OutOfMemory => "out_of_memory",
        }
    }

    /// The kind a name stands for (`name`'s inverse).
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// What ONNX Runtime says when an allocation fails: its CPU allocator, its arena under a
/// memory limit (`gpu_mem_limit`), CUDA, and a C++ `std::bad_alloc` caught at its API.
const OUT_OF_MEMORY_MESSAGES: [&str; 5] =
    ["failed to allocate memory", "is smaller than requested bytes", "out of memory", "bad_alloc", "bad allocation"];

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::EmptyLabelSet
            | Error::InvalidLabel { .. }
            | Error::DuplicateLabel { .. }
            | Error::SameTokens { .. }
            | Error::InvalidOption(_) => ErrorKind::InvalidParameter,
            Error::TooManyLabels { .. } | Error::LabelSetTooLarge { .. } => ErrorKind::ProgramLimit,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::MissingFile { .. } | Error::MissingLibrary(_) | Error::RuntimeLibrary { .. } => {
                ErrorKind::UndefinedFile
            }
            Error::InvalidModel { .. } => ErrorKind::InvalidModel,
            Error::DeviceUnavailable(_) => ErrorKind::DeviceUnavailable,
            Error::Runtime { message, .. } if is_out_of_memory(message) => ErrorKind::OutOfMemory,
            Error::Runtime { .. } | Error::Tokenizer(_) => ErrorKind::Internal,
        }
    }

    /// Whether the error is about the labels themselves (refused as they are), so that the
    /// caller can say what labels must be; a server says it on the wire (`"about": "labels"`).
    pub fn concerns_labels(&self) -> bool {
        matches!(self, Error::InvalidLabel { .. } | Error::DuplicateLabel { .. } | Error::SameTokens { .. })
    }

    /// Whether the error is about the ONNX Runtime library rather than the model.
    pub fn concerns_runtime_library(&self) -> bool {
        matches!(self, Error::MissingLibrary(_) | Error::RuntimeLibrary { .. })
    }

    pub(crate) fn runtime(action: impl Into<String>, err: impl std::fmt::Display) -> Error {
        Error::Runtime { action: action.into(), message: err.to_string() }
    }

    pub(crate) fn invalid_model(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::InvalidModel { path: path.into(), reason: reason.into() }
    }
}

fn is_out_of_memory(message: &str) -> bool {
    let message = message.to_lowercase();
    OUT_OF_MEMORY_MESSAGES.iter().any(|m| message.contains(m))
}

fn duplicate_message(first_label: &str, first: usize, label: &str, second: usize) -> String {
    if first_label == label {
        format!("duplicate label {label:?} (labels {first} and {second})")
    } else {
        format!(
            "labels {first} ({first_label:?}) and {second} ({label:?}) are the same label to the model \
             (equal after its tokenizer's normalisation)"
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_failures_are_out_of_memory_and_other_failures_internal() {
        let kind = |message: &str| Error::runtime("run the decoder", message).kind();
        // ONNX Runtime 1.31's wording (onnxruntime/core/framework/bfc_arena.cc, cuda_call.cc).
        assert_eq!(kind("Failed to allocate memory for requested buffer of size 1073741824"), ErrorKind::OutOfMemory);
        assert_eq!(kind("Available memory of 0 is smaller than requested bytes of 4194304"), ErrorKind::OutOfMemory);
        assert_eq!(kind("CUDA failure 2: out of memory ; GPU=0"), ErrorKind::OutOfMemory);
        assert_eq!(kind("std::bad_alloc"), ErrorKind::OutOfMemory);
        assert_eq!(kind("Invalid input name: past_key_values.0.decoder.key"), ErrorKind::Internal);
        assert_eq!(Error::Tokenizer("out of memory".into()).kind(), ErrorKind::Internal);
    }
}
