//! Sample fetches at run time: what `src`, `sc0_conn_rate`,
//! `src_http_req_rate(t)`... read from a session and its stick tables
//! (HAProxy's `smp_fetch_*` in `tcp_sample.c`, `stick_table.c`).
//!
//! [`SessCtx`] implements [`SampleCtx`] for the rules of a session (the
//! `tcp-request connection/session` rules). HTTP fetches answer `None`
//! here; the HTTP analysers extend this context with the message.
//!
//! Also here: turning a sample into a stick-table key (`smp_to_stkey`), and
//! starting to track an entry (`track-scN`), which counts the connection
//! on it as HAProxy does (`conn_cnt`, `conn_rate`, `conn_cur`).

use core::net::IpAddr;

use crate::arena::Id;
use crate::engine::Engine;
use crate::sample::{CtrOp, Fetch, FetchKind, Sample, SampleCtx, TableConv};
use crate::session::{bump, Session, StkCtr, MAX_STKCTR};
use crate::stick_table::{DataType, KeyType, StData, StKey, TableId, TableParams};
use crate::time::Time;

/// The stick-table key of a sample for a table (`smp_to_stkey`), or
/// `None` when the sample cannot be one.
pub fn sample_to_key(params: &TableParams, s: Sample) -> Option<StKey> {
    match params.key_type {
        KeyType::Ipv4 => match s.cast(crate::sample::SmpType::Ipv4)? {
            Sample::Ip(IpAddr::V4(a)) => Some(StKey::ipv4(a)),
            _ => None,
        },
        KeyType::Ipv6 => match s.cast(crate::sample::SmpType::Ipv6)? {
            Sample::Ip(IpAddr::V6(a)) => Some(StKey::ipv6(a)),
            _ => None,
        },
        KeyType::Integer => s
            .as_int()
            .and_then(|v| u32::try_from(v).ok())
            .map(StKey::integer),
        KeyType::String => Some(StKey::string(params.key_size, &s.into_bytes()?)),
        KeyType::Binary => Some(StKey::binary(params.key_size, &s.into_bytes()?)),
    }
}

/// Reads stored data as a sample: integers as they are, a frequency
/// counter as its rate at `now`.
fn data_sample(
    t: &crate::stick_table::StickTable,
    now: Time,
    e: crate::stick_table::EntryId,
    dt: DataType,
    idx: usize,
) -> Option<Sample> {
    t.read_value(now, e, dt, idx).ok().map(Sample::Int)
}

/// The sample context of a session's rules.
pub struct SessCtx<'a> {
    pub eng: &'a mut Engine,
    pub now: Time,
    pub sess: Id<Session>,
    /// The proxy whose rules run (its table is the default one).
    pub proxy: crate::proxy::ProxyId,
}

impl SessCtx<'_> {
    fn tracked(&self, ctr: u8) -> Option<StkCtr> {
        self.eng
            .sessions
            .get(self.sess)?
            .stkctr
            .get(usize::from(ctr))
            .copied()
            .flatten()
    }

    /// The entry of the client address in table `t`, created if `create`.
    fn src_entry(&mut self, t: TableId, create: bool) -> Option<crate::stick_table::EntryId> {
        let src = self.eng.sessions.get(self.sess)?.src?.ip();
        let table = self.eng.tables.get_mut(t)?;
        let key = sample_to_key(table.params(), Sample::Ip(src))?;
        if create {
            table.get_or_create(self.now, key)
        } else {
            table.lookup(&key)
        }
    }

    fn table_arg(&self, f: &Fetch) -> Option<TableId> {
        f.table().and_then(|t| t.id).or_else(|| {
            self.eng
                .proxies
                .get(self.proxy.idx())?
                .be
                .as_ref()?
                .cfg
                .table
        })
    }

    /// Applies a counter operation on an entry and returns its sample.
    fn ctr_op(
        &mut self,
        t: TableId,
        e: crate::stick_table::EntryId,
        op: CtrOp,
        f: &Fetch,
    ) -> Option<Sample> {
        let now = self.now;
        let table = self.eng.tables.get_mut(t)?;
        let idx = f
            .int_arg(0)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(0);
        let out = match op {
            CtrOp::Inc(dt) => {
                let v = match table.get(e, dt, idx).ok()? {
                    StData::UInt(v) => v.wrapping_add(1),
                    _ => return None,
                };
                let _ = table.set(e, dt, idx, StData::UInt(v));
                if let Some(rate) = rate_of(dt) {
                    let _ = table.update_freq(now, e, rate, idx, 1);
                }
                table.touch_local(now, e);
                Sample::Int(i64::from(v))
            }
            CtrOp::Clr(dt) => {
                let old = table.read_value(now, e, dt, idx).ok()?;
                let _ = table.set(e, dt, idx, StData::UInt(0));
                table.touch_local(now, e);
                Sample::Int(old)
            }
            CtrOp::Kbytes(dt) => Sample::Int(table.read_value(now, e, dt, 0).ok()? / 1024),
            CtrOp::Tracked => Sample::Bool(true),
            CtrOp::Trackers => Sample::Int(i64::from(table.ref_cnt(e)?)),
            CtrOp::UpdtConnCnt => {
                bump(table, e, DataType::CONN_CNT, 1);
                table.touch_local(now, e);
                Sample::Int(table.read_value(now, e, DataType::CONN_CNT, 0).ok()?)
            }
        };
        Some(out)
    }
}

/// The rate type that moves with a counter (`gpc0` -> `gpc0_rate`).
fn rate_of(dt: DataType) -> Option<DataType> {
    Some(match dt {
        DataType::GPC0 => DataType::GPC0_RATE,
        DataType::GPC1 => DataType::GPC1_RATE,
        DataType::GPC => DataType::GPC_RATE,
        _ => return None,
    })
}

impl SampleCtx for SessCtx<'_> {
    fn set_var(
        &mut self,
        var: &crate::sample::VarName,
        v: Option<Sample>,
        cond: crate::sample::VarCond,
    ) -> bool {
        match v {
            Some(v) => self.eng.var_set_cond(self.sess, None, var, v, cond),
            None => {
                self.eng.var_set(self.sess, None, var, None);
                true
            }
        }
    }

    fn patterns(&self) -> Option<&crate::pattern::PatStore> {
        Some(&self.eng.patterns)
    }

    fn table_conv(
        &mut self,
        table: &crate::sample::TableRef,
        key: Sample,
        what: TableConv,
        idx: usize,
    ) -> Option<Sample> {
        self.table_conv_impl(table, key, what, idx)
    }

    fn fetch(&mut self, f: &Fetch) -> Option<Sample> {
        let now = self.now;
        if f.kind == FetchKind::Uuid {
            return Some(Sample::str(uuid4(&mut self.eng.rng)));
        }
        let sess = self.eng.sessions.get(self.sess)?;
        match &f.kind {
            FetchKind::Src => sess.src.map(|a| Sample::Ip(a.ip())),
            FetchKind::SrcPort => sess.src.map(|a| Sample::Int(i64::from(a.port()))),
            FetchKind::Dst => sess.dst.map(|a| Sample::Ip(a.ip())),
            FetchKind::DstPort => sess.dst.map(|a| Sample::Int(i64::from(a.port()))),
            FetchKind::FcSrc | FetchKind::FcSrcPort | FetchKind::FcDst | FetchKind::FcDstPort => {
                let c = self.eng.conns.get(sess.conn)?;
                let a = match f.kind {
                    FetchKind::FcSrc | FetchKind::FcSrcPort => c.src,
                    _ => c.dst,
                }?;
                Some(match f.kind {
                    FetchKind::FcSrc | FetchKind::FcDst => Sample::Ip(a.ip()),
                    _ => Sample::Int(i64::from(a.port())),
                })
            }
            FetchKind::StkCtr { ctr, data } => {
                let c = self.tracked(*ctr)?;
                let t = self.eng.tables.get(c.table)?;
                let idx = if data.info()?.is_array() {
                    f.int_arg(0)
                        .and_then(|i| usize::try_from(i).ok())
                        .unwrap_or(0)
                } else {
                    0
                };
                data_sample(t, now, c.entry, *data, idx)
            }
            FetchKind::StkCtrOp { ctr, op } => match (self.tracked(*ctr), op) {
                (None, CtrOp::Tracked) => Some(Sample::Bool(false)),
                (None, _) => None,
                (Some(c), op) => self.ctr_op(c.table, c.entry, *op, f),
            },
            FetchKind::SrcTable { data } => {
                let t = self.table_arg(f)?;
                // An absent entry reads as 0, as HAProxy's src_* fetches do.
                let Some(e) = self.src_entry(t, false) else {
                    return Some(Sample::Int(0));
                };
                data_sample(self.eng.tables.get(t)?, now, e, *data, 0)
            }
            FetchKind::SrcTableOp { op } => {
                let t = self.table_arg(f)?;
                let create = matches!(op, CtrOp::Inc(_) | CtrOp::UpdtConnCnt);
                match self.src_entry(t, create) {
                    Some(e) => self.ctr_op(t, e, *op, f),
                    None if *op == CtrOp::Tracked => Some(Sample::Bool(false)),
                    None => Some(Sample::Int(0)),
                }
            }
            FetchKind::NbSrv => {
                let be = f
                    .str_arg(0)
                    .and_then(|n| self.eng.backend_by_name(n))
                    .unwrap_or(self.proxy);
                let b = self.eng.backend(be)?;
                Some(Sample::Int(
                    b.servers.iter().filter(|s| s.usable()).count() as i64
                ))
            }
            FetchKind::BeConn | FetchKind::ConnSlots => {
                let be = f
                    .str_arg(0)
                    .and_then(|n| self.eng.backend_by_name(n))
                    .unwrap_or(self.proxy);
                let b = self.eng.backend(be)?;
                if f.kind == FetchKind::BeConn {
                    return Some(Sample::Int(i64::from(b.beconn)));
                }
                let mut slots = 0i64;
                for s in b
                    .servers
                    .iter()
                    .filter(|s| s.state != crate::backend::server::SrvState::Stopped && !s.deleted)
                {
                    let (Some(maxconn), Some(maxqueue)) = (
                        s.maxconn_limits().0.filter(|m| *m > 0),
                        s.cfg.maxqueue.filter(|m| *m > 0),
                    ) else {
                        return Some(Sample::Int(-1));
                    };
                    slots += i64::from(maxconn) - i64::from(s.cur_sess) + i64::from(maxqueue)
                        - s.queue.len() as i64;
                }
                Some(Sample::Int(slots))
            }
            FetchKind::FeConn => {
                let fe = match f.str_arg(0).filter(|n| !n.is_empty()) {
                    Some(n) => self.eng.proxies.iter().find(|p| p.name == n)?,
                    None => &self.eng.proxies[sess.fe],
                };
                Some(Sample::Int(i64::from(fe.fe.as_ref()?.feconn)))
            }
            FetchKind::SrvConn => {
                let arg = f.str_arg(0)?;
                let (be, srv) = match arg.split_once('/') {
                    Some((be, srv)) => (self.eng.backend_by_name(be)?, srv),
                    None => (self.proxy, arg),
                };
                let b = self.eng.backend(be)?;
                let s = b.servers.iter().find(|s| s.cfg.name == srv && !s.deleted)?;
                Some(Sample::Int(i64::from(s.cur_sess)))
            }
            FetchKind::SrvIsUp => {
                let (be, srv) = f.str_arg(0)?.split_once('/')?;
                let be = self.eng.backend_by_name(be)?;
                let b = self.eng.backend(be)?;
                let s = b.servers.iter().find(|s| s.cfg.name == srv && !s.deleted)?;
                Some(Sample::Bool(
                    !s.admin.is_maint() && s.state != crate::backend::server::SrvState::Stopped,
                ))
            }
            FetchKind::Thread => Some(Sample::Int(i64::from(self.eng.opts.thread))),
            FetchKind::FeName => Some(Sample::str(&self.eng.proxies.get(sess.fe.idx())?.name)),
            FetchKind::BeName => Some(Sample::str(&self.eng.proxies.get(self.proxy.idx())?.name)),
            FetchKind::SslFc => Some(Sample::Bool(self.eng.conns.get(sess.conn)?.xprt.is_tls())),
            FetchKind::FcErr => self.eng.conns.get(sess.conn).map(|_| Sample::Int(0)),
            FetchKind::FcGlitches => self
                .eng
                .conns
                .get(sess.conn)
                .map(|c| Sample::Int(c.mux.h2().map_or(0, |h| i64::from(h.glitches)))),
            FetchKind::SslFcErr | FetchKind::SslCCaErr => {
                self.eng.conns.get(sess.conn)?.xprt.tls()?;
                Some(Sample::Int(0))
            }
            // An error `crt-ignore-err` let through (always the client
            // certificate's own: `conn::tls::verify_error_id`).
            FetchKind::SslCErr => {
                let t = self.eng.conns.get(sess.conn)?.xprt.tls()?;
                Some(Sample::Int(i64::from(t.verify_result())))
            }
            // False on a clear-text connection too, as HAProxy.
            FetchKind::SslFcIsResumed => {
                let c = self.eng.conns.get(sess.conn)?;
                Some(Sample::Bool(c.xprt.tls().is_some_and(|t| t.resumed())))
            }
            FetchKind::SslFcSni
            | FetchKind::SslFcProtocol
            | FetchKind::SslFcCipher
            | FetchKind::SslFcAlpn => {
                let t = self.eng.conns.get(sess.conn)?.xprt.tls()?;
                match f.kind {
                    FetchKind::SslFcSni => t.sni().map(Sample::str),
                    FetchKind::SslFcProtocol => t.version_name().map(Sample::str),
                    FetchKind::SslFcCipher => t.cipher_name().map(Sample::str),
                    _ => t.alpn().map(Sample::str),
                }
            }
            FetchKind::SslCUsed
            | FetchKind::SslCVerify
            | FetchKind::SslCSDn
            | FetchKind::SslCIDn
            | FetchKind::SslCSerial
            | FetchKind::SslCCert(_)
            | FetchKind::SslCSha1 => {
                let t = self.eng.conns.get(sess.conn)?.xprt.tls()?;
                client_cert_fetch(f, t)
            }
            FetchKind::SslFSha1 | FetchKind::SslFCert(_) => {
                let t = self.eng.conns.get(sess.conn)?.xprt.tls()?;
                let chain = t.served_chain()?;
                match f.kind {
                    FetchKind::SslFSha1 => Some(Sample::Bin(
                        crate::conn::x509::sha1(chain.first()?.as_ref()).to_vec(),
                    )),
                    FetchKind::SslFCert(p) => cert_part(f, p, chain),
                    _ => None,
                }
            }
            FetchKind::Var => self
                .eng
                .var_get(self.sess, None, f.var()?)
                .or_else(|| crate::vars::var_default(f)),
            FetchKind::FcPp { unique } => {
                let t = self.eng.conns.get(sess.conn)?.pp_tlvs.as_ref()?;
                let v = if *unique { t.1.as_ref() } else { t.0.as_ref() };
                v.map(|v| Sample::Str(v.clone()))
            }
            FetchKind::SoId | FetchKind::SoName => {
                let l = self.eng.listeners.get(sess.listener.0 as usize)?;
                match f.kind {
                    FetchKind::SoId => Some(Sample::Int(i64::from(l.luid))),
                    _ => l.name.as_deref().map(Sample::str),
                }
            }
            _ => None,
        }
    }
}

impl SessCtx<'_> {
    /// [`SampleCtx::table_conv`] (HAProxy's `sample_conv_table_*`): the
    /// entry is looked up, never created; no entry reads as 0 (false for
    /// `in_table`); a type the table does not store fails.
    pub(crate) fn table_conv_impl(
        &mut self,
        table: &crate::sample::TableRef,
        key: Sample,
        what: TableConv,
        idx: usize,
    ) -> Option<Sample> {
        let t = self.eng.tables.get(table.id?)?;
        let key = sample_to_key(t.params(), key)?;
        let Some(e) = t.lookup(&key) else {
            return Some(match what {
                TableConv::In => Sample::Bool(false),
                _ => Sample::Int(0),
            });
        };
        match what {
            TableConv::In => Some(Sample::Bool(true)),
            // HAProxy's lookup holds a reference while the converter
            // reads `ref_cnt`: the count includes it (1 for an entry no
            // stream tracks).
            TableConv::Trackers => Some(Sample::Int(i64::from(t.ref_cnt(e)?) + 1)),
            TableConv::Kbytes(dt) => {
                Some(Sample::Int(t.read_value(self.now, e, dt, 0).ok()? / 1024))
            }
            TableConv::Data(dt) => data_sample(t, self.now, e, dt, idx),
        }
    }
}

/// A version 4 UUID from the engine's PRNG, in HAProxy's format
/// (`ha_generate_uuid`: four 32-bit draws, lower-case hex).
pub(crate) fn uuid4(rng: &mut crate::rng::Rng) -> String {
    let r = [
        rng.next_u32(),
        rng.next_u32(),
        rng.next_u32(),
        rng.next_u32(),
    ];
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        r[0],
        r[1] & 0xFFFF,
        ((r[1] >> 16) & 0xFFF) | 0x4000,
        (r[2] & 0x3FFF) | 0x8000,
        (u64::from(r[2] >> 14) | (u64::from(r[3]) << 18)) & 0xFFFF_FFFF_FFFF
    )
}

/// The `ssl_c_*` fetches on a TLS client connection `t` (HAProxy's
/// `smp_fetch_ssl_x_*`): no certificate, no sample, except for
/// `ssl_c_used` (false) and `ssl_c_verify` (0, `X509_V_OK`).
fn client_cert_fetch(f: &crate::sample::Fetch, t: &crate::conn::tls::Tls) -> Option<Sample> {
    use crate::conn::x509;
    use crate::sample::CertPart;
    let cert = t.peer_cert();
    let part = match f.kind {
        FetchKind::SslCUsed => return Some(Sample::Bool(cert.is_some())),
        FetchKind::SslCVerify => return Some(Sample::Int(i64::from(t.verify_result()))),
        FetchKind::SslCSha1 => return Some(Sample::Bin(x509::sha1(cert?).to_vec())),
        FetchKind::SslCSerial => CertPart::Serial,
        FetchKind::SslCSDn => CertPart::SDn,
        FetchKind::SslCCert(p) => p,
        _ => CertPart::IDn,
    };
    let chain = t.peer_chain()?;
    if part == CertPart::ChainDer {
        // OpenSSL's `SSL_get_peer_cert_chain` on the server side leaves
        // the client's own certificate out: HAProxy's `ssl_c_chain_der`
        // is the certificates the client sent after it, no sample when
        // there are none.
        let rest = chain.get(1..).filter(|r| !r.is_empty())?;
        return Some(Sample::Bin(
            rest.iter().flat_map(|c| c.iter().copied()).collect(),
        ));
    }
    cert_part(f, part, chain)
}

/// What certificate fetch `f` reads (`part`) of the chain a peer sent,
/// its own certificate first (HAProxy's `smp_fetch_ssl_x_*`).
pub(crate) fn cert_part(
    f: &crate::sample::Fetch,
    part: crate::sample::CertPart,
    chain: &[rustls::pki_types::CertificateDer<'static>],
) -> Option<Sample> {
    use crate::conn::x509;
    use crate::sample::CertPart;
    let cert: &[u8] = chain.first()?.as_ref();
    let meta = || x509::cert_meta(cert);
    let name = match part {
        CertPart::Der => return Some(Sample::Bin(cert.to_vec())),
        CertPart::ChainDer => {
            return Some(Sample::Bin(
                chain.iter().flat_map(|c| c.iter().copied()).collect(),
            ))
        }
        CertPart::NotAfter => return x509::fetch_time(meta()?.not_after).map(Sample::Str),
        CertPart::NotBefore => return x509::fetch_time(meta()?.not_before).map(Sample::Str),
        CertPart::SigAlg => {
            return Some(Sample::str(
                x509::alg_short_name(meta()?.sig_alg).as_bytes(),
            ))
        }
        CertPart::KeyAlg => {
            return Some(Sample::str(
                x509::alg_short_name(meta()?.key_alg).as_bytes(),
            ))
        }
        CertPart::Version => return Some(Sample::Int(meta()?.version)),
        CertPart::Serial => return Some(Sample::Bin(x509::cert_info(cert)?.serial.to_vec())),
        CertPart::SDn => x509::cert_info(cert)?.subject,
        CertPart::IDn => x509::cert_info(cert)?.issuer,
    };
    let v = match f.str_arg(0).filter(|e| !e.is_empty()) {
        None => x509::dn_oneline(name)?,
        Some(entry) => x509::dn_entry(name, entry, f.int_arg(1).unwrap_or(0))?,
    };
    Some(Sample::Str(v))
}

impl Engine {
    /// `track-scN KEY [table T]`: starts tracking an entry in stick counter
    /// `ctr` of the session, unless that counter is already in use. The
    /// entry is referenced while tracked; the connection is counted on it.
    pub(crate) fn track_sc(
        &mut self,
        now: Time,
        sess: Id<Session>,
        ctr: u8,
        table: TableId,
        key: StKey,
    ) {
        let Some(se) = self.sessions.get(sess) else {
            return;
        };
        let slot = usize::from(ctr);
        if slot >= MAX_STKCTR || se.stkctr[slot].is_some() {
            return;
        }
        let Some(t) = self.tables.get_mut(table) else {
            return;
        };
        let Some(e) = t.get_or_create(now, key) else {
            return;
        };
        t.acquire(e);
        bump(t, e, DataType::CONN_CNT, 1);
        bump(t, e, DataType::CONN_CUR, 1);
        let _ = t.update_freq(now, e, DataType::CONN_RATE, 0, 1);
        t.touch_local(now, e);
        if let Some(se) = self.sessions.get_mut(sess) {
            se.stkctr[slot] = Some(StkCtr { table, entry: e });
            se.conn_cur_counted = true;
        }
    }
}
