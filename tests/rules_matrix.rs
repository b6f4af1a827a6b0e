//! The rule-by-section matrix (issue 18): every rule family Sluice
//! supports, in every section kind, run side by side with HAProxy 2.6 fed
//! the same generated configuration.
//!
//! Each case is a configuration built around one rule family in one
//! section kind, and a probe (HTTP requests or TCP payloads). Both proxies
//! are started on it (or checked with `-c` when the case is about a
//! configuration one of them refuses), the probe runs against each, and
//! what is observable is compared:
//!
//! * whether the configuration is accepted;
//! * per request: the status (or how the connection ended) and the
//!   response headers the rules set; per TCP connection: the bytes that
//!   came back and how it ended;
//! * what the servers received (the `x-*` headers, the path, which server);
//! * the log lines (frontend, backend/server, status, termination state);
//! * the `show stat` counters rules move (`dreq`, `dresp`, `dcon`, `dses`,
//!   per-server `stot`).
//!
//! The table of every case is printed (`cargo test --test rules_matrix --
//! --nocapture`), with the cases where Sluice deliberately refuses what
//! HAProxy accepts marked; `docs/rules.md` holds the final one.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::*;

const SEC: Duration = Duration::from_secs(1);

/// What a case sends.
#[derive(Clone)]
enum Probe {
    /// HTTP requests, one per connection: (path, extra header lines).
    Http(Vec<(&'static str, &'static str)>),
    /// TCP connections: the payload in parts (`gap` apart), then a FIN.
    Tcp(Vec<Vec<&'static [u8]>>),
    /// Only `-c`: the configuration's fate.
    Check,
}

/// Who may refuse the configuration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Both accept it and behave the same.
    Same,
    /// Both refuse it.
    BothRefuse,
    /// HAProxy accepts it, Sluice refuses it on purpose (it cannot run
    /// it as HAProxy does); the reason is in `docs/rules.md`.
    SluiceRefuses,
    /// HAProxy 2.6.12 has a known bug here; Sluice answers these instead
    /// (what HAProxy does once fixed).
    HaproxyBug(&'static [&'static str]),
}

struct Case {
    family: &'static str,
    section: &'static str,
    /// What the case shows.
    check: &'static str,
    tcp: bool,
    /// The proxies (after `global` and `defaults base`); `{fe}`, `{s1}`,
    /// `{s2}` are replaced by ports.
    proxies: &'static str,
    probe: Probe,
    expect: Expect,
}

fn paths(p: &[&'static str]) -> Probe {
    Probe::Http(p.iter().map(|p| (*p, "")).collect())
}

fn tcp(conns: &[&[&'static [u8]]]) -> Probe {
    Probe::Tcp(conns.iter().map(|c| c.to_vec()).collect())
}

/// The backends every case may name, unless it declares them itself:
/// `be` (servers s1, s2, round robin) and `b2` (server s2).
fn backends(proxies: &str) -> String {
    let mut out = String::new();
    let proxies = format!("\n{proxies}");
    if !proxies.contains("\nbackend be ") {
        out.push_str(
            "backend be from base\n    server s1 127.0.0.1:{s1}\n    server s2 127.0.0.1:{s2}\n",
        );
    }
    if !proxies.contains("\nbackend b2 ") {
        out.push_str("backend b2 from base\n    server s2 127.0.0.1:{s2}\n");
    }
    out
}

fn cases() -> Vec<Case> {
    use Expect::*;
    vec![
        // ---------------------------------------------------------- tcp-request connection
        Case {
            family: "tcp-request connection",
            section: "frontend",
            check: "reject after 2 connections (track-sc0, sc0_conn_cnt)",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    stick-table type ip size 1k store conn_cnt\n    tcp-request connection track-sc0 src\n    tcp-request connection reject if { sc0_conn_cnt gt 2 }\n    default_backend be\n",
            probe: paths(&["/a", "/b", "/c", "/d"]),
            expect: Same,
        },
        Case {
            family: "tcp-request connection",
            section: "listen",
            check: "reject after 2 connections",
            tcp: false,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    stick-table type ip size 1k store conn_cnt\n    tcp-request connection track-sc0 src\n    tcp-request connection reject if { sc0_conn_cnt gt 2 }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/a", "/b", "/c"]),
            expect: Same,
        },
        Case {
            family: "tcp-request connection",
            section: "defaults (named, frontend)",
            check: "inherited rule runs (HAProxy 2.6.12 skips it: haproxy#2637)",
            tcp: false,
            proxies: "defaults d from base\n    tcp-request connection reject if { src 127.0.0.1 }\nfrontend fe from d\n    bind 127.0.0.1:{fe}\n    default_backend be\n",
            probe: paths(&["/a"]),
            expect: HaproxyBug(&["closed"]),
        },
        Case {
            family: "tcp-request connection",
            section: "defaults (named, frontend) + own rule",
            check: "inherited rule runs first",
            tcp: false,
            proxies: "defaults d from base\n    tcp-request connection reject if { src 127.0.0.1 }\nfrontend fe from d\n    bind 127.0.0.1:{fe}\n    tcp-request connection accept\n    default_backend be\n",
            probe: paths(&["/a"]),
            expect: Same,
        },
        Case {
            family: "tcp-request connection",
            section: "defaults (named, backend)",
            check: "refused: a backend may not inherit it",
            tcp: false,
            proxies: "defaults d from base\n    tcp-request connection accept\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from d\n    server s1 127.0.0.1:{s1}\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        Case {
            family: "tcp-request connection",
            section: "backend",
            check: "refused",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    tcp-request connection reject\n    server s1 127.0.0.1:{s1}\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        Case {
            family: "tcp-request connection",
            section: "defaults (anonymous)",
            check: "refused",
            tcp: false,
            proxies: "defaults\n    mode http\n    tcp-request connection reject\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend be\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        // ---------------------------------------------------------- tcp-request session
        Case {
            family: "tcp-request session",
            section: "frontend",
            check: "reject after 2 sessions (track-sc1, sc1_sess_cnt)",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    stick-table type ip size 1k store sess_cnt\n    tcp-request session track-sc1 src\n    tcp-request session reject if { sc1_sess_cnt gt 2 }\n    default_backend be\n",
            probe: paths(&["/a", "/b", "/c", "/d"]),
            expect: Same,
        },
        Case {
            family: "tcp-request session",
            section: "listen",
            check: "reject",
            tcp: true,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    tcp-request session reject if { src 127.0.0.1 }\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"hello"]]),
            expect: Same,
        },
        Case {
            family: "tcp-request session",
            section: "defaults (named, frontend) + own rule",
            check: "inherited rule runs",
            tcp: false,
            proxies: "defaults d from base\n    tcp-request session reject if { src 127.0.0.1 }\nfrontend fe from d\n    bind 127.0.0.1:{fe}\n    tcp-request session accept if { src 10.0.0.1 }\n    default_backend be\n",
            probe: paths(&["/a"]),
            expect: Same,
        },
        Case {
            family: "tcp-request session",
            section: "backend",
            check: "refused",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    tcp-request session reject\n    server s1 127.0.0.1:{s1}\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        // ---------------------------------------------------------- tcp-request content (HTTP)
        Case {
            family: "tcp-request content",
            section: "frontend",
            check: "HTTP: reject /admin, pass the rest",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    tcp-request content reject if { path_beg /admin }\n    default_backend be\n",
            probe: paths(&["/admin/x", "/ok"]),
            expect: Same,
        },
        Case {
            family: "tcp-request content",
            section: "backend",
            check: "HTTP: reject /admin after switching",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    tcp-request content reject if { path_beg /admin }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin/x", "/ok"]),
            expect: Same,
        },
        Case {
            family: "tcp-request content",
            section: "listen",
            check: "HTTP: reject /admin",
            tcp: false,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    tcp-request content reject if { path_beg /admin }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin/x", "/ok"]),
            expect: Same,
        },
        Case {
            family: "tcp-request content",
            section: "defaults (named, backend)",
            check: "HTTP: inherited rule runs in the backend",
            tcp: false,
            proxies: "defaults d from base\n    tcp-request content reject if { path_beg /admin }\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from d\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin/x", "/ok"]),
            expect: Same,
        },
        // ---------------------------------------------------------- tcp-request content (TCP)
        Case {
            family: "tcp-request content",
            section: "frontend",
            check: "TCP: inspect-delay waits for 5 bytes, rejects BLOCK",
            tcp: true,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    tcp-request inspect-delay 2s\n    tcp-request content reject if { req.payload(0,5) -m bin 424c4f434b }\n    tcp-request content accept if { req.len ge 5 }\n    default_backend be\n",
            probe: tcp(&[&[b"BL", b"OCK me"], &[b"he", b"llo"]]),
            expect: Same,
        },
        Case {
            family: "tcp-request content",
            section: "backend",
            check: "TCP: backend's rules after switching",
            tcp: true,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    tcp-request inspect-delay 2s\n    tcp-request content reject if { req.payload(0,5) -m bin 424c4f434b }\n    tcp-request content accept if { req.len ge 5 }\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"BL", b"OCK me"], &[b"he", b"llo"]]),
            expect: Same,
        },
        Case {
            family: "tcp-request content",
            section: "listen",
            check: "TCP: reject on content, wait_end",
            tcp: true,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    tcp-request inspect-delay 300ms\n    tcp-request content reject if { req.payload(0,5) -m bin 424c4f434b }\n    tcp-request content accept if WAIT_END\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"BLOCK"], &[b"hello"]]),
            expect: Same,
        },
        Case {
            family: "tcp-request content",
            section: "frontend",
            check: "TCP: HTTP fetches parse the buffer (path, HTTP), use_backend by path",
            tcp: true,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    tcp-request inspect-delay 2s\n    tcp-request content reject if { path_beg /admin }\n    tcp-request content accept if HTTP\n    use_backend b2 if { path_beg /two }\n    default_backend be\n",
            probe: tcp(&[
                &[b"GET /adm", b"in HTTP/1.1\r\nHost: t\r\n\r\n"],
                &[b"GET /two HTTP/1.1\r\n", b"Host: t\r\n\r\n"],
            ]),
            expect: Same,
        },
        Case {
            family: "tcp-request content",
            section: "defaults (anonymous)",
            check: "refused",
            tcp: true,
            proxies: "defaults\n    mode tcp\n    tcp-request content reject\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend be\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        // ---------------------------------------------------------- tcp-response content
        Case {
            family: "tcp-response content",
            section: "backend",
            check: "TCP: reject closes the connection",
            tcp: true,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    tcp-response content reject if { src 127.0.0.1 }\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"hello"]]),
            expect: Same,
        },
        Case {
            family: "tcp-response content",
            section: "listen",
            check: "TCP: rule not matching lets data through",
            tcp: true,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    tcp-response content reject if { src 10.0.0.1 }\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"hello"]]),
            expect: Same,
        },
        Case {
            family: "tcp-response content",
            section: "defaults (named, backend)",
            check: "TCP: inherited rule runs",
            tcp: true,
            proxies: "defaults d from base\n    tcp-response content reject if { src 127.0.0.1 }\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from d\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"hello"]]),
            expect: Same,
        },
        Case {
            family: "tcp-response content",
            section: "frontend",
            check: "refused",
            tcp: true,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    tcp-response content reject\n    default_backend be\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        Case {
            family: "tcp-response content",
            section: "defaults (named, frontend)",
            check: "refused: a frontend may not inherit it",
            tcp: true,
            proxies: "defaults d from base\n    tcp-response content accept\nfrontend fe from d\n    bind 127.0.0.1:{fe}\n    default_backend be\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        Case {
            family: "tcp-response content",
            section: "backend (inspect-delay)",
            check: "TCP: waits for 3 response bytes, rejects s1:",
            tcp: true,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    tcp-response inspect-delay 2s\n    tcp-response content reject if { res.payload(0,3) -m bin 73313a }\n    tcp-response content accept if { res.len ge 3 }\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"hello"]]),
            expect: Same,
        },
        Case {
            family: "tcp-response content",
            section: "listen (inspect-delay)",
            check: "TCP: waits for the response, lets it through",
            tcp: true,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    tcp-response inspect-delay 2s\n    tcp-response content reject if { res.payload(0,3) -m bin 73323a }\n    tcp-response content accept if { res.len ge 3 }\n    tcp-response content reject\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"hel", b"lo"]]),
            expect: Same,
        },
        Case {
            family: "tcp-response content",
            section: "defaults (named, inspect-delay)",
            check: "TCP: inherited delay, WAIT_END rejects once it ran out",
            tcp: true,
            proxies: "defaults d from base\n    tcp-response inspect-delay 300ms\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from d\n    tcp-response content reject if WAIT_END\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"hello"]]),
            expect: Same,
        },
        // ---------------------------------------------------------- http-request
        Case {
            family: "http-request",
            section: "frontend",
            check: "deny /admin, set-header",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    http-request deny if { path_beg /admin }\n    http-request set-header X-Fe yes\n    default_backend be\n",
            probe: paths(&["/admin/secret", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-request cookie fetches",
            section: "frontend",
            check: "req.cook_cnt, req.cook_val, req.cook with and without a name",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    http-request set-header X-Cnt %[req.cook_cnt()]\n    http-request set-header X-Cnt-A %[req.cook_cnt(a)]\n    http-request set-header X-Val %[req.cook_val()]\n    http-request set-header X-Val-B %[req.cook_val(b)]\n    http-request set-header X-First %[req.cook]\n    http-request return status 200 hdr X-Cnt %[req.hdr(x-cnt)] hdr X-Cnt-A %[req.hdr(x-cnt-a)] hdr X-Val %[req.hdr(x-val)] hdr X-Val-B %[req.hdr(x-val-b)] hdr X-First %[req.hdr(x-first)]\n",
            probe: Probe::Http(vec![
                ("/", "Cookie: a=7x; b=-22; a=3\r\nCookie: c=1\r\n"),
                ("/", ""),
            ]),
            expect: Same,
        },
        Case {
            family: "http-request replace-*",
            section: "frontend",
            check: "replace-path, replace-pathq, replace-uri, replace-header, replace-value",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    http-request set-header X-List \"a:1, b:2,c:3\"\n    http-request set-header X-Whole host:8080\n    http-request replace-value X-List ([a-z]):(.*) \\2=\\1\n    http-request replace-header X-Whole (.*):(.*) \\2-\\1-%[path]\n    http-request replace-path /old(.*) /new\\1 if { path_beg /old }\n    http-request replace-pathq /q/([^?]*)\\?(.*) /\\2/\\1 if { path_beg /q/ }\n    http-request replace-uri ^/u/(.*) /uri/\\1\n    default_backend be\n",
            probe: paths(&["/old/a?x=1", "/q/b?y=2", "/u/c?z", "/keep"]),
            expect: Same,
        },
        Case {
            family: "http-response replace-*",
            section: "backend",
            check: "replace-header, replace-value on the response",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    http-response set-header X-A \"s1, t2\"\n    http-response replace-value X-A s(.) S\\1\n    http-response replace-header X-Srv (.*) srv=\\1\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "backend",
            check: "deny /admin, set-header, set-path (issue 18)",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    http-request deny if { path_beg /admin }\n    http-request set-header X-From-Backend yes\n    http-request set-path /static%[path] if { path_beg /img }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin/secret", "/ok", "/img/a.png"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "backend",
            check: "reject closes without an answer",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    http-request reject if { path_beg /admin }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "backend",
            check: "tarpit: 500 after timeout tarpit, PT",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    timeout tarpit 200ms\n    http-request tarpit if { path_beg /admin }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "listen",
            check: "deny /admin, set-header",
            tcp: false,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    http-request deny if { path_beg /admin }\n    http-request set-header X-Ls yes\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin/secret", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "listen + use_backend",
            check: "the listen's rules, then the other backend's",
            tcp: false,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    http-request set-header X-Ls yes\n    use_backend b3 if { path_beg /b3 }\n    server s1 127.0.0.1:{s1}\nbackend b3 from base\n    http-request deny if { path_beg /b3/admin }\n    http-request set-header X-B3 yes\n    server s2 127.0.0.1:{s2}\n",
            probe: paths(&["/b3/admin", "/b3/ok", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "frontend then backend",
            check: "frontend set-header seen by a backend rule",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    http-request set-header X-Tag fe if { path_beg /tag }\n    default_backend b3\nbackend b3 from base\n    http-request deny deny_status 429 if { req.hdr(x-tag) fe }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/tag", "/plain"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "frontend then backend",
            check: "frontend deny wins over backend allow",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    http-request deny if { path_beg /x }\n    default_backend b3\nbackend b3 from base\n    http-request allow\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/x", "/y"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "frontend then backend",
            check: "frontend allow does not skip the backend's deny",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    http-request allow\n    default_backend b3\nbackend b3 from base\n    http-request deny if { path_beg /admin }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "backend",
            check: "return, redirect, be_name, var across sections",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    http-request set-var(txn.from) str(fe)\n    default_backend b3\nbackend b3 from base\n    http-request return status 200 content-type text/plain string ok hdr X-Be %[be_name] hdr X-Var %[var(txn.from)] if { path_beg /ret }\n    http-request redirect location /moved code 301 if { path_beg /old }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/ret", "/old", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "defaults (named, frontend)",
            check: "inherited rules run first",
            tcp: false,
            proxies: "defaults d from base\n    http-request deny if { path_beg /admin }\n    http-request set-header X-Def yes\nfrontend fe from d\n    bind 127.0.0.1:{fe}\n    http-request set-header X-Def fe-too\n    default_backend be\n",
            probe: paths(&["/admin", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "defaults (named, backend)",
            check: "inherited rules run in the backend",
            tcp: false,
            proxies: "defaults d from base\n    http-request deny if { path_beg /admin }\n    http-request set-header X-Def yes\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from d\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-request",
            section: "defaults (named, frontend and backend)",
            check: "refused: one defaults with rules for both",
            tcp: false,
            proxies: "defaults d from base\n    http-request set-header X-Def yes\nfrontend fe from d\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from d\n    server s1 127.0.0.1:{s1}\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        Case {
            family: "http-request",
            section: "defaults (named, listen)",
            check: "refused: a listen may not inherit rules",
            tcp: false,
            proxies: "defaults d from base\n    http-request set-header X-Def yes\nlisten ls from d\n    bind 127.0.0.1:{fe}\n    server s1 127.0.0.1:{s1}\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        Case {
            family: "http-request",
            section: "defaults (anonymous)",
            check: "refused",
            tcp: false,
            proxies: "defaults\n    mode http\n    http-request deny\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend be\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        // ---------------------------------------------------------- http-response
        Case {
            family: "http-response",
            section: "frontend then backend",
            check: "the backend's rules run first",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    http-response set-header X-Order %[res.hdr(x-order)],fe\n    default_backend b3\nbackend b3 from base\n    http-response set-header X-Order be\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/a"]),
            expect: Same,
        },
        Case {
            family: "http-response",
            section: "backend",
            check: "deny on a server header (dresp)",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend be\n    http-response set-header X-Fe yes\nbackend be from base\n    balance roundrobin\n    http-response deny if { res.hdr(x-srv) s2 }\n    server s1 127.0.0.1:{s1}\n    server s2 127.0.0.1:{s2}\n",
            probe: paths(&["/a", "/b"]),
            expect: Same,
        },
        Case {
            family: "http-response",
            section: "listen",
            check: "set-status, del-header",
            tcp: false,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    http-response set-status 203 if { res.hdr(x-srv) s1 }\n    http-response del-header x-srv\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/s"]),
            expect: Same,
        },
        Case {
            family: "http-response",
            section: "defaults (named, backend)",
            check: "inherited rule runs",
            tcp: false,
            proxies: "defaults d from base\n    http-response set-header X-Def yes\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from d\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/a"]),
            expect: Same,
        },
        // ---------------------------------------------------------- http-after-response
        Case {
            family: "http-after-response",
            section: "frontend then backend",
            check: "on server responses and on a deny, backend first",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    http-request deny if { path_beg /admin }\n    http-after-response set-header X-After %[res.hdr(x-after)],fe\n    default_backend b3\nbackend b3 from base\n    http-after-response set-header X-After be\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/a", "/admin"]),
            expect: Same,
        },
        Case {
            family: "http-after-response",
            section: "backend",
            check: "on a backend deny",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    http-request deny if { path_beg /admin }\n    http-after-response set-header X-After be\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/admin", "/ok"]),
            expect: Same,
        },
        Case {
            family: "http-after-response",
            section: "listen",
            check: "set-status on every response",
            tcp: false,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    http-after-response set-header X-After ls\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/a"]),
            expect: Same,
        },
        Case {
            family: "http-after-response",
            section: "defaults (named, frontend)",
            check: "inherited rule runs",
            tcp: false,
            proxies: "defaults d from base\n    http-after-response set-header X-Def yes\nfrontend fe from d\n    bind 127.0.0.1:{fe}\n    default_backend be\n",
            probe: paths(&["/a"]),
            expect: Same,
        },
        // ---------------------------------------------------------- use_backend
        Case {
            family: "use_backend",
            section: "frontend",
            check: "HTTP: /two goes to b2",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    use_backend b2 if { path_beg /two }\n    default_backend be\n",
            probe: paths(&["/two", "/one"]),
            expect: Same,
        },
        Case {
            family: "use_backend",
            section: "listen",
            check: "TCP: payload picks the backend (content rule waits for it)",
            tcp: true,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    tcp-request inspect-delay 2s\n    tcp-request content accept if { req.len ge 3 }\n    use_backend b2 if { req.payload(0,3) -m bin 747770 }\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"twp hello"], &[b"one hello"]]),
            expect: Same,
        },
        Case {
            family: "use_backend",
            section: "frontend",
            check: "TCP: no match and no default backend: SC",
            tcp: true,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    use_backend b2 if { src 10.0.0.1 }\n",
            probe: tcp(&[&[b"hello"]]),
            expect: Same,
        },
        Case {
            family: "use_backend",
            section: "backend",
            check: "ignored with a warning (both)",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    use_backend b2\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/a"]),
            expect: Same,
        },
        Case {
            family: "use_backend",
            section: "defaults (named)",
            check: "refused",
            tcp: false,
            proxies: "defaults d from base\n    use_backend b2\nfrontend fe from d\n    bind 127.0.0.1:{fe}\n    default_backend be\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        Case {
            family: "use_backend",
            section: "tcp frontend, http backend",
            check: "Sluice refuses (no TCP to HTTP upgrade)",
            tcp: true,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend bh\nbackend bh\n    mode http\n    timeout connect 1s\n    timeout server 2s\n    server s1 127.0.0.1:{s1}\n",
            probe: Probe::Check,
            expect: SluiceRefuses,
        },
        // ---------------------------------------------------------- use-server
        Case {
            family: "use-server",
            section: "backend",
            check: "HTTP: /two always to s2",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend be\nbackend be from base\n    use-server s2 if { path_beg /two }\n    server s1 127.0.0.1:{s1}\n    server s2 127.0.0.1:{s2}\n",
            probe: paths(&["/two", "/two", "/two", "/x", "/y"]),
            expect: Same,
        },
        Case {
            family: "use-server",
            section: "listen",
            check: "TCP: payload picks the server",
            tcp: true,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    tcp-request inspect-delay 2s\n    tcp-request content accept if { req.len ge 3 }\n    use-server s2 if { req.payload(0,3) -m bin 747770 }\n    server s1 127.0.0.1:{s1}\n    server s2 127.0.0.1:{s2}\n",
            probe: tcp(&[&[b"twp a"], &[b"twp b"], &[b"one c"]]),
            expect: Same,
        },
        Case {
            family: "use-server",
            section: "frontend",
            check: "refused",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    use-server s1 if TRUE\n    default_backend be\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        // ---------------------------------------------------------- stick
        Case {
            family: "stick on",
            section: "backend",
            check: "HTTP: sticks only when the condition holds",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend be\nbackend be from base\n    stick-table type ip size 1k\n    stick on src if { path_beg /s }\n    server s1 127.0.0.1:{s1}\n    server s2 127.0.0.1:{s2}\n",
            probe: paths(&["/x", "/s/1", "/s/2", "/s/3", "/y"]),
            expect: Same,
        },
        Case {
            family: "stick on",
            section: "listen",
            check: "TCP: every connection to the same server",
            tcp: true,
            proxies: "listen ls from base\n    bind 127.0.0.1:{fe}\n    stick-table type ip size 1k\n    stick on src\n    server s1 127.0.0.1:{s1}\n    server s2 127.0.0.1:{s2}\n",
            probe: tcp(&[&[b"a"], &[b"b"], &[b"c"]]),
            expect: Same,
        },
        Case {
            family: "stick on",
            section: "frontend",
            check: "ignored with a warning (both)",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    stick on src\n    default_backend be\n",
            probe: paths(&["/a", "/b"]),
            expect: Same,
        },
        Case {
            family: "stick on",
            section: "defaults (named)",
            check: "refused",
            tcp: false,
            proxies: "defaults d from base\n    stick on src\nfrontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend be\n",
            probe: Probe::Check,
            expect: BothRefuse,
        },
        // ---------------------------------------------------------- track-sc*
        Case {
            family: "http-request track-sc0",
            section: "frontend",
            check: "deny past 2 requests",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    stick-table type ip size 1k store http_req_cnt\n    http-request track-sc0 src\n    http-request deny if { sc_http_req_cnt(0) gt 2 }\n    default_backend be\n",
            probe: paths(&["/1", "/2", "/3", "/4"]),
            expect: Same,
        },
        Case {
            family: "http-request track-sc0",
            section: "backend",
            check: "deny past 2 requests, backend's own table",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    stick-table type ip size 1k store http_req_cnt\n    http-request track-sc0 src\n    http-request deny if { sc_http_req_cnt(0) gt 2 }\n    server s1 127.0.0.1:{s1}\n",
            probe: paths(&["/1", "/2", "/3", "/4"]),
            expect: Same,
        },
        Case {
            family: "tcp-request content track-sc1",
            section: "backend",
            check: "TCP: reject past 2 connections",
            tcp: true,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    default_backend b3\nbackend b3 from base\n    stick-table type ip size 1k store conn_cnt\n    tcp-request content track-sc1 src\n    tcp-request content reject if { sc1_conn_cnt gt 2 }\n    server s1 127.0.0.1:{s1}\n",
            probe: tcp(&[&[b"a"], &[b"b"], &[b"c"]]),
            expect: Same,
        },
        Case {
            family: "tcp-request content track-sc2",
            section: "frontend",
            check: "HTTP: deny past 2 requests",
            tcp: false,
            proxies: "frontend fe from base\n    bind 127.0.0.1:{fe}\n    stick-table type ip size 1k store http_req_cnt\n    tcp-request content track-sc2 src\n    http-request deny if { sc2_http_req_cnt gt 2 }\n    default_backend be\n",
            probe: paths(&["/1", "/2", "/3"]),
            expect: Same,
        },
    ]
}

/// What one proxy did with a case.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct Obs {
    valid: bool,
    /// Per request or connection.
    answers: Vec<String>,
    /// What the servers received, in order.
    seen: Vec<String>,
    /// Traffic log lines (frontend, backend/server, status, termination).
    logs: Vec<String>,
    /// `show stat` counters.
    counters: Vec<String>,
}

impl Obs {
    fn summary(&self) -> String {
        if !self.valid {
            return "refused".into();
        }
        if self.answers.is_empty() {
            return "accepted".into();
        }
        let mut s = self.answers.join(" ");
        if !self.logs.is_empty() {
            s.push_str(" | ");
            s.push_str(&self.logs.join(", "));
        }
        s
    }
}

/// The servers of a run: HTTP servers answering with their name in
/// `x-srv`, or TCP servers that send `<name>:` then echo.
struct Servers {
    _s: Vec<HttpServer>,
    _t: Vec<TestServer>,
    seen: Vec<std::sync::Arc<Mutex<Vec<String>>>>,
}

fn start_servers(tcp: bool, ports: [u16; 2]) -> Servers {
    let mut out = Servers {
        _s: Vec::new(),
        _t: Vec::new(),
        seen: Vec::new(),
    };
    for (i, port) in ports.into_iter().enumerate() {
        let name = format!("s{}", i + 1);
        let seen: std::sync::Arc<Mutex<Vec<String>>> = Default::default();
        out.seen.push(seen.clone());
        if tcp {
            out._t
                .push(TestServer::start(port, move |mut s: TcpStream, _| {
                    use std::io::Read;
                    let _ = s.write_all(format!("{name}:").as_bytes());
                    let mut got = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                got.extend_from_slice(&buf[..n]);
                                if s.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    seen.lock()
                        .unwrap()
                        .push(format!("{name} {}", String::from_utf8_lossy(&got)));
                    let _ = s.shutdown(Shutdown::Write);
                }));
        } else {
            out._s.push(HttpServer::start(port, move |r: &SeenReq| {
                let mut xs: Vec<String> = r
                    .headers
                    .iter()
                    .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-"))
                    .map(|(n, v)| format!("{}={v}", n.to_ascii_lowercase()))
                    .collect();
                xs.sort();
                seen.lock().unwrap().push(
                    format!("{name} {} {}", r.target, xs.join(","))
                        .trim()
                        .to_string(),
                );
                let body = "ok\n";
                Reply::Send(
                    format!(
                        "HTTP/1.1 200 OK\r\nx-srv: {name}\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .into_bytes(),
                )
            }));
        }
    }
    out
}

fn config(case: &Case, sock: &Path, fe: u16, s1: u16, s2: u16) -> String {
    let mode = if case.tcp { "tcp" } else { "http" };
    let log = if case.tcp { "tcplog" } else { "httplog" };
    let body = format!("{}{}", case.proxies, backends(case.proxies))
        .replace("{fe}", &fe.to_string())
        .replace("{s1}", &s1.to_string())
        .replace("{s2}", &s2.to_string());
    format!(
        "{}defaults base\n    mode {mode}\n    log global\n    option {log}\n    timeout client 3s\n    timeout server 3s\n    timeout connect 1s\n{body}",
        global_section(sock, "")
    )
}

/// `-c` on a configuration: accepted, and the first error line.
fn check(bin: &str, cfg: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .arg("-c")
        .arg("-f")
        .arg(cfg)
        .output()
        .expect("run -c");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let err = text
        .lines()
        .find(|l| l.contains("ALERT") && !l.contains("Fatal errors"))
        .unwrap_or("")
        .to_string();
    (out.status.success(), err)
}

/// A connection to the proxy, `None` when it was refused or reset at once
/// (a `tcp-request connection reject` may beat the end of `connect`).
fn try_connect(port: u16) -> Option<TcpStream> {
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let s = TcpStream::connect_timeout(&addr, 3 * SEC).ok()?;
    s.set_read_timeout(Some(3 * SEC)).ok()?;
    s.set_write_timeout(Some(3 * SEC)).ok()?;
    Some(s)
}

/// A connection that ended without an answer. Whether the end is a FIN or
/// a reset depends, in both proxies, on whether the client's bytes were
/// still unread in the kernel when the proxy closed (a race this test does
/// not control): both read as "closed" here; `tests/timeouts_matrix.rs`
/// compares the kind where it is deterministic.
fn closed_word(c: Closed) -> String {
    match c {
        Closed::Fin | Closed::Reset => "closed".into(),
        Closed::Open => "open".into(),
    }
}

fn run_probe(probe: &Probe, port: u16) -> Vec<String> {
    let mut answers = Vec::new();
    match probe {
        Probe::Check => {}
        Probe::Http(reqs) => {
            for (path, extra) in reqs {
                let req =
                    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n");
                let Some(mut c) = try_connect(port) else {
                    // A reset that beat the end of `connect`.
                    answers.push("closed".into());
                    continue;
                };
                let _ = c.write_all(req.as_bytes());
                let (bytes, closed) = read_to_close(&mut c);
                answers.push(match parse_response(&bytes, false) {
                    Some((r, _)) => {
                        let mut xs: Vec<String> = r
                            .headers
                            .iter()
                            .filter(|(n, _)| {
                                let n = n.to_ascii_lowercase();
                                n.starts_with("x-") || n == "location"
                            })
                            .map(|(n, v)| format!("{}={v}", n.to_ascii_lowercase()))
                            .collect();
                        xs.sort();
                        format!("{} {}", r.status, xs.join(",")).trim().to_string()
                    }
                    None if bytes.is_empty() => closed_word(closed),
                    None => format!("garbage({})", bytes.len()),
                });
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Probe::Tcp(conns) => {
            for parts in conns {
                let Some(mut s) = try_connect(port) else {
                    answers.push("closed".into());
                    continue;
                };
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    let _ = s.write_all(p);
                }
                // Leave the rules time to decide on what was sent, then FIN.
                std::thread::sleep(Duration::from_millis(100));
                let _ = s.shutdown(Shutdown::Write);
                let (bytes, closed) = read_to_close(&mut s);
                answers.push(if bytes.is_empty() {
                    closed_word(closed)
                } else {
                    format!("{:?}", String::from_utf8_lossy(&bytes))
                });
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    answers
}

/// `fe be/srv status tsc` of each traffic log line, sorted.
fn log_summary(output: &str, tcp: bool) -> Vec<String> {
    let mut out: Vec<String> = traffic_lines(output)
        .iter()
        .filter_map(|l| {
            let rest = l.split_once("] ")?.1;
            let w: Vec<&str> = rest.split_whitespace().collect();
            if tcp {
                // fe be/srv Tw/Tc/Tt bytes tsc; of the timers, whether the
                // queue and connect stages were reached (-1 or a time).
                let stages: Vec<&str> = w
                    .get(2)?
                    .split('/')
                    .take(2)
                    .map(|t| if t.starts_with('-') { "-1" } else { "n" })
                    .collect();
                Some(format!(
                    "{} {} {} {}",
                    w.first()?,
                    w.get(1)?,
                    stages.join("/"),
                    w.get(4)?
                ))
            } else {
                // fe be/srv TR/Tw/Tc/Tr/Ta status bytes - - tsc; of the
                // timers, which stages were reached.
                let stages: Vec<&str> = w
                    .get(2)?
                    .split('/')
                    .take(4)
                    .map(|t| if t.starts_with('-') { "-1" } else { "n" })
                    .collect();
                Some(format!(
                    "{} {} {} {} {}",
                    w.first()?,
                    w.get(1)?,
                    stages.join("/"),
                    w.get(3)?,
                    w.get(7)?
                ))
            }
        })
        .collect();
    out.sort();
    out
}

/// The counters rules move, from `show stat`.
fn counters(stat_csv: &str, tcp: bool) -> Vec<String> {
    let mut out = Vec::new();
    for ((px, sv), row) in parse_stat(stat_csv) {
        let fields: &[&str] = match sv.as_str() {
            "FRONTEND" => &["dreq", "dresp", "dcon", "dses"],
            "BACKEND" => &["dreq", "dresp"],
            _ => &["stot", "dresp"],
        };
        let mut vals: Vec<String> = fields
            .iter()
            .map(|f| format!("{f}={}", row.get(*f).map_or("", String::as_str)))
            .filter(|v| !v.ends_with("=0") && !v.ends_with('='))
            .collect();
        // Which rows the request bytes were counted on (HAProxy counts an
        // HTTP head by its HTX size, Sluice by its wire size: only whether
        // they were counted is compared). HTTP only: a TCP stream a rule
        // kills at connect time races the client's bytes, in both.
        if !tcp && sv != "FRONTEND" && row.get("bin").is_some_and(|v| !v.is_empty() && v != "0") {
            vals.push("bin>0".into());
        }
        if !vals.is_empty() {
            out.push(format!("{px}/{sv} {}", vals.join(" ")));
        }
    }
    out
}

/// Runs one case against one proxy (`ha`: HAProxy, else proxy-mio).
fn run_case(case: &Case, ha: bool, n: usize) -> Obs {
    let tag = if ha { "ha" } else { "sl" };
    let dir = TempDir::new(&format!("rm{n}{tag}"));
    let [fe, s1, s2] = free_ports(3)[..] else {
        panic!()
    };
    let sock = dir.join(&format!("{tag}.sock"));
    let text = config(case, &sock, fe, s1, s2);
    let path = dir.join(&format!("{tag}-check.cfg"));
    write_file(&path, &text);
    let bin = if ha {
        haproxy_bin().expect("haproxy").to_string()
    } else {
        proxy_mio().display().to_string()
    };
    let (valid, _err) = check(&bin, &path);
    let mut obs = Obs {
        valid,
        ..Obs::default()
    };
    if !valid || matches!(case.probe, Probe::Check) {
        return obs;
    }
    let servers = start_servers(case.tcp, [s1, s2]);
    let output: Box<dyn Fn() -> String>;
    let stat: Box<dyn Fn() -> String>;
    let drained: Box<dyn Fn() -> bool>;
    if ha {
        let h = HaRun::start(&dir, tag, &text);
        obs.answers = run_probe(&case.probe, fe);
        let h = std::sync::Arc::new(h);
        let (h1, h2, h3) = (h.clone(), h.clone(), h.clone());
        output = Box::new(move || h1.proc.output());
        stat = Box::new(move || h2.cli("show stat"));
        drained = Box::new(move || parse_info(&h3.cli("show info"), "CurrConns") == "0");
    } else {
        let p = Sluice::run(&dir, tag, &text);
        obs.answers = run_probe(&case.probe, fe);
        let p = std::sync::Arc::new(p);
        let (p1, p2, p3) = (p.clone(), p.clone(), p.clone());
        output = Box::new(move || p1.log());
        stat = Box::new(move || p2.cli("show stat"));
        drained = Box::new(move || p3.info("CurrConns") == "0");
    }
    let _ = poll(5 * SEC, Duration::from_millis(20), || {
        drained().then_some(())
    });
    std::thread::sleep(Duration::from_millis(100));
    obs.logs = log_summary(&output(), case.tcp);
    obs.counters = counters(&stat(), case.tcp);
    for s in &servers.seen {
        obs.seen.extend(s.lock().unwrap().iter().cloned());
    }
    obs.seen.sort();
    if case.family.starts_with("tcp-response") {
        // Whether the server read the client's bytes before the rule
        // closed the connection is a race in both proxies.
        obs.seen.clear();
    }
    obs
}

#[test]
fn rules_in_every_section_act_as_in_haproxy() {
    if !haproxy_or_skip("rules_in_every_section_act_as_in_haproxy") {
        return;
    }
    let mut cases = cases();
    // `RULES_MATRIX_ONLY=FAMILY`: the cases of one rule family (the table
    // printed is then partial).
    if let Ok(only) = std::env::var("RULES_MATRIX_ONLY") {
        cases.retain(|c| c.family.contains(only.as_str()));
    }
    let results: Mutex<BTreeMap<usize, (Obs, Obs)>> = Mutex::new(BTreeMap::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(case) = cases.get(i) else { return };
                let sl = run_case(case, false, i);
                let ha = run_case(case, true, i);
                results.lock().unwrap().insert(i, (ha, sl));
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut table = String::from(
        "| rule family | section | checks | HAProxy 2.6 | Sluice | |\n|---|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let (ha, sl) = &results[&i];
        let verdict = match case.expect {
            Expect::Same | Expect::BothRefuse => {
                let ok = ha == sl
                    && (case.expect == Expect::Same) == ha.valid
                    && (case.expect == Expect::Same || !sl.valid);
                if !ok {
                    failures.push(format!(
                        "{} / {} ({}):\n  HAProxy: {ha:?}\n  Sluice:  {sl:?}",
                        case.family, case.section, case.check
                    ));
                }
                if ok {
                    "same"
                } else {
                    "DIFFERS"
                }
            }
            Expect::HaproxyBug(want) => {
                let ok = ha.valid && sl.valid && sl.answers == want && ha.answers != want;
                if !ok {
                    failures.push(format!(
                        "{} / {}: expected Sluice to answer {want:?} (HAProxy 2.6.12 does not): {ha:?} {sl:?}",
                        case.family, case.section
                    ));
                }
                if ok {
                    "HAProxy 2.6.12 bug (see \"Where Sluice differs\")"
                } else {
                    "DIFFERS"
                }
            }
            Expect::SluiceRefuses => {
                let ok = ha.valid && !sl.valid;
                if !ok {
                    failures.push(format!(
                        "{} / {}: expected HAProxy to accept and Sluice to refuse: {ha:?} {sl:?}",
                        case.family, case.section
                    ));
                }
                if ok {
                    "Sluice refuses (see \"Where Sluice differs\")"
                } else {
                    "DIFFERS"
                }
            }
        };
        table.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {verdict} |\n",
            case.family,
            case.section,
            case.check,
            ha.summary().replace('|', "/"),
            sl.summary().replace('|', "/"),
        ));
    }
    let _ = writeln!(std::io::stderr(), "\n{table}");
    assert!(
        failures.is_empty(),
        "{} case(s) differ from HAProxy:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
