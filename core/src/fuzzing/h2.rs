//! Fuzz entry points for the HTTP/2 codecs: `hpack_decode` and `h2_frame`.
//!
//! A finding is a panic: a decoder that panics, or one of the invariants
//! below failing. The decoders' own `debug_assert!`s (table size within its
//! bound, list size within `max_header_list_size`) run too under `-a`.

use crate::http::h2::frame::{
    Frame, FrameDecoder, FrameHeader, H2Error, Role, Settings, Status, FRAME_HEADER_LEN,
    MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE,
};
use crate::http::h2::hpack::{self, huffman, Decoder, Encoder, Field, HeaderList, HpackError};

/// Target `hpack_decode`. Input: one options byte (bits 0-1: our
/// SETTINGS_HEADER_TABLE_SIZE, 0 / 64 / 256 / 4096; bits 2-3: the header
/// list bound, unlimited / 256 / 4096 / 64; bits 4-5: one, two or three
/// blocks), two cut bytes, then the field blocks.
///
/// Invariants: a bounded and an unbounded decoder fed the same blocks agree
/// (the same compression errors; the bounded one reports
/// `HeaderListTooLarge` exactly when the unbounded list is over the bound,
/// keeps a prefix of it, and its table stays equal); lists and tables stay
/// within their bounds; what decodes re-encodes with the encoder and decodes
/// back to the same fields, never-indexed flags kept; every string of the
/// input that is valid Huffman re-encodes to itself.
pub fn hpack_decode(data: &[u8]) {
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let (cuts, input) = rest.split_at(rest.len().min(2));
    let table_size = [0, 64, 256, 4096][usize::from(opts & 3)];
    let bound = [usize::MAX, 256, 4096, 64][usize::from((opts >> 2) & 3)];
    let nblocks = usize::from((opts >> 4) & 3).clamp(1, 3);
    let mut at: Vec<usize> = cuts
        .iter()
        .take(nblocks - 1)
        .map(|&c| usize::from(c) % (input.len() + 1))
        .collect();
    at.sort_unstable();
    let mut blocks = Vec::new();
    let mut start = 0;
    for a in at {
        blocks.push(&input[start..a]);
        start = a;
    }
    blocks.push(&input[start..]);

    let mut bounded = Decoder::new(table_size);
    let mut free = Decoder::new(table_size);
    let mut enc = Encoder::default();
    let mut mirror = Decoder::default();
    let (mut bl, mut fl, mut ml) = (
        HeaderList::new(bound),
        HeaderList::new(usize::MAX),
        HeaderList::new(usize::MAX),
    );
    for block in blocks {
        let rb = bounded.decode(block, &mut bl);
        let rf = free.decode(block, &mut fl);
        match (rb, rf) {
            (Ok(()), Ok(())) => {
                assert!(fl.size() <= bound);
                assert!(bl.iter().eq(fl.iter()));
            }
            (Err(HpackError::HeaderListTooLarge), Ok(())) => {
                assert!(fl.size() > bound && bl.size() <= bound);
                assert!(bl.iter().zip(fl.iter()).all(|(a, b)| a == b) && bl.len() < fl.len());
            }
            (Err(a), Err(b)) => {
                assert_eq!(a, b);
                assert!(a.is_compression_error());
                return;
            }
            (a, b) => panic!("bounded {a:?} vs unbounded {b:?}"),
        }
        assert_eq!(bounded.table(), free.table());
        assert!(
            free.table().size() <= free.table().max_size() && free.table().max_size() <= table_size
        );
        let size: usize = fl
            .iter()
            .map(|f| f.name.len() + f.value.len() + hpack::ENTRY_OVERHEAD)
            .sum();
        assert_eq!(size, fl.size());
        // Re-encode and decode back.
        let mut out = Vec::new();
        enc.encode(fl.iter(), &mut out);
        mirror.decode(&out, &mut ml).expect("own encoding decodes");
        assert_eq!(ml.len(), fl.len());
        for (a, b) in fl.iter().zip(ml.iter()) {
            assert_eq!((a.name, a.value), (b.name, b.value));
            assert!(
                !a.never_indexed || b.never_indexed,
                "never-indexed flag lost"
            );
        }
        assert_eq!(enc.table(), mirror.table());
    }
    check_huffman(input);
    check_int(input);
}

fn check_huffman(input: &[u8]) {
    let mut dec = Vec::new();
    if huffman::decode(input, &mut dec).is_ok() {
        // Padding is at most 7 one bits: the encoding is a bijection.
        let mut enc = Vec::new();
        huffman::encode(&dec, &mut enc);
        assert_eq!(enc, input);
    }
    let mut enc = Vec::new();
    huffman::encode(input, &mut enc);
    assert_eq!(enc.len(), huffman::encoded_len(input));
    dec.clear();
    huffman::decode(&enc, &mut dec).expect("own Huffman decodes");
    assert_eq!(dec, input);
}

fn check_int(input: &[u8]) {
    for prefix in 1..=8 {
        if let Ok((v, n)) = hpack::decode_int(input, prefix) {
            assert!(n <= input.len() && n <= 6);
            let mut enc = Vec::new();
            hpack::encode_int(v, prefix, 0, &mut enc);
            assert!(enc.len() <= n);
            assert_eq!(hpack::decode_int(&enc, prefix), Ok((v, enc.len())));
        }
    }
    // Fields given as (name, value) pairs from the input round-trip.
    let fields: Vec<(&[u8], &[u8])> = input.chunks(7).map(|c| c.split_at(c.len() / 2)).collect();
    let mut enc = Encoder::new(256);
    let mut dec = Decoder::new(4096);
    let mut list = HeaderList::new(usize::MAX);
    let mut out = Vec::new();
    enc.encode(fields.iter().map(|&(n, v)| Field::new(n, v)), &mut out);
    dec.decode(&out, &mut list).expect("own encoding decodes");
    assert!(list
        .iter()
        .map(|f| (f.name, f.value))
        .eq(fields.iter().copied()));
}

/// Target `h2_frame`. Input: one options byte (bit 0: role; bits 1-2: our
/// SETTINGS_MAX_FRAME_SIZE, 16384 / 16385 / 65536 / 2^24-1; bits 3-4: the
/// field block bound, 64 KB / 0 / 100 / 1000; bits 5-7: piece size for the
/// second pass, 1..8 bytes), then the bytes of a connection after the preface.
///
/// Invariants: decoding in one go and decoding a buffer grown a few bytes
/// at a time give the same frames and errors; a frame's byte count is its
/// header's length plus 9; every frame re-encodes to as many bytes and
/// parses back to itself; applied SETTINGS stay in their ranges; nothing
/// follows a connection error.
pub fn h2_frame(data: &[u8]) {
    let Some((&opts, input)) = data.split_first() else {
        return;
    };
    let whole = run_frames(opts, input, input.len().max(1));
    let piece = usize::from(opts >> 5) + 1;
    let pieces = run_frames(opts, input, piece);
    assert_eq!(whole, pieces);
}

/// Decodes `input`, `piece` more bytes available each time the decoder
/// says `Partial`; returns what it saw, checking each frame.
fn run_frames(opts: u8, input: &[u8], piece: usize) -> Vec<(Result<String, H2Error>, usize)> {
    let role = if opts & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let mut dec = FrameDecoder::new(role);
    dec.set_max_frame_size(
        [16_384, 16_385, 65_536, MAX_MAX_FRAME_SIZE][usize::from((opts >> 1) & 3)],
    );
    dec.set_max_field_block([64 * 1024, 0, 100, 1000][usize::from((opts >> 3) & 3)]);
    let mut settings = Settings::default();
    let mut seen = Vec::new();
    let mut pos = 0;
    let mut avail = piece.min(input.len());
    // Bounded: each turn either consumes a frame or makes more available.
    while pos < input.len() {
        match dec.decode(&input[pos..avail]) {
            Status::Partial => {
                if avail == input.len() {
                    break;
                }
                avail = (avail + piece).min(input.len());
            }
            Status::Complete((res, n)) => {
                assert!(n >= FRAME_HEADER_LEN && pos + n <= avail);
                let conn_err = matches!(res, Err(H2Error::Connection { .. }));
                if !conn_err {
                    let h = FrameHeader::parse(&input[pos..]).expect("a header");
                    assert_eq!(n, FRAME_HEADER_LEN + h.len as usize);
                }
                if let Ok(f) = &res {
                    check_frame(f, n, role, &mut settings);
                }
                seen.push((res.map(|f| format!("{f:?}")), if conn_err { 0 } else { n }));
                if conn_err {
                    break;
                }
                pos += n;
                avail = avail.max(pos);
            }
        }
    }
    seen
}

fn check_frame(f: &Frame<'_>, n: usize, role: Role, settings: &mut Settings) {
    let mut out = Vec::new();
    f.encode(&mut out);
    assert_eq!(out.len(), n, "re-encoded length");
    assert_eq!(out.len(), FRAME_HEADER_LEN + f.payload_len());
    let h = FrameHeader::parse(&out).expect("a header");
    // Push is never enabled here, so a PUSH_PROMISE cannot have decoded.
    let back =
        Frame::parse(&h, &out[FRAME_HEADER_LEN..], role, false).expect("own encoding parses");
    assert_eq!(&back, f);
    match *f {
        Frame::Settings { params, .. } => {
            settings.apply(params);
            assert!((16_384..=MAX_MAX_FRAME_SIZE).contains(&settings.max_frame_size));
            assert!(settings.initial_window_size <= MAX_WINDOW_SIZE);
        }
        Frame::WindowUpdate { increment, .. } => {
            assert!((1..=MAX_WINDOW_SIZE).contains(&increment))
        }
        Frame::PushPromise { .. } => panic!("PUSH_PROMISE accepted"),
        _ => {}
    }
}

/// Target `h2_mux`: the client-side mux (`mux::h2::H2c`) fed a client's
/// bytes, without the engine (the glue's part is played here: request
/// bytes are taken as a channel would take them, each stream answers a
/// chunked HTTP/1.1 response, then detaches). Input: one options byte
/// (bits 0-2: piece size 1..8 × 97 bytes; bit 3: the preface is not
/// prepended), then the bytes after the preface (the `h2_frame` corpus
/// format).
///
/// Invariants: nothing panics; everything the mux writes is a sequence of
/// valid frames for a client to decode (our SETTINGS first, no frame the
/// codec refuses, no connection error in our own output); the streams left
/// are within `max_concurrent_streams`.
pub fn h2_mux(data: &[u8]) {
    use crate::mux::h2::{H2Limits, H2c};
    let Some((&opts, input)) = data.split_first() else {
        return;
    };
    let piece = (usize::from(opts & 7) + 1) * 97;
    let mut bytes = Vec::with_capacity(input.len() + 24);
    if opts & 8 == 0 {
        bytes.extend_from_slice(crate::http::h2::frame::PREFACE);
    }
    bytes.extend_from_slice(input);
    let limits = H2Limits {
        max_concurrent_streams: 3,
        max_header_list: 4096,
        glitches_threshold: 50,
        max_total_streams: 20,
        ..H2Limits::default()
    };
    let mut h = H2c::new(limits);
    let mut out = Vec::new();
    let response: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-trailer: 1\r\n\r\n";
    for chunk in bytes.chunks(piece) {
        let mut fed = 0;
        while fed < chunk.len() {
            let spare = h.rx_spare();
            if spare.is_empty() {
                break;
            }
            let n = spare.len().min(chunk.len() - fed);
            spare[..n].copy_from_slice(&chunk[fed..fed + n]);
            h.received(n);
            fed += n;
            h.demux();
        }
        assert!(h.active_streams() <= 3, "streams beyond the limit");
        let ids: Vec<u32> = h.streams.keys().copied().collect();
        for id in ids {
            let Some(s) = h.streams.get_mut(&id) else {
                continue;
            };
            s.need_stream = false;
            let n = s.rxbuf.len();
            h.delivered(id, n);
            if h.streams.get(&id).is_some_and(|s| s.req_done && !s.reset) {
                let mut used = 0;
                while used < response.len() {
                    let k = h.mux_output(id, &response[used..]);
                    if k == 0 {
                        break;
                    }
                    used += k;
                }
                h.detach(id);
            }
        }
        h.gc();
        out.extend_from_slice(h.tx_pending());
        let n = h.tx_pending().len();
        h.sent(n);
    }
    // Our output decodes as valid frames, our SETTINGS first.
    let mut dec = FrameDecoder::new(Role::Client);
    let mut pos = 0;
    let mut first = true;
    while pos < out.len() {
        match dec.decode(&out[pos..]) {
            Status::Partial => panic!("a truncated frame in our output"),
            Status::Complete((res, n)) => {
                let f = res.unwrap_or_else(|e| panic!("our output is invalid: {e}"));
                if first {
                    assert!(matches!(f, Frame::Settings { ack: false, .. }));
                    first = false;
                }
                pos += n;
            }
        }
    }
}
