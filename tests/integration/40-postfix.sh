#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/40-postfix.sh - end to end through a real Postfix.
#
# slapd (tests/data/directory.ldif), redis-server, rcptguard and a private
# Postfix whose smtpd_milters points at rcptguard; swaks and a plain SMTP
# session talk to Postfix and the reply lines are compared exactly.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "postfix: end-to-end checks" postfix swaks

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "postfix: slapd starts"; tap_done; }
start_redis || { not_ok "postfix: redis-server starts"; tap_done; }
write_conf "$T/rcptguard.conf"
start_rcptguard "$T/rcptguard.conf" || { not_ok "postfix: rcptguard starts"; tap_done; }

# With milter_default_action = tempfail a milter that cannot be reached means
# 451, never a pass: checked first against a port nobody listens on.
start_postfix "inet:127.0.0.1:$(free_port)" || { not_ok "postfix: starts"; tap_done; }
got=$(swaks --server "127.0.0.1:$POSTFIX_PORT" --from tester@example.net --to john.doe@example.com \
    --quit-after RCPT --timeout 30 2>&1 | sed -n 's/^<\*\* *//p' | head -n 1)
expect_eq "postfix: milter unreachable means 451, not a pass" \
    "451 4.7.1 Service unavailable - try again later" "$got"
stop_postfix

start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "postfix: starts with rcptguard"; tap_done; }
ok "postfix: starts with smtpd_milters = inet:127.0.0.1:$MILTER_PORT"

mta_run_checks postfix "$POSTFIX_PORT" postfix

# What rcptguard-query --reply prints is what Postfix answers, line for line.
for ((i = 0; i < 50; i++)); do
    grep -q 'suggestion index loaded' "$RCPTGUARD_LOG" && break
    sleep 0.1
done
mta_query_agrees postfix "$POSTFIX_PORT" postfix "$T/rcptguard.conf" \
    john.doe@example.com nobody@example.com jhon.doe@example.com JANE.SMITH@EXAMPLE.COM \
    bob+news@example.com anyone@example.net '*@example.com'
stop_slapd
mta_query_agrees postfix "$POSTFIX_PORT" postfix "$T/rcptguard.conf" never.seen@example.com
restart_slapd || not_ok "postfix: slapd restarts"

# Postfix logged the milter's rejects itself too.
if grep -q 'milter-reject: RCPT from .*550 5.1.1 <nobody@example.com>' "$POSTFIX_DIR/maillog"; then
    ok "postfix: its mail log shows the milter-reject of nobody@example.com"
else
    not_ok "postfix: its mail log shows the milter-reject of nobody@example.com"
fi

tap_done
