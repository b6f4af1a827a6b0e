//! `log-forward` and `ring` sections at run time: HAProxy's syslog
//! receivers (`syslog_fd_handler` for UDP, `syslog_io_handler` for TCP) and
//! ring forwarders (`sink_forward_io_handler`).
//!
//! Parsing and re-formatting messages is the core's
//! (`sluice_core::log::syslog`); this module owns the sockets. It runs on
//! threads of its own, apart from the engines' event loops, so that a slow
//! syslog server never holds the traffic up:
//!
//! ```text
//! dgram-bind  --recv-->  forward()  --UDP/UNIX/stdout-->  target
//! bind (TCP)  --frames-->    |      --push-->  Ring  --one thread per server-->  TCP server
//! ```
//!
//! * One thread per `dgram-bind` socket and per `bind` listener; a TCP
//!   sender gets a thread of its own, at most `maxconn` at once (the others
//!   wait in the listen backlog), and is closed after `timeout client`
//!   without a byte.
//! * A ring holds at most `size` bytes of messages, the oldest dropped
//!   first (HAProxy's ring overwrites them). Each `server` line has a
//!   thread that connects (`timeout connect`), sends every message (LF
//!   ended, or octet-counted with `log-proto octet-count`), gives up on a
//!   write stalled for `timeout server`, and reconnects.
//! * `ssl` on a `bind` or a ring `server`: rustls over the blocking socket.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_core::cfgparse::logfwd::{LogForward, LogProto, Ring, RingServer};
use sluice_core::cfgparse::{Config, LogAddr, LogFormat, LogTarget as CfgTarget};
use sluice_core::log::syslog::{self, Frame, WallClock};

/// The largest message a receiver takes (HAProxy: its buffer size).
const MAX_MSG: usize = 16384;

/// Messages kept in a ring, oldest first, each with its sequence number.
struct RingBuf {
    msgs: VecDeque<(u64, Vec<u8>)>,
    bytes: usize,
    next_seq: u64,
    /// Messages dropped before every server had them.
    dropped: u64,
}

/// A `ring` section, shared by its writers and its forwarders.
pub struct RingShared {
    cfg: Ring,
    buf: Mutex<RingBuf>,
    more: Condvar,
}

impl RingShared {
    fn new(cfg: &Ring) -> RingShared {
        RingShared {
            cfg: cfg.clone(),
            buf: Mutex::new(RingBuf {
                msgs: VecDeque::new(),
                bytes: 0,
                next_seq: 0,
                dropped: 0,
            }),
            more: Condvar::new(),
        }
    }

    /// Adds a message, cut to `maxlen`, dropping the oldest ones to make
    /// room; a message larger than the ring is dropped.
    fn push(&self, mut msg: Vec<u8>) {
        msg.truncate(self.cfg.maxlen as usize);
        let size = self.cfg.size as usize;
        let Ok(mut b) = self.buf.lock() else {
            return;
        };
        if msg.len() > size {
            b.dropped += 1;
            return;
        }
        while b.bytes + msg.len() > size {
            match b.msgs.pop_front() {
                Some((_, m)) => {
                    b.bytes -= m.len();
                    b.dropped += 1;
                }
                None => break,
            }
        }
        let seq = b.next_seq;
        b.next_seq += 1;
        b.bytes += msg.len();
        b.msgs.push_back((seq, msg));
        drop(b);
        self.more.notify_all();
    }

    /// The first message from sequence `from` on (the oldest kept if
    /// `from` was dropped), waiting up to `wait` for one.
    fn next(&self, from: u64, wait: Duration) -> Option<(u64, Vec<u8>)> {
        let b = self.buf.lock().ok()?;
        let (b, _) = self
            .more
            .wait_timeout_while(b, wait, |b| b.next_seq <= from)
            .ok()?;
        b.msgs
            .iter()
            .find(|(s, _)| *s >= from)
            .map(|(s, m)| (*s, m.clone()))
    }
}

/// Where a forwarded message goes.
enum Out {
    Stdout,
    Stderr,
    File(Mutex<File>),
    Udp(UdpSocket, SocketAddr),
    UnixDgram(std::os::unix::net::UnixDatagram, std::path::PathBuf),
    Ring(Arc<RingShared>),
}

/// One `log` line of a log-forward section, opened.
struct Target {
    out: Out,
    /// `None`: no `format`, chosen from each message.
    format: Option<LogFormat>,
    facility: u8,
    max: Option<u8>,
    min: Option<u8>,
    len: usize,
    sample: Option<Mutex<(sluice_core::cfgparse::LogSample, u32)>>,
}

/// A log-forward section's targets.
struct Section {
    targets: Vec<Target>,
}

/// The wall clock in local time, for headers that need it.
fn wall_clock() -> WallClock {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (year, month, day, h, mi, s, _) = crate::log::local_time(secs);
    let mut iso = Vec::new();
    crate::log::iso_date(&mut iso, secs, now.subsec_micros());
    WallClock {
        legacy: format!(
            "{} {day:>2} {h:02}:{mi:02}:{s:02}",
            crate::log::MONTHS[month]
        ),
        iso: String::from_utf8_lossy(&iso).into_owned(),
        year,
        month: month as u32,
    }
}

impl Section {
    /// HAProxy's `syslog_process_message` and `process_send_log`: parse,
    /// then send to each target that takes the message's level.
    fn forward(&self, raw: &[u8]) {
        let p = syslog::parse_log_message(raw);
        let msg = syslog::trim_message(p.message);
        let mut clock = None;
        for t in &self.targets {
            if let (Some(l), Some(m)) = (p.level, t.max) {
                if l > m {
                    continue;
                }
            }
            if let Some(s) = &t.sample {
                let Ok(mut s) = s.lock() else { continue };
                let (smp, counter) = &mut *s;
                if !smp.keeps(counter) {
                    continue;
                }
            }
            let level = p.level.unwrap_or(0).max(t.min.unwrap_or(0));
            let facility = p.facility.unwrap_or(t.facility);
            let clock = clock.get_or_insert_with(wall_clock);
            let mut out = Vec::with_capacity(msg.len() + 64);
            let (format, len) = match &t.out {
                Out::Ring(r) => (Some(r.cfg.format), t.len.min(r.cfg.maxlen as usize)),
                _ => (t.format, t.len),
            };
            // A raw ring takes the message alone (HAProxy's `__sink_write`).
            if format != Some(LogFormat::Raw) {
                syslog::build_log_header(&mut out, format, facility, level, &p.meta, clock);
            }
            out.extend_from_slice(msg);
            match &t.out {
                Out::Ring(r) => {
                    out.truncate(len);
                    r.push(out);
                }
                o => {
                    out.truncate(len.saturating_sub(1));
                    out.push(b'\n');
                    let _ = send(o, &out);
                }
            }
        }
    }
}

fn send(o: &Out, buf: &[u8]) -> io::Result<()> {
    match o {
        Out::Stdout => io::stdout().lock().write_all(buf),
        Out::Stderr => io::stderr().lock().write_all(buf),
        Out::File(f) => match f.lock() {
            Ok(mut f) => f.write_all(buf),
            Err(_) => Ok(()),
        },
        Out::Udp(s, dest) => s.send_to(buf, dest).map(|_| ()),
        Out::UnixDgram(s, path) => s.send_to(buf, path).map(|_| ()),
        Out::Ring(r) => {
            r.push(buf.to_vec());
            Ok(())
        }
    }
}

fn resolve(host: &impl std::fmt::Display, port: u16) -> Result<SocketAddr, String> {
    let name = format!("{host}:{port}");
    name.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve '{name}'"))
}

fn open_target(t: &CfgTarget, rings: &[Arc<RingShared>]) -> Result<Target, String> {
    let place = format!("[{}:{}]", t.place.file, t.place.line);
    let out = match &t.addr {
        LogAddr::Stdout => Out::Stdout,
        LogAddr::Stderr => Out::Stderr,
        LogAddr::Ring(name) => Out::Ring(
            rings
                .iter()
                .find(|r| &r.cfg.name == name)
                .cloned()
                .ok_or_else(|| format!("{place} log : no such ring '{name}'"))?,
        ),
        LogAddr::Unix(path) => {
            use std::os::unix::fs::FileTypeExt;
            let is_socket = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket());
            if is_socket {
                let s = std::os::unix::net::UnixDatagram::unbound()
                    .and_then(|s| s.set_nonblocking(true).map(|()| s))
                    .map_err(|e| format!("{place} log {path}: {e}"))?;
                Out::UnixDgram(s, path.into())
            } else {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("{place} cannot open log file {path}: {e}"))?;
                Out::File(Mutex::new(f))
            }
        }
        LogAddr::Inet { tcp: true, .. } => {
            return Err(format!(
            "{place} log to a TCP syslog server (tcp@) is not supported by Sluice yet; use a ring."
        ))
        }
        LogAddr::Inet { host, port, .. } => {
            let dest = resolve(host, *port).map_err(|e| format!("{place} log : {e}"))?;
            let local: SocketAddr = if dest.is_ipv6() {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
            };
            let s = UdpSocket::bind(local)
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .map_err(|e| format!("{place} log : {e}"))?;
            Out::Udp(s, dest)
        }
    };
    Ok(Target {
        out,
        format: t.format_given.then_some(t.format),
        facility: t.facility.0,
        max: t.level.map(|l| l.0),
        min: t.min_level.map(|l| l.0),
        len: t.len.map_or(1024, |l| l as usize),
        sample: t.sample.clone().map(|s| Mutex::new((s, 0))),
    })
}

/// Binds every receiver of `cfg`'s log-forward sections and starts their
/// threads and the ring forwarders'. Called once the engines are bound;
/// the threads live as long as the process.
pub fn start(cfg: &Config) -> Result<(), String> {
    if cfg.log_forwards.is_empty() && cfg.rings.is_empty() {
        return Ok(());
    }
    // ring, as the engines' TLS (see `build_engine`): deprecated only for
    // its lack of post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rings: Vec<Arc<RingShared>> = cfg
        .rings
        .iter()
        .map(|r| Arc::new(RingShared::new(r)))
        .collect();
    let mut spawns: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
    for f in &cfg.log_forwards {
        let targets = f
            .logs
            .iter()
            .map(|t| open_target(t, &rings))
            .collect::<Result<Vec<_>, _>>()?;
        let section = Arc::new(Section { targets });
        for (place, host, port) in &f.dgram_binds {
            let addr = resolve(host, *port)?;
            let sock = udp_bind(addr).map_err(|e| {
                format!(
                    "[{}:{}] log-forward '{}': cannot bind UDP {addr}: {e}",
                    place.file, place.line, f.name
                )
            })?;
            let section = section.clone();
            spawns.push(Box::new(move || udp_receiver(sock, &section)));
        }
        for b in &f.binds {
            let addr = resolve(&b.host, b.port)?;
            let bind_err = |e: String| {
                format!(
                    "[{}:{}] log-forward '{}': bind {addr}: {e}",
                    b.place.file, b.place.line, f.name
                )
            };
            let tls = match b.ssl {
                true => Some(server_tls(&b.crts, &provider).map_err(bind_err)?),
                false => None,
            };
            let l = tcp_listen(addr, f.backlog).map_err(|e| bind_err(e.to_string()))?;
            let (section, fwd) = (section.clone(), f.clone());
            spawns.push(Box::new(move || tcp_receiver(l, &fwd, section, tls)));
        }
    }
    for r in &rings {
        for s in &r.cfg.servers {
            let dest = resolve(&s.host, s.port).map_err(|e| {
                format!(
                    "[{}:{}] ring '{}': {e}",
                    s.place.file, s.place.line, r.cfg.name
                )
            })?;
            let tls = match s.ssl {
                true => Some(client_tls(s, &provider)?),
                false => None,
            };
            let (r, s) = (r.clone(), s.clone());
            spawns.push(Box::new(move || ring_forwarder(&r, &s, dest, tls)));
        }
    }
    for (i, f) in spawns.into_iter().enumerate() {
        std::thread::Builder::new()
            .name(format!("logfwd-{i}"))
            .spawn(f)
            .map_err(|e| format!("log-forward: cannot start a thread: {e}"))?;
    }
    Ok(())
}

fn tcp_listen(addr: SocketAddr, backlog: Option<u32>) -> io::Result<TcpListener> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    s.set_reuse_address(true)?;
    // SO_REUSEPORT, as HAProxy's listeners (`tune.reuseport` is on by
    // default): an old process and its successor bind at once.
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog.map_or(1024, |b| b.min(i32::MAX as u32) as i32))?;
    Ok(s.into())
}

fn udp_bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn udp_receiver(sock: UdpSocket, section: &Section) {
    let mut buf = vec![0u8; MAX_MSG];
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => section.forward(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Counts the TCP senders served, for `maxconn`.
struct Slots {
    used: Mutex<u32>,
    freed: Condvar,
}

fn tcp_receiver(
    l: TcpListener,
    fwd: &LogForward,
    section: Arc<Section>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let slots = Arc::new(Slots {
        used: Mutex::new(0),
        freed: Condvar::new(),
    });
    let max = fwd.maxconn.max(1);
    let timeout = fwd
        .timeout_client_ms
        .map(|ms| Duration::from_millis(u64::from(ms.max(1))));
    loop {
        // Wait for a free slot before accepting: the others queue in the
        // kernel, as HAProxy's listener stops accepting at `maxconn`.
        if let Ok(used) = slots.used.lock() {
            if let Ok(mut used) = slots.freed.wait_while(used, |u| *u >= max) {
                *used += 1;
            }
        }
        let conn = loop {
            match l.accept() {
                Ok((c, _)) => break c,
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        let (section, held, tls) = (section.clone(), slots.clone(), tls.clone());
        let spawned = std::thread::Builder::new()
            .name("logfwd-conn".into())
            .spawn(move || {
                let _ = conn.set_read_timeout(timeout);
                let _ = conn.set_nodelay(true);
                match tls.and_then(|c| rustls::ServerConnection::new(c).ok()) {
                    Some(s) => read_frames(rustls::StreamOwned::new(s, conn), &section),
                    None => read_frames(conn, &section),
                }
                if let Ok(mut used) = held.used.lock() {
                    *used -= 1;
                }
                held.freed.notify_one();
            });
        if spawned.is_err() {
            if let Ok(mut used) = slots.used.lock() {
                *used -= 1;
            }
        }
    }
}

/// Reads RFC 6587 frames until the sender closes, errs, times out or
/// breaks the framing.
fn read_frames(mut r: impl Read, section: &Section) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    loop {
        let mut done = 0;
        loop {
            match syslog::next_frame(&buf[done..], MAX_MSG) {
                Frame::Complete {
                    start,
                    end,
                    consumed,
                } => {
                    section.forward(&buf[done + start..done + end]);
                    done += consumed;
                }
                Frame::Partial => break,
                Frame::Invalid => return,
            }
        }
        buf.drain(..done);
        match r.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// A ring's forwarder to one server: connect, send from where it left,
/// reconnect after a failure.
fn ring_forwarder(
    ring: &RingShared,
    srv: &RingServer,
    dest: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
) {
    let connect_timeout = Duration::from_millis(u64::from(ring.cfg.timeout_connect_ms.max(1)));
    let server_timeout = Duration::from_millis(u64::from(ring.cfg.timeout_server_ms.max(1)));
    let mut next = 0u64;
    loop {
        let Ok(conn) = TcpStream::connect_timeout(&dest, connect_timeout) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let _ = conn.set_write_timeout(Some(server_timeout));
        let _ = conn.set_nodelay(true);
        let res = match &tls {
            Some(c) => {
                let name = srv
                    .sni
                    .clone()
                    .unwrap_or_else(|| srv.host.to_string())
                    .trim_matches(|c| c == '[' || c == ']')
                    .to_string();
                match rustls::pki_types::ServerName::try_from(name)
                    .ok()
                    .and_then(|n| rustls::ClientConnection::new(c.clone(), n).ok())
                {
                    Some(cc) => send_ring(ring, srv, rustls::StreamOwned::new(cc, conn), &mut next),
                    None => return,
                }
            }
            None => send_ring(ring, srv, conn, &mut next),
        };
        let _ = res;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends the ring's messages from `*next` on until a write fails.
fn send_ring(
    ring: &RingShared,
    srv: &RingServer,
    mut w: impl Write,
    next: &mut u64,
) -> io::Result<()> {
    let mut frame = Vec::new();
    loop {
        let Some((seq, msg)) = ring.next(*next, Duration::from_secs(1)) else {
            // Nothing new: flush what TLS holds (a no-op on plain TCP).
            w.flush()?;
            continue;
        };
        frame.clear();
        match srv.log_proto {
            LogProto::Legacy => {
                frame.extend_from_slice(&msg);
                frame.push(b'\n');
            }
            LogProto::OctetCount => {
                frame.extend_from_slice(format!("{} ", msg.len()).as_bytes());
                frame.extend_from_slice(&msg);
            }
        }
        w.write_all(&frame)?;
        w.flush()?;
        *next = seq + 1;
    }
}

/// The TLS settings of a `bind ... ssl crt FILE` line: the first file's
/// certificate chain and key (PEM).
fn server_tls(
    crts: &[String],
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let file = crts.first().ok_or("'ssl' needs a 'crt'")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read certificates of '{file}': {e}"))?;
    if certs.is_empty() {
        return Err(format!("no certificate in '{file}'"));
    }
    let key = PrivateKeyDer::from_pem_file(file)
        .map_err(|e| format!("cannot read the private key of '{file}': {e}"))?;
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("'{file}': {e}"))?;
    Ok(Arc::new(config))
}

/// The TLS settings of a ring's `server ... ssl` line.
fn client_tls(
    s: &RingServer,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let place = format!("[{}:{}] server '{}'", s.place.file, s.place.line, s.name);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{place}: {e}"))?;
    let config = if s.verify_none {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider.clone())))
            .with_no_client_auth()
    } else {
        let file = s.ca_file.as_deref().unwrap_or_default();
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(file)
            .map_err(|e| format!("{place}: ca-file '{file}': {e}"))?
        {
            let c = c.map_err(|e| format!("{place}: ca-file '{file}': {e}"))?;
            roots
                .add(c)
                .map_err(|e| format!("{place}: ca-file '{file}': {e}"))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `verify none`: any certificate is taken; the handshake signatures are
/// still checked, so the peer must hold the key of what it sent.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(size: u32, maxlen: u32) -> RingShared {
        let mut cfg = Ring {
            place: Default::default(),
            name: "r".into(),
            description: None,
            format: LogFormat::Raw,
            maxlen,
            size,
            timeout_connect_ms: 1000,
            timeout_server_ms: 1000,
            servers: Vec::new(),
        };
        cfg.size = size;
        RingShared::new(&cfg)
    }

    #[test]
    fn ring_drops_oldest_and_cuts_to_maxlen() {
        let r = ring(10, 4);
        r.push(b"aaaa".to_vec());
        r.push(b"bbbbbb".to_vec()); // cut to "bbbb"
        r.push(b"cc".to_vec());
        r.push(b"dddd".to_vec()); // 4+4+2+4 > 10: "aaaa" goes
        let z = Duration::ZERO;
        assert_eq!(r.next(0, z), Some((1, b"bbbb".to_vec())));
        assert_eq!(r.next(2, z), Some((2, b"cc".to_vec())));
        assert_eq!(r.next(4, z), None);
        assert_eq!(r.buf.lock().unwrap().dropped, 1);
    }

    #[test]
    fn tcp_frames_reach_the_targets_through_a_ring() {
        let r = Arc::new(ring(1000, 1000));
        let section = Section {
            targets: vec![Target {
                out: Out::Ring(r.clone()),
                format: None,
                facility: 1,
                max: Some(6),
                min: None,
                len: 1024,
                sample: None,
            }],
        };
        let input: &[u8] =
            b"<134>Jan  2 03:04:05 h t[1]: one\n29 <135>Jan  2 03:04:05 h t: two<14>three\r\n";
        read_frames(input, &section);
        // "two" is debug (7), above the target's `info`.
        // A raw ring keeps the message alone.
        assert_eq!(r.next(0, Duration::ZERO).unwrap().1, b"one");
        assert_eq!(r.next(1, Duration::ZERO).unwrap().1, b"three");
        assert_eq!(r.next(2, Duration::ZERO), None);
    }
}
