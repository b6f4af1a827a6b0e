//! Kernel-side forwarding for TCP tunnels: splice(2) through a pipe, as
//! HAProxy's `raw_sock_to_pipe` / `raw_sock_from_pipe` do.
//!
//! The engine asks for it with `Action::Splice { from, to }` once a
//! direction of a stream is a pure tunnel. From then on the bytes read on
//! `from` go into a pipe and from the pipe to `to`, never to user space;
//! the driver reports each chunk written with `Engine::on_spliced` and the
//! read0 of `from` only once the pipe is empty.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use sluice_core::sock::SockId;

/// Bytes a pipe holds (F_SETPIPE_SZ); larger pipes mean fewer syscalls.
pub const PIPE_SIZE: usize = 512 * 1024;

/// One spliced direction.
#[derive(Debug)]
pub struct Pipe {
    /// The destination socket.
    pub to: SockId,
    rd: OwnedFd,
    wr: OwnedFd,
    /// Bytes in the pipe.
    pub fill: usize,
    /// `from` reached end of stream.
    pub eof: bool,
    /// The read0 was reported to the engine.
    pub eof_reported: bool,
    capacity: usize,
}

fn cvt(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

impl Pipe {
    /// A non-blocking pipe towards `to`.
    pub fn new(to: SockId) -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two fds into the array we own.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both fds were just created and are owned by nobody else.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on an fd we own; a failure leaves the default size.
        let got =
            unsafe { libc::fcntl(wr.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE as libc::c_int) };
        let capacity = if got > 0 { got as usize } else { 65536 };
        Ok(Pipe {
            to,
            rd,
            wr,
            fill: 0,
            eof: false,
            eof_reported: false,
            capacity,
        })
    }

    /// Room left in the pipe.
    pub fn room(&self) -> usize {
        self.capacity - self.fill
    }

    /// Moves bytes from socket `fd` into the pipe. `Ok(0)`: end of stream.
    pub fn fill_from(&mut self, fd: RawFd) -> io::Result<usize> {
        let max = self.room();
        // SAFETY: splice between two fds we hold; no user memory involved.
        let n = cvt(unsafe {
            libc::splice(
                fd,
                std::ptr::null_mut(),
                self.wr.as_raw_fd(),
                std::ptr::null_mut(),
                max,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        })?;
        if n == 0 {
            self.eof = true;
        }
        self.fill += n;
        Ok(n)
    }

    /// Moves bytes from the pipe into socket `fd`.
    pub fn drain_to(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: as above.
        let n = cvt(unsafe {
            libc::splice(
                self.rd.as_raw_fd(),
                std::ptr::null_mut(),
                fd,
                std::ptr::null_mut(),
                self.fill,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        })?;
        self.fill -= n.min(self.fill);
        Ok(n)
    }
}
