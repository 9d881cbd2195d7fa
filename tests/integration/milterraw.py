#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""milterraw.py - a milter client that says exactly what it is told to:
the MTA side of the protocol, for what miltertest cannot send (bytes that
are no protocol at all, a command cut short, a huge length, hundreds of
connections at once).

usage:
  milterraw.py SOCKET session RCPT...    negotiate as Postfix does, connect,
                                         MAIL, then each RCPT; print each
                                         reply: "c", "r", "t" or "y TEXT"
                                         (a CR LF in TEXT shown as " | ")
  milterraw.py SOCKET raw HEX [WAIT]     send the bytes HEX, then say whether
                                         the milter closed the connection
                                         within WAIT seconds (default 5):
                                         "closed N.N s" or "still open"
  milterraw.py SOCKET many N RCPT        N sessions at once, one RCPT each;
                                         print "N answered: REPLY" per reply
  milterraw.py SOCKET idle N SECS        N negotiated connections held idle
                                         for SECS seconds
  milterraw.py SOCKET body BYTES         a session whose MTA cannot skip the
                                         body: one chunk of BYTES bytes, print
                                         the reply to it
SOCKET is inet:PORT@HOST or unix:/path.
"""
import socket
import struct
import sys
import threading
import time

NR_CONN, NR_MAIL = 0x1000, 0x4000


def connect(spec, timeout=10):
    if spec.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(spec[5:])
    else:
        port, host = spec[5:].split("@")
        s = socket.create_connection((host, int(port)), timeout=timeout)
    return s


def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("the milter closed the connection")
        buf += chunk
    return buf


def read_reply(s):
    n = struct.unpack(">I", read_exact(s, 4))[0]
    body = read_exact(s, n)
    return body[:1], body[1:]


def show(cmd, data):
    if cmd == b"y":
        return "y " + data.rstrip(b"\0").decode("latin-1").replace("\r\n", " | ")
    return cmd.decode("latin-1")


def negotiate(s, steps=0x1FFFFF):
    s.sendall(packet(b"O", struct.pack(">III", 6, 0x1FF, steps)))
    cmd, data = read_reply(s)
    if cmd != b"O" or len(data) < 12:
        raise RuntimeError("no negotiation reply")
    return struct.unpack(">III", data[:12])


def start_session(s, steps=0x1FFFFF):
    version, actions, agreed = negotiate(s, steps)
    s.sendall(packet(b"D", b"Cj\0mx.example.com\0v\0Postfix 3.7.11\0"))
    s.sendall(packet(b"C", b"client.example.net\0" + b"4" + struct.pack(">H", 25) +
                     b"192.0.2.1\0"))
    if not agreed & NR_CONN:
        read_reply(s)
    s.sendall(packet(b"M", b"<sender@example.net>\0"))
    if not agreed & NR_MAIL:
        read_reply(s)
    return agreed


def rcpt(s, addr):
    s.sendall(packet(b"D", b"Ri\0TESTQID\0"))
    s.sendall(packet(b"R", b"<" + addr.encode() + b">\0"))
    return show(*read_reply(s))


def cmd_session(spec, rcpts):
    s = connect(spec)
    start_session(s)
    for r in rcpts:
        print(rcpt(s, r))
    s.sendall(packet(b"Q"))
    s.close()


def cmd_raw(spec, hexbytes, wait):
    s = connect(spec)
    s.sendall(bytes.fromhex(hexbytes))
    s.settimeout(wait)
    t0 = time.monotonic()
    try:
        while s.recv(4096):
            pass
        print("closed %.1f s" % (time.monotonic() - t0))
    except socket.timeout:
        print("still open")
    except ConnectionResetError:
        print("closed %.1f s" % (time.monotonic() - t0))


def cmd_many(spec, n, addr):
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def one():
        try:
            s = connect(spec, timeout=60)
            barrier.wait(timeout=60)
            start_session(s)
            r = rcpt(s, addr)
            s.sendall(packet(b"Q"))
            s.close()
        except Exception as e:   # noqa: BLE001 - every failure is a result
            r = "error: %s" % e
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = {}
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    for r, c in sorted(counts.items()):
        print("%d answered: %s" % (c, r))


def cmd_idle(spec, n, secs):
    conns = []
    for _ in range(n):
        s = connect(spec)
        negotiate(s)
        conns.append(s)
    print("holding %d" % n, flush=True)
    time.sleep(secs)


def cmd_body(spec, size):
    s = connect(spec)
    # an MTA that offers no step to skip and no "no reply": every step is answered
    start_session(s, steps=0)
    print(rcpt(s, "john.doe@example.com"))
    s.sendall(packet(b"T"))
    print("data " + show(*read_reply(s)))
    s.sendall(packet(b"B", b"x" * size))
    print("body " + show(*read_reply(s)))
    s.sendall(packet(b"E"))
    print("eom " + show(*read_reply(s)))
    s.sendall(packet(b"Q"))
    s.close()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    spec, what, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        if what == "session":
            cmd_session(spec, args)
        elif what == "raw":
            cmd_raw(spec, args[0], float(args[1]) if len(args) > 1 else 5.0)
        elif what == "many":
            cmd_many(spec, int(args[0]), args[1])
        elif what == "idle":
            cmd_idle(spec, int(args[0]), float(args[1]))
        elif what == "body":
            cmd_body(spec, int(args[0]))
        else:
            sys.exit(__doc__)
    except (OSError, EOFError, RuntimeError) as e:
        print("error: %s" % e)
        sys.exit(1)


if __name__ == "__main__":
    main()
