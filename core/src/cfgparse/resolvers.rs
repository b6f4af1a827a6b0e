//! `resolvers NAME` sections (HAProxy's `cfg_parse_resolvers` in
//! `resolvers.c`): `nameserver ID IP:PORT`, `parse-resolv-conf`,
//! `hold EVENT TIME`, `resolve_retries N`, `timeout resolve|retry TIME`,
//! `accepted_payload_size N`.
//!
//! `parse-resolv-conf` only sets a flag here: the parser reads no file. The
//! driver reads `/etc/resolv.conf` and hands the addresses it found to
//! [`Resolvers::add_resolv_conf`] (through [`parse_resolv_conf`]).

use core::net::{IpAddr, SocketAddr};

use super::addr::{Addr, Host};
use super::model::Place;
use super::{check_name, Diagnostic, Diags, Ln};

/// One `nameserver ID ADDR:PORT` line (HAProxy's `struct dns_nameserver`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nameserver {
    pub place: Place,
    pub name: String,
    /// Where queries go (UDP).
    pub addr: SocketAddr,
}

/// The `hold` periods (HAProxy's `resolvers->hold`), in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    /// `hold valid` (default 10s): how long a valid answer is reused.
    pub valid_ms: u32,
    /// `hold nx` (default 30s): how long servers keep their address after
    /// the name stopped existing.
    pub nx_ms: u32,
    /// `hold other` (default 30s).
    pub other_ms: u32,
    /// `hold refused` (default 30s).
    pub refused_ms: u32,
    /// `hold timeout` (default 30s).
    pub timeout_ms: u32,
    /// `hold obsolete` (default 0s): how long an address missing from the
    /// answers is kept.
    pub obsolete_ms: u32,
}

impl Default for Hold {
    fn default() -> Hold {
        Hold {
            valid_ms: 10_000,
            nx_ms: 30_000,
            other_ms: 30_000,
            refused_ms: 30_000,
            timeout_ms: 30_000,
            obsolete_ms: 0,
        }
    }
}

/// A `resolvers NAME` section (HAProxy's `struct resolvers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolvers {
    pub place: Place,
    pub name: String,
    /// `nameserver` lines, then what `parse-resolv-conf` found.
    pub nameservers: Vec<Nameserver>,
    /// `parse-resolv-conf`: the driver adds the nameservers of
    /// `/etc/resolv.conf`.
    pub parse_resolv_conf: bool,
    pub hold: Hold,
    /// `resolve_retries` (default 3): queries sent before a timeout.
    pub resolve_retries: u32,
    /// `timeout resolve` (default 1s): time between two resolutions.
    pub timeout_resolve_ms: u32,
    /// `timeout retry` (default 1s): time before a query is sent again.
    pub timeout_retry_ms: u32,
    /// `accepted_payload_size` (default 512; EDNS0 announced above 512).
    pub accepted_payload_size: u16,
}

impl Resolvers {
    pub(super) fn new(place: Place, name: &str) -> Resolvers {
        Resolvers {
            place,
            name: name.to_string(),
            nameservers: Vec::new(),
            parse_resolv_conf: false,
            hold: Hold::default(),
            resolve_retries: 3,
            timeout_resolve_ms: 1000,
            timeout_retry_ms: 1000,
            accepted_payload_size: 512,
        }
    }

    /// Adds the nameservers the driver read from `/etc/resolv.conf`
    /// (port 53, named after their address as HAProxy does).
    pub fn add_resolv_conf(&mut self, addrs: &[IpAddr]) {
        for ip in addrs {
            let addr = SocketAddr::new(*ip, 53);
            if self.nameservers.iter().any(|n| n.addr == addr) {
                continue;
            }
            self.nameservers.push(Nameserver {
                place: self.place.clone(),
                name: ip.to_string(),
                addr,
            });
        }
    }
}

/// The `nameserver` addresses of a `resolv.conf` text (what
/// `parse-resolv-conf` takes from `/etc/resolv.conf`).
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next())?
        })
        .filter_map(|a| a.split('%').next()?.parse().ok())
        .collect()
}

/// `resolvers NAME`: a new section.
pub(super) fn start(all: &[Resolvers], ln: &Ln<'_>) -> Result<Resolvers, Diagnostic> {
    let name = ln.arg(1);
    if name.is_empty() {
        return Err(ln.diag("missing name for resolvers section."));
    }
    check_name(ln, "resolvers", name)?;
    if let Some(o) = all.iter().find(|r| r.name == name) {
        return Err(ln.diag(format!(
            "resolvers '{name}' has same name as another resolvers (declared at {}:{}).",
            o.place.file, o.place.line
        )));
    }
    Ok(Resolvers::new(ln.place(), name))
}

/// A line of a `resolvers` section.
pub(super) fn section_kw(r: &mut Resolvers, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    match ln.kw() {
        "nameserver" => nameserver(r, ln),
        "parse-resolv-conf" => {
            r.parse_resolv_conf = true;
            Ok(())
        }
        "hold" => hold(r, ln, d),
        "accepted_payload_size" => {
            let v = ln.arg(1);
            if v.is_empty() {
                return Err(ln.diag("'accepted_payload_size' expects <nb> as argument."));
            }
            match v.parse::<u32>() {
                Ok(n) if (512..=65535).contains(&n) => {
                    r.accepted_payload_size = n as u16;
                    Ok(())
                }
                _ => Err(ln.diag(format!(
                    "'accepted_payload_size' must be between 512 and 65535 inclusive (was {v})."
                ))),
            }
        }
        "resolve_retries" => {
            if ln.arg(1).is_empty() {
                return Err(ln.diag("'resolve_retries' expects <nb> as argument."));
            }
            // HAProxy takes atoi(): anything else counts as 0.
            r.resolve_retries = ln.arg(1).parse().unwrap_or(0);
            Ok(())
        }
        "timeout" => {
            let which = ln.arg(1);
            if which.is_empty() {
                return Err(
                    ln.diag("'timeout' expects 'retry' or 'resolve' and <time> as arguments.")
                );
            }
            if which != "retry" && which != "resolve" {
                return Err(ln.diag(format!(
                    "'timeout' expects 'retry' or 'resolve' and <time> as arguments got '{which}'."
                )));
            }
            if ln.arg(2).is_empty() {
                return Err(ln.diag(format!("'timeout {which}' expects <time> as argument.")));
            }
            let v = ln.time_at(2, &format!("timeout {which}"))?;
            if which == "retry" {
                r.timeout_retry_ms = v;
            } else {
                r.timeout_resolve_ms = v;
            }
            Ok(())
        }
        "resolution_pool_size" => Err(ln.diag(
            "'resolution_pool_size' directive is not supported anymore (it never appeared in a stable release).",
        )),
        kw => Err(ln.diag(format!(
            "unknown keyword '{kw}' in 'resolvers' section"
        ))),
    }
}

fn nameserver(r: &mut Resolvers, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    let (name, text) = (ln.arg(1), ln.arg(2));
    if name.is_empty() || text.is_empty() {
        return Err(ln.diag("'nameserver' expects <name> and <addr>[:<port>] as arguments."));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(ln.diag(format!(
            "character '{c}' is not permitted in server name '{name}'."
        )));
    }
    if let Some(o) = r.nameservers.iter().find(|n| n.name == name) {
        return Err(ln.diag(format!(
            "nameserver '{name}' has same name as another nameserver (declared at {}:{}).",
            o.place.file, o.place.line
        )));
    }
    // HAProxy also takes `tcp@` nameservers (DNS over TCP); Sluice speaks
    // UDP only.
    let addr = match ln.parse_addr(text) {
        Ok(p) => match p.addr {
            Addr::Inet {
                host: Host::Ip(ip),
                port,
            } => SocketAddr::new(ip, port.unwrap_or(53)),
            Addr::Inet { .. } => {
                return Err(ln.diag(format!("'nameserver {name}' : invalid address: '{text}'")))
            }
            _ => {
                return Err(ln.diag(format!(
                    "'nameserver {name}' : Sluice supports UDP nameservers only (got '{text}')."
                )))
            }
        },
        Err(e) => return Err(ln.diag(format!("'nameserver {name}' : {e}"))),
    };
    r.nameservers.push(Nameserver {
        place: ln.place(),
        name: name.to_string(),
        addr,
    });
    Ok(())
}

fn hold(r: &mut Resolvers, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let (event, t) = (ln.arg(1), ln.arg(2));
    if event.is_empty() || t.is_empty() {
        return Err(ln.diag(
            "'hold' expects an <event> and a <time> as arguments.\n<event> can be either 'valid', 'nx', 'refused', 'timeout', or 'other'",
        ));
    }
    let v = ln.time_at(2, "hold")?;
    let slot = match event {
        "nx" => &mut r.hold.nx_ms,
        "other" => &mut r.hold.other_ms,
        "refused" => &mut r.hold.refused_ms,
        "timeout" => &mut r.hold.timeout_ms,
        "valid" => &mut r.hold.valid_ms,
        "obsolete" => &mut r.hold.obsolete_ms,
        _ => {
            return Err(ln.diag(format!(
                "'hold' unknown <event>: '{event}', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'."
            )))
        }
    };
    *slot = v;
    if v > 0 && v < 100 && !t.chars().any(|c| c.is_ascii_alphabetic()) {
        d.warn(ln.diag(format!(
            "'hold {event} {v}' looks suspiciously small for a value in milliseconds. Please use an explicit unit ('{v}s') if that was the intent."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfgparse::{parse, InitAddr, ParseOptions};

    fn cfg(text: &str) -> Result<crate::cfgparse::Parsed, String> {
        parse("t.cfg", text, ParseOptions::new("h")).map_err(|e| e.to_string())
    }

    #[test]
    fn section_and_server_keywords() {
        let p = cfg("resolvers dns\n nameserver ns1 127.0.0.1:5353\n nameserver ns2 10.0.0.1\n hold valid 2s\n hold nx 3s\n hold obsolete 1s\n resolve_retries 5\n timeout resolve 500ms\n timeout retry 200\n accepted_payload_size 8192\n\
            backend be\n server s1 app.example:80 resolvers dns resolve-prefer ipv4 init-addr libc,none resolve-net 10.0.0.0/8,192.168.0.0/255.255.0.0 resolve-opts allow-dup-ip\n server-template web 2-4 app.example:81 resolvers dns init-addr none\n")
            .expect("loads");
        let r = &p.config.resolvers[0];
        assert_eq!(r.nameservers.len(), 2);
        assert_eq!(r.nameservers[1].addr, "10.0.0.1:53".parse().unwrap());
        assert_eq!(
            (r.hold.valid_ms, r.hold.nx_ms, r.hold.obsolete_ms),
            (2000, 3000, 1000)
        );
        assert_eq!(
            (r.resolve_retries, r.timeout_resolve_ms, r.timeout_retry_ms),
            (5, 500, 200)
        );
        assert_eq!(r.accepted_payload_size, 8192);
        let be = &p.config.proxies[0];
        let names: Vec<&str> = be.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s1", "web2", "web3", "web4"]);
        let o = &be.servers[0].opts;
        assert_eq!(o.resolvers.as_deref(), Some("dns"));
        assert!(o.resolve_prefer_ipv4 && o.resolve_allow_dup_ip);
        assert_eq!(o.init_addr, [InitAddr::Libc, InitAddr::None]);
        assert_eq!(o.resolve_net[1], ("192.168.0.0".parse().unwrap(), 16));
        assert_eq!(be.servers[3].opts.init_addr, [InitAddr::None]);
    }

    #[test]
    fn haproxy_refusals() {
        for (text, want) in [
            ("resolvers\n", "[t.cfg:1] : missing name for resolvers section."),
            ("resolvers a\nresolvers a\n", "resolvers 'a' has same name as another resolvers (declared at t.cfg:1)."),
            ("resolvers a\n hold foo 1s\n", "'hold' unknown <event>: 'foo'"),
            ("resolvers a\n accepted_payload_size 100\n", "'accepted_payload_size' must be between 512 and 65535 inclusive (was 100)."),
            ("resolvers a\n bogus\n", "unknown keyword 'bogus' in 'resolvers' section"),
            ("resolvers a\n timeout foo 1s\n", "'timeout' expects 'retry' or 'resolve' and <time> as arguments got 'foo'."),
            ("backend b\n server s a.example:80 resolvers nope\n", "backend 'b', server 's': unable to find required resolvers 'nope'"),
            ("backend b\n server s a.example:80 init-addr libc,foo\n", "'init-addr' : unknown init-addr method 'foo', supported methods are 'libc', 'last', 'none'."),
            ("backend b\n server s a.example:80 init-addr libc,libc\n", "too many init-addr methods when trying to add 'libc'"),
            ("backend b\n server s a.example:80 resolve-prefer ipv5\n", "'resolve-prefer' expects either ipv4 or ipv6 as argument."),
            ("backend b\n server-template s 0 a.example:80\n", "Wrong server-template number or range arg '0'."),
            ("backend b\n server-template s 3\n", "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments."),
            ("backend b\n server s2 1.2.3.4:80\n server-template s 3 a.example:80\n", "another server named 's2' was already defined at line 2"),
        ] {
            let e = cfg(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn resolv_conf_nameservers() {
        let t = "# c\nsearch x\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver bad\n options x";
        assert_eq!(
            parse_resolv_conf(t),
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }
}
