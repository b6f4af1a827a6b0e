//! Responses the proxy makes itself, and the pages that replace them:
//! HAProxy's `http_error_message()` (the backend's `errorfile` for the
//! status, else the frontend's, else the built-in page), and the
//! `monitor-uri` / `monitor fail` interception of `http_wait_for_request`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::arena::Id;
pub use crate::cfgparse::errors::ProxyError;
use crate::engine::Engine;
use crate::http::ana::TxnFlags;
use crate::http::h1::{self, BodyLen, ReqHead};
use crate::proxy::ProxyId;
use crate::stream::{ErrCode, FinSt, Stream};
use crate::time::Time;

/// The statuses HAProxy keeps a page for (`http_err_codes[]`): the ones
/// `errorfile` accepts.
pub const ERRORFILE_STATUSES: [u16; 19] = [
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// The page a monitor request gets when no `monitor fail` condition
/// matches (the sentence is Sluice's own).
const MONITOR_OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 60\r\ncache-control: no-cache\r\nconnection: close\r\ncontent-type: text/html\r\n\r\n<html><body><h1>200 OK</h1>\nThe proxy is up.\n</body></html>\n";

/// The built-in page for `status`: [`h1::error_response`], and the
/// monitor's 200.
pub fn builtin_page(status: u16) -> Option<&'static [u8]> {
    match status {
        200 => Some(MONITOR_OK),
        s => h1::error_response(s),
    }
}

/// The pages of one proxy that replace the built-in ones (`errorfile`,
/// `errorfiles`, `errorloc*`, `http-error`), by status: a complete raw
/// HTTP response sent as it is, or an `http-error` reply rendered when
/// sent.
#[derive(Clone, Debug, Default)]
pub struct ErrorPages {
    pub pages: BTreeMap<u16, ProxyError>,
}

impl ErrorPages {
    pub fn get(&self, status: u16) -> Option<&ProxyError> {
        self.pages.get(&status)
    }
}

/// `bytes` without its `connection: close` header line, for a reply after
/// which the connection stays open.
fn keep_alive_page(bytes: &[u8]) -> Cow<'_, [u8]> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Cow::Borrowed(bytes);
    };
    let head = &bytes[..end + 2];
    let needle = b"\r\nconnection: close\r\n";
    match head
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
    {
        Some(at) => {
            let mut out = Vec::with_capacity(bytes.len());
            out.extend_from_slice(&bytes[..at + 2]);
            out.extend_from_slice(&bytes[at + needle.len()..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(bytes),
    }
}

/// The path of a request URI with its query, as HAProxy's
/// `http_get_path()`: the URI itself in origin form, what follows the
/// authority in absolute form, nothing otherwise (`*`, authority form).
fn path_and_query(uri: &str) -> &str {
    if uri.starts_with('/') {
        return uri;
    }
    match uri.find("://") {
        Some(i) => {
            let rest = &uri[i + 3..];
            rest.find('/').map_or("", |j| &rest[j..])
        }
        None => "",
    }
}

impl Engine {
    /// The page answered for `status` on stream `sid`, as HAProxy's
    /// `http_error_message()`: the stream's backend's `errorfile` (the
    /// frontend itself before a backend is chosen), else the frontend's,
    /// else the built-in page.
    /// An `http-error` reply is rendered for the stream's request.
    pub(crate) fn error_page(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        status: u16,
    ) -> Cow<'static, [u8]> {
        let found = self.streams.get(sid).and_then(|s| {
            let of = |p: ProxyId| self.proxies[p].errors.get(status).cloned();
            of(s.be).or_else(|| of(s.fe))
        });
        match found {
            Some(ProxyError::Page(p)) => Cow::Owned(p.to_vec()),
            Some(ProxyError::Reply(r)) => Cow::Owned(self.render_error_reply(now, sid, &r)),
            None => Cow::Borrowed(
                builtin_page(status)
                    .or_else(|| h1::error_response(500))
                    .unwrap_or(b""),
            ),
        }
    }

    /// An `http-error` reply of the stream's proxies, rendered with the
    /// stream's request (HAProxy's `http_reply_to_htx` on the proxy's
    /// reply).
    fn render_error_reply(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        r: &crate::rules::Reply,
    ) -> Vec<u8> {
        let req = self.stream_req_head_take(sid);
        let out = {
            let mut ctx = crate::http::fetch::HttpCtx::new(self, now, sid, req.as_ref(), None);
            crate::http::act::render_reply(r, None, &mut ctx)
        };
        self.stream_req_head_restore(sid, req);
        out
    }

    /// The proxy page (`errorfile`, `http-error`) a `deny`, `tarpit` or
    /// `return` without a body of its own sends for its status, as
    /// HAProxy's `http_reply_message()` falls back on
    /// `http_error_message()`, or its own `errorfile`; `None` when no proxy
    /// of the stream has one (the built-in page then).
    pub(crate) fn reply_page(
        &self,
        sid: Id<Stream>,
        r: &crate::rules::Reply,
    ) -> Option<ProxyError> {
        if let crate::rules::ReplyBody::Message(m) = &r.body {
            return Some(ProxyError::Page(m.clone()));
        }
        let plain = r.body == crate::rules::ReplyBody::ErrorPage
            && r.hdrs.is_empty()
            && r.content_type.is_none();
        if !plain {
            return None;
        }
        let s = self.streams.get(sid)?;
        let of = |p: ProxyId| self.proxies[p].errors.get(r.status).cloned();
        of(s.be).or_else(|| of(s.fe))
    }

    /// `monitor-uri`: a request for the frontend's monitor URI is answered
    /// here, 503 when a `monitor fail` condition matches, else 200, with
    /// the connection kept open, and not logged (HAProxy's `SF_MONITOR`).
    /// `true` when the request was answered.
    pub(crate) fn http_monitor(
        &mut self,
        now: Time,
        sid: Id<Stream>,
        head: &ReqHead,
        used: usize,
        body: BodyLen,
    ) -> bool {
        let fe = self.streams[sid].fe;
        let Some(uri) = self.proxies[fe]
            .fe
            .as_ref()
            .and_then(|f| f.monitor_uri.as_deref())
        else {
            return false;
        };
        let hit = if uri.starts_with('/') {
            path_and_query(&head.uri) == uri
        } else {
            head.uri == uri
        };
        if !hit {
            return false;
        }
        if let Some(f) = self.proxies[fe].fe.as_mut() {
            f.intercepted_req += 1;
        }
        let rules = Arc::clone(&self.proxies[fe].rules);
        let mut fail = false;
        for c in &rules.monitor_fail {
            let mut ctx = crate::http::fetch::HttpCtx::new(self, now, sid, Some(head), None);
            if c.matches(&mut ctx) {
                fail = true;
                break;
            }
        }
        let status = if fail { 503 } else { 200 };
        let page = self.error_page(now, sid, status);
        let page = keep_alive_page(&page).into_owned();
        let s = &mut self.streams[sid];
        s.set_term(ErrCode::Local, FinSt::Req);
        let mut close = false;
        if let Some(t) = s.txn.as_mut() {
            t.flags |= TxnFlags::NOLOG;
            close = t.flags.contains(TxnFlags::CLI_CLOSE);
        }
        self.http_reply(now, sid, &page, close, used, body);
        if let Some(t) = self.streams[sid].txn.as_mut() {
            t.status = Some(status);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pages_have_the_right_length() {
        for s in ERRORFILE_STATUSES {
            let Some(p) = builtin_page(s) else { continue };
            let (head, body) = p.split_at(p.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4);
            let head = String::from_utf8_lossy(head);
            assert!(
                head.contains(&format!("content-length: {}\r\n", body.len())),
                "{s}: {head}"
            );
        }
        assert!(builtin_page(200)
            .unwrap()
            .starts_with(b"HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn keep_alive_page_drops_connection_close() {
        let p = keep_alive_page(MONITOR_OK);
        let t = String::from_utf8_lossy(&p);
        assert!(!t.to_ascii_lowercase().contains("connection:"), "{t}");
        assert!(t.ends_with("</body></html>\n"));
        assert_eq!(
            keep_alive_page(b"HTTP/1.1 200 OK\r\n\r\n"),
            &b"HTTP/1.1 200 OK\r\n\r\n"[..]
        );
    }

    #[test]
    fn monitor_paths() {
        assert_eq!(path_and_query("/healthz?a=1"), "/healthz?a=1");
        assert_eq!(path_and_query("http://h/healthz"), "/healthz");
        assert_eq!(path_and_query("http://h"), "");
        assert_eq!(path_and_query("*"), "");
    }
}
