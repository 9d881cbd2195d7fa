#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/85-stale.sh - StaleTTL: known recipients keep getting
# mail while the directory is away.
#
# slapd (tests/data/directory.ldif), redis-server, rcptguard with CacheTTL 2
# and the default StaleTTL, and a private Postfix; swaks talks to Postfix and
# the reply lines are compared exactly.  An address is warmed, slapd is
# stopped, and 3 s later (past CacheTTL): the known address gets 250 and the
# decision line says source=stale; a never-seen address gets exactly
# "451 4.3.0 <addr>: Temporary lookup failure", and so does one last seen
# unknown.  The same with the answer coming from Redis only (rcptguard
# restarted, its own cache empty), from the in-process cache only (Redis
# stopped), with slapd hung (SIGSTOP) instead of stopped, and with
# StaleTTL 0 (off: 451).  rcptguard-query says "ok stale", in --json too.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "stale: end-to-end checks" postfix swaks redis-server redis-cli

OK="250 2.1.5 Ok"
tempfail() { printf '451 4.3.0 <%s>: Temporary lookup failure' "$1"; }
unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }
# last_line ADDRESS: rcptguard's last decision line for ADDRESS
last_line() { grep -F "rcpt=<$1> verdict=" "$RCPTGUARD_LOG" | tail -n 1; }
# rcpt_when_back ADDRESS: the reply to ADDRESS once slapd, just restarted,
# answers (rcptguard reconnects with a back-off of up to 5 s)
rcpt_when_back() {
    local i got
    for ((i = 0; i < 30; i++)); do
        got=$(swaks_rcpt "$POSTFIX_PORT" "$1")
        [[ $got == 4* ]] || break
        sleep 0.5
    done
    printf '%s\n' "$got"
}
# redis_key ADDRESS: the key of the cache entry of ADDRESS in Redis
redis_key() { redis_cli --scan --pattern "rcptguard:v1:*:$1" | head -n 1; }

STALE_CONF=("CacheTTL 2" "NegativeCacheTTL 1" "Suggest off" "MaxUnknownRecipients 0")

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "stale: slapd starts"; tap_done; }
start_redis || { not_ok "stale: redis-server starts"; tap_done; }
write_conf "$T/rcptguard.conf" "${STALE_CONF[@]}"
start_rcptguard "$T/rcptguard.conf" || { not_ok "stale: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "stale: Postfix starts"; tap_done; }

# --- warm, then slapd stopped ------------------------------------------------

expect_eq "stale: warm: john.doe@ accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" john.doe@example.com)"
expect_eq "stale: warm: bob@ accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" bob@example.com)"
a=nobody@example.com
expect_eq "stale: warm: $a rejected" "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"

key=$(redis_key john.doe@example.com)
ttl=$(redis_cli TTL "$key")
if [[ $ttl =~ ^[0-9]+$ ]] && ((ttl > 86000 && ttl <= 86400)); then
    ok "stale: Redis keeps a found address for StaleTTL (TTL $ttl s), not for CacheTTL"
else
    not_ok "stale: Redis keeps a found address for StaleTTL (TTL $ttl s), not for CacheTTL" "key '$key'"
fi
expect_match "stale: the Redis value says when it was seen and until when it is fresh" \
    '^ok;seen=[0-9]+\.[0-9]{3};fresh=[0-9]+\.[0-9]{3}$' "$(redis_cli GET "$key")"

stop_slapd
sleep 3

a=john.doe@example.com
expect_eq "stale: slapd stopped, past CacheTTL: $a (seen found) gets 250" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_match "stale: the decision line says source=stale and why" \
    "rcpt=<$a> verdict=ok source=stale ms=[0-9]+ reply=continue reason=\"[^\"]+\"" "$(last_line $a)"
a=never.seen@example.com
expect_eq "stale: slapd stopped: $a (never seen) gets 451 4.3.0" \
    "$(tempfail $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=nobody@example.com
expect_eq "stale: slapd stopped: $a (last seen unknown) gets 451 4.3.0, not 250 nor 550" \
    "$(tempfail $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=bob+news@example.com
expect_eq "stale: slapd stopped: $a (bob@ seen found) gets 250" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"

expect_query 0 "stale: rcptguard-query: ok stale (from Redis), exit 0" \
    "john.doe@example.com ok stale" "$T/rcptguard.conf" john.doe@example.com
rc=0
out=$("$QUERY" -c "$T/rcptguard.conf" --json john.doe@example.com never.seen@example.com 2>/dev/null) || rc=$?
expect_match "stale: rcptguard-query --json: source stale with the reason; never seen: tempfail; exit 75" \
    '^\{"address":"john\.doe@example\.com","verdict":"ok","source":"stale","reason":"[^"]+","reply":\["250 2\.1\.5 Ok"\]\}
\{"address":"never\.seen@example\.com","verdict":"tempfail","source":"ldap","reason":"[^"]+","reply":\["451 4\.3\.0 <never\.seen@example\.com>: Temporary lookup failure"\]\}
75$' "$out"$'\n'"$rc"

# --- Redis only: rcptguard restarted, its own cache empty ----------------------

stop_rcptguard
start_rcptguard "$T/rcptguard.conf" || { not_ok "stale: rcptguard restarts"; tap_done; }
a=john.doe@example.com
expect_eq "stale: Redis only (rcptguard restarted): $a gets 250" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_match "stale: Redis only: the decision line says source=stale" \
    "rcpt=<$a> verdict=ok source=stale " "$(last_line $a)"
a=never.seen@example.com
expect_eq "stale: Redis only: $a gets 451 4.3.0" "$(tempfail $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"

# --- in process only: Redis stopped ---------------------------------------------

restart_slapd || not_ok "stale: slapd restarts"
a=jane.smith@example.com
expect_eq "stale: slapd back: $a accepted" "$OK" "$(rcpt_when_back $a)"
stop_redis
stop_slapd
sleep 3
expect_eq "stale: Redis and slapd stopped: $a (seen found) gets 250 from the process's cache" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_match "stale: in process only: the decision line says source=stale" \
    "rcpt=<$a> verdict=ok source=stale " "$(last_line $a)"
a=never.seen@example.com
expect_eq "stale: Redis and slapd stopped: $a gets 451 4.3.0" "$(tempfail $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"

# --- slapd hung (SIGSTOP): the same, within the lookup's deadline ---------------

start_redis || not_ok "stale: redis-server restarts"
restart_slapd || not_ok "stale: slapd restarts"
a=alice@example.org
expect_eq "stale: slapd back: $a accepted" "$OK" "$(rcpt_when_back $a)"
sleep 3
pid=$(slapd_pid)
kill -STOP "$pid"
t0=$(date +%s%N)
got=$(swaks_rcpt "$POSTFIX_PORT" $a)
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$pid"
expect_eq "stale: slapd hung: $a (seen found) gets 250" "$OK" "$got"
expect_match "stale: slapd hung: the decision line says source=stale" \
    "rcpt=<$a> verdict=ok source=stale " "$(last_line $a)"
# LDAPTimeout 2: the whole check has 2 x LDAPTimeout, then a Redis read;
# swaks itself takes some hundred ms
if ((ms < 5500)); then
    ok "stale: slapd hung: answered within 2 x LDAPTimeout and some ($ms ms)"
else
    not_ok "stale: slapd hung: answered within 2 x LDAPTimeout and some" "took $ms ms"
fi

# --- StaleTTL 0: off ----------------------------------------------------------------

stop_rcptguard
write_conf "$T/off.conf" "${STALE_CONF[@]}" "StaleTTL 0"
start_rcptguard "$T/off.conf" || { not_ok "stale: rcptguard starts with StaleTTL 0"; tap_done; }
a=jane.smith@example.com
expect_eq "stale: StaleTTL 0: warm: $a accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
key=$(redis_key $a)
ttl=$(redis_cli TTL "$key")
if [[ $ttl =~ ^[0-9]+$ ]] && ((ttl <= 2)); then
    ok "stale: StaleTTL 0: Redis keeps a found address for CacheTTL only"
else
    not_ok "stale: StaleTTL 0: Redis keeps a found address for CacheTTL only" "TTL '$ttl' of '$key'"
fi
stop_slapd
sleep 3
expect_eq "stale: StaleTTL 0: slapd stopped, past CacheTTL: $a gets 451 4.3.0" \
    "$(tempfail $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=alice@example.org
expect_eq "stale: StaleTTL 0: $a, kept in Redis by the earlier run, is not used either" \
    "$(tempfail $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"

tap_done
