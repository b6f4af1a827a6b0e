//! The simulator's TLS world: a rustls crypto provider whose every random
//! byte comes from the scenario seed, and the certificates of a run, made
//! from the seed at its start. Never built into production: only
//! `sluice-sim` depends on this (core/ and io-mio/ do not).
//!
//! Why a provider of its own (docs/tls.md, "Determinism"): a seeded
//! [`SecureRandom`] alone is not enough, because ring's key exchange draws
//! its ephemeral keys from the OS (`ring::rand::SystemRandom`, sealed: no
//! other source can be handed in) and ring's ECDSA signatures draw their
//! nonces from it too. So:
//!
//! * randomness (client and server randoms, session ids, ticket ids):
//!   [`SeededRandom`], a ChaCha8 stream seeded by the scenario;
//! * key exchange: X25519 only ([`SeededX25519`]), the private scalar drawn
//!   from [`SeededRandom`], the arithmetic from `x25519-dalek`;
//! * signatures: Ed25519 only (deterministic by construction, RFC 8032),
//!   with ring's implementation; [`SeededKeys`] refuses any other key, so a
//!   run can never sign with a randomized algorithm;
//! * AEADs, hashes, HMAC, HKDF, signature verification: ring's (pure
//!   functions of their inputs);
//! * time: never the OS clock: the engine has its own (`EngineClock`), the
//!   simulated clients and servers read [`SimClock`], which the world sets.
//!
//! Same seed, same handshake bytes: `sim/tests/tls_determinism.rs` checks it
//! on a bare handshake, `sim/tests/determinism.rs` on the `tls-proxy`
//! scenario (its trace hashes every byte on the wire).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::sign::SigningKey;
use rustls::{Error, NamedGroup, PeerMisbehaved, SignatureAlgorithm};

use sluice_core::rng::Rng;

/// Randomness for rustls from the scenario seed (ChaCha8).
#[derive(Debug)]
pub struct SeededRandom(Mutex<Rng>);

impl SeededRandom {
    pub fn new(rng: Rng) -> SeededRandom {
        SeededRandom(Mutex::new(rng))
    }

    fn fill_now(&self, buf: &mut [u8]) {
        // A poisoned lock only means a panic elsewhere in the run: the
        // stream is still a stream.
        let mut g = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.fill(buf);
    }
}

impl SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        self.fill_now(buf);
        Ok(())
    }
}

/// X25519 with its private scalar drawn from [`SeededRandom`].
#[derive(Debug)]
pub struct SeededX25519(Arc<SeededRandom>);

struct X25519Active {
    secret: [u8; 32],
    public: [u8; 32],
}

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut secret = [0u8; 32];
        self.0.fill_now(&mut secret);
        let public = x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES);
        Ok(Box::new(X25519Active { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

impl ActiveKeyExchange for X25519Active {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
        let peer: [u8; 32] = peer
            .try_into()
            .map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = x25519_dalek::x25519(self.secret, peer);
        // A low-order point gives all zeros (RFC 7748 §6.1): refused, as
        // ring does.
        if shared == [0u8; 32] {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// ring's key loading, for Ed25519 keys only (deterministic signatures).
#[derive(Debug)]
pub struct SeededKeys;

impl KeyProvider for SeededKeys {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, Error> {
        let k = rustls::crypto::ring::sign::any_supported_type(&key_der)?;
        if k.algorithm() != SignatureAlgorithm::ED25519 {
            return Err(Error::General(
                "the simulator's provider signs with Ed25519 only (deterministic signatures)"
                    .into(),
            ));
        }
        Ok(k)
    }
}

/// The simulator's provider: ring's suites and verification algorithms,
/// seeded X25519, Ed25519 keys only, randomness from `rng`.
pub fn provider(rng: Rng) -> Arc<CryptoProvider> {
    let random = Arc::new(SeededRandom::new(rng));
    let kx: &'static dyn SupportedKxGroup = Box::leak(Box::new(SeededX25519(random.clone())));
    let random: &'static dyn SecureRandom = Box::leak(Box::new(SeededRandomRef(random)));
    #[allow(deprecated)] // ring lacks post-quantum kx only; irrelevant here
    let ring = rustls::crypto::ring::default_provider();
    Arc::new(CryptoProvider {
        cipher_suites: ring.cipher_suites,
        kx_groups: vec![kx],
        signature_verification_algorithms: ring.signature_verification_algorithms,
        secure_random: random,
        key_provider: &SeededKeys,
    })
}

/// `&'static dyn SecureRandom` over a shared [`SeededRandom`].
#[derive(Debug)]
struct SeededRandomRef(Arc<SeededRandom>);

impl SecureRandom for SeededRandomRef {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        self.0.fill_now(buf);
        Ok(())
    }
}

/// Wall-clock time for the simulated TLS peers (certificate validity):
/// set by the world from the simulated clock.
#[derive(Debug, Default)]
pub struct SimClock(AtomicU64);

impl SimClock {
    pub fn set_ms(&self, ms: u64) {
        self.0.store(ms, Ordering::Relaxed);
    }
}

impl rustls::time_provider::TimeProvider for SimClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(
            core::time::Duration::from_millis(self.0.load(Ordering::Relaxed)),
        ))
    }
}

/// An Ed25519 key pair from 32 seed bytes, as PKCS#8 v1 (RFC 8410).
fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    der
}

fn key_pair(rng: &mut Rng) -> rcgen::KeyPair {
    let mut seed = [0u8; 32];
    rng.fill(&mut seed);
    let der = PrivatePkcs8KeyDer::from(ed25519_pkcs8(seed));
    rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)
        .expect("a well-formed Ed25519 PKCS#8 key")
}

fn params(names: &[&str], cn: &str) -> rcgen::CertificateParams {
    let mut p =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("valid DNS names");
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    // Any simulated time (the clock starts anywhere from 1970 on).
    p.not_before = rcgen::date_time_ymd(1970, 1, 1);
    p.not_after = rcgen::date_time_ymd(2999, 12, 31);
    p
}

/// A run's certificate authority (Ed25519), made from the seed.
pub struct SimCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl SimCa {
    pub fn new(rng: &mut Rng) -> SimCa {
        let key = key_pair(rng);
        let mut p = params(&[], "Sluice sim CA");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = p.self_signed(&key).expect("self-signed CA");
        SimCa { cert, key }
    }

    /// The CA certificate, PEM (a `ca-file`).
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A leaf certificate for `names` signed by this CA, with its key, in
    /// HAProxy's PEM layout (certificate, then key, one file), and the
    /// leaf alone in DER.
    pub fn leaf(&self, rng: &mut Rng, names: &[&str]) -> (String, CertificateDer<'static>) {
        let key = key_pair(rng);
        let cert = params(names, names.first().copied().unwrap_or("leaf"))
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        (
            format!("{}{}", cert.pem(), key.serialize_pem()),
            cert.der().clone(),
        )
    }
}

/// A root store holding `ca`.
pub fn roots(ca: &SimCa) -> Arc<rustls::RootCertStore> {
    let mut r = rustls::RootCertStore::empty();
    r.add(ca.der()).expect("the CA certificate parses");
    Arc::new(r)
}

/// A simulated client's TLS configuration: verifies the proxy's
/// certificate against `ca`, sends SNI, TLS 1.2 and 1.3.
pub fn client_config(
    provider: &Arc<CryptoProvider>,
    clock: &Arc<SimClock>,
    ca: &SimCa,
) -> Arc<rustls::ClientConfig> {
    let c = rustls::ClientConfig::builder_with_details(provider.clone(), clock.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("TLS 1.2 and 1.3 with ring's suites")
        .with_root_certificates(roots(ca))
        .with_no_client_auth();
    Arc::new(c)
}

/// A simulated server's TLS configuration: `pem` (certificate and key).
pub fn server_config(
    provider: &Arc<CryptoProvider>,
    clock: &Arc<SimClock>,
    pem: &str,
) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("the leaf certificate parses");
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("the leaf key parses");
    let c = rustls::ServerConfig::builder_with_details(provider.clone(), clock.clone())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("TLS 1.2 and 1.3 with ring's suites")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("an Ed25519 certificate and its key");
    Arc::new(c)
}
