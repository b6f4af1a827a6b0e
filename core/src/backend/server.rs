//! Servers at run time: HAProxy's `struct server` (`server.c`), its
//! operational and administrative states, its health check and its idle
//! connections.

use std::collections::VecDeque;

use core::net::SocketAddr;

use crate::arena::Id;
use crate::proxy::{HttpCtrs, ProxyId, RateCtr};
use crate::stream::Stream;
use crate::time::Time;

/// A server: its backend and its position among the backend's servers
/// (HAProxy's `struct server *`, which knows its `proxy`).
///
/// Why (backend, position) and not one process-wide number: the set of
/// servers is fixed when the configuration is loaded, and everything a
/// server has is kept per backend in the same order — its configuration,
/// its process-wide state (queue, `cur_sess`, check results, counters) and,
/// once the engine runs one instance per thread (issue 13), each thread's
/// own part (idle connections, timers). One handle indexes all three
/// without a translation table, and the load balancer, which works on the
/// positions within one backend, uses the position as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId {
    /// The backend the server belongs to (`srv->proxy`).
    pub be: ProxyId,
    /// Its position among the backend's servers (the load balancer's index).
    pub idx: u32,
}

impl ServerId {
    /// Server `i` of backend `be`.
    pub const fn new(be: ProxyId, i: usize) -> ServerId {
        ServerId { be, idx: i as u32 }
    }

    /// Its position among its backend's servers.
    pub const fn pos(self) -> usize {
        self.idx as usize
    }
}

/// A server's operational state (HAProxy's `SRV_ST_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrvState {
    /// Down: health checks fail.
    Stopped,
    /// Coming up (between the first successful check and `rise`); Sluice
    /// reports it as DOWN like HAProxy does.
    Starting,
    /// Up.
    Running,
    /// Going down (between the first failed check and `fall`): still used.
    Stopping,
}

/// An administrative state set from the CLI or the configuration
/// (`SRV_ADMF_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SrvAdmin {
    #[default]
    Ready,
    /// `set server B/S state maint`, `disable server`, `disabled`.
    Maint,
    /// `set server B/S state drain`: no new traffic except persistence.
    Drain,
    /// Maintenance because the server's name does not resolve
    /// (`SRV_ADMF_RMAINT`: `init-addr none`, or a DNS answer without a
    /// usable address or in error past its `hold`). Shown as
    /// `MAINT (resolution)`; cleared when an address comes.
    #[doc(alias = "SRV_ADMF_RMAINT")]
    Rmaint,
}

impl SrvAdmin {
    /// In maintenance, whatever the cause (no traffic at all).
    pub fn is_maint(self) -> bool {
        matches!(self, SrvAdmin::Maint | SrvAdmin::Rmaint)
    }
}

/// Health check settings of one server (the configured half of HAProxy's
/// `struct check`): immutable after load, part of [`ServerCfg`].
#[derive(Clone, Debug)]
pub struct CheckCfg {
    pub inter_ms: u32,
    pub fastinter_ms: u32,
    pub downinter_ms: u32,
    pub rise: u32,
    pub fall: u32,
    /// `option httpchk`: the request to send; `None` for a TCP check.
    pub http_req: Option<Vec<u8>>,
    /// `http-check expect` rules, in order, all on the same response
    /// (HAProxy adds `status 200-399` when there is none).
    pub http_expects: Vec<HttpExpect>,
    /// The check request is `HEAD`: its response has no body.
    pub http_head: bool,
    /// Where checks connect: the server's address unless `addr`, `port`
    /// or `tcp-check connect port` say otherwise (HAProxy's `check.addr`
    /// and `check.port`).
    pub addr: SocketAddr,
    /// The UNIX socket checks connect to instead of `addr`: a server on
    /// one, without a check `addr` of its own.
    pub unix: Option<crate::sock::UnixAddr>,
    /// `option tcp-check` rules after the connect, or `option redis-check`'s
    /// (HAProxy's `tcpcheck_rules`); `None`: a connect-only or HTTP check.
    pub script: Option<std::sync::Arc<[CheckStep]>>,
    /// The TLS context of checks over TLS (`check-ssl`, or an `ssl`
    /// server's checks), `None`: in clear.
    pub tls: Option<std::sync::Arc<crate::conn::tls::SrvCtx>>,
}

/// Agent check settings of one server (the configured half of HAProxy's
/// `srv->agent`, a `struct check` with `CHK_ST_AGENT`): `agent-check`,
/// `agent-addr`, `agent-port`, `agent-inter`, `agent-send`.
#[derive(Clone, Debug)]
pub struct AgentCfg {
    /// `agent-inter` (HAProxy's `DEF_CHKINTR`, 2s, when not set; the
    /// server's `inter` does not apply).
    pub inter_ms: u32,
    /// `agent-addr` (else `addr`, else the server's address) on
    /// `agent-port` (else `port`).
    pub addr: SocketAddr,
    /// `agent-send`: sent once connected; `None`: nothing is sent.
    pub send: Option<Vec<u8>>,
}

impl AgentCfg {
    /// HAProxy's `DEF_AGENT_RISETIME` and `DEF_AGENT_FALLTIME`: one
    /// report is enough either way.
    pub const RISE: u32 = 1;
    pub const FALL: u32 = 1;
}

/// One `http-check expect` rule, ready to run (HAProxy's
/// `tcpcheck_eval_expect_http`).
#[derive(Clone, Debug)]
pub struct HttpExpect {
    /// `!`: the rule passes when the pattern does not match.
    pub negate: bool,
    pub matcher: HttpMatch,
    /// `min-recv`: body bytes to wait for before matching.
    pub min_recv: Option<usize>,
    /// The rule's position among the check's rules (1 is the implicit
    /// connect, 2 the send), for the generic failure info.
    pub step: usize,
    pub comment: Option<String>,
    /// `ok-status` (`L7OK`), `error-status` (`L7STS` for status and
    /// header rules, `L7RSP` for body rules), `tout-status` (`L7TOUT`).
    pub ok_status: &'static str,
    pub err_status: Option<&'static str>,
    pub tout_status: &'static str,
}

/// What an `http-check expect` rule looks at.
#[derive(Clone, Debug)]
pub enum HttpMatch {
    /// `status`: inclusive ranges.
    Status(Vec<(u16, u16)>),
    /// `rstatus`: a regex on the three digits.
    RStatus(crate::sample::Regex),
    /// `string`: the body contains these bytes.
    Body(String),
    /// `rstring`: a regex on the body.
    RBody(crate::sample::Regex),
    /// `hdr name N [value V] [full]`, `fhdr` (`full`).
    Hdr {
        name: HdrPat,
        value: Option<HdrPat>,
        full: bool,
    },
    /// `http-check set-var(check.NAME) EXPR`: sets a check variable from
    /// the response (an action rule, always passes).
    SetVar {
        var: crate::sample::VarName,
        expr: crate::sample::SampleExpr,
    },
    /// `http-check unset-var(check.NAME)`.
    UnsetVar(crate::sample::VarName),
}

/// A header name or value pattern (`-m str|beg|end|sub|reg`); names
/// compare without case, values with.
#[derive(Clone, Debug)]
pub enum HdrPat {
    Str(String),
    Beg(String),
    End(String),
    Sub(String),
    Reg(crate::sample::Regex),
    /// `name-lf` / `value-lf`: a log-format string rendered when the rule
    /// runs, then compared as `Str`, `Beg`, `End` or `Sub` says (the
    /// `-m` method on an empty pattern).
    Lf(Box<HdrPat>, crate::log::format::LogFmt),
}

impl HdrPat {
    /// Whether `s` matches (`nocase`: for header names).
    pub fn matches(&self, s: &str, nocase: bool) -> bool {
        let (s, fold) = if nocase {
            (s.to_ascii_lowercase(), true)
        } else {
            (s.to_string(), false)
        };
        let p = |t: &str| {
            if fold {
                t.to_ascii_lowercase()
            } else {
                t.to_string()
            }
        };
        match self {
            HdrPat::Str(t) => s == p(t),
            HdrPat::Beg(t) => s.starts_with(&p(t)),
            HdrPat::End(t) => s.ends_with(&p(t)),
            HdrPat::Sub(t) => s.contains(&p(t)),
            HdrPat::Reg(re) => re.is_match(s.as_bytes()),
            // Rendered by the caller ([`HdrPat::with_text`]).
            HdrPat::Lf(..) => false,
        }
    }

    /// The same method on `text` (a rendered `-lf` pattern).
    pub fn with_text(&self, text: String) -> HdrPat {
        match self {
            HdrPat::Str(_) => HdrPat::Str(text),
            HdrPat::Beg(_) => HdrPat::Beg(text),
            HdrPat::End(_) => HdrPat::End(text),
            HdrPat::Sub(_) => HdrPat::Sub(text),
            other => other.clone(),
        }
    }
}

/// One step of a scripted check after its connect (HAProxy's
/// `struct tcpcheck_rule` of type send or expect). `tcp-check` lines and
/// the protocol checks (`option redis-check`, `mysql-check`...: canned
/// rulesets in HAProxy's `tcpcheck.c`) both compile to these steps.
#[derive(Clone, Debug)]
pub enum CheckStep {
    /// Bytes to send; `unix_time_at`: where to write the current Unix time
    /// (4 bytes, big endian: `option ssl-hello-chk`'s `%[date(),htonl]`).
    /// Sending drops what was received (HAProxy releases `check->bi`).
    Send {
        bytes: Vec<u8>,
        unix_time_at: Option<usize>,
    },
    /// Wait until the received bytes match (HAProxy's `tcpcheck_eval_expect`).
    Expect(Box<CheckExpect>),
    /// Open a connection, closing the one before (HAProxy's
    /// `tcpcheck_eval_connect`).
    Connect(Box<ConnectStep>),
    /// An HTTP check's request, rendered when it runs (HAProxy's
    /// `tcpcheck_eval_send` of an HTTP rule).
    HttpSend(Box<HttpSendStep>),
    /// An HTTP check's expect rules (and `set-var` / `unset-var` among
    /// them) on the response to the send before them (HAProxy's
    /// `tcpcheck_eval_expect_http`).
    HttpExpect(Box<HttpExpectStep>),
}

/// A text of an `http-check send` rule: fixed, or a log-format string
/// (`uri-lf`, `body-lf`, header values).
#[derive(Clone, Debug)]
pub enum ChkText {
    Lit(String),
    Lf(crate::log::format::LogFmt),
}

/// An `http-check send` rule, ready to run.
#[derive(Clone, Debug)]
pub struct HttpSendStep {
    pub meth: String,
    /// `/` when it renders empty.
    pub uri: ChkText,
    /// `HTTP/1.0` when not set.
    pub ver: String,
    /// Lower-case names; a value rendering empty is not sent.
    pub headers: Vec<(String, ChkText)>,
    pub body: Option<ChkText>,
    /// `http-check send-state`: an `X-Haproxy-Server-State` header.
    pub send_state: bool,
    /// Over HTTP/2 (`proto h2` on the connect rule, or the server's
    /// `check-proto h2` / `proto h2` on a default connect).
    pub h2: bool,
}

/// The `http-check expect` rules on one response.
#[derive(Clone, Debug)]
pub struct HttpExpectStep {
    pub rules: Vec<HttpExpect>,
    /// The request was `HEAD`: the response has no body.
    pub head: bool,
    /// The response comes over HTTP/2.
    pub h2: bool,
    /// Only `set-var` / `unset-var` rules before a send: they run at
    /// once, without a response.
    pub pre: bool,
}

/// A `tcp-check connect` rule, ready to run.
#[derive(Clone, Debug)]
pub struct ConnectStep {
    /// `addr`: else the check's address ([`CheckCfg::addr`] or `unix`).
    pub ip: Option<core::net::IpAddr>,
    /// `port`, else `addr`'s port: else the check's port.
    pub port: Option<u16>,
    /// The `port` written on the rule, for the failure info.
    pub rule_port: Option<u16>,
    /// `default`: the server's check TLS ([`CheckCfg::tls`]) applies;
    /// otherwise `tls` (`ssl`, `sni`, `alpn`), `None` in clear.
    pub default: bool,
    pub tls: Option<std::sync::Arc<crate::conn::tls::SrvCtx>>,
    /// `linger`: closed with a FIN rather than a reset.
    pub linger: bool,
    /// The rule's position (0: the implicit connect), and its comment.
    pub step: usize,
    pub comment: Option<String>,
}

/// A check `expect` step and what its outcomes report.
#[derive(Clone, Debug)]
pub struct CheckExpect {
    /// `!`: the step passes when the pattern does not match.
    pub negate: bool,
    pub matcher: CheckMatch,
    /// `min-recv`: bytes to wait for before matching; once there, a
    /// mismatch is final (without it, a mismatch waits for more bytes).
    pub min_recv: Option<usize>,
    /// The rule's position among the rules (1 is the connect), and its
    /// `comment`, for the check's `info` on failure.
    pub step: usize,
    pub comment: Option<String>,
    /// `ok-status`, `error-status`, `tout-status` (`L7OK`, `L7RSP`,
    /// `L7TOUT` by default).
    pub ok_status: &'static str,
    pub err_status: &'static str,
    pub tout_status: &'static str,
    /// `on-success` / `on-error`: the check's `info`.
    pub on_success: Option<CheckMsg>,
    pub on_error: Option<CheckMsg>,
    /// `status-code res.payload(OFF,LEN)`: the check's code, read from the
    /// response as a decimal number.
    pub status_code: Option<(usize, usize)>,
    /// Part of a protocol check: no generic `TCPCHK ...` info (HAProxy's
    /// `TCPCHK_RULES_PROTO_CHK`).
    pub proto: bool,
}

impl CheckExpect {
    /// An expect with HAProxy's defaults.
    pub fn new(matcher: CheckMatch, step: usize) -> CheckExpect {
        CheckExpect {
            negate: false,
            matcher,
            min_recv: None,
            step,
            comment: None,
            ok_status: "L7OK",
            err_status: "L7RSP",
            tout_status: "L7TOUT",
            on_success: None,
            on_error: None,
            status_code: None,
            proto: false,
        }
    }
}

/// The text of an `on-success` / `on-error` message: fixed, or the
/// log-format expressions HAProxy's protocol checks use
/// (`%[res.payload(FROM,0),ltrim(' '),cut_crlf]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckMsg {
    Text(String),
    Payload {
        from: usize,
        ltrim_space: bool,
        cut_crlf: bool,
    },
}

impl CheckMsg {
    /// The message for the bytes received.
    pub fn render(&self, data: &[u8]) -> String {
        match self {
            CheckMsg::Text(t) => t.clone(),
            CheckMsg::Payload {
                from,
                ltrim_space,
                cut_crlf,
            } => {
                let mut d = data.get(*from..).unwrap_or(&[]);
                if *ltrim_space {
                    while let [b' ', rest @ ..] = d {
                        d = rest;
                    }
                }
                if *cut_crlf {
                    let end = d.iter().position(|&b| b == b'\r' || b == b'\n');
                    d = &d[..end.unwrap_or(d.len())];
                }
                String::from_utf8_lossy(d).into_owned()
            }
        }
    }
}

/// A protocol check's own reading of a response (HAProxy's `expect
/// custom` functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomExpect {
    /// MySQL's initial handshake packet (`tcpcheck_mysql_expect_iniths`).
    MysqlInitHs,
    /// MySQL's reply after the handshake (`tcpcheck_mysql_expect_ok`).
    MysqlOk,
    /// An LDAPv3 bind response (`tcpcheck_ldap_expect_bindrsp`).
    LdapBindRsp,
}

/// What a custom expect concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomOutcome {
    /// Not enough bytes yet.
    Wait,
    /// The step passed; `info` reports it if the step is the last one.
    Pass { info: String },
    /// The check failed with this status, code and info.
    Fail {
        status: &'static str,
        code: u32,
        info: String,
    },
}

impl CustomExpect {
    /// Reads `data` (`last`: no more bytes will come).
    pub fn eval(self, data: &[u8], last: bool) -> CustomOutcome {
        match self {
            CustomExpect::MysqlInitHs => mysql_packet(data, 0, last),
            CustomExpect::MysqlOk => {
                let hs = data.get(..3).map_or(0, |h| {
                    usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16
                });
                mysql_packet(data, 4 + hs, last)
            }
            CustomExpect::LdapBindRsp => ldap_bindrsp(data, last),
        }
    }
}

/// A C string's bytes (up to the first NUL).
fn c_str(d: &[u8]) -> String {
    let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
    String::from_utf8_lossy(&d[..end]).into_owned()
}

/// One MySQL packet at `off`: an error packet (`0xff`) fails with its
/// error code and message; any other passes, reporting the server's
/// version from the handshake.
fn mysql_packet(data: &[u8], off: usize, last: bool) -> CustomOutcome {
    let short = |last: bool| {
        if last {
            CustomOutcome::Fail {
                status: "L7RSP",
                code: 0,
                info: String::new(),
            }
        } else {
            CustomOutcome::Wait
        }
    };
    let Some(h) = data.get(off..off + 4) else {
        return short(last);
    };
    let plen = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    if data.len() < off + plen + 4 {
        return short(last);
    }
    if data.get(off + 4) == Some(&0xff) {
        let code = data
            .get(off + 5..off + 7)
            .map_or(0, |c| u32::from(c[0]) | u32::from(c[1]) << 8);
        return CustomOutcome::Fail {
            status: "L7STS",
            code,
            info: c_str(data.get(off + 7..).unwrap_or(&[])),
        };
    }
    CustomOutcome::Pass {
        info: c_str(data.get(5..).unwrap_or(&[])),
    }
}

/// An LDAPv3 `bindResponse` (RFC 4511 4.2.2): message id 1, result code 0
/// passes; another result code fails with it as the check's code.
fn ldap_bindrsp(data: &[u8], last: bool) -> CustomOutcome {
    let fail = |status: &'static str, code: u32, info: &str| CustomOutcome::Fail {
        status,
        code,
        info: info.to_string(),
    };
    let not_ldap = || fail("L7RSP", 0, "Not LDAPv3 protocol");
    let short = || {
        if last {
            fail("L7RSP", 0, "")
        } else {
            CustomOutcome::Wait
        }
    };
    // Byte 0 (the SEQUENCE tag) was matched by the step before.
    let mut p = 1;
    let Some(&len0) = data.get(p) else {
        return short();
    };
    let mut nbytes = 0;
    let msglen = if len0 & 0x80 != 0 {
        nbytes = usize::from(len0 & 0x7f);
        let Some(l) = data.get(p + 1..p + 1 + nbytes) else {
            return short();
        };
        match nbytes {
            2 | 4 => l.iter().fold(0usize, |a, &b| a << 8 | usize::from(b)),
            _ => return not_ldap(),
        }
    } else {
        usize::from(len0)
    };
    p += 1 + nbytes;
    if data.len() - p < msglen {
        return short();
    }
    if data.get(p..p + 4) != Some(&b"\x02\x01\x01\x61"[..]) {
        return not_ldap();
    }
    p += 4;
    let Some(&blen) = data.get(p) else {
        return short();
    };
    let nbytes = if blen & 0x80 != 0 {
        usize::from(blen & 0x7f)
    } else {
        0
    };
    if data.len() - p < 1 + nbytes + 2 + 1 {
        return short();
    }
    p += 1 + nbytes;
    if data.get(p..p + 2) != Some(&b"\x0a\x01"[..]) {
        return not_ldap();
    }
    let code = data.get(p + 2).copied().unwrap_or(0);
    if code != 0 {
        return fail(
            "L7STS",
            u32::from(code),
            "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9",
        );
    }
    CustomOutcome::Pass {
        info: "Success".into(),
    }
}

/// What a check `expect` looks for.
#[derive(Clone, Debug)]
pub enum CheckMatch {
    /// `string` / `binary`: these bytes anywhere in what was received.
    Bytes { text: String, bytes: Vec<u8> },
    /// `rstring` (on the bytes) / `rbinary` (on their hex form).
    Regex {
        re: crate::sample::Regex,
        binary: bool,
    },
    /// A protocol check's reading.
    Custom(CustomExpect),
}

impl CheckMatch {
    /// Whether `data` matches (a custom reading never matches here: the
    /// runner asks [`CustomExpect::eval`]).
    pub fn matches(&self, data: &[u8]) -> bool {
        match self {
            CheckMatch::Bytes { bytes, .. } => {
                bytes.is_empty() || data.windows(bytes.len()).any(|w| w == &bytes[..])
            }
            CheckMatch::Regex { re, binary: false } => re.is_match(data),
            CheckMatch::Regex { re, binary: true } => {
                let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
                re.is_match(hex.as_bytes())
            }
            CheckMatch::Custom(_) => false,
        }
    }

    /// The pattern as written.
    pub fn text(&self) -> &str {
        match self {
            CheckMatch::Bytes { text, .. } => text,
            CheckMatch::Regex { re, .. } => &re.source,
            CheckMatch::Custom(_) => "",
        }
    }
}

/// Health check progress of one server (the run-time half of HAProxy's
/// `struct check`): its result (`health`, `last_*`) is process-wide; the
/// check in flight (`sock`, `next`, `started`, `tx`, `rx`, `connected`)
/// belongs to the thread that runs it (one thread per check, as HAProxy).
#[derive(Debug)]
pub struct Check {
    /// HAProxy's `health`: `0..rise+fall-1`; at or above `rise` the server is up.
    pub health: u32,
    /// The check connection in progress, if any.
    pub sock: Option<crate::sock::SockId>,
    /// Next check, or the current check's deadline.
    pub next: Option<Time>,
    /// When the current check started.
    pub started: Option<Time>,
    /// Last result, for `show stat` (`L4OK`, `L4CON`, `L4TOUT`...).
    pub last_status: &'static str,
    pub last_duration_ms: u64,
    /// Request bytes still to send.
    pub tx: Vec<u8>,
    /// Response bytes read so far (the status line is all that matters).
    pub rx: crate::buf::Buffer,
    /// The check's connection is established (an L7 check is under way).
    pub connected: bool,
    /// The next step of a scripted check.
    pub step: usize,
    /// The server closed the check's connection.
    pub closed: bool,
    /// The last check's detail (HAProxy's `check->desc`: `last_chk` in
    /// `show stat`, `info` in logs).
    pub last_info: String,
    /// The last check's code (HAProxy's `check->code`: an HTTP status, a
    /// MySQL or LDAP error...), shown for L7OK, L7OKC and L7STS.
    pub last_code: u32,
    /// The check ends on a custom expect's success: HAProxy reports that
    /// result twice, the second time without info, so the info shows in
    /// the `log-health-checks` line only (not in `last_chk` nor in the
    /// UP line).
    pub clear_desc: bool,
    /// The TLS layer of the check connection in progress (checks over
    /// TLS): `tx` / `rx` above hold plaintext then.
    pub tls: Option<Box<crate::conn::tls::Tls>>,
    /// The server entered maintenance with its checks on (HAProxy's
    /// `CHK_ST_PAUSED`, in `show servers state`), until it leaves it.
    pub paused: bool,
    /// The script's connect step that opened the connection in progress
    /// (its index), `None` for a check without connect steps.
    pub connect_at: Option<usize>,
    /// The checks were turned off ("Health: disable checks" on the stats
    /// page; HAProxy's `CHK_ST_ENABLED` cleared): none runs, the server
    /// keeps its state.
    pub disabled: bool,
    /// The `check.` variables of the check in progress (HAProxy's
    /// `check->vars`): empty at each start, kept from rule to rule.
    pub vars: crate::vars::Vars,
}

/// A `server` line as configured: fixed when the configuration is loaded,
/// shared read-only by every engine (behind an `Arc`, cheap to hand to
/// each thread of issue 13).
#[derive(Clone, Debug)]
pub struct ServerCfg {
    pub name: String,
    /// `id`: the numeric id (`server_id` in stick tables).
    pub puid: u32,
    /// Its IPv4/IPv6 address; `0.0.0.0:0` for a server on a UNIX socket.
    pub addr: SocketAddr,
    /// A server on a UNIX stream socket (`unix@PATH`, `/PATH`,
    /// `abns@NAME`): where its connections go instead of `addr`.
    pub unix: Option<crate::sock::UnixAddr>,
    /// Configured weight (`iweight`).
    pub iweight: u32,
    /// `rise`, configured even without `check`: HAProxy's
    /// `srv->check.rise`, which `show servers state` reports as the
    /// health of a server without checks.
    pub rise: u32,
    /// `maxconn`; with `minconn` alone, `minconn` (HAProxy's
    /// `srv_minmax_conn_apply`).
    pub maxconn: Option<u32>,
    /// `minconn`, or `maxconn` when not set (a static limit).
    pub minconn: u32,
    pub maxqueue: Option<u32>,
    pub backup: bool,
    pub send_proxy: Option<u8>,
    /// `proxy-v2-options` (`cfgparse::pp_opts` bits).
    pub pp_opts: u16,
    /// `proto h2`: the server speaks HTTP/2 (prior knowledge).
    pub proto_h2: bool,
    /// `ws auto|h1|h2`: the protocol of websocket requests.
    pub ws: crate::cfgparse::WsMode,
    /// `idle-ping T`: its idle HTTP/2 connections are probed with a PING
    /// every T (HAProxy 3.x).
    pub idle_ping_ms: Option<u32>,
    /// `pool-max-conn`: idle connections kept at most (`None`: no limit).
    pub pool_max_conn: Option<u32>,
    /// `ssl`: the TLS context of its connections.
    pub tls: Option<std::sync::Arc<crate::conn::tls::SrvCtx>>,
    /// `check` and its settings.
    pub check: Option<CheckCfg>,
    /// `agent-check` and its settings.
    pub agent: Option<AgentCfg>,
    /// `cookie VALUE` (HAProxy's `srv->cookie`), kept only in HTTP mode.
    pub cookie: Option<String>,
    /// `slowstart`, in whole seconds (HAProxy's `srv->slowstart`); 0: off.
    pub slowstart_s: u32,
    /// `on-marked-down shutdown-sessions` (HAProxy's `onmarkeddown`).
    pub on_marked_down_shutdown: bool,
    /// `on-marked-up shutdown-backup-sessions` (HAProxy's `onmarkedup`).
    pub on_marked_up_shutdown_backup: bool,
    /// `observe` with `error-limit` and `on-error` (HAProxy's
    /// `observe`, `consecutive_errors_limit`, `onerror`).
    pub observe: crate::cfgparse::ObserveLayer,
    pub error_limit: u32,
    pub on_error: crate::cfgparse::OnError,
    /// Added at run time by `add server` (HAProxy's `SRV_F_DYNAMIC`).
    pub dynamic: bool,
    /// A reverse HTTP server (`rhttp@`, HAProxy's `SRV_F_RHTTP`): never
    /// connected to; its connections are client connections reversed by
    /// `tcp-request session attach-srv`, always reused (`http-reuse
    /// always`), and a request finding none gets a 503.
    pub rhttp: bool,
    /// `pool-conn-name EXPR`: evaluated on a request, the name its
    /// connection must carry (the `name` of `attach-srv`).
    pub pool_conn_name: Option<crate::sample::SampleExpr>,
    /// `sni EXPR` (other than a constant): evaluated on a stream's request
    /// when it connects, the SNI of the connection; a connection is
    /// reused only for the same value (HAProxy's connection hash).
    pub sni_expr: Option<crate::sample::SampleExpr>,
    /// `resolvers`: the name resolved at run time (`None`: the address
    /// is fixed).
    pub resolv: Option<crate::dns::SrvResolv>,
}

/// What one engine (one thread, with issue 13) keeps of a server for
/// itself: HAProxy's `srv->per_thr` (`struct srv_per_thread`).
#[derive(Debug, Default)]
pub struct SrvPerThr {
    /// Idle connections to this server, oldest first (`idle_conns`).
    pub idle: VecDeque<IdleConn>,
    /// HTTP/2 connections to this server that carry streams and have
    /// free stream slots (`avail_conns`), oldest first: a stream assigned
    /// to the server takes a slot on one before anything else. Never also
    /// in `idle`.
    pub avail: Vec<IdleConn>,
}

/// A server at run time (HAProxy's `struct server`), in three parts:
///
/// * [`cfg`](Self::cfg): the configuration, immutable after load;
/// * the fields of this struct: process-wide state — states, weight,
///   connection slots (`cur_sess` against `maxconn`), the queue, check
///   results, counters — which every thread reads and updates (issue 13
///   wraps them for sharing);
/// * [`per_thr`](Self::per_thr): what each engine keeps for itself (idle
///   connections; its timers are the engine's `TimerKey::IdlePurge` and
///   `TimerKey::Check`).
///
/// `docs/datapath.md` ("Configuration, shared state, per-thread state")
/// has the table.
#[derive(Debug)]
pub struct Server {
    pub cfg: std::sync::Arc<ServerCfg>,
    /// Current user weight (`set weight`).
    pub uweight: u32,
    pub state: SrvState,
    pub admin: SrvAdmin,
    pub check: Option<Check>,
    /// The agent check's progress (`health` over `0..=1`: the agent last
    /// said the server may be up), when configured (HAProxy's
    /// `srv->agent`).
    pub agent: Option<Check>,
    /// `maxconn` as the agent last set it (`maxconn:N`; HAProxy's
    /// `server_parse_maxconn_change_request` overwrites `srv->maxconn`,
    /// and `minconn` with it when the limit was static); `None`: the
    /// configured limits.
    pub maxconn_rt: Option<u32>,
    /// Live connections and attempts (`cur_sess`).
    pub cur_sess: u32,
    pub max_sess: u32,
    pub cum_sess: u64,
    /// Streams waiting for this server (`queue`).
    pub queue: VecDeque<Id<Stream>>,
    pub max_queue: u32,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Connection errors, response errors, retries, redispatches.
    pub econ: u64,
    pub eresp: u64,
    pub wretr: u64,
    pub wredis: u64,
    /// Responses denied by rules (`dresp`).
    pub denied_resp: u64,
    /// Checks failed, transitions to DOWN, last state change.
    pub chkfail: u64,
    pub chkdown: u64,
    /// `observe`: consecutive traffic errors (HAProxy's
    /// `consecutive_errors`), and the times they reached `error-limit`
    /// (`failed_hana`, `hanafail` in `show stat`).
    pub consecutive_errors: u32,
    pub hanafail: u64,
    pub last_change: Time,
    pub lbconn: u64,
    /// Connections reused from the idle pool.
    pub reuse: u64,
    /// HTTP responses by class, requests, aborts (`show stat`).
    pub http: HttpCtrs,
    /// `qtime ctime rtime ttime` and their maxima.
    pub times: crate::proxy::TimeStats,
    /// Connections (new or reused) per second.
    pub sess_rate: RateCtr,
    /// The warm-up after `slowstart`, while it lasts (HAProxy's
    /// `SRV_ST_STARTING` state with `last_change`, and the `warmup` task).
    pub warmup: Option<Warmup>,
    /// This engine's own part.
    pub per_thr: SrvPerThr,
    /// With `maxconn` and several threads: the slots this thread may use
    /// (docs/threads.md, `backend/slots.rs`).
    pub lease: Option<crate::backend::slots::Lease>,
    /// On thread 0, with a lease: the process's slots nobody holds, the
    /// threads waiting for one, the other threads' load.
    pub owner: Option<Box<crate::backend::slots::SlotOwner>>,
    /// Removed by `del server`: a tombstone that keeps its [`ServerId`]
    /// (its position) from being reused, so that no handle held anywhere
    /// can designate another server. A deleted server is in maintenance,
    /// holds nothing (no stream, queue, idle connection nor check) and is
    /// invisible to every lookup and dump.
    pub deleted: bool,
}

/// What a server's dynamic maxconn depends on in its backend (HAProxy's
/// `px->beconn` and `px->fullconn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeLoad {
    /// Streams on the backend now.
    pub beconn: u32,
    /// `fullconn` (at least 1).
    pub fullconn: u32,
}

/// A server warming up after it came back (HAProxy's `server_warmup`):
/// its weight and its maxconn grow with the whole seconds elapsed since
/// `since`, up to the full ones after `slowstart`.
///
/// ```text
///   DOWN or MAINT --UP--> warmup { since: now, elapsed_s: 0 }
///        ^                    | TimerKey::Warmup every second: elapsed_s += 1
///        |                    v
///        +---- DOWN ---- elapsed_s == slowstart: warmup = None (full weight)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warmup {
    /// When the server came back (HAProxy's `last_change`).
    pub since: Time,
    /// Whole seconds elapsed at the last step (`now - last_change` in
    /// HAProxy's seconds), below `slowstart_s`.
    pub elapsed_s: u32,
}

/// A server connection waiting in its server's idle pool (or, an H2
/// one, in its available list).
#[derive(Debug, Clone, Copy)]
pub struct IdleConn {
    pub conn: Id<crate::conn::Conn>,
    /// The session that alone may use it (`http-reuse never`: private).
    pub owner: Option<Id<crate::session::Session>>,
    /// When it became idle; the pool is in this order.
    pub since: Time,
    /// It served a request that was not its first (HAProxy's `safe_conns`
    /// list, against `idle_conns`): the server keeps its connections
    /// alive, so `http-reuse aggressive` gives it a session's first
    /// request.
    pub safe: bool,
}

impl Check {
    /// A check that has not run yet, at `health`.
    pub fn new(health: u32) -> Check {
        Check {
            health,
            sock: None,
            next: None,
            started: None,
            last_status: "INI",
            last_duration_ms: 0,
            tx: Vec::new(),
            rx: crate::buf::Buffer::null(),
            connected: false,
            step: 0,
            closed: false,
            last_info: String::new(),
            last_code: 0,
            clear_desc: false,
            tls: None,
            connect_at: None,
            paused: false,
            disabled: false,
            vars: crate::vars::Vars::default(),
        }
    }
}

impl Server {
    /// A server of configuration `cfg` that has seen nothing yet: up, in
    /// the ready state, at its configured weight, counters at zero.
    pub fn new(cfg: std::sync::Arc<ServerCfg>, now: Time, check: Option<Check>) -> Server {
        Server {
            uweight: cfg.iweight,
            agent: cfg.agent.as_ref().map(|_| Check::new(AgentCfg::RISE)),
            cfg,
            state: SrvState::Running,
            admin: SrvAdmin::Ready,
            maxconn_rt: None,
            check,
            cur_sess: 0,
            max_sess: 0,
            cum_sess: 0,
            queue: Default::default(),
            max_queue: 0,
            bytes_in: 0,
            bytes_out: 0,
            econ: 0,
            eresp: 0,
            wretr: 0,
            wredis: 0,
            denied_resp: 0,
            chkfail: 0,
            chkdown: 0,
            consecutive_errors: 0,
            hanafail: 0,
            last_change: now,
            lbconn: 0,
            reuse: 0,
            http: Default::default(),
            times: Default::default(),
            warmup: None,
            per_thr: Default::default(),
            lease: None,
            owner: None,
            sess_rate: Default::default(),
            deleted: false,
        }
    }

    /// Takes a connection slot for a new or reused connection (`cur_sess`
    /// against `maxconn`, HAProxy's `srv_inc_sess_ctr` and `sess_rate`).
    pub fn take_slot(&mut self, now: Time) {
        self.cur_sess += 1;
        self.max_sess = self.max_sess.max(self.cur_sess_all());
        self.cum_sess += 1;
        self.sess_rate.hit(now);
        self.lbconn += 1;
    }

    /// Live connections of the whole process: this thread's, and on
    /// thread 0 with slot leases what the other threads last reported.
    pub fn cur_sess_all(&self) -> u32 {
        match &self.owner {
            None => self.cur_sess,
            Some(o) => self.cur_sess + o.loads.iter().map(|l| l.0).sum::<u32>(),
        }
    }

    /// Streams waiting for this server in the whole process (as
    /// [`Self::cur_sess_all`]).
    pub fn queue_all(&self) -> u32 {
        let q = self.queue.len() as u32;
        match &self.owner {
            None => q,
            Some(o) => q + o.loads.iter().map(|l| l.1).sum::<u32>(),
        }
    }

    /// Usable for new traffic: up (or going down) and in the ready state.
    pub fn usable(&self) -> bool {
        !self.deleted
            && matches!(self.state, SrvState::Running | SrvState::Stopping)
            && self.admin == SrvAdmin::Ready
            && self.uweight > 0
    }

    /// Whether a new connection would exceed the dynamic `maxconn`.
    pub fn is_full(&self, load: BeLoad) -> bool {
        self.dyn_maxconn(load).is_some_and(|m| self.cur_sess >= m)
    }

    /// The share of its weight the server gets, in 1/`BE_WEIGHT_SCALE`
    /// (HAProxy's `w` of `server_recalc_eweight`): all of it, or during a
    /// warm-up `(16 * elapsed + slowstart) / slowstart`, at least 1.
    pub fn ramp(&self) -> u32 {
        use crate::backend::lb::BE_WEIGHT_SCALE;
        match self.warmup {
            Some(w) if self.cfg.slowstart_s > 0 => {
                let ss = u64::from(self.cfg.slowstart_s);
                let r = (u64::from(BE_WEIGHT_SCALE) * u64::from(w.elapsed_s) + ss) / ss;
                (r as u32).clamp(1, BE_WEIGHT_SCALE)
            }
            _ => BE_WEIGHT_SCALE,
        }
    }

    /// The connection limit now (HAProxy's `srv_dynamic_maxconn`):
    /// `maxconn`, or with `minconn` below it `max(minconn, maxconn *
    /// beconn / fullconn)` while the backend serves fewer than `fullconn`
    /// streams; during a warm-up scaled by the percentage of `slowstart`
    /// elapsed, at least 1.
    pub fn dyn_maxconn(&self, load: BeLoad) -> Option<u32> {
        let max = self.dyn_maxconn_process(load)?;
        // With threads, never more than this thread's lease of slots.
        Some(match &self.lease {
            None => max,
            Some(l) => max.min(l.slots),
        })
    }

    /// [`Self::dyn_maxconn`] for the whole process: without the lease.
    pub fn dyn_maxconn_process(&self, load: BeLoad) -> Option<u32> {
        let (maxconn, min) = self.maxconn_limits();
        let maxconn = maxconn?;
        let max = if min == maxconn || load.beconn >= load.fullconn {
            maxconn
        } else {
            let share =
                u64::from(load.beconn) * u64::from(maxconn) / u64::from(load.fullconn.max(1));
            min.max(share as u32)
        };
        Some(match self.warmup {
            Some(w) if self.cfg.slowstart_s > 0 => {
                let ratio = 100 * u64::from(w.elapsed_s) / u64::from(self.cfg.slowstart_s);
                ((u64::from(max) * ratio / 100) as u32).max(1)
            }
            _ => max,
        })
    }

    /// `maxconn` (`None`: none) and `minconn` now: the configured ones,
    /// or what the agent set (`maxconn:N`; `0` is no limit, as HAProxy's
    /// `srv->maxconn` of 0).
    pub fn maxconn_limits(&self) -> (Option<u32>, u32) {
        let (max, min) = (self.cfg.maxconn, self.cfg.minconn);
        match self.maxconn_rt {
            None => (max, min),
            Some(v) => {
                // A static limit (`maxconn == minconn`) moves as a whole.
                let min = if max.unwrap_or(0) == min { v } else { min };
                ((v > 0).then_some(v), min)
            }
        }
    }

    /// The agent check runs and last said the server may not be up
    /// (HAProxy's `agent.health < agent.rise` with `CHK_ST_ENABLED`).
    pub fn agent_down(&self) -> bool {
        self.agent
            .as_ref()
            .is_some_and(|a| !a.disabled && a.health < AgentCfg::RISE)
    }

    /// The effective weight `show stat` reports in uweight units (HAProxy's
    /// `(cur_eweight * wmult + wdiv - 1) / wdiv`): the weight, during a
    /// warm-up of a dynamic algorithm its ramped share rounded up.
    pub fn eweight(&self, dynamic: bool) -> u32 {
        use crate::backend::lb::BE_WEIGHT_SCALE;
        if dynamic {
            (self.uweight * self.ramp()).div_ceil(BE_WEIGHT_SCALE)
        } else {
            self.uweight
        }
    }

    /// `show stat`'s `throttle` during a warm-up (HAProxy's
    /// `server_throttle_rate`, shown for `SRV_ST_STARTING` servers not in
    /// drain); `None` otherwise.
    pub fn throttle(&self, dynamic: bool) -> Option<u32> {
        use crate::backend::lb::BE_WEIGHT_SCALE;
        self.warmup?;
        if self.admin == SrvAdmin::Drain
            || !matches!(self.state, SrvState::Running | SrvState::Stopping)
        {
            return None;
        }
        if !dynamic || self.uweight == 0 {
            return Some(100);
        }
        // `(100 * wmult * cur_eweight + wdiv - 1) / (wdiv * uweight)`, not
        // quite rounded up: 6% for 1/16 of a weight of 32, as HAProxy shows.
        let eweight = self.uweight * self.ramp();
        Some((100 * eweight + BE_WEIGHT_SCALE - 1) / (BE_WEIGHT_SCALE * self.uweight))
    }

    /// `show stat`'s `status` column.
    pub fn status_name(&self) -> &'static str {
        match (self.admin, self.state) {
            (SrvAdmin::Maint, _) => "MAINT",
            (SrvAdmin::Drain, _) => "DRAIN",
            (_, SrvState::Running) => "UP",
            (_, SrvState::Stopping) => "NOLB",
            (_, SrvState::Starting) | (_, SrvState::Stopped) => "DOWN",
        }
    }
}

impl core::ops::Index<ServerId> for Vec<Server> {
    type Output = Server;
    fn index(&self, id: ServerId) -> &Server {
        &self[id.pos()]
    }
}

impl core::ops::IndexMut<ServerId> for Vec<Server> {
    fn index_mut(&mut self, id: ServerId) -> &mut Server {
        &mut self[id.pos()]
    }
}

impl crate::proxy::Backend {
    /// Takes a stream out of the backend's queue and its servers' queues
    /// (`pendconn_unlink`).
    pub fn dequeue(&mut self, sid: Id<Stream>) {
        self.queue.retain(|&x| x != sid);
        for srv in &mut self.servers {
            srv.queue.retain(|&x| x != sid);
        }
    }

    /// Streams waiting for server `srv` wait for any server of the backend
    /// instead (the server went down or into maintenance or drain,
    /// HAProxy's `pendconn_redistribute`): they lose their server.
    pub fn requeue_server(&mut self, streams: &mut crate::arena::Arena<Stream>, srv: ServerId) {
        let Some(server) = self.servers.get_mut(srv.pos()) else {
            return;
        };
        for sid in server.queue.drain(..) {
            if let Some(s) = streams.get_mut(sid) {
                s.srv = None;
                s.flags
                    .remove(crate::stream::SfFlags::ASSIGNED | crate::stream::SfFlags::DIRECT);
            }
            self.queue.push_back(sid);
        }
    }

    /// Streams waiting for any server of the backend in the whole
    /// process: this thread's, and on thread 0 with slot leases what the
    /// other threads last reported.
    pub fn queue_all(&self) -> u64 {
        let remote = self
            .servers
            .iter()
            .find_map(|s| s.owner.as_ref())
            .map_or(0, |o| o.loads.iter().map(|l| u64::from(l.2)).sum());
        self.queue.len() as u64 + remote
    }

    /// What the dynamic maxconn of its servers depends on.
    pub fn load(&self) -> BeLoad {
        BeLoad {
            beconn: self.beconn,
            fullconn: self.cfg.fullconn.max(1),
        }
    }

    /// Tells the load balancer that weights or states changed.
    pub fn lb_recalc(&mut self) {
        let load = self.load();
        let view: Vec<crate::backend::lb::LbServer> = self
            .servers
            .iter()
            .map(|s| crate::backend::lb_view(s, load))
            .collect();
        self.lb.recalc(&view);
    }

    /// The handles of this backend's servers, `be` being its own.
    pub fn server_ids(&self, be: ProxyId) -> impl Iterator<Item = ServerId> {
        (0..self.servers.len()).map(move |i| ServerId::new(be, i))
    }
}

impl crate::engine::Engine {
    /// The backend capability of proxy `be`, if it has one.
    pub(crate) fn backend(&self, be: ProxyId) -> Option<&crate::proxy::Backend> {
        self.proxies.get(be.idx())?.be.as_ref()
    }

    /// The backend capability of proxy `be`, if it has one.
    pub(crate) fn backend_mut(&mut self, be: ProxyId) -> Option<&mut crate::proxy::Backend> {
        self.proxies.get_mut(be.idx())?.be.as_mut()
    }

    /// The backend named `name` (a proxy with the backend capability).
    pub(crate) fn backend_by_name(&self, name: &str) -> Option<ProxyId> {
        self.proxies
            .iter()
            .position(|p| p.name == name && p.be.is_some())
            .map(ProxyId::new)
    }

    /// Every server of every backend, in configuration order (then in
    /// the order `add server` added them), deleted ones left out.
    pub(crate) fn server_ids(&self) -> Vec<ServerId> {
        let mut ids = Vec::new();
        for (i, p) in self.proxies.iter().enumerate() {
            if let Some(b) = &p.be {
                ids.extend(
                    b.server_ids(ProxyId::new(i))
                        .filter(|&id| !b.servers[id].deleted),
                );
            }
        }
        ids
    }

    /// Server `id`, if its backend has it.
    pub(crate) fn server(&self, id: ServerId) -> Option<&Server> {
        self.backend(id.be)?.servers.get(id.pos())
    }

    /// Server `id`, if its backend has it.
    pub(crate) fn server_mut(&mut self, id: ServerId) -> Option<&mut Server> {
        self.backend_mut(id.be)?.servers.get_mut(id.pos())
    }

    /// Server `srv` came UP (by its checks or leaving maintenance): with
    /// `slowstart`, it starts warming up at its lowest weight (HAProxy's
    /// `SRV_ST_STARTING` and the `warmup` task scheduled). The caller
    /// recalculates the load balancer.
    pub(crate) fn warmup_start(&mut self, now: Time, srv: ServerId) {
        let Some(s) = self.server_mut(srv) else {
            return;
        };
        if s.cfg.slowstart_s == 0 {
            return;
        }
        s.warmup = Some(Warmup {
            since: now,
            elapsed_s: 0,
        });
        self.timers.arm(
            crate::engine::TimerKey::Warmup(srv),
            Some(now.add_ms(WARMUP_STEP_MS)),
        );
    }

    /// Server `srv` went DOWN or into maintenance: no warm-up any more.
    pub(crate) fn warmup_stop(&mut self, srv: ServerId) {
        if let Some(s) = self.server_mut(srv) {
            s.warmup = None;
        }
        self.timers.arm(crate::engine::TimerKey::Warmup(srv), None);
    }

    /// One step of a warm-up (HAProxy's `server_warmup` task): the weight
    /// and maxconn for the seconds elapsed, queued streams served up to the
    /// new maxconn, and the next step in a second, or the end.
    pub(crate) fn warmup_timer(&mut self, now: Time, srv: ServerId) {
        let Some(s) = self.server_mut(srv) else {
            return;
        };
        let Some(w) = s.warmup else {
            return;
        };
        let up = matches!(s.state, SrvState::Running | SrvState::Stopping);
        let elapsed_s = u32::try_from((now - w.since) / 1000).unwrap_or(u32::MAX);
        let next = if !up || s.admin.is_maint() || elapsed_s >= s.cfg.slowstart_s {
            s.warmup = None;
            None
        } else {
            s.warmup = Some(Warmup { elapsed_s, ..w });
            // The next whole second after `since`, strictly after now.
            Some(w.since.add_ms(1000 * (u64::from(elapsed_s) + 1)))
        };
        crate::bug_on!(next.is_some_and(|t| t <= now));
        self.timers.arm(crate::engine::TimerKey::Warmup(srv), next);
        self.lb_recalc(srv.be);
        self.process_srv_queue(srv);
    }
}

impl crate::engine::Engine {
    /// Closes the streams established on server `srv` (HAProxy's
    /// `srv_shutdown_streams` and `stream_shutdown`): the server side is
    /// closed, the client gets what was buffered for it and a FIN, and the
    /// log line says `why` (`D-` for a server gone DOWN, `U-` for a backup
    /// whose active server came UP, as HAProxy 2.6 logs them).
    pub(crate) fn srv_shutdown_streams(
        &mut self,
        now: Time,
        srv: ServerId,
        why: crate::stream::ErrCode,
    ) {
        use crate::stream::{stconn::ScState, FinSt};
        for sid in self.streams.ids() {
            let Some(s) = self.streams.get_mut(sid) else {
                continue;
            };
            if s.srv != Some(srv) || s.scb.state != ScState::Est {
                continue;
            }
            // The stage stays unset: HAProxy's `stream_shutdown` sets no
            // `SF_FINST_*`, so the log shows `D-` / `U-`.
            s.set_term(why, FinSt::None);
            self.back_abort(now, sid);
            self.process_stream(now, sid);
        }
    }

    /// `on-marked-up shutdown-backup-sessions` of server `srv` that just
    /// came UP: the streams of every backup server of its backend are
    /// closed (HAProxy's `srv_shutdown_backup_streams`), if `srv` is an
    /// active server that can take traffic.
    pub(crate) fn srv_up_shutdown_backups(&mut self, now: Time, srv: ServerId) {
        let Some(s) = self.server(srv) else {
            return;
        };
        if !s.cfg.on_marked_up_shutdown_backup || s.cfg.backup || s.uweight == 0 {
            return;
        }
        let backups: Vec<ServerId> = self
            .backend(srv.be)
            .map(|b| {
                b.server_ids(srv.be)
                    .filter(|&id| b.servers[id].cfg.backup)
                    .collect()
            })
            .unwrap_or_default();
        for b in backups {
            self.srv_shutdown_streams(now, b, crate::stream::ErrCode::Up);
        }
    }
}

/// How often a warm-up steps: HAProxy's `server_warmup` wakes every
/// `MAX(1000, slowstart / 20)` ms with `slowstart` in seconds, that is
/// every second, the resolution of its `last_change`.
const WARMUP_STEP_MS: u64 = 1000;
