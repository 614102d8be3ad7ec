//! The prompts of the texts that share one ONNX Runtime run, as the tensors the encoder and
//! the decoder's mask take: padded to the longest, with the encoder buckets of the run.

/// The prompts of one run of texts, right-padded to the longest: `[texts, len]` ids and
/// attention mask (0 over the padding, which T5's encoder and cross-attention then ignore).
pub(crate) struct PromptBatch {
    pub ids: Vec<i64>,
    pub mask: Vec<i64>,
    pub texts: usize,
    pub len: usize,
}

impl PromptBatch {
    pub fn new(prompts: &[&[i64]], pad: i64) -> PromptBatch {
        let len = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(prompts.len() * len);
        let mut mask = Vec::with_capacity(prompts.len() * len);
        for p in prompts {
            ids.extend_from_slice(p);
            ids.extend(std::iter::repeat_n(pad, len - p.len()));
            mask.extend(std::iter::repeat_n(1, p.len()));
            mask.extend(std::iter::repeat_n(0, len - p.len()));
        }
        PromptBatch { ids, mask, texts: prompts.len(), len }
    }

    pub fn shape(&self) -> [usize; 2] {
        [self.texts, self.len]
    }
}

/// The texts of one run: their prompts padded together (the decoder's mask and the row
/// count) and the encoder buckets, consecutive ranges of them encoded together with little
/// padding (`encoder_buckets` below).
pub(crate) struct RunPrompts {
    pub all: PromptBatch,
    pub buckets: Vec<PromptBatch>,
}

impl RunPrompts {
    /// `bucketed`: encode in length buckets (less padding); without, all in one encoder run,
    /// which keeps the encoder output where it was computed (on a GPU, where padding costs
    /// little and the host must not touch the values).
    pub fn new(prompts: &[&[i64]], pad: i64, bucketed: bool) -> RunPrompts {
        let lens: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
        let whole = std::iter::once(0..prompts.len()).collect();
        let ranges: Vec<std::ops::Range<usize>> = if bucketed { encoder_buckets(&lens) } else { whole };
        let buckets = ranges.into_iter().map(|r| PromptBatch::new(&prompts[r], pad)).collect();
        RunPrompts { all: PromptBatch::new(prompts, pad), buckets }
    }
}

/// Largest share of padding in one encoder run: 10% more tokens than the prompts have.
const ENCODER_PADDING_SLACK: f64 = 0.1;

/// Splits a run's texts, given by prompt length longest first (as `plan_runs` orders them),
/// into consecutive ranges that are encoded together: the encoder's cost grows with every
/// padded token (a CPU gains nothing from batching it, a GPU gains fewer launches), so a
/// range is cut where padding would exceed `ENCODER_PADDING_SLACK`.
pub(crate) fn encoder_buckets(prompt_lens: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut buckets = Vec::new();
    let mut start = 0;
    let mut real = 0;
    for (i, &len) in prompt_lens.iter().enumerate() {
        let padded = (i - start + 1) * prompt_lens[start].max(len);
        if i > start && padded as f64 > (real + len) as f64 * (1.0 + ENCODER_PADDING_SLACK) {
            buckets.push(start..i);
            start = i;
            real = 0;
        }
        real += len;
    }
    if start < prompt_lens.len() {
        buckets.push(start..prompt_lens.len());
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_buckets_bound_the_padding() {
        assert_eq!(encoder_buckets(&[100, 98, 95, 60, 58, 20]), vec![0..3, 3..5, 5..6]);
        assert_eq!(encoder_buckets(&[7]), vec![0..1]);
        assert!(encoder_buckets(&[]).is_empty());
        for bucket in encoder_buckets(&[200, 180, 170, 150, 149, 148, 80, 79, 3]) {
            assert!(!bucket.is_empty());
        }
    }

    #[test]
    fn prompts_are_right_padded_and_masked() {
        let b = PromptBatch::new(&[&[5, 6, 7], &[8]], 0);
        assert_eq!(b.shape(), [2, 3]);
        assert_eq!(b.ids, vec![5, 6, 7, 8, 0, 0]);
        assert_eq!(b.mask, vec![1, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn buckets_cover_the_run_in_order() {
        let prompts: Vec<Vec<i64>> = [100, 98, 40, 39].iter().map(|&n| vec![1; n]).collect();
        let refs: Vec<&[i64]> = prompts.iter().map(Vec::as_slice).collect();
        let run = RunPrompts::new(&refs, 0, true);
        assert_eq!(run.all.shape(), [4, 100]);
        assert_eq!(run.buckets.iter().map(|b| b.shape()).collect::<Vec<_>>(), vec![[2, 100], [2, 40]]);
    }
}
