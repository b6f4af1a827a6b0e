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
    // `tcp frontend 'f' (file:line) uses http backend 'b' (file:line) in a
    // 'use_backend' rule: Sluice does not upgrade a TCP stream to HTTP, ...`
    if msg.contains("Sluice does not upgrade a TCP stream to HTTP") {
        return "tcp frontend to http backend".to_string();
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
        .arg(file.file_name().unwrap_or(file.as_os_str()))
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
        .arg(file.file_name().unwrap_or(file.as_os_str()))
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

/// What one keyword of issue 11 does in `proxy-mio -c`.
enum Want {
    /// Loads, with no warning that something is ignored.
    Loads,
    /// Refused, with this text in the alert (why); no keyword of issue 11
    /// is refused today.
    #[allow(dead_code)]
    Refused(&'static str),
}

/// The keywords and options issue 11 names (health checks, persistence,
/// balancing and routing, HTTP, the configuration language, peers), each
/// in a tiny configuration: `{DIR}` is a directory holding `hosts.map`,
/// `503.http` and `body.txt`. Each must load in HAProxy 2.6 too.
const KEYWORDS: &[(&str, &str, Want)] = &[
    ("option tcp-check, tcp-check connect/send/send-binary/expect/comment",
     "backend be\n  mode tcp\n  option tcp-check\n  tcp-check comment c\n  tcp-check connect port 6379\n  tcp-check send PING\\r\\n\n  tcp-check send-binary 50494e47\n  tcp-check expect string +PONG\n  tcp-check expect ! string ERR\n  tcp-check expect rstring ^\\+\n  tcp-check expect binary 2b\n  tcp-check expect rbinary 2b.*\n  server s1 127.0.0.1:9 check\n", Want::Loads),
    ("http-check send", "backend be\n  option httpchk\n  http-check send meth POST uri /h ver HTTP/1.1 hdr Host x body abc\n  server s1 127.0.0.1:9 check\n", Want::Loads),
    ("http-check expect status|rstatus|string|rstring|hdr",
     "backend be\n  option httpchk\n  http-check expect status 200\n  http-check expect rstatus ^2\n  http-check expect string ok\n  http-check expect rstring ok\n  http-check expect hdr name x-a\n  server s1 127.0.0.1:9 check\n", Want::Loads),
    ("http-check connect, send-state, uri-lf, check-proto", "backend be\n  option httpchk\n  http-check send-state\n  http-check connect port 8080\n  http-check send meth GET uri-lf /%[srv_name]\n  http-check expect status 200\n  http-check connect proto h2\n  http-check send uri /\n  server s1 127.0.0.1:9 check check-proto h2\n", Want::Loads),
    ("option mysql-check|pgsql-check|redis-check|ssl-hello-chk|smtpchk|ldap-check",
     "backend b1\n  mode tcp\n  option mysql-check user haproxy\n  server s1 127.0.0.1:9 check\nbackend b2\n  mode tcp\n  option pgsql-check user p\n  server s1 127.0.0.1:9 check\nbackend b3\n  mode tcp\n  option redis-check\n  server s1 127.0.0.1:9 check\nbackend b4\n  mode tcp\n  option ssl-hello-chk\n  server s1 127.0.0.1:9 check\nbackend b5\n  mode tcp\n  option smtpchk\n  server s1 127.0.0.1:9 check\nbackend b6\n  mode tcp\n  option ldap-check\n  server s1 127.0.0.1:9 check\n", Want::Loads),
    ("check port, addr, agent-check, fastinter, downinter, slowstart, on-marked-down, on-marked-up",
     "backend be\n  option log-health-checks\n  server s1 127.0.0.1:9 check port 8008 addr 127.0.0.2 inter 2s fastinter 1s downinter 5s slowstart 10s on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions agent-check agent-port 9999 agent-inter 2s agent-send hello\\n\n", Want::Loads),
    ("observe layer4|layer7, error-limit, on-error",
     "backend be\n  server s1 127.0.0.1:9 check observe layer7 error-limit 5 on-error mark-down\n  server s2 127.0.0.1:9 check observe layer4 on-error sudden-death\n  server s3 127.0.0.1:9 check observe layer7 on-error fastinter\n  server s4 127.0.0.1:9 check observe layer7 on-error fail-check\n", Want::Loads),
    ("cookie insert|rewrite|prefix with its options",
     "backend b1\n  cookie SRV insert indirect nocache postonly preserve httponly secure domain .example.com\n  server s1 127.0.0.1:9 cookie s1\nbackend b2\n  cookie SRV rewrite\n  server s1 127.0.0.1:9 cookie s1\nbackend b3\n  cookie SRV prefix\n  server s1 127.0.0.1:9 cookie s1\n", Want::Loads),
    ("cookie maxidle/maxlife", "backend be\n  cookie SRV insert maxidle 1h maxlife 2h\n  server s1 127.0.0.1:9 cookie s1\n", Want::Loads),
    ("option persist, force-persist, ignore-persist",
     "backend be\n  option persist\n  cookie SRV insert\n  force-persist if { src 127.0.0.1 }\n  ignore-persist if { path_beg /static }\n  server s1 127.0.0.1:9 cookie s1 check\n", Want::Loads),
    ("stick on|match|store-request|store-response on src",
     "backend be\n  stick-table type ip size 10k\n  stick on src\n  stick match src\n  stick store-request src\n  stick store-response src\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("stick on any expression, srvkey addr", "backend t\n  stick-table type string len 32 size 10k srvkey addr\nbackend be\n  stick-table type string len 32 size 10k\n  stick store-response res.cook(sid)\n  stick on urlp(client) table t\n  stick match req.hdr(x-id),lower\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("balance uri|url_param|hdr|rdp-cookie|random|hash, hash-type, hash-balance-factor",
     "backend b1\n  balance uri whole len 10 depth 2\n  hash-type consistent sdbm avalanche\n  hash-balance-factor 150\n  server s1 127.0.0.1:9\nbackend b2\n  balance url_param p check_post\n  hash-type map-based\n  server s1 127.0.0.1:9\nbackend b3\n  balance hdr(host)\n  hash-type consistent djb2\n  server s1 127.0.0.1:9\nbackend b4\n  mode tcp\n  balance rdp-cookie\n  hash-type consistent wt6\n  server s1 127.0.0.1:9\nbackend b5\n  balance random(2)\n  server s1 127.0.0.1:9\nbackend b6\n  balance hash req.hdr(host)\n  hash-type consistent crc32\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("minconn, fullconn", "backend be\n  fullconn 100\n  server s1 127.0.0.1:9 minconn 10 maxconn 50\n", Want::Loads),
    ("converters and map files, use_backend",
     "frontend fe\n  bind 127.0.0.1:9\n  use_backend %[req.hdr(host),lower,map({DIR}/hosts.map,be)]\n  http-request set-header X-A %[req.hdr(host),upper,map_beg({DIR}/hosts.map),map_dom({DIR}/hosts.map),map_reg({DIR}/hosts.map)]\n  http-request set-header X-B %[req.hdr(host),field(1,.),regsub(a,b),base64,hex,word(1,.),concat(a)]\n  default_backend be\nbackend be\n  server s1 127.0.0.1:9\nbackend be2\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("json converter", "frontend fe\n  bind 127.0.0.1:9\n  http-request set-header X-A %[req.hdr(host),json]\n  http-request set-header X-B %[req.hdr(host),json(utf8s)]\n  default_backend be\nbackend be\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("use-server, srv_is_up, nbsrv, be_conn, connslots",
     "frontend fe\n  bind 127.0.0.1:9\n  acl a srv_is_up(be/s1)\n  acl b nbsrv(be) gt 0\n  acl c be_conn(be) gt 0\n  acl d connslots(be) gt 0\n  http-request deny if !a !b !c !d\n  default_backend be\nbackend be\n  use-server s1 if { path_beg /a }\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("monitor-uri, monitor fail", "frontend fe\n  bind 127.0.0.1:9\n  monitor-uri /health\n  monitor fail if { nbsrv(be) lt 1 }\n  default_backend be\nbackend be\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("errorfile, errorfiles, http-errors, errorloc, errorloc302, errorloc303",
     "http-errors myerrs\n  errorfile 503 {DIR}/503.http\nbackend b1\n  errorfile 503 {DIR}/503.http\n  errorloc 502 http://example.com/\n  errorloc302 504 http://example.com/\n  errorloc303 500 http://example.com/\n  server s1 127.0.0.1:9\nbackend b2\n  errorfiles myerrs\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("http-request return file|lf-file",
     "frontend fe\n  bind 127.0.0.1:9\n  http-request return status 200 content-type text/plain file {DIR}/body.txt if { path /f }\n  http-request return status 200 content-type text/plain lf-file {DIR}/body.txt if { path /g }\n  default_backend be\nbackend be\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("return errorfiles", "http-errors myerrs\n  errorfile 503 {DIR}/503.http\nbackend be\n  http-response return status 503 errorfiles myerrs if { status 500 }\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("option http-buffer-request, timeout tarpit, header values %[...], compression",
     "backend be\n  option http-buffer-request\n  timeout tarpit 2s\n  http-request set-header X-Host %[req.hdr(host)]-%[src]\n  compression algo gzip deflate\n  compression type text/html text/plain\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("http-send-name-header", "backend be\n  http-send-name-header X-Server\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("http-request replace-*|set-query|set-uri|set-method|tarpit|silent-drop|wait-for-body",
     "frontend fe\n  bind 127.0.0.1:9\n  http-request replace-header X-A (.*) \\1\n  http-request replace-value X-A (.*) \\1\n  http-request replace-path (.*) /x\\1\n  http-request replace-uri (.*) \\1\n  http-request set-query a=b\n  http-request set-uri /x\n  http-request set-method GET\n  http-request wait-for-body time 1s\n  http-request tarpit if { path /t }\n  http-request silent-drop if { path /s }\n  default_backend be\nbackend be\n  http-response set-status 503 reason Down if { status 500 }\n  http-response replace-header X-A (.*) \\1\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("set-log-level", "frontend fe\n  bind 127.0.0.1:9\n  http-request set-log-level err\n  tcp-request content set-log-level silent if { src 10.0.0.1 }\n  default_backend be\nbackend be\n  http-response set-log-level notice if { status 404 }\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("http-response wait-for-body", "backend be\n  http-response wait-for-body time 1s\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("option http-restrict-req-hdr-names, originalto, forwardfor, httpclose",
     "backend be\n  option http-restrict-req-hdr-names delete\n  option originalto except 127.0.0.0/8 header X-Orig\n  option forwardfor except 127.0.0.0/8 header X-F if-none\n  option httpclose\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("option transparent, dispatch", "backend be\n  option transparent\nbackend be2\n  dispatch 127.0.0.1:9\n", Want::Loads),
    (".if/.elif/.else/.endif, .notice, .warning, ${VAR}, ${VAR-default}",
     ".if defined(NOPE)\n.elif streq(a,a)\n.notice hello\n.else\n.endif\n.warning hi\nbackend be\n  http-request set-header X-A \"${HOME}\"\n  http-request set-header X-B \"${NOPE_VAR-dflt}\"\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("named defaults and from, default-server",
     "defaults d1\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n  default-server inter 3s\ndefaults d2 from d1\n  option httplog\nfrontend fe from d2\n  bind 127.0.0.1:9\n  default_backend be\nbackend be from d1\n  default-server inter 2s\n  server s1 127.0.0.1:9 check\n", Want::Loads),
    ("bind :port, *:port, ipv4@, ipv6@, unix@ with mode, abns@, interface",
     "frontend fe\n  bind :9\n  bind *:10\n  bind ipv4@127.0.0.1:11\n  bind ipv6@[::1]:12\n  bind unix@{DIR}/s.sock mode 600\n  bind abns@cfg11kw\n  bind 127.0.0.1:13 interface lo\n  default_backend be\nbackend be\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("server unix@, abns@", "backend be\n  server s1 unix@{DIR}/x.sock\n  server s2 abns@cfg11srv\n", Want::Loads),
    ("localpeer", "peers mypeers\n  peer p1 127.0.0.1:9\nbackend be\n  stick-table type ip size 1k peers mypeers\n  stick on src\n  server s1 127.0.0.1:9\n", Want::Loads),
    ("peers section with no local peer", "peers mypeers\n  peer other 127.0.0.1:9\nbackend be\n  stick-table type ip size 1k peers mypeers\n  stick on src\n  server s1 127.0.0.1:9\n", Want::Loads),
];

#[test]
fn issue_11_keywords_load_or_are_refused_with_a_reason() {
    let dir = TempDir::new("kw11");
    write_file(&dir.join("hosts.map"), "www.example.com be2\n");
    write_file(
        &dir.join("503.http"),
        "HTTP/1.0 503 Service Unavailable\r\ncontent-type: text/plain\r\n\r\nsorry\n",
    );
    write_file(&dir.join("body.txt"), "hello %[path]\n");
    let ha = if haproxy_or_skip("issue_11_keywords (HAProxy side)") {
        haproxy_bin()
    } else {
        None
    };
    let mut bad = Vec::new();
    for (i, (kw, body, want)) in KEYWORDS.iter().enumerate() {
        let body = body.replace("{DIR}", &dir.path().display().to_string());
        let global = if body.starts_with("peers") && *kw == "localpeer" {
            "global\n  localpeer p1\n"
        } else {
            "global\n"
        };
        let defaults = if body.contains("defaults d1") {
            String::new()
        } else {
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n".into()
        };
        let text = format!("{global}{defaults}{body}");
        let f = dir.join(&format!("kw{i}.cfg"));
        write_file(&f, &text);
        if let Some(bin) = ha {
            // A configuration without a listener is valid but "will not
            // start" (exit status 2).
            let out = Command::new(bin)
                .args(["-c", "-f"])
                .arg(&f)
                .stdin(Stdio::null())
                .output()
                .expect("run haproxy");
            let said = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && !said.contains("Configuration file has no error") {
                bad.push(format!("{kw}: HAProxy 2.6 refuses it:\n{text}\n{said}"));
            }
        }
        let out = Command::new(proxy_mio())
            .args(["-c", "-f"])
            .arg(&f)
            .stdin(Stdio::null())
            .output()
            .expect("run proxy-mio");
        let said = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        match want {
            Want::Loads if !out.status.success() => bad.push(format!("{kw}: refused:\n{said}")),
            Want::Loads if said.contains(" is ignored") => {
                bad.push(format!("{kw}: loads with a keyword ignored:\n{said}"))
            }
            Want::Refused(why) if out.status.success() || !said.contains(why) => bad.push(format!(
                "{kw}: expected a refusal saying \"{why}\", got:\n{said}"
            )),
            _ => {}
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
}
