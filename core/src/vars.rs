//! Variables set by rules (`set-var(scope.name)`), HAProxy's `vars.c`:
//! `proc.` variables live as long as the process, `sess.` ones as long as
//! the client connection, `txn.`, `req.` and `res.` ones as long as the
//! stream (one HTTP transaction, or one TCP connection).
//!
//! The scopes are kept apart (`txn.x` and `req.x` are two variables).
//! `check.` variables belong to health checks: an HTTP check keeps its
//! own for one run (`backend/check.rs`).

use std::collections::BTreeMap;

use crate::arena::Id;
use crate::cfgparse::GlobalSetVar;
use crate::engine::build::StartError;
use crate::engine::Engine;
use crate::rules::LogFormat;
use crate::sample::{
    Fetch, FetchKind, ParseCtx, Sample, SampleCtx, SampleExpr, VarCond, VarName, VarScope,
};
use crate::session::Session;
use crate::stream::Stream;

/// The variables of one holder (HAProxy's `struct vars`). A variable may
/// exist without a value (HAProxy's `SMP_T_ANY`): a conditional
/// `set-var` that creates it then refuses the sample leaves it so.
#[derive(Debug, Default, Clone)]
pub struct Vars(BTreeMap<(VarScope, String), Option<Sample>>);

impl Vars {
    pub fn get(&self, var: &VarName) -> Option<&Sample> {
        self.0.get(&(var.scope, var.name.clone()))?.as_ref()
    }

    /// Sets (`Some`) or unsets (`None`) a variable.
    pub fn set(&mut self, var: &VarName, v: Option<Sample>) {
        let key = (var.scope, var.name.clone());
        match v {
            Some(v) => {
                self.0.insert(key, Some(v));
            }
            None => {
                self.0.remove(&key);
            }
        }
    }

    /// Sets `var` to `v` if the conditions `cond` hold (HAProxy's
    /// `var_set`); returns whether it was set. `proc.` variables always
    /// exist: HAProxy creates each one the configuration names.
    pub fn set_cond(&mut self, var: &VarName, v: Sample, cond: VarCond) -> bool {
        let key = (var.scope, var.name.clone());
        let exists = var.scope == VarScope::Proc || self.0.contains_key(&key);
        if exists && cond.has(VarCond::IFNOTEXISTS) || !exists && cond.has(VarCond::IFEXISTS) {
            return false;
        }
        let cur = self.0.entry(key).or_insert(None);
        if cond.has(VarCond::IFSET) && cur.is_none() || cond.has(VarCond::IFNOTSET) && cur.is_some()
        {
            return false;
        }
        let refused = match &v {
            Sample::Str(b) | Sample::Bin(b) => {
                cond.has(VarCond::IFNOTEMPTY) && b.is_empty()
                    || cond.has(VarCond::IFEMPTY) && !b.is_empty()
            }
            // Scalar samples are never empty.
            _ if cond.has(VarCond::IFEMPTY) => true,
            Sample::Int(n) => match cur {
                Some(Sample::Int(old)) => {
                    cond.has(VarCond::IFGT) && *old <= *n || cond.has(VarCond::IFLT) && *old >= *n
                }
                _ => false,
            },
            _ => false,
        };
        if !refused {
            *cur = Some(v);
        }
        !refused
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Engine {
    /// `set-var` / `unset-var` in the scope the name says. A stream scope
    /// without a stream (a `tcp-request connection` rule) does nothing:
    /// HAProxy refuses such rules when parsing.
    pub(crate) fn var_set(
        &mut self,
        sess: Id<Session>,
        sid: Option<Id<Stream>>,
        var: &VarName,
        v: Option<Sample>,
    ) {
        match var.scope {
            VarScope::Proc => self.proc_vars.set(var, v),
            VarScope::Sess => {
                if let Some(se) = self.sessions.get_mut(sess) {
                    se.vars.set(var, v);
                }
            }
            VarScope::Txn | VarScope::Req | VarScope::Res => {
                if let Some(s) = sid.and_then(|sid| self.streams.get_mut(sid)) {
                    s.vars.set(var, v);
                }
            }
            VarScope::Check => {}
        }
    }

    /// `set-var(scope.name,COND...)`: sets the variable if the conditions
    /// hold ([`Vars::set_cond`]); `false` when it was not set (or the
    /// scope has no holder here).
    pub(crate) fn var_set_cond(
        &mut self,
        sess: Id<Session>,
        sid: Option<Id<Stream>>,
        var: &VarName,
        v: Sample,
        cond: VarCond,
    ) -> bool {
        match var.scope {
            VarScope::Proc => self.proc_vars.set_cond(var, v, cond),
            VarScope::Sess => match self.sessions.get_mut(sess) {
                Some(se) => se.vars.set_cond(var, v, cond),
                None => false,
            },
            VarScope::Txn | VarScope::Req | VarScope::Res => {
                match sid.and_then(|sid| self.streams.get_mut(sid)) {
                    Some(s) => s.vars.set_cond(var, v, cond),
                    None => false,
                }
            }
            VarScope::Check => false,
        }
    }

    /// `var(scope.name)`.
    pub(crate) fn var_get(
        &self,
        sess: Id<Session>,
        sid: Option<Id<Stream>>,
        var: &VarName,
    ) -> Option<Sample> {
        match var.scope {
            VarScope::Proc => self.proc_vars.get(var).cloned(),
            VarScope::Sess => self.sessions.get(sess)?.vars.get(var).cloned(),
            VarScope::Txn | VarScope::Req | VarScope::Res => {
                self.streams.get(sid?)?.vars.get(var).cloned()
            }
            VarScope::Check => None,
        }
    }
}

/// What a global `set-var` reads: HAProxy evaluates it with no session
/// and no stream, so only constants, `proc.` variables, `uuid` and
/// `thread` (0 while parsing) give a value; other fetches are refused
/// when the line is parsed ([`config_time_fetch`]).
struct ProcCtx<'a> {
    vars: &'a mut Vars,
    rng: &'a mut crate::rng::Rng,
}

impl SampleCtx for ProcCtx<'_> {
    /// The `set-var` converter in a global `set-var`: only `proc.`
    /// variables exist here.
    fn set_var(&mut self, var: &VarName, v: Option<Sample>, cond: VarCond) -> bool {
        if var.scope != VarScope::Proc {
            return false;
        }
        match v {
            Some(v) => self.vars.set_cond(var, v, cond),
            None => {
                self.vars.set(var, None);
                true
            }
        }
    }

    fn fetch(&mut self, f: &Fetch) -> Option<Sample> {
        match f.kind {
            FetchKind::Var => {
                let var = f.var()?;
                let v = match var.scope {
                    VarScope::Proc => self.vars.get(var).cloned(),
                    _ => None,
                };
                v.or_else(|| var_default(f))
            }
            FetchKind::Uuid => Some(Sample::str(crate::fetch::uuid4(self.rng))),
            FetchKind::Thread => Some(Sample::Int(0)),
            _ => None,
        }
    }
}

/// `var(NAME,DEFAULT)`'s default: a string (HAProxy's `smp_fetch_var`
/// with `args[1]`).
pub(crate) fn var_default(f: &Fetch) -> Option<Sample> {
    f.str_arg(1).map(Sample::str)
}

/// Whether `e` can be evaluated while the configuration is parsed (the
/// fetches [`ProcCtx`] answers), else HAProxy's message.
fn config_time_fetch(e: &SampleExpr, kw: &str) -> Result<(), String> {
    match e.fetch.kind {
        FetchKind::Const(_)
        | FetchKind::Var
        | FetchKind::Uuid
        | FetchKind::Thread
        | FetchKind::LogVar(_) => Ok(()),
        _ => Err(format!(
            "fetch method '{kw}' extracts information from '{}', none of which is available here",
            e.layer().describe()
        )),
    }
}

impl Engine {
    /// Sets `proc.` variable `name` from an expression or (`fmt`) a
    /// format evaluated with no stream (the global `set-var` lines, the
    /// CLI's `set var`); a value-less expression changes nothing.
    pub(crate) fn proc_set_var(&mut self, name: &str, fmt: bool, text: &str) -> Result<(), String> {
        let kw = if fmt { "set-var-fmt" } else { "set-var" };
        let action = format!("{kw}({name})");
        let var = VarName::parse(name).map_err(|e| format!("'{action}' : {e}"))?;
        if var.scope != VarScope::Proc {
            return Err(format!(
                "'{kw}': cannot set variable '{name}', only scope 'proc' is permitted in the global section."
            ));
        }
        let ctx = ParseCtx::detached();
        let mut pctx = ProcCtx {
            vars: &mut self.proc_vars,
            rng: &mut self.rng,
        };
        let v = if fmt {
            let lf = LogFormat::parse(text, &ctx).map_err(|e| format!("'{action}' : {e}"))?;
            for e in lf.exprs() {
                config_time_fetch(e, &action)?;
            }
            Some(Sample::Str(lf.render(&mut pctx)))
        } else {
            let e = SampleExpr::parse(text, &ctx).map_err(|e| format!("'{action}' : {e}"))?;
            config_time_fetch(&e, &action)?;
            e.eval(&mut pctx)
        };
        if v.is_some() {
            self.proc_vars.set(&var, v);
        }
        Ok(())
    }

    /// The global `set-var` and `set-var-fmt` lines, in order (HAProxy's
    /// `vars_parse_global_set_var`): each sets a `proc.` variable once,
    /// at startup; a later line reads what an earlier one set. An
    /// expression without a value leaves the variable unset.
    pub(crate) fn global_set_vars(&mut self, lines: &[GlobalSetVar]) -> Result<(), StartError> {
        for l in lines {
            self.proc_set_var(&l.name, l.fmt, &l.text)
                .map_err(|message| StartError {
                    file: l.place.file.clone(),
                    line: l.place.line,
                    message,
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_apart() {
        let mut v = Vars::default();
        let txn = VarName::parse("txn.x").unwrap();
        let req = VarName::parse("req.x").unwrap();
        v.set(&txn, Some(Sample::Int(1)));
        v.set(&req, Some(Sample::Int(2)));
        assert_eq!(v.get(&txn), Some(&Sample::Int(1)));
        assert_eq!(v.get(&req), Some(&Sample::Int(2)));
        v.set(&txn, None);
        assert_eq!(v.get(&txn), None);
        assert_eq!(v.len(), 1);
    }

    /// HAProxy 2.6's `var_set` conditions (cond_set_var.vtc's cases).
    #[test]
    fn conditional_set() {
        let mut v = Vars::default();
        let c = |w: &str| VarCond::split(&format!("x,{w}")).unwrap().1;
        let txn = VarName::parse("txn.x").unwrap();
        let proc = VarName::parse("proc.x").unwrap();
        // A stream variable must exist for `ifexists`; a proc one always does.
        assert!(!v.set_cond(&txn, Sample::Int(1), c("ifexists")));
        assert_eq!(v.len(), 0);
        assert!(v.set_cond(&proc, Sample::Int(1), c("ifexists")));
        assert!(!v.set_cond(&proc, Sample::Int(2), c("ifnotexists")));
        assert_eq!(v.get(&proc), Some(&Sample::Int(1)));
        // A refused `ifempty` creates the variable without a value: it
        // exists, is not set.
        assert!(!v.set_cond(&txn, Sample::Int(7), c("ifempty")));
        assert_eq!((v.len(), v.get(&txn)), (2, None));
        assert!(!v.set_cond(&txn, Sample::Int(7), c("ifnotexists")));
        assert!(!v.set_cond(&txn, Sample::Int(7), c("ifset")));
        assert!(v.set_cond(&txn, Sample::str(""), c("ifnotset,ifempty")));
        assert!(!v.set_cond(&txn, Sample::str(""), c("ifnotempty")));
        assert!(v.set_cond(&txn, Sample::str("a"), c("ifnotempty")));
        // ifgt/iflt only between integers.
        assert!(v.set_cond(&txn, Sample::Int(5), c("ifgt")));
        assert!(!v.set_cond(&txn, Sample::Int(55), c("ifgt")));
        assert!(v.set_cond(&txn, Sample::Int(2), c("ifgt")));
        assert!(!v.set_cond(&txn, Sample::Int(2), c("iflt")));
        assert!(v.set_cond(&txn, Sample::Int(3), c("iflt")));
        assert!(v.set_cond(&txn, Sample::str("t"), c("ifgt,iflt")));
        assert_eq!(v.get(&txn), Some(&Sample::str("t")));
        assert_eq!(
            VarCond::split("x,ifbig").unwrap_err(),
            "unknown condition \"ifbig\""
        );
    }

    fn build(text: &str) -> Result<Engine, StartError> {
        let parsed =
            crate::cfgparse::parse("t.cfg", text, crate::cfgparse::ParseOptions::new("t.cfg"))
                .unwrap_or_else(|e| panic!("{e}"));
        let resolver = |_: &str, _: u16| None;
        Engine::from_config(
            crate::time::Time::ZERO,
            &parsed.config,
            crate::engine::EngineOptions::default(),
            &resolver,
        )
    }

    fn proc_var(e: &Engine, name: &str) -> Option<Sample> {
        e.proc_vars
            .get(&VarName::parse(&format!("proc.{name}")).unwrap())
            .cloned()
    }

    /// vars.vtc's global section: each line reads what the earlier ones
    /// set, `var()` has a string default, `set-var-fmt` renders a format.
    #[test]
    fn global_set_var_in_order() {
        let e = build(concat!(
            "global\n",
            "  set-var proc.int12 int(12)\n",
            "  set-var proc.int5 var(proc.str60,60),div(proc.int12)\n",
            "  set-var proc.str1 str(\"this is\")\n",
            "  set-var proc.str var(proc.str1)\n",
            "  set-var-fmt proc.str \"%[var(proc.str)] a string\"\n",
            "  set-var proc.uuid uuid()\n",
            "  set-var proc.none var(proc.nothing)\n",
            "defaults\n  mode http\n",
        ))
        .unwrap();
        assert_eq!(proc_var(&e, "int12"), Some(Sample::Int(12)));
        assert_eq!(proc_var(&e, "int5"), Some(Sample::Int(5)));
        assert_eq!(proc_var(&e, "str"), Some(Sample::str("this is a string")));
        let uuid = proc_var(&e, "uuid").and_then(|s| s.into_bytes()).unwrap();
        assert_eq!(uuid.len(), 36);
        // An expression without a value sets nothing.
        assert_eq!(proc_var(&e, "none"), None);
    }

    #[test]
    fn global_set_var_errors() {
        let err = |t: &str| build(&format!("global\n  {t}\n")).err().unwrap();
        let e = err("set-var txn.x int(1)");
        assert_eq!(e.line, 2);
        assert!(
            e.message
                .contains("only scope 'proc' is permitted in the global section"),
            "{}",
            e.message
        );
        // No stream, no connection: `src` reads nothing HAProxy has here.
        let e = err("set-var proc.x src");
        assert!(
            e.message
                .contains("fetch method 'set-var(proc.x)' extracts information from"),
            "{}",
            e.message
        );
        assert!(err("set-var-fmt proc.x \"%[fe_name]\"")
            .message
            .contains("none of which is available here"));
        assert!(err("set-var proc.x nosuchfetch")
            .message
            .contains("nosuchfetch"));
    }

    #[test]
    fn global_set_var_shape() {
        let r = crate::cfgparse::parse(
            "t.cfg",
            "global\n  set-var proc.x\n",
            crate::cfgparse::ParseOptions::new("t.cfg"),
        );
        let e = r.err().unwrap().to_string();
        assert!(
            e.contains("'set-var' requires a process-wide variable name ('proc.<name>') and a sample expression."),
            "{e}"
        );
        let r = crate::cfgparse::parse(
            "t.cfg",
            "global\n  set-var proc.x int(1) extra\n",
            crate::cfgparse::ParseOptions::new("t.cfg"),
        )
        .unwrap();
        assert_eq!(r.config.global.set_vars.len(), 1);
        assert_eq!(r.warnings.len(), 1);
    }
}
