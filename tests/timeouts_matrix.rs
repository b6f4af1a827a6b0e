//! The timeout-by-phase matrix (issue 18): `timeout client | server |
//! connect | http-request | http-keep-alive | queue | tunnel` against the
//! phases of a connection, side by side with HAProxy 2.6 fed the same
//! configuration.
//!
//! Each cell is one phase (the request head arriving, its body arriving,
//! a complete request waiting for the server connection, for the response
//! head, a response body flowing to a client that does not read, keep-alive
//! idle, a WebSocket tunnel idle, a TCP connection idle, a request in a
//! server queue) and one timeout setting: the timeout under test is short
//! (300 ms), the others long (1500 ms). What the client gets (the status,
//! then a FIN, a reset, or nothing), when (which of the configured times it
//! is nearest to: 300 ms, the server's answer at 600 ms, 1500 ms), and the
//! log's termination state are compared. Times are compared coarsely: the
//! point is which timeout fired, not how fast.
//!
//! The table is printed (`cargo test --test timeouts_matrix --
//! --nocapture`); `docs/http.md` holds the final one.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

/// The timeout under test.
const SHORT: u64 = 300;
/// Every other timeout.
const LONG: u64 = 1500;
/// When a late server answers.
const LATE: u64 = 600;
/// How long a client waits for anything at most.
const DEADLINE: u64 = 2300;

/// What the server does.
#[derive(Clone, Copy, Debug)]
enum Srv {
    /// Reads the request, never answers.
    Hang,
    /// Answers 200 after `LATE` ms.
    Late,
    /// Answers 200 with a 32 MB body at once.
    Big,
    /// Answers `101` and then echoes (WebSocket).
    Ws,
    /// A listener whose accept queue is full: connections never complete.
    Blackhole,
    /// TCP: accepts, reads, never writes.
    TcpIdle,
}

/// What the client does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cli {
    /// A request head cut in its middle.
    PartialHead,
    /// A complete head announcing 10 bytes of body, 3 sent.
    PartialBody,
    /// A complete request.
    Full,
    /// A complete request, then the response is not read for a while.
    NoRead,
    /// One request and its response, then the connection idles.
    KeepAlive,
    /// A WebSocket upgrade, then nothing.
    Ws,
    /// TCP: a few bytes, then nothing.
    TcpIdle,
    /// A request that the server holds, then a second one that queues
    /// behind it (server `maxconn 1`); the second is observed.
    Queue,
}

struct Cell {
    phase: &'static str,
    /// The timeouts, as `name=ms` pairs; unlisted ones are `LONG`, `-`
    /// leaves one out.
    setting: &'static str,
    tcp: bool,
    srv: Srv,
    cli: Cli,
    /// More frontend lines.
    fe_extra: &'static str,
}

fn cells() -> Vec<Cell> {
    use Cli as C;
    use Srv as S;
    let c = |phase, setting, srv, cli| Cell {
        phase,
        setting,
        tcp: false,
        srv,
        cli,
        fe_extra: "",
    };
    let t = |phase, setting, srv, cli| Cell {
        phase,
        setting,
        tcp: true,
        srv,
        cli,
        fe_extra: "",
    };
    // TCP content rules waiting for 11 bytes that never come.
    let inspect = |setting| {
        Cell {
        phase: "TCP content rules waiting (inspect-delay 1500ms)",
        setting,
        tcp: true,
        srv: Srv::TcpIdle,
        cli: Cli::TcpIdle,
        fe_extra: "    tcp-request inspect-delay 1500ms\n    tcp-request content accept if { req.len gt 10 }\n",
    }
    };
    vec![
        c(
            "request head arriving",
            "http-request=short",
            S::Hang,
            C::PartialHead,
        ),
        c(
            "request head arriving",
            "client=short http-request=-",
            S::Hang,
            C::PartialHead,
        ),
        c(
            "request head arriving",
            "client=short",
            S::Hang,
            C::PartialHead,
        ),
        c(
            "request body arriving",
            "client=short",
            S::Hang,
            C::PartialBody,
        ),
        c(
            "request body arriving",
            "server=short",
            S::Hang,
            C::PartialBody,
        ),
        c(
            "request body arriving",
            "http-request=short",
            S::Hang,
            C::PartialBody,
        ),
        c(
            "waiting for server connect",
            "connect=short",
            S::Blackhole,
            C::Full,
        ),
        c(
            "waiting for server connect",
            "client=short",
            S::Blackhole,
            C::Full,
        ),
        c(
            "waiting for response head",
            "server=short",
            S::Hang,
            C::Full,
        ),
        c(
            "waiting for response head",
            "client=short",
            S::Late,
            C::Full,
        ),
        c(
            "waiting for response head",
            "client=short",
            S::Hang,
            C::Full,
        ),
        c(
            "waiting for response head",
            "client=short server=short",
            S::Hang,
            C::Full,
        ),
        c(
            "waiting for response head",
            "http-request=short",
            S::Late,
            C::Full,
        ),
        c(
            "response body to a slow reader",
            "client=short",
            S::Big,
            C::NoRead,
        ),
        c(
            "response body to a slow reader",
            "server=short",
            S::Big,
            C::NoRead,
        ),
        c(
            "keep-alive idle",
            "http-keep-alive=short",
            S::Late,
            C::KeepAlive,
        ),
        c(
            "keep-alive idle",
            "http-request=short http-keep-alive=-",
            S::Late,
            C::KeepAlive,
        ),
        c(
            "keep-alive idle",
            "client=short http-keep-alive=- http-request=-",
            S::Late,
            C::KeepAlive,
        ),
        c("keep-alive idle", "client=short", S::Late, C::KeepAlive),
        c("tunnel idle (WebSocket)", "tunnel=short", S::Ws, C::Ws),
        c(
            "tunnel idle (WebSocket)",
            "client=short tunnel=-",
            S::Ws,
            C::Ws,
        ),
        c(
            "tunnel idle (WebSocket)",
            "server=short tunnel=-",
            S::Ws,
            C::Ws,
        ),
        c("tunnel idle (WebSocket)", "client=short", S::Ws, C::Ws),
        c(
            "tunnel idle (WebSocket)",
            "client=short server=short",
            S::Ws,
            C::Ws,
        ),
        t("TCP idle", "client=short", S::TcpIdle, C::TcpIdle),
        t("TCP idle", "server=short", S::TcpIdle, C::TcpIdle),
        t("TCP idle", "tunnel=short", S::TcpIdle, C::TcpIdle),
        inspect("client=short"),
        inspect("client=short tunnel=-"),
        c("in the server queue", "queue=short", S::Hang, C::Queue),
        c("in the server queue", "client=short", S::Hang, C::Queue),
    ]
}

/// The `timeout` lines of a setting.
fn timeouts(setting: &str) -> String {
    let mut t: BTreeMap<&str, Option<u64>> = [
        "client",
        "server",
        "connect",
        "http-request",
        "http-keep-alive",
        "queue",
        "tunnel",
    ]
    .into_iter()
    .map(|k| (k, Some(LONG)))
    .collect();
    for pair in setting.split_whitespace() {
        let (k, v) = pair.split_once('=').expect("name=value");
        let v = match v {
            "short" => Some(SHORT),
            "-" => None,
            other => Some(other.parse().expect("ms")),
        };
        *t.get_mut(k).expect("known timeout") = v;
    }
    t.into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("    timeout {k} {v}ms\n")))
        .collect()
}

fn config(cell: &Cell, sock: &std::path::Path, fe: u16, srv: u16) -> String {
    let (mode, log) = if cell.tcp {
        ("tcp", "tcplog")
    } else {
        ("http", "httplog")
    };
    let maxconn = if matches!(cell.cli, Cli::Queue) {
        " maxconn 1"
    } else {
        ""
    };
    format!(
        "{}defaults\n    mode {mode}\n    log global\n    option {log}\n    retries 0\n{}frontend fe\n    bind 127.0.0.1:{fe}\n{}    default_backend be\nbackend be\n    server s1 127.0.0.1:{srv}{maxconn}\n",
        global_section(sock, ""),
        timeouts(cell.setting),
        cell.fe_extra
    )
}

/// A listener that never completes a connection: its accept queue is
/// kept full, so the kernel drops every new SYN (a connect timeout on
/// loopback).
struct Blackhole {
    _l: std::net::TcpListener,
    _fill: Vec<TcpStream>,
}

impl Blackhole {
    fn new(port: u16) -> Blackhole {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        s.set_reuse_address(true).expect("reuseaddr");
        let a: SocketAddr = ([127, 0, 0, 1], port).into();
        s.bind(&a.into()).expect("bind");
        s.listen(0).expect("listen");
        let l: std::net::TcpListener = s.into();
        let mut fill = Vec::new();
        for _ in 0..4 {
            if let Ok(c) = TcpStream::connect_timeout(&a, Duration::from_millis(200)) {
                fill.push(c);
            }
        }
        Blackhole { _l: l, _fill: fill }
    }
}

/// A running server (kept alive by being held; dropped at the end).
#[allow(dead_code)]
enum Server {
    Http(HttpServer),
    Tcp(TestServer),
    Hole(Blackhole),
}

fn start_server(kind: Srv, port: u16) -> Server {
    match kind {
        Srv::Hang => Server::Http(HttpServer::start(port, |_| Reply::Hang)),
        Srv::Late => Server::Http(HttpServer::start(port, |_| {
            std::thread::sleep(Duration::from_millis(LATE));
            Reply::Send(ok_response("late\n"))
        })),
        Srv::Big => Server::Http(HttpServer::start(port, |_| {
            let n = 32 << 20;
            let mut r = format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n").into_bytes();
            r.resize(r.len() + n, b'x');
            Reply::Send(r)
        })),
        Srv::Ws => Server::Http(HttpServer::start(port, |_| {
            Reply::Tunnel(
                b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                    .to_vec(),
            )
        })),
        Srv::Blackhole => Server::Hole(Blackhole::new(port)),
        Srv::TcpIdle => Server::Tcp(TestServer::start(port, |mut s, _| {
            let mut buf = [0u8; 1024];
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            let _ = s.shutdown(Shutdown::Write);
        })),
    }
}

/// What the client saw.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    /// The status of the response it got (`-` none; for the keep-alive
    /// and tunnel cases, the first one, then what came after it).
    status: String,
    /// When the answer came: which configured time it is nearest to.
    at: &'static str,
    /// How the connection ended: `fin`, `reset`, `open`.
    end: String,
    /// When it ended.
    end_at: &'static str,
}

fn bucket(ms: u64) -> &'static str {
    match ms {
        0..=449 => "~300ms",
        450..=1049 => "~600ms",
        1050..=2199 => "~1500ms",
        _ => "later",
    }
}

fn connect_to(port: u16) -> TcpStream {
    let s = connect(port, Duration::from_millis(DEADLINE));
    s.set_read_timeout(Some(Duration::from_millis(DEADLINE)))
        .unwrap();
    s
}

/// Reads until the end or `DEADLINE` ms after `t0`: the bytes, how it
/// ended, and when (the first byte for a response, the end otherwise).
fn read_all(s: &mut TcpStream, t0: Instant) -> (Vec<u8>, String, u64, Option<u64>) {
    let mut out = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = Duration::from_millis(DEADLINE).saturating_sub(t0.elapsed());
        if left.is_zero() {
            return (out, "open".into(), t0.elapsed().as_millis() as u64, first);
        }
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut buf) {
            Ok(0) => return (out, "fin".into(), t0.elapsed().as_millis() as u64, first),
            Ok(n) => {
                first.get_or_insert(t0.elapsed().as_millis() as u64);
                out.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, "open".into(), t0.elapsed().as_millis() as u64, first)
            }
            Err(_) => return (out, "reset".into(), t0.elapsed().as_millis() as u64, first),
        }
    }
}

fn status_of(bytes: &[u8]) -> String {
    let line = bytes.split(|&b| b == b'\r').next().unwrap_or_default();
    String::from_utf8_lossy(line)
        .split(' ')
        .nth(1)
        .map_or_else(|| "-".to_string(), str::to_string)
}

const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

fn run_client(cli: Cli, port: u16) -> Seen {
    let seen = |status: String, first: Option<u64>, end: String, ms: u64| Seen {
        status,
        at: first.map_or("-", bucket),
        end_at: if end == "open" { "-" } else { bucket(ms) },
        end,
    };
    match cli {
        Cli::PartialHead | Cli::PartialBody | Cli::Full | Cli::TcpIdle => {
            let mut s = connect_to(port);
            let t0 = Instant::now();
            let bytes: &[u8] = match cli {
                Cli::PartialHead => b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow",
                Cli::PartialBody => b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc",
                Cli::Full => REQ,
                _ => b"hello",
            };
            if cli == Cli::TcpIdle {
                // After the server connection is up: the tunnel timeout
                // is in force on both sides then.
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = s.write_all(bytes);
            let (got, end, ms, first) = read_all(&mut s, t0);
            let status = if cli == Cli::TcpIdle {
                if got.is_empty() {
                    "-".into()
                } else {
                    format!("{} bytes", got.len())
                }
            } else {
                status_of(&got)
            };
            seen(status, first, end, ms)
        }
        Cli::NoRead => {
            let mut s = connect_to(port);
            let _ = s.set_nodelay(true);
            let t0 = Instant::now();
            let _ = s.write_all(REQ);
            // Not reading: the proxy's buffers and the sockets fill up.
            std::thread::sleep(Duration::from_millis(DEADLINE - 300));
            let (got, end, _, _) = read_all(&mut s, Instant::now());
            let complete = got.len() >= (32 << 20);
            let status = format!(
                "{} {}",
                status_of(&got),
                if complete { "whole" } else { "cut" }
            );
            let _ = t0;
            // When it was cut is in the log (`Tt`), not seen here.
            Seen {
                status,
                at: "-",
                end,
                end_at: "-",
            }
        }
        Cli::KeepAlive => {
            let mut c = HttpConn::open(port);
            let _ = c.s.set_read_timeout(Some(Duration::from_millis(DEADLINE)));
            let r = c.request(REQ);
            let t0 = Instant::now();
            let (rest, end, ms, first) = read_all(&mut c.s, t0);
            let status = format!("{} then {}", r.status, status_of(&rest));
            seen(status, first, end, ms)
        }
        Cli::Ws => {
            let mut s = connect_to(port);
            let _ = s.write_all(
                b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            );
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => break,
                }
            }
            let t0 = Instant::now();
            let (_, end, ms, _) = read_all(&mut s, t0);
            seen(status_of(&head), None, end, ms)
        }
        Cli::Queue => {
            // The first request holds the only server slot.
            let mut first = connect_to(port);
            let _ = first.write_all(REQ);
            std::thread::sleep(Duration::from_millis(100));
            let mut s = connect_to(port);
            let t0 = Instant::now();
            let _ = s.write_all(REQ);
            let (got, end, ms, at) = read_all(&mut s, t0);
            drop(first);
            seen(status_of(&got), at, end, ms)
        }
    }
}

/// The termination states of the log, in order of the lines.
fn terminations(output: &str, tcp: bool) -> Vec<String> {
    traffic_lines(output)
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_once("] ")?.1.split_whitespace().collect();
            if tcp {
                w.get(4).map(|s| s.to_string())
            } else {
                Some(format!("{} {}", w.get(3)?, w.get(7)?))
            }
        })
        .collect()
}

/// One cell against one proxy.
fn run_cell(cell: &Cell, ha: bool, n: usize) -> (Seen, Vec<String>) {
    let tag = if ha { "ha" } else { "sl" };
    let dir = TempDir::new(&format!("tm{n}{tag}"));
    let [fe, srv] = free_ports(2)[..] else {
        panic!()
    };
    let sock = dir.join(&format!("{tag}.sock"));
    let text = config(cell, &sock, fe, srv);
    let _server = start_server(cell.srv, srv);
    let (seen, output): (Seen, Box<dyn Fn() -> String>) = if ha {
        let h = HaRun::start(&dir, tag, &text);
        let seen = run_client(cell.cli, fe);
        let h = std::sync::Arc::new(h);
        (seen, Box::new(move || h.proc.output()))
    } else {
        let p = Sluice::run(&dir, tag, &text);
        let seen = run_client(cell.cli, fe);
        let p = std::sync::Arc::new(p);
        (seen, Box::new(move || p.log()))
    };
    // Every log line is written by the time the longest timeout ran out.
    std::thread::sleep(Duration::from_millis(LONG + 300));
    (seen, terminations(&output(), cell.tcp))
}

#[test]
fn timeouts_in_every_phase_act_as_in_haproxy() {
    if !haproxy_or_skip("timeouts_in_every_phase_act_as_in_haproxy") {
        return;
    }
    let cells = cells();
    type Res = ((Seen, Vec<String>), (Seen, Vec<String>));
    let results: Mutex<BTreeMap<usize, Res>> = Mutex::new(BTreeMap::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(cell) = cells.get(i) else { return };
                let sl = run_cell(cell, false, i);
                let ha = run_cell(cell, true, i);
                results.lock().unwrap().insert(i, (ha, sl));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut table = String::from(
        "| phase | timeouts (others 1500ms) | HAProxy 2.6: answer at, end at / log | Sluice | |\n|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let ((hs, hl), (ss, sl)) = &results[&i];
        let same = hs == ss && hl == sl;
        // After an error page of its own (408, 503, 504), HAProxy 2.6 keeps
        // the connection until `timeout client`; Sluice says `connection:
        // close` and closes at once (docs/http.md).
        let proxy_error = ["408", "503", "504"].contains(&ss.status.as_str());
        let close_only = !same
            && proxy_error
            && hs.status == ss.status
            && hs.at == ss.at
            && hs.end == ss.end
            && hl == sl
            && ss.end_at == ss.at;
        let show = |s: &Seen, l: &[String]| {
            format!(
                "{} {}, {} {} / {}",
                s.status,
                s.at,
                s.end,
                s.end_at,
                if l.is_empty() {
                    "no log".to_string()
                } else {
                    l.join(", ")
                }
            )
        };
        if !same && !close_only {
            failures.push(format!(
                "{} / {}:\n  HAProxy: {}\n  Sluice:  {}",
                cell.phase,
                cell.setting,
                show(hs, hl),
                show(ss, sl)
            ));
        }
        table.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            cell.phase,
            cell.setting,
            show(hs, hl),
            show(ss, sl),
            if same {
                "same"
            } else if close_only {
                "same answer; Sluice closes at once"
            } else {
                "DIFFERS"
            }
        ));
    }
    let _ = writeln!(std::io::stderr(), "\n{table}");
    assert!(
        failures.is_empty(),
        "{} cell(s) differ from HAProxy:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
