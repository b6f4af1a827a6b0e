//! The stats socket's command line: HAProxy's CLI applet (`src/cli.c`).
//!
//! A CLI session is an applet on a stats socket connection. It reads one
//! line, executes the commands it holds (several may be separated by `;`),
//! writes their output and, in the default non-interactive mode, closes once
//! the output is flushed. `prompt` switches to interactive mode: a `> `
//! prompt after each answer and the session stays open until `quit`.
//!
//! Lifecycle:
//! ```text
//!   accept -> Reading --line--> answer; more input or prompt mode --> Reading
//!                                     \--> Closing (nothing more to read)
//!   `quit`, read0, or a line over the limit (answered) --> Closing
//!   Closing --output flushed--> Draining (FIN sent; input read and dropped)
//!   answer of `show stat`/`show info` with threads --> Waiting
//!   Waiting --every thread answered--> the rest of the line; Reading
//!   Draining --read0 or stats timeout--> closed
//! ```
//!
//! As in HAProxy, a non-interactive session answers every line already
//! received (a client may send several at once) and closes when no input
//! is left; an empty command (an empty line, or nothing between two `;`)
//! is answered with the command list. Closing goes through `Draining` so
//! that input the session will never read (the rest of a line that was too
//! long, lines after `quit`) does not turn the close into a reset, which
//! could destroy the answer before the client reads it.
//! Invariant: the input buffer never holds more than `MAX_LINE` bytes, and
//! pending output is bounded by what one command produces (large dumps are
//! produced in chunks as the socket drains).

use std::collections::VecDeque;

use crate::buf::Buffer;

/// Longest accepted command line, as HAProxy's default `tune.bufsize` bounds it.
pub const MAX_LINE: usize = 16384;

/// The answer to a line over [`MAX_LINE`]. HAProxy 2.6 closes without a
/// word (the client gets a reset); later versions answer with an error,
/// as Sluice does.
pub const LINE_TOO_LONG: &str = "The command line is too big for the buffer size (16384 bytes).\n";

/// The end of a request line that a payload follows (HAProxy's
/// `PAYLOAD_PATTERN`): the lines after it, up to an empty line, are the
/// command's payload (`set ssl cert FILE <<`).
pub const PAYLOAD_PATTERN: &str = "<<";

/// A request line did not fit in the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineTooLong;

/// Where a CLI session stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CliState {
    /// Waiting for a complete line.
    Reading,
    /// Writing output; more may still be produced by a dump in progress.
    Output,
    /// Waiting for the other threads' counters (`show stat`/`show info`
    /// with `nbthread` > 1, stats_threads.rs): nothing more is executed
    /// until they come.
    Waiting,
    /// Nothing more to execute: flush the output, then drain.
    Closing,
    /// Output flushed and write side shut: input is read and dropped until
    /// the client closes or the stats timeout fires.
    Draining,
}

/// One stats socket connection.
#[derive(Debug)]
pub struct CliSession {
    pub state: CliState,
    /// Interactive (`prompt`) mode.
    pub interactive: bool,
    /// `experimental-mode on`: experimental commands (`set var`) run.
    pub experimental: bool,
    pub rx: Buffer,
    /// Output waiting for the socket, in order.
    pub tx: VecDeque<u8>,
    /// The client shut its write side.
    pub read0: bool,
    /// The stats socket has `expose-fd listeners`: `_getsocks` is
    /// answered.
    pub expose_fd: bool,
    /// The query this session waits for ([`CliState::Waiting`]).
    pub wait: Option<Box<super::stats_threads::CliWait>>,
}

impl CliSession {
    pub fn new() -> CliSession {
        CliSession {
            state: CliState::Reading,
            interactive: false,
            experimental: false,
            rx: Buffer::with_capacity(MAX_LINE),
            tx: VecDeque::new(),
            read0: false,
            expose_fd: false,
            wait: None,
        }
    }

    /// Takes the next complete line out of the input buffer (without its
    /// LF and an optional CR before it). `Err(())` when the buffer is full
    /// and holds no LF: the line is too long.
    pub fn take_line(&mut self) -> Result<Option<String>, LineTooLong> {
        let data = self.rx.data();
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let mut line = &data[..i];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let line = String::from_utf8_lossy(line).into_owned();
                self.rx.consume(i + 1);
                Ok(Some(line))
            }
            None if self.rx.is_full() => Err(LineTooLong),
            None if self.read0 && !self.rx.is_empty() => {
                // A last line without LF, as `echo -n cmd | socat` sends.
                let line = String::from_utf8_lossy(self.rx.data()).into_owned();
                self.rx.reset();
                Ok(Some(line))
            }
            None => Ok(None),
        }
    }

    /// Takes the next complete request: a line, and when it ends with
    /// [`PAYLOAD_PATTERN`] (removed from it) the lines that follow up to
    /// an empty line, or to the end of input. The whole request must fit
    /// in the input buffer, as in HAProxy (`tune.bufsize`).
    pub fn take_request(&mut self) -> Result<Option<(String, Option<String>)>, LineTooLong> {
        let data = self.rx.data();
        let Some(i) = data.iter().position(|&b| b == b'\n') else {
            return self.take_line().map(|l| l.map(|l| (l, None)));
        };
        let mut first = &data[..i];
        if first.last() == Some(&b'\r') {
            first = &first[..first.len() - 1];
        }
        if !first.ends_with(PAYLOAD_PATTERN.as_bytes()) {
            return self.take_line().map(|l| l.map(|l| (l, None)));
        }
        let line = &first[..first.len() - PAYLOAD_PATTERN.len()];
        // The payload ends at the first empty line.
        let body = &data[i + 1..];
        let mut at = 0;
        let end = loop {
            match body[at..].iter().position(|&b| b == b'\n') {
                Some(k) => {
                    let l = &body[at..at + k];
                    if l.is_empty() || l == b"\r" {
                        break Some((at, at + k + 1));
                    }
                    at += k + 1;
                }
                None => break None,
            }
        };
        let (payload_len, taken) = match end {
            Some((p, t)) => (p, t),
            None if self.rx.is_full() => return Err(LineTooLong),
            None if self.read0 => (body.len(), body.len()),
            None => return Ok(None),
        };
        let line = String::from_utf8_lossy(line).into_owned();
        let payload = String::from_utf8_lossy(&body[..payload_len]).into_owned();
        self.rx.consume(i + 1 + taken);
        Ok(Some((line, Some(payload))))
    }

    pub fn write_str(&mut self, s: &str) {
        self.tx.extend(s.as_bytes());
    }
}

impl Default for CliSession {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits a request line into commands (separated by unescaped `;`) and
/// each command into words (separated by unescaped spaces or tabs), with
/// HAProxy's backslash escaping: `\;`, `\ ` and `\\` stand for themselves.
/// Empty commands are kept (HAProxy answers them with the command list):
/// a line always holds at least one command, `a;` holds two.
pub fn split_commands(line: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    word.push(n);
                    in_word = true;
                }
            }
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ';' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                commands.push(std::mem::take(&mut words));
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    commands.push(words);
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_and_words_with_escapes() {
        assert_eq!(
            split_commands("show table;  show peers ; set table t key a\\ b data.gpc0 1"),
            vec![
                vec!["show", "table"],
                vec!["show", "peers"],
                vec!["set", "table", "t", "key", "a b", "data.gpc0", "1"],
            ]
        );
        assert_eq!(split_commands("a\\;b"), vec![vec!["a;b"]]);
        // Empty commands stay, to be answered as HAProxy does.
        let none: Vec<String> = Vec::new();
        assert_eq!(split_commands(""), vec![none.clone()]);
        assert_eq!(split_commands("  ; ;"), vec![none.clone(); 3]);
        assert_eq!(
            split_commands("show info;"),
            vec![vec!["show".to_string(), "info".to_string()], none]
        );
    }

    #[test]
    fn lines_are_taken_one_by_one() {
        let mut s = CliSession::new();
        s.rx.put(b"help\r\nshow");
        assert_eq!(s.take_line(), Ok(Some("help".to_string())));
        assert_eq!(s.take_line(), Ok(None));
        s.read0 = true;
        assert_eq!(s.take_line(), Ok(Some("show".to_string())));
        assert_eq!(s.take_line(), Ok(None));
    }

    #[test]
    fn a_payload_runs_to_an_empty_line() {
        let mut s = CliSession::new();
        s.rx.put(b"set ssl cert f <<\nA\nB\n");
        assert_eq!(s.take_request(), Ok(None));
        s.rx.put(b"\nshow ssl cert\n");
        assert_eq!(
            s.take_request(),
            Ok(Some((
                "set ssl cert f ".to_string(),
                Some("A\nB\n".to_string())
            )))
        );
        assert_eq!(
            s.take_request(),
            Ok(Some(("show ssl cert".to_string(), None)))
        );
        // Input ends before the empty line: what came is the payload.
        s.rx.put(b"set ssl cert f <<\nA\n");
        s.read0 = true;
        assert_eq!(
            s.take_request(),
            Ok(Some((
                "set ssl cert f ".to_string(),
                Some("A\n".to_string())
            )))
        );
    }

    #[test]
    fn a_line_longer_than_the_buffer_is_refused() {
        let mut s = CliSession::new();
        s.rx.put(&[b'a'; MAX_LINE]);
        assert_eq!(s.take_line(), Err(LineTooLong));
    }
}
