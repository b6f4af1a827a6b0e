//! `bind unix@PATH` and `bind abns@NAME` on frontends (issue 11 item 6),
//! side by side with HAProxy 2.6 on the same configuration: the socket
//! file's permissions (`mode`, and `unix-bind`'s defaults and `prefix`),
//! the reply, and the log line (`unix:<listener id>`, `bind ... id N`).
//! And servers on `unix@PATH` and `abns@NAME` (issue 9): traffic, health
//! checks, `%si:%sp`.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// One HTTP/1.0 request over a connected UNIX stream; the whole reply.
fn request(mut s: UnixStream, path: &str) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Connects to an abstract socket as HAProxy names it: the name padded
/// with NULs to the whole `sun_path`.
fn connect_abns(name: &str) -> std::io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let mut padded = name.as_bytes().to_vec();
    padded.resize(107, 0);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&padded)?;
    UnixStream::connect_addr(&addr)
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("socket file")
        .permissions()
        .mode()
        & 0o777
}

/// The log line without what differs between two runs or two proxies:
/// the date, the timers, the connection counts (they depend on when the
/// previous connection was released), and `%B` (HAProxy counts the bytes of its
/// internal message, Sluice those on the wire: docs/logging.md).
fn masked(line: &str) -> String {
    let mut w: Vec<String> = line.split(' ').map(String::from).collect();
    if w.len() > 6 {
        w[1] = "[DATE]".into();
        w[4] = "TIMERS".into();
        w[6] = "BYTES".into();
    }
    if w.len() > 10 {
        w[10] = "COUNTS".into();
    }
    w.join(" ")
}

fn config(dir: &TempDir, tag: &str) -> String {
    let d = dir.path().display();
    format!(
        "{}    unix-bind prefix {d}/{tag}- mode 640\n\
defaults\n    mode http\n    log global\n    option httplog\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
frontend f\n\
    bind unix@plain.sock\n\
    bind unix@strict.sock mode 600\n\
    bind abns@{tag}-abstract id 7\n\
    http-request return status 200 content-type text/plain string ok\n",
        global_section(&dir.join(&format!("{tag}.sock")), ""),
    )
}

/// What one proxy did: the socket modes, the replies and the log lines.
fn exercise(dir: &TempDir, tag: &str, lines: impl Fn() -> Vec<String>) -> Vec<String> {
    let plain = dir.join(&format!("{tag}-plain.sock"));
    let strict = dir.join(&format!("{tag}-strict.sock"));
    let mut seen = vec![
        format!("plain mode {:o}", mode_of(&plain)),
        format!("strict mode {:o}", mode_of(&strict)),
    ];
    for (what, s) in [
        ("plain", UnixStream::connect(&plain)),
        ("strict", UnixStream::connect(&strict)),
        ("abstract", connect_abns(&format!("{tag}-abstract"))),
    ] {
        let s = s.unwrap_or_else(|e| panic!("{tag}: connect to {what}: {e}"));
        let reply = request(s, &format!("/{what}"));
        let status = reply.lines().next().unwrap_or("").to_string();
        let body = reply.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        seen.push(format!("{what}: {status} {body}"));
    }
    let logged = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        let l: Vec<String> = lines()
            .into_iter()
            .filter(|l| l.starts_with("unix:"))
            .collect();
        (l.len() >= 3).then_some(l)
    })
    .unwrap_or_else(|| panic!("{tag}: fewer than 3 log lines: {:?}", lines()));
    let mut logged: Vec<String> = logged.iter().map(|l| masked(l)).collect();
    logged.sort();
    seen.extend(logged);
    seen
}

#[test]
fn unix_and_abstract_binds_side_by_side() {
    const T: &str = "unix_and_abstract_binds_side_by_side";
    if !haproxy_or_skip(T) {
        return;
    }
    let dir = TempDir::new(T);
    let ha = HaRun::start(&dir, "ha", &config(&dir, "ha"));
    let ha_seen = exercise(&dir, "ha", || ha.log_lines());
    let sl = Sluice::run(&dir, "sl", &config(&dir, "sl"));
    let sl_seen = exercise(&dir, "sl", || sl.log_lines());
    println!("haproxy: {ha_seen:#?}\nsluice: {sl_seen:#?}");
    // Something is asserted whatever HAProxy does.
    assert!(
        sl_seen.contains(&"strict mode 600".to_string()),
        "{sl_seen:?}"
    );
    assert!(
        sl_seen.iter().any(|l| l.starts_with("unix:7 ")),
        "{sl_seen:?}"
    );
    assert_eq!(sl_seen, ha_seen);
    sl.assert_drained(Duration::from_secs(5));
}

/// Checks a configuration with `proxy-mio -c` and with HAProxy; both must
/// refuse it, Sluice with `file:line` and HAProxy's words.
fn both_refuse(dir: &TempDir, name: &str, cfg: &str, line: u32, words: &str) {
    let path = dir.join(name);
    write_file(&path, cfg);
    let out = Command::new(proxy_mio())
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("proxy-mio runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{name}: accepted\n{err}");
    assert!(
        err.contains(&format!("{}:{line}]", path.display())) && err.contains(words),
        "{name}: {err}"
    );
    if let Some(bin) = haproxy_bin() {
        let ha = Command::new(bin)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        let ha_err = String::from_utf8_lossy(&ha.stderr);
        assert!(!ha.status.success(), "{name}: HAProxy accepted it");
        assert!(ha_err.contains(words), "{name}: HAProxy said {ha_err}");
    }
}

#[test]
fn bad_unix_binds_are_refused_with_their_line() {
    let dir = TempDir::new("bad_unix_binds_are_refused_with_their_line");
    let head = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n";
    both_refuse(
        &dir,
        "user.cfg",
        &format!(
            "{head}    bind unix@{}/u.sock user no-such-user-sluice\n",
            dir.path().display()
        ),
        7,
        "'user' : unknown user name 'no-such-user-sluice'",
    );
    both_refuse(
        &dir,
        "dup.cfg",
        &format!("{head}    bind 127.0.0.1:1 id 3\n    bind abns@x id 3\n"),
        8,
        "custom id 3 already used at",
    );
}

/// A backend whose servers are UNIX sockets: `unix@PATH`, `abns@NAME`, and
/// a path nobody listens on; the proxy's own frontends play the servers.
fn unix_servers_config(dir: &TempDir, tag: &str, port: u16) -> String {
    let d = dir.path().display();
    format!(
        "{}defaults\n    mode http\n    log global\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
frontend f\n\
    bind 127.0.0.1:{port}\n\
    log-format \"%b/%s %si:%sp %ST\"\n\
    default_backend b\n\
backend b\n\
    balance roundrobin\n\
    server path unix@{d}/{tag}-srv.sock check inter 100\n\
    server abstract abns@{tag}-srv check inter 100\n\
    server nobody {d}/{tag}-nobody.sock check inter 100\n\
frontend srv_path\n\
    bind unix@{d}/{tag}-srv.sock\n\
    http-request return status 200 content-type text/plain string by-path\n\
frontend srv_abns\n\
    bind abns@{tag}-srv\n\
    http-request return status 200 content-type text/plain string by-abns\n",
        global_section(&dir.join(&format!("{tag}.sock")), ""),
    )
}

/// What one proxy did with [`unix_servers_config`]: server states and
/// check results, the bodies of four requests, the log lines.
fn exercise_unix_servers(
    tag: &str,
    port: u16,
    cli: impl Fn(&str) -> String,
    lines: impl Fn() -> Vec<String>,
) -> Vec<String> {
    let states = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        let st = parse_stat(&cli("show stat"));
        let row = |s: &str| {
            let r = &st[&("b".to_string(), s.to_string())];
            format!("{s} {} {}", r["status"], r["check_status"])
        };
        let v = vec![row("path"), row("abstract"), row("nobody")];
        // Settled: up or down for good (no "UP 2/3" on the way).
        (v[0] == "path UP L4OK" && v[1] == "abstract UP L4OK" && v[2].starts_with("nobody DOWN "))
            .then_some(v)
    })
    .unwrap_or_else(|| panic!("{tag}: checks did not settle: {}", cli("show stat")));
    let mut seen = states;
    let mut bodies = Vec::new();
    for _ in 0..4 {
        bodies.push(exchange(port, "/", &[]).1);
    }
    bodies.sort();
    seen.extend(bodies);
    let logged = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        let l: Vec<String> = lines()
            .into_iter()
            .filter(|l| l.starts_with("b/"))
            .collect();
        (l.len() >= 4).then_some(l)
    })
    .unwrap_or_else(|| panic!("{tag}: fewer than 4 log lines: {:?}", lines()));
    let mut logged = logged;
    logged.sort();
    seen.extend(logged);
    seen
}

#[test]
fn unix_and_abstract_servers_side_by_side() {
    const T: &str = "unix_and_abstract_servers_side_by_side";
    let dir = TempDir::new(T);
    let ports = free_ports(2);
    let sl = Sluice::run(&dir, "sl", &unix_servers_config(&dir, "sl", ports[0]));
    let sl_seen = exercise_unix_servers("sl", ports[0], |c| sl.cli(c), || sl.log_lines());
    println!("sluice: {sl_seen:#?}");
    // Something is asserted whatever HAProxy does.
    assert!(sl_seen.contains(&"by-path".to_string()), "{sl_seen:?}");
    assert!(sl_seen.contains(&"by-abns".to_string()), "{sl_seen:?}");
    assert!(
        sl_seen.contains(&"b/abstract unix:0 200".to_string()),
        "{sl_seen:?}"
    );
    sl.assert_drained(Duration::from_secs(5));
    if !haproxy_or_skip(T) {
        return;
    }
    let ha = HaRun::start(&dir, "ha", &unix_servers_config(&dir, "ha", ports[1]));
    let ha_seen = exercise_unix_servers("ha", ports[1], |c| ha.cli(c), || ha.log_lines());
    println!("haproxy: {ha_seen:#?}");
    assert_eq!(sl_seen, ha_seen);
}
