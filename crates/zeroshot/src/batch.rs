//! The prompts of the texts that share one ONNX Runtime run, as the tensors the encoder and
//! the decoder's mask take: padded to the longest, with the encoder buckets of the run.
use crate::runs::encoder_buckets;

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
/// padding (`runs::encoder_buckets`).
pub(crate) struct RunPrompts {
    pub all: PromptBatch,
    pub buckets: Vec<PromptBatch>,
}

impl RunPrompts {
    pub fn new(prompts: &[&[i64]], pad: i64) -> RunPrompts {
        let lens: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
        let buckets = encoder_buckets(&lens).into_iter().map(|r| PromptBatch::new(&prompts[r], pad)).collect();
        RunPrompts { all: PromptBatch::new(prompts, pad), buckets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let run = RunPrompts::new(&refs, 0);
        assert_eq!(run.all.shape(), [4, 100]);
        assert_eq!(run.buckets.iter().map(|b| b.shape()).collect::<Vec<_>>(), vec![[2, 100], [2, 40]]);
    }
}
