//! `tcp-request connection` and `tcp-request session` rules at run time
//! (HAProxy's `tcp_exec_l4_rules` / `tcp_exec_l5_rules`, `tcp_rules.c`).
//!
//! Connection rules run right after `accept()`, on the real peer address;
//! session rules run once the handshakes are done, so they see the
//! addresses a PROXY header carried. Rules run in order; the first
//! `accept` or `reject` whose condition holds ends the evaluation.

use std::sync::Arc;

use crate::arena::Id;
use crate::engine::Engine;
use crate::fetch::{sample_to_key, SessCtx};
use crate::rules::{IntOrExpr, Rule, TcpAction};
use crate::session::Session;
use crate::stick_table::{DataType, StData};
use crate::time::Time;

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
                            conn.flags |= crate::connection::CoFlags::ACCEPT_PROXY;
                        }
                    }
                }
                TcpAction::SetSrc(e)
                | TcpAction::SetDst(e)
                | TcpAction::SetSrcPort(e)
                | TcpAction::SetDstPort(e) => {
                    let v = e.eval(&mut ctx);
                    self.set_addr(sess, &rule.action, v);
                }
                // Variables, `close` (response rules only): no effect here.
                TcpAction::SetVar(_) | TcpAction::UnsetVar(_) | TcpAction::Close => {}
            }
        }
        true
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
        self.table_touched(c.table);
        self.peers_table_changed(c.table);
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
            self.table_touched(c.table);
            self.peers_table_changed(c.table);
        }
    }

    /// `set-src`, `set-dst`, `set-src-port`, `set-dst-port`.
    fn set_addr(
        &mut self,
        sess: Id<Session>,
        action: &TcpAction,
        v: Option<crate::sample::Sample>,
    ) {
        let Some(se) = self.sessions.get_mut(sess) else {
            return;
        };
        let Some(v) = v else { return };
        match action {
            TcpAction::SetSrc(_) | TcpAction::SetDst(_) => {
                let Some(crate::sample::Sample::Ip(ip)) = v.cast(crate::sample::SmpType::Addr)
                else {
                    return;
                };
                let a = if matches!(action, TcpAction::SetSrc(_)) {
                    &mut se.src
                } else {
                    &mut se.dst
                };
                let port = a.map_or(0, |a| a.port());
                *a = Some(core::net::SocketAddr::new(ip, port));
            }
            _ => {
                let Some(port) = v.as_int().and_then(|p| u16::try_from(p).ok()) else {
                    return;
                };
                let a = if matches!(action, TcpAction::SetSrcPort(_)) {
                    &mut se.src
                } else {
                    &mut se.dst
                };
                if let Some(a) = a.as_mut() {
                    a.set_port(port);
                }
            }
        }
    }
}
