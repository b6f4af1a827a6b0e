//! What the `ssl_c_*` fetches read from a client certificate (HAProxy's
//! `ssl_sock_get_dn_oneline`, `ssl_sock_get_dn_entry`,
//! `ssl_sock_get_serial`, and `X509_digest(.., EVP_sha1())`): a minimal
//! DER reader for the TBSCertificate's serial, issuer and subject, the
//! one-line form of a distinguished name as OpenSSL prints it
//! (`/C=FR/O=Example/CN=www.example.com`), and SHA-1.
//!
//! The certificate was verified by rustls/webpki before anything here
//! reads it; still, every read is bounds-checked and a malformed
//! certificate gives `None`, never a panic.

/// One DER element: its tag and contents, and what follows it.
pub(crate) fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*input.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    Some((tag, input.get(hdr..end)?, input.get(end..)?))
}

/// The parts of a certificate the fetches show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo<'a> {
    /// The serial number's magnitude: its contents octets without DER's
    /// leading 0x00 pad (HAProxy's `ssl_c_serial`, OpenSSL's `ASN1_INTEGER`).
    pub serial: &'a [u8],
    /// The issuer and subject names, DER (a SEQUENCE's contents).
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
}

/// The fields of a DER certificate's `tbsCertificate` from the serial on
/// (after the optional `[0] EXPLICIT` version).
fn tbs_fields(cert: &[u8]) -> Option<&[u8]> {
    let (0x30, c, _) = der(cert)? else {
        return None;
    };
    let (0x30, tbs, _) = der(c)? else {
        return None;
    };
    if tbs.first() == Some(&0xa0) {
        return Some(der(tbs)?.2);
    }
    Some(tbs)
}

/// Reads the serial, issuer and subject of a DER certificate.
pub fn cert_info(cert: &[u8]) -> Option<CertInfo<'_>> {
    let rest = tbs_fields(cert)?;
    let (0x02, serial, rest) = der(rest)? else {
        return None;
    };
    let (_, _sig, rest) = der(rest)?;
    let (0x30, issuer, rest) = der(rest)? else {
        return None;
    };
    let (_, _validity, rest) = der(rest)?;
    let (0x30, subject, _) = der(rest)? else {
        return None;
    };
    // The magnitude, as OpenSSL's ASN1_INTEGER keeps it: without the
    // 0x00 that DER puts before a first byte with its high bit set.
    let serial = match serial {
        [0, b, ..] if b & 0x80 != 0 => &serial[1..],
        s => s,
    };
    Some(CertInfo {
        serial,
        issuer,
        subject,
    })
}

/// What `show ssl cert FILE` prints of a certificate beyond [`CertInfo`]
/// (HAProxy's `show_cert_detail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDetail {
    /// `notBefore` / `notAfter` as OpenSSL's `ASN1_TIME_print`:
    /// `Dec  6 05:01:15 2026 GMT`.
    pub not_before: String,
    pub not_after: String,
    /// The subject alternative names, as HAProxy's
    /// `ssl_sock_get_san_oneline`: `DNS:a.test, DNS:www.a.test` (names of
    /// other kinds leave an empty item, as there).
    pub san: String,
    /// The key, as `cert_get_pkey_algo`: `EC256`, `RSA2048`; `None` for
    /// another kind (Ed25519), for which HAProxy stops the details there.
    pub algo: Option<String>,
}

/// Reads the validity, subject alternative names and key of a DER
/// certificate.
pub fn cert_detail(cert: &[u8]) -> Option<CertDetail> {
    let rest = tbs_fields(cert)?;
    let (_, _serial, rest) = der(rest)?;
    let (_, _sig, rest) = der(rest)?;
    let (_, _issuer, rest) = der(rest)?;
    let (0x30, validity, rest) = der(rest)? else {
        return None;
    };
    let (t1, nb, v) = der(validity)?;
    let (t2, na, _) = der(v)?;
    let (_, _subject, rest) = der(rest)?;
    let (0x30, spki, mut rest) = der(rest)? else {
        return None;
    };
    let mut san = String::new();
    // Optional [1] and [2] unique ids, then [3] extensions.
    while let Some((tag, body, next)) = der(rest) {
        rest = next;
        if tag != 0xa3 {
            continue;
        }
        let (0x30, mut exts, _) = der(body)? else {
            return None;
        };
        while !exts.is_empty() {
            let (0x30, ext, next) = der(exts)? else {
                return None;
            };
            exts = next;
            let (0x06, oid, mut e) = der(ext)? else {
                return None;
            };
            if oid != [0x55, 0x1d, 0x11] {
                continue;
            }
            if e.first() == Some(&0x01) {
                e = der(e)?.2;
            }
            let (0x04, value, _) = der(e)? else {
                return None;
            };
            let (0x30, mut names, _) = der(value)? else {
                return None;
            };
            let mut first = true;
            while !names.is_empty() {
                let (tag, n, next) = der(names)?;
                names = next;
                if !first {
                    san.push_str(", ");
                }
                first = false;
                if tag == 0x82 {
                    san.push_str("DNS:");
                    san.push_str(&String::from_utf8_lossy(n));
                }
            }
        }
    }
    Some(CertDetail {
        not_before: asn1_time(t1, nb)?,
        not_after: asn1_time(t2, na)?,
        san,
        algo: pkey_algo(spki),
    })
}

/// What the `ssl_{c,s}_version`, `_sig_alg`, `_key_alg`, `_notbefore`
/// and `_notafter` fetches read (HAProxy's `smp_fetch_ssl_x_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertMeta<'a> {
    /// `X509_get_version + 1`: 3 for a v3 certificate, 1 when the
    /// version field is absent.
    pub version: i64,
    /// The OID of the TBSCertificate's signature algorithm.
    pub sig_alg: &'a [u8],
    /// The OID of the subject public key's algorithm.
    pub key_alg: &'a [u8],
    /// `notBefore` / `notAfter`: tag (UTCTime or GeneralizedTime) and
    /// contents.
    pub not_before: (u8, &'a [u8]),
    pub not_after: (u8, &'a [u8]),
}

/// Reads the version, algorithms and validity of a DER certificate.
pub fn cert_meta(cert: &[u8]) -> Option<CertMeta<'_>> {
    let (0x30, c, _) = der(cert)? else {
        return None;
    };
    let (0x30, mut rest, _) = der(c)? else {
        return None;
    };
    let mut version = 1;
    if rest.first() == Some(&0xa0) {
        let (_, v, next) = der(rest)?;
        let (0x02, n, _) = der(v)? else {
            return None;
        };
        let [n] = n else { return None };
        version = i64::from(*n) + 1;
        rest = next;
    }
    let (0x02, _serial, rest) = der(rest)? else {
        return None;
    };
    let (0x30, sig, rest) = der(rest)? else {
        return None;
    };
    let (0x06, sig_alg, _) = der(sig)? else {
        return None;
    };
    let (_, _issuer, rest) = der(rest)?;
    let (0x30, validity, rest) = der(rest)? else {
        return None;
    };
    let (t1, nb, v) = der(validity)?;
    let (t2, na, _) = der(v)?;
    let (_, _subject, rest) = der(rest)?;
    let (0x30, spki, _) = der(rest)? else {
        return None;
    };
    let (0x30, alg, _) = der(spki)? else {
        return None;
    };
    let (0x06, key_alg, _) = der(alg)? else {
        return None;
    };
    Some(CertMeta {
        version,
        sig_alg,
        key_alg,
        not_before: (t1, nb),
        not_after: (t2, na),
    })
}

/// `ssl_c_notafter` and the like, as HAProxy's `ssl_sock_get_time`: a
/// UTCTime as written (`YYMMDDhhmmssZ`, years before 2050 only), a
/// GeneralizedTime of the 2000s without its century; `None` otherwise.
pub fn fetch_time((tag, v): (u8, &[u8])) -> Option<Vec<u8>> {
    match tag {
        0x18 if v.len() >= 12 && v.starts_with(b"20") => Some(v[2..].to_vec()),
        0x17 if v.len() >= 10 && v[0] < b'5' => Some(v.to_vec()),
        _ => None,
    }
}

/// OpenSSL's short name of an algorithm OID (`OBJ_nid2sn`), for the
/// `_sig_alg` and `_key_alg` fetches: the algorithms a TLS certificate
/// carries; another one shows as its dotted form.
pub fn alg_short_name(oid: &[u8]) -> String {
    const PKCS1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    let name = if let Some(&[n]) = oid.strip_prefix(PKCS1) {
        match n {
            1 => "rsaEncryption",
            4 => "RSA-MD5",
            5 => "RSA-SHA1",
            10 => "RSASSA-PSS",
            11 => "RSA-SHA256",
            12 => "RSA-SHA384",
            13 => "RSA-SHA512",
            14 => "RSA-SHA224",
            _ => return oid_text(oid),
        }
    } else if let Some(&[n]) = oid.strip_prefix(ECDSA_SHA2) {
        match n {
            1 => "ecdsa-with-SHA224",
            2 => "ecdsa-with-SHA256",
            3 => "ecdsa-with-SHA384",
            4 => "ecdsa-with-SHA512",
            _ => return oid_text(oid),
        }
    } else {
        match oid {
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01] => "ecdsa-with-SHA1",
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01] => "id-ecPublicKey",
            [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01] => "DSA",
            [0x2b, 0x65, 0x70] => "ED25519",
            [0x2b, 0x65, 0x71] => "ED448",
            _ => return oid_text(oid),
        }
    };
    name.to_string()
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as
/// OpenSSL prints it.
pub(crate) fn asn1_time(tag: u8, v: &[u8]) -> Option<String> {
    let s = core::str::from_utf8(v).ok()?;
    let s = s.strip_suffix('Z')?;
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, s.len()) {
        (0x17, 12) => {
            let yy: u32 = s[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        (0x18, 14) => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    let num = |i: usize| -> Option<u32> { rest.get(i..i + 2)?.parse().ok() };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.get(usize::try_from(num(0)?.checked_sub(1)?).ok()?)?;
    Some(format!(
        "{month} {:>2} {:02}:{:02}:{:02} {year} GMT",
        num(2)?,
        num(4)?,
        num(6)?,
        num(8)?
    ))
}

/// `EC256`, `RSA2048`, `DSA1024` from a SubjectPublicKeyInfo's contents.
fn pkey_algo(spki: &[u8]) -> Option<String> {
    let (0x30, alg, rest) = der(spki)? else {
        return None;
    };
    let (0x06, oid, params) = der(alg)? else {
        return None;
    };
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
    // The number of significant bits of a big-endian INTEGER's contents.
    let bits = |n: &[u8]| -> usize {
        let n: &[u8] = {
            let i = n.iter().position(|&b| b != 0).unwrap_or(n.len());
            &n[i..]
        };
        match n.first() {
            None => 0,
            Some(&b) => (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
        }
    };
    if oid == RSA {
        let (0x03, key, _) = der(rest)? else {
            return None;
        };
        let (0x30, seq, _) = der(key.get(1..)?)? else {
            return None;
        };
        let (0x02, n, _) = der(seq)? else {
            return None;
        };
        Some(format!("RSA{}", bits(n)))
    } else if oid == EC {
        let (0x06, curve, _) = der(params)? else {
            return None;
        };
        let b = match curve {
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => 256,
            [0x2b, 0x81, 0x04, 0x00, 0x22] => 384,
            [0x2b, 0x81, 0x04, 0x00, 0x23] => 521,
            [0x2b, 0x81, 0x04, 0x00, 0x0a] => 256,
            _ => return None,
        };
        Some(format!("EC{b}"))
    } else if oid == DSA {
        let (0x30, p, _) = der(params)? else {
            return None;
        };
        let (0x02, p, _) = der(p)? else {
            return None;
        };
        Some(format!("DSA{}", bits(p)))
    } else {
        None
    }
}

/// OpenSSL's short names of the attribute types HAProxy shows.
const ATTRS: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x04], "SN"),
    (&[0x55, 0x04, 0x05], "serialNumber"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x09], "street"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x0c], "title"),
    (&[0x55, 0x04, 0x2a], "GN"),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        "emailAddress",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
];

/// The (type, value) pairs of a name, in order (each RDN's attributes).
pub fn dn_entries(name: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut rest = name;
    // Bounded by the input: each turn consumes at least two bytes.
    while !rest.is_empty() {
        let (0x31, mut set, next) = der(rest)? else {
            return None;
        };
        rest = next;
        while !set.is_empty() {
            let (0x30, atv, next) = der(set)? else {
                return None;
            };
            set = next;
            let (0x06, oid, v) = der(atv)? else {
                return None;
            };
            let (_, value, _) = der(v)?;
            let name = ATTRS
                .iter()
                .find(|(o, _)| *o == oid)
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|| oid_text(oid));
            out.push((name, value.to_vec()));
        }
    }
    Some(out)
}

/// An OID in dotted form (an attribute OpenSSL has no short name for).
pub(crate) fn oid_text(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for &b in oid {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (v / 40).min(2);
                parts.push(first);
                parts.push(v - first * 40);
            } else {
                parts.push(v);
            }
            v = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// OpenSSL's one-line form (`X509_NAME_oneline`), as HAProxy's
/// `ssl_c_s_dn` without arguments: `/C=FR/CN=www.example.com`.
pub fn dn_oneline(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (k, v) in dn_entries(name)? {
        out.push(b'/');
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(&v);
    }
    Some(out)
}

/// `ssl_c_s_dn(ENTRY[,OCC])`: the value of the `occ`th `entry` (1: the
/// first; negative: from the end; 0 or absent: the first), as HAProxy's
/// `ssl_sock_get_dn_entry`.
pub fn dn_entry(name: &[u8], entry: &str, occ: i64) -> Option<Vec<u8>> {
    let all: Vec<Vec<u8>> = dn_entries(name)?
        .into_iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(entry))
        .map(|(_, v)| v)
        .collect();
    let idx = match occ {
        0 | 1 => 0,
        n if n > 0 => usize::try_from(n - 1).ok()?,
        n => all
            .len()
            .checked_sub(usize::try_from(n.unsigned_abs()).ok()?)?,
    };
    all.into_iter().nth(idx)
}

/// SHA-1 (FIPS 180-4), for `ssl_c_sha1`: the certificate's fingerprint
/// as OpenSSL's `X509_digest` computes it.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xefcd_ab89,
        0x98ba_dcfe,
        0x1032_5476,
        0xc3d2_e1f0,
    ];
    let bits = (data.len() as u64).wrapping_mul(8);
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5a82_7999),
                20..=39 => (b ^ c ^ d, 0x6ed9_eba1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8f1b_bcdc),
                _ => (b ^ c ^ d, 0xca62_c1d6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// OpenSSL's long name of a signature algorithm (`OBJ_nid2ln`), for
/// `show ssl crl-file`; `undefined` for one it would not know here.
pub fn sig_alg_long_name(oid: &[u8]) -> &'static str {
    const PKCS1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    match (oid.strip_prefix(PKCS1), oid.strip_prefix(ECDSA_SHA2)) {
        (Some([4]), _) => "md5WithRSAEncryption",
        (Some([5]), _) => "sha1WithRSAEncryption",
        (Some([10]), _) => "rsassaPss",
        (Some([11]), _) => "sha256WithRSAEncryption",
        (Some([12]), _) => "sha384WithRSAEncryption",
        (Some([13]), _) => "sha512WithRSAEncryption",
        (Some([14]), _) => "sha224WithRSAEncryption",
        (_, Some([1])) => "ecdsa-with-SHA224",
        (_, Some([2])) => "ecdsa-with-SHA256",
        (_, Some([3])) => "ecdsa-with-SHA384",
        (_, Some([4])) => "ecdsa-with-SHA512",
        _ => match oid {
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01] => "ecdsa-with-SHA1",
            [0x2b, 0x65, 0x70] => "ED25519",
            [0x2b, 0x65, 0x71] => "ED448",
            _ => "undefined",
        },
    }
}

/// An INTEGER's contents as OpenSSL's `i2a_ASN1_INTEGER` writes them:
/// upper-case hex of the magnitude, `-` first when negative (two's
/// complement undone), `00` for zero.
pub fn asn1_integer_hex(v: &[u8]) -> String {
    let neg = v.first().is_some_and(|b| b & 0x80 != 0);
    let mag: Vec<u8> = if neg {
        // Two's complement: invert and add one.
        let mut m: Vec<u8> = v.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (n, carry) = b.overflowing_add(1);
            *b = n;
            if !carry {
                break;
            }
        }
        m
    } else {
        v.to_vec()
    };
    let start = mag.iter().position(|&b| b != 0).unwrap_or(mag.len());
    let mag = &mag[start..];
    if mag.is_empty() {
        return "00".into();
    }
    let hex: String = mag.iter().map(|b| format!("{b:02X}")).collect();
    if neg {
        format!("-{hex}")
    } else {
        hex
    }
}

/// A CRL as HAProxy's `show_crl_detail` prints it (`show ssl
/// crl-file`): version, signature algorithm, issuer, the two dates and
/// the revoked serials with their dates. `None`: not a CRL.
pub fn crl_detail(crl: &[u8]) -> Option<String> {
    use core::fmt::Write as _;
    let (0x30, c, _) = der(crl)? else {
        return None;
    };
    let (0x30, tbs, rest) = der(c)? else {
        return None;
    };
    let (0x30, sig_alg, _) = der(rest)? else {
        return None;
    };
    let (0x06, oid, _) = der(sig_alg)? else {
        return None;
    };
    let mut f = tbs;
    let mut version = 1;
    if f.first() == Some(&0x02) {
        let (_, v, next) = der(f)?;
        version = 1 + i64::from(*v.last()?);
        f = next;
    }
    let (0x30, _inner_alg, f) = der(f)? else {
        return None;
    };
    let (0x30, issuer, f) = der(f)? else {
        return None;
    };
    let (t, this_update, mut f) = der(f)?;
    let last = asn1_time(t, this_update)?;
    let mut next = String::new();
    if let Some((t @ (0x17 | 0x18), nu, rest)) = der(f) {
        next = asn1_time(t, nu)?;
        f = rest;
    }
    let mut s = String::new();
    let _ = writeln!(s, "Version {version}");
    let _ = writeln!(s, "Signature Algorithm: {}", sig_alg_long_name(oid));
    let _ = writeln!(
        s,
        "Issuer: {}",
        String::from_utf8_lossy(&dn_oneline(issuer)?)
    );
    let _ = writeln!(s, "Last Update: {last}");
    let _ = writeln!(s, "Next Update: {next}");
    let mut revoked = String::new();
    if let Some((0x30, mut list, _)) = der(f) {
        while !list.is_empty() {
            let (0x30, entry, rest) = der(list)? else {
                return None;
            };
            list = rest;
            let (0x02, serial, e) = der(entry)? else {
                return None;
            };
            let (t, date, _) = der(e)?;
            let _ = write!(
                revoked,
                "    Serial Number: {}\n        Revocation Date: {}\n",
                asn1_integer_hex(serial),
                asn1_time(t, date)?
            );
        }
    }
    if revoked.is_empty() {
        s.push_str("No Revoked Certificates.\n");
    } else {
        s.push_str("Revoked Certificates:\n");
        s.push_str(&revoked);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha1_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
    }

    #[test]
    fn serial_is_the_magnitude_without_the_der_pad() {
        let tlv = |tag: u8, v: &[u8]| {
            let mut out = vec![tag, v.len() as u8];
            out.extend_from_slice(v);
            out
        };
        let cert = |serial: &[u8]| {
            let mut tbs = tlv(0x02, serial);
            for _ in 0..4 {
                // signature, issuer, validity, subject
                tbs.extend(tlv(0x30, &[]));
            }
            tlv(0x30, &tlv(0x30, &tbs))
        };
        // DER puts 0x00 before a first byte with its high bit set; OpenSSL
        // (and so HAProxy's `show ssl cert` and `ssl_c_serial`) drop it.
        let c = cert(&[0x00, 0xd4, 0x29]);
        assert_eq!(cert_info(&c).unwrap().serial, &[0xd4, 0x29]);
        let c = cert(&[0x0d, 0x96]);
        assert_eq!(cert_info(&c).unwrap().serial, &[0x0d, 0x96]);
        let c = cert(&[0x00]);
        assert_eq!(cert_info(&c).unwrap().serial, &[0x00]);
    }

    #[test]
    fn names_and_malformed_input() {
        // SET { SEQ { OID C, PrintableString "FR" } }, SET { SEQ { OID CN, UTF8 "a b" } }
        let name = [
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'F', b'R', 0x31,
            0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'a', b' ', b'b',
        ];
        assert_eq!(dn_oneline(&name).unwrap(), b"/C=FR/CN=a b");
        assert_eq!(dn_entry(&name, "CN", 0).unwrap(), b"a b");
        assert_eq!(dn_entry(&name, "cn", -1).unwrap(), b"a b");
        assert_eq!(dn_entry(&name, "OU", 0), None);
        for n in 0..name.len() {
            let _ = dn_oneline(&name[..n]);
        }
        assert_eq!(cert_info(&[0x30, 0x82, 0xff]), None);
        assert_eq!(cert_info(&[]), None);
    }

    /// The corpus's certificate: v3, sha256WithRSAEncryption, an RSA key,
    /// valid from a UTCTime to a GeneralizedTime of the 22nd century
    /// (which `ssl_sock_get_time` does not show).
    #[test]
    fn meta_of_a_real_certificate() {
        let pem = include_str!("../../../tests/corpus/certs/pub1.pem");
        let b64: String = pem
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        let der = crate::base64::decode(b64.as_bytes()).expect("base64");
        let m = cert_meta(&der).expect("parsed");
        assert_eq!(m.version, 3);
        assert_eq!(alg_short_name(m.sig_alg), "RSA-SHA256");
        assert_eq!(alg_short_name(m.key_alg), "rsaEncryption");
        assert_eq!(fetch_time(m.not_before).unwrap(), b"261206050340Z");
        assert_eq!(fetch_time(m.not_after), None);
        assert_eq!(
            fetch_time((0x18, b"20261112050340Z")).unwrap(),
            b"261112050340Z"
        );
        assert_eq!(
            alg_short_name(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
            "ecdsa-with-SHA256"
        );
        assert_eq!(alg_short_name(&[0x2b, 0x06, 0x01]), "1.3.6.1");
        for n in 0..der.len() {
            let _ = cert_meta(&der[..n]);
        }
    }
}
