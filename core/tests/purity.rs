// Integration tests run outside the engine: reading files here is fine.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

//! The core stays pure: no clock, socket, thread, file or OS randomness.
//!
//! `core/clippy.toml` turns the std entry points into clippy errors; this test
//! guards what clippy cannot see: a new dependency of `sluice-core` that brings
//! I/O or OS entropy with it, and forbidden paths in the sources even when
//! clippy is not run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every normal dependency `sluice-core` may have. Adding one means reading
/// its code for I/O and OS randomness first, then listing it here.
const ALLOWED_DEPS: &[&str] = &[
    "bitflags",
    "slab",
    "bytes",
    "rand_core",
    "rand_chacha",
    "arbitrary",
    // PROXY protocol v2 CRC32C: tables and arithmetic only.
    "crc",
    // ACL regex matching and `regsub`: pure matching code, no I/O, no entropy.
    "regex",
    "httparse",
    // Stick-table index and keys: data structures and hashing, seeded by
    // the caller (no `RandomState`, no OS entropy with default features off).
    "hashbrown",
    "foldhash",
    "smallvec",
    // TLS: rustls's state machines and webpki's certificate parsing, built
    // without a crypto provider (see TLS_PROVIDER_EXCEPTION).
    "rustls",
    "webpki",
    // `userlist` password hashes: crypt(3) verification, computation only
    // (sha-crypt with its default features: no `getrandom`).
    "sha-crypt",
    "md-5",
    // The hash converters (`sha1`, `sha2`, `digest`, `hmac`): RustCrypto
    // hash and MAC arithmetic, no I/O, no entropy.
    "sha1",
    "sha2",
    "hmac",
    // Session tickets (conn/ticket.rs): AES and CBC mode, block cipher
    // arithmetic only (default features off: no `getrandom`); keys and
    // IVs come from the driver's secret.
    "aes",
    "cbc",
    // `xxh32`, `xxh64`, `xxh3` converters: hash arithmetic only.
    "xxhash-rust",
    // `compression algo gzip|deflate|raw-deflate`: flate2 on its pure-Rust
    // backend (miniz_oxide, adler2, crc32fast; simd-adler32 detects CPU
    // features with `cpuid` only): compression arithmetic, no I/O.
    "flate2",
];

/// CPU feature detection of the RustCrypto hashes (`sha2` ->
/// `cpufeatures`): the `cpuid` instruction on x86, and on aarch64 Linux
/// only, libc's `getauxval` (the hardware capabilities the kernel put in
/// the process's auxiliary vector at exec). No I/O, time or randomness;
/// `libc` is not even built on x86-64.
const CPU_FEATURES_EXCEPTION: &[(&str, &str)] = &[("cpufeatures", "libc")];

/// The one place where Sluice's TLS reaches the OS, written down once (also
/// in docs/tls.md, "Where TLS reaches the OS"): the crypto provider. The
/// engine's crate builds rustls and webpki with no provider (no `ring`,
/// no `aws-lc-rs` feature in its `[dependencies]`, checked below); the
/// driver (`proxy-mio`, `io-mio/src/lib.rs`, `tls_env`) turns ring on and
/// hands its provider in through `EngineOptions::tls`. ring's key
/// exchange, signatures and `SecureRandom` read OS randomness
/// (`getrandom`). Because Cargo.lock records one dependency list per
/// package for the whole workspace, the lock shows `rustls -> ring`; these
/// edges are the exception, and nothing else may reach an OS crate. The
/// simulator hands in no provider: TLS there needs a seeded provider of
/// its own (not written yet).
const TLS_PROVIDER_EXCEPTION: &[(&str, &str)] = &[("rustls", "ring"), ("rustls-webpki", "ring")];

/// Crates that reach the OS; none may appear in `sluice-core`'s dependency tree.
const FORBIDDEN_CRATES: &[&str] = &[
    "getrandom",
    "libc",
    "mio",
    "socket2",
    "tokio",
    "async-std",
    "nix",
    "rustix",
    "windows-sys",
    "winapi",
    "chrono",
    "time",
    "tracing-subscriber",
    "rand",
];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Names in the `[dependencies]` table of a Cargo.toml (not dev-dependencies).
fn normal_deps(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                deps.push(name.trim().trim_matches('"').to_string());
            }
        }
    }
    deps
}

/// `(name, dependency names)` for every package of a Cargo.lock.
fn lock_packages(lock: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let mut name = String::new();
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in block.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("name = ") {
                name = v.trim_matches('"').to_string();
            } else if line.starts_with("dependencies = [") {
                in_deps = true;
            } else if in_deps && line == "]" {
                in_deps = false;
            } else if in_deps {
                // `"rand_core 0.6.4",` -> `rand_core`
                let d = line.trim_matches(|c| c == '"' || c == ',');
                deps.push(d.split(' ').next().unwrap_or(d).to_string());
            }
        }
        out.push((name, deps));
    }
    out
}

#[test]
fn core_manifest_has_only_allowed_dependencies() {
    let manifest = std::fs::read_to_string(manifest_dir().join("Cargo.toml")).unwrap();
    let deps = normal_deps(&manifest);
    assert!(
        deps.contains(&"slab".to_string()),
        "parser sanity: {deps:?}"
    );
    for d in &deps {
        assert!(
            ALLOWED_DEPS.contains(&d.as_str()),
            "sluice-core gained the dependency `{d}`: check it for I/O and OS randomness, then add it to ALLOWED_DEPS"
        );
    }
}

#[test]
fn core_dependency_tree_reaches_no_os_crate() {
    let manifest = std::fs::read_to_string(manifest_dir().join("Cargo.toml")).unwrap();
    let lock = std::fs::read_to_string(manifest_dir().join("../Cargo.lock")).unwrap();
    let packages = lock_packages(&lock);
    let mut seen = BTreeSet::new();
    let mut todo = normal_deps(&manifest);
    // `arbitrary` is optional (the `fuzzing` feature); it is walked too.
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        assert!(
            !FORBIDDEN_CRATES.contains(&name.as_str()),
            "sluice-core reaches `{name}`, a crate that talks to the OS"
        );
        for (pkg, deps) in &packages {
            if *pkg == name {
                todo.extend(
                    deps.iter()
                        .filter(|d| {
                            let edge = (pkg.as_str(), d.as_str());
                            !TLS_PROVIDER_EXCEPTION.contains(&edge)
                                && !CPU_FEATURES_EXCEPTION.contains(&edge)
                        })
                        .cloned(),
                );
            }
        }
    }
    assert!(seen.contains("rand_core"), "lock parser sanity: {seen:?}");
}

/// The exception above holds only while the engine's crate turns on no
/// crypto provider itself.
#[test]
fn core_builds_rustls_without_a_crypto_provider() {
    let manifest = std::fs::read_to_string(manifest_dir().join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut seen = 0;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && (line.starts_with("rustls") || line.starts_with("webpki")) {
            seen += 1;
            assert!(
                line.contains("default-features = false"),
                "core's `{line}` must not take default features (they bring a provider)"
            );
            for p in ["ring", "aws-lc-rs", "aws_lc_rs", "fips"] {
                assert!(
                    !line.contains(&format!("\"{p}\"")),
                    "core's `{line}` turns on the `{p}` crypto provider: the driver hands the provider in"
                );
            }
        }
    }
    assert_eq!(seen, 2, "rustls and webpki in core's [dependencies]");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn core_sources_name_no_os_entry_point() {
    const FORBIDDEN: &[&str] = &[
        "std::net",
        "std::fs",
        "std::time",
        "std::thread",
        "std::env",
        "std::process",
        "Instant::now",
        "SystemTime",
        "thread_rng",
        "from_entropy",
        "std::collections::HashMap",
        "std::collections::HashSet",
        "std::io::stdin",
        "println!",
        "eprintln!",
    ];
    let mut files = Vec::new();
    rust_files(&manifest_dir().join("src"), &mut files);
    assert!(files.len() > 3);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for bad in FORBIDDEN {
                assert!(
                    !code.contains(bad),
                    "{}:{}: `{bad}` in core: {line}",
                    f.display(),
                    n + 1
                );
            }
        }
    }
}
