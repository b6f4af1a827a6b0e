//! `haproxy.cfg` parsing (HAProxy's `cfgparse.c`, `cfgparse-global.c`,
//! `cfgparse-listen.c` and the keyword parsers they call).
//!
//! Text in, typed [`Config`] or errors out: the driver reads the files and
//! passes `(file_name, text)`; nothing here touches the file system or the
//! process environment (variables come through [`ParseOptions::env`]).
//!
//! ```text
//!  text ──raw_lines──> lines ──split_words──> words ──.if/.endif──> live lines
//!       ──no/default──> Ln ──section keyword?──> new section
//!                          └─────────────────> section parser (global | peers | proxy)
//!  Config ──Config::check──> errors / warnings (what `haproxy -c` adds after parsing)
//! ```
//!
//! Like HAProxy, parsing does not stop at the first error: every error of a
//! file is collected (up to [`ParseOptions::max_errors`]) and returned with
//! its `file:line`, and warnings are returned rather than printed.
//!
//! Entry points: [`parse`] for one file, [`Parser`] for several files
//! (each file starts a new section, as with `haproxy -f a -f b`).

pub mod addr;
mod check;
pub mod cond;
mod diag;
pub mod errors;
mod global;
mod httpchk;
pub mod ignored;
mod log;
pub mod logfwd;
pub mod model;
mod options;
mod peers;
mod proxy;
pub mod resolvers;
mod rules;
mod server;
pub mod stats;
mod table;
pub mod threads;
pub mod tls;
pub mod tokenizer;
pub mod units;
pub mod userlist;

use std::collections::BTreeMap;

pub use addr::{Addr, Host};
pub use diag::{ConfigErrors, Diagnostic, Diags};
pub use model::*;
pub use tokenizer::{EnvLookup, Word};

use cond::CondStack;
use tokenizer::{raw_lines, split_words, RawLine, WordCtx};

/// What the driver tells the parser besides the text.
pub struct ParseOptions<'a> {
    /// Environment variables for `"${VAR}"` expansion and `.if defined()`;
    /// `None`: no variable is set.
    pub env: Option<EnvLookup<'a>>,
    /// `-L NAME` on the command line: the local peer name, overriding
    /// `localpeer`.
    pub local_peer: Option<String>,
    /// The host name, the local peer name when neither `-L` nor `localpeer`
    /// gives one.
    pub hostname: String,
    /// Errors in one file before the parser gives up on it (HAProxy: 50).
    pub max_errors: usize,
    /// The build features `.if feature(NAME)` is true for (HAProxy's
    /// `+NAME` entries of `haproxy -vv`'s feature list); empty by default.
    pub features: &'a [&'a str],
}

impl<'a> ParseOptions<'a> {
    /// Options for a host named `hostname`, no environment, no `-L`.
    pub fn new(hostname: impl Into<String>) -> ParseOptions<'a> {
        ParseOptions {
            env: None,
            local_peer: None,
            hostname: hostname.into(),
            max_errors: 50,
            features: &[],
        }
    }
}

impl core::fmt::Debug for ParseOptions<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ParseOptions")
            .field("env", &self.env.map(|_| "<fn>"))
            .field("local_peer", &self.local_peer)
            .field("hostname", &self.hostname)
            .field("max_errors", &self.max_errors)
            .field("features", &self.features)
            .finish()
    }
}

/// A parsed and checked configuration, with the warnings to show.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// Parses one file and runs [`Config::check`] on the result. `text` may be
/// a `&str` or raw bytes (see [`Parser::feed`]).
pub fn parse<T: AsRef<[u8]> + ?Sized>(
    file: &str,
    text: &T,
    opts: ParseOptions<'_>,
) -> Result<Parsed, ConfigErrors> {
    let mut p = Parser::new(opts);
    p.feed(file, text);
    p.finish()
}

/// One configuration line, cut into words, ready for a keyword parser.
#[derive(Clone, Debug)]
pub(crate) struct Ln<'a> {
    pub file: &'a str,
    pub line: u32,
    /// The words; `words[0]` is the keyword (after `no`/`default`).
    pub words: Vec<String>,
    pub kwm: Kwm,
    /// The environment variables a `$` of the words names, those set, for
    /// the expansion HAProxy applies to addresses ([`Ln::expand_addr`]).
    pub env: BTreeMap<String, String>,
}

/// HAProxy's keyword modifiers (`KWM_STD`, `KWM_NO`, `KWM_DEF`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kwm {
    Std,
    No,
    Default,
}

impl Ln<'_> {
    pub fn kw(&self) -> &str {
        self.arg(0)
    }

    /// Word `i`, or `""` past the end (HAProxy's `*args[i] == 0`).
    pub fn arg(&self, i: usize) -> &str {
        self.words.get(i).map_or("", String::as_str)
    }

    /// Address text as HAProxy's `str2sa_range` reads it: `$NAME` and
    /// `${NAME}` expanded, quoted or not, unset ones to nothing; an
    /// address that expands to nothing is an error.
    pub fn expand_addr(&self, text: &str) -> Result<String, String> {
        let out = addr::env_expand(text, |n| self.env.get(n).cloned());
        if out.is_empty() && !text.is_empty() {
            return Err(format!(
                "'{text}' resolves to an empty address (environment variable missing?)"
            ));
        }
        Ok(out)
    }

    /// [`addr::parse_addr`] of the [`Ln::expand_addr`] of `text`.
    pub fn parse_addr(&self, text: &str) -> Result<addr::ParsedAddr, String> {
        addr::parse_addr(&self.expand_addr(text)?)
    }

    pub fn place(&self) -> Place {
        Place {
            file: self.file.to_string(),
            line: self.line,
        }
    }

    /// An error or warning about this line's keyword.
    pub fn diag(&self, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, self.line, self.kw(), msg)
    }

    /// An error or warning about a two-word keyword (`timeout connect`).
    pub fn diag2(&self, msg: impl Into<String>) -> Diagnostic {
        let kw = format!("{} {}", self.arg(0), self.arg(1));
        Diagnostic::new(self.file, self.line, kw, msg)
    }

    /// Word `i` as an unsigned integer; `label` names the keyword.
    pub fn uint_at(&self, i: usize, label: &str) -> Result<u32, Diagnostic> {
        let t = self.arg(i);
        units::parse_u32(t).map_err(|e| self.diag(value_msg(label, t, "an integer", e)))
    }

    /// Word `i` as a time in ms (HAProxy units, ms by default).
    pub fn time_at(&self, i: usize, label: &str) -> Result<u32, Diagnostic> {
        let t = self.arg(i);
        units::parse_time_ms(t).map_err(|e| match e {
            units::ValueError::Overflow => self.diag(format!(
                "timer overflow in argument <{t}> to <{label}>, maximum value is {} ms (~24.8 days).",
                units::MAX_TIME_MS
            )),
            e => self.diag(value_msg(label, t, "a time", e)),
        })
    }

    /// Word `i` as a size in bytes (`k`, `m`, `g` suffixes), at most `u32::MAX`.
    pub fn size_at(&self, i: usize, label: &str) -> Result<u32, Diagnostic> {
        let t = self.arg(i);
        let v = units::parse_size(t).map_err(|e| self.diag(value_msg(label, t, "a size", e)))?;
        u32::try_from(v)
            .map_err(|_| self.diag(value_msg(label, t, "a size", units::ValueError::Overflow)))
    }

    /// Rejects words after the `n` a keyword takes.
    pub fn no_extra(&self, n: usize) -> Result<(), Diagnostic> {
        match self.words.get(n) {
            Some(w) => Err(self.diag(format!(
                "'{}' cannot handle unexpected argument '{w}'.",
                self.words[..n].join(" ")
            ))),
            None => Ok(()),
        }
    }
}

/// The message for a value that did not parse.
pub(crate) fn value_msg(label: &str, text: &str, what: &str, e: units::ValueError) -> String {
    match e {
        units::ValueError::Empty => format!("'{label}' expects {what} as argument."),
        units::ValueError::BadChar(c) => {
            format!("'{label}' : unexpected character '{c}' in argument '{text}'.")
        }
        units::ValueError::Overflow => format!("'{label}' : value '{text}' is too large."),
    }
}

/// HAProxy's `invalid_char()`: names are letters, digits, `-_.:`.
pub(crate) fn check_name(ln: &Ln<'_>, what: &str, name: &str) -> Result<(), Diagnostic> {
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        Some(c) => Err(ln.diag(format!(
            "character '{c}' is not permitted in '{what}' name '{name}'."
        ))),
        None => Ok(()),
    }
}

/// The section lines are going to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    /// Before the first section keyword.
    None,
    Global,
    Peers(usize),
    Defaults(usize),
    Proxy(usize),
    HttpErrors(usize),
    Userlist(usize),
    Resolvers(usize),
    Ring(usize),
    LogForward(usize),
    /// A section Sluice skips (its keyword produced a warning or an error).
    Skipped,
}

/// Environment changes made by `setenv`, `presetenv`, `unsetenv` and
/// `resetenv` in the global section, layered over [`ParseOptions::env`].
#[derive(Clone, Debug, Default)]
pub(crate) struct EnvOverlay {
    /// `Some(v)`: set to `v`; `None`: unset.
    vars: BTreeMap<String, Option<String>>,
    /// After `resetenv NAMES...`: only these base variables remain.
    keep_only: Option<Vec<String>>,
}

impl EnvOverlay {
    fn get(&self, base: Option<EnvLookup<'_>>, name: &str) -> Option<String> {
        if let Some(v) = self.vars.get(name) {
            return v.clone();
        }
        if let Some(keep) = &self.keep_only {
            if !keep.iter().any(|k| k == name) {
                return None;
            }
        }
        base.and_then(|f| f(name))
    }

    pub fn set(&mut self, name: &str, value: Option<String>) {
        self.vars.insert(name.to_string(), value);
    }

    pub fn reset(&mut self, keep: Vec<String>) {
        self.vars.retain(|k, _| keep.contains(k));
        self.keep_only = Some(keep);
    }
}

/// Per-file state.
struct FileState {
    section: Section,
    cond: CondStack,
    errors_at_start: usize,
    /// Set by `.alert` and broken `.if` expressions: stop reading the file.
    abort: bool,
}

/// Parses configuration files one after the other, then checks them.
pub struct Parser<'a> {
    opts: ParseOptions<'a>,
    cfg: Config,
    diags: Diags,
    env: EnvOverlay,
    /// A `peers` section was seen: `localpeer` comes too late after it.
    peers_seen: bool,
}

impl core::fmt::Debug for Parser<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Parser")
            .field("opts", &self.opts)
            .field("errors", &self.diags.errors.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Parser<'a> {
    pub fn new(opts: ParseOptions<'a>) -> Parser<'a> {
        let local_peer = opts
            .local_peer
            .clone()
            .unwrap_or_else(|| opts.hostname.clone());
        Parser {
            cfg: Config {
                local_peer,
                ..Config::default()
            },
            opts,
            diags: Diags::default(),
            env: EnvOverlay::default(),
            peers_seen: false,
        }
    }

    /// Parses one file, given as text or as the bytes read from it: like
    /// HAProxy, any byte may appear in a comment; a word that is not UTF-8
    /// is an error naming its `file:line`. Errors and warnings accumulate
    /// until [`Parser::finish`].
    pub fn feed<T: AsRef<[u8]> + ?Sized>(&mut self, file: &str, text: &T) {
        let text = text.as_ref();
        let mut fs = FileState {
            section: Section::None,
            cond: CondStack::default(),
            errors_at_start: self.diags.errors.len(),
            abort: false,
        };
        let mut last = 0;
        for raw in raw_lines(text) {
            last = raw.number;
            if self.diags.errors.len() - fs.errors_at_start >= self.opts.max_errors {
                let n = self.opts.max_errors;
                let msg = format!("too many fatal errors ({n}), stopping now.");
                self.diags.error(Diagnostic::new(file, raw.number, "", msg));
                return;
            }
            self.line(file, raw, &mut fs);
            if fs.abort {
                return;
            }
        }
        if fs.cond.is_open() {
            let msg = "non-terminated '.if' block.";
            self.diags.error(Diagnostic::new(file, last, ".if", msg));
        }
    }

    /// The configuration, checked, or every error found.
    pub fn finish(self) -> Result<Parsed, ConfigErrors> {
        let (mut cfg, mut diags) = (self.cfg, self.diags);
        if diags.has_errors() {
            return Err(diags.into());
        }
        cfg.link_stick_rules();
        diags.extend(cfg.check());
        if diags.has_errors() {
            return Err(diags.into());
        }
        Ok(Parsed {
            config: cfg,
            warnings: diags.warnings,
        })
    }

    /// The configuration as parsed so far, without [`Config::link_stick_rules`]
    /// and [`Config::check`], and what parsing found. For tools that want both.
    pub fn into_parts(self) -> (Config, Diags) {
        (self.cfg, self.diags)
    }

    fn section_name(&self, s: Section) -> &str {
        match s {
            Section::None | Section::Skipped => "",
            Section::Global => "global",
            Section::Peers(i) => &self.cfg.peers[i].name,
            Section::Defaults(i) => match self.cfg.defaults[i].name.as_str() {
                "" => "defaults",
                n => n,
            },
            Section::Proxy(i) => &self.cfg.proxies[i].name,
            Section::HttpErrors(i) => &self.cfg.http_errors[i].name,
            Section::Userlist(i) => &self.cfg.userlists[i].name,
            Section::Resolvers(i) => &self.cfg.resolvers[i].name,
            Section::Ring(i) => &self.cfg.rings[i].name,
            Section::LogForward(i) => &self.cfg.log_forwards[i].name,
        }
    }

    fn line(&mut self, file: &str, raw: RawLine<'_>, fs: &mut FileState) {
        let words = {
            let base = self.opts.env;
            let env = &self.env;
            let lookup = |n: &str| env.get(base, n);
            let ctx = WordCtx {
                file,
                line: raw.number,
                section: self.section_name(fs.section),
                env: Some(&lookup),
            };
            split_words(raw.text, &ctx)
        };
        // A line that cannot be cut into words is named by its first token.
        let first = raw
            .text
            .split(|b| b.is_ascii_whitespace())
            .find(|t| !t.is_empty())
            .unwrap_or_default();
        let first = String::from_utf8_lossy(first);
        let first = first.as_ref();
        match words {
            Err(e) => self
                .diags
                .error(Diagnostic::new(file, raw.number, first, e.to_string())),
            Ok(words) => {
                let words: Vec<String> = words.into_iter().map(|w| w.text).collect();
                self.words(file, raw.number, words, fs);
            }
        }
        if !raw.has_lf {
            let pos = raw.text.len() + 1;
            let msg = format!(
                "Missing LF on last line, file might have been truncated at position {pos}."
            );
            self.diags
                .error(Diagnostic::new(file, raw.number, first, msg));
        }
    }

    fn words(&mut self, file: &str, line: u32, words: Vec<String>, fs: &mut FileState) {
        if words.first().is_none_or(|w| w.is_empty()) {
            return;
        }
        if words[0].starts_with('.') {
            return self.directive(file, line, &words, fs);
        }
        if fs.cond.masked() {
            return;
        }
        let Some(ln) = self.modifiers(file, line, words) else {
            return;
        };
        if let Err(e) = self.dispatch(&ln, fs) {
            self.diags.error(e);
        }
    }

    /// Strips `no` / `default` and checks that the keyword takes them.
    fn modifiers<'f>(
        &mut self,
        file: &'f str,
        line: u32,
        mut words: Vec<String>,
    ) -> Option<Ln<'f>> {
        let kwm = match words[0].as_str() {
            "no" => Kwm::No,
            "default" => Kwm::Default,
            _ => Kwm::Std,
        };
        if kwm != Kwm::Std {
            words.remove(0);
        }
        let mut env = BTreeMap::new();
        for w in words.iter().filter(|w| w.contains('$')) {
            for n in addr::env_names(w) {
                if let Some(v) = self.env.get(self.opts.env, n) {
                    env.insert(n.to_string(), v);
                }
            }
        }
        let ln = Ln {
            file,
            line,
            words,
            kwm,
            env,
        };
        let allowed = ["option", "log"].contains(&ln.kw()) || ignored::is_negatable_global(ln.kw());
        if kwm != Kwm::Std && !allowed {
            let msg = "negation/default currently supported only for options, log, busy-polling, \
                       set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping.";
            self.diags.error(Diagnostic::new(file, line, ln.kw(), msg));
            return None;
        }
        Some(ln)
    }

    /// `.if`, `.elif`, `.else`, `.endif`, `.notice`, `.warning`, `.alert`, `.diag`.
    fn directive(&mut self, file: &str, line: u32, words: &[String], fs: &mut FileState) {
        let d = |m: String| Diagnostic::new(file, line, words[0].as_str(), m);
        let expr = words[1..].join(" ");
        let base = self.opts.env;
        let env = &self.env;
        let features = self.opts.features;
        let eval = || cond::eval_condition(&expr, &|n| env.get(base, n).is_some(), features);
        let no_args = || match words.get(1) {
            Some(a) => Err(format!("Unexpected argument '{a}' for '{}'.", words[0])),
            None => Ok(()),
        };
        let r = match words[0].as_str() {
            ".if" => fs.cond.push_if(eval),
            ".elif" => fs.cond.elif(eval),
            ".else" => no_args().and_then(|_| fs.cond.else_()),
            ".endif" => no_args().and_then(|_| fs.cond.endif()),
            _ if fs.cond.masked() => Ok(()),
            _ => return self.message_directive(words, fs, d),
        };
        if let Err(m) = r {
            let m = match words[0].as_str() {
                ".if" | ".elif" => format!("{m} in '{}'.", words[0]),
                _ => format!("{m}."),
            };
            self.diags.error(d(m));
            fs.abort = true;
        }
    }

    fn message_directive(
        &mut self,
        words: &[String],
        fs: &mut FileState,
        d: impl Fn(String) -> Diagnostic,
    ) {
        let known = [".notice", ".warning", ".alert", ".diag"].contains(&words[0].as_str());
        if !known {
            return self
                .diags
                .error(d(format!("unknown directive '{}'.", words[0])));
        }
        if let Some(extra) = words.get(2) {
            let m = format!(
                "Unexpected argument '{extra}' for '{}'. Use quotes if the message should contain spaces.",
                words[0]
            );
            return self.diags.error(d(m));
        }
        let msg = format!("'{}'.", words.get(1).map_or("", String::as_str));
        match words[0].as_str() {
            ".alert" => {
                self.diags.error(d(msg));
                fs.abort = true;
            }
            ".notice" | ".warning" => self.diags.warn(d(msg)),
            _ => {} // `.diag`: only shown by HAProxy's diagnostic mode.
        }
    }

    fn dispatch(&mut self, ln: &Ln<'_>, fs: &mut FileState) -> Result<(), Diagnostic> {
        if let Some(s) = self.start_section(ln) {
            fs.section = s;
            return Ok(());
        }
        match fs.section {
            Section::None => Err(ln.diag(format!("unknown keyword '{}' out of section.", ln.kw()))),
            Section::Skipped => Ok(()),
            Section::Global => self.global_kw(ln),
            Section::Peers(i) => {
                let local = self.cfg.local_peer.clone();
                peers::parse(&mut self.cfg.peers[i], &local, ln, &mut self.diags)
            }
            Section::Defaults(i) => self.proxy_kw(true, i, ln),
            Section::Proxy(i) => self.proxy_kw(false, i, ln),
            Section::HttpErrors(i) => errors::section_kw(&mut self.cfg.http_errors[i], ln),
            Section::Userlist(i) => userlist::section_kw(&mut self.cfg.userlists[i], ln),
            Section::Resolvers(i) => {
                resolvers::section_kw(&mut self.cfg.resolvers[i], ln, &mut self.diags)
            }
            Section::Ring(i) => logfwd::ring_kw(&mut self.cfg.rings[i], ln),
            Section::LogForward(i) => {
                logfwd::log_forward_kw(&mut self.cfg.log_forwards[i], ln, &mut self.diags)
            }
        }
    }

    fn global_kw(&mut self, ln: &Ln<'_>) -> Result<(), Diagnostic> {
        let mut st = global::State {
            env: &mut self.env,
            base_env: self.opts.env,
            cmdline_local_peer: self.opts.local_peer.is_some(),
            peers_seen: self.peers_seen,
            local_peer: &mut self.cfg.local_peer,
        };
        global::parse(&mut self.cfg.global, &mut st, ln, &mut self.diags)
    }

    fn proxy_kw(&mut self, is_defaults: bool, i: usize, ln: &Ln<'_>) -> Result<(), Diagnostic> {
        let cfg = &mut self.cfg;
        let from = match is_defaults {
            true => &cfg.defaults[i].from,
            false => &cfg.proxies[i].from,
        };
        // What `default option X` restores: the section this one inherits from.
        let base = match from {
            Some(r) if ln.kwm == Kwm::Default => {
                cfg.defaults.get(r.index).map(|d| d.options.clone())
            }
            _ => None,
        };
        let px = match is_defaults {
            true => &mut cfg.defaults[i],
            false => &mut cfg.proxies[i],
        };
        let g = &cfg.global;
        proxy::parse(px, g, &base.unwrap_or_default(), ln, &mut self.diags)
    }

    /// A section keyword starts a new section (skipped when its line is
    /// wrong, so that its body does not land in the previous one); anything
    /// else is `None`.
    fn start_section(&mut self, ln: &Ln<'_>) -> Option<Section> {
        let started = match ln.kw() {
            "global" => Ok(Section::Global),
            "peers" => self.start_peers(ln),
            "defaults" => self.start_proxy(ProxyKind::Defaults, ln),
            "frontend" => self.start_proxy(ProxyKind::Frontend, ln),
            "backend" => self.start_proxy(ProxyKind::Backend, ln),
            "listen" => self.start_proxy(ProxyKind::Listen, ln),
            "http-errors" => self.start_http_errors(ln),
            "userlist" => self.start_userlist(ln),
            "resolvers" => resolvers::start(&self.cfg.resolvers, ln).map(|r| {
                self.cfg.resolvers.push(r);
                Section::Resolvers(self.cfg.resolvers.len() - 1)
            }),
            "ring" => logfwd::start_ring(&self.cfg.rings, ln).map(|r| {
                self.cfg.rings.push(r);
                Section::Ring(self.cfg.rings.len() - 1)
            }),
            "log-forward" => logfwd::start_log_forward(&self.cfg.log_forwards, ln).map(|f| {
                self.cfg.log_forwards.push(f);
                Section::LogForward(self.cfg.log_forwards.len() - 1)
            }),
            kw if ignored::SKIPPED_SECTIONS.contains(&kw) => {
                let msg = format!("section '{kw}' is not supported by Sluice and is ignored.");
                self.diags.warn(ln.diag(msg));
                Ok(Section::Skipped)
            }
            kw if ignored::REJECTED_SECTIONS.contains(&kw) => {
                Err(ln.diag(format!("section '{kw}' is not supported by Sluice.")))
            }
            _ => return None,
        };
        Some(started.unwrap_or_else(|e| {
            self.diags.error(e);
            Section::Skipped
        }))
    }

    fn start_peers(&mut self, ln: &Ln<'_>) -> Result<Section, Diagnostic> {
        let name = ln.arg(1);
        if name.is_empty() {
            return Err(ln.diag("'peers' expects <name> as argument."));
        }
        check_name(ln, "peers", name)?;
        ln.no_extra(2)?;
        self.peers_seen = true;
        self.cfg.peers.push(PeersSection {
            place: ln.place(),
            name: name.to_string(),
            disabled: false,
            peers: Vec::new(),
            bind: None,
            tables: Vec::new(),
        });
        Ok(Section::Peers(self.cfg.peers.len() - 1))
    }

    /// `userlist NAME`.
    fn start_userlist(&mut self, ln: &Ln<'_>) -> Result<Section, Diagnostic> {
        let name = ln.arg(1);
        if name.is_empty() {
            return Err(ln.diag("'userlist' expects <name> as argument."));
        }
        check_name(ln, "userlist", name)?;
        ln.no_extra(2)?;
        self.cfg.userlists.push(userlist::UserlistDecl {
            place: ln.place(),
            name: name.to_string(),
            users: Vec::new(),
            groups: Vec::new(),
        });
        Ok(Section::Userlist(self.cfg.userlists.len() - 1))
    }

    /// `http-errors NAME`.
    fn start_http_errors(&mut self, ln: &Ln<'_>) -> Result<Section, Diagnostic> {
        let name = ln.arg(1);
        if name.is_empty() {
            return Err(ln.diag("'http-errors' expects <name> as argument."));
        }
        check_name(ln, "http-errors", name)?;
        ln.no_extra(2)?;
        if self.cfg.http_errors.iter().any(|s| s.name == name) {
            return Err(ln.diag(format!(
                "http-errors section '{name}' has the same name as another http-errors section."
            )));
        }
        self.cfg.http_errors.push(errors::HttpErrors {
            place: ln.place(),
            name: name.to_string(),
            files: Vec::new(),
        });
        Ok(Section::HttpErrors(self.cfg.http_errors.len() - 1))
    }

    /// `defaults [NAME] [from DEFAULTS]`, `frontend|backend|listen NAME [from DEFAULTS]`.
    fn start_proxy(&mut self, kind: ProxyKind, ln: &Ln<'_>) -> Result<Section, Diagnostic> {
        let name = ln.arg(1);
        if name.is_empty() && kind != ProxyKind::Defaults {
            return Err(ln.diag(format!("'{}' expects <name> as an argument.", ln.kw())));
        }
        let from = match (ln.arg(2), ln.arg(3)) {
            ("", _) => None,
            ("from", "") => {
                return Err(ln.diag(format!(
                    "'{}': 'from' expects a defaults section name.",
                    ln.kw()
                )))
            }
            ("from", f) => {
                ln.no_extra(4)?;
                Some(f)
            }
            (other, _) => {
                return Err(ln.diag(format!(
                    "unexpected argument '{other}' after '{} {name}'.",
                    ln.kw()
                )))
            }
        };
        if kind != ProxyKind::Defaults {
            check_name(ln, kind.keyword(), name)?;
        }
        let base = self.find_defaults(ln, kind, name, from)?;
        Ok(self.push_proxy(kind, name, ln.place(), base))
    }

    /// The defaults section a new section starts from: `from NAME` (the
    /// last defined with that name), else the last one, except for a
    /// `defaults` section, which starts from HAProxy's built-in settings.
    fn find_defaults(
        &self,
        ln: &Ln<'_>,
        kind: ProxyKind,
        name: &str,
        from: Option<&str>,
    ) -> Result<Option<DefaultsRef>, Diagnostic> {
        if let Some(from) = from {
            let found = self.cfg.defaults.iter().rposition(|d| d.name == from);
            let Some(index) = found else {
                let what = kind.keyword();
                let m = format!("defaults section '{from}' not found for {what} '{name}'.");
                return Err(ln.diag(m));
            };
            let name = from.to_string();
            return Ok(Some(DefaultsRef {
                index,
                name,
                explicit: true,
            }));
        }
        if kind == ProxyKind::Defaults {
            return Ok(None);
        }
        let last = self.cfg.defaults.len().checked_sub(1);
        Ok(last.map(|index| DefaultsRef {
            index,
            name: self.cfg.defaults[index].name.clone(),
            explicit: false,
        }))
    }

    fn push_proxy(
        &mut self,
        kind: ProxyKind,
        name: &str,
        place: Place,
        base: Option<DefaultsRef>,
    ) -> Section {
        let mut px = match &base {
            Some(r) => Proxy::inherit(kind, name, place, &self.cfg.defaults[r.index]),
            None => Proxy::new(kind, name, place),
        };
        px.from = base;
        if kind == ProxyKind::Defaults {
            self.cfg.defaults.push(px);
            Section::Defaults(self.cfg.defaults.len() - 1)
        } else {
            self.cfg.proxies.push(px);
            Section::Proxy(self.cfg.proxies.len() - 1)
        }
    }
}
