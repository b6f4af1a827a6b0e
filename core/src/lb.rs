//! Load balancing (temporary round robin; replaced by the full lb module).

use core::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LbServer {
    pub weight: u32,
    pub usable: bool,
    pub backup: bool,
    pub cur_conns: u32,
    pub maxconn: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
}

#[derive(Clone, Debug)]
pub struct Lb {
    next: usize,
}

impl Lb {
    pub fn new(_algo: Algo, _servers: &[LbServer]) -> Lb {
        Lb { next: 0 }
    }
    pub fn recalc(&mut self, _servers: &[LbServer]) {}
    pub fn pick(
        &mut self,
        servers: &[LbServer],
        _hash: Option<u32>,
        avoid: Option<usize>,
    ) -> Option<usize> {
        let n = servers.len();
        for backup in [false, true] {
            for k in 0..n {
                let i = (self.next + k) % n;
                let s = &servers[i];
                if s.usable
                    && s.weight > 0
                    && s.backup == backup
                    && Some(i) != avoid
                    && s.maxconn.is_none_or(|m| s.cur_conns < m)
                {
                    self.next = i + 1;
                    return Some(i);
                }
            }
        }
        None
    }
}

pub fn hash_ip(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => a
            .octets()
            .chunks(4)
            .fold(0, |h, c| h ^ u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
    }
}
