//! The label trie as runs of the tree graph (decoder_tree_model.onnx; README, "How it
//! scores"). A run decodes a set of trie nodes at once, each one a decoder position at its
//! depth that attends to itself and its ancestors only, so a node's output is the one a
//! step-by-step decode of its own label computes. Only nodes with children are decoded (a
//! leaf's output would score nothing). A run must hold every ancestor of its nodes: a trie
//! with more nodes than one run may take is cut into ancestor-closed parts, each repeating
//! the ancestors it needs (a handful of rows: labels share short prefixes).
use crate::trie::{LabelTrie, ROOT};

/// The nodes of one tree-graph run, every node's ancestors in it and before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreePart {
    pub nodes: Vec<usize>,
}

impl TreePart {
    /// Each node's token: the one that leads to it (the decoder start token at the root).
    pub fn tokens(&self, trie: &LabelTrie) -> Vec<i64> {
        self.nodes.iter().map(|&n| trie.node(n).token as i64).collect()
    }

    /// Each node's depth: its position in its own label's sequence, which is what mT5's
    /// relative position bias must see.
    pub fn positions(&self, trie: &LabelTrie) -> Vec<i64> {
        self.nodes.iter().map(|&n| trie.node(n).depth as i64).collect()
    }

    /// The tree mask, row-major [nodes, nodes]: entry (q, k) is set where node k is node q
    /// or one of its ancestors.
    pub fn mask(&self, trie: &LabelTrie) -> Vec<bool> {
        let n = self.nodes.len();
        let mut position = vec![usize::MAX; trie.nodes().len()];
        for (i, &node) in self.nodes.iter().enumerate() {
            position[node] = i;
        }
        let mut mask = vec![false; n * n];
        for (q, &node) in self.nodes.iter().enumerate() {
            let mut at = node;
            loop {
                mask[q * n + position[at]] = true;
                if at == ROOT {
                    break;
                }
                at = trie.node(at).parent;
            }
        }
        mask
    }
}

/// Nodes on the longest path a run must hold: the root down to the deepest node with
/// children. A trie fits the tree graph under a bound of at least this many rows.
pub(crate) fn deepest_path(trie: &LabelTrie) -> usize {
    trie.levels().len()
}

/// Whether the tree graph is the way to score `trie` under a bound of `max_rows` rows per run
/// (0: none). Its deepest path must fit a run. Where the trie must be cut, each part is a run
/// that reads the decoder's weights and recomputes the cross-attention over the prompt, and
/// repeats the ancestors of its nodes: level by level is then cheaper once there are more parts
/// than trie levels (its runs), or the parts repeat as many rows as the trie has.
pub(crate) fn fits_tree(trie: &LabelTrie, max_rows: usize) -> bool {
    if max_rows == 0 || trie.decoder_rows() <= max_rows {
        return true;
    }
    if deepest_path(trie) > max_rows {
        return false;
    }
    let parts = tree_parts(trie, max_rows);
    let rows: usize = parts.iter().map(|p| p.nodes.len()).sum();
    parts.len() <= trie.levels().len() && rows < 2 * trie.decoder_rows()
}

/// The trie's nodes with children, in parts of at most `max_nodes` nodes (0: no bound), each
/// closed under ancestors; every node with children is in at least one part. Nodes are taken
/// depth first, so a part holds whole subtrees where it can and repeats only the path down
/// to them. `max_nodes` must be at least `deepest_path(trie)` (a part holds one path at least).
pub(crate) fn tree_parts(trie: &LabelTrie, max_nodes: usize) -> Vec<TreePart> {
    let bound = if max_nodes == 0 { usize::MAX } else { max_nodes };
    let mut parts = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut in_part = vec![false; trie.nodes().len()];
    // Depth first, children in order, through nodes with children only.
    let mut stack = vec![ROOT];
    while let Some(node) = stack.pop() {
        let mut path = missing_path(trie, node, &in_part);
        if !current.is_empty() && current.len() + path.len() > bound {
            for &n in &current {
                in_part[n] = false;
            }
            parts.push(TreePart { nodes: std::mem::take(&mut current) });
            path = missing_path(trie, node, &in_part);
        }
        for &n in path.iter().rev() {
            in_part[n] = true;
            current.push(n);
        }
        let children = &trie.node(node).children;
        stack.extend(children.iter().rev().copied().filter(|&c| !trie.node(c).children.is_empty()));
    }
    if !current.is_empty() {
        parts.push(TreePart { nodes: current });
    }
    parts
}

/// `node` and its ancestors up to the first one already in the part, deepest first.
fn missing_path(trie: &LabelTrie, node: usize, in_part: &[bool]) -> Vec<usize> {
    let mut path = Vec::new();
    let mut at = node;
    while !in_part[at] {
        path.push(at);
        if at == ROOT {
            break;
        }
        at = trie.node(at).parent;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trie from labels given as token lists (EOS = 1 appended), start token 0.
    fn trie(labels: &[&[u32]]) -> LabelTrie {
        let seqs: Vec<Vec<u32>> = labels.iter().map(|l| l.iter().copied().chain([1]).collect()).collect();
        LabelTrie::new(0, &seqs)
    }

    fn check_parts(trie: &LabelTrie, parts: &[TreePart], max_nodes: usize) {
        let expand: Vec<usize> = trie.levels().iter().flatten().copied().collect();
        for &node in &expand {
            assert!(parts.iter().any(|p| p.nodes.contains(&node)), "node {node} is in no part");
        }
        for part in parts {
            assert!(part.nodes.len() <= max_nodes || max_nodes == 0, "{part:?} over {max_nodes}");
            for (i, &node) in part.nodes.iter().enumerate() {
                assert!(!trie.node(node).children.is_empty(), "leaf {node} decoded");
                if node != ROOT {
                    let parent = trie.node(node).parent;
                    let at = part.nodes.iter().position(|&n| n == parent);
                    assert!(at.is_some_and(|p| p < i), "{part:?}: {node}'s parent {parent} not before it");
                }
            }
        }
    }

    #[test]
    fn a_small_trie_is_one_part_with_its_mask_and_depths() {
        // 物流 = [5, 6], 物流问题 = [5, 6, 7], 商品 = [8]
        let t = trie(&[&[5, 6], &[5, 6, 7], &[8]]);
        let parts = tree_parts(&t, 0);
        assert_eq!(parts.len(), 1);
        let part = &parts[0];
        check_parts(&t, &parts, 0);
        assert_eq!(part.nodes.len(), t.decoder_rows());
        assert_eq!(part.tokens(&t), vec![0, 5, 6, 7, 8]);
        assert_eq!(part.positions(&t), vec![0, 1, 2, 3, 1]);
        let m = part.mask(&t);
        let row = |q: usize| (0..5).map(|k| m[q * 5 + k] as u8).collect::<Vec<_>>();
        assert_eq!(row(0), [1, 0, 0, 0, 0]);
        assert_eq!(row(3), [1, 1, 1, 1, 0]); // 7 sees 6, 5 and the root
        assert_eq!(row(4), [1, 0, 0, 0, 1]); // 8 sees the root only
    }

    #[test]
    fn wide_tries_split_into_bounded_ancestor_closed_parts() {
        // 200 labels of two tokens, 20 first tokens: 1 + 20 + 200 nodes with children.
        let labels: Vec<Vec<u32>> = (0..200).map(|i| vec![10 + i / 10, 1000 + i]).collect();
        let refs: Vec<&[u32]> = labels.iter().map(Vec::as_slice).collect();
        let t = trie(&refs);
        for max in [3, 4, 7, 50, 256] {
            let parts = tree_parts(&t, max);
            check_parts(&t, &parts, max);
            // Each part repeats at most the path above its first subtree.
            let total: usize = parts.iter().map(|p| p.nodes.len()).sum();
            assert!(total <= t.decoder_rows() + parts.len() * deepest_path(&t), "{max}: {total}");
        }
        assert_eq!(tree_parts(&t, 256).len(), 1);
    }

    #[test]
    fn the_tree_is_used_where_it_fits_in_few_parts() {
        let labels: Vec<Vec<u32>> = (0..200).map(|i| vec![10 + i / 10, 1000 + i]).collect();
        let refs: Vec<&[u32]> = labels.iter().map(Vec::as_slice).collect();
        let t = trie(&refs); // 221 nodes with children, 3 levels
        assert!(fits_tree(&t, 0) && fits_tree(&t, 221) && fits_tree(&t, 1024));
        assert!(fits_tree(&t, 111), "two parts of one level each");
        assert!(!fits_tree(&t, 50), "five parts, more than the trie's three levels");
        assert!(!fits_tree(&t, 2), "deeper than the bound");
    }

    #[test]
    fn deep_labels_and_labels_that_are_prefixes_of_others() {
        let t = trie(&[&[5], &[5, 6], &[5, 6, 7, 8, 9, 10], &[11, 12, 13]]);
        assert_eq!(deepest_path(&t), 7);
        for max in [7, 8, 10, 0] {
            check_parts(&t, &tree_parts(&t, max), max);
        }
    }
}
