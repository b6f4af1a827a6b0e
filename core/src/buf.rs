//! Byte buffers: HAProxy's `struct buffer` (`include/haproxy/buf-t.h`).
//!
//! A [`Buffer`] is a fixed-capacity linear byte area with a head (first byte
//! of data) and a tail (one past the last byte). Data is appended at the tail
//! (by a socket read or an encoder) and consumed from the head (by a socket
//! write or a parser). When the free room at the end runs short, the data is
//! moved back to the start ([`Buffer::realign`], HAProxy's `b_slow_realign`),
//! so that a socket read always gets one contiguous slice.
//!
//! Invariants: `head <= tail <= capacity`; the capacity never changes after
//! allocation (it is `tune.bufsize`), so a buffer never grows behind the
//! engine's back.

use core::fmt;

/// A fixed-capacity byte buffer.
#[derive(Clone, Default)]
pub struct Buffer {
    area: Vec<u8>,
    head: usize,
    tail: usize,
}

impl Buffer {
    /// A buffer of `capacity` bytes (HAProxy's `tune.bufsize`).
    pub fn with_capacity(capacity: usize) -> Buffer {
        Buffer {
            area: vec![0; capacity],
            head: 0,
            tail: 0,
        }
    }

    /// A buffer that holds nothing and can hold nothing (HAProxy's `BUF_NULL`).
    pub const fn null() -> Buffer {
        Buffer {
            area: Vec::new(),
            head: 0,
            tail: 0,
        }
    }

    /// Whether this is [`Buffer::null`] (no storage allocated).
    pub fn is_null(&self) -> bool {
        self.area.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.area.len()
    }

    /// Bytes of data held (`b_data`).
    pub fn len(&self) -> usize {
        self.tail - self.head
    }

    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// Room left, counting the room freed by a realign (`b_room`).
    pub fn room(&self) -> usize {
        self.capacity() - self.len()
    }

    pub fn is_full(&self) -> bool {
        self.room() == 0
    }

    /// The data held.
    pub fn data(&self) -> &[u8] {
        &self.area[self.head..self.tail]
    }

    /// The data held, mutably (for in-place rewrites).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.area[self.head..self.tail]
    }

    /// Drops `n` bytes from the head (`b_del`). `n` larger than the data is a bug.
    pub fn consume(&mut self, n: usize) {
        crate::bug_on!(n > self.len(), "consume({n}) with {} bytes", self.len());
        self.head += n.min(self.len());
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
        }
    }

    /// Moves the data to the start of the area (`b_slow_realign`).
    pub fn realign(&mut self) {
        if self.head > 0 {
            self.area.copy_within(self.head..self.tail, 0);
            self.tail -= self.head;
            self.head = 0;
        }
    }

    /// The contiguous free room after the data, realigning first when that
    /// room is smaller than what a realign would give. Write into it, then
    /// call [`Buffer::commit`] with the number of bytes written.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        if self.head > 0 && self.capacity() - self.tail < self.room() {
            self.realign();
        }
        &mut self.area[self.tail..]
    }

    /// Marks `n` bytes written into [`Buffer::spare_mut`] as data (`b_add`).
    pub fn commit(&mut self, n: usize) {
        crate::bug_on!(self.tail + n > self.capacity(), "commit past the end");
        self.tail = (self.tail + n).min(self.capacity());
    }

    /// Appends as much of `bytes` as fits; returns how much was copied.
    pub fn put(&mut self, bytes: &[u8]) -> usize {
        let spare = self.spare_mut();
        let n = bytes.len().min(spare.len());
        spare[..n].copy_from_slice(&bytes[..n]);
        self.commit(n);
        n
    }

    /// Replaces `old_len` bytes of data starting at `offset` with `new`,
    /// moving what follows. `false` (and nothing changed) when the result
    /// does not fit or the range is outside the data.
    pub fn replace_at(&mut self, offset: usize, old_len: usize, new: &[u8]) -> bool {
        if offset == 0 {
            return self.replace_front(old_len, new);
        }
        if offset + old_len > self.len() || self.len() - old_len + new.len() > self.capacity() {
            return false;
        }
        self.realign();
        let rest = self.tail - offset - old_len;
        self.area
            .copy_within(offset + old_len..self.tail, offset + new.len());
        self.area[offset..offset + new.len()].copy_from_slice(new);
        self.tail = offset + new.len() + rest;
        true
    }

    /// Replaces the first `old_len` bytes of data with `new` (an HTTP head
    /// rewrite), moving what follows. `false` (and nothing changed) when
    /// the result does not fit (HAProxy's "rewrite failure" once
    /// `tune.maxrewrite` is used up).
    pub fn replace_front(&mut self, old_len: usize, new: &[u8]) -> bool {
        let old_len = old_len.min(self.len());
        let rest = self.len() - old_len;
        if new.len() + rest > self.capacity() {
            return false;
        }
        if new.len() <= old_len + self.head {
            // Room before the data (or the head shrinks): write in front.
            let start = self.head + old_len - new.len();
            self.area[start..start + new.len()].copy_from_slice(new);
            self.head = start;
        } else {
            self.realign();
            self.area.copy_within(old_len..old_len + rest, new.len());
            self.area[..new.len()].copy_from_slice(new);
            self.tail = new.len() + rest;
        }
        true
    }

    /// Keeps the first `len` bytes of data, drops the rest (`b_sub` from
    /// the tail).
    pub fn truncate(&mut self, len: usize) {
        self.tail = self.head + len.min(self.len());
    }

    /// Drops all data.
    pub fn reset(&mut self) {
        self.head = 0;
        self.tail = 0;
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Buffer({}/{})", self.len(), self.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_consume_realign() {
        let mut b = Buffer::with_capacity(8);
        assert_eq!(b.put(b"abcdef"), 6);
        b.consume(4);
        assert_eq!(b.data(), b"ef");
        assert_eq!(b.room(), 6);
        // Only 2 bytes left at the end, but 6 after a realign: spare realigns.
        assert_eq!(b.spare_mut().len(), 6);
        assert_eq!(b.put(b"ghijklmn"), 6);
        assert_eq!(b.data(), b"efghijkl");
        assert!(b.is_full());
        assert_eq!(b.put(b"x"), 0);
        b.consume(8);
        assert!(b.is_empty());
        assert_eq!(b.spare_mut().len(), 8);
    }

    #[test]
    fn replace_front_grows_and_shrinks_in_place() {
        let mut b = Buffer::with_capacity(24);
        b.put(b"GET / 1\r\nbody");
        assert!(b.replace_front(9, b"GET /longer 1\r\n"));
        assert_eq!(b.data(), b"GET /longer 1\r\nbody".as_slice());
        assert!(
            !b.replace_front(2, b"0123456789abcdef"),
            "too big: unchanged"
        );
        assert_eq!(b.len(), 19);
        assert!(b.replace_front(15, b"x"));
        assert_eq!(b.data(), b"xbody");
        let mut b = Buffer::with_capacity(8);
        b.put(b"abcdefgh");
        b.consume(3);
        assert!(b.replace_front(2, b"123"));
        assert_eq!(b.data(), b"123fgh");
        assert!(b.replace_at(3, 2, b"XYZ"));
        assert_eq!(b.data(), b"123XYZh");
        assert!(!b.replace_at(5, 3, b""), "past the data");
    }

    #[test]
    fn null_buffer_holds_nothing() {
        let mut b = Buffer::null();
        assert!(b.is_null());
        assert_eq!(b.put(b"a"), 0);
        assert_eq!(b.spare_mut().len(), 0);
    }
}
