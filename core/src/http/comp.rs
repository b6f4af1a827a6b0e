//! HTTP response compression: HAProxy 2.6's `comp` filter
//! (`flt_http_comp.c`, the algorithms of `compression.c`), configured with
//! `compression algo|type|offload`.
//!
//! Three steps, as in HAProxy:
//!
//! 1. the request: [`select_request`] picks the algorithm from the
//!    client's `Accept-Encoding` (q-values, `*`) among those configured
//!    (`select_compression_request_header`); with `compression offload`
//!    the field does not reach the server;
//! 2. the response head: [`select_response`] decides whether this response
//!    is compressed (`select_compression_response_header`: HTTP/1.1 both
//!    ways, no HEAD, status 200 to 203, a body of known length, no
//!    `Content-Encoding` yet, no `Cache-Control: no-transform`, a valid
//!    single `ETag`, a listed `Content-Type`, not `multipart`), before the
//!    `http-response` rules run (so `res.comp` is set for them); after
//!    them [`set_response_headers`] rewrites the head
//!    (`set_compression_response_header`);
//! 3. the body: a [`Compressor`] turns the payload into the chunks of the
//!    compressed stream, flushed at every step so that a streamed response
//!    keeps streaming (HAProxy flushes at every data block).
//!
//! The algorithms run on `flate2` over `miniz_oxide` (pure Rust, no I/O),
//! at level 1 (HAProxy's default `tune.comp.maxlevel`). HAProxy 2.6 on
//! Debian uses libslz: the compressed bytes differ, the decompressed ones
//! do not.

use crate::http::h1::{BodyLen, Headers, Method, MsgFlags, ReqHead, ResHead};

/// A compression algorithm (HAProxy's `struct comp_algo`, the entries of
/// `comp_algos[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompAlgo {
    /// No transformation (for debugging): the body is re-chunked only.
    Identity,
    /// zlib format (RFC 1950), sent as `deflate`.
    Deflate,
    /// A bare deflate stream (RFC 1951), also sent as `deflate`.
    RawDeflate,
    /// gzip format (RFC 1952).
    Gzip,
}

impl CompAlgo {
    /// The name in `compression algo` (HAProxy's `cfg_name`).
    pub fn from_cfg(name: &str) -> Option<CompAlgo> {
        Some(match name {
            "identity" => CompAlgo::Identity,
            "deflate" => CompAlgo::Deflate,
            "raw-deflate" => CompAlgo::RawDeflate,
            "gzip" => CompAlgo::Gzip,
            _ => return None,
        })
    }

    /// The configuration name, which `res.comp_algo` returns.
    pub fn cfg_name(self) -> &'static str {
        match self {
            CompAlgo::Identity => "identity",
            CompAlgo::Deflate => "deflate",
            CompAlgo::RawDeflate => "raw-deflate",
            CompAlgo::Gzip => "gzip",
        }
    }

    /// The content-coding token (`Accept-Encoding`, `Content-Encoding`;
    /// HAProxy's `ua_name`).
    pub fn ua_name(self) -> &'static str {
        match self {
            CompAlgo::Identity => "identity",
            CompAlgo::Deflate | CompAlgo::RawDeflate => "deflate",
            CompAlgo::Gzip => "gzip",
        }
    }
}

/// The `compression` settings of a proxy (HAProxy's `struct comp`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompCfg {
    /// `compression algo`, in configuration order (inherited ones first).
    /// HAProxy prepends each to its list, so the last one configured is
    /// tried first: see [`CompCfg::algos_in_order`].
    pub algos: Vec<CompAlgo>,
    /// `compression type`: content-type prefixes, compared without case.
    pub types: Vec<String>,
    /// `compression offload`: the server never sees `Accept-Encoding`.
    pub offload: bool,
}

impl CompCfg {
    /// The algorithms in the order HAProxy walks its list (last configured
    /// first).
    pub fn algos_in_order(&self) -> impl Iterator<Item = CompAlgo> + '_ {
        self.algos.iter().rev().copied()
    }
}

/// The algorithm list that applies: the backend's when it has one, else
/// the frontend's.
fn algos_of<'a>(be: Option<&'a CompCfg>, fe: Option<&'a CompCfg>) -> Option<&'a CompCfg> {
    be.filter(|c| !c.algos.is_empty())
        .or(fe.filter(|c| !c.algos.is_empty()))
}

/// The type list that applies: the backend's when it has one, else the
/// frontend's.
fn types_of<'a>(be: Option<&'a CompCfg>, fe: Option<&'a CompCfg>) -> Option<&'a [String]> {
    be.filter(|c| !c.types.is_empty())
        .or(fe.filter(|c| !c.types.is_empty()))
        .map(|c| c.types.as_slice())
}

/// Whether `Accept-Encoding` is removed from the request (`compression
/// offload` on the frontend or the backend).
pub fn offload(be: Option<&CompCfg>, fe: Option<&CompCfg>) -> bool {
    be.is_some_and(|c| c.offload) || fe.is_some_and(|c| c.offload)
}

/// HAProxy's `HTTP_IS_TOKEN`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// HAProxy's `http_parse_qvalue`: `1`, `0.5`, `0.125` as thousandths;
/// anything that does not start with a digit is 1000.
pub fn parse_qvalue(v: &[u8]) -> u32 {
    let digit = |i: usize| {
        v.get(i)
            .filter(|b| b.is_ascii_digit())
            .map(|b| u32::from(b - b'0'))
    };
    let Some(d0) = digit(0) else { return 1000 };
    let mut q = d0 * 1000;
    if v.get(1) == Some(&b'.') {
        for (i, mul) in [(2, 100), (3, 10), (4, 1)] {
            match digit(i) {
                Some(d) => q += d * mul,
                None => break,
            }
        }
    }
    q.min(1000)
}

/// The q-value of one `Accept-Encoding` element whose token is
/// `elem[..toklen]`: the first `q=` parameter, 1000 without one.
fn element_q(elem: &[u8], toklen: usize) -> u32 {
    let mut i = toklen;
    loop {
        while i < elem.len() && is_lws(elem[i]) {
            i += 1;
        }
        if i >= elem.len() || elem[i] != b';' {
            return 1000;
        }
        i += 1;
        while i < elem.len() && is_lws(elem[i]) {
            i += 1;
        }
        if i >= elem.len() {
            return 1000;
        }
        let rest = &elem[i..];
        let n = rest.len().min(2);
        if rest[..n] == b"q="[..n] {
            return parse_qvalue(rest.get(2..).unwrap_or(&[]));
        }
        while i < elem.len() && elem[i] != b';' {
            i += 1;
        }
    }
}

/// HAProxy's `word_match`: `word` (without case) then only spaces.
fn word_match(sample: &[u8], word: &[u8]) -> bool {
    sample.len() >= word.len()
        && sample[..word.len()].eq_ignore_ascii_case(word)
        && sample[word.len()..]
            .iter()
            .all(|&b| b == b' ' || b == b'\t')
}

/// The elements of a comma-separated field value, trimmed (HAProxy's
/// `http_find_header` without `full`).
fn elements(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(|mut e| {
        while let [b' ' | b'\t', rest @ ..] = e {
            e = rest;
        }
        while let [rest @ .., b' ' | b'\t'] = e {
            e = rest;
        }
        e
    })
}

/// Old user agents that claim `Mozilla/4` but are not MSIE 6 SP2 or later
/// get no compression (their decoders were broken).
fn bad_user_agent(ua: &[u8]) -> bool {
    if ua.len() < 9 || &ua[..9] != b"Mozilla/4" {
        return false;
    }
    ua.len() < 31
        || &ua[25..30] != b"MSIE "
        || ua[30] < b'6'
        || (ua[30] == b'6' && (ua.len() < 54 || &ua[51..54] != b"SV1"))
}

/// HAProxy's `select_compression_request_header`: the algorithm for this
/// request, `None` when the response will not be compressed. `identity`,
/// when configured, is chosen when nothing else is.
pub fn select_request(
    headers: &Headers,
    be: Option<&CompCfg>,
    fe: Option<&CompCfg>,
) -> Option<Selected> {
    let cfg = algos_of(be, fe)?;
    if headers.get("user-agent").is_some_and(bad_user_agent) {
        return None;
    }
    let mut best: Option<CompAlgo> = None;
    let mut best_q = 0;
    for v in headers.get_all("accept-encoding") {
        for elem in elements(v) {
            let toklen = elem.iter().take_while(|&&b| is_token(b)).count();
            let q = element_q(elem, toklen);
            if q <= best_q {
                continue;
            }
            let star = elem.first() == Some(&b'*');
            let token = &elem[..toklen];
            if let Some(a) = cfg
                .algos_in_order()
                .find(|a| star || word_match(token, a.ua_name().as_bytes()))
            {
                best = Some(a);
                best_q = q;
            }
        }
    }
    match best {
        Some(algo) => Some(Selected {
            algo,
            negotiated: true,
        }),
        // Identity needs no header.
        None => cfg
            .algos_in_order()
            .find(|&a| a == CompAlgo::Identity)
            .map(|algo| Selected {
                algo,
                negotiated: false,
            }),
    }
}

/// What [`select_request`] chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selected {
    pub algo: CompAlgo,
    /// Found in `Accept-Encoding` (not the `identity` fallback): only then
    /// does `compression offload` remove the field.
    pub negotiated: bool,
}

/// The form of an `ETag` value (HAProxy's `http_get_etag_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtagType {
    Strong,
    Weak,
    Invalid,
}

pub fn etag_type(v: &[u8]) -> EtagType {
    let quoted = |v: &[u8]| v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"';
    if quoted(v) {
        EtagType::Strong
    } else if v.starts_with(b"W/") && quoted(&v[2..]) {
        EtagType::Weak
    } else {
        EtagType::Invalid
    }
}

/// What [`select_response`] looks at besides the response head.
#[derive(Clone, Copy, Debug)]
pub struct ResContext<'a> {
    /// The algorithm [`select_request`] chose.
    pub algo: CompAlgo,
    /// The request was HTTP/1.1 (or HTTP/2).
    pub req_ver11: bool,
    pub meth: &'a Method,
    /// How the response body is delimited.
    pub body: BodyLen,
}

/// HAProxy's `select_compression_response_header`: whether this response
/// is compressed.
pub fn select_response(
    cx: &ResContext<'_>,
    head: &ResHead,
    be: Option<&CompCfg>,
    fe: Option<&CompCfg>,
) -> bool {
    if !cx.req_ver11 || !head.flags.contains(MsgFlags::VER_11) {
        return false;
    }
    if *cx.meth == Method::HEAD || !(200..=203).contains(&head.status) {
        return false;
    }
    // A body of known length (HAProxy's `HTTP_MSGF_XFER_LEN`), not empty
    // (`Content-Length: 0` is a bodyless message there).
    match cx.body {
        BodyLen::Chunked => {}
        BodyLen::Length(n) if n > 0 => {}
        _ => return false,
    }
    let h = &head.headers;
    if h.contains("content-encoding") {
        return false;
    }
    let mut no_transform = false;
    h.for_each_value(b"cache-control", |v| {
        no_transform |= elements(v).any(|e| word_match(e, b"no-transform"));
    });
    if no_transform {
        return false;
    }
    // No compression when the ETag is malformed or when there are several.
    let mut etags = h.get_all("etag");
    if etags
        .next()
        .is_some_and(|v| etag_type(v) == EtagType::Invalid)
        || etags.next().is_some()
    {
        return false;
    }
    let types = types_of(be, fe);
    match h.get("content-type") {
        Some(ct) => {
            if ct.len() >= 9 && ct[..9].eq_ignore_ascii_case(b"multipart") {
                return false;
            }
            if let Some(types) = types {
                let listed = types.iter().any(|t| {
                    ct.len() >= t.len() && ct[..t.len()].eq_ignore_ascii_case(t.as_bytes())
                });
                if !listed {
                    return false;
                }
            }
        }
        // A content type is required when types are listed.
        None if types.is_some() => return false,
        None => {}
    }
    true
}

/// HAProxy's `set_compression_response_header`: chunked framing instead
/// of `Content-Length`, a strong `ETag` made weak, `Vary:
/// Accept-Encoding` and `Content-Encoding` added.
pub fn set_response_headers(head: &mut ResHead, algo: CompAlgo, chunked: bool) {
    let h = &mut head.headers;
    if !chunked {
        let _ = h.add("Transfer-Encoding", "chunked");
    }
    h.remove("content-length");
    if let Some(etag) = h.get("etag").filter(|v| v.first() == Some(&b'"')) {
        let mut weak = b"W/".to_vec();
        weak.extend_from_slice(etag);
        // In place, as HAProxy's `http_replace_header_value` does.
        let mut out = Headers::with_capacity(h.len(), 0);
        let mut done = false;
        for (n, v) in h.iter() {
            if !done && n.eq_ignore_ascii_case(b"etag") {
                done = true;
                let _ = out.add(n, &weak);
            } else {
                let _ = out.add(n, v);
            }
        }
        *h = out;
    }
    let _ = h.add("Vary", "Accept-Encoding");
    if algo != CompAlgo::Identity {
        let _ = h.add("Content-Encoding", algo.ua_name());
    }
}

/// Whether the request's `Accept-Encoding` must be removed: an algorithm
/// was chosen and `compression offload` is set.
pub fn strip_accept_encoding(head: &mut ReqHead) {
    head.headers.remove("accept-encoding");
}

/// HAProxy's `tune.comp.maxlevel` default.
const LEVEL: u32 = 1;

/// The compressing state of one response body (HAProxy's `comp_ctx`):
/// payload in, chunks of the compressed stream out.
pub struct Compressor {
    algo: CompAlgo,
    z: Option<flate2::Compress>,
    crc: flate2::Crc,
    /// Compressed bytes not yet framed as a chunk.
    zbuf: Vec<u8>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("algo", &self.algo)
            .field("zbuf", &self.zbuf.len())
            .finish()
    }
}

/// gzip's member header: no name, no time, unknown extra flags, Unix.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

impl Compressor {
    pub fn new(algo: CompAlgo) -> Compressor {
        let level = flate2::Compression::new(LEVEL);
        let z = match algo {
            CompAlgo::Identity => None,
            CompAlgo::Deflate => Some(flate2::Compress::new(level, true)),
            CompAlgo::RawDeflate | CompAlgo::Gzip => Some(flate2::Compress::new(level, false)),
        };
        let mut zbuf = Vec::new();
        if algo == CompAlgo::Gzip {
            zbuf.extend_from_slice(&GZIP_HEADER);
        }
        Compressor {
            algo,
            z,
            crc: flate2::Crc::new(),
            zbuf,
        }
    }

    pub fn algo(&self) -> CompAlgo {
        self.algo
    }

    /// Compresses `data` (the output waits for [`Compressor::flush`]).
    pub fn add(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.algo == CompAlgo::Gzip {
            self.crc.update(data);
        }
        match self.z.as_mut() {
            None => self.zbuf.extend_from_slice(data),
            Some(z) => deflate(z, data, &mut self.zbuf, flate2::FlushCompress::None),
        }
    }

    /// Flushes what was compressed so far into one chunk appended to `out`;
    /// with `end`, the end of the stream (gzip's trailer) too (the caller
    /// writes the last chunk and the trailers).
    pub fn flush(&mut self, end: bool, out: &mut Vec<u8>) {
        if let Some(z) = self.z.as_mut() {
            let how = if end {
                flate2::FlushCompress::Finish
            } else {
                flate2::FlushCompress::Sync
            };
            // A sync flush with nothing new would add an empty block.
            if end || z.total_in() > 0 || !self.zbuf.is_empty() {
                deflate(z, &[], &mut self.zbuf, how);
            }
        }
        if end && self.algo == CompAlgo::Gzip {
            self.zbuf.extend_from_slice(&self.crc.sum().to_le_bytes());
            self.zbuf
                .extend_from_slice(&self.crc.amount().to_le_bytes());
        }
        crate::http::h1::encode_chunk(&self.zbuf, out);
        self.zbuf.clear();
    }
}

/// A response body being compressed (HAProxy's `comp_state` once
/// `HTTP_MSGF_COMPRESSING` is set).
#[derive(Debug)]
pub struct ResComp {
    pub z: Compressor,
    /// Framed output that did not fit in the response buffer yet: it
    /// leaves first, and no more input is read until it has.
    pub pending: Vec<u8>,
    /// The input message is complete; only `pending` is left.
    pub ended: bool,
}

impl ResComp {
    pub fn new(algo: CompAlgo) -> ResComp {
        ResComp {
            z: Compressor::new(algo),
            pending: Vec::new(),
            ended: false,
        }
    }
}

/// Runs the deflate stream over `input` until it is all taken and, for a
/// flush, until the flush is complete (output space left over).
fn deflate(
    z: &mut flate2::Compress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    how: flate2::FlushCompress,
) {
    loop {
        out.reserve(input.len() / 2 + 64);
        let (in0, out0) = (z.total_in(), out.len());
        let st = z.compress_vec(input, out, how);
        let used = (z.total_in() - in0) as usize;
        input = &input[used..];
        let full = out.len() == out.capacity();
        match st {
            Ok(flate2::Status::StreamEnd) => return,
            Ok(_) if input.is_empty() && !full => return,
            // No progress possible (never with room left): stop rather
            // than spin.
            Ok(flate2::Status::BufError) if used == 0 && out.len() == out0 && !full => return,
            Ok(_) => {}
            Err(_) => return,
        }
    }
}
