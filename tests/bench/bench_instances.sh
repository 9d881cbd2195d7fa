#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# bench_instances.sh - several rcptguard instances, as on several MX hosts,
# sharing one Redis and one slapd: how much of each shared server one
# recipient costs, so how many instances one Redis and one slapd serve.
#
#   tests/bench/bench_instances.sh [SECONDS] [ROUNDS]
#
# Loads USERS (default 10000) users into a slapd of its own, starts a
# redis-server and, for each count in INSTANCES (default "1 2 4"), that many
# rcptguard daemons with the same configuration (each its own unix socket),
# each driven at once by its own tests/bench/milterload with SESSIONS (10)
# sessions for SECONDS (default 10), ROUNDS (default 3) times.  The mix is
# MIX (default known=50,unknown=50: half valid, half never-seen unknown, a
# harvest flood, every unknown a search), and the instances run with
# LocalCacheSize 0 and Mirror no, so that every recipient goes to Redis and
# every new one to slapd: the worst case for the shared servers (MODE=mirror
# runs them with the directory mirror instead, answering from memory).
#
# For each run: the recipients answered per second by all instances
# together, and the CPU time Redis and slapd used (from /proc), as a share
# of one core and per 1,000 recipients; from those, the recipients per
# second one core of Redis and one of slapd would serve, and so how many
# instances at the measured per-instance rate.  On a machine this small the
# instances and the load drivers take most of the CPU: the per-recipient
# cost of the shared servers is the figure to carry to a real site.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/users.sh"
rg_setup

DURATION=${1:-10}
ROUNDS=${2:-3}
USERS=${USERS:-10000}
INSTANCES=${INSTANCES:-1 2 4}
SESSIONS=${SESSIONS:-10}
MIX=${MIX:-known=50,unknown=50}
MODE=${MODE:-live}
ML=$RG_BUILD/tests/bench/milterload
TCK=$(getconf CLK_TCK)

for p in "$RCPTGUARD" "$ML"; do
    [[ -x $p ]] || { echo "bench_instances: build first ($p is missing; make check TESTS=)" >&2; exit 1; }
done

bench_users "$USERS" "$T/known.txt" >"$T/users.ldif"
start_slapd "$T/users.ldif" || exit 1
start_redis || exit 1
SLAPD_PID_NOW=$(slapd_pid)

mirror=no
[[ $MODE == mirror ]] && mirror=yes
RG_TEST_MIRROR=$mirror write_conf "$T/base.conf" "MaxUnknownRecipients 0" "LocalCacheSize 0" \
    "Suggest off" "HarvestLimit 0"

PIDS=()
stop_all() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    PIDS=()
}
rg_on_exit stop_all

# start_instances N: N daemons on unix sockets $T/rgI.sock
start_instances() {
    local n=$1 i j
    stop_all
    for ((i = 1; i <= n; i++)); do
        sed "s|^Socket .*|Socket unix:$T/rg$i.sock|" "$T/base.conf" >"$T/rg$i.conf"
        "$RCPTGUARD" -f -c "$T/rg$i.conf" </dev/null >"$T/rg$i.log" 2>&1 &
        PIDS+=($!)
    done
    for ((i = 1; i <= n; i++)); do
        for ((j = 0; j < 100; j++)); do
            [[ -S $T/rg$i.sock ]] && break
            sleep 0.1
        done
        [[ -S $T/rg$i.sock ]] || { echo "# instance $i did not start" >&2; tail "$T/rg$i.log" >&2; exit 1; }
        if [[ $mirror == yes ]]; then
            for ((j = 0; j < 600; j++)); do
                grep -q 'mirror ready' "$T/rg$i.log" && break
                sleep 0.1
            done
        fi
    done
}

# ticks PID: user + system CPU ticks of PID so far
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run N: the instances driven at once; one line "rate redis_ticks slapd_ticks rg_ticks"
run() {
    local n=$1 i r0 s0 g0 r1 s1 g1 rate=0 t0 t1 out p ml=()
    r0=$(ticks "$REDIS_PID")
    s0=$(ticks "$SLAPD_PID_NOW")
    g0=0
    for p in "${PIDS[@]}"; do g0=$((g0 + $(ticks "$p"))); done
    t0=$(date +%s.%N)
    for ((i = 1; i <= n; i++)); do
        "$ML" -s "unix:$T/rg$i.sock" -k "$T/known.txt" -c "$SESSIONS" -r 10 -t 10 \
            -d "$DURATION" -m "$MIX" -T "i$i.$RANDOM" >"$T/ml$i.out" 2>&1 &
        ml+=($!)
    done
    wait "${ml[@]}"
    t1=$(date +%s.%N)
    r1=$(ticks "$REDIS_PID")
    s1=$(ticks "$SLAPD_PID_NOW")
    g1=0
    for p in "${PIDS[@]}"; do g1=$((g1 + $(ticks "$p"))); done
    for ((i = 1; i <= n; i++)); do
        out=$(head -n 1 "$T/ml$i.out")
        [[ $out == *rate=* ]] || { echo "# milterload $i failed:" >&2; cat "$T/ml$i.out" >&2; exit 1; }
        rate=$(awk -v r="$rate" '{ for (i = 1; i <= NF; i++) if ($i ~ /^rate=/) { split($i, kv, "="); print r + kv[2] } }' <<<"$out")
    done
    awk -v rate="$rate" -v r=$((r1 - r0)) -v s=$((s1 - s0)) -v g=$((g1 - g0)) -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        -v tck="$TCK" 'BEGIN { printf "%.0f %.4f %.4f %.4f\n", rate, r / tck / t, s / tck / t, g / tck / t }'
}

echo "# machine: $(nproc) CPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(date -u '+%F %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $USERS users, mix $MIX, $SESSIONS sessions an instance, ${DURATION} s a run, $ROUNDS rounds, mode $MODE"
: >"$T/results"
for n in $INSTANCES; do
    start_instances "$n"
    # one short run first: connections to LDAP and Redis opened, nothing timed
    DURATION=2 run "$n" >/dev/null
    for ((r = 1; r <= ROUNDS; r++)); do
        line=$(run "$n")
        echo "# $n instances, round $r: RCPT/s, Redis cores, slapd cores, rcptguard cores: $line" >&2
        echo "$n $line" >>"$T/results"
    done
done
stop_all

printf '| instances | RCPT/s, all | RCPT/s an instance | Redis CPU (cores) | Redis CPU ms / 1,000 RCPT | RCPT/s one Redis core serves | slapd CPU (cores) | slapd CPU ms / 1,000 RCPT | RCPT/s one slapd core serves | rcptguard CPU (cores) |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for n in $INSTANCES; do
    awk -v n="$n" '
    function med(a, k,   i, j, t) {
        for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    $1 == n { k++; R[k] = $2; X[k] = $3; S[k] = $4; G[k] = $5 }
    END {
        rate = med(R, k); x = med(X, k); s = med(S, k); g = med(G, k)
        printf "| %d | %.0f | %.0f | %.3f | %.1f | %.0f | %.3f | %.1f | %.0f | %.2f |\n", n, rate, rate / n,
            x, rate ? x * 1e6 / rate : 0, x ? rate / x : 0, s, rate ? s * 1e6 / rate : 0, s ? rate / s : 0, g }' "$T/results"
done
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
