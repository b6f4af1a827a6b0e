//! The send side of a peer session: HAProxy's `peer_send_msgs` and its
//! helpers (table definitions, updates, acks, teaching a peer that
//! resyncs from us: `peer_send_teachmsgs`).

use crate::peers::section::*;
use crate::peers::update::{FreqCtrValue, Key, UpdateValue, Value};
use crate::peers::{
    ControlType, DefinitionFields, DictValue, TableDefinition, Update, UpdateAck, UpdateLayout,
};
use crate::stick_table::{EntryId, KeyType, StData, StdType, StickTable};
use crate::time::Time;

/// Whether the send pass could do everything it had to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Done,
    /// Output is full or the batch limit was hit: call again once it drains.
    Yield,
}

// --------------------------------------------------------------------------
// Send side

/// What a teach walk looks up next (`peer_teach_*_stksess_lookup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Walk {
    /// The normal push of local updates.
    Process,
    /// Full teach, from `last_pushed` to the end of the log.
    Stage1,
    /// Full teach, from the start of the log up to the teaching origin.
    Stage2,
}

fn walk_next(walk: Walk, st: &mut SharedTable, table: &mut StickTable) -> Option<(u32, EntryId)> {
    let found = table.update_lookup_ge(st.last_pushed.wrapping_add(1));
    match walk {
        Walk::Process => {
            let (key, id) = match found {
                Some(x) => x,
                None => match table.update_first() {
                    Some((k, _)) if k == st.last_pushed => return push_done(st, table),
                    Some(x) => x,
                    None => return push_done(st, table),
                },
            };
            // Beyond localupdate: learned entries and the end of the log.
            if key.wrapping_sub(st.last_pushed) > table.localupdate().wrapping_sub(st.last_pushed) {
                return push_done(st, table);
            }
            Some((key, id))
        }
        Walk::Stage1 => {
            if found.is_none() {
                st.flags.insert(ShTableFlags::TEACH_STAGE1);
                if let Some((first, _)) = table.update_first() {
                    st.last_pushed = first.wrapping_sub(1);
                }
            }
            found
        }
        Walk::Stage2 => match found {
            Some((key, id)) if key <= st.teaching_origin => Some((key, id)),
            _ => {
                st.flags.insert(ShTableFlags::TEACH_STAGE2);
                None
            }
        },
    }
}

fn push_done(st: &mut SharedTable, table: &mut StickTable) -> Option<(u32, EntryId)> {
    st.last_pushed = table.localupdate();
    table.set_commitupdate(table.localupdate());
    None
}

/// Appends our definition of a table.
fn send_definition(tx: &mut Vec<u8>, st: &SharedTable, table: &StickTable) {
    let params = table.params();
    TableDefinition {
        table_id: u64::from(st.local_id),
        name: params.wire_name.as_bytes(),
        fields: Ok(DefinitionFields::from_table_params(params)),
    }
    .encode(tx);
}

/// What every step of a send pass needs besides the session.
#[derive(Clone, Copy, Debug)]
struct SendCtx {
    now: Time,
    /// `tune.peers.max-updates-at-once`.
    max_updates: usize,
    #[cfg_attr(not(feature = "mutants"), allow(dead_code))]
    bugs: Bugs,
}

/// Appends one update of entry `id` (`peer_prepare_updatemsg`).
fn send_update(
    sess: &mut PeerSession,
    table: &StickTable,
    id: EntryId,
    update_id: Option<u32>,
    timed: bool,
    cx: SendCtx,
) {
    let now = cx.now;
    let params = table.params();
    let Some(key) = table.key(id) else { return };
    let kb = key.as_bytes();
    let key = match params.key_type {
        KeyType::Integer => {
            let v = u32::from_be_bytes(kb.try_into().unwrap_or([0; 4]));
            #[cfg(feature = "mutants")]
            if cx.bugs.has(crate::mutants::Mutant::IntKeyByteOrder) {
                // Historic bug: host byte order on the wire.
                Key::Integer(v.swap_bytes())
            } else {
                Key::Integer(v)
            }
            #[cfg(not(feature = "mutants"))]
            Key::Integer(v)
        }
        KeyType::Ipv4 => Key::Ipv4(kb.try_into().unwrap_or([0; 4])),
        KeyType::Ipv6 => Key::Ipv6(kb.try_into().unwrap_or([0; 16])),
        KeyType::String => Key::String(kb),
        KeyType::Binary => Key::Binary(kb),
    };
    // Timed updates only for tables with an expiry: a lifetime of 0 would
    // make the receiver expire the entry at once.
    let expire_ms = match (timed, params.expire_ms, table.expire(id)) {
        (true, Some(_), Some(exp)) => Some(exp.saturating_since(now).min(i32::MAX as u64) as u32),
        _ => None,
    };
    let layout = UpdateLayout::from_table_params(params);
    let mut values = Vec::with_capacity(layout.value_types().count());
    for (dt, std, count) in layout.value_types() {
        for index in 0..count {
            let value = match table.get(id, dt, index as usize) {
                Ok(v) => wire_value(now, v, &mut sess.dict_tx),
                Err(_) => zero_value(std),
            };
            values.push(UpdateValue {
                data_type: dt,
                index,
                value,
            });
        }
    }
    Update {
        update_id,
        expire_ms,
        key,
        values,
    }
    .encode(&mut sess.tx);
}

fn wire_value<'a>(now: Time, v: &'a StData, dict: &mut crate::peers::DictTxCache) -> Value<'a> {
    match v {
        StData::SInt(x) => Value::Int(i64::from(*x) as u64),
        StData::UInt(x) => Value::Int(u64::from(*x)),
        StData::Ull(x) => Value::Int(*x),
        StData::Freq(f) => Value::FreqCtr(FreqCtrValue {
            age: u64::from(f.age(now.tick())),
            curr_ctr: u64::from(f.curr_ctr),
            prev_ctr: u64::from(f.prev_ctr),
        }),
        StData::Dict(Some(b)) => Value::Dict(dict.encode_value(b)),
        StData::Dict(None) => Value::Dict(DictValue::None),
    }
}

fn zero_value(std: StdType) -> Value<'static> {
    match std {
        StdType::FreqP => Value::FreqCtr(FreqCtrValue {
            age: 0,
            curr_ctr: 0,
            prev_ctr: 0,
        }),
        StdType::Dict => Value::Dict(DictValue::None),
        _ => Value::Int(0),
    }
}

/// `peer_send_teachmsgs`: walks one table and pushes what `walk` finds.
#[allow(clippy::too_many_arguments)]
fn send_teach_msgs(
    sess: &mut PeerSession,
    peer: &mut Peer,
    ti: usize,
    table: &mut StickTable,
    walk: Walk,
    cx: SendCtx,
) -> Flow {
    if !sess.tx_has_room() {
        return Flow::Yield;
    }
    if sess.last_local_table != Some(ti) {
        send_definition(&mut sess.tx, &peer.tables[ti], table);
        sess.last_local_table = Some(ti);
    }
    let timed = walk != Walk::Process && !peer.flags.contains(PeerFlags::DWNGRD);
    let mut sent = 0;
    loop {
        if !sess.tx_has_room() {
            return Flow::Yield;
        }
        let st = &mut peer.tables[ti];
        let Some((key, id)) = walk_next(walk, st, table) else {
            return Flow::Done;
        };
        let consecutive = st.last_pushed != 0 && key.wrapping_sub(st.last_pushed) == 1;
        let explicit = sent == 0 || !consecutive;
        if walk == Walk::Process && (key.wrapping_sub(st.update) as i32) <= 0 {
            // Pushing what the peer already acknowledged: only the
            // teach-origin bug does that (the simulator watches this).
            peer.dup_push += 1;
        }
        let st = &mut peer.tables[ti];
        send_update(sess, table, id, explicit.then_some(key), timed, cx);
        st.last_pushed = key;
        if walk == Walk::Process && (st.last_pushed.wrapping_sub(table.commitupdate()) as i32) > 0 {
            table.set_commitupdate(st.last_pushed);
        }
        sent += 1;
        if sent >= cx.max_updates {
            return Flow::Yield;
        }
    }
}

/// `peer_send_msgs`: everything a session has to say, in HAProxy's order:
/// a resync request, then per table acks and updates (normal push or
/// teach), then the end of a teach, confirms and a heartbeat.
pub(crate) fn send_msgs(sect: &mut PeersSection, si: usize, tables: &mut [StickTable], now: Time) {
    let cx = SendCtx {
        now,
        max_updates: sect.max_updates_at_once,
        bugs: sect.bugs,
    };
    let PeersSection {
        peers,
        sessions,
        flags,
        ..
    } = sect;
    let sess = &mut sessions[si];
    let Some(p) = sess.peer else { return };
    let peer = &mut peers[p];
    if sess.state != SessState::Established {
        return;
    }
    if peer.flags.contains(PeerFlags::LEARN_ASSIGN)
        && flags.contains(PeersFlags::RESYNC_ASSIGN)
        && !flags.contains(PeersFlags::RESYNC_PROCESS)
    {
        ControlType::RESYNC_REQUEST.encode(&mut sess.tx);
        flags.insert(PeersFlags::RESYNC_PROCESS);
    }
    let n = peer.tables.len();
    if n > 0 {
        let last = sess.last_local_table.unwrap_or(0);
        for k in 1..=n {
            let ti = (last + k) % n;
            if send_table_msgs(sess, peer, ti, tables, cx) == Flow::Yield {
                return;
            }
        }
    }
    if !sess.tx_has_room() {
        return;
    }
    if peer.flags.contains(PeerFlags::TEACH_PROCESS)
        && !peer.flags.contains(PeerFlags::TEACH_FINISHED)
    {
        let msg = if flags.synced() {
            ControlType::RESYNC_FINISHED
        } else {
            ControlType::RESYNC_PARTIAL
        };
        msg.encode(&mut sess.tx);
        peer.flags.insert(PeerFlags::TEACH_FINISHED);
    }
    while peer.confirm > 0 {
        ControlType::RESYNC_CONFIRM.encode(&mut sess.tx);
        peer.confirm -= 1;
    }
    if peer.flags.contains(PeerFlags::HEARTBEAT) {
        peer.flags.remove(PeerFlags::HEARTBEAT);
        ControlType::HEARTBEAT.encode(&mut sess.tx);
        peer.tx_hbt += 1;
    }
}

/// One table of the send pass: ack, then push or teach.
fn send_table_msgs(
    sess: &mut PeerSession,
    peer: &mut Peer,
    ti: usize,
    tables: &mut [StickTable],
    cx: SendCtx,
) -> Flow {
    if !sess.tx_has_room() {
        return Flow::Yield;
    }
    let st = &mut peer.tables[ti];
    if st.last_get != st.last_acked {
        let update_id = st.last_get;
        #[cfg(feature = "mutants")]
        let update_id = if cx.bugs.has(crate::mutants::Mutant::AckWrongId) {
            // Historic bug: the table id where the update id belongs.
            st.remote_id as u32
        } else {
            update_id
        };
        UpdateAck {
            table_id: st.remote_id,
            update_id,
        }
        .encode(&mut sess.tx);
        st.last_acked = st.last_get;
    }
    let table = &mut tables[st.table];
    if !peer.flags.contains(PeerFlags::TEACH_PROCESS) {
        if !peer.flags.contains(PeerFlags::LEARN_ASSIGN) && st.last_pushed != table.localupdate() {
            return send_teach_msgs(sess, peer, ti, table, Walk::Process, cx);
        }
    } else if !peer.flags.contains(PeerFlags::TEACH_FINISHED) {
        if !st.flags.contains(ShTableFlags::TEACH_STAGE1)
            && send_teach_msgs(sess, peer, ti, table, Walk::Stage1, cx) == Flow::Yield
        {
            return Flow::Yield;
        }
        if !peer.tables[ti].flags.contains(ShTableFlags::TEACH_STAGE2) {
            return send_teach_msgs(sess, peer, ti, table, Walk::Stage2, cx);
        }
    }
    Flow::Done
}
