//! A model directory in the Optimum layout, checked and loaded into three ONNX Runtime
//! sessions, with the tokenizer, prompt template and a cache of prepared label sets.
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::graphs::{
    check_decoder, open_session, require_files, step_graphs, ScoreOutputs, Sessions, StepGraphs, CACHE_GATHER_FILE,
    CONFIG_FILE, CROSS_KV_FILE, DECODER_FILE, DECODER_WITH_PAST_FILE, ENCODER_FILE, MANIFEST_FILE, TOKENIZER_FILE,
    TREE_FILE,
};
use crate::interrupt;
use crate::labels::{check_distinct_sequences, validate_labels, LabelRules, PreparedLabels};
use crate::load_options::LoadOptions;
use crate::manifest::Manifest;
use crate::prompt::{PromptTemplate, DEFAULT_SEPARATOR, DEFAULT_TEMPLATE};
use crate::runtime::{self, Runtime};
use crate::tokenize::{TextTokenizer, TEXT_CHARS_PER_TOKEN};
use crate::trie::LabelTrie;

/// How many prepared label sets a model keeps (least recently used goes first), and the
/// most memory they may hold together: a backend serving many label sets must not grow.
const LABEL_CACHE_SIZE: usize = 64;
const LABEL_CACHE_BYTES: usize = 8 << 20;

/// How often a call waiting for the step graphs to open looks for a cancel.
const STEPS_POLL: Duration = Duration::from_millis(10);

/// The step graphs being opened in a thread of their own (`Model::ensure_steps`), with the
/// mapped files they read.
type StepsOpening = std::thread::JoinHandle<Result<(StepGraphs, Vec<memmap2::Mmap>)>>;

/// Openings of the step graphs whose model was dropped while they ran: a drop must not wait
/// seconds for one. What they opened is freed when they are joined: finished ones by the next
/// load or opening (`reap_orphaned_openings`), all of them by `finish_step_openings`.
static ORPHANED_OPENINGS: std::sync::Mutex<Vec<StepsOpening>> = std::sync::Mutex::new(Vec::new());

/// Joins the orphaned openings that have finished (freeing what they opened).
fn reap_orphaned_openings() {
    let mut orphans = ORPHANED_OPENINGS.lock().unwrap_or_else(|e| e.into_inner());
    let (done, running): (Vec<_>, Vec<_>) = orphans.drain(..).partition(|o| o.is_finished());
    *orphans = running;
    drop(orphans);
    for opening in done {
        let _ = opening.join();
    }
}

/// Waits for every opening of the step graphs still under way in this process, the models'
/// own and the orphaned ones. A host whose process exits calls it first, after making its
/// interrupt check say "stop" (which an opening heeds between graphs): ONNX Runtime must not
/// be torn down by the exit while a thread is inside it.
pub fn finish_step_openings(model: Option<&mut Model>) {
    if let Some(opening) = model.and_then(|m| m.steps_opening.take()) {
        let _ = opening.join();
    }
    let orphans: Vec<StepsOpening> = ORPHANED_OPENINGS.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect();
    for opening in orphans {
        let _ = opening.join();
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
    /// The step graphs' opening, where a cancel left it under way (`ensure_steps`).
    steps_opening: Option<StepsOpening>,
    /// The mapped ORT-format files the sessions read their weights from (share_weights).
    /// Declared after `sessions`, so it is dropped after them.
    _mapped: Vec<memmap2::Mmap>,
}

impl Drop for Model {
    /// An opening of the step graphs that a cancel left under way is joined if it has ended,
    /// else left to `ORPHANED_OPENINGS`.
    fn drop(&mut self) {
        if let Some(opening) = self.steps_opening.take() {
            if opening.is_finished() {
                let _ = opening.join();
            } else {
                ORPHANED_OPENINGS.lock().unwrap_or_else(|e| e.into_inner()).push(opening);
            }
        }
    }
}

impl Model {
    /// Checks the directory and loads the model. Errors name the file and what is wrong.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Model> {
        let started = Instant::now();
        reap_orphaned_openings();
        if !dir.is_dir() {
            return Err(Error::MissingFile { what: "model directory".into(), path: dir.to_path_buf() });
        }
        require_files(dir)?;
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
        // Tens of megabytes to parse for mT5's vocabulary: a cancel is answered before it.
        interrupt::check()?;
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
        // ONNX Runtime starts its thread pools here: they must not take the host's signals.
        let graphs = interrupt::without_signals(|| Sessions::open(dir, &config, rt, opts))?;
        Ok(Model {
            dir: dir.to_path_buf(),
            config,
            manifest,
            provider: graphs.provider,
            load_time: started.elapsed(),
            options: opts.clone(),
            runtime: rt,
            tokenizer,
            template,
            sessions: graphs.sessions,
            score_outputs: graphs.score_outputs,
            label_cache: VecDeque::with_capacity(LABEL_CACHE_SIZE),
            steps_opening: None,
            _mapped: graphs.mapped,
        })
    }

    /// The step graphs (`StepGraphs`), opened now if the model was loaded with the tree graph
    /// and nothing needed them yet: greedy mode, generation, and exact mode for a trie too large
    /// for a run's row bound (`tree_parts::fits_tree`) take them. Seconds at base size, and as much memory again as
    /// the tree graph (their own copy of the decoder's weights), so they are opened only then.
    ///
    /// They are opened in a thread of their own while the call waits, so that a cancel ends the
    /// call within `STEPS_POLL` (ONNX Runtime cannot be stopped while it creates a session): the
    /// opening goes on, and the next call that needs them takes it over.
    pub(crate) fn ensure_steps(&mut self) -> Result<()> {
        while self.sessions.steps.is_none() {
            let opening = match self.steps_opening.take() {
                Some(opening) => opening,
                None => self.start_opening_steps()?,
            };
            if !opening.is_finished() {
                self.steps_opening = Some(opening);
                interrupt::check()?;
                std::thread::sleep(STEPS_POLL);
                continue;
            }
            match opening.join().map_err(|_| Error::runtime("open the step graphs", "the thread panicked"))? {
                Ok((steps, maps)) => {
                    self._mapped.extend(maps);
                    self.sessions.steps = Some(steps);
                }
                // A cancel that reached the opening itself: the next round opens them again,
                // unless the cancel is still pending.
                Err(Error::Interrupted) => interrupt::check()?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Opens the step graphs now rather than at the first call that needs them (`ensure_steps`):
    /// for a process that wants greedy mode's or generation's first call as fast as the next.
    pub fn open_step_graphs(&mut self) -> Result<()> {
        self.ensure_steps()
    }

    /// Starts opening the step graphs in a thread of their own.
    fn start_opening_steps(&self) -> Result<StepsOpening> {
        reap_orphaned_openings();
        let (dir, config, rt, options) = (self.dir.clone(), self.config.clone(), self.runtime, self.options.clone());
        let cache_type = self.sessions.cache_type;
        // Signals stay with the host's own thread, as for ONNX Runtime's threads (`load`).
        interrupt::without_signals(|| {
            std::thread::Builder::new().name("zeroshot-steps".into()).spawn(move || {
                let mut maps = Vec::new();
                StepGraphs::open(&dir, &config, rt, &options, cache_type, &mut maps).map(|steps| (steps, maps))
            })
        })
        .map_err(|e| Error::runtime("start a thread to open the step graphs", e))
    }

    /// decoder_model.onnx, opened now if the fast path did not need it.
    pub(crate) fn ensure_decoder(&mut self) -> Result<()> {
        self.ensure_steps()?;
        if step_graphs(&mut self.sessions.steps)?.decoder.is_none() {
            let (rt, path, options) = (self.runtime, self.dir.join(DECODER_FILE), &self.options);
            // Its thread pool must not take the host's signals either (as in `load`).
            let (decoder, _) = interrupt::without_signals(|| open_session(rt, &path, options, None))?;
            check_decoder(&self.dir, &decoder, self.config.decoder_layers())?;
            step_graphs(&mut self.sessions.steps)?.decoder = Some(decoder);
        }
        Ok(())
    }

    /// Graphs this model has open, by file name: the encoder, the tree graph where exact mode
    /// uses it, and the step graphs once opened (decoder_model.onnx only without a cross-KV
    /// graph).
    pub fn loaded_graphs(&self) -> Vec<&'static str> {
        let mut g = vec![ENCODER_FILE];
        if self.sessions.tree.is_some() {
            g.push(TREE_FILE);
        }
        if let Some(steps) = &self.sessions.steps {
            if steps.cross_kv.is_some() {
                g.push(CROSS_KV_FILE);
            }
            if steps.decoder.is_some() {
                g.push(DECODER_FILE);
            }
            g.push(DECODER_WITH_PAST_FILE);
            if steps.cache_gather.is_some() {
                g.push(CACHE_GATHER_FILE);
            }
        }
        g
    }

    /// Whether exact mode scores a text's whole label trie in one decoder run (the tree graph).
    pub fn scores_in_one_pass(&self) -> bool {
        self.sessions.tree.is_some()
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

    /// Bytes that crossed between host memory and ONNX Runtime since the last call (inputs
    /// fed from host buffers, outputs read into host memory), and a new count from zero. On a
    /// GPU this is the traffic over PCIe; values passed from one run to the next are not in it.
    pub fn take_host_bytes(&mut self) -> u64 {
        std::mem::take(&mut self.sessions.host_bytes)
    }

    /// ONNX Runtime runs since the last call (encoder, decoder and graph runs of every kind),
    /// and a new count from zero.
    pub fn take_run_count(&mut self) -> u64 {
        std::mem::take(&mut self.sessions.memory.runs)
    }

    /// Keep ONNX Runtime's arena memory from call to call (`on`), or return its free memory at
    /// the end of every call (the default, what a database backend does unless a superuser
    /// sets `zs.keep_arenas`). Returning it means the next call touches fresh pages again:
    /// about 190 MB per call at 87 labels on mT5-base, 9% of the time on a 2-core CPU, 1.17x
    /// with a backend's fixed mmap threshold (BENCHMARKS.md). Keeping it suits a process that
    /// scores call after call (the CLI's `--keep-arenas`, a server that only labels); it holds
    /// the largest call's working memory for as long as the model stays loaded.
    pub fn keep_arenas(&mut self, on: bool) {
        self.sessions.memory.keep_arenas = on;
    }

    /// Test hook, not part of the API.
    #[doc(hidden)]
    /// Whether the last ONNX Runtime run asked for the arenas to be shrunk.
    pub fn last_run_shrank(&self) -> bool {
        self.sessions.memory.last_run_shrank
    }

    /// Whether `classify_many` scores several texts per ONNX Runtime run in exact mode: with
    /// the tree graph, or with the grouped step decoder our export writes.
    pub fn batches_texts(&self) -> bool {
        self.sessions.tree.is_some() || self.sessions.steps.as_ref().is_some_and(|s| s.batches_texts)
    }

    pub fn shares_weights(&self) -> bool {
        !self._mapped.is_empty()
    }

    /// `Fused` when only the needed log-probabilities leave ONNX Runtime, else `FullLogits`.
    pub fn score_outputs(&self) -> ScoreOutputs {
        self.score_outputs
    }

    /// The element type the graphs pass their caches in: float16 for our fp16 export.
    pub fn cache_type(&self) -> crate::host_tensors::CacheType {
        self.sessions.cache_type
    }

    /// Test hook, not part of the API.
    #[doc(hidden)]
    /// Starts (or stops) recording the input shapes of each decoder-with-past run.
    pub fn record_input_shapes(&mut self, on: bool) {
        self.sessions.shape_log = on.then(Vec::new);
    }

    /// Test hook, not part of the API.
    #[doc(hidden)]
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

    /// What the model is, as JSON: its files, id, precision, provider, graphs, runtime and
    /// dimensions. The extension's zs_model_info() and the server's GET /v1/model both show
    /// it, each adding its own state (and the extension hiding paths from some roles).
    pub fn describe(&self) -> serde_json::Value {
        let manifest = self.manifest.clone().unwrap_or_default();
        serde_json::json!({
            "model_dir": self.dir.display().to_string(),
            "model_id": manifest.model_id,
            "random_weights": manifest.random_weights,
            "precision": manifest.precision,
            "execution_provider": self.provider,
            "score_outputs": self.score_outputs().name(),
            "shares_weights": self.shares_weights(),
            "batches_texts": self.batches_texts(),
            "one_pass": self.scores_in_one_pass(),
            "graphs": self.loaded_graphs(),
            "onnxruntime_version": self.runtime.version,
            "onnxruntime_library": self.runtime.library.display().to_string(),
            "load_ms": self.load_time.as_secs_f64() * 1000.0,
            "model_type": self.config.model_type,
            "vocab_size": self.config.vocab_size,
            "d_model": self.config.d_model,
            "num_layers": self.config.num_layers,
            "num_decoder_layers": self.config.decoder_layers(),
            "num_heads": self.config.num_heads,
        })
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
        check_distinct_sequences(labels, &sequences)?;
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
