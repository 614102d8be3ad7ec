//! Exact label scoring over the label trie (README, "How it scores"):
//! log P(label | prompt) = Σ_t log softmax(logits_t)[label_t] over the label's tokens and EOS.
//!
//! One encoder run per batch of texts (prompts padded to the longest). The cross-attention
//! keys/values of the encoder output come from our cross-KV graph (or, for a plain Optimum
//! export, from decoder_model.onnx's root step), one row per text, and are passed by
//! reference to every decoder step, never copied per label: the decoder broadcasts a text's
//! row over that text's trie nodes (Optimum's graph does this for one text; our export's
//! grouped graph for several, rows text-major). The root step (the start token) and then
//! each trie depth are one decoder-with-past step over the nodes that have children, for
//! all texts, fed the self-attention cache rows of their parents. Only the children's
//! log-probabilities of each node leave ONNX Runtime when the graphs have our fused output.
//! Greedy mode walks the same trie one node per step, one text at a time.
use std::borrow::Cow;

use ort::session::{RunOptions, Session, SessionInputValue, SessionOutputs};
use ort::value::{DynValue, Tensor};

use crate::batch::{PromptBatch, RunPrompts};
use crate::error::{Error, Result};
use crate::graphs::{kv_names, step_graphs, Placement, ScoreOutputs, Sessions, LOGPROBS_OUTPUT, PARENT_ROWS_INPUT};
use crate::host_tensors::{element_count, f32_data, gather_rows, pad_and_stack, value_shape};
use crate::interrupt;
use crate::trie::{LabelTrie, ROOT};

/// Names of the key/value inputs and outputs of a decoder with `layers` layers.
struct KvNames {
    past_self: Vec<String>,
    past_cross: Vec<String>,
    present_self: Vec<String>,
    present_cross: Vec<String>,
}

impl KvNames {
    fn new(layers: usize) -> KvNames {
        KvNames {
            past_self: kv_names("past_key_values", layers, "decoder"),
            past_cross: kv_names("past_key_values", layers, "encoder"),
            present_self: kv_names("present", layers, "decoder"),
            present_cross: kv_names("present", layers, "encoder"),
        }
    }
}

/// The sizes the scorer needs from config.json.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub layers: usize,
    pub vocab: usize,
    pub heads: usize,
    pub head_dim: usize,
}

pub(crate) type Inputs<'v> = Vec<(Cow<'static, str>, SessionInputValue<'v>)>;

/// Run options for one ONNX Runtime run. The arenas (CPU, and the GPU's on CUDA) are shrunk at
/// the end of every run:
/// ONNX Runtime's arena never returns memory otherwise, so one large call (many labels, a
/// long prompt) would keep its peak for the rest of the connection.
fn run_options(shrink_arenas: &str) -> Result<RunOptions> {
    let mut options = RunOptions::new().map_err(|e| Error::runtime("make run options", e))?;
    if !shrink_arenas.is_empty() {
        options
            .set("memory.enable_memory_arena_shrinkage", shrink_arenas)
            .map_err(|e| Error::runtime("set the run options", e))?;
    }
    Ok(options)
}

/// One run of `session`, stopped early (`Error::Interrupted`) when the caller cancels;
/// `read` takes what it needs from the outputs (they borrow the run's options).
fn run<R>(
    session: &mut Session,
    what: &str,
    inputs: Inputs<'_>,
    read: impl FnOnce(&mut SessionOutputs<'_>) -> Result<R>,
) -> Result<R> {
    let options = run_options("cpu:0")?;
    let mut out =
        interrupt::watched(&options, || session.run_with_options(inputs, &options), || format!("run the {what}"))?;
    read(&mut out)
}

/// Where a run's output is bound.
#[derive(Clone, Copy)]
pub(crate) enum Place {
    /// The execution provider's memory: for values that go on to another run.
    Device,
    /// Host memory: for what the engine reads.
    Host,
}

/// One run of `session` with I/O binding: `inputs` bound as they are (host buffers, or values
/// a previous run left in device memory), each of `outputs` bound to its place, so values that
/// go from run to run stay on the device. Only the bound outputs are computed and returned,
/// in order. Stopped early (`Error::Interrupted`) when the caller cancels.
pub(crate) fn run_bound(
    session: &mut Session,
    memory: &mut Placement,
    shrink: bool,
    what: &str,
    inputs: Inputs<'_>,
    outputs: &[(&str, Place)],
) -> Result<Vec<DynValue>> {
    let fail = |e: ort::Error| Error::runtime(format!("bind the {what}'s inputs and outputs"), e);
    let mut binding = session.create_binding().map_err(fail)?;
    for (name, value) in &inputs {
        binding.bind_input(name.as_ref(), &**value).map_err(fail)?;
    }
    for &(name, place) in outputs {
        let info = match place {
            Place::Device => &memory.device,
            Place::Host => &memory.host,
        };
        binding.bind_output_to_device(name, info).map_err(fail)?;
    }
    let shrink = shrink && !memory.keep_arenas;
    memory.last_run_shrank = shrink;
    memory.runs += 1;
    let options = run_options(if shrink { &memory.shrink_arenas } else { "" })?;
    let mut out = interrupt::watched(
        &options,
        || session.run_binding_with_options(&binding, &options),
        || format!("run the {what}"),
    )?;
    outputs.iter().map(|(name, _)| take(&mut out, name, what)).collect()
}

fn take(outputs: &mut SessionOutputs<'_>, name: &str, what: &str) -> Result<DynValue> {
    outputs.remove(name).ok_or_else(|| Error::runtime(format!("run the {what}"), format!("no output {name}")))
}

/// A host input of `shape` holding a copy of `data`. Owned, not a view of `data`: ort's I/O
/// binding copies a borrowed tensor through an identity session of its own (and in rc.15
/// deadlocks doing so), while an owned one is bound as it is. These inputs are ids and
/// masks: a few kilobytes per run.
pub(crate) fn host_tensor<T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
    shape: [usize; 2],
    data: &[T],
) -> Result<SessionInputValue<'static>> {
    Ok(Tensor::from_array((shape, data.to_vec())).map_err(|e| Error::runtime("make an input tensor", e))?.into())
}

/// log Σ exp(row), accumulated in f64.
pub(crate) fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max as f64;
    }
    let sum: f64 = row.iter().map(|&x| ((x - max) as f64).exp()).sum();
    max as f64 + sum.ln()
}

/// What a decoder step reads for its rows.
pub(crate) enum Read {
    /// The log-probabilities of these tokens, per row (a trie node's children, in
    /// `Node::children` order): from the fused output where the graph has it.
    Tokens(Vec<Vec<u32>>),
    /// Every row's whole row of logits (generation: the next token may be any token).
    Logits,
}

/// What one decoder step gives for its rows: the log-probabilities `Read::Tokens` asked for
/// (empty for `Read::Logits`), or the logits, `vocab` per row, that `Read::Logits` asked for
/// (empty for `Read::Tokens`).
pub(crate) struct RowScores {
    pub child_logprobs: Vec<Vec<f64>>,
    pub logits: Vec<f32>,
}

/// Adds each child's log-probability to its parent's running sum.
pub(crate) fn score_children(trie: &LabelTrie, node: usize, child_logprobs: &[f64], cumulative: &mut [f64]) {
    let base = cumulative[node];
    for (&child, &logprob) in trie.node(node).children.iter().zip(child_logprobs) {
        cumulative[child] = base + logprob;
    }
}

/// Bytes of `n` elements of `T`.
pub(crate) fn bytes_of<T>(n: usize) -> u64 {
    (n * std::mem::size_of::<T>()) as u64
}

/// The encoder output for `batch`, left at `place`.
fn encode(sessions: &mut Sessions, batch: &PromptBatch, place: Place) -> Result<DynValue> {
    sessions.host_bytes += bytes_of::<i64>(batch.ids.len() + batch.mask.len());
    let inputs: Inputs = vec![
        ("input_ids".into(), host_tensor(batch.shape(), &batch.ids)?),
        ("attention_mask".into(), host_tensor(batch.shape(), &batch.mask)?),
    ];
    let output = [("last_hidden_state", place)];
    let mut out = run_bound(&mut sessions.encoder, &mut sessions.memory, true, "encoder", inputs, &output)?;
    Ok(out.pop().expect("one output bound"))
}

/// The encoder outputs of a run's buckets as one [texts, prompt, d_model] value, padded along
/// the prompt axis (on the host, where there are several buckets; one is left where it is).
fn join_encoded(sessions: &mut Sessions, hidden: Vec<DynValue>, len: usize) -> Result<DynValue> {
    if hidden.len() > 1 {
        sessions.host_bytes += 2 * sessions.cache_type.bytes(hidden.iter().map(element_count).sum());
    }
    pad_and_stack(hidden, 1, len)
}

/// The encoder output of each of a run's length buckets, and where it was left: in host memory
/// where there are several (they are padded together there), in the execution provider's
/// where there is one (it stays in place).
fn encode_buckets(sessions: &mut Sessions, prompts: &RunPrompts) -> Result<(Vec<DynValue>, Place)> {
    let place = if prompts.buckets.len() > 1 { Place::Host } else { Place::Device };
    let hidden = prompts.buckets.iter().map(|b| encode(sessions, b, place)).collect::<Result<Vec<_>>>()?;
    Ok((hidden, place))
}

/// The encoder output of a run's prompts, [texts, prompt, d_model] (`encode_buckets`, joined).
pub(crate) fn encode_run(sessions: &mut Sessions, prompts: &RunPrompts) -> Result<DynValue> {
    let (hidden, _) = encode_buckets(sessions, prompts)?;
    join_encoded(sessions, hidden, prompts.all.len)
}

/// Which decoder graph a step runs: decoder_model.onnx for the root of a plain Optimum
/// export, decoder_with_past for everything else.
#[derive(Clone, Copy)]
enum Decoder {
    Root,
    WithPast,
}

/// The caches a step keeps from its outputs.
#[derive(Clone, Copy)]
enum Keep {
    SelfCache,
    CrossAndSelfCache,
}

/// The encoder pass and the root decoder step (start token, one row per text): the
/// encoder's cross-attention keys/values (batch = texts), the root's self-attention cache
/// and the root's scores (row t is text t).
pub(crate) struct Root {
    pub cross_kv: Vec<DynValue>,
    pub self_kv: Vec<DynValue>,
    pub scores: RowScores,
}

/// The decoder steps of one run over the texts of one run (their prompts): the sessions
/// that run them and what every step needs. Label scoring (`Run`) and generation
/// (generate.rs) are loops over one `start` and `expand` steps.
pub(crate) struct Steps<'a> {
    sessions: &'a mut Sessions,
    names: KvNames,
    outputs: ScoreOutputs,
    dims: Dims,
    prompts: &'a RunPrompts,
}

/// One scoring run: decoder steps over one label trie. Exact and greedy mode are two loops
/// over it (`exact`, `greedy`).
pub(crate) struct Run<'a> {
    steps: Steps<'a>,
    trie: &'a LabelTrie,
    /// Most decoder rows one step may take (0: no limit). Several texts are planned within it
    /// (runs.rs); a single text whose trie level is wider has that level split into steps.
    max_rows: usize,
}

impl<'a> Run<'a> {
    /// Fails where the step graphs are not loaded (`Model::ensure_steps`).
    pub(crate) fn new(
        sessions: &'a mut Sessions,
        dims: Dims,
        prompts: &'a RunPrompts,
        trie: &'a LabelTrie,
        max_rows: usize,
    ) -> Result<Run<'a>> {
        Ok(Run { steps: Steps::new(sessions, dims, prompts)?, trie, max_rows })
    }

    /// What a step over trie `nodes` reads: each node's children's tokens.
    fn children(&self, nodes: &[usize]) -> Read {
        let trie = self.trie;
        Read::Tokens(
            nodes.iter().map(|&n| trie.node(n).children.iter().map(|&c| trie.node(c).token).collect()).collect(),
        )
    }

    /// One decoder-with-past step over trie `nodes` (`Steps::expand`).
    fn expand(
        &mut self,
        nodes: &[usize],
        parent_rows: &[usize],
        self_kv: &[DynValue],
        cross_kv: &[DynValue],
        shrink: bool,
    ) -> Result<(RowScores, Vec<DynValue>)> {
        let tokens: Vec<i64> = nodes.iter().map(|&n| self.trie.node(n).token as i64).collect();
        let read = self.children(nodes);
        self.steps.expand(&tokens, parent_rows, self_kv, cross_kv, read, shrink)
    }

    /// The encoder pass and the root step (`Steps::start`).
    fn start(&mut self) -> Result<Root> {
        let texts = self.steps.prompts.all.texts;
        let read = self.children(&vec![ROOT; texts]);
        let last = self.trie.levels().len() <= 1;
        self.steps.start(self.trie.node(ROOT).token as i64, read, last)
    }

    /// `expand` for one text's level wider than `max_rows`, in steps of at most `max_rows`
    /// rows: the rows are independent given their parents' cache rows, so the scores are
    /// those of one step (within float rounding), while a step's transient memory (a row of
    /// logits each, 1 MB at mT5's vocabulary) and the time ONNX Runtime cannot be stopped in
    /// stay bounded. The steps' caches are joined on the host for the next level, so this is
    /// used only where the cache is in host memory (the CPU).
    fn expand_in_steps(
        &mut self,
        nodes: &[usize],
        parent_rows: &[usize],
        self_kv: &[DynValue],
        cross_kv: &[DynValue],
        shrink: bool,
    ) -> Result<(RowScores, Vec<DynValue>)> {
        let chunks = nodes.len().div_ceil(self.max_rows);
        let mut child_logprobs = Vec::with_capacity(nodes.len());
        let mut parts: Vec<Vec<DynValue>> = Vec::with_capacity(chunks);
        for (i, (n, p)) in nodes.chunks(self.max_rows).zip(parent_rows.chunks(self.max_rows)).enumerate() {
            let (scores, kv) = self.expand(n, p, self_kv, cross_kv, shrink && i + 1 == chunks)?;
            child_logprobs.extend(scores.child_logprobs);
            parts.push(kv);
        }
        // Per layer, the steps' caches stacked along the row axis (same sequence length, so
        // pad_and_stack adds no padding).
        let mut per_layer: Vec<Vec<DynValue>> = parts[0].iter().map(|_| Vec::with_capacity(chunks)).collect();
        for part in parts {
            for (layer, value) in per_layer.iter_mut().zip(part) {
                layer.push(value);
            }
        }
        let mut joined = Vec::with_capacity(per_layer.len());
        for layer in per_layer {
            let len = value_shape(&layer[0])?[2];
            let sessions = &mut self.steps.sessions;
            sessions.host_bytes += 2 * sessions.cache_type.bytes(layer.iter().map(element_count).sum());
            joined.push(pad_and_stack(layer, 2, len)?);
        }
        Ok((RowScores { child_logprobs, logits: Vec::new() }, joined))
    }
}

impl<'a> Steps<'a> {
    /// Fails where the step graphs are not loaded (`Model::ensure_steps`).
    pub(crate) fn new(sessions: &'a mut Sessions, dims: Dims, prompts: &'a RunPrompts) -> Result<Steps<'a>> {
        let outputs = step_graphs(&mut sessions.steps)?.score_outputs;
        Ok(Steps { sessions, names: KvNames::new(dims.layers), outputs, dims, prompts })
    }

    /// Runs one decoder step over `rows` rows and returns what `read` asks for and the caches
    /// `keep` names, in that order. `inputs` holds everything but `label_token_ids`.
    /// `shrink`: return the arenas' free memory when the run ends. Exact mode's decoder steps
    /// reuse the memory of the step before (a vocabulary-wide row of logits per row), so only
    /// its last step shrinks: shrinking after each one cost 10-15% at 87 labels on mT5-base.
    fn step(
        &mut self,
        decoder: Decoder,
        mut inputs: Inputs<'_>,
        rows: usize,
        read: Read,
        keep: Keep,
        shrink: bool,
    ) -> Result<(RowScores, Vec<DynValue>)> {
        let (outputs, vocab) = (self.outputs, self.dims.vocab);
        let keep: Vec<&str> = match keep {
            Keep::SelfCache => self.names.present_self.iter().map(String::as_str).collect(),
            Keep::CrossAndSelfCache => {
                self.names.present_cross.iter().chain(&self.names.present_self).map(String::as_str).collect()
            }
        };
        let graphs = step_graphs(&mut self.sessions.steps)?;
        let has_cache_gather = graphs.cache_gather.is_some();
        let (session, what) = match decoder {
            Decoder::Root => (
                graphs.decoder.as_mut().ok_or_else(|| {
                    Error::runtime("run the decoder", "neither decoder_model.onnx nor decoder_cross_kv.onnx is loaded")
                })?,
                "decoder",
            ),
            Decoder::WithPast => (&mut graphs.decoder_with_past, "decoder with past"),
        };
        let score_output = match (&read, outputs) {
            (Read::Tokens(children), ScoreOutputs::Fused) => {
                let k = children.iter().map(Vec::len).max().unwrap_or(1).max(1);
                // Rows with fewer children repeat token 0; those picks are never read.
                let ids: Vec<i64> =
                    children.iter().flat_map(|c| (0..k).map(move |j| c.get(j).map_or(0, |&t| t as i64))).collect();
                // Fed: the children's token ids; read back: their log-probabilities.
                self.sessions.host_bytes += bytes_of::<i64>(ids.len()) + bytes_of::<f32>(ids.len());
                let tensor =
                    Tensor::from_array(([rows, 1, k], ids)).map_err(|e| Error::runtime("make an input tensor", e))?;
                inputs.push(("label_token_ids".into(), tensor.into()));
                LOGPROBS_OUTPUT
            }
            (Read::Tokens(_), ScoreOutputs::FullLogits) | (Read::Logits, _) => {
                self.sessions.host_bytes += bytes_of::<f32>(rows * vocab);
                "logits"
            }
        };
        // The caches go on to the next run: they stay in the execution provider's memory
        // when the gather graph picks their rows, and come to the host when the engine does.
        let cache_place = if has_cache_gather { Place::Device } else { Place::Host };
        let mut bound = vec![(score_output, Place::Host)];
        bound.extend(keep.iter().map(|&name| (name, cache_place)));
        let mut values = run_bound(session, &mut self.sessions.memory, shrink, what, inputs, &bound)?;
        let kept = values.split_off(1);
        let scores = match (read, outputs) {
            (Read::Tokens(children), ScoreOutputs::Fused) => {
                let (shape, picks) = f32_data(&values[0], LOGPROBS_OUTPUT)?;
                let k = shape[2];
                let child_logprobs = children
                    .iter()
                    .enumerate()
                    .map(|(r, c)| picks[r * k..r * k + c.len()].iter().map(|&x| x as f64).collect())
                    .collect();
                RowScores { child_logprobs, logits: Vec::new() }
            }
            (Read::Tokens(children), ScoreOutputs::FullLogits) => {
                let (shape, logits) = f32_data(&values[0], "logits")?;
                check_vocab(&shape, vocab)?;
                let rows = (0..rows).map(|r| &logits[r * vocab..(r + 1) * vocab]);
                let child_logprobs = rows
                    .zip(&children)
                    .map(|(row, c)| {
                        let lse = log_sum_exp(row);
                        c.iter().map(|&t| row[t as usize] as f64 - lse).collect()
                    })
                    .collect();
                RowScores { child_logprobs, logits: Vec::new() }
            }
            (Read::Logits, _) => {
                let (shape, logits) = f32_data(&values[0], "logits")?;
                check_vocab(&shape, vocab)?;
                RowScores { child_logprobs: Vec::new(), logits: logits.to_vec() }
            }
        };
        Ok((scores, kept))
    }

    /// Counts `n` bytes crossing between host memory and ONNX Runtime.
    fn count(&mut self, n: u64) {
        self.sessions.host_bytes += n;
    }

    /// The encoder pass and the root step (`Root`): one row per text, fed `start_token` (the
    /// decoder start token), reading what `read` asks for. `last`: no step follows (shrink the
    /// arenas after it).
    pub(crate) fn start(&mut self, start_token: i64, read: Read, last: bool) -> Result<Root> {
        let prompts = self.prompts;
        let batch = &prompts.all;
        let (hidden, place) = encode_buckets(self.sessions, prompts)?;
        let start = vec![start_token; batch.texts];
        if let Some(cross) = step_graphs(&mut self.sessions.steps)?.cross_kv.as_mut() {
            // Our export's path: the cross-attention graph, then the root step through
            // decoder_with_past with an empty past (decoder_model.onnx is not even loaded).
            let bound: Vec<(&str, Place)> = self.names.present_cross.iter().map(|n| (n.as_str(), place)).collect();
            let mut per_layer: Vec<Vec<DynValue>> = bound.iter().map(|_| Vec::new()).collect();
            for h in &hidden {
                let inputs: Inputs = vec![("encoder_hidden_states".into(), h.into())];
                let values =
                    run_bound(cross, &mut self.sessions.memory, true, "cross-attention graph", inputs, &bound)?;
                for (value, parts) in values.into_iter().zip(&mut per_layer) {
                    parts.push(value);
                }
            }
            // [texts, heads, prompt, head_dim]: padded along the prompt axis (on the host, where
            // the run's texts were encoded in several buckets).
            if prompts.buckets.len() > 1 {
                let elements: usize = per_layer.iter().flatten().map(element_count).sum();
                self.count(2 * self.sessions.cache_type.bytes(elements));
            }
            let cross_kv =
                per_layer.into_iter().map(|parts| pad_and_stack(parts, 2, batch.len)).collect::<Result<Vec<_>>>()?;
            self.count(bytes_of::<i64>(start.len() + batch.mask.len()));
            let mut inputs: Inputs = vec![
                ("input_ids".into(), host_tensor([batch.texts, 1], &start)?),
                ("encoder_attention_mask".into(), host_tensor(batch.shape(), &batch.mask)?),
            ];
            for name in &self.names.past_self {
                let empty = self.sessions.cache_type.empty([batch.texts, self.dims.heads, 0, self.dims.head_dim])?;
                inputs.push((name.clone().into(), empty.into()));
            }
            for (name, value) in self.names.past_cross.iter().zip(&cross_kv) {
                inputs.push((name.clone().into(), value.into()));
            }
            let (scores, self_kv) = self.step(Decoder::WithPast, inputs, batch.texts, read, Keep::SelfCache, last)?;
            return Ok(Root { cross_kv, self_kv, scores });
        }
        let hidden = join_encoded(self.sessions, hidden, batch.len)?;
        self.count(bytes_of::<i64>(start.len() + batch.mask.len()));
        let inputs: Inputs = vec![
            ("input_ids".into(), host_tensor([batch.texts, 1], &start)?),
            ("encoder_attention_mask".into(), host_tensor(batch.shape(), &batch.mask)?),
            ("encoder_hidden_states".into(), (&hidden).into()),
        ];
        let (scores, mut kept) = self.step(Decoder::Root, inputs, batch.texts, read, Keep::CrossAndSelfCache, true)?;
        let self_kv = kept.split_off(self.names.present_cross.len());
        Ok(Root { cross_kv: kept, self_kv, scores })
    }

    /// One decoder-with-past step: row r is fed token `tokens[r]` and the cache row
    /// `parent_rows[r]` of `self_kv`. Rows are text-major (the same count for every text of
    /// the run), as our grouped decoder reads them. Returns what `read` asks for and the new
    /// cache.
    pub(crate) fn expand(
        &mut self,
        tokens: &[i64],
        parent_rows: &[usize],
        self_kv: &[DynValue],
        cross_kv: &[DynValue],
        read: Read,
        shrink: bool,
    ) -> Result<(RowScores, Vec<DynValue>)> {
        let batch = &self.prompts.all;
        let mut inputs: Inputs = vec![
            ("input_ids".into(), host_tensor([tokens.len(), 1], tokens)?),
            ("encoder_attention_mask".into(), host_tensor(batch.shape(), &batch.mask)?),
        ];
        self.count(bytes_of::<i64>(tokens.len() + batch.mask.len()));
        // Shapes are collected only while a test records them, not on every step.
        let mut shapes =
            self.sessions.shape_log.is_some().then(|| vec![("input_ids".to_string(), vec![tokens.len(), 1])]);
        // Rows fed in the order they are (every row its own parent: greedy classification, and
        // generation until an output ends) take the cache as it is: no gather run, and no
        // second copy of the cache while the step runs.
        let cached_rows = match self_kv.first() {
            Some(value) => value_shape(value)?[0],
            None => 0,
        };
        let identity = parent_rows.len() == cached_rows && parent_rows.iter().enumerate().all(|(i, &r)| i == r);
        let gathered = if identity { None } else { Some(self.parent_cache(parent_rows, self_kv)?) };
        for (name, value) in self.names.past_self.iter().zip(gathered.as_deref().unwrap_or(self_kv)) {
            if let Some(shapes) = shapes.as_mut() {
                shapes.push((name.clone(), value_shape(value)?));
            }
            inputs.push((name.clone().into(), value.into()));
        }
        // One row per text, by reference: the decoder broadcasts it over that text's rows.
        for (name, value) in self.names.past_cross.iter().zip(cross_kv) {
            if let Some(shapes) = shapes.as_mut() {
                shapes.push((name.clone(), value_shape(value)?));
            }
            inputs.push((name.clone().into(), value.into()));
        }
        if let (Some(log), Some(shapes)) = (self.sessions.shape_log.as_mut(), shapes) {
            log.push(shapes);
        }
        self.step(Decoder::WithPast, inputs, tokens.len(), read, Keep::SelfCache, shrink)
    }

    /// Returns the memory of a finished decoding's last cache (`self_kv`) to the system. Each
    /// session has its own arena and shrinks it only at the end of one of its runs, while the
    /// outputs of that run are still held: so one row of the cache is gathered (the gather
    /// graph's arena shrinks), the cache is dropped, and one small decoder step runs on that
    /// row (the decoder's arena shrinks, the cache's memory now free in it). Without this a
    /// long generation's caches (gigabytes at mT5-base size) would stay in the arenas after
    /// the call.
    pub(crate) fn release(&mut self, self_kv: Vec<DynValue>, cross_kv: &[DynValue], token: i64) -> Result<()> {
        let one = self.parent_cache(&[0], &self_kv)?;
        drop(self_kv);
        // One row, its own parent: `expand` feeds it as it is.
        self.expand(&[token], &[0], &one, cross_kv, Read::Tokens(vec![vec![]]), true).map(drop)
    }

    /// Rows `parent_rows` of every layer's self-attention cache: by the cache gather graph
    /// where the model has one (the cache stays in ONNX Runtime; only the indices cross), else
    /// on the host.
    fn parent_cache(&mut self, parent_rows: &[usize], self_kv: &[DynValue]) -> Result<Vec<DynValue>> {
        let Some(gather) = step_graphs(&mut self.sessions.steps)?.cache_gather.as_mut() else {
            let mut rows = Vec::with_capacity(self_kv.len());
            for value in self_kv {
                let gathered = gather_rows(value, parent_rows)?;
                // Read out of ONNX Runtime, then fed back in.
                self.sessions.host_bytes += 2 * self.sessions.cache_type.bytes(element_count(&gathered));
                rows.push(gathered);
            }
            return Ok(rows);
        };
        let indices: Vec<i64> = parent_rows.iter().map(|&r| r as i64).collect();
        self.sessions.host_bytes += bytes_of::<i64>(indices.len());
        let mut inputs: Inputs = vec![(
            PARENT_ROWS_INPUT.into(),
            Tensor::from_array(([indices.len()], indices))
                .map_err(|e| Error::runtime("make an input tensor", e))?
                .into(),
        )];
        for (name, value) in self.names.present_self.iter().zip(self_kv) {
            inputs.push((name.clone().into(), value.into()));
        }
        let bound: Vec<(&str, Place)> = self.names.past_self.iter().map(|n| (n.as_str(), Place::Device)).collect();
        // Shrinks after every gather, which the decoder steps do not: it keeps what a call leaves
        // in the CPU arena small. Without it, or with it before the last step only, backends held
        // more after calls in tests/safety (partly glibc's doing, since fixed in _PG_init), for a
        // speed gain not shown above the noise (BENCHMARKS.md, "The device-resident dataflow on
        // the CPU").
        run_bound(gather, &mut self.sessions.memory, true, "cache gather graph", inputs, &bound)
    }
}

impl<'a> Run<'a> {
    /// Per-label log-probabilities of the trie's labels for every prompt of the run (exact
    /// mode): one encoder run, then one decoder step per trie depth for all texts together.
    /// Several texts need the grouped decoder our export writes (`Sessions::batches_texts`).
    pub(crate) fn exact(mut self) -> Result<Vec<Vec<f64>>> {
        let trie = self.trie;
        let texts = self.steps.prompts.all.texts;
        if texts > 1 && !step_graphs(&mut self.steps.sessions.steps)?.batches_texts {
            return Err(Error::runtime(
                "run the decoder",
                "several texts in one run need the grouped decoder_with_past_model.onnx that tools/export_model.py writes",
            ));
        }
        let root = self.start()?;
        let mut cumulative = vec![vec![0f64; trie.nodes().len()]; texts];
        for (t, cumulative) in cumulative.iter_mut().enumerate() {
            score_children(trie, ROOT, &root.scores.child_logprobs[t], cumulative);
        }
        // Position of each node within its depth; in the last step's cache, node j of text t
        // is row t * width + j (the root step had one row per text).
        let mut index_in_level = vec![usize::MAX; trie.nodes().len()];
        index_in_level[ROOT] = 0;
        let mut parent_width = 1;
        let mut self_kv = root.self_kv;
        let levels = trie.levels().len();
        for (depth, level) in trie.levels().iter().enumerate().skip(1) {
            let width = level.len();
            let nodes: Vec<usize> = (0..texts).flat_map(|_| level.iter().copied()).collect();
            let parent_rows: Vec<usize> = (0..texts)
                .flat_map(|t| level.iter().map(move |&n| (t, n)))
                .map(|(t, n)| t * parent_width + index_in_level[trie.node(n).parent])
                .collect();
            let last = depth + 1 == levels;
            let split =
                texts == 1 && self.max_rows > 0 && nodes.len() > self.max_rows && !self.steps.sessions.memory.on_device;
            let (scores, kv) = if split {
                self.expand_in_steps(&nodes, &parent_rows, &self_kv, &root.cross_kv, last)?
            } else {
                self.expand(&nodes, &parent_rows, &self_kv, &root.cross_kv, last)?
            };
            for (t, cumulative) in cumulative.iter_mut().enumerate() {
                for (j, &node) in level.iter().enumerate() {
                    score_children(trie, node, &scores.child_logprobs[t * width + j], cumulative);
                }
            }
            for (j, &node) in level.iter().enumerate() {
                index_in_level[node] = j;
            }
            parent_width = width;
            self_kv = kv;
        }
        Ok(cumulative.iter().map(|c| (0..trie.num_labels()).map(|l| c[trie.label_leaf(l)]).collect()).collect())
    }

    /// Greedy mode: from the root, each text follows the child with the highest logit until
    /// EOS, one decoder row per text per step (all texts of the run together; a text that
    /// reached its leaf rides along on a row nobody reads until the longest path ends).
    /// Returns, per text, each label's log-probability where its whole sequence was scored on
    /// the way (the chosen label, and labels that end where the path passed: `物流` on the way
    /// to `物流问题`), NaN elsewhere, and the chosen leaf. One row per text is the layout
    /// Optimum's own decoder accepts too, so this batches texts with any export.
    pub(crate) fn greedy(mut self) -> Result<Vec<(Vec<f64>, usize)>> {
        let trie = self.trie;
        let texts = self.steps.prompts.all.texts;
        let root = self.start()?;
        let mut cumulative = vec![vec![f64::NAN; trie.nodes().len()]; texts];
        for (t, cumulative) in cumulative.iter_mut().enumerate() {
            cumulative[ROOT] = 0.0;
            score_children(trie, ROOT, &root.scores.child_logprobs[t], cumulative);
        }
        let pick = |node: usize, cumulative: &[f64]| -> usize {
            // The child with the highest log-probability; the first one on ties.
            let children = &trie.node(node).children;
            let mut best = children[0];
            for &c in &children[1..] {
                if cumulative[c] > cumulative[best] {
                    best = c;
                }
            }
            best
        };
        let mut at: Vec<usize> = cumulative.iter().map(|c| pick(ROOT, c)).collect();
        let rows: Vec<usize> = (0..texts).collect();
        let mut self_kv = root.self_kv;
        while at.iter().any(|&n| !trie.node(n).children.is_empty()) {
            // One row per text: little to return, but the step may be the last.
            let (scores, kv) = self.expand(&at, &rows, &self_kv, &root.cross_kv, true)?;
            for (t, cumulative) in cumulative.iter_mut().enumerate() {
                if !trie.node(at[t]).children.is_empty() {
                    score_children(trie, at[t], &scores.child_logprobs[t], cumulative);
                    at[t] = pick(at[t], cumulative);
                }
            }
            self_kv = kv;
        }
        Ok(cumulative
            .iter()
            .zip(at)
            .map(|(c, leaf)| ((0..trie.num_labels()).map(|l| c[trie.label_leaf(l)]).collect(), leaf))
            .collect())
    }
}

pub(crate) fn check_vocab(shape: &[usize], vocab: usize) -> Result<()> {
    match shape.last() {
        Some(&v) if v == vocab => Ok(()),
        _ => Err(Error::runtime(
            "run the decoder",
            format!("logits have shape {shape:?}, config.json says vocab_size {vocab}"),
        )),
    }
}

/// The plain way, for checking the trie path: each label teacher-forced through
/// decoder_model.onnx on its own (no trie, no cache), after the same encoder pass.
pub(crate) fn teacher_forced_logprobs(
    sessions: &mut Sessions,
    vocab: usize,
    start: u32,
    ids: &[i64],
    sequences: &[Vec<u32>],
) -> Result<Vec<f64>> {
    let prompt = PromptBatch::new(&[ids], 0);
    let hidden = encode(sessions, &prompt, Place::Host)?;
    let mut result = Vec::with_capacity(sequences.len());
    for seq in sequences {
        let decoder_in: Vec<i64> =
            std::iter::once(start).chain(seq[..seq.len() - 1].iter().copied()).map(i64::from).collect();
        let inputs: Inputs = vec![
            ("input_ids".into(), host_tensor([1, decoder_in.len()], &decoder_in)?),
            ("encoder_attention_mask".into(), host_tensor(prompt.shape(), &prompt.mask)?),
            ("encoder_hidden_states".into(), (&hidden).into()),
        ];
        let decoder = step_graphs(&mut sessions.steps)?
            .decoder
            .as_mut()
            .ok_or_else(|| Error::runtime("run the decoder", "decoder_model.onnx is not loaded"))?;
        let logits = run(decoder, "decoder", inputs, |out| take(out, "logits", "decoder"))?;
        let (shape, logits) = f32_data(&logits, "logits")?;
        check_vocab(&shape, vocab)?;
        let total: f64 = seq
            .iter()
            .enumerate()
            .map(|(t, &tok)| {
                let row = &logits[t * vocab..(t + 1) * vocab];
                row[tok as usize] as f64 - log_sum_exp(row)
            })
            .sum();
        result.push(total);
    }
    Ok(result)
}
