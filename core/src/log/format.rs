//! Log-format strings for log lines: HAProxy's `parse_logformat_string`
//! and the node list `sess_build_logline` walks (`log.c`), for
//! `log-format`, `option httplog clf` and `unique-id-format`.
//!
//! ```text
//! "%ci:%cp [%tr] %ft %{+Q}r %[req.hdr(host),lower]"
//!   -> Var(ci) Text(":") Var(cp) Sep Text("[") Var(tr) Text("]") Sep
//!      Var(ft) Sep Var(r, QUOTE) Sep Expr(req.hdr(host),lower)
//! ```
//!
//! Spaces are separators: a run of them prints one space, and only after
//! something was printed since the last one (a `%hr` without captures
//! leaves no double space), as HAProxy's `last_isspace`. `%o` sets the
//! options of the nodes after it. The rules' log-format values
//! ([`crate::rules::LogFormat`]) share the `%[expr]` parser but not this
//! node list: a header value has no `-` for a missing sample.

use crate::sample::{ParseCtx, SampleExpr};

bitflags::bitflags! {
    /// A node's options (HAProxy's `LOG_OPT_*`), set with `%{+Q,-X}`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct LfOpts: u8 {
        /// `+Q`: text between double quotes.
        const QUOTE = 1;
        /// `+X`: addresses, ports and some counters in hexadecimal.
        const HEXA = 2;
        /// `+E`: `"`, `\` and `]` escaped with a backslash (RFC 5424).
        const ESC = 4;
    }
}

/// A log variable (HAProxy's `logformat_keywords`), named without `%`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogVar {
    /// `%ci` `%cp`: client address and port.
    Ci,
    Cp,
    /// `%fi` `%fp`: the address and port the client connected to.
    Fi,
    Fp,
    /// `%bi` `%bp`: the source address and port of the server connection.
    Bi,
    Bp,
    /// `%si` `%sp`: the server's address and port.
    Si,
    Sp,
    /// `%t`: accept date, `%tr`: request date (`10/Dec/2026:10:00:00.123`).
    Date,
    DateReq,
    /// `%T` `%trg`: the same in GMT (`10/Dec/2026:10:00:00 +0000`).
    DateGmt,
    DateReqGmt,
    /// `%Tl` `%trl`: local time (Sluice: UTC, see docs/logging.md).
    DateLocal,
    DateReqLocal,
    /// `%Ts`: accept date in seconds since the epoch; `%ms`: its ms.
    Ts,
    Ms,
    /// `%f` `%ft` `%b` `%s`: frontend (`~` after it over TLS), backend,
    /// server.
    Fe,
    FeXprt,
    Be,
    Srv,
    /// Timers: `%Th %Ti %TR %Tq %Tw %Tc %Tr %Td %Ta %Tt %Tu`.
    Th,
    Ti,
    TR,
    Tq,
    Tw,
    Tc,
    Tr,
    Td,
    Ta,
    Tt,
    Tu,
    /// `%ST`: status; `%B`: bytes to the client; `%U`: from the client.
    Status,
    Bytes,
    BytesUp,
    /// `%CC` `%CS`: captured cookies (no `capture cookie`: always `-`).
    CookieCli,
    CookieSrv,
    /// `%ts` `%tsc`: termination state (with cookie states).
    TermState,
    TermStateCk,
    /// `%ac %fc %bc %sc %rc %sq %bq`.
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    SrvQueue,
    BeQueue,
    /// `%hr` `%hs`: captured headers in braces; `%hrl` `%hsl`: as a list.
    HdrReq,
    HdrReqList,
    HdrRes,
    HdrResList,
    /// `%r %HM %HU %HP %HPO %HQ %HV`: the request line and its parts.
    Req,
    Method,
    Uri,
    Path,
    PathOnly,
    Query,
    Version,
    /// `%rt`: the stream's request counter; `%lc`: the frontend's log
    /// counter; `%H`: the host name; `%pid`; `%ID`: the unique id.
    Counter,
    LogCount,
    Hostname,
    Pid,
    UniqueId,
}

/// Variables by name; `sslv`, `sslc` are sample fetches (`%[...]`).
const VARS: &[(&str, LogVar)] = &[
    ("ci", LogVar::Ci),
    ("cp", LogVar::Cp),
    ("fi", LogVar::Fi),
    ("fp", LogVar::Fp),
    ("bi", LogVar::Bi),
    ("bp", LogVar::Bp),
    ("si", LogVar::Si),
    ("sp", LogVar::Sp),
    ("t", LogVar::Date),
    ("tr", LogVar::DateReq),
    ("T", LogVar::DateGmt),
    ("trg", LogVar::DateReqGmt),
    ("Tl", LogVar::DateLocal),
    ("trl", LogVar::DateReqLocal),
    ("Ts", LogVar::Ts),
    ("ms", LogVar::Ms),
    ("f", LogVar::Fe),
    ("ft", LogVar::FeXprt),
    ("b", LogVar::Be),
    ("s", LogVar::Srv),
    ("Th", LogVar::Th),
    ("Ti", LogVar::Ti),
    ("TR", LogVar::TR),
    ("Tq", LogVar::Tq),
    ("Tw", LogVar::Tw),
    ("Tc", LogVar::Tc),
    ("Tr", LogVar::Tr),
    ("Td", LogVar::Td),
    ("Ta", LogVar::Ta),
    ("Tt", LogVar::Tt),
    ("Tu", LogVar::Tu),
    ("ST", LogVar::Status),
    ("B", LogVar::Bytes),
    ("U", LogVar::BytesUp),
    ("CC", LogVar::CookieCli),
    ("CS", LogVar::CookieSrv),
    ("ts", LogVar::TermState),
    ("tsc", LogVar::TermStateCk),
    ("ac", LogVar::ActConn),
    ("fc", LogVar::FeConn),
    ("bc", LogVar::BeConn),
    ("sc", LogVar::SrvConn),
    ("rc", LogVar::Retries),
    ("sq", LogVar::SrvQueue),
    ("bq", LogVar::BeQueue),
    ("hr", LogVar::HdrReq),
    ("hrl", LogVar::HdrReqList),
    ("hs", LogVar::HdrRes),
    ("hsl", LogVar::HdrResList),
    ("r", LogVar::Req),
    ("HM", LogVar::Method),
    ("HU", LogVar::Uri),
    ("HP", LogVar::Path),
    ("HPO", LogVar::PathOnly),
    ("HQ", LogVar::Query),
    ("HV", LogVar::Version),
    ("rt", LogVar::Counter),
    ("lc", LogVar::LogCount),
    ("H", LogVar::Hostname),
    ("pid", LogVar::Pid),
    ("ID", LogVar::UniqueId),
];

/// One node of a log-format string (HAProxy's `logformat_node`).
#[derive(Clone, Debug, PartialEq)]
pub enum LfNode {
    Text(String),
    /// A run of spaces.
    Sep,
    Var(LogVar, LfOpts),
    /// `%[expr]` (and `%sslv`, `%sslc`).
    Expr(SampleExpr, LfOpts),
}

/// A parsed log-format string.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogFmt {
    pub nodes: Vec<LfNode>,
}

/// HAProxy 2.6's `option httplog` format.
pub const HTTP_LOG_FORMAT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// HAProxy 2.6's `option httpslog` format: `option httplog`'s and the
/// connection's errors, TLS resumption, SNI, version and cipher.
pub const HTTPS_LOG_FORMAT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc";
/// HAProxy 2.6's `option httplog clf` format.
pub const CLF_LOG_FORMAT: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
/// HAProxy 2.6's `option tcplog` format.
pub const TCP_LOG_FORMAT: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

impl LogFmt {
    /// Parses `text` as HAProxy's `parse_logformat_string` does. The error
    /// is HAProxy's wording, to follow `failed to parse log-format : `.
    /// `log_end`: the string is rendered when the stream ends (a log
    /// line), where HAProxy 2.6 refuses fetches of the request buffer and
    /// of headers (`SMP_VAL_FE_LOG_END`); a `unique-id-format` is rendered
    /// with the request head and may read them.
    pub fn parse(text: &str, ctx: &ParseCtx<'_>, log_end: bool) -> Result<LogFmt, String> {
        let b = text.as_bytes();
        let mut nodes = Vec::new();
        let mut defopts = LfOpts::empty();
        let mut lit = String::new();
        let flush = |lit: &mut String, nodes: &mut Vec<LfNode>| {
            if !lit.is_empty() {
                nodes.push(LfNode::Text(core::mem::take(lit)));
            }
        };
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b' ' => {
                    flush(&mut lit, &mut nodes);
                    if nodes.last() != Some(&LfNode::Sep) {
                        nodes.push(LfNode::Sep);
                    }
                    i += 1;
                }
                b'%' if b.get(i + 1) == Some(&b'%') => {
                    lit.push('%');
                    i += 2;
                }
                b'%' => {
                    flush(&mut lit, &mut nodes);
                    i += 1;
                    let mut opts = defopts;
                    if b.get(i) == Some(&b'{') {
                        let close = text[i..]
                            .find('}')
                            .ok_or("missing '}' after '%{'".to_string())?;
                        opts = parse_opts(&text[i + 1..i + close], opts);
                        i += close + 1;
                    }
                    if b.get(i) == Some(&b'[') {
                        let inner = &text[i + 1..];
                        let (e, n) = SampleExpr::parse_prefix(inner, ctx).map_err(|e| {
                            format!("failed to parse sample expression <{inner}> : {e}")
                        })?;
                        if let Some(need) = gone_at_log_end(&e.fetch).filter(|_| log_end) {
                            return Err(format!(
                                "sample fetch <{inner}> may not be reliably used here because it needs '{need}' which is not available here"
                            ));
                        }
                        if inner.as_bytes().get(n) != Some(&b']') {
                            return Err(format!(
                                "missing ']' after sample expression '{}'",
                                &inner[..n]
                            ));
                        }
                        nodes.push(LfNode::Expr(e, opts));
                        i += n + 2;
                        continue;
                    }
                    let n = text[i..]
                        .bytes()
                        .position(|c| !c.is_ascii_alphabetic())
                        .unwrap_or(text.len() - i);
                    let name = &text[i..i + n];
                    i += n;
                    match name {
                        "o" => defopts = opts,
                        "sslv" | "sslc" => {
                            let f = if name == "sslv" {
                                "ssl_fc_protocol"
                            } else {
                                "ssl_fc_cipher"
                            };
                            nodes.push(LfNode::Expr(SampleExpr::parse(f, ctx)?, opts));
                        }
                        _ => match VARS.iter().find(|(k, _)| *k == name) {
                            Some((_, v)) => nodes.push(LfNode::Var(*v, opts)),
                            None => {
                                return Err(format!(
                                    "no such format variable '{name}'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
                                ))
                            }
                        },
                    }
                }
                _ => {
                    let end = text[i..].find([' ', '%']).map_or(text.len(), |p| i + p);
                    lit.push_str(&text[i..end]);
                    i = end;
                }
            }
        }
        flush(&mut lit, &mut nodes);
        Ok(LogFmt { nodes })
    }

    /// Whether a variable appears.
    pub fn uses(&self, v: LogVar) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n, LfNode::Var(w, _) if *w == v))
    }
}

/// What a fetch reads that HAProxy no longer holds when it logs
/// (`fetch_cap[]` without `SMP_VAL_FE_LOG_END`), by HAProxy's name.
fn gone_at_log_end(f: &crate::sample::Fetch) -> Option<&'static str> {
    use crate::sample::{FetchKind::*, Layer};
    let k = &f.kind;
    match f.layer() {
        Layer::ReqContent => Some("request buffer"),
        Layer::ResContent => Some("response buffer"),
        // The method and version stay (`SMP_SRC_HRQHP`); the rest of the
        // head is gone (`SMP_SRC_HRQHV`), the path included.
        Layer::HttpReq | Layer::HttpAny if !matches!(k, Method | ReqVer) => {
            Some("HTTP request headers")
        }
        Layer::HttpRes if !matches!(k, Status | ResVer | ResComp | ResCompAlgo) => {
            Some("HTTP response headers")
        }
        _ => None,
    }
}

/// `+Q,-X,...`: unknown flags are ignored, as HAProxy 2.6 does.
fn parse_opts(s: &str, mut opts: LfOpts) -> LfOpts {
    for item in s.split(',') {
        let (add, name) = match item.as_bytes().first() {
            Some(b'+') => (true, &item[1..]),
            Some(b'-') => (false, &item[1..]),
            _ => continue,
        };
        let f = match name {
            "Q" => LfOpts::QUOTE,
            "X" => LfOpts::HEXA,
            "E" => LfOpts::ESC,
            _ => continue,
        };
        opts.set(f, add);
    }
    opts
}

/// The line being built: HAProxy's `tmplog` with `last_isspace`.
pub(crate) struct LineOut {
    pub buf: String,
    last_isspace: bool,
}

/// Bytes `%r` and friends print as `#XX` (HAProxy's `url_encode_map`).
fn url_enc(c: u8) -> bool {
    !(32..127).contains(&c) || c == b'"' || c == b'#'
}

/// Bytes captured headers print as `#XX` (`hdr_encode_map`).
fn hdr_enc(c: u8) -> bool {
    !(32..127).contains(&c) || matches!(c, b'"' | b'#' | b'{' | b'|' | b'}')
}

fn esc5424(c: u8) -> bool {
    matches!(c, b'"' | b'\\' | b']')
}

/// Which `#XX` encoding a text value gets.
#[derive(Clone, Copy)]
pub(crate) enum Enc {
    /// `lf_text`: as is (`+E` escapes).
    None,
    Url,
    Hdr,
}

impl LineOut {
    pub fn new(cap: usize) -> LineOut {
        LineOut {
            buf: String::with_capacity(cap),
            last_isspace: true,
        }
    }

    pub fn sep(&mut self) {
        if !self.last_isspace {
            self.buf.push(' ');
            self.last_isspace = true;
        }
    }

    pub fn text(&mut self, s: &str) {
        if !s.is_empty() {
            self.buf.push_str(s);
            self.last_isspace = false;
        }
    }

    /// Raw characters of a value (never quoted).
    pub fn raw(&mut self, s: &str) {
        self.text(s);
    }

    pub fn int(&mut self, v: i64) {
        use core::fmt::Write as _;
        let _ = write!(self.buf, "{v}");
        self.last_isspace = false;
    }

    /// `%04X`-style hexadecimal (`+X` on counters).
    pub fn hex(&mut self, v: u64, width: usize) {
        use core::fmt::Write as _;
        let _ = write!(self.buf, "{v:0width$X}");
        self.last_isspace = false;
    }

    /// A text value (HAProxy's `lf_text_len` / `lf_encode_string`):
    /// quoted with `+Q`; missing or empty, `-` unquoted or `""` quoted.
    pub fn value(&mut self, v: Option<&[u8]>, opts: LfOpts, enc: Enc) {
        let q = opts.contains(LfOpts::QUOTE);
        if q {
            self.buf.push('"');
        }
        match v {
            Some(v) if !v.is_empty() => self.bytes(v, opts, enc),
            _ if !q => self.buf.push('-'),
            _ => {}
        }
        if q {
            self.buf.push('"');
        }
        self.last_isspace = false;
    }

    /// Value bytes, encoded; bytes that are not UTF-8 become `#XX` too
    /// (HAProxy writes them raw; a log line here is a `String`).
    pub fn bytes(&mut self, v: &[u8], opts: LfOpts, enc: Enc) {
        use core::fmt::Write as _;
        let esc = opts.contains(LfOpts::ESC);
        let plain = v.iter().all(|&c| {
            let encoded = match enc {
                Enc::None => c >= 128,
                Enc::Url => url_enc(c),
                Enc::Hdr => hdr_enc(c),
            };
            !(encoded || esc && esc5424(c))
        });
        if plain {
            // Only ASCII here.
            self.buf.push_str(core::str::from_utf8(v).unwrap_or(""));
            return;
        }
        for &c in v {
            let encoded = match enc {
                Enc::None => c >= 128,
                Enc::Url => url_enc(c),
                Enc::Hdr => hdr_enc(c),
            };
            if encoded {
                let _ = write!(self.buf, "#{c:02X}");
            } else if esc && esc5424(c) {
                self.buf.push('\\');
                self.buf.push(c as char);
            } else {
                self.buf.push(c as char);
            }
        }
    }

    /// An address (`lf_ip`): `+X` prints its bytes in hexadecimal.
    pub fn ip(&mut self, a: Option<core::net::IpAddr>, opts: LfOpts) {
        use core::fmt::Write as _;
        match a {
            Some(a) if opts.contains(LfOpts::HEXA) => {
                let bytes: Vec<u8> = match a {
                    core::net::IpAddr::V4(v) => v.octets().to_vec(),
                    core::net::IpAddr::V6(v) => v.octets().to_vec(),
                };
                for b in bytes {
                    let _ = write!(self.buf, "{b:02X}");
                }
                self.last_isspace = false;
            }
            Some(a) => {
                let s = a.to_string();
                self.value(Some(s.as_bytes()), opts, Enc::None);
            }
            None => self.value(None, opts, Enc::None),
        }
    }

    /// A port (`lf_port`): an integer, `+X` four hexadecimal digits.
    pub fn port(&mut self, p: Option<u16>, opts: LfOpts) {
        match p {
            Some(p) if opts.contains(LfOpts::HEXA) => self.hex(u64::from(p), 4),
            Some(p) => self.int(i64::from(p)),
            None => self.value(None, opts, Enc::None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<LogFmt, String> {
        LogFmt::parse(s, &ParseCtx::detached(), true)
    }

    #[test]
    fn default_formats_parse() {
        for f in [HTTP_LOG_FORMAT, CLF_LOG_FORMAT, TCP_LOG_FORMAT] {
            p(f).unwrap();
        }
        let f = p(CLF_LOG_FORMAT).unwrap();
        // `%{+Q}o` makes every later node quoted, `%{-Q}ci` not.
        assert_eq!(f.nodes[0], LfNode::Sep);
        assert_eq!(f.nodes[1], LfNode::Var(LogVar::Ci, LfOpts::empty()));
        assert!(f.nodes.contains(&LfNode::Var(LogVar::Req, LfOpts::QUOTE)));
    }

    #[test]
    fn nodes_and_separators() {
        let f = p("%ci:%cp  [%t] %{+Q,+X}r 100%%").unwrap();
        assert_eq!(
            f.nodes,
            vec![
                LfNode::Var(LogVar::Ci, LfOpts::empty()),
                LfNode::Text(":".into()),
                LfNode::Var(LogVar::Cp, LfOpts::empty()),
                LfNode::Sep,
                LfNode::Text("[".into()),
                LfNode::Var(LogVar::Date, LfOpts::empty()),
                LfNode::Text("]".into()),
                LfNode::Sep,
                LfNode::Var(LogVar::Req, LfOpts::QUOTE | LfOpts::HEXA),
                LfNode::Sep,
                LfNode::Text("100%".into()),
            ]
        );
    }

    #[test]
    fn errors_as_haproxy_words_them() {
        assert_eq!(
            p("%ci %foo").unwrap_err(),
            "no such format variable 'foo'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
        );
        assert_eq!(
            p("%[nosuch]").unwrap_err(),
            "failed to parse sample expression <nosuch]> : unknown fetch method 'nosuch'"
        );
        assert!(p("%{+Q").is_err());
        assert_eq!(
            p("%[req.hdr(host)] x").unwrap_err(),
            "sample fetch <req.hdr(host)] x> may not be reliably used here because it needs 'HTTP request headers' which is not available here"
        );
        assert!(LogFmt::parse("%[req.hdr(host)]", &ParseCtx::detached(), false).is_ok());
        assert!(p("%[src").is_err());
        // Unknown flags are ignored (HAProxy 2.6).
        assert_eq!(
            p("%{+Z}ci").unwrap().nodes,
            vec![LfNode::Var(LogVar::Ci, LfOpts::empty())]
        );
    }

    #[test]
    fn values_and_spaces() {
        let mut o = LineOut::new(64);
        o.sep();
        o.value(None, LfOpts::empty(), Enc::None);
        o.sep();
        o.sep();
        o.value(None, LfOpts::QUOTE, Enc::None);
        o.sep();
        o.value(Some(b"a\"b#\x01"), LfOpts::QUOTE, Enc::Url);
        o.sep();
        o.value(Some(b"x]\"y"), LfOpts::ESC, Enc::None);
        o.sep();
        o.ip(Some("127.0.0.1".parse().unwrap()), LfOpts::HEXA);
        o.port(Some(80), LfOpts::HEXA);
        assert_eq!(o.buf, "- \"\" \"a#22b#23#01\" x\\]\\\"y 7F0000010050");
    }
}
