// Integration tests run outside the engine: reading files here is fine.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

//! The codec against the real HAProxy 2.6.12 captures in
//! `tests/data/captures/` (see its README.md).
//!
//! * Every `.bin` decodes to exactly what the reference decoder printed in
//!   the matching `.decoded.txt`: the test renders our items in the
//!   reference decoder's text format and compares the text line by line (up
//!   to the first message a receiver rejects, where the reference decoder
//!   just carries on).
//! * Every message re-encodes byte for byte: the concatenated re-encoding
//!   of a whole stream is the file.
//! * Fed one byte at a time, every stream gives the same items.
//! * Concrete values from captures/README.md, and the errors HAProxy
//!   answered to the hostile inputs of `errors/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sluice_core::peers::dissect::{DissectError, Dissector, Item, Start};
use sluice_core::peers::handshake::{self, HelloLines, Version};
use sluice_core::peers::{
    ControlType, DictValue, ErrorType, Field, FrameError, FreqCtrValue, Key, Malformed, Message,
    MessageError, MsgClass, Reason, StatusCode, TypeParam, Update, UpdateAck, UpdateKind, Value,
};
use sluice_core::stick_table::{DataType, StdType};

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(captures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every `.bin` file under the captures, relative paths, sorted.
fn all_bins() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else if p.extension().is_some_and(|x| x == "bin") {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&captures(), &captures(), &mut out);
    out.sort();
    out
}

/// The reference decoder's guess of what a direction starts with.
fn start_of(data: &[u8]) -> Start {
    if data.starts_with(b"HAProxy") {
        Start::Hello
    } else if data.len() >= 4
        && data[..3].iter().all(u8::is_ascii_digit)
        && matches!(data[3], b'\n' | b'\r')
    {
        Start::Status
    } else {
        Start::Binary
    }
}

/// One decoded item with its offset and raw bytes.
struct Decoded<'a> {
    offset: usize,
    raw: &'a [u8],
    item: Item<'a>,
}

/// A whole direction decoded in one go: items, then the error that stops a
/// receiver (with its offset), if any.
struct Stream<'a> {
    items: Vec<Decoded<'a>>,
    error: Option<(usize, DissectError)>,
    /// Bytes left at the end that do not form a complete item.
    tail: usize,
}

fn dissect(data: &[u8]) -> Stream<'_> {
    let mut d = Dissector::new(start_of(data));
    let mut items = Vec::new();
    let mut pos = 0;
    loop {
        match d.next(&data[pos..]) {
            Ok(sluice_core::peers::Status::Complete((item, n))) => {
                assert!(n > 0, "progress");
                items.push(Decoded {
                    offset: pos,
                    raw: &data[pos..pos + n],
                    item,
                });
                pos += n;
            }
            Ok(sluice_core::peers::Status::Partial) => {
                return Stream {
                    items,
                    error: None,
                    tail: data.len() - pos,
                }
            }
            Err(e) => {
                return Stream {
                    items,
                    error: Some((pos, e)),
                    tail: data.len() - pos,
                }
            }
        }
    }
}

// ------------------------------------------------------------------------
// Rendering in the reference decoder's format (tools/peers_decode.py).

fn hx(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `repr()` of a latin-1 string, for the ASCII the captures hold.
fn py_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::new();
    s.push(quote);
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            c if c as char == quote => {
                s.push('\\');
                s.push(quote)
            }
            0x20..=0x7e => s.push(c as char),
            _ => write!(s, "\\x{c:02x}").unwrap(),
        }
    }
    s.push(quote);
    s
}

/// Python's `str(ipaddress.IPv6Address(..))`: RFC 5952 compression of the
/// longest run of at least two zero groups, no IPv4 notation.
fn py_ipv6(k: &[u8; 16]) -> String {
    let groups: Vec<u16> = k
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let (mut best, mut best_len, mut i) = (usize::MAX, 0, 0);
    while i < 8 {
        if groups[i] == 0 {
            let j = (i..8).find(|&j| groups[j] != 0).unwrap_or(8);
            if j - i > best_len {
                (best, best_len) = (i, j - i);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    let hex = |g: &[u16]| {
        g.iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len < 2 {
        return hex(&groups);
    }
    format!(
        "{}::{}",
        hex(&groups[..best]),
        hex(&groups[best + best_len..])
    )
}

const KEYTYPES: &[(u64, &str)] = &[
    (2, "integer(sint)"),
    (4, "ipv4"),
    (5, "ipv6"),
    (6, "string"),
    (7, "binary"),
];

fn std_name(dt: DataType) -> &'static str {
    match dt.info().map(|i| i.std_type) {
        Some(StdType::SInt) => "sint",
        Some(StdType::UInt) => "uint",
        Some(StdType::Ull) => "ull",
        Some(StdType::FreqP) => "freq",
        Some(StdType::Dict) => "dict",
        None => "?",
    }
}

struct Renderer {
    out: String,
    /// The reference decoder's single "last id" (it is not per table).
    last_id: Option<u32>,
}

impl Renderer {
    fn line(&mut self, s: impl AsRef<str>) {
        self.out.push_str(s.as_ref());
        self.out.push('\n');
    }

    fn item(&mut self, d: &Decoded<'_>) {
        match &d.item {
            Item::Hello(_) => {
                let names = [
                    "hello line 1: protocol id + version",
                    "hello line 2: name of the peer being addressed",
                    "hello line 3: sender name, pid, relative pid",
                ];
                self.text_lines(d, &names)
            }
            Item::Status(_) => self.text_lines(d, &["status line"]),
            Item::Message(m) => self.message(d, m, None),
            Item::Update {
                update_id, update, ..
            } => self.message(
                d,
                &Message::Update {
                    kind: update.kind(),
                    body: &d.raw[d.raw.len() - body_len(d.raw)..],
                },
                Some((*update_id, update)),
            ),
        }
    }

    fn text_lines(&mut self, d: &Decoded<'_>, names: &[&str]) {
        let mut pos = 0;
        for name in names {
            let nl = d.raw[pos..].iter().position(|&b| b == b'\n').unwrap() + pos;
            let line = &d.raw[pos..=nl];
            let mut shown = hx(&line[..line.len().min(16)]);
            if line.len() > 16 {
                shown.push_str(" ..");
            }
            self.line(format!(
                "{:06x}  {shown:<48} {name} = {}",
                d.offset + pos,
                py_repr(line)
            ));
            pos = nl + 1;
        }
    }

    fn message(&mut self, d: &Decoded<'_>, m: &Message<'_>, update: Option<(u32, &Update<'_>)>) {
        self.line(format!("{:06x}  {}", d.offset, hx(d.raw)));
        let (class, typ) = (d.raw[0], d.raw[1]);
        let mut hdr = format!("        class={class} type={typ}(0x{typ:02x})");
        if typ & 0x80 != 0 {
            write!(hdr, " body_len={}", body_len(d.raw)).unwrap();
        }
        match MsgClass(class) {
            MsgClass::CONTROL => {
                let name = ControlType(typ)
                    .name()
                    .unwrap_or("?unknown (ignored by 2.6)");
                self.line(format!("{hdr}  CONTROL {name}"))
            }
            MsgClass::ERROR => self.line(format!(
                "{hdr}  ERROR {}",
                ErrorType(typ).name().unwrap_or("?unknown")
            )),
            MsgClass::STICK_TABLE => {
                let name = sluice_core::peers::StkType(typ)
                    .name()
                    .unwrap_or("?unknown (skipped by 2.6)");
                self.line(format!("{hdr}  STICK-TABLE {name}"));
                self.stick_table(m, update);
            }
            _ => self.line(format!("{hdr}  unknown class (ignored by 2.6)")),
        }
    }

    fn stick_table(&mut self, m: &Message<'_>, update: Option<(u32, &Update<'_>)>) {
        match m {
            Message::TableDefinition(def) => {
                let f = def.fields.as_ref().expect("captured definitions decode");
                let kt = KEYTYPES.iter().find(|k| k.0 == f.key_type).map_or("?", |k| k.1);
                self.line(format!(
                    "        sender table id={} name={} key_type={}({kt}) key_len={}",
                    def.table_id,
                    py_repr(def.name),
                    f.key_type,
                    f.key_size
                ));
                let types: Vec<String> = (0..64u8)
                    .filter(|i| f.data_types >> i & 1 == 1)
                    .map(|i| format!("{i}:{}", DataType(i).info().map_or("?", |x| x.name)))
                    .collect();
                self.line(format!("        data_types bitfield=0x{:x} -> {}", f.data_types, types.join(", ")));
                if let Some(exp) = f.expire_ms {
                    self.line(format!("        expire={exp} ms"));
                }
                for p in &f.params {
                    self.param(p);
                }
            }
            Message::TableSwitch(s) => self.line(format!("        switch to sender table id {}", s.table_id)),
            Message::UpdateAck(a) => self.line(format!(
                "        ack: table id {} (the id the *receiver of this ack* announced), last received update id {}",
                a.table_id, a.update_id
            )),
            Message::Update { kind, body } => self.update(*kind, body, update),
            _ => {}
        }
    }

    fn param(&mut self, p: &TypeParam) {
        let id = p.data_type.0;
        let name = p.data_type.info().unwrap().name;
        match (p.element_count, p.period_ms) {
            (Some(n), None) => self.line(format!(
                "        param: data_type={id}({name}) nb_elements={n}"
            )),
            (Some(n), Some(per)) => self.line(format!(
                "        param: data_type={id}({name}) nb_elements={n} period={per} ms"
            )),
            (None, Some(per)) => self.line(format!(
                "        param: data_type={id}({name}) period={per} ms"
            )),
            (None, None) => panic!("empty parameter"),
        }
    }

    fn update(&mut self, kind: UpdateKind, body: &[u8], decoded: Option<(u32, &Update<'_>)>) {
        let mut q = 0;
        let uid = if kind.has_id() {
            let id = body
                .iter()
                .take(4)
                .fold(0u32, |acc, &b| acc << 8 | u32::from(b));
            self.line(format!("        update id={id} (explicit, 4 bytes BE)"));
            q = 4;
            Some(id)
        } else {
            let id = self.last_id.map(|l| l.wrapping_add(1));
            self.line(format!(
                "        update id={} (implicit: previous + 1)",
                id.map_or("None".to_string(), |i| i.to_string())
            ));
            id
        };
        self.last_id = uid;
        if kind.is_timed() {
            let exp = u32::from_be_bytes(body[q..q + 4].try_into().unwrap());
            self.line(format!("        remaining expire={exp} ms (4 bytes BE)"));
        }
        let Some((our_id, u)) = decoded else {
            self.line("        (no current table: a receiver ignores this update)");
            return;
        };
        assert_eq!(Some(our_id), uid, "per-table and reference ids agree");
        self.key(u);
        let mut i = 0;
        while i < u.values.len() {
            let dt = u.values[i].data_type;
            let n = u.values[i..]
                .iter()
                .take_while(|v| v.data_type == dt)
                .count();
            let vals: Vec<_> = u.values[i..i + n]
                .iter()
                .map(|v| render_value(dt, &v.value))
                .collect();
            let mut bytes = Vec::new();
            for v in &u.values[i..i + n] {
                // Spans of the values: their canonical encoding (the
                // byte-exact re-encoding test checks that it is the original).
                let mut one = Vec::new();
                Update {
                    update_id: None,
                    expire_ms: None,
                    key: Key::Integer(0),
                    values: vec![*v],
                }
                .encode_body(&mut one);
                bytes.extend_from_slice(&one[4..]);
            }
            let name = dt.info().unwrap().name;
            self.line(format!(
                "        {:2} {name:<15} {:<5} = {:<40} [{}]",
                dt.0,
                std_name(dt),
                vals.join(", "),
                hx(&bytes)
            ));
            i += n;
        }
    }

    fn key(&mut self, u: &Update<'_>) {
        let line = match u.key {
            Key::String(k) => {
                let mut raw = Vec::new();
                sluice_core::peers::varint::encode(k.len() as u64, &mut raw);
                raw.extend_from_slice(k);
                format!(
                    "        key (string, len={}): {}   [{}]",
                    k.len(),
                    py_repr(k),
                    hx(&raw)
                )
            }
            Key::Integer(k) => format!(
                "        key (integer, 4 bytes BE): {k}   [{}]",
                hx(&k.to_be_bytes())
            ),
            Key::Ipv4(k) => format!(
                "        key (ipv4): {}.{}.{}.{}   [{}]",
                k[0],
                k[1],
                k[2],
                k[3],
                hx(&k)
            ),
            Key::Ipv6(k) => format!("        key (ipv6): {}   [{}]", py_ipv6(&k), hx(&k)),
            Key::Binary(k) => format!("        key (binary, {} bytes): {}", k.len(), hx(k)),
        };
        self.line(line);
    }
}

fn render_value(dt: DataType, v: &Value<'_>) -> String {
    match v {
        Value::Int(x) if dt.info().unwrap().std_type == StdType::SInt => (*x as i64).to_string(),
        Value::Int(x) => x.to_string(),
        Value::FreqCtr(f) => format!(
            "{{age={} ms, curr_ctr={}, prev_ctr={}}}",
            f.age, f.curr_ctr, f.prev_ctr
        ),
        Value::Dict(DictValue::None) => "<none>".into(),
        Value::Dict(DictValue::Reference(id)) => format!("dict id={id} (cached)"),
        Value::Dict(DictValue::Define { id, value }) => {
            format!("dict id={id} value={}", py_repr(value))
        }
    }
}

/// Body length of a complete raw frame with a body.
fn body_len(raw: &[u8]) -> usize {
    let (len, _) = sluice_core::peers::varint::decode_max(&raw[2..], 5).unwrap();
    len as usize
}

fn render(stream: &Stream<'_>) -> String {
    let mut r = Renderer {
        out: String::new(),
        last_id: None,
    };
    for d in &stream.items {
        r.item(d);
    }
    r.out
}

/// The reference decoder's text, cut before the entry at `stop` (an offset).
fn expected_text(rel: &str, stop: Option<usize>) -> String {
    let txt_rel = rel.strip_suffix(".bin").unwrap().to_string() + ".decoded.txt";
    let txt = String::from_utf8(read(&txt_rel)).unwrap();
    let mut out = String::new();
    for line in txt.lines() {
        let offset = line
            .get(..6)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()) && line.get(6..8) == Some("  "))
            .map(|h| usize::from_str_radix(h, 16).unwrap());
        if let (Some(o), Some(stop)) = (offset, stop) {
            if o >= stop {
                break;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn every_capture_decodes_like_the_reference_decoder() {
    let bins = all_bins();
    assert!(bins.len() >= 50, "captures present: {}", bins.len());
    let mut compared_lines = 0;
    let mut stopped = Vec::new();
    for rel in &bins {
        let data = read(rel);
        let stream = dissect(&data);
        let stop = stream.error.map(|(o, _)| o);
        if stop.is_some() {
            stopped.push(rel.as_str());
        }
        let expected = expected_text(rel, stop);
        compared_lines += expected.lines().count();
        let got = render(&stream);
        if got != expected {
            let diff = got
                .lines()
                .zip(expected.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("got:      {a}\nexpected: {b}"))
                .unwrap_or_else(|| {
                    format!(
                        "length differs: {} vs {} lines",
                        got.lines().count(),
                        expected.lines().count()
                    )
                });
            panic!("{rel}: our decoding differs from the reference decoder\n{diff}");
        }
        if stream.error.is_none() {
            assert_eq!(stream.tail, 0, "{rel}: trailing partial bytes");
        }
    }
    // Only the four hostile inputs stop a receiver; everything else was
    // compared to its end.
    assert_eq!(
        stopped,
        [
            "errors/msg_length_too_big.sent.bin",
            "errors/msg_malformed_definition.sent.bin",
            "errors/msg_reserved_class_ff.sent.bin",
            "errors/msg_unterminated_length_varint.sent.bin",
        ]
    );
    assert!(compared_lines > 1700, "{compared_lines}");
}

/// Re-encodes one item with our encoders.
fn reencode(d: &Decoded<'_>, out: &mut Vec<u8>) {
    match &d.item {
        Item::Hello(h) => match reencode_hello(h) {
            Some(bytes) if bytes == d.raw => out.extend_from_slice(&bytes),
            // Not a canonical hello (CRLF, bad identifier, no pid): copied.
            _ => out.extend_from_slice(d.raw),
        },
        Item::Status(s) => s.encode(out),
        Item::Message(m) => m.encode(out),
        Item::Update { update, .. } => update.encode(out),
    }
}

fn reencode_hello(h: &HelloLines<'_>) -> Option<Vec<u8>> {
    let version = Version::parse(h.line1.strip_prefix(handshake::PROTOCOL_ID)?)?;
    let mut parts = h.line3.split(|&b| b == b' ');
    let (name, pid, relpid) = (parts.next()?, parts.next()?, parts.next()?);
    if relpid != b"1" || parts.next().is_some() {
        return None;
    }
    let pid: u32 = std::str::from_utf8(pid).ok()?.parse().ok()?;
    let mut out = Vec::new();
    handshake::encode_hello(version, h.line2, name, pid, &mut out);
    Some(out)
}

#[test]
fn every_capture_reencodes_byte_for_byte() {
    let mut hellos_reencoded = 0;
    for rel in all_bins() {
        let data = read(&rel);
        let stream = dissect(&data);
        let mut out = Vec::new();
        for d in &stream.items {
            let before = out.len();
            reencode(d, &mut out);
            assert_eq!(
                &out[before..],
                d.raw,
                "{rel} at {:#x}: {:?}",
                d.offset,
                d.item
            );
            if let Item::Hello(h) = &d.item {
                hellos_reencoded += usize::from(reencode_hello(h).as_deref() == Some(d.raw));
            }
        }
        let end = data.len() - stream.tail;
        assert_eq!(out, &data[..end], "{rel}: whole stream");
    }
    // Hellos are text: all but the CRLF/invalid ones are canonical.
    assert!(hellos_reencoded >= 20, "{hellos_reencoded}");
}

#[test]
fn every_capture_decodes_the_same_when_fed_one_byte_at_a_time() {
    for rel in all_bins() {
        let data = read(&rel);
        let whole = dissect(&data);
        let mut d = Dissector::new(start_of(&data));
        let mut acc = Vec::new();
        let mut pos = 0;
        let mut items = Vec::new();
        let mut error = None;
        'feed: for &b in &data {
            acc.push(b);
            loop {
                match d.next(&acc[pos..]) {
                    Ok(sluice_core::peers::Status::Complete((item, n))) => {
                        items.push((pos, n, format!("{item:?}")));
                        pos += n;
                    }
                    Ok(sluice_core::peers::Status::Partial) => break,
                    Err(e) => {
                        error = Some((pos, e));
                        break 'feed;
                    }
                }
            }
        }
        let expected: Vec<_> = whole
            .items
            .iter()
            .map(|x| (x.offset, x.raw.len(), format!("{:?}", x.item)))
            .collect();
        assert_eq!(items, expected, "{rel}");
        assert_eq!(error, whole.error, "{rel}");
    }
}

// ------------------------------------------------------------------------
// Concrete values (captures/README.md).

fn updates<'a>(s: &'a Stream<'a>) -> Vec<(usize, u64, u32, &'a Update<'a>)> {
    s.items
        .iter()
        .filter_map(|d| match &d.item {
            Item::Update {
                table_id,
                update_id,
                update,
            } => Some((d.offset, *table_id, *update_id, update)),
            _ => None,
        })
        .collect()
}

fn message_at<'a>(s: &'a Stream<'a>, offset: usize) -> &'a Item<'a> {
    &s.items
        .iter()
        .find(|d| d.offset == offset)
        .unwrap_or_else(|| panic!("no item at {offset:#x}"))
        .item
}

fn int(u: &Update<'_>, dt: DataType) -> u64 {
    u.value(dt).and_then(Value::as_ull).unwrap()
}

fn freq(u: &Update<'_>, dt: DataType) -> (u64, u64, u64) {
    match u.value(dt) {
        Some(Value::FreqCtr(FreqCtrValue {
            age,
            curr_ctr,
            prev_ctr,
        })) => (*age, *curr_ctr, *prev_ctr),
        v => panic!("{dt}: {v:?}"),
    }
}

#[test]
fn session_a_to_b_values() {
    let data = read("session/A-to-B.bin");
    let s = dissect(&data);
    assert!(s.error.is_none() && s.tail == 0);
    assert!(matches!(
        message_at(&s, 0),
        Item::Status(StatusCode::SUCCESS)
    ));

    // The first definition: /t_ip.
    let Item::Message(Message::TableDefinition(def)) = message_at(&s, 0x04) else {
        panic!()
    };
    assert_eq!((def.table_id, def.name), (5, &b"/t_ip"[..]));
    let f = def.fields.as_ref().unwrap();
    assert_eq!(
        (f.key_type, f.key_size, f.data_types, f.expire_ms),
        (4, 4, 0x2437, Some(600_000))
    );
    assert_eq!(
        f.params,
        vec![
            TypeParam {
                data_type: DataType::CONN_RATE,
                element_count: None,
                period_ms: Some(10_000)
            },
            TypeParam {
                data_type: DataType::HTTP_REQ_RATE,
                element_count: None,
                period_ms: Some(10_000)
            },
        ]
    );

    let ups = updates(&s);
    // 0x01f: update id 1, 127.0.0.10.
    let (off, table, id, u) = ups[0];
    assert_eq!((off, table, id, u.kind()), (0x1f, 5, 1, UpdateKind::Update));
    assert_eq!(u.key, Key::Ipv4([127, 0, 0, 10]));
    assert_eq!(
        u.value(DataType::SERVER_ID).and_then(Value::as_sint),
        Some(3)
    );
    assert_eq!(int(u, DataType::GPT0), 1);
    assert_eq!(int(u, DataType::GPC0), 42);
    assert_eq!(int(u, DataType::CONN_CNT), 7);
    assert_eq!(freq(u, DataType::CONN_RATE), (2168, 5, 0));
    assert_eq!(freq(u, DataType::HTTP_REQ_RATE), (2168, 9, 0));
    assert_eq!(int(u, DataType::BYTES_IN_CNT), 123_456_789_012);
    // 0x03c: incremental => id 2, 127.0.0.11, never-used counters.
    let (off, _, id, u) = ups[1];
    assert_eq!(
        (off, id, u.update_id, u.key),
        (0x3c, 2, None, Key::Ipv4([127, 0, 0, 11]))
    );
    assert_eq!(int(u, DataType::GPC0), 1);
    assert_eq!(freq(u, DataType::CONN_RATE), (5_920_648, 0, 0));

    // /t_int: server_id -1 as a 10-byte varint, the varint boundaries.
    let (off, table, id, u) = ups[2];
    assert_eq!((off, table, id, u.key), (0x70, 4, 1, Key::Integer(1234)));
    assert_eq!(u.value(DataType::SERVER_ID), Some(&Value::Int(u64::MAX)));
    assert_eq!(
        u.value(DataType::SERVER_ID).and_then(Value::as_sint),
        Some(-1)
    );
    assert_eq!(
        &data[0x70 + 11..0x70 + 21],
        &[0xff, 0xf0, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0x0e]
    );
    assert_eq!(int(u, DataType::GPC0), 240);
    assert_eq!(int(u, DataType::CONN_CNT), 2288);
    assert_eq!(freq(u, DataType::CONN_RATE), (2148, 264_432, 0));
    assert_eq!(int(u, DataType::BYTES_IN_CNT), 4_294_967_295);
    let (_, _, id, u) = ups[3];
    assert_eq!(
        (id, u.key, int(u, DataType::GPC0)),
        (2, Key::Integer(u32::MAX), 239)
    );

    // /t_str and /t_bin keys.
    assert_eq!(ups[4].3.key, Key::String(b"hello-peers"));
    assert_eq!(
        ups[5].3.key,
        Key::String(b"abcdefghijklmnopqrstuvwxyz012345")
    );
    let (off, table, id, u) = ups[6];
    assert_eq!((off, table, id), (0x144, 2, 4));
    assert_eq!(u.key, Key::Binary(b"abc\0\0\0\0\0\0\0\0\0\0\0\0\0"));
    assert_eq!((ups[7].0, ups[7].2), (0x168, 8));

    // /t_ip6: arrays.
    let Item::Message(Message::TableDefinition(def)) = message_at(&s, 0x18c) else {
        panic!()
    };
    let f = def.fields.as_ref().unwrap();
    assert_eq!(
        (def.table_id, def.name, f.key_type, f.key_size, f.data_types),
        (1, &b"/t_ip6"[..], 5, 16, 0x1d1_0040)
    );
    let params: Vec<_> = f
        .params
        .iter()
        .map(|p| (p.data_type.0, p.element_count, p.period_ms))
        .collect();
    assert_eq!(
        params,
        vec![
            (16, None, Some(60_000)),
            (22, Some(2), None),
            (23, Some(2), None),
            (24, Some(2), Some(10_000))
        ]
    );
    let (off, _, _, u) = ups[8];
    assert_eq!(off, 0x1ae);
    let mut v6 = [0u8; 16];
    v6[15] = 1;
    assert_eq!(u.key, Key::Ipv6(v6));
    assert_eq!(int(u, DataType::CONN_CUR), 3);
    assert_eq!(int(u, DataType::HTTP_FAIL_CNT), 2);
    let gpt: Vec<_> = u
        .values_of(DataType::GPT)
        .map(|v| v.as_uint().unwrap())
        .collect();
    let gpc: Vec<_> = u
        .values_of(DataType::GPC)
        .map(|v| v.as_uint().unwrap())
        .collect();
    assert_eq!((gpt, gpc), (vec![7, 0], vec![5, 0]));
    assert_eq!(u.values_of(DataType::GPC_RATE).count(), 2);

    // be_stick: dictionary define then reference.
    let Item::Message(Message::TableDefinition(def)) = message_at(&s, 0x208) else {
        panic!()
    };
    let f = def.fields.as_ref().unwrap();
    assert_eq!(
        (def.table_id, def.name, f.data_types, f.params.len()),
        (6, &b"be_stick"[..], 0x80001, 0)
    );
    let dicts: Vec<_> = ups
        .iter()
        .filter(|x| x.1 == 6)
        .map(|x| (x.0, x.2, x.3.key, *x.3.value(DataType::SERVER_KEY).unwrap()))
        .collect();
    assert_eq!(
        dicts[0],
        (
            0x21f,
            1,
            Key::Ipv4([127, 0, 0, 2]),
            Value::Dict(DictValue::Define {
                id: 1,
                value: b"s1"
            })
        )
    );
    assert_eq!(
        dicts[1],
        (
            0x230,
            2,
            Key::Ipv4([127, 0, 0, 3]),
            Value::Dict(DictValue::Reference(1))
        )
    );
    assert!(
        dicts[2..]
            .iter()
            .all(|d| d.3 == Value::Dict(DictValue::Reference(1))),
        "{dicts:?}"
    );
    assert_eq!(dicts.last().unwrap().0, 0x755);
    assert_eq!(dicts.last().unwrap().1, 3);

    // The full teach: timed updates, then FINISHED.
    let (off, table, id, u) = ups.iter().find(|x| x.0 == 0x255).copied().unwrap();
    assert_eq!(
        (off, table, id, u.kind(), u.expire_ms),
        (0x255, 5, 1, UpdateKind::Timed, Some(597_832))
    );
    assert_eq!(int(u, DataType::GPC0), 42);
    let (_, _, id, u) = ups.iter().find(|x| x.0 == 0x276).copied().unwrap();
    assert_eq!(
        (id, u.kind(), u.expire_ms),
        (2, UpdateKind::IncrementalTimed, Some(597_840))
    );
    assert!(matches!(
        message_at(&s, 0x49d),
        Item::Message(Message::Control(ControlType::RESYNC_FINISHED))
    ));
    let timed = ups.iter().filter(|x| x.3.expire_ms.is_some()).count();
    assert_eq!(timed, 12);
    assert!(ups
        .iter()
        .filter(|x| x.3.expire_ms.is_some())
        .all(|x| (0x23a..0x49d).contains(&x.0)));

    // Later steps: heartbeat, batch of 3 with ids 3, 4, 5, the ack of B's update.
    assert!(matches!(
        message_at(&s, 0x6d2),
        Item::Message(Message::Control(ControlType::HEARTBEAT))
    ));
    let batch: Vec<_> = ups
        .iter()
        .filter(|x| x.0 >= 0x6ef && x.1 == 5)
        .map(|x| (x.0, x.2, x.3.update_id))
        .collect();
    assert_eq!(
        batch,
        vec![(0x6ef, 3, Some(3)), (0x70b, 4, None), (0x723, 5, None)]
    );
    assert!(matches!(
        message_at(&s, 0x763),
        Item::Message(Message::UpdateAck(UpdateAck {
            table_id: 3,
            update_id: 3
        }))
    ));
    let heartbeats = s.items.iter().filter(|d| d.offset >= 0x76b).count();
    assert_eq!(heartbeats, 3);
}

#[test]
fn session_b_to_a_values() {
    let data = read("session/B-to-A.bin");
    let s = dissect(&data);
    assert!(s.error.is_none() && s.tail == 0);
    let Item::Hello(h) = message_at(&s, 0) else {
        panic!()
    };
    let hello = h.validate(b"A", |n| n == b"A" || n == b"B").unwrap();
    assert_eq!(
        (hello.version, hello.called, hello.sender, hello.sender_args),
        (Version::V2_1, &b"A"[..], &b"B"[..], &b"32010 1"[..])
    );
    assert_eq!(s.items[1].offset, 0x19);
    assert!(matches!(
        message_at(&s, 0x19),
        Item::Message(Message::Control(ControlType::RESYNC_REQUEST))
    ));
    let acks: Vec<_> = s
        .items
        .iter()
        .filter_map(|d| match d.item {
            Item::Message(Message::UpdateAck(a)) => Some((d.offset, a.table_id, a.update_id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        acks,
        vec![
            (0x1b, 5, 2),
            (0x23, 4, 2),
            (0x2b, 3, 2),
            (0x33, 2, 8),
            (0x3b, 1, 2),
            (0x43, 6, 2),
            (0x4f, 5, 5),
            (0x57, 6, 3)
        ]
    );
    assert!(matches!(
        message_at(&s, 0x4b),
        Item::Message(Message::Control(ControlType::RESYNC_CONFIRM))
    ));
    assert!(matches!(
        message_at(&s, 0x4d),
        Item::Message(Message::Control(ControlType::HEARTBEAT))
    ));
    let Item::Message(Message::TableDefinition(def)) = message_at(&s, 0x5f) else {
        panic!()
    };
    assert_eq!((def.table_id, def.name), (3, &b"/t_str"[..]));
    let ups = updates(&s);
    assert_eq!(ups.len(), 1);
    let (off, table, id, u) = ups[0];
    assert_eq!(
        (off, table, id, u.key),
        (0x7b, 3, 3, Key::String(b"from-B"))
    );
    assert_eq!(int(u, DataType::GPC0), 99);
    assert_eq!(freq(u, DataType::CONN_RATE), (5_925_714, 0, 0));
    assert_eq!(freq(u, DataType::HTTP_REQ_RATE), (0, 3, 0));
}

#[test]
fn reload_teach_from_the_old_process() {
    let old = read("reload/old-to-new.bin");
    let s = dissect(&old);
    assert!(s.error.is_none() && s.tail == 0);
    let Item::Hello(h) = &s.items[0].item else {
        panic!()
    };
    // Both names are the local one: checks 1-5 pass; check 6 is the session's.
    let hello = h.validate(b"A", |n| n == b"A" || n == b"B").unwrap();
    assert_eq!(
        (hello.called, hello.sender, hello.sender_args),
        (&b"A"[..], &b"A"[..], &b"303 1"[..])
    );
    // No RESYNC_REQUEST: definitions of the 5 tables, timed updates, FINISHED.
    let msgs: Vec<_> = s.items[1..].iter().map(|d| &d.item).collect();
    let defs = msgs
        .iter()
        .filter(|i| matches!(i, Item::Message(Message::TableDefinition(_))))
        .count();
    assert_eq!(defs, 5);
    assert!(!msgs.iter().any(|i| matches!(
        i,
        Item::Message(Message::Control(ControlType::RESYNC_REQUEST))
    )));
    let ups = updates(&s);
    assert_eq!(ups.len(), 3);
    assert!(ups.iter().all(|u| u.3.expire_ms.is_some()));
    let keys: Vec<_> = ups
        .iter()
        .map(|u| (u.3.key, int(u.3, DataType::GPC0)))
        .collect();
    assert!(keys.contains(&(Key::Ipv4([127, 0, 0, 40]), 4)));
    assert!(keys.contains(&(Key::Ipv4([127, 0, 0, 41]), 5)));
    assert!(keys.contains(&(Key::String(b"reload-me"), 6)));
    assert!(matches!(
        msgs.last(),
        Some(Item::Message(Message::Control(
            ControlType::RESYNC_FINISHED
        )))
    ));

    let new = read("reload/new-to-old.bin");
    let s = dissect(&new);
    let items: Vec<_> = s.items.iter().map(|d| &d.item).collect();
    assert_eq!(items.len(), 4);
    assert!(matches!(items[0], Item::Status(StatusCode::SUCCESS)));
    assert!(matches!(
        items[1],
        Item::Message(Message::UpdateAck(UpdateAck {
            table_id: 3,
            update_id: 1
        }))
    ));
    assert!(matches!(
        items[2],
        Item::Message(Message::UpdateAck(UpdateAck {
            table_id: 5,
            update_id: 2
        }))
    ));
    assert!(matches!(
        items[3],
        Item::Message(Message::Control(ControlType::RESYNC_CONFIRM))
    ));
}

#[test]
fn connect_side() {
    let hello = read("connect-side/err502/listen_conn1.recv.bin");
    let s = dissect(&hello);
    assert_eq!(s.items.len(), 1);
    let Item::Hello(h) = &s.items[0].item else {
        panic!()
    };
    let v = h.validate(b"B", |n| n == b"A" || n == b"B").unwrap();
    assert_eq!(
        (v.version, v.called, v.sender),
        (Version::V2_1, &b"B"[..], &b"A"[..])
    );
    let status = read("connect-side/err502/listen_conn1.sent.bin");
    assert_eq!(
        StatusCode::parse(&status, 64),
        Ok(sluice_core::peers::Status::Complete((
            StatusCode::BAD_VERSION,
            4
        )))
    );

    for conn in 1..=3 {
        let recv = read(&format!("connect-side/ok/listen_conn{conn}.recv.bin"));
        let s = dissect(&recv);
        // The hello, then RESYNC_REQUEST and nothing else.
        assert_eq!(s.items.len(), 2, "conn {conn}");
        assert!(matches!(
            s.items[1].item,
            Item::Message(Message::Control(ControlType::RESYNC_REQUEST))
        ));
        let sent = read(&format!("connect-side/ok/listen_conn{conn}.sent.bin"));
        assert_eq!(sent, b"200\n");
    }
}

/// What HAProxy answered on a connection: the status, and the last message
/// it sent before closing (if any).
fn answer(case: &str) -> (StatusCode, Option<Message<'static>>) {
    let data: &'static [u8] = read(&format!("errors/{case}.recv.bin")).leak();
    let s = dissect(data);
    assert!(s.error.is_none(), "{case}: HAProxy's own bytes decode");
    let Item::Status(code) = s.items[0].item else {
        panic!("{case}")
    };
    let last = s.items[1..].last().and_then(|d| match &d.item {
        Item::Message(m) => Some(m.clone()),
        _ => None,
    });
    (code, last)
}

fn known(n: &[u8]) -> bool {
    n == b"A" || n == b"B"
}

#[test]
fn hostile_handshakes_get_haproxys_status() {
    for (case, want) in [
        ("hs_bad_version_3.0", StatusCode::BAD_VERSION),
        ("hs_bad_version_2.2", StatusCode::BAD_VERSION),
        ("hs_bad_protocol_id", StatusCode::PROTOCOL_ERROR),
        ("hs_wrong_local_name", StatusCode::WRONG_HOST),
        ("hs_unknown_peer_name", StatusCode::UNKNOWN_PEER),
        ("hs_line3_without_space", StatusCode::PROTOCOL_ERROR),
    ] {
        let sent = read(&format!("errors/{case}.sent.bin"));
        let got = handshake::accept_hello(&sent, 1024, b"A", known);
        assert_eq!(
            got,
            Err(handshake::HandshakeError::Rejected(want)),
            "{case}"
        );
        assert_eq!(answer(case).0, want, "{case}: HAProxy's answer");
        let mut line = Vec::new();
        want.encode(&mut line);
        assert_eq!(
            read(&format!("errors/{case}.recv.bin")),
            line,
            "{case}: status line bytes"
        );
    }
    // Accepted hellos (CRLF, the local name, collisions) get 200 from the
    // codec; 300 for the second local-name session is the session's check 6.
    for case in [
        "hs_crlf_line_endings",
        "local_name_first",
        "local_name_second",
        "collision_first",
        "collision_second",
    ] {
        let sent = read(&format!("errors/{case}.sent.bin"));
        let Ok(sluice_core::peers::Status::Complete((h, n))) =
            handshake::accept_hello(&sent, 1024, b"A", known)
        else {
            panic!("{case}")
        };
        assert_eq!(n, sent.len(), "{case}");
        let from_local = h.sender == b"A";
        let (status, _) = answer(case);
        match case {
            "local_name_second" => assert_eq!((from_local, status), (true, StatusCode::TRY_AGAIN)),
            _ => assert_eq!(status, StatusCode::SUCCESS, "{case}"),
        }
    }
}

/// The items and error of a fake peer's stream.
fn sent(case: &str) -> (Vec<String>, Option<DissectError>) {
    let data = read(&format!("errors/{case}.sent.bin"));
    let s = dissect(&data);
    (
        s.items.iter().map(|d| format!("{:?}", d.item)).collect(),
        s.error.map(|e| e.1),
    )
}

#[test]
fn hostile_messages_get_haproxys_answer() {
    let cases: [(&str, DissectError, ErrorType); 4] = [
        (
            "msg_reserved_class_ff",
            DissectError::Frame(FrameError::ReservedClass),
            ErrorType::PROTOCOL_ERROR,
        ),
        (
            "msg_unterminated_length_varint",
            DissectError::Frame(FrameError::LengthTooLong),
            ErrorType::PROTOCOL_ERROR,
        ),
        (
            "msg_length_too_big",
            DissectError::Frame(FrameError::SizeLimit { len: 20000 }),
            ErrorType::SIZE_LIMIT,
        ),
        (
            "msg_malformed_definition",
            DissectError::Message(MessageError::Definition(Malformed {
                field: Field::Name,
                reason: Reason::ReachesEnd,
            })),
            ErrorType::PROTOCOL_ERROR,
        ),
    ];
    for (case, want, reply) in cases {
        let (_, err) = sent(case);
        assert_eq!(err, Some(want), "{case}");
        let ours = match want {
            DissectError::Frame(f) => f.reply(),
            DissectError::Message(m) => m.reply(),
            _ => unreachable!(),
        };
        assert_eq!(ours, reply, "{case}");
        assert_eq!(
            answer(case).1,
            Some(Message::Error(reply)),
            "{case}: HAProxy's last message"
        );
    }
    // Ignored by HAProxy: no error here either, and HAProxy sent no error.
    for case in [
        "msg_ascii_garbage",
        "msg_unknown_control_type",
        "msg_error_class_from_peer",
        "msg_update_without_definition",
    ] {
        let (items, err) = sent(case);
        assert_eq!(err, None, "{case}");
        assert!(!matches!(answer(case).1, Some(Message::Error(_))), "{case}");
        let unknown = items
            .iter()
            .filter(|i| i.starts_with("Message(Unknown("))
            .count();
        match case {
            "msg_ascii_garbage" => assert_eq!(unknown, 4),
            "msg_unknown_control_type" => {
                assert!(items.contains(&"Message(Control(ControlType(9)))".to_string()))
            }
            "msg_error_class_from_peer" => {
                assert!(items.contains(&"Message(Error(PROTOCOL_ERROR))".to_string()))
            }
            _ => assert!(
                items
                    .iter()
                    .any(|i| i.starts_with("Message(Update { kind: Update")),
                "{items:?}"
            ),
        }
    }
}

#[test]
fn our_encodings_that_haproxy_accepted() {
    let data = read("errors/inject_updates.sent.bin");
    let s = dissect(&data);
    assert!(s.error.is_none());
    let ups: Vec<_> = updates(&s)
        .iter()
        .map(|u| {
            (
                u.1,
                u.2,
                u.3.kind(),
                u.3.expire_ms,
                u.3.key,
                int(u.3, DataType::GPC0),
                freq(u.3, DataType::CONN_RATE),
            )
        })
        .collect();
    assert_eq!(
        ups,
        vec![
            (
                7,
                100,
                UpdateKind::Update,
                None,
                Key::Ipv4([127, 0, 0, 99]),
                77,
                (500, 12, 3)
            ),
            (
                7,
                101,
                UpdateKind::Incremental,
                None,
                Key::Ipv4([127, 0, 0, 98]),
                240,
                (0, 0, 0)
            ),
            (
                7,
                200,
                UpdateKind::Timed,
                Some(30_000),
                Key::Ipv4([127, 0, 0, 97]),
                2288,
                (100, 1, 0)
            ),
        ]
    );
    let recv = read("errors/inject_updates.recv.bin");
    let acks: Vec<_> = dissect(&recv)
        .items
        .iter()
        .filter_map(|d| match d.item {
            Item::Message(Message::UpdateAck(a)) => Some((a.table_id, a.update_id)),
            _ => None,
        })
        .collect();
    assert_eq!(acks, vec![(7, 100), (7, 101), (7, 200)]);
}

#[test]
fn resync_on_2_0_and_2_1_sessions() {
    for (case, version, timed) in [
        ("resync_request_v2.1", Version::V2_1, true),
        ("resync_request_v2.0", Version::V2_0, false),
    ] {
        let sent = read(&format!("errors/{case}.sent.bin"));
        let Ok(sluice_core::peers::Status::Complete((h, _))) =
            handshake::accept_hello(&sent, 1024, b"A", known)
        else {
            panic!()
        };
        assert_eq!(h.version, version);
        assert_eq!(h.version.supports_timed_updates(), timed);
        let recv = read(&format!("errors/{case}.recv.bin"));
        let s = dissect(&recv);
        assert!(s.error.is_none());
        let ups = updates(&s);
        let n_timed = ups.iter().filter(|u| u.3.kind().is_timed()).count();
        assert_eq!(n_timed > 0, timed, "{case}");
        assert!(s.items.iter().any(|d| matches!(
            d.item,
            Item::Message(Message::Control(ControlType::RESYNC_FINISHED))
        )));
    }
}
