#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/27-fingerprint.sh - answers cached in Redis under one
# configuration are never read under another.
#
# Redis keys carry a fingerprint of every setting that can change an
# answer.  slapd with tests/data/fingerprint.ldif, Redis, rcptguard behind a
# private Postfix, swaks (reply lines compared exactly):
#   - team@ (a groupOfNames without targets) is cached as a broken alias
#     (550) under the default LDAPAliasClasses; a SIGUSR1 reload with
#     LDAPAliasClasses that leaves groupOfNames out makes it a mailbox: it
#     must be accepted at once, not after NegativeCacheTTL;
#   - a reload with a filter libldap refuses is refused, and the running
#     configuration keeps answering;
#   - two rcptguard-query runs sharing the Redis with different Domains
#     (the alias lists@ has one target, in example.org) each get their own
#     answer.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "fingerprint: end-to-end checks" postfix swaks redis-server redis-cli

COMMON=(
    "LDAPFilter (|(mail=%s)(mailLocalAddress=%s))"
    "LDAPAddressAttributes mail mailLocalAddress"
    "LDAPAliasAttributes rfc822MailMember"
    "CacheTTL 600"
    "NegativeCacheTTL 600"
    "Suggest off"
    "MaxUnknownRecipients 0"
)
OK="250 2.1.5 Ok"
unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }

# team_keys: the Redis keys that hold an answer for team@example.com.
team_keys() { redis_cli --scan --pattern 'rcptguard:v1:*:team@example.com' | sort; }

start_slapd "$TOP/tests/data/fingerprint.ldif" || { not_ok "fingerprint: slapd starts"; tap_done; }
start_redis || { not_ok "fingerprint: redis-server starts"; tap_done; }
write_conf "$T/rg.conf" "${COMMON[@]}"
start_rcptguard "$T/rg.conf" || { not_ok "fingerprint: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "fingerprint: postfix starts"; tap_done; }

# --- LDAPAliasClasses changed by a reload ------------------------------------

a=team@example.com
expect_eq "fingerprint: $a, a groupOfNames without targets, is a broken alias (550)" \
    "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
k1=$(team_keys)
# the value is VERDICT;seen=TIME;fresh=TIME: the verdict is what counts here
v=$(redis_cli GET "$k1" 2>/dev/null | head -n 1)
expect_eq "fingerprint: the answer for $a is in Redis" "alias-broken" "${v%%;*}"

write_conf "$T/rg.conf" "${COMMON[@]}" "LDAPAliasClasses nisMailAlias"
expect_match "fingerprint: reload with LDAPAliasClasses nisMailAlias" \
    'configuration .* reloaded' "$(rg_reload)"
expect_eq "fingerprint: after the reload $a is a mailbox and accepted, not served the cached 550" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
line=$(grep -F "rcpt=<$a> verdict=" "$RCPTGUARD_LOG" | tail -n 1)
expect_match "fingerprint: the answer after the reload came from LDAP" 'verdict=ok source=ldap' "$line"
expect_eq "fingerprint: Redis now holds two answers for $a, one per configuration" \
    2 "$(team_keys | grep -c .)"

# Back to the first settings: the first answer is the one read again.
write_conf "$T/rg.conf" "${COMMON[@]}"
expect_match "fingerprint: reload with the first settings" 'configuration .* reloaded' "$(rg_reload)"
expect_eq "fingerprint: under the first settings again, $a is the cached broken alias" \
    "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
line=$(grep -F "rcpt=<$a> verdict=" "$RCPTGUARD_LOG" | tail -n 1)
expect_match "fingerprint: ... read from the cache" 'source=cache' "$line"

# --- a reload with a filter libldap refuses -----------------------------------

write_conf "$T/rg.conf" "${COMMON[@]}" "LDAPDisabledFilter (description=disabled"
expect_match "fingerprint: a reload with an unbalanced LDAPDisabledFilter is refused, naming file and line" \
    "reload refused, keeping the running configuration: $T/rg.conf:18: LDAPDisabledFilter" "$(rg_reload)"
a=jane.smith@example.com
expect_eq "fingerprint: the running configuration keeps answering ($a)" \
    "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
a=nobody@example.com
expect_eq "fingerprint: ... and rejecting ($a)" "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"

# --- two configurations sharing one Redis: Domains ----------------------------

write_conf "$T/two.conf" "${COMMON[@]}"
write_conf "$T/one.conf" "${COMMON[@]}"
sed -i 's/^Domains .*/Domains example.com/' "$T/one.conf"
expect_query 1 "fingerprint: Domains example.com example.org: lists@ (only target in example.org) is broken" \
    "lists@example.com alias-broken ldap
  -> ghost@example.org unknown dangling-target" "$T/two.conf" lists@example.com
expect_query 0 "fingerprint: Domains example.com: lists@ is fine (its target is not ours), not the other's cached answer" \
    "lists@example.com ok ldap
  -> ghost@example.org external" "$T/one.conf" lists@example.com

tap_done
