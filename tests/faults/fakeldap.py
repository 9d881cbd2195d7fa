#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
# tests/faults/fakeldap.py - LDAP servers that misbehave, for the fault matrix.
#
#   fakeldap.py MODE PORT LOGFILE
#
# Listens on 127.0.0.1:PORT, accepts every connection and keeps it open until
# the client closes it; writes "EPOCH-SECONDS listening" to LOGFILE once it
# listens, then "EPOCH-SECONDS accept" for every connection (and
# "EPOCH-SECONDS starttls-ok" for every StartTLS answered), so a test can
# count what a client paid.  A test waits for the "listening" line rather
# than probing the port: a probe's connection would be logged as an accept,
# perhaps only after the test had started counting.  MODE:
#
#   silent     reads and never answers: an LDAP server that hangs after the
#              TCP handshake (for ldap://), or a TLS server that never
#              completes the handshake (for ldaps://: the ClientHello is read
#              and left unanswered).
#   starttls   answers the StartTLS extended request (OID
#              1.3.6.1.4.1.1466.20037) with success, as a real server does,
#              then reads and never answers: the TLS handshake that follows
#              never completes.  Any other request is left unanswered too.
#
# Stops on SIGTERM.  Only the Python standard library.
import signal
import socket
import sys
import threading
import time

STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"


def log(path, what):
    with open(path, "a") as f:
        f.write("%.6f %s\n" % (time.time(), what))


def ber_len(n):
    """BER definite length octets for n."""
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, value):
    return bytes([tag]) + ber_len(len(value)) + value


def read_tlv(buf, pos):
    """(tag, value start, value end) of the BER element at pos, or None when
    buf does not hold all of it yet."""
    if pos + 2 > len(buf):
        return None
    tag = buf[pos]
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        n = first
    else:
        k = first & 0x7F
        if k == 0 or k > 4 or pos + k > len(buf):
            return None
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + n > len(buf):
        return None
    return tag, pos, pos + n


def starttls_reply(msg):
    """The ExtendedResponse (success) for an LDAPMessage that is a StartTLS
    ExtendedRequest, or None for any other message."""
    top = read_tlv(msg, 0)
    if top is None or top[0] != 0x30:
        return None
    idt = read_tlv(msg, top[1])
    if idt is None or idt[0] != 0x02:
        return None
    msgid = msg[idt[1]:idt[2]]
    op = read_tlv(msg, idt[2])
    # ExtendedRequest ::= [APPLICATION 23] SEQUENCE { requestName [0] LDAPOID, ... }
    if op is None or op[0] != 0x77:
        return None
    name = read_tlv(msg, op[1])
    if name is None or name[0] != 0x80 or msg[name[1]:name[2]] != STARTTLS_OID:
        return None
    # ExtendedResponse ::= [APPLICATION 24] SEQUENCE { resultCode ENUMERATED,
    #     matchedDN LDAPDN, diagnosticMessage LDAPString,
    #     responseName [10] LDAPOID OPTIONAL, ... }
    body = tlv(0x0A, b"\x00") + tlv(0x04, b"") + tlv(0x04, b"") + tlv(0x8A, STARTTLS_OID)
    return tlv(0x30, tlv(0x02, msgid) + tlv(0x78, body))


def serve(conn, mode, logfile):
    buf = b""
    answered = False
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            if mode != "starttls" or answered:
                continue    # silent: read, never answer
            buf += data
            top = read_tlv(buf, 0)
            if top is None:
                continue
            msg, buf = buf[:top[2]], buf[top[2]:]
            reply = starttls_reply(msg)
            if reply is not None:
                conn.sendall(reply)
                answered = True
                log(logfile, "starttls-ok")
    except OSError:
        pass
    finally:
        conn.close()


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("silent", "starttls"):
        sys.exit("usage: fakeldap.py silent|starttls PORT LOGFILE")
    mode, port, logfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    log(logfile, "listening")
    while True:
        conn, _ = srv.accept()
        log(logfile, "accept")
        threading.Thread(target=serve, args=(conn, mode, logfile), daemon=True).start()


if __name__ == "__main__":
    main()
