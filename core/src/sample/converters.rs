//! Converters: HAProxy's `sample_conv_keywords` (`sample.c`,
//! `http_conv.c`) and what each one does to a sample.

use core::net::IpAddr;

use super::*;

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
pub(super) fn apply_conv(c: &Conv, s: Sample, ctx: &mut dyn SampleCtx) -> Option<Sample> {
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
