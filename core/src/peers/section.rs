//! A peers section and its peers: HAProxy's `struct peers`, `struct peer`
//! and `struct shared_table` (`include/haproxy/peers-t.h`), plus one
//! session per connection (HAProxy's peer applet context).
//!
//! State that outlives a connection (acknowledged positions, reconnect and
//! heartbeat timers, resync flags) lives in [`Peer`] and [`SharedTable`];
//! state that belongs to one TCP session (buffers, the current table in each
//! direction, the dictionary caches) lives in [`PeerSession`], which is
//! dropped when the connection ends.
//!
//! Session lifecycle (`peer_io_handler`'s `st0`):
//!
//! ```text
//!  connector:  Connecting --tcp ok, hello sent--> WaitStatus --200--> Established
//!                 |  \--refused/timeout: retry up to 3 times, 1 s apart
//!                 +--non-200--> (closed)
//!  acceptor:   WaitHello --valid hello, 200 sent--> Established
//!                 \--bad hello: status sent--> Closing --flushed--> (closed)
//!  Established --error / collision / dead peer / stop--> Closing or closed
//! ```

use core::fmt;
use core::net::SocketAddr;

use bitflags::bitflags;
use slab::Slab;

use super::{DictRxCache, DictTxCache, StatusCode, UpdateLayout, Version};
use crate::buf::Buffer;
use crate::sock::{ListenerId, SockId};
use crate::time::Time;

/// `PEER_HEARTBEAT_TIMEOUT`: a HEARTBEAT on an idle session every 3 s.
pub const HEARTBEAT_TIMEOUT_MS: u64 = 3000;
/// `PEER_RECONNECT_TIMEOUT`: liveness period and spacing of outgoing attempts.
pub const RECONNECT_TIMEOUT_MS: u64 = 5000;
/// `PEER_RESYNC_TIMEOUT`: local phase, remote phase, partial answers.
pub const RESYNC_TIMEOUT_MS: u64 = 5000;
/// Connect timeout of the internal peers proxy.
pub const CONNECT_TIMEOUT_MS: u64 = 1000;
/// TCP-level retries of one outgoing attempt, 1 s apart.
pub const CONNECT_RETRIES: u8 = 3;
/// Client/server inactivity timeouts of the internal peers proxy: a
/// handshake that does not complete, or output that does not drain.
pub const SESSION_TIMEOUT_MS: u64 = 5000;
/// While stopping, the old process retries its local connection this often.
pub const LOCAL_RETRY_MS: u64 = 500;
/// `tune.peers.max-updates-at-once`.
pub const DEFAULT_MAX_UPDATES_AT_ONCE: usize = 200;
/// Output is produced while less than this many bytes wait to be sent.
pub const TX_HIGH_WATER: usize = 16384;

bitflags! {
    /// `PEERS_F_*`: the section's resync state.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PeersFlags: u32 {
        /// The local phase is over (`PEERS_F_RESYNC_LOCAL`).
        const RESYNC_LOCAL = 0x0000_0001;
        /// The remote phase is over (`PEERS_F_RESYNC_REMOTE`).
        const RESYNC_REMOTE = 0x0000_0002;
        /// A peer is assigned as teacher (`PEERS_F_RESYNC_ASSIGN`).
        const RESYNC_ASSIGN = 0x0000_0004;
        /// The lesson was requested (`PEERS_F_RESYNC_PROCESS`).
        const RESYNC_PROCESS = 0x0000_0008;
        /// The local phase ended on its timeout.
        const RESYNC_LOCALTIMEOUT = 0x0000_0010;
        /// The remote phase ended on its timeout.
        const RESYNC_REMOTETIMEOUT = 0x0000_0020;
        /// Stopping: keep the process alive to teach the new one.
        const DONOTSTOP = 0x0001_0000;
    }
}

impl PeersFlags {
    /// Both phases over: this process is fully synced.
    pub fn synced(self) -> bool {
        self.contains(PeersFlags::RESYNC_LOCAL | PeersFlags::RESYNC_REMOTE)
    }

    /// `PEERS_RESYNC_FROMLOCAL`: waiting for an old local process.
    pub fn from_local(self) -> bool {
        !self.contains(PeersFlags::RESYNC_LOCAL)
    }

    /// `PEERS_RESYNC_FROMREMOTE`: local phase over, remote phase not.
    pub fn from_remote(self) -> bool {
        self.contains(PeersFlags::RESYNC_LOCAL) && !self.contains(PeersFlags::RESYNC_REMOTE)
    }
}

bitflags! {
    /// `PEER_F_*`: one peer's teach/learn state.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PeerFlags: u32 {
        /// Teaching this peer (after its RESYNC_REQUEST, or an old process
        /// teaching the new one).
        const TEACH_PROCESS = 0x0000_0001;
        /// The teach ended: FINISHED/PARTIAL sent, waiting for CONFIRM.
        const TEACH_FINISHED = 0x0000_0008;
        /// The stopping process got its CONFIRM from the new one.
        const TEACH_COMPLETE = 0x0000_0010;
        /// This peer is our teacher.
        const LEARN_ASSIGN = 0x0000_0100;
        /// This peer answered PARTIAL: do not ask it again.
        const LEARN_NOTUP2DATE = 0x0000_0200;
        /// Announce 2.0 in our hellos (the peer answered 502).
        const DWNGRD = 0x8000_0000;
        /// A message arrived since the last liveness check.
        const ALIVE = 0x2000_0000;
        /// Send a HEARTBEAT at the next send pass.
        const HEARTBEAT = 0x4000_0000;
    }
}

impl PeerFlags {
    /// The bits HAProxy clears with `PEER_TEACH_RESET` (a new session, a
    /// CONFIRM). `TEACH_COMPLETE` survives: the stopping process reads it
    /// after the session ended.
    pub const TEACH_RESET: PeerFlags = PeerFlags::TEACH_PROCESS.union(PeerFlags::TEACH_FINISHED);
    /// `PEER_LEARN_RESET`.
    pub const LEARN_RESET: PeerFlags = PeerFlags::LEARN_ASSIGN.union(PeerFlags::LEARN_NOTUP2DATE);
}

bitflags! {
    /// `SHTABLE_F_*`: teaching progress for one table.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct ShTableFlags: u32 {
        const TEACH_STAGE1 = 0x1;
        const TEACH_STAGE2 = 0x2;
    }
}

/// One table as shared with one peer (`struct shared_table`).
#[derive(Clone, Debug)]
pub struct SharedTable {
    /// Index of the table in the engine.
    pub table: crate::stick_table::TableId,
    /// Our id for the table, sent in our definitions.
    pub local_id: u32,
    /// The peer's id for the table, from its last accepted definition (0: none).
    pub remote_id: u64,
    /// The data types of the peer's definition.
    pub remote_data: u64,
    /// How to read the peer's updates of this table.
    pub remote_layout: Option<UpdateLayout>,
    /// rx: last update id we acked.
    pub last_acked: u32,
    /// tx: last update id pushed on the current session.
    pub last_pushed: u32,
    /// rx: last update id received.
    pub last_get: u32,
    /// tx: snapshot of `update` when a teach starts.
    pub teaching_origin: u32,
    /// tx: last update id the peer acknowledged. Kept across sessions.
    pub update: u32,
    pub flags: ShTableFlags,
}

impl SharedTable {
    pub fn new(table: crate::stick_table::TableId, local_id: u32) -> SharedTable {
        SharedTable {
            table,
            local_id,
            remote_id: 0,
            remote_data: 0,
            remote_layout: None,
            last_acked: 0,
            last_pushed: 0,
            last_get: 0,
            teaching_origin: 0,
            update: 0,
            flags: ShTableFlags::empty(),
        }
    }
}

/// One member of a peers section (`struct peer`).
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: String,
    pub addr: SocketAddr,
    /// The local peer: ourselves (or our old/new process during a reload).
    pub local: bool,
    /// The last status of a session with this peer (`statuscode`); 0 = none.
    pub status: StatusCode,
    /// When a new outgoing attempt is allowed / the liveness deadline.
    pub reconnect: Option<Time>,
    /// When the next HEARTBEAT is due.
    pub heartbeat: Option<Time>,
    pub flags: PeerFlags,
    /// CONFIRMs to send (one per FINISHED/PARTIAL received).
    pub confirm: u32,
    /// The current session, by slot in the section's session slab.
    pub session: Option<usize>,
    /// One per shared table, in the section's table order.
    pub tables: Vec<SharedTable>,
    pub last_hdshk: Option<Time>,
    // Counters shown by `show peers`.
    pub new_conn: u32,
    pub proto_err: u32,
    pub coll: u32,
    pub tx_hbt: u32,
    pub rx_hbt: u32,
    pub no_hbt: u32,
    /// Updates pushed again although the peer had acknowledged them (only
    /// a bug does that; the simulator checks it stays 0).
    pub dup_push: u64,
}

impl Peer {
    pub fn new(
        name: String,
        addr: SocketAddr,
        local: bool,
        tables: &[crate::stick_table::TableId],
    ) -> Peer {
        Peer {
            name,
            addr,
            local,
            status: StatusCode(0),
            reconnect: None,
            heartbeat: None,
            flags: PeerFlags::empty(),
            confirm: 0,
            session: None,
            tables: tables
                .iter()
                .enumerate()
                .map(|(i, &t)| SharedTable::new(t, i as u32 + 1))
                .collect(),
            last_hdshk: None,
            new_conn: 0,
            proto_err: 0,
            coll: 0,
            tx_hbt: 0,
            rx_hbt: 0,
            no_hbt: 0,
            dup_push: 0,
        }
    }
}

/// Who opened the TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Connector,
    Acceptor,
}

/// Where a session stands (`appctx->st0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessState {
    /// Connector: TCP connect in progress.
    Connecting,
    /// Connector: between TCP retries.
    RetryWait,
    /// Connector: hello sent, waiting for the status line.
    WaitStatus,
    /// Acceptor: reading the hello lines.
    WaitHello,
    /// Binary messages both ways.
    Established,
    /// Flushing the last bytes (a status line, an error message), then close.
    Closing,
}

impl SessState {
    fn name(self) -> &'static str {
        match self {
            SessState::Connecting | SessState::RetryWait => "CON",
            SessState::WaitStatus => "GETSTATUS",
            SessState::WaitHello => "ACCEPT",
            SessState::Established => "EST",
            SessState::Closing => "END",
        }
    }
}

/// One TCP session with a peer (HAProxy's peer applet context).
#[derive(Debug)]
pub struct PeerSession {
    pub sock: SockId,
    pub role: Role,
    pub state: SessState,
    /// The peer, once known (connector: from the start; acceptor: after the hello).
    pub peer: Option<usize>,
    pub rx: Buffer,
    /// Output, and how much of it was already written.
    pub tx: Vec<u8>,
    pub tx_sent: usize,
    /// The version announced by the remote side (acceptor) or by us (connector).
    pub version: Version,
    /// rx: the table selected by the peer's last definition/switch.
    pub remote_table: Option<usize>,
    /// tx: the table of our last definition.
    pub last_local_table: Option<usize>,
    pub dict_tx: DictTxCache,
    pub dict_rx: DictRxCache,
    /// The session's own deadline (connect, handshake, output stall).
    pub deadline: Option<Time>,
    pub connect_retries_left: u8,
    /// The remote side shut its write side.
    pub read0: bool,
    /// Acceptor: the remote address, for log lines.
    pub from: Option<SocketAddr>,
    /// Kinds of ignored input already logged on this session (one log line
    /// per kind and session, so that a chatty peer cannot flood the log).
    pub ignored_logged: IgnoredKinds,
}

bitflags! {
    /// Input a 2.6 peer ignores without closing (PROTOCOL §5.3, §8.1,
    /// §8.3, §8.6), logged once per session and kind.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct IgnoredKinds: u8 {
        /// A message of an unknown class or type.
        const UNKNOWN = 0x01;
        /// An error message (class 1) sent by the peer.
        const ERROR = 0x02;
        /// An update while no table of ours is current.
        const NO_TABLE = 0x04;
        /// A definition of a table we do not share with this peer, or with
        /// another key.
        const DEFINITION = 0x08;
        /// An ack for a table id we never announced.
        const ACK_TABLE = 0x10;
        /// An ack for an update id we never sent on this session.
        const ACK_UPDATE = 0x20;
    }
}

impl PeerSession {
    pub fn new(sock: SockId, role: Role, peer: Option<usize>, rx_capacity: usize) -> PeerSession {
        PeerSession {
            sock,
            role,
            state: if role == Role::Connector {
                SessState::Connecting
            } else {
                SessState::WaitHello
            },
            peer,
            rx: Buffer::with_capacity(rx_capacity),
            tx: Vec::new(),
            tx_sent: 0,
            version: Version::V2_1,
            remote_table: None,
            last_local_table: None,
            dict_tx: DictTxCache::new(),
            dict_rx: DictRxCache::new(),
            deadline: None,
            connect_retries_left: CONNECT_RETRIES,
            read0: false,
            from: None,
            ignored_logged: IgnoredKinds::empty(),
        }
    }

    /// Bytes waiting to be written.
    pub fn tx_pending(&self) -> &[u8] {
        &self.tx[self.tx_sent..]
    }

    /// Whether more output may be produced now.
    pub fn tx_has_room(&self) -> bool {
        self.tx.len() - self.tx_sent < TX_HIGH_WATER
    }

    /// Marks `n` bytes written; compacts the output once it is all out.
    pub fn sent(&mut self, n: usize) {
        self.tx_sent = (self.tx_sent + n).min(self.tx.len());
        if self.tx_sent == self.tx.len() {
            self.tx.clear();
            self.tx_sent = 0;
        } else if self.tx_sent > TX_HIGH_WATER {
            self.tx.drain(..self.tx_sent);
            self.tx_sent = 0;
        }
    }
}

/// The historic bug switched on, if any: empty (and zero-sized) without
/// the `mutants` feature, so that passing it around costs nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs(#[cfg(feature = "mutants")] pub Option<crate::mutants::Mutant>);

impl Bugs {
    /// Whether historic bug `m` is switched on.
    #[cfg(feature = "mutants")]
    pub fn has(self, m: crate::mutants::Mutant) -> bool {
        self.0 == Some(m)
    }
}

/// A `peers` section (`struct peers`).
#[derive(Debug)]
pub struct PeersSection {
    pub name: String,
    /// Index of the local peer in `peers`.
    pub local: usize,
    pub peers: Vec<Peer>,
    /// Engine indexes of the tables shared through this section; the local
    /// id of `tables[i]` is `i + 1`.
    pub tables: Vec<crate::stick_table::TableId>,
    pub flags: PeersFlags,
    /// The resync timer (local phase, remote phase).
    pub resync_timeout: Option<Time>,
    pub listener: Option<ListenerId>,
    pub sessions: Slab<PeerSession>,
    pub max_updates_at_once: usize,
    /// Largest message body accepted (`tune.bufsize`).
    pub max_body_len: usize,
    /// How many times the sync task ran.
    pub task_calls: u64,
    /// While stopping: when the old process gives up teaching the new one.
    pub stop_deadline: Option<Time>,
    /// The sync task was woken and must run before the entry point returns.
    pub woken: bool,
    /// The historic bug switched on for this engine (simulator only).
    pub bugs: Bugs,
}

impl PeersSection {
    /// The peer named `name`.
    pub fn find_peer(&self, name: &[u8]) -> Option<usize> {
        self.peers.iter().position(|p| p.name.as_bytes() == name)
    }

    /// The local peer.
    pub fn local_peer(&self) -> &Peer {
        &self.peers[self.local]
    }
}

/// HAProxy's `statuscode_str` for `show peers`.
pub fn status_name(code: StatusCode) -> &'static str {
    match code.0 {
        100 => "CONN",
        110 => "HSHK",
        200 => "ESTA",
        300 => "RETR",
        501 => "PROTO",
        502 => "VERS",
        503 => "NAME",
        504 => "UNKN",
        _ => "NONE",
    }
}

/// A delay as `show peers` prints it: `<NEVER>`, `<PAST>` or a rounded duration.
#[derive(Debug)]
pub struct Delay(pub Option<Time>, pub Time);

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("<NEVER>"),
            Some(t) if t <= self.1 => f.write_str("<PAST>"),
            Some(t) => human_ms(f, t - self.1),
        }
    }
}

/// HAProxy's `human_time`: the largest unit that fits, like `13s` or `2m`.
pub fn human_ms(f: &mut fmt::Formatter<'_>, ms: u64) -> fmt::Result {
    let s = ms / 1000;
    if s < 60 {
        write!(f, "{s}s")
    } else if s < 3600 {
        write!(f, "{}m{}s", s / 60, s % 60)
    } else if s < 86400 {
        write!(f, "{}h{}m", s / 3600, (s % 3600) / 60)
    } else {
        write!(f, "{}d{}h", s / 86400, (s % 86400) / 3600)
    }
}

impl PeerSession {
    /// `state=` in `show peers`.
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }
}
