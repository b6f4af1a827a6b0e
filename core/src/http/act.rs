//! `http-request` and `http-response` actions at run time (HAProxy's
//! `http_act.c`, `http_req_get_intercept_rule`,
//! `http_res_get_intercept_rule`), and the HTTP counters of tracked
//! entries (`http_req_cnt`, `http_req_rate`, `http_err_*`, `http_fail_*`).

use std::sync::Arc;

use crate::arena::Id;
use crate::engine::Engine;
use crate::fetch::sample_to_key;
use crate::http::ana::{BodyWait, RuleVerdict};
use crate::http::fetch::{uri_path, HttpCtx};
use crate::http::h1::{self, ReqHead, ResHead};
use crate::rules::{
    HdrMatch, HttpReqAction, HttpResAction, IntOrExpr, Redirect, RedirectKind, Reply, ReplyBody,
    UriPart,
};
use crate::sample::SampleCtx;
use crate::session::bump;
use crate::stick_table::DataType;
use crate::stream::{Dir, Stream};
use crate::tcp_rules::AddrField;
use crate::time::Time;

/// HAProxy's reason phrases for the statuses rules usually produce.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// A page in the shape of HAProxy's error messages (`errmsg`):
/// `content-length`, `cache-control: no-cache`, `content-type`, then
/// `extra` header lines (each ending with CRLF).
pub(crate) fn build_response(
    status: u16,
    content_type: Option<&str>,
    extra: &[u8],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + extra.len() + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"cache-control: no-cache\r\n");
    if let Some(ct) = content_type {
        out.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
    }
    out.extend_from_slice(extra);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The reply of a `return`, or of a `deny` / `tarpit` given a status
/// and a body, laid out as HAProxy's `http_reply_to_htx()` and its H1 mux
/// do: the status line, the rule's `hdr` lines (`extra`), `content-length`
/// (none for a 1xx or 204, which have no body), and `content-type` when
/// there is a body. No `cache-control`: HAProxy adds none.
fn build_reply(status: u16, content_type: Option<&str>, extra: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + extra.len() + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    out.extend_from_slice(extra);
    if !(100..200).contains(&status) && status != 204 {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if let (Some(ct), false) = (content_type, body.is_empty()) {
        out.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Renders a `deny`/`return` reply; `page` is the proxy's `errorfile`
/// for it, when it has one ([`Engine::reply_page`]).
pub(crate) fn render_reply(
    r: &Reply,
    page: Option<crate::http::errors::ProxyError>,
    ctx: &mut dyn SampleCtx,
) -> Vec<u8> {
    match page {
        Some(crate::http::errors::ProxyError::Page(p)) => return p.to_vec(),
        Some(crate::http::errors::ProxyError::Reply(pr)) => return render_reply(&pr, None, ctx),
        None => {}
    }
    if r.body == ReplyBody::ErrorPage && r.hdrs.is_empty() {
        if let Some(page) = h1::error_response(r.status) {
            // The connection may stay open after a deny (the answer says
            // `connection: close` only when it closes: `shape_reply`).
            return without_connection_close(page);
        }
    }
    let mut extra = Vec::new();
    for (name, lf) in &r.hdrs {
        let v = sanitize(lf.render(ctx));
        // A header whose value renders empty is left out
        // (`http_reply_to_htx`).
        if v.is_empty() {
            continue;
        }
        extra.extend_from_slice(name.as_bytes());
        extra.extend_from_slice(b": ");
        extra.extend_from_slice(&v);
        extra.extend_from_slice(b"\r\n");
    }
    let body = match &r.body {
        ReplyBody::Empty | ReplyBody::ErrorPage | ReplyBody::Message(_) => Vec::new(),
        ReplyBody::String(s) => s.clone(),
        ReplyBody::LogFormat(lf) => lf.render(ctx),
    };
    build_reply(r.status, r.content_type.as_deref(), &extra, &body)
}

/// `page` without its `connection: close` line.
fn without_connection_close(page: &[u8]) -> Vec<u8> {
    const LINE: &[u8] = b"connection: close\r\n";
    match page.windows(LINE.len()).position(|w| w == LINE) {
        Some(at) => [&page[..at], &page[at + LINE.len()..]].concat(),
        None => page.to_vec(),
    }
}

/// A header value may not carry CR, LF or NUL: they are dropped.
fn sanitize(mut v: Vec<u8>) -> Vec<u8> {
    v.retain(|&b| b != b'\r' && b != b'\n' && b != 0);
    v
}

/// `redirect location|prefix|scheme`.
fn render_redirect(r: &Redirect, head: &ReqHead, ctx: &mut dyn SampleCtx) -> Vec<u8> {
    let target = String::from_utf8_lossy(&sanitize(r.target.render(ctx))).into_owned();
    let path = uri_path(&head.uri);
    let query = head.uri.split_once('?').map(|(_, q)| q);
    let mut loc = match r.kind {
        RedirectKind::Location => target,
        RedirectKind::Prefix => {
            let mut l = target.trim_end_matches('/').to_string();
            l.push_str(path);
            l
        }
        RedirectKind::Scheme => {
            let host = head
                .headers
                .get("host")
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            format!("{target}://{host}{path}")
        }
    };
    if r.append_slash && !loc.ends_with('/') && r.kind != RedirectKind::Location {
        loc.push('/');
    }
    if !r.drop_query && r.kind != RedirectKind::Location {
        if let Some(q) = query {
            loc.push('?');
            loc.push_str(q);
        }
    }
    // As HAProxy's `http_apply_redirect_rule()`: `content-length: 0`,
    // `location`, `cache-control: no-cache` for the temporary codes only,
    // then the cookie.
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-length: 0\r\nlocation: {loc}\r\n",
        r.code,
        reason(r.code)
    )
    .into_bytes();
    if matches!(r.code, 302 | 303 | 307) {
        out.extend_from_slice(b"cache-control: no-cache\r\n");
    }
    if let Some(c) = &r.set_cookie {
        out.extend_from_slice(format!("set-cookie: {c}; path=/;\r\n").as_bytes());
    }
    if let Some(c) = &r.clear_cookie {
        out.extend_from_slice(format!("set-cookie: {c}; path=/; Max-Age=0;\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `del-header NAME [-m METH]`.
fn del_header(h: &mut h1::Headers, name: &str, how: &HdrMatch) {
    let name_l = name.to_ascii_lowercase();
    h.retain(|n, _| {
        let n = String::from_utf8_lossy(n).to_ascii_lowercase();
        let hit = match how {
            HdrMatch::Str => n == name_l,
            HdrMatch::Beg => n.starts_with(&name_l),
            HdrMatch::End => n.ends_with(&name_l),
            HdrMatch::Sub => n.contains(&name_l),
            HdrMatch::Reg(re) => re.is_match(n.as_bytes()),
        };
        !hit
    });
}

/// What the `http-response` (or `http-after-response`) rules decided.
pub(crate) enum ResVerdict {
    Continue,
    /// `deny`: this reply instead of the response (`PH`).
    Deny(Vec<u8>),
    /// `return`, `redirect`: this reply instead of the response (`LH`).
    Reply(Vec<u8>),
    /// `silent-drop`: close without a word.
    Drop,
    /// `wait-for-body`: resume at this rule (proxy index, rule index).
    Wait((usize, usize)),
    /// `wait-for-body` ran out of time: the server is given up, 504.
    WaitTimeout,
    /// A rewrite did not fit with `strict-mode on`: 500 (`PH`).
    RewriteErr,
}

/// What [`Engine::http_res_verdict`] leaves the response to.
pub(crate) enum ResFlow {
    /// Forward it.
    Next,
    /// A rule answered or the stream was closed.
    Over,
    /// Park the head until more of the body comes (`wait-for-body`).
    Wait((usize, usize)),
}

impl Engine {
    /// Whether a rewrite that may add `grow` bytes to the head in the
    /// buffer of `dir` needs measuring: when the buffer's
    /// free room cannot hold it for sure.
    #[inline]
    fn rw_tight(&self, sid: Id<Stream>, dir: Dir, grow: usize) -> bool {
        let s = &self.streams[sid];
        let b = if dir == Dir::Req {
            &s.req.buf
        } else {
            &s.res.buf
        };
        b.len() + grow > b.capacity()
    }

    /// Whether a head encoded in `len` bytes replaces the `used` bytes of
    /// the one in the buffer of `dir` (HAProxy's free HTX space for a
    /// rewrite, which `tune.maxrewrite` keeps at reception).
    fn rw_fits(&self, sid: Id<Stream>, dir: Dir, used: usize, len: usize) -> bool {
        let s = &self.streams[sid];
        let b = if dir == Dir::Req {
            &s.req.buf
        } else {
            &s.res.buf
        };
        b.len().saturating_sub(used) + len <= b.capacity()
    }

    /// A rewrite did not fit (HAProxy's `fail_rewrite`): with `strict-mode
    /// on` (the default) the message fails, as HAProxy's `ACT_RET_ERR`
    /// with `SF_ERR_PRXCOND`: a request with a 500; `None` when `strict-mode
    /// off` skips it.
    fn rw_failed(&mut self, now: Time, sid: Id<Stream>, dir: Dir) -> Option<RuleVerdict> {
        use crate::http::ana::TxnFlags;
        let soft = if dir == Dir::Req {
            TxnFlags::SOFT_RW_REQ
        } else {
            TxnFlags::SOFT_RW_RES
        };
        let t = self.streams.get(sid)?.txn.as_ref()?;
        if t.flags.contains(soft) {
            return None;
        }
        if dir == Dir::Req {
            self.http_reply_error(
                now,
                sid,
                500,
                crate::stream::ErrCode::PrxCond,
                crate::stream::FinSt::Req,
            );
        }
        Some(RuleVerdict::Answered)
    }

    /// Runs the `http-request` rules of proxy `px` (the frontend, or the
    /// backend once chosen: HAProxy's `http_process_req_common` for
    /// `AN_REQ_HTTP_PROCESS_FE` then `_BE`). Rules inherited from a
    /// named defaults section come first.
    #[inline(always)]
    pub(crate) fn http_req_rules(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        px: crate::proxy::ProxyId,
        p: &mut crate::http::ana::PendingReq,
        from: usize,
        resume: bool,
    ) -> RuleVerdict {
        // Checked here, inlined: most proxies have none.
        if self.proxies[px].rules.http_req.is_empty() {
            return RuleVerdict::Continue;
        }
        self.http_req_rules_run(now, sid, px, p, from, resume)
    }

    /// [`Engine::http_req_rules`] for a proxy that has some.
    fn http_req_rules_run(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        px: crate::proxy::ProxyId,
        p: &mut crate::http::ana::PendingReq,
        from: usize,
        resume: bool,
    ) -> RuleVerdict {
        let rules = Arc::clone(&self.proxies[px].rules);
        for (i, rule) in rules.http_req.iter().enumerate().skip(from) {
            let head = &mut p.head;
            // A rule that yielded runs again without its condition
            // (HAProxy's `resume_execution`).
            let applies = (resume && i == from) || {
                let mut ctx = HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px);
                rule.cond.as_ref().is_none_or(|c| c.matches(&mut ctx))
            };
            if !applies {
                continue;
            }
            if rule.action.is_final() {
                self.streams[sid].set_last_rule(&rule.file, rule.line);
            }
            match &rule.action {
                HttpReqAction::Allow => return RuleVerdict::Continue,
                HttpReqAction::Deny(r) => {
                    self.count_denied_req(sid);
                    let page = self.reply_page(sid, r);
                    let mut ctx = HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px);
                    return RuleVerdict::Reply(render_reply(r, page, &mut ctx), true);
                }
                HttpReqAction::Tarpit(r) => {
                    self.count_denied_req(sid);
                    let page = self.reply_page(sid, r);
                    let mut ctx = HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px);
                    return RuleVerdict::Tarpit(render_reply(r, page, &mut ctx));
                }
                HttpReqAction::Return(r) => {
                    let page = self.reply_page(sid, r);
                    let mut ctx = HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px);
                    return RuleVerdict::Reply(render_reply(r, page, &mut ctx), false);
                }
                HttpReqAction::Redirect(r) => {
                    let mut ctx = HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px);
                    return RuleVerdict::Reply(render_redirect(r, head, &mut ctx), false);
                }
                HttpReqAction::UseService(crate::rules::Service::PrometheusExporter) => {
                    return RuleVerdict::Reply(self.promex_reply(now, &head.uri), false);
                }
                HttpReqAction::Auth { realm } => {
                    let realm = realm
                        .clone()
                        .unwrap_or_else(|| self.proxies[px].name.clone());
                    let extra = format!("www-authenticate: Basic realm=\"{realm}\"\r\n");
                    let body = b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
                    // Logged `LR` as in HAProxy 2.6 (a local answer).
                    return RuleVerdict::Reply(
                        build_response(401, Some("text/html"), extra.as_bytes(), body),
                        false,
                    );
                }
                HttpReqAction::Reject => {
                    self.count_denied_req(sid);
                    return RuleVerdict::Reject;
                }
                HttpReqAction::SilentDrop => {
                    self.count_denied_req(sid);
                    return RuleVerdict::Drop;
                }
                HttpReqAction::SetTimeout { which, value } => {
                    let v = match value {
                        IntOrExpr::Int(v) => Some(*v),
                        IntOrExpr::Expr(e) => e
                            .eval(
                                &mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px),
                            )
                            .and_then(|s| s.as_int()),
                    };
                    // HAProxy ignores a failed expression; the value is
                    // in ms, clamped to what a timeout can hold.
                    if let (Some(v), Some(s)) = (v, self.streams.get_mut(sid)) {
                        let ms = u32::try_from(v.max(0)).unwrap_or(u32::MAX);
                        match which {
                            crate::rules::TimeoutKind::Server => s.timeout_server = Some(ms),
                            crate::rules::TimeoutKind::Tunnel => s.timeout_tunnel = Some(ms),
                        }
                    }
                }
                HttpReqAction::SetLogLevel(l) => {
                    if let Some(s) = self.streams.get_mut(sid) {
                        s.log_level = Some(*l);
                    }
                }
                HttpReqAction::DisableL7Retry => {
                    if let Some(t) = self.streams.get_mut(sid).and_then(|s| s.txn.as_mut()) {
                        t.flags.remove(crate::http::ana::TxnFlags::L7_RETRY);
                        t.flags |= crate::http::ana::TxnFlags::NO_L7_RETRY;
                    }
                }
                HttpReqAction::WaitForBody { time_ms, at_least } => {
                    let to = Some(u64::from(*time_ms));
                    match self.http_wait_for_body(now, sid, p, to, *at_least) {
                        BodyWait::Cont => {}
                        BodyWait::Yield => return RuleVerdict::Yield(i),
                        BodyWait::Abort => return RuleVerdict::Answered,
                    }
                }
                HttpReqAction::Capture { expr, id, .. } => {
                    let v = expr
                        .eval(&mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px))
                        .and_then(|v| v.into_bytes());
                    self.capture_sample(sid, &rule.file, rule.line, *id, v);
                }
                HttpReqAction::StrictMode(on) => {
                    if let Some(t) = self.streams.get_mut(sid).and_then(|s| s.txn.as_mut()) {
                        t.flags.set(crate::http::ana::TxnFlags::SOFT_RW_REQ, !on);
                    }
                }
                HttpReqAction::SetHeader { name, value }
                | HttpReqAction::AddHeader { name, value } => {
                    let v = sanitize(value.render(
                        &mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px),
                    ));
                    // `name: value\r\n` at most.
                    let grow = name.len() + v.len() + 4;
                    let tight = self.rw_tight(sid, Dir::Req, p.rw_grow + grow);
                    let saved = tight.then(|| p.head.headers.clone());
                    let head = &mut p.head;
                    if matches!(rule.action, HttpReqAction::SetHeader { .. }) {
                        let _ = head.headers.set(name, &v);
                    } else {
                        let _ = head.headers.add(name, &v);
                    }
                    p.rw_grow += grow;
                    if let Some(saved) = saved {
                        let mut out = std::mem::take(&mut self.head_out);
                        out.clear();
                        p.head.encode(&mut out);
                        let fits = self.rw_fits(sid, Dir::Req, p.used, out.len());
                        self.head_out = out;
                        if !fits {
                            // HAProxy's `fail_rewrite`: the header is not
                            // added; in strict mode the request fails.
                            p.head.headers = saved;
                            if let Some(verdict) = self.rw_failed(now, sid, Dir::Req) {
                                return verdict;
                            }
                        }
                    }
                }
                HttpReqAction::DelHeader { name, how } => del_header(&mut head.headers, name, how),
                HttpReqAction::SetPath(lf)
                | HttpReqAction::SetPathQ(lf)
                | HttpReqAction::SetQuery(lf)
                | HttpReqAction::SetUri(lf) => {
                    let v = String::from_utf8_lossy(&sanitize(lf.render(
                        &mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px),
                    )))
                    .into_owned();
                    let v: String = v.chars().filter(|c| c.is_ascii_graphic()).collect();
                    let query = head.uri.split_once('?').map(|(_, q)| q.to_string());
                    // The scheme and authority of an absolute URI stay.
                    let prefix = split_uri(&head.uri).0.to_string();
                    head.uri = match (&rule.action, query) {
                        (HttpReqAction::SetPath(_), Some(q)) => format!("{prefix}{v}?{q}"),
                        (HttpReqAction::SetPath(_) | HttpReqAction::SetPathQ(_), _) => {
                            format!("{prefix}{v}")
                        }
                        (HttpReqAction::SetQuery(_), _) => {
                            format!("{prefix}{}?{v}", uri_path(&head.uri))
                        }
                        _ => v,
                    };
                    if head.uri.is_empty() {
                        head.uri = "/".into();
                    }
                    if matches!(rule.action, HttpReqAction::SetUri(_)) {
                        update_host(head);
                    }
                }
                HttpReqAction::ReplaceUri(r) => {
                    let uri = head.uri.clone();
                    let (prefix, pathq) = split_uri(&uri);
                    let (subject, tail) = match r.part {
                        UriPart::Uri => (uri.as_str(), ""),
                        UriPart::PathQ => (pathq, ""),
                        UriPart::Path => pathq.split_at(pathq.find('?').unwrap_or(pathq.len())),
                    };
                    if let Some(caps) = r.re.inner().captures(subject.as_bytes()) {
                        let fmt = r.fmt.render(
                            &mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px),
                        );
                        let mut out = Vec::new();
                        crate::sample::expand_subst(&fmt, &caps, &mut out);
                        let v: String = String::from_utf8_lossy(&out)
                            .chars()
                            .filter(|c| c.is_ascii_graphic())
                            .collect();
                        head.uri = match r.part {
                            UriPart::Uri => v,
                            _ => format!("{prefix}{v}{tail}"),
                        };
                        if head.uri.is_empty() {
                            head.uri = "/".into();
                        }
                    }
                }
                HttpReqAction::ReplaceHeader(r) => {
                    let fmt = r.fmt.render(
                        &mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px),
                    );
                    replace_header(&mut head.headers, r, &fmt);
                }
                HttpReqAction::SetMethod(lf) => {
                    let v = String::from_utf8_lossy(&lf.render(
                        &mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px),
                    ))
                    .into_owned();
                    if !v.is_empty()
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                    {
                        head.method = h1::Method::from_token(&v);
                    }
                }
                HttpReqAction::SetVar(sv) => {
                    let v = sv
                        .eval(&mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px));
                    let sess = self.streams[sid].sess;
                    // A sample that fails leaves the variable as it was
                    // (HAProxy's `action_store`).
                    if let Some(v) = v {
                        self.var_set_cond(sess, Some(sid), &sv.var, v, sv.cond);
                    }
                }
                HttpReqAction::UnsetVar(var) => {
                    let sess = self.streams[sid].sess;
                    self.var_set(sess, Some(sid), var, None);
                }
                HttpReqAction::TrackSc(t) => {
                    let key = t
                        .key
                        .eval(&mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px));
                    self.http_track_sc(now, sid, t.ctr, t.table.id, key);
                }
                HttpReqAction::ScIncGpc(g) => {
                    let sess = self.streams[sid].sess;
                    self.sc_inc_gpc(now, sess, g.ctr, g.data, usize::from(g.idx));
                }
                HttpReqAction::ScSetGpt(g) => {
                    let v = match &g.value {
                        IntOrExpr::Int(v) => Some(*v),
                        IntOrExpr::Expr(e) => e
                            .eval(
                                &mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px),
                            )
                            .and_then(|s| s.as_int()),
                    };
                    if let Some(v) = v {
                        let sess = self.streams[sid].sess;
                        self.sc_set_gpt(now, sess, g.ctr, g.data, usize::from(g.idx), v);
                    }
                }
                HttpReqAction::SetSrc(e)
                | HttpReqAction::SetDst(e)
                | HttpReqAction::SetSrcPort(e)
                | HttpReqAction::SetDstPort(e) => {
                    let v =
                        e.eval(&mut HttpCtx::new(self, now, sid, Some(&*head), None).for_proxy(px));
                    let sess = self.streams[sid].sess;
                    let which = match rule.action {
                        HttpReqAction::SetSrc(_) => AddrField::SrcIp,
                        HttpReqAction::SetDst(_) => AddrField::DstIp,
                        HttpReqAction::SetSrcPort(_) => AddrField::SrcPort,
                        _ => AddrField::DstPort,
                    };
                    self.set_addr(crate::tcp_rules::AddrLevel::Stream(sid), sess, which, v);
                }
            }
        }
        RuleVerdict::Continue
    }

    /// Runs the `redirect` rules of proxy `px` (HAProxy's
    /// `redirect_rules`, after the `http-request` rules and the stats
    /// check in `http_process_req_common`): the first that applies
    /// answers.
    #[inline(always)]
    pub(crate) fn http_redirect_rules(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        px: crate::proxy::ProxyId,
        head: &ReqHead,
    ) -> RuleVerdict {
        // Checked here, inlined: most proxies have none.
        if self.proxies[px].rules.redirects.is_empty() {
            return RuleVerdict::Continue;
        }
        self.http_redirect_rules_run(now, sid, px, head)
    }

    /// [`Engine::http_redirect_rules`] for a proxy that has some.
    fn http_redirect_rules_run(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        px: crate::proxy::ProxyId,
        head: &ReqHead,
    ) -> RuleVerdict {
        let rules = Arc::clone(&self.proxies[px].rules);
        for rule in &rules.redirects {
            let mut ctx = HttpCtx::new(self, now, sid, Some(head), None).for_proxy(px);
            if !rule.cond.as_ref().is_none_or(|c| c.matches(&mut ctx)) {
                continue;
            }
            if let HttpReqAction::Redirect(r) = &rule.action {
                return RuleVerdict::Reply(render_redirect(r, head, &mut ctx), false);
            }
        }
        RuleVerdict::Continue
    }

    /// The proxies whose response rules run, in HAProxy's order: the
    /// backend's, then the frontend's when it is another proxy.
    fn res_rule_proxies(&self, sid: Id<Stream>) -> impl Iterator<Item = crate::proxy::ProxyId> {
        let (fe, be) = (self.streams[sid].fe, self.streams[sid].be);
        core::iter::once(be).chain((fe != be).then_some(fe))
    }

    /// Runs the `http-response` rules (`after`: the `http-after-response`
    /// ones) of the backend then the frontend on `head`.
    pub(crate) fn http_res_rules(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        head: &mut ResHead,
        after: bool,
        resume: Option<(usize, usize)>,
    ) -> ResVerdict {
        let none = self.res_rule_proxies(sid).all(|px| {
            let r = &self.proxies[px].rules;
            if after {
                r.http_after_res.is_empty()
            } else {
                r.http_res.is_empty()
            }
        });
        if none {
            return ResVerdict::Continue;
        }
        let req = self.streams[sid]
            .txn
            .as_mut()
            .and_then(|t| t.req_head.take());
        let mut verdict = ResVerdict::Continue;
        // The head's bytes in the buffer (0: a reply the proxy made, not
        // measured) and what rewrites may have added to it.
        let used =
            self.streams[sid].txn.as_ref().map_or(0, |t| t.res_head_len) * usize::from(!after);
        let mut rw_grow = 0;
        let pxs: Vec<crate::proxy::ProxyId> = self.res_rule_proxies(sid).collect();
        let (from_px, from_rule) = resume.unwrap_or((0, 0));
        'outer: for (pi, px) in pxs.into_iter().enumerate().skip(from_px) {
            let rules = Arc::clone(&self.proxies[px].rules);
            let list = if after {
                &rules.http_after_res
            } else {
                &rules.http_res
            };
            let skip = if pi == from_px { from_rule } else { 0 };
            for (ri, rule) in list.iter().enumerate().skip(skip) {
                let applies = {
                    let mut ctx =
                        HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head)).for_proxy(px);
                    rule.cond.as_ref().is_none_or(|c| c.matches(&mut ctx))
                };
                if !applies {
                    continue;
                }
                if rule.action.is_final() {
                    self.streams[sid].set_last_rule(&rule.file, rule.line);
                }
                match &rule.action {
                    // `allow` ends this proxy's rules; the next proxy's run.
                    HttpResAction::Allow => break,
                    HttpResAction::SetLogLevel(l) => {
                        if let Some(s) = self.streams.get_mut(sid) {
                            s.log_level = Some(*l);
                        }
                    }
                    HttpResAction::Capture { expr, id } => {
                        let v = expr
                            .eval(
                                &mut HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head))
                                    .for_proxy(px),
                            )
                            .and_then(|v| v.into_bytes());
                        self.capture_res_sample(sid, *id, v);
                    }
                    HttpResAction::Deny(r) => {
                        let mut r = r.clone();
                        if r.status == 0 {
                            r.status = 502;
                        }
                        let page = self.reply_page(sid, &r);
                        let mut ctx =
                            HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head)).for_proxy(px);
                        verdict = ResVerdict::Deny(render_reply(&r, page, &mut ctx));
                        break 'outer;
                    }
                    HttpResAction::Return(r) => {
                        let page = self.reply_page(sid, r);
                        let mut ctx =
                            HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head)).for_proxy(px);
                        verdict = ResVerdict::Reply(render_reply(r, page, &mut ctx));
                        break 'outer;
                    }
                    HttpResAction::Redirect(r) => {
                        let empty = ReqHead {
                            method: h1::Method::GET,
                            uri: "/".into(),
                            version: h1::Version::Http11,
                            headers: h1::Headers::new(),
                            flags: h1::MsgFlags::empty(),
                        };
                        let rh = req.as_ref().unwrap_or(&empty);
                        let mut ctx =
                            HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head)).for_proxy(px);
                        verdict = ResVerdict::Reply(render_redirect(r, rh, &mut ctx));
                        break 'outer;
                    }
                    HttpResAction::SilentDrop => {
                        verdict = ResVerdict::Drop;
                        break 'outer;
                    }
                    HttpResAction::WaitForBody { time_ms, at_least } => {
                        match self.http_res_wait_for_body(now, sid, *time_ms, *at_least) {
                            Some(true) => {}
                            Some(false) => {
                                verdict = ResVerdict::Wait((pi, ri));
                                break 'outer;
                            }
                            None => {
                                verdict = ResVerdict::WaitTimeout;
                                break 'outer;
                            }
                        }
                    }
                    HttpResAction::SetHeader { name, value }
                    | HttpResAction::AddHeader { name, value } => {
                        let v = sanitize(
                            value.render(
                                &mut HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head))
                                    .for_proxy(px),
                            ),
                        );
                        let grow = name.len() + v.len() + 4;
                        rw_grow += grow;
                        let saved = (used > 0 && self.rw_tight(sid, Dir::Res, rw_grow))
                            .then(|| head.headers.clone());
                        if matches!(rule.action, HttpResAction::SetHeader { .. }) {
                            let _ = head.headers.set(name, &v);
                        } else {
                            let _ = head.headers.add(name, &v);
                        }
                        if let Some(saved) = saved {
                            let mut out = std::mem::take(&mut self.head_out);
                            out.clear();
                            head.encode(&mut out);
                            let fits = self.rw_fits(sid, Dir::Res, used, out.len());
                            self.head_out = out;
                            if !fits {
                                head.headers = saved;
                                if self.rw_failed(now, sid, Dir::Res).is_some() {
                                    verdict = ResVerdict::RewriteErr;
                                    break 'outer;
                                }
                            }
                        }
                    }
                    HttpResAction::StrictMode(on) => {
                        if let Some(t) = self.streams.get_mut(sid).and_then(|s| s.txn.as_mut()) {
                            t.flags.set(crate::http::ana::TxnFlags::SOFT_RW_RES, !on);
                        }
                    }
                    HttpResAction::DelHeader { name, how } => {
                        del_header(&mut head.headers, name, how)
                    }
                    HttpResAction::ReplaceHeader(r) => {
                        let fmt = r.fmt.render(
                            &mut HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head))
                                .for_proxy(px),
                        );
                        replace_header(&mut head.headers, r, &fmt);
                    }
                    HttpResAction::SetStatus { status, reason: r } => {
                        head.status = *status;
                        head.reason = r.clone().unwrap_or_else(|| reason(*status).to_string());
                    }
                    HttpResAction::SetVar(sv) => {
                        let v = sv.eval(
                            &mut HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head))
                                .for_proxy(px),
                        );
                        let sess = self.streams[sid].sess;
                        // A sample that fails leaves the variable as it was
                        // (HAProxy's `action_store`).
                        if let Some(v) = v {
                            self.var_set_cond(sess, Some(sid), &sv.var, v, sv.cond);
                        }
                    }
                    HttpResAction::UnsetVar(var) => {
                        let sess = self.streams[sid].sess;
                        self.var_set(sess, Some(sid), var, None);
                    }
                    HttpResAction::TrackSc(t) => {
                        let key = t.key.eval(
                            &mut HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head))
                                .for_proxy(px),
                        );
                        self.http_track_sc(now, sid, t.ctr, t.table.id, key);
                    }
                    HttpResAction::ScIncGpc(g) => {
                        let sess = self.streams[sid].sess;
                        self.sc_inc_gpc(now, sess, g.ctr, g.data, usize::from(g.idx));
                    }
                    HttpResAction::ScSetGpt(g) => {
                        let v = match &g.value {
                            IntOrExpr::Int(v) => Some(*v),
                            IntOrExpr::Expr(e) => e
                                .eval(
                                    &mut HttpCtx::new(self, now, sid, req.as_ref(), Some(&*head))
                                        .for_proxy(px),
                                )
                                .and_then(|s| s.as_int()),
                        };
                        if let Some(v) = v {
                            let sess = self.streams[sid].sess;
                            self.sc_set_gpt(now, sess, g.ctr, g.data, usize::from(g.idx), v);
                        }
                    }
                }
            }
        }
        if let Some(t) = self.streams[sid].txn.as_mut() {
            t.req_head = req;
        }
        verdict
    }

    /// `http-after-response` rules on a response the proxy made (`deny`,
    /// `return`, redirects, error pages), as HAProxy's
    /// `http_reply_message` runs them: the reply is parsed, rewritten and
    /// re-encoded. Unchanged when no proxy of the stream has such rules, or
    /// when a rule would replace it (those actions are not allowed there).
    pub(crate) fn http_after_res_on_reply(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        bytes: &[u8],
    ) -> Option<Vec<u8>> {
        let mux_reply = self
            .streams
            .get(sid)
            .and_then(|s| s.txn.as_ref())
            .is_some_and(|t| t.flags.contains(crate::http::ana::TxnFlags::MUX_REPLY));
        if mux_reply {
            return None;
        }
        let any = self
            .res_rule_proxies(sid)
            .any(|px| !self.proxies[px].rules.http_after_res.is_empty());
        if !any {
            return None;
        }
        let opts = h1::ParseOptions::default();
        let Ok(h1::Status::Complete((mut head, used))) = h1::parse_response(bytes, &opts) else {
            return None;
        };
        match self.http_res_rules(now, sid, &mut head, true, None) {
            ResVerdict::Continue => {}
            _ => return None,
        }
        let mut out = Vec::with_capacity(bytes.len() + 64);
        head.encode(&mut out);
        out.extend_from_slice(&bytes[used..]);
        Some(out)
    }

    /// A request denied by a rule (`dreq`): on the frontend, and on the
    /// backend once one is assigned (HAProxy's `deny:` of
    /// `http_process_req_common`).
    pub(crate) fn count_denied_req(&mut self, sid: Id<Stream>) {
        let (fe, be, assigned) = {
            let s = &self.streams[sid];
            (
                s.fe,
                s.be,
                s.flags.contains(crate::stream::SfFlags::BE_ASSIGNED),
            )
        };
        if let Some(f) = self.proxies[fe].fe.as_mut() {
            f.denied_req += 1;
        }
        if assigned {
            if let Some(b) = self.proxies[be].be.as_mut() {
                b.denied_req += 1;
            }
        }
    }

    /// A response denied by a rule (`dresp`): on the frontend, the backend
    /// and the server.
    pub(crate) fn count_denied_resp(&mut self, sid: Id<Stream>) {
        let (fe, be, srv) = {
            let s = &self.streams[sid];
            (s.fe, s.be, s.srv)
        };
        if let Some(f) = self.proxies[fe].fe.as_mut() {
            f.denied_resp += 1;
        }
        if let Some(b) = self.proxies[be].be.as_mut() {
            b.denied_resp += 1;
            if let Some(i) = srv {
                b.servers[i].denied_resp += 1;
            }
        }
    }

    /// `http-request track-scN`: tracks in the session's counter slot, and
    /// counts the current request on the entry (HAProxy counts a request
    /// on every tracker once, when it arrives or when tracking starts).
    fn http_track_sc(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        ctr: u8,
        table: Option<crate::stick_table::TableId>,
        key: Option<crate::sample::Sample>,
    ) {
        let Some(table) = table else { return };
        let Some(key) = key else { return };
        let Some(params) = self.tables.get(table).map(|t| t.params().clone()) else {
            return;
        };
        let Some(key) = sample_to_key(&params, key) else {
            return;
        };
        let sess = self.streams[sid].sess;
        let slot = usize::from(ctr);
        let Some(se) = self.sessions.get_mut(sess) else {
            return;
        };
        if slot >= se.stkctr.len() || se.stkctr[slot].is_some() {
            return;
        }
        let Some(t) = self.tables.get_mut(table) else {
            return;
        };
        let Some(e) = t.get_or_create(now, key) else {
            return;
        };
        t.acquire(e);
        // HAProxy's `stream_track_stkctr` -> `stream_start_counters`:
        // the connection is counted on the entry as for the other rules.
        bump(t, e, DataType::CONN_CNT, 1);
        bump(t, e, DataType::CONN_CUR, 1);
        let _ = t.update_freq(now, e, DataType::CONN_RATE, 0, 1);
        bump(t, e, DataType::HTTP_REQ_CNT, 1);
        let _ = t.update_freq(now, e, DataType::HTTP_REQ_RATE, 0, 1);
        t.touch_local(now, e);
        if let Some(se) = self.sessions.get_mut(sess) {
            se.stkctr[slot] = Some(crate::session::StkCtr { table, entry: e });
            se.conn_cur_counted = true;
        }
    }

    /// A request arrived: every tracked entry counts it.
    pub(crate) fn count_http_req(&mut self, now: Time, sid: Id<Stream>) {
        self.count_on_trackers(now, sid, DataType::HTTP_REQ_CNT, DataType::HTTP_REQ_RATE);
    }

    /// A response status: 4xx counts as an HTTP error, 5xx as a failure.
    pub(crate) fn count_http_status(&mut self, now: Time, sid: Id<Stream>, status: u16) {
        match status {
            400..=499 => {
                self.count_on_trackers(now, sid, DataType::HTTP_ERR_CNT, DataType::HTTP_ERR_RATE)
            }
            500..=599 if status != 501 && status != 505 => {
                self.count_on_trackers(now, sid, DataType::HTTP_FAIL_CNT, DataType::HTTP_FAIL_RATE)
            }
            _ => {}
        }
    }

    fn count_on_trackers(&mut self, now: Time, sid: Id<Stream>, cnt: DataType, rate: DataType) {
        let Some(sess) = self.streams.get(sid).map(|s| s.sess) else {
            return;
        };
        let Some(se) = self.sessions.get(sess) else {
            return;
        };
        for c in se.stkctr.into_iter().flatten() {
            let Some(t) = self.tables.get_mut(c.table) else {
                continue;
            };
            bump(t, c.entry, cnt, 1);
            let _ = t.update_freq(now, c.entry, rate, 0, 1);
            t.touch_local(now, c.entry);
        }
    }
}

impl Engine {
    /// The `http-response` then `http-after-response` rules on a server's
    /// response head (HAProxy's `http_process_res_common`); `true` when a
    /// rule answered instead (`deny`: `PH`, `return`/`redirect`: `LH`) or
    /// dropped the connection.
    pub(crate) fn http_res_verdict(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        head: &mut ResHead,
        resume: Option<(usize, usize)>,
    ) -> ResFlow {
        use crate::http::ana::TxnFlags;
        use crate::stream::{ErrCode, FinSt};
        if resume.is_none() {
            // `stick store-response` first (`AN_RES_STORE_RULES`).
            self.stick_store(now, sid, Some(&*head));
        }
        let (bytes, err) = match self.http_res_rules(now, sid, head, false, resume) {
            ResVerdict::Continue => {
                // Only header and status actions exist there: no answer.
                let _ = self.http_res_rules(now, sid, head, true, None);
                return ResFlow::Next;
            }
            ResVerdict::Wait(at) => return ResFlow::Wait(at),
            ResVerdict::WaitTimeout => {
                // HAProxy's `http_wait_for_msg_body` on the response: the
                // server took too long, `sH`, 504.
                if let Some(t) = self.streams[sid].txn.as_mut() {
                    t.t_res_head = None;
                }
                self.http_server_error(now, sid, 504, ErrCode::SrvTo, FinSt::Headers);
                return ResFlow::Over;
            }
            ResVerdict::Deny(b) => {
                self.count_denied_resp(sid);
                (b, ErrCode::PrxCond)
            }
            ResVerdict::Reply(b) => (b, ErrCode::Local),
            ResVerdict::RewriteErr => {
                // HAProxy's `return_int_err`: a 500, the server's response
                // dropped with its connection.
                if let Some(t) = self.streams[sid].txn.as_mut() {
                    t.flags |= TxnFlags::SRV_CLOSE;
                    t.t_res_head = None;
                }
                self.back_close(now, sid, crate::sock::CloseHow::Reset);
                self.http_reply_error(now, sid, 500, ErrCode::PrxCond, FinSt::Headers);
                return ResFlow::Over;
            }
            ResVerdict::Drop => {
                self.count_denied_resp(sid);
                let s = &mut self.streams[sid];
                s.set_term(ErrCode::PrxCond, FinSt::Headers);
                self.http_abort(now, sid);
                return ResFlow::Over;
            }
        };
        let s = &mut self.streams[sid];
        s.set_term(err, FinSt::Headers);
        if let Some(t) = s.txn.as_mut() {
            t.flags |= TxnFlags::SRV_CLOSE;
            // The response was not processed to its end: no `Tr` (HAProxy
            // logs -1).
            t.t_res_head = None;
        }
        // The server's response is dropped with its connection; the client
        // connection stays open for the next request, as HAProxy 2.6 keeps
        // it after an `http-response deny` or `redirect`.
        self.http_reply(now, sid, &bytes, false, 0, h1::BodyLen::None);
        ResFlow::Over
    }

    /// `http-response wait-for-body time T [at-least N]` (HAProxy's
    /// `http_wait_for_msg_body` on the response): `Some(true)` once the
    /// whole body is in the buffer, `N` payload bytes are, the buffer is
    /// full or the server closed; `Some(false)` to wait (until `T` after
    /// the first wait); `None` when `T` ran out first.
    fn http_res_wait_for_body(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        time_ms: u32,
        at_least: u64,
    ) -> Option<bool> {
        let s = self.streams.get_mut(sid)?;
        let txn = s.txn.as_ref()?;
        let body = txn.rsp.body;
        if matches!(
            body,
            h1::BodyLen::None | h1::BodyLen::Length(0) | h1::BodyLen::Tunnel
        ) {
            return Some(true);
        }
        let start = (s.res.output + txn.res_head_len).min(s.res.buf.len());
        let raw = &s.res.buf.data()[start..];
        let (len, complete) = crate::http::ana::body_in_buffer(body, raw, h1::Side::Response, None);
        let full = !s.res.buf.is_null() && s.res.recv_room() == 0;
        if complete || full || (at_least > 0 && len >= at_least) || s.res.shutr() {
            s.res.analyse_exp = None;
            return Some(true);
        }
        if crate::time::Time::is_expired(s.res.analyse_exp, now) {
            s.res.analyse_exp = None;
            return None;
        }
        if s.res.analyse_exp.is_none() {
            s.res.analyse_exp = Some(now.add_ms(u64::from(time_ms)));
        }
        Some(false)
    }
}

impl Engine {
    /// `http-request capture`: the value goes to slot `id`, or to the slot
    /// the rule's own line declared (`len`), cut to the slot's length. A
    /// slot that does not exist takes nothing.
    fn capture_sample(
        &mut self,
        sid: Id<Stream>,
        file: &str,
        line: u32,
        id: Option<usize>,
        v: Option<Vec<u8>>,
    ) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let caps = &self.proxies[s.fe].logcfg.req_cap;
        let idx = id.or_else(|| {
            caps.iter().position(|c| {
                c.rule
                    .as_ref()
                    .is_some_and(|(f, l)| f == file && *l == line)
            })
        });
        let Some((i, slot)) = idx.and_then(|i| caps.get(i).map(|c| (i, c))) else {
            return;
        };
        let cap = &mut s.logx.get_or_insert_with(Default::default).req_cap;
        if cap.len() < caps.len() {
            cap.resize(caps.len(), None);
        }
        cap[i] = v.map(|mut v| {
            v.truncate(slot.len);
            v
        });
    }
}

impl Engine {
    /// `http-response capture .. id N`: the value goes to the frontend's
    /// response slot `N`, cut to its length; no such slot, or no value,
    /// takes nothing (HAProxy's `http_action_res_capture_by_id`).
    fn capture_res_sample(&mut self, sid: Id<Stream>, id: usize, v: Option<Vec<u8>>) {
        let (Some(s), Some(mut v)) = (self.streams.get_mut(sid), v) else {
            return;
        };
        let caps = &self.proxies[s.fe].logcfg.res_cap;
        let Some(slot) = caps.get(id) else {
            return;
        };
        v.truncate(slot.len);
        let n = caps.len();
        let cap = &mut s.logx.get_or_insert_with(Default::default).res_cap;
        if cap.len() < n {
            cap.resize(n, None);
        }
        cap[id] = Some(v);
    }
}

/// The scheme and authority of an absolute-form URI (`http://host`), and
/// the path with its query (`/a?b`, empty when there is none: `*`, or an
/// absolute URI without a path), as HAProxy's `http_get_path` splits it.
///
/// A target with neither (`*`, `host/a`: only a `set-uri` makes one) is
/// all path: HAProxy's `http_replace_req_path` replaces the whole of it
/// when `http_parse_path` finds no path.
pub(crate) fn split_uri(uri: &str) -> (&str, &str) {
    if uri.starts_with('/') {
        return ("", uri);
    }
    match uri.find("://") {
        Some(i) => match uri[i + 3..].find('/') {
            Some(j) => uri.split_at(i + 3 + j),
            None => (uri, ""),
        },
        None => ("", uri),
    }
}

/// After a `set-uri`, a target with an authority (absolute form, or
/// anything but a path or `*`) gives its authority, userinfo left out, to
/// every `Host` field there is (none is added). HAProxy's
/// `http_update_host`; an empty authority leaves `Host` alone (HAProxy
/// counts a failed rewrite).
pub(crate) fn update_host(head: &mut h1::ReqHead) {
    let uri = head.uri.as_str();
    if uri.starts_with('/') || uri == "*" {
        return;
    }
    let authority = if head.method == h1::Method::CONNECT {
        uri
    } else {
        let rest = uri.find("://").map_or(uri, |i| &uri[i + 3..]);
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let rest = &rest[..end];
        rest.rfind('@').map_or(rest, |at| &rest[at + 1..])
    };
    if authority.is_empty() {
        return;
    }
    let authority = authority.as_bytes().to_vec();
    let _ = head.headers.map_values(b"host", |v| {
        (v != authority.as_slice()).then(|| authority.clone())
    });
}

/// `replace-header` (the whole value) and `replace-value` (each
/// comma-separated value; a replaced one loses the blanks around it) of
/// HAProxy's `http_replace_hdrs`: a value the regex matches (anywhere)
/// becomes `fmt` with the regex's groups put in.
fn replace_header(h: &mut h1::Headers, r: &crate::rules::ReplaceHeader, fmt: &[u8]) {
    let one = |v: &[u8]| -> Option<Vec<u8>> {
        let caps = r.re.inner().captures(v)?;
        let mut out = Vec::new();
        crate::sample::expand_subst(fmt, &caps, &mut out);
        Some(out)
    };
    let _ = h.map_values(r.name.as_bytes(), |v| {
        if r.full {
            return one(v);
        }
        let mut out = Vec::with_capacity(v.len());
        let mut changed = false;
        for (i, part) in v.split(|&b| b == b',').enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let start = part
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(part.len());
            let end = part
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(start, |e| e + 1);
            match one(&part[start..end]) {
                // The blanks around a replaced value go with it
                // (`lws_before`, `lws_after`).
                Some(n) => {
                    out.extend_from_slice(&n);
                    changed = true;
                }
                None => out.extend_from_slice(part),
            }
        }
        changed.then_some(out)
    });
}
