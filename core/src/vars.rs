//! Variables set by rules (`set-var(scope.name)`), HAProxy's `vars.c`:
//! `proc.` variables live as long as the process, `sess.` ones as long as
//! the client connection, `txn.`, `req.` and `res.` ones as long as the
//! stream (one HTTP transaction, or one TCP connection).
//!
//! The scopes are kept apart (`txn.x` and `req.x` are two variables).
//! `check.` variables belong to health checks, which set none here.

use std::collections::BTreeMap;

use crate::arena::Id;
use crate::engine::Engine;
use crate::sample::{Sample, VarName, VarScope};
use crate::session::Session;
use crate::stream::Stream;

/// The variables of one holder (HAProxy's `struct vars`).
#[derive(Debug, Default, Clone)]
pub struct Vars(BTreeMap<(VarScope, String), Sample>);

impl Vars {
    pub fn get(&self, var: &VarName) -> Option<&Sample> {
        self.0.get(&(var.scope, var.name.clone()))
    }

    /// Sets (`Some`) or unsets (`None`) a variable.
    pub fn set(&mut self, var: &VarName, v: Option<Sample>) {
        let key = (var.scope, var.name.clone());
        match v {
            Some(v) => {
                self.0.insert(key, v);
            }
            None => {
                self.0.remove(&key);
            }
        }
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
}
