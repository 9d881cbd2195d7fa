#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/94-mirror-reload.sh - a SIGUSR1 reload that leaves the
# LDAP settings alone keeps the mirror: no second load, answers from it at
# once, and its session with the server goes on feeding the new
# configuration (answers and the suggestion index).  A reload that changes
# LDAPFilter loads a new mirror.
#
# Through Postfix (swaks), against slapd with syncprov (refreshAndPersist):
#   - after the first load, one "mirror ready" line;
#   - reload with the file unchanged, then with an unrelated key changed
#     (MaxUnknownRecipients): the reload line says "mirror kept", the very
#     next answer comes from the mirror, and no second load happens;
#   - a user added on slapd after those reloads is accepted within 2 s,
#     from the mirror, and a typo of it gets the suggestion (the kept
#     mirror's changes reach the new directory's index);
#   - reload with a changed LDAPFilter: "mirror reloading (lookup settings
#     changed)", and a second "mirror ready".
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
. "$(dirname "$0")/../lib/mirror.sh"
rg_setup
rg_require "mirror reload" postfix swaks ldapadd

OK="250 2.1.5 Ok"
CONF=(
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))"
    "LDAPAddressAttributes mail mailLocalAddress"
    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress"
    "LDAPMemberAttributes member"
    "LDAPDisabledFilter (description=disabled)"
    "Suggest trusted"
    "TrustedNetworks 127.0.0.1/32"
)
# source_of ADDRESS: where the daemon's last answer for ADDRESS came from.
source_of() {
    grep -F "rcpt=<$1>" "$RCPTGUARD_LOG" | tail -n 1 | sed -n 's/.* source=\([a-z]*\).*/\1/p'
}
readies() { grep -c 'mirror ready' "$RCPTGUARD_LOG"; }

mirror_ldif >"$T/dir.ldif"
RG_SLAPD_SYNCPROV=1 start_slapd "$T/dir.ldif" || { not_ok "mirror reload: slapd starts"; tap_done; }
RG_TEST_MIRROR=yes write_conf "$T/rg.conf" "${CONF[@]}" "MaxUnknownRecipients 0"
start_rcptguard "$T/rg.conf" || { not_ok "mirror reload: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "mirror reload: postfix starts"; tap_done; }
rg_log_wait 'mirror ready' 30 0 >/dev/null ||
    not_ok "mirror reload: the mirror is loaded at start" "$(tail -n 5 "$RCPTGUARD_LOG")"
expect_eq "mirror reload: u0002 accepted before any reload" "$OK" \
    "$(swaks_rcpt "$POSTFIX_PORT" u0002@example.com)"
expect_eq "mirror reload: ... from the mirror" mirror "$(source_of u0002@example.com)"

# kept_checks WHAT ADDRESS: after a reload that should keep the mirror.
kept_checks() {
    local what=$1 addr=$2 line
    line=$(rg_reload)
    expect_match "mirror reload: $what: the reload line says the mirror is kept" \
        'reloaded: .*mirror kept' "$line"
    expect_eq "mirror reload: $what: $addr accepted at once" "$OK" \
        "$(swaks_rcpt "$POSTFIX_PORT" "$addr")"
    expect_eq "mirror reload: $what: ... from the mirror" mirror "$(source_of "$addr")"
}
kept_checks "file unchanged" u0004@example.com
sed -i 's/^MaxUnknownRecipients .*/MaxUnknownRecipients 50/' "$T/rg.conf"
kept_checks "MaxUnknownRecipients changed" u0006@example.com
sleep 1
expect_eq "mirror reload: no second load after the reloads that keep it" 1 "$(readies)"

# A change on slapd after the reloads: the kept session feeds the new directory.
ldap_admin ldapadd >/dev/null 2>>"$T/ldap.err" <<EOF
dn: uid=newcomer,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: newcomer
cn: Newcomer
sn: Newcomer
mail: katharina.newcomer@example.com
EOF
got=
for ((i = 0; i < 20; i++)); do
    got=$(swaks_rcpt "$POSTFIX_PORT" katharina.newcomer@example.com)
    [[ $got == "$OK" ]] && break
    sleep 0.1
done
expect_eq "mirror reload: a user added after the reloads is accepted within 2 s" "$OK" "$got"
expect_eq "mirror reload: ... from the mirror" mirror "$(source_of katharina.newcomer@example.com)"
want=$(printf '550-5.1.1 <%s>: Recipient address rejected: User unknown\n550 5.1.1 Did you mean <%s>?' \
    katharina.newcomre@example.com katharina.newcomer@example.com)
# the index follows changes gathered, at most every 5 s
for ((i = 0; i < 20; i++)); do
    got=$(swaks_rcpt "$POSTFIX_PORT" katharina.newcomre@example.com)
    [[ $got == "$want" ]] && break
    sleep 0.5
done
expect_eq "mirror reload: a typo of that user gets the suggestion (the new index follows the kept mirror)" \
    "$want" "$got"

# A reload that changes what the mirror holds loads a new one.
sed -i 's/^LDAPFilter .*/LDAPFilter (|(mailLocalAddress=%s)(mail=%s))/' "$T/rg.conf"
from=$(rg_log_lines)
line=$(rg_reload)
expect_match "mirror reload: LDAPFilter changed: the reload line says the mirror reloads" \
    'reloaded: .*mirror reloading \(lookup settings changed\)' "$line"
if rg_log_wait 'mirror ready' 30 "$from" >/dev/null; then
    ok "mirror reload: LDAPFilter changed: a new mirror is loaded"
else
    not_ok "mirror reload: LDAPFilter changed: a new mirror is loaded" "$(tail -n 5 "$RCPTGUARD_LOG")"
fi
expect_eq "mirror reload: LDAPFilter changed: the new user still accepted" "$OK" \
    "$(swaks_rcpt "$POSTFIX_PORT" katharina.newcomer@example.com)"
expect_eq "mirror reload: ... from the new mirror" mirror "$(source_of katharina.newcomer@example.com)"

stop_rcptguard
tap_done
