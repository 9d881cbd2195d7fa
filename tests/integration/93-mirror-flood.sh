#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/93-mirror-flood.sh - a harvest flood costs the directory
# nothing when the mirror follows it.
#
# slapd with syncprov and cn=Monitor.  The daemon with Mirror yes says
# "mirror ready: N entries, N MiB, N s" once loaded.  rcptguard-query with
# Mirror yes (the same check the daemon runs) is asked about 10,000 made-up
# addresses: the searches slapd completed meanwhile (cn=Monitor's
# operation counter) must be as many as with no address asked at all - not
# one for the recipients.  The same flood of 1,000 with Mirror no must show
# at least 1,000 searches, so that the counter is seen to count.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mirror.sh"
rg_setup
rg_require "mirror flood" ldapsearch

mirror_ldif >"$T/dir.ldif"
RG_SLAPD_SYNCPROV=1 RG_SLAPD_MONITOR=1 start_slapd "$T/dir.ldif" ||
    { not_ok "slapd starts"; exit 1; }

# searches: how many search operations slapd has completed
searches() {
    ldapsearch -x -LLL -o ldif-wrap=no -H "$SLAPD_URI" -b "cn=Search,cn=Operations,cn=Monitor" \
        -s base monitorOpCompleted | sed -n 's/^monitorOpCompleted: //p'
}
flood() { awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "zz%dq%d@example.%s\n", i, i * 7, i % 2 ? "org" : "com" }'; }

# the daemon says when it is ready
RG_TEST_MIRROR=yes write_conf "$T/daemon.conf" "${MIRROR_CONF[@]}" "MetricsFile $T/metrics.prom" \
    "MetricsInterval 1"
start_rcptguard "$T/daemon.conf" || not_ok "rcptguard starts"
for ((i = 0; i < 100; i++)); do
    grep -q "mirror ready" "$RCPTGUARD_LOG" && break
    sleep 0.1
done
expect_match "the daemon logs when the mirror is ready" \
    'mirror ready: 42[0-9] entries, [0-9]+ MiB, [0-9]+ s' "$(grep "mirror ready" "$RCPTGUARD_LOG")"
# its metrics say how many entries it holds, and that it is in step
n=$(grep "mirror ready" "$RCPTGUARD_LOG" | sed -n 's/.*mirror ready: \([0-9]*\) entries.*/\1/p')
cat >"$T/one.lua" <<'LUA'
local conn = mt.connect(sock, 50, 0.1)
if conn == nil then error("cannot connect to " .. sock) end
mt.set_timeout(30)
mt.conninfo(conn, "client.example", "127.0.0.1")
mt.mailfrom(conn, "<sender@example.net>")
mt.rcptto(conn, "<nobody@example.com>")
mt.disconnect(conn)
LUA
# a recipient through the daemon sets the lag gauge; the file is rewritten every second
timeout -k 5 30 miltertest -D "sock=$RCPTGUARD_SOCKET" -s "$T/one.lua" </dev/null >/dev/null 2>&1
for ((i = 0; i < 30; i++)); do
    grep -q '^rcptguard_mirror_lag_seconds' "$T/metrics.prom" 2>/dev/null && break
    sleep 0.2
done
expect_eq "metrics: rcptguard_mirror_entries is the count of the ready line" \
    "rcptguard_mirror_entries $n" "$(grep '^rcptguard_mirror_entries ' "$T/metrics.prom" 2>/dev/null)"
expect_eq "metrics: rcptguard_mirror_lag_seconds is 0 while the session is in step" \
    "rcptguard_mirror_lag_seconds 0" "$(grep '^rcptguard_mirror_lag_seconds ' "$T/metrics.prom" 2>/dev/null)"
stop_rcptguard

[[ -n $(searches) ]] || { not_ok "cn=Monitor counts searches"; tap_done; }
RG_TEST_MIRROR=yes write_conf "$T/mirror.conf" "${MIRROR_CONF[@]}"
mq_start "$T/mirror.conf"
expect_eq "the query tool answers from the mirror" "unknown mirror" "$(mq_ask zz@example.com)"
a=$(searches)
b=$(searches)
base=$((b - a))
flood 10000 | {
    n=0
    while IFS= read -r addr; do
        printf '%s\n' "$addr" >&7
        IFS= read -r -t 20 line <&8 || break
        [[ $line == *'"verdict":"unknown","source":"mirror"'* ]] && n=$((n + 1))
    done
    echo "$n" >"$T/unknown"
}
c=$(searches)
expect_eq "10,000 made-up addresses: all unknown, from the mirror" 10000 "$(cat "$T/unknown")"
expect_eq "and slapd saw no search for them" 0 "$(((c - b) - base))"

RG_TEST_MIRROR=no write_conf "$T/live.conf" "${MIRROR_CONF[@]}"
a=$(searches)
flood 1000 | "$QUERY" -c "$T/live.conf" >/dev/null 2>&1
b=$(searches)
if ((b - a >= 1000)); then ok "without the mirror 1,000 of them cost $((b - a)) searches"
else not_ok "without the mirror 1,000 of them cost $((b - a)) searches"; fi

tap_done
