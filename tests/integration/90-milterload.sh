#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 90-milterload.sh - the milter load driver (tests/bench/milterload) against
# rcptguard and a real slapd: the counts it reports are exact (known
# recipients accepted, never-seen unknown ones refused with the exact 550
# line, every recipient logged once by both sides; the steps negotiated: none
# after RCPT and no reply awaited to CONNECT and MAIL), a directory that is down
# shows as 4xx and not as 550, and a socket nobody listens on is an error.
# Bounded to a few seconds.
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

ML=$RG_BUILD/tests/bench/milterload
[[ -x $ML ]] || ML=$TOP/build/normal/tests/bench/milterload
if [[ ! -x $ML ]]; then
    not_ok "milterload is built" "run make check TESTS= first"
    tap_done
fi

# 200 users u000.test ... u199.test; the first 33 lines of the tests'
# directory hold the base, the reader and the two organisational units
{
    sed -n '1,33p' "$TOP/tests/data/directory.ldif"
    awk -v B="$RG_BASE_DN" -v known="$T/known.txt" 'BEGIN {
        for (i = 0; i < 200; i++) {
            u = sprintf("u%03d.test", i)
            printf "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: test\nmail: %s@example.com\n\n", u, B, u, u, u
            print u "@example.com" > known
        } }'
} >"$T/users.ldif"
start_slapd "$T/users.ldif" || { not_ok "slapd starts"; tap_done; }
write_conf "$T/rcptguard.conf" "MaxUnknownRecipients 0" "Suggest off"
start_rcptguard "$T/rcptguard.conf" || { not_ok "rcptguard starts"; tap_done; }
SOCK=inet:$MILTER_PORT@127.0.0.1

# 1000 recipients, 60 % known and 40 % never seen, from 4 sessions of 5
# transactions of 10 recipients: 20 connections
rc=0
timeout -k 2 20 "$ML" -s "$SOCK" -k "$T/known.txt" -c 4 -r 10 -t 5 -n 1000 \
    -m known=60,unknown=40 -T run1 -l "$T/ml.log" >"$T/ml.out" 2>"$T/ml.err" || rc=$?
expect_eq "milterload exits with 0" 0 "$rc"
expect_match "1000 recipients timed" '^rcpts=1000 seconds=[0-9.]+ rate=[0-9]+ p50_us=[0-9]+ p99_us=[0-9]+ p999_us=[0-9]+ max_us=[0-9]+$' \
    "$(sed -n 1p "$T/ml.out")"
expect_eq "the counts are exact" \
    "$(printf '%s\n' 'known=600 continue=600 reject550=0 tempfail4xx=0 other=0' \
        'unknown=400 continue=0 reject550=400 tempfail4xx=0 other=0' \
        'connections=20 errors=0 protocol=0x5372')" \
    "$(sed -n '2,$p' "$T/ml.out")"
expect_eq "one log line a recipient" 1000 "$(wc -l <"$T/ml.log")"
# every unknown line carries exactly the reply rcptguard gives, with its address
bad=$(awk -F '\t' '$1 == "unknown" && $3 != "550 5.1.1 <" $2 ">: Recipient address rejected: User unknown" ||
    $1 == "known" && $3 != "continue"' "$T/ml.log" | head -n 3)
expect_eq "each reply is the exact one for its recipient" "" "$bad"
expect_eq "400 distinct never-seen addresses" 400 \
    "$(awk -F '\t' '$1 == "unknown" { print $2 }' "$T/ml.log" | sort -u | grep -c -- '-run1-')"
expect_eq "rcptguard logged 600 known recipients" 600 "$(grep -c 'verdict=ok' "$RCPTGUARD_LOG")"
expect_eq "rcptguard logged 400 unknown recipients" 400 "$(grep -c 'verdict=unknown' "$RCPTGUARD_LOG")"

# the directory down: never-seen recipients get 451, and the driver says 4xx
stop_slapd
rc=0
timeout -k 2 20 "$ML" -s "$SOCK" -k "$T/known.txt" -c 2 -r 5 -t 1 -n 10 -m unknown=100 \
    -T run2 >"$T/ml2.out" 2>&1 || rc=$?
expect_eq "with slapd down, 10 never-seen recipients count as 4xx" \
    "unknown=10 continue=0 reject550=0 tempfail4xx=10 other=0" "$(sed -n 2p "$T/ml2.out")"

# nobody listening: an error and exit status 1
stop_rcptguard
rc=0
timeout -k 2 20 "$ML" -s "$SOCK" -k "$T/known.txt" -n 10 >"$T/ml3.out" 2>&1 || rc=$?
expect_eq "a closed socket is an error" "1 connections=0 errors=1 protocol=0x0" "$rc $(tail -n 1 "$T/ml3.out")"
tap_done
