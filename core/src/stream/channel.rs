//! Channels: HAProxy's `struct channel` (`include/haproxy/channel-t.h`).
//!
//! A stream has two channels: `req` (client to server) and `res` (server to
//! client). A channel is a buffer plus flags plus a forwarding budget:
//!
//! ```text
//!   buf:  [ output (scheduled to leave, co_data) | input (not analysed yet) ]
//!           ^ head                                                   tail ^
//! ```
//!
//! Bytes enter at the tail when the producer side reads; analysers (or an
//! infinite `to_forward`, as in a TCP tunnel) move them from input to
//! output; the consumer side writes output bytes and removes them from the
//! head.
//!
//! Invariants: `output <= buf.len()`; once `SHUTW` is set nothing more is
//! written; once `SHUTR` is set nothing more is read. The buffer may be
//! null (given back to the pool) only when it holds no data.

use bitflags::bitflags;

use crate::buf::Buffer;
use crate::time::Time;

/// `CHN_INFINITE_FORWARD`: forward everything, forever.
pub const INFINITE_FORWARD: u64 = u64::MAX;

bitflags! {
    /// `CF_*`: facts about one direction of a stream.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct ChnFlags: u32 {
        /// The producer closed its side (`CF_READ_NULL`: read0 seen).
        const READ_NULL = 0x0000_0001;
        /// Some data was read since the last stream processing.
        const READ_PARTIAL = 0x0000_0002;
        /// The producer side timed out.
        const READ_TIMEOUT = 0x0000_0004;
        /// The producer side failed (reset).
        const READ_ERROR = 0x0000_0008;
        /// Reading is over (`CF_SHUTR`).
        const SHUTR = 0x0000_0010;
        /// Some data was written since the last stream processing.
        const WRITE_PARTIAL = 0x0000_0100;
        /// The consumer side timed out.
        const WRITE_TIMEOUT = 0x0000_0200;
        /// The consumer side failed.
        const WRITE_ERROR = 0x0000_0400;
        /// Writing is over: FIN sent (`CF_SHUTW`).
        const SHUTW = 0x0000_1000;
        /// Shut the write side once the output is flushed (`CF_SHUTW_NOW`).
        const SHUTW_NOW = 0x0000_2000;
        /// A read shutdown propagates to a write shutdown on the other
        /// side (`CF_AUTO_CLOSE`).
        const AUTO_CLOSE = 0x0000_4000;
        /// The channel may trigger a connection (`CF_AUTO_CONNECT`).
        const AUTO_CONNECT = 0x0000_8000;
        /// Do not read for now (`CF_DONT_READ`).
        const DONT_READ = 0x0001_0000;
        /// Waiting for a buffer from the pool.
        const WAIT_ROOM_BUF = 0x0002_0000;
        /// Bytes move kernel-side (splice), never through the buffer.
        const SPLICED = 0x0004_0000;
        /// The producer's read timeout does not run (`CF_READ_NOEXP`): a
        /// request waiting for its server, whose timeout decides.
        const READ_NOEXP = 0x0008_0000;
        /// The buffer is full: the producer is not read, and its read
        /// timeout does not run until there is room again
        /// (`SC_FL_NEED_ROOM`).
        const NEED_ROOM = 0x0010_0000;
    }
}

/// One direction of a stream.
#[derive(Debug, Default)]
pub struct Channel {
    pub buf: Buffer,
    /// Bytes at the head scheduled to be sent (`co_data`).
    pub output: usize,
    /// Bytes still allowed to pass without analysis.
    pub to_forward: u64,
    pub flags: ChnFlags,
    /// Bytes that entered the channel (`total`).
    pub total: u64,
    /// Read (producer) inactivity deadline.
    pub rex: Option<Time>,
    /// Write (consumer) inactivity deadline.
    pub wex: Option<Time>,
    /// Deadline of the analyser waiting on this channel (`analyse_exp`):
    /// `timeout http-request` / `http-keep-alive`, absolute, not pushed
    /// back by reads.
    pub analyse_exp: Option<Time>,
    /// Room kept free for head rewrites while the channel is analysed
    /// (`tune.maxrewrite` in HTTP mode, 0 in TCP mode).
    pub reserve: usize,
}

impl Channel {
    pub fn new() -> Channel {
        Channel {
            buf: Buffer::null(),
            ..Default::default()
        }
    }

    /// Bytes not yet scheduled for output (`ci_data`).
    pub fn input(&self) -> usize {
        self.buf.len() - self.output
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forwards `n` more bytes (`channel_forward`): schedules what is
    /// already there, and lets the next `n - present` bytes pass on arrival.
    pub fn forward(&mut self, n: u64) {
        let now = (self.input() as u64).min(n) as usize;
        self.output += now;
        self.to_forward = if n == INFINITE_FORWARD {
            INFINITE_FORWARD
        } else {
            n - now as u64
        };
    }

    /// Account for `n` bytes just read: they become output within the
    /// forwarding budget.
    pub fn received(&mut self, n: usize) {
        self.buf.commit(n);
        self.total += n as u64;
        self.flags |= ChnFlags::READ_PARTIAL;
        let pass = if self.to_forward == INFINITE_FORWARD {
            n
        } else {
            let p = (n as u64).min(self.to_forward);
            self.to_forward -= p;
            p as usize
        };
        self.output += pass;
    }

    /// `n` output bytes were written.
    pub fn sent(&mut self, n: usize) {
        let n = n.min(self.output);
        self.buf.consume(n);
        self.output -= n;
        self.flags |= ChnFlags::WRITE_PARTIAL;
    }

    /// The output bytes, for the consumer's socket.
    pub fn output_bytes(&self) -> &[u8] {
        &self.buf.data()[..self.output]
    }

    /// Whether the producer may read into this channel now (buffer room,
    /// not shut, not paused). A null buffer counts as room: one will be
    /// taken from the pool.
    pub fn may_recv(&self) -> bool {
        !self
            .flags
            .intersects(ChnFlags::SHUTR | ChnFlags::DONT_READ | ChnFlags::WAIT_ROOM_BUF)
            && (self.buf.is_null() || self.recv_room() > 0)
    }

    /// How many bytes the producer may read into the buffer now
    /// (HAProxy's `channel_recv_limit`): [`Channel::reserve`] stays free for
    /// rewrites, unless at least that much is already on its way out
    /// (output plus forwarding budget).
    pub fn recv_room(&self) -> usize {
        let keep = if self.to_forward == INFINITE_FORWARD {
            0
        } else {
            let transit = (self.output as u64).saturating_add(self.to_forward);
            (self.reserve as u64).saturating_sub(transit) as usize
        };
        self.buf.room().saturating_sub(keep)
    }

    /// Whether the read side is closed (`CF_SHUTR`).
    pub fn shutr(&self) -> bool {
        self.flags.contains(ChnFlags::SHUTR)
    }

    /// Whether the write side is closed (`CF_SHUTW`).
    pub fn shutw(&self) -> bool {
        self.flags.contains(ChnFlags::SHUTW)
    }

    pub fn check_invariants(&self) {
        assert!(
            self.output <= self.buf.len(),
            "channel output past its data"
        );
        assert!(!self.buf.is_null() || self.buf.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_budget_splits_input_and_output() {
        let mut c = Channel::new();
        c.buf = Buffer::with_capacity(64);
        c.buf.spare_mut()[..10].copy_from_slice(b"0123456789");
        c.received(10);
        assert_eq!((c.output, c.input()), (0, 10));
        c.forward(4);
        assert_eq!((c.output, c.input(), c.to_forward), (4, 6, 0));
        c.forward(8);
        assert_eq!((c.output, c.to_forward), (10, 2));
        c.buf.spare_mut()[..5].copy_from_slice(b"abcde");
        c.received(5);
        assert_eq!((c.output, c.input(), c.to_forward), (12, 3, 0));
        assert_eq!(c.output_bytes(), b"0123456789ab");
        c.sent(12);
        assert_eq!(c.buf.data(), b"cde");
        c.forward(INFINITE_FORWARD);
        assert_eq!(c.output, 3);
        c.check_invariants();
    }
}
