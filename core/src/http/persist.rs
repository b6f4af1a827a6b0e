//! Persistence in the HTTP analysers: `force-persist` / `ignore-persist`
//! (HAProxy's `persist_rules`, applied in `process_switching_rules`), the
//! request's persistence cookie (`http_manage_client_side_cookies`), and
//! the response's (`http_manage_server_side_cookies`, the `Set-Cookie`
//! insertion and `nocache` of `http_process_res_common`). The header work
//! is [`crate::http::cookie`]'s; this module decides with the servers.

use crate::arena::Id;
use crate::backend::server::{ServerId, SrvState};
use crate::engine::Engine;
use crate::http::cookie::{self, CkState, Edit, SckState, SrvAction};
use crate::http::h1::{Headers, Method, ReqHead, ResHead};
use crate::stream::{SfFlags, Stream};
use crate::time::Time;

/// A server a cookie may send to: not stopped, not in maintenance
/// (HAProxy's `cur_state != SRV_ST_STOPPED`; a draining server keeps its
/// cookie clients).
fn running(s: &crate::backend::server::Server) -> bool {
    s.state != SrvState::Stopped && !s.admin.is_maint()
}

/// Rewrites every field called `name` with `edit` (keeping positions);
/// `None` when nothing changed.
fn rewrite_fields(
    headers: &Headers,
    name: &[u8],
    mut edit: impl FnMut(&[u8]) -> Edit,
) -> Option<Headers> {
    let mut out: Option<Headers> = None;
    for (i, (n, v)) in headers.iter().enumerate() {
        let e = if n.eq_ignore_ascii_case(name) {
            edit(v)
        } else {
            Edit::Keep
        };
        if out.is_none() && e != Edit::Keep {
            let mut h = Headers::with_capacity(headers.len(), 0);
            for (pn, pv) in headers.iter().take(i) {
                let _ = h.add(pn, pv);
            }
            out = Some(h);
        }
        if let Some(h) = out.as_mut() {
            match e {
                Edit::Keep => {
                    let _ = h.add(n, v);
                }
                Edit::Set(nv) => {
                    let _ = h.add(n, &nv);
                }
                Edit::Remove => {}
            }
        }
    }
    out
}

impl Engine {
    /// The backend's `force-persist` / `ignore-persist` rules: the first
    /// that matches sets `SF_FORCE_PRST` or `SF_IGNORE_PRST`.
    pub(crate) fn http_persist_rules(&mut self, now: Time, sid: Id<Stream>, head: &ReqHead) {
        let be = self.streams[sid].be;
        let rules = std::sync::Arc::clone(&self.proxies[be].rules);
        for r in &rules.persist {
            let mut ctx =
                crate::http::fetch::HttpCtx::new(self, now, sid, Some(head), None).for_proxy(be);
            if !r.cond.matches(&mut ctx) {
                continue;
            }
            self.streams[sid].flags |= if r.force {
                SfFlags::FORCE_PRST
            } else {
                SfFlags::IGNORE_PRST
            };
            break;
        }
    }

    /// The request side of cookie persistence, once the backend and its
    /// rules are known: `use-server` first (it wins over the cookie, which
    /// is then `U`nused), then the `Cookie` headers.
    pub(crate) fn http_req_cookies(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        head: ReqHead,
    ) -> ReqHead {
        let be = self.streams[sid].be;
        let Some(cfg) = self.proxies[be]
            .be
            .as_ref()
            .and_then(|b| b.cfg.cookie.clone())
        else {
            return head;
        };
        // `use-server` runs before the cookies (`AN_REQ_SRV_RULES`); its
        // conditions read the head from the transaction.
        if let Some(t) = self.streams[sid].txn.as_mut() {
            t.req_head = Some(head);
        }
        let by_rule = self.use_server_match(now, sid);
        let mut head = self.streams[sid]
            .txn
            .as_mut()
            .and_then(|t| t.req_head.take())
            .expect("put there above");
        let s = &mut self.streams[sid];
        if let Some(srv) = by_rule {
            s.direct_srv = Some(srv);
            s.flags |= SfFlags::DIRECT;
        }
        let mut assigned = s.direct_srv.is_some();
        let ignore = s.flags.contains(SfFlags::IGNORE_PRST);
        let force = s.flags.contains(SfFlags::FORCE_PRST);
        let Some(b) = self.proxies[be].be.as_ref() else {
            return head;
        };
        let persist = b.cfg.persist;
        let mut ck = CkState::None;
        let mut chosen: Option<usize> = None;
        let mut dates = (0u32, 0u32);
        // HAProxy's `date.tv_sec`.
        let now_s = ((self.opts.epoch_ms + now.as_ms()) / 1000) as i64;
        let edited = rewrite_fields(&head.headers, b"cookie", |v| {
            cookie::client_header(&cfg, v, |f| {
                dates = (f.last_date, f.first_date);
                // A cookie too old or idle too long (or dated more than a
                // day ahead) names no server (`TX_CK_OLD`, `TX_CK_EXPIRED`).
                let stale = |date: u32, max: u32| {
                    date != 0
                        && max != 0
                        && (now_s - i64::from(date) > i64::from(max)
                            || i64::from(date) - now_s > 86_400)
                };
                let mut expired = None;
                if stale(dates.1, cfg.maxlife_s) {
                    expired = Some(CkState::Old);
                } else if stale(dates.0, cfg.maxidle_s) {
                    expired = Some(CkState::Expired);
                }
                let srv: &[u8] = if let Some(e) = expired {
                    ck = e;
                    dates = (0, 0);
                    &[]
                } else {
                    f.srv
                };
                let f_srv = srv;
                let mut found = false;
                let mut down = false;
                if !f_srv.is_empty() && !ignore && !assigned {
                    for (i, srv) in b.servers.iter().enumerate() {
                        // A deleted server (`del server`) has no cookie any more.
                        if srv.deleted
                            || srv.cfg.cookie.as_deref().map(str::as_bytes) != Some(f_srv)
                        {
                            continue;
                        }
                        if running(srv) || persist || force {
                            ck = if running(srv) {
                                CkState::Valid
                            } else {
                                CkState::Down
                            };
                            chosen = Some(i);
                            assigned = true;
                            found = true;
                            break;
                        }
                        ck = CkState::Down;
                        down = true;
                    }
                }
                if !found && !down && expired.is_none() {
                    ck = if ignore || assigned {
                        CkState::Unused
                    } else {
                        CkState::Invalid
                    };
                }
            })
        });
        if let Some(h) = edited {
            head.headers = h;
        }
        let s = &mut self.streams[sid];
        if let Some(i) = chosen {
            s.direct_srv = Some(ServerId::new(be, i));
            s.flags |= SfFlags::DIRECT;
        }
        if let Some(t) = s.txn.as_mut() {
            t.ck = ck;
            t.ck_dates = dates;
        }
        head
    }

    /// The response side: the server's `Set-Cookie` for the persistence
    /// cookie (kept, deleted, rewritten or prefixed), then in `insert`
    /// mode the proxy's own `Set-Cookie` and, with `nocache`, a
    /// `Cache-control: private` on a cacheable response.
    pub(crate) fn http_res_cookies(&mut self, now: Time, sid: Id<Stream>, head: &mut ResHead) {
        let s = &self.streams[sid];
        let be = s.be;
        let Some(b) = self.proxies[be].be.as_ref() else {
            return;
        };
        let Some(cfg) = b.cfg.cookie.as_ref() else {
            return;
        };
        if head.status < 200 && head.status != 101 {
            return;
        }
        let srv = s.srv.map(|i| &b.servers[i]);
        let srv_cookie = srv.and_then(|x| x.cfg.cookie.as_deref());
        let (direct, ignore) = (
            s.flags.contains(SfFlags::DIRECT),
            s.flags.contains(SfFlags::IGNORE_PRST),
        );
        let Some(t) = s.txn.as_ref() else { return };
        let (mut sck, (last, first), post) = (t.sck, t.ck_dates, t.meth == Some(Method::POST));
        // HAProxy's `date.tv_sec`.
        let now_s = ((self.opts.epoch_ms + now.as_ms()) / 1000) as i64;
        let edited = rewrite_fields(&head.headers, b"set-cookie", |v| {
            if ignore {
                return cookie::server_header(&cfg.name, v, srv_cookie, || SrvAction::Keep).0;
            }
            let mut act = SrvAction::Found;
            let (e, ours) = cookie::server_header(&cfg.name, v, srv_cookie, || {
                act = if cfg.preserve {
                    SrvAction::Keep
                } else if (srv.is_some() && cfg.insert) || (direct && cfg.indirect) {
                    SrvAction::Delete
                } else if srv_cookie.is_some() && cfg.rewrite {
                    SrvAction::Rewrite
                } else if srv_cookie.is_some() && cfg.prefix {
                    SrvAction::Prefix
                } else {
                    SrvAction::Found
                };
                act
            });
            if ours {
                sck = match act {
                    SrvAction::Delete => SckState::Deleted,
                    SrvAction::Rewrite | SrvAction::Prefix => SckState::Replaced,
                    SrvAction::Keep | SrvAction::Found => SckState::Found,
                };
            }
            e
        });
        if let Some(h) = edited {
            head.headers = h;
        }
        let cacheable = self.http_res_cacheable(sid, head);
        let insert = srv.is_some()
            && cfg.insert
            && !(sck == SckState::Found && cfg.preserve)
            && (!direct
                // The last-seen date needs a refresh (HAProxy compares
                // whole seconds: at most once a second), the first-seen
                // one is to be set or removed.
                || ((cfg.maxidle_s > 0 || last != 0) && (last == 0 || i64::from(last) < now_s))
                || (cfg.maxlife_s > 0 && first == 0)
                || (cfg.maxlife_s == 0 && first != 0))
            && (!cfg.postonly || post)
            && !ignore;
        let mut cacheable = cacheable;
        if insert {
            let v = cookie::insert_value(cfg, srv_cookie, now_s as u32, first);
            let _ = head.headers.add("Set-Cookie", v.as_bytes());
            sck = if srv_cookie.is_some() && direct {
                SckState::Updated
            } else {
                SckState::Inserted
            };
            if cfg.nocache && cacheable.0 {
                cacheable = (false, false);
                let _ = head.headers.add("Cache-control", "private");
            }
        }
        if let Some(t) = self.streams[sid].txn.as_mut() {
            t.sck = sck;
            t.cacheable = cacheable.0;
            t.cache_cook = cacheable.1;
        }
    }

    /// HAProxy's `TX_CACHEABLE` / `TX_CACHE_COOK` after the response head:
    /// a safe method, a status cacheable by default, then
    /// `http_check_response_for_cacheability` (only consulted for
    /// `nocache`).
    fn http_res_cacheable(&self, sid: Id<Stream>, head: &ResHead) -> (bool, bool) {
        let Some(t) = self.streams[sid].txn.as_ref() else {
            return (false, false);
        };
        let safe = matches!(
            t.meth,
            Some(Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
        );
        let by_status = matches!(
            head.status,
            200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501
        );
        let (mut cacheable, mut cook) = (safe && by_status, safe && by_status);
        if head.status < 200 {
            return (false, false);
        }
        let h = &head.headers;
        if h.get("pragma")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"no-cache"))
        {
            return (false, false);
        }
        let (mut fresh, mut null_maxage) = (false, false);
        let starts =
            |v: &[u8], p: &[u8]| v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p);
        for v in h
            .get_all("cache-control")
            .flat_map(crate::http::h1::list_elements)
        {
            let eq = |p: &[u8]| v.eq_ignore_ascii_case(p);
            if eq(b"public") {
                (cacheable, cook) = (true, true);
            } else if eq(b"max-age=0") {
                null_maxage = true;
            } else if eq(b"no-cache=\"set-cookie\"") {
                cook = false;
            } else if eq(b"private")
                || starts(v, b"private=")
                || eq(b"no-cache")
                || starts(v, b"no-cache=")
                || eq(b"no-store")
                || starts(v, b"no-store=")
                || eq(b"s-maxage=0")
            {
                (cacheable, cook) = (false, false);
            } else if starts(v, b"s-maxage") {
                fresh = true;
                null_maxage = false;
            } else if starts(v, b"max-age") {
                fresh = true;
            }
        }
        if null_maxage {
            (cacheable, cook) = (false, false);
        }
        if !fresh {
            fresh = h.contains("expires");
        }
        let validator = !fresh && (h.contains("etag") || h.contains("last-modified"));
        if !fresh && !validator {
            cacheable = false;
        }
        (cacheable, cook)
    }
}
