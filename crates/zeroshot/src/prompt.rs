//! The classification prompt. This is the one place that knows the template.
use crate::error::{Error, Result};

/// The model card's classification prompt, byte for byte: ASCII comma between labels,
/// full-width `：` and `。`.
pub const DEFAULT_TEMPLATE: &str = "文本分类。\n候选标签：{labels}。\n文本内容：{text}";
pub const DEFAULT_SEPARATOR: &str = ",";

/// A template with one `{labels}` and one `{text}` placeholder, `{labels}` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTemplate {
    head: String,
    middle: String,
    tail: String,
    separator: String,
}

impl PromptTemplate {
    pub fn new(template: &str, separator: &str) -> Result<PromptTemplate> {
        let bad = || {
            Error::InvalidOption(format!(
                "prompt template {template:?} must contain {{labels}} once, then {{text}} once"
            ))
        };
        let (head, rest) = template.split_once("{labels}").ok_or_else(bad)?;
        let (middle, tail) = rest.split_once("{text}").ok_or_else(bad)?;
        if tail.contains("{labels}") || tail.contains("{text}") || middle.contains("{labels}") {
            return Err(bad());
        }
        if separator.is_empty() {
            return Err(Error::InvalidOption("the label separator is empty".into()));
        }
        Ok(PromptTemplate { head: head.into(), middle: middle.into(), tail: tail.into(), separator: separator.into() })
    }

    pub fn separator(&self) -> &str {
        &self.separator
    }

    /// The part of the prompt that depends only on the labels (computed once per label set).
    pub fn label_part(&self, labels: &[String]) -> String {
        format!("{}{}{}", self.head, labels.join(&self.separator), self.middle)
    }

    /// The whole prompt from a `label_part` and the text. Placeholders are filled by
    /// position, so braces inside a text are left alone.
    pub fn render(&self, label_part: &str, text: &str) -> String {
        let mut out = String::with_capacity(label_part.len() + text.len() + self.tail.len());
        out.push_str(label_part);
        out.push_str(text);
        out.push_str(&self.tail);
        out
    }
}

impl Default for PromptTemplate {
    fn default() -> Self {
        PromptTemplate::new(DEFAULT_TEMPLATE, DEFAULT_SEPARATOR).expect("the default template is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden test: the exact bytes of the model card's prompt for two labels.
    #[test]
    fn default_prompt_is_byte_identical_to_the_model_card() {
        let t = PromptTemplate::default();
        let labels = vec!["物流问题".to_string(), "商品质量".to_string()];
        let prompt = t.render(&t.label_part(&labels), "快递太慢了");
        let golden: &[u8] = b"\xe6\x96\x87\xe6\x9c\xac\xe5\x88\x86\xe7\xb1\xbb\xe3\x80\x82\n\
\xe5\x80\x99\xe9\x80\x89\xe6\xa0\x87\xe7\xad\xbe\xef\xbc\x9a\
\xe7\x89\xa9\xe6\xb5\x81\xe9\x97\xae\xe9\xa2\x98,\xe5\x95\x86\xe5\x93\x81\xe8\xb4\xa8\xe9\x87\x8f\
\xe3\x80\x82\n\xe6\x96\x87\xe6\x9c\xac\xe5\x86\x85\xe5\xae\xb9\xef\xbc\x9a\
\xe5\xbf\xab\xe9\x80\x92\xe5\xa4\xaa\xe6\x85\xa2\xe4\xba\x86";
        assert_eq!(prompt.as_bytes(), golden, "{prompt}");
        assert_eq!(prompt, "文本分类。\n候选标签：物流问题,商品质量。\n文本内容：快递太慢了");
    }

    #[test]
    fn braces_in_text_are_not_placeholders() {
        let t = PromptTemplate::default();
        let p = t.render(&t.label_part(&["a".into()]), "{labels}{text}");
        assert!(p.ends_with("文本内容：{labels}{text}"));
    }

    #[test]
    fn custom_template_needs_both_placeholders() {
        assert!(PromptTemplate::new("{text} only", ",").is_err());
        assert!(PromptTemplate::new("{text} then {labels}", ",").is_err());
        let t = PromptTemplate::new("分类：{labels}|{text}", "，").unwrap();
        assert_eq!(t.render(&t.label_part(&["甲".into(), "乙".into()]), "文"), "分类：甲，乙|文");
    }
}
