//! `http-proxy`: HTTP/1.1 clients -> Sluice (HTTP mode) -> servers.
//!
//! **Configuration** (drawn): `mode http`, `option httplog`, `listen` or
//! `frontend` + `backend`, 2–4 servers, `balance`, TCP checks,
//! `maxconn`/`maxqueue`, `retries`, `option redispatch`, `http-reuse
//! never|safe|aggressive|always`, sometimes `option http-server-close`,
//! `option forwardfor`, `timeout http-request`/`http-keep-alive`, and three
//! rules: `http-request return ... if { path_beg /local/ }`, `http-request
//! deny if { path_beg /deny/ }`, `http-request set-header x-sim-fe sluice`.
//!
//! **Clients** hold one keep-alive connection each and send 1–8 requests:
//! GET, HEAD, POST with a `Content-Length` or a chunked body (random chunk
//! sizes, half the size lines not canonical: leading zeros, whitespace,
//! extensions; sometimes trailers, a forbidden one among them), to `/r/C/J` (a server), `/local/C/J` (the
//! `return` rule) or `/deny/C/J`; sometimes pipelined (up to 4 ahead),
//! the bytes split at random with pauses between writes, the last request
//! sometimes `Connection: close`; some clients vanish (reset or close)
//! in the middle of a request or while waiting; some read slowly; some
//! linger after their last response until the proxy closes.
//!
//! **Servers** parse every request with the simulator's own parser and
//! check it: a request they may see (only `/r/`), from a client that sent
//! it, never seen before, with the proxy's `x-sim-fe` header, the right
//! `x-forwarded-for` and PROXY header, framing and body byte for byte
//! (chunk size lines canonical, no forbidden trailer),
//! never on a connection whose previous response is not out yet, and with
//! `http-reuse never` only from one client connection. They answer with
//! `Content-Length`, chunked (some size lines not canonical, some last
//! chunks with an extension and a forbidden trailer) or close-delimited
//! bodies, 204/304/404/500,
//! 1xx first, `Connection: close`, garbage, resets in the middle of a
//! response, think time; they close idle connections.
//!
//! **Oracle** (see `World::http_final_checks`): a client's bytes parse
//! as a sequence of complete responses, one per request it sent, in order
//! (a server's answer names its request; the proxy's own are `return`'s,
//! `deny`'s 403, or 408/502/503/504); bodies byte for byte, chunk framing
//! canonical and without forbidden trailers; nothing after a
//! response announcing `Connection: close`. At the drain: every response
//! has its log line with its status; a request the proxy read (part of)
//! and never answered is logged, unless the previous response announced
//! the close; at most one line per request; nothing leaks.

use std::collections::{BTreeMap, VecDeque};

use core::fmt::Write as _;

use sluice_core::rng::Rng;
use sluice_core::time::Time;

use super::ms;
use super::{
    gen, CState, ClientProto, ClientSpec, DpSpec, LogRec, Plan, ServerSpec, SrvProto, Timeouts,
};
use crate::world::World;

/// How a server answers (percent of responses), and when it closes.
#[derive(Clone, Debug, Default)]
pub struct ServerHttp {
    pub chunked_pct: u64,
    pub close_delim_pct: u64,
    pub interim_pct: u64,
    pub garbage_pct: u64,
    pub conn_close_pct: u64,
    pub rst_mid_pct: u64,
    pub odd_status_pct: u64,
    /// Closes a connection idle this long.
    pub idle_close_ms: Option<u64>,
}

impl ServerHttp {
    pub fn draw(rng: &mut Rng, misbehave: bool) -> ServerHttp {
        let bad = |rng: &mut Rng, max: u64| if misbehave { rng.below(max) } else { 0 };
        ServerHttp {
            chunked_pct: rng.below(50),
            close_delim_pct: bad(rng, 10),
            interim_pct: rng.below(15),
            garbage_pct: bad(rng, 5),
            conn_close_pct: rng.below(15),
            rst_mid_pct: bad(rng, 8),
            odd_status_pct: rng.below(20),
            idle_close_ms: rng.chance(1, 2).then(|| 50 + rng.below(5000)),
        }
    }
}

/// A request method the clients use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meth {
    Get,
    Head,
    Post,
}

impl Meth {
    fn as_str(self) -> &'static str {
        match self {
            Meth::Get => "GET",
            Meth::Head => "HEAD",
            Meth::Post => "POST",
        }
    }
}

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `/r/C/J`: to a server.
    Server,
    /// `/local/C/J`: answered by `http-request return`.
    Local,
    /// `/deny/C/J`: `http-request deny`.
    Deny,
}

impl Kind {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Kind::Server => "r",
            Kind::Local => "local",
            Kind::Deny => "deny",
        }
    }
}

/// A request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    None,
    Len(u64),
    /// Total length, largest chunk, trailers.
    Chunked(u64, usize, bool),
}

/// One request of a plan.
#[derive(Clone, Debug)]
pub struct Req {
    pub meth: Meth,
    pub kind: Kind,
    pub body: Body,
    /// `Connection: close` (the last request).
    pub close: bool,
}

/// What one HTTP client does.
#[derive(Clone, Debug)]
pub struct HttpPlan {
    pub reqs: Vec<Req>,
    /// Requests sent ahead of their responses, at most (1: none).
    pub pipeline: usize,
    /// Largest write.
    pub split_max: usize,
    /// Pause between writes, up to.
    pub gap_max_ms: u64,
    /// Pause between a response and the next request, up to.
    pub think_ms: u64,
    /// Vanish in request `.0` after `.1` of its bytes (its length: while
    /// waiting for the response), with a reset when `.2`.
    pub vanish: Option<(usize, u64, bool)>,
    /// After the last response, wait for the proxy to close.
    pub linger: bool,
}

/// The body of a message being read.
#[derive(Clone, Debug)]
pub enum BodyRd {
    None,
    Len(u64),
    Chunked(Chunk),
    UntilClose,
}

/// Where a chunked body stands.
#[derive(Clone, Debug)]
pub enum Chunk {
    Size(Vec<u8>),
    Data(u64),
    DataEnd(u8),
    Trailer(Vec<u8>),
    Done,
}

/// Trailer fields that would change framing or routing if merged into the
/// head: Sluice drops them (RFC 9110 §6.5.1), none may reach a peer.
const FORBIDDEN_TRAILERS: &[&[u8]] = &[
    b"content-length",
    b"transfer-encoding",
    b"host",
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"upgrade",
    b"te",
    b"trailer",
];

/// The size line of a `k`-byte chunk as a sender may write it, canonical
/// or not (picked from `k`, so the random draws stay the same).
fn size_line(k: u64, canonical: bool) -> String {
    if canonical {
        return format!("{k:x}\r\n");
    }
    match k % 3 {
        0 => format!("{k:X};ext=1\r\n"),
        1 => format!("000{k:x}\r\n"),
        _ => format!("{k:x} ; a=\"b c\"\r\n"),
    }
}

/// Feeds chunked bytes; data goes to `on_data`. Returns the bytes used
/// (the decoder stops right after the last CRLF).
fn chunk_feed(
    st: &mut Chunk,
    input: &[u8],
    mut on_data: impl FnMut(&[u8]),
) -> Result<usize, String> {
    let mut i = 0;
    while i < input.len() {
        match st {
            Chunk::Size(line) => {
                line.push(input[i]);
                i += 1;
                if line.ends_with(b"\r\n") {
                    let text = core::str::from_utf8(&line[..line.len() - 2])
                        .map_err(|_| "chunk size not text".to_string())?;
                    // What leaves Sluice is canonical: hex digits, no
                    // leading zero, no whitespace, no extension (a peer
                    // with another chunk parser reads the same framing).
                    let canonical = !text.is_empty()
                        && text.bytes().all(|b| b.is_ascii_hexdigit())
                        && (text == "0" || !text.starts_with('0'));
                    if !canonical {
                        return Err(format!("chunk size line {text:?} is not canonical"));
                    }
                    let n = u64::from_str_radix(text, 16)
                        .map_err(|_| format!("bad chunk size line {text:?}"))?;
                    *st = if n == 0 {
                        Chunk::Trailer(Vec::new())
                    } else {
                        Chunk::Data(n)
                    };
                } else if line.len() > 64 {
                    return Err("chunk size line too long".into());
                }
            }
            Chunk::Data(n) => {
                let take = (*n).min((input.len() - i) as u64) as usize;
                on_data(&input[i..i + take]);
                i += take;
                *n -= take as u64;
                if *n == 0 {
                    *st = Chunk::DataEnd(0);
                }
            }
            Chunk::DataEnd(k) => {
                let want = if *k == 0 { b'\r' } else { b'\n' };
                if input[i] != want {
                    return Err("no CRLF after chunk data".into());
                }
                i += 1;
                if *k == 0 {
                    *k = 1;
                } else {
                    *st = Chunk::Size(Vec::new());
                }
            }
            Chunk::Trailer(line) => {
                line.push(input[i]);
                i += 1;
                if line.ends_with(b"\r\n") {
                    if line.len() == 2 {
                        *st = Chunk::Done;
                        return Ok(i);
                    }
                    let name = line.split(|&b| b == b':').next().unwrap_or(&[]);
                    if FORBIDDEN_TRAILERS
                        .iter()
                        .any(|f| f.eq_ignore_ascii_case(name))
                    {
                        return Err(format!(
                            "a forbidden trailer went through: {:?}",
                            String::from_utf8_lossy(line)
                        ));
                    }
                    *st = Chunk::Trailer(Vec::new());
                } else if line.len() > 1024 {
                    return Err("trailer line too long".into());
                }
            }
            Chunk::Done => return Ok(i),
        }
    }
    Ok(i)
}

/// A message head, as the simulator's own parser reads it (strict enough
/// for what the proxy may emit, independent of Sluice's parser).
#[derive(Clone, Debug, Default)]
pub struct Head {
    pub line: Vec<String>,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n == name).count()
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| n == name && v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// The end of a head in `buf` (the index after its empty line).
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn parse_head(bytes: &[u8], response: bool) -> Result<Head, String> {
    let text = core::str::from_utf8(bytes).map_err(|_| "head is not text".to_string())?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let line: Vec<String> = first.splitn(3, ' ').map(str::to_string).collect();
    let ok = if response {
        line.len() >= 2
            && line[0] == "HTTP/1.1"
            && line[1].len() == 3
            && line[1].bytes().all(|b| b.is_ascii_digit())
    } else {
        line.len() == 3 && line[2] == "HTTP/1.1"
    };
    if !ok {
        return Err(format!("bad start line {first:?}"));
    }
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let Some((n, v)) = l.split_once(':') else {
            return Err(format!("bad header line {l:?}"));
        };
        if n.is_empty() || n.bytes().any(|b| b == b' ' || b == b'\t') {
            return Err(format!("bad header name {n:?}"));
        }
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(Head { line, headers })
}

/// Body framing of a head (RFC 9112 §6.3, for what the simulation sends).
fn framing(h: &Head, bodyless: bool) -> Result<BodyRd, String> {
    if bodyless {
        return Ok(BodyRd::None);
    }
    if h.count("transfer-encoding") > 0 {
        if !h.has_token("transfer-encoding", "chunked") || h.count("content-length") > 0 {
            return Err("transfer-encoding without chunked, or with a content-length".into());
        }
        return Ok(BodyRd::Chunked(Chunk::Size(Vec::new())));
    }
    match h.get("content-length") {
        Some(v) => {
            if h.count("content-length") > 1 {
                return Err("two content-length headers".into());
            }
            v.parse::<u64>()
                .map(BodyRd::Len)
                .map_err(|_| format!("bad content-length {v:?}"))
        }
        None => Ok(BodyRd::UntilClose),
    }
}

/// Request `j` of client `c`'s body stream key, and its response's.
fn req_key(c: u32, j: u32) -> u64 {
    (1 << 62) | (u64::from(c) << 24) | (u64::from(j) << 1)
}

fn resp_key(c: u32, j: u32) -> u64 {
    req_key(c, j) | 1
}

/// `/KIND/C/J` -> (kind, C, J).
fn parse_path(p: &str) -> Option<(Kind, u32, u32)> {
    let mut it = p.trim_start_matches('/').split('/');
    let kind = match it.next()? {
        "r" => Kind::Server,
        "local" => Kind::Local,
        "deny" => Kind::Deny,
        _ => return None,
    };
    let c = it.next()?.parse().ok()?;
    let j = it.next()?.parse().ok()?;
    Some((kind, c, j))
}

/// A complete final response a client got.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub from_server: bool,
    pub close: bool,
}

/// The response being read.
#[derive(Debug)]
struct CurResp {
    status: u16,
    sim: Option<(u32, u32)>,
    sim_len: Option<u64>,
    close: bool,
    rcvd: u64,
    /// The proxy's own body (first 4 KiB); server bodies are checked as
    /// they come, not kept.
    body: Vec<u8>,
    /// The first body byte that differs from what the server sent.
    bad: Option<u64>,
}

/// A client's response reader.
#[derive(Debug)]
pub struct RespRd {
    buf: Vec<u8>,
    body: Option<BodyRd>,
    cur: Option<CurResp>,
}

/// An HTTP client's progress.
#[derive(Debug)]
pub struct HttpClient {
    pub plan: HttpPlan,
    /// Stream offsets (after any PROXY header) where request `j` starts.
    pub starts: Vec<u64>,
    /// Request `j` was written whole.
    pub sent_whole: Vec<bool>,
    /// The request being written, and how much of it is out.
    pub cur: Vec<u8>,
    pub cur_off: usize,
    pub written: u64,
    pub rd: RespRd,
    pub responses: Vec<Resp>,
    pub interim: u32,
    pub next_req_at: Time,
    /// Requests around which a server connection of this client closed
    /// or reset (those started and not answered yet, and the next one,
    /// which may go out on that connection before its close is seen): a
    /// request that is not
    /// the first of its connection may then be dropped with the client
    /// connection, unanswered and unlogged (HAProxy's `abort_keep_alive`).
    pub srv_gone: std::collections::BTreeSet<u32>,
}

impl HttpClient {
    pub fn new(plan: &HttpPlan) -> HttpClient {
        HttpClient {
            plan: plan.clone(),
            starts: Vec::new(),
            sent_whole: Vec::new(),
            cur: Vec::new(),
            cur_off: 0,
            written: 0,
            rd: RespRd {
                buf: Vec::new(),
                body: None,
                cur: None,
            },
            responses: Vec::new(),
            interim: 0,
            next_req_at: Time::ZERO,
            srv_gone: Default::default(),
        }
    }

    /// Whether the last response announced the close.
    fn closing(&self) -> bool {
        self.responses.last().is_some_and(|r| r.close)
    }
}

/// Whether `head` is the proxy's own 408 that closes the connection (not a
/// server's response: no `x-sim-req`).
fn is_probe_timeout(head: &Head) -> bool {
    head.line[1] == "408"
        && head.get("x-sim-req").is_none()
        && head.has_token("connection", "close")
}

/// A response a server queued: its bytes, and what to do once written.
#[derive(Debug)]
struct Out {
    at: Time,
    bytes: Vec<u8>,
    /// Reset after this many bytes of it.
    rst_at: Option<usize>,
    close_after: bool,
}

/// An HTTP server connection's progress.
#[derive(Debug)]
pub struct HttpSrv {
    buf: Vec<u8>,
    body: Option<BodyRd>,
    /// The request being read: client, index, body bytes read.
    cur: Option<(u32, u32, u64)>,
    q: VecDeque<Out>,
    /// The client whose request came first (PROXY header, `http-reuse never`).
    pub first_client: Option<u32>,
    pub reqs: u32,
    /// Garbage was sent: nothing more makes sense on this connection.
    dead: bool,
    pub idle_since: Time,
    think_ms: u64,
}

impl HttpSrv {
    pub fn new(rng: &mut Rng, spec: &ServerSpec, now: Time) -> HttpSrv {
        HttpSrv {
            buf: Vec::new(),
            body: None,
            cur: None,
            q: VecDeque::new(),
            first_client: None,
            reqs: 0,
            dead: false,
            idle_since: now,
            think_ms: rng.below(spec.think_ms + 1),
        }
    }
}

/// Whether the configuration has `option forwardfor` / the rules.
pub fn has_forwardfor(cfg: &str) -> bool {
    cfg.contains("option forwardfor")
}

/// Draws the `http-proxy` run.
pub fn generate(
    rng: &mut Rng,
    start: Time,
    dur: u64,
    servers: Vec<ServerSpec>,
    hosts: &[usize],
) -> DpSpec {
    let t = Timeouts {
        connect: [100, 250, 500, 1000, 3000][rng.below(5) as usize],
        client: 2000 + rng.below(13_000),
        server: 2000 + rng.below(13_000),
        queue: rng.chance(1, 2).then(|| 200 + rng.below(4800)),
        tunnel: None,
        client_fin: None,
        server_fin: None,
        http_request: rng.chance(1, 2).then(|| 1000 + rng.below(9000)),
        http_keep_alive: rng.chance(1, 2).then(|| 100 + rng.below(5000)),
        retries: rng.below(4),
    };
    let accept_proxy = rng.chance(1, 6);
    let mut c = String::new();
    let _ = writeln!(c, "global\n    log stderr format raw local0");
    let _ = writeln!(
        c,
        "defaults\n    mode http\n    log global\n    option httplog\n    timeout connect {}\n    timeout client {}\n    timeout server {}",
        ms(t.connect),
        ms(t.client),
        ms(t.server)
    );
    for (k, v) in [
        ("queue", t.queue),
        ("http-request", t.http_request),
        ("http-keep-alive", t.http_keep_alive),
    ] {
        if let Some(v) = v {
            let _ = writeln!(c, "    timeout {k} {}", ms(v));
        }
    }
    let _ = writeln!(c, "    retries {}", t.retries);
    if rng.chance(1, 2) {
        let _ = writeln!(c, "    option redispatch");
    }
    if rng.chance(1, 3) {
        let _ = writeln!(c, "    option http-server-close");
    }
    if rng.chance(1, 3) {
        let _ = writeln!(c, "    option forwardfor");
    }
    let mut bind = format!("    bind {}", super::fe_addr());
    if accept_proxy {
        bind.push_str(" accept-proxy");
    }
    let fe_maxconn = if rng.chance(1, 4) {
        format!("    maxconn {}\n", 2 + rng.below(40))
    } else {
        String::new()
    };
    let rules = "    http-request return status 200 content-type text/plain string local if { path_beg /local/ }\n    http-request deny if { path_beg /deny/ }\n    http-request set-header x-sim-fe sluice\n";
    let reuse = ["never", "safe", "aggressive", "always"][rng.below(4) as usize];
    let balance =
        ["roundrobin", "static-rr", "leastconn", "first", "source"][rng.below(5) as usize];
    let mut be = format!("    balance {balance}\n    http-reuse {reuse}\n");
    be.push_str(&super::server_lines(rng, &servers, (1, 2), false));
    if rng.chance(1, 2) {
        let _ = write!(c, "listen app\n{bind}\n{fe_maxconn}{rules}{be}");
    } else {
        let _ = write!(
            c,
            "frontend fe\n{bind}\n{fe_maxconn}{rules}    default_backend app\nbackend app\n{be}"
        );
    }
    let n = 10 + rng.below(120);
    let mut clients: Vec<ClientSpec> = (0..n)
        .map(|_| ClientSpec {
            at: start.add_ms(rng.below(dur)),
            host: hosts[rng.below(hosts.len() as u64) as usize],
            // Slow, but a 300 KB response still comes in under ~20 s.
            slow_read: rng
                .chance(1, 8)
                .then(|| (1024 + rng.below(8192) as usize, 5 + rng.below(55))),
            proxy_hdr: None,
            proxy: 0,
            plan: Plan::Http(http_plan(rng)),
        })
        .collect();
    clients.sort_by_key(|c| c.at);
    for (i, c) in clients.iter_mut().enumerate() {
        if accept_proxy {
            let ip = core::net::Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8);
            let a = core::net::SocketAddr::new(ip.into(), 1024 + rng.below(60_000) as u16);
            c.proxy_hdr = Some((1 + rng.below(2) as u8, a));
        }
    }
    let faults = super::draw_faults(rng, start, dur, servers.len());
    DpSpec {
        http: true,
        config: c,
        splice: false,
        hang_ms: t.hang_bound_ms(),
        timeouts: t,
        servers,
        clients,
        faults,
        traffic_end: start.add_ms(dur),
        tls: None,
        rhttp: None,
        dns: None,
        h2: None,
    }
}

fn http_plan(rng: &mut Rng) -> HttpPlan {
    let n = 1 + rng.below(8) as usize;
    let split_max = [3, 64, 1500, 65536, 65536][rng.below(5) as usize];
    // Tiny writes only for small bodies (every write is a segment).
    let big = if split_max <= 64 { 2048 } else { 200_000 };
    let mut reqs: Vec<Req> = (0..n)
        .map(|_| {
            let meth = match rng.below(20) {
                0..=11 => Meth::Get,
                12..=14 => Meth::Head,
                _ => Meth::Post,
            };
            let kind = match rng.below(20) {
                0 | 1 => Kind::Local,
                2 => Kind::Deny,
                _ => Kind::Server,
            };
            let len = match rng.below(10) {
                0 => 0,
                1..=7 => rng.below(4096),
                _ => rng.below(big),
            };
            let body = if meth == Meth::Post {
                if rng.chance(1, 2) {
                    Body::Len(len)
                } else {
                    Body::Chunked(len, 1 + rng.below(8192) as usize, rng.chance(1, 4))
                }
            } else {
                Body::None
            };
            Req {
                meth,
                kind,
                body,
                close: false,
            }
        })
        .collect();
    if rng.chance(1, 5) {
        reqs.last_mut().expect("a request").close = true;
    }
    let vanish = rng.chance(1, 8).then(|| {
        let j = rng.below(n as u64) as usize;
        (j, rng.below(300), rng.chance(1, 2))
    });
    // Pauses between writes keep a client's own pace within ~15 s.
    let bytes: u64 = reqs
        .iter()
        .map(|r| {
            200 + match r.body {
                Body::None => 0,
                Body::Len(n) | Body::Chunked(n, ..) => n,
            }
        })
        .sum();
    let writes = bytes / (split_max as u64 / 2).max(1) + 1;
    let mut gap_max_ms = [0, 0, 0, 10, 200][rng.below(5) as usize];
    if writes * gap_max_ms / 2 > 15_000 {
        gap_max_ms = 0;
    }
    HttpPlan {
        reqs,
        pipeline: if rng.chance(1, 3) {
            2 + rng.below(3) as usize
        } else {
            1
        },
        split_max,
        gap_max_ms,
        think_ms: [0, 5, 100, 1000][rng.below(4) as usize],
        vanish,
        linger: rng.chance(1, 4),
    }
}

/// The bytes of request `j` of client `c`.
fn req_bytes(rng: &mut Rng, c: u32, j: u32, r: &Req) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = write!(
        out_string(&mut out),
        "{} /{}/{c}/{j} HTTP/1.1\r\nhost: sim\r\nx-sim: {c}-{j}\r\n",
        r.meth.as_str(),
        r.kind.prefix()
    );
    match r.body {
        Body::None => {}
        Body::Len(n) => {
            let _ = write!(out_string(&mut out), "content-length: {n}\r\n");
        }
        Body::Chunked(..) => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    if r.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let key = req_key(c, j);
    match r.body {
        Body::None => {}
        Body::Len(n) => gen::body_fill(key, 0, n as usize, &mut out),
        Body::Chunked(n, max, trailers) => {
            let mut off = 0;
            while off < n {
                let k = (1 + rng.below(max as u64)).min(n - off);
                out.extend_from_slice(size_line(k, rng.chance(1, 2)).as_bytes());
                gen::body_fill(key, off, k as usize, &mut out);
                out.extend_from_slice(b"\r\n");
                off += k;
            }
            out.extend_from_slice(b"0\r\n");
            if trailers {
                out.extend_from_slice(b"x-trailer: t\r\ncontent-length: 1\r\n");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// `write!` into a byte vector.
fn out_string(v: &mut Vec<u8>) -> impl core::fmt::Write + '_ {
    struct W<'a>(&'a mut Vec<u8>);
    impl core::fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    W(v)
}

/// Parses an `option httplog` line:
/// `ci:cp [date] fe be/srv TR/Tw/Tc/Tr/Ta ST B - - tsc-- ac/fc/bc/sc/rc sq/bq "r"`.
pub fn parse_httplog(toks: &[&str]) -> LogRec {
    let request = toks
        .get(12..)
        .map(|r| r.join(" "))
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    LogRec {
        term: toks
            .get(9)
            .map_or("?".to_string(), |t| t.chars().take(2).collect()),
        bytes: toks.get(6).and_then(|b| b.parse().ok()).unwrap_or(0),
        status: toks.get(5).and_then(|s| s.parse().ok()).unwrap_or(-1),
        request,
        server: toks.get(3).copied().unwrap_or("?").to_string(),
    }
}

/// The client and request index a log line names, if its request line parses.
pub fn log_target(rec: &LogRec) -> Option<(u32, u32)> {
    let path = rec.request.split(' ').nth(1)?;
    parse_path(path).map(|(_, c, j)| (c, j))
}

impl World {
    fn http_client(&mut self, i: u32) -> &mut HttpClient {
        match &mut self.dpw().clients[i as usize].proto {
            ClientProto::Http(h) => h,
            _ => unreachable!("http client"),
        }
    }

    fn http_srv(&mut self, i: u32) -> &mut HttpSrv {
        match &mut self.dpw().sconns[i as usize].proto {
            SrvProto::Http(h) => h,
            _ => unreachable!("http server"),
        }
    }

    /// One look at an HTTP client: read and check responses, write requests.
    pub(crate) fn http_client_io(&mut self, i: u32) {
        let now = self.now;
        let c = &self.dpw().clients[i as usize];
        let Some(cid) = c.cid else { return };
        if c.state == CState::Connecting {
            if self
                .conns
                .get(&cid)
                .is_some_and(|x| x.syn == crate::net::SynState::Open)
            {
                let c = &mut self.dpw().clients[i as usize];
                c.state = CState::Open;
                c.last_progress = now;
                self.http_client(i).next_req_at = now;
            } else {
                return;
            }
        }
        self.http_client_read(i, cid);
        if self.dpw().clients[i as usize].state == CState::Done || self.failure.is_some() {
            return;
        }
        self.http_client_write(i, cid);
        if self.dpw().clients[i as usize].state == CState::Done {
            return;
        }
        // Everything answered: close, or linger until the proxy does.
        let h = self.http_client(i);
        let all = h.responses.len() == h.plan.reqs.len() && h.starts.len() == h.plan.reqs.len();
        let (linger, closing) = (h.plan.linger, h.closing());
        let c = &self.dpw().clients[i as usize];
        if all && !linger && !closing && !c.fin_sent {
            self.net_shutdown(cid, 0);
            self.dpw().clients[i as usize].fin_sent = true;
        }
    }

    fn http_client_read(&mut self, i: u32, cid: u64) {
        let now = self.now;
        let slow = self.dp_spec().clients[i as usize].slow_read;
        let c = &self.dpw().clients[i as usize];
        if c.next_read > now {
            let at = c.next_read;
            self.client_tick(i, at);
            return;
        }
        let limit = slow.map_or(usize::MAX, |(chunk, _)| chunk);
        let (data, fin) = self.take_rx(cid, 0, limit);
        if !data.is_empty() {
            self.stats.dp.bytes_down += data.len() as u64;
            let c = &mut self.dpw().clients[i as usize];
            c.last_progress = now;
            if let Some((_, every)) = slow {
                c.next_read = now.add_ms(every);
                self.client_tick(i, now.add_ms(every));
            }
            if let Err(e) = self.http_client_feed(i, &data) {
                return self.fail("integrity", format!("client{i}: {e}"));
            }
        }
        if fin {
            self.http_client_eof(i);
            let c = &mut self.dpw().clients[i as usize];
            c.got_fin = true;
            c.last_progress = now;
            self.client_close(i, false, "got FIN");
        }
    }

    /// Response bytes: parse, check, record.
    fn http_client_feed(&mut self, i: u32, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            let h = self.http_client(i);
            if h.rd.cur.is_none() {
                if h.closing() {
                    return Err(format!(
                        "{} bytes after a response that announced the close: {:?}",
                        data.len(),
                        String::from_utf8_lossy(&data[..data.len().min(40)])
                    ));
                }
                let j = h.responses.len();
                // A response before the client began request `j` can only be
                // the proxy's 408 to a connection that sent nothing in
                // `timeout http-request` (HAProxy answers such "pre-connect
                // probes" unless `option http-ignore-probes`): checked on its
                // head.
                if j >= h.starts.len() && j >= h.plan.reqs.len() {
                    return Err(format!(
                        "a response with no request outstanding: {:?}",
                        String::from_utf8_lossy(&data[..data.len().min(60)])
                    ));
                }
                let before = h.rd.buf.len();
                h.rd.buf.extend_from_slice(data);
                let Some(end) = head_end(&h.rd.buf) else {
                    if h.rd.buf.len() > 32 * 1024 {
                        return Err("a response head over 32 KiB".into());
                    }
                    return Ok(());
                };
                let used = end - before;
                let head = parse_head(&h.rd.buf[..end], true)?;
                h.rd.buf.clear();
                if j >= h.starts.len() && !is_probe_timeout(&head) {
                    return Err(format!(
                        "a response with no request outstanding: {:?}",
                        head.line.join(" ")
                    ));
                }
                data = &data[used..];
                self.http_client_head(i, j, head)?;
                continue;
            }
            let used = self.http_client_body(i, data)?;
            data = &data[used..];
        }
        Ok(())
    }

    /// A response head for request `j`.
    fn http_client_head(&mut self, i: u32, j: usize, head: Head) -> Result<(), String> {
        let status: u16 = head.line[1].parse().expect("3 digits");
        let h = self.http_client(i);
        let req = h.plan.reqs[j].clone();
        if (100..200).contains(&status) {
            if status == 101 {
                return Err("101 to a request that asked no upgrade".into());
            }
            h.interim += 1;
            self.stats.dp.interim += 1;
            return Ok(());
        }
        let sim = head.get("x-sim-req").map(|v| {
            let (a, b) = v.split_once('-').unwrap_or(("?", "?"));
            (a.parse().unwrap_or(u32::MAX), b.parse().unwrap_or(u32::MAX))
        });
        if let Some(s) = sim {
            if s != (i, j as u32) {
                return Err(format!(
                    "response {j} is the answer to client{}'s request {} (out of order or crossed)",
                    s.0, s.1
                ));
            }
        }
        let close = head.has_token("connection", "close");
        // A 400 or 408 that the proxy sends for a request it could not read
        // (a bad or incomplete head: `<BADREQ>`) is its error page with a
        // body, even when the request was a HEAD: the method was never parsed
        // (HAProxy's H1 mux sends the same raw message). It closes.
        let unread_error = sim.is_none() && close && matches!(status, 400 | 408);
        let bodyless = req.meth == Meth::Head && !unread_error || status == 204 || status == 304;
        let body = framing(&head, bodyless)?;
        let sim_len = head.get("x-sim-len").and_then(|v| v.parse().ok());
        let h = self.http_client(i);
        h.rd.body = Some(body);
        h.rd.cur = Some(CurResp {
            status,
            sim,
            sim_len,
            close,
            rcvd: 0,
            body: Vec::new(),
            bad: None,
        });
        self.http_client_body(i, &[]).map(|_| ())
    }

    /// Response body bytes; returns how many belong to this response.
    fn http_client_body(&mut self, i: u32, data: &[u8]) -> Result<usize, String> {
        let h = self.http_client(i);
        let cur = h.rd.cur.as_mut().expect("a response");
        let (used, done) = match h.rd.body.as_mut().expect("body state") {
            BodyRd::None => (0, true),
            BodyRd::Len(n) => {
                let k = (*n).min(data.len() as u64) as usize;
                *n -= k as u64;
                push_body(cur, &data[..k]);
                (k, *n == 0)
            }
            BodyRd::UntilClose => {
                push_body(cur, data);
                (data.len(), false)
            }
            BodyRd::Chunked(st) => {
                let used = chunk_feed(st, data, |d| push_body(cur, d))?;
                (used, matches!(st, Chunk::Done))
            }
        };
        let cur = h.rd.cur.as_ref().expect("a response");
        if let (Some((_, j)), Some(k)) = (cur.sim, cur.bad) {
            return Err(format!(
                "response {j}: body byte {k} differs from the server's"
            ));
        }
        if done {
            self.http_client_response_done(i)?;
        }
        Ok(used)
    }

    /// The current response is complete: check it against its request.
    fn http_client_response_done(&mut self, i: u32) -> Result<(), String> {
        let h = self.http_client(i);
        let cur = h.rd.cur.take().expect("a response");
        h.rd.body = None;
        let j = h.responses.len();
        let req = h.plan.reqs[j].clone();
        let whole = h.sent_whole.get(j).copied().unwrap_or(false);
        if let Some(n) = cur.sim_len {
            let want = if req.meth == Meth::Head { 0 } else { n };
            if cur.rcvd != want {
                return Err(format!("response {j}: {} body bytes of {want}", cur.rcvd));
            }
        }
        let from_server = cur.sim.is_some();
        if !from_server {
            let ok = match (req.kind, cur.status) {
                (_, 408 | 503 | 504) => true,
                (Kind::Server, 502) => true,
                (Kind::Local, 200) => {
                    req.meth == Meth::Head && cur.body.is_empty() || cur.body == b"local"
                }
                (Kind::Deny, 403) => true,
                (_, 400 | 500) if !whole => true,
                _ => false,
            };
            if !ok {
                return Err(format!(
                    "response {j} to {:?} {:?} (whole: {whole}) is the proxy's {} with body {:?}",
                    req.meth,
                    req.kind,
                    cur.status,
                    String::from_utf8_lossy(&cur.body[..cur.body.len().min(80)])
                ));
            }
        }
        self.stats.dp.responses += 1;
        *self.stats.dp.statuses.entry(cur.status).or_insert(0) += 1;
        let now = self.now;
        let think = self.http_client(i).plan.think_ms;
        let pause = self.rng.below(think + 1);
        self.trace.line(format_args!(
            "{} client{i} response {j}: {}",
            now.as_ms(),
            cur.status
        ));
        let h = self.http_client(i);
        h.responses.push(Resp {
            status: cur.status,
            from_server,
            close: cur.close,
        });
        h.next_req_at = now.add_ms(pause);
        self.client_tick(i, now.add_ms(pause));
        Ok(())
    }

    /// The proxy closed: a close-delimited body ends here.
    fn http_client_eof(&mut self, i: u32) {
        let h = self.http_client(i);
        if matches!(h.rd.body, Some(BodyRd::UntilClose)) {
            if let Err(e) = self.http_client_response_done(i) {
                self.fail("integrity", format!("client{i}: {e}"));
            }
        }
    }

    fn http_client_write(&mut self, i: u32, cid: u64) {
        let now = self.now;
        for _ in 0..64 {
            let room = self.client_room(i);
            let c = &mut self.dpw().clients[i as usize];
            if c.fin_sent || c.state != CState::Open || c.next_send > now {
                if c.next_send > now {
                    let at = c.next_send;
                    self.client_tick(i, at);
                }
                return;
            }
            if c.hdr_sent < c.hdr.len() {
                if room == 0 {
                    return;
                }
                let n = room.min(c.hdr.len() - c.hdr_sent);
                let bytes = c.hdr[c.hdr_sent..c.hdr_sent + n].to_vec();
                c.hdr_sent += n;
                self.net_send(cid, 0, bytes);
                continue;
            }
            // Vanish here? (In request `j`, once `at` of its bytes are out.)
            let h = self.http_client(i);
            if let (Some((vj, at, rst)), Some(j)) = (h.plan.vanish, h.starts.len().checked_sub(1)) {
                if vj == j && h.cur_off as u64 >= at.min(h.cur.len() as u64) {
                    self.dpw().clients[i as usize].aborted = true;
                    return self.client_close(i, rst, "vanish");
                }
            }
            let h = self.http_client(i);
            if h.cur_off == h.cur.len() {
                // The next request, if the plan, the pipeline and the
                // last response allow it.
                let j = h.starts.len();
                let prev_close = j > 0 && h.plan.reqs[j - 1].close;
                let may = j < h.plan.reqs.len()
                    && !prev_close
                    && !h.closing()
                    && j < h.responses.len() + h.plan.pipeline
                    && now >= h.next_req_at;
                if !may {
                    if j < h.plan.reqs.len() && now < h.next_req_at {
                        let at = h.next_req_at;
                        self.client_tick(i, at);
                    }
                    return;
                }
                let req = h.plan.reqs[j].clone();
                let bytes = req_bytes(&mut self.rng, i, j as u32, &req);
                let h = self.http_client(i);
                h.starts.push(h.written);
                h.sent_whole.push(false);
                h.cur = bytes;
                h.cur_off = 0;
                let ahead = j > h.responses.len();
                self.stats.dp.requests += 1;
                self.stats.dp.pipelined += u64::from(ahead);
                // Back to the top: the vanish point may be its first byte.
                continue;
            }
            let j = self.http_client(i).starts.len() - 1;
            if room == 0 {
                return;
            }
            let h = self.http_client(i);
            let mut lim = h.cur.len() - h.cur_off;
            if let Some((vj, at, _)) = h.plan.vanish {
                if vj == j && (at as usize) > h.cur_off {
                    lim = lim.min(at as usize - h.cur_off);
                }
            }
            let split_max = self.http_client(i).plan.split_max as u64;
            let split = 1 + self.rng.below(split_max) as usize;
            let n = room.min(lim).min(split);
            let h = self.http_client(i);
            let bytes = h.cur[h.cur_off..h.cur_off + n].to_vec();
            h.cur_off += n;
            h.written += n as u64;
            if h.cur_off == h.cur.len() {
                h.sent_whole[j] = true;
            }
            let gap_max = h.plan.gap_max_ms;
            self.stats.dp.bytes_up += n as u64;
            self.dpw().clients[i as usize].last_progress = now;
            self.net_send(cid, 0, bytes);
            let gap = self.rng.below(gap_max + 1);
            if gap > 0 {
                let at = now.add_ms(gap);
                self.dpw().clients[i as usize].next_send = at;
                return self.client_tick(i, at);
            }
        }
        self.client_tick(i, now);
    }

    /// One look at an HTTP server connection: read requests, answer.
    pub(crate) fn http_server_io(&mut self, i: u32) {
        let now = self.now;
        let s = &self.dpw().sconns[i as usize];
        let (cid, srv) = (s.cid, s.srv);
        let slow = self.dpw().servers[srv]
            .slow
            .or(self.dp_spec().servers[srv].slow);
        let s = &self.dpw().sconns[i as usize];
        if s.next_read > now {
            let at = s.next_read;
            self.server_tick(i, at);
        } else if !s.got_fin {
            let limit = slow.map_or(usize::MAX, |(chunk, _)| chunk);
            let (data, fin) = self.take_rx(cid, 1, limit);
            if !data.is_empty() {
                if let Some((_, every)) = slow {
                    self.dpw().sconns[i as usize].next_read = now.add_ms(every);
                    self.server_tick(i, now.add_ms(every));
                }
                if let Some(data) = self.server_proxy_hdr(i, data) {
                    if let Err(e) = self.http_server_feed(i, &data) {
                        return self.fail("integrity", format!("sc{i} (s{}): {e}", srv + 1));
                    }
                }
            }
            if fin {
                self.dpw().sconns[i as usize].got_fin = true;
            }
        }
        if !self.dpw().sconns[i as usize].open {
            return;
        }
        self.http_server_write(i, cid);
        let s = &self.dpw().sconns[i as usize];
        if !s.open {
            return;
        }
        let got_fin = s.got_fin;
        let h = self.http_srv(i);
        if got_fin && h.q.is_empty() {
            return self.server_close(i, false, "eof");
        }
        // Idle keep-alive connections get closed after a while.
        let idle_close = self.dp_spec().servers[srv].http.idle_close_ms;
        let h = self.http_srv(i);
        if let Some(ms) = idle_close {
            if h.q.is_empty() && h.cur.is_none() && h.buf.is_empty() {
                if now - h.idle_since >= ms {
                    return self.server_close(i, false, "idle");
                }
                let at = h.idle_since.add_ms(ms);
                self.server_tick(i, at);
            }
        }
    }

    /// Request bytes a server read.
    fn http_server_feed(&mut self, i: u32, mut data: &[u8]) -> Result<(), String> {
        let now = self.now;
        while !data.is_empty() {
            let h = self.http_srv(i);
            if h.dead {
                return Ok(());
            }
            h.idle_since = now;
            if h.cur.is_none() {
                let before = h.buf.len();
                h.buf.extend_from_slice(data);
                let Some(end) = head_end(&h.buf) else {
                    if h.buf.len() > 32 * 1024 {
                        return Err("a request head over 32 KiB".into());
                    }
                    return Ok(());
                };
                let used = end - before;
                let head = parse_head(&h.buf[..end], false)?;
                h.buf.clear();
                data = &data[used..];
                self.http_server_head(i, head)?;
                continue;
            }
            let h = self.http_srv(i);
            let (c, j, off) = h.cur.expect("a request");
            let mut got = Vec::new();
            let (used, done) = match h.body.as_mut().expect("body") {
                BodyRd::None => (0, true),
                BodyRd::Len(n) => {
                    let k = (*n).min(data.len() as u64) as usize;
                    *n -= k as u64;
                    got.extend_from_slice(&data[..k]);
                    (k, *n == 0)
                }
                BodyRd::Chunked(st) => {
                    let used = chunk_feed(st, data, |d| got.extend_from_slice(d))?;
                    (used, matches!(st, Chunk::Done))
                }
                BodyRd::UntilClose => return Err("a request body without framing".into()),
            };
            if let Some(k) = gen::body_mismatch(req_key(c, j), off, &got) {
                return Err(format!(
                    "client{c} request {j}: body byte {} differs",
                    off + k as u64
                ));
            }
            let off = off + got.len() as u64;
            h.cur = Some((c, j, off));
            data = &data[used..];
            if done {
                self.http_server_request_done(i)?;
            }
        }
        Ok(())
    }

    /// A request head reached a server: is it one it may see?
    fn http_server_head(&mut self, i: u32, head: Head) -> Result<(), String> {
        let Some((kind, c, j)) = parse_path(&head.line[1]) else {
            return Err(format!("a request nobody sent: {:?}", head.line));
        };
        if kind != Kind::Server {
            return Err(format!(
                "client{c}'s {:?} request {j} reached a server",
                kind
            ));
        }
        let dp = self.dp.as_deref().expect("dp");
        let Some(cl) = dp.clients.get(c as usize) else {
            return Err(format!("a request from client{c}, who does not exist"));
        };
        let ClientProto::Http(hc) = &cl.proto else {
            return Err("not an http client".into());
        };
        let Some(req) = hc.plan.reqs.get(j as usize).cloned() else {
            return Err(format!("client{c} request {j} is not in its plan"));
        };
        if hc.starts.len() <= j as usize {
            return Err(format!(
                "client{c} request {j} reached a server before it was sent"
            ));
        }
        let shown = cl.shown;
        if head.line[0] != req.meth.as_str() {
            return Err(format!(
                "client{c} request {j}: method {} for {:?}",
                head.line[0], req.meth
            ));
        }
        if head.get("x-sim") != Some(&format!("{c}-{j}")) {
            return Err(format!(
                "client{c} request {j}: x-sim header {:?}",
                head.get("x-sim")
            ));
        }
        if head.get("x-sim-fe") != Some("sluice") || head.count("x-sim-fe") != 1 {
            return Err(format!(
                "client{c} request {j}: x-sim-fe {:?} (set-header)",
                head.get("x-sim-fe")
            ));
        }
        if has_forwardfor(&self.dp_spec().config) {
            let want = shown.map(|a| a.ip().to_string());
            if head.get("x-forwarded-for").map(str::to_string) != want {
                return Err(format!(
                    "client{c} request {j}: x-forwarded-for {:?}, client {want:?}",
                    head.get("x-forwarded-for")
                ));
            }
        }
        let body = framing(&head, false)?;
        let ok = matches!(
            (&req.body, &body),
            (Body::None, BodyRd::None | BodyRd::UntilClose)
                | (Body::Chunked(..), BodyRd::Chunked(_))
        ) || matches!((&req.body, &body), (Body::Len(a), BodyRd::Len(b)) if a == b);
        if !ok {
            return Err(format!(
                "client{c} request {j}: framing {body:?} for {:?}",
                req.body
            ));
        }
        let body = if matches!(body, BodyRd::UntilClose) {
            BodyRd::None
        } else {
            body
        };
        // At most once, and never on a connection still answering.
        if !self.dpw().http_seen.insert((c, j)) {
            return Err(format!("client{c} request {j} reached a server twice"));
        }
        let s = &self.dpw().sconns[i as usize];
        let hdr_src = s.hdr_addrs.map(|(src, _)| src);
        // Behind edges, one edge session carries every client's requests.
        let reuse_never =
            self.dp_spec().config.contains("http-reuse never") && self.dp_spec().rhttp.is_none();
        let h = self.http_srv(i);
        if !h.q.is_empty() {
            return Err(format!(
                "client{c} request {j} came on a connection whose previous response is not out"
            ));
        }
        let first = *h.first_client.get_or_insert(c);
        h.reqs += 1;
        h.cur = Some((c, j, 0));
        h.body = Some(body);
        if first != c && reuse_never {
            return Err(format!(
                "client{c} request {j} on client{first}'s private connection (http-reuse never)"
            ));
        }
        if let Some(src) = hdr_src {
            if src != shown {
                return Err(format!(
                    "client{c} request {j} on a connection whose PROXY header says {src:?}, client is {shown:?}"
                ));
            }
        }
        self.dpw().sconns[i as usize].client = Some(c);
        self.note_server_progress(Some(c));
        let now = self.now;
        self.trace
            .line(format_args!("{} sc{i} request {c}/{j}", now.as_ms()));
        if matches!(self.http_srv(i).body, Some(BodyRd::None)) {
            self.http_server_request_done(i)?;
        }
        Ok(())
    }

    /// A whole request: queue the answer.
    fn http_server_request_done(&mut self, i: u32) -> Result<(), String> {
        let now = self.now;
        let h = self.http_srv(i);
        let (c, j, _) = h.cur.take().expect("a request");
        h.body = None;
        let think = h.think_ms;
        let srv = self.dpw().sconns[i as usize].srv;
        let sh = self.dp_spec().servers[srv].http.clone();
        let req = match &self.dpw().clients[c as usize].proto {
            ClientProto::Http(hc) => hc.plan.reqs[j as usize].clone(),
            _ => unreachable!(),
        };
        let rng = &mut self.rng;
        let mut out = Vec::new();
        if rng.chance(sh.interim_pct, 100) {
            out.extend_from_slice(if rng.chance(1, 2) {
                b"HTTP/1.1 100 Continue\r\n\r\n".as_slice()
            } else {
                b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\n".as_slice()
            });
        }
        let mut close_after = false;
        let mut rst_at = None;
        if rng.chance(sh.garbage_pct, 100) {
            out.extend_from_slice(match rng.below(3) {
                0 => b"HTTX/1.1 200 OK\r\n\r\n".as_slice(),
                1 => b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\nhello"
                    .as_slice(),
                _ => b"\x00\x01\x02 not http at all\r\n\r\n".as_slice(),
            });
            self.stats.dp.garbage += 1;
            let h = self.http_srv(i);
            h.dead = true;
        } else {
            let status = if rng.chance(sh.odd_status_pct, 100) {
                [201, 204, 304, 404, 500][rng.below(5) as usize]
            } else {
                200
            };
            let bodyless = status == 204 || status == 304;
            let len = if bodyless {
                0
            } else {
                match rng.below(10) {
                    0 => 0,
                    1..=7 => rng.below(4096),
                    _ => rng.below(300_000),
                }
            };
            let mut hd =
                format!("HTTP/1.1 {status} Sim\r\nx-sim-req: {c}-{j}\r\nx-sim-len: {len}\r\n");
            let head_req = req.meth == Meth::Head;
            let chunked = !bodyless && rng.chance(sh.chunked_pct, 100);
            let delim = !bodyless && !chunked && !head_req && rng.chance(sh.close_delim_pct, 100);
            if chunked {
                hd.push_str("transfer-encoding: chunked\r\n");
            } else if !bodyless && !delim {
                let _ = write!(hd, "content-length: {len}\r\n");
            }
            if delim || rng.chance(sh.conn_close_pct, 100) {
                hd.push_str("connection: close\r\n");
                close_after = true;
            }
            hd.push_str("\r\n");
            out.extend_from_slice(hd.as_bytes());
            if !head_req && !bodyless {
                let key = resp_key(c, j);
                if chunked {
                    let mut off = 0;
                    while off < len {
                        let k = (1 + rng.below(8192)).min(len - off);
                        out.extend_from_slice(size_line(k, (off + k) % 4 != 0).as_bytes());
                        gen::body_fill(key, off, k as usize, &mut out);
                        out.extend_from_slice(b"\r\n");
                        off += k;
                    }
                    // Sometimes a last chunk with an extension and a
                    // forbidden trailer (picked from the length: same draws).
                    if len % 3 == 1 {
                        out.extend_from_slice(
                            b"0;e\r\ntransfer-encoding: chunked\r\nx-t: 1\r\n\r\n",
                        );
                    } else {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                } else {
                    gen::body_fill(key, 0, len as usize, &mut out);
                }
            }
            if rng.chance(sh.rst_mid_pct, 100) {
                rst_at = Some(rng.below(out.len() as u64) as usize);
            }
        }
        let first = String::from_utf8_lossy(&out[..out.len().min(60)]).into_owned();
        self.trace.line(format_args!(
            "{} sc{i} answers {c}/{j} with {} bytes{}: {first:?}",
            now.as_ms(),
            out.len(),
            if rst_at.is_some() {
                ", reset inside"
            } else {
                ""
            }
        ));
        let h = self.http_srv(i);
        h.q.push_back(Out {
            at: now.add_ms(think),
            bytes: out,
            rst_at,
            close_after,
        });
        self.server_tick(i, now.add_ms(think));
        Ok(())
    }

    fn http_server_write(&mut self, i: u32, cid: u64) {
        let now = self.now;
        loop {
            let room = self.server_room(i);
            let h = self.http_srv(i);
            let Some(o) = h.q.front_mut() else {
                return;
            };
            if o.at > now {
                let at = o.at;
                return self.server_tick(i, at);
            }
            if let Some(0) = o.rst_at {
                self.stats.dp.server_resets += 1;
                return self.server_close(i, true, "reset mid-response");
            }
            if o.bytes.is_empty() {
                let close = o.close_after;
                h.q.pop_front();
                h.idle_since = now;
                if close {
                    self.stats.dp.server_closes += 1;
                    return self.server_close(i, false, "connection: close");
                }
                continue;
            }
            if room == 0 {
                return;
            }
            let n = room.min(o.bytes.len()).min(o.rst_at.unwrap_or(usize::MAX));
            let bytes: Vec<u8> = o.bytes.drain(..n).collect();
            if let Some(r) = o.rst_at.as_mut() {
                *r -= n;
            }
            let cl = self.dpw().sconns[i as usize].client;
            self.note_server_progress(cl);
            self.net_send(cid, 1, bytes);
        }
    }

    /// HTTP: the per-client oracles at the drain (see the module docs).
    pub(crate) fn http_final_checks(&mut self) {
        let dp = self.dp.as_deref().expect("dp");
        let mut fail = None;
        'clients: for c in &dp.clients {
            let ClientProto::Http(h) = &c.proto else {
                continue;
            };
            let mut by_idx: BTreeMap<u32, Vec<&LogRec>> = BTreeMap::new();
            let mut bad = Vec::new();
            for l in &c.logs {
                match log_target(l) {
                    Some((_, j)) => by_idx.entry(j).or_default().push(l),
                    None => bad.push(l),
                }
            }
            for (&j, ls) in &by_idx {
                if ls.len() > 1 || j as usize >= h.starts.len() {
                    fail = Some(format!(
                        "client{} request {j} (of {} sent) has {} log lines: {ls:?}",
                        c.id,
                        h.starts.len(),
                        ls.len()
                    ));
                    break 'clients;
                }
            }
            for (j, r) in h.responses.iter().enumerate() {
                let logged = by_idx.get(&(j as u32)).and_then(|v| v.first());
                // The proxy's own answer to a request it could not parse
                // (a 408 to a head cut by `timeout http-request`) is
                // logged `<BADREQ>`.
                if logged.is_none() && !r.from_server {
                    if let Some(k) = bad.iter().position(|l| l.status == i64::from(r.status)) {
                        bad.remove(k);
                        continue;
                    }
                }
                if logged.is_none_or(|l| l.status != i64::from(r.status)) {
                    fail = Some(format!(
                        "client{} got response {j} ({}), logged as {logged:?}",
                        c.id, r.status
                    ));
                    break 'clients;
                }
            }
            let u = h.responses.len();
            // A request that ended before any response went out, for a
            // reason on the proxy's or the server's side, was answered
            // (403, 408, 502, 503, 504...): a client that stayed gets it.
            if let Some(l) = by_idx.get(&(u as u32)).and_then(|v| v.first()) {
                let mut t = l.term.chars();
                let (who, stage) = (t.next().unwrap_or('?'), t.next().unwrap_or('?'));
                let before_data = matches!(stage, 'R' | 'Q' | 'C' | 'H') || l.term == "--";
                if before_data && !matches!(who, 'C' | 'c') && !c.aborted && !c.got_rst {
                    fail = Some(format!(
                        "client{} request {u} ended `{}` ({}) and the client, still there, got no response",
                        c.id, l.term, l.status
                    ));
                    break;
                }
            }
            let read = c.proxy_read.saturating_sub(c.hdr.len() as u64);
            let started = h.starts.get(u).is_some_and(|&s| read > s);
            let closing = h.responses.last().is_some_and(|r| r.close);
            let keep_alive_abort = u > 0 && h.srv_gone.contains(&(u as u32));
            if started
                && !closing
                && !keep_alive_abort
                && !c.crashed
                && !by_idx.contains_key(&(u as u32))
                && bad.is_empty()
            {
                fail = Some(format!(
                    "client{}: the proxy read request {u} ({} of its bytes) and neither answered nor logged it; logs {:?}",
                    c.id,
                    read - h.starts[u],
                    c.logs
                ));
                break;
            }
        }
        if let Some(d) = fail {
            self.fail("log", d);
        }
    }
}

fn push_body(cur: &mut CurResp, d: &[u8]) {
    if let Some((c, j)) = cur.sim {
        if cur.bad.is_none() {
            cur.bad = gen::body_mismatch(resp_key(c, j), cur.rcvd, d).map(|k| cur.rcvd + k as u64);
        }
    } else if cur.body.len() < 4096 {
        cur.body
            .extend_from_slice(&d[..d.len().min(4096 - cur.body.len())]);
    }
    cur.rcvd += d.len() as u64;
}
