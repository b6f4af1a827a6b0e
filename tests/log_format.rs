//! `log-format`, `option httplog clf`, captures and unique ids, side by
//! side with HAProxy 2.6 fed the same configuration and the same
//! requests: the lines are compared after masking what differs from run
//! to run (dates, ports, durations, byte counts) by its shape (digits
//! become `9`), so a `-1` against a `0` still shows.
//!
//! Requests: a 200 from a server that echoes the unique id it received,
//! a 503 because the backend's only server refuses connections (`SC--`),
//! a local redirect (`LR--`), and a request with a quote, a `#` and a
//! non-ASCII byte in its URI.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

/// Serves `HTTP/1.1 200 OK` to every request, one per connection, with
/// the `X-Unique-ID` it received back in `X-Got-Id`.
fn echo_handler(mut s: std::net::TcpStream, _n: usize) {
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    let req = String::from_utf8_lossy(&buf[..n]).into_owned();
    let id = req
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("x-unique-id: ")
                .then(|| l[13..].to_string())
        })
        .unwrap_or_else(|| "none".into());
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nX-Got-Id: {id}\r\nX-Srv: s|1{{}}\r\nconnection: close\r\n\r\nok"
    );
}

/// The requests of every case, in order: path and extra header lines.
const REQUESTS: &[(&str, &str)] = &[
    ("/ok?q=1&r=2", "User-Agent: ua/1.0\r\nX-Esc: a\"b]c\\d\r\n"),
    ("/down", ""),
    ("/redirect", ""),
    ("/odd\"#\u{e9}", "Host: second\r\n"),
];

fn send(port: u16, path: &str, extra: &str) -> String {
    let mut s = connect(port, Duration::from_secs(5));
    let host = if extra.contains("Host:") {
        ""
    } else {
        "Host: x\r\n"
    };
    // One write: `write!` on a socket writes piece by piece, and a proxy
    // that answers 400 to the first piece (HAProxy on `#`) may have closed
    // before the next one.
    let req = format!("GET {path} HTTP/1.1\r\n{host}{extra}Connection: close\r\n\r\n");
    if let Err(e) = s.write_all(req.as_bytes()) {
        return format!("write error: {e}");
    }
    let (resp, _) = read_to_close(&mut s);
    String::from_utf8_lossy(&resp)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn config(sock: &std::path::Path, fe_lines: &str, fe: u16, ok: u16, dead: u16) -> String {
    format!(
        "global\n    log stderr format raw local0 info\n    stats socket {} mode 600 level admin\n\
         defaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n{fe_lines}\
             http-request redirect location /ok if {{ path /redirect }}\n\
             use_backend be_dead if {{ path /down }}\n    default_backend be_ok\n\
         backend be_ok\n    server s1 127.0.0.1:{ok}\n\
         backend be_dead\n    retries 0\n    server s1 127.0.0.1:{dead}\n",
        sock.display()
    )
}

/// `k=v` words whose value is masked to its shape.
const MASKED: &[&str] = &[
    "fp", "cp", "t", "tr", "T", "trg", "Ts", "ms", "Th", "Ti", "TR", "Tq", "Tw", "Tc", "Tr", "Ta",
    "Tt", "Td", "Tu", "B", "U", "pid", "rt",
    // Connection counts and the log counter depend on when each process
    // logs (HAProxy may log a request after the next one).
    "ac", "fc", "lc",
];

/// `k=v` words whose value is hexadecimal (unique ids): masked to its
/// shape too, hex digits included.
const HEX: &[&str] = &["ID", "x", "hs"];

fn mask(line: &str) -> String {
    line.split(' ')
        .map(|w| match w.split_once('=') {
            Some((k, v)) if MASKED.contains(&k) => format!("{k}={}", mask_digits(v)),
            Some((k, v)) if HEX.contains(&k) => {
                let v: String = v
                    .chars()
                    .map(|c| if c.is_ascii_hexdigit() { '0' } else { c })
                    .collect();
                format!("{k}={}", mask_digits(&v))
            }
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the requests through HAProxy and Sluice with `fe_lines` in the
/// frontend; returns both sets of traffic lines, masked, each sorted.
fn side_by_side(
    dir: &TempDir,
    tag: &str,
    fe_lines: &str,
    norm: &dyn Fn(&str) -> String,
) -> (Vec<String>, Vec<String>) {
    let p = free_ports(4);
    let _srv = TestServer::start(p[2], echo_handler);
    let mut got = Vec::new();
    for (who, port) in [("ha", p[0]), ("sluice", p[1])] {
        let t = format!("{who}_{tag}");
        let cfg = config(&dir.join(&format!("{t}.sock")), fe_lines, port, p[2], p[3]);
        let run = |lines: &dyn Fn() -> Vec<String>| {
            for (path, extra) in REQUESTS {
                let status = send(port, path, extra);
                assert!(status.starts_with("HTTP/1."), "{who} {path}: {status}");
            }
            let want = REQUESTS.len();
            poll(Duration::from_secs(10), Duration::from_millis(20), || {
                let l: Vec<String> = lines()
                    .into_iter()
                    .filter(|l| l.starts_with("K "))
                    .collect();
                (l.len() >= want).then_some(l)
            })
            .unwrap_or_else(|| panic!("{who} {tag}: fewer than {want} lines: {:#?}", lines()))
        };
        let mut l = if who == "ha" {
            let ha = HaRun::start(dir, &t, &cfg);
            run(&|| ha.log_lines())
        } else {
            let s = Sluice::run(dir, &t, &cfg);
            run(&|| s.log_lines())
        };
        l = l.iter().map(|x| norm(x)).collect();
        l.sort();
        got.push(l);
    }
    let sl = got.pop().unwrap();
    let ha = got.pop().unwrap();
    (ha, sl)
}

fn check(tag: &str, fe_lines: &str) -> Vec<String> {
    let dir = TempDir::new(&format!("log_format_{tag}"));
    let (ha, sl) = side_by_side(&dir, tag, fe_lines, &mask);
    println!("{tag}:");
    for (h, s) in ha.iter().zip(&sl) {
        println!("  haproxy {h}\n  sluice  {s}");
    }
    assert_eq!(sl, ha, "{tag}");
    sl
}

/// Every variable whose value is the same in both runs.
#[test]
fn log_format_plain_variables() {
    if !haproxy_or_skip("log_format_plain_variables") {
        return;
    }
    let l = check(
        "plain",
        "    log-format \"K HU=%HU ci=%ci fi=%fi f=%f ft=%ft b=%b s=%s si=%si sp=%sp ST=%ST ts=%ts tsc=%tsc ac=%ac fc=%fc bc=%bc sc=%sc rc=%rc sq=%sq bq=%bq CC=%CC CS=%CS U=%U r=%{+Q}r HM=%HM HP=%HP HPO=%HPO HQ=%HQ HV=%HV H=%H lc=%lc\"\n",
    );
    assert!(l.iter().any(|x| x.contains("ST=503 ts=SC")), "{l:?}");
    assert!(l.iter().any(|x| x.contains("HQ=?q=1&r=2")), "{l:?}");
}

/// Dates, timers, ports, counters: compared by shape.
#[test]
fn log_format_timers_and_dates() {
    if !haproxy_or_skip("log_format_timers_and_dates") {
        return;
    }
    let l = check(
        "timers",
        "    log-format \"K HU=%HU t=%t tr=%tr T=%T trg=%trg Ts=%Ts ms=%ms cp=%cp fp=%fp Th=%Th Ti=%Ti TR=%TR Tq=%Tq Tw=%Tw Tc=%Tc Tr=%Tr Ta=%Ta Tt=%Tt Td=%Td Tu=%Tu B=%B pid=%pid rt=%rt\"\n",
    );
    assert!(l.iter().any(|x| x.contains("Tc=-9")), "{l:?}");
}

/// Options (`+Q`, `+X`, `+E`, `%o`), sample expressions, `%%` and
/// separators.
#[test]
fn log_format_options_and_samples() {
    if !haproxy_or_skip("log_format_options_and_samples") {
        return;
    }
    let l = check(
        "opts",
        "    log-format \"K HU=%HU   q=%{+Q}ci,%{+Q}ST,%{+Q}b,%{+Q}HM,%{+Q}HQ x=%{+X}ci:%{+X}Ts m=%[method,lower] n=%[var(txn.none)] nq=%{+Q}[var(txn.none)] st=%[status] src=%[src] pct=100%% %{+Q}o o=%f,%ST,%[str(k)],%HQ\"\n",
    );
    assert!(l.iter().any(|x| x.contains("q=\"127.0.0.1\",")), "{l:?}");
}

/// `option httplog clf`, and `option httplog` with captures (the
/// general path), and `%hr %hs %hrl %hsl`.
#[test]
fn httplog_clf_and_captures() {
    if !haproxy_or_skip("httplog_clf_and_captures") {
        return;
    }
    let caps = "    capture request header Host len 3\n    capture request header User-Agent len 64\n    capture response header X-Srv len 10\n";
    // The lines start with the client address: key them on a header.
    let norm = |l: &str| {
        let m = l
            .split(' ')
            .map(|w| {
                if w.starts_with("127.0.0.1:") {
                    "127.0.0.1:PORT".into()
                } else if w.starts_with('[') && w.len() > 20 || w.ends_with("+0000]") {
                    "[DATE]".into()
                } else if w
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '/' || c == '-')
                    && w.contains('/')
                {
                    mask_digits(w)
                } else {
                    w.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        format!("K {m}")
    };
    for (tag, opt) in [
        ("httplog_caps", "    option httplog\n"),
        ("clf", "    option httplog clf\n"),
    ] {
        let dir = TempDir::new(&format!("log_format_{tag}"));
        let fe = format!("{opt}{caps}");
        // Lines are recognised by their client address here.
        let (ha, sl) = side_by_side_raw(&dir, tag, &fe, &norm);
        println!("{tag}:");
        for (h, s) in ha.iter().zip(&sl) {
            println!("  haproxy {h}\n  sluice  {s}");
        }
        // Timers, byte counts and ports are not compared.
        let strip = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|l| {
                    l.split(' ')
                        .filter(|w| !w.chars().all(|c| c.is_ascii_digit() || c == '-'))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        };
        assert_eq!(strip(&sl), strip(&ha), "{tag}");
        assert!(
            sl.iter()
                .any(|l| l.contains("{x|ua/1.0}") || l.contains("\"x\" \"ua/1.0\"")),
            "{sl:?}"
        );
    }
}

/// As [`side_by_side`], for lines that start with the client address.
fn side_by_side_raw(
    dir: &TempDir,
    tag: &str,
    fe_lines: &str,
    norm: &dyn Fn(&str) -> String,
) -> (Vec<String>, Vec<String>) {
    let p = free_ports(4);
    let _srv = TestServer::start(p[2], echo_handler);
    let mut got = Vec::new();
    for (who, port) in [("ha", p[0]), ("sluice", p[1])] {
        let t = format!("{who}_{tag}");
        let cfg = config(&dir.join(&format!("{t}.sock")), fe_lines, port, p[2], p[3]);
        let run = |lines: &dyn Fn() -> Vec<String>| {
            for (path, extra) in REQUESTS {
                let status = send(port, path, extra);
                assert!(status.starts_with("HTTP/1."), "{who} {path}: {status}");
            }
            let want = REQUESTS.len();
            poll(Duration::from_secs(10), Duration::from_millis(20), || {
                let l: Vec<String> = lines()
                    .into_iter()
                    .filter(|l| l.starts_with("127.0.0.1"))
                    .collect();
                (l.len() >= want).then_some(l)
            })
            .unwrap_or_else(|| panic!("{who} {tag}: fewer than {want} lines: {:#?}", lines()))
        };
        let mut l = if who == "ha" {
            let ha = HaRun::start(dir, &t, &cfg);
            run(&|| ha.log_lines())
        } else {
            let s = Sluice::run(dir, &t, &cfg);
            run(&|| s.log_lines())
        };
        l = l.iter().map(|x| norm(x)).collect();
        l.sort();
        got.push(l);
    }
    let sl = got.pop().unwrap();
    let ha = got.pop().unwrap();
    (ha, sl)
}

/// `unique-id-format` and `unique-id-header`: the server receives the
/// id, `%ID` logs it, `unique-id` fetches it, `capture response header`
/// shows what the server echoed.
#[test]
fn unique_id_side_by_side() {
    if !haproxy_or_skip("unique_id_side_by_side") {
        return;
    }
    let l = check(
        "uid",
        "    unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid\n    unique-id-header X-Unique-ID\n    capture response header X-Got-Id len 100\n    log-format \"K HU=%HU ID=%ID x=%[unique-id] hs=%hs\"\n",
    );
    // What the server got is what was logged.
    let ok = l
        .iter()
        .find(|x| x.contains("HU=/ok"))
        .expect("the /ok line");
    assert!(ok.contains("ID=9:9_9:9_9_9:9 "), "{ok}");
    assert!(ok.ends_with("hs={9:9_9:9_9_9:9}"), "{ok}");
}

/// Parse errors name the line, in HAProxy's words.
#[test]
fn log_format_errors() {
    let dir = TempDir::new("log_format_errors");
    for (fmt, want) in [
        (
            "log-format \"%ci %foo\"",
            "failed to parse log-format : no such format variable 'foo'. If you wanted to emit the '%' character verbatim, you need to use '%%'.",
        ),
        (
            "log-format \"%[nosuch]\"",
            "failed to parse log-format : failed to parse sample expression <nosuch]> : unknown fetch method 'nosuch'.",
        ),
        (
            "unique-id-format \"%{+Q\"",
            "failed to parse unique-id : missing '}' after '%{'.",
        ),
    ] {
        let p = free_ports(1);
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
             frontend fe\n    bind 127.0.0.1:{}\n    {fmt}\n    default_backend be\n\
             backend be\n    server s1 127.0.0.1:1\n",
            p[0]
        );
        let path = dir.join("e.cfg");
        std::fs::write(&path, &cfg).unwrap();
        let out = std::process::Command::new(proxy_mio())
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{fmt}: accepted");
        assert!(err.contains("e.cfg:8]"), "{fmt}: {err}");
        assert!(err.contains(want), "{fmt}: {err}");
    }
}

/// `http-response capture EXPR id N` and `http-after-response capture
/// EXPR id N` into `declare capture response` slots numbered after a
/// `capture response header` one, shown by `%hs` and `%hsl`: the server's
/// header cut to its slot, and the status even on the local redirect
/// (only the after-response rules run there).
#[test]
fn http_response_capture_side_by_side() {
    if !haproxy_or_skip("http_response_capture_side_by_side") {
        return;
    }
    let l = check(
        "rescap",
        "    capture response header X-Srv len 3\n    declare capture response len 2\n    declare capture response len 10\n    http-response capture res.hdr(x-got-id) id 1\n    http-after-response capture status id 2\n    log-format \"K HU=%HU hs=%hs hsl=%hsl\"\n",
    );
    // `%hs` is masked (digits become 9), `%hsl` is not.
    assert!(l.iter().any(|x| x.contains("hsl=s#7C1 no 200")), "{l:?}");
    assert!(
        l.iter()
            .any(|x| x.contains("HU=/redirect hs={||9} hsl=- - 302")),
        "{l:?}"
    );
}

/// `http-request capture EXPR len N` (a slot of its own, in line order
/// with `capture request header`) and `declare capture` + `http-request
/// capture EXPR id N`, shown by `%hr` and `%hrl`.
#[test]
fn http_request_capture_side_by_side() {
    if !haproxy_or_skip("http_request_capture_side_by_side") {
        return;
    }
    let l = check(
        "reqcap",
        "    capture request header Host len 10\n    http-request capture req.hdr(user-agent) len 4\n    declare capture request len 6\n    http-request capture str(abcdefgh) id 2\n    log-format \"K HU=%HU hr=%hr hrl=%hrl\"\n",
    );
    assert!(
        l.iter()
            .any(|x| x.contains("hr={x|ua/1|abcdef} hrl=x ua/1 abcdef")),
        "{l:?}"
    );
}
