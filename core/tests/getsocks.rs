//! `_getsocks` on the stats socket (HAProxy's `cli.c`): with `expose-fd
//! listeners` the engine asks its driver to send the listening sockets
//! on the connection (`Action::SendListeners`) and closes it without a
//! word; without it, it only closes, as HAProxy does.

mod common;

use common::World;

const CFG: &str = "\
global
    stats socket ipv4@127.0.0.1:9001 level admin expose-fd listeners
    stats socket ipv4@127.0.0.1:9002 level admin
defaults
    mode tcp
    timeout client 10s
frontend fe
    bind 127.0.0.1:8080
";

#[test]
fn getsocks_sends_the_listeners_only_with_expose_fd() {
    let mut w = World::new(CFG);
    let exposed = w.connect("127.0.0.1:9001");
    w.send(exposed, b"_getsocks\n");
    assert_eq!(w.driver.sent_listeners.len(), 1, "asked once");
    assert!(w.peers[exposed].from_engine.is_empty(), "no text");
    assert!(w.peers[exposed].fin_from_engine, "then closed");

    let plain = w.connect("127.0.0.1:9002");
    w.send(plain, b"_getsocks\n");
    assert_eq!(w.driver.sent_listeners.len(), 1, "not asked again");
    assert!(w.peers[plain].from_engine.is_empty(), "no text");
    assert!(w.peers[plain].fin_from_engine, "closed");

    // Any other command is still answered on the exposed socket.
    let again = w.connect("127.0.0.1:9001");
    w.send(again, b"show info\n");
    assert!(!w.peers[again].from_engine.is_empty());
    assert_eq!(w.driver.sent_listeners.len(), 1);
    // `_getsocks` is internal: `help` does not list it.
    let help = w.connect("127.0.0.1:9001");
    w.send(help, b"help\n");
    let text = String::from_utf8_lossy(&w.peers[help].from_engine).into_owned();
    assert!(
        text.contains("show info") && !text.contains("_getsocks"),
        "{text}"
    );
}
