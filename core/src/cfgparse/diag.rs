//! Errors and warnings of the configuration parser, shaped like HAProxy's
//! `ha_alert("parsing [%s:%d] : ...")` / `ha_warning(...)` messages.
//!
//! A [`Diagnostic`] always knows the file and line it comes from and the
//! keyword it is about. Parsing never stops at the first error: the parser
//! collects them in [`Diags`] (up to a bound, like HAProxy's 50 fatal errors
//! per file) and hands all of them back.

use core::fmt;

/// One error or warning about the configuration.
///
/// Displays like HAProxy: `parsing [haproxy.cfg:12] : 'server' expects <name>
/// and <addr>[:<port>] as arguments.`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The configuration file, as named by the driver.
    pub file: String,
    /// 1-based line number in `file`.
    pub line: u32,
    /// The keyword the message is about: the directive's first word
    /// (`server`, `timeout`), or its first two for some two-word directives
    /// (`stats socket`, `timeout connect`). For a line that could not be cut
    /// into words, its first raw token; empty when the whole file is
    /// concerned (too many errors).
    pub keyword: String,
    /// The message, without the `parsing [file:line] : ` prefix.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic about `keyword` at `file:line`.
    pub fn new(
        file: impl Into<String>,
        line: u32,
        keyword: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            line,
            keyword: keyword.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parsing [{}:{}] : {}",
            self.file, self.line, self.message
        )
    }
}

/// What parsing or checking produced: errors make the configuration
/// unusable, warnings are for the operator to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diags {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Diags {
    pub fn error(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    pub fn warn(&mut self, d: Diagnostic) {
        self.warnings.push(d);
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Appends everything from `other`.
    pub fn extend(&mut self, other: Diags) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }
}

/// The configuration was rejected: every error found (in file order), and
/// the warnings emitted before the parser gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Display for ConfigErrors {
    /// One error per line, as `haproxy -c` prints its alerts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<Diags> for ConfigErrors {
    fn from(d: Diags) -> ConfigErrors {
        ConfigErrors {
            errors: d.errors,
            warnings: d.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_haproxy() {
        let d = Diagnostic::new(
            "haproxy.cfg",
            12,
            "server",
            "'server' expects <name> and <addr>[:<port>] as arguments.",
        );
        assert_eq!(
            d.to_string(),
            "parsing [haproxy.cfg:12] : 'server' expects <name> and <addr>[:<port>] as arguments."
        );
    }
}
