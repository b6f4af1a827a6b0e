//! HTTP/1 conformance of `proxy-mio` next to HAProxy 2.6 (issue 18): the
//! exact bytes of hostile or unusual messages sent on raw sockets to both
//! proxies fed the same configuration, each in front of its own recording
//! server; what the client gets and what the server receives are
//! compared. Where Sluice differs from the packaged HAProxy 2.6.12 on
//! purpose, the case says so (and `docs/http1.md` lists it).
//!
//! Every test runs Sluice first, then HAProxy when it is installed (a
//! missing `haproxy` is reported loudly and fails under `CI=true`).

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::path::Path;
use std::thread;
use std::time::Duration;

use common::*;

const SEC: Duration = Duration::from_secs(1);

/// The same file for both: short keep-alive and tunnel timeouts, so that
/// a connection left open by an accepted request ends quickly.
fn conf_cfg(sock: &Path, fe: u16, be: u16, fe_lines: &str, dead: u16) -> String {
    format!(
        "{}defaults\n    mode http\n    log global\n    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout http-keep-alive 200ms\n    timeout tunnel 300ms\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n{fe_lines}    use_backend dead if {{ path_beg /dead }}\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{be}\n\
         backend dead\n    retries 0\n    server s1 127.0.0.1:{dead}\n",
        global_section(sock, "")
    )
}

/// Which proxy a side of a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Sluice,
    HaProxy,
}

/// One proxy in front of its own recording server.
struct Side {
    who: Who,
    port: u16,
    srv: HttpServer,
    _sluice: Option<Sluice>,
    _ha: Option<HaRun>,
}

impl Side {
    fn start(
        who: Who,
        dir: &TempDir,
        fe_lines: &str,
        responder: impl Fn(&SeenReq) -> Reply + Send + Sync + 'static,
    ) -> Side {
        // `dead`: a port nobody listens on (connection refused).
        let [fe, be, dead] = free_ports(3)[..] else {
            panic!()
        };
        let srv = HttpServer::start(be, responder);
        let (tag, mut s, mut h) = match who {
            Who::Sluice => ("sl", None, None),
            Who::HaProxy => ("ha", None, None),
        };
        let cfg = conf_cfg(&dir.join(&format!("{tag}.sock")), fe, be, fe_lines, dead);
        match who {
            Who::Sluice => s = Some(Sluice::run(dir, tag, &cfg)),
            Who::HaProxy => h = Some(HaRun::start(dir, tag, &cfg)),
        }
        Side {
            who,
            port: fe,
            srv,
            _sluice: s,
            _ha: h,
        }
    }

    /// Both sides of a test: Sluice, and HAProxy when installed.
    fn both(
        test: &str,
        dir: &TempDir,
        fe_lines: &str,
        responder: fn(&SeenReq) -> Reply,
    ) -> Vec<Side> {
        let mut v = vec![Side::start(Who::Sluice, dir, fe_lines, responder)];
        if haproxy_or_skip(test) {
            v.push(Side::start(Who::HaProxy, dir, fe_lines, responder));
        }
        v
    }

    /// Sends `bytes` on a new connection, reads until the proxy closes.
    /// Returns what the client got, how it ended, and the bytes the server
    /// received for it.
    fn exchange(&self, bytes: &[u8]) -> (Vec<u8>, Closed, Vec<u8>) {
        let before = self.srv.raw().len();
        let (got, closed) = http_raw(self.port, bytes);
        // The server recorded the request before it answered.
        let raw = self.srv.raw()[before..].to_vec();
        (got, closed, raw)
    }
}

fn status_of(bytes: &[u8]) -> Option<u16> {
    parse_response(bytes, false).map(|(r, _)| r.status)
}

fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// The request line and the `Host` values of the first request in `raw`.
fn target_and_host(raw: &[u8]) -> (String, Vec<String>) {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.split("\r\n");
    let rl = lines.next().unwrap_or("");
    let target = rl.split(' ').nth(1).unwrap_or("").to_string();
    let hosts = lines
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_string())
        .collect();
    (target, hosts)
}

/// What a target case does on each side: `Some((target, host))` seen by
/// the server when forwarded, `None` when answered 400.
struct TargetCase {
    req: &'static [u8],
    sluice: Option<(&'static str, Option<&'static str>)>,
    haproxy: Option<(&'static str, Option<&'static str>)>,
}

const fn refused(req: &'static [u8]) -> TargetCase {
    TargetCase {
        req,
        sluice: None,
        haproxy: None,
    }
}

const fn same(req: &'static [u8], target: &'static str, host: Option<&'static str>) -> TargetCase {
    TargetCase {
        req,
        sluice: Some((target, host)),
        haproxy: Some((target, host)),
    }
}

/// HAProxy 2.6.12 forwards it unchanged; Sluice refuses it.
const fn only_haproxy(
    req: &'static [u8],
    target: &'static str,
    host: Option<&'static str>,
) -> TargetCase {
    TargetCase {
        req,
        sluice: None,
        haproxy: Some((target, host)),
    }
}

fn target_cases() -> Vec<TargetCase> {
    vec![
        // Neither origin, absolute, authority (CONNECT) nor asterisk
        // (OPTIONS) form, a fragment, a port that is not the default.
        refused(b"GET admin/a HTTP/1.1\r\nHost: x\r\n\r\n"),
        refused(b"GET ?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
        refused(b"GET localhost:80 HTTP/1.1\r\nHost: x\r\n\r\n"),
        refused(b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n"),
        refused(b"GET http://host#frag HTTP/1.1\r\nHost: host\r\n\r\n"),
        refused(b"GET http://host:8080/x HTTP/1.1\r\nHost: host\r\n\r\n"),
        refused(b"GET http://host:443/x HTTP/1.1\r\nHost: host\r\n\r\n"),
        refused(b"GET ftp://host:80/x HTTP/1.1\r\nHost: host\r\n\r\n"),
        // CONNECT: authority form with a port, agreeing with Host.
        refused(b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n"),
        refused(b"CONNECT hostname HTTP/1.1\r\n\r\n"),
        refused(b"CONNECT h1: HTTP/1.1\r\n\r\n"),
        refused(b"CONNECT h1:80 HTTP/1.1\r\nHost: h2:80\r\n\r\n"),
        refused(b"CONNECT h1:8443 HTTP/1.1\r\nHost: h1\r\n\r\n"),
        // HAProxy 2.6.12 only refuses a relative target when, read as an
        // authority, it differs from Host; HAProxy 3.0 refuses these too.
        only_haproxy(
            b"GET admin/a HTTP/1.1\r\nHost: admin\r\n\r\n",
            "admin/a",
            Some("admin"),
        ),
        only_haproxy(b"GET admin/a HTTP/1.1\r\n\r\n", "admin/a", None),
        only_haproxy(b"GET ?x=1 HTTP/1.1\r\n\r\n", "?x=1", None),
        only_haproxy(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", "*", Some("x")),
        only_haproxy(b"OPTIONS */x HTTP/1.1\r\nHost: x\r\n\r\n", "*/x", Some("x")),
        // An ambiguous Host (HAProxy 3.2 refuses it), a CONNECT target
        // with userinfo.
        only_haproxy(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "/", Some("a/b")),
        only_haproxy(b"CONNECT u@h1:80 HTTP/1.1\r\n\r\n", "u@h1:80", None),
        // Accepted by both, the default port normalised away by both.
        same(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "*", Some("x")),
        // An http URI without a host: forwarded by both (RFC 9110 §4.2.1
        // would refuse it; HAProxy's reg-test h1_host_normalization wants it).
        same(b"GET http:///x HTTP/1.1\r\n\r\n", "http:///x", None),
        same(
            b"GET http://: HTTP/1.1\r\nHost: :80\r\n\r\n",
            "http://",
            Some(""),
        ),
        same(
            b"GET http://host:80/x HTTP/1.1\r\nHost: host\r\n\r\n",
            "http://host/x",
            Some("host"),
        ),
        same(
            b"GET http://host:80/x HTTP/1.1\r\nHost: host:80\r\n\r\n",
            "http://host/x",
            Some("host"),
        ),
        same(
            b"GET http://host/x HTTP/1.1\r\nHost: host:80\r\n\r\n",
            "http://host/x",
            Some("host:80"),
        ),
        same(
            b"GET https://host:443/x HTTP/1.1\r\nHost: host\r\n\r\n",
            "https://host/x",
            Some("host"),
        ),
        same(
            b"GET http://host:/x HTTP/1.1\r\nHost: host\r\n\r\n",
            "http://host/x",
            Some("host"),
        ),
        same(
            b"GET HTTP://HOST:80 HTTP/1.1\r\nHost: host\r\n\r\n",
            "HTTP://HOST",
            Some("HOST"),
        ),
        same(
            b"GET http://host:80/x HTTP/1.1\r\n\r\n",
            "http://host/x",
            None,
        ),
        same(
            b"CONNECT h1:80 HTTP/1.1\r\nHost: h1:80\r\n\r\n",
            "h1:80",
            Some("h1"),
        ),
        same(
            b"CONNECT h1:443 HTTP/1.1\r\nHost: h1\r\n\r\n",
            "h1:443",
            Some("h1"),
        ),
        same(b"CONNECT h1:8443 HTTP/1.1\r\n\r\n", "h1:8443", None),
        // HAProxy 2.6.12 reads `host:80?q` as the authority: 400.
        TargetCase {
            req: b"GET http://host:80?q HTTP/1.1\r\nHost: host\r\n\r\n",
            sluice: Some(("http://host?q", Some("host"))),
            haproxy: None,
        },
    ]
}

/// Request targets and CONNECT authorities: 400 unless a form the method
/// allows, `Host` agreeing; default ports normalised in the target and
/// `Host` as HAProxy does.
#[test]
fn request_targets_and_connect_side_by_side() {
    let dir = TempDir::new("h1conf-targets");
    for side in Side::both(
        "request_targets_and_connect_side_by_side",
        &dir,
        "",
        default_reply,
    ) {
        for c in target_cases() {
            let want = match side.who {
                Who::Sluice => c.sluice,
                Who::HaProxy => c.haproxy,
            };
            let (got, closed, raw) = side.exchange(c.req);
            let what = format!("{:?} {}", side.who, esc(c.req));
            assert!(closed.is_closed(), "{what}: {closed:?}");
            match want {
                None => {
                    assert_eq!(status_of(&got), Some(400), "{what}: {}", esc(&got));
                    assert_eq!(closed, Closed::Fin, "{what}: a FIN after the 400");
                    assert!(raw.is_empty(), "{what}: forwarded {}", esc(&raw));
                }
                Some((target, host)) => {
                    assert_eq!(status_of(&got), Some(200), "{what}: {}", esc(&got));
                    let (t, hosts) = target_and_host(&raw);
                    assert_eq!(t, target, "{what}: {}", esc(&raw));
                    let want_hosts: Vec<String> = host.into_iter().map(String::from).collect();
                    assert_eq!(hosts, want_hosts, "{what}: {}", esc(&raw));
                }
            }
        }
    }
}

/// A CONNECT request has no content: its framing fields are not
/// forwarded, what follows the head is tunnel data.
#[test]
fn connect_framing_fields_are_dropped() {
    let dir = TempDir::new("h1conf-connect");
    for side in Side::both(
        "connect_framing_fields_are_dropped",
        &dir,
        "",
        default_reply,
    ) {
        let before = side.srv.raw().len();
        let (got, _, _) = side.exchange(b"CONNECT h1:80 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        let what = format!("{:?}", side.who);
        assert_eq!(status_of(&got), Some(200), "{what}: {}", esc(&got));
        // The server records the tunnel bytes when the tunnel ends.
        let want = b"CONNECT h1:80 HTTP/1.1\r\n\r\nabc";
        let raw = poll(5 * SEC, Duration::from_millis(10), || {
            let raw = side.srv.raw()[before..].to_vec();
            (raw.len() >= want.len()).then_some(raw)
        })
        .unwrap_or_else(|| side.srv.raw()[before..].to_vec());
        assert_eq!(
            esc(&raw),
            esc(want),
            "{what}: the tunnel bytes follow the head"
        );
    }
}

/// A chunked request with non-canonical size lines, an extension hiding a
/// request line, and trailers HTTP forbids.
const MESSY_BODY: &[u8] = b"00000000000000000000000005\r\nhello\r\n5;a=b\r\nworld\r\n\
3 ; x = \"y\"\r\nabc\r\n0;GET /smuggled HTTP/1.1\r\nContent-Length: 5\r\n\
Transfer-Encoding: chunked\r\nHost: evil\r\nX-T: 1\r\nX-Other: ok\r\n\r\n";

/// The size lines and trailer lines of a chunked body at the start of
/// `b`, and the payload.
fn chunk_lines(b: &[u8]) -> (Vec<String>, Vec<String>, Vec<u8>) {
    let mut sizes = Vec::new();
    let mut payload = Vec::new();
    let mut i = 0;
    loop {
        let Some(e) = b[i..].windows(2).position(|w| w == b"\r\n") else {
            panic!("unterminated chunked body: {}", esc(b));
        };
        let line = String::from_utf8_lossy(&b[i..i + e]).to_string();
        i += e + 2;
        let n = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|_| panic!("bad size line {line:?} in {}", esc(b)));
        sizes.push(line);
        if n == 0 {
            break;
        }
        payload.extend_from_slice(&b[i..i + n]);
        i += n + 2;
    }
    let mut trailers = Vec::new();
    loop {
        let e = b[i..].windows(2).position(|w| w == b"\r\n").unwrap();
        if e == 0 {
            break;
        }
        trailers.push(String::from_utf8_lossy(&b[i..i + e]).to_ascii_lowercase());
        i += e + 2;
    }
    (sizes, trailers, payload)
}

fn canonical(size_line: &str) -> bool {
    !size_line.is_empty()
        && size_line.bytes().all(|b| b.is_ascii_hexdigit())
        && (size_line == "0" || !size_line.starts_with('0'))
}

/// A messy chunked response for `/messy`.
fn messy_reply(r: &SeenReq) -> Reply {
    if r.target == "/messy" {
        let mut b = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        b.extend_from_slice(MESSY_BODY);
        return Reply::Send(b);
    }
    default_reply(r)
}

/// Chunk framing leaves both proxies canonical in both directions (no
/// leading zeros, no extensions: nothing hidden in a size line reaches
/// the next hop). Sluice keeps each chunk as it came; HAProxy re-emits
/// them merged. The trailers HTTP forbids are dropped by Sluice; HAProxy
/// 2.6.12 forwards them.
#[test]
fn chunk_framing_and_trailers_side_by_side() {
    let dir = TempDir::new("h1conf-chunks");
    for side in Side::both(
        "chunk_framing_and_trailers_side_by_side",
        &dir,
        "",
        messy_reply,
    ) {
        let what = format!("{:?}", side.who);
        let mut req = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(MESSY_BODY);
        let (got, _, raw) = side.exchange(&req);
        assert_eq!(status_of(&got), Some(200), "{what}: {}", esc(&got));
        let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(!esc(&raw).contains("smuggled"), "{what}: {}", esc(&raw));
        for (dir, body) in [
            ("request", raw[at..].to_vec()),
            ("response", {
                let (got, _, _) = side.exchange(b"GET /messy HTTP/1.1\r\nHost: x\r\n\r\n");
                let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                got[at..].to_vec()
            }),
        ] {
            let (sizes, trailers, payload) = chunk_lines(&body);
            assert_eq!(payload, b"helloworldabc", "{what} {dir}: {}", esc(&body));
            assert!(
                sizes.iter().all(|l| canonical(l)),
                "{what} {dir}: {sizes:?}"
            );
            let forbidden = ["content-length", "transfer-encoding", "host"];
            let names: Vec<&str> = trailers
                .iter()
                .map(|t| t.split(':').next().unwrap_or(""))
                .collect();
            assert!(
                names.contains(&"x-t") && names.contains(&"x-other"),
                "{what} {dir}: {trailers:?}"
            );
            match side.who {
                Who::Sluice => {
                    assert_eq!(sizes, ["5", "5", "3", "0"], "{what} {dir}: chunks kept");
                    assert!(
                        names.iter().all(|n| !forbidden.contains(n)),
                        "{what} {dir}: {trailers:?}"
                    );
                }
                // HAProxy merges the chunks, and forwards the trailers
                // (a `Content-Length` trailer goes only because a
                // `Transfer-Encoding` one is there too).
                Who::HaProxy => {
                    assert_eq!(sizes.last().map(String::as_str), Some("0"), "{what} {dir}");
                }
            }
        }
    }
}

/// Responses for the bodiless cases, by path.
fn bodiless_reply(r: &SeenReq) -> Reply {
    let b: &[u8] = match r.target.as_str() {
        "/204cl" => b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n",
        "/204te" => b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
        "/100cl" => b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "/103te" => b"HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: chunked\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "/304cl" => b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n",
        "/200head" => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n",
        _ => return default_reply(r),
    };
    Reply::Send(b.to_vec())
}

/// The header names of every head in `got` (lower case), head by head.
fn head_names(got: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(got);
    text.split("\r\n\r\n")
        .filter(|h| h.starts_with("HTTP/1.1 "))
        .map(|h| {
            h.split("\r\n")
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, _)| n.to_ascii_lowercase())
                .filter(|n| n != "connection")
                .collect()
        })
        .collect()
}

/// 1xx and 204 responses lose `Content-Length` and `Transfer-Encoding`;
/// 304 and HEAD responses keep theirs: the same on both proxies.
#[test]
fn bodiless_responses_side_by_side() {
    let dir = TempDir::new("h1conf-bodiless");
    let cases: &[(&[u8], &[&[&str]])] = &[
        (b"GET /204cl HTTP/1.1\r\nHost: x\r\n\r\n", &[&["x-a"]]),
        (b"GET /204te HTTP/1.1\r\nHost: x\r\n\r\n", &[&["x-a"]]),
        (
            b"GET /100cl HTTP/1.1\r\nHost: x\r\n\r\n",
            &[&[], &["content-length"]],
        ),
        (
            b"GET /103te HTTP/1.1\r\nHost: x\r\n\r\n",
            &[&["link"], &["content-length"]],
        ),
        (
            b"GET /304cl HTTP/1.1\r\nHost: x\r\n\r\n",
            &[&["content-length", "x-a"]],
        ),
        (
            b"HEAD /200head HTTP/1.1\r\nHost: x\r\n\r\n",
            &[&["content-length", "x-a"]],
        ),
    ];
    for side in Side::both("bodiless_responses_side_by_side", &dir, "", bodiless_reply) {
        for (req, want) in cases {
            let (got, _, _) = side.exchange(req);
            let what = format!("{:?} {}", side.who, esc(req));
            let want: Vec<Vec<String>> = want
                .iter()
                .map(|h| h.iter().map(|s| s.to_string()).collect())
                .collect();
            assert_eq!(head_names(&got), want, "{what}: {}", esc(&got));
        }
    }
}

/// An oversized head, a malformed request followed by more bytes, a body
/// the proxy will not read (denied, or no server to send it to): the
/// answer is read whole and the connection
/// ends with a FIN, never a reset, while the client is still sending (the
/// proxy drains what comes after its answer).
#[test]
fn error_replies_are_read_whole_then_fin_side_by_side() {
    let dir = TempDir::new("h1conf-flush");
    let fe_lines = "    http-request deny if { path_beg /deny }\n";
    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 2_000_000));
    huge.extend_from_slice(b"\r\n\r\n");
    let mut junk = b"GET admin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    junk.extend(std::iter::repeat_n(b'x', 2_000_000));
    let mut denied = b"POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n".to_vec();
    denied.extend(std::iter::repeat_n(b'y', 2_000_000));
    let mut refused = b"POST /dead HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n".to_vec();
    refused.extend(std::iter::repeat_n(b'z', 2_000_000));
    let cases: [(&str, &[u8], u16); 4] = [
        ("huge head", &huge, 400),
        ("junk", &junk, 400),
        ("denied body", &denied, 403),
        ("no server", &refused, 503),
    ];
    for side in Side::both(
        "error_replies_are_read_whole_then_fin_side_by_side",
        &dir,
        fe_lines,
        default_reply,
    ) {
        for (name, bytes, status) in cases {
            let what = format!("{:?} {name}", side.who);
            let mut s = connect(side.port, 5 * SEC);
            let mut w = s.try_clone().unwrap();
            let bytes = bytes.to_vec();
            // The client keeps sending while it reads (the write fails
            // once the proxy is gone: ignored).
            let writer = thread::spawn(move || {
                let _ = w.write_all(&bytes);
            });
            let (got, closed) = read_to_close(&mut s);
            let _ = s.shutdown(Shutdown::Both);
            let _ = writer.join();
            assert_eq!(
                status_of(&got),
                Some(status),
                "{what}: {}",
                esc(&got[..got.len().min(200)])
            );
            let (r, used) = parse_response(&got, false).unwrap();
            assert_eq!(used, got.len(), "{what}: one whole answer ({r:?})");
            assert_eq!(closed, Closed::Fin, "{what}: a FIN, not a reset");
        }
    }
}

/// `TE` reaches the server as `trailers` or not at all, on both proxies
/// (the proxy decodes no coding but chunked).
#[test]
fn te_is_reduced_to_trailers_side_by_side() {
    let dir = TempDir::new("h1conf-te");
    let cases: [(&[u8], &[&str]); 3] = [
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTE: trailers, deflate\r\n\r\n",
            &["trailers"],
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\nTE: deflate\r\n\r\n", &[]),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n",
            &["trailers"],
        ),
    ];
    for side in Side::both(
        "te_is_reduced_to_trailers_side_by_side",
        &dir,
        "",
        default_reply,
    ) {
        for (req, want) in cases {
            let (got, _, raw) = side.exchange(req);
            let what = format!("{:?} {}", side.who, esc(req));
            assert_eq!(status_of(&got), Some(200), "{what}");
            let text = String::from_utf8_lossy(&raw).to_string();
            let te: Vec<&str> = text
                .split("\r\n")
                .filter_map(|l| l.split_once(':'))
                .filter(|(n, _)| n.eq_ignore_ascii_case("te"))
                .map(|(_, v)| v.trim())
                .collect();
            assert_eq!(te, want, "{what}: {}", esc(&raw));
        }
    }
}

fn ws_reply(r: &SeenReq) -> Reply {
    match r.target.as_str() {
        "/noaccept" => Reply::Tunnel(
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
                .to_vec(),
        ),
        _ => default_reply(r),
    }
}

/// The H1 mux's websocket checks (HAProxy's `h1_search_websocket_key`): a
/// handshake request without a 24-character key is refused (400, nothing
/// forwarded), a `101` without `Sec-WebSocket-Accept` is a bad response
/// (502). And a request line with two spaces before the version is
/// accepted (HAProxy's parser skips every space there).
#[test]
fn websocket_keys_and_request_line_spaces_side_by_side() {
    let dir = TempDir::new("h1conf-ws");
    for side in Side::both(
        "websocket_keys_and_request_line_spaces_side_by_side",
        &dir,
        "",
        ws_reply,
    ) {
        let who = side.who;
        let nokey =
            b"GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n";
        let (got, _, raw) = side.exchange(nokey);
        assert_eq!(status_of(&got), Some(400), "{who:?}: {}", esc(&got));
        assert!(raw.is_empty(), "{who:?}: forwarded {}", esc(&raw));
        let badkey = b"GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: short\r\n\r\n";
        let (got, _, _) = side.exchange(badkey);
        assert_eq!(status_of(&got), Some(400), "{who:?}: {}", esc(&got));
        let noaccept = b"GET /noaccept HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        let (got, _, raw) = side.exchange(noaccept);
        assert!(!raw.is_empty(), "{who:?}: not forwarded");
        assert_eq!(status_of(&got), Some(502), "{who:?}: {}", esc(&got));
        // Not a websocket handshake: no key needed.
        let h2c = b"GET /up HTTP/1.1\r\nhost: a\r\nconnection: close\r\nupgrade: websocket\r\n\r\n";
        let (got, _, _) = side.exchange(h2c);
        assert_eq!(status_of(&got), Some(200), "{who:?}: {}", esc(&got));
        let spaces = b"GET /sp  HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n";
        let (got, _, raw) = side.exchange(spaces);
        assert_eq!(status_of(&got), Some(200), "{who:?}: {}", esc(&got));
        let (target, _) = target_and_host(&raw);
        assert_eq!(target, "/sp", "{who:?}: {}", esc(&raw));
    }
}
