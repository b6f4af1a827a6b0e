//! Samples, sample fetches and converters: HAProxy's `sample.c` and `arg.c`,
//! with the fetch keyword tables of `tcp_sample.c`, `http_fetch.c`,
//! `stick_table.c` and `vars.c`.
//!
//! A *sample expression* is a fetch followed by converters:
//! `req.hdr(x-api-key),lower`, `src,ipmask(24),crc32`. Parsing turns the
//! configuration text into a [`SampleExpr`]: a typed [`Fetch`] (what to
//! read, with its typed arguments) and a list of [`Conv`]s.
//!
//! ```text
//!   "req.hdr(host),lower"
//!     └─ fetch keyword ─ args (typed, HAProxy's make_arg_list rules) ─ ,conv(args) ─ ,conv ...
//!   SampleExpr::eval(ctx) = converters(ctx.fetch(&fetch))
//! ```
//!
//! Evaluation is delegated: the engine's stream/session implements
//! [`SampleCtx`] and answers [`SampleCtx::fetch`] for each [`FetchKind`];
//! this module applies the converters and HAProxy's type casts on top.
//! Constant fetches (`int(5)`, `str(x)`, `always_true`) never reach the
//! context.
//!
//! Invariants: parsing never panics on any text; every error is a
//! message shaped like HAProxy's (`unknown fetch method 'foo'`), without
//! the `file:line` prefix, which the caller adds.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::stick_table::DataType;

/// Most values a multi-valued fetch may produce for one ACL evaluation
/// (HAProxy bounds headers with `tune.http.maxhdr`, 101 by default).
pub const MAX_ITERATED_VALUES: usize = 128;

/// Longest sample expression or argument text accepted (bytes); longer
/// text is a configuration error, never a slow parse.
pub const MAX_EXPR_LEN: usize = 16 * 1024;

/// A sample: one typed value (HAProxy's `struct sample` data, `SMP_T_*`).
///
/// HAProxy's `SMP_T_IPV4`/`SMP_T_IPV6` are both [`Sample::Ip`]; its
/// `SMP_T_METH` is a [`Sample::Str`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sample {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    /// Text; not necessarily UTF-8 (header values are bytes).
    Str(Vec<u8>),
    Bin(Vec<u8>),
}

/// A sample type, as fetches and converters declare them (`SMP_T_*`).
/// [`SmpType::Addr`] is an IPv4 or IPv6 address; [`SmpType::Any`] is only
/// known at run time (`var()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SmpType {
    Any,
    Bool,
    Int,
    Addr,
    Ipv4,
    Ipv6,
    Str,
    Bin,
}

impl SmpType {
    /// HAProxy's name of the type (`smp_to_type[]`).
    pub fn name(self) -> &'static str {
        match self {
            SmpType::Any => "any",
            SmpType::Bool => "bool",
            SmpType::Int => "sint",
            SmpType::Addr => "addr",
            SmpType::Ipv4 => "ipv4",
            SmpType::Ipv6 => "ipv6",
            SmpType::Str => "str",
            SmpType::Bin => "bin",
        }
    }

    /// Whether a sample declared `self` may be cast to `to` (HAProxy's
    /// `sample_casts[from][to] != NULL`), checked when parsing. An address
    /// of unknown family allows what either family allows.
    pub fn can_cast(self, to: SmpType) -> bool {
        use SmpType::*;
        match (self, to) {
            (Any, _) | (_, Any) => true,
            (Bool, Bool | Int | Str) => true,
            (Bool, _) => false,
            (Int, _) => true,
            (Addr | Ipv4, Bool) => false,
            (Addr | Ipv4, _) => true,
            (Ipv6, Bool | Int) => false,
            (Ipv6, _) => true,
            (Str, _) => true,
            (Bin, Str | Bin) => true,
            (Bin, _) => false,
        }
    }
}

impl Sample {
    /// The sample's run-time type.
    pub fn smp_type(&self) -> SmpType {
        match self {
            Sample::Bool(_) => SmpType::Bool,
            Sample::Int(_) => SmpType::Int,
            Sample::Ip(IpAddr::V4(_)) => SmpType::Ipv4,
            Sample::Ip(IpAddr::V6(_)) => SmpType::Ipv6,
            Sample::Str(_) => SmpType::Str,
            Sample::Bin(_) => SmpType::Bin,
        }
    }

    /// A string sample.
    pub fn str(s: impl AsRef<[u8]>) -> Sample {
        Sample::Str(s.as_ref().to_vec())
    }

    /// Casts the sample to `to` with HAProxy's cast functions (`c_int2str`,
    /// `c_str2int`, `c_ip2ipv6`, ...). `None` when the cast is impossible
    /// (`Bin` to `Int`) or fails (`"x"` to an address, an IPv6 address that
    /// is not v4-mapped to IPv4, an empty string to an integer).
    pub fn cast(self, to: SmpType) -> Option<Sample> {
        match (self, to) {
            (s, SmpType::Any) => Some(s),
            (Sample::Bool(b), SmpType::Bool) => Some(Sample::Bool(b)),
            (Sample::Bool(b), SmpType::Int) => Some(Sample::Int(i64::from(b))),
            (Sample::Bool(b), SmpType::Str) => Some(Sample::str(if b { "1" } else { "0" })),
            (Sample::Bool(_), _) => None,
            (Sample::Int(i), to) => Some(cast_int(i, to)),
            (Sample::Ip(ip), to) => cast_ip(ip, to),
            (Sample::Str(s), to) => cast_str(s, to),
            (Sample::Bin(b), SmpType::Bin) => Some(Sample::Bin(b)),
            (Sample::Bin(mut b), SmpType::Str) => {
                // c_bin2str: a NUL ends the string.
                if let Some(n) = b.iter().position(|&c| c == 0) {
                    b.truncate(n);
                }
                Some(Sample::Str(b))
            }
            (Sample::Bin(_), _) => None,
        }
    }

    /// The sample as text (cast to `str`), for log-format rendering and
    /// header values.
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self.cast(SmpType::Str)? {
            Sample::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The sample as an integer (cast to `sint`).
    pub fn as_int(&self) -> Option<i64> {
        match self.clone().cast(SmpType::Int)? {
            Sample::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The sample as an IPv4 address (for `type ip` stick-table keys).
    pub fn to_ipv4(&self) -> Option<Ipv4Addr> {
        match self.clone().cast(SmpType::Ipv4)? {
            Sample::Ip(IpAddr::V4(a)) => Some(a),
            _ => None,
        }
    }

    /// The sample as an IPv6 address (for `type ipv6` stick-table keys).
    pub fn to_ipv6(&self) -> Option<Ipv6Addr> {
        match self.clone().cast(SmpType::Ipv6)? {
            Sample::Ip(IpAddr::V6(a)) => Some(a),
            _ => None,
        }
    }
}

fn cast_int(i: i64, to: SmpType) -> Sample {
    match to {
        // A boolean is an integer that is not zero (c_none).
        SmpType::Bool => Sample::Bool(i != 0),
        SmpType::Int | SmpType::Any => Sample::Int(i),
        // c_int2ip: the low 32 bits, host order.
        SmpType::Addr | SmpType::Ipv4 => Sample::Ip(IpAddr::V4(Ipv4Addr::from(i as u32))),
        SmpType::Ipv6 => Sample::Ip(IpAddr::V6(Ipv4Addr::from(i as u32).to_ipv6_mapped())),
        SmpType::Str => Sample::Str(i.to_string().into_bytes()),
        // c_int2bin: 8 bytes, network order.
        SmpType::Bin => Sample::Bin(i.to_be_bytes().to_vec()),
    }
}

fn cast_ip(ip: IpAddr, to: SmpType) -> Option<Sample> {
    match (ip, to) {
        (_, SmpType::Addr | SmpType::Any) => Some(Sample::Ip(ip)),
        (IpAddr::V4(a), SmpType::Int) => Some(Sample::Int(i64::from(u32::from(a)))),
        (IpAddr::V4(_), SmpType::Ipv4) | (IpAddr::V6(_), SmpType::Ipv6) => Some(Sample::Ip(ip)),
        (IpAddr::V4(a), SmpType::Ipv6) => Some(Sample::Ip(IpAddr::V6(a.to_ipv6_mapped()))),
        // v6tov4: only a v4-mapped address converts.
        (IpAddr::V6(a), SmpType::Ipv4) => a.to_ipv4_mapped().map(|a| Sample::Ip(IpAddr::V4(a))),
        (_, SmpType::Str) => Some(Sample::Str(ip.to_string().into_bytes())),
        (IpAddr::V4(a), SmpType::Bin) => Some(Sample::Bin(a.octets().to_vec())),
        (IpAddr::V6(a), SmpType::Bin) => Some(Sample::Bin(a.octets().to_vec())),
        (_, SmpType::Bool) | (IpAddr::V6(_), SmpType::Int) => None,
    }
}

fn cast_str(s: Vec<u8>, to: SmpType) -> Option<Sample> {
    match to {
        SmpType::Any | SmpType::Str => Some(Sample::Str(s)),
        SmpType::Bin => Some(Sample::Bin(s)),
        // c_str2int: an empty string fails, otherwise read_int64.
        SmpType::Int | SmpType::Bool if s.is_empty() => None,
        SmpType::Int => Some(Sample::Int(read_int64(&s).0)),
        SmpType::Bool => Some(Sample::Bool(read_int64(&s).0 != 0)),
        SmpType::Addr => parse_ip_bytes(&s).map(Sample::Ip),
        SmpType::Ipv4 => parse_v4(&s).map(|a| Sample::Ip(IpAddr::V4(a))),
        SmpType::Ipv6 => core::str::from_utf8(&s)
            .ok()?
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| Sample::Ip(IpAddr::V6(a))),
    }
}

fn parse_v4(s: &[u8]) -> Option<Ipv4Addr> {
    core::str::from_utf8(s).ok()?.parse().ok()
}

fn parse_ip_bytes(s: &[u8]) -> Option<IpAddr> {
    let t = core::str::from_utf8(s).ok()?;
    t.parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .or_else(|_| t.parse::<Ipv6Addr>().map(IpAddr::V6))
        .ok()
}

/// HAProxy's `read_int64`: an optional sign, then decimal digits up to the
/// first non-digit; wraps on overflow like the C code. Returns the value
/// and the number of bytes consumed.
pub fn read_int64(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut v: u64 = 0;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        i += 1;
    }
    let v = v as i64;
    (if neg { v.wrapping_neg() } else { v }, i)
}

/// Which message a header fetch reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The request (`req.hdr`).
    Req,
    /// The response (`res.hdr`, `shdr`).
    Res,
    /// The message being processed: the request in request rules, the
    /// response in response rules (`hdr`, `hdr_cnt`).
    Any,
}

/// An operation of a stick-counter fetch other than reading a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrOp {
    /// `sc0_inc_gpc0`, `src_inc_gpc1`, `sc_inc_gpc(idx,ctr)`: increment and
    /// return the new value (also updates the matching rate).
    Inc(DataType),
    /// `sc0_clr_gpc0`, ...: reset to zero and return the previous value.
    Clr(DataType),
    /// `sc0_kbytes_in`, `sc0_kbytes_out`: the byte count divided by 1024.
    Kbytes(DataType),
    /// `sc0_tracked`: whether the counter is tracked (boolean).
    Tracked,
    /// `sc0_trackers`: how many sessions track the entry.
    Trackers,
    /// `src_updt_conn_cnt`: increment the source's `conn_cnt` and return it.
    UpdtConnCnt,
}

/// What a fetch reads (HAProxy's `struct sample_fetch` identity). Its
/// arguments are in [`Fetch::args`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchKind {
    /// A constant: `always_true`, `always_false`, `int(5)`, `str(x)`,
    /// `bool(1)`, `ipv4(..)`, `ipv6(..)`. Evaluated here, never by the context.
    Const(Sample),
    /// `src`: the client address.
    Src,
    /// `src_port`.
    SrcPort,
    /// `dst`: the address the client connected to.
    Dst,
    /// `dst_port`.
    DstPort,
    /// A value of a tracked stick counter: `sc0_conn_rate`,
    /// `sc_http_req_rate(1)`, `sc2_get_gpc0`. `data` is the stored type
    /// read; for the arrays (`sc0_get_gpt(idx)`), the index is the first
    /// argument. A `table` argument, when given, names the table to look
    /// the tracked key up in instead of the tracked one.
    StkCtr {
        ctr: u8,
        data: DataType,
    },
    /// Another operation on a tracked counter (`sc0_inc_gpc0`, `sc1_tracked`).
    StkCtrOp {
        ctr: u8,
        op: CtrOp,
    },
    /// A value of the client address's entry: `src_conn_rate([table])`;
    /// the table argument is always there (the proxy's own by default).
    SrcTable {
        data: DataType,
    },
    /// Another operation on the client address's entry (`src_inc_gpc0`).
    SrcTableOp {
        op: CtrOp,
    },
    /// `var(scope.name)`: a variable (type known at run time).
    Var,
    /// `nbsrv([backend])`: usable servers of a backend (this one by default).
    NbSrv,
    /// `fe_name`, `be_name`.
    FeName,
    BeName,
    /// `ssl_fc`: the client connection uses TLS (false until Sluice has TLS).
    SslFc,
    /// `ssl_fc_sni`.
    SslFcSni,
    /// `req.len` (`req_len`): bytes in the request buffer.
    ReqLen,
    /// `req.payload(offset,length)`.
    ReqPayload,
    /// `req.ssl_sni` (`req_ssl_sni`): the SNI of a TLS ClientHello in the
    /// request buffer (TCP mode).
    ReqSslSni,
    /// `req.proto_http` (`req_proto_http`): the request buffer holds HTTP.
    ReqProtoHttp,
    /// `wait_end`: true once `tcp-request inspect-delay` expired.
    WaitEnd,
    /// `method`.
    Method,
    /// `path`: the path of the URI, without the query string.
    Path,
    /// `pathq`: path and query string.
    PathQ,
    /// `url`: the URI as received.
    Url,
    /// `base`: Host header and path.
    Base,
    /// `query`: the query string, without `?`.
    Query,
    /// `url_param(name[,delim])` (`urlp`).
    UrlParam,
    /// `req.ver` (`req_ver`): `1.1`, `2.0`.
    ReqVer,
    /// `res.ver` (`resp_ver`).
    ResVer,
    /// `status`: the response status code.
    Status,
    /// `req.hdr(name[,occ])`, `res.hdr`, `hdr` (`full`: `req.fhdr`, the
    /// whole line, not split on commas). Names are kept as written and
    /// compare case-insensitively. Without an occurrence, an ACL iterates
    /// over every value and a sample expression takes the last one; a
    /// negative occurrence counts from the last.
    Hdr {
        dir: Dir,
        full: bool,
    },
    /// `req.hdr_cnt(name)`, `res.hdr_cnt`, `hdr_cnt`, `req.fhdr_cnt`.
    HdrCnt {
        dir: Dir,
        full: bool,
    },
    /// `req.hdr_val(name[,occ])`: the header value as an integer.
    HdrVal {
        dir: Dir,
    },
    /// `req.hdr_ip(name[,occ])`: the header value as an address.
    HdrIp {
        dir: Dir,
    },
    /// `req.cook(name)` (`cook`), `res.cook` (`scook`).
    Cook {
        dir: Dir,
    },
    /// A log-format variable (`%ci`, `%T`, `%ST`): only in log-format
    /// strings, named without the `%`.
    LogVar(String),
}

/// A variable scope (`proc.`, `sess.`, `txn.`, `req.`, `res.`, `check.`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VarScope {
    Proc,
    Sess,
    Txn,
    Req,
    Res,
    Check,
}

/// A variable name with its scope (`txn.country`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VarName {
    pub scope: VarScope,
    /// The name after the scope's dot.
    pub name: String,
}

impl VarName {
    /// Parses `scope.name` (HAProxy's `vars_check_arg`/`register_name`).
    pub fn parse(text: &str) -> Result<VarName, String> {
        let (scope, name) = match text.split_once('.') {
            Some(("proc", n)) => (VarScope::Proc, n),
            Some(("sess", n)) => (VarScope::Sess, n),
            Some(("txn", n)) => (VarScope::Txn, n),
            Some(("req", n)) => (VarScope::Req, n),
            Some(("res", n)) => (VarScope::Res, n),
            Some(("check", n)) => (VarScope::Check, n),
            _ => {
                return Err(format!(
                    "invalid variable name '{text}'. A variable name must be start by its scope. \
                     The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"
                ))
            }
        };
        if name.is_empty() {
            return Err(format!("missing variable name in '{text}'"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
        {
            return Err(format!(
                "character '{c}' is not permitted in variable name '{text}'"
            ));
        }
        Ok(VarName {
            scope,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.scope {
            VarScope::Proc => "proc",
            VarScope::Sess => "sess",
            VarScope::Txn => "txn",
            VarScope::Req => "req",
            VarScope::Res => "res",
            VarScope::Check => "check",
        };
        write!(f, "{s}.{}", self.name)
    }
}

/// A stick table named in a rule or a fetch argument, resolved to its
/// index when the rule set is built (HAProxy's `ARGT_TAB` after
/// `smp_resolve_args`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    /// The table as written (`mesh/src_rates`, a proxy name); the proxy's
    /// own name when the configuration names none.
    pub name: String,
    /// Index given by the table lookup; `None` when parsed without one
    /// ([`ParseCtx::detached`]).
    pub id: Option<crate::stick_table::TableId>,
}

/// A compiled regular expression (HAProxy's `struct my_regex`): bytes, no
/// Unicode classes, like PCRE without UTF mode.
#[derive(Clone)]
pub struct Regex {
    /// The expression as written.
    pub source: String,
    /// Case-insensitive (`-i`, regsub's `i` flag).
    pub icase: bool,
    re: regex::bytes::Regex,
}

impl Regex {
    /// Compiles `source`; the error reads like HAProxy's `regex_comp`.
    pub fn new(source: &str, icase: bool) -> Result<Regex, String> {
        let re = regex::bytes::RegexBuilder::new(source)
            .unicode(false)
            .case_insensitive(icase)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 21)
            .build()
            .map_err(|e| {
                let msg = e.to_string();
                let line = msg
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("error: "))
                    .unwrap_or(msg.lines().last().unwrap_or("invalid"))
                    .to_string();
                format!("regex '{source}' is invalid: {line}")
            })?;
        Ok(Regex {
            source: source.to_string(),
            icase,
            re,
        })
    }

    /// Whether the expression matches anywhere in `s` (`regex_exec2`).
    pub fn is_match(&self, s: &[u8]) -> bool {
        self.re.is_match(s)
    }

    /// The compiled expression, for substitutions.
    pub fn inner(&self) -> &regex::bytes::Regex {
        &self.re
    }
}

impl PartialEq for Regex {
    fn eq(&self, o: &Regex) -> bool {
        self.source == o.source && self.icase == o.icase
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Regex({:?}{})",
            self.source,
            if self.icase { ", i" } else { "" }
        )
    }
}

/// A typed argument of a fetch or converter (HAProxy's `struct arg`).
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Int(i64),
    Str(String),
    /// A stick table (`ARGT_TAB`).
    Table(TableRef),
    /// A backend name (`ARGT_BE`); empty: the current backend.
    Backend(String),
    /// A variable (`ARGT_VAR`).
    Var(VarName),
    /// An IPv4 address or mask (`ARGT_IPV4`, `ARGT_MSK4`).
    Ipv4(Ipv4Addr),
    /// An IPv6 address or mask (`ARGT_IPV6`, `ARGT_MSK6`).
    Ipv6(Ipv6Addr),
    /// A regular expression (`ARGT_REG`).
    Regex(Regex),
}

/// A sample fetch with its arguments (HAProxy's `struct sample_expr`
/// fetch part): `req.hdr(host)` is `Hdr { dir: Req }` with `[Str("host")]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetch {
    pub kind: FetchKind,
    pub args: Vec<Arg>,
    /// The keyword as HAProxy names it (`req.hdr`, `sc0_conn_rate`).
    pub kw: String,
}

impl Fetch {
    /// A fetch without arguments.
    pub fn new(kind: FetchKind, kw: &str) -> Fetch {
        Fetch {
            kind,
            args: Vec::new(),
            kw: kw.to_string(),
        }
    }

    /// The table argument, if any.
    pub fn table(&self) -> Option<&TableRef> {
        self.args.iter().find_map(|a| match a {
            Arg::Table(t) => Some(t),
            _ => None,
        })
    }

    /// The `n`th argument as an integer.
    pub fn int_arg(&self, n: usize) -> Option<i64> {
        match self.args.get(n) {
            Some(Arg::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The `n`th argument as a string (header, parameter, backend name).
    pub fn str_arg(&self, n: usize) -> Option<&str> {
        match self.args.get(n) {
            Some(Arg::Str(s)) | Some(Arg::Backend(s)) => Some(s),
            _ => None,
        }
    }

    /// The variable a `var()` fetch reads.
    pub fn var(&self) -> Option<&VarName> {
        self.args.iter().find_map(|a| match a {
            Arg::Var(v) => Some(v),
            _ => None,
        })
    }

    /// What the fetch reads from, for checking where it may be used.
    pub fn layer(&self) -> Layer {
        layer_of(&self.kind)
    }
}

/// Where the data a fetch reads comes from (HAProxy's `SMP_SRC_*` groups),
/// which decides in which rules it is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// Constants, variables, proxy and server state, stick counters.
    Internal,
    /// The connection's addresses and transport.
    L4,
    /// The request buffer contents (TCP inspection).
    ReqContent,
    /// The HTTP request.
    HttpReq,
    /// The HTTP response.
    HttpRes,
    /// The HTTP message being processed (request or response).
    HttpAny,
}

impl Layer {
    /// How HAProxy describes the source in its messages.
    pub fn describe(self) -> &'static str {
        match self {
            Layer::Internal => "internal state",
            Layer::L4 => "layer 4 connection information",
            Layer::ReqContent => "request contents",
            Layer::HttpReq => "HTTP request headers",
            Layer::HttpRes => "HTTP response headers",
            Layer::HttpAny => "HTTP message headers",
        }
    }
}

fn layer_of(k: &FetchKind) -> Layer {
    use FetchKind::*;
    match k {
        Const(_) | StkCtr { .. } | StkCtrOp { .. } | Var | NbSrv | FeName | BeName => {
            Layer::Internal
        }
        LogVar(_) => Layer::Internal,
        Src | SrcPort | Dst | DstPort | SslFc | SslFcSni | SrcTable { .. } | SrcTableOp { .. } => {
            Layer::L4
        }
        ReqLen | ReqPayload | ReqSslSni | ReqProtoHttp | WaitEnd => Layer::ReqContent,
        Method | Path | PathQ | Url | Base | Query | UrlParam | ReqVer => Layer::HttpReq,
        Hdr { dir, .. } | HdrCnt { dir, .. } | HdrVal { dir } | HdrIp { dir } | Cook { dir } => {
            match dir {
                Dir::Req => Layer::HttpReq,
                Dir::Res => Layer::HttpRes,
                Dir::Any => Layer::HttpAny,
            }
        }
        ResVer | Status => Layer::HttpRes,
    }
}

/// What a converter does (HAProxy's `struct sample_conv` identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    Lower,
    Upper,
    /// `ipmask(mask4[,mask6])`.
    IpMask,
    /// `bool`: non-zero is true.
    Bool,
    /// `not`: zero is true.
    Not,
    Odd,
    Even,
    /// `length`: the string length.
    Length,
    /// `add(v)`, `sub(v)`, `mul(v)`, `div(v)`, `mod(v)`, `and(v)`, `or(v)`,
    /// `xor(v)`: `v` an integer or a variable. Saturating like HAProxy;
    /// division by zero gives `i64::MAX`, modulo by zero 0.
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
    Neg,
    /// `crc32([avalanche])`: CRC-32 (IEEE) of the binary form.
    Crc32,
    /// `djb2([avalanche])`.
    Djb2,
    /// `hex`: upper-case hexadecimal of the binary form.
    Hex,
    /// `regsub(regex,subst[,flags])`: `\1`..`\9` in `subst`, flags `i`, `g`.
    Regsub,
    /// `field(index,delimiters[,count])`.
    Field,
    /// `word(index,delimiters[,count])`.
    Word,
}

/// A converter with its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub kind: ConvKind,
    pub args: Vec<Arg>,
    pub kw: &'static str,
    /// The type the input is cast to first.
    pub input: SmpType,
}

/// A sample expression: a fetch and its converters (HAProxy's
/// `struct sample_expr`).
#[derive(Clone, Debug, PartialEq)]
pub struct SampleExpr {
    pub fetch: Fetch,
    pub convs: Vec<Conv>,
    /// The type the expression produces, as declared (`smp_expr_output_type`).
    pub out_type: SmpType,
}

/// What the engine gives sample expressions to read from: implemented by
/// the stream or session (the data path), and by test doubles.
///
/// HAProxy's fetch functions get `(px, sess, strm, opt)`; here the whole
/// context is behind this trait, so this module never needs to know how
/// streams are laid out.
pub trait SampleCtx {
    /// Fetches one value of `f`, or `None` when there is none (no such
    /// header, counter not tracked, not available in this context).
    /// Multi-valued fetches (`req.hdr(x)` without occurrence) return the
    /// last value here, as HAProxy does in sample expressions.
    fn fetch(&mut self, f: &Fetch) -> Option<Sample>;

    /// Every value of `f`, in order (HAProxy's `SMP_OPT_ITERATE`, used by
    /// ACLs: `hdr(x)` matches if any value matches). The default is
    /// [`SampleCtx::fetch`]'s single value. At most
    /// [`MAX_ITERATED_VALUES`] are looked at.
    fn fetch_all(&mut self, f: &Fetch, out: &mut Vec<Sample>) {
        out.extend(self.fetch(f));
    }

    /// Whether the result of `f` may still change because the data it
    /// reads is incomplete (HAProxy's `SMP_F_MAY_CHANGE` without
    /// `SMP_OPT_FINAL`): `req.len` while `tcp-request inspect-delay` runs.
    /// A condition that fails on such data is a miss, not a failure.
    fn may_change(&mut self, _f: &Fetch) -> bool {
        false
    }
}

impl SampleExpr {
    /// Evaluates the expression: fetch (through `ctx`, or the constant),
    /// then each converter. `None` when the fetch finds nothing or a
    /// converter or cast fails.
    pub fn eval(&self, ctx: &mut dyn SampleCtx) -> Option<Sample> {
        let s = match &self.fetch.kind {
            FetchKind::Const(s) => s.clone(),
            _ => ctx.fetch(&self.fetch)?,
        };
        self.convert(s, ctx)
    }

    /// Evaluates the expression as a `type` (casting the result).
    pub fn eval_as(&self, ctx: &mut dyn SampleCtx, to: SmpType) -> Option<Sample> {
        self.eval(ctx)?.cast(to)
    }

    /// Every value (see [`SampleCtx::fetch_all`]), each converted; a
    /// value whose conversion fails ends the iteration, as in HAProxy.
    pub fn eval_all(&self, ctx: &mut dyn SampleCtx, out: &mut Vec<Sample>) {
        let mut raw = Vec::new();
        match &self.fetch.kind {
            FetchKind::Const(s) => raw.push(s.clone()),
            _ => ctx.fetch_all(&self.fetch, &mut raw),
        }
        raw.truncate(MAX_ITERATED_VALUES);
        for s in raw {
            match self.convert(s, ctx) {
                Some(v) => out.push(v),
                None => break,
            }
        }
    }

    /// Applies the converters to `s`.
    pub fn convert(&self, mut s: Sample, ctx: &mut dyn SampleCtx) -> Option<Sample> {
        for c in &self.convs {
            s = apply_conv(c, s, ctx)?;
        }
        Some(s)
    }

    /// Whether every value this expression may read is available at
    /// `layer`-compatible places (see [`Layer`]).
    pub fn layer(&self) -> Layer {
        self.fetch.layer()
    }

    /// Parses a whole sample expression (`req.hdr(host),lower`).
    pub fn parse(text: &str, ctx: &ParseCtx<'_>) -> Result<SampleExpr, String> {
        let (e, end) = parse_expr(text, ctx, true)?;
        debug_assert_eq!(end, text.len());
        Ok(e)
    }

    /// Parses a sample expression at the start of `text` and returns it
    /// with the number of bytes it used (HAProxy's `sample_parse_expr`
    /// with `endptr`), for `%[expr]` in log-format strings.
    pub fn parse_prefix(text: &str, ctx: &ParseCtx<'_>) -> Result<(SampleExpr, usize), String> {
        parse_expr(text, ctx, false)
    }
}

/// Maps a stick table name (`mesh/t`, a proxy name) to its index.
pub type TableLookup<'a> = &'a dyn Fn(&str) -> Option<crate::stick_table::TableId>;

/// What the parser needs to know about the place an expression is
/// written in: the proxy (its own table and backend are the defaults of
/// `table`/`backend` arguments), and how to resolve names.
#[derive(Clone, Copy)]
pub struct ParseCtx<'a> {
    /// The proxy the expression belongs to.
    pub proxy: &'a str,
    /// Table name to index; `None`: leave tables unresolved, never fail.
    pub tables: Option<TableLookup<'a>>,
    /// Whether a backend exists; `None`: do not check.
    pub backends: Option<&'a dyn Fn(&str) -> bool>,
}

impl fmt::Debug for ParseCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseCtx")
            .field("proxy", &self.proxy)
            .field("tables", &self.tables.map(|_| "<fn>"))
            .field("backends", &self.backends.map(|_| "<fn>"))
            .finish()
    }
}

impl ParseCtx<'static> {
    /// A context that resolves nothing and checks no names: for parsing
    /// out of a configuration (tests, fuzzing, the CLI).
    pub fn detached() -> ParseCtx<'static> {
        ParseCtx {
            proxy: "",
            tables: None,
            backends: None,
        }
    }
}

impl ParseCtx<'_> {
    /// Resolves a table argument (`name` empty: the proxy's own table).
    pub fn table(&self, name: &str, what: &str) -> Result<TableRef, String> {
        let name = if name.is_empty() { self.proxy } else { name };
        let Some(lookup) = self.tables else {
            return Ok(TableRef {
                name: name.to_string(),
                id: None,
            });
        };
        match lookup(name) {
            Some(id) => Ok(TableRef {
                name: name.to_string(),
                id: Some(id),
            }),
            None => Err(format!(
                "unable to find table '{name}' referenced by {what} in proxy '{}'",
                self.proxy
            )),
        }
    }
}

/// HAProxy's `is_idchar`: characters of fetch, converter and ACL names.
pub fn is_idchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b':')
}

fn id_len(s: &[u8]) -> usize {
    s.iter().position(|&c| !is_idchar(c)).unwrap_or(s.len())
}

/// An argument type (HAProxy's `ARGT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgType {
    Int,
    Str,
    Table,
    Backend,
    Var,
    Msk4,
    Msk6,
    /// An integer or a variable name (arithmetic converters).
    IntOrVar,
    /// `true`/`false`/an integer (`bool()`).
    BoolLit,
    Ipv4,
    Ipv6,
}

impl ArgType {
    fn name(self) -> &'static str {
        match self {
            ArgType::Int | ArgType::BoolLit => "integer",
            ArgType::Str | ArgType::IntOrVar => "string",
            ArgType::Table => "table",
            ArgType::Backend => "backend",
            ArgType::Var => "variable",
            ArgType::Msk4 => "IPv4 mask",
            ArgType::Msk6 => "IPv6 mask",
            ArgType::Ipv4 => "IPv4 address",
            ArgType::Ipv6 => "IPv6 address",
        }
    }

    /// Types that may be left empty and then take a default.
    fn defaults_when_empty(self) -> bool {
        matches!(self, ArgType::Str | ArgType::Table | ArgType::Backend)
    }
}

/// An argument list: types, and how many are mandatory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArgSpec {
    pub types: &'static [ArgType],
    pub min: usize,
}

const NO_ARGS: ArgSpec = ArgSpec { types: &[], min: 0 };

/// A fetch keyword (HAProxy's `struct sample_fetch` entry).
struct FetchDef {
    kw: &'static str,
    kind: FetchKind,
    args: ArgSpec,
    out: SmpType,
}

macro_rules! spec {
    ($min:expr; $($t:ident),*) => { ArgSpec { types: &[$(ArgType::$t),*], min: $min } };
}

const fn fd(kw: &'static str, kind: FetchKind, args: ArgSpec, out: SmpType) -> FetchDef {
    FetchDef {
        kw,
        kind,
        args,
        out,
    }
}

const HREQ: Dir = Dir::Req;
const HRES: Dir = Dir::Res;
const HANY: Dir = Dir::Any;

/// The fetch keywords Sluice knows, other than stick counters (which are
/// generated from their names: see `counter_fetch`).
static FETCHES: &[FetchDef] = &[
    fd(
        "always_true",
        FetchKind::Const(Sample::Bool(true)),
        NO_ARGS,
        SmpType::Bool,
    ),
    fd(
        "always_false",
        FetchKind::Const(Sample::Bool(false)),
        NO_ARGS,
        SmpType::Bool,
    ),
    fd("src", FetchKind::Src, NO_ARGS, SmpType::Addr),
    fd("src_port", FetchKind::SrcPort, NO_ARGS, SmpType::Int),
    fd("dst", FetchKind::Dst, NO_ARGS, SmpType::Addr),
    fd("dst_port", FetchKind::DstPort, NO_ARGS, SmpType::Int),
    fd("var", FetchKind::Var, spec!(1; Var), SmpType::Any),
    fd("nbsrv", FetchKind::NbSrv, spec!(1; Backend), SmpType::Int),
    fd("fe_name", FetchKind::FeName, NO_ARGS, SmpType::Str),
    fd("be_name", FetchKind::BeName, NO_ARGS, SmpType::Str),
    fd("ssl_fc", FetchKind::SslFc, NO_ARGS, SmpType::Bool),
    fd("ssl_fc_sni", FetchKind::SslFcSni, NO_ARGS, SmpType::Str),
    fd("req.len", FetchKind::ReqLen, NO_ARGS, SmpType::Int),
    fd("req_len", FetchKind::ReqLen, NO_ARGS, SmpType::Int),
    fd(
        "req.payload",
        FetchKind::ReqPayload,
        spec!(2; Int, Int),
        SmpType::Bin,
    ),
    fd("req.ssl_sni", FetchKind::ReqSslSni, NO_ARGS, SmpType::Str),
    fd("req_ssl_sni", FetchKind::ReqSslSni, NO_ARGS, SmpType::Str),
    fd(
        "req.proto_http",
        FetchKind::ReqProtoHttp,
        NO_ARGS,
        SmpType::Bool,
    ),
    fd(
        "req_proto_http",
        FetchKind::ReqProtoHttp,
        NO_ARGS,
        SmpType::Bool,
    ),
    fd("wait_end", FetchKind::WaitEnd, NO_ARGS, SmpType::Bool),
    fd("method", FetchKind::Method, NO_ARGS, SmpType::Str),
    fd("path", FetchKind::Path, NO_ARGS, SmpType::Str),
    fd("pathq", FetchKind::PathQ, NO_ARGS, SmpType::Str),
    fd("url", FetchKind::Url, NO_ARGS, SmpType::Str),
    fd("base", FetchKind::Base, NO_ARGS, SmpType::Str),
    fd("query", FetchKind::Query, NO_ARGS, SmpType::Str),
    fd(
        "url_param",
        FetchKind::UrlParam,
        spec!(0; Str, Str),
        SmpType::Str,
    ),
    fd(
        "urlp",
        FetchKind::UrlParam,
        spec!(0; Str, Str),
        SmpType::Str,
    ),
    fd("req.ver", FetchKind::ReqVer, NO_ARGS, SmpType::Str),
    fd("req_ver", FetchKind::ReqVer, NO_ARGS, SmpType::Str),
    fd("res.ver", FetchKind::ResVer, NO_ARGS, SmpType::Str),
    fd("resp_ver", FetchKind::ResVer, NO_ARGS, SmpType::Str),
    fd("status", FetchKind::Status, NO_ARGS, SmpType::Int),
    fd(
        "req.hdr",
        FetchKind::Hdr {
            dir: HREQ,
            full: false,
        },
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "req.fhdr",
        FetchKind::Hdr {
            dir: HREQ,
            full: true,
        },
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "hdr",
        FetchKind::Hdr {
            dir: HANY,
            full: false,
        },
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "fhdr",
        FetchKind::Hdr {
            dir: HANY,
            full: true,
        },
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "res.hdr",
        FetchKind::Hdr {
            dir: HRES,
            full: false,
        },
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "res.fhdr",
        FetchKind::Hdr {
            dir: HRES,
            full: true,
        },
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "shdr",
        FetchKind::Hdr {
            dir: HRES,
            full: false,
        },
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "req.hdr_cnt",
        FetchKind::HdrCnt {
            dir: HREQ,
            full: false,
        },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "req.fhdr_cnt",
        FetchKind::HdrCnt {
            dir: HREQ,
            full: true,
        },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "hdr_cnt",
        FetchKind::HdrCnt {
            dir: HANY,
            full: false,
        },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "res.hdr_cnt",
        FetchKind::HdrCnt {
            dir: HRES,
            full: false,
        },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "res.fhdr_cnt",
        FetchKind::HdrCnt {
            dir: HRES,
            full: true,
        },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "shdr_cnt",
        FetchKind::HdrCnt {
            dir: HRES,
            full: false,
        },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "req.hdr_val",
        FetchKind::HdrVal { dir: HREQ },
        spec!(0; Str, Int),
        SmpType::Int,
    ),
    fd(
        "hdr_val",
        FetchKind::HdrVal { dir: HANY },
        spec!(0; Str, Int),
        SmpType::Int,
    ),
    fd(
        "res.hdr_val",
        FetchKind::HdrVal { dir: HRES },
        spec!(0; Str, Int),
        SmpType::Int,
    ),
    fd(
        "shdr_val",
        FetchKind::HdrVal { dir: HRES },
        spec!(0; Str, Int),
        SmpType::Int,
    ),
    fd(
        "req.hdr_ip",
        FetchKind::HdrIp { dir: HREQ },
        spec!(0; Str, Int),
        SmpType::Addr,
    ),
    fd(
        "hdr_ip",
        FetchKind::HdrIp { dir: HANY },
        spec!(0; Str, Int),
        SmpType::Addr,
    ),
    fd(
        "res.hdr_ip",
        FetchKind::HdrIp { dir: HRES },
        spec!(0; Str, Int),
        SmpType::Addr,
    ),
    fd(
        "req.cook",
        FetchKind::Cook { dir: HREQ },
        spec!(0; Str),
        SmpType::Str,
    ),
    fd(
        "cook",
        FetchKind::Cook { dir: HREQ },
        spec!(0; Str),
        SmpType::Str,
    ),
    fd(
        "res.cook",
        FetchKind::Cook { dir: HRES },
        spec!(0; Str),
        SmpType::Str,
    ),
    fd(
        "scook",
        FetchKind::Cook { dir: HRES },
        spec!(0; Str),
        SmpType::Str,
    ),
    // Constants: the argument is turned into the sample when parsing.
    fd(
        "int",
        FetchKind::Const(Sample::Int(0)),
        spec!(1; Int),
        SmpType::Int,
    ),
    fd(
        "str",
        FetchKind::Const(Sample::Bool(false)),
        spec!(1; Str),
        SmpType::Str,
    ),
    fd(
        "bool",
        FetchKind::Const(Sample::Bool(false)),
        spec!(1; BoolLit),
        SmpType::Bool,
    ),
    fd(
        "ipv4",
        FetchKind::Const(Sample::Bool(false)),
        spec!(1; Ipv4),
        SmpType::Addr,
    ),
    fd(
        "ipv6",
        FetchKind::Const(Sample::Bool(false)),
        spec!(1; Ipv6),
        SmpType::Addr,
    ),
];

/// Every fetch keyword name Sluice knows except the stick-counter family
/// (`sc0_*`, `sc_*`, `src_*`), in table order.
pub fn fetch_keywords() -> impl Iterator<Item = &'static str> {
    FETCHES.iter().map(|f| f.kw)
}

/// What a stick-counter keyword suffix reads.
#[derive(Clone, Copy)]
enum CtrWhat {
    Data(DataType),
    Op(CtrOp),
}

/// Stick-counter keyword suffixes: `sc0_<suffix>`, `sc_<suffix>(ctr)`,
/// `src_<suffix>`, with `array` for the `gpt`/`gpc` arrays (index first).
static COUNTERS: &[(&str, CtrWhat, bool)] = &[
    ("conn_cnt", CtrWhat::Data(DataType::CONN_CNT), false),
    ("conn_cur", CtrWhat::Data(DataType::CONN_CUR), false),
    ("conn_rate", CtrWhat::Data(DataType::CONN_RATE), false),
    ("sess_cnt", CtrWhat::Data(DataType::SESS_CNT), false),
    ("sess_rate", CtrWhat::Data(DataType::SESS_RATE), false),
    ("http_req_cnt", CtrWhat::Data(DataType::HTTP_REQ_CNT), false),
    (
        "http_req_rate",
        CtrWhat::Data(DataType::HTTP_REQ_RATE),
        false,
    ),
    ("http_err_cnt", CtrWhat::Data(DataType::HTTP_ERR_CNT), false),
    (
        "http_err_rate",
        CtrWhat::Data(DataType::HTTP_ERR_RATE),
        false,
    ),
    (
        "http_fail_cnt",
        CtrWhat::Data(DataType::HTTP_FAIL_CNT),
        false,
    ),
    (
        "http_fail_rate",
        CtrWhat::Data(DataType::HTTP_FAIL_RATE),
        false,
    ),
    (
        "bytes_in_rate",
        CtrWhat::Data(DataType::BYTES_IN_RATE),
        false,
    ),
    (
        "bytes_out_rate",
        CtrWhat::Data(DataType::BYTES_OUT_RATE),
        false,
    ),
    (
        "kbytes_in",
        CtrWhat::Op(CtrOp::Kbytes(DataType::BYTES_IN_CNT)),
        false,
    ),
    (
        "kbytes_out",
        CtrWhat::Op(CtrOp::Kbytes(DataType::BYTES_OUT_CNT)),
        false,
    ),
    ("get_gpc0", CtrWhat::Data(DataType::GPC0), false),
    ("get_gpc1", CtrWhat::Data(DataType::GPC1), false),
    ("gpc0_rate", CtrWhat::Data(DataType::GPC0_RATE), false),
    ("gpc1_rate", CtrWhat::Data(DataType::GPC1_RATE), false),
    ("get_gpt0", CtrWhat::Data(DataType::GPT0), false),
    ("inc_gpc0", CtrWhat::Op(CtrOp::Inc(DataType::GPC0)), false),
    ("inc_gpc1", CtrWhat::Op(CtrOp::Inc(DataType::GPC1)), false),
    ("clr_gpc0", CtrWhat::Op(CtrOp::Clr(DataType::GPC0)), false),
    ("clr_gpc1", CtrWhat::Op(CtrOp::Clr(DataType::GPC1)), false),
    ("get_gpt", CtrWhat::Data(DataType::GPT), true),
    ("get_gpc", CtrWhat::Data(DataType::GPC), true),
    ("gpc_rate", CtrWhat::Data(DataType::GPC_RATE), true),
    ("inc_gpc", CtrWhat::Op(CtrOp::Inc(DataType::GPC)), true),
    ("clr_gpc", CtrWhat::Op(CtrOp::Clr(DataType::GPC)), true),
    ("tracked", CtrWhat::Op(CtrOp::Tracked), false),
    ("trackers", CtrWhat::Op(CtrOp::Trackers), false),
    ("updt_conn_cnt", CtrWhat::Op(CtrOp::UpdtConnCnt), false),
];

/// Every stick-counter fetch keyword: `sc0_*` to `sc2_*`, `sc_*` and
/// `src_*`, in table order.
pub fn counter_keywords() -> impl Iterator<Item = String> {
    ["sc0_", "sc1_", "sc2_", "sc_", "src_"]
        .into_iter()
        .flat_map(|p| COUNTERS.iter().map(move |(s, _, _)| format!("{p}{s}")))
        .filter(|name| counter_fetch(name).is_some())
}

/// Number of stick counters a session has (HAProxy's `MAX_SESS_STKCTR`).
pub const MAX_SESS_STKCTR: u8 = 3;

/// Which entry a counter keyword reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CtrSel {
    /// `sc0_` .. `sc2_`.
    Fixed(u8),
    /// `sc_`: the counter number is the first (non-index) argument.
    Arg,
    /// `src_`.
    Src,
}

static SPEC_SC_FIXED: [ArgSpec; 2] = [spec!(0; Table), spec!(1; Int, Table)];
static SPEC_SC_ARG: [ArgSpec; 2] = [spec!(1; Int, Table), spec!(2; Int, Int, Table)];
static SPEC_SRC: [ArgSpec; 2] = [spec!(1; Table), spec!(2; Int, Table)];

fn counter_fetch(name: &str) -> Option<(CtrSel, CtrWhat, bool)> {
    let (sel, suffix) = if let Some(s) = name.strip_prefix("src_") {
        (CtrSel::Src, s)
    } else if let Some(s) = name.strip_prefix("sc_") {
        (CtrSel::Arg, s)
    } else {
        let rest = name.strip_prefix("sc")?;
        let (n, s) = rest.split_once('_')?;
        let n: u8 = match n {
            "0" => 0,
            "1" => 1,
            "2" => 2,
            _ => return None,
        };
        (CtrSel::Fixed(n), s)
    };
    let &(_, what, array) = COUNTERS.iter().find(|(s, _, _)| *s == suffix)?;
    let ok = match (sel, what) {
        (CtrSel::Src, CtrWhat::Op(CtrOp::Tracked | CtrOp::Trackers)) => false,
        (CtrSel::Src, _) => true,
        (_, CtrWhat::Op(CtrOp::UpdtConnCnt)) => false,
        _ => true,
    };
    ok.then_some((sel, what, array))
}

/// The whole description of a fetch keyword, looked up by name.
struct Resolved {
    kw: String,
    args: ArgSpec,
    out: SmpType,
    build: Build,
}

enum Build {
    Static(FetchKind),
    Counter(CtrSel, CtrWhat, bool),
}

fn find_fetch(name: &str) -> Option<Resolved> {
    if let Some(d) = FETCHES.iter().find(|d| d.kw == name) {
        return Some(Resolved {
            kw: d.kw.to_string(),
            args: d.args,
            out: d.out,
            build: Build::Static(d.kind.clone()),
        });
    }
    let (sel, what, array) = counter_fetch(name)?;
    let i = usize::from(array);
    let args = match sel {
        CtrSel::Fixed(_) => SPEC_SC_FIXED[i],
        CtrSel::Arg => SPEC_SC_ARG[i],
        CtrSel::Src => SPEC_SRC[i],
    };
    let out = match what {
        CtrWhat::Op(CtrOp::Tracked) => SmpType::Bool,
        _ => SmpType::Int,
    };
    Some(Resolved {
        kw: name.to_string(),
        args,
        out,
        build: Build::Counter(sel, what, array),
    })
}

/// Builds a [`Fetch`] from a keyword and its typed arguments.
fn build_fetch(r: Resolved, mut args: Vec<Arg>) -> Result<Fetch, String> {
    let kind = match r.build {
        Build::Static(FetchKind::Const(_)) => FetchKind::Const(const_sample(&r.kw, &args)?),
        Build::Static(k) => k,
        Build::Counter(sel, what, array) => counter_kind(sel, what, array, &mut args)?,
    };
    if let FetchKind::Const(_) = kind {
        args.clear();
    }
    Ok(Fetch {
        kind,
        args,
        kw: r.kw,
    })
}

fn const_sample(kw: &str, args: &[Arg]) -> Result<Sample, String> {
    Ok(match (kw, args.first()) {
        ("always_true", _) => Sample::Bool(true),
        ("always_false", _) => Sample::Bool(false),
        ("int", Some(Arg::Int(i))) => Sample::Int(*i),
        ("bool", Some(Arg::Int(i))) => Sample::Bool(*i != 0),
        ("str", Some(Arg::Str(s))) => Sample::str(s),
        ("ipv4", Some(Arg::Ipv4(a))) => Sample::Ip(IpAddr::V4(*a)),
        ("ipv6", Some(Arg::Ipv6(a))) => Sample::Ip(IpAddr::V6(*a)),
        _ => return Err(format!("fetch method '{kw}' : missing argument")),
    })
}

fn counter_kind(
    sel: CtrSel,
    what: CtrWhat,
    array: bool,
    args: &mut Vec<Arg>,
) -> Result<FetchKind, String> {
    // Arguments come in as [idx] [ctr] [table]; normalise to [idx] [table].
    let ctr_pos = usize::from(array);
    let ctr = match sel {
        CtrSel::Fixed(n) => Some(n),
        CtrSel::Src => None,
        CtrSel::Arg => {
            let n = match args.get(ctr_pos) {
                Some(Arg::Int(n)) => *n,
                _ => return Err("missing stick counter number".into()),
            };
            args.remove(ctr_pos);
            match u8::try_from(n) {
                Ok(n) if n < MAX_SESS_STKCTR => Some(n),
                _ => {
                    return Err(format!(
                        "invalid stick counter {n} (Sluice has {MAX_SESS_STKCTR}: 0 to {})",
                        MAX_SESS_STKCTR - 1
                    ))
                }
            }
        }
    };
    if array {
        match args.first() {
            Some(Arg::Int(i)) if (0..DataType::MAX_ARRAY_LEN as i64).contains(i) => {}
            Some(Arg::Int(i)) => {
                return Err(format!(
                    "invalid array index {i} (0 to {} allowed)",
                    DataType::MAX_ARRAY_LEN - 1
                ))
            }
            _ => return Err("missing array index".into()),
        }
    }
    Ok(match (ctr, what) {
        (Some(ctr), CtrWhat::Data(data)) => FetchKind::StkCtr { ctr, data },
        (Some(ctr), CtrWhat::Op(op)) => FetchKind::StkCtrOp { ctr, op },
        (None, CtrWhat::Data(data)) => FetchKind::SrcTable { data },
        (None, CtrWhat::Op(op)) => FetchKind::SrcTableOp { op },
    })
}

/// A converter keyword (HAProxy's `struct sample_conv` entry).
struct ConvDef {
    kw: &'static str,
    kind: ConvKind,
    args: ArgSpec,
    input: SmpType,
    out: SmpType,
}

const fn cd(
    kw: &'static str,
    kind: ConvKind,
    args: ArgSpec,
    input: SmpType,
    out: SmpType,
) -> ConvDef {
    ConvDef {
        kw,
        kind,
        args,
        input,
        out,
    }
}

const ARITH: ArgSpec = spec!(1; IntOrVar);

static CONVS: &[ConvDef] = &[
    cd(
        "lower",
        ConvKind::Lower,
        NO_ARGS,
        SmpType::Str,
        SmpType::Str,
    ),
    cd(
        "upper",
        ConvKind::Upper,
        NO_ARGS,
        SmpType::Str,
        SmpType::Str,
    ),
    cd(
        "ipmask",
        ConvKind::IpMask,
        spec!(1; Msk4, Msk6),
        SmpType::Addr,
        SmpType::Addr,
    ),
    cd("bool", ConvKind::Bool, NO_ARGS, SmpType::Int, SmpType::Bool),
    cd("not", ConvKind::Not, NO_ARGS, SmpType::Int, SmpType::Bool),
    cd("odd", ConvKind::Odd, NO_ARGS, SmpType::Int, SmpType::Bool),
    cd("even", ConvKind::Even, NO_ARGS, SmpType::Int, SmpType::Bool),
    cd(
        "length",
        ConvKind::Length,
        NO_ARGS,
        SmpType::Str,
        SmpType::Int,
    ),
    cd("add", ConvKind::Add, ARITH, SmpType::Int, SmpType::Int),
    cd("sub", ConvKind::Sub, ARITH, SmpType::Int, SmpType::Int),
    cd("mul", ConvKind::Mul, ARITH, SmpType::Int, SmpType::Int),
    cd("div", ConvKind::Div, ARITH, SmpType::Int, SmpType::Int),
    cd("mod", ConvKind::Mod, ARITH, SmpType::Int, SmpType::Int),
    cd("and", ConvKind::And, ARITH, SmpType::Int, SmpType::Int),
    cd("or", ConvKind::Or, ARITH, SmpType::Int, SmpType::Int),
    cd("xor", ConvKind::Xor, ARITH, SmpType::Int, SmpType::Int),
    cd("neg", ConvKind::Neg, NO_ARGS, SmpType::Int, SmpType::Int),
    cd(
        "crc32",
        ConvKind::Crc32,
        spec!(0; Int),
        SmpType::Bin,
        SmpType::Int,
    ),
    cd(
        "djb2",
        ConvKind::Djb2,
        spec!(0; Int),
        SmpType::Bin,
        SmpType::Int,
    ),
    cd("hex", ConvKind::Hex, NO_ARGS, SmpType::Bin, SmpType::Str),
    cd(
        "regsub",
        ConvKind::Regsub,
        spec!(2; Str, Str, Str),
        SmpType::Str,
        SmpType::Str,
    ),
    cd(
        "field",
        ConvKind::Field,
        spec!(2; Int, Str, Int),
        SmpType::Str,
        SmpType::Str,
    ),
    cd(
        "word",
        ConvKind::Word,
        spec!(2; Int, Str, Int),
        SmpType::Str,
        SmpType::Str,
    ),
];

/// Every converter keyword Sluice knows.
pub fn converter_keywords() -> impl Iterator<Item = &'static str> {
    CONVS.iter().map(|c| c.kw)
}

/// A fetch keyword with its arguments, as found at the start of a word.
pub(crate) struct FetchHead {
    pub fetch: Fetch,
    pub out: SmpType,
    /// Bytes used.
    pub end: usize,
}

/// Parses the fetch keyword named `kw` (already split off by the caller,
/// possibly an ACL keyword's target) followed by its arguments in `rest`.
pub(crate) fn parse_fetch_named(
    kw: &str,
    rest: &str,
    ctx: &ParseCtx<'_>,
) -> Result<Option<FetchHead>, String> {
    let Some(r) = find_fetch(kw) else {
        return Ok(None);
    };
    let (raw, used) =
        split_args(rest, r.args.types.len()).map_err(|e| format!("fetch method '{kw}' : {e}"))?;
    let args = type_args(&raw, r.args, ctx, kw, "sample fetch keyword")
        .map_err(|(_, e)| format!("fetch method '{kw}' : {e}"))?;
    let out = r.out;
    let fetch = build_fetch(r, args).map_err(|e| format!("fetch method '{kw}' : {e}"))?;
    Ok(Some(FetchHead {
        fetch,
        out,
        end: used,
    }))
}

/// Parses the converters that follow a fetch at `text[pos..]` (each
/// introduced by a comma). `strict`: the text must end after them.
/// Returns the converters, the output type and where parsing stopped.
pub(crate) fn parse_convs(
    text: &str,
    mut pos: usize,
    mut ty: SmpType,
    fetch_kw: &str,
    ctx: &ParseCtx<'_>,
    strict: bool,
) -> Result<(Vec<Conv>, SmpType, usize), String> {
    let b = text.as_bytes();
    let mut convs = Vec::new();
    let mut last: Option<&str> = None;
    loop {
        match b.get(pos) {
            None => break,
            Some(b',') => {}
            Some(_) if !strict => break,
            Some(_) => {
                return Err(match last {
                    Some(c) => format!("missing comma after converter '{c}'"),
                    None => format!("missing comma after fetch keyword '{fetch_kw}'"),
                })
            }
        }
        while b.get(pos) == Some(&b',') {
            pos += 1;
        }
        let n = id_len(&b[pos..]);
        if n == 0 {
            if pos == b.len() {
                break;
            }
            return Err(format!(
                "missing converter name after ',' in '{}'",
                &text[..pos]
            ));
        }
        let name = &text[pos..pos + n];
        let Some(def) = CONVS.iter().find(|c| c.kw == name) else {
            return Err(format!("unknown converter '{name}'"));
        };
        if !ty.can_cast(def.input) {
            return Err(format!("converter '{name}' cannot be applied"));
        }
        pos += n;
        let (raw, used) = split_args(&text[pos..], def.args.types.len())
            .map_err(|e| format!("invalid arg 1 in converter '{name}' : {e}"))?;
        pos += used;
        let args = type_args(&raw, def.args, ctx, name, "converter")
            .map_err(|(i, e)| format!("invalid arg {} in converter '{name}' : {e}", i + 1))?;
        let args = check_conv_args(def.kind, args)
            .map_err(|e| format!("invalid args in converter '{name}' : {e}"))?;
        convs.push(Conv {
            kind: def.kind,
            args,
            kw: def.kw,
            input: def.input,
        });
        ty = def.out;
        last = Some(def.kw);
    }
    Ok((convs, ty, pos))
}

fn parse_expr(text: &str, ctx: &ParseCtx<'_>, strict: bool) -> Result<(SampleExpr, usize), String> {
    if text.len() > MAX_EXPR_LEN {
        return Err(format!(
            "sample expression too long ({} bytes, at most {MAX_EXPR_LEN})",
            text.len()
        ));
    }
    let n = id_len(text.as_bytes());
    if n == 0 {
        return Err("missing fetch method".into());
    }
    let kw = &text[..n];
    let Some(head) = parse_fetch_named(kw, &text[n..], ctx)? else {
        return Err(format!("unknown fetch method '{kw}'"));
    };
    let (convs, out_type, end) = parse_convs(text, n + head.end, head.out, kw, ctx, strict)?;
    Ok((
        SampleExpr {
            fetch: head.fetch,
            convs,
            out_type,
        },
        end,
    ))
}

/// Splits an argument list `(a,b,...)` at the start of `s` into raw
/// strings with HAProxy's rules (`make_arg_list`): quotes `'..'` and
/// `".."` protect commas and parentheses, `\` escapes `\`, space and
/// quotes, `\r \n \t` are control characters. Returns the arguments and
/// the bytes used. `max`: how many the keyword takes.
pub(crate) fn split_args(s: &str, max: usize) -> Result<(Vec<String>, usize), String> {
    let b = s.as_bytes();
    if b.first() != Some(&b'(') {
        return Ok((Vec::new(), 0));
    }
    let mut i = 1;
    let mut args = Vec::new();
    if max == 0 {
        return match b.get(i) {
            Some(b')') => Ok((args, i + 1)),
            _ => Err(expected_paren(&s[i..])),
        };
    }
    loop {
        let (arg, next) = one_arg(b, i)?;
        args.push(arg);
        i = next;
        match b.get(i) {
            Some(b')') => return Ok((args, i + 1)),
            Some(b',') if args.len() < max => i += 1,
            _ => return Err(expected_paren(&s[i..])),
        }
    }
}

fn expected_paren(rest: &str) -> String {
    if rest.is_empty() {
        "expected ')'".into()
    } else {
        format!("expected ')' before '{rest}'")
    }
}

/// One argument from `b[i..]`, up to an unquoted `,` or `)`.
fn one_arg(b: &[u8], mut i: usize) -> Result<(String, usize), String> {
    let mut out = Vec::new();
    let (mut sq, mut dq) = (false, false);
    while let Some(&c) = b.get(i) {
        match c {
            b'"' if !sq => dq = !dq,
            b'\'' if !dq => sq = !sq,
            b'\\' if !sq && i + 1 < b.len() => {
                let escaped = match b[i + 1] {
                    b'r' => Some(b'\r'),
                    b'n' => Some(b'\n'),
                    b't' => Some(b'\t'),
                    c @ (b'\\' | b' ' | b'"' | b'\'') => Some(c),
                    // A lone backslash stays; what follows is read as usual.
                    _ => None,
                };
                match escaped {
                    Some(c) => {
                        out.push(c);
                        i += 1;
                    }
                    None => out.push(b'\\'),
                }
            }
            b',' | b')' if !sq && !dq => break,
            _ => out.push(c),
        }
        i += 1;
    }
    if sq || dq {
        return Err("unterminated quote in argument".into());
    }
    Ok((String::from_utf8_lossy(&out).into_owned(), i))
}

/// Types raw arguments. On error, the position of the bad argument.
fn type_args(
    raw: &[String],
    spec: ArgSpec,
    ctx: &ParseCtx<'_>,
    kw: &str,
    what: &str,
) -> Result<Vec<Arg>, (usize, String)> {
    let mut out = Vec::new();
    for (pos, &t) in spec.types.iter().enumerate() {
        let text = raw.get(pos).map(String::as_str);
        match text {
            Some(s) if !s.is_empty() || t == ArgType::Str => {
                out.push(type_arg(s, t, ctx, kw, pos, what).map_err(|e| (pos, e))?);
            }
            _ if t.defaults_when_empty() && (pos < spec.min || text.is_some()) => {
                out.push(type_arg("", t, ctx, kw, pos, what).map_err(|e| (pos, e))?);
            }
            Some(_) if pos < spec.min => {
                let m = format!(
                    "expected type '{}' at position {}, but got nothing",
                    t.name(),
                    pos + 1
                );
                return Err((pos, m));
            }
            None if pos < spec.min => {
                let m = format!(
                    "missing arguments (got {}/{}), type '{}' expected",
                    raw.len(),
                    spec.min,
                    t.name()
                );
                return Err((pos, m));
            }
            _ => break,
        }
    }
    Ok(out)
}

fn type_arg(
    s: &str,
    t: ArgType,
    ctx: &ParseCtx<'_>,
    kw: &str,
    pos: usize,
    what: &str,
) -> Result<Arg, String> {
    let bad = || {
        format!(
            "failed to parse '{s}' as type '{}' at position {}",
            t.name(),
            pos + 1
        )
    };
    Ok(match t {
        ArgType::Int => Arg::Int(parse_int_arg(s).ok_or_else(bad)?),
        ArgType::BoolLit => Arg::Int(match s {
            "true" => 1,
            "false" => 0,
            _ => parse_int_arg(s).ok_or_else(bad)?,
        }),
        ArgType::Str => Arg::Str(s.to_string()),
        ArgType::Table => {
            let what = format!("arg {} of {what} '{kw}'", pos + 1);
            Arg::Table(ctx.table(s, &what)?)
        }
        ArgType::Backend => {
            if let (false, Some(exists)) = (s.is_empty(), ctx.backends) {
                if !exists(s) {
                    return Err(format!(
                        "unable to find backend '{s}' referenced in arg {} of {what} '{kw}'",
                        pos + 1
                    ));
                }
            }
            Arg::Backend(s.to_string())
        }
        ArgType::Var => Arg::Var(VarName::parse(s)?),
        ArgType::IntOrVar => match parse_int_arg(s) {
            Some(i) => Arg::Int(i),
            None => Arg::Var(VarName::parse(s)?),
        },
        ArgType::Msk4 => Arg::Ipv4(parse_mask4(s).ok_or_else(bad)?),
        ArgType::Msk6 => Arg::Ipv6(parse_mask6(s).ok_or_else(bad)?),
        ArgType::Ipv4 => Arg::Ipv4(s.parse().map_err(|_| bad())?),
        ArgType::Ipv6 => Arg::Ipv6(s.parse().map_err(|_| bad())?),
    })
}

/// An integer argument: `read_int64` that must use the whole text.
fn parse_int_arg(s: &str) -> Option<i64> {
    let (v, n) = read_int64(s.as_bytes());
    (n == s.len() && s.bytes().any(|c| c.is_ascii_digit())).then_some(v)
}

/// An IPv4 mask: a prefix length (`24`) or a dotted mask (`255.255.255.0`)
/// (HAProxy's `str2mask`).
pub fn parse_mask4(s: &str) -> Option<Ipv4Addr> {
    if s.contains('.') {
        return s.parse().ok();
    }
    let bits: u32 = s.parse().ok().filter(|b| *b <= 32)?;
    Some(Ipv4Addr::from(prefix_mask32(bits)))
}

/// An IPv6 mask: a prefix length (`64`) or an address form (`str2mask6`).
pub fn parse_mask6(s: &str) -> Option<Ipv6Addr> {
    if s.contains(':') {
        return s.parse().ok();
    }
    let bits: u32 = s.parse().ok().filter(|b| *b <= 128)?;
    Some(Ipv6Addr::from(prefix_mask128(bits)))
}

/// The 32-bit mask with the `bits` leading bits set.
pub fn prefix_mask32(bits: u32) -> u32 {
    u32::MAX.checked_shl(32 - bits.min(32)).unwrap_or(0)
}

/// The 128-bit mask with the `bits` leading bits set.
pub fn prefix_mask128(bits: u32) -> u128 {
    u128::MAX.checked_shl(128 - bits.min(128)).unwrap_or(0)
}

/// Checks and completes converter arguments (HAProxy's `val_args`).
fn check_conv_args(kind: ConvKind, mut args: Vec<Arg>) -> Result<Vec<Arg>, String> {
    match kind {
        ConvKind::Regsub => {
            let flags = match args.get(2) {
                Some(Arg::Str(f)) => f.clone(),
                _ => String::new(),
            };
            if let Some(c) = flags.chars().find(|c| !matches!(c, 'i' | 'g')) {
                return Err(format!(
                    "invalid regex flag '{c}', only 'i' and 'g' are supported"
                ));
            }
            let src = match args.first() {
                Some(Arg::Str(s)) => s.clone(),
                _ => return Err("missing regex".into()),
            };
            args[0] = Arg::Regex(Regex::new(&src, flags.contains('i'))?);
        }
        ConvKind::Field | ConvKind::Word => {
            if let Some(Arg::Str(d)) = args.get(1) {
                if d.is_empty() {
                    return Err("empty delimiters list".into());
                }
            }
        }
        _ => {}
    }
    Ok(args)
}

fn conv_int(c: &Conv, i: usize, ctx: &mut dyn SampleCtx) -> Option<i64> {
    match c.args.get(i)? {
        Arg::Int(v) => Some(*v),
        Arg::Var(v) => {
            let f = Fetch {
                kind: FetchKind::Var,
                args: vec![Arg::Var(v.clone())],
                kw: "var".into(),
            };
            ctx.fetch(&f)?.as_int()
        }
        _ => None,
    }
}

/// Applies one converter (after casting its input).
fn apply_conv(c: &Conv, s: Sample, ctx: &mut dyn SampleCtx) -> Option<Sample> {
    let s = s.cast(c.input)?;
    match (c.kind, s) {
        (ConvKind::Lower, Sample::Str(mut v)) => {
            v.make_ascii_lowercase();
            Some(Sample::Str(v))
        }
        (ConvKind::Upper, Sample::Str(mut v)) => {
            v.make_ascii_uppercase();
            Some(Sample::Str(v))
        }
        (ConvKind::Length, Sample::Str(v)) => Some(Sample::Int(v.len() as i64)),
        (ConvKind::IpMask, Sample::Ip(ip)) => ipmask(c, ip),
        (ConvKind::Regsub, Sample::Str(v)) => regsub(c, &v),
        (ConvKind::Field, Sample::Str(v)) => field(c, &v, false),
        (ConvKind::Word, Sample::Str(v)) => field(c, &v, true),
        (ConvKind::Crc32, Sample::Bin(v)) => Some(hash_out(c, crc32(&v))),
        (ConvKind::Djb2, Sample::Bin(v)) => Some(hash_out(c, djb2(&v))),
        (ConvKind::Hex, Sample::Bin(v)) => Some(Sample::Str(hex_upper(&v))),
        (k, Sample::Int(i)) => int_conv(c, k, i, ctx),
        _ => None,
    }
}

fn int_conv(c: &Conv, k: ConvKind, i: i64, ctx: &mut dyn SampleCtx) -> Option<Sample> {
    Some(match k {
        ConvKind::Bool => Sample::Bool(i != 0),
        ConvKind::Not => Sample::Bool(i == 0),
        ConvKind::Odd => Sample::Bool(i & 1 == 1),
        ConvKind::Even => Sample::Bool(i & 1 == 0),
        ConvKind::Neg => Sample::Int(i.saturating_neg()),
        ConvKind::Add => Sample::Int(i.saturating_add(conv_int(c, 0, ctx)?)),
        ConvKind::Sub => Sample::Int(i.saturating_sub(conv_int(c, 0, ctx)?)),
        ConvKind::Mul => Sample::Int(i.saturating_mul(conv_int(c, 0, ctx)?)),
        ConvKind::Div => Sample::Int(match conv_int(c, 0, ctx)? {
            0 => i64::MAX,
            d => i.checked_div(d).unwrap_or(i64::MAX),
        }),
        ConvKind::Mod => Sample::Int(match conv_int(c, 0, ctx)? {
            0 => 0,
            d => i.checked_rem(d).unwrap_or(0),
        }),
        ConvKind::And => Sample::Int(i & conv_int(c, 0, ctx)?),
        ConvKind::Or => Sample::Int(i | conv_int(c, 0, ctx)?),
        ConvKind::Xor => Sample::Int(i ^ conv_int(c, 0, ctx)?),
        _ => return None,
    })
}

fn ipmask(c: &Conv, ip: IpAddr) -> Option<Sample> {
    match ip {
        IpAddr::V4(a) => {
            let Some(Arg::Ipv4(m)) = c.args.first() else {
                return None;
            };
            Some(Sample::Ip(IpAddr::V4(Ipv4Addr::from(
                u32::from(a) & u32::from(*m),
            ))))
        }
        IpAddr::V6(a) => {
            let Some(Arg::Ipv6(m)) = c.args.get(1) else {
                return None;
            };
            Some(Sample::Ip(IpAddr::V6(Ipv6Addr::from(
                u128::from(a) & u128::from(*m),
            ))))
        }
    }
}

/// `regsub`: replaces the first match (every match with `g`); `\N` in the
/// substitution is group N, `\xHH` a byte, `\c` the character c.
fn regsub(c: &Conv, input: &[u8]) -> Option<Sample> {
    let (Some(Arg::Regex(re)), Some(Arg::Str(subst))) = (c.args.first(), c.args.get(1)) else {
        return None;
    };
    let global = matches!(c.args.get(2), Some(Arg::Str(f)) if f.contains('g'));
    let mut out = Vec::with_capacity(input.len());
    let mut last = 0;
    for caps in re.inner().captures_iter(input) {
        let Some(m) = caps.get(0) else { break };
        out.extend_from_slice(&input[last..m.start()]);
        expand_subst(subst.as_bytes(), &caps, &mut out);
        last = m.end();
        if !global {
            break;
        }
    }
    out.extend_from_slice(&input[last..]);
    Some(Sample::Str(out))
}

fn expand_subst(subst: &[u8], caps: &regex::bytes::Captures<'_>, out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = subst.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        match subst.get(i) {
            Some(d) if d.is_ascii_digit() => {
                if let Some(g) = caps.get(usize::from(d - b'0')) {
                    out.extend_from_slice(g.as_bytes());
                }
                i += 1;
            }
            Some(b'x') => {
                let hex = subst
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(core::str::from_utf8(h).ok()?, 16).ok());
                if let Some(v) = hex {
                    out.push(v);
                }
                i += 3;
            }
            Some(&o) => {
                out.push(o);
                i += 1;
            }
            None => {}
        }
    }
}

/// `field(index,delims[,count])` / `word(...)` (HAProxy's
/// `sample_conv_field`/`sample_conv_word`): the `index`th field (1-based;
/// negative counts from the end) and the `count - 1` next ones (towards
/// the start for a negative index; `count` 0 or less: up to the end), as
/// the original substring. `word` ignores empty fields. A field that does
/// not exist gives no sample.
fn field(c: &Conv, input: &[u8], words: bool) -> Option<Sample> {
    let (Some(Arg::Int(idx)), Some(Arg::Str(delims))) = (c.args.first(), c.args.get(1)) else {
        return None;
    };
    let count = match c.args.get(2) {
        Some(Arg::Int(n)) => *n,
        _ => 1,
    };
    let d = delims.as_bytes();
    let mut spans = Vec::new();
    let mut from = 0;
    for (i, b) in input.iter().enumerate() {
        if d.contains(b) {
            spans.push((from, i));
            from = i + 1;
        }
    }
    spans.push((from, input.len()));
    if words {
        spans.retain(|(a, b)| a < b);
    }
    let n = spans.len() as i64;
    let (first, last) = match *idx {
        0 => return None,
        i if i > 0 => {
            let first = i - 1;
            let last = if count <= 0 {
                n - 1
            } else {
                first.saturating_add(count - 1).min(n - 1)
            };
            (first, last)
        }
        i => {
            let last = n.saturating_add(i);
            let first = if count <= 0 {
                0
            } else {
                last.saturating_sub(count - 1).max(0)
            };
            (first, last)
        }
    };
    if first < 0 || last < first || first >= n {
        return None;
    }
    let (a, b) = (spans[first as usize].0, spans[last as usize].1);
    Some(Sample::Str(input[a..b].to_vec()))
}

fn hash_out(c: &Conv, h: u32) -> Sample {
    let aval = matches!(c.args.first(), Some(Arg::Int(v)) if *v != 0);
    Sample::Int(i64::from(if aval { full_hash(h) } else { h }))
}

/// CRC-32 (IEEE 802.3, reflected), HAProxy's `hash_crc32`.
pub fn crc32(data: &[u8]) -> u32 {
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

/// HAProxy's `hash_djb2`.
pub fn djb2(data: &[u8]) -> u32 {
    data.iter().fold(5381u32, |h, &c| {
        h.wrapping_shl(5).wrapping_add(h).wrapping_add(u32::from(c))
    })
}

/// Bob Jenkins' full avalanche (HAProxy's `full_hash`).
pub fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a
}

fn hex_upper(v: &[u8]) -> Vec<u8> {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(v.len() * 2);
    for &b in v {
        out.push(H[usize::from(b >> 4)]);
        out.push(H[usize::from(b & 15)]);
    }
    out
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sample::Bool(b) => write!(f, "{}", u8::from(*b)),
            Sample::Int(i) => write!(f, "{i}"),
            Sample::Ip(ip) => write!(f, "{ip}"),
            Sample::Str(s) => write!(f, "{}", String::from_utf8_lossy(s)),
            Sample::Bin(b) => write!(f, "{}", String::from_utf8_lossy(&hex_upper(b))),
        }
    }
}

/// A [`SampleCtx`] backed by a table of answers, for tests and for
/// evaluating expressions without a stream (the CLI, the simulator).
///
/// Answers are keyed by the fetch's keyword and arguments as written
/// (`"src"`, `"req.hdr(host)"`, `"sc0_conn_rate"`); a key may hold several
/// values (every occurrence of a header).
#[derive(Clone, Debug, Default)]
pub struct MapCtx {
    pub values: std::collections::BTreeMap<String, Vec<Sample>>,
    /// Keys whose data may still change (see [`SampleCtx::may_change`]).
    pub changing: std::collections::BTreeSet<String>,
    /// How many fetches reached the context (to check short-circuits).
    pub fetches: usize,
}

impl MapCtx {
    pub fn new() -> MapCtx {
        MapCtx::default()
    }

    /// Sets the values answered for `key`.
    pub fn set(&mut self, key: &str, values: Vec<Sample>) -> &mut MapCtx {
        self.values.insert(key.to_string(), values);
        self
    }

    /// The key a fetch is answered under: its keyword, and its arguments
    /// in parentheses when it has any.
    pub fn key(f: &Fetch) -> String {
        let mut k = f.kw.clone();
        if let FetchKind::StkCtr { ctr, .. } | FetchKind::StkCtrOp { ctr, .. } = f.kind {
            if let Some(rest) = k.strip_prefix("sc_") {
                k = format!("sc{ctr}_{rest}");
            }
        }
        let args: Vec<String> = f
            .args
            .iter()
            .filter_map(|a| match a {
                Arg::Int(i) => Some(i.to_string()),
                Arg::Str(s) | Arg::Backend(s) => Some(s.clone()),
                Arg::Var(v) => Some(v.to_string()),
                Arg::Table(t) => Some(t.name.clone()),
                _ => None,
            })
            .collect();
        if !args.is_empty() {
            k = format!("{k}({})", args.join(","));
        }
        k
    }
}

impl SampleCtx for MapCtx {
    fn fetch(&mut self, f: &Fetch) -> Option<Sample> {
        self.fetches += 1;
        self.values.get(&MapCtx::key(f))?.last().cloned()
    }

    fn fetch_all(&mut self, f: &Fetch, out: &mut Vec<Sample>) {
        self.fetches += 1;
        if let Some(v) = self.values.get(&MapCtx::key(f)) {
            out.extend(v.iter().cloned());
        }
    }

    fn may_change(&mut self, f: &Fetch) -> bool {
        self.changing.contains(&MapCtx::key(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stick_table::TableId;

    fn p(s: &str) -> SampleExpr {
        SampleExpr::parse(s, &ParseCtx::detached()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        SampleExpr::parse(s, &ParseCtx::detached()).unwrap_err()
    }

    fn ev(s: &str, ctx: &mut MapCtx) -> Option<Sample> {
        p(s).eval(ctx)
    }

    fn v4(s: &str) -> Sample {
        Sample::Ip(IpAddr::V4(s.parse().unwrap()))
    }

    #[test]
    fn casts_follow_haproxy() {
        assert_eq!(Sample::Int(42).cast(SmpType::Str), Some(Sample::str("42")));
        assert_eq!(
            Sample::str("-17abc").cast(SmpType::Int),
            Some(Sample::Int(-17))
        );
        assert_eq!(Sample::str("abc").cast(SmpType::Int), Some(Sample::Int(0)));
        assert_eq!(Sample::str("").cast(SmpType::Int), None);
        assert_eq!(
            Sample::str("10.0.0.1").cast(SmpType::Addr),
            Some(v4("10.0.0.1"))
        );
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            Sample::str("2001:db8::1").cast(SmpType::Addr),
            Some(Sample::Ip(IpAddr::V6(v6)))
        );
        assert_eq!(Sample::str("nope").cast(SmpType::Addr), None);
        assert_eq!(
            v4("10.0.0.1").cast(SmpType::Str),
            Some(Sample::str("10.0.0.1"))
        );
        assert_eq!(v4("0.0.1.2").cast(SmpType::Int), Some(Sample::Int(258)));
        assert_eq!(Sample::Int(258).cast(SmpType::Ipv4), Some(v4("0.0.1.2")));
        let mapped = Sample::Ip(IpAddr::V6("::ffff:10.1.2.3".parse().unwrap()));
        assert_eq!(v4("10.1.2.3").cast(SmpType::Ipv6), Some(mapped.clone()));
        assert_eq!(mapped.cast(SmpType::Ipv4), Some(v4("10.1.2.3")));
        assert_eq!(Sample::Ip(IpAddr::V6(v6)).cast(SmpType::Ipv4), None);
        assert_eq!(Sample::Ip(IpAddr::V6(v6)).cast(SmpType::Int), None);
        assert_eq!(
            v4("1.2.3.4").cast(SmpType::Bin),
            Some(Sample::Bin(vec![1, 2, 3, 4]))
        );
        assert_eq!(
            Sample::Bool(true).cast(SmpType::Str),
            Some(Sample::str("1"))
        );
        assert_eq!(Sample::Bool(true).cast(SmpType::Int), Some(Sample::Int(1)));
        assert_eq!(Sample::Bool(true).cast(SmpType::Addr), None);
        assert_eq!(Sample::Int(5).cast(SmpType::Bool), Some(Sample::Bool(true)));
        assert_eq!(
            Sample::Bin(b"ab\0cd".to_vec()).cast(SmpType::Str),
            Some(Sample::str("ab"))
        );
        assert_eq!(Sample::Bin(vec![1]).cast(SmpType::Int), None);
        assert_eq!(
            Sample::Int(1).cast(SmpType::Bin),
            Some(Sample::Bin(vec![0, 0, 0, 0, 0, 0, 0, 1]))
        );
        assert!(!SmpType::Bin.can_cast(SmpType::Int));
        assert!(!SmpType::Bool.can_cast(SmpType::Addr));
        assert!(SmpType::Addr.can_cast(SmpType::Bin));
    }

    #[test]
    fn fetches_parse_with_typed_args() {
        let e = p("req.hdr(X-Api-Key,2)");
        assert_eq!(
            e.fetch.kind,
            FetchKind::Hdr {
                dir: Dir::Req,
                full: false
            }
        );
        assert_eq!(
            e.fetch.args,
            vec![Arg::Str("X-Api-Key".into()), Arg::Int(2)]
        );
        assert_eq!(e.out_type, SmpType::Str);
        let e = p("sc0_conn_rate");
        assert_eq!(
            e.fetch.kind,
            FetchKind::StkCtr {
                ctr: 0,
                data: DataType::CONN_RATE
            }
        );
        assert_eq!(e.out_type, SmpType::Int);
        let e = p("sc_http_req_rate(2,other)");
        assert_eq!(
            e.fetch.kind,
            FetchKind::StkCtr {
                ctr: 2,
                data: DataType::HTTP_REQ_RATE
            }
        );
        assert_eq!(e.fetch.table().unwrap().name, "other");
        let e = p("sc1_get_gpt(3)");
        assert_eq!(
            e.fetch.kind,
            FetchKind::StkCtr {
                ctr: 1,
                data: DataType::GPT
            }
        );
        assert_eq!(e.fetch.int_arg(0), Some(3));
        let e = p("src_conn_rate");
        assert_eq!(
            e.fetch.kind,
            FetchKind::SrcTable {
                data: DataType::CONN_RATE
            }
        );
        assert_eq!(e.fetch.table().unwrap().name, "", "the proxy's own table");
        assert_eq!(
            p("sc2_inc_gpc0").fetch.kind,
            FetchKind::StkCtrOp {
                ctr: 2,
                op: CtrOp::Inc(DataType::GPC0)
            }
        );
        assert_eq!(p("sc0_tracked").out_type, SmpType::Bool);
        assert_eq!(
            p("src_updt_conn_cnt").fetch.kind,
            FetchKind::SrcTableOp {
                op: CtrOp::UpdtConnCnt
            }
        );
        assert_eq!(p("var(txn.country)").fetch.var().unwrap().name, "country");
        assert_eq!(p("nbsrv(be_app)").fetch.str_arg(0), Some("be_app"));
        assert_eq!(p("int(-5)").fetch.kind, FetchKind::Const(Sample::Int(-5)));
        assert_eq!(
            p("str('a,b')").fetch.kind,
            FetchKind::Const(Sample::str("a,b"))
        );
        assert_eq!(
            p("bool(true)").fetch.kind,
            FetchKind::Const(Sample::Bool(true))
        );
        assert_eq!(p("url_param(id)").fetch.kind, FetchKind::UrlParam);
        assert_eq!(p("src()").fetch.kind, FetchKind::Src);
    }

    #[test]
    fn parse_errors_read_like_haproxy() {
        assert_eq!(err("foo"), "unknown fetch method 'foo'");
        assert_eq!(err(""), "missing fetch method");
        assert_eq!(err("src,bar"), "unknown converter 'bar'");
        assert_eq!(err("src;x"), "missing comma after fetch keyword 'src'");
        assert_eq!(
            err("req.payload(0,1),bool"),
            "converter 'bool' cannot be applied"
        );
        assert_eq!(
            err("ssl_fc,ipmask(24)"),
            "converter 'ipmask' cannot be applied"
        );
        assert_eq!(err("path,lower x"), "missing comma after converter 'lower'");
        assert_eq!(err("req.hdr(host"), "fetch method 'req.hdr' : expected ')'");
        assert_eq!(
            err("src(x)"),
            "fetch method 'src' : expected ')' before 'x)'"
        );
        assert_eq!(
            err("sc_conn_rate"),
            "fetch method 'sc_conn_rate' : missing arguments (got 0/1), type 'integer' expected"
        );
        assert_eq!(
            err("sc_conn_rate(x)"),
            "fetch method 'sc_conn_rate' : failed to parse 'x' as type 'integer' at position 1"
        );
        assert!(err("sc_conn_rate(3)").contains("invalid stick counter 3"));
        assert!(err("sc3_conn_rate").contains("unknown fetch method 'sc3_conn_rate'"));
        assert!(err("src_tracked").contains("unknown fetch method"));
        assert!(err("var(foo)").contains("must be start by its scope"));
        assert_eq!(
            err("src,ipmask(33)"),
            "invalid arg 1 in converter 'ipmask' : failed to parse '33' as type 'IPv4 mask' at position 1"
        );
        assert!(err("path,regsub([,x)").contains("regex '[' is invalid"));
        assert!(err("path,regsub(a,b,z)").contains("invalid regex flag 'z'"));
        assert_eq!(
            err("req.payload(1)"),
            "fetch method 'req.payload' : missing arguments (got 1/2), type 'integer' expected"
        );
        assert!(err("str('abc)").contains("unterminated quote"));
    }

    #[test]
    fn table_and_backend_arguments_are_resolved() {
        let tables = |n: &str| (n == "fe" || n == "mesh/t").then_some(TableId(7));
        let backends = |n: &str| n == "be_app";
        let ctx = ParseCtx {
            proxy: "fe",
            tables: Some(&tables),
            backends: Some(&backends),
        };
        let e = SampleExpr::parse("src_conn_rate", &ctx).unwrap();
        assert_eq!(
            e.fetch.table(),
            Some(&TableRef {
                name: "fe".into(),
                id: Some(TableId(7))
            })
        );
        let e = SampleExpr::parse("sc0_conn_rate(mesh/t)", &ctx).unwrap();
        assert_eq!(e.fetch.table().unwrap().id, Some(TableId(7)));
        let m = SampleExpr::parse("src_conn_rate(nope)", &ctx).unwrap_err();
        assert_eq!(
            m,
            "fetch method 'src_conn_rate' : unable to find table 'nope' referenced by arg 1 of sample fetch keyword 'src_conn_rate' in proxy 'fe'"
        );
        assert!(SampleExpr::parse("nbsrv(be_app)", &ctx).is_ok());
        assert!(SampleExpr::parse("nbsrv", &ctx).is_ok());
        let m = SampleExpr::parse("nbsrv(be_x)", &ctx).unwrap_err();
        assert!(m.contains("unable to find backend 'be_x'"), "{m}");
    }

    #[test]
    fn converters_apply_on_top_of_the_fetch() {
        let mut c = MapCtx::new();
        c.set("req.hdr(x-api-key)", vec![Sample::str("AbC")]);
        c.set("src", vec![v4("10.1.2.3")]);
        c.set("path", vec![Sample::str("/static/img/a.png")]);
        c.set("var(txn.n)", vec![Sample::Int(10)]);
        c.set("sc0_conn_cur", vec![Sample::Int(7)]);
        assert_eq!(
            ev("req.hdr(x-api-key),lower", &mut c),
            Some(Sample::str("abc"))
        );
        assert_eq!(
            ev("req.hdr(x-api-key),upper", &mut c),
            Some(Sample::str("ABC"))
        );
        assert_eq!(
            ev("req.hdr(x-api-key),length", &mut c),
            Some(Sample::Int(3))
        );
        assert_eq!(ev("src,ipmask(24)", &mut c), Some(v4("10.1.2.0")));
        assert_eq!(ev("src,ipmask(255.255.0.0)", &mut c), Some(v4("10.1.0.0")));
        assert_eq!(ev("sc0_conn_cur,add(3)", &mut c), Some(Sample::Int(10)));
        assert_eq!(ev("sc0_conn_cur,sub(10)", &mut c), Some(Sample::Int(-3)));
        assert_eq!(ev("sc0_conn_cur,mul(txn.n)", &mut c), Some(Sample::Int(70)));
        assert_eq!(ev("sc0_conn_cur,div(2)", &mut c), Some(Sample::Int(3)));
        assert_eq!(
            ev("sc0_conn_cur,div(0)", &mut c),
            Some(Sample::Int(i64::MAX))
        );
        assert_eq!(ev("sc0_conn_cur,mod(4)", &mut c), Some(Sample::Int(3)));
        assert_eq!(ev("sc0_conn_cur,bool", &mut c), Some(Sample::Bool(true)));
        assert_eq!(ev("sc0_conn_cur,not", &mut c), Some(Sample::Bool(false)));
        assert_eq!(ev("sc0_conn_cur,neg", &mut c), Some(Sample::Int(-7)));
        assert_eq!(
            ev("int(9223372036854775807),add(1)", &mut c),
            Some(Sample::Int(i64::MAX))
        );
        assert_eq!(ev("sc0_conn_cur,add(txn.missing)", &mut c), None);
        assert_eq!(
            ev("path,regsub(^/static/,/)", &mut c),
            Some(Sample::str("/img/a.png"))
        );
        assert_eq!(
            ev("path,regsub(/,_,g)", &mut c),
            Some(Sample::str("_static_img_a.png"))
        );
        assert_eq!(
            ev(r"path,regsub('^/([a-z]+)/(.*)',/\2/\1)", &mut c),
            Some(Sample::str("/img/a.png/static"))
        );
        assert_eq!(ev("path,field(2,/)", &mut c), Some(Sample::str("static")));
        assert_eq!(ev("path,field(-1,/)", &mut c), Some(Sample::str("a.png")));
        assert_eq!(
            ev("path,field(2,/,2)", &mut c),
            Some(Sample::str("static/img"))
        );
        assert_eq!(ev("path,word(1,/)", &mut c), Some(Sample::str("static")));
        assert_eq!(ev("str(ab),hex", &mut c), Some(Sample::str("6162")));
        // The ipv4 key of a peers table: src,ipmask(24),crc32.
        let expect = crc32(&[10, 1, 2, 0]);
        assert_eq!(
            ev("src,ipmask(24),crc32", &mut c),
            Some(Sample::Int(i64::from(expect)))
        );
        assert_eq!(ev("str(x),lower", &mut c), Some(Sample::str("x")));
        assert_eq!(ev("req.hdr(absent),lower", &mut c), None);
        // Constants are evaluated here, never by the context.
        let mut fresh = MapCtx::new();
        assert_eq!(ev("int(5),add(1)", &mut fresh), Some(Sample::Int(6)));
        assert_eq!(ev("always_true,not", &mut fresh), Some(Sample::Bool(false)));
        assert_eq!(fresh.fetches, 0);
    }

    #[test]
    fn hashes_match_reference_values() {
        // The classic check value of CRC-32/IEEE.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(djb2(b""), 5381);
        assert_eq!(djb2(b"a"), 5381 * 33 + 97);
        assert_ne!(full_hash(1), 1);
    }

    #[test]
    fn v6_ipmask_needs_a_v6_mask() {
        let mut c = MapCtx::new();
        c.set(
            "src",
            vec![Sample::Ip(IpAddr::V6("2001:db8:1:2::5".parse().unwrap()))],
        );
        assert_eq!(ev("src,ipmask(24)", &mut c), None);
        assert_eq!(
            ev("src,ipmask(24,64)", &mut c),
            Some(Sample::Ip(IpAddr::V6("2001:db8:1:2::".parse().unwrap())))
        );
    }

    #[test]
    fn prefix_parse_stops_after_the_expression() {
        let (e, n) =
            SampleExpr::parse_prefix("path,regsub(^/static/,/)]rest", &ParseCtx::detached())
                .unwrap();
        assert_eq!(n, "path,regsub(^/static/,/)".len());
        assert_eq!(e.convs.len(), 1);
        let (_, n) = SampleExpr::parse_prefix("src]", &ParseCtx::detached()).unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn arg_splitting_follows_make_arg_list() {
        assert_eq!(
            split_args("(a,b)x", 2).unwrap(),
            (vec!["a".into(), "b".into()], 5)
        );
        assert_eq!(
            split_args("('a,b',\"c)\")", 2).unwrap().0,
            vec!["a,b", "c)"]
        );
        assert_eq!(split_args(r"(a\,b)", 2).unwrap().0, vec![r"a\", "b"]);
        assert_eq!(split_args(r"(a\ b\tc)", 1).unwrap().0, vec!["a b\tc"]);
        assert_eq!(split_args("()", 1).unwrap().0, vec![""]);
        assert_eq!(split_args("x", 1).unwrap(), (vec![], 0));
        assert_eq!(
            split_args("(a,b)", 1).unwrap_err(),
            "expected ')' before ',b)'"
        );
    }
}
