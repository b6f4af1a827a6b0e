//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay
//! test (`tests/fuzz_corpus.rs`).
//!
//! Each function takes arbitrary bytes, drives the peers decoders or the
//! HTTP/1 parser (`h1_request`, `h1_response`) with them and checks
//! invariants with `assert!`: a fuzz finding is a panic. The
//! invariants are round trips (what decodes re-encodes canonically and
//! decodes to the same value), push-style consistency (feeding the same
//! bytes in pieces gives the same items) and agreement between the layers.
//! The engine targets (`engine_http`, `engine_tcp`) drive a whole engine
//! with an in-memory world instead; their invariants are the engine's own
//! (`check_invariants`, no busy loop, no leak) and the driving contract.
//! Everything here is plain stable Rust, so `cargo test` replays every
//! corpus and crash file without cargo-fuzz.

pub mod engine_ops;
mod h2;

pub use h2::{h2_frame, h2_mux, hpack_decode};

/// Target `engine_http`: the input as a sequence of operations (clients
/// connecting and sending in random chunkings, servers answering, closes,
/// resets, backpressure, time) against an HTTP engine; see [`engine_ops`].
pub fn engine_http(data: &[u8]) {
    engine_ops::run(engine_ops::Target::Http, data);
}

/// Target `engine_tcp`: the same operations against a TCP engine
/// (`accept-proxy`, `maxconn`, queues, retries, splicing).
pub fn engine_tcp(data: &[u8]) {
    engine_ops::run(engine_ops::Target::Tcp, data);
}

/// Target `engine_h2`: the same operations against H2 listeners, an H2
/// server and an HTTP/1.1 one ([`engine_ops::H2_CFG`]): frames canned
/// (prefaces, requests, CONTINUATION, control frames) or any bytes, on
/// both sides.
pub fn engine_h2(data: &[u8]) {
    engine_ops::run(engine_ops::Target::H2, data);
}

/// Target `engine_tls`: the same operations against TLS listeners and a
/// TLS server ([`engine_ops::TLS_CFG`]): arbitrary bytes as TLS records
/// after real ClientHellos, or instead of them, both ways. The caller
/// hands in the crypto provider (ring's in the fuzz target and the corpus
/// replay: the engine's crate builds none).
pub fn engine_tls(data: &[u8], provider: std::sync::Arc<rustls::crypto::CryptoProvider>) {
    engine_ops::run_tls(data, provider);
}

/// Target `client_hello_sni`: the ClientHello parser behind `req.ssl_sni`
/// (HAProxy's `smp_fetch_ssl_hello_sni`). Invariants: bytes after the
/// first record change nothing; every strict prefix of a whole record is
/// `Incomplete` (the inspect-delay waits for more, never decides early); a
/// name is bytes of the record; and where rustls's own ClientHello parser
/// (`rustls::server::Acceptor`) reads a valid SNI from a record holding
/// exactly one ClientHello, the parser finds the same name.
pub fn client_hello_sni(data: &[u8]) {
    use crate::http::fetch::{tls_sni, Sni};
    let full = tls_sni(data);
    if data.len() < 5 || data[0] != 0x16 || data[1] != 3 {
        return;
    }
    let rec_len = usize::from(data[3]) << 8 | usize::from(data[4]);
    let end = 5 + rec_len;
    if data.len() < end {
        assert_eq!(full, Sni::Incomplete, "a record not all there");
        return;
    }
    assert_eq!(tls_sni(&data[..end]), full, "bytes after the record count");
    // Strict prefixes: all of the short ones, then 64 spread over the rest.
    let step = (end / 64).max(1);
    for k in (0..end.min(16)).chain((16..end).step_by(step)) {
        assert_eq!(
            tls_sni(&data[..k]),
            Sni::Incomplete,
            "prefix of {k} bytes decided"
        );
    }
    if let Sni::Name(n) = &full {
        assert!(
            n.is_empty() || data[5..end].windows(n.len()).any(|w| w == n.as_slice()),
            "the name is not in the record"
        );
    }
    // One ClientHello, the whole record.
    let hs_len = data.get(6..9).map_or(0, |b| {
        usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2])
    });
    if data.get(5) != Some(&1) || hs_len + 4 != rec_len {
        return;
    }
    let mut acc = rustls::server::Acceptor::default();
    if acc.read_tls(&mut &data[..end]).is_err() {
        return;
    }
    if let Ok(Some(accepted)) = acc.accept() {
        if let Some(name) = accepted.client_hello().server_name() {
            match &full {
                // rustls drops one trailing dot of the name; `req.ssl_sni`
                // gives the bytes as sent, as HAProxy's does.
                Sni::Name(n) => assert!(
                    n.strip_suffix(b".")
                        .unwrap_or(n)
                        .eq_ignore_ascii_case(name.as_bytes())
                        || n.eq_ignore_ascii_case(name.as_bytes()),
                    "rustls reads SNI {name:?}, req.ssl_sni {:?}",
                    n.escape_ascii().to_string()
                ),
                other => panic!("rustls reads SNI {name:?}, req.ssl_sni {other:?}"),
            }
        }
    }
}

use crate::peers::dissect::{DissectError, Dissector, Item, Start};
use crate::peers::handshake::{self, HandshakeError, HelloLines, StatusCode, Version};
use crate::peers::varint::{self, VarintError};
use crate::peers::{
    DefinitionFields, DictRxCache, DictTxCache, DictValue, Frame, FrameLimits, FreqCtrValue, Key,
    Message, TableDefinition, TableSwitch, TypeParam, Update, UpdateAck, UpdateKind, UpdateLayout,
    UpdateValue, Value,
};
use crate::stick_table::{ArgKind, DataType, KeyType, StdType};

/// Target `intdecode`: the varint decoder against its encoder.
pub fn intdecode(data: &[u8]) {
    check_one_varint(data);
    // The input as a list of u64, encoded back to back then decoded.
    let values: Vec<u64> = data
        .chunks(8)
        .map(|c| c.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
        .collect();
    let mut out = Vec::new();
    for &v in &values {
        varint::encode(v, &mut out);
    }
    let mut pos = 0;
    for &v in &values {
        let (got, n) = varint::decode(&out[pos..]).expect("own encoding decodes");
        assert_eq!((got, n), (v, varint::encoded_len(v)));
        pos += n;
    }
    assert_eq!(pos, out.len());
}

fn check_one_varint(data: &[u8]) {
    let continues = |b: &u8| *b >= 0x80;
    match varint::decode(data) {
        Ok((v, n)) => {
            assert!((1..=varint::MAX_LEN).contains(&n) && n <= data.len());
            let canonical = encode_varint(v);
            if n < varint::MAX_LEN {
                // Below 10 bytes the encoding is a bijection.
                assert_eq!(canonical, &data[..n], "non-canonical encoding of {v}");
            }
            assert_eq!(varint::decode(&canonical), Ok((v, canonical.len())));
            for cut in 0..n {
                assert_eq!(varint::decode(&data[..cut]), Err(VarintError::Incomplete));
            }
            let short = varint::decode_max(data, varint::MAX_LEN_MSG_LENGTH);
            if n <= varint::MAX_LEN_MSG_LENGTH {
                assert_eq!(short, Ok((v, n)));
            } else {
                assert_eq!(short, Err(VarintError::TooLong));
            }
        }
        Err(VarintError::Incomplete) => {
            assert!(data.len() < varint::MAX_LEN);
            assert!(data.first().is_none_or(|&b| b >= 0xF0) && data.iter().skip(1).all(continues));
        }
        Err(VarintError::TooLong) => {
            assert!(data.len() >= varint::MAX_LEN && data[0] >= 0xF0);
            assert!(data[1..varint::MAX_LEN].iter().all(continues));
        }
    }
}

fn encode_varint(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint::encode(v, &mut out);
    assert_eq!(out.len(), varint::encoded_len(v));
    out
}

/// Target `peer_message`: the input as one direction of a session (binary,
/// or with its handshake text), as single message bodies, and as a recipe
/// for messages that must survive encode then decode.
pub fn peer_message(data: &[u8]) {
    let start = start_of(data);
    for limits in [FrameLimits::default(), FrameLimits { max_body_len: 32 }] {
        check_stream(data, start, limits);
    }
    if start != Start::Binary {
        check_stream(data, Start::Binary, FrameLimits::default());
    }
    check_bodies(data);
    generated_round_trips(data);
}

/// Target `peer_handshake`: hello and status parsing.
pub fn peer_handshake(data: &[u8]) {
    for max_line in [8, 64, handshake::DEFAULT_MAX_LINE_LEN] {
        check_accept_hello(data, max_line);
        check_status(data, max_line);
    }
    check_stream(data, Start::Hello, FrameLimits::default());
    check_stream(data, Start::Status, FrameLimits::default());
}

fn start_of(data: &[u8]) -> Start {
    match data.first() {
        Some(b'H') => Start::Hello,
        Some(b'0'..=b'9') => Start::Status,
        _ => Start::Binary,
    }
}

// ---------------------------------------------------------------- streams

/// Upper bound on items checked per input (keeps each run short).
const MAX_ITEMS: usize = 4096;

/// Decodes `data` in one go and in pieces, and checks every item.
fn check_stream(data: &[u8], start: Start, limits: FrameLimits) {
    let mut whole = Dissector::with_limits(start, limits, 256);
    let mut pieces = Dissector::with_limits(start, limits, 256);
    let step = usize::from(data.first().copied().unwrap_or(0) % 7) + 1;
    let mut pos = 0;
    let mut fed = 0;
    for _ in 0..MAX_ITEMS {
        let one = whole.next(&data[pos..]);
        // The same item, reached by feeding growing prefixes.
        let again = loop {
            match pieces.next(&data[pos..fed]) {
                Ok(crate::peers::Status::Partial) if fed < data.len() => {
                    fed = (fed + step).min(data.len())
                }
                r => break r,
            }
        };
        assert_eq!(one, again, "pieces of {step} bytes");
        match one {
            Ok(crate::peers::Status::Complete((item, n))) => {
                assert!(n > 0 && pos + n <= data.len());
                check_item(&whole, &item, &data[pos..pos + n]);
                pos += n;
                fed = fed.max(pos);
            }
            Ok(crate::peers::Status::Partial) => return,
            Err(e) => return check_error(&e),
        }
    }
}

fn check_error(e: &DissectError) {
    if let DissectError::Frame(f) = e {
        let reply = f.reply();
        assert!(
            reply == crate::peers::ErrorType::PROTOCOL_ERROR
                || reply == crate::peers::ErrorType::SIZE_LIMIT
        );
    }
}

fn check_item(d: &Dissector, item: &Item<'_>, raw: &[u8]) {
    match item {
        Item::Hello(h) => check_hello_lines(h, raw),
        Item::Status(code) => {
            let mut out = Vec::new();
            code.encode(&mut out);
            assert_eq!(
                StatusCode::parse(&out, 16),
                Ok(crate::peers::Status::Complete((*code, out.len())))
            );
        }
        Item::Message(m) => check_message(m, raw),
        Item::Update {
            table_id,
            update_id,
            update,
        } => {
            let layout = d
                .layout(*table_id)
                .expect("an update has the layout of its table");
            assert!(update.matches_layout(layout));
            assert!(update.update_id.is_none_or(|id| id == *update_id));
            check_update(update, layout);
        }
    }
}

/// A message re-encodes canonically, and the canonical form decodes to it.
fn check_message(m: &Message<'_>, raw: &[u8]) {
    if let Message::TableDefinition(TableDefinition { fields: Err(_), .. }) = m {
        // Not re-encodable (the fields are unknown); the header must be sane.
        return;
    }
    let mut out = Vec::new();
    m.encode(&mut out);
    let (frame, n) = decode_frame(&out);
    assert_eq!(n, out.len());
    let back = Message::parse(&frame).expect("canonical message parses");
    assert_eq!(&back, m);
    let mut again = Vec::new();
    back.encode(&mut again);
    assert_eq!(again, out, "encoding is canonical");
    // Same class and type as what was received.
    assert_eq!(&out[..2], &raw[..2]);
}

fn decode_frame(bytes: &[u8]) -> (Frame<'_>, usize) {
    let limits = FrameLimits {
        max_body_len: usize::MAX,
    };
    match Frame::decode(bytes, &limits) {
        Ok(crate::peers::Status::Complete(c)) => c,
        other => panic!("own frame does not decode: {other:?}"),
    }
}

fn check_update(u: &Update<'_>, layout: &UpdateLayout) {
    let mut out = Vec::new();
    u.encode(&mut out);
    let (frame, _) = decode_frame(&out);
    let Ok(Message::Update { kind, body }) = Message::parse(&frame) else {
        panic!("own update does not parse")
    };
    assert_eq!(kind, u.kind());
    let back = Update::decode(kind, body, layout).expect("own update decodes");
    assert_eq!(&back, u);
    let mut again = Vec::new();
    back.encode(&mut again);
    assert_eq!(again, out);
}

// ----------------------------------------------------------------- bodies

/// Layouts of the captured tables, to read arbitrary bodies as updates.
fn capture_layouts() -> [UpdateLayout; 6] {
    let t = DataType::SERVER_ID.bit()
        | DataType::GPT0.bit()
        | DataType::GPC0.bit()
        | DataType::CONN_CNT.bit()
        | DataType::CONN_RATE.bit()
        | DataType::HTTP_REQ_RATE.bit()
        | DataType::BYTES_IN_CNT.bit();
    let t6 = DataType::GPT.bit()
        | DataType::GPC.bit()
        | DataType::GPC_RATE.bit()
        | DataType::CONN_CUR.bit()
        | DataType::HTTP_FAIL_CNT.bit()
        | DataType::BYTES_OUT_RATE.bit();
    [
        UpdateLayout::new(KeyType::Ipv4, 4, t),
        UpdateLayout::new(KeyType::Integer, 4, t),
        UpdateLayout::new(KeyType::String, 33, t),
        UpdateLayout::new(KeyType::Binary, 16, t),
        UpdateLayout::new(KeyType::Ipv6, 16, t6)
            .with_array_len(DataType::GPT, 2)
            .with_array_len(DataType::GPC, 2)
            .with_array_len(DataType::GPC_RATE, 2),
        UpdateLayout::new(
            KeyType::Ipv4,
            4,
            DataType::SERVER_ID.bit() | DataType::SERVER_KEY.bit(),
        ),
    ]
}

/// The input as the body of each stick-table message.
fn check_bodies(body: &[u8]) {
    if let Ok(def) = TableDefinition::decode(body) {
        assert!(!def.name.is_empty() && def.name.len() < body.len());
        if let Ok(fields) = &def.fields {
            if let Ok(layout) = UpdateLayout::from_definition(fields) {
                for kind in ALL_KINDS {
                    if let Ok(u) = Update::decode(kind, body, &layout) {
                        check_update(&u, &layout);
                    }
                }
            }
        }
        check_message(&Message::TableDefinition(def), &[0x0a, 0x82]);
    }
    if let Ok(sw) = TableSwitch::decode(body) {
        check_message(&Message::TableSwitch(sw), &[0x0a, 0x83]);
    }
    if let Ok(ack) = UpdateAck::decode(body) {
        check_message(&Message::UpdateAck(ack), &[0x0a, 0x84]);
    }
    let mut rx = DictRxCache::new();
    for layout in capture_layouts() {
        for kind in ALL_KINDS {
            if let Ok(u) = Update::decode(kind, body, &layout) {
                assert!(u.matches_layout(&layout));
                check_update(&u, &layout);
                for v in &u.values {
                    if let Value::Dict(d) = &v.value {
                        let _ = rx.apply(d);
                    }
                }
            }
        }
    }
}

const ALL_KINDS: [UpdateKind; 4] = [
    UpdateKind::Update,
    UpdateKind::Incremental,
    UpdateKind::Timed,
    UpdateKind::IncrementalTimed,
];

// -------------------------------------------------------------- generated

/// Reads the input as a recipe: numbers and bytes to build values from.
struct Gen<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Gen<'a> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn u32(&mut self) -> u32 {
        (0..4).fold(0u32, |acc, _| acc << 8 | u32::from(self.u8()))
    }

    fn u64(&mut self) -> u64 {
        // Small numbers often, large ones sometimes: both matter to varints.
        match self.u8() % 4 {
            0 => u64::from(self.u8()),
            1 => u64::from(self.u32()),
            _ => (0..8).fold(0u64, |acc, _| acc << 8 | u64::from(self.u8())),
        }
    }

    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.u8()).min(max);
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        &self.data[start..end]
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// Builds definitions and updates from the input, then checks that the
/// encoders and decoders agree on them.
fn generated_round_trips(data: &[u8]) {
    let mut g = Gen { data, pos: 0 };
    let mut tx = DictTxCache::new();
    let mut rx = DictRxCache::new();
    for _ in 0..16 {
        if g.done() {
            return;
        }
        let fields = gen_fields(&mut g);
        let name = match g.bytes(40) {
            [] => &b"/t"[..],
            n => n,
        };
        let def = TableDefinition {
            table_id: g.u64(),
            name,
            fields: Ok(fields.clone()),
        };
        let mut out = Vec::new();
        def.encode(&mut out);
        check_message(&Message::TableDefinition(def), &out);
        let Ok(layout) = UpdateLayout::from_definition(&fields) else {
            continue;
        };
        let dict_strings: Vec<&[u8]> = (0..4).map(|_| g.bytes(12)).collect();
        let Some(u) = gen_update(&mut g, &layout, &mut tx, &dict_strings) else {
            continue;
        };
        assert!(u.matches_layout(&layout));
        check_update(&u, &layout);
        // The receiver's cache resolves what the sender's cache meant.
        for v in &u.values {
            if let Value::Dict(d @ (DictValue::Define { .. } | DictValue::Reference(_))) = &v.value
            {
                let meant = match d {
                    DictValue::Define { value, .. } => Some(*value),
                    _ => None,
                };
                let got = rx.apply(d).map(<[u8]>::to_vec);
                if let Some(meant) = meant {
                    assert_eq!(got.as_deref(), Some(meant));
                } else {
                    assert!(
                        got.is_some(),
                        "a reference the sender made points to a filled slot"
                    );
                }
            }
        }
    }
}

fn gen_fields(g: &mut Gen<'_>) -> DefinitionFields {
    let key_type = [2u64, 4, 5, 6, 7, 0, 3, 8][usize::from(g.u8() % 8)];
    let key_size = u64::from(g.u8() % 40);
    let known_mask = (1u64 << DataType::COUNT) - 1;
    let mut data_types = u64::from(g.u32()) & known_mask;
    let expire_ms = if g.u8() % 4 == 0 { None } else { Some(g.u64()) };
    let arrays = DataType::all().filter(|d| d.info().is_some_and(|i| i.is_array()));
    if expire_ms.is_none() {
        data_types &= !arrays.fold(0, |acc, d| acc | d.bit());
    }
    if g.u8() % 8 == 0 {
        // Types of later versions come last.
        data_types |= g.u64() & !known_mask;
    }
    let params = match expire_ms {
        None => Vec::new(),
        Some(_) => DataType::all()
            .filter(|d| data_types & d.bit() != 0)
            .filter_map(|d| {
                let info = d.info()?;
                (info.arg != ArgKind::None).then(|| TypeParam {
                    data_type: d,
                    element_count: info.is_array().then(|| u64::from(g.u8() % 5)),
                    period_ms: info.has_period().then(|| g.u64()),
                })
            })
            .collect(),
    };
    DefinitionFields {
        key_type,
        key_size,
        data_types,
        expire_ms,
        params,
    }
}

fn gen_update<'a>(
    g: &mut Gen<'a>,
    layout: &UpdateLayout,
    tx: &mut DictTxCache,
    dict_strings: &[&'a [u8]],
) -> Option<Update<'a>> {
    let update_id = (g.u8() % 2 == 0).then(|| g.u32());
    let expire_ms = (g.u8() % 2 == 0).then(|| g.u32());
    let key = gen_key(g, layout)?;
    let mut values = Vec::new();
    for (data_type, std, count) in layout.value_types() {
        for index in 0..count {
            let value = match std {
                StdType::SInt | StdType::UInt | StdType::Ull => Value::Int(g.u64()),
                StdType::FreqP => Value::FreqCtr(FreqCtrValue {
                    age: g.u64(),
                    curr_ctr: g.u64(),
                    prev_ctr: g.u64(),
                }),
                StdType::Dict => match usize::from(g.u8()) % (dict_strings.len() + 1) {
                    0 => Value::Dict(DictValue::None),
                    i => Value::Dict(tx.encode_value(dict_strings[i - 1])),
                },
            };
            values.push(UpdateValue {
                data_type,
                index,
                value,
            });
        }
    }
    Some(Update {
        update_id,
        expire_ms,
        key,
        values,
    })
}

fn gen_key<'a>(g: &mut Gen<'a>, layout: &UpdateLayout) -> Option<Key<'a>> {
    let mut fixed = [0u8; 16];
    for b in &mut fixed {
        *b = g.u8();
    }
    Some(match layout.key_type() {
        KeyType::Integer => {
            Key::Integer(u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]))
        }
        KeyType::Ipv4 => Key::Ipv4([fixed[0], fixed[1], fixed[2], fixed[3]]),
        KeyType::Ipv6 => Key::Ipv6(fixed),
        KeyType::String => Key::String(g.bytes(64)),
        KeyType::Binary => {
            // Exactly key-size bytes, taken from the input if it has enough.
            let n = usize::try_from(layout.key_size()).ok()?;
            Key::Binary(g.data.get(..n)?)
        }
    })
}

// -------------------------------------------------------------- handshake

fn known(name: &[u8]) -> bool {
    name == b"A" || name == b"B"
}

fn check_accept_hello(data: &[u8], max_line: usize) {
    let got = handshake::accept_hello(data, max_line, b"A", known);
    let lines = HelloLines::parse(data, max_line);
    match got {
        Ok(crate::peers::Status::Complete((h, n))) => {
            assert!(n <= data.len() && h.version.is_supported());
            assert!(h.called == b"A" && known(h.sender));
            // The two APIs agree.
            let Ok(crate::peers::Status::Complete((l, ln))) = lines else {
                panic!("hello accepted but its lines do not parse")
            };
            assert_eq!(ln, n);
            assert_eq!(l.validate(b"A", known), Ok(h));
            // Shorter inputs wait for more.
            for cut in [0, n / 2, n - 1] {
                assert_eq!(
                    handshake::accept_hello(&data[..cut], max_line, b"A", known),
                    Ok(crate::peers::Status::Partial)
                );
            }
            // Our own hello for the same names is accepted the same way.
            let mut out = Vec::new();
            handshake::encode_hello(h.version, h.called, h.sender, 4242, &mut out);
            let mine = handshake::accept_hello(&out, out.len() + 1, b"A", known);
            let Ok(crate::peers::Status::Complete((m, _))) = mine else {
                panic!("own hello rejected: {mine:?}")
            };
            assert_eq!(
                (m.version, m.called, m.sender),
                (h.version, h.called, h.sender)
            );
        }
        Err(HandshakeError::Rejected(code)) => {
            let known_codes = [
                StatusCode::PROTOCOL_ERROR,
                StatusCode::BAD_VERSION,
                StatusCode::WRONG_HOST,
                StatusCode::UNKNOWN_PEER,
            ];
            assert!(known_codes.contains(&code));
            // Once all three lines are there, validation agrees.
            if let Ok(crate::peers::Status::Complete((l, _))) = lines {
                assert_eq!(l.validate(b"A", known), Err(code));
            }
        }
        Err(HandshakeError::LineTooLong) => assert!(data.len() >= max_line),
        Ok(crate::peers::Status::Partial) => {
            assert!(!matches!(lines, Ok(crate::peers::Status::Complete(_))));
        }
    }
}

fn check_hello_lines(h: &HelloLines<'_>, raw: &[u8]) {
    for line in [h.line1, h.line2, h.line3] {
        assert!(!line.contains(&b'\n'));
    }
    assert!(h.line1.len() + h.line2.len() + h.line3.len() + 3 <= raw.len());
    if let Ok(v) = h.validate(b"A", known) {
        assert!(v.version == Version::V2_0 || v.version == Version::V2_1);
    }
}

fn check_status(data: &[u8], max_line: usize) {
    if let Ok(crate::peers::Status::Complete((code, n))) = StatusCode::parse(data, max_line) {
        assert!(n <= data.len() && n <= max_line);
        let mut out = Vec::new();
        code.encode(&mut out);
        assert_eq!(
            StatusCode::parse(&out, 16),
            Ok(crate::peers::Status::Complete((code, out.len())))
        );
        assert_eq!(code.is_success(), code == StatusCode::SUCCESS);
    }
}

// ------------------------------------------------------------------- h1

use crate::http::h1::{
    self, encode_chunk, encode_last_chunk, error_response, BodyLen, ChunkedDecoder, Decoded,
    H1Error, HeadParser, Headers, Method, MsgFlags, ParseOptions, ReqHead, ResHead, Side,
};

/// The option sets every h1 input is parsed with: the defaults, and tight
/// limits so that the size and count limits are reached often.
fn h1_options() -> [ParseOptions; 2] {
    [
        ParseOptions::default(),
        ParseOptions {
            max_head_len: 64,
            max_headers: 3,
            require_host: true,
        },
    ]
}

/// Target `h1_request`: the input as a request head and its body, parsed
/// in one go and in pieces; every head re-encodes and parses back to
/// itself; framing agrees with the flags; the input is also decoded as a
/// chunked body.
pub fn h1_request(data: &[u8]) {
    for opts in h1_options() {
        let one = h1::parse_request(data, &opts);
        check_h1_pieces(data, &one, |p, b| p.parse_request(b), &opts);
        match one {
            Ok(h1::Status::Complete((head, n))) => {
                check_req_head(&head, n, &opts);
                let body = h1::request_body(&head).expect("a parsed head has valid framing");
                check_h1_body(&data[n..], body, Side::Request);
            }
            Ok(h1::Status::Partial) => assert!(data.len() < opts.max_head_len),
            Err(e) => check_h1_error(&e, Side::Request),
        }
    }
    check_chunked(data, Side::Request);
}

/// Target `h1_response`: as `h1_request`, for responses (and the framing
/// of a response to GET, HEAD and CONNECT).
pub fn h1_response(data: &[u8]) {
    for opts in h1_options() {
        let one = h1::parse_response(data, &opts);
        check_h1_pieces(data, &one, |p, b| p.parse_response(b), &opts);
        match one {
            Ok(h1::Status::Complete((head, n))) => {
                check_res_head(&head, n, &opts);
                for (m, connect) in [
                    (Method::GET, false),
                    (Method::HEAD, false),
                    (Method::CONNECT, true),
                ] {
                    let body = h1::response_body(&head, &m, connect);
                    check_h1_body(&data[n..], body, Side::Response);
                }
            }
            Ok(h1::Status::Partial) => assert!(data.len() < opts.max_head_len),
            Err(e) => check_h1_error(&e, Side::Response),
        }
    }
    check_chunked(data, Side::Response);
}

/// Feeding growing prefixes to one `HeadParser` ends with the one-shot
/// answer (earlier errors are allowed only if they are that answer).
fn check_h1_pieces<T: PartialEq + core::fmt::Debug>(
    data: &[u8],
    one: &Result<h1::Status<T>, H1Error>,
    parse: impl Fn(&mut HeadParser, &[u8]) -> Result<h1::Status<T>, H1Error>,
    opts: &ParseOptions,
) {
    let first = usize::from(data.first().copied().unwrap_or(0));
    for step in [1, first % 7 + 2, first % 61 + 9] {
        let mut p = HeadParser::new(*opts);
        let mut fed = 0;
        let got = loop {
            fed = (fed + step).min(data.len());
            match parse(&mut p, &data[..fed]) {
                Ok(h1::Status::Partial) if fed < data.len() => continue,
                r => break r,
            }
        };
        // Fed in pieces, the parser only runs `httparse` again once the
        // blank line ending the head is there (linear work whatever the
        // split), so a broken head without one may still be `Partial`.
        let deferred = matches!((&got, one), (Ok(h1::Status::Partial), Err(_)))
            && data.len() < opts.max_head_len;
        if !deferred {
            assert_eq!(&got, one, "pieces of {step} bytes");
        }
    }
}

fn check_h1_error(e: &H1Error, side: Side) {
    assert_eq!(e.side, side);
    let status = e.status();
    assert!(matches!(status, 400 | 422 | 502), "{e:?}");
    assert!(error_response(status).is_some());
}

fn check_headers_framing(h: &Headers, flags: MsgFlags) {
    h.check_invariants();
    if flags.contains(MsgFlags::CHNK) {
        assert!(flags.contains(MsgFlags::XFER_ENC) && !flags.contains(MsgFlags::CLEN));
        assert_eq!(h.count("content-length"), 0, "CL dropped next to TE");
    }
    if flags.contains(MsgFlags::CLEN) {
        assert_eq!(h.count("content-length"), 1, "CL merged into one field");
    }
}

fn check_req_head(head: &ReqHead, n: usize, opts: &ParseOptions) {
    assert!(n <= opts.max_head_len && head.headers.len() <= opts.max_headers);
    assert!(head.uri.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    check_headers_framing(&head.headers, head.flags);
    assert_eq!(
        head.flags.contains(MsgFlags::VER_11),
        head.version == h1::Version::Http11
    );
    let body = h1::request_body(head).expect("valid framing");
    match body {
        BodyLen::Chunked => assert!(head.flags.contains(MsgFlags::CHNK)),
        BodyLen::Length(_) => assert!(head.flags.contains(MsgFlags::CLEN)),
        BodyLen::None => assert!(!head.flags.intersects(MsgFlags::CHNK | MsgFlags::CLEN)),
        BodyLen::UntilClose | BodyLen::Tunnel => panic!("request framing {body:?}"),
    }
    // Re-encode, parse back: the same head (flags about repairs aside).
    let mut out = Vec::new();
    head.encode(&mut out);
    let wide = wide_options(&out);
    let Ok(h1::Status::Complete((back, m))) = h1::parse_request(&out, &wide) else {
        panic!(
            "own request does not parse: {:?}",
            String::from_utf8_lossy(&out)
        )
    };
    assert_eq!(m, out.len());
    let repairs = MsgFlags::MUST_CLOSE | MsgFlags::UNFOLDED;
    assert_eq!(
        (&back.method, &back.uri, back.version, &back.headers),
        (&head.method, &head.uri, head.version, &head.headers)
    );
    assert_eq!(back.flags - repairs, head.flags - repairs);
    let mut again = Vec::new();
    back.encode(&mut again);
    assert_eq!(again, out, "encoding is stable");
}

fn check_res_head(head: &ResHead, n: usize, opts: &ParseOptions) {
    assert!(n <= opts.max_head_len && head.headers.len() <= opts.max_headers);
    assert!((100..=999).contains(&head.status));
    check_headers_framing(&head.headers, head.flags);
    let mut out = Vec::new();
    head.encode(&mut out);
    let wide = wide_options(&out);
    let Ok(h1::Status::Complete((back, m))) = h1::parse_response(&out, &wide) else {
        panic!(
            "own response does not parse: {:?}",
            String::from_utf8_lossy(&out)
        )
    };
    assert_eq!(m, out.len());
    let repairs = MsgFlags::MUST_CLOSE | MsgFlags::UNFOLDED;
    assert_eq!(
        (back.version, back.status, &back.reason, &back.headers),
        (head.version, head.status, &head.reason, &head.headers)
    );
    assert_eq!(back.flags - repairs, head.flags - repairs);
}

fn wide_options(out: &[u8]) -> ParseOptions {
    ParseOptions {
        max_head_len: out.len() + 1,
        max_headers: h1::MAX_HEADERS_LIMIT,
        require_host: false,
    }
}

/// What decoding a chunked body found: payload, then `Some(end)` if the
/// message ended there, `None` if more was needed, or the error.
type ChunkedOutcome = (Vec<u8>, Result<Option<usize>, H1Error>, Headers);

fn decode_chunked(input: &[u8], step: usize, side: Side) -> ChunkedOutcome {
    let mut d = ChunkedDecoder::new(side);
    let mut body = Vec::new();
    let (mut pos, mut fed) = (0, step.min(input.len()));
    for _ in 0..input.len() * 2 + 4 {
        match d.decode(&input[pos..fed]) {
            Ok((Decoded::Data(s), n)) => {
                assert!(!s.is_empty() && n >= s.len() && pos + n <= fed);
                // Borrowed from the input, at the end of what was consumed.
                assert!(core::ptr::eq(s, &input[pos + n - s.len()..pos + n]));
                body.extend_from_slice(s);
                pos += n;
            }
            Ok((Decoded::NeedMore, n)) => {
                pos += n;
                assert_eq!(pos, fed, "NeedMore consumes everything");
                if fed == input.len() {
                    assert!(d.on_close().is_err());
                    return (body, Ok(None), Headers::new());
                }
                fed = (fed + step).min(input.len());
            }
            Ok((Decoded::End, n)) => {
                assert!(d.is_done() && d.on_close().is_ok());
                assert_eq!(d.body_len(), body.len() as u64);
                assert_eq!(d.decode(b"x"), Ok((Decoded::End, 0)));
                return (body, Ok(Some(pos + n)), d.take_trailers());
            }
            Err(e) => {
                assert!(e.in_body() && e.side == side);
                assert_eq!(d.decode(b"0\r\n\r\n"), Err(e), "errors stick");
                return (body, Err(e), Headers::new());
            }
        }
    }
    panic!("the decoder does not progress");
}

/// The same answer in one go, byte by byte and in data-chosen pieces; a
/// complete body re-encodes and decodes back to the same payload.
fn check_chunked(input: &[u8], side: Side) {
    let one = decode_chunked(input, input.len().max(1), side);
    let first = usize::from(input.first().copied().unwrap_or(0));
    for step in [1, first % 5 + 2] {
        let (body, end, trailers) = decode_chunked(input, step, side);
        assert_eq!(
            (&body, &end, &trailers),
            (&one.0, &one.1, &one.2),
            "pieces of {step}"
        );
    }
    if let (payload, Ok(Some(_)), trailers) = &one {
        trailers.check_invariants();
        let mut out = Vec::new();
        let mid = payload.len() / 2;
        encode_chunk(&payload[..mid], &mut out);
        encode_chunk(&payload[mid..], &mut out);
        encode_last_chunk(trailers, &mut out);
        let (again, end, t2) = decode_chunked(&out, 3, side);
        assert_eq!((&again, end, &t2), (payload, Ok(Some(out.len())), trailers));
    }
}

fn check_h1_body(rest: &[u8], body: BodyLen, side: Side) {
    match body {
        BodyLen::Chunked => {
            let _ = decode_chunked(rest, rest.len().max(1), side);
        }
        BodyLen::Length(n) => {
            let mut c = h1::LengthCounter::new(n);
            let took = c.take(rest.len());
            assert_eq!(took as u64, n.min(rest.len() as u64));
            assert_eq!(c.on_close(side).is_ok(), c.is_done());
        }
        BodyLen::None | BodyLen::UntilClose | BodyLen::Tunnel => {}
    }
}

// ------------------------------------------------------------ proxy_header

/// Target `proxy_header`: the PROXY protocol parser (`proto_proxy`) against
/// its encoders, with the input as received bytes under several v2 limits,
/// then as a recipe for headers that must survive encode then parse.
pub fn proxy_header(data: &[u8]) {
    use crate::conn::proxy_hdr::{self as pp, DEFAULT_MAX_V2_LEN, V2_MAX_LEN};
    use crate::peers::Status;
    for max in [0, 28, DEFAULT_MAX_V2_LEN, V2_MAX_LEN] {
        match pp::parse(data, max) {
            Ok(Status::Complete((h, n))) => check_proxy_complete(data, max, &h, n),
            Ok(Status::Partial) => {
                assert!(data.len() < pp::V1_MAX_LEN.max(max));
            }
            Err(e) => {
                // Shorter inputs wait for more or fail the same way.
                for cut in proxy_cuts(data.len()) {
                    let r = pp::parse(&data[..cut], max);
                    assert!(
                        r == Ok(Status::Partial) || r == Err(e),
                        "cut {cut}: {r:?} vs {e:?}"
                    );
                }
            }
        }
    }
    proxy_round_trips(data);
}

/// Prefix lengths to try: all of them for short inputs, a spread otherwise.
fn proxy_cuts(len: usize) -> impl Iterator<Item = usize> {
    let step = (len / 256).max(1);
    (0..len).step_by(step).chain(len.checked_sub(1))
}

fn check_proxy_complete(
    data: &[u8],
    max: usize,
    h: &crate::conn::proxy_hdr::ProxyHeader,
    n: usize,
) {
    use crate::conn::proxy_hdr::{self as pp, Command, Family, Tlv, Version};
    use crate::peers::Status;
    assert!(n > 0 && n <= data.len());
    let raw = &data[..n];
    match h.version {
        Version::V1 => {
            assert!(n <= pp::V1_MAX_LEN && raw.ends_with(b"\r\n"));
            assert!(h.tlvs.is_empty() && h.unix.is_none() && h.command == Command::Proxy);
        }
        Version::V2 => {
            assert!(n <= max && n == 16 + usize::from(u16::from_be_bytes([raw[14], raw[15]])));
        }
    }
    assert_eq!(h.src.is_some(), h.dst.is_some());
    if let Some((s, d)) = h.addresses() {
        assert_eq!(h.command, Command::Proxy);
        let v4 = h.transport.family == Family::Inet;
        assert!(s.is_ipv4() == v4 && d.is_ipv4() == v4);
    }
    assert!(h
        .tlvs
        .iter()
        .all(|t| !matches!(t, Tlv::Unknown { kind, .. } if Tlv::is_known(*kind))));
    // Exactly the header: what follows does not matter, what is missing is
    // waited for.
    assert_eq!(pp::parse(raw, max), Ok(Status::Complete((h.clone(), n))));
    for cut in proxy_cuts(n) {
        assert_eq!(
            pp::parse(&raw[..cut], max),
            Ok(Status::Partial),
            "cut {cut}"
        );
    }
    // Re-encoding gives a header that parses back to the same value (LOCAL
    // drops the addresses, so a checksum may change) and is canonical.
    let mut out = Vec::new();
    let m = h.encode(&mut out).expect("a parsed header re-encodes");
    assert_eq!(m, out.len());
    let Ok(Status::Complete((back, used))) = pp::parse(&out, pp::V2_MAX_LEN) else {
        panic!(
            "own encoding does not parse: {:?}",
            out.escape_ascii().to_string()
        )
    };
    assert_eq!(used, out.len());
    let no_crc = |x: &pp::ProxyHeader| pp::ProxyHeader {
        tlvs: proxy_no_crc(&x.tlvs),
        ..x.clone()
    };
    assert_eq!(no_crc(&back), no_crc(h));
    let exact = match h.version {
        Version::V2 => h.command == Command::Proxy,
        Version::V1 => h.transport == pp::Transport::TCP4 || raw == b"PROXY UNKNOWN\r\n",
    };
    if exact {
        assert_eq!(out, raw, "re-encoding is byte-exact");
    }
    let mut again = Vec::new();
    back.encode(&mut again).expect("re-encodes");
    assert_eq!(again, out, "encoding is canonical");
}

/// TLVs with every checksum value zeroed, to compare headers whose bytes
/// (hence checksums) differ.
fn proxy_no_crc(tlvs: &[crate::conn::proxy_hdr::Tlv]) -> Vec<crate::conn::proxy_hdr::Tlv> {
    use crate::conn::proxy_hdr::Tlv;
    tlvs.iter()
        .map(|t| match t {
            Tlv::Crc32c(_) => Tlv::Crc32c(0),
            t => t.clone(),
        })
        .collect()
}

/// Headers built from the input: addresses and TLVs through `encode_v1` /
/// `encode_v2`, then parsed back.
fn proxy_round_trips(data: &[u8]) {
    use crate::conn::proxy_hdr::{self as pp, Tlv};
    use crate::peers::Status;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let mut g = Gen { data, pos: 0 };
    let addr = |g: &mut Gen<'_>| -> Option<SocketAddr> {
        let port = u16::from_be_bytes([g.u8(), g.u8()]);
        match g.u8() % 4 {
            0 => None,
            1 => Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(g.u32())), port)),
            2 => {
                let b = g.bytes(16);
                let mut o = [0u8; 16];
                o[16 - b.len()..].copy_from_slice(b);
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
            }
            _ => Some(SocketAddr::new(
                IpAddr::V6(Ipv4Addr::from(g.u32()).to_ipv6_mapped()),
                port,
            )),
        }
    };
    for _ in 0..8 {
        if g.done() {
            return;
        }
        let (src, dst) = (addr(&mut g), addr(&mut g));
        let mut v1 = Vec::new();
        pp::encode_v1(src, dst, &mut v1);
        let Ok(Status::Complete((h, n))) = pp::parse(&v1, 0) else {
            panic!(
                "own v1 line does not parse: {:?}",
                v1.escape_ascii().to_string()
            )
        };
        assert_eq!(n, v1.len());
        assert_eq!(h.addresses().is_some(), src.is_some() && dst.is_some());
        let mut tlvs = Vec::new();
        for _ in 0..usize::from(g.u8() % 5) {
            let kind = g.u8();
            let value = g.bytes(40).to_vec();
            tlvs.push(match kind % 8 {
                0 => Tlv::Alpn(value),
                1 => Tlv::Authority(value),
                2 => Tlv::Crc32c(0),
                3 => Tlv::Noop(value),
                4 => Tlv::UniqueId(value),
                5 => Tlv::Netns(value),
                _ if Tlv::is_known(kind) => Tlv::Noop(value),
                _ => Tlv::Unknown { kind, value },
            });
        }
        let mut v2 = Vec::new();
        match pp::encode_v2(src, dst, &tlvs, &mut v2) {
            Ok(n) => {
                assert_eq!(n, v2.len());
                let Ok(Status::Complete((h, used))) = pp::parse(&v2, n) else {
                    panic!("own v2 header does not parse")
                };
                assert_eq!(used, n);
                assert_eq!(proxy_no_crc(&h.tlvs), proxy_no_crc(&tlvs));
                assert_eq!(h.addresses().is_some(), src.is_some() && dst.is_some());
            }
            Err(e) => {
                assert!(v2.is_empty());
                // Only a second checksum can be refused here.
                assert_eq!(e, pp::ProxyError::BadTlv(Tlv::CRC32C));
            }
        }
    }
}

// ------------------------------------------------------------ dns_response

/// Target `dns_response`: the DNS response parser (`dns::codec`) never
/// panics; what it accepts has at most `MAX_ANSWERS` records and names of
/// at most 255 bytes, and a response built for a parsed question parses
/// back with that question.
pub fn dns_response(data: &[u8]) {
    use crate::dns::codec::{self, Rcode};
    let Ok(r) = codec::parse_response(data) else {
        return;
    };
    assert!(r.answers.len() <= codec::MAX_ANSWERS);
    assert!(r.qname.chars().count() <= codec::MAX_NAME_LEN);
    for a in &r.answers {
        assert!(a.name.chars().count() <= codec::MAX_NAME_LEN);
    }
    let _ = r.addresses();
    let ips = ["10.0.0.1".parse().expect("ip")];
    if let Some(back) = codec::encode_response(data, Rcode::NOERROR, &ips, 1) {
        let b = codec::parse_response(&back).expect("own response parses");
        assert_eq!((b.id, b.qtype), (r.id, r.qtype));
    }
}

// ------------------------------------------------------------ pattern_file

/// Target `pattern_file`: a pattern file of any content (the first byte
/// picks the match method and whether it is a map) loads or is refused
/// with an error, never a panic; what loads has keys without line ends,
/// matches its own keys' lookups without panicking, and the CLI's edits
/// (add, set, delete, clear) keep every expression in step with its
/// reference.
pub fn pattern_file(data: &[u8]) {
    use crate::acl::MatchMethod;
    use crate::pattern::{FileSource, MapOut, PatKind, PatStore};
    use crate::sample::Sample;
    let Some((&sel, file)) = data.split_first() else {
        return;
    };
    const METHODS: [MatchMethod; 11] = [
        MatchMethod::Str,
        MatchMethod::Beg,
        MatchMethod::Sub,
        MatchMethod::Dir,
        MatchMethod::Dom,
        MatchMethod::End,
        MatchMethod::Reg,
        MatchMethod::Int,
        MatchMethod::Ip,
        MatchMethod::Bin,
        MatchMethod::Len,
    ];
    let method = METHODS[usize::from(sel) % METHODS.len()];
    let out = match (sel >> 4) % 4 {
        0 => None,
        1 => Some(MapOut::Str),
        2 => Some(MapOut::Int),
        _ => Some(MapOut::Addr),
    };
    let kind = PatKind {
        method,
        icase: sel & 0x40 != 0 && out.is_none(),
        regm: method == MatchMethod::Reg && sel & 0x80 != 0 && out.is_some(),
        out,
    };
    let bytes = file.to_vec();
    let src = FileSource(std::sync::Arc::new(move |_: &str| Ok(bytes.clone())));
    let mut st = PatStore::new();
    let smp = out.is_some();
    let Ok(e) = st.load_file(&src, "f", kind, smp, ("fuzz.cfg", 1)) else {
        return;
    };
    st.finalize();
    st.check_invariants();
    let Some(r) = st.lookup("f") else {
        panic!("a loaded file has a reference");
    };
    let keys: Vec<String> = st
        .get_ref(r)
        .map(|x| x.elts.iter().map(|el| el.pattern.clone()).collect())
        .unwrap_or_default();
    for k in keys.iter().take(64) {
        assert!(!k.contains(['\n', '\r']), "a key holds a line end");
        if let Some(m) = st.exec(e, &Sample::Str(k.as_bytes().to_vec())) {
            let _ = m.regm_value(k.as_bytes());
        }
        let _ = st.add(r, k, smp.then_some("1"));
        let _ = st.set(r, k, "2");
        st.check_invariants();
    }
    if let Some(k) = keys.first() {
        st.delete(r, k);
    }
    st.check_invariants();
    st.clear(r);
    st.check_invariants();
}
