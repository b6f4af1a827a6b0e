//! Error pages: `errorfile CODE FILE` in proxies, `errorfiles NAME
//! [CODE...]`, and the `http-errors NAME` sections whose `errorfile` lines
//! `errorfiles` imports (HAProxy's `http_htx.c`: `proxy_parse_errorfile`,
//! `proxy_parse_errorfiles`, `cfg_parse_http_errors`,
//! `proxy_check_errors`), and `errorloc`, `errorloc302`, `errorloc303`
//! (`proxy_parse_errorloc`): a redirect in place of a page.
//!
//! The parser only records file names: the driver reads the files
//! ([`Config::errorfile_paths`], [`Config::errorfile_contents`]) and the
//! engine checks and installs them when it is built ([`proxy_pages`]), so
//! that `-c` reports a missing or malformed file with its `file:line`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::model::{Config, Place, Proxy, ProxyKind};
use super::{Diagnostic, Ln};
use crate::http::errors::ERRORFILE_STATUSES;

/// An error page declaration of a proxy, in order (a later one replaces
/// an earlier one for the same status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorDecl {
    /// `errorfile CODE FILE`.
    File(ErrorFile),
    /// `errorloc|errorloc302|errorloc303 CODE URL`: a redirect to `URL`
    /// (302, or 303 for `errorloc303`) in place of the page for `CODE`.
    Location {
        place: Place,
        status: u16,
        redirect: u16,
        url: String,
    },
    /// `errorfiles NAME [CODE...]`: the pages of an `http-errors`
    /// section, all of them or only the statuses listed.
    Section {
        place: Place,
        name: String,
        statuses: Vec<u16>,
    },
    /// `http-error status CODE [content-type T] [default-errorfiles |
    /// errorfile F | errorfiles NAME | file F | lf-file F | string S |
    /// lf-string FMT] [hdr NAME FMT]...`: a reply in place of the page
    /// for `CODE` (HAProxy's `proxy_parse_http_error`). The words after
    /// the keyword are parsed as a reply when the engine is built.
    Reply {
        place: Place,
        status: u16,
        words: Vec<String>,
    },
}

/// `errorfile CODE FILE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorFile {
    pub place: Place,
    pub status: u16,
    pub path: String,
}

/// An `http-errors NAME` section (HAProxy's `struct http_errors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpErrors {
    pub place: Place,
    pub name: String,
    pub files: Vec<ErrorFile>,
}

/// The status word of an `errorfile` line.
fn status(ln: &Ln<'_>, kw: &str, w: &str) -> Result<u16, Diagnostic> {
    match w.parse::<u16>() {
        Ok(s) if ERRORFILE_STATUSES.contains(&s) => Ok(s),
        _ => Err(ln.diag(format!("{kw} : status code '{w}' not handled."))),
    }
}

/// `errorfile CODE FILE`, in a proxy or an `http-errors` section.
pub(super) fn errorfile(ln: &Ln<'_>) -> Result<ErrorFile, Diagnostic> {
    if ln.arg(1).is_empty() || ln.arg(2).is_empty() {
        return Err(ln.diag("errorfile : expects <status_code> and <file> as arguments."));
    }
    ln.no_extra(3)?;
    Ok(ErrorFile {
        place: ln.place(),
        status: status(ln, "errorfile", ln.arg(1))?,
        path: ln.arg(2).to_string(),
    })
}

/// `errorfile`, `errorfiles` and `errorloc*` in a proxy section.
pub(super) fn proxy_kw(px: &mut Proxy, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    if let kw @ ("errorloc" | "errorloc302" | "errorloc303") = ln.kw() {
        if ln.arg(1).is_empty() || ln.arg(2).is_empty() {
            return Err(ln.diag(format!(
                "{kw} : expects <status_code> and <url> as arguments."
            )));
        }
        ln.no_extra(3)?;
        px.errors.push(ErrorDecl::Location {
            place: ln.place(),
            status: status(ln, kw, ln.arg(1))?,
            redirect: if kw == "errorloc303" { 303 } else { 302 },
            url: ln.arg(2).to_string(),
        });
        return Ok(());
    }
    if ln.kw() == "http-error" {
        let at = ln.words.iter().position(|w| w == "status");
        let Some(w) = at.and_then(|i| ln.words.get(i + 1)) else {
            return Err(ln.diag("http-error : expects at least a <status> as arguments."));
        };
        let status = match w.parse::<u16>() {
            Ok(s) if ERRORFILE_STATUSES.contains(&s) => s,
            Ok(s) if (200..=599).contains(&s) => {
                return Err(ln.diag(format!("http-error : status code '{s}' not handled.")))
            }
            _ => return Err(ln.diag(format!("http-error : Unexpected status code '{w}'."))),
        };
        px.errors.push(ErrorDecl::Reply {
            place: ln.place(),
            status,
            words: ln.words[1..].to_vec(),
        });
        return Ok(());
    }
    if ln.kw() == "errorfile" {
        let f = errorfile(ln)?;
        px.errors.push(ErrorDecl::File(f));
        return Ok(());
    }
    let name = ln.arg(1);
    if name.is_empty() {
        return Err(ln.diag("errorfiles : expects <name> as argument."));
    }
    let statuses = ln.words[2..]
        .iter()
        .map(|w| status(ln, "errorfiles", w))
        .collect::<Result<Vec<u16>, _>>()?;
    px.errors.push(ErrorDecl::Section {
        place: ln.place(),
        name: name.to_string(),
        statuses,
    });
    Ok(())
}

/// A line of an `http-errors` section.
pub(super) fn section_kw(sec: &mut HttpErrors, ln: &Ln<'_>) -> Result<(), Diagnostic> {
    match ln.kw() {
        "errorfile" => {
            let f = errorfile(ln)?;
            sec.files.push(f);
            Ok(())
        }
        kw => Err(ln.diag(format!("unknown keyword '{kw}' in 'http-errors' section"))),
    }
}

/// `errorfiles` naming no `http-errors` section: an error at its line.
pub(super) fn check(cfg: &Config, out: &mut Vec<Diagnostic>) {
    for px in cfg.proxies.iter().chain(cfg.defaults.iter()) {
        for d in &px.errors {
            let ErrorDecl::Section { place, name, .. } = d else {
                continue;
            };
            if cfg.http_errors.iter().any(|s| &s.name == name) {
                continue;
            }
            let who = match px.kind {
                ProxyKind::Defaults => "defaults".to_string(),
                _ => format!("proxy '{}'", px.name),
            };
            out.push(Diagnostic::new(
                place.file.clone(),
                place.line,
                "errorfiles",
                format!("{who}: unknown http-errors section '{name}'."),
            ));
        }
    }
}

impl Config {
    /// Every file an `errorfile` line names, once each, for the driver to
    /// read into [`Config::errorfile_contents`].
    pub fn errorfile_paths(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let proxies = self.proxies.iter().chain(self.defaults.iter());
        let in_proxies = proxies
            .flat_map(|p| p.errors.iter())
            .filter_map(|d| match d {
                ErrorDecl::File(f) => Some(&f.path),
                ErrorDecl::Section { .. }
                | ErrorDecl::Location { .. }
                | ErrorDecl::Reply { .. } => None,
            });
        let in_sections = self
            .http_errors
            .iter()
            .flat_map(|s| s.files.iter().map(|f| &f.path));
        for p in in_proxies.chain(in_sections) {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }
}

/// One file's page, checked: it must hold a complete HTTP response head.
fn page(cfg: &Config, f: &ErrorFile) -> Result<Arc<[u8]>, Diagnostic> {
    let diag = |m: String| Diagnostic::new(f.place.file.clone(), f.place.line, "errorfile", m);
    let bytes = match cfg.errorfile_contents.get(&f.path) {
        Some(Ok(b)) => b.clone(),
        Some(Err(why)) => {
            return Err(diag(format!(
                "errorfile : error opening file '{}' ({why}).",
                f.path
            )))
        }
        None => {
            return Err(diag(format!(
                "errorfile : error opening file '{}'.",
                f.path
            )))
        }
    };
    // The page goes out of one buffer, with room for the headers the
    // proxy may add.
    let max = (cfg.global.tune_bufsize as usize).saturating_sub(cfg.global.maxrewrite() as usize);
    if bytes.len() > max {
        return Err(diag(format!(
            "errorfile : '{}': file too big (max {max} bytes).",
            f.path
        )));
    }
    if bytes.is_empty() {
        // An empty file (`/dev/null`): no response at all, the connection
        // is closed (HAProxy's `http_str_to_htx` allows an empty message).
        return Ok(bytes);
    }
    let opts = crate::http::h1::ParseOptions::default();
    match crate::http::h1::parse_response(&bytes, &opts) {
        Ok(crate::http::h1::Status::Complete(_)) => Ok(bytes),
        _ => Err(diag(format!(
            "errorfile : '{}': unable to parse headers.",
            f.path
        ))),
    }
}

/// The response an `errorloc` line stands for: a redirect without a
/// body that is not to be cached, as HAProxy builds it.
fn location_page(redirect: u16, url: &str) -> Arc<[u8]> {
    let reason = if redirect == 303 {
        "See Other"
    } else {
        "Found"
    };
    let head = format!(
        "HTTP/1.1 {redirect} {reason}\r\nCache-Control: no-cache\r\nContent-length: 0\r\nLocation: {url}\r\n\r\n"
    );
    Arc::from(head.into_bytes())
}

/// What a proxy answers for a status instead of the built-in page.
#[derive(Clone, Debug)]
pub enum ProxyError {
    /// A raw HTTP response, sent as it is.
    Page(Arc<[u8]>),
    /// An `http-error` reply rendered when sent (log-format headers or
    /// payload).
    Reply(Arc<crate::rules::Reply>),
}

/// Parses an `http-error` line's words (at its place) into a reply.
pub type ReplyParser<'a> =
    dyn FnMut(&Place, &[String]) -> Result<crate::rules::Reply, Diagnostic> + 'a;

/// The pages of proxy `px`, by status, from its declarations in order (a
/// later one replaces an earlier one). `reply` parses an `http-error`
/// line's words into a reply.
pub fn proxy_pages(
    cfg: &Config,
    px: &Proxy,
    reply: &mut ReplyParser<'_>,
) -> Result<BTreeMap<u16, ProxyError>, Diagnostic> {
    use crate::rules::ReplyBody;
    let mut out = BTreeMap::new();
    for d in &px.errors {
        match d {
            ErrorDecl::Reply {
                place,
                status,
                words,
            } => {
                let r = reply(place, words)?;
                match &r.body {
                    ReplyBody::Message(m) => {
                        out.insert(*status, ProxyError::Page(m.clone()));
                    }
                    // `default-errorfiles`, or `errorfiles` without this
                    // status: HAProxy's own page.
                    ReplyBody::ErrorPage => {
                        out.remove(status);
                    }
                    _ => {
                        out.insert(*status, ProxyError::Reply(Arc::new(r)));
                    }
                }
            }
            ErrorDecl::File(f) => {
                out.insert(f.status, ProxyError::Page(page(cfg, f)?));
            }
            ErrorDecl::Location {
                status,
                redirect,
                url,
                ..
            } => {
                out.insert(*status, ProxyError::Page(location_page(*redirect, url)));
            }
            ErrorDecl::Section { name, statuses, .. } => {
                let Some(sec) = cfg.http_errors.iter().find(|s| &s.name == name) else {
                    continue;
                };
                for f in &sec.files {
                    if statuses.is_empty() || statuses.contains(&f.status) {
                        out.insert(f.status, ProxyError::Page(page(cfg, f)?));
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfgparse::{parse, ParseOptions};

    fn err(text: &str) -> String {
        parse("t.cfg", text, ParseOptions::new("t.cfg"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn http_error_lines() {
        let p = parse(
            "t.cfg",
            "defaults\n  mode http\nfrontend fe\n  bind :8080\n  http-error status 503 content-type text/plain string down\n",
            ParseOptions::new("t.cfg"),
        )
        .unwrap();
        let fe = &p.config.proxies[0];
        assert!(matches!(
            fe.errors.last(),
            Some(ErrorDecl::Reply { status: 503, words, .. }) if words[0] == "status"
        ));
        let base = "defaults\n  mode http\nfrontend fe\n  bind :8080\n";
        assert!(
            err(&format!("{base}  http-error content-type text/plain\n"))
                .contains("http-error : expects at least a <status> as arguments.")
        );
        assert!(err(&format!("{base}  http-error status 418\n"))
            .contains("http-error : status code '418' not handled."));
        assert!(err(&format!("{base}  http-error status abc\n"))
            .contains("Unexpected status code 'abc'"));
    }

    #[test]
    fn proxy_v2_options() {
        let p = parse(
            "t.cfg",
            "backend be\n  server s 127.0.0.1:80 send-proxy-v2 proxy-v2-options unique-id,cert-cn,crc32c\n  server t 127.0.0.1:80 send-proxy-v2-ssl-cn\n",
            ParseOptions::new("t.cfg"),
        )
        .unwrap();
        use crate::cfgparse::pp_opts as o;
        let be = &p.config.proxies[0];
        assert_eq!(
            be.servers[0].opts.pp_opts,
            o::UNIQUE_ID | o::SSL | o::SSL_CN | o::CRC32C
        );
        assert!(be.servers[1].opts.send_proxy_v2);
        assert_eq!(be.servers[1].opts.pp_opts, o::SSL | o::SSL_CN);
        assert!(
            err("backend be\n  server s 127.0.0.1:80 proxy-v2-options ssl,nope\n")
                .contains("'nope' : proxy v2 option not implemented")
        );
    }
}
