//! Simulated TCP: ordered byte streams between two ends, with latency and
//! jitter, bounded buffers, FIN (half-close), RST and partitions.
//!
//! A connection has two ends (0: connector, 1: acceptor). Each direction is
//! a *pipe*: segments in flight (data, FIN or RST, in order), then the
//! receiver's unread bytes. The sender may write while the pipe holds less
//! than its capacity (the socket buffers of both sides, merged), so a
//! receiver that does not read stops its sender: backpressure.
//!
//! A segment sent across a partition is held (TCP retransmits it) and
//! leaves when the partition heals; segments behind it wait too, so the
//! stream stays ordered. A SYN across a partition is held the same way and
//! dropped if the connector gave up meanwhile.

use std::collections::VecDeque;

use sluice_core::sock::SockId;
use sluice_core::time::Time;

/// Who holds one end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A Sluice process (by world index) and its socket id.
    Proc(usize, SockId),
    /// The adversary.
    Adv,
    /// A simulated client connection of the data-path scenarios (by index).
    Client(u32),
    /// A simulated server connection of the data-path scenarios (by index).
    Server(u32),
    /// Accepted by the kernel into a paused listener's backlog: data is
    /// buffered until the process accepts it.
    Backlog,
}

/// What travels in a pipe.
#[derive(Debug)]
pub enum SegKind {
    Data(Vec<u8>),
    Fin,
    Rst,
}

#[derive(Debug)]
pub struct Segment {
    /// Arrival time; `None` while held by a partition.
    pub at: Option<Time>,
    pub kind: SegKind,
}

/// One end of a connection.
#[derive(Debug, Default)]
pub struct End {
    /// `None` once the owner closed it (or it was reset).
    pub owner: Option<Owner>,
    pub node: usize,
    /// Arrived, not yet read.
    pub rx: VecDeque<u8>,
    /// A FIN arrived (after every byte before it).
    pub rx_fin: bool,
    /// The owner was told (read0).
    pub read0_done: bool,
    /// This end sent its FIN.
    pub tx_shut: bool,
    /// Segments travelling from this end to the other one.
    pub out: VecDeque<Segment>,
    pub out_bytes: usize,
    /// Arrival time of the last scheduled segment (keeps the pipe ordered).
    pub last_at: Time,
    /// The owner's interest (`Action::Interest`).
    pub want_recv: bool,
    pub want_send: bool,
    /// A window update is on its way to this end.
    pub window_pending: bool,
    /// Slow reader: no read before this instant.
    pub next_read: Time,
    /// Slow reader: a wake-up is scheduled.
    pub read_wake_pending: bool,
}

/// Where a connection attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynState {
    /// The SYN is travelling (or held by a partition).
    Sent,
    /// Held by a partition.
    Held,
    /// The acceptor took it; the connector learns it one latency later.
    Accepted,
    /// Both sides know.
    Open,
    /// Refused or abandoned.
    Dead,
}

#[derive(Debug)]
pub struct Conn {
    pub ends: [End; 2],
    /// Pipe capacity, per sending end.
    pub cap: [usize; 2],
    pub syn: SynState,
    /// The address the connector asked for.
    pub dst: core::net::SocketAddr,
    /// The connector's source address (as the acceptor sees it).
    pub src: core::net::SocketAddr,
}

impl Conn {
    /// Bytes the sender `e` may write now.
    pub fn room(&self, e: usize) -> usize {
        let used = self.ends[e].out_bytes + self.ends[1 - e].rx.len();
        self.cap[e].saturating_sub(used)
    }

    /// Whether nothing is left to deliver and nobody holds an end.
    pub fn is_dead(&self) -> bool {
        self.ends
            .iter()
            .all(|e| e.owner.is_none() && e.out.is_empty())
    }

    pub fn nodes(&self) -> (usize, usize) {
        (self.ends[0].node, self.ends[1].node)
    }
}
