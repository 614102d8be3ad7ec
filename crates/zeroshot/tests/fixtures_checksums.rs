//! The committed fixtures are exactly what tools/make_test_model.py wrote: its SHA256SUMS
//! must match the files. Regenerate them with the script rather than editing them.
mod common;

#[test]
fn fixtures_match_the_generator_checksums() {
    let dir = common::fixtures();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("tests/fixtures/SHA256SUMS");
    let mut checked = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (hash, rel) = line.split_once("  ").expect("sha256sum format");
        let actual = zeroshot::manifest::sha256_file(&dir.join(rel)).unwrap();
        assert_eq!(actual, hash, "{rel} differs from what tools/make_test_model.py recorded");
        checked += 1;
    }
    assert!(checked >= 17, "SHA256SUMS lists {checked} files");
}

#[test]
fn fixtures_stay_small() {
    let mut total = 0;
    // Links (the fp16 model's tokenizer and config) count once, as the files they point to.
    for entry in walk(&common::fixtures()) {
        total += std::fs::symlink_metadata(entry).unwrap().len();
    }
    // The checkout travels to the GPU machine beside a ~30 MiB part of the CUDA ONNX Runtime
    // bundle, 64 MiB in all: the fixtures stay a small part of it.
    assert!(total <= 4_500_000, "tests/fixtures is {total} bytes; the limit is 4.5 MB");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}
