//! Labels with several surface forms (the release's synonyms and abbreviations: `物流问题`
//! also written `快递慢` or `没发货`). Every form is a candidate in the prompt, each label
//! followed by its aliases in the order given, and is scored like any label; a label's
//! log-probability is then the log of the sum of its forms' probabilities, and its score the
//! softmax of those over the labels. Answers and scores name the canonical labels only.
use crate::classify::{argmax_first, softmax, Classification, ScoreMode, ScoreOptions};
use crate::error::{Error, Result};
use crate::model::Model;

/// The canonical labels, and the forms the model scores: label 0, its aliases, label 1, ….
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelForms {
    pub labels: Vec<String>,
    pub forms: Vec<String>,
    /// The label each form belongs to.
    pub owner: Vec<usize>,
}

impl LabelForms {
    /// `aliases` are (label, its other forms) pairs; each label may appear once and must be one
    /// of `labels`. The forms themselves are checked later, as labels (distinct, visible, …).
    pub fn new(labels: Vec<String>, aliases: Vec<(String, Vec<String>)>) -> Result<LabelForms> {
        let mut extra: Vec<Option<Vec<String>>> = vec![None; labels.len()];
        for (label, forms) in aliases {
            let Some(i) = labels.iter().position(|l| *l == label) else {
                return Err(Error::InvalidOption(format!(
                    "aliases are given for {label:?}, which is not one of the labels"
                )));
            };
            if extra[i].replace(forms).is_some() {
                return Err(Error::InvalidOption(format!("aliases are given twice for {label:?}")));
            }
        }
        let mut forms = Vec::with_capacity(labels.len());
        let mut owner = Vec::with_capacity(labels.len());
        for (i, label) in labels.iter().enumerate() {
            forms.push(label.clone());
            owner.push(i);
            for alias in extra[i].take().unwrap_or_default() {
                forms.push(alias);
                owner.push(i);
            }
        }
        Ok(LabelForms { labels, forms, owner })
    }

    /// Whether some label has an alias (else the forms are the labels).
    pub fn has_aliases(&self) -> bool {
        self.forms.len() > self.labels.len()
    }

    /// The classification over the labels from the one over the forms: log-sum-exp of each
    /// label's forms, then as `Classification` does for labels (exact: softmax at
    /// `temperature`, the first best label on ties; greedy: the label of the form the path
    /// reached, each label's own probability from the forms greedy mode scored).
    pub fn merge(&self, by_form: &Classification, mode: ScoreMode, temperature: f64) -> Classification {
        let logprobs: Vec<f64> = (0..self.labels.len())
            .map(|l| {
                let mine: Vec<f64> = by_form
                    .logprobs
                    .iter()
                    .zip(&self.owner)
                    .filter(|&(lp, &o)| o == l && !lp.is_nan())
                    .map(|(&lp, _)| lp)
                    .collect();
                log_sum_exp(&mine)
            })
            .collect();
        let (probs, best) = match mode {
            ScoreMode::Exact => (softmax(&logprobs, temperature), argmax_first(&logprobs)),
            ScoreMode::Greedy => (logprobs.iter().map(|l| l.exp()).collect(), self.owner[by_form.best]),
        };
        Classification { logprobs, probs, best, input_tokens: by_form.input_tokens, truncated: by_form.truncated }
    }

    /// `merge` for every text's classification over the forms; as they are without aliases.
    pub fn merge_all(&self, by_form: Vec<Classification>, opts: &ScoreOptions) -> Vec<Classification> {
        if !self.has_aliases() {
            return by_form;
        }
        by_form.iter().map(|c| self.merge(c, opts.mode, opts.temperature)).collect()
    }
}

impl Model {
    /// Scores each text over `forms`' labels: every form scored as a label (`classify_many`),
    /// then merged per label (`LabelForms::merge`).
    pub fn classify_forms(
        &mut self,
        texts: &[&str],
        forms: &LabelForms,
        opts: &ScoreOptions,
    ) -> Result<Vec<Classification>> {
        let prepared = self.labels(&forms.forms, opts.max_input_tokens)?;
        if texts.is_empty() {
            // A check of the labels alone.
            return Ok(Vec::new());
        }
        let by_form = self.classify_many(texts, &prepared, opts)?;
        Ok(forms.merge_all(by_form, opts))
    }
}

/// log Σ exp(xs); NaN for none (a label greedy mode scored no form of).
fn log_sum_exp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if xs.is_empty() {
        return f64::NAN;
    }
    if !max.is_finite() {
        return max;
    }
    max + xs.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn forms_follow_their_label_in_the_order_given() {
        let f =
            LabelForms::new(v(&["物流问题", "商品质量"]), vec![("物流问题".into(), v(&["快递慢", "没发货"]))]).unwrap();
        assert_eq!(f.forms, v(&["物流问题", "快递慢", "没发货", "商品质量"]));
        assert_eq!(f.owner, [0, 0, 0, 1]);
        assert!(f.has_aliases());
        assert!(LabelForms::new(v(&["a"]), vec![("b".into(), v(&["c"]))]).is_err());
        assert!(LabelForms::new(v(&["a"]), vec![("a".into(), v(&["c"])), ("a".into(), v(&["d"]))]).is_err());
    }

    #[test]
    fn a_label_sums_its_forms_probabilities() {
        let f = LabelForms::new(v(&["a", "b"]), vec![("a".into(), v(&["a2"]))]).unwrap();
        let by_form = Classification {
            logprobs: vec![0.2f64.ln(), 0.3f64.ln(), 0.4f64.ln()],
            probs: vec![],
            best: 2,
            input_tokens: 7,
            truncated: false,
        };
        let c = f.merge(&by_form, ScoreMode::Exact, 1.0);
        assert!((c.logprobs[0] - 0.5f64.ln()).abs() < 1e-12);
        assert!((c.probs[0] - 0.5 / 0.9).abs() < 1e-12);
        assert_eq!((c.best, c.input_tokens), (0, 7));
        let greedy = Classification { logprobs: vec![0.2f64.ln(), f64::NAN, f64::NAN], best: 0, ..by_form };
        let c = f.merge(&greedy, ScoreMode::Greedy, 1.0);
        assert_eq!(c.best, 0);
        assert!((c.probs[0] - 0.2).abs() < 1e-12 && c.probs[1].is_nan());
    }
}
