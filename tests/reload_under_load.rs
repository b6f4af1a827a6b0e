//! Zero-downtime reloads under load (issue 12): keep-alive clients send
//! requests without pause through the proxy while it is reloaded twice
//! (`-sf OLD_PID`, the new process started on the same configuration),
//! side by side with HAProxy 2.6.
//!
//! What must hold: nothing is lost. Every request the server saw got its
//! response to the client; a client only ever sees a closed connection
//! *before* any byte of a response, on a connection it reused (which HTTP
//! clients retry on a new connection: RFC 9110 §9.2.2), and the retry
//! succeeds; and the response a stopping process sends last on a
//! connection says `Connection: close`, so that well-behaved clients do not
//! even need that retry (counted, and compared with HAProxy's).

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn cfg(fe_port: u16, srv_port: u16) -> String {
    format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{fe_port}\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{srv_port}\n"
    )
}

/// What one client saw.
#[derive(Default, Debug)]
struct Tally {
    ok: usize,
    /// Responses that said `Connection: close` (the connection was then
    /// left for a new one).
    closed_by_header: usize,
    /// A reused connection closed before any byte of the response: the
    /// request is sent again on a new connection.
    retried: usize,
    /// Anything else: an error on a new connection, a cut response.
    lost: Vec<String>,
}

/// A client: requests without pause until `stop`, a new connection when
/// the proxy asks for it or closes an idle one.
fn client(port: u16, stop: Arc<AtomicBool>) -> Tally {
    let mut t = Tally::default();
    let mut conn: Option<(BufReader<TcpStream>, usize)> = None;
    while !stop.load(Ordering::Relaxed) {
        let (mut r, used) = match conn.take() {
            Some(c) => c,
            None => match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    (BufReader::new(s), 0)
                }
                Err(e) => {
                    // Between two processes nobody may listen for an instant
                    // only if the reload is not seamless: that is a loss.
                    t.lost.push(format!("connect: {e}"));
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
        };
        let sent = r.get_mut().write_all(b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n");
        let res = match sent {
            Ok(()) => read_response(&mut r),
            Err(e) => Err((true, e.to_string())),
        };
        match res {
            Ok((200, close)) => {
                t.ok += 1;
                if close {
                    t.closed_by_header += 1;
                } else {
                    conn = Some((r, used + 1));
                }
            }
            Ok((st, _)) => t.lost.push(format!("status {st}")),
            Err((true, _)) if used > 0 => t.retried += 1,
            Err((_, why)) => t
                .lost
                .push(format!("{why} (after {used} on the connection)")),
        }
    }
    t
}

/// Runs 16 clients for 3 s through the proxy started by `start` (given
/// the `-sf` pid list), reloading at 1 s and 2 s; returns the tallies and
/// the server's request count.
fn run(start: &dyn Fn(&[u32]) -> Proc, fe_port: u16) -> (Tally, usize) {
    let p1 = start(&[]);
    let up = poll(Duration::from_secs(5), Duration::from_millis(10), || {
        TcpStream::connect(("127.0.0.1", fe_port)).ok()
    });
    assert!(up.is_some(), "the proxy does not listen");
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || client(fe_port, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let p2 = start(&[p1.pid()]);
    std::thread::sleep(Duration::from_secs(1));
    let p3 = start(&[p2.pid()]);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    for c in clients {
        let t = c.join().unwrap();
        total.ok += t.ok;
        total.closed_by_header += t.closed_by_header;
        total.retried += t.retried;
        total.lost.extend(t.lost);
    }
    drop((p1, p2, p3));
    (total, SEEN.load(Ordering::SeqCst))
}

/// Requests the server answered (reset per run).
static SEEN: AtomicUsize = AtomicUsize::new(0);

#[test]
fn reloads_under_load_lose_nothing() {
    if !haproxy_or_skip("reloads_under_load_lose_nothing") {
        return;
    }
    let dir = TempDir::new("reload-load");
    let ports = free_ports(2);
    let (fe_port, srv_port) = (ports[0], ports[1]);
    let _srv = TestServer::start(srv_port, |mut s, _| {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                buf.drain(..end + 4);
                if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .is_err()
                {
                    return;
                }
                SEEN.fetch_add(1, Ordering::SeqCst);
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
    let path = dir.join("reload.cfg");
    std::fs::write(&path, cfg(fe_port, srv_port)).unwrap();
    let n = AtomicUsize::new(0);
    let spawn = |bin: &std::path::Path, extra: &[&str], sf: &[u32]| {
        let mut c = Command::new(bin);
        c.args(extra).arg("-f").arg(&path);
        if !sf.is_empty() {
            c.arg("-sf");
            c.args(sf.iter().map(|p| p.to_string()));
        }
        let i = n.fetch_add(1, Ordering::SeqCst);
        Proc::spawn("proxy", c, dir.join(&format!("p{i}.log")))
    };
    let mut results = Vec::new();
    for who in ["HAProxy 2.6", "Sluice"] {
        SEEN.store(0, Ordering::SeqCst);
        let t0 = Instant::now();
        let (t, seen) = if who == "Sluice" {
            run(&|sf| spawn(proxy_mio(), &[], sf), fe_port)
        } else {
            run(
                &|sf| spawn(std::path::Path::new(haproxy_bin().unwrap()), &["-db"], sf),
                fe_port,
            )
        };
        eprintln!(
            "{who}: {} responses in {:?}, {} with Connection: close, {} retried (idle connection closed), lost {:?}; server saw {seen}",
            t.ok,
            t0.elapsed(),
            t.closed_by_header,
            t.retried,
            t.lost
        );
        results.push((who, t, seen));
        // Let the last process's port go before the next run binds it.
        std::thread::sleep(Duration::from_millis(300));
    }
    let (_, s, seen) = &results[1];
    assert!(s.ok > 100, "too little traffic to say anything: {s:?}");
    assert!(s.lost.is_empty(), "Sluice lost requests: {:?}", s.lost);
    // Nothing the server answered went unanswered to a client: each
    // request the server saw is a response a client read, or a request a
    // stopping process had not forwarded (those are the retries' cause,
    // not their effect, so seen <= ok + retried).
    assert!(
        *seen <= s.ok + s.retried && s.ok <= *seen,
        "server saw {seen}, clients got {} (+{} retried)",
        s.ok,
        s.retried
    );
    // The stopping processes told their clients.
    assert!(s.closed_by_header > 0, "{s:?}");
}
