//! Speed of the H1 head parser and chunked decoder, next to `httparse`
//! alone on the same bytes. Wall-clock figures on a shared machine are
//! noisy: compare the two lines of one run, or count instructions with
//! `valgrind --tool=callgrind target/release/deps/h1_parse-*`.
//!
//!     cargo bench --bench h1_parse

use sluice_core::http::h1::{
    encode_chunk, encode_last_chunk, parse_request, ChunkedDecoder, Decoded, Headers, ParseOptions,
    Side, Status,
};

fn opts() -> ParseOptions {
    ParseOptions::default()
}

fn main() {
    let raw = b"GET /index.html?q=rust HTTP/1.1\r\nHost: www.example.com\r\n\
Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\
Cookie: session=abc123def456; theme=dark; tracking=0\r\nSec-Fetch-Site: none\r\n\
Sec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\n\r\n";
    let o = opts();
    let iters = 300_000u32;
    let mut sink = 0usize;
    // Warm up.
    for _ in 0..10_000 {
        if let Ok(Status::Complete((h, n))) = parse_request(raw, &o) {
            sink += n + h.headers.len();
        }
    }
    let t = std::time::Instant::now();
    for _ in 0..iters {
        if let Ok(Status::Complete((h, n))) = parse_request(std::hint::black_box(raw), &o) {
            sink += n + h.headers.len();
        }
    }
    let parse_ns = t.elapsed().as_nanos() as f64 / f64::from(iters);
    let mut out = Vec::with_capacity(1024);
    let t = std::time::Instant::now();
    for _ in 0..iters {
        if let Ok(Status::Complete((h, _))) = parse_request(std::hint::black_box(raw), &o) {
            out.clear();
            h.encode(&mut out);
            sink += out.len();
        }
    }
    let both_ns = t.elapsed().as_nanos() as f64 / f64::from(iters);
    // For scale: `httparse` alone on the same bytes.
    let t = std::time::Instant::now();
    for _ in 0..iters {
        let mut slots = [httparse::EMPTY_HEADER; 100];
        let mut r = httparse::Request::new(&mut slots);
        if let Ok(httparse::Status::Complete(n)) = r.parse(std::hint::black_box(raw)) {
            sink += n + r.headers.len();
        }
    }
    let httparse_ns = t.elapsed().as_nanos() as f64 / f64::from(iters);
    // Chunked: 64 chunks of 1000 bytes, payload not copied.
    let mut body = Vec::new();
    for _ in 0..64 {
        encode_chunk(&[b'x'; 1000], &mut body);
    }
    encode_last_chunk(&Headers::new(), &mut body);
    let rounds = 20_000u32;
    let t = std::time::Instant::now();
    for _ in 0..rounds {
        let mut d = ChunkedDecoder::new(Side::Request);
        let input = std::hint::black_box(&body[..]);
        let mut pos = 0;
        while let Ok((what, n)) = d.decode(&input[pos..]) {
            pos += n;
            match what {
                Decoded::Data(s) => sink += s.len(),
                _ => break,
            }
        }
    }
    let chunk_ns = t.elapsed().as_nanos() as f64 / (f64::from(rounds) * 64.0);
    let fields = parse_request(raw, &o).map(|s| match s {
        Status::Complete((h, _)) => h.headers.len(),
        Status::Partial => 0,
    });
    println!(
        "h1: {} byte head, {fields:?} fields: parse {parse_ns:.0} ns (httparse alone {httparse_ns:.0} ns), \
         parse+encode {both_ns:.0} ns; chunked decode {chunk_ns:.1} ns per 1000-byte chunk (sink {sink})",
        raw.len()
    );
}
