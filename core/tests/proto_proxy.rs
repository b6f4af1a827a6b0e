// Integration tests run outside the engine: reading the corpus files is fine.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

//! The PROXY protocol codec (`sluice_core::conn::proxy_hdr`): every example of
//! HAProxy's `doc/proxy-protocol.txt`, bytes captured from HAProxy 2.6
//! (`send-proxy`, `send-proxy-v2`, health checks), v1 strictness, every v2
//! TLV, CRC32C, push-style consistency, and property tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use sluice_core::conn::proxy_hdr::{
    encode_v1, encode_v2, parse, Command, Family, Protocol, ProxyError, ProxyHeader, SslClient,
    SslTlv, Status, SubTlv, Tlv, Transport, V1Error, Version, DEFAULT_MAX_V2_LEN, V1_MAX_LEN,
    V2_MAX_LEN, V2_SIGNATURE,
};

type Parsed = Result<Status<(ProxyHeader, usize)>, ProxyError>;

fn p(data: &[u8]) -> Parsed {
    parse(data, DEFAULT_MAX_V2_LEN)
}

fn complete(data: &[u8]) -> (ProxyHeader, usize) {
    match p(data) {
        Ok(Status::Complete(c)) => c,
        other => panic!("{:?} -> {other:?}", data.escape_ascii().to_string()),
    }
}

fn err(data: &[u8]) -> ProxyError {
    match p(data) {
        Err(e) => e,
        other => panic!("{:?} -> {other:?}", data.escape_ascii().to_string()),
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Feeds `data` one more byte at a time, as a receiver would, until the
/// parser decides; the answer must be the one-shot answer, and every
/// earlier prefix must have been `Partial`.
fn fed_byte_by_byte(data: &[u8], max: usize) -> Parsed {
    let whole = parse(data, max);
    for cut in 0..=data.len() {
        let r = parse(&data[..cut], max);
        match r {
            Ok(Status::Partial) if cut < data.len() => continue,
            r => {
                assert_eq!(r, whole, "after {cut} of {} bytes", data.len());
                return r;
            }
        }
    }
    whole
}

// ------------------------------------------------------- v1: the spec

#[test]
fn spec_v1_example_before_http_request() {
    let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    let mut data = line.to_vec();
    data.extend_from_slice(b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n");
    let (h, n) = complete(&data);
    assert_eq!(n, line.len(), "the request is left for the next layer");
    assert_eq!(h.version, Version::V1);
    assert_eq!(h.command, Command::Proxy);
    assert_eq!(h.transport, Transport::TCP4);
    assert_eq!(h.src, Some(sa("192.168.0.1:56324")));
    assert_eq!(h.dst, Some(sa("192.168.0.11:443")));
    assert_eq!(
        h.addresses(),
        Some((sa("192.168.0.1:56324"), sa("192.168.0.11:443")))
    );
    assert!(h.tlvs.is_empty());
}

#[test]
fn spec_v1_maximum_lengths() {
    // The four lines of spec §2.1 with their stated lengths.
    let tcp4 = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    assert_eq!(tcp4.len(), 56);
    assert_eq!(complete(tcp4).1, 56);
    let f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let tcp6 = format!("PROXY TCP6 {f} {f} 65535 65535\r\n");
    assert_eq!(tcp6.len(), 104);
    let (h, n) = complete(tcp6.as_bytes());
    assert_eq!(n, 104);
    assert_eq!(
        h.src,
        Some(SocketAddr::new(
            IpAddr::V6(Ipv6Addr::from(u128::MAX)),
            65535
        ))
    );
    let short = b"PROXY UNKNOWN\r\n";
    assert_eq!(short.len(), 15);
    assert_eq!(complete(short).1, 15);
    let worst = format!("PROXY UNKNOWN {f} {f} 65535 65535\r\n");
    assert_eq!(worst.len(), V1_MAX_LEN);
    let (h, n) = complete(worst.as_bytes());
    assert_eq!(
        (n, h.transport, h.addresses()),
        (107, Transport::UNSPEC, None)
    );
}

#[test]
fn v1_unknown_keeps_real_addresses() {
    for line in [
        &b"PROXY UNKNOWN\r\n"[..],
        b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY UNKNOWN anything at all \x01\x7f\r\n",
    ] {
        let (h, n) = complete(line);
        assert_eq!(n, line.len());
        assert_eq!(h.command, Command::Proxy);
        assert_eq!(h.transport, Transport::UNSPEC);
        assert_eq!(h.addresses(), None, "use the connection's own addresses");
    }
}

#[test]
fn v1_too_long() {
    // 107 bytes without CRLF: rejected, the 108th byte is never needed.
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(V1_MAX_LEN, b'x');
    assert_eq!(err(&line), ProxyError::TooLong);
    assert_eq!(p(&line[..106]), Ok(Status::Partial));
    // The CRLF at 108: too late.
    line.truncate(106);
    line.extend_from_slice(b"\r\n");
    assert_eq!(line.len(), 108);
    assert_eq!(err(&line), ProxyError::TooLong);
    // At 107: fine.
    line.remove(20);
    assert_eq!(complete(&line).1, 107);
}

#[test]
fn v1_ipv6_forms() {
    let (h, _) = complete(b"PROXY TCP6 2001:db8::1 ::ffff:192.0.2.7 65535 0\r\n");
    assert_eq!(h.transport, Transport::TCP6);
    assert_eq!(h.src, Some(sa("[2001:db8::1]:65535")));
    assert_eq!(h.dst, Some(sa("[::ffff:192.0.2.7]:0")));
    // Upper case and uncompressed forms are fine.
    let (h, _) = complete(b"PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 2\r\n");
    assert_eq!(h.src, Some(sa("[2001:db8::1]:1")));
}

#[test]
fn v1_strictness() {
    use V1Error::*;
    let cases: &[(&[u8], ProxyError)] = &[
        // Spacing: exactly one space between fields, none at the end.
        (
            b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::BadV1Line(Spacing),
        ),
        (
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::BadV1Line(Spacing),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
            ProxyError::BadV1Line(Spacing),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            ProxyError::BadV1Line(Spacing),
        ),
        (b"PROXY TCP4\r\n", ProxyError::BadV1Line(Spacing)),
        (
            b"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::BadSignature,
        ),
        // Protocol names are exact.
        (
            b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::BadV1Line(Protocol),
        ),
        (
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::BadV1Line(Protocol),
        ),
        (b"PROXY UNKNOWNX\r\n", ProxyError::BadV1Line(Protocol)),
        (
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::BadV1Line(Protocol),
        ),
        // Addresses: canonical, and in the announced family.
        (
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
            ProxyError::BadV1Line(SrcAddr),
        ),
        (
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            ProxyError::BadV1Line(SrcAddr),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n",
            ProxyError::BadV1Line(DstAddr),
        ),
        (
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            ProxyError::BadV1Line(SrcAddr),
        ),
        (
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            ProxyError::BadV1Line(SrcAddr),
        ),
        (
            b"PROXY TCP6 ::1 1::2::3 1 2\r\n",
            ProxyError::BadV1Line(DstAddr),
        ),
        (
            b"PROXY TCP6 ::1%eth0 ::1 1 2\r\n",
            ProxyError::BadV1Line(SrcAddr),
        ),
        // Ports: 0..=65535, no leading zero, no sign.
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            ProxyError::BadV1Line(SrcPort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            ProxyError::BadV1Line(SrcPort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n",
            ProxyError::BadV1Line(DstPort),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n",
            ProxyError::BadV1Line(DstPort),
        ),
        // Line ends: CRLF and nothing else.
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            ProxyError::BadV1Line(LineEnd),
        ),
        (b"PROXY UNKNOWN\n", ProxyError::BadV1Line(LineEnd)),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
            ProxyError::BadV1Line(LineEnd),
        ),
        (b"PROXY UNKNOWN\rX", ProxyError::BadV1Line(LineEnd)),
        (
            b"PROXY UNKNOWN foo\nbar\r\n",
            ProxyError::BadV1Line(LineEnd),
        ),
        (
            b"PROXY UNKNOWN foo\rbar\r\n",
            ProxyError::BadV1Line(LineEnd),
        ),
        // Not a PROXY line at all.
        (b"GET / HTTP/1.1\r\n", ProxyError::BadSignature),
        (b"PROXZ TCP4", ProxyError::BadSignature),
    ];
    for (line, want) in cases {
        assert_eq!(
            fed_byte_by_byte(line, DEFAULT_MAX_V2_LEN),
            Err(*want),
            "{}",
            line.escape_ascii()
        );
    }
    // The edges that are fine.
    let (h, _) = complete(b"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
    assert_eq!(h.src, Some(sa("0.0.0.0:0")));
    assert_eq!(h.dst, Some(sa("255.255.255.255:65535")));
}

#[test]
fn v1_early_rejection() {
    // No need to wait for the CRLF to know these are wrong.
    assert_eq!(err(b"G"), ProxyError::BadSignature);
    assert_eq!(err(b"PROXY X"), ProxyError::BadV1Line(V1Error::Protocol));
    assert_eq!(
        err(b"PROXY TCP4 1.2.3.4.5.6.7.8.9.10"),
        ProxyError::BadV1Line(V1Error::SrcAddr)
    );
    assert_eq!(
        err(b"PROXY TCP4 1.2.3.4 5.6.7.8 123456"),
        ProxyError::BadV1Line(V1Error::SrcPort)
    );
    assert_eq!(
        err(b"PROXY TCP4 1.2.3.4 5.6.7.8 00"),
        ProxyError::BadV1Line(V1Error::SrcPort)
    );
    assert_eq!(p(b"PROXY TCP4 1.2.3.4 5.6.7.8 0"), Ok(Status::Partial));
    assert_eq!(p(b"PROX"), Ok(Status::Partial));
    assert_eq!(p(b"PROXY TCP6 ::1 ::1 1 2\r"), Ok(Status::Partial));
    assert_eq!(p(b""), Ok(Status::Partial));
}

// ------------------------------------------------------- v2: the spec

fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.push(ver_cmd);
    h.push(fam);
    h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    h.extend_from_slice(body);
    h
}

fn inet_block() -> Vec<u8> {
    // 192.0.2.1:56324 -> 198.51.100.2:443
    hex("c0000201 c6336402 dc04 01bb")
}

fn inet6_block() -> Vec<u8> {
    hex("20010db8000000000000000000000001 20010db8000000000000000000000002 1f90 0050")
}

#[test]
fn spec_v2_protocol_bytes() {
    // Every "expected protocol byte" of spec §2.2, under PROXY.
    let (h, n) = complete(&v2(0x21, 0x11, &inet_block()));
    assert_eq!(
        (h.version, h.command, h.transport, n),
        (Version::V2, Command::Proxy, Transport::TCP4, 28)
    );
    assert_eq!(h.src, Some(sa("192.0.2.1:56324")));
    assert_eq!(h.dst, Some(sa("198.51.100.2:443")));

    let (h, _) = complete(&v2(0x21, 0x12, &inet_block()));
    assert_eq!(
        h.transport,
        Transport {
            family: Family::Inet,
            protocol: Protocol::Dgram
        }
    );
    assert_eq!(h.src, Some(sa("192.0.2.1:56324")));

    let (h, n) = complete(&v2(0x21, 0x21, &inet6_block()));
    assert_eq!((h.transport, n), (Transport::TCP6, 52));
    assert_eq!(h.src, Some(sa("[2001:db8::1]:8080")));
    assert_eq!(h.dst, Some(sa("[2001:db8::2]:80")));

    let (h, _) = complete(&v2(0x21, 0x22, &inet6_block()));
    assert_eq!(h.transport.protocol, Protocol::Dgram);

    for fam in [0x31, 0x32] {
        let mut block = vec![0u8; 216];
        block[..9].copy_from_slice(b"/run/a.sk");
        block[108..117].copy_from_slice(b"/run/b.sk");
        let (h, n) = complete(&v2(0x21, fam, &block));
        assert_eq!((h.transport.family, n), (Family::Unix, 232));
        let (s, d) = h.unix.clone().unwrap();
        assert_eq!((s.path(), d.path()), (&b"/run/a.sk"[..], &b"/run/b.sk"[..]));
        assert_eq!(h.addresses(), None);
    }

    // UNSPEC: accepted, no address, use the real ones.
    let (h, n) = complete(&v2(0x21, 0x00, &[]));
    assert_eq!(
        (h.command, h.transport, h.addresses(), n),
        (Command::Proxy, Transport::UNSPEC, None, 16)
    );
}

#[test]
fn spec_v2_local() {
    // LOCAL: the connection is the sender's own; any address block is
    // skipped ("must not assume zero is presented").
    let (h, n) = complete(&v2(0x20, 0x00, &[]));
    assert_eq!((h.command, h.addresses(), n), (Command::Local, None, 16));
    let (h, n) = complete(&v2(0x20, 0x11, &inet_block()));
    assert_eq!(
        (h.command, h.transport, h.addresses(), n),
        (Command::Local, Transport::TCP4, None, 28)
    );
    // The family is ignored under LOCAL, even an invalid one or a short block.
    let (h, n) = complete(&v2(0x20, 0xff, &[1, 2, 3]));
    assert_eq!(
        (h.command, h.transport, h.tlvs.len(), n),
        (Command::Local, Transport::UNSPEC, 0, 19)
    );
    let (h, _) = complete(&v2(0x20, 0x21, &inet_block()));
    assert_eq!((h.transport, h.tlvs.len()), (Transport::UNSPEC, 0));
}

#[test]
fn spec_v2_rejections() {
    let block = inet_block();
    assert_eq!(err(&v2(0x11, 0x11, &block)), ProxyError::BadVersion(0x11));
    assert_eq!(err(&v2(0x31, 0x11, &block)), ProxyError::BadVersion(0x31));
    assert_eq!(err(&v2(0x22, 0x11, &block)), ProxyError::BadCommand(0x22));
    assert_eq!(err(&v2(0x2f, 0x11, &block)), ProxyError::BadCommand(0x2f));
    assert_eq!(err(&v2(0x21, 0x41, &block)), ProxyError::BadFamily(0x41));
    assert_eq!(err(&v2(0x21, 0x13, &block)), ProxyError::BadFamily(0x13));
    assert_eq!(
        err(&v2(0x21, 0x11, &block[..11])),
        ProxyError::BadLength { len: 11, need: 12 }
    );
    assert_eq!(
        err(&v2(0x21, 0x21, &block)),
        ProxyError::BadLength { len: 12, need: 36 }
    );
    assert_eq!(
        err(&v2(0x21, 0x31, &block)),
        ProxyError::BadLength { len: 12, need: 216 }
    );
    // A damaged signature anywhere.
    for i in 0..12 {
        let mut h = v2(0x21, 0x11, &block);
        h[i] ^= 0x40;
        assert_eq!(err(&h), ProxyError::BadSignature, "byte {i}");
    }
    // Early: the version is known at byte 13, before the length.
    let h = v2(0x11, 0x11, &block);
    assert_eq!(err(&h[..13]), ProxyError::BadVersion(0x11));
    assert_eq!(p(&h[..12]), Ok(Status::Partial));
}

#[test]
fn v2_length_bounds() {
    let mut body = inet_block();
    body.extend_from_slice(&[Tlv::NOOP, 0, 100]);
    body.resize(body.len() + 100, 0);
    let h = v2(0x21, 0x11, &body);
    assert_eq!(h.len(), 131);
    assert!(matches!(parse(&h, 131), Ok(Status::Complete((_, 131)))));
    assert_eq!(parse(&h, 130), Err(ProxyError::TooLong));
    // Decided from the 16 fixed bytes: no need to receive the rest.
    assert_eq!(parse(&h[..16], 130), Err(ProxyError::TooLong));
    assert_eq!(parse(&h[..16], 131), Ok(Status::Partial));
    assert_eq!(parse(&h[..130], 131), Ok(Status::Partial));
    // What follows the header is not looked at.
    let mut more = h.clone();
    more.extend_from_slice(b"\x16\x03\x01 TLS hello");
    assert!(matches!(parse(&more, 131), Ok(Status::Complete((_, 131)))));
    // The largest header the format allows.
    let mut body = inet_block();
    let pad = V2_MAX_LEN - 16 - body.len() - 3;
    body.push(Tlv::NOOP);
    body.extend_from_slice(&u16::try_from(pad).unwrap().to_be_bytes());
    body.resize(body.len() + pad, 0xaa);
    let h = v2(0x21, 0x11, &body);
    assert_eq!(h.len(), V2_MAX_LEN);
    assert!(matches!(parse(&h, V2_MAX_LEN), Ok(Status::Complete((_, n))) if n == V2_MAX_LEN));
}

// ------------------------------------------------------------ v2: TLVs

fn with_tlvs(tlvs: &[u8]) -> Vec<u8> {
    let mut body = inet_block();
    body.extend_from_slice(tlvs);
    v2(0x21, 0x11, &body)
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut t = vec![kind];
    t.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    t.extend_from_slice(value);
    t
}

#[test]
fn v2_each_tlv() {
    let ssl_value = {
        let mut v = vec![SslClient::SSL | SslClient::CERT_CONN | SslClient::CERT_SESS];
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend(tlv(SubTlv::SSL_VERSION, b"TLSv1.3"));
        v.extend(tlv(SubTlv::SSL_CN, b"client.example"));
        v.extend(tlv(SubTlv::SSL_CIPHER, b"TLS_AES_256_GCM_SHA384"));
        v.extend(tlv(SubTlv::SSL_SIG_ALG, b"RSA-SHA256"));
        v.extend(tlv(SubTlv::SSL_KEY_ALG, b"RSA2048"));
        v.extend(tlv(0x2f, b"future"));
        v
    };
    let mut tlvs = Vec::new();
    tlvs.extend(tlv(Tlv::ALPN, b"h2"));
    tlvs.extend(tlv(Tlv::AUTHORITY, b"www.example.com"));
    tlvs.extend(tlv(Tlv::NOOP, &[0, 0, 0]));
    tlvs.extend(tlv(Tlv::NOOP, &[]));
    tlvs.extend(tlv(Tlv::UNIQUE_ID, &[7; 128]));
    tlvs.extend(tlv(Tlv::SSL, &ssl_value));
    tlvs.extend(tlv(Tlv::NETNS, b"blue"));
    tlvs.extend(tlv(0xe0, b"custom"));
    tlvs.extend(tlv(0xff, b""));
    let (h, n) = complete(&with_tlvs(&tlvs));
    assert_eq!(n, 28 + tlvs.len());
    let want = vec![
        Tlv::Alpn(b"h2".to_vec()),
        Tlv::Authority(b"www.example.com".to_vec()),
        Tlv::Noop(vec![0, 0, 0]),
        Tlv::Noop(vec![]),
        Tlv::UniqueId(vec![7; 128]),
        Tlv::Ssl(SslTlv {
            client: SslClient(0x07),
            verify: 0,
            subs: vec![
                SubTlv {
                    kind: 0x21,
                    value: b"TLSv1.3".to_vec(),
                },
                SubTlv {
                    kind: 0x22,
                    value: b"client.example".to_vec(),
                },
                SubTlv {
                    kind: 0x23,
                    value: b"TLS_AES_256_GCM_SHA384".to_vec(),
                },
                SubTlv {
                    kind: 0x24,
                    value: b"RSA-SHA256".to_vec(),
                },
                SubTlv {
                    kind: 0x25,
                    value: b"RSA2048".to_vec(),
                },
                SubTlv {
                    kind: 0x2f,
                    value: b"future".to_vec(),
                },
            ],
        }),
        Tlv::Netns(b"blue".to_vec()),
        Tlv::Unknown {
            kind: 0xe0,
            value: b"custom".to_vec(),
        },
        Tlv::Unknown {
            kind: 0xff,
            value: vec![],
        },
    ];
    assert_eq!(h.tlvs, want);
    let Some(Tlv::Ssl(ssl)) = h.tlv(Tlv::SSL) else {
        panic!()
    };
    assert!(ssl.client.contains(SslClient::CERT_SESS));
    assert_eq!(ssl.sub(SubTlv::SSL_CN), Some(&b"client.example"[..]));
    assert_eq!(ssl.sub(0x30), None);
    // Byte-exact re-encoding.
    let mut out = Vec::new();
    h.encode(&mut out).unwrap();
    assert_eq!(out, with_tlvs(&tlvs));
}

#[test]
fn v2_tlv_errors() {
    let cases: &[(Vec<u8>, ProxyError)] = &[
        (vec![0x01], ProxyError::Truncated),
        (vec![0x01, 0x00], ProxyError::Truncated),
        (vec![0x01, 0x00, 0x02, b'h'], ProxyError::Truncated),
        (tlv(Tlv::CRC32C, &[0; 3]), ProxyError::BadTlv(Tlv::CRC32C)),
        (tlv(Tlv::CRC32C, &[0; 5]), ProxyError::BadTlv(Tlv::CRC32C)),
        (
            tlv(Tlv::AUTHORITY, &[b'a'; 256]),
            ProxyError::BadTlv(Tlv::AUTHORITY),
        ),
        (
            tlv(Tlv::UNIQUE_ID, &[1; 129]),
            ProxyError::BadTlv(Tlv::UNIQUE_ID),
        ),
        (tlv(Tlv::SSL, &[1, 0, 0, 0]), ProxyError::BadTlv(Tlv::SSL)),
        (
            tlv(Tlv::SSL, &[1, 0, 0, 0, 0, 0x21, 0, 9, b'x']),
            ProxyError::Truncated,
        ),
        (tlv(Tlv::SSL, &[1, 0, 0, 0, 0, 0x21]), ProxyError::Truncated),
    ];
    for (tlvs, want) in cases {
        assert_eq!(
            fed_byte_by_byte(&with_tlvs(tlvs), DEFAULT_MAX_V2_LEN),
            Err(*want),
            "{tlvs:02x?}"
        );
    }
    // At the limits: fine.
    assert!(
        complete(&with_tlvs(&tlv(Tlv::AUTHORITY, &[b'a'; 255])))
            .0
            .tlvs
            .len()
            == 1
    );
    assert!(complete(&with_tlvs(&tlv(Tlv::SSL, &[0; 5]))).0.tlvs.len() == 1);
}

/// Sets the CRC32C field (at `at`) of a header to its checksum.
fn seal(mut h: Vec<u8>, at: usize) -> Vec<u8> {
    h[at..at + 4].fill(0);
    let c = sluice_core::conn::proxy_hdr::crc32c(&h);
    h[at..at + 4].copy_from_slice(&c.to_be_bytes());
    h
}

#[test]
fn v2_crc32c() {
    let mut tlvs = tlv(Tlv::ALPN, b"http/1.1");
    tlvs.extend(tlv(Tlv::CRC32C, &[0; 4]));
    tlvs.extend(tlv(Tlv::AUTHORITY, b"a.example"));
    let at = 28 + 11 + 3;
    let good = seal(with_tlvs(&tlvs), at);
    let (h, _) = complete(&good);
    let crc = u32::from_be_bytes(good[at..at + 4].try_into().unwrap());
    assert_eq!(h.tlv(Tlv::CRC32C), Some(&Tlv::Crc32c(crc)));
    assert_eq!(h.tlvs.len(), 3);
    // Any flipped bit anywhere in the header (outside the signature and the
    // fixed bytes that have their own checks) is caught.
    let crc_type_at = at - 3;
    for i in (16..good.len()).filter(|&i| i != crc_type_at) {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        match p(&bad) {
            Err(ProxyError::BadCrc { received, computed }) => assert_ne!(received, computed),
            // A flipped length or type byte may break the TLV walk first.
            Err(ProxyError::Truncated | ProxyError::BadTlv(_)) => {}
            other => panic!("byte {i}: {other:?}"),
        }
    }
    // The checksum cannot cover its own type byte: turned into another
    // type, there is no checksum left to verify.
    let mut bad = good.clone();
    bad[crc_type_at] = Tlv::NOOP;
    assert_eq!(complete(&bad).0.tlv(Tlv::CRC32C), None);
    // The received value itself is wrong.
    let mut bad = good.clone();
    bad[at] ^= 0x80;
    assert_eq!(
        err(&bad),
        ProxyError::BadCrc {
            received: crc ^ 0x8000_0000,
            computed: crc
        }
    );
    // Two checksums: rejected.
    let mut two = tlv(Tlv::CRC32C, &[0; 4]);
    two.extend(tlv(Tlv::CRC32C, &[0; 4]));
    let h = seal(with_tlvs(&two), 31);
    assert_eq!(err(&h), ProxyError::BadTlv(Tlv::CRC32C));
}

// ----------------------------------------- HAProxy 2.6 captured headers

/// Bytes HAProxy 2.6.12 sent to a server, captured on loopback with a small
/// Python listener (see docs/proxy-protocol.md, "Captures").
struct Capture {
    what: &'static str,
    bytes: &'static str,
    src: Option<&'static str>,
    dst: Option<&'static str>,
}

const CAPTURES_V1: &[Capture] = &[
    Capture {
        what: "send-proxy, IPv4 client",
        bytes: "50524f58592054435034203132372e302e302e37203132372e302e302e312034303030312032313030310d0a",
        src: Some("127.0.0.7:40001"),
        dst: Some("127.0.0.1:21001"),
    },
    Capture {
        what: "send-proxy, IPv6 client",
        bytes: "50524f58592054435036203a3a31203a3a312034303030332032313030330d0a",
        src: Some("[::1]:40003"),
        dst: Some("[::1]:21003"),
    },
    Capture {
        what: "send-proxy, set-src ipv6(2001:db8::5) on an IPv4 connection",
        bytes: "50524f5859205443503620323030313a6462383a3a35203a3a666666663a3132372e302e302e312034303030352032313030350d0a",
        src: Some("[2001:db8::5]:40005"),
        dst: Some("127.0.0.1:21005"),
    },
    Capture {
        what: "check-send-proxy health check",
        bytes: "50524f58592054435034203132372e302e302e31203132372e302e302e312034373635382032323030310d0a",
        src: Some("127.0.0.1:47658"),
        dst: Some("127.0.0.1:22001"),
    },
];

const CAPTURES_V2: &[Capture] = &[
    Capture {
        what: "send-proxy-v2, IPv4 client",
        bytes: "0d0a0d0a000d0a515549540a2111000c7f0000077f0000019c42520a",
        src: Some("127.0.0.7:40002"),
        dst: Some("127.0.0.1:21002"),
    },
    Capture {
        what: "send-proxy-v2, IPv6 client",
        bytes: "0d0a0d0a000d0a515549540a2121002400000000000000000000000000000001000000000000000000000000000000019c44520c",
        src: Some("[::1]:40004"),
        dst: Some("[::1]:21004"),
    },
    Capture {
        what: "send-proxy-v2, set-src ipv6(2001:db8::5) on an IPv4 connection",
        bytes: "0d0a0d0a000d0a515549540a2121002420010db800000000000000000000000500000000000000000000ffff7f0000019c46520e",
        src: Some("[2001:db8::5]:40006"),
        dst: Some("127.0.0.1:21006"),
    },
    Capture {
        what: "send-proxy-v2, set-dst ipv4(10.1.2.3) on an IPv6 connection",
        bytes: "0d0a0d0a000d0a515549540a212100240000000000000000000000000000000100000000000000000000ffff0a0102039c495211",
        src: Some("[::1]:40009"),
        dst: Some("10.1.2.3:21009"),
    },
    Capture {
        what: "send-proxy-v2 check-send-proxy proxy-v2-options crc32c: LOCAL",
        bytes: "0d0a0d0a000d0a515549540a20000007030004a9b87e8f",
        src: None,
        dst: None,
    },
];

#[test]
fn haproxy_v1_captures_parse_and_reencode() {
    for c in CAPTURES_V1 {
        let bytes = hex(c.bytes);
        let (h, n) = complete(&bytes);
        assert_eq!(n, bytes.len(), "{}", c.what);
        let (src, dst) = (sa(c.src.unwrap()), sa(c.dst.unwrap()));
        let mut out = Vec::new();
        assert_eq!(encode_v1(Some(src), Some(dst), &mut out), bytes.len());
        assert_eq!(out, bytes, "{}: {}", c.what, out.escape_ascii());
        // What was parsed is the IPv6-mapped form for mixed families.
        let map = |a: SocketAddr| match (h.transport, a) {
            (t, SocketAddr::V4(v4)) if t == Transport::TCP6 => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            _ => a,
        };
        assert_eq!(h.addresses(), Some((map(src), map(dst))), "{}", c.what);
    }
}

#[test]
fn haproxy_v2_captures_parse_and_reencode() {
    for c in CAPTURES_V2 {
        let bytes = hex(c.bytes);
        let (h, n) = complete(&bytes);
        assert_eq!(n, bytes.len(), "{}", c.what);
        let src = c.src.map(sa);
        let dst = c.dst.map(sa);
        let tlvs: Vec<Tlv> = h.tlvs.clone();
        let mut out = Vec::new();
        encode_v2(src, dst, &tlvs, &mut out).unwrap();
        assert_eq!(out, bytes, "{}", c.what);
        if src.is_none() {
            assert_eq!(h.command, Command::Local);
            assert_eq!(tlvs, vec![Tlv::Crc32c(0xa9b8_7e8f)]);
        }
    }
}

#[test]
fn haproxy_v2_capture_with_crc_authority_unique_id() {
    // A v2 header with an AUTHORITY TLV, sent by this test to an
    // `accept-proxy` bind of HAProxy (which accepted it), forwarded by
    // `send-proxy-v2 proxy-v2-options crc32c,unique-id,authority` with
    // `unique-id-format abc-%[src]`.
    let bytes = hex("0d0a0d0a000d0a515549540a21110031c0000201c6336402dc0401bb\
         030004087e1f5c02000b6578616d706c652e636f6d05000d6162632d3139322e302e322e31");
    let (h, n) = complete(&bytes);
    assert_eq!(n, bytes.len());
    assert_eq!(h.src, Some(sa("192.0.2.1:56324")));
    assert_eq!(h.dst, Some(sa("198.51.100.2:443")));
    assert_eq!(
        h.tlvs,
        vec![
            Tlv::Crc32c(0x087e_1f5c),
            Tlv::Authority(b"example.com".to_vec()),
            Tlv::UniqueId(b"abc-192.0.2.1".to_vec()),
        ]
    );
    // Our encoder, given HAProxy's order, writes the same bytes, CRC included.
    let tlvs = [
        Tlv::Crc32c(0),
        Tlv::Authority(b"example.com".to_vec()),
        Tlv::UniqueId(b"abc-192.0.2.1".to_vec()),
    ];
    let mut out = b"junk before".to_vec();
    let n = encode_v2(h.src, h.dst, &tlvs, &mut out).unwrap();
    assert_eq!(n, bytes.len());
    assert_eq!(&out[11..], &bytes[..]);
}

// ------------------------------------------------------------ encoders

#[test]
fn encode_v1_forms() {
    let mut out = Vec::new();
    encode_v1(
        Some(sa("192.168.0.1:56324")),
        Some(sa("192.168.0.11:443")),
        &mut out,
    );
    assert_eq!(out, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    out.clear();
    encode_v1(
        Some(sa("10.0.0.1:1")),
        Some(sa("[2001:db8::1]:2")),
        &mut out,
    );
    assert_eq!(out, b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::1 1 2\r\n");
    for (s, d) in [
        (None, Some(sa("1.1.1.1:1"))),
        (Some(sa("1.1.1.1:1")), None),
        (None, None),
    ] {
        out.clear();
        assert_eq!(encode_v1(s, d, &mut out), 15);
        assert_eq!(out, b"PROXY UNKNOWN\r\n");
    }
    // The longest line HAProxy writes.
    out.clear();
    let f = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535";
    assert_eq!(encode_v1(Some(sa(f)), Some(sa(f)), &mut out), 104);
}

#[test]
fn encode_v2_forms() {
    let mut out = Vec::new();
    encode_v2(
        Some(sa("192.0.2.1:56324")),
        Some(sa("198.51.100.2:443")),
        &[],
        &mut out,
    )
    .unwrap();
    assert_eq!(out, v2(0x21, 0x11, &inet_block()));
    out.clear();
    encode_v2(
        Some(sa("[2001:db8::1]:8080")),
        Some(sa("[2001:db8::2]:80")),
        &[],
        &mut out,
    )
    .unwrap();
    assert_eq!(out, v2(0x21, 0x21, &inet6_block()));
    out.clear();
    encode_v2(
        None,
        Some(sa("1.2.3.4:5")),
        &[Tlv::Alpn(b"h2".to_vec())],
        &mut out,
    )
    .unwrap();
    assert_eq!(out, v2(0x20, 0x00, &tlv(Tlv::ALPN, b"h2")));
    // Limits: the encoder refuses what the parser would reject, and leaves
    // the buffer as it was.
    let mut out = b"kept".to_vec();
    for bad in [
        vec![Tlv::Authority(vec![b'a'; 256])],
        vec![Tlv::UniqueId(vec![0; 129])],
        vec![Tlv::Crc32c(0), Tlv::Crc32c(0)],
        vec![Tlv::Unknown {
            kind: Tlv::ALPN,
            value: vec![],
        }],
    ] {
        assert!(matches!(
            encode_v2(None, None, &bad, &mut out),
            Err(ProxyError::BadTlv(_))
        ));
        assert_eq!(out, b"kept");
    }
    let huge = vec![Tlv::Noop(vec![0; 70_000])];
    assert_eq!(
        encode_v2(None, None, &huge, &mut out),
        Err(ProxyError::TooLong)
    );
    let too_much = vec![Tlv::Noop(vec![0; 40_000]), Tlv::Noop(vec![0; 40_000])];
    assert_eq!(
        encode_v2(None, None, &too_much, &mut out),
        Err(ProxyError::TooLong)
    );
    assert_eq!(out, b"kept");
}

// ------------------------------------------------------ push parsing

#[test]
fn byte_by_byte_equals_one_shot() {
    let mut inputs: Vec<Vec<u8>> = vec![
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /".to_vec(),
        b"PROXY TCP6 ::1 ::2 1 2\r\n".to_vec(),
        b"PROXY UNKNOWN foo\r\nrest".to_vec(),
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n".to_vec(),
        v2(0x21, 0x11, &inet_block()),
        v2(0x20, 0x00, &[]),
        v2(0x21, 0x12, &inet_block()[..5]),
        with_tlvs(&tlv(Tlv::SSL, &[1, 0, 0, 0, 0, 0x21, 0, 9, b'x'])),
    ];
    inputs.extend(CAPTURES_V2.iter().map(|c| hex(c.bytes)));
    for data in &inputs {
        let got = fed_byte_by_byte(data, DEFAULT_MAX_V2_LEN);
        assert_ne!(got, Ok(Status::Partial));
    }
}

#[test]
fn never_reads_past_the_header() {
    // Whatever follows the header cannot change the answer.
    for data in [
        &b"PROXY TCP6 ::1 ::2 1 2\r\n"[..],
        &v2(0x21, 0x11, &inet_block()),
    ] {
        let want = complete(data);
        for tail in [
            &b""[..],
            b"\r\n",
            b"\x00\xff",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            let mut d = data.to_vec();
            d.extend_from_slice(tail);
            assert_eq!(complete(&d), want);
        }
    }
}

// ------------------------------------------------------------ corpus

#[test]
fn fuzz_corpus_and_regressions_replay() {
    // The checked-in corpus of the `proxy_header` fuzz target, and any crash
    // file saved under fuzz/regressions/proxy_header, through the same
    // function the target wraps.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut seen = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join("proxy_header")) else {
            continue;
        };
        let mut files: Vec<_> = dir
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('.') || name.ends_with(".md") {
                continue;
            }
            let data = std::fs::read(&f).unwrap();
            let outcome = std::panic::catch_unwind(|| sluice_core::fuzzing::proxy_header(&data));
            assert!(
                outcome.is_ok(),
                "{} fails the proxy_header invariants",
                f.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 20, "fuzz/corpus/proxy_header has {seen} files");
}

// ------------------------------------------------------------ properties

fn arb_sockaddr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<u32>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<u128>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
        // Addresses with long zero runs and mapped forms, where the text
        // form has its special cases.
        (any::<u16>(), any::<u32>(), 0usize..8, any::<u16>()).prop_map(|(g, v4, at, port)| {
            let mut segs = [0u16; 8];
            segs[at] = g;
            let ip = if at == 0 {
                Ipv4Addr::from(v4).to_ipv6_mapped()
            } else {
                Ipv6Addr::from(segs)
            };
            SocketAddr::new(IpAddr::V6(ip), port)
        }),
    ]
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn arb_tlv() -> impl Strategy<Value = Tlv> {
    prop_oneof![
        arb_bytes(20).prop_map(Tlv::Alpn),
        arb_bytes(255).prop_map(Tlv::Authority),
        any::<u32>().prop_map(Tlv::Crc32c),
        arb_bytes(20).prop_map(Tlv::Noop),
        arb_bytes(128).prop_map(Tlv::UniqueId),
        (
            any::<u8>(),
            any::<u32>(),
            prop::collection::vec((any::<u8>(), arb_bytes(12)), 0..4)
        )
            .prop_map(|(c, verify, subs)| Tlv::Ssl(SslTlv {
                client: SslClient(c),
                verify,
                subs: subs
                    .into_iter()
                    .map(|(kind, value)| SubTlv { kind, value })
                    .collect(),
            })),
        arb_bytes(16).prop_map(Tlv::Netns),
        (
            any::<u8>().prop_filter("unknown type", |k| !Tlv::is_known(*k)),
            arb_bytes(20)
        )
            .prop_map(|(kind, value)| Tlv::Unknown { kind, value }),
    ]
}

/// TLVs with at most one CRC32C (the encoder's rule).
fn arb_tlvs() -> impl Strategy<Value = Vec<Tlv>> {
    prop::collection::vec(arb_tlv(), 0..6).prop_map(|mut v| {
        let mut crc = false;
        v.retain(|t| !matches!(t, Tlv::Crc32c(_)) || !std::mem::replace(&mut crc, true));
        v
    })
}

fn mapped(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    }
}

fn zero_crc(tlvs: &[Tlv]) -> Vec<Tlv> {
    tlvs.iter()
        .map(|t| match t {
            Tlv::Crc32c(_) => Tlv::Crc32c(0),
            t => t.clone(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn v1_round_trip(src in prop::option::of(arb_sockaddr()), dst in prop::option::of(arb_sockaddr())) {
        let mut out = vec![0xee];
        let n = encode_v1(src, dst, &mut out);
        prop_assert_eq!(n, out.len() - 1);
        prop_assert!(n <= 104);
        let (h, used) = match p(&out[1..]) {
            Ok(Status::Complete(c)) => c,
            other => return Err(TestCaseError::fail(format!("{other:?} for {}", out.escape_ascii()))),
        };
        prop_assert_eq!(used, n);
        match (src, dst) {
            (Some(s @ SocketAddr::V4(_)), Some(d @ SocketAddr::V4(_))) => {
                prop_assert_eq!(h.transport, Transport::TCP4);
                prop_assert_eq!(h.addresses(), Some((s, d)));
            }
            (Some(s), Some(d)) => {
                prop_assert_eq!(h.transport, Transport::TCP6);
                prop_assert_eq!(h.addresses(), Some((mapped(s), mapped(d))));
            }
            _ => prop_assert_eq!((h.transport, h.addresses()), (Transport::UNSPEC, None)),
        }
        // Re-encoding what was parsed gives the same line.
        let mut again = Vec::new();
        h.encode(&mut again).unwrap();
        prop_assert_eq!(&again[..], &out[1..]);
        // Every shorter prefix waits for more.
        for cut in 0..n {
            prop_assert_eq!(p(&out[1..1 + cut]), Ok(Status::Partial));
        }
    }

    #[test]
    fn v2_round_trip(
        src in prop::option::of(arb_sockaddr()),
        dst in prop::option::of(arb_sockaddr()),
        tlvs in arb_tlvs(),
    ) {
        let mut out = Vec::new();
        let n = encode_v2(src, dst, &tlvs, &mut out).unwrap();
        prop_assert_eq!(n, out.len());
        let (h, used) = match parse(&out, V2_MAX_LEN) {
            Ok(Status::Complete(c)) => c,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(used, n);
        prop_assert_eq!(h.version, Version::V2);
        prop_assert_eq!(zero_crc(&h.tlvs), zero_crc(&tlvs));
        match (src, dst) {
            (Some(s @ SocketAddr::V4(_)), Some(d @ SocketAddr::V4(_))) => {
                prop_assert_eq!((h.command, h.transport), (Command::Proxy, Transport::TCP4));
                prop_assert_eq!(h.addresses(), Some((s, d)));
            }
            (Some(s), Some(d)) => {
                prop_assert_eq!((h.command, h.transport), (Command::Proxy, Transport::TCP6));
                prop_assert_eq!(h.addresses(), Some((mapped(s), mapped(d))));
            }
            _ => prop_assert_eq!((h.command, h.transport, h.addresses()), (Command::Local, Transport::UNSPEC, None)),
        }
        let mut again = Vec::new();
        h.encode(&mut again).unwrap();
        prop_assert_eq!(&again, &out);
        for cut in [0, 1, 12, 13, 15, 16, n / 2, n - 1] {
            prop_assert_eq!(parse(&out[..cut.min(n - 1)], V2_MAX_LEN), Ok(Status::Partial));
        }
        // One byte short of the caller's limit: refused from the fixed part.
        prop_assert_eq!(parse(&out[..16], n - 1), Err(ProxyError::TooLong));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in arb_bytes(300), max in 0usize..400) {
        let _ = fed_byte_by_byte(&data, max);
    }

    #[test]
    fn arbitrary_v1_tails_never_panic(tail in arb_bytes(120)) {
        let mut data = b"PROXY ".to_vec();
        data.extend_from_slice(&tail);
        if let Ok(Status::Complete((h, n))) = fed_byte_by_byte(&data, DEFAULT_MAX_V2_LEN) {
            prop_assert!(n <= V1_MAX_LEN && n <= data.len());
            prop_assert_eq!(&data[n - 2..n], b"\r\n");
            prop_assert!(h.tlvs.is_empty());
        }
    }

    #[test]
    fn arbitrary_v2_bodies_never_panic(ver_cmd in 0x1fu8..0x23, fam in any::<u8>(), body in arb_bytes(260)) {
        let data = v2(ver_cmd, fam, &body);
        if let Ok(Status::Complete((h, n))) = fed_byte_by_byte(&data, DEFAULT_MAX_V2_LEN) {
            prop_assert_eq!(n, data.len());
            if h.command == Command::Proxy {
                // A PROXY header re-encodes to exactly its bytes.
                let mut again = Vec::new();
                h.encode(&mut again).unwrap();
                prop_assert_eq!(again, data);
            }
        }
    }
}
