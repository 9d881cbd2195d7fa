#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 75-suggest-sync.sh - the suggestion index follows directory changes as they
# happen when slapd offers RFC 4533 (syncprov), with SuggestRefresh far away;
# without syncprov rcptguard says so and keeps the timed reload.  Through
# Postfix with swaks, from a trusted client.
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

# poll_reply ADDRESS WANT: ask up to 15 times, a second apart, until the last
# reply line is WANT; prints the last line seen.
poll_reply() {
	local addr=$1 want=$2 i line=
	for ((i = 0; i < 15; i++)); do
		line=$(swaks_rcpt "$POSTFIX_PORT" "$addr" | tail -n 1)
		[[ $line == "$want" ]] && break
		sleep 1
	done
	printf '%s\n' "$line"
}

wait_log() {    # wait_log PATTERN: up to 10 s for a line in rcptguard's log
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "$1" "$RCPTGUARD_LOG" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

RG_SLAPD_SYNCPROV=1 start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd starts"; exit 1; }
write_conf "$T/rg.conf" "SuggestRefresh 3600" "TrustedNetworks 127.0.0.1/32"
start_rcptguard "$T/rg.conf" || { not_ok "rcptguard starts"; exit 1; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "Postfix starts"; exit 1; }

if wait_log "follows directory changes as they happen (RFC 4533)"; then
	ok "with syncprov, rcptguard says it follows changes live"
else
	not_ok "with syncprov, rcptguard says it follows changes live"
fi
wait_log "suggestion index loaded"

expect_eq "before the change: no suggestion for nwe.person" \
	"550 5.1.1 <nwe.person@example.com>: Recipient address rejected: User unknown" \
	"$(swaks_rcpt "$POSTFIX_PORT" nwe.person@example.com | tail -n 1)"

ldap_admin ldapadd >/dev/null <<'EOF'
dn: uid=new.person,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: new.person
cn: New Person
sn: Person
mail: new.person@example.com
EOF
expect_eq "a user added to slapd is suggested within seconds (SuggestRefresh 3600)" \
	"550 5.1.1 Did you mean <new.person@example.com>?" \
	"$(poll_reply nwe.person@example.com "550 5.1.1 Did you mean <new.person@example.com>?")"

ldap_admin ldapdelete "uid=new.person,ou=people,dc=example,dc=com" >/dev/null
expect_eq "a user deleted from slapd is no longer suggested" \
	"550 5.1.1 <nwe.person@example.com>: Recipient address rejected: User unknown" \
	"$(poll_reply nwe.person@example.com \
		"550 5.1.1 <nwe.person@example.com>: Recipient address rejected: User unknown")"

start=$(date +%s%N)
stop_rcptguard
ms=$(( ($(date +%s%N) - start) / 1000000 ))
# libmilter itself notices a stop within about 5 s; following changes must add nothing
if (( ms < 7000 )); then
	ok "SIGTERM stops rcptguard promptly while it follows changes (${ms} ms)"
else
	not_ok "SIGTERM stops rcptguard promptly while it follows changes" "took ${ms} ms"
fi

# --- without syncprov: said once, and the timed reload stays -----------------------
stop_postfix
stop_slapd
start_slapd "$TOP/tests/data/directory.ldif" || { not_ok "slapd starts again"; exit 1; }
: >"$RCPTGUARD_LOG"
start_rcptguard "$T/rg.conf" || { not_ok "rcptguard starts again"; exit 1; }
if wait_log "does not offer RFC 4533 synchronisation"; then
	ok "without syncprov, rcptguard says it reloads every SuggestRefresh seconds"
else
	not_ok "without syncprov, rcptguard says it reloads every SuggestRefresh seconds"
fi
if wait_log "suggestion index loaded"; then
	ok "without syncprov, the index is still loaded"
else
	not_ok "without syncprov, the index is still loaded"
fi

tap_done
