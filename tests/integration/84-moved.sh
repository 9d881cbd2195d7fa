#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/84-moved.sh - people who left: LDAPMovedToAttribute and
# DisabledReply.
#
# A disabled entry (LDAPDisabledFilter) that names a new address in
# LDAPMovedToAttribute is answered as Postfix's relocated(5) table answers:
# 550 5.1.6 ... User has moved to <new>, to every sender; one that names none
# (or a value that is no plain address) stays 550 5.1.1 User unknown, or
# 550 5.2.1 Mailbox disabled with DisabledReply disabled.  Checked through
# rcptguard-query (from the directory, the Redis cache and the mirror),
# through a real Postfix and a real Sendmail (exact reply lines, verdict in
# the log), and in rcptguard-audit --moved.
#
# The same directory has a catch-all for example.org (LDAPCatchAllFilter):
# asked only for an address that is not there at all, at the top and as an
# alias target, never for one that is found (no duplicate alerts), from the
# directory and from the mirror; the audit sends unclaimed targets to it too.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

RG_SLAPD_SCHEMAS="$TOP/tests/data/moved-schema.ldif"
RG_SLAPD_SYNCPROV=1     # the mirror in step with the directory: it answers unknown too
start_slapd "$TOP/tests/data/moved.ldif" || { not_ok "moved: slapd starts"; tap_done; }
start_redis || { not_ok "moved: redis-server starts"; tap_done; }

KEYS=("LDAPFilter (|(mail=%s)(mailLocalAddress=%s))"
    "LDAPAddressAttributes mail mailLocalAddress"
    "LDAPAliasAttributes rfc822MailMember"
    "LDAPDisabledFilter (description=left)"
    "LDAPCatchAllFilter (mailLocalAddress=@%d)"
    "AlertLog $T/alerts.log"
    "Suggest off")
write_conf "$T/rcptguard.conf" "${KEYS[@]}" "LDAPMovedToAttribute mailMovedTo"

# The key is read from disabled entries: without LDAPDisabledFilter it is refused.
write_conf "$T/nodis.conf" "LDAPMovedToAttribute mailMovedTo"
out=$("$QUERY" -c "$T/nodis.conf" ann@example.com 2>&1)
rc=$?
expect_eq "moved: LDAPMovedToAttribute without LDAPDisabledFilter is refused" \
    "78 rcptguard-query: $T/nodis.conf:11: LDAPMovedToAttribute is read from disabled entries only: set LDAPDisabledFilter too" \
    "$rc $out"

M="Recipient address rejected: User has moved to"
U="Recipient address rejected: User unknown"
expect_query 1 "moved: rcptguard-query, from the directory" \
"carol@example.com moved ldap moved-to=<carol@newcorp.example>
550 5.1.6 <carol@example.com>: $M <carol@newcorp.example>
dora.lee@example.com moved ldap moved-to=<Dora.Lee@newcorp.example>
550 5.1.6 <dora.lee@example.com>: $M <Dora.Lee@newcorp.example>
carol+news@example.com moved ldap moved-to=<carol@newcorp.example>
550 5.1.6 <carol+news@example.com>: $M <carol@newcorp.example>
eve@example.com unknown ldap
550 5.1.1 <eve@example.com>: $U
dave@example.com unknown ldap
550 5.1.1 <dave@example.com>: $U
mallory@example.com unknown ldap
550 5.1.1 <mallory@example.com>: $U
quinn@example.com unknown ldap
550 5.1.1 <quinn@example.com>: $U
frank@example.com ok ldap
250 2.1.5 Ok
ann@example.com ok ldap
250 2.1.5 Ok" \
    "$T/rcptguard.conf" --reply carol@example.com dora.lee@example.com carol+news@example.com \
    eve@example.com dave@example.com mallory@example.com quinn@example.com frank@example.com \
    ann@example.com

expect_query 1 "moved: an alias whose only target left is broken, not relocated" \
"team@example.com alias-broken ldap
  -> carol@example.com disabled disabled-target
550 5.1.1 <team@example.com>: $U" \
    "$T/rcptguard.conf" --reply team@example.com
expect_query 1 "moved: rcptguard-query --json" \
'{"address":"carol@example.com","verdict":"moved","source":"ldap","moved_to":"carol@newcorp.example","reply":["550 5.1.6 <carol@example.com>: Recipient address rejected: User has moved to <carol@newcorp.example>"]}' \
    "$T/rcptguard.conf" --json --no-cache carol@example.com

# The answer is cached whole (Redis, then the process), the new address with it.
key=$(redis_cli --scan --pattern "rcptguard:*:carol@example.com" | head -n 1)
expect_match "moved: Redis keeps the new address" \
    '^moved carol@newcorp\.example;seen=[0-9]+\.[0-9]{3};fresh=[0-9]+\.[0-9]{3}$' \
    "$(redis_cli GET "$key")"
expect_query 1 "moved: rcptguard-query, from the cache" \
"carol@example.com moved cache moved-to=<carol@newcorp.example>
550 5.1.6 <carol@example.com>: $M <carol@newcorp.example>
eve@example.com unknown cache
550 5.1.1 <eve@example.com>: $U" \
    "$T/rcptguard.conf" --reply carol@example.com eve@example.com
# a value of that shape that is no plain address is not shown: looked up again
redis_cli SET "$key" 'moved x@y>;seen=1;fresh=9999999999' >/dev/null
expect_query 1 "moved: a cached value that is no plain address is looked up again" \
"carol@example.com moved ldap moved-to=<carol@newcorp.example>" \
    "$T/rcptguard.conf" carol@example.com

# The mirror holds the attribute and answers the same.
REDIS_URI= RG_TEST_MIRROR=yes write_conf "$T/mirror.conf" "${KEYS[@]}" \
    "LDAPMovedToAttribute mailMovedTo"
expect_query 1 "moved: rcptguard-query, from the mirror" \
"carol@example.com moved mirror moved-to=<carol@newcorp.example>
550 5.1.6 <carol@example.com>: $M <carol@newcorp.example>
eve@example.com unknown mirror
550 5.1.1 <eve@example.com>: $U
frank@example.com ok mirror
250 2.1.5 Ok" \
    "$T/mirror.conf" --reply carol@example.com eve@example.com frank@example.com
# It holds the catch-all too, and answers for it as the directory does.
expect_query 1 "catch-all: rcptguard-query, from the mirror" \
"whoever@example.org ok mirror
  -> @example.org catch-all
    -> ann@example.com ok
250 2.1.5 Ok
list@example.org ok mirror
  -> whoever@example.org unknown
    -> @example.org catch-all
      -> ann@example.com ok
250 2.1.5 Ok
gus@example.org unknown mirror
550 5.1.1 <gus@example.org>: $U
nobody@example.com unknown mirror
550 5.1.1 <nobody@example.com>: $U" \
    "$T/mirror.conf" --reply whoever@example.org list@example.org gus@example.org \
    nobody@example.com

# DisabledReply disabled: 5.2.1 for a disabled entry that names no new address.
REDIS_URI= write_conf "$T/disabled.conf" "${KEYS[@]}" "LDAPMovedToAttribute mailMovedTo" \
    "DisabledReply disabled"
expect_query 1 "moved: DisabledReply disabled" \
"eve@example.com disabled ldap
550 5.2.1 <eve@example.com>: Recipient address rejected: Mailbox disabled
dave@example.com disabled ldap
550 5.2.1 <dave@example.com>: Recipient address rejected: Mailbox disabled
carol@example.com moved ldap moved-to=<carol@newcorp.example>
550 5.1.6 <carol@example.com>: $M <carol@newcorp.example>
nobody@example.com unknown ldap
550 5.1.1 <nobody@example.com>: $U" \
    "$T/disabled.conf" --reply eve@example.com dave@example.com carol@example.com \
    nobody@example.com
expect_query 1 "moved: DisabledReply disabled, through Sendmail" \
"eve@example.com disabled ldap
550 5.2.1 <eve@example.com>... Recipient address rejected: Mailbox disabled" \
    "$T/disabled.conf" --reply --mta sendmail eve@example.com
# without LDAPMovedToAttribute a disabled entry is only disabled
REDIS_URI= write_conf "$T/nomoved.conf" "${KEYS[@]}"
expect_query 1 "moved: without LDAPMovedToAttribute nobody has moved" \
"carol@example.com unknown ldap
550 5.1.1 <carol@example.com>: $U" \
    "$T/nomoved.conf" --reply carol@example.com

# The catch-all of example.org: after the address itself, for what is not there.
expect_query 0 "catch-all: rcptguard-query" \
"whoever@example.org ok ldap
  -> @example.org catch-all
    -> ann@example.com ok
250 2.1.5 Ok
bea@example.org ok ldap
250 2.1.5 Ok
list@example.org ok ldap
  -> whoever@example.org unknown
    -> @example.org catch-all
      -> ann@example.com ok
250 2.1.5 Ok" \
    "$T/rcptguard.conf" --reply --no-cache whoever@example.org bea@example.org list@example.org
expect_query 1 "catch-all: not for a disabled address, nor for another domain" \
"gus@example.org unknown ldap
550 5.1.1 <gus@example.org>: $U
nobody@example.com unknown ldap
550 5.1.1 <nobody@example.com>: $U" \
    "$T/rcptguard.conf" --reply --no-cache gus@example.org nobody@example.com
# cached once per domain, under "@DOMAIN", which no address can be
"$QUERY" -c "$T/rcptguard.conf" x@example.org >/dev/null 2>&1
key=$(redis_cli --scan --pattern 'rcptguard:*:@example.org' | head -n 1)
expect_match "catch-all: cached under @example.org" '^ok;seen=' "$(redis_cli GET "$key")"
expect_query 0 "catch-all: answered from the cache" \
"y@example.org ok cache
  -> @example.org catch-all" \
    "$T/rcptguard.conf" y@example.org
write_conf "$T/badca.conf" "LDAPCatchAllFilter (mail=@%d)(uid=x)"
write_conf "$T/badca2.conf" "LDAPCatchAllFilter (mail=%u@%d)"
out=$("$QUERY" -c "$T/badca.conf" a@example.org 2>&1)
rc=$?
expect_eq "catch-all: a bad LDAPCatchAllFilter is refused" \
    "78 rcptguard-query: $T/badca.conf:11: LDAPCatchAllFilter \"(mail=@%d)(uid=x)\" has text after the filter: \"(uid=x)\" (several filters are joined with (&...) or (|...))" \
    "$rc $out"
out=$("$QUERY" -c "$T/badca2.conf" a@example.org 2>&1)
rc=$?
expect_eq "catch-all: LDAPCatchAllFilter with %u is refused" \
    "78 rcptguard-query: $T/badca2.conf:11: LDAPCatchAllFilter: \"%u\": a catch-all is one per domain, only %d may stand in it" \
    "$rc $out"

# The audit: only the planted problem; the target the catch-all takes is not dangling.
out=$("$AUDIT" -c "$T/rcptguard.conf" 2>&1)
rc=$?
expect_eq "catch-all: rcptguard-audit knows the catch-all" \
"1 PROBLEM          ALIAS             TARGET             DN
disabled-target  team@example.com  carol@example.com  cn=team,ou=aliases,dc=example,dc=com" \
    "$rc $out"

# The audit lists the people who left, and what RCPT answers for each address.
out=$("$AUDIT" -c "$T/rcptguard.conf" --moved 2>&1)
rc=$?
expect_eq "moved: rcptguard-audit --moved" \
"0 ADDRESS               MOVED-TO                             ANSWER    DN
carol@example.com     carol@newcorp.example                moved     uid=carol,ou=people,dc=example,dc=com
dave@example.com      dave at newcorp                      unknown   uid=dave,ou=people,dc=example,dc=com
dora.lee@example.com  Dora.Lee@newcorp.example             moved     uid=dora,ou=people,dc=example,dc=com
mallory@example.com   x@evil.example>\\x0d\\x0a250 2.1.5 Ok  unknown   uid=mallory,ou=people,dc=example,dc=com
quinn@example.com     \"quinn q\"@newcorp.example            unknown   uid=quinn,ou=people,dc=example,dc=com" \
    "$rc $out"
out=$("$AUDIT" -c "$T/nomoved.conf" --moved 2>&1)
rc=$?
expect_eq "moved: rcptguard-audit --moved without LDAPMovedToAttribute is refused" \
    "78 rcptguard-audit: $T/nomoved.conf: LDAPMovedToAttribute is empty; nobody has moved" \
    "$rc $out"

# Through a real Postfix and a real Sendmail: the exact lines, the verdict logged.
rg_require "moved: through Postfix and Sendmail" postfix swaks
redis_cli FLUSHALL >/dev/null
start_rcptguard "$T/rcptguard.conf" || { not_ok "moved: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "moved: Postfix starts"; tap_done; }
expect_eq "moved: through Postfix" "550 5.1.6 <carol@example.com>: $M <carol@newcorp.example>" \
    "$(swaks_rcpt "$POSTFIX_PORT" carol@example.com)"
expect_eq "moved: through Postfix, from the cache" \
    "550 5.1.6 <carol@example.com>: $M <carol@newcorp.example>" \
    "$(swaks_rcpt "$POSTFIX_PORT" carol@example.com)"
expect_eq "moved: through Postfix, left without a word" "550 5.1.1 <eve@example.com>: $U" \
    "$(swaks_rcpt "$POSTFIX_PORT" eve@example.com)"
expect_eq "moved: through Postfix, a value that is no address" \
    "550 5.1.1 <mallory@example.com>: $U" "$(swaks_rcpt "$POSTFIX_PORT" mallory@example.com)"
expect_eq "moved: through Postfix, still here" "250 2.1.5 Ok" \
    "$(swaks_rcpt "$POSTFIX_PORT" frank@example.com)"
expect_eq "catch-all: through Postfix" "250 2.1.5 Ok" \
    "$(swaks_rcpt "$POSTFIX_PORT" whoever@example.org)"
expect_eq "catch-all: through Postfix, a real address of the domain" "250 2.1.5 Ok" \
    "$(swaks_rcpt "$POSTFIX_PORT" bea@example.org)"
expect_eq "catch-all: through Postfix, not for a disabled address" \
    "550 5.1.1 <gus@example.org>: $U" "$(swaks_rcpt "$POSTFIX_PORT" gus@example.org)"
expect_eq "catch-all: no alert from it (no duplicate, no dangling target)" "" \
    "$(swaks_rcpt "$POSTFIX_PORT" list@example.org >/dev/null; cat "$T/alerts.log" 2>/dev/null)"
# (and the alert log does get what an alias gets wrong)
swaks_rcpt "$POSTFIX_PORT" team@example.com >/dev/null
expect_match "catch-all: the alert log works" '"problem":"disabled-target"' \
    "$(cat "$T/alerts.log" 2>/dev/null)"
expect_eq "moved: logged with verdict=moved, source ldap then cache" \
    "verdict=moved source=ldap
verdict=moved source=cache" \
    "$(grep -F 'rcpt=<carol@example.com> ' "$RCPTGUARD_LOG" | grep -o 'verdict=[^ ]* source=[^ ]*')"
stop_postfix

rc=0
start_sendmail "$MILTER_PORT" || rc=$?
if ((rc == 2)); then
    skip "moved: through Sendmail" "${RG_SENDMAIL_MISSING:-Sendmail not available}"
elif ((rc != 0)); then
    not_ok "moved: Sendmail starts"
else
    expect_eq "moved: through Sendmail" \
        "550 5.1.6 <carol@example.com>... $M <carol@newcorp.example>" \
        "$(swaks_rcpt "$SENDMAIL_PORT" carol@example.com)"
    expect_eq "moved: through Sendmail, left without a word" \
        "550 5.1.1 <eve@example.com>... $U" "$(swaks_rcpt "$SENDMAIL_PORT" eve@example.com)"
    stop_sendmail
fi
stop_rcptguard

tap_done
