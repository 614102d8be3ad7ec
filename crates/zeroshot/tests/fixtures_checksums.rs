//! The committed fixtures are exactly what tools/make_test_model.py (and, for the generation
//! and alias references, tools/reference_fixtures.py) wrote: SHA256SUMS
//! must match the files. Regenerate them with the scripts rather than editing them.
mod common;

#[test]
fn fixtures_match_the_generator_checksums() {
    let dir = common::fixtures();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("tests/fixtures/SHA256SUMS");
    let mut checked = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (hash, rel) = line.split_once("  ").expect("sha256sum format");
        let actual = zeroshot::manifest::sha256_file(&dir.join(rel)).unwrap();
        assert_eq!(
            actual, hash,
            "{rel} differs from what its generator recorded (tools/make_test_model.py or tools/reference_fixtures.py)"
        );
        checked += 1;
    }
    assert!(checked >= 7, "SHA256SUMS lists {checked} files");
}

#[test]
fn fixtures_stay_small() {
    let mut total = 0;
    for entry in walk(&common::fixtures()) {
        total += std::fs::metadata(entry).unwrap().len();
    }
    // 3 MB: the checkout travels to the GPU machine beside the ONNX Runtime bundle. The graphs'
    // repeated matrices are stored once (make_test_model.py, shared_weights.bin).
    assert!(total <= 3_000_000, "tests/fixtures is {total} bytes; the limit is 3 MB");
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
