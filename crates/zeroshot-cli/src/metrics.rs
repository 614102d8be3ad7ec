//! Classification metrics of an evaluation run.

/// Share of predictions equal to the gold label.
pub fn accuracy(gold: &[usize], predicted: &[usize]) -> f64 {
    if gold.is_empty() {
        return 0.0;
    }
    gold.iter().zip(predicted).filter(|(g, p)| g == p).count() as f64 / gold.len() as f64
}

/// Unweighted mean of per-class F1 over the classes that occur in the gold labels or the
/// predictions (a class that never occurs in either says nothing about the classifier).
pub fn macro_f1(gold: &[usize], predicted: &[usize], classes: usize) -> f64 {
    let (mut tp, mut fp, mut fneg) = (vec![0usize; classes], vec![0usize; classes], vec![0usize; classes]);
    for (&g, &p) in gold.iter().zip(predicted) {
        if g == p {
            tp[g] += 1;
        } else {
            fp[p] += 1;
            fneg[g] += 1;
        }
    }
    let f1s: Vec<f64> = (0..classes)
        .filter(|&c| tp[c] + fp[c] + fneg[c] > 0)
        .map(|c| if tp[c] == 0 { 0.0 } else { 2.0 * tp[c] as f64 / (2 * tp[c] + fp[c] + fneg[c]) as f64 })
        .collect();
    if f1s.is_empty() {
        0.0
    } else {
        f1s.iter().sum::<f64>() / f1s.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_hand_checked_scores() {
        assert_eq!(accuracy(&[0, 1, 2], &[0, 1, 2]), 1.0);
        assert_eq!(macro_f1(&[0, 1, 2], &[0, 1, 2], 3), 1.0);
        // gold 0,0,1,1 predicted 0,1,1,1: class 0 F1 = 2/3, class 1 F1 = 4/5.
        let f1 = macro_f1(&[0, 0, 1, 1], &[0, 1, 1, 1], 2);
        assert!((f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
        assert_eq!(accuracy(&[0, 0, 1, 1], &[0, 1, 1, 1]), 0.75);
    }

    #[test]
    fn classes_absent_from_both_do_not_count() {
        assert_eq!(macro_f1(&[0, 0], &[0, 0], 5), 1.0);
    }
}
