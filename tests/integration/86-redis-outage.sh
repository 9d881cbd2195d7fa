#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/86-redis-outage.sh - Redis killed, restarted, hung.
#
# slapd (tests/data/directory.ldif), redis-server, rcptguard and a private
# Postfix; swaks talks to Postfix.  Checked: with Redis killed for 8 s,
# answers keep coming from LDAP, and within a second of Redis's return
# rcptguard writes to it again (the reconnect back-off is capped); with
# Redis hung (SIGSTOP), answers keep coming from LDAP and no RCPT waits on
# Redis longer than RedisTimeout (0.5 s) - the decision lines' ms= - and
# within a second of SIGCONT Redis is used again.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "redis-outage: end-to-end checks" postfix swaks redis-server redis-cli

OK="250 2.1.5 Ok"
unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }
# in_redis ADDRESS: does Redis hold a cache entry for ADDRESS?
in_redis() { [[ -n $(redis_cli --scan --pattern "rcptguard:v1:*:$1" | head -n 1) ]]; }
# ms_of ADDRESS: the ms= of rcptguard's last decision line for ADDRESS
ms_of() {
    grep -F "rcpt=<$1> verdict=" "$RCPTGUARD_LOG" | tail -n 1 | sed -n 's/.* ms=\([0-9]*\).*/\1/p'
}

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "redis-outage: slapd starts"; tap_done; }
start_redis || { not_ok "redis-outage: redis-server starts"; tap_done; }
write_conf "$T/rcptguard.conf" "RedisTimeout 0.5" "Suggest off" "MaxUnknownRecipients 0"
start_rcptguard "$T/rcptguard.conf" || { not_ok "redis-outage: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "redis-outage: Postfix starts"; tap_done; }

a=john.doe@example.com
expect_eq "redis-outage: $a accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
if in_redis $a; then ok "redis-outage: the answer went to Redis"; else not_ok "redis-outage: the answer went to Redis"; fi

# --- killed for 8 s, then back on the same port --------------------------------

stop_redis
a=ghost1@example.com
expect_eq "redis-outage: Redis killed: $a rejected from LDAP" "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=jane.smith@example.com
expect_eq "redis-outage: Redis killed: $a accepted from LDAP" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
sleep 8
start_redis || not_ok "redis-outage: redis-server restarts"
sleep 1
a=bob@example.com
expect_eq "redis-outage: Redis back: $a accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
if in_redis $a; then
    ok "redis-outage: 1 s after Redis came back, rcptguard writes to it again"
else
    not_ok "redis-outage: 1 s after Redis came back, rcptguard writes to it again"
fi
if grep -q 'Redis unreachable' "$RCPTGUARD_LOG" && grep -q 'Redis reachable again' "$RCPTGUARD_LOG"; then
    ok "redis-outage: the log says Redis unreachable, then reachable again"
else
    not_ok "redis-outage: the log says Redis unreachable, then reachable again"
fi

# --- hung (SIGSTOP) -----------------------------------------------------------------

# a fresh start: every context open and idle, then the server stops answering
stop_rcptguard
start_rcptguard "$T/rcptguard.conf" || { not_ok "redis-outage: rcptguard restarts"; tap_done; }
a=alice@example.org
expect_eq "redis-outage: $a accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
sleep 1
pid=$REDIS_PID
kill -STOP "$pid"
rg_on_exit "kill -CONT $pid"
slow=()
for a in ghost2@example.com Mixed.Case@example.com ghost3@example.com jane.smith@example.com; do
    want=$OK
    [[ $a == ghost* ]] && want=$(unknown $a)
    expect_eq "redis-outage: Redis hung: $a answered from LDAP" "$want" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
    ms=$(ms_of $a)
    [[ -n $ms && $ms -le 700 ]] || slow+=("$a: ms=$ms")
done
if ((${#slow[@]} == 0)); then
    ok "redis-outage: Redis hung: no RCPT waited longer than RedisTimeout (0.5 s) on it"
else
    not_ok "redis-outage: Redis hung: no RCPT waited longer than RedisTimeout (0.5 s) on it" "${slow[@]}"
fi
kill -CONT "$pid"
sleep 1
a=ghost4@example.com
expect_eq "redis-outage: Redis answers again: $a rejected" "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
if in_redis $a; then
    ok "redis-outage: 1 s after SIGCONT, rcptguard writes to Redis again"
else
    not_ok "redis-outage: 1 s after SIGCONT, rcptguard writes to Redis again"
fi
if kill -0 "${RCPTGUARD_PID:-0}" 2>/dev/null; then
    ok "redis-outage: rcptguard still running"
else
    not_ok "redis-outage: rcptguard still running"
fi

tap_done
