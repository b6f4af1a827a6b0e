//! The corpus of real configurations (`tests/corpus/NN-name.cfg`): files
//! other people wrote for HAProxy (Kubernetes API load balancers,
//! OpenStack deployers, Ansible roles, Patroni, Galera, Redis, RabbitMQ,
//! vendor blog posts...), each adapted only to run on 127.0.0.1 and with
//! its source in a header comment. `haproxy -c` and `proxy-mio -c` are run
//! on each (from `tests/corpus`, so relative certificate paths work), and
//! what each says is compared with `tests/corpus/EXPECTED.tsv`:
//!
//! * HAProxy: `ok` or `refused`;
//! * Sluice: `ok` (loads, no keyword ignored), `ok-ignored` (loads, with a
//!   warning that a keyword is ignored) or `refused`;
//! * the keywords Sluice refused (or ignored), one key each.
//!
//! A file that stops loading fails the test, and so does one that starts
//! loading: update the table (`SLUICE_CORPUS_BLESS=1 cargo test --test
//! real_configs` rewrites it) so that the improvement is recorded.
//! docs/configuration.md ("The corpus of real configurations") says how to
//! add a file.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    haproxy: String,
    sluice: String,
    reason: String,
}

/// The key of one diagnostic: the keyword it is about, when the message
/// names one the way Sluice's messages do, else the message itself.
fn key(msg: &str) -> String {
    // `... 'KW' is not supported by Sluice...`: the last quoted word
    // before it (`'default-server' of backend 'b' : 'slowstart' is not...`).
    for marker in [" is not supported by Sluice", " is ignored"] {
        if let Some(at) = msg.find(marker) {
            let before = &msg[..at];
            if let Some(end) = before.strip_suffix('\'') {
                if let Some(start) = end.rfind('\'') {
                    return end[start + 1..].to_string();
                }
            }
        }
    }
    if let Some(rest) = msg.split("unknown keyword '").nth(1) {
        if let Some(kw) = rest.split('\'').next() {
            return format!("unknown keyword {kw}");
        }
    }
    // `'http-check expect' : only 'status' is supported by Sluice (got 'string').`
    if let Some(rest) = msg.strip_prefix("'http-check expect' : only") {
        if let Some(got) = rest.split("(got '").nth(1) {
            return format!("http-check expect {}", got.trim_end_matches("')."));
        }
    }
    msg.to_string()
}

/// The messages of the lines starting with `prefix` (`[ALERT]`,
/// `[WARNING]`), without the `parsing [file:line] : ` part.
fn messages<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|l| match l.find("] : ") {
            Some(at) if l.trim_start().starts_with("parsing [") => &l[at + 4..],
            _ => l.trim(),
        })
        .collect()
}

fn sluice_check(file: &Path) -> Row {
    let out = Command::new(proxy_mio())
        .args(["-c", "-f"])
        .arg(file)
        .current_dir(corpus_dir())
        .stdin(Stdio::null())
        .output()
        .expect("run proxy-mio");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let mut keys: Vec<String> = if out.status.success() {
        messages(&text, "[WARNING]")
            .into_iter()
            .filter(|m| m.contains(" is ignored"))
            .map(key)
            .collect()
    } else {
        messages(&text, "[ALERT]")
            .into_iter()
            .filter(|m| !m.starts_with("Fatal errors found"))
            .map(key)
            .collect()
    };
    keys.sort();
    keys.dedup();
    let sluice = match (out.status.success(), keys.is_empty()) {
        (true, true) => "ok",
        (true, false) => "ok-ignored",
        (false, _) => "refused",
    };
    Row {
        haproxy: String::new(),
        sluice: sluice.to_string(),
        reason: keys.join(", "),
    }
}

fn haproxy_check(bin: &str, file: &Path) -> String {
    let out = Command::new(bin)
        .args(["-c", "-f"])
        .arg(file)
        .current_dir(corpus_dir())
        .stdin(Stdio::null())
        .output()
        .expect("run haproxy");
    if out.status.success() {
        "ok".into()
    } else {
        "refused".into()
    }
}

fn read_expected(path: &Path) -> BTreeMap<String, Row> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            let name = f.next().unwrap_or("").to_string();
            let row = Row {
                haproxy: f.next().unwrap_or("").to_string(),
                sluice: f.next().unwrap_or("").to_string(),
                reason: f.next().unwrap_or("").to_string(),
            };
            (name, row)
        })
        .collect()
}

fn write_expected(path: &Path, rows: &BTreeMap<String, Row>) {
    let mut s = String::from(
        "# file\thaproxy -c\tproxy-mio -c\twhat Sluice refused (or ignored)\n\
         # Checked by tests/real_configs.rs; SLUICE_CORPUS_BLESS=1 rewrites it.\n",
    );
    for (name, r) in rows {
        s += &format!("{name}\t{}\t{}\t{}\n", r.haproxy, r.sluice, r.reason);
    }
    fs::write(path, s).expect("write EXPECTED.tsv");
}

#[test]
fn real_configurations_load_as_recorded() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus holds {} files", files.len());

    let ha = if haproxy_or_skip("real_configurations_load_as_recorded (HAProxy column)") {
        haproxy_bin()
    } else {
        None
    };
    let mut got = BTreeMap::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(f).unwrap();
        assert!(
            text.starts_with("# Source: ") && text.contains("\n# Changes: "),
            "{name}: the first lines must say where the file comes from (# Source:) and what was changed (# Changes:)"
        );
        let mut row = sluice_check(f);
        row.haproxy = match ha {
            Some(bin) => haproxy_check(bin, f),
            None => "?".into(),
        };
        got.insert(name, row);
    }

    // The summary, printed straight to the stderr descriptor (the harness
    // captures eprintln! of passing tests).
    let n = got.len();
    let ha_ok = got.values().filter(|r| r.haproxy == "ok").count();
    let sl_ok = got.values().filter(|r| r.sluice != "refused").count();
    let both = got
        .values()
        .filter(|r| r.haproxy == "ok" && r.sluice != "refused")
        .count();
    let mut by_key: BTreeMap<&str, usize> = BTreeMap::new();
    for r in got.values().filter(|r| r.sluice == "refused") {
        for k in r.reason.split(", ").filter(|k| !k.is_empty()) {
            *by_key.entry(k).or_default() += 1;
        }
    }
    let mut by_key: Vec<_> = by_key.into_iter().collect();
    by_key.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut summary = format!(
        "\nreal configurations: {sl_ok} of {n} load in Sluice, {ha_ok} of {n} in HAProxy, {both} in both\nrefused by Sluice (files):\n"
    );
    for (k, c) in &by_key {
        summary += &format!("  {c:3}  {k}\n");
    }
    let _ = std::io::stderr().write_all(summary.as_bytes());

    let table = dir.join("EXPECTED.tsv");
    if std::env::var("SLUICE_CORPUS_BLESS").is_ok_and(|v| v == "1") {
        assert!(ha.is_some(), "blessing needs haproxy for its column");
        write_expected(&table, &got);
        return;
    }
    let want = read_expected(&table);
    let mut diffs = Vec::new();
    for (name, r) in &got {
        match want.get(name) {
            None => diffs.push(format!("{name}: not in EXPECTED.tsv (got {r:?})")),
            Some(w) => {
                let same_ha = r.haproxy == "?" || r.haproxy == w.haproxy;
                if !same_ha || r.sluice != w.sluice || r.reason != w.reason {
                    diffs.push(format!("{name}:\n    expected {w:?}\n    got      {r:?}"));
                }
            }
        }
    }
    for name in want.keys().filter(|k| !got.contains_key(*k)) {
        diffs.push(format!("{name}: in EXPECTED.tsv but not in tests/corpus"));
    }
    assert!(
        diffs.is_empty(),
        "the corpus does not load as recorded in tests/corpus/EXPECTED.tsv \
         (a regression, or an improvement to record with SLUICE_CORPUS_BLESS=1):\n{}",
        diffs.join("\n")
    );
}

#[test]
fn keys_name_the_keyword() {
    assert_eq!(
        key("'default-server' of backend 'b' : 'slowstart' is not supported by Sluice: it ramps"),
        "slowstart"
    );
    assert_eq!(
        key("'option ssl-hello-chk' is not supported by Sluice: it decides which servers are up."),
        "option ssl-hello-chk"
    );
    assert_eq!(
        key("unknown keyword 'default-path' in 'global' section"),
        "unknown keyword default-path"
    );
    assert_eq!(
        key("'http-check expect' : only 'status' is supported by Sluice (got 'string')."),
        "http-check expect string"
    );
    assert_eq!(
        key("'daemon' is ignored: Sluice always runs in the foreground (use a service manager)."),
        "daemon"
    );
}
