//! Where log lines go: HAProxy's `log` targets that make sense for a
//! foreground process (`stdout`, `stderr`, or a file), with HAProxy's
//! `format raw` (the message alone) or a short syslog-like prefix.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};

use sluice_core::sock::{LogLevel, LogLine};

/// A destination for log lines.
pub enum LogTarget {
    Stdout,
    Stderr,
    File(File),
}

/// The process's log sink: traffic and event logs from the engine, plus the
/// driver's own alerts. Alerts and warnings always reach stderr, as
/// HAProxy's do in foreground mode.
pub struct LogSink {
    targets: Vec<LogTarget>,
    /// Suppress the driver's own notices (`-q`).
    pub quiet: bool,
}

impl LogSink {
    pub fn new(quiet: bool) -> LogSink {
        LogSink {
            targets: Vec::new(),
            quiet,
        }
    }

    pub fn add_stderr(&mut self) {
        self.targets.push(LogTarget::Stderr);
    }

    pub fn add_stdout(&mut self) {
        self.targets.push(LogTarget::Stdout);
    }

    pub fn add_file(&mut self, path: &str) -> io::Result<()> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        self.targets.push(LogTarget::File(f));
        Ok(())
    }

    /// Writes one engine log line to every target (alerts also to stderr).
    pub fn write(&mut self, line: &LogLine) {
        let mut on_stderr = false;
        for t in &mut self.targets {
            let _ = match t {
                LogTarget::Stdout => writeln!(io::stdout().lock(), "{}", line.text),
                LogTarget::Stderr => {
                    on_stderr = true;
                    writeln!(io::stderr().lock(), "{}", line.text)
                }
                LogTarget::File(f) => writeln!(f, "{}", line.text),
            };
        }
        if !on_stderr && line.level <= LogLevel::Warning && !self.quiet {
            let tag = if line.level <= LogLevel::Alert {
                "ALERT"
            } else {
                "WARNING"
            };
            let _ = writeln!(io::stderr().lock(), "[{tag}] {}", line.text);
        }
    }

    /// The driver's own alert, on stderr, as HAProxy prints them.
    pub fn alert(&mut self, text: &str) {
        let _ = writeln!(io::stderr().lock(), "[ALERT] {text}");
    }

    /// The driver's own notice, on stderr unless quiet.
    pub fn notice(&mut self, text: &str) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "[NOTICE] {text}");
        }
    }
}
