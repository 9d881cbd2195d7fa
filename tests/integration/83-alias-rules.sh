#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/83-alias-rules.sh - the alias rules of real schemas.
#
# slapd with tests/data/alias-rules.ldif in an iRedMail-like shape (schema
# tests/data/mailrules-schema.ldif), rcptguard behind a private Postfix.
# For every shape the reply an SMTP client gets is compared exactly, and
# rcptguard-query's verdict, live and from the directory mirror:
#   - forwarding counts only where LDAPForwardFilter matches: a mailbox
#     with a stale forward but no enabledService=forward is a plain mailbox;
#   - a mailbox that lists itself among its forwarding targets keeps a copy:
#     250 even when its other targets are dead or disabled (their alerts
#     only, no self-target);
#   - an alias loop is deferred, 451 4.4.6 <addr>: Alias loop, even with a
#     living target, logged as verdict=alias-loop;
# and rcptguard-audit reports exactly the planted problems under the same
# rules.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "alias-rules: end-to-end checks" postfix swaks jq

RG_SLAPD_SCHEMA=$TOP/tests/data/mailrules-schema.ldif
RULES=(
    "LDAPFilter (&(|(objectClass=inetOrgPerson)(objectClass=rgTestMailList))(mail=%s))"
    "LDAPAddressAttributes mail"
    "LDAPAliasAttributes mailForwardingAddress"
    "LDAPForwardFilter (enabledService=forward)"
    "LDAPDisabledFilter (accountStatus=disabled)"
    "CacheTTL 0"
    "NegativeCacheTTL 0"
    "StaleTTL 0"
    "Suggest off"
    "MaxUnknownRecipients 0"
)

OK="250 2.1.5 Ok"
unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }
aliasloop() { printf '451 4.4.6 <%s>: Alias loop' "$1"; }

# ADDRESS VERDICT: what each shape gets (the reply follows from the verdict)
SHAPES="ada ok
alan.kay ok
grace ok
stale alias-broken
niels.bohr ok
edwin ok
ops alias-loop
ops2 alias-loop
old unknown
nobody unknown"

reply_for() {
    case $2 in
    ok) echo "$OK" ;;
    unknown | alias-broken) unknown "$1" ;;
    alias-loop) aliasloop "$1" ;;
    esac
}

RG_SLAPD_SYNCPROV=1 start_slapd "$TOP/tests/data/alias-rules.ldif" ||
    { not_ok "alias-rules: slapd starts"; tap_done; }
write_conf "$T/live.conf" "${RULES[@]}" "AlertLog $T/alerts.log"
RG_TEST_MIRROR=yes write_conf "$T/mirror.conf" "${RULES[@]}"
start_rcptguard "$T/live.conf" || { not_ok "alias-rules: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "alias-rules: postfix starts"; tap_done; }

# --- through Postfix ----------------------------------------------------------

while read -r l v; do
    a=$l@example.com
    expect_eq "alias-rules: Postfix: $a ($v)" "$(reply_for "$a" "$v")" \
        "$(swaks_rcpt "$POSTFIX_PORT" "$a")"
done <<<"$SHAPES"
expect_eq "alias-rules: the loop is logged as verdict=alias-loop" \
    'verdict=alias-loop source=ldap ms=N reply="451 4.4.6"' \
    "$(grep -F 'rcpt=<ops@example.com> ' "$RCPTGUARD_LOG" | sed -n 's/.*\(verdict=[^ ]* source=[^ ]* ms=\)[0-9]*\( reply="[^"]*"\).*/\1N\2/p' | head -n 1)"

# --- rcptguard-query, live and from the mirror --------------------------------

want=$(while read -r l v; do echo "$l@example.com $v"; done <<<"$SHAPES")
addrs=$(while read -r l v; do echo "$l@example.com"; done <<<"$SHAPES")
got=$("$QUERY" -c "$T/live.conf" --json <<<"$addrs" 2>>"$T/query.err" | jq -r '"\(.address) \(.verdict)"')
expect_eq "alias-rules: rcptguard-query answers every shape" "$want" "$got"
got=$("$QUERY" -c "$T/mirror.conf" --json <<<"$addrs" 2>>"$T/query.err" | jq -r '"\(.address) \(.verdict)"')
expect_eq "alias-rules: rcptguard-query from the mirror answers the same" "$want" "$got"
got=$("$QUERY" -c "$T/mirror.conf" --json <<<"$addrs" 2>>"$T/query.err" | jq -r 'select(.verdict != "unknown") | .source' | sort -u)
expect_eq "alias-rules: and every found answer came from the mirror" "mirror" "$got"
got=$("$QUERY" -c "$T/live.conf" --reply ops@example.com 2>>"$T/query.err")
expect_eq "alias-rules: rcptguard-query --reply shows the loop and the deferral" \
    "ops@example.com alias-loop ldap
  -> ops2@example.com alias
    -> ops@example.com loop loop
  -> ada@example.com ok
$(aliasloop ops@example.com)" "$got"
got=$("$QUERY" -c "$T/live.conf" niels.bohr@example.com 2>>"$T/query.err")
expect_eq "alias-rules: rcptguard-query shows the copy kept as local, no self-target" \
    "niels.bohr@example.com ok ldap
  -> niels.bohr@example.com local
  -> gone@example.com unknown dangling-target" "$got"

# --- alerts and the audit -------------------------------------------------------

got=$(jq -r '"\(.problem)|\(.alias)|\(.target)"' "$T/alerts.log" 2>/dev/null | sort -u)
expect_eq "alias-rules: the alerts raised through Postfix" \
    "dangling-target|niels.bohr@example.com|gone@example.com
dangling-target|stale@example.com|departed@example.com
disabled-target|edwin@example.com|old@example.com
loop|ops2@example.com|ops@example.com
loop|ops@example.com|ops2@example.com" "$got"

AUDIT_WANT="dangling-target|niels.bohr@example.com|gone@example.com
dangling-target|stale@example.com|departed@example.com
disabled-target|edwin@example.com|old@example.com
loop|ops2@example.com|ops2@example.com
loop|ops@example.com|ops@example.com"
got=$("$AUDIT" -c "$T/live.conf" --json 2>>"$T/audit.err" | jq -r '"\(.problem)|\(.alias)|\(.target // "-")"' | sort)
expect_eq "alias-rules: rcptguard-audit reports exactly the planted problems" "$AUDIT_WANT" "$got"

# --- lists whose members name them: LDAPMemberOfAttributes ------------------------

# big@ is named by 40 members: more than the 16 entries a lookup takes, so
# it is answered only when membership is asked as one existence search
{
    cat "$TOP/tests/data/alias-rules.ldif"
    echo
    printf 'dn: cn=big,ou=lists,dc=example,dc=com\nobjectClass: rgTestMailList\ncn: big\nmail: big@example.com\naccountStatus: active\n\n'
    for i in $(seq 1 40); do
        printf 'dn: uid=m%s,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nobjectClass: rgTestMailAccount\nuid: m%s\ncn: m%s\nsn: m%s\nmail: m%s@example.com\naccountStatus: active\nmemberOfGroup: big@example.com\n\n' \
            "$i" "$i" "$i" "$i" "$i"
    done
} >"$T/lists.ldif"
stop_postfix
stop_rcptguard
stop_slapd
RG_SLAPD_SYNCPROV=1 start_slapd "$T/lists.ldif" || { not_ok "alias-rules: slapd starts with the lists"; tap_done; }
LISTS=("${RULES[@]}" "LDAPAliasClasses rgTestMailList" "LDAPMemberOfAttributes memberOfGroup")
write_conf "$T/lists.conf" "${LISTS[@]}" "AlertLog $T/list-alerts.log"
start_rcptguard "$T/lists.conf" || { not_ok "alias-rules: rcptguard starts with the lists"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "alias-rules: postfix starts again"; tap_done; }

LIST_SHAPES="team ok
big ok
ghostlist ok
alumni alias-broken
retired alias-broken
ops2 alias-loop
grace ok
nobody unknown"
while read -r l v; do
    a=$l@example.com
    expect_eq "alias-rules: lists through Postfix: $a ($v)" "$(reply_for "$a" "$v")" \
        "$(swaks_rcpt "$POSTFIX_PORT" "$a")"
done <<<"$LIST_SHAPES"
want=$(while read -r l v; do echo "$l@example.com $v"; done <<<"$LIST_SHAPES")
addrs=$(while read -r l v; do echo "$l@example.com"; done <<<"$LIST_SHAPES")
got=$("$QUERY" -c "$T/lists.conf" --json <<<"$addrs" 2>>"$T/query.err" | jq -r '"\(.address) \(.verdict)"')
expect_eq "alias-rules: rcptguard-query answers every list" "$want" "$got"
got=$(jq -r '"\(.problem)|\(.alias)"' "$T/list-alerts.log" 2>/dev/null | sort -u | grep -v '^loop|')
expect_eq "alias-rules: only the lists nobody (enabled) names raise no-targets" \
    "no-targets|alumni@example.com
no-targets|retired@example.com" "$got"
# an alias whose target is a list known only by its members
got=$("$QUERY" -c "$T/lists.conf" grace@example.com team@example.com 2>>"$T/query.err")
expect_eq "alias-rules: rcptguard-query on lists" "grace@example.com ok ldap
  -> ada@example.com ok
team@example.com ok ldap" "$got"

got=$("$AUDIT" -c "$T/lists.conf" --json 2>>"$T/audit.err" | jq -r '"\(.problem)|\(.alias)|\(.target // "-")"' | sort)
expect_eq "alias-rules: rcptguard-audit with the lists: no-targets only where no living member names it" \
    "$(sort <<<"$AUDIT_WANT
no-targets|alumni@example.com|-
no-targets|retired@example.com|-")" "$got"

# The mirror counts the living members of each group: Mirror yes answers
# every list the same, from memory, and follows members as they change.
RG_TEST_MIRROR=yes write_conf "$T/lists-mirror.conf" "${LISTS[@]}" "AlertLog $T/mirror-alerts.log"
got=$("$QUERY" -c "$T/lists-mirror.conf" --json <<<"$addrs" 2>>"$T/query.err" | jq -r '"\(.address) \(.verdict)"')
expect_eq "alias-rules: rcptguard-query from the mirror answers every list the same" "$want" "$got"
got=$("$QUERY" -c "$T/lists-mirror.conf" --json <<<"$addrs" 2>>"$T/query.err" | jq -r 'select(.verdict != "unknown") | .source' | sort -u)
expect_eq "alias-rules: and every found list came from the mirror" "mirror" "$got"

stop_rcptguard
start_rcptguard "$T/lists-mirror.conf" || { not_ok "alias-rules: rcptguard starts with the mirror"; tap_done; }
# ADDRESS REPLY: poll until Postfix gives REPLY (the change reaches the
# mirror through the RFC 4533 session), for at most 10 s; the last reply
wait_reply() {
    local got i
    for i in $(seq 1 50); do
        got=$(swaks_rcpt "$POSTFIX_PORT" "$1")
        [[ $got == "$2" ]] && break
        sleep 0.2
    done
    echo "$got"
}
last_source() {
    grep -F "rcpt=<$1> " "$RCPTGUARD_LOG" | tail -n 1 | sed -n 's/.* source=\([^ ]*\) .*/\1/p'
}
# bob_status STATUS: set bob's accountStatus
bob_status() {
    printf 'dn: uid=bob,ou=people,dc=example,dc=com\nchangetype: modify\nreplace: accountStatus\naccountStatus: %s\n' "$1" |
        ldap_admin ldapmodify >>"$T/ldap.log" 2>&1
}
expect_eq "alias-rules: mirror: ghostlist@ (bob names it) through Postfix" "$OK" \
    "$(wait_reply ghostlist@example.com "$OK")"
expect_eq "alias-rules: mirror: answered from the mirror" "mirror" "$(last_source ghostlist@example.com)"
bob_status disabled
expect_eq "alias-rules: mirror: its only member disabled, ghostlist@ is unknown" \
    "$(unknown ghostlist@example.com)" "$(wait_reply ghostlist@example.com "$(unknown ghostlist@example.com)")"
expect_eq "alias-rules: mirror: and that came from the mirror too" "mirror" \
    "$(last_source ghostlist@example.com)"
bob_status active
expect_eq "alias-rules: mirror: bob enabled again, ghostlist@ is back" "$OK" \
    "$(wait_reply ghostlist@example.com "$OK")"
# big@: its 40 members leave one by one; the last one takes the list with it
for i in $(seq 1 39); do
    printf 'dn: uid=m%s,ou=people,dc=example,dc=com\nchangetype: modify\ndelete: memberOfGroup\n\n' "$i"
done | ldap_admin ldapmodify >>"$T/ldap.log" 2>&1
sleep 1
expect_eq "alias-rules: mirror: big@ with one member left" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" big@example.com)"
printf 'dn: uid=m40,ou=people,dc=example,dc=com\nchangetype: delete\n' |
    ldap_admin ldapmodify >>"$T/ldap.log" 2>&1
expect_eq "alias-rules: mirror: its last member deleted, big@ has no targets" \
    "$(unknown big@example.com)" "$(wait_reply big@example.com "$(unknown big@example.com)")"
expect_eq "alias-rules: mirror: from the mirror" "mirror" "$(last_source big@example.com)"
printf 'dn: uid=m7,ou=people,dc=example,dc=com\nchangetype: modify\nadd: memberOfGroup\nmemberOfGroup: BIG@example.com\n' |
    ldap_admin ldapmodify >>"$T/ldap.log" 2>&1
expect_eq "alias-rules: mirror: a member names it again (in capitals): big@ is back" "$OK" \
    "$(wait_reply big@example.com "$OK")"

# --- configuration ---------------------------------------------------------------

NOFWD=()
for line in "${RULES[@]}"; do
    [[ $line == LDAPForwardFilter* ]] || NOFWD+=("$line")
done
write_conf "$T/bad.conf" "${NOFWD[@]}" "LDAPForwardFilter (enabledService=%s)"
expect_exit "alias-rules: LDAPForwardFilter with a placeholder is refused (rcptguard -n: 78)" 78 \
    "$RCPTGUARD" -n -c "$T/bad.conf"
write_conf "$T/bad2.conf" "${NOFWD[@]}" "LDAPForwardFilter (enabledService~=forward)"
expect_exit "alias-rules: LDAPForwardFilter the mirror cannot evaluate is refused (78)" 78 \
    "$RCPTGUARD" -n -c "$T/bad2.conf"
# Without it, the stale forward counts again: alan.kay@ is the broken alias
# iRedMail's own maps do not see.
write_conf "$T/nofwd.conf" "${NOFWD[@]}"
got=$("$QUERY" -c "$T/nofwd.conf" alan.kay@example.com 2>>"$T/query.err" | head -n 1)
expect_eq "alias-rules: without LDAPForwardFilter alan.kay@ is a broken alias" \
    "alan.kay@example.com alias-broken ldap" "$got"

tap_done
