// Integration tests run outside the engine: reading files here is fine.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

//! Replays every checked-in fuzz corpus file and every crash file of
//! `fuzz/` through the functions the fuzz targets wrap
//! (`sluice_core::fuzzing`), on stable, without cargo-fuzz.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Files (not READMEs or placeholders) of `fuzz/<kind>/<target>/`.
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with('.') && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

fn replay(target: &str, run: fn(&[u8]), min_corpus: usize) {
    let corpus = inputs("corpus", target);
    assert!(
        corpus.len() >= min_corpus,
        "fuzz/corpus/{target} has {} files, expected at least {min_corpus}",
        corpus.len()
    );
    let regressions = inputs("regressions", target);
    for (path, data) in corpus.iter().chain(&regressions) {
        let outcome = std::panic::catch_unwind(|| run(data));
        assert!(
            outcome.is_ok(),
            "{} fails the {target} invariants",
            path.display()
        );
    }
}

#[test]
fn intdecode_corpus() {
    replay("intdecode", sluice_core::fuzzing::intdecode, 25);
}

#[test]
fn peer_message_corpus() {
    replay("peer_message", sluice_core::fuzzing::peer_message, 100);
}

#[test]
fn peer_handshake_corpus() {
    replay("peer_handshake", sluice_core::fuzzing::peer_handshake, 25);
}

#[test]
fn h1_request_corpus() {
    replay("h1_request", sluice_core::fuzzing::h1_request, 40);
}

#[test]
fn h1_response_corpus() {
    replay("h1_response", sluice_core::fuzzing::h1_response, 15);
}
