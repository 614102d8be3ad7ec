//! Which texts share one ONNX Runtime run in exact mode (README, "How it scores": "texts in a batch are
//! encoded together and their tries expanded together").
//!
//! Texts run together are padded to the longest prompt of their run, so they are taken in
//! order of prompt length (length buckets) to keep the padding small. Two limits bound the
//! memory a run takes: decoder rows (texts × the trie's nodes with children in one tree pass,
//! or × its widest depth level by level), because ONNX Runtime computes a full
//! vocabulary-wide row of logits and of their log-softmax for each (2 MB at mT5's 250k
//! vocabulary) before reducing it; and padded prompt tokens (texts × longest prompt), because the
//! cross-attention keys/values are kept for every prompt token of every layer (73 KB per
//! token at base size).

/// Bounds on one run of several texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Decoder rows per step: texts × the widest trie depth. A text whose label trie alone
    /// is wider still runs, on its own.
    pub max_rows: usize,
    /// Padded prompt tokens: texts × the longest prompt in the run.
    pub max_tokens: usize,
}

impl RunLimits {
    /// 256 rows: on a 2-core CPU the time per row stops falling near 100 rows (BENCHMARKS.md),
    /// and 0.5 GB of transient logits and log-softmax is as much as a backend should take.
    pub const DEFAULT_MAX_ROWS: usize = 256;
    /// 4096 tokens: 300 MB of cross-attention keys/values at mT5-base size, 16 prompts
    /// of 256 tokens.
    pub const DEFAULT_MAX_TOKENS: usize = 4096;
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits { max_rows: Self::DEFAULT_MAX_ROWS, max_tokens: Self::DEFAULT_MAX_TOKENS }
    }
}

/// Splits texts (given by prompt length) into runs: lists of indices, each list at most as
/// large as `limits` allow with `widest_level` decoder rows per text, every text exactly once.
pub fn plan_runs(prompt_lens: &[usize], widest_level: usize, limits: RunLimits) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..prompt_lens.len()).collect();
    // Longest first; stable, so equal lengths keep their input order.
    order.sort_by_key(|&i| std::cmp::Reverse(prompt_lens[i]));
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut longest = 0;
    for i in order {
        if let Some(run) = runs.last_mut() {
            let texts = run.len() + 1;
            // Sorted longest first: the run's first text sets its padded length.
            if texts * widest_level.max(1) <= limits.max_rows && texts * longest <= limits.max_tokens {
                run.push(i);
                continue;
            }
        }
        longest = prompt_lens[i];
        runs.push(vec![i]);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_runs_once_within_the_limits() {
        let lens = [30, 120, 45, 45, 200, 12, 80, 45];
        let limits = RunLimits { max_rows: 12, max_tokens: 400 };
        let runs = plan_runs(&lens, 4, limits);
        let mut seen: Vec<usize> = runs.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..lens.len()).collect::<Vec<_>>());
        for run in &runs {
            let longest = run.iter().map(|&i| lens[i]).max().unwrap();
            assert!(run.len() * 4 <= 12, "{run:?}");
            assert!(run.len() == 1 || run.len() * longest <= 400, "{run:?}");
            // Length buckets: a run never mixes in a text longer than one left for later.
            assert!(run.windows(2).all(|w| lens[w[0]] >= lens[w[1]]), "{run:?}");
        }
        // Equal lengths keep their input order.
        let pos = |i: usize| runs.iter().flatten().position(|&j| j == i).unwrap();
        assert!(pos(2) < pos(3) && pos(3) < pos(7));
    }

    #[test]
    fn a_trie_wider_than_the_row_limit_still_runs_one_text_at_a_time() {
        let runs = plan_runs(&[10, 20, 30], 500, RunLimits::default());
        assert_eq!(runs, vec![vec![2], vec![1], vec![0]]);
    }

    #[test]
    fn small_tries_put_many_texts_in_one_run() {
        let runs = plan_runs(&[50; 16], 5, RunLimits::default());
        assert_eq!(runs.len(), 1);
    }
}
