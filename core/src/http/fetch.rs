//! Stream sample fetches: HTTP ones (`path`, `method`, `hdr(name)`,
//! `url_param`, `status`..., HAProxy's `http_fetch.c`), the request
//! buffer's contents (`req.len`, `req.payload`, `req.ssl_sni`,
//! `req.proto_http`, `wait_end`, HAProxy's `payload.c`) and variables of
//! every scope, on top of the session fetches.
//!
//! [`HttpCtx`] reads the request head being analysed (or the response
//! head), the stream's request buffer and variables; everything else
//! (addresses, stick counters, tables) is the session context's. It serves
//! every rule that runs on a stream, HTTP or TCP (heads are `None` then).

use crate::arena::Id;
use crate::engine::Engine;
use crate::fetch::SessCtx;
use crate::http::ana::{body_in_buffer, MsgState};
use crate::http::h1::{BodyLen, Headers, ReqHead, ResHead, Side};
use crate::sample::{
    Dir, Fetch, FetchKind, ReqLinePart, Sample, SampleCtx, SslBcFetch, TimeoutFetch,
};
use crate::stream::Stream;
use crate::time::Time;

/// The sample context of the rules that run on a stream.
pub struct HttpCtx<'a> {
    pub sess: SessCtx<'a>,
    pub sid: Id<Stream>,
    pub req: Option<&'a ReqHead>,
    pub res: Option<&'a ResHead>,
    /// The request buffer may still grow (`tcp-request inspect-delay`
    /// runs): content fetches that do not match yet may match later
    /// (HAProxy's evaluation without `SMP_OPT_FINAL`).
    pub partial: bool,
}

impl<'a> HttpCtx<'a> {
    pub fn new(
        eng: &'a mut Engine,
        now: Time,
        sid: Id<Stream>,
        req: Option<&'a ReqHead>,
        res: Option<&'a ResHead>,
    ) -> HttpCtx<'a> {
        let s = &eng.streams[sid];
        let (sess, proxy) = (s.sess, s.be);
        HttpCtx {
            sess: SessCtx {
                eng,
                now,
                sess,
                proxy,
            },
            sid,
            req,
            res,
            partial: false,
        }
    }

    /// The same context for rules of proxy `px` (its table is the
    /// default one of `src_*` fetches).
    pub fn for_proxy(mut self, px: crate::proxy::ProxyId) -> Self {
        self.sess.proxy = px;
        self
    }

    /// The algorithm compressing the response, if any.
    fn res_comp(&self) -> Option<crate::http::comp::CompAlgo> {
        let s = self.sess.eng.streams.get(self.sid)?;
        s.txn.as_ref()?.comp.as_ref().map(|c| c.z.algo())
    }

    /// Whether the stream's client side (`back`: its server side) is an
    /// HTTP/2 stream of the H2 mux.
    fn h2_side(&self, back: bool) -> bool {
        let eng = &self.sess.eng;
        let Some(s) = eng.streams.get(self.sid) else {
            return false;
        };
        if !back {
            return s.mux_id != 0;
        }
        s.scb
            .sedesc
            .conn
            .and_then(|c| eng.conns.get(c))
            .is_some_and(|c| c.mux.h2b().is_some())
    }

    /// The request bytes not yet forwarded.
    fn req_input(&self) -> &[u8] {
        match self.sess.eng.streams.get(self.sid) {
            Some(s) => &s.req.buf.data()[s.req.output.min(s.req.buf.len())..],
            None => &[],
        }
    }

    /// `req.len` on an HTTP stream: HAProxy 2.6 counts the bytes of its
    /// HTX message ("not accurate but kept for backward compatibility"):
    /// the start line (a 20-byte header, method, URI, version), each
    /// header's name and value, one byte for the end of headers, then the
    /// body bytes already there.
    fn req_htx_len(&self, head: &ReqHead) -> usize {
        let input = self.req_input();
        let opts = crate::http::h1::ParseOptions::default();
        let body = match crate::http::h1::parse_request(input, &opts) {
            Ok(crate::http::h1::Status::Complete((_, n))) => input.len().saturating_sub(n),
            _ => 0,
        };
        let fields: usize = head.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        20 + head.method.as_str().len()
            + head.uri.len()
            + head.version.as_str().len()
            + fields
            + 1
            + body
    }

    /// How many input bytes the request buffer can hold (HAProxy's
    /// `channel_recv_limit` from the input's head).
    fn req_limit(&self) -> usize {
        match self.sess.eng.streams.get(self.sid) {
            Some(s) => self.req_input().len() + s.req.recv_room(),
            None => 0,
        }
    }

    /// The response bytes not yet forwarded.
    fn res_input(&self) -> &[u8] {
        match self.sess.eng.streams.get(self.sid) {
            Some(s) => &s.res.buf.data()[s.res.output.min(s.res.buf.len())..],
            None => &[],
        }
    }

    /// The request body in the buffer while the request head is analysed
    /// (its payload appended to `out` when given): its length in the
    /// buffer and its framing. `None` once the head has left.
    fn req_body(&self, out: Option<&mut Vec<u8>>) -> Option<(u64, BodyLen)> {
        self.req?;
        let s = self.sess.eng.streams.get(self.sid)?;
        let t = s.txn.as_ref()?;
        if t.req_head_len == 0 || t.req.state != MsgState::Head {
            return None;
        }
        let start = (s.req.output + t.req_head_len).min(s.req.buf.len());
        let raw = &s.req.buf.data()[start..];
        let (len, _) = body_in_buffer(t.req.body, raw, Side::Request, out);
        Some((len, t.req.body))
    }

    /// [`HttpCtx::req_body`] for the response while its rules run.
    fn res_body(&self, out: Option<&mut Vec<u8>>) -> Option<(u64, BodyLen)> {
        self.res?;
        let s = self.sess.eng.streams.get(self.sid)?;
        let t = s.txn.as_ref()?;
        if t.res_head_len == 0 || t.rsp.state != MsgState::Head {
            return None;
        }
        let start = (s.res.output + t.res_head_len).min(s.res.buf.len());
        let raw = &s.res.buf.data()[start..];
        let (len, _) = body_in_buffer(t.rsp.body, raw, Side::Response, out);
        Some((len, t.rsp.body))
    }

    /// The cookies of the request (`Cookie`, every `name=value`) or of
    /// the response (the first `name=value` of each `Set-Cookie`), in
    /// order (HAProxy's `smp_fetch_cookie` walk).
    fn cookie_pairs(&self, dir: Dir) -> Vec<(Vec<u8>, Vec<u8>)> {
        let res = dir == Dir::Res;
        let field: &[u8] = if res { b"set-cookie" } else { b"cookie" };
        let Some(h) = self.headers(if dir == Dir::Any { Dir::Req } else { dir }) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for v in h.get_all(field) {
            for kv in v
                .split(|&b| b == b';')
                .take(if res { 1 } else { usize::MAX })
            {
                let kv = trim(kv);
                if let Some(eq) = kv.iter().position(|&b| b == b'=') {
                    out.push((kv[..eq].to_vec(), kv[eq + 1..].to_vec()));
                }
            }
        }
        out
    }

    fn headers(&self, dir: Dir) -> Option<&'a Headers> {
        match dir {
            Dir::Req => self.req.map(|h| &h.headers),
            Dir::Res => self.res.map(|h| &h.headers),
            // The message being processed: the response once there is one.
            Dir::Any => self
                .res
                .map(|h| &h.headers)
                .or(self.req.map(|h| &h.headers)),
        }
    }

    /// Values of header `name` (comma-split unless `full`), in order.
    fn header_values(&self, dir: Dir, name: &str, full: bool, out: &mut Vec<Vec<u8>>) {
        let Some(h) = self.headers(dir) else { return };
        for v in h.get_all(name.as_bytes()) {
            if full {
                // HAProxy's `http_find_header` trims the value's leading
                // and trailing blanks (a value set by a rule may end
                // with one).
                out.push(trim(v).to_vec());
            } else {
                for part in split_list(v) {
                    out.push(part.to_vec());
                }
            }
        }
    }
}

/// HAProxy's `smp_fetch_body_param`: the value of the first parameter of
/// an url-encoded body (`a=1&b=2`) named `name` (any name when `None`;
/// case-insensitively with `i`), as it is written (not decoded).
fn body_param(body: &[u8], name: Option<&str>, icase: bool) -> Option<Vec<u8>> {
    let name = name.filter(|n| !n.is_empty());
    body.split(|&b| b == b'&').find_map(|kv| {
        let eq = kv.iter().position(|&b| b == b'=');
        let (k, v) = match eq {
            Some(i) => (&kv[..i], &kv[i + 1..]),
            None => (kv, &kv[kv.len()..]),
        };
        let hit = match name {
            None => !k.is_empty(),
            Some(n) if icase => k.eq_ignore_ascii_case(n.as_bytes()),
            Some(n) => k == n.as_bytes(),
        };
        hit.then(|| v.to_vec())
    })
}

/// Splits a comma-separated field value, trimming spaces.
fn split_list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim)
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The path of a request target: origin-form as is; absolute-form
/// without scheme and authority; without the query string.
pub fn uri_path(uri: &str) -> &str {
    let mut p = uri;
    if let Some(i) = p.find("://") {
        p = &p[i + 3..];
        p = p.find('/').map_or("/", |j| &p[j..]);
    }
    p.split('?').next().unwrap_or(p)
}

fn uri_query(uri: &str) -> Option<&str> {
    uri.split_once('?').map(|(_, q)| q)
}

/// HAProxy's `strl2ic`: the leading decimal integer, optionally signed
/// (0 when there is none).
fn leading_int(v: &[u8]) -> i64 {
    let (neg, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let mut n: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Picks occurrence `occ` (1-based, negative from the end, 0 = last) of values.
fn pick(values: Vec<Vec<u8>>, occ: Option<i64>) -> Option<Vec<u8>> {
    let n = values.len() as i64;
    let i = match occ {
        None | Some(0) => n - 1,
        Some(k) if k > 0 => k - 1,
        Some(k) => n + k,
    };
    if i < 0 || i >= n {
        return None;
    }
    values.into_iter().nth(i as usize)
}

impl HttpCtx<'_> {
    /// The userlist (index) named by `f`'s argument and the user of the
    /// request's valid `Authorization: Basic` credentials (HAProxy's
    /// `get_http_auth` then `check_user`).
    fn auth_user(&self, f: &Fetch) -> Option<(usize, String)> {
        let name = f.str_arg(0)?;
        let ul = self
            .sess
            .eng
            .userlists
            .iter()
            .position(|u| u.name == name)?;
        let v = self.req?.headers.get("authorization")?;
        let (user, pass) = crate::auth::parse_basic(v)?;
        self.sess.eng.userlists[ul]
            .check(&user, &pass)
            .then_some((ul, user))
    }
}

impl SampleCtx for HttpCtx<'_> {
    fn set_var(
        &mut self,
        var: &crate::sample::VarName,
        v: Option<Sample>,
        cond: crate::sample::VarCond,
    ) -> bool {
        let (sess, sid) = (self.sess.sess, Some(self.sid));
        match v {
            Some(v) => self.sess.eng.var_set_cond(sess, sid, var, v, cond),
            None => {
                self.sess.eng.var_set(sess, sid, var, None);
                true
            }
        }
    }

    fn fetch(&mut self, f: &Fetch) -> Option<Sample> {
        let req = self.req;
        match &f.kind {
            FetchKind::Method => req.map(|h| Sample::str(h.method.as_str())),
            FetchKind::HttpAuth => Some(Sample::Bool(self.auth_user(f).is_some())),
            FetchKind::HttpAuthGroup => self.auth_user(f).map(|(_, u)| Sample::str(u)),
            FetchKind::Path => req.map(|h| Sample::str(uri_path(&h.uri))),
            FetchKind::PathQ => req.map(|h| {
                let p = uri_path(&h.uri);
                match uri_query(&h.uri) {
                    Some(q) => Sample::str(format!("{p}?{q}")),
                    None => Sample::str(p),
                }
            }),
            FetchKind::Url => req.map(|h| Sample::str(&h.uri)),
            FetchKind::Query => req.and_then(|h| uri_query(&h.uri)).map(Sample::str),
            FetchKind::Base => req.map(|h| {
                let host = h
                    .headers
                    .get("host")
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                Sample::str(format!("{host}{}", uri_path(&h.uri)))
            }),
            FetchKind::UrlParam => {
                let name = f.str_arg(0)?;
                let q = req.and_then(|h| uri_query(&h.uri))?;
                q.split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k == name).then(|| Sample::str(v))
                })
            }
            // A stream of the H2 mux carries HTTP/1.1 in its channels; its
            // version is HTTP/2's (HAProxy's HTX start line says 2.0).
            FetchKind::ReqVer => req.map(|h| match self.h2_side(false) {
                true => Sample::str("2.0"),
                false => Sample::str(&h.version.as_str()[5..]),
            }),
            FetchKind::ResVer => self.res.map(|h| match self.h2_side(true) {
                true => Sample::str("2.0"),
                false => Sample::str(&h.version.as_str()[5..]),
            }),
            FetchKind::Status => self.res.map(|h| Sample::Int(i64::from(h.status))),
            // HAProxy's `smp_fetch_res_comp(_algo)`: the stream's state,
            // whatever the response head.
            FetchKind::ResComp => Some(Sample::Bool(self.res_comp().is_some())),
            FetchKind::ResCompAlgo => self.res_comp().map(|a| Sample::str(a.cfg_name())),
            FetchKind::Hdr { dir, full } => {
                let mut v = Vec::new();
                self.header_values(*dir, f.str_arg(0)?, *full, &mut v);
                pick(v, f.int_arg(1)).map(Sample::Str)
            }
            FetchKind::HdrCnt { dir, full } => {
                let mut v = Vec::new();
                match f.str_arg(0) {
                    Some(name) => self.header_values(*dir, name, *full, &mut v),
                    None => return self.headers(*dir).map(|h| Sample::Int(h.len() as i64)),
                }
                Some(Sample::Int(v.len() as i64))
            }
            FetchKind::HdrVal { dir } => {
                let mut v = Vec::new();
                self.header_values(*dir, f.str_arg(0)?, false, &mut v);
                let v = pick(v, f.int_arg(1))?;
                Some(Sample::Int(crate::sample::read_int64(&v).0))
            }
            FetchKind::HdrIp { dir } => {
                let mut v = Vec::new();
                self.header_values(*dir, f.str_arg(0)?, false, &mut v);
                let v = pick(v, f.int_arg(1))?;
                core::str::from_utf8(&v).ok()?.parse().ok().map(Sample::Ip)
            }
            FetchKind::Cook { dir } => {
                let name = f.str_arg(0).unwrap_or("").as_bytes();
                self.cookie_pairs(*dir)
                    .into_iter()
                    .find(|(n, _)| name.is_empty() || n == name)
                    .map(|(_, v)| Sample::Str(v))
            }
            FetchKind::CookCnt { dir } => {
                let name = f.str_arg(0).unwrap_or("").as_bytes();
                let n = self
                    .cookie_pairs(*dir)
                    .iter()
                    .filter(|(n, _)| name.is_empty() || n == name)
                    .count();
                Some(Sample::Int(n as i64))
            }
            FetchKind::CookVal { dir } => {
                let name = f.str_arg(0).unwrap_or("").as_bytes();
                let (_, v) = self
                    .cookie_pairs(*dir)
                    .into_iter()
                    .find(|(n, _)| name.is_empty() || n == name)?;
                Some(Sample::Int(leading_int(&v)))
            }
            FetchKind::Var => {
                let var = f.var()?;
                self.sess
                    .eng
                    .var_get(self.sess.sess, Some(self.sid), var)
                    .or_else(|| crate::vars::var_default(f))
            }
            FetchKind::ReqLen => Some(Sample::Int(match self.req {
                Some(head) => self.req_htx_len(head) as i64,
                None => self.req_input().len() as i64,
            })),
            FetchKind::ResLen => Some(Sample::Int(self.res_input().len() as i64)),
            FetchKind::ReqPayload | FetchKind::ResPayload => {
                let input = if f.kind == FetchKind::ReqPayload {
                    self.req_input()
                } else {
                    self.res_input()
                };
                let off = usize::try_from(f.int_arg(0)?).ok()?;
                let len = usize::try_from(f.int_arg(1)?).ok()?;
                let end = if len == 0 {
                    input.len()
                } else {
                    off.checked_add(len)?
                };
                (end <= input.len() && off <= end).then(|| Sample::Bin(input[off..end].to_vec()))
            }
            FetchKind::ReqSslSni => match tls_sni(self.req_input()) {
                Sni::Name(n) => Some(Sample::Str(n)),
                Sni::Incomplete | Sni::None => None,
            },
            FetchKind::ReqSslHelloType | FetchKind::ResSslHelloType => {
                let input = if f.kind == FetchKind::ReqSslHelloType {
                    self.req_input()
                } else {
                    self.res_input()
                };
                match tls_hello_type(input) {
                    Hello::Found(t) => Some(Sample::Int(t)),
                    Hello::Incomplete | Hello::None => None,
                }
            }
            FetchKind::ReqSslVer => match tls_req_ver(self.req_input(), self.req_limit()) {
                Hello::Found(v) => Some(Sample::Int(v)),
                Hello::Incomplete | Hello::None => None,
            },
            FetchKind::ReqSslAlpn => match tls_alpn(self.req_input()) {
                Hello::Found(names) => names.into_iter().next().map(Sample::Str),
                Hello::Incomplete | Hello::None => None,
            },
            FetchKind::ReqProtoHttp => {
                if self.req.is_some() {
                    return Some(Sample::Bool(true));
                }
                let opts = crate::http::h1::ParseOptions::default();
                Some(Sample::Bool(matches!(
                    crate::http::h1::parse_request(self.req_input(), &opts),
                    Ok(crate::http::h1::Status::Complete(_))
                )))
            }
            FetchKind::WaitEnd => (!self.partial).then_some(Sample::Bool(true)),
            FetchKind::ReqBody => {
                let mut v = Vec::new();
                self.req_body(Some(&mut v))?;
                Some(Sample::Bin(v))
            }
            FetchKind::ReqBodyLen => self.req_body(None).map(|(n, _)| Sample::Int(n as i64)),
            FetchKind::ReqBodySize => self.req_body(None).map(|(n, b)| match b {
                BodyLen::Length(cl) => Sample::Int(cl as i64),
                _ => Sample::Int(n as i64),
            }),
            FetchKind::ResBody => {
                let mut v = Vec::new();
                self.res_body(Some(&mut v))?;
                Some(Sample::Bin(v))
            }
            FetchKind::ResBodyLen => self.res_body(None).map(|(n, _)| Sample::Int(n as i64)),
            FetchKind::ResBodySize => self.res_body(None).map(|(n, b)| match b {
                BodyLen::Length(cl) => Sample::Int(cl as i64),
                _ => Sample::Int(n as i64),
            }),
            FetchKind::ReqBodyParam => {
                let mut v = Vec::new();
                self.req_body(Some(&mut v))?;
                body_param(&v, f.str_arg(0), f.str_arg(1) == Some("i")).map(Sample::Bin)
            }
            FetchKind::LastRuleFile | FetchKind::LastRuleLine => {
                let s = self.sess.eng.streams.get(self.sid)?;
                let (file, line) = s.logx.as_ref()?.last_rule.as_ref()?;
                Some(match f.kind {
                    FetchKind::LastRuleFile => Sample::str(file.as_str()),
                    _ => Sample::Int(i64::from(*line)),
                })
            }
            FetchKind::UniqueId => {
                let (now, sid) = (self.sess.now, self.sid);
                self.sess.eng.unique_id(now, sid).map(Sample::str)
            }
            FetchKind::CaptureHdr { dir } => {
                let idx = usize::try_from(f.int_arg(0)?).ok()?;
                let logx = self.sess.eng.streams.get(self.sid)?.logx.as_ref()?;
                let caps = if *dir == Dir::Res {
                    &logx.res_cap
                } else {
                    &logx.req_cap
                };
                caps.get(idx)?.as_ref().map(|v| Sample::Str(v.clone()))
            }
            FetchKind::SslBc(what) => {
                let eng = &self.sess.eng;
                let c = eng.streams.get(self.sid)?.scb.sedesc.conn?;
                let c = eng.conns.get(c)?;
                if *what == SslBcFetch::Used {
                    return Some(Sample::Bool(c.xprt.is_tls()));
                }
                let t = c.xprt.tls()?;
                match what {
                    SslBcFetch::Alpn => t.alpn().map(Sample::str),
                    SslBcFetch::Protocol => t.version_name().map(Sample::str),
                    SslBcFetch::Cipher => t.cipher_name().map(Sample::str),
                    SslBcFetch::SCert(part) => crate::fetch::cert_part(f, *part, t.server_chain()?),
                    _ => t
                        .server_cert()
                        .map(|c| Sample::Bin(crate::conn::x509::sha1(c).to_vec())),
                }
            }
            FetchKind::Timeout(which) => {
                let eng = &self.sess.eng;
                let s = eng.streams.get(self.sid)?;
                let (fe, be) = (&eng.proxies[s.fe].timeouts, &eng.proxies[s.be].timeouts);
                let ms = match which {
                    TimeoutFetch::BeServer => be.server_ms,
                    TimeoutFetch::BeTunnel => be.tunnel_ms,
                    TimeoutFetch::FeClient => fe.client_ms,
                    TimeoutFetch::CurServer => s.timeout_server.or(be.server_ms),
                    TimeoutFetch::CurTunnel => s.timeout_tunnel,
                };
                Some(Sample::Int(i64::from(ms.unwrap_or(0))))
            }
            FetchKind::CaptureReqLine(part) => {
                let t = self.sess.eng.streams.get(self.sid)?.txn.as_ref()?;
                let mut words = t.request_line.splitn(3, ' ');
                let w = match part {
                    ReqLinePart::Method => words.next(),
                    ReqLinePart::Uri => words.nth(1),
                    ReqLinePart::Ver => words.nth(2),
                };
                w.filter(|w| !w.is_empty()).map(Sample::str)
            }
            FetchKind::BeName => Some(Sample::str(
                &self.sess.eng.proxies[self.sess.eng.streams.get(self.sid)?.be].name,
            )),
            FetchKind::SrvId | FetchKind::SrvName => {
                let eng = &self.sess.eng;
                let s = eng.streams.get(self.sid)?;
                let srv = &eng.backend(s.be)?.servers[s.srv?.pos()];
                Some(match f.kind {
                    FetchKind::SrvId => Sample::Int(i64::from(srv.cfg.puid)),
                    _ => Sample::str(&srv.cfg.name),
                })
            }
            FetchKind::HttpFirstReq => {
                let s = self.sess.eng.streams.get(self.sid)?;
                let t = s.txn.as_ref()?;
                Some(Sample::Bool(
                    !t.flags
                        .contains(crate::http::ana::TxnFlags::KEEP_ALIVE_WAIT),
                ))
            }
            FetchKind::Src | FetchKind::SrcPort | FetchKind::Dst | FetchKind::DstPort => {
                let eng = &*self.sess.eng;
                let s = eng.streams.get(self.sid)?;
                let a = match f.kind {
                    FetchKind::Src | FetchKind::SrcPort => eng.strm_src(s),
                    _ => eng.strm_dst(s),
                }?;
                Some(match f.kind {
                    FetchKind::Src | FetchKind::Dst => Sample::Ip(a.ip()),
                    _ => Sample::Int(i64::from(a.port())),
                })
            }
            _ => self.sess.fetch(f),
        }
    }

    fn table_conv(
        &mut self,
        table: &crate::sample::TableRef,
        key: Sample,
        what: crate::sample::TableConv,
        idx: usize,
    ) -> Option<Sample> {
        self.sess.table_conv_impl(table, key, what, idx)
    }

    fn fetch_all(&mut self, f: &Fetch, out: &mut Vec<Sample>) {
        match &f.kind {
            FetchKind::HttpAuthGroup => {
                if let Some((ul, user)) = self.auth_user(f) {
                    let ul = &self.sess.eng.userlists[ul];
                    out.extend(ul.groups_of(&user).map(Sample::str));
                }
            }
            FetchKind::Hdr { dir, full } if f.int_arg(1).is_none() => {
                let Some(name) = f.str_arg(0) else { return };
                let mut v = Vec::new();
                self.header_values(*dir, name, *full, &mut v);
                out.extend(v.into_iter().map(Sample::Str));
            }
            FetchKind::ReqSslAlpn => {
                if let Hello::Found(names) = tls_alpn(self.req_input()) {
                    out.extend(names.into_iter().map(Sample::Str));
                }
            }
            _ => out.extend(self.fetch(f)),
        }
    }

    /// Content fetches may still change while `tcp-request inspect-delay`
    /// runs and the buffer can grow.
    /// (HAProxy's `SMP_F_MAY_CHANGE`: `req.len` and `wait_end` until the
    /// end; `req.payload` while its bytes are missing; `req.ssl_sni` and
    /// `req.proto_http` while the message is incomplete.)
    fn patterns(&self) -> Option<&crate::pattern::PatStore> {
        self.sess.patterns()
    }

    fn may_change(&mut self, f: &Fetch) -> bool {
        if !self.partial {
            return false;
        }
        match f.kind {
            FetchKind::ReqLen | FetchKind::ResLen | FetchKind::WaitEnd => true,
            FetchKind::ReqPayload | FetchKind::ResPayload => {
                let (off, len) = (f.int_arg(0).unwrap_or(0), f.int_arg(1).unwrap_or(0));
                let have = if f.kind == FetchKind::ReqPayload {
                    self.req_input().len() as i64
                } else {
                    self.res_input().len() as i64
                };
                len == 0 || have < off.saturating_add(len)
            }
            FetchKind::ReqSslSni => tls_sni(self.req_input()) == Sni::Incomplete,
            FetchKind::ReqSslHelloType => tls_hello_type(self.req_input()) == Hello::Incomplete,
            FetchKind::ResSslHelloType => tls_hello_type(self.res_input()) == Hello::Incomplete,
            FetchKind::ReqSslVer => {
                tls_req_ver(self.req_input(), self.req_limit()) == Hello::Incomplete
            }
            FetchKind::ReqSslAlpn => tls_alpn(self.req_input()) == Hello::Incomplete,
            // An HTTP fetch on a TCP stream whose request head is not
            // complete yet.
            _ if self.req.is_none()
                && matches!(
                    f.layer(),
                    crate::sample::Layer::HttpReq | crate::sample::Layer::HttpAny
                ) =>
            {
                true
            }
            FetchKind::ReqProtoHttp => {
                self.req.is_none()
                    && matches!(
                        crate::http::h1::parse_request(
                            self.req_input(),
                            &crate::http::h1::ParseOptions::default()
                        ),
                        Ok(crate::http::h1::Status::Partial)
                    )
            }
            _ => false,
        }
    }
}

/// What a TLS ClientHello at the start of a buffer says about SNI.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sni {
    /// The `host_name` of the `server_name` extension.
    Name(Vec<u8>),
    /// A ClientHello whose end has not arrived.
    Incomplete,
    /// Not a ClientHello, or one without SNI.
    None,
}

/// What a TLS message at the start of a buffer says about one field.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hello<T> {
    /// The field.
    Found(T),
    /// The message's end has not arrived (HAProxy's `SMP_F_MAY_CHANGE`).
    Incomplete,
    /// Not such a message, or one without the field.
    None,
}

/// The data of extension `want` of a TLS ClientHello (HAProxy's
/// `smp_fetch_ssl_hello_sni` walk): one handshake record, `client_hello`,
/// its extensions walked to type `want`.
fn hello_ext(b: &[u8], want: usize) -> Hello<&[u8]> {
    fn be16(b: &[u8], at: usize) -> Option<usize> {
        Some(usize::from(*b.get(at)?) << 8 | usize::from(*b.get(at + 1)?))
    }
    if b.len() < 5 {
        return if b.is_empty() || b[0] == 0x16 {
            Hello::Incomplete
        } else {
            Hello::None
        };
    }
    if b[0] != 0x16 || b[1] != 3 {
        return Hello::None;
    }
    let Some(rec_len) = be16(b, 3) else {
        return Hello::Incomplete;
    };
    let rec = match b.get(5..5 + rec_len) {
        Some(r) => r,
        None => return Hello::Incomplete,
    };
    // Handshake header: type (1 = client_hello), 24-bit length.
    if rec.len() < 4 || rec[0] != 1 {
        return Hello::None;
    }
    let walk = || -> Option<&[u8]> {
        // version (2), random (32), session id.
        let mut at = 4 + 2 + 32;
        at += 1 + usize::from(*rec.get(at)?);
        at += 2 + be16(rec, at)?; // cipher suites
        at += 1 + usize::from(*rec.get(at)?); // compression methods
        let ext_end = (at + 2 + be16(rec, at)?).min(rec.len());
        at += 2;
        while at + 4 <= ext_end {
            let (ty, len) = (be16(rec, at)?, be16(rec, at + 2)?);
            at += 4;
            if ty == want {
                return rec.get(at..at + len);
            }
            at += len;
        }
        None
    };
    walk().map_or(Hello::None, Hello::Found)
}

/// The SNI of a TLS ClientHello (HAProxy's `smp_fetch_ssl_hello_sni`):
/// the `server_name` extension (type 0) and its first `host_name` entry.
pub(crate) fn tls_sni(b: &[u8]) -> Sni {
    let list = match hello_ext(b, 0) {
        Hello::Found(l) => l,
        Hello::Incomplete => return Sni::Incomplete,
        Hello::None => return Sni::None,
    };
    // server_name_list: length, then (type, length, name)...
    let mut i = 2;
    while i + 3 <= list.len() {
        let n = usize::from(list[i + 1]) << 8 | usize::from(list[i + 2]);
        if list[i] == 0 {
            return list
                .get(i + 3..i + 3 + n)
                .map_or(Sni::None, |n| Sni::Name(n.to_vec()));
        }
        i += 3 + n;
    }
    Sni::None
}

/// The ALPN protocol names of a TLS ClientHello, in order (HAProxy's
/// `smp_fetch_ssl_hello_alpn`): the extension (type 16) must hold at least
/// a list length and one name length; the names follow the list length,
/// and a name running past the extension ends the list (gives nothing when
/// it is the first).
pub(crate) fn tls_alpn(b: &[u8]) -> Hello<Vec<Vec<u8>>> {
    let ext = match hello_ext(b, 16) {
        Hello::Found(e) => e,
        Hello::Incomplete => return Hello::Incomplete,
        Hello::None => return Hello::None,
    };
    if ext.len() < 3 {
        return Hello::None;
    }
    let mut names = Vec::new();
    let mut at = 2;
    while let Some(&n) = ext.get(at) {
        match ext.get(at + 1..at + 1 + usize::from(n)) {
            Some(name) => names.push(name.to_vec()),
            None => break,
        }
        at += 1 + usize::from(n);
    }
    if names.is_empty() {
        Hello::None
    } else {
        Hello::Found(names)
    }
}

/// The handshake message type of a TLS record at the start of a buffer
/// (HAProxy's `smp_fetch_ssl_hello_type`): a record of any SSLv3+ content
/// type whose length holds a handshake header; the whole handshake
/// message must be there.
pub(crate) fn tls_hello_type(b: &[u8]) -> Hello<i64> {
    let Some(&first) = b.first() else {
        return Hello::Incomplete;
    };
    if !(0x14..=0x17).contains(&first) && first != 0xff {
        return Hello::None;
    }
    if b.len() < 9 {
        return Hello::Incomplete;
    }
    if b[1] < 3 || (usize::from(b[3]) << 8 | usize::from(b[4])) < 4 {
        return Hello::None;
    }
    let hs_len = usize::from(b[6]) << 16 | usize::from(b[7]) << 8 | usize::from(b[8]);
    if b.len() < 9 + hs_len {
        return Hello::Incomplete;
    }
    Hello::Found(i64::from(b[5]))
}

/// The protocol version a client hello at the start of a buffer asks for
/// (HAProxy's `smp_fetch_req_ssl_ver`): `major << 16 | minor` of the
/// ClientHello (not the record) in the SSLv3 format, or of an SSLv2
/// CLIENT-HELLO. The message must be all there, or fill `limit` bytes
/// (what the buffer can hold).
pub(crate) fn tls_req_ver(b: &[u8], limit: usize) -> Hello<i64> {
    fn be16(b: &[u8], at: usize) -> usize {
        usize::from(b[at]) << 8 | usize::from(b[at + 1])
    }
    let Some(&first) = b.first() else {
        return Hello::Incomplete;
    };
    let (version, msg_len, left) = if (0x14..=0x17).contains(&first) || first == 0xff {
        if b.len() < 11 {
            return Hello::Incomplete;
        }
        let msg_len = be16(b, 3);
        if b[1] < 3 || !(6..=(1 << 14) + 2048).contains(&msg_len) {
            return Hello::None;
        }
        (
            i64::from(b[9]) << 16 | i64::from(b[10]),
            msg_len,
            b.len() - 5,
        )
    } else {
        // SSLv2: a 2-byte (high bit set) or 3-byte (with padding) header.
        let (rlen, plen, hdr) = if first & 0x80 != 0 {
            if b.len() < 3 {
                return Hello::Incomplete;
            }
            (usize::from(first & 0x7f) << 8 | usize::from(b[1]), 0, 2)
        } else {
            if b.len() < 4 {
                return Hello::Incomplete;
            }
            (
                usize::from(first & 0x3f) << 8 | usize::from(b[1]),
                usize::from(b[2]),
                3,
            )
        };
        if b[hdr] != 1 {
            return Hello::None;
        }
        let d = &b[hdr + 1..];
        if d.len() < 8 {
            return Hello::Incomplete;
        }
        let (cilen, silen, chlen) = (be16(d, 2), be16(d, 4), be16(d, 6));
        if cilen % 3 != 0
            || (silen != 0 && silen != 16)
            || !(16..=32).contains(&chlen)
            || rlen != 9 + cilen + silen + chlen
        {
            return Hello::None;
        }
        (
            i64::from(d[0]) << 16 | i64::from(d[1]),
            cilen + silen + chlen + plen,
            d.len() - 8,
        )
    };
    if left < msg_len.min(limit) {
        return Hello::Incomplete;
    }
    Hello::Found(version)
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_param_as_haproxy() {
        let b = b"a=1&Key=v2&k=3&empty=&flag";
        assert_eq!(body_param(b, Some("k"), false), Some(b"3".to_vec()));
        assert_eq!(body_param(b, Some("key"), false), None);
        assert_eq!(body_param(b, Some("key"), true), Some(b"v2".to_vec()));
        assert_eq!(body_param(b, Some("empty"), false), Some(Vec::new()));
        assert_eq!(body_param(b, Some("flag"), false), Some(Vec::new()));
        // No name: the first parameter.
        assert_eq!(body_param(b, None, false), Some(b"1".to_vec()));
        assert_eq!(body_param(b"", None, false), None);
    }

    #[test]
    fn body_in_buffer_reads_payload_without_framing() {
        use crate::http::ana::body_in_buffer;
        let mut out = Vec::new();
        let raw = b"4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
        let r = body_in_buffer(BodyLen::Chunked, raw, Side::Request, Some(&mut out));
        assert_eq!((r, &out[..]), ((7, true), &b"abcdefg"[..]));
        // Cut in the middle of the second chunk: what is there, not over.
        out.clear();
        let r = body_in_buffer(BodyLen::Chunked, &raw[..13], Side::Request, Some(&mut out));
        assert_eq!((r, &out[..]), ((5, false), &b"abcde"[..]));
        let r = body_in_buffer(BodyLen::Length(10), b"12345", Side::Request, None);
        assert_eq!(r, (5, false));
        // Bytes past the announced length belong to the next request.
        let r = body_in_buffer(BodyLen::Length(3), b"12345", Side::Request, None);
        assert_eq!(r, (3, true));
        assert_eq!(
            body_in_buffer(BodyLen::None, b"x", Side::Request, None),
            (0, true)
        );
    }

    use super::*;

    #[test]
    fn path_of_each_target_form() {
        assert_eq!(uri_path("/a/b?x=1"), "/a/b");
        assert_eq!(uri_path("http://h.example:80/p?q"), "/p");
        assert_eq!(uri_path("http://h.example"), "/");
        assert_eq!(uri_path("*"), "*");
        assert_eq!(uri_query("/a?x=1&y"), Some("x=1&y"));
    }

    /// A ClientHello for `example.com` (record, handshake, extensions).
    fn client_hello(sni: &[u8]) -> Vec<u8> {
        hello_with_ext(&sni_ext(sni))
    }

    /// A `server_name` extension (header included) naming `sni`.
    fn sni_ext(sni: &[u8]) -> Vec<u8> {
        let mut ext = Vec::new();
        let entry_len = 3 + sni.len();
        let list_len = entry_len;
        ext.extend_from_slice(&[0, 0]); // server_name
        ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list_len as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        ext.extend_from_slice(sni);
        ext
    }

    /// A TLS 1.2 ClientHello record whose extensions are `ext`.
    fn hello_with_ext(ext: &[u8]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(ext);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn sni_of_a_client_hello() {
        let ch = client_hello(b"example.com");
        assert_eq!(tls_sni(&ch), Sni::Name(b"example.com".to_vec()));
        for cut in [0, 3, 10, ch.len() - 1] {
            assert_eq!(tls_sni(&ch[..cut]), Sni::Incomplete, "{cut}");
        }
        assert_eq!(tls_sni(b"GET / HTTP/1.1\r\n\r\n"), Sni::None);
        let mut bad = ch.clone();
        bad[5] = 2; // not a client_hello
        assert_eq!(tls_sni(&bad), Sni::None);
        // Never panics on garbage.
        for n in 0..ch.len() {
            let mut g = ch.clone();
            g[n] = 0xff;
            let _ = tls_sni(&g);
        }
    }

    /// An `application_layer_protocol_negotiation` extension.
    fn alpn_ext(names: &[&[u8]]) -> Vec<u8> {
        let list: Vec<u8> = names
            .iter()
            .flat_map(|n| std::iter::once(n.len() as u8).chain(n.iter().copied()))
            .collect();
        let mut ext = vec![0, 16];
        ext.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list.len() as u16).to_be_bytes());
        ext.extend_from_slice(&list);
        ext
    }

    #[test]
    fn alpn_of_a_client_hello() {
        let mut exts = sni_ext(b"a.example");
        exts.extend(alpn_ext(&[b"h2", b"http/1.1"]));
        let ch = hello_with_ext(&exts);
        assert_eq!(
            tls_alpn(&ch),
            Hello::Found(vec![b"h2".to_vec(), b"http/1.1".to_vec()])
        );
        assert_eq!(tls_sni(&ch), Sni::Name(b"a.example".to_vec()));
        assert_eq!(tls_alpn(&ch[..ch.len() - 1]), Hello::Incomplete);
        // No ALPN extension; an extension too short for one name.
        assert_eq!(tls_alpn(&client_hello(b"x")), Hello::None);
        assert_eq!(tls_alpn(&hello_with_ext(&[0, 16, 0, 2, 0, 0])), Hello::None);
        // A name running past the extension ends the list.
        let mut cut = alpn_ext(&[b"h2", b"http/1.1"]);
        cut[3] -= 1;
        cut.pop();
        assert_eq!(
            tls_alpn(&hello_with_ext(&cut)),
            Hello::Found(vec![b"h2".to_vec()])
        );
        for n in 0..ch.len() {
            let mut g = ch.clone();
            g[n] = 0xff;
            let _ = tls_alpn(&g);
        }
    }

    #[test]
    fn hello_type_and_version() {
        let ch = client_hello(b"example.com");
        assert_eq!(tls_hello_type(&ch), Hello::Found(1));
        // The client hello's version (3,3), not the record's (3,1).
        assert_eq!(tls_req_ver(&ch, 16384), Hello::Found(0x30003));
        for cut in [0, 4, 8, ch.len() - 1] {
            assert_eq!(tls_hello_type(&ch[..cut]), Hello::Incomplete, "{cut}");
            assert_eq!(tls_req_ver(&ch[..cut], 16384), Hello::Incomplete, "{cut}");
        }
        // A message bigger than the buffer can hold: its head is enough.
        assert_eq!(tls_req_ver(&ch[..ch.len() - 1], 20), Hello::Found(0x30003));
        // A ServerHello is handshake type 2; an alert record is not one.
        let mut sh = ch.clone();
        sh[5] = 2;
        assert_eq!(tls_hello_type(&sh), Hello::Found(2));
        assert_eq!(
            tls_hello_type(&[0x15, 3, 3, 0, 2, 2, 40, 0, 0]),
            Hello::None
        );
        assert_eq!(tls_hello_type(b"GET / HTTP/1.0\r\n"), Hello::None);
        assert_eq!(tls_req_ver(b"GET / HTTP/1.0\r\n", 16384), Hello::None);
        // SSLv2 CLIENT-HELLO (short header) asking for SSLv3 (3,0): 3
        // ciphers of 3 bytes, no session id, a 16-byte challenge.
        let mut v2 = vec![0x80, 9 + 3 + 16, 1, 3, 0, 0, 3, 0, 0, 0, 16];
        v2.extend_from_slice(&[0; 3 + 16]);
        assert_eq!(tls_req_ver(&v2, 16384), Hello::Found(0x30000));
        assert_eq!(tls_req_ver(&v2[..v2.len() - 1], 16384), Hello::Incomplete);
        v2[1] += 1; // record length disagrees with the parts
        assert_eq!(tls_req_ver(&v2, 16384), Hello::None);
        for n in 0..ch.len() {
            let mut g = ch.clone();
            g[n] = 0;
            let _ = (tls_hello_type(&g), tls_req_ver(&g, 16384));
        }
        for n in 0..24 {
            let _ = tls_req_ver(&v2[..n], 0);
        }
    }

    #[test]
    fn occurrences() {
        let v = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        assert_eq!(pick(v.clone(), None), Some(b"c".to_vec()));
        assert_eq!(pick(v.clone(), Some(1)), Some(b"a".to_vec()));
        assert_eq!(pick(v.clone(), Some(-2)), Some(b"b".to_vec()));
        assert_eq!(pick(v, Some(4)), None);
    }
}
