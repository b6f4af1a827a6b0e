//! Server assignment, connection and queueing: HAProxy's `backend.c`
//! (`assign_server`, `connect_server`, `back_handle_st_*`) and `queue.c`
//! (`pendconn_add`, `process_srv_queue`).
//!
//! The back connector of a stream walks `REQ -> ASS -> CON -> EST`, with
//! `QUE` when every server is at its `maxconn`, and `CER -> TAR` on a failed
//! attempt: the attempt is retried `retries` times, on the same server
//! after a one-second turn-around (unless it timed out), or on another
//! server on the last retry when `option redispatch` is set.
//!
//! Queues: a stream waits in its server's queue when persistence chose a
//! full server, in the backend's queue when the load balancer found every
//! server full. When a connection slot frees up, `process_srv_queue` hands
//! it to the oldest waiter of that server, then of the backend.

pub mod agent;
pub(crate) mod check;
pub mod lb;
pub mod server;
pub mod slots;

use core::net::IpAddr;

use crate::arena::Id;
use crate::backend::server::{IdleConn, ServerId};
use crate::conn::proxy_hdr::Tlv;
use crate::conn::{CoFlags, Conn, ConnSide, Mux};
use crate::engine::Engine;
use crate::proxy::ProxyId;
use crate::proxy::StickRule;
use crate::sock::CloseHow;
use crate::stick_table::{DataType, StData, StKey};
use crate::stream::channel::ChnFlags;
use crate::stream::stconn::{ErrType, ScState};
use crate::stream::{ErrCode, FinSt, SfFlags, Stream};
use crate::time::Time;

/// The turn-around delay before retrying a refused connection.
const TURN_AROUND_MS: u64 = 1000;

/// What server assignment found.
enum Assign {
    Server(ServerId),
    /// Every usable server is full: wait in the backend queue.
    Full,
    /// No usable server.
    NoServer,
    /// The backend itself (`dispatch`, `option transparent`).
    Proxy,
}

/// What the request analysers decided about the server (TCP mode).
#[derive(Clone, Debug, Default)]
pub struct PreAssign {
    /// The server `use-server` or `stick match` picked, until taken.
    pub srv: Option<ServerId>,
    /// Per `stick` rule of the backend: the key it stores on connect
    /// (its condition held and its expression gave one).
    pub store: Vec<Option<StKey>>,
}

/// `option abortonclose` (HAProxy's `back_may_abort_req` with
/// `PR_O_ABRT_CLOSE`): an HTTP client that closed (even half-closed)
/// while its request waits in a queue or for its server connection
/// gives it up. HAProxy 2.6 needs the option on both sides: its H1 mux
/// reads after a complete request only for a frontend with the option
/// (`h1c->px`), the stream aborts only for a backend with it.
fn back_may_abort_req(s: &Stream, proxies: &[crate::proxy::Proxy]) -> bool {
    s.req.shutr()
        && matches!(
            s.scb.state,
            ScState::Req | ScState::Que | ScState::Tar | ScState::Ass | ScState::Con | ScState::Cer
        )
        && s.txn.is_some()
        && proxies[s.fe].abortonclose
        && proxies[s.be].abortonclose
}

impl Engine {
    /// The back connector's state machine (`back_handle_st_*`).
    pub(crate) fn back_update(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        // The rare condition first: this runs at every stream wake-up.
        if s.req.shutr() && back_may_abort_req(s, &self.proxies) {
            return self.back_abort_on_close(now, sid);
        }
        match s.scb.state {
            ScState::Ini if s.req.flags.contains(ChnFlags::AUTO_CONNECT) => {
                s.scb.state = ScState::Req;
                self.http_l7_retry_arm(sid);
            }
            ScState::Req => self.back_handle_req(now, sid),
            ScState::Que if Time::is_expired(s.scb.exp, now) => {
                s.scb.exp = None;
                s.scb.err_type = ErrType::QueueTo;
                s.set_term(ErrCode::SrvTo, FinSt::Queue);
                // `%Tw` is the time spent in the queue, also when it ran out.
                s.t_queue = s.queue_start.map(|t| now - t);
                self.queue_remove(sid);
                self.back_fail(now, sid);
            }
            ScState::Tar if Time::is_expired(s.scb.exp, now) => {
                s.scb.exp = None;
                s.scb.state = if s.flags.contains(SfFlags::ASSIGNED) {
                    ScState::Ass
                } else {
                    ScState::Req
                };
            }
            ScState::Ass => self.connect_server(now, sid),
            ScState::Con if Time::is_expired(s.scb.exp, now) => {
                s.scb.exp = None;
                s.scb.err_type = ErrType::ConnTo;
                self.back_conn_error(now, sid);
            }
            ScState::Cer => self.back_handle_cer(now, sid),
            _ => {}
        }
    }

    /// The client gave its waiting request up: nothing goes to the
    /// server, the client connection closes without an answer, and the
    /// stream is logged `CQ` (in a queue) or `CC` (connecting), as
    /// HAProxy's `abort_connection` path (`SI_ET_QUEUE_ABRT`,
    /// `SI_ET_CONN_ABRT`).
    fn back_abort_on_close(&mut self, now: Time, sid: Id<Stream>) {
        let s = &mut self.streams[sid];
        let fin = if s.scb.state == ScState::Que {
            s.t_queue = s.queue_start.map(|t| now - t);
            FinSt::Queue
        } else {
            FinSt::Connect
        };
        s.set_term(ErrCode::CliCl, fin);
        if let Some(t) = s.txn.as_mut() {
            t.flags |=
                crate::http::ana::TxnFlags::CLI_CLOSE | crate::http::ana::TxnFlags::SRV_CLOSE;
        }
        self.queue_remove(sid);
        self.back_close(now, sid, CloseHow::Reset);
        // A FIN, as HAProxy closes the client connection here.
        self.front_abort_how(now, sid, CloseHow::Graceful);
    }

    /// A stream's first server gets the request bytes read before it was
    /// chosen (HAProxy counts a stream's bytes after its analysers ran, so
    /// the server picked in the same pass has them); a redispatch does not
    /// count them twice.
    fn srv_count_seen(&mut self, sid: Id<Stream>, srv: ServerId) {
        let s = &self.streams[sid];
        if s.prev_srv.is_some() || s.srv.is_some() || s.req.total == 0 {
            return;
        }
        let seen = s.req.total;
        if let Some(sv) = self.server_mut(srv) {
            sv.bytes_in += seen;
        }
    }

    /// REQ: assign a server, or queue, or fail.
    fn back_handle_req(&mut self, now: Time, sid: Id<Stream>) {
        match self.assign_server(now, sid) {
            Assign::Server(srv) => {
                self.srv_count_seen(sid, srv);
                let s = &mut self.streams[sid];
                s.srv = Some(srv);
                s.flags |= SfFlags::ASSIGNED;
                s.scb.state = ScState::Ass;
                let full = self
                    .backend(srv.be)
                    .is_some_and(|b| b.servers[srv].is_full(b.load()));
                if full {
                    self.queue_add(now, sid, Some(srv));
                }
            }
            Assign::Full => self.queue_add(now, sid, None),
            Assign::Proxy => {
                let s = &mut self.streams[sid];
                s.srv = None;
                s.flags |= SfFlags::ASSIGNED;
                s.scb.state = ScState::Ass;
            }
            Assign::NoServer => {
                let s = &mut self.streams[sid];
                s.scb.err_type = ErrType::ConnOther;
                s.set_term(ErrCode::SrvCl, FinSt::Connect);
                self.back_fail(now, sid);
            }
        }
    }

    /// The client's address as the stream sees it (after a PROXY header).
    pub(crate) fn stream_src(&self, sid: Id<Stream>) -> Option<IpAddr> {
        let s = self.streams.get(sid)?;
        self.strm_src(s).map(|a| a.ip())
    }

    /// `assign_server`: persistence first (`stick match`), then the load
    /// balancer.
    fn assign_server(&mut self, now: Time, sid: Id<Stream>) -> Assign {
        let (be, avoid) = {
            let s = &self.streams[sid];
            (s.be, s.prev_srv)
        };
        let pre = match self.streams[sid].pre.as_mut() {
            Some(p) => Some(p.srv.take()),
            None => None,
        };
        let direct = self.streams[sid].direct_srv.take();
        let chosen = match (pre, direct) {
            (Some(srv), _) => srv,
            (None, Some(srv)) => Some(srv),
            (None, None) => self
                .use_server_match(now, sid)
                .or_else(|| self.stick_match(now, sid)),
        };
        if let Some(srv) = chosen {
            self.streams[sid].flags |= SfFlags::DIRECT;
            return Assign::Server(srv);
        }
        if self.proxies[be]
            .be
            .as_ref()
            .is_some_and(|b| b.cfg.no_lb.is_some())
        {
            return Assign::Proxy;
        }
        let usable = self.proxies[be]
            .be
            .as_ref()
            .is_some_and(|b| b.servers.iter().any(|s| s.usable() && s.uweight > 0));
        if !usable {
            return Assign::NoServer;
        }
        if let Some(srv) = self.prefer_last_server(sid) {
            return Assign::Server(srv);
        }
        let hash = self.balance_key(now, sid);
        let rng = &mut self.rng;
        let Some(b) = self.proxies[be].be.as_mut() else {
            return Assign::NoServer;
        };
        let load = b.load();
        let servers = &mut self.lb_servers;
        servers.clear();
        servers.extend(b.servers.iter().map(|s| lb_view(s, load)));
        let avoid = avoid.map(ServerId::pos);
        let picked = match b.cfg.balance {
            crate::cfgparse::Balance::Random { draws } => {
                b.lb.pick_random(servers, draws, || rng.next_u32(), avoid)
            }
            _ => b.lb.pick(servers, hash, avoid),
        };
        match picked {
            Some(i) => Assign::Server(ServerId::new(be, i)),
            None => Assign::Full,
        }
    }

    /// `option prefer-last-server` (HAProxy's `assign_server`, with an
    /// algorithm that does not hash a key): the server of the session's
    /// last stream, if it is usable and a connection of the session's own
    /// to it is idle. As in HAProxy 2.6, only private connections stay
    /// with the session (`http-reuse never`): a shared one
    /// went back to the server's pool, and the option then changes
    /// nothing.
    fn prefer_last_server(&self, sid: Id<Stream>) -> Option<ServerId> {
        let s = self.streams.get(sid)?;
        let b = self.proxies[s.be].be.as_ref()?;
        if !b.cfg.prefer_last_server || matches!(b.lb.algo(), lb::Algo::Source | lb::Algo::Chash) {
            return None;
        }
        let last = self.sessions.get(s.sess)?.last_srv?;
        let server = b.servers.get(last.pos()).filter(|_| last.be == s.be)?;
        let reusable = server
            .per_thr
            .idle
            .iter()
            .any(|ic| ic.owner == Some(s.sess));
        (server.usable() && reusable).then_some(last)
    }

    /// The hash of the key a hash-based `balance` looks for (HAProxy's
    /// `get_server_sh`, `_uh`, `_ph`, `_hh`, `_rch`, `_expr`), after the
    /// `hash-type` function and avalanche; `None` when the key is missing,
    /// and the algorithm then falls back to round robin as HAProxy's does.
    fn balance_key(&mut self, now: Time, sid: Id<Stream>) -> Option<u32> {
        use crate::cfgparse::Balance;
        let be = self.streams.get(sid)?.be;
        let cfg = std::sync::Arc::clone(&self.proxies[be].be.as_ref()?.cfg);
        let ht = cfg.hash_type;
        let h = |data: &[u8]| ht.func.hash(data);
        let raw = match &cfg.balance {
            Balance::Source => lb::hash_ip(self.stream_src(sid)?),
            Balance::Uri {
                whole,
                path_only,
                len,
                depth,
            } => {
                let head = self.streams[sid].txn.as_ref()?.req_head.as_ref()?;
                let mut uri = head.uri.as_bytes();
                if *path_only {
                    uri = lb_uri_path(uri);
                }
                h(lb_uri_key(uri, *whole, *len as usize, *depth as usize))
            }
            Balance::UrlParam { name, .. } => {
                let head = self.streams[sid].txn.as_ref()?.req_head.as_ref()?;
                h(lb_url_param(head.uri.as_bytes(), name.as_bytes())?)
            }
            Balance::Hdr {
                name,
                use_domain_only,
            } => {
                let head = self.streams[sid].txn.as_ref()?.req_head.as_ref()?;
                let v = head.headers.get_all(name.as_bytes()).next()?;
                // The first comma-separated value, trimmed.
                let v = v.split(|&c| c == b',').next().unwrap_or(v);
                let v = v.trim_ascii();
                if v.is_empty() {
                    return None;
                }
                if *use_domain_only {
                    h(lb_domain_only(v))
                } else {
                    h(v)
                }
            }
            Balance::RdpCookie { name } => {
                let s = &self.streams[sid];
                h(rdp_cookie(s.req.buf.data(), name.as_bytes())?)
            }
            Balance::Hash { .. } => {
                let expr = cfg.hash_expr.as_ref()?;
                let req = self.stream_req_head_take(sid);
                let v = {
                    let mut ctx =
                        crate::http::fetch::HttpCtx::new(self, now, sid, req.as_ref(), None)
                            .for_proxy(be);
                    expr.eval_as(&mut ctx, crate::sample::SmpType::Bin)
                };
                self.stream_req_head_restore(sid, req);
                match v? {
                    crate::sample::Sample::Bin(b) | crate::sample::Sample::Str(b) => h(&b),
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(if ht.avalanche {
            lb::full_hash(raw)
        } else {
            raw
        })
    }

    /// The request head the stream's rules see: the HTTP transaction's
    /// (taken out while the rules borrow the engine), or in TCP mode the
    /// head at the start of the request buffer, parsed on the fly for HTTP
    /// fetches as HAProxy's `smp_prefetch_htx` does.
    pub(crate) fn stream_req_head_take(
        &mut self,
        sid: Id<Stream>,
    ) -> Option<crate::http::h1::ReqHead> {
        let s = self.streams.get_mut(sid)?;
        match s.txn.as_mut() {
            Some(t) => t.req_head.take(),
            None => {
                let input = &s.req.buf.data()[s.req.output.min(s.req.buf.len())..];
                match crate::http::h1::parse_request(
                    input,
                    &crate::http::h1::ParseOptions::default(),
                ) {
                    Ok(crate::http::h1::Status::Complete((h, _))) => Some(h),
                    _ => None,
                }
            }
        }
    }

    /// Gives back what [`Engine::stream_req_head_take`] took.
    pub(crate) fn stream_req_head_restore(
        &mut self,
        sid: Id<Stream>,
        head: Option<crate::http::h1::ReqHead>,
    ) {
        if let Some(t) = self.streams.get_mut(sid).and_then(|s| s.txn.as_mut()) {
            t.req_head = head;
        }
    }

    /// Whether the condition of rule `cond` of proxy `px` holds for the
    /// stream now (request data, final; `res`: the response head too).
    pub(crate) fn stream_cond_holds(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        px: ProxyId,
        cond: Option<&crate::acl::Condition>,
        res: Option<&crate::http::h1::ResHead>,
    ) -> bool {
        let Some(cond) = cond else { return true };
        let req = self.stream_req_head_take(sid);
        let ok = {
            let mut ctx =
                crate::http::fetch::HttpCtx::new(self, now, sid, req.as_ref(), res).for_proxy(px);
            cond.matches(&mut ctx)
        };
        self.stream_req_head_restore(sid, req);
        ok
    }

    /// Decides `use-server` and the `stick` rules' conditions on the
    /// request as the analysers see it (TCP mode, before its bytes are
    /// forwarded): the server is taken when the stream asks for one.
    pub(crate) fn stream_pre_assign(&mut self, now: Time, sid: Id<Stream>) {
        let be = self.streams[sid].be;
        let Some(b) = self.proxies[be].be.as_ref() else {
            return;
        };
        let stick = b.cfg.stick.clone();
        let all = std::sync::Arc::clone(&self.proxies[be].rules);
        let srv = self
            .use_server_match(now, sid)
            .or_else(|| self.stick_match(now, sid));
        let mut store = Vec::with_capacity(stick.len());
        for r in &stick {
            let rule = all.sticking.get(r.rule);
            let key = match rule {
                Some(rule)
                    if r.storing
                        && !r.on_response
                        && self.stream_cond_holds(now, sid, be, rule.cond.as_ref(), None) =>
                {
                    self.stick_key(now, sid, be, &rule.expr, r.table, None)
                }
                _ => None,
            };
            store.push(key);
        }
        self.streams[sid].pre = Some(PreAssign { srv, store });
    }

    /// `use-server` rules (HAProxy's `process_server_rules`): the first
    /// whose condition holds and whose server is not down picks it.
    pub(crate) fn use_server_match(&mut self, now: Time, sid: Id<Stream>) -> Option<ServerId> {
        let be = self.streams[sid].be;
        self.proxies[be].be.as_ref()?;
        let rules = std::sync::Arc::clone(&self.proxies[be].rules);
        for r in &rules.server_rules {
            if !self.stream_cond_holds(now, sid, be, Some(&r.cond), None) {
                continue;
            }
            let name = match &r.server {
                crate::rules::BackendTarget::Static(n) => n.clone(),
                crate::rules::BackendTarget::Dynamic(lf) => {
                    let req = self.stream_req_head_take(sid);
                    let n = {
                        let mut ctx =
                            crate::http::fetch::HttpCtx::new(self, now, sid, req.as_ref(), None)
                                .for_proxy(be);
                        String::from_utf8_lossy(&lf.render(&mut ctx)).into_owned()
                    };
                    self.stream_req_head_restore(sid, req);
                    n
                }
            };
            let b = self.proxies[be].be.as_ref()?;
            let servers = &b.servers;
            // A dynamic name that is no server ends the rules (HAProxy).
            let i = servers
                .iter()
                .position(|s| !s.deleted && s.cfg.name == name)?;
            let s = &servers[i];
            // `option persist` and `force-persist` send to a down server.
            let force = b.cfg.persist
                || self.streams[sid]
                    .flags
                    .contains(crate::stream::SfFlags::FORCE_PRST);
            if force
                || (s.state != crate::backend::server::SrvState::Stopped && !s.admin.is_maint())
            {
                return Some(ServerId::new(be, i));
            }
        }
        None
    }

    /// `stick match`/`stick on` (HAProxy's `process_sticking_rules` and
    /// `sticking_rule_find_target`): the server recorded under the key of
    /// the first rule whose condition holds, whose key is found and whose
    /// entry names a usable server of the backend.
    fn stick_match(&mut self, now: Time, sid: Id<Stream>) -> Option<ServerId> {
        let be = self.streams[sid].be;
        let b = self.proxies[be].be.as_ref()?;
        if !b.cfg.stick.iter().any(|r| r.matching) {
            return None;
        }
        let rules = b.cfg.stick.clone();
        let all = std::sync::Arc::clone(&self.proxies[be].rules);
        for r in rules.iter().filter(|r| r.matching) {
            let Some(rule) = all.sticking.get(r.rule) else {
                continue;
            };
            if !self.stream_cond_holds(now, sid, be, rule.cond.as_ref(), None) {
                continue;
            }
            let Some(key) = self.stick_key(now, sid, be, &rule.expr, r.table, None) else {
                continue;
            };
            let table = self.tables.get_mut(r.table)?;
            let Some(entry) = table.lookup(&key) else {
                continue;
            };
            let by_key = match table.get(entry, DataType::SERVER_KEY, 0) {
                Ok(StData::Dict(Some(k))) => Some((table.params().srvkey, k.clone())),
                _ => None,
            };
            let by_id = match table.get(entry, DataType::SERVER_ID, 0) {
                Ok(StData::SInt(id)) => Some(*id),
                _ => None,
            };
            table.touch_local(now, entry);
            let servers = &self.proxies[be].be.as_ref()?.servers;
            let found = by_key
                .and_then(|(kind, k)| {
                    servers.iter().position(|s| {
                        !s.deleted
                            && server_key(s, kind).as_deref().map(str::as_bytes) == Some(&k[..])
                    })
                })
                .or_else(|| {
                    let id = by_id?;
                    servers
                        .iter()
                        .position(|s| !s.deleted && s.cfg.puid as i32 == id)
                });
            if let Some(i) = found {
                if servers[i].usable()
                    || servers[i].admin == crate::backend::server::SrvAdmin::Drain
                {
                    return Some(ServerId::new(be, i));
                }
            }
        }
        None
    }

    /// The key of a stick rule's expression, converted to its table's
    /// type (HAProxy's `stktable_fetch_key`); `res`: on the response.
    fn stick_key(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        be: ProxyId,
        expr: &crate::sample::SampleExpr,
        table: crate::stick_table::TableId,
        res: Option<&crate::http::h1::ResHead>,
    ) -> Option<StKey> {
        let req = self.stream_req_head_take(sid);
        let v = {
            let mut ctx =
                crate::http::fetch::HttpCtx::new(self, now, sid, req.as_ref(), res).for_proxy(be);
            expr.eval(&mut ctx)
        };
        self.stream_req_head_restore(sid, req);
        crate::fetch::sample_to_key(self.tables.get(table)?.params(), v?)
    }

    /// `stick on|store-request` (and `store-response` in TCP mode) when the
    /// server connection is up; `res`: the response head arrived (HTTP),
    /// the `store-response` rules run then, on it. As HAProxy's
    /// `process_store_rules`, only the first rule of each kind whose
    /// condition holds and whose key exists stores in a given table; the
    /// entry records the server's id and its `srvkey` (name or address).
    pub(crate) fn stick_store(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        res: Option<&crate::http::h1::ResHead>,
    ) {
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        let (be, Some(srv)) = (s.be, s.srv) else {
            return;
        };
        let http = s.txn.is_some();
        // Which rules store now: at connect, all but HTTP's store-response.
        let now_rule = |r: &StickRule| {
            r.storing
                && match res {
                    Some(_) => r.on_response,
                    None => !(http && r.on_response),
                }
        };
        let Some(b) = self.proxies[be].be.as_ref() else {
            return;
        };
        if !b.cfg.stick.iter().any(now_rule) {
            return;
        }
        let rules = b.cfg.stick.clone();
        let all = std::sync::Arc::clone(&self.proxies[be].rules);
        let server = &b.servers[srv];
        let puid = server.cfg.puid;
        let keys = [
            server_key(server, crate::stick_table::SrvKey::Name),
            server_key(server, crate::stick_table::SrvKey::Addr),
        ];
        let pre = self.streams[sid].pre.as_ref().map(|p| p.store.clone());
        // (table, store-response) pairs already stored.
        let mut done: Vec<(crate::stick_table::TableId, bool)> = Vec::new();
        for (i, r) in rules.iter().enumerate().filter(|(_, r)| now_rule(r)) {
            if done.contains(&(r.table, r.on_response)) {
                continue;
            }
            let key = match (pre.as_ref(), res) {
                // Decided when the request was analysed.
                (Some(p), None) if !r.on_response => p.get(i).cloned().flatten(),
                _ => {
                    let Some(rule) = all.sticking.get(r.rule) else {
                        continue;
                    };
                    if !self.stream_cond_holds(now, sid, be, rule.cond.as_ref(), res) {
                        continue;
                    }
                    self.stick_key(now, sid, be, &rule.expr, r.table, res)
                }
            };
            let Some(key) = key else {
                continue;
            };
            done.push((r.table, r.on_response));
            let Some(table) = self.tables.get_mut(r.table) else {
                continue;
            };
            let Some(id) = table.get_or_create(now, key) else {
                continue;
            };
            let _ = table.set(id, DataType::SERVER_ID, 0, StData::SInt(puid as i32));
            let name = match table.params().srvkey {
                crate::stick_table::SrvKey::Name => &keys[0],
                crate::stick_table::SrvKey::Addr => &keys[1],
            };
            if let Some(k) = name {
                let v = StData::Dict(Some(bytes::Bytes::from(k.clone().into_bytes())));
                let _ = table.set(id, DataType::SERVER_KEY, 0, v);
            }
            table.touch_local(now, id);
        }
    }

    /// `http-send-name-header` (HAProxy's `http_send_name_header`): the
    /// request about to leave for its server carries that server's name in
    /// the header, any former value removed (a retry or a redispatch
    /// renames it). The head is the front of the request's output: nothing
    /// of it was sent yet, the connection is still to be opened.
    fn send_name_header(&mut self, sid: Id<Stream>) {
        let s = &self.streams[sid];
        let (be, Some(srv)) = (s.be, s.srv) else {
            return;
        };
        if s.txn.is_none() {
            return;
        }
        let Some(b) = self.proxies[be].be.as_ref() else {
            return;
        };
        let Some(name) = b.cfg.server_id_hdr_name.as_deref() else {
            return;
        };
        let value = b.servers[srv].cfg.name.clone();
        let s = &mut self.streams[sid];
        let out = s.req.output.min(s.req.buf.len());
        let opts = crate::http::h1::ParseOptions {
            max_head_len: out,
            ..Default::default()
        };
        let Ok(crate::http::h1::Status::Complete((mut head, used))) =
            crate::http::h1::parse_request(&s.req.buf.data()[..out], &opts)
        else {
            return;
        };
        head.headers.remove(name);
        if head.headers.add(name, value.as_bytes()).is_err() {
            return;
        }
        let mut bytes = std::mem::take(&mut self.head_out);
        bytes.clear();
        head.encode(&mut bytes);
        let s = &mut self.streams[sid];
        if s.req.buf.replace_front(used, &bytes) {
            s.req.output = out - used + bytes.len();
        }
        self.head_out = bytes;
    }

    /// Where a server at `addr` without an address (0.0.0.0) or port
    /// connects for stream `sid` (HAProxy's `alloc_dst_address`): the
    /// address, the port the client connected to; the stream's own
    /// destination first (`sc_dst(s->scf)`).
    fn stream_target(
        &self,
        sid: Id<Stream>,
        mut addr: core::net::SocketAddr,
    ) -> core::net::SocketAddr {
        let sessions = &self.sessions;
        let dst = self
            .streams
            .get(sid)
            .and_then(|s| s.dst.or_else(|| sessions.get(s.sess).and_then(|se| se.dst)));
        if let Some(d) = dst {
            if addr.ip().is_unspecified() {
                addr.set_ip(d.ip());
            }
            if addr.port() == 0 {
                addr.set_port(d.port());
            }
        }
        addr
    }

    /// ASS: open the connection to the assigned server (`connect_server`).
    fn connect_server(&mut self, now: Time, sid: Id<Stream>) {
        let s = &mut self.streams[sid];
        let (be, Some(srv)) = (s.be, s.srv) else {
            let no_lb = self.proxies[s.be].be.as_ref().and_then(|b| b.cfg.no_lb);
            return match no_lb {
                Some(t) if s.flags.contains(SfFlags::ASSIGNED) => self.connect_proxy(now, sid, t),
                _ => s.scb.state = ScState::Req,
            };
        };
        let b = self.proxies[be]
            .be
            .as_mut()
            .expect("stream on a proxy without backend");
        let load = b.load();
        let server = &mut b.servers[srv];
        if server.is_full(load) {
            // A slot went to someone else meanwhile: wait for one.
            self.queue_add(now, sid, Some(srv));
            return;
        }
        let rhttp = server.cfg.rhttp;
        let sni_expr = server.cfg.sni_expr.is_some();
        self.send_name_header(sid);
        let sni = if sni_expr {
            self.srv_sni(now, sid, srv)
        } else {
            None
        };
        // A server without an address or port connects where the stream
        // goes: a connection is reused only for the same destination
        // (part of HAProxy's connection hash).
        let dst = self.server(srv).and_then(|x| {
            let a = x.cfg.addr;
            let mapped =
                !x.cfg.rhttp && x.cfg.unix.is_none() && (a.ip().is_unspecified() || a.port() == 0);
            mapped.then(|| self.stream_target(sid, a))
        });
        if self.try_reuse(now, sid, sni.as_deref(), dst) {
            return;
        }
        if rhttp {
            // Never connected to: only the connections edges opened.
            return self.rhttp_no_conn(now, sid, srv);
        }
        let b = self.proxies[be].be.as_mut().expect("backend");
        let server = &mut b.servers[srv];
        let mut addr = server.cfg.addr;
        let unix = server.cfg.unix.clone();
        server.take_slot(self.now);
        if let Some(d) = dst.filter(|_| unix.is_none()) {
            addr = d;
        }
        let send_proxy = server.cfg.send_proxy;
        let pp_opts = server.cfg.pp_opts;
        let (proto_h2, ws_mode) = (server.cfg.proto_h2, server.cfg.ws);
        let tls = server.cfg.tls.clone();
        // A websocket request takes the protocol `ws` names (HAProxy's
        // `srv_get_ws_proto`, and over TLS the ALPN `connect_server`
        // offers instead of the server's list: `conn_update_alpn`).
        let (proto_h2, alpn) = if self.stream_is_websocket(sid) {
            ws_protocol(ws_mode, proto_h2, tls.as_deref().map(|t| t.alpn()))
        } else {
            (proto_h2, None)
        };
        let connect_to = self.proxies[be].timeouts.connect_ms;
        let ci = self.conns.next_id();
        let sock = self.new_sock(ci);
        let mut conn = Conn::new(sock, crate::conn::Origin::Dialed, ConnSide::Back { srv });
        conn.flags |= CoFlags::WAIT_L4_CONN;
        conn.dst = Some(addr).filter(|_| unix.is_none());
        conn.mux = Mux::init_pt(Some(sid));
        if let Some(v) = send_proxy {
            conn.flags |= CoFlags::SEND_PROXY;
            conn.hdr_out = self.proxy_header_for(now, sid, v, pp_opts);
            conn.pp_line = Some(conn.hdr_out.clone().into_boxed_slice());
        }
        // Never clear text to an `ssl` server: a TLS state rustls cannot
        // make fails the attempt like a refused connect.
        let mut tls_failed = false;
        conn.sni = sni.clone();
        if let Some(ctx) = tls {
            let a = alpn.unwrap_or_else(|| ctx.config.alpn_protocols.clone());
            let t = crate::conn::tls::Tls::client_for(&ctx, a, sni.as_deref());
            match t {
                Ok(t) => conn.xprt = crate::conn::Xprt::Tls(Box::new(t)),
                Err(_) => tls_failed = true,
            }
        }
        let c = self.conns.insert(conn);
        crate::bug_on!(c != ci);
        // `proto h2`: the server mux speaks HTTP/2 from the first byte
        // (an HTTP stream only: the configuration refuses it in TCP mode).
        if proto_h2 && self.streams[sid].txn.is_some() {
            self.h2b_install(c);
            self.h2b_attach(c, sid);
            self.h2b_set_owner(c, sid);
        }
        let s = &mut self.streams[sid];
        s.flags |= SfFlags::CURR_SESS;
        s.scb.sedesc.conn = Some(c);
        s.scb.state = ScState::Con;
        s.conn_start = Some(now);
        s.scb.exp = connect_to.map(|t| now.add_ms(u64::from(t)));
        if tls_failed {
            self.free_sock(sock);
            return self.sc_conn_connect_error(now, sid, crate::sock::SockError::Other(0));
        }
        match unix {
            Some(u) => self.connect_unix(sock, u),
            None => self.connect(sock, addr),
        }
    }

    /// ASS without a server: connect to the backend's `dispatch` address,
    /// or with `option transparent` to the address the client connected
    /// to (HAProxy's `alloc_dst_address` for a proxy target). The
    /// connection is private to the session: an idle one of its own to
    /// this backend is reused, as HAProxy reuses its session's
    /// connections to the same target.
    fn connect_proxy(&mut self, now: Time, sid: Id<Stream>, target: crate::proxy::NoLb) {
        let s = &self.streams[sid];
        let (be, sess, http) = (s.be, s.sess, s.txn.is_some());
        let addr = match target {
            crate::proxy::NoLb::Dispatch(a) => Some(a),
            crate::proxy::NoLb::Transparent => s
                .dst
                .or_else(|| self.sessions.get(sess).and_then(|se| se.dst)),
        };
        let Some(addr) = addr else {
            // A client connection without a destination (a UNIX socket):
            // nowhere to go, as HAProxy's connect to an unset address.
            let s = &mut self.streams[sid];
            s.scb.err_type = ErrType::ConnOther;
            s.set_term(ErrCode::SrvCl, FinSt::Connect);
            return self.back_fail(now, sid);
        };
        let idle = self
            .sessions
            .get_mut(sess)
            .and_then(|se| se.proxy_idle.take());
        if let Some(c) = idle {
            let mine = self.conns.get(c).is_some_and(|x| {
                x.side == ConnSide::BackProxy { be, owner: sess } && x.dst == Some(addr)
            });
            if http && mine {
                if let Some(conn) = self.conns.get_mut(c) {
                    conn.mux.attach(sid);
                }
                let s = &mut self.streams[sid];
                s.scb.sedesc.conn = Some(c);
                s.scb.state = ScState::Con;
                s.conn_start = Some(now);
                if let Some(t) = s.txn.as_mut() {
                    t.flags |= crate::http::ana::TxnFlags::REUSED;
                }
                self.back_connected(now, sid);
                return;
            }
            self.conn_close(now, c, CloseHow::Graceful);
        }
        let connect_to = self.proxies[be].timeouts.connect_ms;
        let ci = self.conns.next_id();
        let sock = self.new_sock(ci);
        let mut conn = Conn::new(
            sock,
            crate::conn::Origin::Dialed,
            ConnSide::BackProxy { be, owner: sess },
        );
        conn.flags |= CoFlags::WAIT_L4_CONN;
        conn.dst = Some(addr);
        conn.mux = Mux::init_pt(Some(sid));
        let c = self.conns.insert(conn);
        crate::bug_on!(c != ci);
        let s = &mut self.streams[sid];
        s.scb.sedesc.conn = Some(c);
        s.scb.state = ScState::Con;
        s.conn_start = Some(now);
        s.scb.exp = connect_to.map(|t| now.add_ms(u64::from(t)));
        self.connect(sock, addr);
    }

    /// The PROXY header a `send-proxy`/`send-proxy-v2` server gets.
    fn proxy_header_for(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        version: u8,
        pp_opts: u16,
    ) -> Vec<u8> {
        let tlvs = if version == 2 && pp_opts != 0 {
            self.proxy_v2_tlvs(now, sid, pp_opts)
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        let (src, dst) = self
            .streams
            .get(sid)
            .map_or((None, None), |s| (self.strm_src(s), self.strm_dst(s)));
        if version == 2 {
            // Only an impossible address pair fails; then nothing is sent.
            let _ = crate::conn::proxy_hdr::encode_v2(src, dst, &tlvs, &mut out);
        } else {
            crate::conn::proxy_hdr::encode_v1(src, dst, &mut out);
        }
        out
    }

    /// Whether idle connection `c` started with the PROXY line stream
    /// `sid` would send (always true without `send-proxy`). Cold: the
    /// caller checks first that `c` sent a PROXY line at all.
    #[cold]
    fn pp_line_matches(&mut self, now: Time, sid: Id<Stream>, c: Id<Conn>) -> bool {
        let Some(line) = self.conns.get(c).and_then(|x| x.pp_line.clone()) else {
            return true;
        };
        let Some(srv) = self.streams.get(sid).and_then(|s| s.srv) else {
            return true;
        };
        let Some(sv) = self.server_mut(srv) else {
            return true;
        };
        let (Some(v), pp_opts) = (sv.cfg.send_proxy, sv.cfg.pp_opts) else {
            return true;
        };
        self.proxy_header_for(now, sid, v, pp_opts)[..] == line[..]
    }

    /// The TLVs `proxy-v2-options` asks for, in HAProxy's order
    /// (`make_proxy_line_v2`): CRC32C, AUTHORITY (the client's PROXY
    /// authority, else its SNI), UNIQUE_ID (the stream's unique id, empty
    /// without `unique-id-format`), SSL (the client connection's TLS: the
    /// client bits, the verify result, the version, and on demand the
    /// certificate's CN, the cipher, the signature and key algorithms).
    fn proxy_v2_tlvs(&mut self, now: Time, sid: Id<Stream>, pp_opts: u16) -> Vec<Tlv> {
        use crate::cfgparse::pp_opts as o;
        use crate::conn::proxy_hdr::{SslClient, SslTlv, SubTlv};
        let mut tlvs = Vec::new();
        let Some(s) = self.streams.get(sid) else {
            return tlvs;
        };
        let (sess, fe) = (s.sess, s.fe);
        let fetch = |eng: &mut Engine, kw: &str| {
            let e =
                crate::sample::SampleExpr::parse(kw, &crate::sample::ParseCtx::detached()).ok()?;
            let mut ctx = crate::fetch::SessCtx {
                eng,
                now,
                sess,
                proxy: fe,
            };
            e.eval(&mut ctx)
        };
        let bytes = |v: Option<crate::sample::Sample>| {
            v.and_then(|v| v.cast(crate::sample::SmpType::Str))
                .and_then(|v| v.into_bytes())
                .filter(|b| !b.is_empty())
        };
        if pp_opts & o::CRC32C != 0 {
            tlvs.push(Tlv::Crc32c(0));
        }
        if pp_opts & o::AUTHORITY != 0 {
            let pp = self
                .sessions
                .get(sess)
                .and_then(|se| self.conns.get(se.conn))
                .and_then(|c| c.pp_tlvs.as_ref())
                .and_then(|t| t.0.clone());
            let v = match pp {
                Some(v) => Some(v),
                None => bytes(fetch(self, "ssl_fc_sni")),
            };
            if let Some(v) = v {
                tlvs.push(Tlv::Authority(v));
            }
        }
        if pp_opts & o::UNIQUE_ID != 0 {
            let id = self.unique_id(now, sid).unwrap_or_default();
            tlvs.push(Tlv::UniqueId(id.into_bytes()));
        }
        if pp_opts & o::SSL != 0 {
            let mut ssl = SslTlv {
                client: SslClient(0),
                verify: 0,
                subs: Vec::new(),
            };
            let is = |v: Option<crate::sample::Sample>| {
                matches!(v, Some(crate::sample::Sample::Bool(true)))
            };
            if is(fetch(self, "ssl_fc")) {
                ssl.client.0 |= SslClient::SSL;
                if let Some(v) = bytes(fetch(self, "ssl_fc_protocol")) {
                    ssl.subs.push(SubTlv {
                        kind: SubTlv::SSL_VERSION,
                        value: v,
                    });
                }
                if is(fetch(self, "ssl_c_used")) {
                    ssl.client.0 |= SslClient::CERT_SESS | SslClient::CERT_CONN;
                    let verify = fetch(self, "ssl_c_verify").and_then(|v| v.as_int());
                    ssl.verify = verify.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
                }
                let subs = [
                    (o::SSL_CN, "ssl_c_s_dn(CN)", SubTlv::SSL_CN),
                    (o::SSL_KEY_ALG, "ssl_c_key_alg", SubTlv::SSL_KEY_ALG),
                    (o::SSL_SIG_ALG, "ssl_c_sig_alg", SubTlv::SSL_SIG_ALG),
                    (o::SSL_CIPHER, "ssl_fc_cipher", SubTlv::SSL_CIPHER),
                ];
                for (bit, kw, kind) in subs {
                    if pp_opts & bit == 0 {
                        continue;
                    }
                    if let Some(v) = bytes(fetch(self, kw)) {
                        ssl.subs.push(SubTlv { kind, value: v });
                    }
                }
            }
            tlvs.push(Tlv::Ssl(ssl));
        }
        tlvs
    }

    /// The server connection is established (`back_handle_st_con` -> EST).
    pub(crate) fn back_connected(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if s.scb.state != ScState::Con {
            return;
        }
        s.scb.state = ScState::Est;
        s.scb.exp = None;
        s.t_connect = s.conn_start.map(|t| now - t);
        let conn = s.scb.sedesc.conn;
        let srv = s.srv;
        if let (Some(srv), sess) = (s.srv, s.sess) {
            if let Some(se) = self.sessions.get_mut(sess) {
                se.last_srv = Some(srv);
            }
        }
        self.health_adjust(now, srv, crate::backend::check::Hana::L4Ok);
        if let Some(c) = conn {
            if self.conns.get(c).is_some_and(|x| x.mux.h2b().is_some()) {
                self.h2b_connected_avail(c);
            }
        }
        self.stick_store(now, sid, None);
        let to = self.back_timeout(sid);
        let fto = self.front_timeout(sid);
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        s.res.rex = to.map(|t| now.add_ms(t));
        // The tunnel timeout replaces the client one now (TCP mode).
        if !s.req.shutr() {
            s.req.rex = fto.map(|t| now.add_ms(t));
        }
        if s.req.output > 0 {
            s.req.wex = to.map(|t| now.add_ms(t));
        }
        if s.txn.is_none() {
            // TCP: logged as soon as connected with `option logasap`.
            self.stream_log_asap(now, sid);
        }
        self.tcp_inspect_response(now, sid);
    }

    /// The attempt failed (refused, reset, timed out): CER.
    pub(crate) fn back_conn_error(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if s.scb.state != ScState::Con {
            return;
        }
        if s.scb.err_type == ErrType::None {
            s.scb.err_type = ErrType::ConnErr;
        }
        s.scb.state = ScState::Cer;
        s.scb.exp = None;
        let conn = s.scb.sedesc.conn.take();
        let (be, srv) = (s.be, s.srv);
        if let Some(c) = conn {
            self.back_conn_drop(now, sid, c, CloseHow::Reset);
        }
        if let (Some(b), Some(srv)) = (self.proxies[be].be.as_mut(), srv) {
            b.servers[srv].econ += 1;
            b.econ += 1;
        }
        self.health_adjust(now, srv, crate::backend::check::Hana::L4Err);
        self.release_server_slot(sid);
    }

    /// CER: retry, redispatch or give up. Only with `retry-on
    /// conn-failure` (the default) is a failed connection retried.
    fn back_handle_cer(&mut self, now: Time, sid: Id<Stream>) {
        let s = &mut self.streams[sid];
        let be = s.be;
        let conn_failure = self.proxies[be].be.as_ref().is_some_and(|b| {
            b.cfg
                .retry_on
                .contains(crate::cfgparse::RetryOn::CONN_FAILURE)
        });
        let s = &mut self.streams[sid];
        if s.conn_retries == 0 || !conn_failure {
            let err = if s.scb.err_type == ErrType::ConnTo {
                ErrCode::SrvTo
            } else {
                ErrCode::SrvCl
            };
            s.set_term(err, FinSt::Connect);
            self.back_fail(now, sid);
            return;
        }
        s.conn_retries -= 1;
        let timed_out = s.scb.err_type == ErrType::ConnTo;
        s.scb.err_type = ErrType::None;
        let (redispatch, spread) = self.back_choose_redispatch(sid);
        if timed_out || (redispatch && spread) {
            // A timeout already took long enough, or another server will
            // be tried: retry at once.
            let s = &mut self.streams[sid];
            s.scb.state = if s.flags.contains(SfFlags::ASSIGNED) {
                ScState::Ass
            } else {
                ScState::Req
            };
        } else {
            // HAProxy waits MIN(1s, timeout connect) before trying again.
            let delay = self.proxies[be]
                .timeouts
                .connect_ms
                .map_or(TURN_AROUND_MS, |c| TURN_AROUND_MS.min(u64::from(c)));
            let s = &mut self.streams[sid];
            s.scb.state = ScState::Tar;
            s.scb.exp = Some(now.add_ms(delay.max(1)));
        }
    }

    /// A retry (a connection's or a `retry-on` layer 7 one; `conn_retries`
    /// already counts it): counts it, and redispatches the stream when
    /// HAProxy would (`stream_choose_redispatch`). Returns whether it was
    /// redispatched, and whether round robin spreads over several servers.
    pub(crate) fn back_choose_redispatch(&mut self, sid: Id<Stream>) -> (bool, bool) {
        let s = &mut self.streams[sid];
        let (be, srv) = (s.be, s.srv);
        let b = self.proxies[be].be.as_mut().expect("backend");
        let srv_down = srv.is_some_and(|i| !b.servers[i].usable());
        // With round robin over several active servers, HAProxy
        // redispatches every retry (the next server is as good as any) and
        // does not wait before it.
        let srv_act = b
            .servers
            .iter()
            .filter(|x| x.usable() && !x.cfg.backup)
            .count();
        let rr = matches!(
            &b.cfg.balance,
            crate::cfgparse::Balance::RoundRobin | crate::cfgparse::Balance::StaticRr
        );
        let spread = rr && srv_act > 1;
        // HAProxy redispatches on the last retry (or when the server is gone).
        let redispatch = b.cfg.redispatch
            && (s.conn_retries == 0 || srv_down || (spread && !s.flags.contains(SfFlags::DIRECT)));
        if let Some(i) = srv {
            b.servers[i].wretr += 1;
        }
        b.wretr += 1;
        if redispatch {
            if let Some(i) = srv {
                b.servers[i].wredis += 1;
            }
            b.wredis += 1;
            s.prev_srv = srv;
            s.srv = None;
            s.flags.remove(SfFlags::ASSIGNED | SfFlags::DIRECT);
            s.flags |= SfFlags::REDISP;
        }
        (redispatch, spread)
    }

    /// Gives up on the server side: the stream ends once the client side
    /// is flushed and closed.
    pub(crate) fn back_fail(&mut self, now: Time, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        s.scb.state = ScState::Clo;
        s.scb.exp = None;
        if s.txn.is_some() {
            // HTTP: no server, queue timeout or failed connects all end in
            // a 503 (HAProxy's `http_reply_and_close` on `SF_ERR_SRV*`).
            let (err, fin) = (s.err, s.finst);
            self.release_server_slot(sid);
            return self.http_reply_error(now, sid, 503, err, fin);
        }
        // Nothing will come from a server: end the response, stop reading.
        s.res.flags |= ChnFlags::SHUTR;
        s.req.flags |= ChnFlags::SHUTR | ChnFlags::SHUTW;
        s.req.output = 0;
        let req = std::mem::take(&mut s.req.buf);
        s.forget_input(crate::stream::Dir::Req);
        self.pool_release(req);
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if s.res.is_empty() {
            s.res.flags |= ChnFlags::SHUTW;
            self.front_close(now, sid, CloseHow::Graceful);
        }
    }

    /// Frees the server connection slot a stream holds, and gives it to
    /// the next waiter.
    pub(crate) fn release_server_slot(&mut self, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        if !s.flags.contains(SfFlags::CURR_SESS) {
            return;
        }
        s.flags.remove(SfFlags::CURR_SESS);
        let (be, Some(srv)) = (s.be, s.srv.or(s.prev_srv)) else {
            return;
        };
        if let Some(b) = self.proxies[be].be.as_mut() {
            let server = &mut b.servers[srv];
            crate::bug_on!(server.cur_sess == 0, "server slot released twice");
            server.cur_sess = server.cur_sess.saturating_sub(1);
            // Threads wait for a slot of this server: the freed one goes
            // to thread 0, which gives it to the one that waited longest.
            if server.lease.as_ref().is_some_and(|l| l.contended) {
                return self.slots_balance(srv);
            }
        }
        self.process_srv_queue(srv);
    }

    /// Queues a stream (`pendconn_add`) on server `srv` or on the backend.
    fn queue_add(&mut self, now: Time, sid: Id<Stream>, srv: Option<ServerId>) {
        let s = &mut self.streams[sid];
        let be = s.be;
        let queue_to = self.proxies[be]
            .timeouts
            .queue_ms
            .or(self.proxies[be].timeouts.connect_ms);
        let b = self.proxies[be].be.as_mut().expect("backend");
        if let Some(i) = srv {
            let server = &mut b.servers[i];
            if server
                .cfg
                .maxqueue
                .is_some_and(|m| server.queue.len() as u32 >= m)
            {
                // No room in this server's queue (HAProxy's
                // `SRV_STATUS_FULL`): a stream that persistence sent here
                // may be redispatched once; otherwise the balancer (a hash
                // picks this server again) has nothing better: fail.
                let redispatch = b.cfg.redispatch;
                let s = &mut self.streams[sid];
                let direct = s.flags.contains(SfFlags::DIRECT);
                if direct && redispatch && !s.flags.contains(SfFlags::REDISP) {
                    s.srv = None;
                    s.flags.remove(SfFlags::ASSIGNED | SfFlags::DIRECT);
                    s.flags |= SfFlags::REDISP;
                    s.scb.state = ScState::Req;
                    return;
                }
                s.scb.err_type = ErrType::QueueErr;
                s.set_term(ErrCode::Resource, FinSt::Queue);
                self.back_fail(now, sid);
                return;
            }
            server.queue.push_back(sid);
            server.max_queue = server.max_queue.max(server.queue.len() as u32);
        } else {
            b.queue.push_back(sid);
            b.max_queue = b.max_queue.max(b.queue.len() as u32);
        }
        let s = &mut self.streams[sid];
        s.scb.state = ScState::Que;
        s.flags |= SfFlags::QUEUED;
        s.queue_start = Some(now);
        s.scb.exp = queue_to.map(|t| now.add_ms(u64::from(t)));
        if !self.leased.is_empty() {
            // With threads, the lease may be what is full: ask for slots.
            let srvs: Vec<ServerId> = match srv {
                Some(i) => vec![i],
                None => self.leased.iter().copied().filter(|x| x.be == be).collect(),
            };
            for x in srvs {
                self.slots_balance(x);
            }
        }
    }

    /// Takes a stream out of whatever queue it is in.
    pub(crate) fn queue_remove(&mut self, sid: Id<Stream>) {
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        if s.scb.state != ScState::Que {
            return;
        }
        let be = s.be;
        if let Some(b) = self.proxies[be].be.as_mut() {
            b.dequeue(sid);
        }
    }

    /// `process_srv_queue`: gives free slots of `srv` to waiting streams.
    pub(crate) fn process_srv_queue(&mut self, srv: ServerId) {
        self.process_srv_queue_local(srv);
        if !self.leased.is_empty() {
            self.slots_balance(srv);
        }
    }

    fn process_srv_queue_local(&mut self, srv: ServerId) {
        let be = srv.be;
        let now = self.now;
        loop {
            let Some(b) = self.proxies[be].be.as_mut() else {
                return;
            };
            let server = &b.servers[srv];
            if server.queue.is_empty() && b.queue.is_empty() {
                // The common case: nobody waits.
                return;
            }
            let load = b.load();
            let server = &mut b.servers[srv];
            if server.is_full(load) || !server.usable() {
                return;
            }
            let next = server.queue.pop_front().or_else(|| b.queue.pop_front());
            let Some(sid) = next else { return };
            if self
                .streams
                .get(sid)
                .is_none_or(|s| s.scb.state != ScState::Que)
            {
                continue;
            }
            self.srv_count_seen(sid, srv);
            let s = &mut self.streams[sid];
            s.t_queue = s.queue_start.map(|t| now - t);
            s.srv = Some(srv);
            s.flags |= SfFlags::ASSIGNED;
            s.scb.state = ScState::Ass;
            s.scb.exp = None;
            self.process_stream(now, sid);
        }
    }
}

/// What a reused connection must have been opened with (HAProxy's
/// connection hash): the SNI of `sni EXPR`, the destination of a server
/// without an address or port, the PROXY line.
type ConnKey<'a> = (
    Option<&'a [u8]>,
    Option<core::net::SocketAddr>,
    Option<&'a [u8]>,
);

/// Whether idle connection `ic` may carry a request of session `sess`
/// under `http-reuse mode` (`first`: the session's first request).
fn idle_usable_by(
    mode: crate::cfgparse::HttpReuse,
    ic: &crate::backend::server::IdleConn,
    sess: Id<crate::session::Session>,
    first: bool,
) -> bool {
    use crate::cfgparse::HttpReuse;
    match (mode, ic.owner) {
        (_, Some(o)) => o == sess,
        (HttpReuse::Never, None) => false,
        (HttpReuse::Safe, None) => !first,
        // A first request only on a connection known to stay alive.
        (HttpReuse::Aggressive, None) => !first || ic.safe,
        (HttpReuse::Always, None) => true,
    }
}

/// The load balancer's view of a server.
#[inline]
pub(crate) fn lb_view(
    s: &crate::backend::server::Server,
    load: crate::backend::server::BeLoad,
) -> lb::LbServer {
    lb::LbServer {
        weight: s.uweight,
        usable: s.usable(),
        backup: s.cfg.backup,
        cur_conns: s.cur_sess,
        maxconn: s.dyn_maxconn(load),
        puid: s.cfg.puid,
        ramp: s.ramp(),
    }
}

/// `balance uri`'s key (HAProxy's `get_server_uh`): the URI's first
/// `len` bytes (0: all), cut before slash number `depth + 1` (`depth` 0:
/// no limit) and at the `?` unless `whole`.
fn lb_uri_key(uri: &[u8], whole: bool, len: usize, depth: usize) -> &[u8] {
    let uri = if len > 0 && uri.len() > len {
        &uri[..len]
    } else {
        uri
    };
    let mut slashes = 0;
    for (i, &c) in uri.iter().enumerate() {
        if c == b'/' {
            slashes += 1;
            if depth > 0 && slashes == depth + 1 {
                return &uri[..i];
            }
        } else if c == b'?' && !whole {
            return &uri[..i];
        }
    }
    uri
}

/// The path of a request target, query included (HAProxy's
/// `http_parse_path`): an absolute-form URI loses its scheme and
/// authority; `*` and an authority-form target have no path ("").
fn lb_uri_path(uri: &[u8]) -> &[u8] {
    if uri.first() == Some(&b'/') {
        return uri;
    }
    let Some(i) = uri.windows(3).position(|w| w == b"://") else {
        return b"";
    };
    let rest = &uri[i + 3..];
    match rest.iter().position(|&c| c == b'/') {
        Some(j) => &rest[j..],
        None => b"",
    }
}

/// `balance url_param NAME`'s value (HAProxy's `get_server_ph`): in the
/// query string, the first `NAME=` at the start of a parameter, up to the
/// next `&`.
fn lb_url_param<'a>(uri: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let q = uri.iter().position(|&c| c == b'?')?;
    let mut params = &uri[q + 1..];
    let plen = name.len();
    while params.len() > plen {
        if params[plen] == b'=' && &params[..plen] == name {
            let v = &params[plen + 1..];
            let end = v.iter().position(|&c| c == b'&').unwrap_or(v.len());
            return Some(&v[..end]);
        }
        let amp = params.iter().position(|&c| c == b'&')?;
        params = &params[amp + 1..];
    }
    None
}

/// `hdr(NAME) use_domain_only` (HAProxy's `get_server_hh`): the label
/// before the last dot (`www.example.com` -> `example`); the whole value
/// without a dot.
fn lb_domain_only(v: &[u8]) -> &[u8] {
    // HAProxy walks back from the end: the first dot met ends the domain,
    // the next one before it starts it.
    match v.iter().rposition(|&c| c == b'.') {
        None => v,
        Some(end) => {
            let start = v[..end]
                .iter()
                .rposition(|&c| c == b'.')
                .map_or(0, |s| s + 1);
            &v[start..end]
        }
    }
}

/// The value of the RDP cookie `name` in an RDP connection request
/// (HAProxy's `fetch_rdp_cookie_name`): after the 11 bytes of the TPKT and
/// X.224 headers, `Cookie: NAME=VALUE\r\n` (names without case). `None`
/// when it is not there, or not complete.
fn rdp_cookie<'a>(data: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let d = data.get(11..)?;
    if d.len() <= 7 || !d[..7].eq_ignore_ascii_case(b"Cookie:") {
        return None;
    }
    let mut d = &d[7..];
    while let [b' ', rest @ ..] = d {
        d = rest;
    }
    if d.len() <= name.len() || d[name.len()] != b'=' || !d[..name.len()].eq_ignore_ascii_case(name)
    {
        return None;
    }
    let d = &d[name.len() + 1..];
    if d.len() <= 1 {
        return None;
    }
    let end = d.iter().position(|&c| c == b'\r')?;
    if d.get(end + 1) != Some(&b'\n') || end == 0 {
        return None;
    }
    Some(&d[..end])
}

/// What names `srv` in a stick table's `server_key` (HAProxy's `srv->id`
/// or `srv->addr_key`): `None` for the address of a server that has none
/// yet (`init-addr none`) or a reverse HTTP one.
fn server_key(
    srv: &crate::backend::server::Server,
    kind: crate::stick_table::SrvKey,
) -> Option<String> {
    match kind {
        crate::stick_table::SrvKey::Name => Some(srv.cfg.name.clone()),
        crate::stick_table::SrvKey::Addr => match &srv.cfg.unix {
            Some(crate::sock::UnixAddr::Path(p)) => Some(p.clone()),
            Some(crate::sock::UnixAddr::Abns(n)) => Some(format!("abns@{n}")),
            None if srv.cfg.rhttp || srv.cfg.addr.ip().is_unspecified() => None,
            None => Some(format!("{}:{}", srv.cfg.addr.ip(), srv.cfg.addr.port())),
        },
    }
}

// --------------------------------------------------------------------------
// Idle server connections (`http-reuse`, HAProxy's `srv->idle_conns` /
// `safe_conns` and `sess->priv_conns`).

/// How long an idle server connection is kept (`pool-purge-delay`).
const IDLE_PURGE_MS: u64 = 5000;
/// Idle connections kept per server at most.
const IDLE_MAX_PER_SERVER: usize = 256;

impl Engine {
    /// Whether a new connection to `srv` for session `sess` is private to
    /// it (HAProxy's `conn_set_private`): `http-reuse never`. A PROXY
    /// header does not make it private since HAProxy 2.4: the line is part
    /// of the connection hash, a connection is reused only by a stream
    /// that would send the same one (`try_reuse`).
    #[inline]
    fn conn_owner_for(
        &self,
        srv: ServerId,
        sess: Id<crate::session::Session>,
    ) -> Option<Id<crate::session::Session>> {
        let never = self.proxies[srv.be].http_reuse == crate::cfgparse::HttpReuse::Never;
        never.then_some(sess)
    }

    /// Records the session that H2 server connection `c`, new for stream
    /// `sid`, belongs to when it is private.
    pub(crate) fn h2b_set_owner(&mut self, c: Id<Conn>, sid: Id<Stream>) {
        let Some(ConnSide::Back { srv }) = self.conns.get(c).map(|x| x.side) else {
            return;
        };
        let Some(sess) = self.streams.get(sid).map(|s| s.sess) else {
            return;
        };
        let owner = self.conn_owner_for(srv, sess);
        if let Some(h) = self.conns.get_mut(c).and_then(|x| x.mux.h2b_mut()) {
            h.side.owner = owner;
        }
    }

    /// Whether stream `sid`'s request is a websocket handshake (an HTTP/1.1
    /// `Upgrade: websocket` with `Connection: upgrade`, which an HTTP/2
    /// extended CONNECT with `:protocol websocket` became): HAProxy's
    /// `SF_WEBSOCKET`.
    pub(crate) fn stream_is_websocket(&self, sid: Id<Stream>) -> bool {
        self.streams
            .get(sid)
            .and_then(|s| s.txn.as_ref())
            .and_then(|t| t.req_head.as_ref())
            .is_some_and(|h| h.wants_upgrade() && h.headers.has_token("upgrade", b"websocket"))
    }

    /// Gives up a stream's server connection: an H2 one loses only this
    /// stream ([`Engine::h2b_stream_detach`]; the others it carries go
    /// on), any other is closed.
    pub(crate) fn back_conn_drop(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        c: Id<Conn>,
        how: CloseHow,
    ) {
        if self.conns.get(c).is_some_and(|x| x.mux.h2b().is_some()) {
            self.h2b_stream_detach(now, c, sid);
        } else {
            self.conn_close(now, c, how);
        }
    }

    /// A stream is established on H2 server connection `c` (new or
    /// reused): HAProxy's `connect_server` puts it in the available list
    /// when it has free slots and is private (the session's list) or
    /// `http-reuse always` shares it; one that has no free slot leaves
    /// the list.
    fn h2b_connected_avail(&mut self, c: Id<Conn>) {
        let Some(conn) = self.conns.get(c) else {
            return;
        };
        let ConnSide::Back { srv } = conn.side else {
            return;
        };
        let Some(h) = conn.mux.h2b() else {
            return;
        };
        let (avail, owner) = (h.avail_streams(), h.side.owner);
        let always = self.proxies[srv.be].http_reuse == crate::cfgparse::HttpReuse::Always;
        if avail == 0 {
            self.avail_conn_remove(srv, c);
        } else if owner.is_some() || always {
            self.avail_conn_add(srv, c, owner);
        }
    }

    /// Adds `c` to the available list of `srv` unless it is there.
    pub(crate) fn avail_conn_add(
        &mut self,
        srv: ServerId,
        c: Id<Conn>,
        owner: Option<Id<crate::session::Session>>,
    ) {
        let now = self.now;
        #[cfg(feature = "mutants")]
        let twice = self.opts.mutant == Some(crate::mutants::Mutant::RhttpAvailTwice)
            && self.conns.get(c).is_some_and(|x| x.reverse.is_some());
        #[cfg(not(feature = "mutants"))]
        let twice = false;
        if let Some(server) = self.server_mut(srv) {
            if twice || !server.per_thr.avail.iter().any(|a| a.conn == c) {
                server.per_thr.avail.push(IdleConn {
                    conn: c,
                    owner,
                    since: now,
                    safe: true,
                });
            }
        }
    }

    /// Takes `c` out of the available list of `srv`, if there.
    pub(crate) fn avail_conn_remove(&mut self, srv: ServerId, c: Id<Conn>) {
        if let Some(server) = self.server_mut(srv) {
            server.per_thr.avail.retain(|a| a.conn != c);
        }
    }

    /// Whether `c` is in the idle pool of `srv`.
    pub(crate) fn idle_pool_has(&self, srv: ServerId, c: Id<Conn>) -> bool {
        self.proxies[srv.be]
            .be
            .as_ref()
            .is_some_and(|b| b.servers[srv].per_thr.idle.iter().any(|ic| ic.conn == c))
    }

    /// Puts a server connection whose response ended cleanly in its
    /// server's idle pool: private to `sess` with `http-reuse never`,
    /// shared otherwise. One purge timer per server, not per connection
    /// (HAProxy's `srv_cleanup_idle_conns` task).
    pub(crate) fn idle_conn_add(
        &mut self,
        now: Time,
        c: Id<Conn>,
        sess: Id<crate::session::Session>,
    ) {
        let Some(conn) = self.conns.get_mut(c) else {
            return;
        };
        if let ConnSide::BackProxy { owner, .. } = conn.side {
            if let Some(s) = conn.mux.rx_stream() {
                conn.mux.detach(s);
            }
            conn.flags |= crate::conn::CoFlags::NOT_FIRST;
            let old = self
                .sessions
                .get_mut(owner)
                .and_then(|se| se.proxy_idle.replace(c));
            if let Some(old) = old {
                self.conn_close(now, old, CloseHow::Graceful);
            }
            if self.sessions.get(owner).is_none() {
                return self.conn_close(now, c, CloseHow::Graceful);
            }
            return self.conn_update_interest(c);
        }
        let ConnSide::Back { srv } = conn.side else {
            return;
        };
        if let Some(s) = conn.mux.rx_stream() {
            conn.mux.detach(s);
        }
        let safe = conn.flags.contains(crate::conn::CoFlags::NOT_FIRST);
        conn.flags |= crate::conn::CoFlags::NOT_FIRST;
        let owner = self.conn_owner_for(srv, sess);
        self.idle_conn_push(now, c, srv, owner, safe);
    }

    /// [`Engine::idle_conn_add`] with the owner known (`None`: shared).
    pub(crate) fn idle_conn_add_owned(
        &mut self,
        now: Time,
        c: Id<Conn>,
        owner: Option<Id<crate::session::Session>>,
    ) {
        if let Some(ConnSide::Back { srv }) = self.conns.get(c).map(|x| x.side) {
            self.idle_conn_push(now, c, srv, owner, true);
        }
    }

    /// Puts server connection `c` to `srv` in its idle pool (`owner`:
    /// private to that session, `None`: shared; `safe`: see
    /// [`IdleConn::safe`]). A shared one over the server's
    /// `pool-max-conn` is closed instead (HAProxy's
    /// `srv_add_to_idle_list` refusing it).
    #[inline(always)]
    fn idle_conn_push(
        &mut self,
        now: Time,
        c: Id<Conn>,
        srv: ServerId,
        owner: Option<Id<crate::session::Session>>,
        safe: bool,
    ) {
        let Some(b) = self.proxies[srv.be].be.as_mut() else {
            return;
        };
        let server = &mut b.servers[srv];
        if let (Some(max), None) = (server.cfg.pool_max_conn, owner) {
            let shared = server
                .per_thr
                .idle
                .iter()
                .filter(|ic| ic.owner.is_none())
                .count();
            if shared >= max as usize {
                return self.conn_close(now, c, CloseHow::Graceful);
            }
        }
        let sess = owner;
        server.per_thr.idle.push_back(IdleConn {
            conn: c,
            owner,
            since: now,
            safe,
        });
        let first = server.per_thr.idle.len() == 1;
        let evicted = if server.per_thr.idle.len() > IDLE_MAX_PER_SERVER {
            server.per_thr.idle.pop_front()
        } else {
            None
        };
        if let Some(se) = sess.and_then(|o| self.sessions.get_mut(o)) {
            se.priv_idle += 1;
        }
        if let Some(old) = evicted {
            self.idle_conn_forget(old);
            self.conn_close(now, old.conn, CloseHow::Graceful);
        }
        if first {
            self.timers.arm(
                crate::engine::TimerKey::IdlePurge(srv),
                Some(now.add_ms(IDLE_PURGE_MS)),
            );
        }
        self.conn_update_interest(c);
    }

    /// Accounts an idle connection that left its pool.
    fn idle_conn_forget(&mut self, ic: IdleConn) {
        if let Some(se) = ic.owner.and_then(|o| self.sessions.get_mut(o)) {
            se.priv_idle = se.priv_idle.saturating_sub(1);
        }
    }

    /// The purge timer of a server's idle pool: closes the connections
    /// idle for `IDLE_PURGE_MS`, and sleeps until the next one is due.
    pub(crate) fn idle_purge(&mut self, now: Time, srv: ServerId) {
        let be = srv.be;
        loop {
            let Some(server) = self.proxies[be].be.as_mut().map(|b| &mut b.servers[srv]) else {
                return;
            };
            let Some(&front) = server.per_thr.idle.front() else {
                return;
            };
            let due = front.since.add_ms(IDLE_PURGE_MS);
            if due > now {
                self.timers
                    .arm(crate::engine::TimerKey::IdlePurge(srv), Some(due));
                return;
            }
            server.per_thr.idle.pop_front();
            self.idle_conn_forget(front);
            self.conn_close(now, front.conn, CloseHow::Graceful);
        }
    }

    /// An idle connection to `srv` that this stream may use, taken out of
    /// the pool (the most recent one: the oldest are left to the purge).
    /// `safe` keeps a session's first request on a connection of its own;
    /// `never` only reuses the session's private ones.
    #[inline(always)]
    fn idle_conn_take(
        &mut self,
        srv: ServerId,
        sess: Id<crate::session::Session>,
        first: bool,
        (sni, dst, pp): ConnKey<'_>,
    ) -> Option<Id<Conn>> {
        let be = srv.be;
        let mode = self.proxies[be].http_reuse;
        let b = self.proxies[be].be.as_mut()?;
        let idle = &mut b.servers[srv].per_thr.idle;
        let conns = &self.conns;
        // Same SNI (`sni EXPR`) and destination (a server without an
        // address or port) only: HAProxy's connection hash.
        let usable = |ic: &crate::backend::server::IdleConn| {
            idle_usable_by(mode, ic, sess, first)
                && conns.get(ic.conn).is_some_and(|x| {
                    x.sni.as_deref() == sni
                        && dst.is_none_or(|d| x.dst == Some(d))
                        && pp.is_none_or(|p| x.pp_line.as_deref() == Some(p))
                })
        };
        // The most recent one is usable most of the time.
        let ic = if idle.back().is_some_and(usable) {
            idle.pop_back()?
        } else {
            let pos = idle.iter().rposition(usable)?;
            idle.remove(pos)?
        };
        self.idle_conn_forget(ic);
        Some(ic.conn)
    }

    /// Closes an idle server connection (the server closed or spoke out of
    /// turn).
    pub(crate) fn idle_conn_close(&mut self, now: Time, c: Id<Conn>) {
        if let Some(ConnSide::BackProxy { owner, .. }) = self.conns.get(c).map(|x| x.side) {
            if let Some(se) = self.sessions.get_mut(owner) {
                if se.proxy_idle == Some(c) {
                    se.proxy_idle = None;
                }
            }
        }
        if let Some(ConnSide::Back { srv }) = self.conns.get(c).map(|x| x.side) {
            self.avail_conn_remove(srv, c);
            if let Some(server) = self.server_mut(srv) {
                let idle = &mut server.per_thr.idle;
                if let Some(pos) = idle.iter().position(|ic| ic.conn == c) {
                    let ic = idle.remove(pos).expect("present");
                    self.idle_conn_forget(ic);
                }
            }
        }
        self.conn_close(now, c, CloseHow::Graceful);
    }

    /// Closes the private idle connections of a session that ended.
    pub(crate) fn idle_conns_of_session_close(
        &mut self,
        now: Time,
        sess: Id<crate::session::Session>,
    ) {
        if let Some(c) = self
            .sessions
            .get_mut(sess)
            .and_then(|se| se.proxy_idle.take())
        {
            self.conn_close(now, c, CloseHow::Graceful);
        }
        if self.sessions.get(sess).is_none_or(|se| se.priv_idle == 0) {
            return;
        }
        let mut doomed = Vec::new();
        for p in &self.proxies {
            let Some(b) = &p.be else { continue };
            for s in &b.servers {
                doomed.extend(
                    s.per_thr
                        .idle
                        .iter()
                        .filter(|ic| ic.owner == Some(sess))
                        .map(|ic| ic.conn),
                );
            }
        }
        for c in doomed {
            self.idle_conn_close(now, c);
        }
    }

    /// An available H2 connection to `srv` that session `sess` may use,
    /// with stream `sid` attached to it: a shared one (unless `http-reuse
    /// never`) or one private to `sess`. Entries that can take no stream
    /// any more leave the list on the way.
    fn avail_conn_take(
        &mut self,
        now: Time,
        srv: ServerId,
        sess: Id<crate::session::Session>,
        sid: Id<Stream>,
        (sni, dst, pp): ConnKey<'_>,
    ) -> Option<Id<Conn>> {
        let rhttp = self.server_mut(srv)?.cfg.rhttp;
        // A reverse server's connections are shared whatever `http-reuse`
        // says (HAProxy forces `always`), and a request takes only one
        // whose `attach-srv` name is its `pool-conn-name`.
        let never = !rhttp && self.proxies[srv.be].http_reuse == crate::cfgparse::HttpReuse::Never;
        let name = if rhttp {
            self.pool_conn_name(now, sid, srv)
        } else {
            None
        };
        #[cfg(feature = "mutants")]
        let any_name = self.opts.mutant == Some(crate::mutants::Mutant::RhttpNameIgnored);
        #[cfg(not(feature = "mutants"))]
        let any_name = false;
        loop {
            let b = self.proxies[srv.be].be.as_ref()?;
            let conns = &self.conns;
            let ic = *b.servers[srv].per_thr.avail.iter().find(|a| {
                (a.owner == Some(sess) || (a.owner.is_none() && !never))
                    && conns.get(a.conn).is_some_and(|x| {
                        x.sni.as_deref() == sni
                            && dst.is_none_or(|d| x.dst == Some(d))
                            && pp.is_none_or(|p| x.pp_line.as_deref() == Some(p))
                    })
                    && (!rhttp
                        || conns
                            .get(a.conn)
                            .and_then(|x| x.reverse.as_ref())
                            .is_some_and(|r| any_name || r.name == name))
            })?;
            if self.h2b_conn_dead(ic.conn) || !self.h2b_attach(ic.conn, sid) {
                self.avail_conn_remove(srv, ic.conn);
                continue;
            }
            return Some(ic.conn);
        }
    }

    /// Attaches an idle connection to a stream in ASS state instead of
    /// connecting. Returns whether it did.
    fn try_reuse(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        sni: Option<&[u8]>,
        dst: Option<core::net::SocketAddr>,
    ) -> bool {
        let s = &self.streams[sid];
        let (be, Some(srv), sess) = (s.be, s.srv, s.sess) else {
            return false;
        };
        if s.txn.is_none() {
            return false;
        }
        if self.stream_is_websocket(sid) && !self.server(srv).is_some_and(|x| ws_may_reuse(&x.cfg))
        {
            // The connections of the server may speak another protocol
            // than the one `ws` names (HAProxy's `srv_check_reuse_ws`).
            return false;
        }
        let first = self.sessions.get(sess).is_none_or(|se| se.requests <= 1);
        // The PROXY line the stream would send (part of HAProxy's
        // connection hash): only a connection that sent the same one.
        let pp = self
            .server(srv)
            .and_then(|x| Some((x.cfg.send_proxy?, x.cfg.pp_opts)))
            .map(|(v, o)| self.proxy_header_for(now, sid, v, o));
        // An H2 connection with a free stream slot first (`avail_conns`,
        // or the session's own), then an idle one.
        let avail = self.proxies[srv.be]
            .be
            .as_ref()
            .is_some_and(|b| !b.servers[srv].per_thr.avail.is_empty());
        let c = match avail
            .then(|| self.avail_conn_take(now, srv, sess, sid, (sni, dst, pp.as_deref())))
            .flatten()
        {
            Some(c) => c,
            None => {
                let Some(c) = self.idle_conn_take(srv, sess, first, (sni, dst, pp.as_deref()))
                else {
                    return false;
                };
                let pp = self.conns.get(c).is_some_and(|x| x.pp_line.is_some());
                if pp && !self.pp_line_matches(now, sid, c) {
                    // Another PROXY line (`proxy-v2-options unique-id`, a
                    // stream's own `set-src`): a new connection.
                    self.idle_conn_close(now, c);
                    return false;
                }
                let Some(conn) = self.conns.get_mut(c) else {
                    return false;
                };
                if conn.mux.h2b().is_some() {
                    if !self.h2b_attach(c, sid) {
                        self.idle_conn_close(now, c);
                        return false;
                    }
                } else {
                    conn.mux.attach(sid);
                }
                c
            }
        };
        let b = self.proxies[be].be.as_mut().expect("backend");
        let server = &mut b.servers[srv];
        server.take_slot(self.now);
        server.reuse += 1;
        let s = &mut self.streams[sid];
        s.flags |= SfFlags::CURR_SESS;
        s.scb.sedesc.conn = Some(c);
        s.scb.state = ScState::Con;
        s.conn_start = Some(now);
        if let Some(t) = s.txn.as_mut() {
            t.flags |= crate::http::ana::TxnFlags::REUSED;
        }
        self.back_connected(now, sid);
        true
    }
}

/// The protocol of a websocket stream's new connection (HAProxy's
/// `srv_get_ws_proto` and the ALPN update of `connect_server`): whether
/// the HTTP/2 mux is installed from the first byte, and the ALPN list to
/// offer instead of the server's (`alpn`: the server's list over TLS,
/// `None` in clear). With an ALPN list, the protocol is the one the
/// server chooses from it: `ws h1` offers only `http/1.1`, `ws h2` only
/// `h2`, `ws auto` only `http/1.1` when the list has it.
fn ws_protocol(
    ws: crate::cfgparse::WsMode,
    proto_h2: bool,
    alpn: Option<&[Vec<u8>]>,
) -> (bool, Option<Vec<Vec<u8>>>) {
    use crate::cfgparse::WsMode;
    match alpn.filter(|a| !a.is_empty()) {
        None => (
            match ws {
                WsMode::Auto => proto_h2,
                WsMode::H1 => false,
                WsMode::H2 => true,
            },
            None,
        ),
        Some(list) => {
            let h1 = vec![b"http/1.1".to_vec()];
            let offer = match ws {
                WsMode::Auto if list.iter().any(|p| p == b"http/1.1") => Some(h1),
                WsMode::Auto => None,
                WsMode::H1 => Some(h1),
                WsMode::H2 => Some(vec![b"h2".to_vec()]),
            };
            (proto_h2 && ws != WsMode::H1, offer)
        }
    }
}

/// Whether a websocket stream may reuse server `cfg`'s connections: they
/// speak the protocol `ws` names for it (HAProxy's `srv_check_reuse_ws`).
fn ws_may_reuse(cfg: &crate::backend::server::ServerCfg) -> bool {
    use crate::cfgparse::WsMode;
    let alpn = cfg
        .tls
        .as_deref()
        .map(|t| t.alpn())
        .filter(|a| !a.is_empty());
    match alpn {
        Some(list) if !cfg.proto_h2 => match cfg.ws {
            WsMode::Auto => list.len() == 1,
            WsMode::H2 => list == [b"h2".to_vec()],
            WsMode::H1 => list == [b"http/1.1".to_vec()],
        },
        _ => match cfg.ws {
            WsMode::Auto => true,
            WsMode::H2 => cfg.proto_h2,
            WsMode::H1 => !cfg.proto_h2,
        },
    }
}
