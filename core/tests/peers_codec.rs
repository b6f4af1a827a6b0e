//! The peers codec against PROTOCOL.md: varint tables (§4.3, §4.4), hostile
//! varints, the receiver's rules for definitions and updates, encoders
//! built from table configurations, and property-based round trips for
//! every message type (decode(encode(m)) == m, and encoding is canonical:
//! re-encoding what was decoded gives the same bytes).

use proptest::collection::vec;
use proptest::prelude::*;

use sluice_core::peers::definition::DefinitionFieldsError;
use sluice_core::peers::handshake::{self, HandshakeError, Version};
use sluice_core::peers::varint::{self, VarintError};
use sluice_core::peers::{
    ControlType, DefinitionFields, DictRxCache, DictTxCache, DictValue, ErrorType, Field, Frame,
    FrameLimits, FreqCtrValue, Key, LayoutError, Malformed, Message, MsgClass, Reason, Status,
    StatusCode, TableDefinition, TableSwitch, TypeParam, Update, UpdateAck, UpdateKind,
    UpdateLayout, UpdateValue, Value,
};
use sluice_core::stick_table::{ArgKind, DataType, KeyType, StdType, StoreSpec, TableParams};

// ------------------------------------------------------------------ varint

/// PROTOCOL.md §4.3: (bytes, smallest, largest).
const RANGES: [(usize, u64, u64); 10] = [
    (1, 0, 239),
    (2, 240, 2_287),
    (3, 2_288, 264_431),
    (4, 264_432, 33_818_863),
    (5, 33_818_864, 4_328_786_159),
    (6, 4_328_786_160, 554_084_600_047),
    (7, 554_084_600_048, 70_922_828_777_711),
    (8, 70_922_828_777_712, 9_078_122_083_518_703),
    (9, 9_078_122_083_518_704, 1_161_999_626_690_365_679),
    (10, 1_161_999_626_690_365_680, u64::MAX),
];

/// PROTOCOL.md §4.4.
const EXAMPLES: &[(u64, &[u8])] = &[
    (0, &[0x00]),
    (1, &[0x01]),
    (127, &[0x7f]),
    (128, &[0x80]),
    (239, &[0xef]),
    (240, &[0xf0, 0x00]),
    (241, &[0xf1, 0x00]),
    (255, &[0xff, 0x00]),
    (256, &[0xf0, 0x01]),
    (2287, &[0xff, 0x7f]),
    (2288, &[0xf0, 0x80, 0x00]),
    (2289, &[0xf1, 0x80, 0x00]),
    (4660, &[0xf4, 0x94, 0x01]),
    (10000, &[0xf0, 0xe2, 0x03]),
    (264_431, &[0xff, 0xff, 0x7f]),
    (264_432, &[0xf0, 0x80, 0x80, 0x00]),
    (600_000, &[0xf0, 0xed, 0xa3, 0x01]),
    (33_818_863, &[0xff, 0xff, 0xff, 0x7f]),
    (33_818_864, &[0xf0, 0x80, 0x80, 0x80, 0x00]),
    (4_294_967_295, &[0xff, 0xf0, 0xfe, 0xfe, 0x7e]),
    (4_328_786_159, &[0xff, 0xff, 0xff, 0xff, 0x7f]),
    (4_328_786_160, &[0xf0, 0x80, 0x80, 0x80, 0x80, 0x00]),
    (123_456_789_012, &[0xf4, 0x92, 0xa2, 0xa5, 0xde, 0x1b]),
    (
        1 << 63,
        &[0xf0, 0xf1, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0x06],
    ),
    (
        u64::MAX,
        &[0xff, 0xf0, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0x0e],
    ),
];

fn enc(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint::encode(v, &mut out);
    out
}

#[test]
fn varint_worked_examples_both_directions() {
    for &(v, bytes) in EXAMPLES {
        assert_eq!(enc(v), bytes, "encode {v}");
        assert_eq!(varint::decode(bytes), Ok((v, bytes.len())), "decode {v}");
        assert_eq!(varint::encoded_len(v), bytes.len(), "len {v}");
    }
}

#[test]
fn varint_range_table_every_row() {
    for (n, lo, hi) in RANGES {
        for v in [lo, hi] {
            let e = enc(v);
            assert_eq!((e.len(), varint::encoded_len(v)), (n, n), "{v}");
            assert_eq!(varint::decode(&e), Ok((v, n)), "{v}");
        }
        if lo > 0 {
            assert_eq!(varint::encoded_len(lo - 1), n - 1, "just below {lo}");
        }
        // Smallest value of a row: marker byte then 0x80s then 00; largest:
        // 0xff then 0xff... then 7f.
        let e = enc(lo);
        if n > 1 {
            assert_eq!(e[0], 0xf0);
            assert!(e[1..n - 1].iter().all(|&b| b == 0x80));
            assert_eq!(e[n - 1], 0x00);
        }
        if n > 1 && n < 10 {
            let e = enc(hi);
            assert!(e[..n - 1].iter().all(|&b| b == 0xff));
            assert_eq!(e[n - 1], 0x7f);
        }
    }
}

#[test]
fn hostile_varints() {
    // 11 bytes: not ended after 10.
    let mut eleven = vec![0xf0];
    eleven.extend([0x80; 9]);
    eleven.push(0x00);
    assert_eq!(varint::decode(&eleven), Err(VarintError::TooLong));
    assert_eq!(varint::decode(&[0xff; 10]), Err(VarintError::TooLong));
    assert_eq!(varint::decode(&[0xff; 64]), Err(VarintError::TooLong));
    // Truncated: every strict prefix of a multi-byte number is incomplete.
    for &(_, bytes) in EXAMPLES {
        for cut in 0..bytes.len() {
            assert_eq!(
                varint::decode(&bytes[..cut]),
                Err(VarintError::Incomplete),
                "{bytes:02x?}[..{cut}]"
            );
        }
    }
    // Message lengths: at most 5 bytes.
    assert_eq!(
        varint::decode_max(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x00], 5),
        Err(VarintError::TooLong)
    );
    assert_eq!(
        varint::decode_max(&[0xff, 0xf0, 0xfe, 0xfe, 0x7e], 5),
        Ok((u32::MAX.into(), 5))
    );
    // A 10-byte number that overflows wraps (no panic): all-0xff then 0x7f
    // is the largest 9-byte value again, a non-canonical encoding.
    let mut wrap = vec![0xff; 9];
    wrap.push(0x7f);
    assert_eq!(varint::decode(&wrap), Ok((1_161_999_626_690_365_679, 10)));
    assert_ne!(enc(1_161_999_626_690_365_679), wrap);
}

proptest! {
    #[test]
    fn varint_round_trip(v in any::<u64>(), tail in vec(any::<u8>(), 0..4)) {
        let mut e = enc(v);
        prop_assert_eq!(e.len(), varint::encoded_len(v));
        e.extend(&tail);
        prop_assert_eq!(varint::decode(&e), Ok((v, varint::encoded_len(v))));
    }

    /// Below 10 bytes the encoding is a bijection: whatever decodes is the
    /// canonical encoding of its value.
    #[test]
    fn varint_decoding_is_canonical_below_ten_bytes(bytes in vec(any::<u8>(), 0..12)) {
        match varint::decode(&bytes) {
            Ok((v, n)) if n < 10 => prop_assert_eq!(enc(v), &bytes[..n]),
            Ok((_, n)) => prop_assert_eq!(n, 10),
            Err(VarintError::Incomplete) => prop_assert!(bytes.len() < 10),
            Err(VarintError::TooLong) => prop_assert!(bytes.len() >= 10),
        }
    }
}

// ---------------------------------------------------------------- framing

fn frame_of(bytes: &[u8]) -> (Frame<'_>, usize) {
    match Frame::decode(bytes, &FrameLimits::default()) {
        Ok(Status::Complete(c)) => c,
        other => panic!("{other:?} for {bytes:02x?}"),
    }
}

/// Decodes one whole message and checks it used every byte.
fn parse_all(bytes: &[u8]) -> Message<'_> {
    let (f, n) = frame_of(bytes);
    assert_eq!(n, bytes.len(), "one message");
    Message::parse(&f).unwrap()
}

proptest! {
    #[test]
    fn frame_round_trip(class in 0u8..255, typ in any::<u8>(), body in vec(any::<u8>(), 0..600)) {
        let body = if Frame::type_has_body(typ) { &body[..] } else { &[][..] };
        let f = Frame { class: MsgClass(class), typ, body };
        let mut out = Vec::new();
        f.encode(&mut out);
        prop_assert_eq!(out.len(), f.encoded_len());
        prop_assert_eq!(Frame::decode(&out, &FrameLimits::default()), Ok(Status::Complete((f, out.len()))));
        for cut in 0..out.len() {
            prop_assert_eq!(Frame::decode(&out[..cut], &FrameLimits::default()), Ok(Status::Partial));
        }
        // A limit just below the body length turns it into a size limit.
        if Frame::type_has_body(typ) && !body.is_empty() {
            let limits = FrameLimits { max_body_len: body.len() - 1 };
            prop_assert_eq!(
                Frame::decode(&out, &limits),
                Err(sluice_core::peers::FrameError::SizeLimit { len: body.len() as u32 })
            );
        }
    }

    #[test]
    fn control_and_error_round_trip(typ in 0u8..0x80) {
        for msg in [Message::Control(ControlType(typ)), Message::Error(ErrorType(typ))] {
            let mut out = Vec::new();
            msg.encode(&mut out);
            prop_assert_eq!(out.len(), 2);
            prop_assert_eq!(parse_all(&out), msg);
        }
    }

    #[test]
    fn switch_and_ack_round_trip(table_id in any::<u64>(), update_id in any::<u32>()) {
        let mut out = Vec::new();
        let sw = TableSwitch { table_id };
        sw.encode(&mut out);
        prop_assert_eq!(parse_all(&out), Message::TableSwitch(sw));
        let mut again = Vec::new();
        Message::TableSwitch(sw).encode(&mut again);
        prop_assert_eq!(&again, &out);

        let mut out = Vec::new();
        let ack = UpdateAck { table_id, update_id };
        ack.encode(&mut out);
        prop_assert_eq!(parse_all(&out), Message::UpdateAck(ack));
        let mut again = Vec::new();
        Message::UpdateAck(ack).encode(&mut again);
        prop_assert_eq!(&again, &out);
    }

    #[test]
    fn unknown_messages_round_trip(class in 2u8..255, typ in any::<u8>(), body in vec(any::<u8>(), 0..40)) {
        prop_assume!(class != 10);
        let body = if Frame::type_has_body(typ) { &body[..] } else { &[][..] };
        let mut out = Vec::new();
        Frame { class: MsgClass(class), typ, body }.encode(&mut out);
        let m = parse_all(&out);
        prop_assert!(matches!(m, Message::Unknown(_)));
        let mut again = Vec::new();
        m.encode(&mut again);
        prop_assert_eq!(again, out);
    }
}

#[test]
fn stick_table_types_without_known_meaning_are_values() {
    for typ in [0x00u8, 0x7f, 0x87, 0xff] {
        let mut out = Vec::new();
        Frame {
            class: MsgClass::STICK_TABLE,
            typ,
            body: if typ & 0x80 != 0 { b"xy" } else { b"" },
        }
        .encode(&mut out);
        assert!(matches!(parse_all(&out), Message::Unknown(f) if f.typ == typ));
    }
    // A control type with bit 7 has a body: it is not a control message.
    assert!(matches!(
        parse_all(&[0x00, 0x85, 0x01, 0xaa]),
        Message::Unknown(_)
    ));
}

// ------------------------------------------------------------ definitions

fn definition_body(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn decode_def(body: &[u8]) -> Result<TableDefinition<'_>, Malformed> {
    TableDefinition::decode(body)
}

#[test]
fn definition_header_errors_are_always_protocol_errors() {
    let m = |field, reason| Err(Malformed { field, reason });
    assert_eq!(decode_def(&[]), m(Field::TableId, Reason::Truncated));
    assert_eq!(decode_def(&[0xf0]), m(Field::TableId, Reason::Truncated));
    assert_eq!(decode_def(&[0x01]), m(Field::NameLength, Reason::Truncated));
    assert_eq!(
        decode_def(&[0x01, 0x00, 0x04]),
        m(Field::NameLength, Reason::Zero)
    );
    // The observed malformed definition: name length 5, 1 byte left.
    assert_eq!(
        decode_def(&[0x01, 0x05, 0x61]),
        m(Field::Name, Reason::ReachesEnd)
    );
    // A name that ends exactly at the end of the body is an error too.
    assert_eq!(
        decode_def(b"\x01\x02ab"),
        m(Field::Name, Reason::ReachesEnd)
    );
    // One more byte: the name is fine, the fields are truncated.
    let d = decode_def(b"\x01\x02ab\x04").unwrap();
    assert_eq!((d.table_id, d.name), (1, &b"ab"[..]));
    assert_eq!(
        d.fields,
        Err(DefinitionFieldsError::Truncated(Field::KeySize))
    );
    assert!(DefinitionFieldsError::Truncated(Field::KeySize).is_protocol_error());
    let d = decode_def(b"\x01\x02ab\xf0").unwrap();
    assert_eq!(
        d.fields,
        Err(DefinitionFieldsError::Truncated(Field::KeyType))
    );
    let d = decode_def(b"\x01\x02ab\x04\x04\xf7\xb4").unwrap();
    assert_eq!(
        d.fields,
        Err(DefinitionFieldsError::Truncated(Field::DataTypes))
    );
}

#[test]
fn definition_old_style_and_parameter_rules() {
    let head: &[u8] = b"\x05\x05/t_ip\x04\x04";
    let bits_t_ip: &[u8] = &[0xf7, 0xb4, 0x03];
    let expire: &[u8] = &[0xf0, 0xed, 0xa3, 0x01];
    let p5: &[u8] = &[0x05, 0xf0, 0xe2, 0x03];
    let p10: &[u8] = &[0x0a, 0xf0, 0xe2, 0x03];

    // Old style: the body ends right after the data types.
    let body = definition_body(&[head, bits_t_ip]);
    let f = decode_def(&body).unwrap().fields.unwrap();
    assert_eq!(
        (f.data_types, f.expire_ms, f.params.len()),
        (0x2437, None, 0)
    );
    // A truncated expire is taken as absent, as 2.6 does.
    let body = definition_body(&[head, bits_t_ip, &[0xf0]]);
    assert_eq!(decode_def(&body).unwrap().fields.unwrap().expire_ms, None);
    // Old style with an array type: ignored.
    let bits_gpt = enc(DataType::GPT.bit() | DataType::GPC0.bit());
    let body = definition_body(&[head, &bits_gpt]);
    assert_eq!(
        decode_def(&body).unwrap().fields,
        Err(DefinitionFieldsError::ArrayWithoutParameters(DataType::GPT))
    );
    // Full form.
    let body = definition_body(&[head, bits_t_ip, expire, p5, p10]);
    let f = decode_def(&body).unwrap().fields.unwrap();
    assert_eq!(f.expire_ms, Some(600_000));
    assert_eq!(
        f.params
            .iter()
            .map(|p| (p.data_type, p.period_ms))
            .collect::<Vec<_>>(),
        vec![
            (DataType::CONN_RATE, Some(10_000)),
            (DataType::HTTP_REQ_RATE, Some(10_000))
        ]
    );
    // Missing parameter (the second one), truncated period, wrong type id.
    let body = definition_body(&[head, bits_t_ip, expire, p5]);
    assert_eq!(
        decode_def(&body).unwrap().fields,
        Err(DefinitionFieldsError::MissingParameter(
            DataType::HTTP_REQ_RATE
        ))
    );
    let body = definition_body(&[head, bits_t_ip, expire, p5, &[0x0a, 0xf0]]);
    assert_eq!(
        decode_def(&body).unwrap().fields,
        Err(DefinitionFieldsError::MissingParameter(
            DataType::HTTP_REQ_RATE
        ))
    );
    let body = definition_body(&[head, bits_t_ip, expire, p10, p5]);
    assert_eq!(
        decode_def(&body).unwrap().fields,
        Err(DefinitionFieldsError::MismatchedParameter {
            expected: DataType::CONN_RATE,
            found: 10
        })
    );
    assert!(!DefinitionFieldsError::MissingParameter(DataType::GPT).is_protocol_error());
    // Unknown types (bit 40) come last and stop parameter parsing; their
    // parameter bytes and anything after are ignored.
    let mut bits = Vec::new();
    varint::encode(0x2437 | 1 << 40, &mut bits);
    let body = definition_body(&[head, &bits, expire, p5, p10, &[40, 0x12, 0x34]]);
    let f = decode_def(&body).unwrap().fields.unwrap();
    assert_eq!((f.data_types, f.params.len()), (0x2437 | 1 << 40, 2));
    let layout = UpdateLayout::from_definition(&f).unwrap();
    assert_eq!(
        layout.value_types().map(|t| t.0).collect::<Vec<_>>().len(),
        7
    );
}

/// The peers-section tables of `captures/session/haproxy-A.cfg`.
fn t_ip_params() -> TableParams {
    let mut p = TableParams::new("mesh/t_ip", KeyType::Ipv4, 1000);
    p.wire_name = "/t_ip".into();
    p.expire_ms = Some(600_000);
    p.store = vec![
        StoreSpec::plain(DataType::SERVER_ID),
        StoreSpec::plain(DataType::GPT0),
        StoreSpec::plain(DataType::GPC0),
        StoreSpec::plain(DataType::CONN_CNT),
        StoreSpec::rate(DataType::CONN_RATE, 10_000),
        StoreSpec::rate(DataType::HTTP_REQ_RATE, 10_000),
        StoreSpec::plain(DataType::BYTES_IN_CNT),
    ];
    p
}

fn t_ip6_params() -> TableParams {
    let mut p = TableParams::new("mesh/t_ip6", KeyType::Ipv6, 1000);
    p.wire_name = "/t_ip6".into();
    p.expire_ms = Some(600_000);
    p.store = vec![
        StoreSpec::array(DataType::GPT, 2, 0),
        StoreSpec::array(DataType::GPC, 2, 0),
        StoreSpec::array(DataType::GPC_RATE, 2, 10_000),
        StoreSpec::plain(DataType::CONN_CUR),
        StoreSpec::plain(DataType::HTTP_FAIL_CNT),
        StoreSpec::rate(DataType::BYTES_OUT_RATE, 60_000),
    ];
    p
}

#[test]
fn definitions_from_table_params_match_haproxy_bytes() {
    let cases: [(u64, TableParams, &[u8]); 2] = [
        (
            5,
            t_ip_params(),
            &[
                0x0a, 0x82, 0x18, 0x05, 0x05, 0x2f, 0x74, 0x5f, 0x69, 0x70, 0x04, 0x04, 0xf7, 0xb4,
                0x03, 0xf0, 0xed, 0xa3, 0x01, 0x05, 0xf0, 0xe2, 0x03, 0x0a, 0xf0, 0xe2, 0x03,
            ],
        ),
        (
            1,
            t_ip6_params(),
            &[
                0x0a, 0x82, 0x1f, 0x01, 0x06, 0x2f, 0x74, 0x5f, 0x69, 0x70, 0x36, 0x05, 0x10, 0xf0,
                0xf5, 0x9e, 0x73, 0xf0, 0xed, 0xa3, 0x01, 0x10, 0xf0, 0x97, 0x1c, 0x16, 0x02, 0x17,
                0x02, 0x18, 0x02, 0xf0, 0xe2, 0x03,
            ],
        ),
    ];
    for (id, params, bytes) in cases {
        let fields = DefinitionFields::from_table_params(&params);
        let def = TableDefinition {
            table_id: id,
            name: params.wire_name.as_bytes(),
            fields: Ok(fields.clone()),
        };
        let mut out = Vec::new();
        def.encode(&mut out);
        assert_eq!(out, bytes, "{}", params.wire_name);
        // The receiver's layout equals the sender's own.
        assert_eq!(
            UpdateLayout::from_definition(&fields).unwrap(),
            UpdateLayout::from_table_params(&params)
        );
        assert_eq!(parse_all(&out), Message::TableDefinition(def));
    }
}

#[test]
fn layouts_refuse_what_cannot_be_read() {
    let mut f = DefinitionFields::from_table_params(&t_ip_params());
    f.key_type = 3;
    assert_eq!(
        UpdateLayout::from_definition(&f),
        Err(LayoutError::UnknownKeyType(3))
    );
    let mut f = DefinitionFields::from_table_params(&t_ip6_params());
    f.params.retain(|p| p.data_type != DataType::GPC);
    assert_eq!(
        UpdateLayout::from_definition(&f),
        Err(LayoutError::MissingArrayLen(DataType::GPC))
    );
}

// ---------------------------------------------------------------- updates

fn t_ip_layout() -> UpdateLayout {
    UpdateLayout::from_table_params(&t_ip_params())
}

#[test]
fn observed_update_bytes() {
    // captures/README.md, A -> B at 0x01f.
    let bytes: &[u8] = &[
        0x0a, 0x80, 0x1a, 0x00, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x0a, 0x03, 0x01, 0x2a, 0x07,
        0xf8, 0x78, 0x05, 0x00, 0xf8, 0x78, 0x09, 0x00, 0xf4, 0x92, 0xa2, 0xa5, 0xde, 0x1b,
    ];
    let Message::Update { kind, body } = parse_all(bytes) else {
        panic!()
    };
    let u = Update::decode(kind, body, &t_ip_layout()).unwrap();
    assert_eq!(
        (u.update_id, u.expire_ms, u.key),
        (Some(1), None, Key::Ipv4([127, 0, 0, 10]))
    );
    assert_eq!(
        u.value(DataType::CONN_RATE),
        Some(&Value::FreqCtr(FreqCtrValue {
            age: 2168,
            curr_ctr: 5,
            prev_ctr: 0
        }))
    );
    assert_eq!(
        u.value(DataType::BYTES_IN_CNT).and_then(Value::as_ull),
        Some(123_456_789_012)
    );
    assert!(u.matches_layout(&t_ip_layout()));
    let mut out = Vec::new();
    u.encode(&mut out);
    assert_eq!(out, bytes);
    assert_eq!(u.id_after(41), 1);
}

#[test]
fn update_errors() {
    let layout = t_ip_layout();
    let err = |kind, body: &[u8]| Update::decode(kind, body, &layout).unwrap_err();
    assert_eq!(
        err(UpdateKind::Update, &[0, 0, 1]),
        Malformed {
            field: Field::UpdateId,
            reason: Reason::Truncated
        }
    );
    assert_eq!(
        err(UpdateKind::Timed, &[0, 0, 0, 1, 0, 0]).field,
        Field::Lifetime
    );
    assert_eq!(
        err(UpdateKind::IncrementalTimed, &[0, 0, 0, 1, 127, 0]).field,
        Field::Key
    );
    assert_eq!(
        err(UpdateKind::Incremental, &[127, 0, 0, 1, 3, 1]).field,
        Field::Value(DataType::GPC0)
    );
    // Truncated inside a frequency counter triplet.
    assert_eq!(
        err(
            UpdateKind::Incremental,
            &[127, 0, 0, 1, 0, 0, 0, 0, 0xf8, 0x78, 5]
        )
        .field,
        Field::Value(DataType::CONN_RATE)
    );
    // Trailing bytes are ignored; the incremental id is previous + 1.
    let body = [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad];
    let u = Update::decode(UpdateKind::Incremental, &body, &layout).unwrap();
    assert_eq!(
        (u.update_id, u.id_after(u32::MAX), u.values.len()),
        (None, 0, 7)
    );
    // String keys skip the whole announced length; binary keys are exactly key-size bytes.
    let s = UpdateLayout::new(KeyType::String, 33, 0);
    let u = Update::decode(UpdateKind::Incremental, b"\x03abc", &s).unwrap();
    assert_eq!(u.key, Key::String(b"abc"));
    assert_eq!(
        Update::decode(UpdateKind::Incremental, b"\x04abc", &s)
            .unwrap_err()
            .field,
        Field::Key
    );
    let b = UpdateLayout::new(KeyType::Binary, 4, 0);
    assert_eq!(
        Update::decode(UpdateKind::Incremental, b"abcdef", &b)
            .unwrap()
            .key,
        Key::Binary(b"abcd")
    );
    assert_eq!(
        Update::decode(UpdateKind::Incremental, b"abc", &b)
            .unwrap_err()
            .field,
        Field::Key
    );
    // Dictionary values are bound-checked.
    let d = UpdateLayout::new(KeyType::Integer, 4, DataType::SERVER_KEY.bit());
    let e = Update::decode(
        UpdateKind::Incremental,
        &[0, 0, 0, 1, 0x04, 0x81, 0x01, 0x02, 0x41],
        &d,
    )
    .unwrap_err();
    assert_eq!((e.field, e.reason), (Field::DictId, Reason::OutOfRange));
    // A huge array count from a hostile definition cannot loop: the body runs out.
    let big = UpdateLayout::new(KeyType::Integer, 4, DataType::GPT.bit())
        .with_array_len(DataType::GPT, u32::MAX);
    let e = Update::decode(UpdateKind::Incremental, &[0, 0, 0, 1, 1, 2, 3], &big).unwrap_err();
    assert_eq!(e.field, Field::Value(DataType::GPT));
}

// ------------------------------------------------------- update proptests

type KeySpec = (KeyType, usize, Vec<u8>);

fn key_strategy(kt: KeyType, key_size: usize) -> BoxedStrategy<KeySpec> {
    match kt {
        KeyType::String => vec(any::<u8>(), 0..40)
            .prop_map(move |k| (kt, key_size, k))
            .boxed(),
        KeyType::Binary => vec(any::<u8>(), key_size)
            .prop_map(move |k| (kt, key_size, k))
            .boxed(),
        KeyType::Integer | KeyType::Ipv4 => {
            vec(any::<u8>(), 4).prop_map(move |k| (kt, 4, k)).boxed()
        }
        KeyType::Ipv6 => vec(any::<u8>(), 16).prop_map(move |k| (kt, 16, k)).boxed(),
    }
}

fn key_of(kt: KeyType, k: &[u8]) -> Key<'_> {
    match kt {
        KeyType::Integer => Key::Integer(u32::from_be_bytes(k.try_into().unwrap())),
        KeyType::Ipv4 => Key::Ipv4(k.try_into().unwrap()),
        KeyType::Ipv6 => Key::Ipv6(k.try_into().unwrap()),
        KeyType::String => Key::String(k),
        KeyType::Binary => Key::Binary(k),
    }
}

#[derive(Clone, Debug)]
enum RawValue {
    Int(u64),
    Freq(u64, u64, u64),
    DictNone,
    DictRef(u8),
    DictDef(u8, Vec<u8>),
}

fn raw_value(std: StdType) -> BoxedStrategy<RawValue> {
    match std {
        StdType::FreqP => (any::<u64>(), any::<u64>(), any::<u64>())
            .prop_map(|(a, b, c)| RawValue::Freq(a, b, c))
            .boxed(),
        StdType::Dict => prop_oneof![
            Just(RawValue::DictNone),
            (1u8..=128).prop_map(RawValue::DictRef),
            ((1u8..=128), vec(any::<u8>(), 0..20)).prop_map(|(i, s)| RawValue::DictDef(i, s)),
        ]
        .boxed(),
        _ => prop_oneof![any::<u64>(), 0u64..300]
            .prop_map(RawValue::Int)
            .boxed(),
    }
}

fn to_value(r: &RawValue) -> Value<'_> {
    match r {
        RawValue::Int(x) => Value::Int(*x),
        RawValue::Freq(a, b, c) => Value::FreqCtr(FreqCtrValue {
            age: *a,
            curr_ctr: *b,
            prev_ctr: *c,
        }),
        RawValue::DictNone => Value::Dict(DictValue::None),
        RawValue::DictRef(i) => Value::Dict(DictValue::Reference(*i)),
        RawValue::DictDef(i, s) => Value::Dict(DictValue::Define { id: *i, value: s }),
    }
}

/// A layout (key type, key size, data types, array sizes) and matching raw
/// values for one update.
fn layout_and_values() -> impl Strategy<Value = (KeySpec, u64, Vec<u32>, Vec<RawValue>)> {
    let kt = prop_oneof![
        Just(KeyType::Integer),
        Just(KeyType::Ipv4),
        Just(KeyType::Ipv6),
        Just(KeyType::String),
        Just(KeyType::Binary)
    ];
    (
        kt,
        1usize..40,
        any::<u32>(),
        vec(1u32..4, DataType::COUNT as usize),
    )
        .prop_flat_map(|(kt, ks, mask, counts)| {
            let bits = u64::from(mask) & ((1u64 << DataType::COUNT) - 1);
            let mut stds = Vec::new();
            for dt in DataType::all().filter(|d| bits & d.bit() != 0) {
                let info = dt.info().unwrap();
                let n = if info.is_array() {
                    counts[dt.0 as usize]
                } else {
                    1
                };
                stds.extend(std::iter::repeat_n(info.std_type, n as usize));
            }
            let values = stds.into_iter().map(raw_value).collect::<Vec<_>>();
            (key_strategy(kt, ks), Just(bits), Just(counts), values)
        })
}

fn layout_of(kt: KeyType, ks: usize, bits: u64, counts: &[u32]) -> UpdateLayout {
    let mut l = UpdateLayout::new(kt, ks, bits);
    for dt in DataType::all() {
        if dt.info().unwrap().is_array() {
            l = l.with_array_len(dt, counts[dt.0 as usize]);
        }
    }
    l
}

fn update_values<'a>(layout: &UpdateLayout, raw: &'a [RawValue]) -> Vec<UpdateValue<'a>> {
    let mut it = raw.iter();
    let mut out = Vec::new();
    for (dt, _, count) in layout.value_types() {
        for index in 0..count {
            out.push(UpdateValue {
                data_type: dt,
                index,
                value: to_value(it.next().unwrap()),
            });
        }
    }
    assert!(it.next().is_none());
    out
}

proptest! {
    #[test]
    fn update_round_trip(
        ((kt, ks, key), bits, counts, raw) in layout_and_values(),
        update_id in proptest::option::of(any::<u32>()),
        expire_ms in proptest::option::of(any::<u32>()),
    ) {
        let layout = layout_of(kt, ks, bits, &counts);
        let u = Update { update_id, expire_ms, key: key_of(kt, &key), values: update_values(&layout, &raw) };
        prop_assert!(u.matches_layout(&layout));
        let mut out = Vec::new();
        u.encode(&mut out);
        let Message::Update { kind, body } = parse_all(&out) else { panic!("not an update") };
        prop_assert_eq!(kind, u.kind());
        let back = Update::decode(kind, body, &layout).unwrap();
        prop_assert_eq!(&back, &u);
        let mut again = Vec::new();
        back.encode(&mut again);
        prop_assert_eq!(again, out);
    }

    #[test]
    fn definition_round_trip(
        table_id in any::<u64>(),
        name in vec(any::<u8>(), 1..40),
        key_type in any::<u64>(),
        key_size in any::<u64>(),
        mask in any::<u32>(),
        high in any::<u64>(),
        expire in proptest::option::of(any::<u64>()),
        counts in vec(any::<u64>(), DataType::COUNT as usize),
        periods in vec(any::<u64>(), DataType::COUNT as usize),
    ) {
        let mut bits = u64::from(mask) & ((1u64 << DataType::COUNT) - 1);
        if expire.is_none() {
            // An old-style definition cannot announce arrays.
            bits &= !DataType::all().filter(|d| d.info().unwrap().is_array()).fold(0, |a, d| a | d.bit());
        }
        // Bits of unknown types come after the known ones.
        bits |= high & !((1u64 << DataType::COUNT) - 1);
        let params = if expire.is_none() {
            Vec::new()
        } else {
            DataType::all()
                .filter(|d| bits & d.bit() != 0)
                .filter_map(|d| {
                    let info = d.info().unwrap();
                    (info.arg != ArgKind::None).then(|| TypeParam {
                        data_type: d,
                        element_count: info.is_array().then_some(counts[d.0 as usize]),
                        period_ms: info.has_period().then_some(periods[d.0 as usize]),
                    })
                })
                .collect()
        };
        let fields = DefinitionFields { key_type, key_size, data_types: bits, expire_ms: expire, params };
        let def = TableDefinition { table_id, name: &name, fields: Ok(fields) };
        let mut out = Vec::new();
        def.encode(&mut out);
        let back = parse_all(&out);
        prop_assert_eq!(&back, &Message::TableDefinition(def));
        let mut again = Vec::new();
        back.encode(&mut again);
        prop_assert_eq!(again, out);
    }

    /// Whatever strings a sender sends, a receiver resolves each dictionary
    /// value to the string that was meant.
    #[test]
    fn dictionary_caches_agree(strings in vec(0u8..200, 1..400)) {
        let mut tx = DictTxCache::new();
        let mut rx = DictRxCache::new();
        for s in strings {
            let value = format!("srv{s}").into_bytes();
            let v = tx.encode_value(&value);
            let mut wire = Vec::new();
            let u = Update {
                update_id: None,
                expire_ms: None,
                key: Key::Integer(1),
                values: vec![UpdateValue { data_type: DataType::SERVER_KEY, index: 0, value: Value::Dict(v) }],
            };
            u.encode_body(&mut wire);
            let layout = UpdateLayout::new(KeyType::Integer, 4, DataType::SERVER_KEY.bit());
            let back = Update::decode(UpdateKind::Incremental, &wire, &layout).unwrap();
            let Some(Value::Dict(d)) = back.value(DataType::SERVER_KEY) else { panic!() };
            prop_assert_eq!(rx.apply(d), Some(&value[..]));
        }
    }

    #[test]
    fn hello_round_trip(
        major in 0u32..4, minor in 0u32..4,
        called in "[A-Za-z0-9_.-]{1,20}",
        own in "[A-Za-z0-9_.-]{1,20}",
        pid in any::<u32>(),
    ) {
        let version = Version { major, minor };
        let mut out = Vec::new();
        handshake::encode_hello(version, called.as_bytes(), own.as_bytes(), pid, &mut out);
        let got = handshake::accept_hello(&out, 64, called.as_bytes(), |n| n == own.as_bytes());
        if version.is_supported() {
            let Ok(Status::Complete((h, n))) = got else { panic!("{got:?}") };
            prop_assert_eq!(n, out.len());
            prop_assert_eq!((h.version, h.called, h.sender), (version, called.as_bytes(), own.as_bytes()));
            let args = format!("{pid} 1");
            prop_assert_eq!(h.sender_args, args.as_bytes());
            for cut in 0..out.len() {
                prop_assert_eq!(handshake::accept_hello(&out[..cut], 64, called.as_bytes(), |n| n == own.as_bytes()), Ok(Status::Partial));
            }
        } else {
            prop_assert_eq!(got, Err(HandshakeError::Rejected(StatusCode::BAD_VERSION)));
        }
        // Wrong local name, unknown peer.
        let wrong = handshake::accept_hello(&out, 64, b"not-me!", |_| true);
        let unknown = handshake::accept_hello(&out, 64, called.as_bytes(), |_| false);
        if version.is_supported() {
            prop_assert_eq!(wrong, Err(HandshakeError::Rejected(StatusCode::WRONG_HOST)));
            prop_assert_eq!(unknown, Err(HandshakeError::Rejected(StatusCode::UNKNOWN_PEER)));
        }
    }

    #[test]
    fn status_round_trip(code in any::<u16>(), tail in vec(any::<u8>(), 0..8)) {
        let mut out = Vec::new();
        StatusCode(code).encode(&mut out);
        let n = out.len();
        out.extend(&tail);
        prop_assert_eq!(StatusCode::parse(&out, 16), Ok(Status::Complete((StatusCode(code), n))));
        prop_assert_eq!(StatusCode::parse(&out[..n - 1], 16), Ok(Status::Partial));
    }
}
