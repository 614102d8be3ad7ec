//! Choosing the next token from a row of logits: greedy (temperature 0) or sampled with
//! temperature, top-k and top-p, in the order transformers' sampling applies them. The
//! random numbers come from our own generator, so a seed gives the same tokens whatever
//! version of a random-number crate is linked, now and after an upgrade.

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0: greedy (the most probable token, the first one on ties). Above 0: logits are
    /// divided by it before the softmax.
    pub temperature: f64,
    /// Keep only the k most probable tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set of most probable tokens whose probabilities sum to at least
    /// this (1: all).
    pub top_p: f64,
}

impl Sampling {
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }
}

/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64 as its authors advise.
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng { s: [next(), next(), next(), next()] }
    }

    /// A seed for callers that gave none: the process's randomly keyed hasher over the time.
    pub fn unseeded() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        Rng::new(h.finish())
    }

    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The tokens `sampling` may pick from `logits` and their probabilities (summing to 1). Where
/// top-k or top-p cut the list it is sorted, most probable first (ties: lower token id first);
/// otherwise it is every token in id order (sorting a 250,000-token vocabulary for every
/// output at every step would cost more than the draw). Greedy: the argmax alone.
pub fn candidates(logits: &[f32], sampling: &Sampling) -> Vec<(u32, f64)> {
    if sampling.is_greedy() {
        let mut best = 0;
        for (i, &x) in logits.iter().enumerate() {
            if x > logits[best] {
                best = i;
            }
        }
        return vec![(best as u32, 1.0)];
    }
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
    let top_k = sampling.top_k > 0 && sampling.top_k < order.len();
    if top_k {
        order.select_nth_unstable_by(sampling.top_k - 1, by_logit);
        order.truncate(sampling.top_k);
    }
    let max = order.iter().map(|&t| logits[t as usize]).fold(f32::NEG_INFINITY, f32::max) as f64;
    let weight = |t: u32| ((logits[t as usize] as f64 - max) / sampling.temperature).exp();
    let total: f64 = order.iter().map(|&t| weight(t)).sum();
    if sampling.top_p >= 1.0 {
        if top_k {
            order.sort_unstable_by(by_logit);
        }
        return order.into_iter().map(|t| (t, weight(t) / total)).collect();
    }
    // The nucleus: the smallest most-probable prefix whose probabilities reach top_p (at least
    // one token), as transformers keeps it. Found by sorting a growing head of the most
    // probable tokens, not the whole vocabulary: a peaked distribution needs a few dozen.
    let mut head = 64.min(order.len());
    loop {
        if head < order.len() {
            order.select_nth_unstable_by(head - 1, by_logit);
        }
        order[..head].sort_unstable_by(by_logit);
        let mass: f64 = order[..head].iter().map(|&t| weight(t)).sum::<f64>() / total;
        if mass >= sampling.top_p || head == order.len() {
            break;
        }
        head = head.saturating_mul(4).min(order.len());
    }
    let mut sum = 0.0;
    let keep = order[..head]
        .iter()
        .position(|&t| {
            sum += weight(t) / total;
            sum >= sampling.top_p
        })
        .map_or(head, |i| i + 1);
    let kept: f64 = order[..keep].iter().map(|&t| weight(t)).sum();
    order[..keep].iter().map(|&t| (t, weight(t) / kept)).collect()
}

/// One token from `logits`: the argmax when greedy, else a draw from `candidates`.
pub fn next_token(logits: &[f32], sampling: &Sampling, rng: &mut Rng) -> u32 {
    let picked = candidates(logits, sampling);
    if picked.len() == 1 {
        return picked[0].0;
    }
    let mut u = rng.unit();
    for &(token, p) in &picked {
        if u < p {
            return token;
        }
        u -= p;
    }
    // Rounding left u just above the last probability.
    picked[picked.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: Sampling = Sampling { temperature: 1.0, top_k: 0, top_p: 1.0 };

    #[test]
    fn greedy_is_the_first_argmax() {
        let g = Sampling { temperature: 0.0, ..T1 };
        assert_eq!(candidates(&[0.0, 3.0, 3.0, 1.0], &g), vec![(1, 1.0)]);
    }

    #[test]
    fn top_k_and_top_p_keep_the_most_probable() {
        let logits = [1.0f32, 4.0, 3.0, 2.0];
        let k2 = candidates(&logits, &Sampling { top_k: 2, ..T1 });
        assert_eq!(k2.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1, 2]);
        let e = 1f64.exp();
        assert!((k2[0].1 - e / (e + 1.0)).abs() < 1e-12);
        // Probabilities at temperature 1: about 0.644, 0.237, 0.087, 0.032.
        let p = candidates(&logits, &Sampling { top_p: 0.85, ..T1 });
        assert_eq!(p.len(), 2);
        let p = candidates(&logits, &Sampling { top_p: 0.9, ..T1 });
        assert_eq!(p.len(), 3);
        assert!((p.iter().map(|c| c.1).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_nucleus_of_a_flat_distribution_is_the_full_sorts_prefix() {
        // 5,000 tokens of nearly equal logits: the nucleus needs most of them, past the head's
        // first sizes; it must be the prefix a sort of every token gives.
        let logits: Vec<f32> = (0..5000u32).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
        let s = Sampling { top_p: 0.9, ..T1 };
        let mut all: Vec<u32> = (0..5000).collect();
        all.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
        let w: Vec<f64> = all.iter().map(|&t| (logits[t as usize] as f64 - 0.999).exp()).collect();
        let total: f64 = w.iter().sum();
        let mut sum = 0.0;
        let keep = w.iter().position(|&x| {
            sum += x / total;
            sum >= 0.9
        });
        let got = candidates(&logits, &s);
        assert_eq!(got.len(), keep.unwrap() + 1);
        assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), all[..got.len()].to_vec());
        assert!((got.iter().map(|c| c.1).sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_seed_gives_the_same_draws() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let xs: Vec<f64> = (0..8).map(|_| a.unit()).collect();
        assert_eq!(xs, (0..8).map(|_| b.unit()).collect::<Vec<_>>());
        assert_ne!(xs, (0..8).map(|_| c.unit()).collect::<Vec<_>>());
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    }
}
