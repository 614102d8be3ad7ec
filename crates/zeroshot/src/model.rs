//! A model directory in the Optimum layout, checked and loaded into three ONNX Runtime
//! sessions, with the tokenizer, prompt template and a cache of prepared label sets.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ort::session::Session;

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::interrupt;
use crate::labels::{validate_labels, LabelRules};
use crate::manifest::Manifest;
use crate::prompt::{PromptTemplate, DEFAULT_SEPARATOR, DEFAULT_TEMPLATE};
use crate::runtime::{self, Runtime};
use crate::scorer::{kv_names, ScoreOutputs, LOGPROBS_OUTPUT};
use crate::tokenize::{TextTokenizer, TEXT_CHARS_PER_TOKEN};
use crate::trie::LabelTrie;

pub const ENCODER_FILE: &str = "encoder_model.onnx";
pub const DECODER_FILE: &str = "decoder_model.onnx";
pub const DECODER_WITH_PAST_FILE: &str = "decoder_with_past_model.onnx";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const CONFIG_FILE: &str = "config.json";
/// Optional (our export writes it): cross-attention keys/values from the encoder output.
/// With it decoder_model.onnx is not loaded (see `Model::load`).
pub const CROSS_KV_FILE: &str = "decoder_cross_kv.onnx";
pub const MANIFEST_FILE: &str = "manifest.json";
/// Metadata key (value "1") that tools/export_model.py sets on a decoder_with_past graph
/// whose cross-attention groups the batch by text (`group_cross_attention` there).
pub const GROUPED_KEY: &str = "pg_zeroshot.grouped_cross_attention";
const REQUIRED_FILES: [&str; 5] = [CONFIG_FILE, TOKENIZER_FILE, ENCODER_FILE, DECODER_FILE, DECODER_WITH_PAST_FILE];

/// How many prepared label sets a model keeps (least recently used goes first), and the
/// most memory they may hold together: a backend serving many label sets must not grow.
const LABEL_CACHE_SIZE: usize = 64;
const LABEL_CACHE_BYTES: usize = 8 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// CUDA when its provider loads, else the CPU.
    Auto,
    Cpu,
    Cuda,
}

impl Device {
    /// The name `FromStr` reads back.
    pub fn name(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}

impl FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Device> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            _ => Err(Error::InvalidOption(format!("device {s:?}: expected auto, cpu or cuda"))),
        }
    }
}

/// Everything that decides how a model is loaded; a change to any of it means a reload.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    pub library: PathBuf,
    pub device: Device,
    pub cuda_device_id: i32,
    /// Intra-op threads per session; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
    /// Check manifest.json's SHA-256 of every file before loading.
    pub verify_checksums: bool,
    /// Read scores from the `label_logprobs` output when the graphs have it
    /// (our export adds them); false forces full logits, as a plain Optimum export gives.
    pub fused_scores: bool,
    /// Load the ORT-format copies (`*.ort`, written by `export_model.py --ort-format`) from
    /// memory-mapped files, with ONNX Runtime using the mapped bytes as the weights and no
    /// prepacking: every process that maps the same files shares one copy in the page cache.
    pub share_weights: bool,
}

/// The shapes of every decoder-with-past input, run by run: (input name, shape) lists.
pub(crate) type ShapeLog = Vec<Vec<(String, Vec<usize>)>>;

pub(crate) struct Sessions {
    pub encoder: Session,
    /// decoder_model.onnx: loaded only where there is no cross-KV graph (or on demand for
    /// the teacher-forced check); it repeats the 250k-wide matrices of decoder_with_past.
    pub decoder: Option<Session>,
    pub cross_kv: Option<Session>,
    pub decoder_with_past: Session,
    /// decoder_with_past_model.onnx reads its batch as several texts' trie nodes, each text
    /// with its own cross-attention keys/values (our export's grouped cross-attention; see
    /// `GROUPED_KEY`). Without it, texts are scored one at a time.
    pub batches_texts: bool,
    /// When set, the shapes of every decoder-with-past input, run by run (for tests).
    pub shape_log: Option<ShapeLog>,
}

/// A label set made ready for scoring: validated, tokenised, as a trie.
pub struct PreparedLabels {
    pub labels: Vec<String>,
    pub(crate) label_part: String,
    pub(crate) trie: LabelTrie,
}

impl PreparedLabels {
    pub fn trie(&self) -> &LabelTrie {
        &self.trie
    }

    /// Approximate heap bytes: the labels, the prompt's label part and the trie.
    fn size_bytes(&self) -> usize {
        let labels: usize = self.labels.iter().map(|l| l.capacity() + std::mem::size_of::<String>()).sum();
        labels + self.label_part.capacity() + self.trie.size_bytes()
    }
}

pub struct Model {
    pub dir: PathBuf,
    pub config: ModelConfig,
    pub manifest: Option<Manifest>,
    pub provider: &'static str,
    pub load_time: Duration,
    options: LoadOptions,
    pub runtime: &'static Runtime,
    pub(crate) tokenizer: TextTokenizer,
    pub(crate) template: PromptTemplate,
    pub(crate) sessions: Sessions,
    pub(crate) score_outputs: ScoreOutputs,
    label_cache: VecDeque<Arc<PreparedLabels>>,
    /// The mapped ORT-format files the sessions read their weights from (share_weights).
    /// Declared after `sessions`, so it is dropped after them.
    _mapped: Vec<memmap2::Mmap>,
}

fn require_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingFile { what: format!("model file {name}"), path })
    }
}

/// Names a graph must have, checked before the first run so a wrong export fails with
/// the file and the name rather than with ONNX Runtime's message in the middle of a query.
fn check_names(path: &Path, kind: &str, have: Vec<String>, want: &[String]) -> Result<()> {
    let missing: Vec<&String> = want.iter().filter(|w| !have.contains(w)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_model(path, format!("graph has no {kind} {missing:?} (it has {have:?}); export it with optimum's text2text-generation-with-past task or tools/export_model.py")))
}

/// A static dimension of an outlet that disagrees with config.json is an error; a dynamic
/// one (-1) is checked when the graph runs.
fn check_dim(
    path: &Path,
    outlets: &[ort::value::Outlet],
    name: &str,
    axis: usize,
    want: usize,
    what: &str,
) -> Result<()> {
    let Some(outlet) = outlets.iter().find(|o| o.name() == name) else { return Ok(()) };
    if let ort::value::ValueType::Tensor { shape, .. } = outlet.dtype() {
        let dims: Vec<i64> = shape.iter().copied().collect();
        if let Some(&d) = dims.get(axis) {
            if d >= 0 && d as usize != want {
                return Err(Error::invalid_model(
                    path,
                    format!("{name} has {what} {d} (dimension {axis} of {dims:?}) but config.json says {want}"),
                ));
            }
        }
    }
    Ok(())
}

fn session_names(s: &Session) -> (Vec<String>, Vec<String>) {
    (
        s.inputs().iter().map(|o| o.name().to_string()).collect(),
        s.outputs().iter().map(|o| o.name().to_string()).collect(),
    )
}

/// The ORT-format copy of `onnx` (same name, `.ort`), mapped read-only.
fn map_ort_file(onnx: &Path) -> Result<memmap2::Mmap> {
    let path = onnx.with_extension("ort");
    if !path.is_file() {
        return Err(Error::MissingFile {
            what: format!(
                "ORT-format copy {} (needed to share weights; write it with export_model.py --ort-format)",
                path.file_name().unwrap_or_default().to_string_lossy()
            ),
            path,
        });
    }
    let file = std::fs::File::open(&path).map_err(|e| Error::invalid_model(&path, e.to_string()))?;
    // SAFETY: the file is only read; replacing a model file under a running server is not
    // supported (documented), as with any memory-mapped data file.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::invalid_model(&path, e.to_string()))
}

fn open_session(
    rt: &Runtime,
    path: &Path,
    opts: &LoadOptions,
    mapped: Option<&[u8]>,
) -> Result<(Session, &'static str)> {
    let build_err = |e: ort::Error<ort::session::builder::SessionBuilder>| Error::runtime("configure a session", e);
    let mut builder = Session::builder(&rt.env).map_err(|e| Error::runtime("create a session builder", e))?;
    if opts.threads > 0 {
        builder = builder.with_intra_threads(opts.threads).map_err(build_err)?;
    }
    // A backend must not spin a core while it waits for its next query.
    builder = builder.with_intra_op_spinning(false).map_err(build_err)?;
    // Warnings would go to the server log on every load (our graphs' optional input draws one).
    builder = builder.with_log_level(ort::logging::LogLevel::Error).map_err(build_err)?;
    let mut provider = "CPUExecutionProvider";
    if opts.device != Device::Cpu {
        let cuda =
            ort::ep::CUDA::default().with_device_id(opts.cuda_device_id).with_tf32(true).build().error_on_failure();
        match builder.with_execution_providers([cuda]) {
            Ok(b) => {
                builder = b;
                provider = "CUDAExecutionProvider";
            }
            Err(e) if opts.device == Device::Auto => builder = e.recover(),
            Err(e) => {
                return Err(Error::DeviceUnavailable(format!(
                    "zs.device is cuda but the CUDA execution provider could not be used with {}: {e}",
                    rt.library.display()
                )))
            }
        }
    }
    let session = match mapped {
        // The weights stay in the mapped file: no copy, no prepacked private copy either.
        Some(bytes) => {
            let b = builder.with_config_entry("session.use_ort_model_bytes_directly", "1").map_err(build_err)?;
            let b = b.with_config_entry("session.use_ort_model_bytes_for_initializers", "1").map_err(build_err)?;
            b.with_prepacking(false).map_err(build_err)?.commit_from_memory(bytes)
        }
        None => builder.commit_from_file(path),
    }
    .map_err(|e| Error::runtime(format!("load {}", path.display()), e))?;
    Ok((session, provider))
}

impl Model {
    /// Checks the directory and loads the model. Errors name the file and what is wrong.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Model> {
        let started = Instant::now();
        if !dir.is_dir() {
            return Err(Error::MissingFile { what: "model directory".into(), path: dir.to_path_buf() });
        }
        for name in REQUIRED_FILES {
            require_file(dir, name)?;
        }
        let manifest = match dir.join(MANIFEST_FILE) {
            p if p.is_file() => Some(Manifest::read(&p)?),
            _ => None,
        };
        if opts.verify_checksums {
            if let Some(m) = &manifest {
                m.verify_checksums(dir)?;
            }
        }
        let config_path = dir.join(CONFIG_FILE);
        let config = ModelConfig::read(&config_path)?;
        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let tokenizer = TextTokenizer::from_file(&tokenizer_path, config.eos_token_id)?;
        Self::check_token_ids(&config, &tokenizer, &config_path)?;
        let template = match &manifest {
            Some(m) => PromptTemplate::new(
                m.prompt_template.as_deref().unwrap_or(DEFAULT_TEMPLATE),
                m.label_separator.as_deref().unwrap_or(DEFAULT_SEPARATOR),
            )
            .map_err(|e| Error::invalid_model(dir.join(MANIFEST_FILE), e.to_string()))?,
            None => PromptTemplate::default(),
        };

        let rt = runtime::runtime(&opts.library)?;
        // With share_weights each graph is read from its mapped .ort copy; the mappings are kept
        // (moving an Mmap does not move the mapped bytes the session points into).
        let mut maps = Vec::new();
        let mut open = |file: &str| -> Result<(Session, &'static str)> {
            let map = if opts.share_weights { Some(map_ort_file(&dir.join(file))?) } else { None };
            let session = open_session(rt, &dir.join(file), opts, map.as_deref())?;
            maps.extend(map);
            Ok(session)
        };
        let (encoder, provider) = open(ENCODER_FILE)?;
        let (decoder_with_past, _) = open(DECODER_WITH_PAST_FILE)?;
        let layers = config.decoder_layers();
        let (ins, outs) = session_names(&encoder);
        check_names(&dir.join(ENCODER_FILE), "input", ins, &["input_ids".into(), "attention_mask".into()])?;
        check_names(&dir.join(ENCODER_FILE), "output", outs, &["last_hidden_state".into()])?;
        let (decoder, cross_kv) = if dir.join(CROSS_KV_FILE).is_file() {
            let (cross, _) = open(CROSS_KV_FILE)?;
            let (ins, outs) = session_names(&cross);
            check_names(&dir.join(CROSS_KV_FILE), "input", ins, &["encoder_hidden_states".into()])?;
            check_names(&dir.join(CROSS_KV_FILE), "output", outs, &kv_names("present", layers, "encoder"))?;
            (None, Some(cross))
        } else {
            let (decoder, _) = open(DECODER_FILE)?;
            Self::check_decoder(dir, &decoder, layers)?;
            (Some(decoder), None)
        };
        let (ins, outs) = session_names(&decoder_with_past);
        let mut want = vec!["input_ids".to_string(), "encoder_attention_mask".into()];
        want.extend(kv_names("past_key_values", layers, "decoder"));
        want.extend(kv_names("past_key_values", layers, "encoder"));
        check_names(&dir.join(DECODER_WITH_PAST_FILE), "input", ins, &want)?;
        let mut want = vec!["logits".to_string()];
        want.extend(kv_names("present", layers, "decoder"));
        check_names(&dir.join(DECODER_WITH_PAST_FILE), "output", outs, &want)?;
        let heads = config.num_heads;
        check_dim(&dir.join(ENCODER_FILE), encoder.outputs(), "last_hidden_state", 2, config.d_model, "width")?;
        for (file, session) in
            decoder.iter().map(|d| (DECODER_FILE, d)).chain([(DECODER_WITH_PAST_FILE, &decoder_with_past)])
        {
            check_dim(&dir.join(file), session.outputs(), "logits", 2, config.vocab_size, "vocabulary size")?;
            check_dim(&dir.join(file), session.outputs(), "present.0.decoder.key", 1, heads, "attention heads")?;
        }

        let batches_texts = decoder_with_past
            .metadata()
            .map_err(|e| {
                Error::runtime(format!("read the metadata of {}", dir.join(DECODER_WITH_PAST_FILE).display()), e)
            })?
            .custom(GROUPED_KEY)
            .is_some_and(|v| v == "1");
        let fused =
            decoder.iter().chain([&decoder_with_past]).all(|s| s.outputs().iter().any(|o| o.name() == LOGPROBS_OUTPUT));
        let score_outputs = if fused && opts.fused_scores { ScoreOutputs::Fused } else { ScoreOutputs::FullLogits };
        Ok(Model {
            dir: dir.to_path_buf(),
            config,
            manifest,
            provider,
            load_time: started.elapsed(),
            options: opts.clone(),
            runtime: rt,
            tokenizer,
            template,
            sessions: Sessions { encoder, decoder, cross_kv, decoder_with_past, batches_texts, shape_log: None },
            score_outputs,
            label_cache: VecDeque::with_capacity(LABEL_CACHE_SIZE),
            _mapped: maps,
        })
    }

    fn check_decoder(dir: &Path, decoder: &Session, layers: usize) -> Result<()> {
        let (ins, outs) = session_names(decoder);
        check_names(
            &dir.join(DECODER_FILE),
            "input",
            ins,
            &["input_ids".into(), "encoder_hidden_states".into(), "encoder_attention_mask".into()],
        )?;
        let mut want = vec!["logits".to_string()];
        want.extend(kv_names("present", layers, "decoder"));
        want.extend(kv_names("present", layers, "encoder"));
        check_names(&dir.join(DECODER_FILE), "output", outs, &want)
    }

    /// decoder_model.onnx, opened now if the fast path did not need it.
    pub(crate) fn ensure_decoder(&mut self) -> Result<()> {
        if self.sessions.decoder.is_none() {
            let (decoder, _) = open_session(self.runtime, &self.dir.join(DECODER_FILE), &self.options, None)?;
            Self::check_decoder(&self.dir, &decoder, self.config.decoder_layers())?;
            self.sessions.decoder = Some(decoder);
        }
        Ok(())
    }

    /// Graphs this model runs, by file name (decoder_model.onnx only without a cross-KV graph).
    pub fn loaded_graphs(&self) -> Vec<&'static str> {
        let mut g = vec![ENCODER_FILE];
        if self.sessions.cross_kv.is_some() {
            g.push(CROSS_KV_FILE);
        }
        if self.sessions.decoder.is_some() {
            g.push(DECODER_FILE);
        }
        g.push(DECODER_WITH_PAST_FILE);
        g
    }

    /// The ids the scorer relies on must agree between config.json and tokenizer.json.
    fn check_token_ids(config: &ModelConfig, tokenizer: &TextTokenizer, config_path: &Path) -> Result<()> {
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::invalid_model(
                config_path,
                format!(
                    "vocab_size {} is smaller than the tokenizer's {} tokens",
                    config.vocab_size,
                    tokenizer.vocab_size()
                ),
            ));
        }
        for (what, id, piece) in
            [("eos_token_id", config.eos_token_id, "</s>"), ("pad_token_id", config.pad_token_id, "<pad>")]
        {
            if let Some(tok_id) = tokenizer.token_to_id(piece) {
                if tok_id != id {
                    return Err(Error::invalid_model(
                        config_path,
                        format!("{what} is {id} but tokenizer.json has {piece} = {tok_id}"),
                    ));
                }
            }
        }
        if config.decoder_start_token_id as usize >= config.vocab_size {
            return Err(Error::invalid_model(
                config_path,
                format!("decoder_start_token_id {} is outside the vocabulary", config.decoder_start_token_id),
            ));
        }
        Ok(())
    }

    /// Whether `classify_many` scores several texts per ONNX Runtime run.
    pub fn batches_texts(&self) -> bool {
        self.sessions.batches_texts
    }

    pub fn shares_weights(&self) -> bool {
        !self._mapped.is_empty()
    }

    /// "fused" when only the needed log-probabilities leave ONNX Runtime, else "full_logits".
    pub fn score_outputs(&self) -> &'static str {
        match self.score_outputs {
            ScoreOutputs::Fused => "fused",
            ScoreOutputs::FullLogits => "full_logits",
        }
    }

    /// Starts (or stops) recording the input shapes of each decoder-with-past run.
    pub fn record_input_shapes(&mut self, on: bool) {
        self.sessions.shape_log = on.then(Vec::new);
    }

    /// The recorded shapes: one list of (input name, shape) per decoder-with-past run.
    pub fn input_shapes(&self) -> &[Vec<(String, Vec<usize>)>] {
        self.sessions.shape_log.as_deref().unwrap_or(&[])
    }

    pub fn is_random(&self) -> bool {
        self.manifest.as_ref().is_some_and(|m| m.random_weights)
    }

    pub fn model_id(&self) -> Option<&str> {
        self.manifest.as_ref().and_then(|m| m.model_id.as_deref())
    }

    pub fn template(&self) -> &PromptTemplate {
        &self.template
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The prompt ids for `text` under `labels`, truncated as `classify` does.
    pub fn prompt_ids(
        &self,
        text: &str,
        labels: &PreparedLabels,
        max_input_tokens: usize,
    ) -> Result<crate::tokenize::PromptIds> {
        self.tokenizer.prompt_ids(&self.template, &labels.label_part, labels.labels.len(), text, max_input_tokens)
    }

    /// The label set validated, tokenised and turned into a trie, from the cache when the
    /// same labels (same order) were seen recently. A set that cannot fit in a prompt of
    /// `max_input_tokens` is refused before anything is built from it, and never cached.
    pub fn labels(&mut self, labels: &[String], max_input_tokens: usize) -> Result<Arc<PreparedLabels>> {
        if let Some(pos) = self.label_cache.iter().position(|p| p.labels == labels) {
            let hit = self.label_cache.remove(pos).expect("position is in range");
            self.label_cache.push_front(hit.clone());
            return Ok(hit);
        }
        // Cheap bounds first: every label takes at least one token, and no more than
        // TEXT_CHARS_PER_TOKEN characters are read per token anywhere.
        let chars: usize = labels.iter().map(|l| l.chars().count()).sum();
        if labels.len() > max_input_tokens || chars > max_input_tokens.saturating_mul(TEXT_CHARS_PER_TOKEN) {
            return Err(Error::LabelSetTooLarge { labels: labels.len(), chars, max: max_input_tokens });
        }
        let specials = self.tokenizer.special_tokens();
        let normalize = |l: &str| self.tokenizer.normalize(l);
        let rules =
            LabelRules { separator: self.template.separator(), normalize: &normalize, special_tokens: &specials };
        validate_labels(labels, &rules, &interrupt::pending)?;
        let label_part = self.template.label_part(labels);
        let needed = self.tokenizer.encode(&self.template.render(&label_part, ""))?.len();
        if needed > max_input_tokens {
            return Err(Error::TooManyLabels { labels: labels.len(), needed, max: max_input_tokens });
        }
        let mut sequences = Vec::with_capacity(labels.len());
        for label in labels {
            interrupt::check()?;
            sequences.push(self.tokenizer.label_sequence(label)?);
        }
        let prepared = Arc::new(PreparedLabels {
            labels: labels.to_vec(),
            label_part,
            trie: LabelTrie::new(self.config.decoder_start_token_id, &sequences),
        });
        self.cache_labels(prepared.clone());
        Ok(prepared)
    }

    /// Keeps `prepared` first in the cache, dropping the least recently used sets while the
    /// cache is over `LABEL_CACHE_SIZE` sets or `LABEL_CACHE_BYTES`.
    fn cache_labels(&mut self, prepared: Arc<PreparedLabels>) {
        if prepared.size_bytes() > LABEL_CACHE_BYTES {
            return;
        }
        self.label_cache.push_front(prepared);
        let mut bytes: usize = self.label_cache.iter().map(|p| p.size_bytes()).sum();
        while self.label_cache.len() > LABEL_CACHE_SIZE || bytes > LABEL_CACHE_BYTES {
            let dropped = self.label_cache.pop_back().expect("the cache is not empty");
            bytes -= dropped.size_bytes();
        }
    }

    /// Prepared label sets held by the cache, and their approximate size in bytes.
    pub fn label_cache_usage(&self) -> (usize, usize) {
        (self.label_cache.len(), self.label_cache.iter().map(|p| p.size_bytes()).sum())
    }
}
