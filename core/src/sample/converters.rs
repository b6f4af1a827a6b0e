//! Converters: HAProxy's `sample_conv_keywords` (`sample.c`,
//! `http_conv.c`) and what each one does to a sample.

use core::net::IpAddr;

use super::*;
use crate::acl::MatchMethod;
use crate::pattern::MapOut;

/// What a converter does (HAProxy's `struct sample_conv` identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// `set-var(name[,cond...])`: stores the sample in a variable if the
    /// conditions hold and passes it on; fails when it was not stored
    /// (HAProxy's `smp_conv_store`).
    SetVar,
    /// `unset-var(name)`: unsets the variable, passes the sample on.
    UnsetVar,
    /// `json_query(path[,int])`.
    JsonQuery,
    /// `json([input-code])`: the string escaped for a JSON string
    /// (HAProxy's `sample_conv_json`).
    Json,
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
    /// `sdbm([avalanche])`.
    Sdbm,
    /// `wt6([avalanche])`.
    Wt6,
    /// `xxh32([seed])`: 32-bit xxHash, unsigned.
    Xxh32,
    /// `xxh64([seed])`: 64-bit xxHash, as a signed integer.
    Xxh64,
    /// `xxh3([seed])`: 64-bit XXH3, as a signed integer.
    Xxh3,
    /// `hex`: upper-case hexadecimal of the binary form.
    Hex,
    /// `regsub(regex,subst[,flags])`: `\1`..`\9` in `subst`, flags `i`, `g`.
    Regsub,
    /// `field(index,delimiters[,count])`.
    Field,
    /// `word(index,delimiters[,count])`.
    Word,
    /// `iif(true,false)`: one of two strings by a boolean.
    Iif,
    /// `add_item(delim,[var][,suffix])`: appends the delimiter (only to a
    /// non-empty input, and only if something follows it), the variable's
    /// contents and the suffix.
    AddItem,
    /// `concat([start],[var],[end])`.
    Concat,
    /// `be2dec(separator,chunk_size[,truncate])`: big-endian integers of
    /// `chunk_size` bytes, in decimal.
    Be2Dec,
    /// `be2hex([separator[,chunk_size[,truncate]]])`: upper-case hex, the
    /// separator every `chunk_size` bytes.
    Be2Hex,
    /// `base64`: standard base64 of the binary form.
    Base64,
    /// `b64dec`: decodes standard base64; fails on bad input.
    B64Dec,
    /// `ub64enc`: URL-safe base64 without padding.
    Ub64Enc,
    /// `ub64dec`: decodes URL-safe base64; fails on bad input.
    Ub64Dec,
    /// `sha1`: the 20-byte SHA-1 of the binary form.
    Sha1,
    /// `sha2([bits])`: SHA-224/256/384/512 (256 by default).
    Sha2,
    /// `digest(algorithm)`: a message digest named as OpenSSL names it.
    Digest,
    /// `hmac(algorithm,key)`: `key` base64 text, or a variable holding
    /// base64 text.
    Hmac,
    /// `secure_memcmp(var)`: constant-time equality with a variable.
    SecureMemcmp,
    /// `strcmp(var)`: compares with a variable's text as `strcmp(3)` does
    /// (negative, 0 or positive; a proper prefix is smaller).
    Strcmp,
    /// `bytes(offset[,length])`: a slice of the binary form.
    Bytes,
    /// `crc32c([avalanche])`: CRC-32C (Castagnoli) of the binary form.
    Crc32c,
    /// `fix_is_valid`: a complete, valid FIX message (none while it is
    /// incomplete).
    FixIsValid,
    /// `fix_tag_value(tag)`: the value of a FIX tag (a number or one of
    /// the names HAProxy knows), as an integer argument once parsed.
    FixTagValue,
    /// `url_dec([in_form])`: percent-decoding; `+` is a space after the
    /// first `?`, everywhere with `in_form` not 0.
    UrlDec,
    /// `url_enc([query])`: percent-encoding of all but RFC 3986's
    /// unreserved characters.
    UrlEnc,
    /// `map*(file[,default])`: looks the input up in a map file (HAProxy's
    /// `sample_conv_map`).
    Map(MapConv),
    /// `in_table(table)`, `table_<data>(table)`, `table_gpc(idx,table)`:
    /// the entry of the input in a stick table (HAProxy's
    /// `sample_conv_in_table`, `sample_conv_table_*` in `stick_table.c`).
    Table(TableConv),
}

/// What a `map_<match>_<out>` converter matches with and returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapConv {
    pub method: crate::acl::MatchMethod,
    /// `map_regm`: the value's `\N` are the regex's groups.
    pub regm: bool,
    pub out: crate::pattern::MapOut,
}

/// What a table converter reads from the input's entry (looked up, never
/// created). A missing entry gives 0 (`in_table`: false); a data type the
/// table does not store makes the converter fail, as HAProxy's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableConv {
    /// `in_table`: whether there is an entry.
    In,
    /// A stored value (a rate as its current rate); for the arrays
    /// (`table_gpt`, `table_gpc`, `table_gpc_rate`) the index is the
    /// first argument.
    Data(crate::stick_table::DataType),
    /// `table_kbytes_in`, `table_kbytes_out`: the byte count / 1024.
    Kbytes(crate::stick_table::DataType),
    /// `table_trackers`: the entry's reference count.
    Trackers,
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

/// A `map_<match>[_<out>]` converter: a map file (and a default value of the
/// output's type: a string for `_ip`, as HAProxy) looked up with `method`,
/// which also gives the input type (`_int`: an integer, `_ip`: an address).
const fn mc(kw: &'static str, method: MatchMethod, out: MapOut) -> ConvDef {
    map_conv_def(
        kw,
        MapConv {
            method,
            regm: false,
            out,
        },
    )
}

/// `map_regm`: `map_reg` whose value's `\N` are the regex's groups.
const fn mc_regm(kw: &'static str) -> ConvDef {
    map_conv_def(
        kw,
        MapConv {
            method: MatchMethod::Reg,
            regm: true,
            out: MapOut::Str,
        },
    )
}

const fn map_conv_def(kw: &'static str, m: MapConv) -> ConvDef {
    let input = match m.method {
        MatchMethod::Int => SmpType::Int,
        MatchMethod::Ip => SmpType::Addr,
        _ => SmpType::Str,
    };
    let (args, out_type) = match m.out {
        MapOut::Str => (spec!(1; Str, Str), SmpType::Str),
        MapOut::Int => (spec!(1; Str, Int), SmpType::Int),
        MapOut::Addr => (spec!(1; Str, Str), SmpType::Addr),
    };
    cd(kw, ConvKind::Map(m), args, input, out_type)
}

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
    cd(
        "set-var",
        ConvKind::SetVar,
        spec!(1; Str, Str, Str, Str, Str),
        SmpType::Any,
        SmpType::Any,
    ),
    cd(
        "unset-var",
        ConvKind::UnsetVar,
        spec!(1; Str),
        SmpType::Any,
        SmpType::Any,
    ),
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
    cd(
        "sdbm",
        ConvKind::Sdbm,
        spec!(0; Int),
        SmpType::Bin,
        SmpType::Int,
    ),
    cd(
        "wt6",
        ConvKind::Wt6,
        spec!(0; Int),
        SmpType::Bin,
        SmpType::Int,
    ),
    cd(
        "xxh32",
        ConvKind::Xxh32,
        spec!(0; Int),
        SmpType::Bin,
        SmpType::Int,
    ),
    cd(
        "xxh64",
        ConvKind::Xxh64,
        spec!(0; Int),
        SmpType::Bin,
        SmpType::Int,
    ),
    cd(
        "xxh3",
        ConvKind::Xxh3,
        spec!(0; Int),
        SmpType::Bin,
        SmpType::Int,
    ),
    cd("hex", ConvKind::Hex, NO_ARGS, SmpType::Bin, SmpType::Str),
    cd(
        "json",
        ConvKind::Json,
        spec!(0; Str),
        SmpType::Str,
        SmpType::Str,
    ),
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
        "json_query",
        ConvKind::JsonQuery,
        spec!(1; Str, Str),
        SmpType::Str,
        SmpType::Any,
    ),
    cd(
        "word",
        ConvKind::Word,
        spec!(2; Int, Str, Int),
        SmpType::Str,
        SmpType::Str,
    ),
    cd(
        "iif",
        ConvKind::Iif,
        spec!(2; Str, Str),
        SmpType::Bool,
        SmpType::Str,
    ),
    cd(
        "add_item",
        ConvKind::AddItem,
        spec!(2; Str, Str, Str),
        SmpType::Str,
        SmpType::Str,
    ),
    cd(
        "concat",
        ConvKind::Concat,
        spec!(1; Str, Str, Str),
        SmpType::Str,
        SmpType::Str,
    ),
    cd(
        "be2dec",
        ConvKind::Be2Dec,
        spec!(1; Str, Int, Int),
        SmpType::Bin,
        SmpType::Str,
    ),
    cd(
        "be2hex",
        ConvKind::Be2Hex,
        spec!(1; Str, Int, Int),
        SmpType::Bin,
        SmpType::Str,
    ),
    cd(
        "base64",
        ConvKind::Base64,
        NO_ARGS,
        SmpType::Bin,
        SmpType::Str,
    ),
    cd(
        "b64dec",
        ConvKind::B64Dec,
        NO_ARGS,
        SmpType::Str,
        SmpType::Bin,
    ),
    cd(
        "ub64enc",
        ConvKind::Ub64Enc,
        NO_ARGS,
        SmpType::Bin,
        SmpType::Str,
    ),
    cd(
        "ub64dec",
        ConvKind::Ub64Dec,
        NO_ARGS,
        SmpType::Str,
        SmpType::Bin,
    ),
    cd("sha1", ConvKind::Sha1, NO_ARGS, SmpType::Bin, SmpType::Bin),
    cd(
        "sha2",
        ConvKind::Sha2,
        spec!(0; Int),
        SmpType::Bin,
        SmpType::Bin,
    ),
    cd(
        "digest",
        ConvKind::Digest,
        spec!(1; Str),
        SmpType::Bin,
        SmpType::Bin,
    ),
    cd(
        "hmac",
        ConvKind::Hmac,
        spec!(2; Str, Str),
        SmpType::Bin,
        SmpType::Bin,
    ),
    cd(
        "secure_memcmp",
        ConvKind::SecureMemcmp,
        spec!(1; Str),
        SmpType::Bin,
        SmpType::Bool,
    ),
    cd(
        "strcmp",
        ConvKind::Strcmp,
        spec!(1; Str),
        SmpType::Str,
        SmpType::Int,
    ),
    cd(
        "bytes",
        ConvKind::Bytes,
        spec!(1; Int, Int),
        SmpType::Bin,
        SmpType::Bin,
    ),
    cd(
        "fix_is_valid",
        ConvKind::FixIsValid,
        NO_ARGS,
        SmpType::Bin,
        SmpType::Bool,
    ),
    cd(
        "fix_tag_value",
        ConvKind::FixTagValue,
        spec!(1; Str),
        SmpType::Bin,
        SmpType::Bin,
    ),
    cd(
        "crc32c",
        ConvKind::Crc32c,
        spec!(0; Int),
        SmpType::Bin,
        SmpType::Int,
    ),
    cd(
        "url_dec",
        ConvKind::UrlDec,
        spec!(0; Int),
        SmpType::Str,
        SmpType::Str,
    ),
    cd(
        "url_enc",
        ConvKind::UrlEnc,
        spec!(1; Str),
        SmpType::Str,
        SmpType::Str,
    ),
    mc("map", MatchMethod::Str, MapOut::Str),
    mc("map_str", MatchMethod::Str, MapOut::Str),
    mc("map_beg", MatchMethod::Beg, MapOut::Str),
    mc("map_sub", MatchMethod::Sub, MapOut::Str),
    mc("map_dir", MatchMethod::Dir, MapOut::Str),
    mc("map_dom", MatchMethod::Dom, MapOut::Str),
    mc("map_end", MatchMethod::End, MapOut::Str),
    mc("map_reg", MatchMethod::Reg, MapOut::Str),
    mc_regm("map_regm"),
    mc("map_int", MatchMethod::Int, MapOut::Str),
    mc("map_ip", MatchMethod::Ip, MapOut::Str),
    mc("map_str_int", MatchMethod::Str, MapOut::Int),
    mc("map_beg_int", MatchMethod::Beg, MapOut::Int),
    mc("map_sub_int", MatchMethod::Sub, MapOut::Int),
    mc("map_dir_int", MatchMethod::Dir, MapOut::Int),
    mc("map_dom_int", MatchMethod::Dom, MapOut::Int),
    mc("map_end_int", MatchMethod::End, MapOut::Int),
    mc("map_reg_int", MatchMethod::Reg, MapOut::Int),
    mc("map_int_int", MatchMethod::Int, MapOut::Int),
    mc("map_ip_int", MatchMethod::Ip, MapOut::Int),
    mc("map_str_ip", MatchMethod::Str, MapOut::Addr),
    mc("map_beg_ip", MatchMethod::Beg, MapOut::Addr),
    mc("map_sub_ip", MatchMethod::Sub, MapOut::Addr),
    mc("map_dir_ip", MatchMethod::Dir, MapOut::Addr),
    mc("map_dom_ip", MatchMethod::Dom, MapOut::Addr),
    mc("map_end_ip", MatchMethod::End, MapOut::Addr),
    mc("map_reg_ip", MatchMethod::Reg, MapOut::Addr),
    mc("map_int_ip", MatchMethod::Int, MapOut::Addr),
    mc("map_ip_ip", MatchMethod::Ip, MapOut::Addr),
];

use crate::stick_table::DataType as Dt;

const fn tc(kw: &'static str, t: TableConv, args: ArgSpec) -> ConvDef {
    cd(kw, ConvKind::Table(t), args, SmpType::Any, SmpType::Int)
}

const TBL: ArgSpec = spec!(1; Table);
const TBL_IDX: ArgSpec = spec!(2; Int, Table);

/// The stick-table converters of HAProxy 2.6 (`stick_table.c`).
static TABLE_CONVS: &[ConvDef] = &[
    cd(
        "in_table",
        ConvKind::Table(TableConv::In),
        TBL,
        SmpType::Any,
        SmpType::Bool,
    ),
    tc(
        "table_bytes_in_rate",
        TableConv::Data(Dt::BYTES_IN_RATE),
        TBL,
    ),
    tc(
        "table_bytes_out_rate",
        TableConv::Data(Dt::BYTES_OUT_RATE),
        TBL,
    ),
    tc("table_conn_cnt", TableConv::Data(Dt::CONN_CNT), TBL),
    tc("table_conn_cur", TableConv::Data(Dt::CONN_CUR), TBL),
    tc("table_conn_rate", TableConv::Data(Dt::CONN_RATE), TBL),
    tc("table_gpt0", TableConv::Data(Dt::GPT0), TBL),
    tc("table_gpt", TableConv::Data(Dt::GPT), TBL_IDX),
    tc("table_gpc0", TableConv::Data(Dt::GPC0), TBL),
    tc("table_gpc0_rate", TableConv::Data(Dt::GPC0_RATE), TBL),
    tc("table_gpc1", TableConv::Data(Dt::GPC1), TBL),
    tc("table_gpc1_rate", TableConv::Data(Dt::GPC1_RATE), TBL),
    tc("table_gpc", TableConv::Data(Dt::GPC), TBL_IDX),
    tc("table_gpc_rate", TableConv::Data(Dt::GPC_RATE), TBL_IDX),
    tc("table_http_err_cnt", TableConv::Data(Dt::HTTP_ERR_CNT), TBL),
    tc(
        "table_http_err_rate",
        TableConv::Data(Dt::HTTP_ERR_RATE),
        TBL,
    ),
    tc(
        "table_http_fail_cnt",
        TableConv::Data(Dt::HTTP_FAIL_CNT),
        TBL,
    ),
    tc(
        "table_http_fail_rate",
        TableConv::Data(Dt::HTTP_FAIL_RATE),
        TBL,
    ),
    tc("table_http_req_cnt", TableConv::Data(Dt::HTTP_REQ_CNT), TBL),
    tc(
        "table_http_req_rate",
        TableConv::Data(Dt::HTTP_REQ_RATE),
        TBL,
    ),
    tc("table_kbytes_in", TableConv::Kbytes(Dt::BYTES_IN_CNT), TBL),
    tc(
        "table_kbytes_out",
        TableConv::Kbytes(Dt::BYTES_OUT_CNT),
        TBL,
    ),
    tc("table_server_id", TableConv::Data(Dt::SERVER_ID), TBL),
    tc("table_sess_cnt", TableConv::Data(Dt::SESS_CNT), TBL),
    tc("table_sess_rate", TableConv::Data(Dt::SESS_RATE), TBL),
    tc("table_trackers", TableConv::Trackers, TBL),
];

/// Every converter keyword Sluice knows.
pub fn converter_keywords() -> impl Iterator<Item = &'static str> {
    CONVS.iter().chain(TABLE_CONVS).map(|c| c.kw)
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
        let Some(def) = CONVS.iter().chain(TABLE_CONVS).find(|c| c.kw == name) else {
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
        let mut args = check_conv_args(def.kind, args)
            .map_err(|e| format!("invalid args in converter '{name}' : {e}"))?;
        if let ConvKind::Map(m) = def.kind {
            load_map(m, &mut args, ctx)
                .map_err(|e| format!("invalid args in converter '{name}' : {e}"))?;
        }
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

/// Loads the map file of a `map*` converter (HAProxy's `sample_load_map`)
/// and types its default value.
fn load_map(m: MapConv, args: &mut [Arg], ctx: &ParseCtx<'_>) -> Result<(), String> {
    let file = str_arg(args, 0).to_string();
    let Some(loader) = ctx.patterns else {
        return Err(format!(
            "failed to open pattern file <{file}> (map files are loaded only when the engine is built)"
        ));
    };
    let kind = crate::pattern::PatKind {
        method: m.method,
        icase: false,
        regm: m.regm,
        out: Some(m.out),
    };
    let id = loader.load_file(&file, kind, true, ctx.at.unwrap_or(("", 0)))?;
    if let Some(a) = args.get_mut(0) {
        *a = Arg::Map(id);
    }
    if m.out == MapOut::Addr {
        if let Some(a) = args.get_mut(1) {
            let text = match a {
                Arg::Str(t) => t.clone(),
                _ => String::new(),
            };
            match text.parse::<IpAddr>() {
                Ok(IpAddr::V4(v)) => *a = Arg::Ipv4(v),
                Ok(IpAddr::V6(v)) => *a = Arg::Ipv6(v),
                Err(_) => return Err(format!("map: cannot parse default ip <{text}>.")),
            }
        }
    }
    Ok(())
}

/// A `map*` converter on `s` (`sample_conv_map`): the value of the
/// matching entry (for `map_regm`, with the regex's groups substituted),
/// else the default, else nothing.
fn map_conv(m: MapConv, c: &Conv, s: Sample, ctx: &mut dyn SampleCtx) -> Option<Sample> {
    let Some(Arg::Map(id)) = c.args.first() else {
        return None;
    };
    if let Some(store) = ctx.patterns() {
        if let Some(hit) = store.exec(*id, &s) {
            return match hit.data {
                Some(_) if m.regm => {
                    let input = match &s {
                        Sample::Str(v) => v.clone(),
                        _ => return None,
                    };
                    hit.regm_value(&input).map(Sample::Str)
                }
                Some(d) => Some(d.clone()),
                None => Some(Sample::Int(1)),
            };
        }
    }
    match c.args.get(1)? {
        Arg::Str(d) => Some(Sample::Str(d.as_bytes().to_vec())),
        Arg::Int(i) => Some(Sample::Int(*i)),
        Arg::Ipv4(a) => Some(Sample::Ip(IpAddr::V4(*a))),
        Arg::Ipv6(a) => Some(Sample::Ip(IpAddr::V6(*a))),
        _ => None,
    }
}

/// Checks and completes converter arguments (HAProxy's `val_args`).
pub(super) fn check_conv_args(kind: ConvKind, mut args: Vec<Arg>) -> Result<Vec<Arg>, String> {
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
        ConvKind::SetVar | ConvKind::UnsetVar => {
            var_arg(&mut args, 0, true)?;
            let mut cond = VarCond::NONE;
            for a in args.drain(1..) {
                let w = match &a {
                    Arg::Str(w) => w.as_str(),
                    _ => "",
                };
                match VarCond::parse(w) {
                    Some(c) => cond = cond.with(c),
                    None => return Err(format!("unknown condition \"{w}\"")),
                }
            }
            if kind == ConvKind::SetVar {
                args.push(Arg::Int(i64::from(cond.bits())));
            }
        }
        ConvKind::JsonQuery => {
            match args.first() {
                Some(Arg::Str(p)) if p.starts_with('$') => {}
                _ => return Err("unable to find the json path".into()),
            }
            if let Some(Arg::Str(t)) = args.get(1) {
                if t != "int" {
                    return Err("output_type only supports \"int\" as argument".to_string());
                }
            }
        }
        ConvKind::Json
            if !matches!(
                str_arg(&args, 0),
                "" | "ascii" | "utf8" | "utf8s" | "utf8p" | "utf8ps"
            ) =>
        {
            return Err("Unexpected input code type. Allowed value are 'ascii', 'utf8', 'utf8s', 'utf8p' and 'utf8ps'".into());
        }
        ConvKind::Field | ConvKind::Word => {
            if let Some(Arg::Str(d)) = args.get(1) {
                if d.is_empty() {
                    return Err("empty delimiters list".into());
                }
            }
        }
        ConvKind::Concat => var_arg(&mut args, 1, false)?,
        ConvKind::AddItem => {
            if str_arg(&args, 1).is_empty() && str_arg(&args, 2).is_empty() {
                return Err("one of the optional arguments has to be nonempty".into());
            }
            var_arg(&mut args, 1, false)?;
        }
        ConvKind::SecureMemcmp | ConvKind::Strcmp => var_arg(&mut args, 0, true)?,
        ConvKind::Be2Dec | ConvKind::Be2Hex => {
            let chunk = int_arg(&args, 1);
            if kind == ConvKind::Be2Dec && !(1..=8).contains(&chunk) {
                return Err(format!("chunk_size out of [1..8] range ({chunk})"));
            }
            let sep_or_trunc = !str_arg(&args, 0).is_empty() || int_arg(&args, 2) != 0;
            if kind == ConvKind::Be2Hex && chunk <= 0 && sep_or_trunc {
                return Err(format!("chunk_size needs to be positive ({chunk})"));
            }
            let t = int_arg(&args, 2);
            if t != 0 && t != 1 {
                return Err(format!("Unsupported truncate value ({t})"));
            }
        }
        ConvKind::Sha2 => {
            if let Some(Arg::Int(b)) = args.first() {
                if !matches!(b, 224 | 256 | 384 | 512) {
                    return Err(format!("Unsupported number of bits: '{b}'"));
                }
            }
        }
        ConvKind::Digest | ConvKind::Hmac => {
            let name = str_arg(&args, 0);
            let Some(alg) = DigestAlg::parse(name) else {
                return Err(format!(
                    "algorithm '{name}' is not a supported message digest name ({})",
                    DigestAlg::NAMES
                ));
            };
            args[0] = Arg::Str(alg.name().to_string());
            if kind == ConvKind::Hmac {
                hmac_key_arg(&mut args)?;
            }
        }
        ConvKind::FixTagValue => {
            let name = str_arg(&args, 0);
            let id = super::fix::tag_id(name);
            if id == 0 {
                return Err(format!("Unknown FIX tag name '{name}'"));
            }
            args[0] = Arg::Int(i64::from(id));
        }
        ConvKind::UrlEnc => {
            let t = str_arg(&args, 0);
            if !t.is_empty() && t != "query" {
                return Err("Unexpected encode type. Allowed value is 'query'".into());
            }
        }
        _ => {}
    }
    Ok(args)
}

impl ConvKind {
    /// Whether a value out of this converter is final even when the
    /// fetch's data may still grow: the converter answers only once it
    /// has enough (HAProxy's converters that clear `SMP_F_MAY_CHANGE`).
    pub fn settles(self) -> bool {
        matches!(self, ConvKind::FixIsValid | ConvKind::FixTagValue)
    }
}

/// The `i`th argument as text (empty when absent).
fn str_arg(args: &[Arg], i: usize) -> &str {
    match args.get(i) {
        Some(Arg::Str(s)) => s,
        _ => "",
    }
}

/// The `i`th argument as an integer (0 when absent, as HAProxy's zeroed
/// argument array).
fn int_arg(args: &[Arg], i: usize) -> i64 {
    match args.get(i) {
        Some(Arg::Int(v)) => *v,
        _ => 0,
    }
}

/// Turns the `i`th string argument into a variable (HAProxy's
/// `vars_check_arg`); an empty one stays empty unless `required`.
fn var_arg(args: &mut [Arg], i: usize, required: bool) -> Result<(), String> {
    let name = str_arg(args, i).to_string();
    if name.is_empty() {
        return if required {
            Err("missing variable name".into())
        } else {
            Ok(())
        };
    }
    let v =
        VarName::parse(&name).map_err(|_| format!("failed to register variable name '{name}'"))?;
    args[i] = Arg::Var(v);
    Ok(())
}

/// `hmac`'s key (HAProxy's `sample_check_arg_base64`): empty stays empty,
/// a variable name is the variable (decoded at run time), other text must
/// be base64 and is decoded now.
fn hmac_key_arg(args: &mut [Arg]) -> Result<(), String> {
    let text = str_arg(args, 1).to_string();
    if text.is_empty() {
        return Ok(());
    }
    if let Ok(v) = VarName::parse(&text) {
        args[1] = Arg::Var(v);
        return Ok(());
    }
    match crate::base64::decode(text.as_bytes()) {
        Some(key) => {
            args[1] = Arg::Bin(key);
            Ok(())
        }
        None => Err(
            "failed to parse key : argument needs to be base64 encoded, \
             and can either be a string or a variable"
                .into(),
        ),
    }
}

/// The message digests of `digest` and `hmac` (OpenSSL's names, matched
/// without case, with their usual aliases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha512_224,
    Sha512_256,
}

impl DigestAlg {
    /// The names listed in errors.
    pub const NAMES: &'static str =
        "md5, sha1, sha224, sha256, sha384, sha512, sha512-224, sha512-256";

    /// Parses an OpenSSL digest name (`sha256`, `SHA2-256`, `sha-256`).
    pub fn parse(name: &str) -> Option<DigestAlg> {
        let n = name.to_ascii_lowercase();
        Some(match n.as_str() {
            "md5" => DigestAlg::Md5,
            "sha1" | "sha-1" => DigestAlg::Sha1,
            "sha224" | "sha-224" | "sha2-224" => DigestAlg::Sha224,
            "sha256" | "sha-256" | "sha2-256" => DigestAlg::Sha256,
            "sha384" | "sha-384" | "sha2-384" => DigestAlg::Sha384,
            "sha512" | "sha-512" | "sha2-512" => DigestAlg::Sha512,
            "sha512-224" | "sha-512/224" | "sha2-512/224" => DigestAlg::Sha512_224,
            "sha512-256" | "sha-512/256" | "sha2-512/256" => DigestAlg::Sha512_256,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlg::Md5 => "md5",
            DigestAlg::Sha1 => "sha1",
            DigestAlg::Sha224 => "sha224",
            DigestAlg::Sha256 => "sha256",
            DigestAlg::Sha384 => "sha384",
            DigestAlg::Sha512 => "sha512",
            DigestAlg::Sha512_224 => "sha512-224",
            DigestAlg::Sha512_256 => "sha512-256",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        fn h<D: sha2::Digest>(data: &[u8]) -> Vec<u8> {
            D::digest(data).to_vec()
        }
        match self {
            DigestAlg::Md5 => h::<md5::Md5>(data),
            DigestAlg::Sha1 => h::<sha1::Sha1>(data),
            DigestAlg::Sha224 => h::<sha2::Sha224>(data),
            DigestAlg::Sha256 => h::<sha2::Sha256>(data),
            DigestAlg::Sha384 => h::<sha2::Sha384>(data),
            DigestAlg::Sha512 => h::<sha2::Sha512>(data),
            DigestAlg::Sha512_224 => h::<sha2::Sha512_224>(data),
            DigestAlg::Sha512_256 => h::<sha2::Sha512_256>(data),
        }
    }

    /// The HMAC of `data` under `key` (RFC 2104).
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, KeyInit, Mac};
        fn m<M: KeyInit + Mac>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes a key of any length (hashed when longer than a
            // block): `new_from_slice` never fails here.
            match <M as KeyInit>::new_from_slice(key) {
                Ok(mut mac) => {
                    Mac::update(&mut mac, data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            DigestAlg::Md5 => m::<Hmac<md5::Md5>>(key, data),
            DigestAlg::Sha1 => m::<Hmac<sha1::Sha1>>(key, data),
            DigestAlg::Sha224 => m::<Hmac<sha2::Sha224>>(key, data),
            DigestAlg::Sha256 => m::<Hmac<sha2::Sha256>>(key, data),
            DigestAlg::Sha384 => m::<Hmac<sha2::Sha384>>(key, data),
            DigestAlg::Sha512 => m::<Hmac<sha2::Sha512>>(key, data),
            DigestAlg::Sha512_224 => m::<Hmac<sha2::Sha512_224>>(key, data),
            DigestAlg::Sha512_256 => m::<Hmac<sha2::Sha512_256>>(key, data),
        }
    }
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
pub(super) fn apply_conv(c: &Conv, s: Sample, ctx: &mut dyn SampleCtx) -> Option<Sample> {
    let s = s.cast(c.input)?;
    match (c.kind, s) {
        (ConvKind::Map(m), s) => map_conv(m, c, s, ctx),
        (ConvKind::SetVar, s) => {
            let Some(Arg::Var(v)) = c.args.first() else {
                return None;
            };
            let cond = VarCond::from_bits(int_arg(&c.args, 1));
            ctx.set_var(v, Some(s.clone()), cond).then_some(s)
        }
        (ConvKind::UnsetVar, s) => {
            let Some(Arg::Var(v)) = c.args.first() else {
                return None;
            };
            ctx.set_var(v, None, VarCond::NONE).then_some(s)
        }
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
        (ConvKind::JsonQuery, Sample::Str(v)) => {
            let int = matches!(c.args.get(1), Some(Arg::Str(t)) if t == "int");
            match c.args.first() {
                Some(Arg::Str(path)) => json_query(&v, path, int),
                _ => None,
            }
        }
        (ConvKind::Crc32, Sample::Bin(v)) => Some(hash_out(c, crc32(&v))),
        (ConvKind::Djb2, Sample::Bin(v)) => Some(hash_out(c, djb2(&v))),
        (ConvKind::Sdbm, Sample::Bin(v)) => Some(hash_out(c, sdbm(&v))),
        (ConvKind::Wt6, Sample::Bin(v)) => Some(hash_out(c, wt6(&v))),
        (ConvKind::Xxh32, Sample::Bin(v)) => {
            let seed = int_arg(&c.args, 0) as u32;
            Some(Sample::Int(i64::from(xxhash_rust::xxh32::xxh32(&v, seed))))
        }
        (ConvKind::Xxh64, Sample::Bin(v)) => {
            let seed = int_arg(&c.args, 0) as u64;
            Some(Sample::Int(xxhash_rust::xxh64::xxh64(&v, seed) as i64))
        }
        (ConvKind::Xxh3, Sample::Bin(v)) => {
            let seed = int_arg(&c.args, 0) as u64;
            Some(Sample::Int(
                xxhash_rust::xxh3::xxh3_64_with_seed(&v, seed) as i64
            ))
        }
        (ConvKind::Hex, Sample::Bin(v)) => Some(Sample::Str(hex_upper(&v))),
        (ConvKind::Json, Sample::Str(v)) => json_escape(&v, str_arg(&c.args, 0)).map(Sample::Str),
        (ConvKind::Crc32c, Sample::Bin(v)) => Some(hash_out(c, crc32c(&v))),
        (ConvKind::FixIsValid, Sample::Bin(v)) => match super::fix::validate(&v) {
            super::fix::Validity::Valid => Some(Sample::Bool(true)),
            super::fix::Validity::Invalid => Some(Sample::Bool(false)),
            super::fix::Validity::NeedMore => None,
        },
        (ConvKind::FixTagValue, Sample::Bin(v)) => {
            let id = u32::try_from(int_arg(&c.args, 0)).ok()?;
            match super::fix::tag_value(&v, id) {
                Ok(t) if !t.is_empty() => Some(Sample::Bin(t.to_vec())),
                _ => None,
            }
        }
        (ConvKind::Iif, Sample::Bool(b)) => {
            Some(Sample::str(str_arg(&c.args, if b { 0 } else { 1 })))
        }
        (ConvKind::Concat, Sample::Str(mut v)) => {
            v.extend_from_slice(str_arg(&c.args, 0).as_bytes());
            if let Some(x) = var_str(c, 1, ctx) {
                v.extend_from_slice(&x);
            }
            v.extend_from_slice(str_arg(&c.args, 2).as_bytes());
            Some(Sample::Str(v))
        }
        (ConvKind::AddItem, Sample::Str(v)) => Some(Sample::Str(add_item(c, v, ctx))),
        (ConvKind::Be2Dec, Sample::Bin(v)) => Some(Sample::Str(be2dec(c, &v))),
        (ConvKind::Be2Hex, Sample::Bin(v)) => Some(Sample::Str(be2hex(c, &v))),
        (ConvKind::Base64, Sample::Bin(v)) => Some(Sample::Str(crate::base64::encode(&v))),
        (ConvKind::Ub64Enc, Sample::Bin(v)) => Some(Sample::Str(crate::base64::encode_url(&v))),
        (ConvKind::B64Dec, Sample::Str(v)) => crate::base64::decode(&v).map(Sample::Bin),
        (ConvKind::Ub64Dec, Sample::Str(v)) => crate::base64::decode_url(&v).map(Sample::Bin),
        (ConvKind::Sha1, Sample::Bin(v)) => Some(Sample::Bin(DigestAlg::Sha1.digest(&v))),
        (ConvKind::Sha2, Sample::Bin(v)) => {
            let alg = match int_arg(&c.args, 0) {
                0 | 256 => DigestAlg::Sha256,
                224 => DigestAlg::Sha224,
                384 => DigestAlg::Sha384,
                512 => DigestAlg::Sha512,
                _ => return None,
            };
            Some(Sample::Bin(alg.digest(&v)))
        }
        (ConvKind::Digest, Sample::Bin(v)) => {
            let alg = DigestAlg::parse(str_arg(&c.args, 0))?;
            Some(Sample::Bin(alg.digest(&v)))
        }
        (ConvKind::Hmac, Sample::Bin(v)) => {
            let alg = DigestAlg::parse(str_arg(&c.args, 0))?;
            let key = match c.args.get(1) {
                Some(Arg::Bin(k)) => k.clone(),
                // HAProxy decodes a variable's base64 at each use; a
                // missing variable or bad base64 fails the converter.
                Some(Arg::Var(_)) => crate::base64::decode(&var_str(c, 1, ctx)?)?,
                _ => Vec::new(),
            };
            Some(Sample::Bin(alg.hmac(&key, &v)))
        }
        (ConvKind::SecureMemcmp, Sample::Bin(v)) => {
            let other = match var_sample(c, 0, ctx)?.cast(SmpType::Bin)? {
                Sample::Bin(b) => b,
                _ => return None,
            };
            Some(Sample::Bool(ct_eq(&v, &other)))
        }
        (ConvKind::Strcmp, Sample::Str(v)) => {
            let other = match var_sample(c, 0, ctx)?.cast(SmpType::Str)? {
                Sample::Str(b) => b,
                _ => return None,
            };
            Some(Sample::Int(c_strcmp(&v, &other)))
        }
        (ConvKind::Bytes, Sample::Bin(v)) => Some(Sample::Bin(bytes(c, v))),
        (ConvKind::UrlDec, Sample::Str(v)) => {
            url_dec(&v, int_arg(&c.args, 0) != 0).map(Sample::Str)
        }
        (ConvKind::UrlEnc, Sample::Str(v)) => Some(Sample::Str(url_enc(&v))),
        (ConvKind::Table(t), s) => {
            let (idx, table) = match (c.args.first(), c.args.get(1)) {
                (Some(Arg::Int(i)), Some(Arg::Table(tr))) => (usize::try_from(*i).ok()?, tr),
                (Some(Arg::Table(tr)), _) => (0, tr),
                _ => return None,
            };
            ctx.table_conv(table, s, t, idx)
        }
        (k, Sample::Int(i)) => int_conv(c, k, i, ctx),
        _ => None,
    }
}

/// The value of the variable in argument `i`, if it is one and is set.
fn var_sample(c: &Conv, i: usize, ctx: &mut dyn SampleCtx) -> Option<Sample> {
    let Some(Arg::Var(v)) = c.args.get(i) else {
        return None;
    };
    let f = Fetch {
        kind: FetchKind::Var,
        args: vec![Arg::Var(v.clone())],
        kw: "var".into(),
    };
    ctx.fetch(&f)
}

/// The variable in argument `i` as text (cast to `str`).
fn var_str(c: &Conv, i: usize, ctx: &mut dyn SampleCtx) -> Option<Vec<u8>> {
    var_sample(c, i, ctx)?.into_bytes()
}

/// `add_item` (HAProxy's `sample_conv_add_item`).
fn add_item(c: &Conv, mut v: Vec<u8>, ctx: &mut dyn SampleCtx) -> Vec<u8> {
    let var = var_str(c, 1, ctx);
    let suffix = str_arg(&c.args, 2).as_bytes();
    let var_nonempty = var.as_ref().is_some_and(|x| !x.is_empty());
    if !v.is_empty() && (var_nonempty || !suffix.is_empty()) {
        v.extend_from_slice(str_arg(&c.args, 0).as_bytes());
    }
    if let Some(x) = var {
        v.extend_from_slice(&x);
    }
    v.extend_from_slice(suffix);
    v
}

/// The start of each chunk `be2dec`/`be2hex` print: every `chunk` bytes,
/// and with `truncate` only the chunks that are whole.
fn chunk_starts(len: usize, chunk: usize, truncate: bool) -> impl Iterator<Item = usize> {
    let last = if truncate {
        (len + 1).saturating_sub(chunk)
    } else {
        len
    };
    (0..last).step_by(chunk.max(1))
}

/// `be2dec(separator,chunk_size[,truncate])` (HAProxy's `sample_conv_be2dec`).
fn be2dec(c: &Conv, v: &[u8]) -> Vec<u8> {
    let sep = str_arg(&c.args, 0).as_bytes();
    let chunk = int_arg(&c.args, 1).clamp(1, 8) as usize;
    let mut out = Vec::new();
    for start in chunk_starts(v.len(), chunk, int_arg(&c.args, 2) != 0) {
        if start > 0 {
            out.extend_from_slice(sep);
        }
        let end = (start + chunk).min(v.len());
        let n = v[start..end]
            .iter()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b));
        out.extend_from_slice(n.to_string().as_bytes());
    }
    out
}

/// `be2hex([separator[,chunk_size[,truncate]]])` (HAProxy's
/// `sample_conv_be2hex`): without separator nor truncation, the whole input
/// is one chunk.
fn be2hex(c: &Conv, v: &[u8]) -> Vec<u8> {
    let sep = str_arg(&c.args, 0).as_bytes();
    let truncate = int_arg(&c.args, 2) != 0;
    let chunk = if sep.is_empty() && !truncate {
        v.len()
    } else {
        usize::try_from(int_arg(&c.args, 1)).unwrap_or(1)
    }
    .max(1);
    let mut out = Vec::new();
    for start in chunk_starts(v.len(), chunk, truncate) {
        if start > 0 {
            out.extend_from_slice(sep);
        }
        let end = start.saturating_add(chunk).min(v.len());
        out.extend_from_slice(&hex_upper(&v[start..end]));
    }
    out
}

/// `strcmp`'s result (HAProxy's `sample_conv_strcmp`): the C `strncmp`
/// over the shorter length (which stops at a NUL byte, giving the
/// difference of the first differing bytes), then the shorter string is
/// the smaller (-1/1).
fn c_strcmp(a: &[u8], b: &[u8]) -> i64 {
    for (&x, &y) in a.iter().zip(b) {
        if x != y {
            return i64::from(x) - i64::from(y);
        }
        if x == 0 {
            break;
        }
    }
    match a.len().cmp(&b.len()) {
        core::cmp::Ordering::Less => -1,
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Greater => 1,
    }
}

/// `bytes(offset[,length])` (HAProxy 2.6's `sample_conv_bytes`): empty
/// when the offset is at or past the end (or negative, which HAProxy
/// compares as a huge unsigned number); a negative length, like one past
/// the end, keeps the rest.
fn bytes(c: &Conv, mut v: Vec<u8>) -> Vec<u8> {
    let off = usize::try_from(int_arg(&c.args, 0)).unwrap_or(usize::MAX);
    if off >= v.len() {
        return Vec::new();
    }
    v.drain(..off);
    if let Some(Arg::Int(len)) = c.args.get(1) {
        if let Ok(len) = usize::try_from(*len) {
            v.truncate(len);
        }
    }
    v
}

/// Equality in time independent of where the inputs differ (inputs of
/// different lengths are unequal at once, as HAProxy's `secure_memcmp`).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    core::hint::black_box(diff) == 0
}

/// HAProxy's `url_decode`: `%XX` is a byte (a `%` without two hex digits
/// fails), `+` is a space once `in_form` is set, which the first `?` does.
/// The input ends at a NUL byte, as the C string does.
pub(crate) fn url_dec(v: &[u8], mut in_form: bool) -> Option<Vec<u8>> {
    let v = match v.iter().position(|&b| b == 0) {
        Some(n) => &v[..n],
        None => v,
    };
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&c) = v.get(i) {
        match c {
            b'+' if in_form => out.push(b' '),
            b'%' => {
                let hi = hex(*v.get(i + 1)?)?;
                let lo = hex(*v.get(i + 2)?)?;
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            b'?' => {
                in_form = true;
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// `url_enc(query)`: `%XX` (upper-case) for every byte but RFC 3986's
/// unreserved characters.
fn url_enc(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    for &b in v {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.push(b'%');
            out.extend_from_slice(&hex_upper(&[b]));
        }
    }
    out
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
    // An IPv4-mapped address (`::ffff:a.b.c.d`) takes the IPv4 mask, as
    // HAProxy 2.6's `c_ipv62ip` (only the mapped form: `::a.b.c.d` and
    // 6to4 stay IPv6).
    let ip = match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
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

/// HAProxy's `exp_replace`: `subst` with `\\N` replaced by group N of
/// `caps` and `\\xHH` by byte HH.
pub(crate) fn expand_subst(subst: &[u8], caps: &regex::bytes::Captures<'_>, out: &mut Vec<u8>) {
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

/// HAProxy's hash functions (`hash.c`), shared with `balance ... hash-type`.
pub use crate::backend::lb::{
    full_hash, hash_crc32 as crc32, hash_djb2 as djb2, hash_sdbm as sdbm, hash_wt6 as wt6,
};

/// CRC-32C (Castagnoli), HAProxy's `hash_crc32c`; the PROXY protocol v2
/// checksum's function.
pub use crate::conn::proxy_hdr::crc32c;

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SampleExpr {
        SampleExpr::parse(s, &ParseCtx::detached()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        match SampleExpr::parse(s, &ParseCtx::detached()) {
            Ok(_) => panic!("{s}: parsed"),
            Err(e) => e,
        }
    }

    fn ev(s: &str, ctx: &mut MapCtx) -> Option<Sample> {
        p(s).eval(ctx)
    }

    /// The expression's result as text (`hex,lower` is applied by the caller).
    fn text(s: &str, ctx: &mut MapCtx) -> Option<String> {
        let v = ev(s, ctx)?.into_bytes()?;
        Some(String::from_utf8_lossy(&v).into_owned())
    }

    fn ctx() -> MapCtx {
        let mut c = MapCtx::new();
        c.set("var(txn.one)", vec![Sample::str("1")]);
        c.set("var(txn.empty)", vec![Sample::str("")]);
        c.set("var(txn.digits)", vec![Sample::str("0123456789")]);
        c.set(
            "var(txn.key)",
            vec![Sample::str("bXlfc3VwZXJfc2VjcmV0X2xvbmdfa2V5")],
        );
        c.set("var(txn.badkey)", vec![Sample::str("not base64!")]);
        c.set("var(txn.int)", vec![Sample::Int(42)]);
        c.set("var(txn.fbff)", vec![Sample::Bin(vec![0xfb, 0xff])]);
        c.set(
            "var(txn.bin1)",
            vec![Sample::Bin(1i64.to_be_bytes().to_vec())],
        );
        c.set("var(txn.b001)", vec![Sample::Bin(vec![0, 0, 1])]);
        c.set("var(txn.b002)", vec![Sample::Bin(vec![0, 0, 2])]);
        c.set("var(txn.anulb)", vec![Sample::Bin(b"a\0b".to_vec())]);
        c.set(
            "var(txn.bff2f)",
            vec![Sample::Bin(vec![0xff, 0x2f, 0, 0x41])],
        );
        c.set(
            "var(txn.v6)",
            vec![Sample::Ip("2001:db8::1".parse().unwrap())],
        );
        c
    }

    #[test]
    fn bin_is_a_constant_binary_sample() {
        let mut c = ctx();
        assert_eq!(
            ev("bin(14fb9C03)", &mut c),
            Some(Sample::Bin(vec![0x14, 0xfb, 0x9c, 0x03]))
        );
        assert_eq!(
            text("bin(14fb9c03d97f12d97e),ub64enc", &mut c).as_deref(),
            Some("FPucA9l_Etl-")
        );
        assert_eq!(ev("bin()", &mut c), Some(Sample::Bin(Vec::new())));
        assert!(err("bin(abc)").contains("odd length"));
        assert!(err("bin(zz)").contains("not a valid hex string"));
        assert!(err("bin(+f)").contains("not a valid hex string"));
    }

    #[test]
    fn iif_picks_by_the_boolean() {
        let mut c = ctx();
        assert_eq!(text("int(3),iif(ok,ko)", &mut c).unwrap(), "ok");
        assert_eq!(text("int(0),iif(ok,ko)", &mut c).unwrap(), "ko");
        assert_eq!(text("bool(false),iif(ok,)", &mut c).unwrap(), "");
        // A string is read as an integer; an empty one fails the cast.
        assert_eq!(text("str(7),iif(ok,ko)", &mut c).unwrap(), "ok");
        assert_eq!(ev("var(txn.empty),iif(ok,ko)", &mut c), None);
        // An IPv6 address has no boolean value.
        assert_eq!(ev("var(txn.v6),iif(ok,ko)", &mut c), None);
        assert!(err("req.payload(0,1),iif(a,b)").contains("cannot be applied"));
    }

    #[test]
    fn add_item_and_concat_follow_haproxy() {
        let mut c = ctx();
        // The reg-test's cases: empty and non-empty input.
        let t = |e: &str, c: &mut MapCtx| text(e, c).unwrap();
        assert_eq!(t("str(),add_item(',',txn.one,_s)", &mut c), "1_s");
        assert_eq!(t("str(),add_item(',',txn.one)", &mut c), "1");
        assert_eq!(t("str(),add_item(',',,_s)", &mut c), "_s");
        assert_eq!(t("str(in),add_item(',',txn.one,_s)", &mut c), "in,1_s");
        assert_eq!(t("str(in),add_item(',',txn.one)", &mut c), "in,1");
        assert_eq!(t("str(in),add_item(',',,_s)", &mut c), "in,_s");
        // Nothing follows the delimiter: no delimiter.
        assert_eq!(t("str(in),add_item(',',txn.empty)", &mut c), "in");
        assert_eq!(t("str(in),add_item(',',txn.unset)", &mut c), "in");
        assert_eq!(t("str(in),add_item(',',txn.int)", &mut c), "in,42");
        assert!(err("str(a),add_item(',')").contains("one of the optional arguments"));
        assert!(
            err("str(a),add_item(',',nope)").contains("failed to register variable name 'nope'")
        );

        assert_eq!(t("str(a),concat(<,txn.one,>)", &mut c), "a<1>");
        assert_eq!(t("str(a),concat(<,txn.unset,>)", &mut c), "a<>");
        assert_eq!(t("str(a),concat(,txn.int)", &mut c), "a42");
        assert_eq!(t("str(a),concat(-)", &mut c), "a-");
        assert_eq!(t("str(),concat()", &mut c), "");
        assert!(err("str(a),concat(x,y)").contains("failed to register variable name 'y'"));
    }

    #[test]
    fn be2dec_and_be2hex_match_the_reg_test() {
        let mut c = ctx();
        let t = |e: &str, c: &mut MapCtx| text(e, c).unwrap();
        assert_eq!(
            t("var(txn.digits),be2dec(:,1)", &mut c),
            "48:49:50:51:52:53:54:55:56:57"
        );
        assert_eq!(
            t("var(txn.digits),be2dec(-,3)", &mut c),
            "3158322-3355701-3553080-57"
        );
        assert_eq!(
            t("var(txn.digits),be2dec(::,3,1)", &mut c),
            "3158322::3355701::3553080"
        );
        assert_eq!(t("var(txn.empty),be2dec(:,1)", &mut c), "");
        // Eight bytes: the whole unsigned range.
        assert_eq!(
            t("int(-1),be2dec(.,8)", &mut c),
            u64::MAX.to_string().as_str()
        );
        // Shorter than one chunk and truncated: nothing.
        assert_eq!(t("str(ab),be2dec(.,3,1)", &mut c), "");

        assert_eq!(
            t("var(txn.digits),be2hex,lower", &mut c),
            "30313233343536373839"
        );
        assert_eq!(
            t("var(txn.digits),be2hex(:,1),lower", &mut c),
            "30:31:32:33:34:35:36:37:38:39"
        );
        assert_eq!(
            t("var(txn.digits),be2hex(--,3),lower", &mut c),
            "303132--333435--363738--39"
        );
        assert_eq!(
            t("var(txn.digits),be2hex(.,3,1)", &mut c),
            "303132.333435.363738"
        );
        assert_eq!(
            t("var(txn.digits),be2hex(,4,1)", &mut c),
            "3031323334353637"
        );
        assert_eq!(t("var(txn.empty),be2hex", &mut c), "");

        assert!(err("str(a),be2dec(:)").contains("chunk_size out of [1..8] range (0)"));
        assert!(err("str(a),be2dec(:,9)").contains("chunk_size out of [1..8] range (9)"));
        assert!(err("str(a),be2dec(:,1,2)").contains("Unsupported truncate value (2)"));
        assert!(err("str(a),be2hex(:)").contains("chunk_size needs to be positive (0)"));
        assert!(err("str(a),be2hex(,-1,1)").contains("chunk_size needs to be positive (-1)"));
        assert!(err("ssl_fc,be2hex").contains("cannot be applied"));
    }

    #[test]
    fn base64_converters_round_trip_and_fail_on_bad_input() {
        let mut c = ctx();
        let t = |e: &str, c: &mut MapCtx| text(e, c).unwrap();
        assert_eq!(
            t("str(my_super_secret_long_key),base64", &mut c),
            "bXlfc3VwZXJfc2VjcmV0X2xvbmdfa2V5"
        );
        assert_eq!(t("str(fo),base64", &mut c), "Zm8=");
        assert_eq!(t("str(),base64", &mut c), "");
        assert_eq!(t("str(Zm8=),b64dec", &mut c), "fo");
        assert_eq!(ev("str(),b64dec", &mut c), Some(Sample::Bin(Vec::new())));
        assert_eq!(ev("str(Zm8),b64dec", &mut c), None);
        assert_eq!(ev("str(Zm8*),b64dec", &mut c), None);
        // Bytes 0xfb 0xff: `+/` in one alphabet, `-_` in the other.
        assert_eq!(t("var(txn.fbff),base64", &mut c), "+/8=");
        assert_eq!(t("var(txn.fbff),ub64enc", &mut c), "-_8");
        assert_eq!(
            ev("str(-_8),ub64dec", &mut c),
            Some(Sample::Bin(vec![0xfb, 0xff]))
        );
        assert_eq!(ev("str(+/8),ub64dec", &mut c), None);
        assert_eq!(ev("str(Zm8vY),ub64dec", &mut c), None);
        assert_eq!(t("int(1),base64", &mut c), "AAAAAAAAAAE=");
        // A NUL ends a binary sample read as text.
        assert_eq!(t("str(AGE=),b64dec,hex", &mut c), "0061");
    }

    /// The values HAProxy 2.6's reg-test `sample_fetches/hashes.vtc`
    /// expects for the 256 bytes 0x00..0xff.
    #[test]
    fn integer_hashes_match_haproxys_reg_test() {
        let mut c = ctx();
        let all: String = {
            use crate::base64;
            let bytes: Vec<u8> = (0..=255u8).collect();
            String::from_utf8(base64::encode(&bytes)).unwrap()
        };
        let h = |conv: &str, c: &mut MapCtx| ev(&format!("str({all}),b64dec,{conv}"), c);
        for (conv, want) in [
            ("crc32", 688229491i64),
            ("crc32(1)", 4230317029),
            ("djb2", 2589693061),
            ("djb2(1)", 600622701),
            ("sdbm", 905707648),
            ("sdbm(1)", 3103804144),
            ("wt6", 4090277559),
            ("wt6(1)", 1192658767),
            ("xxh3", -7779787747613135503),
            ("xxh3(1)", 5930632130106562027),
            ("xxh32", 1497633363),
            ("xxh32(1)", 1070421674),
            ("xxh64", 2282408585429094475),
            ("xxh64(1)", -4689339368900765961),
        ] {
            assert_eq!(h(conv, &mut c), Some(Sample::Int(want)), "{conv}");
        }
    }

    #[test]
    fn hashes_match_known_vectors() {
        let mut c = ctx();
        let t = |e: &str, c: &mut MapCtx| text(e, c).unwrap();
        assert_eq!(
            t("str(1),sha1,hex,lower", &mut c),
            "356a192b7913b04c54574d18c28d46e6395428ab"
        );
        assert_eq!(
            t("str(),sha1,hex,lower", &mut c),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            t("str(),sha2,hex,lower", &mut c),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            t("str(1),sha2(224),hex,lower", &mut c),
            "e25388fde8290dc286a6164fa2d97e551b53498dcbf7bc378eb1f178"
        );
        assert_eq!(
            t("str(1),sha2(384),hex,lower", &mut c),
            "47f05d367b0c32e438fb63e6cf4a5f35c2aa2f90dc7543f8a41a0f95ce8a40a313ab5cf36134a2068c4c969cb50db776"
        );
        assert_eq!(
            t("str(2),sha2(512),hex,lower", &mut c),
            "40b244112641dd78dd4f93b6c9190dd46e0099194d5a44257b7efad6ef9ff4683da1eda0244448cb343aa688f5d3efd7314dafe580ac0bcbf115aeca9e8dc114"
        );
        assert_eq!(
            t("str(1),sha2(256)", &mut c),
            t("str(1),digest(sha256)", &mut c)
        );
        assert_eq!(
            t("str(1),digest(SHA1),hex,lower", &mut c),
            "356a192b7913b04c54574d18c28d46e6395428ab"
        );
        assert_eq!(
            t("str(),digest(md5),hex,lower", &mut c),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            t("str(abc),digest(sha2-512/256),hex,lower", &mut c),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
        // The integer is hashed in its binary form (8 bytes).
        assert_eq!(t("int(1),sha1", &mut c), t("var(txn.bin1),sha1", &mut c));
        assert_eq!(
            ev("str(123456789),crc32c", &mut c),
            Some(Sample::Int(0xe306_9283))
        );
        assert_eq!(ev("str(),crc32c", &mut c), Some(Sample::Int(0)));
        assert_eq!(
            ev("str(123456789),crc32c(1)", &mut c),
            Some(Sample::Int(i64::from(full_hash(0xe306_9283))))
        );
        assert!(err("str(a),sha2(100)").contains("Unsupported number of bits: '100'"));
        assert!(err("str(a),digest(sha3-256)").contains("invalid args in converter 'digest'"));
        assert!(err("str(a),digest()").contains("is not a supported message digest name"));
        assert!(err("ssl_fc,sha1").contains("cannot be applied"));
    }

    #[test]
    fn hmac_takes_a_base64_key_or_a_variable() {
        let mut c = ctx();
        let t = |e: &str, c: &mut MapCtx| text(e, c);
        // The reg-test's values (key "key", then a variable).
        assert_eq!(
            t("str(1),hmac(sha1,a2V5),hex,lower", &mut c).unwrap(),
            "e23feb105f9622241bf23db1638cd2b4208b1f53"
        );
        assert_eq!(
            t("str(1),hmac(sha1,txn.key),hex,lower", &mut c).unwrap(),
            "87b10ddcf39e26f6bd7c3b0e38e0125997b255be"
        );
        assert_eq!(
            t("str(2),hmac(sha256,txn.key),hex,lower", &mut c).unwrap(),
            "c073191a2ebf29f510444b92c187d62199d84b58f58dceeadb91994c170a9a16"
        );
        // RFC 4231 test case 2 (key "Jefe").
        assert_eq!(
            t(
                "str('what do ya want for nothing?'),hmac(SHA256,SmVmZQ==),hex,lower",
                &mut c
            )
            .unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // An empty key is a key.
        assert_eq!(
            t("str(),hmac(sha256,),hex,lower", &mut c).unwrap(),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"
        );
        assert_eq!(t("str(1),hmac(sha1,txn.unset)", &mut c), None);
        assert_eq!(t("str(1),hmac(sha1,txn.badkey)", &mut c), None);
        assert!(err("str(a),hmac(sha1,abc)").contains("failed to parse key"));
        assert!(err("str(a),hmac(sha1,a*==)").contains("failed to parse key"));
        assert!(err("str(a),hmac(whirl,a2V5)").contains("invalid args in converter 'hmac'"));
    }

    #[test]
    fn secure_memcmp_compares_with_a_variable() {
        let mut c = ctx();
        c.set(
            "var(txn.hash)",
            vec![Sample::str("NWoZK3kTsExUV00Ywo1G5jlUKKs=")],
        );
        let yes = Some(Sample::Bool(true));
        let no = Some(Sample::Bool(false));
        assert_eq!(
            ev("str(1),sha1,base64,secure_memcmp(txn.hash)", &mut c),
            yes
        );
        assert_eq!(ev("str(2),sha1,base64,secure_memcmp(txn.hash)", &mut c), no);
        assert_eq!(ev("str(1),secure_memcmp(txn.one)", &mut c), yes);
        assert_eq!(ev("str(12),secure_memcmp(txn.one)", &mut c), no);
        assert_eq!(ev("str(),secure_memcmp(txn.empty)", &mut c), yes);
        assert_eq!(ev("str(1),secure_memcmp(txn.unset)", &mut c), None);
        // Binary values with NUL bytes are compared whole.
        c.set("var(txn.bin)", vec![Sample::Bin(vec![0, 0, 1])]);
        assert_eq!(ev("var(txn.b001),secure_memcmp(txn.bin)", &mut c), yes);
        assert_eq!(ev("var(txn.b002),secure_memcmp(txn.bin)", &mut c), no);
        assert!(err("str(a),secure_memcmp()").contains("missing variable name"));
        assert!(err("str(a),secure_memcmp(foo)").contains("failed to register variable name 'foo'"));
    }

    #[test]
    fn strcmp_compares_with_a_variable() {
        let mut c = ctx();
        c.set("var(txn.abc)", vec![Sample::str("abc")]);
        c.set("var(txn.anul)", vec![Sample::Str(b"a\0x".to_vec())]);
        let int = |v| Some(Sample::Int(v));
        assert_eq!(ev("str(abc),strcmp(txn.abc)", &mut c), int(0));
        assert_eq!(ev("str(abd),strcmp(txn.abc)", &mut c), int(1));
        assert_eq!(
            ev("str(abA),strcmp(txn.abc)", &mut c),
            int(i64::from(b'A') - i64::from(b'c'))
        );
        assert_eq!(ev("str(ab),strcmp(txn.abc)", &mut c), int(-1));
        assert_eq!(ev("str(abcd),strcmp(txn.abc)", &mut c), int(1));
        assert_eq!(ev("str(),strcmp(txn.empty)", &mut c), int(0));
        assert_eq!(ev("str(),strcmp(txn.abc)", &mut c), int(-1));
        // An integer variable compares as its text.
        assert_eq!(ev("str(42),strcmp(txn.int)", &mut c), int(0));
        // strncmp stops at a NUL: only the lengths then differ.
        c.set("var(txn.snulb)", vec![Sample::Str(b"a\0b".to_vec())]);
        c.set("var(txn.snulbc)", vec![Sample::Str(b"a\0bc".to_vec())]);
        assert_eq!(ev("var(txn.snulb),strcmp(txn.anul)", &mut c), int(0));
        assert_eq!(ev("var(txn.snulbc),strcmp(txn.anul)", &mut c), int(1));
        // A binary input is cast to text first, which ends at its NUL.
        assert_eq!(ev("var(txn.anulb),strcmp(txn.anul)", &mut c), int(-1));
        assert_eq!(ev("str(a),strcmp(txn.unset)", &mut c), None);
        assert!(err("str(a),strcmp()").contains("missing variable name"));
        assert!(err("str(a),strcmp(foo)").contains("failed to register variable name 'foo'"));
    }

    #[test]
    fn bytes_slices_the_binary_form() {
        let mut c = ctx();
        let bin = |v: &[u8]| Some(Sample::Bin(v.to_vec()));
        assert_eq!(ev("str(0123456789),bytes(3)", &mut c), bin(b"3456789"));
        assert_eq!(ev("str(0123456789),bytes(3,4)", &mut c), bin(b"3456"));
        assert_eq!(ev("str(0123456789),bytes(0,0)", &mut c), bin(b""));
        assert_eq!(ev("str(0123456789),bytes(8,5)", &mut c), bin(b"89"));
        assert_eq!(ev("str(0123456789),bytes(10)", &mut c), bin(b""));
        assert_eq!(ev("str(0123456789),bytes(99,1)", &mut c), bin(b""));
        assert_eq!(ev("str(0123456789),bytes(-1)", &mut c), bin(b""));
        assert_eq!(ev("str(0123456789),bytes(2,-1)", &mut c), bin(b"23456789"));
        assert_eq!(ev("str(),bytes(0)", &mut c), bin(b""));
        assert_eq!(ev("int(258),bytes(6)", &mut c), bin(&[1, 2]));
        assert_eq!(
            text("var(txn.digits),bytes(1),length", &mut c).as_deref(),
            Some("9")
        );
        assert!(err("str(a),bytes").contains("missing"));
        assert!(err("str(a),bytes(x)").contains("invalid arg 1"));
        assert!(err("int(1),bool,bytes(1)").contains("cannot be applied"));
    }

    #[test]
    fn url_dec_and_url_enc_follow_haproxy() {
        let mut c = ctx();
        c.set("url", vec![Sample::str("/bla+%20?foo%3Dbar%2B42+42%20")]);
        let t = |e: &str, c: &mut MapCtx| text(e, c);
        assert_eq!(t("url,url_dec", &mut c).unwrap(), "/bla+ ?foo=bar+42 42 ");
        assert_eq!(
            t("url,url_dec(1)", &mut c).unwrap(),
            "/bla  ?foo=bar+42 42 "
        );
        assert_eq!(
            t("url,url_dec(0)", &mut c).unwrap(),
            "/bla+ ?foo=bar+42 42 "
        );
        assert_eq!(t("str(%41%6a),url_dec", &mut c).unwrap(), "Aj");
        assert_eq!(t("str(),url_dec", &mut c).unwrap(), "");
        assert_eq!(t("str(a%4),url_dec", &mut c), None);
        assert_eq!(t("str(a%zz),url_dec", &mut c), None);
        assert_eq!(t("str(%),url_dec", &mut c), None);
        // A decoded NUL is kept; the text stops at a literal one.
        assert_eq!(ev("str(a%00b),url_dec", &mut c), Some(Sample::str(b"a\0b")));
        assert_eq!(ev("var(txn.anulb),url_dec", &mut c), Some(Sample::str("a")));

        assert_eq!(
            t("str('foo=bar+42 42 '),url_enc", &mut c).unwrap(),
            "foo%3Dbar%2B42%2042%20"
        );
        assert_eq!(
            t("str('foo=bar+42 42 '),url_enc(query)", &mut c).unwrap(),
            "foo%3Dbar%2B42%2042%20"
        );
        assert_eq!(t("str(aZ09-._~),url_enc", &mut c).unwrap(), "aZ09-._~");
        // Binary input is read as text: it ends at its first NUL.
        assert_eq!(t("var(txn.bff2f),url_enc", &mut c).unwrap(), "%FF%2F");
        assert_eq!(
            t("str('a b/c?d'),url_enc,url_dec", &mut c).unwrap(),
            "a b/c?d"
        );
        assert!(err("str(a),url_enc(path)").contains("Allowed value is 'query'"));
    }
}

/// `json_query(path[,int])` (HAProxy's `sample_conv_json_query` over
/// mjson): the value at `path` (`$`, then `.key` or `['key']` members, `\.`
/// for a dot inside a key, and `[N]` array elements): a string unescaped,
/// `true`/`false` as a boolean, a number as C's `%g` prints it (with `int`:
/// its integer part, within +-2^53); `null`, an object, an array (HAProxy
/// 3.x returns its text, 2.6 nothing), nothing there, or a document that is
/// not JSON: no sample.
fn json_query(doc: &[u8], path: &str, int: bool) -> Option<Sample> {
    let segs = json_path(path)?;
    let mut scan = JsonScan { b: doc, i: 0 };
    let (start, end) = scan.find(&segs).ok()??;
    let raw = &doc[start..end];
    match raw.first()? {
        b'"' => JsonScan { b: raw, i: 0 }.string().ok().map(Sample::Str),
        b't' => Some(Sample::Bool(true)),
        b'f' => Some(Sample::Bool(false)),
        b'-' | b'0'..=b'9' => {
            let text = core::str::from_utf8(raw).ok()?;
            if int {
                // strtoll: the leading integer digits.
                let end = text
                    .char_indices()
                    .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
                    .map_or(text.len(), |(i, _)| i);
                let v: i64 = text[..end].parse().ok()?;
                const JSON_INT_MAX: i64 = (1 << 53) - 1;
                (-JSON_INT_MAX..=JSON_INT_MAX)
                    .contains(&v)
                    .then_some(Sample::Int(v))
            } else {
                Some(Sample::Str(fmt_g(text.parse().ok()?).into_bytes()))
            }
        }
        // `null`, an object, an array (HAProxy 3.x returns an array's
        // text, 2.6 nothing).
        _ => None,
    }
}

/// A streaming JSON scan in mjson's manner: the document is read from the
/// start until the value at the path is complete, so a document cut or
/// broken *after* it still answers, as HAProxy's does.
struct JsonScan<'a> {
    b: &'a [u8],
    i: usize,
}

/// Bad or cut JSON.
struct JsonErr;

impl JsonScan<'_> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), JsonErr> {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(JsonErr)
        }
    }

    /// The span of the value at `segs` from here: `Ok(None)` when this
    /// value does not hold it.
    fn find(&mut self, segs: &[JsonSeg]) -> Result<Option<(usize, usize)>, JsonErr> {
        self.ws();
        let start = self.i;
        let Some(seg) = segs.first() else {
            self.skip()?;
            return Ok(Some((start, self.i)));
        };
        match (self.b.get(self.i), seg) {
            (Some(b'{'), JsonSeg::Key(k)) => {
                self.i += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(None);
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    if key == k.as_bytes() {
                        return self.find(&segs[1..]);
                    }
                    self.skip()?;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(None);
                        }
                        _ => return Err(JsonErr),
                    }
                }
            }
            (Some(b'['), JsonSeg::Index(n)) => {
                self.i += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(None);
                }
                let mut idx = 0;
                loop {
                    if idx == *n {
                        return self.find(&segs[1..]);
                    }
                    self.skip()?;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(None);
                        }
                        _ => return Err(JsonErr),
                    }
                    idx += 1;
                }
            }
            _ => {
                self.skip()?;
                Ok(None)
            }
        }
    }

    /// Reads over one whole value.
    fn skip(&mut self) -> Result<(), JsonErr> {
        self.ws();
        match self.b.get(self.i).ok_or(JsonErr)? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let close = if self.b[self.i] == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.ws();
                if self.b.get(self.i) == Some(&close) {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    if close == b'}' {
                        self.ws();
                        self.string()?;
                        self.eat(b':')?;
                    }
                    self.skip()?;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(&c) if c == close => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(JsonErr),
                    }
                }
            }
            b't' | b'f' | b'n' => {
                for lit in [&b"true"[..], b"false", b"null"] {
                    if self.b[self.i..].starts_with(lit) {
                        self.i += lit.len();
                        return Ok(());
                    }
                }
                Err(JsonErr)
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.b.get(self.i).is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.i += 1;
                }
                // A number cut by the end of the input may be longer.
                if self.i == self.b.len() && self.i > start {
                    return Err(JsonErr);
                }
                Ok(())
            }
            _ => Err(JsonErr),
        }
    }

    /// A string, unescaped (`\uXXXX` as UTF-8; a lone surrogate fails).
    fn string(&mut self) -> Result<Vec<u8>, JsonErr> {
        if self.b.get(self.i) != Some(&b'"') {
            return Err(JsonErr);
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.b.get(self.i).ok_or(JsonErr)?;
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.b.get(self.i).ok_or(JsonErr)?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self.b.get(self.i..self.i + 4).ok_or(JsonErr)?;
                            let v = core::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or(JsonErr)?;
                            self.i += 4;
                            let ch = char::from_u32(v).ok_or(JsonErr)?;
                            let mut buf = [0; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(JsonErr),
                    }
                }
                c if c < 0x20 => return Err(JsonErr),
                c => out.push(c),
            }
        }
    }
}

/// One step of a JSON path.
#[derive(Debug, PartialEq)]
enum JsonSeg {
    Key(String),
    Index(usize),
}

/// `$.a.b[0]['c.d']` as its steps; `None` when it is not a path.
fn json_path(p: &str) -> Option<Vec<JsonSeg>> {
    let mut rest = p.strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let mut key = String::new();
            let mut chars = r.char_indices();
            let mut end = r.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            key.push(n);
                        }
                    }
                    '.' | '[' => {
                        end = i;
                        break;
                    }
                    c => key.push(c),
                }
            }
            if key.is_empty() {
                return None;
            }
            out.push(JsonSeg::Key(key));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']")?;
            out.push(JsonSeg::Key(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(JsonSeg::Index(r[..end].trim().parse().ok()?));
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

/// A number as C's `printf("%g")`: 6 significant digits, trailing zeros
/// dropped, an exponent below 1e-4 or from 1e6 on.
fn fmt_g(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    // The exponent after rounding to 6 significant digits.
    let e = format!("{v:.5e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

/// HAProxy's `sample_conv_json`: `"`, `\\`, `/` and the usual control
/// characters escaped with a backslash, other characters outside the
/// printable ASCII range as `\uXXXX`. `mode` says how the input is read:
/// bytes (`ascii`, the default) or UTF-8 (`utf8`: an invalid sequence or a
/// character above U+FFFF fails the conversion; `utf8s`: they are
/// skipped; `utf8p`/`utf8ps` likewise for the sequences this decoder
/// rejects).
fn json_escape(v: &[u8], mode: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(v.len() + 8);
    let mut push = |c: u32| match c {
        0x22 => out.extend_from_slice(b"\\\""),
        0x5c => out.extend_from_slice(b"\\\\"),
        0x2f => out.extend_from_slice(b"\\/"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        0x0d => out.extend_from_slice(b"\\r"),
        0x0a => out.extend_from_slice(b"\\n"),
        0x09 => out.extend_from_slice(b"\\t"),
        0x20..=0x7e => out.push(c as u8),
        _ => out.extend_from_slice(format!("\\u{:04x}", c as u16).as_bytes()),
    };
    if matches!(mode, "" | "ascii") {
        v.iter().for_each(|b| push(u32::from(*b)));
        return Some(out);
    }
    let skip = mode.ends_with('s');
    let mut rest = v;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                for ch in text.chars() {
                    if u32::from(ch) > 0xffff {
                        if !skip {
                            return None;
                        }
                        continue;
                    }
                    push(u32::from(ch));
                }
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                for ch in std::str::from_utf8(good).unwrap_or_default().chars() {
                    if u32::from(ch) > 0xffff {
                        if !skip {
                            return None;
                        }
                        continue;
                    }
                    push(u32::from(ch));
                }
                if !skip {
                    return None;
                }
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                rest = &bad[n.min(bad.len())..];
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod json_tests {
    use super::json_escape;

    #[test]
    fn json_escapes_as_haproxy() {
        let got = json_escape(b"a\"b\\c/d\n\t\x01\xe9", "").unwrap();
        assert_eq!(got, br#"a\"b\\c\/d\n\t\u0001\u00e9"#.to_vec());
        assert_eq!(
            json_escape("é€".as_bytes(), "utf8").unwrap(),
            br"\u00e9\u20ac".to_vec()
        );
        assert_eq!(json_escape(b"a\xffb", "utf8"), None);
        assert_eq!(json_escape(b"a\xffb", "utf8s").unwrap(), b"ab".to_vec());
        assert_eq!(json_escape("a😀".as_bytes(), "utf8"), None);
        assert_eq!(
            json_escape("a😀".as_bytes(), "utf8s").unwrap(),
            b"a".to_vec()
        );
    }
}
