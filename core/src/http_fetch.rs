//! HTTP sample fetches: `path`, `method`, `hdr(name)`, `url_param`,
//! `status`... (HAProxy's `http_fetch.c`), on top of the session fetches.
//!
//! [`HttpCtx`] reads the request head being analysed (or the response
//! head) and the transaction's variables; everything else (addresses,
//! stick counters, tables) is the session context's.

use crate::arena::Id;
use crate::engine::Engine;
use crate::fetch::SessCtx;
use crate::h1::{Headers, ReqHead, ResHead};
use crate::sample::{Dir, Fetch, FetchKind, Sample, SampleCtx, VarScope};
use crate::stream::Stream;
use crate::time::Time;

/// The sample context of HTTP rules.
pub struct HttpCtx<'a> {
    pub sess: SessCtx<'a>,
    pub sid: Id<Stream>,
    pub req: Option<&'a ReqHead>,
    pub res: Option<&'a ResHead>,
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
        }
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
                out.push(v.to_vec());
            } else {
                for part in split_list(v) {
                    out.push(part.to_vec());
                }
            }
        }
    }
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

impl SampleCtx for HttpCtx<'_> {
    fn fetch(&mut self, f: &Fetch) -> Option<Sample> {
        let req = self.req;
        match &f.kind {
            FetchKind::Method => req.map(|h| Sample::str(h.method.as_str())),
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
            FetchKind::ReqVer => req.map(|h| Sample::str(&h.version.as_str()[5..])),
            FetchKind::ResVer => self.res.map(|h| Sample::str(&h.version.as_str()[5..])),
            FetchKind::Status => self.res.map(|h| Sample::Int(i64::from(h.status))),
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
                let name = f.str_arg(0)?.as_bytes();
                let field = if *dir == Dir::Res {
                    "set-cookie"
                } else {
                    "cookie"
                };
                let h = self.headers(if *dir == Dir::Any { Dir::Req } else { *dir })?;
                h.get_all(field.as_bytes())
                    .flat_map(|v| v.split(|&b| b == b';'))
                    .find_map(|kv| {
                        let kv = trim(kv);
                        let eq = kv.iter().position(|&b| b == b'=')?;
                        (&kv[..eq] == name).then(|| Sample::Str(kv[eq + 1..].to_vec()))
                    })
            }
            FetchKind::Var => {
                let var = f.var()?;
                match var.scope {
                    VarScope::Txn | VarScope::Req | VarScope::Res => self
                        .sess
                        .eng
                        .streams
                        .get(self.sid)?
                        .txn
                        .as_ref()?
                        .vars
                        .get(&var.name)
                        .cloned(),
                    _ => None,
                }
            }
            FetchKind::BeName => Some(Sample::str(
                &self.sess.eng.proxies[self.sess.eng.streams.get(self.sid)?.be].name,
            )),
            _ => self.sess.fetch(f),
        }
    }

    fn fetch_all(&mut self, f: &Fetch, out: &mut Vec<Sample>) {
        match &f.kind {
            FetchKind::Hdr { dir, full } if f.int_arg(1).is_none() => {
                let Some(name) = f.str_arg(0) else { return };
                let mut v = Vec::new();
                self.header_values(*dir, name, *full, &mut v);
                out.extend(v.into_iter().map(Sample::Str));
            }
            _ => out.extend(self.fetch(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_of_each_target_form() {
        assert_eq!(uri_path("/a/b?x=1"), "/a/b");
        assert_eq!(uri_path("http://h.example:80/p?q"), "/p");
        assert_eq!(uri_path("http://h.example"), "/");
        assert_eq!(uri_path("*"), "*");
        assert_eq!(uri_query("/a?x=1&y"), Some("x=1&y"));
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
