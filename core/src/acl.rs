//! ACLs and conditions: HAProxy's `acl.c` (ACL declarations, `if`/`unless`
//! conditions, predefined ACLs) and `pattern.c` (match methods and their
//! patterns).
//!
//! ```text
//!  acl NAME CRITERION [-i] [-n] [-m METH] [--] [OP] VALUE...
//!       └─ AclExpr = sample expression + match method + patterns
//!  Acl NAME = OR of every AclExpr declared under NAME in the proxy
//!  Condition = if|unless  suite || suite || ...      (OR of suites)
//!              suite = [!]term [!]term ...           (AND of terms)
//!              term  = ACL name | { anonymous ACL }
//! ```
//!
//! Evaluation is tri-state like HAProxy's (`ACL_TEST_FAIL`, `MISS`,
//! `PASS`): a miss is "no match yet, but the data may still change"
//! ([`crate::sample::SampleCtx::may_change`]), so a TCP content rule can
//! wait for more data instead of deciding too early. Terms are evaluated
//! left to right and stop as soon as the result is known.
//!
//! Scoping follows HAProxy 2.6: an ACL is visible only in the section that
//! declares it (a backend does not see its frontend's ACLs, a proxy does
//! not see the ACLs of the `defaults` section it uses), and it must be
//! declared before the first rule that names it. Predefined ACLs (`TRUE`,
//! `LOCALHOST`, `METH_GET`, ...) are found when no declared ACL has the name.

use std::collections::BTreeMap;
use std::sync::Arc;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cfgparse::{Diagnostic, RuleLine};
use crate::sample::{
    self, parse_convs, parse_fetch_named, prefix_mask128, ParseCtx, Regex, Sample, SampleCtx,
    SampleExpr, SmpType,
};

/// A pattern matching method (`-m <meth>`, HAProxy's `PAT_MATCH_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchMethod {
    /// `found`: the sample exists; patterns are ignored.
    Found,
    /// `bool`: the sample, as an integer, is not zero; patterns are ignored.
    Bool,
    /// `int`: integer ranges and operators.
    Int,
    /// `ip`: IPv4/IPv6 addresses and networks.
    Ip,
    /// `bin`: hexadecimal byte strings, exact.
    Bin,
    /// `len`: the length of the string, against integer ranges.
    Len,
    /// `str`: exact string.
    Str,
    /// `beg`: prefix.
    Beg,
    /// `sub`: substring.
    Sub,
    /// `dir`: a `/`-delimited part (`?` also delimits).
    Dir,
    /// `dom`: a `.`-delimited part (`/`, `?`, `:` also delimit).
    Dom,
    /// `end`: suffix.
    End,
    /// `reg`: regular expression.
    Reg,
}

impl MatchMethod {
    const ALL: [MatchMethod; 13] = [
        MatchMethod::Found,
        MatchMethod::Bool,
        MatchMethod::Int,
        MatchMethod::Ip,
        MatchMethod::Bin,
        MatchMethod::Len,
        MatchMethod::Str,
        MatchMethod::Beg,
        MatchMethod::Sub,
        MatchMethod::Dir,
        MatchMethod::Dom,
        MatchMethod::End,
        MatchMethod::Reg,
    ];

    /// The name used with `-m` (`pat_match_names[]`).
    pub fn name(self) -> &'static str {
        match self {
            MatchMethod::Found => "found",
            MatchMethod::Bool => "bool",
            MatchMethod::Int => "int",
            MatchMethod::Ip => "ip",
            MatchMethod::Bin => "bin",
            MatchMethod::Len => "len",
            MatchMethod::Str => "str",
            MatchMethod::Beg => "beg",
            MatchMethod::Sub => "sub",
            MatchMethod::Dir => "dir",
            MatchMethod::Dom => "dom",
            MatchMethod::End => "end",
            MatchMethod::Reg => "reg",
        }
    }

    /// The method named `name`.
    pub fn from_name(name: &str) -> Option<MatchMethod> {
        MatchMethod::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The type a sample is cast to before matching (`pat_match_types[]`).
    pub fn expect_type(self) -> SmpType {
        match self {
            MatchMethod::Found | MatchMethod::Bool | MatchMethod::Int => SmpType::Int,
            MatchMethod::Ip => SmpType::Addr,
            MatchMethod::Bin => SmpType::Bin,
            _ => SmpType::Str,
        }
    }

    /// The method a sample type implies when none is given; `None` for
    /// types that need `-m` (binary, variables).
    pub fn default_for(t: SmpType) -> Option<MatchMethod> {
        match t {
            SmpType::Bool => Some(MatchMethod::Bool),
            SmpType::Int => Some(MatchMethod::Int),
            SmpType::Addr | SmpType::Ipv4 | SmpType::Ipv6 => Some(MatchMethod::Ip),
            SmpType::Str => Some(MatchMethod::Str),
            SmpType::Bin | SmpType::Any => None,
        }
    }

    fn takes_patterns(self) -> bool {
        !matches!(self, MatchMethod::Found | MatchMethod::Bool)
    }
}

/// An IPv4 or IPv6 network of an `ip` pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpNet {
    /// Address and mask (masks need not be contiguous, as in HAProxy).
    V4 { addr: Ipv4Addr, mask: Ipv4Addr },
    /// Address and prefix length.
    V6 { addr: Ipv6Addr, prefix: u8 },
}

impl IpNet {
    /// Parses `addr[/mask]` (HAProxy's `pat_parse_ip`: `str2net` then
    /// `str62net`). Host names are refused: core resolves nothing.
    pub fn parse(text: &str) -> Option<IpNet> {
        let (a, m) = match text.rsplit_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (text, None),
        };
        if let Ok(addr) = a.parse::<Ipv4Addr>() {
            let mask = match m {
                None => Ipv4Addr::BROADCAST,
                Some(m) => sample::parse_mask4(m)?,
            };
            return Some(IpNet::V4 { addr, mask });
        }
        let addr = a.parse::<Ipv6Addr>().ok()?;
        let prefix = match m {
            None => 128,
            Some(m) => m.parse::<u8>().ok().filter(|p| *p <= 128)?,
        };
        Some(IpNet::V6 { addr, prefix })
    }

    /// Whether `ip` is in the network, with HAProxy's v4/v6 mixing: a v4
    /// address is compared with v6 networks as `::ffff:a.b.c.d`; a v6
    /// address is compared with v4 networks when it is v4-mapped
    /// (`::ffff:a.b.c.d`), v4-compatible (`::a.b.c.d`) or 6to4
    /// (`2002:AABB:CCDD::`).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (IpNet::V4 { addr, mask }, IpAddr::V4(s)) => v4_in(s, addr, mask),
            (IpNet::V4 { addr, mask }, IpAddr::V6(s)) => {
                embedded_v4(s).is_some_and(|s| v4_in(s, addr, mask))
            }
            (IpNet::V6 { addr, prefix }, IpAddr::V6(s)) => v6_in(s, addr, prefix),
            (IpNet::V6 { addr, prefix }, IpAddr::V4(s)) => v6_in(s.to_ipv6_mapped(), addr, prefix),
        }
    }
}

fn v4_in(s: Ipv4Addr, addr: Ipv4Addr, mask: Ipv4Addr) -> bool {
    (u32::from(s) ^ u32::from(addr)) & u32::from(mask) == 0
}

fn v6_in(s: Ipv6Addr, addr: Ipv6Addr, prefix: u8) -> bool {
    let m = prefix_mask128(u32::from(prefix));
    (u128::from(s) ^ u128::from(addr)) & m == 0
}

pub(crate) fn embedded_v4(s: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = s.octets();
    if o[..8] == [0; 8] && (o[8..12] == [0; 4] || o[8..12] == [0, 0, 0xff, 0xff]) {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if o[..2] == [0x20, 0x02] {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// One pattern of an ACL expression (HAProxy's `struct pattern`).
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// An integer range, bounds included (`10:20`, `:5`, `gt 3`).
    Range {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// `ne N` (a Sluice extension: HAProxy 2.6 reads `ne` as `eq`).
    NotEqual(i64),
    Ip(IpNet),
    /// A string (`str`, `beg`, `sub`, `dir`, `dom`, `end`) or bytes (`bin`).
    Bytes(Vec<u8>),
    Regex(Regex),
}

/// One `acl` line, or one anonymous `{ ... }` ACL (HAProxy's
/// `struct acl_expr`).
#[derive(Clone, Debug, PartialEq)]
pub struct AclExpr {
    /// The criterion keyword as written (`path_beg`, `hdr`, `src`).
    pub kw: String,
    pub expr: SampleExpr,
    pub method: MatchMethod,
    /// `-i`: case-insensitive string and regex matching.
    pub icase: bool,
    pub patterns: Vec<Pattern>,
    /// The pattern expressions matched at run time when the ACL was
    /// parsed with a pattern store: its inline patterns (an anonymous
    /// reference the CLI can edit) and its `-f` files. Empty: `patterns`
    /// is matched.
    pub pat_exprs: Vec<crate::pattern::PatExprId>,
}

/// A named ACL: every expression declared under the name, ORed (HAProxy's
/// `struct acl`). Anonymous ACLs have an empty name.
#[derive(Clone, Debug, PartialEq)]
pub struct Acl {
    pub name: String,
    pub exprs: Vec<AclExpr>,
}

/// A tri-state test result (`enum acl_test_res`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclTest {
    /// Does not match, and will not.
    Fail,
    /// Does not match yet; the data may still change.
    Miss,
    /// Matches.
    Pass,
}

impl AclTest {
    fn bits(self) -> u8 {
        match self {
            AclTest::Fail => 0,
            AclTest::Miss => 1,
            AclTest::Pass => 3,
        }
    }

    fn from_bits(b: u8) -> AclTest {
        match b & 3 {
            0 => AclTest::Fail,
            3 => AclTest::Pass,
            _ => AclTest::Miss,
        }
    }

    /// Logical AND (`&` on HAProxy's encoding 0/1/3).
    pub fn and(self, o: AclTest) -> AclTest {
        AclTest::from_bits(self.bits() & o.bits())
    }

    /// Logical OR.
    pub fn or(self, o: AclTest) -> AclTest {
        AclTest::from_bits(self.bits() | o.bits())
    }

    /// Negation; a miss stays a miss (`acl_neg`).
    pub fn negate(self) -> AclTest {
        AclTest::from_bits(3 >> self.bits())
    }
}

impl AclExpr {
    /// Evaluates the expression: any value of the sample matching any
    /// pattern passes.
    pub fn exec(&self, ctx: &mut dyn SampleCtx) -> AclTest {
        let mut vals = Vec::new();
        self.expr.eval_all(ctx, &mut vals);
        // A converter that judges a whole message (`fix_is_valid`) gives
        // an answer only once it is final: it clears `SMP_F_MAY_CHANGE`.
        let settled = !vals.is_empty() && self.expr.convs.iter().any(|c| c.kind.settles());
        let hit = if self.pat_exprs.is_empty() {
            vals.into_iter().any(|v| self.matches(v))
        } else {
            let store = ctx.patterns();
            vals.into_iter().any(|v| self.matches_in(v, store))
        };
        if hit {
            return AclTest::Pass;
        }
        let changing = match self.expr.fetch.kind {
            sample::FetchKind::Const(_) => false,
            _ => !settled && ctx.may_change(&self.expr.fetch),
        };
        if changing {
            AclTest::Miss
        } else {
            AclTest::Fail
        }
    }

    /// Whether one sample value matches the pattern expressions of the
    /// store (`pattern_exec_match` over the ACL's pattern head).
    pub fn matches_in(&self, s: Sample, store: Option<&crate::pattern::PatStore>) -> bool {
        if self.pat_exprs.is_empty() {
            return self.matches(s);
        }
        match self.method {
            MatchMethod::Found => return true,
            MatchMethod::Bool => {
                return matches!(s.cast(SmpType::Int), Some(Sample::Int(i)) if i != 0)
            }
            _ => {}
        }
        let Some(store) = store else { return false };
        self.pat_exprs.iter().any(|e| store.matches(*e, &s))
    }

    /// Whether one sample value matches (`pattern_exec_match`).
    pub fn matches(&self, s: Sample) -> bool {
        if self.method == MatchMethod::Found {
            return true;
        }
        let Some(s) = s.cast(self.method.expect_type()) else {
            return false;
        };
        match (self.method, s) {
            (MatchMethod::Bool, Sample::Int(i)) => i != 0,
            (m, s) => self
                .patterns
                .iter()
                .any(|p| pattern_match(m, self.icase, p, &s)),
        }
    }
}

/// Whether `s`, already cast to `m`'s type, matches one pattern (the
/// per-pattern test of HAProxy's `pat_match_*` functions).
pub(crate) fn pattern_match(m: MatchMethod, icase: bool, p: &Pattern, s: &Sample) -> bool {
    match (m, s, p) {
        (MatchMethod::Int, Sample::Int(i), p) => int_match(p, *i),
        (MatchMethod::Len, Sample::Str(v), p) => {
            int_match(p, i64::try_from(v.len()).unwrap_or(i64::MAX))
        }
        (MatchMethod::Ip, Sample::Ip(ip), Pattern::Ip(net)) => net.contains(*ip),
        (MatchMethod::Bin, Sample::Bin(v), Pattern::Bytes(b)) => b == v,
        (MatchMethod::Reg, Sample::Str(v), Pattern::Regex(r)) => r.is_match(v),
        (m, Sample::Str(v), Pattern::Bytes(b)) => str_match(m, icase, v, b),
        _ => false,
    }
}

fn int_match(p: &Pattern, v: i64) -> bool {
    match p {
        Pattern::Range { min, max } => min.is_none_or(|m| m <= v) && max.is_none_or(|m| v <= m),
        Pattern::NotEqual(n) => v != *n,
        _ => false,
    }
}

fn eq_bytes(a: &[u8], b: &[u8], icase: bool) -> bool {
    if icase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn str_match(m: MatchMethod, icase: bool, s: &[u8], p: &[u8]) -> bool {
    match m {
        MatchMethod::Str => eq_bytes(s, p, icase),
        MatchMethod::Beg => s.len() >= p.len() && eq_bytes(&s[..p.len()], p, icase),
        MatchMethod::End => s.len() >= p.len() && eq_bytes(&s[s.len() - p.len()..], p, icase),
        MatchMethod::Sub => p.is_empty() || s.windows(p.len()).any(|w| eq_bytes(w, p, icase)),
        MatchMethod::Dir => match_word(s, p, icase, b"/?"),
        MatchMethod::Dom => match_word(s, p, icase, b"/?.:"),
        _ => false,
    }
}

/// HAProxy's `match_word`: `p` appears in `s` between delimiters (or the
/// ends of `s`); delimiters around `p` itself are ignored.
fn match_word(s: &[u8], p: &[u8], icase: bool, delims: &[u8]) -> bool {
    let is_d = |c: u8| delims.contains(&c);
    let start = p.iter().position(|&c| !is_d(c)).unwrap_or(p.len());
    let end = p.iter().rposition(|&c| !is_d(c)).map_or(start, |i| i + 1);
    let p = &p[start..end.max(start)];
    if p.is_empty() || p.len() > s.len() {
        return false;
    }
    let last = s.len() - p.len();
    let mut may_match = true;
    for c in 0..=last {
        if is_d(s[c]) {
            may_match = true;
            continue;
        }
        if !may_match {
            continue;
        }
        if eq_bytes(&s[c..c + p.len()], p, icase) && (c == last || is_d(s[c + p.len()])) {
            return true;
        }
        may_match = false;
    }
    false
}

impl Acl {
    /// Evaluates the ACL: the first expression that passes wins.
    pub fn exec(&self, ctx: &mut dyn SampleCtx) -> AclTest {
        let mut res = AclTest::Fail;
        for e in &self.exprs {
            res = res.or(e.exec(ctx));
            if res == AclTest::Pass {
                break;
            }
        }
        res
    }
}

/// ACL keywords that are a fetch plus a match method (`path_beg` is
/// `path` with `-m beg`), from HAProxy's `acl_kws` tables.
fn acl_keyword(kw: &str) -> Option<(&'static str, MatchMethod)> {
    const BASES: &[(&str, &str)] = &[
        ("base", "base"),
        ("path", "path"),
        ("url", "url"),
        ("urlp", "urlp"),
        ("hdr", "hdr"),
        ("shdr", "res.hdr"),
        ("cook", "req.cook"),
        ("scook", "res.cook"),
    ];
    match kw {
        "req_ver" => return Some(("req.ver", MatchMethod::Str)),
        "resp_ver" => return Some(("res.ver", MatchMethod::Str)),
        _ => {}
    }
    let (base, suffix) = kw.rsplit_once('_')?;
    let (_, fetch) = BASES.iter().find(|(b, _)| *b == base)?;
    let method = match suffix {
        "beg" => MatchMethod::Beg,
        "dir" => MatchMethod::Dir,
        "dom" => MatchMethod::Dom,
        "end" => MatchMethod::End,
        "len" => MatchMethod::Len,
        "reg" => MatchMethod::Reg,
        "sub" => MatchMethod::Sub,
        _ => return None,
    };
    Some((fetch, method))
}

/// Comparison operators of integer patterns (`get_std_op`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn std_op(w: &str) -> Option<Op> {
    Some(match w {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "lt" => Op::Lt,
        "le" => Op::Le,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        _ => return None,
    })
}

/// A signed integer written exactly (`strl2llrc`).
fn strict_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// HAProxy's `pat_parse_int`: `N`, `N:M`, `:M`, `N:` (`-` also separates).
fn parse_range(text: &str) -> Result<Pattern, String> {
    let bad = || format!("'{text}' is not a valid number range");
    if text.is_empty() {
        return Err(bad());
    }
    let Some(at) = text.find([':', '-']) else {
        let v = strict_int(text).ok_or_else(|| format!("'{text}' is not a number"))?;
        return Ok(Pattern::Range {
            min: Some(v),
            max: Some(v),
        });
    };
    let (lo, hi) = (&text[..at], &text[at + 1..]);
    let min = if lo.is_empty() {
        None
    } else {
        Some(strict_int(lo).ok_or_else(bad)?)
    };
    let max = if hi.is_empty() {
        None
    } else {
        Some(strict_int(hi).ok_or_else(bad)?)
    };
    match (min, max) {
        (None, None) => Err(bad()),
        (Some(a), Some(b)) if a > b => Err(bad()),
        _ => Ok(Pattern::Range { min, max }),
    }
}

/// A `MAJOR[.MINOR]` version (or a range of them, or an operator) as the
/// integer `MAJOR << 16 | MINOR` (HAProxy's `pat_parse_dotted_ver`).
fn dotted_ver(v: &str) -> Result<String, String> {
    if std_op(v).is_some() {
        return Ok(v.to_string());
    }
    let one = |t: &str| -> Result<String, String> {
        if t.is_empty() {
            return Ok(String::new());
        }
        let (maj, min) = t.split_once('.').unwrap_or((t, "0"));
        let num = |x: &str| {
            x.parse::<u16>()
                .ok()
                .filter(|_| x.bytes().all(|c| c.is_ascii_digit()))
        };
        match (num(maj), num(min)) {
            (Some(a), Some(b)) => Ok((i64::from(a) << 16 | i64::from(b)).to_string()),
            _ => Err(format!("'{v}' is not a dotted number")),
        }
    };
    match v.find([':', '-']) {
        Some(at) => Ok(format!("{}:{}", one(&v[..at])?, one(&v[at + 1..])?)),
        None => one(v),
    }
}

/// An integer pattern under operator `op` (the compatibility layer of
/// `parse_acl_expr`: `gt 5` is `6:`, `le 5` is `:5`; a value holding `:`
/// or `-` is taken as a range whatever the operator).
fn parse_int_pattern(op: Op, v: &str) -> Result<Pattern, String> {
    if op == Op::Eq || v.contains([':', '-']) {
        return parse_range(v);
    }
    let n = strict_int(v)
        .ok_or_else(|| format!("'{v}' is neither a number nor a supported operator"))?;
    let range = |min: Option<i64>, max: Option<i64>| Ok(Pattern::Range { min, max });
    let over = || format!("'{v}' is out of range");
    match op {
        Op::Ne => Ok(Pattern::NotEqual(n)),
        Op::Gt => range(Some(n.checked_add(1).ok_or_else(over)?), None),
        Op::Ge => range(Some(n), None),
        Op::Lt => range(None, Some(n.checked_sub(1).ok_or_else(over)?)),
        Op::Le => range(None, Some(n)),
        Op::Eq => parse_range(v),
    }
}

/// Decodes a hexadecimal string (HAProxy's `parse_binary`): an even
/// number of hex digits, nothing else.
pub(crate) fn parse_hex(v: &str) -> Result<Vec<u8>, String> {
    let b = v.as_bytes();
    if b.len() % 2 != 0 {
        return Err(format!("'{v}' is not a valid hex string (odd length)"));
    }
    b.chunks(2)
        .map(|c| {
            core::str::from_utf8(c)
                .ok()
                .filter(|h| h.bytes().all(|x| x.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("'{v}' is not a valid hex string"))
        })
        .collect()
}

/// Parses one pattern as HAProxy's `pat_parse_*` functions do for a
/// pattern file line or a CLI `add acl`/`add map` key.
pub(crate) fn parse_pattern(method: MatchMethod, icase: bool, v: &str) -> Result<Pattern, String> {
    Ok(match method {
        MatchMethod::Found | MatchMethod::Bool => Pattern::Bytes(Vec::new()),
        MatchMethod::Int | MatchMethod::Len => parse_range(v)?,
        MatchMethod::Ip => Pattern::Ip(
            IpNet::parse(v).ok_or_else(|| format!("'{v}' is not a valid IPv4 or IPv6 address"))?,
        ),
        MatchMethod::Bin => Pattern::Bytes(parse_hex(v)?),
        MatchMethod::Reg => Pattern::Regex(Regex::new(v, icase)?),
        _ => Pattern::Bytes(v.as_bytes().to_vec()),
    })
}

/// Parses the patterns of an expression.
fn parse_patterns(
    method: MatchMethod,
    icase: bool,
    values: &[String],
) -> Result<Vec<(String, Pattern)>, String> {
    let mut out = Vec::new();
    let mut op = Op::Eq;
    for v in values {
        let p = match method {
            MatchMethod::Found | MatchMethod::Bool => continue,
            MatchMethod::Int | MatchMethod::Len => {
                if let Some(o) = std_op(v) {
                    op = o;
                    continue;
                }
                parse_int_pattern(op, v)?
            }
            _ => parse_pattern(method, icase, v)?,
        };
        out.push((ref_text(v, &p), p));
    }
    Ok(out)
}

/// The text a pattern reference shows for an inline pattern: as written,
/// or the range an operator made of it (`gt 5` is `6:`), as HAProxy's
/// compatibility layer rewrites it before adding it to the reference.
fn ref_text(v: &str, p: &Pattern) -> String {
    match p {
        Pattern::Range { min, max } if !v.contains([':', '-']) && min != max => match (min, max) {
            (Some(a), None) => format!("{a}:"),
            (None, Some(b)) => format!(":{b}"),
            _ => v.to_string(),
        },
        _ => v.to_string(),
    }
}

/// An ACL expression and the warnings its parsing raised.
#[derive(Clone, Debug)]
pub struct ParsedExpr {
    pub expr: AclExpr,
    pub warnings: Vec<String>,
}

/// Parses `CRITERION [FLAGS] [OP] VALUE...` (HAProxy's `parse_acl_expr`).
pub fn parse_acl_expr(words: &[String], ctx: &ParseCtx<'_>) -> Result<ParsedExpr, String> {
    let Some(criterion) = words.first() else {
        return Err("missing fetch method".into());
    };
    let (expr, kw_method) = parse_criterion(criterion, ctx)?;
    let mut warnings = Vec::new();
    let mut method = kw_method.or_else(|| MatchMethod::default_for(expr.out_type));
    if words.len() == 1
        && method.is_some_and(MatchMethod::takes_patterns)
        && expr.out_type != SmpType::Bool
    {
        warnings.push(format!(
            "parsing acl keyword '{criterion}' : no pattern to match against were provided, so this ACL will never match. \
             If this is what you intended, please add '--' to get rid of this warning. \
             If you intended to match only for existence, please use '-m found'. \
             If you wanted to force an int to match as a bool, please use '-m bool'."
        ));
    }
    let mut icase = false;
    let mut file_exprs = Vec::new();
    let mut load_as_map = false;
    let mut unique_id = None;
    let mut files: Vec<String> = Vec::new();
    let mut explicit_m = false;
    let mut i = 1;
    while let Some(w) = words.get(i).filter(|w| w.starts_with('-')) {
        i += 1;
        match w.as_str() {
            "-i" => icase = true,
            "-n" => {}
            "-M" => load_as_map = true,
            "--" => break,
            "-u" => {
                let id = words.get(i).map(String::as_str).unwrap_or("");
                let v = id
                    .parse::<i32>()
                    .ok()
                    .filter(|_| !id.is_empty())
                    .or_else(|| id.is_empty().then_some(0));
                let Some(v) = v else {
                    return Err("the argument of -u must be an integer".into());
                };
                unique_id = Some(v);
                i += 1;
            }
            "-f" => {
                let name = words.get(i).map(String::as_str).unwrap_or("");
                i += 1;
                let Some(m) = method else {
                    return Err(format!(
                        "matching method must be specified first (using '-m') when using a sample fetch of this type ('{}')",
                        expr.fetch.kw
                    ));
                };
                let Some(loader) = ctx.patterns else {
                    return Err(format!(
                        "'-f {name}' : pattern files are not supported here (Sluice's engine reads no files; \
                         the driver hands them in when the engine is built)"
                    ));
                };
                let kind = crate::pattern::PatKind {
                    method: m,
                    icase,
                    regm: false,
                    out: None,
                };
                let at = ctx.at.unwrap_or(("", 0));
                files.push(name.to_string());
                let id = loader.load_file(name, kind, load_as_map, at)?;
                file_exprs.push(id);
            }
            "-m" => {
                if !files.is_empty() {
                    return Err(
                        "'-m' must only be specified before patterns and files in parsing ACL expression"
                            .into(),
                    );
                }
                let name = words.get(i).map(String::as_str).unwrap_or("");
                i += 1;
                let m = MatchMethod::from_name(name).ok_or_else(|| {
                    format!("unknown matching method '{name}' when parsing ACL expression")
                })?;
                if m != MatchMethod::Found && !expr.out_type.can_cast(m.expect_type()) {
                    return Err(format!(
                        "matching method '{name}' cannot be used with fetch keyword '{}'",
                        expr.fetch.kw
                    ));
                }
                method = Some(m);
                explicit_m = true;
            }
            other => {
                return Err(format!(
                    "'{other}' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'"
                ))
            }
        }
    }
    let Some(method) = method else {
        return Err(format!(
            "matching method must be specified first (using '-m') when using a sample fetch of this type ('{}')",
            expr.fetch.kw
        ));
    };
    let values = words.get(i..).unwrap_or_default();
    // `req.ssl_ver` compares with dotted versions (`3.1`), HAProxy's
    // `pat_parse_dotted_ver`, when its ACL keyword matches as it is.
    let dotted: Vec<String>;
    let values = if !explicit_m
        && expr.convs.is_empty()
        && matches!(expr.fetch.kw.as_str(), "req.ssl_ver" | "req_ssl_ver")
    {
        dotted = values
            .iter()
            .map(|v| dotted_ver(v))
            .collect::<Result<_, _>>()?;
        &dotted[..]
    } else {
        values
    };
    let with_text = parse_patterns(method, icase, values)?;
    let kw = criterion.split(['(', ',']).next().unwrap_or("").to_string();
    let mut pat_exprs = Vec::new();
    if let Some(loader) = ctx.patterns {
        let at = ctx.at.unwrap_or(("", 0));
        // HAProxy gives every ACL expression a reference of its own for
        // its inline patterns (`acl '<kw>' file '<f>' line <n>`).
        let kind = crate::pattern::PatKind {
            method,
            icase,
            regm: false,
            out: None,
        };
        let id =
            loader
                .store
                .borrow_mut()
                .new_inline(&kw, unique_id, kind, with_text.clone(), at)?;
        pat_exprs.push(id);
        pat_exprs.extend(file_exprs);
    }
    let patterns: Vec<Pattern> = with_text.into_iter().map(|(_, p)| p).collect();
    if expr.fetch.kind == sample::FetchKind::HttpAuthGroup && method != MatchMethod::Found {
        // HAProxy's `pat_match_auth` patterns are group names of the
        // userlist, checked when the configuration is loaded.
        if patterns.is_empty() {
            return Err("acl http_auth_group(): no groups specified".into());
        }
        let groups = match (ctx.userlists, expr.fetch.str_arg(0)) {
            (Some(f), Some(ul)) => f(ul),
            _ => None,
        };
        if let Some(groups) = groups {
            for p in &patterns {
                let Pattern::Bytes(b) = p else { continue };
                let g = String::from_utf8_lossy(b);
                if !groups.iter().any(|x| *x == g) {
                    return Err(format!("acl http_auth_group(): invalid group '{g}'"));
                }
            }
        }
    }
    let expr = AclExpr {
        kw,
        expr,
        method,
        icase,
        patterns,
        pat_exprs,
    };
    Ok(ParsedExpr { expr, warnings })
}

/// The criterion: an ACL keyword (`path_beg(...)`) or a sample expression.
/// Converters after an ACL keyword drop its method for the one implied by
/// their output type, as in HAProxy.
fn parse_criterion(
    criterion: &str,
    ctx: &ParseCtx<'_>,
) -> Result<(SampleExpr, Option<MatchMethod>), String> {
    let n = criterion
        .bytes()
        .position(|c| !sample::is_idchar(c))
        .unwrap_or(criterion.len());
    let kw = &criterion[..n];
    let Some((target, meth)) = acl_keyword(kw) else {
        let e = SampleExpr::parse(criterion, ctx)
            .map_err(|e| format!("{e} in ACL expression '{criterion}'"))?;
        return Ok((e, None));
    };
    let rename = |e: String| {
        let prefix = format!("fetch method '{target}' : ");
        match e.strip_prefix(&prefix) {
            Some(rest) => format!("ACL keyword '{kw}' : {rest}"),
            None => format!("ACL keyword '{kw}' : {e}"),
        }
    };
    let head = parse_fetch_named(target, &criterion[n..], ctx)
        .map_err(rename)?
        .ok_or_else(|| format!("unknown fetch method '{target}'"))?;
    let (convs, out_type, _) = parse_convs(criterion, n + head.end, head.out, kw, ctx, true)
        .map_err(|e| format!("ACL keyword '{kw}' : {e}"))?;
    let meth = convs.is_empty().then_some(meth);
    Ok((
        SampleExpr {
            fetch: head.fetch,
            convs,
            out_type,
        },
        meth,
    ))
}

/// HAProxy's predefined ACLs (`default_acl_list`), as words to parse.
const PREDEFINED: &[(&str, &[&str])] = &[
    ("TRUE", &["always_true"]),
    ("FALSE", &["always_false"]),
    ("LOCALHOST", &["src", "127.0.0.1/8"]),
    ("HTTP", &["req.proto_http"]),
    ("HTTP_1.0", &["req.ver", "1.0"]),
    ("HTTP_1.1", &["req.ver", "1.1"]),
    ("HTTP_2.0", &["req.ver", "2.0"]),
    ("METH_CONNECT", &["method", "CONNECT"]),
    ("METH_DELETE", &["method", "DELETE"]),
    ("METH_GET", &["method", "GET", "HEAD"]),
    ("METH_HEAD", &["method", "HEAD"]),
    ("METH_OPTIONS", &["method", "OPTIONS"]),
    ("METH_POST", &["method", "POST"]),
    ("METH_PUT", &["method", "PUT"]),
    ("METH_TRACE", &["method", "TRACE"]),
    ("HTTP_URL_ABS", &["url_reg", "^[^/:]*://"]),
    ("HTTP_URL_SLASH", &["url_beg", "/"]),
    ("HTTP_URL_STAR", &["url", "*"]),
    ("HTTP_CONTENT", &["hdr_val(content-length)", "gt", "0"]),
    ("REQ_CONTENT", &["req.len", "gt", "0"]),
    ("WAIT_END", &["wait_end"]),
];

/// Names of the predefined ACLs Sluice knows.
pub fn predefined_names() -> impl Iterator<Item = &'static str> {
    PREDEFINED.iter().map(|(n, _)| *n)
}

/// The predefined ACL `name`, if there is one.
pub fn predefined(name: &str) -> Option<Result<Acl, String>> {
    if name == "RDP_COOKIE" {
        return Some(Err(
            "predefined ACL 'RDP_COOKIE' is not supported by Sluice (no rdp_cookie fetch)".into(),
        ));
    }
    let (_, words) = PREDEFINED.iter().find(|(n, _)| *n == name)?;
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    Some(parse_acl_expr(&words, &ParseCtx::detached()).map(|p| Acl {
        name: name.to_string(),
        exprs: vec![p.expr],
    }))
}

/// One term of a condition: an ACL, maybe negated (`struct acl_term`).
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub acl: Arc<Acl>,
    pub neg: bool,
}

/// An `if`/`unless` condition (`struct acl_cond`): an OR of suites, each
/// an AND of terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// `unless`: the result is inverted.
    pub unless: bool,
    pub suites: Vec<Vec<Term>>,
}

impl Condition {
    /// Evaluates the terms, without the `if`/`unless` polarity
    /// (`acl_exec_cond`). Short-circuits both ways.
    pub fn exec(&self, ctx: &mut dyn SampleCtx) -> AclTest {
        let mut res = AclTest::Fail;
        for suite in &self.suites {
            let mut s = AclTest::Pass;
            for t in suite {
                let r = t.acl.exec(ctx);
                s = s.and(if t.neg { r.negate() } else { r });
                if s != AclTest::Pass {
                    break;
                }
            }
            res = res.or(s);
            if res == AclTest::Pass {
                break;
            }
        }
        res
    }

    /// The condition's verdict with its polarity: `Pass` when the rule
    /// applies, `Fail` when it does not, `Miss` when it cannot tell yet
    /// (the caller waits for more data, as HAProxy's TCP content rules do).
    pub fn test(&self, ctx: &mut dyn SampleCtx) -> AclTest {
        match (self.exec(ctx), self.unless) {
            (AclTest::Miss, _) => AclTest::Miss,
            (r, false) => r,
            (r, true) => r.negate(),
        }
    }

    /// Whether the rule applies, deciding now: a miss counts as "no match"
    /// before the polarity is applied, as HAProxy does once data is final
    /// (so `unless` of a miss applies the rule).
    pub fn matches(&self, ctx: &mut dyn SampleCtx) -> bool {
        let pass = self.exec(ctx) == AclTest::Pass;
        pass != self.unless
    }

    /// Every ACL the condition uses, in order.
    pub fn acls(&self) -> impl Iterator<Item = &Arc<Acl>> {
        self.suites.iter().flatten().map(|t| &t.acl)
    }

    /// Parses condition words (after `if`/`unless`), resolving ACL names
    /// through `scope` (HAProxy's `parse_acl_cond`). `{ ... }` holds an
    /// anonymous ACL; `!` negates the next term (repeatable); `||` and
    /// `or` start a new suite.
    pub fn parse(
        words: &[String],
        unless: bool,
        scope: &mut AclScope,
        at: (&str, u32),
        ctx: &ParseCtx<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<Condition, String> {
        let mut suites: Vec<Vec<Term>> = Vec::new();
        let mut cur: Vec<Term> = Vec::new();
        let mut neg = false;
        let mut i = 0;
        while let Some(word) = words.get(i) {
            i += 1;
            let mut w = word.as_str();
            while let Some(rest) = w.strip_prefix('!') {
                neg = !neg;
                w = rest;
            }
            if w.is_empty() {
                continue;
            }
            if w.eq_ignore_ascii_case("or") || w == "||" {
                if !cur.is_empty() {
                    suites.push(core::mem::take(&mut cur));
                }
                neg = false;
                continue;
            }
            let acl = if w == "{" {
                let Some(len) = words[i..].iter().position(|x| x == "}") else {
                    return Err("missing closing '}' in condition".into());
                };
                let p = parse_acl_expr(&words[i..i + len], ctx)?;
                i += len + 1;
                warnings.extend(p.warnings);
                Arc::new(Acl {
                    name: String::new(),
                    exprs: vec![p.expr],
                })
            } else {
                scope.resolve(w, at)?
            };
            cur.push(Term { acl, neg });
            neg = false;
        }
        if !cur.is_empty() {
            suites.push(cur);
        }
        Ok(Condition { unless, suites })
    }
}

/// Where a named ACL was first declared.
#[derive(Clone, Debug)]
struct Declared {
    file: String,
    line: u32,
    acl: Arc<Acl>,
}

/// The ACLs of one section (HAProxy's `proxy->acl` list), used to resolve
/// the names in that section's conditions.
#[derive(Clone, Debug, Default)]
pub struct AclScope {
    declared: BTreeMap<String, Declared>,
    predefined: BTreeMap<String, Arc<Acl>>,
}

impl AclScope {
    /// An empty scope: only the predefined ACLs.
    pub fn new() -> AclScope {
        AclScope::default()
    }

    /// Parses a section's `acl` lines (words: name, criterion, ...).
    /// Lines with the same name are ORed. Errors and warnings carry each
    /// line's `file:line`; a line with an error is left out.
    pub fn build(
        lines: &[RuleLine],
        ctx: &ParseCtx<'_>,
        errors: &mut Vec<Diagnostic>,
        warnings: &mut Vec<Diagnostic>,
    ) -> AclScope {
        let mut acc: BTreeMap<String, (String, u32, Vec<AclExpr>)> = BTreeMap::new();
        for l in lines {
            let diag = |m: String| Diagnostic::new(l.file.clone(), l.line, "acl", m);
            let Some(name) = l.words.first() else {
                errors.push(diag("'acl' expects an ACL name and a criterion.".into()));
                continue;
            };
            if name.eq_ignore_ascii_case("or") {
                errors.push(diag(format!(
                    "acl name '{name}' will never match. 'or' is used to express a logical disjunction within a condition."
                )));
                continue;
            }
            let lctx = ParseCtx {
                at: Some((&l.file, l.line)),
                ..*ctx
            };
            match parse_acl_expr(&l.words[1..], &lctx) {
                Ok(p) => {
                    warnings.extend(p.warnings.into_iter().map(diag));
                    acc.entry(name.clone())
                        .or_insert_with(|| (l.file.clone(), l.line, Vec::new()))
                        .2
                        .push(p.expr);
                }
                Err(e) => errors.push(diag(format!(
                    "error detected while parsing ACL '{name}' : {e}."
                ))),
            }
        }
        let declared = acc
            .into_iter()
            .map(|(name, (file, line, exprs))| {
                let acl = Arc::new(Acl {
                    name: name.clone(),
                    exprs,
                });
                (name, Declared { file, line, acl })
            })
            .collect();
        AclScope {
            declared,
            predefined: BTreeMap::new(),
        }
    }

    /// The ACL declared under `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Arc<Acl>> {
        self.declared.get(name).map(|d| &d.acl)
    }

    /// Every declared ACL, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Acl>)> {
        self.declared.iter().map(|(n, d)| (n.as_str(), &d.acl))
    }

    /// Resolves `name` for a rule at `at` (`file`, `line`): a declared ACL
    /// whose first declaration comes before the rule, else a predefined
    /// one, else `no such ACL`.
    pub fn resolve(&mut self, name: &str, at: (&str, u32)) -> Result<Arc<Acl>, String> {
        let mut later = None;
        if let Some(d) = self.declared.get(name) {
            if d.file != at.0 || d.line < at.1 {
                return Ok(d.acl.clone());
            }
            later = Some(format!("{}:{}", d.file, d.line));
        }
        if let Some(a) = self.predefined.get(name) {
            return Ok(a.clone());
        }
        if let Some(p) = predefined(name) {
            let a = Arc::new(p?);
            self.predefined.insert(name.to_string(), a.clone());
            return Ok(a);
        }
        Err(match later {
            Some(at) => format!(
                "no such ACL : '{name}' (it is declared later, at {at}; an ACL must be declared before the rules that use it)"
            ),
            None => format!("no such ACL : '{name}'"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_versions() {
        assert_eq!(dotted_ver("3.1").unwrap(), "196609");
        assert_eq!(dotted_ver("3").unwrap(), "196608");
        assert_eq!(dotted_ver("3.0:3.3").unwrap(), "196608:196611");
        assert_eq!(dotted_ver("3.1:").unwrap(), "196609:");
        assert_eq!(dotted_ver("gt").unwrap(), "gt");
        assert!(dotted_ver("3.x").is_err());
        assert!(dotted_ver("65536.0").is_err());
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn expr(s: &str) -> AclExpr {
        parse_acl_expr(&words(s), &ParseCtx::detached())
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .expr
    }

    fn err(s: &str) -> String {
        parse_acl_expr(&words(s), &ParseCtx::detached()).unwrap_err()
    }

    fn m(s: &str, v: Sample) -> bool {
        expr(s).matches(v)
    }

    fn st(s: &str) -> Sample {
        Sample::str(s)
    }

    fn ip(s: &str) -> Sample {
        Sample::Ip(s.parse().unwrap())
    }

    #[test]
    fn default_methods_follow_the_fetch() {
        assert_eq!(expr("src 1.2.3.4").method, MatchMethod::Ip);
        assert_eq!(expr("sc0_conn_rate gt 3").method, MatchMethod::Int);
        assert_eq!(expr("path_beg /x").method, MatchMethod::Beg);
        assert_eq!(expr("hdr(host) x").method, MatchMethod::Str);
        assert_eq!(expr("hdr_end(host) x").method, MatchMethod::End);
        assert_eq!(expr("path_len 3").method, MatchMethod::Len);
        assert_eq!(expr("path_reg ^/a").method, MatchMethod::Reg);
        assert_eq!(expr("ssl_fc").method, MatchMethod::Bool);
        assert_eq!(expr("sc0_tracked").method, MatchMethod::Bool);
        assert_eq!(expr("req_ver 1.1").method, MatchMethod::Str);
        // A converter after an ACL keyword: the method of its output type.
        assert_eq!(expr("path_beg,length 3").method, MatchMethod::Int);
        assert_eq!(expr("path -m beg /x").method, MatchMethod::Beg);
        assert_eq!(expr("var(txn.x) -m str a").method, MatchMethod::Str);
    }

    #[test]
    fn flags_and_errors() {
        assert_eq!(
            err("foo x"),
            "unknown fetch method 'foo' in ACL expression 'foo'"
        );
        assert_eq!(
            err("var(txn.x) a"),
            "matching method must be specified first (using '-m') when using a sample fetch of this type ('var')"
        );
        assert_eq!(
            err("path -m nope x"),
            "unknown matching method 'nope' when parsing ACL expression"
        );
        assert_eq!(
            err("req.payload(0,1) -m int 1"),
            "matching method 'int' cannot be used with fetch keyword 'req.payload'"
        );
        assert!(err("path -f /etc/x.lst").contains("pattern files are not supported"));
        assert_eq!(
            err("path -x a"),
            "'-x' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'"
        );
        assert_eq!(
            err("src 1.2.3"),
            "'1.2.3' is not a valid IPv4 or IPv6 address"
        );
        assert_eq!(
            err("src host.example"),
            "'host.example' is not a valid IPv4 or IPv6 address"
        );
        assert_eq!(err("sc0_conn_cur abc"), "'abc' is not a number");
        assert_eq!(
            err("sc0_conn_cur gt abc"),
            "'abc' is neither a number nor a supported operator"
        );
        assert_eq!(err("sc0_conn_cur 5:3"), "'5:3' is not a valid number range");
        assert_eq!(err("hdr_beg(host"), "ACL keyword 'hdr_beg' : expected ')'");
        assert!(err("path_reg (").contains("regex '(' is invalid"));
        assert_eq!(
            err("-- x"),
            "unknown fetch method '--' in ACL expression '--'"
        );
        assert_eq!(err("(x) y"), "missing fetch method in ACL expression '(x)'");
        assert!(err("req.payload(0,2) -m bin 0g").contains("not a valid hex string"));
        assert!(err("path -u x a").contains("-u must be an integer"));
        // `--` ends the flags: `-i` is then a pattern.
        let e = expr("path -- -i");
        assert!(!e.icase);
        assert_eq!(e.patterns, vec![Pattern::Bytes(b"-i".to_vec())]);
        let p = parse_acl_expr(&words("path"), &ParseCtx::detached()).unwrap();
        assert_eq!(p.warnings.len(), 1, "no pattern: warned");
        let p = parse_acl_expr(&words("path --"), &ParseCtx::detached()).unwrap();
        assert!(p.warnings.is_empty());
        assert!(expr("path -u 3 -n -M /x").patterns.len() == 1);
    }

    #[test]
    fn string_methods() {
        assert!(m("path /a", st("/a")));
        assert!(!m("path /a", st("/A")));
        assert!(m("path -i /a", st("/A")));
        assert!(m("path_beg /static/ /images/", st("/images/x.png")));
        assert!(!m("path_beg /static/", st("/stat")));
        assert!(m("path_beg -i /STATIC", st("/static/x")));
        assert!(m("path_end .png .jpg", st("/a.jpg")));
        assert!(!m("path_end .png", st("png")));
        assert!(m("path_end -i .PNG", st("/a.png")));
        assert!(m("path_sub adm", st("/x/admin")));
        assert!(!m("path_sub adm", st("/x/ad")));
        assert!(m("path_sub -i ADM", st("/x/admin")));
        assert!(m("path_dir img", st("/static/img/x")));
        assert!(m("path_dir /img/", st("/static/img")));
        assert!(m("path_dir img", st("img?x=1")));
        assert!(!m("path_dir img", st("/static/imgs/x")));
        assert!(!m("path_dir im", st("/img")));
        assert!(m("path_dir static/img", st("/static/img/a")));
        assert!(m("hdr_dom(host) example.com", st("www.example.com")));
        assert!(m("hdr_dom(host) www", st("www.example.com:80")));
        assert!(m("hdr_dom(host) -i EXAMPLE", st("www.example.com")));
        assert!(!m("hdr_dom(host) example.co", st("www.example.com")));
        assert!(!m("hdr_dom(host) ample.com", st("www.example.com")));
        assert!(m("path_len 3", st("/ab")));
        assert!(m("path_len gt 2", st("/ab")));
        assert!(!m("path_len lt 3", st("/ab")));
        assert!(m("path_reg ^/api/v[0-9]+/", st("/api/v2/x")));
        assert!(!m("path_reg ^/api/v[0-9]+/", st("/API/v2/x")));
        assert!(m("path_reg -i ^/api/", st("/API/v2/x")));
        assert!(m("path -m reg \\d", st("a1")));
        // A string method casts: an integer sample is compared as text.
        assert!(m("sc0_conn_cur -m str 12", Sample::Int(12)));
        assert!(m("sc0_conn_cur -m beg 1", Sample::Int(12)));
    }

    #[test]
    fn integer_methods_and_operators() {
        let i = Sample::Int;
        assert!(m("sc0_conn_cur 5", i(5)));
        assert!(!m("sc0_conn_cur 5", i(6)));
        assert!(m("sc0_conn_cur eq 5", i(5)));
        assert!(m("sc0_conn_cur ne 5", i(6)));
        assert!(!m("sc0_conn_cur ne 5", i(5)));
        assert!(m("sc0_conn_cur gt 5", i(6)));
        assert!(!m("sc0_conn_cur gt 5", i(5)));
        assert!(m("sc0_conn_cur ge 5", i(5)));
        assert!(!m("sc0_conn_cur ge 5", i(4)));
        assert!(m("sc0_conn_cur lt 5", i(4)));
        assert!(!m("sc0_conn_cur lt 5", i(5)));
        assert!(m("sc0_conn_cur le 5", i(5)));
        assert!(!m("sc0_conn_cur le 5", i(6)));
        assert!(m("sc0_conn_cur 10:20", i(10)));
        assert!(m("sc0_conn_cur 10:20", i(20)));
        assert!(!m("sc0_conn_cur 10:20", i(21)));
        assert!(m("sc0_conn_cur :5", i(-3)));
        assert!(!m("sc0_conn_cur :5", i(6)));
        assert!(m("sc0_conn_cur 5:", i(1000)));
        assert!(m("sc0_conn_cur 10-20", i(15)), "'-' separates ranges too");
        // The operator applies to every following value; a range ignores it.
        assert!(m("sc0_conn_cur gt 100 1:2", i(2)));
        assert!(m("sc0_conn_cur lt 3 gt 10", i(11)));
        assert!(m("sc0_conn_cur 1 2 3", i(3)));
        // bool and found.
        assert!(m("sc0_conn_cur -m bool", i(2)));
        assert!(!m("sc0_conn_cur -m bool", i(0)));
        assert!(m("sc0_conn_cur -m found", i(0)));
        assert!(m("ssl_fc", Sample::Bool(true)));
        assert!(!m("ssl_fc", Sample::Bool(false)));
        assert!(m("hdr(x) -m found", st("")));
        // A string is cast to an integer for `int`; an empty one fails.
        assert!(m("hdr(x) -m int gt 3", st("4")));
        assert!(!m("hdr(x) -m int ge 0", st("")));
        assert!(m("src -m int 16909060", ip("1.2.3.4")));
        assert!(m(
            "req.payload(0,2) -m bin 4142 4344",
            Sample::Bin(b"CD".to_vec())
        ));
        assert!(!m(
            "req.payload(0,2) -m bin 4142",
            Sample::Bin(b"AB ".to_vec())
        ));
        assert!(err("sc0_conn_cur gt 9223372036854775807").contains("out of range"));
    }

    #[test]
    fn ip_method_v4_v6_and_mapped() {
        assert!(m("src 10.0.0.0/8", ip("10.200.1.1")));
        assert!(!m("src 10.0.0.0/8", ip("11.0.0.1")));
        assert!(m("src 192.168.1.0/255.255.255.0", ip("192.168.1.77")));
        assert!(m("src 1.2.3.4", ip("1.2.3.4")));
        assert!(!m("src 1.2.3.4", ip("1.2.3.5")));
        assert!(m("src 0.0.0.0/0", ip("8.8.8.8")));
        assert!(m("src 2001:db8::/32", ip("2001:db8:ffff::1")));
        assert!(!m("src 2001:db8::/32", ip("2001:db9::1")));
        assert!(m("src ::1", ip("::1")));
        // v4 patterns match v4-mapped, v4-compatible and 6to4 v6 samples.
        assert!(m("src 10.0.0.0/8", ip("::ffff:10.1.2.3")));
        assert!(m("src 10.0.0.0/8", ip("::10.1.2.3")));
        assert!(m("src 10.0.0.0/8", ip("2002:0a01:0203::1")));
        assert!(!m("src 10.0.0.0/8", ip("2001:db8::a01:203")));
        // v6 patterns match v4 samples through their mapped form.
        assert!(m("src ::ffff:10.0.0.0/104", ip("10.9.9.9")));
        assert!(!m("src 2001:db8::/32", ip("10.9.9.9")));
        // Strings are cast to addresses; garbage does not match.
        assert!(m("hdr_ip(x-forwarded-for) 10.0.0.0/8", ip("10.0.0.1")));
        assert!(m("hdr(x) -m ip 10.0.0.0/8", st("10.3.3.3")));
        assert!(!m("hdr(x) -m ip 10.0.0.0/8", st("nope")));
        assert!(m("src 10.0.0.1 10.0.0.2", ip("10.0.0.2")));
        assert!(err("src 10.0.0.0/33").contains("not a valid"));
        assert!(err("src ::/129").contains("not a valid"));
    }

    #[test]
    fn tri_state_logic() {
        use AclTest::*;
        assert_eq!(Pass.and(Miss), Miss);
        assert_eq!(Fail.and(Miss), Fail);
        assert_eq!(Fail.or(Miss), Miss);
        assert_eq!(Pass.or(Miss), Pass);
        assert_eq!(Miss.negate(), Miss);
        assert_eq!(Pass.negate(), Fail);
        assert_eq!(Fail.negate(), Pass);
    }

    #[test]
    fn predefined_acls_parse() {
        for name in predefined_names() {
            let a = predefined(name)
                .unwrap()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(a.exprs.len(), 1);
        }
        assert!(predefined("RDP_COOKIE").unwrap().is_err());
        assert!(predefined("NOPE").is_none());
        let get = predefined("METH_GET").unwrap().unwrap();
        assert!(get.exprs[0].matches(st("HEAD")));
        assert!(!get.exprs[0].matches(st("POST")));
        let lh = predefined("LOCALHOST").unwrap().unwrap();
        assert!(lh.exprs[0].matches(ip("127.0.0.2")));
        assert!(!lh.exprs[0].matches(ip("::1")), "as in HAProxy: IPv4 only");
        let abs = predefined("HTTP_URL_ABS").unwrap().unwrap();
        assert!(abs.exprs[0].matches(st("http://x/")));
        assert!(!abs.exprs[0].matches(st("/x")));
    }
}
