//! Checks on a label set before it goes into a prompt. A label that contains the
//! separator or a line break would silently change the candidate list the model reads.
use std::collections::HashMap;

use crate::error::{Error, Result};

/// Characters that the tokenizer's NFKC normalisation folds into an ASCII separator
/// (a full-width comma reads as a comma to the model).
fn folded_separators(separator: &str) -> Vec<String> {
    let mut out = vec![separator.to_string()];
    if separator == "," {
        out.push("，".into());
    }
    out
}

/// Validates labels for a prompt with `separator` between them. Positions in errors are 1-based.
pub fn validate_labels(labels: &[String], separator: &str) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::EmptyLabelSet);
    }
    let separators = folded_separators(separator);
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        let position = i + 1;
        let invalid = |reason: String| Error::InvalidLabel { label: label.clone(), position, reason };
        if label.trim().is_empty() {
            return Err(invalid("a label must contain a non-blank character".into()));
        }
        if label.contains('\n') || label.contains('\r') {
            return Err(invalid("a label must not contain a line break".into()));
        }
        if let Some(sep) = separators.iter().find(|s| label.contains(s.as_str())) {
            return Err(invalid(format!("a label must not contain the label separator {sep:?}")));
        }
        if let Some(first) = seen.insert(label.as_str(), position) {
            return Err(Error::DuplicateLabel { label: label.clone(), first, second: position });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn accepts_ordinary_labels() {
        validate_labels(&v(&["物流问题", "商品质量", "OK 好"]), ",").unwrap();
    }

    #[test]
    fn rejects_each_bad_label_and_names_it() {
        assert!(matches!(validate_labels(&[], ","), Err(Error::EmptyLabelSet)));
        for (labels, bad) in [
            (v(&["a", ""]), ""),
            (v(&["a", "  "]), "  "),
            (v(&["a,b"]), "a,b"),
            (v(&["物流，问题"]), "物流，问题"),
            (v(&["x", "a\nb"]), "a\nb"),
            (v(&["a\rb"]), "a\rb"),
        ] {
            match validate_labels(&labels, ",") {
                Err(Error::InvalidLabel { label, .. }) => assert_eq!(label, bad),
                other => panic!("{labels:?}: {other:?}"),
            }
        }
        match validate_labels(&v(&["a", "b", "a"]), ",") {
            Err(Error::DuplicateLabel { label, first, second }) => {
                assert_eq!((label.as_str(), first, second), ("a", 1, 3))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn separator_comes_from_the_template() {
        validate_labels(&v(&["a,b"]), "|").unwrap();
        assert!(validate_labels(&v(&["a|b"]), "|").is_err());
    }
}
