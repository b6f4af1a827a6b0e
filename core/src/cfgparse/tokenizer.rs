//! HAProxy's line tokenizer (`parse_line()` in `src/tools.c`, driven by
//! `readcfgfile()` in `src/cfgparse.c`), reimplemented from its documented
//! and observed behaviour (configuration.txt §2.2 and §2.3).
//!
//! A line is cut into words at unquoted blanks (space, tab, VT, FF):
//!
//! * `#` outside quotes starts a comment; `\r` ends the line (CRLF files).
//! * `'...'` quotes strongly: nothing inside is interpreted.
//! * `"..."` quotes weakly: blanks, `'` and `#` lose their meaning, and
//!   `$NAME`, `${NAME}`, `${NAME-default}` and `${NAME[*]}` (one word per
//!   blank-separated item) expand environment variables. `${.FILE}`,
//!   `${.LINE}` and `${.SECTION}` are HAProxy's pseudo-variables.
//! * Outside single quotes a backslash escapes: `\ ` `\\` `\#` `\'` `\"`,
//!   `\$` (inside double quotes only), `\t` `\n` `\r` and `\xNN`; any other
//!   backslash is kept as is (`\1` stays `\1`, so regexes survive).
//! * Quotes and escapes may be mixed in one word: `ab"cd"'ef'` is `abcdef`.
//! * An empty quoted word (`""`) is a word, except at the very end of a line
//!   (HAProxy drops a trailing empty word); a line whose first word is empty
//!   is a blank line.
//!
//! Limits, as in HAProxy: at most [`MAX_LINE_ARGS`] words a line.

use core::fmt;

/// Most words on one line (HAProxy's `MAX_LINE_ARGS`).
pub const MAX_LINE_ARGS: usize = 64;

/// One word of a configuration line, unquoted and unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The word after quote removal, escapes and variable expansion.
    pub text: String,
    /// 1-based line number.
    pub line: u32,
    /// 1-based byte position in the raw line where the word starts.
    pub col: u32,
}

/// Why a line could not be cut into words. Each variant carries the 1-based
/// byte position HAProxy reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// An opening quote without its closing one.
    UnmatchedQuote(u32),
    /// `${NAME` without its closing brace.
    UnmatchedBrace(u32),
    /// `$` followed by something that cannot start a variable name.
    BadVarName(u32),
    /// `\x` not followed by two hex digits.
    BadHex(u32),
    /// `${NAME[` not followed by `*]`.
    BadExpand(u32),
    /// More than [`MAX_LINE_ARGS`] words.
    TooManyWords(u32),
    /// A NUL byte in the line.
    StrayNul(u32),
    /// The word is not UTF-8: raw bytes or `\xNN` escapes that do not form
    /// UTF-8 (Sluice keeps words as UTF-8 strings; HAProxy keeps raw bytes).
    /// Bytes in comments are never looked at.
    NotUtf8(u32),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::UnmatchedQuote(p) => write!(f, "unmatched quote at position {p}"),
            TokenError::UnmatchedBrace(p) => write!(
                f,
                "unmatched brace in environment variable name at position {p}"
            ),
            TokenError::BadVarName(p) => write!(
                f,
                "forbidden first char in environment variable name at position {p}"
            ),
            TokenError::BadHex(p) => write!(
                f,
                "truncated or invalid hexadecimal sequence at position {p}"
            ),
            TokenError::BadExpand(p) => write!(
                f,
                "truncated or invalid word expansion sequence at position {p}"
            ),
            TokenError::TooManyWords(p) => write!(
                f,
                "too many words, truncating after word {MAX_LINE_ARGS}, position {p}"
            ),
            TokenError::StrayNul(p) => write!(f, "Stray NUL character at position {p}"),
            TokenError::NotUtf8(p) => write!(
                f,
                "the word at position {p} is not valid UTF-8 (Sluice takes words as UTF-8 text; other bytes are only accepted in comments)"
            ),
        }
    }
}

/// Looks an environment variable up (the driver passes `std::env::var`
/// wrapped, the simulator a map): `None` when it is not set.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What variable expansion needs to know besides the line itself.
#[derive(Clone, Copy)]
pub struct WordCtx<'a> {
    /// For `${.FILE}`.
    pub file: &'a str,
    /// 1-based line number, for `${.LINE}` and [`Word::line`].
    pub line: u32,
    /// For `${.SECTION}`: the current section's name, or its keyword when
    /// it has no name (`global`), or empty before the first section.
    pub section: &'a str,
    /// Environment variables; `None` means none is set.
    pub env: Option<EnvLookup<'a>>,
}

impl fmt::Debug for WordCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WordCtx")
            .field("file", &self.file)
            .field("line", &self.line)
            .field("section", &self.section)
            .finish_non_exhaustive()
    }
}

/// One physical line of a file, as bytes: like HAProxy, the reader takes
/// any byte (a comment may hold text in any encoding); only words must be
/// UTF-8 (see [`TokenError::NotUtf8`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLine<'a> {
    /// 1-based line number.
    pub number: u32,
    /// The line without its `\n`.
    pub text: &'a [u8],
    /// Whether the line ended with `\n` (HAProxy rejects a last line
    /// without one: the file might have been truncated).
    pub has_lf: bool,
}

/// The lines of `text`, numbered from 1. A final empty piece after the last
/// `\n` is not a line.
pub fn raw_lines(text: &[u8]) -> impl Iterator<Item = RawLine<'_>> {
    let mut rest = Some(text);
    let mut number = 0u32;
    core::iter::from_fn(move || {
        let r = rest?;
        number = number.saturating_add(1);
        match r.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let (line, tail) = (&r[..i], &r[i + 1..]);
                rest = Some(tail);
                Some(RawLine {
                    number,
                    text: line,
                    has_lf: true,
                })
            }
            None => {
                rest = None;
                (!r.is_empty()).then_some(RawLine {
                    number,
                    text: r,
                    has_lf: false,
                })
            }
        }
    })
}

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | 0x0b | 0x0c)
}

/// Cuts one raw line (bytes or text) into words. An empty result is a
/// blank line.
pub fn split_words<T: AsRef<[u8]> + ?Sized>(
    raw: &T,
    ctx: &WordCtx<'_>,
) -> Result<Vec<Word>, TokenError> {
    let mut t = Cutter {
        b: raw.as_ref(),
        i: 0,
        ctx,
        words: Vec::new(),
        cur: Vec::new(),
        cur_col: 0,
        squote: false,
        dquote: false,
        quote_at: 0,
    };
    t.run()?;
    Ok(t.words)
}

/// The state of one `split_words` call.
struct Cutter<'a, 'c> {
    b: &'a [u8],
    i: usize,
    ctx: &'a WordCtx<'c>,
    words: Vec<Word>,
    cur: Vec<u8>,
    /// 1-based column where the current word started.
    cur_col: u32,
    squote: bool,
    dquote: bool,
    /// 1-based column of the quote that opened the current quoted run.
    quote_at: u32,
}

impl Cutter<'_, '_> {
    fn col(&self, i: usize) -> u32 {
        u32::try_from(i + 1).unwrap_or(u32::MAX)
    }

    fn peek(&self, off: usize) -> Option<u8> {
        self.b.get(self.i + off).copied()
    }

    fn run(&mut self) -> Result<(), TokenError> {
        while self.peek(0).is_some_and(is_blank) {
            self.i += 1;
        }
        self.cur_col = self.col(self.i);
        while let Some(c) = self.peek(0) {
            let quoted = self.squote || self.dquote;
            match c {
                b'\r' | b'\n' => break,
                0 => return Err(TokenError::StrayNul(self.col(self.i))),
                b'#' if !quoted => break,
                b'"' if !self.squote => self.toggle_quote(true),
                b'\'' if !self.dquote => self.toggle_quote(false),
                b'\\' if !self.squote => self.escape()?,
                c if is_blank(c) && !quoted => self.separator()?,
                b'$' if self.dquote => self.variable()?,
                c => {
                    self.cur.push(c);
                    self.i += 1;
                }
            }
        }
        if self.squote || self.dquote {
            return Err(TokenError::UnmatchedQuote(self.quote_at));
        }
        // HAProxy never adds an empty word after the last separator.
        if !self.cur.is_empty() {
            self.end_word()?;
        }
        Ok(())
    }

    fn toggle_quote(&mut self, double: bool) {
        let flag = if double {
            &mut self.dquote
        } else {
            &mut self.squote
        };
        *flag = !*flag;
        self.quote_at = u32::try_from(self.i + 1).unwrap_or(u32::MAX);
        self.i += 1;
    }

    /// A run of unquoted blanks: ends the current word, even an empty one.
    fn separator(&mut self) -> Result<(), TokenError> {
        while self.peek(0).is_some_and(is_blank) {
            self.i += 1;
        }
        self.end_word()?;
        self.cur_col = self.col(self.i);
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), TokenError> {
        if self.words.len() >= MAX_LINE_ARGS {
            return Err(TokenError::TooManyWords(self.cur_col));
        }
        let bytes = core::mem::take(&mut self.cur);
        let text = String::from_utf8(bytes).map_err(|_| TokenError::NotUtf8(self.cur_col))?;
        self.words.push(Word {
            text,
            line: self.ctx.line,
            col: self.cur_col,
        });
        Ok(())
    }

    /// A backslash outside single quotes (`self.i` is on the backslash).
    fn escape(&mut self) -> Result<(), TokenError> {
        let at = self.i;
        let (out, used) = match self.peek(1) {
            Some(c @ (b' ' | b'\\' | b'#' | b'\'' | b'"')) => (c, 2),
            Some(b't') => (b'\t', 2),
            Some(b'n') => (b'\n', 2),
            Some(b'r') => (b'\r', 2),
            Some(b'$') if self.dquote => (b'$', 2),
            Some(b'x') => {
                let hex = |o| self.peek(o).and_then(|c: u8| (c as char).to_digit(16));
                match (hex(2), hex(3)) {
                    (Some(h), Some(l)) => ((h * 16 + l) as u8, 4),
                    _ => return Err(TokenError::BadHex(self.col(at))),
                }
            }
            // Not an escape sequence: the backslash stays.
            _ => (b'\\', 1),
        };
        self.cur.push(out);
        self.i += used;
        Ok(())
    }

    /// `$` inside double quotes (`self.i` is on the `$`).
    fn variable(&mut self) -> Result<(), TokenError> {
        let dollar_col = self.col(self.i);
        self.i += 1;
        let brace = (self.peek(0) == Some(b'{')).then(|| {
            self.i += 1;
            self.i - 1
        });
        let name = self.var_name()?;
        let value = self.lookup(&name)?;
        let mut expand = false;
        if brace.is_some() && self.peek(0) == Some(b'[') {
            if self.peek(1) != Some(b'*') || self.peek(2) != Some(b']') {
                return Err(TokenError::BadExpand(self.col(self.i)));
            }
            expand = true;
            self.i += 3;
        }
        let value = match brace {
            Some(at) => self.close_brace(at, value)?,
            None => value,
        };
        if let Some(v) = value {
            self.emit_value(&v, expand, dollar_col)?;
        }
        Ok(())
    }

    /// Reads a variable name: a letter, `_` or `.` (pseudo-variables), then
    /// letters, digits and `_`.
    fn var_name(&mut self) -> Result<String, TokenError> {
        let start = self.i;
        match self.peek(0) {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b'.' => self.i += 1,
            _ => return Err(TokenError::BadVarName(self.col(start))),
        }
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        // Only ASCII bytes were consumed: the slice is valid UTF-8.
        Ok(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
    }

    fn lookup(&self, name: &str) -> Result<Option<String>, TokenError> {
        let start = self.i - name.len();
        Ok(match name {
            ".LINE" => Some(self.ctx.line.to_string()),
            ".FILE" => Some(self.ctx.file.to_string()),
            ".SECTION" => Some(self.ctx.section.to_string()),
            n if n.starts_with('.') => return Err(TokenError::BadVarName(self.col(start))),
            n => self.ctx.env.and_then(|f| f(n)),
        })
    }

    /// After `${NAME` (and `[*]`): `}` or `-default}`. The default replaces
    /// an unset variable only, not an empty one.
    fn close_brace(
        &mut self,
        at: usize,
        value: Option<String>,
    ) -> Result<Option<String>, TokenError> {
        match self.peek(0) {
            Some(b'}') => {
                self.i += 1;
                Ok(value)
            }
            Some(b'-') => {
                let rest = &self.b[self.i + 1..];
                let Some(len) = rest.iter().position(|&c| c == b'}') else {
                    return Err(TokenError::UnmatchedBrace(self.col(at)));
                };
                let default = String::from_utf8_lossy(&rest[..len]).into_owned();
                self.i += len + 2;
                Ok(value.or(Some(default)))
            }
            _ => Err(TokenError::UnmatchedBrace(self.col(at))),
        }
    }

    /// Appends a variable's value; with `[*]`, each blank run in it
    /// separates words.
    fn emit_value(&mut self, v: &str, expand: bool, col: u32) -> Result<(), TokenError> {
        let mut bytes = v.bytes().peekable();
        while let Some(c) = bytes.next() {
            if expand && is_blank(c) {
                self.end_word()?;
                self.cur_col = col;
                while bytes.peek().copied().is_some_and(is_blank) {
                    bytes.next();
                }
            } else {
                self.cur.push(c);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_env(line: &str, env: Option<EnvLookup<'_>>) -> Result<Vec<String>, TokenError> {
        let ctx = WordCtx {
            file: "t.cfg",
            line: 7,
            section: "global",
            env,
        };
        split_words(line, &ctx).map(|w| w.into_iter().map(|w| w.text).collect())
    }

    fn words(line: &str) -> Vec<String> {
        words_env(line, None).unwrap()
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("x y".into()),
            "EMPTY" => Some(String::new()),
            "LIST" => Some("  a  b c ".into()),
            _ => None,
        }
    }

    #[test]
    fn blanks_and_comments() {
        assert_eq!(
            words("  server  s1\t1.2.3.4:80  "),
            ["server", "s1", "1.2.3.4:80"]
        );
        assert_eq!(words("global#this is the global section"), ["global"]);
        assert_eq!(words("   # only a comment"), Vec::<String>::new());
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words("mode http\r trailing"), ["mode", "http"]);
    }

    #[test]
    fn escapes_outside_quotes() {
        assert_eq!(words(r"a\ b\#c"), ["a b#c"]);
        assert_eq!(words(r#"\\ \' \"x"#), ["\\", "'", "\"x"]);
        assert_eq!(words(r"\t\n\r\x41\x4a"), ["\t\n\rAJ"]);
        // Not escape sequences: the backslash stays.
        assert_eq!(words(r"\q\1"), [r"\q\1"]);
        // `\$` is only an escape inside double quotes.
        assert_eq!(words(r"a\$b"), [r"a\$b"]);
        assert_eq!(words(r#""a\$b""#), ["a$b"]);
    }

    #[test]
    fn quotes() {
        assert_eq!(words(r#""a b" 'c d'"#), ["a b", "c d"]);
        assert_eq!(words(r#"'a\ b $FOO "q"'"#), [r#"a\ b $FOO "q""#]);
        assert_eq!(words(r##""it's" "#x""##), ["it's", "#x"]);
        assert_eq!(words(r#"ab"cd"'ef'"#), ["abcdef"]);
        // The documentation's equivalent log-format lines.
        let want = ["log-format", "%{+Q}o %t %s %{-Q}r"];
        assert_eq!(words(r"log-format %{+Q}o\ %t\ %s\ %{-Q}r"), want);
        assert_eq!(words(r#"log-format "%{+Q}o %t"' %s %{-Q}r'"#), want);
        assert_eq!(words(r#"log-format "%{+Q}o %t"' %s'\ %{-Q}r"#), want);
        // A backslash-tab inside double quotes is not an escape.
        assert_eq!(words("\"a\\\tb\""), ["a\\\tb"]);
    }

    #[test]
    fn empty_words_follow_haproxy() {
        assert_eq!(words(r#"x "" y"#), ["x", "", "y"]);
        assert_eq!(words(r#""" y"#), ["", "y"]);
        // A trailing empty word is dropped, one followed by a blank is not.
        assert_eq!(words(r#"x """#), ["x"]);
        assert_eq!(words(r#"x "" "#), ["x", ""]);
    }

    #[test]
    fn environment_expansion() {
        let e: EnvLookup<'_> = &env;
        let w = |l| words_env(l, Some(e)).unwrap();
        assert_eq!(w(r#""$FOO""#), ["x y"]);
        assert_eq!(w(r#""${FOO}z""#), ["x yz"]);
        assert_eq!(w(r#"a$FOO"#), ["a$FOO"]);
        assert_eq!(w(r#"'$FOO'"#), ["$FOO"]);
        assert_eq!(w(r#""${NOPE-def ault}""#), ["def ault"]);
        assert_eq!(w(r#"x "${EMPTY-def}" y"#), ["x", "", "y"]);
        assert_eq!(w(r#"x "$NOPE" y"#), ["x", "", "y"]);
        assert_eq!(w(r#"k "${LIST[*]}" z"#), ["k", "", "a", "b", "c", "", "z"]);
        assert_eq!(w(r#""${.LINE}:${.FILE}:${.SECTION}""#), ["7:t.cfg:global"]);
        // No lookup function: every variable is unset.
        assert_eq!(words(r#""<$FOO>""#), ["<>"]);
    }

    #[test]
    fn errors_report_haproxy_positions() {
        let e: EnvLookup<'_> = &env;
        let err = |l| words_env(l, Some(e)).unwrap_err();
        assert_eq!(err(r#"    .notice "$$""#), TokenError::BadVarName(15));
        assert_eq!(
            err(r#"    .notice "unterminated"#),
            TokenError::UnmatchedQuote(13)
        );
        assert_eq!(err(r#"    .notice "\x4""#), TokenError::BadHex(14));
        assert_eq!(
            err(r#"    .notice "${FOO""#),
            TokenError::UnmatchedBrace(15)
        );
        assert_eq!(err(r#""${FOO-x""#), TokenError::UnmatchedBrace(3));
        assert_eq!(err(r#""${FOO[x]}""#), TokenError::BadExpand(7));
        assert_eq!(err(r#""${.NOPE}""#), TokenError::BadVarName(4));
        assert_eq!(err("a\0b"), TokenError::StrayNul(2));
        assert_eq!(err(r"\xff"), TokenError::NotUtf8(1));
        assert_eq!(
            err(r#""${FOO-x""#).to_string(),
            "unmatched brace in environment variable name at position 3"
        );
    }

    #[test]
    fn non_utf8_bytes_pass_in_comments_only() {
        let ctx = WordCtx {
            file: "f",
            line: 1,
            section: "",
            env: None,
        };
        let w = |l: &[u8]| {
            split_words(l, &ctx).map(|w| w.into_iter().map(|w| w.text).collect::<Vec<_>>())
        };
        // HAProxy skips a comment without looking at its bytes.
        assert_eq!(w(b"maxconn 10 # caf\xe9 \xff").unwrap(), ["maxconn", "10"]);
        assert_eq!(w(b"# \xc3\x28").unwrap(), Vec::<String>::new());
        // Valid UTF-8 words stay as they are.
        assert_eq!(
            w("description caf\u{e9}".as_bytes()).unwrap(),
            ["description", "caf\u{e9}"]
        );
        // A raw non-UTF-8 byte in a word, quoted or not, is named by the
        // word's position.
        assert_eq!(w(b"description caf\xe9"), Err(TokenError::NotUtf8(13)));
        assert_eq!(w(b"x \"a \xff\""), Err(TokenError::NotUtf8(3)));
        // `#` inside quotes is no comment.
        assert_eq!(w(b"x \"#\xff\""), Err(TokenError::NotUtf8(3)));
    }

    #[test]
    fn word_limit_and_positions() {
        let line = vec!["w"; MAX_LINE_ARGS].join(" ");
        assert_eq!(words(&line).len(), MAX_LINE_ARGS);
        let line = format!("{line} one-too-many");
        assert!(matches!(
            words_env(&line, None),
            Err(TokenError::TooManyWords(_))
        ));
        let ctx = WordCtx {
            file: "f",
            line: 3,
            section: "",
            env: None,
        };
        let w = split_words("  bind  :80", &ctx).unwrap();
        assert_eq!((w[0].line, w[0].col, w[1].col), (3, 3, 9));
    }

    #[test]
    fn lines_are_numbered_and_know_their_lf() {
        let l: Vec<_> = raw_lines(b"a\n\nb\nc").collect();
        assert_eq!(l.len(), 4);
        assert_eq!((l[2].number, l[2].text, l[2].has_lf), (3, &b"b"[..], true));
        assert_eq!((l[3].number, l[3].text, l[3].has_lf), (4, &b"c"[..], false));
        assert_eq!(raw_lines(b"a\n").count(), 1);
        assert_eq!(raw_lines(b"").count(), 0);
        // Any byte is taken: the lines are cut at LF only.
        let l: Vec<_> = raw_lines(b"# caf\xe9\n\xff x\n").collect();
        assert_eq!((l[0].text, l[1].text), (&b"# caf\xe9"[..], &b"\xff x"[..]));
    }
}
