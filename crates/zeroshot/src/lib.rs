//! zeroshot: exact zero-shot label scoring with an mT5 text2text model in ONNX Runtime.
//!
//! No Postgres here: the extension and the `zeroshot` command line are both front ends.
//! See the README for the model contract and the scoring method.
pub mod aliases;
mod batch;
pub mod classify;
pub mod config;
pub mod error;
pub mod generate;
pub mod graphs;
pub mod host_tensors;
pub mod interrupt;
pub mod labels;
pub mod load_options;
pub mod manifest;
pub mod model;
pub mod prompt;
pub mod runs;
pub mod runtime;
pub mod sampling;
mod scorer;
pub mod tokenize;
mod tree_parts;
mod tree_pass;
pub mod trie;

pub use aliases::LabelForms;
pub use classify::{Classification, ScoreMode, ScoreOptions};
pub use error::{Error, ErrorKind, Result};
pub use generate::{GenerateOptions, Generation};
pub use labels::PreparedLabels;
pub use load_options::{Device, LoadOptions};
pub use model::Model;
pub use runs::RunLimits;
pub use sampling::Sampling;
