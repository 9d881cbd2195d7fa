#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
# tests/faults/redispoll.py - when does a Redis client use the server again?
#
#   redispoll.py PORT OUTFILE
#
# Asks the redis-server on 127.0.0.1:PORT for INFO commandstats every 20 ms on
# one connection and appends "EPOCH-SECONDS ALL SET" to OUTFILE: ALL the calls
# of GET, PTTL and SET (what rcptguard sends), SET the calls of SET alone
# (commands refused, as with OOM, are not calls).  When the server goes away
# it writes "EPOCH-SECONDS reset" once the connection is made again (the
# counters of a restarted server start from zero).  A poller that lives
# through the whole fault costs one round trip a sample, where a redis-cli a
# sample would cost a process start on a busy machine.
#
# Stops on SIGTERM.  Only the Python standard library.
import re
import signal
import socket
import sys
import time

QUERY = b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n"
STAT = re.compile(rb"^cmdstat_(get|pttl|set):calls=(\d+)", re.M)


def info(sock, rf):
    sock.sendall(QUERY)
    head = rf.readline()
    if not head.startswith(b"$"):
        raise ConnectionError("unexpected reply %r" % head[:40])
    body = rf.read(int(head[1:]) + 2)
    calls = {m.group(1): int(m.group(2)) for m in STAT.finditer(body)}
    return sum(calls.values()), calls.get(b"set", 0)


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    f = open(out, "a", buffering=1)
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1.0)
            rf = sock.makefile("rb")
            while True:
                a, s = info(sock, rf)
                f.write("%.6f %d %d\n" % (time.time(), a, s))
                time.sleep(0.02)
        except (OSError, ConnectionError, ValueError):
            try:
                sock.close()
            except (OSError, UnboundLocalError):
                pass
            time.sleep(0.02)


if __name__ == "__main__":
    main()
