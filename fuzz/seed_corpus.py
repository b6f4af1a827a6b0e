#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from the real captures (core/tests/data/captures).

Standard library only; re-running it gives the same files. Seeds:
  intdecode       the varints of PROTOCOL.md section 4.4, every varint field
                  length prefix seen in the captures, a few hostile ones
  peer_message    every whole capture stream, its binary part, and every
                  distinct message (whole frame) and message body
  peer_handshake  every hello and status line, and the first 64 bytes of
                  every stream
"""
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = os.path.join(HERE, '..', 'core', 'tests', 'data', 'captures')


def intdecode(buf, pos, maxlen=10):
    v = buf[pos]
    pos += 1
    if v < 0xF0:
        return v, pos
    shift = 4
    for _ in range(maxlen - 1):
        b = buf[pos]
        pos += 1
        v += b << shift
        shift += 7
        if b < 0x80:
            return v & 0xFFFFFFFFFFFFFFFF, pos
    raise ValueError('too long')


def split(data):
    """(text part, [frames]) of one direction; stops at the first bad frame."""
    pos = 0
    if data.startswith(b'HAProxy'):
        for _ in range(3):
            pos = data.index(b'\n', pos) + 1
    elif data[:3].isdigit():
        pos = data.index(b'\n') + 1
    text, frames = data[:pos], []
    while pos + 2 <= len(data):
        start = pos
        typ = data[pos + 1]
        pos += 2
        if typ & 0x80:
            try:
                n, pos = intdecode(data, pos, 5)
            except (ValueError, IndexError):
                break
            if n > 16384 or pos + n > len(data):
                break
            pos += n
        frames.append((data[start:pos], data[start:pos][2:] if typ & 0x80 else b''))
    return text, frames


def write(target, name, content, seen):
    digest = hashlib.sha1(content).hexdigest()
    if digest in seen.setdefault(target, set()):
        return
    seen[target].add(digest)
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(content)


def main():
    seen = {}
    examples = [0, 1, 127, 128, 239, 240, 241, 255, 256, 2287, 2288, 2289, 4660, 10000, 264431, 264432,
                600000, 33818863, 33818864, 2**32 - 1, 4328786159, 4328786160, 123456789012, 2**63, 2**64 - 1]
    for v in examples:
        out = [v] if v < 0xF0 else None
        if out is None:
            out = [(v | 0xF0) & 0xFF]
            w = (v - 0xF0) >> 4
            while w >= 0x80:
                out.append((w | 0x80) & 0xFF)
                w = (w - 0x80) >> 7
            out.append(w)
        write('intdecode', 'spec-%d' % v, bytes(out), seen)
    write('intdecode', 'hostile-11-bytes', bytes([0xf0] + [0x80] * 9 + [0x00]), seen)
    write('intdecode', 'hostile-all-ff', bytes([0xff] * 12), seen)
    write('intdecode', 'hostile-wrap', bytes([0xff] * 9 + [0x7f]), seen)
    write('intdecode', 'truncated', bytes([0xf4, 0x92, 0xa2]), seen)

    for root, _, files in sorted(os.walk(CAPTURES)):
        for fn in sorted(files):
            if not fn.endswith('.bin'):
                continue
            rel = os.path.relpath(os.path.join(root, fn), CAPTURES)
            tag = rel[:-4].replace(os.sep, '-')
            with open(os.path.join(root, fn), 'rb') as f:
                data = f.read()
            text, frames = split(data)
            write('peer_message', 'stream-' + tag, data, seen)
            if text:
                write('peer_message', 'binary-' + tag, data[len(text):], seen)
                write('peer_handshake', 'text-' + tag, text, seen)
            write('peer_handshake', 'head-' + tag, data[:64], seen)
            for frame, body in frames:
                write('peer_message', 'frame-%s-%02x%02x-%s' % (tag, frame[0], frame[1], hashlib.sha1(frame).hexdigest()[:8]), frame, seen)
                if body:
                    write('peer_message', 'body-%02x-%s' % (frame[1], hashlib.sha1(body).hexdigest()[:8]), body, seen)
                if frame[0] == 0x0a and frame[1] & 0x80:
                    # The length prefix as a varint seed.
                    _, end = intdecode(frame, 2, 5)
                    write('intdecode', 'length-%s' % frame[2:end].hex(), frame[2:end], seen)
    for t, s in sorted(seen.items()):
        print('%-15s %d files' % (t, len(s)))


if __name__ == '__main__':
    sys.exit(main())
