#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
# tests/faults/smtpload.py - steady RCPT TO load through an MTA, with figures.
#
#   smtpload.py --port PORT --rcpts FILE [options]
#
# SESSIONS concurrent SMTP sessions (one thread each) to 127.0.0.1:PORT.  Each
# session: EHLO, then transactions of MAIL FROM, K x RCPT TO, RSET, TXS
# transactions a connection, QUIT, and again, until DURATION seconds have
# passed or MAX recipients were sent; never DATA.  The recipients are random
# picks from FILE ("address class" a line, class known | unknown | alias),
# plus in every transaction one never-before-seen unknown address (a probe:
# only the directory can answer it 550, no cache can) and one never-seen
# subaddress of a known user (user+tag@, expected 250).
#
# Every reply is classified: ok (2xx), temp (4xx), perm (5xx).  A MAIL FROM
# answered 4xx (Postfix says 451 4.7.1 there when the milter is down and
# milter_default_action = tempfail) counts as temp for each of the K
# recipients of that transaction, which are then not sent; the session hangs
# up and connects again, as a sending MTA would.
#
# Output: a line a second (--log), and a JSON summary (--json) with recipients
# sent, false 5xx (5xx for a known address or an alias), false 250 (2xx for an
# unknown address), 4xx count, the longest answer, answers slower than
# --slow, reply lines that are none of the expected ones, and, when the
# --events file (lines "EPOCH-SECONDS NAME", written by whoever makes the
# fault) names a "fault-end", the time to recovery: from fault-end to the
# first probe answered 550 (proof that the directory answers again).  With
# --pidfile the daemon's open fds, threads and RSS are sampled every second
# from /proc.
#
# Only the Python standard library; stops by itself (DURATION, MAX, and a
# 30 s limit on every reply).
import argparse
import json
import os
import random
import re
import socket
import sys
import threading
import time

OK_LINE = "250 2.1.5 Ok"
TEMP_LINES = ("451 4.7.1 Service unavailable - try again later",)
REPLY_TIMEOUT = 30.0


def parse_args():
    p = argparse.ArgumentParser(description="RCPT TO load through an MTA")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rcpts", required=True, help="file: address class")
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--max", type=int, default=1000000, help="recipients at most")
    p.add_argument("--k", type=int, default=20, help="RCPTs a transaction")
    p.add_argument("--txs", type=int, default=5, help="transactions a connection")
    p.add_argument("--phase", default="load")
    p.add_argument("--log", help="a line a second")
    p.add_argument("--json", help="summary")
    p.add_argument("--events", help="EPOCH NAME lines (fault-start, fault-end)")
    p.add_argument("--pidfile", help="daemon pid, re-read every second")
    p.add_argument("--slow", type=float, default=1e9, help="count answers slower than this")
    p.add_argument("--seed", type=int, default=None)
    return p.parse_args()


def read_rcpts(path):
    out = {"known": [], "unknown": [], "alias": []}
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) == 2 and w[1] in out:
                out[w[1]].append(w[0])
    return out


class Shared:
    """What the sessions share: counters for the per-second log, the stop flag."""

    def __init__(self, args):
        self.mu = threading.Lock()
        self.args = args
        self.sent = 0
        self.stop = False
        self.second = {"ok": 0, "temp": 0, "perm": 0, "maxlat": 0.0}
        self.records = []       # (t_reply, latency, expect, got, probe, line)
        self.mail_refused = []  # (t_reply, latency, line, n_rcpts)
        self.lost = []          # (t, what)
        self.connect_errors = 0
        self.seq = 0

    def take(self, n):
        """Reserve n recipients of the budget; how many may be sent."""
        with self.mu:
            if self.stop:
                return 0
            n = min(n, self.args.max - self.sent)
            self.sent += max(n, 0)
            return max(n, 0)

    def next_seq(self):
        with self.mu:
            self.seq += 1
            return self.seq

    def note(self, rec):
        with self.mu:
            self.records.append(rec)
            s = self.second
            s[rec[3]] = s.get(rec[3], 0) + 1
            s["maxlat"] = max(s["maxlat"], rec[1])


def classify(code):
    if 200 <= code < 300:
        return "ok"
    if 400 <= code < 500:
        return "temp"
    if 500 <= code < 600:
        return "perm"
    return "other"


class Session:
    def __init__(self, sh, idx, rcpts, rnd, tag):
        self.sh, self.idx, self.rcpts, self.rnd, self.tag = sh, idx, rcpts, rnd, tag
        self.sock = None
        self.rf = None

    def reply(self):
        """Read one reply: (code, first line, all lines); raises on EOF."""
        lines = []
        while True:
            raw = self.rf.readline()
            if not raw:
                raise ConnectionError("connection closed")
            line = raw.decode("latin-1").rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        first = lines[0]
        try:
            code = int(first[:3])
        except ValueError:
            code = 0
        return code, first, lines

    def cmd(self, text):
        t0 = time.time()
        self.sock.sendall(text.encode("latin-1") + b"\r\n")
        code, first, lines = self.reply()
        return code, first, lines, t0, time.time()

    def close(self):
        try:
            if self.sock is not None:
                self.sock.close()
        except OSError:
            pass
        self.sock = self.rf = None

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.sh.args.port), timeout=REPLY_TIMEOUT)
        self.rf = self.sock.makefile("rb")
        code, _, _ = self.reply()
        if code != 220:
            raise ConnectionError("banner %d" % code)
        code, first, _, _, _ = self.cmd("EHLO load%d.test.local" % self.idx)
        if code != 250:
            raise ConnectionError("EHLO: " + first)

    def pick(self):
        """The K recipients of one transaction: (address, expected class, probe?)."""
        k = self.sh.args.k
        out = []
        n = self.sh.next_seq()
        out.append(("probe-%s-%d@example.com" % (self.tag, n), "unknown", True))
        u = self.rnd.choice(self.rcpts["known"])
        local, dom = u.split("@", 1)
        out.append(("%s+%sn%d@%s" % (local, self.tag, n, dom), "known", False))
        while len(out) < k:
            r = self.rnd.random()
            kind = "known" if r < 0.5 else ("unknown" if r < 0.8 else "alias")
            if not self.rcpts[kind]:
                kind = "known"
            out.append((self.rnd.choice(self.rcpts[kind]), kind, False))
        self.rnd.shuffle(out)
        return out

    def transaction(self, n):
        sh = self.sh
        rcpts = self.pick()[:n]
        code, first, _, t0, t1 = self.cmd("MAIL FROM:<load%d@example.net>" % self.idx)
        if code != 250:
            with sh.mu:
                sh.mail_refused.append((t1, t1 - t0, first, len(rcpts)))
                s = sh.second
                s["temp" if 400 <= code < 500 else "perm"] += len(rcpts)
            return False
        for addr, expect, probe in rcpts:
            if time.time() >= self.deadline:
                break       # the time is up: RSET and hang up
            try:
                code, first, _, t0, t1 = self.cmd("RCPT TO:<%s>" % addr)
            except (OSError, ConnectionError) as e:
                with sh.mu:
                    sh.lost.append((time.time(), "RCPT %s: %s" % (addr, e)))
                raise
            sh.note((t1, t1 - t0, expect, classify(code), probe, first, addr))
            if code == 421:
                raise ConnectionError("421")
        self.cmd("RSET")
        return True

    def run(self, deadline):
        sh = self.sh
        self.deadline = deadline
        while not sh.stop and time.time() < deadline:
            try:
                self.connect()
            except (OSError, ConnectionError):
                with sh.mu:
                    sh.connect_errors += 1
                self.close()
                time.sleep(0.1)
                continue
            try:
                for _ in range(sh.args.txs):
                    if sh.stop or time.time() >= deadline:
                        break
                    n = sh.take(sh.args.k)
                    if n == 0:
                        break
                    if not self.transaction(n):
                        time.sleep(0.05)
                        break
                try:
                    self.cmd("QUIT")
                except (OSError, ConnectionError):
                    pass
            except (OSError, ConnectionError):
                pass
            self.close()
            with sh.mu:
                if sh.sent >= sh.args.max:
                    sh.stop = True


def proc_sample(pidfile):
    """(fds, threads, rss_kib) of the pid in pidfile, or None."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        thr = rss = None
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    thr = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        return {"pid": pid, "fds": fds, "threads": thr, "rss_kib": rss}
    except (OSError, ValueError, IndexError):
        return None


def ticker(sh, start, logf, samples):
    n = 0
    while True:
        n += 1
        t = start + n
        while time.time() < t:
            if sh.done.wait(min(0.2, max(0.0, t - time.time()))):
                return
        with sh.mu:
            s, sh.second = sh.second, {"ok": 0, "temp": 0, "perm": 0, "maxlat": 0.0}
            total = len(sh.records)
        smp = proc_sample(sh.args.pidfile) if sh.args.pidfile else None
        if smp:
            smp["t"] = round(time.time() - start, 1)
            samples.append(smp)
        if logf:
            logf.write("%s t=%d rcpts=%d ok=%d temp=%d perm=%d max=%.3f%s\n" % (
                sh.args.phase, n, total, s["ok"], s["temp"], s["perm"], s["maxlat"],
                " fds=%d threads=%d rss=%dk" % (smp["fds"], smp["threads"], smp["rss_kib"]) if smp else ""))
            logf.flush()


def read_events(path):
    ev = {}
    if not path or not os.path.exists(path):
        return ev
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) >= 2:
                try:
                    ev.setdefault(w[1], float(w[0]))
                except ValueError:
                    pass
    return ev


def expected_first_line(rec):
    """Is the first reply line one that may be given?  (exact texts)"""
    _, _, expect, got, _, line, addr = rec
    norm = line[:3] + " " + line[4:] if len(line) > 3 else line
    if got == "ok":
        return norm == OK_LINE
    if got == "perm":
        return norm == "550 5.1.1 <%s>: Recipient address rejected: User unknown" % addr
    if got == "temp":
        return norm == "451 4.3.0 <%s>: Temporary lookup failure" % addr or norm in TEMP_LINES
    return False


def summarise(sh, start, end, samples):
    a = sh.args
    recs = sh.records
    ev = read_events(a.events)
    lat = sorted(r[1] for r in recs)
    mail_lat = [m[1] for m in sh.mail_refused]
    allat = lat + mail_lat
    false5 = [r for r in recs if r[3] == "perm" and r[2] in ("known", "alias")]
    false250 = [r for r in recs if r[3] == "ok" and r[2] == "unknown"]
    odd = [r for r in recs if not expected_first_line(r)]
    mail_odd = [m for m in sh.mail_refused if m[2] not in TEMP_LINES]
    deferred = sum(m[3] for m in sh.mail_refused)
    by = {}
    for r in recs:
        key = r[2] + (" probe" if r[4] else "")
        d = by.setdefault(key, {"ok": 0, "temp": 0, "perm": 0, "other": 0})
        d[r[3]] += 1

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 4) if lat else None

    out = {
        "phase": a.phase,
        "seconds": round(end - start, 2),
        "sessions": a.sessions,
        "rcpts_sent": len(recs),
        "rcpts_refused_at_mail": deferred,
        "recipients": len(recs) + deferred,
        "mail_refused": len(sh.mail_refused),
        "ok": sum(1 for r in recs if r[3] == "ok"),
        "temp": sum(1 for r in recs if r[3] == "temp") + deferred,
        "perm": sum(1 for r in recs if r[3] == "perm"),
        "false_5xx": len(false5) + sum(m[3] for m in sh.mail_refused if m[2][:1] == "5"),
        "false_250": len(false250),
        "odd_replies": len(odd) + len(mail_odd),
        "odd_examples": sorted({r[5] for r in odd} | {m[2] for m in mail_odd})[:5],
        "false_examples": sorted({"%s (%s): %s" % (r[6], r[2], r[5]) for r in (false5 + false250)[:5]}),
        "service_unavailable": sum(1 for r in recs if r[5] in TEMP_LINES)
        + sum(1 for m in sh.mail_refused if m[2] in TEMP_LINES),
        "lost": len(sh.lost),
        "lost_examples": [w for _, w in sh.lost[:3]],
        "connect_errors": sh.connect_errors,
        "longest": round(max(allat), 4) if allat else None,
        "p50": pct(0.5),
        "p99": pct(0.99),
        "slow": sum(1 for x in allat if x >= a.slow),
        "slow_limit": a.slow if a.slow < 1e9 else None,
        "by_class": by,
        "events": {k: round(v - start, 3) for k, v in ev.items()},
        "recovery": None,
        "samples": samples,
    }
    if "fault-end" in ev:
        t_end = ev["fault-end"]
        good = [r[0] for r in recs if r[4] and r[3] == "perm" and r[0] >= t_end]
        out["recovery"] = round(min(good) - t_end, 3) if good else None
        # the answers while the fault lasted, to tell fault from no fault
        t_start = ev.get("fault-start", start)
        during = [r for r in recs if t_start <= r[0] <= t_end + (out["recovery"] or 0)]
        out["during"] = {
            "rcpts": len(during),
            "ok": sum(1 for r in during if r[3] == "ok"),
            "temp": sum(1 for r in during if r[3] == "temp"),
            "perm": sum(1 for r in during if r[3] == "perm"),
        }
    return out


def main():
    a = parse_args()
    rcpts = read_rcpts(a.rcpts)
    if not rcpts["known"]:
        sys.exit("smtpload: no known recipients in %s" % a.rcpts)
    sh = Shared(a)
    sh.done = threading.Event()
    seed = a.seed if a.seed is not None else os.getpid()
    tag = "%s%x" % (re.sub(r"[^a-z0-9]", "", a.phase.lower())[:12], int(time.time() * 1000) % 0xFFFFFF)
    start = time.time()
    deadline = start + a.duration
    logf = open(a.log, "a") if a.log else None
    samples = []
    tk = threading.Thread(target=ticker, args=(sh, start, logf, samples), daemon=True)
    tk.start()
    threads = []
    for i in range(a.sessions):
        s = Session(sh, i, rcpts, random.Random(seed * 1000 + i), "%ss%d" % (tag, i))
        t = threading.Thread(target=s.run, args=(deadline,), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        # a session ends at the deadline, after at most one reply timeout
        t.join(a.duration + 3 * REPLY_TIMEOUT)
    end = time.time()
    sh.done.set()
    tk.join(2)
    out = summarise(sh, start, end, samples)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    else:
        json.dump(out, sys.stdout, indent=1)
        print()
    if logf:
        logf.close()


if __name__ == "__main__":
    main()
