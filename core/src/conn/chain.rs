//! Certificate chains that webpki refuses and OpenSSL accepts (HAProxy
//! verifies with OpenSSL's `X509_verify_cert`): X.509 v1 certificates
//! (no extensions; webpki's `UnsupportedCertVersion`) and v1 CRLs
//! (webpki's `UnsupportedCrlVersion`).
//!
//! The verifiers of `conn/tls.rs` run webpki first and come here only
//! when webpki cannot parse what it was given ([`ChainCheck`]): a v1 leaf
//! (HAProxy's test client certificates), or a `crl-file` holding a v1
//! CRL (then every chain's revocation is checked here, webpki being
//! given no CRL at all). What is checked, as OpenSSL with HAProxy's
//! `X509_V_FLAG_CRL_CHECK_ALL`: the path from the leaf through the
//! intermediates the peer sent to a `ca-file` certificate, issuer and
//! subject names byte for byte, every signature with the crypto
//! provider's algorithms (the ones webpki would use), the validity of
//! every certificate at the engine's time, CA-ness of the issuers
//! (`basicConstraints`, `keyUsage`, or a v1 self-signed root, as
//! OpenSSL's `check_ca`), path length, the extended key usage the
//! connection needs, no unknown critical extension, and with a
//! `crl-file` each certificate of the path against its issuer's CRL
//! (signed by the issuer, in date, the serial not listed). A CRL's own
//! signature may also be checked with the driver's legacy algorithms
//! ([`super::tls::TlsEnv::crl_legacy_algs`]: SHA-1 RSA, which OpenSSL
//! takes for CRLs); a certificate's never.
//!
//! Every read is bounds-checked; malformed input is an error, never a
//! panic.

use rustls::pki_types::{SignatureVerificationAlgorithm, UnixTime};
use rustls::CertificateError;

use super::x509::der;

type Algs = &'static [&'static dyn SignatureVerificationAlgorithm];

/// Extension OIDs (contents octets).
const OID_SKI: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_KU: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
const OID_BC: &[u8] = &[0x55, 0x1d, 0x13];
const OID_CRL_NUMBER: &[u8] = &[0x55, 0x1d, 0x14];
const OID_CRL_REASON: &[u8] = &[0x55, 0x1d, 0x15];
const OID_INVALIDITY_DATE: &[u8] = &[0x55, 0x1d, 0x18];
const OID_CRL_DP: &[u8] = &[0x55, 0x1d, 0x1f];
const OID_AKI: &[u8] = &[0x55, 0x1d, 0x23];
const OID_EKU: &[u8] = &[0x55, 0x1d, 0x25];
const OID_AIA: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];
const OID_ANY_EKU: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
/// `id-kp-serverAuth` and `id-kp-clientAuth`.
pub(crate) const EKU_SERVER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
pub(crate) const EKU_CLIENT: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];

/// keyUsage bits (first octet of the BIT STRING, most significant first).
const KU_CERT_SIGN: u8 = 0x04;
const KU_CRL_SIGN: u8 = 0x02;

/// The most intermediates a path may hold (OpenSSL's default depth is
/// 100; webpki stops far earlier; the peers here send one or two).
const MAX_DEPTH: usize = 8;

/// A parsed certificate.
#[derive(Debug)]
pub(crate) struct Cert<'a> {
    /// The whole `tbsCertificate` element: what the signature covers.
    tbs: &'a [u8],
    /// `signatureAlgorithm`'s contents (webpki's `AlgorithmIdentifier`).
    sig_alg: &'a [u8],
    sig: &'a [u8],
    v1: bool,
    serial: &'a [u8],
    /// The names' contents, compared byte for byte.
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: i64,
    not_after: i64,
    /// The whole `subjectPublicKeyInfo` element.
    spki: &'a [u8],
    spki_alg: &'a [u8],
    spki_key: &'a [u8],
    /// `basicConstraints`: cA, pathLenConstraint.
    bc: Option<(bool, Option<u64>)>,
    /// `keyUsage`'s first octet.
    ku: Option<u8>,
    /// `extKeyUsage`'s purposes.
    eku: Option<Vec<&'a [u8]>>,
    /// `subjectAltName`'s DNS names.
    san_dns: Vec<&'a [u8]>,
    unhandled_critical: bool,
}

/// The contents of a BIT STRING without unused bits.
fn bits(v: &[u8]) -> Option<&[u8]> {
    match v.split_first()? {
        (0, rest) => Some(rest),
        _ => None,
    }
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// A UTCTime or GeneralizedTime (`Z` form, as RFC 5280 requires) as
/// seconds since the epoch.
pub(crate) fn time_secs(tag: u8, v: &[u8]) -> Option<i64> {
    let s = v.strip_suffix(b"Z")?;
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |b: &[u8]| b.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0'));
    let (year, rest) = match (tag, s.len()) {
        (0x17, 12) => {
            let yy = n(&s[..2]);
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        (0x18, 14) => (n(&s[..4]), &s[4..]),
        _ => return None,
    };
    let (mo, d, h, mi, se) = (
        n(&rest[0..2]),
        n(&rest[2..4]),
        n(&rest[4..6]),
        n(&rest[6..8]),
        n(&rest[8..10]),
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(year, mo, d) * 86400 + h * 3600 + mi * 60 + se)
}

/// One extension: OID, critical, value.
fn extension(ext: &[u8]) -> Option<(&[u8], bool, &[u8])> {
    let (0x06, oid, mut e) = der(ext)? else {
        return None;
    };
    let mut critical = false;
    if e.first() == Some(&0x01) {
        let (_, b, next) = der(e)?;
        critical = b.first().is_some_and(|&b| b != 0);
        e = next;
    }
    let (0x04, value, _) = der(e)? else {
        return None;
    };
    Some((oid, critical, value))
}

/// `(tbs, body, sig_alg, sig)`: see [`signed`].
type Signed<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

/// X.509's `SIGNED{}` envelope of a certificate or a CRL: the signed part
/// (whole, as DER) and its contents, the signature algorithm, the
/// signature's bits.
fn signed(d: &[u8]) -> Option<Signed<'_>> {
    let (0x30, c, _) = der(d)? else {
        return None;
    };
    let (0x30, body, after) = der(c)? else {
        return None;
    };
    let tbs = &c[..c.len() - after.len()];
    let (0x30, sig_alg, after) = der(after)? else {
        return None;
    };
    let (0x03, sig, _) = der(after)? else {
        return None;
    };
    let sig = bits(sig)?;
    Some((tbs, body, sig_alg, sig))
}

/// A certificate, or `None` when it is not one.
pub(crate) fn parse_cert(d: &[u8]) -> Option<Cert<'_>> {
    let (tbs, body, sig_alg, sig) = signed(d)?;
    let mut rest = body;
    let mut version = 0u8;
    if rest.first() == Some(&0xa0) {
        let (_, v, next) = der(rest)?;
        let (0x02, n, _) = der(v)? else {
            return None;
        };
        let [n @ 0..=2] = n else { return None };
        version = *n;
        rest = next;
    }
    let (0x02, serial, rest) = der(rest)? else {
        return None;
    };
    let (0x30, inner_alg, rest) = der(rest)? else {
        return None;
    };
    // OpenSSL and webpki both refuse a certificate whose two algorithm
    // fields differ.
    if inner_alg != sig_alg {
        return None;
    }
    let (0x30, issuer, rest) = der(rest)? else {
        return None;
    };
    let (0x30, validity, rest) = der(rest)? else {
        return None;
    };
    let (t1, nb, v) = der(validity)?;
    let (t2, na, _) = der(v)?;
    let (0x30, subject, rest) = der(rest)? else {
        return None;
    };
    let rest_before_spki = rest;
    let (0x30, spki, mut rest) = der(rest)? else {
        return None;
    };
    let spki_whole = &rest_before_spki[..rest_before_spki.len() - rest.len()];
    let (0x30, spki_alg, k) = der(spki)? else {
        return None;
    };
    let (0x03, key, _) = der(k)? else {
        return None;
    };
    let mut cert = Cert {
        tbs,
        sig_alg,
        sig,
        v1: version == 0,
        serial,
        issuer,
        subject,
        not_before: time_secs(t1, nb)?,
        not_after: time_secs(t2, na)?,
        spki: spki_whole,
        spki_alg,
        spki_key: bits(key)?,
        bc: None,
        ku: None,
        eku: None,
        san_dns: Vec::new(),
        unhandled_critical: false,
    };
    // [1] and [2] unique ids (v2, v3), [3] extensions (v3).
    while !rest.is_empty() {
        let (tag, body, next) = der(rest)?;
        rest = next;
        match tag {
            0x81 | 0x82 if version >= 1 => {}
            0xa3 if version == 2 => {
                let (0x30, mut exts, _) = der(body)? else {
                    return None;
                };
                while !exts.is_empty() {
                    let (0x30, ext, next) = der(exts)? else {
                        return None;
                    };
                    exts = next;
                    let (oid, critical, value) = extension(ext)?;
                    cert_extension(&mut cert, oid, critical, value)?;
                }
            }
            _ => return None,
        }
    }
    Some(cert)
}

fn cert_extension<'a>(
    cert: &mut Cert<'a>,
    oid: &[u8],
    critical: bool,
    value: &'a [u8],
) -> Option<()> {
    match oid {
        OID_BC => {
            let (0x30, mut b, _) = der(value)? else {
                return None;
            };
            let mut ca = false;
            if b.first() == Some(&0x01) {
                let (_, v, next) = der(b)?;
                ca = v.first().is_some_and(|&v| v != 0);
                b = next;
            }
            let mut len = None;
            if !b.is_empty() {
                let (0x02, n, _) = der(b)? else {
                    return None;
                };
                if n.len() > 4 || n.first().is_some_and(|&b| b & 0x80 != 0) {
                    return None;
                }
                len = Some(n.iter().fold(0u64, |a, &d| (a << 8) | u64::from(d)));
            }
            cert.bc = Some((ca, len));
        }
        OID_KU => {
            let (0x03, v, _) = der(value)? else {
                return None;
            };
            // Skip the unused-bits octet: the first octet of bits is
            // what the checks read (absent: no usage at all).
            cert.ku = Some(v.get(1).copied().unwrap_or(0));
        }
        OID_EKU => {
            let (0x30, mut p, _) = der(value)? else {
                return None;
            };
            let mut list = Vec::new();
            while !p.is_empty() {
                let (0x06, oid, next) = der(p)? else {
                    return None;
                };
                list.push(oid);
                p = next;
            }
            cert.eku = Some(list);
        }
        OID_SAN => {
            let (0x30, mut names, _) = der(value)? else {
                return None;
            };
            while !names.is_empty() {
                let (tag, n, next) = der(names)?;
                if tag == 0x82 {
                    cert.san_dns.push(n);
                }
                names = next;
            }
        }
        OID_SKI | OID_AKI | OID_CRL_DP | OID_AIA => {}
        _ if critical => cert.unhandled_critical = true,
        _ => {}
    }
    Some(())
}

/// A parsed CRL.
#[derive(Debug)]
pub(crate) struct Crl<'a> {
    tbs: &'a [u8],
    sig_alg: &'a [u8],
    sig: &'a [u8],
    issuer: &'a [u8],
    this_update: i64,
    next_update: Option<i64>,
    /// The revoked serials (INTEGER contents).
    revoked: Vec<&'a [u8]>,
    unhandled_critical: bool,
}

/// Whether a DER `Extensions` sequence has a critical extension not in
/// `known`; `None` when it is not well formed.
fn unhandled_critical(d: &[u8], known: &[&[u8]]) -> Option<bool> {
    let (0x30, mut exts, _) = der(d)? else {
        return None;
    };
    let mut unhandled = false;
    while !exts.is_empty() {
        let (0x30, ext, next) = der(exts)? else {
            return None;
        };
        exts = next;
        let (oid, critical, _) = extension(ext)?;
        unhandled |= critical && !known.contains(&oid);
    }
    Some(unhandled)
}

/// A CRL (v1 or v2), or `None` when it is not one.
pub(crate) fn parse_crl(d: &[u8]) -> Option<Crl<'_>> {
    let (tbs, body, sig_alg, sig) = signed(d)?;
    let mut rest = body;
    let mut v2 = false;
    if rest.first() == Some(&0x02) {
        let (_, n, next) = der(rest)?;
        // Only v2 (1) has a version field.
        if n != [1] {
            return None;
        }
        v2 = true;
        rest = next;
    }
    let (0x30, inner_alg, rest) = der(rest)? else {
        return None;
    };
    if inner_alg != sig_alg {
        return None;
    }
    let (0x30, issuer, rest) = der(rest)? else {
        return None;
    };
    let (t, tu, mut rest) = der(rest)?;
    let this_update = time_secs(t, tu)?;
    let mut next_update = None;
    if let Some((t @ (0x17 | 0x18), nu, next)) = der(rest) {
        next_update = Some(time_secs(t, nu)?);
        rest = next;
    }
    let mut crl = Crl {
        tbs,
        sig_alg,
        sig,
        issuer,
        this_update,
        next_update,
        revoked: Vec::new(),
        unhandled_critical: false,
    };
    if rest.first() == Some(&0x30) {
        let (_, mut list, next) = der(rest)?;
        rest = next;
        while !list.is_empty() {
            let (0x30, entry, next) = der(list)? else {
                return None;
            };
            list = next;
            let (0x02, serial, e) = der(entry)? else {
                return None;
            };
            let (0x17 | 0x18, _, e) = der(e)? else {
                return None;
            };
            if !e.is_empty() {
                if !v2 {
                    return None;
                }
                crl.unhandled_critical |=
                    unhandled_critical(e, &[OID_CRL_REASON, OID_INVALIDITY_DATE])?;
            }
            crl.revoked.push(serial);
        }
    }
    if !rest.is_empty() {
        let (0xa0, body, _) = der(rest)? else {
            return None;
        };
        if !v2 {
            return None;
        }
        crl.unhandled_critical |= unhandled_critical(body, &[OID_CRL_NUMBER, OID_AKI])?;
    }
    Some(crl)
}

/// Whether `sig` over `msg` (algorithm `sig_alg`) verifies with the
/// public key of `issuer`, by one of `algs`.
/// `sig_alg` `None` takes any algorithm of `algs` (a handshake
/// signature: `algs` are those of its scheme).
fn signed_by(
    algs: &[&dyn SignatureVerificationAlgorithm],
    issuer: &Cert<'_>,
    sig_alg: Option<&[u8]>,
    msg: &[u8],
    sig: &[u8],
) -> bool {
    algs.iter().any(|a| {
        sig_alg.is_none_or(|s| a.signature_alg_id().as_ref() == s)
            && a.public_key_alg_id().as_ref() == issuer.spki_alg
            && a.verify_signature(issuer.spki_key, msg, sig).is_ok()
    })
}

/// OpenSSL's `check_ca`: may `c` issue certificates?
fn is_ca(c: &Cert<'_>) -> bool {
    if c.ku.is_some_and(|ku| ku & KU_CERT_SIGN == 0) {
        return false;
    }
    match c.bc {
        Some((ca, _)) => ca,
        // A v1 self-signed root, or a keyUsage allowing certSign.
        None => (c.v1 && c.subject == c.issuer) || c.ku.is_some(),
    }
}

fn eku_allows(c: &Cert<'_>, purpose: &[u8]) -> bool {
    c.eku
        .as_ref()
        .is_none_or(|l| l.iter().any(|&p| p == purpose || p == OID_ANY_EKU))
}

fn check_time(c: &Cert<'_>, now: i64) -> Result<(), CertificateError> {
    if now < c.not_before {
        return Err(CertificateError::NotValidYet);
    }
    if now > c.not_after {
        return Err(CertificateError::Expired);
    }
    Ok(())
}

/// What a verifier needs to verify chains itself: the `ca-file`
/// certificates, the CRLs, the algorithms.
#[derive(Debug)]
pub(crate) struct ChainCheck {
    /// DER certificates of `ca-file` (and `ca-verify-file`).
    pub anchors: Vec<Vec<u8>>,
    /// DER CRLs of `crl-file`, when one is set.
    pub crls: Option<Vec<Vec<u8>>>,
    /// webpki got no CRL (one of them is v1): every chain's revocation
    /// is checked here, after webpki's own verification.
    pub crls_here: bool,
    /// Certificate (and CRL) signatures: the provider's algorithms.
    pub algs: Algs,
    /// CRL signatures only: the driver's legacy algorithms.
    pub crl_legacy_algs: Algs,
    /// The extended key usage the peer's certificate must allow.
    pub purpose: &'static [u8],
}

impl ChainCheck {
    /// Verifies `ee` through `intermediates` to an anchor at `now`, and
    /// its revocation when a `crl-file` is set. Returns the leaf.
    pub(crate) fn verify<'a>(
        &self,
        ee: &'a [u8],
        intermediates: &[&'a [u8]],
        now: UnixTime,
    ) -> Result<Cert<'a>, CertificateError> {
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let leaf = parse_cert(ee).ok_or(CertificateError::BadEncoding)?;
        let ims: Vec<Cert<'a>> = intermediates.iter().filter_map(|d| parse_cert(d)).collect();
        let anchors: Vec<Cert<'_>> = self.anchors.iter().filter_map(|d| parse_cert(d)).collect();
        if leaf.unhandled_critical {
            return Err(CertificateError::UnhandledCriticalExtension);
        }
        if !eku_allows(&leaf, self.purpose) {
            return Err(CertificateError::InvalidPurpose);
        }
        check_time(&leaf, now)?;
        // The path: indexes into `ims`, then the anchor.
        let mut path: Vec<usize> = Vec::new();
        let mut cur = &leaf;
        let anchor = loop {
            let mut bad_sig = false;
            let found_anchor = anchors.iter().find(|a| {
                a.subject == cur.issuer && {
                    let ok = signed_by(self.algs, a, Some(cur.sig_alg), cur.tbs, cur.sig);
                    bad_sig |= !ok;
                    ok
                }
            });
            if let Some(a) = found_anchor {
                break a;
            }
            if path.len() >= MAX_DEPTH {
                return Err(CertificateError::UnknownIssuer);
            }
            let next = ims.iter().enumerate().find(|(i, c)| {
                !path.contains(i) && c.subject == cur.issuer && {
                    let ok = signed_by(self.algs, c, Some(cur.sig_alg), cur.tbs, cur.sig);
                    bad_sig |= !ok;
                    ok
                }
            });
            match next {
                Some((i, c)) => {
                    if c.unhandled_critical {
                        return Err(CertificateError::UnhandledCriticalExtension);
                    }
                    // OpenSSL's X509_V_ERR_INVALID_CA: reported as an
                    // unknown issuer (no CA found).
                    if !is_ca(c) {
                        return Err(CertificateError::UnknownIssuer);
                    }
                    if c.bc
                        .and_then(|b| b.1)
                        .is_some_and(|l| (path.len() as u64) > l)
                    {
                        return Err(CertificateError::UnknownIssuer);
                    }
                    if !eku_allows(c, self.purpose) {
                        return Err(CertificateError::InvalidPurpose);
                    }
                    check_time(c, now)?;
                    path.push(i);
                    cur = c;
                }
                None if bad_sig => return Err(CertificateError::BadSignature),
                None => return Err(CertificateError::UnknownIssuer),
            }
        };
        if anchor.unhandled_critical || !is_ca(anchor) {
            return Err(CertificateError::UnknownIssuer);
        }
        if anchor
            .bc
            .and_then(|b| b.1)
            .is_some_and(|l| (path.len() as u64) > l)
        {
            return Err(CertificateError::UnknownIssuer);
        }
        check_time(anchor, now)?;
        if self.crls.is_some() {
            // X509_V_FLAG_CRL_CHECK_ALL: every certificate of the path,
            // the root too when it issued itself.
            let mut pairs: Vec<(&Cert<'_>, &Cert<'_>)> = Vec::new();
            let mut prev = &leaf;
            for &i in &path {
                pairs.push((prev, &ims[i]));
                prev = &ims[i];
            }
            pairs.push((prev, anchor));
            if anchor.subject == anchor.issuer {
                pairs.push((anchor, anchor));
            }
            for (c, issuer) in pairs {
                self.check_revocation(c, issuer, now)?;
            }
        }
        Ok(leaf)
    }

    /// Whether `c` is revoked by its issuer's CRL (OpenSSL's
    /// `check_cert` / `cert_crl`).
    fn check_revocation(
        &self,
        c: &Cert<'_>,
        issuer: &Cert<'_>,
        now: i64,
    ) -> Result<(), CertificateError> {
        let Some(crls) = &self.crls else {
            return Ok(());
        };
        let mut err = CertificateError::UnknownRevocationStatus;
        for d in crls {
            let Some(crl) = parse_crl(d) else { continue };
            if crl.issuer != c.issuer {
                continue;
            }
            if issuer.ku.is_some_and(|ku| ku & KU_CRL_SIGN == 0) {
                continue;
            }
            let algs = self.algs.iter().chain(self.crl_legacy_algs);
            let algs: Vec<&dyn SignatureVerificationAlgorithm> = algs.copied().collect();
            if !signed_by(&algs, issuer, Some(crl.sig_alg), crl.tbs, crl.sig) {
                err = CertificateError::BadSignature;
                continue;
            }
            if crl.unhandled_critical {
                return Err(CertificateError::UnhandledCriticalExtension);
            }
            if now < crl.this_update {
                // X509_V_ERR_CRL_NOT_YET_VALID.
                return Err(CertificateError::UnknownRevocationStatus);
            }
            if crl.next_update.is_some_and(|n| now > n) {
                return Err(CertificateError::ExpiredRevocationList);
            }
            if crl.revoked.contains(&c.serial) {
                return Err(CertificateError::Revoked);
            }
            return Ok(());
        }
        Err(err)
    }
}

/// HAProxy's `ssl_sock_srv_hostcheck`: `pattern` (a certificate's name,
/// maybe with one wildcard in its leftmost label) against `host`, case
/// insensitive.
pub(crate) fn host_matches(pattern: &[u8], host: &[u8]) -> bool {
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    let Some(dot) = pattern.iter().position(|&b| b == b'.') else {
        return false;
    };
    let label = &pattern[..dot];
    let Some(star) = label.iter().position(|&b| b == b'*') else {
        return false;
    };
    if label.iter().filter(|&&b| b == b'*').count() > 1 {
        return false;
    }
    let Some(hdot) = host.iter().position(|&b| b == b'.') else {
        return false;
    };
    if !pattern[dot..].eq_ignore_ascii_case(&host[hdot..]) {
        return false;
    }
    // The host's leftmost label must be long enough for the wildcard.
    if hdot < label.len() - 1 {
        return false;
    }
    let (prefix, suffix) = (&label[..star], &label[star + 1..]);
    host[..prefix.len()].eq_ignore_ascii_case(prefix)
        && host[hdot - suffix.len()..hdot].eq_ignore_ascii_case(suffix)
}

/// The names a certificate is checked against (HAProxy's
/// `ssl_sock_srv_verifycbk`, and the SNI names of `ckch_inst_new_load_store`):
/// its subjectAltName DNS names, then its subject's common names.
pub(crate) fn cert_names<'a>(c: &Cert<'a>) -> Vec<&'a [u8]> {
    let mut names: Vec<&'a [u8]> = c.san_dns.clone();
    names.extend(cert_common_names(c));
    names
}

/// The values of a certificate subject's common names (CN).
fn cert_common_names<'a>(c: &Cert<'a>) -> Vec<&'a [u8]> {
    let mut names = Vec::new();
    let mut rdns = c.subject;
    while let Some((0x31, set, next)) = der(rdns) {
        rdns = next;
        let mut set = set;
        while let Some((0x30, atv, n)) = der(set) {
            set = n;
            if let Some((0x06, oid, v)) = der(atv) {
                if oid == OID_CN {
                    if let Some((_, value, _)) = der(v) {
                        names.push(value);
                    }
                }
            }
        }
    }
    names
}

/// Whether a webpki error is one this module handles: an X.509 v1
/// certificate (webpki's `UnsupportedCertVersion`, which rustls wraps
/// in `CertificateError::Other`).
pub(crate) fn is_unsupported_version(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(o)) => matches!(
            o.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::UnsupportedCertVersion)
        ),
        _ => false,
    }
}

/// A handshake signature (CertificateVerify, ServerKeyExchange) by the
/// key of a certificate webpki does not parse (v1), as rustls's
/// `verify_tls12_signature` / `verify_tls13_signature` check it: the
/// scheme must be one advertised (`mapping`); TLS 1.3 tries its first
/// algorithm, TLS 1.2 each of them.
pub(crate) fn verify_handshake_signature(
    algs: &rustls::crypto::WebPkiSupportedAlgorithms,
    cert: &[u8],
    msg: &[u8],
    dss: &rustls::DigitallySignedStruct,
    tls13: bool,
) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
    let c = parse_cert(cert).ok_or(rustls::Error::InvalidCertificate(
        CertificateError::BadEncoding,
    ))?;
    if tls13 {
        let spki = rustls::pki_types::SubjectPublicKeyInfoDer::from(c.spki);
        return rustls::crypto::verify_tls13_signature_with_raw_key(msg, &spki, dss, algs);
    }
    let list = algs
        .mapping
        .iter()
        .find(|m| m.0 == dss.scheme)
        .map(|m| m.1)
        .ok_or(rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ))?;
    if signed_by(list, &c, None, msg, dss.signature()) {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    } else {
        Err(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        ))
    }
}

/// rustls's `CertifiedKey::keys_match`, which parses the certificate
/// with webpki: for a v1 certificate, the key's SubjectPublicKeyInfo is
/// compared with the one this module reads.
pub fn keys_match(key: &rustls::sign::CertifiedKey) -> Result<(), rustls::Error> {
    match key.keys_match() {
        Err(e) if is_unsupported_version(&e) => {
            let Some(c) = key.cert.first().and_then(|c| parse_cert(c)) else {
                return Err(e);
            };
            let Some(spki) = key.key.public_key() else {
                return Err(rustls::Error::InconsistentKeys(
                    rustls::InconsistentKeys::Unknown,
                ));
            };
            if spki.as_ref() == c.spki {
                Ok(())
            } else {
                Err(rustls::Error::InconsistentKeys(
                    rustls::InconsistentKeys::KeyMismatch,
                ))
            }
        }
        r => r,
    }
}

/// The SNI names of a certificate file's leaf, lower case (HAProxy's
/// `ckch_inst_new_load_store`): its subjectAltName DNS names (webpki's;
/// none for a v1 certificate, which webpki does not parse and which has
/// no extension), then its subject's common names, as HAProxy adds both.
/// `None`: not a certificate.
pub fn sni_names(cert: &[u8]) -> Option<Vec<String>> {
    let mut names: Vec<String> =
        match webpki::EndEntityCert::try_from(&rustls::pki_types::CertificateDer::from(cert)) {
            Ok(ee) => ee
                .valid_dns_names()
                .map(|n| n.to_ascii_lowercase())
                .collect(),
            Err(webpki::Error::UnsupportedCertVersion) => Vec::new(),
            Err(_) => return None,
        };
    let c = parse_cert(cert)?;
    for cn in cert_common_names(&c) {
        if let Ok(cn) = core::str::from_utf8(cn) {
            let cn = cn.to_ascii_lowercase();
            if !cn.is_empty() && !names.contains(&cn) {
                names.push(cn);
            }
        }
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};

    /// Fixtures made by `core/tests/data/x509v1/gen.sh` (OpenSSL).
    macro_rules! fixture {
        ($f:literal) => {
            include_bytes!(concat!("../../tests/data/x509v1/", $f))
        };
    }

    fn der(pem: &[u8]) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem).unwrap().to_vec()
    }

    fn crl(pem: &[u8]) -> Vec<u8> {
        CertificateRevocationListDer::from_pem_slice(pem)
            .unwrap()
            .to_vec()
    }

    #[allow(deprecated)] // ring's provider: what proxy-mio hands in.
    fn check(anchors: &[&[u8]], crls: Option<&[&[u8]]>, purpose: &'static [u8]) -> ChainCheck {
        ChainCheck {
            anchors: anchors.iter().map(|a| der(a)).collect(),
            crls: crls.map(|l| l.iter().map(|c| crl(c)).collect()),
            crls_here: true,
            algs: rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .all,
            crl_legacy_algs: &[],
            purpose,
        }
    }

    /// A time inside every fixture's validity.
    fn now_for(cert: &[u8]) -> UnixTime {
        let c = parse_cert(cert).unwrap();
        UnixTime::since_unix_epoch(core::time::Duration::from_secs(
            (c.not_before + 86400) as u64,
        ))
    }

    fn verify(c: &ChainCheck, ee: &[u8], im: &[&[u8]]) -> Result<(), CertificateError> {
        let now = now_for(ee);
        c.verify(ee, im, now).map(|_| ())
    }

    #[test]
    fn webpki_refuses_the_v1_fixtures() {
        // What this module is for: if webpki ever takes v1, the fallback
        // is no longer reached.
        let leaf = CertificateDer::from(der(fixture!("leaf.pem")));
        assert!(matches!(
            webpki::EndEntityCert::try_from(&leaf),
            Err(webpki::Error::UnsupportedCertVersion)
        ));
        let crl = crl(fixture!("crl.pem"));
        assert!(webpki::BorrowedCertRevocationList::from_der(&crl).is_err());
        let c = parse_cert(leaf.as_ref()).unwrap();
        assert!(c.v1);
        assert!(parse_crl(&crl).is_some());
    }

    #[test]
    fn a_v1_leaf_of_the_ca_is_accepted() {
        let c = check(&[fixture!("ca.pem")], None, EKU_CLIENT);
        assert_eq!(verify(&c, &der(fixture!("leaf.pem")), &[]), Ok(()));
        // Also for a server certificate.
        let c = check(&[fixture!("ca.pem")], None, EKU_SERVER);
        assert_eq!(verify(&c, &der(fixture!("leaf.pem")), &[]), Ok(()));
        // Through a v3 intermediate the peer sends.
        let inter = der(fixture!("inter.pem"));
        let leaf = der(fixture!("leaf_inter.pem"));
        assert_eq!(verify(&c, &leaf, &[&inter]), Ok(()));
    }

    #[test]
    fn refusals() {
        let c = check(&[fixture!("ca.pem")], None, EKU_CLIENT);
        // Another CA's leaf.
        assert_eq!(
            verify(&c, &der(fixture!("other.pem")), &[]),
            Err(CertificateError::UnknownIssuer)
        );
        // The intermediate not sent.
        assert_eq!(
            verify(&c, &der(fixture!("leaf_inter.pem")), &[]),
            Err(CertificateError::UnknownIssuer)
        );
        // A v1 certificate that is not a self-signed root is no CA.
        let v1inter = der(fixture!("v1inter.pem"));
        assert_eq!(
            verify(&c, &der(fixture!("leaf_v1inter.pem")), &[&v1inter]),
            Err(CertificateError::UnknownIssuer)
        );
        // Expired, not yet valid (the engine's time, not the OS's).
        let leaf = der(fixture!("leaf.pem"));
        let p = parse_cert(&leaf).unwrap();
        let at = |s: i64| UnixTime::since_unix_epoch(core::time::Duration::from_secs(s as u64));
        assert_eq!(
            c.verify(&leaf, &[], at(p.not_after + 1)).map(|_| ()),
            Err(CertificateError::Expired)
        );
        assert_eq!(
            c.verify(&leaf, &[], at(p.not_before - 1)).map(|_| ()),
            Err(CertificateError::NotValidYet)
        );
        // A bad signature: one bit of the signature flipped.
        let mut bad = leaf.clone();
        let n = bad.len() - 10;
        bad[n] ^= 0x01;
        assert_eq!(verify(&c, &bad, &[]), Err(CertificateError::BadSignature));
        // A bit of the signed part flipped (the serial).
        let mut bad = leaf.clone();
        let serial = bad
            .windows(3)
            .position(|w| w == [0x02, 0x01, 0x02])
            .unwrap();
        bad[serial + 2] = 0x07;
        assert_eq!(verify(&c, &bad, &[]), Err(CertificateError::BadSignature));
        // Not DER at all, truncated.
        assert_eq!(
            c.verify(b"junk", &[], now_for(&leaf)).map(|_| ()),
            Err(CertificateError::BadEncoding)
        );
        for n in 0..leaf.len() {
            assert!(c.verify(&leaf[..n], &[], now_for(&leaf)).is_err());
        }
        // No purpose: a v3 leaf whose extKeyUsage lacks clientAuth is
        // checked by webpki, never here; the CA itself is no leaf of
        // itself either.
        assert_eq!(
            verify(&c, &der(fixture!("ca2.pem")), &[]),
            Err(CertificateError::UnknownIssuer)
        );
    }

    #[test]
    fn v1_crl_revokes() {
        let crl_pem: &[u8] = fixture!("crl.pem");
        let c = check(&[fixture!("ca.pem")], Some(&[crl_pem]), EKU_CLIENT);
        assert_eq!(verify(&c, &der(fixture!("leaf.pem")), &[]), Ok(()));
        assert_eq!(
            verify(&c, &der(fixture!("revoked.pem")), &[]),
            Err(CertificateError::Revoked)
        );
        // No CRL for the intermediate's certificates: unknown status
        // (X509_V_FLAG_CRL_CHECK_ALL).
        let inter = der(fixture!("inter.pem"));
        assert_eq!(
            verify(&c, &der(fixture!("leaf_inter.pem")), &[&inter]),
            Err(CertificateError::UnknownRevocationStatus)
        );
        // A CRL signed by another CA under the same name does not count.
        let mut forged = crl(crl_pem);
        let n = forged.len() - 10;
        forged[n] ^= 0x01;
        let mut c2 = check(&[fixture!("ca.pem")], Some(&[]), EKU_CLIENT);
        c2.crls = Some(vec![forged]);
        assert_eq!(
            verify(&c2, &der(fixture!("leaf.pem")), &[]),
            Err(CertificateError::BadSignature)
        );
        // An expired CRL.
        let whole = crl(crl_pem);
        let p = parse_crl(&whole).unwrap();
        let leaf = der(fixture!("leaf.pem"));
        let at = UnixTime::since_unix_epoch(core::time::Duration::from_secs(
            (p.next_update.unwrap() + 1) as u64,
        ));
        assert!(parse_cert(&leaf).unwrap().not_after > p.next_update.unwrap());
        assert_eq!(
            c.verify(&leaf, &[], at).map(|_| ()),
            Err(CertificateError::ExpiredRevocationList)
        );
        // Truncated CRLs never parse into something that passes.
        for n in 0..whole.len() {
            assert!(parse_crl(&whole[..n]).is_none());
        }
    }

    #[test]
    fn names_and_hostcheck() {
        let leaf = der(fixture!("leaf_inter.pem"));
        assert_eq!(sni_names(&leaf), Some(vec!["www.example.test".to_string()]));
        assert!(host_matches(b"www.example.test", b"WWW.example.TEST"));
        assert!(host_matches(b"*.example.test", b"www.example.test"));
        assert!(host_matches(b"w*.example.test", b"www.example.test"));
        assert!(!host_matches(b"*.example.test", b"a.b.example.test"));
        assert!(!host_matches(b"*.example.test", b"example.test"));
        assert!(!host_matches(b"**.example.test", b"www.example.test"));
        assert!(!host_matches(b"www.*.test", b"www.example.test"));
        assert!(!host_matches(b"x*.example.test", b"www.example.test"));
    }

    #[test]
    fn times() {
        assert_eq!(time_secs(0x17, b"700101000000Z"), Some(0));
        assert_eq!(time_secs(0x18, b"19700101000000Z"), Some(0));
        assert_eq!(time_secs(0x17, b"500421185942Z"), Some(-621_579_618));
        assert_eq!(time_secs(0x18, b"20500421185942Z"), Some(2_534_180_382));
        assert_eq!(time_secs(0x17, b"200428185942Z"), Some(1_588_100_382));
        assert_eq!(time_secs(0x17, b"2004281859Z"), None);
        assert_eq!(time_secs(0x17, b"201328185942Z"), None);
        assert_eq!(time_secs(0x17, b"200428185942+0100"), None);
    }
}
