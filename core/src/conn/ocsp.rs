//! OCSP stapling, as HAProxy 2.6 loads it (`ssl_sock_load_ocsp`,
//! `ssl_sock_load_ocsp_response`, `ssl_sock_ocsp_stapling_cbk`): a DER
//! OCSP response read from `<crt>.ocsp` is checked against the
//! certificate and its issuer (the chain, else `<crt>.issuer`) and, when
//! valid, sent to clients that ask for it (`status_request`) until its
//! `nextUpdate` minus five minutes.
//!
//! Nothing here reads a clock or a file: the response's bytes come from
//! the driver, the time from the engine. Every read is bounds-checked; a
//! malformed response gives HAProxy's error text, never a panic.

use super::x509::{asn1_time, der, dn_entries, sha1};

/// OpenSSL's `OCSP_MAX_RESPONSE_TIME_SKEW`: the clock skew allowed on
/// `thisUpdate` / `nextUpdate`, and how long before `nextUpdate` HAProxy
/// stops stapling a response.
pub const MAX_SKEW_S: i64 = 300;

/// `id-pkix-ocsp-basic` (1.3.6.1.5.5.7.48.1.1).
const OID_OCSP_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// SHA-1, the hash of the certificate IDs OpenSSL's `OCSP_cert_to_id`
/// builds (HAProxy passes no digest).
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];

/// An OCSP certificate ID (RFC 6960 `CertID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId {
    /// The hash algorithm's OID (contents octets).
    pub hash_alg: Vec<u8>,
    pub name_hash: Vec<u8>,
    pub key_hash: Vec<u8>,
    /// The serial number's contents octets.
    pub serial: Vec<u8>,
}

impl CertId {
    /// The ID of `cert` issued by `issuer` (both DER), as OpenSSL's
    /// `OCSP_cert_to_id(NULL, cert, issuer)`: SHA-1 of the issuer's name
    /// and of its public key's bits, and the certificate's serial.
    pub fn of(cert: &[u8], issuer: &[u8]) -> Option<CertId> {
        let c = tbs(cert)?;
        let i = tbs(issuer)?;
        Some(CertId {
            hash_alg: OID_SHA1.to_vec(),
            name_hash: sha1(c.issuer_tlv).to_vec(),
            key_hash: sha1(i.key_bits).to_vec(),
            serial: c.serial.to_vec(),
        })
    }

    /// The DER encoding (`i2d_OCSP_CERTID`): HAProxy's "OCSP Response
    /// Key" and "Certificate ID key", in hex on the CLI.
    pub fn key(&self) -> Vec<u8> {
        let mut alg = tlv(0x06, &self.hash_alg);
        alg.extend_from_slice(&[0x05, 0x00]);
        let mut body = tlv(0x30, &alg);
        body.extend(tlv(0x04, &self.name_hash));
        body.extend(tlv(0x04, &self.key_hash));
        body.extend(tlv(0x02, &self.serial));
        tlv(0x30, &body)
    }

    /// `OCSP_id_cmp`: same algorithm, hashes and serial.
    fn matches(&self, other: &CertId) -> bool {
        self == other
    }
}

/// A TLV of DER.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}

/// What a certificate ID is computed from.
struct Tbs<'a> {
    serial: &'a [u8],
    /// The issuer name, tag and length included.
    issuer_tlv: &'a [u8],
    /// The subject name, tag and length included.
    subject_tlv: &'a [u8],
    /// The subject public key's bits (the BIT STRING without its
    /// unused-bits octet).
    key_bits: &'a [u8],
}

fn tbs(cert: &[u8]) -> Option<Tbs<'_>> {
    let (0x30, c, _) = der(cert)? else {
        return None;
    };
    let (0x30, mut t, _) = der(c)? else {
        return None;
    };
    if t.first() == Some(&0xa0) {
        t = der(t)?.2;
    }
    let (0x02, serial, rest) = der(t)? else {
        return None;
    };
    let (_, _sig, rest) = der(rest)?;
    let (0x30, _, after_issuer) = der(rest)? else {
        return None;
    };
    let issuer_tlv = &rest[..rest.len() - after_issuer.len()];
    let (_, _validity, rest) = der(after_issuer)?;
    let (0x30, _, after_subject) = der(rest)? else {
        return None;
    };
    let subject_tlv = &rest[..rest.len() - after_subject.len()];
    let (0x30, spki, _) = der(after_subject)? else {
        return None;
    };
    let (0x30, _alg, rest) = der(spki)? else {
        return None;
    };
    let (0x03, bits, _) = der(rest)? else {
        return None;
    };
    Some(Tbs {
        serial,
        issuer_tlv,
        subject_tlv,
        key_bits: bits.get(1..)?,
    })
}

/// The certificate of `chain[1..]` or `extra` that issued `chain[0]`
/// (its subject is the leaf's issuer), as HAProxy looks for the OCSP
/// issuer in the chain, then in `<crt>.issuer`.
pub fn find_issuer<'a>(
    leaf: &[u8],
    candidates: impl Iterator<Item = &'a [u8]>,
) -> Option<&'a [u8]> {
    let want = tbs(leaf)?.issuer_tlv;
    candidates
        .into_iter()
        .find(|c| tbs(c).is_some_and(|t| t.subject_tlv == want))
}

/// The status of the certificate in a single response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    /// Revoked, at (a GeneralizedTime's text).
    Revoked(String),
    Unknown,
}

/// The parts of an OCSP response HAProxy checks and shows.
#[derive(Debug, Clone)]
pub struct Response {
    pub id: CertId,
    pub status: CertStatus,
    /// `thisUpdate` / `nextUpdate`, seconds since the Unix epoch.
    pub this_update: i64,
    pub next_update: Option<i64>,
}

/// Parses and checks a DER OCSP response as `ssl_sock_load_ocsp_response`
/// does, in its order and with its messages: one single response,
/// `good` or `revoked`, with a `nextUpdate`, valid at `now_s` (within
/// [`MAX_SKEW_S`]), for the certificate `cid` when given.
pub fn check(resp: &[u8], cid: Option<&CertId>, now_s: i64) -> Result<Response, String> {
    let basic = basic(resp)?;
    let singles = singles(basic).ok_or("Unable to parse OCSP response")?;
    if singles.len() > 1 {
        return Err(format!(
            "OCSP response ignored because contains multiple single responses ({})",
            singles.len()
        ));
    }
    let r = singles
        .into_iter()
        .next()
        .ok_or("Failed to get OCSP single response")?;
    if r.status == CertStatus::Unknown {
        return Err("OCSP single response: certificate status is unknown".into());
    }
    let Some(next) = r.next_update else {
        return Err("OCSP single response: missing nextupdate".into());
    };
    // OpenSSL's OCSP_check_validity(thisupd, nextupd, 300, -1).
    if r.this_update > now_s + MAX_SKEW_S || next < now_s - MAX_SKEW_S || next < r.this_update {
        return Err("OCSP single response: no longer valid.".into());
    }
    if let Some(cid) = cid {
        if !r.id.matches(cid) {
            return Err(
                "OCSP single response: Certificate ID does not match certificate and issuer".into(),
            );
        }
    }
    Ok(r)
}

/// The BasicOCSPResponse's `tbsResponseData` contents.
fn basic(resp: &[u8]) -> Result<&[u8], String> {
    const PARSE: &str = "Unable to parse OCSP response";
    let (0x30, r, _) = der(resp).ok_or(PARSE)? else {
        return Err(PARSE.into());
    };
    let (0x0a, status, rest) = der(r).ok_or(PARSE)? else {
        return Err(PARSE.into());
    };
    if status != [0] {
        return Err("OCSP response status not successful".into());
    }
    const BASIC: &str = "Failed to get basic response from OCSP Response";
    let (0xa0, bytes, _) = der(rest).ok_or(BASIC)? else {
        return Err(BASIC.into());
    };
    let (0x30, bytes, _) = der(bytes).ok_or(BASIC)? else {
        return Err(BASIC.into());
    };
    let (0x06, oid, rest) = der(bytes).ok_or(BASIC)? else {
        return Err(BASIC.into());
    };
    if oid != OID_OCSP_BASIC {
        return Err(BASIC.into());
    }
    let (0x04, basic, _) = der(rest).ok_or(BASIC)? else {
        return Err(BASIC.into());
    };
    let (0x30, basic, _) = der(basic).ok_or(BASIC)? else {
        return Err(BASIC.into());
    };
    let (0x30, data, _) = der(basic).ok_or(BASIC)? else {
        return Err(BASIC.into());
    };
    Ok(data)
}

/// The fields of `tbsResponseData` before its responses.
struct DataHead<'a> {
    version: u8,
    /// `(tag, contents)`: `[1]` a name, `[2]` a key hash.
    responder: (u8, &'a [u8]),
    produced_at: (u8, &'a [u8]),
    responses: &'a [u8],
}

fn data_head(data: &[u8]) -> Option<DataHead<'_>> {
    let mut rest = data;
    let mut version = 0;
    if rest.first() == Some(&0xa0) {
        let (_, v, next) = der(rest)?;
        let (0x02, v, _) = der(v)? else {
            return None;
        };
        version = *v.last()?;
        rest = next;
    }
    let (rtag, rid, rest) = der(rest)?;
    let (0x18, produced, rest) = der(rest)? else {
        return None;
    };
    let (0x30, responses, _) = der(rest)? else {
        return None;
    };
    Some(DataHead {
        version,
        responder: (rtag, rid),
        produced_at: (0x18, produced),
        responses,
    })
}

fn singles(data: &[u8]) -> Option<Vec<Response>> {
    let mut rest = data_head(data)?.responses;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (0x30, single, next) = der(rest)? else {
            return None;
        };
        rest = next;
        out.push(single_response(single)?);
    }
    Some(out)
}

fn single_response(s: &[u8]) -> Option<Response> {
    let (0x30, id, rest) = der(s)? else {
        return None;
    };
    let (0x30, alg, idrest) = der(id)? else {
        return None;
    };
    let (0x06, hash_alg, _) = der(alg)? else {
        return None;
    };
    let (0x04, name_hash, idrest) = der(idrest)? else {
        return None;
    };
    let (0x04, key_hash, idrest) = der(idrest)? else {
        return None;
    };
    let (0x02, serial, _) = der(idrest)? else {
        return None;
    };
    let (stag, sbody, rest) = der(rest)?;
    let status = match stag {
        0x80 => CertStatus::Good,
        0xa1 => {
            let (0x18, at, _) = der(sbody)? else {
                return None;
            };
            CertStatus::Revoked(asn1_time(0x18, at)?)
        }
        0x82 => CertStatus::Unknown,
        _ => return None,
    };
    let (0x18, this, rest) = der(rest)? else {
        return None;
    };
    let next_update = match der(rest) {
        Some((0xa0, n, _)) => {
            let (0x18, n, _) = der(n)? else {
                return None;
            };
            Some(epoch_s(n)?)
        }
        _ => None,
    };
    Some(Response {
        id: CertId {
            hash_alg: hash_alg.to_vec(),
            name_hash: name_hash.to_vec(),
            key_hash: key_hash.to_vec(),
            serial: serial.to_vec(),
        },
        status,
        this_update: epoch_s(this)?,
        next_update,
    })
}

/// A GeneralizedTime (`YYYYMMDDHHMMSSZ`, fractions allowed) in seconds
/// since the Unix epoch.
fn epoch_s(t: &[u8]) -> Option<i64> {
    let s = core::str::from_utf8(t).ok()?.strip_suffix('Z')?;
    let s = s.split('.').next()?;
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| -> i64 { s[a..b].parse().unwrap_or(0) };
    let (y, m, d) = (n(0, 4), n(4, 6), n(6, 8));
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + n(8, 10) * 3600 + n(10, 12) * 60 + n(12, 14))
}

/// Upper-case hex, as OpenSSL prints hashes and serials.
pub fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Lower-case hex: the certificate ID keys on HAProxy's CLI.
pub fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The lines `show ssl ocsp-response` prints for a certificate ID.
pub fn id_lines(id: &CertId) -> String {
    format!(
        " Certificate ID:\n   Issuer Name Hash: {}\n   Issuer Key Hash: {}\n   Serial Number: {}\n",
        hex_upper(&id.name_hash),
        hex_upper(&id.key_hash),
        hex_upper(&id.serial)
    )
}

/// OpenSSL's names of the signature algorithms an OCSP responder uses.
fn sig_alg_name(oid: &[u8]) -> String {
    const NAMES: &[(&[u8], &str)] = &[
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
            "ecdsa-with-SHA256",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
            "ecdsa-with-SHA384",
        ),
        (
            &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
            "ecdsa-with-SHA512",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
            "sha1WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
            "sha256WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
            "sha384WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
            "sha512WithRSAEncryption",
        ),
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
            "rsassaPss",
        ),
        (&[0x2b, 0x65, 0x70], "ED25519"),
    ];
    NAMES
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| super::x509::oid_text(oid))
}

/// The response as OpenSSL's `OCSP_RESPONSE_print` shows it (HAProxy's
/// `show ssl ocsp-response <id>` and `show ssl cert FILE.ocsp`), up to
/// the signature: the responder's certificates that OpenSSL prints after
/// it are left out. `None` when the response does not parse.
pub fn print(resp: &[u8]) -> Option<String> {
    let (0x30, r, _) = der(resp)? else {
        return None;
    };
    let (0x0a, status, rest) = der(r)? else {
        return None;
    };
    let code = *status.last()?;
    const STATUS: [&str; 7] = [
        "successful",
        "malformedrequest",
        "internalerror",
        "trylater",
        "(UNKNOWN)",
        "sigrequired",
        "unauthorized",
    ];
    let mut out = String::from("OCSP Response Data:\n");
    out.push_str(&format!(
        "    OCSP Response Status: {} (0x{code:x})\n",
        STATUS.get(usize::from(code)).unwrap_or(&"(UNKNOWN)")
    ));
    if code != 0 || rest.is_empty() {
        return Some(out);
    }
    let data = basic(resp).ok()?;
    let head = data_head(data)?;
    out.push_str("    Response Type: Basic OCSP Response\n");
    out.push_str(&format!(
        "    Version: {} (0x{:x})\n",
        u32::from(head.version) + 1,
        head.version
    ));
    let responder = match head.responder {
        (0xa1, name) => {
            let (0x30, name, _) = der(name)? else {
                return None;
            };
            dn_entries(name)?
                .into_iter()
                .map(|(k, v)| format!("{k} = {}", String::from_utf8_lossy(&v)))
                .collect::<Vec<_>>()
                .join(", ")
        }
        (_, key) => hex_upper(der(key).map_or(key, |(_, k, _)| k)),
    };
    out.push_str(&format!("    Responder Id: {responder}\n"));
    out.push_str(&format!(
        "    Produced At: {}\n",
        asn1_time(head.produced_at.0, head.produced_at.1)?
    ));
    out.push_str("    Responses:\n");
    let mut rest = head.responses;
    while !rest.is_empty() {
        let (0x30, single, next) = der(rest)? else {
            return None;
        };
        rest = next;
        let s = single_response(single)?;
        let (_, _, srest) = der(single)?;
        let (_, _, srest) = der(srest)?;
        let (_, this, srest) = der(srest)?;
        out.push_str("    Certificate ID:\n");
        out.push_str(&format!(
            "      Hash Algorithm: {}\n",
            if s.id.hash_alg == OID_SHA1 {
                "sha1".to_string()
            } else {
                super::x509::oid_text(&s.id.hash_alg)
            }
        ));
        out.push_str(&format!(
            "      Issuer Name Hash: {}\n      Issuer Key Hash: {}\n      Serial Number: {}\n",
            hex_upper(&s.id.name_hash),
            hex_upper(&s.id.key_hash),
            hex_upper(&s.id.serial)
        ));
        match &s.status {
            CertStatus::Good => out.push_str("    Cert Status: good\n"),
            CertStatus::Unknown => out.push_str("    Cert Status: unknown\n"),
            CertStatus::Revoked(at) => {
                out.push_str("    Cert Status: revoked\n");
                out.push_str(&format!("    Revocation Time: {at}\n"));
            }
        }
        out.push_str(&format!("    This Update: {}\n", asn1_time(0x18, this)?));
        if let Some((0xa0, n, _)) = der(srest) {
            let (0x18, n, _) = der(n)? else {
                return None;
            };
            out.push_str(&format!("    Next Update: {}\n", asn1_time(0x18, n)?));
        }
    }
    // The signature, after the response data.
    let (_, r, _) = der(resp)?;
    let (_, _, rest) = der(r)?;
    let (_, bytes, _) = der(rest)?;
    let (_, bytes, _) = der(bytes)?;
    let (_, _, rest) = der(bytes)?;
    let (_, basic, _) = der(rest)?;
    let (_, basic, _) = der(basic)?;
    let (_, _, rest) = der(basic)?;
    let (0x30, alg, rest) = der(rest)? else {
        return None;
    };
    let (0x06, oid, _) = der(alg)? else {
        return None;
    };
    let (0x03, sig, _) = der(rest)? else {
        return None;
    };
    out.push_str(" \n");
    out.push_str(&format!("    Signature Algorithm: {}\n", sig_alg_name(oid)));
    out.push_str("    Signature Value:\n");
    let sig = sig.get(1..)?;
    let lines: Vec<String> = sig
        .chunks(18)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .collect();
    let n = lines.len();
    for (i, l) in lines.into_iter().enumerate() {
        out.push_str("        ");
        out.push_str(&l);
        out.push_str(if i + 1 < n { ":\n" } else { "\n" });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_to_epoch() {
        assert_eq!(epoch_s(b"19700101000000Z"), Some(0));
        assert_eq!(epoch_s(b"20261207054404Z"), Some(1_796_622_244));
        assert_eq!(epoch_s(b"20000229120000.5Z"), Some(951_825_600));
        assert_eq!(epoch_s(b"2026120705440Z"), None);
        assert_eq!(epoch_s(b"20261307054404Z"), None);
    }

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        let long = tlv(0x30, &[0; 200]);
        assert_eq!(&long[..3], [0x30, 0x81, 200]);
        let longer = tlv(0x30, &[0; 300]);
        assert_eq!(&longer[..4], [0x30, 0x82, 0x01, 0x2c]);
    }

    proptest::proptest! {
        /// Any bytes, and any bytes inside an OCSP response's envelope:
        /// an error or a value, never a panic.
        #[test]
        fn any_bytes_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = check(&body, None, 1_800_000_000);
            let _ = print(&body);
            let mut wrapped = vec![0x30, 0x82, 0, 0, 0x0a, 0x01, 0x00, 0xa0, 0x82, 0, 0];
            let n = body.len() as u16;
            wrapped[9..11].copy_from_slice(&n.to_be_bytes());
            wrapped[2..4].copy_from_slice(&(n + 7).to_be_bytes());
            wrapped.extend_from_slice(&body);
            let _ = check(&wrapped, None, 1_800_000_000);
            let _ = print(&wrapped);
        }
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            &b""[..],
            b"garbage\n",
            &[0x30, 0x03, 0x0a, 0x01, 0x00],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(check(input, None, 0).is_err());
            let _ = print(input);
        }
        assert_eq!(
            check(&[0x30, 0x03, 0x0a, 0x01, 0x01], None, 0).unwrap_err(),
            "OCSP response status not successful"
        );
        assert_eq!(
            check(&[0x30, 0x03, 0x0a, 0x01, 0x00], None, 0).unwrap_err(),
            "Failed to get basic response from OCSP Response"
        );
        assert_eq!(
            print(&[0x30, 0x03, 0x0a, 0x01, 0x03]).unwrap(),
            "OCSP Response Data:\n    OCSP Response Status: trylater (0x3)\n"
        );
    }
}
