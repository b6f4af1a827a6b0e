//! The CA-file and CRL-file store (HAProxy's `cafile_tree` of
//! `struct cafile_entry`, `ssl_ckch.c`): every `ca-file`, `ca-verify-file`
//! and `crl-file` the configuration names, parsed once, by path, and the
//! files `new ssl ca-file` / `new ssl crl-file` create on the stats socket.
//! The TLS contexts build their verifiers from it, and `commit ssl
//! ca-file` / `commit ssl crl-file` rebuild the verifiers of every context
//! that uses the committed file (`BindCtx::rebuild_verify`,
//! `SrvCtx::rebuild_verify`).

use std::collections::BTreeMap;
use std::sync::RwLock;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};

/// What a store entry holds (HAProxy's `enum cafile_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CafileKind {
    /// `ca-file`, `ca-verify-file` (`CAFILE_CERT`).
    Cert,
    /// `crl-file` (`CAFILE_CRL`).
    Crl,
}

/// One CA or CRL file (HAProxy's `struct cafile_entry`): its objects in
/// file order, duplicates left out (as OpenSSL's `X509_STORE` keeps one
/// copy of each). `ders` is `None` for an entry `new ssl ca-file` made
/// and nothing filled yet (HAProxy's entry without a `ca_store`).
#[derive(Clone, Debug)]
pub struct CafileEntry {
    pub kind: CafileKind,
    pub ders: Option<Vec<Vec<u8>>>,
}

impl CafileEntry {
    /// How many objects it holds.
    pub fn count(&self) -> usize {
        self.ders.as_ref().map_or(0, Vec::len)
    }
}

/// The store, shared by an engine's TLS contexts (`Arc`); the CLI
/// writes it, the contexts read it when they build a verifier.
#[derive(Debug, Default)]
pub struct CafileStore {
    entries: RwLock<BTreeMap<String, CafileEntry>>,
}

/// Why a PEM text is not a CA or CRL file: HAProxy's startup messages
/// say "unable to load", the CLI says "Invalid payload".
pub fn parse_certs(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in CertificateDer::pem_slice_iter(pem) {
        let c = c.map_err(|e| e.to_string())?;
        // What the verifiers will take as a trust anchor.
        rustls::RootCertStore::empty()
            .add(c.clone())
            .map_err(|e| e.to_string())?;
        if !out.iter().any(|d| d[..] == c[..]) {
            out.push(c.to_vec());
        }
    }
    if out.is_empty() {
        return Err("no certificate found".into());
    }
    Ok(out)
}

/// The CRLs of a PEM text (webpki's, or v1 ones `conn/chain.rs` reads).
pub fn parse_crls(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in CertificateRevocationListDer::pem_slice_iter(pem) {
        let c = c.map_err(|e| e.to_string())?;
        if webpki::BorrowedCertRevocationList::from_der(&c).is_err()
            && super::chain::parse_crl(&c).is_none()
        {
            return Err("not a certificate revocation list".into());
        }
        if !out.iter().any(|d| d[..] == c[..]) {
            out.push(c.to_vec());
        }
    }
    if out.is_empty() {
        return Err("no CRL found".into());
    }
    Ok(out)
}

impl CafileStore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, CafileEntry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, CafileEntry>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The objects of `path`, loading it from `pem` (the driver's read)
    /// the first time (HAProxy's `ssl_store_load_locations_file`).
    pub fn load(
        &self,
        path: &str,
        kind: CafileKind,
        pem: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<Vec<Vec<u8>>, String> {
        if let Some(e) = self.read().get(path) {
            return Ok(e.ders.clone().unwrap_or_default());
        }
        let text = pem()?;
        let ders = match kind {
            CafileKind::Cert => parse_certs(&text),
            CafileKind::Crl => parse_crls(&text),
        }?;
        self.write().insert(
            path.to_string(),
            CafileEntry {
                kind,
                ders: Some(ders.clone()),
            },
        );
        Ok(ders)
    }

    pub fn get(&self, path: &str) -> Option<CafileEntry> {
        self.read().get(path).cloned()
    }

    /// Every entry, by path (HAProxy's tree order).
    pub fn entries(&self) -> Vec<(String, CafileEntry)> {
        self.read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `new ssl ca-file` / `new ssl crl-file`: an empty entry; false
    /// when the path exists (of either kind, one tree).
    pub fn create(&self, path: &str, kind: CafileKind) -> bool {
        let mut m = self.write();
        if m.contains_key(path) {
            return false;
        }
        m.insert(path.to_string(), CafileEntry { kind, ders: None });
        true
    }

    /// `commit`: the entry's new objects.
    pub fn replace(&self, path: &str, ders: Vec<Vec<u8>>) {
        if let Some(e) = self.write().get_mut(path) {
            e.ders = Some(ders);
        }
    }

    /// `del ssl ca-file` / `del ssl crl-file`.
    pub fn remove(&self, path: &str) -> bool {
        self.write().remove(path).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("../../tests/data/x509v1/ca.pem");

    #[test]
    fn certs_parse_dedup_and_refuse_garbage() {
        let two = format!("{CA}{CA}");
        assert_eq!(parse_certs(two.as_bytes()).unwrap().len(), 1);
        assert!(parse_certs(b"garbage").is_err());
        assert!(parse_certs(b"").is_err());
        assert!(parse_crls(CA.as_bytes()).is_err());
    }

    #[test]
    fn store_loads_once_creates_replaces_and_removes() {
        let s = CafileStore::default();
        let ders = s
            .load("/ca.pem", CafileKind::Cert, || Ok(CA.as_bytes().to_vec()))
            .unwrap();
        assert_eq!(ders.len(), 1);
        // Loaded once: the reader is not asked again.
        let again = s
            .load("/ca.pem", CafileKind::Cert, || Err("read twice".into()))
            .unwrap();
        assert_eq!(again, ders);
        assert!(s
            .load("/bad.pem", CafileKind::Cert, || Ok(b"x".to_vec()))
            .is_err());
        assert!(s.get("/bad.pem").is_none());
        assert!(!s.create("/ca.pem", CafileKind::Crl));
        assert!(s.create("new.crt", CafileKind::Cert));
        assert_eq!(s.get("new.crt").unwrap().count(), 0);
        s.replace("new.crt", ders.clone());
        assert_eq!(s.get("new.crt").unwrap().ders, Some(ders));
        let paths: Vec<String> = s.entries().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["/ca.pem", "new.crt"]);
        assert!(s.remove("new.crt"));
        assert!(!s.remove("new.crt"));
    }
}
