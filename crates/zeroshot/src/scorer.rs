//! Exact label scoring over the label trie (DESIGN.md §3):
//! log P(label | prompt) = Σ_t log softmax(logits_t)[label_t] over the label's tokens and EOS.
//!
//! One encoder pass per text. The root decoder step (the start token, batch 1) yields the
//! cross-attention keys/values of the encoder output; they are passed by reference, batch 1,
//! to every later step, never copied per label (ONNX Runtime broadcasts them against the
//! decoder batch). Each trie depth is then one batched decoder step over the nodes that
//! have children, fed the self-attention cache rows of their parents.
use std::borrow::Cow;

use ort::session::{Session, SessionInputValue, SessionOutputs};
use ort::value::{DynValue, Tensor, TensorRef};

use crate::error::{Error, Result};
use crate::model::Sessions;
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
        let names = |prefix: &str, part: &str| -> Vec<String> {
            (0..layers).flat_map(|i| ["key", "value"].map(|kv| format!("{prefix}.{i}.{part}.{kv}"))).collect()
        };
        KvNames {
            past_self: names("past_key_values", "decoder"),
            past_cross: names("past_key_values", "encoder"),
            present_self: names("present", "decoder"),
            present_cross: names("present", "encoder"),
        }
    }
}

type Inputs<'v> = Vec<(Cow<'static, str>, SessionInputValue<'v>)>;

fn run<'s>(session: &'s mut Session, what: &str, inputs: Inputs<'_>) -> Result<SessionOutputs<'s>> {
    session.run(inputs).map_err(|e| Error::runtime(format!("run the {what}"), e))
}

fn take(outputs: &mut SessionOutputs<'_>, name: &str, what: &str) -> Result<DynValue> {
    outputs.remove(name).ok_or_else(|| Error::runtime(format!("run the {what}"), format!("no output {name}")))
}

fn tensor_ref<'a, T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static>(
    shape: [usize; 2],
    data: &'a [T],
) -> Result<SessionInputValue<'a>> {
    Ok(TensorRef::from_array_view((shape, data)).map_err(|e| Error::runtime("make an input tensor", e))?.into())
}

fn f32_data<'a>(value: &'a DynValue, what: &str) -> Result<(Vec<usize>, &'a [f32])> {
    let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| Error::runtime(format!("read {what}"), e))?;
    Ok((shape.iter().map(|&d| d as usize).collect(), data))
}

/// log Σ exp(row), accumulated in f64.
fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max as f64;
    }
    let sum: f64 = row.iter().map(|&x| ((x - max) as f64).exp()).sum();
    max as f64 + sum.ln()
}

/// Adds each child's log-probability under `row` (one node's next-token logits) to the
/// node's running sum.
fn score_children(trie: &LabelTrie, node: usize, row: &[f32], cumulative: &mut [f64]) {
    let lse = log_sum_exp(row);
    let base = cumulative[node];
    for &child in &trie.node(node).children {
        cumulative[child] = base + row[trie.node(child).token as usize] as f64 - lse;
    }
}

/// Rows `rows` of a `[batch, heads, seq, head_dim]` cache tensor, as a new tensor.
fn gather_rows(value: &DynValue, rows: &[usize]) -> Result<Tensor<f32>> {
    let (shape, data) = f32_data(value, "the decoder cache")?;
    let row_len: usize = shape[1..].iter().product();
    let mut out = Vec::with_capacity(rows.len() * row_len);
    for &r in rows {
        out.extend_from_slice(&data[r * row_len..(r + 1) * row_len]);
    }
    let mut new_shape = shape.clone();
    new_shape[0] = rows.len();
    Tensor::from_array((new_shape, out)).map_err(|e| Error::runtime("make a cache tensor", e))
}

/// Per-label log-probabilities of `trie`'s labels given the prompt `ids`.
pub(crate) fn trie_logprobs(sessions: &mut Sessions, layers: usize, vocab: usize, ids: &[i64], trie: &LabelTrie) -> Result<Vec<f64>> {
    let names = KvNames::new(layers);
    let len = ids.len();
    let mask = vec![1i64; len];

    let hidden = {
        let inputs: Inputs = vec![("input_ids".into(), tensor_ref([1, len], ids)?), ("attention_mask".into(), tensor_ref([1, len], &mask)?)];
        let mut out = run(&mut sessions.encoder, "encoder", inputs)?;
        take(&mut out, "last_hidden_state", "encoder")?
    };

    let mut cumulative = vec![0f64; trie.nodes().len()];
    let start = [trie.node(ROOT).token as i64];
    let (cross_kv, mut self_kv) = {
        let inputs: Inputs = vec![
            ("input_ids".into(), tensor_ref([1, 1], &start)?),
            ("encoder_attention_mask".into(), tensor_ref([1, len], &mask)?),
            ("encoder_hidden_states".into(), (&hidden).into()),
        ];
        let mut out = run(&mut sessions.decoder, "decoder", inputs)?;
        let (shape, logits) = f32_data(&out["logits"], "logits")?;
        check_vocab(&shape, vocab)?;
        score_children(trie, ROOT, &logits[..vocab], &mut cumulative);
        let cross = names.present_cross.iter().map(|n| take(&mut out, n, "decoder")).collect::<Result<Vec<_>>>()?;
        let own = names.present_self.iter().map(|n| take(&mut out, n, "decoder")).collect::<Result<Vec<_>>>()?;
        (cross, own)
    };

    // Row of each node in the cache of the last step (the root's cache has one row).
    let mut row_of = vec![usize::MAX; trie.nodes().len()];
    row_of[ROOT] = 0;
    for level in trie.levels().iter().skip(1) {
        let parent_rows: Vec<usize> = level.iter().map(|&n| row_of[trie.node(n).parent]).collect();
        let tokens: Vec<i64> = level.iter().map(|&n| trie.node(n).token as i64).collect();
        let mut inputs: Inputs = vec![
            ("input_ids".into(), tensor_ref([level.len(), 1], &tokens)?),
            ("encoder_attention_mask".into(), tensor_ref([1, len], &mask)?),
        ];
        for (name, value) in names.past_self.iter().zip(&self_kv) {
            inputs.push((name.clone().into(), gather_rows(value, &parent_rows)?.into()));
        }
        for (name, value) in names.past_cross.iter().zip(&cross_kv) {
            inputs.push((name.clone().into(), value.into()));
        }
        let mut out = run(&mut sessions.decoder_with_past, "decoder with past", inputs)?;
        let (shape, logits) = f32_data(&out["logits"], "logits")?;
        check_vocab(&shape, vocab)?;
        for (r, &node) in level.iter().enumerate() {
            score_children(trie, node, &logits[r * vocab..(r + 1) * vocab], &mut cumulative);
            row_of[node] = r;
        }
        self_kv = names.present_self.iter().map(|n| take(&mut out, n, "decoder with past")).collect::<Result<Vec<_>>>()?;
    }
    Ok((0..trie.num_labels()).map(|l| cumulative[trie.label_leaf(l)]).collect())
}

fn check_vocab(shape: &[usize], vocab: usize) -> Result<()> {
    match shape.last() {
        Some(&v) if v == vocab => Ok(()),
        _ => Err(Error::runtime("run the decoder", format!("logits have shape {shape:?}, config.json says vocab_size {vocab}"))),
    }
}

/// The plain way, for checking the trie path: each label teacher-forced through
/// decoder_model.onnx on its own (no trie, no cache), after the same encoder pass.
pub(crate) fn teacher_forced_logprobs(sessions: &mut Sessions, vocab: usize, start: u32, ids: &[i64], sequences: &[Vec<u32>]) -> Result<Vec<f64>> {
    let len = ids.len();
    let mask = vec![1i64; len];
    let hidden = {
        let inputs: Inputs = vec![("input_ids".into(), tensor_ref([1, len], ids)?), ("attention_mask".into(), tensor_ref([1, len], &mask)?)];
        let mut out = run(&mut sessions.encoder, "encoder", inputs)?;
        take(&mut out, "last_hidden_state", "encoder")?
    };
    let mut result = Vec::with_capacity(sequences.len());
    for seq in sequences {
        let decoder_in: Vec<i64> = std::iter::once(start).chain(seq[..seq.len() - 1].iter().copied()).map(i64::from).collect();
        let inputs: Inputs = vec![
            ("input_ids".into(), tensor_ref([1, decoder_in.len()], &decoder_in)?),
            ("encoder_attention_mask".into(), tensor_ref([1, len], &mask)?),
            ("encoder_hidden_states".into(), (&hidden).into()),
        ];
        let out = run(&mut sessions.decoder, "decoder", inputs)?;
        let (shape, logits) = f32_data(&out["logits"], "logits")?;
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
