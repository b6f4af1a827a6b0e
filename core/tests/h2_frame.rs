//! The HTTP/2 frame codec (`sluice_core::http::h2::frame`): every error path
//! with the scope and code RFC 9113 gives it, and encode/decode round trips.

use sluice_core::http::h2::frame::{
    check_preface, encode_field_block, flags, ErrorCode, Frame, FrameDecoder, FrameHeader,
    FrameType, H2Error, Priority, Role, SettingId, Settings, Status, FRAME_HEADER_LEN, PREFACE,
};

fn raw(kind: u8, fl: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    FrameHeader {
        len: payload.len() as u32,
        kind: FrameType(kind),
        flags: fl,
        stream_id: sid,
    }
    .encode(&mut v);
    v.extend_from_slice(payload);
    v
}

/// A decoder past the peer's first SETTINGS frame.
fn ready(role: Role) -> FrameDecoder {
    let mut d = FrameDecoder::new(role);
    let s = raw(4, 0, 0, &[]);
    match d.decode(&s) {
        Status::Complete((Ok(Frame::Settings { ack: false, .. }), 9)) => {}
        other => panic!("{other:?}"),
    }
    d
}

fn decode_one(d: &mut FrameDecoder, bytes: &[u8]) -> Result<Frame<'static>, H2Error> {
    let bytes: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
    match d.decode(bytes) {
        Status::Complete((res, n)) => {
            if res.is_ok() || matches!(res, Err(H2Error::Stream { .. })) {
                assert_eq!(n, bytes.len(), "the whole frame is consumed");
            }
            res
        }
        Status::Partial => panic!("partial"),
    }
}

fn conn(code: ErrorCode) -> impl Fn(&Result<Frame<'_>, H2Error>) -> bool {
    move |r| matches!(r, Err(H2Error::Connection { code: c, .. }) if *c == code)
}

fn stream(sid: u32, code: ErrorCode) -> impl Fn(&Result<Frame<'_>, H2Error>) -> bool {
    move |r| matches!(r, Err(H2Error::Stream { stream_id, code: c, .. }) if *c == code && *stream_id == sid)
}

/// Every single-frame error: `(RFC section, role, bytes, expected)`.
#[test]
fn every_malformed_frame_gets_the_rfc_error() {
    use ErrorCode as E;
    let prio_self = [0, 0, 0, 1, 15];
    type Check = Box<dyn Fn(&Result<Frame<'_>, H2Error>) -> bool>;
    let cases: Vec<(&str, Role, Vec<u8>, Check)> = vec![
        (
            "§4.2 frame above SETTINGS_MAX_FRAME_SIZE",
            Role::Server,
            raw(0, 0, 1, &[0; 16385]),
            Box::new(conn(E::FRAME_SIZE_ERROR)),
        ),
        (
            "§6.1 DATA on stream 0",
            Role::Server,
            raw(0, 0, 0, b"x"),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.1 DATA padding = payload length",
            Role::Server,
            raw(0, flags::PADDED, 1, &[4, 0, 0, 0]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.1 DATA PADDED, no pad length",
            Role::Server,
            raw(0, flags::PADDED, 1, &[]),
            Box::new(conn(E::FRAME_SIZE_ERROR)),
        ),
        (
            "§6.2 HEADERS on stream 0",
            Role::Server,
            raw(1, 4, 0, &[0x82]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.2 HEADERS padding too long",
            Role::Server,
            raw(1, 4 | flags::PADDED, 1, &[2, 0x82]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§4.2 HEADERS too short for priority",
            Role::Server,
            raw(1, 4 | flags::PRIORITY, 1, &[0, 0, 0]),
            Box::new(conn(E::FRAME_SIZE_ERROR)),
        ),
        (
            "§6.3 PRIORITY on stream 0",
            Role::Server,
            raw(2, 0, 0, &[0, 0, 0, 1, 15]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.3 PRIORITY not 5 bytes: stream error",
            Role::Server,
            raw(2, 0, 3, &[0, 0, 0, 1]),
            Box::new(stream(3, E::FRAME_SIZE_ERROR)),
        ),
        (
            "§5.3.1 PRIORITY self-dependency: stream error",
            Role::Server,
            raw(2, 0, 1, &prio_self),
            Box::new(stream(1, E::PROTOCOL_ERROR)),
        ),
        (
            "§6.4 RST_STREAM on stream 0",
            Role::Server,
            raw(3, 0, 0, &[0, 0, 0, 8]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.4 RST_STREAM not 4 bytes",
            Role::Server,
            raw(3, 0, 1, &[0, 0, 8]),
            Box::new(conn(E::FRAME_SIZE_ERROR)),
        ),
        (
            "§6.5 SETTINGS on a stream",
            Role::Server,
            raw(4, 0, 1, &[]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.5 SETTINGS ACK with payload",
            Role::Server,
            raw(4, flags::ACK, 0, &[0, 3, 0, 0, 0, 1]),
            Box::new(conn(E::FRAME_SIZE_ERROR)),
        ),
        (
            "§6.5 SETTINGS length not a multiple of 6",
            Role::Server,
            raw(4, 0, 0, &[0, 3, 0, 0, 1]),
            Box::new(conn(E::FRAME_SIZE_ERROR)),
        ),
        (
            "§6.5.2 ENABLE_PUSH 2",
            Role::Server,
            raw(4, 0, 0, &[0, 2, 0, 0, 0, 2]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.5.2 ENABLE_PUSH 1 from a server",
            Role::Client,
            raw(4, 0, 0, &[0, 2, 0, 0, 0, 1]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.5.2 INITIAL_WINDOW_SIZE 2^31",
            Role::Server,
            raw(4, 0, 0, &[0, 4, 0x80, 0, 0, 0]),
            Box::new(conn(E::FLOW_CONTROL_ERROR)),
        ),
        (
            "§6.5.2 MAX_FRAME_SIZE 16383",
            Role::Server,
            raw(4, 0, 0, &[0, 5, 0, 0, 0x3f, 0xff]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.5.2 MAX_FRAME_SIZE 2^24",
            Role::Server,
            raw(4, 0, 0, &[0, 5, 1, 0, 0, 0]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "RFC 8441 §3 ENABLE_CONNECT_PROTOCOL 2",
            Role::Client,
            raw(4, 0, 0, &[0, 8, 0, 0, 0, 2]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "RFC 9218 §2.1 NO_RFC7540_PRIORITIES 2",
            Role::Client,
            raw(4, 0, 0, &[0, 9, 0, 0, 0, 2]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§8.4 PUSH_PROMISE to a server",
            Role::Server,
            raw(5, 4, 1, &[0, 0, 0, 2, 0x82]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.6 PUSH_PROMISE with push disabled",
            Role::Client,
            raw(5, 4, 1, &[0, 0, 0, 2, 0x82]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.7 PING on a stream",
            Role::Server,
            raw(6, 0, 1, &[0; 8]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.7 PING not 8 bytes",
            Role::Server,
            raw(6, 0, 0, &[0; 7]),
            Box::new(conn(E::FRAME_SIZE_ERROR)),
        ),
        (
            "§6.8 GOAWAY on a stream",
            Role::Server,
            raw(7, 0, 1, &[0; 8]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§4.2 GOAWAY shorter than 8 bytes",
            Role::Server,
            raw(7, 0, 0, &[0; 7]),
            Box::new(conn(E::FRAME_SIZE_ERROR)),
        ),
        (
            "§6.9 WINDOW_UPDATE not 4 bytes",
            Role::Server,
            raw(8, 0, 1, &[0, 0, 1]),
            Box::new(conn(E::FRAME_SIZE_ERROR)),
        ),
        (
            "§6.9 WINDOW_UPDATE 0 on the connection",
            Role::Server,
            raw(8, 0, 0, &[0; 4]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.9 WINDOW_UPDATE 0 on a stream: stream error",
            Role::Server,
            raw(8, 0, 5, &[0x80, 0, 0, 0]),
            Box::new(stream(5, E::PROTOCOL_ERROR)),
        ),
        (
            "§6.10 CONTINUATION outside a field block",
            Role::Server,
            raw(9, 4, 1, &[0x82]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
        (
            "§6.10 CONTINUATION on stream 0",
            Role::Server,
            raw(9, 4, 0, &[0x82]),
            Box::new(conn(E::PROTOCOL_ERROR)),
        ),
    ];
    for (what, role, bytes, check) in &cases {
        let got = decode_one(&mut ready(*role), bytes);
        assert!(check(&got), "{what}: got {got:?}");
    }
}

#[test]
fn headers_self_dependency_keeps_the_field_block() {
    // §5.3.1 makes it a stream error, and §4.3 still wants the block
    // decoded: the frame comes back with its fragment and the error.
    let mut d = ready(Role::Server);
    let f = decode_one(
        &mut d,
        &raw(1, 4 | flags::PRIORITY, 3, &[0, 0, 0, 3, 15, 0x82]),
    );
    match f {
        Ok(Frame::Headers {
            fragment,
            error: Some(e),
            ..
        }) => {
            assert_eq!(fragment, [0x82]);
            assert!(matches!(
                e,
                H2Error::Stream {
                    stream_id: 3,
                    code: ErrorCode::PROTOCOL_ERROR,
                    ..
                }
            ));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn preface_and_first_settings() {
    // §3.4: the preface byte by byte, then a wrong byte.
    for n in 0..PREFACE.len() {
        assert_eq!(check_preface(&PREFACE[..n]), Ok(Status::Partial));
    }
    let mut buf = PREFACE.to_vec();
    buf.extend(raw(4, 0, 0, &[]));
    assert_eq!(check_preface(&buf), Ok(Status::Complete(24)));
    assert!(check_preface(b"GET / HTTP/1.1\r\n").is_err());
    assert!(check_preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r").is_err());
    // §3.4: the first frame must be SETTINGS (not an ACK), for both roles.
    for role in [Role::Server, Role::Client] {
        for first in [
            raw(6, 0, 0, &[0; 8]),
            raw(4, flags::ACK, 0, &[]),
            raw(0xfa, 0, 0, &[]),
        ] {
            let r = decode_one(&mut FrameDecoder::new(role), &first);
            assert!(conn(ErrorCode::PROTOCOL_ERROR)(&r), "{role:?}: {r:?}");
        }
    }
}

#[test]
fn field_block_sequencing_and_bound() {
    use ErrorCode as E;
    let headers = raw(1, 0, 1, &[0x82]);
    // §6.10: any other frame inside a field block, an unknown type too
    // (§5.5), or a CONTINUATION on another stream.
    for inside in [
        raw(6, 0, 0, &[0; 8]),
        raw(0xfa, 0, 0, &[]),
        raw(9, 4, 3, &[0x84]),
        raw(0, 0, 1, b"x"),
    ] {
        let mut d = ready(Role::Server);
        assert!(decode_one(&mut d, &headers).is_ok());
        assert!(d.in_field_block());
        let r = decode_one(&mut d, &inside);
        assert!(conn(E::PROTOCOL_ERROR)(&r), "{r:?}");
    }
    // HEADERS, CONTINUATION, CONTINUATION(END_HEADERS), then anything.
    let mut d = ready(Role::Server);
    assert!(decode_one(&mut d, &headers).is_ok());
    assert!(decode_one(&mut d, &raw(9, 0, 1, &[0x84])).is_ok());
    assert!(matches!(
        decode_one(&mut d, &raw(9, 4, 1, &[0x86])),
        Ok(Frame::Continuation {
            end_headers: true,
            ..
        })
    ));
    assert!(!d.in_field_block());
    assert!(decode_one(&mut d, &raw(6, 0, 0, &[0; 8])).is_ok());
    // CVE-2024-27316: a flood of empty CONTINUATION frames hits the bound
    // (9 bytes each) and ends the connection with ENHANCE_YOUR_CALM.
    let mut d = ready(Role::Server);
    d.set_max_field_block(1000);
    assert!(decode_one(&mut d, &headers).is_ok());
    let empty = raw(9, 0, 1, &[]);
    let mut n = 0;
    let err = loop {
        match decode_one(&mut d, &empty) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 1000, "no bound");
    };
    // HEADERS counts 9 + 1 bytes, each CONTINUATION 9.
    assert_eq!(n, (1000 - 10) / 9);
    assert_eq!(err.code(), E::ENHANCE_YOUR_CALM);
    assert!(matches!(err, H2Error::Connection { .. }));
}

#[test]
fn frame_size_checked_before_the_payload_arrives() {
    // §4.2: a 16 MB frame header is refused at once, nothing buffered.
    let mut d = ready(Role::Server);
    let h = raw(0, 0, 1, &[]);
    let mut big = h.clone();
    big[..3].copy_from_slice(&[0xff, 0xff, 0xff]);
    match d.decode(&big) {
        Status::Complete((Err(e), _)) => assert_eq!(e.code(), ErrorCode::FRAME_SIZE_ERROR),
        other => panic!("{other:?}"),
    }
    // Raised SETTINGS_MAX_FRAME_SIZE: 16385 bytes are fine, and partial.
    let mut d = ready(Role::Server);
    d.set_max_frame_size(1 << 20);
    let f = raw(0, 0, 1, &vec![7; 16385]);
    assert_eq!(d.decode(&f[..100]), Status::Partial);
    assert_eq!(d.decode(&f[..8]), Status::Partial);
    assert!(matches!(
        decode_one(&mut d, &f),
        Ok(Frame::Data {
            flow_len: 16385,
            ..
        })
    ));
}

#[test]
fn unknown_types_and_flags_are_ignored() {
    // §4.1, §5.5: an unknown type decodes to Unknown (to be discarded);
    // undefined flags and the reserved bit are ignored.
    let mut d = ready(Role::Server);
    let r = decode_one(&mut d, &raw(0xfa, 0xff, 0x8000_0007, b"ext"));
    assert_eq!(
        r,
        Ok(Frame::Unknown {
            kind: FrameType(0xfa),
            flags: 0xff,
            stream_id: 7,
            payload: b"ext"
        })
    );
    let r = decode_one(&mut d, &raw(6, 0xfe, 0, &[1; 8]));
    assert_eq!(
        r,
        Ok(Frame::Ping {
            ack: false,
            data: [1; 8]
        })
    );
    // Unknown settings are ignored (§6.5.2) but kept in the iteration.
    let r = decode_one(
        &mut d,
        &raw(
            4,
            0,
            0,
            &[0, 0x42, 0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0, 0, 100],
        ),
    );
    let Ok(Frame::Settings { ack: false, params }) = r else {
        panic!("{r:?}")
    };
    let mut s = Settings::default();
    s.apply(params);
    assert_eq!(s.max_concurrent_streams, Some(100));
    assert_eq!(params.iter().count(), 2);
}

#[test]
fn encoders_round_trip() {
    let prio = Priority {
        exclusive: true,
        dependency: 5,
        weight: 200,
    };
    let frames = [
        Frame::Data {
            stream_id: 1,
            end_stream: true,
            data: b"hello",
            pad_len: Some(3),
            flow_len: 9,
        },
        Frame::Data {
            stream_id: 1,
            end_stream: false,
            data: b"",
            pad_len: None,
            flow_len: 0,
        },
        Frame::Headers {
            stream_id: 3,
            end_stream: false,
            end_headers: true,
            priority: Some(prio),
            fragment: &[0x82, 0x84],
            pad_len: Some(0),
            error: None,
        },
        Frame::Priority {
            stream_id: 7,
            priority: prio,
        },
        Frame::RstStream {
            stream_id: 9,
            code: ErrorCode(0x1234),
        },
        Frame::Ping {
            ack: true,
            data: *b"12345678",
        },
        Frame::GoAway {
            last_stream_id: 11,
            code: ErrorCode::ENHANCE_YOUR_CALM,
            debug: b"calm",
        },
        Frame::WindowUpdate {
            stream_id: 0,
            increment: (1 << 31) - 1,
        },
        Frame::Unknown {
            kind: FrameType(0x20),
            flags: 3,
            stream_id: 2,
            payload: b"?",
        },
    ];
    let mut d = ready(Role::Client);
    for f in frames {
        let mut v = Vec::new();
        f.encode(&mut v);
        assert_eq!(v.len(), FRAME_HEADER_LEN + f.payload_len());
        assert_eq!(decode_one(&mut d, &v), Ok(f));
    }
    // Settings: the non-default values, applied back.
    let s = Settings {
        enable_push: false,
        max_frame_size: 1 << 20,
        initial_window_size: 1 << 30,
        max_header_list_size: Some(8192),
        enable_connect_protocol: true,
        ..Settings::default()
    };
    let mut v = Vec::new();
    s.encode(&mut v);
    let Ok(Frame::Settings { params, .. }) = decode_one(&mut ready(Role::Server), &v) else {
        panic!()
    };
    assert_eq!(params.len(), 5);
    let mut back = Settings::default();
    back.apply(params);
    assert_eq!(back, s);
    assert!(params.iter().any(|p| p == (SettingId::ENABLE_PUSH, 0)));
}

#[test]
fn field_block_split_into_continuations() {
    // §4.3: a block above the peer's frame size goes out as HEADERS then
    // CONTINUATION frames, END_HEADERS on the last, END_STREAM on HEADERS.
    let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    let mut v = Vec::new();
    encode_field_block(5, &block, true, 16_384, &mut v);
    let mut d = ready(Role::Client);
    let mut pos = 0;
    let mut got = Vec::new();
    let mut kinds = Vec::new();
    while pos < v.len() {
        let Status::Complete((Ok(f), n)) = d.decode(&v[pos..]) else {
            panic!()
        };
        match f {
            Frame::Headers {
                fragment,
                end_stream,
                end_headers,
                ..
            } => {
                assert!(end_stream);
                kinds.push(("H", end_headers));
                got.extend_from_slice(fragment);
            }
            Frame::Continuation {
                fragment,
                end_headers,
                ..
            } => {
                kinds.push(("C", end_headers));
                got.extend_from_slice(fragment);
            }
            other => panic!("{other:?}"),
        }
        pos += n;
    }
    assert_eq!(got, block);
    assert_eq!(kinds, [("H", false), ("C", false), ("C", true)]);
    // A small block is one HEADERS with END_HEADERS.
    let mut v = Vec::new();
    encode_field_block(5, &[0x82], false, 16_384, &mut v);
    assert_eq!(v, raw(1, flags::END_HEADERS, 5, &[0x82]));
}

#[test]
fn padding_boundaries() {
    // §6.1: padding one byte short of the payload leaves empty data.
    let mut d = ready(Role::Server);
    let r = decode_one(
        &mut d,
        &raw(0, flags::PADDED | flags::END_STREAM, 1, &[3, 0, 0, 0]),
    );
    assert_eq!(
        r,
        Ok(Frame::Data {
            stream_id: 1,
            end_stream: true,
            data: b"",
            pad_len: Some(3),
            flow_len: 4
        })
    );
    // HEADERS with padding and priority: the fragment is what is between.
    let r = decode_one(
        &mut d,
        &raw(
            1,
            4 | flags::PADDED | flags::PRIORITY,
            3,
            &[1, 0, 0, 0, 1, 9, 0x82, 0],
        ),
    );
    let Ok(Frame::Headers {
        fragment,
        priority: Some(p),
        pad_len: Some(1),
        error: None,
        ..
    }) = r
    else {
        panic!("{r:?}")
    };
    assert_eq!((fragment, p.dependency, p.weight), (&[0x82][..], 1, 9));
    // Priority fields eaten by the padding: too short.
    let r = decode_one(
        &mut d,
        &raw(
            1,
            4 | flags::PADDED | flags::PRIORITY,
            3,
            &[2, 0, 0, 0, 1, 9],
        ),
    );
    assert_eq!(r.unwrap_err().code(), ErrorCode::FRAME_SIZE_ERROR);
}
