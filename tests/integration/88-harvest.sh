#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/88-harvest.sh - HarvestLimit: unknown recipients per
# client address across connections and MTAs.
#
# slapd (tests/data/directory.ldif), redis-server, two rcptguard instances
# on one Redis, a private Postfix; swaks talks to Postfix from 127.0.0.x
# (--local-interface).  HarvestLimit 30/600, TrustedNetworks 127.0.0.1/32
# (so HarvestExemptNetworks, by default TrustedNetworks, exempts 127.0.0.1
# only).  Checked:
#   - 30 unknown recipients from 127.0.0.2 over 10 connections get 550;
#     the 31st recipient, even a known one, gets
#     "421 4.7.0 Too many unknown recipients from 127.0.0.2", and so do the
#     next ones; one "harvest: client=127.0.0.2 unknown=30 window=600" line;
#   - another client address (127.0.0.3) is unaffected, and so is the exempt
#     127.0.0.1;
#   - two rcptguard instances share the count through Redis: 15 unknowns
#     through the first, 15 through the second, then 421 from either;
#   - "Did you mean" is given until the client is past half its limit (and
#     is not even looked for after that);
#   - Redis down: the count goes on in the process, the 31st recipient gets
#     421, and a known recipient from another client gets 250.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "harvest: end-to-end checks" postfix swaks redis-server redis-cli

OK="250 2.1.5 Ok"
unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }
over() { printf '421 4.7.0 Too many unknown recipients from %s' "$1"; }
COMMON=("HarvestLimit 30/600" "TrustedNetworks 127.0.0.1/32" "MaxUnknownRecipients 0"
    "Suggest all")

# guesses FROM N TAG [PER]: N connections from FROM, PER (3) unknown
# recipients each; prints the reply lines to RCPT TO of every session, one
# per line.
guesses() {
    local from=$1 n=$2 tag=$3 per=${4:-3} i j to
    for ((i = 1; i <= n; i++)); do
        to=
        for ((j = 1; j <= per; j++)); do
            to+=${to:+,}$tag-$i-$j@example.com
        done
        swaks --server "127.0.0.1:$POSTFIX_PORT" --local-interface "$from" \
            --from tester@example.net --to "$to" \
            --helo client.test.local --quit-after RCPT --timeout 20 2>&1 |
            awk '/^ *-> RCPT TO:/ { r = 1; next } r && /^ *-> / { r = 0 }
                 r && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print }'
    done
}
# rcpt FROM ADDRESS: the reply to one RCPT TO from client address FROM.
rcpt() { swaks_rcpt "$POSTFIX_PORT" "$2" --local-interface "$1"; }
# count_550 TEXT: how many lines of TEXT are a 550 5.1.1.
count_550() { grep -c '^550 5\.1\.1 ' <<<"$1"; }

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "harvest: slapd starts"; tap_done; }
start_redis || { not_ok "harvest: redis-server starts"; tap_done; }
write_conf "$T/a.conf" "${COMMON[@]}" "MetricsFile $T/a.prom" "MetricsInterval 1"
start_rcptguard "$T/a.conf" || { not_ok "harvest: rcptguard starts"; tap_done; }
PID_A=$RCPTGUARD_PID
PORT_A=$MILTER_PORT
LOG_A=$RCPTGUARD_LOG
start_postfix "inet:$PORT_A@127.0.0.1" || { not_ok "harvest: Postfix starts"; tap_done; }

# --- 30 unknowns over 10 connections, then 421 -----------------------------------

got=$(guesses 127.0.0.2 10 g)
expect_eq "harvest: 30 unknown recipients from 127.0.0.2 over 10 connections all get 550" \
    30 "$(count_550 "$got")"
expect_eq "harvest: the 31st recipient from 127.0.0.2, a known one, gets 421" \
    "$(over 127.0.0.2)" "$(rcpt 127.0.0.2 john.doe@example.com)"
expect_eq "harvest: ... and the next one too (a new connection)" \
    "$(over 127.0.0.2)" "$(rcpt 127.0.0.2 ghost@example.com)"
expect_eq "harvest: another client address (127.0.0.3): a known recipient gets 250" \
    "$OK" "$(rcpt 127.0.0.3 john.doe@example.com)"
expect_eq "harvest: another client address (127.0.0.3): an unknown one gets 550" \
    "$(unknown ghost@example.com)" "$(rcpt 127.0.0.3 ghost@example.com)"
expect_eq "harvest: the exempt 127.0.0.1 is unaffected" "$OK" \
    "$(swaks_rcpt "$POSTFIX_PORT" jane.smith@example.com)"
expect_eq "harvest: one log line for 127.0.0.2, however many 421s" 1 \
    "$(grep -c 'harvest: client=127.0.0.2 unknown=30 window=600' "$LOG_A")"
n=$(redis_cli ZCARD "rcptguard:harvest:127.0.0.2/32")
expect_eq "harvest: Redis holds the 30 unknowns of 127.0.0.2/32" 30 "$n"

# --- suggestions stop past half the limit -------------------------------------------

two_lines() {
    printf '550-5.1.1 <%s>: Recipient address rejected: User unknown\n550 5.1.1 Did you mean <%s>?' "$1" "$2"
}
for ((i = 0; i < 100; i++)); do
    grep -q 'suggestion index loaded' "$LOG_A" && break
    sleep 0.1
done
expect_eq "harvest: a fresh client (127.0.0.4) is offered a suggestion (Suggest all)" \
    "$(two_lines jhon.doe@example.com john.doe@example.com)" "$(rcpt 127.0.0.4 jhon.doe@example.com)"
got=$(guesses 127.0.0.4 3 s 5)                     # 1 + 15 unknowns: past 30 / 2
# suggestions_total NAME: the counter in instance A's MetricsFile, once
# rewritten after this call (MetricsInterval 1)
suggestions_total() {
    sleep 2.2
    sed -n 's/^rcptguard_suggestions_total \([0-9]*\)$/\1/p' "$T/a.prom"
}
before=$(suggestions_total)
expect_eq "harvest: 127.0.0.4 past half its limit (16 unknowns) gets no suggestion" \
    "$(unknown jhon.doe@example.com)" "$(rcpt 127.0.0.4 jhon.doe@example.com)"
expect_eq "harvest: ... and none is looked for (rcptguard_suggestions_total stays at $before)" \
    "$before" "$(suggestions_total)"

# --- two instances on one Redis -------------------------------------------------------

MILTER_PORT=$(free_port)
write_conf "$T/b.conf" "${COMMON[@]}"
RCPTGUARD_LOG=$T/rcptguard-b.log
"$RCPTGUARD" -f -c "$T/b.conf" </dev/null >>"$T/rcptguard-b.log" 2>&1 &
PID_B=$!
rg_on_exit "kill -TERM $PID_B 2>/dev/null; wait $PID_B 2>/dev/null"
for ((i = 0; i < 100; i++)); do
    _rg_port_open 127.0.0.1 "$MILTER_PORT" && break
    sleep 0.1
done
PORT_B=$MILTER_PORT
# use_milter PORT: Postfix asks the rcptguard on PORT from now on
use_milter() {
    postconf -c "$POSTFIX_DIR/conf" "smtpd_milters = inet:127.0.0.1:$1" >/dev/null
    postfix -c "$POSTFIX_DIR/conf" reload >/dev/null 2>&1
    sleep 1
}
got=$(guesses 127.0.0.5 3 t 5)
expect_eq "harvest: 15 unknowns from 127.0.0.5 through the first instance get 550" 15 "$(count_550 "$got")"
use_milter "$PORT_B"
got=$(guesses 127.0.0.5 3 u 5)
expect_eq "harvest: 15 more through the second instance get 550" 15 "$(count_550 "$got")"
expect_eq "harvest: the second instance says 421 to 127.0.0.5 (the count is shared)" \
    "$(over 127.0.0.5)" "$(rcpt 127.0.0.5 john.doe@example.com)"
if grep -q 'verdict=.* reply="421 4.7.0"' "$T/rcptguard-b.log"; then
    ok "harvest: ... and it was the second instance that answered"
else
    not_ok "harvest: ... and it was the second instance that answered" "$(tail -n 3 "$T/rcptguard-b.log")"
fi
# a client over the limit gets 421 whatever the answer: no lookup is made for it
expect_match "harvest: the 421 cost no lookup (source=none)" \
    'rcpt=<john\.doe@example\.com> verdict=tempfail source=none ms=0 reply="421 4\.7\.0" reason="client over HarvestLimit"' \
    "$(grep 'reply="421 4.7.0"' "$T/rcptguard-b.log" | tail -n 1)"
use_milter "$PORT_A"
expect_eq "harvest: the first instance says 421 to 127.0.0.5 too" \
    "$(over 127.0.0.5)" "$(rcpt 127.0.0.5 jane.smith@example.com)"
n=$(cat "$LOG_A" "$T/rcptguard-b.log" | grep -c 'harvest: client=127.0.0.5 unknown=30 window=600')
expect_eq "harvest: one log line for 127.0.0.5 across both instances" 1 "$n"

# --- Redis down: the process counts ------------------------------------------------------

stop_redis
got=$(guesses 127.0.0.6 3 r 10)
expect_eq "harvest: Redis down: 30 unknowns from 127.0.0.6 get 550" 30 "$(count_550 "$got")"
expect_eq "harvest: Redis down: the 31st recipient from 127.0.0.6 gets 421 (counted in process)" \
    "$(over 127.0.0.6)" "$(rcpt 127.0.0.6 john.doe@example.com)"
expect_eq "harvest: Redis down: a known recipient from 127.0.0.7 gets 250" \
    "$OK" "$(rcpt 127.0.0.7 john.doe@example.com)"
expect_eq "harvest: Redis down: an unknown one from 127.0.0.7 gets 550" \
    "$(unknown ghost@example.com)" "$(rcpt 127.0.0.7 ghost@example.com)"
bad=$(grep -h 'verdict=ok' "$LOG_A" "$T/rcptguard-b.log" | grep -c 'reply="5')
expect_eq "harvest: no known recipient got a 5xx" 0 "$bad"

tap_done
