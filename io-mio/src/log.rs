//! Where log lines go: HAProxy's `log` targets (`log.c`, `__send_log`).
//!
//! Each target has its transport (`stdout`, `stderr`, a UDP syslog server,
//! a UNIX datagram socket such as `/dev/log`, or a plain file, which is
//! Sluice's own), its format (`rfc3164`, `rfc5424`, `local`, `priority`,
//! `short`, `timed`, `iso`, `raw`, with the headers HAProxy 2.6 writes),
//! its facility, its level filter and cap (`log ... local0 notice err`), and
//! its length limit (`len`, 1024 by default, the header included). A line
//! goes to the targets of the proxy that emitted it (a frontend's for
//! traffic, a backend's for server state changes; `log global` stands for
//! the global targets), or to the global targets.
//!
//! Sending never blocks: UDP and UNIX datagrams are sent on non-blocking
//! sockets, and a datagram the kernel cannot take is dropped and counted,
//! as HAProxy does (`dropped` in `show info` there).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_core::cfgparse::{
    Config, LogAddr, LogFormat, LogSample, LogTarget as CfgTarget, ProxyLog,
};
use sluice_core::sock::{LogLevel, LogLine};

/// A transport for log lines.
pub enum LogTarget {
    Stdout,
    Stderr,
    File(File),
    Udp(UdpSocket, SocketAddr),
    UnixDgram(UnixDatagram, PathBuf),
}

/// One `log` line of the configuration, opened.
pub struct Sink {
    out: LogTarget,
    format: LogFormat,
    facility: u8,
    /// Lines less important than this are not sent.
    max: Option<u8>,
    /// Lines more important than this are sent at this level.
    min: Option<u8>,
    /// The longest message, header included.
    len: usize,
    /// `sample`: which lines go, and the count of lines offered so far.
    sample: Option<(LogSample, u32)>,
}

/// The process's log sink: traffic and event logs from the engine, plus the
/// driver's own alerts. Alerts and warnings always reach stderr, as
/// HAProxy's do in foreground mode.
pub struct LogSink {
    sinks: Vec<Sink>,
    /// The global section's targets.
    global: Vec<usize>,
    /// Each proxy's targets, by name.
    proxies: HashMap<String, Vec<usize>>,
    /// Suppress the driver's own notices (`-q`).
    pub quiet: bool,
    /// The syslog tag (`log-tag`; by default the program's name).
    tag: String,
    /// `log-send-hostname`: the host name in `rfc3164` and `rfc5424`
    /// headers (HAProxy 2.6 writes `localhost` and `-` without it).
    hostname: Option<String>,
    pid: u32,
    /// Datagrams the kernel refused (full buffers, no receiver).
    pub dropped: u64,
    buf: Vec<u8>,
}

fn level_num(l: LogLevel) -> u8 {
    match l {
        LogLevel::Emerg => 0,
        LogLevel::Alert => 1,
        LogLevel::Crit => 2,
        LogLevel::Err => 3,
        LogLevel::Warning => 4,
        LogLevel::Notice => 5,
        LogLevel::Info => 6,
        LogLevel::Debug => 7,
    }
}

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The local time of `now`: (year, month 0-11, day, hour, minute, second,
/// offset from UTC in seconds).
pub(crate) fn local_time(secs: i64) -> (i32, usize, u32, u32, u32, u32, i64) {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: `tm` is plain data filled by `localtime_r`, which reads `t`
    // and writes only `tm`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return (1970, 0, 1, 0, 0, 0, 0);
    }
    (
        tm.tm_year + 1900,
        tm.tm_mon.clamp(0, 11) as usize,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec as u32,
        tm.tm_gmtoff,
    )
}

/// `2026-12-05T18:52:12.656267+00:00`, as HAProxy writes ISO dates.
pub(crate) fn iso_date(out: &mut Vec<u8>, secs: i64, micros: u32) {
    let (y, mo, d, h, mi, s, off) = local_time(secs);
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs();
    let _ = write!(
        out,
        "{y:04}-{:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}{sign}{:02}:{:02}",
        mo + 1,
        off / 3600,
        (off / 60) % 60
    );
}

impl LogSink {
    /// No target yet; `tag` is the syslog tag.
    pub fn new(quiet: bool) -> LogSink {
        LogSink {
            sinks: Vec::new(),
            global: Vec::new(),
            proxies: HashMap::new(),
            quiet,
            tag: "proxy-mio".into(),
            hostname: None,
            pid: std::process::id(),
            dropped: 0,
            buf: Vec::with_capacity(1024),
        }
    }

    /// A global target on stderr in the `raw` format (tests, `-d`).
    pub fn add_stderr(&mut self) {
        self.push_global(LogTarget::Stderr, LogFormat::Raw);
    }

    /// A global target on stdout in the `raw` format.
    pub fn add_stdout(&mut self) {
        self.push_global(LogTarget::Stdout, LogFormat::Raw);
    }

    fn push_global(&mut self, out: LogTarget, format: LogFormat) {
        self.sinks.push(Sink {
            out,
            format,
            facility: 16,
            max: None,
            min: None,
            len: 1024,
            sample: None,
        });
        self.global.push(self.sinks.len() - 1);
    }

    /// Opens every `log` target of `cfg`: the global section's, and each
    /// proxy's own (`log global` in a proxy stands for the global ones).
    /// `tag` is the default syslog tag (the program's name), `hostname`
    /// the host's name for `log-send-hostname`.
    pub fn configure(&mut self, cfg: &Config, tag: &str, hostname: &str) -> Result<(), String> {
        self.tag = cfg
            .global
            .log_tag
            .clone()
            .unwrap_or_else(|| tag.to_string());
        self.hostname = cfg
            .global
            .log_send_hostname
            .as_ref()
            .map(|h| h.clone().unwrap_or_else(|| hostname.to_string()));
        let mut sampled = Vec::new();
        for t in &cfg.global.logs {
            let i = self.open(t)?;
            self.global.push(i);
            if t.sample.is_some() {
                sampled.push((i, t));
            }
        }
        for p in &cfg.proxies {
            let mut list = Vec::new();
            for l in &p.logs {
                match l {
                    ProxyLog::Global(_) => {
                        for i in self.global.clone() {
                            // A sampled target counts the lines of each
                            // proxy apart: HAProxy copies the global
                            // loggers into the proxy (`log global`).
                            match sampled.iter().find(|(j, _)| *j == i) {
                                Some((_, t)) => list.push(self.open(t)?),
                                None => list.push(i),
                            }
                        }
                    }
                    ProxyLog::Target(t) => list.push(self.open(t)?),
                }
            }
            self.proxies.insert(p.name.clone(), list);
        }
        Ok(())
    }

    fn open(&mut self, t: &CfgTarget) -> Result<usize, String> {
        let place = format!("[{}:{}]", t.place.file, t.place.line);
        let out = match &t.addr {
            LogAddr::Stdout => LogTarget::Stdout,
            LogAddr::Stderr => LogTarget::Stderr,
            LogAddr::Unix(path) => {
                let is_socket = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket());
                if is_socket {
                    let s = UnixDatagram::unbound()
                        .and_then(|s| s.set_nonblocking(true).map(|()| s))
                        .map_err(|e| format!("{place} log {path}: {e}"))?;
                    LogTarget::UnixDgram(s, PathBuf::from(path))
                } else {
                    let f = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| format!("{place} cannot open log file {path}: {e}"))?;
                    LogTarget::File(f)
                }
            }
            LogAddr::Ring(name) => {
                return Err(format!(
                    "{place} log ring@{name}: rings are written to from log-forward sections only."
                ))
            }
            LogAddr::Inet { tcp: true, .. } => {
                return Err(format!(
                    "{place} log to a TCP syslog server (tcp@) is not supported by Sluice yet."
                ))
            }
            LogAddr::Inet { host, port, .. } => {
                let name = format!("{host}:{port}");
                let dest = name
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| format!("{place} log : cannot resolve '{name}'"))?;
                let local: SocketAddr = if dest.is_ipv6() {
                    "[::]:0".parse().expect("address")
                } else {
                    "0.0.0.0:0".parse().expect("address")
                };
                let s = UdpSocket::bind(local)
                    .and_then(|s| s.set_nonblocking(true).map(|()| s))
                    .map_err(|e| format!("{place} log {name}: {e}"))?;
                LogTarget::Udp(s, dest)
            }
        };
        // Without `format`, HAProxy 2.6 builds the header from what it
        // knows (`LOG_FORMAT_UNSPEC`): rfc3164 with a host name
        // (`log-send-hostname`), else the `local` form without one.
        let format = match (t.format_given, &self.hostname) {
            (true, _) | (false, Some(_)) => t.format,
            (false, None) => LogFormat::Local,
        };
        self.sinks.push(Sink {
            out,
            format,
            facility: t.facility.0,
            max: t.level.map(|l| l.0),
            min: t.min_level.map(|l| l.0),
            len: t.len.map_or(1024, |l| l as usize),
            sample: t.sample.clone().map(|s| (s, 0)),
        });
        Ok(self.sinks.len() - 1)
    }

    /// Writes one engine log line to the targets of the proxy named
    /// `proxy` (the global ones when `None`); alerts and warnings also reach
    /// stderr when no target there took them.
    pub fn write(&mut self, line: &LogLine, proxy: Option<&str>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let targets = match proxy {
            Some(p) => self.proxies.get(p).cloned().unwrap_or_default(),
            None => self.global.clone(),
        };
        let level = level_num(line.level);
        let mut on_stderr = false;
        for i in targets {
            let Some(sink) = self.sinks.get(i) else {
                continue;
            };
            if sink.max.is_some_and(|m| level > m) {
                continue;
            }
            if let Some((smp, counter)) = self.sinks[i].sample.as_mut() {
                if !smp.keeps(counter) {
                    continue;
                }
            }
            let sink = &self.sinks[i];
            let level = sink.min.map_or(level, |m| level.max(m));
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            self.header(
                &mut buf,
                sink,
                level,
                now.as_secs() as i64,
                now.subsec_micros(),
            );
            buf.extend_from_slice(line.text.as_bytes());
            // `len` counts the header; the line ends with a newline.
            if buf.len() >= sink.len {
                let mut cut = sink.len.saturating_sub(1);
                while cut > 0 && !is_char_boundary(&buf, cut) {
                    cut -= 1;
                }
                buf.truncate(cut);
            }
            buf.push(b'\n');
            let sink = &mut self.sinks[i];
            let res = match &mut sink.out {
                LogTarget::Stdout => io::stdout().lock().write_all(&buf),
                LogTarget::Stderr => {
                    on_stderr = true;
                    io::stderr().lock().write_all(&buf)
                }
                LogTarget::File(f) => f.write_all(&buf),
                LogTarget::Udp(s, dest) => s.send_to(&buf, *dest).map(|_| ()),
                LogTarget::UnixDgram(s, path) => s.send_to(&buf, &*path).map(|_| ()),
            };
            if res.is_err() {
                self.dropped += 1;
            }
            self.buf = buf;
        }
        if !on_stderr && line.level <= LogLevel::Warning && !self.quiet {
            let tag = if line.level <= LogLevel::Alert {
                "ALERT"
            } else {
                "WARNING"
            };
            let _ = writeln!(io::stderr().lock(), "[{tag}] {}", line.text);
        }
    }

    /// The header HAProxy 2.6 writes in front of a message in `sink`'s
    /// format.
    fn header(&self, out: &mut Vec<u8>, sink: &Sink, level: u8, secs: i64, micros: u32) {
        let pri = u32::from(sink.facility) * 8 + u32::from(level);
        match sink.format {
            LogFormat::Raw => {}
            LogFormat::Short => {
                let _ = write!(out, "<{level}>");
            }
            LogFormat::Priority => {
                let _ = write!(out, "<{pri}>");
            }
            LogFormat::Iso => {
                iso_date(out, secs, micros);
                out.push(b' ');
            }
            LogFormat::Timed => {
                let _ = write!(out, "<{level}>");
                iso_date(out, secs, micros);
                out.push(b' ');
            }
            LogFormat::Rfc3164 | LogFormat::Local => {
                let (_, mo, d, h, mi, s, _) = local_time(secs);
                let _ = write!(out, "<{pri}>{} {d:>2} {h:02}:{mi:02}:{s:02} ", MONTHS[mo]);
                if sink.format == LogFormat::Rfc3164 {
                    let host = self.hostname.as_deref().unwrap_or("localhost");
                    let _ = write!(out, "{host} ");
                }
                let _ = write!(out, "{}[{}]: ", self.tag, self.pid);
            }
            LogFormat::Rfc5424 => {
                let _ = write!(out, "<{pri}>1 ");
                iso_date(out, secs, micros);
                let host = self.hostname.as_deref().unwrap_or("-");
                let _ = write!(out, " {host} {} {} - - ", self.tag, self.pid);
            }
        }
    }

    /// The driver's own alert, on stderr, as HAProxy prints them.
    pub fn alert(&mut self, text: &str) {
        let _ = writeln!(io::stderr().lock(), "[ALERT] {text}");
    }

    /// The driver's own notice, on stderr unless quiet.
    pub fn notice(&mut self, text: &str) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "[NOTICE] {text}");
        }
    }
}

fn is_char_boundary(b: &[u8], i: usize) -> bool {
    i >= b.len() || (b[i] as i8) >= -0x40
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(format: LogFormat) -> Sink {
        Sink {
            out: LogTarget::Stderr,
            format,
            facility: 16,
            max: None,
            min: None,
            len: 1024,
            sample: None,
        }
    }

    #[test]
    fn headers_as_haproxy_writes_them() {
        let mut l = LogSink::new(true);
        l.tag = "haproxy".into();
        l.pid = 6666;
        let h = |l: &LogSink, f| {
            let mut out = Vec::new();
            l.header(&mut out, &sink(f), 6, 0, 12);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(h(&l, LogFormat::Raw), "");
        assert_eq!(h(&l, LogFormat::Short), "<6>");
        assert_eq!(h(&l, LogFormat::Priority), "<134>");
        let r = h(&l, LogFormat::Rfc3164);
        assert!(
            r.starts_with("<134>") && r.ends_with(" localhost haproxy[6666]: "),
            "{r}"
        );
        let r = h(&l, LogFormat::Local);
        assert!(r.ends_with(":00 haproxy[6666]: "), "{r}");
        let r = h(&l, LogFormat::Rfc5424);
        assert!(
            r.starts_with("<134>1 19") && r.ends_with(" - haproxy 6666 - - "),
            "{r}"
        );
        assert!(r.contains(".000012"), "microseconds: {r}");
        let r = h(&l, LogFormat::Timed);
        assert!(r.starts_with("<6>19") && r.ends_with(' '), "{r}");
        l.hostname = Some("edge1".into());
        assert!(h(&l, LogFormat::Rfc3164).ends_with(" edge1 haproxy[6666]: "));
    }

    #[test]
    fn cut_at_a_char_boundary() {
        let b = "aé".as_bytes();
        assert!(is_char_boundary(b, 1));
        assert!(!is_char_boundary(b, 2));
        assert!(is_char_boundary(b, 3));
    }
}
