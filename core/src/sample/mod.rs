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
//!
//! # Layout
//!
//! * this module: the expression ([`Fetch`], [`Conv`], [`SampleExpr`]),
//!   its evaluation context ([`SampleCtx`], [`MapCtx`]) and its parser
//!   (`sample_parse_expr`, `sample_process`);
//! * `value`: [`Sample`] and [`SmpType`], HAProxy's `struct sample` and the
//!   cast matrix `sample_casts`;
//! * `fetches`: the fetch keyword table (`sample_fetch_keywords`) and
//!   what each fetch reads ([`FetchKind`]);
//! * `converters`: the converter keyword table (`sample_conv_keywords`)
//!   and what each converter does ([`ConvKind`]);
//! * `args`: typed arguments ([`Arg`], HAProxy's `arg.c`).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

/// An argument list specification (`ArgSpec`) from its minimum count and
/// types: `spec!(1; Int, Table)`. Defined before the submodules so that
/// the fetch and converter tables can use it.
macro_rules! spec {
    ($min:expr; $($t:ident),*) => { ArgSpec { types: &[$(ArgType::$t),*], min: $min } };
}

mod args;
mod converters;
pub(crate) use converters::{expand_subst, url_dec};
mod fetches;
mod fix;
mod value;

pub use args::*;
pub use converters::*;
pub use fetches::*;
pub use value::*;

/// Most values a multi-valued fetch may produce for one ACL evaluation
/// (HAProxy bounds headers with `tune.http.maxhdr`, 101 by default).
pub const MAX_ITERATED_VALUES: usize = 128;

/// Longest sample expression or argument text accepted (bytes); longer
/// text is a configuration error, never a slow parse.
pub const MAX_EXPR_LEN: usize = 16 * 1024;

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

    /// The engine's pattern references (maps, `acl -f`); `None` where
    /// there are none (test doubles): map converters then give nothing.
    fn patterns(&self) -> Option<&crate::pattern::PatStore> {
        None
    }

    /// Sets (`Some`, if `cond` holds) or unsets (`None`) variable `var`
    /// (the `set-var` and `unset-var` converters): whether it was done.
    /// `false` where there are no variables (test doubles).
    fn set_var(&mut self, _var: &VarName, _v: Option<Sample>, _cond: VarCond) -> bool {
        false
    }

    /// A stick-table converter (`in_table`, `table_*`) on sample `key`
    /// in `table` (array element `idx`). `None` without tables.
    fn table_conv(
        &mut self,
        _table: &TableRef,
        _key: Sample,
        _what: TableConv,
        _idx: usize,
    ) -> Option<Sample> {
        None
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
    /// The groups of a userlist, `None` when there is no such userlist;
    /// `None`: do not check.
    pub userlists: Option<UserlistLookup<'a>>,
    /// Where pattern files (maps, `acl -f`) are loaded; `None`: refused.
    pub patterns: Option<&'a crate::pattern::PatLoader>,
    /// The configuration line being parsed (file, line), for what pattern
    /// references display.
    pub at: Option<(&'a str, u32)>,
}

/// The group names of a userlist by name (`None`: no such userlist).
pub type UserlistLookup<'a> = &'a dyn Fn(&str) -> Option<Vec<String>>;

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
            userlists: None,
            patterns: None,
            at: None,
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
    use crate::stick_table::DataType;
    use core::net::IpAddr;

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
        let tables =
            |n: &str| (n == "fe" || n == "mesh/t").then_some(crate::stick_table::TableId(7));
        let backends = |n: &str| n == "be_app";
        let ctx = ParseCtx {
            proxy: "fe",
            tables: Some(&tables),
            backends: Some(&backends),
            userlists: None,
            patterns: None,
            at: None,
        };
        let e = SampleExpr::parse("src_conn_rate", &ctx).unwrap();
        assert_eq!(
            e.fetch.table(),
            Some(&TableRef {
                name: "fe".into(),
                id: Some(crate::stick_table::TableId(7))
            })
        );
        let e = SampleExpr::parse("sc0_conn_rate(mesh/t)", &ctx).unwrap();
        assert_eq!(
            e.fetch.table().unwrap().id,
            Some(crate::stick_table::TableId(7))
        );
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
