#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/faults/matrix.sh - the fault matrix: faults under a steady load through
# a real Postfix into rcptguard, with the figures of each.
#
#   tests/faults/matrix.sh [FAULT...]
#
# Starts slapd (a generated directory of 3,000 users and 300 aliases),
# redis-server, rcptguard and a private Postfix on loopback in a temporary
# folder (tests/lib/servers.sh, tests/lib/mta.sh; all stopped on any exit),
# then runs, one after the other, each under load from tests/faults/smtpload.py
# (SESSIONS concurrent SMTP sessions, 20 RCPTs a transaction: known users,
# unknown addresses, aliases, and in every transaction a never-seen unknown
# "probe" that only the directory can answer):
#
#   baseline      no fault: warm-up, and the MTA's own overhead (its longest
#                 answer) that the time bounds below allow for
#   slapd-kill    slapd SIGKILLed, started again 10 s later
#   slapd-stop    slapd SIGSTOPped for 10 s
#   dead-uri      LDAPURI: first a socket that accepts and never answers, then
#                 the real slapd
#   redis-kill    redis-server SIGKILLed, started again 10 s later
#   redis-stop    redis-server SIGSTOPped for 10 s
#   redis-oom     Redis maxmemory reached (noeviction) for 10 s
#   reload-storm  SIGUSR1 10 times a second for 30 s, the file swapped
#                 (rename) between a good and a broken version each time
#   tls-ldaps     LDAPURI ldaps:// to a server that never completes the TLS
#                 handshake
#   tls-starttls  LDAPStartTLS to a server that answers StartTLS with success
#                 and then never completes the handshake
#   milter-kill   rcptguard SIGKILLed, started again 3 s later
#   steady        (only when named) the load with no fault, to tell the growth
#                 that comes with load alone from the growth after a fault
#
# With FAULT names only those run (after a shorter baseline), for instance
# "tests/faults/matrix.sh slapd-kill".  Every fault prints TAP lines, one per
# requirement, with the figures in the text; the common ones: no false 5xx
# (5xx for a known address or alias), no false 250 (250 for an unknown one),
# every reply line one of the expected texts, and the daemon's open fds and
# threads at rest after the fault within 5 % of their value after the
# warm-up, its RSS within 5 % of the highest figure at rest so far (after
# the warm-up or an earlier fault).  Time bounds are 2 x LDAPTimeout + 0.5 s + the baseline's longest
# answer.  The whole matrix must send at least 100,000 recipients.
#
# Environment: RG_FAULT_SESSIONS (8), RG_FAULT_LDAPTIMEOUT (1),
# RG_FAULT_SCALE (1: multiplies the load durations), RG_FAULT_REPORT (a file
# that gets a Markdown table row a fault), RG_KEEP=1 (keep the folder: per
# second logs in $T/faults/*.log, summaries in $T/faults/*.json).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/servers.sh"
. "$HERE/../lib/mta.sh"
rg_setup

PY=/usr/bin/python3
ALL_FAULTS=(slapd-kill slapd-stop dead-uri redis-kill redis-stop redis-oom reload-storm tls-ldaps tls-starttls milter-kill)
SESSIONS=${RG_FAULT_SESSIONS:-8}
LT=${RG_FAULT_LDAPTIMEOUT:-1}
SCALE=${RG_FAULT_SCALE:-1}
REPORT=${RG_FAULT_REPORT:-}
F=$T/faults
mkdir -p "$F"
FM_BG=()
RELOADED='configuration .* reloaded[:( ]'
MATRIX_START=$(date +%s)

for prog in slapd slapadd redis-server redis-cli postfix postconf ldapsearch; do
    if ! command -v "$prog" >/dev/null; then
        skip "faults: the fault matrix" "$prog is not installed"
        tap_done
    fi
done
[[ -x $PY ]] || { skip "faults: the fault matrix" "$PY is missing"; tap_done; }
[[ -x $RCPTGUARD ]] || { not_ok "faults: $RCPTGUARD is built"; tap_done; }

selected=()
if (($# == 0)); then
    selected=("${ALL_FAULTS[@]}")
    BASE_SECS=15
else
    for a in "$@"; do
        if [[ " ${ALL_FAULTS[*]} baseline steady " != *" $a "* ]]; then
            echo "matrix.sh: unknown fault '$a' (one of: ${ALL_FAULTS[*]})" >&2
            exit 2
        fi
        [[ $a == baseline ]] || selected+=("$a")
    done
    BASE_SECS=12
fi

# --- helpers -----------------------------------------------------------------

# secs N: N seconds of load, times RG_FAULT_SCALE
secs() {
    awk -v n="$1" -v s="$SCALE" 'BEGIN { printf "%d", n * s + 0.5 }'
}

now() {
    date +%s.%N
}

# fcmp A OP B: floating-point comparison (awk), true or false
fcmp() {
    awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
        if (op == "<=") r = a <= b; else if (op == "<") r = a < b;
        else if (op == ">=") r = a >= b; else r = a > b
        exit !r }'
}

_fm_kill_bg() {
    local p
    for p in "${FM_BG[@]}"; do
        kill -CONT "$p" 2>/dev/null
        kill "$p" 2>/dev/null
    done
}
rg_on_exit _fm_kill_bg

# jv JSON EXPR: a value of the load summary (d is the parsed JSON)
jv() {
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print("none" if v is None else v)' "$1" "$2"
}

# gen_directory: $F/dir.ldif (3,000 users, 300 aliases of two users each) and
# $F/rcpts.txt (every address with its class, and 2,000 unknown addresses).
gen_directory() {
    awk -v B="$RG_BASE_DN" -v ldif="$F/dir.ldif" -v list="$F/rcpts.txt" 'BEGIN {
        srand(11)
        print "dn: " B "\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n" > ldif
        print "dn: cn=reader," B "\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: reader\nuserPassword: readerpw\n" > ldif
        print "dn: ou=people," B "\nobjectClass: organizationalUnit\nou: people\n" > ldif
        print "dn: ou=aliases," B "\nobjectClass: organizationalUnit\nou: aliases\n" > ldif
        for (i = 0; i < 3000; i++) {
            printf "dn: uid=user%04d,ou=people,%s\nobjectClass: inetOrgPerson\nuid: user%04d\ncn: User %d\nsn: User\nmail: user%04d@example.com\n\n", i, B, i, i, i > ldif
            printf "user%04d@example.com known\n", i > list
        }
        for (i = 0; i < 300; i++) {
            printf "dn: cn=list%03d,ou=aliases,%s\nobjectClass: nisMailAlias\nobjectClass: extensibleObject\ncn: list%03d\nmail: list%03d@example.com\n", i, B, i, i > ldif
            printf "rfc822MailMember: user%04d@example.com\nrfc822MailMember: user%04d@example.com\n\n", int(rand() * 3000), int(rand() * 3000) > ldif
            printf "list%03d@example.com alias\n", i > list
        }
        for (i = 0; i < 2000; i++)
            printf "nobody%04d@example.com unknown\n", i > list
    }'
}

# conf_variant OUT [sed expressions...]: the base configuration, edited
conf_variant() {
    local out=$1
    shift
    cp "$F/good.conf" "$out.tmp"
    local e
    for e in "$@"; do
        sed -i "$e" "$out.tmp"
    done
    mv "$out.tmp" "$out"
}

# fake_start MODE PORT LOG: fakeldap.py in the background, waited for (10 s
# at most) by its "listening" line, not by a connection of our own: that
# would be logged as an accept, counted against rcptguard.
fake_start() {
    local i
    "$PY" "$HERE/fakeldap.py" "$1" "$2" "$3" &
    FM_BG+=("$!")
    for ((i = 0; i < 200; i++)); do
        grep -q listening "$3" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# install_conf FILE: put FILE in place of the running configuration (rename)
install_conf() {
    cp "$1" "$CONF.new" && mv "$CONF.new" "$CONF"
}

# reload_rg: SIGUSR1 and wait (15 s at most) for the "reloaded" log line
reload_rg() {
    local n0 i
    n0=$(grep -c "$RELOADED" "$RCPTGUARD_LOG")
    kill -USR1 "$RCPTGUARD_PID" 2>/dev/null || return 1
    for ((i = 0; i < 150; i++)); do
        (($(grep -c "$RELOADED" "$RCPTGUARD_LOG") > n0)) && return 0
        sleep 0.1
    done
    return 1
}

start_rg() {
    start_rcptguard "$CONF" || return 1
    echo "$RCPTGUARD_PID" >"$F/rg.pid"
}

# restore_rg: the good configuration back; the daemon restarted when the
# reload does not complete (a hung reload must not spoil the next faults).
restore_rg() {
    install_conf "$F/good.conf"
    if ! reload_rg; then
        echo "# $1: the reload back to the good configuration did not complete in 15 s; restarting rcptguard" >&2
        kill -KILL "$RCPTGUARD_PID" 2>/dev/null
        wait "$RCPTGUARD_PID" 2>/dev/null
        RCPTGUARD_PID=
        start_rg || { not_ok "$1: rcptguard starts again"; tap_done; }
    fi
}

# event NAME: for the load client's time to recovery
event() {
    printf '%s %s\n' "$(now)" "$1" >>"$EV"
}

# load_start PHASE SECONDS [smtpload options]: the load, in the background
load_start() {
    PHASE=$1
    local d=$2
    shift 2
    EV=$F/$PHASE.events
    : >"$EV"
    "$PY" "$HERE/smtpload.py" --port "$POSTFIX_PORT" --rcpts "$F/rcpts.txt" \
        --sessions "$SESSIONS" --duration "$d" --phase "$PHASE" \
        --log "$F/$PHASE.log" --json "$F/$PHASE.json" --events "$EV" \
        --pidfile "$F/rg.pid" --slow "$(awk -v t="$LT" 'BEGIN { print 0.9 * t }')" "$@" \
        2>"$F/$PHASE.err" &
    LOAD_PID=$!
    FM_BG+=("$LOAD_PID")
    LOAD_T0=$(now)
}

load_wait() {
    wait "$LOAD_PID"
    if [[ ! -s $F/$PHASE.json ]]; then
        not_ok "$PHASE: the load client wrote its summary"
        sed 's/^/#   /' "$F/$PHASE.err" >&2
        return 1
    fi
}

# sleep_until OFFSET: sleep until OFFSET seconds after the load started
sleep_until() {
    local s
    s=$(awk -v t0="$LOAD_T0" -v o="$1" -v n="$(now)" 'BEGIN { s = t0 + o - n; print (s > 0 ? s : 0) }')
    sleep "$s"
}

# rest_sample: fds threads rss_kib of the daemon with no SMTP session open
rest_sample() {
    local pid=$RCPTGUARD_PID fds thr rss
    sleep 2
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    thr=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
    echo "$fds ${thr:-0} ${rss:-0}"
}

# mib KIB: mebibytes, one decimal
mib() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# growth NOW REF: growth in per cent, one decimal
growth() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "inf"; else printf "%.1f", (a - b) * 100 / b }'
}

TOTAL_RCPTS=0
NSTEADY=0

# common_checks PHASE: what must hold under every fault, and the figures.
# Sets LONGEST, RECOVERY, TEMP, N for the phase checks.
common_checks() {
    local p=$1 j=$F/$1.json f5 f250 odd lost
    N=$(jv "$j" 'd["rcpts_sent"]')
    TEMP=$(jv "$j" 'd["temp"]')
    LONGEST=$(jv "$j" 'd["longest"]')
    RECOVERY=$(jv "$j" 'd["recovery"]')
    f5=$(jv "$j" 'd["false_5xx"]')
    f250=$(jv "$j" 'd["false_250"]')
    odd=$(jv "$j" 'd["odd_replies"]')
    lost=$(jv "$j" 'd["lost"]')
    TOTAL_RCPTS=$((TOTAL_RCPTS + N))
    echo "# $p: $N recipients answered ($(jv "$j" 'd["recipients"]') with those refused at MAIL FROM), 4xx $TEMP, longest ${LONGEST} s, p99 $(jv "$j" 'd["p99"]') s, recovery ${RECOVERY} s; by class: $(jv "$j" 'd["by_class"]')" >&2
    if (($(jv "$j" 'd["recipients"]') < SESSIONS)); then
        not_ok "$p: the load ran ($N recipients answered)"
        sed 's/^/#   /' "$F/$p.err" >&2
    fi
    if [[ $f5 == 0 ]]; then
        ok "$p: no false 5xx (0 of $N recipients; 4xx: $TEMP)"
    else
        not_ok "$p: no false 5xx ($f5 of $N recipients)" "$(jv "$j" 'd["false_examples"]')"
    fi
    if [[ $f250 == 0 ]]; then
        ok "$p: no false 250 for unknown recipients (0 of $N)"
    else
        not_ok "$p: no false 250 for unknown recipients ($f250 of $N)" "$(jv "$j" 'd["false_examples"]')"
    fi
    if [[ $odd == 0 && $lost == 0 ]]; then
        ok "$p: every RCPT answered with one of the expected reply lines ($N)"
    else
        not_ok "$p: every RCPT answered with one of the expected reply lines ($odd unexpected, $lost without a reply)" \
            "$(jv "$j" 'd["odd_examples"]')" "$(jv "$j" 'd["lost_examples"]')"
    fi
}

# bound_check PHASE: every answer within 2 x LDAPTimeout + 0.5 s + overhead
bound_check() {
    if fcmp "$LONGEST" "<=" "$BOUND"; then
        ok "$1: every answer within ${BOUND} s (2 x LDAPTimeout + 0.5 s + MTA ${OVERHEAD} s): longest ${LONGEST} s"
    else
        not_ok "$1: every answer within ${BOUND} s (2 x LDAPTimeout + 0.5 s + MTA ${OVERHEAD} s): longest ${LONGEST} s" \
            "$(jv "$F/$1.json" 'd["slow"]') answers took ${LT} s x 0.9 or more"
    fi
}

# rest_check PHASE [noassert]: fds, threads, RSS at rest against the warm-up
rest_check() {
    local p=$1 fds thr rss gf gt gr alive=1
    kill -0 "$RCPTGUARD_PID" 2>/dev/null || alive=0
    if ((alive)); then
        read -r fds thr rss < <(rest_sample)
    else
        fds=0 thr=0 rss=0
    fi
    # fds and threads against the warm-up; RSS against the highest figure at
    # rest so far (the warm-up's, or after an earlier phase): the resident
    # size settles only after some minutes of load, glibc keeping pages of
    # each phase's peak in its per-thread arenas (no leak: see
    # RELIABILITY.md), so a fault fails when it adds to that level; the
    # growth since the warm-up is shown beside it
    local ref=$REF_RSS gw
    ((${PREV_RSS:-0} > ref)) && ref=$PREV_RSS
    gf=$(growth "$fds" "$REF_FDS")
    gt=$(growth "$thr" "$REF_THR")
    gr=$(growth "$rss" "$ref")
    gw=$(growth "$rss" "$WARM_RSS")
    ((alive && rss > ${PREV_RSS:-0})) && PREV_RSS=$rss
    REST="fds $fds ($gf %), threads $thr ($gt %), RSS $(mib "$rss") MiB ($gr %; $gw % since the warm-up)"
    local maxs
    maxs=$(jv "$F/$p.json" '"max under load: fds %s, threads %s, RSS %.1f MiB" % (max([s["fds"] for s in d["samples"]] or [0]), max([s["threads"] for s in d["samples"]] or [0]), max([s["rss_kib"] for s in d["samples"]] or [0]) / 1024)')
    echo "# $p: at rest $REST; $maxs" >&2
    REST_MAX=$maxs
    if ((!alive)); then
        not_ok "$p: rcptguard still running" "$(tail -n 5 "$RCPTGUARD_LOG")"
        return
    fi
    if [[ ${2:-} == noassert ]]; then
        return
    fi
    # RSS: 5 %, or 1 MiB for a process of a few MiB, where one more malloc
    # arena or a Redis reconnect's buffers are already 5 %; a leak of the
    # phase's thousands of recipients is many MiB
    local rss_ok=0
    if fcmp "$gr" "<=" 5 || ((rss - ref <= 1024)); then
        rss_ok=1
    fi
    if fcmp "$gf" "<=" 5 && fcmp "$gt" "<=" 5 && ((rss_ok)); then
        ok "$p: flat at rest (growth <= 5 %, RSS <= 5 % or 1 MiB): $REST"
    else
        not_ok "$p: flat at rest (growth <= 5 %, RSS <= 5 % or 1 MiB): $REST" \
            "warm-up: fds $REF_FDS, threads $REF_THR, RSS $(mib "$REF_RSS") MiB"
    fi
}

# report_row PHASE EXTRA: a Markdown row for RELIABILITY.md
report_row() {
    [[ -n $REPORT ]] || return 0
    local j=$F/$1.json
    printf '| %s | %s | %s | %s | %s | %s s | %s | %s | %s |\n' "$1" \
        "$(jv "$j" 'd["recipients"]')" "$(jv "$j" 'd["false_5xx"]')" "$(jv "$j" 'd["false_250"]')" \
        "$(jv "$j" 'd["temp"]')" "$LONGEST" "${2:-$RECOVERY s}" "$REST" "${3:-}" >>"$REPORT"
}

# redis_back FAULT_END SETTLE COLUMN: seconds from FAULT_END until the
# calls counted by tests/faults/redispoll.py (column 2: GET, PTTL and SET;
# column 3: SET alone) grow again, looking only at samples SETTLE seconds or
# more after FAULT_END (at SIGCONT the commands that waited in the socket run
# first and are no sign of a client back); a drop of the counters is a
# restarted server.  "none within N s" when not while the load lasted.
redis_back() {
    awk -v te="$1" -v st="$2" -v col="$3" 'NF >= 3 {
        t = $1; v = $col
        if (v < prev) prev = 0
        if (t >= te + st && v > prev) { printf "%.2f", t - te; found = 1; exit }
        prev = v; last = t }
        END { if (!found) printf "none within %.1f s", last - te }' "$F/$PHASE.redis"
}

# --- set-up --------------------------------------------------------------------

gen_directory
# A port can be taken between free_port and the server's bind (other tests
# run on this machine too): up to three tries, each on a new port.
for try in 1 2 3; do
    start_slapd "$F/dir.ldif" && break
    ((try == 3)) && { not_ok "faults: slapd starts"; tap_done; }
    unset SLAPD_PORT
done
for try in 1 2 3; do
    start_redis && break
    ((try == 3)) && { not_ok "faults: redis-server starts"; tap_done; }
    stop_redis
    unset REDIS_PORT
done
CONF=$T/rcptguard.conf
write_conf "$F/good.conf" "LDAPAliasAttributes rfc822MailMember" "MaxUnknownRecipients 0" \
    "CacheTTL 5" "NegativeCacheTTL 5" "LocalCacheSize 3000"
sed -i "s/^LDAPTimeout .*/LDAPTimeout $LT/" "$F/good.conf"
for try in 1 2 3; do
    cp "$F/good.conf" "$CONF"
    start_rg && break
    ((try == 3)) && { not_ok "faults: rcptguard starts"; tap_done; }
    MILTER_PORT=$(free_port)
    sed -i "s/^Socket .*/Socket inet:$MILTER_PORT@127.0.0.1/" "$F/good.conf"
done
for try in 1 2 3; do
    start_postfix "inet:$MILTER_PORT@127.0.0.1" && break
    ((try == 3)) && { not_ok "faults: postfix starts"; tap_done; }
    stop_postfix
    rm -rf "$POSTFIX_DIR"
    unset POSTFIX_PORT POSTFIX_DIR
done
# Half the recipients are refused: no error throttling, no flow-control wait
# (as tests/bench/bench_rcpt.sh).
postconf -c "$POSTFIX_DIR/conf" -e 'smtpd_error_sleep_time = 0' 'in_flow_delay = 0' \
    'smtpd_soft_error_limit = 100000' 'smtpd_hard_error_limit = 100000' \
    'smtpd_junk_command_limit = 100000' && postfix -c "$POSTFIX_DIR/conf" reload >/dev/null 2>&1
sleep 1
[[ -n $REPORT ]] && {
    echo "| fault | recipients | false 5xx | false 250 | 4xx | longest | recovery | at rest after (growth vs warm-up) | notes |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
} >>"$REPORT"

# --- baseline --------------------------------------------------------------------

load_start baseline "$(secs "$BASE_SECS")"
load_wait || tap_done
common_checks baseline
OVERHEAD=$(jv "$F/baseline.json" 'min(1.0, max(0.05, d["longest"] or 0))')
BOUND=$(awk -v t="$LT" -v o="$OVERHEAD" 'BEGIN { printf "%.2f", 2 * t + 0.5 + o }')
expect_eq "baseline: no 4xx without a fault" 0 "$TEMP"
read -r REF_FDS REF_THR REF_RSS < <(rest_sample)
WARM_RSS=$REF_RSS PREV_RSS=$REF_RSS
REST="fds $REF_FDS, threads $REF_THR, RSS $(mib "$REF_RSS") MiB (reference)"
echo "# baseline: MTA overhead (longest answer) ${OVERHEAD} s, time bound ${BOUND} s; at rest $REST" >&2
report_row baseline "–" "MTA overhead ${OVERHEAD} s"

# --- the faults --------------------------------------------------------------------

fault_slapd_kill() {
    local p=slapd-kill pid rp t_listen
    load_start $p "$(secs 20)"
    sleep_until 2
    pid=$(slapd_pid)
    kill -KILL "$pid"
    event fault-start
    sleep_until 12
    restart_slapd >"$F/$p.restart" 2>&1 &
    rp=$!
    while ! _rg_port_open 127.0.0.1 "$SLAPD_PORT"; do sleep 0.01; done
    event fault-end
    wait "$rp" || not_ok "$p: slapd starts again"
    load_wait || return
    common_checks $p
    if [[ $RECOVERY != none ]] && fcmp "$RECOVERY" "<=" 1; then
        ok "$p: recovery within 1 s of slapd listening again: ${RECOVERY} s"
    else
        not_ok "$p: recovery within 1 s of slapd listening again: ${RECOVERY} s" \
            "$(grep -E 'LDAP (unreachable|reachable)' "$RCPTGUARD_LOG" | tail -n 2)"
    fi
    rest_check $p
    report_row $p
}

fault_slapd_stop() {
    local p=slapd-stop pid
    load_start $p "$(secs 18)"
    sleep_until 2
    pid=$(slapd_pid)
    rg_on_exit "kill -CONT $pid"
    kill -STOP "$pid"
    event fault-start
    sleep_until 12
    kill -CONT "$pid"
    event fault-end
    load_wait || return
    common_checks $p
    bound_check $p
    rest_check $p
    report_row $p
}

fault_dead_uri() {
    local p=dead-uri port d acc mingap maxacc probes550 probes
    port=$(free_port)
    fake_start silent "$port" "$F/$p.fake" || not_ok "$p: the silent LDAP server listens"
    conf_variant "$F/$p.conf" "s|^LDAPURI .*|LDAPURI ldap://127.0.0.1:$port $SLAPD_URI|"
    install_conf "$F/$p.conf"
    reload_rg || not_ok "$p: rcptguard reloads with the dead URI first"
    d=$(secs 15)
    load_start $p "$d"
    event fault-start
    load_wait || return
    restore_rg $p
    common_checks $p
    bound_check $p
    probes=$(jv "$F/$p.json" 'sum(d["by_class"].get("unknown probe", {}).values())')
    probes550=$(jv "$F/$p.json" 'd["by_class"].get("unknown probe", {}).get("perm", 0)')
    if ((probes > 0 && probes550 * 100 >= probes * 95)); then
        ok "$p: answers from the second URI: $probes550 of $probes never-seen unknown addresses got 550"
    else
        not_ok "$p: answers from the second URI: $probes550 of $probes never-seen unknown addresses got 550" \
            "$(grep -c 'Temporary lookup failure' "$F/$p.log" 2>/dev/null) lines"
    fi
    # Every connection the dead URI accepted cost somebody a timeout.
    acc=$(grep -c accept "$F/$p.fake")
    mingap=$(awk '/accept/ { if (n++) { g = $1 - prev; if (min == "" || g < min) min = g } prev = $1 }
        END { printf "%.3f", (min == "" ? 999 : min) }' "$F/$p.fake")
    maxacc=$(awk -v d="$d" -v t="$LT" 'BEGIN { printf "%d", 1 + d / (t + 0.5) }')
    if ((acc <= maxacc)); then
        ok "$p: the dead URI costs at most one timeout per back-off interval: $acc connections in $d s (at most $maxacc), $(jv "$F/$p.json" 'd["slow"]') answers took >= 0.9 x LDAPTimeout"
    else
        not_ok "$p: the dead URI costs at most one timeout per back-off interval: $acc connections in $d s (at most $maxacc), $(jv "$F/$p.json" 'd["slow"]') answers took >= 0.9 x LDAPTimeout"
    fi
    if ((acc == 1)); then
        ok "$p: one back-off per URI, not per pool slot: one connection to the dead URI in $d s"
    elif fcmp "$mingap" ">=" "$(awk -v t="$LT" 'BEGIN { print 0.9 * t }')"; then
        ok "$p: one back-off per URI, not per pool slot: connections to the dead URI at least ${mingap} s apart"
    else
        not_ok "$p: one back-off per URI, not per pool slot: two connections to the dead URI only ${mingap} s apart"
    fi
    rest_check $p
    report_row $p "–" "dead URI: $acc connections, $(jv "$F/$p.json" 'd["slow"]') answers ≥ 0.9 s"
}

# redis_fault NAME: kill | stop | oom
redis_fault() {
    local kind=$1 p=redis-$1 pid t_end back used settle=0 col=2 poller
    "$PY" "$HERE/redispoll.py" "$REDIS_PORT" "$F/$p.redis" &
    poller=$!
    FM_BG+=("$poller")
    load_start $p "$(secs 18)"
    sleep_until 2
    pid=$REDIS_PID
    case $kind in
    kill) kill -KILL "$pid" ;;
    stop)
        rg_on_exit "kill -CONT $pid"
        kill -STOP "$pid"
        ;;
    oom)
        used=$(redis_cli INFO memory | tr -d '\r' | sed -n 's/^used_memory://p')
        redis_cli CONFIG SET maxmemory-policy noeviction >/dev/null
        redis_cli CONFIG SET maxmemory "$used" >/dev/null
        ;;
    esac
    event fault-start
    sleep_until 12
    case $kind in
    kill)
        REDIS_PID=
        rm -f "$REDIS_DIR/redis.pid"
        start_redis || not_ok "$p: redis-server starts again"
        ;;
    stop) kill -CONT "$pid" ;;
    oom) redis_cli CONFIG SET maxmemory 0 >/dev/null ;;
    esac
    event fault-end
    t_end=$(tail -n 1 "$EV" | cut -d' ' -f1)
    load_wait || return
    kill "$poller" 2>/dev/null
    wait "$poller" 2>/dev/null
    [[ $kind == stop ]] && settle=0.05
    [[ $kind == oom ]] && col=3
    back=$(redis_back "$t_end" "$settle" "$col")
    common_checks $p
    bound_check $p
    if ((TEMP * 100 <= N)); then
        ok "$p: answers continue from LDAP: $TEMP 4xx of $N recipients (at most 1 %)"
    else
        not_ok "$p: answers continue from LDAP: $TEMP 4xx of $N recipients (at most 1 %)"
    fi
    [[ $back != none* ]] && back="$back s"
    if [[ $back != none* ]] && fcmp "${back% s}" "<=" 1; then
        ok "$p: Redis used again within 1 s after it returns: $back"
    else
        not_ok "$p: Redis used again within 1 s after it returns: $back" \
            "$(grep -i redis "$RCPTGUARD_LOG" | tail -n 3)"
    fi
    rest_check $p
    report_row $p "Redis used again: $back"
}

fault_reload_storm() {
    local p=reload-storm i pid=$RCPTGUARD_PID n0r n0f nr nf sp
    {
        head -c "$(($(wc -c <"$F/good.conf") / 2))" "$F/good.conf"
        printf '\nLDAPPoolSize 100\nLDAPFilter (mail=%%s\n'
    } >"$F/broken.conf"
    n0r=$(grep -c "$RELOADED" "$RCPTGUARD_LOG")
    n0f=$(grep -c 'reload refused' "$RCPTGUARD_LOG")
    load_start $p "$(secs 33)"
    sleep_until 1
    event fault-start
    (
        for ((i = 0; i < 300; i++)); do
            if ((i % 2)); then install_conf "$F/broken.conf"; else install_conf "$F/good.conf"; fi
            kill -USR1 "$pid" 2>/dev/null || exit 1
            sleep 0.1
        done
        install_conf "$F/good.conf"
    ) &
    sp=$!
    FM_BG+=("$sp")
    wait "$sp"
    event fault-end
    load_wait || return
    nr=$(($(grep -c "$RELOADED" "$RCPTGUARD_LOG") - n0r))
    nf=$(($(grep -c 'reload refused' "$RCPTGUARD_LOG") - n0f))
    echo "# $p: 300 SIGUSR1 sent; $nr reloads done, $nf refused (signals that arrive during a reload merge)" >&2
    common_checks $p
    bound_check $p
    expect_eq "$p: no answer lost: no 4xx while the good configuration serves ($N recipients)" 0 "$TEMP"
    if [[ $RCPTGUARD_PID == "$pid" ]] && kill -0 "$pid" 2>/dev/null && ((nr > 0 && nf > 0)); then
        ok "$p: no crash, the same process; $nr reloads done, $nf broken files refused"
    else
        not_ok "$p: no crash, the same process; $nr reloads done, $nf broken files refused"
    fi
    rest_check $p
    report_row $p "–" "300 SIGUSR1: $nr reloads, $nf refused"
}

# tls_fault ldaps | starttls
tls_fault() {
    local kind=$1 p=tls-$1 port mode=silent probes probes451
    [[ $kind == starttls ]] && mode=starttls
    port=$(free_port)
    fake_start "$mode" "$port" "$F/$p.fake" || not_ok "$p: the silent LDAP server listens"
    if [[ $kind == ldaps ]]; then
        conf_variant "$F/$p.conf" "s|^LDAPURI .*|LDAPURI ldaps://127.0.0.1:$port|"
    else
        conf_variant "$F/$p.conf" "s|^LDAPURI .*|LDAPURI ldap://127.0.0.1:$port|" '$a LDAPStartTLS yes'
    fi
    install_conf "$F/$p.conf"
    reload_rg || not_ok "$p: rcptguard reloads with the TLS-silent server"
    load_start $p "$(secs 10)"
    event fault-start
    # libldap loads its TLS context (the system's CA bundle, about 5 MiB)
    # at the first handshake and keeps it for the life of the process: the
    # RSS reference of this phase is taken once that has happened, so that
    # what is checked is growth with the number of handshakes
    local tfds tthr trss ref_rss=$REF_RSS
    sleep_until 2
    read -r tfds tthr trss < <(rest_sample)
    load_wait || return
    restore_rg $p
    common_checks $p
    bound_check $p
    probes=$(jv "$F/$p.json" 'sum(d["by_class"].get("unknown probe", {}).values())')
    probes451=$(jv "$F/$p.json" 'd["by_class"].get("unknown probe", {}).get("temp", 0)')
    if ((probes > 0 && probes451 == probes)); then
        ok "$p: 451 when the handshake never completes: $probes451 of $probes never-seen addresses"
    else
        not_ok "$p: 451 when the handshake never completes: $probes451 of $probes never-seen addresses"
    fi
    ((trss > REF_RSS)) && REF_RSS=$trss
    rest_check $p
    REF_RSS=$ref_rss
    report_row $p "–" "$(grep -c accept "$F/$p.fake") connections to the silent server; $(grep -c starttls-ok "$F/$p.fake") StartTLS answered; RSS reference taken 2 s into the phase, after the TLS context was loaded"
}

# steady: the load with no fault (not in the default list): tells growth
# that comes with the load from growth that comes with a fault
fault_steady() {
    local p=steady$1
    load_start $p "$(secs 15)"
    load_wait || return
    common_checks $p
    bound_check $p
    expect_eq "$p: no 4xx without a fault" 0 "$TEMP"
    rest_check $p
    report_row $p "–"
}

fault_milter_kill() {
    local p=milter-kill pid refused s471
    load_start $p "$(secs 14)"
    sleep_until 2
    pid=$RCPTGUARD_PID
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    RCPTGUARD_PID=
    event fault-start
    sleep_until 5
    start_rg || { not_ok "$p: rcptguard starts again"; return; }
    event fault-end
    load_wait || return
    common_checks $p
    refused=$(jv "$F/$p.json" 'd["rcpts_refused_at_mail"]')
    s471=$(jv "$F/$p.json" 'd["service_unavailable"]')
    if ((s471 > 0)); then
        ok "$p: Postfix says 451 4.7.1 meanwhile: $s471 times ($(jv "$F/$p.json" 'd["mail_refused"]') at MAIL FROM, for $refused recipients), $TEMP 4xx in all"
    else
        not_ok "$p: Postfix says 451 4.7.1 meanwhile" "$(jv "$F/$p.json" 'd["by_class"]')"
    fi
    echo "# $p: first never-seen unknown answered 550 ${RECOVERY} s after the new rcptguard listened" >&2
    rest_check $p noassert
    REST="$REST (a new process)"
    report_row $p
}

for fault in "${selected[@]}"; do
    echo "# --- $fault ($(($(date +%s) - MATRIX_START)) s into the matrix)" >&2
    case $fault in
    slapd-kill) fault_slapd_kill ;;
    slapd-stop) fault_slapd_stop ;;
    dead-uri) fault_dead_uri ;;
    redis-kill) redis_fault kill ;;
    redis-stop) redis_fault stop ;;
    redis-oom) redis_fault oom ;;
    reload-storm) fault_reload_storm ;;
    tls-ldaps) tls_fault ldaps ;;
    tls-starttls) tls_fault starttls ;;
    milter-kill) fault_milter_kill ;;
    steady) fault_steady "$((++NSTEADY))" ;;
    esac
done

elapsed=$(($(date +%s) - MATRIX_START))
echo "# matrix: $TOTAL_RCPTS recipients answered in $elapsed s" >&2
if (($# == 0)); then
    if ((TOTAL_RCPTS >= 100000)); then
        ok "matrix: at least 100,000 recipients across the faults: $TOTAL_RCPTS in $elapsed s"
    else
        not_ok "matrix: at least 100,000 recipients across the faults: $TOTAL_RCPTS in $elapsed s"
    fi
fi
tap_done
