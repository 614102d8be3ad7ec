//! Exact mode in one decoder pass (README, "How it scores"): the encoder over a run's prompts,
//! then every node with children of the label trie, for every text of the run, through the
//! tree graph (decoder_tree_model.onnx) in one ONNX Runtime run. The decoder layers and the
//! vocabulary-wide projection are read once per run, not once per trie level, and no cache
//! passes between runs. A trie with more such nodes than `max_rows` allows is cut into
//! ancestor-closed parts (tree_parts.rs), one run each; the scores are the same.
use ort::value::{DynValue, Tensor};

use crate::batch::RunPrompts;
use crate::error::{Error, Result};
use crate::graphs::{ScoreOutputs, Sessions, LOGPROBS_OUTPUT, TREE_FILE};
use crate::host_tensors::f32_data;
use crate::scorer::{
    bytes_of, check_vocab, encode_run, host_tensor, log_sum_exp, run_bound, score_children, Inputs, Place,
};
use crate::tree_parts::{tree_parts, TreePart};
use crate::trie::LabelTrie;

/// Per-label log-probabilities of `trie`'s labels for every prompt of the run. `max_rows`
/// bounds texts × nodes per run (0: no bound); the caller checks that the deepest path of the
/// trie fits it (`tree_parts::deepest_path`).
pub(crate) fn exact(
    sessions: &mut Sessions,
    outputs: ScoreOutputs,
    vocab: usize,
    prompts: &RunPrompts,
    trie: &LabelTrie,
    max_rows: usize,
) -> Result<Vec<Vec<f64>>> {
    let texts = prompts.all.texts;
    let hidden = encode_run(sessions, prompts)?;
    let parts = tree_parts(trie, if max_rows == 0 { 0 } else { (max_rows / texts).max(1) });
    // Each node's children's log-probabilities, per text: from the first part that decoded it
    // (a part repeats the ancestors of its nodes).
    let mut child_logprobs: Vec<Vec<Option<Vec<f64>>>> = vec![vec![None; trie.nodes().len()]; texts];
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let scores = run_part(sessions, outputs, vocab, prompts, trie, part, &hidden, last)?;
        // Rows are text-major: row r is node r % nodes of text r / nodes.
        for (r, row) in scores.into_iter().enumerate() {
            let slot = &mut child_logprobs[r / part.nodes.len()][part.nodes[r % part.nodes.len()]];
            if slot.is_none() {
                *slot = Some(row);
            }
        }
    }
    let mut results = Vec::with_capacity(texts);
    for per_text in &child_logprobs {
        // Every node with children was in a part (tree_parts' promise): a label whose path
        // missed one would otherwise pass for a certain one.
        if trie.levels().iter().flatten().any(|&n| per_text[n].is_none()) {
            return Err(Error::runtime("run the tree decoder", "a node of the label trie was in no run"));
        }
        let mut cumulative = vec![0f64; trie.nodes().len()];
        // A parent's id is smaller than its children's (trie.rs adds nodes as it reaches them),
        // so ascending ids sum each path from the root down.
        for (node, logprobs) in per_text.iter().enumerate() {
            if let Some(logprobs) = logprobs {
                score_children(trie, node, logprobs, &mut cumulative);
            }
        }
        results.push((0..trie.num_labels()).map(|l| cumulative[trie.label_leaf(l)]).collect());
    }
    Ok(results)
}

/// One tree-graph run over `part` for every text: each (text, node) row's children's
/// log-probabilities, rows text-major. `shrink`: the call's last run (return the arenas'
/// free memory when it ends).
#[allow(clippy::too_many_arguments)]
fn run_part(
    sessions: &mut Sessions,
    outputs: ScoreOutputs,
    vocab: usize,
    prompts: &RunPrompts,
    trie: &LabelTrie,
    part: &TreePart,
    hidden: &DynValue,
    shrink: bool,
) -> Result<Vec<Vec<f64>>> {
    let batch = &prompts.all;
    let (texts, n) = (batch.texts, part.nodes.len());
    let tokens = part.tokens(trie);
    let ids: Vec<i64> = (0..texts).flat_map(|_| tokens.iter().copied()).collect();
    let positions = part.positions(trie);
    let mask = part.mask(trie);
    let children: Vec<Vec<u32>> =
        part.nodes.iter().map(|&p| trie.node(p).children.iter().map(|&c| trie.node(c).token).collect()).collect();
    sessions.host_bytes +=
        bytes_of::<i64>(ids.len() + positions.len() + batch.mask.len()) + bytes_of::<bool>(mask.len());
    if let Some(log) = sessions.shape_log.as_mut() {
        log.push(vec![("input_ids".to_string(), vec![texts, n]), ("tree_mask".to_string(), vec![n, n])]);
    }
    let mut inputs: Inputs = vec![
        ("input_ids".into(), host_tensor([texts, n], &ids)?),
        (
            "positions".into(),
            Tensor::from_array(([n], positions)).map_err(|e| Error::runtime("make an input tensor", e))?.into(),
        ),
        ("tree_mask".into(), host_tensor([n, n], &mask)?),
        ("encoder_hidden_states".into(), hidden.into()),
        ("encoder_attention_mask".into(), host_tensor(batch.shape(), &batch.mask)?),
    ];
    let output = match outputs {
        ScoreOutputs::Fused => {
            // One flat index node × vocab + token per (node, child) pair, node-major: exactly
            // the numbers scoring reads (tools/graph_edits.py, add_label_scores).
            let flat: Vec<i64> = children
                .iter()
                .enumerate()
                .flat_map(|(j, c)| c.iter().map(move |&t| (j * vocab) as i64 + t as i64))
                .collect();
            let picks: Vec<i64> = (0..texts).flat_map(|_| flat.iter().copied()).collect();
            sessions.host_bytes += bytes_of::<i64>(picks.len()) + bytes_of::<f32>(picks.len());
            inputs.push(("label_token_ids".into(), host_tensor([texts, flat.len()], &picks)?));
            LOGPROBS_OUTPUT
        }
        ScoreOutputs::FullLogits => {
            sessions.host_bytes += bytes_of::<f32>(texts * n * vocab);
            "logits"
        }
    };
    let tree = sessions
        .tree
        .as_mut()
        .ok_or_else(|| Error::runtime("run the tree decoder", format!("{TREE_FILE} is not loaded")))?;
    let mut values = run_bound(tree, &mut sessions.memory, shrink, "tree decoder", inputs, &[(output, Place::Host)])?;
    let value = values.pop().expect("one output bound");
    let rows = (0..texts).flat_map(|_| children.iter());
    Ok(match outputs {
        ScoreOutputs::Fused => {
            let (shape, picked) = f32_data(&value, LOGPROBS_OUTPUT)?;
            let asked: usize = children.iter().map(Vec::len).sum::<usize>() * texts;
            if picked.len() != asked {
                return Err(Error::runtime(
                    "run the tree decoder",
                    format!("{LOGPROBS_OUTPUT} has shape {shape:?}, {asked} values were asked for"),
                ));
            }
            let mut at = 0;
            rows.map(|c| {
                let row = picked[at..at + c.len()].iter().map(|&x| x as f64).collect();
                at += c.len();
                row
            })
            .collect()
        }
        ScoreOutputs::FullLogits => {
            let (shape, logits) = f32_data(&value, "logits")?;
            check_vocab(&shape, vocab)?;
            if logits.len() != texts * n * vocab {
                return Err(Error::runtime(
                    "run the tree decoder",
                    format!("logits have shape {shape:?}, {texts} texts of {n} nodes were asked for"),
                ));
            }
            rows.enumerate()
                .map(|(r, c)| {
                    let row = &logits[r * vocab..(r + 1) * vocab];
                    let lse = log_sum_exp(row);
                    c.iter().map(|&t| row[t as usize] as f64 - lse).collect()
                })
                .collect()
        }
    })
}
