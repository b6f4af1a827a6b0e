//! Listeners: HAProxy's `struct listener` and `struct receiver`
//! (`listener.c`, `receiver`).
//!
//! A listener is one address a proxy receives connections on: a `bind`
//! line of a frontend, a `stats socket`, the local peer of a `peers`
//! section. The driver owns the socket (`Action::Listen`), the engine owns
//! the listener's state: what it accepts for ([`ListenerKind`]), its
//! `maxconn`, how many of its connections are alive, and whether accepting
//! is paused.
//!
//! Who *dialed* a connection is kept apart from which *side* of the proxy
//! it is on (`conn::Origin` and `conn::ConnSide`): today every connection
//! of a listener was accepted, but a reverse connection (HAProxy's
//! `rhttp@`, issue 10) is dialed by the engine and still belongs to a
//! listener, as a client-side connection of its frontend. How a listener
//! receives (`struct receiver`'s protocol) is its [`ListenAddr`]: TCP,
//! unix, an inherited descriptor, or a reverse address
//! ([`ListenAddr::Rhttp`], [`rhttp`]), which the driver never sees.

pub mod rhttp;

use crate::engine::Engine;
use crate::sock::{Action, ListenAddr, ListenerId};

/// What a listener accepts connections for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListenerKind {
    /// `stats socket`: CLI sessions. `expose_fd`: `expose-fd listeners`
    /// (HAProxy's `ACCESS_FD_LISTENERS`), `_getsocks` is answered.
    Stats { level: CliLevel, expose_fd: bool },
    /// The local peer's address of a peers section.
    Peers { section: usize },
    /// A `bind` line of a frontend.
    Frontend { proxy: crate::proxy::ProxyId },
}

/// `stats socket ... level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CliLevel {
    User,
    Operator,
    Admin,
}

/// One listener (`struct listener`).
#[derive(Debug)]
pub(crate) struct Listener {
    pub addr: ListenAddr,
    pub kind: ListenerKind,
    pub active: bool,
    /// `bind ... name N`.
    pub name: Option<String>,
    /// `bind ... accept-proxy`.
    pub accept_proxy: bool,
    /// `bind ... maxconn N`.
    pub maxconn: Option<u32>,
    /// `bind ... proto h1|h2|none`: the mux its connections get (`h2`:
    /// clients speak HTTP/2 with prior knowledge; `h1`: no implicit
    /// upgrade to HTTP/2; `none`: never HTTP); `None`: chosen by the mode.
    pub proto: Option<crate::cfgparse::model::BindProto>,
    /// `bind ... idle-ping T`: idle HTTP/2 connections are probed with a
    /// PING every T (HAProxy 3.x).
    pub idle_ping_ms: Option<u32>,
    /// Its number in its frontend (HAProxy's `luid`): `bind ... id N`, else
    /// the lowest free one in line order; 0 for listeners of no frontend.
    pub luid: u32,
    /// `bind ... ssl crt ...`: the TLS context of its connections.
    pub tls: Option<std::sync::Arc<crate::conn::tls::BindCtx>>,
    /// Live connections accepted here.
    pub nbconn: u32,
    /// Accepting is paused (a `maxconn` is reached).
    pub paused: bool,
    /// `bind rhttp@BACKEND/SERVER`: the engine opens the connections.
    pub rhttp: Option<Box<rhttp::RhttpRx>>,
}

impl Engine {
    /// Adds a listener and asks the driver to open it.
    pub(crate) fn add_listener(&mut self, addr: ListenAddr, kind: ListenerKind) -> ListenerId {
        let id = ListenerId(self.listeners.len() as u32);
        self.listeners.push(Listener {
            addr: addr.clone(),
            kind,
            active: true,
            name: None,
            accept_proxy: false,
            maxconn: None,
            proto: None,
            idle_ping_ms: None,
            luid: 0,
            tls: None,
            nbconn: 0,
            paused: false,
            rhttp: None,
        });
        // A reverse address has no socket: the engine dials instead
        // (started by `Engine::rhttp_enable` once built).
        if !matches!(addr, ListenAddr::Rhttp(_)) {
            self.actions
                .push_back(Action::Listen { listener: id, addr });
        }
        id
    }

    /// Adds a `stats socket`; `expose_fd` is its `expose-fd listeners`.
    pub fn add_stats_socket(
        &mut self,
        addr: ListenAddr,
        level: CliLevel,
        expose_fd: bool,
    ) -> ListenerId {
        self.add_listener(addr, ListenerKind::Stats { level, expose_fd })
    }

    /// Pauses or resumes a frontend's listeners according to `maxconn`
    /// (listener, frontend, process), as HAProxy's `limit_listener` and
    /// `resume_listener` do.
    pub(crate) fn listeners_check_limits(&mut self, fe: crate::proxy::ProxyId) {
        let global_full = self.maxconn.is_some_and(|m| self.actconn >= m);
        let fe_full = self.proxies[fe]
            .fe
            .as_ref()
            .is_some_and(|f| f.maxconn.is_some_and(|m| f.feconn >= m));
        let stopping = self.stopping.is_some();
        let now = self.now;
        for i in 0..self.listeners.len() {
            let l = &mut self.listeners[i];
            let ListenerKind::Frontend { proxy } = l.kind else {
                continue;
            };
            if !l.active || (proxy != fe && !global_full && !l.paused) {
                continue;
            }
            let full =
                global_full || (proxy == fe && fe_full) || l.maxconn.is_some_and(|m| l.nbconn >= m);
            let id = ListenerId(i as u32);
            // Reverse listeners stop or resume dialing instead.
            let reverse = l.rhttp.is_some();
            if full && !l.paused {
                l.paused = true;
                if reverse {
                    self.rhttp_disable(id);
                } else {
                    self.actions.push_back(Action::Pause { listener: id });
                }
            } else if !full && l.paused && !stopping {
                l.paused = false;
                if reverse {
                    self.rhttp_enable(now, id);
                } else {
                    self.actions.push_back(Action::Resume { listener: id });
                }
            }
        }
    }

    /// The name a listener is known by in logs: `bind ... name N`, else
    /// its number within its frontend (HAProxy's `luid`, as in
    /// `fe/1: SSL handshake failure`), else its address.
    pub(crate) fn listener_name(&self, id: ListenerId) -> String {
        let Some(l) = self.listeners.get(id.0 as usize) else {
            return "?".into();
        };
        if let Some(n) = &l.name {
            return n.clone();
        }
        match l.kind {
            ListenerKind::Frontend { .. } => l.luid.to_string(),
            _ => l.addr.to_string(),
        }
    }
}
