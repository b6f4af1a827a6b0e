//! `peers` sections (HAProxy's `cfg_parse_peers()` in `src/cfgparse.c`).
//!
//! Two forms, which may not be mixed:
//!
//! ```text
//! peers mesh                         peers mesh
//!     peer A 10.0.0.1:1024               bind 10.0.0.1:1024
//!     peer B 10.0.0.2:1024               server A            # local: no address
//!                                        server B 10.0.0.2:1024
//!     table t type ip size 1k            table t type ip size 1k
//! ```
//!
//! The local peer is the one named like [`super::Config::local_peer`]; on a
//! `peer` line its address is where this process listens, on a `server`
//! line it has no address and `bind` gives it.

use super::addr::Addr;
use super::model::{Peer, PeerKeyword, PeersSection, TableDecl};
use super::{check_name, server, table, Diagnostic, Diags, Ln};

pub(super) fn parse(
    s: &mut PeersSection,
    local: &str,
    ln: &Ln<'_>,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    match ln.kw() {
        "peer" => peer(s, local, ln, PeerKeyword::Peer, d),
        "server" => peer(s, local, ln, PeerKeyword::Server, d),
        "bind" => bind(s, ln, d),
        "table" => table_line(s, ln, d),
        "disabled" => {
            ln.no_extra(1)?;
            s.disabled = true;
            Ok(())
        }
        "enabled" | "enable" => {
            ln.no_extra(1)?;
            s.disabled = false;
            Ok(())
        }
        "default-server" | "default-bind" | "log" | "shards" => {
            let kw = ln.kw();
            d.warn(ln.diag(format!(
                "'{kw}' in a 'peers' section is not supported by Sluice and is ignored."
            )));
            Ok(())
        }
        kw => Err(ln.diag(format!("unknown keyword '{kw}' in 'peers' section"))),
    }
}

/// `peer NAME [ADDR:PORT]` or `server NAME [ADDR:PORT]`.
fn peer(
    s: &mut PeersSection,
    local: &str,
    ln: &Ln<'_>,
    kw: PeerKeyword,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    let (name, text) = (ln.arg(1), ln.arg(2));
    let k = ln.kw();
    if name.is_empty() {
        return Err(ln.diag(format!(
            "'{k}' expects <name> and <addr>[:<port>] as arguments."
        )));
    }
    check_name(ln, k, name)?;
    ln.no_extra(3)?;
    if kw == PeerKeyword::Peer && s.bind.is_some() {
        return Err(ln.diag("mixing \"peer\" and \"bind\" line is forbidden"));
    }
    if s.peers.iter().any(|p| p.keyword != kw) {
        return Err(ln.diag("mixing \"peer\" and \"server\" lines is forbidden"));
    }
    let is_local = name == local;
    if let Some(prev) = s.peers.iter().find(|p| p.name == name && is_local) {
        return Err(ln.diag(format!(
            "'{k} {name}' : local peer name already referenced at {}:{}.",
            prev.place.file, prev.place.line
        )));
    }
    let addr = match (text, is_local, kw) {
        ("", _, _) => None,
        (t, true, PeerKeyword::Server) => {
            return Err(ln.diag(format!(
                "'server {}/{name}' : unexpected address '{t}': the local peer takes its address from 'bind'.",
                s.name
            )))
        }
        (t, _, _) => Some(peer_addr(ln, t, d)?),
    };
    if addr.is_none() && !(is_local && kw == PeerKeyword::Server) {
        d.warn(ln.diag(format!(
            "'{k} {name}' has no address: Sluice will not connect to it (it may still connect here)."
        )));
    }
    s.peers.push(Peer {
        place: ln.place(),
        name: name.to_string(),
        addr,
        keyword: kw,
    });
    Ok(())
}

/// A peer address: TCP. Without a port (`${B_addr}:${B_port}` with
/// neither set gives `:`), HAProxy 2.6 takes port 0, which connections
/// to fail: so does Sluice.
fn peer_addr(ln: &Ln<'_>, text: &str, d: &mut Diags) -> Result<Addr, Diagnostic> {
    let p = ln
        .parse_addr(text)
        .and_then(|p| p.single_port(text))
        .map_err(|e| ln.diag(format!("'{}' : {e}", ln.kw())))?;
    match p.addr {
        Addr::Inet { host, port: None } => {
            d.warn(ln.diag(format!(
                "'{} {}' : no port in '{text}': connections to it will fail (port 0).",
                ln.kw(),
                ln.arg(1)
            )));
            Ok(Addr::Inet {
                host,
                port: Some(0),
            })
        }
        a @ Addr::Inet { .. } => Ok(a),
        _ => Err(ln.diag(format!(
            "'{}' : peers only connect over TCP ('{text}').",
            ln.kw()
        ))),
    }
}

/// `bind ADDR:PORT [options]`: where the local `server` peer listens.
fn bind(s: &mut PeersSection, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    if s.peers.iter().any(|p| p.keyword == PeerKeyword::Peer) {
        return Err(ln.diag("mixing \"peer\" and \"bind\" line is forbidden"));
    }
    if let Some(b) = &s.bind {
        return Err(ln.diag(format!(
            "'bind' : only one 'bind' line is supported in a peers section (see {}:{}).",
            b.place.file, b.place.line
        )));
    }
    let b = server::parse_bind(ln, "peers", &Default::default(), false, d)?;
    if b.addrs.len() != 1 || b.addrs[0].port_last.is_some() {
        return Err(ln.diag("'bind' : a peers section listens on exactly one address and port."));
    }
    // `fd@N`: a socket inherited from the parent (TCP, checked at startup).
    if !matches!(b.addrs[0].addr, Addr::Inet { .. } | Addr::Fd(_)) {
        return Err(ln.diag("'bind' : peers only listen over TCP."));
    }
    s.bind = Some(b);
    Ok(())
}

/// `table NAME type ... size ...`: id `section/NAME`, wire name `/NAME`.
fn table_line(s: &mut PeersSection, ln: &Ln<'_>, d: &mut Diags) -> Result<(), Diagnostic> {
    let name = ln.arg(1);
    if name.is_empty() {
        return Err(ln.diag("table: missing table name."));
    }
    let site = table::TableSite {
        label: "table",
        id: format!("{}/{}", s.name, name),
        wire_name: format!("/{name}"),
        section: Some(&s.name),
    };
    let params = table::parse(ln, 2, site, d)?;
    s.tables.push(TableDecl {
        place: ln.place(),
        params,
    });
    Ok(())
}
