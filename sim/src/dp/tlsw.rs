//! `tls-proxy`: the `tcp-proxy` world with TLS on both sides of Sluice.
//!
//! ```text
//!  clients ──TLS──> Sluice (bind ... ssl crt /sim/fe.pem) ──TLS──> servers
//!                          (server ... ssl verify required ca-file /sim/ca.pem sni str(srv.sim))
//! ```
//!
//! The TCP clients and servers of [`super::tcp`] keep their plans and
//! checks; TLS sits between them and the network ([`World::net_send`],
//! [`World::take_rx`], [`World::net_shutdown`], [`World::net_close`] go
//! through a rustls connection for the ends listed here). Every byte of
//! TLS comes from the seed: the provider is [`crate::tls::provider`], the
//! certificates (a CA, the proxy's, the servers') are made from the seed
//! at the start of the run.
//!
//! What the TLS world adds: a client's plan may send garbage records
//! (raw bytes past rustls) after some bytes, and close without
//! `close_notify` (truncation); the swarm's client-side faults (cuts,
//! middlebox resets, latency spikes) hit handshakes in flight; the
//! oracle `plaintext` fails a run when a client's stream tag (`SLC:` and
//! its id) shows up on the wire of a TLS connection, either side of the
//! proxy.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use sluice_core::rng::Rng;

use super::gen;
use crate::tls::{SimCa, SimClock};
use crate::world::World;

/// The TLS shape of a run, drawn with the rest of the spec.
#[derive(Clone, Debug, Default)]
pub struct TlsSpec {
    /// Per client: send garbage records after this many bytes.
    pub garbage_after: Vec<Option<u64>>,
    /// Per client: close without `close_notify`.
    pub truncate: Vec<bool>,
    /// The listener stops at TLS 1.2 (`ssl-max-ver TLSv1.2`).
    pub max_tls12: bool,
    /// When the proxy's certificate is replaced through the stats
    /// socket (`set ssl cert` + `commit ssl cert`).
    pub rotate_at: Option<sluice_core::time::Time>,
}

/// The TLS state of a run.
pub struct TlsWorld {
    pub clock: Arc<SimClock>,
    pub client_cfg: Arc<rustls::ClientConfig>,
    pub server_cfg: Arc<rustls::ServerConfig>,
    /// The actors' ends that speak TLS, by `(connection, end)`.
    pub ends: BTreeMap<(u64, usize), rustls::Connection>,
    /// The last bytes seen per direction of a TLS wire, so that a tag cut
    /// across two segments is still found.
    pub tails: BTreeMap<(u64, usize), Vec<u8>>,
    /// Ends whose peer sent a fatal alert or bad records: rustls gave up.
    pub broken: std::collections::BTreeSet<(u64, usize)>,
    /// Ciphertext read off the network that rustls has not taken yet, and
    /// whether the FIN is behind it.
    pub pending: BTreeMap<(u64, usize), (Vec<u8>, bool)>,
    /// Ends whose end of input was reported.
    pub eof_told: std::collections::BTreeSet<(u64, usize)>,
    pub n_clients: u32,
    /// Handshakes completed by clients, alerts and errors seen by actors.
    pub handshakes: u64,
    pub errors: u64,
    /// The certificate (chain and key, PEM) that replaces the proxy's
    /// at `TlsSpec::rotate_at`: same CA, same name, another key.
    pub rotate_pem: String,
}

impl core::fmt::Debug for TlsWorld {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsWorld")
            .field("ends", &self.ends.len())
            .finish()
    }
}

/// The configuration files of the proxy and the actors' configurations,
/// from `rng`: `(files for the engine, world)`.
pub fn make(rng: &mut Rng, n_clients: u32) -> (sluice_core::conn::tls::TlsEnv, TlsWorld) {
    let provider = crate::tls::provider(rng.fork());
    let clock = Arc::new(SimClock::default());
    let ca = SimCa::new(rng);
    let (fe_pem, _) = ca.leaf(rng, &["sluice.sim"]);
    let (srv_pem, _) = ca.leaf(rng, &["srv.sim"]);
    let (rotate_pem, _) = ca.leaf(rng, &["sluice.sim"]);
    let mut files = sluice_core::conn::tls::TlsFiles::default();
    files
        .files
        .insert("/sim/fe.pem".into(), Ok(fe_pem.into_bytes()));
    files
        .files
        .insert("/sim/ca.pem".into(), Ok(ca.pem().into_bytes()));
    let client_cfg = crate::tls::client_config(&provider, &clock, &ca);
    let server_cfg = crate::tls::server_config(&provider, &clock, &srv_pem);
    (
        sluice_core::conn::tls::TlsEnv {
            provider,
            files,
            // From a copy of the run's PRNG: the draws that follow stay
            // those of earlier runs of the same seed.
            ticket_seed: {
                let mut s = [0u8; 32];
                rng.clone().fill(&mut s);
                s
            },
            crl_legacy_algs: &[],
        },
        TlsWorld {
            clock,
            client_cfg,
            server_cfg,
            ends: BTreeMap::new(),
            tails: BTreeMap::new(),
            broken: Default::default(),
            eof_told: Default::default(),
            pending: BTreeMap::new(),
            n_clients,
            handshakes: 0,
            errors: 0,
            rotate_pem,
        },
    )
}

/// Turns a drawn `tcp-proxy` configuration into the TLS one.
pub fn tlsify(cfg: &str, max_tls12: bool) -> String {
    let mut out = String::new();
    for l in cfg.lines() {
        let t = l.trim_start();
        if t.starts_with("bind ") {
            out.push_str(l);
            out.push_str(" ssl crt /sim/fe.pem");
            if max_tls12 {
                out.push_str(" ssl-max-ver TLSv1.2");
            }
        } else if t.starts_with("server ") {
            out.push_str(l);
            out.push_str(" ssl verify required ca-file /sim/ca.pem sni str(srv.sim)");
        } else if t.starts_with("option splice-auto") {
            // TLS is never spliced; keep the line out.
            continue;
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    out
}

/// Whether `data` (after `tail`, the end of the previous segment) holds a
/// client's stream tag: `SLC:` and the id of a client of the run.
pub fn has_tag(tail: &[u8], data: &[u8], n_clients: u32) -> bool {
    let mut buf = Vec::with_capacity(tail.len() + data.len());
    buf.extend_from_slice(tail);
    buf.extend_from_slice(data);
    buf.windows(gen::TAG_LEN as usize)
        .any(|w| w[..4] == gen::MAGIC && u32::from_be_bytes([w[4], w[5], w[6], w[7]]) < n_clients)
}

impl World {
    /// Replaces the proxy's certificate as an operator does, through the
    /// stats socket: the new handshakes must get it, open connections
    /// keep theirs (the clients' oracles cover both).
    pub(crate) fn tls_rotate(&mut self) {
        let Some(pem) = self
            .dp
            .as_ref()
            .and_then(|d| d.tls.as_ref())
            .map(|t| t.rotate_pem.clone())
        else {
            return;
        };
        let pid = self.dpw().proxies[0];
        let now = self.now;
        for (line, want) in [
            (
                format!("set ssl cert /sim/fe.pem <<\n{pem}\n"),
                "Transaction created for certificate /sim/fe.pem!\n",
            ),
            (
                "commit ssl cert /sim/fe.pem".to_string(),
                "Committing /sim/fe.pem.\nSuccess!\n",
            ),
        ] {
            let out = self.procs[pid].engine.cli_request(now, &line);
            self.trace.line(format_args!(
                "{} p{pid} cli {}",
                now.as_ms(),
                line.lines().next().unwrap_or("")
            ));
            if out != want {
                self.fail("tls-rotate", format!("p{pid}: `{line}` answered {out:?}"));
            }
        }
    }

    fn tlsw(&mut self) -> Option<&mut TlsWorld> {
        self.dp.as_deref_mut().and_then(|d| d.tls.as_deref_mut())
    }

    /// Whether `(cid, e)` is an actor's TLS end.
    pub(crate) fn tls_end(&self, cid: u64, e: usize) -> bool {
        self.dp
            .as_deref()
            .and_then(|d| d.tls.as_deref())
            .is_some_and(|t| t.ends.contains_key(&(cid, e)))
    }

    /// Whether `(cid, e)` is a TLS end still in its handshake.
    pub(crate) fn tls_handshaking(&self, cid: u64, e: usize) -> bool {
        self.dp
            .as_deref()
            .and_then(|d| d.tls.as_deref())
            .and_then(|t| t.ends.get(&(cid, e)))
            .is_some_and(|c| c.is_handshaking())
    }

    /// A client's TLS connection on `cid` (its ClientHello goes out once
    /// the connection is up).
    pub(crate) fn tls_client_start(&mut self, cid: u64) {
        let now_ms = 1_795_000_000_000 + self.now.as_ms() % (1 << 40);
        let Some(t) = self.tlsw() else { return };
        t.clock.set_ms(now_ms);
        let name = rustls::pki_types::ServerName::try_from("sluice.sim").expect("a DNS name");
        let mut c =
            rustls::ClientConnection::new(t.client_cfg.clone(), name).expect("a client connection");
        c.set_buffer_limit(None);
        t.ends.insert((cid, 0), rustls::Connection::Client(c));
    }

    /// A server's TLS connection on `cid`.
    pub(crate) fn tls_server_accept(&mut self, cid: u64) {
        let Some(t) = self.tlsw() else { return };
        let mut s =
            rustls::ServerConnection::new(t.server_cfg.clone()).expect("a server connection");
        s.set_buffer_limit(None);
        t.ends.insert((cid, 1), rustls::Connection::Server(s));
    }

    /// Moves what rustls wants to send on `(cid, e)` to the network.
    pub(crate) fn tls_flush(&mut self, cid: u64, e: usize) {
        let now_ms = 1_795_000_000_000 + self.now.as_ms() % (1 << 40);
        let mut out = Vec::new();
        if let Some(t) = self.tlsw() {
            t.clock.set_ms(now_ms);
            if let Some(c) = t.ends.get_mut(&(cid, e)) {
                while c.wants_write() {
                    match c.write_tls(&mut out) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
        }
        if !out.is_empty() {
            self.net_send_raw(cid, e, out);
        }
    }

    /// Plaintext from an actor: through rustls to the network. Bytes
    /// after a fatal error are dropped (the peer is gone).
    pub(crate) fn tls_send(&mut self, cid: u64, e: usize, data: Vec<u8>) {
        if let Some(t) = self.tlsw() {
            if let Some(c) = t.ends.get_mut(&(cid, e)) {
                let _ = c.writer().write_all(&data);
            }
        }
        self.tls_flush(cid, e);
    }

    /// Garbage records straight onto the wire (past rustls).
    pub(crate) fn tls_garbage(&mut self, cid: u64, e: usize) {
        let n = 5 + self.rng.below(300) as usize;
        let mut g = vec![0u8; n];
        self.rng.fill(&mut g);
        // Half of them look like records (application data or handshake).
        if self.rng.chance(1, 2) {
            g[0] = [0x17, 0x16, 0x15][self.rng.below(3) as usize];
            g[1] = 3;
            g[2] = 3;
        }
        self.net_send_raw(cid, e, g);
    }

    /// What an actor reads: ciphertext taken off the network, through
    /// rustls. Returns plaintext (up to `limit`) and whether the input
    /// ended (close_notify, the FIN without one, or a fatal error).
    pub(crate) fn tls_take_rx(&mut self, cid: u64, e: usize, limit: usize) -> (Vec<u8>, bool) {
        let (cipher, fin) = self.take_rx_raw(cid, e, usize::MAX);
        let now_ms = 1_795_000_000_000 + self.now.as_ms() % (1 << 40);
        let Some(t) = self.tlsw() else {
            return (Vec::new(), fin);
        };
        t.clock.set_ms(now_ms);
        let key = (cid, e);
        let Some(c) = t.ends.get_mut(&key) else {
            return (Vec::new(), fin);
        };
        // Ciphertext rustls has not taken yet (its plaintext queue is
        // bounded), and the FIN behind it.
        let pend = t.pending.entry(key).or_default();
        pend.0.extend_from_slice(&cipher);
        pend.1 |= fin;
        let was_hs = c.is_handshaking();
        let mut failed = t.broken.contains(&key);
        let mut plain = Vec::new();
        let mut eof = false;
        let mut buf = vec![0u8; limit.min(64 * 1024)];
        for _ in 0..100_000 {
            // Plaintext first, so that rustls takes more.
            while plain.len() < limit {
                let want = (limit - plain.len()).min(buf.len());
                match c.reader().read(&mut buf[..want]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => plain.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    // The FIN without close_notify: a truncation, the end.
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
            if failed || eof || plain.len() >= limit {
                break;
            }
            if !pend.0.is_empty() {
                let mut src = &pend.0[..];
                match c.read_tls(&mut src) {
                    Ok(k) if k > 0 => {
                        pend.0.drain(..k);
                    }
                    // Its plaintext queue is full: read on next time.
                    _ => break,
                }
            } else if pend.1 {
                match c.read_tls(&mut std::io::empty()) {
                    Ok(_) => pend.1 = false,
                    Err(_) => break,
                }
            } else {
                break;
            }
            if c.process_new_packets().is_err() {
                failed = true;
            }
        }
        let hs_done = was_hs && !c.is_handshaking() && e == 0;
        if hs_done {
            t.handshakes += 1;
        }
        if failed && !t.broken.contains(&key) {
            t.broken.insert(key);
            t.errors += 1;
        }
        // The input ends: close_notify, the FIN without it, or a fatal
        // error (told once).
        let end = (eof || failed) && !t.eof_told.contains(&key);
        if end {
            t.eof_told.insert(key);
        }
        self.stats.dp.tls_handshakes += u64::from(hs_done);
        self.tls_flush(cid, e);
        (plain, end)
    }

    /// An actor half-closes `(cid, e)`: `close_notify` first, unless its
    /// plan truncates.
    pub(crate) fn tls_shutdown(&mut self, cid: u64, e: usize, truncate: bool) {
        if !truncate {
            if let Some(t) = self.tlsw() {
                if let Some(c) = t.ends.get_mut(&(cid, e)) {
                    c.send_close_notify();
                }
            }
            self.tls_flush(cid, e);
        }
    }

    /// Whether the actor at `(cid, e)` closes without `close_notify`
    /// (a client whose plan truncates).
    pub(crate) fn tls_truncates(&self, cid: u64, e: usize) -> bool {
        let Some(dp) = self.dp.as_deref() else {
            return false;
        };
        let (Some(spec), 0) = (self.dp_spec().tls.as_ref(), e) else {
            return false;
        };
        dp.client_of
            .get(&cid)
            .is_some_and(|&i| spec.truncate[i as usize])
    }

    /// The actor let go of `(cid, e)`.
    pub(crate) fn tls_forget(&mut self, cid: u64, e: usize) {
        if let Some(t) = self.tlsw() {
            t.ends.remove(&(cid, e));
            t.broken.remove(&(cid, e));
            t.eof_told.remove(&(cid, e));
            t.pending.remove(&(cid, e));
        }
    }

    /// The plaintext oracle: no client's tag on a TLS wire.
    pub(crate) fn tls_wire_check(&mut self, cid: u64, e: usize, data: &[u8]) {
        let Some(t) = self.tlsw() else { return };
        let tail = t.tails.entry((cid, e)).or_default();
        let hit = has_tag(tail, data, t.n_clients);
        let keep = (gen::TAG_LEN as usize - 1).min(data.len() + tail.len());
        let mut both = std::mem::take(tail);
        both.extend_from_slice(data);
        *tail = both[both.len() - keep..].to_vec();
        if hit && self.failure.is_none() {
            let d = format!("c{cid} end {e}: a client's stream tag in clear on a TLS wire");
            self.fail("plaintext", d);
        }
    }
}
