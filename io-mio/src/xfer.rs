//! Listening sockets passed between processes, as HAProxy 2.6's `-x` and
//! `stats socket ... expose-fd listeners` pass them (`cli.c`'s
//! `_getsocks`, `sock.c`'s `sock_get_old_sockets`).
//!
//! The new process connects to the old one's stats socket and sends
//! `_getsocks\n`. On a socket with `expose-fd listeners`, the old process
//! answers with binary data, no text:
//!
//! ```text
//!   count      a native int: how many descriptors follow (0: nothing follows)
//!   then, per message of at most 253 (SCM_MAX_FD) descriptors:
//!     SCM_RIGHTS  the descriptors
//!     data        per descriptor: ns_len (1 byte) ns_name,
//!                 if_len (1 byte) if_name, 4 zero bytes (the listener
//!                 options before HAProxy 2.3)
//!   the asker acknowledges each message it reads with 4 bytes; the
//!   sender waits for one after each full message of 253.
//! ```
//!
//! The layout is HAProxy's byte for byte, so that a HAProxy 2.6 started
//! with `-x` can take Sluice's sockets and Sluice can take HAProxy's. The
//! sender here is the driver (`Action::SendListeners`), the receiver is
//! `proxy-mio -x PATH` before it binds: each TCP listener adopts the
//! socket bound on its address and interface (io-mio/src/driver.rs
//! `INHERITED`), each UNIX or abstract one the socket bound for its path
//! or name (`INHERITED_UNIX`), the others are closed.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The kernel's `SCM_MAX_FD`, HAProxy's `MAX_SEND_FD`.
pub const MAX_SEND_FD: usize = 253;
/// HAProxy's `IFNAMSIZ` and `MAXPATHLEN`: a descriptor's record is at
/// most `1 + MAXPATHLEN + 1 + IFNAMSIZ + 4` bytes.
const RECORD_MAX: usize = 1 + 4096 + 1 + 16 + 4;

/// One listening socket as it travels: the descriptor and its names.
#[derive(Debug)]
pub struct XferSock {
    pub fd: OwnedFd,
    /// The network namespace (`namespace` on the bind line); Sluice sends
    /// none.
    pub namespace: String,
    /// The interface (`interface` on the bind line).
    pub interface: String,
}

/// Sends `data` with `fds` attached (`SCM_RIGHTS`), all of it.
pub(crate) fn sendmsg_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let bytes = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(bytes as u32) } as usize;
    // u64 words: the control buffer must be aligned for cmsghdr.
    let mut cbuf = vec![0u64; space.div_ceil(8).max(1)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: every pointer in msg (iov, cbuf) stays valid for the call,
    // and the control message is written within cbuf (CMSG_SPACE bytes).
    let r = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = space as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(bytes as u32) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr() as *const u8, libc::CMSG_DATA(cmsg), bytes);
        }
        libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if r as usize != data.len() {
        return Err(io::Error::other("short write"));
    }
    Ok(())
}

/// Receives one message into `buf` (`flags`: `MSG_WAITALL` for the count),
/// with the descriptors attached to it, owned and close-on-exec.
fn recvmsg_fds(sock: RawFd, buf: &mut [u8], flags: i32) -> io::Result<(usize, Vec<OwnedFd>)> {
    // SAFETY: arithmetic.
    let space =
        unsafe { libc::CMSG_SPACE((MAX_SEND_FD * std::mem::size_of::<RawFd>()) as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    loop {
        // SAFETY: as in sendmsg_fds; the kernel writes at most
        // msg_controllen bytes of control data, and each descriptor read
        // from it is new to this process, so owning it is sound.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = space as _;
            let n = libc::recvmsg(sock, &mut msg, flags | libc::MSG_CMSG_CLOEXEC);
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut fds = Vec::new();
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg);
                    let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                    for i in 0..len / std::mem::size_of::<RawFd>() {
                        let fd = std::ptr::read_unaligned((data as *const RawFd).add(i));
                        fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
            return Ok((n as usize, fds));
        }
    }
}

/// The interface a socket is bound to (`SO_BINDTODEVICE`), if any.
pub fn bound_device(fd: RawFd) -> Option<String> {
    let mut name = [0u8; 64];
    let mut len = name.len() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `name`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_mut_ptr() as *mut libc::c_void,
            &mut len,
        )
    };
    if r < 0 {
        return None;
    }
    let name = &name[..(len as usize).min(name.len())];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    (end > 0).then(|| String::from_utf8_lossy(&name[..end]).into_owned())
}

/// The process's listening stream sockets (TCP and UNIX), duplicated
/// (close-on-exec), in descriptor order: what HAProxy marks `FD_EXPORTED`
/// (every listener it bound). Sluice's threads each have their own
/// sockets, so the whole process is looked at rather than one engine's
/// listeners.
pub fn listening_sockets() -> Vec<OwnedFd> {
    let mut out: Vec<OwnedFd> = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return out;
    };
    let mut fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    // Our own duplicates get numbers above the highest one seen.
    let Some(&top) = fds.last() else {
        return out;
    };
    for fd in fds {
        // SAFETY: F_DUPFD_CLOEXEC on any integer either fails or gives a
        // new descriptor of ours (above `top`); the original is left alone.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, top + 1) };
        if dup < 0 {
            continue;
        }
        // SAFETY: `dup` is a descriptor we just created.
        let sock = socket2::Socket::from(unsafe { OwnedFd::from_raw_fd(dup) });
        let listening = sock.is_listener().unwrap_or(false)
            && sock.r#type().ok() == Some(socket2::Type::STREAM)
            && sock
                .local_addr()
                .ok()
                .is_some_and(|a| a.as_socket().is_some() || a.is_unix());
        if listening {
            out.push(OwnedFd::from(sock));
        }
    }
    out
}

/// Puts a descriptor in blocking mode (`blocking`) or back; returns the
/// flags it had.
fn set_blocking(fd: RawFd, blocking: bool) -> io::Result<i32> {
    // SAFETY: fcntl on a descriptor we hold, plain integers.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let new = if blocking {
            flags & !libc::O_NONBLOCK
        } else {
            flags | libc::O_NONBLOCK
        };
        if libc::fcntl(fd, libc::F_SETFL, new) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(flags)
    }
}

fn set_timeout(fd: RawFd, opt: i32, d: Duration) {
    let tv = libc::timeval {
        tv_sec: d.as_secs() as _,
        tv_usec: d.subsec_micros() as _,
    };
    // SAFETY: setsockopt reads a timeval we own.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
}

/// HAProxy's `_getsocks` answer on `conn` (a stats socket connection):
/// the count, then `socks` with their records, 253 a message, waiting for
/// the asker's acknowledgement after each full one. Blocking, bounded by
/// one second per read or write, as HAProxy (which blocks its thread the
/// same way). Nothing is sent when there is no socket.
pub fn send_listeners(conn: RawFd, socks: &[OwnedFd]) -> io::Result<()> {
    if socks.is_empty() {
        return Ok(());
    }
    let old = set_blocking(conn, true)?;
    set_timeout(conn, libc::SO_RCVTIMEO, Duration::from_secs(1));
    set_timeout(conn, libc::SO_SNDTIMEO, Duration::from_secs(1));
    let res = (|| -> io::Result<()> {
        let count = socks.len() as i32;
        sendmsg_fds(conn, &count.to_ne_bytes(), &[])?;
        for chunk in socks.chunks(MAX_SEND_FD) {
            let mut data = Vec::with_capacity(chunk.len() * 6);
            let mut fds = Vec::with_capacity(chunk.len());
            for s in chunk {
                fds.push(s.as_raw_fd());
                data.push(0); // no namespace
                let iface = bound_device(s.as_raw_fd()).unwrap_or_default();
                let iface = &iface.as_bytes()[..iface.len().min(15)];
                data.push(iface.len() as u8);
                data.extend_from_slice(iface);
                data.extend_from_slice(&[0; 4]);
            }
            sendmsg_fds(conn, &data, &fds)?;
            if chunk.len() == MAX_SEND_FD {
                let mut ack = [0u8; 4];
                let (n, _) = recvmsg_fds(conn, &mut ack, 0)?;
                if n == 0 {
                    return Err(io::Error::other("closed before its acknowledgement"));
                }
            }
        }
        Ok(())
    })();
    set_timeout(conn, libc::SO_RCVTIMEO, Duration::ZERO);
    set_timeout(conn, libc::SO_SNDTIMEO, Duration::ZERO);
    // SAFETY: restores the flags read above on the same descriptor.
    unsafe { libc::fcntl(conn, libc::F_SETFL, old) };
    res
}

/// Takes the listening sockets of the process whose stats socket is at
/// `path` (HAProxy's `sock_get_old_sockets`): connects, sends
/// `_getsocks`, reads the count, the descriptors and their records. An
/// empty list when the old process has none; an error (with HAProxy's
/// message) when the socket does not answer, e.g. without `expose-fd
/// listeners`.
pub fn get_old_sockets(path: &str) -> Result<Vec<XferSock>, String> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .map_err(|_| format!("Failed to connect to the old process socket '{path}'"))?;
    ask_listeners(s.as_raw_fd())
}

/// Sends `_getsocks` on `fd`, a connected UNIX socket (a stats socket
/// connection, or the master's end of a worker's socket pair, where
/// HAProxy's master hands `-x sockpair@FD` to the new worker), and reads
/// the answer: the count, the descriptors and their records, each message
/// acknowledged. Reads and writes are bounded by one second.
pub fn ask_listeners(fd: RawFd) -> Result<Vec<XferSock>, String> {
    set_timeout(fd, libc::SO_RCVTIMEO, Duration::from_secs(1));
    set_timeout(fd, libc::SO_SNDTIMEO, Duration::from_secs(1));
    let count_err = || "Failed to get the number of sockets to be transferred !".to_string();
    sendmsg_fds(fd, b"_getsocks\n", &[]).map_err(|_| count_err())?;
    let mut count = [0u8; 4];
    let (n, early) = recvmsg_fds(fd, &mut count, libc::MSG_WAITALL).map_err(|_| count_err())?;
    if n != 4 || !early.is_empty() {
        return Err(count_err());
    }
    let count = i32::from_ne_bytes(count);
    if count <= 0 {
        return Ok(Vec::new());
    }
    let count = count as usize;
    let mut data = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    let mut buf = vec![0u8; MAX_SEND_FD * RECORD_MAX];
    while fds.len() < count {
        let (n, got) = match recvmsg_fds(fd, &mut buf, 0) {
            Ok((0, _)) | Err(_) => break,
            Ok(r) => r,
        };
        // The acknowledgement the sender waits for after 253 descriptors.
        let _ = sendmsg_fds(fd, &(fds.len() as i32).to_ne_bytes(), &[]);
        if got.len() + fds.len() > count {
            return Err("Got to many sockets !".into());
        }
        fds.extend(got);
        data.extend_from_slice(&buf[..n]);
    }
    if fds.len() != count {
        return Err(format!(
            "We didn't get the expected number of sockets (expecting {count} got {})",
            fds.len()
        ));
    }
    let mut out = Vec::with_capacity(count);
    let mut at = 0;
    let inconsistent = || "Inconsistency while transferring sockets".to_string();
    for fd in fds {
        let mut name = || -> Result<String, String> {
            let len = *data.get(at).ok_or_else(inconsistent)? as usize;
            let n = data.get(at + 1..at + 1 + len).ok_or_else(inconsistent)?;
            at += 1 + len;
            Ok(String::from_utf8_lossy(n).into_owned())
        };
        let namespace = name()?;
        let interface = name()?;
        if at + 4 > data.len() {
            return Err(inconsistent());
        }
        at += 4;
        out.push(XferSock {
            fd,
            namespace,
            interface,
        });
    }
    Ok(out)
}

/// `-x PATH`: takes the old process's sockets and offers its listening
/// ones to the listeners about to be bound (each TCP one adopts the one
/// on its address and interface, each UNIX one the one bound for its path
/// or abstract name); the rest are closed once bound. As in
/// HAProxy, a failure is fatal: the caller prints the reason (HAProxy's
/// warning), then the alert, and exits.
pub fn take_over(path: &str) -> Result<(), String> {
    adopt(get_old_sockets(path)?);
    Ok(())
}

/// Offers sockets taken from the previous process (`-x`, or a master's
/// reload) to the listeners about to be bound: each TCP one to the
/// listener on its address and interface, each UNIX or abstract one to
/// the listener on its path or name; what is not a listening stream
/// socket, or lives in another namespace, is closed.
pub fn adopt(socks: Vec<XferSock>) {
    for x in socks {
        let sock = socket2::Socket::from(x.fd);
        let _ = sock.set_cloexec(true);
        let tcp = sock.is_listener().unwrap_or(false)
            && sock.r#type().ok() == Some(socket2::Type::STREAM);
        if !tcp || !x.namespace.is_empty() {
            // Sluice binds in no other namespace: closed.
            continue;
        }
        if let Some(addr) = sock.local_addr().ok().and_then(|a| a.as_socket()) {
            crate::driver::inherit_listener(addr, OwnedFd::from(sock));
            continue;
        }
        let unix = std::os::unix::net::UnixListener::from(OwnedFd::from(sock));
        if let Some(key) = unix
            .local_addr()
            .ok()
            .and_then(|a| crate::driver::unix_key(&a))
        {
            crate::driver::inherit_unix_listener(key, OwnedFd::from(unix));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More sockets than one message holds: two messages (253 + 47), the
    /// sender waiting for the acknowledgement of the first; each arrives
    /// with its address and its record.
    #[test]
    fn sockets_go_in_messages_of_253_with_their_records() {
        let dir = std::env::temp_dir().join(format!("sluice-xfer-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let socks: Vec<std::net::TcpListener> = (0..300)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<_> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut line = [0u8; 10];
            std::io::Read::read_exact(&mut c, &mut line).unwrap();
            assert_eq!(&line, b"_getsocks\n");
            let fds: Vec<OwnedFd> = socks.into_iter().map(OwnedFd::from).collect();
            send_listeners(c.as_raw_fd(), &fds).unwrap();
        });
        let got = get_old_sockets(path.to_str().unwrap()).unwrap();
        server.join().unwrap();
        assert_eq!(got.len(), 300);
        for (x, a) in got.iter().zip(&addrs) {
            let s = socket2::SockRef::from(&x.fd);
            assert_eq!(s.local_addr().unwrap().as_socket(), Some(*a));
            assert_eq!((x.namespace.as_str(), x.interface.as_str()), ("", ""));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A stats socket that closes without a word (no `expose-fd
    /// listeners`): HAProxy's message.
    #[test]
    fn a_silent_close_is_no_count() {
        let dir = std::env::temp_dir().join(format!("sluice-xfer0-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || drop(l.accept().unwrap()));
        let e = get_old_sockets(path.to_str().unwrap()).unwrap_err();
        server.join().unwrap();
        assert_eq!(e, "Failed to get the number of sockets to be transferred !");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
