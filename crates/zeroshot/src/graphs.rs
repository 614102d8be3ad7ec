//! The graph contract of a model directory: the files, the input and output names the
//! scorer uses, the ONNX Runtime sessions that run them, how a session is opened, and the
//! static checks made when a model is loaded (so a wrong export fails at load with the file
//! and the name, not in the middle of a query).
use std::path::{Path, PathBuf};

use ort::session::Session;

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::host_tensors::CacheType;
use crate::interrupt;
use crate::load_options::{Device, LoadOptions};
use crate::runtime::Runtime;

pub const ENCODER_FILE: &str = "encoder_model.onnx";
pub const DECODER_FILE: &str = "decoder_model.onnx";
pub const DECODER_WITH_PAST_FILE: &str = "decoder_with_past_model.onnx";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const CONFIG_FILE: &str = "config.json";
/// Optional (our export writes it): cross-attention keys/values from the encoder output.
/// With it decoder_model.onnx is not loaded (see `Model::load`).
pub const CROSS_KV_FILE: &str = "decoder_cross_kv.onnx";
pub const MANIFEST_FILE: &str = "manifest.json";
/// Optional (our export writes it): picks the parent rows of the decoder's self-attention
/// cache between steps inside ONNX Runtime (input `parent_rows`), so the cache never
/// crosses to the host. Without it the engine gathers the rows itself.
pub const CACHE_GATHER_FILE: &str = "decoder_cache_gather.onnx";
/// The cache gather graph's row-index input.
pub(crate) const PARENT_ROWS_INPUT: &str = "parent_rows";
/// Optional (our export writes it): the label trie's one-pass decoder. Every trie node of
/// every text of a run is one position, attending to itself and its ancestors (`tree_mask`)
/// at its depth (`positions`), so exact mode scores all labels in one decoder run
/// (tools/tree_graph.py). With it the step graphs are opened only when something needs them
/// (greedy mode, generation, a trie too large for zs.batch_rows: `tree_parts::fits_tree`):
/// `Model::ensure_steps`.
pub const TREE_FILE: &str = "decoder_tree_model.onnx";
/// The tree graph's inputs, in tools/tree_graph.py's order.
pub(crate) const TREE_INPUTS: [&str; 5] =
    ["input_ids", "positions", "tree_mask", "encoder_hidden_states", "encoder_attention_mask"];
/// Metadata key (value "1") that tools/export_model.py sets on a decoder_with_past graph
/// whose cross-attention groups the batch by text (`group_cross_attention` there).
pub const GROUPED_KEY: &str = "pg_zeroshot.grouped_cross_attention";
const REQUIRED_FILES: [&str; 5] = [CONFIG_FILE, TOKENIZER_FILE, ENCODER_FILE, DECODER_FILE, DECODER_WITH_PAST_FILE];

/// The output our export adds to the decoder graphs: log-softmax at the requested tokens.
pub(crate) const LOGPROBS_OUTPUT: &str = "label_logprobs";

/// `{prefix}.{layer}.{part}.{key|value}` for every layer: Optimum's cache names
/// (prefix `past_key_values` or `present`, part `decoder` or `encoder`).
pub(crate) fn kv_names(prefix: &str, layers: usize, part: &str) -> Vec<String> {
    (0..layers).flat_map(|i| ["key", "value"].map(|kv| format!("{prefix}.{i}.{part}.{kv}"))).collect()
}

/// How decoder steps read their scores: from the `label_logprobs` output our export adds
/// (only a few numbers per row leave ONNX Runtime), or from full logits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScoreOutputs {
    Fused,
    FullLogits,
}

impl ScoreOutputs {
    /// "fused" or "full_logits", as zs_model_info() and the command line report it.
    pub fn name(self) -> &'static str {
        match self {
            ScoreOutputs::Fused => "fused",
            ScoreOutputs::FullLogits => "full_logits",
        }
    }
}

/// The shapes of every decoder-with-past input, run by run: (input name, shape) lists.
pub(crate) type ShapeLog = Vec<Vec<(String, Vec<usize>)>>;

pub(crate) struct Sessions {
    pub encoder: Session,
    /// decoder_tree_model.onnx, where the model directory has it and the options allow it:
    /// exact mode's decoder.
    pub tree: Option<Session>,
    /// The graphs that decode step by step with a cache (`StepGraphs`): opened with the model
    /// when there is no tree graph, else on first use (`Model::ensure_steps`).
    pub steps: Option<StepGraphs>,
    /// Where run outputs are bound: the execution provider's memory for values that go from
    /// one run to the next, host memory for what the engine reads.
    pub memory: Placement,
    /// The element type of the values that go from one run to the next (fp16 in our fp16
    /// export, float32 otherwise): the encoder output's.
    pub cache_type: CacheType,
    /// Bytes that crossed between host memory and ONNX Runtime since the last
    /// `Model::take_host_bytes`: inputs fed from host buffers, outputs read into host memory.
    pub host_bytes: u64,
    /// When set, the shapes of every decoder input, run by run (for tests).
    pub shape_log: Option<ShapeLog>,
}

/// The step-by-step decoder graphs: the root step and each trie level (or generated token)
/// after it, with the self-attention cache passed from step to step.
pub(crate) struct StepGraphs {
    /// decoder_model.onnx: loaded only where there is no cross-KV graph (or on demand for
    /// the teacher-forced check); it repeats the 250k-wide matrices of decoder_with_past.
    pub decoder: Option<Session>,
    pub cross_kv: Option<Session>,
    pub decoder_with_past: Session,
    /// decoder_with_past_model.onnx reads its batch as several texts' trie nodes, each text
    /// with its own cross-attention keys/values (our export's grouped cross-attention; see
    /// `GROUPED_KEY`). Without it, texts are scored one at a time.
    pub batches_texts: bool,
    /// decoder_cache_gather.onnx, where the model directory has it.
    pub cache_gather: Option<Session>,
    /// How the decoder steps read their scores.
    pub score_outputs: ScoreOutputs,
}

/// The step graphs, or the error that says they were needed before they were opened.
pub(crate) fn step_graphs(steps: &mut Option<StepGraphs>) -> Result<&mut StepGraphs> {
    steps
        .as_mut()
        .ok_or_else(|| Error::runtime("run the decoder", "the step graphs are not loaded (Model::ensure_steps)"))
}

pub(crate) fn require_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingFile { what: format!("model file {name}"), path })
    }
}

/// Names a graph must have, checked before the first run so a wrong export fails with
/// the file and the name rather than with ONNX Runtime's message in the middle of a query.
pub(crate) fn check_names(path: &Path, kind: &str, have: Vec<String>, want: &[String]) -> Result<()> {
    let missing: Vec<&String> = want.iter().filter(|w| !have.contains(w)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_model(path, format!("graph has no {kind} {missing:?} (it has {have:?}); export it with optimum's text2text-generation-with-past task or tools/export_model.py")))
}

/// A static dimension of an outlet that disagrees with config.json is an error; a dynamic
/// one (-1) is checked when the graph runs.
pub(crate) fn check_dim(
    path: &Path,
    outlets: &[ort::value::Outlet],
    name: &str,
    axis: usize,
    want: usize,
    what: &str,
) -> Result<()> {
    let Some(dims) = outlet_dims(outlets, name) else { return Ok(()) };
    if let Some(&d) = dims.get(axis) {
        if d >= 0 && d as usize != want {
            return Err(Error::invalid_model(
                path,
                format!("{name} has {what} {d} (dimension {axis} of {dims:?}) but config.json says {want}"),
            ));
        }
    }
    Ok(())
}

/// The dimensions of tensor outlet `name` (-1 where dynamic), where there is one.
fn outlet_dims(outlets: &[ort::value::Outlet], name: &str) -> Option<Vec<i64>> {
    outlets.iter().find(|o| o.name() == name).and_then(|o| match o.dtype() {
        ort::value::ValueType::Tensor { shape, .. } => Some(shape.iter().copied().collect()),
        _ => None,
    })
}

/// The element type of `outlet`, where it is a float32 or float16 tensor.
fn outlet_cache_type(outlet: &ort::value::Outlet) -> Option<CacheType> {
    match outlet.dtype() {
        ort::value::ValueType::Tensor { ty, .. } => CacheType::of(*ty),
        _ => None,
    }
}

/// The element type the graphs of a model exchange their values in: the encoder output's.
pub(crate) fn encoder_cache_type(dir: &Path, encoder: &Session) -> Result<CacheType> {
    let name = "last_hidden_state";
    encoder.outputs().iter().find(|o| o.name() == name).and_then(outlet_cache_type).ok_or_else(|| {
        Error::invalid_model(dir.join(ENCODER_FILE), format!("{name} is not a float32 or float16 tensor"))
    })
}

/// Every input and output of `graphs` (file, session) named in `cache_names` must have the
/// encoder output's element type `want`, so a model directory that mixes an fp16 graph with
/// fp32 ones fails at load, naming the file and the outlet.
pub(crate) fn check_cache_types(
    dir: &Path,
    want: CacheType,
    graphs: &[(&str, Option<&Session>)],
    cache_names: &[String],
) -> Result<()> {
    for &(file, session) in graphs {
        let Some(session) = session else { continue };
        let outlets = session.inputs().iter().chain(session.outputs());
        for outlet in outlets.filter(|o| cache_names.iter().any(|n| n == o.name())) {
            if outlet_cache_type(outlet) != Some(want) {
                return Err(Error::invalid_model(
                    dir.join(file),
                    format!(
                        "{} is {:?} but last_hidden_state of {ENCODER_FILE} is {}: the graphs come from different exports",
                        outlet.name(),
                        outlet.dtype(),
                        want.name()
                    ),
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn session_names(s: &Session) -> (Vec<String>, Vec<String>) {
    (
        s.inputs().iter().map(|o| o.name().to_string()).collect(),
        s.outputs().iter().map(|o| o.name().to_string()).collect(),
    )
}

/// The ORT-format copy of `onnx` (same name, `.ort`), mapped read-only.
pub(crate) fn map_ort_file(onnx: &Path) -> Result<memmap2::Mmap> {
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

/// The CUDA execution provider as `opts` asks for it.
fn cuda_provider(opts: &LoadOptions) -> ort::ep::ExecutionProviderDispatch {
    let mut cuda = ort::ep::CUDA::default()
        .with_device_id(opts.cuda_device_id)
        .with_tf32(opts.cuda_tf32)
        .with_arena_extend_strategy(ort::ep::ArenaExtendStrategy::SameAsRequested);
    if opts.cuda_mem_limit > 0 {
        cuda = cuda.with_memory_limit(opts.cuda_mem_limit);
    }
    cuda.build().error_on_failure()
}

pub(crate) fn open_session(
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
        let cuda = cuda_provider(opts);
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

pub(crate) fn check_decoder(dir: &Path, decoder: &Session, layers: usize) -> Result<()> {
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

/// The memories run outputs are bound to (I/O binding).
pub(crate) struct Placement {
    /// The execution provider's: CUDA device memory, or host memory on the CPU.
    pub device: ort::memory::MemoryInfo<'static>,
    pub host: ort::memory::MemoryInfo<'static>,
    /// Whether `device` is not host memory (values there cannot be read by the engine).
    pub on_device: bool,
    /// The arenas a run shrinks when it ends (ONNX Runtime's run option value).
    pub shrink_arenas: String,
    /// Keep the arenas' free memory from call to call: no run shrinks them (`Model::keep_arenas`).
    pub keep_arenas: bool,
    /// Whether the last run asked ONNX Runtime to shrink the arenas (tests check that every
    /// call ends with one).
    pub last_run_shrank: bool,
    /// Runs with bound outputs (every run the scorer makes) since the last
    /// `Model::take_run_count`.
    pub runs: u64,
}

impl Placement {
    fn new(provider: &str, cuda_device_id: i32) -> Result<Placement> {
        use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
        let info = |device, id| {
            MemoryInfo::new(device, id, AllocatorType::Device, MemoryType::Default)
                .map_err(|e| Error::runtime("describe a memory", e))
        };
        let on_device = provider == "CUDAExecutionProvider";
        let device =
            if on_device { info(AllocationDevice::CUDA, cuda_device_id)? } else { info(AllocationDevice::CPU, 0)? };
        let shrink_arenas = if on_device { format!("cpu:0;gpu:{cuda_device_id}") } else { "cpu:0".to_string() };
        Ok(Placement {
            device,
            host: info(AllocationDevice::CPU, 0)?,
            on_device,
            shrink_arenas,
            keep_arenas: false,
            last_run_shrank: false,
            runs: 0,
        })
    }
}

/// The sessions of a model directory, opened and checked, with what the scorer needs to
/// know about them.
pub(crate) struct OpenedGraphs {
    pub sessions: Sessions,
    /// The execution provider the sessions run on.
    pub provider: &'static str,
    /// How exact mode reads its scores (from the tree graph where there is one).
    pub score_outputs: ScoreOutputs,
    /// The mapped ORT-format files the sessions read their weights from (share_weights);
    /// they must outlive the sessions.
    pub mapped: Vec<memmap2::Mmap>,
}

/// Every file a model directory must have, or `MissingFile` naming the first one missing.
pub(crate) fn require_files(dir: &Path) -> Result<()> {
    for name in REQUIRED_FILES {
        require_file(dir, name)?;
    }
    Ok(())
}

/// Opens graph `file` of `dir` (from its mapped .ort copy with share_weights, keeping the
/// mapping in `maps`: moving an Mmap does not move the mapped bytes the session points into).
fn open_graph(
    dir: &Path,
    file: &str,
    rt: &Runtime,
    opts: &LoadOptions,
    maps: &mut Vec<memmap2::Mmap>,
) -> Result<(Session, &'static str)> {
    // A session cannot be stopped while ONNX Runtime creates it (seconds at base size): a
    // cancel is answered between them.
    interrupt::check()?;
    let map = if opts.share_weights { Some(map_ort_file(&dir.join(file))?) } else { None };
    let session = open_session(rt, &dir.join(file), opts, map.as_deref())?;
    maps.extend(map);
    Ok(session)
}

/// `Fused` where every one of `graphs` has our `label_logprobs` output and `opts` allow it.
fn score_outputs<'s>(graphs: impl IntoIterator<Item = &'s Session>, opts: &LoadOptions) -> ScoreOutputs {
    let fused = graphs.into_iter().all(|s| s.outputs().iter().any(|o| o.name() == LOGPROBS_OUTPUT));
    if fused && opts.fused_scores {
        ScoreOutputs::Fused
    } else {
        ScoreOutputs::FullLogits
    }
}

impl Sessions {
    /// Opens the encoder and exact mode's decoder: the tree graph where `dir` has one (and
    /// `opts.tree_pass`), else the step graphs; checks their names and static dimensions
    /// against `config`.
    pub(crate) fn open(dir: &Path, config: &ModelConfig, rt: &Runtime, opts: &LoadOptions) -> Result<OpenedGraphs> {
        let mut maps = Vec::new();
        let (encoder, provider) = open_graph(dir, ENCODER_FILE, rt, opts, &mut maps)?;
        let (ins, outs) = session_names(&encoder);
        check_names(&dir.join(ENCODER_FILE), "input", ins, &["input_ids".into(), "attention_mask".into()])?;
        check_names(&dir.join(ENCODER_FILE), "output", outs, &["last_hidden_state".into()])?;
        check_dim(&dir.join(ENCODER_FILE), encoder.outputs(), "last_hidden_state", 2, config.d_model, "width")?;
        let cache_type = encoder_cache_type(dir, &encoder)?;
        let tree = if opts.tree_pass && dir.join(TREE_FILE).is_file() {
            let (tree, _) = open_graph(dir, TREE_FILE, rt, opts, &mut maps)?;
            let (ins, outs) = session_names(&tree);
            let want: Vec<String> = TREE_INPUTS.iter().map(|n| n.to_string()).collect();
            check_names(&dir.join(TREE_FILE), "input", ins, &want)?;
            check_names(&dir.join(TREE_FILE), "output", outs, &["logits".into()])?;
            // Static and equal: the fused output's flat indices (node × vocabulary + token) are
            // computed with config.json's vocabulary size.
            let vocab = outlet_dims(tree.outputs(), "logits").and_then(|d| d.get(2).copied());
            if vocab != Some(config.vocab_size as i64) {
                return Err(Error::invalid_model(
                    dir.join(TREE_FILE),
                    format!(
                        "logits must have a static vocabulary size of {} (config.json), not {vocab:?}",
                        config.vocab_size
                    ),
                ));
            }
            let graphs = [(TREE_FILE, Some(&tree))];
            check_cache_types(dir, cache_type, &graphs, &["encoder_hidden_states".to_string()])?;
            Some(tree)
        } else {
            None
        };
        let steps = match tree {
            Some(_) => None,
            None => Some(StepGraphs::open(dir, config, rt, opts, cache_type, &mut maps)?),
        };
        let score_outputs = match (&tree, &steps) {
            // Our tree graph's fused output is flat, [texts, picks] (ONNX Runtime does not list
            // the input, which has a default value).
            (Some(tree), _) if outlet_dims(tree.outputs(), LOGPROBS_OUTPUT).map(|d| d.len()) != Some(2) => {
                ScoreOutputs::FullLogits
            }
            (Some(tree), _) => score_outputs([tree], opts),
            (None, Some(steps)) => steps.score_outputs,
            (None, None) => unreachable!("the step graphs open where there is no tree graph"),
        };
        Ok(OpenedGraphs {
            sessions: Sessions {
                encoder,
                tree,
                steps,
                memory: Placement::new(provider, opts.cuda_device_id)?,
                cache_type,
                host_bytes: 0,
                shape_log: None,
            },
            provider,
            score_outputs,
            mapped: maps,
        })
    }
}

impl StepGraphs {
    /// Opens the step graphs of `dir` (the cross-KV graph instead of decoder_model.onnx where
    /// there is one), checks their names and static dimensions against `config` and their
    /// values' element type against the encoder's (`cache_type`).
    pub(crate) fn open(
        dir: &Path,
        config: &ModelConfig,
        rt: &Runtime,
        opts: &LoadOptions,
        cache_type: CacheType,
        maps: &mut Vec<memmap2::Mmap>,
    ) -> Result<StepGraphs> {
        let (decoder_with_past, _) = open_graph(dir, DECODER_WITH_PAST_FILE, rt, opts, maps)?;
        let layers = config.decoder_layers();
        let (decoder, cross_kv) = if dir.join(CROSS_KV_FILE).is_file() {
            let (cross, _) = open_graph(dir, CROSS_KV_FILE, rt, opts, maps)?;
            let (ins, outs) = session_names(&cross);
            check_names(&dir.join(CROSS_KV_FILE), "input", ins, &["encoder_hidden_states".into()])?;
            check_names(&dir.join(CROSS_KV_FILE), "output", outs, &kv_names("present", layers, "encoder"))?;
            (None, Some(cross))
        } else {
            let (decoder, _) = open_graph(dir, DECODER_FILE, rt, opts, maps)?;
            check_decoder(dir, &decoder, layers)?;
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
        let score_outputs = score_outputs(decoder.iter().chain([&decoder_with_past]), opts);
        // Never memory-mapped: it has no weights to share.
        let cache_gather = if dir.join(CACHE_GATHER_FILE).is_file() {
            interrupt::check()?;
            let (gather, _) = open_session(rt, &dir.join(CACHE_GATHER_FILE), opts, None)?;
            let (ins, outs) = session_names(&gather);
            let mut want = vec![PARENT_ROWS_INPUT.to_string()];
            want.extend(kv_names("present", layers, "decoder"));
            check_names(&dir.join(CACHE_GATHER_FILE), "input", ins, &want)?;
            check_names(&dir.join(CACHE_GATHER_FILE), "output", outs, &kv_names("past_key_values", layers, "decoder"))?;
            Some(gather)
        } else {
            None
        };
        // The values that go from one run to the next: the encoder output, both caches.
        let mut cache_names = vec!["encoder_hidden_states".to_string()];
        for prefix in ["past_key_values", "present"] {
            for part in ["decoder", "encoder"] {
                cache_names.extend(kv_names(prefix, layers, part));
            }
        }
        let graphs = [
            (DECODER_WITH_PAST_FILE, Some(&decoder_with_past)),
            (CROSS_KV_FILE, cross_kv.as_ref()),
            (DECODER_FILE, decoder.as_ref()),
            (CACHE_GATHER_FILE, cache_gather.as_ref()),
        ];
        check_cache_types(dir, cache_type, &graphs, &cache_names)?;
        Ok(StepGraphs { decoder, cross_kv, decoder_with_past, batches_texts, cache_gather, score_outputs })
    }
}
