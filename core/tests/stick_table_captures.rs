// Integration tests run outside the engine: reading files here is fine.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

//! `show table` lines against real HAProxy 2.6.12 output
//! (`tests/data/captures/session/show-tables.txt`, peer A).
//!
//! Each table of A is rebuilt through the public API with the operations of
//! `captures/tools/run-captures.sh` (CLI `set table`, HTTP tracking, a
//! learned entry), at instants chosen so that the ms left before expiry and
//! the rates read at "show time" are the ones HAProxy printed; the dump must
//! then match HAProxy's lines byte for byte (minus the `0x...: ` pointer).

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use sluice_core::freq_ctr::FreqCtr;
use sluice_core::stick_table::{
    DataType, EntryId, KeyType, StData, StKey, StickTable, StoreSpec, TableParams,
};
use sluice_core::time::Time;

const EXPIRE_MS: u32 = 600_000;

/// `### A: show table <name>` -> the lines that follow, pointers stripped.
fn captured() -> BTreeMap<String, Vec<String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/captures/session/show-tables.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            current = Some(name.to_string());
            out.insert(name.to_string(), Vec::new());
        } else if line.is_empty() {
            current = None;
        } else if let Some(name) = &current {
            let line = match line.split_once(": key=") {
                Some((ptr, rest)) if ptr.starts_with("0x") => format!("key={rest}"),
                _ => line.to_string(),
            };
            out.get_mut(name).unwrap().push(line);
        }
    }
    assert!(out.len() >= 12, "parsed {} sections", out.len());
    out
}

fn params(id: &str, key_type: KeyType, key_size: usize, store: Vec<StoreSpec>) -> TableParams {
    let mut p = TableParams::new(id, key_type, 1024);
    p.key_size = key_size;
    p.expire_ms = Some(EXPIRE_MS);
    p.store = store;
    p.peers = Some("mesh".into());
    p
}

/// The `store` line of t_ip, t_int, t_str and t_bin.
fn common_store() -> Vec<StoreSpec> {
    vec![
        StoreSpec::plain(DataType::SERVER_ID),
        StoreSpec::plain(DataType::GPT0),
        StoreSpec::plain(DataType::GPC0),
        StoreSpec::plain(DataType::CONN_CNT),
        StoreSpec::rate(DataType::CONN_RATE, 10_000),
        StoreSpec::rate(DataType::HTTP_REQ_RATE, 10_000),
        StoreSpec::plain(DataType::BYTES_IN_CNT),
    ]
}

/// `set table <t> key <key> data.<name> <value> ...` at `now`.
fn cli_set(tb: &mut StickTable, now: Time, key: &str, data: &[(&str, i64)]) -> EntryId {
    let k = StKey::parse(tb.params(), key).unwrap();
    let id = tb.get_or_create(now, k).unwrap();
    for &(name, value) in data {
        let dt = DataType::from_name(name).unwrap();
        tb.set_from_cli(now, id, dt, 0, value).unwrap();
    }
    tb.touch_local(now, id);
    id
}

/// `show table <t>` at `now`: header then entries in key order.
fn show(tb: &StickTable, now: Time) -> Vec<String> {
    let mut out = vec![tb.dump_header()];
    out.extend(tb.iter().map(|(_, id)| tb.dump_entry(now, id).unwrap()));
    out
}

/// The instant `exp` ms of life were left at show time `s`.
fn at(s: Time, exp: u64) -> Time {
    Time::from_ms(s.as_ms() - (u64::from(EXPIRE_MS) - exp))
}

#[test]
fn t_ip_matches_haproxy() {
    let mut tb = StickTable::new(params("mesh/t_ip", KeyType::Ipv4, 4, common_store()));
    let s = Time::from_ms(10_000_001);
    let full = [
        ("server_id", 3),
        ("gpt0", 1),
        ("gpc0", 42),
        ("conn_cnt", 7),
        ("conn_rate", 5),
        ("http_req_rate", 9),
        ("bytes_in_cnt", 123_456_789_012),
    ];
    // Rates set 15252 ms before the show: 5 * (20000 - 15252) / 10000 = 2,
    // 9 * 4748 / 10000 = 4 (the CLI starts the counters at now & !1).
    cli_set(
        &mut tb,
        Time::from_ms(s.as_ms() - 15_252),
        "127.0.0.10",
        &full,
    );
    cli_set(&mut tb, at(s, 584_759), "127.0.0.11", &[("gpc0", 1)]);
    let t1 = at(s, 590_936);
    cli_set(&mut tb, t1, "127.0.0.12", &[("gpc0", 2)]);
    cli_set(&mut tb, t1, "127.0.0.13", &[("gpc0", 3)]);
    cli_set(&mut tb, t1, "127.0.0.10", &[("gpc0", 43)]);
    assert_eq!(show(&tb, s), captured()["A: show table mesh/t_ip"]);
    tb.check_invariants().unwrap();
    // Ids 1..4 for the first four touches; the last touch of 127.0.0.10
    // keeps id 1: no peer was pushed (commitupdate 0 < 1) and it is not the
    // newest change (1 < localupdate 4).
    let id10 = tb
        .lookup(&StKey::parse(tb.params(), "127.0.0.10").unwrap())
        .unwrap();
    assert_eq!(tb.update_id(id10), Some(1));
    assert_eq!(tb.update(), 4);
}

#[test]
fn t_int_matches_haproxy() {
    let mut tb = StickTable::new(params("mesh/t_int", KeyType::Integer, 4, common_store()));
    let s = Time::from_ms(10_000_001);
    let full = [
        ("server_id", -1),
        ("gpt0", 0),
        ("gpc0", 240),
        ("conn_cnt", 2288),
        ("conn_rate", 264_432),
        ("http_req_rate", 0),
        ("bytes_in_cnt", 4_294_967_295),
    ];
    // 264432 * (20000 - 15241) / 10000 = 125843.
    cli_set(&mut tb, at(s, 584_759), "1234", &full);
    cli_set(&mut tb, at(s, 584_768), "4294967295", &[("gpc0", 239)]);
    assert_eq!(show(&tb, s), captured()["A: show table mesh/t_int"]);
}

#[test]
fn t_str_matches_haproxy_with_a_learned_entry() {
    let mut tb = StickTable::new(params("mesh/t_str", KeyType::String, 33, common_store()));
    let s = Time::from_ms(10_000_000);
    let (k1, k2) = ("hello-peers", "abcdefghijklmnopqrstuvwxyz012345");
    cli_set(&mut tb, at(s, 584_765), k1, &[("gpc0", 1), ("conn_cnt", 2)]);
    cli_set(&mut tb, at(s, 584_785), k2, &[("gpc0", 2)]);
    // from-B is learned: values from B's update, then touch_remote with the
    // table's own expire.
    let learned = at(s, 591_960);
    let key = StKey::from_wire(tb.params(), b"from-B").unwrap();
    let id = tb.get_or_create(learned, key).unwrap();
    tb.set(id, DataType::GPC0, 0, StData::UInt(99)).unwrap();
    let f = FreqCtr::new(learned.tick().wrapping_sub(40), 3, 0);
    tb.set(id, DataType::HTTP_REQ_RATE, 0, StData::Freq(f))
        .unwrap();
    tb.touch_remote(learned, id, None);
    assert_eq!(show(&tb, s), captured()["A: show table mesh/t_str"]);
    assert_eq!(tb.update_id(id), Some(3 + (1 << 31)));
    assert_eq!(tb.localupdate(), 2);
}

#[test]
fn t_bin_matches_haproxy_after_tracking() {
    let mut tb = StickTable::new(params("mesh/t_bin", KeyType::Binary, 16, common_store()));
    let s = Time::from_ms(10_000_000);
    // `http-request track-sc0 req.hdr(x-bin)` + `sc-inc-gpc0(0)`: counters
    // bumped by the request; one event 15192 ms ago still reads 1 (flapping
    // correction: the old window held a single event).
    for (hdr, exp, bytes_in) in [(&b"abc"[..], 584_808, 90), (&b"k2"[..], 584_829, 89)] {
        let now = at(s, exp);
        let id = tb.get_or_create(now, StKey::binary(16, hdr)).unwrap();
        for dt in [DataType::CONN_RATE, DataType::HTTP_REQ_RATE] {
            tb.update_freq(now, id, dt, 0, 1).unwrap();
        }
        tb.set(id, DataType::CONN_CNT, 0, StData::UInt(1)).unwrap();
        tb.set(id, DataType::GPC0, 0, StData::UInt(1)).unwrap();
        tb.set(id, DataType::BYTES_IN_CNT, 0, StData::Ull(bytes_in))
            .unwrap();
        tb.touch_local(now, id);
    }
    assert_eq!(show(&tb, s), captured()["A: show table mesh/t_bin"]);
}

#[test]
fn t_ip6_matches_haproxy_with_arrays() {
    let store = vec![
        StoreSpec::plain(DataType::CONN_CUR),
        StoreSpec::rate(DataType::BYTES_OUT_RATE, 60_000),
        StoreSpec::plain(DataType::HTTP_FAIL_CNT),
        StoreSpec::array(DataType::GPT, 2, 0),
        StoreSpec::array(DataType::GPC, 2, 0),
        StoreSpec::array(DataType::GPC_RATE, 2, 10_000),
    ];
    let mut tb = StickTable::new(params("mesh/t_ip6", KeyType::Ipv6, 16, store));
    let s = Time::from_ms(10_000_000);
    // `data.gpt 7` sets element 0 of the array in 2.6.
    let one = [
        ("gpt", 7),
        ("gpc", 5),
        ("http_fail_cnt", 2),
        ("conn_cur", 3),
    ];
    cli_set(&mut tb, at(s, 584_764), "::1", &one);
    cli_set(&mut tb, at(s, 584_769), "::ffff:127.0.0.1", &[("gpc", 1)]);
    assert_eq!(show(&tb, s), captured()["A: show table mesh/t_ip6"]);
}

#[test]
fn be_stick_matches_haproxy_with_server_keys() {
    let store = vec![
        StoreSpec::plain(DataType::SERVER_ID),
        StoreSpec::plain(DataType::SERVER_KEY),
    ];
    let mut tb = StickTable::new(params("be_stick", KeyType::Ipv4, 4, store));
    let s = Time::from_ms(10_000_000);
    for (src, exp) in [
        ("127.0.0.2", 584_816),
        ("127.0.0.3", 584_835),
        ("127.0.0.4", 590_880),
    ] {
        let now = at(s, exp);
        let id = tb
            .get_or_create(now, StKey::parse(tb.params(), src).unwrap())
            .unwrap();
        tb.set(id, DataType::SERVER_ID, 0, StData::SInt(1)).unwrap();
        let name = StData::Dict(Some(Bytes::from_static(b"s1")));
        tb.set(id, DataType::SERVER_KEY, 0, name).unwrap();
        tb.touch_local(now, id);
    }
    assert_eq!(show(&tb, s), captured()["A: show table be_stick"]);
}
