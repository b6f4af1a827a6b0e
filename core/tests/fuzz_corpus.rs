// Integration tests run outside the engine: reading files here is fine.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

//! Replays every checked-in fuzz corpus file and every crash file of
//! `fuzz/` through the functions the fuzz targets wrap
//! (`sluice_core::fuzzing`), on stable, without cargo-fuzz.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Files (not READMEs or placeholders) of `fuzz/<kind>/<target>/`.
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with('.') && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

fn replay(target: &str, run: fn(&[u8]), min_corpus: usize) {
    let corpus = inputs("corpus", target);
    assert!(
        corpus.len() >= min_corpus,
        "fuzz/corpus/{target} has {} files, expected at least {min_corpus}",
        corpus.len()
    );
    let regressions = inputs("regressions", target);
    for (path, data) in corpus.iter().chain(&regressions) {
        let outcome = std::panic::catch_unwind(|| run(data));
        assert!(
            outcome.is_ok(),
            "{} fails the {target} invariants",
            path.display()
        );
    }
}

#[test]
fn intdecode_corpus() {
    replay("intdecode", sluice_core::fuzzing::intdecode, 25);
}

#[test]
fn peer_message_corpus() {
    replay("peer_message", sluice_core::fuzzing::peer_message, 100);
}

#[test]
fn peer_handshake_corpus() {
    replay("peer_handshake", sluice_core::fuzzing::peer_handshake, 25);
}

#[test]
fn h1_request_corpus() {
    replay("h1_request", sluice_core::fuzzing::h1_request, 40);
}

#[test]
fn h1_response_corpus() {
    replay("h1_response", sluice_core::fuzzing::h1_response, 15);
}

#[test]
fn proxy_header_corpus() {
    replay("proxy_header", sluice_core::fuzzing::proxy_header, 25);
}

#[test]
fn hpack_decode_corpus() {
    replay("hpack_decode", sluice_core::fuzzing::hpack_decode, 15);
}

#[test]
fn h2_frame_corpus() {
    replay("h2_frame", sluice_core::fuzzing::h2_frame, 15);
}

#[test]
fn h2_mux_corpus() {
    replay("h2_mux", sluice_core::fuzzing::h2_mux, 15);
}

#[test]
fn engine_http_corpus() {
    replay("engine_http", sluice_core::fuzzing::engine_http, 15);
}

#[test]
fn engine_h2_corpus() {
    replay("engine_h2", sluice_core::fuzzing::engine_h2, 8);
}

#[test]
fn engine_tcp_corpus() {
    replay("engine_tcp", sluice_core::fuzzing::engine_tcp, 10);
}

/// ring's provider, as `proxy-mio` and the `engine_tls` fuzz target hand
/// it in.
fn ring() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)] // ring lacks post-quantum kx only
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

fn engine_tls(data: &[u8]) {
    sluice_core::fuzzing::engine_tls(data, ring());
}

#[test]
fn engine_tls_corpus() {
    replay("engine_tls", engine_tls, 10);
}

#[test]
fn client_hello_sni_corpus() {
    replay(
        "client_hello_sni",
        sluice_core::fuzzing::client_hello_sni,
        10,
    );
}

/// The TLS seeds reach what they mean to: a real ClientHello gets the
/// engine's ServerHello flight back, garbage records get an alert and a
/// close, and every connection is logged as a handshake failure or close.
#[test]
fn engine_tls_seeds_reach_the_handshake() {
    use sluice_core::fuzzing::engine_ops::{client_hellos, trace_tls};
    assert_eq!(client_hellos(&ring()).len(), 3, "three canned ClientHellos");
    let read = |name: &str| std::fs::read(fuzz_dir().join("corpus/engine_tls").join(name)).unwrap();
    let mut out = Vec::new();
    trace_tls(&read("hello-then-wait"), ring(), &mut out);
    let text = out.join("\n");
    // The client received the ServerHello flight (at least a ServerHello
    // record), starting with a handshake record.
    let end0 = out
        .iter()
        .find(|l| l.starts_with("end 0 client"))
        .expect("end 0");
    let got: usize = end0
        .split(" received")
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        got > 100,
        "the ServerHello flight reached the client: {end0}"
    );
    assert!(
        end0.contains(r#"\\x16\\x03\\x03"#),
        "a handshake record first: {end0}"
    );
    assert!(
        text.contains("Timeout during SSL handshake"),
        "the stalled handshake timed out: {text}"
    );
    let mut out = Vec::new();
    trace_tls(&read("garbage-record"), ring(), &mut out);
    let text = out.join("\n");
    assert!(text.contains("SSL handshake failure"), "{text}");
}

// ---------------------------------------------------------------------------
// Seeds of the engine targets: hand-made operation sequences that reach deep
// states. `cargo test -p sluice-core --test fuzz_corpus -- --ignored
// write_engine_seeds` rewrites them (the files are checked in).

mod seeds {
    use sluice_core::fuzzing::engine_ops::{encode, Op, Options};

    use Op::*;

    const C0: u8 = 0;
    const S0: u8 = 0;

    fn send_all(c: u8) -> Op {
        ClientSend { c, len: 0 }
    }

    fn respond(s: u8, which: u8) -> [Op; 2] {
        [ServerCanned { s, which }, ServerSend { s, len: 0 }]
    }

    /// A canned request sent whole; the connection it needs is accepted.
    fn request(c: u8, which: u8) -> [Op; 3] {
        [ClientCanned { c, which }, send_all(c), AcceptAll]
    }

    /// Time passes: `ms` milliseconds (rounded down to 64 ms above 127).
    fn ms(ms: u32) -> Op {
        let t = if ms < 128 { ms } else { 127 + ms / 64 };
        Advance {
            t: t.min(254) as u8,
        }
    }

    fn fin_both() -> [Op; 2] {
        [
            ClientClose {
                c: C0,
                reset: false,
            },
            ServerClose {
                s: S0,
                reset: false,
            },
        ]
    }

    fn seed(opts: Options, parts: &[&[Op]]) -> Vec<u8> {
        let ops: Vec<Op> = parts.iter().flat_map(|p| p.iter().cloned()).collect();
        encode(opts, &ops)
    }

    fn plain(parts: &[&[Op]]) -> Vec<u8> {
        seed(Options::default(), parts)
    }

    const CONNECT: Op = Connect {
        listener: 0,
        proxy: 0,
    };

    pub fn http() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                "keep-alive-reuse",
                plain(&[
                    &[CONNECT],
                    &request(C0, 0),
                    &[AcceptAll],
                    &respond(S0, 0),
                    &request(C0, 0),
                    &[AcceptAll],
                    &respond(S0, 1),
                    &[ms(100)],
                    &request(C0, 3),
                    &respond(S0, 0),
                    &fin_both(),
                ]),
            ),
            (
                "chunked-post-bytewise",
                plain(&[
                    &[
                        ReadChunk { size: 1 },
                        CONNECT,
                        ClientCanned { c: C0, which: 4 },
                    ],
                    &[send_all(C0), AcceptAll],
                    &respond(S0, 1),
                    &[ReadChunk { size: 7 }],
                    &request(C0, 4),
                    &respond(S0, 0),
                ]),
            ),
            (
                "expect-100-continue",
                plain(&[
                    &[CONNECT, ClientCanned { c: C0, which: 5 }],
                    &[ClientSend { c: C0, len: 80 }, AcceptAll],
                    &respond(S0, 2),
                    &[send_all(C0)],
                    &respond(S0, 0),
                ]),
            ),
            (
                "websocket-upgrade",
                plain(&[
                    &[CONNECT],
                    &request(C0, 6),
                    &[AcceptAll],
                    &respond(S0, 3),
                    &[ClientRaw {
                        c: C0,
                        bytes: b"\x81\x05hello".to_vec(),
                    }],
                    &[send_all(C0)],
                    &[ServerRaw {
                        s: S0,
                        bytes: b"\x81\x02hi".to_vec(),
                    }],
                    &[ServerSend { s: S0, len: 0 }, ms(200)],
                    &fin_both(),
                ]),
            ),
            (
                "pipelined",
                plain(&[
                    &[CONNECT],
                    &request(C0, 7),
                    &[AcceptAll],
                    &respond(S0, 0),
                    &[AcceptAll],
                    &respond(S0, 1),
                    &[AcceptAll],
                    &respond(S0, 0),
                ]),
            ),
            (
                "response-backpressure",
                plain(&[
                    &[CONNECT],
                    &request(C0, 0),
                    &[AcceptAll, Window { end: 0, size: 10 }],
                    &respond(S0, 9),
                    &[ms(50), Window { end: 0, size: 200 }, ms(50)],
                    &[Window { end: 0, size: 255 }, ms(10)],
                    &request(C0, 0),
                    &respond(S0, 0),
                ]),
            ),
            (
                "request-body-backpressure",
                plain(&[
                    &[CONNECT, ClientCanned { c: C0, which: 12 }],
                    &[ClientSend { c: C0, len: 100 }, AcceptAll],
                    &[Window { end: 1, size: 3 }, send_all(C0), ms(20)],
                    &[Window { end: 1, size: 255 }],
                    &respond(S0, 0),
                ]),
            ),
            (
                "return-deny-rate-limit",
                plain(&[
                    &[CONNECT],
                    &request(C0, 1),
                    &request(C0, 1),
                    &request(C0, 1),
                    &request(C0, 1),
                    &request(C0, 1),
                    &request(C0, 1),
                    &request(C0, 1),
                    &request(C0, 1),
                    &[CONNECT],
                    &request(1, 2),
                ]),
            ),
            (
                "accept-proxy-v1",
                plain(&[
                    &[Connect {
                        listener: 1,
                        proxy: 1,
                    }],
                    &[ClientSend { c: C0, len: 20 }, ClientSend { c: C0, len: 0 }],
                    &request(C0, 0),
                    &[AcceptAll],
                    &respond(S0, 0),
                ]),
            ),
            (
                "accept-proxy-v2-garbage",
                plain(&[
                    &[Connect {
                        listener: 1,
                        proxy: 2,
                    }],
                    &[ClientRaw {
                        c: C0,
                        bytes: b"\r\n\r\nnot a request".to_vec(),
                    }],
                    &[send_all(C0), ms(100)],
                ]),
            ),
            (
                "request-timeout-408",
                plain(&[
                    &[CONNECT, ClientCanned { c: C0, which: 0 }],
                    &[ClientSend { c: C0, len: 10 }, ms(1100)],
                    &[CONNECT],
                    &[ms(200), ms(200)],
                ]),
            ),
            (
                "refused-retries-redispatch",
                plain(&[
                    &[CONNECT],
                    &request(C0, 0),
                    &[ServerConnect { p: 0, how: 2 }, ms(1100)],
                    &[ServerConnect { p: 0, how: 3 }],
                    &[ServerConnect { p: 0, how: 2 }, ms(1100)],
                ]),
            ),
            (
                "server-garbage-502",
                plain(&[
                    &[CONNECT],
                    &request(C0, 0),
                    &[AcceptAll],
                    &respond(S0, 8),
                    &[CONNECT],
                    &request(1, 3),
                    &[AcceptAll],
                    &[ServerClose { s: 1, reset: false }],
                ]),
            ),
            (
                "until-close-response",
                plain(&[
                    &[CONNECT],
                    &request(C0, 0),
                    &[AcceptAll],
                    &respond(S0, 5),
                    &[ServerClose {
                        s: S0,
                        reset: false,
                    }],
                ]),
            ),
            (
                "connect-tunnel",
                plain(&[
                    &[CONNECT],
                    &request(C0, 11),
                    &[AcceptAll],
                    &[ServerRaw {
                        s: S0,
                        bytes: b"HTTP/1.1 200 Connection established\r\n\r\ntunnel".to_vec(),
                    }],
                    &[ServerSend { s: S0, len: 0 }],
                    &[ClientRaw {
                        c: C0,
                        bytes: b"\x16\x03\x01 tls".to_vec(),
                    }],
                    &[send_all(C0), ms(1100)],
                ]),
            ),
            (
                "head-and-304",
                plain(&[
                    &[CONNECT],
                    &request(C0, 8),
                    &[AcceptAll],
                    &respond(S0, 0),
                    &request(C0, 0),
                    &respond(S0, 7),
                    &request(C0, 0),
                    &respond(S0, 10),
                ]),
            ),
            (
                "server-close-backend",
                plain(&[
                    &[CONNECT],
                    &request(C0, 15),
                    &[AcceptAll],
                    &respond(S0, 0),
                    &request(C0, 10),
                    &[AcceptAll],
                    &respond(S0, 11),
                ]),
            ),
            (
                "soft-stop-keep-alive",
                plain(&[
                    &[CONNECT],
                    &request(C0, 0),
                    &[AcceptAll, Stop { hard: false }],
                    &respond(S0, 0),
                    &request(C0, 0),
                    &[ms(1100)],
                ]),
            ),
            (
                "splice-tunnel",
                seed(
                    Options {
                        pool: 0,
                        splice: true,
                    },
                    &[
                        &[CONNECT],
                        &request(C0, 6),
                        &[AcceptAll],
                        &respond(S0, 3),
                        &request(C0, 12),
                        &respond(S0, 9),
                        &fin_both(),
                    ],
                ),
            ),
            (
                "tiny-pool-two-clients",
                seed(
                    Options {
                        pool: 1,
                        splice: false,
                    },
                    &[
                        &[CONNECT, CONNECT],
                        &request(C0, 3),
                        &request(1, 4),
                        &[AcceptAll],
                        &respond(S0, 0),
                        &[AcceptAll],
                        &respond(1, 1),
                        &[ms(1100)],
                    ],
                ),
            ),
            (
                "queue-and-cli",
                plain(&[
                    &[CONNECT, CONNECT, CONNECT, CONNECT],
                    &request(0, 0),
                    &request(1, 0),
                    &request(2, 0),
                    &request(3, 0),
                    &[Cli { cmd: 2 }, Cli { cmd: 4 }, AcceptAll],
                    &respond(S0, 0),
                    &[Cli { cmd: 3 }, Cli { cmd: 5 }, AcceptAll],
                    &respond(1, 0),
                    &[Cli { cmd: 0 }, Cli { cmd: 8 }, ms(1100)],
                ]),
            ),
            (
                "smuggling-and-resets",
                plain(&[
                    &[CONNECT],
                    &request(C0, 13),
                    &[AcceptAll],
                    &respond(S0, 0),
                    &[CONNECT],
                    &request(1, 14),
                    &[CONNECT],
                    &request(2, 3),
                    &[AcceptAll, ClientClose { c: 2, reset: true }],
                    &[ServerClose { s: S0, reset: true }],
                ]),
            ),
            (
                "redirect-rewrite-teapot-big-chunks",
                plain(&[
                    &[CONNECT],
                    &request(C0, 16),
                    &request(C0, 17),
                    &request(C0, 18),
                    &respond(S0, 12),
                    &request(C0, 18),
                    &respond(S0, 0),
                    &[ReadChunk { size: 100 }],
                    &request(C0, 19),
                    &respond(S0, 13),
                ]),
            ),
        ]
    }

    pub fn tcp() -> Vec<(&'static str, Vec<u8>)> {
        let v1 = Connect {
            listener: 1,
            proxy: 1,
        };
        let v2 = Connect {
            listener: 1,
            proxy: 2,
        };
        vec![
            (
                "round-trip-half-closes",
                plain(&[
                    &[CONNECT],
                    &request(C0, 0),
                    &[AcceptAll],
                    &respond(S0, 0),
                    &[
                        ClientClose {
                            c: C0,
                            reset: false,
                        },
                        ms(50),
                    ],
                    &respond(S0, 2),
                    &[ServerClose {
                        s: S0,
                        reset: false,
                    }],
                ]),
            ),
            (
                "accept-proxy-v1-v2",
                plain(&[
                    &[v1.clone(), v2],
                    &[ClientSend { c: 0, len: 5 }, ClientSend { c: 0, len: 0 }],
                    &[ClientSend { c: 1, len: 0 }, AcceptAll],
                    &request(0, 0),
                    &request(1, 1),
                    &respond(0, 0),
                    &respond(1, 1),
                    &[v1],
                ]),
            ),
            (
                "maxconn-queue",
                plain(&[
                    &[CONNECT, CONNECT, CONNECT, CONNECT, CONNECT],
                    &request(0, 0),
                    &request(1, 0),
                    &request(2, 0),
                    &request(3, 0),
                    &[AcceptAll],
                    &[ClientClose { c: 0, reset: false }],
                    &[ServerClose { s: 0, reset: false }, AcceptAll, ms(100)],
                    &[ms(1100)],
                ]),
            ),
            (
                "refused-retries",
                plain(&[
                    &[CONNECT],
                    &request(C0, 0),
                    &[ServerConnect { p: 0, how: 2 }, ms(1100)],
                    &[ServerConnect { p: 0, how: 3 }, ms(10)],
                    &[ServerConnect { p: 0, how: 0 }],
                    &respond(S0, 0),
                ]),
            ),
            (
                "splice-big",
                seed(
                    Options {
                        pool: 0,
                        splice: true,
                    },
                    &[
                        &[CONNECT, AcceptAll],
                        &request(C0, 1),
                        &respond(S0, 1),
                        &[Window { end: 0, size: 100 }],
                        &request(C0, 1),
                        &respond(S0, 1),
                        &[Window { end: 0, size: 255 }],
                        &fin_both(),
                    ],
                ),
            ),
            (
                "backpressure-chunked-reads",
                plain(&[
                    &[ReadChunk { size: 3 }, CONNECT, AcceptAll],
                    &[Window { end: 1, size: 0 }],
                    &request(C0, 1),
                    &[ms(100), Window { end: 1, size: 130 }, ms(100)],
                    &[Window { end: 1, size: 255 }],
                    &respond(S0, 1),
                ]),
            ),
            (
                "client-fin-timeout",
                plain(&[
                    &[CONNECT, AcceptAll],
                    &request(C0, 0),
                    &[
                        ServerClose {
                            s: S0,
                            reset: false,
                        },
                        ms(150),
                    ],
                    &[ms(1100)],
                ]),
            ),
            (
                "tiny-pool",
                seed(
                    Options {
                        pool: 2,
                        splice: false,
                    },
                    &[
                        &[CONNECT, CONNECT, AcceptAll],
                        &request(0, 5),
                        &request(1, 5),
                        &respond(0, 1),
                        &respond(1, 1),
                        &[ms(1100)],
                    ],
                ),
            ),
            (
                "connect-timeout-and-reject",
                plain(&[
                    &[CONNECT, CONNECT, CONNECT],
                    &request(0, 0),
                    &[ms(1100), Cli { cmd: 2 }, Cli { cmd: 6 }],
                    &[CONNECT],
                    &[Stop { hard: false }, AcceptAll, ms(1100)],
                ]),
            ),
            (
                "hard-stop",
                plain(&[
                    &[CONNECT, AcceptAll],
                    &request(C0, 1),
                    &[Stop { hard: true }],
                    &[CONNECT],
                ]),
            ),
        ]
    }
}

/// Engine bugs the fuzzer found, as readable operation sequences (the
/// files in `fuzz/regressions/engine_*` are written from these).
mod found {
    use sluice_core::fuzzing::engine_ops::{encode, Op, Options};

    use Op::*;

    const CONNECT: Op = Connect {
        listener: 0,
        proxy: 0,
    };

    pub fn http() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                // A reset from the server while the client (request sent,
                // write side shut) waits for the response head left the stream
                // with no analyser to answer and no timer armed: the client
                // never got its 502 and the stream leaked.
                "server-reset-before-response",
                encode(
                    Options::default(),
                    &[
                        CONNECT,
                        ClientSend { c: 0, len: 0 },
                        AcceptAll,
                        ClientClose { c: 0, reset: false },
                        ServerClose { s: 0, reset: true },
                    ],
                ),
            ),
            (
                // An error page (here a 408) that found no buffer in the pool
                // aborted the stream after dropping the request head, but left
                // the request analyser on: it parsed the emptied buffer again
                // and tripped `HeadParser fed a shorter buffer`.
                "error-reply-without-buffer",
                encode(
                    Options {
                        pool: 1,
                        splice: false,
                    },
                    &[
                        CONNECT,
                        ClientRaw {
                            c: 0,
                            bytes: b"GET / HTTP/1.1\r\n".to_vec(),
                        },
                        ClientSend { c: 0, len: 0 },
                        CONNECT,
                        ClientCanned { c: 1, which: 0 },
                        ClientSend { c: 1, len: 0 },
                        AcceptAll,
                        Window { end: 1, size: 0 },
                        Advance { t: 100 },
                        ServerCanned { s: 0, which: 0 },
                        ServerSend { s: 0, len: 0 },
                        // 1124 ms: the first client's timeout (1 s after
                        // its bytes) fires before the second one's.
                        Advance { t: 127 + 16 },
                    ],
                ),
            ),
            (
                // A client reset while part of the response head was in:
                // the abort released the response buffer, and the response
                // analyser (still on, to judge the server side) parsed the
                // empty buffer with a parser that had seen 3 bytes.
                "client-reset-during-response-head",
                encode(
                    Options::default(),
                    &[
                        CONNECT,
                        ClientSend { c: 0, len: 0 },
                        AcceptAll,
                        ServerCanned { s: 0, which: 0 },
                        ServerSend { s: 0, len: 3 },
                        ClientClose { c: 0, reset: true },
                    ],
                ),
            ),
            (
                // A 101 answering a request that asked for no upgrade
                // switched the connection to a tunnel: what the client sent
                // next reached the server raw, never analysed (here junk;
                // a request would have passed every rule).
                "unrequested-101-tunnel",
                encode(
                    Options::default(),
                    &[
                        CONNECT,
                        ClientSend { c: 0, len: 0 },
                        AcceptAll,
                        ServerCanned { s: 0, which: 3 },
                        ServerSend { s: 0, len: 0 },
                        ClientRaw {
                            c: 0,
                            bytes: b"\x00\x01junk".to_vec(),
                        },
                        ClientSend { c: 0, len: 0 },
                    ],
                ),
            ),
            (
                // Replies made by the proxy (`return`, `deny`, error pages)
                // carried their body to HEAD requests: on a keep-alive
                // connection the client read "pong" as the start of the
                // next response.
                "head-request-answered-by-return",
                encode(
                    Options::default(),
                    &[
                        CONNECT,
                        ClientRaw {
                            c: 0,
                            bytes: b"HEAD /ping HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
                        },
                        ClientCanned { c: 0, which: 1 },
                        ClientSend { c: 0, len: 0 },
                    ],
                ),
            ),
            (
                // The server answered before the end of the request body
                // was written to it (it had stopped reading): the
                // transaction ended and the unsent body bytes became the
                // next request ("GET /smuggled"), answered on a new server
                // connection: two responses to one request.
                "early-response-unsent-body-read-as-request",
                encode(
                    Options::default(),
                    &[
                        CONNECT,
                        ClientRaw {
                            c: 0,
                            bytes: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\n\r\n"
                                .to_vec(),
                        },
                        ClientSend { c: 0, len: 0 },
                        AcceptAll,
                        Window { end: 1, size: 0 },
                        ClientRaw {
                            c: 0,
                            bytes: b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
                        },
                        ClientSend { c: 0, len: 0 },
                        ServerCanned { s: 0, which: 0 },
                        ServerSend { s: 0, len: 0 },
                        AcceptAll,
                        ServerSend { s: 1, len: 0 },
                    ],
                ),
            ),
            (
                // A hard stop (SIGTERM) closed every connection but left
                // the keep-alive server connections in their idle pools:
                // the pool then named connections that no longer existed.
                "idle-pool-dead-conn",
                encode(
                    Options {
                        pool: 0,
                        splice: false,
                    },
                    &[
                        CONNECT,
                        ClientCanned { c: 0, which: 0 },
                        ClientSend { c: 0, len: 0 },
                        AcceptAll,
                        ServerCanned { s: 0, which: 0 },
                        ServerSend { s: 0, len: 0 },
                        Stop { hard: true },
                    ],
                ),
            ),
            (
                // Not an engine bug: the fuzz client's reader of its own
                // requests stopped at an upgrade request that the server
                // then refused (200, no 101), lost the HEAD after it and
                // read the HEAD's answer as if it had a body.
                // The server stopped reading in the middle of a request
                // while a second stream held the pool's other buffer: its
                // write timeout (not its read timeout) fired first and the
                // data layer closed the server side with nobody to answer
                // the client, so the stream waited for ever. Now a server
                // write timeout before the response is a 504 like a read
                // timeout, and the answer may take the request's buffer.
                "request-write-timeout-unanswered",
                encode(
                    Options {
                        pool: 1,
                        splice: false,
                    },
                    &[
                        CONNECT,
                        CONNECT,
                        ClientSend { c: 1, len: 0 },
                        Window { end: 2, size: 6 },
                        ClientSend { c: 0, len: 0 },
                        ClientSend { c: 0, len: 1 },
                        AcceptAll,
                    ],
                ),
            ),
            (
                "refused-upgrade-then-head",
                encode(
                    Options::default(),
                    &[
                        CONNECT,
                        ClientCanned { c: 0, which: 6 },
                        ClientCanned { c: 0, which: 17 },
                        ClientCanned { c: 0, which: 0 },
                        ClientSend { c: 0, len: 0 },
                        AcceptAll,
                        ServerCanned { s: 0, which: 0 },
                        ServerSend { s: 0, len: 0 },
                        AcceptAll,
                        ServerCanned { s: 1, which: 0 },
                        ServerSend { s: 1, len: 0 },
                        ServerCanned { s: 0, which: 0 },
                        ServerSend { s: 0, len: 0 },
                    ],
                ),
            ),
        ]
    }

    pub fn tcp() -> Vec<(&'static str, Vec<u8>)> {
        vec![(
            // A server that half-closed and stopped reading, while the
            // client had more to send than the buffer holds: once the
            // client side timed out, no timer was left and the stream
            // (with its server connection and buffer) lived for ever.
            "server-stops-reading",
            encode(
                Options::default(),
                &[
                    CONNECT,
                    AcceptAll,
                    Window { end: 1, size: 0 },
                    ClientCanned { c: 0, which: 1 },
                    ClientSend { c: 0, len: 0 },
                    ServerClose { s: 0, reset: false },
                ],
            ),
        )]
    }
}

#[test]
fn engine_regressions_pass() {
    for (name, data) in found::http() {
        let outcome = std::panic::catch_unwind(|| sluice_core::fuzzing::engine_http(&data));
        assert!(outcome.is_ok(), "engine_http regression {name}");
    }
    for (name, data) in found::tcp() {
        let outcome = std::panic::catch_unwind(|| sluice_core::fuzzing::engine_tcp(&data));
        assert!(outcome.is_ok(), "engine_tcp regression {name}");
    }
}

#[test]
#[ignore = "writes fuzz/corpus/engine_* and fuzz/regressions/engine_*; run by hand after changing them"]
fn write_engine_seeds() {
    let sets = [
        ("corpus", "engine_http", seeds::http()),
        ("corpus", "engine_tcp", seeds::tcp()),
        ("regressions", "engine_http", found::http()),
        ("regressions", "engine_tcp", found::tcp()),
    ];
    for (kind, target, files) in sets {
        let dir = fuzz_dir().join(kind).join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in files {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}

/// The seeds run as they are written (the corpus files may lag behind).
#[test]
fn engine_seeds_pass() {
    for (name, data) in seeds::http() {
        let outcome = std::panic::catch_unwind(|| sluice_core::fuzzing::engine_http(&data));
        assert!(outcome.is_ok(), "engine_http seed {name}");
    }
    for (name, data) in seeds::tcp() {
        let outcome = std::panic::catch_unwind(|| sluice_core::fuzzing::engine_tcp(&data));
        assert!(outcome.is_ok(), "engine_tcp seed {name}");
    }
}

/// Prints what an engine input does:
/// `FUZZ_TRACE=fuzz/corpus/engine_http/pipelined cargo test -p sluice-core
/// --test fuzz_corpus -- --ignored trace_engine_input --nocapture`
/// (the target is taken from the path; `engine_tcp` unless it names `http`).
#[test]
#[ignore = "a debugging aid: set FUZZ_TRACE to an input file"]
fn trace_engine_input() {
    use sluice_core::fuzzing::engine_ops::{trace, Target};
    let path = std::env::var("FUZZ_TRACE").expect("FUZZ_TRACE=<input file>");
    // Relative paths are from the repository root.
    let data = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&path)).unwrap();
    let target = if path.contains("http") {
        Target::Http
    } else {
        Target::Tcp
    };
    let mut out = Vec::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        trace(target, &data, &mut out)
    }));
    for line in &out {
        println!("{line}");
    }
    assert!(r.is_ok(), "the input fails");
}

#[test]
fn dns_response_corpus() {
    replay("dns_response", sluice_core::fuzzing::dns_response, 4);
}

#[test]
fn pattern_file_corpus() {
    replay("pattern_file", sluice_core::fuzzing::pattern_file, 6);
}
