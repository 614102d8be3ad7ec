//! The label trie: every label's token sequence (label tokens, then EOS) as a path from
//! the root. A shared prefix (`物流` / `物流问题`) is one path, so the decoder computes it
//! once; every node with children needs one decoder step, batched by depth.

#[derive(Debug, Clone)]
pub struct Node {
    /// The token that leads to this node (the decoder start token for the root).
    pub token: u32,
    pub parent: usize,
    pub depth: usize,
    pub children: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct LabelTrie {
    nodes: Vec<Node>,
    /// The node where each label's sequence ends (labels whose tokens are equal share it).
    label_leaf: Vec<usize>,
    /// `expand[d]`: the nodes at depth d that have children, i.e. that need a decoder step.
    expand: Vec<Vec<usize>>,
}

pub const ROOT: usize = 0;

impl LabelTrie {
    /// `sequences[i]` is label i's tokens followed by EOS; none may be empty.
    pub fn new(start_token: u32, sequences: &[Vec<u32>]) -> LabelTrie {
        let mut nodes = vec![Node { token: start_token, parent: ROOT, depth: 0, children: vec![] }];
        let mut label_leaf = Vec::with_capacity(sequences.len());
        for seq in sequences {
            assert!(!seq.is_empty(), "a label sequence ends with EOS at least");
            let mut at = ROOT;
            for &token in seq {
                at = match nodes[at].children.iter().copied().find(|&c| nodes[c].token == token) {
                    Some(child) => child,
                    None => {
                        let id = nodes.len();
                        let depth = nodes[at].depth + 1;
                        nodes.push(Node { token, parent: at, depth, children: vec![] });
                        nodes[at].children.push(id);
                        id
                    }
                };
            }
            label_leaf.push(at);
        }
        let max_depth = nodes.iter().map(|n| n.depth).max().unwrap_or(0);
        let mut expand = vec![Vec::new(); max_depth + 1];
        for (id, node) in nodes.iter().enumerate() {
            if !node.children.is_empty() {
                expand[node.depth].push(id);
            }
        }
        while expand.last().is_some_and(|level| level.is_empty()) {
            expand.pop();
        }
        LabelTrie { nodes, label_leaf, expand }
    }

    /// Approximate heap bytes of the trie (for the label cache's budget).
    pub fn size_bytes(&self) -> usize {
        let children: usize = self.nodes.iter().map(|n| n.children.capacity()).sum();
        let levels: usize = self.expand.iter().map(|l| l.capacity() + 3).sum();
        (self.nodes.capacity() * std::mem::size_of::<Node>())
            + (children + levels + self.label_leaf.capacity()) * std::mem::size_of::<usize>()
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: usize) -> &Node {
        &self.nodes[id]
    }

    pub fn label_leaf(&self, label: usize) -> usize {
        self.label_leaf[label]
    }

    pub fn num_labels(&self) -> usize {
        self.label_leaf.len()
    }

    /// Nodes that need a decoder step, by depth (`levels()[0]` is the root alone).
    pub fn levels(&self) -> &[Vec<usize>] {
        &self.expand
    }

    /// Decoder steps one text costs (one per node with children), against the
    /// per-label teacher-forced count of the naive approach.
    pub fn decoder_rows(&self) -> usize {
        self.expand.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefixes_are_shared() {
        // 物流 = [5, 6], 物流问题 = [5, 6, 7], 商品 = [8]; EOS = 1.
        let trie = LabelTrie::new(0, &[vec![5, 6, 1], vec![5, 6, 7, 1], vec![8, 1]]);
        // root, 5, 6, 1(after 6), 7, 1(after 7), 8, 1(after 8)
        assert_eq!(trie.nodes().len(), 8);
        assert_eq!(trie.levels()[0], vec![ROOT]);
        assert_eq!(trie.levels()[1].len(), 2); // 5 and 8
        assert_eq!(trie.levels()[2].len(), 1); // 6 has children EOS and 7
        assert_eq!(trie.levels().len(), 4); // 7 at depth 3 has child EOS
        assert_eq!(trie.decoder_rows(), 5);
        let leaf = trie.node(trie.label_leaf(1));
        assert_eq!((leaf.token, leaf.depth), (1, 4));
    }

    #[test]
    fn equal_sequences_share_a_leaf() {
        let trie = LabelTrie::new(0, &[vec![5, 1], vec![5, 1]]);
        assert_eq!(trie.label_leaf(0), trie.label_leaf(1));
        assert_eq!(trie.num_labels(), 2);
    }
}
