//! The stats socket's command line, over real sockets, next to HAProxy 2.6
//! fed the same configuration: `help` names only commands that run and
//! HAProxy also has, an empty line gets the command list, several lines
//! sent at once are all answered, and a line over the limit gets an error
//! message followed by a clean close rather than a reset.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::*;

fn config(dir: &TempDir, tag: &str, extra_global: &str) -> String {
    format!(
        "{}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nbackend b\n    stick-table type ip size 10\n    server s1 127.0.0.1:9 weight 10\n",
        global_section(&dir.join(&format!("{tag}.sock")), extra_global)
    )
}

/// Sends `bytes` in one write and reads until the end: the answer and how
/// it ended (`Ok`: clean EOF, `Err`: the error, a reset for instance).
fn exchange(mut s: impl Read + Write, bytes: &[u8]) -> (String, Result<(), ErrorKind>) {
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e.kind()),
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), end)
}

fn unix(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).expect("connect stats socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect stats socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// The command words of a `help` line: its usage up to the first
/// placeholder (`<x>`, `[x]`, `(x)`, `a|b`).
fn command_words(help_line: &str) -> Option<String> {
    let usage = help_line.strip_prefix("  ")?.split(':').next()?;
    let words: Vec<&str> = usage
        .split_whitespace()
        .take_while(|w| !w.starts_with(['<', '[', '(']) && !w.contains('|'))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[test]
fn help_names_only_commands_that_run_and_haproxy_has() {
    let dir = TempDir::new("clihelp");
    let p = Sluice::run(&dir, "p", &config(&dir, "p", ""));
    let help = p.cli("help");
    assert!(
        help.starts_with("The following commands are valid at this level:\n"),
        "{help}"
    );
    let cmds: Vec<String> = help.lines().skip(1).filter_map(command_words).collect();
    for c in [
        "show table",
        "show stat",
        "show info",
        "show peers",
        "set table",
        "clear table",
        "get weight",
        "set server",
        "set weight",
        "disable server",
        "enable server",
        "help",
        "prompt",
        "quit",
    ] {
        assert!(cmds.iter().any(|x| x == c), "help lacks {c}:\n{help}");
    }
    for c in &cmds {
        // `prompt` keeps the session open: leave it at once.
        let out = match c.as_str() {
            "prompt" => p.cli("prompt;quit"),
            // HAProxy 2.6's help spells the command `new ssl crlfile`; the
            // command is `new ssl crl-file` (Sluice keeps the help line).
            "new ssl crlfile" => p.cli("new ssl crl-file"),
            c => p.cli(c),
        };
        assert!(
            !out.starts_with("Unknown command"),
            "'{c}' is listed by help but unknown:\n{out}"
        );
    }
    // Commands Sluice does not have are unknown, and say so.
    assert!(p.cli("show pools").starts_with("Unknown command"));

    if !haproxy_or_skip("help_names_only_commands_that_run_and_haproxy_has") {
        return;
    }
    let ha = HaRun::start(&dir, "h", &config(&dir, "h", ""));
    let ha_help = ha.cli("help");
    let ha_cmds: Vec<String> = ha_help.lines().skip(1).filter_map(command_words).collect();
    for c in &cmds {
        assert!(
            ha_cmds.iter().any(|x| x == c),
            "Sluice lists '{c}', HAProxy 2.6 has no such command:\n{ha_help}"
        );
    }
}

/// Regression: the stats socket answered an empty line with nothing (and
/// waited for another line); HAProxy answers it with the command list.
/// Lines sent together are all answered, as HAProxy does.
#[test]
fn an_empty_line_gets_the_command_list_as_in_haproxy() {
    let dir = TempDir::new("cliempty");
    let p = Sluice::run(&dir, "p", &config(&dir, "p", ""));
    let unknown = "Unknown command. Please enter one of the following commands only:\n";
    let mut answers = vec![("sluice", exchange(unix(&p.sock), b"\n"))];
    let pipelined = exchange(unix(&p.sock), b"show info\n\n");
    let ha = haproxy_or_skip("an_empty_line_gets_the_command_list_as_in_haproxy")
        .then(|| HaRun::start(&dir, "h", &config(&dir, "h", "")));
    if let Some(ha) = &ha {
        answers.push(("haproxy", exchange(unix(&ha.sock), b"\n")));
        let (out, end) = exchange(unix(&ha.sock), b"show info\n\n");
        assert!(
            out.starts_with("Name: HAProxy") && out.contains(unknown),
            "{out}"
        );
        assert_eq!(end, Ok(()));
    }
    for (who, (out, end)) in answers {
        assert!(out.starts_with(unknown), "{who}: {out:?}");
        assert!(out.contains("  help [<command>]"), "{who}: {out}");
        assert_eq!(end, Ok(()), "{who}");
    }
    let (out, end) = pipelined;
    assert!(
        out.starts_with("Name: Sluice") && out.contains(unknown),
        "{out}"
    );
    assert_eq!(end, Ok(()));
}

/// Regression: a line over the limit got the session reset, so the client
/// could lose the answer (HAProxy 2.6 says nothing, and resets or keeps the
/// session). Sluice
/// answers with an error and closes cleanly, on a unix and a TCP socket.
#[test]
fn a_too_long_line_gets_an_error_and_a_clean_close() {
    let dir = TempDir::new("clilong");
    let port = free_ports(1)[0];
    let extra = format!("    stats socket ipv4@127.0.0.1:{port} level admin");
    let p = Sluice::run(&dir, "p", &config(&dir, "p", &extra));
    let mut long = b"show info ".to_vec();
    long.resize(20_000, b'x');
    long.push(b'\n');
    let want = "The command line is too big for the buffer size (16384 bytes).\n";
    for (how, (out, end)) in [
        ("unix", exchange(unix(&p.sock), &long)),
        ("tcp", exchange(tcp(port), &long)),
    ] {
        assert_eq!(out, want, "{how}");
        assert_eq!(end, Ok(()), "{how}: the close must not be a reset");
    }
    // The session is gone and the socket still serves.
    assert!(p.cli("show info").starts_with("Name: Sluice"));

    if !haproxy_or_skip("a_too_long_line_gets_an_error_and_a_clean_close") {
        return;
    }
    // HAProxy 2.6, for the record: no message.
    let ha = HaRun::start(&dir, "h", &config(&dir, "h", "    stats timeout 1s"));
    let s = unix(&ha.sock);
    // It may also keep the session open past its timeout: do not wait long.
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let (out, _end) = exchange(s, &long);
    assert_eq!(out, "", "haproxy 2.6 answered a too long line");
}
