//! HPACK (`sluice_core::http::h2::hpack`) against RFC 7541 Appendix C, an
//! independent implementation (`httlib-hpack`), and itself (round trips).

use sluice_core::http::h2::hpack::{Decoder, Encoder, Field, HeaderList, HpackError};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn fields(list: &HeaderList) -> Vec<(String, String)> {
    list.iter()
        .map(|f| {
            (
                String::from_utf8(f.name.to_vec()).unwrap(),
                String::from_utf8(f.value.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn table(d: &Decoder) -> Vec<(String, String)> {
    d.table()
        .iter()
        .map(|(n, v)| {
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// One step of an Appendix C example: wire bytes, the decoded list, the
/// dynamic table after it (newest first) and its size.
struct Step {
    wire: &'static str,
    headers: &'static [(&'static str, &'static str)],
    table: &'static [(&'static str, &'static str)],
    size: usize,
}

/// Decodes every step with one decoder (the table carries over), checks the
/// list and the table, then encodes the same lists with one encoder and
/// checks that it writes the RFC's bytes (when `encoder_matches`: our
/// encoder picks Huffman like C.4 / C.6, so it reproduces those).
fn run_example(table_size: usize, steps: &[Step], encoder_matches: bool) {
    let mut dec = Decoder::new(table_size);
    let mut list = HeaderList::new(usize::MAX);
    for (i, s) in steps.iter().enumerate() {
        dec.decode(&hex(s.wire), &mut list)
            .unwrap_or_else(|e| panic!("step {i}: {e}"));
        assert_eq!(fields(&list), pairs(s.headers), "step {i} headers");
        assert_eq!(table(&dec), pairs(s.table), "step {i} table");
        assert_eq!(dec.table().size(), s.size, "step {i} table size");
    }
    if !encoder_matches {
        return;
    }
    let mut enc = Encoder::new(table_size);
    for (i, s) in steps.iter().enumerate() {
        let mut out = Vec::new();
        enc.encode(
            s.headers
                .iter()
                .map(|(n, v)| Field::new(n.as_bytes(), v.as_bytes())),
            &mut out,
        );
        let mut want = hex(s.wire);
        if i == 0 && table_size != 4096 {
            // A table other than the default is announced first (RFC 7541
            // §4.2); the RFC's examples assume both ends already agree.
            let mut update = Vec::new();
            sluice_core::http::h2::hpack::encode_int(table_size as u32, 5, 0x20, &mut update);
            update.extend(want);
            want = update;
        }
        assert_eq!(out, want, "step {i}: encoder output");
        assert_eq!(enc.table().size(), s.size, "step {i}: encoder table size");
    }
}

#[test]
fn rfc7541_c2_single_representations() {
    // C.2.1 literal with indexing.
    run_example(
        4096,
        &[Step {
            wire: "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
            headers: &[("custom-key", "custom-header")],
            table: &[("custom-key", "custom-header")],
            size: 55,
        }],
        false,
    );
    // C.2.2 literal without indexing.
    run_example(
        4096,
        &[Step {
            wire: "040c 2f73 616d 706c 652f 7061 7468",
            headers: &[(":path", "/sample/path")],
            table: &[],
            size: 0,
        }],
        false,
    );
    // C.2.3 literal never indexed: the flag survives decoding.
    let mut dec = Decoder::default();
    let mut list = HeaderList::new(1 << 20);
    dec.decode(
        &hex("1008 7061 7373 776f 7264 0673 6563 7265 74"),
        &mut list,
    )
    .unwrap();
    assert_eq!(fields(&list), pairs(&[("password", "secret")]));
    assert!(list.get(0).unwrap().never_indexed);
    assert!(dec.table().is_empty());
    // C.2.4 indexed.
    run_example(
        4096,
        &[Step {
            wire: "82",
            headers: &[(":method", "GET")],
            table: &[],
            size: 0,
        }],
        true,
    );
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQ_T1: &[(&str, &str)] = &[(":authority", "www.example.com")];
const REQ_T2: &[(&str, &str)] = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const REQ_T3: &[(&str, &str)] = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

#[test]
fn rfc7541_c3_requests_without_huffman() {
    run_example(
        4096,
        &[
            Step {
                wire: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                headers: REQ1,
                table: REQ_T1,
                size: 57,
            },
            Step {
                wire: "8286 84be 5808 6e6f 2d63 6163 6865",
                headers: REQ2,
                table: REQ_T2,
                size: 110,
            },
            Step {
                wire: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                headers: REQ3,
                table: REQ_T3,
                size: 164,
            },
        ],
        false,
    );
}

#[test]
fn rfc7541_c4_requests_with_huffman() {
    run_example(
        4096,
        &[
            Step {
                wire: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                headers: REQ1,
                table: REQ_T1,
                size: 57,
            },
            Step {
                wire: "8286 84be 5886 a8eb 1064 9cbf",
                headers: REQ2,
                table: REQ_T2,
                size: 110,
            },
            Step {
                wire: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                headers: REQ3,
                table: REQ_T3,
                size: 164,
            },
        ],
        true,
    );
}

const RES1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RES2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RES3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];
const RES_T1: &[(&str, &str)] = &[
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
    (":status", "302"),
];
// ":status: 302" was evicted to make room.
const RES_T2: &[(&str, &str)] = &[
    (":status", "307"),
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
];
const RES_T3: &[(&str, &str)] = &[
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
    ("content-encoding", "gzip"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
];

#[test]
fn rfc7541_c5_responses_without_huffman() {
    run_example(
        256,
        &[
            Step {
                wire: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                       6c65 2e63 6f6d",
                headers: RES1,
                table: RES_T1,
                size: 222,
            },
            Step { wire: "4803 3330 37c1 c0bf", headers: RES2, table: RES_T2, size: 222 },
            Step {
                wire: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                       3d31",
                headers: RES3,
                table: RES_T3,
                size: 215,
            },
        ],
        false,
    );
}

#[test]
fn rfc7541_c6_responses_with_huffman() {
    run_example(
        256,
        &[
            Step {
                wire: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                headers: RES1,
                table: RES_T1,
                size: 222,
            },
            Step { wire: "4883 640e ffc1 c0bf", headers: RES2, table: RES_T2, size: 222 },
            Step {
                wire: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                       9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                headers: RES3,
                table: RES_T3,
                size: 215,
            },
        ],
        true,
    );
}

fn decode_err(dec: &mut Decoder, block: &[u8]) -> HpackError {
    let mut list = HeaderList::new(1 << 20);
    dec.decode(block, &mut list).unwrap_err()
}

#[test]
fn decoder_errors_are_compression_errors() {
    let cases: &[(&str, &[u8], HpackError)] = &[
        // RFC 7541 §2.3.3: index 0 and indexes past both tables.
        ("index 0", &[0x80], HpackError::InvalidIndex),
        ("index 62, empty table", &[0xbe], HpackError::InvalidIndex),
        (
            "name index 70",
            &[0x40 | 0x3f, 70 - 63, 0x00],
            HpackError::InvalidIndex,
        ),
        // §5.1 / §5.2: truncated integers and strings.
        ("truncated integer", &[0xff], HpackError::Truncated),
        ("truncated name", &[0x40, 0x05, b'a'], HpackError::Truncated),
        ("missing value", &[0x40, 0x01, b'a'], HpackError::Truncated),
        (
            "integer overflow",
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            HpackError::IntegerOverflow,
        ),
        // §5.2: Huffman EOS and padding.
        (
            "huffman EOS",
            &[0x00, 0x01, b'a', 0x84, 0xff, 0xff, 0xff, 0xff],
            HpackError::HuffmanEos,
        ),
        (
            "huffman 8-bit padding",
            &[0x00, 0x01, b'a', 0x81, 0xff],
            HpackError::HuffmanPadding,
        ),
        (
            "huffman zero padding",
            &[0x00, 0x01, b'a', 0x81, 0x00],
            HpackError::HuffmanPadding,
        ),
        // §6.3: size update above SETTINGS_HEADER_TABLE_SIZE (4096).
        (
            "size update 4097",
            &[0x3f, 0xe2, 0x1f],
            HpackError::SizeUpdateTooLarge,
        ),
        // §4.2: size update after a field.
        (
            "size update after a field",
            &[0x82, 0x20],
            HpackError::SizeUpdateNotFirst,
        ),
    ];
    for (what, block, want) in cases {
        let got = decode_err(&mut Decoder::default(), block);
        assert_eq!(got, *want, "{what}");
        assert!(got.is_compression_error(), "{what}");
    }
    // Several updates at the start are fine (§4.2), the last one wins.
    let mut dec = Decoder::default();
    let mut list = HeaderList::new(1 << 20);
    dec.decode(&[0x20, 0x3f, 0xe1, 0x1f, 0x82], &mut list)
        .unwrap();
    assert_eq!(dec.table().max_size(), 4096);
}

#[test]
fn lowered_table_size_requires_an_update() {
    // RFC 7541 §4.2: after SETTINGS_HEADER_TABLE_SIZE goes down, the next
    // block must start with an update to at most the new size.
    let mut dec = Decoder::default();
    let mut list = HeaderList::new(1 << 20);
    dec.decode(
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
        &mut list,
    )
    .unwrap();
    dec.set_max_table_size(100);
    assert_eq!(
        decode_err(&mut dec.clone(), &[0x82]),
        HpackError::SizeUpdateMissing
    );
    // An update to 200 is above the new setting.
    assert_eq!(
        decode_err(&mut dec.clone(), &[0x3f, 0xa9, 0x01, 0x82]),
        HpackError::SizeUpdateTooLarge
    );
    // Lowering to 0 then back to 100 in one block is fine; 0 flushed the table.
    dec.decode(&[0x20, 0x3f, 0x45, 0x82], &mut list).unwrap();
    assert!(dec.table().is_empty());
    assert_eq!(dec.table().max_size(), 100);
    // Raising the setting asks for nothing.
    dec.set_max_table_size(4096);
    dec.decode(&[0x82], &mut list).unwrap();
}

#[test]
fn header_list_size_bound_keeps_the_table_in_step() {
    // RFC 9113 §6.5.2: a list past max_header_list_size is a stream error
    // (not COMPRESSION_ERROR); the block is still decoded to the end.
    let mut enc = Encoder::default();
    let big = vec![b'v'; 3000];
    let mut block1 = Vec::new();
    enc.encode([Field::new(b"x-big", &big)], &mut block1);
    // An "HPACK bomb": 5000 one-byte references to the 3 KB entry.
    let mut bomb = vec![0xbe; 5000];
    bomb.push(0x82);
    let mut dec = Decoder::default();
    let mut list = HeaderList::new(16 * 1024);
    dec.decode(&block1, &mut list).unwrap();
    assert_eq!(list.size(), 5 + 3000 + 32);
    let err = dec.decode(&bomb, &mut list).unwrap_err();
    assert_eq!(err, HpackError::HeaderListTooLarge);
    assert!(!err.is_compression_error());
    // The list kept what fits (5 references of 3037 bytes), no more.
    assert_eq!(list.len(), 5);
    assert!(list.size() <= 16 * 1024);
    // The table is in step: a literal with indexing after the limit still
    // went in, and the next block decodes against it.
    let mut block2 = Vec::new();
    enc.encode([Field::new(b"x-a", b"1")], &mut block2);
    let mut over = vec![0xbe; 6];
    over.extend(&block2);
    assert_eq!(
        dec.decode(&over, &mut list),
        Err(HpackError::HeaderListTooLarge)
    );
    let mut block3 = Vec::new();
    enc.encode(
        [Field::new(b"x-a", b"1"), Field::new(b"x-big", &big)],
        &mut block3,
    );
    assert_eq!(block3, [0xbe, 0xbf], "both fields indexed by the encoder");
    dec.decode(&block3, &mut list).unwrap();
    assert_eq!(list.get(0).unwrap().value, b"1");
    assert_eq!(list.get(1).unwrap().value, &big[..]);
}

#[test]
fn encoder_never_indexes_sensitive_fields() {
    let mut enc = Encoder::default();
    let mut out = Vec::new();
    enc.encode(
        [
            Field::new(b"authorization", b"Basic dXNlcjpwYXNz"),
            Field::new(b"cookie", b"sid=1"),
            Field::new(b"cookie", b"a-long-cookie-value-that-is-not-guessable"),
            Field {
                name: b"x-secret",
                value: b"1",
                never_indexed: true,
            },
            Field::new(b"x-plain", b"1"),
        ],
        &mut out,
    );
    let mut dec = Decoder::default();
    let mut list = HeaderList::new(1 << 20);
    dec.decode(&out, &mut list).unwrap();
    let flags: Vec<bool> = list.iter().map(|f| f.never_indexed).collect();
    assert_eq!(flags, [true, true, false, true, false]);
    // Only the long cookie and x-plain entered the tables.
    let names: Vec<&[u8]> = dec.table().iter().map(|(n, _)| n).collect();
    assert_eq!(names, [&b"x-plain"[..], b"cookie"]);
    assert_eq!(enc.table(), dec.table());
    // authorization uses the static name index 23 (0x10 | 15, 8).
    assert_eq!(&out[..2], &[0x1f, 0x08]);
}

// ---------------------------------------------------------------------------
// Differential tests against `httlib-hpack`, and round trips.

mod differential {
    use super::*;
    use httlib_hpack::{Decoder as HDecoder, Encoder as HEncoder};
    use proptest::prelude::*;

    /// `(name, value, never_indexed)` of a field.
    type F = (Vec<u8>, Vec<u8>, bool);

    fn name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // Names of the static table (indexed names, full matches).
            (0usize..61).prop_map(|i| sluice_core::http::h2::hpack::STATIC_TABLE[i].0.to_vec()),
            Just(b"authorization".to_vec()),
            Just(b"cookie".to_vec()),
            "[a-z][a-z0-9-]{0,14}".prop_map(String::into_bytes),
        ]
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => "[ -~]{0,24}".prop_map(String::into_bytes),
            // Static values (full matches) and repeated short values.
            2 => prop_oneof![Just(b"GET".to_vec()), Just(b"/".to_vec()), Just(b"200".to_vec()), Just(b"1".to_vec())],
            // Any octet, and long values that fill and flush the table.
            1 => proptest::collection::vec(any::<u8>(), 0..64),
            1 => proptest::collection::vec(any::<u8>(), 200..1500),
        ]
    }

    fn field() -> impl Strategy<Value = F> {
        (name(), value(), proptest::bool::weighted(0.1))
    }

    /// Blocks, each with the peer's table size announced before it (None:
    /// unchanged).
    fn blocks() -> impl Strategy<Value = Vec<(Option<usize>, Vec<F>)>> {
        let size = prop_oneof![Just(0usize), Just(64), Just(256), Just(1000), Just(4096)];
        proptest::collection::vec(
            (
                proptest::option::weighted(0.2, size),
                proptest::collection::vec(field(), 0..12),
            ),
            1..10,
        )
    }

    fn ours_decode(dec: &mut Decoder, block: &[u8]) -> Vec<F> {
        let mut list = HeaderList::new(usize::MAX);
        dec.decode(block, &mut list).expect("valid block");
        list.iter()
            .map(|f| (f.name.to_vec(), f.value.to_vec(), f.never_indexed))
            .collect()
    }

    fn theirs_decode(dec: &mut HDecoder, block: &[u8]) -> Vec<F> {
        let mut buf = block.to_vec();
        let mut out = Vec::new();
        dec.decode(&mut buf, &mut out)
            .expect("httlib decodes the block");
        out.into_iter()
            .map(|(n, v, flags)| (n, v, flags & HDecoder::NEVER_INDEXED != 0))
            .collect()
    }

    fn is_sensitive(f: &F) -> bool {
        f.2 || f.0 == b"authorization"
            || f.0 == b"proxy-authorization"
            || (f.0 == b"cookie" && f.1.len() < 20)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Our encoder's blocks, decoded by httlib and by our decoder: both
        /// give the input fields back, sensitive ones flagged never-indexed,
        /// and our two tables end up equal.
        #[test]
        fn ours_to_theirs(blocks in blocks()) {
            let mut enc = Encoder::default();
            let mut dec = Decoder::default();
            let mut theirs = HDecoder::default();
            for (size, fields) in &blocks {
                if let Some(size) = *size {
                    enc.set_peer_max_table_size(size);
                }
                let mut block = Vec::new();
                enc.encode(fields.iter().map(|(n, v, s)| Field { name: n, value: v, never_indexed: *s }), &mut block);
                let want: Vec<F> = fields.iter().map(|f| (f.0.clone(), f.1.clone(), is_sensitive(f))).collect();
                prop_assert_eq!(&theirs_decode(&mut theirs, &block), &want);
                prop_assert_eq!(&ours_decode(&mut dec, &block), &want);
                prop_assert_eq!(enc.table(), dec.table());
            }
        }

        /// httlib's blocks (every representation it has, Huffman or not,
        /// size updates), decoded by both: the same fields and flags.
        #[test]
        fn theirs_to_ours(
            blocks in blocks(),
            flags in proptest::collection::vec(0u8..32, 64),
        ) {
            let mut enc = HEncoder::default();
            let mut dec = Decoder::default();
            let mut theirs = HDecoder::default();
            let mut k = 0;
            for (size, fields) in &blocks {
                let mut block = Vec::new();
                if let Some(size) = *size {
                    enc.update_max_dynamic_size(size as u32, &mut block).unwrap();
                }
                for (n, v, _) in fields {
                    let f = flags[k % flags.len()];
                    k += 1;
                    // Huffman name/value bits, then one of: without
                    // indexing, with indexing, never indexed; best format
                    // (indexed when the table has it) or not.
                    let mut hf = f & (HEncoder::HUFFMAN_NAME | HEncoder::HUFFMAN_VALUE);
                    hf |= [0, HEncoder::WITH_INDEXING, HEncoder::NEVER_INDEXED][(f as usize >> 2) % 3];
                    if f & 0x10 != 0 {
                        hf |= HEncoder::BEST_FORMAT;
                    }
                    enc.encode((n.clone(), v.clone(), hf), &mut block).unwrap();
                }
                let got = ours_decode(&mut dec, &block);
                prop_assert_eq!(&got, &theirs_decode(&mut theirs, &block));
                let names: Vec<(Vec<u8>, Vec<u8>)> = got.into_iter().map(|f| (f.0, f.1)).collect();
                let want: Vec<(Vec<u8>, Vec<u8>)> = fields.iter().map(|f| (f.0.clone(), f.1.clone())).collect();
                prop_assert_eq!(names, want);
            }
        }

        /// Our encoder to our decoder with the peer's table size changing
        /// (lowered and raised between blocks, as SETTINGS would), and a
        /// header list bound: lists come back whole, or the bound is
        /// reported and the tables stay in step.
        #[test]
        fn round_trip(blocks in blocks(), bound in prop_oneof![Just(usize::MAX), 100usize..3000]) {
            let mut enc = Encoder::default();
            let mut dec = Decoder::default();
            let mut list = HeaderList::new(bound);
            for (size, fields) in &blocks {
                if let Some(size) = *size {
                    enc.set_peer_max_table_size(size);
                    dec.set_max_table_size(size);
                }
                let mut block = Vec::new();
                enc.encode(fields.iter().map(|(n, v, s)| Field { name: n, value: v, never_indexed: *s }), &mut block);
                let total: usize = fields.iter().map(|f| f.0.len() + f.1.len() + 32).sum();
                match dec.decode(&block, &mut list) {
                    Ok(()) => {
                        prop_assert!(total <= bound);
                        let got: Vec<F> = list.iter().map(|f| (f.name.to_vec(), f.value.to_vec(), f.never_indexed)).collect();
                        let want: Vec<F> = fields.iter().map(|f| (f.0.clone(), f.1.clone(), is_sensitive(f))).collect();
                        prop_assert_eq!(got, want);
                    }
                    Err(e) => {
                        prop_assert_eq!(e, HpackError::HeaderListTooLarge);
                        prop_assert!(total > bound);
                        prop_assert!(list.size() <= bound);
                        // What was kept is a prefix of the input.
                        for (f, g) in fields.iter().zip(list.iter()) {
                            prop_assert_eq!((&f.0[..], &f.1[..]), (g.name, g.value));
                        }
                    }
                }
                prop_assert_eq!(enc.table(), dec.table());
                prop_assert!(dec.table().size() <= dec.table().max_size());
            }
        }
    }
}
