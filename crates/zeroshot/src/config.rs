//! The fields of a model's config.json that the scorer depends on. Token ids are read
//! here, never hard-coded: mT5, T5 and other text2text exports differ.
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Bounds far above any T5 (mT5-XXL: vocabulary 250,112, width 4,096, 24 layers, 64 heads).
const MAX_VOCAB: usize = 4_000_000;
const MAX_WIDTH: usize = 65_536;
const MAX_LAYERS: usize = 1_024;
const MAX_HEADS: usize = 1_024;

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
        let config: ModelConfig = serde_json::from_str(&text).map_err(|e| Error::invalid_model(path, e.to_string()))?;
        config.check_bounds(path)?;
        Ok(config)
    }

    /// Every dimension within sane bounds, before anything is allocated from it: a
    /// `num_layers` of 300 million must be an error naming the field, not an abort.
    fn check_bounds(&self, path: &Path) -> Result<()> {
        let dims = [
            ("vocab_size", Some(self.vocab_size), MAX_VOCAB),
            ("d_model", Some(self.d_model), MAX_WIDTH),
            ("num_layers", Some(self.num_layers), MAX_LAYERS),
            ("num_decoder_layers", self.num_decoder_layers, MAX_LAYERS),
            ("num_heads", Some(self.num_heads), MAX_HEADS),
            ("d_kv", self.d_kv, MAX_WIDTH),
        ];
        for (field, value, max) in dims {
            if let Some(v) = value {
                if v == 0 || v > max {
                    return Err(Error::invalid_model(path, format!("{field} is {v}; it must be between 1 and {max}")));
                }
            }
        }
        for (field, id) in [
            ("decoder_start_token_id", self.decoder_start_token_id),
            ("eos_token_id", self.eos_token_id),
            ("pad_token_id", self.pad_token_id),
        ] {
            if id as usize >= self.vocab_size {
                return Err(Error::invalid_model(
                    path,
                    format!("{field} {id} is outside the vocabulary (vocab_size {})", self.vocab_size),
                ));
            }
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.d_kv.unwrap_or(self.d_model / self.num_heads.max(1))
    }

    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }
}
