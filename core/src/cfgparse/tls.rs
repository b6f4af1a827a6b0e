//! TLS options of `bind` and `server` lines (HAProxy's `ssl_bind_kws` and
//! `srv_kws` in `cfgparse-ssl.c`), as far as Sluice's TLS (rustls) goes.
//!
//! What rustls cannot do is refused with the option and the reason:
//! SSLv3, TLS 1.0 and 1.1 (`ssl-min-ver TLSv1.0`, `force-tlsv11`, ...),
//! and a `ciphers` / `ciphersuites` list naming nothing rustls offers. A
//! list that merely names unsupported suites among supported ones (as
//! Mozilla's "intermediate" profile does: its DHE suites) loads with the
//! supported ones and one warning. Options of HAProxy's TLS that Sluice
//! does not implement yet stay refused (`ignored::TLS_OPTIONS`): serving
//! clear text, or weaker TLS, where the configuration asked for something
//! else would be wrong.

use super::model::{
    BindTls, BindVerify, IgnoreErr, SrvTls, SrvVerify, TlsCommon, TlsDefaults, TlsVer,
};
use super::{Diagnostic, Diags, Ln};

/// OpenSSL's TLS 1.2 suite names that rustls (with ring) implements, and
/// rustls's names for them, in OpenSSL's default order (what a tag such
/// as `ECDHE+AESGCM` expands to, in order).
pub const TLS12_SUITES: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
];

/// TLS 1.3 suite names (`ciphersuites`) that rustls implements, and
/// rustls's names for them.
pub const TLS13_SUITES: &[(&str, &str)] = &[
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
];

/// The key exchange groups of `curves` / `ecdhe` that rustls (with ring)
/// implements: OpenSSL's names and rustls's.
pub const CURVES: &[(&str, &str)] = &[
    ("X25519", "X25519"),
    ("x25519", "X25519"),
    ("P-256", "secp256r1"),
    ("prime256v1", "secp256r1"),
    ("secp256r1", "secp256r1"),
    ("P-384", "secp384r1"),
    ("secp384r1", "secp384r1"),
];

/// `curves LIST` (`:`-separated, OpenSSL names) or `ecdhe NAME`:
/// rustls's names, in order. A group rustls does not implement (X448,
/// P-521, the FFDHE groups, hybrid post-quantum groups) is refused: the
/// configuration asked for key exchanges Sluice cannot offer.
fn curve_list(ln: &Ln<'_>, who: &str, opt: &str, val: &str) -> Result<Vec<String>, Diagnostic> {
    let mut kept: Vec<String> = Vec::new();
    for name in val.split(':') {
        let Some((_, r)) = CURVES.iter().find(|(o, _)| *o == name) else {
            return Err(ln.diag(format!(
                "{who} : '{opt}' : curve '{name}' is not supported by Sluice's TLS (rustls with ring implements X25519, P-256 (prime256v1) and P-384 (secp384r1))."
            )));
        };
        if !kept.iter().any(|k| k == r) {
            kept.push(r.to_string());
        }
    }
    Ok(kept)
}

/// A TLS option common to `bind` and `server` at word `i`: the words it
/// takes, or `None` when the word is not one.
fn common_option(
    c: &mut TlsCommon,
    ln: &Ln<'_>,
    i: usize,
    who: &str,
    d: &mut Diags,
) -> Result<Option<usize>, Diagnostic> {
    let opt = ln.arg(i);
    let val = ln.arg(i + 1);
    let need = || -> Result<(), Diagnostic> {
        if val.is_empty() {
            return Err(ln.diag(format!("{who} : '{opt}' : missing value")));
        }
        Ok(())
    };
    let old = |v: &str| {
        ln.diag(format!(
            "{who} : '{opt}' : {v} is not supported: Sluice's TLS (rustls) implements TLSv1.2 and TLSv1.3 only."
        ))
    };
    match opt {
        "alpn" => {
            need()?;
            let list: Vec<String> = val.split(',').map(str::to_string).collect();
            if list.iter().any(|p| p.is_empty() || p.len() > 255) {
                return Err(ln.diag(format!("{who} : '{opt}' : invalid protocol list '{val}'")));
            }
            c.alpn = Some(list);
            Ok(Some(2))
        }
        "ssl-min-ver" | "ssl-max-ver" => {
            need()?;
            let v = TlsVer::parse(val).ok_or_else(|| {
                ln.diag(format!(
                    "{who} : '{opt}' : unknown value '{val}' (expects 'SSLv3', 'TLSv1.0', 'TLSv1.1', 'TLSv1.2' or 'TLSv1.3')"
                ))
            })?;
            if opt == "ssl-min-ver" {
                if v < TlsVer::Tlsv12 {
                    return Err(old(val));
                }
                c.min_ver = Some(v);
            } else {
                if v < TlsVer::Tlsv12 {
                    return Err(old(val));
                }
                c.max_ver = Some(v);
            }
            Ok(Some(2))
        }
        "force-sslv3" | "force-tlsv10" | "force-tlsv11" => Err(old(match opt {
            "force-sslv3" => "SSLv3",
            "force-tlsv10" => "TLSv1.0",
            _ => "TLSv1.1",
        })),
        "force-tlsv12" | "force-tlsv13" => {
            let v = if opt == "force-tlsv12" {
                TlsVer::Tlsv12
            } else {
                TlsVer::Tlsv13
            };
            c.min_ver = Some(v);
            c.max_ver = Some(v);
            Ok(Some(1))
        }
        // Never offered by rustls: nothing to switch off.
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" => Ok(Some(1)),
        "no-tlsv12" => {
            c.no_tlsv12 = true;
            Ok(Some(1))
        }
        "no-tlsv13" => {
            c.no_tlsv13 = true;
            Ok(Some(1))
        }
        "ciphers" | "ciphersuites" => {
            need()?;
            let (table, what) = if opt == "ciphers" {
                (TLS12_SUITES, "TLSv1.2")
            } else {
                (TLS13_SUITES, "TLSv1.3")
            };
            let kept = cipher_list(ln, who, opt, val, table, what, d)?;
            if opt == "ciphers" {
                c.ciphers = Some(kept);
            } else {
                c.ciphersuites = Some(kept);
            }
            Ok(Some(2))
        }
        "ca-file" => {
            need()?;
            c.ca_file = Some(val.to_string());
            Ok(Some(2))
        }
        "curves" | "ecdhe" => {
            need()?;
            c.curves = Some(curve_list(ln, who, opt, val)?);
            Ok(Some(2))
        }
        "no-tls-tickets" | "tls-tickets" => {
            c.no_tls_tickets = opt == "no-tls-tickets";
            Ok(Some(1))
        }
        _ => Ok(None),
    }
}

/// HAProxy's `bind_parse_ssl` / `ssl_sock_init_srv`: a line's `ssl`
/// takes the global defaults for what it did not set itself; the `no-*`
/// switches add up. (An option written after `ssl` replaces the default,
/// as in HAProxy.)
fn apply_defaults(c: &mut TlsCommon, g: &TlsCommon) {
    if c.ciphers.is_none() {
        c.ciphers = g.ciphers.clone();
    }
    if c.ciphersuites.is_none() {
        c.ciphersuites = g.ciphersuites.clone();
    }
    if c.curves.is_none() {
        c.curves = g.curves.clone();
    }
    if c.min_ver.is_none() {
        c.min_ver = g.min_ver;
    }
    if c.max_ver.is_none() {
        c.max_ver = g.max_ver;
    }
    c.no_tlsv12 |= g.no_tlsv12;
    c.no_tlsv13 |= g.no_tlsv13;
    c.no_tls_tickets |= g.no_tls_tickets;
}

/// A global `ssl-default-bind-*` / `ssl-default-server-*` line
/// (HAProxy's `ssl_parse_default_bind_options`,
/// `ssl_parse_global_ciphers`, ...). `bind`: the bind defaults.
pub(super) fn parse_default(
    t: &mut TlsDefaults,
    ln: &Ln<'_>,
    bind: bool,
    d: &mut Diags,
) -> Result<(), Diagnostic> {
    let kw = ln.kw();
    let what = kw.rsplit('-').next().unwrap_or_default();
    if what != "options" {
        let who = "global section";
        if ln.arg(1).is_empty() {
            return Err(ln.diag(format!(
                "global statement '{kw}' expects a cipher suite as an argument."
            )));
        }
        ln.no_extra(2)?;
        let val = ln.arg(1);
        let c = &mut t.common;
        match what {
            "ciphers" => {
                c.ciphers = Some(cipher_list(ln, who, kw, val, TLS12_SUITES, "TLSv1.2", d)?)
            }
            "ciphersuites" => {
                c.ciphersuites = Some(cipher_list(ln, who, kw, val, TLS13_SUITES, "TLSv1.3", d)?)
            }
            "curves" if bind => c.curves = Some(curve_list(ln, who, kw, val)?),
            _ => return Err(ln.diag(format!("unknown keyword '{kw}' in 'global' section"))),
        }
        return Ok(());
    }
    if ln.arg(1).is_empty() {
        return Err(ln.diag(format!(
            "global statement '{kw}' expects an option as an argument."
        )));
    }
    let who = format!("global statement '{kw}'");
    let mut i = 1;
    while !ln.arg(i).is_empty() {
        let opt = ln.arg(i);
        let n = match opt {
            "prefer-client-ciphers" if bind => {
                t.prefer_client_ciphers = true;
                1
            }
            "strict-sni" | "no-strict-sni" if bind => {
                t.strict_sni = opt == "strict-sni";
                1
            }
            "tls-tickets" if bind => {
                t.common.no_tls_tickets = false;
                1
            }
            "no-tls-tickets" | "ssl-min-ver" | "ssl-max-ver" | "no-sslv3" | "no-tlsv10"
            | "no-tlsv11" | "no-tlsv12" | "no-tlsv13" | "force-sslv3" | "force-tlsv10"
            | "force-tlsv11" | "force-tlsv12" | "force-tlsv13" => {
                common_option(&mut t.common, ln, i, &who, d)?.unwrap_or(1)
            }
            _ => {
                return Err(ln.diag(format!(
                    "unknown option '{opt}' on global statement '{kw}'."
                )))
            }
        };
        i += n;
    }
    Ok(())
}

/// Whether the TLS 1.2 suite `name` (OpenSSL's) carries OpenSSL's cipher
/// string tag `tag` (`ECDHE`, `aRSA`, `AESGCM`, `HIGH`...: the aliases of
/// `ciphers(1)` that can name a suite rustls implements).
fn suite_has_tag(name: &str, tag: &str) -> bool {
    let ecdsa = name.contains("-ECDSA-");
    let gcm = name.contains("-GCM-");
    match tag {
        "ALL" | "DEFAULT" | "HIGH" | "TLSv1.2" | "ECDHE" | "EECDH" | "ECDH" | "kECDHE"
        | "kEECDH" | "kECDH" => true,
        "aECDSA" | "ECDSA" => ecdsa,
        "aRSA" => !ecdsa,
        "AESGCM" => gcm,
        "AES" => name.contains("-AES"),
        "AES128" => name.contains("-AES128-"),
        "AES256" => name.contains("-AES256-"),
        "CHACHA20" => name.contains("-CHACHA20-"),
        "SHA256" => name.ends_with("-SHA256"),
        "SHA384" => name.ends_with("-SHA384"),
        _ => false,
    }
}

/// The suites of `table` a word of an OpenSSL cipher string names: a
/// suite's name, or (TLS 1.2 only) tags joined by `+`, all of which the
/// suite must carry (`ECDHE+AESGCM`, `EECDH+aRSA+AES256`, `HIGH`).
fn cipher_word<'t>(word: &str, table: &'t [(&'t str, &'t str)]) -> Vec<&'t str> {
    if let Some((n, _)) = table.iter().find(|(n, _)| *n == word) {
        return vec![n];
    }
    if !std::ptr::eq(table, TLS12_SUITES) {
        return Vec::new();
    }
    table
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| word.split('+').all(|t| suite_has_tag(n, t)))
        .collect()
}

/// The names of `val` (a `:`-separated OpenSSL list) that rustls
/// implements, in order: suite names, and for TLS 1.2 OpenSSL's tags
/// (`ECDHE+AESGCM`, `HIGH`, as most real configurations write them).
/// `-X` removes what `X` names, `!X` removes it for good; `+X` and
/// `@...` (ordering, security level) are skipped. Words naming nothing
/// rustls implements (DHE, CBC, RSA key exchange suites) are left out
/// with one warning. No supported suite at all is an error.
fn cipher_list(
    ln: &Ln<'_>,
    who: &str,
    opt: &str,
    val: &str,
    table: &[(&str, &str)],
    what: &str,
    d: &mut Diags,
) -> Result<Vec<String>, Diagnostic> {
    let mut kept: Vec<String> = Vec::new();
    let mut banned: Vec<&str> = Vec::new();
    let mut dropped = Vec::new();
    for name in val.split(':').filter(|n| !n.is_empty()) {
        if name.starts_with(['+', '@']) {
            continue;
        }
        if let Some(ex) = name.strip_prefix(['!', '-']) {
            let gone = cipher_word(ex, table);
            kept.retain(|k| !gone.contains(&k.as_str()));
            if name.starts_with('!') {
                banned.extend(gone);
            }
            continue;
        }
        let named = cipher_word(name, table);
        if named.is_empty() {
            dropped.push(name);
        }
        for n in named {
            if !banned.contains(&n) && !kept.iter().any(|k| k == n) {
                kept.push(n.to_string());
            }
        }
    }
    if kept.is_empty() {
        let supported: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        return Err(ln.diag(format!(
            "{who} : '{opt}' : no {what} cipher suite that Sluice's TLS (rustls) implements in '{val}' (supported: {}).",
            supported.join(":")
        )));
    }
    if !dropped.is_empty() {
        d.warn(ln.diag(format!(
            "{who} : '{opt}' : {} not implemented by Sluice's TLS (rustls) and left out: {}.",
            if dropped.len() == 1 {
                "cipher suite"
            } else {
                "cipher suites"
            },
            dropped.join(":")
        )));
    }
    Ok(kept)
}

/// A TLS option of a `bind` line at word `i`: the words it takes, or
/// `None` when the word is not one.
pub(super) fn bind_option(
    t: &mut BindTls,
    g: &TlsDefaults,
    ln: &Ln<'_>,
    i: usize,
    who: &str,
    d: &mut Diags,
) -> Result<Option<usize>, Diagnostic> {
    let (opt, val) = (ln.arg(i), ln.arg(i + 1));
    match opt {
        "ssl" => {
            t.ssl = true;
            apply_defaults(&mut t.common, &g.common);
            t.prefer_client_ciphers |= g.prefer_client_ciphers;
            t.strict_sni |= g.strict_sni;
            Ok(Some(1))
        }
        "prefer-client-ciphers" => {
            t.prefer_client_ciphers = true;
            Ok(Some(1))
        }
        "crt" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'crt' : missing certificate location")));
            }
            t.crts.push(val.to_string());
            Ok(Some(2))
        }
        "crt-list" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'crt-list' : missing certificate location")));
            }
            t.crt_lists.push(val.to_string());
            Ok(Some(2))
        }
        "strict-sni" => {
            t.strict_sni = true;
            Ok(Some(1))
        }
        "verify" => {
            t.verify = match val {
                "none" => BindVerify::None,
                "optional" => BindVerify::Optional,
                "required" => BindVerify::Required,
                _ => return Err(ln.diag(format!(
                    "{who} : 'verify' : unknown verify method '{val}', only 'none', 'optional', and 'required' are supported"
                ))),
            };
            Ok(Some(2))
        }
        "crl-file" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'crl-file' : missing CRLfile path")));
            }
            t.crl_file = Some(val.to_string());
            Ok(Some(2))
        }
        "ca-verify-file" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'ca-verify-file' : missing CAfile path")));
            }
            t.ca_verify_file = Some(val.to_string());
            Ok(Some(2))
        }
        "crt-ignore-err" | "ca-ignore-err" => {
            // HAProxy 2.6's `bind_parse_ignore_err`: `all`, or a comma
            // list of OpenSSL's numeric verify error ids.
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : '{opt}' : missing error IDs list")));
            }
            let ig = if val == "all" {
                IgnoreErr::All
            } else {
                let mut ids = Vec::new();
                for w in val.split(',') {
                    match w.parse::<u32>() {
                        Ok(n) if n < 64 => ids.push(n),
                        _ => {
                            return Err(ln.diag(format!(
                                "{who} : '{opt}' : error ID '{w}' out of range [0..63] in error IDs list '{val}'"
                            )))
                        }
                    }
                }
                IgnoreErr::Ids(ids)
            };
            if opt == "crt-ignore-err" {
                t.crt_ignore_err = ig;
            } else {
                t.ca_ignore_err = ig;
            }
            Ok(Some(2))
        }
        "tls-ticket-keys" => {
            if val.is_empty() {
                return Err(ln.diag(format!(
                    "{who} : 'tls-ticket-keys' : missing TLS ticket keys file path"
                )));
            }
            t.tls_ticket_keys = Some(val.to_string());
            Ok(Some(2))
        }
        _ => common_option(&mut t.common, ln, i, who, d),
    }
}

/// A TLS option of a `server` or `default-server` line at word `i`.
pub(super) fn server_option(
    t: &mut SrvTls,
    g: &TlsDefaults,
    ln: &Ln<'_>,
    i: usize,
    who: &str,
    d: &mut Diags,
) -> Result<Option<usize>, Diagnostic> {
    let (opt, val) = (ln.arg(i), ln.arg(i + 1));
    match opt {
        "ssl" => {
            t.ssl = true;
            apply_defaults(&mut t.common, &g.common);
            Ok(Some(1))
        }
        "no-ssl" => {
            t.ssl = false;
            Ok(Some(1))
        }
        "verify" => {
            t.verify = Some(match val {
                "none" => SrvVerify::None,
                "required" => SrvVerify::Required,
                _ => {
                    return Err(ln.diag(format!(
                        "{who} : 'verify' : unknown verify method '{val}', only 'none' and 'required' are supported"
                    )))
                }
            });
            Ok(Some(2))
        }
        "crt" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'crt' : missing certificate file path")));
            }
            t.crt = Some(val.to_string());
            Ok(Some(2))
        }
        "check-ssl" | "no-check-ssl" => {
            t.check_ssl = Some(opt == "check-ssl");
            Ok(Some(1))
        }
        "check-sni" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'check-sni' : missing SNI")));
            }
            t.check_sni = Some(val.to_string());
            Ok(Some(2))
        }
        "check-alpn" => {
            if val.is_empty() {
                return Err(ln.diag(format!(
                    "{who} : 'check-alpn' : missing the comma-delimited ALPN protocol suite"
                )));
            }
            t.check_alpn = Some(val.split(',').map(str::to_string).collect());
            Ok(Some(2))
        }
        "no-ssl-reuse" | "ssl-reuse" => {
            t.no_ssl_reuse = opt == "no-ssl-reuse";
            Ok(Some(1))
        }
        "crl-file" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'crl-file' : missing CRLfile path")));
            }
            t.crl_file = Some(val.to_string());
            Ok(Some(2))
        }
        "verifyhost" => {
            if val.is_empty() {
                return Err(ln.diag(format!("{who} : 'verifyhost' : missing hostname")));
            }
            t.verifyhost = Some(val.to_string());
            Ok(Some(2))
        }
        "sni" => {
            // A constant name is kept apart: it also names the server
            // for verification and needs no stream.
            let name = val
                .strip_prefix("str(")
                .and_then(|v| v.strip_suffix(')'))
                .filter(|v| !v.is_empty());
            match name {
                Some(n) => {
                    t.sni = Some(n.to_string());
                    Ok(Some(2))
                }
                None if val.is_empty() => {
                    Err(ln.diag(format!("{who} : 'sni' : missing sni expression")))
                }
                None => {
                    t.sni_expr = Some(val.to_string());
                    Ok(Some(2))
                }
            }
        }
        _ => common_option(&mut t.common, ln, i, who, d),
    }
}

/// Checks a `bind` line's TLS settings as a whole.
pub(super) fn check_bind(t: &BindTls, ln: &Ln<'_>, who: &str) -> Result<(), Diagnostic> {
    if t.ssl && t.crts.is_empty() && t.crt_lists.is_empty() {
        return Err(ln.diag(format!(
            "{who} : no SSL certificate specified for this bind line (use 'crt')."
        )));
    }
    if t.ssl && t.verify != BindVerify::None && t.common.ca_file.is_none() {
        return Err(ln.diag(format!(
            "{who} : verify is enabled but no CA file specified (use 'ca-file')."
        )));
    }
    if !t.ssl && (!t.crts.is_empty() || !t.crt_lists.is_empty()) {
        // HAProxy loads them and serves clear text; Sluice refuses the
        // ambiguity rather than run a listener the reader thinks is TLS.
        return Err(ln.diag(format!(
            "{who} : 'crt' or 'crt-list' without 'ssl': add 'ssl' to serve TLS on this bind line."
        )));
    }
    check_versions(&t.common, ln, who)
}

/// Checks a server's TLS settings as a whole.
/// A server that sets no `verify` takes `ssl-server-verify` (`global`).
pub(super) fn check_server(
    t: &mut SrvTls,
    global_verify: SrvVerify,
    ln: &Ln<'_>,
    who: &str,
) -> Result<(), Diagnostic> {
    // `check-ssl` on a server without `ssl` takes its TLS settings too
    // (HAProxy prepares the server's TLS context for either).
    if !t.ssl && t.check_ssl != Some(true) {
        return Ok(());
    }
    let verify = *t.verify.get_or_insert(global_verify);
    if verify == SrvVerify::Required && t.common.ca_file.is_none() {
        // HAProxy 2.6's words, for `verify required` too.
        return Err(ln.diag(format!(
            "{who} : verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default."
        )));
    }
    check_versions(&t.common, ln, who)
}

/// At least one version left.
fn check_versions(c: &TlsCommon, ln: &Ln<'_>, who: &str) -> Result<(), Diagnostic> {
    if tls_versions(c).is_empty() {
        return Err(ln.diag(format!(
            "{who} : all SSL/TLS versions are disabled (Sluice's TLS implements TLSv1.2 and TLSv1.3)."
        )));
    }
    Ok(())
}

/// The versions a setting leaves: TLS 1.2 and 1.3 within
/// `ssl-min-ver`..`ssl-max-ver`, less the `no-*` ones.
pub fn tls_versions(c: &TlsCommon) -> Vec<TlsVer> {
    let min = c.min_ver.unwrap_or(TlsVer::Tlsv12);
    let max = c.max_ver.unwrap_or(TlsVer::Tlsv13);
    [TlsVer::Tlsv12, TlsVer::Tlsv13]
        .into_iter()
        .filter(|&v| v >= min && v <= max)
        .filter(|&v| match v {
            TlsVer::Tlsv12 => !c.no_tlsv12,
            _ => !c.no_tlsv13,
        })
        .collect()
}

/// One line of a `crt-list` file (HAProxy's `struct crtlist_entry`):
/// `CERTFILE [\[ssl options\]] [[!]filter ...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrtListEntry {
    /// The 1-based line in the crt-list file.
    pub line: u32,
    /// The certificate file, as written (`crt-base` applies).
    pub crt: String,
    /// The SNI filters (`*.example.com` wildcards allowed), lower case;
    /// none: the certificate's own names.
    pub filters: Vec<String>,
    /// The negative filters (`!name`), lower case, without the `!`.
    pub negative: Vec<String>,
    /// The filters as written, both kinds, in order (`show ssl
    /// crt-list`).
    pub filter_words: Vec<String>,
    /// The options between `[` and `]` (HAProxy's per-line
    /// `ssl_bind_conf`): `None` when the line has none.
    pub opts: Option<CrtListOpts>,
}

/// The options of a crt-list line that Sluice honours: each one set
/// replaces the `bind` line's (HAProxy's `ssl_sock_prepare_ctx` takes
/// the line's `ssl_conf` value when set, the bind's otherwise).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CrtListOpts {
    pub common: TlsCommon,
    pub verify: Option<BindVerify>,
    pub crl_file: Option<String>,
    pub ca_verify_file: Option<String>,
}

impl CrtListOpts {
    /// The options as `show ssl crt-list` prints them, ` [...]`, in
    /// HAProxy's order (`dump_crtlist_sslconf`); lists as Sluice kept
    /// them.
    pub fn dump(&self) -> String {
        let c = &self.common;
        let mut w: Vec<String> = Vec::new();
        if let Some(a) = &c.alpn {
            w.push(format!("alpn {}", a.join(",")));
        }
        match self.verify {
            Some(BindVerify::None) => w.push("verify none".into()),
            Some(BindVerify::Optional) => w.push("verify optional".into()),
            Some(BindVerify::Required) => w.push("verify required".into()),
            None => {}
        }
        if let Some(f) = &c.ca_file {
            w.push(format!("ca-file {f}"));
        }
        if let Some(f) = &self.crl_file {
            w.push(format!("crl-file {f}"));
        }
        if let Some(l) = &c.ciphers {
            w.push(format!("ciphers {}", l.join(":")));
        }
        if let Some(l) = &c.ciphersuites {
            w.push(format!("ciphersuites {}", l.join(":")));
        }
        if let Some(l) = &c.curves {
            w.push(format!("curves {}", l.join(":")));
        }
        if let Some(v) = c.min_ver {
            w.push(format!("ssl-min-ver {}", v.name()));
        }
        if let Some(v) = c.max_ver {
            w.push(format!("ssl-max-ver {}", v.name()));
        }
        format!(" [{}]", w.join(" "))
    }

    /// The `bind` line's settings with this line's on top.
    pub fn apply(&self, bind: &BindTls) -> BindTls {
        let mut t = bind.clone();
        let (c, o) = (&mut t.common, &self.common);
        if o.alpn.is_some() {
            c.alpn = o.alpn.clone();
        }
        if o.min_ver.is_some() {
            c.min_ver = o.min_ver;
        }
        if o.max_ver.is_some() {
            c.max_ver = o.max_ver;
        }
        if o.ciphers.is_some() {
            c.ciphers = o.ciphers.clone();
        }
        if o.ciphersuites.is_some() {
            c.ciphersuites = o.ciphersuites.clone();
        }
        if o.curves.is_some() {
            c.curves = o.curves.clone();
        }
        if o.ca_file.is_some() {
            c.ca_file = o.ca_file.clone();
        }
        if let Some(v) = self.verify {
            t.verify = v;
        }
        if self.crl_file.is_some() {
            t.crl_file = self.crl_file.clone();
        }
        if self.ca_verify_file.is_some() {
            t.ca_verify_file = self.ca_verify_file.clone();
        }
        t
    }
}

/// Options HAProxy takes in a crt-list line and Sluice does not honour
/// (yet): refused with the crt-list file and line.
const CRT_LIST_REFUSED: &[&str] = &[
    "allow-0rtt",
    "client-sigalgs",
    "sigalgs",
    "no-ca-names",
    "npn",
    "no-alpn",
    "ktls",
];

/// Parses a `crt-list` file (HAProxy's `crtlist_parse_file` /
/// `crtlist_parse_line`): one certificate a line, `#` comments and empty
/// lines skipped, options between `[` and `]` after the file name, then
/// SNI filters. Errors name the crt-list file and line; warnings (suites
/// left out of a `ciphers` list) go to `d`.
pub fn parse_crt_list(
    file: &str,
    text: &[u8],
    d: &mut Diags,
) -> Result<Vec<CrtListEntry>, Diagnostic> {
    let err = |line: u32, m: String| Diagnostic::new(file, line, "crt-list", m);
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
        // As HAProxy 2.6: a comment starts the line (an indented `#` is
        // a file name).
        let l = raw.trim_start();
        if l.is_empty() || raw.starts_with('#') {
            continue;
        }
        // Words, with `[` and `]` cutting words as in HAProxy.
        let mut words: Vec<String> = Vec::new();
        let (mut open, mut close) = (None, None);
        let mut cur = String::new();
        let flush = |cur: &mut String, words: &mut Vec<String>| {
            if !cur.is_empty() {
                words.push(std::mem::take(cur));
            }
        };
        for ch in l.chars() {
            match ch {
                c if c.is_whitespace() => flush(&mut cur, &mut words),
                '[' => {
                    flush(&mut cur, &mut words);
                    if open.is_some() {
                        return Err(err(line, "too many '['".into()));
                    }
                    if words.is_empty() {
                        return Err(err(line, "file must start with a cert".into()));
                    }
                    open = Some(words.len());
                }
                ']' => {
                    flush(&mut cur, &mut words);
                    if close.is_some() {
                        return Err(err(line, "too many ']'".into()));
                    }
                    if open.is_none() {
                        return Err(err(line, "missing '['".into()));
                    }
                    close = Some(words.len());
                }
                c => cur.push(c),
            }
        }
        flush(&mut cur, &mut words);
        if open.is_some() && close.is_none() {
            return Err(err(line, "missing ']'".into()));
        }
        let (ob, cb) = (open.unwrap_or(1), close.unwrap_or(1));
        if ob > 1 {
            return Err(err(
                line,
                "malformated line, filters can't be between filename and options!".into(),
            ));
        }
        let opts = if cb > ob {
            let ln = Ln {
                file,
                line,
                words: words[ob..cb].to_vec(),
                kwm: super::Kwm::Std,
                env: Default::default(),
            };
            Some(crt_list_opts(&ln, d)?)
        } else {
            None
        };
        let mut e = CrtListEntry {
            line,
            crt: words[0].clone(),
            filters: Vec::new(),
            negative: Vec::new(),
            filter_words: words[cb.max(1)..].to_vec(),
            opts,
        };
        for f in &words[cb.max(1)..] {
            match f.strip_prefix('!') {
                Some(neg) => e.negative.push(neg.to_ascii_lowercase()),
                None => e.filters.push(f.to_ascii_lowercase()),
            }
        }
        out.push(e);
    }
    Ok(out)
}

/// The options between `[` and `]` of a crt-list line (HAProxy's
/// `ssl_crtlist_kws`).
fn crt_list_opts(ln: &Ln<'_>, d: &mut Diags) -> Result<CrtListOpts, Diagnostic> {
    let who = "crt-list";
    let mut o = CrtListOpts::default();
    let mut i = 0;
    while i < ln.words.len() {
        let (opt, val) = (ln.arg(i), ln.arg(i + 1));
        let n = match opt {
            "alpn" | "ciphers" | "ciphersuites" | "ca-file" | "curves" | "ecdhe"
            | "ssl-min-ver" | "ssl-max-ver" => common_option(&mut o.common, ln, i, who, d)?
                .ok_or_else(|| ln.diag(format!("unknown ssl keyword {opt}")))?,
            "verify" => {
                o.verify = Some(match val {
                    "none" => BindVerify::None,
                    "optional" => BindVerify::Optional,
                    "required" => BindVerify::Required,
                    _ => return Err(ln.diag(format!(
                        "{who} : 'verify' : unknown verify method '{val}', only 'none', 'optional', and 'required' are supported"
                    ))),
                });
                2
            }
            "crl-file" => {
                if val.is_empty() {
                    return Err(ln.diag(format!("{who} : 'crl-file' : missing CRLfile path")));
                }
                o.crl_file = Some(val.to_string());
                2
            }
            "ca-verify-file" => {
                if val.is_empty() {
                    return Err(ln.diag(format!("{who} : 'ca-verify-file' : missing CAfile path")));
                }
                o.ca_verify_file = Some(val.to_string());
                2
            }
            _ if CRT_LIST_REFUSED.contains(&opt) => {
                return Err(ln.diag(format!(
                    "{who} : '{opt}' : this TLS option is not supported by Sluice yet."
                )))
            }
            _ => return Err(ln.diag(format!("unknown ssl keyword {opt}"))),
        };
        if i + n > ln.words.len() {
            return Err(ln.diag(format!("ssl args out of '[]' for {opt}")));
        }
        i += n;
    }
    if tls_versions(&o.common).is_empty() {
        return Err(ln.diag(format!(
            "{who} : all SSL/TLS versions are disabled (Sluice's TLS implements TLSv1.2 and TLSv1.3)."
        )));
    }
    Ok(o)
}
