//! The TLS transport: HAProxy's `ssl_sock.c` xprt, with rustls's buffered
//! API (`read_tls` / `process_new_packets` / `write_tls` / `reader` /
//! `writer`) over byte slices, inside the engine.
//!
//! ```text
//!  driver ──read──> rx (ciphertext) ──read_tls──> rustls ──reader()──> channel (plaintext)
//!  driver <─write── tx (ciphertext) <─write_tls── rustls <─writer()─── channel output
//! ```
//!
//! Per connection ([`Tls`]): a `rustls::Connection`, the ciphertext read
//! but not yet taken by rustls (`rx`), the ciphertext to write (`tx`), and
//! how many bytes of the channel's output rustls took (`fed`). Those bytes
//! are reported sent to the stream only once their ciphertext is written,
//! so that the stream's idea of "flushed" (shutdowns, closes, timeouts)
//! means "on the wire", as with the raw xprt.
//!
//! What TLS needs from the world is handed in by the driver
//! ([`TlsEnv`]): the crypto provider (randomness, key exchange,
//! signatures: where the production provider reaches the OS, see
//! docs/tls.md) and the certificate files (the core reads no file). Time
//! for certificate validity is the engine's clock ([`EngineClock`]).
//!
//! Copies per byte: in, kernel -> `rx` -> rustls's record buffer
//! (decrypted in place) -> rustls's plaintext queue -> channel; out,
//! channel -> rustls (encrypted into its record queue) -> `tx` -> kernel.
//! The raw xprt copies once each way.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bitflags::bitflags;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, Connection, DigitallySignedStruct, ServerConfig, SignatureScheme};

use super::cafile::{CafileKind, CafileStore};
use crate::cfgparse::model::{BindTls, BindVerify, Global, SrvTls, SrvVerify, TlsCommon, TlsVer};
use crate::cfgparse::tls::{tls_versions, TLS12_SUITES, TLS13_SUITES};

/// Ciphertext read ahead of rustls: one whole record and some.
pub const TLS_RX_LEN: usize = 16 * 1024 + 512;

/// What TLS needs from the world, handed in by the driver
/// (`EngineOptions::tls`).
#[derive(Clone, Debug)]
pub struct TlsEnv {
    /// The crypto provider (ring's in `proxy-mio`).
    pub provider: Arc<CryptoProvider>,
    /// The certificate and CA files the configuration names, as the
    /// driver read them ([`TlsFiles::paths`] tells which).
    pub files: TlsFiles,
    /// The secret the session ticket keys and IVs are drawn from
    /// ([`super::ticket::Ticketer`]): OS entropy in `proxy-mio`, never the
    /// seed it logs; the scenario's seed in the simulator.
    pub ticket_seed: [u8; 32],
    /// Signature algorithms that verify a `crl-file`'s CRLs and never a
    /// certificate: SHA-1 RSA in `proxy-mio` (OpenSSL, thus HAProxy,
    /// takes SHA-1 signed CRLs; the provider's algorithms, which also
    /// verify certificates, do not include SHA-1). See `conn/chain.rs`.
    pub crl_legacy_algs:
        &'static [&'static dyn rustls::pki_types::SignatureVerificationAlgorithm],
}

/// Files read by the driver for the TLS configuration.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// A file's contents, or why it could not be read (`strerror`).
    pub files: BTreeMap<String, Result<Vec<u8>, String>>,
    /// A directory named by `crt`: the files in it that hold
    /// certificates, sorted by name (dot files and `.key`, `.ocsp`,
    /// `.issuer`, `.sctl` left out, as HAProxy does).
    pub dirs: BTreeMap<String, Vec<String>>,
}

/// A path the driver must read for the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPath {
    pub path: String,
    /// A `crt` may name a directory.
    pub dir_ok: bool,
    /// The files next to a certificate that HAProxy loads when they
    /// exist (`ssl-load-extra-files`): read them only if they are there.
    /// For a directory, the same files next to each certificate in it.
    pub extras: bool,
}

/// The files HAProxy 2.6 loads next to a certificate when they exist
/// (`ssl-load-extra-files all`, its default) and Sluice uses: the OCSP
/// response and the issuer it is checked against.
pub const CRT_EXTRAS: [&str; 3] = [".ocsp", ".issuer", ".key"];

/// The name the extra files of a certificate file start with: the file's,
/// without its `.crt` with `ssl-load-extra-del-ext` (HAProxy's
/// `ssl_sock_load_files_into_ckch`).
pub fn extra_base(crt: &str, del_ext: bool) -> &str {
    match crt.strip_suffix(".crt") {
        Some(b) if del_ext => b,
        _ => crt,
    }
}

impl TlsFiles {
    /// The files and directories `cfg` names (`crt`, `ca-file`), with
    /// `crt-base` / `ca-base` applied.
    pub fn paths(cfg: &crate::cfgparse::Config) -> Vec<TlsPath> {
        let mut out = Vec::new();
        for p in cfg.proxies.iter().filter(|p| !p.disabled) {
            let file = |base: &Option<String>, p: &String| TlsPath {
                path: base_path(base, p),
                dir_ok: false,
                extras: false,
            };
            for b in p.binds.iter().filter(|b| b.tls.ssl) {
                for c in &b.tls.crts {
                    out.push(TlsPath {
                        path: base_path(&cfg.global.crt_base, c),
                        dir_ok: true,
                        extras: true,
                    });
                }
                // The list itself is read as written (HAProxy 2.6 applies
                // `crt-base` to the certificates it names, not to it).
                for l in &b.tls.crt_lists {
                    out.push(file(&None, l));
                }
                if let Some(k) = &b.tls.tls_ticket_keys {
                    out.push(file(&None, k));
                }
                // Read with any `verify`: HAProxy loads them into its
                // CA/CRL store as it parses them (`show ssl ca-file`).
                for f in b
                    .tls
                    .common
                    .ca_file
                    .iter()
                    .chain(&b.tls.crl_file)
                    .chain(&b.tls.ca_verify_file)
                {
                    out.push(file(&cfg.global.ca_base, f));
                }
            }
            for s in p.servers.iter().filter(|s| s.opts.tls.ssl) {
                for ca in s.opts.tls.common.ca_file.iter().chain(&s.opts.tls.crl_file) {
                    out.push(file(&cfg.global.ca_base, ca));
                }
                if let Some(crt) = &s.opts.tls.crt {
                    out.push(file(&cfg.global.crt_base, crt));
                }
            }
        }
        out
    }

    /// The files the crt-lists named by `cfg` name in turn, once the
    /// driver read the lists themselves (the paths of [`TlsFiles::paths`]):
    /// the certificate of each line, the `ca-file` and `crl-file` of its
    /// options; and the warnings of the lists (suites left out of a
    /// `ciphers` list), for the driver to print. A list that does not
    /// parse names nothing here (its error is reported when the engine
    /// builds the listener).
    pub fn crt_list_paths(
        &self,
        cfg: &crate::cfgparse::Config,
    ) -> (Vec<TlsPath>, Vec<crate::cfgparse::Diagnostic>) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        for p in cfg.proxies.iter().filter(|p| !p.disabled) {
            for b in p.binds.iter().filter(|b| b.tls.ssl) {
                for path in &b.tls.crt_lists {
                    let Ok(text) = self.get(path) else {
                        continue;
                    };
                    let mut d = crate::cfgparse::Diags::default();
                    let Ok(entries) = crate::cfgparse::tls::parse_crt_list(path, text, &mut d)
                    else {
                        continue;
                    };
                    warnings.extend(d.warnings);
                    for e in entries {
                        out.push(TlsPath {
                            path: base_path(&cfg.global.crt_base, &e.crt),
                            dir_ok: false,
                            extras: true,
                        });
                        if let Some(o) = &e.opts {
                            for f in o
                                .common
                                .ca_file
                                .iter()
                                .chain(&o.crl_file)
                                .chain(&o.ca_verify_file)
                            {
                                out.push(TlsPath {
                                    path: base_path(&cfg.global.ca_base, f),
                                    dir_ok: false,
                                    extras: false,
                                });
                            }
                        }
                    }
                }
            }
        }
        (out, warnings)
    }

    pub(crate) fn get(&self, path: &str) -> Result<&[u8], String> {
        match self.files.get(path) {
            Some(Ok(b)) => Ok(b),
            Some(Err(e)) => Err(e.clone()),
            None => Err("not read by the driver".into()),
        }
    }
}

/// `path` under `base` unless it is absolute (HAProxy's `crt-base` and
/// `ca-base`).
pub fn base_path(base: &Option<String>, path: &str) -> String {
    match base {
        Some(b) if !path.starts_with('/') => format!("{}/{path}", b.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

/// Wall-clock time for rustls (certificate validity), from the engine's
/// clock: `EngineOptions::epoch_ms` plus the engine's `now`, stored by
/// the engine at every entry point. Never the OS clock.
#[derive(Debug, Default)]
pub struct EngineClock(AtomicU64);

impl EngineClock {
    pub(crate) fn set_ms(&self, ms: u64) {
        self.0.store(ms, Ordering::Relaxed);
    }
}

impl rustls::time_provider::TimeProvider for EngineClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(
            core::time::Duration::from_millis(self.0.load(Ordering::Relaxed)),
        ))
    }
}

/// The TLS session cache shared by every `bind ... ssl` line (HAProxy's
/// shared `sh_ssl_sess` cache, `tune.ssl.cachesize` entries kept at
/// most `tune.ssl.lifetime`): TLS 1.2 session IDs and TLS 1.3 stateful
/// tickets point into it. The oldest entry goes first when it is full;
/// an entry older than the lifetime is never resumed. Ordered maps and
/// the engine's clock: nothing here depends on a random seed or the OS
/// clock.
#[derive(Debug)]
pub struct SessionCache {
    clock: Arc<EngineClock>,
    max: usize,
    lifetime_ms: u64,
    // rustls's trait takes `&self` and wants `Sync`; the engine runs on
    // one thread, so the lock is never contended.
    #[allow(clippy::disallowed_types)]
    inner: std::sync::Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    /// key -> (session, stored at (ms), insertion number).
    map: BTreeMap<Vec<u8>, (Vec<u8>, u64, u64)>,
    /// insertion number -> key: eviction order.
    order: BTreeMap<u64, Vec<u8>>,
    seq: u64,
}

impl SessionCache {
    pub fn new(clock: Arc<EngineClock>, entries: u32, lifetime_s: u32) -> SessionCache {
        SessionCache {
            clock,
            max: entries as usize,
            lifetime_ms: u64::from(lifetime_s) * 1000,
            inner: Default::default(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.clock.0.load(Ordering::Relaxed)
    }

    /// `tune.ssl.lifetime`, in seconds: also the lifetime of tickets.
    pub fn lifetime_s(&self) -> u32 {
        (self.lifetime_ms / 1000) as u32
    }

    fn lookup(&self, key: &[u8], take: bool) -> Option<Vec<u8>> {
        let now = self.now_ms();
        let mut c = self.inner.lock().ok()?;
        let (_, at, seq) = c.map.get(key)?;
        let (at, seq) = (*at, *seq);
        let fresh = now.saturating_sub(at) < self.lifetime_ms;
        if take || !fresh {
            c.order.remove(&seq);
            let (v, _, _) = c.map.remove(key)?;
            return fresh.then_some(v);
        }
        c.map.get(key).map(|(v, _, _)| v.clone())
    }

    /// Entries held now (tests).
    pub fn len(&self) -> usize {
        self.inner.lock().map(|c| c.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl rustls::server::StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        if self.max == 0 {
            return false;
        }
        let now = self.now_ms();
        let Ok(mut c) = self.inner.lock() else {
            return false;
        };
        if let Some((_, _, seq)) = c.map.remove(&key) {
            c.order.remove(&seq);
        }
        while c.map.len() >= self.max {
            let Some((_, old)) = c.order.pop_first() else {
                break;
            };
            c.map.remove(&old);
        }
        c.seq += 1;
        let seq = c.seq;
        c.order.insert(seq, key.clone());
        c.map.insert(key, (value, now, seq));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key, false)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookup(key, true)
    }

    fn can_cache(&self) -> bool {
        self.max > 0 && self.lifetime_ms > 0
    }
}

// --------------------------------------------------------------------------
// Contexts built from the configuration (HAProxy's `SSL_CTX` per bind
// line and per server).

/// One certificate with the names it serves (`struct ckch_inst`).
#[derive(Debug)]
struct CertEntry {
    /// The file it was loaded from.
    file: String,
    key: Arc<CertifiedKey>,
    /// The subject alternative DNS names, lower case.
    names: Vec<String>,
    /// `names` are a crt-list line's filters (kept when the certificate
    /// is replaced at run time).
    filtered: bool,
    /// The crt-list line's negative filters (`!name`).
    negative: Vec<String>,
    /// The crt-list file and line it comes from (HAProxy's
    /// `crtlist_entry`), `None` for a `crt`.
    list: Option<(String, u32)>,
    /// `<file>.ocsp` was there (HAProxy's `ckch->ocsp_response`).
    ocsp: Option<OcspEntry>,
}

/// A certificate's OCSP response (HAProxy's `struct certificate_ocsp`):
/// its certificate ID, the response as loaded (shown on the CLI), and,
/// when the response passed the checks, the certificate with the
/// response stapled and until when it is sent.
#[derive(Debug, Clone)]
pub struct OcspEntry {
    pub id: super::ocsp::CertId,
    pub der: Vec<u8>,
    staple: Option<(Arc<CertifiedKey>, i64)>,
}

impl OcspEntry {
    /// The checked response of the certificate's ID (it may have
    /// expired since).
    pub fn response(&self) -> Option<&[u8]> {
        self.staple.as_ref().and_then(|(k, _)| k.ocsp.as_deref())
    }

    /// The checked response: stapled from now on, until `nextUpdate`
    /// minus [`super::ocsp::MAX_SKEW_S`].
    fn set(&mut self, key: &CertifiedKey, der: Vec<u8>, r: &super::ocsp::Response) {
        self.staple_on(
            key,
            &der,
            r.next_update.unwrap_or(0) - super::ocsp::MAX_SKEW_S,
        );
        self.der = der;
    }

    /// Staples `der` on `key` until `expire` (Unix seconds).
    fn staple_on(&mut self, key: &CertifiedKey, der: &[u8], expire: i64) {
        let mut k = key.clone();
        k.ocsp = Some(der.to_vec());
        self.staple = Some((Arc::new(k), expire));
    }
}

/// The OCSP responses by certificate ID while the listeners are built
/// (HAProxy's `cert_ocsp_tree`): each response that passes the checks
/// replaces the one of its ID (the last file loaded wins, as in HAProxy
/// 2.6; `None`: none passed), and every certificate with that ID
/// staples it ([`BindCtx::apply_ocsp`]).
pub type OcspStore = BTreeMap<Vec<u8>, Option<(Vec<u8>, i64)>>;

/// Certificate selection by SNI (HAProxy's `ssl_sock_switchctx_cbk` /
/// `ssl_sock_chose_sni_ctx`): exact names first, then wildcards
/// (`*.example.com` for `www.example.com`), among them the first
/// certificate whose key the client can use (RSA or ECDSA, from its
/// signature algorithms); without a match the default certificate (the
/// first loaded), or nothing with `strict-sni`. A name that only a
/// crt-list's negative filter (`!name`) names matches nothing: it is not
/// looked up among the wildcards either (as HAProxy).
///
/// The table sits behind a lock so that `commit ssl cert` can replace a
/// certificate (and the names it serves) for the handshakes that follow,
/// while connections already made keep theirs (rustls holds the
/// `CertifiedKey` it picked).
#[derive(Debug)]
pub struct SniResolver {
    table: std::sync::RwLock<SniTable>,
    strict: bool,
    /// Whether an OCSP response is still fresh enough to staple.
    clock: Arc<EngineClock>,
    /// The certificate the last `resolve` gave. rustls calls `resolve`
    /// from inside the `process_new_packets` / `into_connection` calls of
    /// [`Tls::absorb`] and does not tell a server connection which
    /// certificate it presented: [`Tls`] takes it from here right after
    /// such a call (the `ssl_f_*` fetches). The resolver is its engine's
    /// (one per thread), so no other handshake runs in between.
    served: std::sync::RwLock<Option<Arc<CertifiedKey>>>,
}

impl SniResolver {
    /// Forgets the certificate of the last `resolve`.
    fn served_clear(&self) {
        self.served
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Takes the certificate of the last `resolve`.
    fn served_take(&self) -> Option<Arc<CertifiedKey>> {
        self.served
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

#[derive(Debug)]
struct SniTable {
    certs: Vec<CertEntry>,
    exact: BTreeMap<String, Vec<usize>>,
    wild: BTreeMap<String, Vec<usize>>,
    /// The negative filters of crt-list lines (`!name`).
    neg_exact: std::collections::BTreeSet<String>,
}

impl SniTable {
    fn new(certs: Vec<CertEntry>) -> SniTable {
        let mut t = SniTable {
            certs,
            exact: BTreeMap::new(),
            wild: BTreeMap::new(),
            neg_exact: Default::default(),
        };
        t.index();
        t
    }

    /// Rebuilds the name maps from the certificates' names.
    fn index(&mut self) {
        self.exact.clear();
        self.wild.clear();
        self.neg_exact = self
            .certs
            .iter()
            .flat_map(|c| c.negative.iter().cloned())
            .collect();
        for (i, c) in self.certs.iter().enumerate() {
            for n in &c.names {
                match n.strip_prefix("*.") {
                    Some(rest) => self.wild.entry(rest.to_string()).or_default().push(i),
                    None => self.exact.entry(n.clone()).or_default().push(i),
                }
            }
        }
    }
}

impl SniResolver {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, SniTable> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The certificate files, in load order, with their certificate.
    fn files(&self) -> Vec<(String, Arc<CertifiedKey>)> {
        self.read()
            .certs
            .iter()
            .map(|c| (c.file.clone(), c.key.clone()))
            .collect()
    }

    /// Replaces the certificate loaded from `file` by `key` (serving the
    /// names `names`, unless a crt-list line's filters name them) for the
    /// handshakes to come; the number of entries replaced.
    fn replace(&self, file: &str, key: &Arc<CertifiedKey>, names: &[String]) -> usize {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for c in t.certs.iter_mut().filter(|c| c.file == file) {
            c.key = key.clone();
            if !c.filtered {
                c.names = names.to_vec();
            }
            // The response stays stapled only for the certificate it was
            // issued for (same serial): re-stapled on the new key.
            if let Some(o) = &mut c.ocsp {
                let serial = key
                    .cert
                    .first()
                    .and_then(|d| super::x509::cert_info(d.as_ref()))
                    .map(|ci| ci.serial.to_vec());
                o.staple = match (&o.staple, serial) {
                    (Some((old, exp)), Some(sn)) if sn == o.id.serial => {
                        let mut k = (**key).clone();
                        k.ocsp = old.ocsp.clone();
                        Some((Arc::new(k), *exp))
                    }
                    _ => None,
                };
            }
            n += 1;
        }
        if n > 0 {
            t.index();
        }
        n
    }
}

impl SniTable {
    fn pick(&self, list: &[usize], ch: &ClientHello<'_>) -> Option<usize> {
        list.iter()
            .copied()
            .find(|&i| {
                self.certs[i]
                    .key
                    .key
                    .choose_scheme(ch.signature_schemes())
                    .is_some()
            })
            .or_else(|| list.first().copied())
    }

    /// The certificate for a ClientHello: its index, `None` for none
    /// (`strict-sni`).
    fn select(&self, ch: &ClientHello<'_>, strict: bool) -> Option<usize> {
        if let Some(name) = ch.server_name() {
            let name = name.to_ascii_lowercase();
            match self.exact.get(&name) {
                Some(l) if !l.is_empty() => return self.pick(l, ch),
                _ => {}
            }
            if !self.neg_exact.contains(&name) {
                if let Some((_, rest)) = name.split_once('.') {
                    match self.wild.get(rest) {
                        Some(l) if !l.is_empty() => return self.pick(l, ch),
                        _ => {}
                    }
                }
            }
        }
        if strict {
            return None;
        }
        // The default certificate, or one of the same name the client
        // can use.
        let first = self.certs.first()?;
        let same: Vec<usize> = (0..self.certs.len())
            .filter(|&i| self.certs[i].names == first.names)
            .collect();
        self.pick(&same, ch)
    }
}

impl SniResolver {
    fn select(&self, ch: &ClientHello<'_>) -> Option<usize> {
        self.read().select(ch, self.strict)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, ch: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = self.resolve_key(ch);
        *self.served.write().unwrap_or_else(|e| e.into_inner()) = key.clone();
        key
    }
}

impl SniResolver {
    fn resolve_key(&self, ch: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let t = self.read();
        let now_s = (self.clock.0.load(Ordering::Relaxed) / 1000) as i64;
        t.select(&ch, self.strict).map(|i| {
            let c = &t.certs[i];
            match c.ocsp.as_ref().and_then(|o| o.staple.as_ref()) {
                // `ssl_sock_ocsp_stapling_cbk`: not after its expiry.
                Some((k, expire)) if now_s <= *expire => k.clone(),
                _ => c.key.clone(),
            }
        })
    }
}

impl SniResolver {
    /// The OCSP entries of the certificates, by file.
    fn ocsp(&self) -> Vec<(String, OcspEntry)> {
        self.read()
            .certs
            .iter()
            .filter_map(|c| Some((c.file.clone(), c.ocsp.clone()?)))
            .collect()
    }

    /// `set ssl ocsp-response`: `der` (checked) replaces the response of
    /// every certificate whose ID it names; how many.
    fn update_ocsp(&self, der: &[u8], r: &super::ocsp::Response) -> usize {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for c in t.certs.iter_mut() {
            let key = c.key.clone();
            if let Some(o) = c.ocsp.as_mut().filter(|o| o.id == r.id) {
                o.set(&key, der.to_vec(), r);
                n += 1;
            }
        }
        n
    }
}

/// rustls's error when the certificate resolver found none (`strict-sni`
/// and an unknown name).
const NO_CERT_RESOLVED: &str = "no server certificate chain resolved";
/// TLS alert descriptions (RFC 8446 §6).
const ALERT_PROTOCOL_VERSION: u8 = 70;
const ALERT_UNRECOGNIZED_NAME: u8 = 112;

/// The TLS context of a `bind` line (HAProxy's `bind_conf` SSL context
/// and the `ckch_inst` of each of its certificates).
#[derive(Debug)]
pub struct BindCtx {
    /// The certificates, by file (`crt-base` applied): `show ssl cert`,
    /// `commit ssl cert`.
    resolver: Arc<SniResolver>,
    /// The rustls contexts; `commit ssl ca-file` / `crl-file` replaces
    /// them (new handshakes only).
    live: std::sync::RwLock<Arc<BindLive>>,
    /// What the contexts are made of, to make them again.
    recipe: BindRecipe,
    /// What loading the certificates warned about (OCSP responses
    /// ignored), for the driver to print.
    pub warnings: Vec<String>,
    /// The `bind` line's file and line (`del ssl crt-list` names it),
    /// set by the engine.
    pub place: (String, u32),
}

/// The rustls side of a `bind` line, made from its settings and the
/// CA/CRL store.
#[derive(Debug)]
struct BindLive {
    config: Arc<ServerConfig>,
    /// When crt-list lines carry options of their own: the context to
    /// switch to once the ClientHello chose a certificate (HAProxy's
    /// per-line `SSL_CTX`, `ssl_sock_switchctx_set`).
    switch: Option<Arc<CtxSwitch>>,
    /// `crt-ignore-err`: how `ssl_c_verify` finds the error let through.
    verify: Option<Arc<VerifyCheck>>,
}

/// The inputs of a `bind` line's rustls contexts.
#[derive(Debug)]
struct BindRecipe {
    /// The driver's environment, without its file contents (the
    /// CA/CRL files come from `cafiles`).
    env: TlsEnv,
    cafiles: Arc<CafileStore>,
    clock: Arc<EngineClock>,
    ca_base: Option<String>,
    sessions: Arc<SessionCache>,
    t: BindTls,
    ticketer: Option<Arc<super::ticket::Ticketer>>,
    /// Per certificate: its crt-list line's settings, if any (`add ssl
    /// crt-list` and `del ssl crt-list` change it with the certificates).
    line_tls: std::sync::RwLock<Vec<Option<(BindTls, String, u32)>>>,
}

/// Per-certificate contexts of a `bind` line with crt-list options.
#[derive(Debug)]
pub(crate) struct CtxSwitch {
    resolver: Arc<SniResolver>,
    /// Per certificate of `resolver`: its line's context, or `None` for
    /// the bind line's.
    configs: Vec<Option<LineCtx>>,
    base: Arc<ServerConfig>,
}

/// A crt-list line's context and, with `crt-ignore-err`, how
/// `ssl_c_verify` finds the error its verifier let through.
type LineCtx = (Arc<ServerConfig>, Option<Arc<VerifyCheck>>);

impl CtxSwitch {
    /// The context of the certificate the ClientHello chose: its line's
    /// (with the line's verify check), or the `bind` line's (`None`).
    fn config_for(&self, ch: &ClientHello<'_>) -> Option<LineCtx> {
        self.resolver
            .select(ch)
            .and_then(|i| self.configs.get(i).cloned().flatten())
    }
}

/// Why a `bind` line's TLS context could not be built: `at` names the
/// crt-list file and line when the fault is there.
#[derive(Debug)]
pub struct BindCtxError {
    pub at: Option<(String, u32)>,
    pub message: String,
}

impl From<String> for BindCtxError {
    fn from(message: String) -> BindCtxError {
        BindCtxError { at: None, message }
    }
}

impl From<&str> for BindCtxError {
    fn from(message: &str) -> BindCtxError {
        BindCtxError {
            at: None,
            message: message.into(),
        }
    }
}

impl BindCtx {
    /// The context of a `bind ... ssl crt ...` / `crt-list ...` line.
    /// The warnings of the crt-list files (suites left out of a list)
    /// are the driver's to print ([`TlsFiles::crt_list_paths`]).
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        env: &TlsEnv,
        cafiles: &Arc<CafileStore>,
        clock: &Arc<EngineClock>,
        global: &Global,
        sessions: &Arc<SessionCache>,
        t: &BindTls,
        ocsp_store: &mut OcspStore,
        ticketer: Option<Arc<super::ticket::Ticketer>>,
    ) -> Result<BindCtx, BindCtxError> {
        let crt_base = &global.crt_base;
        let provider = provider_for(env, &t.common);
        if provider.kx_groups.is_empty() {
            return Err("no key exchange group left ('curves').".into());
        }
        let mut certs = Vec::new();
        let mut warnings = Vec::new();
        let now_s = (clock.0.load(Ordering::Relaxed) / 1000) as i64;
        let mut load = |path: &str| {
            load_pem(
                env,
                &provider,
                path,
                global,
                now_s,
                &mut warnings,
                &mut *ocsp_store,
            )
        };
        // Per certificate: its crt-list line's settings, if any.
        let mut line_tls: Vec<Option<(BindTls, String, u32)>> = Vec::new();
        for crt in &t.crts {
            let path = base_path(crt_base, crt);
            match env.files.dirs.get(&path) {
                Some(list) => {
                    for f in list {
                        certs.push(load(f)?);
                        line_tls.push(None);
                    }
                }
                None => {
                    certs.push(load(&path)?);
                    line_tls.push(None);
                }
            }
        }
        for path in &t.crt_lists {
            let text = env
                .files
                .get(path)
                .map_err(|e| format!("cannot open the crt-list file '{path}' : {e}."))?;
            let mut d = crate::cfgparse::Diags::default();
            let entries =
                crate::cfgparse::tls::parse_crt_list(path, text, &mut d).map_err(|e| {
                    BindCtxError {
                        at: Some((e.file, e.line)),
                        message: if e.message.starts_with("crt-list : ") {
                            e.message
                        } else {
                            format!("crt-list : {}", e.message)
                        },
                    }
                })?;
            for e in entries {
                let at = |m: String| BindCtxError {
                    at: Some((path.clone(), e.line)),
                    message: m,
                };
                let mut c = load(&base_path(crt_base, &e.crt)).map_err(at)?;
                if !e.filters.is_empty() {
                    c.names = e.filters.clone();
                    c.filtered = true;
                }
                c.negative = e.negative.clone();
                c.list = Some((path.clone(), e.line));
                certs.push(c);
                line_tls.push(e.opts.as_ref().map(|o| {
                    let lt = o.apply(t);
                    (lt, path.clone(), e.line)
                }));
            }
        }
        if certs.is_empty() {
            return Err("no SSL certificate found in the 'crt' / 'crt-list' locations.".into());
        }
        let resolver = Arc::new(SniResolver {
            table: std::sync::RwLock::new(SniTable::new(certs)),
            strict: t.strict_sni,
            clock: clock.clone(),
            served: std::sync::RwLock::new(None),
        });
        let recipe = BindRecipe {
            env: TlsEnv {
                files: TlsFiles::default(),
                ..env.clone()
            },
            cafiles: cafiles.clone(),
            clock: clock.clone(),
            ca_base: global.ca_base.clone(),
            sessions: sessions.clone(),
            t: t.clone(),
            ticketer,
            line_tls: std::sync::RwLock::new(line_tls),
        };
        // Every CA and CRL file named goes into the store, used or not
        // (HAProxy loads them when it parses the keyword).
        for t in recipe.per_cert().iter().chain([&recipe.t]) {
            recipe.preload(env, t)?;
        }
        let live = recipe.make(&resolver)?;
        Ok(BindCtx {
            resolver,
            live: std::sync::RwLock::new(Arc::new(live)),
            recipe,
            warnings,
            place: Default::default(),
        })
    }

    fn live(&self) -> Arc<BindLive> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The rustls context of the line (the `bind` line's settings).
    pub fn config(&self) -> Arc<ServerConfig> {
        self.live().config.clone()
    }

    /// How many of the line's certificate contexts (HAProxy's
    /// `ckch_inst`) verify client certificates with the CA or CRL file
    /// `path` (`verify optional|required`, as HAProxy's
    /// `ckch_inst_add_cafile_link`).
    pub fn ca_uses(&self, path: &str) -> usize {
        let r = &self.recipe;
        r.per_cert()
            .iter()
            .filter(|t| t.verify != BindVerify::None && names(&r.ca_base, t, path))
            .count()
    }

    /// Whether the line, or one of its crt-list lines, names the CA or
    /// CRL file `path` (its contexts are made again when it changes).
    pub fn names_ca(&self, path: &str) -> bool {
        let r = &self.recipe;
        r.per_cert().iter().any(|t| names(&r.ca_base, t, path))
    }

    /// `commit ssl ca-file` / `crl-file`: the contexts made again from
    /// the store, for the handshakes to come (connections already made
    /// keep theirs).
    pub fn rebuild_verify(&self) -> Result<(), String> {
        let live = self.recipe.make(&self.resolver).map_err(|e| e.message)?;
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(live);
        Ok(())
    }

    /// The certificate files of the line, in load order, with their
    /// certificate (HAProxy's `ckch_inst` of the line).
    pub fn cert_files(&self) -> Vec<(String, Arc<CertifiedKey>)> {
        self.resolver.files()
    }

    /// `commit ssl cert`: the certificate of `file` becomes `key` for the
    /// handshakes to come; the number of certificates replaced.
    pub fn replace_cert(&self, file: &str, key: &Arc<CertifiedKey>) -> usize {
        self.resolver.replace(file, key, &cert_names(key))
    }

    /// The crt-list files of the line.
    pub fn crt_lists(&self) -> &[String] {
        &self.recipe.t.crt_lists
    }

    /// Whether the line serves no certificate to a client whose SNI
    /// matches none (`strict-sni`).
    pub fn strict_sni(&self) -> bool {
        self.recipe.t.strict_sni
    }

    /// Whether the crt-list line `line` of `list` is the line's default
    /// certificate (the first loaded, HAProxy's `ckch_inst.is_default`).
    pub fn is_default(&self, list: &str, line: u32) -> bool {
        self.resolver
            .read()
            .certs
            .first()
            .and_then(|c| c.list.as_ref())
            == Some(&(list.to_string(), line))
    }

    /// `add ssl crt-list`: a new line of `list` serving `key` (from the
    /// certificate store, `file`) for its filters, or its own names, with
    /// its options on top of the line's; the contexts are made again for
    /// the handshakes to come. Nothing changes when they cannot be made
    /// (a CA or CRL file that is not in the store): the error.
    pub fn add_list_entry(
        &self,
        list: &str,
        line: u32,
        file: &str,
        key: &Arc<CertifiedKey>,
        e: &crate::cfgparse::tls::CrtListEntry,
    ) -> Result<(), String> {
        let names = if e.filters.is_empty() {
            cert_names(key)
        } else {
            e.filters.clone()
        };
        let lt = e
            .opts
            .as_ref()
            .map(|o| (o.apply(&self.recipe.t), list.to_string(), line));
        if let Some((t, _, _)) = &lt {
            self.recipe.check_cas(t)?;
        }
        {
            let mut t = self
                .resolver
                .table
                .write()
                .unwrap_or_else(|e| e.into_inner());
            t.certs.push(CertEntry {
                file: file.to_string(),
                key: key.clone(),
                names,
                filtered: !e.filters.is_empty(),
                negative: e.negative.clone(),
                list: Some((list.to_string(), line)),
                ocsp: None,
            });
            t.index();
            self.recipe
                .line_tls
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push(lt);
        }
        if let Err(e) = self.rebuild_verify() {
            self.del_list_entry(list, line);
            return Err(e);
        }
        Ok(())
    }

    /// `del ssl crt-list`: the line `line` of `list` no longer serves
    /// (handshakes to come); whether it was there.
    pub fn del_list_entry(&self, list: &str, line: u32) -> bool {
        let at = (list.to_string(), line);
        let removed = {
            let mut t = self
                .resolver
                .table
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let Some(i) = t.certs.iter().position(|c| c.list.as_ref() == Some(&at)) else {
                return false;
            };
            t.certs.remove(i);
            t.index();
            let mut lt = self
                .recipe
                .line_tls
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if i < lt.len() {
                lt.remove(i);
            }
            true
        };
        // The contexts made without the line cannot fail where they were
        // made with it.
        let _ = self.rebuild_verify();
        removed
    }

    /// Once every listener is built: each certificate with an OCSP file
    /// staples the response its certificate ID ended up with.
    pub fn apply_ocsp(&self, store: &OcspStore) {
        let mut t = self
            .resolver
            .table
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for c in t.certs.iter_mut() {
            let key = c.key.clone();
            if let Some(o) = &mut c.ocsp {
                match store.get(&o.id.key()) {
                    Some(Some((der, expire))) => o.staple_on(&key, der, *expire),
                    _ => o.staple = None,
                }
            }
        }
    }

    /// The OCSP entries of the line's certificates, by file.
    pub fn ocsp_entries(&self) -> Vec<(String, OcspEntry)> {
        self.resolver.ocsp()
    }

    /// `set ssl ocsp-response`: the new response of the certificates it
    /// names; how many.
    pub fn update_ocsp(&self, der: &[u8], r: &super::ocsp::Response) -> usize {
        self.resolver.update_ocsp(der, r)
    }
}

impl BindRecipe {
    /// The rustls contexts of the line (also again, after a commit of a
    /// CA or CRL file it uses).
    fn make(&self, resolver: &Arc<SniResolver>) -> Result<BindLive, BindCtxError> {
        let (env, clock, sessions, t) = (&self.env, &self.clock, &self.sessions, &self.t);
        let (cafiles, ca_base) = (&*self.cafiles, &self.ca_base);
        let provider = provider_for(env, &t.common);
        // Stateless tickets unless `no-tls-tickets` (the line's own for a
        // crt-list line with options).
        let tickets = |config: &mut ServerConfig, off: bool| {
            if let Some(tk) = self.ticketer.as_ref().filter(|_| !off) {
                config.ticketer = tk.clone();
            }
        };
        let mut base = server_config(
            env, cafiles, clock, ca_base, sessions, t, &provider, resolver,
        )?;
        tickets(&mut base, t.common.no_tls_tickets);
        let base = Arc::new(base);
        let line_tls = self.line_tls();
        let switch = if line_tls.iter().any(Option::is_some) {
            let mut configs = Vec::new();
            for l in &line_tls {
                configs.push(match l {
                    None => None,
                    Some((lt, file, line)) => {
                        let at = |message: String| BindCtxError {
                            at: Some((file.clone(), *line)),
                            message,
                        };
                        let p = provider_for(env, &lt.common);
                        if p.kx_groups.is_empty() {
                            return Err(at(
                                "crt-list : no key exchange group left ('curves').".into()
                            ));
                        }
                        if lt.verify != BindVerify::None && lt.common.ca_file.is_none() {
                            return Err(at("crt-list : verify is enabled but no CA file specified (use 'ca-file')."
                                .into()));
                        }
                        let mut c = server_config(
                            env, cafiles, clock, ca_base, sessions, lt, &p, resolver,
                        )
                        .map_err(|m| at(format!("crt-list : {m}")))?;
                        tickets(&mut c, lt.common.no_tls_tickets);
                        let check = verify_check(env, cafiles, &p, ca_base, lt, clock)
                            .map_err(|m| at(format!("crt-list : {m}")))?;
                        Some((Arc::new(c), check))
                    }
                });
            }
            Some(Arc::new(CtxSwitch {
                resolver: resolver.clone(),
                configs,
                base: base.clone(),
            }))
        } else {
            None
        };
        let verify = verify_check(env, cafiles, &provider, ca_base, t, clock)?;
        Ok(BindLive {
            config: base,
            switch,
            verify,
        })
    }

    /// Whether the CA and CRL files `t` names are in the store (a line
    /// added on the CLI cannot read files): HAProxy's error otherwise.
    fn check_cas(&self, t: &BindTls) -> Result<(), String> {
        let base = &self.ca_base;
        for (kw, f) in t
            .common
            .ca_file
            .iter()
            .map(|f| ("ca-file", f))
            .chain(t.ca_verify_file.iter().map(|f| ("ca-verify-file", f)))
            .chain(t.crl_file.iter().map(|f| ("crl-file", f)))
        {
            let path = base_path(base, f);
            if self.cafiles.get(&path).and_then(|e| e.ders).is_none() {
                return Err(format!("'{kw}' : unable to load {path}"));
            }
        }
        Ok(())
    }

    /// Loads the CA and CRL files `t` names into the store.
    fn preload(&self, env: &TlsEnv, t: &BindTls) -> Result<(), String> {
        let cafiles = &*self.cafiles;
        let base = &self.ca_base;
        for ca in t.common.ca_file.iter().chain(&t.ca_verify_file) {
            load_roots(env, cafiles, &base_path(base, ca), &mut Vec::new())?;
        }
        if let Some(crl) = &t.crl_file {
            load_crls(env, cafiles, &base_path(base, crl))?;
        }
        Ok(())
    }

    /// The settings of each certificate's context: the line's, or the
    /// `bind` line's.
    fn per_cert(&self) -> Vec<BindTls> {
        self.line_tls()
            .into_iter()
            .map(|l| l.map_or_else(|| self.t.clone(), |(lt, _, _)| lt))
            .collect()
    }

    fn line_tls(&self) -> Vec<Option<(BindTls, String, u32)>> {
        self.line_tls
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// With `verify` and `crt-ignore-err`: how `ssl_c_verify` finds the
/// error let through.
fn verify_check(
    env: &TlsEnv,
    cafiles: &CafileStore,
    provider: &Arc<CryptoProvider>,
    ca_base: &Option<String>,
    t: &BindTls,
    clock: &Arc<EngineClock>,
) -> Result<Option<Arc<VerifyCheck>>, String> {
    if t.verify == BindVerify::None || t.crt_ignore_err == Default::default() {
        return Ok(None);
    }
    Ok(Some(Arc::new(VerifyCheck {
        verifier: client_verifier(env, cafiles, provider, ca_base, t)?,
        clock: clock.clone(),
    })))
}

/// Whether a `bind` (or crt-list line) context's settings name `path`.
fn names(ca_base: &Option<String>, t: &BindTls, path: &str) -> bool {
    ca_paths(ca_base, &t.common, &[&t.ca_verify_file, &t.crl_file])
        .iter()
        .any(|p| p == path)
}

/// The CA and CRL files a context's settings name (`ca-base` applied).
fn ca_paths(ca_base: &Option<String>, c: &TlsCommon, more: &[&Option<String>]) -> Vec<String> {
    c.ca_file
        .iter()
        .chain(more.iter().copied().flatten())
        .map(|p| base_path(ca_base, p))
        .collect()
}

/// The DNS names a certificate serves (its subject alternative names),
/// lower case.
pub fn cert_names(key: &CertifiedKey) -> Vec<String> {
    key.cert
        .first()
        .and_then(|c| super::chain::sni_names(c))
        .unwrap_or_default()
}

/// A chain and, when the payload holds one, its key.
pub type CertPayload = (
    Vec<CertificateDer<'static>>,
    Option<Arc<dyn rustls::sign::SigningKey>>,
);

/// A certificate file's contents as `set ssl cert` gets them (HAProxy's
/// `ssl_sock_load_pem_into_ckch` from a buffer): the chain, and the key
/// when the payload holds one (else the caller keeps the current one).
pub fn parse_cert_payload(
    provider: &CryptoProvider,
    path: &str,
    pem: &[u8],
) -> Result<CertPayload, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("unable to load certificate from file '{path}'.\n"))?;
    if chain.is_empty() || super::chain::sni_names(&chain[0]).is_none() {
        return Err(format!("unable to load certificate from file '{path}'.\n"));
    }
    let key = match PrivateKeyDer::from_pem_slice(pem) {
        Ok(der) => Some(
            provider
                .key_provider
                .load_private_key(der)
                .map_err(|_| format!("unable to load private key from file '{path}'.\n"))?,
        ),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => None,
        Err(_) => return Err(format!("unable to load private key from file '{path}'.\n")),
    };
    Ok((chain, key))
}

/// A private key alone (`set ssl cert FILE.key`, HAProxy's
/// `ssl_sock_load_key_into_ckch`).
pub fn parse_key_payload(
    provider: &CryptoProvider,
    path: &str,
    pem: &[u8],
) -> Result<Arc<dyn rustls::sign::SigningKey>, String> {
    let err = || format!("unable to load private key from file '{path}'.\n");
    let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| err())?;
    provider
        .key_provider
        .load_private_key(der)
        .map_err(|_| err())
}

/// A rustls server configuration for the settings `t` (a `bind` line's,
/// or a crt-list line's on top of them).
#[allow(clippy::too_many_arguments)]
fn server_config(
    env: &TlsEnv,
    cafiles: &CafileStore,
    clock: &Arc<EngineClock>,
    ca_base: &Option<String>,
    sessions: &Arc<SessionCache>,
    t: &BindTls,
    provider: &Arc<CryptoProvider>,
    resolver: &Arc<SniResolver>,
) -> Result<ServerConfig, String> {
    let builder = ServerConfig::builder_with_details(provider.clone(), clock.clone())
        .with_protocol_versions(&versions(&t.common))
        .map_err(|e| format!("invalid TLS settings: {e}."))?;
    let builder = match t.verify {
        BindVerify::None => builder.with_no_client_auth(),
        _ => {
            builder.with_client_cert_verifier(client_verifier(env, cafiles, provider, ca_base, t)?)
        }
    };
    let mut config = builder.with_cert_resolver(resolver.clone());
    config.alpn_protocols = alpn(&t.common);
    // The server's order of suites, unless `prefer-client-ciphers`.
    config.ignore_client_order = !t.prefer_client_ciphers;
    // Resumption: the shared session cache (`tune.ssl.cachesize`,
    // `tune.ssl.lifetime`), and stateless tickets unless
    // `no-tls-tickets` (the line's ticketer, set by `BindCtx::build`).
    // Without tickets TLS 1.2 resumes by session ID, TLS 1.3 by tickets
    // that name a cache entry, as OpenSSL does under `SSL_OP_NO_TICKET`.
    config.session_storage = sessions.clone();
    config.ticketer = Arc::new(NoTickets);
    if sessions.max == 0 || sessions.lifetime_ms == 0 {
        config.send_tls13_tickets = 0;
    }
    Ok(config)
}

/// The TLS context of a server.
#[derive(Debug)]
pub struct SrvCtx {
    pub config: Arc<ClientConfig>,
    /// The name sent in SNI and checked against the certificate: `sni`,
    /// else `verifyhost`, else the server's address (checked only when
    /// one of them is set, as HAProxy does).
    pub name: ServerName<'static>,
    /// `crt`: the client certificate's file and the certificate, for
    /// `show ssl cert` and `commit ssl cert`.
    crt: Option<(String, Arc<ClientCert>)>,
    /// The server's session cache (rustls's default one, 256 sessions),
    /// flushed when `commit ssl cert` replaces `crt`.
    sessions: Arc<dyn rustls::client::ClientSessionStore>,
    /// The server certificate's verifier (its chain part is replaced by
    /// `commit ssl ca-file` / `crl-file`).
    verifier: Arc<SrvVerifier>,
    recipe: SrvRecipe,
}

/// The inputs of a server's chain verification.
#[derive(Debug)]
struct SrvRecipe {
    /// Without its file contents (the CA/CRL files come from `cafiles`).
    env: TlsEnv,
    cafiles: Arc<CafileStore>,
    ca_base: Option<String>,
    t: SrvTls,
}

impl SrvCtx {
    /// `alpn h2` exactly: the server is spoken to in HTTP/2 (what a
    /// reverse HTTP bind requires, as HAProxy's `rhttp_bind_listener`).
    pub fn alpn_is_h2_only(&self) -> bool {
        self.config.alpn_protocols == [b"h2".to_vec()]
    }

    /// The ALPN list offered (`alpn`), empty without one.
    pub fn alpn(&self) -> &[Vec<u8>] {
        &self.config.alpn_protocols
    }
}

/// A provider restricted to the configured suites, in the configured
/// order (the server's preference on a `bind` line, as HAProxy's
/// `SSL_OP_CIPHER_SERVER_PREFERENCE`), and to the configured key exchange
/// groups (`curves`), in their order.
fn provider_for(env: &TlsEnv, c: &TlsCommon) -> Arc<CryptoProvider> {
    let mut p = (*env.provider).clone();
    let rank = |name: &str| -> usize {
        let pos = |list: &Option<Vec<String>>, table: &[(&str, &str)]| {
            list.as_ref().and_then(|l| {
                l.iter()
                    .position(|n| table.iter().any(|(o, r)| o == n && *r == name))
            })
        };
        pos(&c.ciphersuites, TLS13_SUITES)
            .or_else(|| pos(&c.ciphers, TLS12_SUITES))
            .unwrap_or(usize::MAX)
    };
    // Stable: unlisted suites keep rustls's order, after the listed ones
    // (TLS 1.3 and 1.2 suites never compete: the version comes first).
    p.cipher_suites
        .sort_by_key(|s| rank(&format!("{:?}", s.suite())));
    if let Some(curves) = &c.curves {
        let name = |g: &&'static dyn rustls::crypto::SupportedKxGroup| format!("{:?}", g.name());
        let mut kept: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
        for want in curves {
            if let Some(g) = p.kx_groups.iter().find(|g| name(g) == *want) {
                kept.push(*g);
            }
        }
        p.kx_groups = kept;
    }
    let allowed = |list: &Option<Vec<String>>, table: &[(&str, &str)], name: &str| match list {
        None => true,
        Some(l) => l
            .iter()
            .any(|n| table.iter().any(|(o, r)| o == n && *r == name)),
    };
    p.cipher_suites.retain(|s| {
        let name = format!("{:?}", s.suite());
        if TLS13_SUITES.iter().any(|(_, r)| *r == name) {
            allowed(&c.ciphersuites, TLS13_SUITES, &name)
        } else {
            allowed(&c.ciphers, TLS12_SUITES, &name)
        }
    });
    Arc::new(p)
}

fn versions(c: &TlsCommon) -> Vec<&'static rustls::SupportedProtocolVersion> {
    tls_versions(c)
        .into_iter()
        .map(|v| match v {
            TlsVer::Tlsv13 => &rustls::version::TLS13,
            _ => &rustls::version::TLS12,
        })
        .collect()
}

fn alpn(c: &TlsCommon) -> Vec<Vec<u8>> {
    c.alpn
        .iter()
        .flatten()
        .map(|p| p.as_bytes().to_vec())
        .collect()
}

/// The certificates of a CA file (`ca-file`), as webpki's trust anchors
/// and as DER (for [`super::chain::ChainCheck`]), from the store
/// ([`CafileStore`]), which reads the driver's copy the first time.
fn load_roots(
    env: &TlsEnv,
    cafiles: &CafileStore,
    path: &str,
    ders: &mut Vec<Vec<u8>>,
) -> Result<rustls::RootCertStore, String> {
    let list = cafiles
        .load(path, CafileKind::Cert, || {
            env.files.get(path).map(<[u8]>::to_vec)
        })
        .map_err(|e| format!("unable to load CA file '{path}' : {e}."))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in list {
        roots
            .add(CertificateDer::from(c.clone()))
            .map_err(|e| format!("unable to load CA file '{path}' : {e}."))?;
        ders.push(c);
    }
    Ok(roots)
}

/// The client certificate verifier of a `bind ... verify
/// optional|required ca-file F [crl-file C]` line (HAProxy sets
/// `X509_V_FLAG_CRL_CHECK_ALL` with a `crl-file`: every certificate of
/// the chain is checked, as webpki does by default).
fn client_verifier(
    env: &TlsEnv,
    cafiles: &CafileStore,
    provider: &Arc<CryptoProvider>,
    ca_base: &Option<String>,
    t: &BindTls,
) -> Result<Arc<IgnoreErrVerifier>, String> {
    let ca = t
        .common
        .ca_file
        .as_ref()
        .ok_or("verify is enabled but no CA file specified.")?;
    let mut anchors = Vec::new();
    let mut roots = load_roots(env, cafiles, &base_path(ca_base, ca), &mut anchors)?;
    // `ca-file` names the CAs in the CertificateRequest; `ca-verify-file`
    // only verifies (HAProxy loads it into the store, not the CA list).
    let hints = roots.subjects();
    if let Some(v) = &t.ca_verify_file {
        roots.extend(load_roots(env, cafiles, &base_path(ca_base, v), &mut anchors)?.roots);
    }
    let mut b = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .clear_root_hint_subjects()
    .add_root_hint_subjects(hints);
    let mut crls = None;
    let mut crls_here = false;
    if let Some(crl) = &t.crl_file {
        let (list, webpki_parses) = load_crls(env, cafiles, &base_path(ca_base, crl))?;
        if webpki_parses {
            b = b.with_crls(list.iter().cloned());
        } else {
            crls_here = true;
        }
        crls = Some(list.iter().map(|c| c.to_vec()).collect());
    }
    let chain = super::chain::ChainCheck {
        anchors,
        crls,
        crls_here,
        algs: provider.signature_verification_algorithms.all,
        crl_legacy_algs: env.crl_legacy_algs,
        purpose: super::chain::EKU_CLIENT,
    };
    if t.verify == BindVerify::Optional {
        b = b.allow_unauthenticated();
    }
    let inner = b
        .build()
        .map_err(|e| format!("unable to use CA file '{ca}' : {e}."))?;
    Ok(Arc::new(IgnoreErrVerifier {
        inner,
        chain,
        sig_algs: provider.signature_verification_algorithms,
        crt: t.crt_ignore_err.clone(),
    }))
}

/// The revocation lists of a CRL file (`crl-file`), from the store, and
/// whether webpki parses every one of them (else, v1 CRLs,
/// `conn/chain.rs` checks revocation).
fn load_crls(
    env: &TlsEnv,
    cafiles: &CafileStore,
    path: &str,
) -> Result<
    (
        Vec<rustls::pki_types::CertificateRevocationListDer<'static>>,
        bool,
    ),
    String,
> {
    let list = cafiles
        .load(path, CafileKind::Crl, || {
            env.files.get(path).map(<[u8]>::to_vec)
        })
        .map_err(|e| format!("unable to load CRL file '{path}' : {e}."))?;
    let crls: Vec<rustls::pki_types::CertificateRevocationListDer<'static>> =
        list.into_iter().map(Into::into).collect();
    let webpki_parses = crls
        .iter()
        .all(|c| webpki::BorrowedCertRevocationList::from_der(c).is_ok());
    Ok((crls, webpki_parses))
}

/// OpenSSL's verify error id (`X509_V_ERR_*`, what `ssl_c_verify` and
/// `crt-ignore-err` speak) for a rustls certificate error. rustls
/// (webpki) reports one error for the whole chain, without the depth of
/// the certificate it is about: Sluice takes every error as the client
/// certificate's own (depth 0), so `crt-ignore-err` applies to it and
/// `ca-ignore-err` to none (stricter than HAProxy, never looser).
pub fn verify_error_id(e: &rustls::Error) -> u32 {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::NotValidYet | C::NotValidYetContext { .. } => 9,
            C::Expired | C::ExpiredContext { .. } => 10,
            C::BadSignature => 7,
            C::Revoked => 23,
            C::UnknownIssuer => 20,
            C::UnknownRevocationStatus => 3,
            C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => 12,
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => 26,
            // X509_V_ERR_UNSPECIFIED.
            _ => 1,
        },
        _ => 1,
    }
}

/// [`verify_error_id`] for a chain: an unknown issuer of a client that
/// sent its certificate alone is OpenSSL's 21
/// (`X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE`, "unable to verify the
/// first certificate"), as HAProxy 2.6 reports it (`tests/tls.rs`,
/// `v1_certificates_side_by_side`).
fn chain_error_id(e: &rustls::Error, intermediates: &[CertificateDer<'_>]) -> u32 {
    match verify_error_id(e) {
        20 if intermediates.is_empty() => 21,
        id => id,
    }
}

/// A `bind` line's client certificate verifier with its `crt-ignore-err`
/// list: an error it lists lets the handshake go on (HAProxy's
/// `ssl_sock_bind_verifycbk` returning 1); `ssl_c_verify` still reports
/// it ([`Tls::verify_result`]).
#[derive(Debug)]
pub(crate) struct IgnoreErrVerifier {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    /// What webpki cannot do (v1 certificates, v1 CRLs).
    chain: super::chain::ChainCheck,
    /// The provider's algorithms, for handshake signatures by a v1
    /// certificate.
    sig_algs: rustls::crypto::WebPkiSupportedAlgorithms,
    crt: crate::cfgparse::model::IgnoreErr,
}

impl IgnoreErrVerifier {
    /// The chain's verification: webpki's, and `conn/chain.rs`'s for a
    /// v1 certificate webpki refuses, or for revocation when webpki got
    /// no CRL (a v1 one).
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        let own = || {
            let im: Vec<&[u8]> = intermediates.iter().map(|c| c.as_ref()).collect();
            self.chain
                .verify(end_entity, &im, now)
                .map(|_| rustls::server::danger::ClientCertVerified::assertion())
                .map_err(rustls::Error::InvalidCertificate)
        };
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(e) if super::chain::is_unsupported_version(&e) => own(),
            Ok(_) if self.chain.crls_here => own(),
            r => r,
        }
    }
}

impl rustls::server::danger::ClientCertVerifier for IgnoreErrVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        match self.check(end_entity, intermediates, now) {
            Err(e) if self.crt.covers(chain_error_id(&e, intermediates)) => {
                Ok(rustls::server::danger::ClientCertVerified::assertion())
            }
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match self.inner.verify_tls12_signature(message, cert, dss) {
            Err(e) if super::chain::is_unsupported_version(&e) => {
                super::chain::verify_handshake_signature(&self.sig_algs, cert, message, dss, false)
            }
            r => r,
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match self.inner.verify_tls13_signature(message, cert, dss) {
            Err(e) if super::chain::is_unsupported_version(&e) => {
                super::chain::verify_handshake_signature(&self.sig_algs, cert, message, dss, true)
            }
            r => r,
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What `ssl_c_verify` needs to tell an error `crt-ignore-err` let
/// through: the line's verifier and the engine's clock.
#[derive(Debug)]
pub(crate) struct VerifyCheck {
    verifier: Arc<IgnoreErrVerifier>,
    clock: Arc<EngineClock>,
}

/// Loads one PEM file holding a certificate chain and its key, and its
/// OCSP response (`<path>.ocsp`) when there is one (warnings about the
/// response go to `warnings`, as HAProxy's).
fn load_pem(
    env: &TlsEnv,
    provider: &CryptoProvider,
    path: &str,
    global: &Global,
    now_s: i64,
    warnings: &mut Vec<String>,
    ocsp_store: &mut OcspStore,
) -> Result<CertEntry, String> {
    let pem = env
        .files
        .get(path)
        .map_err(|e| format!("unable to load SSL certificate from PEM file '{path}' : {e}."))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("unable to load SSL certificate from PEM file '{path}' : {e}."))?;
    if chain.is_empty() {
        return Err(format!(
            "unable to load SSL certificate from PEM file '{path}' : no certificate found."
        ));
    }
    let base = extra_base(path, global.ssl_load_extra_del_ext);
    // The key in the PEM, else in `<base>.key` when it is there.
    let key_file = format!("{base}.key");
    let der = PrivateKeyDer::from_pem_slice(pem)
        .ok()
        .or_else(|| {
            let k = env.files.files.get(&key_file)?.as_ref().ok()?;
            PrivateKeyDer::from_pem_slice(k)
                .ok()
                .filter(|_| global.ssl_load_extra_key)
        })
        .ok_or_else(|| {
            format!("unable to load SSL private key from PEM file '{path}' : no private key found (in the file nor in '{key_file}').")
        })?;
    let key = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("unable to load SSL private key from PEM file '{path}' : {e}."))?;
    let names = super::chain::sni_names(&chain[0]).ok_or_else(|| {
        format!("unable to load SSL certificate from PEM file '{path}' : not a valid certificate.")
    })?;
    let key = CertifiedKey::new(chain, key);
    super::chain::keys_match(&key).map_err(|e| {
        format!("inconsistencies between private key and certificate loaded from PEM file '{path}' : {e}.")
    })?;
    let extra_files = (global.ssl_load_extra_ocsp, global.ssl_load_extra_issuer);
    let ocsp = load_ocsp(env, base, &key, now_s, warnings, ocsp_store, extra_files)?;
    Ok(CertEntry {
        file: path.to_string(),
        key: Arc::new(key),
        names,
        filtered: false,
        negative: Vec::new(),
        list: None,
        ocsp,
    })
}

/// `<path>.ocsp`, when the driver found one (HAProxy's
/// `ssl_sock_load_ocsp`): the issuer is looked for in the chain, then in
/// `<path>.issuer`; without it the configuration is refused. A response
/// that does not pass the checks is ignored with a warning, its entry
/// kept (the CLI shows it, `set ssl ocsp-response` can fill it).
fn load_ocsp(
    env: &TlsEnv,
    path: &str,
    key: &CertifiedKey,
    now_s: i64,
    warnings: &mut Vec<String>,
    store: &mut OcspStore,
    extra_files: (bool, bool),
) -> Result<Option<OcspEntry>, String> {
    use super::ocsp;
    let ocsp_path = format!("{path}.ocsp");
    let Some(Ok(der)) = env.files.files.get(&ocsp_path).filter(|_| extra_files.0) else {
        return Ok(None);
    };
    let issuer_file = env.files.files.get(&format!("{path}.issuer"));
    let extra: Vec<CertificateDer<'static>> = match issuer_file.filter(|_| extra_files.1) {
        Some(Ok(pem)) => CertificateDer::pem_slice_iter(pem)
            .filter_map(Result::ok)
            .collect(),
        _ => Vec::new(),
    };
    let leaf = key.cert[0].as_ref();
    let candidates = key.cert[1..].iter().chain(extra.iter()).map(|c| c.as_ref());
    let id = ocsp::find_issuer(leaf, candidates).and_then(|issuer| ocsp::CertId::of(leaf, issuer));
    let Some(id) = id else {
        return Err(format!(
            "'{ocsp_path}' is present and activates OCSP but it is impossible to compute the OCSP certificate ID (maybe the issuer could not be found)'."
        ));
    };
    let entry = OcspEntry {
        id,
        der: der.clone(),
        staple: None,
    };
    match ocsp::check(der, Some(&entry.id), now_s) {
        Ok(r) => {
            let expire = r.next_update.unwrap_or(0) - ocsp::MAX_SKEW_S;
            store.insert(entry.id.key(), Some((der.clone(), expire)));
        }
        Err(e) => {
            warnings.push(format!("Loading: {e}. Content will be ignored."));
            store.entry(entry.id.key()).or_insert(None);
        }
    }
    Ok(Some(entry))
}

/// `server ... crt FILE`: the certificate presented when the server asks
/// for one.
#[derive(Debug)]
struct ClientCert(std::sync::RwLock<Arc<CertifiedKey>>);

impl ClientCert {
    fn get(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// No stateless tickets (see [`BindCtx::build`]).
#[derive(Debug)]
struct NoTickets;

impl rustls::server::ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// Server certificate verification as HAProxy's `verify required`: the
/// chain against `ca-file`, and the name only when `sni` or
/// `verifyhost` gives one (`verify none`: nothing but the handshake
/// signatures).
#[derive(Debug)]
struct SrvVerifier {
    /// The chain's verifiers; `commit ssl ca-file` / `crl-file` replaces
    /// them.
    chain: std::sync::RwLock<Arc<SrvChain>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

/// A server's chain verification, made from `ca-file` and `crl-file`.
#[derive(Debug)]
struct SrvChain {
    /// `None`: `verify none`.
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    /// What webpki cannot do (v1 certificates, v1 CRLs); with `chain`.
    own: Option<super::chain::ChainCheck>,
}

/// A server's [`SrvChain`] from its settings and the CA/CRL store.
fn srv_chain(
    env: &TlsEnv,
    cafiles: &CafileStore,
    provider: &Arc<CryptoProvider>,
    ca_base: &Option<String>,
    t: &SrvTls,
) -> Result<SrvChain, String> {
    let mut own = None;
    let chain = match (t.verify, &t.common.ca_file) {
        (Some(SrvVerify::None), _) => None,
        (_, Some(ca)) => {
            let path = base_path(ca_base, ca);
            let mut anchors = Vec::new();
            let roots = load_roots(env, cafiles, &path, &mut anchors)?;
            let mut b = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            );
            let mut crls = None;
            let mut crls_here = false;
            if let Some(crl) = &t.crl_file {
                // `crl-file`: as on a bind line, every certificate of
                // the chain is checked (`X509_V_FLAG_CRL_CHECK_ALL`).
                let (list, webpki_parses) = load_crls(env, cafiles, &base_path(ca_base, crl))?;
                if webpki_parses {
                    b = b.with_crls(list.iter().cloned());
                } else {
                    crls_here = true;
                }
                crls = Some(list.iter().map(|c| c.to_vec()).collect());
            }
            own = Some(super::chain::ChainCheck {
                anchors,
                crls,
                crls_here,
                algs: provider.signature_verification_algorithms.all,
                crl_legacy_algs: env.crl_legacy_algs,
                purpose: super::chain::EKU_SERVER,
            });
            Some(
                b.build()
                    .map_err(|e| format!("unable to use CA file '{path}' : {e}."))?,
            )
        }
        (_, None) => return Err("verify is enabled but no CA file specified.".into()),
    };
    Ok(SrvChain { chain, own })
}

impl ServerCertVerifier for SrvVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cur = self.chain.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(v) = &cur.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        let r = match v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            r => r,
        };
        let own_needed = match &r {
            Err(e) => super::chain::is_unsupported_version(e),
            Ok(_) => cur.own.as_ref().is_some_and(|o| o.crls_here),
        };
        let Some(own) = cur.own.as_ref().filter(|_| own_needed) else {
            return r;
        };
        let im: Vec<&[u8]> = intermediates.iter().map(|c| c.as_ref()).collect();
        let leaf = own
            .verify(end_entity, &im, now)
            .map_err(rustls::Error::InvalidCertificate)?;
        if self.check_name {
            // HAProxy's `ssl_sock_srv_verifycbk`: the name against the
            // subjectAltName DNS names, then the subject's CNs.
            let host = match server_name {
                ServerName::DnsName(d) => d.as_ref().to_string(),
                ServerName::IpAddress(ip) => core::net::IpAddr::from(*ip).to_string(),
                _ => String::new(),
            };
            if !super::chain::cert_names(&leaf)
                .iter()
                .any(|n| super::chain::host_matches(n, host.as_bytes()))
            {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName,
                ));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        match rustls::crypto::verify_tls12_signature(message, cert, dss, algs) {
            Err(e) if super::chain::is_unsupported_version(&e) => {
                super::chain::verify_handshake_signature(algs, cert, message, dss, false)
            }
            r => r,
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        match rustls::crypto::verify_tls13_signature(message, cert, dss, algs) {
            Err(e) if super::chain::is_unsupported_version(&e) => {
                super::chain::verify_handshake_signature(algs, cert, message, dss, true)
            }
            r => r,
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl SrvCtx {
    /// The context of a `server ... ssl` line towards `addr`.
    pub fn build(
        env: &TlsEnv,
        cafiles: &Arc<CafileStore>,
        clock: &Arc<EngineClock>,
        global: &Global,
        t: &SrvTls,
        addr: core::net::SocketAddr,
    ) -> Result<SrvCtx, String> {
        let ca_base = &global.ca_base;
        let provider = provider_for(env, &t.common);
        if provider.kx_groups.is_empty() {
            return Err("no key exchange group left ('curves').".into());
        }
        // `ca-file` and `crl-file` go into the store, used or not.
        if let Some(ca) = &t.common.ca_file {
            load_roots(env, cafiles, &base_path(ca_base, ca), &mut Vec::new())?;
        }
        if let Some(crl) = &t.crl_file {
            load_crls(env, cafiles, &base_path(ca_base, crl))?;
        }
        let chain = srv_chain(env, cafiles, &provider, ca_base, t)?;
        let named = t.sni.as_ref().or(t.verifyhost.as_ref());
        let name = match named {
            Some(n) => ServerName::try_from(n.clone())
                .map_err(|_| format!("invalid server name '{n}' for 'sni'/'verifyhost'."))?,
            None => ServerName::IpAddress(addr.ip().into()),
        };
        let verifier = Arc::new(SrvVerifier {
            chain: std::sync::RwLock::new(Arc::new(chain)),
            // With `sni EXPR`, the name sent is the one checked.
            check_name: named.is_some() || t.sni_expr.is_some(),
            provider: provider.clone(),
        });
        let builder = ClientConfig::builder_with_details(provider.clone(), clock.clone())
            .with_protocol_versions(&versions(&t.common))
            .map_err(|e| format!("invalid TLS settings: {e}."))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone());
        let mut crt_file = None;
        let mut config = match &t.crt {
            None => builder.with_no_client_auth(),
            Some(crt) => {
                // `crt`: the client certificate presented to the server.
                // (No OCSP is read for a client certificate: HAProxy
                // staples only on its listeners.)
                let e = load_pem(
                    env,
                    &provider,
                    &base_path(&global.crt_base, crt),
                    global,
                    0,
                    &mut Vec::new(),
                    &mut OcspStore::new(),
                )?;
                let cc = Arc::new(ClientCert(std::sync::RwLock::new(e.key)));
                crt_file = Some((e.file.clone(), cc.clone()));
                builder.with_client_cert_resolver(cc)
            }
        };
        config.alpn_protocols = alpn(&t.common);
        let sessions: Arc<dyn rustls::client::ClientSessionStore> =
            Arc::new(rustls::client::ClientSessionMemoryCache::new(256));
        config.resumption = rustls::client::Resumption::store(sessions.clone());
        if t.no_ssl_reuse {
            // `no-ssl-reuse`: every connection does a full handshake.
            config.resumption = rustls::client::Resumption::disabled();
        } else if t.common.no_tls_tickets {
            // `no-tls-tickets`: TLS 1.2 sessions resume by ID only.
            config.resumption = config
                .resumption
                .tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly);
        }
        // SNI only when `sni` names the server, as HAProxy.
        config.enable_sni = t.sni.is_some() || t.sni_expr.is_some();
        Ok(SrvCtx {
            config: Arc::new(config),
            name,
            crt: crt_file,
            sessions,
            verifier,
            recipe: SrvRecipe {
                env: TlsEnv {
                    files: TlsFiles::default(),
                    ..env.clone()
                },
                cafiles: cafiles.clone(),
                ca_base: ca_base.clone(),
                t: t.clone(),
            },
        })
    }

    /// Whether the server's chain verification uses the CA or CRL file
    /// `path` (HAProxy links a server's `ckch_inst` to its `ca-file` and
    /// `crl-file` entries).
    pub fn ca_uses(&self, path: &str) -> bool {
        let verifies = self
            .verifier
            .chain
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .chain
            .is_some();
        verifies && self.names_ca(path)
    }

    /// Whether the server's settings name the CA or CRL file `path`.
    pub fn names_ca(&self, path: &str) -> bool {
        let r = &self.recipe;
        ca_paths(&r.ca_base, &r.t.common, &[&r.t.crl_file])
            .iter()
            .any(|p| p == path)
    }

    /// `commit ssl ca-file` / `crl-file`: the chain verification made
    /// again from the store, for the connections to come; the session
    /// cache is flushed (a resumed session is not verified again).
    pub fn rebuild_verify(&self) -> Result<(), String> {
        let r = &self.recipe;
        let chain = srv_chain(
            &r.env,
            &r.cafiles,
            &self.verifier.provider,
            &r.ca_base,
            &r.t,
        )?;
        *self
            .verifier
            .chain
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(chain);
        self.sessions.remove_tls12_session(&self.name);
        while self.sessions.take_tls13_ticket(&self.name).is_some() {}
        Ok(())
    }

    /// `crt`: the file and its certificate.
    pub fn crt_file(&self) -> Option<(&str, Arc<CertifiedKey>)> {
        self.crt.as_ref().map(|(f, c)| (f.as_str(), c.get()))
    }

    /// `commit ssl cert`: the client certificate of `file` becomes `key`
    /// for the connections to come; whether it was this one.
    pub fn replace_cert(&self, file: &str, key: &Arc<CertifiedKey>) -> bool {
        match &self.crt {
            Some((f, c)) if f == file => {
                *c.0.write().unwrap_or_else(|e| e.into_inner()) = key.clone();
                // HAProxy flushes the server's session cache on commit
                // (`reused_sess`): a resumed session would keep showing
                // the old certificate to the server.
                self.sessions.remove_tls12_session(&self.name);
                while self.sessions.take_tls13_ticket(&self.name).is_some() {}
                true
            }
            _ => false,
        }
    }
}

// --------------------------------------------------------------------------
// Per connection.

bitflags! {
    /// The TLS layer's own state (HAProxy keeps it in `CO_FL_SSL_*`,
    /// `ssl_sock_ctx` flags).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct TlsFlags: u32 {
        /// The handshake is over (`CO_FL_SSL_WAIT_HS` cleared).
        const HS_DONE = 0x01;
        /// The socket read a close (read0).
        const EOF_SEEN = 0x02;
        /// rustls was told about it.
        const EOF_FED = 0x04;
        /// The stream was told the input ended.
        const READ0_DONE = 0x08;
        /// A close_notify is queued; the FIN goes once `tx` is written.
        const SHUT_PENDING = 0x10;
        /// The FIN was asked.
        const SHUT_SENT = 0x20;
        /// The peer's close_notify arrived.
        const CLOSE_NOTIFY = 0x40;
    }
}

/// The TLS state of one connection (HAProxy's `struct ssl_sock_ctx`).
pub struct Tls {
    pub(crate) conn: Connection,
    /// Ciphertext read from the socket, not yet taken by rustls.
    rx: Box<[u8]>,
    rx_len: usize,
    /// Ciphertext to write, from `tx_off`.
    tx: Vec<u8>,
    tx_off: usize,
    /// Bytes of the channel's output rustls took, reported sent to the
    /// stream once `tx` is written.
    pub(crate) fed: usize,
    /// Plaintext rustls holds for the stream.
    pub(crate) plain: usize,
    pub(crate) flags: TlsFlags,
    /// A `bind` line whose crt-list lines have options of their own:
    /// the ClientHello is read first (rustls's `Acceptor`), then the
    /// connection is made with the context of the certificate it
    /// selects. Until then `conn` is a placeholder that never sees a
    /// byte.
    accepting: Option<Box<(rustls::server::Acceptor, Arc<CtxSwitch>)>>,
    /// Where the ciphertext handed to rustls stands in the record framing.
    edge: RecordEdge,
    /// A `bind ... crt-ignore-err` line's: [`Tls::verify_result`].
    verify: Option<Arc<VerifyCheck>>,
    /// The certificate presented to the client (`ssl_f_*`; none after
    /// a resumption, which presents none), and the `bind` line's
    /// resolver it is learnt from.
    served: Option<Arc<CertifiedKey>>,
    resolver: Option<Arc<SniResolver>>,
    /// The `tls-eof-in-record` mutant is on (`--mutant`).
    #[cfg(feature = "mutants")]
    pub(crate) bug_eof_in_record: bool,
}

/// Where a ciphertext stream stands in TLS's record framing (5-byte
/// headers, then as many bytes as the header's length says): an end of
/// input between two records is a close (a truncation without
/// `close_notify` at worst), one inside a record cuts a record that
/// rustls holds half of and never reports (OpenSSL's "unexpected eof while
/// reading"): an error, as HAProxy gets from OpenSSL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecordEdge {
    /// Header bytes seen of the next record (0 to 4).
    hdr_seen: u8,
    /// Its length field's first byte, once seen.
    len_hi: u8,
    /// Body bytes still to come of the current record.
    left: usize,
}

impl RecordEdge {
    /// `b` follows the bytes seen so far.
    pub(crate) fn feed(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            if self.left > 0 {
                let n = self.left.min(b.len());
                self.left -= n;
                b = &b[n..];
                continue;
            }
            match self.hdr_seen {
                3 => self.len_hi = b[0],
                4 => self.left = usize::from(u16::from_be_bytes([self.len_hi, b[0]])),
                _ => {}
            }
            self.hdr_seen = (self.hdr_seen + 1) % 5;
            b = &b[1..];
        }
    }

    /// Whether the bytes seen end on a record boundary.
    pub(crate) fn at_boundary(&self) -> bool {
        self.hdr_seen == 0 && self.left == 0
    }
}

impl core::fmt::Debug for Tls {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tls")
            .field("rx_len", &self.rx_len)
            .field("tx", &(self.tx.len() - self.tx_off))
            .field("fed", &self.fed)
            .field("plain", &self.plain)
            .field("flags", &self.flags)
            .finish()
    }
}

impl Tls {
    fn new(conn: Connection) -> Tls {
        Tls {
            conn,
            rx: vec![0; TLS_RX_LEN].into_boxed_slice(),
            rx_len: 0,
            tx: Vec::new(),
            tx_off: 0,
            fed: 0,
            plain: 0,
            flags: TlsFlags::empty(),
            edge: RecordEdge::default(),
            verify: None,
            served: None,
            resolver: None,
            #[cfg(feature = "mutants")]
            bug_eof_in_record: false,
            accepting: None,
        }
    }

    /// The server side of an accepted connection.
    pub fn server(ctx: &BindCtx) -> Result<Tls, rustls::Error> {
        let live = ctx.live();
        let mut t = Tls::new(Connection::Server(rustls::ServerConnection::new(
            live.config.clone(),
        )?));
        if let Some(sw) = &live.switch {
            t.accepting = Some(Box::new((rustls::server::Acceptor::default(), sw.clone())));
        }
        t.verify = live.verify.clone();
        t.resolver = Some(ctx.resolver.clone());
        Ok(t)
    }

    /// Whether the handshake is still going on.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.accepting.is_some() || self.conn.is_handshaking()
    }

    /// Feeds the ClientHello to the `Acceptor`; once it is whole, makes
    /// the connection with the context its certificate asks for (what
    /// is left in `rx` goes to that connection next).
    fn absorb_hello(&mut self) -> Result<bool, rustls::Error> {
        let Some(acc) = self.accepting.as_mut() else {
            return Ok(false);
        };
        let mut progress = false;
        if self.rx_len > 0 {
            let mut src = &self.rx[..self.rx_len];
            let k = acc.0.read_tls(&mut src).unwrap_or_default();
            if k > 0 {
                // The record framing goes on past the ClientHello.
                self.edge.feed(&self.rx[..k]);
                self.rx.copy_within(k..self.rx_len, 0);
                self.rx_len -= k;
                progress = true;
            }
        }
        let (acceptor, sw) = &mut **acc;
        match acceptor.accept() {
            Ok(None) => Ok(progress),
            Ok(Some(accepted)) => {
                let config = match sw.config_for(&accepted.client_hello()) {
                    Some((c, check)) => {
                        self.verify = check;
                        c
                    }
                    None => sw.base.clone(),
                };
                let resolver = sw.resolver.clone();
                self.accepting = None;
                resolver.served_clear();
                let c = accepted.into_connection(config);
                self.served = resolver.served_take();
                match c {
                    Ok(c) => {
                        self.conn = Connection::Server(c);
                        self.flush();
                        Ok(true)
                    }
                    Err((e, mut alert)) => {
                        let _ = alert.write(&mut self.tx);
                        Err(e)
                    }
                }
            }
            Err((e, mut alert)) => {
                self.accepting = None;
                let _ = alert.write(&mut self.tx);
                Err(e)
            }
        }
    }

    /// The client side of a server connection.
    pub fn client(ctx: &SrvCtx) -> Result<Tls, rustls::Error> {
        Tls::client_with_alpn(ctx, ctx.config.alpn_protocols.clone())
    }

    /// [`Tls::client`] offering `alpn` instead of the server's list (a
    /// websocket stream's, HAProxy's `conn_update_alpn`).
    pub fn client_with_alpn(ctx: &SrvCtx, alpn: Vec<Vec<u8>>) -> Result<Tls, rustls::Error> {
        Tls::client_for(ctx, alpn, None)
    }

    /// [`Tls::client_with_alpn`] sending `sni` (a server's `sni EXPR`
    /// evaluated on the stream) instead of the server's fixed name. A
    /// name that is no DNS name sends no SNI (the server's address names
    /// it).
    pub fn client_for(
        ctx: &SrvCtx,
        alpn: Vec<Vec<u8>>,
        sni: Option<&[u8]>,
    ) -> Result<Tls, rustls::Error> {
        let name = sni
            .and_then(|n| core::str::from_utf8(n).ok())
            .and_then(|n| rustls::pki_types::DnsName::try_from(n.to_string()).ok())
            .map_or_else(|| ctx.name.clone(), ServerName::DnsName);
        let mut t = Tls::new(Connection::Client(rustls::ClientConnection::new_with_alpn(
            ctx.config.clone(),
            name,
            alpn,
        )?));
        // The ClientHello is ready at once.
        t.flush();
        Ok(t)
    }

    /// Where the driver reads ciphertext into.
    pub(crate) fn rx_spare(&mut self) -> &mut [u8] {
        &mut self.rx[self.rx_len..]
    }

    pub(crate) fn rx_room(&self) -> bool {
        self.rx_len < self.rx.len()
    }

    /// `n` bytes were read into [`Tls::rx_spare`] (`0`: read0).
    pub(crate) fn received(&mut self, n: usize) {
        if n == 0 {
            self.flags |= TlsFlags::EOF_SEEN;
        } else {
            self.rx_len = (self.rx_len + n).min(self.rx.len());
        }
    }

    /// The ciphertext to write.
    pub(crate) fn tx_pending(&self) -> &[u8] {
        &self.tx[self.tx_off..]
    }

    /// `n` bytes of [`Tls::tx_pending`] were written; returns whether
    /// everything was.
    pub(crate) fn sent(&mut self, n: usize) -> bool {
        self.tx_off = (self.tx_off + n).min(self.tx.len());
        if self.tx_off == self.tx.len() {
            self.tx.clear();
            self.tx_off = 0;
            return true;
        }
        false
    }

    /// Moves what rustls wants to send into `tx`.
    pub(crate) fn flush(&mut self) {
        if self.tx_off > 0 && self.tx_off == self.tx.len() {
            self.tx.clear();
            self.tx_off = 0;
        }
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tx) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Gives rustls the ciphertext read so far (and the end of input),
    /// and runs it. Returns whether anything moved, or rustls's verdict on
    /// a bad peer (an end of input inside a record is one).
    pub(crate) fn absorb(&mut self) -> Result<bool, rustls::Error> {
        let r = self.absorb_records();
        if let Err(e) = &r {
            self.alert_as_openssl(e);
        }
        r
    }

    /// A refused ClientHello's alert, as OpenSSL words it for HAProxy:
    /// rustls answers a client below TLS 1.2 `handshake_failure` where
    /// OpenSSL says `protocol_version`, and a name `strict-sni` has no
    /// certificate for `access_denied` where HAProxy says
    /// `unrecognized_name`. Only the lone cleartext alert record rustls
    /// queued before any handshake message is rewritten.
    fn alert_as_openssl(&mut self, e: &rustls::Error) {
        use rustls::{Error, PeerIncompatible as P};
        let desc = match e {
            Error::PeerIncompatible(
                P::SignatureAlgorithmsExtensionRequired
                | P::SupportedVersionsExtensionRequired
                | P::Tls12NotOffered
                | P::Tls12NotOfferedOrEnabled,
            ) => ALERT_PROTOCOL_VERSION,
            Error::General(m) if m == NO_CERT_RESOLVED => ALERT_UNRECOGNIZED_NAME,
            _ => return,
        };
        let tx = &mut self.tx[self.tx_off..];
        if tx.len() == 7 && tx[0] == 0x15 && tx[3..5] == [0, 2] {
            tx[6] = desc;
        }
    }

    fn absorb_records(&mut self) -> Result<bool, rustls::Error> {
        let mut progress = false;
        if self.accepting.is_some() {
            progress = self.absorb_hello()?;
            if self.accepting.is_some() {
                if self.flags.contains(TlsFlags::EOF_SEEN) && self.rx_len == 0 {
                    // Closed before a whole ClientHello.
                    self.flags |= TlsFlags::EOF_FED;
                    progress = true;
                }
                return Ok(progress);
            }
        }
        // Bounded: each turn consumes bytes or ends.
        for _ in 0..64 {
            if self.flags.contains(TlsFlags::CLOSE_NOTIFY) && self.rx_len > 0 {
                // Bytes after the close_notify are ignored (rustls takes
                // none): they must not hold the end of input back.
                self.rx_len = 0;
                progress = true;
            }
            if self.rx_len > 0 {
                let mut src = &self.rx[..self.rx_len];
                // An error: rustls holds as much plaintext as it will; read
                // on once the stream took some.
                let k = self.conn.read_tls(&mut src).unwrap_or_default();
                if k == 0 {
                    break;
                }
                self.edge.feed(&self.rx[..k]);
                self.rx.copy_within(k..self.rx_len, 0);
                self.rx_len -= k;
                progress = true;
            } else if self.flags.contains(TlsFlags::EOF_SEEN)
                && !self.flags.contains(TlsFlags::EOF_FED)
            {
                // Refused while rustls's plaintext queue is full: told
                // again once the stream took some (the pump runs again).
                if self.conn.read_tls(&mut std::io::empty()).is_err() {
                    break;
                }
                self.flags |= TlsFlags::EOF_FED;
                progress = true;
                let cut = !self.flags.contains(TlsFlags::CLOSE_NOTIFY) && !self.edge.at_boundary();
                #[cfg(feature = "mutants")]
                let cut = cut && !self.bug_eof_in_record;
                if cut {
                    return Err(rustls::Error::General(
                        "end of input inside a TLS record".into(),
                    ));
                }
            } else {
                break;
            }
            let watch = self
                .resolver
                .as_ref()
                .filter(|_| self.served.is_none() && self.conn.is_handshaking())
                .cloned();
            if let Some(r) = &watch {
                r.served_clear();
            }
            let st = self.conn.process_new_packets();
            if let Some(r) = &watch {
                self.served = r.served_take();
            }
            self.flush();
            let st = st?;
            self.plain = st.plaintext_bytes_to_read();
            if st.peer_has_closed() {
                self.flags |= TlsFlags::CLOSE_NOTIFY;
            }
        }
        Ok(progress)
    }

    /// Plaintext for the stream into `buf`: `Some(0)` is the end of the
    /// input (close_notify, or the socket's close without one), `None`
    /// nothing now.
    pub(crate) fn read_plain(&mut self, buf: &mut [u8]) -> Option<usize> {
        match self.conn.reader().read(buf) {
            Ok(k) => {
                self.plain = self.plain.saturating_sub(k);
                Some(k)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            // UnexpectedEof: truncated without close_notify.
            Err(_) => Some(0),
        }
    }

    /// Gives rustls plaintext to send; returns how much it took.
    pub(crate) fn write_plain(&mut self, buf: &[u8]) -> usize {
        let k = self.conn.writer().write(buf).unwrap_or(0);
        self.flush();
        k
    }

    /// Queues a close_notify (`SSL_shutdown`).
    pub(crate) fn close_notify(&mut self) {
        self.conn.send_close_notify();
        self.flush();
    }

    /// Whether input ended and the stream has not been told.
    pub(crate) fn eof_pending(&self) -> bool {
        !self.flags.contains(TlsFlags::READ0_DONE)
            && self
                .flags
                .intersects(TlsFlags::EOF_FED | TlsFlags::CLOSE_NOTIFY)
            && self.plain == 0
            && self.rx_len == 0
    }

    /// Input is there for the stream (plaintext or its end).
    pub(crate) fn input_pending(&self) -> bool {
        self.plain > 0 || self.eof_pending()
    }

    /// `%sslv` / `ssl_fc_protocol`: `TLSv1.2`, `TLSv1.3`.
    pub fn version_name(&self) -> Option<&'static str> {
        match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            _ => None,
        }
    }

    /// `%sslc` / `ssl_fc_cipher`: the suite's OpenSSL name, as HAProxy
    /// prints it.
    pub fn cipher_name(&self) -> Option<&'static str> {
        let name = format!("{:?}", self.conn.negotiated_cipher_suite()?.suite());
        TLS13_SUITES
            .iter()
            .chain(TLS12_SUITES)
            .find(|(_, r)| *r == name)
            .map(|(o, _)| *o)
    }

    /// `ssl_fc_sni`.
    pub fn sni(&self) -> Option<&str> {
        match &self.conn {
            Connection::Server(s) => s.server_name(),
            Connection::Client(_) => None,
        }
    }

    /// `ssl_fc_is_resumed`: the handshake resumed a session.
    pub fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// `ssl_fc_alpn`.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The server's certificate on a connection to a server (`ssl_s_*`).
    pub fn server_cert(&self) -> Option<&[u8]> {
        match &self.conn {
            Connection::Client(c) => c.peer_certificates()?.first().map(|c| c.as_ref()),
            Connection::Server(_) => None,
        }
    }

    /// The chain the server sent on a connection to a server, its own
    /// certificate first (`ssl_s_chain_der`).
    pub fn server_chain(&self) -> Option<&[CertificateDer<'static>]> {
        match &self.conn {
            Connection::Client(c) => c.peer_certificates(),
            Connection::Server(_) => None,
        }
    }

    /// The chain the client sent (`ssl_c_chain_der`), its own first.
    pub fn peer_chain(&self) -> Option<&[CertificateDer<'static>]> {
        match &self.conn {
            Connection::Server(s) => s.peer_certificates(),
            Connection::Client(_) => None,
        }
    }

    /// `ssl_c_verify` (HAProxy's `SSL_get_verify_result`): 0, or the
    /// error id `crt-ignore-err` let through, found by verifying the
    /// client's chain again (only on such lines, only when asked).
    pub fn verify_result(&self) -> u32 {
        let (Some(v), Some(chain)) = (&self.verify, self.peer_chain()) else {
            return 0;
        };
        let (Some((ee, im)), Some(now)) = (
            chain.split_first(),
            rustls::time_provider::TimeProvider::current_time(v.clock.as_ref()),
        ) else {
            return 0;
        };
        match v.verifier.check(ee, im, now) {
            Ok(_) => 0,
            Err(e) => chain_error_id(&e, im),
        }
    }

    /// The chain presented to the client, its leaf first (`ssl_f_*`).
    pub fn served_chain(&self) -> Option<&[CertificateDer<'static>]> {
        self.served.as_ref().map(|k| k.cert.as_slice())
    }

    /// The client's certificate, verified (a `bind ... verify` line);
    /// after a resumption, the one of the original handshake.
    pub fn peer_cert(&self) -> Option<&[u8]> {
        match &self.conn {
            Connection::Server(s) => s.peer_certificates()?.first().map(|c| c.as_ref()),
            Connection::Client(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::StoresServerSessions;

    /// A verifier that takes any certificate (the tests' peer is the
    /// fuzz targets' self-signed one).
    #[derive(Debug)]
    struct AnyCert(Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// The engine's TLS server side and a rustls client, handshaken.
    fn pair() -> (Tls, rustls::ClientConnection) {
        #[allow(deprecated)] // ring lacks post-quantum kx only
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pem = crate::fuzzing::engine_ops::TLS_PEM.as_bytes();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .expect("certificates");
        let key = PrivateKeyDer::from_pem_slice(pem).expect("a key");
        let scfg = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("a server config");
        let ccfg = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth();
        let mut srv = Tls::new(Connection::Server(
            rustls::ServerConnection::new(Arc::new(scfg)).expect("a server"),
        ));
        let name = ServerName::try_from("fuzz.sluice").expect("a name");
        let mut cli = rustls::ClientConnection::new(Arc::new(ccfg), name).expect("a client");
        for _ in 0..10 {
            let mut up = Vec::new();
            while cli.wants_write() {
                cli.write_tls(&mut up).expect("client records");
            }
            to_server(&mut srv, &up);
            srv.absorb().expect("a handshake");
            let down = srv.tx_pending().to_vec();
            srv.sent(down.len());
            cli.read_tls(&mut &down[..]).expect("server records");
            cli.process_new_packets().expect("a handshake");
            if !cli.is_handshaking() && !srv.conn.is_handshaking() {
                return (srv, cli);
            }
        }
        panic!("no handshake");
    }

    /// Ciphertext into the server's buffer, handed to rustls as it fills.
    fn to_server(srv: &mut Tls, mut b: &[u8]) {
        while !b.is_empty() {
            if !srv.rx_room() {
                srv.absorb().expect("records");
                assert!(srv.rx_room(), "rustls takes ciphertext");
            }
            let room = srv.rx_spare();
            let n = room.len().min(b.len());
            room[..n].copy_from_slice(&b[..n]);
            srv.received(n);
            b = &b[n..];
        }
    }

    /// One application-data record from the client.
    fn record(cli: &mut rustls::ClientConnection, data: &[u8]) -> Vec<u8> {
        cli.writer().write_all(data).expect("plaintext");
        let mut out = Vec::new();
        while cli.wants_write() {
            cli.write_tls(&mut out).expect("records");
        }
        out
    }

    #[test]
    fn record_edge_follows_the_framing() {
        let mut e = RecordEdge::default();
        assert!(e.at_boundary());
        e.feed(&[0x17, 3, 3]);
        assert!(!e.at_boundary());
        e.feed(&[0, 2, 0xaa]);
        assert!(!e.at_boundary());
        e.feed(&[0xbb, 0x15, 3, 3, 0, 0]);
        assert!(e.at_boundary(), "two records, the second one empty");
        e.feed(&[0x17, 3, 3, 1, 0]);
        e.feed(&[0; 255]);
        assert!(!e.at_boundary());
        e.feed(&[0]);
        assert!(e.at_boundary());
    }

    /// A FIN between records is the end of the input (a truncation
    /// without close_notify reads as a close): the plaintext, then the end.
    #[test]
    fn eof_between_records_ends_the_input() {
        let (mut srv, mut cli) = pair();
        let r = record(&mut cli, b"hello");
        to_server(&mut srv, &r);
        srv.received(0);
        assert!(srv.absorb().expect("a clean end"));
        let mut buf = [0u8; 16];
        assert_eq!(srv.read_plain(&mut buf), Some(5));
        assert_eq!(&buf[..5], b"hello");
        assert!(srv.eof_pending());
    }

    /// A FIN inside a record (a peer that sent a record header and less
    /// than its length, e.g. garbage that looks like a record, before its
    /// FIN) is an error, never a clean end: the bytes behind the header
    /// are lost, and the stream must not be logged complete.
    #[test]
    fn eof_inside_a_record_is_an_error() {
        let (mut srv, mut cli) = pair();
        let r = record(&mut cli, b"hello");
        to_server(&mut srv, &r);
        assert!(srv.absorb().expect("a record"));
        // A record header that announces more than comes.
        to_server(&mut srv, &[0x17, 3, 3, 0x01, 0x00, 1, 2, 3]);
        assert!(srv.absorb().expect("half a record is no error yet"));
        srv.received(0);
        assert!(srv.absorb().is_err(), "the end of input cuts a record");
        let mut buf = [0u8; 16];
        assert_eq!(srv.read_plain(&mut buf), Some(5));
    }

    /// The end of input waits while rustls's plaintext queue is full
    /// (rustls refuses `read_tls` then), and reaches the stream once the
    /// plaintext is read.
    #[test]
    fn eof_behind_a_full_plaintext_queue_is_not_lost() {
        let (mut srv, mut cli) = pair();
        let mut sent = 0;
        let mut got = 0;
        let mut buf = vec![0u8; 64 * 1024];
        // Two records of 10 kB: more than rustls's 16 kB plaintext limit.
        for _ in 0..2 {
            let r = record(&mut cli, &[b'x'; 10_000]);
            sent += 10_000;
            to_server(&mut srv, &r);
            srv.absorb().expect("records");
        }
        assert_eq!(srv.rx_len, 0, "rustls took every record");
        assert_eq!(srv.plain, sent);
        srv.received(0);
        srv.absorb().expect("no error");
        assert!(srv.plain > 0);
        assert!(!srv.eof_pending(), "plaintext first");
        for _ in 0..100 {
            while srv.plain > 0 {
                got += srv.read_plain(&mut buf).expect("plaintext");
            }
            if srv.eof_pending() {
                break;
            }
            srv.absorb().expect("no error");
        }
        assert_eq!(got, sent);
        assert!(srv.eof_pending(), "the end of input reached the stream");
        assert_eq!(srv.read_plain(&mut buf), Some(0));
    }

    /// `tune.ssl.cachesize`: the oldest entry goes first; `tune.ssl.lifetime`:
    /// an entry older than it is not resumed (and dropped); `take` removes.
    #[test]
    fn session_cache_size_and_lifetime() {
        let clock = Arc::new(EngineClock::default());
        clock.set_ms(1_000);
        let c = SessionCache::new(clock.clone(), 2, 10);
        assert!(c.can_cache());
        assert!(c.put(b"a".to_vec(), b"1".to_vec()));
        assert!(c.put(b"b".to_vec(), b"2".to_vec()));
        assert!(c.put(b"c".to_vec(), b"3".to_vec()));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(b"a"), None);
        assert_eq!(c.get(b"b").as_deref(), Some(&b"2"[..]));
        assert_eq!(c.take(b"b").as_deref(), Some(&b"2"[..]));
        assert_eq!(c.get(b"b"), None);
        clock.set_ms(10_999);
        assert_eq!(c.get(b"c").as_deref(), Some(&b"3"[..]));
        clock.set_ms(11_000);
        assert_eq!(c.get(b"c"), None);
        assert!(c.is_empty());
        let off = SessionCache::new(clock, 0, 300);
        assert!(!off.can_cache());
        assert!(!off.put(b"a".to_vec(), b"1".to_vec()));
    }
}
