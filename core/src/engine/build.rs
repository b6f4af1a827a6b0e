//! Building an engine from a parsed configuration (what HAProxy does after
//! `readcfgfile`: `check_config_validity`, then `init` of every subsystem).
//!
//! Host names are resolved by the driver, through the `resolve` callback:
//! the core never touches a resolver.

use core::fmt;
use core::net::SocketAddr;

use crate::backend::lb;
use crate::backend::server::{AgentCfg, Check, CheckCfg, CheckStep, Server, ServerCfg, SrvAdmin};
use crate::cfgparse::{self, Addr, Balance, Config, Host, IdSpec, StatsLevel, StickKind};
use crate::conn::tls::{BindCtx, SrvCtx, TlsEnv};
use crate::engine::{CliLevel, Engine, EngineOptions, ListenerKind};
use crate::proxy::{Backend, BackendCfg, Frontend, Proxy, ProxyId, StickRule};
use crate::sock::ListenAddr;
use crate::stick_table::{DataType, StickTable, StoreSpec, TableId, TableParams};
use crate::time::Time;
use std::sync::Arc;

/// Why a checked configuration still cannot start (an address that does
/// not resolve, a peers section without a local address...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parsing [{}:{}] : {}",
            self.file, self.line, self.message
        )
    }
}

/// Resolves a host name and port to a socket address (the driver's job).
pub type Resolver<'a> = &'a dyn Fn(&str, u16) -> Option<SocketAddr>;

/// Builds the TLS context of a `tcp-check connect ssl` rule.
type ConnectTls<'a> =
    &'a dyn Fn(&crate::cfgparse::CheckConnect) -> Result<Option<Arc<SrvCtx>>, String>;

/// The steps of a scripted check: a protocol check's (`option
/// redis-check`, `mysql-check`...: what follows the implicit connect),
/// or the `tcp-check` rules under `option tcp-check`, each connect a step
/// (the implicit one first when the rules do not start with one). `None`:
/// a connect-only check without `option tcp-check`. `connect_tls` builds
/// the TLS context of a connect rule with `ssl`.
fn check_script(
    p: &crate::cfgparse::Proxy,
    resolve: Resolver<'_>,
    connect_tls: ConnectTls<'_>,
) -> Result<Option<std::sync::Arc<[CheckStep]>>, String> {
    use crate::backend::server::{CheckExpect, CheckMatch, ConnectStep};
    use crate::cfgparse::{TcpCheckMatch, TcpCheckRule};
    if let Some(pc) = &p.options.proto_check {
        return Ok(Some(proto_check_script(pc).into()));
    }
    if !p.options.tcp_check {
        return Ok(None);
    }
    let mut steps = Vec::new();
    // Step numbers count the connect, implicit or written.
    let implicit = !matches!(
        p.tcp_checks.first().map(|l| &l.rule),
        Some(TcpCheckRule::Connect(_))
    );
    if implicit {
        steps.push(CheckStep::Connect(Box::new(ConnectStep {
            ip: None,
            port: None,
            rule_port: None,
            default: true,
            tls: None,
            linger: false,
            step: 0,
            comment: None,
        })));
    }
    for (i, l) in p.tcp_checks.iter().enumerate() {
        let step = i + 1 + usize::from(implicit);
        match &l.rule {
            TcpCheckRule::Connect(c) => {
                let at = format!("'tcp-check connect' at {}:{}", l.place.file, l.place.line);
                steps.push(CheckStep::Connect(Box::new(
                    connect_step(c, step, l.comment.clone(), resolve, connect_tls)
                        .map_err(|e| format!("{at} : {e}"))?,
                )));
            }
            TcpCheckRule::Send(b) => steps.push(CheckStep::Send {
                bytes: b.clone(),
                unix_time_at: None,
            }),
            TcpCheckRule::Expect {
                negate,
                pattern,
                min_recv,
            } => {
                let matcher = match pattern {
                    TcpCheckMatch::Bytes { text, bytes } => CheckMatch::Bytes {
                        text: text.clone(),
                        bytes: bytes.clone(),
                    },
                    TcpCheckMatch::Regex { text, binary } => CheckMatch::Regex {
                        re: crate::sample::Regex::new(text, false).map_err(|e| e.to_string())?,
                        binary: *binary,
                    },
                };
                let mut e = CheckExpect::new(matcher, step);
                e.negate = *negate;
                e.min_recv = min_recv.map(|m| m as usize);
                e.comment = l.comment.clone();
                steps.push(CheckStep::Expect(Box::new(e)));
            }
        }
    }
    Ok(Some(steps.into()))
}

/// A `tcp-check connect` rule as a step: its address resolved, its TLS
/// context built.
fn connect_step(
    c: &crate::cfgparse::CheckConnect,
    step: usize,
    comment: Option<String>,
    resolve: Resolver<'_>,
    connect_tls: ConnectTls<'_>,
) -> Result<crate::backend::server::ConnectStep, String> {
    let addr = match &c.addr {
        Some(Addr::Inet { host, port }) => Some(resolve_addr(
            &Addr::Inet {
                host: host.clone(),
                port: Some(port.unwrap_or(0)),
            },
            resolve,
        )?),
        Some(other) => return Err(format!("'addr' : unsupported address family for '{other}'")),
        None => None,
    };
    let addr_port = addr.map(|a| a.port()).filter(|&p| p != 0);
    let tls = if c.ssl { connect_tls(c)? } else { None };
    Ok(crate::backend::server::ConnectStep {
        ip: addr.map(|a| a.ip()),
        port: c.port.or(addr_port),
        rule_port: c.port,
        default: c.default,
        tls,
        linger: c.linger,
        step,
        comment,
    })
}

/// The request line, headers and body of an HTTP check: `option
/// httpchk`'s method, URI and version (headers and a body hidden after a
/// CRLF in the version, as HAProxy 2.6 still reads them), overridden by
/// `http-check send` (its headers replace the hidden ones). A section
/// with `http-check` rules of its own but no `option httpchk` line does
/// not use the inherited option's request (HAProxy's per-proxy ruleset).
type SendLine<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Vec<(String, String)>,
    Option<&'a str>,
);

fn http_check_send_line<'a>(
    p: &'a crate::cfgparse::Proxy,
    h: &'a crate::cfgparse::HttpChk,
) -> SendLine<'a> {
    let (mut meth, mut uri, mut ver) = ("OPTIONS", "/", "HTTP/1.0");
    let mut hdrs = Vec::new();
    let mut body = None;
    if !p.http_check_fresh {
        meth = &h.method;
        uri = &h.uri;
        ver = &h.version;
        if let Some((v, rest)) = h.version.split_once("\r\n") {
            ver = v;
            let (head, b) = match rest.split_once("\r\n\r\n") {
                Some((head, b)) => (head, Some(b)),
                None => (rest, None),
            };
            for l in head.split("\r\n").filter(|l| !l.is_empty()) {
                let (n, v) = l.split_once(':').unwrap_or((l, ""));
                hdrs.push((n.trim().to_string(), v.trim().to_string()));
            }
            body = b;
        }
    }
    if let Some(s) = &p.http_check_send {
        meth = s.method.as_deref().unwrap_or(meth);
        uri = s.uri.as_deref().unwrap_or(uri);
        ver = s.version.as_deref().unwrap_or(ver);
        if !s.headers.is_empty() {
            hdrs = s.headers.clone();
        }
        body = s.body.as_deref().or(body);
    }
    (meth, uri, ver, hdrs, body)
}

/// The bytes of an HTTP check's request, as HAProxy 2.6's H1 mux writes
/// them: header names lower-cased, `content-length` with a body (or for
/// a method other than OPTIONS, GET, HEAD, DELETE), `connection: close`
/// in HTTP/1.1 unless a `connection` header is given (the version's
/// default value is not written). Empty when nothing is sent: own
/// `http-check` rules without a send and without `option httpchk`.
fn http_check_request(p: &crate::cfgparse::Proxy, h: &crate::cfgparse::HttpChk) -> Vec<u8> {
    if p.http_check_fresh && p.http_check_send.is_none() {
        return Vec::new();
    }
    let (meth, uri, ver, hdrs, body) = http_check_send_line(p, h);
    let v11 = ver.eq_ignore_ascii_case("HTTP/1.1");
    let mut r = format!("{meth} {uri} {ver}\r\n");
    let mut conn = false;
    for (n, v) in &hdrs {
        let n = n.to_ascii_lowercase();
        if n == "connection" {
            conn = true;
            let default = if v11 { "keep-alive" } else { "close" };
            if v.eq_ignore_ascii_case(default) {
                continue;
            }
        }
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    let bodyless = ["OPTIONS", "GET", "HEAD", "DELETE"].contains(&meth);
    if !body.is_empty() || !bodyless {
        r.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    if v11 && !conn {
        r.push_str("connection: close\r\n");
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

/// The `http-check expect` rules of an HTTP check (`status 200-399` when
/// there is none, as HAProxy adds). Step numbers count the implicit
/// connect and the send.
fn http_check_expects(
    p: &crate::cfgparse::Proxy,
) -> Result<Vec<crate::backend::server::HttpExpect>, StartError> {
    use crate::backend::server::{HttpExpect, HttpMatch};
    let mut v: Vec<HttpExpect> = Vec::new();
    for (i, e) in p.http_check_expects.iter().enumerate() {
        v.push(http_expect(p, e, i + 3)?);
    }
    // Action rules alone do not make a ruleset: HAProxy adds its
    // implicit `expect status 200-399` when no expect rule is there.
    let expects = v
        .iter()
        .any(|e| !matches!(e.matcher, HttpMatch::SetVar { .. } | HttpMatch::UnsetVar(_)));
    if !expects {
        v.push(implicit_http_expect(3));
    }
    Ok(v)
}

/// HAProxy's implicit `http-check expect status 200-399`.
fn implicit_http_expect(step: usize) -> crate::backend::server::HttpExpect {
    crate::backend::server::HttpExpect {
        negate: false,
        matcher: crate::backend::server::HttpMatch::Status(vec![(200, 399)]),
        min_recv: None,
        step,
        comment: None,
        ok_status: "L7OK",
        err_status: None,
        tout_status: "L7TOUT",
    }
}

/// The parse context of a check rule's expressions.
fn check_parse_ctx<'a>(
    p: &'a crate::cfgparse::Proxy,
    place: &'a crate::cfgparse::Place,
) -> crate::sample::ParseCtx<'a> {
    crate::sample::ParseCtx {
        proxy: &p.name,
        tables: None,
        backends: None,
        userlists: None,
        patterns: None,
        at: Some((&place.file, place.line)),
    }
}

/// One `http-check expect` (or `set-var` / `unset-var`) rule, ready to
/// run; `step` is its position among the check's rules.
fn http_expect(
    p: &crate::cfgparse::Proxy,
    e: &crate::cfgparse::HttpCheckExpect,
    step: usize,
) -> Result<crate::backend::server::HttpExpect, StartError> {
    use crate::backend::server::{HdrPat, HttpExpect, HttpMatch};
    use crate::cfgparse::{HdrMatch, HttpCheckMatch};
    // Checked when the lines were parsed.
    let re = |t: &str| crate::sample::Regex::new(t, false).expect("checked regex");
    {
        let err = |m: String| StartError {
            file: e.place.file.clone(),
            line: e.place.line,
            message: format!("'http-check' : {m}"),
        };
        let ctx = check_parse_ctx(p, &e.place);
        // A name regex ignores case, a value regex does not (HAProxy's
        // `regex_comp` with `cs` 0 and 1).
        let pat = |h: &crate::cfgparse::HdrPattern, icase: bool| -> Result<HdrPat, StartError> {
            let base = match h.method {
                HdrMatch::Str => HdrPat::Str(h.text.clone()),
                HdrMatch::Beg => HdrPat::Beg(h.text.clone()),
                HdrMatch::End => HdrPat::End(h.text.clone()),
                HdrMatch::Sub => HdrPat::Sub(h.text.clone()),
                HdrMatch::Reg => {
                    HdrPat::Reg(crate::sample::Regex::new(&h.text, icase).expect("checked regex"))
                }
            };
            if !h.lf {
                return Ok(base);
            }
            let fmt = crate::log::format::LogFmt::parse(&h.text, &ctx, false)
                .map_err(|m| err(format!("failed to parse log-format '{}' : {m}", h.text)))?;
            check_fmt_fetches(&fmt).map_err(&err)?;
            Ok(HdrPat::Lf(Box::new(base.with_text(String::new())), fmt))
        };
        let matcher = match &e.pattern {
            HttpCheckMatch::Status(r) => HttpMatch::Status(r.clone()),
            HttpCheckMatch::RStatus(t) => HttpMatch::RStatus(re(t)),
            HttpCheckMatch::String(t) => HttpMatch::Body(t.clone()),
            HttpCheckMatch::RString(t) => HttpMatch::RBody(re(t)),
            HttpCheckMatch::Hdr { name, value, full } => HttpMatch::Hdr {
                name: pat(name, true)?,
                value: value.as_ref().map(|v| pat(v, false)).transpose()?,
                full: *full,
            },
            HttpCheckMatch::SetVar { var, expr } => {
                let x = crate::sample::SampleExpr::parse(expr, &ctx).map_err(|m| {
                    err(format!("failed to parse sample expression '{expr}' : {m}"))
                })?;
                check_fetch(&x).map_err(&err)?;
                HttpMatch::SetVar {
                    var: crate::sample::VarName::parse(var).map_err(&err)?,
                    expr: x,
                }
            }
            HttpCheckMatch::UnsetVar { var } => {
                HttpMatch::UnsetVar(crate::sample::VarName::parse(var).map_err(&err)?)
            }
        };
        Ok(HttpExpect {
            negate: e.negate,
            matcher,
            min_recv: e.min_recv.map(|m| m as usize),
            step,
            comment: e.comment.clone(),
            ok_status: e.ok_status.unwrap_or("L7OK"),
            err_status: e.err_status,
            tout_status: e.tout_status.unwrap_or("L7TOUT"),
        })
    }
}

/// Whether an HTTP check runs its rules as a script: with connect
/// rules, log-format values in a send, `send-state`, or over HTTP/2
/// (`h2_default`: the server's checks speak HTTP/2 on a default
/// connect). Others keep the one-exchange form.
fn http_check_scripted(p: &crate::cfgparse::Proxy, h2_default: bool) -> bool {
    use crate::cfgparse::HttpCheckRule;
    h2_default
        || p.http_check_send_state
        || p.http_check_rules.iter().any(|r| match r {
            HttpCheckRule::Connect { .. } => true,
            HttpCheckRule::Send(s) => s.has_lf(),
            HttpCheckRule::Expect(_) => false,
        })
}

/// The rules of an HTTP check as script steps (HAProxy's
/// `check_tcpcheck_ruleset` on an HTTP ruleset): `option httpchk`'s
/// request merged into the first `http-check send` (or sent after the
/// first connect when there is none), an implicit `expect status
/// 200-399` after a last send, an implicit connect first when the rules
/// do not start with one.
fn http_check_script(
    p: &crate::cfgparse::Proxy,
    h: &crate::cfgparse::HttpChk,
    h2_default: bool,
    resolve: Resolver<'_>,
    connect_tls: ConnectTls<'_>,
) -> Result<std::sync::Arc<[CheckStep]>, StartError> {
    use crate::backend::server::{ChkText, ConnectStep, HttpExpectStep, HttpMatch, HttpSendStep};
    use crate::cfgparse::{HttpCheckRule, HttpCheckSend};
    let is_action = |r: &HttpCheckRule| matches!(r, HttpCheckRule::Expect(e) if matches!(e.pattern, crate::cfgparse::HttpCheckMatch::SetVar { .. } | crate::cfgparse::HttpCheckMatch::UnsetVar { .. }));
    let mut rules: Vec<HttpCheckRule> = p.http_check_rules.clone();
    // The first send, merged with the option's request.
    let (meth, uri, ver, hdrs, body) = http_check_send_line(p, h);
    let first = p.http_check_send.clone().unwrap_or_default();
    let merged = HttpCheckSend {
        place: first.place.clone(),
        method: Some(meth.to_string()),
        uri: Some(uri.to_string()),
        uri_lf: first.uri_lf && first.uri.is_some(),
        version: Some(ver.to_string()),
        headers: hdrs,
        body: body.map(str::to_string),
        body_lf: first.body_lf && first.body.is_some(),
    };
    match rules
        .iter()
        .position(|r| matches!(r, HttpCheckRule::Send(_)))
    {
        Some(i) => rules[i] = HttpCheckRule::Send(merged),
        None if !p.http_check_fresh => {
            let at = match rules.iter().find(|r| !is_action(r)) {
                Some(HttpCheckRule::Connect { .. }) => {
                    rules
                        .iter()
                        .position(|r| matches!(r, HttpCheckRule::Connect { .. }))
                        .unwrap_or(0)
                        + 1
                }
                _ => 0,
            };
            rules.insert(at, HttpCheckRule::Send(merged));
        }
        None => {}
    }
    let mut steps: Vec<CheckStep> = Vec::new();
    if !matches!(
        rules.iter().find(|r| !is_action(r)),
        Some(HttpCheckRule::Connect { .. })
    ) {
        steps.push(CheckStep::Connect(Box::new(ConnectStep {
            ip: None,
            port: None,
            rule_port: None,
            default: true,
            tls: None,
            linger: false,
            step: 0,
            comment: None,
        })));
    }
    let mut h2 = h2_default;
    let mut head = false;
    let mut sent = false;
    let lf =
        |place: &crate::cfgparse::Place, text: &str, is_lf: bool| -> Result<ChkText, StartError> {
            if !is_lf {
                return Ok(ChkText::Lit(text.to_string()));
            }
            let err = |m: String| StartError {
                file: place.file.clone(),
                line: place.line,
                message: format!("'http-check send' : {m}"),
            };
            let ctx = check_parse_ctx(p, place);
            let fmt = crate::log::format::LogFmt::parse(text, &ctx, false)
                .map_err(|m| err(format!("'{text}' invalid log-format string ({m}).")))?;
            check_fmt_fetches(&fmt).map_err(&err)?;
            Ok(ChkText::Lf(fmt))
        };
    for (i, r) in rules.iter().enumerate() {
        let step = steps.len() + 1;
        match r {
            HttpCheckRule::Connect { place, connect } => {
                let at = format!("'http-check connect' at {}:{}", place.file, place.line);
                let c = connect_step(connect, step, None, resolve, connect_tls).map_err(|e| {
                    StartError {
                        file: place.file.clone(),
                        line: place.line,
                        message: format!("{at} : {e}"),
                    }
                })?;
                h2 = connect.proto_h2 || (connect.default && h2_default);
                sent = false;
                steps.push(CheckStep::Connect(Box::new(c)));
            }
            HttpCheckRule::Send(s) => {
                let meth = s.method.clone().unwrap_or_else(|| "OPTIONS".into());
                head = meth.eq_ignore_ascii_case("HEAD");
                let mut headers = Vec::new();
                for (n, v) in &s.headers {
                    headers.push((n.to_ascii_lowercase(), lf(&s.place, v, true)?));
                }
                steps.push(CheckStep::HttpSend(Box::new(HttpSendStep {
                    meth,
                    uri: lf(&s.place, s.uri.as_deref().unwrap_or(""), s.uri_lf)?,
                    ver: s.version.clone().unwrap_or_else(|| "HTTP/1.0".into()),
                    headers,
                    body: s
                        .body
                        .as_deref()
                        .map(|b| lf(&s.place, b, s.body_lf))
                        .transpose()?,
                    send_state: p.http_check_send_state,
                    h2,
                })));
                sent = true;
                // A last send gets the implicit expect.
                if rules[i + 1..].iter().all(is_action) {
                    let mut group = Vec::new();
                    for r in &rules[i + 1..] {
                        if let HttpCheckRule::Expect(e) = r {
                            group.push(http_expect(p, e, step + 1)?);
                        }
                    }
                    group.push(implicit_http_expect(step + 1));
                    steps.push(CheckStep::HttpExpect(Box::new(HttpExpectStep {
                        rules: group,
                        head,
                        h2,
                        pre: false,
                    })));
                    break;
                }
            }
            HttpCheckRule::Expect(e) => {
                let x = http_expect(p, e, step)?;
                // Consecutive rules read the same response: one step.
                if let Some(CheckStep::HttpExpect(g)) = steps.last_mut() {
                    let g_pre = g.pre;
                    if g_pre != sent {
                        g.rules.push(x);
                        continue;
                    }
                }
                let pre = !sent;
                if pre && !matches!(x.matcher, HttpMatch::SetVar { .. } | HttpMatch::UnsetVar(_)) {
                    // Refused when the lines were parsed.
                    continue;
                }
                steps.push(CheckStep::HttpExpect(Box::new(HttpExpectStep {
                    rules: vec![x],
                    head,
                    h2,
                    pre,
                })));
            }
        }
    }
    Ok(steps.into())
}

/// What an HTTP check's expressions may read (HAProxy's checks have no
/// session nor stream): constants, `check.` variables, the response's
/// headers, the backend's and server's names.
fn check_fetch(e: &crate::sample::SampleExpr) -> Result<(), String> {
    use crate::sample::{Dir, FetchKind, VarScope};
    match &e.fetch.kind {
        FetchKind::Const(_) | FetchKind::BeName | FetchKind::SrvName => Ok(()),
        FetchKind::Var if e.fetch.var().is_some_and(|v| v.scope == VarScope::Check) => Ok(()),
        FetchKind::Hdr {
            dir: Dir::Res | Dir::Any,
            ..
        } => Ok(()),
        _ => Err(format!(
            "fetch method '{}' is not supported by Sluice in a health check (supported: constants, var(check.*), res.hdr, res.fhdr, be_name, srv_name).",
            e.fetch.kw
        )),
    }
}

/// [`check_fetch`] on each `%[expr]` of a check's log-format string;
/// other `%` variables are refused.
fn check_fmt_fetches(fmt: &crate::log::format::LogFmt) -> Result<(), String> {
    use crate::log::format::LfNode;
    for n in &fmt.nodes {
        match n {
            LfNode::Text(_) | LfNode::Sep => {}
            LfNode::Expr(e, _) => check_fetch(e)?,
            LfNode::Var(..) => {
                return Err(
                    "only '%[expr]' is supported by Sluice in a health check's log-format string."
                        .into(),
                )
            }
        }
    }
    Ok(())
}

/// HAProxy 2.6's canned ruleset of a protocol check (`tcpcheck.c`'s
/// `do_parse_*_opt`), as check steps. Step numbers count the connect.
fn proto_check_script(pc: &crate::cfgparse::ProtoCheck) -> Vec<CheckStep> {
    use crate::backend::server::{CheckExpect, CheckMatch, CheckMsg, CustomExpect};
    use crate::cfgparse::ProtoCheck;
    let send = |bytes: Vec<u8>| CheckStep::Send {
        bytes,
        unix_time_at: None,
    };
    let re = |text: &str, binary: bool| CheckMatch::Regex {
        re: crate::sample::Regex::new(text, false).expect("fixed pattern"),
        binary,
    };
    let expect = |m: CheckMatch, step: usize, f: &dyn Fn(&mut CheckExpect)| {
        let mut e = CheckExpect::new(m, step);
        e.proto = true;
        f(&mut e);
        CheckStep::Expect(Box::new(e))
    };
    let payload = |from: usize, ltrim_space: bool, cut_crlf: bool| CheckMsg::Payload {
        from,
        ltrim_space,
        cut_crlf,
    };
    match pc {
        ProtoCheck::Redis => vec![
            send(b"*1\r\n$4\r\nPING\r\n".to_vec()),
            expect(
                CheckMatch::Bytes {
                    text: "+PONG\r\n".into(),
                    bytes: b"+PONG\r\n".to_vec(),
                },
                2,
                &|e| {
                    e.err_status = "L7STS";
                    e.on_error = Some(payload(0, false, true));
                    e.on_success = Some(CheckMsg::Text("Redis server is ok".into()));
                },
            ),
        ],
        ProtoCheck::SslHello => vec![
            CheckStep::Send {
                bytes: sslv3_client_hello(),
                unix_time_at: Some(11),
            },
            expect(re("^1[56]", true), 2, &|e| {
                e.min_recv = Some(5);
                e.ok_status = "L6OK";
                e.err_status = "L6RSP";
                e.tout_status = "L6TOUT";
            }),
        ],
        ProtoCheck::Smtp { cmd } => {
            let code = |e: &mut CheckExpect| {
                e.min_recv = Some(4);
                e.err_status = "L7STS";
                e.on_error = Some(payload(4, true, true));
                e.status_code = Some((0, 3));
            };
            vec![
                expect(re("^[0-9]{3}[ \r]", false), 2, &|e| {
                    e.min_recv = Some(4);
                    e.on_error = Some(payload(0, false, true));
                }),
                expect(re("^2[0-9]{2}[ \r]", false), 3, &code),
                send(format!("{cmd}\r\n").into_bytes()),
                expect(
                    re("^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]", false),
                    5,
                    &|e| {
                        code(e);
                        e.min_recv = None;
                        e.on_success = Some(payload(4, true, true));
                    },
                ),
                send(b"QUIT\r\n".to_vec()),
                expect(re("^2[0-9]{2}[- \r]", false), 7, &|e| {
                    code(e);
                    e.on_success = Some(payload(4, true, true));
                }),
            ]
        }
        ProtoCheck::Pgsql { user } => {
            // A startup message: length, protocol 3.0, "user", the name.
            let mut m = (15 + user.len() as u32).to_be_bytes().to_vec();
            m.extend_from_slice(b"\x00\x03\x00\x00user\x00");
            m.extend_from_slice(user.as_bytes());
            m.extend_from_slice(b"\x00\x00");
            vec![
                send(m),
                expect(re("^E", false), 3, &|e| {
                    e.negate = true;
                    e.min_recv = Some(5);
                    e.on_error = Some(payload(6, false, false));
                }),
                // An authentication request (`R`) that asks for no
                // password or a supported method.
                expect(
                    re(
                        "^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)",
                        true,
                    ),
                    4,
                    &|e| {
                        e.min_recv = Some(9);
                        e.err_status = "L7STS";
                        e.on_success = Some(CheckMsg::Text("PostgreSQL server is ok".into()));
                        e.on_error = Some(CheckMsg::Text("PostgreSQL unknown error".into()));
                    },
                ),
            ]
        }
        ProtoCheck::Mysql { user, post41 } => {
            let mut steps = Vec::new();
            let mut step = 2;
            if let Some(u) = user {
                steps.push(send(mysql_login(u, *post41)));
                step += 1;
            }
            let custom = |c| CheckMatch::Custom(c);
            steps.push(expect(custom(CustomExpect::MysqlInitHs), step, &|_| {}));
            if user.is_some() {
                steps.push(expect(custom(CustomExpect::MysqlOk), step + 1, &|_| {}));
            }
            steps
        }
        ProtoCheck::Ldap => vec![
            // An anonymous LDAPv3 simple bind, message id 1.
            send(b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00".to_vec()),
            expect(re("^30", true), 2, &|e| {
                e.min_recv = Some(14);
                e.on_error = Some(CheckMsg::Text("Not LDAPv3 protocol".into()));
            }),
            expect(CheckMatch::Custom(CustomExpect::LdapBindRsp), 3, &|_| {}),
        ],
    }
}

/// The SSLv3 client hello of `option ssl-hello-chk` (RFC 2246 A.3/A.4):
/// 39 common cipher suites, no compression; the Unix time at offset 11
/// is written when sent.
fn sslv3_client_hello() -> Vec<u8> {
    let mut h = vec![
        0x16, 0x03, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00, 0x75, 0x03, 0x00,
    ];
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
    h.extend_from_slice(&[0x00, 0x00, 0x4e]);
    for c in (0x01u16..=0x1b).chain(0x2f..=0x3a) {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h.extend_from_slice(&[0x01, 0x00]);
    debug_assert_eq!(h.len(), 5 + 0x79);
    h
}

/// `option mysql-check user U`: a login packet without password (4.1 or
/// pre-4.1 format), then `COM_QUIT`.
fn mysql_login(user: &str, post41: bool) -> Vec<u8> {
    let len = user.len() + 7 + if post41 { 27 } else { 0 };
    let mut m = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, 1];
    if post41 {
        // Capabilities, max packet, UTF-8, 23 zero bytes.
        m.extend_from_slice(&[0x00, 0x82, 0x00, 0x00, 0x00, 0x80, 0x00, 0x01, 0x21]);
        m.extend_from_slice(&[0; 23]);
    } else {
        m.extend_from_slice(&[0x00, 0x80, 0x00, 0x00, 0x01]);
    }
    m.extend_from_slice(user.as_bytes());
    m.extend_from_slice(&[0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01]);
    m
}

/// Where the checks of server `s` connect: `addr` (else the server's
/// address), on `port`, else the server's port (a `tcp-check connect`
/// step may name others).
fn check_address(
    s: &crate::cfgparse::Server,
    server: SocketAddr,
    resolve: Resolver<'_>,
) -> Result<SocketAddr, String> {
    let mut a = server;
    if let Some(addr) = &s.opts.check_addr {
        let with_port = match addr {
            Addr::Inet { host, port: None } => Addr::Inet {
                host: host.clone(),
                port: Some(server.port()),
            },
            other => other.clone(),
        };
        a = resolve_addr(&with_port, resolve)
            .map_err(|m| format!("'server {}' : 'addr' : {m}", s.name))?;
    }
    if let Some(port) = s.opts.check_port {
        a.set_port(port);
    }
    Ok(a)
}

/// A sample expression written in proxy `p` of `cfg` (its tables,
/// backends and userlists resolved): `balance hash`, `pool-conn-name`.
fn parse_proxy_expr(
    cfg: &Config,
    p: &cfgparse::Proxy,
    text: &str,
) -> Result<crate::sample::SampleExpr, String> {
    let tables = crate::rules::table_index(cfg);
    let backends = |n: &str| cfg.backend(n).is_some();
    let userlists = |n: &str| cfg.userlist_groups(n);
    let ctx = crate::sample::ParseCtx {
        proxy: &p.name,
        tables: Some(&tables),
        backends: Some(&backends),
        userlists: Some(&userlists),
        patterns: None,
        at: None,
    };
    crate::sample::SampleExpr::parse(text, &ctx)
}

/// Where the agent checks of server `s` connect: `agent-addr`, else
/// `addr`, else the server's address; on `agent-port`, else `port`
/// (HAProxy's `SRV_F_AGENTADDR` / `SRV_F_AGENTPORT` logic).
fn agent_address(
    s: &crate::cfgparse::Server,
    server: SocketAddr,
    resolve: Resolver<'_>,
) -> Result<SocketAddr, String> {
    let mut a = server;
    if let Some(addr) = s.opts.agent_addr.as_ref().or(s.opts.check_addr.as_ref()) {
        let with_port = match addr {
            Addr::Inet { host, .. } => Addr::Inet {
                host: host.clone(),
                port: Some(server.port()),
            },
            other => other.clone(),
        };
        a = resolve_addr(&with_port, resolve)
            .map_err(|m| format!("'server {}' : 'agent-addr' : {m}", s.name))?;
    }
    if let Some(port) = s.opts.agent_port.or(s.opts.check_port) {
        a.set_port(port);
    }
    Ok(a)
}

fn resolve_addr(addr: &Addr, resolve: Resolver<'_>) -> Result<SocketAddr, String> {
    match addr {
        Addr::Inet {
            host,
            port: Some(port),
        } => match host {
            Host::Ip(ip) => Ok(SocketAddr::new(*ip, *port)),
            Host::Name(n) => {
                resolve(n, *port).ok_or_else(|| format!("could not resolve address '{n}'"))
            }
        },
        Addr::Inet { port: None, .. } => Err(format!("missing port in '{addr}'")),
        other => Err(format!("unsupported address family for '{other}'")),
    }
}

/// What server `s` asks its `resolvers` section for: its name, when its
/// address is one (a server with an IP and `resolvers` resolves nothing).
fn srv_resolv(cfg: &Config, s: &cfgparse::Server) -> Option<crate::dns::SrvResolv> {
    let rname = s.opts.resolvers.as_ref()?;
    let Addr::Inet {
        host: Host::Name(name),
        ..
    } = &s.addr
    else {
        return None;
    };
    Some(crate::dns::SrvResolv {
        resolvers: cfg.resolvers.iter().position(|r| &r.name == rname)?,
        hostname: name.trim_end_matches('.').to_ascii_lowercase(),
        fqdn: name.clone(),
        prefer_ipv4: s.opts.resolve_prefer_ipv4,
        allow_dup_ip: s.opts.resolve_allow_dup_ip,
        nets: s.opts.resolve_net.clone(),
    })
}

/// Where a server starts (HAProxy's `srv_iterate_initaddr`): its IP, or
/// its name through the `init-addr` methods (default `last,libc`, plus
/// `none` with `resolvers`). `last` needs a server-state file, which
/// Sluice does not read: it is skipped. The flag says the server starts
/// without an address (`none`: in maintenance until resolved).
fn server_init_addr(
    s: &cfgparse::Server,
    resolve: Resolver<'_>,
) -> Result<(SocketAddr, bool), String> {
    use crate::cfgparse::InitAddr;
    let (name, port) = match &s.addr {
        Addr::Inet {
            host: Host::Name(n),
            port,
        } => (n, port.unwrap_or(0)),
        // No port: port 0, the client's destination port at connect time
        // (HAProxy's `SRV_F_MAPPORTS` without an offset).
        Addr::Inet {
            host: Host::Ip(ip),
            port: None,
        } => return Ok((SocketAddr::new(*ip, 0), false)),
        a => return resolve_addr(a, resolve).map(|a| (a, false)),
    };
    let mut methods = s.opts.init_addr.clone();
    if methods.is_empty() {
        methods = vec![InitAddr::Last, InitAddr::Libc];
        if s.opts.resolvers.is_some() {
            methods.push(InitAddr::None);
        }
    }
    for m in methods {
        match m {
            InitAddr::Last => {}
            InitAddr::Libc => {
                if let Some(a) = resolve(name, port) {
                    return Ok((a, false));
                }
            }
            InitAddr::None => {
                let any = if s.opts.resolve_prefer_ipv4 {
                    core::net::Ipv4Addr::UNSPECIFIED.into()
                } else {
                    core::net::Ipv6Addr::UNSPECIFIED.into()
                };
                return Ok((SocketAddr::new(any, port), true));
            }
            InitAddr::Ip(ip) => return Ok((SocketAddr::new(ip, port), false)),
        }
    }
    Err(format!("could not resolve address '{name}'"))
}

/// Where a `bind` line listens: an address, or an inherited socket.
fn listen_addr(addr: &Addr, resolve: Resolver<'_>) -> Result<ListenAddr, String> {
    match addr {
        Addr::Fd(n) => Ok(ListenAddr::Fd(*n)),
        Addr::Rhttp(name) => Ok(ListenAddr::Rhttp(name.clone())),
        a => resolve_addr(a, resolve).map(ListenAddr::Tcp),
    }
}

/// Where an address of a frontend's `bind` line listens: as [`listen_addr`],
/// plus UNIX sockets (the global `unix-bind` supplies the path prefix and
/// the permissions and owner the line does not set, as in HAProxy) and
/// abstract sockets.
fn bind_listen_addr(
    cfg: &Config,
    b: &cfgparse::Bind,
    addr: &Addr,
    resolve: Resolver<'_>,
) -> Result<ListenAddr, String> {
    let u = &cfg.global.unix_bind;
    let num = |spec: Option<&IdSpec>, what: &str| match spec {
        None => Ok(None),
        Some(IdSpec::Num(n)) => Ok(Some(*n)),
        Some(IdSpec::Name(n)) => Err(format!("{what} '{n}' was not resolved to an id")),
    };
    match addr {
        Addr::Unix(path) => Ok(ListenAddr::Unix {
            path: match &u.prefix {
                Some(p) => format!("{p}{path}"),
                None => path.clone(),
            },
            mode: b.mode.or(u.mode),
            uid: num(b.uid.as_ref().or(u.uid.as_ref()), "user")?,
            gid: num(b.gid.as_ref().or(u.gid.as_ref()), "group")?,
        }),
        Addr::Abns(name) => Ok(ListenAddr::Abns(name.clone())),
        a => match (listen_addr(a, resolve)?, &b.interface) {
            (ListenAddr::Tcp(addr), Some(i)) => Ok(ListenAddr::TcpDev {
                addr,
                interface: i.clone(),
            }),
            (l, _) => Ok(l),
        },
    }
}

/// The tables named by a `stick on|match|store-*` rule (a rule without
/// `table` names its own proxy's table).
fn stick_rule_tables(cfg: &Config) -> Vec<&str> {
    cfg.proxies
        .iter()
        .flat_map(|px| {
            px.stick_rules
                .iter()
                .map(move |r| r.table.as_deref().unwrap_or(px.name.as_str()))
        })
        .collect()
}

/// HAProxy's `stktable_compatible_sample`: a stick rule's expression must
/// give a type its table's key can be cast from.
fn check_stick_types(
    tables: &crate::stick_table::Tables,
    p: &cfgparse::Proxy,
    rules: &crate::rules::RuleSet,
) -> Result<(), StartError> {
    use crate::sample::SmpType;
    use crate::stick_table::KeyType;
    for r in &rules.sticking {
        let Some(t) = r.table.id.and_then(|id| tables.get(id)) else {
            continue;
        };
        let to = match t.params().key_type {
            KeyType::Ipv4 => SmpType::Ipv4,
            KeyType::Ipv6 => SmpType::Ipv6,
            KeyType::Integer => SmpType::Int,
            KeyType::String => SmpType::Str,
            KeyType::Binary => SmpType::Bin,
        };
        if !r.expr.out_type.can_cast(to) {
            return Err(StartError {
                file: r.file.clone(),
                line: r.line,
                message: format!(
                    "Proxy '{}': type of fetch not usable with type of stick-table '{}'.",
                    p.name,
                    t.params().id
                ),
            });
        }
    }
    Ok(())
}

/// What HAProxy's `check_config_validity` does for a table a stick rule
/// uses: it stores `server_id` and `server_key` (the dictionary type that
/// carries the server name to the peers), whatever its `store` line says.
/// Without them, `stick on src` entries learned from HAProxy lose their
/// server.
fn add_stick_data_types(params: &mut TableParams) {
    for dt in [DataType::SERVER_ID, DataType::SERVER_KEY] {
        if params.store_spec(dt).is_none() {
            params.store.push(StoreSpec::plain(dt));
        }
    }
    params.store.sort_by_key(|s| s.data_type.0);
}

/// HAProxy 2.6 refuses a table that stores an array type together with the
/// scalar types the array replaces (`gpt` and `gpt0` are the same counter
/// to HAProxy's actions). Sluice would store both and send both, which no
/// HAProxy peer could ever have configured: refuse it with HAProxy's words.
fn check_array_overrides(params: &TableParams) -> Result<(), String> {
    let rules: [(DataType, &[DataType], &str, &str); 3] = [
        (DataType::GPT, &[DataType::GPT0], "gpt", "gpt0"),
        (
            DataType::GPC,
            &[DataType::GPC0, DataType::GPC1],
            "gpc",
            "gpc[0/1]",
        ),
        (
            DataType::GPC_RATE,
            &[DataType::GPC0_RATE, DataType::GPC1_RATE],
            "gpc_rate",
            "gpc[0/1]_rate",
        ),
    ];
    for (array, scalars, a, b) in rules {
        if params.store_spec(array).is_some()
            && scalars.iter().any(|&dt| params.store_spec(dt).is_some())
        {
            return Err(format!(
                "table: simultaneous usage of '{a}' and '{b}' in a same table is not permitted as '{a}' overrides '{b}'."
            ));
        }
    }
    Ok(())
}

impl Engine {
    /// An engine running `cfg`, started at `now`.
    pub fn from_config(
        now: Time,
        cfg: &Config,
        mut opts: EngineOptions,
        resolve: Resolver<'_>,
    ) -> Result<Engine, StartError> {
        if opts.local_peer.is_empty() {
            opts.local_peer = cfg.local_peer.clone();
        }
        // Key-index hash seeds come from the engine's seed without drawing
        // from its PRNG (whose sequence the simulator's traces follow).
        let hash_seed = opts.seed ^ 0x5354_4b54_4142_4c45;
        let mut e = Engine::empty(now, opts);
        // Certificates and OCSP responses are checked against the time now.
        e.tls_clock.set_ms(e.opts.epoch_ms + now.as_ms());
        e.stats_timeout_ms = u64::from(cfg.global.stats_timeout_ms);
        e.userlists = cfg
            .userlists
            .iter()
            .map(crate::cfgparse::userlist::resolve)
            .collect();
        let sticking = stick_rule_tables(cfg);
        for t in cfg.tables() {
            check_array_overrides(&t.params).map_err(|message| StartError {
                file: t.place.file.clone(),
                line: t.place.line,
                message,
            })?;
            let mut params = t.params.clone();
            if sticking.contains(&params.id.as_str()) {
                add_stick_data_types(&mut params);
            }
            let seed = crate::rng::mix64(hash_seed.wrapping_add(e.tables.len() as u64));
            let mut table = StickTable::with_hash_seed(params, seed);
            if e.opts.nbthread > 1 {
                // One table per process: stick_table/threads.rs.
                table.enable_journal();
            }
            e.tables.push(table);
        }
        for s in &cfg.global.stats_sockets {
            let level = match s.level {
                StatsLevel::User => CliLevel::User,
                StatsLevel::Operator => CliLevel::Operator,
                StatsLevel::Admin => CliLevel::Admin,
            };
            // User and group names are the driver's to look up (the core
            // reads no system database): it hands over numbers.
            let id = |spec: &Option<IdSpec>, what: &str| match spec {
                None => Ok(None),
                Some(IdSpec::Num(n)) => Ok(Some(*n)),
                Some(IdSpec::Name(n)) => Err(StartError {
                    file: s.place.file.clone(),
                    line: s.place.line,
                    message: format!("'stats socket' : {what} '{n}' was not resolved to an id"),
                }),
            };
            let addr = match &s.addr {
                Addr::Unix(path) => ListenAddr::Unix {
                    path: path.clone(),
                    mode: s.mode,
                    uid: id(&s.uid, "user")?,
                    gid: id(&s.gid, "group")?,
                },
                Addr::Fd(n) => ListenAddr::Fd(*n),
                a => ListenAddr::Tcp(resolve_addr(a, resolve).map_err(|m| StartError {
                    file: s.place.file.clone(),
                    line: s.place.line,
                    message: format!("'stats socket' : {m}"),
                })?),
            };
            e.add_stats_socket(addr, level, s.expose_fd_listeners);
        }
        e.build_peers(cfg, resolve)?;
        e.maxconn = cfg.global.maxconn;
        e.hard_stop_after_ms = cfg.global.hard_stop_after_ms;
        let g = &cfg.global;
        let or = |side: u32, common: u32| if side != 0 { side } else { common };
        e.h2_fe_max_concurrent_streams = or(
            g.tune_h2_fe_max_concurrent_streams,
            g.tune_h2_max_concurrent_streams,
        );
        e.h2_be_max_concurrent_streams = or(
            g.tune_h2_be_max_concurrent_streams,
            g.tune_h2_max_concurrent_streams,
        );
        let mfs =
            crate::mux::h2::H2Tune::frame_size(g.tune_h2_max_frame_size, g.tune_bufsize as usize);
        e.h2_fe_tune = crate::mux::h2::H2Tune {
            header_table_size: g.tune_h2_header_table_size,
            initial_window_size: or(
                g.tune_h2_fe_initial_window_size,
                g.tune_h2_initial_window_size,
            ),
            max_frame_size: mfs,
            no_ext_connect: g.h2_workaround_bogus_websocket_clients,
        };
        e.h2_be_tune = crate::mux::h2::H2Tune {
            initial_window_size: or(
                g.tune_h2_be_initial_window_size,
                g.tune_h2_initial_window_size,
            ),
            ..e.h2_fe_tune
        };
        e.h2_glitches_threshold = cfg.global.tune_h2_fe_glitches_threshold;
        e.h2_max_total_streams = cfg.global.tune_h2_fe_max_total_streams;
        e.maxrewrite = cfg.global.maxrewrite() as usize;
        e.tls_sessions = Arc::new(crate::conn::tls::SessionCache::new(
            e.tls_clock.clone(),
            cfg.global.tune_ssl_cachesize,
            cfg.global.tune_ssl_lifetime_s,
        ));
        e.resolvers = cfg
            .resolvers
            .iter()
            .map(crate::dns::Resolvers::from_config)
            .collect();
        // Pattern files (maps, `acl -f`) come from the driver's reader;
        // HAProxy numbers the references once the configuration is read.
        let loader = crate::pattern::PatLoader::new(e.opts.pattern_files.clone());
        e.global_set_vars(&cfg.global.set_vars)?;
        e.build_proxies(cfg, resolve, &loader)?;
        let mut patterns = loader.store.into_inner();
        patterns.finalize();
        e.patterns = patterns;
        // The certificate store: every certificate loaded at start.
        e.ssl_extra_del_ext = cfg.global.ssl_load_extra_del_ext;
        e.ckch = e
            .ssl_cert_files()
            .into_iter()
            .map(|(f, (k, _))| (f, Some(k)))
            .collect();
        let store = core::mem::take(&mut e.ocsp_store);
        if !store.is_empty() {
            let mut seen = std::collections::BTreeSet::new();
            for l in &e.listeners {
                if let Some(c) = l
                    .tls
                    .as_ref()
                    .filter(|c| seen.insert(Arc::as_ptr(c) as usize))
                {
                    c.apply_ocsp(&store);
                }
            }
        }
        let now = e.now;
        // DNS resolution runs once per process, on thread 0.
        if e.opts.thread == 0 && !e.resolvers.is_empty() {
            e.dns_link_servers(now);
            e.dns_start(now);
        }
        // Health checks run once per process, on thread 0; the other
        // threads learn their results (`Engine::on_shared`).
        if e.opts.thread == 0 {
            e.checks_start(now);
        }
        // Server `maxconn` is process-wide: slot leases.
        e.slots_init();
        e.rhttp_start(now);
        Ok(e)
    }

    /// Links every server with a name and `resolvers` to its section's
    /// resolution of that name.
    fn dns_link_servers(&mut self, now: Time) {
        for be in 0..self.proxies.len() {
            let Some(b) = self.proxies[crate::proxy::ProxyId::new(be)].be.as_ref() else {
                continue;
            };
            let wants: Vec<_> = b
                .servers
                .iter()
                .enumerate()
                .filter_map(|(k, s)| s.cfg.resolv.clone().map(|w| (k, w)))
                .collect();
            for (k, w) in wants {
                let srv = crate::backend::server::ServerId::new(crate::proxy::ProxyId::new(be), k);
                self.resolvers[w.resolvers].link(now, srv, &w);
            }
        }
    }

    /// Frontends, backends and listen sections, with their servers and
    /// listeners (`check_config_validity` has already run in the parser).
    fn build_proxies(
        &mut self,
        cfg: &Config,
        resolve: Resolver<'_>,
        loader: &crate::pattern::PatLoader,
    ) -> Result<(), StartError> {
        let live: Vec<&cfgparse::Proxy> = cfg.proxies.iter().filter(|p| !p.disabled).collect();
        let index_of = |name: &str| {
            live.iter()
                .position(|p| p.name == name && p.kind.is_backend())
        };
        let maxconn = cfg.global.maxconn.unwrap_or(4096) as usize;
        self.pool = crate::pool::Pool::new(cfg.global.tune_bufsize as usize, 2 * maxconn + 64);
        let tables = crate::rules::table_index(cfg);
        for (i, p) in live.iter().enumerate() {
            let err = |line: u32, message: String| StartError {
                file: p.place.file.clone(),
                line,
                message,
            };
            let rules = crate::rules::RuleSet::build_with(cfg, p, &tables, Some(loader)).map_err(
                |errs| {
                    let e = errs.into_iter().next();
                    StartError {
                        file: e.as_ref().map_or(p.place.file.clone(), |d| d.file.clone()),
                        line: e.as_ref().map_or(p.place.line, |d| d.line),
                        message: e.map_or_else(
                            || "invalid rules".into(),
                            |d| format!("'{}' : {}", d.keyword, d.message),
                        ),
                    }
                },
            )?;
            check_stick_types(&self.tables, p, &rules)?;
            let fe = if p.kind.is_frontend() {
                let default_backend = match (&p.default_backend, p.kind) {
                    (Some((place, name)), _) => Some(index_of(name).ok_or_else(|| {
                        err(
                            place.line,
                            format!(
                                "proxy '{}': unable to find required default_backend: '{name}'.",
                                p.name
                            ),
                        )
                    })?),
                    (None, cfgparse::ProxyKind::Listen) => Some(i),
                    (None, _) => None,
                };
                Some(Frontend {
                    maxconn: p.maxconn,
                    monitor_uri: p
                        .monitor_uri
                        .clone()
                        .filter(|_| p.mode == cfgparse::Mode::Http),
                    default_backend: default_backend.map(ProxyId::new),
                    ..Frontend::default()
                })
            } else {
                None
            };
            let be = if p.kind.is_backend() {
                Some(self.build_backend(cfg, p, resolve)?)
            } else {
                None
            };
            let logcfg = build_logcfg(cfg, p, &tables, loader)?;
            let mut warns = Vec::new();
            let mut reply = |at: &cfgparse::Place, words: &[String]| {
                let diag =
                    |m: String| cfgparse::Diagnostic::new(&at.file, at.line, "http-error", m);
                let (r, w) =
                    crate::rules::http_error_reply(cfg, p, words, Some(loader)).map_err(diag)?;
                warns.extend(
                    w.into_iter()
                        .map(|m| format!("parsing [{}:{}] : {m}", at.file, at.line)),
                );
                Ok(r)
            };
            let pages =
                cfgparse::errors::proxy_pages(cfg, p, &mut reply).map_err(|d| StartError {
                    file: d.file.clone(),
                    line: d.line,
                    message: d.message.clone(),
                })?;
            self.start_warnings.extend(warns);
            self.proxies.push(Proxy {
                name: p.name.clone(),
                // HAProxy numbers the stats socket's frontend (`GLOBAL`,
                // declared in `global`) first: the proxies follow it.
                uuid: i as u32 + 1 + u32::from(!cfg.global.stats_sockets.is_empty()),
                mode: p.mode,
                timeouts: p.timeouts,
                fe,
                be,
                log: !p.logs.is_empty(),
                dontlognull: p.options.dontlognull,
                dontlog_normal: p.options.dontlog_normal,
                log_separate_errors: p.options.log_separate_errors,
                logasap: p.options.logasap,
                log_health_checks: p.options.log_health_checks,
                log_connect: !p.logs.is_empty()
                    && p.mode == cfgparse::Mode::Http
                    && p.log_format.is_none()
                    && !(p.options.httplog || p.options.httpslog || p.options.tcplog),
                http_buffer_request: p.options.http_buffer_request,
                abortonclose: p.options.abortonclose,
                http_ignore_probes: p.options.http_ignore_probes,
                disable_h2_upgrade: p.options.disable_h2_upgrade,
                logcfg: std::sync::Arc::new(logcfg),
                splice: (
                    p.options.splice_auto || p.options.splice_request,
                    p.options.splice_auto || p.options.splice_response,
                ),
                rules: std::sync::Arc::new(rules),
                http_conn_mode: p.options.http_conn_mode,
                forwardfor: p.options.forwardfor.clone(),
                originalto: p.options.originalto.clone(),
                restrict_req_hdr_names: p.options.restrict_req_hdr_names,
                http_reuse: p.http_reuse,
                inspect_delay_ms: p.tcp_request_inspect_delay_ms,
                res_inspect_delay_ms: p.tcp_response_inspect_delay_ms,
                errors: std::sync::Arc::new(crate::http::errors::ErrorPages { pages }),
                stats: p
                    .stats
                    .as_ref()
                    .filter(|_| p.mode == cfgparse::Mode::Http)
                    .map(|st| {
                        std::sync::Arc::new(crate::applet::stats_page::StatsPage::new(
                            st,
                            &p.name,
                            &self.opts.hostname,
                        ))
                    }),
                compression: p
                    .compression
                    .as_ref()
                    .filter(|_| p.mode == cfgparse::Mode::Http)
                    .map(|c| std::sync::Arc::new(c.clone())),
                invalid_req: None,
                invalid_rep: None,
            });
        }
        for (i, p) in live.iter().enumerate() {
            // HAProxy's listener ids (`luid`): `bind ... id N`, else the
            // lowest id not taken, in the order of the lines.
            let taken: Vec<u32> = p.binds.iter().filter_map(|b| b.id).collect();
            let mut next_luid = 1;
            for b in &p.binds {
                let tls = self.build_bind_tls(cfg, b)?;
                if let Some(proto) = b.proto {
                    // HAProxy checks the mux's mode against the proxy's:
                    // `h1` and `h2` are HTTP muxes, `none` (mux_pt) a TCP
                    // one.
                    let usable = match proto {
                        cfgparse::BindProto::H1 | cfgparse::BindProto::H2 => {
                            p.mode == cfgparse::Mode::Http
                        }
                        cfgparse::BindProto::None => p.mode == cfgparse::Mode::Tcp,
                    };
                    if !usable {
                        let addrs: Vec<String> =
                            b.addrs.iter().map(|a| a.addr.to_string()).collect();
                        return Err(StartError {
                            file: b.place.file.clone(),
                            line: b.place.line,
                            message: format!(
                                "{} '{}' : MUX protocol '{}' is not usable for 'bind {}' at [{}:{}].",
                                p.kind.type_str(),
                                p.name,
                                proto.name(),
                                addrs.join(","),
                                b.place.file,
                                b.place.line
                            ),
                        });
                    }
                }
                if b.id.is_some() && (b.addrs.len() > 1 || b.addrs[0].port_last.is_some()) {
                    return Err(StartError {
                        file: b.place.file.clone(),
                        line: b.place.line,
                        message: "'bind' : 'id' : cannot set an id on a bind line with several addresses or ports.".into(),
                    });
                }
                for a in &b.addrs {
                    let addr =
                        bind_listen_addr(cfg, b, &a.addr, resolve).map_err(|m| StartError {
                            file: b.place.file.clone(),
                            line: b.place.line,
                            message: format!("'bind' : {m}"),
                        })?;
                    let rhttp = match &a.addr {
                        Addr::Rhttp(name) => Some(self.rhttp_target(p, name, b.nbconn).map_err(
                            |m| StartError {
                                file: b.place.file.clone(),
                                line: b.place.line,
                                message: format!("'bind rhttp@{name}' : {m}"),
                            },
                        )?),
                        _ => None,
                    };
                    let luid = b.id.unwrap_or_else(|| {
                        while taken.contains(&next_luid) {
                            next_luid += 1;
                        }
                        next_luid += 1;
                        next_luid - 1
                    });
                    let l = self.add_listener(
                        addr,
                        ListenerKind::Frontend {
                            proxy: ProxyId::new(i),
                        },
                    );
                    let li = &mut self.listeners[l.0 as usize];
                    li.name = b.name.clone();
                    li.accept_proxy = b.accept_proxy;
                    li.proto = b.proto;
                    li.idle_ping_ms = b.idle_ping_ms;
                    li.maxconn = b.maxconn;
                    li.luid = luid;
                    li.tls = tls.clone();
                    if let Some(rx) = rhttp {
                        // `nbconn` is the listener's `maxconn` (HAProxy
                        // sets one from the other).
                        li.maxconn = Some(rx.nbconn);
                        li.rhttp = Some(Box::new(rx));
                    }
                    if let Some(f) = self.proxies[i].fe.as_mut() {
                        f.listeners.push(l);
                    }
                }
            }
        }
        Ok(())
    }

    /// The server a `bind rhttp@BACKEND/SERVER` dials (HAProxy's
    /// `rhttp_bind_listener` checks, with its messages).
    fn rhttp_target(
        &self,
        fe: &cfgparse::Proxy,
        name: &str,
        nbconn: Option<u32>,
    ) -> Result<crate::listener::rhttp::RhttpRx, String> {
        if fe.mode != cfgparse::Mode::Http {
            return Err("reverse HTTP needs 'mode http' (its connections speak HTTP/2).".into());
        }
        let Some((be_name, srv_name)) = name.split_once('/').filter(|(_, s)| !s.is_empty()) else {
            return Err(format!("Invalid server name: '{name}'."));
        };
        let be = self
            .backend_by_name(be_name)
            .ok_or_else(|| format!("No such backend: '{name}'."))?;
        let b = self.proxies[be].be.as_ref().expect("a backend");
        let idx = b
            .servers
            .iter()
            .position(|s| s.cfg.name == srv_name)
            .ok_or_else(|| format!("No such server: '{be_name}/{srv_name}'."))?;
        let cfg = &b.servers[idx].cfg;
        let alpn_h2 = cfg.tls.as_ref().is_some_and(|t| t.alpn_is_h2_only());
        if !cfg.proto_h2 && !alpn_h2 {
            return Err(format!(
                "Cannot reverse connect with server '{name}' unless HTTP/2 is activated on it with either proto or alpn keyword."
            ));
        }
        Ok(crate::listener::rhttp::RhttpRx::new(
            crate::backend::server::ServerId::new(be, idx),
            name.to_string(),
            nbconn.unwrap_or(1),
        ))
    }

    fn build_backend(
        &self,
        cfg: &Config,
        p: &cfgparse::Proxy,
        resolve: Resolver<'_>,
    ) -> Result<Backend, StartError> {
        let mut servers = Vec::new();
        for (n, s) in p.servers.iter().enumerate() {
            let err = |message: String| StartError {
                file: s.place.file.clone(),
                line: s.place.line,
                message,
            };
            let rhttp = matches!(s.addr, Addr::Rhttp(_));
            let unix = match &s.addr {
                Addr::Unix(path) => Some(crate::sock::UnixAddr::Path(path.clone())),
                Addr::Abns(name) => Some(crate::sock::UnixAddr::Abns(name.clone())),
                _ => None,
            };
            // A reverse HTTP server has no address: its connections come
            // from `attach-srv` (HAProxy leaves `srv->addr` unset). Nor has
            // a server on a UNIX socket an internet one.
            let addr = if rhttp || unix.is_some() {
                (
                    SocketAddr::new(core::net::Ipv4Addr::UNSPECIFIED.into(), 0),
                    false,
                )
            } else {
                match server_init_addr(s, resolve) {
                    Ok(a) => a,
                    Err(m) => return Err(err(format!("'server {}/{}' : {m}", p.name, s.name))),
                }
            };
            let (addr, unresolved) = addr;
            let o = &s.opts;
            if rhttp && p.mode != cfgparse::Mode::Http {
                return Err(err(format!(
                    "{} '{}' : server {} uses reverse HTTP addressing which can only be used with HTTP mode.",
                    p.kind.type_str(),
                    p.name,
                    s.name
                )));
            }
            let sni_expr = match &o.tls.sni_expr {
                None => None,
                Some(text) => Some(parse_proxy_expr(cfg, p, text).map_err(|e| {
                    err(format!(
                        "'server {}/{}' : 'sni' : failed to parse sni expression '{text}' : {e}.",
                        p.name, s.name
                    ))
                })?),
            };
            let pool_conn_name = match &o.pool_conn_name {
                None => None,
                Some(text) => Some(parse_proxy_expr(cfg, p, text).map_err(|e| {
                    err(format!(
                        "'server {}/{}' : 'pool-conn-name' : failed to parse '{text}' : {e}.",
                        p.name, s.name
                    ))
                })?),
            };
            if o.proto_h2 && p.mode != cfgparse::Mode::Http {
                // HAProxy: "MUX protocol 'h2' is not usable for server".
                return Err(err(format!(
                    "proxy '{}' : MUX protocol 'h2' is not usable for server '{}'.",
                    p.name, s.name
                )));
            }
            let connect_tls =
                |c: &cfgparse::CheckConnect| self.build_connect_tls(cfg, p, &s.opts, c, addr);
            let mut script = check_script(p, resolve, &connect_tls).map_err(&err)?;
            let h2_check = o.check_proto_h2.unwrap_or(o.proto_h2);
            if let Some(h) = &p.options.httpchk {
                if script.is_none() && http_check_scripted(p, h2_check) {
                    script = Some(http_check_script(p, h, h2_check, resolve, &connect_tls)?);
                }
            }
            let check_addr = check_address(s, addr, resolve).map_err(&err)?;
            let check_tls = self.build_check_tls(cfg, p, s, check_addr)?;
            let http_expects = http_check_expects(p)?;
            let check_cfg = o.check.then(|| CheckCfg {
                inter_ms: o.inter_ms,
                fastinter_ms: o.fastinter_ms.unwrap_or(o.inter_ms),
                downinter_ms: o.downinter_ms.unwrap_or(o.inter_ms),
                rise: o.rise.max(1),
                fall: o.fall.max(1),
                http_req: p.options.httpchk.as_ref().map(|h| http_check_request(p, h)),
                http_expects: http_expects.clone(),
                http_head: p
                    .options
                    .httpchk
                    .as_ref()
                    .is_some_and(|h| http_check_send_line(p, h).0.eq_ignore_ascii_case("HEAD")),
                addr: check_addr,
                // HAProxy's checks go to the server's own socket unless
                // `addr` names another one.
                unix: unix.clone().filter(|_| o.check_addr.is_none()),
                script: script.clone(),
                tls: check_tls,
            });
            let agent_cfg = if o.agent_check {
                Some(AgentCfg {
                    inter_ms: o.agent_inter_ms,
                    addr: agent_address(s, addr, resolve).map_err(&err)?,
                    send: o.agent_send.as_ref().map(|t| t.as_bytes().to_vec()),
                })
            } else {
                None
            };
            // Up at start, but down at the first failure, as HAProxy.
            let check = o.check.then(|| Check::new(o.rise.max(1)));
            let cfg = ServerCfg {
                name: s.name.clone(),
                puid: s.id.unwrap_or(n as u32 + 1),
                addr,
                unix,
                iweight: o.weight,
                rise: o.rise.max(1),
                // HAProxy's `srv_minmax_conn_apply`: `minconn` alone, or
                // above `maxconn`, is a static limit.
                maxconn: match (o.minconn, o.maxconn) {
                    (Some(min), max) if min > max.unwrap_or(0) => Some(min),
                    (_, max) => max,
                },
                minconn: match (o.minconn, o.maxconn) {
                    (Some(min), max) if min > max.unwrap_or(0) => min,
                    (Some(min), Some(_)) => min,
                    (_, max) => max.unwrap_or(0),
                },
                maxqueue: o.maxqueue,
                backup: o.backup,
                send_proxy: if o.send_proxy_v2 {
                    Some(2)
                } else if o.send_proxy {
                    Some(1)
                } else {
                    None
                },
                pp_opts: o.pp_opts,
                proto_h2: o.proto_h2,
                ws: o.ws,
                idle_ping_ms: o.idle_ping_ms,
                pool_max_conn: o.pool_max_conn,
                check: check_cfg,
                agent: agent_cfg,
                tls: self.build_server_tls(cfg, p, s, addr)?,
                // HAProxy ignores a server cookie outside HTTP mode (with a
                // warning from the checker).
                cookie: o.cookie.clone().filter(|_| p.mode == cfgparse::Mode::Http),
                slowstart_s: o.slowstart_s,
                on_marked_down_shutdown: o.on_marked_down_shutdown,
                on_marked_up_shutdown_backup: o.on_marked_up_shutdown_backup,
                // `observe layer7` outside HTTP mode is refused by HAProxy
                // (an alert); Sluice's checker does the same.
                observe: match o.observe {
                    cfgparse::ObserveLayer::Layer7 if p.mode != cfgparse::Mode::Http => {
                        cfgparse::ObserveLayer::None
                    }
                    l => l,
                },
                error_limit: o.error_limit,
                on_error: o.on_error,
                dynamic: false,
                rhttp,
                pool_conn_name,
                sni_expr,
                resolv: srv_resolv(cfg, s),
            };
            let mut server = Server::new(std::sync::Arc::new(cfg), self.now, check);
            server.uweight = o.weight;
            if o.disabled {
                server.admin = SrvAdmin::Maint;
            } else if unresolved {
                server.admin = SrvAdmin::Rmaint;
            }
            servers.push(server);
        }
        let table = p
            .stick_table
            .as_ref()
            .and_then(|t| self.tables.by_name(&t.params.id));
        let mut stick = Vec::new();
        for (rule, r) in p.stick_rules.iter().enumerate() {
            let err = |message: String| StartError {
                file: r.place.file.clone(),
                line: r.place.line,
                message,
            };
            let t = match &r.table {
                Some(name) => self.tables.by_name(name),
                None => table,
            }
            .ok_or_else(|| err("'stick' : no stick table for this rule".into()))?;
            let (matching, storing) = match r.kind {
                StickKind::On => (true, true),
                StickKind::Match => (true, false),
                StickKind::StoreRequest | StickKind::StoreResponse => (false, true),
            };
            stick.push(StickRule {
                rule,
                on_response: r.kind == StickKind::StoreResponse,
                table: t,
                matching,
                storing,
            });
        }
        // A layer 7 hash in TCP mode is round robin (HAProxy warns, see
        // cfgparse::check).
        let balance = if p.balance.needs_http() && p.mode != cfgparse::Mode::Http {
            Balance::RoundRobin
        } else {
            p.balance.clone()
        };
        let algo = match &balance {
            Balance::RoundRobin => lb::Algo::RoundRobin,
            Balance::StaticRr => lb::Algo::StaticRr,
            Balance::LeastConn => lb::Algo::LeastConn,
            Balance::First => lb::Algo::First,
            Balance::Random { .. } => lb::Algo::Random,
            _ if p.hash_type.consistent => lb::Algo::Chash,
            _ => lb::Algo::Source,
        };
        let hash_expr = match &balance {
            Balance::Hash { expr, place } => {
                let e = parse_proxy_expr(cfg, p, expr).map_err(|e| StartError {
                    file: place.file.clone(),
                    line: place.line,
                    message: format!(
                        "{} '{}' : failed to parse 'balance hash' expression '{expr}' in : {e}.",
                        p.kind.type_str(),
                        p.name
                    ),
                })?;
                Some(e)
            }
            _ => None,
        };
        // The check script of servers added at run time (`add server`):
        // a `tcp-check connect ssl` takes `default-server`'s TLS settings.
        let unspec = SocketAddr::new(core::net::Ipv4Addr::UNSPECIFIED.into(), 0);
        let dyn_tls = |c: &cfgparse::CheckConnect| {
            self.build_connect_tls(cfg, p, &p.default_server, c, unspec)
        };
        let (dyn_script, dyn_check_err) = match check_script(p, resolve, &dyn_tls) {
            Ok(s) => (s, None),
            Err(e) => (None, Some(e)),
        };
        let fullconn = p.fullconn.unwrap_or_else(|| default_fullconn(cfg, &p.name));
        let load = crate::backend::server::BeLoad {
            beconn: 0,
            fullconn: fullconn.max(1),
        };
        let view: Vec<lb::LbServer> = servers
            .iter()
            .map(|s| crate::backend::lb_view(s, load))
            .collect();
        // HAProxy's `check_config_validity`: `dispatch` wins over
        // `option transparent`, and an algorithm over both.
        let no_lb = match (&p.dispatch, p.options.transparent) {
            _ if p.balance_set => None,
            (Some((place, a)), _) => Some(crate::proxy::NoLb::Dispatch(
                resolve_addr(a, resolve).map_err(|m| StartError {
                    file: place.file.clone(),
                    line: place.line,
                    message: format!("'dispatch' : {m}"),
                })?,
            )),
            (None, true) => Some(crate::proxy::NoLb::Transparent),
            (None, false) => None,
        };
        let mut lb = lb::Lb::new(algo, &view);
        lb.set_hash_balance_factor(p.hash_balance_factor);
        Ok(Backend {
            cfg: std::sync::Arc::new(BackendCfg {
                fullconn: fullconn.max(1),
                retries: p.retries,
                retry_on: p.retry_on,
                redispatch: p.options.redispatch,
                persist: p.options.persist,
                prefer_last_server: p.options.prefer_last_server,
                server_id_hdr_name: p
                    .server_id_hdr_name
                    .clone()
                    .filter(|_| p.mode == cfgparse::Mode::Http),
                cookie: p.cookie.clone().filter(|_| p.mode == cfgparse::Mode::Http),
                balance,
                no_lb,
                hash_type: p.hash_type,
                hash_expr,
                table,
                stick,
                dyn_check: CheckCfg {
                    inter_ms: 2000,
                    fastinter_ms: 2000,
                    downinter_ms: 2000,
                    rise: 2,
                    fall: 3,
                    http_req: p.options.httpchk.as_ref().map(|h| http_check_request(p, h)),
                    http_expects: http_check_expects(p)?,
                    http_head: p
                        .options
                        .httpchk
                        .as_ref()
                        .is_some_and(|h| http_check_send_line(p, h).0.eq_ignore_ascii_case("HEAD")),
                    addr: SocketAddr::new(core::net::Ipv4Addr::UNSPECIFIED.into(), 0),
                    unix: None,
                    script: dyn_script,
                    tls: None,
                },
                dyn_check_err,
            }),
            lb,
            servers,
            queue: Default::default(),
            max_queue: 0,
            beconn: 0,
            max_beconn: 0,
            cum_beconn: 0,
            denied_req: 0,
            denied_resp: 0,
            bytes_in: 0,
            bytes_out: 0,
            econ: 0,
            eresp: 0,
            wretr: 0,
            wredis: 0,
            last_change: self.now,
            http: Default::default(),
            times: Default::default(),
            sess_rate: Default::default(),
        })
    }

    fn build_peers(&mut self, cfg: &Config, resolve: Resolver<'_>) -> Result<(), StartError> {
        let local = self.opts.local_peer.clone();
        for sect in cfg.peers.iter().filter(|s| !s.disabled) {
            let err = |line: u32, message: String| StartError {
                file: sect.place.file.clone(),
                line,
                message,
            };
            let mut members = Vec::new();
            for p in &sect.peers {
                let is_local = p.name == local;
                let addr = match (&p.addr, is_local) {
                    (Some(a), _) => a,
                    (None, true) => sect.local_addr(&local).ok_or_else(|| {
                        err(
                            p.place.line,
                            format!(
                                "peers section '{}': no address for local peer '{}'",
                                sect.name, p.name
                            ),
                        )
                    })?,
                    (None, false) => {
                        return Err(err(
                            p.place.line,
                            format!(
                                "peers section '{}': peer '{}' has no address",
                                sect.name, p.name
                            ),
                        ))
                    }
                };
                let addr = match addr {
                    // The local peer listening on an inherited socket: its
                    // address is never connected to, only shown.
                    Addr::Fd(_) if is_local => {
                        SocketAddr::new(core::net::Ipv4Addr::UNSPECIFIED.into(), 0)
                    }
                    a => resolve_addr(a, resolve)
                        .map_err(|m| err(p.place.line, format!("'peer {}' : {m}", p.name)))?,
                };
                members.push((p.name.clone(), addr, is_local));
            }
            if !members.iter().any(|m| m.2) {
                // HAProxy ignores a section that does not list the local
                // peer (the checker warns about it).
                continue;
            }
            let bind = match &sect.bind {
                Some(b) => match b.addrs.first() {
                    Some(a) => Some(
                        listen_addr(&a.addr, resolve)
                            .map_err(|m| err(b.place.line, format!("'bind' : {m}")))?,
                    ),
                    None => None,
                },
                None => None,
            };
            let tables: Vec<TableId> = self
                .tables
                .ids()
                .filter(|&t| self.tables[t].params().peers.as_deref() == Some(sect.name.as_str()))
                .collect();
            let s = self.add_peers_section(
                &sect.name,
                members,
                tables,
                bind,
                cfg.global.tune_bufsize as usize,
            );
            self.peers[s].max_updates_at_once =
                cfg.global.tune_peers_max_updates_at_once.max(1) as usize;
        }
        Ok(())
    }
}

impl Engine {
    /// What TLS needs from the driver, for a line that asks for TLS.
    fn tls_env(&self, file: &str, line: u32, who: &str) -> Result<&TlsEnv, StartError> {
        self.opts.tls.as_ref().ok_or_else(|| StartError {
            file: file.to_string(),
            line,
            message: format!(
                "{who} : TLS is configured but this driver offers no TLS (no crypto provider)."
            ),
        })
    }

    /// The session ticket producer of a `bind ... ssl` line: `None` under
    /// `no-tls-tickets`; the keys of its `tls-ticket-keys` file (shared
    /// by the lines naming the same file), else three random ones.
    fn bind_ticketer(
        &mut self,
        t: &cfgparse::model::BindTls,
    ) -> Result<Option<Arc<crate::conn::ticket::Ticketer>>, String> {
        use crate::conn::ticket::{parse_keys_file, Ticketer};
        let Some(env) = self.opts.tls.as_ref() else {
            return Ok(None);
        };
        if t.common.no_tls_tickets {
            return Ok(None);
        }
        let seed = env.ticket_seed;
        let lifetime = self.tls_sessions.lifetime_s();
        // Keys: the same stream on every thread; IVs: one per thread.
        let stream = (
            self.ticketers_made,
            self.ticketers_made | (u64::from(self.opts.thread) + 1) << 32,
        );
        let made = match &t.tls_ticket_keys {
            None => Arc::new(Ticketer::new(seed, stream, None, None, lifetime)),
            Some(f) => {
                if let Some((_, tk)) = self.ticket_files.iter().find(|(n, _)| n == f) {
                    return Ok(Some(tk.clone()));
                }
                let text = env
                    .files
                    .get(f)
                    .map_err(|_| format!("'{f}' : unable to load ssl tickets keys file"))?;
                let keys = parse_keys_file(f, text)?;
                let tk = Arc::new(Ticketer::new(
                    seed,
                    stream,
                    Some(keys),
                    Some(f.clone()),
                    lifetime,
                ));
                self.ticket_files.push((f.clone(), tk.clone()));
                tk
            }
        };
        self.ticketers_made += 1;
        Ok(Some(made))
    }

    /// The TLS context of a `bind ... ssl` line, shared by its listeners.
    fn build_bind_tls(
        &mut self,
        cfg: &Config,
        b: &cfgparse::Bind,
    ) -> Result<Option<Arc<BindCtx>>, StartError> {
        if !b.tls.ssl {
            return Ok(None);
        }
        let addrs: Vec<String> = b.addrs.iter().map(|a| a.addr.to_string()).collect();
        let who = format!("'bind {}'", addrs.join(","));
        let mut store = core::mem::take(&mut self.ocsp_store);
        let ticketer = self.bind_ticketer(&b.tls).map_err(|message| StartError {
            file: b.place.file.clone(),
            line: b.place.line,
            message: format!("{who} : {message}"),
        })?;
        let env = self.tls_env(&b.place.file, b.place.line, &who)?;
        let built = BindCtx::build(
            env,
            &self.cafiles,
            &self.tls_clock,
            &cfg.global,
            &self.tls_sessions,
            &b.tls,
            &mut store,
            ticketer,
        );
        // The crt-lists, for the CLI (HAProxy's `crtlists_tree`).
        let mut lists = Vec::new();
        if built.is_ok() {
            for path in &b.tls.crt_lists {
                let Ok(text) = env.files.get(path) else {
                    continue;
                };
                let mut d = crate::cfgparse::Diags::default();
                if let Ok(entries) = crate::cfgparse::tls::parse_crt_list(path, text, &mut d) {
                    let list = crate::applet::cli_crtlist::CrtList::new(
                        &cfg.global.crt_base,
                        entries,
                        text,
                    );
                    lists.push((path.clone(), list));
                }
            }
        }
        self.ocsp_store = store;
        for (path, list) in lists {
            self.crtlists.entry(path).or_insert(list);
        }
        if let Ok(c) = &built {
            self.start_warnings.extend(c.warnings.iter().cloned());
        }
        built
            .map(|mut c| {
                c.place = (b.place.file.clone(), b.place.line);
                Some(Arc::new(c))
            })
            .map_err(|e| match e.at {
                // A fault in a crt-list file: its file and line.
                Some((file, line)) => StartError {
                    file,
                    line,
                    message: format!("{who} : {}", e.message),
                },
                None => StartError {
                    file: b.place.file.clone(),
                    line: b.place.line,
                    message: format!("{who} : {}", e.message),
                },
            })
    }

    /// The TLS context of a `server ... ssl` line.
    fn build_server_tls(
        &self,
        cfg: &Config,
        p: &cfgparse::Proxy,
        s: &cfgparse::Server,
        addr: core::net::SocketAddr,
    ) -> Result<Option<Arc<SrvCtx>>, StartError> {
        let t = &s.opts.tls;
        if !t.ssl {
            return Ok(None);
        }
        let who = format!("'server {}/{}'", p.name, s.name);
        let err = |message: String| StartError {
            file: s.place.file.clone(),
            line: s.place.line,
            message: format!("{who} : {message}"),
        };
        let env = self.tls_env(&s.place.file, s.place.line, &who)?;
        SrvCtx::build(env, &self.cafiles, &self.tls_clock, &cfg.global, t, addr)
            .map(|c| Some(Arc::new(c)))
            .map_err(err)
    }

    /// The TLS context of a `tcp-check connect ssl` rule for a server
    /// of options `o` (HAProxy's check `xprt` set to SSL by the rule): the
    /// server's TLS settings with the rule's `sni` and `alpn` (none when
    /// the rule names none, as the rule's own connection does not take
    /// the server's `check-sni` / `check-alpn` unless `default`).
    fn build_connect_tls(
        &self,
        cfg: &Config,
        p: &cfgparse::Proxy,
        o: &cfgparse::ServerOptions,
        c: &cfgparse::CheckConnect,
        addr: core::net::SocketAddr,
    ) -> Result<Option<Arc<SrvCtx>>, String> {
        let mut t = o.tls.clone();
        t.ssl = true;
        t.sni = c
            .sni
            .clone()
            .or_else(|| c.default.then(|| o.tls.check_sni.clone()).flatten());
        t.common.alpn = c
            .alpn
            .clone()
            .or_else(|| c.default.then(|| o.tls.check_alpn.clone()).flatten());
        let env = self
            .tls_env(&p.place.file, p.place.line, "'tcp-check connect'")
            .map_err(|e| e.message)?;
        SrvCtx::build(env, &self.cafiles, &self.tls_clock, &cfg.global, &t, addr)
            .map(|c| Some(Arc::new(c)))
    }

    /// The TLS context of a server's health checks, when they go over
    /// TLS (HAProxy's `init_srv_check`): `check-ssl`, or a server with
    /// `ssl` whose checks have no `addr` / `port` of their own, unless
    /// `no-check-ssl`. The server's TLS settings, with `check-sni` as the
    /// SNI and `check-alpn` (else the server's `alpn`) as the ALPN.
    fn build_check_tls(
        &self,
        cfg: &Config,
        p: &cfgparse::Proxy,
        s: &cfgparse::Server,
        addr: core::net::SocketAddr,
    ) -> Result<Option<Arc<SrvCtx>>, StartError> {
        let o = &s.opts;
        let own = o.check_addr.is_some() || o.check_port.is_some();
        let over_tls = match o.tls.check_ssl {
            Some(v) => v,
            None => o.tls.ssl && !own,
        };
        if !o.check || !over_tls {
            return Ok(None);
        }
        let who = format!("'server {}/{}'", p.name, s.name);
        let err = |message: String| StartError {
            file: s.place.file.clone(),
            line: s.place.line,
            message: format!("{who} : {message}"),
        };
        let mut t = o.tls.clone();
        t.ssl = true;
        t.sni = o.tls.check_sni.clone();
        if let Some(a) = &o.tls.check_alpn {
            t.common.alpn = Some(a.clone());
        }
        let h2 = t.common.alpn.iter().flatten().any(|a| a == "h2");
        if h2 && (p.options.httpchk.is_some() || p.options.tcp_check) {
            return Err(err(
                "health checks over HTTP/2 are not supported by Sluice yet: 'check-alpn' (or 'alpn') offers 'h2' to an HTTP or tcp-check check; use 'check-alpn http/1.1'."
                    .into(),
            ));
        }
        let env = self.tls_env(&s.place.file, s.place.line, &who)?;
        SrvCtx::build(env, &self.cafiles, &self.tls_clock, &cfg.global, &t, addr)
            .map(|c| Some(Arc::new(c)))
            .map_err(err)
    }
}

/// A proxy's `log-format` (or `option httplog clf`), unique id and
/// capture slots, with the formats parsed (HAProxy does it at check
/// time, naming the line of the directive).
fn build_logcfg(
    cfg: &cfgparse::Config,
    p: &cfgparse::Proxy,
    tables: &dyn Fn(&str) -> Option<crate::stick_table::TableId>,
    loader: &crate::pattern::PatLoader,
) -> Result<crate::log::LogCfg, StartError> {
    use crate::log::{format, CapSlot, LogCfg, LogFmt};
    let backends = |n: &str| cfg.backend(n).is_some();
    let userlists = |n: &str| cfg.userlist_groups(n);
    let ctx = crate::sample::ParseCtx {
        proxy: &p.name,
        tables: Some(tables),
        backends: Some(&backends),
        userlists: Some(&userlists),
        patterns: Some(loader),
        at: None,
    };
    let parse = |what: &str, (place, text): &(cfgparse::Place, String)| {
        LogFmt::parse(text, &ctx, what != "unique-id").map_err(|e| StartError {
            file: place.file.clone(),
            line: place.line,
            message: format!("failed to parse {what} : {e}."),
        })
    };
    let mut lc = LogCfg::default();
    if p.kind.is_frontend() {
        lc.format = match &p.log_format {
            Some(f) => Some(parse("log-format", f)?),
            None if p.options.httplog
                && p.options.httplog_clf
                && p.mode == cfgparse::Mode::Http =>
            {
                Some(
                    LogFmt::parse(format::CLF_LOG_FORMAT, &ctx, true).map_err(|e| StartError {
                        file: p.place.file.clone(),
                        line: p.place.line,
                        message: e,
                    })?,
                )
            }
            None if p.options.httpslog && p.mode == cfgparse::Mode::Http => Some(
                LogFmt::parse(format::HTTPS_LOG_FORMAT, &ctx, true).map_err(|e| StartError {
                    file: p.place.file.clone(),
                    line: p.place.line,
                    message: e,
                })?,
            ),
            // The built-in line has no `{...}`: with captures, the
            // general path prints `option httplog`'s format.
            None if p.options.httplog
                && p.mode == cfgparse::Mode::Http
                && !p.captures.is_empty() =>
            {
                Some(
                    LogFmt::parse(format::HTTP_LOG_FORMAT, &ctx, true).map_err(|e| StartError {
                        file: p.place.file.clone(),
                        line: p.place.line,
                        message: e,
                    })?,
                )
            }
            None => None,
        };
        for c in &p.captures {
            let slot = CapSlot {
                header: c.header.clone(),
                len: c.len as usize,
                rule: c.from_rule.then(|| (c.place.file.clone(), c.place.line)),
            };
            if c.response {
                lc.res_cap.push(slot);
            } else {
                lc.req_cap.push(slot);
            }
        }
    }
    if let Some(f) = &p.unique_id_format {
        lc.unique_id_format = Some(parse("unique-id", f)?);
    }
    lc.unique_id_header = p.unique_id_header.clone();
    Ok(lc)
}

/// The `fullconn` HAProxy gives a backend without one
/// (`proxy_adjust_all_maxconn`): 10% of the sum of the `maxconn` of the
/// frontends that can reach it (by `default_backend`, a `listen` section's
/// own, or a `use_backend` rule naming it), rounded up, and at least one.
/// A frontend without `maxconn` counts the global one (4096 when not set
/// either: HAProxy derives its own from the file descriptor limit).
fn default_fullconn(cfg: &cfgparse::Config, be: &str) -> u32 {
    let global = cfg.global.maxconn.unwrap_or(4096);
    let mut tot: u64 = 0;
    for p in cfg
        .proxies
        .iter()
        .filter(|p| p.kind.is_frontend() && !p.disabled)
    {
        let m = u64::from(p.maxconn.unwrap_or(global));
        let defbe = match (&p.default_backend, p.kind) {
            (Some((_, n)), _) => Some(n.as_str()),
            (None, cfgparse::ProxyKind::Listen) => Some(p.name.as_str()),
            (None, _) => None,
        };
        let by_rule = p
            .use_backends
            .iter()
            .any(|u| !u.is_dynamic() && u.name == be);
        if defbe == Some(be) || by_rule {
            tot += m;
        }
    }
    u32::try_from(tot.div_ceil(10)).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfgparse::{ParseOptions, Parser};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The bytes HAProxy 2.6 sends, as its reg-tests
    /// (checks/mysql-check.vtc, pgsql-check.vtc, redis-check.vtc) match
    /// them, and the SSLv3 hello's framing.
    #[test]
    fn protocol_checks_send_haproxys_bytes() {
        use crate::cfgparse::ProtoCheck;
        let sent = |pc: ProtoCheck| -> Vec<u8> {
            proto_check_script(&pc)
                .iter()
                .filter_map(|s| match s {
                    CheckStep::Send { bytes, .. } => Some(bytes.clone()),
                    _ => None,
                })
                .next()
                .unwrap()
        };
        assert_eq!(
            sent(ProtoCheck::Mysql {
                user: Some("user".into()),
                post41: false
            }),
            unhex("0B00000100800000017573657200000100000001")
        );
        assert_eq!(
            sent(ProtoCheck::Mysql {
                user: Some("user".into()),
                post41: true
            }),
            unhex("2600000100820000008000012100000000000000000000000000000000000000000000007573657200000100000001")
        );
        assert_eq!(sent(ProtoCheck::Redis), b"*1\r\n$4\r\nPING\r\n");
        let pg = sent(ProtoCheck::Pgsql {
            user: "postgres".into(),
        });
        assert_eq!(pg.len(), 23, "the reg-test reads 23 bytes");
        assert_eq!(&pg[..8], &unhex("0000001700030000")[..]);
        let hello = sent(ProtoCheck::SslHello);
        assert_eq!(hello.len(), 5 + 0x79);
        assert_eq!(&hello[..5], &[0x16, 0x03, 0x00, 0x00, 0x79]);
        assert_eq!(&hello[15..43], b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
        // Without a user, MySQL's check only reads the handshake.
        let steps = proto_check_script(&ProtoCheck::Mysql {
            user: None,
            post41: true,
        });
        assert_eq!(steps.len(), 1);
        assert!(matches!(&steps[0], CheckStep::Expect(e) if e.step == 2));
    }

    fn engine(text: &str) -> Engine {
        let mut opts = ParseOptions::new("host");
        opts.local_peer = Some("B".into());
        let mut p = Parser::new(opts);
        p.feed("t.cfg", text);
        let cfg = p.finish().expect("valid config").config;
        let resolve = |_: &str, _: u16| None;
        Engine::from_config(Time::ZERO, &cfg, EngineOptions::default(), &resolve).expect("engine")
    }

    /// Regression: `stick on src` tables did not store `server_id` and
    /// `server_key`, so entries learned from HAProxy's `be_stick` lost
    /// their server (found by the interop test `haproxy_stick_on_src_server_key`).
    #[test]
    fn stick_rules_store_server_id_and_server_key() {
        let e = engine(
            "peers mesh\n    peer B 127.0.0.1:10402\n\
             backend be_stick\n    mode http\n    stick-table type ip size 1k expire 10m peers mesh\n    stick on src\n    server s1 127.0.0.1:80\n\
             backend be_plain\n    stick-table type ip size 1k store gpc0\n\
             backend be_other\n    stick-table type ip size 1k store gpc0,server_id\n\
             backend be_user\n    stick match src table be_other\n    server s1 127.0.0.1:80\n",
        );
        let bits = |name: &str| e.table(name).unwrap().params().data_types_bitfield();
        let sid_key = DataType::SERVER_ID.bit() | DataType::SERVER_KEY.bit();
        // HAProxy's definition of be_stick announces bits 0 and 19 (0x80001).
        assert_eq!(bits("be_stick"), 0x80001);
        assert_eq!(bits("be_plain"), DataType::GPC0.bit());
        assert_eq!(bits("be_other"), DataType::GPC0.bit() | sid_key);
        let t = e.table("be_other").unwrap();
        assert!(t.layout().slot(DataType::SERVER_KEY).is_some());
        let ids: Vec<u8> = t.params().store.iter().map(|s| s.data_type.0).collect();
        assert_eq!(ids, [0, 2, 19], "store stays sorted by type id");
    }

    fn start_error(text: &str) -> StartError {
        let mut opts = ParseOptions::new("host");
        opts.local_peer = Some("A".into());
        let mut p = Parser::new(opts);
        p.feed("t.cfg", text);
        let cfg = p.finish().expect("parses").config;
        let resolve = |_: &str, _: u16| None;
        Engine::from_config(Time::ZERO, &cfg, EngineOptions::default(), &resolve)
            .expect_err("refused")
    }

    /// A stick expression whose type the table's key cannot take is
    /// refused at start (HAProxy's `stktable_compatible_sample`); any
    /// other expression loads.
    #[test]
    fn stick_expressions_must_fit_the_table_type() {
        let e = start_error(
            "backend be\n    mode http\n    stick-table type ip size 1k\n    stick on req.body\n    server s1 127.0.0.1:80\n",
        );
        assert_eq!(
            (e.line, e.message.as_str()),
            (
                4,
                "Proxy 'be': type of fetch not usable with type of stick-table 'be'."
            )
        );
        engine(
            "backend be\n    mode http\n    stick-table type ip size 1k\n    stick on req.hdr(x-ip)\n    stick match urlp(id),lower table be2\n    server s1 127.0.0.1:80\n\
             backend be2\n    stick-table type string size 1k srvkey addr\n",
        );
    }

    /// Regression: Sluice accepted tables HAProxy 2.6 refuses (found by
    /// comparing `haproxy -c` and `proxy-mio -c` on the interop tables).
    #[test]
    fn arrays_and_the_scalars_they_override_are_refused_as_haproxy_does() {
        let base = "peers mesh\n    peer A 127.0.0.1:1000\n    table t type ip size 1k store ";
        for (store, words) in [
            ("gpt0,gpt(2)", "'gpt' and 'gpt0'"),
            ("gpc0,gpc(2)", "'gpc' and 'gpc[0/1]'"),
            ("gpc1,gpc(2)", "'gpc' and 'gpc[0/1]'"),
            (
                "gpc0_rate(1s),gpc_rate(2,1s)",
                "'gpc_rate' and 'gpc[0/1]_rate'",
            ),
            (
                "gpc1_rate(1s),gpc_rate(2,1s)",
                "'gpc_rate' and 'gpc[0/1]_rate'",
            ),
        ] {
            let e = start_error(&format!("{base}{store}\n"));
            assert_eq!(e.line, 3, "{store}");
            assert!(
                e.to_string()
                    .starts_with("parsing [t.cfg:3] : table: simultaneous usage of "),
                "{e}"
            );
            assert!(e.message.contains(words), "{store}: {e}");
        }
        // What HAProxy accepts: an array with the other family's scalars.
        for store in ["gpc(2),gpc0_rate(1s)", "gpc_rate(2,1s),gpc0", "gpt(2),gpc0"] {
            let mut opts = ParseOptions::new("host");
            opts.local_peer = Some("A".into());
            let mut p = Parser::new(opts);
            p.feed("t.cfg", &format!("{base}{store}\n"));
            let cfg = p.finish().expect("parses").config;
            let resolve = |_: &str, _: u16| None;
            assert!(
                Engine::from_config(Time::ZERO, &cfg, EngineOptions::default(), &resolve).is_ok(),
                "{store}"
            );
        }
    }
}
