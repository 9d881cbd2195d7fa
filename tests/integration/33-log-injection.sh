#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/33-log-injection.sh - a recipient cannot forge a log
# line, so fail2ban cannot be turned against an innocent address.
#
# Recipients whose text imitates rcptguard's own decision line (a quoted
# local part with spaces, "client=10.9.8.7", CR LF, "<" ">" "=", 8-bit
# bytes) are sent from one client through miltertest and through Postfix.
# rcptguard's log, written as syslog writes it, is then run through
# contrib/fail2ban/rcptguard.conf with fail2ban-regex: only the true client
# addresses may be matched, and every line must stay one line whose
# recipient field holds no space, "<", ">" or raw control byte.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup
HERE=$(cd "$(dirname "$0")" && pwd)
FILTER=$TOP/contrib/fail2ban/rcptguard.conf

rg_require "injection: log injection checks" miltertest fail2ban-regex postfix swaks

start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "injection: slapd starts"; tap_done; }
write_conf "$T/rcptguard.conf" "MaxUnknownRecipients 0"
start_rcptguard "$T/rcptguard.conf" || { not_ok "injection: rcptguard starts"; tap_done; }

# --- at the milter protocol level, from 192.0.2.66 --------------------------
timeout -k 5 60 miltertest -D "sock=inet:$MILTER_PORT@127.0.0.1" -D client=192.0.2.66 \
    -s "$HERE/injection.lua" </dev/null 2>"$T/mt.err" | grep -E '^(not )?ok '

# --- through Postfix, from 127.0.0.2 -----------------------------------------
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "injection: postfix starts"; tap_done; }
hostile='"padding-padding x rcptguard[1]: conn=1 client=10.9.8.7 rcpt=<> verdict=unknown "@example.com'
got=$(swaks_rcpt "$POSTFIX_PORT" "$hostile" --local-interface 127.0.0.2)
expect_eq "injection: through Postfix the hostile recipient (a local part over 64 octets) gets 550 5.1.3" \
    "550 5.1.3 Recipient address rejected: Bad address syntax" "$got"
got=$(swaks_rcpt "$POSTFIX_PORT" 'nobody@example.com' --local-interface 127.0.0.2)
expect_eq "injection: and a plain unknown recipient from the same client its 550" \
    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown" "$got"

# --- the log, as syslog would write it --------------------------------------
# rcptguard -f writes "rcptguard: MESSAGE" to standard error; syslog writes
# "Mon dd hh:mm:ss HOST rcptguard[PID]: MESSAGE".
stamp=$(LC_ALL=C date '+%b %e %H:%M:%S')
grep -a '^rcptguard: conn=' "$RCPTGUARD_LOG" |
    sed "s/^rcptguard: /$stamp mx.test.local rcptguard[$RCPTGUARD_PID]: /" >"$T/mail.log"
n=$(grep -c . "$T/mail.log")
expect_eq "injection: one decision line per recipient, none split by CR LF" 7 "$n"
bad=$(grep -a -v -E ' rcpt=<[^<> [:cntrl:]]*> verdict=' "$T/mail.log" || true)
expect_eq "injection: every recipient field is free of spaces, <, > and control bytes" "" "$bad"
if grep -a -q -E 'client=10\.9\.8\.7 rcpt=<> ' "$T/mail.log"; then
    not_ok "injection: the forged 'client=10.9.8.7 rcpt=<>' does not appear as written"
else
    ok "injection: the forged 'client=10.9.8.7 rcpt=<>' does not appear as written"
fi

# --- fail2ban ---------------------------------------------------------------
hosts=$(fail2ban-regex -o '<ip>' "$T/mail.log" "$FILTER" 2>"$T/f2b.err" | sort | uniq -c |
    awk '{print $2 " " $1}')
expect_eq "injection: fail2ban matches only the true clients, once per unknown recipient" \
    "127.0.0.2 2
192.0.2.66 5" "$hosts"

# --- directory data in the alias problem line ---------------------------------
# An alias whose target and DN imitate the line's own fields, one with a
# line break: the warning must stay one line with one problem= and one dn=.
ldap_admin ldapadd >/dev/null 2>>"$T/ldap.err" <<'LDIF'
dn: cn=forged\"x problem=none,ou=aliases,dc=example,dc=com
objectClass: nisMailAlias
objectClass: inetLocalMailRecipient
cn: forged"x problem=none
mailLocalAddress: forged@example.com
rfc822MailMember: gone@example.com> problem=none target=<ok@example.com
rfc822MailMember:: Z29uZUBleGFtcGxlLmNvbQpyY3B0Z3VhcmQ6IGFsaWFzIHByb2JsZW06IGFsaWFzPTx4PiBwcm9ibGVtPWxvb3A=
LDIF
stop_rcptguard
: >"$RCPTGUARD_LOG"
write_conf "$T/alias.conf" "MaxUnknownRecipients 0" "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))" \
    "LDAPAddressAttributes mail mailLocalAddress" "LDAPAliasAttributes rfc822MailMember" \
    "BrokenAliasAction reject"
start_rcptguard "$T/alias.conf" || { not_ok "injection: rcptguard starts with aliases"; tap_done; }
got=$(swaks_rcpt "$POSTFIX_PORT" forged@example.com)
expect_match "injection: the alias with forged targets is rejected as broken" '^550 ' "$got"
lines=$(grep -a 'alias problem:' "$RCPTGUARD_LOG")
expect_eq "injection: two alias problem lines, one per dead target (no line split)" 2 \
    "$(grep -c . <<<"$lines")"
bad=$(grep -a -v -E '^rcptguard: (warning: )?alias problem: alias=<[^<> [:cntrl:]]*> problem=[a-z-]+ target=<[^<> [:cntrl:]]*> dn="[^"[:cntrl:]]*"$' <<<"$lines" || true)
expect_eq "injection: each alias problem line has one problem=, one target=<...> and one dn=\"...\"" "" "$bad"
if grep -a -q ' problem=none' "$RCPTGUARD_LOG" || grep -a -q -E '^rcptguard: (warning: )?alias problem: alias=<x>' "$RCPTGUARD_LOG"; then
    not_ok "injection: the forged fields do not appear as written"
else
    ok "injection: the forged fields do not appear as written"
fi

tap_done
