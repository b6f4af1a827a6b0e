//! `ring NAME` sections (HAProxy's `cfg_parse_ring` in `sink.c`) and
//! `log-forward NAME` sections (`cfg_parse_log_forward` in `log.c`).
//!
//! A ring is a bounded buffer of log messages (HAProxy's `struct sink` of
//! type buffer) that `log ring@NAME` targets write into and its `server`
//! lines forward over TCP. A log-forward section receives syslog messages
//! (`dgram-bind`: UDP, `bind`: TCP with RFC 6587 framing, `ssl` possible)
//! and sends each one to its `log` targets (`core/src/log/syslog.rs`).
//! The driver runs both (`io-mio/src/logfwd.rs`).

use super::addr::{Addr, Host};
use super::model::{LogAddr, LogFormat, LogTarget, Place};
use super::{check_name, Diagnostic, Diags, Ln};

/// How a ring's server receives messages (`log-proto`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogProto {
    /// `legacy` (default): each message ended by a LF.
    #[default]
    Legacy,
    /// `octet-count`: RFC 6587 `LEN SP MSG`.
    OctetCount,
}

/// A `server NAME ADDR [options]` line of a ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingServer {
    pub place: Place,
    pub name: String,
    pub host: Host,
    pub port: u16,
    pub log_proto: LogProto,
    /// `ssl`.
    pub ssl: bool,
    /// `verify none`: the server's certificate is not checked.
    pub verify_none: bool,
    /// `ca-file`: the CAs that sign the server's certificate.
    pub ca_file: Option<String>,
    /// `sni` as a constant string (`str(NAME)` or a plain name).
    pub sni: Option<String>,
}

/// A `ring NAME` section (HAProxy's `struct sink` with a ring buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    pub place: Place,
    pub name: String,
    pub description: Option<String>,
    /// `format` (default `raw`: the message without a header).
    pub format: LogFormat,
    /// `maxlen`: messages are cut to this many bytes (default 16384).
    pub maxlen: u32,
    /// `size`: the bytes the ring holds; the oldest messages go first.
    pub size: u32,
    /// `timeout connect` (default 1s).
    pub timeout_connect_ms: u32,
    /// `timeout server` (default 5s): an idle connection to a server is
    /// closed after this long without progress.
    pub timeout_server_ms: u32,
    pub servers: Vec<RingServer>,
}

/// A `bind ADDR [ssl crt FILE]` line of a log-forward section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FwdBind {
    pub place: Place,
    pub host: Host,
    pub port: u16,
    pub ssl: bool,
    /// `crt`: certificate and key files (PEM).
    pub crts: Vec<String>,
}

/// A `log-forward NAME` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogForward {
    pub place: Place,
    pub name: String,
    /// `dgram-bind ADDR`: UDP receivers.
    pub dgram_binds: Vec<(Place, Host, u16)>,
    /// `bind ADDR`: TCP receivers.
    pub binds: Vec<FwdBind>,
    /// `log` targets (`ring@NAME` allowed).
    pub logs: Vec<LogTarget>,
    /// `maxconn` (default 10, HAProxy's for this section): TCP connections
    /// served at once; more wait in the kernel's backlog.
    pub maxconn: u32,
    /// `backlog`.
    pub backlog: Option<u32>,
    /// `timeout client` (default none): an idle TCP sender is closed.
    pub timeout_client_ms: Option<u32>,
}

/// `ring NAME`.
pub(super) fn start_ring(all: &[Ring], ln: &Ln<'_>) -> Result<Ring, Diagnostic> {
    let name = ln.arg(1);
    if name.is_empty() {
        return Err(ln.diag("missing ring name."));
    }
    check_name(ln, "ring", name)?;
    ln.no_extra(2)?;
    if all.iter().any(|r| r.name == name) {
        return Err(ln.diag(format!("sink '{name}' already exists.")));
    }
    Ok(Ring {
        place: ln.place(),
        name: name.to_string(),
        description: None,
        format: LogFormat::Raw,
        maxlen: 16384,
        size: 16384,
        timeout_connect_ms: 1000,
        timeout_server_ms: 5000,
        servers: Vec::new(),
    })
}

/// A line of a `ring` section.
pub(super) fn ring_kw(r: &mut Ring, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    match ln.kw() {
        "description" => {
            if ln.arg(1).is_empty() {
                return Err(ln.diag("missing ring description text."));
            }
            r.description = Some(ln.arg(1).to_string());
        }
        "format" => {
            let f = ln.arg(1);
            r.format =
                LogFormat::from_name(f).ok_or_else(|| ln.diag(format!("unknown format '{f}'.")))?;
            ln.no_extra(2)?;
        }
        "maxlen" => {
            r.maxlen = ln.uint_at(1, "maxlen")?;
            if r.maxlen == 0 {
                return Err(ln.diag(format!("invalid size '{}' for new sink buffer.", ln.arg(1))));
            }
        }
        "size" => {
            let size = ln.size_at(1, "size")?;
            if size < r.size {
                return Err(ln.diag(format!(
                    "ring buffer size '{}' must not be smaller than the current one ({}).",
                    ln.arg(1),
                    r.size
                )));
            }
            r.size = size;
        }
        "timeout" => {
            let ms = ln.time_at(2, "timeout")?;
            match ln.arg(1) {
                "connect" => r.timeout_connect_ms = ms,
                "server" => r.timeout_server_ms = ms,
                _ => return Err(ln.diag("'timeout' expects 'connect' or 'server'.")),
            }
        }
        "server" => r.servers.push(ring_server(ln)?),
        kw => return Err(ln.diag(format!("unknown statement '{kw}' in ring section."))),
    }
    Ok(())
}

/// `HOST:PORT` of a receiver or a server (port required).
fn inet(ln: &Ln<'_>, text: &str) -> Result<(Host, u16), Diagnostic> {
    let p = ln
        .parse_addr(text)
        .and_then(|p| p.single_port(text))
        .and_then(|p| p.require_port(text))
        .map_err(|e| ln.diag(e))?;
    match p.addr {
        Addr::Inet {
            host,
            port: Some(port),
        } => Ok((host, port)),
        _ => Err(ln.diag(format!(
            "'{text}': only IPv4 and IPv6 addresses are supported here by Sluice."
        ))),
    }
}

fn ring_server(ln: &Ln<'_>) -> Result<RingServer, Diagnostic> {
    let name = ln.arg(1);
    if name.is_empty() || ln.arg(2).is_empty() {
        return Err(ln.diag("'server' expects <name> and <addr>[:<port>] as arguments."));
    }
    let (host, port) = inet(ln, ln.arg(2))?;
    let mut s = RingServer {
        place: ln.place(),
        name: name.to_string(),
        host,
        port,
        log_proto: LogProto::Legacy,
        ssl: false,
        verify_none: false,
        ca_file: None,
        sni: None,
    };
    let mut i = 3;
    while !ln.arg(i).is_empty() {
        let val = ln.arg(i + 1);
        match ln.arg(i) {
            "ssl" => {
                s.ssl = true;
                i += 1;
                continue;
            }
            "verify" => match val {
                "none" => s.verify_none = true,
                "required" => s.verify_none = false,
                _ => return Err(ln.diag("'verify' expects 'none' or 'required'.")),
            },
            "ca-file" if !val.is_empty() => s.ca_file = Some(val.to_string()),
            "sni" if !val.is_empty() => {
                let v = val
                    .strip_prefix("str(")
                    .and_then(|v| v.strip_suffix(')'))
                    .unwrap_or(val);
                s.sni = Some(v.to_string());
            }
            "log-proto" => {
                s.log_proto = match val {
                    "legacy" => LogProto::Legacy,
                    "octet-count" => LogProto::OctetCount,
                    _ => {
                        return Err(ln.diag(format!(
                            "'log-proto' expects 'legacy' or 'octet-count', not '{val}'."
                        )))
                    }
                }
            }
            kw => {
                return Err(ln.diag(format!(
                    "'server {name}': option '{kw}' is not supported by Sluice in a ring section."
                )))
            }
        }
        i += 2;
    }
    if s.ssl && !s.verify_none && s.ca_file.is_none() {
        return Err(ln.diag(format!(
            "'server {name}': verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default."
        )));
    }
    Ok(s)
}

/// `log-forward NAME`.
pub(super) fn start_log_forward(all: &[LogForward], ln: &Ln<'_>) -> Result<LogForward, Diagnostic> {
    let name = ln.arg(1);
    if name.is_empty() {
        return Err(ln.diag("missing name for log-forward section."));
    }
    check_name(ln, "log-forward", name)?;
    ln.no_extra(2)?;
    if let Some(o) = all.iter().find(|f| f.name == name) {
        return Err(ln.diag(format!(
            "log-forward section '{name}' has the same name as another log-forward section declared at {}:{}.",
            o.place.file, o.place.line
        )));
    }
    Ok(LogForward {
        place: ln.place(),
        name: name.to_string(),
        dgram_binds: Vec::new(),
        binds: Vec::new(),
        logs: Vec::new(),
        maxconn: 10,
        backlog: None,
        timeout_client_ms: None,
    })
}

/// A line of a `log-forward` section.
pub(super) fn log_forward_kw(
    f: &mut LogForward,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    match ln.kw() {
        "dgram-bind" => {
            if ln.arg(1).is_empty() {
                return Err(ln.diag("'dgram-bind' expects <addr>:<port> as argument."));
            }
            let (host, port) = inet(ln, ln.arg(1))?;
            if !ln.arg(2).is_empty() {
                return Err(ln.diag(format!(
                    "'dgram-bind': option '{}' is not supported by Sluice.",
                    ln.arg(2)
                )));
            }
            f.dgram_binds.push((ln.place(), host, port));
        }
        "bind" => f.binds.push(fwd_bind(ln)?),
        "log" => {
            let t = super::log::parse_target_with_rings(ln, d, true)?;
            f.logs.push(t);
        }
        "maxconn" => {
            f.maxconn = ln.uint_at(1, "maxconn")?;
            ln.no_extra(2)?;
        }
        "backlog" => {
            f.backlog = Some(ln.uint_at(1, "backlog")?);
            ln.no_extra(2)?;
        }
        "timeout" if ln.arg(1) == "client" => {
            f.timeout_client_ms = Some(ln.time_at(2, "timeout client")?);
            ln.no_extra(3)?;
        }
        "timeout" => return Err(ln.diag("expects 'client' and <timeout> as arguments.")),
        kw => return Err(ln.diag(format!("unknown keyword '{kw}' in log-forward section."))),
    }
    Ok(())
}

fn fwd_bind(ln: &Ln<'_>) -> Result<FwdBind, Diagnostic> {
    if ln.arg(1).is_empty() {
        return Err(ln.diag("'bind' expects <addr>:<port> as argument."));
    }
    let (host, port) = inet(ln, ln.arg(1))?;
    let mut b = FwdBind {
        place: ln.place(),
        host,
        port,
        ssl: false,
        crts: Vec::new(),
    };
    let mut i = 2;
    while !ln.arg(i).is_empty() {
        match ln.arg(i) {
            "ssl" => {
                b.ssl = true;
                i += 1;
            }
            "crt" if !ln.arg(i + 1).is_empty() => {
                b.crts.push(ln.arg(i + 1).to_string());
                i += 2;
            }
            kw => {
                return Err(ln.diag(format!(
                    "'bind': option '{kw}' is not supported by Sluice in a log-forward section."
                )))
            }
        }
    }
    if b.ssl && b.crts.is_empty() {
        return Err(ln.diag(format!(
            "'bind {}': 'ssl' needs a certificate ('crt').",
            ln.arg(1)
        )));
    }
    Ok(b)
}

/// After parsing: every `ring@NAME` target names a ring.
pub(super) fn check(rings: &[Ring], fwds: &[LogForward], out: &mut Vec<Diagnostic>) {
    for f in fwds {
        for t in &f.logs {
            if let LogAddr::Ring(name) = &t.addr {
                if !rings.iter().any(|r| &r.name == name) {
                    out.push(Diagnostic::new(
                        &t.place.file,
                        t.place.line,
                        "log",
                        format!("log : log-forward '{}': no such ring '{name}'.", f.name),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfgparse::{parse, ParseOptions};

    fn cfg(text: &str) -> Result<crate::cfgparse::Parsed, String> {
        parse("t.cfg", text, ParseOptions::new("h")).map_err(|e| e.to_string())
    }

    #[test]
    fn ring_and_log_forward_sections() {
        let p = cfg("ring r1\n description \"d\"\n format rfc5424\n maxlen 1200\n size 32764\n timeout connect 5s\n timeout server 10s\n server s1 127.0.0.1:2514\n server s2 127.0.0.1:2515 ssl verify none log-proto octet-count\n\
            log-forward f\n dgram-bind 127.0.0.1:1514\n bind 127.0.0.1:2514\n log ring@r1 local0\n log 127.0.0.1:1515 format raw local1 notice\n maxconn 3\n timeout client 2s\n")
            .expect("loads");
        let r = &p.config.rings[0];
        assert_eq!(
            (r.format, r.maxlen, r.size),
            (LogFormat::Rfc5424, 1200, 32764)
        );
        assert_eq!((r.timeout_connect_ms, r.timeout_server_ms), (5000, 10000));
        assert_eq!(r.servers.len(), 2);
        assert_eq!(r.servers[0].log_proto, LogProto::Legacy);
        assert!(r.servers[1].ssl && r.servers[1].verify_none);
        assert_eq!(r.servers[1].log_proto, LogProto::OctetCount);
        let f = &p.config.log_forwards[0];
        assert_eq!((f.dgram_binds.len(), f.binds.len()), (1, 1));
        assert_eq!(f.logs[0].addr, LogAddr::Ring("r1".into()));
        assert!(!f.logs[0].format_given);
        assert!(f.logs[1].format_given);
        assert_eq!((f.maxconn, f.timeout_client_ms), (3, Some(2000)));
    }

    #[test]
    fn errors_name_their_line() {
        let e = cfg("log-forward f\n log ring@nope local0\n").unwrap_err();
        assert!(
            e.contains("t.cfg:2") && e.contains("no such ring 'nope'"),
            "{e}"
        );
        let e = cfg("log-forward f\n bind 127.0.0.1:1 ssl\n").unwrap_err();
        assert!(e.contains("t.cfg:2") && e.contains("crt"), "{e}");
        let e = cfg("log-forward f\n bind 127.0.0.1:1 accept-proxy\n").unwrap_err();
        assert!(e.contains("accept-proxy"), "{e}");
        let e = cfg("ring r\n server s 127.0.0.1:1 ssl\n").unwrap_err();
        assert!(e.contains("t.cfg:2") && e.contains("verify"), "{e}");
        let e = cfg("ring r\n frob 1\n").unwrap_err();
        assert!(e.contains("unknown statement 'frob'"), "{e}");
        let e = cfg("ring r\nring r\n").unwrap_err();
        assert!(e.contains("already exists"), "{e}");
        // A ring target outside log-forward sections is refused.
        let e = cfg("ring r\nglobal\n log ring@r local0\n").unwrap_err();
        assert!(e.contains("t.cfg:3") && e.contains("log-forward"), "{e}");
    }
}
