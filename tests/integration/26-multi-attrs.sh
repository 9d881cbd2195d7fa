#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/26-multi-attrs.sh - two attributes of each kind.
#
# slapd with tests/data/multi-attrs.ldif; rcptguard with two address
# attributes (mail, mailLocalAddress), two alias attributes
# (rfc822MailMember, mailRoutingAddress), two member attributes (member,
# uniqueMember) and Suggest trusted, behind a private Postfix.  The list of
# attributes is handed to libldap by the suggestion index: once it crashed
# the daemon a few seconds after start.  Checked through swaks (reply lines
# compared exactly) and rcptguard-query: the daemon loads the index and
# stays up; a user known only by the second address attribute is accepted
# and its typo suggested; aliases by either alias attribute and groups by
# either member attribute resolve, living or broken.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

# glibc's checking malloc puts a guard byte right after every block, so that
# reading past the end of an array finds garbage instead of the zeros a
# fresh heap happens to hold: the daemon and rcptguard-query run with it.
MDEBUG=/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0
# (Not under a sanitizer build: ASan has its own allocator and refuses a
# preloaded one; there ASan itself checks the heap.)
if grep -q -a __asan_init "$RCPTGUARD" 2>/dev/null || grep -q -a __tsan_init "$RCPTGUARD" 2>/dev/null; then
    with_mcheck() { "$@"; }
elif [[ -f $MDEBUG ]]; then
    with_mcheck() { LD_PRELOAD=$MDEBUG MALLOC_CHECK_=3 "$@"; }
else
    with_mcheck() { "$@"; }
    echo "# $MDEBUG not found: running without glibc's malloc checks" >&2
fi

rg_require "multi-attrs: end-to-end checks" postfix swaks

CONF=(
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))"
    "LDAPAddressAttributes mail mailLocalAddress"
    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress"
    "LDAPMemberAttributes member uniqueMember"
    "Suggest trusted"
    "TrustedNetworks 127.0.0.1/32"
    "MaxUnknownRecipients 0"
)
OK="250 2.1.5 Ok"
one_line() {
    printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"
}
two_lines() {
    printf '550-5.1.1 <%s>: Recipient address rejected: User unknown\n550 5.1.1 Did you mean <%s>?' "$1" "$2"
}
alive() { kill -0 "${RCPTGUARD_PID:-0}" 2>/dev/null; }

start_slapd "$TOP/tests/data/multi-attrs.ldif" || { not_ok "multi-attrs: slapd starts"; tap_done; }
write_conf "$T/rg.conf" "${CONF[@]}"
with_mcheck start_rcptguard "$T/rg.conf" || { not_ok "multi-attrs: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "multi-attrs: postfix starts"; tap_done; }

# The index is loaded by a thread of its own right after start.
for ((i = 0; i < 150; i++)); do
    grep -q 'suggestion index loaded' "$RCPTGUARD_LOG" 2>/dev/null && break
    alive || break
    sleep 0.1
done
expect_match "multi-attrs: the suggestion index is loaded from both address attributes" \
    'suggestion index loaded: 8 addresses' "$(grep 'suggestion index' "$RCPTGUARD_LOG")"
sleep 2
if alive; then
    ok "multi-attrs: rcptguard is still running after the index load"
else
    wait "$RCPTGUARD_PID" 2>/dev/null
    not_ok "multi-attrs: rcptguard is still running after the index load" \
        "exit status $?" "$(tail -n 5 "$RCPTGUARD_LOG")"
    RCPTGUARD_PID=
    tap_done
fi

a=john.doe@example.com
expect_eq "multi-attrs: a user by the first address attribute ($a) accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=alexander.hamilton@example.com
expect_eq "multi-attrs: a user by the second address attribute ($a) accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=alexander.hamiltom@example.com
expect_eq "multi-attrs: a typo of an address of the second attribute is suggested ($a)" \
    "$(two_lines $a alexander.hamilton@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=jonh.doe@example.com
expect_eq "multi-attrs: a typo of an address of the first attribute is suggested ($a)" \
    "$(two_lines $a john.doe@example.com)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=sales@example.com
expect_eq "multi-attrs: alias by the first alias attribute, rfc822MailMember ($a) accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=forward@example.com
expect_eq "multi-attrs: alias by the second alias attribute, mailRoutingAddress ($a) accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=oldfwd@example.com
expect_eq "multi-attrs: broken alias by the second alias attribute ($a) gets 550" \
    "$(one_line $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=devs@example.com
expect_eq "multi-attrs: group by the first member attribute, member ($a) accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=qa@example.com
expect_eq "multi-attrs: group by the second member attribute, uniqueMember ($a) accepted" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=ghosts@example.com
expect_eq "multi-attrs: group whose only uniqueMember does not exist ($a) gets 550" \
    "$(one_line $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
if alive; then
    ok "multi-attrs: rcptguard still running after the checks"
else
    not_ok "multi-attrs: rcptguard still running after the checks" "$(tail -n 5 "$RCPTGUARD_LOG")"
fi

# rcptguard-query loads the same index, in its own process.
write_conf "$T/query.conf" "${CONF[@]}"
with_mcheck expect_query 0 "multi-attrs: rcptguard-query: users by either address attribute" \
    "john.doe@example.com ok ldap
alexander.hamilton@example.com ok ldap" "$T/query.conf" john.doe@example.com alexander.hamilton@example.com
with_mcheck expect_query 1 "multi-attrs: rcptguard-query: the typo of the second attribute's address" \
    "alexander.hamiltom@example.com unknown ldap did-you-mean=<alexander.hamilton@example.com>" \
    "$T/query.conf" alexander.hamiltom@example.com
with_mcheck expect_query 0 "multi-attrs: rcptguard-query: aliases by either alias attribute" \
    "sales@example.com ok ldap
  -> alexander.hamilton@example.com ok
forward@example.com ok ldap
  -> john.doe@example.com ok" "$T/query.conf" sales@example.com forward@example.com
with_mcheck expect_query 0 "multi-attrs: rcptguard-query: groups by either member attribute" \
    "devs@example.com ok ldap
  -> john.doe@example.com ok
qa@example.com ok ldap
  -> alexander.hamilton@example.com ok" "$T/query.conf" devs@example.com qa@example.com
with_mcheck expect_query 1 "multi-attrs: rcptguard-query: broken alias and group by the second attributes" \
    "oldfwd@example.com alias-broken ldap
  -> gone@example.com unknown dangling-target
ghosts@example.com alias-broken ldap
  -> uid=nobody,ou=people,dc=example,dc=com unknown dangling-target" \
    "$T/query.conf" oldfwd@example.com ghosts@example.com

tap_done
