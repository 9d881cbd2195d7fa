#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# bench_milter.sh - the milter alone: rcptguard against a null milter over the
# milter protocol, with tests/bench/milterload, in the same run.
#
#   tests/bench/bench_milter.sh [SECONDS] [ROUNDS]
#
# Loads USERS (default 10000) users first.last@example.com into a slapd of its
# own, starts rcptguard (RedisURI none: the in-process cache; loopback is a
# trusted client, so unknown recipients get the typo search) and
# tests/bench/nullmilter (CONTINUE to everything, the same protocol steps
# negotiated away), each on a unix socket, and runs milterload for SECONDS
# (default 5) against each, rounds (default 3) interleaved, over
#
#   sessions   1, 10, 50 (SESSIONS)
#   mix        known: every recipient exists (random picks of the users)
#              half:  half known, half never-seen unknown (a harvest flood)
#   state      warm: every user asked once before the timed run
#              cold: rcptguard restarted (empty cache) just before it
#
# with RCPTS (10) recipients a transaction and TXS (10) transactions a
# connection.  Every run prints one line; the summary gives, for each row,
# the medians of the rounds and the ratios to the null milter, and the CPU
# each milter spent per recipient (user + system time of all its threads,
# from /proc, over the run and its warm-up): on a machine that the two
# milters and the load driver share, the steadier figure of the two.  The null
# milter is restarted before its cold runs as well, so both see the same
# connection set-up.  NULL: the null milter (default tests/bench/nullmilter,
# on libmilter; tests/bench/nullown is the same on rcptguard's own milter
# engine).  EXTRA: more rcptguard configuration lines ("Key value",
# separated by ";").  Every server is stopped at the end (tests/lib/servers.sh).
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/users.sh"
rg_setup

DURATION=${1:-5}
ROUNDS=${2:-3}
USERS=${USERS:-10000}
SESSIONS=${SESSIONS:-1 10 50}
MIXES=${MIXES:-known half}
STATES=${STATES:-warm cold}
RCPTS=${RCPTS:-10}
TXS=${TXS:-10}
EXTRA=${EXTRA:-}
ML=$RG_BUILD/tests/bench/milterload
NULL=${NULL:-$RG_BUILD/tests/bench/nullmilter}
B=$RG_BASE_DN

for p in "$RCPTGUARD" "$ML" "$NULL"; do
    [[ -x $p ]] || { echo "bench_milter: build first ($p is missing; make check TESTS=)" >&2; exit 1; }
done

# --- the directory -------------------------------------------------------------

bench_users "$USERS" "$T/known.txt" >"$T/users.ldif"
start_slapd "$T/users.ldif" || exit 1

# --- the two milters -------------------------------------------------------------

RG_SOCK=unix:$T/rg.sock
NULL_SOCK=unix:$T/null.sock
write_conf "$T/bench.conf" "MaxUnknownRecipients 0"
sed -i "s|^Socket .*|Socket $RG_SOCK|" "$T/bench.conf"
IFS=';' read -r -a extra <<<"$EXTRA"
for line in "${extra[@]}"; do
    [[ -n $line ]] && printf '%s\n' "$line" >>"$T/bench.conf"
done

# fresh_rcptguard: a new rcptguard (empty cache), once its suggestion index is in
fresh_rcptguard() {
    local i
    stop_rcptguard
    : >"$T/rcptguard.log"
    start_rcptguard "$T/bench.conf" || exit 1
    grep -qi '^Suggest off' "$T/bench.conf" && return 0
    for ((i = 0; i < 300; i++)); do
        grep -q 'suggestion index loaded' "$T/rcptguard.log" && return 0
        sleep 0.1
    done
    echo "# rcptguard: no 'suggestion index loaded' after 30 s" >&2
}

NULL_PID=
stop_null() {
    [[ -n $NULL_PID ]] || return 0
    kill -TERM "$NULL_PID" 2>/dev/null
    wait "$NULL_PID" 2>/dev/null
    NULL_PID=
}
rg_on_exit stop_null
fresh_null() {
    local i
    stop_null
    "$NULL" -p "$NULL_SOCK" </dev/null >"$T/null.log" 2>&1 &
    NULL_PID=$!
    for ((i = 0; i < 100; i++)); do
        [[ -S ${NULL_SOCK#unix:} ]] && return 0
        sleep 0.1
    done
    echo "# nullmilter did not start" >&2
    exit 1
}

# cpu_ticks PID: the CPU time PID has used so far (user + system, all its
# threads), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
TCK=$(getconf CLK_TCK)

# run WHO SESSIONS MIX STATE: one timed run; "rate p50 p99 p999 cpu"
# (microseconds; cpu: the milter's CPU per recipient, the warm-up's
# recipients counted too) into $T/last.  Not in a subshell: a restarted
# milter must be known to this shell, to be stopped.
run() {
    local who=$1 n=$2 mix=$3 state=$4 sock m args=() out pid c0 c1 warm=0
    if [[ $who == rg ]]; then
        sock=$RG_SOCK
        [[ $state == cold ]] && fresh_rcptguard
        pid=$RCPTGUARD_PID
    else
        sock=$NULL_SOCK
        [[ $state == cold ]] && fresh_null
        pid=$NULL_PID
    fi
    m=known=100
    [[ $mix == half ]] && m=known=50,unknown=50
    [[ $state == warm ]] && { args=(-W); warm=$(wc -l <"$T/known.txt"); }
    c0=$(cpu_ticks "$pid")
    out=$("$ML" -s "$sock" -k "$T/known.txt" -c "$n" -r "$RCPTS" -t "$TXS" -d "$DURATION" \
        -m "$m" "${args[@]}" 2>&1) || { echo "# milterload failed against $who:" >&2; echo "$out" >&2; exit 1; }
    c1=$(cpu_ticks "$pid")
    echo "# $who $n $mix $state: $(tr '\n' ' ' <<<"$out") cpu_ticks=$((c1 - c0))" >&2
    awk -v ticks=$((c1 - c0)) -v tck="$TCK" -v warm="$warm" '
        NR == 1 { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["rate"], v["p50_us"], v["p99_us"], v["p999_us"],
            ticks * 1e6 / tck / (v["rcpts"] + warm) }' <<<"$out" >"$T/last"
}

echo "# machine: $(nproc) CPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(date -u '+%F %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $USERS users, $RCPTS RCPTs a transaction, $TXS transactions a connection, ${DURATION} s a run, $ROUNDS rounds"
fresh_rcptguard
fresh_null
for ((r = 1; r <= ROUNDS; r++)); do
    for n in $SESSIONS; do
        for mix in $MIXES; do
            for state in $STATES; do
                # alternate which goes first, so neither always runs on the
                # quieter half of the machine's ups and downs
                if ((r % 2)); then order="rg null"; else order="null rg"; fi
                for who in $order; do
                    run "$who" "$n" "$mix" "$state"
                    echo "$n $mix $state $who $(cat "$T/last")" >>"$T/results"
                done
            done
        done
    done
    echo "# round $r done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"

# medians per row and who; then the ratios
printf '| sessions | mix | state | rcptguard RCPT/s | null RCPT/s | ratio | rcptguard p50 / p99 / p999 µs | null p50 / p99 / p999 µs | p99 ratio | CPU µs/RCPT rcptguard / null | CPU ratio |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for n in $SESSIONS; do
    for mix in $MIXES; do
        for state in $STATES; do
            awk -v n="$n" -v mix="$mix" -v st="$state" '
            function med(a, k,   i, j, t) {
                for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
                return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
            $1 == n && $2 == mix && $3 == st {
                w = $4; c[w]++; rate[w, c[w]] = $5; p50[w, c[w]] = $6; p99[w, c[w]] = $7; p999[w, c[w]] = $8
                cpu[w, c[w]] = $9 }
            END {
                for (wi = 1; wi <= 2; wi++) {
                    w = wi == 1 ? "rg" : "null"; k = c[w]
                    for (i = 1; i <= k; i++) { a1[i] = rate[w, i]; a2[i] = p50[w, i]; a3[i] = p99[w, i]; a4[i] = p999[w, i]; a5[i] = cpu[w, i] }
                    R[w] = med(a1, k); P50[w] = med(a2, k); P99[w] = med(a3, k); P999[w] = med(a4, k); C[w] = med(a5, k)
                }
                printf "| %s | %s | %s | %.0f | %.0f | %.2f | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %.2f | %.1f / %.1f | %.2f |\n",
                    n, mix, st, R["rg"], R["null"], R["null"] ? R["rg"] / R["null"] : 0,
                    P50["rg"], P99["rg"], P999["rg"], P50["null"], P99["null"], P999["null"],
                    P99["null"] ? P99["rg"] / P99["null"] : 0, C["rg"], C["null"],
                    C["null"] ? C["rg"] / C["null"] : 0 }' "$T/results"
        done
    done
done
