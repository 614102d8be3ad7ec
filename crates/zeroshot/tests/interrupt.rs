//! The caller's interrupt check stops work: before it starts, between texts, inside an ONNX
//! Runtime run (the watcher terminates the run), and in a model load. Its own test binary,
//! because the check is installed once per process.
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zeroshot::{Error, ScoreMode, ScoreOptions};

static STOP: AtomicBool = AtomicBool::new(false);

#[test]
fn a_pending_interrupt_stops_scoring_and_the_model_serves_again_after() {
    zeroshot::interrupt::set_check(|| STOP.load(Ordering::SeqCst));
    let mut model = common::load();
    let labels: Vec<String> = (0..250).map(|i| format!("标签{i}")).collect();
    let prepared = model.labels(&labels, 2048).unwrap();
    let opts = ScoreOptions { max_input_tokens: 2048, ..ScoreOptions::default() };
    let text = "很长的评论，".repeat(300);
    let texts: Vec<&str> = std::iter::repeat_n(text.as_str(), 64).collect();

    // Already pending: nothing runs.
    STOP.store(true, Ordering::SeqCst);
    assert!(matches!(model.classify_many(&texts, &prepared, &opts), Err(Error::Interrupted)));
    assert!(matches!(model.labels(&["新".to_string(), "标签".to_string()], 2048), Err(Error::Interrupted)));
    // A load stops at its checks: in the checksums, and before each graph (the extension runs
    // loads in a thread of its own, which a cancel leaves to stop there).
    let dir = common::model_dir();
    assert!(matches!(zeroshot::Model::load(&dir, &common::options()), Err(Error::Interrupted)));
    let unverified = zeroshot::LoadOptions { verify_checksums: false, ..common::options() };
    assert!(matches!(zeroshot::Model::load(&dir, &unverified), Err(Error::Interrupted)));

    // Raised while the work runs (64 long texts, 250 labels: seconds of work on this model).
    STOP.store(false, Ordering::SeqCst);
    let raised = Arc::new(AtomicBool::new(false));
    let flag = raised.clone();
    let raiser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        STOP.store(true, Ordering::SeqCst);
        flag.store(true, Ordering::SeqCst);
    });
    let result = model.classify_many(&texts, &prepared, &opts);
    raiser.join().unwrap();
    assert!(raised.load(Ordering::SeqCst));
    assert!(matches!(result, Err(Error::Interrupted)), "{:?}", result.map(|r| r.len()));

    // Cleared: the same model scores again, with the same answer as a fresh run.
    STOP.store(false, Ordering::SeqCst);
    let again = model.classify("快递太慢了", &prepared, &opts).unwrap();
    let fresh = common::load().classify("快递太慢了", &prepared, &opts).unwrap();
    assert_eq!(again.logprobs, fresh.logprobs);

    // Opening the step graphs (the first greedy call on a model with the tree graph; seconds at
    // base size, in a thread of their own) is answered at once too, and the next call opens them.
    let mut tree = common::load();
    let with_past = "decoder_with_past_model.onnx";
    let two = tree.labels(&common::strings(&["物流", "质量"]), 512).unwrap();
    let greedy = ScoreOptions { mode: ScoreMode::Greedy, ..ScoreOptions::default() };
    STOP.store(true, Ordering::SeqCst);
    assert!(matches!(tree.classify("快递太慢了", &two, &greedy), Err(Error::Interrupted)));
    assert!(matches!(tree.open_step_graphs(), Err(Error::Interrupted)));
    assert!(!tree.loaded_graphs().contains(&with_past));
    STOP.store(false, Ordering::SeqCst);
    let g = tree.classify("快递太慢了", &two, &greedy).unwrap();
    assert!(tree.loaded_graphs().contains(&with_past), "{:?}", tree.loaded_graphs());
    let exact = tree.classify("快递太慢了", &two, &ScoreOptions::default()).unwrap();
    assert!((g.logprobs[g.best] - exact.logprobs[g.best]).abs() < 1e-4);

    // A model dropped while an opening a cancel left may still run does not wait for it (it is
    // left to the process's exit, which the host makes wait: finish_step_openings); the next
    // load frees what a finished one opened.
    let mut dropped = common::load();
    STOP.store(true, Ordering::SeqCst);
    assert!(matches!(dropped.open_step_graphs(), Err(Error::Interrupted)));
    STOP.store(false, Ordering::SeqCst);
    drop(dropped);
    let mut next = common::load();
    zeroshot::model::finish_step_openings(Some(&mut next));
    next.open_step_graphs().unwrap();
    assert!(next.loaded_graphs().contains(&with_past));
}
