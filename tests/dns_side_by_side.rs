//! DNS service discovery side by side with HAProxy 2.6 fed the same
//! configuration (`resolvers`, `server ... resolvers`, `server-template`,
//! `init-addr none`): a small DNS server of the test's own (UDP on a free
//! port, answers the test changes) names backends on 127.0.0.2, .3 and .4.
//! Traffic goes to the address the DNS gives, follows a change within
//! `hold valid`, a template's slots take distinct addresses of the answer
//! (the others stay `MAINT (resolution)`), and a name that stops existing
//! puts its server in `MAINT (resolution)` after `hold nx`. On the CLI,
//! `set server B/S fqdn` answers in HAProxy's words (no resolvers, no
//! change, a bad name, no name) and moves the server to the new name's
//! address; `show servers state` shows the name; `show resolvers` has
//! HAProxy's layout and counts what happened.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sluice_core::dns::codec::{self, Rcode};

/// What the test DNS server answers for a name (A queries; AAAA get an
/// empty answer).
#[derive(Clone, Debug)]
enum Answer {
    Ips(Vec<IpAddr>),
    Nx,
}

/// A DNS server on 127.0.0.1 answering from a table the test changes.
struct Dns {
    port: u16,
    table: Arc<Mutex<BTreeMap<String, Answer>>>,
    stop: Arc<AtomicBool>,
}

impl Dns {
    fn start() -> Dns {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
        let port = sock.local_addr().unwrap().port();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let table: Arc<Mutex<BTreeMap<String, Answer>>> = Default::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (t, st) = (table.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let q = &buf[..n];
                let Some(name) = qname(q) else { continue };
                let a_query = q.len() > 12 && qtype(q) == Some(1);
                let reply = match t.lock().unwrap().get(&name) {
                    Some(Answer::Nx) | None => codec::encode_response(q, Rcode::NXDOMAIN, &[], 0),
                    Some(Answer::Ips(ips)) if a_query => {
                        codec::encode_response(q, Rcode::NOERROR, ips, 1)
                    }
                    Some(Answer::Ips(_)) => codec::encode_response(q, Rcode::NOERROR, &[], 1),
                };
                if let Some(r) = reply {
                    let _ = sock.send_to(&r, from);
                }
            }
        });
        Dns { port, table, stop }
    }

    fn set(&self, name: &str, a: Answer) {
        self.table.lock().unwrap().insert(name.to_string(), a);
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The question's name of a query (lowercase, dotted).
fn qname(q: &[u8]) -> Option<String> {
    let mut pos = 12;
    let mut out = Vec::new();
    loop {
        let len = *q.get(pos)? as usize;
        if len == 0 {
            break;
        }
        out.push(String::from_utf8_lossy(q.get(pos + 1..pos + 1 + len)?).to_lowercase());
        pos += 1 + len;
    }
    Some(out.join("."))
}

fn qtype(q: &[u8]) -> Option<u16> {
    let mut pos = 12;
    while *q.get(pos)? != 0 {
        pos += 1 + *q.get(pos)? as usize;
    }
    Some(u16::from_be_bytes([*q.get(pos + 1)?, *q.get(pos + 2)?]))
}

/// Backends on 127.0.0.N:port that write "N\n" to each client.
fn backend(n: u8, port: u16, stop: Arc<AtomicBool>) {
    let l = TcpListener::bind(("127.0.0.".to_string() + &n.to_string(), port)).expect("bind");
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((mut s, _)) => {
                    use std::io::Write;
                    let _ = s.write_all(format!("{n}\n").as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
}

/// Which backend a connection through `port` reaches ("" when none).
fn reach(port: u16) -> String {
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut s = String::new();
    let _ = c.read_to_string(&mut s);
    s.trim().to_string()
}

/// `status` of each server of `px` in `show stat`.
fn statuses(cli: &dyn Fn(&str) -> String, px: &str) -> BTreeMap<String, String> {
    parse_stat(&cli("show stat"))
        .into_iter()
        .filter(|((p, s), _)| p == px && s != "BACKEND" && s != "FRONTEND")
        .map(|((_, s), r)| (s, r["status"].clone()))
        .collect()
}

/// A proxy's stats socket, and its output so far.
type Cli = Box<dyn Fn(&str) -> String>;
type Output = Box<dyn Fn() -> String>;

/// What one proxy did, to compare.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    first: String,
    after_change: String,
    template: Vec<String>,
    template_reached: Vec<String>,
    nx_status: String,
    /// `set server ... fqdn` answers, in order.
    set_fqdn: Vec<String>,
    /// Where `app` sends traffic after `set server app/s1 fqdn new.test`,
    /// and `show servers state app`'s `srv_fqdn` then.
    after_fqdn: String,
    state_fqdn: String,
    /// `show resolvers dns` with its numbers replaced by `N`, and whether
    /// `sent`, `valid`, `update` and `nx` counted something.
    resolvers: String,
    counted: bool,
    no_section: String,
}

/// `show resolvers` with every number replaced by `N`, and whether the
/// first nameserver counted sent, valid, update and nx answers.
fn resolvers_shape(out: &str) -> (String, bool) {
    let mut shape = String::new();
    let mut got = BTreeMap::new();
    for l in out.lines() {
        match l.rsplit_once(' ') {
            Some((k, v)) if v.parse::<u64>().is_ok() => {
                got.entry(k.trim().to_string())
                    .or_insert_with(|| v.parse::<u64>().unwrap());
                shape.push_str(k);
                shape.push_str(" N\n");
            }
            _ => {
                shape.push_str(l);
                shape.push('\n');
            }
        }
    }
    let n = |k: &str| got.get(k).copied().unwrap_or(0);
    let counted = n("sent:") > 0 && n("valid:") > 0 && n("update:") > 0 && n("nx:") > 0;
    (shape, counted)
}

fn run(who: &str, dir: &TempDir) -> (Seen, Vec<String>) {
    let dns = Dns::start();
    dns.set("app.test", Answer::Ips(vec!["127.0.0.2".parse().unwrap()]));
    dns.set(
        "pool.test",
        Answer::Ips(vec![
            "127.0.0.3".parse().unwrap(),
            "127.0.0.4".parse().unwrap(),
        ]),
    );
    let p = free_ports(3);
    let (fe, fe2, bport) = (p[0], p[1], p[2]);
    let stop = Arc::new(AtomicBool::new(false));
    for n in [2, 3, 4] {
        backend(n, bport, stop.clone());
    }
    let cfg = format!(
        "{}resolvers dns\n    nameserver ns1 127.0.0.1:{}\n    hold valid 1s\n    hold nx 1s\n    hold obsolete 0s\n    timeout resolve 200ms\n    timeout retry 200ms\n    resolve_retries 2\n\
         defaults\n    mode tcp\n    log global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         listen app\n    bind 127.0.0.1:{fe}\n    server s1 app.test:{bport} resolvers dns resolve-prefer ipv4 init-addr none\n\
         listen tpl\n    bind 127.0.0.1:{fe2}\n    balance roundrobin\n    server-template web 3 pool.test:{bport} resolvers dns resolve-prefer ipv4 init-addr none\n\
         backend fixed\n    server f1 127.0.0.2:{bport}\n",
        global_section(&dir.join(&format!("{who}.sock")), ""),
        dns.port,
    );
    let (cli, output): (Cli, Output) = if who == "ha" {
        let ha = Arc::new(HaRun::start(dir, who, &cfg));
        let h2 = ha.clone();
        (
            Box::new(move |c| ha.cli(c)),
            Box::new(move || h2.proc.output()),
        )
    } else {
        let s = Arc::new(Sluice::run(dir, who, &cfg));
        let s2 = s.clone();
        (Box::new(move |c| s.cli(c)), Box::new(move || s2.log()))
    };
    let up = |px: &str, n: usize| {
        poll(Duration::from_secs(5), Duration::from_millis(20), || {
            let st = statuses(&*cli, px);
            (st.values()
                .filter(|v| v.starts_with("UP") || *v == "no check")
                .count()
                >= n)
                .then_some(st)
        })
    };
    assert!(
        up("app", 1).is_some(),
        "{who}: app/s1 never came up:\n{}",
        output()
    );
    let first = reach(fe);
    // The name moves: new connections follow within `hold valid`.
    dns.set("app.test", Answer::Ips(vec!["127.0.0.4".parse().unwrap()]));
    let t0 = std::time::Instant::now();
    let after_change = poll(Duration::from_secs(3), Duration::from_millis(20), || {
        let r = reach(fe);
        (r == "4").then_some(r)
    })
    .unwrap_or_default();
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{who}: the change took {:?}",
        t0.elapsed()
    );
    // The template: two addresses for three slots.
    let st = up("tpl", 2).unwrap_or_default();
    let mut template: Vec<String> = st.into_values().collect();
    template.sort();
    let mut template_reached: Vec<String> = (0..4).map(|_| reach(fe2)).collect();
    template_reached.sort();
    template_reached.dedup();
    // The name goes away: MAINT (resolution) after `hold nx`.
    dns.set("app.test", Answer::Nx);
    let nx_status = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        let s = statuses(&*cli, "app").remove("s1").unwrap_or_default();
        s.starts_with("MAINT").then_some(s)
    })
    .unwrap_or_default();
    // The CLI: `set server ... fqdn`, then the server follows its new name.
    dns.set("new.test", Answer::Ips(vec!["127.0.0.3".parse().unwrap()]));
    let set_fqdn: Vec<String> = [
        "set server fixed/f1 fqdn foo.fqdn",
        "set server app/s1 fqdn",
        "set server app/s1 fqdn app.test",
        "set server app/s1 fqdn bad!name",
        "set server app/s1 fqdn a..b",
        "set server app/nope fqdn x.test",
        "set server app/s1 fqdn new.test",
    ]
    .iter()
    .map(|c| cli(c).trim_end().to_string())
    .collect();
    let after_fqdn = poll(Duration::from_secs(3), Duration::from_millis(20), || {
        let r = reach(fe);
        (r == "3").then_some(r)
    })
    .unwrap_or_default();
    let state_fqdn = cli("show servers state app")
        .lines()
        .find(|l| l.split(' ').nth(3) == Some("s1"))
        .and_then(|l| l.split(' ').nth(17).map(str::to_string))
        .unwrap_or_default();
    let (resolvers, counted) = resolvers_shape(cli("show resolvers dns").trim_end());
    let no_section = cli("show resolvers nope").trim_end().to_string();
    stop.store(true, Ordering::Relaxed);
    let logs: Vec<String> = output()
        .lines()
        // HAProxy also writes them on stderr as [WARNING]s.
        .filter(|l| !l.starts_with('['))
        .filter(|l| l.contains("changed its IP") || l.contains("maintenance"))
        .map(|l| l.trim().to_string())
        .collect();
    (
        Seen {
            first,
            after_change,
            template,
            template_reached,
            nx_status,
            set_fqdn,
            after_fqdn,
            state_fqdn,
            resolvers,
            counted,
            no_section,
        },
        logs,
    )
}

#[test]
fn dns_resolution_side_by_side() {
    let dir = TempDir::new("dns_side_by_side");
    let (sluice, sluice_logs) = run("sluice", &dir);
    let want = Seen {
        first: "2".into(),
        after_change: "4".into(),
        template: vec![
            "MAINT (resolution)".into(),
            "no check".into(),
            "no check".into(),
        ],
        template_reached: vec!["3".into(), "4".into()],
        nx_status: "MAINT (resolution)".into(),
        set_fqdn: vec![
            "set server <b>/<s> fqdn failed because no resolution is configured.".into(),
            "set server <b>/<s> fqdn requires a FQDN.".into(),
            "no need to change the FDQN by 'stats socket command'".into(),
            "invalid fqdn 'bad!name' by 'stats socket command'".into(),
            "could not update app/s1 FQDN by 'stats socket command'".into(),
            "No such server.".into(),
            "app/s1 changed its FQDN from app.test to new.test by 'stats socket command'".into(),
        ],
        after_fqdn: "3".into(),
        state_fqdn: "new.test".into(),
        resolvers: format!(
            "Resolvers section dns\n nameserver ns1:\n{}",
            [
                "sent:       ",
                "snd_error:  ",
                "valid:      ",
                "update:     ",
                "cname:      ",
                "cname_error:",
                "any_err:    ",
                "nx:         ",
                "timeout:    ",
                "refused:    ",
                "other:      ",
                "invalid:    ",
                "too_big:    ",
                "truncated:  ",
                "outdated:   ",
            ]
            .iter()
            .map(|k| format!("  {k} N\n"))
            .collect::<String>()
        ),
        counted: true,
        no_section: "Can't find that resolvers section".into(),
    };
    assert_eq!(sluice, want, "sluice logs: {sluice_logs:#?}");
    if !haproxy_or_skip("dns_resolution_side_by_side") {
        return;
    }
    let (ha, ha_logs) = run("ha", &dir);
    assert_eq!(ha, want, "haproxy logs: {ha_logs:#?}");
    // The address changes and the maintenance are logged in the same
    // words (the templates' slots in the order each fills them).
    let mut sorted = [sluice_logs, ha_logs];
    for l in &mut sorted {
        l.sort();
    }
    assert_eq!(sorted[0], sorted[1], "sluice, then haproxy");
}
