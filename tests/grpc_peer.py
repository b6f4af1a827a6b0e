#!/usr/bin/env python3
"""gRPC peer of tests/grpc.rs: a grpcio server and a grpcio client.

No .proto: grpcio's generic handlers with raw bytes (no serializers), so
no protoc step is needed. Messages are bytes; the service is
`sluice.Test`.

    grpc_peer.py server PORT        serves until killed, prints "READY"
    grpc_peer.py client PORT TAG    runs every case against PORT, prints
                                    one line per case: name TAB outcome
                                    (JSON, keys sorted)

Cancellations seen by the server are counted per tag (the request's first
bytes) and read back with the `Cancelled` method.
"""

import json
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "sluice.Test"
BIG = 1024 * 1024

_lock = threading.Lock()
_cancelled = {}


def _pattern(n):
    return bytes((ord("a") + i % 26) for i in range(n))


def _trailers(context, extra=()):
    context.set_trailing_metadata(
        (("x-trailer", "t1"), ("x-trailer-bin", b"\x00\x01\xfe\xff")) + tuple(extra)
    )


def unary(req, context):
    md = dict(context.invocation_metadata())
    _trailers(context)
    return b"echo:" + req + b"|x-meta=" + md.get("x-meta", "").encode()


def server_stream(req, context):
    n = int(req.decode())
    for i in range(n):
        yield ("msg %d of %d" % (i, n)).encode()
    _trailers(context)


def client_stream(req_iter, context):
    count = 0
    total = 0
    for m in req_iter:
        count += 1
        total += len(m)
    _trailers(context)
    return ("count=%d bytes=%d" % (count, total)).encode()


def bidi(req_iter, context):
    for m in req_iter:
        yield b"re:" + m
    _trailers(context)


def fail(req, context):
    context.set_trailing_metadata((("x-why", "because"),))
    context.abort(grpc.StatusCode.PERMISSION_DENIED, "denied: caf\u00e9 100% sure")


def big(req, context):
    ok = req == _pattern(len(req))
    _trailers(context)
    return ("%d %s|" % (len(req), ok)).encode() + _pattern(BIG)


def slow(req, context):
    # Longer than the client's deadline: the client sees DEADLINE_EXCEEDED.
    t0 = time.time()
    while time.time() - t0 < 3 and context.is_active():
        time.sleep(0.02)
    return b"too late"


def hold(req, context):
    # Server streaming that never ends by itself: the client cancels after
    # the first message, the cancellation must reach the server.
    tag = req.decode()
    done = threading.Event()

    def on_done():
        if not context.is_active() and not done.is_set():
            with _lock:
                _cancelled[tag] = _cancelled.get(tag, 0) + 1

    context.add_callback(on_done)
    yield b"first"
    t0 = time.time()
    while time.time() - t0 < 10 and context.is_active():
        time.sleep(0.02)
    done.set()


def cancelled(req, context):
    with _lock:
        return str(_cancelled.get(req.decode(), 0)).encode()


def serve(port):
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Big": grpc.unary_unary_rpc_method_handler(big),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Hold": grpc.unary_stream_rpc_method_handler(hold),
        "Cancelled": grpc.unary_unary_rpc_method_handler(cancelled),
    }
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=32),
        options=[
            ("grpc.max_receive_message_length", 4 * BIG),
            ("grpc.max_send_message_length", 4 * BIG),
        ],
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("READY", flush=True)
    server.wait_for_termination()


def _md(md):
    out = []
    for k, v in md or ():
        if isinstance(v, bytes):
            v = "bin:" + v.hex()
        out.append([k, v])
    return out


def _err(e):
    return {"code": e.code().name, "details": e.details(), "trailers": _md(e.trailing_metadata())}


def client(port, tag):
    ch = grpc.insecure_channel(
        "127.0.0.1:%d" % port,
        options=[
            ("grpc.max_receive_message_length", 4 * BIG),
            ("grpc.max_send_message_length", 4 * BIG),
            ("grpc.enable_retries", 0),
        ],
    )
    grpc.channel_ready_future(ch).result(timeout=10)
    m = lambda kind, name: getattr(ch, kind)("/%s/%s" % (SERVICE, name))
    out = {}

    def case(name, f):
        try:
            out[name] = f()
        except grpc.RpcError as e:
            out[name] = {"error": _err(e)}
        except Exception as e:  # noqa: BLE001
            out[name] = {"exception": repr(e)}

    def unary_case():
        resp, call = m("unary_unary", "Unary").with_call(
            b"hello", metadata=(("x-meta", "m1"),), timeout=10
        )
        return {"resp": resp.decode(), "code": call.code().name, "trailers": _md(call.trailing_metadata())}

    def server_stream_case():
        call = m("unary_stream", "ServerStream")(b"5", timeout=10)
        msgs = [x.decode() for x in call]
        return {"msgs": msgs, "code": call.code().name, "trailers": _md(call.trailing_metadata())}

    def client_stream_case():
        resp, call = m("stream_unary", "ClientStream").with_call(
            iter([b"x" * (i * 1000) for i in range(1, 8)]), timeout=10
        )
        return {"resp": resp.decode(), "code": call.code().name, "trailers": _md(call.trailing_metadata())}

    def bidi_case():
        # Lock step: each reply is read before the next message goes.
        q = []
        ev = threading.Condition()

        def gen():
            for i in range(6):
                with ev:
                    q.append(("m%d" % i).encode())
                yield ("m%d" % i).encode()
                with ev:
                    ev.wait_for(lambda: not q, timeout=5)

        call = m("stream_stream", "Bidi")(gen(), timeout=10)
        got = []
        for r in call:
            got.append(r.decode())
            with ev:
                if q:
                    q.pop(0)
                ev.notify_all()
        return {"msgs": got, "code": call.code().name, "trailers": _md(call.trailing_metadata())}

    def fail_case():
        try:
            m("unary_unary", "Fail")(b"x", timeout=10)
            return {"unexpected": "ok"}
        except grpc.RpcError as e:
            return _err(e)

    def big_case():
        resp, call = m("unary_unary", "Big").with_call(_pattern(BIG), timeout=20)
        head, body = resp.split(b"|", 1)
        return {
            "head": head.decode(),
            "len": len(body),
            "pattern": body == _pattern(BIG),
            "code": call.code().name,
            "trailers": _md(call.trailing_metadata()),
        }

    def deadline_case():
        t0 = time.time()
        try:
            m("unary_unary", "Slow")(b"x", timeout=0.5)
            return {"unexpected": "ok"}
        except grpc.RpcError as e:
            return {"code": e.code().name, "under_2s": time.time() - t0 < 2}

    def cancel_case():
        call = m("unary_stream", "Hold")(tag.encode(), timeout=10)
        first = next(call).decode()
        call.cancel()
        try:
            for _ in call:
                pass
        except grpc.RpcError as e:
            code = e.code().name
        else:
            code = "none"
        # The server counts the cancellation when the RST_STREAM reaches it.
        seen = "0"
        for _ in range(100):
            seen = m("unary_unary", "Cancelled")(tag.encode(), timeout=5).decode()
            if seen != "0":
                break
            time.sleep(0.05)
        return {"first": first, "code": code, "server_saw_cancel": seen}

    case("unary", unary_case)
    case("server_stream", server_stream_case)
    case("client_stream", client_stream_case)
    case("bidi", bidi_case)
    case("fail", fail_case)
    case("big", big_case)
    case("deadline", deadline_case)
    case("cancel", cancel_case)
    for k in sorted(out):
        print("%s\t%s" % (k, json.dumps(out[k], sort_keys=True)), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]))
    else:
        client(int(sys.argv[2]), sys.argv[3])
