#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
# tests/lib/silent_ldap.py - an LDAP server that hangs, for deadline tests.
#
#   silent_ldap.py MODE PORTFILE [LOGFILE]
#
# Listens on 127.0.0.1 on a port of its own choosing, writes that port to
# PORTFILE once it listens, and serves every connection in a thread of its
# own until it is killed:
#
#   silent    accept the TCP connection, read whatever comes, never answer
#             (an ldaps:// peer that never completes the TLS handshake, or
#             a server hung after accept)
#   starttls  answer the StartTLS extended operation with success, then
#             never answer again (the TLS handshake never completes)
#   bindonly  answer every bind with success and nothing else: a server
#             that takes connections and binds but hangs on every search
#             (its database stuck), logging "search" for each one
#
# LOGFILE gets one line per event ("accept", "starttls", "bind", "search"), so that a test
# can count how often a client tried.  Python 3 standard library only.
import os
import socket
import sys
import threading

STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"


def ber(tag, body):
    """One BER element: TAG, a definite length, BODY."""
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + head + body


def ber_int(value):
    return ber(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def starttls_response(msgid):
    """LDAPMessage { msgid, ExtendedResponse { success, "", "", OID } }."""
    result = ber(0x0A, b"\x00") + ber(0x04, b"") + ber(0x04, b"") + ber(0x8A, STARTTLS_OID)
    return ber(0x30, ber_int(msgid) + ber(0x78, result))


def bind_response(msgid):
    """LDAPMessage { msgid, BindResponse { success, "", "" } }."""
    return ber(0x30, ber_int(msgid) + ber(0x61, ber(0x0A, b"\x00") + ber(0x04, b"") + ber(0x04, b"")))


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_element(conn):
    """One BER element from CONN: (tag, body)."""
    tag = read_exact(conn, 1)[0]
    first = read_exact(conn, 1)[0]
    if first < 0x80:
        length = first
    else:
        length = int.from_bytes(read_exact(conn, first & 0x7F), "big")
    return tag, read_exact(conn, length)


def parse_request(body):
    """(messageID, protocolOp tag) of an LDAPMessage body."""
    if body[0] != 0x02:
        raise ValueError("no message id")
    n = body[1]
    msgid = int.from_bytes(body[2:2 + n], "big", signed=True)
    return msgid, body[2 + n]


def log(logfile, lock, what):
    if logfile is None:
        return
    with lock, open(logfile, "a") as f:
        f.write(what + "\n")


def serve(conn, mode, logfile, lock):
    try:
        if mode == "starttls":
            while True:
                tag, body = read_element(conn)
                msgid, op = parse_request(body)
                if tag == 0x30 and op == 0x77:       # ExtendedRequest
                    conn.sendall(starttls_response(msgid))
                    log(logfile, lock, "starttls")
                    break
        if mode == "bindonly":
            while True:
                tag, body = read_element(conn)
                msgid, op = parse_request(body)
                if op == 0x60:                          # BindRequest
                    conn.sendall(bind_response(msgid))
                    log(logfile, lock, "bind")
                elif op == 0x63:                        # SearchRequest
                    log(logfile, lock, "search")
                elif op == 0x42:                        # UnbindRequest
                    break
        while conn.recv(65536):
            pass
    except (EOFError, OSError, ValueError, IndexError):
        pass
    finally:
        conn.close()


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ("silent", "starttls", "bindonly"):
        sys.stderr.write("usage: silent_ldap.py silent|starttls|bindonly PORTFILE [LOGFILE]\n")
        return 64
    mode, portfile = sys.argv[1], sys.argv[2]
    logfile = sys.argv[3] if len(sys.argv) == 4 else None
    lock = threading.Lock()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        conn, _ = srv.accept()
        log(logfile, lock, "accept")
        threading.Thread(target=serve, args=(conn, mode, logfile, lock), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
