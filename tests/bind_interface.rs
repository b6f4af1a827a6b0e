//! `bind ... interface NAME` (issue 11 item 6: HAProxy's `SO_BINDTODEVICE`
//! on listeners), side by side with HAProxy 2.6 on the same configuration:
//! bound to `lo`, a client on 127.0.0.1 is served; bound to another
//! interface, the same client is not accepted (its SYN arrives on `lo`);
//! an interface that does not exist is a warning, and both listen
//! without it (HAProxy 2.6's `sock_inet_bind_receiver`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn cfg(sock: &std::path::Path, port: u16, iface: &str) -> String {
    format!(
        "{}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{port} interface {iface}\n    http-request return status 200 content-type text/plain string ok\n",
        global_section(sock, "")
    )
}

/// The status of a GET on `port`, or why there was none.
fn status(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .map_err(|e| format!("read: {e}"))?;
    Ok(out.split(' ').nth(1).unwrap_or("").to_string())
}

/// An interface other than `lo`, if the machine has one.
fn other_interface() -> Option<String> {
    std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != "lo")
        .min()
}

#[test]
fn bind_interface_side_by_side() {
    if !haproxy_or_skip("bind_interface_side_by_side") {
        return;
    }
    let dir = TempDir::new("bind-iface");
    let ports = free_ports(4);
    // Bound to lo: served by both.
    let ha = HaRun::start(&dir, "ha-lo", &cfg(&dir.join("ha-lo.sock"), ports[0], "lo"));
    let sl = Sluice::run(&dir, "sl-lo", &cfg(&dir.join("sl-lo.sock"), ports[1], "lo"));
    assert_eq!(status(ports[0]), Ok("200".to_string()), "HAProxy on lo");
    assert_eq!(status(ports[1]), Ok("200".to_string()), "Sluice on lo");
    drop((ha, sl));

    // Bound to another interface: a client on 127.0.0.1 comes through lo,
    // and is not accepted by either.
    match other_interface() {
        Some(other) => {
            let ha = HaRun::start(
                &dir,
                "ha-oth",
                &cfg(&dir.join("ha-oth.sock"), ports[2], &other),
            );
            let sl = Sluice::run(
                &dir,
                "sl-oth",
                &cfg(&dir.join("sl-oth.sock"), ports[3], &other),
            );
            let (h, s) = (status(ports[2]), status(ports[3]));
            assert!(h.is_err(), "HAProxy bound to {other} served lo: {h:?}");
            assert!(s.is_err(), "Sluice bound to {other} served lo: {s:?}");
            drop((ha, sl));
        }
        None => {
            assert!(!in_ci(), "no interface but lo under CI=true");
            eprintln!("\n********** SKIPPED part: no interface but lo **********\n");
        }
    }

    // No such interface: as HAProxy 2.6, a warning naming the device and
    // the address, and the listener binds without the device (both serve).
    let ha = HaRun::start(
        &dir,
        "ha-bad",
        &cfg(&dir.join("ha-bad.sock"), ports[0], "nosuchif0"),
    );
    let sl = Sluice::run(
        &dir,
        "sl-bad",
        &cfg(&dir.join("sl-bad.sock"), ports[1], "nosuchif0"),
    );
    assert_eq!(
        status(ports[0]),
        Ok("200".to_string()),
        "HAProxy, no such device"
    );
    assert_eq!(
        status(ports[1]),
        Ok("200".to_string()),
        "Sluice, no such device"
    );
    for (who, out, port) in [
        ("HAProxy", ha.proc.output(), ports[0]),
        ("Sluice", sl.log(), ports[1]),
    ] {
        assert!(
            out.contains(
                "cannot bind receiver to device 'nosuchif0' (No such device) for [127.0.0.1:"
            ) && out.contains(&format!(":{port}]")),
            "{who}: {out}"
        );
    }
}
