#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# bench_rcpt.sh - RCPT throughput: rcptguard against Postfix's own proxy:ldap
# and against a null milter.
#
#   tests/bench/bench_rcpt.sh [SECONDS] [SESSIONS] [ROUNDS]
#
# Loads USERS (default 100000) users first.last@example.com into a slapd of its
# own (slapadd, offline), then drives a private Postfix on loopback with RCPT
# TO only (EHLO, MAIL FROM, R x RCPT TO, RSET; a few transactions a
# connection; never DATA), for SECONDS (default 20) per run from SESSIONS
# (default 10) concurrent SMTP sessions, under these set-ups of Postfix:
#
#   ceiling      no milter, no recipient map: every recipient accepted
#   null         smtpd_milters = tests/bench/nullmilter: CONTINUE to everything,
#                the same protocol steps negotiated as rcptguard; the limit
#                any milter can reach
#   proxy:ldap   relay_recipient_maps = proxy:ldap:ldap.cf (mail=%s), no milter
#   rg-cold      rcptguard, RedisURI none, restarted before the run and no
#                warm-up pass: its cache starts empty
#   rcptguard    (rg) smtpd_milters = rcptguard, RedisURI none, in-process cache
#   no suggest   the same with Suggest off (as for clients that are not
#                trusted: the typo search is never made)
#   +redis       rcptguard with RedisURI and the in-process cache
#   redis only   rcptguard with RedisURI and LocalCacheSize 0
#
# and four mixes of recipients:
#
#   known     every recipient exists: random picks from 10,000 "hot" users
#   half      50 % hot users, 50 % picks from 10,000 unknown addresses
#   distinct  every recipient different and never asked before in the run:
#             half existing users outside the hot set, half unknown addresses
#             (cache misses only)
#   messages  full messages through smtp-source (MSGS messages of 1 KB,
#             DATA and all), each to the first hot user (smtp-source numbers
#             the recipients of a message with more than one: they would not
#             exist); the rate counts messages
#
# Before "known" and "half" every hot address (and every unknown one of the
# half mix) is sent once, untimed, so that the figures are the steady state
# (rcptguard's cache, slapd's pages); each set-up and mix starts a fresh
# rcptguard and an empty Redis.  For each run: recipients per second, RCPT
# latency (p50, p99, as the client sees it, request to reply), the replies,
# and the CPU time of the milter (rcptguard, or the null milter), slapd,
# redis-server, Postfix (master and all its children) and the client, per
# 1,000 recipients, and how busy the machine was.
#
# ROUNDS (default 3) rounds, interleaved: every set-up and mix once a round,
# so the machine's ups and downs fall on all of them alike.  At the end, for
# each mix, the medians of the rounds and the ratios to Postfix without a
# check, to the null milter and to proxy:ldap, as a Markdown table.
#
# The client is a small Python program (raw sockets, one process a session):
# smtp-source cannot stop after RCPT TO and its -N numbers recipients, which
# would not exist in the directory; swaks and a bash /dev/tcp loop start a
# process or fork per command and cannot load the server.
#
# Environment: USERS (default 100000), HOT (10000), RCPTS (recipients a
# transaction, 20), TXS (transactions a connection, 10), SETUPS (space-separated
# subset of: ceiling null proxy rg-cold rg rg-nosuggest rg-redis rg-redis-only;
# default ceiling null proxy rg-cold rg), MIXES (known half distinct messages),
# MSGS (messages of the messages mix, 2000), NULL (the null milter: default
# tests/bench/nullmilter, on libmilter; tests/bench/nullown is the same on
# rcptguard's own milter engine).  Every server is stopped at the end (tests/lib/servers.sh).
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

DURATION=${1:-20}
SESSIONS=${2:-10}
ROUNDS=${3:-3}
MSGS=${MSGS:-2000}
NULLMILTER=${NULL:-$RG_BUILD/tests/bench/nullmilter}
USERS=${USERS:-100000}
HOT=${HOT:-10000}
RCPTS=${RCPTS:-20}
TXS=${TXS:-10}
SETUPS=${SETUPS:-ceiling null proxy rg-cold rg}
MIXES=${MIXES:-known half distinct messages}
B=$RG_BASE_DN

for cmd in slapadd slapd redis-server postfix postconf python3 smtp-source; do
    command -v "$cmd" >/dev/null || { echo "bench_rcpt: $cmd is missing (tests/install-deps)" >&2; exit 1; }
done
[[ -x $RCPTGUARD ]] || { echo "bench_rcpt: build first ($RCPTGUARD is missing)" >&2; exit 1; }
[[ -x $NULLMILTER ]] || { echo "bench_rcpt: build first ($NULLMILTER is missing: make check TESTS=)" >&2; exit 1; }
[[ -f /usr/lib/postfix/postfix-ldap.so ]] ||
    { echo "bench_rcpt: Postfix has no LDAP tables (apt-get install postfix-ldap)" >&2; exit 1; }
((HOT * 2 <= USERS)) || { echo "bench_rcpt: USERS must be at least 2 * HOT" >&2; exit 1; }

# --- the directory and the address lists --------------------------------------

echo "# generating $USERS users" >&2
awk -v n="$USERS" -v hot="$HOT" -v B="$B" -v dir="$T" 'BEGIN {
    nf = split("james mary john patricia robert jennifer michael linda william elizabeth " \
        "david barbara richard susan joseph jessica thomas sarah charles karen " \
        "christopher nancy daniel lisa matthew betty anthony margaret mark sandra " \
        "donald ashley steven kimberly paul emily andrew donna joshua michelle " \
        "kenneth carol kevin amanda brian dorothy george melissa timothy deborah " \
        "ronald stephanie edward rebecca jason sharon jeffrey laura ryan cynthia " \
        "jacob kathleen gary amy nicholas angela eric shirley jonathan anna " \
        "stephen brenda larry pamela justin emma scott nicole brandon helen " \
        "benjamin samantha samuel katherine gregory christine alexander debra " \
        "frank rachel patrick carolyn raymond janet jack catherine dennis maria", F, " ")
    nl = split("smith johnson williams brown jones garcia miller davis rodriguez martinez " \
        "hernandez lopez gonzalez wilson anderson thomas taylor moore jackson martin " \
        "lee perez thompson white harris sanchez clark ramirez lewis robinson " \
        "walker young allen king wright scott torres nguyen hill flores " \
        "green adams nelson baker hall rivera campbell mitchell carter roberts " \
        "gomez phillips evans turner diaz parker cruz edwards collins reyes " \
        "stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper " \
        "peterson bailey reed kelly howard ramos kim cox ward richardson " \
        "watson brooks chavez wood james bennett gray mendoza ruiz hughes " \
        "price alvarez castillo sanders patel myers long ross foster jimenez", L, " ")
    srand(7)
    print "dn: " B "\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
    print "dn: cn=reader," B "\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: reader\nuserPassword: readerpw\n"
    print "dn: ou=people," B "\nobjectClass: organizationalUnit\nou: people\n"
    # user i: first.last, then first.last2, first.last3, ... once every pair is taken
    for (i = 0; i < n; i++) {
        f = F[i % nf + 1]; l = L[int(i / nf) % nl + 1]; k = int(i / (nf * nl))
        local = f "." l (k ? k + 1 : "")
        printf "dn: uid=u%d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: u%d\ncn: %s %s\nsn: %s\nmail: %s@example.com\n\n", i, B, i, f, l, l, local
        user[i] = local
    }
    # an unknown address: a first name, a number, a surname (no user has digits
    # in the middle)
    # hot: HOT users spread over the directory; the rest are for "distinct"
    step = int(n / hot)
    for (i = 0; i < n; i++)
        if (i % step == 0 && h < hot) { print user[i] "@example.com" > (dir "/hot.txt"); h++ }
        else rest[r++] = user[i]
    for (i = 0; i < hot; i++)
        printf "%s%d.%s@example.com\n", F[int(rand() * nf) + 1], i, L[int(rand() * nl) + 1] > (dir "/unknown.txt")
    # distinct: every rest user once and as many fresh unknown addresses,
    # shuffled together
    for (i = 0; i < r; i++) {
        all[2 * i] = rest[i] "@example.com"
        all[2 * i + 1] = sprintf("%s%d.%s@example.com", F[int(rand() * nf) + 1], hot + i, L[int(rand() * nl) + 1])
    }
    m = 2 * r
    for (i = m - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = all[i]; all[i] = all[j]; all[j] = t }
    for (i = 0; i < m; i++) print all[i] > (dir "/distinct.txt")
}' >"$T/users.ldif"
cat "$T/hot.txt" "$T/unknown.txt" >"$T/warm-half.txt"

printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n' "$B" >"$T/empty.ldif"
start_slapd "$T/empty.ldif" || exit 1
stop_slapd
rm -rf "$SLAPD_DIR/data" && mkdir -p "$SLAPD_DIR/data"
slapadd -q -n 1 -F "$SLAPD_DIR/slapd.d" -l "$T/users.ldif" >"$T/slapadd.log" 2>&1 || { tail "$T/slapadd.log"; exit 1; }
restart_slapd || exit 1
echo "# slapd: $(ldapsearch -x -LLL -H "$SLAPD_URI" -D "$RG_READER_DN" -w "$RG_READER_PW" -b "$B" \
    -E pr=1000/noprompt '(mail=*)' 1.1 2>/dev/null | grep -c '^dn:') users" >&2

# --- the client ------------------------------------------------------------------

cat >"$T/client.py" <<'PY'
# RCPT-only SMTP load: SESSIONS processes, each one session at a time.
import os, random, socket, sys, time
from array import array

port, sessions, duration, rcpts, txs, mix, outdir = sys.argv[1:8]
port, sessions, duration, rcpts, txs = int(port), int(sessions), float(duration), int(rcpts), int(txs)
lists = sys.argv[8:]

def reply(f):
    lines = []
    while True:
        l = f.readline()
        if not l:
            raise EOFError
        lines.append(l)
        if l[3:4] != b'-':
            return lines

def child(i, start, deadline):
    rnd = random.Random(1000 + i)
    if mix in ('known', 'half'):
        hot = open(lists[0]).read().split()
        unk = open(lists[1]).read().split() if mix == 'half' else None
        def pick():
            if unk is not None and rnd.random() < 0.5:
                return rnd.choice(unk)
            return rnd.choice(hot)
        total = None
    else:        # distinct, warm: each address of the list once, split over the sessions
        mine = open(lists[0]).read().split()[i::sessions]
        it = iter(mine)
        pick = lambda: next(it)
    lat = array('d')
    codes = {}
    while time.time() < start:
        time.sleep(0.001)
    done = False
    while not done and time.time() < deadline:
        s = socket.create_connection(('127.0.0.1', port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile('rb')
        try:
            reply(f)
            s.sendall(b'EHLO client.bench.local\r\n'); reply(f)
            for t in range(txs):
                if time.time() >= deadline:
                    break
                s.sendall(b'MAIL FROM:<bench@example.net>\r\n'); reply(f)
                for r in range(rcpts):
                    try:
                        a = pick()
                    except StopIteration:
                        done = True
                        break
                    t0 = time.perf_counter()
                    s.sendall(b'RCPT TO:<' + a.encode() + b'>\r\n')
                    rl = reply(f)
                    lat.append(time.perf_counter() - t0)
                    c = rl[-1][:3].decode()
                    codes[c] = codes.get(c, 0) + 1
                    if c == '421':
                        raise EOFError
                s.sendall(b'RSET\r\n'); reply(f)
                if done:
                    break
            s.sendall(b'QUIT\r\n'); reply(f)
        except (EOFError, ConnectionError):
            codes['closed'] = codes.get('closed', 0) + 1
        f.close(); s.close()
    end = time.time()
    with open(os.path.join(outdir, 'lat.%d' % i), 'wb') as o:
        lat.tofile(o)
    with open(os.path.join(outdir, 'codes.%d' % i), 'w') as o:
        o.write(' '.join('%s=%d' % kv for kv in sorted(codes.items())) + ' end=%.6f\n' % end)
    os._exit(0)

start = time.time() + 1.0
deadline = start + duration
pids = []
for i in range(sessions):
    pid = os.fork()
    if pid == 0:
        child(i, start, deadline)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
lat = array('d')
codes = {}
end = start
for i in range(sessions):
    a = array('d')
    with open(os.path.join(outdir, 'lat.%d' % i), 'rb') as f:
        a.frombytes(f.read())
    lat.extend(a)
    for kv in open(os.path.join(outdir, 'codes.%d' % i)).read().split():
        k, v = kv.split('=')
        if k == 'end':
            end = max(end, float(v))
        else:
            codes[k] = codes.get(k, 0) + int(v)
n = len(lat)
wall = end - start
s = sorted(lat)
q = lambda p: s[min(n - 1, int(p * n))] * 1000 if n else 0
ct = os.times()
print('rcpts=%d wall=%.2f rate=%.0f p50=%.2f p99=%.2f client_cpu=%.2f codes=%s' % (
    n, wall, n / wall if wall > 0 else 0, q(0.50), q(0.99),
    ct.children_user + ct.children_system,
    ','.join('%s:%d' % kv for kv in sorted(codes.items()))))
PY

# --- CPU accounting ------------------------------------------------------------

HZ=$(getconf CLK_TCK)
# cpu_of PID: user+system ticks of PID (and, with "all", of its reaped children)
cpu_of() {
    local pid=$1 f
    [[ -n $pid && -r /proc/$pid/stat ]] || { echo 0; return; }
    f=$(sed 's/.*) //' "/proc/$pid/stat")
    # after "comm)": field 3 is state; utime=14 stime=15 cutime=16 cstime=17
    awk -v all="${2:-}" '{ t = $12 + $13; if (all == "all") t += $14 + $15; print t }' <<<"$f"
}
postfix_ticks() {
    local master t c
    master=$(head -n 1 "$POSTFIX_DIR/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
    [[ -n $master ]] || { echo 0; return; }
    t=$(cpu_of "$master" all)
    for c in $(pgrep -P "$master"); do
        t=$((t + $(cpu_of "$c")))
    done
    echo "$t"
}
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
# snapshot SETUP: the CPU so far of the set-up's milter (rcptguard, or the
# null milter; none for the others), slapd, Redis, Postfix, and the machine
snapshot() {
    local milter=
    case $1 in
    rg*) milter=${RCPTGUARD_PID:-} ;;
    null) milter=${NULL_PID:-} ;;
    esac
    echo "$(cpu_of "$milter") $(cpu_of "$(slapd_pid)") $(cpu_of "${REDIS_PID:-}") $(postfix_ticks) $(machine_busy)"
}

# --- Postfix ---------------------------------------------------------------------

POSTFIX_DIR=$T/postfix
POSTFIX_PORT=$(free_port)
cat >"$T/postfix-ldap.cf" <<EOF
server_host = $SLAPD_URI
version = 3
search_base = $B
query_filter = mail=%s
result_attribute = mail
domain = example.com
bind = yes
bind_dn = $RG_READER_DN
bind_pw = $RG_READER_PW
EOF
chmod 644 "$T/postfix-ldap.cf"

# bench_postfix MILTER_SOCKET|none MAP|none: the tests' Postfix (mta.sh), with
# the error throttles off (half the recipients are unknown) and in_flow_delay
# 0 (smtpd opens a queue file at the first accepted RCPT; a transaction ended
# by RSET never gives its flow-control token back, and once they are spent
# every new transaction would wait 1 s), then started.
bench_postfix() {
    local sock=$1 map=$2
    stop_postfix
    chmod o+x "$T"
    write_postfix_conf "$POSTFIX_DIR" "$POSTFIX_PORT" "${sock/#none/inet:127.0.0.1:1}"
    [[ $sock == none ]] && postconf -c "$POSTFIX_DIR/conf" -e 'smtpd_milters ='
    [[ $map != none ]] && postconf -c "$POSTFIX_DIR/conf" -e "relay_recipient_maps = $map"
    postconf -c "$POSTFIX_DIR/conf" -e \
        'smtpd_error_sleep_time = 0' 'in_flow_delay = 0' 'smtpd_soft_error_limit = 100000' \
        'smtpd_hard_error_limit = 100000' 'smtpd_junk_command_limit = 100000'
    _mta_on_exit stop_postfix
    postfix -c "$POSTFIX_DIR/conf" check >"$POSTFIX_DIR/check.log" 2>&1 &&
        postfix -c "$POSTFIX_DIR/conf" start >"$POSTFIX_DIR/start.log" 2>&1 &&
        _mta_wait_port "$POSTFIX_PORT" 20 || {
        echo "# postfix did not start:" >&2
        cat "$POSTFIX_DIR/check.log" "$POSTFIX_DIR/start.log" >&2
        tail "$POSTFIX_DIR/maillog" >&2
        exit 1
    }
}

# bench_rcptguard [Key value...]: a fresh rcptguard (empty cache) and, with
# Redis, an empty Redis; waits for the suggestion index (loopback is trusted,
# so every unknown recipient gets a suggestion search, as a trusted client's
# would).
bench_rcptguard() {
    local i
    stop_rcptguard
    [[ -n ${REDIS_PID:-} ]] && redis_cli FLUSHALL >/dev/null
    : >"$T/rcptguard.log"
    start_rcptguard "$T/bench.conf" || exit 1
    grep -q '^Suggest off' "$T/bench.conf" && return 0
    for ((i = 0; i < 300; i++)); do
        grep -q 'suggestion index loaded' "$T/rcptguard.log" && return 0
        sleep 0.1
    done
    echo "# rcptguard: no 'suggestion index loaded' after 30 s" >&2
}

# run_client MIX LIST... -> one result line on standard output
run_client() {
    local mix=$1 dur=$DURATION
    shift
    [[ $mix == warm ]] && dur=600
    rm -rf "$T/out" && mkdir -p "$T/out"
    python3 "$T/client.py" "$POSTFIX_PORT" "$SESSIONS" "$dur" "$RCPTS" "$TXS" "$mix" "$T/out" "$@"
}

# run_messages: full messages with smtp-source -> a result line as client.py's
run_messages() {
    local to t0 t1
    to=$(head -n 1 "$T/hot.txt")
    t0=$(date +%s.%N)
    timeout -k 5 600 smtp-source -s "$SESSIONS" -m "$MSGS" -r 1 -l 1024 \
        -f bench@example.net -t "$to" "127.0.0.1:$POSTFIX_PORT" >"$T/smtp-source.log" 2>&1 ||
        echo "# smtp-source failed: $(tail -n 2 "$T/smtp-source.log" | tr '\n' ' ')" >&2
    t1=$(date +%s.%N)
    awk -v t0="$t0" -v t1="$t1" -v n="$MSGS" 'BEGIN {
        w = t1 - t0; printf "rcpts=%d wall=%.2f rate=%.0f p50=- p99=- client_cpu=0 codes=messages:%d\n",
            n, w, n / w, n }'
}

NULL_PID=
NULL_PORT=$(free_port)
stop_null() {
    [[ -n $NULL_PID ]] || return 0
    kill -TERM "$NULL_PID" 2>/dev/null
    wait "$NULL_PID" 2>/dev/null
    NULL_PID=
}
rg_on_exit stop_null
start_null() {
    local i
    [[ -n $NULL_PID ]] && return 0
    "$NULLMILTER" -p "inet:$NULL_PORT@127.0.0.1" </dev/null >"$T/null.log" 2>&1 &
    NULL_PID=$!
    for ((i = 0; i < 100; i++)); do
        _rg_port_open 127.0.0.1 "$NULL_PORT" && return 0
        sleep 0.1
    done
    echo "# nullmilter did not start" >&2
    exit 1
}

# --- the runs ----------------------------------------------------------------------

echo "# machine: $(nproc) CPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/^Mem:/ {print $2}') GB RAM; $(slapd -VV 2>&1 | head -n 1 | sed 's/^@(#) \$//; s/ (.*//'); Postfix $(postconf -d -h mail_version 2>/dev/null); $(redis-server --version | awk '{print $1, $3}'); Python $(python3 -c 'import platform; print(platform.python_version())')"
echo "# $(date -u '+%F %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $USERS users, hot set $HOT, $SESSIONS sessions, $RCPTS RCPTs a transaction, $TXS transactions a connection, ${DURATION} s a run, $ROUNDS rounds"
printf '%-5s %-14s %-9s %8s %7s %7s %7s  %-28s %s\n' round setup mix rcpt/s p50ms p99ms rcpts replies \
    "CPU ms/1000 rcpt: milter slapd redis postfix client; machine busy"

# setup_postfix SETUP: Postfix (and rcptguard's configuration) for SETUP
setup_postfix() {
    case $1 in
    ceiling) bench_postfix none none ;;
    null) start_null; bench_postfix "inet:$NULL_PORT@127.0.0.1" none ;;
    proxy) bench_postfix none "proxy:ldap:$T/postfix-ldap.cf" ;;
    rg | rg-cold | rg-nosuggest | rg-redis | rg-redis-only)
        if [[ $1 == rg || $1 == rg-cold || $1 == rg-nosuggest ]]; then
            stop_redis
            # shellcheck disable=SC2034  # read by write_conf
            REDIS_URI=none
            extra=()
            [[ $1 == rg-nosuggest ]] && extra=("Suggest off")
            write_conf "$T/bench.conf" "MaxUnknownRecipients 0" "${extra[@]}"
        else
            [[ -n ${REDIS_PID:-} ]] || start_redis || exit 1
            extra=()
            [[ $1 == rg-redis-only ]] && extra=("LocalCacheSize 0")
            write_conf "$T/bench.conf" "MaxUnknownRecipients 0" "${extra[@]}"
        fi
        bench_postfix "inet:$MILTER_PORT@127.0.0.1" none
        ;;
    *) echo "bench_rcpt: unknown set-up $1" >&2; exit 1 ;;
    esac
}

# one_run ROUND SETUP MIX: one timed run, its line printed and kept
one_run() {
    local round=$1 setup=$2 mix=$3 lists=() before after res n client cpu
    [[ $setup == rg* ]] && bench_rcptguard
    case $mix in
    known) lists=("$T/hot.txt") ;;
    half) lists=("$T/hot.txt" "$T/unknown.txt") ;;
    distinct) lists=("$T/distinct.txt") ;;
    messages) ;;
    *) echo "bench_rcpt: unknown mix $mix" >&2; exit 1 ;;
    esac
    # the warm-up pass, except for a cold rcptguard
    if [[ $setup != rg-cold ]]; then
        case $mix in
        known) run_client warm "$T/hot.txt" >/dev/null ;;
        half) run_client warm "$T/warm-half.txt" >/dev/null ;;
        esac
    fi
    before=$(snapshot "$setup")
    if [[ $mix == messages ]]; then
        res=$(run_messages)
    else
        res=$(run_client "$mix" "${lists[@]}")
    fi
    after=$(snapshot "$setup")
    n=$(sed 's/.*rcpts=\([0-9]*\).*/\1/' <<<"$res")
    client=$(sed 's/.*client_cpu=\([0-9.]*\).*/\1/' <<<"$res")
    cpu=$(awk -v b="$before" -v a="$after" -v n="$n" -v hz="$HZ" -v cl="$client" 'BEGIN {
        split(b, x, " "); split(a, y, " ")
        k = n > 0 ? 1000 / n : 0
        for (i = 1; i <= 4; i++) out = out sprintf("%.1f ", (y[i] - x[i]) / hz * 1000 * k)
        busy = y[5] - x[5]; idle = y[6] - x[6]
        printf "%s%.1f; %.0f %%", out, cl * 1000 * k, 100 * busy / (busy + idle) }')
    awk -v r="$round" -v s="$setup" -v m="$mix" -v cpu="$cpu" -v out="$T/results" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%-5s %-14s %-9s %8s %7s %7s %7s  %-28s %s\n", r, s, m, v["rate"], v["p50"], v["p99"], v["rcpts"], v["codes"], cpu
        print s, m, v["rate"], v["p99"] >> out }' <<<"$res"
    if [[ $setup == rg* ]] && ! kill -0 "${RCPTGUARD_PID:-0}" 2>/dev/null; then
        echo "# rcptguard died during the run:" >&2
        tail "$T/rcptguard.log" >&2
        exit 1
    fi
}

: >"$T/results"
for ((round = 1; round <= ROUNDS; round++)); do
    for setup in $SETUPS; do
        setup_postfix "$setup"
        for mix in $MIXES; do
            one_run "$round" "$setup" "$mix"
        done
    done
    echo "# round $round done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
done

# the medians of the rounds, and the ratios
for mix in $MIXES; do
    echo
    echo "mix $mix, median of $ROUNDS rounds:"
    printf '| set-up | RCPT/s | vs no check | vs null milter | vs proxy:ldap | p99 ms |\n'
    printf '| --- | --- | --- | --- | --- | --- |\n'
    awk -v mix="$mix" -v setups="$SETUPS" '
    function med(a, k,   i, j, t) {
        for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    $2 == mix { c[$1]++; r[$1, c[$1]] = $3; p[$1, c[$1]] = $4 }
    END {
        ns = split(setups, S, " ")
        for (i = 1; i <= ns; i++) {
            s = S[i]; k = c[s]
            for (j = 1; j <= k; j++) { a[j] = r[s, j]; b[j] = p[s, j] }
            R[s] = k ? med(a, k) : 0; P[s] = k && b[1] != "-" ? med(b, k) : "-"
        }
        for (i = 1; i <= ns; i++) {
            s = S[i]
            printf "| %s | %.0f | %s | %s | %s | %s |\n", s, R[s],
                R["ceiling"] ? sprintf("%.2f", R[s] / R["ceiling"]) : "",
                R["null"] ? sprintf("%.2f", R[s] / R["null"]) : "",
                R["proxy"] ? sprintf("%.2f", R[s] / R["proxy"]) : "", P[s]
        }
    }' "$T/results"
done
