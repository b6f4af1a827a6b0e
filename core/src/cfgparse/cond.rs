//! Conditional blocks (configuration.txt §2.4): `.if`, `.elif`, `.else`,
//! `.endif`, as `readcfgfile()` and `cfg_eval_condition()` handle them.
//!
//! ```text
//! expr   := term ( "||" term )*
//! term   := factor ( "&&" factor )*
//! factor := "!" factor | "(" expr ")" | INTEGER | "" | PREDICATE "(" args ")"
//! ```
//!
//! Predicates: `defined(VAR)`, `feature(NAME)` (true when the driver lists
//! `NAME` among the build features it has, see [`super::ParseOptions::features`];
//! `proxy-mio -vv` prints them), `streq(a,b)`, `strneq(a,b)`,
//! `version_atleast(V)` and `version_before(V)`, compared with
//! [`COMPAT_VERSION`], the HAProxy version Sluice's configuration language
//! follows; and the TLS library's: `ssllib_name_startswith(S)` is true when
//! `S` starts [`SSL_LIB_NAME`] (case-sensitive, as HAProxy compares with
//! OpenSSL's version text), so false for `OpenSSL`, `BoringSSL`...;
//! `openssl_version_atleast(V)` and `openssl_version_before(V)` are false:
//! the library is not OpenSSL, no OpenSSL version is reached or preceded.

/// The HAProxy version `version_atleast`/`version_before` compare with.
pub const COMPAT_VERSION: &str = "2.6.12";

/// The name of the TLS library, whose prefixes `ssllib_name_startswith`
/// accepts (HAProxy: OpenSSL's `OPENSSL_VERSION` text).
pub const SSL_LIB_NAME: &str = "rustls";

/// Deepest `.if` nesting (HAProxy's `MAXNESTEDCONDS`).
pub const MAX_NESTED_CONDS: usize = 128;

/// Where a block stands (HAProxy's `NESTED_COND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// The current branch is taken.
    Take,
    /// The current branch is not taken, a later one may be.
    Drop,
    /// A branch was already taken (or the enclosing block is masked): skip
    /// everything to `.endif`.
    Skip,
    /// In an `.else` branch that is taken.
    ElseTake,
    /// In an `.else` branch that is not taken.
    ElseSkip,
}

/// The stack of open `.if` blocks of one file.
#[derive(Clone, Debug, Default)]
pub struct CondStack {
    blocks: Vec<Block>,
}

impl CondStack {
    /// Whether lines are currently masked out.
    pub fn masked(&self) -> bool {
        self.blocks
            .last()
            .is_some_and(|b| !matches!(b, Block::Take | Block::ElseTake))
    }

    /// Whether blocks are still open (an error at the end of a file).
    pub fn is_open(&self) -> bool {
        !self.blocks.is_empty()
    }

    /// `.if EXPR`: `eval` is only called when the enclosing block is live.
    pub fn push_if(&mut self, eval: impl FnOnce() -> Result<bool, String>) -> Result<(), String> {
        if self.blocks.len() + 1 >= MAX_NESTED_CONDS {
            return Err(format!("too many nested '.if', max is {MAX_NESTED_CONDS}"));
        }
        let b = if self.masked() {
            Block::Skip
        } else if eval()? {
            Block::Take
        } else {
            Block::Drop
        };
        self.blocks.push(b);
        Ok(())
    }

    /// `.elif EXPR`.
    pub fn elif(&mut self, eval: impl FnOnce() -> Result<bool, String>) -> Result<(), String> {
        let Some(top) = self.blocks.last_mut() else {
            return Err("lone '.elif' with no matching '.if'".into());
        };
        *top = match *top {
            Block::ElseTake | Block::ElseSkip => {
                return Err("'.elif' after '.else' is not permitted".into())
            }
            Block::Take | Block::Skip => Block::Skip,
            Block::Drop => {
                if eval()? {
                    Block::Take
                } else {
                    Block::Drop
                }
            }
        };
        Ok(())
    }

    /// `.else`.
    pub fn else_(&mut self) -> Result<(), String> {
        let Some(top) = self.blocks.last_mut() else {
            return Err("lone '.else' with no matching '.if'".into());
        };
        *top = match *top {
            Block::ElseTake | Block::ElseSkip => {
                return Err("'.else' after '.else' is not permitted".into())
            }
            Block::Drop => Block::ElseTake,
            Block::Take | Block::Skip => Block::ElseSkip,
        };
        Ok(())
    }

    /// `.endif`.
    pub fn endif(&mut self) -> Result<(), String> {
        match self.blocks.pop() {
            Some(_) => Ok(()),
            None => Err("lone '.endif' with no matching '.if'".into()),
        }
    }
}

/// Evaluates a condition; `defined` answers `defined(VAR)`, `features`
/// lists the build features `feature(NAME)` is true for.
pub fn eval_condition(
    expr: &str,
    defined: &dyn Fn(&str) -> bool,
    features: &[&str],
) -> Result<bool, String> {
    let mut p = CondParser {
        s: expr.as_bytes(),
        i: 0,
        defined,
        features,
        depth: 0,
    };
    p.skip_blanks();
    if p.i == p.s.len() {
        return Ok(false);
    }
    let v = p.expr()?;
    p.skip_blanks();
    match p.s.get(p.i) {
        None => Ok(v),
        Some(_) => Err(format!("unexpected character at position {}", p.i + 1)),
    }
}

struct CondParser<'a> {
    s: &'a [u8],
    i: usize,
    defined: &'a dyn Fn(&str) -> bool,
    features: &'a [&'a str],
    /// Parentheses and `!` nesting, bounded so hostile input cannot
    /// exhaust the stack.
    depth: usize,
}

impl CondParser<'_> {
    fn skip_blanks(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_blanks();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<bool, String> {
        let mut v = self.term()?;
        while self.eat("||") {
            let r = self.term()?;
            v = v || r;
        }
        Ok(v)
    }

    fn term(&mut self) -> Result<bool, String> {
        let mut v = self.factor()?;
        while self.eat("&&") {
            let r = self.factor()?;
            v = v && r;
        }
        Ok(v)
    }

    fn factor(&mut self) -> Result<bool, String> {
        self.depth += 1;
        if self.depth > MAX_NESTED_CONDS {
            return Err("expression too deeply nested".into());
        }
        let v = if self.eat("!") {
            !self.factor()?
        } else if self.eat("(") {
            let v = self.expr()?;
            if !self.eat(")") {
                return Err(format!("expected ')' at position {}", self.i + 1));
            }
            v
        } else {
            self.atom()?
        };
        self.depth -= 1;
        Ok(v)
    }

    fn atom(&mut self) -> Result<bool, String> {
        self.skip_blanks();
        let start = self.i;
        // A signed integer (`-1000` is true, as strtol() reads it).
        if matches!(self.s.get(self.i), Some(b'-' | b'+'))
            && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit)
        {
            self.i += 1;
        }
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.i += 1;
        }
        let word = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        if word.is_empty() {
            return Err(format!(
                "unparsable conditional expression at position {}",
                start + 1
            ));
        }
        let digits = word.trim_start_matches(['-', '+']);
        if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
            return Ok(digits.bytes().any(|c| c != b'0'));
        }
        if self.s.get(self.i) != Some(&b'(') {
            return Err(format!("missing '(' after predicate '{word}'"));
        }
        let args = self.args()?;
        self.predicate(&word, &args)
    }

    /// `(a,b,...)` after a predicate name; `self.i` is on the `(`.
    fn args(&mut self) -> Result<Vec<String>, String> {
        let rest = &self.s[self.i + 1..];
        let Some(len) = rest.iter().position(|&c| c == b')') else {
            return Err("missing ')' after predicate arguments".into());
        };
        let inner = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.i += len + 2;
        Ok(inner.split(',').map(str::to_string).collect())
    }

    fn predicate(&self, name: &str, args: &[String]) -> Result<bool, String> {
        let want = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("'{name}' expects {n} argument(s)"))
            }
        };
        match name {
            "defined" => want(1).map(|_| (self.defined)(&args[0])),
            "feature" => want(1).map(|_| self.features.contains(&args[0].as_str())),
            "streq" => want(2).map(|_| args[0] == args[1]),
            "strneq" => want(2).map(|_| args[0] != args[1]),
            "version_atleast" => want(1).map(|_| cmp_version(COMPAT_VERSION, &args[0]).is_ge()),
            "version_before" => want(1).map(|_| cmp_version(COMPAT_VERSION, &args[0]).is_lt()),
            "ssllib_name_startswith" => want(1).map(|_| SSL_LIB_NAME.starts_with(args[0].as_str())),
            // Not OpenSSL: no OpenSSL version to compare with.
            "openssl_version_atleast" | "openssl_version_before" => want(1).map(|_| false),
            _ => Err(format!("unknown predicate '{name}'")),
        }
    }
}

/// Compares HAProxy version strings: numeric components, missing ones are
/// zero; a `-devN` (or any `-suffix`) version comes before its release.
fn cmp_version(a: &str, b: &str) -> core::cmp::Ordering {
    fn parts(v: &str) -> (Vec<u64>, bool) {
        let (num, suffix) = v.split_once('-').map_or((v, false), |(n, _)| (n, true));
        let nums = num.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        (nums, suffix)
    }
    let (mut pa, da) = parts(a);
    let (mut pb, db) = parts(b);
    let n = pa.len().max(pb.len());
    pa.resize(n, 0);
    pb.resize(n, 0);
    // A pre-release sorts before the release: compare "is release" last.
    pa.cmp(&pb).then((!da).cmp(&!db))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(e: &str) -> Result<bool, String> {
        eval_condition(e, &|v| v == "SET", &["EPOLL"])
    }

    #[test]
    fn expressions() {
        assert_eq!(eval(""), Ok(false));
        assert_eq!(eval("0"), Ok(false));
        assert_eq!(eval("1"), Ok(true));
        assert_eq!(eval("!0"), Ok(true));
        assert_eq!(eval("-1000 && 200"), Ok(true));
        assert_eq!(eval("-0"), Ok(false));
        assert_eq!(eval("defined(SET)"), Ok(true));
        assert_eq!(eval("defined(UNSET)"), Ok(false));
        assert_eq!(eval("streq(a,a) && strneq(a,b)"), Ok(true));
        assert_eq!(eval("0 && 1 || 1 && 1"), Ok(true));
        assert_eq!(eval("!(1 || 0)"), Ok(false));
        assert_eq!(eval("feature(OPENSSL)"), Ok(false));
        assert_eq!(eval("feature(EPOLL)"), Ok(true));
        assert_eq!(eval("feature(EPOL)"), Ok(false));
        assert_eq!(eval("version_atleast(2.4-dev19)"), Ok(true));
        assert_eq!(eval("version_atleast(2.6)"), Ok(true));
        assert_eq!(eval("version_atleast(2.7)"), Ok(false));
    }

    #[test]
    fn ssl_library() {
        assert_eq!(eval("ssllib_name_startswith(rustls)"), Ok(true));
        assert_eq!(eval("ssllib_name_startswith(rust)"), Ok(true));
        assert_eq!(eval("ssllib_name_startswith()"), Ok(true));
        assert_eq!(eval("ssllib_name_startswith(OpenSSL)"), Ok(false));
        assert_eq!(eval("ssllib_name_startswith(Rustls)"), Ok(false));
        assert_eq!(eval("ssllib_name_startswith(rustls2)"), Ok(false));
        assert_eq!(eval("!ssllib_name_startswith(BoringSSL)"), Ok(true));
        assert_eq!(eval("openssl_version_atleast(1.1.1)"), Ok(false));
        assert_eq!(eval("openssl_version_atleast(0.9)"), Ok(false));
        assert_eq!(eval("openssl_version_before(9.0.0)"), Ok(false));
        assert_eq!(
            eval("feature(EPOLL) && ssllib_name_startswith(OpenSSL) && openssl_version_atleast(1.1.1)"),
            Ok(false)
        );
        assert!(eval("ssllib_name_startswith(a,b)").is_err());
        assert!(eval("openssl_version_atleast()").is_ok());
        assert!(eval("openssl_version_before(a,b)").is_err());
        assert_eq!(eval("version_before(2.6.13)"), Ok(true));
        assert_eq!(eval("version_before(2.6-dev1)"), Ok(false));
    }

    #[test]
    fn bad_expressions() {
        for e in [
            "(1",
            "frob(1)",
            "streq(a)",
            "1 &&",
            "defined",
            "1 2",
            "streq(a,b",
            "200rrr",
            "!(0))",
            "-",
            "-x(1)",
        ] {
            assert!(eval(e).is_err(), "{e}");
        }
        let deep = "!".repeat(10_000) + "1";
        assert!(eval(&deep).is_err());
    }

    #[test]
    fn blocks() {
        let mut s = CondStack::default();
        s.push_if(|| Ok(false)).unwrap();
        assert!(s.masked());
        s.elif(|| Ok(true)).unwrap();
        assert!(!s.masked());
        // A nested `.if` inside a live branch is evaluated...
        s.push_if(|| Ok(false)).unwrap();
        s.else_().unwrap();
        assert!(!s.masked());
        s.endif().unwrap();
        // ...and once a branch was taken, the rest is skipped.
        s.else_().unwrap();
        assert!(s.masked());
        s.push_if(|| panic!("not evaluated in a masked block"))
            .unwrap();
        s.endif().unwrap();
        s.endif().unwrap();
        assert!(!s.is_open());
        assert!(s.endif().is_err());
        assert!(s.else_().is_err());
        s.push_if(|| Ok(true)).unwrap();
        s.else_().unwrap();
        assert!(s.elif(|| Ok(true)).is_err());
        assert!(s.else_().is_err());
    }
}
