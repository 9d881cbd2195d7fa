#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/96-mirror-replicas.sh - the mirror's RFC 4533 session
# follows LDAPURI's replicas: it moves to the next server when its own goes,
# and back to the first (LDAPURI order is preference) when that one returns.
#
# A provider slapd and a consumer slapd replicating it (syncrepl
# refreshAndPersist; both offer syncprov); rcptguard with Mirror yes and
# "LDAPURI consumer provider", behind a private Postfix.  Checked:
#   - the mirror's session is with the consumer; a user added on the
#     provider is accepted from the mirror within 3 s;
#   - the consumer killed: the session moves to the provider; a user added
#     there is accepted from the mirror within 2 s, and an unknown address
#     is still 550 from the mirror;
#   - the consumer restarted: the session goes back to it within 15 s, by
#     itself, and a user added on the provider is accepted (through the
#     consumer) from the mirror; the known ones are accepted meanwhile.
set -u
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/../lib/replica.sh"
. "$(dirname "$0")/../lib/mta.sh"
rg_setup

rg_require "mirror-replicas: end-to-end checks" postfix swaks ss ldapadd

OK="250 2.1.5 Ok"
unknown() { printf '550 5.1.1 <%s>: Recipient address rejected: User unknown' "$1"; }
# connected_to PORT: has rcptguard an established TCP connection to PORT?
connected_to() {
    ss -Htnp state established "dport = :$1" 2>/dev/null | grep -q "pid=$RCPTGUARD_PID,"
}
source_of() {
    grep -F "rcpt=<$1>" "$RCPTGUARD_LOG" | tail -n 1 | sed -n 's/.* source=\([a-z]*\).*/\1/p'
}
# add_user UID: a user UID@example.com, added on the provider.
add_user() {
    ldap_admin ldapadd >/dev/null 2>>"$T/ldap.err" <<LDIF
dn: uid=$1,ou=people,$RG_BASE_DN
objectClass: inetOrgPerson
uid: $1
cn: $1
sn: $1
mail: $1@example.com
LDIF
}
# accepted_within ADDRESS SECONDS: asks until 250; prints the seconds it took.
accepted_within() {
    local a=$1 max=$2 t0 got now
    t0=$(date +%s.%N)
    while :; do
        got=$(swaks_rcpt "$POSTFIX_PORT" "$a")
        now=$(date +%s.%N)
        [[ $got == "$OK" ]] && break
        awk -v a="$t0" -v b="$now" -v m="$max" 'BEGIN { exit !(b - a > m) }' && return 1
        sleep 0.1
    done
    awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.2f", b - a }'
}

RG_SLAPD_SYNCPROV=1 start_slapd "$TOP/tests/data/directory.ldif" ||
    { not_ok "mirror-replicas: the provider slapd starts"; tap_done; }
start_consumer || { not_ok "mirror-replicas: the consumer slapd starts and replicates"; tap_done; }
SLAPD_URI="$CONSUMER_URI $SLAPD_URI" RG_TEST_MIRROR=yes write_conf "$T/rcptguard.conf" \
    "Suggest off" "MaxUnknownRecipients 0" "LocalCacheSize 0" "CacheTTL 0" "NegativeCacheTTL 60"
start_rcptguard "$T/rcptguard.conf" || { not_ok "mirror-replicas: rcptguard starts"; tap_done; }
start_postfix "inet:$MILTER_PORT@127.0.0.1" || { not_ok "mirror-replicas: Postfix starts"; tap_done; }
rg_log_wait 'mirror ready' 30 0 >/dev/null ||
    not_ok "mirror-replicas: the mirror is loaded" "$(tail -n 5 "$RCPTGUARD_LOG")"

a=john.doe@example.com
expect_eq "mirror-replicas: $a accepted" "$OK" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "mirror-replicas: ... from the mirror" mirror "$(source_of $a)"
if connected_to "$CONSUMER_PORT" && ! connected_to "$SLAPD_PORT"; then
    ok "mirror-replicas: the mirror's session is with the consumer, the first LDAPURI"
else
    not_ok "mirror-replicas: the mirror's session is with the consumer, the first LDAPURI"
    ss -Htnp state established 2>/dev/null | grep "pid=$RCPTGUARD_PID," | sed 's/^/#   /'
fi
add_user first.hire
if took=$(accepted_within first.hire@example.com 3); then
    ok "mirror-replicas: added on the provider, accepted through the consumer after $took s"
else
    not_ok "mirror-replicas: added on the provider, accepted through the consumer within 3 s"
fi
expect_eq "mirror-replicas: ... from the mirror" mirror "$(source_of first.hire@example.com)"

# --- the consumer dies --------------------------------------------------------------
from=$(rg_log_lines)
stop_consumer KILL
if rg_log_wait "mirror: session with ldap://127\.0\.0\.1:$SLAPD_PORT \(place 2 in LDAPURI\)" 10 "$from" >/dev/null; then
    ok "mirror-replicas: consumer killed: the session moves to the provider"
else
    not_ok "mirror-replicas: consumer killed: the session moves to the provider within 10 s" \
        "$(tail -n 5 "$RCPTGUARD_LOG")"
fi
rg_log_wait 'mirror in step with the directory again' 10 "$from" >/dev/null ||
    not_ok "mirror-replicas: consumer killed: the mirror is in step again" "$(tail -n 5 "$RCPTGUARD_LOG")"
add_user second.hire
if took=$(accepted_within second.hire@example.com 2); then
    ok "mirror-replicas: consumer down: added on the provider, accepted after $took s"
else
    not_ok "mirror-replicas: consumer down: added on the provider, accepted within 2 s"
fi
expect_eq "mirror-replicas: ... from the mirror" mirror "$(source_of second.hire@example.com)"
a=nobody.else@example.com
expect_eq "mirror-replicas: consumer down: $a rejected" "$(unknown $a)" "$(swaks_rcpt "$POSTFIX_PORT" $a)"
expect_eq "mirror-replicas: ... from the mirror" mirror "$(source_of $a)"

# --- the consumer comes back ------------------------------------------------------
from=$(rg_log_lines)
restart_consumer || not_ok "mirror-replicas: the consumer restarts"
bad=()
back=
t0=$(date +%s.%N)
for ((i = 0; i < 60; i++)); do
    got=$(swaks_rcpt "$POSTFIX_PORT" jane.smith@example.com)
    [[ $got == "$OK" ]] || bad+=("$got")
    if tail -n +"$((from + 1))" "$RCPTGUARD_LOG" |
        grep -q "mirror: session with ldap://127\.0\.0\.1:$CONSUMER_PORT (place 1 in LDAPURI)"; then
        back=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        break
    fi
    sleep 0.25
done
if [[ -n $back ]] && awk -v t="$back" 'BEGIN { exit !(t <= 15) }'; then
    ok "mirror-replicas: consumer back: the session returns to it after $back s"
else
    not_ok "mirror-replicas: consumer back: the session returns to it within 15 s (${back:-not seen})" \
        "$(tail -n 5 "$RCPTGUARD_LOG")"
fi
expect_eq "mirror-replicas: consumer back: every answer meanwhile was 250" "" "${bad[*]}"
rg_log_wait 'mirror in step with the directory again' 10 "$from" >/dev/null ||
    not_ok "mirror-replicas: consumer back: the mirror is in step again" "$(tail -n 5 "$RCPTGUARD_LOG")"
if connected_to "$CONSUMER_PORT" && ! connected_to "$SLAPD_PORT"; then
    ok "mirror-replicas: consumer back: rcptguard holds no connection to the provider any more"
else
    not_ok "mirror-replicas: consumer back: rcptguard holds no connection to the provider any more"
    ss -Htnp state established 2>/dev/null | grep "pid=$RCPTGUARD_PID," | sed 's/^/#   /'
fi
add_user third.hire
if took=$(accepted_within third.hire@example.com 3); then
    ok "mirror-replicas: consumer back: added on the provider, accepted through the consumer after $took s"
else
    not_ok "mirror-replicas: consumer back: added on the provider, accepted within 3 s"
fi
expect_eq "mirror-replicas: ... from the mirror" mirror "$(source_of third.hire@example.com)"
tap_done
