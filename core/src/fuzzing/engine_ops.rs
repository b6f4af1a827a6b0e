//! The operation-sequence targets `engine_http` and `engine_tcp`: a whole
//! engine (built from a fixed configuration) driven by a small in-memory
//! world whose every move comes from the fuzzer's bytes.
//!
//! The world is a set of *far ends*: the clients that connect to the
//! engine's listeners and the servers it connects to. Each far end has a
//! script (bytes it will send: fuzzer bytes and canned, well-formed
//! messages), a queue of bytes on the wire towards the engine, a receive
//! window (backpressure), and what it received. The driver follows the
//! engine's contract exactly like `proxy-mio`: interest comes from
//! `Action::Interest`; a socket is read only when its read interest is on
//! and its far end has something (bytes, or a FIN); an empty `recv_buf`
//! is backpressure; `recv_blocked` follows a read that emptied the wire
//! (the next read would find nothing); writes take `send_buf` up to the
//! far end's window; every action is drained after every input.
//!
//! # Input encoding
//!
//! ```text
//! input  = options op*
//! options: bit 0-1 pool limit (0: from the config, 1: 2, 2: 3, 3: 5 buffers)
//!          bit 2   the driver can splice (`EngineOptions::splice`)
//! op     = code (byte % 16) args
//! ```
//!
//! | code | op | args |
//! |---|---|---|
//! | 0 | `Connect` | listener, proxy (0: none, 1: PROXY v1, 2: PROXY v2 first in the script) |
//! | 1 | `ClientSend` | client, len (next `len` script bytes on the wire; 0: all; an empty script gets the next canned request) |
//! | 2 | `ClientRaw` | client, n, n bytes appended to its script |
//! | 3 | `ClientCanned` | client, which canned request to append |
//! | 4 | `ClientClose` | client, how (even: FIN, odd: reset) |
//! | 5 | `ServerConnect` | pending connect, how (0, 1: established, 2: refused, 3: timed out) |
//! | 6 | `AcceptAll` | — every pending connect established |
//! | 7 | `ServerSend` | server, len (as `ClientSend`, canned responses) |
//! | 8 | `ServerRaw` | server, n, n bytes |
//! | 9 | `ServerCanned` | server, which canned response |
//! | 10 | `ServerClose` | server, how |
//! | 11 | `Window` | far end, size (< 128: bytes; 255: unlimited; else (size - 127) * 64 bytes) |
//! | 12 | `ReadChunk` | size (most bytes per read; 0: unlimited) |
//! | 13 | `Advance` | t (< 128: t ms; else (t - 127) * 64 ms), timers run at their due times |
//! | 14 | `Cli` | which admin command (`disable server`, `set weight`, `clear table`...) |
//! | 15 | `Stop` | how (even: soft, odd: hard) |
//!
//! A client, server or far end argument picks among the live ones (`arg %
//! count`); an op with nothing to act on does nothing. Missing argument
//! bytes read as 0. At most [`MAX_OPS`] ops run.
//!
//! # Assertions (a failure is a finding)
//!
//! No panic; `check_invariants()` and `next_timeout() > now` after every
//! entry point; every action names a socket the driver knows; a
//! `Shutdown` is never asked while `send_buf` has bytes, and no byte is
//! written after it; at the end every far end closes (FIN, its window
//! left as it is: a far end that stopped reading never reads again), time
//! runs past every timeout and nothing may be left (`datapath_counts() ==
//! (0,0,0,0)`, no socket). In HTTP mode the bytes each server receives
//! parse as a sequence of well-formed requests (up to a tunnel), and the
//! bytes each client receives as a sequence of responses, each body framed
//! for the method of the request it answers, and no more final responses
//! than the client sent requests (plus one error reply to bytes that are
//! not a request). In TCP mode every far end receives a prefix of what
//! one of its possible peers sent.

use std::collections::VecDeque;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::conn::tls::TlsEnv;
use crate::engine::{EngineOptions, StopMode};
use crate::http::h1::{self, BodyLen, ChunkedDecoder, Decoded, Method, Side};
use crate::sock::{Action, CloseHow, ListenAddr, ListenerId, LogLine, SockError, SockId};
use crate::testkit::{self, Driver, DriverOptions, Ends, FarEnd};

/// Ops run per input at most (keeps every execution short).
pub const MAX_OPS: usize = 1000;

/// Which engine configuration a run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Http,
    Tcp,
    /// `engine_tls`: TCP mode behind `bind ... ssl` listeners and an
    /// `ssl` server: what clients and servers send is read as TLS
    /// records (see [`run_tls`]).
    Tls,
    /// `engine_h2`: HTTP mode with `bind ... proto h2` listeners, an H2
    /// server (`proto h2`) and an HTTP/1.1 one: clients and the H2
    /// server speak frames (canned ones, or any bytes).
    H2,
}

/// One operation of the encoding (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Connect { listener: u8, proxy: u8 },
    ClientSend { c: u8, len: u8 },
    ClientRaw { c: u8, bytes: Vec<u8> },
    ClientCanned { c: u8, which: u8 },
    ClientClose { c: u8, reset: bool },
    ServerConnect { p: u8, how: u8 },
    AcceptAll,
    ServerSend { s: u8, len: u8 },
    ServerRaw { s: u8, bytes: Vec<u8> },
    ServerCanned { s: u8, which: u8 },
    ServerClose { s: u8, reset: bool },
    Window { end: u8, size: u8 },
    ReadChunk { size: u8 },
    Advance { t: u8 },
    Cli { cmd: u8 },
    Stop { hard: bool },
}

/// The options byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// 0: the configuration's pool; 1, 2, 3: 2, 3, 5 buffers.
    pub pool: u8,
    pub splice: bool,
}

impl Options {
    fn from_byte(b: u8) -> Options {
        Options {
            pool: b & 3,
            splice: b & 4 != 0,
        }
    }

    fn to_byte(self) -> u8 {
        (self.pool & 3) | if self.splice { 4 } else { 0 }
    }
}

/// Reads an input as options and ops.
pub fn decode(data: &[u8]) -> (Options, Vec<Op>) {
    let mut r = Reader { data, pos: 0 };
    let opts = Options::from_byte(r.u8());
    let mut ops = Vec::new();
    while !r.done() && ops.len() < MAX_OPS {
        ops.push(r.op());
    }
    (opts, ops)
}

/// Writes options and ops as an input (seed corpora, regression tests).
pub fn encode(opts: Options, ops: &[Op]) -> Vec<u8> {
    let mut out = vec![opts.to_byte()];
    for op in ops {
        let raw = |out: &mut Vec<u8>, code: u8, who: u8, bytes: &[u8]| {
            let n = bytes.len().min(255);
            out.extend_from_slice(&[code, who, n as u8]);
            out.extend_from_slice(&bytes[..n]);
        };
        match *op {
            Op::Connect { listener, proxy } => out.extend_from_slice(&[0, listener, proxy]),
            Op::ClientSend { c, len } => out.extend_from_slice(&[1, c, len]),
            Op::ClientRaw { c, ref bytes } => raw(&mut out, 2, c, bytes),
            Op::ClientCanned { c, which } => out.extend_from_slice(&[3, c, which]),
            Op::ClientClose { c, reset } => out.extend_from_slice(&[4, c, u8::from(reset)]),
            Op::ServerConnect { p, how } => out.extend_from_slice(&[5, p, how]),
            Op::AcceptAll => out.push(6),
            Op::ServerSend { s, len } => out.extend_from_slice(&[7, s, len]),
            Op::ServerRaw { s, ref bytes } => raw(&mut out, 8, s, bytes),
            Op::ServerCanned { s, which } => out.extend_from_slice(&[9, s, which]),
            Op::ServerClose { s, reset } => out.extend_from_slice(&[10, s, u8::from(reset)]),
            Op::Window { end, size } => out.extend_from_slice(&[11, end, size]),
            Op::ReadChunk { size } => out.extend_from_slice(&[12, size]),
            Op::Advance { t } => out.extend_from_slice(&[13, t]),
            Op::Cli { cmd } => out.extend_from_slice(&[14, cmd]),
            Op::Stop { hard } => out.extend_from_slice(&[15, u8::from(hard)]),
        }
    }
    out
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn bytes(&mut self) -> Vec<u8> {
        let n = usize::from(self.u8());
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        self.data[start..end].to_vec()
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn op(&mut self) -> Op {
        match self.u8() % 16 {
            0 => Op::Connect {
                listener: self.u8(),
                proxy: self.u8(),
            },
            1 => Op::ClientSend {
                c: self.u8(),
                len: self.u8(),
            },
            2 => Op::ClientRaw {
                c: self.u8(),
                bytes: self.bytes(),
            },
            3 => Op::ClientCanned {
                c: self.u8(),
                which: self.u8(),
            },
            4 => Op::ClientClose {
                c: self.u8(),
                reset: self.u8() & 1 == 1,
            },
            5 => Op::ServerConnect {
                p: self.u8(),
                how: self.u8(),
            },
            6 => Op::AcceptAll,
            7 => Op::ServerSend {
                s: self.u8(),
                len: self.u8(),
            },
            8 => Op::ServerRaw {
                s: self.u8(),
                bytes: self.bytes(),
            },
            9 => Op::ServerCanned {
                s: self.u8(),
                which: self.u8(),
            },
            10 => Op::ServerClose {
                s: self.u8(),
                reset: self.u8() & 1 == 1,
            },
            11 => Op::Window {
                end: self.u8(),
                size: self.u8(),
            },
            12 => Op::ReadChunk { size: self.u8() },
            13 => Op::Advance { t: self.u8() },
            14 => Op::Cli { cmd: self.u8() },
            _ => Op::Stop {
                hard: self.u8() & 1 == 1,
            },
        }
    }
}

// ------------------------------------------------------------ configurations

/// The HTTP engine: a frontend with rules (return, deny on a path,
/// set-header, track-sc0 and a request-rate limit), a keep-alive backend
/// with two servers and `http-reuse always`, and a `server-close` backend.
/// Small buffers so that heads and bodies fill them.
pub const HTTP_CFG: &str = "\
global
    maxconn 64
    tune.bufsize 2048
    tune.maxrewrite 512
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    option http-keep-alive
    option forwardfor
    option splice-auto
    timeout connect 200
    timeout client 1s
    timeout server 1s
    timeout http-request 500
    timeout http-keep-alive 300
    timeout queue 300
    timeout tunnel 2s
    retries 2
    option redispatch
frontend fe
    bind 127.0.0.1:8080
    bind 127.0.0.1:8081 accept-proxy
    stick-table type ip size 16 expire 10s store http_req_rate(1s),gpc0
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 6 }
    http-request return status 200 content-type text/plain string pong if { path /ping }
    http-request deny if { path_beg /admin }
    http-request redirect location /moved code 302 if { path /old }
    http-request set-path /rewritten if { path_beg /rw }
    http-request del-header X-Drop
    http-request set-header X-Src %[src]
    http-response deny if { status 418 }
    http-response set-header X-Resp 1
    use_backend be_close if { path_beg /close }
    default_backend be
backend be
    balance roundrobin
    http-reuse always
    server s1 127.0.0.1:9001 maxconn 2
    server s2 127.0.0.1:9002
backend be_close
    option http-server-close
    server s3 127.0.0.1:9003 maxconn 1
";

/// The H2 engine (`engine_h2`): H2 listeners (one with `accept-proxy`),
/// the HTTP rules, an H2 server and an HTTP/1.1 one with `http-reuse
/// always`, a `server-close` backend behind H2, small buffers.
pub const H2_CFG: &str = "\
global
    maxconn 64
    tune.bufsize 4096
    tune.maxrewrite 512
    tune.h2.max-concurrent-streams 4
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 200
    timeout client 1s
    timeout server 1s
    timeout http-request 500
    timeout http-keep-alive 300
    timeout queue 300
    retries 2
    option redispatch
frontend fe
    bind 127.0.0.1:8080 proto h2
    bind 127.0.0.1:8081 proto h2 accept-proxy
    stick-table type ip size 16 expire 10s store http_req_rate(1s),gpc0
    http-request track-sc0 src
    http-request return status 200 content-type text/plain string pong if { path /ping }
    http-request deny if { path_beg /admin }
    http-request set-header X-Src %[src]
    use_backend be_close if { path_beg /close }
    default_backend be
backend be
    balance roundrobin
    http-reuse always
    server s1 127.0.0.1:9001 proto h2 maxconn 2
    server s2 127.0.0.1:9002
backend be_close
    option http-server-close
    server s3 127.0.0.1:9003 proto h2 maxconn 1
";

/// The TCP engine: a listen section with two servers, `accept-proxy` on
/// one bind, `maxconn` on the section, a bind and a server, and small
/// timeouts.
pub const TCP_CFG: &str = "\
global
    maxconn 64
    tune.bufsize 1024
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    option splice-auto
    timeout connect 200
    timeout client 500
    timeout server 500
    timeout client-fin 100
    timeout queue 300
    retries 2
    option redispatch
listen app
    bind 127.0.0.1:8000
    bind 127.0.0.1:8001 accept-proxy maxconn 2
    maxconn 4
    tcp-request connection reject if { src 10.0.0.4 }
    balance roundrobin
    server s1 127.0.0.1:9001 maxconn 2
    server s2 127.0.0.1:9002 maxconn 1
";

/// The TLS engine (`engine_tls`): the TCP section's shape behind two TLS
/// listeners (one with `accept-proxy`: the PROXY header comes before the
/// records) and in front of a TLS server and a clear one.
pub const TLS_CFG: &str = "\
global
    maxconn 64
    tune.bufsize 1024
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 200
    timeout client 500
    timeout server 500
    timeout client-fin 100
    timeout queue 300
    retries 2
    option redispatch
listen app
    bind 127.0.0.1:8443 ssl crt /fuzz/fe.pem alpn h2,http/1.1
    bind 127.0.0.1:8444 ssl crt /fuzz/fe.pem accept-proxy maxconn 2
    maxconn 4
    balance roundrobin
    server s1 127.0.0.1:9001 ssl verify none sni str(fuzz.sluice)
    server s2 127.0.0.1:9002 maxconn 1
";

/// The certificate and key of [`TLS_CFG`]'s listeners (Ed25519, self-signed
/// for `fuzz.sluice`, valid to 2126): the driver's file `/fuzz/fe.pem`.
pub const TLS_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBWzCCAQ2gAwIBAgIUR4AE5GBzUkvL4rfesTvr/yJtYoMwBQYDK2VwMBYxFDAS
BgNVBAMMC2Z1enouc2x1aWNlMCAXDTI2MTIwNjAwMDIzN1oYDzIxMjYxMTEyMDAw
MjM3WjAWMRQwEgYDVQQDDAtmdXp6LnNsdWljZTAqMAUGAytlcAMhALWa/ydn5mzx
cH1czAmGAkUJY24wNFR7Q059lURAaTgvo2swaTAdBgNVHQ4EFgQUdy5GakpTmble
gcRQ7Bco3xKMISEwHwYDVR0jBBgwFoAUdy5GakpTmblegcRQ7Bco3xKMISEwDwYD
VR0TAQH/BAUwAwEB/zAWBgNVHREEDzANggtmdXp6LnNsdWljZTAFBgMrZXADQQBI
n02leNzet1NUcwfMRAFw1IH0Yr8zvrIa+cm1P8ZXfuR4dOdQmn+YQsOLryIqG6HI
sctsa1rH3JJPhYYRT4YN
-----END CERTIFICATE-----
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAm4lQ2vM0yuI/fweQaATTiutWkV5oU47ygUNJUyV+Iw
-----END PRIVATE KEY-----
";

/// What the TLS target's engine gets from its driver: `provider` and
/// [`TLS_PEM`] as `/fuzz/fe.pem`.
pub fn tls_env(provider: std::sync::Arc<rustls::crypto::CryptoProvider>) -> TlsEnv {
    let mut files = crate::conn::tls::TlsFiles::default();
    files
        .files
        .insert("/fuzz/fe.pem".into(), Ok(TLS_PEM.as_bytes().to_vec()));
    TlsEnv {
        provider,
        files,
        ticket_seed: [0x5a; 32],
        crl_legacy_algs: &[],
    }
}

/// Real ClientHellos from rustls's client on `provider` (TLS 1.3 and 1.2
/// with SNI and ALPN, TLS 1.2 only, no SNI): the TLS target's canned
/// requests.
pub fn client_hellos(provider: &std::sync::Arc<rustls::crypto::CryptoProvider>) -> Vec<Vec<u8>> {
    use std::sync::Arc;
    let mut out = Vec::new();
    let versions: [&[&'static rustls::SupportedProtocolVersion]; 3] = [
        rustls::ALL_VERSIONS,
        &[&rustls::version::TLS12],
        &[&rustls::version::TLS13],
    ];
    for (i, v) in versions.into_iter().enumerate() {
        let Ok(b) =
            rustls::ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(v)
        else {
            continue;
        };
        let mut c = b
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider.clone())))
            .with_no_client_auth();
        if i == 0 {
            c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        c.enable_sni = i != 2;
        let name = rustls::pki_types::ServerName::try_from("fuzz.sluice").expect("a DNS name");
        if let Ok(mut conn) = rustls::ClientConnection::new(Arc::new(c), name) {
            let mut hello = Vec::new();
            while conn.wants_write() {
                if conn.write_tls(&mut hello).unwrap_or(0) == 0 {
                    break;
                }
            }
            out.push(hello);
        }
    }
    out
}

/// A verifier that accepts any certificate (the canned ClientHellos
/// never get that far).
#[derive(Debug)]
struct AnyCert(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Admin commands of the `Cli` op; `{be}` and `{t}` are the target's
/// backend and table.
const CLI_CMDS: &[&str] = &[
    "show stat",
    "show info",
    "disable server {be}/s1",
    "enable server {be}/s1",
    "set server {be}/s2 state drain",
    "set server {be}/s2 state ready",
    "set weight {be}/s1 0",
    "set weight {be}/s1 100%",
    "show table {t}",
    "clear table {t}",
];

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

fn with_body(head: &str, body_len: usize) -> Vec<u8> {
    let mut v = head.as_bytes().to_vec();
    v.extend(pattern(body_len));
    v
}

/// Well-formed (and a few deliberately bad) requests.
fn canned_requests(t: Target) -> Vec<Vec<u8>> {
    match t {
        // Replaced by real ClientHellos in `run_tls`.
        Target::Tls => vec![b"\x16\x03\x01\x00\x00".to_vec()],
        Target::H2 => h2_requests(),
        Target::Tcp => vec![
            b"hello\n".to_vec(),
            pattern(3000),
            b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 80\r\n".to_vec(),
            b"PROXY UNKNOWN\r\n".to_vec(),
            b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            pattern(700),
        ],
        Target::Http => vec![
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
            b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\nContent-Length: 5\r\n\r\n"
                .to_vec(),
            b"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"
                .to_vec(),
            b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                .to_vec(),
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            b"GET /close HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n".to_vec(),
            with_body(
                "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n",
                3000,
            ),
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(),
            b"GET /close/ka HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n".to_vec(),
            b"GET /old HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"HEAD /ping HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"GET /rw?q=1 HTTP/1.1\r\nHost: a\r\nX-Drop: 1\r\n\r\n".to_vec(),
            b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
              800\r\n"
                .iter()
                .copied()
                .chain(pattern(2048))
                .chain(b"\r\n0\r\n\r\n".iter().copied())
                .collect(),
        ],
    }
}

/// HPACK of a request (static-table indexes, literals without indexing).
fn h2_req_block(method: u8, path: &str) -> Vec<u8> {
    let mut b = vec![method, 0x86, 0x04, path.len() as u8];
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&[0x01, 0x01, b'a']);
    b
}

fn h2_headers(id: u32, block: &[u8], end_stream: bool, end_headers: bool, out: &mut Vec<u8>) {
    use crate::http::h2::frame::Frame;
    Frame::Headers {
        stream_id: id,
        end_stream,
        end_headers,
        priority: None,
        fragment: block,
        pad_len: None,
        error: None,
    }
    .encode(out);
}

fn h2_frame(kind: u8, flags: u8, id: u32, payload: &[u8], out: &mut Vec<u8>) {
    crate::http::h2::frame::FrameHeader {
        len: payload.len() as u32,
        kind: crate::http::h2::frame::FrameType(kind),
        flags,
        stream_id: id,
    }
    .encode(out);
    out.extend_from_slice(payload);
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// H2 client bytes: prefaces, requests (GET, POST with DATA, the rules'
/// paths), and control frames, good and bad, to combine.
fn h2_requests() -> Vec<Vec<u8>> {
    use crate::http::h2::frame::{encode_settings, SettingId};
    let mut v = Vec::new();
    let mut hello = H2_PREFACE.to_vec();
    encode_settings(&[], &mut hello);
    v.push(hello.clone());
    let mut g = hello.clone();
    h2_headers(1, &h2_req_block(0x82, "/"), true, true, &mut g);
    v.push(g);
    for (id, path) in [
        (1, "/ping"),
        (3, "/"),
        (5, "/admin"),
        (7, "/close/x"),
        (9, "/big"),
    ] {
        let mut b = Vec::new();
        h2_headers(id, &h2_req_block(0x82, path), true, true, &mut b);
        v.push(b);
    }
    // POST with a body in two DATA frames.
    let mut p = Vec::new();
    h2_headers(11, &h2_req_block(0x83, "/up"), false, true, &mut p);
    h2_frame(0, 0, 11, b"hello", &mut p);
    h2_frame(0, 1, 11, &pattern(1500), &mut p);
    v.push(p);
    // A request cut in HEADERS + CONTINUATION.
    let blk = h2_req_block(0x82, "/cont");
    let mut c = Vec::new();
    h2_headers(13, &blk[..3], true, false, &mut c);
    h2_frame(9, 4, 13, &blk[3..], &mut c);
    v.push(c);
    // Control frames: SETTINGS with a tiny window, SETTINGS ACK, PING,
    // WINDOW_UPDATEs, RST_STREAM, GOAWAY, PRIORITY, an unknown type.
    let mut s = Vec::new();
    encode_settings(&[(SettingId::INITIAL_WINDOW_SIZE, 1)], &mut s);
    v.push(s);
    v.push({
        let mut b = Vec::new();
        h2_frame(4, 1, 0, &[], &mut b);
        b
    });
    v.push({
        let mut b = Vec::new();
        h2_frame(6, 0, 0, &[0; 8], &mut b);
        b
    });
    for id in [0u32, 1, 3] {
        let mut b = Vec::new();
        h2_frame(8, 0, id, &0x7fff_0000u32.to_be_bytes(), &mut b);
        v.push(b);
    }
    for (id, code) in [(1u32, 8u32), (3, 0)] {
        let mut b = Vec::new();
        h2_frame(3, 0, id, &code.to_be_bytes(), &mut b);
        v.push(b);
    }
    let mut ga = Vec::new();
    h2_frame(7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0], &mut ga);
    v.push(ga);
    let mut pr = Vec::new();
    h2_frame(2, 0, 3, &[0, 0, 0, 1, 16], &mut pr);
    h2_frame(0xfa, 0, 0, b"x", &mut pr);
    v.push(pr);
    v
}

/// What servers send: to the H2 server's peer, SETTINGS, responses on
/// the first streams, DATA, RST_STREAM, GOAWAY; to the HTTP/1.1 one, a
/// response.
fn h2_responses() -> Vec<Vec<u8>> {
    use crate::http::h2::frame::encode_settings;
    let mut v = Vec::new();
    let mut hello = Vec::new();
    encode_settings(&[], &mut hello);
    h2_frame(4, 1, 0, &[], &mut hello);
    v.push(hello);
    for id in [1u32, 3, 5] {
        let mut b = Vec::new();
        // :status 200, then DATA with END_STREAM.
        h2_headers(id, &[0x88], false, true, &mut b);
        h2_frame(0, 1, id, b"ok", &mut b);
        v.push(b);
        let mut e = Vec::new();
        h2_headers(id, &[0x88], true, true, &mut e);
        v.push(e);
    }
    let mut rst = Vec::new();
    h2_frame(3, 0, 1, &7u32.to_be_bytes(), &mut rst);
    v.push(rst);
    let mut ga = Vec::new();
    h2_frame(7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0], &mut ga);
    v.push(ga);
    let mut big = Vec::new();
    h2_headers(1, &[0x88], false, true, &mut big);
    h2_frame(0, 0, 1, &pattern(3000), &mut big);
    h2_frame(0, 1, 1, &[], &mut big);
    v.push(big);
    v.push(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec());
    v
}

/// Responses: Content-Length, chunked, 1xx, tunnels, until-close, garbage.
fn canned_responses(t: Target) -> Vec<Vec<u8>> {
    match t {
        Target::Tcp => vec![b"banner\r\n".to_vec(), pattern(3000), b"ok".to_vec()],
        Target::H2 => h2_responses(),
        // To the engine's TLS client: an alert, a bare ServerHello-looking
        // header, clear text.
        Target::Tls => vec![
            b"\x15\x03\x03\x00\x02\x02\x28".to_vec(),
            b"\x16\x03\x03\x00\x04\x02\x00\x00\x00".to_vec(),
            b"banner\r\n".to_vec(),
        ],
        Target::Http => vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n".to_vec(),
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                .to_vec(),
            b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec(),
            b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n".to_vec(),
            b"\x00\x01garbage\r\n\r\n".to_vec(),
            with_body("HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n", 3000),
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
            b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec(),
            b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 3\r\n\r\ntea".to_vec(),
            // Non-canonical framing (leading zero, extensions) and a
            // forbidden trailer: the client must get them cleaned.
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0800\r\n"
                .iter()
                .copied()
                .chain(pattern(2048))
                .chain(b"\r\n0;e\r\nX-T: 1\r\nTransfer-Encoding: chunked\r\n\r\n".iter().copied())
                .collect(),
        ],
    }
}

// ------------------------------------------------------------------ checks

/// Reads a byte stream as a sequence of HTTP/1 messages, the way a peer
/// of the proxy reads it: a server reading the requests the proxy forwards,
/// a client reading the responses it gets (and, not strictly, the
/// requests it sent itself, for their methods). Bodies are skipped by
/// their framing; after an upgrade, a CONNECT or a body delimited by the
/// close, bytes are opaque.
#[derive(Debug)]
struct MsgCheck {
    side: Side,
    /// A parse error is a finding (the bytes come from the proxy);
    /// otherwise the stream just turns opaque (a client's own junk).
    strict: bool,
    buf: Vec<u8>,
    state: Framing,
    /// Complete heads read (final ones, for responses).
    count: usize,
    /// Requests: their methods, in order.
    methods: Vec<Method>,
    /// The longest head read.
    max_head: usize,
    /// A message did not parse (the stream turned opaque because of it).
    failed: bool,
}

#[derive(Debug)]
enum Framing {
    Head,
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
    Opaque,
}

/// The longest head the HTTP engine reads (`tune.bufsize -
/// tune.maxrewrite` of `HTTP_CFG`): a client reading its own requests
/// gives up where the proxy does.
const PROXY_MAX_HEAD: usize = 2048 - 512;

impl Framing {
    fn of(side: Side, body: BodyLen) -> Framing {
        match body {
            BodyLen::None | BodyLen::Length(0) => Framing::Head,
            BodyLen::Length(n) => Framing::Length(n),
            BodyLen::Chunked => Framing::Chunked(Box::new(ChunkedDecoder::new(side))),
            BodyLen::UntilClose | BodyLen::Tunnel => Framing::Opaque,
        }
    }
}

impl MsgCheck {
    fn new(side: Side, strict: bool, max_head: usize) -> MsgCheck {
        MsgCheck {
            side,
            strict,
            buf: Vec::new(),
            state: Framing::Head,
            count: 0,
            methods: Vec::new(),
            max_head,
            failed: false,
        }
    }

    fn what(&self) -> &'static str {
        match self.side {
            Side::Request => "request forwarded to a server",
            Side::Response => "response sent to a client",
        }
    }

    /// A message does not parse: a finding, or the end of what can be read.
    fn bad(&mut self, e: h1::H1Error, input: &[u8]) {
        assert!(
            !self.strict,
            "{} {} does not parse ({e:?}): {:?}",
            self.what(),
            self.count,
            input.escape_ascii().to_string()
        );
        self.state = Framing::Opaque;
        self.failed = true;
    }

    /// A client's own requests: how many final responses it may get at
    /// most: one per request head, plus one error reply when it sent
    /// bytes that are not (yet) a request, or nothing at all on its
    /// connection (without `option http-ignore-probes`, HAProxy answers
    /// a silent first connection that closes or times out with 400 or
    /// 408); no bound after a tunnel.
    fn answerable(&self) -> Option<usize> {
        let pending = match self.state {
            Framing::Opaque if !self.failed => return None,
            // Even empty lines started a request (a 408 may answer them).
            Framing::Head => !self.buf.is_empty() || self.count == 0,
            _ => false,
        };
        Some(self.count + usize::from(pending || self.failed))
    }

    /// More bytes; `sent`: for responses, the requests they answer.
    fn feed(&mut self, bytes: &[u8], sent: Option<&MsgCheck>) {
        if matches!(self.state, Framing::Opaque) {
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(bytes);
        let mut pos = 0;
        // Every step uses bytes or moves to a head; the bound is a guard.
        for _ in 0..=2 * buf.len() + 2 {
            match self.step(&buf[pos..], sent) {
                Some(used) => pos += used,
                None => break,
            }
        }
        if matches!(self.state, Framing::Opaque) {
            pos = buf.len();
        }
        buf.drain(..pos);
        self.buf = buf;
    }

    /// Reads what it can at the start of `input`: the bytes used, or
    /// `None` when it needs more (or reads no more).
    fn step(&mut self, input: &[u8], sent: Option<&MsgCheck>) -> Option<usize> {
        match &mut self.state {
            Framing::Opaque => None,
            Framing::Head => self.head(input, sent),
            Framing::Length(n) => {
                let take = (*n).min(input.len() as u64);
                *n -= take;
                if *n == 0 {
                    self.state = Framing::Head;
                }
                (take > 0).then_some(take as usize)
            }
            Framing::Chunked(d) => {
                let r = d.decode(input);
                // The proxy re-emits chunk framing canonically and drops
                // the trailers HTTP forbids: anything a decoder would
                // rewrite is framing another parser might read otherwise.
                let strict = self.strict;
                let (what, count) = (
                    match self.side {
                        Side::Request => "request forwarded to a server",
                        Side::Response => "response sent to a client",
                    },
                    self.count,
                );
                assert!(
                    !(strict && d.has_rewrites()),
                    "{what} {count} has non-canonical chunk framing or a forbidden trailer ({:?}): {:?}",
                    d.take_rewrites(),
                    input.escape_ascii().to_string()
                );
                match r {
                    Ok((Decoded::Data(_), used)) => Some(used),
                    Ok((Decoded::NeedMore, used)) => (used > 0).then_some(used),
                    Ok((Decoded::End, used)) => {
                        self.state = Framing::Head;
                        Some(used)
                    }
                    Err(e) => {
                        self.bad(e, input);
                        None
                    }
                }
            }
        }
    }

    /// One head at the start of `input`: the bytes it used.
    fn head(&mut self, input: &[u8], sent: Option<&MsgCheck>) -> Option<usize> {
        let opts = h1::ParseOptions {
            max_head_len: self.max_head,
            ..h1::ParseOptions::default()
        };
        match self.side {
            Side::Request => match h1::parse_request(input, &opts) {
                Ok(h1::Status::Partial) => None,
                Err(e) => {
                    self.bad(e, input);
                    None
                }
                Ok(h1::Status::Complete((head, used))) => {
                    self.count += 1;
                    self.methods.push(head.method.clone());
                    // A client reading its own requests goes on past an
                    // upgrade: the server may refuse it (no 101), and then
                    // the next requests are requests, whose methods (HEAD)
                    // say how their responses end. After a 101 the
                    // response side turns opaque and stops asking.
                    let upgrade = head.wants_upgrade() && self.strict;
                    self.state = if head.method == Method::CONNECT || upgrade {
                        Framing::Opaque
                    } else {
                        match h1::request_body(&head) {
                            Ok(body) => Framing::of(Side::Request, body),
                            Err(e) => {
                                self.bad(e, input);
                                Framing::Opaque
                            }
                        }
                    };
                    Some(used)
                }
            },
            Side::Response => match h1::parse_response(input, &opts) {
                Ok(h1::Status::Partial) => None,
                Err(e) => {
                    self.bad(e, input);
                    None
                }
                Ok(h1::Status::Complete((head, used))) => {
                    if head.is_interim() {
                        return Some(used);
                    }
                    let meth = sent
                        .and_then(|r| r.methods.get(self.count).cloned())
                        .unwrap_or(Method::GET);
                    self.count += 1;
                    if let Some(limit) = sent.and_then(MsgCheck::answerable) {
                        // More answers than requests: the proxy made a
                        // request up (a body read as a request...).
                        assert!(
                            self.count <= limit,
                            "a client got response {} where its requests allow {}: {:?}",
                            self.count,
                            limit,
                            input[..used].escape_ascii().to_string()
                        );
                    }
                    let connect = meth == Method::CONNECT;
                    self.state =
                        Framing::of(Side::Response, h1::response_body(&head, &meth, connect));
                    Some(used)
                }
            },
        }
    }
}

// ------------------------------------------------------------------ the world

/// One far end: a client of the engine or a server it connected to.
#[derive(Debug)]
struct End {
    client: bool,
    /// The engine's socket for this far end, while it is open.
    sock: Option<SockId>,
    /// Bytes this end will send, in order.
    script: VecDeque<u8>,
    /// The next canned message to append when the script runs dry.
    canned: usize,
    /// Bytes on the wire towards the engine.
    to_engine: VecDeque<u8>,
    fin_to_engine: bool,
    fin_delivered: bool,
    /// Bytes this end still accepts (`None`: unlimited).
    window: Option<usize>,
    /// Bytes received, and the first of them (traces).
    received: usize,
    first: Vec<u8>,
    /// HTTP: what this end receives, read as messages (a server, the
    /// requests; a client, the responses). A parse error is a finding.
    got: Option<MsgCheck>,
    /// HTTP clients: the requests they sent (for the methods the
    /// responses answer).
    sent: Option<MsgCheck>,
    /// Clients of an `accept-proxy` listener: the PROXY header being
    /// sent (the engine takes it off; what follows is the payload), and
    /// the most it may take.
    proxy_hdr: Option<(Vec<u8>, usize)>,
    /// The header was bad: the engine reads nothing more.
    hdr_failed: bool,
    /// TCP: the payload sent and the bytes received, in full.
    tcp_sent: Option<Vec<u8>>,
    tcp_got: Option<Vec<u8>>,
}

impl End {
    fn new(client: bool, http: bool) -> End {
        End {
            client,
            sock: None,
            script: VecDeque::new(),
            canned: 0,
            to_engine: VecDeque::new(),
            fin_to_engine: false,
            fin_delivered: false,
            window: None,
            received: 0,
            first: Vec::new(),
            got: http.then(|| {
                let side = if client {
                    Side::Response
                } else {
                    Side::Request
                };
                MsgCheck::new(side, true, 1 << 16)
            }),
            sent: (http && client).then(|| MsgCheck::new(Side::Request, false, PROXY_MAX_HEAD)),
            proxy_hdr: None,
            hdr_failed: false,
            tcp_sent: (!http).then(Vec::new),
            tcp_got: (!http).then(Vec::new),
        }
    }

    /// Bytes the engine wrote to this end.
    fn receive(&mut self, bytes: &[u8]) {
        if let Some(w) = self.window.as_mut() {
            *w -= bytes.len();
        }
        self.received += bytes.len();
        let keep = 80usize.saturating_sub(self.first.len()).min(bytes.len());
        self.first.extend_from_slice(&bytes[..keep]);
        if let Some(g) = self.got.as_mut() {
            g.feed(bytes, self.sent.as_ref());
        }
        if let Some(t) = self.tcp_got.as_mut() {
            t.extend_from_slice(bytes);
        }
    }

    /// Bytes this end put on the wire towards the engine.
    fn put_on_wire(&mut self, bytes: Vec<u8>) {
        let payload = self.payload(&bytes);
        if let Some(s) = self.sent.as_mut() {
            s.feed(&payload, None);
        }
        if let Some(t) = self.tcp_sent.as_mut() {
            t.extend_from_slice(&payload);
        }
        self.to_engine.extend(bytes);
    }

    /// What of `bytes` is payload: all of it, but the PROXY header on an
    /// `accept-proxy` listener (read as the engine reads it).
    fn payload(&mut self, bytes: &[u8]) -> Vec<u8> {
        use crate::peers::Status;
        if self.hdr_failed {
            return Vec::new();
        }
        let Some((hdr, max)) = self.proxy_hdr.as_mut() else {
            return bytes.to_vec();
        };
        hdr.extend_from_slice(bytes);
        match crate::conn::proxy_hdr::parse(hdr, *max) {
            Ok(Status::Partial) if hdr.len() < *max => Vec::new(),
            Ok(Status::Complete((_, n))) => {
                let rest = hdr[n..].to_vec();
                self.proxy_hdr = None;
                rest
            }
            Ok(Status::Partial) | Err(_) => {
                self.proxy_hdr = None;
                self.hdr_failed = true;
                Vec::new()
            }
        }
    }

    fn room(&self) -> usize {
        self.window.unwrap_or(usize::MAX)
    }
}

impl FarEnd for End {
    fn to_engine(&mut self) -> &mut VecDeque<u8> {
        &mut self.to_engine
    }

    fn fin_pending(&self) -> bool {
        self.fin_to_engine && !self.fin_delivered
    }

    fn fin_delivered(&mut self) {
        self.fin_delivered = true;
    }

    fn room(&self) -> usize {
        End::room(self)
    }

    fn receive(&mut self, bytes: &[u8]) {
        End::receive(self, bytes);
    }
}

/// The world: the shared in-memory driver ([`Driver`]: the engine, its
/// sockets and clock) and the far ends of its sockets.
#[derive(Debug)]
struct World {
    target: Target,
    d: Driver,
    ends: Vec<End>,
    requests: Vec<Vec<u8>>,
    responses: Vec<Vec<u8>>,
    /// What happened, when a trace was asked for ([`trace`]).
    trace: Option<Vec<String>>,
}

/// The far ends as the driver sees them (the world but its driver).
struct View<'a> {
    ends: &'a mut Vec<End>,
    trace: &'a mut Option<Vec<String>>,
    http: bool,
}

impl View<'_> {
    fn note(&mut self, line: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_mut() {
            t.push(line());
        }
    }
}

impl Ends for View<'_> {
    type End = End;

    fn end(&mut self, i: usize) -> &mut End {
        &mut self.ends[i]
    }

    fn connect(&mut self, sock: SockId, _addr: SocketAddr) -> usize {
        self.ends.push(End::new(false, self.http));
        let end = self.ends.len() - 1;
        self.ends[end].sock = Some(sock);
        end
    }

    fn saw(&mut self, a: &Action) {
        if !matches!(a, Action::Log(_)) {
            self.note(|| format!("    {a:?}"));
        }
    }

    fn accepted(&mut self, end: usize, sock: SockId) {
        self.ends[end].sock = Some(sock);
    }

    fn closed(&mut self, end: usize, _how: CloseHow) {
        self.ends[end].sock = None;
    }

    fn log(&mut self, l: LogLine) {
        self.note(|| format!("    log: {}", l.text));
    }

    fn exit(&mut self) {
        self.note(|| "    exit".to_string());
    }
}

/// Pump rounds per input at most: every round moves bytes or delivers an
/// event, so the bound is only hit by a livelock.
const MAX_PUMP_ROUNDS: usize = 100_000;

/// Splits the world into its driver and the far ends as the driver sees
/// them.
macro_rules! split {
    ($w:expr) => {
        (
            &mut $w.d,
            &mut View {
                ends: &mut $w.ends,
                trace: &mut $w.trace,
                http: $w.target == Target::Http,
            },
        )
    };
}

impl World {
    fn new(target: Target, opts: Options, tls: Option<TlsEnv>) -> World {
        let text = match target {
            Target::Http => HTTP_CFG,
            Target::Tcp => TCP_CFG,
            Target::Tls => TLS_CFG,
            Target::H2 => H2_CFG,
        };
        let eopts = EngineOptions {
            seed: 1,
            epoch_ms: 1_795_302_242_000,
            splice: opts.splice,
            tls,
            ..EngineOptions::default()
        };
        let mut engine = testkit::engine_from_text("fuzz.cfg", text, eopts);
        match opts.pool {
            1 => engine.set_pool_limit(2),
            2 => engine.set_pool_limit(3),
            3 => engine.set_pool_limit(5),
            _ => {}
        }
        let dopts = DriverOptions {
            check_invariants: true,
            check_timeouts: true,
            recv_blocked: true,
            splice: opts.splice,
            read_chunk: usize::MAX,
            tick_at_end: true,
        };
        let mut ends = Vec::new();
        let mut trace = None;
        let d = Driver::new(
            engine,
            dopts,
            &mut View {
                ends: &mut ends,
                trace: &mut trace,
                http: target == Target::Http,
            },
        );
        World {
            target,
            d,
            ends,
            requests: canned_requests(target),
            responses: canned_responses(target),
            trace,
        }
    }

    fn drain(&mut self) {
        let (d, v) = split!(self);
        d.drain(v);
    }

    fn new_end(&mut self, client: bool) -> usize {
        self.ends
            .push(End::new(client, self.target == Target::Http));
        self.ends.len() - 1
    }

    /// Moves bytes and events until nothing moves.
    fn pump(&mut self) {
        let (d, v) = split!(self);
        d.pump(v, MAX_PUMP_ROUNDS);
    }

    /// Lets `ms` pass, running every timer at its due time.
    fn advance(&mut self, ms: u64) {
        let (d, v) = split!(self);
        d.advance(v, ms, MAX_PUMP_ROUNDS);
    }

    // ----------------------------------------------------------------- ops

    /// The far ends with an open socket, clients or servers (`connecting`
    /// ones only when asked).
    fn live(&self, client: bool) -> Vec<usize> {
        (0..self.ends.len())
            .filter(|&i| {
                let e = &self.ends[i];
                e.client == client
                    && e.sock
                        .and_then(|s| self.d.socks.get(&s))
                        .is_some_and(|s| s.connecting.is_none())
            })
            .collect()
    }

    fn pick(list: &[usize], arg: u8) -> Option<usize> {
        (!list.is_empty()).then(|| list[usize::from(arg) % list.len()])
    }

    fn run(&mut self, op: &Op) {
        match *op {
            Op::Connect { listener, proxy } => self.connect(listener, proxy),
            Op::ClientSend { c, len } => self.send(true, c, len),
            Op::ServerSend { s, len } => self.send(false, s, len),
            Op::ClientRaw { c, ref bytes } => self.append(true, c, bytes),
            Op::ServerRaw { s, ref bytes } => self.append(false, s, bytes),
            Op::ClientCanned { c, which } => {
                let m = self.requests[usize::from(which) % self.requests.len()].clone();
                self.append(true, c, &m);
            }
            Op::ServerCanned { s, which } => {
                let m = self.responses[usize::from(which) % self.responses.len()].clone();
                self.append(false, s, &m);
            }
            Op::ClientClose { c, reset } => self.close(true, c, reset),
            Op::ServerClose { s, reset } => self.close(false, s, reset),
            Op::ServerConnect { p, how } => {
                let pending = self.pending();
                if !pending.is_empty() {
                    let id = pending[usize::from(p) % pending.len()];
                    self.answer_connect(id, how);
                }
            }
            Op::AcceptAll => {
                for id in self.pending() {
                    self.answer_connect(id, 0);
                }
            }
            Op::Window { end, size } => {
                let live: Vec<usize> = (0..self.ends.len())
                    .filter(|&i| self.ends[i].sock.is_some())
                    .collect();
                if let Some(e) = Self::pick(&live, end) {
                    self.ends[e].window = match size {
                        255 => None,
                        0..128 => Some(usize::from(size)),
                        _ => Some(usize::from(size - 127) * 64),
                    };
                    self.pump();
                }
            }
            Op::ReadChunk { size } => {
                self.d.opts.read_chunk = if size == 0 {
                    usize::MAX
                } else {
                    usize::from(size)
                };
            }
            Op::Advance { t } => {
                let ms = if t < 128 {
                    u64::from(t)
                } else {
                    u64::from(t - 127) * 64
                };
                self.advance(ms);
            }
            Op::Cli { cmd } => {
                let (be, table) = match self.target {
                    Target::Http | Target::H2 => ("be", "fe"),
                    Target::Tcp | Target::Tls => ("app", "app"),
                };
                let line = CLI_CMDS[usize::from(cmd) % CLI_CMDS.len()]
                    .replace("{be}", be)
                    .replace("{t}", table);
                let _ = self.d.engine.cli_request(self.d.now, &line);
                self.drain();
                self.pump();
            }
            Op::Stop { hard } => {
                let mode = if hard { StopMode::Hard } else { StopMode::Soft };
                self.d.engine.stop(self.d.now, mode);
                self.drain();
                self.pump();
            }
        }
    }

    fn connect(&mut self, listener: u8, proxy: u8) {
        let open: Vec<(ListenerId, SocketAddr)> = self
            .d
            .listeners
            .iter()
            .filter_map(|(l, a)| match a {
                ListenAddr::Tcp(a) => Some((*l, *a)),
                _ => None,
            })
            .filter(|(l, _)| !self.d.paused.contains(l))
            .collect();
        if open.is_empty() {
            return;
        }
        let (l, local) = open[usize::from(listener) % open.len()];
        let e = self.new_end(true);
        let n = self.ends.len() as u8;
        let peer = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + n % 4)),
            40_000 + u16::from(n),
        );
        let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1 + n % 3)), 1024);
        let mut h = Vec::new();
        match proxy % 3 {
            1 => {
                crate::conn::proxy_hdr::encode_v1(Some(src), Some(local), &mut h);
            }
            2 => {
                let _ = crate::conn::proxy_hdr::encode_v2(Some(src), Some(local), &[], &mut h);
            }
            _ => {}
        }
        if self.d.engine.listeners[l.0 as usize].accept_proxy {
            // The engine takes the header off before reading the payload.
            let max = self.d.engine.pool.bufsize();
            self.ends[e].proxy_hdr = Some((Vec::new(), max));
        }
        self.ends[e].script.extend(h);
        let (d, v) = split!(self);
        d.accept(v, l, e, Some(peer), Some(local));
        self.pump();
    }

    fn send(&mut self, client: bool, who: u8, len: u8) {
        let live: Vec<usize> = self
            .live(client)
            .into_iter()
            .filter(|&i| !self.ends[i].fin_to_engine)
            .collect();
        let Some(e) = Self::pick(&live, who) else {
            return;
        };
        let end = &mut self.ends[e];
        if end.script.is_empty() {
            let canned = if client {
                &self.requests
            } else {
                &self.responses
            };
            end.script.extend(canned[end.canned % canned.len()].iter());
            end.canned += 1;
        }
        let n = match len {
            0 => end.script.len(),
            n => usize::from(n).min(end.script.len()),
        };
        let bytes: Vec<u8> = end.script.drain(..n).collect();
        end.put_on_wire(bytes);
        self.pump();
    }

    fn append(&mut self, client: bool, who: u8, bytes: &[u8]) {
        if let Some(e) = Self::pick(&self.live(client), who) {
            self.ends[e].script.extend(bytes.iter());
        }
    }

    fn close(&mut self, client: bool, who: u8, reset: bool) {
        let Some(e) = Self::pick(&self.live(client), who) else {
            return;
        };
        if reset {
            let id = self.ends[e].sock.take().expect("live");
            let (d, v) = split!(self);
            d.error(v, id, SockError::Reset);
        } else {
            self.ends[e].fin_to_engine = true;
        }
        self.pump();
    }

    fn pending(&self) -> Vec<SockId> {
        self.d.pending()
    }

    fn answer_connect(&mut self, id: SockId, how: u8) {
        match how % 4 {
            0 | 1 => {
                let (d, v) = split!(self);
                d.connected(v, id);
            }
            n => {
                if let Some(s) = self.d.socks.get(&id) {
                    self.ends[s.end].sock = None;
                }
                let err = if n == 2 {
                    SockError::Refused
                } else {
                    SockError::TimedOut
                };
                let (d, v) = split!(self);
                d.connect_failed(v, id, err);
            }
        }
        self.pump();
    }

    /// The end of the script: every far end closes (FIN, after what it
    /// has on the wire), no connect succeeds any more, and time runs past
    /// every timeout. Windows stay as they are: a far end that stopped
    /// reading never reads again, and the engine's timeouts must still
    /// free everything. Nothing may be left.
    fn finish(&mut self) {
        for _ in 0..10_000 {
            for e in &mut self.ends {
                if e.sock.is_some() {
                    e.fin_to_engine = true;
                }
            }
            for id in self.pending() {
                self.answer_connect(id, 2);
            }
            self.pump();
            if !self.pending().is_empty() {
                continue;
            }
            let Some(t) = self.d.engine.next_timeout() else {
                break;
            };
            self.d.now = t;
            self.d.engine.on_timeout(t);
            self.drain();
        }
        self.pump();
        assert_eq!(
            self.d.engine.datapath_counts(),
            (0, 0, 0, 0),
            "after every far end closed and every timeout ran, the engine still holds \
             (connections, sessions, streams, buffers); sockets left: {:?}",
            self.d.socks
        );
        assert_eq!(self.d.engine.sock_count(), 0, "sockets leaked");
        assert!(self.d.socks.is_empty(), "the driver still has sockets");
        self.check_tcp_bytes();
    }

    /// TCP: every far end received a prefix of what one of its possible
    /// peers sent (a server, of a client's payload; a client, of a
    /// server's bytes): nothing lost in the middle, duplicated, reordered
    /// or mixed between connections.
    fn check_tcp_bytes(&self) {
        if matches!(self.target, Target::Tls | Target::H2) {
            // Ciphertext on one side, plaintext on the other; H2 frames
            // on one side, HTTP/1.1 or other frames on the other.
            return;
        }
        let stream = |e: &End, got: bool| {
            if got {
                e.tcp_got.clone().unwrap_or_default()
            } else {
                e.tcp_sent.clone().unwrap_or_default()
            }
        };
        for e in self.ends.iter().filter(|e| e.tcp_got.is_some()) {
            let got = stream(e, true);
            if got.is_empty() {
                continue;
            }
            let from_any = self
                .ends
                .iter()
                .filter(|f| f.client != e.client)
                .any(|f| stream(f, false).starts_with(&got));
            let who = if e.client { "client" } else { "server" };
            assert!(
                from_any,
                "a {who} received {} bytes that no peer sent in that order: {:?}",
                got.len(),
                got[..got.len().min(200)].escape_ascii().to_string()
            );
        }
    }
}

/// Runs one input against `target`.
pub fn run(target: Target, data: &[u8]) {
    let (opts, ops) = decode(data);
    let mut w = World::new(target, opts, None);
    for op in &ops {
        w.run(op);
    }
    w.finish();
}

/// Runs one input and tells what happened: the ops, the log lines, and
/// what every far end received (to read a crash file or check that a seed
/// reaches what it means to). Panics where [`run`] panics, after pushing
/// the trace so far into `out`.
pub fn trace(target: Target, data: &[u8], out: &mut Vec<String>) {
    let (opts, ops) = decode(data);
    out.push(format!("{opts:?}"));
    let w = World::new(target, opts, None);
    trace_world(w, ops, out);
}

/// [`trace`] for the TLS target ([`run_tls`]).
pub fn trace_tls(
    data: &[u8],
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
    out: &mut Vec<String>,
) {
    let (opts, ops) = decode(data);
    out.push(format!("{opts:?}"));
    let hellos = client_hellos(&provider);
    let mut w = World::new(Target::Tls, opts, Some(tls_env(provider)));
    if !hellos.is_empty() {
        w.requests = hellos;
    }
    trace_world(w, ops, out);
}

fn trace_world(mut w: World, ops: Vec<Op>, out: &mut Vec<String>) {
    w.trace = Some(Vec::new());
    let flush = |w: &mut World, out: &mut Vec<String>| {
        out.extend(w.trace.as_mut().map(std::mem::take).unwrap_or_default());
    };
    for op in &ops {
        out.push(format!("{:>6}ms {op:?}", w.d.now.as_ms()));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run(op)));
        flush(&mut w, out);
        if let Err(e) = r {
            std::panic::resume_unwind(e);
        }
    }
    out.push(format!("{:>6}ms finish", w.d.now.as_ms()));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.finish()));
    flush(&mut w, out);
    for (i, e) in w.ends.iter().enumerate() {
        let kind = if e.client { "client" } else { "server" };
        let got = e.got.as_ref().map_or(0, |r| r.count);
        out.push(format!(
            "end {i} {kind}: {} bytes unsent, {} received, messages read {got}: {:?}",
            e.script.len() + e.to_engine.len(),
            e.received,
            e.first.escape_ascii().to_string(),
        ));
    }
    if let Err(e) = r {
        std::panic::resume_unwind(e);
    }
}

/// Runs one input against the TLS target ([`TLS_CFG`]) with the crypto
/// provider the caller hands in (the fuzz target and the corpus replay
/// use ring's; the engine's crate has none). The ops are those of the
/// other targets; a client's canned "request" is a real ClientHello, and
/// raw bytes (`ClientRaw`, `ServerRaw`) land in the middle of records,
/// after a ClientHello or instead of one.
pub fn run_tls(data: &[u8], provider: std::sync::Arc<rustls::crypto::CryptoProvider>) {
    let (opts, ops) = decode(data);
    let hellos = client_hellos(&provider);
    let mut w = World::new(Target::Tls, opts, Some(tls_env(provider)));
    if !hellos.is_empty() {
        w.requests = hellos;
    }
    for op in &ops {
        w.run(op);
    }
    w.finish();
}
