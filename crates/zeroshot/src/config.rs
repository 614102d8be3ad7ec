//! The fields of a model's config.json that the scorer depends on. Token ids are read
//! here, never hard-coded: mT5, T5 and other text2text exports differ.
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
pub struct ModelConfig {
    #[serde(default)]
    pub model_type: String,
    pub vocab_size: usize,
    pub d_model: usize,
    pub num_layers: usize,
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    pub num_heads: usize,
    /// Width of one attention head (T5's d_kv); d_model / num_heads when absent.
    #[serde(default)]
    pub d_kv: Option<usize>,
    pub decoder_start_token_id: u32,
    pub eos_token_id: u32,
    pub pad_token_id: u32,
}

impl ModelConfig {
    pub fn read(path: &Path) -> Result<ModelConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::invalid_model(path, e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| Error::invalid_model(path, e.to_string()))
    }

    pub fn head_dim(&self) -> usize {
        self.d_kv.unwrap_or(self.d_model / self.num_heads.max(1))
    }

    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }
}
