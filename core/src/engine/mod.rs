//! The engine: one proxy *process* in HAProxy's sense, as a sans-IO state
//! machine. It owns the listeners, sockets (as ids), stick tables, peers
//! sections and CLI sessions; the driver owns the real sockets and the clock.
//!
//! # Driving contract
//!
//! ```text
//! driver                                   engine
//!   Engine::new(...)                  ->   Listen actions
//!   on_accept / on_connected /        ->   state changes, then
//!   on_recv / on_sent / on_error /          Connect / Interest / Shutdown /
//!   on_timeout / soft_stop                  Close / Log / Exit actions
//!   poll_action() until None
//!   next_timeout(): call on_timeout no later than that
//! ```
//!
//! After any input, drain [`Engine::poll_action`] until it returns `None`,
//! then read [`Engine::next_timeout`]. Bytes move through buffers the engine
//! lends: read into [`Engine::recv_buf`] then report with
//! [`Engine::on_recv`]; write from [`Engine::send_buf`] then report with
//! [`Engine::on_sent`]. Interest comes from `Action::Interest`; readiness is
//! the driver's business.
//!
//! Invariant (checked after every entry point in debug builds): no timer is
//! armed at or before `now` once an entry point returns — that would be a
//! busy loop.

pub(crate) mod build;
pub(crate) mod invariants;

use std::collections::VecDeque;

use core::net::SocketAddr;

use slab::Slab;

use crate::applet::cli::{self, CliSession, CliState};
use crate::arena::{Arena, Id};
use crate::backend::server::ServerId;
use crate::conn::{App, BufWaiter, Conn, Origin};
pub use crate::listener::CliLevel;
pub(crate) use crate::listener::{Listener, ListenerKind};
use crate::peers::section::PeersSection;
use crate::pool::Pool;
use crate::proxy::{Proxy, ProxyId};
use crate::rng::Rng;
use crate::session::Session;
use crate::sock::{Action, CloseHow, ListenerId, LogLevel, LogLine, SockError, SockId};
use crate::stick_table::StickTable;
use crate::stream::Stream;
use crate::task::WaitQueue;
use crate::time::Time;

/// Options that do not come from the configuration file.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Seed of the engine's PRNG (OS entropy in `proxy-mio`, logged at start).
    pub seed: u64,
    /// The local peer name (`-L`, `localpeer`, else the host name).
    pub local_peer: String,
    /// The host name (`%H` in log formats).
    pub hostname: String,
    /// This process replaces an old one (`-sf`): wait for the old process to
    /// teach its tables before asking remote peers.
    pub has_old_process: bool,
    /// The process id announced in peers hellos.
    pub pid: u32,
    /// Wall-clock time at the engine's time origin, in ms since the Unix
    /// epoch (dates in logs and on the CLI only; never used to decide).
    pub epoch_ms: u64,
    /// The driver can move data between sockets kernel-side
    /// (`Action::Splice`, HAProxy's `raw_sock_to_pipe`/`raw_sock_from_pipe`).
    pub splice: bool,
    /// What TLS needs from the world (crypto provider, certificate
    /// files); `None`: a configuration with `ssl` does not start.
    pub tls: Option<crate::conn::tls::TlsEnv>,
    /// This engine's thread, from 0 (HAProxy's `tid`; the `thread` sample
    /// fetch). One engine runs per thread (docs/threads.md).
    pub thread: u32,
    /// The number of threads (engines) in the process (HAProxy's
    /// `global.nbthread`: `show info`'s `Nbthread`).
    pub nbthread: u32,
    /// Reads the pattern files the configuration names (maps, `acl -f`)
    /// while the engine is built: the driver's reader (the engine reads no
    /// file). `None`: a configuration that names one does not start.
    pub pattern_files: Option<crate::pattern::FileSource>,
    /// The historic bug to switch on (simulator only).
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutants::Mutant>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            seed: 0,
            local_peer: String::new(),
            hostname: String::new(),
            has_old_process: false,
            pid: 1,
            epoch_ms: 0,
            splice: false,
            tls: None,
            thread: 0,
            nbthread: 1,
            pattern_files: None,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }
}

/// A fact one engine tells the engines of the other threads of its process
/// (docs/threads.md). Opaque to the driver, which only carries it: every
/// engine of a process is built from the same configuration, so the ids in
/// it mean the same thing on every thread.
#[derive(Clone, Debug)]
pub struct Shared(pub(crate) SharedKind);

#[derive(Clone, Debug)]
pub(crate) enum SharedKind {
    /// A health check result on thread 0, where checks run.
    SrvHealth(crate::backend::check::SrvHealth),
    /// Server `maxconn` slot leases (`backend/slots.rs`).
    Slots(crate::backend::slots::SlotMsg),
    /// Stick-table changes (`stick_table/threads.rs`).
    Table(crate::stick_table::threads::TableMsg),
    /// The stats socket's queries and admin commands
    /// (`applet/stats_threads.rs`).
    Stats(crate::applet::stats_threads::StatsMsg),
}

impl Shared {
    /// The thread this message is for; `None`: every other thread.
    pub fn to(&self) -> Option<u32> {
        match &self.0 {
            SharedKind::SrvHealth(_) => None,
            SharedKind::Slots(m) => m.to(),
            SharedKind::Table(m) => m.to(),
            SharedKind::Stats(m) => m.to(),
        }
    }
}

/// What handles a socket's events, as the socket's connection says:
/// the mux and streams of a data-path connection, or the applet of an
/// applet connection (`conn::App`). Every socket belongs to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SockOwner {
    Cli {
        session: usize,
        level: CliLevel,
    },
    Peer {
        section: usize,
        session: usize,
    },
    /// A data-path connection (client or server side).
    Conn(Id<Conn>),
    /// A health-check connection to server `srv`.
    Check(ServerId),
    /// An agent-check connection of server `srv`.
    Agent(ServerId),
}

/// A socket: the *ctrl* layer of its connection.
#[derive(Debug)]
pub(crate) struct SockEntry {
    gen: u32,
    /// The connection the socket belongs to.
    pub conn: Id<Conn>,
    /// The interest last announced to the driver.
    read: bool,
    write: bool,
}

/// Timer names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// A peers section's sync task (`process_peer_sync`).
    PeersSync(usize),
    /// One peer session's own timeouts (connect, handshake, idle).
    PeerSession(usize, usize),
    /// Expiry of a stick table's entries.
    TableExpire(crate::stick_table::TableId),
    /// A CLI session's `stats timeout`.
    Cli(usize),
    /// A stream's timeouts (`task->expire`).
    Stream(Id<Stream>),
    /// A connection's handshake timeout (PROXY header).
    ConnHs(Id<Conn>),
    /// The end of a client connection's lingering close (see
    /// `Engine::conn_linger`).
    ConnDrain(Id<Conn>),
    /// The health check of server `srv` of backend `be`.
    Check(ServerId),
    /// The agent check of server `srv` (HAProxy's `srv->agent` task).
    Agent(ServerId),
    /// The purge of a server's idle connections (backend, server).
    IdlePurge(ServerId),
    /// The next step of a server's warm-up after `slowstart` (HAProxy's
    /// `srv->warmup` task).
    Warmup(ServerId),
    /// `hard-stop-after`: the end of a soft stop's wait for live
    /// connections.
    HardStop,
    /// The task of a reverse listener (`bind rhttp@`, `rhttp_process`).
    Rhttp(ListenerId),
    /// The task of `resolvers` section `i` (`process_resolvers`).
    Resolvers(usize),
}

/// How the process is stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// SIGUSR1 / reload: stop accepting, hand the tables over, then exit.
    Soft,
    /// SIGTERM / SIGINT: close everything now.
    Hard,
}

/// The engine. See the module documentation for the driving contract.
#[derive(Debug)]
pub struct Engine {
    pub(crate) now: Time,
    pub(crate) rng: Rng,
    pub(crate) opts: EngineOptions,
    socks: Slab<SockEntry>,
    next_gen: u32,
    pub(crate) listeners: Vec<Listener>,
    pub(crate) actions: VecDeque<Action>,
    /// Messages for the engines of the other threads ([`Engine::poll_shared`]).
    pub(crate) shared_out: VecDeque<Shared>,
    /// The id of the next stats query to the other threads.
    pub(crate) stats_query_id: u64,
    /// Slot lease messages this engine sent itself (thread 0 owns the
    /// slots and holds a lease too), handled after the entry point.
    pub(crate) slot_local: VecDeque<crate::backend::slots::SlotMsg>,
    /// The servers with a slot lease (`maxconn` with threads).
    pub(crate) leased: Vec<crate::backend::server::ServerId>,
    /// Scratch: the load balancer's view of a backend's servers, kept
    /// between picks so that a pick allocates nothing.
    pub(crate) lb_servers: Vec<crate::backend::lb::LbServer>,
    pub(crate) timers: WaitQueue<TimerKey>,
    pub(crate) tables: crate::stick_table::Tables,
    pub(crate) peers: Vec<PeersSection>,
    pub(crate) clis: Slab<(SockId, CliSession)>,
    pub(crate) proxies: Vec<Proxy>,
    pub(crate) conns: Arena<Conn>,
    pub(crate) sessions: Arena<Session>,
    pub(crate) streams: Arena<Stream>,
    pub(crate) pool: Pool<BufWaiter>,
    /// Live client sessions of the process (`actconn`).
    pub(crate) actconn: u32,
    /// Streams created so far (HAProxy's `global.req_count`, `%rt`).
    pub(crate) req_count: u32,
    /// Messages captured for `show errors` so far (HAProxy's
    /// `error_snapshot_id`).
    pub(crate) error_snapshot_id: u32,
    pub(crate) cum_conn: u64,
    /// `global maxconn`.
    pub(crate) maxconn: Option<u32>,
    /// `tune.maxrewrite`: room kept for head rewrites.
    pub(crate) maxrewrite: usize,
    /// Where idle server connections read (anything read ends them).
    pub(crate) scratch: [u8; 64],
    /// Where lingering client connections read what they drain (allocated
    /// with the first one).
    pub(crate) drain_buf: Vec<u8>,
    /// Client connections in a lingering close.
    pub(crate) lingering: u32,
    /// Where rewritten HTTP heads are encoded before going to a channel
    /// (kept to save an allocation per head).
    pub(crate) head_out: Vec<u8>,
    pub(crate) stats_timeout_ms: u64,
    pub(crate) stopping: Option<StopMode>,
    /// `hard-stop-after`, in milliseconds.
    pub(crate) hard_stop_after_ms: Option<u32>,
    exit_sent: bool,
    /// `proc.` variables.
    pub(crate) proc_vars: crate::vars::Vars,
    /// TLS connections with work to do at the end of the entry point
    /// (plaintext for a stream that has room again, output to encrypt):
    /// see `conn/ssl_sock.rs`.
    pub(crate) tls_woken: Vec<Id<Conn>>,
    /// HTTP/2 connections with work to do at the end of the entry point
    /// (a stream made room or output): see `stream/sc_h2.rs`.
    pub(crate) h2_woken: Vec<Id<Conn>>,
    /// `tune.h2.fe.max-concurrent-streams`, else
    /// `tune.h2.max-concurrent-streams` (client connections; 0: no limit).
    pub(crate) h2_fe_max_concurrent_streams: u32,
    /// `tune.h2.be.max-concurrent-streams`, else
    /// `tune.h2.max-concurrent-streams` (server connections; 0: no limit).
    pub(crate) h2_be_max_concurrent_streams: u32,
    /// Our SETTINGS on client connections (`tune.h2.*`, `tune.h2.fe.*`).
    pub(crate) h2_fe_tune: crate::mux::h2::H2Tune,
    /// Our SETTINGS on server connections (`tune.h2.*`, `tune.h2.be.*`).
    pub(crate) h2_be_tune: crate::mux::h2::H2Tune,
    /// `tune.h2.fe.glitches-threshold` (0: none).
    pub(crate) h2_glitches_threshold: u32,
    /// `tune.h2.fe.max-total-streams` (0: no limit).
    pub(crate) h2_max_total_streams: u32,
    /// Client HTTP/2 connections killed by their glitches (`show info`
    /// `H2GlitchKills`; HAProxy has no such counter).
    pub(crate) h2_glitch_kills: u64,
    /// The wall clock rustls sees (certificate validity), set from `now`.
    pub(crate) tls_clock: std::sync::Arc<crate::conn::tls::EngineClock>,
    /// Warnings of the engine's construction (OCSP responses ignored),
    /// for the driver to print: [`Engine::take_start_warnings`].
    pub(crate) start_warnings: Vec<String>,
    /// HTTP/2 streams a client opened on a connection that had no session
    /// to take them (never, unless a mux reads requests it should hold:
    /// [`Engine::streams_without_session`]).
    pub(crate) h2_streams_without_session: u64,
    /// The OCSP responses by certificate ID while listeners are built.
    pub(crate) ocsp_store: crate::conn::tls::OcspStore,
    /// The session ticket keys of the `bind ... ssl` lines that name a
    /// `tls-ticket-keys` file, by file, in the order of the lines (their
    /// index is HAProxy's reference id on the CLI); lines with the same
    /// file share one.
    pub(crate) ticket_files: Vec<(String, std::sync::Arc<crate::conn::ticket::Ticketer>)>,
    /// How many ticketers were made: each draws its own stream.
    pub(crate) ticketers_made: u64,
    /// The TLS session cache of every `bind ... ssl` line
    /// (`tune.ssl.cachesize`, `tune.ssl.lifetime`), sized at start.
    pub(crate) tls_sessions: std::sync::Arc<crate::conn::tls::SessionCache>,
    /// The uncommitted `set ssl cert`, if any.
    pub(crate) ssl_cert_tx: Option<crate::applet::cli_cmds::CertTransaction>,
    /// The certificate store (HAProxy's ckch store): every certificate
    /// loaded (`bind ... crt`, crt-lists, `server ... crt`) or made by
    /// `new ssl cert`, used or not, by path; `None` while empty.
    pub(crate) ckch:
        std::collections::BTreeMap<String, Option<std::sync::Arc<rustls::sign::CertifiedKey>>>,
    /// `ssl-load-extra-del-ext`: `set ssl cert NAME.key` is about
    /// `NAME.crt` when there is no `NAME`.
    pub(crate) ssl_extra_del_ext: bool,
    /// The crt-list files of the `bind` lines (HAProxy's `crtlists_tree`),
    /// by path.
    pub(crate) crtlists: std::collections::BTreeMap<String, crate::applet::cli_crtlist::CrtList>,
    /// The CA and CRL files (HAProxy's `cafile_tree`), shared with the
    /// TLS contexts that verify with them.
    pub(crate) cafiles: std::sync::Arc<crate::conn::cafile::CafileStore>,
    /// The uncommitted `set ssl ca-file` and `set ssl crl-file`, if any
    /// (HAProxy's `cafile_transaction` and `crlfile_transaction`).
    pub(crate) ssl_ca_tx: Option<crate::applet::cli_cmds::CaTransaction>,
    pub(crate) ssl_crl_tx: Option<crate::applet::cli_cmds::CaTransaction>,
    /// `userlist` sections, resolved (`http_auth`, `stats auth`).
    pub(crate) userlists: Vec<crate::auth::Userlist>,
    /// Pattern references and expressions (maps, ACL patterns): HAProxy's
    /// `pattern_reference` list, edited by the CLI.
    pub(crate) patterns: crate::pattern::PatStore,
    /// `resolvers` sections, in file order (queries run on thread 0).
    pub(crate) resolvers: Vec<crate::dns::Resolvers>,
}

impl Engine {
    /// An engine with nothing configured; see `Engine::from_config`.
    pub fn empty(now: Time, opts: EngineOptions) -> Engine {
        Engine {
            now,
            rng: Rng::new(opts.seed),
            opts,
            socks: Slab::new(),
            next_gen: 1,
            listeners: Vec::new(),
            actions: VecDeque::new(),
            shared_out: VecDeque::new(),
            stats_query_id: 0,
            slot_local: VecDeque::new(),
            leased: Vec::new(),
            lb_servers: Vec::new(),
            timers: WaitQueue::new(),
            tables: Default::default(),
            peers: Vec::new(),
            clis: Slab::new(),
            proxies: Vec::new(),
            conns: Arena::new(),
            sessions: Arena::new(),
            streams: Arena::new(),
            pool: Pool::new(crate::peers::DEFAULT_MAX_BODY_LEN, 4096),
            actconn: 0,
            req_count: 0,
            error_snapshot_id: 0,
            cum_conn: 0,
            maxconn: None,
            maxrewrite: 1024,
            scratch: [0; 64],
            drain_buf: Vec::new(),
            lingering: 0,
            head_out: Vec::new(),
            stats_timeout_ms: 10_000,
            stopping: None,
            hard_stop_after_ms: None,
            exit_sent: false,
            proc_vars: Default::default(),
            tls_woken: Vec::new(),
            h2_woken: Vec::new(),
            h2_fe_max_concurrent_streams: 100,
            h2_be_max_concurrent_streams: 100,
            h2_fe_tune: crate::mux::h2::H2Tune::default(),
            h2_be_tune: crate::mux::h2::H2Tune::default(),
            h2_glitches_threshold: 0,
            h2_max_total_streams: 0,
            h2_glitch_kills: 0,
            userlists: Vec::new(),
            patterns: crate::pattern::PatStore::new(),
            resolvers: Vec::new(),
            tls_clock: Default::default(),
            start_warnings: Default::default(),
            h2_streams_without_session: 0,
            ocsp_store: Default::default(),
            ticket_files: Vec::new(),
            ticketers_made: 0,
            tls_sessions: std::sync::Arc::new(crate::conn::tls::SessionCache::new(
                Default::default(),
                0,
                0,
            )),
            ssl_cert_tx: None,
            ckch: Default::default(),
            ssl_extra_del_ext: false,
            crtlists: Default::default(),
            cafiles: Default::default(),
            ssl_ca_tx: None,
            ssl_crl_tx: None,
        }
    }

    // ----------------------------------------------------------------------
    // Building

    // ----------------------------------------------------------------------
    // Driver inputs

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next message for the engines of the other threads of the
    /// process (docs/threads.md): the driver gives a copy to each of them
    /// through [`Engine::on_shared`]. Only with `nbthread` above 1.
    pub fn poll_shared(&mut self) -> Option<Shared> {
        self.shared_out.pop_front()
    }

    /// A message from the engine of another thread ([`Engine::poll_shared`]).
    pub fn on_shared(&mut self, now: Time, msg: Shared) {
        self.set_now(now);
        match msg.0 {
            SharedKind::SrvHealth(h) => self.apply_srv_health(now, h),
            SharedKind::Slots(m) => self.slots_on(m),
            SharedKind::Table(m) => self.tables_on(now, m),
            SharedKind::Stats(m) => self.stats_on(now, m),
        }
        self.after_entry();
    }

    /// When the driver must call [`Engine::on_timeout`] at the latest.
    pub fn next_timeout(&self) -> Option<Time> {
        self.timers.next()
    }

    /// Time passed: run every timer at or before `now`.
    pub fn on_timeout(&mut self, now: Time) {
        self.set_now(now);
        self.after_entry();
    }

    /// A listener could not be opened. Listeners of peers sections are
    /// essential; others are logged and dropped.
    pub fn on_listen_error(&mut self, now: Time, listener: ListenerId, err: &str) {
        self.set_now(now);
        if let Some(l) = self.listeners.get_mut(listener.0 as usize) {
            l.active = false;
            let text = format!("Starting listener on {}: cannot bind: {err}", l.addr);
            self.log(LogLevel::Alert, text);
        }
        self.after_entry();
    }

    /// A connection arrived on `listener`. Returns its id, or `None` when
    /// the engine refuses it (the driver closes it at once).
    pub fn on_accept(
        &mut self,
        now: Time,
        listener: ListenerId,
        peer: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) -> Option<SockId> {
        self.set_now(now);
        let kind = self
            .listeners
            .get(listener.0 as usize)
            .filter(|l| l.active)?
            .kind;
        let id = match kind {
            ListenerKind::Stats { level, expose_fd } => {
                Some(self.cli_accept(now, listener, level, expose_fd))
            }
            ListenerKind::Peers { section } => self.peers_accept(now, listener, section, peer),
            ListenerKind::Frontend { proxy } => {
                self.frontend_accept(now, listener, proxy, peer, local)
            }
        };
        self.after_entry();
        id
    }

    /// An outgoing connection asked with `Action::Connect` is established.
    pub fn on_connected(&mut self, now: Time, sock: SockId) {
        self.set_now(now);
        match self.owner(sock) {
            Some(SockOwner::Peer { section, session }) => {
                self.peer_connected(now, section, session)
            }
            Some(SockOwner::Conn(c)) => self.conn_on_connected(now, c),
            Some(SockOwner::Check(srv)) => self.check_connected(now, srv),
            Some(SockOwner::Agent(srv)) => self.agent_connected(now, srv),
            _ => {}
        }
        self.after_entry();
    }

    /// An outgoing connection failed. The id is stale afterwards.
    pub fn on_connect_error(&mut self, now: Time, sock: SockId, err: SockError) {
        self.set_now(now);
        match self.owner(sock) {
            Some(SockOwner::Peer { section, session }) => {
                self.peer_connect_failed(now, section, session, err)
            }
            Some(SockOwner::Conn(c)) => self.conn_on_connect_error(now, c, err),
            Some(SockOwner::Check(srv)) => self.check_failed(now, srv, err),
            Some(SockOwner::Agent(srv)) => self.agent_failed(now, srv, err),
            _ => {}
        }
        self.after_entry();
    }

    /// Where the driver reads into. Empty when the engine cannot take more
    /// (backpressure) or the id is stale.
    pub fn recv_buf(&mut self, sock: SockId) -> &mut [u8] {
        match self.owner(sock) {
            Some(SockOwner::Cli { session, .. }) => self.clis[session].1.rx.spare_mut(),
            Some(SockOwner::Peer { section, session }) => self.peer_recv_buf(section, session),
            Some(SockOwner::Conn(c)) => self.conn_recv_buf(c),
            Some(SockOwner::Check(srv)) => self.check_recv_buf(srv),
            Some(SockOwner::Agent(srv)) => self.agent_recv_buf(srv),
            None => &mut [],
        }
    }

    /// `n` bytes were read into [`Engine::recv_buf`]; `n == 0` means the
    /// peer shut its write side (read0).
    pub fn on_recv(&mut self, now: Time, sock: SockId, n: usize) {
        self.set_now(now);
        match self.owner(sock) {
            Some(SockOwner::Cli { session, level }) => self.cli_recv(now, session, level, n),
            Some(SockOwner::Peer { section, session }) => self.peer_recv(now, section, session, n),
            Some(SockOwner::Conn(c)) => self.conn_on_recv(now, c, n),
            Some(SockOwner::Check(srv)) => self.check_on_recv(now, srv, n),
            Some(SockOwner::Agent(srv)) => self.agent_on_recv(now, srv, n),
            None => {}
        }
        self.after_entry();
    }

    /// A read on `sock` found nothing (`EAGAIN`): the engine may give the
    /// buffer it lent with [`Engine::recv_buf`] back to the pool, so that
    /// idle connections hold no buffer (HAProxy frees empty buffers after
    /// every receive attempt).
    pub fn recv_blocked(&mut self, sock: SockId) {
        if let Some(SockOwner::Conn(c)) = self.owner(sock) {
            self.conn_recv_blocked(c);
        }
    }

    /// `n` bytes went from `from` to its splice partner without passing
    /// through the engine (after `Action::Splice`).
    pub fn on_spliced(&mut self, now: Time, from: SockId, n: usize) {
        self.set_now(now);
        if let Some(SockOwner::Conn(c)) = self.owner(from) {
            self.conn_on_spliced(now, c, n);
        }
        self.after_entry();
    }

    /// What the driver should write, if it may.
    pub fn send_buf(&self, sock: SockId) -> &[u8] {
        match self.owner(sock) {
            Some(SockOwner::Cli { session, .. }) => self.clis[session].1.tx.as_slices().0,
            Some(SockOwner::Peer { section, session }) => self.peer_send_buf(section, session),
            Some(SockOwner::Conn(c)) => self.conn_send_buf(c),
            Some(SockOwner::Check(srv)) => self.check_send_buf(srv),
            Some(SockOwner::Agent(srv)) => self.agent_send_buf(srv),
            None => &[],
        }
    }

    /// `n` bytes of [`Engine::send_buf`] were written.
    pub fn on_sent(&mut self, now: Time, sock: SockId, n: usize) {
        self.set_now(now);
        match self.owner(sock) {
            Some(SockOwner::Cli { session, .. }) => {
                let tx = &mut self.clis[session].1.tx;
                let n = n.min(tx.len());
                tx.drain(..n);
                self.cli_progress(now, session);
            }
            Some(SockOwner::Peer { section, session }) => self.peer_sent(now, section, session, n),
            Some(SockOwner::Conn(c)) => self.conn_on_sent(now, c, n),
            Some(SockOwner::Check(srv)) => self.check_on_sent(now, srv, n),
            Some(SockOwner::Agent(srv)) => self.agent_on_sent(now, srv, n),
            None => {}
        }
        self.after_entry();
    }

    /// The socket failed (reset, broken pipe...). The id is stale afterwards:
    /// the driver has closed it.
    pub fn on_error(&mut self, now: Time, sock: SockId, err: SockError) {
        self.set_now(now);
        match self.owner(sock) {
            Some(SockOwner::Cli { session, .. }) => {
                self.clis.remove(session);
                self.timers.arm(TimerKey::Cli(session), None);
                self.free_sock(sock);
            }
            Some(SockOwner::Peer { section, session }) => {
                self.peer_sock_error(now, section, session, err)
            }
            Some(SockOwner::Conn(c)) => self.conn_on_error(now, c, err),
            Some(SockOwner::Check(srv)) => self.check_failed(now, srv, err),
            Some(SockOwner::Agent(srv)) => self.agent_failed(now, srv, err),
            None => {}
        }
        self.after_entry();
    }

    /// Stops the process: `Soft` (SIGUSR1, reload) closes the listeners,
    /// hands the tables over to the new process, then asks to exit; `Hard`
    /// (SIGTERM, SIGINT) closes everything and asks to exit at once.
    pub fn stop(&mut self, now: Time, mode: StopMode) {
        self.set_now(now);
        if self.stopping == Some(StopMode::Hard) {
            return;
        }
        self.stopping = Some(mode);
        for (i, l) in self.listeners.iter_mut().enumerate() {
            let keep = mode == StopMode::Soft && matches!(l.kind, ListenerKind::Stats { .. });
            if l.active && !keep {
                l.active = false;
                // A reverse listener has no socket.
                if l.rhttp.is_none() {
                    self.actions.push_back(Action::Unlisten {
                        listener: ListenerId(i as u32),
                    });
                }
            }
        }
        self.rhttp_stop(now);
        match mode {
            StopMode::Hard => self.close_all(),
            StopMode::Soft => {
                if let Some(ms) = self.hard_stop_after_ms {
                    self.timers
                        .arm(TimerKey::HardStop, Some(now.add_ms(u64::from(ms))));
                }
                self.h2_soft_stop(now);
                self.peers_soft_stop(now)
            }
        }
        self.after_entry();
    }

    /// Whether the engine has asked to exit.
    pub fn exited(&self) -> bool {
        self.exit_sent
    }

    // ----------------------------------------------------------------------
    // Observation (tests, simulator, CLI)

    /// The stick tables, in configuration order.
    pub fn tables(&self) -> &[StickTable] {
        &self.tables
    }

    /// The table whose CLI name is `name`.
    pub fn table(&self, name: &str) -> Option<&StickTable> {
        self.tables.iter().find(|t| t.params().id == name)
    }

    /// Mutable access for drivers and tests that feed tables directly
    /// (the simulator's writers).
    pub fn table_mut(&mut self, name: &str) -> Option<&mut StickTable> {
        self.tables.iter_mut().find(|t| t.params().id == name)
    }

    /// Bounds the buffer pool (`tune.buffers.limit`), for tests and the
    /// simulator that exercise buffer exhaustion.
    pub fn set_pool_limit(&mut self, limit: usize) {
        let bufsize = self.pool.bufsize();
        crate::bug_on!(
            self.pool.in_use() > 0,
            "pool limit changed while buffers are out"
        );
        self.pool = Pool::new(bufsize, limit);
    }

    /// Number of live sockets (everything not yet closed).
    pub fn sock_count(&self) -> usize {
        self.socks.len()
    }

    /// Runs one CLI request line as if it came from an admin stats socket
    /// and returns the output (tests, the simulator).
    /// A first line ending in `<<` takes the rest of `line` as its payload
    /// (`set ssl cert FILE <<\n` PEM).
    pub fn cli_request(&mut self, now: Time, line: &str) -> String {
        self.set_now(now);
        let (line, payload) = match line.split_once('\n') {
            Some((l, p)) if l.trim_end_matches('\r').ends_with(cli::PAYLOAD_PATTERN) => {
                let l = l.trim_end_matches('\r');
                (&l[..l.len() - cli::PAYLOAD_PATTERN.len()], Some(p))
            }
            _ => (line, None),
        };
        let mut out = String::new();
        for words in cli::split_commands(line) {
            let (text, _) = self.cli_execute(now, CliLevel::Admin, &words, payload);
            out.push_str(&text);
        }
        self.after_entry();
        out
    }

    // ----------------------------------------------------------------------
    // Plumbing shared by the subsystems

    /// Moves the clock, then runs every timer due by then: an input that
    /// arrives at or after a deadline the driver has not reported yet sees
    /// the world as it is after that deadline (the driver may report I/O
    /// and timers in either order).
    /// The warnings of the engine's construction (OCSP responses
    /// ignored), for the driver to print once.
    pub fn take_start_warnings(&mut self) -> Vec<String> {
        core::mem::take(&mut self.start_warnings)
    }

    pub(crate) fn set_now(&mut self, now: Time) {
        crate::bug_on!(
            now < self.now,
            "time went backwards: {now:?} < {:?}",
            self.now
        );
        self.now = self.now.max(now);
        let now = self.now;
        self.tls_clock.set_ms(self.opts.epoch_ms + now.as_ms());
        while let Some(key) = self.timers.pop_expired(now) {
            self.run_timer(now, key);
            // A timer's table changes reach the peers before a later
            // timer (a sync task) runs, as when each path woke them itself.
            self.tables_commit();
        }
    }

    /// Work common to the end of every entry point.
    pub(crate) fn after_entry(&mut self) {
        if !self.leased.is_empty() {
            self.slots_after_entry();
        }
        if !self.tls_woken.is_empty() || !self.h2_woken.is_empty() {
            for _ in 0..4 {
                if !self.tls_woken.is_empty() {
                    self.tls_run_woken();
                }
                if self.h2_woken.is_empty() {
                    break;
                }
                self.h2_run_woken();
            }
        }
        // Off the hot path: most configurations have neither tables nor
        // peers.
        if !self.tables.is_empty() || !self.peers.is_empty() {
            self.tables_and_peers_after_entry();
        }
        self.maybe_exit();
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
    }

    /// Table changes propagate, then the sync tasks woken during this
    /// entry point run before it returns; they may wake each other, a
    /// bounded number of times.
    #[inline(never)]
    fn tables_and_peers_after_entry(&mut self) {
        let now = self.now;
        if self.opts.nbthread > 1 {
            self.tables_share();
        }
        self.tables_commit();
        for _ in 0..8 {
            if !self.peers.iter().any(|s| s.woken) {
                break;
            }
            self.peers_run_woken(now);
        }
    }

    fn maybe_exit(&mut self) {
        if self.exit_sent {
            return;
        }
        let done = match self.stopping {
            Some(StopMode::Hard) => true,
            // A soft stop waits for the live connections to end, and for
            // the lingering ones to have drained.
            Some(StopMode::Soft) => {
                self.peers_may_exit() && self.sessions.is_empty() && self.lingering == 0
            }
            None => false,
        };
        if done {
            self.close_all();
            self.exit_sent = true;
            self.actions.push_back(Action::Exit);
        }
    }

    /// Checks the engine's invariants (debug builds, tests, simulator).
    pub fn check_invariants(&self) {
        if let Some(next) = self.timers.next() {
            assert!(
                next > self.now,
                "timer armed at {next:?}, not after now {:?}: busy loop",
                self.now
            );
        }
        for (idx, e) in &self.socks {
            let sock = SockId {
                idx: idx as u32,
                gen: e.gen,
            };
            let conn = self.conns.get(e.conn).expect("connection of a live socket");
            assert_eq!(conn.sock, sock, "connection and socket disagree");
            match self.owner(sock).expect("a live socket has an owner") {
                SockOwner::Cli { session, .. } => {
                    let (sid, _) = self
                        .clis
                        .get(session)
                        .expect("cli session of a live socket");
                    assert_eq!(*sid, sock);
                }
                SockOwner::Peer { section, session } => {
                    self.peers_check_sock(section, session, sock);
                }
                SockOwner::Agent(srv) => {
                    let held = self
                        .server(srv)
                        .and_then(|s| s.agent.as_ref())
                        .and_then(|a| a.sock);
                    assert_eq!(held, Some(sock), "an agent socket its server forgot");
                }
                SockOwner::Conn(_) | SockOwner::Check { .. } => {}
            }
        }
        for (c, conn) in self.conns.iter() {
            assert_eq!(
                conn.app.is_some(),
                conn.side == crate::conn::ConnSide::App,
                "applet connection and side disagree"
            );
            if conn.app.is_some() {
                let e = self.socks.get(conn.sock.idx as usize);
                assert!(
                    e.is_some_and(|e| e.gen == conn.sock.gen && e.conn == c),
                    "an applet connection outlived its socket"
                );
            }
        }
        self.datapath_check_invariants();
        self.tables_check_invariants();
    }

    /// Every stick-table change went through [`Engine::tables_commit`]: no
    /// table has changes left to propagate, no entry was written without
    /// being touched, and an entry that may expire has its table's expiry
    /// timer armed no later than its expiry.
    fn tables_check_invariants(&self) {
        for t in self.tables.ids() {
            let table = &self.tables[t];
            let name = &table.params().id;
            assert!(
                !table.has_pending(),
                "table {name}: changed without tables_commit"
            );
            assert_eq!(
                table.unsealed_writes(),
                0,
                "table {name}: an entry was written without touch_local/touch_remote (no expiry renewal, no peer push)"
            );
            if let Some(next) = table.next_expiry() {
                let armed = self.timers.deadline(TimerKey::TableExpire(t));
                assert!(
                    armed.is_some_and(|d| d <= next.max(self.now.add_ms(1))),
                    "table {name}: an entry expires at {next:?} but the expiry timer is {armed:?}"
                );
            }
        }
    }

    fn sock_entry(&self, sock: SockId) -> Option<&SockEntry> {
        self.socks
            .get(sock.idx as usize)
            .filter(|e| e.gen == sock.gen)
    }

    /// What handles the events of `sock` (see [`SockOwner`]).
    pub(crate) fn owner(&self, sock: SockId) -> Option<SockOwner> {
        let c = self.sock_entry(sock)?.conn;
        let conn = self.conns.get(c)?;
        Some(match conn.app {
            None => SockOwner::Conn(c),
            Some(App::Cli { session, level }) => SockOwner::Cli { session, level },
            Some(App::Peer { section, session }) => SockOwner::Peer { section, session },
            Some(App::Check { srv }) => SockOwner::Check(srv),
            Some(App::Agent { srv }) => SockOwner::Agent(srv),
        })
    }

    /// A new socket id for data-path connection `c` (inserted next by
    /// the caller, with this socket).
    pub(crate) fn new_sock(&mut self, c: Id<Conn>) -> SockId {
        let gen = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1).max(1);
        let idx = self.socks.insert(SockEntry {
            gen,
            conn: c,
            read: false,
            write: false,
        });
        SockId {
            idx: idx as u32,
            gen,
        }
    }

    /// A new socket and its connection for applet `app`; the connection
    /// lives as long as the socket (see [`Engine::free_sock`]).
    pub(crate) fn new_app_sock(&mut self, app: App, origin: Origin) -> SockId {
        let c = self.conns.next_id();
        let sock = self.new_sock(c);
        let got = self.conns.insert(Conn::new_app(sock, origin, app));
        crate::bug_on!(got != c);
        sock
    }

    /// Asks the driver to open a TCP connection for `sock`.
    pub(crate) fn connect(&mut self, sock: SockId, addr: SocketAddr) {
        self.actions.push_back(Action::Connect { sock, addr });
    }

    /// Asks the driver to open a UNIX stream connection for `sock`.
    pub(crate) fn connect_unix(&mut self, sock: SockId, addr: crate::sock::UnixAddr) {
        self.actions.push_back(Action::ConnectUnix { sock, addr });
    }

    /// Announces the interest of `sock` if it changed.
    pub(crate) fn set_interest(&mut self, sock: SockId, read: bool, write: bool) {
        if let Some(e) = self
            .socks
            .get_mut(sock.idx as usize)
            .filter(|e| e.gen == sock.gen)
        {
            if e.read != read || e.write != write {
                e.read = read;
                e.write = write;
                self.actions
                    .push_back(Action::Interest { sock, read, write });
            }
        }
    }

    /// Asks for a FIN on `sock` (the caller has flushed its output).
    pub(crate) fn shutdown_write(&mut self, sock: SockId) {
        if self.sock_entry(sock).is_some() {
            self.actions.push_back(Action::Shutdown { sock });
        }
    }

    /// Closes `sock` and forgets it.
    pub(crate) fn close_sock(&mut self, sock: SockId, how: CloseHow) {
        if self.free_sock(sock) {
            self.actions.push_back(Action::Close { sock, how });
        }
    }

    /// Forgets `sock` without asking the driver anything (it reported the
    /// socket dead). Returns whether the id was live.
    /// An applet's connection goes with its socket; a data-path
    /// connection outlives it until `conn_close`.
    pub(crate) fn free_sock(&mut self, sock: SockId) -> bool {
        let Some(c) = self.sock_entry(sock).map(|e| e.conn) else {
            return false;
        };
        self.socks.remove(sock.idx as usize);
        if self
            .conns
            .get(c)
            .is_some_and(|conn| conn.app.is_some() && conn.sock == sock)
        {
            self.conns.remove(c);
        }
        true
    }

    /// A line for the `global` section's log targets.
    pub(crate) fn log(&mut self, level: LogLevel, text: String) {
        self.log_px(None, level, text);
    }

    /// A line for the log targets of proxy `px` (`None`: the global ones).
    pub(crate) fn log_px(&mut self, px: Option<ProxyId>, level: LogLevel, text: String) {
        self.actions.push_back(Action::Log(LogLine {
            level,
            text,
            proxy: px,
        }));
    }

    /// The name of proxy `px` (a frontend, backend or `listen` section).
    pub fn proxy_name(&self, px: ProxyId) -> Option<&str> {
        self.proxies.get(px.idx()).map(|p| p.name.as_str())
    }

    fn run_timer(&mut self, now: Time, key: TimerKey) {
        match key {
            TimerKey::PeersSync(section) => self.peers_sync_task(now, section),
            TimerKey::PeerSession(section, session) => {
                self.peer_session_timeout(now, section, session)
            }
            TimerKey::TableExpire(t) => self.table_expire_task(now, t),
            TimerKey::Cli(session) => self.cli_close(session),
            TimerKey::Stream(sid) => {
                let Some(s) = self.streams.get_mut(sid) else {
                    return;
                };
                s.queued = None;
                match s.exp {
                    // Woken early: its timeouts moved later since.
                    Some(t) if t > now => {
                        s.queued = Some(t);
                        self.timers.arm(key, Some(t));
                    }
                    // Nothing due (no timeout left): nothing to do.
                    None => {}
                    Some(_) => {
                        s.exp = None;
                        self.process_stream(now, sid)
                    }
                }
            }
            TimerKey::ConnHs(c)
                if self
                    .conns
                    .get(c)
                    .is_some_and(|x| matches!(x.mux, crate::mux::Mux::H2(_))) =>
            {
                self.h2_timeout(now, c)
            }
            TimerKey::ConnHs(c)
                if self.conns.get(c).is_some_and(|x| {
                    matches!(x.mux, crate::mux::Mux::H2b(_))
                        && !matches!(&x.xprt, crate::conn::Xprt::Tls(t) if t.is_handshaking())
                }) =>
            {
                // `server ... idle-ping`.
                self.h2b_timeout(now, c)
            }
            TimerKey::ConnHs(c) => {
                let tls = self.conns.get(c).is_some_and(|x| {
                    x.xprt.is_tls() && !x.flags.contains(crate::conn::CoFlags::ACCEPT_PROXY)
                });
                let why = if tls {
                    crate::conn::ConnError::SslTimeout
                } else {
                    crate::conn::ConnError::PrxTimeout
                };
                self.handshake_fail(now, c, why)
            }
            TimerKey::ConnDrain(c) => self.conn_linger_end(now, c),
            TimerKey::Check(srv) => self.check_timer(now, srv),
            TimerKey::Agent(srv) => self.agent_timer(now, srv),
            TimerKey::IdlePurge(srv) => self.idle_purge(now, srv),
            TimerKey::Warmup(srv) => self.warmup_timer(now, srv),
            TimerKey::Rhttp(l) => self.rhttp_timer(now, l),
            TimerKey::Resolvers(i) => self.resolvers_task(now, i),
            TimerKey::HardStop => {
                if self.stopping == Some(StopMode::Soft) {
                    self.log(
                        LogLevel::Warning,
                        "hard-stop-after expired: closing the remaining connections.".into(),
                    );
                    self.stop(now, StopMode::Hard);
                }
            }
        }
    }

    /// Purges expired entries of table `t` and re-arms its timer.
    pub(crate) fn table_expire_task(&mut self, now: Time, t: crate::stick_table::TableId) {
        let Some(table) = self.tables.get_mut(t) else {
            return;
        };
        table.purge_expired(now, usize::MAX);
        let next = table.next_expiry().map(|at| at.max(now.add_ms(1)));
        self.timers.arm(TimerKey::TableExpire(t), next);
    }

    /// The one stick-table update entry point: every table changed during
    /// this entry point (its entries touched, released or removed, see
    /// [`StickTable::take_pending`]) gets its expiry timer re-armed and, for
    /// a local change, the peers sections sharing it woken, once. Paths
    /// that update entries only touch them; they cannot forget either
    /// propagation. Runs at the end of every entry point, before the woken
    /// sync tasks.
    pub(crate) fn tables_commit(&mut self) {
        for t in self.tables.ids() {
            let pending = self.tables[t].take_pending();
            if pending.expiry {
                self.table_rearm_expiry(t);
            }
            if pending.sync {
                self.peers_table_changed(t);
            }
        }
    }

    /// Re-arms the expiry timer of table `t` after a change.
    fn table_rearm_expiry(&mut self, t: crate::stick_table::TableId) {
        let next = self.tables.get(t).and_then(|tb| tb.next_expiry());
        let next = next.map(|at| at.max(self.now.add_ms(1)));
        if next != self.timers.deadline(TimerKey::TableExpire(t)) {
            self.timers.arm(TimerKey::TableExpire(t), next);
        }
    }

    fn close_all(&mut self) {
        let all: Vec<SockId> = self
            .socks
            .iter()
            .map(|(i, e)| SockId {
                idx: i as u32,
                gen: e.gen,
            })
            .collect();
        for sock in all {
            match self.owner(sock) {
                Some(SockOwner::Cli { session, .. }) => self.cli_close(session),
                Some(SockOwner::Peer { section, session }) => {
                    self.peer_close(section, session, CloseHow::Graceful)
                }
                Some(SockOwner::Conn(_))
                | Some(SockOwner::Check { .. })
                | Some(SockOwner::Agent(_))
                | None => {}
            }
        }
        self.datapath_hard_stop();
        self.peers_hard_stop();
    }

    // ----------------------------------------------------------------------
    // CLI sessions (the stats socket applet)

    fn cli_accept(
        &mut self,
        now: Time,
        listener: ListenerId,
        level: CliLevel,
        expose_fd: bool,
    ) -> SockId {
        let session = self.clis.vacant_key();
        let sock = self.new_app_sock(App::Cli { session, level }, Origin::Accepted(listener));
        let mut s = CliSession::new();
        s.expose_fd = expose_fd;
        self.clis.insert((sock, s));
        self.set_interest(sock, true, false);
        self.timers.arm(
            TimerKey::Cli(session),
            Some(now.add_ms(self.stats_timeout_ms)),
        );
        sock
    }

    fn cli_recv(&mut self, now: Time, session: usize, level: CliLevel, n: usize) {
        let s = &mut self.clis[session].1;
        if s.state == CliState::Draining {
            // Nothing more is executed: drop the input, close on read0.
            // The timer is not pushed back, so a client that keeps sending
            // is closed at the stats timeout.
            s.rx.reset();
            if n == 0 {
                self.cli_close(session);
            }
            return;
        }
        if n == 0 {
            s.read0 = true;
        } else {
            s.rx.commit(n);
        }
        self.timers.arm(
            TimerKey::Cli(session),
            Some(now.add_ms(self.stats_timeout_ms)),
        );
        self.cli_run(now, session, level);
    }

    /// Executes every complete line waiting in the session's input.
    pub(crate) fn cli_run(&mut self, now: Time, session: usize, level: CliLevel) {
        loop {
            let s = &mut self.clis[session].1;
            if s.state != CliState::Reading {
                break;
            }
            let (line, payload) = match s.take_request() {
                Ok(Some(req)) => req,
                Ok(None) => {
                    if s.read0 {
                        s.state = CliState::Closing;
                    }
                    break;
                }
                Err(cli::LineTooLong) => {
                    s.write_str(cli::LINE_TOO_LONG);
                    s.rx.reset();
                    s.state = CliState::Closing;
                    break;
                }
            };
            self.cli_line(now, session, level, &line, payload.as_deref());
        }
        self.cli_progress(now, session);
    }

    fn cli_line(
        &mut self,
        now: Time,
        session: usize,
        level: CliLevel,
        line: &str,
        payload: Option<&str>,
    ) {
        let commands = cli::split_commands(line).into();
        self.cli_commands(
            now,
            session,
            level,
            commands,
            payload.map(str::to_string),
            false,
        );
    }

    /// Executes the commands of a line, from the first of `commands`
    /// (`quit`: one of the line's earlier commands was `quit`). With
    /// threads, `show stat` and `show info` park the session until the
    /// other threads answer; the rest of the line runs then.
    pub(crate) fn cli_commands(
        &mut self,
        now: Time,
        session: usize,
        level: CliLevel,
        mut commands: VecDeque<Vec<String>>,
        payload: Option<String>,
        mut quit: bool,
    ) {
        let payload_s = payload;
        let payload = payload_s.as_deref();
        while let Some(words) = commands.pop_front() {
            let words = &words;
            if self.opts.nbthread > 1 {
                if let Some(what) = crate::applet::stats_threads::asks_threads(words) {
                    self.stats_ask(session, level, what, commands, payload_s, quit);
                    return;
                }
            }
            match words.first().map_or("", String::as_str) {
                "quit" => quit = true,
                "_getsocks" => {
                    // HAProxy's `_getsocks` (cli.c): on a socket with
                    // `expose-fd listeners`, the listening sockets go out
                    // on this connection, then it closes; elsewhere it
                    // just closes. No text either way: the asking process
                    // reads binary data first.
                    let (sock, s) = &mut self.clis[session];
                    if s.expose_fd {
                        self.actions
                            .push_back(Action::SendListeners { sock: *sock });
                    }
                    s.rx.reset();
                    s.state = CliState::Closing;
                    return;
                }
                "prompt" => {
                    let s = &mut self.clis[session].1;
                    s.interactive = !s.interactive;
                }
                // HAProxy's `experimental-mode [on|off]` (admin level) and
                // the experimental `set var <name> [fmt|expr] <value>`.
                "experimental-mode" | "set"
                    if words[0] != "set" || words.get(1).is_some_and(|w| w == "var") =>
                {
                    let text = self.cli_experimental(session, level, words);
                    let s = &mut self.clis[session].1;
                    s.write_str(&text);
                    if !s.interactive {
                        s.write_str("\n");
                    }
                }
                _ => {
                    let (text, _) = self.cli_execute(now, level, words, payload);
                    // `get var`'s value is HAProxy's `cli_msg(LOG_INFO)`:
                    // no empty line after it (its errors have one).
                    let info = words.len() > 1
                        && words[0] == "get"
                        && words[1] == "var"
                        && text.ends_with(">\n");
                    let s = &mut self.clis[session].1;
                    s.write_str(&text);
                    if !s.interactive && !info {
                        // HAProxy ends every answer with an empty line in
                        // non-interactive mode (tools read up to it).
                        s.write_str("\n");
                    }
                }
            }
        }
        let s = &mut self.clis[session].1;
        // Non-interactive: answer what was already sent, then close (HAProxy
        // closes once its input is empty after an answer).
        if quit || (!s.interactive && s.rx.is_empty()) {
            s.state = CliState::Closing;
        } else if s.interactive {
            s.write_str("\n> ");
        }
    }

    /// `experimental-mode [on|off]` and `set var` (see [`Engine::cli_line`]).
    fn cli_experimental(&mut self, session: usize, level: CliLevel, words: &[String]) -> String {
        if words[0] == "experimental-mode" {
            if level < CliLevel::Admin {
                return "Permission denied\n".into();
            }
            let on = match words.get(1).map(String::as_str) {
                None | Some("on") => true,
                Some("off") => false,
                Some(_) => return "'experimental-mode' only supports 'on' and 'off'.\n".into(),
            };
            self.clis[session].1.experimental = on;
            return String::new();
        }
        if !self.clis[session].1.experimental || level < CliLevel::Admin {
            return "This command is restricted to experimental mode only.\n".into();
        }
        let Some(name) = words.get(2) else {
            return "Missing process-wide variable identifier.\n".into();
        };
        let (fmt, text) = match words.get(3).map(String::as_str) {
            Some("fmt") => (true, words.get(4)),
            Some("expr") => (false, words.get(4)),
            _ => (false, words.get(3)),
        };
        let Some(text) = text else {
            return "Missing either an expression or a format for the variable.\n".into();
        };
        match self.proc_set_var(name, fmt, text) {
            Ok(()) => String::new(),
            Err(e) => format!("{e}\n"),
        }
    }

    /// Flushes or closes a CLI session according to its state.
    fn cli_progress(&mut self, now: Time, session: usize) {
        let Some((sock, s)) = self.clis.get(session) else {
            return;
        };
        let sock = *sock;
        let pending = !s.tx.is_empty();
        let closing = s.state == CliState::Closing;
        if closing && !pending {
            if s.read0 {
                self.cli_close(session);
                return;
            }
            // Everything is said: FIN, then drop whatever the client still
            // sends until it closes, so that the close is no reset.
            let s = &mut self.clis[session].1;
            s.state = CliState::Draining;
            s.rx.reset();
            self.shutdown_write(sock);
            self.timers.arm(
                TimerKey::Cli(session),
                Some(now.add_ms(self.stats_timeout_ms)),
            );
            self.set_interest(sock, true, false);
            return;
        }
        let reading = s.state == CliState::Reading && !s.read0;
        self.set_interest(sock, reading, pending);
    }

    fn cli_close(&mut self, session: usize) {
        if let Some((sock, _)) = self.clis.try_remove(session) {
            self.timers.arm(TimerKey::Cli(session), None);
            self.close_sock(sock, CloseHow::Graceful);
        }
    }
}
