//! Answers the proxy makes itself, side by side with HAProxy 2.6 fed the
//! same configuration: `monitor-uri` and `monitor fail`, and the pages
//! `errorfile` puts in place of the built-in ones. For each case the same
//! raw requests go through both proxies on one connection; each response's
//! status line and header lines (names without case, `connection`
//! aside; `content-length` and the body only when the page is an error
//! file, since Sluice's built-in pages are worded its own way), how many responses came before
//! the connection closed, and the number of traffic log lines must be the
//! same.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// A server that answers `ok` (with its name) to every request, or after
/// `sleep` when the path is `/slow`.
fn server(mut s: TcpStream, _: usize) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    if req.starts_with(b"GET /slow") {
        std::thread::sleep(Duration::from_millis(1500));
    }
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
}

struct Case {
    name: &'static str,
    /// Sections after `global` and `defaults`; `{FE}` is the frontend's
    /// port, `{S}` the live server's, `{DEAD}` a closed port, `{DIR}` the
    /// directory of the error files.
    cfg: &'static str,
    /// Raw bytes sent on one connection.
    send: &'static str,
    /// Traffic log lines expected from each proxy (checked equal too).
    logged: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "monitor-uri answers 200 and keeps the connection, nothing logged",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    monitor-uri /healthz\n    monitor fail if { nbsrv(be) lt 1 }\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /healthz HTTP/1.1\r\nhost: t\r\n\r\nGET http://t/healthz HTTP/1.1\r\nhost: t\r\n\r\nGET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 0,
    },
    Case {
        name: "monitor-uri compares the path with its query",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    monitor-uri /healthz\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /healthz?full=1 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "monitor fail answers 503, before http-request rules",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    monitor-uri /healthz\n    monitor fail unless { nbsrv(be) ge 2 }\n    http-request deny\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /healthz HTTP/1.1\r\nhost: t\r\n\r\nGET /other HTTP/1.1\r\nhost: t\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "monitor-uri inherited from defaults, in a listen",
        cfg: "defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    monitor-uri /up\n\
              listen li\n    bind 127.0.0.1:{FE}\n    server s1 127.0.0.1:{S}\n",
        send: "GET /up HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 0,
    },
];

/// One response: the status line, the header lines (names lowered;
/// `content-length` dropped unless `exact`), the body when `exact`.
#[derive(Debug, PartialEq, Eq)]
struct Resp {
    status: String,
    headers: Vec<String>,
    body: Option<Vec<u8>>,
}

/// Splits what came back into responses (framed by `content-length`).
fn responses(mut raw: &[u8]) -> Vec<(Resp, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        let mut len = 0usize;
        for l in lines {
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            let k = k.to_ascii_lowercase();
            let v = v.trim();
            if k == "content-length" {
                len = v.parse().unwrap_or(0);
            }
            // The connection mode's own header is HAProxy's H1 mux's
            // business; whether the connection stays open shows in the
            // number of responses.
            if k == "connection" {
                continue;
            }
            headers.push(format!("{k}: {v}"));
        }
        let start = end + 4;
        let stop = (start + len).min(raw.len());
        let body = raw[start..stop].to_vec();
        raw = &raw[stop..];
        out.push((
            Resp {
                status,
                headers,
                body: None,
            },
            body,
        ));
    }
    out
}

/// Sends `send` on one connection and reads until it closes (or 5s).
fn exchange(port: u16, send: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(send.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// What a client saw: the responses, with the body and `content-length`
/// kept only for pages that are not a proxy's built-in one (a body
/// starting `<html><body><h1>` is a built-in page).
fn seen(raw: &[u8]) -> Vec<Resp> {
    responses(raw)
        .into_iter()
        .map(|(mut r, body)| {
            if body.starts_with(b"<html><body><h1>") {
                r.headers.retain(|h| !h.starts_with("content-length:"));
            } else {
                r.body = Some(body);
            }
            r
        })
        .collect()
}

fn fill(t: &str, fe: u16, srv: u16, dead: u16, dir: &TempDir) -> String {
    t.replace("{FE}", &fe.to_string())
        .replace("{S}", &srv.to_string())
        .replace("{DEAD_BE}", DEAD)
        .replace("{DEAD}", &dead.to_string())
        .replace("{DIR}", &dir.path().display().to_string())
}

fn run_cases(test: &str, cases: &[Case], dir: &TempDir) {
    let ports = free_ports(2);
    let _srv = TestServer::start(ports[0], server);
    let dead = ports[1];
    let mut differ = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let fe_ports = free_ports(2);
        let mut got = Vec::new();
        for (who, fe) in [("ha", fe_ports[0]), ("sluice", fe_ports[1])] {
            let tag = format!("{test}-{who}{i}");
            let body = fill(case.cfg, fe, ports[0], dead, dir);
            let defaults = if body.starts_with("defaults") {
                ""
            } else {
                "defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 1s\n"
            };
            let cfg = format!(
                "{}{defaults}{body}",
                global_section(&dir.join(&format!("{tag}.sock")), "")
            );
            let (raw, logs) = if who == "ha" {
                let ha = HaRun::start(dir, &tag, &cfg);
                let raw = exchange(fe, case.send);
                // Give a log line that should not come the time to come.
                std::thread::sleep(Duration::from_millis(300));
                let l = poll(Duration::from_secs(3), Duration::from_millis(10), || {
                    let l = traffic_lines(&ha.proc.output());
                    (l.len() >= case.logged).then_some(l)
                });
                (raw, l.unwrap_or_else(|| traffic_lines(&ha.proc.output())))
            } else {
                let s = Sluice::run(dir, &tag, &cfg);
                let raw = exchange(fe, case.send);
                std::thread::sleep(Duration::from_millis(300));
                let l = poll(Duration::from_secs(3), Duration::from_millis(10), || {
                    let l = traffic_lines(&s.log());
                    (l.len() >= case.logged).then_some(l)
                });
                (raw, l.unwrap_or_else(|| traffic_lines(&s.log())))
            };
            got.push((seen(&raw), logs.len()));
        }
        println!("{}:", case.name);
        println!("  haproxy {:?}", got[0]);
        println!("  sluice  {:?}", got[1]);
        if got[0] != got[1] || got[0].1 != case.logged || got[0].0.is_empty() {
            differ.push(case.name);
        }
    }
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy (or from the expected log count) in: {differ:?}"
    );
}

#[test]
fn monitor_side_by_side() {
    if !haproxy_or_skip("monitor_side_by_side") {
        return;
    }
    let dir = TempDir::new("monitor_side_by_side");
    run_cases("mon", CASES, &dir);
}

/// Backend lines of a backend whose only server is down (a closed port).
const DEAD: &str = "    retries 0\n    server s1 127.0.0.1:{DEAD}\n";

const ERROR_CASES: &[Case] = &[
    Case {
        name: "503 (no server): the backend's page wins over the frontend's",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    errorfile 503 {DIR}/fe503.http\n    default_backend be\n\
              backend be\n    errorfile 503 {DIR}/be503.http\n{DEAD_BE}",
        send: "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "503 (no server): the frontend's page when the backend has none",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    errorfile 503 {DIR}/fe503.http\n    default_backend be\n\
              backend be\n{DEAD_BE}",
        send: "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "403 (deny in the frontend): the frontend's page",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    errorfile 403 {DIR}/fe403.http\n    http-request deny\n    default_backend be\n\
              backend be\n    errorfile 403 {DIR}/be403.http\n    server s1 127.0.0.1:{S}\n",
        send: "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "403 (deny in the backend): the backend's page",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    errorfile 403 {DIR}/fe403.http\n    default_backend be\n\
              backend be\n    errorfile 403 {DIR}/be403.http\n    http-request deny\n    server s1 127.0.0.1:{S}\n",
        send: "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "504 (server timeout): the backend's page",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    errorfile 504 {DIR}/fe504.http\n    default_backend be\n\
              backend be\n    errorfile 504 {DIR}/be504.http\n    server s1 127.0.0.1:{S}\n",
        send: "GET /slow HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "400 (bad request): the built-in page, errorfile or not",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    errorfile 400 {DIR}/fe400.http\n    default_backend be\n\
              backend be\n    errorfile 400 {DIR}/be400.http\n    server s1 127.0.0.1:{S}\n",
        send: "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\nbad header\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "errorfiles imports an http-errors section",
        cfg: "http-errors site\n    errorfile 503 {DIR}/site503.http\n    errorfile 403 {DIR}/be403.http\n\
              frontend fe\n    bind 127.0.0.1:{FE}\n    default_backend be\n\
              backend be\n    errorfiles site 503\n{DEAD_BE}",
        send: "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "a backend inherits the defaults' errorfile, which wins over the frontend's own",
        cfg: "defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 1s\n    errorfile 503 {DIR}/def503.http\n\
              frontend fe\n    bind 127.0.0.1:{FE}\n    errorfile 503 {DIR}/fe503.http\n    default_backend be\n\
              backend be\n{DEAD_BE}",
        send: "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "errorfile 200 is the monitor's page",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    monitor-uri /healthz\n    errorfile 200 {DIR}/ok200.http\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 0,
    },
];

#[test]
fn errorfile_side_by_side() {
    if !haproxy_or_skip("errorfile_side_by_side") {
        return;
    }
    let dir = TempDir::new("errorfile_side_by_side");
    for (name, status) in [
        ("fe503", "503 Service Unavailable"),
        ("be503", "503 Service Unavailable"),
        ("def503", "503 Service Unavailable"),
        ("site503", "503 Service Unavailable"),
        ("fe403", "403 Forbidden"),
        ("be403", "403 Forbidden"),
        ("fe504", "504 Gateway Time-out"),
        ("be504", "504 Gateway Time-out"),
        ("fe400", "400 Bad Request"),
        ("be400", "400 Bad Request"),
        ("ok200", "200 OK"),
    ] {
        let body = format!("page {name}\n");
        write_file(
            &dir.join(&format!("{name}.http")),
            &format!(
                "HTTP/1.0 {status}\r\nCache-Control: no-cache\r\nContent-Type: text/plain\r\nX-Page: {name}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
    }
    run_cases("err", ERROR_CASES, &dir);
}

const ERRORLOC_CASES: &[Case] = &[
    Case {
        name: "errorloc 503 (no server): a 302 to the URL in place of the page",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    default_backend be\n\
              backend be\n    errorloc 503 http://status.example.com/down\n{DEAD_BE}",
        send: "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "errorloc303 403 (deny in the frontend): a 303, the connection kept",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    errorloc303 403 /forbidden.html\n    http-request deny if { path /secret }\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /secret HTTP/1.1\r\nhost: t\r\n\r\nGET /secret HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 2,
    },
    Case {
        name: "errorloc302 inherited from defaults; a later errorfile replaces it",
        cfg: "defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 1s\n    errorloc302 503 https://example.com/maintenance\n    errorloc302 403 https://example.com/denied\n\
              frontend fe\n    bind 127.0.0.1:{FE}\n    default_backend be\n\
              backend be\n    errorfile 403 {DIR}/be403.http\n    http-request deny if { path /deny }\n{DEAD_BE}",
        // The deny first: after a 503 Sluice closes the connection where
        // HAProxy keeps it (not an errorloc matter).
        send: "GET /deny HTTP/1.1\r\nhost: t\r\n\r\nGET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 2,
    },
];

/// `errorloc`, `errorloc302` and `errorloc303` side by side with HAProxy
/// 2.6: the status line, `Location`, `Cache-Control`, the empty body.
#[test]
fn errorloc_side_by_side() {
    if !haproxy_or_skip("errorloc_side_by_side") {
        return;
    }
    let dir = TempDir::new("errorloc_side_by_side");
    let body = "page be403\n";
    write_file(
        &dir.join("be403.http"),
        &format!(
            "HTTP/1.0 403 Forbidden\r\nCache-Control: no-cache\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    run_cases("loc", ERRORLOC_CASES, &dir);
}

const RETURN_FILE_CASES: &[Case] = &[
    Case {
        name: "http-request return file: the file's bytes as they are",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    http-request return status 200 content-type text/plain file {DIR}/payload.txt if { path /f }\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /f HTTP/1.1\r\nhost: t\r\n\r\nGET /other HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 2,
    },
    Case {
        name: "http-request return lf-file: the file's text as a log-format string",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    http-request return status 404 content-type text/plain lf-file {DIR}/payload.txt hdr x-from file\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /some/path HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "http-response return file replaces the server's response",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    default_backend be\n\
              backend be\n    http-response return status 503 content-type text/html file {DIR}/payload.txt if { status 200 }\n    server s1 127.0.0.1:{S}\n",
        send: "GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
];

/// `http-request return ... file|lf-file` and `http-response return ...
/// file` side by side with HAProxy 2.6: the file is read when the
/// configuration is loaded, its bytes (or its text rendered as a
/// log-format string) are the payload.
#[test]
fn return_file_side_by_side() {
    if !haproxy_or_skip("return_file_side_by_side") {
        return;
    }
    let dir = TempDir::new("return_file_side_by_side");
    write_file(&dir.join("payload.txt"), "hello %[path] from a file\n");
    run_cases("retfile", RETURN_FILE_CASES, &dir);
}

const HTTP_ERROR_CASES: &[Case] = &[
    Case {
        name: "http-error lf-string with a header: rendered for the 503 of a dead server",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    default_backend be\n\
              backend be\n    http-error status 503 content-type text/plain hdr x-path \"p=%[path]\" lf-string \"down for %[path]\"\n{DEAD_BE}",
        send: "GET /abc HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 1,
    },
    Case {
        name: "http-error replaces an earlier errorfile; deny and return default-errorfiles use it",
        cfg: "frontend fe\n    bind 127.0.0.1:{FE}\n    errorfile 403 {DIR}/fe403.http\n    http-error status 403 content-type text/plain string denied\n    http-error status 200 content-type text/plain lf-string \"at %[path]\"\n    http-request deny if { path /deny }\n    http-request return status 200 default-errorfiles if { path /ret }\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /deny HTTP/1.1\r\nhost: t\r\n\r\nGET /ret HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 2,
    },
    Case {
        name: "http-error errorfile and errorfiles",
        cfg: "http-errors errs\n    errorfile 404 {DIR}/fe404.http\n\
              frontend fe\n    bind 127.0.0.1:{FE}\n    http-error status 403 errorfile {DIR}/be403.http\n    http-error status 404 errorfiles errs\n    http-request deny if { path /deny }\n    http-request deny deny_status 404 if { path /nf }\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /deny HTTP/1.1\r\nhost: t\r\n\r\nGET /nf HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 2,
    },
    Case {
        name: "errorfile and errorfiles in deny and return",
        cfg: "http-errors errs\n    errorfile 404 {DIR}/fe404.http\n\
              frontend fe\n    bind 127.0.0.1:{FE}\n    http-request deny deny_status 403 errorfile {DIR}/be403.http if { path /deny }\n    http-request return status 404 errorfiles errs if { path /nf }\n    http-request return status 400 errorfiles errs if { path /other }\n    default_backend be\n\
              backend be\n    server s1 127.0.0.1:{S}\n",
        send: "GET /deny HTTP/1.1\r\nhost: t\r\n\r\nGET /nf HTTP/1.1\r\nhost: t\r\n\r\nGET /other HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        logged: 3,
    },
];

/// `http-error` and `errorfile`/`errorfiles` in `deny`/`return` replies,
/// side by side with HAProxy 2.6.
#[test]
fn http_error_side_by_side() {
    if !haproxy_or_skip("http_error_side_by_side") {
        return;
    }
    let dir = TempDir::new("http_error_side_by_side");
    for (name, status) in [
        ("fe403", "403 Forbidden"),
        ("be403", "403 Forbidden"),
        ("fe404", "404 Not Found"),
    ] {
        let body = format!("page {name}\n");
        write_file(
            &dir.join(&format!("{name}.http")),
            &format!(
                "HTTP/1.0 {status}\r\nCache-Control: no-cache\r\nContent-Type: text/plain\r\nX-Page: {name}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
    }
    run_cases("herr", HTTP_ERROR_CASES, &dir);
}
