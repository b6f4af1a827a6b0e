//! TLS session tickets on `bind ... ssl` lines, as HAProxy 2.6 issues
//! them (`ssl_tlsext_ticket_key_cb`, `tls-ticket-keys`): a ring of three
//! keys, one of which encrypts (HAProxy's `tls_ticket_enc_index`) while
//! all three decrypt, so that keys can be rotated without breaking the
//! sessions of the last two periods; OpenSSL's RFC 5077 ticket layout,
//! `key name (16) | IV (16) | AES-CBC(session) | HMAC-SHA256(all before)`.
//!
//! A key is 48 bytes (name, AES-128 key, 16-byte HMAC key) or 80 bytes
//! (name, AES-256 key, 32-byte HMAC key), base64 on one line of the
//! `tls-ticket-keys` file; the penultimate line's key encrypts. Without a
//! file each `bind` line gets three random 80-byte keys, as OpenSSL makes
//! its own for each context. The randomness (keys, IVs) is a ChaCha20
//! stream keyed by the driver ([`super::tls::TlsEnv::ticket_seed`]: OS
//! entropy in `proxy-mio`, the scenario seed in the simulator): nothing
//! here reads the OS. The ticket's age is checked by rustls against the
//! engine's clock.

// rustls's trait takes `&self` and wants `Sync`; the engine runs on one
// thread, so the locks are never contended.
#[allow(clippy::disallowed_types)]
use std::sync::{Mutex, RwLock};

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// HAProxy's `TLS_TICKETS_NO`: the keys kept.
pub const TLS_TICKETS_NO: usize = 3;

/// One ticket key (HAProxy's `tls_sess_key_128` / `_256`).
#[derive(Clone, PartialEq, Eq)]
pub struct TicketKey {
    pub name: [u8; 16],
    pub aes: Vec<u8>,
    pub hmac: Vec<u8>,
}

impl core::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Secrets stay out of debug output.
        write!(f, "TicketKey({} bits)", self.aes.len() * 8)
    }
}

impl TicketKey {
    /// A key from its 48 or 80 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<TicketKey> {
        let half = match b.len() {
            48 => 16,
            80 => 32,
            _ => return None,
        };
        let mut name = [0; 16];
        name.copy_from_slice(&b[..16]);
        Some(TicketKey {
            name,
            aes: b[16..16 + half].to_vec(),
            hmac: b[16 + half..].to_vec(),
        })
    }

    /// The 48 or 80 bytes (`show tls-keys` prints them in base64).
    pub fn to_bytes(&self) -> Vec<u8> {
        [&self.name[..], &self.aes, &self.hmac].concat()
    }
}

/// The key ring of a `bind` line (HAProxy's `struct tls_keys_ref`).
#[derive(Clone, Debug)]
pub struct TicketKeys {
    pub keys: [TicketKey; TLS_TICKETS_NO],
    /// The key that encrypts.
    pub enc: usize,
}

/// A `tls-ticket-keys` file, as HAProxy 2.6's `bind_parse_tls_ticket_keys`
/// reads it: one base64 key per line, all of one size (48 or 80 bytes);
/// at least three lines; the last three are kept, the penultimate one
/// encrypts. Errors are HAProxy's texts.
pub fn parse_keys_file(path: &str, text: &[u8]) -> Result<TicketKeys, String> {
    let mut ring: Vec<Option<TicketKey>> = vec![None; TLS_TICKETS_NO];
    let mut size = 0;
    let mut i = 0usize;
    // Lines as `fgets` gives them: the text after the last newline, if
    // any, is one more.
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let lines = body.split(|&b| b == b'\n').filter(|_| !text.is_empty());
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(bytes) = crate::base64::decode(line) else {
            return Err(format!(
                "'{path}' : unable to decode base64 key on line {}",
                i + 1
            ));
        };
        let ok = matches!(bytes.len(), 48 | 80) && (size == 0 || size == bytes.len());
        let Some(key) = TicketKey::from_bytes(&bytes).filter(|_| ok) else {
            return Err(format!("'{path}' : wrong sized key on line {}", i + 1));
        };
        size = bytes.len();
        ring[i % TLS_TICKETS_NO] = Some(key);
        i += 1;
    }
    if i < TLS_TICKETS_NO {
        return Err(format!(
            "'{path}' : please supply at least {TLS_TICKETS_NO} keys in the tls-tickets-file"
        ));
    }
    let keys = ring.map_or_default();
    Ok(TicketKeys {
        keys,
        enc: (i - 2) % TLS_TICKETS_NO,
    })
}

trait MapOrDefault {
    fn map_or_default(self) -> [TicketKey; TLS_TICKETS_NO];
}

impl MapOrDefault for Vec<Option<TicketKey>> {
    fn map_or_default(self) -> [TicketKey; TLS_TICKETS_NO] {
        let blank = || TicketKey {
            name: [0; 16],
            aes: vec![0; 32],
            hmac: vec![0; 32],
        };
        let mut it = self.into_iter().map(|k| k.unwrap_or_else(blank));
        [
            it.next().unwrap_or_else(blank),
            it.next().unwrap_or_else(blank),
            it.next().unwrap_or_else(blank),
        ]
    }
}

/// The ticket producer of a `bind` line: rustls calls it to seal and open
/// tickets.
#[derive(Debug)]
#[allow(clippy::disallowed_types)]
pub struct Ticketer {
    keys: RwLock<TicketKeys>,
    /// The IVs' stream.
    rng: Mutex<ChaCha20Rng>,
    lifetime_s: u32,
    /// The `tls-ticket-keys` file, if any (`show tls-keys`).
    pub file: Option<String>,
}

impl Ticketer {
    /// A producer with `keys`, or three random 256-bit keys drawn from
    /// the stream `stream` of the driver's secret (the same for every
    /// thread's engine, which then open each other's tickets); IVs from
    /// the stream `iv_stream` (one per thread: never the same IV twice).
    #[allow(clippy::disallowed_types)]
    pub fn new(
        seed: [u8; 32],
        (stream, iv_stream): (u64, u64),
        keys: Option<TicketKeys>,
        file: Option<String>,
        lifetime_s: u32,
    ) -> Ticketer {
        let mut rng = ChaCha20Rng::from_seed(seed);
        rng.set_stream(stream);
        let keys = keys.unwrap_or_else(|| {
            let mut k = || {
                let mut b = [0u8; 80];
                rng.fill_bytes(&mut b);
                TicketKey::from_bytes(&b).unwrap_or(TicketKey {
                    name: [0; 16],
                    aes: vec![0; 32],
                    hmac: vec![0; 32],
                })
            };
            TicketKeys {
                keys: [k(), k(), k()],
                enc: 1,
            }
        });
        let mut ivs = ChaCha20Rng::from_seed(seed);
        ivs.set_stream(iv_stream);
        Ticketer {
            keys: RwLock::new(keys),
            rng: Mutex::new(ivs),
            lifetime_s,
            file,
        }
    }

    /// The key ring now (`show tls-keys`).
    pub fn keys(&self) -> TicketKeys {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `set ssl tls-key` (HAProxy's `ssl_sock_update_tlskey_ref`): `key`
    /// (the same size as the others) replaces the oldest key, and the
    /// next one encrypts. `Err` with HAProxy's reason.
    pub fn update(&self, key: &[u8]) -> Result<(), &'static str> {
        let mut k = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let size = k.keys[0].to_bytes().len();
        let new = TicketKey::from_bytes(key)
            .filter(|_| key.len() == size)
            .ok_or("Invalid key size")?;
        let slot = (k.enc + 2) % TLS_TICKETS_NO;
        k.keys[slot] = new;
        k.enc = (k.enc + 1) % TLS_TICKETS_NO;
        Ok(())
    }

    fn mac(key: &[u8], data: &[u8]) -> Option<[u8; 32]> {
        let mut m = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).ok()?;
        Mac::update(&mut m, data);
        let out = m.finalize().into_bytes();
        let mut a = [0u8; 32];
        a.copy_from_slice(&out);
        Some(a)
    }

    fn seal(key: &TicketKey, iv: &[u8; 16], plain: &[u8]) -> Option<Vec<u8>> {
        let ct = match key.aes.len() {
            16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(&key.aes, iv)
                .ok()?
                .encrypt_padded_vec_mut::<Pkcs7>(plain),
            32 => cbc::Encryptor::<aes::Aes256>::new_from_slices(&key.aes, iv)
                .ok()?
                .encrypt_padded_vec_mut::<Pkcs7>(plain),
            _ => return None,
        };
        let mut out = Vec::with_capacity(32 + ct.len() + 32);
        out.extend_from_slice(&key.name);
        out.extend_from_slice(iv);
        out.extend_from_slice(&ct);
        let mac = Ticketer::mac(&key.hmac, &out)?;
        out.extend_from_slice(&mac);
        Some(out)
    }

    fn open(key: &TicketKey, ticket: &[u8]) -> Option<Vec<u8>> {
        let (body, mac) = ticket.split_at(ticket.len().checked_sub(32)?);
        let want = Ticketer::mac(&key.hmac, body)?;
        // Constant time: no early exit on the first differing byte.
        if want.iter().zip(mac).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
            return None;
        }
        let iv = body.get(16..32)?;
        let ct = body.get(32..)?;
        match key.aes.len() {
            16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key.aes, iv)
                .ok()?
                .decrypt_padded_vec_mut::<Pkcs7>(ct)
                .ok(),
            32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key.aes, iv)
                .ok()?
                .decrypt_padded_vec_mut::<Pkcs7>(ct)
                .ok(),
            _ => None,
        }
    }
}

impl rustls::server::ProducesTickets for Ticketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.lifetime_s
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut iv = [0u8; 16];
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill_bytes(&mut iv);
        let k = self.keys.read().unwrap_or_else(|e| e.into_inner());
        Ticketer::seal(&k.keys[k.enc], &iv, plain)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let name = ticket.get(..16)?;
        let k = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = k.keys.iter().find(|key| key.name == name)?;
        Ticketer::open(key, ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::ProducesTickets;

    fn b64(b: &[u8]) -> String {
        String::from_utf8(crate::base64::encode(b)).unwrap()
    }

    fn file(keys: &[Vec<u8>]) -> String {
        keys.iter().map(|k| b64(k) + "\n").collect()
    }

    #[test]
    fn seal_open_and_rotation() {
        let keys: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 80]).collect();
        let ring = parse_keys_file("k", file(&keys).as_bytes()).unwrap();
        // Lines 2, 3, 4 kept; the penultimate (line 3) encrypts.
        assert_eq!(ring.keys[ring.enc].name, [2; 16]);
        let t = Ticketer::new([7; 32], (0, 1 << 32), Some(ring), Some("k".into()), 300);
        let sealed = t.encrypt(b"session state").unwrap();
        assert_eq!(&sealed[..16], &[2; 16]);
        assert_eq!(t.decrypt(&sealed).unwrap(), b"session state");
        // Tampering anywhere: refused.
        for i in [0, 20, 40, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(t.decrypt(&bad), None, "byte {i}");
        }
        assert_eq!(t.decrypt(&sealed[..40]), None);
        assert_eq!(t.decrypt(b""), None);
        // One rotation: the last line's key encrypts, the sealing key is
        // the previous one and still opens; the next rotation drops it.
        t.update(&[9; 80]).unwrap();
        assert_eq!(t.keys().keys[t.keys().enc].name, [3; 16]);
        assert_eq!(t.decrypt(&sealed).unwrap(), b"session state");
        t.update(&[10; 80]).unwrap();
        assert_eq!(t.keys().keys[t.keys().enc].name, [9; 16]);
        assert_eq!(t.decrypt(&sealed), None);
        assert_eq!(t.update(&[1; 48]), Err("Invalid key size"));
    }

    #[test]
    fn key_files_as_haproxy_reads_them() {
        let k48 = vec![1u8; 48];
        let k80 = vec![2u8; 80];
        let ok = parse_keys_file(
            "f",
            file(&[k48.clone(), k48.clone(), k48.clone()]).as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.enc, 1);
        assert_eq!(ok.keys[0].aes.len(), 16);
        assert_eq!(
            parse_keys_file("f", file(&[k48.clone(), k48.clone()]).as_bytes()).unwrap_err(),
            "'f' : please supply at least 3 keys in the tls-tickets-file"
        );
        assert_eq!(
            parse_keys_file("f", file(&[k48.clone(), k80, k48.clone()]).as_bytes()).unwrap_err(),
            "'f' : wrong sized key on line 2"
        );
        assert_eq!(
            parse_keys_file("f", format!("{}!!\n", file(&[k48])).as_bytes()).unwrap_err(),
            "'f' : unable to decode base64 key on line 2"
        );
        // CRLF line ends.
        let crlf = file(&[vec![3u8; 48], vec![4u8; 48], vec![5u8; 48]]).replace('\n', "\r\n");
        assert_eq!(
            parse_keys_file("f", crlf.as_bytes()).unwrap().keys[1].name,
            [4; 16]
        );
    }

    #[test]
    fn random_keys_differ_by_stream_and_aes128_works() {
        let a = Ticketer::new([1; 32], (0, 1 << 32), None, None, 300).keys();
        let b = Ticketer::new([1; 32], (1, 1 << 32), None, None, 300).keys();
        assert_ne!(a.keys[0], b.keys[0]);
        let t = Ticketer::new(
            [1; 32],
            (2, 1 << 32),
            Some(
                parse_keys_file(
                    "f",
                    file(&[vec![1; 48], vec![2; 48], vec![3; 48]]).as_bytes(),
                )
                .unwrap(),
            ),
            None,
            300,
        );
        let s = t.encrypt(&[0x55; 100]).unwrap();
        assert_eq!(s.len(), 16 + 16 + 112 + 32);
        assert_eq!(t.decrypt(&s).unwrap(), [0x55; 100]);
    }
}
