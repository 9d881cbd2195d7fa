#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/50-sendmail.sh - end to end through a real Sendmail.
#
# Sendmail is run from its unpacked Debian packages (it cannot be installed
# beside Postfix); see start_sendmail in tests/lib/mta.sh.  The same checks as
# through Postfix, with Sendmail's way of writing replies: it puts
# "<addr>... " in front of 250 and 550 replies (not of 451), so rcptguard
# leaves the address out of its 550 text there and the address shows once.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

if ! command -v swaks >/dev/null; then
    skip "sendmail: end-to-end checks" "swaks is not installed"
    tap_done
fi

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "sendmail: slapd starts"; tap_done; }
start_redis || { not_ok "sendmail: redis-server starts"; tap_done; }
write_conf "$T/rcptguard.conf"

# With F=T a milter that cannot be reached means 451, never a pass.
rc=0
start_sendmail "$(free_port)" || rc=$?
if ((rc == 2)); then
    skip "sendmail: end-to-end checks" "${RG_SENDMAIL_MISSING:-Sendmail not available}"
    tap_done
elif ((rc != 0)); then
    not_ok "sendmail: starts from its unpacked packages"
    tap_done
fi
got=$(swaks --server "127.0.0.1:$SENDMAIL_PORT" --from tester@example.net --to john.doe@example.com \
    --quit-after RCPT --timeout 30 2>&1 | sed -n 's/^<\*\* *//p' | head -n 1)
expect_eq "sendmail: milter unreachable (F=T) means 451, not a pass" \
    "451 4.3.2 Please try again later" "$got"
stop_sendmail

start_rcptguard "$T/rcptguard.conf" || { not_ok "sendmail: rcptguard starts"; tap_done; }
start_sendmail "$MILTER_PORT" || { not_ok "sendmail: starts with rcptguard"; tap_done; }
ok "sendmail: starts with INPUT_MAIL_FILTER inet:$MILTER_PORT@127.0.0.1"

mta_run_checks sendmail "$SENDMAIL_PORT" sendmail

# "Did you mean" through Sendmail: the address once, on the first line only
for ((i = 0; i < 50; i++)); do
    grep -q 'suggestion index loaded' "$RCPTGUARD_LOG" && break
    sleep 0.1
done
expect_eq "sendmail: a typo from a trusted client gets the two-line reply" \
    "550-5.1.1 <jhon.doe@example.com>... Recipient address rejected: User unknown
550 5.1.1 Did you mean <john.doe@example.com>?" \
    "$(swaks_rcpt "$SENDMAIL_PORT" jhon.doe@example.com)"

# What rcptguard-query --reply --mta sendmail prints is what Sendmail answers.
mta_query_agrees sendmail "$SENDMAIL_PORT" sendmail "$T/rcptguard.conf" \
    john.doe@example.com nobody@example.com jhon.doe@example.com JANE.SMITH@EXAMPLE.COM \
    bob+news@example.com anyone@example.net '*@example.com'
stop_slapd
mta_query_agrees sendmail "$SENDMAIL_PORT" sendmail "$T/rcptguard.conf" never.seen@example.com
restart_slapd || not_ok "sendmail: slapd restarts"

tap_done
