#!/usr/bin/env python3
"""Seeds fuzz/corpus/hpack_decode/ and fuzz/corpus/h2_frame/.

Standard library only; re-running it gives the same files. hpack_decode
seeds: RFC 7541 Appendix C field blocks (one options byte and two cut bytes
first, see sluice_core::fuzzing::hpack_decode), size updates, never-indexed
literals, and broken blocks. h2_frame seeds: one options byte then the
frames a client or server sends after the preface (RFC 9113 §3.4).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def h(s):
    return bytes.fromhex("".join(s.split()))


C3 = [h("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
      h("8286 84be 5808 6e6f 2d63 6163 6865"),
      h("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65")]
C4 = [h("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
      h("8286 84be 5886 a8eb 1064 9cbf"),
      h("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")]
C5 = [h("4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
        "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
        "6c65 2e63 6f6d"),
      h("4803 3330 37c1 c0bf"),
      h("88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
        "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
        "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e"
        "3d31")]
C6 = [h("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
        "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3"),
      h("4883 640e ffc1 c0bf"),
      h("88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
        "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
        "9587 3160 65c0 03ed 4ee5 b106 3d50 07")]


def hpack_seed(table, bound, blocks):
    """options byte, two cut bytes, then the blocks back to back."""
    tbits = {0: 0, 64: 1, 256: 2, 4096: 3}[table]
    bbits = {None: 0, 256: 1, 4096: 2, 64: 3}[bound]
    opts = tbits | bbits << 2 | len(blocks) << 4
    cuts, pos = [], 0
    for b in blocks[:-1]:
        pos += len(b)
        cuts.append(pos)
    cuts = (cuts + [0, 0])[:2]
    return bytes([opts] + [c % 256 for c in cuts]) + b"".join(blocks)


HPACK = {
    "c2-1-literal-indexed": hpack_seed(4096, None, [h("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")]),
    "c2-2-literal-not-indexed": hpack_seed(4096, None, [h("040c 2f73 616d 706c 652f 7061 7468")]),
    "c2-3-never-indexed": hpack_seed(4096, None, [h("1008 7061 7373 776f 7264 0673 6563 7265 74")]),
    "c3-requests": hpack_seed(4096, None, C3),
    "c4-requests-huffman": hpack_seed(4096, None, C4),
    "c5-responses": hpack_seed(256, None, C5),
    "c6-responses-huffman": hpack_seed(256, None, C6),
    "c6-bounded": hpack_seed(256, 256, C6),
    "size-updates": hpack_seed(4096, None, [h("20 3fe11f 82"), h("3f45 be")]),
    "size-update-late": hpack_seed(4096, None, [h("82 20")]),
    "bomb": hpack_seed(4096, 4096, [h("407f0a") + b"x" * 10 + h("7f00") + b"v" * 10, b"\xbe" * 200]),
    "table-zero": hpack_seed(0, None, C4),
    "huffman-eos": hpack_seed(4096, None, [h("0001 61 84 ffffffff")]),
    "huffman-padding": hpack_seed(4096, None, [h("0001 61 81 ff")]),
    "int-overflow": hpack_seed(4096, None, [h("ff ffffffff7f")]),
    "int-zero-continuations": hpack_seed(4096, None, [h("ff 8080808080808000")]),
    "index-zero": hpack_seed(4096, None, [h("80")]),
}


def frame(kind, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", sid) + payload


SETTINGS = frame(4, 0, 0, struct.pack(">HIHIHI", 3, 100, 4, 1 << 20, 6, 16384))
ACK = frame(4, 1, 0)
REQ = frame(1, 5, 1, C4[0])
SERVER, CLIENT = 0, 1


def frames_seed(opts, *frames):
    return bytes([opts]) + b"".join(frames)


FRAMES = {
    "get": frames_seed(SERVER, SETTINGS, ACK, frame(8, 0, 0, struct.pack(">I", 1 << 20)), REQ),
    "post-padded-data": frames_seed(SERVER, SETTINGS, frame(1, 4, 1, C4[2]),
                                    frame(0, 8, 1, b"\x03body\0\0\0"), frame(0, 1, 1, b"")),
    "headers-priority-padded": frames_seed(SERVER, SETTINGS, frame(1, 0x2d, 3, b"\x02" + b"\x80\0\0\x01\x10" + C4[0] + b"\0\0")),
    "continuation": frames_seed(SERVER, SETTINGS, frame(1, 0, 1, C4[0][:4]), frame(9, 0, 1, C4[0][4:8]),
                                frame(9, 4, 1, C4[0][8:])),
    "continuation-flood": frames_seed(SERVER | 3 << 3, SETTINGS, frame(1, 0, 1, b"\x82"), *[frame(9, 0, 1)] * 20),
    "continuation-interrupted": frames_seed(SERVER, SETTINGS, frame(1, 0, 1, b"\x82"), frame(6, 0, 0, b"\0" * 8)),
    "ping-goaway": frames_seed(SERVER, SETTINGS, frame(6, 0, 0, b"12345678"), frame(6, 1, 0, b"12345678"),
                               frame(7, 0, 0, struct.pack(">II", 7, 0) + b"bye")),
    "rst-priority": frames_seed(SERVER, SETTINGS, REQ, frame(3, 0, 1, struct.pack(">I", 8)),
                                frame(2, 0, 3, b"\0\0\0\x01\x0f"), frame(2, 0, 3, b"\0\0\0\x03\x0f")),
    "window-update-zero": frames_seed(SERVER, SETTINGS, REQ, frame(8, 0, 1, b"\0\0\0\0"), frame(8, 0, 0, b"\0\0\0\0")),
    "unknown-types": frames_seed(SERVER, SETTINGS, frame(0xfa, 0xff, 0, b"ext"), frame(0x10, 0, 5, b"")),
    "settings-bad": frames_seed(SERVER, frame(4, 0, 0, struct.pack(">HI", 5, 100))),
    "client-side": frames_seed(CLIENT, SETTINGS, ACK, frame(1, 4, 1, C6[0]), frame(0, 1, 1, b"hello")),
    "client-push-promise": frames_seed(CLIENT, SETTINGS, frame(5, 4, 1, b"\0\0\0\x02\x82")),
    "oversize": frames_seed(SERVER, SETTINGS, b"\xff\xff\xff\x00\x00\x00\x00\x00\x01"),
    "big-frame-allowed": frames_seed(SERVER | 2 << 1, SETTINGS, frame(0, 0, 1, b"z" * 20000)),
    "first-not-settings": frames_seed(SERVER, frame(6, 0, 0, b"\0" * 8)),
}


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("hpack_decode", HPACK)
write("h2_frame", FRAMES)
