//! TCP rules at run time (HAProxy's `tcp_rules.c`): `tcp-request
//! connection` and `tcp-request session` (`tcp_exec_l4_rules`,
//! `tcp_exec_l5_rules`), `tcp-request content` (`tcp_inspect_request`)
//! and `tcp-response content` (`tcp_inspect_response`).
//!
//! Connection rules run right after `accept()`, on the real peer address;
//! session rules run once the handshakes are done, so they see the
//! addresses a PROXY header carried. Content rules run on a stream: the
//! frontend's before anything else, the backend's once it is chosen (when
//! it is another proxy); in HTTP mode on the complete request head. Rules
//! run in order; the first `accept` or `reject` whose condition holds ends
//! the evaluation. A content rule whose condition does not match *yet*
//! (its data may still arrive within `tcp-request inspect-delay`) makes
//! the evaluation wait.

use std::sync::Arc;

use crate::acl::AclTest;
use crate::arena::Id;
use crate::engine::Engine;
use crate::fetch::{sample_to_key, SessCtx};
use crate::http::fetch::HttpCtx;
use crate::http::h1::ReqHead;
use crate::rules::{IntOrExpr, Rule, TcpAction};
use crate::session::Session;
use crate::stick_table::{DataType, StData};
use crate::stream::channel::{ChnFlags, INFINITE_FORWARD};
use crate::stream::Stream;
use crate::time::Time;

/// Which address field `set-src`, `set-dst`, `set-src-port`,
/// `set-dst-port` change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddrField {
    SrcIp,
    DstIp,
    SrcPort,
    DstPort,
}

/// Whose addresses `set-src` and friends change (see
/// [`Engine::set_addr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddrLevel {
    Conn,
    Sess,
    Stream(Id<Stream>),
}

impl AddrField {
    fn of(a: &TcpAction) -> Option<AddrField> {
        Some(match a {
            TcpAction::SetSrc(_) => AddrField::SrcIp,
            TcpAction::SetDst(_) => AddrField::DstIp,
            TcpAction::SetSrcPort(_) => AddrField::SrcPort,
            TcpAction::SetDstPort(_) => AddrField::DstPort,
            _ => return None,
        })
    }
}

/// What content rules decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContentVerdict {
    /// Go on (no rule stopped the evaluation, or `accept`).
    Accept,
    /// A condition needs data that may still come: evaluate again later.
    Miss,
    /// `reject` (`silent-drop`): close the connection.
    Reject,
    /// `close` (`tcp-response content`): close the server side only.
    Close,
}

/// Which rule list runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layer {
    Connection,
    Session,
}

impl Engine {
    /// `tcp-request connection` rules; `false`: reject.
    pub(crate) fn tcp_rules_connection(&mut self, now: Time, sess: Id<Session>) -> bool {
        self.tcp_rules(now, sess, Layer::Connection)
    }

    /// `tcp-request session` rules; `false`: reject.
    pub(crate) fn tcp_rules_session(&mut self, now: Time, sess: Id<Session>) -> bool {
        self.tcp_rules(now, sess, Layer::Session)
    }

    fn tcp_rules(&mut self, now: Time, sess: Id<Session>, layer: Layer) -> bool {
        let Some(fe) = self.sessions.get(sess).map(|s| s.fe) else {
            return false;
        };
        let rules: Arc<crate::rules::RuleSet> = Arc::clone(&self.proxies[fe].rules);
        let list: &[Rule<TcpAction>] = match layer {
            Layer::Connection => &rules.tcp_req_conn,
            Layer::Session => &rules.tcp_req_sess,
        };
        for rule in list {
            let mut ctx = SessCtx {
                eng: self,
                now,
                sess,
                proxy: fe,
            };
            let applies = match &rule.cond {
                None => true,
                Some(c) => c.matches(&mut ctx),
            };
            if !applies {
                continue;
            }
            match &rule.action {
                TcpAction::Accept => return true,
                TcpAction::Reject | TcpAction::SilentDrop => return false,
                TcpAction::TrackSc(t) => {
                    let Some(table) = t.table.id else { continue };
                    let key = t.key.eval(&mut ctx).and_then(|s| {
                        let params = self.tables.get(table)?.params().clone();
                        sample_to_key(&params, s)
                    });
                    if let Some(key) = key {
                        self.track_sc(now, sess, t.ctr, table, key);
                    }
                }
                TcpAction::ScIncGpc(g) => {
                    self.sc_inc_gpc(now, sess, g.ctr, g.data, usize::from(g.idx))
                }
                TcpAction::ScSetGpt(g) => {
                    let v = match &g.value {
                        IntOrExpr::Int(v) => Some(*v),
                        IntOrExpr::Expr(e) => e.eval(&mut ctx).and_then(|s| s.as_int()),
                    };
                    if let Some(v) = v {
                        self.sc_set_gpt(now, sess, g.ctr, g.data, usize::from(g.idx), v);
                    }
                }
                TcpAction::ExpectProxy => {
                    if let Some(c) = self.sessions.get(sess).map(|s| s.conn) {
                        if let Some(conn) = self.conns.get_mut(c) {
                            conn.flags |= crate::conn::CoFlags::ACCEPT_PROXY;
                        }
                    }
                }
                TcpAction::SetSrc(e)
                | TcpAction::SetDst(e)
                | TcpAction::SetSrcPort(e)
                | TcpAction::SetDstPort(e) => {
                    let v = e.eval(&mut ctx);
                    if let Some(f) = AddrField::of(&rule.action) {
                        let level = match layer {
                            Layer::Connection => AddrLevel::Conn,
                            Layer::Session => AddrLevel::Sess,
                        };
                        self.set_addr(level, sess, f, v);
                    }
                }
                // `sess.` and `proc.` variables (the only ones the parser
                // lets a connection or session rule set).
                TcpAction::SetVar(sv) => {
                    let v = sv.eval(&mut ctx);
                    // A sample that fails leaves the variable as it was
                    // (HAProxy's `action_store`).
                    if let Some(v) = v {
                        self.var_set_cond(sess, None, &sv.var, v, sv.cond);
                    }
                }
                TcpAction::UnsetVar(var) => self.var_set(sess, None, var, None),
                TcpAction::AttachSrv(a) => {
                    let name = a.name.as_ref().and_then(|e| {
                        match e.eval_as(&mut ctx, crate::sample::SmpType::Str)? {
                            crate::sample::Sample::Str(v) => Some(v.into_boxed_slice()),
                            _ => None,
                        }
                    });
                    self.attach_srv(sess, &a.backend, &a.server, name);
                }
                // Response rules only; content rules only.
                TcpAction::Close | TcpAction::SetLogLevel(_) => {}
            }
        }
        true
    }

    /// `tcp-request content` rules of proxy `px` on a stream (HAProxy's
    /// `tcp_inspect_request` for `AN_REQ_INSPECT_FE` or `_BE`). `head`:
    /// the request head in HTTP mode. `partial`: the request may still
    /// grow (`inspect-delay` running), so a rule whose condition may still
    /// match makes the evaluation wait ([`ContentVerdict::Miss`]).
    #[inline(always)]
    pub(crate) fn tcp_content_rules(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        px: crate::proxy::ProxyId,
        head: Option<&ReqHead>,
        partial: bool,
    ) -> ContentVerdict {
        if self.proxies[px].rules.tcp_req_cont.is_empty() {
            return ContentVerdict::Accept;
        }
        let rules: Arc<crate::rules::RuleSet> = Arc::clone(&self.proxies[px].rules);
        self.tcp_stream_rules(now, sid, px, head, partial, &rules.tcp_req_cont)
    }

    /// `tcp-response content` rules of the backend (HAProxy's
    /// `tcp_inspect_response`) on the response received so far. `partial`:
    /// more may still come within `tcp-response inspect-delay`.
    pub(crate) fn tcp_response_rules(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        partial: bool,
    ) -> ContentVerdict {
        let be = self.streams[sid].be;
        let rules: Arc<crate::rules::RuleSet> = Arc::clone(&self.proxies[be].rules);
        if rules.tcp_res_cont.is_empty() {
            return ContentVerdict::Accept;
        }
        let req = self.streams[sid]
            .txn
            .as_mut()
            .and_then(|t| t.req_head.take());
        let v = self.tcp_stream_rules(now, sid, be, req.as_ref(), partial, &rules.tcp_res_cont);
        if let Some(t) = self.streams.get_mut(sid).and_then(|s| s.txn.as_mut()) {
            t.req_head = req;
        }
        v
    }

    /// The server connection is up: the backend's `tcp-response content`
    /// rules, if any, analyse the response from now on (HAProxy's
    /// `back_establish` adding `AN_RES_INSPECT`). Nothing of the response
    /// moves on until they decide.
    pub(crate) fn tcp_inspect_response(&mut self, now: Time, sid: Id<Stream>) {
        use crate::stream::AnaFlags;
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if self.proxies[s.be].rules.tcp_res_cont.is_empty() {
            return;
        }
        s.ana |= AnaFlags::INSPECT_RES;
        s.res.analyse_exp = None;
        if s.txn.is_none() && s.res.to_forward == INFINITE_FORWARD {
            // TCP: the tunnel opens once the rules accept.
            s.res.to_forward = 0;
        }
        self.tcp_res_inspect(now, sid);
    }

    /// One pass of `tcp_inspect_response`: the evaluation is final once
    /// the server closed, the buffer is full, the backend has no
    /// `tcp-response inspect-delay` or it ran out (`analyse_exp`, set by
    /// the first rule that waits). `reject` closes both sides (`PD`,
    /// counted in `dresp`), `close` closes the server side only.
    pub(crate) fn tcp_res_inspect(&mut self, now: Time, sid: Id<Stream>) {
        use crate::stream::{AnaFlags, ErrCode, FinSt};
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        if s.scb.state != crate::stream::stconn::ScState::Est && !s.res.shutr() {
            return;
        }
        let delay = self.proxies[s.be].res_inspect_delay_ms;
        let full = !s.res.buf.is_null() && s.res.recv_room() == 0;
        let done = s.res.shutr()
            || full
            || s.res.flags.contains(ChnFlags::READ_ERROR)
            || delay.is_none()
            || Time::is_expired(s.res.analyse_exp, now);
        let http = s.txn.is_some();
        let v = self.tcp_response_rules(now, sid, !done);
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if v == ContentVerdict::Miss {
            // The delay runs from the first rule that waits.
            if s.res.analyse_exp.is_none() {
                s.res.analyse_exp = delay.map(|d| now.add_ms(u64::from(d)));
            }
            return;
        }
        s.ana.remove(AnaFlags::INSPECT_RES);
        s.res.analyse_exp = None;
        match v {
            ContentVerdict::Accept | ContentVerdict::Miss => {
                if !http && !s.ana.intersects(AnaFlags::REQ) {
                    s.res.forward(INFINITE_FORWARD);
                }
            }
            ContentVerdict::Reject => {
                self.count_denied_resp(sid);
                let s = &mut self.streams[sid];
                s.set_term(ErrCode::PrxCond, FinSt::Data);
                if let Some(t) = self.streams[sid].txn.as_mut() {
                    t.flags |= crate::http::ana::TxnFlags::CLI_CLOSE
                        | crate::http::ana::TxnFlags::SRV_CLOSE;
                }
                self.back_abort(now, sid);
                self.front_abort_how(now, sid, crate::sock::CloseHow::Graceful);
            }
            ContentVerdict::Close => {
                if http {
                    self.http_server_error(now, sid, 502, ErrCode::SrvCl, FinSt::Headers);
                } else {
                    let s = &mut self.streams[sid];
                    s.set_term(ErrCode::SrvCl, FinSt::Data);
                    self.back_abort(now, sid);
                }
            }
        }
    }

    fn tcp_stream_rules(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        px: crate::proxy::ProxyId,
        head: Option<&ReqHead>,
        partial: bool,
        list: &[Rule<TcpAction>],
    ) -> ContentVerdict {
        let Some(sess) = self.streams.get(sid).map(|s| s.sess) else {
            return ContentVerdict::Reject;
        };
        for rule in list {
            let mut ctx = HttpCtx::new(self, now, sid, head, None).for_proxy(px);
            ctx.partial = partial;
            match rule.test(&mut ctx) {
                AclTest::Pass => {}
                AclTest::Fail => continue,
                AclTest::Miss if partial => return ContentVerdict::Miss,
                AclTest::Miss => continue,
            }
            if rule.action.is_final() {
                self.streams[sid].set_last_rule(&rule.file, rule.line);
                return match rule.action {
                    TcpAction::Accept => ContentVerdict::Accept,
                    TcpAction::Close => ContentVerdict::Close,
                    _ => ContentVerdict::Reject,
                };
            }
            match &rule.action {
                TcpAction::Accept => return ContentVerdict::Accept,
                TcpAction::Reject | TcpAction::SilentDrop => return ContentVerdict::Reject,
                TcpAction::Close => return ContentVerdict::Close,
                TcpAction::TrackSc(t) => {
                    let Some(table) = t.table.id else { continue };
                    let smp = t.key.eval(&mut ctx);
                    if smp.is_none()
                        && partial
                        && crate::sample::SampleCtx::may_change(&mut ctx, &t.key.fetch)
                    {
                        // HAProxy's `missing_data`: the key may appear later
                        // (`url` of a request whose head is not all there).
                        return ContentVerdict::Miss;
                    }
                    let key = smp.and_then(|s| {
                        let params = self.tables.get(table)?.params().clone();
                        sample_to_key(&params, s)
                    });
                    if let Some(key) = key {
                        self.track_sc(now, sess, t.ctr, table, key);
                    }
                }
                TcpAction::ScIncGpc(g) => {
                    self.sc_inc_gpc(now, sess, g.ctr, g.data, usize::from(g.idx))
                }
                TcpAction::ScSetGpt(g) => {
                    let v = match &g.value {
                        IntOrExpr::Int(v) => Some(*v),
                        IntOrExpr::Expr(e) => e.eval(&mut ctx).and_then(|s| s.as_int()),
                    };
                    if let Some(v) = v {
                        self.sc_set_gpt(now, sess, g.ctr, g.data, usize::from(g.idx), v);
                    }
                }
                TcpAction::SetVar(sv) => {
                    let v = sv.eval(&mut ctx);
                    // A sample that fails leaves the variable as it was
                    // (HAProxy's `action_store`).
                    if let Some(v) = v {
                        self.var_set_cond(sess, Some(sid), &sv.var, v, sv.cond);
                    }
                }
                TcpAction::UnsetVar(var) => self.var_set(sess, Some(sid), var, None),
                TcpAction::SetSrc(e)
                | TcpAction::SetDst(e)
                | TcpAction::SetSrcPort(e)
                | TcpAction::SetDstPort(e) => {
                    let v = e.eval(&mut ctx);
                    if let Some(f) = AddrField::of(&rule.action) {
                        self.set_addr(AddrLevel::Stream(sid), sess, f, v);
                    }
                }
                TcpAction::SetLogLevel(l) => {
                    if let Some(s) = self.streams.get_mut(sid) {
                        s.log_level = Some(*l);
                    }
                }
                // Connection / session rules only (the parser refuses
                // them elsewhere).
                TcpAction::ExpectProxy | TcpAction::AttachSrv(_) => {}
            }
        }
        ContentVerdict::Accept
    }

    /// The request analysers of a TCP-mode stream (`process_stream`'s
    /// `AN_REQ_INSPECT_FE`, `AN_REQ_SWITCHING_RULES`, `AN_REQ_INSPECT_BE`):
    /// the frontend's content rules, the backend choice, the backend's
    /// content rules; then the stream connects and forwards everything.
    pub(crate) fn tcp_analyse(&mut self, now: Time, sid: Id<Stream>) {
        use crate::stream::AnaFlags;
        if self.streams.get(sid).is_some_and(|s| {
            s.scf.state == crate::stream::stconn::ScState::Clo
                || s.err != crate::stream::ErrCode::None
        }) {
            return self.tcp_analyse_abort(sid);
        }
        loop {
            let Some(s) = self.streams.get(sid) else {
                return;
            };
            let (fe, be, ana) = (s.fe, s.be, s.ana);
            if ana.contains(AnaFlags::INSPECT_FE) {
                match self.tcp_inspect(now, sid, fe) {
                    ContentVerdict::Miss => return,
                    ContentVerdict::Reject => return self.tcp_content_reject(now, sid),
                    ContentVerdict::Accept | ContentVerdict::Close => {
                        self.streams[sid].ana.remove(AnaFlags::INSPECT_FE);
                    }
                }
                continue;
            }
            if ana.contains(AnaFlags::SWITCHING) {
                let be = self.tcp_select_backend(now, sid);
                self.stream_set_backend(sid, be);
                let s = &mut self.streams[sid];
                s.ana.remove(AnaFlags::SWITCHING);
                if be != fe && !self.proxies[be].rules.tcp_req_cont.is_empty() {
                    s.ana |= AnaFlags::INSPECT_BE;
                }
                continue;
            }
            if ana.contains(AnaFlags::INSPECT_BE) {
                match self.tcp_inspect(now, sid, be) {
                    ContentVerdict::Miss => return,
                    ContentVerdict::Reject => return self.tcp_content_reject(now, sid),
                    ContentVerdict::Accept | ContentVerdict::Close => {
                        self.streams[sid].ana.remove(AnaFlags::INSPECT_BE);
                    }
                }
                continue;
            }
            break;
        }
        // `use-server` and `stick` rules see the request before it leaves.
        self.stream_pre_assign(now, sid);
        // Analysed: connect, forward everything both ways.
        let s = &mut self.streams[sid];
        s.req.analyse_exp = None;
        s.rules_exp = None;
        s.req.flags |= ChnFlags::AUTO_CONNECT | ChnFlags::AUTO_CLOSE;
        s.res.flags |= ChnFlags::AUTO_CLOSE;
        s.req.forward(INFINITE_FORWARD);
        s.res.forward(INFINITE_FORWARD);
    }

    /// The client left or failed while the rules were waiting (a client
    /// timeout, a reset): nothing more is analysed nor connected; the
    /// stream is logged against the backend it would have used (HAProxy
    /// logs `fe be/<NOSRV> ... cR`).
    fn tcp_analyse_abort(&mut self, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        s.ana = crate::stream::AnaFlags::empty();
        s.rules_exp = None;
        s.req.analyse_exp = None;
        let fe = s.fe;
        if !s.flags.contains(crate::stream::SfFlags::BE_ASSIGNED) {
            let be = self.proxies[fe]
                .fe
                .as_ref()
                .and_then(|f| f.default_backend)
                .unwrap_or(fe);
            self.stream_set_backend(sid, be);
        }
    }

    /// One `tcp_inspect_request` pass of proxy `px`'s content rules: the
    /// evaluation is final once the client closed, the buffer is full,
    /// the proxy has no `inspect-delay` or it ran out.
    fn tcp_inspect(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        px: crate::proxy::ProxyId,
    ) -> ContentVerdict {
        let delay = self.proxies[px].inspect_delay_ms;
        let s = &mut self.streams[sid];
        if s.rules_exp.is_none() {
            s.rules_exp = delay.map(|d| now.add_ms(u64::from(d)));
        }
        let full = !s.req.buf.is_null() && s.req.recv_room() == 0;
        let done = s.req.shutr() || full || delay.is_none() || Time::is_expired(s.rules_exp, now);
        let head = self.stream_req_head_take(sid);
        let v = self.tcp_content_rules(now, sid, px, head.as_ref(), !done);
        let s = &mut self.streams[sid];
        if v == ContentVerdict::Miss {
            s.req.analyse_exp = s.rules_exp;
        } else {
            s.rules_exp = None;
            s.req.analyse_exp = None;
        }
        v
    }

    /// `use_backend` rules, then `default_backend`; the frontend itself
    /// when none applies (then no server: `SC`, as HAProxy logs it).
    fn tcp_select_backend(&mut self, now: Time, sid: Id<Stream>) -> crate::proxy::ProxyId {
        let fe = self.streams[sid].fe;
        let rules = Arc::clone(&self.proxies[fe].rules);
        let head = self.stream_req_head_take(sid);
        for r in &rules.switching {
            let mut ctx = HttpCtx::new(self, now, sid, head.as_ref(), None).for_proxy(fe);
            if r.cond.as_ref().is_some_and(|c| !c.matches(&mut ctx)) {
                continue;
            }
            let name = match &r.backend {
                crate::rules::BackendTarget::Static(n) => n.clone(),
                crate::rules::BackendTarget::Dynamic(lf) => {
                    String::from_utf8_lossy(&lf.render(&mut ctx)).into_owned()
                }
            };
            if let Some(be) = self.backend_by_name(&name) {
                return be;
            }
        }
        self.proxies[fe]
            .fe
            .as_ref()
            .and_then(|f| f.default_backend)
            .unwrap_or(fe)
    }

    /// A `tcp-request content reject`: the connection is reset, the
    /// request counted as denied by the frontend (HAProxy counts it there
    /// only), the stream logged `PR`.
    pub(crate) fn tcp_content_reject(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let fe = s.fe;
        s.ana = crate::stream::AnaFlags::empty();
        s.rules_exp = None;
        s.req.analyse_exp = None;
        s.set_term(crate::stream::ErrCode::PrxCond, crate::stream::FinSt::Req);
        if let Some(f) = self.proxies[fe].fe.as_mut() {
            f.denied_req += 1;
        }
        self.front_abort_how(now, sid, crate::sock::CloseHow::Graceful);
    }

    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`, `sc-inc-gpc(IDX,N)`.
    pub(crate) fn sc_inc_gpc(
        &mut self,
        now: Time,
        sess: Id<Session>,
        ctr: u8,
        dt: DataType,
        idx: usize,
    ) {
        let Some(c) = self
            .sessions
            .get(sess)
            .and_then(|s| s.stkctr.get(usize::from(ctr)).copied().flatten())
        else {
            return;
        };
        let Some(t) = self.tables.get_mut(c.table) else {
            return;
        };
        if let Ok(StData::UInt(v)) = t.get(c.entry, dt, idx) {
            let v = v.wrapping_add(1);
            let _ = t.set(c.entry, dt, idx, StData::UInt(v));
        }
        let rate = match dt {
            DataType::GPC0 => DataType::GPC0_RATE,
            DataType::GPC1 => DataType::GPC1_RATE,
            _ => DataType::GPC_RATE,
        };
        let _ = t.update_freq(now, c.entry, rate, idx, 1);
        t.touch_local(now, c.entry);
    }

    /// `sc-set-gpt0(N) V`, `sc-set-gpt(IDX,N) V`.
    pub(crate) fn sc_set_gpt(
        &mut self,
        now: Time,
        sess: Id<Session>,
        ctr: u8,
        dt: DataType,
        idx: usize,
        v: i64,
    ) {
        let Some(c) = self
            .sessions
            .get(sess)
            .and_then(|s| s.stkctr.get(usize::from(ctr)).copied().flatten())
        else {
            return;
        };
        let Some(t) = self.tables.get_mut(c.table) else {
            return;
        };
        if t.set(c.entry, dt, idx, StData::UInt(v as u32)).is_ok() {
            t.touch_local(now, c.entry);
        }
    }

    /// The client address a stream sees: its own, as its rules set it,
    /// else its session's (HAProxy's `sc_src(s->scf)`).
    pub(crate) fn strm_src(&self, s: &Stream) -> Option<core::net::SocketAddr> {
        s.src.or_else(|| self.sessions.get(s.sess)?.src)
    }

    /// The local address a stream sees (HAProxy's `sc_dst(s->scf)`).
    pub(crate) fn strm_dst(&self, s: &Stream) -> Option<core::net::SocketAddr> {
        s.dst.or_else(|| self.sessions.get(s.sess)?.dst)
    }

    /// `set-src`, `set-dst`, `set-src-port`, `set-dst-port` at `level`:
    /// a connection rule changes the connection's addresses (`fc_src`)
    /// and so the session's, a session rule the session's, a stream rule
    /// the stream's only (HAProxy's `conn->src`, `sess->src`,
    /// `s->scf->src`, each starting as a copy of the one under it).
    pub(crate) fn set_addr(
        &mut self,
        level: AddrLevel,
        sess: Id<Session>,
        field: AddrField,
        v: Option<crate::sample::Sample>,
    ) {
        let Some(v) = v else { return };
        let Some(se) = self.sessions.get(sess) else {
            return;
        };
        let src = matches!(field, AddrField::SrcIp | AddrField::SrcPort);
        let base = if src { se.src } else { se.dst };
        let cur = match level {
            AddrLevel::Stream(sid) => self
                .streams
                .get(sid)
                .and_then(|s| if src { s.src } else { s.dst })
                .or(base),
            _ => base,
        };
        let new = match field {
            AddrField::SrcIp | AddrField::DstIp => {
                let Some(crate::sample::Sample::Ip(ip)) = v.cast(crate::sample::SmpType::Addr)
                else {
                    return;
                };
                core::net::SocketAddr::new(ip, cur.map_or(0, |a| a.port()))
            }
            _ => {
                let Some(port) = v.as_int().and_then(|p| u16::try_from(p).ok()) else {
                    return;
                };
                let Some(mut a) = cur else { return };
                a.set_port(port);
                a
            }
        };
        let conn = se.conn;
        let slot = |a: &mut Option<core::net::SocketAddr>,
                    b: &mut Option<core::net::SocketAddr>| {
            if src {
                *a = Some(new);
            } else {
                *b = Some(new);
            }
        };
        match level {
            AddrLevel::Stream(sid) => {
                if let Some(s) = self.streams.get_mut(sid) {
                    let s = &mut *s;
                    slot(&mut s.src, &mut s.dst);
                }
            }
            AddrLevel::Conn | AddrLevel::Sess => {
                if level == AddrLevel::Conn {
                    if let Some(c) = self.conns.get_mut(conn) {
                        slot(&mut c.src, &mut c.dst);
                    }
                }
                if let Some(se) = self.sessions.get_mut(sess) {
                    slot(&mut se.src, &mut se.dst);
                }
            }
        }
    }
}
