//! The simulator's crypto provider (`sluice_sim::tls`): same seed, same
//! handshake bytes; another seed, other bytes. A bare rustls client and
//! server, both on the seeded provider, with certificates made from the
//! seed, shuttle their records in memory; every byte each side wrote is
//! recorded.

use std::io::{Read, Write};
use std::sync::Arc;

use sluice_core::rng::Rng;
use sluice_sim::tls;

/// Both directions of one handshake plus one exchange of application data,
/// as written on the wire, in order (`>` client to server, `<` back).
fn handshake(seed: u64, tls12: bool) -> Vec<(char, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    let provider = tls::provider(rng.fork());
    let clock = Arc::new(tls::SimClock::default());
    clock.set_ms(1_700_000_000_000 + seed % 1000);
    let ca = tls::SimCa::new(&mut rng);
    let (pem, _) = ca.leaf(&mut rng, &["sluice.sim"]);
    let scfg = tls::server_config(&provider, &clock, &pem);
    let mut ccfg = (*tls::client_config(&provider, &clock, &ca)).clone();
    if tls12 {
        ccfg = rustls::ClientConfig::builder_with_details(provider.clone(), clock.clone())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(tls::roots(&ca))
            .with_no_client_auth();
    }
    let mut c =
        rustls::ClientConnection::new(Arc::new(ccfg), "sluice.sim".try_into().unwrap()).unwrap();
    let mut s = rustls::ServerConnection::new(scfg).unwrap();
    c.writer().write_all(b"SLC:ping").unwrap();
    let mut wire = Vec::new();
    let mut got = Vec::new();
    for _ in 0..20 {
        let mut moved = false;
        while c.wants_write() {
            let mut b = Vec::new();
            c.write_tls(&mut b).unwrap();
            s.read_tls(&mut &b[..]).unwrap();
            s.process_new_packets().unwrap();
            wire.push(('>', b));
            moved = true;
        }
        let mut plain = [0u8; 64];
        if let Ok(n) = s.reader().read(&mut plain) {
            if n > 0 {
                got.extend_from_slice(&plain[..n]);
                s.writer().write_all(b"SRV:pong").unwrap();
            }
        }
        while s.wants_write() {
            let mut b = Vec::new();
            s.write_tls(&mut b).unwrap();
            c.read_tls(&mut &b[..]).unwrap();
            c.process_new_packets().unwrap();
            wire.push(('<', b));
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert!(!c.is_handshaking() && !s.is_handshaking(), "handshake over");
    assert_eq!(got, b"SLC:ping", "the server read the client's data");
    let mut back = [0u8; 64];
    let n = c.reader().read(&mut back).unwrap();
    assert_eq!(&back[..n], b"SRV:pong");
    let want = if tls12 {
        rustls::ProtocolVersion::TLSv1_2
    } else {
        rustls::ProtocolVersion::TLSv1_3
    };
    assert_eq!(c.protocol_version(), Some(want));
    // No plaintext on the wire.
    for (_, b) in &wire {
        assert!(!b.windows(8).any(|w| w == b"SLC:ping" || w == b"SRV:pong"));
    }
    wire
}

#[test]
fn same_seed_same_handshake_bytes() {
    for tls12 in [false, true] {
        for seed in [0, 1, 42, u64::MAX] {
            let a = handshake(seed, tls12);
            let b = handshake(seed, tls12);
            assert!(a.len() >= 4, "a whole handshake: {} flights", a.len());
            assert_eq!(a, b, "seed {seed} (TLS 1.2: {tls12}): two runs differ");
        }
    }
}

#[test]
fn another_seed_other_bytes() {
    for tls12 in [false, true] {
        let a = handshake(7, tls12);
        let b = handshake(8, tls12);
        // Every flight carries seeded bytes (randoms, key shares, or
        // records under keys derived from them).
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_ne!(x.1, y.1, "a flight equal across seeds (TLS 1.2: {tls12})");
        }
    }
}

#[test]
fn the_provider_refuses_randomized_signatures() {
    // An ECDSA P-256 key (ring would draw its nonces from the OS).
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(kp.serialize_der().into());
    let p = tls::provider(Rng::new(1));
    let e = p.key_provider.load_private_key(der).expect_err("refused");
    assert!(e.to_string().contains("Ed25519 only"), "{e}");
}

/// The seeded provider stays out of production: neither the engine's
/// crate nor the production driver depends on the simulator or on its
/// crypto crates.
#[test]
fn production_crates_do_not_take_the_seeded_provider() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for m in ["core/Cargo.toml", "io-mio/Cargo.toml"] {
        let text = std::fs::read_to_string(root.join(m)).unwrap();
        for dep in ["sluice-sim", "x25519-dalek", "rcgen"] {
            assert!(
                !text.lines().any(|l| l.trim_start().starts_with(dep)),
                "{m} depends on {dep}"
            );
        }
    }
}
