//! The version-independent HTTP message carried by a channel in HTTP
//! mode: HAProxy's HTX (`include/haproxy/htx-t.h`), in Sluice's shape.
//!
//! HAProxy's HTX rewrites every message into a block structure inside the
//! channel buffer. Sluice keeps the bytes where the receiving mux put them
//! (the driver reads straight into the channel) and lays an *index* over
//! them: each block covers the next bytes of the channel's input, in order.
//!
//! ```text
//!   channel input:  | head bytes (H1)  | framing | data  | framing | data | framing ... |
//!   Htx:            [ head: ReqHead/ResHead, raw ]                                        (at most one)
//!                                      [ Framing(n) | Data(n) | Framing(n) | Data(n) | Framing(n) | Trailers | Eom ]
//! ```
//!
//! * the **head** (`HTX_BLK_REQ_SL`/`RES_SL` + `HDR` + `EOH`): a parsed
//!   [`ReqHead`] or [`ResHead`] and `raw`, how many input bytes hold its
//!   wire form (0 when the head has none: made by the proxy, or by a mux
//!   whose wire form is not kept, as H2's HPACK). At most one head waits
//!   in a channel at a time: the analysers take it, and the mux parses the
//!   next one (after a 1xx) only then, which spares the index an
//!   allocation per message;
//! * [`Blk::Data`]: payload bytes (`HTX_BLK_DATA`);
//! * [`Blk::Framing`]: H1 wire framing (chunk size lines, the CRLF after
//!   a chunk, the last chunk and the trailer section as received). A
//!   receiving `mux_h1` makes it canonical in place (`5\r\n`, never
//!   `0005;ext\r\n`), so an H1 sender forwards it as it is, and a sender of
//!   another version skips it (HAProxy has no such block: its H1 mux
//!   re-emits chunk framing from `DATA` blocks; keeping it spares a copy);
//! * [`Blk::Trailers`]: the trailer fields (`HTX_BLK_TLR` + `EOT`), their
//!   bytes being in the `Framing` before;
//! * [`Blk::Eom`]: the message is complete (`HTX_FL_EOM`);
//! * [`Blk::Tunnel`]: no more HTTP, raw bytes from here on (101, a 2xx to
//!   CONNECT).
//!
//! The H1 conversion (HAProxy's `h1_htx.c`) is in [`crate::http::h1::htx`].

use smallvec::SmallVec;

use crate::http::h1::{H1Error, Headers, ReqHead, ResHead};

/// A message head: start line and header fields (HAProxy's start-line
/// block and the header blocks up to `EOH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    Req(ReqHead),
    Res(ResHead),
}

impl Head {
    /// The header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Head::Req(h) => &h.headers,
            Head::Res(h) => &h.headers,
        }
    }

    /// Whether nothing changed the head since it was parsed from `raw`
    /// (its bytes as received): then it goes out as it came.
    pub fn is_verbatim(&self, raw: &[u8]) -> bool {
        !raw.is_empty()
            && match self {
                Head::Req(h) => h.is_verbatim(raw),
                Head::Res(h) => h.is_verbatim(raw),
            }
    }

    /// Appends the H1 encoding of the head to `out`.
    pub fn encode_h1(&self, out: &mut Vec<u8>) {
        match self {
            Head::Req(h) => h.encode(out),
            Head::Res(h) => h.encode(out),
        }
    }
}

/// The head block of a message: the head and the input bytes that hold
/// its wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadBlk {
    pub head: Head,
    /// Bytes of the head as received, at the start of the indexed input (0:
    /// none, the head has no wire form in the buffer).
    pub raw: usize,
}

/// A block after the head (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blk {
    /// Payload bytes.
    Data(usize),
    /// H1 wire framing, canonical (an H1 sender forwards it as it is).
    Framing(usize),
    /// The trailer fields (their bytes are in the `Framing` before).
    Trailers(Box<Headers>),
    /// End of message.
    Eom,
    /// From here on, bytes both ways with no more HTTP.
    Tunnel,
}

impl Blk {
    /// How many input bytes the block covers.
    pub fn len(&self) -> usize {
        match self {
            Blk::Data(n) | Blk::Framing(n) => *n,
            Blk::Trailers(_) | Blk::Eom | Blk::Tunnel => 0,
        }
    }

    /// Whether the block covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The message index of a channel (HAProxy's `struct htx`): a head, then
/// blocks, covering the first [`Htx::len`] bytes of the channel's input.
/// A conversion error stops the index where it was found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Htx {
    head: Option<HeadBlk>,
    blks: SmallVec<[Blk; 4]>,
    /// Input bytes covered by `head` and `blks`.
    len: usize,
    err: Option<H1Error>,
}

impl Htx {
    pub fn new() -> Htx {
        Htx::default()
    }

    /// Nothing indexed, no error.
    pub fn is_empty(&self) -> bool {
        self.head.is_none() && self.blks.is_empty() && self.err.is_none()
    }

    /// Input bytes covered by the index.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Forgets everything (the input under it was dropped).
    pub fn clear(&mut self) {
        self.head = None;
        self.blks.clear();
        self.len = 0;
        self.err = None;
    }

    /// Adds the head of a message. It comes first: nothing may be indexed
    /// before it.
    pub fn push_head(&mut self, head: Head, raw: usize) {
        crate::bug_on!(
            self.head.is_some() || !self.blks.is_empty(),
            "htx: a head after other blocks"
        );
        self.len += raw;
        self.head = Some(HeadBlk { head, raw });
    }

    /// The head waiting at the front, if any.
    pub fn head(&self) -> Option<&HeadBlk> {
        self.head.as_ref()
    }

    /// The head waiting at the front, to edit it (rules).
    pub fn head_mut(&mut self) -> Option<&mut HeadBlk> {
        self.head.as_mut()
    }

    /// Takes the head out of the index; its `raw` bytes are no longer
    /// covered (the caller forwards or replaces them).
    pub fn take_head(&mut self) -> Option<HeadBlk> {
        let h = self.head.take()?;
        self.len -= h.raw;
        Some(h)
    }

    /// Appends a block; adjacent `Data` (or `Framing`) blocks merge, empty
    /// ones are not kept.
    pub fn push(&mut self, blk: Blk) {
        match (self.blks.last_mut(), &blk) {
            (_, Blk::Data(0) | Blk::Framing(0)) => return,
            (Some(Blk::Data(a)), Blk::Data(b)) | (Some(Blk::Framing(a)), Blk::Framing(b)) => {
                *a += b;
                self.len += b;
                return;
            }
            _ => {}
        }
        self.len += blk.len();
        self.blks.push(blk);
    }

    /// The blocks after the head.
    pub fn blks(&self) -> &[Blk] {
        &self.blks
    }

    /// Takes the blocks covering the first `n` indexed bytes after the
    /// head (they were forwarded), and the zero-length blocks that follow
    /// them (trailers, end of message). A block partly covered is cut.
    pub fn consume(&mut self, mut n: usize) {
        let mut i = 0;
        while i < self.blks.len() {
            let l = self.blks[i].len();
            if n == 0 && l > 0 {
                break;
            }
            if l > n {
                match &mut self.blks[i] {
                    Blk::Data(x) | Blk::Framing(x) => *x -= n,
                    _ => {}
                }
                self.len -= n;
                n = 0;
                break;
            }
            n -= l;
            self.len -= l;
            i += 1;
        }
        crate::bug_on!(n > 0, "htx: consumed past the index");
        self.blks.drain(..i);
    }

    /// Whether the end of the message is indexed.
    pub fn has_eom(&self) -> bool {
        self.blks.iter().any(|b| matches!(b, Blk::Eom))
    }

    /// Records a conversion error: the index stops here.
    pub fn set_error(&mut self, e: H1Error) {
        self.err = Some(e);
    }

    /// The conversion error, if one was found.
    pub fn error(&self) -> Option<H1Error> {
        self.err
    }

    /// Appends the H1 form of the indexed message, `input` being the
    /// channel input the index covers: a verbatim head and the canonical
    /// framing as they are, a changed head re-encoded (HAProxy's
    /// `h1_process_mux`). The H1 fast path never calls this: it forwards
    /// the indexed bytes in place.
    pub fn encode_h1(&self, input: &[u8], out: &mut Vec<u8>) {
        let mut at = 0;
        if let Some(h) = &self.head {
            let raw = input.get(..h.raw).unwrap_or(&[]);
            if h.head.is_verbatim(raw) {
                out.extend_from_slice(raw);
            } else {
                h.head.encode_h1(out);
            }
            at = h.raw;
        }
        for b in &self.blks {
            let n = b.len();
            if let Some(bytes) = input.get(at..at + n) {
                out.extend_from_slice(bytes);
            }
            at += n;
        }
    }
}
