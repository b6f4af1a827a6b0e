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

use core::fmt::Write as _;

use crate::engine::Engine;
use crate::sock::LogLevel;
use crate::stream::{ErrCode, Stream};
use crate::time::{fmt_date, Time};

impl Engine {
    /// Logs a finished stream, if its frontend logs.
    pub(crate) fn stream_log(&mut self, now: Time, s: &Stream) {
        let fe = &self.proxies[s.fe];
        if !fe.log {
            return;
        }
        // `option dontlognull`: no data at all was exchanged.
        if fe.dontlognull && s.req.total == 0 && s.res.total == 0 && s.err == ErrCode::None {
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
        let level = if err && fe.log_separate_errors {
            LogLevel::Err
        } else {
            LogLevel::Info
        };
        let line = match &s.txn {
            Some(t) => self.httplog_line(now, s, t),
            None => self.tcplog_line(now, s),
        };
        self.log_px(Some(s.fe), level, line);
    }

    /// `%ci:%cp`: the client address (the PROXY header's when one came);
    /// for a client of a UNIX socket, `unix` and the listener's id, as
    /// HAProxy writes them.
    fn write_client(&self, out: &mut String, s: &Stream) {
        let se = self.sessions.get(s.sess);
        match se.and_then(|se| se.src) {
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
        let _ = write!(
            out,
            " [{date}] {}{} {}/{} {tw}/{tc}/{tt} {} {}{}",
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
        let srv_name = match (s.srv.or(s.prev_srv), be.be.as_ref()) {
            (Some(i), Some(b)) => b.servers[i].cfg.name.as_str(),
            _ => "<NOSRV>",
        };
        let mut out = String::with_capacity(200);
        self.write_client(&mut out, s);
        let date = fmt_date(self.opts.epoch_ms + t.req_start.as_ms(), true);
        let ms = |a: Option<Time>, b: Time| a.map_or(-1, |a| (a - b) as i64);
        let tr_req = ms(t.t_req_done, t.req_start);
        let tw = s
            .t_queue
            .map_or(if s.t_connect.is_some() { 0 } else { -1 }, |v| v as i64);
        let tc = s.t_connect.map_or(-1, |v| v as i64);
        let sent_at = s
            .conn_start
            .map(|c| c.add_ms(s.t_connect.unwrap_or(0)))
            .max(t.t_req_done);
        let tr = match (t.t_res_head, sent_at) {
            (Some(h), Some(a)) => (h - a) as i64,
            _ => -1,
        };
        let ta = (now - t.req_start) as i64;
        let status = t.status.map_or(-1, i64::from);
        let req = if t.request_line.is_empty() {
            "<BADREQ>"
        } else {
            t.request_line.as_str()
        };
        let _ = write!(
            out,
            " [{date}] {}{} {}/{} {tr_req}/{tw}/{tc}/{tr}/{ta} {status} {} - - {}{}--",
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
