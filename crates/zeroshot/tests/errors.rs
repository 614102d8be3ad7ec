//! Load and input errors name what is wrong and are of the right kind.
mod common;

use zeroshot::{Error, ErrorKind, Model, ScoreOptions};

#[test]
fn missing_directory_and_file_are_undefined_file() {
    let err = Model::load(std::path::Path::new("/nonexistent/model"), &common::options()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::UndefinedFile);
    assert!(err.to_string().contains("/nonexistent/model"), "{err}");

    let copy = common::model_copy("missing", &["decoder_with_past_model.onnx"]);
    let err = Model::load(&copy.0, &common::options()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::UndefinedFile);
    assert!(err.to_string().contains("decoder_with_past_model.onnx"), "{err}");
}

#[test]
fn tampered_file_fails_the_manifest_checksum() {
    let copy = common::model_copy("tampered", &[]);
    let dir = &copy.0;
    let mut config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    config.push(' ');
    std::fs::write(dir.join("config.json"), config).unwrap();
    let err = Model::load(dir, &common::options()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidModel);
    assert!(err.to_string().contains("config.json") && err.to_string().contains("SHA-256"), "{err}");
}

#[test]
fn too_many_labels_reports_token_counts() {
    let mut model = common::load();
    let labels: Vec<String> = (0..40).map(|i| format!("类别{i}")).collect();
    let prepared = model.labels(&labels, 4096).unwrap();
    let err = model
        .classify("文本", &prepared, &ScoreOptions { max_input_tokens: 50, ..ScoreOptions::default() })
        .err()
        .unwrap();
    match err {
        Error::TooManyLabels { labels: 40, needed, max: 50 } => assert!(needed > 50),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cuda_is_an_error_where_it_is_not_available_and_auto_falls_back() {
    let mut opts = common::options();
    opts.device = zeroshot::Device::Cuda;
    match Model::load(&common::model_dir(), &opts) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::DeviceUnavailable, "{e}"),
        // A machine with the CUDA build of ONNX Runtime and a GPU: then it must be CUDA.
        Ok(m) => assert_eq!(m.provider, "CUDAExecutionProvider"),
    }
    opts.device = zeroshot::Device::Auto;
    let m = Model::load(&common::model_dir(), &opts).unwrap();
    assert!(["CPUExecutionProvider", "CUDAExecutionProvider"].contains(&m.provider));
}

#[test]
fn config_that_disagrees_with_the_graphs_is_invalid_model() {
    // Without the manifest, whose checksums would catch the edit first.
    let copy = common::model_copy("badconfig", &["manifest.json"]);
    let dir = &copy.0;
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(dir.join("config.json"), config.replace("\"d_model\": 24", "\"d_model\": 32")).unwrap();
    let err = Model::load(dir, &common::options()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidModel, "{err}");
    assert!(err.to_string().contains("encoder_model.onnx") && err.to_string().contains("32"), "{err}");

    std::fs::write(dir.join("config.json"), config.replace("\"eos_token_id\": 1", "\"eos_token_id\": 5")).unwrap();
    let err = Model::load(dir, &common::options()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidModel, "{err}");
    assert!(err.to_string().contains("eos_token_id"), "{err}");
}

#[test]
fn share_weights_without_ort_files_names_the_missing_file() {
    let mut opts = common::options();
    opts.share_weights = true;
    let err = Model::load(&common::model_dir(), &opts).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::UndefinedFile, "{err}");
    assert!(err.to_string().contains("encoder_model.ort") && err.to_string().contains("--ort-format"), "{err}");
}

/// A model directory can carry its own prompt (PromptCLUE- or Randeng-style): the manifest's
/// template and separator replace the model card's, for the prompt and for label checks.
#[test]
fn manifest_template_and_separator_are_used() {
    let copy = common::model_copy("template", &[]);
    let path = copy.0.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["prompt_template"] = "分类任务：{labels}\n{text}".into();
    manifest["label_separator"] = "|".into();
    std::fs::write(&path, manifest.to_string()).unwrap();
    let mut custom = Model::load(&copy.0, &common::options()).unwrap();
    let mut default = common::load();
    let labels = common::strings(&["物流,问题", "商品质量"]); // a comma is fine when the separator is |
    let prepared = custom.labels(&labels, 4096).unwrap();
    let ids = custom.prompt_ids("快递太慢", &prepared, 512).unwrap().ids;
    let want: Vec<i64> = custom
        .tokenizer()
        .encode("分类任务：物流,问题|商品质量\n快递太慢")
        .unwrap()
        .into_iter()
        .map(i64::from)
        .collect();
    assert_eq!(ids, want);
    assert!(default.labels(&labels, 4096).is_err(), "the default separator is ,");
    assert!(custom.labels(&common::strings(&["a|b"]), 4096).is_err());
    let c = custom.classify("快递太慢", &prepared, &ScoreOptions::default()).unwrap();
    assert!(c.best < 2);
}

#[test]
fn labels_the_tokenizer_reads_as_the_same_tokens_are_duplicates() {
    // The test tokenizer has no byte fallback: two characters outside its vocabulary are both
    // <unk>, so these labels are one to the model.
    let mut model = common::load();
    let labels = common::strings(&["物流", "\u{20000}", "质量", "\u{20001}"]);
    match model.labels(&labels, 4096).err().unwrap() {
        Error::SameTokens { first, second, .. } => assert_eq!((first, second), (2, 4)),
        other => panic!("{other}"),
    }
    assert_eq!(model.labels(&labels, 4096).err().unwrap().kind(), ErrorKind::InvalidParameter);
    model.labels(&labels[..3], 4096).unwrap();
}
