//! Traffic logs: HAProxy's TCP log format (`option tcplog`, `log.c`).
//!
//! ```text
//! %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
//! 127.0.0.1:41442 [22/Nov/2026:10:01:02.003] fe be/s1 0/1/5006 2100 -- 1/1/0/0/0 0/0
//! ```
//!
//! One line per ended connection. Sluice emits it for every TCP-mode proxy
//! that has a `log` line, even without `option tcplog`: HAProxy's default
//! there is a "Connect from" line at accept time, which carries neither the
//! server nor the termination state.

pub mod format;
pub mod syslog;

use core::fmt::Write as _;

use crate::arena::Id;
use crate::engine::Engine;
use crate::sock::LogLevel;
use crate::stream::{ErrCode, Stream};
use crate::time::{fmt_date, Time};

impl Engine {
    /// Logs a finished stream, if its frontend logs. The stream is still
    /// in the arena (a `%[expr]` of a `log-format` reads it), its
    /// backend connection count already released.
    pub(crate) fn stream_log(&mut self, now: Time, sid: Id<Stream>) {
        self.stream_log_at(now, sid, false);
    }

    /// `option logasap`: logs the stream now, before its end, when its
    /// frontend asks for it: an HTTP stream once the server's response
    /// headers are processed (HAProxy's `http_process_res_common`), a TCP
    /// stream once its server connection is established (`back_establish`).
    /// `%Tt`/`%Ta` then end now and `%B` counts what came so far. The line
    /// is emitted once: the stream's end does not log again.
    pub(crate) fn stream_log_asap(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        if self.proxies[s.fe].logasap {
            self.stream_log_at(now, sid, true);
        }
    }

    fn stream_log_at(&mut self, now: Time, sid: Id<Stream>, early: bool) {
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        if s.flags.contains(crate::stream::SfFlags::LOGGED) {
            return;
        }
        let fe = &self.proxies[s.fe];
        if !fe.log || fe.log_connect {
            return;
        }
        // `option dontlognull`: no data at all was exchanged (checked at
        // the end only, as HAProxy does).
        if !early
            && fe.dontlognull
            && s.req.total == 0
            && s.res.total == 0
            && s.err == ErrCode::None
        {
            return;
        }
        if s.txn
            .as_ref()
            .is_some_and(|t| t.flags.contains(crate::http::ana::TxnFlags::NOLOG))
        {
            return;
        }
        // What HAProxy's `strm_log` counts as an error: a redispatch, a
        // termination other than none or local, a retry, a 5xx status.
        let be = &self.proxies[s.be];
        let retried = be
            .be
            .as_ref()
            .is_some_and(|b| s.conn_retries < b.cfg.retries);
        let err = s.flags.contains(crate::stream::SfFlags::REDISP)
            || !matches!(s.err, ErrCode::None | ErrCode::Local)
            || (s.err == ErrCode::None && retried)
            || s.txn
                .as_ref()
                .is_some_and(|t| t.status.is_some_and(|c| c >= 500));
        let fe = &self.proxies[s.fe];
        if !err && fe.dontlog_normal {
            return;
        }
        let level = match s.log_level {
            Some(crate::rules::LogLevelSet::Silent) => return,
            Some(crate::rules::LogLevelSet::Level(l)) => l,
            None if err && fe.log_separate_errors => LogLevel::Err,
            None => LogLevel::Info,
        };
        let fe_id = s.fe;
        let cfg = self.proxies[fe_id].logcfg.clone();
        let line = match &cfg.format {
            Some(fmt) => self.lf_render(now, sid, fmt),
            None => {
                let s = &self.streams[sid];
                match &s.txn {
                    Some(t) => self.httplog_line(now, s, t),
                    None => self.tcplog_line(now, s),
                }
            }
        };
        // Counted once built (`%lc` of the first line is 0).
        if let Some(f) = self.proxies[fe_id].fe.as_mut() {
            f.log_count += 1;
        }
        if let Some(s) = self.streams.get_mut(sid) {
            s.flags |= crate::stream::SfFlags::LOGGED;
        }
        self.log_px(Some(fe_id), level, line);
    }

    /// The line of a frontend without a log format ([`crate::proxy::Proxy::log_connect`])
    /// when a stream's request starts: `Connect from SRC to DST (fe/HTTP)`,
    /// or `Connect to unix:ID (fe/HTTP)` for a UNIX socket client, as
    /// HAProxy's `frontend_accept` writes it.
    pub(crate) fn log_connect_line(&mut self, sid: Id<Stream>) {
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        let fe = s.fe;
        let px = &self.proxies[fe];
        if !px.log_connect {
            return;
        }
        let mode = if px.mode == crate::cfgparse::Mode::Http {
            "HTTP"
        } else {
            "TCP"
        };
        let se = self.sessions.get(s.sess);
        let mut line = String::with_capacity(96);
        match se.and_then(|se| se.src) {
            Some(src) => {
                let _ = write!(line, "Connect from {}:{} to ", src.ip(), src.port());
                match se.and_then(|se| se.dst) {
                    Some(dst) => {
                        let _ = write!(line, "{}:{}", dst.ip(), dst.port());
                    }
                    None => line.push_str("undetermined address:0"),
                }
            }
            None => {
                let luid = se.map_or(0, |se| self.listeners[se.listener.0 as usize].luid);
                let _ = write!(line, "Connect to unix:{luid}");
            }
        }
        let _ = write!(line, " ({}/{mode})", px.name);
        self.log_px(Some(fe), LogLevel::Info, line);
    }

    /// `%ci:%cp`: the client address (the PROXY header's when one came);
    /// for a client of a UNIX socket, `unix` and the listener's id, as
    /// HAProxy writes them.
    fn write_client(&self, out: &mut String, s: &Stream) {
        let se = self.sessions.get(s.sess);
        match self.strm_src(s) {
            Some(a) => {
                let _ = write!(out, "{}:{}", a.ip(), a.port());
            }
            None => {
                let luid = se.map_or(0, |se| self.listeners[se.listener.0 as usize].luid);
                let _ = write!(out, "unix:{luid}");
            }
        }
    }

    /// ` %ac/%fc/%bc/%sc/%rc %sq/%bq`, shared by both log formats: process,
    /// frontend, backend and server connections, retries (`+` after a
    /// redispatch), server and backend queue lengths.
    fn write_counts(&self, out: &mut String, s: &Stream) {
        let (fe, be) = (&self.proxies[s.fe], &self.proxies[s.be]);
        let (srv_conn, srv_queue) = match (s.srv, be.be.as_ref()) {
            (Some(i), Some(b)) => (b.servers[i].cur_sess, b.servers[i].queue.len()),
            _ => (0, 0),
        };
        let (beconn, be_queue) = be.be.as_ref().map_or((0, 0), |b| (b.beconn, b.queue.len()));
        let feconn = fe.fe.as_ref().map_or(0, |f| f.feconn);
        let retries = be
            .be
            .as_ref()
            .map_or(0, |b| b.cfg.retries)
            .saturating_sub(s.conn_retries);
        let plus = if s.flags.contains(crate::stream::SfFlags::REDISP) {
            "+"
        } else {
            ""
        };
        let _ = write!(
            out,
            " {}/{feconn}/{beconn}/{srv_conn}/{plus}{retries} {srv_queue}/{be_queue}",
            self.actconn
        );
    }

    /// `%ft`'s mark: `~` after the frontend's name when the client
    /// connection came in over TLS (HAProxy: the listener's xprt is SSL).
    fn fe_ssl_mark(&self, s: &Stream) -> &'static str {
        let tls = self
            .sessions
            .get(s.sess)
            .and_then(|se| self.listeners.get(se.listener.0 as usize))
            .is_some_and(|l| l.tls.is_some());
        if tls {
            "~"
        } else {
            ""
        }
    }

    /// The `option tcplog` line of a stream.
    pub(crate) fn tcplog_line(&self, now: Time, s: &Stream) -> String {
        let fe = &self.proxies[s.fe];
        let be = &self.proxies[s.be];
        let srv_name = match (s.srv.or(s.prev_srv), be.be.as_ref()) {
            (Some(i), Some(b)) if s.t_connect.is_some() || s.srv.is_some() => {
                b.servers[i].cfg.name.as_str()
            }
            _ => "<NOSRV>",
        };
        let mut out = String::with_capacity(160);
        self.write_client(&mut out, s);
        let date = fmt_date(self.opts.epoch_ms + s.accept.as_ms(), true);
        // -1 when the stream never got as far as a server (rejected by a
        // rule, aborted while analysed, no server), as HAProxy's `%Tw`.
        let tw = s.t_queue.map_or(
            if s.flags.contains(crate::stream::SfFlags::QUEUED) || s.conn_start.is_none() {
                -1
            } else {
                0
            },
            |v| v as i64,
        );
        let tc = s.t_connect.map_or(-1, |v| v as i64);
        let tt = now - s.accept;
        let plus = if fe.logasap { "+" } else { "" };
        let _ = write!(
            out,
            " [{date}] {}{} {}/{} {tw}/{tc}/{plus}{tt} {plus}{} {}{}",
            fe.name,
            self.fe_ssl_mark(s),
            be.name,
            srv_name,
            s.res.total,
            s.err.ch(),
            s.finst.ch(),
        );
        self.write_counts(&mut out, s);
        out
    }

    /// The `option httplog` line of a transaction:
    /// `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
    /// %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r` (no captures, so no `%hr %hs`).
    pub(crate) fn httplog_line(
        &self,
        now: Time,
        s: &Stream,
        t: &crate::http::ana::HttpTxn,
    ) -> String {
        let fe = &self.proxies[s.fe];
        let be = &self.proxies[s.be];
        let srv_name = match (s.srv.or(s.prev_srv), be.be.as_ref(), s.applet) {
            (_, _, Some((a, _))) => a,
            (Some(i), Some(b), _) => b.servers[i].cfg.name.as_str(),
            _ => "<NOSRV>",
        };
        let mut out = String::with_capacity(200);
        self.write_client(&mut out, s);
        let date = fmt_date(self.opts.epoch_ms + t.req_start.as_ms(), true);
        let ms = |a: Option<Time>, b: Time| a.map_or(-1, |a| (a - b) as i64);
        let tr_req = ms(t.t_req_done, t.req_start);
        let tw = s
            .t_queue
            .map_or(if s.conn_start.is_some() { 0 } else { -1 }, |v| v as i64);
        let tc = s.t_connect.map_or(-1, |v| v as i64);
        let sent_at = s
            .conn_start
            .map(|c| c.add_ms(s.t_connect.unwrap_or(0)))
            .max(t.t_req_done);
        let mut tr = match (t.t_res_head, sent_at) {
            (Some(h), Some(a)) => (h - a) as i64,
            _ => -1,
        };
        // An applet is "connected" at once (HAProxy logs 0/0 for Tw/Tc);
        // Tr is 0 once it serves its content, -1 when it asked for
        // credentials.
        let (tw, tc) = match s.applet {
            Some((_, served)) => {
                tr = if served { 0 } else { -1 };
                (0, 0)
            }
            None => (tw, tc),
        };
        let ta = (now - t.req_start) as i64;
        let status = t.status.map_or(-1, i64::from);
        let req = if t.request_line.is_empty() {
            "<BADREQ>"
        } else {
            t.request_line.as_str()
        };
        // The cookie characters of `%tsc`, when the backend has a
        // persistence cookie mode (HAProxy's `PR_CK_ANY`).
        let (ck, sck) = match be.be.as_ref().and_then(|b| b.cfg.cookie.as_ref()) {
            Some(c) if c.any_mode() => (t.ck.ch(), t.sck.ch()),
            _ => ('-', '-'),
        };
        let plus = if fe.logasap { "+" } else { "" };
        let _ = write!(
            out,
            " [{date}] {}{} {}/{} {tr_req}/{tw}/{tc}/{tr}/{plus}{ta} {status} {plus}{} - - {}{}{ck}{sck}",
            fe.name,
            self.fe_ssl_mark(s),
            be.name,
            srv_name,
            s.res.total,
            s.err.ch(),
            s.finst.ch(),
        );
        self.write_counts(&mut out, s);
        let _ = write!(out, " \"{req}\"");
        out
    }
}

/// The logging settings of a proxy that come from its configuration:
/// `log-format` (or `option httplog clf`), `unique-id-format` and
/// `unique-id-header`, and the capture slots (`capture request|response
/// header`, `declare capture`, `http-request capture`).
#[derive(Debug, Default)]
pub struct LogCfg {
    /// A format other than the built-in `option httplog` / `tcplog` lines.
    pub format: Option<LogFmt>,
    pub unique_id_format: Option<LogFmt>,
    pub unique_id_header: Option<String>,
    /// Request and response capture slots (HAProxy's `req_cap`, `rsp_cap`
    /// lists, in the order `%hr` prints them).
    pub req_cap: Vec<CapSlot>,
    pub res_cap: Vec<CapSlot>,
}

/// One capture slot (HAProxy's `struct cap_hdr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapSlot {
    /// The header it captures (`capture request header NAME`); `None`: a
    /// slot filled by `http-request capture` (`declare capture` or an
    /// anonymous one).
    pub header: Option<String>,
    /// At most this many bytes are kept.
    pub len: usize,
    /// The `http-request capture ... len N` line (file, line) that
    /// declared the slot.
    pub rule: Option<(String, u32)>,
}

use format::{Enc, LineOut};
pub use format::{LfNode, LfOpts, LogFmt, LogVar};

impl Engine {
    /// Renders `fmt` for stream `sid` (still in the arena), as HAProxy's
    /// `sess_build_logline`.
    pub(crate) fn lf_render(&mut self, now: Time, sid: Id<Stream>, fmt: &LogFmt) -> String {
        let mut out = LineOut::new(256);
        for n in &fmt.nodes {
            match n {
                LfNode::Text(t) => out.text(t),
                LfNode::Sep => out.sep(),
                LfNode::Var(v, o) => self.lf_var(now, sid, *v, *o, &mut out),
                LfNode::Expr(e, o) => {
                    let v = self.lf_expr(now, sid, e);
                    out.value(v.as_deref(), *o, Enc::None);
                }
            }
        }
        out.buf
    }

    /// A `%[expr]` of a log-format string, evaluated on the stream as
    /// HAProxy does at log time (both heads visible).
    pub(crate) fn lf_expr(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        e: &crate::sample::SampleExpr,
    ) -> Option<Vec<u8>> {
        let s = self.streams.get_mut(sid)?;
        let (req, res, meth) = match s.txn.as_mut() {
            Some(t) => (t.req_head.take(), t.res_head.take(), t.meth.clone()),
            None => (None, None, None),
        };
        let ctx_px = s.be;
        let v = {
            let mut ctx =
                crate::http::fetch::HttpCtx::new(self, now, sid, req.as_ref(), res.as_ref())
                    .for_proxy(ctx_px);
            match (&e.fetch.kind, &req, meth) {
                // A request answered by a rule gave its head away; the
                // method stays with the transaction (HAProxy's `txn->meth`).
                (crate::sample::FetchKind::Method, None, Some(m)) => {
                    e.convert(crate::sample::Sample::str(m.as_str()), &mut ctx)
                }
                _ => e.eval(&mut ctx),
            }
            .and_then(|v| v.into_bytes())
        };
        if let Some(t) = self.streams.get_mut(sid).and_then(|s| s.txn.as_mut()) {
            t.req_head = req;
            t.res_head = res;
        }
        v
    }

    /// The unique id of a stream (`unique-id-format`), made the first
    /// time it is needed and kept (HAProxy's `stream_generate_unique_id`).
    pub(crate) fn unique_id(&mut self, now: Time, sid: Id<Stream>) -> Option<String> {
        let s = self.streams.get(sid)?;
        if let Some(id) = s.logx.as_ref().and_then(|x| x.unique_id.as_ref()) {
            return Some(id.clone());
        }
        if mux_level(s) {
            return None;
        }
        let cfg = self.proxies[s.fe].logcfg.clone();
        let fmt = cfg.unique_id_format.as_ref()?;
        let id = self.lf_render(now, sid, fmt);
        if let Some(s) = self.streams.get_mut(sid) {
            s.logx.get_or_insert_with(Default::default).unique_id = Some(id.clone());
        }
        Some(id)
    }

    fn lf_var(&mut self, now: Time, sid: Id<Stream>, v: LogVar, o: LfOpts, out: &mut LineOut) {
        if v == LogVar::UniqueId {
            let id = self.unique_id(now, sid);
            return out.value(id.as_deref().map(str::as_bytes), o, Enc::None);
        }
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        let se = self.sessions.get(s.sess);
        let (fe, be) = (&self.proxies[s.fe], &self.proxies[s.be]);
        let txn = s.txn.as_deref();
        let srv = match (s.srv.or(s.prev_srv), be.be.as_ref()) {
            (Some(i), Some(b)) => b.servers.get(i.pos()),
            _ => None,
        };
        let t = LogTimes::of(now, s);
        // `option logasap`: the total time and the byte count may be
        // partial, HAProxy marks them with `+`.
        if fe.logasap && matches!(v, LogVar::Ta | LogVar::Tt | LogVar::Bytes) {
            out.raw("+");
        }
        match v {
            // A client of a UNIX socket: `unix` and the listener's id, as
            // HAProxy's `lf_ip`/`lf_port` write them.
            LogVar::Ci => match se {
                Some(_) if self.strm_src(s).is_none() => out.value(Some(b"unix"), o, Enc::None),
                _ => out.ip(self.strm_src(s).map(|a| a.ip()), o),
            },
            LogVar::Cp => match se {
                Some(se) if self.strm_src(s).is_none() => {
                    out.int(i64::from(self.listeners[se.listener.0 as usize].luid))
                }
                _ => out.port(self.strm_src(s).map(|a| a.port()), o),
            },
            LogVar::Fi => out.ip(self.strm_dst(s).map(|a| a.ip()), o),
            LogVar::Fp => out.port(self.strm_dst(s).map(|a| a.port()), o),
            // The engine does not learn the local address of its server
            // connections (docs/logging.md).
            LogVar::Bi | LogVar::Bp => out.value(None, o, Enc::None),
            LogVar::Si | LogVar::Sp => {
                // Once a connection was attempted (HAProxy's `be_conn`).
                let sv = srv.filter(|_| s.conn_start.is_some());
                if sv.is_some_and(|sv| sv.cfg.unix.is_some()) {
                    // A UNIX socket server: `unix:0`, as HAProxy 2.6's
                    // `addr_to_str` and `get_host_port` give it.
                    return if v == LogVar::Si {
                        out.value(Some(b"unix"), o, Enc::None)
                    } else {
                        out.port(Some(0), o)
                    };
                }
                let a = sv.map(|sv| sv.cfg.addr);
                if v == LogVar::Si {
                    out.ip(a.map(|a| a.ip()), o)
                } else {
                    out.port(a.map(|a| a.port()), o)
                }
            }
            LogVar::Date | LogVar::DateReq => {
                let at = if v == LogVar::Date {
                    s.accept
                } else {
                    t.req_at
                };
                out.raw(&fmt_date(self.opts.epoch_ms + at.as_ms(), true));
            }
            LogVar::DateGmt | LogVar::DateReqGmt | LogVar::DateLocal | LogVar::DateReqLocal => {
                let at = if matches!(v, LogVar::DateGmt | LogVar::DateLocal) {
                    s.accept
                } else {
                    t.req_at
                };
                out.raw(&fmt_date(self.opts.epoch_ms + at.as_ms(), false));
                out.raw(" +0000");
            }
            LogVar::Ts => {
                let secs = (self.opts.epoch_ms + s.accept.as_ms()) / 1000;
                if o.contains(LfOpts::HEXA) {
                    out.hex(secs, 4)
                } else {
                    out.int(secs as i64)
                }
            }
            LogVar::Ms => {
                let ms = (self.opts.epoch_ms + s.accept.as_ms()) % 1000;
                if o.contains(LfOpts::HEXA) {
                    out.hex(ms, 2)
                } else {
                    out.raw(&format!("{ms:03}"))
                }
            }
            LogVar::Fe => out.value(Some(fe.name.as_bytes()), o, Enc::None),
            LogVar::FeXprt => {
                let name = format!("{}{}", fe.name, self.fe_ssl_mark(s));
                out.value(Some(name.as_bytes()), o, Enc::None)
            }
            LogVar::Be => out.value(Some(be.name.as_bytes()), o, Enc::None),
            LogVar::Srv => {
                let name = match srv {
                    _ if s.applet.is_some() => s.applet.map_or("", |a| a.0),
                    Some(sv) if txn.is_some() || s.t_connect.is_some() || s.srv.is_some() => {
                        sv.cfg.name.as_str()
                    }
                    _ => "<NOSRV>",
                };
                out.value(Some(name.as_bytes()), o, Enc::None)
            }
            LogVar::Th => out.int(0),
            LogVar::Ti => out.int(t.idle),
            LogVar::TR => out.int(t.tr_req),
            LogVar::Tq => out.int(if t.tr_req < 0 { -1 } else { t.idle + t.tr_req }),
            LogVar::Tw => out.int(if txn.is_some() { t.tw_http } else { t.tw_tcp }),
            LogVar::Tc => out.int(t.tc),
            LogVar::Tr => out.int(t.tr),
            LogVar::Td => out.int(t.td),
            LogVar::Ta => out.int(t.tt - t.idle),
            LogVar::Tt => out.int(t.tt),
            LogVar::Tu => out.int(t.tt - t.idle),
            LogVar::Status => out.int(match txn {
                Some(t) => t.status.map_or(-1, i64::from),
                None => 0,
            }),
            LogVar::Bytes => out.int(s.res.total as i64),
            LogVar::BytesUp => out.int(s.req.total as i64),
            LogVar::CookieCli | LogVar::CookieSrv => out.value(None, o, Enc::None),
            LogVar::TermState | LogVar::TermStateCk => {
                let mut st = String::with_capacity(4);
                st.push(s.err.ch());
                st.push(s.finst.ch());
                if v == LogVar::TermStateCk {
                    // The cookie characters, when the backend has a
                    // persistence cookie mode (HAProxy's `PR_CK_ANY`).
                    let ck = be.be.as_ref().and_then(|b| b.cfg.cookie.as_ref());
                    match (txn, ck) {
                        (Some(t), Some(c)) if c.any_mode() => {
                            st.push(t.ck.ch());
                            st.push(t.sck.ch());
                        }
                        _ => st.push_str("--"),
                    }
                }
                out.raw(&st)
            }
            LogVar::ActConn => out.int(i64::from(self.actconn)),
            LogVar::FeConn => out.int(fe.fe.as_ref().map_or(0, |f| i64::from(f.feconn))),
            LogVar::BeConn => out.int(be.be.as_ref().map_or(0, |b| i64::from(b.beconn))),
            LogVar::SrvConn => out.int(match (s.srv, be.be.as_ref()) {
                (Some(i), Some(b)) => i64::from(b.servers[i.pos()].cur_sess),
                _ => 0,
            }),
            LogVar::Retries => {
                let retries = be
                    .be
                    .as_ref()
                    .map_or(0, |b| b.cfg.retries)
                    .saturating_sub(s.conn_retries);
                if s.flags.contains(crate::stream::SfFlags::REDISP) {
                    out.raw("+");
                }
                out.int(i64::from(retries))
            }
            LogVar::SrvQueue => out.int(match (s.srv, be.be.as_ref()) {
                (Some(i), Some(b)) => b.servers[i.pos()].queue.len() as i64,
                _ => 0,
            }),
            LogVar::BeQueue => out.int(be.be.as_ref().map_or(0, |b| b.queue.len() as i64)),
            LogVar::HdrReq | LogVar::HdrRes | LogVar::HdrReqList | LogVar::HdrResList => {
                let req = matches!(v, LogVar::HdrReq | LogVar::HdrReqList);
                let none = Vec::new();
                let caps = match (&s.logx, req) {
                    (Some(x), true) => &x.req_cap,
                    (Some(x), false) => &x.res_cap,
                    (None, _) => &none,
                };
                let slots = if req {
                    fe.logcfg.req_cap.len()
                } else {
                    fe.logcfg.res_cap.len()
                };
                // A request the mux refused has no stream in HAProxy, so
                // no captures either.
                if slots == 0 || mux_level(s) {
                    return;
                }
                let get = |i: usize| caps.get(i).and_then(|c| c.as_deref());
                if matches!(v, LogVar::HdrReq | LogVar::HdrRes) {
                    let q = o.contains(LfOpts::QUOTE);
                    let mut txt = String::new();
                    if q {
                        txt.push('"');
                    }
                    txt.push('{');
                    out.raw(&txt);
                    for i in 0..slots {
                        if i > 0 {
                            out.raw("|");
                        }
                        if let Some(c) = get(i) {
                            out.bytes(c, o, Enc::Hdr);
                        }
                    }
                    out.raw(if q { "}\"" } else { "}" });
                } else {
                    for i in 0..slots {
                        if i > 0 {
                            out.raw(" ");
                        }
                        out.value(get(i), o, Enc::Hdr);
                    }
                }
            }
            LogVar::Req
            | LogVar::Method
            | LogVar::Uri
            | LogVar::Path
            | LogVar::PathOnly
            | LogVar::Query
            | LogVar::Version => {
                let line = txn
                    .map(|t| t.request_line.as_str())
                    .filter(|l| !l.is_empty());
                let part = request_part(v, line);
                if part.is_empty() {
                    // An empty chunk: nothing, or `""` (no `-`).
                    out.raw(if o.contains(LfOpts::QUOTE) {
                        "\"\""
                    } else {
                        ""
                    })
                } else {
                    out.value(Some(part.as_bytes()), o, Enc::Url)
                }
            }
            LogVar::Counter => {
                if o.contains(LfOpts::HEXA) {
                    out.hex(u64::from(s.uniq_id), 4)
                } else {
                    out.int(i64::from(s.uniq_id))
                }
            }
            LogVar::LogCount => {
                let n = fe.fe.as_ref().map_or(0, |f| f.log_count);
                if o.contains(LfOpts::HEXA) {
                    out.hex(n, 4)
                } else {
                    out.int(n as i64)
                }
            }
            LogVar::Hostname => out.value(Some(self.opts.hostname.as_bytes()), o, Enc::None),
            LogVar::Pid => {
                if o.contains(LfOpts::HEXA) {
                    out.hex(u64::from(self.opts.pid), 4)
                } else {
                    out.int(i64::from(self.opts.pid))
                }
            }
            LogVar::UniqueId => {}
        }
    }
}

/// A request the H1 mux answered by itself (400, 408: no complete head):
/// HAProxy logs it without a stream (`sess_log`), so without captures
/// and unique id.
fn mux_level(s: &Stream) -> bool {
    s.txn.as_ref().is_some_and(|t| t.t_req_done.is_none())
}

/// A part of the request line (`%r %HM %HU %HP %HPO %HQ %HV`), as
/// HAProxy cuts `txn->uri`; `<BADREQ>` without one.
fn request_part(v: LogVar, line: Option<&str>) -> &str {
    const BAD: &str = "<BADREQ>";
    let Some(line) = line else { return BAD };
    let mut words = line.splitn(3, ' ');
    let meth = words.next().unwrap_or("");
    let uri = words.next();
    let ver = words.next();
    match v {
        LogVar::Req => line,
        LogVar::Method => {
            if uri.is_none() {
                BAD
            } else {
                meth
            }
        }
        LogVar::Uri => uri.unwrap_or(BAD),
        LogVar::Path => uri.map_or(BAD, |u| u.split('?').next().unwrap_or(u)),
        LogVar::PathOnly => uri.map_or(BAD, crate::http::fetch::uri_path),
        LogVar::Query => uri.map_or("", |u| u.find('?').map_or("", |i| &u[i..])),
        LogVar::Version => match uri {
            None => BAD,
            Some(_) => ver.unwrap_or("HTTP/0.9"),
        },
        _ => BAD,
    }
}

/// The timers of a stream, in ms, as HAProxy's `strm_logs` gives them
/// (-1: the event did not happen).
struct LogTimes {
    /// When the request began (`%tr`).
    req_at: Time,
    /// `Ti`: from the stream's start to the request's first byte.
    idle: i64,
    /// `TR`: from the first byte to the complete request head.
    tr_req: i64,
    tw_http: i64,
    tw_tcp: i64,
    tc: i64,
    tr: i64,
    td: i64,
    tt: i64,
}

impl LogTimes {
    fn of(now: Time, s: &Stream) -> LogTimes {
        let ms = |a: Option<Time>, b: Time| a.map_or(-1, |a| (a - b) as i64);
        let txn = s.txn.as_deref();
        let req_at = txn.map_or(s.accept, |t| t.req_start.max(s.accept));
        let idle = (req_at - s.accept) as i64;
        let tr_req = txn.map_or(-1, |t| ms(t.t_req_done, t.req_start));
        let tw_http = s
            .t_queue
            .map_or(if s.conn_start.is_some() { 0 } else { -1 }, |v| v as i64);
        let tw_tcp = s.t_queue.map_or(
            if s.flags.contains(crate::stream::SfFlags::QUEUED) || s.conn_start.is_none() {
                -1
            } else {
                0
            },
            |v| v as i64,
        );
        let tc = s.t_connect.map_or(-1, |v| v as i64);
        let sent_at = s
            .conn_start
            .map(|c| c.add_ms(s.t_connect.unwrap_or(0)))
            .max(txn.and_then(|t| t.t_req_done));
        let tr = match (txn.and_then(|t| t.t_res_head), sent_at) {
            (Some(h), Some(a)) => (h - a) as i64,
            _ => -1,
        };
        let tt = (now - s.accept) as i64;
        let td = match txn {
            Some(t) => t.t_res_head.map_or(-1, |h| (now - h) as i64),
            None => s
                .conn_start
                .filter(|_| s.t_connect.is_some())
                .map_or(-1, |c| (now - c.add_ms(s.t_connect.unwrap_or(0))) as i64),
        };
        LogTimes {
            req_at,
            idle,
            tr_req,
            tw_http,
            tw_tcp,
            tc,
            tr,
            td,
            tt,
        }
    }
}
