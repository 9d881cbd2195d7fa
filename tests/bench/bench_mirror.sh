#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/bench/bench_mirror.sh - how long the directory mirror takes to load
# and how much memory it holds, for a large directory.
#
#   bash tests/bench/bench_mirror.sh [USERS [ALIASES]]   (default 1000000 100000)
#
# Generates USERS inetOrgPerson entries (uNNNNNNN@example.com, every tenth
# with a second address) and ALIASES nisMailAlias entries of two targets
# each, slapadds them into a fresh mdb with syncprov, starts rcptguard with
# Mirror yes and Suggest on (binding as the root DN, which has no size
# limit: the refresh of an RFC 4533 session sends the whole directory in one
# search), and reports the seconds from start to "mirror ready" (the
# suggestion index built from the mirror included) and the daemon's RSS
# then.  Nothing is asserted: the figures go into BENCHMARKS.md.
set -u
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

USERS=${1:-1000000}
ALIASES=${2:-100000}

awk -v users="$USERS" -v aliases="$ALIASES" 'BEGIN {
    print "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
    print "dn: ou=people,dc=example,dc=com\nobjectClass: organizationalUnit\nou: people\n"
    print "dn: ou=aliases,dc=example,dc=com\nobjectClass: organizationalUnit\nou: aliases\n"
    for (i = 1; i <= users; i++) {
        printf "dn: uid=u%07d,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n", i
        if (i % 10 == 0) printf "objectClass: inetLocalMailRecipient\nmailLocalAddress: alt%07d@example.com\n", i
        printf "uid: u%07d\ncn: User %d\nsn: %d\nmail: u%07d@example.com\n", i, i, i, i
        print ""
    }
    for (i = 1; i <= aliases; i++) {
        printf "dn: cn=a%07d,ou=aliases,dc=example,dc=com\nobjectClass: nisMailAlias\n", i
        printf "objectClass: inetLocalMailRecipient\ncn: a%07d\nmailLocalAddress: a%07d@example.com\n", i, i
        printf "rfc822MailMember: u%07d@example.com\nrfc822MailMember: u%07d@example.com\n\n", (i * 7) % users + 1, (i * 13) % users + 1
    }
}' >"$T/big.ldif"
echo "# LDIF: $USERS users, $ALIASES aliases, $(du -m "$T/big.ldif" | cut -f1) MB"

t0=$(date +%s)
RG_SLAPD_MAXSIZE=8589934592 RG_SLAPD_SYNCPROV=1 start_slapd "$T/big.ldif" || { echo "slapd did not start"; exit 1; }
echo "# slapadd and slapd start: $(($(date +%s) - t0)) s"
# the root DN's password for the bind
RG_TEST_MIRROR=yes write_conf "$T/rcptguard.conf" "Suggest trusted" \
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))" "LDAPAddressAttributes mail mailLocalAddress" \
    "LDAPAliasAttributes rfc822MailMember"
sed -i -e "s/^LDAPBindDN .*/LDAPBindDN $RG_ADMIN_DN/" -e "s/^LDAPTimeout .*/LDAPTimeout 10/" "$T/rcptguard.conf"
printf '%s\n' "$RG_ADMIN_PW" >"$T/ldap.pw"

t0=$(date +%s.%N)
start_rcptguard "$T/rcptguard.conf" || { echo "rcptguard did not start"; exit 1; }
for ((i = 0; i < 6000; i++)); do
    grep -q "mirror ready" "$RCPTGUARD_LOG" && break
    sleep 0.1
done
t1=$(date +%s.%N)
rss=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$RCPTGUARD_PID/status")
hwm=$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$RCPTGUARD_PID/status")
grep -E "mirror ready|suggestion index loaded" "$RCPTGUARD_LOG" | sed 's/^/# /'
printf 'mirror load (start to ready, index included): %.1f s; RSS %d MiB (peak %d MiB)\n' \
    "$(echo "$t1 - $t0" | bc)" "$rss" "$hwm"
stop_rcptguard
