#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/90-mirror-equiv.sh - the directory mirror answers as the
# directory does.
#
# slapd with syncprov and the directory of tests/lib/mirror.sh (users, disabled
# users, aliases healthy and broken, loops, groups with member DNs, both
# domains, and a group of 5,000 members); rcptguard-query asks about 22,101 addresses (case, subaddresses,
# typos, brackets) once with Mirror no (every answer from LDAP and the
# cache) and once with Mirror yes (the directory loaded into memory first):
# verdict, suggestion and reply lines must be identical, and the mirror's
# answers must come from the mirror (not LDAP) except where it could not
# tell (17 entries for one address).  Then the configuration side: Mirror
# yes with a filter the mirror cannot evaluate is refused (rcptguard -n
# exits 78 and names the assertion); Mirror auto with it stays live.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mirror.sh"
rg_setup
rg_require "mirror equivalence" jq

mirror_ldif >"$T/dir.ldif"
# and one entry larger than the mirror's blocks take (128 KiB): a group of
# 5,000 member DNs, held in an allocation of its own
{
    printf '\ndn: cn=gbig,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\n'
    printf 'objectClass: inetLocalMailRecipient\ncn: gbig\nmailLocalAddress: gbig@example.com\n'
    for ((i = 1; i <= 5000; i++)); do
        printf 'member: uid=ghost%04d,ou=people,dc=example,dc=com\n' "$i"
    done
    printf 'member: uid=u0007,ou=people,dc=example,dc=com\n'
    # and a mailbox with 70 addresses of the filter's attributes (more values
    # than the mirror's filter match holds on the stack, for the entry and for
    # one filter's view of it)
    printf '\ndn: uid=wide,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\n'
    printf 'objectClass: inetLocalMailRecipient\nuid: wide\ncn: Wide\nsn: Wide\n'
    printf 'mail: wide@example.com\n'
    for ((i = 1; i <= 70; i++)); do printf 'mailLocalAddress: wide%02d@example.org\n' "$i"; done
} >>"$T/dir.ldif"
RG_SLAPD_SYNCPROV=1 start_slapd "$T/dir.ldif" || { not_ok "slapd starts"; exit 1; }
RG_TEST_MIRROR=no write_conf "$T/live.conf" "${MIRROR_CONF[@]}"
RG_TEST_MIRROR=yes write_conf "$T/mirror.conf" "${MIRROR_CONF[@]}"
{
    mirror_addresses
    echo gbig@example.com; echo GBig+x@EXAMPLE.com
    echo wide@example.com; echo wide01@example.org; echo Wide70+x@example.org
    echo wide71@example.org
} >"$T/addresses"
N=$(wc -l <"$T/addresses")

# the live run in four parts at once, to keep the test short
split -n l/4 -d "$T/addresses" "$T/part."
t0=$(date +%s%N)
for p in "$T"/part.0?; do
    "$QUERY" -c "$T/live.conf" --json <"$p" >"$p.json" 2>"$p.err" &
done
wait
cat "$T"/part.0?.json >"$T/live.json"
t1=$(date +%s%N)
"$QUERY" -c "$T/mirror.conf" --json <"$T/addresses" >"$T/mirror.json" 2>"$T/mirror.err"
t2=$(date +%s%N)
echo "# $N addresses: live $(((t1 - t0) / 1000000)) ms, mirror $(((t2 - t1) / 1000000)) ms (load included)"

# what must agree: the verdict, the suggestion and the reply lines
view() { jq -c '{address, verdict, suggestion, reply}' "$1"; }
view "$T/live.json" >"$T/live.view"
view "$T/mirror.json" >"$T/mirror.view"
expect_eq "both runs answered all $N addresses" "$N $N" \
    "$(wc -l <"$T/live.view") $(wc -l <"$T/mirror.view")"
if cmp -s "$T/live.view" "$T/mirror.view"; then
    ok "mirror and live lookups agree on all $N addresses"
else
    not_ok "mirror and live lookups agree on all $N addresses" \
        "$(diff "$T/live.view" "$T/mirror.view" | grep -c '^<') answers differ"
    diff "$T/live.view" "$T/mirror.view" | head -n 20 | sed 's/^/#   /' >&2
fi

big=$(jq -c 'select(.address == "gbig@example.com") | {verdict, source}' "$T/mirror.json")
expect_eq "the 5,000-member group, from the mirror" '{"verdict":"ok","source":"mirror"}' "$big"
many=$(jq -r 'select(.address | ascii_downcase | startswith("wide")) | "\(.address) \(.verdict) \(.source)"' \
    "$T/mirror.json" | tr "\n" ";")
expect_eq "the mailbox of 70 addresses, from the mirror" \
    "wide@example.com ok mirror;wide01@example.org ok mirror;Wide70+x@example.org ok mirror;wide71@example.org unknown mirror;" \
    "$many"

# the mix is what it says: every kind of answer, many times
counts=$(jq -r .verdict "$T/live.json" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
echo "# verdicts: $counts"
for v in ok unknown alias-broken tempfail not-ours; do
    c=$(jq -r .verdict "$T/live.json" | grep -cx -- "$v")
    if ((c >= 20)); then ok "the mix holds '$v' answers ($c)"; else not_ok "the mix holds '$v' answers ($c)"; fi
done

c=$(grep -c '"suggestion"' "$T/mirror.json")
if ((c >= 100)); then ok "with suggestions, from the index built from the mirror ($c)"; else not_ok "with suggestions, from the index built from the mirror ($c)"; fi

# from the mirror: every answer for our domains but the ones it could not tell
others=$(jq -r 'select(.source != "mirror" and .verdict != "not-ours" and .verdict != "tempfail")
    | .address + " " + .source' "$T/mirror.json" | head -n 5)
expect_eq "with Mirror yes every answer but 'could not tell' comes from the mirror" "" "$others"
fromldap=$(jq -r 'select(.source == "mirror") | .address' "$T/live.json" | head -n 3)
expect_eq "with Mirror no none does" "" "$fromldap"

# --- configuration -------------------------------------------------------------

RG_TEST_MIRROR=yes write_conf "$T/bad.conf" "LDAPFilter (mail=*%u*)"
out=$("$RCPTGUARD" -n -c "$T/bad.conf" 2>&1)
rc=$?
expect_eq "Mirror yes with a filter the mirror cannot hold: rcptguard -n exits 78" 78 "$rc"
expect_match "and the error names the assertion" '\(mail=\*%u\*\): a placeholder in a substring' "$out"
RG_TEST_MIRROR=auto write_conf "$T/auto.conf" "LDAPFilter (mail=*%u*)"
expect_exit "with Mirror auto that configuration is accepted" 0 "$RCPTGUARD" -n -c "$T/auto.conf"
RG_TEST_MIRROR=yes write_conf "$T/dis.conf" "LDAPDisabledFilter (uid=%u)"
expect_exit "a placeholder in LDAPDisabledFilter: exit 78" 78 \
    "$RCPTGUARD" -n -c "$T/dis.conf"

tap_done
