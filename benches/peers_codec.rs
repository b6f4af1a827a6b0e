//! Peers codec throughput: `intencode`/`intdecode` over a mixed-size
//! buffer, and stick-table update messages encoded and decoded as a peers
//! session does (frame, message, update with the sender's layout).
//!
//!     cargo bench --bench peers_codec
//!     benches/callgrind.sh peers_codec        # instructions per item
//!
//! Targets (issue 2): intdecode >= 300 M values/s, update-message decode
//! >= 5 M messages/s, on one core. See docs/benchmarks.md.

mod common;

use common::{Case, Rng};
use sluice_core::peers::{
    varint, Frame, FrameLimits, FreqCtrValue, Key, Message, Status, Update, UpdateLayout,
    UpdateValue, Value,
};
use sluice_core::stick_table::{DataType, KeyType, StdType, StoreSpec, TableParams};

/// Number of values in the varint buffer: ~90 KB encoded, what a few
/// `tune.bufsize` buffers hold.
const VALUES: usize = 16 * 1024;

/// Number of update messages in the decode buffer (~120 KB).
const MESSAGES: usize = 4096;

/// A value whose encoding is exactly `len` bytes (1..=10), uniform within
/// that length's range (PROTOCOL.md §4.3 thresholds).
fn value_of_len(rng: &mut Rng, len: usize) -> u64 {
    let mut lo: u128 = 0;
    let mut hi: u128 = 0xF0;
    for i in 1..len {
        lo = hi;
        hi += 1u128 << (11 + 7 * (i - 1));
    }
    let hi = hi.min(u128::from(u64::MAX) + 1);
    let v = (lo + u128::from(rng.next_u64()) % (hi - lo)) as u64;
    assert_eq!(varint::encoded_len(v), len);
    v
}

/// Values of every encoded length 1..=10 in equal shares, shuffled.
fn mixed_values() -> Vec<u64> {
    let mut rng = Rng::new(0x5eed_0001);
    (0..VALUES)
        .map(|_| {
            let len = 1 + rng.below(10) as usize;
            value_of_len(&mut rng, len)
        })
        .collect()
}

fn intcodec() -> Vec<Case> {
    let values = mixed_values();
    let mut buf = Vec::new();
    for &v in &values {
        varint::encode(v, &mut buf);
    }
    let expected: u64 = values.iter().fold(0, |a, &v| a.wrapping_add(v));
    let n = values.len() as u64;
    let mut out = Vec::with_capacity(buf.len());
    vec![
        Case::new("intdecode_mixed_1_10", n, move || {
            let mut pos = 0;
            let mut sum = 0u64;
            while pos < buf.len() {
                let (v, used) = varint::decode(&buf[pos..]).expect("valid varint");
                sum = sum.wrapping_add(v);
                pos += used;
            }
            assert_eq!(sum, expected);
            sum
        }),
        Case::new("intencode_mixed_1_10", n, move || {
            out.clear();
            for &v in &values {
                varint::encode(v, &mut out);
            }
            out.len() as u64
        }),
    ]
}

/// `/t_int` of the captures (`core/tests/data/captures/session/`): integer
/// key, server_id, gpt0, gpc0, conn_cnt, conn_rate(10s), http_req_rate(10s),
/// bytes_in_cnt, expire 10m.
fn t_int_params() -> TableParams {
    let mut p = TableParams::new("mesh/t_int", KeyType::Integer, 100_000);
    p.wire_name = "/t_int".into();
    p.expire_ms = Some(600_000);
    p.peers = Some("mesh".into());
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

/// A log-uniform count below 2^max_bits: mostly small, sometimes large,
/// like real counters.
fn count(rng: &mut Rng, max_bits: u32) -> u64 {
    let bits = rng.below(u64::from(max_bits) + 1) as u32;
    rng.next_u64() & ((1u64 << bits) - 1)
}

/// One update for `/t_int` with plausible values.
fn t_int_update(
    rng: &mut Rng,
    layout: &UpdateLayout,
    id: Option<u32>,
    exp: Option<u32>,
) -> Update<'static> {
    let mut values = Vec::new();
    for (dt, std, n) in layout.value_types() {
        for index in 0..n {
            let value = match std {
                StdType::SInt if rng.below(50) == 0 => Value::Int(u64::MAX), // -1
                StdType::SInt => Value::Int(1 + rng.below(8)),
                StdType::FreqP => Value::FreqCtr(FreqCtrValue {
                    age: rng.below(10_000),
                    curr_ctr: count(rng, 12),
                    prev_ctr: count(rng, 12),
                }),
                _ if dt == DataType::GPT0 => Value::Int(rng.below(2)),
                _ if dt == DataType::BYTES_IN_CNT => Value::Int(count(rng, 36)),
                _ => Value::Int(count(rng, 20)),
            };
            values.push(UpdateValue {
                data_type: dt,
                index,
                value,
            });
        }
    }
    Update {
        update_id: id,
        expire_ms: exp,
        key: Key::Integer(rng.next_u64() as u32),
        values,
    }
}

/// A stream of updates as a 2.6 sender writes them: runs of 16, the first
/// with an explicit id (0x80) and the others incremental (0x81); every
/// other run timed (0x85/0x86), as when teaching a peer.
fn t_int_updates(layout: &UpdateLayout) -> Vec<Update<'static>> {
    let mut rng = Rng::new(0x5eed_0002);
    (0..MESSAGES)
        .map(|i| {
            let explicit = i % 16 == 0;
            let timed = (i / 16) % 2 == 1;
            let id = explicit.then_some(i as u32 + 1);
            let exp = timed.then(|| 590_000 + rng.below(10_000) as u32);
            t_int_update(&mut rng, layout, id, exp)
        })
        .collect()
}

/// The capture's first `/t_int` update (A-to-B, offset 0x2ae) re-encoded
/// from its fields: the bench's encoder input has HAProxy's byte layout.
fn check_against_capture(layout: &UpdateLayout) {
    let captured = [
        0x0a, 0x85, 0x2c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x09, 0x1f, 0x5c, 0x00, 0x00, 0x04, 0xd2,
        0xff, 0xf0, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0x0e, 0x00, 0xf0, 0x00, 0xf0, 0x80,
        0x00, 0xf4, 0x77, 0xf0, 0x80, 0x80, 0x00, 0x00, 0xf4, 0x77, 0x00, 0x00, 0xff, 0xf0, 0xfe,
        0xfe, 0x7e,
    ];
    let frq = |age, curr_ctr| {
        Value::FreqCtr(FreqCtrValue {
            age,
            curr_ctr,
            prev_ctr: 0,
        })
    };
    let vals = [
        Value::Int(u64::MAX),
        Value::Int(0),
        Value::Int(240),
        Value::Int(2288),
        frq(2148, 264_432),
        frq(2148, 0),
        Value::Int(4_294_967_295),
    ];
    let u = Update {
        update_id: Some(1),
        expire_ms: Some(597_852),
        key: Key::Integer(1234),
        values: layout
            .value_types()
            .zip(vals)
            .map(|((data_type, _, _), value)| UpdateValue {
                data_type,
                index: 0,
                value,
            })
            .collect(),
    };
    let mut out = Vec::new();
    u.encode(&mut out);
    assert_eq!(out, captured, "the bench's update layout is not HAProxy's");
}

fn updates() -> Vec<Case> {
    let layout = UpdateLayout::from_table_params(&t_int_params());
    check_against_capture(&layout);
    let updates = t_int_updates(&layout);
    let mut buf = Vec::new();
    for u in &updates {
        u.encode(&mut buf);
    }
    let n = updates.len() as u64;
    let limits = FrameLimits::default();
    let frames_buf = buf.clone();
    let mut out = Vec::with_capacity(buf.len());
    vec![
        Case::new("decode_t_int", n, move || {
            let mut pos = 0;
            let mut sum = 0u64;
            while pos < buf.len() {
                let Ok(Status::Complete((frame, used))) = Frame::decode(&buf[pos..], &limits)
                else {
                    panic!("a whole message")
                };
                pos += used;
                let Ok(Message::Update { kind, body }) = Message::parse(&frame) else {
                    panic!("an update")
                };
                let u = Update::decode(kind, body, &layout).expect("valid update");
                let Key::Integer(k) = u.key else {
                    panic!("integer key")
                };
                sum = sum
                    .wrapping_add(u64::from(k))
                    .wrapping_add(u.values.len() as u64);
            }
            sum
        }),
        Case::new("frame_only_t_int", n, move || {
            let mut pos = 0;
            let mut sum = 0u64;
            while pos < frames_buf.len() {
                let Ok(Status::Complete((frame, used))) =
                    Frame::decode(&frames_buf[pos..], &limits)
                else {
                    panic!("a whole message")
                };
                pos += used;
                sum = sum.wrapping_add(frame.body.len() as u64);
            }
            sum
        }),
        Case::new("encode_t_int", n, move || {
            out.clear();
            for u in &updates {
                u.encode(&mut out);
            }
            out.len() as u64
        }),
    ]
}

fn main() {
    common::main("peers", &[("int", intcodec), ("update", updates)]);
}
