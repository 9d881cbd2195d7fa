#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/82-alias-model.sh - the RCPT path and the audit see the
# same aliases the same way.
#
# One directory holds every alias shape: healthy, every target dead, some
# dead, a disabled target (by address and by member DN), a loop by address
# and one through member DNs written in another case and spacing, a chain
# too deep, a target that is the alias itself (also through its subaddress
# or its own DN as a member), a member DN that does not exist, nested
# groups, and attributes with options (mail;lang-de, mailRoutingAddress;lang-en).  Every alias address is asked
# of rcptguard-query --json; the problems its expansion shows, each given to
# the alias it belongs to, must be exactly the problems rcptguard-audit
# --json finds.  How the two name a problem differs by design only in two
# ways, which the comparison maps:
#   - RCPT shows a loop as the target that closes it, below the other
#     aliases of the cycle; the audit as a problem of each alias A on the
#     cycle, naming the value that leads to A;
#   - RCPT shows too-deep on the first edge it did not follow; the audit
#     names the alias at the end of the limit, that edge's source.
# DNs are compared normalised (case, blanks around separators).
set -u
. "$(dirname "$0")/../lib/servers.sh"
rg_setup

AUDIT=$RG_BUILD/directory/rcptguard-audit
B=dc=example,dc=com
if ! command -v jq >/dev/null; then
    skip "alias-model: RCPT path and audit agree" "jq is not installed"
    tap_done
fi

# person UID [ATTR: VALUE]...
person() {
    local uid=$1
    shift
    printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nobjectClass: inetLocalMailRecipient\nuid: %s\ncn: %s\nsn: %s\n' \
        "$uid" "$B" "$uid" "$uid" "$uid"
    printf '%s\n' "$@" ""
}
# fwd_person UID TARGET...: a mailbox UID@example.com with rfc822MailMember targets
fwd_person() {
    local uid=$1 t
    shift
    printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nobjectClass: extensibleObject\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\n' \
        "$uid" "$B" "$uid" "$uid" "$uid" "$uid"
    for t in "$@"; do
        printf 'rfc822MailMember: %s\n' "$t"
    done
    echo
}
# alias_entry NAME TARGET...: a nisMailAlias with mailLocalAddress NAME@example.com
alias_entry() {
    local name=$1 t
    shift
    printf 'dn: cn=%s,ou=aliases,%s\nobjectClass: nisMailAlias\nobjectClass: inetLocalMailRecipient\ncn: %s\nmailLocalAddress: %s@example.com\n' \
        "$name" "$B" "$name" "$name"
    for t in "$@"; do
        printf 'rfc822MailMember: %s\n' "$t"
    done
    echo
}
# group NAME ADDRESS|- MEMBER-DN...
group() {
    local name=$1 addr=$2 m
    shift 2
    printf 'dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\n' "$name" "$B"
    [[ $addr == - ]] || printf 'objectClass: inetLocalMailRecipient\nmailLocalAddress: %s\n' "$addr"
    printf 'cn: %s\n' "$name"
    for m in "$@"; do
        printf 'member: %s\n' "$m"
    done
    echo
}

{
    printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n' "$B"
    printf 'dn: %s\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: reader\nuserPassword: %s\n\n' \
        "$RG_READER_DN" "$RG_READER_PW"
    for ou in people aliases groups; do
        printf 'dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n' "$ou" "$B" "$ou"
    done
    person ann "mail: ann@example.com"
    person bob "mail: bob@example.com"
    person carl "mail;lang-de: carl@example.com"
    person old "mail: old@example.com" "description: disabled"
    person optfwd "mail: optfwd@example.com" "mailRoutingAddress;lang-en: gone4@example.com"
    alias_entry healthy ann@example.com bob+news@example.com someone@example.net localname
    alias_entry alldead gone1@example.com gone2@example.com
    alias_entry somedead ann@example.com gone3@example.com
    alias_entry disabled old@example.com ann@example.com
    alias_entry selfish selfish@example.com ann@example.com
    alias_entry selfsub selfsub+x@example.com ann@example.com
    alias_entry loop1 loop2@example.com
    alias_entry loop2 loop1@example.com
    alias_entry deep1 deep2@example.com
    alias_entry deep2 deep3@example.com
    alias_entry deep3 deep4@example.com
    alias_entry deep4 ann@example.com
    alias_entry optalias carl@example.com
    # mailboxes that keep a copy: their own address is no problem, and
    # reaching one again through an alias is no loop
    fwd_person keep keep@example.com gone5@example.com
    fwd_person keep2 keep2@example.com kloop@example.com
    person keepsub "mail: keepsub@example.com" "mailRoutingAddress: keepsub+copy@example.com"
    alias_entry kloop keep2@example.com
    group grp grp@example.com "uid=ann,ou=people,$B" "uid=ghost,ou=people,$B"
    group grpdis grpdis@example.com "uid=old,ou=people,$B" "uid=bob,ou=people,$B"
    group optgrp optgrp@example.com "uid=carl,ou=people,$B"
    group selfgrp selfgrp@example.com "CN=SelfGrp, OU=Groups,$B" "uid=ann,ou=people,$B"
    group outer outer@example.com "cn=inner,ou=groups,$B" "uid=ann,ou=people,$B"
    group inner - "uid=bob,ou=people,$B" "UID=Ghost2, OU=people, dc=example, dc=com"
    # dnloop@ -> g0 -> g1 -> g2 -> g1: the loop must be seen when g1 comes
    # back, whatever the spelling of its DN, not one round later (too deep)
    group dnloop dnloop@example.com "cn=g0,ou=groups,$B" "uid=ann,ou=people,$B"
    group g0 - "cn=g1,ou=groups,$B"
    group g1 - "CN=G2 , OU=Groups,dc=example,dc=com"
    group g2 - "cn = g1, ou=groups, DC=example,DC=com"
} >"$T/model.ldif"

start_slapd "$T/model.ldif" || { not_ok "alias-model: slapd starts"; tap_done; }
write_conf "$T/model.conf" \
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))" \
    "LDAPAddressAttributes mail mailLocalAddress" \
    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress" \
    "LDAPMemberAttributes member" \
    "LDAPDisabledFilter (description=disabled)" \
    "AliasMaxDepth 3" \
    "CacheTTL 0" \
    "NegativeCacheTTL 0"

ALIASES="healthy alldead somedead disabled selfish selfsub loop1 loop2 deep1 deep2 deep3
    deep4 optalias optfwd grp grpdis optgrp selfgrp outer dnloop keep keepsub keep2 kloop"

# norm: DNs and addresses in one form: lower case, no blanks around , = +
norm() {
    tr 'A-Z' 'a-z' | sed -E 's/ *([,=+]) */\1/g'
}

# The RCPT path: each problem of each expansion, "problem|alias|target".  An
# item belongs to the alias above it (the nearest item one level up, or the
# address asked).  A loop item names the alias T where the cycle closes; the
# aliases above it up to T are on that cycle too.
rcpt_problems() {
    local a
    for a in $ALIASES; do
        "$QUERY" -c "$T/model.conf" --json "$a@example.com" 2>>"$T/query.err" |
            jq -r --arg a "$a@example.com" '
                def norm: ascii_downcase | gsub(" *(?<c>[,=+]) *"; "\(.c)");
                def parent($t; $i): [range(0; $i) | select($t[.].depth == $t[$i].depth - 1)] | last;
                def cycle($t; $i; $close):
                    parent($t; $i) as $p
                    | if $p == null or ($t[$p].target | norm) == $close then empty
                      else $t[$p].target, cycle($t; $p; $close) end;
                [(.targets // [])[]] as $t
                | range(0; $t | length) as $i
                | $t[$i] as $it
                | select($it.problem != null)
                | parent($t; $i) as $p
                | (if $p == null then $a else $t[$p].target end) as $owner
                | if $it.problem == "loop" then
                      ($it.target, cycle($t; $i; $it.target | norm)) | "loop|\(.)|\(.)"
                  elif $it.problem == "too-deep" then "too-deep|\($a)|\($owner)"
                  else "\($it.problem)|\($owner)|\($it.target)" end'
    done | norm | sort -u
}

audit_problems() {
    "$AUDIT" -c "$T/model.conf" --json 2>>"$T/audit.err" |
        jq -r '"\(.problem)|\(.alias)|\(.target // "-")"' | norm | sort -u
}

rcpt=$(rcpt_problems)
audit=$(audit_problems)
expect_eq "alias-model: the RCPT path finds the problems the audit finds" "$audit" "$rcpt"

# What both must find, so that agreeing on nothing cannot pass.
EXPECTED="dangling-target|alldead@example.com|gone1@example.com
dangling-target|alldead@example.com|gone2@example.com
dangling-target|grp@example.com|uid=ghost,ou=people,dc=example,dc=com
dangling-target|cn=inner,ou=groups,dc=example,dc=com|uid=ghost2,ou=people,dc=example,dc=com
dangling-target|keep@example.com|gone5@example.com
dangling-target|optfwd@example.com|gone4@example.com
dangling-target|somedead@example.com|gone3@example.com
disabled-target|disabled@example.com|old@example.com
disabled-target|grpdis@example.com|old@example.com
loop|cn=g1,ou=groups,dc=example,dc=com|cn=g1,ou=groups,dc=example,dc=com
loop|cn=g2,ou=groups,dc=example,dc=com|cn=g2,ou=groups,dc=example,dc=com
loop|loop1@example.com|loop1@example.com
loop|loop2@example.com|loop2@example.com
self-target|selfish@example.com|selfish@example.com
self-target|selfgrp@example.com|selfgrp@example.com
self-target|selfsub@example.com|selfsub+x@example.com
too-deep|deep1@example.com|deep4@example.com"
expect_eq "alias-model: the audit finds every seeded problem and nothing else" \
    "$(sort <<<"$EXPECTED")" "$audit"
expect_eq "alias-model: the RCPT path finds every seeded problem and nothing else" \
    "$(sort <<<"$EXPECTED")" "$rcpt"

# A mailbox that keeps a copy receives the mail, whatever its other targets.
for a in keep keepsub keep2 kloop; do
    got=$("$QUERY" -c "$T/model.conf" --json "$a@example.com" 2>>"$T/query.err" | jq -r .verdict)
    expect_eq "alias-model: $a@ (a copy kept) is ok" "ok" "$got"
done

# An address only under an attribute option is an address for suggestions too.
got=$("$QUERY" -c "$T/model.conf" --json carll@example.com 2>>"$T/query.err" | jq -r '.suggestion // "-"')
expect_eq "alias-model: carl@ (only in mail;lang-de) is suggested for carll@" "carl@example.com" "$got"

tap_done
