//! The adversary: a member of the mesh (`mallory`) that speaks the peers
//! protocol itself, with the codec of `sluice_core::peers`: a hello (valid
//! most of the time), then truncated, bit-flipped, oversized and
//! hostile-but-well-formed messages (unknown table ids, acks for updates
//! never sent, out-of-range integers, bad dictionary ids, control messages
//! out of turn). It also accepts the honest nodes' connections, answers a
//! status (not always 200), reads slowly or not at all, half-closes and
//! resets.
//!
//! The keys it means to send lie outside the honest writers' key spaces,
//! even after up to three bit flips (ids and lifetimes have their top
//! nibble set, random bodies their top two bits), so it does not overwrite
//! honest keys; its junk entries (any key, after a misaligned parse) are
//! left out of the convergence check.

use std::collections::{BTreeMap, VecDeque};

use sluice_core::cfgparse::Config;
use sluice_core::peers::update::{FreqCtrValue, Key, Update, UpdateLayout, UpdateValue, Value};
use sluice_core::peers::{
    handshake, varint, ControlType, DefinitionFields, DictValue, TableDefinition, TableSwitch,
    UpdateAck, Version,
};
use sluice_core::rng::Rng;
use sluice_core::stick_table::{KeyType, StdType, TableParams};

use crate::config;
use crate::net::Owner;
use crate::world::{Ev, ListenOwner, World};

#[derive(Debug)]
struct AdvConn {
    /// Our end of the connection.
    end: usize,
    outbox: VecDeque<u8>,
    /// We read what the honest side sends (otherwise its output piles up).
    reading: bool,
    /// Batches left before we go quiet on this connection.
    batches: u32,
    /// The honest node at the other end.
    node: usize,
}

/// The adversary's state.
#[derive(Debug)]
pub struct Adversary {
    rng: Rng,
    /// Honest nodes; the adversary is node `nodes`.
    nodes: usize,
    tables: Vec<TableParams>,
    conns: BTreeMap<u64, AdvConn>,
    pub msgs: u64,
}

impl Adversary {
    pub fn new(rng: Rng, nodes: usize, cfg: &Config) -> Adversary {
        Adversary {
            rng,
            nodes,
            tables: cfg.tables().map(|t| t.params.clone()).collect(),
            conns: BTreeMap::new(),
            msgs: 0,
        }
    }

    fn new_conn(&mut self, end: usize, node: usize) -> AdvConn {
        AdvConn {
            end,
            outbox: VecDeque::new(),
            reading: !self.rng.chance(1, 5),
            batches: 1 + self.rng.below(30) as u32,
            node,
        }
    }

    /// An id or lifetime whose top nibble is set (see the module docs).
    fn high(&mut self) -> u32 {
        0xF000_0000 | (self.rng.next_u32() >> 4)
    }

    /// A hostile integer.
    fn int(&mut self) -> u64 {
        match self.rng.below(6) {
            0 => 0,
            1 => u64::from(u32::MAX),
            2 => u64::MAX,
            3 => 1 << 63,
            4 => self.rng.below(1000),
            _ => self.rng.next_u64(),
        }
    }

    fn key<'a>(&mut self, kt: KeyType, key_size: usize, scratch: &'a mut Vec<u8>) -> Key<'a> {
        scratch.clear();
        match kt {
            KeyType::Integer => Key::Integer(self.high()),
            KeyType::Ipv4 => Key::Ipv4([203, 0, 113, self.rng.below(256) as u8]),
            KeyType::Ipv6 => {
                let mut b = [0u8; 16];
                self.rng.fill(&mut b);
                b[0] = 0x20;
                Key::Ipv6(b)
            }
            KeyType::String => {
                let n = self.rng.below(60) as usize;
                scratch.extend_from_slice(b"evil-");
                for _ in 0..n {
                    scratch.push(b'a' + self.rng.below(26) as u8);
                }
                Key::String(scratch)
            }
            KeyType::Binary => {
                scratch.resize(key_size, 0);
                self.rng.fill(scratch);
                scratch[0] = 0xEE;
                Key::Binary(scratch)
            }
        }
    }

    /// A definition of one of the real tables, then hostile updates for it.
    fn definition_and_updates(&mut self, out: &mut Vec<u8>) {
        let t = self.rng.below(self.tables.len() as u64) as usize;
        let p = self.tables[t].clone();
        TableDefinition {
            table_id: 1 + self.rng.below(6),
            name: p.wire_name.as_bytes(),
            fields: Ok(DefinitionFields::from_table_params(&p)),
        }
        .encode(out);
        let layout = UpdateLayout::from_table_params(&p);
        for _ in 0..1 + self.rng.below(6) {
            if self.rng.chance(1, 4) {
                self.raw_update(&p, &layout, out);
                continue;
            }
            let mut scratch = Vec::new();
            let mut values = Vec::new();
            for (dt, std, count) in layout.value_types() {
                for index in 0..count {
                    let value = match std {
                        StdType::FreqP => Value::FreqCtr(FreqCtrValue {
                            age: self.int(),
                            curr_ctr: self.int(),
                            prev_ctr: self.int(),
                        }),
                        StdType::Dict => match self.rng.below(3) {
                            0 => Value::Dict(DictValue::None),
                            1 => Value::Dict(DictValue::Reference(1 + self.rng.below(128) as u8)),
                            _ => Value::Dict(DictValue::Define {
                                id: 1 + self.rng.below(128) as u8,
                                value: b"srv-evil",
                            }),
                        },
                        _ => Value::Int(self.int()),
                    };
                    values.push((dt, index, value));
                }
            }
            let update_id = self.rng.chance(1, 2).then(|| self.high());
            let expire_ms = self.rng.chance(1, 2).then(|| self.high());
            let key = self.key(p.key_type, p.key_size, &mut scratch);
            Update {
                update_id,
                expire_ms,
                key,
                values: values
                    .into_iter()
                    .map(|(data_type, index, value)| UpdateValue {
                        data_type,
                        index,
                        value,
                    })
                    .collect(),
            }
            .encode(out);
        }
    }

    /// An update written by hand: dictionary values with ids 0 or above
    /// 128, lengths past the end, truncated values.
    fn raw_update(&mut self, p: &TableParams, layout: &UpdateLayout, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.high().to_be_bytes());
        let mut scratch = Vec::new();
        match self.key(p.key_type, p.key_size, &mut scratch) {
            Key::Integer(k) => body.extend_from_slice(&k.to_be_bytes()),
            Key::Ipv4(k) => body.extend_from_slice(&k),
            Key::Ipv6(k) => body.extend_from_slice(&k),
            Key::String(s) => {
                varint::encode(s.len() as u64, &mut body);
                body.extend_from_slice(s);
            }
            Key::Binary(b) => body.extend_from_slice(b),
        }
        for (_, std, count) in layout.value_types() {
            for _ in 0..count {
                match std {
                    StdType::Dict => {
                        let id = [0u64, 129, 255, 1 << 40][self.rng.below(4) as usize];
                        let mut v = Vec::new();
                        varint::encode(id, &mut v);
                        varint::encode(self.int() & 0xffff_ffff, &mut v);
                        v.extend_from_slice(b"x");
                        varint::encode(v.len() as u64, &mut body);
                        body.extend_from_slice(&v);
                    }
                    StdType::FreqP => {
                        for _ in 0..3 {
                            varint::encode(self.int(), &mut body);
                        }
                    }
                    _ => varint::encode(self.int(), &mut body),
                }
            }
        }
        if self.rng.chance(1, 3) {
            let cut = self.rng.below(body.len() as u64) as usize;
            body.truncate(cut);
        }
        raw_frame(10, 0x80, &body, out);
    }

    /// A definition with random fields, written by hand.
    fn random_definition(&mut self, out: &mut Vec<u8>) {
        let t = self.rng.below(self.tables.len() as u64) as usize;
        let name = if self.rng.chance(1, 2) {
            self.tables[t].wire_name.clone().into_bytes()
        } else {
            b"/nosuchtable".to_vec()
        };
        let mut body = Vec::new();
        varint::encode(self.int(), &mut body);
        varint::encode(name.len() as u64, &mut body);
        body.extend_from_slice(&name);
        varint::encode(self.rng.below(12), &mut body);
        let key_size = self.int();
        varint::encode(key_size, &mut body);
        varint::encode(self.rng.next_u64(), &mut body);
        if self.rng.chance(3, 4) {
            varint::encode(self.int(), &mut body);
            for _ in 0..self.rng.below(4) {
                varint::encode(self.rng.below(30), &mut body);
                for _ in 0..self.rng.below(3) {
                    varint::encode(self.int(), &mut body);
                }
            }
        }
        if self.rng.chance(1, 3) {
            let cut = self.rng.below(body.len() as u64) as usize;
            body.truncate(cut);
        }
        raw_frame(10, 0x82, &body, out);
    }

    /// One hostile message.
    fn one(&mut self, out: &mut Vec<u8>) {
        self.msgs += 1;
        match self.rng.below(16) {
            0..=3 => self.definition_and_updates(out),
            4 => self.random_definition(out),
            5 => TableSwitch {
                table_id: self.int(),
            }
            .encode(out),
            6 => UpdateAck {
                table_id: if self.rng.chance(1, 2) {
                    1 + self.rng.below(5)
                } else {
                    self.int()
                },
                update_id: self.rng.next_u32(),
            }
            .encode(out),
            7 => ControlType(self.rng.below(8) as u8).encode(out),
            8 => out.extend_from_slice(&[1, self.rng.below(4) as u8]),
            9 => out.extend_from_slice(&[255, self.rng.below(256) as u8, 0]),
            10 => {
                // Oversized: a length beyond tune.bufsize.
                out.extend_from_slice(&[10, 0x80]);
                varint::encode(16385 + self.rng.below(1 << 30), out);
                out.extend_from_slice(&[0; 8]);
            }
            11 => out.extend_from_slice(&[10, 0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            12 => {
                for _ in 0..1 + self.rng.below(64) {
                    out.push(self.rng.below(256) as u8);
                }
            }
            13 => {
                let mut body = vec![0u8; self.rng.below(40) as usize];
                self.rng.fill(&mut body);
                // Whatever is read as a key stays out of the honest spaces.
                for b in &mut body {
                    *b |= 0xC0;
                }
                raw_frame(10, 0x80 + self.rng.below(7) as u8, &body, out);
            }
            14 => {
                let class = 2 + self.rng.below(250) as u8;
                let typ = self.rng.below(256) as u8;
                let body = [7u8; 3];
                raw_frame(class, typ, if typ & 0x80 != 0 { &body } else { &[] }, out);
            }
            _ => {
                // A definition followed by an update for another table id.
                self.definition_and_updates(out);
                TableSwitch {
                    table_id: 1 + self.rng.below(8),
                }
                .encode(out);
            }
        }
    }

    /// A batch of messages, sometimes bit-flipped or cut short.
    fn batch(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..1 + self.rng.below(5) {
            self.one(&mut out);
        }
        match self.rng.below(8) {
            0 if !out.is_empty() => {
                for _ in 0..1 + self.rng.below(3) {
                    let i = self.rng.below(out.len() as u64) as usize;
                    out[i] ^= 1 << self.rng.below(8);
                }
            }
            1 if !out.is_empty() => {
                let cut = self.rng.below(out.len() as u64) as usize;
                out.truncate(cut);
            }
            _ => {}
        }
        out
    }

    /// Our hello to `node`: valid most of the time.
    fn hello(&mut self, node: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let called = config::node_name(node);
        match self.rng.below(10) {
            0 => out.extend_from_slice(b"HAProxyS 3.7\nzzz\nmallory 1 1\n"),
            1 => handshake::encode_hello(
                Version::V2_0,
                called.as_bytes(),
                config::ADVERSARY.as_bytes(),
                7,
                &mut out,
            ),
            2 => out.extend_from_slice(
                format!("HAProxyS 2.1\r\n{called}\r\nnobody 7 1\r\n").as_bytes(),
            ),
            3 => {
                handshake::encode_hello(
                    Version::V2_1,
                    called.as_bytes(),
                    config::ADVERSARY.as_bytes(),
                    7,
                    &mut out,
                );
                let i = self.rng.below(out.len() as u64) as usize;
                out[i] ^= 1 << self.rng.below(8);
            }
            _ => handshake::encode_hello(
                Version::V2_1,
                called.as_bytes(),
                config::ADVERSARY.as_bytes(),
                7,
                &mut out,
            ),
        }
        out
    }
}

/// `class type [varint(len) body]` by hand (any class, any body).
fn raw_frame(class: u8, typ: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(class);
    out.push(typ);
    if typ & 0x80 != 0 {
        varint::encode(body.len() as u64, out);
        out.extend_from_slice(body);
    }
}

impl World {
    /// The adversary's periodic action.
    pub(crate) fn adversary_tick(&mut self) {
        if self.quiet() {
            // Faults are over: the adversary leaves.
            self.listeners.retain(|(_, o)| *o != ListenOwner::Adv);
            let cids: Vec<u64> = self
                .adversary
                .as_ref()
                .map_or(Vec::new(), |a| a.conns.keys().copied().collect());
            for cid in cids {
                self.adversary_drop(cid, false);
            }
            return;
        }
        let Some(adv) = self.adversary.as_mut() else {
            return;
        };
        let nodes = adv.nodes;
        if adv.conns.len() < 2 * nodes && adv.rng.chance(1, 3) {
            let node = adv.rng.below(nodes as u64) as usize;
            let addr = config::node_addr(node);
            let cid = self.net_connect(Owner::Adv, nodes, addr);
            let adv = self.adversary.as_mut().expect("adversary");
            let c = adv.new_conn(0, node);
            adv.conns.insert(cid, c);
        }
        let adv = self.adversary.as_mut().expect("adversary");
        let cids: Vec<u64> = adv.conns.keys().copied().collect();
        for cid in cids {
            let adv = self.adversary.as_mut().expect("adversary");
            let Some(c) = adv.conns.get_mut(&cid) else {
                continue;
            };
            if c.batches == 0 {
                continue;
            }
            match adv.rng.below(40) {
                0 => {
                    self.adversary_drop(cid, true);
                    continue;
                }
                1 => {
                    self.adversary_drop(cid, false);
                    continue;
                }
                2 => {
                    let e = c.end;
                    self.net_shutdown(cid, e);
                    if let Some(c) = self.adversary.as_mut().and_then(|a| a.conns.get_mut(&cid)) {
                        c.batches = 0;
                    }
                    continue;
                }
                3 => c.reading = !c.reading,
                _ => {}
            }
            let adv = self.adversary.as_mut().expect("adversary");
            if adv.rng.chance(1, 2) {
                let b = adv.batch();
                let c = adv.conns.get_mut(&cid).expect("conn");
                c.batches -= 1;
                c.outbox.extend(b);
            }
            let end = adv.conns[&cid].end;
            self.adversary_io(cid, end);
        }
        let adv = self.adversary.as_mut().expect("adversary");
        let every = self.spec.adversary_every_ms;
        let at = self.now.add_ms(1 + adv.rng.below(2 * every));
        self.stats.adversary_msgs = adv.msgs;
        self.schedule(at, Ev::Adversary);
    }

    /// The honest node connected to us.
    pub(crate) fn adversary_accepted(&mut self, cid: u64) {
        let node = self.conns[&cid].ends[0].node;
        let Some(adv) = self.adversary.as_mut() else {
            return;
        };
        let mut c = adv.new_conn(1, node);
        let status: &[u8] = match adv.rng.below(8) {
            0 => b"502\n",
            1 => b"300\n",
            2 => b"20",
            _ => b"200\n",
        };
        c.outbox.extend(status);
        if adv.rng.chance(1, 2) {
            c.outbox.extend(adv.batch());
        }
        adv.conns.insert(cid, c);
        self.adversary_io(cid, 1);
    }

    /// Our connection to an honest node is open: say hello.
    pub(crate) fn adversary_connected(&mut self, cid: u64) {
        let Some(adv) = self.adversary.as_mut() else {
            return;
        };
        let Some(node) = adv.conns.get(&cid).map(|c| c.node) else {
            return;
        };
        let hello = adv.hello(node);
        let rest = adv.rng.chance(2, 3).then(|| adv.batch());
        let c = adv.conns.get_mut(&cid).expect("conn");
        c.outbox.extend(hello);
        if let Some(b) = rest {
            c.outbox.extend(b);
        }
        self.adversary_io(cid, 0);
    }

    /// Reads what came (if we read) and writes what we have.
    pub(crate) fn adversary_io(&mut self, cid: u64, e: usize) {
        let Some(adv) = self.adversary.as_mut() else {
            return;
        };
        let Some(ac) = adv.conns.get_mut(&cid) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        let open = c.syn == crate::net::SynState::Open || e == 1;
        let mut read = false;
        if ac.reading && !c.ends[e].rx.is_empty() {
            c.ends[e].rx.clear();
            read = true;
        }
        let fin = c.ends[e].rx_fin && c.ends[e].rx.is_empty();
        let mut chunk = Vec::new();
        if open && !c.ends[e].tx_shut {
            let n = c.room(e).min(ac.outbox.len());
            chunk.extend(ac.outbox.drain(..n));
        }
        if read {
            self.after_read(cid, e);
        }
        if !chunk.is_empty() {
            self.net_send(cid, e, chunk);
        }
        if fin {
            self.adversary_drop(cid, false);
        }
    }

    /// Closes our end (RST when `reset`).
    fn adversary_drop(&mut self, cid: u64, reset: bool) {
        let Some(adv) = self.adversary.as_mut() else {
            return;
        };
        if let Some(ac) = adv.conns.remove(&cid) {
            if self
                .conns
                .get(&cid)
                .is_some_and(|c| c.ends[ac.end].owner == Some(Owner::Adv))
            {
                self.net_close(cid, ac.end, reset);
            }
        }
    }

    /// The network closed our end (RST, refused).
    pub(crate) fn adversary_closed(&mut self, cid: u64) {
        if let Some(adv) = self.adversary.as_mut() {
            adv.conns.remove(&cid);
        }
    }
}
