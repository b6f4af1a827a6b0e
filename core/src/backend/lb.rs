//! Load-balancing algorithms: which server of a backend gets the next
//! connection. HAProxy's `lb_fwrr.c` (`balance roundrobin`), `lb_map.c`
//! (`balance static-rr`, and the map lookup of `balance source` with the
//! default `hash-type map-based`), `lb_fwlc.c` (`balance leastconn`) and
//! `lb_fas.c` (`balance first`), with the server selection rules of
//! `backend.c` (`assign_server`, `get_server_sh`).
//!
//! Pure data structures: the caller owns the servers (HAProxy's
//! `struct server` list of a `proxy`) and passes a snapshot of the facts the
//! algorithms read ([`LbServer`]); [`Lb`] (HAProxy's `struct lbprm`) keeps
//! only the algorithm's own state. Servers are named by their index in that
//! slice, which is their declaration order (HAProxy's `puid` order).
//!
//! ```text
//!   Lb::new(algo, servers)          build (HAProxy: init_server_map, fwrr_init_server_groups, ...)
//!        |
//!        v
//!   Lb::pick(servers, hash, avoid)  one decision per connection attempt (assign_server)
//!        ^        |
//!        |        v  a server goes UP/DOWN/MAINT/DRAIN, or `set weight`
//!   Lb::recalc(servers)             (set_server_status_up/down, update_server_weight)
//! ```
//!
//! # Rules common to every algorithm
//!
//! * A server is *eligible* when it is usable (UP, not MAINT/DRAIN/DOWN) and
//!   its weight is not 0 (HAProxy's `srv_willbe_usable`).
//! * Backups are used only when no active server is eligible, and then only
//!   the first eligible backup in order (HAProxy's `lbprm.fbck`; `option
//!   allbackups` is not supported). This is the *tier*, fixed by `recalc`.
//! * `pick` skips a server at its `maxconn` (the caller then queues the
//!   connection in the backend queue), except `Source` with a hash: there
//!   the hashed server is returned even when full, so the same client stays
//!   on the same server; HAProxy then queues on that server.
//! * `avoid` (the server of a failed attempt, for redispatch) is skipped
//!   when another eligible, not full server of the tier exists.
//! * Weights are capped at [`MAX_WEIGHT`] (HAProxy's `SRV_UWGHT_MAX`).
//! * Dynamic algorithms use the *effective* weight, `weight * ramp` in
//!   1/[`BE_WEIGHT_SCALE`] (HAProxy's `cur_eweight`): a server warming up
//!   after `slowstart` has a `ramp` below [`BE_WEIGHT_SCALE`]. Round robin
//!   divides the effective weights by their greatest common divisor, so
//!   without a warm-up it works on the weights themselves.
//! * `pick` re-checks eligibility and never returns a server that is not
//!   eligible in the slice it is given; a server that became eligible is
//!   only considered after `recalc`. It returns `None` when nothing fits.
//!
//! # Per algorithm
//!
//! * `RoundRobin` (dynamic weights): every server advances along its own
//!   grid of positions `cycle + (2k + 1) / (2 * weight)`, `k < weight`; the
//!   server with the lowest next position (ties: lowest index) is picked,
//!   which interleaves servers smoothly and gives each exactly `weight`
//!   picks per cycle of `sum(weights)` picks. A server coming UP, or whose
//!   weight changes, joins at the current position without catching up.
//!   A full or avoided server loses its turn (HAProxy skips saturated
//!   servers and re-queues them after the pick). O(log n) per pick.
//! * `StaticRr`: the same interleaving, frozen into a map of
//!   `sum(weights)` slots walked in turn. Weights are those given to
//!   [`Lb::new`]; as with HAProxy's static algorithms a later weight only
//!   counts as 0 (out) or not 0 (back at its initial weight). `recalc`
//!   rebuilds the map for UP/DOWN changes.
//! * `LeastConn`: the server with the lowest load wins, the load being 0
//!   for an idle server and `(cur_conns + 1) / weight` otherwise (HAProxy's
//!   `fwlc_queue_srv` key: the load once this connection is added); among
//!   equal loads, the least recently picked wins, which rotates them.
//! * `First`: the first eligible server in order that is not full.
//! * `Source`: `hash % map_size` in the `StaticRr` map, with the hash of the
//!   client address from [`hash_ip`]. The mapping depends only on the tier
//!   and the weights, so a client keeps its server until a server of the
//!   tier goes up or down. Without a hash (a client that is not IPv4/IPv6)
//!   the map is walked round robin, as HAProxy falls back to.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Unbounded};

use core::cmp::Ordering;
use core::net::IpAddr;

/// Highest weight a server may have (HAProxy's `SRV_UWGHT_MAX`); larger
/// weights are taken as this.
pub const MAX_WEIGHT: u32 = 256;

/// What the algorithms need to know about one server of the backend, taken
/// from HAProxy's `struct server` (`uweight`, `cur_state`/`cur_admin`,
/// `SRV_F_BACKUP`, `served`, `maxconn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LbServer {
    /// Configured or `set weight` weight, 0..=256 (0: never picked).
    pub weight: u32,
    /// UP (or going up), and neither in MAINT nor DRAIN nor DOWN.
    pub usable: bool,
    /// A `backup` server.
    pub backup: bool,
    /// Connections being served right now (HAProxy's `served`).
    pub cur_conns: u32,
    /// `maxconn`; `None` means unlimited.
    pub maxconn: Option<u32>,
    /// The server's `id` (HAProxy's `puid`): where consistent hashing
    /// places its points.
    pub puid: u32,
    /// The share of `weight` a dynamic algorithm gives the server, in
    /// 1/[`BE_WEIGHT_SCALE`]: [`BE_WEIGHT_SCALE`] (all of it) except while
    /// it warms up after coming back with `slowstart` (HAProxy's `w` of
    /// `server_recalc_eweight`, so that the effective weight `cur_eweight`
    /// is `weight * ramp`). Static algorithms ignore it, as HAProxy does.
    pub ramp: u32,
}

impl LbServer {
    /// An active, usable server with that weight, idle and unlimited.
    pub const fn active(weight: u32) -> LbServer {
        LbServer {
            weight,
            usable: true,
            backup: false,
            cur_conns: 0,
            maxconn: None,
            puid: 0,
            ramp: BE_WEIGHT_SCALE,
        }
    }

    /// Serving `maxconn` connections already.
    pub fn is_full(&self) -> bool {
        self.maxconn.is_some_and(|m| self.cur_conns >= m)
    }
}

/// A `balance` algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algo {
    /// `balance roundrobin` (`lb_fwrr.c`).
    RoundRobin,
    /// `balance static-rr` (`lb_map.c`).
    StaticRr,
    /// `balance leastconn` (`lb_fwlc.c`).
    LeastConn,
    /// `balance first` (`lb_fas.c`).
    First,
    /// Every hash-based `balance` (`source`, `uri`, `url_param`, `hdr`,
    /// `rdp-cookie`, `hash`) with `hash-type map-based`, the default
    /// (`lb_map.c`'s `map_get_server_hash`).
    Source,
    /// Every hash-based `balance` with `hash-type consistent`
    /// (`lb_chash.c`).
    Chash,
    /// `balance random[(draws)]`: random points of the consistent-hash
    /// tree (`backend.c`'s `get_server_rnd`); see [`Lb::pick_random`].
    Random,
}

impl Algo {
    /// Static algorithms freeze weights at [`Lb::new`].
    pub const fn is_static(self) -> bool {
        matches!(self, Algo::StaticRr | Algo::Source)
    }

    /// Algorithms that look servers up in the consistent-hash tree.
    pub const fn is_chash(self) -> bool {
        matches!(self, Algo::Chash | Algo::Random)
    }
}

/// HAProxy's `BE_WEIGHT_SCALE`: a dynamic algorithm's effective weight is
/// the configured one times this (a consistent-hash server has this many
/// points per unit of weight).
pub const BE_WEIGHT_SCALE: u32 = 16;

/// HAProxy's `SRV_EWGHT_RANGE`: consistent-hash point `j` of the server
/// with id `puid` is `full_hash(puid * SRV_EWGHT_RANGE + j)`.
pub const SRV_EWGHT_RANGE: u32 = MAX_WEIGHT * BE_WEIGHT_SCALE;

/// Bob Jenkins' 32-bit integer avalanche then a multiplication by a prime
/// (HAProxy's `full_hash`), applied
/// with `hash-type ... avalanche` (the default of `hash-type consistent`)
/// and to place consistent-hash points.
pub fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    // Spread over the whole ring: times a large prime near 3/4 of it.
    a.wrapping_mul(3_221_225_473)
}

/// `hash-type ... sdbm` (the default; HAProxy's `hash_sdbm`).
pub fn hash_sdbm(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// `hash-type ... djb2` (HAProxy's `hash_djb2`).
pub fn hash_djb2(data: &[u8]) -> u32 {
    data.iter().fold(5381u32, |h, &c| {
        (h << 5).wrapping_add(h).wrapping_add(u32::from(c))
    })
}

/// `hash-type ... wt6` (HAProxy's `hash_wt6`, by Willy Tarreau): two
/// 32-bit lanes rotated by amounts that depend on the data.
pub fn hash_wt6(data: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c_965a_u32, 0x5ca6_953a_u32);
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in data {
        let t = u32::from(c);
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// `hash-type ... crc32` (HAProxy's `hash_crc32`: IEEE 802.3, reflected).
pub fn hash_crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// The hash function of `hash-type` (HAProxy's `BE_LB_HFCN_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashFn {
    #[default]
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
}

impl HashFn {
    /// HAProxy's `gen_hash`.
    pub fn hash(self, data: &[u8]) -> u32 {
        match self {
            HashFn::Sdbm => hash_sdbm(data),
            HashFn::Djb2 => hash_djb2(data),
            HashFn::Wt6 => hash_wt6(data),
            HashFn::Crc32 => hash_crc32(data),
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            HashFn::Sdbm => "sdbm",
            HashFn::Djb2 => "djb2",
            HashFn::Wt6 => "wt6",
            HashFn::Crc32 => "crc32",
        }
    }
}

/// HAProxy's source hash input (`get_server_sh`): the address's 32-bit
/// words, read in network order, XORed together (IPv4: the address itself).
/// No avalanche is applied, as with the default `hash-type map-based`.
pub fn hash_ip(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => u32::from_be_bytes(v4.octets()),
        IpAddr::V6(v6) => v6
            .octets()
            .chunks_exact(4)
            .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])),
    }
}

/// The load-balancing state of one backend (HAProxy's `struct lbprm`).
///
/// Invariants (checked after every entry point in debug builds): `tier` is
/// strictly increasing; the round-robin tree holds exactly the tier's
/// servers, each at its recorded position; map slots name tier servers
/// only, each exactly as many times as its weight; `rr_idx` is within the
/// map.
#[derive(Clone, Debug)]
pub struct Lb {
    algo: Algo,
    /// The servers picks choose from, in order: the eligible actives, or
    /// else the first eligible backup, or else none.
    tier: Vec<usize>,
    /// Whether `tier` is the backup fallback.
    on_backup: bool,
    /// Weights given to `new` (or at a server's first `recalc`), capped:
    /// what the static algorithms use.
    initial_weights: Vec<u32>,
    /// The greatest common divisor of the initial non-zero weights: map
    /// weights are divided by it (HAProxy's `lbprm.wmult` of `lb_map.c`).
    map_gcd: u32,
    /// `hash-balance-factor` (0: off), for the consistent-hash lookups.
    hash_balance_factor: u32,
    state: State,
}

#[derive(Clone, Debug)]
enum State {
    Fwrr(Fwrr),
    Map(Map),
    Fwlc(Fwlc),
    /// `first` keeps no state.
    Fas,
    Chash(Chash),
}

impl Lb {
    /// Builds the state of `algo` over `servers`.
    pub fn new(algo: Algo, servers: &[LbServer]) -> Lb {
        let state = match algo {
            Algo::RoundRobin => State::Fwrr(Fwrr::default()),
            Algo::StaticRr | Algo::Source => State::Map(Map::default()),
            Algo::LeastConn => State::Fwlc(Fwlc::default()),
            Algo::First => State::Fas,
            Algo::Chash | Algo::Random => State::Chash(Chash::default()),
        };
        let initial_weights: Vec<u32> = servers.iter().map(|s| s.weight.min(MAX_WEIGHT)).collect();
        let map_gcd = initial_weights
            .iter()
            .filter(|&&w| w > 0)
            .fold(0u32, |g, &w| gcd(g, w))
            .max(1);
        let mut lb = Lb {
            algo,
            tier: Vec::new(),
            on_backup: false,
            initial_weights,
            map_gcd,
            hash_balance_factor: 0,
            state,
        };
        lb.recalc(servers);
        lb
    }

    pub fn algo(&self) -> Algo {
        self.algo
    }

    /// Sets `hash-balance-factor` (a percentage above 100; 0 is off): a
    /// consistent-hash lookup passes over a server serving more than its
    /// share of the backend's connections times the factor (HAProxy's
    /// `chash_server_is_eligible`).
    pub fn set_hash_balance_factor(&mut self, factor: u32) {
        self.hash_balance_factor = factor;
    }

    /// The servers `pick` currently chooses from, in order.
    pub fn tier(&self) -> &[usize] {
        &self.tier
    }

    /// Whether server `i` can be picked at all: in the tier, and for the
    /// map-based algorithms in a slot of the map (in backup mode the map is
    /// sized by the first backup's weight, so a backup may get no slot, as
    /// in HAProxy's `recalc_server_map`).
    pub fn can_pick(&self, i: usize) -> bool {
        match &self.state {
            State::Map(map) => map.srv.contains(&i),
            _ => self.tier.contains(&i),
        }
    }

    /// Whether no active server is eligible and the first backup is used.
    pub fn on_backup(&self) -> bool {
        self.on_backup
    }

    /// The weight the algorithm uses for server `i`: its capped weight, or
    /// for static algorithms its initial weight unless set to 0.
    fn weight_of(&self, servers: &[LbServer], i: usize) -> u32 {
        let Some(s) = servers.get(i) else { return 0 };
        let w = s.weight.min(MAX_WEIGHT);
        if self.algo.is_static() && w != 0 {
            self.initial_weights.get(i).copied().unwrap_or(w)
        } else {
            w
        }
    }

    /// The effective weight of server `i`, in 1/[`BE_WEIGHT_SCALE`] of a
    /// weight (HAProxy's `cur_eweight`): [`Self::weight_of`] scaled, and
    /// for dynamic algorithms reduced during a slowstart (at least 1 when
    /// the weight is not 0).
    fn eweight_of(&self, servers: &[LbServer], i: usize) -> u32 {
        let w = self.weight_of(servers, i);
        if self.algo.is_static() || w == 0 {
            return w * BE_WEIGHT_SCALE;
        }
        let ramp = servers.get(i).map_or(BE_WEIGHT_SCALE, |s| s.ramp);
        (w * ramp.clamp(1, BE_WEIGHT_SCALE)).max(1)
    }

    fn eligible(&self, servers: &[LbServer], i: usize) -> bool {
        servers.get(i).is_some_and(|s| s.usable) && self.weight_of(servers, i) > 0
    }

    /// Takes a change of state or weight into account: a server went UP,
    /// DOWN, into MAINT or DRAIN, or got a new weight, or servers were added
    /// (new ones are appended to the slice).
    pub fn recalc(&mut self, servers: &[LbServer]) {
        // Servers seen for the first time keep the weight they come with.
        self.initial_weights.truncate(servers.len());
        for s in &servers[self.initial_weights.len()..] {
            self.initial_weights.push(s.weight.min(MAX_WEIGHT));
        }
        let eligible: Vec<usize> = (0..servers.len())
            .filter(|&i| self.eligible(servers, i))
            .collect();
        let actives: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|&i| !servers[i].backup)
            .collect();
        self.on_backup = actives.is_empty() && !eligible.is_empty();
        self.tier = if self.on_backup {
            eligible[..1].to_vec()
        } else {
            actives
        };
        let weights: Vec<u32> = (0..servers.len())
            .map(|i| self.weight_of(servers, i))
            .collect();
        let eweights: Vec<u32> = (0..servers.len())
            .map(|i| self.eweight_of(servers, i))
            .collect();
        match &mut self.state {
            State::Fwrr(rr) => {
                // Effective weights divided by their greatest common
                // divisor: the weights themselves when no server warms up.
                let g = eweights.iter().fold(0u32, |g, &w| gcd(g, w)).max(1);
                let ew: Vec<u32> = eweights.iter().map(|w| w / g).collect();
                rr.recalc(&self.tier, &ew);
            }
            State::Map(map) => {
                // HAProxy's map weights: divided by the GCD, rounded up.
                let ew: Vec<u32> = weights.iter().map(|w| w.div_ceil(self.map_gcd)).collect();
                // In backup mode HAProxy sizes the map by the first
                // backup's weight but fills it from every usable backup.
                let (cands, tot): (Vec<usize>, u32) = if self.on_backup {
                    let c = eligible
                        .iter()
                        .copied()
                        .filter(|&i| servers[i].backup)
                        .collect();
                    (c, self.tier.first().map_or(0, |&i| ew[i]))
                } else {
                    (self.tier.clone(), self.tier.iter().map(|&i| ew[i]).sum())
                };
                map.rebuild(&cands, &ew, tot);
            }
            State::Fwlc(lc) => lc.last_pick.resize(servers.len(), 0),
            State::Fas => {}
            State::Chash(ch) => {
                let want: Vec<(u32, u32)> = (0..servers.len())
                    .map(|i| {
                        let n = if !self.on_backup && self.tier.binary_search(&i).is_ok() {
                            eweights[i]
                        } else {
                            0
                        };
                        (servers[i].puid, n)
                    })
                    .collect();
                ch.recalc(&want);
            }
        }
        self.check_invariants();
    }

    /// Chooses the server for a new connection attempt. `hash` is the
    /// [`hash_ip`] of the client for `Source` (ignored by the others);
    /// `avoid` is the server a previous attempt failed on. See the module
    /// doc for the rules.
    pub fn pick(
        &mut self,
        servers: &[LbServer],
        hash: Option<u32>,
        avoid: Option<usize>,
    ) -> Option<usize> {
        let picked = match self.algo {
            Algo::RoundRobin => self.pick_fwrr(servers, avoid),
            Algo::StaticRr => self.pick_map_rr(servers, avoid),
            Algo::Source => match hash {
                Some(h) => self.pick_map_hash(servers, h),
                None => self.pick_map_rr(servers, avoid),
            },
            Algo::LeastConn => self.pick_fwlc(servers, avoid),
            Algo::First => self.pick_fas(servers, avoid),
            Algo::Chash | Algo::Random => match hash {
                Some(h) => self.pick_chash_hash(servers, h, avoid),
                None => self.pick_chash_next(servers, avoid),
            },
        };
        crate::bug_on!(picked.is_some_and(|i| !self.eligible(servers, i)));
        self.check_invariants();
        picked
    }

    /// Whether `i` may take this connection: eligible and not full.
    fn available(&self, servers: &[LbServer], i: usize) -> bool {
        self.eligible(servers, i) && !servers[i].is_full()
    }

    fn pick_fwrr(&mut self, servers: &[LbServer], avoid: Option<usize>) -> Option<usize> {
        let State::Fwrr(rr) = &mut self.state else {
            return None;
        };
        // Servers looked at and passed over, put back once the pick is made.
        let mut aside: Vec<(Pos, usize)> = Vec::new();
        let mut avoided = None;
        let mut chosen = None;
        while let Some((pos, i)) = rr.tree.pop_first() {
            let eligible = servers.get(i).is_some_and(|s| s.usable && s.weight > 0);
            if !eligible {
                // Stale (no recalc yet): keep its place, never pick it.
                aside.push((pos, i));
                continue;
            }
            let next = pos.advance();
            if servers[i].is_full() || Some(i) == avoid {
                // A skipped server loses its turn.
                if Some(i) == avoid && !servers[i].is_full() {
                    avoided = Some((pos, i));
                }
                aside.push((next, i));
                continue;
            }
            chosen = Some((pos, i));
            aside.push((next, i));
            break;
        }
        for &(pos, i) in &aside {
            rr.tree.insert((pos, i));
            if let Some(p) = rr.pos.get_mut(i) {
                *p = Some(pos);
            }
        }
        let (pos, i) = chosen.or(avoided)?;
        rr.now = pos;
        Some(i)
    }

    fn pick_map_rr(&mut self, servers: &[LbServer], avoid: Option<usize>) -> Option<usize> {
        let State::Map(map) = &self.state else {
            return None;
        };
        let len = map.srv.len();
        let mut avoided = None;
        let mut found = None;
        for step in 0..len {
            let slot = (map.rr_idx + step) % len;
            let i = map.srv[slot];
            if !self.available(servers, i) {
                continue;
            }
            if Some(i) == avoid {
                avoided = avoided.or(Some(slot));
                continue;
            }
            found = Some(slot);
            break;
        }
        let slot = found.or(avoided)?;
        let i = map.srv[slot];
        if let State::Map(map) = &mut self.state {
            map.rr_idx = (slot + 1) % len;
        }
        Some(i)
    }

    /// `map_get_server_hash`: the slot `hash % map size`, even when its
    /// server is full or the one to avoid (HAProxy does not look further;
    /// a redispatched request goes back to the same server). Only a server
    /// made ineligible without `recalc` yet is passed over.
    fn pick_map_hash(&self, servers: &[LbServer], hash: u32) -> Option<usize> {
        let State::Map(map) = &self.state else {
            return None;
        };
        let len = map.srv.len();
        if len == 0 {
            return None;
        }
        let start = usize::try_from(hash).unwrap_or(usize::MAX) % len;
        (0..len)
            .map(|step| map.srv[(start + step) % len])
            .find(|&i| self.eligible(servers, i))
    }

    /// Whether server `i` serves less than its share of the backend's
    /// connections times `hash-balance-factor` (HAProxy's
    /// `chash_server_is_eligible`, the new connection counted).
    fn chash_has_room(&self, servers: &[LbServer], i: usize) -> bool {
        let tot_weight: u64 = self
            .tier
            .iter()
            .map(|&j| u64::from(self.eweight_of(servers, j)))
            .sum();
        if tot_weight == 0 {
            return true;
        }
        let served: u64 = servers.iter().map(|s| u64::from(s.cur_conns)).sum();
        let tot_slots = ((served + 1) * u64::from(self.hash_balance_factor)).div_ceil(100);
        let per_weight = tot_slots / tot_weight;
        let remainder = tot_slots % tot_weight;
        let w = u64::from(self.eweight_of(servers, i));
        let cumulative: u64 = self
            .tier
            .iter()
            .take_while(|&&j| j < i)
            .map(|&j| u64::from(self.eweight_of(servers, j)))
            .sum();
        let mut slots = w * per_weight;
        slots +=
            ((cumulative + w) * remainder) / tot_weight - (cumulative * remainder) / tot_weight;
        u64::from(servers[i].cur_conns) < slots.max(1)
    }

    /// `chash_get_server_hash`: the point of the tree closest to `hash`
    /// (the one before on a tie), then the following points while their
    /// server is the one to avoid or, with `hash-balance-factor`, over its
    /// share. A full server is returned (the caller queues on it). In
    /// backup mode, the first backup.
    fn pick_chash_hash(
        &self,
        servers: &[LbServer],
        hash: u32,
        avoid: Option<usize>,
    ) -> Option<usize> {
        let State::Chash(ch) = &self.state else {
            return None;
        };
        if self.on_backup {
            return self.tier.first().copied();
        }
        let (&nk, &ns) = ch
            .tree
            .range(hash..)
            .next()
            .or_else(|| ch.tree.iter().next())?;
        let (&pk, &ps) = ch
            .tree
            .range(..nk)
            .next_back()
            .or_else(|| ch.tree.iter().next_back())?;
        let dp = hash.wrapping_sub(pk);
        let dn = nk.wrapping_sub(hash);
        let (mut key, mut srv) = if dp <= dn { (pk, ps) } else { (nk, ns) };
        let unfit = |i: usize| {
            !self.eligible(servers, i)
                || Some(i) == avoid
                || (self.hash_balance_factor != 0 && !self.chash_has_room(servers, i))
        };
        let mut wraps = 0;
        while unfit(srv) {
            match ch.tree.range((Excluded(key), Unbounded)).next() {
                Some((&k, &i)) => (key, srv) = (k, i),
                None => {
                    wraps += 1;
                    if wraps > 1 {
                        break;
                    }
                    let (&k, &i) = ch.tree.iter().next()?;
                    (key, srv) = (k, i);
                }
            }
        }
        // HAProxy gives up after a full turn and returns where it stands;
        // never return a server that cannot be used.
        self.eligible(servers, srv).then_some(srv)
    }

    /// `chash_get_next_server`: without a key, the points of the tree in
    /// turn from the last one used, passing over full servers and the one
    /// to avoid (taken if nothing else fits).
    fn pick_chash_next(&mut self, servers: &[LbServer], avoid: Option<usize>) -> Option<usize> {
        if self.on_backup {
            return self.tier.first().copied();
        }
        let State::Chash(ch) = &self.state else {
            return None;
        };
        let first = ch.tree.keys().next().copied()?;
        let start = ch.last;
        let mut key = start;
        let mut stop = start;
        let mut avoided = None;
        let mut found = None;
        loop {
            let next = key
                .and_then(|k| ch.tree.range((Excluded(k), Unbounded)).next())
                .map(|(&k, _)| k)
                .unwrap_or(first);
            key = Some(next);
            if stop.is_none() {
                stop = Some(next);
            }
            let i = ch.tree[&next];
            if self.available(servers, i) {
                if Some(i) != avoid {
                    found = Some((next, i));
                    break;
                }
                avoided = avoided.or(Some((next, i)));
            }
            if key == stop {
                break;
            }
        }
        let (k, i) = match found.or(avoided) {
            Some(x) => x,
            None => {
                if let State::Chash(ch) = &mut self.state {
                    ch.last = key;
                }
                return None;
            }
        };
        if let State::Chash(ch) = &mut self.state {
            ch.last = Some(k);
        }
        Some(i)
    }

    /// `balance random(draws)` (`get_server_rnd`): `draws` random points of
    /// the tree, keeping the least loaded server (connections per weight)
    /// of those drawn; `None` when it is full (the caller queues in the
    /// backend). `rand` is the engine's seeded randomness.
    pub fn pick_random(
        &mut self,
        servers: &[LbServer],
        draws: u32,
        mut rand: impl FnMut() -> u32,
        avoid: Option<usize>,
    ) -> Option<usize> {
        let mut curr: Option<usize> = None;
        for _ in 0..draws.max(1) {
            let prev = curr;
            let Some(c) = self.pick_chash_hash(servers, rand(), avoid) else {
                curr = None;
                break;
            };
            curr = Some(c);
            if let Some(p) = prev.filter(|&p| p != c) {
                let load = |i: usize| u64::from(servers[i].cur_conns);
                let w = |i: usize| u64::from(self.eweight_of(servers, i));
                if load(c) * w(p) > load(p) * w(c) {
                    curr = Some(p);
                }
            }
        }
        let picked = curr.filter(|&i| !servers[i].is_full());
        self.check_invariants();
        picked
    }

    fn pick_fwlc(&mut self, servers: &[LbServer], avoid: Option<usize>) -> Option<usize> {
        let State::Fwlc(lc) = &self.state else {
            return None;
        };
        // The lowest (load, last pick), the least recently picked first
        // among equal loads.
        let mut best: Option<(Load, u64, usize)> = None;
        let mut avoided = None;
        for &i in &self.tier {
            if !self.available(servers, i) {
                continue;
            }
            if Some(i) == avoid {
                avoided = Some(i);
                continue;
            }
            let load = Load::of(servers[i].cur_conns, self.eweight_of(servers, i));
            let last = lc.last_pick.get(i).copied().unwrap_or(0);
            if best.is_none_or(|(bl, blast, _)| (load, last) < (bl, blast)) {
                best = Some((load, last, i));
            }
        }
        let i = best.map(|(_, _, i)| i).or(avoided)?;
        if let State::Fwlc(lc) = &mut self.state {
            lc.seq += 1;
            if let Some(l) = lc.last_pick.get_mut(i) {
                *l = lc.seq;
            }
        }
        Some(i)
    }

    fn pick_fas(&self, servers: &[LbServer], avoid: Option<usize>) -> Option<usize> {
        let mut avoided = None;
        for &i in &self.tier {
            if !self.available(servers, i) {
                continue;
            }
            if Some(i) == avoid {
                avoided = Some(i);
                continue;
            }
            return Some(i);
        }
        avoided
    }

    /// Debug-build check of the invariants listed on [`Lb`].
    fn check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        crate::bug_on!(self.tier.windows(2).any(|w| w[0] >= w[1]));
        crate::bug_on!(self.on_backup && self.tier.len() != 1);
        match &self.state {
            State::Fwrr(rr) => {
                crate::bug_on!(rr.tree.len() != self.tier.len());
                for &(pos, i) in &rr.tree {
                    crate::bug_on!(self.tier.binary_search(&i).is_err());
                    let recorded = rr.pos.get(i).copied().flatten().map(Pos::parts);
                    crate::bug_on!(recorded != Some(pos.parts()));
                    crate::bug_on!(pos.num >= pos.den || pos.num % 2 == 0);
                    crate::bug_on!(rr.weight.get(i).map(|&w| 2 * u64::from(w)) != Some(pos.den));
                }
            }
            State::Map(map) => {
                crate::bug_on!(!map.srv.is_empty() && map.rr_idx >= map.srv.len());
                crate::bug_on!(
                    !self.on_backup && map.srv.iter().any(|i| self.tier.binary_search(i).is_err())
                );
            }
            State::Chash(ch) => {
                crate::bug_on!(ch
                    .tree
                    .values()
                    .any(|i| self.tier.binary_search(i).is_err()));
            }
            State::Fwlc(_) | State::Fas => {}
        }
    }
}

// ------------------------------------------------------------- roundrobin

/// A position on the round-robin time line: `cycle + num / den` with
/// `num = 2k + 1` odd and `den = 2 * weight`, so `num < den`. Compared by
/// value (two grids may meet: 1/2 == 3/6).
#[derive(Clone, Copy, Debug)]
struct Pos {
    cycle: u64,
    num: u64,
    den: u64,
}

impl Pos {
    const START: Pos = Pos {
        cycle: 0,
        num: 0,
        den: 1,
    };

    /// The exact representation (equality of `Pos` is by value).
    fn parts(self) -> (u64, u64, u64) {
        (self.cycle, self.num, self.den)
    }

    /// The next grid point of the same server.
    fn advance(self) -> Pos {
        if self.num + 2 < self.den {
            Pos {
                num: self.num + 2,
                ..self
            }
        } else {
            Pos {
                cycle: self.cycle.saturating_add(1),
                num: 1,
                den: self.den,
            }
        }
    }

    /// The first grid point of a server of weight `w` (> 0) at or after
    /// `at`: the smallest `k` with `(2k + 1) / 2w >= at.num / at.den`.
    fn place(at: Pos, w: u32) -> Pos {
        let den = 2 * u64::from(w.clamp(1, SRV_EWGHT_RANGE));
        let lhs = at.num * den; // compare (2k+1) * at.den >= lhs
        let k = if lhs <= at.den {
            0
        } else {
            (lhs - at.den).div_ceil(2 * at.den)
        };
        if 2 * k + 1 < den {
            Pos {
                cycle: at.cycle,
                num: 2 * k + 1,
                den,
            }
        } else {
            Pos {
                cycle: at.cycle.saturating_add(1),
                num: 1,
                den,
            }
        }
    }
}

impl Ord for Pos {
    fn cmp(&self, other: &Pos) -> Ordering {
        self.cycle
            .cmp(&other.cycle)
            .then((self.num * other.den).cmp(&(other.num * self.den)))
    }
}

impl PartialOrd for Pos {
    fn partial_cmp(&self, other: &Pos) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pos {
    fn eq(&self, other: &Pos) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pos {}

/// `lb_fwrr`'s state: each tier server's next position, in a tree.
#[derive(Clone, Debug, Default)]
struct Fwrr {
    /// Next position of each server, `None` outside the tier.
    pos: Vec<Option<Pos>>,
    /// The weight each position's grid was made for.
    weight: Vec<u32>,
    tree: BTreeSet<(Pos, usize)>,
    /// Position of the last pick: where joining servers start.
    now: Pos,
}

impl Default for Pos {
    fn default() -> Pos {
        Pos::START
    }
}

impl Fwrr {
    fn recalc(&mut self, tier: &[usize], weights: &[u32]) {
        let n = weights.len();
        // Servers removed from the slice leave the tree first.
        for i in n..self.pos.len() {
            if let Some(p) = self.pos[i] {
                self.tree.remove(&(p, i));
            }
        }
        self.pos.resize(n, None);
        self.weight.resize(n, 0);
        for (i, &w) in weights.iter().enumerate() {
            let in_tier = tier.binary_search(&i).is_ok();
            let old = self.pos[i];
            let new = match old {
                _ if !in_tier => None,
                Some(p) if self.weight[i] == w => Some(p),
                // New weight: re-grid from where it stood, not before now.
                Some(p) => Some(Pos::place(p.max(self.now), w)),
                None => Some(Pos::place(self.now, w)),
            };
            // Structural comparison: a re-gridded position may be equal in
            // value to the old one (1/2 == 3/6) yet step differently.
            if old.map(Pos::parts) != new.map(Pos::parts) {
                if let Some(p) = old {
                    self.tree.remove(&(p, i));
                }
                if let Some(p) = new {
                    self.tree.insert((p, i));
                }
                self.pos[i] = new;
            }
            self.weight[i] = w;
        }
    }
}

// -------------------------------------------------------------- static map

/// `lb_map`'s state: the servers laid out over `tot` slots (the sum of
/// their map weights) in HAProxy's order, and the next slot to try.
#[derive(Clone, Debug, Default)]
struct Map {
    srv: Vec<usize>,
    rr_idx: usize,
}

impl Map {
    /// HAProxy's `recalc_server_map`: for each slot, every candidate adds
    /// its weight to its score; the first with the highest
    /// `(score + tot) / tot` takes the slot and gives `tot` back. This
    /// respects declaration order among equal weights and always puts the
    /// first candidate first.
    fn rebuild(&mut self, cands: &[usize], weights: &[u32], tot: u32) {
        self.srv.clear();
        if cands.is_empty() || tot == 0 {
            self.rr_idx = 0;
            return;
        }
        let tot_i = i64::from(tot);
        let mut score = vec![0i64; weights.len()];
        for _ in 0..tot {
            if tot == 1 {
                self.srv.push(cands[0]);
                break;
            }
            let mut best: Option<(i64, usize)> = None;
            for &i in cands {
                score[i] += i64::from(weights[i]);
                let v = (score[i] + tot_i) / tot_i;
                if best.is_none_or(|(max, _)| v > max) {
                    best = Some((v, i));
                }
            }
            if let Some((_, i)) = best {
                self.srv.push(i);
                score[i] -= tot_i;
            }
        }
        if self.rr_idx >= self.srv.len() {
            self.rr_idx = 0;
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

// ------------------------------------------------------ consistent hashing

/// `lb_chash`'s state: the points of the active servers in a tree keyed
/// by position (each server of weight `w` and id `puid` has `w * 16`
/// points `full_hash(puid * 4096 + j)`), and the last point used by the
/// key-less fallback.
#[derive(Clone, Debug, Default)]
struct Chash {
    tree: BTreeMap<u32, usize>,
    /// `(puid, points)` each server has in the tree.
    placed: Vec<(u32, u32)>,
    last: Option<u32>,
}

impl Chash {
    fn point(puid: u32, j: u32) -> u32 {
        full_hash(puid.wrapping_mul(SRV_EWGHT_RANGE).wrapping_add(j))
    }

    /// Brings every server to `want[i] = (puid, points)`.
    fn recalc(&mut self, want: &[(u32, u32)]) {
        let old_last = self.last;
        for i in want.len()..self.placed.len() {
            let (puid, n) = self.placed[i];
            for j in 0..n {
                self.tree.remove(&Self::point(puid, j));
            }
        }
        self.placed.resize(want.len(), (0, 0));
        for (i, &(puid, n)) in want.iter().enumerate() {
            let (opuid, on) = self.placed[i];
            if opuid != puid {
                for j in 0..on {
                    self.tree.remove(&Self::point(opuid, j));
                }
                for j in 0..n {
                    self.tree.insert(Self::point(puid, j), i);
                }
            } else if n < on {
                for j in n..on {
                    self.tree.remove(&Self::point(puid, j));
                }
            } else {
                for j in on..n {
                    self.tree.insert(Self::point(puid, j), i);
                }
            }
            self.placed[i] = (puid, n);
        }
        // A removed last point hands over to the next one (HAProxy's
        // `chash_skip_node`).
        if let Some(k) = old_last.filter(|k| !self.tree.contains_key(k)) {
            self.last = self
                .tree
                .range((Excluded(k), Unbounded))
                .next()
                .or_else(|| self.tree.iter().next())
                .map(|(&k, _)| k);
        }
    }
}

// -------------------------------------------------------------- leastconn

/// `lb_fwlc`'s state: when each server was last picked, to rotate among
/// equally loaded servers.
#[derive(Clone, Debug, Default)]
struct Fwlc {
    last_pick: Vec<u64>,
    seq: u64,
}

/// HAProxy's `fwlc_queue_srv` key as an exact fraction: 0 when idle, else
/// `(conns + 1) / weight`.
#[derive(Clone, Copy, Debug)]
struct Load {
    num: u64,
    den: u64,
}

impl Load {
    fn of(conns: u32, weight: u32) -> Load {
        if conns == 0 {
            Load { num: 0, den: 1 }
        } else {
            Load {
                num: u64::from(conns) + 1,
                den: u64::from(weight.max(1)),
            }
        }
    }
}

impl Ord for Load {
    fn cmp(&self, other: &Load) -> Ordering {
        (self.num * other.den).cmp(&(other.num * self.den))
    }
}

impl PartialOrd for Load {
    fn partial_cmp(&self, other: &Load) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Load {
    fn eq(&self, other: &Load) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Load {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pos_place_and_advance() {
        // Weight 3: 1/6, 3/6, 5/6, then the next cycle.
        let p = Pos::place(Pos::START, 3);
        assert_eq!((p.cycle, p.num, p.den), (0, 1, 6));
        let p = p.advance().advance();
        assert_eq!((p.cycle, p.num, p.den), (0, 5, 6));
        let p = p.advance();
        assert_eq!((p.cycle, p.num, p.den), (1, 1, 6));
        // Placing weight 2 (1/4, 3/4) at 1/2 gives 3/4; at 3/4 itself, 3/4.
        let half = Pos {
            cycle: 4,
            num: 1,
            den: 2,
        };
        let q = Pos::place(half, 2);
        assert_eq!((q.cycle, q.num, q.den), (4, 3, 4));
        assert_eq!(Pos::place(q, 2), q);
        // Past the last grid point of the cycle: the next cycle.
        let late = Pos {
            cycle: 4,
            num: 7,
            den: 8,
        };
        let r = Pos::place(late, 2);
        assert_eq!((r.cycle, r.num, r.den), (5, 1, 4));
        // Equal values on different grids compare equal.
        assert_eq!(
            Pos {
                cycle: 0,
                num: 1,
                den: 2
            },
            Pos {
                cycle: 0,
                num: 3,
                den: 6
            }
        );
    }

    #[test]
    fn place_is_the_first_grid_point_not_before() {
        for w in 1..=12u32 {
            for num in 0..40u64 {
                let at = Pos {
                    cycle: 2,
                    num,
                    den: 40,
                };
                let p = Pos::place(at, w);
                assert!(p >= at, "w={w} at={at:?} -> {p:?}");
                // The grid point before it (if any) is before `at`.
                if p.num > 1 {
                    let prev = Pos {
                        num: p.num - 2,
                        ..p
                    };
                    assert!(prev < at);
                } else if p.cycle > at.cycle {
                    let last = Pos {
                        cycle: at.cycle,
                        num: p.den - 1,
                        den: p.den,
                    };
                    assert!(last < at);
                }
            }
        }
    }

    /// Values printed by HAProxy 2.6's `sdbm`, `djb2`, `wt6`, `crc32`
    /// converters (same functions as `hash-type`), `sdbm(1)` and `wt6(1)`
    /// (with `full_hash`).
    #[test]
    fn hash_functions_match_haproxy() {
        let cases: [(&str, [u32; 6]); 4] = [
            (
                "/",
                [47, 177620, 1886637733, 2043925204, 2118074832, 2250254464],
            ),
            (
                "/abc",
                [
                    3135654771, 2088271610, 4175322074, 326170788, 2611440265, 2702208831,
                ],
            ),
            (
                "/hello/world",
                [
                    3461884038, 3258338207, 3022396808, 2263584858, 3247079497, 1385928714,
                ],
            ),
            (
                "/The-quick-brown-fox",
                [
                    3881145037, 1484032366, 3309236871, 170202914, 3052646631, 625030546,
                ],
            ),
        ];
        for (input, want) in cases {
            let d = input.as_bytes();
            let got = [
                hash_sdbm(d),
                hash_djb2(d),
                hash_wt6(d),
                hash_crc32(d),
                full_hash(hash_sdbm(d)),
                full_hash(hash_wt6(d)),
            ];
            assert_eq!(got, want, "{input}");
        }
        assert_eq!(HashFn::Wt6.hash(b"/abc"), 4175322074);
    }

    /// HAProxy's `recalc_server_map` on 3:2:1 (`A A B A B C`), with the
    /// weights divided by their GCD (6:4:2 gives the same map).
    #[test]
    fn map_is_haproxys() {
        for w in [[3, 2, 1], [6, 4, 2]] {
            let s: Vec<LbServer> = w.iter().map(|&w| LbServer::active(w)).collect();
            let lb = Lb::new(Algo::StaticRr, &s);
            let State::Map(map) = &lb.state else { panic!() };
            assert_eq!(map.srv, [0, 0, 1, 0, 1, 2]);
        }
    }

    /// Each server of weight `w` has `16 w` points; removing a server
    /// moves only the keys it had.
    #[test]
    fn chash_points_and_stability() {
        let mut s: Vec<LbServer> = [1u32, 2, 3]
            .iter()
            .enumerate()
            .map(|(i, &w)| LbServer {
                puid: i as u32 + 1,
                ..LbServer::active(w)
            })
            .collect();
        let mut lb = Lb::new(Algo::Chash, &s);
        let State::Chash(ch) = &lb.state else {
            panic!()
        };
        assert_eq!(ch.tree.len(), 16 * 6);
        assert_eq!(ch.tree.get(&full_hash(2 * 4096 + 31)), Some(&1));
        let before: Vec<usize> = (0..2000u32)
            .map(|k| lb.pick(&s, Some(full_hash(k)), None).unwrap())
            .collect();
        s[1].usable = false;
        lb.recalc(&s);
        for (k, &b) in before.iter().enumerate() {
            let now = lb.pick(&s, Some(full_hash(k as u32)), None).unwrap();
            if b != 1 {
                assert_eq!(now, b);
            } else {
                assert_ne!(now, 1);
            }
        }
    }

    #[test]
    fn load_order() {
        assert!(Load::of(0, 1) < Load::of(1, 256));
        assert_eq!(Load::of(0, 1), Load::of(0, 100));
        // (1+1)/1 = 2 > (3+1)/3
        assert!(Load::of(3, 3) < Load::of(1, 1));
        assert_eq!(Load::of(1, 2), Load::of(3, 4));
    }
}
