//! The sample fetch keyword table: HAProxy's `sample_fetch_keywords`
//! registered by `sample.c`, `tcp_sample.c`, `http_fetch.c`,
//! `stick_table.c` and `vars.c`, and the stick-counter family
//! (`sc0_*`, `sc_*`, `src_*`) generated from its suffixes.

use core::net::IpAddr;

use super::*;
use crate::stick_table::DataType;

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
    /// `fc_src`, `fc_src_port`, `fc_dst`, `fc_dst_port`: the client
    /// connection's addresses, as `tcp-request connection` rules left
    /// them, before a PROXY header or a later `set-src` changed what
    /// `src` and `dst` say (HAProxy's `conn->src`, `conn->dst`).
    FcSrc,
    FcSrcPort,
    FcDst,
    FcDstPort,
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
    /// `be_conn([backend])`: the streams on a backend now (HAProxy's
    /// `px->beconn`).
    BeConn,
    /// `fe_conn([frontend])`: the live sessions of a frontend (the
    /// stream's by default; HAProxy's `px->feconn`).
    FeConn,
    /// `srv_conn([backend/]server)`: the established connections of a
    /// server now (HAProxy's `srv->cur_sess`); without a backend, the
    /// proxy whose rules run.
    SrvConn,
    /// `connslots([backend])`: free connection and queue slots of the
    /// backend's servers that are not down, -1 when one has no `maxconn`
    /// or no `maxqueue` (HAProxy's `smp_fetch_connslots`).
    ConnSlots,
    /// `srv_is_up(backend/server)`: the server is neither down nor in
    /// maintenance.
    SrvIsUp,
    /// `http_auth(userlist)`: the request's basic credentials are valid in
    /// the userlist.
    HttpAuth,
    /// `http_auth_group(userlist)`: the user name when the credentials are
    /// valid; in an ACL, its groups are matched against the patterns
    /// (HAProxy's `pat_match_auth`).
    HttpAuthGroup,
    /// `thread`: the thread (engine) running the stream, from 0 (HAProxy's
    /// `tid`).
    Thread,
    /// `fe_name`, `be_name`.
    FeName,
    BeName,
    /// `ssl_fc`: the client connection uses TLS.
    SslFc,
    /// `ssl_fc_sni`: the name the client sent in SNI.
    SslFcSni,
    /// `ssl_fc_protocol`: `TLSv1.2`, `TLSv1.3`.
    SslFcProtocol,
    /// `ssl_fc_cipher`: the suite, as OpenSSL names it.
    SslFcCipher,
    /// `ssl_fc_alpn`: the protocol ALPN chose.
    SslFcAlpn,
    /// `ssl_c_used`, `ssl_fc_has_crt`: the client presented a certificate.
    SslCUsed,
    /// `ssl_c_verify`: the verification result (0: ok; rustls refuses
    /// the handshake otherwise).
    SslCVerify,
    /// `ssl_c_s_dn([entry[,occ]])`, `ssl_c_i_dn(...)`: the subject and
    /// issuer of the client's certificate.
    SslCSDn,
    SslCIDn,
    /// `ssl_c_serial`: its serial number (binary).
    SslCSerial,
    /// `ssl_c_sha1`: its SHA-1 fingerprint (binary).
    SslCSha1,
    /// `ssl_c_der`, `ssl_c_chain_der`, `ssl_c_notafter`, `ssl_c_notbefore`,
    /// `ssl_c_sig_alg`, `ssl_c_key_alg`, `ssl_c_version`.
    SslCCert(CertPart),
    /// `ssl_f_sha1`, and `ssl_f_der`, `ssl_f_notafter`, `ssl_f_notbefore`,
    /// `ssl_f_sig_alg`, `ssl_f_key_alg`, `ssl_f_version`, `ssl_f_s_dn`,
    /// `ssl_f_i_dn`, `ssl_f_serial`: the certificate the frontend
    /// presented on the client connection (HAProxy's `smp_fetch_ssl_x_*`
    /// on `SSL_get_certificate`).
    SslFSha1,
    SslFCert(CertPart),
    /// `fc_err`: the client connection's error code (HAProxy's
    /// `conn->err_code`): 0, a stream's connection is established.
    FcErr,
    /// `fc_glitches` (HAProxy 3.x): glitches counted by the client
    /// connection's mux (HTTP/2 only; 0 otherwise).
    FcGlitches,
    /// `ssl_fc_err`: the TLS library's last error on the client
    /// connection: 0, the handshake succeeded.
    SslFcErr,
    /// `ssl_c_err`, `ssl_c_ca_err`: the first verification error of the
    /// client's certificate and of its chain: 0 (rustls refuses the
    /// handshake on any).
    SslCErr,
    SslCCaErr,
    /// `ssl_fc_is_resumed`: the TLS session was resumed.
    SslFcIsResumed,
    /// `req.len` (`req_len`): bytes in the request buffer.
    ReqLen,
    /// `req.payload(offset,length)`.
    ReqPayload,
    /// `req.ssl_sni` (`req_ssl_sni`): the SNI of a TLS ClientHello in the
    /// request buffer (TCP mode).
    ReqSslSni,
    /// `req.ssl_hello_type` (`req_ssl_hello_type`): the type of the TLS
    /// handshake message at the start of the request buffer (1: a
    /// ClientHello), HAProxy's `smp_fetch_ssl_hello_type`.
    ReqSslHelloType,
    /// `res.ssl_hello_type` (`rep_ssl_hello_type`): the same on the
    /// response buffer (2: a ServerHello).
    ResSslHelloType,
    /// `req.ssl_ver` (`req_ssl_ver`): the version a ClientHello at the
    /// start of the request buffer asks for (`0x30003` for TLS 1.2), SSLv2
    /// hellos included (HAProxy's `smp_fetch_req_ssl_ver`).
    ReqSslVer,
    /// `req.ssl_alpn`: the ALPN protocol names of a ClientHello in the
    /// request buffer, in order (several values for ACLs, the first in a
    /// sample expression), HAProxy's `smp_fetch_ssl_hello_alpn`.
    ReqSslAlpn,
    /// `req.proto_http` (`req_proto_http`): the request buffer holds HTTP.
    ReqProtoHttp,
    /// `wait_end`: true once `tcp-request inspect-delay` expired.
    WaitEnd,
    /// `res.len`: bytes in the response buffer (`tcp-response content`).
    ResLen,
    /// `res.payload(offset,length)`.
    ResPayload,
    /// `req.body`: the part of the request body in the buffer (payload,
    /// without chunk framing), as HAProxy's HTX DATA blocks.
    ReqBody,
    /// `req.body_len`: the length of that part.
    ReqBodyLen,
    /// `req.body_size`: the announced length (`Content-Length`), else the
    /// length in the buffer.
    ReqBodySize,
    /// `req.body_param([name[,i]])`: a parameter of an url-encoded body.
    ReqBodyParam,
    /// `res.body`, `res.body_len`, `res.body_size`: the same for the
    /// response while its head is analysed.
    ResBody,
    ResBodyLen,
    ResBodySize,
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
    /// `res.comp`: the response is compressed (`compression`).
    ResComp,
    /// `res.comp_algo`: the algorithm compressing the response.
    ResCompAlgo,
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
    /// `req.cook([name])` (`cook`), `res.cook` (`scook`): the first
    /// cookie called `name` (any without a name).
    Cook {
        dir: Dir,
    },
    /// `req.cook_cnt([name])` (`cook_cnt`), `res.cook_cnt` (`scook_cnt`):
    /// how many cookies are called `name` (all without a name).
    CookCnt {
        dir: Dir,
    },
    /// `req.cook_val([name])` (`cook_val`), `res.cook_val` (`scook_val`):
    /// the cookie's value as an integer.
    CookVal {
        dir: Dir,
    },
    /// A log-format variable (`%ci`, `%T`, `%ST`): only in log-format
    /// strings, named without the `%`.
    LogVar(String),
    /// `srv_id`: the numeric id (`id`, else its rank) of the server the
    /// stream went to.
    SrvId,
    /// `srv_name`: the name of the server the stream went to.
    SrvName,
    /// `http_first_req`: true for the first request of a client
    /// connection (HAProxy's `TX_NOT_FIRST` unset; always true on HTTP/2).
    HttpFirstReq,
    /// `unique-id`: the stream's id from the frontend's
    /// `unique-id-format` (made on first use).
    UniqueId,
    /// `last_rule_file` / `last_rule_line`: where the last final rule
    /// (accept, reject, allow, deny, redirect, return...) the stream ran
    /// was written (HAProxy's `s->last_rule_file`, `s->last_rule_line`).
    LastRuleFile,
    LastRuleLine,
    /// `capture.req.hdr(idx)` / `capture.res.hdr(idx)`: the value held by
    /// the frontend's capture slot `idx` (HAProxy's `req_cap`/`res_cap`,
    /// numbered in declaration order: `capture request|response header`,
    /// `declare capture`, `http-request capture ... len`). `dir` is
    /// [`Dir::Req`] or [`Dir::Res`].
    CaptureHdr {
        dir: Dir,
    },
    /// `capture.req.method`, `capture.req.uri`, `capture.req.ver`: parts
    /// of the request line kept for the log (HAProxy's `txn->uri`), usable
    /// in response rules too.
    CaptureReqLine(ReqLinePart),
    /// `uuid([version])`: a random UUID (version 4 only, as HAProxy 2.6),
    /// from the engine's PRNG.
    Uuid,
    /// `so_id`: the numeric id of the listener (`bind ... id`).
    SoId,
    /// `so_name`: the name of the listener (`bind ... name`).
    SoName,
    /// `be_server_timeout`, `be_tunnel_timeout`, `fe_client_timeout`,
    /// `cur_server_timeout`, `cur_tunnel_timeout`: timeouts in ms.
    Timeout(TimeoutFetch),
    /// `ssl_bc`, `ssl_bc_alpn`, `ssl_bc_protocol`, `ssl_bc_cipher`,
    /// `ssl_s_sha1`: the stream's connection to its server (HAProxy's
    /// `SMP_USE_L5SRV` fetches): usable once it is established (response
    /// rules, the log).
    SslBc(SslBcFetch),
    /// `fc_pp_authority`, `fc_pp_unique_id`: the AUTHORITY and UNIQUE_ID
    /// TLVs of the client's PROXY v2 header (`unique`).
    FcPp {
        unique: bool,
    },
}

/// What an `ssl_bc_*` / `ssl_s_*` fetch reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslBcFetch {
    /// `ssl_bc`: the server connection uses TLS.
    Used,
    /// `ssl_bc_alpn`: the protocol ALPN chose.
    Alpn,
    /// `ssl_bc_protocol`: `TLSv1.2`, `TLSv1.3`.
    Protocol,
    /// `ssl_bc_cipher`: the suite, as OpenSSL names it.
    Cipher,
    /// `ssl_s_sha1`: the SHA-1 of the server's certificate (binary).
    SSha1,
    /// `ssl_s_der`, `ssl_s_chain_der`, `ssl_s_notafter`, `ssl_s_notbefore`,
    /// `ssl_s_sig_alg`, `ssl_s_key_alg`, `ssl_s_version`, `ssl_s_i_dn`,
    /// `ssl_s_s_dn`, `ssl_s_serial`: the server's certificate.
    SCert(CertPart),
}

/// What a certificate fetch reads of a peer's certificate (HAProxy's
/// `smp_fetch_ssl_x_*`, shared by `ssl_c_*` and `ssl_s_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertPart {
    /// `_der`: the certificate, DER (binary).
    Der,
    /// `_chain_der`: every certificate the peer sent, DER, end to end.
    ChainDer,
    /// `_notafter`, `_notbefore`: `YYMMDDhhmmssZ`.
    NotAfter,
    NotBefore,
    /// `_sig_alg`, `_key_alg`: OpenSSL's short names (`RSA-SHA256`,
    /// `rsaEncryption`).
    SigAlg,
    KeyAlg,
    /// `_version`: 3 for an X.509 v3 certificate.
    Version,
    /// `_i_dn([entry[,occ]])`, `_s_dn(...)`.
    IDn,
    SDn,
    /// `_serial` (binary).
    Serial,
}

/// Which timeout a timeout fetch reads (HAProxy 2.6's `smp_fetch_*_timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutFetch {
    /// `be_server_timeout`: the backend's `timeout server` (0 unset).
    BeServer,
    /// `be_tunnel_timeout`: the backend's `timeout tunnel` (0 unset).
    BeTunnel,
    /// `fe_client_timeout`: the frontend's `timeout client` (0 unset).
    FeClient,
    /// `cur_server_timeout`: the stream's server timeout (`http-request
    /// set-timeout server`, else the backend's).
    CurServer,
    /// `cur_tunnel_timeout`: the stream's `set-timeout tunnel` (0 unset,
    /// as HAProxy's `s->tunnel_timeout`).
    CurTunnel,
}

/// A part of the captured request line (`capture.req.*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqLinePart {
    Method,
    Uri,
    Ver,
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
    /// The response buffer contents (`tcp-response content`).
    ResContent,
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
            Layer::ResContent => "response contents",
            Layer::HttpReq => "HTTP request headers",
            Layer::HttpRes => "HTTP response headers",
            Layer::HttpAny => "HTTP message headers",
        }
    }
}

pub(super) fn layer_of(k: &FetchKind) -> Layer {
    use FetchKind::*;
    match k {
        Const(_)
        | StkCtr { .. }
        | StkCtrOp { .. }
        | Var
        | NbSrv
        | BeConn
        | FeConn
        | SrvConn
        | ConnSlots
        | SrvIsUp
        | FeName
        | BeName
        | Thread => Layer::Internal,
        // `wait_end` is `SMP_USE_INTRN`: usable by request and response
        // content rules alike.
        LogVar(_) | UniqueId | SrvId | SrvName | HttpFirstReq | WaitEnd | Uuid => Layer::Internal,
        LastRuleFile | LastRuleLine => Layer::Internal,
        // `capture.req.*` read the stream's copy of the request line:
        // usable in request and response rules alike.
        CaptureReqLine(_) | Timeout(_) | SslBc(_) => Layer::Internal,
        SoId | SoName | FcPp { .. } => Layer::L4,
        Src
        | SrcPort
        | Dst
        | DstPort
        | FcSrc
        | FcSrcPort
        | FcDst
        | FcDstPort
        | SslFc
        | SslFcSni
        | SslFcProtocol
        | SslFcCipher
        | SslFcAlpn
        | SslCUsed
        | SslCVerify
        | SslCSDn
        | SslCIDn
        | SslCSerial
        | SslCSha1
        | SslCCert(_)
        | SslFSha1
        | SslFCert(_)
        | FcErr
        | FcGlitches
        | SslFcErr
        | SslCErr
        | SslCCaErr
        | SslFcIsResumed
        | SrcTable { .. }
        | SrcTableOp { .. } => Layer::L4,
        ReqLen | ReqPayload | ReqSslSni | ReqProtoHttp | ReqSslHelloType | ReqSslVer
        | ReqSslAlpn => Layer::ReqContent,
        ResLen | ResPayload | ResSslHelloType => Layer::ResContent,
        Method | Path | PathQ | Url | Base | Query | UrlParam | ReqVer | HttpAuth
        | HttpAuthGroup | ReqBody | ReqBodyLen | ReqBodySize | ReqBodyParam => Layer::HttpReq,
        Hdr { dir, .. }
        | HdrCnt { dir, .. }
        | HdrVal { dir }
        | HdrIp { dir }
        | Cook { dir }
        | CookCnt { dir }
        | CookVal { dir } => match dir {
            Dir::Req => Layer::HttpReq,
            Dir::Res => Layer::HttpRes,
            Dir::Any => Layer::HttpAny,
        },
        ResVer | Status | ResComp | ResCompAlgo | ResBody | ResBodyLen | ResBodySize => {
            Layer::HttpRes
        }
        CaptureHdr { dir: Dir::Res } => Layer::HttpRes,
        CaptureHdr { .. } => Layer::HttpReq,
    }
}

/// A fetch keyword (HAProxy's `struct sample_fetch` entry).
struct FetchDef {
    kw: &'static str,
    kind: FetchKind,
    args: ArgSpec,
    out: SmpType,
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
    fd("unique-id", FetchKind::UniqueId, NO_ARGS, SmpType::Str),
    fd(
        "last_rule_file",
        FetchKind::LastRuleFile,
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "last_rule_line",
        FetchKind::LastRuleLine,
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "capture.req.hdr",
        FetchKind::CaptureHdr { dir: Dir::Req },
        spec!(1; Int),
        SmpType::Str,
    ),
    fd(
        "capture.res.hdr",
        FetchKind::CaptureHdr { dir: Dir::Res },
        spec!(1; Int),
        SmpType::Str,
    ),
    fd(
        "capture.req.method",
        FetchKind::CaptureReqLine(ReqLinePart::Method),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "capture.req.uri",
        FetchKind::CaptureReqLine(ReqLinePart::Uri),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "capture.req.ver",
        FetchKind::CaptureReqLine(ReqLinePart::Ver),
        NO_ARGS,
        SmpType::Str,
    ),
    fd("uuid", FetchKind::Uuid, spec!(0; Int), SmpType::Str),
    fd("so_id", FetchKind::SoId, NO_ARGS, SmpType::Int),
    fd(
        "fc_pp_authority",
        FetchKind::FcPp { unique: false },
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "fc_pp_unique_id",
        FetchKind::FcPp { unique: true },
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_bc",
        FetchKind::SslBc(SslBcFetch::Used),
        NO_ARGS,
        SmpType::Bool,
    ),
    fd(
        "ssl_bc_alpn",
        FetchKind::SslBc(SslBcFetch::Alpn),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_bc_protocol",
        FetchKind::SslBc(SslBcFetch::Protocol),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_bc_cipher",
        FetchKind::SslBc(SslBcFetch::Cipher),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_s_sha1",
        FetchKind::SslBc(SslBcFetch::SSha1),
        NO_ARGS,
        SmpType::Bin,
    ),
    fd(
        "ssl_s_der",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::Der)),
        NO_ARGS,
        SmpType::Bin,
    ),
    fd(
        "ssl_s_chain_der",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::ChainDer)),
        NO_ARGS,
        SmpType::Bin,
    ),
    fd(
        "ssl_s_notafter",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::NotAfter)),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_s_notbefore",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::NotBefore)),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_s_sig_alg",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::SigAlg)),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_s_key_alg",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::KeyAlg)),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_s_version",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::Version)),
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "ssl_s_i_dn",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::IDn)),
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "ssl_s_s_dn",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::SDn)),
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "ssl_s_serial",
        FetchKind::SslBc(SslBcFetch::SCert(CertPart::Serial)),
        NO_ARGS,
        SmpType::Bin,
    ),
    fd(
        "be_server_timeout",
        FetchKind::Timeout(TimeoutFetch::BeServer),
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "be_tunnel_timeout",
        FetchKind::Timeout(TimeoutFetch::BeTunnel),
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "fe_client_timeout",
        FetchKind::Timeout(TimeoutFetch::FeClient),
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "cur_server_timeout",
        FetchKind::Timeout(TimeoutFetch::CurServer),
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "cur_tunnel_timeout",
        FetchKind::Timeout(TimeoutFetch::CurTunnel),
        NO_ARGS,
        SmpType::Int,
    ),
    fd("so_name", FetchKind::SoName, NO_ARGS, SmpType::Str),
    fd("src", FetchKind::Src, NO_ARGS, SmpType::Addr),
    fd("src_port", FetchKind::SrcPort, NO_ARGS, SmpType::Int),
    fd("fc_src", FetchKind::FcSrc, NO_ARGS, SmpType::Addr),
    fd("fc_src_port", FetchKind::FcSrcPort, NO_ARGS, SmpType::Int),
    fd("fc_dst", FetchKind::FcDst, NO_ARGS, SmpType::Addr),
    fd("fc_dst_port", FetchKind::FcDstPort, NO_ARGS, SmpType::Int),
    fd("dst", FetchKind::Dst, NO_ARGS, SmpType::Addr),
    fd("dst_port", FetchKind::DstPort, NO_ARGS, SmpType::Int),
    fd("var", FetchKind::Var, spec!(1; Var, Str), SmpType::Any),
    fd("nbsrv", FetchKind::NbSrv, spec!(1; Backend), SmpType::Int),
    fd(
        "be_conn",
        FetchKind::BeConn,
        spec!(1; Backend),
        SmpType::Int,
    ),
    fd("fe_conn", FetchKind::FeConn, spec!(0; Str), SmpType::Int),
    fd("srv_conn", FetchKind::SrvConn, spec!(1; Str), SmpType::Int),
    fd(
        "connslots",
        FetchKind::ConnSlots,
        spec!(1; Backend),
        SmpType::Int,
    ),
    fd(
        "srv_is_up",
        FetchKind::SrvIsUp,
        spec!(1; Str),
        SmpType::Bool,
    ),
    fd("thread", FetchKind::Thread, NO_ARGS, SmpType::Int),
    fd("fe_name", FetchKind::FeName, NO_ARGS, SmpType::Str),
    fd("be_name", FetchKind::BeName, NO_ARGS, SmpType::Str),
    fd("srv_id", FetchKind::SrvId, NO_ARGS, SmpType::Int),
    fd("srv_name", FetchKind::SrvName, NO_ARGS, SmpType::Str),
    fd(
        "http_first_req",
        FetchKind::HttpFirstReq,
        NO_ARGS,
        SmpType::Bool,
    ),
    fd("ssl_fc", FetchKind::SslFc, NO_ARGS, SmpType::Bool),
    fd("ssl_fc_sni", FetchKind::SslFcSni, NO_ARGS, SmpType::Str),
    fd(
        "ssl_fc_protocol",
        FetchKind::SslFcProtocol,
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_fc_cipher",
        FetchKind::SslFcCipher,
        NO_ARGS,
        SmpType::Str,
    ),
    fd("ssl_fc_alpn", FetchKind::SslFcAlpn, NO_ARGS, SmpType::Str),
    fd("ssl_c_used", FetchKind::SslCUsed, NO_ARGS, SmpType::Bool),
    fd(
        "ssl_fc_has_crt",
        FetchKind::SslCUsed,
        NO_ARGS,
        SmpType::Bool,
    ),
    fd("ssl_c_verify", FetchKind::SslCVerify, NO_ARGS, SmpType::Int),
    fd(
        "ssl_c_s_dn",
        FetchKind::SslCSDn,
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "ssl_c_i_dn",
        FetchKind::SslCIDn,
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd("ssl_c_serial", FetchKind::SslCSerial, NO_ARGS, SmpType::Bin),
    fd("ssl_c_sha1", FetchKind::SslCSha1, NO_ARGS, SmpType::Bin),
    fd(
        "ssl_c_der",
        FetchKind::SslCCert(CertPart::Der),
        NO_ARGS,
        SmpType::Bin,
    ),
    fd(
        "ssl_c_chain_der",
        FetchKind::SslCCert(CertPart::ChainDer),
        NO_ARGS,
        SmpType::Bin,
    ),
    fd(
        "ssl_c_notafter",
        FetchKind::SslCCert(CertPart::NotAfter),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_c_notbefore",
        FetchKind::SslCCert(CertPart::NotBefore),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_c_sig_alg",
        FetchKind::SslCCert(CertPart::SigAlg),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_c_key_alg",
        FetchKind::SslCCert(CertPart::KeyAlg),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_c_version",
        FetchKind::SslCCert(CertPart::Version),
        NO_ARGS,
        SmpType::Int,
    ),
    fd("ssl_f_sha1", FetchKind::SslFSha1, NO_ARGS, SmpType::Bin),
    fd(
        "ssl_f_der",
        FetchKind::SslFCert(CertPart::Der),
        NO_ARGS,
        SmpType::Bin,
    ),
    fd(
        "ssl_f_notafter",
        FetchKind::SslFCert(CertPart::NotAfter),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_f_notbefore",
        FetchKind::SslFCert(CertPart::NotBefore),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_f_sig_alg",
        FetchKind::SslFCert(CertPart::SigAlg),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_f_key_alg",
        FetchKind::SslFCert(CertPart::KeyAlg),
        NO_ARGS,
        SmpType::Str,
    ),
    fd(
        "ssl_f_version",
        FetchKind::SslFCert(CertPart::Version),
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "ssl_f_s_dn",
        FetchKind::SslFCert(CertPart::SDn),
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "ssl_f_i_dn",
        FetchKind::SslFCert(CertPart::IDn),
        spec!(0; Str, Int),
        SmpType::Str,
    ),
    fd(
        "ssl_f_serial",
        FetchKind::SslFCert(CertPart::Serial),
        NO_ARGS,
        SmpType::Bin,
    ),
    fd("fc_err", FetchKind::FcErr, NO_ARGS, SmpType::Int),
    fd("fc_glitches", FetchKind::FcGlitches, NO_ARGS, SmpType::Int),
    fd("ssl_fc_err", FetchKind::SslFcErr, NO_ARGS, SmpType::Int),
    fd("ssl_c_err", FetchKind::SslCErr, NO_ARGS, SmpType::Int),
    fd("ssl_c_ca_err", FetchKind::SslCCaErr, NO_ARGS, SmpType::Int),
    fd(
        "ssl_fc_is_resumed",
        FetchKind::SslFcIsResumed,
        NO_ARGS,
        SmpType::Bool,
    ),
    fd("req.len", FetchKind::ReqLen, NO_ARGS, SmpType::Int),
    fd("req_len", FetchKind::ReqLen, NO_ARGS, SmpType::Int),
    fd(
        "req.payload",
        FetchKind::ReqPayload,
        spec!(2; Int, Int),
        SmpType::Bin,
    ),
    fd("res.len", FetchKind::ResLen, NO_ARGS, SmpType::Int),
    fd(
        "res.payload",
        FetchKind::ResPayload,
        spec!(2; Int, Int),
        SmpType::Bin,
    ),
    fd("req.ssl_sni", FetchKind::ReqSslSni, NO_ARGS, SmpType::Str),
    fd("req_ssl_sni", FetchKind::ReqSslSni, NO_ARGS, SmpType::Str),
    fd(
        "req.ssl_hello_type",
        FetchKind::ReqSslHelloType,
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "req_ssl_hello_type",
        FetchKind::ReqSslHelloType,
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "res.ssl_hello_type",
        FetchKind::ResSslHelloType,
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "rep_ssl_hello_type",
        FetchKind::ResSslHelloType,
        NO_ARGS,
        SmpType::Int,
    ),
    fd("req.ssl_ver", FetchKind::ReqSslVer, NO_ARGS, SmpType::Int),
    fd("req_ssl_ver", FetchKind::ReqSslVer, NO_ARGS, SmpType::Int),
    fd("req.ssl_alpn", FetchKind::ReqSslAlpn, NO_ARGS, SmpType::Str),
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
    fd("req.body", FetchKind::ReqBody, NO_ARGS, SmpType::Bin),
    fd("req.body_len", FetchKind::ReqBodyLen, NO_ARGS, SmpType::Int),
    fd(
        "req.body_size",
        FetchKind::ReqBodySize,
        NO_ARGS,
        SmpType::Int,
    ),
    fd(
        "req.body_param",
        FetchKind::ReqBodyParam,
        spec!(0; Str, Str),
        SmpType::Bin,
    ),
    fd("res.body", FetchKind::ResBody, NO_ARGS, SmpType::Bin),
    fd("res.body_len", FetchKind::ResBodyLen, NO_ARGS, SmpType::Int),
    fd(
        "res.body_size",
        FetchKind::ResBodySize,
        NO_ARGS,
        SmpType::Int,
    ),
    fd("method", FetchKind::Method, NO_ARGS, SmpType::Str),
    fd(
        "http_auth",
        FetchKind::HttpAuth,
        spec!(1; Userlist),
        SmpType::Bool,
    ),
    fd(
        "http_auth_group",
        FetchKind::HttpAuthGroup,
        spec!(1; Userlist),
        SmpType::Str,
    ),
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
    fd("res.comp", FetchKind::ResComp, NO_ARGS, SmpType::Bool),
    fd(
        "res.comp_algo",
        FetchKind::ResCompAlgo,
        NO_ARGS,
        SmpType::Str,
    ),
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
    fd(
        "req.cook_cnt",
        FetchKind::CookCnt { dir: HREQ },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "cook_cnt",
        FetchKind::CookCnt { dir: HREQ },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "res.cook_cnt",
        FetchKind::CookCnt { dir: HRES },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "scook_cnt",
        FetchKind::CookCnt { dir: HRES },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "req.cook_val",
        FetchKind::CookVal { dir: HREQ },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "cook_val",
        FetchKind::CookVal { dir: HREQ },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "res.cook_val",
        FetchKind::CookVal { dir: HRES },
        spec!(0; Str),
        SmpType::Int,
    ),
    fd(
        "scook_val",
        FetchKind::CookVal { dir: HRES },
        spec!(0; Str),
        SmpType::Int,
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
        "bin",
        FetchKind::Const(Sample::Bool(false)),
        spec!(1; Str),
        SmpType::Bin,
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

impl Resolved {
    /// The fetch kind of a static keyword (`Var` stands for the counters,
    /// which need no check here).
    fn build_kind(&self) -> FetchKind {
        match &self.build {
            Build::Static(k) => k.clone(),
            Build::Counter(..) => FetchKind::Var,
        }
    }
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
    if let (FetchKind::Uuid, Some(Arg::Int(v))) = (&r.build_kind(), args.first()) {
        // HAProxy 2.6's `smp_check_uuid`: version 4 only.
        if *v != 4 {
            return Err(format!("Unsupported UUID version: '{v}'"));
        }
    }
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
        ("bin", Some(Arg::Str(s))) => Sample::Bin(crate::acl::parse_hex(s)?),
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
    if fetch.kind == FetchKind::SrvConn
        && ctx.proxy.is_empty()
        && ctx.backends.is_some()
        && !fetch.str_arg(0).is_some_and(|a| a.contains('/'))
    {
        // In a defaults section (a configuration's context without a
        // proxy) there is no proxy to find the server in.
        return Err(format!(
            "backend name must be set in arg 1 of sample fetch keyword '{kw}'"
        ));
    }
    Ok(Some(FetchHead {
        fetch,
        out,
        end: used,
    }))
}
