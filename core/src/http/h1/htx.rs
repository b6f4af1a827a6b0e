//! H1 to the HTTP message and back: HAProxy's `h1_htx.c`
//! (`h1_parse_msg_hdrs`, `h1_parse_msg_data`, `h1_parse_msg_tlrs`) for the
//! receiving side of `mux_h1`, over the bytes already in a buffer.
//!
//! [`H1Rx`] is the state of one message being received (HAProxy's
//! `struct h1m`): it parses the head into an [`Htx`] head block, then
//! indexes the body as [`Blk::Data`] and canonical [`Blk::Framing`]
//! blocks without copying payload: a chunk size line that is not canonical
//! (`0005`, `5;ext`, `5 `) is rewritten in place as `5`, trailer fields that
//! HTTP forbids are removed, so the next H1 hop reads exactly the framing
//! the proxy read, and an H1 sender forwards the indexed bytes as they are.
//! An unfinished size or trailer line is not indexed until its end
//! arrives (it may need rewriting).

use crate::buf::Buffer;
use crate::http::htx::{Blk, Head, Htx};

use super::{
    BodyLen, ChunkedDecoder, Decoded, H1Error, HeadParser, LengthCounter, ParseOptions, Rewrite,
    Side, Status,
};

/// Where a received message stands (HAProxy's `h1m->state`, coarser).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxState {
    /// Waiting for (the rest of) a head.
    Head,
    /// A head was indexed; the body's framing is not known yet (the
    /// analysers decide it from the head and the request: HEAD, CONNECT).
    HeadDone,
    /// Indexing the body.
    Body,
    /// The message is complete.
    Done,
    /// No more HTTP.
    Tunnel,
}

/// One message being received over H1 (HAProxy's `struct h1m`).
#[derive(Clone, Debug)]
pub struct H1Rx {
    pub state: RxState,
    side: Side,
    parser: HeadParser,
    body: BodyLen,
    len: LengthCounter,
    chunked: ChunkedDecoder,
    /// Input bytes after the index that the chunked decoder already read
    /// but that are not indexed yet (an unfinished size or trailer line).
    held: usize,
}

impl H1Rx {
    pub fn new(side: Side, opts: ParseOptions) -> H1Rx {
        H1Rx {
            state: RxState::Head,
            side,
            parser: HeadParser::new(opts),
            body: BodyLen::None,
            len: LengthCounter::new(0),
            chunked: ChunkedDecoder::new(side),
            held: 0,
        }
    }

    /// Ready for the next message on the connection.
    pub fn reset(&mut self) {
        self.state = RxState::Head;
        self.parser.reset();
        self.body = BodyLen::None;
        self.len = LengthCounter::new(0);
        if self.chunked.offset() > 0 {
            self.chunked.reset();
        }
        self.held = 0;
    }

    /// The input under a partial head was dropped: the head parser starts
    /// over (it resumes where it stopped in the same buffer otherwise).
    pub fn forget_head(&mut self) {
        if self.state == RxState::Head {
            self.parser.reset();
        }
    }

    /// The body framing, once [`H1Rx::start_body`] set it.
    pub fn body(&self) -> BodyLen {
        self.body
    }

    /// Bytes read past the index and held back (an unfinished line).
    pub fn held(&self) -> usize {
        self.held
    }

    /// Parses a head from `input` (the channel input the index does not
    /// cover yet) into `htx`. `Ok(true)`: a head block was added; `Ok(false)`:
    /// more bytes are needed, or a head is already waiting in `htx` (the
    /// next one, after a 1xx, is parsed once that one was taken).
    pub fn rcv_head(&mut self, input: &[u8], htx: &mut Htx) -> Result<bool, H1Error> {
        if self.state != RxState::Head || htx.head().is_some() || htx.error().is_some() {
            return Ok(false);
        }
        let r = match self.side {
            Side::Request => self
                .parser
                .parse_request(input)
                .map(|s| map_status(s, Head::Req)),
            Side::Response => self
                .parser
                .parse_response(input)
                .map(|s| map_status(s, Head::Res)),
        };
        match r {
            Ok(Status::Complete((head, used))) => {
                let interim = matches!(&head, Head::Res(h) if h.is_interim());
                htx.push_head(head, used);
                if !interim {
                    self.state = RxState::HeadDone;
                }
                Ok(true)
            }
            Ok(Status::Partial) => Ok(false),
            Err(e) => {
                htx.set_error(e);
                Err(e)
            }
        }
    }

    /// The body of the message is framed by `body` (the analysers decided
    /// it from the head).
    pub fn start_body(&mut self, body: BodyLen) {
        self.body = body;
        self.len = LengthCounter::new(match body {
            BodyLen::Length(n) => n,
            _ => 0,
        });
        self.held = 0;
        self.state = match body {
            BodyLen::None | BodyLen::Length(0) => RxState::Done,
            BodyLen::Tunnel => RxState::Tunnel,
            _ => RxState::Body,
        };
    }

    /// Indexes the body bytes of `buf` from `from` (the first byte the
    /// index does not cover) into `htx`, rewriting non-canonical chunk
    /// framing in place. Adds [`Blk::Eom`] at the end of the message.
    pub fn rcv_body(
        &mut self,
        buf: &mut Buffer,
        from: usize,
        htx: &mut Htx,
    ) -> Result<(), H1Error> {
        let avail = buf.len().saturating_sub(from);
        match self.body {
            _ if self.state != RxState::Body => {}
            BodyLen::None => self.finish(htx),
            BodyLen::Length(_) => {
                let n = self.len.take(avail);
                htx.push(Blk::Data(n));
                if self.len.is_done() {
                    self.finish(htx);
                }
            }
            BodyLen::UntilClose | BodyLen::Tunnel => htx.push(Blk::Data(avail)),
            BodyLen::Chunked => return self.rcv_chunked(buf, from, htx),
        }
        Ok(())
    }

    fn finish(&mut self, htx: &mut Htx) {
        self.state = RxState::Done;
        htx.push(Blk::Eom);
    }

    /// The chunked form of [`H1Rx::rcv_body`].
    fn rcv_chunked(&mut self, buf: &mut Buffer, from: usize, htx: &mut Htx) -> Result<(), H1Error> {
        if self.held > buf.len().saturating_sub(from) {
            // The input under the message was dropped.
            self.held = 0;
            return Ok(());
        }
        // The decoder offset of the byte at `from`.
        let base = self.chunked.offset() - self.held as u64;
        // Blocks as (is data, length in decoder offsets), before rewrites.
        let mut found: SmallBlks = SmallBlks::new();
        let data = &buf.data()[from..];
        let mut used = self.held;
        let mut ended = false;
        let mut framing_start = 0;
        loop {
            match self.chunked.decode(&data[used..]) {
                Ok((Decoded::Data(d), n)) => {
                    let data_start = used + n - d.len();
                    found.push((false, data_start - framing_start));
                    found.push((true, d.len()));
                    used += n;
                    framing_start = used;
                }
                Ok((Decoded::NeedMore, n)) => {
                    used += n;
                    break;
                }
                Ok((Decoded::End, n)) => {
                    used += n;
                    ended = true;
                    break;
                }
                Err(e) => {
                    htx.set_error(e);
                    return Err(e);
                }
            }
        }
        let fwd = match self.chunked.partial_line_start() {
            Some(p) => p.saturating_sub(base) as usize,
            None => used,
        };
        self.held = used - fwd;
        found.push((false, fwd - framing_start));
        if self.chunked.has_rewrites() {
            let rewrites = self.chunked.take_rewrites();
            shrink_blocks(&mut found, &rewrites, base);
            compact(buf, from, base, &rewrites);
        }
        for (is_data, n) in found {
            htx.push(if is_data {
                Blk::Data(n)
            } else {
                Blk::Framing(n)
            });
        }
        if ended {
            let trailers = self.chunked.take_trailers();
            if !trailers.is_empty() {
                htx.push(Blk::Trailers(Box::new(trailers)));
            }
            self.finish(htx);
        }
        Ok(())
    }

    /// The sender closed: an error unless the message may end here.
    pub fn on_close(&self) -> Result<(), H1Error> {
        match (self.state, self.body) {
            (RxState::Body, BodyLen::Length(_)) => self.len.on_close(self.side),
            (RxState::Body, BodyLen::Chunked) => self.chunked.on_close(),
            _ => Ok(()),
        }
    }

    /// The caller cannot hold more of the unfinished line: it is too long.
    pub fn give_up_line(&mut self) -> H1Error {
        self.chunked.give_up_line()
    }
}

type SmallBlks = smallvec::SmallVec<[(bool, usize); 8]>;

fn map_status<H>(s: Status<(H, usize)>, f: impl FnOnce(H) -> Head) -> Status<(Head, usize)> {
    match s {
        Status::Complete((h, n)) => Status::Complete((f(h), n)),
        Status::Partial => Status::Partial,
    }
}

/// Shortens the framing blocks of `found` (lengths from decoder offset
/// `base`) by what each rewrite removes.
fn shrink_blocks(found: &mut SmallBlks, rewrites: &[Rewrite], base: u64) {
    // Where each block ends, before any rewrite.
    let mut ends: smallvec::SmallVec<[u64; 8]> = smallvec::SmallVec::new();
    let mut at = 0u64;
    for (_, len) in found.iter() {
        at += *len as u64;
        ends.push(at);
    }
    for rw in rewrites {
        let (start, n) = rw.range();
        let gone = match *rw {
            Rewrite::SizeLine { size, .. } => {
                let mut tmp = [0u8; 18];
                n - super::encode_size_line(size, &mut tmp).len() as u64
            }
            Rewrite::Drop { .. } => n,
        } as usize;
        let pos = start.saturating_sub(base);
        let i = ends.iter().position(|&e| pos < e);
        if let Some((is_data, len)) = i.and_then(|i| found.get_mut(i)) {
            crate::bug_on!(*is_data, "a framing rewrite inside payload");
            *len -= gone.min(*len);
        }
    }
}

/// Applies `rewrites` (decoder offsets, `base` being the offset of the
/// buffer byte at `from`) in one pass: every byte after the first rewrite
/// moves down at most once. Returns how many bytes went.
pub(crate) fn compact(buf: &mut Buffer, from: usize, base: u64, rewrites: &[Rewrite]) -> usize {
    let len = buf.len();
    let data = buf.data_mut();
    let at = |start: u64| from + start.saturating_sub(base) as usize;
    let Some(first) = rewrites.first() else {
        return 0;
    };
    let (mut w, mut r) = (at(first.range().0), at(first.range().0));
    for rw in rewrites {
        let (start, n) = rw.range();
        crate::bug_on!(start < base, "a rewrite of bytes already forwarded");
        let start = at(start).max(r);
        let end = (start + n as usize).min(len);
        data.copy_within(r..start, w);
        w += start - r;
        if let Rewrite::SizeLine { size, .. } = *rw {
            let mut tmp = [0u8; 18];
            let line = super::encode_size_line(size, &mut tmp);
            data[w..w + line.len()].copy_from_slice(line);
            w += line.len();
        }
        r = end;
    }
    data.copy_within(r..len, w);
    w += len - r;
    buf.truncate(w);
    len - w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1::{request_body, response_body, Method};

    /// Receives `wire` as one request (fed in pieces of `step` bytes),
    /// returns the index and the buffer as rewritten.
    fn rcv(side: Side, wire: &[u8], step: usize) -> (Htx, Buffer, Result<(), H1Error>) {
        let mut rx = H1Rx::new(side, ParseOptions::default());
        let mut htx = Htx::new();
        let mut b = Buffer::with_capacity(16384);
        let mut fed = 0;
        let mut res = Ok(());
        while fed < wire.len() {
            let n = step.min(wire.len() - fed);
            b.put(&wire[fed..fed + n]);
            fed += n;
            if rx.state == RxState::Head {
                let len = htx.len();
                if let Err(e) = rx.rcv_head(&b.data()[len..], &mut htx) {
                    return (htx, b, Err(e));
                }
                if rx.state == RxState::HeadDone {
                    let body = match &htx.head().unwrap().head {
                        Head::Req(h) => request_body(h).unwrap(),
                        Head::Res(h) => response_body(h, &Method::GET, false),
                    };
                    rx.start_body(body);
                    if rx.state == RxState::Done {
                        htx.push(Blk::Eom);
                    }
                }
            }
            if rx.state == RxState::Body {
                let from = htx.len();
                res = rx.rcv_body(&mut b, from, &mut htx);
                if res.is_err() {
                    break;
                }
            }
        }
        (htx, b, res)
    }

    fn h1(htx: &Htx, b: &Buffer) -> Vec<u8> {
        let mut out = Vec::new();
        htx.encode_h1(b.data(), &mut out);
        out
    }

    #[test]
    fn content_length_request_round_trips_verbatim() {
        let wire = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        for step in [1, 3, wire.len()] {
            let (htx, b, r) = rcv(Side::Request, wire, step);
            r.unwrap();
            let head = htx.head().unwrap();
            assert!(matches!(&head.head, Head::Req(h) if h.uri == "/a"));
            assert_eq!(head.raw, wire.len() - 5);
            assert_eq!(htx.blks(), &[Blk::Data(5), Blk::Eom]);
            assert_eq!(htx.len(), wire.len());
            assert_eq!(h1(&htx, &b), wire);
        }
    }

    #[test]
    fn canonical_chunked_is_indexed_in_place() {
        let wire = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n";
        for step in [1, 2, 7, wire.len()] {
            let (htx, b, r) = rcv(Side::Request, wire, step);
            r.unwrap();
            assert_eq!(b.data(), wire, "canonical framing is not touched");
            let data: usize = htx
                .blks()
                .iter()
                .filter_map(|b| match b {
                    Blk::Data(n) => Some(*n),
                    _ => None,
                })
                .sum();
            assert_eq!(data, 8);
            assert!(htx.has_eom());
            assert_eq!(htx.len(), wire.len());
            assert_eq!(h1(&htx, &b), wire);
        }
    }

    #[test]
    fn odd_chunk_sizes_and_forbidden_trailers_are_made_canonical() {
        let wire = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
0005;ext=1\r\nhello\r\n0\r\nX-T: 1\r\nContent-Length: 3\r\n\r\n";
        let want = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
        for step in [1, 4, wire.len()] {
            let (htx, b, r) = rcv(Side::Request, wire, step);
            r.unwrap();
            assert_eq!(b.data(), &want[..]);
            assert_eq!(htx.len(), want.len(), "step {step}: {:?}", htx.blks());
            let tl = htx.blks().iter().find_map(|b| match b {
                Blk::Trailers(t) => Some(t.clone()),
                _ => None,
            });
            let tl = tl.expect("trailers block");
            assert_eq!(tl.get("x-t"), Some(&b"1"[..]));
            assert!(!tl.contains("content-length"));
            assert_eq!(h1(&htx, &b), want);
        }
    }

    #[test]
    fn interim_then_final_response() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let mut rx = H1Rx::new(Side::Response, ParseOptions::default());
        let mut htx = Htx::new();
        assert!(rx.rcv_head(wire, &mut htx).unwrap());
        // One head at a time: the next waits until this one is taken.
        assert!(!rx.rcv_head(&wire[htx.len()..], &mut htx).unwrap());
        let h = htx.take_head().unwrap();
        assert!(matches!(h.head, Head::Res(ref r) if r.status == 100));
        assert_eq!(rx.state, RxState::Head);
        assert!(rx.rcv_head(&wire[h.raw..], &mut htx).unwrap());
        assert!(matches!(htx.head().unwrap().head, Head::Res(ref r) if r.status == 200));
        assert_eq!(rx.state, RxState::HeadDone);
    }

    #[test]
    fn a_changed_head_is_re_encoded() {
        let wire = b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n";
        let (mut htx, b, r) = rcv(Side::Request, wire, wire.len());
        r.unwrap();
        if let Some(Head::Req(h)) = htx.head_mut().map(|h| &mut h.head) {
            h.headers.add("x-y", b"1").unwrap();
        }
        let out = h1(&htx, &b);
        assert_eq!(&out[..], b"GET /x HTTP/1.1\r\nhost: a\r\nx-y: 1\r\n\r\n");
    }

    #[test]
    fn errors_stop_the_index() {
        let (htx, _, r) = rcv(Side::Request, b"GET / HTTP/1.1\r\nbad header\r\n\r\n", 64);
        assert!(r.is_err());
        assert!(htx.error().is_some());
        assert!(htx.head().is_none());
        let wire = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let (htx, _, r) = rcv(Side::Request, wire, 64);
        assert_eq!(r.unwrap_err().kind, super::super::H1ErrorKind::BadChunkSize);
        assert!(htx.error().is_some());
    }

    #[test]
    fn consume_walks_blocks() {
        let mut htx = Htx::new();
        htx.push(Blk::Framing(3));
        htx.push(Blk::Data(5));
        htx.push(Blk::Data(2));
        htx.push(Blk::Framing(0));
        htx.push(Blk::Eom);
        assert_eq!(htx.blks(), &[Blk::Framing(3), Blk::Data(7), Blk::Eom]);
        htx.consume(4);
        assert_eq!(htx.blks(), &[Blk::Data(6), Blk::Eom]);
        htx.consume(6);
        assert!(htx.blks().is_empty());
        assert_eq!(htx.len(), 0);
    }
}
