#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# bench_audit.sh - time rcptguard-audit over a directory of 100k entries.
#
#   tests/bench/bench_audit.sh [ENTRIES] [RUNS]
#
# Generates ENTRIES (default 100000) entries under dc=example,dc=com: 80 %
# users (inetOrgPerson, some with a mailRoutingAddress forward), 15 %
# nisMailAlias (3-6 rfc822MailMember targets, some nested, some external),
# 5 % groupOfNames (5 member DNs), and a handful of broken aliases; loads them
# offline with slapadd into a slapd of its own (tests/lib/servers.sh), then
# runs the audit RUNS times (default 3) bound as the reader DN, as a mail
# admin would.  Prints the wall time of each run and the audit's own counts.
set -u
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

N=${1:-100000}
RUNS=${2:-3}
AUDIT=$RG_BUILD/directory/rcptguard-audit
B=dc=example,dc=com

nusers=$((N * 80 / 100))
naliases=$((N * 15 / 100))
ngroups=$((N - nusers - naliases - 8))

echo "# generating $N entries: $nusers users, $naliases aliases, $ngroups groups" >&2
t0=$(date +%s.%N)
awk -v nu="$nusers" -v na="$naliases" -v ng="$ngroups" -v B="$B" 'BEGIN {
    srand(42)
    print "dn: " B "\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
    print "dn: cn=reader," B "\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: reader\nuserPassword: readerpw\n"
    print "dn: ou=people," B "\nobjectClass: organizationalUnit\nou: people\n"
    print "dn: ou=aliases," B "\nobjectClass: organizationalUnit\nou: aliases\n"
    print "dn: ou=groups," B "\nobjectClass: organizationalUnit\nou: groups\n"
    for (i = 0; i < nu; i++) {
        printf "dn: uid=u%d,ou=people,%s\nobjectClass: inetOrgPerson\n", i, B
        if (i % 20 == 0)
            printf "objectClass: inetLocalMailRecipient\nmailRoutingAddress: u%d@example.com\n", (i + 1) % nu
        printf "uid: u%d\ncn: User %d\nsn: %d\nmail: u%d@example.com\n", i, i, i, i
        if (i % 500 == 0)
            printf "description: disabled\n"
        print ""
    }
    for (i = 0; i < na; i++) {
        printf "dn: cn=a%d,ou=aliases,%s\nobjectClass: nisMailAlias\nobjectClass: inetLocalMailRecipient\ncn: a%d\nmailLocalAddress: a%d@example.com\n", i, B, i, i
        k = 3 + int(rand() * 4)
        for (j = 0; j < k; j++)
            printf "rfc822MailMember: u%d@example.com\n", int(rand() * nu)
        if (i > 0 && i % 10 == 0)
            printf "rfc822MailMember: a%d@example.com\n", int(rand() * i)
        if (i % 7 == 0)
            printf "rfc822MailMember: partner%d@example.net\n", i
        print ""
    }
    for (i = 0; i < ng; i++) {
        printf "dn: cn=g%d,ou=groups,%s\nobjectClass: groupOfNames\nobjectClass: inetLocalMailRecipient\ncn: g%d\nmailLocalAddress: g%d@example.com\n", i, B, i, i
        for (j = 0; j < 5; j++)
            printf "member: uid=u%d,ou=people,%s\n", int(rand() * nu), B
        print ""
    }
    # a few broken ones
    printf "dn: cn=broken1,ou=aliases,%s\nobjectClass: nisMailAlias\ncn: broken1\nrfc822MailMember: gone@example.com\n\n", B
    printf "dn: cn=broken2,ou=aliases,%s\nobjectClass: nisMailAlias\ncn: broken2\n\n", B
    printf "dn: cn=broken3,ou=groups,%s\nobjectClass: groupOfNames\ncn: broken3\nmember: uid=nobody,%s\n\n", B, B
}' >"$T/bench.ldif"
t1=$(date +%s.%N)
echo "# generated $(grep -c '^dn:' "$T/bench.ldif") entries ($(du -h "$T/bench.ldif" | cut -f1)) in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s" >&2

# a slapd of the usual shape, then room for the data, then the data offline
printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n' "$B" >"$T/empty.ldif"
start_slapd "$T/empty.ldif" || exit 1
stop_slapd
cat >"$T/size.ldif" <<LDIF
dn: olcDatabase={1}mdb,cn=config
changetype: modify
replace: olcDbMaxSize
olcDbMaxSize: 4294967296
LDIF
slapmodify -n 0 -F "$SLAPD_DIR/slapd.d" -l "$T/size.ldif" >/dev/null || exit 1
rm -rf "$SLAPD_DIR/data" && mkdir -p "$SLAPD_DIR/data"
t0=$(date +%s.%N)
slapadd -q -n 1 -F "$SLAPD_DIR/slapd.d" -l "$T/bench.ldif" >"$T/slapadd.log" 2>&1 || { tail "$T/slapadd.log"; exit 1; }
t1=$(date +%s.%N)
echo "# slapadd -q: $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s" >&2
restart_slapd || exit 1

write_conf "$T/bench.conf" \
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))" \
    "LDAPAddressAttributes mail mailLocalAddress" \
    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress" \
    "LDAPMemberAttributes member uniqueMember" \
    "LDAPDisabledFilter (description=disabled)"

echo "# machine: $(nproc) CPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/^Mem:/ {print $2}') GB RAM; $(slapd -VV 2>&1 | head -n 1 | sed 's/^@(#) \$//; s/ (.*//')"
echo "# command: rcptguard-audit -c bench.conf -v (bound as the reader, page size 500)"
for ((r = 1; r <= RUNS; r++)); do
    t0=$(date +%s.%N)
    rc=0
    "$AUDIT" -c "$T/bench.conf" -v >"$T/out" 2>"$T/err" || rc=$?
    t1=$(date +%s.%N)
    printf 'run %d: %.2f s wall, exit %d, %d problem lines; %s\n' "$r" "$(echo "$t1 - $t0" | bc)" "$rc" \
        "$(($(wc -l <"$T/out") - 1))" "$(sed 's/^rcptguard-audit: //' "$T/err")"
done
/usr/bin/time -f 'peak RSS: %M KB' "$AUDIT" -c "$T/bench.conf" >/dev/null 2>"$T/rss" || true
tail -n 1 "$T/rss"
awk 'NR > 1 {print $1}' "$T/out" | sort | uniq -c | sed 's/^/# /'
