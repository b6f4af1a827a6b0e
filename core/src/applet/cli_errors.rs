//! `show errors`, as HAProxy 2.6 (`proxy.c`'s `proxy_capture_error`,
//! `cli_parse_show_errors` and `cli_io_handler_show_errors`, `mux_h1.c`'s
//! `h1_capture_bad_message` and `h1_show_error_snapshot`, `tools.c`'s
//! `dump_text_line`).
//!
//! Each proxy keeps the last request its H1 parser refused (frontend side,
//! [`Proxy::invalid_req`]) and the last response (backend side,
//! [`Proxy::invalid_rep`]): the input bytes (at most `tune.bufsize`), the
//! error position and state ([`crate::http::h1::errpos`]), the date, the
//! client, the other end and the server. `show errors` prints them,
//! proxies in HAProxy's order (the last declared first), the request
//! before the response.
//!
//! Where Sluice has no equivalent, the fields keep HAProxy's layout with
//! neutral values: the H1 connection, stream and message flags print as
//! zero, `buffer starts at` is 0 (the capture is the message from its
//! first byte, nothing already forwarded) and `wraps at` is the buffer size
//! (a capture is contiguous).

use core::fmt::Write as _;

use crate::arena::Id;
use crate::engine::Engine;
use crate::http::h1::errpos::H1MsgState;
use crate::http::h1::Side;
use crate::proxy::{ErrorSnapshot, Proxy};
use crate::stream::Stream;
use crate::time::fmt_date;

/// What a bad message's capture needs besides the stream: where its bytes
/// start in the channel, where the parser refused it and in which state,
/// and the body counters (HAProxy's `curr_len`, `body_len`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BadMessage {
    pub side: Side,
    /// The first byte of the message in the channel's buffer.
    pub from: usize,
    /// The refused byte, from `from`.
    pub err_pos: usize,
    pub state: H1MsgState,
    pub clen: u64,
    pub blen: u64,
}

impl Engine {
    /// Keeps a refused message for `show errors` (HAProxy's
    /// `h1_capture_bad_message`): in the frontend for a request, in the
    /// backend for a response, replacing the previous one.
    pub(crate) fn capture_bad_message(&mut self, sid: Id<Stream>, m: BadMessage) {
        let Some(s) = self.streams.get(sid) else {
            return;
        };
        let ch = match m.side {
            Side::Request => &s.req,
            Side::Response => &s.res,
        };
        let data = ch.buf.data();
        let from = m.from.min(data.len());
        let end = data.len().min(from + self.pool.bufsize());
        let be_known = s.flags.contains(crate::stream::SfFlags::BE_ASSIGNED);
        let (px, oe, srv) = match m.side {
            Side::Request => (s.fe, be_known.then_some(s.be), None),
            Side::Response => (
                s.be,
                Some(s.fe),
                s.srv
                    .and_then(|id| self.server(id))
                    .map(|sv| (sv.cfg.name.clone(), sv.cfg.puid)),
            ),
        };
        let ev_id = self.error_snapshot_id;
        self.error_snapshot_id = ev_id.wrapping_add(1);
        let es = Box::new(ErrorSnapshot {
            date_ms: self.opts.epoch_ms + self.now.as_ms(),
            ev_id,
            src: self.sessions.get(s.sess).and_then(|se| se.src),
            oe,
            srv,
            buf: data[from..end].into(),
            err_pos: m.err_pos,
            state: m.state,
            m_clen: m.clen,
            m_blen: m.blen,
        });
        let p = &mut self.proxies[px];
        match m.side {
            Side::Request => p.invalid_req = Some(es),
            Side::Response => p.invalid_rep = Some(es),
        }
    }

    /// `show errors [<iid>|<proxy>] [request|response]`.
    pub(crate) fn cli_show_errors(&self, args: &[&str]) -> String {
        let iid = match args.first() {
            None => None,
            Some(a) => {
                let id = match self.proxies.iter().find(|p| p.name == *a) {
                    Some(p) => p.uuid,
                    None => atoi(a),
                };
                if id == 0 {
                    return "No such proxy.\n".into();
                }
                Some(id)
            }
        };
        let (req, res) = match args.get(1) {
            Some(&"request") => (true, false),
            Some(&"response") => (false, true),
            _ => (true, true),
        };
        let bufsize = self.pool.bufsize();
        let mut out = format!(
            "Total events captured on [{}] : {}\n",
            fmt_date(self.opts.epoch_ms + self.now.as_ms(), true),
            self.error_snapshot_id
        );
        for px in self.proxies.iter().rev() {
            for (side, es) in [
                (Side::Request, px.invalid_req.as_deref().filter(|_| req)),
                (Side::Response, px.invalid_rep.as_deref().filter(|_| res)),
            ] {
                let Some(es) = es else { continue };
                let oe = es.oe.map(|id| &self.proxies[id]);
                if iid.is_some_and(|i| px.uuid != i && oe.is_none_or(|o| o.uuid != i)) {
                    continue;
                }
                dump_snapshot(&mut out, px, oe, side, es, bufsize);
            }
        }
        out
    }
}

/// C's `atoi`: the leading decimal digits (after an optional sign), 0 if
/// none.
fn atoi(s: &str) -> u32 {
    let digits: String = s
        .trim_start()
        .trim_start_matches('+')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

/// One snapshot: the header lines, then the bytes.
fn dump_snapshot(
    out: &mut String,
    px: &Proxy,
    oe: Option<&Proxy>,
    side: Side,
    es: &ErrorSnapshot,
    bufsize: usize,
) {
    let _ = write!(out, " \n[{}]", fmt_date(es.date_ms, true));
    let (oe_name, oe_id) = oe.map_or(("<NONE>", -1), |o| (o.name.as_str(), o.uuid as i64));
    match side {
        Side::Request => {
            let (b, bid) = match oe.filter(|o| o.be.is_some()) {
                Some(_) => (oe_name, oe_id),
                None => ("<NONE>", -1),
            };
            let _ = write!(
                out,
                " frontend {} (#{}): invalid request\n  backend {b} (#{bid})",
                px.name, px.uuid
            );
        }
        Side::Response => {
            let _ = write!(
                out,
                " backend {} (#{}): invalid response\n  frontend {oe_name} (#{oe_id})",
                px.name, px.uuid
            );
        }
    }
    let (srv, srv_id) = es
        .srv
        .as_ref()
        .map_or(("<NONE>", -1), |(n, id)| (n.as_str(), *id as i64));
    let (src, port) = match es.src {
        Some(a) => (a.ip().to_string(), a.port()),
        None => ("unix".to_string(), 0),
    };
    let len = es.buf.len();
    let _ = write!(
        out,
        ", server {srv} (#{srv_id}), event #{}, src {src}:{port}\n  buffer starts at 0 (including 0 out), {} free,\n  len {len}, wraps at {bufsize}, error at position {}\n",
        es.ev_id,
        bufsize.saturating_sub(len),
        es.err_pos
    );
    // `h1_show_error_snapshot`.
    let _ = write!(
        out,
        "  H1 connection flags 0x00000000, H1 stream flags 0x00000000\n  H1 msg state {}({}), H1 msg flags 0x00000000\n  H1 chunk len {} bytes, H1 body len {} bytes :\n  \n",
        es.state.name(),
        es.state as u8,
        es.m_clen,
        es.m_blen
    );
    let mut ptr = 0;
    let mut bol = 0;
    while ptr < len {
        ptr = dump_text_line(out, &es.buf, &mut bol, ptr);
    }
}

/// HAProxy's `dump_text_line`: one line of `buf` from `ptr`, prefixed with
/// its offset (`+` when it continues a line cut at 80 columns), escaped;
/// returns where the next one starts.
fn dump_text_line(out: &mut String, buf: &[u8], bol: &mut usize, mut ptr: usize) -> usize {
    let _ = write!(out, "  {ptr:05}{} ", if ptr == *bol { ' ' } else { '+' });
    // HAProxy's budget: 80 bytes from the start of the line's output.
    let start = out.len() - 9;
    let end = start + 80;
    while let Some(&c) = buf.get(ptr) {
        let (esc, need): (&str, usize) = match c {
            b'\t' => ("\\t", 3),
            b'\n' => ("\\n", 3),
            b'\r' => ("\\r", 3),
            0x1b => ("\\e", 3),
            b'\\' => ("\\\\", 3),
            0x20..=0x7e => ("", 2),
            _ => ("", 5),
        };
        if out.len() > end - need {
            break;
        }
        match (esc, need) {
            ("", 2) => out.push(c as char),
            ("", _) => {
                let _ = write!(out, "\\x{c:02X}");
            }
            (e, _) => out.push_str(e),
        }
        ptr += 1;
        if c == b'\n' {
            out.push('\n');
            *bol = ptr;
            return ptr;
        }
    }
    out.push('\n');
    ptr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buf: &[u8]) -> String {
        let mut out = String::new();
        let (mut ptr, mut bol) = (0, 0);
        while ptr < buf.len() {
            ptr = dump_text_line(&mut out, buf, &mut bol, ptr);
        }
        out
    }

    /// HAProxy 2.6.12's dump of the same request.
    #[test]
    fn lines_as_haproxy_dumps_them() {
        assert_eq!(
            lines(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n"),
            "  00000  GET / HTTP/1.1\\r\\n\n  00016  Host: x\\r\\n\n  00025  Bad Name: v\\r\\n\n  00038  \\r\\n\n"
        );
    }

    #[test]
    fn long_lines_continue_with_a_plus_and_bytes_are_escaped() {
        let mut long = vec![b'a'; 100];
        long.extend_from_slice(b"\x01\\\t\n");
        let out = lines(&long);
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l.len(), 2, "{out}");
        assert!(l[0].starts_with("  00000  aaa"), "{out}");
        // Under 80 columns: 9 of prefix, 70 bytes (HAProxy stops when
        // fewer than 2 columns are left before the 80th).
        assert_eq!(l[0].len(), 79, "{out}");
        assert_eq!(l[1], format!("  00070+ {}\\x01\\\\\\t\\n", "a".repeat(30)));
    }

    #[test]
    fn atoi_as_c() {
        assert_eq!(atoi("12x"), 12);
        assert_eq!(atoi("be"), 0);
        assert_eq!(atoi(""), 0);
    }
}
