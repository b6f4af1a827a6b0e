//! Stick-table throughput with integer keys: lookup, lookup + touch (what
//! a `track-sc` or a peer update does per request), insert with eviction
//! on a full table, and a counter update on a found entry.
//!
//!     cargo bench --bench stick_table
//!     benches/callgrind.sh stick_table        # instructions per op
//!
//! The table is `/t_int` of the peers captures (7 data types, expire 10m)
//! with 100k entries; keys are random `u32`s, visited in a random order.
//! `now` advances 1 ms every 10k operations (what one core doing 10 M
//! ops/s sees). Target (issue 2): lookup + touch >= 10 M ops/s.

mod common;

use common::{Case, Rng};
use sluice_core::stick_table::{DataType, KeyType, StKey, StickTable, StoreSpec, TableParams};
use sluice_core::time::Time;

const ENTRIES: usize = 100_000;

/// Operations per call of a case.
const OPS: usize = 10_000;

fn params(synced: bool, size: usize) -> TableParams {
    let mut p = TableParams::new("mesh/t_int", KeyType::Integer, size);
    p.wire_name = "/t_int".into();
    p.expire_ms = Some(600_000);
    p.peers = synced.then(|| "mesh".into());
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

/// A table of `ENTRIES` random distinct keys (each touched once, as a
/// tracked entry is), and the keys in a random visiting order.
fn filled(synced: bool, size: usize) -> (StickTable, Vec<u32>, Time) {
    let mut rng = Rng::new(0x5eed_0003);
    let mut t = StickTable::new(params(synced, size));
    let mut keys = Vec::with_capacity(ENTRIES);
    let mut now = Time::from_ms(1_000_000);
    while keys.len() < ENTRIES {
        let k = rng.next_u64() as u32;
        if t.lookup(&StKey::integer(k)).is_some() {
            continue;
        }
        let id = t.get_or_create(now, StKey::integer(k)).expect("room");
        t.touch_local(now, id);
        keys.push(k);
        if keys.len() % OPS == 0 {
            now = now.add_ms(1);
        }
    }
    // Visiting order: a seeded Fisher-Yates shuffle.
    for i in (1..keys.len()).rev() {
        keys.swap(i, rng.below(i as u64 + 1) as usize);
    }
    (t, keys, now)
}

/// A case doing `op` on `OPS` keys per call, walking `keys` round-robin,
/// `now` advancing 1 ms per call.
fn ops_case(
    name: &str,
    synced: bool,
    mut op: impl FnMut(&mut StickTable, Time, u32) -> u64 + 'static,
) -> Case {
    let (mut t, keys, mut now) = filled(synced, ENTRIES * 5 / 4);
    let mut at = 0;
    Case::new(name, OPS as u64, move || {
        now = now.add_ms(1);
        let mut sum = 0u64;
        for _ in 0..OPS {
            sum = sum.wrapping_add(op(&mut t, now, keys[at]));
            at = if at + 1 == keys.len() { 0 } else { at + 1 };
        }
        sum
    })
}

fn lookup(t: &mut StickTable, _now: Time, k: u32) -> u64 {
    t.lookup(&StKey::integer(k)).expect("present").as_u64()
}

fn lookup_touch(t: &mut StickTable, now: Time, k: u32) -> u64 {
    let id = t.lookup(&StKey::integer(k)).expect("present");
    u64::from(t.touch_local(now, id))
}

/// `track-sc0 src` + `http-request ... sc-inc-gpc0`: find or create,
/// count, touch.
fn get_update_touch(t: &mut StickTable, now: Time, k: u32) -> u64 {
    let id = t.get_or_create(now, StKey::integer(k)).expect("room");
    let r = t
        .update_freq(now, id, DataType::HTTP_REQ_RATE, 0, 1)
        .expect("stored");
    t.touch_local(now, id);
    u64::from(r)
}

fn lookups() -> Vec<Case> {
    vec![
        ops_case("lookup", false, lookup),
        ops_case("lookup_touch_local", false, lookup_touch),
        ops_case("lookup_touch_synced", true, lookup_touch),
        ops_case("get_freq_touch_synced", true, get_update_touch),
    ]
}

/// New keys into a full table: every `(size >> 8) + 1` inserts evict that
/// many of the oldest entries (HAProxy's `stktable_trash_oldest`).
fn inserts() -> Vec<Case> {
    let (mut t, _, mut now) = filled(true, ENTRIES);
    let mut rng = Rng::new(0x5eed_0004);
    vec![Case::new("insert_full_evicting", OPS as u64, move || {
        now = now.add_ms(1);
        let mut sum = 0u64;
        for _ in 0..OPS {
            let id = t
                .get_or_create(now, StKey::integer(rng.next_u64() as u32))
                .expect("room after eviction");
            t.touch_local(now, id);
            sum = sum.wrapping_add(id.as_u64());
        }
        sum
    })]
}

fn main() {
    common::main(
        "stick_table",
        &[("int_100k", lookups), ("int_100k_full", inserts)],
    );
}
