// Integration tests run outside the engine: reading files and spawning
// `haproxy -c` for cross-checks is fine here.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

//! The configuration parser end to end: every keyword into the model,
//! inheritance, every error and warning with its `file:line` text, the real
//! configurations of the peers captures and the examples, and a cross-check
//! of the examples and error cases against a real HAProxy 2.6 when one is
//! installed.

use std::path::{Path, PathBuf};

use sluice_core::backend::lb::HashFn;
use sluice_core::cfgparse::addr::{Addr, Host};
use sluice_core::cfgparse::*;
use sluice_core::stick_table::{DataType, KeyType, StoreSpec, TableParams};

// ---------------------------------------------------------------------------
// Helpers

/// Lines joined with LF, with the final LF HAProxy requires.
fn cfg(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

fn opts() -> ParseOptions<'static> {
    ParseOptions::new("testhost")
}

fn parse_ok_with(text: &str, o: ParseOptions<'_>) -> Parsed {
    match parse("t.cfg", text, o) {
        Ok(p) => p,
        Err(e) => panic!("unexpected errors:\n{e}\n--- config:\n{text}"),
    }
}

fn parse_ok(text: &str) -> Parsed {
    parse_ok_with(text, opts())
}

fn errors_with(text: &str, o: ParseOptions<'_>) -> Vec<String> {
    match parse("t.cfg", text, o) {
        Ok(_) => panic!("expected errors, the config parsed:\n{text}"),
        Err(e) => e.errors.iter().map(|d| d.to_string()).collect(),
    }
}

fn errors(text: &str) -> Vec<String> {
    errors_with(text, opts())
}

fn warnings(p: &Parsed) -> Vec<String> {
    p.warnings.iter().map(|d| d.to_string()).collect()
}

fn ip(s: &str) -> Host {
    Host::Ip(s.parse().unwrap())
}

fn inet(host: &str, port: u16) -> Addr {
    Addr::Inet {
        host: ip(host),
        port: Some(port),
    }
}

fn proxy<'a>(c: &'a Config, name: &str) -> &'a Proxy {
    c.proxies
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no proxy {name}"))
}

/// Timeouts so that proxies do not warn about missing ones.
const TIMEOUTS: [&str; 4] = [
    "defaults",
    "    timeout connect 1s",
    "    timeout client 1s",
    "    timeout server 1s",
];

fn with_defaults(lines: &[&str]) -> String {
    let mut all: Vec<&str> = TIMEOUTS.to_vec();
    all.extend_from_slice(lines);
    cfg(&all)
}

// Kept for the example-config tests the module doc announces; unused for
// now, and `clippy --all-targets -D warnings` refused the whole workspace.
#[allow(dead_code)]
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[allow(dead_code)]
fn read(rel: &str) -> String {
    let p = repo_root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---------------------------------------------------------------------------
// Tokenizer rules, seen through whole configurations

#[test]
fn quoting_escapes_and_comments_reach_the_model() {
    let text = cfg(&[
        "global#comment right after the keyword",
        "    pidfile \"/run/my dir/sluice.pid\"   # a path with a space",
        "    log 'stdout' format raw local0",
        "    stats socket /run/a\\ b.sock",
    ]);
    let p = parse_ok(&text);
    let g = &p.config.global;
    assert_eq!(g.pidfile.as_deref(), Some("/run/my dir/sluice.pid"));
    assert_eq!(g.logs[0].addr, LogAddr::Stdout);
    assert_eq!(g.stats_sockets[0].addr, Addr::Unix("/run/a b.sock".into()));
}

#[test]
fn environment_variables_expand_inside_double_quotes_only() {
    let env = |name: &str| match name {
        "ADDR" => Some("10.1.2.3:8080".to_string()),
        "SRVS" => Some("check   weight 7".to_string()),
        _ => None,
    };
    let mut o = opts();
    o.env = Some(&env);
    let text = with_defaults(&[
        "listen l",
        "    bind \"${ADDR}\"",
        "    bind \"${PORT-:9090}\"",
        "    server s1 \"$ADDR\" \"${SRVS[*]}\"",
        "    server s2 '${ADDR}' check",
    ]);
    // Single quotes keep `${ADDR}` literally in the word, but HAProxy's
    // str2sa_range expands variables in every address it parses
    // (`haproxy -c` agrees): the server gets the address.
    let p = parse_ok_with(&text, o);
    let s2 = proxy(&p.config, "l").server("s2").unwrap();
    assert_eq!(s2.addr, inet("10.1.2.3", 8080));

    let mut o = opts();
    o.env = Some(&env);
    let p = parse_ok_with(&text.replace("'${ADDR}'", "\"${ADDR}\""), o);
    let l = proxy(&p.config, "l");
    assert_eq!(l.binds[0].addrs[0].addr, inet("10.1.2.3", 8080));
    assert_eq!(l.binds[1].addrs[0].addr, inet("0.0.0.0", 9090));
    let s1 = l.server("s1").unwrap();
    assert_eq!(s1.addr, inet("10.1.2.3", 8080));
    assert!(s1.opts.check);
    assert_eq!(s1.opts.weight, 7);
}

#[test]
fn pseudo_variables_and_setenv() {
    let text = cfg(&[
        "global",
        "    setenv SOCK /run/x.sock",
        "    presetenv SOCK /run/ignored.sock",
        "    presetenv OTHER \"${SOCK}.2\"",
        "    stats socket \"${SOCK}\"",
        "    stats socket \"${OTHER}\"",
        "    unsetenv SOCK",
        "    pidfile \"/run/${.SECTION}-${.LINE}${SOCK}.pid\"",
    ]);
    let p = parse_ok(&text);
    let g = &p.config.global;
    assert_eq!(g.stats_sockets[0].addr, Addr::Unix("/run/x.sock".into()));
    assert_eq!(g.stats_sockets[1].addr, Addr::Unix("/run/x.sock.2".into()));
    assert_eq!(g.pidfile.as_deref(), Some("/run/global-8.pid"));
}

#[test]
fn tokenizer_errors_name_file_line_and_position() {
    let text = cfg(&[
        "global",
        "    pidfile \"/run/unterminated",
        "    pidfile \"\\x4\"",
        "    pidfile \"${X\"",
        "    pidfile \"$1\"",
        "    maxconn 10",
    ]);
    assert_eq!(
        errors(&text),
        [
            "parsing [t.cfg:2] : unmatched quote at position 13",
            "parsing [t.cfg:3] : truncated or invalid hexadecimal sequence at position 14",
            "parsing [t.cfg:4] : unmatched brace in environment variable name at position 15",
            "parsing [t.cfg:5] : forbidden first char in environment variable name at position 15",
        ]
    );
    let e = parse("t.cfg", &text, opts()).unwrap_err();
    assert!(e
        .errors
        .iter()
        .all(|d| d.keyword == "pidfile" && d.file == "t.cfg"));
}

/// Regression: one non-UTF-8 byte in a comment rejected the whole file
/// without `file:line` (the driver read it as a `String`); HAProxy 2.6
/// accepts it. Bytes in comments pass; a word that is not UTF-8 is an
/// error naming its line and position.
#[test]
fn non_utf8_bytes_are_accepted_in_comments_and_named_in_words() {
    let ok = b"global\n    # caf\xe9 latin-1 comment\n    maxconn 10 # \xff\xfe\n".to_vec();
    let p = match parse("t.cfg", &ok, opts()) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(p.config.global.maxconn, Some(10));
    if let Some(valid) = haproxy_accepts_bytes(&ok, "nonutf8") {
        assert!(valid, "haproxy 2.6 accepts non-UTF-8 comments");
    }

    let bad = b"global\n    maxconn 10\n    pidfile /run/caf\xe9.pid\n".to_vec();
    let e = match parse("t.cfg", &bad, opts()) {
        Ok(_) => panic!("a non-UTF-8 word was accepted"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    assert_eq!(
        e,
        ["parsing [t.cfg:3] : the word at position 13 is not valid UTF-8 (Sluice takes words as UTF-8 text; other bytes are only accepted in comments)"]
    );
}

#[test]
fn a_last_line_without_lf_is_an_error_and_crlf_is_fine() {
    let e = errors("global\n    maxconn 10");
    assert_eq!(
        e,
        ["parsing [t.cfg:2] : Missing LF on last line, file might have been truncated at position 15."]
    );
    let p = parse_ok("global\r\n    maxconn 10\r\n");
    assert_eq!(p.config.global.maxconn, Some(10));
    assert!(parse_ok("").config.proxies.is_empty());
}

#[test]
fn conditional_blocks() {
    let env = |n: &str| (n == "WITH_API").then(|| "1".to_string());
    let mut o = opts();
    o.env = Some(&env);
    let text = with_defaults(&[
        ".if defined(WITH_API)",
        "backend api",
        "    server a 10.0.0.1:80",
        "  .if version_atleast(3.0)",
        "    frob-keyword-from-the-future",
        "  .else",
        "    .notice \"running an older config language\"",
        "  .endif",
        ".elif 1",
        "backend never",
        ".else",
        "backend never2",
        ".endif",
        ".if streq(\"${WITH_API}\",1) && !feature(OPENSSL)",
        "backend plain",
        ".endif",
    ]);
    let p = parse_ok_with(&text, o);
    let names: Vec<&str> = p.config.proxies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["api", "plain"]);
    assert!(warnings(&p)
        .contains(&"parsing [t.cfg:11] : 'running an older config language'.".to_string()));

    let e = errors(&cfg(&["global", ".if 1", "    maxconn 1"]));
    assert_eq!(e, ["parsing [t.cfg:3] : non-terminated '.if' block."]);
    let e = errors(&cfg(&[".endif"]));
    assert_eq!(
        e,
        ["parsing [t.cfg:1] : lone '.endif' with no matching '.if'."]
    );
    let e = errors(&cfg(&[".if frob(1)", ".endif", "foo"]));
    assert_eq!(
        e,
        ["parsing [t.cfg:1] : unknown predicate 'frob' in '.if'."]
    );
    let e = errors(&cfg(&[".alert \"stop here\"", "foo"]));
    assert_eq!(e, ["parsing [t.cfg:1] : 'stop here'."]);
    let e = errors(&cfg(&[".bogus"]));
    assert_eq!(e, ["parsing [t.cfg:1] : unknown directive '.bogus'."]);
}

// ---------------------------------------------------------------------------
// global

#[test]
fn global_keywords_fill_the_model() {
    let text = cfg(&[
        "global",
        "    stats socket unix@/run/admin.sock mode 600 level admin",
        "    stats socket ipv4@127.0.0.1:9999 level user user haproxy expose-fd listeners",
        "    stats socket /run/op.sock",
        "    stats timeout 1m",
        "    localpeer A",
        "    maxconn 4096",
        "    nbthread 1",
        "    tune.bufsize 16k",
        "    tune.maxrewrite 1024",
        "    tune.peers.max-updates-at-once 50",
        "    log stdout format raw local0 info",
        "    log stderr local1",
        "    log /dev/log len 2048 format rfc5424 daemon notice warning",
        "    log 10.0.0.9 local7",
        "    log [::1]:1514 local2 debug",
        "    log tcp@10.0.0.8:601 user",
        "    pidfile /run/sluice.pid",
    ]);
    let p = parse_ok(&text);
    let g = &p.config.global;
    let s = &g.stats_sockets;
    assert_eq!(s.len(), 3);
    assert_eq!(
        (s[0].addr.clone(), s[0].level, s[0].mode),
        (
            Addr::Unix("/run/admin.sock".into()),
            StatsLevel::Admin,
            Some(0o600)
        )
    );
    assert_eq!(
        (s[1].addr.clone(), s[1].level),
        (inet("127.0.0.1", 9999), StatsLevel::User)
    );
    // `user` only applies to UNIX sockets: warned about, dropped.
    assert!(s[1].ignored.is_empty());
    assert!(s[1].expose_fd_listeners && !s[0].expose_fd_listeners);
    assert_eq!((s[1].uid.clone(), s[1].gid.clone()), (None, None));
    assert_eq!(s[2].level, StatsLevel::Operator);
    assert_eq!(s[0].place.line, 2);
    assert_eq!(g.stats_timeout_ms, 60_000);
    assert_eq!(g.localpeer.as_deref(), Some("A"));
    assert_eq!(p.config.local_peer, "A");
    assert_eq!((g.maxconn, g.nbthread), (Some(4096), Some(1)));
    assert_eq!((g.tune_bufsize, g.tune_maxrewrite), (16384, Some(1024)));
    assert_eq!(g.maxrewrite(), 1024);
    assert_eq!(g.tune_peers_max_updates_at_once, 50);
    assert_eq!(g.pidfile.as_deref(), Some("/run/sluice.pid"));
    assert!(!g.daemon);

    let l = &g.logs;
    assert_eq!(l.len(), 6);
    assert_eq!(
        (l[0].addr.clone(), l[0].format),
        (LogAddr::Stdout, LogFormat::Raw)
    );
    assert_eq!(
        (l[0].facility.name(), l[0].level.map(LogLevel::name)),
        ("local0", Some("info"))
    );
    assert_eq!((l[1].addr.clone(), l[1].level), (LogAddr::Stderr, None));
    assert_eq!(l[2].addr, LogAddr::Unix("/dev/log".into()));
    assert_eq!((l[2].len, l[2].format), (Some(2048), LogFormat::Rfc5424));
    assert_eq!(l[2].facility.name(), "daemon");
    assert_eq!(
        (
            l[2].level.map(LogLevel::name),
            l[2].min_level.map(LogLevel::name)
        ),
        (Some("notice"), Some("warning"))
    );
    let udp = |h: &str, port| LogAddr::Inet {
        host: ip(h),
        port,
        tcp: false,
    };
    assert_eq!(l[3].addr, udp("10.0.0.9", 514));
    assert_eq!(l[4].addr, udp("::1", 1514));
    assert_eq!(
        l[5].addr,
        LogAddr::Inet {
            host: ip("10.0.0.8"),
            port: 601,
            tcp: true
        }
    );

    assert_eq!(
        warnings(&p),
        [
            "parsing [t.cfg:3] : 'stats socket' : 'user' only applies to UNIX sockets and is ignored.",
        ]
    );
}

#[test]
fn global_defaults() {
    let g = &parse_ok("").config.global;
    assert_eq!(g.stats_timeout_ms, 10_000);
    assert_eq!(g.tune_bufsize, 16_384);
    assert_eq!(g.maxrewrite(), 1024);
    assert_eq!(g.tune_peers_max_updates_at_once, 200);
    let g = &parse_ok(&cfg(&["global", "    tune.bufsize 1024"]))
        .config
        .global;
    assert_eq!(g.maxrewrite(), 512);
}

#[test]
fn global_warnings_for_what_sluice_does_not_do() {
    let text = cfg(&[
        "global",
        "    nbthread 4",
        "    daemon",
        "    ca-base /etc/ssl/certs",
        "    crt-base /etc/ssl/private",
        "    ssl-default-bind-ciphers ECDHE+AESGCM",
        "    ssl-default-server-options no-sslv3",
        "    tune.ssl.default-dh-param 2048",
        "    no busy-polling",
    ]);
    let p = parse_ok(&text);
    assert!(p.config.global.daemon);
    assert_eq!(p.config.global.nbthread, Some(4));
    assert_eq!(p.config.global.ca_base.as_deref(), Some("/etc/ssl/certs"));
    assert_eq!(
        p.config.global.crt_base.as_deref(),
        Some("/etc/ssl/private")
    );
    // OpenSSL's tags: the four ECDHE AES-GCM suites.
    assert_eq!(
        p.config
            .global
            .ssl_default_bind
            .common
            .ciphers
            .as_ref()
            .map(Vec::len),
        Some(4)
    );
    // `nbthread` itself does not warn: whether the threads run is decided
    // at start (`cfgparse::threads::single_thread_reasons`).
    let w = warnings(&p);
    assert_eq!(w.len(), 3, "{w:#?}");
    assert_eq!(w[0], "parsing [t.cfg:3] : 'daemon' is ignored: Sluice always runs in the foreground (use a service manager).");
    assert_eq!(
        w[1],
        "parsing [t.cfg:8] : 'tune.ssl.default-dh-param' is not supported by Sluice and is ignored."
    );
    assert_eq!(
        w[2],
        "parsing [t.cfg:9] : 'busy-polling' is not supported by Sluice and is ignored."
    );
}

/// `nbthread` is bounded as in HAProxy 2.6 and `cpu-map` reaches the
/// model (HAProxy's messages, checked with `haproxy -c`).
#[test]
fn nbthread_bounds_and_cpu_map() {
    for n in ["0", "65"] {
        let text = cfg(&["global", &format!("    nbthread {n}")]);
        let e = errors(&text).join("\n");
        assert!(
            e.contains(&format!(
                "'nbthread' value must be between 1 and 64 (was {n})"
            )),
            "{e}"
        );
    }
    let text = cfg(&["global", "    nbthread 2", "    cpu-map auto:1/1-2 0-1"]);
    let p = parse_ok(&text);
    assert!(warnings(&p).is_empty(), "{:?}", warnings(&p));
    let cpus = sluice_core::cfgparse::threads::thread_cpus(&p.config.global.cpu_map, 2);
    assert_eq!(cpus, vec![Some(1), Some(2)]);
    let e = errors(&cfg(&["global", "    cpu-map auto:1/1-3 0-1"])).join("\n");
    assert!(
        e.contains("PROC/THREAD range and CPU sets must have the same size"),
        "{e}"
    );
}

/// Regression: `user`, `group`, `uid`, `gid` and `chroot` were accepted
/// with a warning and ignored, so a configuration written to drop
/// privileges ran as root. They reach the model (the driver looks names up
/// and applies them), as do `unix-bind`, `ulimit-n`, `fd-hard-limit`,
/// `strict-limits` and the owner of a UNIX stats socket.
#[test]
fn privilege_and_limit_keywords_reach_the_model() {
    let text = cfg(&[
        "global",
        "    user haproxy",
        "    group daemon",
        "    chroot /var/empty",
        "    stats socket /run/s.sock mode 660 user haproxy gid 5",
        "    stats socket /run/t.sock uid 7 gid 8",
        "    unix-bind prefix /run/ mode 600 user haproxy gid 9",
        "    ulimit-n 4096",
        "    fd-hard-limit 8192",
        "    no strict-limits",
    ]);
    let p = parse_ok(&text);
    assert!(warnings(&p).is_empty(), "{:?}", warnings(&p));
    let g = &p.config.global;
    let name = |n: &str| Some(IdSpec::Name(n.into()));
    assert_eq!(
        g.uid.as_ref().map(|s| (s.spec.clone(), s.place.line)),
        Some((IdSpec::Name("haproxy".into()), 2))
    );
    assert_eq!(g.gid.as_ref().map(|s| s.spec.clone()), name("daemon"));
    assert_eq!(
        g.chroot.as_ref().map(|(p, d)| (p.line, d.as_str())),
        Some((4, "/var/empty"))
    );
    let s = &g.stats_sockets;
    assert_eq!(
        (s[0].mode, s[0].uid.clone(), s[0].gid.clone()),
        (Some(0o660), name("haproxy"), Some(IdSpec::Num(5)))
    );
    assert_eq!(
        (s[1].uid.clone(), s[1].gid.clone()),
        (Some(IdSpec::Num(7)), Some(IdSpec::Num(8)))
    );
    let u = &g.unix_bind;
    assert_eq!(
        (u.prefix.as_deref(), u.mode, u.uid.clone(), u.gid.clone()),
        (
            Some("/run/"),
            Some(0o600),
            name("haproxy"),
            Some(IdSpec::Num(9))
        )
    );
    assert_eq!(
        (g.ulimit_n, g.fd_hard_limit, g.strict_limits),
        (Some(4096), Some(8192), false)
    );
    let g = &parse_ok(&cfg(&["global", "    uid 99", "    gid 98"]))
        .config
        .global;
    assert_eq!(
        g.uid.as_ref().map(|s| s.spec.clone()),
        Some(IdSpec::Num(99))
    );
    assert_eq!(
        g.gid.as_ref().map(|s| s.spec.clone()),
        Some(IdSpec::Num(98))
    );
    assert!(
        parse_ok("").config.global.strict_limits,
        "HAProxy 2.6's default"
    );
}

#[test]
fn no_log_in_global_drops_earlier_targets() {
    let p = parse_ok(&cfg(&[
        "global",
        "    log stdout local0",
        "    no log",
        "    log stderr local1",
    ]));
    assert_eq!(p.config.global.logs.len(), 1);
    assert_eq!(p.config.global.logs[0].addr, LogAddr::Stderr);
}

#[test]
fn local_peer_name_comes_from_l_then_localpeer_then_hostname() {
    let mesh = [
        "peers mesh",
        "    peer A 127.0.0.1:1",
        "    peer B 127.0.0.1:2",
    ];
    let mut lines = vec!["global", "    localpeer A"];
    lines.extend(mesh);
    let text = cfg(&lines);
    assert_eq!(parse_ok(&text).config.local_peer, "A");

    let mut o = opts();
    o.local_peer = Some("B".into());
    let p = parse_ok_with(&text, o);
    assert_eq!(p.config.local_peer, "B");
    assert_eq!(
        warnings(&p),
        ["parsing [t.cfg:2] : 'localpeer' ignored since it is already set by using the '-L' command line argument."]
    );

    let mut o = ParseOptions::new("B");
    o.max_errors = 50;
    let p = parse_ok_with(&cfg(&mesh), o);
    assert_eq!(p.config.local_peer, "B");
    let me = p.config.local_peer_of(&p.config.peers[0]).unwrap();
    assert_eq!(me.addr, Some(inet("127.0.0.1", 2)));

    // Too late: the peers section was already read with the host name.
    let mut lines: Vec<&str> = mesh.to_vec();
    lines.extend(["global", "    localpeer A"]);
    let p = parse_ok_with(&cfg(&lines), ParseOptions::new("B"));
    assert_eq!(p.config.local_peer, "B");
    assert_eq!(
        warnings(&p),
        ["parsing [t.cfg:5] : 'localpeer' ignored since it is used after 'peers' section."]
    );
}

// ---------------------------------------------------------------------------
// peers

#[test]
fn peers_section_with_peer_lines_and_tables() {
    let text = cfg(&[
        "peers mesh",
        "    peer A 127.0.0.1:10401",
        "    peer B [::1]:10402",
        "    peer C peer-c.internal:10403",
        "    table t_ip  type ip size 1k expire 10m store server_id,gpc0,conn_cnt,conn_rate(10s)",
        "    table t_str type string len 32 size 2k nopurge",
        "    table t_bin type binary len 16 size 10",
        "    table t_ip6 type ipv6 size 1k store gpt(2),gpc(2),gpc_rate(2,10s),conn_cur store http_fail_cnt,bytes_out_rate(1m)",
        "    table t_int type integer size 1m expire 1d",
    ]);
    let p = parse_ok_with(&text, ParseOptions::new("A"));
    let s = &p.config.peers[0];
    assert_eq!(
        (s.name.as_str(), s.disabled, s.place.line),
        ("mesh", false, 1)
    );
    let names: Vec<_> = s
        .peers
        .iter()
        .map(|p| (p.name.as_str(), p.keyword))
        .collect();
    assert_eq!(
        names,
        [
            ("A", PeerKeyword::Peer),
            ("B", PeerKeyword::Peer),
            ("C", PeerKeyword::Peer)
        ]
    );
    assert_eq!(s.peers[1].addr, Some(inet("::1", 10402)));
    assert_eq!(
        s.peers[2].addr,
        Some(Addr::Inet {
            host: Host::Name("peer-c.internal".into()),
            port: Some(10403)
        })
    );
    assert_eq!(s.local_addr("A"), Some(&inet("127.0.0.1", 10401)));

    let mut t_ip = TableParams::new("mesh/t_ip", KeyType::Ipv4, 1024);
    t_ip.wire_name = "/t_ip".into();
    t_ip.expire_ms = Some(600_000);
    t_ip.peers = Some("mesh".into());
    t_ip.store = vec![
        StoreSpec::plain(DataType::SERVER_ID),
        StoreSpec::plain(DataType::GPC0),
        StoreSpec::plain(DataType::CONN_CNT),
        StoreSpec::rate(DataType::CONN_RATE, 10_000),
    ];
    assert_eq!(s.tables[0].params, t_ip);
    assert_eq!(s.tables[0].place.line, 5);
    assert_eq!(t_ip.data_types_bitfield(), 0b11_0101);

    let t_str = &s.tables[1].params;
    assert_eq!(
        (t_str.key_type, t_str.key_size, t_str.size, t_str.nopurge),
        (KeyType::String, 33, 2048, true)
    );
    assert_eq!(t_str.expire_ms, None);
    let t_bin = &s.tables[2].params;
    assert_eq!((t_bin.key_type, t_bin.key_size), (KeyType::Binary, 16));
    let t_ip6 = &s.tables[3].params;
    assert_eq!((t_ip6.key_type, t_ip6.key_size), (KeyType::Ipv6, 16));
    assert_eq!(
        t_ip6.store,
        [
            StoreSpec::plain(DataType::CONN_CUR),
            StoreSpec::rate(DataType::BYTES_OUT_RATE, 60_000),
            StoreSpec::plain(DataType::HTTP_FAIL_CNT),
            StoreSpec::array(DataType::GPT, 2, 0),
            StoreSpec::array(DataType::GPC, 2, 0),
            StoreSpec::array(DataType::GPC_RATE, 2, 10_000),
        ]
    );
    assert!(t_ip6.store.iter().all(StoreSpec::is_valid));
    let t_int = &s.tables[4].params;
    assert_eq!(
        (t_int.key_type, t_int.key_size, t_int.size),
        (KeyType::Integer, 4, 1 << 20)
    );
    assert_eq!(t_int.expire_ms, Some(86_400_000));

    assert_eq!(
        p.config.table("mesh/t_bin").unwrap().params.wire_name,
        "/t_bin"
    );
    assert_eq!(s.table("t_int").unwrap().params.id, "mesh/t_int");
    assert_eq!(p.config.tables().count(), 5);
}

#[test]
fn peers_section_in_the_server_and_bind_form() {
    let text = cfg(&[
        "peers mesh",
        "    bind 10.0.0.1:10000",
        "    server node1",
        "    server node2 10.0.0.2:10000",
        "    disabled",
        "    enabled",
    ]);
    let p = parse_ok_with(&text, ParseOptions::new("node1"));
    let s = &p.config.peers[0];
    assert!(!s.disabled);
    assert_eq!(s.peers[0].addr, None);
    assert_eq!(s.peers[0].keyword, PeerKeyword::Server);
    assert_eq!(s.local_addr("node1"), Some(&inet("10.0.0.1", 10000)));
    assert_eq!(s.local_addr("node2"), Some(&inet("10.0.0.2", 10000)));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);

    let p = parse_ok_with(
        &cfg(&["peers p", "    peer A 1.1.1.1:1", "    disabled"]),
        ParseOptions::new("Z"),
    );
    assert!(p.config.peers[0].disabled);
    // A disabled section is not checked for its local peer.
    assert!(p.warnings.is_empty());
}

#[test]
fn a_peers_section_without_the_local_peer_is_dropped_with_a_warning() {
    // HAProxy 2.6 behaviour: "Removing incomplete section", not an error.
    let text = cfg(&[
        "peers mesh",
        "    peer B 127.0.0.1:10402",
        "    peer C 127.0.0.1:10403",
        "    table t type ip size 1k",
    ]);
    let p = parse_ok_with(&text, ParseOptions::new("A"));
    assert_eq!(
        warnings(&p),
        ["parsing [t.cfg:1] : Removing incomplete section 'peers mesh' (no peer named 'A')."]
    );
    assert!(p.config.local_peer_of(&p.config.peers[0]).is_none());

    let text = cfg(&["peers mesh", "    server A", "    server B 127.0.0.1:2"]);
    let p = parse_ok_with(&text, ParseOptions::new("A"));
    assert_eq!(
        warnings(&p),
        ["parsing [t.cfg:2] : peers section 'mesh': the local peer 'A' has no 'bind' line; it will not accept connections from its peers."]
    );
}

#[test]
fn peers_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["peers", "    peer A 1.1.1.1:1"], "parsing [t.cfg:1] : 'peers' expects <name> as argument."),
        (&["peers m", "    peer A 1.1.1.1:1", "    bind :1"], "parsing [t.cfg:3] : mixing \"peer\" and \"bind\" line is forbidden"),
        (&["peers m", "    bind :1", "    peer A 1.1.1.1:1"], "parsing [t.cfg:3] : mixing \"peer\" and \"bind\" line is forbidden"),
        (&["peers m", "    server A", "    peer B 1.1.1.1:1"], "parsing [t.cfg:3] : mixing \"peer\" and \"server\" lines is forbidden"),
        (&["peers m", "    peer A 1.1.1.1:1", "    peer A 1.1.1.1:2"], "parsing [t.cfg:3] : 'peer A' : local peer name already referenced at t.cfg:2."),
        (&["peers m", "    bind :1", "    server A 1.1.1.1:1"], "parsing [t.cfg:3] : 'server m/A' : unexpected address '1.1.1.1:1': the local peer takes its address from 'bind'."),
        (&["peers m", "    peer B /run/peer.sock"], "parsing [t.cfg:2] : 'peer' : peers only connect over TCP ('/run/peer.sock')."),
        (&["peers m", "    peer"], "parsing [t.cfg:2] : 'peer' expects <name> and <addr>[:<port>] as arguments."),
        (&["peers m", "    peer b@d 1.1.1.1:1"], "parsing [t.cfg:2] : character '@' is not permitted in 'peer' name 'b@d'."),
        (&["peers m", "    peer B 1.1.1.1:1 extra"], "parsing [t.cfg:2] : 'peer B 1.1.1.1:1' cannot handle unexpected argument 'extra'."),
        (&["peers m", "    bind :1", "    bind :2"], "parsing [t.cfg:3] : 'bind' : only one 'bind' line is supported in a peers section (see t.cfg:2)."),
        (&["peers m", "    bind :1,:2"], "parsing [t.cfg:2] : 'bind' : a peers section listens on exactly one address and port."),
        (&["peers m", "    frob"], "parsing [t.cfg:2] : unknown keyword 'frob' in 'peers' section"),
        (&["peers m", "    table"], "parsing [t.cfg:2] : table: missing table name."),
        (&["peers m", "    table t size 10"], "parsing [t.cfg:2] : table: missing type."),
        (&["peers m", "    table t type ip"], "parsing [t.cfg:2] : table: missing size."),
        (&["peers m", "    table t type ip size 0"], "parsing [t.cfg:2] : table: missing size."),
        (&["peers m", "    table t type ip size 1x"], "parsing [t.cfg:2] : table: invalid size '1x'."),
        (&["peers m", "    table t type foo size 10"], "parsing [t.cfg:2] : table: unknown type 'foo'."),
        (&["peers m", "    table t type ip len 4 size 10"], "parsing [t.cfg:2] : table: unknown argument 'len'."),
        (&["peers m", "    table t type string len 0 size 10"], "parsing [t.cfg:2] : table: 'len' expects a positive integer (got '0')."),
        (&["peers m", "    table t type ip size 10 peers m"], "parsing [t.cfg:2] : table: unknown argument 'peers'."),
        (&["peers m", "    table t type ip size 10 expire 2x"], "parsing [t.cfg:2] : table: unexpected character 'x' in argument of 'expire'."),
        (&["peers m", "    table t type ip size 10 expire 25d"], "parsing [t.cfg:2] : table: timer overflow in argument <25d> to <expire>, maximum value is 2147483647 ms (~24.8 days)."),
        (&["peers m", "    table t type ip size 10 store bogus"], "parsing [t.cfg:2] : table: unknown store option 'bogus'."),
        (&["peers m", "    table t type ip size 10 store gpc0(1)"], "parsing [t.cfg:2] : table: unexpected argument to store option 'gpc0'."),
        (&["peers m", "    table t type ip size 10 store conn_rate"], "parsing [t.cfg:2] : table: missing argument to store option 'conn_rate'."),
        (&["peers m", "    table t type ip size 10 store conn_rate(10x)"], "parsing [t.cfg:2] : table: invalid period '10x' for store option 'conn_rate': unexpected character 'x'."),
        (&["peers m", "    table t type ip size 10 store conn_rate(0)"], "parsing [t.cfg:2] : table: the period of store option 'conn_rate' must be greater than 0."),
        (&["peers m", "    table t type ip size 10 store gpt(101)"], "parsing [t.cfg:2] : table: array size is out of allowed range (1-100) for store option 'gpt'."),
        (&["peers m", "    table t type ip size 10 store gpt(2,10s)"], "parsing [t.cfg:2] : table: unexpected argument to store option 'gpt'."),
        (&["peers m", "    table t type ip size 10 store gpc_rate(2)"], "parsing [t.cfg:2] : table: missing argument to store option 'gpc_rate'."),
        (&["peers m", "    table t type ip size 10 store gpc_rate(2,10s"], "parsing [t.cfg:2] : table: missing ')' in store option 'gpc_rate(2,10s'."),
        (&["peers m", "    table t type ip size 10 store"], "parsing [t.cfg:2] : table: missing argument after 'store'."),
    ];
    for (lines, want) in cases {
        let e = errors_with(&cfg(lines), ParseOptions::new("A"));
        assert_eq!(e, [*want], "{lines:?}");
    }
}

#[test]
fn repeated_store_types_warn_like_haproxy() {
    let text = cfg(&[
        "peers m",
        "    peer A 1.1.1.1:1",
        "    table t type ip size 10 store gpc0,gpc0 store gpc0",
    ]);
    let p = parse_ok_with(&text, ParseOptions::new("A"));
    assert_eq!(
        p.config.peers[0].tables[0].params.store,
        [StoreSpec::plain(DataType::GPC0)]
    );
    assert_eq!(
        warnings(&p),
        [
            "parsing [t.cfg:3] : table: store option 'gpc0' already enabled, ignored.",
            "parsing [t.cfg:3] : table: store option 'gpc0' already enabled, ignored.",
        ]
    );
}

// ---------------------------------------------------------------------------
// proxies

#[test]
fn proxies_inherit_from_the_last_defaults_section() {
    let text = cfg(&[
        "defaults",
        "    mode http",
        "    maxconn 500",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    balance leastconn",
        "    retries 5",
        "    option redispatch",
        "    option httplog",
        "    option http-server-close",
        "    http-reuse always",
        "    http-check expect status 200",
        "    default-server inter 3s fall 5 check",
        "    log global",
        "    default_backend be",
        "",
        "frontend fe",
        "    bind :80",
        "    timeout client 5s",
        "    no option httplog",
        "backend be",
        "    server s1 10.0.0.1:80",
        "    server s2 10.0.0.2:80 no-check inter 1s",
        "    no option redispatch",
        "defaults",
        "    timeout connect 1s",
        "    timeout client 1s",
        "    timeout server 1s",
        "listen l",
        "    bind :81",
        "    server s 10.0.0.3:81",
    ]);
    let e = errors(&text);
    assert_eq!(
        e,
        ["parsing [t.cfg:21] : negation/default is not supported for option 'httplog'."]
    );
    let p = parse_ok(&text.replace("    no option httplog\n", ""));
    let c = &p.config;
    assert_eq!(c.defaults.len(), 2);

    let fe = proxy(c, "fe");
    assert_eq!(fe.kind, ProxyKind::Frontend);
    assert_eq!(
        fe.from,
        Some(DefaultsRef {
            index: 0,
            name: String::new(),
            explicit: false
        })
    );
    assert_eq!((fe.mode, fe.maxconn), (Mode::Http, Some(500)));
    assert_eq!(fe.timeouts.client_ms, Some(5000));
    assert_eq!(fe.timeouts.connect_ms, Some(2000));
    assert!(fe.options.httplog && fe.options.redispatch);
    assert_eq!(fe.options.http_conn_mode, HttpConnMode::ServerClose);
    assert_eq!(
        fe.default_backend
            .as_ref()
            .map(|(pl, n)| (pl.line, n.as_str())),
        Some((16, "be"))
    );
    assert_eq!(
        fe.logs,
        [ProxyLog::Global(Place {
            file: "t.cfg".into(),
            line: 15
        })]
    );

    let be = proxy(c, "be");
    assert_eq!(
        (be.balance.clone(), be.retries, be.http_reuse),
        (Balance::LeastConn, 5, HttpReuse::Always)
    );
    assert!(!be.options.redispatch);
    assert_eq!(be.default_backend, None);
    assert_eq!(
        be.http_check_expects[0].pattern,
        HttpCheckMatch::Status(vec![(200, 200)])
    );
    let s1 = be.server("s1").unwrap();
    assert!(s1.opts.check);
    assert_eq!((s1.opts.inter_ms, s1.opts.fall, s1.opts.rise), (3000, 5, 2));
    let s2 = be.server("s2").unwrap();
    assert!(!s2.opts.check);
    assert_eq!(s2.opts.inter_ms, 1000);

    // A new `defaults` section starts from HAProxy's built-in settings.
    let l = proxy(c, "l");
    assert_eq!(l.from.as_ref().unwrap().index, 1);
    assert_eq!(
        (l.mode, l.maxconn, l.balance.clone(), l.retries),
        (Mode::Tcp, None, Balance::RoundRobin, 3)
    );
    assert_eq!(l.timeouts.client_ms, Some(1000));
    assert!(!l.options.redispatch);
    assert_eq!(l.default_server, ServerOptions::default());
    assert!(l.logs.is_empty());
    assert!(l.kind.is_frontend() && l.kind.is_backend());
}

#[test]
fn named_defaults_and_from() {
    let text = cfg(&[
        "defaults tcp_base",
        "    mode tcp",
        "    timeout connect 1s",
        "    timeout client 1s",
        "    timeout server 1s",
        "defaults http_base from tcp_base",
        "    mode http",
        "    acl internal src 10.0.0.0/8",
        "    http-request deny unless internal",
        "defaults last",
        "    timeout connect 9s",
        "frontend fe from http_base",
        "    bind :80",
        "    http-request return status 200",
        "backend be from tcp_base",
        "    server s 1.1.1.1:1",
    ]);
    let p = parse_ok(&text);
    let c = &p.config;
    let names: Vec<&str> = c.defaults.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["tcp_base", "http_base", "last"]);
    assert_eq!(c.defaults[1].from.as_ref().unwrap().name, "tcp_base");
    assert_eq!(c.defaults[1].timeouts.client_ms, Some(1000));

    let fe = proxy(c, "fe");
    assert_eq!(
        fe.from,
        Some(DefaultsRef {
            index: 1,
            name: "http_base".into(),
            explicit: true
        })
    );
    assert_eq!(fe.mode, Mode::Http);
    assert_eq!(fe.timeouts.connect_ms, Some(1000));
    // Rules of a named defaults section come first.
    let words: Vec<&str> = fe
        .http_request
        .iter()
        .map(|r| r.words[0].as_str())
        .collect();
    assert_eq!(words, ["deny", "return"]);
    assert_eq!(fe.acls[0].words, ["internal", "src", "10.0.0.0/8"]);
    assert_eq!(proxy(c, "be").mode, Mode::Tcp);

    let e = errors(&cfg(&["frontend fe from nope", "    bind :80"]));
    assert_eq!(
        e,
        ["parsing [t.cfg:1] : defaults section 'nope' not found for frontend 'fe'."]
    );
    let e = errors(&cfg(&["defaults", "    http-request deny"]));
    assert_eq!(
        e,
        ["parsing [t.cfg:2] : 'http-request' not allowed in anonymous 'defaults' section."]
    );
}

#[test]
fn defaults_used_both_explicitly_and_implicitly() {
    let text = cfg(&[
        "defaults d",
        "    timeout connect 1s",
        "    timeout client 1s",
        "    timeout server 1s",
        "backend a from d",
        "backend b",
    ]);
    let p = parse_ok(&text);
    assert_eq!(
        warnings(&p),
        ["parsing [t.cfg:6] : backend 'b' implicitly uses defaults section 'd' (t.cfg:1) which backend 'a' uses explicitly; consider an explicit 'from' everywhere."]
    );
    let text = cfg(&["defaults d", "defaults d", "backend a from d"]);
    assert!(errors(&text).contains(
        &"parsing [t.cfg:2] : defaults section 'd' is referenced by backend 'a' but its name is not unique (also declared at t.cfg:1).".to_string()
    ));
}

#[test]
fn bind_lines() {
    let text = with_defaults(&[
        "frontend fe",
        "    bind 10.0.0.1:80",
        "    bind :81",
        "    bind *:82",
        "    bind [::1]:83",
        "    bind ::1:84",
        "    bind :::85",
        "    bind ipv6@:86",
        "    bind :8000-8010",
        "    bind :90,:91 accept-proxy name two maxconn 100",
        "    bind /run/fe.sock mode 600",
        "    bind localhost:92",
        "    default_backend be",
        "backend be",
    ]);
    let p = parse_ok(&text);
    let fe = proxy(&p.config, "fe");
    let first = |i: usize| fe.binds[i].addrs[0].addr.clone();
    assert_eq!(first(0), inet("10.0.0.1", 80));
    assert_eq!(first(1), inet("0.0.0.0", 81));
    assert_eq!(first(2), inet("0.0.0.0", 82));
    assert_eq!(first(3), inet("::1", 83));
    assert_eq!(first(4), inet("::1", 84));
    assert_eq!(first(5), inet("::", 85));
    assert_eq!(first(6), inet("::", 86));
    assert_eq!(fe.binds[7].addrs[0].port_last, Some(8010));
    let b = &fe.binds[8];
    assert_eq!(b.addrs.len(), 2);
    assert_eq!(b.addrs[1].addr, inet("0.0.0.0", 91));
    assert!(b.accept_proxy);
    assert_eq!((b.name.as_deref(), b.maxconn), (Some("two"), Some(100)));
    assert_eq!(first(9), Addr::Unix("/run/fe.sock".into()));
    assert!(fe.binds[9].ignored.is_empty());
    assert_eq!(fe.binds[9].mode, Some(0o600));
    assert_eq!(
        first(10),
        Addr::Inet {
            host: Host::Name("localhost".into()),
            port: Some(92)
        }
    );
    assert_eq!(b.place.line, 14);
}

/// `idle-ping T` (HAProxy 3.x) on a bind and on a server: a time, 0 is
/// off, a missing or bad value is an error.
#[test]
fn idle_ping_on_binds_and_servers() {
    let text = cfg(&[
        "frontend fe",
        "    mode http",
        "    bind 10.0.0.1:80 proto h2 idle-ping 30s",
        "    bind 10.0.0.1:81 idle-ping 0",
        "    default_backend be",
        "backend be",
        "    mode http",
        "    server a 10.0.0.2:80 proto h2 idle-ping 1500ms",
        "    server b 10.0.0.3:80",
    ]);
    let p = parse_ok(&text);
    let fe = proxy(&p.config, "fe");
    assert_eq!(fe.binds[0].idle_ping_ms, Some(30_000));
    assert_eq!(fe.binds[1].idle_ping_ms, None);
    let be = proxy(&p.config, "be");
    assert_eq!(be.server("a").unwrap().opts.idle_ping_ms, Some(1500));
    assert_eq!(be.server("b").unwrap().opts.idle_ping_ms, None);
    for line in [
        "    server c 10.0.0.4:80 idle-ping",
        "    server c 10.0.0.4:80 idle-ping soon",
    ] {
        let e = errors(&cfg(&["backend be", line]));
        assert!(e.iter().any(|e| e.contains("idle-ping")), "{line}: {e:?}");
    }
    let e = errors(&cfg(&["frontend fe", "    bind 10.0.0.1:80 idle-ping"]));
    assert!(
        e.iter()
            .any(|e| e.contains("'idle-ping' expects an argument")),
        "{e:?}"
    );
}

#[test]
fn server_lines() {
    let text = with_defaults(&[
        "backend be",
        "    default-server maxconn 100 send-proxy",
        "    server full 10.0.0.1:8080 weight 50 maxconn 20 maxqueue 10 check inter 5s fastinter 1s downinter 30s rise 3 fall 4 backup disabled send-proxy-v2 id 7 minconn 5 slowstart 1500ms on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions",
        "    server plain 10.0.0.2",
        "    server named db.internal:5432 no-send-proxy enabled",
        "    server v6 [2001:db8::1]:443",
        "    server v6bare 2001:db8::2",
        "    server sock unix@/run/app.sock",
        "    server ignored 10.0.0.3:80 init-addr none pool-max-conn 10 tfo",
    ]);
    let p = parse_ok(&text);
    let be = proxy(&p.config, "be");
    let full = be.server("full").unwrap();
    assert_eq!(full.addr, inet("10.0.0.1", 8080));
    assert_eq!(full.id, Some(7));
    let want = ServerOptions {
        weight: 50,
        maxconn: Some(20),
        maxqueue: Some(10),
        check: true,
        inter_ms: 5000,
        fastinter_ms: Some(1000),
        downinter_ms: Some(30_000),
        rise: 3,
        fall: 4,
        backup: true,
        disabled: true,
        send_proxy: true,
        send_proxy_v2: true,
        pp_opts: 0,
        proto_h2: false,
        check_proto_h2: None,
        ws: Default::default(),
        idle_ping_ms: None,
        pool_max_conn: None,
        check_port: None,
        check_addr: None,
        agent_check: false,
        agent_port: None,
        agent_addr: None,
        agent_inter_ms: 2000,
        agent_send: None,
        tls: Default::default(),
        cookie: None,
        // Kept in seconds, rounded up, as HAProxy.
        slowstart_s: 2,
        on_marked_down_shutdown: true,
        on_marked_up_shutdown_backup: true,
        observe: ObserveLayer::None,
        error_limit: 10,
        on_error: OnError::FailCheck,
        minconn: Some(5),
        pool_conn_name: None,
        resolvers: None,
        resolve_prefer_ipv4: false,
        resolve_allow_dup_ip: false,
        resolve_net: vec![],
        init_addr: vec![],
        ignored: vec![],
    };
    assert_eq!(full.opts, want);
    let plain = be.server("plain").unwrap();
    assert_eq!(
        plain.addr,
        Addr::Inet {
            host: ip("10.0.0.2"),
            port: None
        }
    );
    assert_eq!(
        (plain.opts.weight, plain.opts.maxconn, plain.opts.send_proxy),
        (1, Some(100), true)
    );
    let named = be.server("named").unwrap();
    assert_eq!(
        named.addr,
        Addr::Inet {
            host: Host::Name("db.internal".into()),
            port: Some(5432)
        }
    );
    assert!(!named.opts.send_proxy && !named.opts.disabled);
    assert_eq!(be.server("v6").unwrap().addr, inet("2001:db8::1", 443));
    assert_eq!(
        be.server("v6bare").unwrap().addr,
        Addr::Inet {
            host: ip("2001:db8::2"),
            port: None
        }
    );
    assert_eq!(
        be.server("sock").unwrap().addr,
        Addr::Unix("/run/app.sock".into())
    );
    assert_eq!(be.server("ignored").unwrap().opts.ignored, ["tfo"]);
    assert_eq!(be.server("ignored").unwrap().opts.pool_max_conn, Some(10));
    assert_eq!(warnings(&p).len(), 1);
    assert_eq!(
        warnings(&p)[0],
        "parsing [t.cfg:13] : 'server be/ignored' : 'tfo' is not supported by Sluice and is ignored."
    );
}

#[test]
fn timeouts_balance_retries_reuse() {
    let text = cfg(&[
        "listen l",
        "    timeout connect 1s",
        "    timeout client 2s",
        "    timeout server 3s",
        "    timeout queue 4s",
        "    timeout tunnel 1h",
        "    timeout client-fin 500ms",
        "    timeout server-fin 1500us",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 1m",
        "    timeout check 2d",
        "    timeout tarpit 0",
        "    balance static-rr",
        "    retries 0",
        "    http-reuse never",
        "    maxconn 1000",
        "    mode http",
        "    bind :80",
    ]);
    let l = proxy(&parse_ok(&text).config, "l").clone();
    let t = l.timeouts;
    assert_eq!(
        (
            t.connect_ms,
            t.client_ms,
            t.server_ms,
            t.queue_ms,
            t.tunnel_ms
        ),
        (
            Some(1000),
            Some(2000),
            Some(3000),
            Some(4000),
            Some(3_600_000)
        )
    );
    assert_eq!((t.client_fin_ms, t.server_fin_ms), (Some(500), Some(2)));
    assert_eq!(
        (t.http_request_ms, t.http_keep_alive_ms),
        (Some(10_000), Some(60_000))
    );
    assert_eq!((t.check_ms, t.tarpit_ms), (Some(172_800_000), None));
    assert_eq!(
        (l.balance.clone(), l.retries, l.http_reuse, l.maxconn),
        (Balance::StaticRr, 0, HttpReuse::Never, Some(1000))
    );
    for (algo, want) in [
        ("roundrobin", Balance::RoundRobin),
        ("leastconn", Balance::LeastConn),
        ("first", Balance::First),
        ("source", Balance::Source),
        (
            "uri whole len 10 depth 3",
            Balance::Uri {
                whole: true,
                path_only: false,
                len: 10,
                depth: 3,
            },
        ),
        (
            "url_param userid check_post",
            Balance::UrlParam {
                name: "userid".into(),
                check_post: true,
            },
        ),
        (
            "hdr(Host) use_domain_only",
            Balance::Hdr {
                name: "Host".into(),
                use_domain_only: true,
            },
        ),
        ("random", Balance::Random { draws: 2 }),
        ("random(5)", Balance::Random { draws: 5 }),
        (
            "rdp-cookie",
            Balance::RdpCookie {
                name: "mstshash".into(),
            },
        ),
        (
            "rdp-cookie(user)",
            Balance::RdpCookie {
                name: "user".into(),
            },
        ),
    ] {
        let p = parse_ok(&with_defaults(&[
            "backend b",
            &format!("    balance {algo}"),
        ]));
        assert_eq!(proxy(&p.config, "b").balance, want);
    }
    // hash-type: consistent defaults to sdbm with avalanche, map-based
    // to sdbm without; a function is without avalanche unless asked.
    for (line, consistent, func, avalanche) in [
        ("map-based", false, HashFn::Sdbm, false),
        ("consistent", true, HashFn::Sdbm, true),
        ("consistent djb2", true, HashFn::Djb2, false),
        ("map-based wt6 avalanche", false, HashFn::Wt6, true),
        ("consistent crc32 avalanche", true, HashFn::Crc32, true),
    ] {
        let p = parse_ok(&with_defaults(&[
            "backend b",
            &format!("    hash-type {line}"),
            "    hash-balance-factor 150",
        ]));
        let b = proxy(&p.config, "b");
        assert_eq!(
            b.hash_type,
            HashType {
                consistent,
                func,
                avalanche
            },
            "{line}"
        );
        assert_eq!(b.hash_balance_factor, 150);
    }
    for (r, want) in [
        ("safe", HttpReuse::Safe),
        ("aggressive", HttpReuse::Aggressive),
        ("always", HttpReuse::Always),
    ] {
        let p = parse_ok(&with_defaults(&[
            "backend b",
            &format!("    http-reuse {r}"),
        ]));
        assert_eq!(proxy(&p.config, "b").http_reuse, want);
    }
}

#[test]
fn options() {
    let text = with_defaults(&[
        "listen l",
        "    bind :80",
        "    mode http",
        "    option redispatch",
        "    option splice-auto",
        "    option splice-request",
        "    option splice-response",
        "    option httplog clf",
        "    option dontlognull",
        "    option log-health-checks",
        "    option forwardfor except 127.0.0.0/8 header X-Real-IP if-none",
        "    option httpclose",
        "    option httpchk HEAD /ping HTTP/1.1",
        "    http-check expect ! status 500-599,404",
        "    option http-use-htx",
        "    option tcpka",
        "    no option splice-auto",
    ]);
    let p = parse_ok(&text);
    let o = &proxy(&p.config, "l").options;
    assert!(o.redispatch && !o.splice_auto && o.splice_request && o.splice_response);
    assert!(o.httplog && o.httplog_clf && !o.tcplog && o.dontlognull && o.log_health_checks);
    assert_eq!(
        o.forwardfor,
        Some(ForwardFor {
            except: Some("127.0.0.0/8".into()),
            header: Some("X-Real-IP".into()),
            if_none: true
        })
    );
    assert_eq!(o.http_conn_mode, HttpConnMode::Close);
    assert_eq!(
        o.httpchk,
        Some(HttpChk {
            method: "HEAD".into(),
            uri: "/ping".into(),
            version: "HTTP/1.1".into()
        })
    );
    let e = proxy(&p.config, "l").http_check_expects[0].clone();
    assert!(e.negate);
    assert_eq!(
        e.pattern,
        HttpCheckMatch::Status(vec![(500, 599), (404, 404)])
    );
    assert_eq!(
        warnings(&p),
        [
            "parsing [t.cfg:19] : 'option http-use-htx' is not supported by Sluice and is ignored.",
            "parsing [t.cfg:20] : 'option tcpka' is not supported by Sluice and is ignored.",
        ]
    );

    let p = parse_ok(&with_defaults(&[
        "backend b",
        "    option httpchk /health",
        "    option tcplog",
        "    option http-keep-alive",
        "    option tcp-check",
    ]));
    let o = &proxy(&p.config, "b").options;
    assert!(o.tcplog && o.tcp_check && o.httpchk.is_none());
    assert_eq!(o.http_conn_mode, HttpConnMode::KeepAlive);
    let p = parse_ok(&with_defaults(&["backend b", "    option httpchk /health"]));
    let chk = proxy(&p.config, "b").options.httpchk.clone().unwrap();
    assert_eq!(
        (chk.method.as_str(), chk.uri.as_str(), chk.version.as_str()),
        ("OPTIONS", "/health", "HTTP/1.0")
    );
}

#[test]
fn default_option_restores_the_inherited_value() {
    let text = cfg(&[
        "defaults d",
        "    option redispatch",
        "    option httpclose",
        "    timeout connect 1s",
        "    timeout server 1s",
        "backend b",
        "    no option redispatch",
        "    option http-server-close",
        "    default option redispatch",
        "    default option http-server-close",
        "backend c",
        "    no option httpclose",
    ]);
    let p = parse_ok(&text);
    let b = proxy(&p.config, "b");
    assert!(b.options.redispatch);
    assert_eq!(b.options.http_conn_mode, HttpConnMode::Close);
    assert_eq!(
        proxy(&p.config, "c").options.http_conn_mode,
        HttpConnMode::KeepAlive
    );
}

#[test]
fn proxy_logs() {
    let text = cfg(&[
        "global",
        "    log stdout local0",
        "defaults",
        "    log global",
        "    timeout connect 1s",
        "    timeout server 1s",
        "backend a",
        "backend b",
        "    no log",
        "backend c",
        "    log 10.0.0.1:5140 len 4096 format rfc5424 local3 err",
    ]);
    let p = parse_ok(&text);
    assert_eq!(proxy(&p.config, "a").logs.len(), 1);
    assert!(proxy(&p.config, "b").logs.is_empty());
    let c = &proxy(&p.config, "c").logs;
    assert_eq!(c.len(), 2);
    let ProxyLog::Target(t) = &c[1] else {
        panic!("{c:?}")
    };
    assert_eq!(
        (t.len, t.format, t.facility.name()),
        (Some(4096), LogFormat::Rfc5424, "local3")
    );
    assert_eq!(t.level, LogLevel::from_name("err"));
}

#[test]
fn stick_tables_and_stick_rules() {
    let text = with_defaults(&[
        "peers mesh",
        "    peer testhost 127.0.0.1:10000",
        "    table shared type string len 32 size 1k",
        "backend be",
        "    stick-table type ip size 200k expire 30m nopurge store conn_cur,http_req_rate(10s) peers mesh",
        "    stick on src",
        "    stick match req.hdr(x-user),lower table mesh/shared if { req.hdr(x-user) -m found }",
        "    stick store-request src table be unless local",
        "    stick store-response res.hdr(x-id)",
        "    server s 10.0.0.1:80",
    ]);
    let p = parse_ok(&text);
    let be = proxy(&p.config, "be");
    let t = be.stick_table.as_ref().unwrap();
    let mut want = TableParams::new("be", KeyType::Ipv4, 200 * 1024);
    want.expire_ms = Some(1_800_000);
    want.nopurge = true;
    want.peers = Some("mesh".into());
    // `stick` rules make their table store server_id and server_key too.
    want.store = vec![
        StoreSpec::plain(DataType::SERVER_ID),
        StoreSpec::plain(DataType::CONN_CUR),
        StoreSpec::rate(DataType::HTTP_REQ_RATE, 10_000),
        StoreSpec::plain(DataType::SERVER_KEY),
    ];
    assert_eq!(t.params, want);
    let shared = &p.config.table("mesh/shared").unwrap().params;
    assert_eq!(
        shared.data_types_bitfield(),
        DataType::SERVER_ID.bit() | DataType::SERVER_KEY.bit()
    );
    assert_eq!(t.params.wire_name, "be");
    assert_eq!(t.place.line, 9);

    let r = &be.stick_rules;
    assert_eq!(r.len(), 4);
    assert_eq!(
        (r[0].kind, r[0].expr.as_str(), r[0].table.as_deref()),
        (StickKind::On, "src", None)
    );
    assert_eq!(r[0].cond, None);
    assert_eq!(
        (r[1].kind, r[1].expr.as_str()),
        (StickKind::Match, "req.hdr(x-user),lower")
    );
    assert_eq!(r[1].table.as_deref(), Some("mesh/shared"));
    assert_eq!(
        r[1].cond,
        Some(Cond {
            negate: false,
            words: ["{", "req.hdr(x-user)", "-m", "found", "}"]
                .map(String::from)
                .to_vec()
        })
    );
    assert_eq!(
        (r[2].kind, r[2].table.as_deref()),
        (StickKind::StoreRequest, Some("be"))
    );
    assert!(r[2].cond.as_ref().unwrap().negate);
    assert_eq!(r[3].kind, StickKind::StoreResponse);
    assert_eq!(p.config.table("be").unwrap().params.id, "be");
    assert_eq!(p.config.tables().count(), 2);
}

#[test]
fn acls_and_rules_are_kept_as_words() {
    let text = with_defaults(&[
        "frontend fe",
        "    mode http",
        "    bind :80",
        "    acl api path_beg -i /api/ /v2/",
        "    acl local src 127.0.0.1 ::1",
        "    tcp-request inspect-delay 5s",
        "    tcp-request connection reject if { src_conn_rate gt 100 }",
        "    tcp-request session accept",
        "    tcp-request content accept if { req.ssl_hello_type 1 }",
        "    http-request set-header X-Id \"%[uuid]\" unless local",
        "    http-request deny",
        "    http-response del-header Server",
        "    http-after-response set-header Via sluice",
        "    use_backend be_api if api",
        "    use_backend %[req.hdr(host),lower,map(/etc/hosts.map)]",
        "    default_backend be",
        "backend be",
        "    mode http",
        "    tcp-response content accept if { res.len gt 0 }",
        "backend be_api",
        "    mode http",
    ]);
    let p = parse_ok(&text);
    let fe = proxy(&p.config, "fe");
    assert_eq!(fe.acls.len(), 2);
    let a = &fe.acls[0];
    assert_eq!(
        (a.file.as_str(), a.line, a.keyword.as_str()),
        ("t.cfg", 8, "acl")
    );
    assert_eq!(a.words, ["api", "path_beg", "-i", "/api/", "/v2/"]);
    assert_eq!(fe.tcp_request_inspect_delay_ms, Some(5000));
    let c = &fe.tcp_request_connection[0];
    assert_eq!(
        (c.keyword.as_str(), c.words.as_slice()),
        ("tcp-request connection", &["reject".to_string()][..])
    );
    assert_eq!(
        c.cond.as_ref().unwrap().words,
        ["{", "src_conn_rate", "gt", "100", "}"]
    );
    assert_eq!(fe.tcp_request_session[0].keyword, "tcp-request session");
    assert_eq!(fe.tcp_request_content[0].words, ["accept"]);
    let h = &fe.http_request[0];
    assert_eq!(h.words, ["set-header", "X-Id", "%[uuid]"]);
    assert_eq!(
        h.cond,
        Some(Cond {
            negate: true,
            words: vec!["local".into()]
        })
    );
    assert_eq!(
        (
            fe.http_request[1].words.as_slice(),
            &fe.http_request[1].cond
        ),
        (&["deny".to_string()][..], &None)
    );
    assert_eq!(fe.http_response[0].words, ["del-header", "Server"]);
    assert_eq!(fe.http_after_response[0].keyword, "http-after-response");
    assert_eq!(fe.use_backends.len(), 2);
    assert_eq!(fe.use_backends[0].name, "be_api");
    assert_eq!(fe.use_backends[0].cond.as_ref().unwrap().words, ["api"]);
    assert!(fe.use_backends[1].is_dynamic());
    assert_eq!(
        proxy(&p.config, "be").tcp_response_content[0].keyword,
        "tcp-response content"
    );
    // Rules after use_backend: HAProxy's warning (none here, they came before).
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

/// `dispatch` and `option transparent`: kept without `balance`, the
/// dispatch address ignored with HAProxy's warning with it.
#[test]
fn dispatch_and_transparent() {
    let p = parse_ok(&cfg(&[
        "listen l",
        "    bind :80",
        "    dispatch 127.0.0.1:81",
    ]));
    let l = proxy(&p.config, "l");
    assert!(!l.balance_set);
    assert_eq!(
        l.dispatch.as_ref().map(|d| d.1.clone()),
        Some(inet("127.0.0.1", 81))
    );
    assert!(
        warnings(&p).iter().all(|w| !w.contains("dispatch")),
        "{:?}",
        warnings(&p)
    );
    let p = parse_ok(&cfg(&[
        "defaults",
        "    balance roundrobin",
        "backend b",
        "    dispatch 127.0.0.1:81",
    ]));
    assert!(proxy(&p.config, "b").balance_set);
    assert!(
        warnings(&p).contains(
            &"parsing [t.cfg:3] : dispatch address of backend 'b' will be ignored in balance mode."
                .to_string()
        ),
        "{:?}",
        warnings(&p)
    );
    let p = parse_ok(&cfg(&["backend b", "    option transparent"]));
    assert!(proxy(&p.config, "b").options.transparent);
}

/// `server NAME ADDR:0`: no port, as HAProxy 2.6 reads it (the client's
/// destination port; http_reuse_conn_hash.vtc has one).
#[test]
fn server_port_zero_is_no_port() {
    let p = parse_ok(&cfg(&[
        "backend b",
        "    server s1 127.0.0.1:0",
        "    server s2 [::1]:0",
    ]));
    let b = proxy(&p.config, "b");
    assert_eq!(
        b.servers[0].addr,
        Addr::Inet {
            host: ip("127.0.0.1"),
            port: None
        }
    );
    assert_eq!(
        b.servers[1].addr,
        Addr::Inet {
            host: ip("::1"),
            port: None
        }
    );
    let text = cfg(&["backend b", "    server s1 127.0.0.1:0"]);
    if let Some(valid) = haproxy_accepts(&text, "port0") {
        assert!(valid, "haproxy 2.6 accepts port 0 on a server");
    }
}

#[test]
fn haproxy_capability_warnings() {
    let text = with_defaults(&[
        "frontend fe",
        "    bind :80",
        "    balance roundrobin",
        "    option redispatch",
        "    timeout server 5s",
        "    retries 2",
        "    stick on src",
        "    use_backend be",
        "    http-request deny",
        "backend be",
        "    bind :81",
        "    default_backend fe",
        "    timeout client 5s",
    ]);
    let p = parse_ok(&text);
    assert_eq!(
        warnings(&p),
        [
            "parsing [t.cfg:7] : 'balance' ignored because frontend 'fe' has no backend capability.",
            "parsing [t.cfg:8] : 'redispatch' ignored because frontend 'fe' has no backend capability.",
            "parsing [t.cfg:9] : 'timeout server' will be ignored because frontend 'fe' has no backend capability",
            "parsing [t.cfg:10] : 'retries' ignored because frontend 'fe' has no backend capability.",
            "parsing [t.cfg:11] : 'stick' ignored because frontend 'fe' has no backend capability.",
            "parsing [t.cfg:13] : a 'http-request' rule placed after a 'use_backend' rule will still be processed before.",
            "parsing [t.cfg:15] : 'bind' ignored because backend 'be' has no frontend capability.",
            "parsing [t.cfg:16] : 'default_backend' ignored because backend 'be' has no frontend capability.",
            "parsing [t.cfg:17] : 'timeout client' will be ignored because backend 'be' has no frontend capability",
            "parsing [t.cfg:13] : 'http-request' rules ignored for frontend 'fe' as they require HTTP mode.",
        ]
    );
    let be = proxy(&p.config, "be");
    assert!(be.binds.is_empty() && be.default_backend.is_none());
}

#[test]
fn cookie_persistence_is_parsed_as_haproxy_does() {
    let text = with_defaults(&[
        "backend be",
        "    mode http",
        "    cookie SRV insert indirect nocache httponly secure domain .a.example domain .b.example attr SameSite=Lax attr Partitioned",
        "    option persist",
        "    force-persist if { src 127.0.0.1 }",
        "    ignore-persist unless { path_beg /app }",
        "    server s1 10.0.0.1:80 cookie c1",
        "    server s2 10.0.0.2:80",
    ]);
    let p = parse_ok(&text);
    let be = proxy(&p.config, "be");
    let c = be.cookie.as_ref().expect("cookie");
    assert_eq!(c.name, "SRV");
    assert!(c.insert && c.indirect && c.nocache && c.httponly && c.secure);
    assert!(!c.rewrite && !c.prefix && !c.preserve && !c.postonly);
    assert_eq!(c.domain.as_deref(), Some(".a.example; domain=.b.example"));
    assert_eq!(c.attrs.as_deref(), Some("SameSite=Lax; Partitioned"));
    assert!(be.options.persist);
    let kinds: Vec<(bool, bool)> = be
        .persist_rules
        .iter()
        .map(|r| (r.force, r.cond.negate))
        .collect();
    assert_eq!(kinds, [(true, false), (false, true)]);
    assert_eq!(be.server("s1").unwrap().opts.cookie.as_deref(), Some("c1"));
    assert_eq!(be.server("s2").unwrap().opts.cookie, None);

    for (line, err) in [
        ("cookie", "'cookie' expects <cookie_name> as argument."),
        ("cookie S rewrite indirect", "cookie 'rewrite' and 'indirect' modes are incompatible."),
        ("cookie S rewrite insert", "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible."),
        ("cookie S preserve", "cookie 'preserve' requires at least 'insert' or 'indirect'."),
        ("cookie S insert bogus", "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options."),
        ("cookie S insert maxidle", "'maxidle' expects <idletime> in seconds as argument."),
        ("cookie S insert maxlife 3x", "unexpected character 'x' in argument to <maxlife>."),
        ("cookie S insert maxidle 2147483648", "timer overflow in argument <2147483648> to <maxidle>, maximum value is 2147483647 s (~68 years)."),
        ("cookie S insert dynamic", "'cookie dynamic' is not supported by Sluice: it changes which clients keep their server and what Set-Cookie holds."),
        ("force-persist", "'force-persist' requires either 'if' or 'unless' followed by a condition."),
    ] {
        let text = with_defaults(&["backend be", &format!("    {line}")]);
        let e = parse("t.cfg", &text, opts()).unwrap_err();
        assert_eq!(e.errors[0].message, err, "{line}");
    }
}

#[test]
fn harmless_proxy_keywords_warn_and_unknown_ones_fail() {
    let text = with_defaults(&[
        "backend be",
        "    description the app",
        "    hash-type consistent djb2",
        "    http-error status 503",
        "    cookie SRV insert dynamic",
        "    option nolinger",
        "    frobnicate 1",
        "    no frobnicate",
    ]);
    let p = parse("t.cfg", &text, opts()).unwrap_err();
    let e: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        e,
        [
            // Each changes where requests go or what clients receive:
            // refused with the reason, never ignored.
            "parsing [t.cfg:9] : 'cookie dynamic' is not supported by Sluice: it changes which clients keep their server and what Set-Cookie holds.",
            "parsing [t.cfg:10] : 'option nolinger' is not supported by Sluice: it resets connections instead of closing them.",
            "parsing [t.cfg:11] : unknown keyword 'frobnicate' in 'backend' section",
            "parsing [t.cfg:12] : negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping.",
        ]
    );
    assert_eq!(p.errors[2].keyword, "frobnicate");
    assert_eq!((p.errors[2].file.as_str(), p.errors[2].line), ("t.cfg", 11));
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(
        p.warnings[0].to_string(),
        "parsing [t.cfg:6] : 'description' is not supported by Sluice and is ignored."
    );
}

#[test]
fn skipped_and_rejected_sections() {
    let text = with_defaults(&[
        "mailers mta",
        "    mailer smtp1 10.0.0.53:25",
        "backend be",
        "    server s 10.0.0.1:80",
    ]);
    let p = parse_ok(&text);
    assert_eq!(
        warnings(&p)[0],
        "parsing [t.cfg:5] : section 'mailers' is not supported by Sluice and is ignored."
    );
    let e = errors(&with_defaults(&[
        "program p",
        "    command /bin/true",
        "backend be",
    ]));
    assert_eq!(
        e,
        ["parsing [t.cfg:5] : section 'program' is not supported by Sluice."]
    );
}

#[test]
fn userlist_sections_are_read_and_checked() {
    let p = parse_ok(&with_defaults(&[
        "userlist admins",
        "    group ops users bob",
        "    group devs",
        "    user bob insecure-password pw groups devs",
        "    user carol password $6$salt$abc",
    ]));
    let ul = p.config.userlist("admins").expect("userlist");
    assert_eq!(ul.users.len(), 2);
    let bob: Vec<&str> = ul.groups_of("bob").collect();
    assert_eq!(bob, ["devs", "ops"]);
    assert!(ul.check("bob", "pw"));
    assert!(!ul.check("bob", "pW"));
    assert!(!ul.check("carol", "x"));
    let e = errors(&with_defaults(&[
        "userlist admins",
        "    group ops users zed",
        "    user bob insecure-password pw groups nope",
    ]));
    let e2 = errors(&with_defaults(&[
        "userlist admins",
        "    user dan password x",
    ]));
    assert!(
        e2.iter()
            .any(|l| l.contains("t.cfg:6") && l.contains("password hash scheme not supported")),
        "{e2:?}"
    );
    assert!(
        e.iter()
            .any(|l| l.contains("t.cfg:6")
                && l.contains("no such user 'zed' specified in group 'ops'")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|l| l.contains("t.cfg:7")
                && l.contains("no such group 'nope' specified in user 'bob'")),
        "{e:?}"
    );
}

#[test]
fn tls_options_reach_the_model() {
    let p = parse_ok(&with_defaults(&[
        "frontend fe",
        "    bind :443 ssl crt site.pem crt /etc/certs/ alpn h2,http/1.1 ssl-min-ver TLSv1.2 no-tlsv13 strict-sni ciphers ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256:!aNULL",
        "backend be",
        "    server s 1.1.1.1:443 ssl verify required ca-file ca.pem sni str(api.example) alpn http/1.1",
        "    server n 1.1.1.2:443 ssl verify none force-tlsv13",
    ]));
    let b = &proxy(&p.config, "fe").binds[0].tls;
    assert!(b.ssl && b.strict_sni);
    assert_eq!(b.crts, ["site.pem", "/etc/certs/"]);
    assert_eq!(
        b.common.alpn.as_deref(),
        Some(&["h2".to_string(), "http/1.1".to_string()][..])
    );
    assert_eq!(
        b.common.ciphers.as_deref(),
        Some(&["ECDHE-RSA-AES128-GCM-SHA256".to_string()][..])
    );
    assert_eq!(
        sluice_core::cfgparse::tls::tls_versions(&b.common),
        [sluice_core::cfgparse::model::TlsVer::Tlsv12]
    );
    // The DHE suite is warned about once, and left out.
    let w = warnings(&p);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("'ciphers' : cipher suite not implemented by Sluice's TLS (rustls) and left out: DHE-RSA-AES128-GCM-SHA256."),
        "{w:?}"
    );
    let s = &proxy(&p.config, "be").server("s").unwrap().opts.tls;
    assert!(s.ssl);
    assert_eq!(s.sni.as_deref(), Some("api.example"));
    assert_eq!(s.common.ca_file.as_deref(), Some("ca.pem"));
    let n = &proxy(&p.config, "be").server("n").unwrap().opts.tls;
    assert_eq!(
        sluice_core::cfgparse::tls::tls_versions(&n.common),
        [sluice_core::cfgparse::model::TlsVer::Tlsv13]
    );
}

/// Mozilla's generated HAProxy configuration ("intermediate", 2024) loads:
/// the `ssl-default-bind-*` / `ssl-default-server-*` globals reach the
/// `bind` and `server` lines that set nothing themselves (HAProxy's
/// `bind_parse_ssl` / `ssl_sock_init_srv`), a line's own setting wins, the
/// `no-*` switches add up; `ssl-server-verify none` and `tune.ssl.*`.
#[test]
fn tls_global_defaults_reach_bind_and_server_lines() {
    use sluice_core::cfgparse::model::{SrvVerify, TlsVer};
    use sluice_core::cfgparse::tls::tls_versions;
    let p = parse_ok(&cfg(&[
        "global",
        "    ssl-default-bind-curves X25519:prime256v1:secp384r1",
        "    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305",
        "    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
        "    ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets",
        "    ssl-default-server-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
        "    ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384",
        "    ssl-default-server-options no-sslv3 no-tlsv10 no-tlsv11 no-tls-tickets no-tlsv13",
        "    ssl-dh-param-file /etc/haproxy/dhparam",
        "    ssl-server-verify none",
        "    tune.ssl.cachesize 100",
        "    tune.ssl.lifetime 60",
        "defaults",
        "    timeout connect 1s",
        "    timeout client 1s",
        "    timeout server 1s",
        "frontend fe",
        "    bind :443 ssl crt site.pem alpn h2,http/1.1",
        "    bind :444 ciphers ECDHE-RSA-AES256-GCM-SHA384 ssl crt site.pem ssl-max-ver TLSv1.2",
        "    bind :80",
        "backend be",
        "    server s 1.1.1.1:443 ssl",
        "    server t 1.1.1.1:443 ssl verify required ca-file ca.pem ciphersuites TLS_AES_128_GCM_SHA256 no-ssl-reuse crt client.pem",
        "    server u 1.1.1.1:80",
    ]));
    let g = &p.config.global;
    assert_eq!((g.tune_ssl_cachesize, g.tune_ssl_lifetime_s), (100, 60));
    assert_eq!(g.ssl_server_verify, SrvVerify::None);
    let fe = proxy(&p.config, "fe");
    let a = &fe.binds[0].tls;
    assert!(a.prefer_client_ciphers && a.common.no_tls_tickets);
    assert_eq!(a.common.ciphers.as_ref().map(Vec::len), Some(6));
    assert_eq!(a.common.ciphersuites.as_ref().map(Vec::len), Some(3));
    assert_eq!(
        a.common.curves.as_deref(),
        Some(&["X25519".to_string(), "secp256r1".into(), "secp384r1".into()][..])
    );
    assert_eq!(a.common.min_ver, Some(TlsVer::Tlsv12));
    // Its own `ciphers` (before `ssl`) and `ssl-max-ver` win.
    let b = &fe.binds[1].tls;
    assert_eq!(
        b.common.ciphers.as_deref(),
        Some(&["ECDHE-RSA-AES256-GCM-SHA384".to_string()][..])
    );
    assert_eq!(tls_versions(&b.common), [TlsVer::Tlsv12]);
    // No `ssl`: nothing applied.
    assert_eq!(fe.binds[2].tls, Default::default());
    let be = proxy(&p.config, "be");
    let s = &be.server("s").unwrap().opts.tls;
    assert_eq!(s.verify, Some(SrvVerify::None));
    assert!(s.common.no_tls_tickets);
    assert_eq!(tls_versions(&s.common), [TlsVer::Tlsv12]);
    assert_eq!(s.common.ciphers.as_ref().map(Vec::len), Some(2));
    let t = &be.server("t").unwrap().opts.tls;
    assert_eq!(t.verify, Some(SrvVerify::Required));
    assert!(t.no_ssl_reuse && !s.no_ssl_reuse);
    assert_eq!(t.crt.as_deref(), Some("client.pem"));
    assert_eq!(
        t.common.ciphersuites.as_deref(),
        Some(&["TLS_AES_128_GCM_SHA256".to_string()][..])
    );
    assert_eq!(be.server("u").unwrap().opts.tls, Default::default());
    // The DHE suites: one warning, on the global line.
    let w = warnings(&p);
    assert!(
        w.iter().any(|w| w.starts_with("parsing [t.cfg:3] : global section : 'ssl-default-bind-ciphers' : cipher suites not implemented")),
        "{w:?}"
    );
    assert!(
        !w.iter()
            .any(|w| w.contains("ssl-default") && w.contains("ignored")),
        "{w:?}"
    );
}

/// OpenSSL cipher strings as real configurations write them: tags joined
/// by `+`, exclusions, ordering words.
#[test]
fn tls_cipher_strings_with_openssl_tags() {
    let cases: &[(&str, &[&str])] = &[
        (
            "ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:RSA+AESGCM:!aNULL:!MD5:!DSS",
            // `openssl ciphers` gives them in this order.
            &[
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256",
            ],
        ),
        (
            "EECDH+aRSA+AES256:EECDH+CHACHA20",
            &[
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-CHACHA20-POLY1305",
                "ECDHE-RSA-CHACHA20-POLY1305",
            ],
        ),
        (
            "HIGH:!CHACHA20:!ECDSA:@STRENGTH",
            &["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"],
        ),
    ];
    for (list, want) in cases {
        let p = parse_ok(&with_defaults(&[
            "frontend fe",
            &format!("    bind :443 ssl crt a.pem ciphers {list}"),
        ]));
        let got = proxy(&p.config, "fe").binds[0].tls.common.ciphers.clone();
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, Some(want), "{list}");
    }
}

/// What the global TLS defaults cannot honour is refused with file:line,
/// as on a `bind` line.
#[test]
fn tls_global_defaults_beyond_rustls_are_refused() {
    let cases: &[(&str, &str)] = &[
        (
            "    ssl-default-bind-options ssl-min-ver TLSv1.0",
            "parsing [t.cfg:2] : global statement 'ssl-default-bind-options' : 'ssl-min-ver' : TLSv1.0 is not supported",
        ),
        (
            "    ssl-default-server-options force-tlsv11",
            "'force-tlsv11' : TLSv1.1 is not supported",
        ),
        (
            "    ssl-default-bind-options no-foo",
            "parsing [t.cfg:2] : unknown option 'no-foo' on global statement 'ssl-default-bind-options'.",
        ),
        (
            "    ssl-default-server-options prefer-client-ciphers",
            "unknown option 'prefer-client-ciphers' on global statement 'ssl-default-server-options'.",
        ),
        (
            "    ssl-default-bind-ciphers AES128-SHA:DHE-RSA-AES256-SHA",
            "no TLSv1.2 cipher suite that Sluice's TLS (rustls) implements",
        ),
        (
            "    ssl-default-bind-curves X25519:X448",
            "curve 'X448' is not supported by Sluice's TLS",
        ),
        (
            "    ssl-default-bind-sigalgs RSA+SHA256",
            "'ssl-default-bind-sigalgs' is not supported by Sluice: it changes the signature algorithms clients can negotiate.",
        ),
        (
            "    ssl-server-verify maybe",
            "'ssl-server-verify' expects 'none' or 'required' as argument.",
        ),
    ];
    for (line, want) in cases {
        let e = errors(&cfg(&["global", line]));
        assert_eq!(e.len(), 1, "{line}: {e:?}");
        assert!(e[0].contains(want), "{line}: {e:?}");
    }
}

/// What rustls cannot do, and TLS options not implemented yet, are refused
/// with the line and the reason: never clear text or weaker TLS instead.
#[test]
fn tls_beyond_rustls_is_refused_with_the_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "    bind :443 ssl crt a.pem ssl-min-ver TLSv1.1",
            "'ssl-min-ver' : TLSv1.1 is not supported: Sluice's TLS (rustls) implements TLSv1.2 and TLSv1.3 only.",
        ),
        (
            "    bind :443 ssl crt a.pem force-tlsv10",
            "'force-tlsv10' : TLSv1.0 is not supported",
        ),
        (
            "    bind :443 ssl crt a.pem ciphers DHE-RSA-AES256-SHA:AES128-SHA",
            "'ciphers' : no TLSv1.2 cipher suite that Sluice's TLS (rustls) implements in 'DHE-RSA-AES256-SHA:AES128-SHA'",
        ),
        (
            "    bind :443 crt-list l.txt",
            "'crt' or 'crt-list' without 'ssl'",
        ),
        (
            "    bind :443 ssl crt a.pem verify required",
            "verify is enabled but no CA file specified (use 'ca-file').",
        ),
        (
            "    bind :443 ssl",
            "no SSL certificate specified for this bind line (use 'crt').",
        ),
        (
            "    bind :443 crt a.pem",
            "'crt' or 'crt-list' without 'ssl'",
        ),
        (
            "    bind :443 ssl crt a.pem no-tlsv12 no-tlsv13",
            "all SSL/TLS versions are disabled",
        ),
    ];
    for (line, want) in cases {
        let e = errors(&with_defaults(&["frontend fe", line]));
        assert_eq!(e.len(), 1, "{line}: {e:?}");
        assert!(e[0].starts_with("parsing [t.cfg:6] : "), "{e:?}");
        assert!(e[0].contains(want), "{line}: {e:?}");
    }
    let e = errors(&with_defaults(&[
        "backend be",
        "    server s 1.1.1.1:443 ssl",
    ]));
    assert_eq!(e, ["parsing [t.cfg:6] : 'server be/s' : verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default."]);
    // `sni EXPR` other than a constant: kept as an expression, evaluated
    // per stream.
    let p = parse_ok(&with_defaults(&[
        "backend be",
        "    server s 1.1.1.1:443 ssl verify none sni req.hdr(host)",
    ]));
    let s = &proxy(&p.config, "be").server("s").unwrap().opts.tls;
    assert_eq!(
        (s.sni.as_deref(), s.sni_expr.as_deref()),
        (None, Some("req.hdr(host)"))
    );
}

// ---------------------------------------------------------------------------
// Error paths, with a cross-check against a real HAProxy 2.6 when installed

/// One rejected configuration: its lines, the error Sluice reports, and
/// whether HAProxy 2.6 rejects it too (`false`: Sluice is stricter, see
/// docs/configuration.md).
struct Case {
    lines: &'static [&'static str],
    want: &'static str,
    haproxy_rejects: bool,
}

const fn case(lines: &'static [&'static str], want: &'static str) -> Case {
    Case {
        lines,
        want,
        haproxy_rejects: true,
    }
}

const fn stricter(lines: &'static [&'static str], want: &'static str) -> Case {
    Case {
        lines,
        want,
        haproxy_rejects: false,
    }
}

/// Errors found while reading a section.
const PARSE_ERRORS: &[Case] = &[
    case(&["foo bar"], "parsing [t.cfg:1] : unknown keyword 'foo' out of section."),
    case(&["defaults", "    dispatch 127.0.0.1:80"], "parsing [t.cfg:2] : 'dispatch' not allowed in 'defaults' section."),
    case(&["backend b", "    dispatch 127.0.0.1"], "parsing [t.cfg:2] : 'dispatch' : missing port specification in '127.0.0.1'"),
    case(&["backend b", "    dispatch 127.0.0.1:80 x"], "parsing [t.cfg:2] : 'dispatch 127.0.0.1:80' cannot handle unexpected argument 'x'."),
    case(&["global", "    frob 1"], "parsing [t.cfg:2] : unknown keyword 'frob' in 'global' section"),
    case(&["global", "    stats socket"], "parsing [t.cfg:2] : 'stats socket' in global section expects an address or a path to a UNIX socket"),
    case(&["global", "    stats socket /tmp/s level root"], "parsing [t.cfg:2] : 'stats socket' : 'level' only supports 'user', 'operator', and 'admin' (got 'root')"),
    case(&["global", "    stats socket /tmp/s expose-fd"], "parsing [t.cfg:2] : 'stats socket' : 'expose-fd' : missing fd type"),
    case(&["global", "    stats socket /tmp/s expose-fd all"], "parsing [t.cfg:2] : 'stats socket' : 'expose-fd' only supports 'listeners' (got 'all')"),
    case(&["global", "    stats socket /tmp/s frob"], "parsing [t.cfg:2] : 'stats socket' : unknown keyword 'frob'."),
    case(&["global", "    stats timeout 1x"], "parsing [t.cfg:2] : 'stats timeout' : unexpected character 'x' in argument '1x'."),
    case(&["global", "    tune.peers.max-updates-at-once 0"], "parsing [t.cfg:2] : 'tune.peers.max-updates-at-once' expects an integer argument greater than 0."),
    case(&["global", "    nbproc 2"], "parsing [t.cfg:2] : nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on multi-processor machines if available."),
    case(&["global", "    tune.bufsize 0"], "parsing [t.cfg:2] : 'tune.bufsize' expects a positive integer argument."),
    case(&["global", "    tune.bufsize 10"], "parsing [t.cfg:2] : 'tune.bufsize' : value 10 is too small, Sluice needs buffers of at least 512 bytes."),
    case(&["global", "    tune.bufsize 300"], "parsing [t.cfg:2] : 'tune.bufsize' : value 300 is too small, Sluice needs buffers of at least 512 bytes."),
    stricter(&["global", "    tune.bufsize 400"], "parsing [t.cfg:2] : 'tune.bufsize' : value 400 is too small, Sluice needs buffers of at least 512 bytes."),
    stricter(&["global", "    user nobody", "    uid 5"], "parsing [t.cfg:3] : user/uid already specified. Continuing."),
    stricter(&["global", "    uid abc"], "parsing [t.cfg:2] : 'uid' expects an integer argument (got 'abc'); use 'user' for a name."),
    stricter(&["global", "    gid -1"], "parsing [t.cfg:2] : 'gid' expects an integer argument (got '-1'); use 'group' for a name."),
    case(&["global", "    chroot"], "parsing [t.cfg:2] : 'chroot' expects a directory as an argument."),
    case(&["global", "    unix-bind frob 1"], "parsing [t.cfg:2] : 'unix-bind' only supports the 'prefix', 'mode', 'uid', 'gid', 'user' and 'group' options."),
    case(&["global", "    ulimit-n"], "parsing [t.cfg:2] : 'ulimit-n' expects an integer as argument."),
    stricter(&["global", "    maxconn lots"], "parsing [t.cfg:2] : 'maxconn' : unexpected character 'l' in argument 'lots'."),
    case(&["global", "    lua-load /etc/x.lua"], "parsing [t.cfg:2] : 'lua-load': Lua is not supported by Sluice."),
    case(&["global", "    log 127.0.0.1"], "parsing [t.cfg:2] : log : expects <address> and <facility>  as arguments"),
    case(&["global", "    log 127.0.0.1 local9"], "parsing [t.cfg:2] : log : unknown log facility 'local9'"),
    case(&["global", "    log 127.0.0.1 local0 loud"], "parsing [t.cfg:2] : log : unknown optional log level 'loud'"),
    case(&["global", "    log 127.0.0.1 format json local0"], "parsing [t.cfg:2] : log : unknown log format 'json'"),
    case(&["global", "    log 127.0.0.1 local0 info info x"], "parsing [t.cfg:2] : log : cannot handle unexpected argument 'x'"),
    case(&["global", "    log 127.0.0.1 sample 1,3 local0"], "parsing [t.cfg:2] : log : Missing sample size"),
    case(&["global", "    log 127.0.0.1 sample 3-1:5 local0"], "parsing [t.cfg:2] : log : wrong sample range '3-1'"),
    case(&["global", "    log 127.0.0.1 sample 0:5 local0"], "parsing [t.cfg:2] : log : wrong sample range '0'"),
    case(&["global", "    log 127.0.0.1 sample 1-3,2:5 local0"], "parsing [t.cfg:2] : log : ranges are overlapping"),
    case(&["global", "    log 127.0.0.1 sample 1,6:5 local0"], "parsing [t.cfg:2] : log : sample size 5 should be greater or equal to 6 the maximum of the high ranges limits"),
    case(&["global", "    log 127.0.0.1 sample 1:x local0"], "parsing [t.cfg:2] : log : wrong sample size 'x' for sample range '1:x'"),
    case(&["frontend"], "parsing [t.cfg:1] : 'frontend' expects <name> as an argument."),
    case(&["backend b@d"], "parsing [t.cfg:1] : character '@' is not permitted in 'backend' name 'b@d'."),
    case(&["backend b", "    no mode"], "parsing [t.cfg:2] : negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping."),
    case(&["backend b", "    mode health"], "parsing [t.cfg:2] : unknown proxy mode 'health'."),
    case(&["backend b", "    server s1"], "parsing [t.cfg:2] : 'server' expects <name> and <addr>[:<port>] as arguments."),
    case(&["backend b", "    server s1 1.2.3.4:80 frob"], "parsing [t.cfg:2] : 'server b/s1' : unknown keyword 'frob'."),
    case(&["backend b", "    server s1 1.2.3.4:80 weight 300"], "parsing [t.cfg:2] : 'server b/s1' : weight is not within 0 and 256 (300)."),
    case(&["backend b", "    server s1 1.2.3.4:80 inter 2x"], "parsing [t.cfg:2] : 'server b/s1' : 'inter' : unexpected character 'x' in argument '2x'."),
    case(&["backend b", "    server s1 1.2.3.4:80 rise 0"], "parsing [t.cfg:2] : 'server b/s1' : 'rise' has to be > 0."),
    case(&["backend b", "    server s1 1.2.3.4:80 on-marked-down kill"], "parsing [t.cfg:2] : 'server b/s1' : 'on-marked-down' expects 'shutdown-sessions' but got 'kill'."),
    case(&["backend b", "    default-server on-marked-up"], "parsing [t.cfg:2] : 'default-server' of backend 'b' : 'on-marked-up' expects 'shutdown-backup-sessions' but got ''."),
    case(&["backend b", "    server s1 1.2.3.4:99999"], "parsing [t.cfg:2] : 'server b/s1' : invalid port '99999' in '1.2.3.4:99999'"),
    case(&["frontend f", "    server s1 1.2.3.4:80"], "parsing [t.cfg:2] : 'server' not allowed because frontend 'f' has no backend capability."),
    case(&["frontend f", "    default-server check"], "parsing [t.cfg:2] : 'default-server' not allowed because frontend 'f' has no backend capability."),
    case(&["frontend f", "    bind 1.2.3.4"], "parsing [t.cfg:2] : 'bind' : missing port specification in '1.2.3.4'"),
    case(&["frontend f", "    bind"], "parsing [t.cfg:2] : 'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments."),
    case(&["frontend f", "    bind :80 frob"], "parsing [t.cfg:2] : 'bind :80' in section 'frontend' : unknown keyword 'frob'."),
    case(&["frontend f", "    timeout client 2x"], "parsing [t.cfg:2] : 'timeout client' : unexpected character 'x' in argument '2x'."),
    case(&["frontend f", "    timeout client"], "parsing [t.cfg:2] : 'timeout client' expects an integer value (in milliseconds)"),
    case(&["frontend f", "    timeout client 25d"], "parsing [t.cfg:2] : timer overflow in argument <25d> to <timeout client>, maximum value is 2147483647 ms (~24.8 days)."),
    case(&["frontend f", "    timeout bogus 1s"], "parsing [t.cfg:2] : 'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got 'bogus')"),
    case(&["backend b", "    balance weird"], "parsing [t.cfg:2] : balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options."),
    case(&["backend b", "    balance uri len 0"], "parsing [t.cfg:2] : balance uri : 'len' expects a positive integer (got '0')."),
    case(&["backend b", "    balance uri frob"], "parsing [t.cfg:2] : balance uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got 'frob')."),
    case(&["backend b", "    balance random(0)"], "parsing [t.cfg:2] : balance random : number of draws must be at least 1."),
    case(&["backend b", "    balance random(2x"], "parsing [t.cfg:2] : balance random : unexpected character 'x' after argument."),
    case(&["backend b", "    balance hdr()"], "parsing [t.cfg:2] : balance hdr requires an http header field name."),
    case(&["backend b", "    balance rdp-cookie("], "parsing [t.cfg:2] : balance rdp-cookie : missing cookie name."),
    case(&["backend b", "    balance url_param"], "parsing [t.cfg:2] : balance url_param requires an URL parameter name."),
    case(&["backend b", "    balance url_param a b"], "parsing [t.cfg:2] : balance url_param only accepts 'check_post' modifier (got 'b')."),
    case(&["backend b", "    balance hash"], "parsing [t.cfg:2] : balance hash requires a sample expression."),
    case(&["backend b", "    balance hash a b"], "parsing [t.cfg:2] : balance hash takes no other argument (got 'b')."),
    case(&["backend b", "    hash-type foo"], "parsing [t.cfg:2] : 'hash-type' only supports 'consistent' and 'map-based'."),
    case(&["backend b", "    hash-type consistent none"], "parsing [t.cfg:2] : 'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions."),
    case(&["backend b", "    hash-type consistent sdbm x"], "parsing [t.cfg:2] : 'hash-type' only supports 'avalanche' as a modifier for hash functions."),
    case(&["backend b", "    hash-balance-factor 50"], "parsing [t.cfg:2] : 'hash-balance-factor' must be 0 or greater than 100."),
    stricter(&["backend b", "    retries many"], "parsing [t.cfg:2] : 'retries' : unexpected character 'm' in argument 'many'."),
    case(&["backend b", "    option frob"], "parsing [t.cfg:2] : unknown option 'frob'."),
    case(&["backend b", "    no option httplog"], "parsing [t.cfg:2] : negation/default is not supported for option 'httplog'."),
    case(&["backend b", "    option forwardfor except"], "parsing [t.cfg:2] : 'option forwardfor except' expects <address>[/mask] as argument."),
    case(&["backend b", "    http-reuse sometimes"], "parsing [t.cfg:2] : 'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'."),
    case(&["backend b", "    http-check expect status"], "parsing [t.cfg:2] : 'http-check expect' : 'status' expects an argument."),
    case(&["backend b", "    http-check expect stringx foo"], "parsing [t.cfg:2] : 'http-check expect' : only supports min-recv, [!]string, [!]rstring, [!]status, [!]rstatus, [!]hdr, comment, ok-status, error-status or tout-status but got 'stringx' as argument."),
    case(&["backend b", "    http-check send meth"], "parsing [t.cfg:2] : 'http-check send' : 'meth' expects a string as argument."),
    stricter(&["backend b", "    http-check expect string-lf x"], "parsing [t.cfg:2] : 'http-check expect' : 'string-lf' is not supported by Sluice."),
    stricter(&["backend b", "    http-check connect send-proxy"], "parsing [t.cfg:2] : 'http-check connect' : 'send-proxy' is not supported by Sluice (supported: default, port, addr, ssl, sni, alpn, linger, comment)."),
    case(&["frontend f", "    use_backend"], "parsing [t.cfg:2] : 'use_backend' expects a backend name."),
    case(&["backend b", "    stick frob src"], "parsing [t.cfg:2] : 'stick' expects 'on', 'match', or 'store'."),
    case(&["backend b", "    stick on"], "parsing [t.cfg:2] : 'stick' expects a fetch method."),
    case(&["backend b", "    stick on src frob"], "parsing [t.cfg:2] : 'stick': unknown keyword 'frob'."),
    case(&["backend b", "    stick-table type ip size 1k peers"], "parsing [t.cfg:2] : stick-table: missing argument after 'peers'."),
    case(&["backend b", "    stick-table type ip"], "parsing [t.cfg:2] : stick-table: missing size."),
    case(&["frontend f", "    acl a"], "parsing [t.cfg:2] : error detected while parsing ACL 'a' : missing fetch method."),
    case(&["frontend f", "    acl b$d src 1.2.3.4"], "parsing [t.cfg:2] : character '$' is not permitted in 'acl' name 'b$d'."),
    case(&["frontend f", "    tcp-request frob accept"], "parsing [t.cfg:2] : 'tcp-request' expects 'inspect-delay', 'connection', 'session' or 'content' in frontend 'f' (got 'frob')"),
    case(&["backend b", "    tcp-request connection accept"], "parsing [t.cfg:2] : tcp-request connection is not allowed because backend b is not a frontend"),
    case(&["frontend f", "    http-request"], "parsing [t.cfg:2] : 'http-request' expects an action."),
    case(&["defaults", "    bind :80"], "parsing [t.cfg:2] : 'bind' not allowed in 'defaults' section."),
    case(&["defaults", "    server s 1.1.1.1:1"], "parsing [t.cfg:2] : 'server' not allowed in 'defaults' section."),
    case(&["defaults", "    stick-table type ip size 1"], "parsing [t.cfg:2] : 'stick-table' not allowed in 'defaults' section."),
    case(&["defaults", "    acl a src 1.1.1.1"], "parsing [t.cfg:2] : 'acl' not allowed in anonymous 'defaults' section."),
    case(&["frontend f from nowhere"], "parsing [t.cfg:1] : defaults section 'nowhere' not found for frontend 'f'."),
    case(&["global", "    .if"], "parsing [t.cfg:2] : non-terminated '.if' block."),
    // Issue 18: rule families where HAProxy 2.6 refuses them.
    case(&["frontend f", "    tcp-response content accept"], "parsing [t.cfg:2] : tcp-response content is only allowed in 'backend' sections or 'defaults' section with a name"),
    case(&["backend b", "    use-server s"], "parsing [t.cfg:2] : 'use-server' requires either 'if' or 'unless' followed by a condition."),
    case(&["defaults d", "    use-server s if TRUE"], "parsing [t.cfg:2] : 'use-server' not allowed in 'defaults' section."),
];

#[test]
fn every_parse_error_names_file_line_and_says_what_is_wrong() {
    for c in PARSE_ERRORS {
        let e = errors(&cfg(c.lines));
        assert_eq!(e, [c.want], "{:?}", c.lines);
    }
}

/// Errors only `Config::check` finds: each configuration parses.
const CHECK_ERRORS: &[Case] = &[
    case(&["backend b", "    balance roundrobin", "    option transparent"], "parsing [t.cfg:1] : backend 'b' cannot use both transparent and balance mode."),
    case(&["defaults", "    balance leastconn", "backend b", "    option transparent"], "parsing [t.cfg:3] : backend 'b' cannot use both transparent and balance mode."),
    case(&["frontend f", "    bind :80", "    default_backend nope"], "parsing [t.cfg:3] : Proxy 'f': unable to find required default_backend: 'nope'."),
    case(&["frontend f", "    bind :80", "    use_backend nope if TRUE"], "parsing [t.cfg:3] : Proxy 'f': unable to find required use_backend: 'nope'."),
    case(&["frontend f", "    bind :80", "    default_backend f"], "parsing [t.cfg:3] : Proxy 'f': unable to find required default_backend: 'f'."),
    case(&["listen l", "    bind :80", "    default_backend l"], "parsing [t.cfg:3] : Proxy 'l': loop detected for default_backend: 'l'."),
    case(&["frontend f", "    mode http", "    bind :80", "    default_backend b", "backend b", "    mode tcp"], "parsing [t.cfg:4] : http frontend 'f' (t.cfg:1) tries to use incompatible tcp backend 'b' (t.cfg:5) as its default backend (see 'mode')."),
    case(&["listen f", "    mode http", "    bind :80", "    use_backend b if TRUE", "backend b"], "parsing [t.cfg:4] : http proxy 'f' (t.cfg:1) tries to use incompatible tcp backend 'b' (t.cfg:5) in a 'use_backend' rule (see 'mode')."),
    case(&["backend b", "    stick on src"], "parsing [t.cfg:2] : Proxy 'b': unable to find stick-table 'b'."),
    case(&["backend b", "    stick-table type ip size 1", "    stick on src table nope"], "parsing [t.cfg:3] : Proxy 'b': unable to find stick-table 'nope'."),
    case(&["backend b", "    stick-table type ip size 1 peers nope"], "parsing [t.cfg:2] : Proxy 'b': unable to find sync peers 'nope'."),
    case(&["frontend f", "    bind :80", "    tcp-request connection track-sc0 src"], "parsing [t.cfg:3] : Proxy 'f': unable to find table 'f' referenced by track-sc0."),
    case(&["frontend f", "    mode http", "    bind :80", "    http-request track-sc1 src table m/t"], "parsing [t.cfg:4] : Proxy 'f': unable to find table 'm/t' referenced by track-sc1."),
    case(&["backend b", "backend b"], "parsing [t.cfg:2] : backend 'b' has the same name as backend 'b' declared at t.cfg:1."),
    // Issue 18: use-server targets, defaults holding rules, TCP to HTTP.
    stricter(&["frontend f", "    bind :80", "    default_backend b", "backend b", "    mode http"], "parsing [t.cfg:3] : tcp frontend 'f' (t.cfg:1) uses http backend 'b' (t.cfg:4) as its default backend: Sluice does not upgrade a TCP stream to HTTP, so the backend's HTTP rules and options would not run; use 'mode http' in both or 'mode tcp' in both."),
    case(&["backend b", "    use-server nope if TRUE", "    server s 1.1.1.1:1"], "parsing [t.cfg:2] : backend 'b' : unable to find server 'nope' referenced in a 'use-server' rule."),
    case(&["defaults d", "    http-request deny", "frontend f from d", "    bind :80", "backend b from d"], "parsing [t.cfg:5] : frontends and backends cannot inherit from the same defaults section if it defines TCP/HTTP rules (defaults section at t.cfg:1)."),
    case(&["defaults d", "    http-request deny", "listen l from d", "    bind :80"], "parsing [t.cfg:3] : a listen section cannot inherit from a defaults section defining TCP/HTTP rules."),
    case(&["defaults d", "    http-request deny", "defaults e from d"], "parsing [t.cfg:3] : a defaults section cannot inherit from a defaults section defining TCP/HTTP rules (defaults section at t.cfg:1)."),
    case(&["defaults d", "    tcp-request connection accept", "backend b from d"], "parsing [t.cfg:3] : a backend section cannot inherit from a defaults section defining 'tcp-request connection' or 'tcp-request session' rules (defaults section at t.cfg:1)."),
    case(&["defaults d", "    tcp-response content accept", "frontend f from d", "    bind :80"], "parsing [t.cfg:3] : a frontend section cannot inherit from a defaults section defining 'tcp-response content' rules (defaults section at t.cfg:1)."),
    case(&["frontend x", "    bind :80", "listen x", "    bind :81"], "parsing [t.cfg:3] : proxy 'x' has the same name as frontend 'x' declared at t.cfg:1."),
    case(&["backend b", "    server s 1.1.1.1:1", "    server s 1.1.1.1:2"], "parsing [t.cfg:3] : backend 'b', another server named 's' was already defined at line 2, please use distinct names."),
    case(&["backend b", "    server s 1.1.1.1:1 id 3", "    server t 1.1.1.1:2 id 3"], "parsing [t.cfg:3] : 'server b/t' : 'id' : custom id 3 already used by 'server s'."),
    case(&["peers m", "    peer testhost 1.1.1.1:1", "peers m", "    peer testhost 1.1.1.1:1"], "parsing [t.cfg:3] : peers section 'm' has the same name as another peers section declared at t.cfg:1."),
    stricter(&["peers m", "    peer testhost 1.1.1.1:1", "    peer B 1.1.1.1:2", "    peer B 1.1.1.1:3"], "parsing [t.cfg:4] : peers section 'm': peer 'B' is already declared at t.cfg:3."),
    stricter(&["peers m", "    peer testhost 1.1.1.1:1", "    table t type ip size 1", "    table t type ip size 2"], "parsing [t.cfg:4] : peers section 'm': table 't' is already declared at t.cfg:3."),
];

#[test]
fn every_check_error_names_file_line() {
    for c in CHECK_ERRORS {
        let text = cfg(c.lines);
        let (config, d) = {
            let mut p = Parser::new(opts());
            p.feed("t.cfg", &text);
            p.into_parts()
        };
        assert!(
            d.errors.is_empty(),
            "{:?}: parse errors {:?}",
            c.lines,
            d.errors
        );
        let found: Vec<String> = config
            .check()
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found, [c.want], "{:?}", c.lines);
        assert_eq!(errors(&text), [c.want]);
    }
}

/// `haproxy -c` on `text`: `Some(valid)`, or `None` without a `haproxy`.
fn haproxy_accepts(text: &str, tag: &str) -> Option<bool> {
    haproxy_accepts_bytes(text.as_bytes(), tag)
}

/// `haproxy -c` on a file holding `text`.
fn haproxy_accepts_bytes(text: &[u8], tag: &str) -> Option<bool> {
    let dir = std::env::temp_dir().join(format!("sluice-cfgparse-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, text).ok()?;
    let out = std::process::Command::new("haproxy")
        .args(["-c", "-L", "testhost", "-f"])
        .arg(&file)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    // 0: valid; 2: valid but nothing to listen on.
    Some(matches!(out.ok()?.status.code(), Some(0 | 2)))
}

#[test]
fn haproxy_2_6_agrees_with_the_error_cases() {
    let all = PARSE_ERRORS.iter().chain(CHECK_ERRORS);
    let mut checked = 0;
    let mut disagree = Vec::new();
    for (i, c) in all.enumerate() {
        let Some(valid) = haproxy_accepts(&cfg(c.lines), &format!("case{i}")) else {
            eprintln!("haproxy is not installed: cross-check skipped");
            return;
        };
        if valid == c.haproxy_rejects {
            disagree.push(c.lines);
        }
        checked += 1;
    }
    assert!(disagree.is_empty(), "haproxy disagrees on {disagree:#?}");
    assert!(checked > 70);
}

// ---------------------------------------------------------------------------
// Real configurations

#[test]
fn the_peers_capture_configuration_parses() {
    let text = read("core/tests/data/captures/session/haproxy-A.cfg");
    let p = parse("haproxy-A.cfg", &text, ParseOptions::new("somehost")).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let c = &p.config;
    assert_eq!(c.local_peer, "A");
    let g = &c.global;
    assert_eq!(
        g.stats_sockets[0].addr,
        Addr::Unix("./peer-A/admin.sock".into())
    );
    assert_eq!(
        (g.stats_sockets[0].level, g.stats_sockets[0].mode),
        (StatsLevel::Admin, Some(0o600))
    );
    assert_eq!((g.stats_timeout_ms, g.nbthread), (60_000, Some(1)));

    let mesh = c.peers_section("mesh").unwrap();
    assert_eq!(
        c.local_peer_of(mesh).unwrap().addr,
        Some(inet("127.0.0.1", 10401))
    );
    assert_eq!(mesh.peer("B").unwrap().addr, Some(inet("127.0.0.1", 10402)));

    // What A sent in its TABLE_DEFINITION messages (A-to-B.decoded.txt):
    // name, key type, key length, data types bitfield, expire.
    let wire: Vec<(&str, u8, usize, u64, Option<u32>)> = c
        .tables()
        .map(|t| {
            let p = &t.params;
            (
                p.wire_name.as_str(),
                p.key_type.wire_id(),
                p.key_size,
                p.data_types_bitfield(),
                p.expire_ms,
            )
        })
        .collect();
    let ten_min = Some(600_000);
    assert_eq!(
        wire,
        [
            ("/t_ip", 4, 4, 0x2437, ten_min),
            ("/t_int", 2, 4, 0x2437, ten_min),
            ("/t_str", 6, 33, 0x2437, ten_min),
            ("/t_bin", 7, 16, 0x2437, ten_min),
            ("/t_ip6", 5, 16, 0x1d1_0040, ten_min),
            ("be_stick", 4, 4, 0x8_0001, ten_min),
        ]
    );
    let t_ip6 = &c.table("mesh/t_ip6").unwrap().params;
    let gpc_rate = t_ip6.store_spec(DataType::GPC_RATE).unwrap();
    assert_eq!((gpc_rate.array_len, gpc_rate.period_ms), (2, 10_000));
    assert_eq!(
        t_ip6
            .store_spec(DataType::BYTES_OUT_RATE)
            .unwrap()
            .period_ms,
        60_000
    );
    assert_eq!(
        c.table("be_stick").unwrap().params.peers.as_deref(),
        Some("mesh")
    );

    let fe = proxy(c, "fe_track");
    assert_eq!(
        (fe.mode, fe.binds[0].addrs[0].addr.clone()),
        (Mode::Http, inet("127.0.0.1", 10501))
    );
    let r: Vec<(&[String], Option<&Cond>)> = fe
        .http_request
        .iter()
        .map(|r| (r.words.as_slice(), r.cond.as_ref()))
        .collect();
    assert_eq!(
        r[0].0,
        ["track-sc0", "req.hdr(x-bin)", "table", "mesh/t_bin"]
    );
    assert_eq!(
        r[0].1.unwrap().words,
        ["{", "req.hdr(x-bin)", "-m", "found", "}"]
    );
    assert_eq!(r[1].0, ["sc-inc-gpc0(0)"]);
    // The quoted "ok\n" keeps its escaped newline.
    assert_eq!(
        r[2].0,
        [
            "return",
            "status",
            "200",
            "content-type",
            "text/plain",
            "string",
            "ok\n"
        ]
    );
    assert_eq!(r[2].1, None);
    assert_eq!(fe.http_request[2].line, 26);

    let fs = proxy(c, "fe_stick");
    assert_eq!(fs.default_backend.as_ref().unwrap().1, "be_stick");
    let be = proxy(c, "be_stick");
    assert_eq!(be.stick_rules[0].expr, "src");
    assert_eq!(be.server("s1").unwrap().addr, inet("127.0.0.1", 10501));
    assert_eq!(be.timeouts.connect_ms, Some(2000));
}

#[test]
fn the_other_capture_configurations_parse() {
    for (file, me) in [
        ("core/tests/data/captures/session/haproxy-B.cfg", "B"),
        ("core/tests/data/captures/reload/haproxy-A.cfg", "A"),
    ] {
        let p = parse(file, &read(file), ParseOptions::new("x")).unwrap();
        assert_eq!(p.config.local_peer, me);
        assert!(p.warnings.is_empty(), "{file}: {:?}", p.warnings);
    }
}

const EXAMPLES: [&str; 4] = [
    "examples/peers-mesh.cfg",
    "examples/peers-mesh-2x.cfg",
    "examples/tcp-lb.cfg",
    "examples/http-lb.cfg",
];

#[test]
fn the_examples_parse() {
    for f in EXAMPLES {
        let mut o = ParseOptions::new("node1");
        o.local_peer = Some("node1".into());
        let p = parse(f, &read(f), o).unwrap_or_else(|e| panic!("{f}:\n{e}"));
        for w in &p.warnings {
            // Only what the examples do on purpose.
            let expected = w.message.contains("-L") || w.message.contains("v6only");
            assert!(expected, "{f}: {w}");
        }
    }
}

#[test]
fn example_peers_mesh() {
    let mut o = ParseOptions::new("node2");
    o.local_peer = Some("node2".into());
    let p = parse("peers-mesh.cfg", &read("examples/peers-mesh.cfg"), o).unwrap();
    let c = &p.config;
    let mesh = c.peers_section("mesh").unwrap();
    assert_eq!(mesh.peers.len(), 3);
    assert_eq!(mesh.local_addr("node2"), Some(&inet("10.0.0.2", 10000)));
    let keys = &c.table("mesh/api_keys").unwrap().params;
    assert_eq!(
        (keys.key_type, keys.key_size, keys.expire_ms),
        (KeyType::String, 65, Some(3_600_000))
    );
    assert_eq!(
        proxy(c, "be_app")
            .stick_table
            .as_ref()
            .unwrap()
            .params
            .peers
            .as_deref(),
        Some("mesh")
    );
    assert_eq!(proxy(c, "fe_web").http_request.len(), 3);
}

#[test]
fn example_tcp_load_balancer() {
    let p = parse("tcp-lb.cfg", &read("examples/tcp-lb.cfg"), opts()).unwrap();
    let pg = proxy(&p.config, "postgres");
    assert_eq!(pg.kind, ProxyKind::Listen);
    assert_eq!(
        (pg.mode, pg.balance.clone(), pg.retries, pg.maxconn),
        (Mode::Tcp, Balance::RoundRobin, 3, Some(2000))
    );
    assert!(pg.options.tcp_check && pg.options.redispatch && pg.options.tcplog);
    let t = &pg.timeouts;
    assert_eq!(
        (t.connect_ms, t.client_ms, t.tunnel_ms, t.check_ms),
        (Some(3000), Some(60_000), Some(3_600_000), Some(2000))
    );
    assert_eq!(pg.binds.len(), 2);
    assert_eq!(pg.servers.len(), 4);
    let pg3 = pg.server("pg3").unwrap();
    assert!(pg3.opts.check && pg3.opts.send_proxy_v2);
    assert_eq!(
        (pg3.opts.weight, pg3.opts.maxconn, pg3.opts.fastinter_ms),
        (50, Some(500), Some(1000))
    );
    assert!(pg.server("pg-standby").unwrap().opts.backup);
    let redis = proxy(&p.config, "redis");
    assert_eq!(redis.balance, Balance::First);
    assert!(redis.binds[0].accept_proxy);
    assert_eq!(redis.tcp_request_content[0].words, ["reject"]);
    assert!(redis.server("r2").unwrap().opts.disabled);
}

#[test]
fn example_http_load_balancer() {
    let p = parse("http-lb.cfg", &read("examples/http-lb.cfg"), opts()).unwrap();
    let c = &p.config;
    assert_eq!(
        (c.global.tune_bufsize, c.global.maxrewrite()),
        (32768, 4096)
    );
    let fe = proxy(c, "fe_http");
    assert_eq!(fe.mode, Mode::Http);
    assert_eq!(
        fe.use_backends
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["be_api", "be_static"]
    );
    assert_eq!(fe.acls.len(), 3);
    assert_eq!(
        fe.stick_table.as_ref().unwrap().params.key_type,
        KeyType::Ipv6
    );
    let app = proxy(c, "be_app");
    assert_eq!(app.balance, Balance::LeastConn);
    assert_eq!(
        app.http_check_expects[0].pattern,
        HttpCheckMatch::Status(vec![(200, 399)])
    );
    assert!(app.servers.iter().all(|s| s.opts.check && s.opts.fall == 2));
    assert_eq!(app.options.httpchk.as_ref().unwrap().uri, "/health");
    let api = proxy(c, "be_api");
    assert!(api.http_check_expects[0].negate);
    assert_eq!(api.balance, Balance::Source);
    assert_eq!(
        proxy(c, "be_static").http_request[0].words,
        ["set-path", "%[path,regsub(^/static/,/)]"]
    );
}

#[test]
fn haproxy_2_6_accepts_the_examples() {
    for (i, f) in EXAMPLES.iter().enumerate() {
        // HAProxy is given -L testhost; name the local peer after it.
        let text = read(f).replace("node1", "testhost");
        match haproxy_accepts(&text, &format!("example{i}")) {
            None => return eprintln!("haproxy is not installed: cross-check skipped"),
            Some(valid) => assert!(valid, "haproxy rejects {f}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Collecting errors, bounds, robustness

#[test]
fn all_errors_of_a_file_are_collected() {
    let text = with_defaults(&[
        "frontend fe",
        "    bind :80",
        "    timeout client 1x",
        "    frob",
        "backend be",
        "    server s1",
        "    balance nope",
    ]);
    let e = parse("t.cfg", &text, opts()).unwrap_err();
    let lines: Vec<u32> = e.errors.iter().map(|d| d.line).collect();
    assert_eq!(lines, [7, 8, 10, 11]);
    let kws: Vec<&str> = e.errors.iter().map(|d| d.keyword.as_str()).collect();
    assert_eq!(kws, ["timeout", "frob", "server", "balance"]);
    // The Display of the whole set: one HAProxy-style line per error.
    assert_eq!(e.to_string().lines().count(), 4);
    assert!(e
        .to_string()
        .starts_with("parsing [t.cfg:7] : 'timeout client'"));
}

#[test]
fn parsing_gives_up_after_max_errors() {
    let mut lines = vec!["global"];
    lines.extend(std::iter::repeat_n("    frob", 200));
    let e = parse("t.cfg", &cfg(&lines), opts()).unwrap_err();
    assert_eq!(e.errors.len(), 51);
    assert_eq!(
        e.errors[50].to_string(),
        "parsing [t.cfg:52] : too many fatal errors (50), stopping now."
    );
    let mut o = opts();
    o.max_errors = 3;
    let e = parse("t.cfg", &cfg(&lines), o).unwrap_err();
    assert_eq!(e.errors.len(), 4);
}

#[test]
fn several_files_make_one_configuration() {
    let with_first_two = || {
        let mut p = Parser::new(opts());
        let global = with_defaults(&["global", "    maxconn 10"]);
        p.feed("global.cfg", &global);
        let fe = cfg(&["frontend fe", "    bind :80", "    default_backend be"]);
        p.feed("fe.cfg", &fe);
        p
    };
    // Each file starts outside any section, as in HAProxy.
    let mut p = with_first_two();
    p.feed("be.cfg", &cfg(&["    server s 1.1.1.1:1", "backend be"]));
    let e = p.finish().unwrap_err();
    assert_eq!(
        e.to_string(),
        "parsing [be.cfg:1] : unknown keyword 'server' out of section."
    );

    let mut p = with_first_two();
    p.feed("be.cfg", &cfg(&["backend be", "    server s 1.1.1.1:1"]));
    let parsed = p.finish().unwrap();
    let be = proxy(&parsed.config, "be");
    assert_eq!(
        be.place,
        Place {
            file: "be.cfg".into(),
            line: 1
        }
    );
    assert_eq!(be.timeouts.connect_ms, Some(1000));
    assert_eq!(parsed.config.global.maxconn, Some(10));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Words that reach deep into the keyword parsers.
    const VOCAB: &[&str] = &[
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "peers",
        "resolvers",
        "userlist",
        "fe",
        "be",
        "mesh",
        "from",
        "d",
        "stats",
        "socket",
        "timeout",
        "level",
        "admin",
        "mode",
        "600",
        "localpeer",
        "maxconn",
        "nbthread",
        "tune.bufsize",
        "tune.maxrewrite",
        "tune.peers.max-updates-at-once",
        "log",
        "stdout",
        "local0",
        "info",
        "len",
        "format",
        "raw",
        "pidfile",
        "daemon",
        "setenv",
        "unsetenv",
        "resetenv",
        "peer",
        "server",
        "bind",
        "table",
        "type",
        "ip",
        "ipv6",
        "string",
        "binary",
        "integer",
        "size",
        "expire",
        "store",
        "nopurge",
        "gpc0",
        "conn_rate(10s)",
        "gpt(2)",
        "gpc_rate(2,10s)",
        "gpc_rate(",
        "disabled",
        "http",
        "tcp",
        "default_backend",
        "use_backend",
        "if",
        "unless",
        "{",
        "}",
        "!",
        "default-server",
        "weight",
        "check",
        "inter",
        "rise",
        "fall",
        "id",
        "backup",
        "send-proxy",
        "client",
        "connect",
        "queue",
        "balance",
        "roundrobin",
        "first",
        "retries",
        "option",
        "no",
        "default",
        "redispatch",
        "httplog",
        "forwardfor",
        "except",
        "httpchk",
        "http-reuse",
        "always",
        "http-check",
        "expect",
        "status",
        "200-399",
        "stick-table",
        "stick",
        "on",
        "match",
        "store-request",
        "acl",
        "src",
        "tcp-request",
        "connection",
        "content",
        "inspect-delay",
        "http-request",
        "deny",
        "track-sc0",
        "http-response",
        ":80",
        "*:8080",
        "[::1]:443",
        "::1:80",
        "1.2.3.4",
        "1.2.3.4:0",
        "unix@/x",
        "/run/s",
        "10s",
        "2x",
        "0",
        "4294967296",
        "99999999999999999999",
        "1k",
        "16m",
        "-1",
        "\"",
        "'",
        "\\",
        "\\x",
        "\\x4",
        "$",
        "\"$X\"",
        "\"${X\"",
        "\"${X-d}\"",
        "\"${X[*]}\"",
        "#",
        ".if",
        ".elif",
        ".else",
        ".endif",
        ".notice",
        ".alert",
        "defined(X)",
        "streq(a,b)",
        "&&",
        "||",
        "(",
        ")",
        "\t",
        "\r",
        "\0",
    ];

    fn config_text() -> impl Strategy<Value = String> {
        let word = prop::sample::select(VOCAB);
        let line = (prop::collection::vec(word, 0..10), any::<bool>())
            .prop_map(|(w, indent)| format!("{}{}", if indent { "    " } else { "" }, w.join(" ")));
        (prop::collection::vec(line, 0..40), any::<bool>()).prop_map(|(lines, lf)| {
            let mut s = lines.join("\n");
            if lf {
                s.push('\n');
            }
            s
        })
    }

    /// Section headers, then lines that start with one of their keywords.
    const HEADERS: &[&str] = &[
        "global",
        "defaults",
        "defaults d",
        "frontend fe",
        "backend be",
        "listen li",
        "peers mesh",
    ];
    const KEYWORDS: &[&str] = &[
        "stats socket",
        "stats timeout",
        "localpeer",
        "maxconn",
        "nbthread",
        "tune.bufsize",
        "log",
        "no log",
        "pidfile",
        "setenv",
        "peer",
        "server",
        "bind",
        "table",
        "disabled",
        "mode",
        "default_backend",
        "use_backend",
        "default-server",
        "timeout",
        "balance",
        "retries",
        "option",
        "no option",
        "default option",
        "http-reuse",
        "http-check expect",
        "stick-table",
        "stick on",
        "stick match",
        "stick",
        "acl",
        "tcp-request connection",
        "tcp-request",
        "http-request",
        "http-response",
        "tcp-response content",
    ];

    fn sectioned_text() -> impl Strategy<Value = String> {
        let word = prop::sample::select(VOCAB);
        let line = (
            prop::sample::select(KEYWORDS),
            prop::collection::vec(word, 0..6),
        )
            .prop_map(|(k, w)| format!("    {k} {}", w.join(" ")));
        let section = (
            prop::sample::select(HEADERS),
            prop::collection::vec(line, 0..12),
        )
            .prop_map(|(h, lines)| format!("{h}\n{}\n", lines.join("\n")));
        prop::collection::vec(section, 1..6).prop_map(|s| s.concat())
    }

    fn exercise(text: &str) {
        let env = |n: &str| (n == "X").then(|| "a b".to_string());
        let mut o = opts();
        o.env = Some(&env);
        let mut p = Parser::new(o);
        p.feed("f.cfg", text);
        let (mut config, diags) = p.into_parts();
        for d in diags.errors.iter().chain(&diags.warnings) {
            assert!(d.line >= 1 && d.to_string().starts_with("parsing [f.cfg:"));
        }
        config.link_stick_rules();
        let _ = config.check();
        let _ = parse("f.cfg", text, opts());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn on_arbitrary_text(text in ".{0,400}") {
            exercise(&text);
        }

        #[test]
        fn on_config_shaped_text(text in config_text()) {
            exercise(&text);
        }

        #[test]
        fn on_keyword_lines_in_sections(text in sectioned_text()) {
            exercise(&text);
        }
    }
}

#[test]
fn the_documentation_lists_every_ignored_and_refused_keyword_in_its_class() {
    use sluice_core::cfgparse::ignored;
    let doc = read("docs/configuration.md");
    let part = |from: &str, to: &str| -> String {
        let a = doc
            .find(from)
            .unwrap_or_else(|| panic!("no '{from}' in the doc"));
        let b = a + doc[a..]
            .find(to)
            .unwrap_or_else(|| panic!("no '{to}' after '{from}'"));
        doc[a..b].to_string()
    };
    let harmless_doc = part(
        "## Accepted with a warning, not acted on",
        "## Refused until implemented",
    );
    let refused_doc = part(
        "## Refused until implemented",
        "## Where Sluice differs from HAProxy",
    );
    let harmless: Vec<&str> = [
        ignored::SKIPPED_SECTIONS,
        ignored::GLOBAL,
        ignored::PROXY,
        ignored::OPTIONS,
    ]
    .iter()
    .flat_map(|l| l.iter().copied())
    .chain(ignored::BIND_OPTIONS.iter().map(|(n, _)| *n))
    .chain(ignored::SERVER_OPTIONS.iter().map(|(n, _)| *n))
    .collect();
    let refused: Vec<&str> = [ignored::REJECTED_SECTIONS, ignored::TLS_OPTIONS]
        .iter()
        .flat_map(|l| l.iter().copied())
        .chain(
            [
                ignored::REFUSED_GLOBAL,
                ignored::REFUSED_PROXY,
                ignored::REFUSED_OPTIONS,
                ignored::REFUSED_BIND_OPTIONS,
                ignored::REFUSED_SERVER_OPTIONS,
            ]
            .iter()
            .flat_map(|l| l.iter().map(|(n, _)| *n)),
        )
        .collect();
    let missing: Vec<&str> = harmless
        .iter()
        .copied()
        .filter(|n| !harmless_doc.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not list {missing:?} as accepted with a warning"
    );
    let missing: Vec<&str> = refused
        .iter()
        .copied()
        .filter(|n| !refused_doc.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not list {missing:?} as refused"
    );
    // Each refused keyword's table row gives the same reason as the code.
    for list in [
        ignored::REFUSED_GLOBAL,
        ignored::REFUSED_PROXY,
        ignored::REFUSED_OPTIONS,
        ignored::REFUSED_BIND_OPTIONS,
        ignored::REFUSED_SERVER_OPTIONS,
    ] {
        for (kw, why) in list {
            let row = format!("| `{kw}` | {why} |");
            assert!(
                refused_doc.contains(&row),
                "docs/configuration.md lacks the row {row}"
            );
        }
    }
    // No keyword is in both classes, and no harmless keyword is refused
    // by a prefix entry (sections aside: `resolvers` the section is
    // skipped, `resolvers` the server option refused; and `transparent`:
    // the bind option is harmless, a bind to a foreign address fails
    // loudly, `option transparent` is refused).
    for n in harmless
        .iter()
        .filter(|n| !ignored::SKIPPED_SECTIONS.contains(n) && **n != "transparent")
    {
        for list in [
            ignored::REFUSED_GLOBAL,
            ignored::REFUSED_PROXY,
            ignored::REFUSED_OPTIONS,
            ignored::REFUSED_BIND_OPTIONS,
            ignored::REFUSED_SERVER_OPTIONS,
        ] {
            assert!(
                ignored::refused(list, n).is_none() || ignored::TLS_OPTIONS.contains(n),
                "{n} is both harmless and refused"
            );
        }
    }
}

#[test]
fn refused_keywords_name_their_line_and_reason() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["global", "    maxconnrate 100"],
            "parsing [t.cfg:2] : 'maxconnrate' is not supported by Sluice: it limits the rate of accepted connections.",
        ),
        (
            &["defaults", "    mode http", "    option nolinger"],
            "parsing [t.cfg:3] : 'option nolinger' is not supported by Sluice: it resets connections instead of closing them.",
        ),
        (
            &["frontend fe", "    mode http", "    bind :8080", "    rate-limit sessions 10"],
            "parsing [t.cfg:4] : 'rate-limit' is not supported by Sluice: it limits the rate of new sessions.",
        ),
        (
            &["frontend fe", "    bind :8080 proto quic"],
            "parsing [t.cfg:2] : 'bind :8080' in section 'frontend' : 'proto' : unknown or unsupported protocol 'quic' (Sluice knows 'h1', 'h2' and 'none').",
        ),
        (
            &["backend be", "    server s 127.0.0.1:80 check track be/x"],
            "parsing [t.cfg:2] : 'server be/s' : 'track' is not supported by Sluice: the server's state follows another server.",
        ),
        (
            &["backend be", "    option spop-check"],
            "parsing [t.cfg:2] : 'option spop-check' is not supported by Sluice: it decides which servers are up by speaking SPOP, and Sluice has no SPOE.",
        ),
        (
            &["global", "    tune.http.maxhdr 10"],
            "parsing [t.cfg:2] : 'tune.http.maxhdr' is not supported by Sluice: it changes which requests are accepted (header count) or what is logged (URI length).",
        ),
    ];
    for (lines, want) in cases {
        assert_eq!(errors(&cfg(lines)), [*want], "{lines:?}");
    }
}

#[test]
fn hard_stop_after_is_read() {
    let p = parse_ok(&cfg(&["global", "    hard-stop-after 30s"]));
    assert_eq!(p.config.global.hard_stop_after_ms, Some(30_000));
    assert!(warnings(&p).is_empty());
    let e = errors(&cfg(&["global", "    hard-stop-after"]));
    assert_eq!(e.len(), 1, "{e:?}");
}

#[test]
fn rules_whose_first_word_is_a_condition_keyword() {
    // Found by `never_panics::on_keyword_lines_in_sections`.
    let e = errors(&cfg(&["backend be", "    stick on if TRUE"]));
    assert_eq!(e, ["parsing [t.cfg:2] : 'stick' expects a fetch method."]);
    let e = errors(&cfg(&["frontend fe", "    use_backend unless TRUE"]));
    assert_eq!(
        e,
        ["parsing [t.cfg:2] : 'use_backend' expects a backend name."]
    );
}

#[test]
fn monitor_and_errorfile_lines() {
    let text = with_defaults(&[
        "http-errors site",
        "    errorfile 503 /e/site503.http",
        "defaults web",
        "    mode http",
        "    monitor-uri /up",
        "    errorfile 503 /e/def503.http",
        "frontend fe from web",
        "    bind :8080",
        "    monitor fail if { nbsrv(be) lt 1 }",
        "    errorfiles site",
        "    default_backend be",
        "backend be from web",
        "    errorfile 403 /e/be403.http",
        "    server s 127.0.0.1:80",
    ]);
    let p = parse_ok(&text);
    let fe = p.config.frontend("fe").unwrap();
    assert_eq!(fe.monitor_uri.as_deref(), Some("/up"));
    assert_eq!(fe.monitor_fail.len(), 1);
    assert_eq!(fe.errors.len(), 2, "inherited errorfile, then errorfiles");
    let be = p.config.backend("be").unwrap();
    assert_eq!(be.errors.len(), 2);
    assert_eq!(
        p.config.errorfile_paths(),
        ["/e/def503.http", "/e/be403.http", "/e/site503.http"]
    );
    let bad: &[(&str, &str)] = &[
        ("    errorfile 503", "parsing [t.cfg:8] : errorfile : expects <status_code> and <file> as arguments."),
        ("    errorfile 999 /x", "parsing [t.cfg:8] : errorfile : status code '999' not handled."),
        ("    monitor-uri", "parsing [t.cfg:8] : 'monitor-uri' expects an URI."),
        ("    monitor foo", "parsing [t.cfg:8] : 'monitor' only supports 'fail'."),
        ("    monitor fail TRUE", "parsing [t.cfg:8] : 'monitor fail' requires either 'if' or 'unless' followed by a condition."),
        ("    errorfiles nosuch", "parsing [t.cfg:8] : proxy 'fe': unknown http-errors section 'nosuch'."),
    ];
    for (line, err) in bad {
        let text = with_defaults(&["frontend fe", "    mode http", "    bind :8080", line]);
        let e = parse("t.cfg", &text, opts()).unwrap_err();
        assert_eq!(e.errors[0].to_string(), *err, "{line}");
    }
    let text = with_defaults(&["defaults", "    mode http", "    monitor fail if TRUE"]);
    let e = parse("t.cfg", &text, opts()).unwrap_err();
    assert_eq!(
        e.errors[0].to_string(),
        "parsing [t.cfg:7] : 'monitor' not allowed in 'defaults' section."
    );
    // A TCP frontend warns, as HAProxy: the monitor needs HTTP.
    let p = parse_ok(&with_defaults(&[
        "frontend fe",
        "    bind :8080",
        "    monitor-uri /up",
        "    default_backend be",
        "backend be",
        "    server s 127.0.0.1:80",
    ]));
    assert!(
        p.warnings.iter().any(|w| w
            .message
            .contains("monitor-uri will be ignored for frontend 'fe' (needs 'mode http')")),
        "{:?}",
        p.warnings
    );
}

/// A crt-list file (HAProxy's `crtlist_parse_line`): comments only at the
/// start of a line, empty lines skipped, options between `[` and `]`
/// (with or without spaces around the brackets), positive and negative
/// SNI filters, lower case; errors name the crt-list file and line.
#[test]
fn crt_list_lines_options_and_filters() {
    use sluice_core::cfgparse::tls::parse_crt_list;
    let text = "# comment\n\nd.pem\na.pem [alpn h2,http/1.1 ssl-min-ver TLSv1.3] A.test\n\
b.pem [ verify optional ca-file ca.pem ]*.b.test !Secret.b.test\n";
    let mut d = Diags::default();
    let l = parse_crt_list("l.txt", text.as_bytes(), &mut d).unwrap();
    assert_eq!(l.len(), 3);
    assert_eq!(
        (l[0].line, l[0].crt.as_str(), l[0].opts.is_none()),
        (3, "d.pem", true)
    );
    assert!(l[0].filters.is_empty());
    let o = l[1].opts.as_ref().unwrap();
    assert_eq!(
        o.common.alpn,
        Some(vec!["h2".to_string(), "http/1.1".to_string()])
    );
    assert_eq!(o.common.min_ver, Some(TlsVer::Tlsv13));
    assert_eq!(l[1].filters, ["a.test"]);
    let o = l[2].opts.as_ref().unwrap();
    assert_eq!(o.verify, Some(BindVerify::Optional));
    assert_eq!(o.common.ca_file.as_deref(), Some("ca.pem"));
    assert_eq!(l[2].filters, ["*.b.test"]);
    assert_eq!(l[2].negative, ["secret.b.test"]);
    // The line's settings over the bind line's.
    let bind = BindTls {
        ssl: true,
        common: TlsCommon {
            alpn: Some(vec!["http/1.1".into()]),
            max_ver: Some(TlsVer::Tlsv13),
            ..Default::default()
        },
        ..Default::default()
    };
    let t = l[1].opts.as_ref().unwrap().apply(&bind);
    assert_eq!(
        t.common.alpn,
        Some(vec!["h2".to_string(), "http/1.1".to_string()])
    );
    assert_eq!(t.common.max_ver, Some(TlsVer::Tlsv13));
    assert_eq!(t.common.min_ver, Some(TlsVer::Tlsv13));

    // A partly supported cipher list warns, as on a bind line.
    let mut d = Diags::default();
    parse_crt_list(
        "l.txt",
        b"c.pem [ciphers ECDHE-ECDSA-AES128-GCM-SHA256:DHE-RSA-AES128-SHA] c.test\n",
        &mut d,
    )
    .unwrap();
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].to_string().starts_with("parsing [l.txt:1] :"));

    for (line, want) in [
        (
            "c.pem [npn h2]",
            "'npn' : this TLS option is not supported by Sluice yet.",
        ),
        (
            "c.pem [allow-0rtt]",
            "'allow-0rtt' : this TLS option is not supported",
        ),
        ("c.pem [no-tlsv12]", "unknown ssl keyword no-tlsv12"),
        ("c.pem [ssl-min-ver TLSv1.0]", "TLSv1.0 is not supported"),
        ("c.pem [alpn]", "'alpn' : missing value"),
        ("c.pem [alpn h2", "missing ']'"),
        ("c.pem alpn h2]", "missing '['"),
        (
            "c.pem x.test [alpn h2]",
            "filters can't be between filename and options",
        ),
        ("[alpn h2] c.pem", "file must start with a cert"),
        ("c.pem [alpn h2] [verify none]", "too many '['"),
        (
            "c.pem [ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2]",
            "all SSL/TLS versions are disabled",
        ),
    ] {
        let text = format!("d.pem\n{line}\n");
        let e = parse_crt_list("l.txt", text.as_bytes(), &mut Diags::default()).unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("parsing [l.txt:2] :") && s.contains(want),
            "{line}: {s}"
        );
    }
}

/// `check-ssl`, `no-check-ssl`, `check-sni`, `check-alpn` on a server;
/// `check-ssl` on a server without `ssl` takes its TLS settings, so the
/// default `verify required` wants a `ca-file` as on an `ssl` server.
#[test]
fn check_ssl_sni_alpn() {
    let p = parse_ok(&with_defaults(&[
        "backend be",
        "    server a 127.0.0.1:443 check check-ssl check-sni a.test check-alpn http/1.1,h2 verify none",
        "    server b 127.0.0.1:443 ssl verify none check no-check-ssl",
    ]));
    let be = proxy(&p.config, "be");
    let a = &be.servers[0].opts.tls;
    assert_eq!(a.check_ssl, Some(true));
    assert_eq!(a.check_sni.as_deref(), Some("a.test"));
    assert_eq!(
        a.check_alpn,
        Some(vec!["http/1.1".to_string(), "h2".to_string()])
    );
    assert_eq!(be.servers[1].opts.tls.check_ssl, Some(false));
    let e = errors(&with_defaults(&[
        "backend be",
        "    server a 127.0.0.1:443 check check-ssl",
    ]));
    assert!(
        e.iter().any(|m| m.contains("no CA file specified")),
        "{e:?}"
    );
}

/// `option logasap` (negatable, inherited from defaults) and `option
/// httpslog` (`httplog` with the TLS fields; the last log option wins;
/// outside `mode http` a warning names it, as HAProxy 2.6 does).
#[test]
fn logasap_and_httpslog_options() {
    let base = "defaults\n    mode http\n    option logasap\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n";
    let p = parse_ok(&format!(
        "{base}frontend fe\n    bind :8080\n    option httpslog\nfrontend fe2\n    bind :8081\n    no option logasap\n    option httpslog\n    option httplog\n"
    ));
    let fe = p.config.frontend("fe").unwrap();
    assert!(fe.options.logasap);
    assert!(fe.options.httplog && fe.options.httpslog && !fe.options.tcplog);
    let fe2 = p.config.frontend("fe2").unwrap();
    assert!(!fe2.options.logasap);
    assert!(fe2.options.httplog && !fe2.options.httpslog);
    assert_eq!(
        errors(&format!(
            "{base}frontend fe\n    bind :8080\n    option httpslog clf\n"
        )),
        vec!["parsing [t.cfg:9] : 'option httpslog' cannot handle unexpected argument 'clf'."]
    );
    let p = parse_ok(
        "defaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend fe\n    bind :8080\n    option httpslog\n",
    );
    let w = warnings(&p);
    assert!(
        w.iter().any(|w| w.contains("'option httpslog' not usable with frontend 'fe' (needs 'mode http'). Falling back to 'option tcplog'.")),
        "{w:?}"
    );
}

/// The protocol checks parse as HAProxy 2.6 parses them (arguments, the
/// last check option wins) and their bad arguments are errors naming the
/// line, with HAProxy's messages.
#[test]
fn protocol_check_options_parse_like_haproxy() {
    use sluice_core::cfgparse::ProtoCheck;
    let one = |line: &str| {
        let p = parse_ok(&cfg(&["backend be", line]));
        let be = p.config.proxies.iter().find(|p| p.name == "be").unwrap();
        be.options.proto_check.clone()
    };
    assert_eq!(one("    option redis-check"), Some(ProtoCheck::Redis));
    assert_eq!(one("    option ssl-hello-chk"), Some(ProtoCheck::SslHello));
    assert_eq!(one("    option ldap-check"), Some(ProtoCheck::Ldap));
    assert_eq!(
        one("    option mysql-check"),
        Some(ProtoCheck::Mysql {
            user: None,
            post41: true
        })
    );
    assert_eq!(
        one("    option mysql-check user u pre-41"),
        Some(ProtoCheck::Mysql {
            user: Some("u".into()),
            post41: false
        })
    );
    assert_eq!(
        one("    option pgsql-check user pg"),
        Some(ProtoCheck::Pgsql { user: "pg".into() })
    );
    assert_eq!(
        one("    option smtpchk"),
        Some(ProtoCheck::Smtp {
            cmd: "HELO localhost".into()
        })
    );
    assert_eq!(
        one("    option smtpchk EHLO mx.example"),
        Some(ProtoCheck::Smtp {
            cmd: "EHLO mx.example".into()
        })
    );
    // Any other first word falls back to HAProxy's default command.
    assert_eq!(
        one("    option smtpchk FOO bar"),
        Some(ProtoCheck::Smtp {
            cmd: "HELO localhost".into()
        })
    );
    // The last check option wins.
    let p = parse_ok(&cfg(&[
        "backend be",
        "    option ldap-check",
        "    option httpchk",
    ]));
    let be = p.config.proxies.iter().find(|p| p.name == "be").unwrap();
    assert_eq!(be.options.proto_check, None);
    assert!(be.options.httpchk.is_some());
    let cases: &[(&str, &str)] = &[
        ("    option pgsql-check", "parsing [t.cfg:2] : 'option pgsql-check' expects 'user <username>' as argument."),
        ("    option pgsql-check login pg", "parsing [t.cfg:2] : 'option pgsql-check' only supports optional values: 'user'."),
        ("    option mysql-check login u", "parsing [t.cfg:2] : 'option mysql-check' only supports optional values: 'user' (got 'login')."),
        ("    option mysql-check user", "parsing [t.cfg:2] : 'option mysql-check user' expects <username> as argument."),
        ("    option mysql-check user u post-80", "parsing [t.cfg:2] : keyword 'user' only supports 'post-41' and 'pre-41' (got 'post-80')."),
    ];
    for (line, want) in cases {
        assert_eq!(errors(&cfg(&["backend be", line])), [*want], "{line}");
    }
}

#[test]
fn observe_error_limit_on_error_originalto_restrict() {
    let c = parse_ok(&with_defaults(&[
        "backend b",
        "    option originalto except 10.0.0.0/8 header X-Dst",
        "    option http-restrict-req-hdr-names reject",
        "    default-server observe layer4 error-limit 3",
        "    server s1 127.0.0.1:1 check observe layer7 on-error sudden-death",
        "    server s2 127.0.0.1:2 check",
    ]))
    .config;
    let b = proxy(&c, "b");
    assert_eq!(
        b.options.originalto,
        Some(OriginalTo {
            except: Some("10.0.0.0/8".into()),
            header: Some("X-Dst".into()),
        })
    );
    assert_eq!(b.options.restrict_req_hdr_names, RestrictHdrNames::Reject);
    let (s1, s2) = (&b.servers[0].opts, &b.servers[1].opts);
    assert_eq!(
        (s1.observe, s1.error_limit, s1.on_error),
        (ObserveLayer::Layer7, 3, OnError::SuddenDeath)
    );
    assert_eq!(
        (s2.observe, s2.error_limit, s2.on_error),
        (ObserveLayer::Layer4, 3, OnError::FailCheck)
    );
    for (line, msg) in [
        ("    server s 127.0.0.1:1 observe layer9", "'observe' expects one of 'none', 'layer4', 'layer7' but got 'layer9'"),
        ("    server s 127.0.0.1:1 error-limit 0", "'error-limit' has to be > 0"),
        ("    server s 127.0.0.1:1 on-error reboot", "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got 'reboot'"),
        ("    option originalto except nonsense", "'option originalto except' expects <address>[/mask] as argument."),
        ("    option originalto if-none", "'option originalto' only supports optional values: 'except' and 'header'."),
        ("    option http-restrict-req-hdr-names", "'option http-restrict-req-hdr-names' expects 'preserve', 'delete' or 'reject'."),
    ] {
        let e = errors(&with_defaults(&["backend b", line]));
        assert!(e.iter().any(|e| e.contains(msg)), "{line}: {e:?}");
    }
}

/// `crt-ignore-err`, `ca-ignore-err`, `ca-verify-file` on a bind line and
/// `crl-file` on a server line (HAProxy 2.6's `bind_parse_ignore_err`:
/// `all` or numeric ids below 64).
#[test]
fn tls_verify_error_options() {
    let p = parse_ok(&with_defaults(&[
        "frontend fe",
        "    bind :443 ssl crt site.pem ca-file ca.pem ca-verify-file root.pem verify optional crt-ignore-err all ca-ignore-err 10,23",
        "backend be",
        "    server s 1.1.1.1:443 ssl ca-file ca.pem crl-file crl.pem",
    ]));
    let b = &proxy(&p.config, "fe").binds[0].tls;
    assert_eq!(b.crt_ignore_err, IgnoreErr::All);
    assert_eq!(b.ca_ignore_err, IgnoreErr::Ids(vec![10, 23]));
    assert!(b.crt_ignore_err.covers(20) && b.ca_ignore_err.covers(23));
    assert!(!b.ca_ignore_err.covers(20));
    assert_eq!(b.ca_verify_file.as_deref(), Some("root.pem"));
    let s = &proxy(&p.config, "be").servers[0].opts.tls;
    assert_eq!(s.crl_file.as_deref(), Some("crl.pem"));
    let e = errors(&with_defaults(&[
        "frontend fe",
        "    bind :443 ssl crt site.pem ca-file ca.pem verify required crt-ignore-err 10,x",
    ]));
    assert!(
        e.iter()
            .any(|m| m.contains("'crt-ignore-err' : error ID 'x' out of range")),
        "{e:?}"
    );
}

/// `log ... sample RANGES:SIZE` (reg-test log/load_balancing): of every
/// SIZE lines, those at the listed 1-based positions are sent.
#[test]
fn log_sample_ranges() {
    let p = parse_ok(&cfg(&[
        "global",
        "    log 127.0.0.1:514 sample 3-5,1:6 local0",
    ]));
    let smp = p.config.global.logs[0].sample.clone().expect("sample");
    assert_eq!(
        smp,
        LogSample {
            ranges: vec![(1, 1), (3, 5)],
            size: 6
        }
    );
    let mut n = 0;
    let kept: Vec<bool> = (0..12).map(|_| smp.keeps(&mut n)).collect();
    let once = [true, false, true, true, true, false];
    assert_eq!(kept, [once, once].concat());
}

/// `ws auto|h1|h2` (HAProxy's `srv_parse_ws`), inherited from
/// `default-server`; `h2-workaround-bogus-websocket-clients`, negatable.
#[test]
fn server_ws_and_the_websocket_workaround() {
    let text = cfg(&[
        "global",
        "    h2-workaround-bogus-websocket-clients",
        "backend be",
        "    default-server ws h2",
        "    server a 127.0.0.1:80",
        "    server b 127.0.0.1:81 ws h1",
        "    server c 127.0.0.1:82 proto h2 ws auto",
    ]);
    let p = parse_ok(&text);
    assert!(p.config.global.h2_workaround_bogus_websocket_clients);
    let be = p.config.backend("be").unwrap();
    assert_eq!(be.server("a").unwrap().opts.ws, WsMode::H2);
    assert_eq!(be.server("b").unwrap().opts.ws, WsMode::H1);
    assert_eq!(be.server("c").unwrap().opts.ws, WsMode::Auto);
    let p = parse_ok(&cfg(&[
        "global",
        "    no h2-workaround-bogus-websocket-clients",
    ]));
    assert!(!p.config.global.h2_workaround_bogus_websocket_clients);
    let e = errors(&cfg(&["backend be", "    server a 127.0.0.1:80 ws h3"]));
    assert_eq!(
        e,
        ["parsing [t.cfg:2] : 'server be/a' : 'ws' has to be 'auto', 'h1' or 'h2'"]
    );
}

/// `tcp-check connect` anywhere in the ruleset, with its options
/// (HAProxy's `parse_tcpcheck_connect`); a connect after another rule
/// needs a connect first, as HAProxy 2.6 says.
#[test]
fn tcp_check_connect_rules_and_options() {
    use sluice_core::cfgparse::{CheckConnect, TcpCheckRule};
    let p = parse_ok(&with_defaults(&[
        "backend b",
        "    option tcp-check",
        "    tcp-check connect port 8000 comment first",
        "    tcp-check send hi",
        "    tcp-check connect addr 127.0.0.2:81 linger",
        "    tcp-check connect default addr 127.0.0.3 port 82 ssl sni a.example alpn h2,http/1.1",
        "    server s 127.0.0.1:80 check",
    ]));
    let b = proxy(&p.config, "b");
    let rules: Vec<&TcpCheckRule> = b.tcp_checks.iter().map(|l| &l.rule).collect();
    assert_eq!(
        rules[0],
        &TcpCheckRule::Connect(CheckConnect {
            port: Some(8000),
            ..Default::default()
        })
    );
    assert_eq!(b.tcp_checks[0].comment.as_deref(), Some("first"));
    assert_eq!(
        rules[2],
        &TcpCheckRule::Connect(CheckConnect {
            addr: Some(inet("127.0.0.2", 81)),
            linger: true,
            ..Default::default()
        })
    );
    assert_eq!(
        rules[3],
        &TcpCheckRule::Connect(CheckConnect {
            default: true,
            addr: Some(Addr::Inet {
                host: ip("127.0.0.3"),
                port: None
            }),
            port: Some(82),
            ssl: true,
            sni: Some("a.example".into()),
            alpn: Some(vec!["h2".into(), "http/1.1".into()]),
            linger: false,
            proto_h2: false,
        })
    );
    for (rules, want) in [
        (
            "    tcp-check send x\n    tcp-check connect port 81\n",
            "[t.cfg:8] : 'tcp-check connect' : first step MUST also be a 'connect'",
        ),
        (
            "    tcp-check connect send-proxy\n",
            "'send-proxy' is not supported by Sluice",
        ),
        ("    tcp-check connect port 0\n", "invalid port '0'"),
        ("    tcp-check connect addr\n", "'addr' expects"),
    ] {
        let text = format!(
            "{}backend b\n    option tcp-check\n{rules}    server s 127.0.0.1:80 check\n",
            cfg(&TIMEOUTS)
        );
        let e = errors(&text).join("\n");
        assert!(e.contains(want), "{rules:?}: {e}");
    }
}

/// `load-server-state-from-file`: HAProxy reads a state file only for an
/// enabled backend with servers, and for `global` only when the global
/// `server-state-file` is set. Sluice accepts what reads nothing and
/// refuses the rest at the line of the keyword (it reads no state file).
#[test]
fn load_server_state_from_file_is_refused_only_where_haproxy_reads_a_file() {
    let base = [
        "defaults",
        "  mode http",
        "  timeout client 1s",
        "  timeout server 1s",
        "  timeout connect 1s",
        "  load-server-state-from-file global",
        "frontend f",
        "  bind 127.0.0.1:18080",
        "  default_backend b",
        "backend b",
        "  server s1 127.0.0.1:18081",
        "backend empty",
        "backend none",
        "  load-server-state-from-file none",
        "  server s1 127.0.0.1:18081",
    ];
    // No global file: `global` reads nothing.
    let p = parse_ok(&cfg(&base));
    assert!(warnings(&p)
        .iter()
        .all(|w| !w.contains("load-server-state")));

    // A global file: the backend with servers is refused, at the defaults'
    // line it inherited; `empty` (no server) and `none` are not.
    let mut lines = vec!["global", "  server-state-file /tmp/sluice-no-such.state"];
    lines.extend(base);
    let e = errors(&cfg(&lines));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("t.cfg:8]")
            && e[0].contains("'load-server-state-from-file global' is not supported by Sluice: backend 'b' would take its servers' states and weights from the global 'server-state-file' (t.cfg:2) at start."),
        "{e:?}"
    );

    // `local` reads the backend's own file whether or not a global one is set.
    let e = errors(&cfg(&[
        "backend b",
        "  timeout server 1s",
        "  timeout connect 1s",
        "  load-server-state-from-file local",
        "  server s1 127.0.0.1:18081",
    ]));
    assert!(
        e.len() == 1
            && e[0].contains("t.cfg:4]")
            && e[0].contains("from its own server state file"),
        "{e:?}"
    );

    // HAProxy's own errors and warnings.
    let e = errors(&cfg(&[
        "backend b",
        "  load-server-state-from-file sometimes",
    ]));
    assert!(
        e[0].contains(
            "'load-server-state-from-file' expects 'global', 'local' or 'none'. Got 'sometimes'"
        ),
        "{e:?}"
    );
    let p = parse_ok(&cfg(&[
        "frontend f",
        "  bind 127.0.0.1:18080",
        "  timeout client 1s",
        "  load-server-state-from-file global",
    ]));
    assert!(
        warnings(&p).iter().any(|w| w.contains(
            "'load-server-state-from-file' ignored because frontend 'f' has no backend capability."
        )),
        "{:?}",
        warnings(&p)
    );
}
