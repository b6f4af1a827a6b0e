#!/usr/bin/env python3
"""Seeds fuzz/corpus/client_hello_sni/ and fuzz/corpus/engine_tls/.

client_hello_sni: real ClientHellos, captured on a loopback socket from
Python's ssl module (TLS 1.2 only, TLS 1.3, with and without SNI and ALPN)
and from `openssl s_client` when it is installed, plus a few edge cases.
Captures change from run to run (randoms, key shares): re-running adds
files named by their hash; delete the directory first to start over.

engine_tls: op sequences of the engine targets (core/src/fuzzing/engine_ops.rs,
"Input encoding") against the TLS configuration: a client sends a real
ClientHello (the canned request) then garbage records, alerts, a truncated
record, a reset mid-handshake, a PROXY header before the records, time
passing beyond `timeout client`; and a captured ClientHello sent raw.
"""
import hashlib
import os
import socket
import ssl
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))


def capture(connect):
    """The first bytes a TLS client sends to a loopback listener."""
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = []

    def accept():
        c, _ = srv.accept()
        c.settimeout(3)
        data = b''
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
                if len(data) >= 5 and len(data) >= 5 + (data[3] << 8 | data[4]):
                    break
        except OSError:
            pass
        got.append(data)
        c.close()

    t = threading.Thread(target=accept)
    t.start()
    try:
        connect(port)
    except Exception:
        pass
    t.join(5)
    srv.close()
    return got[0] if got else b''


def py_client(sni, tls12=False, alpn=None):
    def go(port):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if alpn:
            ctx.set_alpn_protocols(alpn)
        s = socket.create_connection(('127.0.0.1', port), timeout=2)
        ctx.wrap_socket(s, server_hostname=sni)
    return go


def openssl_client(args):
    def go(port):
        subprocess.run(['openssl', 's_client', '-connect', f'127.0.0.1:{port}'] + args,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=5)
    return go


def write(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def main():
    hellos = []
    for label, c in [
        ('py-tls13-sni', py_client('www.example.com')),
        ('py-tls12-sni', py_client('shop.example.org', tls12=True)),
        ('py-alpn-sni', py_client('api.example.net', alpn=['h2', 'http/1.1'])),
        ('py-nosni', py_client(None)),
        ('openssl-sni', openssl_client(['-servername', 'Mixed.Case.Example'])),
        ('openssl-tls12', openssl_client(['-tls1_2', '-servername', 'a.example'])),
        ('openssl-nosni', openssl_client(['-noservername'])),
    ]:
        h = capture(c)
        if h:
            hellos.append(h)
            write('client_hello_sni', label, h)
    # Edge cases: empty, a record header only, an alert, clear text.
    for label, data in [
        ('empty', b''),
        ('header-only', b'\x16\x03\x01\x02\x00'),
        ('alert', b'\x15\x03\x03\x00\x02\x02\x28'),
        ('http', b'GET / HTTP/1.1\r\nHost: a\r\n\r\n'),
    ]:
        write('client_hello_sni', label, data)
    if hellos:
        # A hello cut short, and one followed by more bytes.
        write('client_hello_sni', 'cut', hellos[0][:len(hellos[0]) // 2])
        write('client_hello_sni', 'trailing', hellos[0] + b'\x14\x03\x03\x00\x01\x01')

    # engine_tls: options byte, then ops (code, args...).
    CONNECT, CSEND, CRAW, CCLOSE, ACCEPT_ALL, ADVANCE, WINDOW, CHUNK = 0, 1, 2, 4, 6, 13, 11, 12

    def raw(who, b):
        return bytes([CRAW, who, len(b)]) + b
    hello = bytes([CSEND, 0, 0])
    seeds = {
        'hello-then-wait': bytes([0, CONNECT, 0, 0]) + hello + bytes([ADVANCE, 200, ADVANCE, 255]),
        'hello-then-fin': bytes([0, CONNECT, 0, 0]) + hello + bytes([CCLOSE, 0, 0]),
        'hello-then-reset': bytes([0, CONNECT, 0, 0]) + hello + bytes([CCLOSE, 0, 1]),
        'garbage-record': bytes([0, CONNECT, 0, 0]) + raw(0, b'\x17\x03\x03\x00\x10' + bytes(16))
        + bytes([CSEND, 0, 0]),
        'hello-garbage': bytes([0, CONNECT, 0, 0]) + hello
        + raw(0, b'\x17\x03\x03\x00\x20' + bytes(range(32))) + bytes([CSEND, 0, 0]),
        'alert': bytes([0, CONNECT, 0, 0]) + raw(0, b'\x15\x03\x03\x00\x02\x02\x28')
        + bytes([CSEND, 0, 0]),
        'clear-text': bytes([0, CONNECT, 0, 0]) + raw(0, b'GET / HTTP/1.1\r\n\r\n') + bytes([CSEND, 0, 0]),
        'truncated-record': bytes([0, CONNECT, 0, 0]) + raw(0, b'\x16\x03\x01\x40\x00' + bytes(40))
        + bytes([CSEND, 0, 0, CCLOSE, 0, 0]),
        'hello-in-bytes': bytes([0, CONNECT, 0, 0, CHUNK, 1]) + bytes([CSEND, 0, 7, CSEND, 0, 0]),
        'proxy-then-hello': bytes([0, CONNECT, 1, 1]) + hello + bytes([ADVANCE, 255]),
        'two-clients': bytes([0, CONNECT, 0, 0, CONNECT, 0, 0]) + hello + bytes([CSEND, 1, 0, WINDOW, 0, 1])
        + bytes([ADVANCE, 100, CCLOSE, 1, 1]),
        'second-hello': bytes([0, CONNECT, 0, 0]) + hello + bytes([3, 0, 1, CSEND, 0, 0]),
    }
    if hellos:
        h = hellos[0][:250]
        seeds['captured-hello-raw'] = bytes([0, CONNECT, 0, 0]) + raw(0, h) + bytes([CSEND, 0, 0])
    for name, data in seeds.items():
        write('engine_tls', name, data)


if __name__ == '__main__':
    main()
